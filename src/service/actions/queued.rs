//! Queued actions as a caller sees and steers them: listed a page at a time, cancelled, or
//! sent again.

use serde::{Deserialize, Serialize};

use super::reply_source::deleted_webhook;
use super::{ActionOut, present, with_pause};
use crate::app::AppState;
use crate::clock;
use crate::service::ServiceError;
use crate::store::outbox::{self, OutboxRow};
use crate::store::tasks;
use crate::store::webhooks::Standing;

/// The statuses an action can have.
pub const STATUSES: [&str; 6] = [
    "pending",
    "sending",
    "retrying",
    "delivered",
    "dead",
    "cancelled",
];

/// Filters for listing actions; all optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionQuery {
    /// One of [`STATUSES`].
    pub status: Option<String>,
    pub webhook_id: Option<String>,
    /// Only the actions of this task: its comments, questions, answers and posted result.
    pub task_id: Option<String>,
    /// Page size, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of actions, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct ActionPage {
    pub actions: Vec<ActionOut>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Actions across events: what is waiting, retrying or dead, wherever it came from.
pub async fn list(state: &AppState, query: ActionQuery) -> Result<ActionPage, ServiceError> {
    let limit = crate::service::page_limit(query.limit)?;
    if let Some(s) = &query.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ServiceError::invalid(
            "status",
            format!(
                "unknown status `{}`; use one of {}",
                crate::service::quoted(s),
                STATUSES.join(", ")
            ),
        ));
    }
    let webhook_id = query.webhook_id.clone();
    let task_id = query.task_id.clone();
    let filter = outbox::ActionFilter {
        status: query.status,
        webhook_id: query.webhook_id,
        task_id: query.task_id,
        before_id: crate::service::page_cursor(query.cursor, "act")?,
        // One extra row tells whether another page exists.
        limit: limit + 1,
    };
    let mut found = state
        .store
        .read(move |db| outbox::list(db, &filter))
        .await?;
    crate::service::empty_for_a_known_webhook(state, webhook_id.as_deref(), found.is_empty())
        .await?;
    // As with a webhook: a task id that names no task (a typo) is an error, not "nothing".
    if let Some(task_id) = task_id.filter(|_| found.is_empty()) {
        crate::service::tasks::load(state, &task_id).await?;
    }
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let next_cursor = more.then(|| found.last().map(|a| a.id.clone())).flatten();
    Ok(ActionPage {
        actions: found
            .iter()
            .map(|row| with_pause(state, present(row), row.next_attempt_at, &row.host))
            .collect(),
        next_cursor,
    })
}

/// Cancels an action waiting to be sent (a first try not yet made, or a retry not yet due):
/// it is not sent, and its event is not failed by it, unless it is a question its task waits
/// on: that task fails with it, as for a question that could not be posted, and `note` says
/// so. A retry sends it after all.
pub async fn cancel(state: &AppState, action_id: &str) -> Result<ActionOut, ServiceError> {
    let id = action_id.to_string();
    let (cancelled, row, failed_task) = state
        .store
        .write(move |db| {
            let cancelled = outbox::cancel(db, &id, clock::now_ms())?;
            // Read in the same write: the cancel fails a task waiting on nothing else.
            let question_of = cancelled
                .as_ref()
                .filter(|r| r.action == "ask")
                .and_then(|r| r.task_id.clone());
            let failed_task = match question_of {
                Some(task) if tasks::status_of(db, &task)?.as_deref() == Some("failed") => {
                    // Its event fails with it only if it follows its work (one no command
                    // matched stays `accepted`).
                    let event_failed = match cancelled.as_ref().and_then(|r| r.event_id.as_deref())
                    {
                        Some(event) => crate::store::events::get(db, event)?
                            .is_some_and(|e| e.status == "failed"),
                        None => false,
                    };
                    Some((task, event_failed))
                }
                _ => None,
            };
            let row = match &cancelled {
                Some(_) => None,
                None => outbox::get(db, &id)?,
            };
            Ok((cancelled, row, failed_task))
        })
        .await?;
    if let Some(row) = cancelled {
        let mut out = present(&row);
        out.note = failed_task.map(|(task, event_failed)| {
            format!(
                "its task `{task}` waited on it, and has failed with it (\"{}: {}\"), as for a \
                 question that could not be posted{}: nobody saw the question, so nothing said \
                 on the thread is taken for its answer; retry_action `{}` asks it after all and \
                 sets the task waiting again",
                tasks::QUESTION_NOT_POSTED,
                outbox::CANCELLED_BY_HAND,
                if event_failed {
                    ", and so has its event"
                } else {
                    ""
                },
                row.id
            )
        });
        return Ok(out);
    }
    let row = row.ok_or_else(|| ServiceError::NotFound {
        what: "action",
        id: action_id.to_string(),
    })?;
    // Each says what can still be done, since the caller wanted it not to go.
    let why = match row.status.as_str() {
        "sending" => format!(
            "{}; cancel it if a failed attempt leaves it waiting",
            being_sent(&row)
        ),
        "delivered" => format!(
            "was already delivered{}, so there is nothing left to stop: remove or edit the post \
             where it went, or send a correcting reply",
            row.remote_id
                .as_deref()
                .map(|id| format!(" (posted as `{id}`)"))
                .unwrap_or_default()
        ),
        "cancelled" => "is already cancelled; a retry sends it after all".into(),
        _ => "is dead: it is not sent again unless retried".to_string(),
    };
    Err(ServiceError::Conflict(format!(
        "action `{action_id}` {why}"
    )))
}

/// "is being sent now", with until when its send holds it: a sender killed mid-send leaves
/// the hold in place (another process on the database may be sending it, so it is not cut
/// short), and the caller can only act, or see it taken up again, once it has passed.
fn being_sent(row: &OutboxRow) -> String {
    match row.lease_until {
        Some(until) if until < clock::now_ms() => format!(
            "is being sent now, though its send's hold ran out at {}: if its sender stopped, \
             the next sender takes it up again shortly",
            clock::rfc3339(until)
        ),
        Some(until) => format!(
            "is being sent now; its send holds it until {} (lease_expires_at): if its sender \
             stopped, it is taken up again then",
            clock::rfc3339(until)
        ),
        None => "is being sent now".into(),
    }
}

/// Why a question not yet out must not be sent (again), if it must not: its task was
/// completed before it went out, so its answer would wake no one and land after the result,
/// or a person answered it before it was posted, and asked after its answer it would take
/// the next question's replies.
pub(super) fn unneeded_question(
    db: &rusqlite::Connection,
    row: &OutboxRow,
) -> Result<Option<&'static str>, crate::store::StoreError> {
    if row.action != "ask" || matches!(row.status.as_str(), "delivered" | "sending") {
        return Ok(None);
    }
    if row.last_error.as_deref() == Some(tasks::ANSWERED_FIRST) {
        return Ok(Some("that was answered before it went out"));
    }
    match &row.task_id {
        Some(task) if tasks::past_questions(db, task)? => {
            Ok(Some("of a task that was completed before it went out"))
        }
        _ => Ok(None),
    }
}

/// Sends a dead (or waiting) action again, now.
pub async fn retry(state: &AppState, action_id: &str) -> Result<ActionOut, ServiceError> {
    let id = action_id.to_string();
    let (of_cancelled_task, unneeded) = state
        .store
        .read(move |db| {
            let Some(row) = outbox::get(db, &id)? else {
                return Ok((false, None));
            };
            let Some(task) = &row.task_id else {
                return Ok((false, None));
            };
            Ok((tasks::is_cancelled(db, task)?, unneeded_question(db, &row)?))
        })
        .await?;
    if of_cancelled_task {
        return Err(ServiceError::Conflict(format!(
            "action `{action_id}` belongs to a task that was cancelled: nothing waits for it"
        )));
    }
    if let Some(why) = unneeded {
        return Err(ServiceError::Conflict(format!(
            "action `{action_id}` is a question {why}: no one waits for its answer, so it is \
             not sent"
        )));
    }
    let id = action_id.to_string();
    let found = state
        .store
        .write(move |db| {
            let Some(row) = outbox::get(db, &id)? else {
                return Ok(None);
            };
            // An action whose webhook is gone, or was replaced by a later one at the same id,
            // stays as it is: the one there now must not send it with its credentials.
            if let Some(webhook_id) = &row.webhook_id {
                let stored = crate::store::webhooks::get(db, webhook_id)?;
                match Standing::of(stored, row.created_at) {
                    Standing::Current(_) => {}
                    gone => return Ok(Some(Err((webhook_id.clone(), gone)))),
                }
            }
            if row.delivery.is_some() {
                let now = clock::now_ms();
                outbox::reset(db, &id, None, "pending", None, now)?;
                // A question sent again has a task waiting for its answer again (the task
                // failed when the question went dead, or was cancelled before it went out).
                let dead_ask =
                    row.action == "ask" && matches!(row.status.as_str(), "dead" | "cancelled");
                if let (true, Some(task_id)) = (dead_ask, &row.task_id) {
                    tasks::wait_again(db, task_id, now)?;
                }
            }
            Ok(outbox::get(db, &id)?.map(Ok))
        })
        .await?
        .ok_or_else(|| ServiceError::NotFound {
            what: "action",
            id: action_id.to_string(),
        })?;
    let row = match found {
        Ok(row) => row,
        Err((webhook_id, Standing::Deleted)) => return Err(deleted_webhook(&webhook_id)),
        Err((webhook_id, _)) => {
            return Err(ServiceError::Conflict(format!(
                "action `{action_id}` was queued for an earlier webhook `{webhook_id}`, \
                 deleted since: it is not sent through the one there now"
            )));
        }
    };
    match row.status.as_str() {
        "delivered" => Err(ServiceError::Conflict(format!(
            "action `{action_id}` was already delivered; it is not sent twice: to say it \
             again, send a new reply or message (comment, post_message), or replay_event to \
             run the event's commands anew"
        ))),
        // Its attempt is under way (or, if its sender died, is taken up again once the lease
        // ends): sending it once more beside that could deliver it twice.
        "sending" => Err(ServiceError::Conflict(format!(
            "action `{action_id}` {}; its outcome shows on the action once the attempt ends, \
             and a failed attempt is retried on its own",
            being_sent(&row)
        ))),
        "dead" => Err(ServiceError::invalid(
            "action_id",
            format!(
                "action `{action_id}` could not be planned ({}); fix the command and replay the event",
                row.last_error.unwrap_or_default()
            ),
        )),
        _ => {
            state.wake_workers();
            Ok(with_pause(
                state,
                present(&row),
                row.next_attempt_at,
                &row.host,
            ))
        }
    }
}
