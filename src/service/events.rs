//! Reading the event log: filtered, paginated lists (newest first) and single events in full.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ServiceError;
use crate::app::AppState;
use crate::clock;
use crate::providers::{self, Provider};
use crate::store::events::{self as rows, EventFilter, EventRow};

/// Every status an event can have: `test` for `test_webhook`'s dry runs, the others as its
/// actions go (see the README).
pub const STATUSES: [&str; 9] = [
    "accepted",
    super::record::OWN_POST,
    "matched",
    "done",
    "failed",
    "rejected",
    "invalid_payload",
    "test",
    super::ingest::LOOPED,
];

/// Filters for listing events; all optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    pub webhook_id: Option<String>,
    pub provider: Option<String>,
    /// Exact event type, or a pattern with `*` (`issues.*`).
    pub event_type: Option<String>,
    /// One of [`STATUSES`].
    pub status: Option<String>,
    /// Only events received at or after this time (RFC 3339, a date, or unix seconds or
    /// milliseconds, with a fraction or not).
    pub since: Option<String>,
    /// Only events received before this time (as `since`).
    pub until: Option<String>,
    /// Page size, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of events, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    pub events: Vec<EventSummary>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventSummary {
    pub id: String,
    pub webhook_id: String,
    pub provider: String,
    pub event_type: Option<String>,
    pub delivery_id: Option<String>,
    pub status: String,
    pub verified: bool,
    pub source: Option<Value>,
    /// What the event is about, from its payload: the or alert's title, or the start
    /// of the message (see `providers::headline`). Absent when the payload names nothing,
    /// for a delivery that failed verification, and for a body over [`TITLED_BODY_BYTES`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub matched_commands: Value,
    pub received_at: String,
}

/// The largest body a listing reads a title from: GitHub's issue and pull request events are
/// a few KB to some tens; a page of 200 then parses a few MB at most.
pub const TITLED_BODY_BYTES: usize = 128 * 1024;

/// The title of a verified event's `body`, as [`EventSummary::title`] says.
fn title_of(row: &EventRow, body: &[u8]) -> Option<String> {
    let provider = row.provider.parse::<Provider>().unwrap_or(Provider::Custom);
    let payload = providers::parse_payload(provider, body).ok()?;
    headline_of(row, provider, &payload)
}

/// What a verified event is about: a scheduled tick names its schedule and time (its payload
/// is ours, not the webhook's sender's), any other event as its sender's payload says.
fn headline_of(row: &EventRow, provider: Provider, payload: &Value) -> Option<String> {
    if row.verification == super::schedules::VERIFICATION {
        let text = |at: &str| payload.get(at).and_then(Value::as_str).unwrap_or("?");
        return Some(format!(
            "{} ({}) for {}",
            text("schedule"),
            text("timezone"),
            text("scheduled_for_local")
        ));
    }
    providers::headline::headline(provider, payload)
}

/// An event in full: headers (secrets removed), payload, verification and matches.
#[derive(Debug, Clone, Serialize)]
pub struct EventDetail {
    #[serde(flatten)]
    pub summary: EventSummary,
    /// `current_secret` / `previous_secret` when verified, else why verification failed.
    pub verification: String,
    pub headers: Value,
    pub content_type: Option<String>,
    /// The size of the body as kept.
    pub body_size: i64,
    /// Set when only the start of the body was kept (a rejected request's): its whole size
    /// and SHA-256 as received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_truncated: Option<rows::Truncation>,
    /// The body as JSON (form bodies decoded); null when it is not JSON.
    pub payload: Value,
    /// The body as text, when it could not be read as JSON (or was cut for a model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    /// Set when the body was too large to show a model whole: how it was cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_cut: Option<String>,
    pub remote_addr: Option<String>,
    /// What the event's commands (and any manual replies) sent, with every attempt.
    pub actions: Vec<ActionDetail>,
    /// The tasks the event created.
    pub tasks: Vec<TaskSummary>,
    /// The tasks whose question the event answered (a reply on their thread, taken into their
    /// conversation): it created none, yet it went on with those.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answered_tasks: Vec<String>,
}

/// How much of a body MCP and the agents' tools show a model. A context holds a few hundred
/// KB at most, and MCP clients refuse a message over 1 MB (the Python SDK's stream limit),
/// which a tool result carrying a 1 MB payload twice (text and structured) would exceed.
pub const SHOWN_BODY_BYTES: usize = 100 * 1024;

impl EventDetail {
    /// The event as a model is shown it: a body over `max` bytes becomes the first `max`
    /// bytes of its JSON (or text), as text, with `body_cut` saying so and where the rest is.
    pub fn cut_for_model(mut self, max: usize) -> EventDetail {
        let whole = match &self.body_text {
            Some(text) => text.clone(),
            None => serde_json::to_string(&self.payload).unwrap_or_default(),
        };
        if whole.len() <= max {
            return self;
        }
        let end = (0..=max)
            .rev()
            .find(|i| whole.is_char_boundary(*i))
            .unwrap_or(0);
        self.body_cut = Some(format!(
            "the body ({} bytes) is too large to show whole: `body_text` holds its first {end} \
             bytes, and GET /api/events/{} returns all of it",
            self.body_size, self.summary.id
        ));
        self.payload = Value::Null;
        self.body_text = Some(whole[..end].to_string());
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionDetail {
    #[serde(flatten)]
    pub action: super::actions::ActionOut,
    pub attempt_log: Vec<AttemptOut>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptOut {
    pub attempt: i64,
    pub at: String,
    pub latency_ms: i64,
    pub http_status: Option<i64>,
    pub outcome: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskSummary {
    pub id: String,
    pub agent: String,
    pub status: String,
    pub command_id: Option<String>,
    pub created_at: String,
}

/// The longest `event_type` filter, as long as the longest trigger.
const MAX_EVENT_TYPE_FILTER: usize = 200;

pub async fn list(state: &AppState, query: EventQuery) -> Result<EventPage, ServiceError> {
    let limit = super::page_limit(query.limit)?;
    let time = |value: &Option<String>, field: &str| -> Result<Option<i64>, ServiceError> {
        value
            .as_deref()
            .map(|s| {
                clock::parse_bound(s).ok_or_else(|| {
                    ServiceError::invalid(
                        field,
                        format!(
                            "`{}` is not a time: use RFC 3339 (2026-11-23T10:00:00Z), a date \
                             (2026-11-23) or unix seconds",
                            super::quoted(s)
                        ),
                    )
                })
            })
            .transpose()
    };
    let provider = match query.provider.as_deref() {
        Some(p) => Some(super::webhooks::provider_named(p)?.as_str().to_string()),
        None => None,
    };
    if let Some(s) = &query.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ServiceError::invalid(
            "status",
            format!(
                "unknown status `{}`; use one of {}",
                super::quoted(s),
                STATUSES.join(", ")
            ),
        ));
    }
    // The filter becomes a GLOB pattern, which SQLite refuses past its own length limit (as a
    // store error); no trigger is longer than this, nor a type the test tool sends.
    if let Some(t) = &query.event_type
        && t.chars().count() > MAX_EVENT_TYPE_FILTER
    {
        return Err(ServiceError::invalid(
            "event_type",
            format!("event_type is longer than {MAX_EVENT_TYPE_FILTER} characters"),
        ));
    }
    let (since_ms, until_ms) = (time(&query.since, "since")?, time(&query.until, "until")?);
    // Swapped bounds would only ever list nothing, which reads as "no events then".
    if let (Some(since), Some(until)) = (since_ms, until_ms)
        && since >= until
    {
        return Err(ServiceError::invalid(
            "until",
            format!(
                "until ({}) is not after since ({}): nothing could be listed; since is the \
                 earlier time (inclusive), until the later (exclusive)",
                clock::rfc3339(until),
                clock::rfc3339(since)
            ),
        ));
    }
    let webhook_id = query.webhook_id.clone();
    // `openai` is a Standard Webhooks sender: its webhooks say so in `options.sender`.
    let sender = query
        .provider
        .as_deref()
        .and_then(crate::providers::Provider::secret_issuing_alias)
        .map(str::to_string);
    let filter = EventFilter {
        webhook_id: query.webhook_id,
        provider,
        sender,
        event_type: query.event_type,
        status: query.status,
        since_ms,
        until_ms,
        before_id: super::page_cursor(query.cursor, "evt")?,
        // One extra row tells whether another page exists.
        limit: limit + 1,
    };
    // Titles are read from the page's bodies on the reader's thread, not the receive path's:
    // storing an event stays as cheap as it was.
    let (mut found, mut titles) = state
        .store
        .read(move |db| {
            let found = rows::list(db, &filter)?;
            let mut titles = HashMap::new();
            // A forged delivery's body is the sender's word alone; one too large is not worth
            // parsing for a title.
            let titled = found.iter().take(limit as usize).filter(|e| {
                e.verified && usize::try_from(e.body_size).is_ok_and(|n| n <= TITLED_BODY_BYTES)
            });
            for row in titled {
                if let Some(title) = rows::body(db, &row.id)?.and_then(|b| title_of(row, &b)) {
                    titles.insert(row.id.clone(), title);
                }
            }
            Ok((found, titles))
        })
        .await?;
    super::empty_for_a_known_webhook(state, webhook_id.as_deref(), found.is_empty()).await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let next_cursor = more.then(|| found.last().map(|e| e.id.clone())).flatten();
    Ok(EventPage {
        events: found
            .iter()
            .map(|row| summary(row, titles.remove(&row.id)))
            .collect(),
        next_cursor,
    })
}

fn action_detail(
    state: &AppState,
    row: &crate::store::outbox::OutboxRow,
    log: Vec<crate::store::outbox::AttemptRow>,
) -> ActionDetail {
    ActionDetail {
        action: super::actions::with_pause(
            state,
            super::actions::present(row),
            row.next_attempt_at,
            &row.host,
        ),
        attempt_log: log
            .into_iter()
            .map(|a| AttemptOut {
                attempt: a.attempt,
                at: clock::rfc3339(a.started_at),
                latency_ms: a.latency_ms,
                http_status: a.http_status,
                outcome: a.outcome,
                error: a.error,
            })
            .collect(),
    }
}

/// One action with every attempt: for actions that belong to no event (a `post_message`
/// asked for by hand), whose status no event shows.
pub async fn action(state: &AppState, id: &str) -> Result<ActionDetail, ServiceError> {
    let key = id.to_string();
    let found = state
        .store
        .read(move |db| {
            let Some(row) = crate::store::outbox::get(db, &key)? else {
                return Ok(None);
            };
            let log = crate::store::outbox::attempts(db, &row.id)?;
            Ok(Some((row, log)))
        })
        .await?;
    let (row, log) = found.ok_or_else(|| ServiceError::NotFound {
        what: "action",
        id: id.to_string(),
    })?;
    Ok(action_detail(state, &row, log))
}

pub async fn get(state: &AppState, id: &str) -> Result<EventDetail, ServiceError> {
    Ok(get_with_body(state, id).await?.0)
}

/// [`get`], with the body as stored (a Slack token already redacted), for what sends it on
/// (a forward without a template).
pub async fn get_with_body(
    state: &AppState,
    id: &str,
) -> Result<(EventDetail, Vec<u8>), ServiceError> {
    let key = id.to_string();
    let row = state
        .store
        .read(move |db| rows::get(db, &key))
        .await?
        .ok_or_else(|| ServiceError::NotFound {
            what: "event",
            id: id.to_string(),
        })?;
    let key = id.to_string();
    let (outbox_rows, attempts, task_rows, answered_tasks) = state
        .store
        .read(move |db| {
            let rows = crate::store::outbox::for_event(db, &key)?;
            let attempts = rows
                .iter()
                .map(|r| crate::store::outbox::attempts(db, &r.id))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((
                rows,
                attempts,
                crate::store::tasks::for_event(db, &key)?,
                crate::store::tasks::tasks_answered(db, &key)?,
            ))
        })
        .await?;
    let actions = outbox_rows
        .iter()
        .zip(attempts)
        .map(|(row, log)| action_detail(state, row, log))
        .collect();
    let now = clock::now_ms();
    let tasks = task_rows
        .into_iter()
        .map(|t| TaskSummary {
            // As the task's own views show it (`tasks::present`): a claim that lapsed leaves
            // it `queued` for the next claim, not `running`.
            status: if t.claim_lapsed(now) {
                "queued".into()
            } else {
                t.status
            },
            id: t.id,
            agent: t.agent,
            command_id: t.command_id,
            created_at: clock::rfc3339(t.created_at),
        })
        .collect();
    let body = row.body.clone().unwrap_or_default();
    let provider = row.provider.parse::<Provider>().unwrap_or(Provider::Custom);
    let (payload, body_text) = match providers::parse_payload(provider, &body) {
        Ok(v) => (v, None),
        Err(_) => (
            Value::Null,
            Some(String::from_utf8_lossy(&body).into_owned()),
        ),
    };
    let title = (row.verified && body_text.is_none())
        .then(|| headline_of(&row, provider, &payload))
        .flatten();
    let detail = EventDetail {
        summary: summary(&row, title),
        verification: row.verification.clone(),
        headers: super::ingest::shown_headers(&row.headers),
        content_type: row.content_type.clone(),
        body_size: row.body_size,
        body_truncated: row.truncated.clone(),
        payload,
        body_text,
        body_cut: None,
        remote_addr: row.remote_addr.clone(),
        actions,
        tasks,
        answered_tasks,
    };
    Ok((detail, body))
}

fn summary(row: &EventRow, title: Option<String>) -> EventSummary {
    EventSummary {
        id: row.id.clone(),
        webhook_id: row.webhook_id.clone(),
        provider: row.provider.clone(),
        event_type: row.event_type.clone(),
        delivery_id: row.delivery_id.clone(),
        status: row.status.clone(),
        verified: row.verified,
        source: row
            .source
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        title,
        matched_commands: serde_json::from_str(&row.matched_commands).unwrap_or(Value::Null),
        received_at: clock::rfc3339(row.received_at),
    }
}
