//! A webhook row as stored: its secrets and option tokens sealed when written and opened when
//! read; at start, what no given key opens ([`unopenable`]).

use serde_json::Value;

use crate::app::AppState;
use crate::providers::ProviderOptions;
use crate::service::ServiceError;
use crate::store::webhooks::{self as rows, WebhookRow};

/// Webhooks and queued actions whose stored secrets, tokens or credential URLs none of the
/// given keys opens, each with the reason:
/// checked at start, so a missing or wrong `WEBHOOK_MCP_SECRET_KEY` is said once and plainly
/// instead of failing every delivery and listing afterwards.
pub fn unopenable(
    conn: &rusqlite::Connection,
    keys: &crate::service::rekey::Keys,
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
            // Forward targets' signing secrets and headers' values, and target URLs that are
            // credentials, are sealed with the same key.
            why = crate::store::commands::list(conn, &row.id)?
                .iter()
                .filter_map(|c| c.target.as_deref())
                .filter_map(|t| serde_json::from_str::<Value>(t).ok())
                .flat_map(|t| {
                    let headers = t.get("headers").and_then(Value::as_object).into_iter();
                    let headers = headers
                        .flatten()
                        .map(|(_, v)| v.as_str().map(str::to_string));
                    ["secret", "url"]
                        .map(|field| t.get(field).and_then(Value::as_str).map(str::to_string))
                        .into_iter()
                        .chain(headers.collect::<Vec<_>>())
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
        crate::service::rekey::walk(&mut delivery, &mut |value| {
            if why.is_none() && crate::service::sealing::looks_sealed(value) {
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
pub(super) fn sealed(state: &AppState, row: &WebhookRow) -> WebhookRow {
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

/// Whether a save would store `stored` otherwise than it is: a key is configured and a secret
/// or credential token in it is still plain.
pub(super) fn sealing_due(state: &AppState, stored: &WebhookRow) -> bool {
    let plain = |s: &str| !crate::service::sealing::looks_sealed(s);
    state.sealer.is_on()
        && (plain(&stored.secret)
            || stored.previous_secret.as_deref().is_some_and(plain)
            || sealed_options(&state.sealer, &stored.options).is_some())
}

/// A webhook's stored options with their plain reply credential tokens sealed, `None` when
/// none is plain (or there are none).
pub(in crate::service) fn sealed_options(
    sealer: &crate::service::sealing::Sealer,
    stored: &str,
) -> Option<String> {
    let mut options = serde_json::from_str::<ProviderOptions>(stored).ok()?;
    let creds = options.credentials.as_mut()?;
    let plain = creds.secret_fields_mut().into_iter().any(|f| {
        f.as_deref()
            .is_some_and(|v| !crate::service::sealing::looks_sealed(v))
    });
    if !plain {
        return None;
    }
    sealer.seal_credentials(creds);
    Some(serde_json::to_string(&options).expect("options serialise"))
}

/// The row as the service works with it: secrets opened.
pub(in crate::service) fn opened(
    state: &AppState,
    mut row: WebhookRow,
) -> Result<WebhookRow, ServiceError> {
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
