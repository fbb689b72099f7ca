//! `/api/keys` (admin keys only: list, read, create, revoke API keys) and `/api/audit` (the audit
//! log of management changes, for admin and read keys). Scopes are enforced by `http::auth`.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::auth::{AuditDetail, AuditTarget};
use crate::http::error::ApiError;
use crate::http::extract::AppJson;
use crate::http::extract::{parse_query, refuse_query};
use crate::service::ServiceError;
use crate::service::audit::{self, AuditPage};
use crate::service::auth::{self, KeyIn, KeyInfo, KeyOut};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/keys", get(list_keys).post(create_key))
        .route("/api/keys/{id}", get(get_key).delete(revoke_key))
        .route("/api/audit", get(list_audit))
}

async fn list_keys(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    refuse_query(query.as_deref())?;
    Ok(Json(json!({
        "keys": auth::list(&state).await?,
        // The configured key is an admin key too, but it lives in the environment, not here.
        "environment_key": state.api_keys.has_configured(),
    })))
}

/// One key as the list shows it, revoked ones too until they are pruned.
async fn get_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<KeyOut>, ApiError> {
    match auth::get(&state, &id).await? {
        Some(key) => Ok(Json(key)),
        None => Err(ServiceError::NotFound {
            what: "API key",
            id,
        }
        .into()),
    }
}

async fn create_key(
    State(state): State<AppState>,
    caller: Option<Extension<KeyInfo>>,
    AppJson(input): AppJson<KeyIn>,
) -> Result<Response, ApiError> {
    let created_by = caller.map(|Extension(key)| key.name);
    let created = auth::create(&state, input, created_by).await?;
    let target = AuditTarget(format!("/api/keys/{}", created.info.id));
    // The scope as stored (a default one too), for a log a read key reads without the keys.
    let detail = AuditDetail(json!({"name": created.info.name, "scope": created.info.scope}));
    let mut response = (StatusCode::CREATED, Json(created)).into_response();
    response.extensions_mut().insert(target);
    response.extensions_mut().insert(detail);
    Ok(response)
}

async fn revoke_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // Named in the log by what it was: a revocation has no body, and a read key reading the
    // log cannot list the keys.
    let revoked = auth::get(&state, &id).await?;
    auth::revoke(&state, &id).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(key) = revoked {
        let detail = json!({"name": key.name, "scope": key.scope});
        response.extensions_mut().insert(AuditDetail(detail));
    }
    Ok(response)
}

async fn list_audit(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(
        audit::list(&state, parse_query(query.as_deref())?).await?,
    ))
}
