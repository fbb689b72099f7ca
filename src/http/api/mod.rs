//! The REST management API under `/api`, behind the API key.

mod actions;
mod commands;
mod events;
mod keys;
mod tasks;
mod webhooks;

use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(webhooks::router())
        .merge(commands::router())
        .merge(events::router())
        .merge(actions::router())
        .merge(tasks::router())
        .merge(keys::router())
}
