//! Bearer-key check for `/api` and `/mcp`, and the key's scope and the audit log for `/api`,
//! applied as one layer.
//!
//! - Every request needs a key (unless `--no-auth`); who it is goes into the request's
//!   extensions as a [`KeyInfo`], with the Open WebUI user it is used for, when the request
//!   names one ([`forwarded_user`], an [`AuditUser`]), and the chat it came from (an
//!   [`AuditChat`]), for the audit log.
//! - A `read` key may use GET (and HEAD) on `/api` except `/api/keys`; anything else is
//!   answered 403. What a key may send to `/mcp` is the MCP gate's to judge
//!   ([`super::mcp_gate`]), after the session check.
//! - After the handler ran, every non-GET `/api` request is written to the audit log
//!   (secrets masked); refused attempts too.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::body_limit::API_MAX_BODY_BYTES;
use super::buffer::buffer;
use super::error::ApiError;
use super::forwarded_user;
use crate::app::AppState;
use crate::service::audit::{self, AuditChat, AuditEntry, AuditUser, Outcome};
use crate::service::auth::{KeyInfo, Scope};

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
        let refusal = match presented.map(|k| state.api_keys.identify(k)) {
            Some(Some(key)) => Ok(key),
            Some(None) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "the API key is not valid",
            )),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_api_key",
                "send the API key as `Authorization: Bearer <key>` (WEBHOOK_MCP_API_KEY, \
                 or the key printed on first start)",
            )),
        };
        match refusal {
            Ok(key) => key,
            Err(refused) => return Ok(unauthorized(refused, &request)),
        }
    };
    state.api_keys.touch(&state.store, &key);
    request.extensions_mut().insert(key.clone());
    let user = forwarded_user::of(
        request.headers(),
        state.config.openwebui_user_jwt_secret.as_deref(),
    );
    if let Some(user) = &user {
        // The request's span (see `http::router`) names whom the change is made for.
        tracing::Span::current().record("user", user.id.as_str());
        request.extensions_mut().insert::<AuditUser>(user.clone());
    }
    let chat = forwarded_user::chat(request.headers());
    request.extensions_mut().insert::<AuditChat>(chat.clone());

    let method = request.method().clone();
    let path = request.uri().path().to_string();
    if is_mcp_path(&path) {
        // The MCP gate checks what an `/mcp` POST asks for, inside the session check: a
        // session belongs to its key before anything in the body matters.
        return Ok(next.run(request).await);
    }

    let reads_only = method == Method::GET || method == Method::HEAD;
    if reads_only {
        return if api_allows(key.scope, &method, &path) {
            Ok(next.run(request).await)
        } else {
            Err(forbidden_on(&path))
        };
    }
    let (request, bytes) = buffer(request, API_MAX_BODY_BYTES, body_timeout(&state)).await?;
    let response = if api_allows(key.scope, &method, &path) {
        next.run(request).await
    } else {
        forbidden_on(&path).into_response()
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
            user,
            chat,
        },
    )
    .await;
    Ok(response)
}

/// A request without a valid key, answered in the form its client reads: an MCP client shows
/// the message of a JSON-RPC error only (an error of another shape is "the server returned an
/// error"). The challenge header is what RFC 9110 asks of every 401.
fn unauthorized(refused: ApiError, request: &Request) -> Response {
    let mut response = if is_mcp_path(request.uri().path()) {
        refused.for_mcp()
    } else {
        refused.into_response()
    };
    response.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    response
}

/// `/mcp` and anything under it.
pub(super) fn is_mcp_path(path: &str) -> bool {
    path == "/mcp" || path.starts_with("/mcp/")
}

/// Whether a key of `scope` may send `method` to the `/api` path `path`.
fn api_allows(scope: Scope, method: &Method, path: &str) -> bool {
    match scope {
        Scope::Admin => true,
        Scope::Read => (method == Method::GET || method == Method::HEAD) && !is_keys_path(path),
    }
}

/// The key routes are admin-only even to read: a list of keys is a map of who may do what.
fn is_keys_path(path: &str) -> bool {
    path == "/api/keys" || path.starts_with("/api/keys/")
}

/// A read-only key's refusal on the REST API, saying why this route is out of its reach.
fn forbidden_on(path: &str) -> ApiError {
    if is_keys_path(path) {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "API keys are listed and managed with an admin key only, even to read; this API key \
             is read-only",
        )
    } else {
        forbidden()
    }
}

pub(super) fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "this API key is read-only",
    )
}

/// How long a client may take to send a body this layer or the MCP gate reads: both sit outside
/// the request timeout (which leaves MCP's long-lived streams alone), so they apply the same
/// bound.
pub(super) fn body_timeout(state: &AppState) -> std::time::Duration {
    std::time::Duration::from_secs(state.config.request_timeout_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

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
