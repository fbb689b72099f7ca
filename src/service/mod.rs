//! The service layer: every operation on webhooks, commands and events, once. The REST API
//! and the MCP tools are thin doors onto these functions, so a rule lives in one place.

pub mod actions;
pub mod answer;
pub mod audit;
pub mod auth;
pub mod commands;
pub mod echo;
pub mod events;
pub mod field_error;
pub mod hooks;
pub mod ingest;
mod late_answer;
pub mod limits;
pub mod planning;
pub mod record;
pub mod rejected;
pub mod rekey;
pub mod retention;
pub mod seal_plain;
pub mod sealing;
pub mod sending;
pub mod setup;
pub mod slack_channels;
pub mod tasks;
pub mod testing;
pub mod unread;
pub mod watch;
pub mod webhooks;

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
            StoreError::TaskCancelled(task_id) => actions::cancelled_task(&task_id),
            other => ServiceError::Store(other),
        }
    }
}

impl ServiceError {
    /// The refusal of a change made to a copy of `what` older than it is now (`updated_at`
    /// given back, and another change since): made, it would undo a change the caller never
    /// saw.
    pub fn stale(what: &str, edited_from: i64, now: i64) -> Self {
        let (edited_from, now) = (
            crate::clock::rfc3339(edited_from),
            crate::clock::rfc3339(now),
        );
        ServiceError::ConflictOn {
            field: "updated_at",
            message: format!(
                "{what} was changed at {now}, after the copy this update was made from \
                 (updated_at {edited_from}); read it again, make the change on that, and send \
                 it (or leave updated_at out to change it whatever its version)"
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

/// Where a refusal is read: its hints name the tools of MCP, or the routes of `/api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Mcp,
    Rest,
}

/// The refusal of an id that names nothing of its kind, with a hint read at `door`.
pub fn not_found(what: &str, id: &str, door: Door) -> String {
    format!(
        "{what} `{}` not found{}",
        quoted(&shown_id(id)),
        other_kind(what, id, door)
    )
}

/// What takes and what lists a kind of id, over MCP and over REST.
struct Kind {
    prefix: &'static str,
    kind: &'static str,
    /// The kind with its article.
    article: &'static str,
    takes: [&'static str; 2],
    lists: [&'static str; 2],
}

const KINDS: [Kind; 5] = [
    Kind {
        prefix: "evt_",
        kind: "event",
        article: "an event",
        takes: [
            "get_event takes it",
            "/api/events/{id} and its replay, comment, ask and respond routes take it",
        ],
        lists: [
            "list_events lists them, one webhook's by its webhook_id",
            "GET /api/events lists them, one webhook's with ?webhook_id=",
        ],
    },
    Kind {
        prefix: "task_",
        kind: "task",
        article: "a task",
        takes: [
            "list_tasks and claim_task take it",
            "/api/tasks/{id} and its answer, cancel and complete routes take it",
        ],
        lists: [
            "list_tasks lists them, one webhook's by its webhook_id",
            "GET /api/tasks lists them, one webhook's with ?webhook_id=",
        ],
    },
    Kind {
        prefix: "act_",
        kind: "action",
        article: "an action",
        takes: [
            "get_action, cancel_action and retry_action take it",
            "/api/actions/{id} and its retry and cancel routes take it",
        ],
        lists: [
            "list_actions lists them, one webhook's by its webhook_id",
            "GET /api/actions lists them, one webhook's with ?webhook_id=",
        ],
    },
    Kind {
        prefix: "cmd_",
        kind: "command",
        article: "a command",
        takes: [
            "update_command and remove_command take it, with its webhook_id",
            "/api/webhooks/{webhook_id}/commands/{id} takes it",
        ],
        lists: [
            "get_webhook lists a webhook's",
            "GET /api/webhooks/{webhook_id}/commands lists a webhook's",
        ],
    },
    Kind {
        prefix: "key_",
        kind: "API key",
        article: "an API key",
        takes: ["the /api/keys routes take it"; 2],
        lists: ["GET /api/keys lists them"; 2],
    },
];

/// Ids carry their kind as a prefix (`evt_…`); when a model passes one kind where another is
/// asked for, the error says which tool (or route) takes it.
fn other_kind(asked: &str, id: &str, door: Door) -> String {
    let at = door as usize;
    let trimmed = id.trim();
    if trimmed != id && !trimmed.is_empty() {
        return " (it has spaces around it, and ids hold none: give it without them)".into();
    }
    let of_other_kind = KINDS
        .iter()
        .find(|k| id.starts_with(k.prefix) && k.kind != asked)
        .map(|k| {
            let (prefix, article, takes) = (k.prefix, k.article, k.takes[at]);
            format!(" (`{prefix}…` is the id of {article}, not of the {asked} asked for: {takes})")
        });
    match of_other_kind {
        Some(said) => said,
        None if asked == "webhook" => not_a_webhook_id(id, door),
        // Not of the kind asked for at all: most often a webhook's id given in its place.
        None => KINDS
            .iter()
            .find(|k| k.kind == asked && !id.starts_with(k.prefix))
            .map(|k| {
                let (prefix, article, lists) = (k.prefix, k.article, k.lists[at]);
                format!(" (the id of {article} begins with `{prefix}`: {lists})")
            })
            .unwrap_or_default(),
    }
}

/// An id as a refusal repeats it: a URL given in its place (a receive URL with `?token=`)
/// without its credentials.
fn shown_id(id: &str) -> std::borrow::Cow<'_, str> {
    if id.contains("://") {
        crate::actions::mask_url_credentials(id).into()
    } else if id.contains(['/', '?', '@']) {
        // A URL written without its scheme (`hooks.example.com/webhooks/…?token=…`).
        let masked = crate::actions::mask_url_credentials(&format!("http://{id}"));
        masked
            .strip_prefix("http://")
            .unwrap_or(&masked)
            .to_string()
            .into()
    } else {
        id.into()
    }
}

/// What a model passed as a webhook id that is not one: its receive URL, or its name.
fn not_a_webhook_id(given: &str, door: Door) -> String {
    let lists = match door {
        Door::Mcp => "list_webhooks lists",
        Door::Rest => "GET /api/webhooks lists",
    };
    let given = given.trim();
    if let Some((_, after)) = given.split_once("/webhooks/") {
        // `…/webhooks/{provider}/{id}`, perhaps with `?token=…` after it (not repeated).
        let id = after
            .split(['?', '#'])
            .next()
            .and_then(|path| path.split('/').nth(1))
            .filter(|id| !id.is_empty());
        return match id {
            Some(id) => format!(
                " (that is a receive URL; its webhook's id is its last part: `{}`)",
                quoted(id)
            ),
            None => format!(" (that is a receive URL, not an id: {lists} the ids)"),
        };
    }
    let id_like = !given.is_empty()
        && given
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if id_like {
        format!(" (ids match case; {lists} each id beside its name)")
    } else {
        format!(
            " (not an id, which holds only letters, digits, `-` and `_`: give the webhook's id, \
             not its name; {lists} each id beside its name)"
        )
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
    fn a_long_id_is_cut_short_in_not_found() {
        let long = "x".repeat(3_000_000);
        let missing = ServiceError::NotFound {
            what: "webhook",
            id: long,
        };
        // With the hint on finding the id.
        assert!(missing.to_string().len() < 250);
    }

    #[test]
    fn a_webhook_asked_for_by_its_url_or_name_is_answered_with_how_to_find_its_id() {
        let said = |id: &str| {
            ServiceError::NotFound {
                what: "webhook",
                id: id.into(),
            }
            .to_string()
        };
        let cases = [
            (
                "https://hooks.example.com/webhooks/github/gh-issues",
                "its last part: `gh-issues`",
            ),
            (
                "http://h/webhooks/openwebui/owui?token=SECRET",
                "its last part: `owui`",
            ),
            (
                "hooks.example.com/webhooks/custom/c?token=SECRET",
                "its last part: `c`",
            ),
            ("https://h/webhooks/github", "list_webhooks lists the ids"),
            ("GitHub issues", "not its name"),
            ("GH-ISSUES", "ids match case"),
            ("evt_0192", "get_event takes it"),
        ];
        for (given, hint) in cases {
            let message = said(given);
            assert!(message.contains(hint), "{given}: {message}");
            assert!(!message.contains("SECRET"), "{message}");
        }
        let event = |id: &str| {
            ServiceError::NotFound {
                what: "event",
                id: id.into(),
            }
            .to_string()
        };
        assert_eq!(event("evt_0193"), "event `evt_0193` not found");
        assert_eq!(
            event("github-issues"),
            "event `github-issues` not found (the id of an event begins with `evt_`: \
             list_events lists them, one webhook's by its webhook_id)"
        );
        for spaced in [" gh-issues ", "evt_0193\n"] {
            assert!(event(spaced).contains("spaces around it"), "{spaced:?}");
            assert!(said(spaced).contains("spaces around it"), "{spaced:?}");
        }
    }

    #[test]
    fn a_not_found_read_over_rest_names_routes_where_mcp_names_tools() {
        let cases = [
            (
                "webhook",
                "GitHub issues",
                "list_webhooks lists",
                "GET /api/webhooks lists",
            ),
            (
                "webhook",
                "evt_1",
                "get_event takes",
                "/api/events/{id} and its",
            ),
            (
                "event",
                "github-issues",
                "list_events lists",
                "GET /api/events lists",
            ),
            (
                "event",
                "task_1",
                "claim_task take",
                "/api/tasks/{id} and its",
            ),
            (
                "task",
                "act_1",
                "retry_action take",
                "/api/actions/{id} and its",
            ),
            (
                "action",
                "cmd_1",
                "update_command",
                "/api/webhooks/{webhook_id}/commands/{id}",
            ),
        ];
        for (what, id, mcp, rest) in cases {
            let (over_mcp, over_rest) = (
                not_found(what, id, Door::Mcp),
                not_found(what, id, Door::Rest),
            );
            assert!(over_mcp.contains(mcp), "{over_mcp}");
            assert!(over_rest.contains(rest), "{over_rest}");
            for tool in ["list_", "get_", "claim_", "update_", "retry_"] {
                assert!(!over_rest.contains(tool), "{over_rest}");
            }
        }
    }

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
