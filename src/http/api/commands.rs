//! `/api/webhooks/{id}/commands`: a webhook's commands over REST.

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::http::api::read_back::{self, Object, ReadBack, ReadOnly};
use crate::http::auth::AuditTarget;
use crate::http::error::ApiError;
use crate::http::extract::{AppJson, refuse_query};
use crate::service::commands::{self, CommandIn, CommandOut};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/webhooks/{id}/commands",
            get(list_commands).post(add_command),
        )
        .route(
            "/api/webhooks/{id}/commands/{command_id}",
            get(get_command).put(update_command).delete(remove_command),
        )
}

async fn get_command(
    State(state): State<AppState>,
    Path((id, command_id)): Path<(String, String)>,
) -> Result<Json<CommandOut>, ApiError> {
    Ok(Json(commands::get(&state, &id, &command_id).await?))
}

async fn list_commands(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    refuse_query(query.as_deref())?;
    Ok(Json(
        json!({ "commands": commands::list(&state, &id).await? }),
    ))
}

async fn add_command(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(input): AppJson<CommandIn>,
) -> Result<Response, ApiError> {
    let added = commands::add(&state, &id, input).await?;
    // The audit names the new command, whose id only the answer carries.
    let target = AuditTarget(format!("/api/webhooks/{id}/commands/{}", added.id));
    let mut response = (StatusCode::CREATED, Json(added)).into_response();
    response.extensions_mut().insert(target);
    Ok(response)
}

async fn update_command(
    State(state): State<AppState>,
    Path((id, command_id)): Path<(String, String)>,
    AppJson(body): AppJson<Object>,
) -> Result<Json<CommandOut>, ApiError> {
    let what = format!("command `{}`", crate::quote::quoted(&command_id));
    let read_only = ReadOnly {
        what: &what,
        fixed: &["id", "webhook_id", "created_at"],
        ignored: &["warnings"],
    };
    let ReadBack {
        changes,
        edited_from,
    } = read_back::split(body, read_only, async || {
        let now = commands::get(&state, &id, &command_id).await?;
        Ok(serde_json::to_value(now).unwrap_or_default())
    })
    .await?;
    Ok(Json(
        commands::update(&state, &id, &command_id, changes, edited_from).await?,
    ))
}

async fn remove_command(
    State(state): State<AppState>,
    Path((id, command_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    commands::remove(&state, &id, &command_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
