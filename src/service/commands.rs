//! Command operations: add, list, update, remove. Each command is checked by the engine when
//! it is saved, so the receiver only ever meets commands that can run.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ServiceError, new_id, webhooks};
use crate::app::AppState;
use crate::clock;
use crate::engine::command::{self, CommandSpec, CompiledCommand};
use crate::store::StoreError;
use crate::store::commands::{self as rows, CommandRow};
use crate::store::webhooks::WebhookRow;

mod checks;
mod headers;
mod targets;
mod warnings;

use checks::{
    apply, check_commas, check_new_conditions, check_new_target, check_new_template,
    check_reachable, check_spaces, check_unseen, drop_unused_agent, name_telegram_kind, required,
    same_command, whole_target_url,
};
use targets::{open_target, sealed_target, shown_alike, shown_target, switches_url_rule};
pub(super) use targets::{opened_rows, sealed_target_json};
use warnings::presented_with_warnings;

/// A command as written: what to do with events matching `trigger` and `conditions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandIn {
    pub trigger: Option<String>,
    pub action: Option<String>,
    pub agent: Option<String>,
    pub template: Option<String>,
    pub conditions: Option<Value>,
    #[serde(default, deserialize_with = "url_or_target")]
    pub target: Option<Value>,
    #[serde(default, deserialize_with = "crate::providers::whole_number")]
    pub priority: Option<i64>,
    pub stop: Option<bool>,
    pub enabled: Option<bool>,
    /// For trigger `schedule`: a 5-field cron expression (`0 9 * * 1-5`).
    pub schedule: Option<String>,
    /// The IANA zone `schedule` is read in (`Europe/Berlin`); UTC when left out.
    pub timezone: Option<String>,
}

/// A target, or its URL alone as MCP's add_command takes it: `"https://…"` is
/// `{"url": "https://…"}`.
fn url_or_target<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.map(|target| match target {
        Value::String(url) => serde_json::json!({ "url": url }),
        other => other,
    }))
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
            schedule,
            timezone,
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
            && schedule.is_none()
            && timezone.is_none()
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
    /// When it fires, for trigger `schedule`: a 5-field cron expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The IANA zone the schedule is read in (`UTC` when none was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// A scheduled command's next tick (RFC 3339, UTC), while it is enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<String>,
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
    mut input: CommandIn,
    channels: Option<&super::slack_channels::Known>,
) -> Result<Prepared, ServiceError> {
    let made_whole = whole_target_url(state, &mut input)?;
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
        schedule: None,
        timezone: None,
    };
    apply(&mut row, input)?;
    // Before it is compiled: a name that is left out is not held to an agent name's form.
    let agent_left_out = drop_unused_agent(&mut row);
    compile(&row).map_err(|e| ServiceError::invalid(&e.field, e.message))?;
    check_unseen(&row.trigger)?;
    // Commas first: `a, b` is a list, which says more than its space does.
    check_commas(&hook.provider, &row.trigger)?;
    check_spaces(&hook.provider, &row.trigger)?;
    check_new_conditions(&row)?;
    check_new_template(&row)?;
    super::schedules::check_template(&hook.provider, &row)?;
    name_telegram_kind(state, &mut row);
    check_new_target(&row)?;
    let mut unchecked: Vec<String> = made_whole.into_iter().collect();
    unchecked.extend(check_reachable(state, &row, crate::actions::ssrf::lookup_deadline()).await?);
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

/// Whether a command given is the very command `stored` is.
pub(super) fn same_stored(
    sealer: &crate::service::sealing::Sealer,
    stored: &CommandRow,
    given: &Prepared,
) -> bool {
    same_command(sealer, stored, &given.row)
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
    let hook = webhooks::load(state, webhook_id).await?;
    let key = webhook_id.to_string();
    let rows = state.store.read(move |db| rows::list(db, &key)).await?;
    Ok(rows
        .into_iter()
        .map(|row| on_hook(&hook, shown(state, row)))
        .collect())
}

/// One command of the webhook, as its list shows it; one of another webhook is not found here.
pub async fn get(
    state: &AppState,
    webhook_id: &str,
    command_id: &str,
) -> Result<CommandOut, ServiceError> {
    let hook = webhooks::load(state, webhook_id).await?;
    let (key, id) = (webhook_id.to_string(), command_id.to_string());
    let row = state.store.read(move |db| rows::get(db, &key, &id)).await?;
    row.map(|row| on_hook(&hook, shown(state, row)))
        .ok_or_else(|| not_found(command_id))
}

/// A command as its webhook stands: a disabled webhook fires none of its scheduled commands,
/// so none has a next run.
pub(super) fn on_hook(
    hook: &crate::store::webhooks::WebhookRow,
    mut out: CommandOut,
) -> CommandOut {
    if !hook.enabled {
        out.next_run_at = None;
    }
    out
}

/// A stored command as listed: one whose target the key does not open shows the mask in place
/// of its URL, never its sealed form.
fn shown(state: &AppState, mut row: CommandRow) -> CommandOut {
    if let Err(e) = open_target(&state.sealer, &mut row) {
        tracing::error!(command = %row.id, error = %e, "cannot open a target URL");
    }
    present(&row)
}

/// Changes the given fields of a command; the result is checked as a whole. `edited_from`, the
/// `updated_at` (unix ms) of the copy the change was made to, refuses it if the command
/// changed since.
pub async fn update(
    state: &AppState,
    webhook_id: &str,
    command_id: &str,
    input: CommandIn,
    edited_from: Option<i64>,
) -> Result<CommandOut, ServiceError> {
    // Saying "updated" when nothing was would hide a change the caller meant to make (models
    // send every optional field as null, which keeps the stored value).
    if input.is_empty() {
        return Err(ServiceError::Invalid {
            field: None,
            message: format!(
                "nothing to change on command `{}`: give `trigger`, `action`, `agent`, \
                 `template`, `conditions`, `target`, `priority`, `stop`, `enabled`, \
                 `schedule` or `timezone`; null \
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
        if let Some(out) = update_once(
            state,
            webhook_id,
            command_id,
            input.clone(),
            edited_from,
            deadline,
        )
        .await?
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
    mut input: CommandIn,
    edited_from: Option<i64>,
    deadline: tokio::time::Instant,
) -> Result<Option<CommandOut>, ServiceError> {
    let made_whole = whole_target_url(state, &mut input)?;
    let (w, c) = (webhook_id.to_string(), command_id.to_string());
    let Some(mut row) = state.store.read(move |db| rows::get(db, &w, &c)).await? else {
        return Err(missing(state, webhook_id, command_id).await);
    };
    // The write below goes ahead only over this row, so the version checked is the one
    // changed.
    if let Some(edited_from) = edited_from
        && edited_from != row.updated_at
    {
        let what = format!("command `{}`", crate::quote::quoted(&row.id));
        return Err(ServiceError::stale(&what, edited_from, row.updated_at));
    }
    // As stored (sealed): the write goes ahead only over this very row.
    let read = row.clone();
    // Opened, so a target written back as shown keeps it and an unchanged one is seen as such.
    open_target(&state.sealer, &mut row).map_err(StoreError::Corrupt)?;
    let opened = row.clone();
    let hook = webhooks::load(state, webhook_id).await?;
    let (stored_target, stored_action) = (row.target.clone(), row.action.clone());
    if let Some(t) = input.trigger.clone() {
        check_unseen(&t)?;
        check_commas(&hook.provider, &t)?;
        check_spaces(&hook.provider, &t)?;
        // A scheduled command given an event trigger leaves its schedule behind, as a
        // forward turned into a comment leaves its target, unless one is given to refuse.
        if t.trim() != crate::engine::schedule::TRIGGER && input.schedule.is_none() {
            row.schedule = None;
            row.timezone = None;
        }
        row.trigger = t;
    }
    if let Some(a) = input.action.clone() {
        // A forward turned into a comment (say) leaves its target behind, unless a target
        // is given with the new action for it to refuse.
        if a != row.action
            && input.target.is_none()
            && !(a.trim() == "forward" || crate::engine::command::posts_to_channel(&a))
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
                        "a {} and a {} hide different parts of their URL{}: give the whole \
                         target URL again in the same call, as `target.url` — the full URL as \
                         the service issued it, not the masked one a listing shows",
                        row.action.trim(),
                        a.trim(),
                        // A forward's signing secret and headers are no channel's.
                        if crate::engine::command::posts_to_channel(&a) {
                            ", and a channel takes no `secret` or `headers`"
                        } else {
                            ""
                        }
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
    if row.template != read.template {
        check_new_template(&row)?;
    }
    if row.template != read.template
        || row.schedule != read.schedule
        || row.timezone != read.timezone
    {
        super::schedules::check_template(&hook.provider, &row)?;
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
    let mut unchecked: Vec<String> = made_whole.into_iter().collect();
    if row.target != stored_target {
        unchecked.extend(check_reachable(state, &row, deadline).await?);
    }
    unchecked.extend(agent_left_out);
    unchecked.extend(channels_said);
    // An update to what is stored already keeps the command and its version, as a webhook's
    // does: a copy another editor read stays current. (Unless a save would seal what is
    // stored plain.)
    let reseal = read
        .target
        .as_deref()
        .is_some_and(|t| sealed_target_json(&state.sealer, &read.action, t).is_some());
    if row == opened && !reseal {
        let mut out = presented_with_warnings(state, &hook, &row).await;
        out.warnings.extend(unchecked);
        return Ok(Some(out));
    }
    // Later than the version it replaces, whatever the clock (see `edited_from`).
    row.updated_at = clock::now_ms().max(row.updated_at + 1);
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

/// Why no command `command_id` is on webhook `webhook_id`: no such webhook, or no such
/// command there, as `get` answers; [`on_another_webhook`] says more where the webhook is an
/// argument of its own.
async fn missing(state: &AppState, webhook_id: &str, command_id: &str) -> ServiceError {
    match webhooks::load(state, webhook_id).await {
        Err(e) => e,
        Ok(_) => not_found(command_id),
    }
}

/// `refused`, or, for a command not found on `webhook_id` that is on another webhook (ids
/// swapped or copied from another webhook), the webhook_id to give. For the MCP tools, which
/// take webhook_id as an argument: told only "command not found", a model would make the
/// command again. REST's path names the resource, which is not found there, as `GET` says.
pub async fn on_another_webhook(
    state: &AppState,
    webhook_id: &str,
    command_id: &str,
    refused: ServiceError,
) -> ServiceError {
    if !matches!(
        refused,
        ServiceError::NotFound {
            what: "command",
            ..
        }
    ) {
        return refused;
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
        Ok(None) => refused,
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
    let no_conditions =
        conditions.is_null() || conditions.as_object().is_some_and(|o| o.is_empty());
    let (trigger, conditions, action) = command::check(&CommandSpec {
        trigger: &row.trigger,
        action: &row.action,
        agent: row.agent.as_deref(),
        template: row.template.as_deref(),
        conditions: &conditions,
        target: target.as_ref(),
    })?;
    let schedule = crate::engine::schedule::check_command(
        &row.trigger,
        action,
        no_conditions,
        row.schedule.as_deref(),
        row.timezone.as_deref(),
    )?;
    Ok(CompiledCommand {
        id: row.id.clone(),
        trigger,
        conditions,
        action,
        priority: row.priority,
        stop: row.stop,
        schedule,
    })
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
        schedule: row.schedule.clone(),
        timezone: row
            .schedule
            .as_ref()
            .map(|_| row.timezone.clone().unwrap_or_else(|| "UTC".into())),
        next_run_at: next_run_at(row),
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
        && before.schedule == after.schedule
        && before.timezone == after.timezone
}

/// An enabled scheduled command's next tick after now, as shown.
fn next_run_at(row: &CommandRow) -> Option<String> {
    let schedule = row.schedule.as_deref().filter(|_| row.enabled)?;
    let schedule =
        crate::engine::schedule::Schedule::parse(schedule, row.timezone.as_deref()).ok()?;
    schedule.next_after(clock::now_ms()).map(clock::rfc3339)
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
