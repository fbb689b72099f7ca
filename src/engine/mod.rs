//! The engine: which of a webhook's commands an event fires, in what order. Pure: no I/O, no
//! clock; the receiver calls it before the store's transaction, so matching adds nothing to
//! the time the single writer is busy.

pub mod actor;
pub mod command;
pub mod conditions;
pub mod json_view;
pub mod payload;
pub mod plan;
pub mod schedule;
pub mod sender_text;
pub mod target_headers;
pub mod template;
pub mod trigger;
pub mod url_template;

use serde_json::Value;

pub use command::{ActionKind, CommandSpec, CompiledCommand, InvalidCommand};

/// The commands an event fires, in run order. `commands` must already be in priority order
/// (higher first, as the store lists them); a matching command with `stop` ends the chain.
pub fn matching<'a>(
    commands: &'a [CompiledCommand],
    event_type: &str,
    payload: &Value,
) -> Vec<&'a CompiledCommand> {
    let mut fired = Vec::new();
    for command in commands {
        // A scheduled command fires on its clock (`service::schedules`), never on a delivery.
        if command.schedule.is_none()
            && command.trigger.matches(event_type)
            && command.conditions.matches(payload)
        {
            fired.push(command);
            if command.stop {
                break;
            }
        }
    }
    fired
}

/// Why each of `commands` (enabled, in run order) that the event does not fire does not, as
/// (command id, why): for a test to say why a command stayed quiet, not only that it did.
pub fn unmatched<'a>(
    commands: &'a [CompiledCommand],
    event_type: &str,
    payload: &Value,
) -> Vec<(&'a str, String)> {
    let mut quiet = Vec::new();
    let mut stopped_by: Option<&str> = None;
    for command in commands {
        let why = if let Some(stopper) = stopped_by {
            format!("command `{stopper}`, run before it, matched and has `stop`")
        } else if command.schedule.is_some() {
            "it is a scheduled command: it fires on its schedule, not on events".to_string()
        } else if !command.trigger.matches(event_type) {
            format!(
                "its trigger `{}` does not match the event's type `{event_type}`",
                command.trigger.as_str()
            )
        } else if let Some(unmet) = command.conditions.unmet(payload) {
            format!("its conditions do not hold: {unmet}")
        } else {
            if command.stop {
                stopped_by = Some(&command.id);
            }
            continue;
        };
        quiet.push((command.id.as_str(), why));
    }
    quiet
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compiled(
        id: &str,
        trigger: &str,
        conditions: Value,
        priority: i64,
        stop: bool,
    ) -> CompiledCommand {
        let (trigger, conditions, action) = command::check(&CommandSpec {
            trigger,
            action: "comment",
            agent: None,
            template: Some("x"),
            conditions: &conditions,
            target: None,
        })
        .expect("valid");
        CompiledCommand {
            id: id.into(),
            trigger,
            conditions,
            action,
            priority,
            stop,
            schedule: None,
        }
    }

    #[test]
    fn matching_follows_priority_and_stops_when_told() {
        let commands = vec![
            compiled("a", "issues.*", json!({"labels": ["bug"]}), 10, false),
            compiled("b", "issues.opened", json!({}), 5, true),
            compiled("c", "*", json!({}), 0, false),
        ];
        let bug = json!({"issue": {"labels": [{"name": "bug"}]}});
        let ids = |v: Vec<&CompiledCommand>| v.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(matching(&commands, "issues.opened", &bug)), ["a", "b"]);
        assert_eq!(ids(matching(&commands, "issues.closed", &bug)), ["a", "c"]);
        assert_eq!(ids(matching(&commands, "issues.opened", &json!({}))), ["b"]);
        assert_eq!(ids(matching(&commands, "push", &json!({}))), ["c"]);

        // Why the others stayed quiet.
        let quiet = |event_type: &str, payload: &Value| {
            unmatched(&commands, event_type, payload)
                .into_iter()
                .map(|(id, why)| format!("{id}: {why}"))
                .collect::<Vec<_>>()
        };
        let said = quiet("issues.opened", &bug);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].starts_with("c: command `b`"), "{said:?}");
        let said = quiet("push", &json!({}));
        assert!(
            said[0].contains("trigger `issues.*`") && said[0].contains("`push`"),
            "{said:?}"
        );
        let said = quiet("issues.closed", &json!({"issue": {"labels": []}}));
        assert!(
            said[0].contains("labels") && said[0].contains("bug"),
            "{said:?}"
        );
    }

    #[test]
    fn a_scheduled_command_fires_on_no_delivery_whatever_its_type() {
        let mut scheduled = compiled("s", "schedule", json!({}), 0, false);
        scheduled.schedule = Some(schedule::Schedule::parse("0 9 * * *", None).expect("valid"));
        let commands = [scheduled];
        // A custom sender may name its events `schedule`: they do not set off the clock's.
        assert!(matching(&commands, "schedule", &json!({})).is_empty());
        let said = unmatched(&commands, "schedule", &json!({}));
        assert!(said[0].1.contains("fires on its schedule"), "{said:?}");
    }
}
