//! A webhook as shown: its receive URL, a hint of its secret, its options with their tokens
//! masked, and whether its sender takes a token in the URL.

use serde_json::Value;

use super::rotation::secret_issuer;
use super::{WebhookOut, placeholder_warning, provider_named};
use crate::app::AppState;
use crate::clock;
use crate::providers::{Provider, ProviderOptions, custom::CustomMode};
use crate::store::webhooks::WebhookRow;

/// The receiver URL of a webhook.
pub fn receiver_url(state: &AppState, provider: &str, id: &str) -> String {
    format!("{}/webhooks/{provider}/{id}", state.public_base_url)
}

pub(super) fn present(
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
        removed_commands: None,
        kept_commands: None,
    }
}

/// When the previous secret stops verifying, while a rotation's grace period runs.
pub(super) fn grace_until(row: &WebhookRow, now: i64) -> Option<i64> {
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
