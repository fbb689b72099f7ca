//! Agents: the built-in runner that turns a task into AI work on any OpenAI-compatible chat
//! API (Open WebUI's first), and the declarations of the agents it runs.

pub mod chat;
pub mod chat_pauses;
mod chat_stream;
pub mod failed_calls;
mod markup;
mod reasoning;
pub mod reply_timeout;
pub mod runner;
pub mod tools;
mod turns;

use serde::Deserialize;

use crate::config::AgentSettings;
use crate::engine::command::Target;

/// What happens to an agent's final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResultAction {
    /// A comment on the event's source (issue, ticket, Slack thread).
    #[default]
    Comment,
    /// A message to the agent's `target` channel.
    PostMessage,
    /// A signed POST of the result to the agent's `target`.
    Forward,
    /// Kept on the task only.
    None,
}

/// One declared agent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    pub name: String,
    /// The model to ask; `AI_MODEL` when absent.
    #[serde(default)]
    pub model: Option<String>,
    /// The system prompt's file in `prompts/agents/` (default `{name}.md`).
    #[serde(default)]
    pub system_prompt: Option<String>,
    #[serde(default)]
    pub result: ResultAction,
    /// For post_message and forward results (and the post_message tool).
    #[serde(default)]
    pub target: Option<Target>,
    /// Tools the model may call: comment, ask, respond, post_message, get_event, list_events.
    #[serde(default = "default_tools")]
    pub tools: Vec<String>,
    /// Model calls per run before the task fails.
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// Heading of the posted result.
    #[serde(default = "default_heading")]
    pub heading: String,
}

fn default_tools() -> Vec<String> {
    ["comment", "ask", "get_event", "list_events"]
        .map(String::from)
        .to_vec()
}

fn default_max_steps() -> u32 {
    6
}

fn default_heading() -> String {
    "AI analysis".into()
}

impl AgentSpec {
    /// This agent with its result (and its post_message tool) going to `target`, a channel:
    /// a task whose command names where its result goes.
    pub fn posting_to(&self, target: Target) -> Self {
        AgentSpec {
            result: ResultAction::PostMessage,
            target: Some(target),
            ..self.clone()
        }
    }

    fn named(name: &str) -> Self {
        AgentSpec {
            name: name.into(),
            model: None,
            system_prompt: None,
            result: ResultAction::Comment,
            target: None,
            tools: default_tools(),
            max_steps: default_max_steps(),
            heading: default_heading(),
        }
    }
}

/// The agent an `ask` is for when it names none (a command's, REST's or MCP's).
pub const ASK_AGENT: &str = "brain";

/// The agents whose tasks this server's built-in runner takes: the declared ones, or none
/// when the runner is off or has no chat API (every task then waits for an external agent).
pub fn run_here(state: &crate::app::AppState) -> Vec<&str> {
    let settings = &state.config.agents;
    if !(settings.runner && settings.has_chat_api()) {
        return Vec::new();
    }
    state.agents.iter().map(|a| a.name.as_str()).collect()
}

/// The declared agents: from `WEBHOOK_MCP_AGENTS` (a file path or JSON), else the defaults.
/// `telegram_api_url` (`TELEGRAM_API_URL`) tells a channel on its host as Telegram's.
pub fn declared(
    settings: &AgentSettings,
    telegram_api_url: &str,
) -> Result<Vec<AgentSpec>, String> {
    let Some(source) = settings
        .agents
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(vec![
            AgentSpec::named("planning"),
            AgentSpec::named("brain"),
        ]);
    };
    let json = if source.starts_with('[') {
        source.to_string()
    } else if source.starts_with('{') {
        // Not quoted back: an agent's target URL can hold a secret (a Slack webhook's path).
        return Err(
            "WEBHOOK_MCP_AGENTS is one JSON object; give a list of agents, even of one: \
                    `[{\"name\": ...}]`"
                .into(),
        );
    } else {
        std::fs::read_to_string(source).map_err(|e| {
            // Quoted only when it reads as a path: a list in quotes (`'[{…}]'` from an .env
            // file) may hold a channel URL's secret.
            let path_like = !source.contains(['{', '[', '"', '\'']) && !source.contains("://");
            let named = if path_like {
                format!("{source:?}")
            } else {
                "the value (quotes around it?)".to_string()
            };
            format!(
                "WEBHOOK_MCP_AGENTS: {named} is neither a JSON list (starting with `[`) nor a \
                 file that can be read ({e})"
            )
        })?
    };
    let mut specs: Vec<AgentSpec> = serde_json::from_str(&json)
        .map_err(|e| format!("WEBHOOK_MCP_AGENTS: {}", without_strings(&e.to_string())))?;
    for spec in &mut specs {
        // A blank model is none, as a blank AI_MODEL is: the agent asks AI_MODEL's, instead of
        // sending an empty name every chat API refuses.
        spec.model = spec
            .model
            .take()
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty());
        if let Some(target) = &mut spec.target {
            // Open WebUI's "Copy URL" gives a channel webhook's path alone: made whole on
            // OPENWEBUI_URL here, so the URL checked and sent to is the whole one.
            let base = AgentSettings::given(&settings.openwebui_url);
            match crate::actions::openwebui_path_made_whole(&target.url, base) {
                Ok(Some(whole)) => target.url = whole,
                Ok(None) => {}
                Err(refused) => {
                    return Err(format!(
                        "WEBHOOK_MCP_AGENTS: agent `{}`'s target.url: {refused}",
                        crate::quote::quoted(&spec.name)
                    ));
                }
            }
            target.name_telegram_kind(telegram_api_url);
        }
    }
    for (i, spec) in specs.iter().enumerate() {
        if !crate::engine::command::is_name(&spec.name) {
            return Err(format!(
                "WEBHOOK_MCP_AGENTS: bad agent name `{}`",
                spec.name
            ));
        }
        // Only the first of two would ever run: the second's settings would be silently lost.
        if specs[..i].iter().any(|earlier| earlier.name == spec.name) {
            return Err(format!(
                "WEBHOOK_MCP_AGENTS: agent `{}` is declared twice; declare each agent once",
                spec.name
            ));
        }
        if let Some(bad) = spec
            .tools
            .iter()
            .find(|t| !tools::NAMES.contains(&t.as_str()))
        {
            return Err(format!(
                "WEBHOOK_MCP_AGENTS: agent `{}` lists unknown tool `{bad}`; use {}",
                spec.name,
                tools::NAMES.join(", ")
            ));
        }
        if spec.max_steps == 0 {
            return Err(format!(
                "WEBHOOK_MCP_AGENTS: agent `{}` has max_steps 0, so it could never call the \
                 model; give at least 1 (default {})",
                spec.name,
                default_max_steps()
            ));
        }
        if matches!(
            spec.result,
            ResultAction::PostMessage | ResultAction::Forward
        ) && spec.target.is_none()
        {
            return Err(format!(
                "WEBHOOK_MCP_AGENTS: agent `{}` posts its result to a target but has none",
                spec.name
            ));
        }
        // Every call of the tool would answer "no channel configured".
        let posts_tool = spec.tools.iter().any(|t| t == "post_message");
        if posts_tool && spec.target.is_none() {
            return Err(format!(
                "WEBHOOK_MCP_AGENTS: agent `{}` has the post_message tool but no `target` \
                 channel to post to; give it a `target` or drop the tool",
                spec.name
            ));
        }
        if let Some(target) = &spec.target
            && spec.result == ResultAction::Forward
        {
            check_forward(target).map_err(|e| {
                format!(
                    "WEBHOOK_MCP_AGENTS: agent `{}` forwards its result to a target it could \
                     never send to: {e}",
                    spec.name
                )
            })?;
        }
        if let Some(target) = &spec.target
            && (posts_tool || spec.result == ResultAction::PostMessage)
        {
            check_channel(target).map_err(|e| {
                format!(
                    "WEBHOOK_MCP_AGENTS: agent `{}` posts to a channel it could never post \
                     to: {e}",
                    spec.name
                )
            })?;
        }
    }
    Ok(specs)
}

/// What `add_command` asks of a `forward` target (an http(s) URL with a host): otherwise every
/// result the agent forwards would fail when sent, long after the start that could have said.
fn check_forward(target: &Target) -> Result<(), crate::engine::command::InvalidCommand> {
    // Results are sent to it as written: only a command's forward renders its URL.
    if crate::engine::url_template::is_template(&target.url) {
        return Err(crate::engine::command::InvalidCommand {
            field: "target.url".into(),
            message: "an agent's target URL is sent to as written, not rendered over an event: \
                      write it out (a command's forward may take a templated URL)"
                .into(),
        });
    }
    // A secret no receiver's library loads would fail every delivery there.
    if let Some(secret) = &target.secret
        && crate::actions::standard_key(secret).is_none()
    {
        return Err(crate::engine::command::InvalidCommand {
            field: "target.secret".into(),
            message: crate::actions::NOT_A_STANDARD_SECRET.into(),
        });
    }
    // Its own headers are sent with each result, as a command's forward sends them.
    crate::engine::target_headers::check(crate::engine::ActionKind::Forward, &target.headers)?;
    check_as_command("forward", None, target)
}

/// `target` held to what `add_command` asks of a command of `action` with `template`.
fn check_as_command(
    action: &str,
    template: Option<&str>,
    target: &Target,
) -> Result<(), crate::engine::command::InvalidCommand> {
    use crate::engine::command;
    let value = serde_json::to_value(target).unwrap_or_default();
    command::check(&command::CommandSpec {
        trigger: "*",
        action,
        agent: None,
        template,
        conditions: &serde_json::Value::Null,
        target: Some(&value),
    })
    .map(|_| ())
}

/// What `add_command` asks of a `post_message` target: otherwise every message the agent
/// posts would go dead (a Telegram one with no chat, an Open WebUI one without `/v1`), or lose
/// what it was given.
fn check_channel(target: &Target) -> Result<(), crate::engine::command::InvalidCommand> {
    use crate::engine::command;
    // The kind as the runner reads it (any case, aliases: `Slack`, `msteams`), in the short
    // name `add_command` takes; an unknown one is left for the check to name.
    let mut target = target.clone();
    if let Some(kind) = target
        .kind
        .as_deref()
        .and_then(|k| k.parse::<crate::actions::MessageKind>().ok())
    {
        target.kind = Some(kind.to_string());
    }
    check_as_command("post_message", Some("x"), &target)?;
    crate::engine::target_headers::check(crate::engine::ActionKind::PostMessage, &target.headers)?;
    command::check_message_target(&target)?;
    command::check_openwebui_path(&target)
}

/// A JSON error with the values it quotes (`invalid type: string "https://hooks…"`,
/// ``unknown variant `https://…` ``) left out: a target URL given where something else was
/// meant may hold a secret. The names it expects (after `expected`) stay.
fn without_strings(error: &str) -> String {
    static QUOTED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"string "(?:[^"\\]|\\.)*"|(variant|field) `[^`]*`"#)
            .expect("a valid pattern")
    });
    QUOTED
        .replace_all(error, |c: &regex::Captures| match c.get(1) {
            Some(kind) => kind.as_str().to_string(),
            None => "string".to_string(),
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TELEGRAM: &str = "https://api.telegram.org";

    #[test]
    fn agents_are_declared_by_json_or_default() {
        let mut settings = AgentSettings::default();
        let names: Vec<String> = declared(&settings, TELEGRAM)
            .expect("defaults")
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["planning", "brain"]);
        settings.agents =
            Some(r#"[{"name": "triage", "result": "none", "tools": ["get_event"]}]"#.into());
        let agents = declared(&settings, TELEGRAM).expect("json");
        assert_eq!(agents[0].result, ResultAction::None);
        settings.agents =
            Some(r#"[{"name": "a", "model": " "}, {"name": "b", "model": " m1 "}]"#.into());
        let models: Vec<_> = declared(&settings, TELEGRAM)
            .expect("models")
            .into_iter()
            .map(|a| a.model)
            .collect();
        assert_eq!(models, [None, Some("m1".to_string())]);
        settings.agents = Some(r#"[{"name": "x", "tools": ["rm_rf"]}]"#.into());
        assert!(declared(&settings, TELEGRAM).unwrap_err().contains("rm_rf"));
        settings.agents = Some(r#"[{"name": "x", "result": "post_message"}]"#.into());
        assert!(
            declared(&settings, TELEGRAM)
                .unwrap_err()
                .contains("target")
        );
        settings.agents = Some(r#"[{"name": "x", "tools": ["post_message"]}]"#.into());
        assert!(
            declared(&settings, TELEGRAM)
                .unwrap_err()
                .contains("post_message tool")
        );
        settings.agents = Some(
            r#"[{"name": "x", "tools": ["post_message"], "target": {"url": "http://c/h"}}]"#.into(),
        );
        assert!(declared(&settings, TELEGRAM).is_ok());
        settings.agents = Some(r#"[{"name": "x", "max_steps": 0}]"#.into());
        assert!(
            declared(&settings, TELEGRAM)
                .unwrap_err()
                .contains("max_steps 0")
        );
        settings.agents =
            Some(r#"[{"name": "a", "max_steps": 1}, {"name": "a", "max_steps": 9}]"#.into());
        assert!(
            declared(&settings, TELEGRAM)
                .unwrap_err()
                .contains("declared twice")
        );
        settings.agents = Some(
            r#"{"name": "n", "target": {"url": "https://hooks.slack.com/services/T/B/SECRETPATH"}}"#
                .into(),
        );
        let refused = declared(&settings, TELEGRAM).unwrap_err();
        assert!(
            refused.contains("one JSON object") && !refused.contains("SECRETPATH"),
            "{refused}"
        );
        for leaky in [
            r#"'[{"name": "n", "target": {"url": "https://hooks.slack.com/services/T/B/SECRETPATH"}}]'"#,
            r#"[{"name": "n", "target": "https://hooks.slack.com/services/T/B/SECRETPATH"}]"#,
            r#"[{"name": "n", "result": "https://hooks.slack.com/services/T/B/SECRETPATH"}]"#,
            r#"[{"name": "n", "https://hooks.slack.com/services/T/B/SECRETPATH": 1}]"#,
        ] {
            settings.agents = Some(leaky.into());
            let refused = declared(&settings, TELEGRAM).unwrap_err();
            assert!(!refused.contains("SECRETPATH"), "{refused}");
        }
    }

    #[test]
    fn an_agents_channel_is_held_to_what_add_command_asks() {
        let declare = |agents: &str, telegram: &str| {
            let settings = AgentSettings {
                agents: Some(agents.into()),
                ..AgentSettings::default()
            };
            declared(&settings, telegram)
        };
        let refused = [
            r#"[{"name": "x", "result": "post_message",
                 "target": {"url": "https://api.telegram.org/bot1:A/sendMessage"}}]"#,
            r#"[{"name": "x", "result": "post_message",
                 "target": {"url": "http://tg-local:8081"}}]"#,
            r#"[{"name": "x", "result": "none", "tools": ["post_message"],
                 "target": {"url": "https://hooks.slack.com/services/T/B/x", "chat_id": 5}}]"#,
        ];
        for agents in refused {
            let error = declare(agents, "http://tg-local:8081").unwrap_err();
            assert!(error.contains("agent `x`"), "{error}");
            assert!(error.contains("target.chat_id"), "{error}");
        }
        // An Open WebUI channel without the `/v1` of its path: a 404 at every post.
        for agents in [
            r#"[{"name": "x", "result": "post_message",
                 "target": {"url": "http://owui:8080/api/channels/webhooks/id/s3cr3t"}}]"#,
            r#"[{"name": "x", "result": "none", "tools": ["post_message"],
                 "target": {"url": "https://chat.example/api/channels/webhooks/id/s3cr3t",
                            "kind": "openwebui"}}]"#,
        ] {
            let error = declare(agents, TELEGRAM).unwrap_err();
            assert!(error.contains("agent `x`"), "{error}");
            assert!(
                error.contains("/api/v1/channels/webhooks/{id}/{token}"),
                "{error}"
            );
            assert!(!error.contains("s3cr3t"), "{error}");
        }
        let with_v1 = r#"[{"name": "x", "result": "post_message",
                           "target": {"url": "http://owui:8080/api/v1/channels/webhooks/id/t"}}]"#;
        assert!(declare(with_v1, TELEGRAM).is_ok());
        let bad_url = r#"[{"name": "x", "result": "post_message", "target": {"url": "ftp://h"}}]"#;
        assert!(
            declare(bad_url, TELEGRAM)
                .unwrap_err()
                .contains("target.url")
        );
        // A forward's target is signed and takes none of this.
        let forward = r#"[{"name": "x", "result": "forward",
                           "target": {"url": "http://h/in", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}]"#;
        assert!(declare(forward, TELEGRAM).is_ok());
        // A secret no Standard Webhooks library loads would fail every delivery.
        for secret in ["bad", "whsec_", "whsec_!!"] {
            let agents = format!(
                r#"[{{"name": "x", "result": "forward",
                     "target": {{"url": "http://h/in", "secret": "{secret}"}}}}]"#
            );
            let error = declare(&agents, TELEGRAM).unwrap_err();
            assert!(error.contains("target.secret"), "{secret}: {error}");
        }
        // Its own headers are held to what add_command asks of a forward's, and a channel
        // takes none.
        let headers = r#"[{"name": "x", "result": "forward",
                           "target": {"url": "http://h/in", "headers": {"Authorization": "Bearer t"}}}]"#;
        assert!(declare(headers, TELEGRAM).is_ok());
        for (result, headers, field) in [
            ("forward", r#"{"Host": "h"}"#, "target.headers.Host"),
            ("forward", r#"{"X-A": "a\r\nb"}"#, "target.headers.X-A"),
            ("post_message", r#"{"X-A": "a"}"#, "target.headers"),
        ] {
            let agents = format!(
                r#"[{{"name": "x", "result": "{result}",
                     "target": {{"url": "https://chat.example/in", "headers": {headers}}}}}]"#
            );
            let error = declare(&agents, TELEGRAM).unwrap_err();
            assert!(error.contains(field), "{headers}: {error}");
        }
        // Yet its URL is one a forward command could have: not a scheme nothing sends to.
        for url in [
            "ftp://h/in",
            "not a url",
            "http://",
            "https://h/in/{{ issue.number }}",
        ] {
            let agents =
                format!(r#"[{{"name": "x", "result": "forward", "target": {{"url": "{url}"}}}}]"#);
            let error = declare(&agents, TELEGRAM).unwrap_err();
            assert!(error.contains("forwards its result"), "{url}: {error}");
            assert!(error.contains("target.url"), "{url}: {error}");
        }
        // A kind the runner reads (any case, an alias) is taken as it was before the check.
        for kind in ["Slack", "msteams", "open-webui", " slack"] {
            let agents = format!(
                r#"[{{"name": "x", "result": "post_message",
                     "target": {{"url": "https://chat.example/in", "kind": "{kind}"}}}}]"#
            );
            assert!(declare(&agents, TELEGRAM).is_ok(), "{kind}");
        }
        // On TELEGRAM_API_URL's host, the channel is named Telegram's.
        let local = r#"[{"name": "x", "result": "post_message",
                         "target": {"url": "http://tg-local:8081", "chat_id": 5}}]"#;
        let agents = declare(local, "http://tg-local:8081").expect("declared");
        let target = agents[0].target.as_ref().expect("target");
        assert_eq!(target.kind.as_deref(), Some("telegram"));
    }

    #[test]
    fn an_agents_channel_given_as_open_webuis_copied_path_is_taken_on_openwebui_url() {
        let agents = r#"[{"name": "x", "result": "post_message",
                          "target": {"url": "/api/v1/channels/webhooks/ch1/s3cr3t"}}]"#;
        let settings = |base: Option<&str>| AgentSettings {
            agents: Some(agents.into()),
            openwebui_url: base.map(str::to_string),
            ..AgentSettings::default()
        };

        let made =
            declared(&settings(Some("http://open-webui:8080/")), TELEGRAM).expect("declared");
        let refused = declared(&settings(None), TELEGRAM).unwrap_err();

        let target = made[0].target.as_ref().expect("target");
        assert_eq!(
            target.url,
            "http://open-webui:8080/api/v1/channels/webhooks/ch1/s3cr3t"
        );
        assert!(
            refused.contains("agent `x`")
                && refused.contains("OPENWEBUI_URL")
                && !refused.contains("s3cr3t"),
            "{refused}"
        );
    }
}
