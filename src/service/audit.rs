//! The audit log of management changes: who (the API key's name, and the Open WebUI user it
//! was used for when Open WebUI says: see `http::forwarded_user`), from where (the Open WebUI
//! chat and message, when it says), what (`POST /api/webhooks`, `mcp create_webhook`), on
//! what, when, and how it went. REST calls and refused MCP calls are written by the API key
//! middleware; MCP tool calls that ran, by the MCP server, which knows the tool's outcome (as
//! the key's name, or `stdio`); details pass through [`mask`] first, so no secret reaches the
//! log.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ServiceError;
use crate::app::AppState;
use crate::clock;
use crate::providers::MASK;
use crate::store::audit::{self as rows, AuditFilter, AuditRow, AuditUserRow, NewAudit};
use crate::store::audit_order::{self, EntryHead, Reservation};

mod mask;
use mask::{DETAIL, field_secrets, mask_field};
pub use mask::{is_secret_field, mask};

/// Details larger than this (as JSON text) are kept with their long strings cut (see [`fitted`]).
const MAX_DETAIL_BYTES: usize = 64 * 1024;

/// Longest target (and action) kept: ids are far shorter, and a refused call naming a megabyte-long one
/// (a read key may make any number of them) must not grow the log by as much.
const MAX_TARGET_BYTES: usize = 300;

/// Something that changed, or was attempted, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// The name of the API key that asked, or `stdio`.
    pub actor: String,
    /// `POST /api/webhooks`, `mcp create_webhook`, ...
    pub action: String,
    /// The path, or the id a tool call names.
    pub target: Option<String>,
    /// The HTTP status of the answer; none over stdio.
    pub status: Option<u16>,
    /// The request body or tool arguments; masked before it is stored.
    pub detail: Option<Value>,
    /// How it went (see [`Outcome`]).
    pub outcome: Outcome,
    /// The Open WebUI user the key was used for, when the request named one.
    pub user: Option<AuditUser>,
    /// The Open WebUI chat and message it was asked from, as far as the request named them.
    pub chat: AuditChat,
}

/// The Open WebUI user a change was made for. Open WebUI calls with one key per connection
/// whoever is chatting; with `ENABLE_FORWARD_USER_INFO_HEADERS` it says who in each request.
/// Put into the request's extensions by the API key check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditUser {
    /// Open WebUI's id of the user.
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// `user`, `admin`, ...
    pub role: Option<String>,
    /// Named by a token signed with the secret shared with Open WebUI; otherwise by plain
    /// headers, which whoever holds the key can write.
    pub verified: bool,
}

/// The Open WebUI chat and message a change was asked from: with
/// `ENABLE_FORWARD_USER_INFO_HEADERS` Open WebUI names them in each request of a chat turn.
/// It never signs them, not even when a token names the user: they are the caller's word.
/// Put into the request's extensions by the API key check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditChat {
    /// Open WebUI's id of the chat (it is at `<WEBUI_URL>/c/<chat_id>`).
    pub chat_id: Option<String>,
    /// Open WebUI's id of the message being answered.
    pub message_id: Option<String>,
}

/// How a recorded change went. For REST the status says it too; an MCP tool call is answered
/// 200 whether the tool succeeded or not, so only this tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Why it failed, as the caller was told.
    Error(String),
}

impl Outcome {
    /// Longest reason kept; the caller got it in full.
    const MAX_REASON: usize = 500;

    /// The outcome of a REST call with this HTTP status.
    pub fn of_status(status: u16) -> Outcome {
        if status < 400 {
            Outcome::Ok
        } else {
            Outcome::Error(format!("HTTP {status}"))
        }
    }

    fn stored(&self) -> String {
        match self {
            Outcome::Ok => "ok".to_string(),
            Outcome::Error(why) => format!(
                "error: {}",
                &why[..why.floor_char_boundary(Self::MAX_REASON)]
            ),
        }
    }
}

/// Filters for listing the audit log; all optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Page size, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only entries by the key with this name.
    pub actor: Option<String>,
    /// Only entries for the Open WebUI user with this id or email address (exactly).
    pub user: Option<String>,
    /// Only entries asked from the Open WebUI chat with this id (exactly).
    pub chat: Option<String>,
}

/// One page of the audit log, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditOut>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditOut {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub status: Option<i64>,
    pub detail: Option<Value>,
    /// `ok`, or `error: ` and why; `pending` while a stored change is being answered (for
    /// good if the server stopped then); null on entries made before outcomes were recorded.
    pub outcome: Option<String>,
    /// The Open WebUI user it was made for; null when the request named none.
    pub user: Option<AuditUser>,
    /// The Open WebUI chat and message it was asked from, as the caller said (never
    /// verified); null when the request named none.
    pub chat_id: Option<String>,
    pub message_id: Option<String>,
}

/// The id a tool call is about, the most specific it names: its `action_id`, `command_id`,
/// `event_id`, `task_id`, `webhook_id` or `id` (a command's update names it, as its creation
/// does, not its webhook).
pub fn tool_target(arguments: &Value) -> Option<String> {
    [
        "action_id",
        "command_id",
        "event_id",
        "task_id",
        "webhook_id",
        "id",
    ]
    .iter()
    .find_map(|field| match arguments.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    })
}

/// Masks and stores an entry. A failure is logged, never returned: the audit log must not
/// fail the request it describes.
pub async fn record(state: &AppState, mut entry: AuditEntry) {
    if let Some(detail) = entry.detail.as_mut() {
        let why = match &mut entry.outcome {
            Outcome::Error(why) => Some(why),
            Outcome::Ok => None,
        };
        mask_entry(detail, why);
    }
    let at = clock::now_ms();
    let detail = entry.detail.as_ref().map(fitted);
    // The action holds the path too (`DELETE /api/webhooks/{id}`).
    for text in entry.target.iter_mut().chain([&mut entry.action]) {
        bound(text);
    }
    let action = entry.action.clone();
    let outcome = entry.outcome.stored();
    let user = entry.user.map(user_row);
    // The row the change's first write reserved, if it made one: the entry stays where the
    // change was stored among the others.
    let reserved = audit_order::close();
    let written = state
        .store
        .write(move |db| {
            let new = NewAudit {
                at,
                actor: &entry.actor,
                action: &entry.action,
                target: entry.target.as_deref(),
                status: entry.status.map(i64::from),
                detail: detail.as_deref(),
                outcome: &outcome,
                user: user.as_ref(),
                chat_id: entry.chat.chat_id.as_deref(),
                message_id: entry.chat.message_id.as_deref(),
            };
            match reserved {
                Some(row) if audit_order::complete(db, row, &new)? => Ok(()),
                _ => rows::insert(db, &new).map(drop),
            }
        })
        .await;
    if let Err(e) = written {
        tracing::error!(error = %e, action = %action, "could not write the audit log");
    }
}

/// Masks a detail and, in `why` (a failure's reason), the secrets of it. Entries are masked
/// so when written, and again when read: builds before this masking stored some as given
/// (a channel's `url`), and masking a masked entry changes nothing.
fn mask_entry(detail: &mut Value, why: Option<&mut String>) {
    // An error can quote a value it refused (serde does: "invalid type: integer `1234`"), so
    // the secrets among the arguments are masked in the outcome too.
    // (A value of a few characters, a wrong-typed `3`, is no secret, and replacing it
    // everywhere would garble the message.)
    if let Some(why) = why {
        let mut secrets = Vec::new();
        field_secrets(DETAIL, detail, &mut secrets);
        for secret in secrets.iter().filter(|s| s.len() >= 6) {
            *why = why.replace(secret.as_str(), MASK);
        }
    }
    mask_field(DETAIL, detail);
}

/// Runs `change`, a management change that `entry` (its outcome and answer not known yet) will
/// describe, so that the change's first write reserves the entry's place in the log (see
/// `store::audit_order`); [`record`], called inside it, completes that entry.
pub async fn audited<F: std::future::Future>(head: &AuditEntry, change: F) -> F::Output {
    let mut action = head.action.clone();
    let mut target = head.target.clone();
    for text in target.iter_mut().chain([&mut action]) {
        bound(text);
    }
    let reservation = Reservation::new(EntryHead {
        actor: head.actor.clone(),
        action,
        target,
        user: head.user.clone().map(user_row),
        chat_id: head.chat.chat_id.clone(),
        message_id: head.chat.message_id.clone(),
    });
    audit_order::audited(reservation, change).await
}

/// A detail as stored: whole when it fits in [`MAX_DETAIL_BYTES`]; else with its long strings
/// (a template, a prompt) cut to their start, so what was changed (the ids, triggers and
/// actions of a create's commands) stays readable; else only a note of its size.
fn fitted(detail: &Value) -> String {
    let text = detail.to_string();
    if text.len() <= MAX_DETAIL_BYTES {
        return text;
    }
    // Shorter and shorter, so that many middling strings (a hundred commands' templates) give
    // way before the ids and triggers do.
    for keep in KEPT_STRING_BYTES {
        let mut shortened = detail.clone();
        cut_long_strings(&mut shortened, keep);
        let short = shortened.to_string();
        if short.len() <= MAX_DETAIL_BYTES {
            return short;
        }
    }
    serde_json::json!({"omitted": "larger than the audit log keeps", "bytes": text.len()})
        .to_string()
}

/// How much of each of its strings a detail too large to keep whole keeps, tried in turn.
const KEPT_STRING_BYTES: [usize; 3] = [512, 128, 32];

fn cut_long_strings(value: &mut Value, keep: usize) {
    match value {
        Value::String(s) if s.len() > keep => {
            let whole = s.len();
            s.truncate(s.floor_char_boundary(keep));
            s.push_str(&format!("… ({whole} bytes in all; the rest is not kept)"));
        }
        Value::Array(items) => items.iter_mut().for_each(|i| cut_long_strings(i, keep)),
        Value::Object(map) => map.values_mut().for_each(|v| cut_long_strings(v, keep)),
        _ => {}
    }
}

/// `text` within [`MAX_TARGET_BYTES`], ending in an ellipsis when cut.
fn bound(text: &mut String) {
    if text.len() > MAX_TARGET_BYTES {
        text.truncate(text.floor_char_boundary(MAX_TARGET_BYTES));
        text.push('…');
    }
}

fn user_row(u: AuditUser) -> AuditUserRow {
    AuditUserRow {
        id: u.id,
        name: u.name,
        email: u.email,
        role: u.role,
        verified: u.verified,
    }
}

/// A page of the audit log, newest first.
pub async fn list(state: &AppState, query: AuditQuery) -> Result<AuditPage, ServiceError> {
    let limit = super::page_limit(query.limit)?;
    let before_id = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                ServiceError::invalid("cursor", "not a cursor: pass a `next_cursor` unchanged")
            })
        })
        .transpose()?;
    let filter = AuditFilter {
        actor: query.actor,
        user: query.user,
        chat: query.chat,
        before_id,
        // One extra row tells whether another page exists.
        limit: limit + 1,
    };
    let mut found = state.store.read(move |db| rows::list(db, &filter)).await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let next_cursor = more
        .then(|| found.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(AuditPage {
        entries: found.into_iter().map(out).collect(),
        next_cursor,
    })
}

fn out(row: AuditRow) -> AuditOut {
    let mut outcome = row.outcome;
    let detail = row.detail.map(|d| {
        let mut detail = serde_json::from_str(&d).unwrap_or(Value::String(d));
        let why = outcome.as_mut().filter(|o| o.starts_with("error: "));
        mask_entry(&mut detail, why);
        detail
    });
    AuditOut {
        id: row.id,
        at: clock::rfc3339(row.at),
        actor: row.actor,
        action: row.action,
        target: row.target,
        status: row.status,
        detail,
        outcome,
        user: row.user.map(|u| AuditUser {
            id: u.id,
            name: u.name,
            email: u.email,
            role: u.role,
            verified: u.verified,
        }),
        chat_id: row.chat_id,
        message_id: row.message_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcomes_are_stored_as_ok_or_a_bounded_reason() {
        let long = "é".repeat(400); // 800 bytes, two per char
        let cases = [
            (Outcome::Ok, "ok".to_string()),
            (Outcome::of_status(201), "ok".to_string()),
            (Outcome::of_status(404), "error: HTTP 404".to_string()),
            (
                Outcome::Error("no such webhook".into()),
                "error: no such webhook".into(),
            ),
            (Outcome::Error(long), format!("error: {}", "é".repeat(250))),
        ];
        for (outcome, stored) in cases {
            assert_eq!(outcome.stored(), stored, "{outcome:?}");
        }
    }

    #[test]
    fn a_detail_too_large_keeps_its_shape_with_long_strings_cut_or_else_only_its_size() {
        let small = json!({"id": "gh", "commands": [{"trigger": "issues.opened"}]});
        assert_eq!(fitted(&small), small.to_string());

        let template = "é".repeat(40_000); // 80,000 bytes
        let big = json!({"id": "gh", "commands": [
            {"trigger": "issues.opened", "action": "comment", "template": template},
        ]});
        let kept: Value = serde_json::from_str(&fitted(&big)).unwrap();
        assert_eq!(kept["id"], "gh");
        assert_eq!(kept["commands"][0]["trigger"], "issues.opened");
        assert_eq!(kept["commands"][0]["action"], "comment");
        let cut = kept["commands"][0]["template"].as_str().unwrap();
        assert!(cut.starts_with(&"é".repeat(256)), "{cut:.40}");
        assert!(
            cut.ends_with("… (80000 bytes in all; the rest is not kept)"),
            "{cut}"
        );

        // Many middling strings are cut shorter: the ids and triggers stay.
        let commands: Vec<Value> = (0..200)
            .map(|i| json!({"trigger": format!("issues.t{i}"), "template": "x".repeat(400)}))
            .collect();
        let many = json!({"id": "gh", "commands": commands});
        let kept: Value = serde_json::from_str(&fitted(&many)).unwrap();
        assert_eq!(kept["commands"][199]["trigger"], "issues.t199");
        assert!(kept.to_string().len() <= MAX_DETAIL_BYTES);

        // Many short strings cannot be cut down: only the size is kept.
        let many: Vec<String> = (0..20_000).map(|i| format!("event.{i}")).collect();
        let wide = json!({"triggers": many});
        let kept: Value = serde_json::from_str(&fitted(&wide)).unwrap();
        assert_eq!(kept["omitted"], "larger than the audit log keeps");
        assert_eq!(kept["bytes"], wide.to_string().len());
    }

    #[test]
    fn the_target_is_the_id_the_arguments_name() {
        assert_eq!(
            tool_target(&json!({"webhook_id": "gh", "command_id": "c1"})),
            Some("c1".into())
        );
        assert_eq!(
            tool_target(&json!({"webhook_id": "gh", "secret": "s"})),
            Some("gh".into())
        );
        assert_eq!(
            tool_target(&json!({"task_id": "tsk_1"})),
            Some("tsk_1".into())
        );
        assert_eq!(
            tool_target(&json!({"action_id": "act_1"})),
            Some("act_1".into())
        );
        assert_eq!(tool_target(&json!({"name": "x"})), None);
        assert_eq!(tool_target(&Value::Null), None);
    }
}
