//! Front check of a POST to `/mcp`, after the key and before rmcp (and of each stdio line,
//! see `mcp::stdio`): a body that is not one well-formed JSON-RPC message gets a JSON-RPC
//! error a client can read (rmcp answers those with `415` and a plain-text line), and the
//! commonest malformed calls get `-32602 Invalid params` naming the parameter (rmcp reports
//! them as `-32601 Method not found`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

mod read;
pub use read::Parsed;
use read::Repeated;

const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const INVALID_PARAMS: i64 = -32602;

/// Why a body was refused, and the answer: a JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: StatusCode,
    pub id: Value,
    pub code: i64,
    pub message: String,
}

impl Refusal {
    /// The JSON-RPC error message itself, as HTTP sends it as its body and stdio as a line.
    pub fn message(&self) -> Value {
        json!({"jsonrpc": "2.0", "id": self.id,
               "error": {"code": self.code, "message": self.message}})
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.message())).into_response()
    }
}

/// The body read once, when it is one JSON-RPC message rmcp can take (the checks after this
/// one look into it); otherwise the answer to send.
pub fn check(body: &[u8]) -> Result<Parsed, Refusal> {
    let parsed =
        Parsed::read(body).map_err(|e| bad_request(PARSE_ERROR, format!("Parse error: {e}")))?;
    match refusal(&parsed) {
        Some(refused) => Err(refused),
        None => Ok(parsed),
    }
}

fn refusal(parsed: &Parsed) -> Option<Refusal> {
    // A key given twice is read by rmcp as nothing it knows (a plain-text 415), and by
    // `Value` as its last copy: which one was meant is the sender's to say. Twice in the
    // envelope, the message itself is unreadable; twice in `params`, the request is readable
    // and only its params are wrong.
    let twice_in_params = match &parsed.repeated {
        None => None,
        Some(Repeated::Params(twice)) => Some(twice.clone()),
        Some(Repeated::Message(twice)) => {
            return Some(bad_request(
                INVALID_REQUEST,
                format!("Invalid Request: {twice}"),
            ));
        }
    };
    let message = match &parsed.value {
        Value::Object(message) => message,
        Value::Array(_) => {
            return Some(bad_request(
                INVALID_REQUEST,
                "Invalid Request: batches are not supported; send one JSON-RPC message per \
                 request"
                    .into(),
            ));
        }
        _ => {
            return Some(bad_request(
                INVALID_REQUEST,
                "Invalid Request: the body must be a JSON-RPC message object".into(),
            ));
        }
    };
    // A response to a request of the server's (its id may be null, on an error): rmcp's.
    if !message.contains_key("method")
        && (message.contains_key("result") || message.contains_key("error"))
    {
        return None;
    }
    let Some(id) = message.get("id").filter(|id| !id.is_null()).cloned() else {
        // A notification gets no answer when it is one; anything else without an id is
        // told, with a null id, what it lacks (rmcp answers it with a plain-text 415).
        let wrong = if message.contains_key("id") {
            Some("`id` must be a string or a (64-bit signed) integer, not null".to_string())
        } else if message.get("jsonrpc") != Some(&json!("2.0")) {
            Some("`jsonrpc` must be \"2.0\"".to_string())
        } else if !message.get("method").is_some_and(Value::is_string) {
            Some("a message needs a string `method` (a request also an `id`)".to_string())
        } else if let Some(method) = message
            .get("method")
            .and_then(Value::as_str)
            .filter(|method| !method.starts_with("notifications/"))
        {
            // Without an id the message is a notification, which rmcp takes for a custom one
            // and drops, answered `202` as if it had run: a `tools/call` so sent is never made
            // and nothing says so. MCP's notifications are all `notifications/...`.
            Some(format!(
                "`{}` is a request and needs an `id` (a string or a whole number) to be run \
                 and answered; only `notifications/...` messages go without one",
                crate::quote::quoted(method)
            ))
        } else {
            twice_in_params
        };
        return wrong.map(|e| bad_request(INVALID_REQUEST, format!("Invalid Request: {e}")));
    };
    // rmcp reads ids as strings or signed 64-bit integers.
    if !(id.is_string() || id.is_i64()) {
        return Some(bad_request(
            INVALID_REQUEST,
            "Invalid Request: `id` must be a string or a (64-bit signed) integer".into(),
        ));
    }
    let invalid = |text: &str| {
        Some(Refusal {
            status: StatusCode::BAD_REQUEST,
            id: id.clone(),
            code: INVALID_REQUEST,
            message: format!("Invalid Request: {text}"),
        })
    };
    if message.get("jsonrpc") != Some(&json!("2.0")) {
        return invalid("`jsonrpc` must be \"2.0\"");
    }
    let method = match message.get("method") {
        Some(Value::String(method)) => method.as_str(),
        Some(_) => return invalid("`method` must be a string"),
        None => return invalid("a request needs a `method`"),
    };
    let params = match message.get("params") {
        None | Some(Value::Null) => None,
        Some(Value::Object(params)) => Some(params),
        Some(_) => return invalid("`params` must be an object"),
    };
    twice_in_params
        .or_else(|| bad_params(method, params))
        .map(|message| Refusal {
            // An answer to a well-formed request, as rmcp sends its own errors.
            status: StatusCode::OK,
            id,
            code: INVALID_PARAMS,
            message: format!("Invalid params: {message}"),
        })
}

/// What is wrong with the params of the methods a model's client calls most.
fn bad_params(method: &str, params: Option<&Map<String, Value>>) -> Option<String> {
    let field = |name: &str| params.and_then(|p| p.get(name));
    let required_string = |name: &str| match field(name) {
        Some(Value::String(_)) => None,
        Some(_) => Some(format!("`params.{name}` must be a string")),
        None => Some(format!("`{method}` needs `params.{name}`")),
    };
    let required_object = |name: &str| match field(name) {
        Some(Value::Object(_)) => None,
        Some(_) => Some(format!("`params.{name}` must be an object")),
        None => Some(format!("`{method}` needs `params.{name}`")),
    };
    let optional_object = |name: &str| match field(name) {
        None | Some(Value::Object(_)) | Some(Value::Null) => None,
        Some(_) => Some(format!("`params.{name}` must be an object")),
    };
    if let Some(wrong) = optional_object("_meta") {
        return Some(wrong);
    }
    // A prompt's arguments are text, each named (rmcp's own refusal names none of them).
    let text_arguments = || match field("arguments") {
        Some(Value::Object(arguments)) => arguments
            .iter()
            .find(|(_, value)| !value.is_string())
            .map(|(name, _)| {
                format!(
                    "`params.arguments.{}` must be a string: a prompt's arguments are text",
                    crate::quote::quoted(name)
                )
            }),
        _ => None,
    };
    match method {
        "tools/call" => required_string("name").or_else(|| optional_object("arguments")),
        "prompts/get" => required_string("name")
            .or_else(|| optional_object("arguments"))
            .or_else(text_arguments),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            required_string("uri")
        }
        "initialize" => required_string("protocolVersion")
            .or_else(|| required_object("capabilities"))
            .or_else(|| required_object("clientInfo")),
        _ => None,
    }
}

fn bad_request(code: i64, message: String) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        id: Value::Null,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_bodies_get_the_json_rpc_error_that_fits() {
        /// HTTP status, JSON-RPC code, and a part of the message.
        type Expected = Option<(u16, i64, &'static str)>;
        let cases: [(&str, Expected); 43] = [
            (
                r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"list_webhooks"}}"#,
                Some((
                    400,
                    INVALID_REQUEST,
                    "`tools/call` is a request and needs an `id`",
                )),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"tools/list"}"#,
                Some((400, INVALID_REQUEST, "needs an `id`")),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#,
                Some((400, INVALID_REQUEST, "key `id` appears twice")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#,
                Some((200, INVALID_PARAMS, "key `name` appears twice")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":[{"k":1,"k":2}]}}}"#,
                Some((200, INVALID_PARAMS, "key `k` appears twice")),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/x","params":{"a":1,"a":2}}"#,
                Some((400, INVALID_REQUEST, "key `a` appears twice")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{},"x":{"b":1,"b":2}}"#,
                Some((400, INVALID_REQUEST, "key `b` appears twice")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{},"params":{}}"#,
                Some((400, INVALID_REQUEST, "key `params` appears twice")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":1,"a":2},"id":2}"#,
                Some((400, INVALID_REQUEST, "key `id` appears twice")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
                Some((200, INVALID_PARAMS, "`params.protocolVersion`")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"t":"\"\u00e9\"","list":[{"a":1},{"a":2}]}}}"#,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":null}"#,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/initialized","params":null}"#,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/x","params":[1]}"#,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"no"}}"#,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"ping"}"#,
                Some((400, INVALID_REQUEST, "`id`")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":"x"}}"#,
                Some((200, INVALID_PARAMS, "`params._meta`")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p","arguments":[1]}}"#,
                Some((200, INVALID_PARAMS, "`params.arguments`")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p","arguments":{"a":"x","event_id":5}}}"#,
                Some((
                    200,
                    INVALID_PARAMS,
                    "`params.arguments.event_id` must be a string",
                )),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p","arguments":{"a":"x"}}}"#,
                None,
            ),
            (r#"{"jsonrpc":"#, Some((400, PARSE_ERROR, "Parse error"))),
            ("", Some((400, PARSE_ERROR, "Parse error"))),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping"} x"#,
                Some((400, PARSE_ERROR, "trailing")),
            ),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                Some((400, INVALID_REQUEST, "batches")),
            ),
            ("5", Some((400, INVALID_REQUEST, "message object"))),
            (
                r#"{"id":1,"method":"ping"}"#,
                Some((400, INVALID_REQUEST, "`jsonrpc`")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
                Some((400, INVALID_REQUEST, "`method`")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
                Some((400, INVALID_REQUEST, "`id`")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#,
                Some((400, INVALID_REQUEST, "`params`")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#,
                Some((200, INVALID_PARAMS, "`params.name`")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":[1]}}"#,
                Some((200, INVALID_PARAMS, "`params.arguments`")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"r","method":"resources/read","params":{}}"#,
                Some((200, INVALID_PARAMS, "`params.uri`")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
                None,
            ),
            (r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, None),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                None,
            ),
            (r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, None),
            (r#"{}"#, Some((400, INVALID_REQUEST, "`jsonrpc`"))),
            (
                r#"{"jsonrpc":"2.0","method":7}"#,
                Some((400, INVALID_REQUEST, "`method`")),
            ),
            (
                r#"{"method":"ping"}"#,
                Some((400, INVALID_REQUEST, "`jsonrpc`")),
            ),
            (
                r#"{"jsonrpc":"1.0","method":"notifications/initialized"}"#,
                Some((400, INVALID_REQUEST, "`jsonrpc`")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                Some((400, INVALID_REQUEST, "`id`")),
            ),
            (
                r#"{"jsonrpc":"2.0"}"#,
                Some((400, INVALID_REQUEST, "`method`")),
            ),
        ];
        for (body, expected) in cases {
            let got = check(body.as_bytes())
                .err()
                .map(|r| (r.status.as_u16(), r.code, r.message));
            match (got, expected) {
                (None, None) => {}
                (Some((status, code, message)), Some((want_status, want_code, part))) => {
                    assert_eq!(
                        (status, code),
                        (want_status, want_code),
                        "{body}: {message}"
                    );
                    assert!(message.contains(part), "{body}: {message}");
                }
                (got, _) => panic!("{body}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn a_refusal_keeps_the_request_id() {
        let refusal = check(br#"{"jsonrpc":"2.0","id":"abc","method":"prompts/get","params":{}}"#)
            .expect_err("refused");
        assert_eq!(refusal.id, json!("abc"));
    }
}
