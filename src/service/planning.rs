//! Turns the commands an event fired into planned work, the same way for a fresh delivery
//! (ingest) and a replay: builds the template context and hands each command to the engine.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::actions::Delivery;
use crate::clock;
use crate::engine::plan::{self, EventView, Fired, Planned};
use crate::engine::{ActionKind, CompiledCommand, template};
use crate::providers::{Provider, SourceRef};
use crate::store::commands::CommandRow;
use crate::store::webhooks::WebhookRow;

/// What planning needs to know of the event.
pub struct EventFacts<'a> {
    pub id: &'a str,
    pub provider: Provider,
    pub event_type: &'a str,
    pub received_at: i64,
    pub payload: &'a Arc<Value>,
    pub source: Option<&'a SourceRef>,
    /// The body as kept (without a credential in it), forwarded as is by a `forward` without
    /// a template.
    pub body: &'a [u8],
    /// How many forwards the event came through (`actions::hops`); its forwards count one more.
    pub hops: u32,
}

/// What a command's template renders with: the payload, the event's metadata `delivery`
/// (`id`, `type`, `provider`, `received_at`, `source`) and the webhook. One place, so the
/// receive path, test_webhook's report and the preview when a command is saved agree.
pub fn template_context(
    hook: &WebhookRow,
    payload: &Arc<Value>,
    delivery: Value,
) -> minijinja::Value {
    let webhook = json!({"id": hook.id, "name": hook.name, "provider": hook.provider});
    if let Some(typed) = interaction_message_as_typed(hook, payload, &delivery) {
        return template::context(&typed, delivery, webhook);
    }
    // An interaction's fields are as typed; any other Slack event's text is Slack's.
    let interaction = delivery["type"]
        .as_str()
        .is_some_and(|t| crate::providers::slack::INTERACTIONS.contains(&t));
    if hook.provider == Provider::Slack.as_str() && !interaction {
        template::slack_event_context(payload, delivery, webhook)
    } else if hook.provider == Provider::Jira.as_str() {
        template::jira_context(payload, delivery, webhook)
    } else {
        template::context(payload, delivery, webhook)
    }
}

/// A Slack interaction's fields are what people typed, printed as such (escaped for Slack,
/// as they are elsewhere) — except the message it was used on (`message.text`, a shortcut's
/// or a button's), which is Slack's own escaped text and markup: it is made plain text here
/// like the rest, so a reply to Slack does not show its entities escaped twice nor another
/// chat its `&amp;` and `<@U…>` markup. `None` when there is nothing to change.
fn interaction_message_as_typed(
    hook: &WebhookRow,
    payload: &Arc<Value>,
    delivery: &Value,
) -> Option<Arc<Value>> {
    let interaction = delivery["type"]
        .as_str()
        .is_some_and(|t| crate::providers::slack::INTERACTIONS.contains(&t));
    if hook.provider != Provider::Slack.as_str() || !interaction {
        return None;
    }
    let text = payload.pointer("/message/text")?.as_str()?;
    let plain = crate::actions::slack_markup::to_plain(text);
    let mut typed = Value::clone(payload);
    typed["message"]["text"] = Value::String(plain);
    Some(Arc::new(typed))
}

/// The commands a stored event fires now and their planned work (a replay; a repeated
/// delivery's answer): matched and planned from what was stored, its body already parsed.
pub fn plan_stored(
    hook: &WebhookRow,
    rows: &[CommandRow],
    compiled: &[CompiledCommand],
    provider: Provider,
    event: &crate::store::events::EventRow,
    payload: &Arc<Value>,
    body: &[u8],
) -> (Vec<String>, Vec<Planned>) {
    let event_type = event.event_type.clone().unwrap_or_default();
    let source: Option<SourceRef> = event
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let fired = if event.verification == super::schedules::VERIFICATION {
        // A tick's event runs its own command again (if still there and on), and no other:
        // no sender sent it, and scheduled commands match no event.
        let own = payload.get("command_id").and_then(Value::as_str);
        compiled
            .iter()
            .filter(|c| c.schedule.is_some() && Some(c.id.as_str()) == own)
            .collect()
    } else {
        crate::engine::matching(compiled, &event_type, payload)
    };
    let planned = plan_fired(
        hook,
        rows,
        &fired,
        &EventFacts {
            id: &event.id,
            provider,
            event_type: &event_type,
            received_at: event.received_at,
            payload,
            source: source.as_ref(),
            body,
            hops: crate::actions::hops::of_stored(
                &serde_json::from_str(&event.headers).unwrap_or_default(),
            ),
        },
    );
    (fired.iter().map(|c| c.id.clone()).collect(), planned)
}

/// The planned work of the fired commands, in their order.
pub fn plan_fired(
    hook: &WebhookRow,
    rows: &[CommandRow],
    fired: &[&CompiledCommand],
    event: &EventFacts<'_>,
) -> Vec<Planned> {
    if fired.is_empty() {
        return Vec::new();
    }
    let context = template_context(
        hook,
        event.payload,
        json!({
            "id": event.id,
            "type": event.event_type,
            "provider": event.provider.as_str(),
            "received_at": clock::rfc3339(event.received_at),
            "source": event.source,
        }),
    );
    let runs: Vec<&CommandRow> = fired
        .iter()
        .filter_map(|c| rows.iter().find(|r| r.id == c.id))
        .collect();
    let mut planned = plan_rows(
        &runs,
        &EventView {
            provider: event.provider,
            event_type: event.event_type,
            payload: event.payload,
            source: event.source,
            context: &context,
            body: event.body,
        },
    );
    for p in &mut planned {
        if let Planned::Send {
            delivery: Ok(Delivery::Forward { hops, .. }),
            ..
        } = p
        {
            *hops = event.hops.saturating_add(1);
        }
    }
    planned
}

/// The planned work of `runs`, the commands an event fired in their order, over `event`: the
/// planner itself, which test_webhook's report runs too, so that a dry run says what the real
/// delivery would do (a reply on a source with no thread fails there as it does here).
pub fn plan_rows(runs: &[&CommandRow], event: &EventView<'_>) -> Vec<Planned> {
    let runs: Vec<Fired<'_>> = runs.iter().map(|r| fired_row(r)).collect();
    plan::plan(&runs, event)
}

fn fired_row(r: &CommandRow) -> Fired<'_> {
    Fired {
        command_id: &r.id,
        action: r.action.parse().unwrap_or(ActionKind::Comment),
        agent: r.agent.as_deref(),
        template: r.template.as_deref(),
        target: r
            .target
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok()),
    }
}

/// A command's template rendered over an event as planning renders it (its values escaped
/// for Slack when its text goes there), for test_webhook's report; `None` without a template,
/// except for a forward, which then sends the event's body as kept.
pub fn render_preview(row: &CommandRow, event: &EventView<'_>) -> Option<Result<String, String>> {
    let fired = fired_row(row);
    if fired.template.is_none() && fired.action != ActionKind::Forward {
        return None;
    }
    Some(plan::text_of(&fired, event))
}
