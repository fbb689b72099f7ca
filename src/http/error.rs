//! `ApiError`: the one place errors become HTTP statuses and the JSON error body
//! `{"error": {"code", "message", "field"?}}`. Client errors say what to fix; server errors
//! are logged here once and answered with a generic message.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::service::ServiceError;
use crate::store::StoreError;

/// Requests refused for storage trouble are logged once in a while, with how many there were,
/// not each: a full disk refusing a flood of deliveries would otherwise fill the log (often
/// kept on the same disk) as fast as they come.
static STORAGE_TROUBLE: Mutex<crate::telemetry::Throttle> =
    Mutex::new(crate::telemetry::Throttle::every(Duration::from_secs(10)));

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds the client should wait before trying again (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The same refusal as an MCP client reads one on `/mcp`: a JSON-RPC error without an id
    /// (the request's is not known), at the same status. The SDKs show its message, where an
    /// error of ours in another shape is only "the server returned an error".
    pub fn for_mcp(self) -> Response {
        let error = json!({"jsonrpc": "2.0", "id": null,
                           "error": {"code": MCP_TRANSPORT_ERROR, "message": self.message}});
        (self.status, Json(error)).into_response()
    }

    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; the error is in the server log",
        )
    }
}

/// An error answer's message, carried beside its body in the response's extensions.
#[derive(Debug, Clone)]
pub struct ErrorMessage(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        // For the audit log, which records why a change was refused.
        response
            .extensions_mut()
            .insert(ErrorMessage(self.message.clone()));
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert("retry-after", secs.into());
        }
        response
    }
}

/// JSON-RPC's code for a server error of its own (the range -32000 to -32099), which the MCP
/// SDKs use for transport refusals.
pub(crate) const MCP_TRANSPORT_ERROR: i64 = -32000;

/// Errors that axum and tower answer on their own (a path that is not valid UTF-8, a method
/// a route does not take, a request past its time) come as plain text or as nothing. Every
/// other error here is JSON, so those are rewritten to the same shape, keeping `Allow` and
/// `Retry-After`. On `/mcp` the MCP transport's own plain-text refusals (a wrong method,
/// `Accept` or content type, an unknown session) become JSON-RPC errors without an id, as
/// the MCP spec allows and the reference SDKs answer, so a client can show why.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let is_mcp = super::auth::is_mcp_path(request.uri().path());
    // A `Uri` clone shares its bytes: nothing is copied on the way of a request that succeeds.
    let asked = (request.method().clone(), request.uri().clone());
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let allowed = (parts.headers.get(ALLOW))
        .and_then(|v| v.to_str().ok())
        .filter(|allow| !allow.trim().is_empty());
    let message = match allowed {
        // The methods the route takes, said in the body too: a model, or a client that shows
        // only the message, never sees the `Allow` header.
        Some(allow) if status == StatusCode::METHOD_NOT_ALLOWED => {
            let (method, uri) = &asked;
            let path = uri.path();
            let allow: Vec<&str> = allow.split(',').map(str::trim).collect();
            format!(
                "method not allowed: `{}` takes {}, not {method}",
                crate::quote::quoted(path),
                allow.join(", ")
            )
        }
        // The time limit's own answer: said as what to change, as the `/api` body's is.
        _ if text.is_empty() && status == StatusCode::REQUEST_TIMEOUT => {
            "the request was not done within WEBHOOK_MCP_REQUEST_TIMEOUT_SECS: its body came \
             too slowly, or it took too long to answer"
                .to_string()
        }
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
        _ => text,
    };
    if is_mcp {
        let error = json!({"jsonrpc": "2.0", "id": null,
                           "error": {"code": MCP_TRANSPORT_ERROR, "message": message}});
        return with_headers_of(&parts, (status, Json(error)).into_response());
    }
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable_entity",
        s if s.is_server_error() => "internal_error",
        _ => "bad_request",
    };
    with_headers_of(&parts, ApiError::new(status, code, message).into_response())
}

/// A rewritten error keeps what the original told the client to do next.
fn with_headers_of(original: &axum::http::response::Parts, mut rewritten: Response) -> Response {
    for name in [ALLOW, RETRY_AFTER] {
        if let Some(value) = original.headers.get(&name) {
            rewritten.headers_mut().insert(name, value.clone());
        }
    }
    rewritten
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid { field, message } => ApiError {
                status: StatusCode::BAD_REQUEST,
                code: "invalid_field",
                message,
                field,
                retry_after: None,
            },
            ServiceError::Missing(field) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "missing_field",
                format!("missing field `{field}`"),
            )
            .with_field(field),
            ServiceError::NotFound { what, ref id } => {
                let code = match what {
                    "webhook" => "webhook_not_found",
                    "command" => "command_not_found",
                    "event" => "event_not_found",
                    "task" => "task_not_found",
                    "action" => "action_not_found",
                    "API key" => "key_not_found",
                    _ => "not_found",
                };
                let message = crate::service::not_found(what, id, crate::service::Door::Rest);
                ApiError::new(StatusCode::NOT_FOUND, code, message)
            }
            ServiceError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            ServiceError::ConflictOn { field, message } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message).with_field(field)
            }
            ServiceError::Store(StoreError::Closed) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down; retry shortly",
            ),
            // Senders retry a 503; by then an operator may have restarted the server.
            // What the request changed is kept: no Retry-After, which asks to send it again.
            ServiceError::Store(StoreError::Unavailable(reason))
                if reason.contains(crate::store::KEPT_AT_STOP) =>
            {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    format!("the server cannot save anything more: {reason}"),
                )
            }
            ServiceError::Store(StoreError::Unavailable(reason)) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                format!("the server cannot save anything right now: {reason}"),
            )
            .with_retry_after(60),
            ServiceError::Store(StoreError::Sqlite(e))
                if crate::store::cannot_write(&e).is_some() =>
            {
                let why = crate::store::cannot_write(&e).unwrap_or_default();
                let noted = STORAGE_TROUBLE
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .note(Instant::now());
                if let Some(refused) = noted {
                    tracing::error!(error = %e, refused, "{why}; requests are answered 503");
                }
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    format!("the server cannot save anything right now: {why}"),
                )
                .with_retry_after(60)
            }
            // Damaged (a disk fault, a file copied while written): every write and read of
            // it may fail until an operator restores it, so senders are told to come back.
            ServiceError::Store(StoreError::Sqlite(e))
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
                ) =>
            {
                tracing::error!(error = %e, "the database file is damaged; restore it from a backup");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the server cannot save anything right now: its database file is damaged",
                )
                .with_retry_after(60)
            }
            ServiceError::Store(e) => {
                tracing::error!(error = %e, "store error");
                ApiError::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_that_cannot_write_for_now_is_a_503_senders_retry() {
        let failure = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        for (code, status) in [
            (rusqlite::ffi::SQLITE_FULL, StatusCode::SERVICE_UNAVAILABLE),
            (
                rusqlite::ffi::SQLITE_READONLY,
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (rusqlite::ffi::SQLITE_BUSY, StatusCode::SERVICE_UNAVAILABLE),
            (
                rusqlite::ffi::SQLITE_LOCKED,
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            // Damaged: senders come back once an operator has restored it.
            (
                rusqlite::ffi::SQLITE_CORRUPT,
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                rusqlite::ffi::SQLITE_NOTADB,
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                rusqlite::ffi::SQLITE_MISMATCH,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ] {
            let error = ApiError::from(ServiceError::Store(StoreError::Sqlite(failure(code))));
            assert_eq!(error.status, status, "{code}");
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert_eq!(error.code, "storage_unavailable");
                assert_eq!(error.retry_after, Some(60));
            }
        }
    }
}
