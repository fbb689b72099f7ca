//! Abuse limits in front of the receive path: the client address (behind trusted proxies
//! only), token buckets per source IP and per webhook (429 with `Retry-After`), per-webhook IP
//! allowlists, and a bound on requests in flight (503 with `Retry-After`), so a flood costs
//! neither unbounded memory nor storage.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::providers::RateLimit;

pub struct Limits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_webhook: Mutex<HashMap<(String, Charge), TokenBucket>>,
    default_webhook: Option<RateLimit>,
    trusted_proxies: Vec<IpNet>,
    in_flight: Arc<Semaphore>,
}

impl Limits {
    pub fn new(
        per_ip: Option<RateLimit>,
        per_webhook: Option<RateLimit>,
        trusted_proxies: Vec<IpNet>,
        max_in_flight: usize,
    ) -> Self {
        Limits {
            per_ip: per_ip.map(|l| RateLimiter::keyed(quota(l))),
            per_webhook: Mutex::new(HashMap::new()),
            default_webhook: per_webhook,
            trusted_proxies,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }

    /// A slot for one request in flight, or `None` when the receiver is saturated.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.in_flight.clone().try_acquire_owned().ok()
    }

    /// The client's address: the peer, or — only when the peer is a trusted proxy — the
    /// right-most `X-Forwarded-For` address that is not itself a trusted proxy. IPv4 peers of
    /// a dual-stack listener (`[::]`) arrive as `::ffff:a.b.c.d`, and proxies on one forward
    /// them so; both are taken as the IPv4 address, which is what allowlists name.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .map(|ip| ip.to_canonical())
            .collect();
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !self.is_trusted(*ip))
            .unwrap_or(peer)
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// Takes a token from the source IP's bucket; the wait otherwise.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.per_ip else {
            return Ok(());
        };
        // Bound the map: forget addresses whose buckets are full again.
        if limiter.len() > 100_000 {
            limiter.retain_recent();
        }
        limiter
            .check_key(&bucket_of(ip))
            .map_err(|nu| nu.wait_time_from(DefaultClock::default().now()))
    }

    /// Takes a token from the webhook's bucket for this kind of request (its own limit, else
    /// the global default).
    pub fn check_webhook(
        &self,
        id: &str,
        charge: Charge,
        own: Option<RateLimit>,
    ) -> Result<(), Duration> {
        let Some(limit) = own.or(self.default_webhook) else {
            return Ok(());
        };
        let now = Instant::now();
        let mut map = self.per_webhook.lock().expect("limits poisoned");
        let bucket = map
            .entry((id.to_string(), charge))
            .and_modify(|b| {
                // A changed limit starts a fresh bucket.
                if b.limit != limit {
                    *b = TokenBucket::full(limit, now);
                }
            })
            .or_insert_with(|| TokenBucket::full(limit, now));
        bucket.take(now)
    }

    /// Gives back the token a request took from the webhook's bucket, when the request turned
    /// out to be a delivery already stored: replaying a captured (or redelivered) request must
    /// not use up the allowance of the sender's new deliveries.
    pub fn refund_webhook(&self, id: &str, charge: Charge) {
        let mut map = self.per_webhook.lock().expect("limits poisoned");
        if let Some(bucket) = map.get_mut(&(id.to_string(), charge)) {
            bucket.refund(Instant::now());
        }
    }
}

/// A webhook's token bucket: `burst` tokens, refilled at `per_second`. Our own rather than
/// governor's (used for the per-IP buckets), because GCRA has no way to give a token back.
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
}

/// Which of a webhook's two buckets a request draws on. Requests that fail verification have
/// their own, so whoever finds a webhook's URL cannot use up the real sender's allowance
/// (GitHub does not retry a delivery answered 429), and still cannot fill the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Charge {
    Verified,
    Rejected,
}

fn quota(limit: RateLimit) -> Quota {
    let rate = NonZeroU32::new(limit.per_second.max(1)).expect("at least 1");
    let burst =
        NonZeroU32::new(limit.burst.unwrap_or(limit.per_second).max(1)).expect("at least 1");
    Quota::per_second(rate).allow_burst(burst)
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

/// Whether `ip` is in the allowlist (an empty list allows everyone).
pub fn allowed(list: &[IpNet], ip: IpAddr) -> bool {
    list.is_empty() || list.iter().any(|net| net.contains(&ip))
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

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let limits = Limits::new(None, None, vec![parse_net("10.0.0.0/8").expect("net")], 10);
        let peer_proxy: IpAddr = "10.1.1.1".parse().expect("ip");
        let peer_other: IpAddr = "203.0.113.9".parse().expect("ip");
        let h = headers("198.51.100.7, 10.2.2.2");
        assert_eq!(
            limits.client_ip(peer_proxy, &h),
            "198.51.100.7".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(limits.client_ip(peer_other, &h), peer_other);
        assert_eq!(limits.client_ip(peer_proxy, &HeaderMap::new()), peer_proxy);
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
            assert_eq!(limits.client_ip(ip(peer), &h), ip(client), "{peer} {xff:?}");
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
        let ip: IpAddr = "203.0.113.1".parse().expect("ip");
        assert!(limits.check_ip(ip).is_ok());
        assert!(limits.check_ip(ip).is_ok());
        let wait = limits.check_ip(ip).expect_err("third is refused");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        let other: IpAddr = "203.0.113.2".parse().expect("ip");
        assert!(limits.check_ip(other).is_ok());
        // Addresses in one IPv6 /64 share a bucket; the next /64 has its own.
        for ip in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"] {
            assert!(limits.check_ip(ip.parse().expect("ip")).is_ok());
        }
        assert!(
            limits
                .check_ip("2001:db8:1:2::77".parse().expect("ip"))
                .is_err()
        );
        assert!(
            limits
                .check_ip("2001:db8:1:3::1".parse().expect("ip"))
                .is_ok()
        );
        let one = Some(RateLimit {
            per_second: 1,
            burst: None,
        });
        assert!(limits.check_webhook("w", Charge::Rejected, one).is_ok());
        assert!(limits.check_webhook("w", Charge::Rejected, one).is_err());
        assert!(limits.check_webhook("w", Charge::Verified, one).is_ok());
        assert!(limits.check_webhook("w", Charge::Verified, one).is_err());
        assert!(limits.check_webhook("other", Charge::Verified, one).is_ok());
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
        assert!(allowed(&list, "192.30.253.4".parse().expect("ip")));
        assert!(allowed(&list, "2001:db8::1".parse().expect("ip")));
        assert!(!allowed(&list, "8.8.8.8".parse().expect("ip")));
        assert!(allowed(&[], "8.8.8.8".parse().expect("ip")));
        assert!(parse_net("not-an-ip").is_err());
    }

    #[test]
    fn the_in_flight_bound_refuses_when_full() {
        let limits = Limits::new(None, None, vec![], 1);
        let first = limits.admit();
        assert!(first.is_some());
        assert!(limits.admit().is_none());
        drop(first);
        assert!(limits.admit().is_some());
    }
}
