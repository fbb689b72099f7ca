//! Ingest: the receive path after HTTP. Look up the webhook, verify the request, describe it,
//! match commands, and store the event in one write — and only then say it was accepted.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::Value;

use super::ServiceError;
use super::limits::{Charge, Client};
use super::record::{self, Reply};
use crate::actions::hops;
use crate::app::AppState;
use crate::engine::plan::Planned;
use crate::engine::{self};
use crate::providers::{
    self, Handshake, Provider, ProviderOptions, Request, SECRET_HEADERS, Secrets, SourceRef,
    VerifyError, custom::CustomMode,
};
use crate::store::events::{self, Inserted, NewEvent};
use crate::store::webhooks::{Gone, WebhookRow};

/// A request as the receiver got it.
#[derive(Debug)]
pub struct Inbound {
    pub provider: String,
    pub webhook_id: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub query: Option<String>,
    /// Who sent it; `None` for a test made here.
    pub client: Option<Client>,
    /// A test (`test_webhook`): the event is stored with status `test` and what matched, but
    /// no action or task is planned and no waiting task is resumed.
    pub dry_run: bool,
}

/// How the receiver should answer.
#[derive(Debug)]
pub enum Outcome {
    /// Stored durably (or already stored under `event_id`). `inline` is a `respond`
    /// command's answer for senders that read the HTTP response.
    Accepted {
        event_id: String,
        duplicate: bool,
        inline: Option<Value>,
    },
    /// A protocol handshake to answer; nothing stored.
    Handshake(Handshake),
    /// Verification failed: logged as a rejected attempt, never acted on.
    Rejected {
        event_id: Option<String>,
        reason: VerifyError,
    },
    /// Verified, but the body is not something this provider sends; logged, not acted on.
    /// `repeat`: its delivery id was already stored, as `event_id`, and it was not stored again.
    BadPayload {
        event_id: String,
        message: String,
        repeat: bool,
    },
    /// No webhook with this id and provider.
    UnknownWebhook,
    /// The webhook it was checked against was deleted and another made at its id before it
    /// was stored, twice over (checked again against the new one, that was replaced too):
    /// nothing stored; sent again, the webhook then at the id checks it.
    Replaced,
    /// The webhook exists but is disabled.
    Disabled,
    /// The source address is not in the webhook's allowlist.
    Forbidden,
    /// Over a rate limit; retry after this long.
    RateLimited(std::time::Duration),
}

/// The status of an event that came through too many forwards (`actions::hops`): stored, but
/// it runs no command.
pub const LOOPED: &str = "looped";

/// Whether the event is Open WebUI's report that a model's provider failed a call the runner
/// made (see `agents::failed_calls`): a loop, as a forward come back too often is.
fn reports_own_failed_call(
    state: &AppState,
    provider: Provider,
    event_type: &str,
    payload: &Value,
    now: i64,
) -> bool {
    if provider != Provider::OpenWebUi || event_type != "model.provider_request.failed" {
        return false;
    }
    let model = payload
        .pointer("/data/requested_model")
        .or_else(|| payload.pointer("/subject/id"))
        .and_then(Value::as_str);
    model.is_some_and(|model| state.failed_chat_calls.reported(model, now))
}

/// Headers are kept (secrets removed) to debug deliveries; a real sender's fit many times
/// over. Anything can be sent, though, so one value and all of them together are bounded.
const HEADER_VALUE_KEEP: usize = 4 * 1024;
const HEADERS_KEEP: usize = 32 * 1024;

/// Whether `webhook_id` names a webhook of `provider` (read through the cache) that may take a
/// delivery from `client`, asked before its body is read: one sent to no webhook is not kept
/// while it arrives, and one the webhook refuses whatever it holds (disabled, or from outside
/// its allowlist) takes no slot meanwhile, which slow bodies would hold from every sender.
pub async fn addressed(
    state: &AppState,
    provider: &str,
    webhook_id: &str,
    client: Client,
) -> Result<Addressed, ServiceError> {
    let Ok(provider) = provider.parse::<Provider>() else {
        return Ok(Addressed::Nowhere);
    };
    let Some(cached) = state
        .hooks
        .get(&state.store, &state.sealer, webhook_id)
        .await?
    else {
        return Ok(Addressed::Nowhere);
    };
    Ok(if cached.row.provider != provider.as_str() {
        Addressed::Nowhere
    } else if !cached.row.enabled {
        Addressed::Refused(Outcome::Disabled)
    } else if !super::limits::allowed(&cached.allowlist, client) {
        outside_allowlist(&cached.row.id, client);
        Addressed::Refused(Outcome::Forbidden)
    } else {
        Addressed::Open
    })
}

/// What a delivery's URL and sender's address say of it before its body is read.
pub enum Addressed {
    /// No webhook of that provider at that id.
    Nowhere,
    /// A webhook that refuses it whatever the body: disabled, or the address not allowed.
    Refused(Outcome),
    Open,
}

/// Logs a request from outside a webhook's allowlist: a line every 10 s at most, with how many
/// it stands for, so that a flood from outside does not fill the log at its own rate.
fn outside_allowlist(webhook_id: &str, client: Client) {
    if let Some(times) = OUTSIDE_ALLOWLIST
        .lock()
        .map_or(Some(1), |mut t| t.note(std::time::Instant::now()))
    {
        tracing::warn!(webhook = %webhook_id, client = %client.shown(), times, "request from an address outside the allowlist");
    }
}

/// When a request from outside a webhook's allowlist is next logged.
static OUTSIDE_ALLOWLIST: std::sync::Mutex<crate::telemetry::Throttle> = std::sync::Mutex::new(
    crate::telemetry::Throttle::every(std::time::Duration::from_secs(10)),
);

pub async fn ingest(state: &AppState, inbound: Inbound) -> Result<Outcome, ServiceError> {
    // A webhook made anew at the id while the delivery was checked against the old one: it is
    // checked again at once against the new one, as the sender's retry would be, since many
    // senders (GitHub, GitLab) retry only by hand.
    match ingest_once(state, &inbound).await? {
        Outcome::Replaced => ingest_once(state, &inbound).await,
        outcome => Ok(outcome),
    }
}

async fn ingest_once(state: &AppState, inbound: &Inbound) -> Result<Outcome, ServiceError> {
    let client_ip = inbound.client.map(|c| c.ip);
    // Refused (or unsigned) before its webhook's check: drawn from the client's bucket for
    // refusals. The per-IP limit is charged once the signature is checked, so that forgeries
    // from a sender's shared address use up only their own bucket; the cost of checking a
    // flood of them is bounded by the body limit and WEBHOOK_MCP_MAX_IN_FLIGHT instead.
    let refused = |outcome: Outcome| match state.limits.check_refused(client_ip) {
        Ok(()) => Ok(outcome),
        Err(wait) => Ok(Outcome::RateLimited(wait)),
    };
    let Ok(provider) = inbound.provider.parse::<Provider>() else {
        return refused(Outcome::UnknownWebhook);
    };
    let Some(cached) = state
        .hooks
        .get(&state.store, &state.sealer, &inbound.webhook_id)
        .await?
    else {
        return refused(Outcome::UnknownWebhook);
    };
    let hook = &cached.row;
    let command_rows = &cached.commands;
    if hook.provider != provider.as_str() {
        return refused(Outcome::UnknownWebhook);
    }
    if !hook.enabled {
        return refused(Outcome::Disabled);
    }
    if let Some(client) = inbound.client
        && !super::limits::allowed(&cached.allowlist, client)
    {
        outside_allowlist(&hook.id, client);
        return refused(Outcome::Forbidden);
    }
    // Slack probes slash-command URLs with an unsigned `ssl_check=1` form (its own SDK answers
    // it before verifying); it carries nothing to store or act on.
    if provider == Provider::Slack && is_slack_ssl_check(&inbound.body) {
        // Unsigned, so counted as an unverified request is.
        return refused(Outcome::Handshake(Handshake::SlackSslCheck));
    }
    let options = &cached.options;
    let (event_id, now_ms) = super::new_id_at("evt");
    let request = Request {
        headers: &inbound.headers,
        body: &inbound.body,
        query: inbound.query.as_deref(),
        now_ms,
    };

    let mut event = NewEvent {
        id: event_id,
        webhook_id: hook.id.clone(),
        provider: provider.as_str().to_string(),
        event_type: None,
        delivery_id: None,
        verified: false,
        verification: String::new(),
        status: String::new(),
        source_kind: None,
        source_key: None,
        source: None,
        // Set once the request is verified: a rejected one keeps less of them.
        headers: String::new(),
        content_type: header(&inbound.headers, "content-type"),
        // Set once the request is verified, without the credentials it may carry.
        body: Bytes::new(),
        matched_commands: "[]".into(),
        remote_addr: inbound.client.map(|c| c.shown()),
        received_at: now_ms,
        truncated: None,
    };

    let verified = providers::verify(provider, secrets(hook, now_ms), options, &request);
    let charge = match verified {
        Ok(_) => Charge::Verified,
        Err(_) => Charge::Rejected,
    };
    // A test is not the sender's traffic: it must not use up the sender's allowance.
    if !inbound.dry_run
        && let Err(wait) = state
            .limits
            .check(client_ip, &hook.id, charge, options.rate_limit)
    {
        return Ok(Outcome::RateLimited(wait));
    }
    // Verified on the bytes as sent; from here on, accepted or not, only the body as kept is
    // read (stored, planned from, forwarded), so no later path can pass on a credential in
    // it. Slack's token is not what names a delivery: its id and dedup are the same.
    let body = providers::without_credentials(provider, &inbound.body)
        .map_or_else(|| inbound.body.clone(), Bytes::from);
    let payload = providers::parse_payload(provider, &body);

    if let Err(reason) = verified {
        if let Some(rejected) = state.rejected.log_due(&hook.id) {
            // The first at once, then a line per ten seconds with the count since.
            tracing::warn!(webhook = %hook.id, %provider, %reason, rejected, "rejected webhook request");
        }
        // The sender's claims are recorded to help debug a signing mismatch, never trusted.
        if let Ok(p) = &payload {
            describe_into(&mut event, provider, options, &inbound.headers, p);
        }
        event.verification = reason.to_string();
        event.status = "rejected".into();
        event.headers = stored_headers(&inbound.headers, options, super::rejected::HEADERS_KEEP);
        (event.body, event.truncated) = super::rejected::kept_body(&body);
        // Still refused when it cannot be kept; the log says so, as the event log cannot.
        let event_id = store_rejected(state, event)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "a rejected delivery was not stored"))
            .ok()
            .map(|i| match i {
                Inserted::New(id) | Inserted::Duplicate(id) => id,
            });
        return Ok(Outcome::Rejected { event_id, reason });
    }
    event.headers = stored_headers(&inbound.headers, options, HEADERS_KEEP);
    event.body = body.clone();
    event.verified = true;
    event.verification = match verified {
        Ok(providers::KeyUsed::Previous) => "previous_secret",
        _ => "current_secret",
    }
    .into();

    let payload = match payload {
        // Shared with the template context, which views it in place.
        Ok(p) => std::sync::Arc::new(p),
        Err(e) => {
            event.status = events::INVALID_PAYLOAD.into();
            event.event_type = providers::header_event_type(provider, options, &inbound.headers);
            // Verified, so it may claim its delivery id (a test claims none): the sender's
            // retries of the same bad delivery are then not stored again, while its intact
            // delivery takes the id over (`events::insert`).
            if !inbound.dry_run {
                event.delivery_id =
                    providers::header_delivery_id(provider, options, &inbound.headers);
            }
            let (webhook_id, delivery_id) = (event.webhook_id.clone(), event.delivery_id.clone());
            let (event_id, repeat) = match store(state, event).await? {
                Inserted::New(event_id) => (event_id, false),
                Inserted::Duplicate(event_id)
                    if held_whole(state, webhook_id, delivery_id).await? =>
                {
                    // The delivery arrived whole before (this copy was cut off on the way):
                    // it is a duplicate, answered as one, so the sender counts no failure.
                    return Ok(duplicate(state, inbound, &cached, provider, event_id).await);
                }
                Inserted::Duplicate(event_id) => {
                    // Stored before, unreadable too: it must not use up the sender's
                    // allowance (as a duplicate does not), yet it is refused as the first copy
                    // was, since a sender takes a 200 for a delivery that arrived whole.
                    state.limits.refund(client_ip, &hook.id, Charge::Verified);
                    (event_id, true)
                }
            };
            return Ok(Outcome::BadPayload {
                event_id,
                message: e.to_string(),
                repeat,
            });
        }
    };

    let described = describe_into(&mut event, provider, options, &inbound.headers, &payload);
    if let Some(handshake) = described {
        return Ok(Outcome::Handshake(handshake));
    }

    let commands = &cached.compiled;
    let hops = hops::of_request(&inbound.headers);
    let event_type = event.event_type.clone().unwrap_or_default();
    let fired = engine::matching(commands, &event_type, &payload);
    event.matched_commands =
        serde_json::to_string(&fired.iter().map(|c| c.id.as_str()).collect::<Vec<_>>())
            .expect("ids serialise");
    event.status = if inbound.dry_run {
        "test"
    } else if fired.is_empty() {
        "accepted"
    } else {
        "matched"
    }
    .into();
    // A test still shows what matched (matched_commands), but sets nothing in motion, resumes
    // no task, and claims no delivery id: the real delivery of the same payload must not be a
    // duplicate.
    if inbound.dry_run
        && let Some(delivery_id) = event.delivery_id.clone()
    {
        // As the receiver would answer it: a delivery id that came before is a duplicate,
        // whatever would match it.
        let webhook_id = event.webhook_id.clone();
        let earlier = state
            .store
            .read(move |db| events::with_delivery_id(db, &webhook_id, &delivery_id))
            .await?;
        if let Some(event_id) = earlier {
            return Ok(Outcome::Accepted {
                event_id,
                duplicate: true,
                inline: None,
            });
        }
    }
    // A test delivery moves nothing.
    let moved_from = (!inbound.dry_run)
        .then(|| providers::moved_from(provider, &event_type, &payload))
        .flatten();
    let (fired, reply, posted) = if inbound.dry_run {
        event.delivery_id = None;
        (Vec::new(), None, None)
    } else if hops >= hops::MAX_HOPS {
        // A forward that keeps coming back (to its own receiver, or between two webhooks that
        // forward to each other): kept in the log, but nothing more is set off by it.
        tracing::warn!(webhook = %hook.id, hops, "{}", hops::looped_reason(hops));
        event.status = LOOPED.into();
        event.matched_commands = "[]".into();
        (Vec::new(), None, None)
    } else if reports_own_failed_call(state, provider, &event_type, &payload, now_ms) {
        tracing::info!(webhook = %hook.id,
            "Open WebUI reports a failure of the runner's own chat call: kept, and nothing fires \
             on it (a task it started would call alike, fail, and be reported again)");
        event.status = LOOPED.into();
        event.matched_commands = "[]".into();
        (Vec::new(), None, None)
    } else {
        let reply = reply_in(provider, &event_type, &payload, event.source_key.as_deref());
        (fired, reply, super::echo::posted(provider, &payload))
    };

    let source: Option<SourceRef> = event
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let planned = super::planning::plan_fired(
        hook,
        command_rows,
        &fired,
        &super::planning::EventFacts {
            id: &event.id,
            provider,
            event_type: &event_type,
            received_at: now_ms,
            payload: &payload,
            source: source.as_ref(),
            body: &body,
            hops,
        },
    );
    let inline = inline_answer(&planned);

    let webhook_id = event.webhook_id.clone();
    let queues_task = planned.iter().any(|p| matches!(p, Planned::Task { .. }));
    let own_apis = cached.own_apis.clone();
    let sealer = state.sealer.clone();
    let webhook_made = hook.created_at;
    let recorded = state
        .store
        .write(move |db| {
            record::record(
                db,
                &sealer,
                &event,
                webhook_made,
                &planned,
                &own_apis,
                reply.as_ref(),
                posted.as_ref(),
                moved_from.as_deref(),
            )
        })
        .await?;
    let recorded = match recorded {
        Ok(recorded) => recorded,
        Err(gone) => {
            // Checked against a webhook deleted (perhaps made anew at its id) before this
            // write, here or by another process whose change this one's cache had not seen:
            // nothing is stored, and the sender is answered as one sending after the change
            // is. The next delivery reads the webhook anew.
            state.hooks.invalidate(&webhook_id);
            // It did no work: it must not use up the allowance of the sender's next try.
            if !inbound.dry_run {
                state
                    .limits
                    .refund(client_ip, &webhook_id, Charge::Verified);
            }
            tracing::info!(webhook = %webhook_id, ?gone,
                "the webhook was deleted (or made anew) while a delivery to it was being \
                 received: the delivery is refused, not stored");
            return Ok(match gone {
                Gone::Deleted => Outcome::UnknownWebhook,
                Gone::Replaced => Outcome::Replaced,
            });
        }
    };
    if recorded.actions > 0 {
        state.wake_workers();
    }
    // The runner sleeps between polls; a new or resumed task should not wait for the next one.
    let new = matches!(recorded.inserted, Inserted::New(_));
    if !recorded.resumed.is_empty() || (new && queues_task) {
        state.wake_runner();
    }
    match recorded.inserted {
        Inserted::New(event_id) => {
            // Nobody listening is fine: the send only fails when no MCP client watches.
            let _ = state.changes.send(super::Change::Event {
                webhook_id,
                event_id: event_id.clone(),
            });
            Ok(Outcome::Accepted {
                event_id,
                duplicate: false,
                inline,
            })
        }
        Inserted::Duplicate(event_id) => {
            Ok(duplicate(state, inbound, &cached, provider, event_id).await)
        }
    }
}

/// Whether the webhook's event holding this delivery id was read whole (not `invalid_payload`).
async fn held_whole(
    state: &AppState,
    webhook_id: String,
    delivery_id: Option<String>,
) -> Result<bool, ServiceError> {
    let Some(delivery_id) = delivery_id else {
        return Ok(false);
    };
    Ok(state
        .store
        .read(move |db| events::with_delivery_id(db, &webhook_id, &delivery_id))
        .await?
        .is_some())
}

/// The answer to a verified delivery whose id an event of the webhook already has.
async fn duplicate(
    state: &AppState,
    inbound: &Inbound,
    cached: &super::hooks::Hook,
    provider: Provider,
    event_id: String,
) -> Outcome {
    // A delivery already stored does no new work: it must not use up the allowance of the
    // sender's new deliveries (a replayed capture, or a sender's redelivery).
    if !inbound.dry_run {
        state.limits.refund(
            inbound.client.map(|c| c.ip),
            &cached.row.id,
            Charge::Verified,
        );
    }
    // A sender that retries because it lost the answer gets the answer again, about the event
    // it names: the one stored first, as it was stored.
    let inline = if cached.commands.iter().any(|c| c.action == "respond") {
        answer_about_stored(state, cached, provider, &event_id).await
    } else {
        None
    };
    Outcome::Accepted {
        event_id,
        duplicate: true,
        inline,
    }
}

/// A `respond` command's answer about an event already stored (a repeated delivery's first
/// copy): its own body, type, source and arrival, with the commands as they are now.
async fn answer_about_stored(
    state: &AppState,
    cached: &super::hooks::Hook,
    provider: Provider,
    event_id: &str,
) -> Option<Value> {
    let key = event_id.to_string();
    let row = state
        .store
        .read(move |db| events::get(db, &key))
        .await
        .ok()
        .flatten()?;
    let body = row.body.clone().unwrap_or_default();
    let payload = std::sync::Arc::new(providers::parse_payload(provider, &body).ok()?);
    let (_, planned) = super::planning::plan_stored(
        &cached.row,
        &cached.commands,
        &cached.compiled,
        provider,
        &row,
        &payload,
        &body,
    );
    inline_answer(&planned)
}

/// A `respond` command's answer among the planned work, for the HTTP response.
fn inline_answer(planned: &[Planned]) -> Option<Value> {
    planned.iter().find_map(|p| match p {
        Planned::Inline { body, .. } => Some(body.clone()),
        _ => None,
    })
}

/// Event types that carry a reply on a thread: a comment on an issue, a message in a Slack
/// thread. Messages from bots (including this service's own) are not replies.
pub(super) fn reply_in(
    provider: Provider,
    event_type: &str,
    payload: &Value,
    source_key: Option<&str>,
) -> Option<Reply> {
    let source_key = source_key?;
    let is_reply = match provider {
        // A review submitted with words of its own answers on its pull request too; the
        // review GitHub wraps a thread reply in has none (its text is taken from that reply's
        // own delivery), and is passed over below for want of a body.
        Provider::GitHub => matches!(
            event_type,
            "issue_comment.created"
                | "pull_request_review_comment.created"
                | "pull_request_review.submitted"
        ),
        // GitLab 16.11 and later name the action: `note.create` (an edit is `note.update`).
        Provider::GitLab => matches!(event_type, "note" | "note.create"),
        // A webhook subscribed to issue events only hears of a comment as an issue update.
        Provider::Jira => {
            event_type == "comment_created"
                || (event_type == "jira:issue_updated"
                    && payload
                        .pointer("/issue_event_type_name")
                        .and_then(Value::as_str)
                        == Some("issue_commented")
                    && payload.get("comment").is_some_and(Value::is_object))
        }
        // New posts only: an edit (`message_changed`) is not an answer. An app that hears
        // mentions only hears an answer that mentions it as an `app_mention`.
        Provider::Slack => {
            (event_type == "message"
                || event_type.starts_with("message.")
                || event_type == "app_mention")
                && payload.pointer("/event/thread_ts").is_some()
        }
        Provider::Linear => event_type == "Comment.create",
        _ => false,
    };
    // The same test as a `from_bot` condition's, so a bot a command ignores is never taken
    // for an answer either.
    if !is_reply || engine::actor::from_bot(payload) {
        return None;
    }
    let text_at = |p: &str| payload.pointer(p).and_then(Value::as_str);
    let text = engine::payload::bodies(payload).into_iter().next()?;
    // Slack delivers a message that mentions the app twice (`message` and `app_mention`),
    // each with its own event id, and Jira a comment twice (`comment_created` and
    // `jira:issue_updated`): the message names both.
    let message = match provider {
        Provider::Slack => crate::providers::slack_message(payload),
        Provider::Jira => payload
            .pointer("/comment/id")
            .and_then(super::echo::id_text),
        _ => None,
    };
    // A question asked on the issue is found by its id too (see `providers::issue_id`); a Jira
    // issue's id is its site's, so the site goes with it.
    let issue_id = crate::providers::issue_id(provider, payload);
    let site = (provider == Provider::Jira)
        .then(|| {
            ["/issue/self", "/comment/self"]
                .into_iter()
                .find_map(text_at)
        })
        .flatten()
        .and_then(|address| crate::providers::site_of("jira", address));
    Some(Reply {
        source_key: source_key.to_string(),
        text,
        message,
        issue_id,
        site,
        author: engine::payload::author_shown(payload),
    })
}

async fn store(state: &AppState, event: NewEvent) -> Result<Inserted, ServiceError> {
    Ok(state
        .store
        .write(move |db| events::insert(db, &event))
        .await?)
}

/// Stores a rejected event and, now and then, lets that webhook's oldest rejected ones go in
/// the same write (see [`super::rejected::Pruning`]).
async fn store_rejected(state: &AppState, event: NewEvent) -> Result<Inserted, ServiceError> {
    let prune = state
        .rejected
        .due(&event.webhook_id)
        .then(|| (state.rejected.keep(), state.rejected.at_most()));
    Ok(state
        .store
        .write(move |db| {
            let inserted = events::insert(db, &event)?;
            if let Some((keep, at_most)) = prune {
                events::prune_rejected(db, &event.webhook_id, keep, at_most)?;
            }
            Ok(inserted)
        })
        .await?)
}

/// Fills the event's type, delivery id and source; returns a handshake if there is one.
fn describe_into(
    event: &mut NewEvent,
    provider: Provider,
    options: &ProviderOptions,
    headers: &HeaderMap,
    payload: &Value,
) -> Option<Handshake> {
    let d = providers::describe(provider, options, headers, payload);
    event.event_type = Some(d.event_type);
    event.delivery_id = d.delivery_id;
    if let Some(source) = d.source {
        event.source_kind = Some(source.kind.clone());
        event.source_key = Some(source.key.clone());
        event.source = serde_json::to_string(&source).ok();
    }
    d.handshake
}

/// The secrets that verify now: the current one and a previous one still in its grace period.
pub(super) fn secrets(hook: &WebhookRow, now_ms: i64) -> Secrets<'_> {
    let previous = hook
        .previous_secret
        .as_deref()
        .filter(|_| hook.previous_expires_at.is_some_and(|at| at > now_ms));
    Secrets {
        current: &hook.secret,
        previous,
    }
}

/// A header that carries a credential, not kept with the event: the known ones, and any
/// named like one (`X-Api-Key`, `X-Auth-Token`, `X-Webhook-Secret`). Signatures are kept (they
/// prove nothing without the secret and help debug a mismatch), and so are keys that name
/// things, not grant access (GitLab's `Idempotency-Key`, Bitbucket's `X-Event-Key`).
fn is_secret_header(name: &str) -> bool {
    /// Words that make a header a credential wherever they stand in its name.
    const CREDENTIAL_WORDS: [&str; 18] = [
        "token",
        "secret",
        "password",
        "passwd",
        "pass",
        "passcode",
        "pwd",
        "jwt",
        "bearer",
        "otp",
        "session",
        "auth",
        "authorization",
        "authentication",
        "credential",
        "credentials",
        "apikey",
        "cookie",
    ];
    /// Words that make a following `key` a credential (`X-Api-Key`, `X-Webhook-Key`).
    const GRANTING_KEY: [&str; 7] = [
        "api", "access", "private", "secret", "auth", "webhook", "signing",
    ];
    let name = name.to_ascii_lowercase().replace('_', "-");
    if SECRET_HEADERS.contains(&name.as_str()) {
        return true;
    }
    let words: Vec<&str> = name.split('-').collect();
    words.iter().any(|w| CREDENTIAL_WORDS.contains(w))
        || words
            .windows(2)
            .any(|pair| pair[1] == "key" && GRANTING_KEY.contains(&pair[0]))
}

/// The request headers as a JSON object, minus any that carry a secret, up to `total` bytes.
fn stored_headers(headers: &HeaderMap, options: &ProviderOptions, total: usize) -> String {
    let token_header = options
        .custom
        .as_ref()
        .filter(|c| c.mode == CustomMode::Token)
        .and_then(|c| c.header.as_deref())
        .map(str::to_ascii_lowercase);
    let mut map = serde_json::Map::new();
    let mut kept = 0;
    for name in headers.keys() {
        let key = name.as_str();
        if is_secret_header(key) || token_header.as_deref() == Some(key) {
            continue;
        }
        let mut value = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        if kept + key.len() + value.len().min(HEADER_VALUE_KEEP) > total {
            map.insert("…".into(), Value::String("more headers not kept".into()));
            break;
        }
        // Cut first: what is dropped needs no masking, and masking reads what it keeps.
        truncate_kept(&mut value, HEADER_VALUE_KEEP);
        if let Cow::Owned(masked) = without_url_tokens(&value) {
            value = masked;
        }
        kept += key.len() + value.len();
        map.insert(key.to_string(), Value::String(value));
    }
    Value::Object(map).to_string()
}

/// Stored headers as they are shown: those named like a credential left out and URL tokens
/// masked, as [`stored_headers`] keeps them now. Builds before these rules kept some (an
/// `X-Session-Id`, a `Referer` with `?token=`), and filtering kept headers changes nothing.
/// (The custom token header of a webhook was left out from the first build.)
pub(super) fn shown_headers(stored: &str) -> Value {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(stored) else {
        return Value::Null;
    };
    map.retain(|name, _| !is_secret_header(name));
    for value in map.values_mut() {
        if let Some(Cow::Owned(masked)) = value.as_str().map(without_url_tokens) {
            *value = Value::String(masked);
        }
    }
    Value::Object(map)
}

/// `value` with the value of every `token=` parameter masked: a webhook whose secret rides in
/// its URL (`?token=`, Open WebUI and custom senders) has it copied into `Referer` or a
/// proxy's `X-Original-URI`, and stored headers are shown to read keys. A name is read as the
/// receiver reads it (percent-decoded, any case), and any name ending in `token`
/// (`access_token=`) is masked with it.
fn without_url_tokens(value: &str) -> Cow<'_, str> {
    const BEFORE_NAME: &[u8] = b"?&;,/#\"' \t";
    const MAX_NAME_BYTES: usize = 256;
    const AFTER_VALUE: &[u8] = b"&#;,\"' \t";
    let bytes = value.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    for (eq, _) in value.match_indices('=') {
        if eq < copied {
            continue;
        }
        // Only a name that can end in `token` is read whole: its last letter, or its escape.
        let before = &bytes[..eq];
        let ends_in_n = before.last().is_some_and(|b| b.eq_ignore_ascii_case(&b'n'))
            || before.len() >= 3 && before[before.len() - 3..].eq_ignore_ascii_case(b"%6e");
        if !ends_in_n {
            continue;
        }
        // A name is looked for at most this far back, so that a value of `a=a=a=…` with no
        // delimiter costs no more than one of delimiters.
        let floor = eq.saturating_sub(MAX_NAME_BYTES);
        let start = bytes[floor..eq]
            .iter()
            .rposition(|b| BEFORE_NAME.contains(b))
            .map_or(floor, |p| floor + p + 1);
        if !value.is_char_boundary(start) {
            continue;
        }
        let name = percent_encoding::percent_decode_str(&value[start..eq]).decode_utf8_lossy();
        if !name.to_ascii_lowercase().ends_with("token") {
            continue;
        }
        let from = eq + 1;
        let end = bytes[from..]
            .iter()
            .position(|b| AFTER_VALUE.contains(b))
            .map_or(bytes.len(), |n| from + n);
        if end > from {
            out.push_str(&value[copied..from]);
            out.push_str("********");
            copied = end;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(value);
    }
    out.push_str(&value[copied..]);
    Cow::Owned(out)
}

/// Cuts `value` to at most `limit` bytes (on a character boundary) and says how much went.
fn truncate_kept(value: &mut String, limit: usize) {
    if value.len() <= limit {
        return;
    }
    let cut = value.floor_char_boundary(limit);
    let dropped = value.len() - cut;
    value.truncate(cut);
    value.push_str(&format!("…[{dropped} more bytes not kept]"));
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn is_slack_ssl_check(body: &[u8]) -> bool {
    form_urlencoded::parse(body).any(|(k, v)| k == "ssl_check" && v == "1")
        && !body.starts_with(b"{")
}

#[cfg(test)]
mod tests {
    use super::{is_secret_header, without_url_tokens};

    #[test]
    fn headers_named_as_credentials_are_not_kept_and_signatures_are() {
        for (name, secret) in [
            ("X-Api-Key", true),
            ("X-Auth-Token", true),
            ("X-JWT", true),
            ("X-Bearer", true),
            ("X-Passcode", true),
            ("X-Otp", true),
            ("X-Session-Id", true),
            ("X-Hub-Signature-256", false),
            ("X-GitHub-Delivery", false),
            ("Webhook-Id", false),
            ("X-Passenger-Count", false),
        ] {
            assert_eq!(is_secret_header(name), secret, "{name}");
        }
    }

    #[test]
    fn url_tokens_in_header_values_are_masked() {
        let cases = [
            (
                "/webhooks/openwebui/ow1?token=abc123",
                "/webhooks/openwebui/ow1?token=********",
            ),
            (
                "https://h/x?a=1&TOKEN=abc&b=2",
                "https://h/x?a=1&TOKEN=********&b=2",
            ),
            ("/x?access_token=abc#frag", "/x?access_token=********#frag"),
            ("/x?token=a&token=b", "/x?token=********&token=********"),
            ("/x?token=&b=1", "/x?token=&b=1"),
            ("/x?token=é€;rest", "/x?token=********;rest"),
            ("no tokens here", "no tokens here"),
            ("token=", "token="),
            ("/x?%74oken=abc&b=1", "/x?%74oken=********&b=1"),
            ("/x?tokens=abc", "/x?tokens=abc"),
            ("/x?a=b=token=c", "/x?a=b=token=********"),
        ];
        for (value, want) in cases {
            assert_eq!(without_url_tokens(value), want, "{value}");
        }
        // A name is read at most 256 bytes back: with no delimiter, the last of them.
        let long = format!("{}token=s", "n".repeat(10_000));
        assert_eq!(
            without_url_tokens(&long),
            format!("{}token=********", "n".repeat(10_000))
        );
        let spaced = "n=".repeat(20_000);
        assert_eq!(without_url_tokens(&spaced), spaced.as_str());
    }
}
