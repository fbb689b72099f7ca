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

/// Details larger than this (as JSON text) are replaced by a note of their size.
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

/// Whether a field with this name holds a secret: `secret`, `token`, `password`, `api_key`,
/// `authorization`, and any name ending in `_token`, `_secret`, `_key` or `_password` (case
/// and `-`/`_` ignored), or in camelCase `Token`, `Secret` or `Password` (`accessToken`,
/// `clientSecret`). A bare `key` is not one, nor a camelCase `…Key` (`issueKey`, `sortKey`):
/// payloads name things by them (a Jira issue's `PROJ-7`, its project's `PROJ`), and none of
/// this service's secrets is called that.
pub fn is_secret_field(name: &str) -> bool {
    let camel = ["Token", "Secret", "Password"].iter().any(|word| {
        name.strip_suffix(word).is_some_and(|rest| {
            rest.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
    });
    if camel {
        return true;
    }
    let name = name.to_ascii_lowercase().replace('-', "_");
    matches!(
        name.as_str(),
        "secret" | "token" | "password" | "api_key" | "apikey" | "authorization"
    ) || ["_token", "_secret", "_key", "_password"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// A field holding a URL (a `target` may be given as just its URL).
fn is_url_field(name: &str) -> bool {
    name == "url" || name == "target"
}

/// An object that holds secrets under names of the sender's choosing (`credentials`, a
/// `target` with its `secret`): a misspelt name (`github_tokn`, `secrett`) or an unknown one
/// (a target's `headers`) is refused, but recorded as sent, so every value in it is taken
/// for a secret but those of fields known to hold none ([`is_plain_in_holder`]).
fn is_secret_holder(name: &str) -> bool {
    matches!(name, "credentials" | "target")
}

/// The fields of a `credentials` or `target` that hold no secret: its URLs (masked as URLs),
/// a target's `kind` and `chat_id`, and the Jira account's email.
fn is_plain_in_holder(name: &str) -> bool {
    is_url_field(name)
        || name.ends_with("_url")
        || matches!(name, "kind" | "chat_id" | "jira_email")
}

/// Arguments that take an object, which a model may write out as JSON text: such text that is
/// no JSON (Python's quotes, a brace missing) is refused, but may hold the secrets the object
/// would have, so it is recorded masked whole.
fn is_object_argument(name: &str) -> bool {
    matches!(
        name,
        "options" | "payload" | "conditions" | "headers" | "arguments"
    ) || is_secret_holder(name)
}

/// Text that reads as a JSON object or list written out.
fn json_like(text: &str) -> bool {
    text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .starts_with(['{', '['])
}

/// The JSON object or list an object argument's text writes out; none for any other text
/// (YAML, Python's quotes, a brace missing), which the call refused.
fn object_in_text(text: &str) -> Option<Value> {
    let text = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(|v| v.is_object() || v.is_array())
}

/// The API keys of this service's (`whk_…`) a text holds, whatever field it was given in
/// (`POST /api/keys` takes none, but one sent is recorded as sent).
fn api_keys_in(text: &str) -> Vec<&str> {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    text.match_indices("whk_")
        .filter(|(at, _)| !text[..*at].ends_with(is_key_char))
        .map(|(at, _)| {
            let end = text[at..]
                .find(|c: char| !is_key_char(c))
                .map_or(text.len(), |n| at + n);
            &text[at..end]
        })
        .filter(|key| key.len() >= "whk_".len() + 8)
        .collect()
}

/// No secret given: a null or empty value (one generated, or signing stopped), shown so, not
/// as a mask that reads as a secret chosen.
fn none_given(field: &Value) -> bool {
    field.is_null() || field.as_str() == Some("")
}

/// Replaces the value of every secret field (see [`is_secret_field`]), at any depth, with
/// `********`; so every value of a `credentials` or `target` but its plain fields, and
/// channel URLs' secret parts.
pub fn mask(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, field) in map.iter_mut() {
                mask_field(name, field);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        // Models may send an object written out as a JSON string (MCP takes that too), and the
        // audit records the arguments as sent.
        Value::String(text) if json_like(text) => {
            if let Ok(mut inner) = serde_json::from_str::<Value>(text) {
                mask(&mut inner);
                *value = Value::String(inner.to_string());
            }
        }
        Value::String(text) if !api_keys_in(text).is_empty() => {
            let mut masked = text.clone();
            for key in api_keys_in(text) {
                masked = masked.replace(key, MASK);
            }
            *value = Value::String(masked);
        }
        _ => {}
    }
}

fn mask_field(name: &str, field: &mut Value) {
    let masked = || Value::String(MASK.to_string());
    match field {
        _ if none_given(field) => {}
        _ if is_secret_field(name) => *field = masked(),
        Value::Array(_) if is_secret_holder(name) => *field = masked(),
        Value::Object(holder) if is_secret_holder(name) => mask_holder(holder),
        // A channel's incoming-webhook URL is itself the credential to post there, and a
        // forward's may hold its key where a channel's would not (Zapier's).
        Value::String(url) if is_url_field(name) && !json_like(url) => {
            *field = Value::String(crate::actions::redact_any_secret_path(url));
        }
        // A URL given as a list or an object (refused, but recorded as sent).
        Value::Array(_) | Value::Object(_) if name == "url" => *field = masked(),
        Value::String(text) if is_object_argument(name) => match object_in_text(text) {
            Some(mut inner) => {
                mask_field(name, &mut inner);
                *field = Value::String(inner.to_string());
            }
            None => *field = masked(),
        },
        // An API base URL (`github_api_url`) may carry a user and password.
        Value::String(url) if name.ends_with("_url") => {
            *field = Value::String(crate::actions::mask_url_credentials(url));
        }
        // `credentials` given as one bare token, or as a number.
        _ if is_secret_holder(name) => *field = masked(),
        _ => mask(field),
    }
}

fn mask_holder(holder: &mut serde_json::Map<String, Value>) {
    for (name, field) in holder.iter_mut() {
        if is_plain_in_holder(name) {
            mask_field(name, field);
        } else if !none_given(field) {
            *field = Value::String(MASK.to_string());
        }
    }
}

/// The values of every secret field (see [`is_secret_field`]), at any depth, as text; and
/// the URLs and texts [`mask`] hides, as an error may quote them whole ("invalid type:
/// string \"https://hooks.slack.com/…\"").
fn secret_values(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (name, field) in map {
                field_secrets(name, field, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| secret_values(item, out)),
        // An object written out as a JSON string, as `mask` reads it.
        Value::String(text) if json_like(text) => {
            if let Ok(inner) = serde_json::from_str::<Value>(text) {
                secret_values(&inner, out);
            }
        }
        Value::String(text) => out.extend(api_keys_in(text).into_iter().map(str::to_owned)),
        _ => {}
    }
}

fn field_secrets(name: &str, field: &Value, out: &mut Vec<String>) {
    match field {
        _ if none_given(field) => {}
        _ if is_secret_field(name) => secret_values_all(field, out),
        Value::Array(_) if is_secret_holder(name) => secret_values_all(field, out),
        Value::Object(holder) if is_secret_holder(name) => {
            for (inner, value) in holder {
                if is_plain_in_holder(inner) {
                    field_secrets(inner, value, out);
                } else {
                    secret_values_all(value, out);
                }
            }
        }
        Value::String(url) if is_url_field(name) && !json_like(url) => {
            if crate::actions::redact_any_secret_path(url) != *url {
                out.push(url.clone());
            }
        }
        Value::Array(_) | Value::Object(_) if name == "url" => secret_values_all(field, out),
        Value::String(text) if is_object_argument(name) => match object_in_text(text) {
            Some(inner) => field_secrets(name, &inner, out),
            None => out.push(text.clone()),
        },
        // A base URL's user and password, quoted whole by "`…` is not a URL".
        Value::String(url) if name.ends_with("_url") => {
            if crate::actions::mask_url_credentials(url) != *url {
                out.push(url.clone());
            }
        }
        _ if is_secret_holder(name) => secret_values_all(field, out),
        _ => secret_values(field, out),
    }
}

/// Every scalar inside a secret field's value.
fn secret_values_all(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => map.values().for_each(|v| secret_values_all(v, out)),
        Value::Array(items) => items.iter().for_each(|v| secret_values_all(v, out)),
        Value::String(s) => out.push(s.clone()),
        Value::Null => {}
        other => out.push(other.to_string()),
    }
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

/// What a whole detail is masked as: the arguments of a call, which a client may send as
/// text (a tool call refused at the door is recorded with them as sent).
const DETAIL: &str = "arguments";

/// Masks and stores an entry. A failure is logged, never returned: the audit log must not
/// fail the request it describes.
pub async fn record(state: &AppState, mut entry: AuditEntry) {
    // An error can quote a value it refused (serde does: "invalid type: integer `1234`"), so
    // the secrets among the arguments are masked in the outcome too.
    // (A value of a few characters, a wrong-typed `3`, is no secret, and replacing it
    // everywhere would garble the message.)
    if let (Outcome::Error(why), Some(detail)) = (&mut entry.outcome, &entry.detail) {
        let mut secrets = Vec::new();
        field_secrets(DETAIL, detail, &mut secrets);
        for secret in secrets.iter().filter(|s| s.len() >= 6) {
            *why = why.replace(secret.as_str(), MASK);
        }
    }
    if let Some(detail) = entry.detail.as_mut() {
        mask_field(DETAIL, detail);
    }
    let at = clock::now_ms();
    let detail = entry.detail.as_ref().map(|d| {
        let text = d.to_string();
        if text.len() > MAX_DETAIL_BYTES {
            serde_json::json!({"omitted": "larger than the audit log keeps", "bytes": text.len()})
                .to_string()
        } else {
            text
        }
    });
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
    AuditOut {
        id: row.id,
        at: clock::rfc3339(row.at),
        actor: row.actor,
        action: row.action,
        target: row.target,
        status: row.status,
        detail: row
            .detail
            .map(|d| serde_json::from_str(&d).unwrap_or(Value::String(d))),
        outcome: row.outcome,
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
    fn secret_fields_are_recognised_by_name() {
        for name in [
            "secret",
            "Secret",
            "token",
            "password",
            "api_key",
            "apiKey",
            "api-key",
            "github_token",
            "slack_bot_token",
            "linear_api_key",
            "previous_secret",
            "Authorization",
            "accessToken",
            "authToken",
            "clientSecret",
            "webhookSecret",
            "X-Api-Key",
            "DB_PASSWORD",
        ] {
            assert!(is_secret_field(name), "{name} is a secret");
        }
        for name in [
            "name",
            "provider",
            "webhook_id",
            "key",
            "keys",
            "tokens_used",
            "url",
            "Tokenizer",
            "monkey",
            "issueKey",
            "sortKey",
        ] {
            assert!(!is_secret_field(name), "{name} is not a secret");
        }
    }

    #[test]
    fn masking_reaches_into_json_written_as_text_and_channel_urls() {
        let cases = [
            (
                json!({"options": "{\"credentials\": {\"github_token\": \"ghp_x\"}}"}),
                json!({"options": "{\"credentials\":{\"github_token\":\"********\"}}"}),
            ),
            (
                json!({"target": "{\"url\": \"https://a.example/x\", \"secret\": \"whsec_1\"}"}),
                json!({"target": "{\"secret\":\"********\",\"url\":\"https://a.example/x\"}"}),
            ),
            (
                json!({"target": "https://hooks.slack.com/services/T0/B0/SECRET"}),
                json!({"target": "https://hooks.slack.com/services/T0/B0/***"}),
            ),
            (
                json!({"target": {"url": "https://discord.com/api/webhooks/1/SECRET"}}),
                json!({"target": {"url": "https://discord.com/api/webhooks/1/***"}}),
            ),
            (json!({"text": "{not json"}), json!({"text": "{not json"})),
            // Lists where objects of secrets belong (refused, but recorded as sent).
            (
                json!({"options": {"credentials": ["ghp_leak"]}}),
                json!({"options": {"credentials": "********"}}),
            ),
            (
                json!({"target": ["https://example.com/y", "TOPSECRET"]}),
                json!({"target": "********"}),
            ),
            // Text that meant an object but is no JSON, which the call refused.
            (
                json!({"options": "{'credentials': {'github_token': 'ghp_quoted'}}"}),
                json!({"options": "********"}),
            ),
            (
                json!({"target": "{\"url\": \"https://e.x/?token=T1\", \"secret\": \"whsec_2\""}),
                json!({"target": "********"}),
            ),
            (
                json!({"name": "[prod] GitHub"}),
                json!({"name": "[prod] GitHub"}),
            ),
            // Misspelt and unknown names in the objects that hold secrets; their plain
            // fields kept.
            (
                json!({"options": {"credentials": {"github_tokn": "ghp_1", "jira_email": "a@b.c",
                                                   "github_api_url": "https://u:pw@gh.example"}}}),
                json!({"options": {"credentials": {"github_tokn": "********", "jira_email": "a@b.c",
                                                   "github_api_url": "https://u:***@gh.example/"}}}),
            ),
            (
                json!({"target": {"url": "https://e.x/hook", "secrett": "whsec_3", "kind": "slack",
                                  "headers": {"X-Auth": "k"}, "chat_id": 42}}),
                json!({"target": {"url": "https://e.x/hook", "secrett": "********", "kind": "slack",
                                  "headers": "********", "chat_id": 42}}),
            ),
            (
                json!({"options": {"credentials": "ghp_bare"}}),
                json!({"options": {"credentials": "********"}}),
            ),
            (
                json!({"name": "ci", "key": "whk_0123456789abcdef"}),
                json!({"name": "ci", "key": "********"}),
            ),
            (
                json!({"description": "key whk_0123456789abcdef, old whk_abc"}),
                json!({"description": "key ********, old whk_abc"}),
            ),
            // A URL as a list or an object; object arguments as text of another kind.
            (
                json!({"target": {"url": ["https://hooks.slack.com/services/T0/B0/SECRETA"]}}),
                json!({"target": {"url": "********"}}),
            ),
            (
                json!({"url": {"href": "https://hooks.slack.com/services/T0/B0/SECRETC"}}),
                json!({"url": "********"}),
            ),
            (
                json!({"options": "credentials:\n  github_token: SECRETF"}),
                json!({"options": "********"}),
            ),
            (
                json!({"options": "\u{feff}{\"credentials\": {\"github_token\": \"ghp_bom\"}}"}),
                json!({"options": "{\"credentials\":{\"github_token\":\"********\"}}"}),
            ),
        ];
        for (mut given, expected) in cases {
            mask(&mut given);
            assert_eq!(given, expected);
        }
        // A call's arguments sent whole as text, as a refused call is recorded.
        let mut text = json!("{'id': 'gh', 'secret': 'SECRETD'}");
        mask_field(DETAIL, &mut text);
        assert_eq!(text, json!("********"));
    }

    #[test]
    fn secrets_quoted_in_an_error_are_found_also_in_json_written_as_text_and_in_lists() {
        let cases = [
            (
                json!({"options": "{\"credentials\": {\"github_token\": 42424242}}"}),
                "42424242",
            ),
            (
                json!({"target": "{\"url\": \"https://e.x/\", \"secret\": 123456789}"}),
                "123456789",
            ),
            (
                json!({"options": {"credentials": ["ghp_leak"]}}),
                "ghp_leak",
            ),
            (
                json!({"target": ["https://e.x/y", "TOPSECRET"]}),
                "TOPSECRET",
            ),
            (
                json!({"credentials": {"github_api_url": "https://u:PW5@exa mple.com/api"}}),
                "https://u:PW5@exa mple.com/api",
            ),
            // What serde quotes when a target or credentials is of the wrong type.
            (
                json!({"target": "https://hooks.slack.com/services/T0/B0/SLACKSECRET"}),
                "https://hooks.slack.com/services/T0/B0/SLACKSECRET",
            ),
            (json!({"options": {"credentials": "ghp_bare"}}), "ghp_bare"),
            (
                json!({"options": {"credentials": {"github_tokn": "ghp_typo"}}}),
                "ghp_typo",
            ),
            (
                json!({"target": {"url": "https://e.x/", "headers": {"X-Auth": "hdr_key"}}}),
                "hdr_key",
            ),
            (
                json!({"options": "{'credentials': {'github_token': 'ghp_q'}}"}),
                "{'credentials': {'github_token': 'ghp_q'}}",
            ),
            (
                json!({"key": "whk_0123456789abcdef"}),
                "whk_0123456789abcdef",
            ),
        ];
        for (detail, secret) in cases {
            let mut found = Vec::new();
            secret_values(&detail, &mut found);
            assert!(found.iter().any(|s| s == secret), "{detail}: {found:?}");
        }
    }

    #[test]
    fn masking_replaces_secrets_at_any_depth_and_keeps_the_rest() {
        let mut detail = json!({
            "name": "GitHub",
            "secret": "s3cr3t-value",
            "options": {
                "credentials": {"github_token": "ghp_x", "github_api_url": "https://gh"},
                "custom": {"mode": "token", "token": {"nested": "x"}},
            },
            "headers": [{"Authorization": "Bearer abc", "accept": "json"}],
            "password": null,
            "api_key": "",
        });

        mask(&mut detail);

        assert_eq!(
            detail,
            json!({
                "name": "GitHub",
                "secret": "********",
                "options": {
                    "credentials": {"github_token": "********", "github_api_url": "https://gh"},
                    "custom": {"mode": "token", "token": "********"},
                },
                "headers": [{"Authorization": "********", "accept": "json"}],
                // None given: shown so.
                "password": null,
                "api_key": "",
            })
        );
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
