//! test_webhook: builds a sample delivery of a chosen event type, signs it exactly as the
//! provider would, runs it through the real ingest path (verify, describe, match, store), and
//! reports what matched and what each matching command would do. A dry run unless asked
//! otherwise, and only over the caller's own payload: the built-in samples name repositories
//! and channels that are not the user's, so their actions (a comment, a task answering there)
//! are never run.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::{Value, json};

use super::ingest::{self, Inbound, Outcome};
use super::{ServiceError, events, webhooks};
use crate::app::AppState;
use crate::clock;
use crate::engine::plan::Planned;
use crate::providers::{Provider, ProviderOptions, samples, sign};
use crate::store::commands::CommandRow;
use crate::store::webhooks::WebhookRow;

/// The `User-Agent` of a test delivery with the caller's own payload.
pub(super) const TEST_AGENT: &str = "webhook-mcp-test";
/// The `User-Agent` of a test delivery whose body is a built-in sample.
const SAMPLE_TEST_AGENT: &str = "webhook-mcp-test (built-in sample)";

/// Whether a stored event is a test over a built-in sample: its repository, issue or channel
/// is the sample's, not the user's, so nothing may be sent or run on its behalf. (Tests over a
/// sample are dry runs; one an earlier build ran for real is refused replies all the same.)
pub fn is_sample(headers: &Value) -> bool {
    headers.get("user-agent").and_then(Value::as_str) == Some(SAMPLE_TEST_AGENT)
}

/// Why `run_actions` needs the caller's own payload.
const SAMPLE_NOT_YOURS: &str = "run_actions: true needs your own `payload`: a built-in sample \
     names an example repository, issue, ticket or channel that is not yours (octo-org's \
     issue 42, Jira's PROJ-42), and its actions would comment, answer or start tasks there with \
     your credentials. Leave run_actions out for a dry run over the sample (it shows what each \
     command would send), or pass a `payload` that names your own issue or channel";

/// Why a scheduled tick's test takes no `payload`.
const TICK_PAYLOAD_IS_OURS: &str = "a scheduled command's tick carries its own payload \
     (scheduled_for, previous_scheduled_for, schedule, timezone...), which its template reads: \
     leave payload out to test it";

/// What a test delivery did.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub webhook_id: String,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    /// accepted, matched, duplicate, rejected, invalid_payload or handshake.
    pub status: String,
    /// The commands the event matched, in run order, with what each would do.
    pub matched: Vec<PlannedCommand>,
    /// Whether the matched commands' actions and tasks were queued for real (`run_actions`).
    pub actions_queued: bool,
    /// Those queued for real: the actions' ids (get_action follows each) and the tasks'.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub action_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub task_ids: Vec<String>,
    /// Why the delivery was not accepted, if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// A warning about the test itself: an event type with no built-in sample (often a typo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The webhook's commands the event did not fire, each with why: its trigger, the first of
    /// its conditions that does not hold (with what the event has there), an earlier command's
    /// `stop`, or its being disabled.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched: Vec<UnmatchedCommand>,
    /// A scheduled command's tick fired by the test (`command_id`), not a sender's event: and
    /// whether that command is enabled, so may be run now.
    #[serde(skip)]
    tick: Option<Standing>,
}

/// Whether the command a tick test fired is enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Enabled,
    Disabled,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnmatchedCommand {
    pub command_id: String,
    pub trigger: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedCommand {
    pub command_id: String,
    pub trigger: String,
    pub action: String,
    pub agent: Option<String>,
    /// The command's template rendered over this event; `None` when it would fail.
    pub would_send: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_error: Option<String>,
    /// Where a forward whose URL is a template would go, rendered over this event (its
    /// credentials masked as a listing masks them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Why a real delivery of this event would end this command's action failed, in the words
    /// the failed action would show: the planner's own refusal (a reply on a source with no
    /// thread to reply on, a template error) or the sender's (a target ALLOWED_TARGET_HOSTS
    /// refuses, a token that is not set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_fail: Option<String>,
}

impl TestReport {
    /// A report of a test of `event_type` on the webhook, before anything is known of it.
    fn begun(
        webhook_id: &str,
        event_type: String,
        note: Option<String>,
        tick: Option<Standing>,
    ) -> TestReport {
        TestReport {
            webhook_id: webhook_id.to_string(),
            event_id: None,
            event_type: Some(event_type),
            status: String::new(),
            matched: Vec::new(),
            actions_queued: false,
            action_ids: Vec::new(),
            task_ids: Vec::new(),
            problem: None,
            note,
            unmatched: Vec::new(),
            tick,
        }
    }

    pub fn summary(&self) -> String {
        // The first few, for a model reading only the text; all of them are in `unmatched`.
        const SAID: usize = 5;
        let mut quiet: String = self
            .unmatched
            .iter()
            .take(SAID)
            .map(|c| {
                let stop = crate::quote::full_stop(&c.why);
                format!(" {} did not fire: {}{stop}", c.command_id, c.why)
            })
            .collect();
        if self.unmatched.len() > SAID {
            quiet.push_str(&format!(
                " ({} more in `unmatched`.)",
                self.unmatched.len() - SAID
            ));
        }
        match &self.note {
            Some(note) => format!("{}{quiet} Note: {note}", self.outcome()),
            None => format!("{}{quiet}", self.outcome()),
        }
    }

    /// Whether it fired a scheduled command's tick rather than a sender's event.
    fn is_tick(&self) -> bool {
        self.tick.is_some()
    }

    fn outcome(&self) -> String {
        let what = self.event_type.as_deref().unwrap_or("event");
        match (&self.problem, self.matched.len()) {
            (Some(p), _) if self.status == "duplicate" => {
                format!("Test {what} to `{}` was a duplicate: {p}", self.webhook_id)
            }
            (Some(p), _) => format!("Test {what} to `{}` was not accepted: {p}", self.webhook_id),
            (None, 0) => format!(
                "Test {what} to `{}` was verified and stored as {}; no command matched it.",
                self.webhook_id,
                self.event_id.as_deref().unwrap_or("?")
            ),
            (None, n) => {
                let list: Vec<String> = self
                    .matched
                    .iter()
                    .map(|c| format!("{} ({} on {})", c.command_id, c.action, c.trigger))
                    .collect();
                let consequence = if self.actions_queued {
                    let ids: Vec<String> = self
                        .action_ids
                        .iter()
                        .chain(&self.task_ids)
                        .map(|id| format!("`{id}`"))
                        .collect();
                    format!(
                        "their actions and tasks are queued for real ({}; get_action and \
                         get_task follow them)",
                        ids.join(", ")
                    )
                } else if self.tick == Some(Standing::Disabled) {
                    "nothing was sent or queued (a dry run); the command is disabled, so it \
                     does not fire on its clock, and runs now only once enabled"
                        .to_string()
                } else if self.is_tick() {
                    "nothing was sent or queued (a dry run; run_actions: true runs it now, as \
                     its tick would)"
                        .to_string()
                } else {
                    "nothing was sent or queued (a dry run; pass your own payload with \
                     run_actions: true to run them for real)"
                        .to_string()
                };
                let failing: String = self
                    .matched
                    .iter()
                    .filter_map(|c| {
                        let why = c.would_fail.as_deref()?;
                        let stop = crate::quote::full_stop(why);
                        Some(format!(" {} would fail: {why}{stop}", c.command_id))
                    })
                    .collect();
                let event = self.event_id.as_deref().unwrap_or("?");
                if self.is_tick() {
                    return format!(
                        "A tick of scheduled command {} on `{}` was fired now and stored as \
                         {event}; {consequence}.{failing}",
                        list.join(", "),
                        self.webhook_id,
                    );
                }
                format!(
                    "Test {what} to `{}` was verified and stored as {event}; {n} command(s) \
                     matched: {}; {consequence}.{failing}",
                    self.webhook_id,
                    list.join(", ")
                )
            }
        }
    }
}

/// What a test is asked to send: a sender's event, or a scheduled command's tick.
pub struct TestAsk<'a> {
    pub event_type: Option<&'a str>,
    pub payload: Option<Value>,
    /// The scheduled command whose tick to fire now.
    pub command_id: Option<&'a str>,
    pub run_actions: bool,
}

pub async fn test_webhook(
    state: &AppState,
    webhook_id: &str,
    ask: TestAsk<'_>,
    door: super::Door,
) -> Result<TestReport, ServiceError> {
    let TestAsk {
        event_type,
        payload,
        command_id,
        run_actions,
    } = ask;
    let hook = webhooks::load(state, webhook_id).await?;
    let (enable, rotate) = match door {
        super::Door::Mcp => ("update_webhook".to_string(), "rotate_secret".to_string()),
        super::Door::Rest => (
            format!("POST /api/webhooks/{webhook_id}/enable"),
            format!("POST /api/webhooks/{webhook_id}/rotate-secret"),
        ),
    };
    if !hook.enabled {
        return Err(ServiceError::invalid(
            "webhook_id",
            format!("webhook `{webhook_id}` is disabled; enable it with {enable} first"),
        ));
    }
    let provider: Provider = hook
        .provider
        .parse()
        .map_err(|()| ServiceError::invalid("webhook_id", "webhook has an unknown provider"))?;
    // A scheduled command's tick: named by its command, or asked for by its type without a
    // payload of the caller's (with one, it is a sender's event that calls itself `schedule`).
    let tick_type = event_type
        .map(str::trim)
        .is_some_and(|t| t == crate::engine::schedule::EVENT_TYPE);
    if command_id.is_some_and(|id| id.trim().is_empty()) {
        return Err(ServiceError::invalid(
            "command_id",
            "command_id is empty: give the id of a scheduled command (get_webhook lists them), \
             or leave it out",
        ));
    }
    if command_id.is_some() || (tick_type && payload.is_none()) {
        if payload.is_some() {
            return Err(ServiceError::invalid("payload", TICK_PAYLOAD_IS_OURS));
        }
        if let Some(other) = event_type
            .map(str::trim)
            .filter(|t| !t.is_empty() && !tick_type)
        {
            return Err(ServiceError::invalid(
                "event_type",
                format!(
                    "command_id fires a scheduled command's tick, whose type is `schedule`, not \
                     `{}`: leave event_type out (to test a command that fires on events, give \
                     the event_type without command_id)",
                    crate::quote::quoted(other)
                ),
            ));
        }
        return test_schedule(state, hook, provider, command_id, run_actions).await;
    }
    if run_actions && payload.is_none() {
        return Err(ServiceError::invalid("run_actions", SAMPLE_NOT_YOURS));
    }
    if payload.as_ref().is_some_and(|p| !p.is_object()) {
        return Err(ServiceError::invalid(
            "payload",
            "payload must be a JSON object",
        ));
    }
    let options: ProviderOptions = serde_json::from_str(&hook.options).unwrap_or_default();
    let now = clock::now_ms();
    // A payload without a type given is of the type it says it is (an Open WebUI notification
    // by its `action`, a Stripe event by its `type`), as the receiver would read it. GitHub's
    // kind travels in a header: it is read from the objects the payload carries (a
    // `pull_request` and a `review`), as GitHub's own payloads have them; Sentry's, and a
    // GitHub payload that names none, take the provider's default.
    let typed_by_header = matches!(provider, Provider::GitHub | Provider::Sentry);
    let inferred = match (
        event_type.map(str::trim).filter(|t| !t.is_empty()),
        &payload,
    ) {
        (None, Some(p)) if provider == Provider::GitHub => samples::github_event_type_of(p),
        (None, Some(p)) if !typed_by_header => {
            let t = crate::providers::describe(provider, &options, &HeaderMap::new(), p).event_type;
            (t != "unknown" && !t.starts_with("unknown.")).then_some(t)
        }
        _ => None,
    };
    let type_given = event_type.is_some_and(|t| !t.trim().is_empty());
    let kind_unknown =
        provider == Provider::GitHub && payload.is_some() && !type_given && inferred.is_none();
    let event_type = inferred.as_deref().or(event_type);
    let sample = samples::sample(provider, event_type, payload.as_ref(), now)
        .map_err(|m| ServiceError::invalid("event_type", m))?;
    let builtin = samples::builtin_event_types(provider);
    let note = (payload.is_none() && !builtin.contains(&sample.event_type.as_str())).then(|| {
        format!(
            "`{}` has no built-in {provider} sample, so a minimal payload was sent; if you meant \
             one of {}, check the spelling",
            sample.event_type,
            builtin.join(", ")
        )
    });
    // GitHub names the kind in a header only; a payload that carries none of the objects
    // that tell it (an issue, a pull request, a release...) was sent as the default kind.
    let note = note.or_else(|| {
        kind_unknown.then(|| {
            format!(
                "the payload carries none of the objects GitHub's kinds are told by (issue, \
                 pull_request, comment, release, workflow_run, ...), so it was sent as \
                 `X-GitHub-Event: {}`; give event_type (e.g. `star.created`) to send it as \
                 another kind",
                sample.event_type.split('.').next().unwrap_or_default()
            )
        })
    });
    // Signed with the placeholder, the test passes where the sender's own deliveries fail.
    let placeholder = hook.secret_placeholder.then(|| {
        format!(
            "the test was signed with the webhook's placeholder secret, so it verified; the \
             sender's own deliveries are refused until its secret is set with {rotate}"
        )
    });
    let note = match (note, placeholder) {
        (Some(a), Some(b)) => Some(format!("{a}. {b}")),
        (a, b) => a.or(b),
    };
    let signed = sign::sign(
        provider,
        &hook.secret,
        &options,
        &sample.body,
        &sample.headers,
        now,
    )
    .map_err(|e| ServiceError::invalid("webhook_id", format!("cannot sign a test: {e}")))?;

    let limit = state.config.max_body_bytes;
    if sample.body.len() > limit {
        return Err(ServiceError::invalid(
            "payload",
            format!(
                "the payload is {} bytes as sent, over the receiver's limit of {limit} \
                 (WEBHOOK_MCP_MAX_BODY_BYTES): a real delivery this large would be refused \
                 with 413",
                sample.body.len()
            ),
        ));
    }
    let mut headers = HeaderMap::new();
    for (name, value) in sample.headers.iter().chain(signed.headers.iter()) {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
    // The event log shows it was a test, and whether its body was a built-in sample, whose
    // thread is someone else's: replay and replies refuse such an event (see `is_sample`).
    let agent = if payload.is_some() {
        TEST_AGENT
    } else {
        SAMPLE_TEST_AGENT
    };
    headers.insert("user-agent", HeaderValue::from_static(agent));
    let outcome = ingest::ingest(
        state,
        Inbound {
            provider: provider.as_str().to_string(),
            webhook_id: hook.id.clone(),
            headers,
            body: sample.body.into(),
            query: signed.query,
            client: None,
            dry_run: !run_actions,
        },
    )
    .await?;

    let mut report = TestReport::begun(&hook.id, sample.event_type, note, None);
    let event_id = match outcome {
        Outcome::Accepted {
            event_id,
            duplicate: true,
            ..
        } => {
            report.status = "duplicate".into();
            report.problem = Some(format!(
                "a delivery with this id was received before (event {event_id}), so it was \
                 answered as a duplicate: nothing new was stored, sent or queued; give the \
                 payload another id to test again"
            ));
            report.event_id = Some(event_id);
            return Ok(report);
        }
        Outcome::Accepted { event_id, .. } => event_id,
        Outcome::Handshake(_) => {
            report.status = "handshake".into();
            report.problem = Some("the sample was a protocol handshake, not an event".into());
            return Ok(report);
        }
        Outcome::Rejected { event_id, reason } => {
            report.status = "rejected".into();
            report.event_id = event_id;
            report.problem = Some(reason.to_string());
            return Ok(report);
        }
        Outcome::BadPayload {
            event_id, message, ..
        } => {
            report.status = "invalid_payload".into();
            report.event_id = Some(event_id);
            report.problem = Some(message);
            return Ok(report);
        }
        Outcome::Forbidden => {
            report.status = "forbidden".into();
            report.problem = Some("the webhook's IP allowlist does not include this server".into());
            return Ok(report);
        }
        Outcome::RateLimited(wait) => {
            report.status = "rate_limited".into();
            report.problem = Some(format!(
                "the webhook's rate limit is reached; retry in {} s",
                wait.as_secs().max(1)
            ));
            return Ok(report);
        }
        Outcome::Replaced => {
            return Err(ServiceError::Conflict(format!(
                "webhook `{webhook_id}` was deleted and made anew while the test ran; nothing \
                 was stored: run the test again"
            )));
        }
        Outcome::UnknownWebhook | Outcome::Disabled => {
            return Err(ServiceError::NotFound {
                what: "webhook",
                id: webhook_id.to_string(),
            });
        }
    };
    finish(
        state,
        &hook,
        provider,
        event_id,
        event_type,
        run_actions,
        report,
    )
    .await
}

/// What the stored test event matched, and what each of its commands would send or why it
/// would fail, as planned and checked for a real delivery.
async fn finish(
    state: &AppState,
    hook: &WebhookRow,
    provider: Provider,
    event_id: String,
    event_type: Option<&str>,
    run_actions: bool,
    mut report: TestReport,
) -> Result<TestReport, ServiceError> {
    let now = clock::now_ms();
    // With the body as stored, which a forward without a template sends.
    let (event, body) = events::get_with_body(state, &event_id).await?;
    report.event_id = Some(event_id);
    let asked = std::mem::replace(&mut report.event_type, event.summary.event_type.clone());
    // A type the asked one covers as a trigger would (`message` for the `message.channels` a
    // channel message is) is the one asked for, only more exact.
    let covered = match (&asked, &report.event_type) {
        (Some(a), Some(got)) => {
            crate::engine::trigger::Trigger::parse(a).is_ok_and(|t| t.matches(got))
        }
        _ => false,
    };
    if event_type.is_some() && asked != report.event_type && !covered {
        let said = format!(
            "the payload itself makes this {} `{}`, not the `{}` asked for (the sender's \
             fields, such as `action`, name the type); change the payload to test `{2}`",
            crate::quote::a_or_an(report.event_type.as_deref().unwrap_or("?")),
            report.event_type.as_deref().unwrap_or("?"),
            asked.as_deref().unwrap_or("?"),
        );
        report.note = Some(match report.note.take() {
            Some(note) => format!("{note}; {said}"),
            None => said,
        });
    }
    let matched: Vec<String> =
        serde_json::from_value(event.summary.matched_commands.clone()).unwrap_or_default();
    // A dry run's event is stored as `test`; the report still says what matching gave.
    report.status = match event.summary.status.as_str() {
        "test" if matched.is_empty() => "accepted".into(),
        "test" => "matched".into(),
        status => status.to_string(),
    };
    report.actions_queued = run_actions && !matched.is_empty();
    if report.actions_queued {
        report.action_ids = event.actions.iter().map(|a| a.action.id.clone()).collect();
        report.task_ids = event.tasks.iter().map(|t| t.id.clone()).collect();
    }
    // The stored rows, opened as planning reads them (a shown command's target is masked),
    // so each template renders as it would be sent: escaped when its text goes to Slack.
    let key = hook.id.clone();
    let all = state
        .store
        .read(move |db| crate::store::commands::list(db, &key))
        .await?;
    let all = super::commands::opened_rows(&state.sealer, all)?;
    // Read from the body as the receiver read it (a form's payload too, which the event
    // shows only as its text).
    let event_type = event.summary.event_type.as_deref().unwrap_or_default();
    let read = crate::providers::parse_payload(provider, &body).unwrap_or(Value::Null);
    report.unmatched = unmatched(&all, &matched, event_type, &read);
    let ctx = super::planning::template_context(
        hook,
        &std::sync::Arc::new(event.payload.clone()),
        json!({
            "id": event.summary.id,
            "type": event.summary.event_type,
            "provider": event.summary.provider,
            "received_at": event.summary.received_at,
            "source": event.summary.source,
        }),
    );
    let source: Option<crate::providers::SourceRef> = event
        .summary
        .source
        .clone()
        .and_then(|s| serde_json::from_value(s).ok());
    let view = crate::engine::plan::EventView {
        provider,
        event_type: report.event_type.as_deref().unwrap_or_default(),
        payload: &event.payload,
        source: source.as_ref(),
        context: &ctx,
        body: &body,
    };
    let runs: Vec<&CommandRow> = matched
        .iter()
        .filter_map(|id| all.iter().find(|c| &c.id == id))
        .collect();
    // Planned by the planner the receiver runs, and held to the sender's checks, so that what
    // is reported as sent is what a real delivery would send, and what would fail says so.
    let planned = super::planning::plan_rows(&runs, &view);
    let own = crate::worker::own_credentials_of(state, &hook.id, Some(hook.clone()), now);
    // One wait for DNS for the whole dry run, however many commands it plans.
    let deadline = crate::actions::ssrf::lookup_deadline();
    for (c, planned) in runs.into_iter().zip(planned) {
        let rendered = super::planning::render_preview(c, &view);
        let url = match &planned {
            Planned::Send {
                delivery: Ok(crate::actions::Delivery::Forward { url, .. }),
                ..
            } if templated_url(c) => Some(crate::actions::mask_forward_url(url)),
            _ => None,
        };
        let would_fail = match &planned {
            Planned::Send {
                delivery: Err(why), ..
            } => Some(why.clone()),
            Planned::Send {
                delivery: Ok(delivery),
                ..
            } => match &own {
                Ok(own) => {
                    super::sending::refusal_when_sent(state, own.clone(), delivery, deadline).await
                }
                Err(e) => Some(e.message.clone()),
            },
            // A task's result posted to its command's channel: held to the sender's checks as
            // a message there is, since that post would fail alike when the task is done.
            Planned::Task { .. } => match (result_channel(state, c), &own) {
                (Some(delivery), Ok(own)) => {
                    super::sending::refusal_when_sent(state, own.clone(), &delivery, deadline)
                        .await
                        .map(|why| format!("its result could not be posted to its channel: {why}"))
                }
                _ => None,
            },
            Planned::Inline { .. } => None,
        };
        report.matched.push(PlannedCommand {
            command_id: c.id.clone(),
            trigger: c.trigger.clone(),
            action: c.action.clone(),
            agent: c.agent.clone(),
            would_send: rendered
                .as_ref()
                .and_then(|r| r.as_ref().ok().cloned())
                .filter(|_| would_fail.is_none()),
            template_error: rendered.and_then(|r| r.err()),
            would_fail,
            url,
        });
    }
    Ok(report)
}

/// A scheduled command's tick fired now: `command_id`'s, or the webhook's one scheduled
/// command's. A dry run stores it as a `test` and reports what it would send; `run_actions`
/// queues its work, as the clock's tick would.
async fn test_schedule(
    state: &AppState,
    hook: WebhookRow,
    provider: Provider,
    command_id: Option<&str>,
    run_actions: bool,
) -> Result<TestReport, ServiceError> {
    let command_id = match command_id {
        Some(id) => id.to_string(),
        None => only_scheduled(state, &hook.id).await?,
    };
    let (inserted, enabled) =
        super::schedules::fire_now(state, &hook.id, &command_id, !run_actions).await?;
    let standing = if enabled {
        Standing::Enabled
    } else {
        Standing::Disabled
    };
    let report = TestReport::begun(
        &hook.id,
        crate::engine::schedule::EVENT_TYPE.into(),
        None,
        Some(standing),
    );
    let event_id = match inserted {
        crate::store::events::Inserted::New(id) => id,
        crate::store::events::Inserted::Duplicate(id) => {
            return Ok(TestReport {
                status: "duplicate".into(),
                problem: Some(format!(
                    "this command was run at this same moment already (event {id}): nothing \
                     new was stored or queued"
                )),
                event_id: Some(id),
                ..report
            });
        }
    };
    let mut report = finish(state, &hook, provider, event_id, None, run_actions, report).await?;
    // The webhook's other commands were never asked: a tick is its own command's alone.
    report.unmatched.clear();
    Ok(report)
}

/// The webhook's one scheduled command, for a tick test that names none.
async fn only_scheduled(state: &AppState, webhook_id: &str) -> Result<String, ServiceError> {
    let key = webhook_id.to_string();
    let rows = state
        .store
        .read(move |db| crate::store::commands::list(db, &key))
        .await?;
    let scheduled: Vec<&CommandRow> = rows.iter().filter(|c| c.schedule.is_some()).collect();
    match scheduled.as_slice() {
        [only] => Ok(only.id.clone()),
        [] => Err(ServiceError::invalid(
            "event_type",
            format!(
                "webhook `{webhook_id}` has no scheduled command: a `schedule` test fires one \
                 (add one with trigger: \"schedule\" and a cron `schedule`)"
            ),
        )),
        many => Err(ServiceError::invalid(
            "command_id",
            format!(
                "webhook `{webhook_id}` has {} scheduled commands ({}): give command_id to \
                 choose the one to test",
                many.len(),
                many.iter()
                    .map(|c| format!(
                        "`{}` at `{}`, {}{}{}",
                        c.id,
                        c.schedule.as_deref().unwrap_or_default(),
                        c.action,
                        c.agent
                            .as_deref()
                            .map_or_else(String::new, |a| format!(" for {a}")),
                        if c.enabled { "" } else { ", disabled" }
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The message a create_task's result would be to the channel its command names (its text
/// left empty: only where it goes is checked).
fn result_channel(state: &AppState, row: &CommandRow) -> Option<crate::actions::Delivery> {
    if row.action != "create_task" {
        return None;
    }
    let target: crate::engine::command::Target =
        serde_json::from_str(row.target.as_deref()?).ok()?;
    let kind = super::tasks::channel_kind(state, &target);
    Some(super::tasks::message_to(target, kind, String::new()))
}

/// Whether a command's target URL is a template, rendered over each event.
fn templated_url(row: &CommandRow) -> bool {
    row.target
        .as_deref()
        .and_then(|t| serde_json::from_str::<crate::engine::command::Target>(t).ok())
        .is_some_and(|t| crate::engine::url_template::is_template(&t.url))
}

/// Why each command in `rows` (in run order) that is not in `matched` stayed quiet.
fn unmatched(
    rows: &[CommandRow],
    matched: &[String],
    event_type: &str,
    payload: &Value,
) -> Vec<UnmatchedCommand> {
    // Compiled here, not logged: the receiver already says so of a command that does not.
    let mut broken = std::collections::HashMap::new();
    let compiled: Vec<_> = rows
        .iter()
        .filter(|row| row.enabled)
        .filter_map(|row| match super::commands::compile(row) {
            Ok(compiled) => Some(compiled),
            Err(e) => {
                broken.insert(row.id.as_str(), e.to_string());
                None
            }
        })
        .collect();
    let mut why: std::collections::HashMap<&str, String> =
        crate::engine::unmatched(&compiled, event_type, payload)
            .into_iter()
            .collect();
    rows.iter()
        .filter(|row| !matched.contains(&row.id))
        .map(|row| UnmatchedCommand {
            command_id: row.id.clone(),
            trigger: row.trigger.clone(),
            why: if !row.enabled {
                "it is disabled".into()
            } else if let Some(error) = broken.remove(row.id.as_str()) {
                format!(
                    "it does not run in this version ({error}); get_webhook shows it with a \
                     warning"
                )
            } else {
                why.remove(row.id.as_str()).unwrap_or_else(|| {
                    // It would match now, but the receiver matched with the commands it held
                    // (changed since), or took the event for our own post.
                    "it matches this event now, but was not among the commands it ran (the \
                     webhook's commands changed meanwhile, or the event was taken for one of \
                     our own posts)"
                        .into()
                })
            },
        })
        .collect()
}
