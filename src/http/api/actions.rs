//! REST doors onto actions: replay an event, read or retry an action, and reply on an event's
//! source by hand (comment, ask, respond) or post to a channel.

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{AppJson, NoBody, parse_query};
use crate::service::actions::{self, ActionOut, ActionPage, Author, ReplayReport, ReplyTo};
use crate::service::events::ActionDetail;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/events/{id}/replay", post(replay_event))
        .route("/api/actions", get(list_actions))
        .route("/api/actions/{id}", get(get_action))
        .route("/api/actions/{id}/retry", post(retry_action))
        .route("/api/actions/{id}/cancel", post(cancel_action))
        .route("/api/events/{id}/comment", post(comment_on_event))
        .route("/api/events/{id}/ask", post(ask_on_event))
        .route("/api/events/{id}/respond", post(respond_to_event))
        .route("/api/webhooks/{id}/comment", post(comment))
        .route("/api/webhooks/{id}/ask", post(ask))
        .route("/api/webhooks/{id}/respond", post(respond))
        .route("/api/messages", post(post_message))
}

async fn replay_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(NoBody {}): AppJson<NoBody>,
) -> Result<Json<ReplayReport>, ApiError> {
    Ok(Json(actions::replay(&state, &id).await?))
}

async fn get_action(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ActionDetail>, ApiError> {
    Ok(Json(crate::service::events::action(&state, &id).await?))
}

async fn list_actions(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<ActionPage>, ApiError> {
    Ok(Json(
        actions::list(&state, parse_query(query.as_deref())?).await?,
    ))
}

async fn cancel_action(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(NoBody {}): AppJson<NoBody>,
) -> Result<Json<ActionOut>, ApiError> {
    Ok(Json(actions::cancel(&state, &id).await?))
}

async fn retry_action(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(NoBody {}): AppJson<NoBody>,
) -> Result<Json<ActionOut>, ApiError> {
    Ok(Json(actions::retry(&state, &id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextIn {
    /// The text to post (`message` and `response` are accepted as other names for it).
    #[serde(default, alias = "message", alias = "response", alias = "question")]
    text: Option<String>,
    agent: Option<String>,
    /// The task the reply belongs to (it must be one of this event's): an `ask` then pauses
    /// that task, instead of starting a new one.
    #[serde(default, deserialize_with = "given_id")]
    task_id: Option<String>,
    /// An `ask` on a task claimed over REST or MCP: the owner it was claimed with.
    owner: Option<String>,
}

/// An id, when given, is not empty: `""` (a script's unset variable) is refused as such, not
/// looked up and answered 404 "task `` not found".
fn given_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let id = Option::<String>::deserialize(d)?;
    if id.as_deref().is_some_and(|id| id.trim().is_empty()) {
        return Err(serde::de::Error::custom(
            // serde_json adds where in the body it is.
            "an empty id names nothing (give one, or leave the field out)",
        ));
    }
    Ok(id)
}

async fn comment_on_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(input): AppJson<TextIn>,
) -> Result<(StatusCode, Json<ActionOut>), ApiError> {
    runs_no_agent(input.agent.as_deref(), input.owner.as_deref())?;
    let to = ReplyTo {
        event_id: Some(id),
        task_id: input.task_id.clone(),
        author: Author::Person,
        owner: None,
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(actions::comment(&state, to, text_of(input.text)?).await?),
    ))
}

async fn ask_on_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(input): AppJson<TextIn>,
) -> Result<(StatusCode, Json<ActionOut>), ApiError> {
    let to = ReplyTo {
        event_id: Some(id),
        task_id: input.task_id.clone(),
        author: Author::Person,
        owner: Some(rest_owner(input.owner)),
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(actions::ask(&state, to, text_of(input.text)?, input.agent).await?),
    ))
}

async fn respond_to_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(input): AppJson<TextIn>,
) -> Result<(StatusCode, Json<ActionOut>), ApiError> {
    runs_no_agent(input.agent.as_deref(), input.owner.as_deref())?;
    let to = ReplyTo {
        event_id: Some(id),
        task_id: input.task_id.clone(),
        author: Author::Person,
        owner: None,
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(actions::respond(&state, to, text_of(input.text)?).await?),
    ))
}

/// The seed's shape: `POST /api/webhooks/{id}/comment {"event_id", "message"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyIn {
    #[serde(default, deserialize_with = "given_id")]
    event_id: Option<String>,
    #[serde(default, deserialize_with = "given_id")]
    task_id: Option<String>,
    #[serde(default, alias = "message", alias = "response", alias = "question")]
    text: Option<String>,
    agent: Option<String>,
    owner: Option<String>,
}

/// The owner an `ask` over REST asks as: the one given, else the one a REST claim takes.
fn rest_owner(given: Option<String>) -> String {
    given.unwrap_or_else(|| super::tasks::DEFAULT_OWNER.into())
}

/// A comment or response posts its text as given: an agent named with it would be dropped
/// unseen (as `add_command` refuses one on such an action), and it takes no task from its
/// claimer, so it names no owner. Only `ask` starts a task or makes one wait.
fn runs_no_agent(agent: Option<&str>, owner: Option<&str>) -> Result<(), ApiError> {
    if agent.map(str::trim).is_some_and(|a| !a.is_empty()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "a comment or response posts this text as written and runs no agent: `agent` is \
             for `ask` (whose answer goes to that agent), or a command's `create_task`",
        )
        .with_field("agent"));
    }
    if owner.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "a comment or response leaves its task's claim as it is, so it names no owner: \
             `owner` is for `ask` on a claimed task (which then waits for the answer)",
        )
        .with_field("owner"));
    }
    Ok(())
}

/// The reply's text, under any of the names the routes take; serde alone would call a missing
/// one `text` even to a caller who followed the seed's `message`.
fn text_of(text: Option<String>) -> Result<String, ApiError> {
    text.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_field",
            "give the text to send as `text` (or `message`, `response`, `question`)",
        )
        .with_field("text")
    })
}

async fn checked(state: &AppState, webhook_id: &str, input: &ReplyIn) -> Result<ReplyTo, ApiError> {
    crate::service::webhooks::load(state, webhook_id).await?;
    if let Some(event_id) = &input.event_id {
        let event = crate::service::events::get(state, event_id).await?;
        if event.summary.webhook_id != webhook_id {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                format!("event `{event_id}` belongs to another webhook"),
            )
            .with_field("event_id"));
        }
    }
    if let Some(task_id) = &input.task_id {
        let task = crate::service::tasks::load(state, task_id).await?;
        if task.webhook_id.as_deref() != Some(webhook_id) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                format!("task `{task_id}` is not one of webhook `{webhook_id}`'s tasks"),
            )
            .with_field("task_id"));
        }
    }
    Ok(ReplyTo {
        event_id: input.event_id.clone(),
        task_id: input.task_id.clone(),
        author: Author::Person,
        owner: Some(rest_owner(input.owner.clone())),
    })
}

async fn comment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(input): AppJson<ReplyIn>,
) -> Result<(StatusCode, Json<ActionOut>), ApiError> {
    runs_no_agent(input.agent.as_deref(), input.owner.as_deref())?;
    let text = text_of(input.text.clone())?;
    let to = checked(&state, &id, &input).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(actions::comment(&state, to, text).await?),
    ))
}

async fn ask(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(input): AppJson<ReplyIn>,
) -> Result<(StatusCode, Json<ActionOut>), ApiError> {
    let text = text_of(input.text.clone())?;
    let to = checked(&state, &id, &input).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(actions::ask(&state, to, text, input.agent).await?),
    ))
}

async fn respond(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(input): AppJson<ReplyIn>,
) -> Result<(StatusCode, Json<ActionOut>), ApiError> {
    runs_no_agent(input.agent.as_deref(), input.owner.as_deref())?;
    let text = text_of(input.text.clone())?;
    let to = checked(&state, &id, &input).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(actions::respond(&state, to, text).await?),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageIn {
    url: String,
    kind: Option<String>,
    /// Telegram's chat ids are numbers; given as one or as text.
    #[serde(
        default,
        deserialize_with = "crate::mcp::args::lenient::text_or_number"
    )]
    chat_id: Option<String>,
    /// Telegram's forum topic (`message_thread_id`), a number given as one or as text.
    #[serde(
        default,
        alias = "message_thread_id",
        deserialize_with = "crate::mcp::args::lenient::text_or_number"
    )]
    thread_id: Option<String>,
    text: String,
    #[serde(default, deserialize_with = "given_id")]
    event_id: Option<String>,
}

async fn post_message(
    State(state): State<AppState>,
    AppJson(m): AppJson<MessageIn>,
) -> Result<(StatusCode, Json<ActionOut>), ApiError> {
    let out = actions::post_message(
        &state,
        m.url,
        m.kind,
        actions::TelegramChat {
            chat_id: m.chat_id,
            thread_id: m.thread_id,
        },
        m.text,
        m.event_id,
        None,
        Author::Person,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(out)))
}
