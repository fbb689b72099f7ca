//! Loop protection for forwards: each forward tells its receiver how many forwards the event
//! has come through, so a forward that reaches this server again (its own receiver, or a
//! webhook that forwards back) stops after a few rounds instead of running without end.

use axum::http::HeaderMap;
use serde_json::Value;

/// The header a forward carries: how many forwards the event it sends has come through.
pub const HEADER: &str = "X-Webhook-Mcp-Hops";

/// A received event that has come through this many forwards is stored but runs nothing.
pub const MAX_HOPS: u32 = 5;

/// The hop count a request carries; none (or one that is not a number) is a first delivery.
pub fn of_request(headers: &HeaderMap) -> u32 {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map_or(0, parse)
}

/// The hop count of a stored event, from its kept headers (names kept in lower case).
pub fn of_stored(headers: &Value) -> u32 {
    headers
        .get(HEADER.to_ascii_lowercase())
        .and_then(Value::as_str)
        .map_or(0, parse)
}

/// Why a looped event runs nothing.
pub fn looped_reason(hops: u32) -> String {
    format!(
        "it came through {hops} forwards ({HEADER}), the most this server runs commands on: \
         a forward loops back here; it is stored, and runs no command"
    )
}

fn parse(text: &str) -> u32 {
    text.trim().parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hop_counts_are_read_from_requests_and_stored_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(of_request(&headers), 0);
        headers.insert(HEADER, "3".parse().expect("header"));
        assert_eq!(of_request(&headers), 3);
        headers.insert(HEADER, "many".parse().expect("header"));
        assert_eq!(of_request(&headers), 0);
        assert_eq!(of_stored(&json!({"x-webhook-mcp-hops": "5"})), 5);
        assert_eq!(of_stored(&json!({})), 0);
    }
}
