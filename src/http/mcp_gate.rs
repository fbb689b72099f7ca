//! The gate in front of rmcp for a POST to `/mcp`, inside the key check and the session
//! check (a request on another key's session, or on one rmcp does not hold, never gets here):
//! reads the body once and
//!
//! - answers a body that is not one well-formed JSON-RPC message ([`jsonrpc::check`]), a
//!   JSON-RPC response outside a session (rmcp's answer has no `id`), and a
//!   `subscriptions/listen` naming a resource that does not exist ([`listen_check`]);
//! - refuses an `initialize` that would open a session past the limits ([`Sessions::reserve`]);
//! - lets a `read` key send only the read-only JSON-RPC methods and `list_*`/`get_*` tools: a
//!   call of any other tool is answered as a tool error the model can act on, and the refused
//!   calls are written to the audit log (secrets masked). Such a request's `tools/list` offers
//!   only those tools (the MCP server narrows it, from the key's scope in the extensions), but a
//!   client may call a tool without listing, so the call is judged here all the same. A method
//!   the server does not serve goes on to rmcp, which answers it `-32601` whatever the key.
//!   The MCP server records the calls it runs itself.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::auth::{RoleCapped, body_timeout, forbidden, revoked_meanwhile, unauthorized};
use super::buffer::buffer;
use super::error::MCP_TRANSPORT_ERROR;
use super::jsonrpc::{self, Parsed, Refusal};
use crate::app::AppState;
use crate::mcp::sessions::{Full, Opening};
use crate::mcp::{Sessions, is_read_tool, listen_check};
use crate::service::audit::{self, AuditChat, AuditEntry, AuditUser, Outcome, tool_target};
use crate::service::auth::{KeyInfo, Scope};

/// The largest `/mcp` body this gate reads to check, classify and audit a request.
const MAX_INSPECTED_BODY: usize = 4 * 1024 * 1024;

/// Middleware on `/mcp`: passes a POST on to rmcp only when the checks above let it through.
pub async fn check_mcp_post(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        // GET (the server's event stream) and DELETE (end a session) change nothing.
        return next.run(request).await;
    }
    // Set by the key check around this gate; without it, nothing is let through.
    let Some(key) = request.extensions().get::<KeyInfo>().cloned() else {
        return forbidden().into_response();
    };
    let (request, bytes) = match buffer(request, MAX_INSPECTED_BODY, body_timeout(&state)).await {
        Ok((request, bytes)) => as_read(request, bytes),
        Err(refused) => return refused.for_mcp(),
    };
    if !state.api_keys.holds(key.id.as_deref()) {
        return unauthorized(revoked_meanwhile(), &request);
    }
    let body = match jsonrpc::check(&bytes) {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(refusal) = stray_response(&request, &body.value) {
        return refusal.into_response();
    }
    // Here, not in the MCP server: rmcp acknowledges a listen stream before it asks us.
    let headers = Some(request.headers());
    if let Some(refusal) = listen_check::refusal(&state, &body.value, headers).await {
        return refusal.into_response();
    }
    let sessions = request.extensions().get::<Arc<Sessions>>().cloned();
    let opening = match take_a_place(sessions, &key, &body.value).await {
        Ok(opening) => opening,
        Err(refused) => return refused,
    };
    let capped = request.extensions().get::<RoleCapped>().cloned();
    let classified = classify_mcp(&body, key.scope == Scope::Read);
    let allowed = key.is_admin() || classified.as_ref().is_some_and(|c| c.read_only);
    if allowed {
        // The MCP server records the calls it runs, with their outcome (it knows the key
        // from the request's extensions).
        let mut response = next.run(request).await;
        if let Some(opening) = opening {
            // For the session check around this gate, which notes the session opened.
            response.extensions_mut().insert(Arc::new(opening));
        }
        return response;
    }
    let user = request.extensions().get::<AuditUser>().cloned();
    let chat = request
        .extensions()
        .get::<AuditChat>()
        .cloned()
        .unwrap_or_default();
    for call in classified.map(|c| c.changes).unwrap_or_default() {
        audit::record(
            &state,
            AuditEntry {
                actor: key.name.clone(),
                action: format!("mcp {}", call.tool),
                target: tool_target(&call.arguments),
                status: Some(StatusCode::FORBIDDEN.as_u16()),
                detail: Some(call.arguments),
                outcome: Outcome::Error(match &capped {
                    Some(capped) => format!("refused: {}", capped.why()),
                    None => "refused: the API key is read-only".into(),
                }),
                user: user.clone(),
                chat: chat.clone(),
            },
        )
        .await;
    }
    refuse_mcp(&body.value, negotiated_version(&request), capped.as_ref())
}

/// A JSON-RPC response (to a request of the server's) on no session: the server sends requests
/// only on a session, so it answers nothing. rmcp refuses it too, in an error without the
/// `id` member JSON-RPC requires.
fn stray_response(request: &Request, message: &Value) -> Option<Refusal> {
    let is_response = message.get("method").is_none()
        && (message.get("result").is_some() || message.get("error").is_some());
    if !is_response || request.headers().contains_key("mcp-session-id") {
        return None;
    }
    Some(Refusal {
        status: StatusCode::BAD_REQUEST,
        id: Value::Null,
        code: jsonrpc::INVALID_REQUEST,
        message: "Invalid Request: a JSON-RPC response answers a request of the server's, and \
                  this server sends those only on an MCP session; this one names none"
            .into(),
    })
}

/// For an `initialize` that would open a session (sessions on, none named: the session check
/// put [`Sessions`] in the extensions), a place among the sessions, or its refusal: `429`
/// when the key holds as many as a key may (with a `Retry-After` for when one of them will
/// have ended for want of use), `503` when the server holds as many as it keeps.
async fn take_a_place(
    sessions: Option<Arc<Sessions>>,
    key: &KeyInfo,
    message: &Value,
) -> Result<Option<Opening>, Response> {
    let Some(sessions) = sessions else {
        return Ok(None);
    };
    if message.get("method").and_then(Value::as_str) != Some("initialize") {
        return Ok(None);
    }
    let idle = sessions.idle_limit().as_secs() / 60;
    let (status, text, retry_after) = match sessions.reserve(key.id.clone()).await {
        Ok(opening) => return Ok(Some(opening)),
        Err(Full::Key { most, retry_after }) => {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "this API key already holds {most} MCP sessions, the most one key may: end \
                     those you no longer use (DELETE /mcp with their Mcp-Session-Id), or wait \
                     for one to end ({idle} minutes after it was last used): unless its client \
                     uses it again, one will have ended within {secs} seconds"
                ),
                Some(secs),
            )
        }
        Err(Full::All(most)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server already holds {most} MCP sessions, the most it keeps: end those \
                 you no longer use (DELETE /mcp with their Mcp-Session-Id), or try again once \
                 some have ended ({idle} minutes after they were last used)"
            ),
            None,
        ),
    };
    let mut refused = Refusal {
        status,
        id: message_id(message),
        code: MCP_TRANSPORT_ERROR,
        message: text,
    }
    .into_response();
    if let Some(secs) = retry_after {
        refused
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    Err(refused)
}

fn message_id(message: &Value) -> Value {
    message.get("id").cloned().unwrap_or(Value::Null)
}

/// A read-only key's refused MCP request. A single tool call is answered as a tool error, which
/// MCP clients hand to the model ("this key is read-only", so it stops trying); an HTTP 403
/// reaches the model, if at all, as "the server returned an error". Anything else is a 403
/// with a JSON-RPC error, as `/mcp` refuses what it does not take.
fn refuse_mcp(message: &Value, protocol: Option<String>, capped: Option<&RoleCapped>) -> Response {
    let call = Some(message).and_then(|m| {
        let tool = m
            .pointer("/params/name")
            .and_then(Value::as_str)?
            .to_string();
        let is_call = m.get("method").and_then(Value::as_str) == Some("tools/call");
        Some((m.get("id")?.clone(), tool)).filter(|_| is_call)
    });
    let Some((id, tool)) = call else {
        return Refusal {
            status: StatusCode::FORBIDDEN,
            id: message_id(message),
            code: MCP_TRANSPORT_ERROR,
            message: capped.map_or(forbidden().message, RoleCapped::why),
        }
        .into_response();
    };
    let text = match capped {
        Some(capped) => format!(
            "`{}` changes something; {}.",
            crate::quote::quoted(&tool),
            capped.why()
        ),
        None => format!(
            "`{}` changes something, and this API key is read-only: it may use list_* and get_* \
             tools, resources and prompts. Ask the server's owner for an admin key to make \
             changes.",
            crate::quote::quoted(&tool)
        ),
    };
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

/// What a `/mcp` POST body (one message or a batch) asks for. `None`, with `strict`, when an
/// object in it repeats a key, which parsers may read differently.
fn classify_mcp(body: &Parsed, strict: bool) -> Option<McpRequest> {
    if strict && body.repeats_a_key() {
        return None;
    }
    let messages = match &body.value {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let mut out = McpRequest {
        read_only: true,
        changes: Vec::new(),
    };
    for message in messages {
        out.read_only &= message_is_read_only(message);
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
        // One the server does not serve changes nothing: rmcp answers it `-32601`, as it
        // does for any key.
        Some(Value::String(method)) => {
            method_is_read_only(method, object.get("params")) || !is_served(method)
        }
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
        | "completion/complete"
        | "subscriptions/listen" => true,
        "tools/call" => params
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .is_some_and(|name| is_read_tool(name) || !crate::mcp::is_tool(name)),
        m => m.starts_with("notifications/"),
    }
}

/// Whether the MCP server answers `method` with more than `-32601 Method not found`: the
/// read-only methods and `tools/call`, the one that may change something.
fn is_served(method: &str) -> bool {
    method == "tools/call" || method_is_read_only(method, None)
}

/// The call, when `message` calls a tool that may change something.
fn changing_tool_call(message: &Value) -> Option<ToolCall> {
    if message.get("method").and_then(Value::as_str) != Some("tools/call") {
        return None;
    }
    let params = message.get("params").filter(|p| p.is_object());
    let tool = params
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("(unnamed tool)")
        .to_string();
    if is_read_tool(&tool) || !crate::mcp::is_tool(&tool) {
        return None;
    }
    Some(ToolCall {
        tool,
        arguments: params
            .and_then(|p| p.get("arguments"))
            .cloned()
            .unwrap_or(Value::Null),
    })
}

/// The body as it is read and passed on to rmcp: without a leading UTF-8 byte-order mark,
/// which some Windows tools write before JSON, and with each unpaired surrogate escape
/// (`\uD83D`, a string cut inside an emoji) written `\uFFFD` ([`crate::lone_surrogates`]):
/// `/api`, the receiver and stdio read both so, and so does `/mcp`.
fn as_read(
    request: axum::extract::Request,
    bytes: axum::body::Bytes,
) -> (axum::extract::Request, axum::body::Bytes) {
    let marked = bytes.starts_with(b"\xEF\xBB\xBF");
    let unmarked = if marked { &bytes[3..] } else { &bytes[..] };
    let mended = match crate::lone_surrogates::mended(unmarked) {
        std::borrow::Cow::Owned(mended) => Some(mended),
        std::borrow::Cow::Borrowed(_) => None,
    };
    let bytes = match (mended, marked) {
        (Some(mended), _) => axum::body::Bytes::from(mended),
        (None, true) => bytes.slice(3..),
        (None, false) => return (request, bytes),
    };
    let (mut parts, _) = request.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let body = axum::body::Body::from(bytes.clone());
    (axum::extract::Request::from_parts(parts, body), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(body: &[u8]) -> Parsed {
        Parsed::read(body).expect("JSON")
    }

    fn classify(body: Value) -> McpRequest {
        classify_mcp(&read(body.to_string().as_bytes()), true).expect("JSON-RPC")
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
            "completion/complete",
        ] {
            assert!(method_is_read_only(method, None), "{method} only reads");
        }
        for method in [
            "tools/call",
            "logging/setLevel",
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
            "get_task",
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
            "cancel_task",
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
        let repeated = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"list_webhooks","name":"create_webhook"}}"#;
        assert_eq!(classify_mcp(&read(repeated), true), None);
        assert!(classify_mcp(&read(repeated), false).is_some());
        assert!(!classify(json!("tools/list")).read_only);
        assert!(!classify(json!({"jsonrpc": "2.0", "id": 1, "method": 5})).read_only);
        assert!(!classify(json!({"jsonrpc": "2.0", "id": 1})).read_only);
    }
}
