//! Abuse limits in front of the receive path: the client address (behind trusted proxies
//! only), token buckets per source IP and per webhook (429 with `Retry-After`), per-webhook IP
//! allowlists, and a bound on requests in flight (503 with `Retry-After`), so a flood costs
//! neither unbounded memory nor storage.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use ipnet::IpNet;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::providers::RateLimit;

pub struct Limits {
    per_ip: Option<RateLimit>,
    ip_buckets: Buckets<(IpAddr, Charge)>,
    webhook_buckets: Buckets<(String, Charge)>,
    default_webhook: Option<RateLimit>,
    trusted_proxies: Vec<IpNet>,
    in_flight: Arc<Semaphore>,
    in_flight_total: usize,
    /// Requests in flight from each client now: none may have more than a quarter of
    /// `in_flight`, or one sender's slow bodies (forged: the signature is checked once the
    /// body is in) would hold every slot and refuse every other sender.
    in_flight_by: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// Bytes of webhook bodies held in memory by every request at once, one permit a byte:
    /// bodies arriving slowly on many connections cannot fill the memory.
    buffered: Arc<Semaphore>,
    buffered_total: usize,
    /// Bytes of bodies each client (an address, an IPv6 /64) holds now: none may hold more
    /// than a quarter of `buffered`, or one sender's slow bodies would refuse every other's.
    held_by: Arc<Mutex<HashMap<IpAddr, usize>>>,
    at_capacity: Mutex<Refusals>,
    /// Whether a forwarded address was seen with no proxy trusted (said once: see `client`).
    forwarded_untrusted: std::sync::atomic::AtomicBool,
}

/// Bytes of bodies in memory, or a request in flight, held against the receiver's budget and
/// its client's share of it; given back when dropped.
#[derive(Debug)]
pub struct Held {
    _permit: OwnedSemaphorePermit,
    client: IpAddr,
    /// Bytes, or one request.
    amount: usize,
    held_by: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held_by = self.held_by.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = held_by.get_mut(&self.client) {
            *held = held.saturating_sub(self.amount);
            if *held == 0 {
                held_by.remove(&self.client);
            }
        }
    }
}

/// `amount` permits of `pool` for `client`, unless the client (an address, an IPv6 /64) would
/// then hold more than `share` of them, as counted in `held_by`.
fn take(
    pool: &Arc<Semaphore>,
    held_by: &Arc<Mutex<HashMap<IpAddr, usize>>>,
    share: usize,
    client: IpAddr,
    amount: usize,
) -> Option<Held> {
    let client = bucket_of(client);
    let mut counts = held_by.lock().unwrap_or_else(|e| e.into_inner());
    let mine = counts.get(&client).copied().unwrap_or(0);
    let permit = u32::try_from(amount)
        .ok()
        .filter(|_| mine.saturating_add(amount) <= share)
        .and_then(|n| pool.clone().try_acquire_many_owned(n).ok())?;
    *counts.entry(client).or_insert(0) += amount;
    Some(Held {
        _permit: permit,
        client,
        amount,
        held_by: held_by.clone(),
    })
}

/// The bytes of bodies the receiver holds at once, at least: [`buffer_budget`].
const MIN_BUFFERED_BYTES: usize = 64 * 1024 * 1024;

/// The bytes of bodies the receiver holds at once: 64 MiB, or four bodies of the largest size
/// taken if that is more.
pub fn buffer_budget(max_body_bytes: usize) -> usize {
    MIN_BUFFERED_BYTES
        .max(max_body_bytes.saturating_mul(4))
        .min(Semaphore::MAX_PERMITS)
}

/// How often refusals for being at capacity are logged.
pub(crate) const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Refusals counted between two log lines.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    since_logged: u64,
    logged_at: Option<Instant>,
}

impl Refusals {
    /// Counts one at `now`; returns how many there were, when it is time to log them.
    pub(crate) fn count(&mut self, now: Instant) -> Option<u64> {
        self.since_logged += 1;
        let due = self
            .logged_at
            .is_none_or(|at| now.duration_since(at) >= REFUSAL_LOG_EVERY);
        if !due {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.since_logged))
    }

    /// How many were counted since the last line, once it is time for the next: they are then
    /// logged without waiting for another refusal, which may not come for days.
    pub(crate) fn overdue(&mut self, now: Instant) -> Option<u64> {
        if self.since_logged == 0
            || self
                .logged_at
                .is_some_and(|at| now.duration_since(at) < REFUSAL_LOG_EVERY)
        {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.since_logged))
    }
}

/// Where a request came from, as far as can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The client's address; the proxy's when what the proxy forwarded could not be read.
    pub ip: IpAddr,
    /// False when a trusted proxy forwarded an entry that is no address (`unknown`, an empty
    /// entry, bytes that are not text) before any untrusted one: who sent the request is not
    /// known, and no allowlist admits it.
    pub known: bool,
}

impl Client {
    /// The address as the event log shows it.
    pub fn shown(&self) -> String {
        if self.known {
            self.ip.to_string()
        } else {
            format!("unknown, via {}", self.ip)
        }
    }
}

impl Limits {
    pub fn new(
        per_ip: Option<RateLimit>,
        per_webhook: Option<RateLimit>,
        trusted_proxies: Vec<IpNet>,
        max_in_flight: usize,
    ) -> Self {
        Limits {
            per_ip,
            ip_buckets: Buckets::default(),
            webhook_buckets: Buckets::default(),
            default_webhook: per_webhook,
            trusted_proxies,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            in_flight_total: max_in_flight.max(1),
            in_flight_by: Arc::default(),
            buffered: Arc::new(Semaphore::new(MIN_BUFFERED_BYTES)),
            buffered_total: MIN_BUFFERED_BYTES,
            held_by: Arc::default(),
            at_capacity: Mutex::new(Refusals::default()),
            forwarded_untrusted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The limits with `bytes` of bodies held at once (see [`buffer_budget`]).
    pub fn buffering(mut self, bytes: usize) -> Self {
        self.buffered_total = bytes.min(Semaphore::MAX_PERMITS);
        self.buffered = Arc::new(Semaphore::new(self.buffered_total));
        self
    }

    /// Holds `bytes` more of a body from `client` in memory against the budget of every
    /// request's, and the client's share of it (a quarter); `None` (counted as a refusal at
    /// capacity) when either is spent.
    pub fn hold(&self, client: IpAddr, bytes: usize) -> Option<Held> {
        let held = take(
            &self.buffered,
            &self.held_by,
            self.buffered_total / 4,
            client,
            bytes,
        );
        if held.is_none() {
            let mut refusals = self.at_capacity.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(refused) = refusals.count(Instant::now()) {
                tracing::warn!(
                    refused,
                    "the receiver holds as many bytes of bodies as it may at once; refusing \
                     requests with 503 busy"
                );
            }
        }
        held
    }

    /// How many requests were refused with 503 busy since the last line about it, once it is
    /// time for the next (see [`Refusals::overdue`]).
    pub fn overdue_refusals(&self, now: Instant) -> Option<u64> {
        self.at_capacity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .overdue(now)
    }

    /// A slot for one request in flight from `client`, or `None` when the receiver is saturated
    /// or the client holds its share of the slots (a quarter, one at least).
    pub fn admit(&self, client: IpAddr) -> Option<Held> {
        let share = (self.in_flight_total / 4).max(1);
        let slot = take(&self.in_flight, &self.in_flight_by, share, client, 1);
        if slot.is_none() && self.in_flight.available_permits() > 0 {
            // Its share, not the whole: said apart, as behind a proxy not listed in
            // WEBHOOK_MCP_TRUSTED_PROXIES every sender is that one client.
            let mut refusals = self.at_capacity.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(refused) = refusals.count(Instant::now()) {
                tracing::warn!(
                    refused,
                    client = %bucket_of(client),
                    "one client holds its share (a quarter) of WEBHOOK_MCP_MAX_IN_FLIGHT; \
                     refusing its requests with 503 busy (behind a reverse proxy, list it in \
                     WEBHOOK_MCP_TRUSTED_PROXIES so that senders are told apart)"
                );
            }
        } else if slot.is_none() {
            let mut refusals = self.at_capacity.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(refused) = refusals.count(Instant::now()) {
                // Once in a while, not per request: a flood would flood the log too.
                tracing::warn!(
                    refused,
                    "the receiver is at capacity (WEBHOOK_MCP_MAX_IN_FLIGHT); refusing requests \
                     with 503 busy"
                );
            }
        }
        slot
    }

    /// The client: the peer, or — only when the peer is a trusted proxy — the right-most
    /// `X-Forwarded-For` address that is not itself a trusted proxy. Each proxy appends the
    /// address it was reached from, so the entries right of the client's own were written by
    /// trusted proxies; an entry there that is no address (or one the client wrote, left of
    /// it) cannot be skipped, or a client could write itself any address left of it. Proxies
    /// that append `ip:port` or `[v6]:port` are read without the port. IPv4 peers of a
    /// dual-stack listener (`[::]`) arrive as `::ffff:a.b.c.d`, and proxies on one forward
    /// them so; both are taken as the IPv4 address, which is what allowlists name.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Client {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            if self.trusted_proxies.is_empty() && headers.contains_key("x-forwarded-for") {
                self.forwarded_untrusted_seen(peer);
            }
            return Client {
                ip: peer,
                known: true,
            };
        }
        let mut entries: Vec<Option<IpAddr>> = Vec::new();
        for line in headers.get_all("x-forwarded-for") {
            entries.extend(line.as_bytes().split(|b| *b == b',').map(forwarded_entry));
        }
        for entry in entries.into_iter().rev() {
            match entry {
                Some(ip) if self.is_trusted(ip) => continue,
                Some(ip) => return Client { ip, known: true },
                None => {
                    return Client {
                        ip: peer,
                        known: false,
                    };
                }
            }
        }
        // Every hop a trusted proxy (or none forwarded): the request is the proxy's own.
        Client {
            ip: peer,
            known: true,
        }
    }

    /// Says, once, that a request came forwarded while no proxy is trusted: behind a reverse
    /// proxy left out of `WEBHOOK_MCP_TRUSTED_PROXIES`, every sender is the proxy, sharing
    /// one per-IP bucket and one share of the slots, and no allowlist can admit a sender.
    fn forwarded_untrusted_seen(&self, peer: IpAddr) {
        use std::sync::atomic::Ordering;
        if !self.forwarded_untrusted.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                %peer,
                "a webhook request from {peer} carried X-Forwarded-For, which is read only from \
                 a trusted proxy: per-IP limits and allowlists take the request as {peer}'s. If \
                 {peer} is a reverse proxy of yours, list it in WEBHOOK_MCP_TRUSTED_PROXIES \
                 (said once)"
            );
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        // As given: trust is not widened to the IPv4 addresses an IPv6 range maps.
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// Takes a token for a request from `client` to webhook `id`: from the client's bucket (the
    /// per-IP limit) and the webhook's (its own limit, else the global default), each the one
    /// for this kind of request. The wait otherwise.
    pub fn check(
        &self,
        client: Option<IpAddr>,
        id: &str,
        charge: Charge,
        own: Option<RateLimit>,
    ) -> Result<(), Duration> {
        let now = Instant::now();
        if let (Some(limit), Some(ip)) = (self.per_ip, client) {
            self.ip_buckets.take((bucket_of(ip), charge), limit, now)?;
        }
        if let Some(limit) = own.or(self.default_webhook)
            && let Err(wait) = self
                .webhook_buckets
                .take((id.to_string(), charge), limit, now)
        {
            // Refused all the same: the client's token is not spent on it.
            self.refund_ip(client, charge, now);
            return Err(wait);
        }
        Ok(())
    }

    /// Takes a token from the client's bucket for a request refused before it reached a
    /// webhook's check (no such webhook, disabled, outside the allowlist): a flood of those
    /// still costs lookups, and draws on the bucket forgeries draw on.
    pub fn check_refused(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        match (self.per_ip, client) {
            (Some(limit), Some(ip)) => {
                self.ip_buckets
                    .take((bucket_of(ip), Charge::Rejected), limit, Instant::now())
            }
            _ => Ok(()),
        }
    }

    /// Gives back the tokens a request took, when it turned out to be a delivery already
    /// stored: replaying a captured (or redelivered) request must not use up the allowance of
    /// the sender's new deliveries.
    pub fn refund(&self, client: Option<IpAddr>, id: &str, charge: Charge) {
        let now = Instant::now();
        self.refund_ip(client, charge, now);
        self.webhook_buckets.refund(&(id.to_string(), charge), now);
    }

    /// Forgets webhook `id`'s buckets: it was deleted, and one made at its id starts full.
    pub fn forget(&self, id: &str) {
        for charge in [Charge::Verified, Charge::Rejected] {
            self.webhook_buckets.forget(&(id.to_string(), charge));
        }
    }

    fn refund_ip(&self, client: Option<IpAddr>, charge: Charge, now: Instant) {
        if let Some(ip) = client {
            self.ip_buckets.refund(&(bucket_of(ip), charge), now);
        }
    }
}

/// One `X-Forwarded-For` entry's address: `ip`, `ip:port`, `[v6]` or `[v6]:port`; `None` for
/// anything else.
fn forwarded_entry(raw: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    let ip = text
        .parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|a| a.ip()))
        .or_else(|_| {
            text.strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .unwrap_or(text)
                .parse::<Ipv6Addr>()
                .map(IpAddr::V6)
        })
        .ok()?;
    Some(ip.to_canonical())
}

/// Token buckets by key, bounded: past [`MAX_BUCKETS`], the full ones (nobody drawing on them
/// lately) are forgotten, as a fresh bucket would be full anyway.
struct Buckets<K> {
    map: Mutex<HashMap<K, TokenBucket>>,
}

const MAX_BUCKETS: usize = 100_000;

impl<K> Default for Buckets<K> {
    fn default() -> Self {
        Buckets {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Buckets<K> {
    fn take(&self, key: K, limit: RateLimit, now: Instant) -> Result<(), Duration> {
        let mut map = self.map.lock().expect("limits poisoned");
        if map.len() >= MAX_BUCKETS {
            map.retain(|_, bucket| !bucket.is_full(now));
            // A flood from that many sources at once: forget half of them (a forgotten one
            // starts full) rather than scan the whole map again on every request.
            if map.len() >= MAX_BUCKETS / 2 {
                let forget: Vec<K> = map.keys().take(map.len() / 2).cloned().collect();
                for key in &forget {
                    map.remove(key);
                }
            }
        }
        let bucket = map
            .entry(key)
            .and_modify(|b| {
                // A changed limit starts a fresh bucket.
                if b.limit != limit {
                    *b = TokenBucket::full(limit, now);
                }
            })
            .or_insert_with(|| TokenBucket::full(limit, now));
        bucket.take(now)
    }

    fn refund(&self, key: &K, now: Instant) {
        let mut map = self.map.lock().expect("limits poisoned");
        if let Some(bucket) = map.get_mut(key) {
            bucket.refund(now);
        }
    }

    fn forget(&self, key: &K) {
        self.map.lock().expect("limits poisoned").remove(key);
    }
}

/// A token bucket: `burst` tokens, refilled at `per_second`. Our own rather than a GCRA
/// limiter's (governor), because GCRA has no way to give a token back.
#[derive(Debug, Clone)]
struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    fn full(limit: RateLimit, now: Instant) -> TokenBucket {
        let mut bucket = TokenBucket {
            limit,
            tokens: 0.0,
            updated: now,
        };
        bucket.tokens = bucket.burst();
        bucket
    }

    fn rate(&self) -> f64 {
        f64::from(self.limit.per_second.max(1))
    }

    fn burst(&self) -> f64 {
        f64::from(self.limit.burst.unwrap_or(self.limit.per_second).max(1))
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate()).min(self.burst());
        self.updated = self.updated.max(now);
    }

    /// Takes a token, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate()))
        }
    }

    fn refund(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens + 1.0).min(self.burst());
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst()
    }
}

/// Which of a webhook's two buckets a request draws on. Requests that fail verification have
/// their own, so whoever finds a webhook's URL cannot use up the real sender's allowance
/// (GitHub does not retry a delivery answered 429), and still cannot fill the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Charge {
    Verified,
    Rejected,
}

/// The per-IP bucket an address draws on: its own for IPv4, its /64 for IPv6, the smallest
/// network one host is usually given (a host can pick any address inside it, and would
/// otherwise get a fresh bucket with every one).
fn bucket_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// Whether the client is in the allowlist (an empty list allows everyone; a client whose
/// address is not known, no other).
pub fn allowed(list: &[IpNet], client: Client) -> bool {
    list.is_empty() || (client.known && list.iter().any(|net| contains(net, client.ip)))
}

/// Whether `net` holds `ip`, an IPv4 address also when an IPv6 range holds its mapped form
/// (`::/0`, `::ffff:0:0/95`): client addresses are taken as IPv4, ranges as given.
fn contains(net: &IpNet, ip: IpAddr) -> bool {
    net.contains(&ip)
        || matches!((net, ip), (IpNet::V6(v6), IpAddr::V4(v4)) if v6.contains(&v4.to_ipv6_mapped()))
}

/// What a list of trusted proxies lets through that its writer is unlikely to mean: a range
/// of every address (`0.0.0.0/0`, `::/0`) makes every peer a proxy, so any client may claim
/// any address in `X-Forwarded-For`, and allowlists and per-IP limits read what it claims.
pub fn trusted_proxy_warnings(nets: &[IpNet]) -> Vec<String> {
    nets.iter()
        .filter(|net| net.prefix_len() == 0)
        .map(|net| {
            format!(
                "WEBHOOK_MCP_TRUSTED_PROXIES lists {net}: every peer {} is then trusted as a \
                 proxy, so any such client may claim any address in X-Forwarded-For, and the \
                 webhooks' allowlists and the per-IP limit take what it claims; list only your \
                 proxies' own addresses",
                if net.addr().is_ipv4() {
                    "on IPv4"
                } else {
                    "on IPv6"
                }
            )
        })
        .collect()
}

/// Parses `10.0.0.0/8`, `192.30.252.0/22` or a bare address.
/// An IPv4-mapped range (`::ffff:10.0.0.0/104`) is taken as the IPv4 range it maps, as client
/// addresses are.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    let net = s
        .parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))?;
    Ok(match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        _ => net,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().expect("header"));
        h
    }

    fn known(ip: &str) -> Client {
        Client {
            ip: ip.parse().expect("ip"),
            known: true,
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let limits = Limits::new(None, None, vec![parse_net("10.0.0.0/8").expect("net")], 10);
        let peer_proxy: IpAddr = "10.1.1.1".parse().expect("ip");
        let peer_other: IpAddr = "203.0.113.9".parse().expect("ip");
        let h = headers("198.51.100.7, 10.2.2.2");
        assert_eq!(limits.client(peer_proxy, &h), known("198.51.100.7"));
        assert_eq!(limits.client(peer_other, &h), known("203.0.113.9"));
        assert_eq!(
            limits.client(peer_proxy, &HeaderMap::new()),
            known("10.1.1.1")
        );
    }

    #[test]
    fn a_forwarded_entry_that_is_no_address_leaves_the_client_unknown() {
        let limits = Limits::new(None, None, vec![parse_net("10.0.0.0/8").expect("net")], 10);
        let proxy: IpAddr = "10.1.1.1".parse().expect("ip");
        let unknown = Client {
            ip: proxy,
            known: false,
        };
        // (X-Forwarded-For lines, client): the client could have written anything left of
        // its own address, so nothing there is believed.
        let cases: [(&[&[u8]], Client); 11] = [
            (&[b"9.9.9.9, 203.0.113.5:4711"], known("203.0.113.5")),
            (&[b"9.9.9.9, [2001:db8::5]:443"], known("2001:db8::5")),
            (&[b"9.9.9.9, [2001:db8::5]"], known("2001:db8::5")),
            (&[b"9.9.9.9, 10.2.2.2:80"], known("9.9.9.9")),
            (&[b"9.9.9.9, unknown"], unknown),
            (&[b"9.9.9.9,,"], unknown),
            (&[b"9.9.9.9, 203.0.113.5 x"], unknown),
            (&[b"9.9.9.9", b"\xff, 203.0.113.5"], known("203.0.113.5")),
            (&[b"9.9.9.9", b"203.0.113.5, \xff"], unknown),
            (&[b"x, 203.0.113.5:4444"], known("203.0.113.5")),
            (&[b"9.9.9.9", b"10.3.3.3"], known("9.9.9.9")),
        ];
        for (lines, client) in cases {
            let mut h = HeaderMap::new();
            for line in lines {
                h.append(
                    "x-forwarded-for",
                    axum::http::HeaderValue::from_bytes(line).expect("header"),
                );
            }
            assert_eq!(limits.client(proxy, &h), client, "{lines:?}");
        }
    }

    #[test]
    fn an_unknown_client_passes_no_allowlist_and_v6_ranges_hold_mapped_v4() {
        let net = |s: &str| parse_net(s).expect("net");
        let unknown = Client {
            ip: "10.1.1.1".parse().expect("ip"),
            known: false,
        };
        assert!(allowed(&[], unknown));
        assert!(!allowed(&[net("10.0.0.0/8")], unknown));
        assert!(!allowed(&[net("0.0.0.0/0")], unknown));
        for (list, client, expected) in [
            ("::/0", "127.0.0.1", true),
            ("::ffff:127.0.0.0/95", "127.0.0.1", true),
            ("::/1", "192.0.2.1", true),
            ("2001:db8::/32", "192.0.2.1", false),
            ("10.0.0.0/8", "192.0.2.1", false),
            ("192.0.2.0/24", "192.0.2.1", true),
        ] {
            assert_eq!(
                allowed(&[net(list)], known(client)),
                expected,
                "{list} {client}"
            );
        }
    }

    #[test]
    fn ipv4_mapped_ranges_are_taken_as_ipv4() {
        for (given, taken) in [
            ("::ffff:192.30.252.0/118", "192.30.252.0/22"),
            ("::ffff:10.1.1.1", "10.1.1.1/32"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("10.0.0.0/8", "10.0.0.0/8"),
        ] {
            assert_eq!(parse_net(given), Ok(taken.parse().expect("net")), "{given}");
        }
    }

    #[test]
    fn ipv4_mapped_addresses_are_taken_as_ipv4() {
        let limits = Limits::new(None, None, vec![parse_net("10.0.0.0/8").expect("net")], 10);
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let cases = [
            // (peer, X-Forwarded-For, client)
            ("::ffff:203.0.113.9", None, "203.0.113.9"),
            ("::ffff:10.1.1.1", Some("198.51.100.7"), "198.51.100.7"),
            ("10.1.1.1", Some("::ffff:198.51.100.7"), "198.51.100.7"),
            (
                "10.1.1.1",
                Some("198.51.100.7, ::ffff:10.2.2.2"),
                "198.51.100.7",
            ),
            ("2001:db8::1", None, "2001:db8::1"),
        ];
        for (peer, xff, client) in cases {
            let h = xff.map(headers).unwrap_or_default();
            assert_eq!(limits.client(ip(peer), &h), known(client), "{peer} {xff:?}");
        }
    }

    #[test]
    fn buckets_refuse_past_the_burst_and_say_how_long_to_wait() {
        let limits = Limits::new(
            Some(RateLimit {
                per_second: 1,
                burst: Some(2),
            }),
            None,
            vec![],
            10,
        );
        let check =
            |ip: &str, charge| limits.check(Some(ip.parse().expect("ip")), "w", charge, None);
        assert!(check("203.0.113.1", Charge::Verified).is_ok());
        assert!(check("203.0.113.1", Charge::Verified).is_ok());
        let wait = check("203.0.113.1", Charge::Verified).expect_err("third is refused");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(check("203.0.113.2", Charge::Verified).is_ok());
        // Forgeries from the sender's address have a bucket of their own, as do refusals.
        assert!(check("203.0.113.1", Charge::Rejected).is_ok());
        assert!(check("203.0.113.1", Charge::Rejected).is_ok());
        assert!(check("203.0.113.1", Charge::Rejected).is_err());
        assert!(
            limits
                .check_refused(Some("203.0.113.1".parse().expect("ip")))
                .is_err()
        );
        assert!(
            limits
                .check_refused(Some("203.0.113.3".parse().expect("ip")))
                .is_ok()
        );
        // A delivery found already stored gives its token back.
        limits.refund(
            Some("203.0.113.1".parse().expect("ip")),
            "w",
            Charge::Verified,
        );
        assert!(check("203.0.113.1", Charge::Verified).is_ok());
        // Addresses in one IPv6 /64 share a bucket; the next /64 has its own.
        for ip in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"] {
            assert!(check(ip, Charge::Verified).is_ok());
        }
        assert!(check("2001:db8:1:2::77", Charge::Verified).is_err());
        assert!(check("2001:db8:1:3::1", Charge::Verified).is_ok());
    }

    #[test]
    fn a_webhook_limit_refusal_keeps_the_clients_token() {
        let one = Some(RateLimit {
            per_second: 1,
            burst: None,
        });
        let limits = Limits::new(one, None, vec![], 10);
        let a = Some("203.0.113.1".parse().expect("ip"));
        assert!(limits.check(None, "w", Charge::Rejected, one).is_ok());
        assert!(limits.check(None, "w", Charge::Rejected, one).is_err());
        assert!(limits.check(None, "w", Charge::Verified, one).is_ok());
        // The webhook refuses; the client's own token stays for another webhook.
        assert!(limits.check(a, "w", Charge::Verified, one).is_err());
        assert!(limits.check(a, "other", Charge::Verified, one).is_ok());
    }

    #[test]
    fn a_webhook_bucket_refills_at_its_rate_and_a_refund_gives_a_token_back() {
        let limit = RateLimit {
            per_second: 2,
            burst: Some(3),
        };
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut bucket = TokenBucket::full(limit, start);
        for _ in 0..3 {
            assert_eq!(bucket.take(at(0)), Ok(()));
        }
        assert_eq!(bucket.take(at(0)), Err(Duration::from_millis(500)));
        assert_eq!(bucket.take(at(250)), Err(Duration::from_millis(250)));
        assert_eq!(bucket.take(at(500)), Ok(()));
        bucket.refund(at(500));
        assert_eq!(bucket.take(at(500)), Ok(()));
        assert!(bucket.take(at(500)).is_err());
        // Refills and refunds stop at the burst.
        bucket.refund(at(60_000));
        bucket.refund(at(60_000));
        for _ in 0..3 {
            assert_eq!(bucket.take(at(60_000)), Ok(()));
        }
        assert!(bucket.take(at(60_000)).is_err());
        // A clock reading from before the last one neither refills nor moves the clock back.
        assert!(bucket.take(at(59_000)).is_err());
        assert!(bucket.take(at(60_000)).is_err());
        assert_eq!(bucket.take(at(60_500)), Ok(()));
    }

    #[test]
    fn allowlists_take_cidrs_and_addresses() {
        let list = vec![
            parse_net("192.30.252.0/22").expect("net"),
            parse_net("2001:db8::1").expect("net"),
        ];
        assert!(allowed(&list, known("192.30.253.4")));
        assert!(allowed(&list, known("2001:db8::1")));
        assert!(!allowed(&list, known("8.8.8.8")));
        assert!(allowed(&[], known("8.8.8.8")));
        assert!(parse_net("not-an-ip").is_err());
    }

    #[test]
    fn refusals_at_capacity_are_logged_once_in_a_while_with_their_count() {
        let mut refusals = Refusals::default();
        let start = Instant::now();
        assert_eq!(refusals.count(start), Some(1));
        for n in 1..=5 {
            let now = start + Duration::from_secs(n);
            assert_eq!(refusals.count(now), None);
        }
        assert_eq!(refusals.count(start + REFUSAL_LOG_EVERY), Some(6));
        assert_eq!(refusals.count(start + REFUSAL_LOG_EVERY), None);
    }

    #[test]
    fn refusals_counted_after_a_line_are_told_once_its_time_is_up_with_no_new_one() {
        let mut refusals = Refusals::default();
        let start = Instant::now();
        assert_eq!(refusals.overdue(start), None, "nothing counted");
        assert_eq!(refusals.count(start), Some(1));
        assert_eq!(refusals.overdue(start), None, "logged just now");
        assert_eq!(refusals.count(start + Duration::from_secs(1)), None);
        assert_eq!(refusals.count(start + Duration::from_secs(2)), None);
        assert_eq!(refusals.overdue(start + Duration::from_secs(9)), None);
        let due = start + REFUSAL_LOG_EVERY;
        assert_eq!(refusals.overdue(due), Some(2));
        assert_eq!(refusals.overdue(due + REFUSAL_LOG_EVERY), None, "told");
        // The next one, within the time of that line, is counted for the one after.
        assert_eq!(refusals.count(due + Duration::from_secs(1)), None);
        assert_eq!(refusals.overdue(due + REFUSAL_LOG_EVERY), Some(1));
    }

    #[test]
    fn only_a_range_of_every_address_is_warned_of_among_trusted_proxies() {
        let nets = |list: &[&str]| -> Vec<IpNet> {
            list.iter()
                .map(|s| parse_net(s).expect("a range"))
                .collect()
        };
        for (list, warned) in [
            (&["10.0.0.0/8", "2001:db8::/32", "203.0.113.7"][..], 0),
            (&["0.0.0.0/0"], 1),
            (&["::/0", "10.0.0.1"], 1),
            (&["0.0.0.0/0", "::/0"], 2),
        ] {
            let warnings = trusted_proxy_warnings(&nets(list));
            assert_eq!(warnings.len(), warned, "{list:?}: {warnings:?}");
            assert!(warnings.iter().all(|w| w.contains("X-Forwarded-For")));
        }
    }

    #[test]
    fn the_in_flight_bound_refuses_when_full() {
        let limits = Limits::new(None, None, vec![], 1);
        let ip = "192.0.2.1".parse().expect("ip");
        let first = limits.admit(ip);
        assert!(first.is_some());
        assert!(limits.admit(ip).is_none());
        drop(first);
        assert!(limits.admit(ip).is_some());
    }

    #[test]
    fn one_client_takes_at_most_a_quarter_of_the_slots_and_its_slash_64_counts_as_one() {
        let limits = Limits::new(None, None, vec![], 8);
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let mine: Vec<_> = ["2001:db8::1", "2001:db8::2"]
            .iter()
            .map(|a| limits.admit(ip(a)).expect("within its share"))
            .collect();
        assert!(limits.admit(ip("2001:db8::3")).is_none(), "past its share");
        let others: Vec<_> = (1..=6)
            .map(|n| limits.admit(ip(&format!("192.0.2.{n}"))))
            .collect();
        assert!(
            others.iter().all(Option::is_some),
            "the others are not refused"
        );
        assert!(
            limits.admit(ip("198.51.100.1")).is_none(),
            "every slot taken"
        );
        drop(mine);
        assert!(limits.admit(ip("2001:db8::4")).is_some(), "given back");
    }
}
