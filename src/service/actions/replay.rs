//! Replaying an event: its webhook's commands planned again over it, and what each one's
//! earlier actions and tasks make of that (kept, sent again, or queued anew).

use serde::Serialize;
use serde_json::{Value, json};

use super::event_gone;
use super::queued::unneeded_question;
use super::reply_source::{SAMPLE_EVENT, deleted_webhook, earlier_webhook};
use crate::app::AppState;
use crate::clock;
use crate::engine::ActionKind;
use crate::engine::plan::Planned;
use crate::providers::{self, Provider, SourceRef};
use crate::service::ServiceError;
use crate::service::record::{self, outbox_row};
use crate::store::events::NewEvent;
use crate::store::outbox::{self, OutboxRow};
use crate::store::tasks;
use crate::store::webhooks::Standing;

/// What a replay did with each command.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub event_id: String,
    pub matched_commands: Vec<String>,
    /// Per command: queued (new), requeued (an action that was dead or waiting, or a task
    /// that failed), asked_again, already_delivered, in_progress, cancelled, task_created,
    /// task_exists, task_exists_posts_requeued, task_cancelled, answered_inline_originally.
    pub results: Vec<Value>,
}

/// Runs an event through the webhook's current commands again. Actions that already
/// succeeded are not repeated; failed ones are planned afresh and sent again.
pub async fn replay(state: &AppState, event_id: &str) -> Result<ReplayReport, ServiceError> {
    let key = event_id.to_string();
    let row = state
        .store
        .read(move |db| crate::store::events::get(db, &key))
        .await?
        .ok_or_else(|| ServiceError::NotFound {
            what: "event",
            id: event_id.to_string(),
        })?;
    if !row.verified {
        return Err(ServiceError::invalid(
            "event_id",
            "a rejected event cannot be replayed: it never passed verification",
        ));
    }
    if row.status == crate::service::record::OWN_POST {
        // Replayed, a command that quotes a comment would answer this service's own.
        return Err(ServiceError::invalid(
            "event_id",
            "this event is the service's own post coming back from the sender: it fires no \
             command, so there is nothing to replay; replay the event it answered",
        ));
    }
    let headers = serde_json::from_str(&row.headers).unwrap_or_default();
    if crate::service::testing::is_sample(&headers) {
        return Err(ServiceError::invalid("event_id", SAMPLE_EVENT));
    }
    let webhook_id = row.webhook_id.clone();
    let stored = state
        .store
        .read(move |db| crate::store::webhooks::get(db, &webhook_id))
        .await?;
    let hook = match Standing::of(stored, row.received_at) {
        Standing::Deleted => return Err(deleted_webhook(&row.webhook_id)),
        Standing::Replaced => return Err(earlier_webhook(&row.id)),
        Standing::Current(hook) => crate::service::webhooks::opened(state, *hook)?,
    };
    let provider: Provider = row.provider.parse().unwrap_or(Provider::Custom);
    let body = row.body.clone().unwrap_or_default();
    let payload = providers::parse_payload(provider, &body)
        .map(std::sync::Arc::new)
        .map_err(|e| {
            ServiceError::invalid("event_id", format!("stored body is unreadable: {e}"))
        })?;
    let source: Option<SourceRef> = row
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());

    let hook_id = hook.id.clone();
    let command_rows = state
        .store
        .read(move |db| crate::store::commands::list(db, &hook_id))
        .await?;
    let command_rows = crate::service::commands::opened_rows(&state.sealer, command_rows)?;
    let compiled = crate::service::commands::compile_enabled(&command_rows);
    let (matched, planned) = crate::service::planning::plan_stored(
        &hook,
        &command_rows,
        &compiled,
        provider,
        &row,
        &payload,
        &body,
    );
    let event = NewEvent {
        id: row.id.clone(),
        webhook_id: row.webhook_id.clone(),
        provider: row.provider.clone(),
        event_type: row.event_type.clone(),
        delivery_id: row.delivery_id.clone(),
        verified: true,
        verification: row.verification.clone(),
        status: row.status.clone(),
        source_kind: source.as_ref().map(|s| s.kind.clone()),
        source_key: source.as_ref().map(|s| s.key.clone()),
        source: row.source.clone(),
        headers: String::new(),
        content_type: None,
        body: axum::body::Bytes::new(),
        matched_commands: serde_json::to_string(&matched).unwrap_or_default(),
        remote_addr: None,
        received_at: row.received_at,
        truncated: None,
    };
    let sealer = state.sealer.clone();
    // Looked at again in the write: a delete (or a delete and a new webhook at the id) that
    // came in since the read above already cancelled this event's work, and must not find
    // new work written after it.
    let results = state
        .store
        .write(move |db| {
            let stored = crate::store::webhooks::get(db, &event.webhook_id)?;
            match Standing::of(stored, event.received_at) {
                Standing::Current(_) => replay_in_db(db, &sealer, &event, &planned).map(Ok),
                Standing::Deleted => Ok(Err(deleted_webhook(&event.webhook_id))),
                Standing::Replaced => Ok(Err(earlier_webhook(&event.id))),
            }
        })
        .await
        .map_err(|e| event_gone(e, Some(event_id)))??;
    state.wake_workers();
    state.wake_runner();
    Ok(ReplayReport {
        event_id: event_id.to_string(),
        matched_commands: matched,
        results,
    })
}

fn replay_in_db(
    db: &rusqlite::Connection,
    sealer: &crate::service::sealing::Sealer,
    event: &NewEvent,
    planned: &[Planned],
) -> Result<Vec<Value>, crate::store::StoreError> {
    // Let go since it was read (past `WEBHOOK_MCP_EVENT_RETENTION_DAYS`): no work is written
    // for an event that is no longer there.
    if crate::store::events::headers_of(db, &event.id)?.is_none() {
        return Err(crate::store::StoreError::MissingParent);
    }
    let now = clock::now_ms();
    let existing = outbox::for_event(db, &event.id)?;
    let own_apis = record::OwnApis::of_webhook(db, Some(&event.webhook_id))?;
    // An answer to a question starts no second agent, replayed or not (work it already
    // started is still retried below).
    let answer = record::was_an_answer(db, event)?;
    let mut results = Vec::new();
    for p in planned {
        let started_before = match p {
            Planned::Send { command_id, .. } => existing
                .iter()
                .any(|o| o.command_id.as_ref() == Some(command_id)),
            Planned::Task { command_id, .. } => tasks::for_event(db, &event.id)?
                .iter()
                .any(|t| t.command_id.as_ref() == Some(command_id)),
            Planned::Inline { .. } => true,
        };
        if answer && record::starts_agent(p) && !started_before {
            let command_id = match p {
                Planned::Send { command_id, .. } | Planned::Task { command_id, .. } => command_id,
                Planned::Inline { command_id, .. } => command_id,
            };
            results.push(json!({"command_id": command_id, "result": "skipped_an_answer"}));
            continue;
        }
        // The command's work as a new event's would be written, where none is there yet.
        let write_new = || {
            record::write_planned(
                db,
                sealer,
                &event.id,
                &event.webhook_id,
                event,
                std::slice::from_ref(p),
                &own_apis,
                now,
            )
        };
        let result = match p {
            Planned::Send {
                command_id,
                delivery,
                ..
            } => {
                // The stored row with what the command plans now.
                let replanned = |o: &OutboxRow| {
                    let mut row = outbox_row(
                        sealer,
                        o.id.clone(),
                        Some(&event.id),
                        Some(&event.webhook_id),
                        Some(command_id),
                        None,
                        ActionKind::Comment,
                        delivery,
                        now,
                    );
                    own_apis.key(&mut row);
                    row
                };
                match existing
                    .iter()
                    .find(|o| o.command_id.as_ref() == Some(command_id))
                {
                    // Asked, then nobody answered in time: asked again, its task waiting again.
                    Some(o)
                        if o.status == "delivered"
                            && o.action == "ask"
                            && delivery.is_ok()
                            && failed_task(db, o.task_id.as_deref())? == Some(true) =>
                    {
                        outbox::send_again(db, &replanned(o), now)?;
                        if let Some(task_id) = &o.task_id {
                            tasks::wait_again(db, task_id, now)?;
                        }
                        json!({"command_id": command_id, "action_id": o.id, "result": "asked_again"})
                    }
                    // Asked (or answered before it went out) and answered, then its run
                    // failed (the chat API refused it, say): the task runs again on what it
                    // has, as a failed create_task does; the question is not asked twice.
                    Some(o)
                        if o.action == "ask"
                            && (o.status == "delivered" || unneeded_question(db, o)?.is_some())
                            && failed_task(db, o.task_id.as_deref())? == Some(false) =>
                    {
                        let task_id = o.task_id.as_deref().unwrap_or_default();
                        let prompt = tasks::get(db, task_id)?
                            .map(|t| t.prompt)
                            .unwrap_or_default();
                        tasks::run_again(db, task_id, &prompt, now)?;
                        let before = tasks::for_event(db, &event.id)?;
                        requeue_dead_posts(db, &existing, &before, command_id, now)?;
                        json!({"command_id": command_id, "action_id": o.id, "result": "run_again"})
                    }
                    Some(o) if o.status == "delivered" => {
                        json!({"command_id": command_id, "action_id": o.id, "result": "already_delivered"})
                    }
                    Some(o) if o.status == "sending" => {
                        json!({"command_id": command_id, "action_id": o.id, "result": "in_progress"})
                    }
                    // Cancelled by hand: someone decided it should not go (a retry sends it).
                    Some(o) if o.status == "cancelled" => {
                        json!({"command_id": command_id, "action_id": o.id, "result": "cancelled"})
                    }
                    // A question whose task was cancelled: no one waits for its answer.
                    Some(o)
                        if o.task_id
                            .as_deref()
                            .map(|t| tasks::is_cancelled(db, t))
                            .transpose()?
                            .unwrap_or(false) =>
                    {
                        json!({"command_id": command_id, "action_id": o.id, "result": "task_cancelled"})
                    }
                    // A question dropped because its task was completed, or because it was
                    // answered, before it went out: sent now, it would ask no one.
                    Some(o) if unneeded_question(db, o)?.is_some() => {
                        json!({"command_id": command_id, "action_id": o.id, "result": "not_needed"})
                    }
                    Some(o) => {
                        let fresh = replanned(o);
                        let status = if delivery.is_ok() { "pending" } else { "dead" };
                        outbox::reset(
                            db,
                            &o.id,
                            Some((&fresh.delivery, &fresh.target, &fresh.host)),
                            status,
                            fresh.last_error.as_deref(),
                            now,
                        )?;
                        // As with a retry: a dead question asked again has its task wait again.
                        if let ("ask", "dead", true, Some(task_id)) = (
                            o.action.as_str(),
                            o.status.as_str(),
                            delivery.is_ok(),
                            &o.task_id,
                        ) {
                            tasks::wait_again(db, task_id, now)?;
                        }
                        json!({"command_id": command_id, "action_id": o.id, "result": "requeued"})
                    }
                    None => {
                        write_new()?;
                        json!({"command_id": command_id, "result": "queued"})
                    }
                }
            }
            Planned::Task {
                command_id, prompt, ..
            } => {
                // A task the command could not plan then (its template failed) left a dead row
                // saying so; the task made now takes its place.
                if let Some(dead) = existing.iter().find(|o| {
                    o.command_id.as_ref() == Some(command_id)
                        && o.status == "dead"
                        && o.delivery.is_none()
                }) {
                    outbox::delete_unplanned(db, &dead.id)?;
                }
                let before = tasks::for_event(db, &event.id)?;
                let failed = before
                    .iter()
                    .find(|t| t.command_id.as_ref() == Some(command_id) && t.status == "failed");
                let result = match failed {
                    // Failed (the chat API down past its retries, say): it runs again, from
                    // the prompt as the command renders it now. What its tools sent and saw
                    // go dead is sent again: the run again reads them as sent (kept with the
                    // failed run) and does not say it twice.
                    Some(task) => {
                        tasks::run_again(db, &task.id, prompt, now)?;
                        requeue_dead_posts(db, &existing, &before, command_id, now)?;
                        "requeued"
                    }
                    None => {
                        write_new()?;
                        let cancelled = before.iter().any(|t| {
                            t.command_id.as_ref() == Some(command_id) && t.status == "cancelled"
                        });
                        if tasks::for_event(db, &event.id)?.len() > before.len() {
                            "task_created"
                        } else if cancelled {
                            // What it left unsent stays so: no one works on it any more.
                            "task_cancelled"
                        } else if requeue_dead_posts(db, &existing, &before, command_id, now)? {
                            // Its answer (or a comment it made) went dead: sent again, as
                            // the command's own dead actions are.
                            "task_exists_posts_requeued"
                        } else {
                            "task_exists"
                        }
                    }
                };
                json!({"command_id": command_id, "result": result})
            }
            Planned::Inline { command_id, .. } => {
                json!({"command_id": command_id, "result": "answered_inline_originally"})
            }
        };
        results.push(result);
    }
    if !planned.is_empty() {
        // An event stored as `accepted` (no command then) or `test` (a dry run) now has
        // commands at work: from here its status follows them like any matched event's.
        crate::store::events::mark_matched(db, &event.id)?;
    }
    crate::store::events::settle(db, &event.id)?;
    Ok(results)
}

/// How the question's task failed, if it did: waiting for the answer (`Some(true)`: asked
/// again on replay) or in a run (`Some(false)`: run again on what it has).
fn failed_task(
    db: &rusqlite::Connection,
    task_id: Option<&str>,
) -> Result<Option<bool>, crate::store::StoreError> {
    let Some(task_id) = task_id else {
        return Ok(None);
    };
    Ok(tasks::get(db, task_id)?
        .filter(|t| t.status == "failed")
        .map(|t| t.error.as_deref().is_some_and(|e| e.starts_with("timeout"))))
}

/// Queues again the dead posts of the command's task that had something to send (its result, a
/// comment or message it made; a dead question failed the task, which runs again instead).
/// Whether there were any.
fn requeue_dead_posts(
    db: &rusqlite::Connection,
    existing: &[OutboxRow],
    tasks_of_event: &[tasks::TaskRow],
    command_id: &str,
    now: i64,
) -> Result<bool, crate::store::StoreError> {
    let Some(task) = tasks_of_event
        .iter()
        .find(|t| t.command_id.as_deref() == Some(command_id))
    else {
        return Ok(false);
    };
    let mut requeued = false;
    for post in existing.iter().filter(|o| {
        o.task_id.as_ref() == Some(&task.id)
            && o.status == "dead"
            && o.delivery.is_some()
            && o.action != "ask"
    }) {
        requeued |= outbox::reset(db, &post.id, None, "pending", None, now)?;
    }
    Ok(requeued)
}
