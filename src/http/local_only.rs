//! Under `--no-auth`, what stands in for the key check on `/api`, `/mcp` and `/metrics`: a
//! request must name this machine in `Host` and `Origin`, so that a web page open in a browser
//! here cannot drive the server (a cross-site form post, or a name rebound to 127.0.0.1).
//! With a key and `WEBHOOK_MCP_ALLOWED_HOSTS`, `/mcp` holds a browser's `Origin` to the same
//! names ([`origin_check`]), as the MCP transport asks; rmcp checks `Host` itself.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use crate::app::AppState;

/// Middleware on `/mcp`: with an allowlist of hosts (and a key: `--no-auth` checks both
/// headers in the key check), a request whose `Origin` names none of them nor this machine
/// is 403. A request without `Origin` (any client that is not a web page) passes.
pub async fn origin_check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.config.no_auth
        && let Some(allowed) = state.config.mcp_allowed_hosts()
        && let Some(origin) = request.headers().get(ORIGIN)
    {
        let origin = origin.to_str().unwrap_or_default();
        if !names_this_machine(origin, &allowed) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                format!(
                    "the request's Origin `{}` is not one of WEBHOOK_MCP_ALLOWED_HOSTS nor this \
                     machine (a web page elsewhere may have sent it); add its host there to let \
                     that page in",
                    crate::quote::quoted(origin)
                ),
            )
            .for_mcp();
        }
    }
    next.run(request).await
}

/// Why the request is turned away, or None when it names this machine (or names nothing, as
/// an HTTP/1.0 client may). `allowed` are the `WEBHOOK_MCP_ALLOWED_HOSTS` entries.
pub fn refusal(headers: &HeaderMap, allowed: &[String]) -> Option<String> {
    // A proxy or tunnel on this machine connects from loopback, and may name it in `Host`
    // (nginx's default for `proxy_pass http://127.0.0.1:…`): what it forwards comes from
    // anywhere. The headers such proxies add say so.
    if let Some(name) = FORWARDED.iter().find(|name| headers.contains_key(**name)) {
        return Some(format!(
            "--no-auth takes requests from this machine only, and this one came through a proxy \
             or tunnel (it carries {name}); run with an API key behind a proxy"
        ));
    }
    for (name, header) in [("Host", HOST), ("Origin", ORIGIN)] {
        let Some(value) = headers.get(header) else {
            continue;
        };
        let value = value.to_str().unwrap_or_default();
        if !names_this_machine(value, allowed) {
            return Some(format!(
                "--no-auth takes requests from this machine only, and the request's {name} is \
                 `{}` (a web page in a browser may have sent it); call it as localhost or \
                 127.0.0.1, or run with an API key",
                crate::quote::quoted(value)
            ));
        }
    }
    None
}

/// Headers a proxy or tunnel adds to what it passes on.
const FORWARDED: [&str; 4] = [
    "x-forwarded-for",
    "forwarded",
    "x-real-ip",
    "x-forwarded-host",
];

fn names_this_machine(value: &str, allowed: &[String]) -> bool {
    let Some((host, port)) = crate::actions::ssrf::parse_entry(value) else {
        // `null` (a sandboxed page or a file) or no host at all.
        return false;
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let loopback = host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback());
    loopback
        || allowed.iter().any(|entry| {
            let entry = entry.trim_end_matches('.').to_ascii_lowercase();
            entry == host
                || port.is_some_and(|port| {
                    entry == format!("{host}:{port}") || entry == format!("[{host}]:{port}")
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_this_machines_names_pass() {
        let allowed = vec!["webhook-mcp.".to_string(), "box:8765".to_string()];
        let cases: [(Option<&str>, Option<&str>, bool); 15] = [
            (Some("[::ffff:127.0.0.1]:8765"), None, true),
            (Some("127.0.0.1:8765"), None, true),
            (Some("localhost:8765"), Some("http://localhost:3000"), true),
            (Some("LOCALHOST."), None, true),
            (Some("[::1]:8765"), None, true),
            (Some("127.0.0.2"), None, true),
            (Some("app.localhost:8765"), None, true),
            (Some("webhook-mcp:8765"), None, true),
            (Some("box:8765"), None, true),
            (None, None, true),
            (Some("attacker.example:8765"), None, false),
            (Some("box:9999"), None, false),
            (Some("127.0.0.1:8765"), Some("http://evil.example"), false),
            (Some("127.0.0.1:8765"), Some("null"), false),
            (Some("10.0.0.5:8765"), None, false),
        ];
        for (host, origin, passes) in cases {
            let mut headers = HeaderMap::new();
            if let Some(host) = host {
                headers.insert(HOST, HeaderValue::from_str(host).unwrap());
            }
            if let Some(origin) = origin {
                headers.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
            }
            assert_eq!(
                refusal(&headers, &allowed).is_none(),
                passes,
                "{host:?} {origin:?}"
            );
        }
    }
}
