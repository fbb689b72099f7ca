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
use tracing::Instrument as _;

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

/// Set by a handler on its response to record what it changed in place of the request's
/// body (e.g. a key's name and scope when it is revoked, which has no body): the audit
/// entry's detail.
#[derive(Debug, Clone)]
pub struct AuditDetail(pub Value);

pub async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = if state.config.no_auth {
        let allowed = state.config.mcp_allowed_hosts().unwrap_or_default();
        if let Some(refused) = super::local_only::refusal(request.headers(), &allowed) {
            let refused = ApiError::new(StatusCode::FORBIDDEN, "not_this_machine", refused);
            return Ok(refusal_on(request.uri().path(), refused));
        }
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
        // Two keys in one request are refused rather than one picked: which one a proxy or
        // client library meant is not for the server to guess.
        let twice = request
            .headers()
            .get_all(AUTHORIZATION)
            .iter()
            .nth(1)
            .is_some();
        let refusal = match presented.map(|k| state.api_keys.identify(k)) {
            _ if twice => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "the request has more than one `Authorization` header: send one, \
                 `Authorization: Bearer <key>`",
            )),
            Some(Some(key)) => Ok(key),
            Some(None) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                not_valid(&state, presented.unwrap_or_default()),
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
    let user = forwarded_user::of(
        request.headers(),
        state.config.openwebui_user_jwt_secret.as_deref(),
    );
    let mut key = key;
    let claimed = forwarded_user::claims_a_user(request.headers());
    let write_roles = &state.config.openwebui_write_roles;
    // Only an admin key is cut down: a read key's refusals keep saying it is the key.
    let capped = (key.scope == Scope::Admin)
        .then(|| capped_role(write_roles, user.as_ref(), claimed))
        .flatten();
    if let Some(role) = capped {
        // Open WebUI connects every user with one key: the user's role, not the key, says
        // whether this request may change anything.
        key.scope = Scope::Read;
        // A user named but not read (an expired token, say): the refusal says why, as the
        // caller (an admin, maybe) could otherwise only guess.
        let unread = user.is_none().then(|| {
            forwarded_user::why_unnamed(
                request.headers(),
                state.config.openwebui_user_jwt_secret.as_deref(),
            )
        });
        request.extensions_mut().insert(RoleCapped {
            role,
            unread: unread.flatten(),
        });
    }
    request.extensions_mut().insert(key.clone());
    if let Some(user) = &user {
        // The request's span (see `http::router`) names whom the change is made for.
        tracing::Span::current().record("user", user.id.as_str());
        request.extensions_mut().insert::<AuditUser>(user.clone());
    }
    let chat = forwarded_user::chat(request.headers());
    request.extensions_mut().insert::<AuditChat>(chat.clone());

    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let sends_body = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if let Some(refused) = super::receiver::encoded(request.headers()).filter(|_| sends_body) {
        super::buffer::discard(request, API_MAX_BODY_BYTES, body_timeout(&state)).await;
        return Ok(refusal_on(&path, refused));
    }
    if is_mcp_path(&path) {
        // The MCP gate checks what an `/mcp` POST asks for, inside the session check: a
        // session belongs to its key before anything in the body matters.
        return Ok(next.run(request).await);
    }

    let capped = request.extensions().get::<RoleCapped>().cloned();
    // An OPTIONS changes nothing either (no route answers it but with a 405 naming those that
    // do): a read key asking it is told that, not that it may only read.
    let reads_only = matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if reads_only {
        return if api_allows(key.scope, &method, &path) {
            Ok(next.run(request).await)
        } else {
            Err(forbidden_on(&path, capped.as_ref()))
        };
    }
    let (request, bytes) = buffer(request, API_MAX_BODY_BYTES, body_timeout(&state)).await?;
    if !state.api_keys.holds(key.id.as_deref()) {
        return Ok(unauthorized(revoked_meanwhile(), &request));
    }
    // The change and its audit entry run on a task of their own: a client that hangs up drops
    // this future, and the change, handed to the store already, would otherwise be made with
    // no entry saying who made it. (A request timeout, inside, answers 408 and is recorded so,
    // though the change may have been stored.)
    // The entry as known before the change runs: its first write reserves the entry's place.
    let head = AuditEntry {
        actor: key.name.clone(),
        action: format!("{method} {path}"),
        target: Some(path.clone()),
        status: None,
        detail: None,
        outcome: Outcome::Ok,
        user,
        chat,
    };
    let changed = tokio::spawn(
        async move {
            audit::audited(&head, async {
                let response = if api_allows(key.scope, &method, &path) {
                    next.run(request).await
                } else {
                    forbidden_on(&path, capped.as_ref()).into_response()
                };
                let status = response.status().as_u16();
                let target = response
                    .extensions()
                    .get::<AuditTarget>()
                    .map(|t| t.0.clone());
                let entry = AuditEntry {
                    target: target.or_else(|| head.target.clone()),
                    status: Some(status),
                    detail: match response.extensions().get::<AuditDetail>() {
                        Some(detail) => Some(detail.0.clone()),
                        None => {
                            serde_json::from_slice::<Value>(&crate::lone_surrogates::mended(&bytes))
                                .ok()
                        }
                    },
                    outcome: match response.extensions().get::<super::error::ErrorMessage>() {
                        Some(why) if status >= 400 => {
                            Outcome::Error(format!("HTTP {status}: {}", why.0))
                        }
                        // A route's 405 gets its message, and its `Allow`, outside this layer
                        // (see `error::json_errors`): the entry says why all the same.
                        None if status == StatusCode::METHOD_NOT_ALLOWED.as_u16() => {
                            Outcome::Error(format!(
                                "HTTP {status}: method not allowed: `{}` does not take {method}",
                                crate::quote::quoted(&path),
                            ))
                        }
                        _ => Outcome::of_status(status),
                    },
                    ..head.clone()
                };
                audit::record(&state, entry).await;
                response
            })
            .await
        }
        .instrument(tracing::Span::current()),
    );
    match changed.await {
        Ok(response) => Ok(response),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(ApiError::internal()),
    }
}

/// The refusal of a request whose key was revoked while its body was still coming: the key is
/// checked on the headers, and a body may take the request timeout to arrive, but a revoked
/// key changes nothing from the moment it is revoked.
pub(super) fn revoked_meanwhile() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
        "the API key was revoked while the request was being sent",
    )
}

/// Why a key presented is not valid: revoked (said with its name and when, so its holder asks
/// for a new key rather than looking for a typo), or no key at all.
fn not_valid(state: &AppState, presented: &str) -> String {
    match state.api_keys.revoked_as(presented) {
        Some((name, at)) => format!(
            "the API key `{}` was revoked at {}: ask whoever manages this server's keys for a \
             new one (POST /api/keys makes one)",
            crate::quote::quoted(&name),
            crate::clock::rfc3339(at)
        ),
        None => "the API key is not valid".to_string(),
    }
}

/// A request without a valid key, answered in the form its client reads: an MCP client shows
/// the message of a JSON-RPC error only (an error of another shape is "the server returned an
/// error"). The challenge header is what RFC 9110 asks of every 401.
pub(super) fn unauthorized(refused: ApiError, request: &Request) -> Response {
    let mut response = refusal_on(request.uri().path(), refused);
    response.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    response
}

/// A refusal as the client at `path` reads one: a JSON-RPC error on `/mcp`.
fn refusal_on(path: &str, refused: ApiError) -> Response {
    if is_mcp_path(path) {
        refused.for_mcp()
    } else {
        refused.into_response()
    }
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
            matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) && !is_keys_path(path)
        }
    }
}

/// The Open WebUI role (`(none)` when the user has none, `(unknown)` when the request names a
/// user that could not be read: a token expired part way through a long chat turn, say) that
/// makes a request read-only under `WEBHOOK_MCP_OPENWEBUI_WRITE_ROLES`: one for a user whose
/// role is not in `write_roles`. Only a request naming no one at all keeps its key's scope.
fn capped_role(write_roles: &[String], user: Option<&AuditUser>, claimed: bool) -> Option<String> {
    // Blank entries (`WEBHOOK_MCP_OPENWEBUI_WRITE_ROLES=` left empty) name no role.
    let write_roles: Vec<&str> = write_roles
        .iter()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .collect();
    if write_roles.is_empty() {
        return None;
    }
    let Some(user) = user else {
        return claimed.then(|| "(unknown)".to_string());
    };
    // A user with no role may not write, whatever the list holds.
    match user.role.as_deref() {
        Some(role) if write_roles.contains(&role) => None,
        Some(role) => Some(role.to_string()),
        None => Some("(none)".to_string()),
    }
}

/// In a request's extensions: its key's scope was cut to read-only for the Open WebUI user's
/// role, which the refusals name.
#[derive(Debug, Clone)]
pub struct RoleCapped {
    pub role: String,
    /// Why the user named could not be read, when that is why the role is `(unknown)`
    /// ([`forwarded_user::why_unnamed`]).
    pub unread: Option<String>,
}

impl RoleCapped {
    /// Why a change is refused, for the caller (or its model) to act on.
    pub fn why(&self) -> String {
        let role = crate::quote::quoted(&self.role);
        match &self.unread {
            // An admin among them: "ask an admin" would not help.
            Some(unread) => format!(
                "changes through Open WebUI are for the roles in \
                 WEBHOOK_MCP_OPENWEBUI_WRITE_ROLES, and this user's role is `{role}`, as the \
                 user could not be read: {unread}; until then only list_* and get_* work"
            ),
            None => format!(
                "changes through Open WebUI are for the roles in \
                 WEBHOOK_MCP_OPENWEBUI_WRITE_ROLES, and this user's role is `{role}`: only \
                 list_* and get_* work; ask an admin"
            ),
        }
    }
}

/// The key routes are admin-only even to read: a list of keys is a map of who may do what.
fn is_keys_path(path: &str) -> bool {
    path == "/api/keys" || path.starts_with("/api/keys/")
}

/// A read-only key's refusal on the REST API, saying why this route is out of its reach.
fn forbidden_on(path: &str, capped: Option<&RoleCapped>) -> ApiError {
    if let Some(capped) = capped {
        let why = capped.why();
        let message = if is_keys_path(path) {
            format!("API keys are managed with an admin key only, and {why}")
        } else {
            why
        };
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    } else if is_keys_path(path) {
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
    fn a_user_whose_role_is_not_among_the_write_roles_is_capped() {
        let user = |role: Option<&str>| AuditUser {
            id: "u".into(),
            name: None,
            email: None,
            role: role.map(str::to_string),
            verified: false,
        };
        let admin_only = vec!["admin".to_string()];
        // (write roles, the request's user, whether it names one at all, the role it is
        // capped for)
        let cases = [
            (vec![], Some(user(Some("user"))), true, None),
            (vec![], None, true, None),
            (vec![String::new()], Some(user(Some("user"))), true, None),
            (
                vec![" ".into(), "admin".into()],
                Some(user(Some("admin"))),
                true,
                None,
            ),
            (admin_only.clone(), None, false, None),
            (admin_only.clone(), None, true, Some("(unknown)")),
            (admin_only.clone(), Some(user(Some("admin"))), true, None),
            (
                admin_only.clone(),
                Some(user(Some("user"))),
                true,
                Some("user"),
            ),
            (
                admin_only.clone(),
                Some(user(Some("Admin"))),
                true,
                Some("Admin"),
            ),
            (admin_only.clone(), Some(user(None)), true, Some("(none)")),
            (
                vec!["(none)".into()],
                Some(user(None)),
                true,
                Some("(none)"),
            ),
            (
                vec![" admin".into(), "user ".into()],
                Some(user(Some("user"))),
                true,
                None,
            ),
        ];
        for (roles, user, claimed, capped) in cases {
            assert_eq!(
                capped_role(&roles, user.as_ref(), claimed).as_deref(),
                capped,
                "{roles:?} {user:?}"
            );
        }
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
