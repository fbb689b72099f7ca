//! Abuse limits in front of the receive path: the client address (behind trusted proxies
//! only), token buckets per source IP and per webhook (429 with `Retry-After`), per-webhook IP
//! allowlists, and a bound on requests in flight (503 with `Retry-After`), so a flood costs
//! neither unbounded memory nor storage.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::providers::RateLimit;

pub struct Limits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_webhook: Mutex<HashMap<(String, Charge), Bucket>>,
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
    /// right-most `X-Forwarded-For` address that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
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
        let limiter = {
            let mut map = self.per_webhook.lock().expect("limits poisoned");
            let key = (id.to_string(), charge);
            match map.get(&key) {
                Some((l, limiter)) if *l == limit => limiter.clone(),
                _ => {
                    let limiter = Arc::new(RateLimiter::direct(quota(limit)));
                    map.insert(key, (limit, limiter.clone()));
                    limiter
                }
            }
        };
        limiter
            .check()
            .map_err(|nu| nu.wait_time_from(DefaultClock::default().now()))
    }
}

/// A webhook's bucket, with the limit it was made for (a changed limit makes a new one).
type Bucket = (RateLimit, Arc<DefaultDirectRateLimiter>);

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
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))
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
