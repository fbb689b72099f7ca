//! A task's questions: its wait for a reply begun, restarted when posted, failed when a
//! question could not be, asked again, its unsent ones dropped, and its wait timed out.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::reply_lookup::{QUESTION_SENT, TIMED_OUT};
use super::{get, settled};
use crate::store::conversation::{self, REPLY_TIMEOUT};
use crate::store::{StoreError, events};

/// Marks a task as waiting for a reply on its source (after an `ask`), recording the question.
pub fn wait_for_reply(
    conn: &Connection,
    task_id: &str,
    question: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(task) = get(conn, task_id)? else {
        return Ok(false);
    };
    let mut conversation: Vec<Value> = serde_json::from_str(&task.conversation).unwrap_or_default();
    // A run cut short by this question (asked by someone else while it ran, or while it waited
    // to retry) is kept where it stood, or the run that takes the reply would call its tools
    // again. A run asking itself replaces it with the whole run (`keep_asking_run`).
    if let Some(progress) = task
        .run_progress
        .as_deref()
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .and_then(|mut p| p.get_mut("messages").map(Value::take))
        .filter(|m| m.as_array().is_some_and(|m| !m.is_empty()))
    {
        conversation
            .push(json!({"role": "run", "messages": progress, "cut_short": true, "at": now}));
        let run = conversation.len() - 1;
        conversation::keep_run(&mut conversation, run);
    } else {
        // No run to keep: replies that came while the task ran (an external agent's claim)
        // stand where they came, before this question.
        conversation::forget_run(&mut conversation);
    }
    conversation.push(json!({"role": "assistant", "content": question, "at": now}));
    // A task held by a refused key or model (queued, or running its look again) now waits
    // for the reply instead: the error that said it waited for the chat API goes.
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET conversation = ?2, status = 'waiting_reply', waiting_since = ?3, \
             error = CASE WHEN status != 'waiting_reply' AND waiting_since IS NOT NULL \
                 THEN NULL ELSE error END, \
             run_progress = NULL, lease_owner = NULL, lease_until = NULL, updated_at = ?3 \
             WHERE id = ?1 AND status NOT IN ('done', 'failed', 'cancelled')",
        )?
        .execute(params![
            task_id,
            Value::Array(conversation).to_string(),
            now
        ])?;
    Ok(n == 1)
}

/// Starts a waiting task's wait for a reply again now that its question was posted: the reply
/// timeout counts from when people could read it, not from when it was queued (a question
/// held back by a failing upstream would otherwise time out before it was ever seen).
pub fn question_posted(conn: &Connection, task_id: &str, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE tasks SET waiting_since = ?2 WHERE id = ?1 AND status = 'waiting_reply'",
    )?
    .execute(params![task_id, now])?;
    Ok(())
}

/// What the error of a task failed by [`fail_waiting`] begins with.
pub const QUESTION_NOT_POSTED: &str = "the question could not be posted";

/// Fails a task that waits for a reply because its question could not be posted, unless
/// another question of it is still on its way.
pub fn fail_waiting(
    conn: &Connection,
    id: &str,
    error: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'failed', error = ?2, waiting_since = NULL, \
             lease_owner = NULL, lease_until = NULL, updated_at = ?3 \
             WHERE id = ?1 AND status = 'waiting_reply' \
             AND NOT EXISTS (SELECT 1 FROM outbox WHERE task_id = ?1 AND action = 'ask' \
                             AND status IN ('pending', 'sending', 'retrying')) \
             RETURNING event_id",
        )?
        .query_row(params![id, error, now], |r| r.get(0))
        .optional()?;
    settled(conn, n)
}

/// Sets a failed task waiting for a reply again, when its question is sent once more.
pub fn wait_again(conn: &Connection, id: &str, now: i64) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'waiting_reply', error = NULL, waiting_since = ?2, \
             updated_at = ?2 WHERE id = ?1 AND status = 'failed' RETURNING event_id",
        )?
        .query_row(params![id, now], |r| r.get(0))
        .optional()?;
    settled(conn, n)
}

/// Sets a task waiting for a reply again when its question, dead, turns out to have been
/// posted after all (its provider announced the post of a send that heard no answer): only a
/// task failed for want of its question ([`QUESTION_NOT_POSTED`]), not one run again since and
/// failed otherwise. The reply timeout counts from now, when the post became known.
pub fn question_posted_after_all(
    conn: &Connection,
    id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'waiting_reply', error = NULL, waiting_since = ?2, \
             updated_at = ?2 WHERE id = ?1 AND status = 'failed' \
             AND substr(error, 1, length(?3)) = ?3 RETURNING event_id",
        )?
        .query_row(params![id, now, QUESTION_NOT_POSTED], |r| r.get(0))
        .optional()?;
    settled(conn, n)
}

/// Keeps the run that ended in `questions` questions in the task's conversation, just before
/// them: the run that takes the reply then knows what its tools already did and said.
pub fn keep_asking_run(
    conn: &Connection,
    id: &str,
    run: Value,
    questions: usize,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(task) = get(conn, id)? else {
        return Ok(false);
    };
    let mut conversation: Vec<Value> = serde_json::from_str(&task.conversation).unwrap_or_default();
    let asked: Vec<usize> = conversation
        .iter()
        .enumerate()
        .filter(|(_, item)| item.get("role").and_then(Value::as_str) == Some("assistant"))
        .map(|(i, _)| i)
        .collect();
    let at = asked
        .len()
        .checked_sub(questions.max(1))
        .and_then(|first| asked.get(first).copied())
        .unwrap_or(conversation.len());
    let run = json!({"role": "run", "messages": run, "at": now});
    // The part of this run its first question kept (`wait_for_reply`) is now the whole run.
    let run_at = match at.checked_sub(1).and_then(|i| conversation.get_mut(i)) {
        Some(cut) if cut.get("cut_short") == Some(&Value::Bool(true)) => {
            *cut = run;
            at - 1
        }
        _ => {
            conversation.insert(at, run);
            at
        }
    };
    conversation::keep_run(&mut conversation, run_at);
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET conversation = ?2, updated_at = ?3 \
             WHERE id = ?1 AND status NOT IN ('done', 'failed', 'cancelled')",
        )?
        .execute(params![id, Value::Array(conversation).to_string(), now])?;
    Ok(n == 1)
}

/// Why a question of a completed task was not sent (or not sent again).
pub const COMPLETED: &str = "the task was completed";

/// Why a question a person answered through the service before it was out was not sent.
pub const ANSWERED_FIRST: &str = "answered before it was posted";

/// Drops the questions of a task that are not yet out (to be sent, or refused and waiting to
/// be tried again), `why` ([`COMPLETED`], [`ANSWERED_FIRST`]): of a task just completed, an
/// answer to one would wake no one, and it would land after the result; one already answered
/// would be asked after its answer, and its replies taken for the next question's. Its other
/// actions (a comment, the result itself) still go. One with a post id already was posted, as
/// [`cancel`](super::cancel) leaves it. Like a cancelled task's, they do not make the event `failed`.
pub fn drop_unsent_questions(
    conn: &Connection,
    id: &str,
    now: i64,
    why: &str,
) -> Result<usize, StoreError> {
    let events: Vec<Option<String>> = conn
        .prepare_cached(
            "UPDATE outbox SET status = 'dead', last_error = ?3, updated_at = ?2 \
             WHERE task_id = ?1 AND action = 'ask' AND status IN ('pending', 'retrying') \
             AND remote_id IS NULL RETURNING event_id",
        )?
        .query_map(params![id, now, why], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut settled: Vec<&String> = events.iter().flatten().collect();
    settled.dedup();
    for event_id in settled {
        events::settle(conn, event_id)?;
    }
    Ok(events.len())
}

/// Ends tasks that waited for a reply since before `cutoff`: failed, reason `timeout`. Their
/// conversation notes it, so a run of the task again knows its question went unanswered.
pub fn expire_waiting(conn: &Connection, cutoff: i64, now: i64) -> Result<usize, StoreError> {
    let events: Vec<Option<String>> = conn
        .prepare_cached(&format!(
            "UPDATE tasks SET status = 'failed', error = ?3, waiting_since = NULL, \
                 conversation = json_insert(CASE WHEN json_valid(conversation) \
                     THEN conversation ELSE '[]' END, '$[#]', json_object('role', 'note', \
                     'kind', ?4, 'content', ?3, 'at', ?2)), updated_at = ?2 \
                 WHERE status = 'waiting_reply' AND waiting_since < ?1 AND {QUESTION_SENT} \
                 RETURNING event_id"
        ))?
        .query_map(params![cutoff, now, TIMED_OUT, REPLY_TIMEOUT], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for event_id in events.iter().flatten() {
        events::settle(conn, event_id)?;
    }
    Ok(events.len())
}
