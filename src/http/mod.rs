//! The HTTP listener's router: the receiver (open, verified per request), the REST API and
//! MCP at `/mcp` (both behind the API key), health and the dashboard's files.

pub mod api;
pub mod auth;
pub mod body_limit;
mod buffer;
pub mod dashboard;
pub mod error;
pub mod extract;
mod forwarded_user;
pub mod jsonrpc;
mod local_only;
mod mcp_accept;
mod mcp_gate;
pub mod metrics;
pub mod receiver;
pub mod serve;
mod stall;
mod trace;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::mcp::{Hub, Sessions};
use error::ApiError;

pub fn router(
    state: AppState,
    hub: Arc<Hub>,
    sessions: Arc<Sessions>,
    shutdown: CancellationToken,
) -> Router {
    // `/mcp` alone (and with the `/` some registrations end in): a path under it is no MCP
    // endpoint, and a client sent there (the older HTTP+SSE transport's `/mcp/sse`) is told so.
    let service = crate::mcp::http_service(state.clone(), hub, &sessions, shutdown);
    let mcp = Router::new()
        .route_service("/mcp", service.clone())
        .route_service("/mcp/", service)
        .layer(middleware::from_fn(mcp_accept::lenient_accept))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            mcp_gate::check_mcp_post,
        ))
        // Inside the key check below, which names the key a session is bound to; outside the
        // gate, so a request on another key's session is turned away whatever it asks.
        .layer(middleware::from_fn_with_state(
            sessions,
            crate::mcp::sessions::bind_to_key,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            local_only::origin_check,
        ));
    // Slow clients get at most this long (MCP is left out: its streams are meant to last).
    let timeout = tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        std::time::Duration::from_secs(state.config.request_timeout_secs),
    );
    let protected = api::router()
        .route("/metrics", get(metrics::metrics))
        .layer(timeout)
        .merge(mcp)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_api_key,
        ));
    // Counted outside the time limit, so that a request past it is counted too.
    let receiver = receiver::router(state.config.max_body_bytes)
        .layer(timeout)
        .layer(middleware::from_fn_with_state(
            state.deliveries.clone(),
            receiver::count,
        ));
    let mut router = Router::new().merge(receiver).merge(protected);
    if state.config.bench_routes {
        // The benchmark's ceiling: same listener, same body limit, no verification or storage.
        router = router.route(
            "/bench/bare",
            axum::routing::post(|_body: axum::body::Bytes| async { StatusCode::OK }),
        );
    }
    let routes = router
        .route("/health", get(health))
        // Its files hold no data (the page asks `/api` with the key pasted into it): no key.
        .merge(dashboard::router())
        // mcp-remote looks for OAuth under the MCP URL's own path too: answered as the
        // other discovery URLs are, not with `/mcp`'s 401 for a missing key.
        .route("/mcp/.well-known/{*rest}", axum::routing::any(not_found))
        .fallback(not_found)
        .with_state(state);
    // Around the whole router, not each route (as a router's `layer` goes): a route adds a
    // 405's `Allow` after its layers have run, and the error's message names what it allows.
    Router::new()
        .fallback_service(routes)
        .layer(middleware::from_fn(error::json_errors))
        // The span names the path, never the query: Open WebUI and token-mode senders put
        // their secret in `?token=`, and debug logs must not carry it.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<axum::body::Body>| {
                    tracing::debug_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        // The Open WebUI user's id, once the key check has read it.
                        user = tracing::field::Empty,
                    )
                })
                .on_failure(trace::on_failure),
        )
}

/// 200 when the database answers a query and takes writes, 503 otherwise: the store has
/// stopped for good, or the last write could not be stored and none has been since. A chat API
/// that refuses the runner's key or a model is shown (`chat_api_paused`), not a 503: the
/// server works, and restarting it would not fix a key.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let store = &state.store;
    if let Some(reason) = (store.failure())
        .or_else(|| store.writer_stopped())
        .or_else(|| store.trouble_looked_at())
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "error", "database": reason})),
        );
    }
    let probe = state
        .store
        .read(|db| Ok(db.query_row("SELECT COUNT(*) FROM webhooks", [], |r| r.get::<_, i64>(0))?))
        .await;
    match probe {
        Ok(webhooks) => {
            let mut health = json!({
                "status": "ok",
                "database": "ok",
                "webhooks": webhooks,
                "schema_version": crate::store::SCHEMA_VERSION,
                "version": env!("CARGO_PKG_VERSION"),
            });
            // The runner's key or a model refused: the server is up (200), but tasks wait.
            let paused = state.chat_pauses.views();
            if !paused.is_empty() {
                health["chat_api_paused"] = json!(paused);
            }
            (StatusCode::OK, Json(health))
        }
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "error", "database": e.to_string()})),
            )
        }
    }
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    // A sender's URL pasted with a slash at its end (`/webhooks/github/gh/`) is the one
    // mistake worth naming: the route without it exists.
    let path = uri.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let message = match path.strip_suffix('/') {
        // `/api` itself is no route: its routes are named rather than a path that is 404 too.
        _ if matches!(path, "/api" | "/api/") => "no such route: `/api` is the prefix of the \
             REST routes, not one itself: /api/webhooks, /api/events, /api/tasks, /api/actions, \
             /api/audit, /api/keys"
            .to_string(),
        // A browser pointed at the server's address, or at a dashboard file it does not have.
        _ if path == "/" => {
            "no such route: `/` serves nothing; the dashboard is at /dashboard, the REST \
                routes under /api, MCP at /mcp and health at /health"
                .to_string()
        }
        _ if segments.first() == Some(&"dashboard") && segments.len() > 1 => format!(
            "no such route: `{}`; the dashboard is at /dashboard, with its files {}, {} and {}",
            crate::quote::quoted(path),
            dashboard::SCRIPT_PATH,
            dashboard::STYLE_PATH,
            dashboard::ICON_PATH
        ),
        // A single-handler setup's `/webhook/github`, or a receive URL without its webhook's id:
        // the form the receiver takes, and where each webhook's URL is shown.
        _ if matches!(segments.first(), Some(&"webhook" | &"webhooks"))
            && (segments[0] == "webhook" || segments.len() < 3) =>
        {
            format!(
                "no such route: `{}`; events are received at /webhooks/{{provider}}/{{webhook_id}} \
                 (each webhook's `url`, as GET /api/webhooks or list_webhooks shows it)",
                crate::quote::quoted(path)
            )
        }
        Some(without) if without.len() > 1 => format!(
            "no such route: `{}` ends with `/`; the routes have none (`{}`)",
            crate::quote::quoted(path),
            crate::quote::quoted(without)
        ),
        // MCP clients (mcp-remote, MCP Inspector) go looking for OAuth on a 401 and show
        // what these answer: it says what to give instead.
        _ if ["/.well-known/", "/mcp/.well-known/"].iter().any(|at| {
            path.strip_prefix(at).is_some_and(|rest| {
                rest.starts_with("oauth-") || rest.starts_with("openid-configuration")
            })
        }) || matches!(path, "/register" | "/authorize" | "/token") =>
        {
            "no such route: this server takes an API key, not OAuth: send it as \
             `Authorization: Bearer <key>` (the key printed at first start, or one made with \
             `POST /api/keys`)"
                .to_string()
        }
        _ if path.starts_with("/mcp/") => format!(
            "no such route: `{}`; MCP is served at /mcp alone, over Streamable HTTP (the older \
             HTTP+SSE transport, with its `/sse` and `/messages`, is not served)",
            crate::quote::quoted(path)
        ),
        _ => "no such route".to_string(),
    };
    ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
}
