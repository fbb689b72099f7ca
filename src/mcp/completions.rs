//! `completion/complete`: what a client offers as a prompt's or the resource template's
//! argument is typed (Claude Desktop's and MCP Inspector's forms ask as one types): event ids
//! for `triage-event` and `event://{event_id}`, webhook ids for `explain-event-log` and
//! `webhook://{webhook_id}/events`; nothing (but no error) for `setup-webhook`'s free text.

use rmcp::ErrorData;
use rmcp::model::{CompleteRequestParams, CompleteResult, CompletionInfo, Reference};

use crate::app::AppState;
use crate::service::webhooks;
use crate::store::events;

/// As many values as one answer may carry (the protocol's limit).
const MOST: usize = CompletionInfo::MAX_VALUES;

pub async fn complete(
    state: &AppState,
    request: CompleteRequestParams,
) -> Result<CompleteResult, ErrorData> {
    let typed = request.argument.value.trim().to_string();
    let wanted = match (&request.r#ref, request.argument.name.as_str()) {
        (Reference::Prompt(p), "event_id") if p.name == "triage-event" => Wanted::Event,
        (Reference::Prompt(p), "webhook_id") if p.name == "explain-event-log" => Wanted::Webhook,
        // Free text: nothing to offer, but no mistake either (a form asks as one types).
        (Reference::Prompt(p), "request") if p.name == super::prompts::SETUP_WEBHOOK => {
            Wanted::Nothing
        }
        (Reference::Resource(r), "webhook_id") if r.uri == super::resources::TEMPLATE_URI => {
            Wanted::Webhook
        }
        (Reference::Resource(r), "event_id") if r.uri == super::resources::EVENT_TEMPLATE_URI => {
            Wanted::Event
        }
        (Reference::Prompt(p), name) => {
            return Err(ErrorData::invalid_params(
                format!(
                    "no argument `{name}` of a prompt `{}` to complete: `triage-event` takes \
                     event_id, `explain-event-log` webhook_id, `setup-webhook` request",
                    p.name
                ),
                None,
            ));
        }
        (Reference::Resource(r), name) => {
            return Err(ErrorData::invalid_params(
                format!(
                    "no argument `{name}` of a resource template `{}` to complete: `{}` takes \
                     webhook_id, `{}` event_id",
                    r.uri,
                    super::resources::TEMPLATE_URI,
                    super::resources::EVENT_TEMPLATE_URI
                ),
                None,
            ));
        }
        (_, name) => {
            return Err(ErrorData::invalid_params(
                format!("nothing of that kind to complete `{name}` for: name a prompt"),
                None,
            ));
        }
    };
    let (values, more) = match wanted {
        Wanted::Event => {
            let ids = state
                .store
                .read(move |db| events::ids_starting_with(db, &typed, MOST as u32 + 1))
                .await
                .map_err(|e| internal(&e))?;
            first(ids)
        }
        Wanted::Webhook => {
            let ids = webhooks::list(state)
                .await
                .map_err(|e| internal(&e))?
                .into_iter()
                .map(|w| w.id)
                .filter(|id| id.starts_with(&typed))
                .collect();
            first(ids)
        }
        Wanted::Nothing => (Vec::new(), false),
    };
    let info = CompletionInfo::with_pagination(values, None, more)
        .map_err(|e| ErrorData::internal_error(e, None))?;
    Ok(CompleteResult::new(info))
}

enum Wanted {
    Nothing,
    Event,
    Webhook,
}

/// The first values an answer may carry, and whether there were more.
fn first(mut values: Vec<String>) -> (Vec<String>, bool) {
    let more = values.len() > MOST;
    values.truncate(MOST);
    (values, more)
}

fn internal(e: &dyn std::fmt::Display) -> ErrorData {
    tracing::error!(error = %e, "MCP completion failed");
    ErrorData::internal_error("could not read the webhook store", None)
}
