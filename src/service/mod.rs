//! The service layer: every operation on webhooks, commands and events, once. The REST API
//! and the MCP tools are thin doors onto these functions, so a rule lives in one place.

pub mod actions;
pub mod answer;
pub mod audit;
pub mod auth;
pub mod commands;
pub mod config_dir;
pub mod echo;
pub mod events;
pub mod field_error;
pub mod hooks;
pub mod ingest;
mod late_answer;
pub mod limits;
mod not_found;
pub mod planning;
pub mod record;
pub mod rejected;
pub mod rekey;
pub mod retention;
pub mod schedules;
pub mod seal_plain;
pub mod sealing;
pub mod sending;
pub mod setup;
pub mod slack_channels;
pub mod task_sends;
pub mod tasks;
pub mod testing;
pub mod unread;
pub mod watch;
pub mod webhooks;

pub use not_found::{Door, not_found};

use crate::store::StoreError;

/// A failure a caller can act on, or an internal one it cannot.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input is wrong; `field` names the part to fix.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// A required field is absent; its full path. Said as REST's JSON bodies say one serde
    /// finds missing, so a field only the service requires (a command's `trigger`, optional
    /// in an update) is refused in the same words.
    #[error("missing field `{0}`")]
    Missing(String),
    #[error("{}", not_found(what, .id, Door::Mcp))]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    /// A conflict with what exists that one input caused (an id or a name already taken).
    #[error("{message}")]
    ConflictOn {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            // The caller's own request, refused in the write: not the store's fault.
            StoreError::TaskCancelled(task_id) => actions::cancelled_task(&task_id, None),
            other => ServiceError::Store(other),
        }
    }
}

impl ServiceError {
    /// The refusal of a change made to a copy of `what` older than it is now (`updated_at`
    /// given back, and another change since): made, it would undo a change the caller never
    /// saw.
    pub fn stale(what: &str, edited_from: i64, now: i64) -> Self {
        let newer = edited_from > now;
        let (edited_from, now) = (
            crate::clock::rfc3339(edited_from),
            crate::clock::rfc3339(now),
        );
        let told = if newer {
            format!(
                "updated_at {edited_from} is no version {what} had: it was last changed at {now}"
            )
        } else {
            format!(
                "{what} was changed at {now}, after the copy this update was made from \
                 (updated_at {edited_from})"
            )
        };
        ServiceError::ConflictOn {
            field: "updated_at",
            message: format!(
                "{told}; read it again, make the change on that, and send it (or leave \
                 updated_at out to change it whatever its version)"
            ),
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

pub use crate::quote::quoted;

/// Prefix + UUIDv7 in simple form: unique, URL-safe, and sorting by time of creation.
pub fn new_id(prefix: &str) -> String {
    new_id_at(prefix).0
}

/// A new id and the unix milliseconds it carries. Events take their `received_at` from their
/// id, so the log's order by id and its times can never disagree.
pub fn new_id_at(prefix: &str) -> (String, i64) {
    let id = uuid::Uuid::now_v7();
    let ms = uuid_ms(&id).unwrap_or_else(crate::clock::now_ms);
    (format!("{prefix}_{}", id.simple()), ms)
}

fn uuid_ms(id: &uuid::Uuid) -> Option<i64> {
    id.get_timestamp().map(|t| {
        let (secs, nanos) = t.to_unix();
        (secs * 1000 + u64::from(nanos) / 1_000_000) as i64
    })
}

/// An empty listing filtered by a webhook id that names no webhook is a mistake (a name given
/// for the id, a typo), not "nothing happened": it is an error saying so. A deleted webhook
/// whose events are still kept is known by them, whatever the other filters leave.
pub async fn empty_for_a_known_webhook(
    state: &crate::app::AppState,
    webhook_id: Option<&str>,
    found_none: bool,
) -> Result<(), ServiceError> {
    match webhook_id.filter(|_| found_none) {
        Some(id) => known_webhook(state, id).await,
        None => Ok(()),
    }
}

/// `NotFound` unless `id` names a webhook or a deleted one whose events are still kept (the
/// log still shows them, so they are still asked about).
pub async fn known_webhook(state: &crate::app::AppState, id: &str) -> Result<(), ServiceError> {
    let key = id.to_string();
    let known = state
        .store
        .read(move |db| {
            Ok(crate::store::webhooks::get(db, &key)?.is_some()
                || crate::store::events::any_of_webhook(db, &key)?)
        })
        .await?;
    if known {
        Ok(())
    } else {
        Err(ServiceError::NotFound {
            what: "webhook",
            id: id.to_string(),
        })
    }
}

/// What a page size out of range is told.
pub const PAGE_LIMIT_RANGE: &str = "limit must be between 1 and 200";

/// A list's page size as asked for (`limit`), 1-200, 50 when not given.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ServiceError> {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ServiceError::invalid("limit", PAGE_LIMIT_RANGE));
    }
    Ok(limit)
}

/// A page cursor checked: the last id of the previous page, `{prefix}_` and 32 hex digits as
/// [`new_id_at`] makes them. Anything else would compare as a plain string and quietly give
/// the wrong page.
pub fn page_cursor(cursor: Option<String>, prefix: &str) -> Result<Option<String>, ServiceError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let hex = cursor
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'));
    match hex {
        Some(hex)
            if hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(Some(cursor))
        }
        _ => Err(not_a_cursor(&cursor)),
    }
}

/// The refusal of a page cursor no page gave.
pub fn not_a_cursor(cursor: &str) -> ServiceError {
    ServiceError::invalid(
        "cursor",
        format!(
            "`{}` is not a cursor: pass the previous page's `next_cursor` unchanged",
            quoted(cursor)
        ),
    )
}

/// Something a watcher (an MCP client subscribed to a resource) may want to hear about.
#[derive(Debug, Clone)]
pub enum Change {
    /// An event was stored (or its state changed).
    Event {
        webhook_id: String,
        event_id: String,
    },
}

impl Change {
    /// The MCP resources this change updates.
    pub fn resource_uris(&self) -> Vec<String> {
        match self {
            Change::Event {
                webhook_id,
                event_id,
            } => vec![
                format!("webhook://{webhook_id}/events"),
                format!("event://{event_id}"),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_id_of_the_listed_kind_is_a_cursor() {
        let (id, _) = new_id_at("evt");
        assert_eq!(
            page_cursor(Some(id.clone()), "evt").unwrap(),
            Some(id.clone())
        );
        assert_eq!(page_cursor(None, "evt").unwrap(), None);
        for bad in [
            "garbage",
            "",
            "2026",
            "evt_zzzz",
            "evt_",
            &id.to_uppercase(),
            &format!("{id}0"),
            &id.replacen("evt", "task", 1),
        ] {
            let refused = page_cursor(Some(bad.to_string()), "evt").unwrap_err();
            assert!(
                refused.to_string().contains("next_cursor"),
                "{bad}: {refused}"
            );
        }
    }
}
