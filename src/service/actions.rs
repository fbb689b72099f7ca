//! Actions asked for by a person or an agent (comment, ask, respond, post_message), replaying
//! an event, and listing, cancelling or retrying actions. All go through the outbox, like
//! commands do.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::record::{self, outbox_row};
use super::{ServiceError, events, new_id};
use crate::actions::broadcasts::Mentions;
use crate::actions::{Delivery, MessageKind, guess_kind_on};
use crate::app::AppState;
use crate::clock;
use crate::engine::ActionKind;
use crate::engine::plan;
use crate::store::outbox::{self, OutboxRow};
use crate::store::tasks;

mod queued;
mod replay;
mod reply_source;
mod reply_text;

pub use queued::{ActionPage, ActionQuery, STATUSES, cancel, list, retry};
pub use replay::{ReplayReport, replay};
pub use reply_source::USE_POST_MESSAGE;
use reply_source::{deleted_webhook, resolve, source_of, unverified_event};
use reply_text::check_text;
pub(super) use reply_text::{check_reply, shaped_to_fit, shaped_within};

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
    /// A question just queued: who goes on with its task once the answer comes. One just
    /// cancelled: that its task failed with it (see `cancel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Why an action past its `next_attempt_at` is not sent yet: its host answered a send with
    /// a rate limit, and its actions wait that out (see [`with_pause`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
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
        note: None,
        held: None,
    }
}

/// How far a row's own retry may fall before its host's pause ends and still be its own wait,
/// not the pause's: the two are set from the same answer, by two clocks.
const OWN_WAIT_DRIFT_MS: i64 = 1_000;

/// An action as shown, saying so when it waits on its host's rate limit: else a row past its
/// `next_attempt_at` (or retried by hand) sits there with no reason given. Only this
/// process's pauses are known; another process on the database keeps its own.
/// `due` is the row's `next_attempt_at`; `host` the host it is keyed by as stored.
pub fn with_pause(state: &AppState, mut shown: ActionOut, due: i64, host: &str) -> ActionOut {
    let waiting = matches!(shown.status.as_str(), "pending" | "retrying");
    let Some(left) = state.sending.paused_for(host).filter(|_| waiting) else {
        return shown;
    };
    let until = clock::now_ms() + i64::try_from(left.as_millis()).unwrap_or(i64::MAX / 2);
    // A retry due when the pause ends, or after, waits for itself (the send answered with the
    // limit is due when its wait is over, as the pause is, give or take the clocks' drift).
    if due + OWN_WAIT_DRIFT_MS >= until {
        return shown;
    }
    shown.held = Some(format!(
        "held until {}: {host} answered a send with a rate limit, so its actions wait that \
         out (not sent, no attempt counted)",
        clock::rfc3339(until)
    ));
    shown
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
    /// Who asks for the task, as it was claimed (the surface's default owner when the call
    /// names none): an `ask` on a task claimed by another is refused. Set by the caller.
    #[serde(skip)]
    pub owner: Option<String>,
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
    let source = task_source.map_or_else(|| source_of(&event, &to), Ok)?;
    // Posted as sent; the task keeps the question as written, for the agent that reads it.
    let sent = shaped_to_fit("question", to.author, question.clone(), &source)?;
    let delivery = plan::reply_on_source(Some(&source), sent)
        .map_err(|m| ServiceError::invalid(to.field(), m))?;
    let unchecked = check_credentials(state, Some(&event.summary.webhook_id), &delivery).await?;
    let now = clock::now_ms();
    let (task_id, owner) = (to.task_id.clone(), to.owner.clone());
    let agent = agent.unwrap_or_else(|| crate::agents::ASK_AGENT.into());
    let answered_by = task.as_ref().map_or(agent.as_str(), |t| t.agent.as_str());
    let answer_note = who_takes_the_answer(state, answered_by);
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
            if let Some(holder) = tasks::get(db, &task_id)?
                .as_ref()
                .and_then(|t| claimed_by_another(t, owner.as_deref(), now))
            {
                return Ok(Err(NotAsked::Claimed(task_id, holder)));
            }
            if !tasks::wait_for_reply(db, &task_id, &question, now)? {
                // The task is finished: asking on it would post a question nobody waits for.
                return Ok(Err(NotAsked::Finished(task_id)));
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
            let (_, host) = insert_keyed(db, &row)?;
            Ok(Ok((row, host)))
        })
        .await
        .map_err(|e| event_gone(e, Some(&event.summary.id)))?
        .map_err(NotAsked::refusal)?;
    state.wake_workers();
    let (row, host) = row;
    let mut out = with_pause(
        state,
        present_queued(&row, unchecked.as_slice()),
        row.next_attempt_at,
        &host,
    );
    out.note = Some(answer_note);
    Ok(out)
}

/// Why an `ask` on a task put no question.
enum NotAsked {
    /// The task is finished: nobody would wait for the answer.
    Finished(String),
    /// The task is claimed by another owner (theirs, and until when).
    Claimed(String, (String, i64)),
}

impl NotAsked {
    fn refusal(self) -> ServiceError {
        match self {
            NotAsked::Finished(task_id) => ServiceError::Conflict(format!(
                "task `{task_id}` is finished, so nobody would wait for the answer; ask with the \
                 event_id alone, which starts a new task that waits for it"
            )),
            NotAsked::Claimed(task_id, (holder, until)) => ServiceError::Conflict(format!(
                "task `{task_id}` is claimed by `{}` until {}, and asking for it would take it \
                 from them (it would wait for the answer, unclaimed); nothing was posted. Give \
                 `owner` as the task was claimed if that is you; else comment with its task_id \
                 to say something on its thread without taking it, or ask with the event_id \
                 alone to start a new task for the answer",
                super::quoted(&holder),
                clock::rfc3339(until)
            )),
        }
    }
}

/// The owner and lease end of a live claim on `task` held by someone other than `owner`: a
/// claim made over MCP or REST, not the built-in runner's (a person may ask while it runs,
/// and the run's tool calls ask as the runner). A claim trims its owner; `owner` is taken
/// trimmed too.
fn claimed_by_another(
    task: &tasks::TaskRow,
    owner: Option<&str>,
    now: i64,
) -> Option<(String, i64)> {
    let holder = task.lease_owner.as_deref()?;
    let until = task.lease_until?;
    let live = task.status == "running" && !task.claim_lapsed(now);
    let ours = owner.is_some_and(|o| o == holder || o.trim() == holder);
    (live && !ours && !holder.starts_with(crate::agents::runner::RUNNER_OWNER_PREFIX))
        .then(|| (holder.to_string(), until))
}

/// Who goes on with a task once its question is answered: this server's built-in runner, or
/// an external agent that claims it. A model that asks expects the answer to come back to it,
/// and the runner takes the tasks of the agents it runs (`brain`, an ask's default, among
/// them) before the model looks.
fn who_takes_the_answer(state: &AppState, agent: &str) -> String {
    let here = crate::agents::run_here(state);
    if here.contains(&agent) {
        let named: Vec<String> = here.iter().map(|n| format!("`{n}`")).collect();
        format!(
            "When the answer comes, this server's built-in runner runs agent `{agent}` on the \
             task (it runs {}). The question is queued: asking it again would post it twice. \
             To take an answer yourself another time, ask with an `agent` name the runner does \
             not run, and claim the task by that name (claim_task) once the answer queues it.",
            named.join(", ")
        )
    } else {
        format!(
            "When the answer comes, the task is queued for an agent to claim as `{agent}` \
             (claim_task with agent `{agent}`)."
        )
    }
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

/// The Telegram chat a message is posted in (`chat_id`) and its forum topic (`thread_id`);
/// neither for the other kinds.
#[derive(Debug, Clone, Default)]
pub struct TelegramChat {
    pub chat_id: Option<String>,
    pub thread_id: Option<String>,
}

/// A channel message to a target URL (Open WebUI channel webhook, Slack, Discord, Teams,
/// Telegram), optionally tied to an event for the log, and to the task whose agent posts it
/// (so that cancelling the task stops it too, as it stops the task's comments).
#[allow(clippy::too_many_arguments)]
pub async fn post_message(
    state: &AppState,
    url: String,
    kind: Option<String>,
    chat: TelegramChat,
    text: String,
    event_id: Option<String>,
    task_id: Option<String>,
    author: Author,
) -> Result<ActionOut, ServiceError> {
    let TelegramChat { chat_id, thread_id } = chat;
    // Open WebUI's "Copy URL" gives a channel webhook's path alone: made whole on
    // OPENWEBUI_URL before anything else, so every check below (the SSRF rules among them)
    // and the stored action see the whole URL.
    let base = crate::config::AgentSettings::given(&state.config.agents.openwebui_url);
    let (url, made_whole) = match crate::actions::openwebui_path_made_whole(&url, base) {
        Ok(Some(whole)) => (whole, true),
        Ok(None) => (url, false),
        Err(refused) => return Err(ServiceError::invalid("url", refused)),
    };
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
        thread_id: thread_id.clone(),
        headers: Default::default(),
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
    if crate::invisible::shows_nothing(&text) {
        return Err(ServiceError::invalid(
            "text",
            "the message is empty (spaces, control or invisible characters only); give the \
             text to post",
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
        thread_id: thread_id.map(|t| t.trim().to_string()),
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
    let (_, host) = state
        .store
        .write(move |db| insert_keyed(db, &stored))
        .await
        .map_err(|e| event_gone(e, row.event_id.as_deref()))?;
    state.wake_workers();
    let mut out = with_pause(
        state,
        present_queued(&row, &unchecked),
        row.next_attempt_at,
        &host,
    );
    if made_whole {
        out.warnings
            .push(crate::actions::made_whole_warning("url", &url_given));
    }
    out.warnings
        .extend(by_address.map(|why| super::sending::queued_address_warning(state, &why, &row.id)));
    out.warnings.extend(super::sending::unknown_channel_warning(
        state, "url", &url_given, kind_given,
    ));
    out.warnings.extend(super::sending::teams_connector_warning(
        "url",
        &url_given,
        Some(kind),
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
    let (_, host) = state
        .store
        .write(move |db| insert_keyed(db, &stored))
        .await
        .map_err(|e| event_gone(e, planned.row.event_id.as_deref()))?;
    state.wake_workers();
    let due = planned.row.next_attempt_at;
    Ok(with_pause(state, planned.presented(), due, &host))
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
    let source = task_source.map_or_else(|| source_of(&event, to), Ok)?;
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

/// What a reply for a cancelled task is told; `gone_webhook` names its webhook when that was
/// deleted since the task was made, which refuses a reply on its event too.
pub(super) fn cancelled_task(task_id: &str, gone_webhook: Option<&str>) -> ServiceError {
    ServiceError::Conflict(match gone_webhook {
        Some(webhook_id) => format!(
            "task `{task_id}` was cancelled, and its webhook `{webhook_id}` was deleted: \
             nothing more is posted for the task, nor on its event's behalf (a reply with the \
             event_id is refused too); to say something on its thread, post there yourself, \
             or post_message to a channel"
        ),
        None => format!(
            "task `{task_id}` was cancelled: nothing more is posted for it; reply with the \
             event_id alone to say something about its event"
        ),
    })
}

/// Queues an action written outside the receive path (by hand, or a task's answer); the event
/// it belongs to (if any) is under way again until it is sent.
pub(super) fn insert_and_settle(
    db: &rusqlite::Connection,
    row: &outbox::OutboxRow,
) -> Result<bool, crate::store::StoreError> {
    Ok(insert_keyed(db, row)?.0)
}

/// [`insert_and_settle`], and the host its row is keyed by as stored (a webhook's own API in
/// place of a provider's name), which its rate-limit pause is kept under (see [`with_pause`]).
fn insert_keyed(
    db: &rusqlite::Connection,
    row: &outbox::OutboxRow,
) -> Result<(bool, String), crate::store::StoreError> {
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
    Ok((inserted, row.host))
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
