//! Bearer-key check, scopes and the audit log for `/api` and `/mcp`, applied as one layer.
//!
//! - Every request needs a key (unless `--no-auth`); who it is goes into the request's
//!   extensions as a [`KeyInfo`].
//! - A `read` key may use GET (and HEAD) on `/api` except `/api/keys`, and on `/mcp` only the
//!   read-only JSON-RPC methods and `list_*`/`get_*` tools. To know, the middleware buffers
//!   the `/mcp` POST body, reads it as JSON-RPC (one message or a batch) and hands the same
//!   bytes on. Anything else is answered 403.
//! - After the handler ran, every non-GET `/api` request and every `/mcp` call of a tool
//!   that is not `list_*`/`get_*` is written to the audit log (secrets masked); refused
//!   attempts too.

use std::collections::HashSet;
use std::fmt;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::body_limit::API_MAX_BODY_BYTES;
use super::buffer::buffer;
use super::error::ApiError;
use crate::app::AppState;
use crate::mcp::is_read_tool;
use crate::service::audit::{self, AuditEntry, Outcome, tool_target};
use crate::service::auth::{KeyInfo, Scope};

/// The largest `/mcp` body this layer reads to classify and audit a request.
const MAX_INSPECTED_BODY: usize = 4 * 1024 * 1024;
/// The actor recorded when the server runs with `--no-auth`.
const NO_AUTH_ACTOR: &str = "no-auth";

/// Set by a handler on its response to name what it changed more precisely than the request
/// path does (e.g. the id of a key just created); the audit entry's target.
#[derive(Debug, Clone)]
pub struct AuditTarget(pub String);

pub async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = if state.config.no_auth {
        KeyInfo {
            id: None,
            name: NO_AUTH_ACTOR.to_string(),
            scope: Scope::Admin,
        }
    } else {
        let presented = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            // The scheme's name is case-insensitive (RFC 9110 §11.1).
            .and_then(|(scheme, key)| scheme.eq_ignore_ascii_case("bearer").then_some(key))
            .map(str::trim);
        match presented.map(|k| state.api_keys.identify(k)) {
            Some(Some(key)) => key,
            Some(None) => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_api_key",
                    "the API key is not valid",
                ));
            }
            None => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing_api_key",
                    "send the API key as `Authorization: Bearer <key>` (WEBHOOK_MCP_API_KEY, \
                     or the key printed on first start)",
                ));
            }
        }
    };
    state.api_keys.touch(&state.store, &key);
    request.extensions_mut().insert(key.clone());

    let method = request.method().clone();
    let path = request.uri().path().to_string();
    if is_mcp_path(&path) {
        if method != Method::POST {
            // GET (the server's event stream) and DELETE (end a session) change nothing.
            return Ok(next.run(request).await);
        }
        let read = buffer(request, MAX_INSPECTED_BODY, body_timeout(&state)).await;
        let (request, bytes) = match read {
            Ok(read) => read,
            Err(refused) => return Ok(refused.for_mcp()),
        };
        if let Some(refusal) = super::jsonrpc::check(&bytes) {
            return Ok(refusal.into_response());
        }
        // Here, not in the MCP server: rmcp acknowledges a listen stream before it asks us.
        if let Some(refusal) = crate::mcp::listen_check::refusal(&state, &bytes).await {
            return Ok(refusal.into_response());
        }
        let classified = classify_mcp(&bytes, key.scope == Scope::Read);
        let allowed = key.is_admin() || classified.as_ref().is_some_and(|c| c.read_only);
        if allowed {
            // The MCP server records the calls it runs, with their outcome (it knows the key
            // from the request's extensions).
            return Ok(next.run(request).await);
        }
        for call in classified.map(|c| c.changes).unwrap_or_default() {
            audit::record(
                &state,
                AuditEntry {
                    actor: key.name.clone(),
                    action: format!("mcp {}", call.tool),
                    target: tool_target(&call.arguments),
                    status: Some(StatusCode::FORBIDDEN.as_u16()),
                    detail: Some(call.arguments),
                    outcome: Outcome::Error("refused: the API key is read-only".into()),
                },
            )
            .await;
        }
        return Ok(refuse_mcp(&bytes, negotiated_version(&request)));
    }

    let reads_only = method == Method::GET || method == Method::HEAD;
    if reads_only {
        return if api_allows(key.scope, &method, &path) {
            Ok(next.run(request).await)
        } else {
            Err(forbidden())
        };
    }
    let (request, bytes) = buffer(request, API_MAX_BODY_BYTES, body_timeout(&state)).await?;
    let response = if api_allows(key.scope, &method, &path) {
        next.run(request).await
    } else {
        forbidden().into_response()
    };
    let detail = serde_json::from_slice::<Value>(&bytes).ok();
    let target = response
        .extensions()
        .get::<AuditTarget>()
        .map(|t| t.0.clone())
        .unwrap_or_else(|| path.clone());
    audit::record(
        &state,
        AuditEntry {
            actor: key.name.clone(),
            action: format!("{method} {path}"),
            target: Some(target),
            status: Some(response.status().as_u16()),
            detail,
            outcome: match response.extensions().get::<super::error::ErrorMessage>() {
                Some(why) if response.status().as_u16() >= 400 => {
                    Outcome::Error(format!("HTTP {}: {}", response.status().as_u16(), why.0))
                }
                _ => Outcome::of_status(response.status().as_u16()),
            },
        },
    )
    .await;
    Ok(response)
}

/// `/mcp` and anything under it.
pub(super) fn is_mcp_path(path: &str) -> bool {
    path == "/mcp" || path.starts_with("/mcp/")
}

/// Whether a key of `scope` may send `method` to the `/api` path `path`.
fn api_allows(scope: Scope, method: &Method, path: &str) -> bool {
    match scope {
        Scope::Admin => true,
        Scope::Read => {
            let keys = path == "/api/keys" || path.starts_with("/api/keys/");
            (method == Method::GET || method == Method::HEAD) && !keys
        }
    }
}

/// A read-only key's refused MCP request. A single tool call is answered as a tool error, which
/// MCP clients hand to the model ("this key is read-only", so it stops trying); an HTTP 403
/// reaches the model, if at all, as "the server returned an error". Anything else is a 403.
fn refuse_mcp(body: &[u8], protocol: Option<String>) -> Response {
    let message = serde_json::from_slice::<Value>(body).ok().and_then(|m| {
        let tool = m
            .pointer("/params/name")
            .and_then(Value::as_str)?
            .to_string();
        let is_call = m.get("method").and_then(Value::as_str) == Some("tools/call");
        Some((m.get("id")?.clone(), tool)).filter(|_| is_call)
    });
    let Some((id, tool)) = message else {
        return forbidden().into_response();
    };
    let text = format!(
        "`{}` changes something, and this API key is read-only: it may use list_* and get_* \
         tools, resources and prompts. Ask the server's owner for an admin key to make changes.",
        crate::service::quoted(&tool)
    );
    let mut result =
        serde_json::json!({"content": [{"type": "text", "text": text}], "isError": true});
    // From 2026-07-28 every result names its type, and clients (the Python SDK) require it;
    // older peers never had the field.
    if protocol.is_some_and(|v| v.as_str() >= RESULT_TYPE_SINCE) {
        result["resultType"] = "complete".into();
    }
    axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

/// The first protocol version whose results carry `resultType`.
const RESULT_TYPE_SINCE: &str = "2026-07-28";

/// The protocol version the client speaks, from the header every request carries once it is
/// negotiated (and, without sessions, on every request).
fn negotiated_version(request: &Request) -> Option<String> {
    request
        .headers()
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "this API key is read-only",
    )
}

/// How long a client may take to send the body this layer reads: this layer sits outside the
/// request timeout (which leaves MCP's long-lived streams alone), so it applies the same bound.
fn body_timeout(state: &AppState) -> std::time::Duration {
    std::time::Duration::from_secs(state.config.request_timeout_secs)
}

/// A tool call that may change something.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall {
    pub tool: String,
    pub arguments: Value,
}

/// What one `/mcp` POST body asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct McpRequest {
    /// Every message may be sent with a read-only key.
    pub read_only: bool,
    /// The calls of tools that are not `list_*`/`get_*`, for the audit log.
    pub changes: Vec<ToolCall>,
}

/// Reads a `/mcp` POST body as JSON-RPC: one message or a batch. `None` when it is not JSON
/// (or, with `strict`, when an object repeats a key, which parsers may read differently).
pub(crate) fn classify_mcp(body: &[u8], strict: bool) -> Option<McpRequest> {
    if strict && serde_json::from_slice::<NoDuplicateKeys>(body).is_err() {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    let messages = match value {
        Value::Array(items) => items,
        single => vec![single],
    };
    let mut out = McpRequest {
        read_only: true,
        changes: Vec::new(),
    };
    for message in messages {
        out.read_only &= message_is_read_only(&message);
        if let Some(call) = changing_tool_call(message) {
            out.changes.push(call);
        }
    }
    Some(out)
}

/// Whether one JSON-RPC message may be sent with a read-only key.
fn message_is_read_only(message: &Value) -> bool {
    let Some(object) = message.as_object() else {
        return false;
    };
    match object.get("method") {
        Some(Value::String(method)) => method_is_read_only(method, object.get("params")),
        Some(_) => false,
        // A response to a request of the server's: answers change nothing here.
        None => object.contains_key("result") || object.contains_key("error"),
    }
}

/// Whether a JSON-RPC method (with these params) only reads.
pub(crate) fn method_is_read_only(method: &str, params: Option<&Value>) -> bool {
    match method {
        "initialize"
        | "ping"
        | "server/discover"
        | "tools/list"
        | "prompts/list"
        | "prompts/get"
        | "resources/list"
        | "resources/templates/list"
        | "resources/read"
        | "resources/subscribe"
        | "resources/unsubscribe"
        | "subscriptions/listen" => true,
        "tools/call" => params
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .is_some_and(|name| is_read_tool(name) || !crate::mcp::is_tool(name)),
        m => m.starts_with("notifications/"),
    }
}

/// The call, when `message` calls a tool that may change something.
fn changing_tool_call(message: Value) -> Option<ToolCall> {
    let Value::Object(mut object) = message else {
        return None;
    };
    if object.get("method").and_then(Value::as_str) != Some("tools/call") {
        return None;
    }
    let mut params = match object.remove("params") {
        Some(Value::Object(params)) => params,
        _ => serde_json::Map::new(),
    };
    let tool = params
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed tool)")
        .to_string();
    if is_read_tool(&tool) || !crate::mcp::is_tool(&tool) {
        return None;
    }
    Some(ToolCall {
        tool,
        arguments: params.remove("arguments").unwrap_or(Value::Null),
    })
}

/// Accepts any JSON in which no object repeats a key. Two parsers may keep different copies
/// of a repeated key (the method or the tool name), so a read-only key may not send one.
struct NoDuplicateKeys;

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON without repeated keys")
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_unit<E>(self) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicateKeys, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicateKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(de::Error::custom("repeated key"));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn classify(body: Value) -> McpRequest {
        classify_mcp(body.to_string().as_bytes(), true).expect("JSON-RPC")
    }

    fn call(tool: &str, arguments: Value) -> Value {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": tool, "arguments": arguments}})
    }

    #[test]
    fn read_only_methods_are_recognised() {
        for method in [
            "initialize",
            "notifications/initialized",
            "notifications/cancelled",
            "ping",
            "tools/list",
            "prompts/list",
            "prompts/get",
            "resources/list",
            "resources/templates/list",
            "resources/read",
            "resources/subscribe",
            "resources/unsubscribe",
            "subscriptions/listen",
            "server/discover",
        ] {
            assert!(method_is_read_only(method, None), "{method} only reads");
        }
        for method in [
            "tools/call",
            "logging/setLevel",
            "completion/complete",
            "tasks/cancel",
            "Tools/list",
            "",
        ] {
            assert!(!method_is_read_only(method, None), "{method} is refused");
        }
    }

    #[test]
    fn only_list_and_get_tools_are_read_only() {
        for tool in [
            "list_webhooks",
            "get_webhook",
            "list_events",
            "get_event",
            "list_tasks",
            "get_action",
            "list_actions",
        ] {
            let found = classify(call(tool, json!({})));
            assert!(found.read_only, "{tool} only reads");
            assert!(found.changes.is_empty(), "{tool} is not audited");
        }
        for tool in [
            "create_webhook",
            "delete_webhook",
            "claim_task",
            "cancel_action",
            "retry_action",
        ] {
            let found = classify(call(tool, json!({"webhook_id": "gh"})));
            assert!(!found.read_only, "{tool} may change something");
            assert_eq!(found.changes.len(), 1, "{tool} is audited");
            assert_eq!(found.changes[0].tool, tool);
        }
        // No such tool: it changes nothing, and the server says it does not exist.
        let unknown = classify(call("lister", json!({})));
        assert!(unknown.read_only && unknown.changes.is_empty());
        let nameless = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}});
        assert!(!classify(nameless).read_only);
    }

    #[test]
    fn a_batch_is_read_only_only_when_every_message_is() {
        let reads = json!([
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            call("list_webhooks", json!({})),
            {"jsonrpc": "2.0", "id": 7, "result": {}},
        ]);
        assert!(classify(reads).read_only);

        let mixed = json!([
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            call("create_webhook", json!({"id": "gh", "secret": "x"})),
        ]);
        let found = classify(mixed);
        assert!(!found.read_only);
        assert_eq!(
            found.changes,
            vec![ToolCall {
                tool: "create_webhook".into(),
                arguments: json!({"id": "gh", "secret": "x"}),
            }]
        );
    }

    #[test]
    fn unreadable_or_ambiguous_bodies_are_not_read_only() {
        assert_eq!(classify_mcp(b"{not json", true), None);
        let repeated = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"list_webhooks","name":"create_webhook"}}"#;
        assert_eq!(classify_mcp(repeated, true), None);
        assert!(classify_mcp(repeated, false).is_some());
        assert!(!classify(json!("tools/list")).read_only);
        assert!(!classify(json!({"jsonrpc": "2.0", "id": 1, "method": 5})).read_only);
        assert!(!classify(json!({"jsonrpc": "2.0", "id": 1})).read_only);
    }

    #[test]
    fn read_keys_may_only_get_outside_key_management() {
        assert!(api_allows(Scope::Read, &Method::GET, "/api/webhooks"));
        assert!(api_allows(Scope::Read, &Method::GET, "/api/audit"));
        assert!(!api_allows(Scope::Read, &Method::POST, "/api/webhooks"));
        assert!(!api_allows(
            Scope::Read,
            &Method::DELETE,
            "/api/webhooks/gh"
        ));
        assert!(!api_allows(Scope::Read, &Method::GET, "/api/keys"));
        assert!(!api_allows(Scope::Read, &Method::GET, "/api/keys/key_1"));
        assert!(api_allows(Scope::Admin, &Method::DELETE, "/api/keys/key_1"));
    }
}
