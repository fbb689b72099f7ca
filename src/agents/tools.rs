//! The server's own tools offered to the built-in runner's model as OpenAI functions. Every
//! call is scoped to the task: replies go to the task's event source, messages to the agent's
//! declared channel, reads to the task's webhook. Nothing in a payload or a model's arguments
//! can point an action somewhere else.

use serde::Deserialize;
use serde_json::{Value, json};

use super::AgentSpec;
use super::chat::ToolDef;
use super::markup::Destinations;
use crate::app::AppState;
use crate::service::actions::{self, Author, ReplyTo};
use crate::service::events::{self, EventQuery};
use crate::store::tasks::TaskRow;

pub const NAMES: [&str; 6] = [
    "comment",
    "ask",
    "respond",
    "post_message",
    "get_event",
    "list_events",
];

/// Function definitions for the tools an agent may use, each text in the markup of where it
/// is shown.
pub fn definitions(allowed: &[String], to: &Destinations) -> Vec<ToolDef> {
    let (source, channel) = (to.source.name(), to.channel.name());
    let text = |what: &str| {
        json!({"type": "object", "properties": {"text": {"type": "string", "description": what}},
               "required": ["text"]})
    };
    let all = [
        ToolDef::function(
            "comment",
            "Post a comment on the source of this task's event (the issue, ticket or Slack thread it came from).",
            text(&format!("The comment, in {source}.")),
        ),
        ToolDef::function(
            "ask",
            "Ask a clarifying question on the event's source and wait: the task pauses until someone replies on that thread, then you run again with the reply.",
            json!({"type": "object", "properties": {"question": {"type": "string", "description": format!("The question to post, in {source}.")}}, "required": ["question"]}),
        ),
        ToolDef::function(
            "respond",
            "Answer the sender of the event (Slack response_url for slash commands, else a comment on the source).",
            text(&format!("The answer, in {source}.")),
        ),
        ToolDef::function(
            "post_message",
            "Post a message to this agent's configured chat channel.",
            text(&format!("The message, in {channel}.")),
        ),
        ToolDef::function(
            "get_event",
            "Read this task's event in full: headers, payload, source, matched commands.",
            json!({"type": "object", "properties": {}}),
        ),
        ToolDef::function(
            "list_events",
            "List recent events of the same webhook, newest first.",
            json!({"type": "object", "properties": {"limit": {"type": "integer", "description": "How many (1-50, default 10)."}, "event_type": {"type": "string", "description": "A type with its actions (issues also lists issues.opened), or a * pattern."}}}),
        ),
    ];
    all.into_iter()
        .filter(|t| allowed.iter().any(|a| a == &t.function.name))
        .collect()
}

/// The tools that answer on the event's thread.
const ON_SOURCE: [&str; 3] = ["comment", "ask", "respond"];

/// The agent's tools that can act for this task. A task whose event has no thread to answer
/// on (a Stripe or Standard Webhooks event, an Open WebUI chat, a Sentry issue) is not offered
/// `comment`, `ask` or `respond`: each would only ever fail, and a model offered them spends
/// steps finding out.
pub fn offered(agent_tools: &[String], task: &TaskRow) -> Vec<String> {
    let threaded = task
        .source_kind
        .as_deref()
        .is_some_and(crate::engine::plan::has_thread);
    agent_tools
        .iter()
        .filter(|t| threaded || !ON_SOURCE.contains(&t.as_str()))
        .cloned()
        .collect()
}

/// What a tool call did, for the runner's control flow.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Data or an error message for the model.
    Text(String),
    /// A reply went out on the source (so a final answer meant for the source is not posted
    /// there again).
    Replied(String),
    /// A message went to the agent's channel (so a final answer meant for it is not posted
    /// there again).
    Posted(String),
    /// A question went out; the task now waits for the reply.
    Asked(String),
}

/// Runs one tool call within the task's scope. Failures become text the model can read.
pub async fn execute(
    state: &AppState,
    task: &TaskRow,
    agent: &AgentSpec,
    name: &str,
    args: &Value,
) -> Outcome {
    if let Some(refused) = not_callable(agent, name) {
        return Outcome::Text(refused);
    }
    // What the model must send: a clear word when it is missing or of the wrong type.
    let text_of = |key: &str| text_arg(args, key).map_err(Outcome::Text);
    let to = ReplyTo {
        event_id: task.event_id.clone(),
        task_id: Some(task.id.clone()),
        author: Author::Model,
        owner: None,
    };
    let result = match name {
        "comment" | "respond" => {
            let text = match text_of("text") {
                Ok(text) => text,
                Err(refused) => return refused,
            };
            let sent = if name == "comment" {
                actions::comment(state, to, text).await
            } else {
                actions::respond(state, to, text).await
            };
            sent.map(|a| Outcome::Replied(format!("queued as {} to {}", a.id, a.target)))
        }
        "ask" => {
            let question = match text_of("question") {
                Ok(question) => question,
                Err(refused) => return refused,
            };
            actions::ask(state, to, question, Some(agent.name.clone()))
                .await
                .map(|a| Outcome::Asked(format!("question queued as {} to {}", a.id, a.target)))
        }
        "post_message" => {
            let text = match text_of("text") {
                Ok(text) => text,
                Err(refused) => return refused,
            };
            let Some(target) = &agent.target else {
                return Outcome::Text("error: this agent has no channel configured".into());
            };
            actions::post_message(
                state,
                target.url.clone(),
                target.kind.clone(),
                actions::TelegramChat {
                    chat_id: target.chat_id.clone(),
                    thread_id: target.thread_id.clone(),
                },
                text,
                task.event_id.clone(),
                Some(task.id.clone()),
                Author::Model,
            )
            .await
            .map(|a| Outcome::Posted(format!("queued as {}", a.id)))
        }
        "get_event" => match &task.event_id {
            // The model may believe it can read any event: said, not answered with this one.
            Some(id)
                if args
                    .get("event_id")
                    .is_some_and(|asked| asked != id.as_str()) =>
            {
                return Outcome::Text(format!(
                    "error: get_event reads this task's own event ({id}) only and takes no \
                     arguments; list_events shows the others of this webhook"
                ));
            }
            Some(id) => events::get(state, id).await.map(|e| {
                let e = e.cut_for_model(events::SHOWN_BODY_BYTES);
                Outcome::Text(serde_json::to_string(&e).unwrap_or_default())
            }),
            None => return Outcome::Text("error: this task has no event".into()),
        },
        "list_events" => {
            let read = match args {
                // A call that sent no arguments.
                Value::Null => Ok(ListArgs::default()),
                args => ListArgs::deserialize(args),
            };
            let listed = match read {
                Ok(listed) => listed,
                Err(e) => {
                    return Outcome::Text(format!(
                        "error: {e}; list_events takes `limit` (1-50) and `event_type`, and \
                         lists this task's webhook only"
                    ));
                }
            };
            events::list(
                state,
                EventQuery {
                    webhook_id: task.webhook_id.clone(),
                    event_type: listed.event_type,
                    limit: Some(listed.limit.unwrap_or(10).clamp(1, 50)),
                    ..EventQuery::default()
                },
            )
            .await
            .map(|p| Outcome::Text(serde_json::to_string(&p).unwrap_or_default()))
        }
        // Declared tools are checked at start; this is a tool declared but not run here.
        other => return Outcome::Text(format!("error: unknown tool `{other}`")),
    };
    result.unwrap_or_else(|e| Outcome::Text(format!("error: {}", for_agent(e.to_string(), agent))))
}

/// Why the model may not call `name`, in words that name what it may call.
fn not_callable(agent: &AgentSpec, name: &str) -> Option<String> {
    if name.is_empty() {
        return Some(
            "error: the call names no tool (its `function.name` is missing); call one of your \
             tools by its name"
                .into(),
        );
    }
    (!agent.tools.iter().any(|t| t == name)).then(|| {
        format!(
            "error: tool `{}` is not available to this agent; its tools are {}",
            crate::quote::quoted(name),
            agent.tools.join(", ")
        )
    })
}

/// What `list_events` takes: a wrong type or an argument it has no use for (another
/// webhook's id) is said, not ignored, so the model does not take the default for its answer.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    #[serde(default, deserialize_with = "crate::mcp::args::lenient::page_size")]
    limit: Option<u32>,
    #[serde(default)]
    event_type: Option<String>,
}

/// A string argument, or why it is not one (serde's words, as the MCP tools give them).
fn text_arg(args: &Value, key: &str) -> Result<String, String> {
    match args.get(key) {
        None | Some(Value::Null) => Err(format!("error: `{key}` is required")),
        Some(value) => {
            String::deserialize(value).map_err(|e| format!("error: invalid `{key}`: {e}"))
        }
    }
}

/// A service error as this agent can act on it: a hint naming a tool it does not have is
/// replaced by what it can do.
fn for_agent(message: String, agent: &AgentSpec) -> String {
    // An agent has no `forward` tool: a hint naming it is of no use, nor one naming
    // post_message to an agent without it.
    if agent.tools.iter().any(|t| t == "post_message") {
        return message.replace(
            crate::engine::plan::USE_FORWARD_OR_POST_MESSAGE,
            actions::USE_POST_MESSAGE,
        );
    }
    const INSTEAD: &str = "; no reply is possible here: give your answer as your final message";
    message
        .replace(crate::engine::plan::USE_FORWARD_OR_POST_MESSAGE, INSTEAD)
        .replace(actions::USE_POST_MESSAGE, INSTEAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(tools: &[&str]) -> AgentSpec {
        let mut agent = AgentSpec::named("a");
        agent.tools = tools.iter().map(|t| t.to_string()).collect();
        agent
    }

    #[test]
    fn a_call_of_no_tool_or_another_is_told_what_it_may_call() {
        let a = agent(&["comment", "get_event"]);
        assert_eq!(not_callable(&a, "comment"), None);
        let nameless = not_callable(&a, "").unwrap_or_default();
        assert!(nameless.contains("names no tool"), "{nameless}");
        let other = not_callable(&a, "delete_repo").unwrap_or_default();
        assert!(
            other.ends_with("its tools are comment, get_event"),
            "{other}"
        );
    }

    #[test]
    fn a_hint_names_only_tools_the_agent_has() {
        let no_thread = crate::engine::plan::reply_on_source(None, "x".into()).unwrap_err();
        let without = for_agent(no_thread.clone(), &agent(&["comment"]));
        assert!(
            without.ends_with("give your answer as your final message"),
            "{without}"
        );
        let with = for_agent(no_thread, &agent(&["comment", "post_message"]));
        assert!(with.ends_with(actions::USE_POST_MESSAGE), "{with}");
    }
}
