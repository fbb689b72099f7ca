//! Checks a command's given fields before it is saved: applies them to the row, then refuses
//! (or warns about) what could not run as written: a spaced trigger, new conditions or targets
//! past their limits, a target this server would not reach.

use serde_json::{Value, json};

use super::CommandIn;
use super::targets::{keep_signing, restore_masked};
use crate::app::AppState;
use crate::engine::command;
use crate::providers::{MASK, Provider};
use crate::service::ServiceError;
use crate::service::sealing::Sealer;
use crate::store::commands::CommandRow;

/// A target URL given as Open WebUI's host-less channel path (its "Copy URL"), made whole on
/// OPENWEBUI_URL where it is given, so that the command stores, checks and sends the whole
/// URL (see [`crate::actions::openwebui_path_made_whole`]): what to warn of it, if so.
pub(super) fn whole_target_url(
    state: &AppState,
    input: &mut CommandIn,
) -> Result<Option<String>, ServiceError> {
    let base = crate::config::AgentSettings::given(&state.config.agents.openwebui_url);
    let (url, field) = match input.target.as_mut() {
        Some(Value::String(url)) => (url, "target"),
        Some(Value::Object(fields)) => match fields.get_mut("url") {
            Some(Value::String(url)) => (url, "target.url"),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    match crate::actions::openwebui_path_made_whole(url, base) {
        Ok(None) => Ok(None),
        Ok(Some(whole)) => {
            let said = crate::actions::made_whole_warning(field, &whole);
            *url = whole;
            Ok(Some(said))
        }
        Err(refused) => Err(ServiceError::invalid(field, refused)),
    }
}

/// Applies the optional fields of `input` to `row`; the caller checks that it compiles.
pub(super) fn apply(row: &mut CommandRow, input: CommandIn) -> Result<(), ServiceError> {
    if let Some(agent) = input.agent {
        row.agent = Some(agent.trim().to_string()).filter(|a| !a.is_empty());
    }
    // An empty value removes it (as `""` does for `agent` and `{}` for `conditions`); `null`
    // keeps the stored one, since models calling a tool often send every optional field as
    // null.
    if let Some(template) = input.template {
        row.template = Some(template).filter(|t| !t.trim().is_empty());
    }
    // As a template: empty removes it, null keeps it.
    if let Some(schedule) = input.schedule {
        row.schedule = Some(schedule.trim().to_string()).filter(|s| !s.is_empty());
    }
    if let Some(timezone) = input.timezone {
        row.timezone = Some(timezone.trim().to_string()).filter(|t| !t.is_empty());
    }
    if let Some(conditions) = input.conditions {
        row.conditions = conditions.to_string();
    }
    if let Some(mut target) = input.target {
        for field in ["secret", "url"] {
            if target
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(crate::service::sealing::looks_sealed)
            {
                return Err(ServiceError::invalid(
                    &format!("target.{field}"),
                    "a value starting with `enc:v1:` would be taken for an encrypted one (the \
                     form sealed secrets are stored in); give the plain value",
                ));
            }
        }
        super::headers::refuse_sealed_given(&mut target)?;
        restore_masked(&mut target, row.target.as_deref(), &row.action)?;
        if row.action.trim() == "forward" {
            keep_signing(&mut target, row.target.as_deref())?;
            let stored = row
                .target
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok());
            super::headers::keep(&mut target, stored.as_ref())?;
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
    // In NFC, as the engine compares it: `order.créé` with its accents written either way is
    // one trigger, listed and compared as one.
    row.trigger = crate::nfc::nfc(row.trigger.trim()).into_owned();
    Ok(())
}

/// A trigger given anew holds nothing unseen: `order.paid` with a zero-width space after it
/// lists as `order.paid` and matches no event of that type, and a direction mark makes one
/// trigger read as another. Not refused where a stored command is compiled, so one saved by an
/// older build keeps running.
pub(super) fn check_unseen(trigger: &str) -> Result<(), ServiceError> {
    match trigger.chars().find(|&c| crate::invisible::misleading(c)) {
        None => Ok(()),
        Some(c) => Err(ServiceError::invalid(
            "trigger",
            format!(
                "the trigger holds U+{:04X}, an invisible or text-direction character, so it \
                 would look like a trigger it is not and match no event type a sender writes: \
                 type it again without it",
                c as u32
            ),
        )),
    }
}

/// Only a custom sender's event types hold spaces (a header such as `Issue Hook`), and GitHub's
/// `repository_dispatch` actions (the `event_type` its sender chose: `run tests`); in any
/// other trigger a space is a typo (`issues opened`) or a label copied from the sender's
/// settings (GitLab's `Note Hook`) that would never fire.
pub(super) fn check_spaces(provider: &str, trigger: &str) -> Result<(), ServiceError> {
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

/// A trigger is one event type or pattern, and no provider's event types hold a comma, so a
/// trigger that lists several joined by commas (`message.created,file.uploaded`, as a
/// sender's own settings list events, Open WebUI's `WEBHOOK_EVENTS` among them) would be saved
/// and never fire. Not on a custom webhook, whose event types are its sender's to choose (it
/// gets a warning instead), nor on GitHub's `repository_dispatch` actions.
pub(super) fn check_commas(provider: &str, trigger: &str) -> Result<(), ServiceError> {
    let trigger_text = trigger.trim();
    let chosen_by_sender = provider == "github" && trigger_text.starts_with("repository_dispatch.");
    if provider == "custom"
        || chosen_by_sender
        || !trigger_text.contains(',')
        || crate::engine::trigger::Trigger::parse(trigger).is_err()
    {
        return Ok(());
    }
    Err(ServiceError::invalid(
        "trigger",
        comma_list_message(provider, trigger_text),
    ))
}

/// What to write instead of a trigger that lists event types joined by commas: on a custom
/// webhook, whose sender names its own types, it fires only on a type holding those very
/// commas; on another it never fires.
pub(super) fn comma_list_message(provider: &str, trigger: &str) -> String {
    let listed = trigger
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| format!("`{}`", crate::quote::quoted(t)))
        .collect::<Vec<_>>()
        .join(", ");
    let fires = if provider == "custom" {
        "so it fires only on an event whose type is this very text, commas and all".to_string()
    } else {
        format!("and `{provider}` event types hold no comma, so it would never fire")
    };
    format!(
        "`{}` lists several event types joined by commas, but a trigger is one event type or \
         pattern, {fires}: add one command for each of {listed}, or use one pattern that \
         matches them all (`issues.*`, `*.created`, or `*` with conditions)",
        crate::quote::quoted(trigger)
    )
}

/// A `post_message` target with no `kind` on `TELEGRAM_API_URL`'s host (a local Bot API
/// server, say) is saved as `telegram`: the command is planned without the configuration,
/// where the URL alone would be taken as Open WebUI's.
pub(super) fn name_telegram_kind(state: &AppState, row: &mut CommandRow) {
    if !command::posts_to_channel(&row.action) {
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
pub(super) fn check_new_conditions(row: &CommandRow) -> Result<(), ServiceError> {
    command::check_new_conditions_size(&row.conditions)
        .map_err(|e| ServiceError::invalid(&e.field, e.message))?;
    let conditions: Value = serde_json::from_str(&row.conditions).unwrap_or(Value::Null);
    crate::engine::conditions::check_new(&conditions)
        .map_err(|e| ServiceError::invalid(&e.path, e.message))
}

/// See [`template::check_names`](crate::engine::template::check_names): a template given
/// anew names no filter, test or function that does not exist. Runs after `apply`, so the
/// row has compiled.
pub(super) fn check_new_template(row: &CommandRow) -> Result<(), ServiceError> {
    match &row.template {
        Some(source) => crate::engine::template::check_names(source)
            .map_err(|m| ServiceError::invalid("template", m)),
        None => Ok(()),
    }
}

/// See [`command::unused_agent`]: an agent the action does not run is left out, and said.
/// An action that is no action is left to the compile that follows to refuse.
pub(super) fn drop_unused_agent(row: &mut CommandRow) -> Option<String> {
    let action = row.action.parse().ok()?;
    let said = command::unused_agent(action, row.agent.as_deref())?;
    row.agent = None;
    Some(said)
}

/// Whether `stored` does just what `given` (a command about to be added or updated, its
/// target plain) would: every field that changes what it does is the same. Conditions and
/// targets compare as JSON (key order aside), a stored target's sealed URL and secret opened
/// first.
pub(super) fn same_command(sealer: &Sealer, stored: &CommandRow, given: &CommandRow) -> bool {
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
        super::headers::open(sealer, &mut t)?;
        Some(t)
    };
    stored.trigger == given.trigger
        && stored.action == given.action
        && stored.agent == given.agent
        && stored.template == given.template
        && stored.priority == given.priority
        && stored.stop == given.stop
        && stored.enabled == given.enabled
        && stored.schedule == given.schedule
        && stored.timezone == given.timezone
        && conditions(&stored.conditions) == conditions(&given.conditions)
        && stored.target.is_some() == given.target.is_some()
        && target(stored.target.as_deref()) == target(given.target.as_deref())
}

/// See [`command::check_new_target`]. Runs after `apply`, so the row has compiled.
pub(super) fn check_new_target(row: &CommandRow) -> Result<(), ServiceError> {
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
pub(super) async fn check_reachable(
    state: &AppState,
    row: &CommandRow,
    deadline: tokio::time::Instant,
) -> Result<Vec<String>, ServiceError> {
    let given = row
        .target
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok());
    if let Some(given) = &given {
        super::headers::masked_left(given)?;
    }
    let secret = given.and_then(|t| t.get("secret").and_then(Value::as_str).map(str::to_string));
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
    if let Some(secret) = secret.filter(|s| !crate::service::sealing::looks_sealed(s)) {
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
    let unchecked = crate::service::sending::target_refusal(state, &url)
        .map_err(|refused| ServiceError::invalid("target.url", refused))?;
    match unchecked {
        Some(why) => warnings.push(crate::service::sending::saved_target_warning(
            "target.url",
            &why,
        )),
        // A name is only warned about: DNS may answer otherwise when the action is sent.
        None => warnings.extend(
            crate::service::sending::address_warning(state, "target.url", &url, deadline).await,
        ),
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

pub(super) fn required(value: Option<String>, field: &str) -> Result<String, ServiceError> {
    value.ok_or_else(|| ServiceError::Missing(field.to_string()))
}
