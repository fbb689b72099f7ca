//! Webhook registry operations: create, list, get, update, enable/disable, rotate, delete.
//! Secrets leave this module only in the answer to create and rotate.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::commands::{self as command_ops, CommandIn, CommandOut, Prepared};
use super::{ServiceError, new_id};
use crate::app::AppState;
use crate::clock;
use crate::providers::{Provider, ProviderOptions};
use crate::store::webhooks::{self as rows, WebhookRow};

mod checks;
mod listing;
mod options;
mod presented;
mod rotation;
mod stored;

pub(super) use checks::check_shown_name;
use checks::{check_id, check_name, check_new_id, check_secret, short_secret_warning};
pub use listing::{WebhookPage, WebhookQuery, list, list_page};
use options::{
    check_base_urls, check_new_allowlist, check_options, merge_options, refuse_masks,
    refuse_unusable_credentials, settle_retired_options, tokens_given, trim_jira_email,
    trim_prefix,
};
use presented::present;
pub use presented::{receiver_url, sender_uses_token};
pub use rotation::rotate_secret;
use stored::sealed;
pub use stored::unopenable;
pub(super) use stored::{opened, sealed_options};

/// A new webhook as asked for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookIn {
    /// URL-safe id (letters, digits, `-`, `_`); generated when absent. `webhook_id` is taken
    /// for it too, as a whole webhook configuration names it.
    #[serde(alias = "webhook_id")]
    pub id: Option<String>,
    pub name: String,
    pub provider: String,
    /// The signing secret or token; generated when absent. Slack, Stripe, Sentry and Linear
    /// generate their own: paste theirs here.
    pub secret: Option<String>,
    pub enabled: Option<bool>,
    pub options: Option<Value>,
    /// The receiver path (`/webhooks/{provider}/{id}`, or a URL ending in it), as a whole
    /// configuration may carry it: it gives the id when none is, and must agree with it.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Commands made with the webhook, in one write: none of them, nor the webhook, is kept
    /// if any is refused.
    #[serde(default)]
    pub commands: Option<Vec<CommandIn>>,
}

/// Changes to a webhook; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub options: Option<Value>,
    /// Accepted only when unchanged: a webhook's provider fixes its URL and signing scheme.
    pub provider: Option<String>,
    /// Accepted only when unchanged.
    pub id: Option<String>,
    /// `id` as a whole configuration (the body of a create) names it: accepted only when it
    /// names this webhook.
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// The receiver path, as a whole configuration carries it: accepted only when it is this
    /// webhook's.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Accepted only when it is the webhook's secret now: rotate-secret changes it.
    #[serde(default)]
    pub secret: Option<String>,
    /// The webhook's commands, whole: those stored already (the very same command) are kept
    /// with their ids, the others given are added, and stored ones not given are removed, in
    /// the write that stores the rest of the change; none of it if any command is refused.
    #[serde(default)]
    pub commands: Option<Vec<CommandIn>>,
    /// The `updated_at` (unix ms) of the copy the change was made to: the change is refused
    /// if the webhook changed since. Given over REST, as a `GET` shows it.
    #[serde(skip)]
    pub edited_from: Option<i64>,
}

/// What an update over MCP with a `secret` (which it does not take) is told: an "unknown
/// field" alone reads as "the secret cannot be changed". (REST's takes the secret the webhook
/// has, as a whole configuration sent again carries it, and refuses another.)
pub fn secret_is_rotated(id: &str) -> String {
    let id = crate::quote::quoted(id);
    format!(
        "unknown field `secret`: an update does not change a webhook's secret; rotate_secret \
         `{id}` (POST /api/webhooks/{id}/rotate-secret) does, with the one given or a new one \
         generated, the old one still verifying for a grace period"
    )
}

/// What an update given a secret other than the webhook's is told: the secret changes by a
/// rotation alone, which keeps the old one verifying while the sender is changed.
fn secret_changes_by_rotation(id: &str) -> String {
    let id = crate::quote::quoted(id);
    format!(
        "`secret` is not the webhook's secret, and an update does not change it (it is taken \
         only as it is now, as a whole configuration sent again carries it): rotate_secret \
         `{id}` (POST /api/webhooks/{id}/rotate-secret) does, taking {{\"secret\": \"...\"}} \
         (or generating one), the old one still verifying for a grace period; give the \
         webhook's secret or leave `secret` out"
    )
}

/// A rotation: a new secret (given or generated) and how long the old one keeps working.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateIn {
    pub secret: Option<String>,
    /// Seconds the previous secret still verifies; 0 ends it at once.
    #[serde(default, deserialize_with = "crate::providers::whole_number")]
    pub grace_period_secs: Option<i64>,
}

/// A webhook as shown to users and agents.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookOut {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub enabled: bool,
    /// Where the sender must POST.
    pub url: String,
    /// The secret in full: only in the answer to create and rotate-secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// For senders that cannot sign (Open WebUI, token-mode custom): the URL with its token.
    /// Only in the answer to create and rotate-secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_with_token: Option<String>,
    /// The last four characters of the secret, to tell secrets apart (`…` alone for secrets
    /// under 16 characters).
    pub secret_hint: String,
    /// While a rotation's grace period runs: when the previous secret stops verifying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
    pub options: Value,
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commands: Option<i64>,
    /// The secret is a placeholder until the sender's own is set with rotate-secret: every
    /// delivery the sender signs is refused meanwhile.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret_placeholder: bool,
    /// What the change did that the caller may not have meant.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The commands a create made with the webhook, each with its own warnings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added_commands: Vec<CommandOut>,
    /// The ids of the commands an update given `commands` removed: stored, and not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_commands: Option<Vec<String>>,
    /// How many of the commands an update was given were stored already, and kept as they
    /// were (their ids too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_commands: Option<usize>,
}

/// Creates a webhook; `created_by` names the caller (its API key's name, or `stdio`), never
/// what the request claims.
pub async fn create(
    state: &AppState,
    input: WebhookIn,
    created_by: Option<String>,
) -> Result<WebhookOut, ServiceError> {
    let provider = provider_named(&input.provider)?;
    let given = match &input.endpoint {
        Some(endpoint) => Some(endpoint_id(
            endpoint,
            &[&input.provider, provider.as_str()],
            input.id.as_deref(),
        )?),
        None => input.id.clone(),
    };
    let id = match given {
        Some(id) if input.id.is_none() => check_new_id(&id).map_err(|e| match e {
            ServiceError::Invalid { message, .. } => ServiceError::invalid("endpoint", message),
            other => other,
        })?,
        Some(id) => check_new_id(&id)?,
        None => new_id("wh"),
    };
    let name = check_name(&input.name)?;
    refuse_unusable_credentials(input.options.as_ref())?;
    check_new_allowlist(input.options.as_ref())?;
    let mut options = check_options(provider, input.options)?;
    let prefix_trimmed = trim_prefix(&mut options);
    trim_jira_email(&mut options);
    // The alias names the sender when it, unlike its provider's others, makes the secret:
    // kept, so a later rotation asks for that secret instead of generating one.
    if let Some(alias) = Provider::secret_issuing_alias(&input.provider) {
        options.sender = Some(alias.to_string());
    }
    refuse_masks(&options)?;
    let unchecked = check_base_urls(state, &options, &Default::default(), &[])?;
    let placeholder = input
        .secret
        .is_none()
        .then(|| Provider::own_secret_issuer(&input.provider))
        .flatten();
    let short = input.secret.as_deref().and_then(short_secret_warning);
    let secret = match input.secret {
        Some(s) => check_secret(provider, &s)?,
        None => provider.generate_secret(),
    };
    let now = clock::now_ms();
    let row = WebhookRow {
        id: id.clone(),
        name,
        provider: provider.as_str().to_string(),
        secret,
        previous_secret: None,
        previous_expires_at: None,
        enabled: input.enabled.unwrap_or(true),
        options: serde_json::to_string(&options).expect("options serialise"),
        created_by: created_by
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        created_at: now,
        updated_at: now,
        secret_placeholder: placeholder.is_some(),
    };
    let commands = prepare_commands(state, &row, input.commands.unwrap_or_default()).await?;
    let stored = sealed(state, &row);
    let stored_commands: Vec<_> = commands.iter().map(|c| c.stored.clone()).collect();
    let namesakes = state
        .store
        .write(move |db| {
            rows::insert(db, &stored)?;
            for command in &stored_commands {
                crate::store::commands::insert(db, command)?;
            }
            rows::namesakes(db, &stored.name, &stored.provider, &stored.id)
        })
        .await
        .map_err(|e| match e {
            // Most often the webhook of an earlier create whose answer was lost (cancelled,
            // timed out): a model that only hears "choose another id" makes a second one.
            crate::store::StoreError::Conflict => ServiceError::ConflictOn {
                field: "id",
                message: format!(
                    "a webhook with id `{id}` already exists; choose another id or omit it. If \
                     it is the one an earlier create made (one whose answer you did not see), \
                     look at it with get_webhook `{id}` (GET /api/webhooks/{id}), and if you \
                     never saw its secret, give it a new one with rotate_secret \
                     (POST /api/webhooks/{id}/rotate-secret)"
                ),
            },
            other => other.into(),
        })?;
    // One deleted by another process may still be remembered here, its secret and provider
    // with it: this one's deliveries would be refused by them for the cache's time.
    state.hooks.invalidate(&row.id);
    let mut out = present(state, &row, None, true);
    out.warnings.extend(namesakes.and_then(namesake_warning));
    // Stripe shows its secret only once the endpoint exists, so the URL may come first; but
    // until the sender's own secret is set, every delivery is refused (`present` says so).
    out.warnings.extend(prefix_trimmed);
    out.warnings.extend(unchecked);
    out.warnings.extend(short);
    out.commands = Some(commands.len() as i64);
    for command in commands {
        let added = command_ops::added_out(state, &row, &command.row, command.unchecked).await;
        out.added_commands.push(added);
    }
    Ok(out)
}

/// The commands a create makes with its webhook, each checked as `add_command` checks one;
/// a refusal names the command by its place in the list.
async fn prepare_commands(
    state: &AppState,
    hook: &WebhookRow,
    given: Vec<CommandIn>,
) -> Result<Vec<Prepared>, ServiceError> {
    if given.len() > command_ops::MAX_COMMANDS {
        return Err(ServiceError::invalid(
            "commands",
            format!(
                "{} commands given; a webhook holds at most {}",
                given.len(),
                command_ops::MAX_COMMANDS
            ),
        ));
    }
    // Slack's channels are listed once for all the commands' `#names`, not once each.
    let named = given
        .iter()
        .filter_map(|c| Some((c.trigger.as_deref()?, c.conditions.as_ref()?)));
    let channels = super::slack_channels::look_up_together(state, hook, named).await;
    let mut prepared: Vec<Prepared> = Vec::with_capacity(given.len());
    for (at, input) in given.into_iter().enumerate() {
        let command = command_ops::prepare(state, hook, input, channels.as_ref())
            .await
            .map_err(|e| in_command(e, at))?;
        if let Some(same) = prepared
            .iter()
            .position(|p| command_ops::same_as(state, p, &command))
        {
            return Err(ServiceError::invalid(
                &format!("commands[{at}]"),
                format!(
                    "commands[{at}] is the very command commands[{same}] is: both would run on \
                     every event they match, posting each reply twice; give it once"
                ),
            ));
        }
        prepared.push(command);
    }
    Ok(prepared)
}

/// The id a whole configuration names its webhook by: its `id` (`webhook_id`), or the one its
/// `endpoint` gives; `None` when it gives neither.
pub fn named_id(input: &WebhookIn) -> Result<Option<String>, ServiceError> {
    match &input.endpoint {
        Some(endpoint) => {
            let provider = provider_named(&input.provider)?;
            endpoint_id(
                endpoint,
                &[&input.provider, provider.as_str()],
                input.id.as_deref(),
            )
            .map(Some)
        }
        None => Ok(input.id.clone()),
    }
}

/// A refusal of one of a create's commands, naming which.
fn in_command(refused: ServiceError, at: usize) -> ServiceError {
    match refused {
        ServiceError::Invalid { field, message } => ServiceError::Invalid {
            field: Some(match field {
                Some(field) => format!("commands[{at}].{field}"),
                None => format!("commands[{at}]"),
            }),
            message: format!("commands[{at}]: {message}"),
        },
        ServiceError::Missing(field) => ServiceError::Missing(format!("commands[{at}].{field}")),
        other => other,
    }
}

/// The id an `endpoint` names: it must be this webhook's receiver path,
/// `/webhooks/{provider}/{id}` (or a URL ending in it, as the `url` of an answer is, under
/// `PUBLIC_BASE_URL`'s own path if it has one), and agree with the id given. One with a query
/// is refused: a `?token=` there is the webhook's secret, which goes in `secret`.
fn endpoint_id(
    endpoint: &str,
    providers: &[&str],
    id: Option<&str>,
) -> Result<String, ServiceError> {
    let shown = crate::actions::mask_url_credentials(endpoint);
    if endpoint.contains(['?', '#']) {
        return Err(ServiceError::invalid(
            "endpoint",
            format!(
                "endpoint `{}` carries a query: it is the receiver path alone; a token the \
                 sender sends in `?token=` is the webhook's secret: give it as `secret`",
                crate::quote::quoted(&shown)
            ),
        ));
    }
    let path = match endpoint.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |at| &rest[at..]),
        None => endpoint,
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let named = match segments.as_slice() {
        [.., "webhooks", provider, named]
            if providers.iter().any(|p| p.eq_ignore_ascii_case(provider)) =>
        {
            Some(*named)
        }
        _ => None,
    };
    let expected = format!(
        "/webhooks/{}/{}",
        providers.first().copied().unwrap_or_default(),
        id.unwrap_or("{id}")
    );
    match (named, id) {
        (Some(named), None) => Ok(named.to_string()),
        (Some(named), Some(id)) if named == id => Ok(id.to_string()),
        _ => Err(ServiceError::invalid(
            "endpoint",
            format!(
                "endpoint `{}` is not this webhook's receiver path, {expected}: the server takes \
                 its deliveries there (the `url` in the answer); give that path or omit endpoint",
                crate::quote::quoted(&shown)
            ),
        )),
    }
}

/// The warning of a webhook created without the secret its sender (`openai`, `stripe`, …)
/// issues itself.
pub(crate) fn placeholder_warning(sender: &str) -> String {
    format!(
        "{sender} issues its own signing secret, so the generated one is only a placeholder and \
         {sender}'s deliveries will be refused: once {sender} shows its secret, set it with \
         rotate_secret (MCP; POST /api/webhooks/{{id}}/rotate-secret over REST) giving \
         {{\"secret\": \"...\", \"grace_period_secs\": 0}}"
    )
}

/// A second webhook of the same provider and name is most often a create sent twice (a
/// model calling again when an answer was slow): both would take deliveries, with different
/// secrets, so the answer says so rather than leaving two to be found later.
/// The warning for a webhook made with the name and provider of `count` others, `first` the
/// oldest of them.
fn namesake_warning((first, count): (String, usize)) -> Option<String> {
    let more = match count {
        0 => return None,
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    Some(format!(
        "webhook `{first}`{more} has the same name and provider; if this create was sent again \
         by mistake, delete one of them (delete_webhook, DELETE /api/webhooks/{{id}}) and \
         configure the sender with the one kept; to tell them apart, give this one another name \
         (update_webhook)"
    ))
}

/// The provider a filter names, or why it names none.
pub(crate) fn provider_named(name: &str) -> Result<Provider, ServiceError> {
    name.parse::<Provider>().map_err(|()| {
        ServiceError::invalid(
            "provider",
            format!(
                "unknown provider `{}`; use one of {}",
                super::quoted(name),
                Provider::names()
            ),
        )
    })
}

pub async fn get(state: &AppState, id: &str) -> Result<WebhookOut, ServiceError> {
    let row = load(state, id).await?;
    let count = command_count(state, &row.id).await?;
    Ok(present(state, &row, Some(count), false))
}

/// How many commands the webhook has: every answer about a webhook says it, a change's as a
/// look's, so a client refreshing its copy from either keeps it.
pub(super) async fn command_count(state: &AppState, id: &str) -> Result<i64, ServiceError> {
    let id = id.to_string();
    Ok(state
        .store
        .read(move |db| crate::store::commands::count(db, &id))
        .await?)
}

/// Loads the stored row (secrets included, opened) for internal use.
pub async fn load(state: &AppState, id: &str) -> Result<WebhookRow, ServiceError> {
    let key = id.to_string();
    let row = state
        .store
        .read(move |db| rows::get(db, &key))
        .await?
        .ok_or_else(|| not_found(id))?;
    opened(state, row)
}

pub async fn update(
    state: &AppState,
    id: &str,
    patch: WebhookPatch,
) -> Result<WebhookOut, ServiceError> {
    let Some(given) = patch.commands.clone() else {
        let (row, (unchecked, _)) = change(state, id, move |state, row, _| {
            Ok((patched(state, row, patch.clone())?, Replaced::default()))
        })
        .await?;
        // Read after the change is stored: a failed read leaves the count out, not the answer.
        let count = command_count(state, &row.id).await.ok();
        let mut out = present(state, &row, count, false);
        out.warnings.extend(unchecked);
        return Ok(out);
    };
    // The commands are checked (addresses looked up, Slack channels listed) before the write,
    // against the webhook as the change would leave it; the change itself is checked first,
    // so that a refusal of it is not held up by those look-ups.
    let mut changed = load(state, id).await?;
    patched(state, &mut changed, patch.clone())?;
    let prepared = prepare_commands(state, &changed, given).await?;
    let sealer = std::sync::Arc::clone(&state.sealer);
    let (row, (unchecked, replaced)) = change(state, id, move |state, row, db| {
        let unchecked = patched(state, row, patch.clone())?;
        let stored = crate::store::commands::list(db, &row.id)?;
        Ok((unchecked, replaced(&sealer, &stored, &prepared)))
    })
    .await?;
    let mut out = present(state, &row, Some(replaced.count as i64), false);
    out.warnings.extend(unchecked);
    out.kept_commands = Some(replaced.kept);
    out.removed_commands = Some(replaced.removed);
    for (command, unchecked) in replaced.added {
        let added = command_ops::added_out(state, &row, &command, unchecked).await;
        out.added_commands.push(added);
    }
    Ok(out)
}

/// What an update given `commands` does to the stored ones, found on the writer.
#[derive(Default)]
struct Replaced {
    /// Those to add: as given (target plain), as stored (target sealed), and what their
    /// checks could not check.
    added: Vec<(crate::store::commands::CommandRow, Vec<String>)>,
    stored_added: Vec<crate::store::commands::CommandRow>,
    /// The ids of those to remove.
    removed: Vec<String>,
    /// How many given were stored already.
    kept: usize,
    /// How many the webhook has after the change.
    count: usize,
}

impl Replaced {
    fn changes(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty()
    }
}

/// Matches each command given with a stored one that is the very same command (each stored
/// one matched once): those matched are kept, the other given ones added, the other stored
/// ones removed.
fn replaced(
    sealer: &crate::service::sealing::Sealer,
    stored: &[crate::store::commands::CommandRow],
    given: &[Prepared],
) -> Replaced {
    let mut matched = vec![false; stored.len()];
    let mut out = Replaced {
        count: given.len(),
        ..Replaced::default()
    };
    for command in given {
        let same = stored
            .iter()
            .enumerate()
            .position(|(at, s)| !matched[at] && command_ops::same_stored(sealer, s, command));
        match same {
            Some(at) => {
                matched[at] = true;
                out.kept += 1;
            }
            None => {
                out.added
                    .push((command.row.clone(), command.unchecked.clone()));
                out.stored_added.push(command.stored.clone());
            }
        }
    }
    out.removed = stored
        .iter()
        .zip(&matched)
        .filter(|(_, kept)| !**kept)
        .map(|(s, _)| s.id.clone())
        .collect();
    out
}

/// Applies `patch` to `row` (as stored now), checking it; the warnings for what it saves
/// unchecked.
fn patched(
    state: &AppState,
    row: &mut WebhookRow,
    patch: WebhookPatch,
) -> Result<Vec<String>, ServiceError> {
    if let Some(edited_from) = patch.edited_from
        && edited_from != row.updated_at
    {
        let what = format!("webhook `{}`", crate::quote::quoted(&row.id));
        return Err(ServiceError::stale(&what, edited_from, row.updated_at));
    }
    if let Some(p) = &patch.provider
        && provider_named(p)?.as_str() != row.provider
    {
        return Err(ServiceError::invalid(
            "provider",
            "a webhook's provider cannot change (it fixes the URL and signing scheme); \
             create a new webhook instead",
        ));
    }
    for (field, given) in [("id", &patch.id), ("webhook_id", &patch.webhook_id)] {
        if let Some(new_id) = given
            && new_id != &row.id
        {
            return Err(ServiceError::invalid(field, "a webhook's id cannot change"));
        }
    }
    if let Some(endpoint) = &patch.endpoint {
        let provider = provider_named(&row.provider)?;
        let named: Vec<&str> = patch
            .provider
            .iter()
            .map(String::as_str)
            .chain([provider.as_str()])
            .collect();
        endpoint_id(endpoint, &named, Some(&row.id))?;
    }
    if let Some(secret) = &patch.secret
        && !crate::providers::ct_eq(secret.as_bytes(), row.secret.as_bytes())
    {
        return Err(ServiceError::invalid(
            "secret",
            secret_changes_by_rotation(&row.id),
        ));
    }
    // Saying "updated" when nothing was would hide a change the caller meant to make. An
    // empty `options` object changes nothing either: options are merged, one by one.
    let no_options = patch
        .options
        .as_ref()
        .is_none_or(|o| o.as_object().is_some_and(serde_json::Map::is_empty));
    if patch.name.is_none() && patch.enabled.is_none() && no_options && patch.commands.is_none() {
        return Err(ServiceError::Invalid {
            field: None,
            message: format!(
                "nothing to change on webhook `{}`: give `name` (1-200 characters), `enabled`, \
                 `options` with an option in it, or `commands` (over REST); null (over MCP, a \
                 blank value too) counts as left out",
                crate::quote::quoted(&row.id)
            ),
        });
    }
    if let Some(name) = &patch.name {
        row.name = check_name(name)?;
    }
    if let Some(enabled) = patch.enabled {
        row.enabled = enabled;
    }
    let mut unchecked = Vec::new();
    if let Some(options) = patch.options {
        let provider = provider_named(&row.provider)?;
        // Merged into the stored options: changing the rate limit must not drop the
        // credentials, which the caller cannot even read back.
        refuse_unusable_credentials(Some(&options))?;
        check_new_allowlist(Some(&options))?;
        let regiven = tokens_given(&options);
        let options = match options {
            Value::Object(_) => {
                let mut stored: Value = serde_json::from_str(&row.options).unwrap_or(Value::Null);
                settle_retired_options(provider, &mut stored, &options);
                merge_options(&mut stored, options);
                stored
            }
            other => other,
        };
        let mut options = check_options(provider, Some(options))?;
        // Masked credentials sent back unchanged keep their stored values.
        let old = serde_json::from_str::<ProviderOptions>(&row.options)
            .ok()
            .and_then(|o| o.credentials)
            .unwrap_or_default();
        if let Some(creds) = options.credentials.as_mut() {
            creds.unmask_from(&old);
        }
        refuse_masks(&options)?;
        unchecked.extend(trim_prefix(&mut options));
        trim_jira_email(&mut options);
        unchecked.extend(check_base_urls(state, &options, &old, &regiven)?);
        row.options = serde_json::to_string(&options).expect("options serialise");
    }
    Ok(unchecked)
}

pub async fn set_enabled(
    state: &AppState,
    id: &str,
    enabled: bool,
) -> Result<WebhookOut, ServiceError> {
    let (row, _) = change(state, id, move |_, row, _| {
        row.enabled = enabled;
        Ok(((), Replaced::default()))
    })
    .await?;
    let count = command_count(state, &row.id).await.ok();
    Ok(present(state, &row, count, false))
}

pub async fn delete(state: &AppState, id: &str) -> Result<(), ServiceError> {
    let key = id.to_string();
    let now = clock::now_ms();
    let deleted = state
        .store
        .write(move |db| rows::delete(db, &key, now))
        .await?;
    state.hooks.invalidate(id);
    state.rejected.forget(id);
    // A webhook made again at this id starts afresh, its rate limit too.
    state.limits.forget(id);
    if deleted { Ok(()) } else { Err(not_found(id)) }
}

/// Applies `change` to the webhook as stored when the writer runs it, and stores the result,
/// in one write: no other write comes between the read and the write, so none is lost (a
/// rename read before a rotation and written after it would bring the old secret back).
/// `change` gets the row with its secrets opened and checks what it makes of it; an error
/// leaves the row as it was. It runs on the writer thread, so it must be quick; and it runs
/// again when its batch is run again after a rollback (a secret it generates then is another
/// one), so the answer is made from the row it returns, which is the one stored. It may read
/// the database (never write it): the commands it says to add and remove are stored in the
/// same write as the row.
async fn change<T, F>(
    state: &AppState,
    id: &str,
    change: F,
) -> Result<(WebhookRow, (T, Replaced)), ServiceError>
where
    T: Send + 'static,
    F: Fn(&AppState, &mut WebhookRow, &rusqlite::Connection) -> Result<(T, Replaced), ServiceError>
        + Send
        + 'static,
{
    let writing = state.clone();
    let key = id.to_string();
    let outcome = state
        .store
        .write(move |db| {
            let Some(stored) = rows::get(db, &key)? else {
                return Ok(Err(not_found(&key)));
            };
            let reseal = stored::sealing_due(&writing, &stored);
            let mut row = match opened(&writing, stored) {
                Ok(row) => row,
                Err(e) => return Ok(Err(e)),
            };
            let before = row.clone();
            let made = match change(&writing, &mut row, db) {
                Ok(made) => made,
                Err(ServiceError::Store(e)) => return Err(e),
                Err(e) => return Ok(Err(e)),
            };
            // A change to what is stored already (an update sending the name it has, or the
            // commands it has, an enable of an enabled webhook) keeps the row and its version:
            // a copy another editor read stays current, and its own change is not refused as
            // stale.
            if row == before && !reseal && !made.1.changes() {
                return Ok(Ok((row, made)));
            }
            // Later than the version it replaces, whatever the clock: a copy read between two
            // changes in one millisecond is still told from the second one.
            row.updated_at = clock::now_ms().max(row.updated_at + 1);
            rows::update(db, &sealed(&writing, &row))?;
            for removed in &made.1.removed {
                crate::store::commands::delete(db, &row.id, removed)?;
            }
            for added in &made.1.stored_added {
                crate::store::commands::insert(db, added)?;
            }
            Ok(Ok((row, made)))
        })
        .await?;
    state.hooks.invalidate(id);
    outcome
}

pub(super) fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound {
        what: "webhook",
        id: id.to_string(),
    }
}
