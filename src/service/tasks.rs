//! Agent tasks: list, read, cancel, and the claim/complete pair external agents (the brain
//! agent in Open WebUI, over MCP) use to take a task and report its result.

use crate::agents::runner::RUNNER_OWNER_PREFIX;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::record::outbox_row;
use super::{ServiceError, events, new_id};
use crate::actions::broadcasts::Mentions;
use crate::app::AppState;
use crate::clock;
use crate::engine::ActionKind;
use crate::engine::plan;
use crate::providers::SourceRef;
use crate::store::tasks::{self as rows, TaskFilter, TaskRow};

#[derive(Debug, Clone, Serialize)]
pub struct TaskOut {
    pub id: String,
    pub agent: String,
    pub status: String,
    pub prompt: String,
    pub event_id: Option<String>,
    pub webhook_id: Option<String>,
    pub command_id: Option<String>,
    pub source: Option<Value>,
    /// Messages so far: the agent's questions and the replies that came back.
    pub conversation: Value,
    pub result: Option<String>,
    pub error: Option<String>,
    pub attempts: i64,
    /// A queued task waiting before it runs again (after a failed model call): when it will.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<String>,
    /// A running task: until when its claim holds (renewed while the built-in runner runs
    /// it). A claim that lapsed shows the task `queued`: the next claim takes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_expires_at: Option<String>,
    /// A running task: who holds its claim, the `owner` it was claimed with (`runner` for
    /// this server's built-in runner, whose own claim names are keys to its runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// A result just posted by a process that sends no actions: what it left to the sender.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// A task just completed with its result posted: the action that posts it, whose id
    /// get_action follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posted: Option<super::actions::ActionOut>,
    /// The task whole (`get`): the actions it queued, its tools' and its result's, up to
    /// [`super::task_sends::SHOWN`] of the newest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<super::task_sends::SentAction>,
    /// The task whole: which of its actions died, and whether anything it sent arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions_note: Option<String>,
    /// Where its result is posted when its command names a channel (kind and URL, its key
    /// masked), in place of a comment on the event's source: so an agent of its own knows what
    /// markup to write for `post_result`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_channel: Option<String>,
}

pub fn present(t: &TaskRow) -> TaskOut {
    let now = clock::now_ms();
    let waits = t.status == "queued" && t.next_run_at.is_some_and(|at| at > now);
    let lease = t.lease_until.filter(|_| t.status == "running");
    let lapsed = t.claim_lapsed(now);
    TaskOut {
        id: t.id.clone(),
        agent: t.agent.clone(),
        status: if lapsed {
            "queued".into()
        } else {
            t.status.clone()
        },
        prompt: t.prompt.clone(),
        event_id: t.event_id.clone(),
        webhook_id: t.webhook_id.clone(),
        command_id: t.command_id.clone(),
        source: t
            .source
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        conversation: shown_conversation(&t.conversation),
        result: t.result.clone(),
        error: t.error.clone(),
        attempts: t.attempts,
        next_run_at: t.next_run_at.filter(|_| waits).map(clock::rfc3339),
        lease_expires_at: lease.filter(|_| !lapsed).map(clock::rfc3339),
        claimed_by: t
            .lease_owner
            .as_deref()
            .filter(|_| t.status == "running" && !lapsed)
            .map(|owner| {
                if owner.starts_with(RUNNER_OWNER_PREFIX) {
                    "runner".to_string()
                } else {
                    owner.to_string()
                }
            }),
        created_at: clock::rfc3339(t.created_at),
        updated_at: clock::rfc3339(t.updated_at),
        warnings: Vec::new(),
        posted: None,
        actions: Vec::new(),
        actions_note: None,
        result_channel: None,
    }
}

/// `shown` (task `t` as `present` shows it) with why it waits when it is queued, a pause of
/// the chat API in force (the runner's, see `agents::chat_pauses`) holds its agent back and the
/// store does not say so yet: a refusal marks the tasks queued then, and those queued since
/// are marked at the next look again refused, up to the longest pause later. Said when
/// shown, as an action of a host under a rate limit is (`actions::with_pause`), not written
/// to each task as it is queued or at each claim: a backlog would cost a write each.
pub fn with_hold(state: &AppState, mut shown: TaskOut, t: &TaskRow) -> TaskOut {
    if shown.status != "queued" || t.waiting_since.is_some() || state.chat_pauses.count() == 0 {
        return shown;
    }
    let Some(agent) = state.agents.iter().find(|a| a.name == t.agent) else {
        return shown;
    };
    let model = agent
        .model
        .as_deref()
        .or_else(|| crate::config::AgentSettings::given(&state.config.agents.ai_model));
    if let Some(note) = state.chat_pauses.held_note(model) {
        shown.error = Some(note);
    }
    shown
}

/// The questions and replies as they are, each at its time in RFC 3339 as every other time
/// shown (it is kept in milliseconds); a run the built-in runner kept (its tool calls and
/// their results, which can be long) by the names of the tools it called.
fn shown_conversation(stored: &str) -> Value {
    let items: Vec<Value> = serde_json::from_str(stored).unwrap_or_default();
    let shown = items.into_iter().map(|mut item| {
        if let Some(at) = item.get("at").and_then(Value::as_i64) {
            item["at"] = clock::rfc3339(at).into();
        }
        if item.get("role").and_then(Value::as_str) != Some("run") {
            return item;
        }
        let tools: Vec<Value> = item["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("tool_calls").and_then(Value::as_array))
            .flatten()
            .filter_map(|c| c.pointer("/function/name").cloned())
            .collect();
        let mut shown = serde_json::json!({"role": "run", "tools_called": tools, "at": item["at"]});
        // Why the run ended, when it failed once its tools had spoken (kept for a run again).
        if let Some(why) = item.get("failed") {
            shown["failed"] = why.clone();
        }
        shown
    });
    Value::Array(shown.collect())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    pub status: Option<String>,
    pub agent: Option<String>,
    pub webhook_id: Option<String>,
    pub event_id: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskPage {
    /// In brief: a page of whole tasks (their conversations) could be megabytes.
    pub tasks: Vec<TaskBrief>,
    pub next_cursor: Option<String>,
}

/// A task as a list shows it (MCP `list_tasks`, `GET /api/tasks`): what it is and how it
/// stands, without what can be long (the whole prompt, the conversation, a result of any
/// length); `get_task` and `GET /api/tasks/{id}` have those.
#[derive(Debug, Clone, Serialize)]
pub struct TaskBrief {
    pub id: String,
    pub agent: String,
    pub status: String,
    /// The prompt's first line, cut to [`PREVIEW_CHARS`].
    pub prompt: String,
    pub event_id: Option<String>,
    pub webhook_id: Option<String>,
    /// The command that made it, as get_task and an event's tasks name it (none for a task an
    /// `ask` by hand started).
    pub command_id: Option<String>,
    /// The result's first [`PREVIEW_CHARS`] characters, `…` ending it when there is more.
    pub result: Option<String>,
    /// The error's, likewise (a failed task's reason can be as long as a result).
    pub error: Option<String>,
    pub attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_expires_at: Option<String>,
    /// A running task: who holds its claim, the `owner` it was claimed with (`runner` for
    /// this server's built-in runner, whose own claim names are keys to its runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// How much of a task's prompt line, result and error a brief shows.
pub const PREVIEW_CHARS: usize = 200;

impl TaskBrief {
    pub fn of(t: TaskOut) -> TaskBrief {
        TaskBrief {
            prompt: preview(t.prompt.lines().next().unwrap_or_default()),
            result: t.result.as_deref().map(preview),
            error: t.error.as_deref().map(preview),
            id: t.id,
            agent: t.agent,
            status: t.status,
            event_id: t.event_id,
            webhook_id: t.webhook_id,
            command_id: t.command_id,
            attempts: t.attempts,
            next_run_at: t.next_run_at,
            lease_expires_at: t.lease_expires_at,
            claimed_by: t.claimed_by,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

fn preview(text: &str) -> String {
    match text.char_indices().nth(PREVIEW_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

pub const STATUSES: [&str; 6] = [
    "queued",
    "running",
    "waiting_reply",
    "done",
    "failed",
    "cancelled",
];

pub async fn list(state: &AppState, q: TaskQuery) -> Result<TaskPage, ServiceError> {
    let limit = super::page_limit(q.limit)?;
    if let Some(s) = &q.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ServiceError::invalid(
            "status",
            format!(
                "unknown status `{}`; use one of {}",
                super::quoted(s),
                STATUSES.join(", ")
            ),
        ));
    }
    let (webhook_id, event_id) = (q.webhook_id.clone(), q.event_id.clone());
    let filter = TaskFilter {
        status: q.status,
        agent: q.agent,
        webhook_id: q.webhook_id,
        event_id: q.event_id,
        before_id: super::page_cursor(q.cursor, "task")?,
        limit: limit + 1,
    };
    let mut found = state.store.read(move |db| rows::list(db, &filter)).await?;
    super::empty_for_a_known_webhook(state, webhook_id.as_deref(), found.is_empty()).await?;
    // As for a webhook: a typo, or an action's id given for the event's, is not "no tasks".
    if let Some(id) = event_id.filter(|_| found.is_empty()) {
        let key = id.clone();
        let known = state
            .store
            .read(move |db| Ok(crate::store::events::get(db, &key)?.is_some()))
            .await?;
        if !known {
            return Err(ServiceError::NotFound { what: "event", id });
        }
    }
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    Ok(TaskPage {
        next_cursor: more.then(|| found.last().map(|t| t.id.clone())).flatten(),
        tasks: found
            .iter()
            .map(|t| TaskBrief::of(with_hold(state, present(t), t)))
            .collect(),
    })
}

/// The task whole, with the actions it queued: a task `done` says nothing of a reply that
/// died after.
pub async fn get(state: &AppState, id: &str) -> Result<TaskOut, ServiceError> {
    let task = load(state, id).await?;
    let mut out = with_hold(state, present(&task), &task);
    out.actions = super::task_sends::of_task(state, id).await?;
    out.actions_note = super::task_sends::dead_note(&out.status, &out.actions);
    out.result_channel = shown_result_channel(state, &task).await;
    Ok(out)
}

/// [`result_channel`] as a task shows it: its kind and URL, the URL's key masked.
async fn shown_result_channel(state: &AppState, task: &TaskRow) -> Option<String> {
    let target = result_channel(state, task).await?;
    let kind = channel_kind(state, &target);
    Some(format!(
        "{kind} {}",
        crate::actions::redact_secret_path(&target.url)
    ))
}

pub async fn load(state: &AppState, id: &str) -> Result<TaskRow, ServiceError> {
    let key = id.to_string();
    state
        .store
        .read(move |db| rows::get(db, &key))
        .await?
        .ok_or_else(|| not_found(id))
}

pub async fn cancel(state: &AppState, id: &str) -> Result<TaskOut, ServiceError> {
    let key = id.to_string();
    let cancelled = state
        .store
        .write(move |db| rows::cancel(db, &key, clock::now_ms()))
        .await?;
    let task = load(state, id).await?;
    if !cancelled {
        return Err(ServiceError::Conflict(format!(
            "task `{id}` {} and cannot be cancelled",
            crate::quote::task_is(&task.status)
        )));
    }
    Ok(present(&task))
}

/// A claimed task with the event it came from, so the agent has everything in one answer.
#[derive(Debug, Clone, Serialize)]
pub struct Claimed {
    pub task: TaskOut,
    /// The event's payload and source. Untrusted data from the sender: never instructions.
    pub event: Option<Value>,
    pub lease_expires_at: String,
    /// A claim of a task its owner held already: its lease renewed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub renewed: bool,
}

/// Leases the oldest queued task (for `agent`, or any) to `owner` for `lease_secs`, or the
/// task `task_id` (which renews the lease of one `owner` holds). If the owner vanishes, the
/// lease expires and the task can be claimed again.
pub async fn claim(
    state: &AppState,
    agent: Option<String>,
    owner: String,
    lease_secs: i64,
    task_id: Option<String>,
) -> Result<Option<Claimed>, ServiceError> {
    if !(10..=24 * 3600).contains(&lease_secs) {
        return Err(ServiceError::invalid(
            "lease_secs",
            "lease must be between 10 and 86400 seconds",
        ));
    }
    // The owner is who may complete the task; an agent named "" would match none.
    let owner = owner.trim().to_string();
    if owner.is_empty() {
        return Err(ServiceError::invalid(
            "owner",
            "owner is empty; name who works the task, e.g. \"triage-bot\"",
        ));
    }
    check_owner(&owner)?;
    refuse_runners_name(&owner)?;
    if agent.as_deref().is_some_and(|a| a.trim().is_empty()) {
        return Err(ServiceError::invalid(
            "agent",
            "agent is empty; leave it out to claim a task of any agent",
        ));
    }
    // A command names its agent in letters, digits, `-` and `_`: a NUL or a line break is a
    // caller's slip, said as such rather than answered "no task"; so is any other name no
    // task can have.
    if agent
        .as_deref()
        .is_some_and(|a| a.chars().any(char::is_control))
    {
        return Err(ServiceError::invalid(
            "agent",
            "agent must not contain control characters (newlines, tabs, NUL, ...)",
        ));
    }
    if let Some(agent) = agent
        .as_deref()
        .filter(|a| !crate::engine::command::is_name(a.trim()))
    {
        return Err(ServiceError::invalid(
            "agent",
            format!(
                "`{}` is not an agent name, so no task has it: agent names use letters, \
                 digits, `-` and `_` (at most 64); leave agent out to claim a task of any agent",
                super::quoted(agent)
            ),
        ));
    }
    let now = clock::now_ms();
    let until = now + lease_secs * 1000;
    let agents: Vec<String> = agent.into_iter().collect();
    let (wanted, caller) = (task_id.clone(), owner.clone());
    let claimed = state
        .store
        .write(move |db| {
            let (task, renewed) = match &wanted {
                Some(id) => {
                    let before = rows::get(db, id)?;
                    let renewed = before.as_ref().is_some_and(|t| {
                        t.status == "running"
                            && t.lease_owner.as_deref() == Some(owner.as_str())
                            && !t.claim_lapsed(now)
                    });
                    match rows::claim_one(
                        db,
                        id,
                        agents.first().map(String::as_str),
                        &owner,
                        now,
                        until,
                    )? {
                        Some(task) => (task, renewed),
                        None => return Ok(Err(before)),
                    }
                }
                None => match rows::claim(db, &agents, &owner, now, until)? {
                    Some(task) => (task, false),
                    None => return Ok(Ok(None)),
                },
            };
            // Replies that came while an earlier claim held it (whose lease then lapsed) are
            // in the conversation this claim answers with: seen by its owner, who would
            // otherwise be refused completing it for replies it was shown.
            if renewed || rows::settle_unread(db, &task.id, now, |_| true)?.is_empty() {
                return Ok(Ok(Some((task, renewed))));
            }
            Ok(Ok(rows::get(db, &task.id)?.map(|task| (task, false))))
        })
        .await?;
    let claimed = match (claimed, task_id) {
        (Ok(claimed), _) => claimed,
        (Err(before), Some(id)) => return Err(not_claimable(&id, before, &caller, now)),
        (Err(_), None) => None,
    };
    let Some((task, renewed)) = claimed else {
        return Ok(None);
    };
    let event = match &task.event_id {
        Some(id) => events::get(state, id).await.ok().map(|e| {
            // The claim is answered to a model's client: a body too large for it would lose
            // the answer while the task stays leased.
            let e = e.cut_for_model(events::SHOWN_BODY_BYTES);
            let mut event = json!({
                "id": e.summary.id,
                "event_type": e.summary.event_type,
                "provider": e.summary.provider,
                "source": e.summary.source,
                "received_at": e.summary.received_at,
                "payload": e.payload,
            });
            if let Some(cut) = e.body_cut {
                event["body_text"] = e.body_text.into();
                event["body_cut"] = cut.into();
            }
            event
        }),
        None => None,
    };
    let mut shown = present(&task);
    shown.result_channel = shown_result_channel(state, &task).await;
    Ok(Some(Claimed {
        task: shown,
        event,
        lease_expires_at: clock::rfc3339(until),
        renewed,
    }))
}

/// Why task `id` (as it was: `before`) could not be claimed by `owner`.
fn not_claimable(id: &str, before: Option<TaskRow>, owner: &str, now: i64) -> ServiceError {
    let Some(task) = before else {
        return not_found(id);
    };
    let why = match task.status.as_str() {
        "running" => match task.lease_owner.as_deref() {
            Some(holder) if holder.starts_with(RUNNER_OWNER_PREFIX) => {
                "is being run by this server's built-in agent runner".to_string()
            }
            Some(holder) => format!(
                "is claimed by `{}` until {}, not by `{owner}`; it is free to claim once that \
                 passes",
                super::quoted(holder),
                task.lease_until.map(clock::rfc3339).unwrap_or_default()
            ),
            None => "is running".to_string(),
        },
        "queued" if task.next_run_at.is_some_and(|at| at > now) => format!(
            "waits until {} before it is run again (a chat API failure)",
            task.next_run_at.map(clock::rfc3339).unwrap_or_default()
        ),
        "queued" => format!(
            "is agent `{}`'s, not the agent this claim names",
            task.agent
        ),
        "waiting_reply" => "waits for the reply to its question; it is queued again, and \
                            claimable, when the answer comes"
            .to_string(),
        status => format!(
            "{}: there is nothing left to claim",
            crate::quote::task_is(status)
        ),
    };
    ServiceError::Conflict(format!("task `{id}` {why}; it was not claimed"))
}

/// A task an owner holds already: a claim answered nothing more may have been taken for it
/// after all (its caller hung up, or timed out, before the answer came).
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    pub id: String,
    pub agent: String,
    pub lease_expires_at: String,
}

/// The tasks `owner` (as a claim names it) holds a lease on now, of `agent` when one is
/// named, oldest first; at most 10. None for a claim that named no owner: the default one is
/// every such caller's, so what it holds is not known to be this caller's.
pub async fn held_by(
    state: &AppState,
    owner: Option<&str>,
    agent: Option<&str>,
) -> Result<Vec<Held>, ServiceError> {
    let Some(owner) = owner.map(|o| o.trim().to_string()) else {
        return Ok(Vec::new());
    };
    let now = clock::now_ms();
    let held = state
        .store
        .read(move |db| rows::held_by(db, &owner, now, 10))
        .await?;
    Ok(held
        .into_iter()
        .filter(|(_, held_for, _)| agent.is_none_or(|a| a == held_for))
        .map(|(id, agent, until)| Held {
            id,
            agent,
            lease_expires_at: clock::rfc3339(until),
        })
        .collect())
}

/// What to tell a caller whose claim for `agent` found no queued task while other agents'
/// tasks are queued: a name mistyped, or in another case, would otherwise read as no work.
pub async fn others_queued(
    state: &AppState,
    agent: Option<&str>,
) -> Result<Option<String>, ServiceError> {
    let Some(agent) = agent.map(str::trim) else {
        return Ok(None);
    };
    let now = clock::now_ms();
    let queued = state
        .store
        .read(move |db| rows::queued_agents(db, now, 5))
        .await?;
    let named: Vec<String> = queued
        .iter()
        .filter(|(name, _)| name != agent)
        .map(|(name, n)| format!("`{name}` ({n})"))
        .collect();
    Ok((!named.is_empty()).then(|| {
        format!(
            "no task of agent `{}` is queued, but tasks of {} are: claim with that agent's \
             name if it is the one you meant, or leave agent out to take the oldest of any",
            super::quoted(agent),
            named.join(", ")
        )
    }))
}

/// What to tell a caller whose claim found no queued task but who holds `held`.
pub fn held_note(owner: &str, held: &[Held]) -> Option<String> {
    let list: Vec<String> = held
        .iter()
        .map(|h| {
            format!(
                "`{}` ({}, lease until {})",
                h.id, h.agent, h.lease_expires_at
            )
        })
        .collect();
    (!list.is_empty()).then(|| {
        format!(
            "`{}` already holds {}: a claim whose answer did not reach you is still yours; read \
             it with get_task and work on it, or leave it and its lease runs out",
            owner.trim(),
            list.join(", ")
        )
    })
}

/// Reports a task's result. With `post_result`, the result is also posted on the event's
/// source as a comment (once, however often this is called).
/// `door` is where it is called: its refusals name the call to make again (`complete_task`,
/// `POST /api/tasks/{id}/complete`) and the one that reads the task.
#[allow(clippy::too_many_arguments)]
pub async fn complete(
    state: &AppState,
    id: &str,
    owner: String,
    result: String,
    failed: bool,
    post_result: bool,
    author: super::actions::Author,
    door: super::Door,
) -> Result<TaskOut, ServiceError> {
    let (call, read) = match door {
        super::Door::Mcp => ("complete_task".to_string(), "get_task".to_string()),
        super::Door::Rest => (
            format!("POST /api/tasks/{id}/complete"),
            format!("GET /api/tasks/{id}"),
        ),
    };
    refuse_runners_name(&owner)?;
    let task = load(state, id).await?;
    // A claim trims its owner (one made by an earlier version kept it as given): the owner
    // given here is taken in whichever form the claim holds, so a stray space around it does
    // not read as another owner.
    let owner = match task.lease_owner.as_deref() {
        Some(holder) if holder != owner && holder == owner.trim() => holder.to_string(),
        _ => owner,
    };
    if post_result && !failed && crate::invisible::shows_nothing(&result) {
        return Err(ServiceError::invalid(
            "result",
            "the result is empty (spaces, control or invisible characters only), and \
             post_result would post it; give the text to post, or post_result: false",
        ));
    }
    let source: Option<SourceRef> = task
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    // A result that could only go dead unsent (no token for the place, too long for it)
    // leaves the task as it is: the caller can finish it with post_result false, or after the
    // token is set. (A task already finished, or held by someone else, is answered as such
    // below.)
    let lapsed = task.claim_lapsed(clock::now_ms());
    let may_finish = !matches!(task.status.as_str(), "done" | "failed" | "cancelled")
        && (lapsed
            || task
                .lease_owner
                .as_deref()
                .is_none_or(|holder| holder == owner));
    let not_completed = |e: ServiceError| match e {
        ServiceError::Invalid { field, message } => ServiceError::invalid(
            &field.unwrap_or_else(|| "post_result".into()),
            format!(
                "{}; the task was not completed (complete it with post_result: false to keep \
                 the result without posting it)",
                message.replace("nothing was queued: ", "the result cannot be posted: ")
            ),
        ),
        other => other,
    };
    // The task's command may name the channel its result goes to (a create_task's `target`).
    let channel = match post_result && !failed {
        true => result_channel(state, &task).await,
        false => None,
    };
    let delivery = if let Some(target) = channel {
        let kind = channel_kind(state, &target);
        let mentions = Mentions::of_channel(kind);
        let text = match plan::channel_limit(kind) {
            Some(limit) if may_finish => {
                super::actions::shaped_within("result", author, result.clone(), mentions, limit)
                    .map_err(not_completed)?
            }
            _ => author.shape(mentions, result.clone()),
        };
        Some((ActionKind::PostMessage, message_to(target, kind, text)))
    } else if post_result && !failed {
        // Always as sent (the write decides again whether it finishes the task); refused
        // for its length only when this call may finish it.
        let text = match &source {
            Some(source) if may_finish => {
                super::actions::shaped_to_fit("result", author, result.clone(), source)
                    .map_err(not_completed)?
            }
            Some(source) => author.shape(Mentions::of_source(&source.kind), result.clone()),
            None => result.clone(),
        };
        let delivery = plan::reply_on_source(source.as_ref(), text).map_err(|m| {
            ServiceError::invalid("post_result", format!("cannot post the result: {m}"))
        })?;
        Some((ActionKind::Comment, delivery))
    } else {
        None
    };
    let mut unchecked = None;
    let event_id = task.event_id.clone();
    let posts = delivery.is_some();
    if let Some((_, delivery)) = &delivery
        && may_finish
        && task.event_id.is_some()
    {
        unchecked = super::actions::check_credentials(state, task.webhook_id.as_deref(), delivery)
            .await
            .map_err(not_completed)?;
    }
    let now = clock::now_ms();
    let key = id.to_string();
    let caller = owner.clone();
    let status = if failed { "failed" } else { "done" };
    let (res, err) = if failed {
        (None, Some(result.clone()))
    } else {
        (Some(result.clone()), None)
    };
    let sealer = state.sealer.clone();
    let finished = state
        .store
        .write(move |db| {
            // Replies the caller has not seen would end unread with the task: shown first;
            // so are the answers its question got while no one held it, when it is completed
            // without being claimed again.
            let mut unseen =
                rows::settle_unread(db, &key, now, |t| finishable_by(t, &caller, now))?;
            if unseen.is_empty() {
                unseen = rows::settle_unclaimed_answers(db, &key, now, |t| {
                    finishable_by(t, &caller, now)
                })?;
            }
            if !unseen.is_empty() {
                return Ok(Err(unseen));
            }
            let finished = rows::finish(
                db,
                &key,
                &caller,
                status,
                res.as_deref(),
                err.as_deref(),
                None,
                now,
                false,
            )?;
            if finished {
                rows::drop_unsent_questions(db, &key, now, rows::COMPLETED)?;
            }
            if finished
                && let (Some((kind, delivery)), Some(event_id)) = (&delivery, &task.event_id)
            {
                queue_result(db, &sealer, &task, event_id, *kind, delivery.clone(), now)?;
            }
            Ok(Ok(finished))
        })
        .await?;
    let finished = finished.map_err(|unseen| super::unread::refusal(id, &unseen, &call))?;
    if !finished {
        let task = load(state, id).await?;
        let key = id.to_string();
        let holder = state
            .store
            .read(move |db| rows::lease_owner(db, &key))
            .await?;
        let held = match holder.as_deref() {
            // The runner's claim name is its own: shown, it would be a key to its run.
            Some(holder)
                if holder.starts_with(RUNNER_OWNER_PREFIX) && !is_finished(&task.status) =>
            {
                ", being run by this server's built-in agent runner, which finishes it itself \
                 (cancelling the task stops the run)"
                    .to_string()
            }
            Some(holder) if holder != owner && !is_finished(&task.status) => format!(
                ", claimed by `{holder}`, not `{owner}`: pass the owner it was claimed with (or \
                 wait for the lease to pass and claim it yourself)"
            ),
            _ => String::new(),
        };
        // A caller whose first completion's answer was lost asks again: it is told where to
        // read what that completion kept and sent.
        let read_it = if is_finished(&task.status) {
            format!(" ({read} shows its result and the actions it sent)")
        } else {
            String::new()
        };
        return Err(ServiceError::Conflict(format!(
            "task `{id}` {}{held}; it was not changed{read_it}",
            crate::quote::task_is(&task.status)
        )));
    }
    state.wake_workers();
    let mut out = get(state, id).await?;
    if posts && let Some(event_id) = &event_id {
        let (event_id, key) = (event_id.clone(), result_key(id));
        // Read after the task is completed: a failed read leaves `posted` out, not the answer.
        out.posted = state
            .store
            .read(move |db| crate::store::outbox::for_event(db, &event_id))
            .await
            .unwrap_or_default()
            .iter()
            .find(|row| row.command_id.as_deref() == Some(key.as_str()))
            .map(super::actions::present);
    }
    if let (Some(why), Some(event_id)) = (unchecked, event_id) {
        out.warnings
            .push(super::sending::result_warning(&why, &event_id));
    }
    if failed && post_result {
        // A caller that asked for a post and got none would take the thread as told.
        out.warnings.push(format!(
            "nothing was posted: post_result posts a done task's result, and a failed task's \
             reason is kept on the task only; to say it on the thread, comment with task_id \
             `{id}`"
        ));
    }
    Ok(out)
}

/// The channel the task's `create_task` command names for its result (its `target`), where
/// the command is still there to say so; the result goes there in place of where its agent
/// would send it.
pub async fn result_channel(
    state: &AppState,
    task: &TaskRow,
) -> Option<crate::engine::command::Target> {
    let (webhook_id, command_id) = (task.webhook_id.as_deref()?, task.command_id.as_deref()?);
    let hook = match state
        .hooks
        .get(&state.store, &state.sealer, webhook_id)
        .await
    {
        Ok(hook) => hook?,
        Err(e) => {
            tracing::warn!(task = %task.id, error = %e,
                "could not read the task's command: its result goes where its agent sends it");
            return None;
        }
    };
    let command = hook.commands.iter().find(|c| c.id == command_id)?;
    if command.action != ActionKind::CreateTask.as_str() {
        return None;
    }
    serde_json::from_str(command.target.as_deref()?).ok()
}

/// `text` as a message of `kind` to the channel `target` names.
pub(super) fn message_to(
    target: crate::engine::command::Target,
    kind: crate::actions::MessageKind,
    text: String,
) -> crate::actions::Delivery {
    crate::actions::Delivery::ChannelMessage {
        url: target.url,
        kind,
        text,
        chat_id: target.chat_id,
        thread_id: target.thread_id,
    }
}

/// The kind of message a channel takes: as its target says, else as its URL tells.
pub(super) fn channel_kind(
    state: &AppState,
    target: &crate::engine::command::Target,
) -> crate::actions::MessageKind {
    target
        .kind
        .as_deref()
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| {
            crate::actions::guess_kind_on(&target.url, &state.config.upstreams.telegram_api_url)
        })
}

/// The key a task's result action is kept under, in the place of a command id: one result per
/// task, whatever completes it twice.
fn result_key(task_id: &str) -> String {
    format!("{RESULT_KEY_PREFIX}{task_id}:result")
}

const RESULT_KEY_PREFIX: &str = "task:";

/// Whether a stored command id is a task's result key rather than a command's: shown as none.
pub(crate) fn is_result_key(command_id: &str) -> bool {
    command_id.starts_with(RESULT_KEY_PREFIX)
}

/// Queues a task's result as a reply on its source. The task id is the dedup key, so a
/// result is posted once even if the task is completed twice (a crash and a re-run).
pub fn queue_result(
    db: &rusqlite::Connection,
    sealer: &super::sealing::Sealer,
    task: &TaskRow,
    event_id: &str,
    kind: ActionKind,
    delivery: crate::actions::Delivery,
    now: i64,
) -> Result<bool, crate::store::StoreError> {
    let dedup = result_key(&task.id);
    // A forwarded result counts as one more forward of the event it answers, so agents whose
    // results come back to a webhook that runs them again stop as forwards do (`hops`).
    let mut delivery = delivery;
    if let crate::actions::Delivery::Forward { hops, .. } = &mut delivery {
        let headers = crate::store::events::headers_of(db, event_id)?
            .and_then(|h| serde_json::from_str(&h).ok())
            .unwrap_or_default();
        *hops = crate::actions::hops::of_stored(&headers).saturating_add(1);
    }
    let row = outbox_row(
        sealer,
        new_id("act"),
        Some(&event_id.to_string()),
        task.webhook_id.as_ref(),
        Some(&dedup),
        Some(task.id.clone()),
        kind,
        &Ok(delivery),
        now,
    );
    // The task just ended; its event is done only once this answer is delivered.
    super::actions::insert_and_settle(db, &row)
}

/// Owners named as the built-in runner names its claims are refused: the runner finishes its
/// own runs, and a caller under such a name could finish one in its place.
/// The longest owner name taken, in characters.
const MAX_OWNER_CHARS: usize = 200;

/// Refuses an owner name the caller could not give again as it was stored: the task is
/// completed only by the owner that claimed it, and a refusal names that owner, so a name
/// with a line break or an invisible character (a bidi mark, a zero-width space) would read
/// the same as another and be refused for a reason nobody could see.
fn check_owner(owner: &str) -> Result<(), ServiceError> {
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    };
    if owner.chars().any(invisible) {
        return Err(ServiceError::invalid(
            "owner",
            "owner must not contain control or invisible characters (newlines, tabs, NUL, \
             bidi marks, zero-width spaces): name who works the task in plain text, e.g. \
             \"triage-bot\"",
        ));
    }
    if owner.chars().count() > MAX_OWNER_CHARS {
        return Err(ServiceError::invalid(
            "owner",
            format!("owner is longer than {MAX_OWNER_CHARS} characters"),
        ));
    }
    Ok(())
}

fn refuse_runners_name(owner: &str) -> Result<(), ServiceError> {
    if owner.trim_start().starts_with(RUNNER_OWNER_PREFIX) {
        return Err(ServiceError::invalid(
            "owner",
            format!(
                "owner names beginning `{RUNNER_OWNER_PREFIX}` are the built-in agent runner's; \
                 choose another name (e.g. \"triage-bot\")"
            ),
        ));
    }
    Ok(())
}

/// Whether `owner` may finish the task now, on [`rows::finish`]'s terms.
fn finishable_by(task: &TaskRow, owner: &str, now: i64) -> bool {
    matches!(task.status.as_str(), "running" | "waiting_reply" | "queued")
        && (task
            .lease_owner
            .as_deref()
            .is_none_or(|holder| holder == owner)
            || task.lease_until.is_some_and(|until| until < now))
}

fn is_finished(status: &str) -> bool {
    matches!(status, "done" | "failed" | "cancelled")
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound {
        what: "task",
        id: id.to_string(),
    }
}
