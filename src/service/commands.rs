//! Command operations: add, list, update, remove. Each command is checked by the engine when
//! it is saved, so the receiver only ever meets commands that can run.

use std::sync::Arc;

use crate::providers::MASK;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::sealing::Sealer;
use super::{ServiceError, new_id, webhooks};
use crate::app::AppState;
use crate::clock;
use crate::engine::command::{self, CommandSpec, CompiledCommand};
use crate::engine::conditions::Conditions;
use crate::engine::template;
use crate::engine::trigger::Trigger;
use crate::providers::{self, Provider, samples};
use crate::store::StoreError;
use crate::store::commands::{self as rows, CommandRow};
use crate::store::webhooks::WebhookRow;

/// A command as written: what to do with events matching `trigger` and `conditions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandIn {
    pub trigger: Option<String>,
    pub action: Option<String>,
    pub agent: Option<String>,
    pub template: Option<String>,
    pub conditions: Option<Value>,
    pub target: Option<Value>,
    #[serde(default, deserialize_with = "crate::providers::whole_number")]
    pub priority: Option<i64>,
    pub stop: Option<bool>,
    pub enabled: Option<bool>,
}

impl CommandIn {
    /// Nothing given: an update with it would change nothing.
    fn is_empty(&self) -> bool {
        let CommandIn {
            trigger,
            action,
            agent,
            template,
            conditions,
            target,
            priority,
            stop,
            enabled,
        } = self;
        trigger.is_none()
            && action.is_none()
            && agent.is_none()
            && template.is_none()
            && conditions.is_none()
            && target.is_none()
            && priority.is_none()
            && stop.is_none()
            && enabled.is_none()
    }
}

/// A command as shown. Target secrets are masked.
#[derive(Debug, Clone, Serialize)]
pub struct CommandOut {
    pub id: String,
    pub webhook_id: String,
    pub trigger: String,
    pub action: String,
    pub agent: Option<String>,
    pub template: Option<String>,
    pub conditions: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Value>,
    pub priority: i64,
    pub stop: bool,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
    /// Problems found when the command was saved that do not stop it from being saved (a
    /// template that does not render with the provider's sample payload, say).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

pub async fn add(
    state: &AppState,
    webhook_id: &str,
    input: CommandIn,
) -> Result<CommandOut, ServiceError> {
    let hook = webhooks::load(state, webhook_id).await?;
    let Prepared {
        row,
        stored,
        unchecked,
    } = prepare(state, &hook, input, None).await?;
    let (sealer, given) = (Arc::clone(&state.sealer), row.clone());
    // Looked for on the writer, with the insert: two tries of one call sent at once find
    // each other too.
    let added = state
        .store
        .write(move |db| {
            let held = rows::list(db, &given.webhook_id)?;
            if let Some(same) = held.iter().find(|r| same_command(&sealer, r, &given)) {
                return Ok(Err(Refusal::Same(same.id.clone())));
            }
            if held.len() >= MAX_COMMANDS {
                return Ok(Err(Refusal::Full));
            }
            rows::insert(db, &stored)?;
            Ok(Ok(()))
        })
        .await
        .map_err(|e| match e {
            // Deleted since it was loaded above.
            StoreError::MissingParent => webhooks::not_found(webhook_id),
            other => other.into(),
        })?;
    match added {
        Ok(()) => {}
        Err(Refusal::Full) => {
            return Err(ServiceError::Conflict(format!(
                "webhook `{webhook_id}` has {MAX_COMMANDS} commands, as many as one may hold \
                 (each is tested against every delivery): remove or update one, join several \
                 with conditions (`any`), or make another webhook"
            )));
        }
        Err(Refusal::Same(id)) => {
            return Err(ServiceError::Conflict(format!(
                "webhook `{webhook_id}` already has this very command, `{id}` (the same \
                 trigger, action, agent, template, conditions, target, priority, stop and \
                 enabled): a second would run it again on every event, posting each reply \
                 twice. An earlier try of this call may have added it; to change it, use \
                 update_command with command_id `{id}`"
            )));
        }
    }
    state.hooks.invalidate(webhook_id);
    Ok(added_out(state, &hook, &row, unchecked).await)
}

/// A new command checked against its webhook and ready to store: as given (`row`, its
/// target plain), as stored (`stored`, its target sealed), and what could not be checked.
pub(super) struct Prepared {
    pub row: CommandRow,
    pub stored: CommandRow,
    pub unchecked: Vec<String>,
}

/// Checks a new command of `hook` as the engine will run it, refusing what could not run.
pub(super) async fn prepare(
    state: &AppState,
    hook: &WebhookRow,
    input: CommandIn,
    channels: Option<&super::slack_channels::Known>,
) -> Result<Prepared, ServiceError> {
    let now = clock::now_ms();
    let mut row = CommandRow {
        id: new_id("cmd"),
        webhook_id: hook.id.clone(),
        trigger: required(input.trigger.clone(), "trigger")?,
        action: required(input.action.clone(), "action")?,
        agent: None,
        template: None,
        conditions: "{}".into(),
        target: None,
        priority: 0,
        stop: false,
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    apply(&mut row, input)?;
    // Before it is compiled: a name that is left out is not held to an agent name's form.
    let agent_left_out = drop_unused_agent(&mut row);
    compile(&row).map_err(|e| ServiceError::invalid(&e.field, e.message))?;
    check_spaces(&hook.provider, &row.trigger)?;
    check_new_conditions(&row)?;
    name_telegram_kind(state, &mut row);
    check_new_target(&row)?;
    let mut unchecked =
        check_reachable(state, &row, crate::actions::ssrf::lookup_deadline()).await?;
    unchecked.extend(agent_left_out);
    unchecked.extend(super::slack_channels::add_ids(state, hook, &mut row, channels).await);
    let stored = sealed_target(state, &row);
    Ok(Prepared {
        row,
        stored,
        unchecked,
    })
}

/// A command just added, as its caller is shown it: with what it may not do as meant.
pub(super) async fn added_out(
    state: &AppState,
    hook: &WebhookRow,
    row: &CommandRow,
    unchecked: Vec<String>,
) -> CommandOut {
    let mut out = presented_with_warnings(state, hook, row).await;
    out.warnings.extend(unchecked);
    out
}

/// Whether two commands given at once would do just what the other does.
pub(super) fn same_as(state: &AppState, one: &Prepared, other: &Prepared) -> bool {
    same_command(&state.sealer, &one.stored, &other.row)
}

/// Commands one webhook may hold: every delivery is matched and rendered against each, and
/// one event's actions are settled one by one, so the cost of a delivery grows with them.
pub const MAX_COMMANDS: usize = 100;

/// Why a command was not added, found on the writer.
enum Refusal {
    /// The webhook has this very command already.
    Same(String),
    /// It holds [`MAX_COMMANDS`].
    Full,
}

pub async fn list(state: &AppState, webhook_id: &str) -> Result<Vec<CommandOut>, ServiceError> {
    webhooks::load(state, webhook_id).await?;
    let key = webhook_id.to_string();
    let rows = state.store.read(move |db| rows::list(db, &key)).await?;
    Ok(rows
        .into_iter()
        .map(|mut row| {
            // One the key does not open shows the mask in place of its URL, never its sealed form.
            if let Err(e) = open_target(&state.sealer, &mut row) {
                tracing::error!(command = %row.id, error = %e, "cannot open a target URL");
            }
            present(&row)
        })
        .collect())
}

/// Changes the given fields of a command; the result is checked as a whole.
pub async fn update(
    state: &AppState,
    webhook_id: &str,
    command_id: &str,
    input: CommandIn,
) -> Result<CommandOut, ServiceError> {
    // Saying "updated" when nothing was would hide a change the caller meant to make (models
    // send every optional field as null, which keeps the stored value).
    if input.is_empty() {
        return Err(ServiceError::Invalid {
            field: None,
            message: format!(
                "nothing to change on command `{}`: give `trigger`, `action`, `agent`, \
                 `template`, `conditions`, `target`, `priority`, `stop` or `enabled`; null \
                 counts as left out (an empty value removes a template, agent or target, and \
                 `{{}}` the conditions)",
                crate::quote::quoted(command_id)
            ),
        });
    }
    // A try stores only over the command as it read it: one changed meanwhile (by another
    // update) is read again and built on, not overwritten. Each lost try means another won.
    // Tries after the first wait no more for DNS: the first one's wait counts for all.
    let deadline = crate::actions::ssrf::lookup_deadline();
    for _ in 0..UPDATE_TRIES {
        if let Some(out) =
            update_once(state, webhook_id, command_id, input.clone(), deadline).await?
        {
            return Ok(out);
        }
    }
    Err(ServiceError::Conflict(format!(
        "command `{command_id}` kept being changed by other requests while this update was \
         applied; read it again and retry"
    )))
}

const UPDATE_TRIES: usize = 16;

/// One try of [`update`]; `None` when the command changed between its read and the write.
async fn update_once(
    state: &AppState,
    webhook_id: &str,
    command_id: &str,
    input: CommandIn,
    deadline: tokio::time::Instant,
) -> Result<Option<CommandOut>, ServiceError> {
    let (w, c) = (webhook_id.to_string(), command_id.to_string());
    let Some(mut row) = state.store.read(move |db| rows::get(db, &w, &c)).await? else {
        return Err(missing(state, webhook_id, command_id).await);
    };
    // As stored (sealed): the write goes ahead only over this very row.
    let read = row.clone();
    // Opened, so a target written back as shown keeps it and an unchanged one is seen as such.
    open_target(&state.sealer, &mut row).map_err(StoreError::Corrupt)?;
    let opened = row.clone();
    let hook = webhooks::load(state, webhook_id).await?;
    let (stored_target, stored_action) = (row.target.clone(), row.action.clone());
    if let Some(t) = input.trigger.clone() {
        check_spaces(&hook.provider, &t)?;
        row.trigger = t;
    }
    if let Some(a) = input.action.clone() {
        // A forward turned into a comment (say) leaves its target behind, unless a target
        // is given with the new action for it to refuse.
        if a != row.action
            && input.target.is_none()
            && !matches!(a.trim(), "forward" | "post_message")
        {
            row.target = None;
        }
        // A forward and a message hide different parts of a URL (a forward's receiver path
        // stays readable, a channel's last segment is its key): a URL one hid shown by the
        // other would show its key. So the switch takes the whole URL again, and a mask in the
        // one given stands for nothing stored. A URL both rules show alike (nothing of it
        // hidden by either) is kept when none is given.
        if switches_url_rule(&row.action, &a)
            && row.target.is_some()
            && (input.target.is_some() || !shown_alike(row.target.as_deref()))
        {
            if input.target.is_none() {
                return Err(ServiceError::invalid(
                    "target",
                    format!(
                        "a {} and a {} hide different parts of their URL: give the whole target URL \
                         again in the same call, as `target.url` — the full URL as the service \
                         issued it, not the masked one a listing shows",
                        row.action.trim(),
                        a.trim()
                    ),
                ));
            }
            row.target = None;
        }
        // So does a create_task turned into an action that runs no agent: its agent goes
        // (one given with the new action is left out too, with a word).
        if a != row.action && input.agent.is_none() && !matches!(a.trim(), "create_task" | "ask") {
            row.agent = None;
        }
        row.action = a;
    }
    apply(&mut row, input)?;
    // Before it is compiled: a name that is left out is not held to an agent name's form.
    let agent_left_out = if row.agent != read.agent || row.action != stored_action {
        drop_unused_agent(&mut row)
    } else {
        None
    };
    // A command an older build saved that this one no longer takes (a template that includes
    // another, say) may still be disabled, stopped or reordered; any other change must mend
    // it, since what does not compile is not checked past its first fault.
    if let Err(e) = compile(&row) {
        let broken_before = compile(&opened).is_err();
        if !broken_before {
            return Err(ServiceError::invalid(&e.field, e.message));
        }
        if !only_standing_changed(&opened, &row) {
            return Err(ServiceError::invalid(
                &e.field,
                format!(
                    "{}; this command was saved by an older version and does not compile in \
                     this one: mend that in this update, or change only enabled, priority or stop",
                    e.message
                ),
            ));
        }
    }
    // Only what this update changes, as with the target below: a command saved before these
    // checks existed can still be disabled or fixed.
    let mut channels_said = Vec::new();
    if row.conditions != read.conditions {
        check_new_conditions(&row)?;
        channels_said = super::slack_channels::add_ids(state, &hook, &mut row, None).await;
    }
    if row.target != stored_target || row.action != stored_action {
        name_telegram_kind(state, &mut row);
    }
    // As with the reachability check below, a command saved before these checks existed can
    // still be disabled or changed elsewhere.
    if row.target != stored_target || row.action != stored_action {
        check_new_target(&row)?;
    }
    // Only a target given now: one saved while its host was allowed must not stop the
    // command from being disabled or fixed (the send-time check still refuses it).
    let mut unchecked = if row.target != stored_target {
        check_reachable(state, &row, deadline).await?
    } else {
        Vec::new()
    };
    unchecked.extend(agent_left_out);
    unchecked.extend(channels_said);
    row.updated_at = clock::now_ms();
    // On every save, as a webhook's own secret: one stored before the key was set is sealed
    // now, whatever this update changed.
    let stored = sealed_target(state, &row);
    // Only an update that changes what the command does can make it a copy of another: one
    // left as it was (a copy saved before this check, say) can still be saved. Nor is a
    // disabled one a copy that matters: it runs on nothing, and disabling must always work.
    let changes = row.enabled && !same_command(&state.sealer, &read, &row);
    let (sealer, given) = (Arc::clone(&state.sealer), row.clone());
    // Looked for on the writer, with the write, as `add` does: an add and an update sent at
    // once find each other too.
    let found = state
        .store
        .write(move |db| {
            if changes
                && let Some(same) = rows::list(db, &given.webhook_id)?
                    .into_iter()
                    .find(|r| r.id != given.id && same_command(&sealer, r, &given))
            {
                return Ok(Err(same.id));
            }
            rows::update_if_unchanged(db, &read, &stored).map(Ok)
        })
        .await?;
    state.hooks.invalidate(webhook_id);
    let found = found.map_err(|id| {
        ServiceError::Conflict(format!(
            "webhook `{webhook_id}` already has this very command, `{id}` (the same trigger, \
             action, agent, template, conditions, target, priority, stop and enabled): this \
             update would make `{command_id}` a copy of it, and both would run on every \
             event, posting each reply twice. Change something more (its priority, say), or, \
             if `{id}` does what `{command_id}` was to do, remove `{command_id}` with \
             remove_command"
        ))
    })?;
    let Some(found) = found else {
        return Ok(None);
    };
    if !found {
        return Err(not_found(command_id));
    }
    let mut out = presented_with_warnings(state, &hook, &row).await;
    out.warnings.extend(unchecked);
    Ok(Some(out))
}

pub async fn remove(
    state: &AppState,
    webhook_id: &str,
    command_id: &str,
) -> Result<(), ServiceError> {
    let (w, c) = (webhook_id.to_string(), command_id.to_string());
    let deleted = state
        .store
        .write(move |db| rows::delete(db, &w, &c))
        .await?;
    state.hooks.invalidate(webhook_id);
    if deleted {
        Ok(())
    } else {
        Err(missing(state, webhook_id, command_id).await)
    }
}

/// Why no command `command_id` is on webhook `webhook_id`: no such webhook, the command on
/// another one (ids swapped or copied from another webhook), or no such command at all. Told
/// only "command not found", a model would make the command again.
async fn missing(state: &AppState, webhook_id: &str, command_id: &str) -> ServiceError {
    if let Err(e) = webhooks::load(state, webhook_id).await {
        return e;
    }
    let id = command_id.to_string();
    match state.store.read(move |db| rows::webhook_of(db, &id)).await {
        Ok(Some(other)) => ServiceError::invalid(
            "webhook_id",
            format!(
                "command `{command_id}` is on webhook `{other}`, not `{webhook_id}`: give \
                 webhook_id `{other}`"
            ),
        ),
        Ok(None) => not_found(command_id),
        Err(e) => e.into(),
    }
}

/// The webhook's enabled commands, compiled, in run order. A stored command that no longer
/// compiles (written by an older build) is skipped with a warning rather than failing events.
pub fn compile_enabled(rows: &[CommandRow]) -> Vec<CompiledCommand> {
    rows.iter()
        .filter(|r| r.enabled)
        .filter_map(|r| match compile(r) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(command = %r.id, error = %e, "stored command does not compile");
                None
            }
        })
        .collect()
}

pub(super) fn compile(row: &CommandRow) -> Result<CompiledCommand, command::InvalidCommand> {
    let conditions: Value = serde_json::from_str(&row.conditions).unwrap_or(Value::Null);
    let target: Option<Value> = row
        .target
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok());
    let (trigger, conditions, action) = command::check(&CommandSpec {
        trigger: &row.trigger,
        action: &row.action,
        agent: row.agent.as_deref(),
        template: row.template.as_deref(),
        conditions: &conditions,
        target: target.as_ref(),
    })?;
    Ok(CompiledCommand {
        id: row.id.clone(),
        trigger,
        conditions,
        action,
        priority: row.priority,
        stop: row.stop,
    })
}

/// Applies the optional fields of `input` to `row`; the caller checks that it compiles.
fn apply(row: &mut CommandRow, input: CommandIn) -> Result<(), ServiceError> {
    if let Some(agent) = input.agent {
        row.agent = Some(agent.trim().to_string()).filter(|a| !a.is_empty());
    }
    // An empty value removes it (as `""` does for `agent` and `{}` for `conditions`); `null`
    // keeps the stored one, since models calling a tool often send every optional field as
    // null.
    if let Some(template) = input.template {
        row.template = Some(template).filter(|t| !t.trim().is_empty());
    }
    if let Some(conditions) = input.conditions {
        row.conditions = conditions.to_string();
    }
    if let Some(mut target) = input.target {
        for field in ["secret", "url"] {
            if target
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(super::sealing::looks_sealed)
            {
                return Err(ServiceError::invalid(
                    &format!("target.{field}"),
                    "a value starting with `enc:v1:` would be taken for an encrypted one (the \
                     form sealed secrets are stored in); give the plain value",
                ));
            }
        }
        restore_masked(&mut target, row.target.as_deref(), &row.action)?;
        if row.action.trim() == "forward" {
            keep_signing(&mut target, row.target.as_deref())?;
        }
        // `{}` (or `""`, which arrives as null) removes it, as turning a forward into a
        // comment needs.
        let emptied = target.is_null() || target.as_object().is_some_and(|o| o.is_empty());
        row.target = (!emptied).then(|| target.to_string());
    }
    if let Some(p) = input.priority {
        row.priority = p;
    }
    if let Some(s) = input.stop {
        row.stop = s;
    }
    if let Some(e) = input.enabled {
        row.enabled = e;
    }
    row.trigger = row.trigger.trim().to_string();
    Ok(())
}

/// Only a custom sender's event types hold spaces (a header such as `Issue Hook`), and GitHub's
/// `repository_dispatch` actions (the `event_type` its sender chose: `run tests`); in any
/// other trigger a space is a typo (`issues opened`) or a label copied from the sender's
/// settings (GitLab's `Note Hook`) that would never fire.
fn check_spaces(provider: &str, trigger: &str) -> Result<(), ServiceError> {
    let trigger_text = trigger.trim();
    let chosen_by_sender = provider == "github" && trigger_text.starts_with("repository_dispatch.");
    // A trigger the parse refuses (too long) is refused for that when compiled, before
    // anything looks for what it may have meant.
    if provider == "custom"
        || chosen_by_sender
        || !trigger_text.contains(' ')
        || crate::engine::trigger::Trigger::parse(trigger).is_err()
    {
        return Ok(());
    }
    let message = match provider.parse::<Provider>() {
        Ok(provider) => crate::providers::event_names::spaced_trigger(provider, trigger),
        Err(_) => format!(
            "`{}` holds a space, and `{provider}` event types have none; only a custom \
             webhook's event types may",
            trigger.trim()
        ),
    };
    Err(ServiceError::invalid("trigger", message))
}

/// A `post_message` target with no `kind` on `TELEGRAM_API_URL`'s host (a local Bot API
/// server, say) is saved as `telegram`: the command is planned without the configuration,
/// where the URL alone would be taken as Open WebUI's.
fn name_telegram_kind(state: &AppState, row: &mut CommandRow) {
    if row.action != "post_message" {
        return;
    }
    let Some(mut target) = row
        .target
        .as_deref()
        .and_then(|t| serde_json::from_str::<command::Target>(t).ok())
    else {
        return;
    };
    let given = target.kind.clone();
    target.name_telegram_kind(&state.config.upstreams.telegram_api_url);
    if target.kind != given
        && let Ok(json) = serde_json::to_string(&target)
    {
        row.target = Some(json);
    }
}

/// See [`Conditions::check_new`](crate::engine::conditions::check_new). Runs after `apply`,
/// so the row has compiled.
fn check_new_conditions(row: &CommandRow) -> Result<(), ServiceError> {
    command::check_new_conditions_size(&row.conditions)
        .map_err(|e| ServiceError::invalid(&e.field, e.message))?;
    let conditions: Value = serde_json::from_str(&row.conditions).unwrap_or(Value::Null);
    crate::engine::conditions::check_new(&conditions)
        .map_err(|e| ServiceError::invalid(&e.path, e.message))
}

/// See [`command::unused_agent`]: an agent the action does not run is left out, and said.
/// An action that is no action is left to the compile that follows to refuse.
fn drop_unused_agent(row: &mut CommandRow) -> Option<String> {
    let action = row.action.parse().ok()?;
    let said = command::unused_agent(action, row.agent.as_deref())?;
    row.agent = None;
    Some(said)
}

/// Whether `stored` does just what `given` (a command about to be added or updated, its
/// target plain) would: every field that changes what it does is the same. Conditions and
/// targets compare as JSON (key order aside), a stored target's sealed URL and secret opened
/// first.
fn same_command(sealer: &Sealer, stored: &CommandRow, given: &CommandRow) -> bool {
    let conditions = |c: &str| match serde_json::from_str::<Value>(c) {
        Ok(Value::Null) => json!({}),
        Ok(v) => v,
        Err(_) => Value::String(c.to_string()),
    };
    let target = |t: Option<&str>| -> Option<Value> {
        let mut t: Value = serde_json::from_str(t?).ok()?;
        for field in ["url", "secret"] {
            if let Some(value) = t.get(field).and_then(Value::as_str) {
                t[field] = Value::String(sealer.open(value).ok()?);
            }
        }
        Some(t)
    };
    stored.trigger == given.trigger
        && stored.action == given.action
        && stored.agent == given.agent
        && stored.template == given.template
        && stored.priority == given.priority
        && stored.stop == given.stop
        && stored.enabled == given.enabled
        && conditions(&stored.conditions) == conditions(&given.conditions)
        && stored.target.is_some() == given.target.is_some()
        && target(stored.target.as_deref()) == target(given.target.as_deref())
}

/// See [`command::check_new_target`]. Runs after `apply`, so the row has compiled.
fn check_new_target(row: &CommandRow) -> Result<(), ServiceError> {
    if let Some(target) = &row.target {
        command::check_new_target_size(target)
            .map_err(|e| ServiceError::invalid(&e.field, e.message))?;
    }
    let Ok(action) = row.action.parse() else {
        return Ok(());
    };
    let Some(target) = row
        .target
        .as_deref()
        .and_then(|t| serde_json::from_str::<command::Target>(t).ok())
    else {
        return Ok(());
    };
    command::check_new_target(action, &target)
        .map_err(|e| ServiceError::invalid(&e.field, e.message))
}

/// A target this server would refuse to send to (a private address not in
/// `ALLOWED_TARGET_HOSTS`), or one still showing a mask where no stored value stands behind
/// it, is refused when saved, where the caller can still fix it. A process that sends nothing
/// saves one its own list refuses, with the warning returned (the sender's list counts). A host
/// name that resolves to a private address is saved with a warning: DNS may answer otherwise
/// when it is sent.
async fn check_reachable(
    state: &AppState,
    row: &CommandRow,
    deadline: tokio::time::Instant,
) -> Result<Vec<String>, ServiceError> {
    let secret = row
        .target
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|t| t.get("secret").and_then(Value::as_str).map(str::to_string));
    if secret.as_deref() == Some(MASK) {
        return Err(ServiceError::invalid(
            "target.secret",
            "this is the mask a listing shows in place of a signing secret, and no stored \
             secret stands behind it here: give the secret itself (or leave it out to send \
             unsigned)",
        ));
    }
    // Signed as Standard Webhooks: a secret the receiver's library cannot load (or an empty
    // key, which signs nothing anyone keeps secret) would fail every delivery there.
    let mut warnings = Vec::new();
    if let Some(secret) = secret.filter(|s| !super::sealing::looks_sealed(s)) {
        let Some(key) = crate::actions::standard_key(&secret) else {
            return Err(ServiceError::invalid(
                "target.secret",
                crate::actions::NOT_A_STANDARD_SECRET,
            ));
        };
        // Taken, as the receiving libraries take it (it may be the one set there already),
        // but a short key is guessed as a webhook's short secret is.
        warnings.extend(short_key_warning(key.len()));
    }
    let url = row
        .target
        .as_deref()
        .and_then(|t| serde_json::from_str::<command::Target>(t).ok())
        .map(|t| t.url);
    let Some(url) = url else { return Ok(warnings) };
    if let Some(refused) = crate::actions::masked_url_refusal(&url) {
        return Err(ServiceError::invalid("target.url", refused));
    }
    let unchecked = super::sending::target_refusal(state, &url)
        .map_err(|refused| ServiceError::invalid("target.url", refused))?;
    match unchecked {
        Some(why) => warnings.push(super::sending::saved_target_warning("target.url", &why)),
        // A name is only warned about: DNS may answer otherwise when the action is sent.
        None => warnings
            .extend(super::sending::address_warning(state, "target.url", &url, deadline).await),
    }
    Ok(warnings)
}

/// Signing keys shorter than this, in bytes once decoded, are warned about, as a webhook's
/// given secrets under 16 characters are.
const MIN_SAFE_KEY_BYTES: usize = 16;

/// A warning for a forward's signing key short enough to guess: whoever guesses it can sign
/// requests the receiver takes as this server's.
fn short_key_warning(bytes: usize) -> Option<String> {
    (bytes < MIN_SAFE_KEY_BYTES).then(|| {
        format!(
            "target.secret: the signing key is only {bytes} byte(s) once its base64 is decoded, \
             few enough to guess, and whoever guesses it can sign requests the receiver takes \
             as this server's: use at least {MIN_SAFE_KEY_BYTES} random bytes (e.g. `whsec_` + \
             `openssl rand -base64 32`) here and at the receiver"
        )
    })
}

fn required(value: Option<String>, field: &str) -> Result<String, ServiceError> {
    value.ok_or_else(|| ServiceError::invalid(field, format!("missing field `{field}`")))
}

/// A saved command as shown, with what a preview of its template found and whether anyone
/// here runs its agent.
async fn presented_with_warnings(
    state: &AppState,
    hook: &WebhookRow,
    row: &CommandRow,
) -> CommandOut {
    let mut out = present(row);
    let never_matches = trigger_warning(hook, row);
    // What would go wrong when it fires is beside the point then (and a thread warning about
    // a misspelt event would point at the wrong fix).
    let fires = never_matches.is_none();
    out.warnings.extend(never_matches);
    // Rendered off the runtime's threads: a template that takes long to render (see
    // `template`'s limits) must not hold up the requests that share them.
    let (for_render, to_render) = (hook.clone(), row.clone());
    let rendered = tokio::task::spawn_blocking(move || template_warning(&for_render, &to_render));
    out.warnings.extend(rendered.await.ok().flatten());
    out.warnings.extend(agent_warning(state, row));
    out.warnings.extend(sender_text_warning(row));
    if fires {
        out.warnings.extend(no_thread_warning(state, hook, row));
    }
    out.warnings.extend(run_thread_warning(hook, row));
    out.warnings.extend(slack_channel_warning(hook, row));
    out.warnings.extend(openwebui_message_warning(hook, row));
    out.warnings.extend(slack_subtype_warning(hook, row));
    out.warnings.extend(own_receiver_warning(state, hook, row));
    out.warnings
        .extend(super::sending::command_token_warning(state, hook, row));
    out.warnings
        .extend(second_respond_warning(state, hook, row).await);
    if row.action == "post_message"
        && let Some(target) = row
            .target
            .as_deref()
            .and_then(|t| serde_json::from_str::<command::Target>(t).ok())
        // Stored sealed when WEBHOOK_MCP_SECRET_KEY is set (a channel URL is a credential).
        && let Ok(url) = state.sealer.open(&target.url)
    {
        out.warnings.extend(super::sending::unknown_channel_warning(
            state,
            "target.url",
            &url,
            target.kind.is_some(),
        ));
    }
    out
}

/// A custom sender reads one answer, in the HTTP response: the first `respond` an event fires
/// (by priority) gives it, and another has no thread to answer on, so it ends dead. Which
/// commands fire together depends on the events; that two may is worth saying.
async fn second_respond_warning(
    state: &AppState,
    hook: &WebhookRow,
    row: &CommandRow,
) -> Option<String> {
    if hook.provider != "custom" || row.action != "respond" || !row.enabled {
        return None;
    }
    let webhook_id = hook.id.clone();
    let others = state
        .store
        .read(move |db| crate::store::commands::list(db, &webhook_id))
        .await
        .ok()?;
    let other = others
        .iter()
        .find(|c| c.id != row.id && c.enabled && c.action == "respond")?;
    Some(format!(
        "command `{}` answers this webhook's deliveries too: a custom sender reads one answer, \
         in the HTTP response, given by the first `respond` an event fires (by priority); \
         another one it fires has no thread to answer on and ends dead. Give the two \
         triggers or conditions no event meets together, or make one a forward or post_message",
        other.id
    ))
}

/// A forward to this webhook's own receive URL comes back as a new event that forwards again:
/// it stops only at the hop limit (`actions::hops`), having run its commands each time. That
/// is, if the webhook takes it: a forward is signed the Standard Webhooks way, and a webhook
/// whose sender signs otherwise (a `github` one wants `X-Hub-Signature-256`) rejects it, so
/// each action ends dead instead. Which it is, the receiver's own verification says, run on
/// the request the forward connector builds.
fn own_receiver_warning(state: &AppState, hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    if row.action != "forward" {
        return None;
    }
    let target: Value = serde_json::from_str(row.target.as_deref()?).ok()?;
    let url = target.get("url")?.as_str()?;
    let own = super::webhooks::receiver_url(state, &hook.provider, &hook.id);
    if !reaches_receiver(url, &state.public_base_url, hook) {
        return None;
    }
    // Stored sealed when WEBHOOK_MCP_SECRET_KEY is set (an update reads it so): opened, as
    // the worker signs with it. One that does not open is warned of as a loop, the worse case.
    let secret = target
        .get("secret")
        .and_then(Value::as_str)
        .map(|secret| state.sealer.open(secret));
    let rejected = match secret {
        Some(Err(_)) => None,
        Some(Ok(secret)) => forward_rejected(hook, url, Some(&secret)),
        None => forward_rejected(hook, url, None),
    };
    match rejected {
        Some(why) => Some(format!(
            "the target is this webhook's own receive URL ({own}), and a `{}` webhook rejects \
             the forward ({why}): a forward is signed the Standard Webhooks way \
             (`webhook-signature`, with target.secret), which only a `standard-webhooks` \
             webhook verifies (an `openwebui` or token-mode `custom` one takes its token in the \
             URL's `?token=`), so each forward ends dead",
            hook.provider
        )),
        None => Some(format!(
            "the target is this webhook's own receive URL ({own}): each forward comes back as a \
             new event that fires this command again; the loop stops only after {} forwards \
             (the {} header counts them), when the event is stored as `looped` and runs nothing",
            crate::actions::hops::MAX_HOPS,
            crate::actions::hops::HEADER
        )),
    }
}

/// Whether a target is a URL alone shown the same by a forward's rule and a message's: nothing
/// of it hidden by either (no key in its path, no query), so switching between the two shows
/// no more of it than before. A target with more (a forward's signing secret, a message's
/// kind or chat id) is not: the other action would refuse or drop it.
fn shown_alike(target: Option<&str>) -> bool {
    let url = target
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .filter(|t| t.as_object().is_some_and(|o| o.len() == 1))
        .and_then(|t| t.get("url").and_then(Value::as_str).map(str::to_owned));
    url.is_some_and(|url| {
        !super::sealing::looks_sealed(&url)
            && crate::actions::redact_secret_path(&url) == url
            && crate::actions::mask_forward_url(&url) == url
    })
}

/// Whether an action's change from `stored` to `given` changes the rule its target URL is
/// shown by: a forward's ([`crate::actions::mask_forward_url`]) or a message's.
fn switches_url_rule(stored: &str, given: &str) -> bool {
    // Exactly as the actions are named: any other spelling is refused as an unknown action.
    matches!(
        (stored, given),
        ("forward", "post_message") | ("post_message", "forward")
    )
}

/// Whether `url` reaches `hook`'s receiver on this server, whose URLs start with `base`
/// (`PUBLIC_URL`): the same origin (a host's trailing dot and case aside), then
/// `/webhooks/{provider}/{id}` as the router takes it (the provider by any of its names, in
/// any case; the id exactly; no trailing `/`, which the router does not take).
fn reaches_receiver(url: &str, base: &str, hook: &WebhookRow) -> bool {
    let place = |u: &str| {
        let u = reqwest::Url::parse(u).ok().filter(reqwest::Url::has_host)?;
        let host = u.host_str()?.trim_end_matches('.').to_ascii_lowercase();
        Some((
            u.scheme().to_owned(),
            host,
            u.port_or_known_default(),
            u.path().to_owned(),
        ))
    };
    let (Some((scheme, host, port, path)), Some((own_scheme, own_host, own_port, own_path))) =
        (place(url), place(base))
    else {
        return false;
    };
    let Some(rest) = path.strip_prefix(own_path.trim_end_matches('/')) else {
        return false;
    };
    let mut segments = rest.split('/');
    let (Some(""), Some("webhooks"), Some(provider), Some(id), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };
    // The router hands the handler its segments percent-decoded (`sw%32` is webhook `sw2`).
    let decoded = |segment: &str| {
        percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map(|s| s.into_owned())
            .ok()
    };
    let (Some(provider), Some(id)) = (decoded(provider), decoded(id)) else {
        return false;
    };
    (scheme, host, port) == (own_scheme, own_host, own_port)
        && provider.parse::<Provider>().ok() == hook.provider.parse::<Provider>().ok()
        && id == hook.id
}

/// Why `hook` would reject a forward to `url` signed with `secret`: its own verification, as
/// the receiver runs it, on a forward as the connector builds it. `None` when it takes it.
fn forward_rejected(hook: &WebhookRow, url: &str, secret: Option<&str>) -> Option<String> {
    let provider: Provider = hook.provider.parse().ok()?;
    let options: providers::ProviderOptions =
        serde_json::from_str(&hook.options).unwrap_or_default();
    let now_ms = clock::now_ms();
    let message = crate::actions::ForwardMessage {
        url,
        secret,
        event_type: "test",
        message_id: "msg_check",
        body: "{}",
        hops: 1,
    };
    let (body, headers) = crate::actions::forward_request(&message, now_ms.div_euclid(1000));
    let parsed = reqwest::Url::parse(url).ok()?;
    let request = providers::Request {
        headers: &headers,
        body: body.as_bytes(),
        query: parsed.query(),
        now_ms,
    };
    let secrets = super::ingest::secrets(hook, now_ms);
    providers::verify(provider, secrets, &options, &request)
        .err()
        .map(|e| e.to_string())
}

/// A reply on the source from a provider whose events have no thread to reply on (a Stripe
/// payment, a Sentry alert) fails for every event.
fn no_thread_warning(state: &AppState, hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    let provider: Provider = hook.provider.parse().ok()?;
    if crate::providers::replies_possible(provider, &row.trigger) {
        return None;
    }
    // What has no thread: all of a provider's events, or these GitHub or GitLab ones.
    let provider = match provider {
        Provider::GitHub => format!("GitHub `{}`", row.trigger.trim()),
        Provider::GitLab => format!("GitLab `{}`", row.trigger.trim()),
        Provider::Slack => format!("Slack `{}`", row.trigger.trim()),
        Provider::Linear => format!("Linear `{}`", row.trigger.trim()),
        Provider::Jira => format!("Jira `{}`", row.trigger.trim()),
        other => format!("`{}`", other.as_str()),
    };
    // A custom sender reads its answer in the HTTP response: `respond` has somewhere to go.
    let answered_inline = hook.provider == "custom";
    match row.action.as_str() {
        "comment" | "ask" => Some(format!(
            "{provider} events have no thread to reply on, so this {} fails for every event; \
             use post_message (to a channel) or forward instead",
            row.action
        )),
        "respond" if !answered_inline => Some(format!(
            "{provider} events have no thread to reply on, and their sender reads no answer \
             in the HTTP response, so this respond fails for every event; use post_message \
             (to a channel) or forward instead"
        )),
        "create_task" => {
            let agent = row.agent.as_deref()?;
            let spec = state.agents.iter().find(|a| a.name == agent)?;
            (spec.result == crate::agents::ResultAction::Comment).then(|| {
                format!(
                    "agent `{agent}` posts its result as a comment, and {provider} events have \
                     no thread to take one: the result is kept on the task only (declare the \
                     agent with `result: post_message` and a `target` to have it posted)"
                )
            })
        }
        _ => None,
    }
}

/// A reply on a GitHub run event lands on the run's pull request, and a run without one (a
/// push to a branch, a fork's pull request) has nowhere to take it. Nothing to say when the
/// command's conditions already skip those runs.
fn run_thread_warning(hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    let provider: Provider = hook.provider.parse().ok()?;
    let event = crate::providers::run_event(provider, row.trigger.trim())?;
    let action = &row.action;
    if !matches!(action.as_str(), "comment" | "ask" | "respond") {
        return None;
    }
    let field = match provider {
        Provider::GitLab => "merge_request.iid".to_string(),
        _ => format!("{event}.pull_requests.0"),
    };
    let conditions = serde_json::from_str(&row.conditions).unwrap_or(Value::Null);
    if Conditions::compile(&conditions).is_ok_and(|c| c.require(&field)) {
        return None;
    }
    Some(match provider {
        Provider::GitLab => format!(
            "a GitLab `pipeline` has a thread only when it ran for a merge request into this \
             project: the {action} goes on that merge request as a note, and fails for a \
             branch's or tag's pipeline; add the condition \
             {{\"field\": \"{field}\", \"exists\": true}} to skip those"
        ),
        _ => format!(
            "a GitHub `{event}` has a thread only when the run was for a pull request of this \
             repository: the {action} goes on that pull request, and fails for a run on a \
             branch push, for a fork's pull request (GitHub names none) and for a run in a fork \
             for its pull request upstream; add the condition \
             {{\"field\": \"{field}\", \"exists\": true}} to skip the first two"
        ),
    })
}

/// A `message` trigger sees new messages only: an edit, deletion or join is an event named by
/// its subtype, so a condition on `event.subtype` under it looks for what never comes there.
fn slack_subtype_warning(hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    let new_posts = row.trigger == "message" || row.trigger.starts_with("message.");
    (hook.provider == "slack" && new_posts && row.conditions.contains("subtype")).then(|| {
        "a `message` trigger hears new messages only; edits, deletions and joins are events of \
         their own, named by their subtype (`message_changed`, `message_deleted`, \
         `message_channel_join`): trigger on that name instead of a condition on \
         `event.subtype`"
            .to_string()
    })
}

/// Slack's Events API gives a channel's id (`C0123ABCD`), never its name: a `#name` condition
/// only ever matches slash commands, which carry `channel_name`, and interactions (buttons,
/// message actions), which carry `channel.name`.
fn slack_channel_warning(hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    if hook.provider != "slack"
        || row.trigger.starts_with('/')
        || crate::providers::slack::INTERACTIONS_IN_A_CHANNEL.contains(&row.trigger.as_str())
    {
        return None;
    }
    let conditions: Value = serde_json::from_str(&row.conditions).ok()?;
    // A name with its id beside it (looked up when saved) matches Slack's events.
    let named = super::slack_channels::name_without_id(&conditions)?;
    Some(format!(
        "Slack's events name a channel by its id (C0123ABCD), not `{named}`: this condition \
         matches only slash commands and interactions in a channel (buttons, message \
         actions); use the channel's id (in Slack: channel details, at the bottom)"
    ))
}

/// Open WebUI sends `message.created` for every chat prompt and answer and every direct
/// message, not only for channel posts: a command on it without a channel to keep to would
/// echo private chats into a channel, and one keeping to a channel by name keeps to none (the
/// event names it by id).
fn openwebui_message_warning(hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    let fires_on_messages = crate::engine::trigger::Trigger::parse(&row.trigger)
        .is_ok_and(|t| t.matches("message.created"));
    if hook.provider != "openwebui" || !fires_on_messages {
        return None;
    }
    let conditions: Value = serde_json::from_str(&row.conditions).unwrap_or(Value::Null);
    // Meant for chats, or for what a chat's messages carry: said knowingly.
    let text = conditions.to_string();
    if text.contains("chat_id") || text.contains("data.role") || text.contains("/data/role") {
        return None;
    }
    let channels = required_channels(&conditions);
    let looks_like_id = |c: &String| uuid::Uuid::parse_str(c.trim_start_matches('#')).is_ok();
    if channels.is_empty() {
        return Some(
            "Open WebUI sends `message.created` for every message in a chat (the user's prompt \
             and the model's answer, with `data.chat_id`) and every direct message, not only for \
             channel posts: add `{\"channel\": \"<channel id>\"}` to the conditions to keep this \
             command to one channel (its id is in the channel's URL, /channels/<id>)"
                .into(),
        );
    }
    let named = channels.iter().find(|c| !looks_like_id(c))?;
    Some(format!(
        "Open WebUI's `message.created` names its channel by id, not `{}`: this condition \
         matches no channel post; use the channel's id (in its URL, /channels/<id>)",
        crate::quote::quoted(named)
    ))
}

/// The channels every event passing `conditions` is in: a `channel` test at the top or in an
/// `all` (however deep), or in every branch of an `any`; never one under `not`.
fn required_channels(conditions: &Value) -> Vec<String> {
    let Some(map) = conditions.as_object() else {
        return Vec::new();
    };
    let mut found = map.get("channel").map(channel_names).unwrap_or_default();
    for item in map
        .get("all")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        found.extend(required_channels(item));
    }
    if let Some(branches) = map.get("any").and_then(Value::as_array) {
        let each: Vec<Vec<String>> = branches.iter().map(required_channels).collect();
        if !each.is_empty() && each.iter().all(|b| !b.is_empty()) {
            found.extend(each.into_iter().flatten());
        }
    }
    found
}

/// The names a `channel` condition gives: one, or a list of them.
fn channel_names(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// A trigger no event of the webhook's provider can match (GitLab's `issues.opened` is
/// `issue.open`, Jira's `issue_created` is `jira:issue_created`). Not refused: the lists are
/// the providers' documented names, and a new name may come before this server knows it.
fn trigger_warning(hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    let provider: Provider = hook.provider.parse().ok()?;
    crate::providers::event_names::unknown_trigger(provider, &row.trigger)
}

/// An agent the built-in runner does not run (a typo, often) gets tasks nobody here takes.
/// Not refused: an external agent may claim tasks by that name. Without a runner every task
/// is for external agents, so there is nothing to say.
/// A task's prompt that prints what a sender words puts it among the agent's instructions.
fn sender_text_warning(row: &CommandRow) -> Option<String> {
    if row.action != "create_task" {
        return None;
    }
    let printed = crate::engine::sender_text::printed_sender_text(row.template.as_deref()?)?;
    Some(format!(
        "template: `{{{{ {printed} }}}}` prints what the sender wrote into the task's \
         instructions, where the model takes it as yours: whoever writes it can steer the agent \
         (\"ignore the above and ...\"). The agent reads the whole event as data anyway (marked \
         untrusted): print only what a sender cannot word (a number, the event type)"
    ))
}

fn agent_warning(state: &AppState, row: &CommandRow) -> Option<String> {
    // An `ask` without an agent hands its reply to `brain` when it fires, so an agent list
    // without `brain` strands it just as a misspelt name would.
    let (agent, implied) = match row.agent.as_deref() {
        Some(agent) => (agent, ""),
        None if row.action == "ask" => (
            crate::agents::ASK_AGENT,
            "an `ask` without `agent` is for agent `brain`, and ",
        ),
        None => return None,
    };
    let settings = &state.config.agents;
    let runner_on = settings.runner && settings.has_chat_api();
    if !runner_on {
        return None;
    }
    let declared: Vec<String> = state.agents.iter().map(|a| a.name.clone()).collect();
    if declared.iter().any(|name| name == agent) {
        return None;
    }
    Some(format!(
        "{implied}the built-in runner does not run agent `{agent}` (it runs {}): its tasks \
         wait for an external agent to claim them by that name (claim_task)",
        declared
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Renders the command's template over the provider's built-in sample of each event type
/// its trigger matches. Templates render with strict undefined, so a misspelt variable would
/// otherwise surface only as a failed action on the first real event. A warning, and only
/// when no sample renders: a real delivery may carry fields the samples lack.
fn template_warning(hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    let source = row.template.as_deref()?;
    let provider: Provider = hook.provider.parse().ok()?;
    let trigger = Trigger::parse(&row.trigger).ok()?;
    let now = clock::now_ms();
    let options: providers::ProviderOptions =
        serde_json::from_str(&hook.options).unwrap_or_default();
    let mut first_failure = None;
    for event_type in samples::builtin_event_types(provider)
        .iter()
        .filter(|t| trigger.matches(t))
    {
        let Ok(sample) = samples::sample(provider, Some(event_type), None, now) else {
            continue;
        };
        let Ok(payload) = providers::parse_payload(provider, &sample.body) else {
            continue;
        };
        // The sample's own thread, as a delivery of it would have (`{{ delivery.source.key }}`).
        let headers: axum::http::HeaderMap = sample
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.parse().ok()?, v.parse().ok()?)))
            .collect();
        let thread = providers::describe(provider, &options, &headers, &payload).source;
        let context = super::planning::template_context(
            hook,
            &Arc::new(payload),
            json!({"id": "evt_preview", "type": event_type, "provider": hook.provider,
                "received_at": clock::rfc3339(now), "source": thread}),
        );
        // Text a reader still takes when cut is sent cut (saying so), as a delivery does; a
        // forward's body is not cut, so one too long is an error there as here.
        let rendered = if row.action.trim() == "forward" {
            template::render(source, &context).map(drop)
        } else {
            template::render_cut(source, &context, template::Escape::Plain).map(drop)
        };
        match rendered {
            Ok(()) => return None,
            Err(error) => {
                first_failure.get_or_insert((*event_type, error));
            }
        }
    }
    let (event_type, error) = first_failure?;
    Some(format!(
        "the template does not render with the sample `{event_type}` payload (nor any other \
         sample its trigger matches): {error}. A real delivery may have fields the samples \
         lack, but check the names (test_webhook shows what each command would send)"
    ))
}

/// A target as shown: its signing secret masked, a channel URL's secret path segment
/// (incoming-webhook URLs and Telegram's `bot<token>` are credentials themselves), and a
/// forward URL's credentials and the secrets of its path (`actions::mask_forward_url`).
fn shown_target(action: &str, target: &str) -> Option<Value> {
    let mut t = serde_json::from_str::<Value>(target).ok()?;
    if let Some(secret) = t.get_mut("secret").filter(|s| s.is_string()) {
        *secret = Value::String(MASK.into());
    }
    if let Some(url) = t.get_mut("url")
        && let Some(raw) = url.as_str()
    {
        *url = Value::String(if super::sealing::looks_sealed(raw) {
            // Not opened (`list` logs why): nothing of it is shown.
            MASK.to_string()
        } else if action == "post_message" {
            crate::actions::redact_secret_path(raw)
        } else if action == "forward" {
            crate::actions::mask_forward_url(raw)
        } else {
            crate::actions::mask_url_credentials(raw)
        });
    }
    Some(t)
}

/// The row as stored. A forward's signing secret is sealed when a key is set, like webhook
/// secrets; it is opened only to sign (by the outbox worker), so the outbox holds it sealed
/// too. So is a target URL that is a credential itself (`actions::url_is_credential`: a
/// channel's, a forward's with a password or token in it), which is opened when read
/// ([`open_target`]) and sealed again in the outbox (`record::outbox_row`).
fn sealed_target(state: &AppState, row: &CommandRow) -> CommandRow {
    let mut row = row.clone();
    if let Some(target) = row.target.as_deref()
        && let Some(sealed) = sealed_target_json(&state.sealer, &row.action, target)
    {
        row.target = Some(sealed);
    }
    row
}

/// A command's stored `target` JSON with its plain signing secret and credential URL
/// sealed, or `None` when nothing in it is to be sealed (no key, or sealed already).
pub(super) fn sealed_target_json(sealer: &Sealer, action: &str, target: &str) -> Option<String> {
    let mut target = serde_json::from_str::<Value>(target).ok()?;
    let mut changed = false;
    if let Some(sealed) = target
        .get("secret")
        .and_then(Value::as_str)
        .and_then(|secret| sealer.seal_once(secret))
    {
        target["secret"] = Value::String(sealed);
        changed = true;
    }
    let channel = action == "post_message";
    if let Some(sealed) = target
        .get("url")
        .and_then(Value::as_str)
        .filter(|url| crate::actions::url_is_credential(channel, url))
        .and_then(|url| sealer.seal_once(url))
    {
        target["url"] = Value::String(sealed);
        changed = true;
    }
    changed.then(|| target.to_string())
}

/// The row with its target's URL opened, as everything past the store works with it (checks,
/// planning, showing it masked); the signing secret stays sealed until the worker signs.
pub(super) fn open_target(sealer: &Sealer, row: &mut CommandRow) -> Result<(), String> {
    let Some(mut target) = row
        .target
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
    else {
        return Ok(());
    };
    if let Some(url) = target.get("url").and_then(Value::as_str)
        && super::sealing::looks_sealed(url)
    {
        let opened = sealer
            .open(url)
            .map_err(|e| format!("command `{}`'s target URL: {e}", row.id))?;
        target["url"] = Value::String(opened);
        row.target = Some(target.to_string());
    }
    Ok(())
}

/// Stored commands with their target URLs opened ([`open_target`]).
pub(super) fn opened_rows(
    sealer: &Sealer,
    mut rows: Vec<CommandRow>,
) -> Result<Vec<CommandRow>, StoreError> {
    for row in &mut rows {
        open_target(sealer, row).map_err(StoreError::Corrupt)?;
    }
    Ok(rows)
}

/// A target given back as it was shown (a model reading a command and writing it back keeps
/// the masked values) keeps the stored secret and URL where it still shows the masks. The
/// stored secret stays with the stored URL: a masked secret with a new URL would let whoever
/// edits the command have its signatures made, over a body of their choosing, for another host.
fn restore_masked(
    given: &mut Value,
    stored: Option<&str>,
    action: &str,
) -> Result<(), ServiceError> {
    let Some(stored) = stored.and_then(|t| serde_json::from_str::<Value>(t).ok()) else {
        return Ok(());
    };
    let stored_url = stored.get("url").and_then(Value::as_str);
    if let (Some(url), Some(stored_url)) = (given.get("url").and_then(Value::as_str), stored_url)
        // A channel's URL is listed with its query and credentials left out (a forward's,
        // masked), so only there does the bare URL stand for the stored one.
        && let Some(restored) =
            crate::actions::restore_url(url, stored_url, action.trim() == "post_message")
    {
        given["url"] = Value::String(restored);
    }
    if given.get("secret").and_then(Value::as_str) == Some(MASK)
        && let Some(secret) = stored.get("secret")
    {
        let url = given.get("url").and_then(Value::as_str);
        if url.is_some() && url != stored_url {
            return Err(ServiceError::invalid(
                "target.secret",
                "the stored signing secret stays with the stored URL: give the secret again \
                 (its value, not the mask) to forward to a new URL",
            ));
        }
        given["secret"] = secret.clone();
    }
    Ok(())
}

/// A forward's new target given without a signing secret, where the stored one has one,
/// keeps it for the same URL (a model writing the target back, or only its `kind`, leaves the
/// secret out) and is refused for a new URL rather than sent unsigned from then on unnoticed;
/// `"secret": ""` is how to stop signing.
fn keep_signing(given: &mut Value, stored: Option<&str>) -> Result<(), ServiceError> {
    let Some(target) = given.as_object_mut() else {
        return Ok(());
    };
    // Unsigned, whether or not it was signed before (a new forward too): the way the refusal
    // below, and README, say to send unsigned.
    if target.get("secret").and_then(Value::as_str) == Some("") {
        target.remove("secret");
        return Ok(());
    }
    let Some(stored) = stored.and_then(|t| serde_json::from_str::<Value>(t).ok()) else {
        return Ok(());
    };
    let Some(secret) = stored.get("secret").filter(|s| s.is_string()) else {
        return Ok(());
    };
    if let Some(Value::String(_)) = target.get("secret") {
        return Ok(());
    }
    let url = target.get("url").and_then(Value::as_str);
    if url.is_some() && url != stored.get("url").and_then(Value::as_str) {
        return Err(ServiceError::invalid(
            "target.secret",
            "this forward signs what it sends: give the new URL's signing secret as \
             `target.secret` (`whsec_…`, as its receiver has it), or `\"secret\": \"\"` to send \
             unsigned from now on",
        ));
    }
    target.insert("secret".into(), secret.clone());
    Ok(())
}

fn present(row: &CommandRow) -> CommandOut {
    let target = row
        .target
        .as_deref()
        .and_then(|t| shown_target(&row.action, t));
    CommandOut {
        id: row.id.clone(),
        webhook_id: row.webhook_id.clone(),
        trigger: row.trigger.clone(),
        action: row.action.clone(),
        agent: row.agent.clone(),
        template: row.template.clone(),
        conditions: serde_json::from_str(&row.conditions).unwrap_or(Value::Null),
        target,
        priority: row.priority,
        stop: row.stop,
        enabled: row.enabled,
        created_at: clock::rfc3339(row.created_at),
        updated_at: clock::rfc3339(row.updated_at),
        warnings: not_running(row).into_iter().collect(),
    }
}

/// Whether an update changed only whether and when the command runs (`enabled`, `priority`,
/// `stop`), not what it does.
fn only_standing_changed(before: &CommandRow, after: &CommandRow) -> bool {
    before.trigger == after.trigger
        && before.action == after.action
        && before.agent == after.agent
        && before.template == after.template
        && before.conditions == after.conditions
        && before.target == after.target
}

/// Why an enabled command an older build saved never runs now (events skip it, with only a
/// log line to say so), for its listing to show.
fn not_running(row: &CommandRow) -> Option<String> {
    let e = compile(row).err().filter(|_| row.enabled)?;
    Some(format!(
        "this command does not run: this version refuses its {}: {}; change that with \
         update_command, or disable or delete the command",
        e.field, e.message
    ))
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound {
        what: "command",
        id: id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forward_reaches_its_own_receiver_by_any_spelling_the_router_takes() {
        let hook = WebhookRow {
            id: "sw".into(),
            name: "Self".into(),
            provider: "standard-webhooks".into(),
            secret: String::new(),
            previous_secret: None,
            previous_expires_at: None,
            enabled: true,
            options: "{}".into(),
            created_by: None,
            created_at: 0,
            updated_at: 0,
            secret_placeholder: false,
        };
        let base = "https://hooks.example.com/in";
        let cases = [
            (
                "https://hooks.example.com/in/webhooks/standard-webhooks/sw",
                true,
            ),
            ("https://HOOKS.example.com./in/webhooks/svix/sw?x=1", true),
            (
                "https://hooks.example.com:443/in/webhooks/Standard-Webhooks/sw",
                true,
            ),
            // Another webhook, provider, origin or base path; the id in another case.
            (
                "https://hooks.example.com/in/webhooks/standard-webhooks/sw2",
                false,
            ),
            (
                "https://hooks.example.com/in/webhooks/standard-webhooks/SW",
                false,
            ),
            ("https://hooks.example.com/in/webhooks/github/sw", false),
            (
                "http://hooks.example.com/in/webhooks/standard-webhooks/sw",
                false,
            ),
            (
                "https://hooks.example.com:8443/in/webhooks/standard-webhooks/sw",
                false,
            ),
            (
                "https://other.example.com/in/webhooks/standard-webhooks/sw",
                false,
            ),
            (
                "https://hooks.example.com/webhooks/standard-webhooks/sw",
                false,
            ),
            (
                "https://hooks.example.com/in/webhooks/standard-webhooks/sw/x",
                false,
            ),
            // Segments percent-encoded, as the router decodes them.
            (
                "https://hooks.example.com/in/webhooks/standard%2Dwebhooks/%73w",
                true,
            ),
            (
                "https://hooks.example.com/in/webhooks/standard-webhooks/s%77%32",
                false,
            ),
            // The router takes no trailing `/`: such a forward ends dead, it does not loop.
            (
                "https://hooks.example.com/in/webhooks/standard-webhooks/sw/",
                false,
            ),
            ("not a url", false),
        ];
        for (url, reaches) in cases {
            assert_eq!(reaches_receiver(url, base, &hook), reaches, "{url}");
        }
    }
}
