//! Actions asked for by a person or an agent (comment, ask, respond, post_message), replaying
//! an event, and listing, cancelling or retrying actions. All go through the outbox, like
//! commands do.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::record::{self, outbox_row};
use super::{ServiceError, events, new_id};
use crate::actions::broadcasts::Mentions;
use crate::actions::{Delivery, MessageKind, guess_kind_on};
use crate::app::AppState;
use crate::clock;
use crate::engine::ActionKind;
use crate::engine::plan::{self, Planned};
use crate::providers::{self, Provider, SourceRef};
use crate::store::events::NewEvent;
use crate::store::outbox::{self, OutboxRow};
use crate::store::tasks;
use crate::store::webhooks::Standing;

/// A queued action, as shown in answers and the event log.
#[derive(Debug, Clone, Serialize)]
pub struct ActionOut {
    pub id: String,
    pub event_id: Option<String>,
    pub command_id: Option<String>,
    pub task_id: Option<String>,
    pub action: String,
    pub target: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    /// An action being sent: until when its send holds it. Nothing may cancel or resend it
    /// before then (another process on the database may be sending it); if its sender died,
    /// the next sender takes it up again once this has passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_expires_at: Option<String>,
    pub last_error: Option<String>,
    pub last_status: Option<i64>,
    pub remote_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// What the caller should know of an action just queued: this process sends none, and
    /// would have refused it by its own tokens or allowed hosts (see `sending`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

pub fn present(row: &OutboxRow) -> ActionOut {
    let pending = matches!(row.status.as_str(), "pending" | "retrying");
    ActionOut {
        id: row.id.clone(),
        event_id: row.event_id.clone(),
        command_id: row
            .command_id
            .clone()
            .filter(|c| !super::tasks::is_result_key(c)),
        task_id: row.task_id.clone(),
        action: row.action.clone(),
        target: crate::actions::shown_target(&row.target).into_owned(),
        status: row.status.clone(),
        attempts: row.attempts,
        next_attempt_at: pending.then(|| clock::rfc3339(row.next_attempt_at)),
        lease_expires_at: row
            .lease_until
            .filter(|_| row.status == "sending")
            .map(clock::rfc3339),
        last_error: row.last_error.clone(),
        last_status: row.last_status,
        remote_id: row.remote_id.clone(),
        created_at: clock::rfc3339(row.created_at),
        updated_at: clock::rfc3339(row.updated_at),
        warnings: Vec::new(),
    }
}

/// An action just queued as shown, with a warning for each check this process left to the
/// one that sends.
fn present_queued(row: &OutboxRow, left_to_sender: &[String]) -> ActionOut {
    let mut out = present(row);
    out.warnings = left_to_sender
        .iter()
        .map(|why| super::sending::action_warning(why, &row.id))
        .collect();
    out
}

/// Where a manual reply goes: an event, or a task (whose event and thread it belongs to).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReplyTo {
    pub event_id: Option<String>,
    pub task_id: Option<String>,
    /// Who wrote the text; set by the caller, never read from a request.
    #[serde(skip)]
    pub author: Author,
}

/// Who wrote a reply's text. A model's words (an agent's, or an MCP client's) are defused
/// before they are queued: it reads untrusted payloads, so it may not notify a whole channel
/// (`Mentions::defuse`), and must fit their place as sent. A person's (a REST call) are sent as
/// written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Author {
    #[default]
    Person,
    Model,
}

impl Author {
    /// `text` as it is sent to a place with `mentions`.
    pub(crate) fn shape(self, mentions: Mentions, text: String) -> String {
        match self {
            Author::Person => text,
            Author::Model => mentions.defuse(&text),
        }
    }
}

impl ReplyTo {
    /// The field that named where the reply goes, for an error about that place.
    fn field(&self) -> &'static str {
        if self.event_id.is_none() && self.task_id.is_some() {
            "task_id"
        } else {
            "event_id"
        }
    }
}

/// Posts `text` on the source thread of the event (comment on the issue, reply in the thread).
pub async fn comment(
    state: &AppState,
    to: ReplyTo,
    text: String,
) -> Result<ActionOut, ServiceError> {
    send_on_source(state, to, text, ActionKind::Comment).await
}

/// Posts a question on the source thread; the task (the given one, or a new one for `agent`)
/// waits for the reply, which resumes it.
pub async fn ask(
    state: &AppState,
    to: ReplyTo,
    question: String,
    agent: Option<String>,
) -> Result<ActionOut, ServiceError> {
    check_text("question", &question)?;
    // The same names a command's agent may have: the task waits under it for a runner or
    // an agent that claims by name, and no other name is ever claimed.
    let agent = agent
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    if let Some(agent) = agent.as_deref()
        && !crate::engine::command::is_name(agent)
    {
        return Err(ServiceError::invalid(
            "agent",
            format!(
                "`{}` is not an agent name: agent names use letters, digits, `-` and `_` (at \
                 most 64); leave it out for `{}`",
                super::quoted(agent),
                crate::agents::ASK_AGENT
            ),
        ));
    }
    let (event, task, task_source) = resolve(state, &to).await?;
    // A task's answer goes to the agent that runs it: another name given with its id would be
    // dropped unseen, so it is refused (its own name, as a model often repeats it, is fine).
    if let (Some(task), Some(wanted)) = (&task, agent.as_deref())
        && task.agent != wanted
    {
        return Err(ServiceError::invalid(
            "agent",
            format!(
                "task `{}` is run by agent `{}`, which takes the answer; leave `agent` out, or \
                 ask with the event_id alone to start a task for `{wanted}`",
                task.id, task.agent
            ),
        ));
    }
    let source = task_source.map_or_else(|| source_of(&event), Ok)?;
    // Posted as sent; the task keeps the question as written, for the agent that reads it.
    let sent = shaped_to_fit("question", to.author, question.clone(), &source)?;
    let delivery = plan::reply_on_source(Some(&source), sent)
        .map_err(|m| ServiceError::invalid(to.field(), m))?;
    let unchecked = check_credentials(state, Some(&event.summary.webhook_id), &delivery).await?;
    let now = clock::now_ms();
    let task_id = to.task_id.clone();
    let agent = agent.unwrap_or_else(|| crate::agents::ASK_AGENT.into());
    let (event_id, webhook_id) = (event.summary.id.clone(), event.summary.webhook_id.clone());
    let sealer = state.sealer.clone();
    let row = state
        .store
        .write(move |db| {
            let task_id = match &task_id {
                Some(id) => id.clone(),
                None => {
                    let task = tasks::TaskRow {
                        id: new_id("task"),
                        event_id: Some(event_id.clone()),
                        webhook_id: Some(webhook_id.clone()),
                        command_id: None,
                        agent: agent.clone(),
                        prompt: question.clone(),
                        status: "queued".into(),
                        source_kind: Some(source.kind.clone()),
                        source_key: Some(source.key.clone()),
                        source: serde_json::to_string(&source).ok(),
                        conversation: "[]".into(),
                        result: None,
                        error: None,
                        attempts: 0,
                        waiting_since: None,
                        created_at: now,
                        updated_at: now,
                        run_failures: 0,
                        run_progress: None,
                        lease_owner: None,
                        next_run_at: None,
                        lease_until: None,
                    };
                    tasks::insert(db, &task)?;
                    task.id
                }
            };
            if !tasks::wait_for_reply(db, &task_id, &question, now)? {
                // The task is finished: asking on it would post a question nobody waits for.
                return Ok(Err(task_id));
            }
            let row = outbox_row(
                &sealer,
                new_id("act"),
                Some(&event_id),
                Some(&webhook_id),
                None,
                Some(task_id),
                ActionKind::Ask,
                &Ok(delivery.clone()),
                now,
            );
            insert_and_settle(db, &row)?;
            Ok(Ok(row))
        })
        .await
        .map_err(|e| event_gone(e, Some(&event.summary.id)))?
        .map_err(|task_id| {
            ServiceError::Conflict(format!(
                "task `{task_id}` is finished, so nobody would wait for the answer; ask with the \
                 event_id alone, which starts a new task that waits for it"
            ))
        })?;
    state.wake_workers();
    Ok(present_queued(&row, unchecked.as_slice()))
}

/// Answers the sender: Slack's `response_url` when the event has one, else a comment.
pub async fn respond(
    state: &AppState,
    to: ReplyTo,
    text: String,
) -> Result<ActionOut, ServiceError> {
    send_on_source(state, to, text, ActionKind::Respond).await
}

/// The longest `url` or `chat_id` a message is posted to, in bytes.
const MAX_MESSAGE_TARGET_BYTES: usize = 8 * 1024;

/// A channel message to a target URL (Open WebUI channel webhook, Slack, Discord, Teams,
/// Telegram), optionally tied to an event for the log, and to the task whose agent posts it
/// (so that cancelling the task stops it too, as it stops the task's comments).
#[allow(clippy::too_many_arguments)]
pub async fn post_message(
    state: &AppState,
    url: String,
    kind: Option<String>,
    chat_id: Option<String>,
    text: String,
    event_id: Option<String>,
    task_id: Option<String>,
    author: Author,
) -> Result<ActionOut, ServiceError> {
    // As a command's target is bounded: each is kept with the action and shown in listings.
    for (field, value) in [("url", Some(&url)), ("chat_id", chat_id.as_ref())] {
        if let Some(value) = value.filter(|v| v.len() > MAX_MESSAGE_TARGET_BYTES) {
            return Err(ServiceError::invalid(
                field,
                format!(
                    "`{field}` is {} bytes, more than the {MAX_MESSAGE_TARGET_BYTES} it may be",
                    value.len()
                ),
            ));
        }
    }
    let target = crate::engine::command::Target {
        url: url.clone(),
        secret: None,
        kind: kind.clone(),
        chat_id: chat_id.clone(),
    };
    crate::engine::command::check(&crate::engine::CommandSpec {
        trigger: "*",
        action: "post_message",
        agent: None,
        template: Some("x"),
        conditions: &Value::Null,
        target: Some(&serde_json::to_value(&target).unwrap_or_default()),
    })
    .map_err(|e| ServiceError::invalid(&e.field.replace("target.", ""), e.message))?;
    // As add_command refuses it: the post would only fail later, in a dead action.
    crate::engine::command::check_openwebui_path(&target)
        .map_err(|e| ServiceError::invalid(&e.field.replace("target.", ""), e.message))?;
    let (url_given, kind_given) = (url.clone(), kind.is_some());
    let kind = match kind {
        Some(k) => k.parse::<MessageKind>().map_err(|_| {
            ServiceError::invalid("kind", format!("unknown kind `{}`", super::quoted(&k)))
        })?,
        None => guess_kind_on(&url, &state.config.upstreams.telegram_api_url),
    };
    // Checked now: the sender would only find out later, in a dead action nobody watches.
    if let Some(refused) = crate::actions::masked_url_refusal(&url) {
        return Err(ServiceError::invalid("url", refused));
    }
    let mut unchecked: Vec<String> = super::sending::target_refusal(state, &url)
        .map_err(|refused| ServiceError::invalid("url", refused))?
        .into_iter()
        .collect();
    if text.trim().is_empty() {
        return Err(ServiceError::invalid(
            "text",
            "the message is empty; give the text to post",
        ));
    }
    // Refused past the channel's limit, as a reply is: the sender would cut it, leaving out
    // what the caller meant.
    let mentions = Mentions::of_channel(kind);
    let text = match plan::channel_limit(kind) {
        Some(limit) => shaped_within("text", author, text, mentions, limit)?,
        None => author.shape(mentions, text),
    };
    // As a command's target is held: Telegram's names its chat, the others' URL is theirs.
    crate::engine::command::check_message_target(&crate::engine::command::Target {
        kind: Some(kind.as_str().into()),
        ..target
    })
    .map_err(|e| ServiceError::invalid(&e.field.replace("target.", ""), e.message))?;
    let webhook_id = match &event_id {
        Some(id) => {
            let event = events::get(state, id).await?;
            // As a reply on it is: and a rejected event is pruned with nothing to hold what
            // names it, so the message would outlive it, unseen by every retention sweep.
            if !event.summary.verified {
                return Err(unverified_event());
            }
            Some(event.summary.webhook_id)
        }
        None => None,
    };
    // A name that resolves to a private address is only warned about: DNS may answer
    // otherwise when it is sent. Looked up last, once everything cheaper has passed.
    let by_address = match unchecked.is_empty() {
        true => {
            super::sending::address_refusal(state, &url, crate::actions::ssrf::lookup_deadline())
                .await
        }
        false => None,
    };
    let delivery = Delivery::ChannelMessage {
        url,
        kind,
        text,
        chat_id,
    };
    unchecked.extend(check_credentials(state, webhook_id.as_deref(), &delivery).await?);
    let now = clock::now_ms();
    let row = outbox_row(
        &state.sealer,
        new_id("act"),
        event_id.as_ref(),
        webhook_id.as_ref(),
        None,
        task_id,
        ActionKind::PostMessage,
        &Ok(delivery),
        now,
    );
    let stored = row.clone();
    state
        .store
        .write(move |db| insert_and_settle(db, &stored))
        .await
        .map_err(|e| event_gone(e, row.event_id.as_deref()))?;
    state.wake_workers();
    let mut out = present_queued(&row, &unchecked);
    out.warnings
        .extend(by_address.map(|why| super::sending::queued_address_warning(state, &why, &row.id)));
    out.warnings.extend(super::sending::unknown_channel_warning(
        state, "url", &url_given, kind_given,
    ));
    Ok(out)
}

/// A reply or message the server has no token to send (GITHUB_TOKEN unset, say) is refused
/// before it is queued: queued, it could only go dead later, where nobody is watching. In a
/// process that does not send, only what no sender could send is refused: `Ok(Some(why))`
/// says what this one's own settings lack, for the warning (see `sending`).
pub(super) async fn check_credentials(
    state: &AppState,
    webhook_id: Option<&str>,
    delivery: &Delivery,
) -> Result<Option<String>, ServiceError> {
    let own = match webhook_id {
        // A failed read is the store's error, not the caller's: it is not answered as a 400.
        Some(id) => {
            let key = id.to_string();
            let webhook = state
                .store
                .read(move |db| crate::store::webhooks::get(db, &key))
                .await?;
            // Deleted since the caller looked: the 409 every reply on such an event gets,
            // not a 400 as if the request were wrong.
            if webhook.is_none() {
                return Err(deleted_webhook(id));
            }
            crate::worker::own_credentials_of(state, id, webhook, clock::now_ms())
        }
        None => Ok(Default::default()),
    }
    .map_err(|e| ServiceError::Invalid {
        field: None,
        message: e.message,
    })?;
    super::sending::missing_credentials(state, own, delivery).map_err(|missing| {
        ServiceError::Invalid {
            field: None,
            message: format!("nothing was queued: {missing}"),
        }
    })
}

async fn send_on_source(
    state: &AppState,
    to: ReplyTo,
    text: String,
    action: ActionKind,
) -> Result<ActionOut, ServiceError> {
    let planned = plan_on_source(state, &to, text, action).await?;
    let stored = planned.row.clone();
    state
        .store
        .write(move |db| insert_and_settle(db, &stored))
        .await
        .map_err(|e| event_gone(e, planned.row.event_id.as_deref()))?;
    state.wake_workers();
    Ok(planned.presented())
}

/// A reply on a source thread, checked and ready to queue ([`insert_and_settle`]).
pub(super) struct OnSource {
    pub row: OutboxRow,
    /// The credentials its sender was left to check.
    unchecked: Option<String>,
}

impl OnSource {
    /// The action as queued, with what was left to its sender.
    pub fn presented(&self) -> ActionOut {
        present_queued(&self.row, self.unchecked.as_slice())
    }
}

/// Checks a reply by hand on the source thread of an event or task, and makes its action.
pub(super) async fn plan_on_source(
    state: &AppState,
    to: &ReplyTo,
    text: String,
    action: ActionKind,
) -> Result<OnSource, ServiceError> {
    check_text("text", &text)?;
    let (event, task, task_source) = resolve(state, to).await?;
    let source = task_source.map_or_else(|| source_of(&event), Ok)?;
    let text = shaped_to_fit("text", to.author, text, &source)?;
    let response_url = source
        .detail
        .get("response_url")
        .and_then(Value::as_str)
        .map(str::to_string);
    let delivery = match (action, response_url) {
        (ActionKind::Respond, Some(url)) => Delivery::SlackResponse {
            response_url: url,
            text,
            replace_original: false,
        },
        _ => plan::reply_on_source(Some(&source), text)
            .map_err(|m| ServiceError::invalid(to.field(), m))?,
    };
    let unchecked = check_credentials(state, Some(&event.summary.webhook_id), &delivery).await?;
    let row = outbox_row(
        &state.sealer,
        new_id("act"),
        Some(&event.summary.id),
        Some(&event.summary.webhook_id),
        None,
        task.map(|t| t.id),
        action,
        &Ok(delivery),
        clock::now_ms(),
    );
    Ok(OnSource { row, unchecked })
}

/// The longest reply sent by hand, in characters, wherever it goes (GitHub's limit for a
/// comment; the places whose limits are known check their own, see `plan::reply_limit`).
const MAX_REPLY_CHARS: usize = 65_536;

/// A reply's text must say something, and fit where it goes.
fn check_text(field: &str, text: &str) -> Result<(), ServiceError> {
    if text.trim().is_empty() {
        return Err(ServiceError::invalid(field, "the text to send is empty"));
    }
    // Longer than any place takes: refused before anything is looked up, so the place's own
    // (often lower) limit is not known yet, and the message may not suggest that this one
    // would go through.
    let chars = text.chars().count();
    if chars > MAX_ANY_REPLY_CHARS {
        return Err(ServiceError::invalid(
            field,
            format!(
                "the text is {chars} characters; no place a reply goes takes more than \
                 {MAX_ANY_REPLY_CHARS}"
            ),
        ));
    }
    Ok(())
}

/// The longest text any place takes (a GitLab note).
const MAX_ANY_REPLY_CHARS: usize = 1_000_000;

/// A reply by hand must say something and fit where it goes: on `source`, or anywhere a reply
/// goes when it names none.
pub(super) fn check_reply(
    field: &str,
    text: &str,
    source: Option<&SourceRef>,
) -> Result<(), ServiceError> {
    check_text(field, text)?;
    match source {
        Some(source) => check_fits(field, text, source),
        None => check_fits_limit(
            field,
            text,
            plan::Limit::chars(MAX_REPLY_CHARS, "a reply"),
            "",
        ),
    }
}

/// A reply by hand is refused, not cut, when it is longer than its thread takes.
fn check_fits(field: &str, text: &str, source: &SourceRef) -> Result<(), ServiceError> {
    check_fits_limit(field, text, reply_limit(source), "")
}

fn reply_limit(source: &SourceRef) -> plan::Limit {
    plan::reply_limit(&source.kind).unwrap_or(plan::Limit::chars(MAX_REPLY_CHARS, "a reply"))
}

/// A reply's text as it is sent on `source` ([`Author::shape`]), refused when longer than the
/// thread takes.
pub(super) fn shaped_to_fit(
    field: &str,
    author: Author,
    text: String,
    source: &SourceRef,
) -> Result<String, ServiceError> {
    let mentions = Mentions::of_source(&source.kind);
    shaped_within(field, author, text, mentions, reply_limit(source))
}

/// `text` as sent to a place with `mentions`, refused when longer than its `limit` takes: as
/// given, or (a model's words) once defused, which the refusal then says, as the text given
/// was shorter.
fn shaped_within(
    field: &str,
    author: Author,
    text: String,
    mentions: Mentions,
    limit: plan::Limit,
) -> Result<String, ServiceError> {
    check_fits_limit(field, &text, limit, "")?;
    let sent = author.shape(mentions, text.clone());
    if sent != text {
        check_fits_limit(
            field,
            &sent,
            limit,
            " as sent (with its broadcast mentions and link labels written out as text, as \
             they are from a model)",
        )?;
    }
    Ok(sent)
}

fn check_fits_limit(
    field: &str,
    text: &str,
    limit: plan::Limit,
    as_sent: &str,
) -> Result<(), ServiceError> {
    let len = limit.len(text);
    if len > limit.max {
        let (unit, what, max) = (limit.unit(), limit.what, limit.max);
        return Err(ServiceError::invalid(
            field,
            format!("the text is {len} {unit}{as_sent}; {what} takes at most {max}"),
        ));
    }
    Ok(())
}

/// A write refused because its event was let go since it was read (`insert_and_settle`,
/// replay) reads as that event not found, as it would a moment later.
fn event_gone(e: crate::store::StoreError, event_id: Option<&str>) -> ServiceError {
    match (e, event_id) {
        (crate::store::StoreError::MissingParent, Some(id)) => ServiceError::NotFound {
            what: "event",
            id: id.to_string(),
        },
        (e, _) => e.into(),
    }
}

/// What a reply for a cancelled task is told.
pub(super) fn cancelled_task(task_id: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "task `{task_id}` was cancelled: nothing more is posted for it; reply with the \
         event_id alone to say something about its event"
    ))
}

/// Queues an action written outside the receive path (by hand, or a task's answer); the event
/// it belongs to (if any) is under way again until it is sent.
pub(super) fn insert_and_settle(
    db: &rusqlite::Connection,
    row: &outbox::OutboxRow,
) -> Result<bool, crate::store::StoreError> {
    // The event may have been let go since it was read (past
    // `WEBHOOK_MCP_EVENT_RETENTION_DAYS`): an action naming it would outlive it, unseen by
    // every later sweep.
    if let Some(event_id) = &row.event_id
        && crate::store::events::headers_of(db, event_id)?.is_none()
    {
        return Err(crate::store::StoreError::MissingParent);
    }
    // Looked at again in the write: a cancel that came after the caller's check would
    // otherwise be followed by this post all the same.
    if let Some(task_id) = &row.task_id
        && crate::store::tasks::status_of(db, task_id)?.as_deref() == Some("cancelled")
    {
        return Err(crate::store::StoreError::TaskCancelled(task_id.clone()));
    }
    let mut row = row.clone();
    record::key_by_own_api(db, &mut row)?;
    let inserted = outbox::insert(db, &row)?;
    if let Some(event_id) = &row.event_id {
        crate::store::events::settle(db, event_id)?;
    }
    Ok(inserted)
}

/// Why a dry run over a built-in sample sets nothing in motion, later either.
const SAMPLE_EVENT: &str = "this is a test_webhook dry run over a built-in sample: its \
     repository, issue or channel is the sample's, not yours, so nothing is sent or run on its \
     behalf; run test_webhook with your own `payload` (and run_actions: true to act on it)";

/// The task a reply is for, as [`resolve`] read it.
struct ReplyTask {
    id: String,
    agent: String,
}

/// The event (and task) a reply is about.
async fn resolve(
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
                return Err(cancelled_task(t));
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
    if super::testing::is_sample(&event.headers) {
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
fn unverified_event() -> ServiceError {
    ServiceError::invalid(
        "event_id",
        "this event failed verification; nothing is sent on its behalf",
    )
}

/// Why nothing is sent for an event whose webhook is gone.
fn deleted_webhook(webhook_id: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "webhook `{webhook_id}` was deleted: its events stay in the log, but nothing more is \
         sent on their behalf"
    ))
}

/// Why a webhook does not act on an event that came to an earlier, deleted webhook of the same
/// id: its commands, credentials and source may be another provider's altogether.
fn earlier_webhook(event_id: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "event `{event_id}` came to an earlier webhook of the same id, deleted since: the webhook \
         now at that id does not act on it"
    ))
}

/// The hint ending the error of a reply to an event with no source thread; the built-in
/// runner replaces it for an agent without that tool.
pub const USE_POST_MESSAGE: &str = "; use post_message instead";

fn source_of(event: &events::EventDetail) -> Result<SourceRef, ServiceError> {
    event
        .summary
        .source
        .clone()
        .and_then(|s| serde_json::from_value(s).ok())
        .ok_or_else(|| {
            ServiceError::invalid(
                "event_id",
                format!("this event has no source thread to reply on{USE_POST_MESSAGE}"),
            )
        })
}

/// What a replay did with each command.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub event_id: String,
    pub matched_commands: Vec<String>,
    /// Per command: queued (new), requeued (an action that was dead or waiting, or a task
    /// that failed), asked_again, already_delivered, in_progress, cancelled, task_created,
    /// task_exists, task_exists_posts_requeued, task_cancelled, answered_inline_originally.
    pub results: Vec<Value>,
}

/// Runs an event through the webhook's current commands again. Actions that already
/// succeeded are not repeated; failed ones are planned afresh and sent again.
pub async fn replay(state: &AppState, event_id: &str) -> Result<ReplayReport, ServiceError> {
    let key = event_id.to_string();
    let row = state
        .store
        .read(move |db| crate::store::events::get(db, &key))
        .await?
        .ok_or_else(|| ServiceError::NotFound {
            what: "event",
            id: event_id.to_string(),
        })?;
    if !row.verified {
        return Err(ServiceError::invalid(
            "event_id",
            "a rejected event cannot be replayed: it never passed verification",
        ));
    }
    if row.status == super::record::OWN_POST {
        // Replayed, a command that quotes a comment would answer this service's own.
        return Err(ServiceError::invalid(
            "event_id",
            "this event is the service's own post coming back from the sender: it fires no \
             command, so there is nothing to replay; replay the event it answered",
        ));
    }
    let headers = serde_json::from_str(&row.headers).unwrap_or_default();
    if super::testing::is_sample(&headers) {
        return Err(ServiceError::invalid("event_id", SAMPLE_EVENT));
    }
    let webhook_id = row.webhook_id.clone();
    let stored = state
        .store
        .read(move |db| crate::store::webhooks::get(db, &webhook_id))
        .await?;
    let hook = match Standing::of(stored, row.received_at) {
        Standing::Deleted => return Err(deleted_webhook(&row.webhook_id)),
        Standing::Replaced => return Err(earlier_webhook(&row.id)),
        Standing::Current(hook) => super::webhooks::opened(state, *hook)?,
    };
    let provider: Provider = row.provider.parse().unwrap_or(Provider::Custom);
    let body = row.body.clone().unwrap_or_default();
    let payload = providers::parse_payload(provider, &body)
        .map(std::sync::Arc::new)
        .map_err(|e| {
            ServiceError::invalid("event_id", format!("stored body is unreadable: {e}"))
        })?;
    let source: Option<SourceRef> = row
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());

    let hook_id = hook.id.clone();
    let command_rows = state
        .store
        .read(move |db| crate::store::commands::list(db, &hook_id))
        .await?;
    let command_rows = super::commands::opened_rows(&state.sealer, command_rows)?;
    let compiled = super::commands::compile_enabled(&command_rows);
    let (matched, planned) = super::planning::plan_stored(
        &hook,
        &command_rows,
        &compiled,
        provider,
        &row,
        &payload,
        &body,
    );
    let event = NewEvent {
        id: row.id.clone(),
        webhook_id: row.webhook_id.clone(),
        provider: row.provider.clone(),
        event_type: row.event_type.clone(),
        delivery_id: row.delivery_id.clone(),
        verified: true,
        verification: row.verification.clone(),
        status: row.status.clone(),
        source_kind: source.as_ref().map(|s| s.kind.clone()),
        source_key: source.as_ref().map(|s| s.key.clone()),
        source: row.source.clone(),
        headers: String::new(),
        content_type: None,
        body: axum::body::Bytes::new(),
        matched_commands: serde_json::to_string(&matched).unwrap_or_default(),
        remote_addr: None,
        received_at: row.received_at,
        truncated: None,
    };
    let sealer = state.sealer.clone();
    // Looked at again in the write: a delete (or a delete and a new webhook at the id) that
    // came in since the read above already cancelled this event's work, and must not find
    // new work written after it.
    let results = state
        .store
        .write(move |db| {
            let stored = crate::store::webhooks::get(db, &event.webhook_id)?;
            match Standing::of(stored, event.received_at) {
                Standing::Current(_) => replay_in_db(db, &sealer, &event, &planned).map(Ok),
                Standing::Deleted => Ok(Err(deleted_webhook(&event.webhook_id))),
                Standing::Replaced => Ok(Err(earlier_webhook(&event.id))),
            }
        })
        .await
        .map_err(|e| event_gone(e, Some(event_id)))??;
    state.wake_workers();
    state.wake_runner();
    Ok(ReplayReport {
        event_id: event_id.to_string(),
        matched_commands: matched,
        results,
    })
}

fn replay_in_db(
    db: &rusqlite::Connection,
    sealer: &crate::service::sealing::Sealer,
    event: &NewEvent,
    planned: &[Planned],
) -> Result<Vec<Value>, crate::store::StoreError> {
    // Let go since it was read (past `WEBHOOK_MCP_EVENT_RETENTION_DAYS`): no work is written
    // for an event that is no longer there.
    if crate::store::events::headers_of(db, &event.id)?.is_none() {
        return Err(crate::store::StoreError::MissingParent);
    }
    let now = clock::now_ms();
    let existing = outbox::for_event(db, &event.id)?;
    let own_apis = record::OwnApis::of_webhook(db, Some(&event.webhook_id))?;
    // An answer to a question starts no second agent, replayed or not (work it already
    // started is still retried below).
    let answer = record::was_an_answer(db, event)?;
    let mut results = Vec::new();
    for p in planned {
        let started_before = match p {
            Planned::Send { command_id, .. } => existing
                .iter()
                .any(|o| o.command_id.as_ref() == Some(command_id)),
            Planned::Task { command_id, .. } => tasks::for_event(db, &event.id)?
                .iter()
                .any(|t| t.command_id.as_ref() == Some(command_id)),
            Planned::Inline { .. } => true,
        };
        if answer && record::starts_agent(p) && !started_before {
            let command_id = match p {
                Planned::Send { command_id, .. } | Planned::Task { command_id, .. } => command_id,
                Planned::Inline { command_id, .. } => command_id,
            };
            results.push(json!({"command_id": command_id, "result": "skipped_an_answer"}));
            continue;
        }
        // The command's work as a new event's would be written, where none is there yet.
        let write_new = || {
            record::write_planned(
                db,
                sealer,
                &event.id,
                &event.webhook_id,
                event,
                std::slice::from_ref(p),
                &own_apis,
                now,
            )
        };
        let result = match p {
            Planned::Send {
                command_id,
                delivery,
                ..
            } => {
                // The stored row with what the command plans now.
                let replanned = |o: &OutboxRow| {
                    let mut row = outbox_row(
                        sealer,
                        o.id.clone(),
                        Some(&event.id),
                        Some(&event.webhook_id),
                        Some(command_id),
                        None,
                        ActionKind::Comment,
                        delivery,
                        now,
                    );
                    own_apis.key(&mut row);
                    row
                };
                match existing
                    .iter()
                    .find(|o| o.command_id.as_ref() == Some(command_id))
                {
                    // Asked, then nobody answered in time: asked again, its task waiting again.
                    Some(o)
                        if o.status == "delivered"
                            && o.action == "ask"
                            && delivery.is_ok()
                            && failed_task(db, o.task_id.as_deref())? == Some(true) =>
                    {
                        outbox::send_again(db, &replanned(o), now)?;
                        if let Some(task_id) = &o.task_id {
                            tasks::wait_again(db, task_id, now)?;
                        }
                        json!({"command_id": command_id, "action_id": o.id, "result": "asked_again"})
                    }
                    // Asked (or answered before it went out) and answered, then its run
                    // failed (the chat API refused it, say): the task runs again on what it
                    // has, as a failed create_task does; the question is not asked twice.
                    Some(o)
                        if o.action == "ask"
                            && (o.status == "delivered" || unneeded_question(db, o)?.is_some())
                            && failed_task(db, o.task_id.as_deref())? == Some(false) =>
                    {
                        let task_id = o.task_id.as_deref().unwrap_or_default();
                        let prompt = tasks::get(db, task_id)?
                            .map(|t| t.prompt)
                            .unwrap_or_default();
                        tasks::run_again(db, task_id, &prompt, now)?;
                        let before = tasks::for_event(db, &event.id)?;
                        requeue_dead_posts(db, &existing, &before, command_id, now)?;
                        json!({"command_id": command_id, "action_id": o.id, "result": "run_again"})
                    }
                    Some(o) if o.status == "delivered" => {
                        json!({"command_id": command_id, "action_id": o.id, "result": "already_delivered"})
                    }
                    Some(o) if o.status == "sending" => {
                        json!({"command_id": command_id, "action_id": o.id, "result": "in_progress"})
                    }
                    // Cancelled by hand: someone decided it should not go (a retry sends it).
                    Some(o) if o.status == "cancelled" => {
                        json!({"command_id": command_id, "action_id": o.id, "result": "cancelled"})
                    }
                    // A question whose task was cancelled: no one waits for its answer.
                    Some(o)
                        if o.task_id
                            .as_deref()
                            .map(|t| tasks::is_cancelled(db, t))
                            .transpose()?
                            .unwrap_or(false) =>
                    {
                        json!({"command_id": command_id, "action_id": o.id, "result": "task_cancelled"})
                    }
                    // A question dropped because its task was completed, or because it was
                    // answered, before it went out: sent now, it would ask no one.
                    Some(o) if unneeded_question(db, o)?.is_some() => {
                        json!({"command_id": command_id, "action_id": o.id, "result": "not_needed"})
                    }
                    Some(o) => {
                        let fresh = replanned(o);
                        let status = if delivery.is_ok() { "pending" } else { "dead" };
                        outbox::reset(
                            db,
                            &o.id,
                            Some((&fresh.delivery, &fresh.target, &fresh.host)),
                            status,
                            fresh.last_error.as_deref(),
                            now,
                        )?;
                        // As with a retry: a dead question asked again has its task wait again.
                        if let ("ask", "dead", true, Some(task_id)) = (
                            o.action.as_str(),
                            o.status.as_str(),
                            delivery.is_ok(),
                            &o.task_id,
                        ) {
                            tasks::wait_again(db, task_id, now)?;
                        }
                        json!({"command_id": command_id, "action_id": o.id, "result": "requeued"})
                    }
                    None => {
                        write_new()?;
                        json!({"command_id": command_id, "result": "queued"})
                    }
                }
            }
            Planned::Task {
                command_id, prompt, ..
            } => {
                // A task the command could not plan then (its template failed) left a dead row
                // saying so; the task made now takes its place.
                if let Some(dead) = existing.iter().find(|o| {
                    o.command_id.as_ref() == Some(command_id)
                        && o.status == "dead"
                        && o.delivery.is_none()
                }) {
                    outbox::delete_unplanned(db, &dead.id)?;
                }
                let before = tasks::for_event(db, &event.id)?;
                let failed = before
                    .iter()
                    .find(|t| t.command_id.as_ref() == Some(command_id) && t.status == "failed");
                let result = match failed {
                    // Failed (the chat API down past its retries, say): it runs again, from
                    // the prompt as the command renders it now. What its tools sent and saw
                    // go dead is sent again: the run again reads them as sent (kept with the
                    // failed run) and does not say it twice.
                    Some(task) => {
                        tasks::run_again(db, &task.id, prompt, now)?;
                        requeue_dead_posts(db, &existing, &before, command_id, now)?;
                        "requeued"
                    }
                    None => {
                        write_new()?;
                        let cancelled = before.iter().any(|t| {
                            t.command_id.as_ref() == Some(command_id) && t.status == "cancelled"
                        });
                        if tasks::for_event(db, &event.id)?.len() > before.len() {
                            "task_created"
                        } else if cancelled {
                            // What it left unsent stays so: no one works on it any more.
                            "task_cancelled"
                        } else if requeue_dead_posts(db, &existing, &before, command_id, now)? {
                            // Its answer (or a comment it made) went dead: sent again, as
                            // the command's own dead actions are.
                            "task_exists_posts_requeued"
                        } else {
                            "task_exists"
                        }
                    }
                };
                json!({"command_id": command_id, "result": result})
            }
            Planned::Inline { command_id, .. } => {
                json!({"command_id": command_id, "result": "answered_inline_originally"})
            }
        };
        results.push(result);
    }
    if !planned.is_empty() {
        // An event stored as `accepted` (no command then) or `test` (a dry run) now has
        // commands at work: from here its status follows them like any matched event's.
        crate::store::events::mark_matched(db, &event.id)?;
    }
    crate::store::events::settle(db, &event.id)?;
    Ok(results)
}

/// How the question's task failed, if it did: waiting for the answer (`Some(true)`: asked
/// again on replay) or in a run (`Some(false)`: run again on what it has).
fn failed_task(
    db: &rusqlite::Connection,
    task_id: Option<&str>,
) -> Result<Option<bool>, crate::store::StoreError> {
    let Some(task_id) = task_id else {
        return Ok(None);
    };
    Ok(tasks::get(db, task_id)?
        .filter(|t| t.status == "failed")
        .map(|t| t.error.as_deref().is_some_and(|e| e.starts_with("timeout"))))
}

/// Queues again the dead posts of the command's task that had something to send (its result, a
/// comment or message it made; a dead question failed the task, which runs again instead).
/// Whether there were any.
fn requeue_dead_posts(
    db: &rusqlite::Connection,
    existing: &[OutboxRow],
    tasks_of_event: &[tasks::TaskRow],
    command_id: &str,
    now: i64,
) -> Result<bool, crate::store::StoreError> {
    let Some(task) = tasks_of_event
        .iter()
        .find(|t| t.command_id.as_deref() == Some(command_id))
    else {
        return Ok(false);
    };
    let mut requeued = false;
    for post in existing.iter().filter(|o| {
        o.task_id.as_ref() == Some(&task.id)
            && o.status == "dead"
            && o.delivery.is_some()
            && o.action != "ask"
    }) {
        requeued |= outbox::reset(db, &post.id, None, "pending", None, now)?;
    }
    Ok(requeued)
}

/// The statuses an action can have.
pub const STATUSES: [&str; 6] = [
    "pending",
    "sending",
    "retrying",
    "delivered",
    "dead",
    "cancelled",
];

/// Filters for listing actions; all optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionQuery {
    /// One of [`STATUSES`].
    pub status: Option<String>,
    pub webhook_id: Option<String>,
    /// Page size, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of actions, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct ActionPage {
    pub actions: Vec<ActionOut>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Actions across events: what is waiting, retrying or dead, wherever it came from.
pub async fn list(state: &AppState, query: ActionQuery) -> Result<ActionPage, ServiceError> {
    let limit = super::page_limit(query.limit)?;
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
    let webhook_id = query.webhook_id.clone();
    let filter = outbox::ActionFilter {
        status: query.status,
        webhook_id: query.webhook_id,
        before_id: super::page_cursor(query.cursor, "act")?,
        // One extra row tells whether another page exists.
        limit: limit + 1,
    };
    let mut found = state
        .store
        .read(move |db| outbox::list(db, &filter))
        .await?;
    super::empty_for_a_known_webhook(state, webhook_id.as_deref(), found.is_empty()).await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let next_cursor = more.then(|| found.last().map(|a| a.id.clone())).flatten();
    Ok(ActionPage {
        actions: found.iter().map(present).collect(),
        next_cursor,
    })
}

/// Cancels an action waiting to be sent (a first try not yet made, or a retry not yet due):
/// it is not sent, and its event is not failed by it. A retry sends it after all.
pub async fn cancel(state: &AppState, action_id: &str) -> Result<ActionOut, ServiceError> {
    let id = action_id.to_string();
    let (cancelled, row) = state
        .store
        .write(move |db| {
            let cancelled = outbox::cancel(db, &id, clock::now_ms())?;
            let row = match &cancelled {
                Some(_) => None,
                None => outbox::get(db, &id)?,
            };
            Ok((cancelled, row))
        })
        .await?;
    if let Some(row) = cancelled {
        return Ok(present(&row));
    }
    let row = row.ok_or_else(|| ServiceError::NotFound {
        what: "action",
        id: action_id.to_string(),
    })?;
    // Each says what can still be done, since the caller wanted it not to go.
    let why = match row.status.as_str() {
        "sending" => format!(
            "{}; cancel it if a failed attempt leaves it waiting",
            being_sent(&row)
        ),
        "delivered" => format!(
            "was already delivered{}, so there is nothing left to stop: remove or edit the post \
             where it went, or send a correcting reply",
            row.remote_id
                .as_deref()
                .map(|id| format!(" (posted as `{id}`)"))
                .unwrap_or_default()
        ),
        "cancelled" => "is already cancelled; a retry sends it after all".into(),
        _ => "is dead: it is not sent again unless retried".to_string(),
    };
    Err(ServiceError::Conflict(format!(
        "action `{action_id}` {why}"
    )))
}

/// "is being sent now", with until when its send holds it: a sender killed mid-send leaves
/// the hold in place (another process on the database may be sending it, so it is not cut
/// short), and the caller can only act, or see it taken up again, once it has passed.
fn being_sent(row: &OutboxRow) -> String {
    match row.lease_until {
        Some(until) if until < clock::now_ms() => format!(
            "is being sent now, though its send's hold ran out at {}: if its sender stopped, \
             the next sender takes it up again shortly",
            clock::rfc3339(until)
        ),
        Some(until) => format!(
            "is being sent now; its send holds it until {} (lease_expires_at): if its sender \
             stopped, it is taken up again then",
            clock::rfc3339(until)
        ),
        None => "is being sent now".into(),
    }
}

/// Why a question not yet out must not be sent (again), if it must not: its task was
/// completed before it went out, so its answer would wake no one and land after the result,
/// or a person answered it before it was posted, and asked after its answer it would take
/// the next question's replies.
fn unneeded_question(
    db: &rusqlite::Connection,
    row: &OutboxRow,
) -> Result<Option<&'static str>, crate::store::StoreError> {
    if row.action != "ask" || matches!(row.status.as_str(), "delivered" | "sending") {
        return Ok(None);
    }
    if row.last_error.as_deref() == Some(tasks::ANSWERED_FIRST) {
        return Ok(Some("that was answered before it went out"));
    }
    match &row.task_id {
        Some(task) if tasks::past_questions(db, task)? => {
            Ok(Some("of a task that was completed before it went out"))
        }
        _ => Ok(None),
    }
}

/// Sends a dead (or waiting) action again, now.
pub async fn retry(state: &AppState, action_id: &str) -> Result<ActionOut, ServiceError> {
    let id = action_id.to_string();
    let (of_cancelled_task, unneeded) = state
        .store
        .read(move |db| {
            let Some(row) = outbox::get(db, &id)? else {
                return Ok((false, None));
            };
            let Some(task) = &row.task_id else {
                return Ok((false, None));
            };
            Ok((tasks::is_cancelled(db, task)?, unneeded_question(db, &row)?))
        })
        .await?;
    if of_cancelled_task {
        return Err(ServiceError::Conflict(format!(
            "action `{action_id}` belongs to a task that was cancelled: nothing waits for it"
        )));
    }
    if let Some(why) = unneeded {
        return Err(ServiceError::Conflict(format!(
            "action `{action_id}` is a question {why}: no one waits for its answer, so it is \
             not sent"
        )));
    }
    let id = action_id.to_string();
    let found = state
        .store
        .write(move |db| {
            let Some(row) = outbox::get(db, &id)? else {
                return Ok(None);
            };
            // An action whose webhook is gone, or was replaced by a later one at the same id,
            // stays as it is: the one there now must not send it with its credentials.
            if let Some(webhook_id) = &row.webhook_id {
                let stored = crate::store::webhooks::get(db, webhook_id)?;
                match Standing::of(stored, row.created_at) {
                    Standing::Current(_) => {}
                    gone => return Ok(Some(Err((webhook_id.clone(), gone)))),
                }
            }
            if row.delivery.is_some() {
                let now = clock::now_ms();
                outbox::reset(db, &id, None, "pending", None, now)?;
                // A question sent again has a task waiting for its answer again (the task
                // failed when the question went dead, or was cancelled before it went out).
                let dead_ask =
                    row.action == "ask" && matches!(row.status.as_str(), "dead" | "cancelled");
                if let (true, Some(task_id)) = (dead_ask, &row.task_id) {
                    tasks::wait_again(db, task_id, now)?;
                }
            }
            Ok(outbox::get(db, &id)?.map(Ok))
        })
        .await?
        .ok_or_else(|| ServiceError::NotFound {
            what: "action",
            id: action_id.to_string(),
        })?;
    let row = match found {
        Ok(row) => row,
        Err((webhook_id, Standing::Deleted)) => return Err(deleted_webhook(&webhook_id)),
        Err((webhook_id, _)) => {
            return Err(ServiceError::Conflict(format!(
                "action `{action_id}` was queued for an earlier webhook `{webhook_id}`, \
                 deleted since: it is not sent through the one there now"
            )));
        }
    };
    match row.status.as_str() {
        "delivered" => Err(ServiceError::Conflict(format!(
            "action `{action_id}` was already delivered; it is not sent twice: to say it \
             again, send a new reply or message (comment, post_message), or replay_event to \
             run the event's commands anew"
        ))),
        // Its attempt is under way (or, if its sender died, is taken up again once the lease
        // ends): sending it once more beside that could deliver it twice.
        "sending" => Err(ServiceError::Conflict(format!(
            "action `{action_id}` {}; its outcome shows on the action once the attempt ends, \
             and a failed attempt is retried on its own",
            being_sent(&row)
        ))),
        "dead" => Err(ServiceError::invalid(
            "action_id",
            format!(
                "action `{action_id}` could not be planned ({}); fix the command and replay the event",
                row.last_error.unwrap_or_default()
            ),
        )),
        _ => {
            state.wake_workers();
            Ok(present(&row))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hand_comment(event_id: &str) -> OutboxRow {
        let delivery = Delivery::GithubComment {
            repo: "octo/app".into(),
            number: 1,
            body: "hello".into(),
            in_reply_to: None,
            enterprise_host: None,
        };
        outbox_row(
            &Default::default(),
            new_id("act"),
            Some(&event_id.to_string()),
            None,
            None,
            None,
            ActionKind::Comment,
            &Ok(delivery),
            0,
        )
    }

    #[test]
    fn an_action_for_an_event_let_go_since_it_was_read_is_refused_not_kept_without_it() {
        let mut db = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::migrate(&mut db, std::path::Path::new(":memory:")).unwrap();
        let refused = insert_and_settle(&db, &hand_comment("evt_gone"));
        assert!(matches!(
            refused,
            Err(crate::store::StoreError::MissingParent)
        ));
        let kept: i64 = db
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 0);
        let error = event_gone(crate::store::StoreError::MissingParent, Some("evt_gone"));
        assert_eq!(error.to_string(), "event `evt_gone` not found");
    }

    #[test]
    fn an_action_for_a_task_cancelled_since_it_was_read_is_refused_in_the_write() {
        let mut db = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::migrate(&mut db, std::path::Path::new(":memory:")).unwrap();
        for (id, status) in [("task_c", "cancelled"), ("task_r", "running")] {
            db.execute(
                "INSERT INTO tasks (id, webhook_id, agent, prompt, status, conversation, \
                 created_at, updated_at) VALUES (?1, 'w', 'a', 'p', ?2, '[]', 0, 0)",
                rusqlite::params![id, status],
            )
            .unwrap();
        }
        let for_task = |task: &str| OutboxRow {
            event_id: None,
            task_id: Some(task.to_string()),
            ..hand_comment("evt_x")
        };

        let refused = insert_and_settle(&db, &for_task("task_c"));
        let taken = insert_and_settle(&db, &for_task("task_r"));

        assert!(
            matches!(&refused, Err(crate::store::StoreError::TaskCancelled(t)) if t == "task_c"),
            "{refused:?}"
        );
        assert!(taken.is_ok(), "{taken:?}");
        let error = event_gone(refused.unwrap_err(), None);
        assert!(
            error.to_string().contains("task `task_c` was cancelled"),
            "{error}"
        );
    }
}
