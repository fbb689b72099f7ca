//! `/api/webhooks`: the registry over REST. Each handler is one call into `service::webhooks`.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json};

use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::http::api::read_back::{self, Object, ReadBack, ReadOnly};
use crate::http::auth::AuditTarget;
use crate::http::error::ApiError;
use crate::http::extract::{AppJson, NoBody, parse_query};
use crate::service::auth::KeyInfo;
use crate::service::webhooks::{self, RotateIn, WebhookIn, WebhookOut, WebhookPage, WebhookPatch};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/webhooks", get(list_webhooks).post(create_webhook))
        .route(
            "/api/webhooks/{id}",
            get(get_webhook).put(update_webhook).delete(delete_webhook),
        )
        .route("/api/webhooks/{id}/enable", post(enable_webhook))
        .route("/api/webhooks/{id}/disable", post(disable_webhook))
        .route("/api/webhooks/{id}/rotate-secret", post(rotate_secret))
        .route("/api/webhooks/{id}/test", post(test_webhook))
}

/// What `POST /api/webhooks/{id}/test` takes: test_webhook's arguments.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TestIn {
    event_type: Option<String>,
    payload: Option<serde_json::Value>,
    command_id: Option<String>,
    #[serde(default)]
    run_actions: bool,
}

/// A signed sample (or the caller's payload) through the real receive path: a dashboard's
/// "Test" button, as MCP's `test_webhook` is a model's.
async fn test_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(input): AppJson<TestIn>,
) -> Result<Json<crate::service::testing::TestReport>, ApiError> {
    Ok(Json(
        crate::service::testing::test_webhook(
            &state,
            &id,
            crate::service::testing::TestAsk {
                event_type: input.event_type.as_deref(),
                payload: input.payload,
                command_id: input.command_id.as_deref(),
                run_actions: input.run_actions,
            },
            crate::service::Door::Rest,
        )
        .await?,
    ))
}

async fn create_webhook(
    State(state): State<AppState>,
    caller: Option<Extension<KeyInfo>>,
    AppJson(input): AppJson<WebhookIn>,
) -> Result<Response, ApiError> {
    let created_by = caller.map(|Extension(key)| key.name);
    let created = webhooks::create(&state, input, created_by).await?;
    // The audit names what was made, whose id the request may not have given.
    let target = AuditTarget(format!("/api/webhooks/{}", created.id));
    let mut response = (StatusCode::CREATED, Json(created)).into_response();
    response.extensions_mut().insert(target);
    Ok(response)
}

async fn list_webhooks(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<WebhookPage>, ApiError> {
    Ok(Json(
        webhooks::list_page(&state, parse_query(query.as_deref())?).await?,
    ))
}

async fn get_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookOut>, ApiError> {
    Ok(Json(webhooks::get(&state, &id).await?))
}

async fn update_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(mut body): AppJson<Object>,
) -> Result<Json<WebhookOut>, ApiError> {
    let what = format!("webhook `{}`", crate::quote::quoted(&id));
    let read_only = ReadOnly {
        what: &what,
        fixed: &[
            "url",
            "secret_hint",
            "secret_placeholder",
            "created_by",
            "created_at",
        ],
        // Notes of an answer (an update's among them), and when a grace ends, which passes
        // without a change.
        ignored: &[
            "warnings",
            "added_commands",
            "removed_commands",
            "kept_commands",
            "previous_secret_expires_at",
        ],
    };
    // `commands` as a GET shows it, a count, is passed over: a list is the commands to have.
    if body
        .0
        .get("commands")
        .is_some_and(|c| c.is_number() || c.is_null())
    {
        body.0.remove("commands");
    }
    let read = read_back::split::<WebhookPatch, _>(body, read_only, async || {
        Ok(serde_json::to_value(webhooks::get(&state, &id).await?).unwrap_or_default())
    })
    .await;
    let ReadBack {
        mut changes,
        edited_from,
    } = read?;
    changes.edited_from = edited_from;
    Ok(Json(webhooks::update(&state, &id, changes).await?))
}

async fn delete_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn enable_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(NoBody {}): AppJson<NoBody>,
) -> Result<Json<WebhookOut>, ApiError> {
    Ok(Json(webhooks::set_enabled(&state, &id, true).await?))
}

async fn disable_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(NoBody {}): AppJson<NoBody>,
) -> Result<Json<WebhookOut>, ApiError> {
    Ok(Json(webhooks::set_enabled(&state, &id, false).await?))
}

async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(input): AppJson<RotateIn>,
) -> Result<Json<WebhookOut>, ApiError> {
    Ok(Json(webhooks::rotate_secret(&state, &id, input).await?))
}
