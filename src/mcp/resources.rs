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

pub async fn list(state: &AppState) -> Result<ListResourcesResult, ErrorData> {
    let all = webhooks::list(state).await.map_err(internal)?;
    let resources = all
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
    Ok(ListResourcesResult::with_all_items(resources))
}

pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new("webhook://{webhook_id}/events", "webhook events")
            .with_description("A webhook's most recent events, newest first")
            .with_mime_type("application/json"),
        ResourceTemplate::new("event://{event_id}", "event")
            .with_description("One event in full: headers, payload, verification, matches")
            .with_mime_type("application/json"),
    ])
}

pub async fn read(state: &AppState, uri: &str) -> Result<ReadResourceResponse, ErrorData> {
    let json = if let Some(id) = uri
        .strip_prefix("webhook://")
        .and_then(|rest| rest.strip_suffix("/events"))
    {
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
        serde_json::to_string_pretty(&page)
    } else if let Some(id) = uri.strip_prefix("event://") {
        let event = events::get(state, id)
            .await
            .map_err(|e| not_found(uri, e))?
            .cut_for_model(events::SHOWN_BODY_BYTES);
        serde_json::to_string_pretty(&event)
    } else {
        return Err(ErrorData::resource_not_found(
            format!(
                "unknown resource `{}`: use webhook://{{webhook_id}}/events or event://{{event_id}}",
                crate::service::quoted(uri)
            ),
            None,
        ));
    }
    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let contents = ResourceContents::text(json, uri).with_mime_type("application/json");
    Ok(ReadResourceResult::new(vec![contents]).into())
}

fn not_found(uri: &str, e: ServiceError) -> ErrorData {
    match e {
        ServiceError::NotFound { .. } => ErrorData::resource_not_found(
            format!("{e} (resource `{}`)", crate::service::quoted(uri)),
            None,
        ),
        other => internal(other),
    }
}

fn internal(e: ServiceError) -> ErrorData {
    tracing::error!(error = %e, "MCP resource read failed");
    ErrorData::internal_error("could not read the webhook store", None)
}
