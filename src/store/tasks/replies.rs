//! Replies on a task's conversation: attached as they come, taken in by the run that reads
//! them, settled when no run will, and the conversation a run reads back.

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use super::questions::QUESTION_NOT_POSTED;
use super::reply_lookup::{TAKES_REPLIES, TIMED_OUT};
use super::{TaskRow, get};
use crate::store::conversation::{self, KEPT_AFTER_TIMEOUT, LATE, ReplyFrom};
use crate::store::{StoreError, events};

/// What a reply did to a task that takes replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// The task waited for it: queued to run again with it.
    Resumed,
    /// The task runs (or is queued to) on an earlier reply: its run reads this one too.
    Joined,
    /// An external agent works the task and spoke on the thread for it: kept as not yet seen,
    /// for it to see before it completes. It answered no question: the event's own commands
    /// go as they would have.
    Noted,
    /// The task had failed for want of a reply in time: kept for when it runs again.
    Kept,
    /// Nothing: the task took no reply any more, or kept enough after its timeout.
    No,
    /// Nothing: the external agent working the task has [`conversation::MAX_UNSEEN`] replies
    /// it has not seen yet.
    Full,
}

/// Adds a reply to the conversation of a task that takes replies ([`TAKES_REPLIES`]); a task
/// that waited for it is queued to run again. A reply given through the service (`from` names
/// no event) goes as one on the thread would.
pub fn attach_reply(
    conn: &Connection,
    task_id: &str,
    from: ReplyFrom<'_>,
    reply: &str,
    author: Option<&str>,
    now: i64,
) -> Result<Attached, StoreError> {
    let Some(task) = get(conn, task_id)? else {
        return Ok(Attached::No);
    };
    let mut items = conversation::parse(&task.conversation);
    // A run under way (or stopped part way, its progress saved) has read the conversation
    // already: it reads this reply at its next step, after what it has done.
    let mid_run = task.status == "running" || task.run_progress.is_some();
    let (attached, sql) = match task.status.as_str() {
        "waiting_reply" => (
            Attached::Resumed,
            "UPDATE tasks SET conversation = ?2, status = 'queued', waiting_since = NULL, \
             lease_owner = NULL, lease_until = NULL, run_failures = 0, updated_at = ?3 \
             WHERE id = ?1 AND status = 'waiting_reply'",
        ),
        "queued" | "running" if has_asked(&items) => (
            Attached::Joined,
            "UPDATE tasks SET conversation = ?2, updated_at = ?3 \
             WHERE id = ?1 AND status IN ('queued', 'running')",
        ),
        "running" if claimed_outside(&task) => {
            // The other delivery of a message kept already (Slack's `app_mention` beside its
            // `message`) is the same words: shown to the agent once.
            if let ReplyFrom::Event(event_id) = from
                && holds_message_of(conn, &items, event_id, now)?
            {
                return Ok(Attached::No);
            }
            if conversation::unread(&items) >= conversation::MAX_UNSEEN {
                tracing::warn!(
                    task = %task_id,
                    "a reply on the thread of a claimed task was not kept: {} wait unseen already",
                    conversation::MAX_UNSEEN
                );
                return Ok(Attached::Full);
            }
            (
                Attached::Noted,
                "UPDATE tasks SET conversation = ?2, updated_at = ?3 \
                 WHERE id = ?1 AND status = 'running'",
            )
        }
        "failed" if conversation::replies_after_timeout(&items) < KEPT_AFTER_TIMEOUT => (
            Attached::Kept,
            "UPDATE tasks SET conversation = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'failed'",
        ),
        _ => return Ok(Attached::No),
    };
    let mut item = conversation::reply(
        reply,
        author,
        from,
        now,
        mid_run && matches!(attached, Attached::Joined | Attached::Noted),
    );
    if attached == Attached::Kept {
        item[LATE] = json!(true);
    }
    items.push(item);
    let n =
        conn.prepare_cached(sql)?
            .execute(params![task_id, conversation::to_string(items), now])?;
    if n != 1 {
        return Ok(Attached::No);
    }
    if attached == Attached::Noted {
        // Not named where `answered_by` looks: it answered nothing, and a replay of the event,
        // or its other delivery, starts the agents it would have started.
        return Ok(attached);
    }
    // Where `answered_by` looks first: every event a conversation took is named there.
    if let ReplyFrom::Event(event_id) = from {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO task_replies (event_id, task_id) VALUES (?1, ?2)",
        )?
        .execute(params![event_id, task_id])?;
    }
    Ok(attached)
}

/// Whether a person may answer the task through the service now: it takes a reply on its
/// thread ([`TAKES_REPLIES`]) that would answer something (not a failed task's, kept only for
/// when it is run again). Whether its question was posted yet does not matter: the person
/// read it in the task.
pub fn takes_answer(conn: &Connection, task_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE id = ?1 AND status != 'failed' \
             AND {TAKES_REPLIES})"
        ))?
        .query_row(params![task_id], |r| r.get(0))?)
}

/// Whether the conversation holds a question the task asked.
fn has_asked(items: &[Value]) -> bool {
    items.iter().any(|i| i["role"] == "assistant")
}

/// A running task held by a claim that is not the built-in runner's: an external agent's.
pub fn claimed_outside(task: &TaskRow) -> bool {
    use crate::agents::runner::RUNNER_OWNER_PREFIX;
    task.status == "running"
        && task
            .lease_owner
            .as_deref()
            .is_some_and(|owner| !owner.starts_with(RUNNER_OWNER_PREFIX))
}

/// How far back, and how many replies back, the other delivery of a message is looked for:
/// a sender sends both at once, and retries each within the hour, so a long thread's every
/// earlier reply need not be read again, in the writer, for each new one.
const TWIN_WINDOW_MS: i64 = 60 * 60 * 1000;
const TWIN_LOOKBACK: usize = 50;

/// Whether the conversation already holds a reply carried by the same message as the event
/// (its other delivery), among its recent replies.
fn holds_message_of(
    conn: &Connection,
    items: &[Value],
    event_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(message) = events::message_of(conn, event_id)? else {
        return Ok(false);
    };
    let recent = items
        .iter()
        .rev()
        .filter(|i| {
            i["at"]
                .as_i64()
                .is_some_and(|at| at >= now - TWIN_WINDOW_MS)
        })
        .filter_map(|i| i["event_id"].as_str())
        .take(TWIN_LOOKBACK);
    for other in recent {
        if other != event_id && events::message_of(conn, other)?.as_deref() == Some(&message) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Gives the run `owner` holds the replies that came on the task's thread since it last
/// looked, in the order they came, once: marked read and saved in its progress (what
/// `progress` makes of them) in one write, so a run that stops after this still has them.
pub fn take_replies(
    conn: &Connection,
    id: &str,
    owner: &str,
    now: i64,
    progress: impl Fn(&[conversation::Reply]) -> String,
) -> Result<Vec<conversation::Reply>, StoreError> {
    let Some(task) = get(conn, id)? else {
        return Ok(Vec::new());
    };
    if task.status != "running" || task.lease_owner.as_deref() != Some(owner) {
        return Ok(Vec::new());
    }
    let mut items = conversation::parse(&task.conversation);
    let taken = conversation::take_unread(&mut items);
    if taken.is_empty() {
        return Ok(taken);
    }
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET conversation = ?3, run_progress = ?4, updated_at = ?5 \
             WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'",
        )?
        .execute(params![
            id,
            owner,
            conversation::to_string(items),
            progress(&taken),
            now
        ])?;
    Ok(if n == 1 { taken } else { Vec::new() })
}

/// Settles the replies that came on the thread of a task an external agent works (claimed, or
/// queued for anyone) and that it has not seen ([`conversation::settle_unread`]), when `sees`
/// says the caller is that agent; those replies, in the order they came.
pub fn settle_unread(
    conn: &Connection,
    id: &str,
    now: i64,
    sees: impl FnOnce(&TaskRow) -> bool,
) -> Result<Vec<Value>, StoreError> {
    settle_with(conn, id, now, sees, conversation::settle_unread)
}

/// As [`settle_unread`], for the answers a queued task's question got while no one held it
/// ([`conversation::settle_unclaimed_answers`]), when `sees` says the caller may finish it.
pub fn settle_unclaimed_answers(
    conn: &Connection,
    id: &str,
    now: i64,
    sees: impl FnOnce(&TaskRow) -> bool,
) -> Result<Vec<Value>, StoreError> {
    let queued = |t: &TaskRow| t.status == "queued" && sees(t);
    settle_with(
        conn,
        id,
        now,
        queued,
        conversation::settle_unclaimed_answers,
    )
}

/// Marks, by `settle`, the replies of the task's conversation a caller `sees` is shown now,
/// and keeps the conversation so; those replies.
fn settle_with(
    conn: &Connection,
    id: &str,
    now: i64,
    sees: impl FnOnce(&TaskRow) -> bool,
    settle: fn(&mut [Value]) -> Vec<Value>,
) -> Result<Vec<Value>, StoreError> {
    let Some(task) = get(conn, id)?.filter(|t| sees(t)) else {
        return Ok(Vec::new());
    };
    let mut items = conversation::parse(&task.conversation);
    let settled = settle(&mut items);
    if !settled.is_empty() {
        conn.prepare_cached("UPDATE tasks SET conversation = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![id, conversation::to_string(items), now])?;
    }
    Ok(settled)
}

/// Whether a question of the task may no longer be sent: the task was completed (done, or
/// failed by its agent), so an answer would wake no one. Not a task failed because its
/// question could not be posted, or for want of a reply: sending it again is what revives it.
pub fn past_questions(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE id = ?1 AND (status = 'done' \
               OR (status = 'failed' AND substr(COALESCE(error, ''), 1, length(?2)) != ?2 \
                   AND COALESCE(error, '') != ?3)))",
        )?
        .query_row(params![id, QUESTION_NOT_POSTED, TIMED_OUT], |r| r.get(0))?)
}

/// The task's conversation now, with `item` added at its end (a run's final answer: replies
/// that came during the run stay in it).
pub fn conversation_with(
    conn: &Connection,
    id: &str,
    item: Value,
) -> Result<Option<String>, StoreError> {
    Ok(get(conn, id)?.map(|task| {
        let mut items = conversation::parse(&task.conversation);
        items.push(item);
        conversation::to_string(items)
    }))
}

/// The task's conversation now, with `run` (one that failed after its tools spoke) kept at its
/// end: the replies the run read are read there, those it did not come after it.
pub fn conversation_with_run(
    conn: &Connection,
    id: &str,
    run: Value,
) -> Result<Option<String>, StoreError> {
    Ok(get(conn, id)?.map(|task| {
        let mut items = conversation::parse(&task.conversation);
        items.push(run);
        let at = items.len() - 1;
        conversation::keep_run(&mut items, at);
        conversation::to_string(items)
    }))
}
