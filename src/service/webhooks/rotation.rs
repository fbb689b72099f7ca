//! Secret rotation: a new secret, given or generated (one a sender issues must be given), the
//! old one kept verifying for a grace period.

use super::presented::{grace_until, present};
use super::{RotateIn, WebhookOut, change, check_secret, provider_named, short_secret_warning};
use crate::app::AppState;
use crate::clock;
use crate::providers::{Provider, ProviderOptions};
use crate::service::ServiceError;
use crate::store::webhooks::WebhookRow;

/// Replaces the secret; the old one keeps verifying for the grace period.
pub async fn rotate_secret(
    state: &AppState,
    id: &str,
    input: RotateIn,
) -> Result<WebhookOut, ServiceError> {
    let short = input.secret.as_deref().and_then(short_secret_warning);
    // From the secret stored when the rotation is, not when it was asked for: a rotation
    // beside another keeps the other's secret as the previous one.
    let (row, (cut_short, _)) = change(state, id, move |state, row, _| {
        Ok((
            rotated(state, row, input.clone())?,
            super::Replaced::default(),
        ))
    })
    .await?;
    // Read after the new secret is stored, which is shown only now: a failed read leaves
    // the count out, not the answer.
    let count = super::command_count(state, &row.id).await.ok();
    let mut out = present(state, &row, count, true);
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
pub(super) fn secret_issuer(provider: Provider, options: &str) -> Option<String> {
    if provider.issues_own_secret() {
        return Some(provider.as_str().to_string());
    }
    serde_json::from_str::<ProviderOptions>(options)
        .ok()
        .and_then(|o| o.sender)
}
