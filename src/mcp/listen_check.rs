//! `subscriptions/listen` refuses a resource that does not exist, as `resources/subscribe`
//! does. rmcp acknowledges a listen stream before it calls the handler's `listen`, and a
//! client takes that acknowledgment as "watched"; rmcp's HTTP service has no place for an
//! awaited check before it. So this runs after [`jsonrpc::check`], on the message it read, in
//! both front checks: the `/mcp` gate, and stdio's line reader.
//!
//! It is cheap and bounded, as it runs before anything else of the request (and on stdio,
//! before the next line is read): a listen with headers rmcp refuses is left to rmcp, one
//! naming more than [`MAX_LISTENED`] resources is refused as it is, and the rest are looked
//! up once each, all in one read, without reading their contents.

use std::collections::HashSet;

use axum::http::{HeaderMap, StatusCode};
use rmcp::model::ErrorCode;
use serde_json::Value;

use super::resources;
use crate::app::AppState;
use crate::http::jsonrpc::{self, Refusal};

/// The protocol `subscriptions/listen` belongs to; only its requests carry their version.
const LISTEN_SINCE: &str = "2026-07-28";

/// The most resources one listen may name (a copy named twice counts twice).
pub const MAX_LISTENED: usize = 256;

/// `None` unless `message` (as [`jsonrpc::check`] read it) is a listen request naming a
/// resource that cannot be read, or too many. `headers`: the HTTP request's (none on stdio).
pub async fn refusal(
    state: &AppState,
    message: &Value,
    headers: Option<&HeaderMap>,
) -> Option<Refusal> {
    if message.get("method")?.as_str()? != "subscriptions/listen" {
        return None;
    }
    // An older client's listen (a legacy session's, or one naming an earlier protocol) is a
    // method that protocol does not have: said so with the way it subscribes, where rmcp's
    // own answer is the method's name alone. ISO dates compare as text in date order.
    let version = message
        .pointer("/params/_meta/io.modelcontextprotocol~1protocolVersion")
        .and_then(Value::as_str);
    let Some(version) = version.filter(|v| *v >= LISTEN_SINCE) else {
        return Some(Refusal {
            status: StatusCode::OK,
            id: message.get("id")?.clone(),
            code: ErrorCode::METHOD_NOT_FOUND.0.into(),
            message: format!(
                "method not found: subscriptions/listen is of protocol {LISTEN_SINCE}; a \
                 client of an earlier one subscribes with resources/subscribe, in a session"
            ),
        });
    };
    // rmcp refuses such a request itself (`-32020`), before acknowledging anything: its
    // resources are not worth looking up.
    if headers.is_some_and(|headers| !headers_agree(headers, version)) {
        return None;
    }
    let id = message.get("id")?.clone();
    let refused = |code, message| {
        Some(Refusal {
            status: StatusCode::OK,
            id: id.clone(),
            code,
            message,
        })
    };
    // rmcp reads a listen whose params it cannot read as a method it does not know, and its
    // answer (`-32601`, a 404 over HTTP) says nothing of what is wrong.
    if let Some(wrong) = bad_filter(message.get("params")) {
        return refused(jsonrpc::INVALID_PARAMS, format!("Invalid params: {wrong}"));
    }
    let Some(Value::Array(uris)) = message.pointer("/params/notifications/resourceSubscriptions")
    else {
        return None;
    };
    if uris.len() > MAX_LISTENED {
        return refused(
            jsonrpc::INVALID_PARAMS,
            format!(
                "Invalid params: a listen may name at most {MAX_LISTENED} resources in \
                 `resourceSubscriptions`; this one names {}",
                uris.len()
            ),
        );
    }
    let mut seen = HashSet::new();
    let distinct: Vec<String> = uris
        .iter()
        .filter_map(Value::as_str)
        .filter(|uri| seen.insert(*uri))
        .map(str::to_string)
        .collect();
    let missing = match resources::first_missing(state, distinct).await {
        Ok(None) => return None,
        Ok(Some(missing)) => missing,
        Err(e) => e,
    };
    // From 2026-07-28 a missing resource is `-32602 Invalid params` (rmcp answers a
    // `resources/read` of one so too).
    let code = match missing.code {
        ErrorCode::RESOURCE_NOT_FOUND => jsonrpc::INVALID_PARAMS,
        other => other.0.into(),
    };
    refused(code, missing.message.into_owned())
}

/// What in a listen's `params` rmcp could not read as its filter (`notifications`, with the
/// kinds of notification it asks for), naming the field.
fn bad_filter(params: Option<&Value>) -> Option<String> {
    const URIS: &str = "`params.notifications.resourceSubscriptions`";
    let Some(notifications) = params.and_then(|params| params.get("notifications")) else {
        return Some(format!(
            "`subscriptions/listen` needs `params.notifications`, an object; the resources \
             to watch go in {URIS}, an array of their URIs"
        ));
    };
    let Value::Object(notifications) = notifications else {
        return Some(format!(
            "`params.notifications` must be an object; the resources to watch go in {URIS}, \
             an array of their URIs"
        ));
    };
    for flag in [
        "toolsListChanged",
        "promptsListChanged",
        "resourcesListChanged",
    ] {
        if !matches!(
            notifications.get(flag),
            None | Some(Value::Null | Value::Bool(_))
        ) {
            return Some(format!(
                "`params.notifications.{flag}` must be true or false"
            ));
        }
    }
    match notifications.get("resourceSubscriptions") {
        None | Some(Value::Null) => None,
        Some(Value::Array(uris)) if uris.iter().all(Value::is_string) => None,
        Some(_) => Some(format!(
            "{URIS} must be an array of resource URIs (strings)"
        )),
    }
}

/// Whether the request's headers say what its body does, as rmcp requires from protocol
/// 2026-07-28 and reads them: its first `MCP-Protocol-Version` the request's own (a second
/// one rmcp neither reads nor refuses, so it must not spare the request its check here), and
/// one `Mcp-Method`.
fn headers_agree(headers: &HeaderMap, version: &str) -> bool {
    let mut methods = headers.get_all("mcp-method").iter();
    let method = match (methods.next(), methods.next()) {
        (Some(value), None) => value.to_str().ok(),
        _ => None,
    };
    let protocol = headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok());
    protocol == Some(version) && method == Some("subscriptions/listen")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_filter_is_refused_exactly_when_rmcp_cannot_read_it_naming_the_field() {
        let uris = "params.notifications.resourceSubscriptions";
        let cases = [
            (
                json!({"notifications": {"resourceSubscriptions": ["webhook://x/events"]}}),
                None,
            ),
            (json!({"notifications": {}}), None),
            (
                json!({"notifications": {"resourceSubscriptions": null}}),
                None,
            ),
            (
                json!({"notifications": {"toolsListChanged": true, "other": 1}}),
                None,
            ),
            (
                json!({"filter": {"resourceSubscriptions": ["webhook://x/events"]}}),
                Some(uris),
            ),
            (json!({}), Some("params.notifications")),
            (json!({"notifications": ["webhook://x/events"]}), Some(uris)),
            (
                json!({"notifications": {"resourceSubscriptions": "webhook://x/events"}}),
                Some(uris),
            ),
            (
                json!({"notifications": {"resourceSubscriptions": [5]}}),
                Some(uris),
            ),
            (
                json!({"notifications": {"resourceSubscriptions": {}}}),
                Some(uris),
            ),
            (
                json!({"notifications": {"promptsListChanged": "yes"}}),
                Some("params.notifications.promptsListChanged"),
            ),
        ];
        for (params, named) in cases {
            let read = serde_json::from_value::<rmcp::model::SubscriptionsListenRequestParams>(
                params.clone(),
            );
            let wrong = bad_filter(Some(&params));
            assert_eq!(
                wrong.is_none(),
                read.is_ok(),
                "{params}: {wrong:?}, {read:?}"
            );
            match (wrong, named) {
                (None, None) => {}
                (Some(wrong), Some(named)) => {
                    assert!(wrong.contains(&format!("`{named}`")), "{params}: {wrong}")
                }
                (wrong, named) => panic!("{params}: {wrong:?}, expected {named:?}"),
            }
        }
        assert!(bad_filter(None).is_some_and(|wrong| wrong.contains(uris)));
    }

    #[test]
    fn only_headers_rmcp_takes_let_a_listen_be_looked_into() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, value.parse().unwrap());
            }
            map
        };
        let v = "2026-07-28";
        let good = [
            ("mcp-protocol-version", v),
            ("mcp-method", "subscriptions/listen"),
        ];
        assert!(headers_agree(&headers(&good), v));
        // rmcp reads the first version only and takes the request: so is it looked into.
        let twice = [
            ("mcp-protocol-version", v),
            ("mcp-protocol-version", v),
            ("mcp-method", "subscriptions/listen"),
        ];
        assert!(headers_agree(&headers(&twice), v));
        for wrong in [
            &[("mcp-protocol-version", v)][..],
            &[("mcp-method", "subscriptions/listen")][..],
            &[("mcp-protocol-version", v), ("mcp-method", "tools/list")][..],
            &[
                ("mcp-protocol-version", "2025-06-18"),
                ("mcp-method", "subscriptions/listen"),
            ][..],
            &[
                ("mcp-protocol-version", v),
                ("mcp-method", "subscriptions/listen"),
                ("mcp-method", "subscriptions/listen"),
            ][..],
        ] {
            assert!(!headers_agree(&headers(wrong), v), "{wrong:?}");
        }
    }
}
