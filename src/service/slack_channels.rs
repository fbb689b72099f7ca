//! Slack channels named in a command's conditions (`{"channel": "#engineering"}`), looked up
//! when the command is saved: Slack's events name a channel by its id only, so a name alone
//! would match slash commands and never a message. The id found is added beside the name.

use serde_json::Value;

use crate::app::AppState;
use crate::store::commands::CommandRow;
use crate::store::webhooks::WebhookRow;

/// Channels listed once for several commands saved together (a create with its commands):
/// the names asked for, and what Slack answered.
pub struct Known {
    names: Vec<String>,
    listed: Result<Vec<(String, String)>, String>,
}

/// Lists, once, the channels the `#names` of all these commands' conditions need; `None` when
/// none needs any, or there is no bot token to list them with.
pub async fn look_up_together<'a>(
    state: &AppState,
    hook: &WebhookRow,
    commands: impl Iterator<Item = (&'a str, &'a Value)>,
) -> Option<Known> {
    let mut names: Vec<String> = Vec::new();
    for (trigger, conditions) in commands {
        for name in names_of(hook, trigger, conditions)
            .map(|(_, n)| n)
            .unwrap_or_default()
        {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    if names.is_empty() {
        return None;
    }
    let listed = list(state, hook, &names).await?;
    Some(Known { names, listed })
}

/// Gives each `#name` of a Slack command's `channel` conditions the channel's id beside it,
/// when the bot token of the webhook (or the server's) can read the workspace's channels
/// (from `known` when it was listed for this command already). What it did, or why it could
/// not, for the command's warnings.
pub async fn add_ids(
    state: &AppState,
    hook: &WebhookRow,
    row: &mut CommandRow,
    known: Option<&Known>,
) -> Vec<String> {
    let Ok(given) = serde_json::from_str::<Value>(&row.conditions) else {
        return Vec::new();
    };
    let Some((mut conditions, names)) = names_of(hook, &row.trigger, &given) else {
        return Vec::new();
    };
    let listed = match known.filter(|k| names.iter().all(|n| k.names.contains(n))) {
        Some(known) => known.listed.clone(),
        None => match list(state, hook, &names).await {
            Some(listed) => listed,
            None => return Vec::new(),
        },
    };
    let found = match listed {
        Ok(found) => found,
        Err(why) => return vec![not_looked_up(&names, &why)],
    };
    each_channel(&mut conditions, &mut |value| pair_with_ids(value, &found));
    row.conditions = conditions.to_string();
    let mut said: Vec<String> = found
        .iter()
        .filter(|(name, _)| names.contains(name))
        .map(|(name, id)| {
            format!(
                "Slack's channel `#{name}` is `{id}`: the condition names both, since Slack's \
                 events name a channel by its id (a renamed channel keeps its id)"
            )
        })
        .collect();
    said.extend(
        names
            .iter()
            .filter(|n| !found.iter().any(|(f, _)| f == *n))
            .map(|name| {
                format!(
                    "the bot token sees no Slack channel named `#{name}` (it sees a private \
                     channel only once the bot is in it), so its id could not be added"
                )
            }),
    );
    said
}

/// The conditions of a Slack command (a copy, to give ids to) and the `#names` in them, when
/// it needs their ids: not for a slash command or an interaction in a channel, which name it
/// by name too.
fn names_of(hook: &WebhookRow, trigger: &str, conditions: &Value) -> Option<(Value, Vec<String>)> {
    if hook.provider != "slack"
        || trigger.starts_with('/')
        || crate::providers::slack::INTERACTIONS_IN_A_CHANNEL.contains(&trigger)
    {
        return None;
    }
    let mut conditions = conditions.clone();
    let mut names = Vec::new();
    each_channel(&mut conditions, &mut |value| {
        names.extend(unpaired_names(value))
    });
    (!names.is_empty()).then_some((conditions, names))
}

/// The channels named `names` that the webhook's bot token (or the server's) sees, or why
/// they could not be listed; `None` when there is no token to list them with.
async fn list(
    state: &AppState,
    hook: &WebhookRow,
    names: &[String],
) -> Option<Result<Vec<(String, String)>, String>> {
    let own =
        crate::worker::own_credentials_of(state, &hook.id, Some(hook.clone()), hook.created_at)
            .ok()?;
    let creds = crate::worker::merge(&state.config.upstreams, own);
    creds.slack_bot_token.as_ref()?;
    let lookup = crate::actions::slack_channel_ids(&state.clients, &creds, names);
    Some(match tokio::time::timeout(LOOKUP_TIME, lookup).await {
        Ok(listed) => listed,
        Err(_) => Err("Slack did not answer in time".into()),
    })
}

/// How long a save waits for Slack to list its channels.
const LOOKUP_TIME: std::time::Duration = std::time::Duration::from_secs(5);

fn not_looked_up(names: &[String], why: &str) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("`#{n}`")).collect();
    format!(
        "Slack's channels could not be listed to add the id of {} ({}; the bot token needs \
         channels:read, and groups:read for private channels)",
        names.join(", "),
        crate::quote::quoted(why)
    )
}

/// Calls `visit` on the value of every `channel` condition, however deep in all/any/not
/// (only there: a `channel` key inside a value compared by `equals` is data, not a condition).
fn each_channel(conditions: &mut Value, visit: &mut dyn FnMut(&mut Value)) {
    let Value::Object(map) = conditions else {
        return;
    };
    for (key, value) in map.iter_mut() {
        match (key.as_str(), value) {
            ("channel", value) => visit(value),
            ("all" | "any", Value::Array(items)) => {
                items.iter_mut().for_each(|i| each_channel(i, visit));
            }
            ("not", value) => each_channel(value, visit),
            _ => {}
        }
    }
}

/// The strings one `channel` condition gives.
fn given(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The `#names` (without `#`) of one `channel` condition.
fn unpaired_names(value: &Value) -> Vec<String> {
    given(value)
        .iter()
        .filter_map(|g| g.strip_prefix('#'))
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// A `#name` of the conditions' `channel` values given with no channel id beside it in the
/// same value, which Slack's events (naming channels by id) never match.
pub fn name_without_id(conditions: &Value) -> Option<String> {
    let mut conditions = conditions.clone();
    let mut found = None;
    each_channel(&mut conditions, &mut |value| {
        let given = given(value);
        if found.is_none() && !given.iter().any(|g| looks_like_id(g)) {
            found = given
                .iter()
                .find(|g| g.starts_with('#'))
                .map(|g| g.to_string());
        }
    });
    found
}

/// Whether a condition's channel is a Slack channel id (`C0123ABCD`, `G…` for an old private
/// one, `D…` for a direct message).
pub fn looks_like_id(channel: &str) -> bool {
    channel.len() >= 9
        && channel.starts_with(['C', 'G', 'D'])
        && channel
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// One `channel` condition with the ids of its `#names` found added: a name alone becomes a
/// list of it and its id.
fn pair_with_ids(value: &mut Value, found: &[(String, String)]) {
    let id_of = |given: &str| {
        let name = given.strip_prefix('#')?;
        found
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| id.clone())
    };
    match value {
        Value::String(s) => {
            if let Some(id) = id_of(s) {
                *value = Value::Array(vec![Value::String(s.clone()), Value::String(id)]);
            }
        }
        Value::Array(items) => {
            let ids: Vec<String> = items
                .iter()
                .filter_map(Value::as_str)
                .filter_map(id_of)
                .collect();
            for id in ids {
                if !items.iter().any(|i| i.as_str() == Some(id.as_str())) {
                    items.push(Value::String(id));
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_alone_are_given_their_ids_however_deep_and_ids_are_left_as_they_are() {
        let found = vec![("engineering".to_string(), "C0ENG1234".to_string())];
        let cases = [
            (
                json!({"channel": "#engineering"}),
                json!({"channel": ["#engineering", "C0ENG1234"]}),
            ),
            (
                json!({"any": [{"channel": ["#engineering", "#ops"]}]}),
                json!({"any": [{"channel": ["#engineering", "#ops", "C0ENG1234"]}]}),
            ),
            (json!({"channel": "#ops"}), json!({"channel": "#ops"})),
            (
                json!({"channel": "C0OTHER12"}),
                json!({"channel": "C0OTHER12"}),
            ),
            (
                json!({"field": "event", "equals": {"channel": "#engineering"}}),
                json!({"field": "event", "equals": {"channel": "#engineering"}}),
            ),
        ];
        for (given, want) in cases {
            let mut conditions = given.clone();
            each_channel(&mut conditions, &mut |v| pair_with_ids(v, &found));
            assert_eq!(conditions, want, "{given}");
        }
    }

    #[test]
    fn a_name_is_unpaired_unless_its_own_value_holds_an_id_and_data_is_not_a_condition() {
        let cases = [
            (json!({"channel": "#ops"}), Some("#ops")),
            (json!({"channel": ["#ops", "C0OPS1234"]}), None),
            (
                json!({"any": [{"channel": "C0ENG1234"}, {"channel": "#ops"}]}),
                Some("#ops"),
            ),
            (json!({"not": {"channel": "#ops"}}), Some("#ops")),
            (
                json!({"field": "event", "equals": {"channel": "#ops"}}),
                None,
            ),
        ];
        for (conditions, want) in cases {
            assert_eq!(
                name_without_id(&conditions).as_deref(),
                want,
                "{conditions}"
            );
        }
    }

    #[test]
    fn every_name_is_looked_up() {
        let cases = [
            (json!("#engineering"), vec!["engineering"]),
            (json!(["#a", "#b"]), vec!["a", "b"]),
            (json!(["#a", "C0AAAA123"]), vec!["a"]),
            (json!("C0AAAA123"), vec![]),
            (json!("#"), vec![]),
            (json!(7), vec![]),
        ];
        for (value, want) in cases {
            assert_eq!(unpaired_names(&value), want, "{value}");
        }
    }
}
