//! A question taken for dead, whose post its provider announces late, may have been answered
//! meanwhile: people read the post that was there while its task had given up on it. The
//! first answer stored on the task's thread since then is handed to the task, as it would
//! have been had the task been waiting.

use rusqlite::Connection;

use crate::providers::{self, Provider};
use crate::store::StoreError;
use crate::store::conversation::ReplyFrom;
use crate::store::events;
use crate::store::outbox::{self, OutboxRow};
use crate::store::tasks;

/// How many of the thread's events are looked through: a day of one thread's comments.
const LOOKED_AT: u32 = 200;

/// Hands the task (waiting again for `question`'s answer) the first answer given on its
/// thread since the question could be read; whether it got one (and is queued to run).
pub fn hand_over(
    conn: &Connection,
    task_id: &str,
    question: &OutboxRow,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(task) = tasks::get(conn, task_id)? else {
        return Ok(false);
    };
    let (Some(webhook_id), Some(source_key)) = (&task.webhook_id, &task.source_key) else {
        return Ok(false);
    };
    let since = outbox::first_unanswered_at(conn, &question.id)?.unwrap_or(question.created_at);
    let asked_in = match &task.event_id {
        Some(event_id) => events::message_of(conn, event_id)?,
        None => None,
    };
    let stored = events::on_thread_between(conn, webhook_id, source_key, since, now, LOOKED_AT)?;
    for event in stored {
        if task.event_id.as_deref() == Some(event.id.as_str()) {
            continue;
        }
        let Ok(provider) = event.provider.parse::<Provider>() else {
            continue;
        };
        let Ok(payload) = providers::parse_payload(provider, &event.body) else {
            continue;
        };
        let event_type = event.event_type.as_deref().unwrap_or_default();
        let Some(reply) = super::ingest::reply_in(provider, event_type, &payload, Some(source_key))
        else {
            continue;
        };
        // Taken already (by another task, or as the other delivery of a message taken), or
        // one that set an agent of its own to work when no one waited: it is that agent's.
        if tasks::answered_by(conn, webhook_id, &event.id)?
            || !tasks::for_event(conn, &event.id)?.is_empty()
        {
            continue;
        }
        if let Some(message) = &reply.message
            && (asked_in.as_deref() == Some(message.as_str())
                || events::twin_answered(conn, webhook_id, source_key, message, &event.id)?)
        {
            continue;
        }
        // Kept (the task failed again meanwhile) answered nothing now, as on arrival.
        let taken = matches!(
            tasks::attach_reply(
                conn,
                task_id,
                ReplyFrom::Event(&event.id),
                &reply.text,
                reply.author.as_deref(),
                now
            )?,
            tasks::Attached::Resumed | tasks::Attached::Joined
        );
        if taken {
            events::settle(conn, &event.id)?;
        }
        return Ok(taken);
    }
    Ok(false)
}
