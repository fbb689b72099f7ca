//! MCP resources: each webhook's recent events (`webhook://{id}/events`) and single events
//! (`event://{id}`), as JSON. Clients may subscribe to either and hear when it changes.

use rmcp::ErrorData;
use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate,
};

use crate::app::AppState;
use crate::service::events::{self, EventQuery};
use crate::service::{ServiceError, webhooks};

const RECENT: u32 = 20;

/// Webhooks listed per page: thousands in one answer would pass the 1 MiB a client SDK reads
/// one streamed message in (the Python SDK's), and the list would fail whole.
const PAGE: u32 = 200;

/// A page of the webhooks' resources, oldest webhook first; `cursor` is the previous page's
/// `nextCursor`.
pub async fn list(
    state: &AppState,
    cursor: Option<String>,
) -> Result<ListResourcesResult, ErrorData> {
    let cursor = cursor.filter(|c| !c.is_empty());
    let query = webhooks::WebhookQuery {
        provider: None,
        limit: Some(PAGE),
        cursor: cursor.clone(),
    };
    let page = webhooks::list_page(state, query)
        .await
        .map_err(|e| match e {
            // The service's words name the REST field (`next_cursor`).
            ServiceError::Invalid { field: Some(f), .. } if f == "cursor" => {
                ErrorData::invalid_params(
                    format!(
                        "`{}` is not a cursor: pass the previous page's `nextCursor` unchanged",
                        crate::quote::quoted(cursor.as_deref().unwrap_or_default())
                    ),
                    None,
                )
            }
            ServiceError::Invalid { .. } => ErrorData::invalid_params(e.to_string(), None),
            other => internal(other),
        })?;
    let resources = page
        .webhooks
        .iter()
        .map(|w| {
            Resource::new(
                format!("webhook://{}/events", w.id),
                format!("{} events", w.name),
            )
            .with_description(format!(
                "The {RECENT} most recent events of the {} webhook `{}`, newest first",
                w.provider, w.id
            ))
            .with_mime_type("application/json")
        })
        .collect();
    let mut listed = ListResourcesResult::with_all_items(resources);
    listed.next_cursor = page.next_cursor;
    Ok(listed)
}

/// The one resource template: a webhook's events.
pub const TEMPLATE_URI: &str = "webhook://{webhook_id}/events";
/// The template of one event's resource.
pub const EVENT_TEMPLATE_URI: &str = "event://{event_id}";

pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new(TEMPLATE_URI, "webhook events")
            .with_description("A webhook's most recent events, newest first")
            .with_mime_type("application/json"),
        ResourceTemplate::new(EVENT_TEMPLATE_URI, "event")
            .with_description("One event in full: headers, payload, verification, matches")
            .with_mime_type("application/json"),
    ])
}

pub async fn read(state: &AppState, uri: &str) -> Result<ReadResourceResponse, ErrorData> {
    let json = match named(uri) {
        Named::Events(id) => {
            // events::list refuses a webhook id only when it names no webhook and no kept
            // events: a deleted webhook's events stay readable, as in list_events and REST.
            let page = events::list(
                state,
                EventQuery {
                    webhook_id: Some(id.to_string()),
                    limit: Some(RECENT),
                    ..EventQuery::default()
                },
            )
            .await
            .map_err(|e| not_found(uri, e))?;
            serde_json::to_value(&page)
        }
        Named::Event(id) => {
            let event = events::get(state, id)
                .await
                .map_err(|e| not_found(uri, e))?
                .cut_for_model(events::SHOWN_BODY_BYTES);
            serde_json::to_value(&event)
        }
        Named::Nothing => return Err(unknown(uri)),
    }
    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let json = super::fit::resource_text(&json);
    let contents = ResourceContents::text(json, uri).with_mime_type("application/json");
    Ok(ReadResourceResult::new(vec![contents]).into())
}

/// What a resource URI names.
enum Named<'a> {
    Events(&'a str),
    Event(&'a str),
    Nothing,
}

fn named(uri: &str) -> Named<'_> {
    if let Some(id) = uri
        .strip_prefix("webhook://")
        .and_then(|rest| rest.strip_suffix("/events"))
    {
        Named::Events(id)
    } else if let Some(id) = uri.strip_prefix("event://") {
        Named::Event(id)
    } else {
        Named::Nothing
    }
}

/// The refusal [`read`] would give the first of `uris` that names no resource, if one does.
/// Each is only looked up, not read (a page of events, an event's whole body): a listen asks
/// this of every resource it names before its stream is acknowledged.
pub async fn first_missing(
    state: &AppState,
    uris: Vec<String>,
) -> Result<Option<ErrorData>, ErrorData> {
    if let Some(uri) = uris.iter().find(|u| matches!(named(u), Named::Nothing)) {
        return Ok(Some(unknown(uri)));
    }
    let found = state
        .store
        .read(move |db| {
            for uri in uris {
                let (what, id, known) = match named(&uri) {
                    // As events::list has it: a deleted webhook's kept events are still
                    // its resource.
                    Named::Events(id) => (
                        "webhook",
                        id,
                        crate::store::webhooks::get(db, id)?.is_some()
                            || crate::store::events::any_of_webhook(db, id)?,
                    ),
                    Named::Event(id) => (
                        "event",
                        id,
                        crate::store::events::headers_of(db, id)?.is_some(),
                    ),
                    Named::Nothing => unreachable!("checked above"),
                };
                if !known {
                    let missing = ServiceError::NotFound {
                        what,
                        id: id.to_string(),
                    };
                    return Ok(Some((uri.clone(), missing)));
                }
            }
            Ok(None)
        })
        .await
        .map_err(|e| internal(e.into()))?;
    Ok(found.map(|(uri, missing)| not_found(&uri, missing)))
}

fn unknown(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!(
            "unknown resource `{}`: use webhook://{{webhook_id}}/events or event://{{event_id}}",
            crate::quote::quoted(uri)
        ),
        None,
    )
}

fn not_found(uri: &str, e: ServiceError) -> ErrorData {
    match e {
        ServiceError::NotFound { .. } => ErrorData::resource_not_found(
            format!("{e} (resource `{}`)", crate::quote::quoted(uri)),
            None,
        ),
        other => internal(other),
    }
}

fn internal(e: ServiceError) -> ErrorData {
    tracing::error!(error = %e, "MCP resource read failed");
    ErrorData::internal_error("could not read the webhook store", None)
}
