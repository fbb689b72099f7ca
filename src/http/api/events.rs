//! `/api/events`: the event log over REST.

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::service::events::{self, EventDetail, EventPage, EventQuery};

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

/// Query strings go through the JSON error path so a bad filter names its parameter.
fn parse_query(query: Option<&str>) -> Result<EventQuery, ApiError> {
    let mut map = serde_json::Map::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if value.is_empty() {
            continue;
        }
        let value = if key == "limit" {
            value
                .parse::<u64>()
                .map(serde_json::Value::from)
                .unwrap_or_else(|_| value.clone().into_owned().into())
        } else {
            value.into_owned().into()
        };
        map.insert(key.into_owned(), value);
    }
    crate::http::extract::parse(serde_json::Value::Object(map).to_string().as_bytes())
}
