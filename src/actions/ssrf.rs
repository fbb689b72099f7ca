//! The SSRF guard: the last check on the outbound path (outbox worker → `actions::execute` →
//! a connector → `Clients` → here) for every URL a user gave (forward targets, channel webhook
//! URLs, per-webhook base URLs, Slack `response_url`s).
//!
//! Two places check, because each alone has a hole:
//! - `check_url`, before sending: the scheme, and hosts that are IP literals (hyper never
//!   calls a resolver for those).
//! - `GuardedResolver`, the DNS resolver of the guarded clients: every name is resolved here
//!   and non-public addresses are dropped, so the address checked is the address connected
//!   to. A name that was public when the command was saved and points inside later (DNS
//!   rebinding) is still refused.
//!
//! Before that, when a target is given or a dry run plans a send, `refusal_by_address` runs
//! the resolver's check once, so a name that resolves inside is reported then (a warning, or
//! test_webhook's `would_fail`), not only in a dead action.
//!
//! Operators open holes with `ALLOWED_TARGET_HOSTS` (`open-webui:8080`, `127.0.0.1`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why a target was refused. Never retryable: the address will not become public by waiting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub message: String,
}

impl Refused {
    fn private(host: &str, what: String) -> Self {
        // An IPv6 address takes a port only in brackets (`[::1]:8080`).
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let with_port = if bare.contains(':') {
            format!("[{bare}]:PORT")
        } else {
            format!("{host}:PORT")
        };
        Refused {
            message: format!(
                "refused to connect to {host}: it {what}; to allow it, add \"{bare}\" (or \
                 \"{with_port}\") to ALLOWED_TARGET_HOSTS"
            ),
        }
    }

    fn other(message: String) -> Self {
        Refused { message }
    }
}

/// Whether `ip` is an address on the public internet. Everything an attacker could use to
/// reach the service's own network is refused: loopback, private, link-local (which holds
/// the cloud metadata endpoint 169.254.169.254), CGNAT, unique-local, multicast,
/// documentation and reserved ranges, and IPv6 forms that embed one of those IPv4 addresses.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network", includes the unspecified address
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || ip.is_documentation()
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || ip.is_multicast()
        || a >= 240; // reserved 240/4, includes broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    // Forms that carry an IPv4 address are judged by that address, so `::ffff:127.0.0.1`,
    // NAT64 `64:ff9b::7f00:1` and 6to4 `2002:7f00:1::` cannot smuggle loopback through.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
        return is_public_v4(embedded_v4(seg[6], seg[7]));
    }
    if seg[0] == 0x2002 {
        return is_public_v4(embedded_v4(seg[1], seg[2]));
    }
    // Only global unicast 2000::/3 is public; this also refuses ::, ::1, IPv4-compatible
    // ::a.b.c.d, fc00::/7, fe80::/10, fec0::/10, ff00::/8 and 100::/64.
    let global_unicast = seg[0] & 0xe000 == 0x2000;
    let documentation = (seg[0] == 0x2001 && seg[1] == 0x0db8) || seg[0] & 0xfff0 == 0x3ff0;
    let teredo = seg[0] == 0x2001 && seg[1] == 0;
    let benchmarking = seg[0] == 0x2001 && seg[1] == 0x0002 && seg[2] == 0;
    global_unicast && !documentation && !teredo && !benchmarking
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// Names that point at the machine itself or at a cloud metadata service whatever they
/// resolve to (their answers can differ between the check and the connection).
pub fn is_local_name(host: &str) -> bool {
    let host = normalize(host);
    matches!(host.as_str(), "localhost" | "metadata" | "metadata.goog")
        || host.ends_with(".localhost")
        // `.internal` is reserved for private use; `metadata.google.internal` lives there.
        || host.ends_with(".internal")
}

/// Whether `host:port` is in the allowlist. Entries are `host` (any port) or `host:port`;
/// IPv6 entries are `::1` or `[::1]:8080`. Case and a trailing dot are ignored, and IP
/// entries match any spelling of the same address.
pub fn host_allowed(host: &str, port: u16, allowlist: &[String]) -> bool {
    allowlist.iter().any(|entry| match parse_entry(entry) {
        Some((h, p)) => same_host(&h, host) && p.is_none_or(|p| p == port),
        None => false,
    })
}

/// Whether any entry names `host`, on any port. The resolver only sees the name, so it lets
/// these through and `check_url` has already refused a port the entry does not cover.
fn host_named(host: &str, allowlist: &[String]) -> bool {
    allowlist
        .iter()
        .filter_map(|entry| parse_entry(entry))
        .any(|(h, _)| same_host(&h, host))
}

/// Splits an allowlist entry into host and optional port. A scheme or path some operators
/// paste along with the host is tolerated. `None` for an entry that cannot match.
pub(crate) fn parse_entry(entry: &str) -> Option<(String, Option<u16>)> {
    let entry = entry.trim();
    let entry = entry
        .strip_prefix("https://")
        .or_else(|| entry.strip_prefix("http://"))
        .unwrap_or(entry);
    let entry = entry.split('/').next().unwrap_or_default();
    if entry.is_empty() {
        return None;
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host.to_owned(), Some(port.parse().ok()?))),
            None if after.is_empty() => Some((host.to_owned(), None)),
            None => None,
        };
    }
    match entry.split_once(':') {
        // More than one colon: a bare IPv6 address.
        Some((_, rest)) if rest.contains(':') => Some((entry.to_owned(), None)),
        Some((host, port)) => Some((host.to_owned(), Some(port.parse().ok()?))),
        None => Some((entry.to_owned(), None)),
    }
}

fn same_host(a: &str, b: &str) -> bool {
    let (a, b) = (normalize(a), normalize(b));
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn normalize(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Which guarded client a checked URL goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The host and port are allowlisted: the resolver lets private addresses through.
    Allowlisted,
    /// Everything else: the resolver drops every non-public address.
    Strict,
}

/// The check before sending to a user-given URL: only http(s), no private IP literals, no
/// local or metadata names (unless allowlisted). Names are checked again, by address, when
/// the resolver runs.
pub(crate) fn check_url(url: &Url, allowlist: &[String]) -> Result<Route, Refused> {
    let (host, port) = target_host(url)?;
    let ip = host.parse::<IpAddr>().ok();
    if host_allowed(&host, port, allowlist) {
        return Ok(Route::Allowlisted);
    }
    match ip {
        Some(ip) if !is_public(ip) => Err(Refused::private(
            &host,
            "is a private or reserved address".into(),
        )),
        None if is_local_name(&host) => Err(Refused::private(
            &host,
            "names a local or cloud-metadata host (a private address)".into(),
        )),
        _ => Ok(Route::Strict),
    }
}

/// The part of [`check_url`] no allowlist changes: an http(s) URL with a host. Its host
/// (without brackets) and port.
fn target_host(url: &Url) -> Result<(String, u16), Refused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refused::other(format!(
            "refused {}:// URL: only http and https targets are allowed",
            url.scheme()
        )));
    }
    let port = url.port_or_known_default().unwrap_or(0);
    // The URL parser has already normalised IP literals (`2130706433` → `127.0.0.1`) and
    // bracketed IPv6 hosts.
    let Some(raw_host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(Refused::other("refused URL without a host".into()));
    };
    let host = raw_host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok((host, port))
}

/// The same check when a target is saved or given (a command's `target.url`, post_message's
/// `url`): a scheme other than http(s), or a host that is a private address or local name, is
/// refused at once with the fix, instead of in a dead action found later. A name that resolves
/// inside is only warned about ([`refusal_by_address`]): DNS may answer otherwise when the
/// resolver checks it again at send time.
pub fn refusal_at_save(url: &str, allowlist: &[String]) -> Option<String> {
    let parsed = Url::parse(url).ok()?;
    check_url(&parsed, allowlist)
        .err()
        .map(|refused| refused.message)
}

/// [`refusal_at_save`] for a process that does not send (a `stdio` front end): the allowlist
/// that counts is the sending process's, unknown here, so only what none could allow is
/// refused (a scheme other than http(s), no host).
pub fn refusal_whatever_allowed(url: &str) -> Option<String> {
    let parsed = Url::parse(url).ok()?;
    target_host(&parsed).err().map(|refused| refused.message)
}

/// The DNS resolver of the guarded clients. Resolves with the system resolver, then keeps
/// only public addresses unless the name is allowlisted. An empty allowlist makes it strict.
#[derive(Debug, Clone, Default)]
pub(crate) struct GuardedResolver {
    pub allowlist: Arc<[String]>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allowlist = Arc::clone(&self.allowlist);
        Box::pin(async move {
            match guarded_lookup(&host, &allowlist, Shown::Address).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(Lookup::Refused(refused)) => Err(refused.into()),
                Err(Lookup::Failed(e)) => Err(e.into()),
            }
        })
    }
}

/// Why [`guarded_lookup`] gave no addresses.
#[derive(Debug)]
enum Lookup {
    /// The name is local, or every address it resolves to is private.
    Refused(Refused),
    /// The system resolver failed (no such name, no DNS).
    Failed(std::io::Error),
}

/// Whether a refusal names the private address a name resolved to: the sender's does (it is
/// in a dead action's error, for whoever set the target up); the check before sending does
/// not, so that a caller cannot map internal names to addresses without queuing anything.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shown {
    Address,
    NoAddress,
}

/// What the guarded resolver does with `host`: one function, so that the check before sending
/// ([`refusal_by_address`]) and the sender cannot disagree.
async fn guarded_lookup(
    host: &str,
    allowlist: &[String],
    shown: Shown,
) -> Result<Vec<SocketAddr>, Lookup> {
    let allowed = host_named(host, allowlist);
    if !allowed && is_local_name(host) {
        return Err(Lookup::Refused(Refused::private(
            host,
            "names a local or cloud-metadata host (a private address)".into(),
        )));
    }
    // Port 0: reqwest puts the URL's port on every address it gets back.
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(Lookup::Failed)?
        .collect();
    if allowed {
        return Ok(addrs);
    }
    let (public, private): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|a| is_public(a.ip()));
    match (public.is_empty(), private.first()) {
        (true, Some(first)) => Err(Lookup::Refused(Refused::private(
            host,
            match shown {
                Shown::Address => format!("resolves to a private address ({})", first.ip()),
                Shown::NoAddress => "resolves to a private address".into(),
            },
        ))),
        _ => Ok(public),
    }
}

/// How long the checks of one call wait for names to resolve, all of them together
/// ([`lookup_deadline`]): they run while a caller waits for an answer, and a slow or absent
/// DNS only means the sender finds out when it sends.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// When the checks of a call that starts now stop waiting for DNS: a dry run over many
/// commands, or an update tried again, waits [`LOOKUP_TIMEOUT`] in all, not each time.
pub fn lookup_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + LOOKUP_TIMEOUT
}

/// Checks before sending whose lookups may run at once. A lookup outlives the check that gave
/// up on it (the system resolver has no cancel): each holds one of these until it ends, so a
/// stalled DNS ties up at most this many blocking threads, which store reads share; a check
/// that gets none by its deadline is skipped (the sender still checks when it sends).
static PRE_CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(8);

/// The refusal the sender's resolver would give `url`'s host name now: a name (not an IP
/// literal, which [`check_url`] judges) that resolves only to private addresses and that the
/// allowlist does not open, on the client [`check_url`] would pick. `None` when it resolves to
/// a public address, is allowed, or cannot be resolved by `deadline` (the sender resolves
/// again when it sends, and DNS may answer otherwise there and then).
pub async fn refusal_by_address(
    url: &str,
    allowlist: &[String],
    deadline: tokio::time::Instant,
) -> Option<String> {
    let parsed = Url::parse(url).ok()?;
    let (host, _) = target_host(&parsed).ok()?;
    if host.parse::<IpAddr>().is_ok() {
        return None;
    }
    // As `Clients::for_url` picks: an allowlisted host:port gets the allowlist, the rest none.
    let resolver_list: Vec<String> = match check_url(&parsed, allowlist).ok()? {
        Route::Allowlisted => allowlist.to_vec(),
        Route::Strict => Vec::new(),
    };
    // Past the deadline (a later command of a dry run, an update tried again), no lookup
    // starts that nobody would wait for.
    if tokio::time::Instant::now() >= deadline {
        return None;
    }
    let permit = tokio::time::timeout_at(deadline, PRE_CHECKS.acquire())
        .await
        .ok()?
        .ok()?;
    // Run apart, holding its permit to the end, so that giving up at the deadline does not
    // free the permit of a lookup still running.
    let lookup = tokio::spawn(async move {
        let _permit = permit;
        guarded_lookup(&host, &resolver_list, Shown::NoAddress).await
    });
    match tokio::time::timeout_at(deadline, lookup).await {
        Ok(Ok(Err(Lookup::Refused(refused)))) => Some(refused.message),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_public_refuses_every_internal_range_and_accepts_internet_addresses() {
        let cases: &[(&str, bool)] = &[
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("140.82.112.3", true),
            ("100.63.255.255", true),
            ("172.32.0.1", true),
            ("127.0.0.1", false),
            ("127.1.2.3", false),
            ("10.0.0.1", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("255.255.255.255", false),
            ("192.0.2.1", false),
            ("198.51.100.1", false),
            ("203.0.113.1", false),
            ("198.18.0.1", false),
            ("224.0.0.1", false),
            ("240.0.0.1", false),
            ("2606:4700:4700::1111", true),
            ("2a00:1450:4001::200e", true),
            ("::1", false),
            ("::", false),
            ("fe80::1", false),
            ("fc00::1", false),
            ("fd12:3456::1", false),
            ("ff02::1", false),
            ("2001:db8::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:8.8.8.8", true),
            ("::127.0.0.1", false),
            ("64:ff9b::7f00:1", false),
            ("64:ff9b::808:808", true),
            ("2002:7f00:1::", false),
            ("2002:808:808::", true),
            ("2001::1", false),
        ];
        for (ip, want) in cases {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(is_public(parsed), *want, "{ip}");
        }
    }

    #[test]
    fn host_allowed_matches_hosts_with_and_without_ports() {
        let list: Vec<String> = [
            "open-webui:8080",
            "127.0.0.1",
            "Internal.Example.",
            "[::1]:9000",
        ]
        .map(String::from)
        .to_vec();
        let cases: &[(&str, u16, bool)] = &[
            ("open-webui", 8080, true),
            ("open-webui", 80, false),
            ("OPEN-WEBUI", 8080, true),
            ("127.0.0.1", 1234, true),
            ("127.0.0.2", 1234, false),
            ("internal.example", 443, true),
            ("internal.example.", 80, true),
            ("::1", 9000, true),
            ("[::1]", 9000, true),
            ("0:0::1", 9000, true),
            ("::1", 9001, false),
            ("example.com", 443, false),
        ];
        for (host, port, want) in cases {
            assert_eq!(host_allowed(host, *port, &list), *want, "{host}:{port}");
        }
    }

    #[test]
    fn allowlist_entries_that_cannot_match_are_ignored() {
        for entry in ["", "host:notaport", "[::1", "[::1]x", "http://"] {
            assert!(!host_allowed("host", 80, &[entry.to_owned()]), "{entry}");
        }
        assert!(host_allowed(
            "open-webui",
            8080,
            &["http://open-webui:8080/".to_owned()]
        ));
    }

    #[test]
    fn check_url_refuses_private_literals_local_names_and_other_schemes() {
        let allow = vec![
            "10.1.2.3".to_owned(),
            "metadata.google.internal:80".to_owned(),
        ];
        let cases: &[(&str, Option<Route>)] = &[
            ("https://example.com/hook", Some(Route::Strict)),
            ("http://93.184.216.34/", Some(Route::Strict)),
            ("http://127.0.0.1:8080/", None),
            ("http://[::1]/", None),
            ("http://[::ffff:7f00:1]/", None),
            ("http://169.254.169.254/latest/meta-data/", None),
            ("http://2130706433/", None),
            ("http://localhost:3000/", None),
            ("http://app.localhost/", None),
            (
                "http://metadata.google.internal/computeMetadata/v1/",
                Some(Route::Allowlisted),
            ),
            ("http://metadata.google.internal:8080/", None),
            ("http://10.1.2.3:9999/", Some(Route::Allowlisted)),
            ("ftp://example.com/", None),
            ("file:///etc/passwd", None),
        ];
        for (url, want) in cases {
            let got = check_url(&Url::parse(url).unwrap(), &allow).ok();
            assert_eq!(got, *want, "{url}");
        }
    }

    #[test]
    fn a_process_that_does_not_send_refuses_only_what_no_allowlist_allows() {
        let cases = [
            ("http://127.0.0.1:8080/", false),
            ("http://169.254.169.254/latest/meta-data/", false),
            ("http://localhost/", false),
            ("https://example.com/hook", false),
            ("ftp://example.com/", true),
            ("file:///etc/passwd", true),
        ];
        for (url, refused) in cases {
            assert_eq!(refusal_whatever_allowed(url).is_some(), refused, "{url}");
        }
    }

    #[test]
    fn refusals_name_the_host_and_the_setting_that_allows_it() {
        let err = check_url(&Url::parse("http://10.0.0.5:81/").unwrap(), &[]).unwrap_err();
        assert!(err.message.contains("10.0.0.5"), "{err}");
        assert!(err.message.contains("private"), "{err}");
        assert!(err.message.contains("ALLOWED_TARGET_HOSTS"), "{err}");
        assert!(err.message.contains("\"10.0.0.5:PORT\""), "{err}");
        // The forms it suggests are ones the setting takes.
        let v6 = check_url(&Url::parse("http://[::1]:18606/").unwrap(), &[]).unwrap_err();
        assert!(v6.message.contains("\"::1\""), "{v6}");
        assert!(v6.message.contains("\"[::1]:PORT\""), "{v6}");
        let allow = ["[::1]:18606".to_owned()];
        assert!(check_url(&Url::parse("http://[::1]:18606/").unwrap(), &allow).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_resolve_to_loopback_unless_allowlisted() {
        let strict = GuardedResolver::default();
        let name: Name = "localhost".parse().unwrap();
        let err = strict.resolve(name).await.err().expect("refused");
        assert!(err.to_string().contains("ALLOWED_TARGET_HOSTS"), "{err}");

        let open = GuardedResolver {
            allowlist: Arc::from(vec!["localhost".to_owned()]),
        };
        let addrs: Vec<_> = open
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
