//! `/api/events`: the event log over REST.

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::parse_query;
use crate::service::events::{self, EventDetail, EventPage};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/events", get(list_events))
        .route("/api/events/{id}", get(get_event))
}

async fn list_events(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<EventPage>, ApiError> {
    Ok(Json(
        events::list(&state, parse_query(query.as_deref())?).await?,
    ))
}

async fn get_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EventDetail>, ApiError> {
    Ok(Json(events::get(&state, &id).await?))
}
