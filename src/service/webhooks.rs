//! Webhook registry operations: create, list, get, update, enable/disable, rotate, delete.
//! Secrets leave this module only in the answer to create and rotate.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::commands::{self as command_ops, CommandIn, CommandOut, Prepared};
use super::{ServiceError, new_id, sealing};
use crate::app::AppState;
use crate::clock;
use crate::providers::{
    CustomOptions, Provider, ProviderOptions, ReplyCredentials, custom::CustomMode,
};
use crate::store::webhooks::{self as rows, WebhookRow};

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
}

/// What an update with a `secret` (which it does not take) is told, over both doors: an
/// "unknown field" alone reads as "the secret cannot be changed".
pub fn secret_is_rotated(id: &str) -> String {
    let id = crate::quote::quoted(id);
    format!(
        "unknown field `secret`: an update does not change a webhook's secret; rotate_secret \
         `{id}` (POST /api/webhooks/{id}/rotate-secret) does, with the one given or a new one \
         generated, the old one still verifying for a grace period"
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
}

const MAX_SECRET_LEN: usize = 512;

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
        Some(id) if input.id.is_none() => check_id(&id).map_err(|e| match e {
            ServiceError::Invalid { message, .. } => ServiceError::invalid("endpoint", message),
            other => other,
        })?,
        Some(id) => check_id(&id)?,
        None => new_id("wh"),
    };
    let name = check_name(&input.name)?;
    refuse_unusable_credentials(input.options.as_ref())?;
    check_new_allowlist(input.options.as_ref())?;
    let mut options = check_options(provider, input.options)?;
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
            crate::store::StoreError::Conflict => ServiceError::Conflict(format!(
                "a webhook with id `{id}` already exists; choose another id or omit it. If it \
                 is the one an earlier create made (one whose answer you did not see), look at \
                 it with get_webhook `{id}` (GET /api/webhooks/{id}), and if you never saw its \
                 secret, give it a new one with rotate_secret \
                 (POST /api/webhooks/{id}/rotate-secret)"
            )),
            other => other.into(),
        })?;
    // One deleted by another process may still be remembered here, its secret and provider
    // with it: this one's deliveries would be refused by them for the cache's time.
    state.hooks.invalidate(&row.id);
    let mut out = present(state, &row, None, true);
    out.warnings.extend(namesakes.and_then(namesake_warning));
    // Stripe shows its secret only once the endpoint exists, so the URL may come first; but
    // until the sender's own secret is set, every delivery is refused (`present` says so).
    out.warnings.extend(unchecked);
    out.warnings.extend(short);
    if !commands.is_empty() {
        out.commands = Some(commands.len() as i64);
    }
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

pub async fn list(state: &AppState) -> Result<Vec<WebhookOut>, ServiceError> {
    let rows = state.store.read(rows::list).await?;
    rows.into_iter()
        .map(|(row, count)| Ok(present(state, &opened(state, row)?, Some(count), false)))
        .collect()
}

/// Which webhooks to list and how many at once.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookQuery {
    /// Only this provider's webhooks.
    pub provider: Option<String>,
    /// 1-200; without it, every webhook at once.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of the registry, oldest first.
#[derive(Debug, Serialize)]
pub struct WebhookPage {
    pub webhooks: Vec<WebhookOut>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// The webhooks, only those of `provider` when one is named, a page at a time when a `limit`
/// is given.
pub async fn list_page(state: &AppState, query: WebhookQuery) -> Result<WebhookPage, ServiceError> {
    let provider = query.provider.as_deref().map(provider_named).transpose()?;
    // Without a limit, everything at once: what the list always answered.
    let limit = query
        .limit
        .map(|n| super::page_limit(Some(n)))
        .transpose()?;
    let after = query.cursor.map(|c| webhook_cursor(&c)).transpose()?;
    let found = state
        .store
        .read(move |db| {
            let after = after.as_ref().map(|(at, id)| (*at, id.as_str()));
            let take = limit.map_or(u32::MAX, |n| n + 1);
            rows::page(db, provider.map(|p| p.as_str()), after, take)
        })
        .await?;
    let mut webhooks = found
        .into_iter()
        .map(|(row, count)| {
            Ok((
                row.created_at,
                present(state, &opened(state, row)?, Some(count), false),
            ))
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    let next_cursor = match limit {
        Some(n) if webhooks.len() > n as usize => {
            webhooks.truncate(n as usize);
            webhooks.last().map(|(at, w)| format!("{at}.{}", w.id))
        }
        _ => None,
    };
    Ok(WebhookPage {
        webhooks: webhooks.into_iter().map(|(_, w)| w).collect(),
        next_cursor,
    })
}

/// The position a webhook page cursor names: the creation time and id of the last webhook of
/// the previous page, so a page goes on where that one ended even after it is deleted.
fn webhook_cursor(cursor: &str) -> Result<(i64, String), ServiceError> {
    cursor
        .split_once('.')
        .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, check_id(id).ok()?)))
        .ok_or_else(|| super::not_a_cursor(cursor))
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
    let id = row.id.clone();
    let count = state
        .store
        .read(move |db| Ok(crate::store::commands::list(db, &id)?.len() as i64))
        .await?;
    Ok(present(state, &row, Some(count), false))
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

/// Webhooks and queued actions whose stored secrets, tokens or credential URLs none of the
/// given keys opens, each with the reason:
/// checked at start, so a missing or wrong `WEBHOOK_MCP_SECRET_KEY` is said once and plainly
/// instead of failing every delivery and listing afterwards.
pub fn unopenable(
    conn: &rusqlite::Connection,
    keys: &super::rekey::Keys,
) -> Result<Vec<String>, crate::store::StoreError> {
    let mut found = Vec::new();
    for (row, _) in rows::list(conn)? {
        let secrets = std::iter::once(row.secret.as_str()).chain(row.previous_secret.as_deref());
        let mut why = secrets.map(|s| keys.open(s)).find_map(Result::err);
        if why.is_none()
            && let Ok(mut options) = serde_json::from_str::<ProviderOptions>(&row.options)
            && let Some(creds) = options.credentials.as_mut()
        {
            why = creds
                .secret_fields_mut()
                .into_iter()
                .filter_map(|field| field.as_deref())
                .map(|token| keys.open(token))
                .find_map(Result::err);
        }
        if why.is_none() {
            // Forward targets' signing secrets, and target URLs that are credentials, are
            // sealed with the same key.
            why = crate::store::commands::list(conn, &row.id)?
                .iter()
                .filter_map(|c| c.target.as_deref())
                .filter_map(|t| serde_json::from_str::<Value>(t).ok())
                .flat_map(|t| {
                    ["secret", "url"]
                        .map(|field| t.get(field).and_then(Value::as_str).map(str::to_string))
                })
                .flatten()
                .map(|value| keys.open(&value))
                .find_map(Result::err);
        }
        if let Some(why) = why {
            found.push(format!("webhook `{}` ({why})", row.id));
        }
    }
    // Queued actions hold their target URL and signing secret sealed too, and may outlive
    // the command (or have none: a message posted by hand, an agent's result): a start that
    // cannot open them would let each die when its turn came.
    let mut queued = conn.prepare(
        "SELECT id, delivery FROM outbox \
         WHERE status IN ('pending', 'retrying', 'sending') AND delivery LIKE '%enc:v1:%'",
    )?;
    let rows = queued.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (id, delivery) = row?;
        let Ok(mut delivery) = serde_json::from_str::<Value>(&delivery) else {
            continue;
        };
        let mut why = None;
        super::rekey::walk(&mut delivery, &mut |value| {
            if why.is_none() && super::sealing::looks_sealed(value) {
                why = keys.open(value).err();
            }
            None
        });
        if let Some(why) = why {
            found.push(format!("queued action `{id}` ({why})"));
        }
    }
    Ok(found)
}

/// The row as stored: secrets and credential tokens sealed when a key is configured.
fn sealed(state: &AppState, row: &WebhookRow) -> WebhookRow {
    let mut row = row.clone();
    if !state.sealer.is_on() {
        return row;
    }
    row.secret = state.sealer.seal(&row.secret);
    row.previous_secret = row.previous_secret.as_deref().map(|s| state.sealer.seal(s));
    if let Some(options) = sealed_options(&state.sealer, &row.options) {
        row.options = options;
    }
    row
}

/// A webhook's stored options with their plain reply credential tokens sealed, `None` when
/// none is plain (or there are none).
pub(super) fn sealed_options(sealer: &super::sealing::Sealer, stored: &str) -> Option<String> {
    let mut options = serde_json::from_str::<ProviderOptions>(stored).ok()?;
    let creds = options.credentials.as_mut()?;
    let plain = creds.secret_fields_mut().into_iter().any(|f| {
        f.as_deref()
            .is_some_and(|v| !super::sealing::looks_sealed(v))
    });
    if !plain {
        return None;
    }
    sealer.seal_credentials(creds);
    Some(serde_json::to_string(&options).expect("options serialise"))
}

/// The row as the service works with it: secrets opened.
pub(super) fn opened(state: &AppState, mut row: WebhookRow) -> Result<WebhookRow, ServiceError> {
    let open = |s: &str| {
        state
            .sealer
            .open(s)
            .map_err(|e| ServiceError::Store(crate::store::StoreError::Corrupt(e)))
    };
    row.secret = open(&row.secret)?;
    row.previous_secret = row.previous_secret.as_deref().map(open).transpose()?;
    if let Ok(mut options) = serde_json::from_str::<ProviderOptions>(&row.options)
        && let Some(creds) = options.credentials.as_mut()
    {
        state.sealer.open_credentials(creds);
        row.options = serde_json::to_string(&options).expect("options serialise");
    }
    Ok(row)
}

pub async fn update(
    state: &AppState,
    id: &str,
    patch: WebhookPatch,
) -> Result<WebhookOut, ServiceError> {
    let (row, unchecked) = change(state, id, move |state, row| {
        patched(state, row, patch.clone())
    })
    .await?;
    let mut out = present(state, &row, None, false);
    out.warnings.extend(unchecked);
    Ok(out)
}

/// Applies `patch` to `row` (as stored now), checking it; the warnings for what it saves
/// unchecked.
fn patched(
    state: &AppState,
    row: &mut WebhookRow,
    patch: WebhookPatch,
) -> Result<Vec<String>, ServiceError> {
    if let Some(p) = &patch.provider
        && provider_named(p)?.as_str() != row.provider
    {
        return Err(ServiceError::invalid(
            "provider",
            "a webhook's provider cannot change (it fixes the URL and signing scheme); \
             create a new webhook instead",
        ));
    }
    if let Some(new_id) = &patch.id
        && new_id != &row.id
    {
        return Err(ServiceError::invalid("id", "a webhook's id cannot change"));
    }
    // Saying "updated" when nothing was would hide a change the caller meant to make. An
    // empty `options` object changes nothing either: options are merged, one by one.
    let no_options = patch
        .options
        .as_ref()
        .is_none_or(|o| o.as_object().is_some_and(serde_json::Map::is_empty));
    if patch.name.is_none() && patch.enabled.is_none() && no_options {
        return Err(ServiceError::Invalid {
            field: None,
            message: format!(
                "nothing to change on webhook `{}`: give `name` (1-200 characters), `enabled` \
                 or `options` with an option in it; null (over MCP, a blank value too) counts \
                 as left out",
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
        unchecked = check_base_urls(state, &options, &old, &regiven)?;
        row.options = serde_json::to_string(&options).expect("options serialise");
    }
    Ok(unchecked)
}

pub async fn set_enabled(
    state: &AppState,
    id: &str,
    enabled: bool,
) -> Result<WebhookOut, ServiceError> {
    let (row, ()) = change(state, id, move |_, row| {
        row.enabled = enabled;
        Ok(())
    })
    .await?;
    Ok(present(state, &row, None, false))
}

/// Replaces the secret; the old one keeps verifying for the grace period.
pub async fn rotate_secret(
    state: &AppState,
    id: &str,
    input: RotateIn,
) -> Result<WebhookOut, ServiceError> {
    let short = input.secret.as_deref().and_then(short_secret_warning);
    // From the secret stored when the rotation is, not when it was asked for: a rotation
    // beside another keeps the other's secret as the previous one.
    let (row, cut_short) = change(state, id, move |state, row| {
        rotated(state, row, input.clone())
    })
    .await?;
    let mut out = present(state, &row, None, true);
    out.warnings.extend(cut_short);
    out.warnings.extend(short);
    Ok(out)
}

/// Puts the new secret in `row` (as stored now), the old one as its previous for the grace
/// period; the warning when that ends an earlier rotation's grace.
fn rotated(
    state: &AppState,
    row: &mut WebhookRow,
    input: RotateIn,
) -> Result<Option<String>, ServiceError> {
    let provider = provider_named(&row.provider)?;
    let grace_secs = input
        .grace_period_secs
        .unwrap_or(state.config.rotation_grace_secs);
    if !(0..=crate::config::MAX_ROTATION_GRACE_SECS).contains(&grace_secs) {
        return Err(ServiceError::invalid(
            "grace_period_secs",
            "grace period must be between 0 and 2592000 seconds (30 days)",
        ));
    }
    let secret = match (input.secret, secret_issuer(provider, &row.options)) {
        (Some(s), _) => check_secret(provider, &s)?,
        (None, Some(sender)) => {
            return Err(ServiceError::invalid(
                "secret",
                format!(
                    "{sender} issues its own signing secret: pass the one it shows as \
                     `secret` (a generated one would verify nothing {sender} sends)"
                ),
            ));
        }
        (None, None) => provider.generate_secret(),
    };
    // The same secret again is refused, unless it ends the previous one's grace at once
    // (for senders that issue their own secret, the one way to revoke a leaked old one).
    let ends_grace = grace_secs == 0 && row.previous_secret.is_some();
    let now = clock::now_ms();
    if secret == row.secret && !ends_grace {
        // The way out of a grace period is named only where there is one to end, and only
        // to a caller who did not just ask for it.
        let end_grace = if grace_until(row, now).is_some() && grace_secs != 0 {
            " (or, to end the previous secret's grace now, this one with grace_period_secs 0)"
        } else {
            ""
        };
        return Err(ServiceError::invalid(
            "secret",
            format!(
                "that is already the current secret: a rotation to it would change nothing; \
                 give the new secret{end_grace}"
            ),
        ));
    }
    // Only one earlier secret is kept: a rotation inside another's grace period ends it,
    // unless it rotates back to that very secret, which then goes on working as the current.
    let back_to_previous = row.previous_secret.as_deref() == Some(secret.as_str());
    let cut_short = grace_until(row, now)
        .filter(|_| !back_to_previous)
        .map(|at| {
            let kept = if grace_secs > 0 {
                "only the one just replaced keeps working, during this rotation's grace period"
            } else {
                "with no grace period this time, only the new secret works"
            };
            format!(
                "the secret before the last rotation was still accepted until {} and no longer \
                 is: {kept}",
                clock::rfc3339(at)
            )
        });
    let old = std::mem::replace(&mut row.secret, secret);
    // A placeholder verified nothing its sender sent: no grace is kept for it.
    let grace_secs = if row.secret_placeholder {
        0
    } else {
        grace_secs
    };
    row.secret_placeholder = false;
    (row.previous_secret, row.previous_expires_at) = if grace_secs > 0 {
        (Some(old), Some(now + grace_secs * 1000))
    } else {
        (None, None)
    };
    Ok(cut_short)
}

/// Who makes a stored webhook's signing secret when it is its sender: the provider itself
/// (Stripe), or the sender its alias named at create (`options.sender`: OpenAI).
fn secret_issuer(provider: Provider, options: &str) -> Option<String> {
    if provider.issues_own_secret() {
        return Some(provider.as_str().to_string());
    }
    serde_json::from_str::<ProviderOptions>(options)
        .ok()
        .and_then(|o| o.sender)
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
/// one), so the answer is made from the row it returns, which is the one stored.
async fn change<T, F>(
    state: &AppState,
    id: &str,
    change: F,
) -> Result<(WebhookRow, T), ServiceError>
where
    T: Send + 'static,
    F: Fn(&AppState, &mut WebhookRow) -> Result<T, ServiceError> + Send + 'static,
{
    let writing = state.clone();
    let key = id.to_string();
    let outcome = state
        .store
        .write(move |db| {
            let Some(stored) = rows::get(db, &key)? else {
                return Ok(Err(not_found(&key)));
            };
            let mut row = match opened(&writing, stored) {
                Ok(row) => row,
                Err(e) => return Ok(Err(e)),
            };
            let made = match change(&writing, &mut row) {
                Ok(made) => made,
                Err(e) => return Ok(Err(e)),
            };
            row.updated_at = clock::now_ms();
            rows::update(db, &sealed(&writing, &row))?;
            Ok(Ok((row, made)))
        })
        .await?;
    state.hooks.invalidate(id);
    outcome
}

/// The receiver URL of a webhook.
pub fn receiver_url(state: &AppState, provider: &str, id: &str) -> String {
    format!("{}/webhooks/{provider}/{id}", state.public_base_url)
}

fn present(
    state: &AppState,
    row: &WebhookRow,
    commands: Option<i64>,
    show_secret: bool,
) -> WebhookOut {
    let url = receiver_url(state, &row.provider, &row.id);
    let takes_token = takes_url_token(row);
    let now = clock::now_ms();
    let issuer = row
        .secret_placeholder
        .then(|| secret_issuer(provider_named(&row.provider).ok()?, &row.options))
        .flatten();
    WebhookOut {
        id: row.id.clone(),
        name: row.name.clone(),
        provider: row.provider.clone(),
        enabled: row.enabled,
        url_with_token: (show_secret && takes_token).then(|| {
            let token: String = form_urlencoded::byte_serialize(row.secret.as_bytes()).collect();
            format!("{url}?token={token}")
        }),
        url,
        secret: show_secret.then(|| row.secret.clone()),
        secret_hint: hint(&row.secret),
        previous_secret_expires_at: grace_until(row, now).map(clock::rfc3339),
        options: masked_options(&row.options),
        created_by: row.created_by.clone(),
        created_at: clock::rfc3339(row.created_at),
        updated_at: clock::rfc3339(row.updated_at),
        commands,
        // A placeholder only while a sender that issues its own secret is named: with the
        // `sender` option removed, the secret is one to give the sender, as any generated one.
        secret_placeholder: issuer.is_some(),
        // Said on every look, not only at create: a test signed with the placeholder passes,
        // while the sender's own deliveries are all refused.
        warnings: issuer
            .map(|sender| placeholder_warning(&sender))
            .into_iter()
            .collect(),
        added_commands: Vec::new(),
    }
}

/// When the previous secret stops verifying, while a rotation's grace period runs.
fn grace_until(row: &WebhookRow, now: i64) -> Option<i64> {
    row.previous_expires_at
        .filter(|at| row.previous_secret.is_some() && *at > now)
}

/// Options as shown: credential tokens replaced by the mask.
fn masked_options(options: &str) -> Value {
    match serde_json::from_str::<ProviderOptions>(options) {
        Ok(mut o) => {
            o.credentials = o.credentials.map(|c| c.masked());
            serde_json::to_value(o).unwrap_or(Value::Null)
        }
        Err(_) => Value::Object(Default::default()),
    }
}

/// Senders that cannot sign carry the secret as `?token=` in the URL.
fn takes_url_token(row: &WebhookRow) -> bool {
    takes_token(
        &row.provider,
        serde_json::from_str::<ProviderOptions>(&row.options).ok(),
    )
}

/// Whether a webhook as shown is called with its secret as a token (in the URL, or for custom
/// token mode also in its header) rather than signing: its `url` alone is not enough.
pub fn sender_uses_token(webhook: &WebhookOut) -> bool {
    takes_token(
        &webhook.provider,
        serde_json::from_value::<ProviderOptions>(webhook.options.clone()).ok(),
    )
}

fn takes_token(provider: &str, options: Option<ProviderOptions>) -> bool {
    match provider.parse::<Provider>() {
        Ok(Provider::OpenWebUi) => true,
        Ok(Provider::Custom) => options
            .and_then(|o| o.custom)
            .is_some_and(|c| c.mode == CustomMode::Token),
        _ => false,
    }
}

/// The secret's last four characters, to tell secrets apart; nothing for a secret under
/// [`HINT_MIN_CHARS`], where four characters would give away too much of it (all of it, for
/// the shortest).
fn hint(secret: &str) -> String {
    if secret.chars().count() < HINT_MIN_CHARS {
        return "…".into();
    }
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

const HINT_MIN_CHARS: usize = 16;

pub(super) fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound {
        what: "webhook",
        id: id.to_string(),
    }
}

fn check_id(id: &str) -> Result<String, ServiceError> {
    let ok = id.len() <= 64
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(id.to_string())
    } else {
        Err(ServiceError::invalid(
            "id",
            "id must be 1-64 letters, digits, `-` or `_`, starting with a letter or digit",
        ))
    }
}

fn check_name(name: &str) -> Result<String, ServiceError> {
    // Zero-width spaces and a byte-order mark at either end are as invisible as spaces, and a
    // name of nothing else would list as a blank.
    // (Not a direction mark, which is refused below: it changes how what follows reads.)
    let name = name.trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, '\u{200B}' | '\u{2060}' | '\u{FEFF}')
    });
    // Joiners, variation selectors and the blank fillers (Hangul, Braille) show nothing alone.
    let shows = |c: char| {
        !matches!(
            c,
            '\u{200C}' | '\u{200D}' | '\u{FE00}'
                ..='\u{FE0F}' | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{2800}' | '\u{FFA0}'
        )
    };
    if !name.chars().any(shows) || name.chars().count() > 200 {
        return Err(ServiceError::invalid(
            "name",
            "name must be 1-200 characters, one of them visible",
        ));
    }
    // It is shown in lists, logs and setup steps a model reads out.
    // U+2028 and U+2029 are line breaks too, though not control characters.
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(ServiceError::invalid(
            "name",
            "name must not contain control characters or line breaks (newlines, tabs, NUL, \
             U+2028, ...)",
        ));
    }
    // Direction overrides make a name read as another (U+202E before `kooh` shows `hook`),
    // and so do invisible marks inside it; emoji joiners and variation selectors are fine.
    if name.chars().any(crate::invisible::misleading) {
        return Err(ServiceError::invalid(
            "name",
            "name must not contain text direction marks, overrides or isolates (U+202A-U+202E, \
             U+2066-U+2069) or invisible characters (zero-width spaces, U+FEFF, ...)",
        ));
    }
    Ok(name.to_string())
}

/// Given secrets shorter than this are warned about. Not refused: GitHub, GitLab and Jira
/// take any secret their user chooses, and one already set there must be accepted as it is.
const MIN_SAFE_SECRET_CHARS: usize = 16;

/// A warning for a given secret short enough to guess: whoever guesses it can sign
/// deliveries (or, for the token schemes, send the token) as the sender.
fn short_secret_warning(secret: &str) -> Option<String> {
    let chars = secret.chars().count();
    (chars < MIN_SAFE_SECRET_CHARS).then(|| {
        format!(
            "the secret has only {chars} character(s), few enough to guess, and whoever guesses \
             it can send deliveries this webhook accepts: use at least \
             {MIN_SAFE_SECRET_CHARS} random characters (e.g. `openssl rand -hex 32`) here and \
             at the sender"
        )
    })
}

fn check_secret(provider: Provider, secret: &str) -> Result<String, ServiceError> {
    if secret.is_empty() || secret.chars().count() > MAX_SECRET_LEN || secret.trim() != secret {
        return Err(ServiceError::invalid(
            "secret",
            format!("secret must be 1-{MAX_SECRET_LEN} characters without surrounding spaces"),
        ));
    }
    if sealing::looks_sealed(secret) {
        return Err(ServiceError::invalid("secret", SEALED_FORM));
    }
    if secret == crate::providers::MASK {
        return Err(ServiceError::invalid(
            "secret",
            "this is the mask a listing shows in place of a secret: give the secret itself \
             (or leave it out to have one generated, where the sender takes one)",
        ));
    }
    // Stripe's API keys (`sk_live_…`, restricted `rk_…`) are not its signing secrets
    // (`whsec_…`): one given here would verify nothing, and is a key worth far more than one.
    let api_key = ["sk_live_", "sk_test_", "rk_live_", "rk_test_"]
        .iter()
        .any(|p| secret.starts_with(p));
    if provider == Provider::Stripe && api_key {
        return Err(ServiceError::invalid(
            "secret",
            "that is a Stripe API key, not a webhook signing secret: give the endpoint's \
             signing secret (`whsec_…`, shown under Developers → Webhooks, on the endpoint's \
             page), and keep the API key out of this service",
        ));
    }
    if provider == Provider::StandardWebhooks && crate::actions::standard_key(secret).is_none() {
        return Err(ServiceError::invalid(
            "secret",
            "a Standard Webhooks secret is `whsec_` followed by base64 (as the sender shows it)",
        ));
    }
    Ok(secret.to_string())
}

/// Merges an update's options into the stored ones: each option given replaces the stored
/// one whole, `null` removes it, the rest stay. `credentials` alone is merged key by key, so
/// one token can change without sending back the others. Whole replacement everywhere else
/// keeps settings that only make sense together (a custom scheme's mode, header and prefix; a
/// rate and its burst) from mixing old and new.
fn merge_options(stored: &mut Value, patch: Value) {
    let Value::Object(members) = patch else {
        *stored = patch;
        return;
    };
    if !stored.is_object() {
        *stored = Value::Object(serde_json::Map::new());
    }
    let stored = stored.as_object_mut().expect("made an object above");
    for (key, value) in members {
        match (key.as_str(), value, stored.get_mut(&key)) {
            (_, Value::Null, _) => {
                stored.remove(&key);
            }
            ("credentials", Value::Object(given), Some(Value::Object(kept))) => {
                for (name, token) in given {
                    if token.is_null() {
                        kept.remove(&name);
                    } else {
                        kept.insert(name, token);
                    }
                }
            }
            (_, value, _) => {
                stored.insert(key, value);
            }
        }
    }
}

/// The API base URLs in `options.credentials` that are new (not the `stored` ones) are held
/// to the same outbound rules as a command's target: http(s), and no private address or local
/// name unless `ALLOWED_TARGET_HOSTS` lets it through. Refused now, where the caller can fix
/// it, rather than in every later reply's dead action.
///
/// A stored token is not carried over to a changed base URL: it would be sent to the new
/// host, so whoever changes the URL (a prompted agent, say) must give the token again.
/// `regiven` names the tokens this update gives as values (not the mask). A process that sends
/// nothing saves a URL its own `ALLOWED_TARGET_HOSTS` refuses, with the warnings returned.
fn check_base_urls(
    state: &AppState,
    options: &ProviderOptions,
    stored: &ReplyCredentials,
    regiven: &[String],
) -> Result<Vec<String>, ServiceError> {
    let mut unchecked = Vec::new();
    let Some(creds) = &options.credentials else {
        return Ok(unchecked);
    };
    let urls = [
        (
            "github_api_url",
            &creds.github_api_url,
            &stored.github_api_url,
            "github_token",
            (&creds.github_token, &stored.github_token),
            "GITHUB_API_URL",
        ),
        (
            "gitlab_url",
            &creds.gitlab_url,
            &stored.gitlab_url,
            "gitlab_token",
            (&creds.gitlab_token, &stored.gitlab_token),
            "GITLAB_URL",
        ),
        (
            "jira_base_url",
            &creds.jira_base_url,
            &stored.jira_base_url,
            "jira_api_token",
            (&creds.jira_api_token, &stored.jira_api_token),
            "JIRA_BASE_URL",
        ),
    ];
    for (name, url, before, token, (kept_token, stored_token), default) in urls {
        if url == before {
            continue;
        }
        // Removing the URL moves the token too: to the server's own endpoint for that provider.
        let destination = url.as_deref().map_or_else(
            || format!("the server's own {default}"),
            crate::actions::mask_url_credentials,
        );
        let carried = kept_token.is_some() && stored_token.is_some();
        if carried && !regiven.iter().any(|t| t == token) {
            return Err(ServiceError::invalid(
                &format!("options.credentials.{token}"),
                format!(
                    "changing {name} would send the stored {token} to {destination}: give \
                     {token} again (its value, not the mask) in the same update, or remove it \
                     ({token}: null)"
                ),
            ));
        }
        let Some(url) = url.as_deref() else {
            continue;
        };
        let field = format!("options.credentials.{name}");
        if url.len() > 2048 || reqwest::Url::parse(url).is_err() {
            return Err(ServiceError::invalid(
                &field,
                format!(
                    "`{}` is not a URL of at most 2,048 bytes; give it as https://host/...",
                    crate::quote::quoted(&crate::actions::mask_url_credentials(url))
                ),
            ));
        }
        if let Some(why) = login_in_url(name, url, token) {
            return Err(ServiceError::invalid(&field, why));
        }
        let why = super::sending::target_refusal(state, url)
            .map_err(|refused| ServiceError::invalid(&field, refused))?;
        unchecked.extend(why.map(|why| super::sending::saved_target_warning(&field, &why)));
    }
    Ok(unchecked)
}

/// Why a user name or password in a base URL is refused: GitHub and Jira take their token in
/// `Authorization`, and the HTTP client would send the URL's login there too, as a second
/// header no server reads as meant. (GitLab's token goes in `PRIVATE-TOKEN`, so a login in
/// `gitlab_url`, for a proxy in front of it, is sent alone and kept.)
fn login_in_url(name: &str, url: &str, token: &str) -> Option<String> {
    if name == "gitlab_url" {
        return None;
    }
    let parsed = reqwest::Url::parse(url).ok()?;
    (!parsed.username().is_empty() || parsed.password().is_some()).then(|| {
        format!(
            "`{}` carries a user name or password, which would be sent as a second \
             `Authorization` header beside {token}'s: give the URL without them, and the \
             credential in {token}",
            crate::actions::mask_url_credentials(url)
        )
    })
}

const SEALED_FORM: &str = "a value starting with `enc:v1:` would be taken for an encrypted one \
                           (the form sealed secrets are stored in); give the plain value";

/// A mask left where no stored value was put back for it would be sent as the credential.
fn refuse_masks(options: &ProviderOptions) -> Result<(), ServiceError> {
    match options.credentials.as_ref().and_then(|c| c.still_masked()) {
        Some((name, why)) => Err(ServiceError::invalid(
            &format!("options.credentials.{name}"),
            why,
        )),
        None => Ok(()),
    }
}

/// Credentials that would be stored and never work: a blank one (it is sent as it is, in
/// place of the server's own token, and every reply fails), or one in the form sealed ones are
/// stored in (read back as sealed: unreadable without the key, or opened as garbage).
fn refuse_unusable_credentials(options: Option<&Value>) -> Result<(), ServiceError> {
    let given = options
        .and_then(|o| o.get("credentials"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten();
    for (name, value) in given {
        if value.as_str().is_some_and(|v| v.trim().is_empty()) {
            return Err(ServiceError::invalid(
                &format!("options.credentials.{name}"),
                format!(
                    "{name} is blank: give its value, null to remove it (the server's own \
                     setting is used then), or leave it out to keep it as it is"
                ),
            ));
        }
        if value.as_str().is_some_and(sealing::looks_sealed) {
            return Err(ServiceError::invalid(
                &format!("options.credentials.{name}"),
                SEALED_FORM,
            ));
        }
        // A token goes in a header: one with a space, a line break or a letter outside ASCII
        // would be stored and then fail every send, saying only that no request was built.
        let token = TOKEN_FIELDS.contains(&name.as_str());
        if token
            && value
                .as_str()
                .is_some_and(|v| !v.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(ServiceError::invalid(
                &format!("options.credentials.{name}"),
                format!(
                    "{name} holds a space, a line break or a character outside ASCII (copied \
                     with one?), which no request can carry: give the token as it was issued"
                ),
            ));
        }
    }
    Ok(())
}

/// The credentials sent as tokens in a header, as issued: no spaces, nothing but ASCII.
const TOKEN_FIELDS: [&str; 6] = [
    "github_token",
    "gitlab_token",
    "jira_api_token",
    "slack_bot_token",
    "linear_api_key",
    "telegram_bot_token",
];

/// The credential tokens an update gives as values, not as the mask sent back.
fn tokens_given(options: &Value) -> Vec<String> {
    options
        .get("credentials")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.as_str().is_some_and(|t| t != crate::providers::MASK))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Stored options that later checks refuse, where this change does not set them itself: they
/// are made what they already did, so that changing another option is not refused for them.
/// A replay window on a sender that signs no time did nothing; a burst of 0 worked as 1; an
/// empty allowlist allowed every address.
fn settle_retired_options(provider: Provider, stored: &mut Value, patch: &Value) {
    let Some(stored) = stored.as_object_mut() else {
        return;
    };
    if !signs_time(provider) && patch.get("tolerance_secs").is_none() {
        stored.remove("tolerance_secs");
    }
    if patch.get("ip_allowlist").is_none()
        && stored
            .get("ip_allowlist")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
    {
        stored.remove("ip_allowlist");
    }
    let burst_given = patch.pointer("/rate_limit/burst").is_some();
    if let Some(burst) = stored
        .get_mut("rate_limit")
        .and_then(|r| r.get_mut("burst"))
        .filter(|b| b.as_u64() == Some(0) && !burst_given)
    {
        *burst = Value::from(1);
    }
}

/// The most entries an IP allowlist given now may hold: each delivery is checked against
/// them one after another, and GitHub's hook ranges, or a cloud's egress ranges, are tens.
/// Not part of `check_options`, which also sees the stored options when another is changed:
/// a longer list saved before this limit goes on working and does not block that change.
const MAX_ALLOWLIST_ENTRIES: usize = 1024;

fn check_new_allowlist(given: Option<&Value>) -> Result<(), ServiceError> {
    let Some(list) = given
        .and_then(|o| o.get("ip_allowlist"))
        .and_then(Value::as_array)
    else {
        return Ok(());
    };
    if list.len() > MAX_ALLOWLIST_ENTRIES {
        return Err(ServiceError::invalid(
            "options.ip_allowlist",
            format!(
                "{} entries, more than the {MAX_ALLOWLIST_ENTRIES} an allowlist may hold: \
                 merge neighbouring addresses into wider CIDR ranges",
                list.len()
            ),
        ));
    }
    Ok(())
}

/// Whether the provider's signature covers a timestamp, which a replay window checks.
fn signs_time(provider: Provider) -> bool {
    !matches!(
        provider,
        Provider::GitHub
            | Provider::Jira
            | Provider::Sentry
            | Provider::OpenWebUi
            | Provider::Custom
    )
}

fn check_options(
    provider: Provider,
    options: Option<Value>,
) -> Result<ProviderOptions, ServiceError> {
    let Some(value) = options.filter(|v| !v.is_null()) else {
        return Ok(ProviderOptions::default());
    };
    if !value.is_object() {
        // serde would read an array as the struct's fields in order (`[1]` as a tolerance).
        return Err(ServiceError::invalid(
            "options",
            "options must be a JSON object, e.g. {\"tolerance_secs\": 300}",
        ));
    }
    // Nor may a list stand for one of its objects (`{"credentials": ["ghp_…"]}`).
    for key in ["custom", "credentials", "rate_limit"] {
        if value.get(key).is_some_and(Value::is_array) {
            return Err(ServiceError::invalid(
                &format!("options.{key}"),
                format!("options.{key} must be a JSON object with named fields, not a list"),
            ));
        }
    }
    let options: ProviderOptions = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "options".to_string()
        } else {
            format!("options.{path}")
        };
        ServiceError::invalid(&field, format!("invalid options: {}", e.inner()))
    })?;
    // A replay window on a sender that signs no time would protect nothing while seeming to.
    if options.tolerance_secs.is_some() && !signs_time(provider) {
        return Err(ServiceError::invalid(
            "options.tolerance_secs",
            format!(
                "{provider} signs no timestamp, so there is no replay window to set (a sender's \
                 own retries are still caught by their delivery id, but a captured delivery sent \
                 again under a new id is not: limit who can reach the URL with \
                 options.ip_allowlist); tolerance_secs applies to \
                 slack, stripe, linear, standard-webhooks and signed gitlab webhooks"
            ),
        ));
    }
    if let Some(t) = options.tolerance_secs
        && !(1..=7 * 24 * 3600).contains(&t)
    {
        return Err(ServiceError::invalid(
            "options.tolerance_secs",
            "tolerance must be between 1 and 604800 seconds",
        ));
    }
    if let Some(list) = &options.ip_allowlist {
        // The receiver reads an empty list as no allowlist: stored, it would look like a
        // webhook locked to no one while letting everyone through.
        if list.is_empty() {
            return Err(ServiceError::invalid(
                "options.ip_allowlist",
                "an empty ip_allowlist would allow every address, not none; to remove the \
                 allowlist set it to null or leave the option out",
            ));
        }
        for (i, entry) in list.iter().enumerate() {
            super::limits::parse_net(entry)
                .map_err(|m| ServiceError::invalid(&format!("options.ip_allowlist[{i}]"), m))?;
        }
    }
    if let Some(limit) = &options.rate_limit
        && limit.per_second == 0
    {
        return Err(ServiceError::invalid(
            "options.rate_limit.per_second",
            "per_second must be at least 1",
        ));
    }
    if let Some(crate::providers::RateLimit { burst: Some(0), .. }) = &options.rate_limit {
        return Err(ServiceError::invalid(
            "options.rate_limit.burst",
            "burst must be at least 1 (leave it out for a burst of per_second)",
        ));
    }
    let mut options = options;
    if let Some(sender) = &options.sender {
        let alias = Provider::secret_issuing_alias(sender)
            .filter(|alias| alias.parse::<Provider>() == Ok(provider))
            .ok_or_else(|| {
                ServiceError::invalid(
                    "options.sender",
                    "`sender` names the sender of a standard-webhooks webhook that issues its \
                     own signing secret: only `openai` (set by itself when the webhook is \
                     created as provider `openai`)",
                )
            })?;
        options.sender = Some(alias.to_string());
    }
    match (&options.custom, provider) {
        (Some(_), p) if p != Provider::Custom => Err(ServiceError::invalid(
            "options.custom",
            "`custom` options apply only to provider `custom`",
        )),
        (Some(custom), _) => {
            CustomOptions::validate(custom)
                .map_err(|m| ServiceError::invalid("options.custom", m))?;
            Ok(options)
        }
        (None, _) => Ok(options),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{
        Provider, ServiceError, check_name, check_options, merge_options, settle_retired_options,
    };

    #[test]
    fn names_are_trimmed_and_refused_when_empty_long_or_with_control_characters() {
        assert_eq!(check_name("  GitHub issues ").unwrap(), "GitHub issues");
        assert_eq!(check_name("Émoji 🚀 ok").unwrap(), "Émoji 🚀 ok");
        // Invisible at the ends as spaces are; emoji joiners inside are part of the emoji.
        assert_eq!(check_name("\u{FEFF}Billing\u{200B} ").unwrap(), "Billing");
        assert_eq!(check_name("Zoë 👩\u{200D}💻").unwrap(), "Zoë 👩\u{200D}💻");
        for bad in [
            "",
            "   ",
            "\u{200B}\u{200B}",
            "\u{FE0F}",
            "\u{3164}\u{200D}",
            "a\u{200B}b",
            "a\u{0}b",
            "line\nbreak",
            "a\u{2028}b",
            "a\u{2029}b",
            "tab\there",
            &"x".repeat(201),
        ] {
            let refused = check_name(bad).unwrap_err();
            assert!(
                matches!(&refused, ServiceError::Invalid { field: Some(f), .. } if f == "name"),
                "{bad:?}: {refused}"
            );
        }
    }

    #[test]
    fn an_update_replaces_the_options_it_gives_removes_nulls_and_merges_credentials() {
        let cases = [
            // (stored, update, merged)
            (
                json!({"a": 1, "b": 2}),
                json!({"a": 3}),
                json!({"a": 3, "b": 2}),
            ),
            (json!({"a": 1, "b": 2}), json!({"a": null}), json!({"b": 2})),
            (
                json!({"credentials": {"github_token": "t", "github_api_url": "u"}}),
                json!({"credentials": {"github_api_url": "v"}}),
                json!({"credentials": {"github_token": "t", "github_api_url": "v"}}),
            ),
            (
                json!({"credentials": {"github_token": "t", "jira_email": "e"}}),
                json!({"credentials": {"jira_email": null}}),
                json!({"credentials": {"github_token": "t"}}),
            ),
            (
                json!({"rate_limit": {"per_second": 5, "burst": 20}}),
                json!({"rate_limit": {"per_second": 9}}),
                json!({"rate_limit": {"per_second": 9}}),
            ),
            (
                json!({"custom": {"mode": "hmac", "header": "X-Sig", "prefix": "sha256="}}),
                json!({"custom": {"mode": "token"}}),
                json!({"custom": {"mode": "token"}}),
            ),
            (
                json!({"ip_allowlist": ["10.0.0.0/8", "192.0.2.1"]}),
                json!({"ip_allowlist": ["203.0.113.0/24"]}),
                json!({"ip_allowlist": ["203.0.113.0/24"]}),
            ),
            (
                json!(null),
                json!({"credentials": {"a": "b"}}),
                json!({"credentials": {"a": "b"}}),
            ),
            (json!({"a": 1}), json!({}), json!({"a": 1})),
        ];
        for (stored, update, merged) in cases {
            let mut target = stored.clone();
            merge_options(&mut target, update.clone());
            assert_eq!(target, merged, "{stored} + {update}");
        }
    }

    #[test]
    fn options_saved_before_a_check_refused_them_do_not_block_other_changes() {
        let cases = [
            // (provider, stored, update, settled stored)
            (
                Provider::GitHub,
                json!({"tolerance_secs": 60, "ip_allowlist": ["10.0.0.0/8"]}),
                json!({"ip_allowlist": ["192.0.2.1"]}),
                json!({"ip_allowlist": ["10.0.0.0/8"]}),
            ),
            // Given again, it stays, for the check to refuse it.
            (
                Provider::GitHub,
                json!({"tolerance_secs": 60}),
                json!({"tolerance_secs": 60}),
                json!({"tolerance_secs": 60}),
            ),
            (
                Provider::Slack,
                json!({"tolerance_secs": 60}),
                json!({"ip_allowlist": ["192.0.2.1"]}),
                json!({"tolerance_secs": 60}),
            ),
            (
                Provider::Slack,
                json!({"rate_limit": {"per_second": 5, "burst": 0}}),
                json!({"ip_allowlist": ["192.0.2.1"]}),
                json!({"rate_limit": {"per_second": 5, "burst": 1}}),
            ),
            (
                Provider::GitHub,
                json!({"ip_allowlist": [], "tolerance_secs": 60}),
                json!({"rate_limit": {"per_second": 5}}),
                json!({}),
            ),
            (
                Provider::GitHub,
                json!({"ip_allowlist": []}),
                json!({"ip_allowlist": []}),
                json!({"ip_allowlist": []}),
            ),
        ];
        for (provider, stored, update, settled) in cases {
            let mut target = stored.clone();
            settle_retired_options(provider, &mut target, &update);
            assert_eq!(target, settled, "{provider}: {stored} + {update}");
            merge_options(&mut target, update.clone());
            let regiven = update.get("tolerance_secs").is_some()
                || update.get("ip_allowlist") == Some(&json!([]));
            assert_eq!(
                check_options(provider, Some(target.clone())).is_ok(),
                !regiven,
                "{provider}: {target}"
            );
        }
    }
}
