//! Sample deliveries: the headers and body each provider sends for an event type, so
//! `test_webhook` can exercise a webhook end to end (sign with `sign::sign`, then the
//! ordinary verify + describe path). Pure: the clock is passed in; only ids are random, so
//! repeated tests are not deduplicated as retries of one delivery.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::Provider;

mod github;
mod gitlab;
mod jira;
mod linear;
mod openwebui;
mod sentry;
mod slack;
mod standard;
mod stripe;
#[cfg(test)]
mod tests;

pub use github::event_type_of as github_event_type_of;

/// One delivery as the provider would send it, before signing.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The event type `describe` reports for this delivery (the requested one, or the
    /// provider's default).
    pub event_type: String,
    /// The provider's event, delivery and content-type headers (no signature yet).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The type used when none is asked for: the event people most often wire up first.
pub fn default_event_type(provider: Provider) -> &'static str {
    match provider {
        Provider::GitHub => "issues.opened",
        Provider::GitLab => "issue.open",
        Provider::Slack => "message.channels",
        Provider::Jira => "jira:issue_created",
        Provider::Sentry => "issue.created",
        Provider::Linear => "Issue.create",
        Provider::Stripe => "payment_intent.succeeded",
        Provider::StandardWebhooks => "test.event",
        Provider::OpenWebUi => "chat.finished",
        Provider::Custom => "test.event",
    }
}

/// The types with a realistic built-in body. Any other type still gets a sample: a minimal
/// payload in the provider's shape that carries the type.
pub fn builtin_event_types(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::GitHub => &[
            "issues.opened",
            "issues.labeled",
            "issues.closed",
            "issue_comment.created",
            "pull_request.opened",
            "pull_request.closed",
            "pull_request_review.submitted",
            "pull_request_review_comment.created",
            "release.published",
            "workflow_run.completed",
            "workflow_job.completed",
            "check_run.completed",
            "check_suite.completed",
            "discussion.created",
            "discussion_comment.created",
            "push",
            "ping",
        ],
        Provider::GitLab => &[
            "issue.open",
            "issue.close",
            "merge_request.open",
            "merge_request.merge",
            "note",
            "push",
            "tag_push",
            "pipeline",
        ],
        Provider::Slack => &[
            "message.channels",
            "message.groups",
            "message.im",
            "message.mpim",
            "message",
            "message_changed",
            "message_deleted",
            "app_mention",
            "reaction_added",
            "/deploy",
            "block_actions",
            "view_submission",
            "url_verification",
        ],
        Provider::Jira => &[
            "jira:issue_created",
            "jira:issue_updated",
            "jira:issue_deleted",
            "comment_created",
            "comment_updated",
        ],
        Provider::Sentry => &[
            "issue.created",
            "issue.resolved",
            "issue.assigned",
            "event_alert.triggered",
            "metric_alert.critical",
            "error.created",
            "comment.created",
            "installation.created",
        ],
        Provider::Linear => &[
            "Issue.create",
            "Issue.update",
            "Issue.remove",
            "Comment.create",
        ],
        Provider::Stripe => &[
            "payment_intent.succeeded",
            "payment_intent.payment_failed",
            "invoice.paid",
            "invoice.payment_failed",
            "customer.created",
            "customer.subscription.created",
            "checkout.session.completed",
            "charge.refunded",
        ],
        Provider::StandardWebhooks => &["test.event"],
        Provider::OpenWebUi => &[
            "chat.finished",
            "user.created",
            "auth.signup",
            "message.created",
            "system.startup.completed",
            "notification.chat",
            "notification.chat_failed",
            "notification.channel",
            "notification.test",
            "new_user",
        ],
        Provider::Custom => &["test.event"],
    }
}

/// A realistic delivery of `event_type` (default: [`default_event_type`]).
///
/// With `payload`, that value is the body (form-encoded where the provider sends a form:
/// Slack slash commands and interactivity); the headers still come from the event type, and
/// where the type lives in the body (GitHub/Sentry `action`, GitLab `object_kind` and
/// `object_attributes.action`, Jira `webhookEvent`, Linear `type`/`action`, Stripe and
/// Standard Webhooks `type`, Open WebUI `event`, Slack `event.type`) it is set only when
/// absent. Linear also gets a fresh `webhookTimestamp` when the payload has none, as Linear
/// always sends one and its verifier checks it.
///
/// Err only for an event type no sender could carry (control characters; spaces, but for a
/// custom sender's).
pub fn sample(
    provider: Provider,
    event_type: Option<&str>,
    payload: Option<&Value>,
    now_ms: i64,
) -> Result<Sample, String> {
    let event_type = match event_type.map(str::trim) {
        Some(t) if !t.is_empty() => t,
        _ => default_event_type(provider),
    };
    // A custom sender may name its events in a header, where spaces are fine (`Issue Hook`);
    // every other provider's types are single words.
    let lowest = if provider == Provider::Custom {
        b' '
    } else {
        b'!'
    };
    if event_type.len() > super::MAX_EVENT_TYPE_BYTES {
        return Err(format!(
            "the event type is {} bytes long; an event type is at most {}",
            event_type.len(),
            super::MAX_EVENT_TYPE_BYTES
        ));
    }
    if !event_type.bytes().all(|b| (lowest..=b'~').contains(&b)) {
        let spaces = if provider == Provider::Custom {
            ""
        } else {
            " without spaces"
        };
        return Err(format!(
            "event type {event_type:?} is not valid: use printable ASCII{spaces}. \
             Built-in {provider} types: {} (any other name gets a minimal payload)",
            builtin_event_types(provider).join(", ")
        ));
    }
    let cx = Cx::new(now_ms);
    let out = match provider {
        Provider::GitHub => github::github(event_type, payload, &cx),
        Provider::GitLab => gitlab::gitlab(event_type, payload, &cx),
        Provider::Slack => slack::slack(event_type, payload, &cx),
        Provider::Jira => jira::jira(event_type, payload, &cx),
        Provider::Sentry => sentry::sentry(event_type, payload, &cx),
        Provider::Linear => linear::linear(event_type, payload, &cx),
        Provider::Stripe => stripe::stripe(event_type, payload, &cx),
        Provider::StandardWebhooks => standard::standard(event_type, payload, &cx),
        Provider::OpenWebUi => openwebui::openwebui(event_type, payload, &cx),
        Provider::Custom => standard::custom(event_type, payload, &cx),
    };
    Ok(Sample {
        event_type: event_type.to_owned(),
        headers: out.headers,
        body: out.body,
    })
}

// ---------------------------------------------------------------------------------------
// Plumbing

/// The clock in the forms the payloads use.
struct Cx {
    ms: i64,
    secs: i64,
    /// RFC 3339, whole seconds (`2025-11-23T12:00:00Z`).
    iso: String,
}

impl Cx {
    fn new(ms: i64) -> Self {
        let secs = ms.div_euclid(1000);
        let iso = time::OffsetDateTime::from_unix_timestamp(secs)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
        Self { ms, secs, iso }
    }

    /// RFC 3339 with milliseconds, as Linear writes times.
    fn iso_ms(&self) -> String {
        let ms = self.ms.rem_euclid(1000);
        match self.iso.strip_suffix('Z') {
            Some(base) => format!("{base}.{ms:03}Z"),
            None => self.iso.clone(),
        }
    }
}

/// A request under construction: headers in send order and the encoded body.
struct Out {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Out {
    fn json(body: &Value, content_type: &str) -> Self {
        Self {
            headers: vec![("Content-Type".into(), content_type.into())],
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }

    /// `application/x-www-form-urlencoded`: an object's fields, scalars as text and nested
    /// values as JSON text. Anything but an object is sent as JSON, unchanged.
    fn form(body: &Value) -> Self {
        let Some(fields) = body.as_object() else {
            return Self::json(body, "application/json");
        };
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            ser.append_pair(k, &scalar_text(v));
        }
        Self {
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: ser.finish().into_bytes(),
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `base.sub` → (`base`, `sub`); a type without a (non-empty) second part has no action.
fn split(t: &str) -> (&str, Option<&str>) {
    match t.split_once('.') {
        Some((base, sub)) if !base.is_empty() && !sub.is_empty() => (base, Some(sub)),
        _ => (t, None),
    }
}

/// Sets `path` to `value` unless something non-null is already there, creating objects on
/// the way. A non-object in the way (the payload is an array, `event` is a string) is left
/// alone: the caller's body wins.
fn set_if_absent(v: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for key in parents {
        let Value::Object(map) = cur else { return };
        let slot = map.entry(*key).or_insert(Value::Null);
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        cur = slot;
    }
    if let Value::Object(map) = cur {
        let slot = map.entry(*last).or_insert(Value::Null);
        if slot.is_null() {
            *slot = value;
        }
    }
}

/// The caller's payload with `fill` applied (which only adds what is absent).
fn given(payload: &Value, fill: impl FnOnce(&mut Value)) -> Value {
    let mut p = payload.clone();
    fill(&mut p);
    p
}

/// Inserts `key: value` into an object body (built-ins only; they are always objects).
fn put(body: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = body {
        map.insert(key.to_owned(), value);
    }
}

fn uuid() -> String {
    Uuid::new_v4().to_string()
}

/// 32 lowercase hex digits (Sentry's `Request-ID`, Stripe-style id suffixes).
fn hex_id() -> String {
    Uuid::new_v4().simple().to_string()
}

/// A short alphanumeric suffix for provider ids (`evt_test_...`, `Ev...`).
fn short_id(len: usize) -> String {
    let mut s = hex_id().to_uppercase();
    s.truncate(len);
    s
}
