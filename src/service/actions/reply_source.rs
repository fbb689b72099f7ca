//! Which event, task and source thread a reply by hand is for, and why one cannot have one.

use super::{ReplyTo, cancelled_task};
use crate::app::AppState;
use crate::clock;
use crate::providers::SourceRef;
use crate::service::{ServiceError, events};
use crate::store::tasks;
use crate::store::webhooks::Standing;

/// Why a dry run over a built-in sample sets nothing in motion, later either.
pub(super) const SAMPLE_EVENT: &str = "this is a test_webhook dry run over a built-in sample: its \
     repository, issue or channel is the sample's, not yours, so nothing is sent or run on its \
     behalf; run test_webhook with your own `payload` (and run_actions: true to act on it)";

/// The task a reply is for, as [`resolve`] read it.
pub(super) struct ReplyTask {
    pub(super) id: String,
    pub(super) agent: String,
}

/// The event (and task) a reply is about.
pub(super) async fn resolve(
    state: &AppState,
    to: &ReplyTo,
) -> Result<(events::EventDetail, Option<ReplyTask>, Option<SourceRef>), ServiceError> {
    let (event_id, task_id, task_source) = match (&to.event_id, &to.task_id) {
        (Some(e), None) => (e.clone(), None, None),
        (given, Some(t)) => {
            let id = t.clone();
            let task = state
                .store
                .read(move |db| tasks::get(db, &id))
                .await?
                .ok_or_else(|| ServiceError::NotFound {
                    what: "task",
                    id: t.clone(),
                })?;
            let event_id = task.event_id.ok_or_else(|| {
                ServiceError::invalid("task_id", "this task has no event to reply on")
            })?;
            if given.as_ref().is_some_and(|e| *e != event_id) {
                return Err(ServiceError::invalid(
                    "task_id",
                    format!("task `{t}` belongs to event `{event_id}`; give one of the two"),
                ));
            }
            // Someone stopped it: what its agent still says for it would go out unasked (its
            // replies queued before the cancel were stopped with it).
            if task.status == "cancelled" {
                // Deleting its webhook cancels it, and refuses a reply on its event as well:
                // that is said then, not to reply with the event_id instead.
                let webhook = match &task.webhook_id {
                    Some(id) => {
                        let id = id.clone();
                        state
                            .store
                            .read(move |db| crate::store::webhooks::get(db, &id))
                            .await?
                    }
                    None => None,
                };
                let gone = match (&task.webhook_id, Standing::of(webhook, task.created_at)) {
                    (Some(id), Standing::Deleted | Standing::Replaced) => Some(id.as_str()),
                    _ => None,
                };
                return Err(cancelled_task(t, gone));
            }
            // The task's own thread: its event's, or the one its question started there.
            let source = task
                .source
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok());
            let task = ReplyTask {
                id: t.clone(),
                agent: task.agent,
            };
            (event_id, Some(task), source)
        }
        (None, None) => {
            return Err(ServiceError::invalid(
                "event_id",
                "give the event_id (or task_id) whose source to reply on",
            ));
        }
    };
    let event = events::get(state, &event_id).await?;
    if !event.summary.verified {
        return Err(unverified_event());
    }
    if crate::service::testing::is_sample(&event.headers) {
        return Err(ServiceError::invalid("event_id", SAMPLE_EVENT));
    }
    let webhook_id = event.summary.webhook_id.clone();
    let webhook = state
        .store
        .read(move |db| crate::store::webhooks::get(db, &webhook_id))
        .await?;
    let received = clock::parse(&event.summary.received_at).unwrap_or_default();
    match Standing::of(webhook, received) {
        Standing::Deleted => Err(deleted_webhook(&event.summary.webhook_id)),
        Standing::Replaced => Err(earlier_webhook(&event.summary.id)),
        Standing::Current(_) => Ok((event, task_id, task_source)),
    }
}

/// Why nothing is sent for an event that failed verification.
pub(super) fn unverified_event() -> ServiceError {
    ServiceError::invalid(
        "event_id",
        "this event failed verification; nothing is sent on its behalf",
    )
}

/// Why nothing is sent for an event whose webhook is gone.
pub(super) fn deleted_webhook(webhook_id: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "webhook `{webhook_id}` was deleted: its events stay in the log, but nothing more is \
         sent on their behalf"
    ))
}

/// Why a webhook does not act on an event that came to an earlier, deleted webhook of the same
/// id: its commands, credentials and source may be another provider's altogether.
pub(super) fn earlier_webhook(event_id: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "event `{event_id}` came to an earlier webhook of the same id, deleted since: the webhook \
         now at that id does not act on it"
    ))
}

/// The hint ending the error of a reply to an event with no source thread; the built-in
/// runner replaces it for an agent without that tool.
pub const USE_POST_MESSAGE: &str = "; use post_message instead";

/// The thread the event came from, refused under the field the reply named it by (a task's
/// id names its event's thread).
pub(super) fn source_of(
    event: &events::EventDetail,
    to: &ReplyTo,
) -> Result<SourceRef, ServiceError> {
    let whose = if to.field() == "task_id" {
        "this task's event"
    } else {
        "this event"
    };
    event
        .summary
        .source
        .clone()
        .and_then(|s| serde_json::from_value(s).ok())
        .ok_or_else(|| {
            ServiceError::invalid(
                to.field(),
                format!("{whose} has no source thread to reply on{USE_POST_MESSAGE}"),
            )
        })
}
