//! Lists webhooks: all of them, or a page at a time after a cursor.

use serde::{Deserialize, Serialize};

use super::{WebhookOut, check_id, opened, present, provider_named};
use crate::app::AppState;
use crate::service::ServiceError;
use crate::store::webhooks as rows;

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
    // `openai` is a Standard Webhooks sender: those created for it say so in `options.sender`.
    let sender = query
        .provider
        .as_deref()
        .and_then(crate::providers::Provider::secret_issuing_alias);
    // Without a limit, everything at once: what the list always answered.
    let limit = query
        .limit
        .map(|n| crate::service::page_limit(Some(n)))
        .transpose()?;
    let after = query.cursor.map(|c| webhook_cursor(&c)).transpose()?;
    let found = state
        .store
        .read(move |db| {
            let after = after.as_ref().map(|(at, id)| (*at, id.as_str()));
            let take = limit.map_or(u32::MAX, |n| n + 1);
            rows::page(db, provider.map(|p| p.as_str()), sender, after, take)
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
        .ok_or_else(|| crate::service::not_a_cursor(cursor))
}
