//! The REST management API under `/api`, behind the API key.

mod actions;
mod commands;
mod events;
mod keys;
mod read_back;
mod tasks;
mod webhooks;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(webhooks::router())
        .merge(commands::router())
        .merge(events::router())
        .merge(actions::router())
        .merge(tasks::router())
        .merge(keys::router())
        .route_layer(middleware::from_fn(queries_only_on_lists))
}

/// The lists, whose query filters and pages them (each refuses a parameter it does not know).
const LISTS: [&str; 7] = [
    "/api/webhooks",
    "/api/webhooks/{id}/commands",
    "/api/events",
    "/api/actions",
    "/api/tasks",
    "/api/keys",
    "/api/audit",
];

/// A query anywhere else is refused, as a list refuses a parameter it does not know: a
/// change given `?dry_run=true` (a common convention) would otherwise be made for real, and
/// `GET /api/events/{id}?fields=id` answered whole as if the parameter were understood.
async fn queries_only_on_lists(request: Request, next: Next) -> Response {
    let query = request.uri().query().filter(|q| !q.is_empty());
    let listed = matches!(*request.method(), Method::GET | Method::HEAD)
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|path| LISTS.contains(&path.as_str()));
    match query {
        Some(query) if !listed => match crate::http::extract::refuse_query(Some(query)) {
            Err(refused) => refused.into_response(),
            Ok(()) => next.run(request).await,
        },
        _ => next.run(request).await,
    }
}
