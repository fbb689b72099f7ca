//! `/api/tasks`: agent tasks over REST (list, read, answer, cancel, claim, complete).

use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{AppJson, NoBody};
use crate::service::answer::{self, Answered, Answerer};
use crate::service::audit::AuditUser;
use crate::service::auth::KeyInfo;
use crate::service::tasks::{self, TaskOut, TaskPage, TaskQuery};
use crate::store::conversation::VIA_API;

/// Who claims and completes tasks over REST when the request names no owner.
pub(super) const DEFAULT_OWNER: &str = "api";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/tasks", get(list_tasks))
        .route("/api/tasks/claim", post(claim_task))
        .route("/api/tasks/{id}", get(get_task))
        .route("/api/tasks/{id}/answer", post(answer_task))
        .route("/api/tasks/{id}/cancel", post(cancel_task))
        .route("/api/tasks/{id}/complete", post(complete_task))
}

async fn list_tasks(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<TaskPage>, ApiError> {
    let q: TaskQuery = crate::http::extract::parse_query(query.as_deref())?;
    Ok(Json(tasks::list(&state, q).await?))
}

async fn get_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskOut>, ApiError> {
    Ok(Json(tasks::get(&state, &id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerIn {
    text: String,
    #[serde(default)]
    post: bool,
}

async fn answer_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Option<Extension<KeyInfo>>,
    user: Option<Extension<AuditUser>>,
    AppJson(input): AppJson<AnswerIn>,
) -> Result<Json<Answered>, ApiError> {
    let key = caller.map(|Extension(key)| key.name).unwrap_or_default();
    let user = user.map(|Extension(user)| user);
    let by = Answerer::of(&key, user.as_ref(), VIA_API);
    Ok(Json(
        answer::answer(&state, &id, input.text, input.post, by).await?,
    ))
}

async fn cancel_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(NoBody {}): AppJson<NoBody>,
) -> Result<Json<TaskOut>, ApiError> {
    Ok(Json(tasks::cancel(&state, &id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimIn {
    agent: Option<String>,
    owner: Option<String>,
    #[serde(default, deserialize_with = "crate::providers::whole_number")]
    lease_secs: Option<i64>,
    task_id: Option<String>,
}

async fn claim_task(
    State(state): State<AppState>,
    AppJson(input): AppJson<ClaimIn>,
) -> Result<Json<Value>, ApiError> {
    let (named, agent) = (input.owner.clone(), input.agent.clone());
    let owner = input.owner.unwrap_or_else(|| DEFAULT_OWNER.into());
    let claimed = tasks::claim(
        &state,
        input.agent,
        owner.clone(),
        input.lease_secs.unwrap_or(600),
        input.task_id,
    )
    .await?;
    Ok(Json(match claimed {
        Some(c) => json!(c),
        None => {
            let held = tasks::held_by(&state, named.as_deref(), agent.as_deref()).await?;
            let mut answer = json!({"task": null, "held": held});
            if let Some(note) = tasks::held_note(&owner, &held) {
                answer["note"] = note.into();
            }
            if let Some(others) = tasks::others_queued(&state, agent.as_deref()).await? {
                answer["others_queued"] = others.into();
            }
            answer
        }
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteIn {
    result: String,
    #[serde(default)]
    failed: bool,
    #[serde(default)]
    post_result: bool,
    owner: Option<String>,
}

async fn complete_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(input): AppJson<CompleteIn>,
) -> Result<Json<TaskOut>, ApiError> {
    Ok(Json(
        tasks::complete(
            &state,
            &id,
            input.owner.unwrap_or_else(|| DEFAULT_OWNER.into()),
            input.result,
            input.failed,
            input.post_result,
            // An agent's words, as complete_task over MCP takes them: an external agent
            // claims and completes here, and its result may not notify a whole channel.
            crate::service::actions::Author::Model,
            crate::service::Door::Rest,
        )
        .await?,
    ))
}
