//! Commands: what a webhook does with a matching event. This module checks a command when it
//! is saved (so a broken trigger, condition, template or target is refused then, with the field
//! named) and compiles it into the form the matcher runs.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::conditions::Conditions;
use super::template;
use super::trigger::Trigger;
use crate::actions::{MessageKind, guess_kind, guess_kind_on, takes_chat_id};

/// What a command does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Queue a task for an agent with the rendered prompt.
    CreateTask,
    /// Post the rendered text on the source (issue comment, Slack thread reply, ...).
    Comment,
    /// Post a question on the source and wait for the reply.
    Ask,
    /// Answer the sender (HTTP response, Slack response_url, else a comment).
    Respond,
    /// POST the event or rendered body to another URL, signed.
    Forward,
    /// Post the rendered text to a chat channel (Open WebUI, Slack, Discord, Teams, Telegram).
    PostMessage,
}

impl ActionKind {
    pub const ALL: [ActionKind; 6] = [
        ActionKind::CreateTask,
        ActionKind::Comment,
        ActionKind::Ask,
        ActionKind::Respond,
        ActionKind::Forward,
        ActionKind::PostMessage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::CreateTask => "create_task",
            ActionKind::Comment => "comment",
            ActionKind::Ask => "ask",
            ActionKind::Respond => "respond",
            ActionKind::Forward => "forward",
            ActionKind::PostMessage => "post_message",
        }
    }

    /// Whether its `target` is a chat channel: a `post_message`'s, and a `create_task`'s, whose
    /// task's result is posted there.
    pub fn posts_to_channel(self) -> bool {
        matches!(self, ActionKind::PostMessage | ActionKind::CreateTask)
    }
}

/// [`ActionKind::posts_to_channel`] of an action as stored.
pub fn posts_to_channel(action: &str) -> bool {
    action
        .trim()
        .parse::<ActionKind>()
        .is_ok_and(ActionKind::posts_to_channel)
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        ActionKind::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or(())
    }
}

/// Where `forward` and `post_message` send to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The URL to POST to (an Open WebUI channel webhook URL, a Slack incoming webhook, ...).
    pub url: String,
    /// `forward`: the Standard Webhooks secret (`whsec_...`) the request is signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// `post_message`: the payload shape: openwebui, slack, discord, teams or telegram.
    /// Guessed from the URL when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `post_message` to Telegram: the chat to post in (a number, as Telegram names chats, or
    /// text).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::mcp::args::lenient::text_or_number"
    )]
    pub chat_id: Option<String>,
    /// `post_message` to Telegram: the forum topic to post in (Telegram's
    /// `message_thread_id`), in a group with topics; none posts to its General topic.
    #[serde(
        default,
        alias = "message_thread_id",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::mcp::args::lenient::text_or_number"
    )]
    pub thread_id: Option<String>,
    /// `forward`: headers of its own, name → value (an API's `Authorization`, say), sent with
    /// every attempt. Values are secrets: sealed at rest as `secret` is, and masked wherever
    /// the target is shown (see `target_headers`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl Target {
    /// The payload shape a `post_message` sends: as given, else guessed from the URL.
    pub fn message_kind(&self) -> Result<MessageKind, String> {
        match &self.kind {
            Some(k) => k
                .parse::<MessageKind>()
                .map_err(|_| format!("unknown message kind `{k}`")),
            None => Ok(guess_kind(&self.url)),
        }
    }

    /// Names a target with no `kind` on `TELEGRAM_API_URL`'s host and path (a local Bot API
    /// server, say) `telegram`: it is sent by its URL alone, which would be taken as Open
    /// WebUI's. A Bot API URL anywhere is Telegram's by itself and is left as given.
    pub fn name_telegram_kind(&mut self, telegram_api_url: &str) {
        if self.kind.is_none()
            && guess_kind_on(&self.url, telegram_api_url) == MessageKind::Telegram
            && guess_kind(&self.url) != MessageKind::Telegram
        {
            self.kind = Some("telegram".into());
        }
    }
}

const MESSAGE_KINDS: [&str; 5] = ["openwebui", "slack", "discord", "teams", "telegram"];

/// A command as written by a user, before checking.
#[derive(Debug, Clone)]
pub struct CommandSpec<'a> {
    pub trigger: &'a str,
    pub action: &'a str,
    pub agent: Option<&'a str>,
    pub template: Option<&'a str>,
    pub conditions: &'a Value,
    pub target: Option<&'a Value>,
}

/// Why a command cannot be saved, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidCommand {
    pub field: String,
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> InvalidCommand {
    InvalidCommand {
        field: field.into(),
        message: message.into(),
    }
}

/// A checked command, ready to match events.
#[derive(Debug, Clone)]
pub struct CompiledCommand {
    pub id: String,
    pub trigger: Trigger,
    pub conditions: Conditions,
    pub action: ActionKind,
    pub priority: i64,
    pub stop: bool,
    /// When it fires, for a command with trigger `schedule`: such a command matches no event.
    pub schedule: Option<super::schedule::Schedule>,
}

/// Checks every part of a command; the first problem found is returned.
pub fn check(spec: &CommandSpec<'_>) -> Result<(Trigger, Conditions, ActionKind), InvalidCommand> {
    let trigger = Trigger::parse(spec.trigger).map_err(|m| invalid("trigger", m))?;
    let action: ActionKind = spec.action.parse().map_err(|()| {
        invalid(
            "action",
            format!(
                "unknown action `{}`; use one of {}",
                crate::quote::quoted(spec.action),
                ActionKind::ALL.map(ActionKind::as_str).join(", ")
            ),
        )
    })?;
    let conditions =
        Conditions::compile(spec.conditions).map_err(|e| invalid(&e.path, e.message))?;

    match (action, spec.agent.map(str::trim)) {
        (ActionKind::CreateTask, None | Some("")) => {
            return Err(invalid(
                "agent",
                "create_task needs `agent`: the name of the agent that takes the task (e.g. planning)",
            ));
        }
        (_, Some(agent)) if !is_name(agent) => {
            return Err(invalid(
                "agent",
                "agent names use letters, digits, `-` and `_` (at most 64)",
            ));
        }
        _ => {}
    }

    let sends_text = matches!(
        action,
        ActionKind::Comment | ActionKind::Ask | ActionKind::Respond | ActionKind::PostMessage
    );
    match spec.template {
        Some(source) if sends_text && source.trim().is_empty() => {
            return Err(invalid(
                "template",
                format!("{action} would send nothing: `template` is empty"),
            ));
        }
        Some(source) => template::validate(source).map_err(|m| invalid("template", m))?,
        None if sends_text => {
            // A tick has no issue: its example names what a tick's payload holds.
            let example = if spec.trigger.trim() == super::schedule::EVENT_TYPE {
                "Daily report for {{scheduled_for_local}}"
            } else {
                "Thanks, looking at {{issue.title}}"
            };
            return Err(invalid(
                "template",
                format!("{action} needs `template`: the text to send, e.g. \"{example}\""),
            ));
        }
        None => {}
    }

    check_target(action, spec.target)?;
    Ok((trigger, conditions, action))
}

/// The most a command's conditions may hold, in bytes of their JSON: every delivery to the
/// webhook is tested against them on the receive path, and real ones (labels, a few names
/// and phrases, an `any` of a handful) are a few hundred bytes.
const MAX_CONDITIONS_BYTES: usize = 16 * 1024;

/// The most a command's target may hold, in bytes of its JSON: a URL, a chat or channel id,
/// a signing key and a few headers.
const MAX_TARGET_BYTES: usize = 16 * 1024;

/// Refuses conditions given now (`json`, as they are stored) past [`MAX_CONDITIONS_BYTES`].
/// Not part of [`check`], which stored commands go through too: one saved before the limit
/// still runs, and can still be disabled or changed.
pub fn check_new_conditions_size(json: &str) -> Result<(), InvalidCommand> {
    check_size(
        "conditions",
        json.len(),
        MAX_CONDITIONS_BYTES,
        "list fewer or shorter values: they are tested on every delivery",
    )
}

/// Refuses a target given now past [`MAX_TARGET_BYTES`], as [`check_new_conditions_size`].
pub fn check_new_target_size(json: &str) -> Result<(), InvalidCommand> {
    check_size(
        "target",
        json.len(),
        MAX_TARGET_BYTES,
        "a URL, an id, a signing key and a few headers fit well within it",
    )
}

fn check_size(field: &str, bytes: usize, max: usize, advice: &str) -> Result<(), InvalidCommand> {
    if bytes > max {
        return Err(invalid(
            field,
            format!(
                "`{field}` is {bytes} bytes as JSON, more than the {max} a command's may be: \
                 {advice}"
            ),
        ));
    }
    Ok(())
}

fn check_target(action: ActionKind, target: Option<&Value>) -> Result<(), InvalidCommand> {
    let needs_target = matches!(action, ActionKind::Forward | ActionKind::PostMessage);
    let target = match target.filter(|t| !t.is_null()) {
        None if needs_target => {
            return Err(invalid(
                "target",
                format!("{action} needs `target`: {{\"url\": \"https://...\"}}"),
            ));
        }
        None => return Ok(()),
        // A create_task's is the channel its task's result is posted to.
        Some(_) if !needs_target && action != ActionKind::CreateTask => {
            return Err(invalid(
                "target",
                format!("{action} replies on the event's source and takes no target"),
            ));
        }
        Some(t) => t,
    };
    if target.is_array() {
        // serde would read a list as the target's fields in order, its secret unnamed.
        return Err(invalid(
            "target",
            "target must be a URL or an object such as {\"url\": \"https://...\"}, not a list",
        ));
    }
    super::target_headers::check_shape(target)?;
    let target: Target = serde_json::from_value(target.clone())
        .map_err(|e| invalid("target", format!("invalid target: {e}")))?;
    // Said as such: the URL parser's words for it are "relative URL without a base".
    if target.url.trim().is_empty() {
        return Err(invalid(
            "target.url",
            "the URL is empty: give the http(s)://host/... to send to",
        ));
    }
    if super::url_template::is_template(&target.url) {
        // Only a forward renders its URL; a channel is posted to at the URL written.
        if action != ActionKind::Forward {
            return Err(invalid(
                "target.url",
                format!(
                    "only a forward's URL may be a template; a {action} posts to the channel its \
                     URL names, written out"
                ),
            ));
        }
        super::url_template::check(&target.url).map_err(|m| invalid("target.url", m))?;
    }
    let url = reqwest::Url::parse(&target.url)
        .map_err(|e| invalid("target.url", format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(
            "target.url",
            "target URL must be http(s)://host/...",
        ));
    }
    if let Some(kind) = &target.kind
        && !MESSAGE_KINDS.contains(&kind.as_str())
    {
        return Err(invalid(
            "target.kind",
            format!(
                "unknown kind `{}`; use one of {}",
                crate::quote::quoted(kind),
                MESSAGE_KINDS.join(", ")
            ),
        ));
    }
    Ok(())
}

/// What is said of a new command's `agent` where its action starts none: only `create_task`
/// and `ask` start an agent; any other action sends its template as written, so an agent
/// named there (as configurations written by hand often do, to say who speaks) is left out
/// rather than stored and never run. `None` where the agent is used, or none is named.
pub fn unused_agent(action: ActionKind, agent: Option<&str>) -> Option<String> {
    let agent = agent.map(str::trim).filter(|a| !a.is_empty())?;
    let sends = match action {
        ActionKind::CreateTask | ActionKind::Ask => return None,
        ActionKind::Forward => "the event (or its rendered template)",
        _ => "its rendered template",
    };
    Some(format!(
        "{action} sends {sends} as it is and runs no agent, so agent `{agent}` was left out: to \
         have the agent write it, use create_task with agent `{agent}` (its result goes where \
         the agent is declared to send it)"
    ))
}

/// What a saved target must also hold, beyond [`check`]. Kept out of `check` because stored
/// commands are compiled through it on every event, and one it refuses is skipped: a command
/// an older build accepted with a stray `secret` would stop firing, unseen.
pub fn check_new_target(action: ActionKind, target: &Target) -> Result<(), InvalidCommand> {
    super::target_headers::check(action, &target.headers)?;
    if !action.posts_to_channel() {
        return Ok(());
    }
    // Only forwards are signed; a secret here would look like it protected something.
    if target.secret.is_some() {
        return Err(invalid(
            "target.secret",
            format!(
                "{action} posts to a channel, which is not signed, so it takes no `secret` \
                 (only forward signs what it sends): leave it out"
            ),
        ));
    }
    check_message_target(target)?;
    check_openwebui_path(target)
}

/// Open WebUI serves its channel webhooks under `/api/v1`; the same path without `/v1`, as
/// it is often copied, answers every post with a bare 404. Agents' channels are held to it
/// at start too.
pub fn check_openwebui_path(target: &Target) -> Result<(), InvalidCommand> {
    if target.message_kind() != Ok(MessageKind::OpenWebUi) {
        return Ok(());
    }
    let Ok(url) = reqwest::Url::parse(&target.url) else {
        return Ok(());
    };
    let segments: Vec<&str> = url.path_segments().into_iter().flatten().collect();
    // The id and token after `channels/webhooks`, nothing more: a URL cut short (no token)
    // or ending in `/` is refused by Open WebUI on every post.
    if let Some(at) = segments
        .windows(2)
        .position(|w| w == ["channels", "webhooks"])
    {
        let rest = &segments[at + 2..];
        if rest.len() != 2 || rest.iter().any(|s| s.is_empty()) {
            return Err(invalid(
                "target.url",
                "Open WebUI's channel webhook URL ends `/channels/webhooks/{id}/{token}`, and \
                 this one does not (a token missing, or a `/` after it): copy the whole URL \
                 from the channel's webhook settings",
            ));
        }
    }
    let unversioned = segments
        .windows(3)
        .any(|w| w == ["api", "channels", "webhooks"]);
    if !unversioned {
        return Ok(());
    }
    Err(invalid(
        "target.url",
        "Open WebUI's channel webhooks are at `/api/v1/channels/webhooks/{id}/{token}`, and \
         this URL's path lacks the `/v1` (every post to it would be refused: 405 from Open WebUI \
         0.12, 404 from others): put `/v1` after `/api`",
    ))
}

/// What a `post_message` target must hold for its kind: Telegram's a `chat_id`, and the
/// others none, since their URL is the channel and a `chat_id` would be dropped unseen.
/// Agents' channels are held to it at start too.
pub fn check_message_target(target: &Target) -> Result<(), InvalidCommand> {
    let Ok(kind) = target.message_kind() else {
        return Ok(());
    };
    let chat_id = target.chat_id.as_deref().filter(|c| !c.trim().is_empty());
    match chat_id {
        None if takes_chat_id(kind) => Err(invalid(
            "target.chat_id",
            "a Telegram message needs `chat_id`: the chat to post in (e.g. -1001234567890)",
        )),
        // Telegram's chats are numbers (`-1001234567890`) or a public one's `@username`: a
        // `1.5`, or a number too large to be kept whole (`1e+23`), is no chat.
        Some(id) if takes_chat_id(kind) && !is_telegram_chat(id.trim()) => Err(invalid(
            "target.chat_id",
            format!(
                "`{}` is no Telegram chat: give the chat's number (e.g. -1001234567890, a whole \
                 number) or a public channel's `@username`",
                crate::quote::quoted(id)
            ),
        )),
        Some(_) if !takes_chat_id(kind) => Err(invalid(
            "target.chat_id",
            format!(
                "a {kind} message goes to the channel its URL names and takes no `chat_id` \
                 (only Telegram's does): leave it out, or give `kind: \"telegram\"` if the URL \
                 is a Telegram Bot API one"
            ),
        )),
        _ => check_thread(target, kind),
    }
}

/// A Telegram forum topic's id: a positive whole number, on a Telegram target only (Discord
/// names its thread in its URL's `thread_id`; the others have no threads to name).
fn check_thread(target: &Target, kind: MessageKind) -> Result<(), InvalidCommand> {
    let Some(id) = target.thread_id.as_deref().map(str::trim) else {
        return Ok(());
    };
    if !takes_chat_id(kind) {
        return Err(invalid(
            "target.thread_id",
            format!(
                "a {kind} message takes no `thread_id` (only Telegram's, a forum topic's id): \
                 leave it out{}",
                if kind == MessageKind::Discord {
                    "; a Discord thread goes in the webhook URL's query, `?thread_id=…`"
                } else {
                    ""
                }
            ),
        ));
    }
    let number = id
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=i64::MAX as u64).contains(n));
    if number.is_none() {
        return Err(invalid(
            "target.thread_id",
            format!(
                "`{}` is no Telegram forum topic: give the topic's id, a positive whole number \
                 (the last number of a link to a message in it, `t.me/c/…/<topic>/…`)",
                crate::quote::quoted(id)
            ),
        ));
    }
    Ok(())
}

/// A Telegram `chat_id`: a whole number, or `@` and a public chat's username.
fn is_telegram_chat(id: &str) -> bool {
    match id.strip_prefix('@') {
        Some(name) => {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
        None => {
            let digits = id.strip_prefix('-').unwrap_or(id);
            !digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit())
        }
    }
}

/// Letters, digits, `-`, `_`; 1 to 64 characters.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec<'a>(trigger: &'a str, action: &'a str, conditions: &'a Value) -> CommandSpec<'a> {
        CommandSpec {
            trigger,
            action,
            agent: None,
            template: Some("Hi {{issue.title}}"),
            conditions,
            target: None,
        }
    }

    #[test]
    fn commands_are_refused_with_the_field_named() {
        let none = Value::Null;
        let bad_cond = json!({"lables": ["bug"]});
        let url = json!({"url": "ftp://x"});
        let cases: Vec<(CommandSpec<'_>, &str)> = vec![
            (spec("", "comment", &none), "trigger"),
            (spec("issues.opened", "explode", &none), "action"),
            (
                CommandSpec {
                    agent: None,
                    ..spec("issues.opened", "create_task", &none)
                },
                "agent",
            ),
            (
                CommandSpec {
                    agent: Some("bad name"),
                    ..spec("x", "comment", &none)
                },
                "agent",
            ),
            (
                CommandSpec {
                    template: Some("{{ x "),
                    ..spec("x", "comment", &none)
                },
                "template",
            ),
            (
                CommandSpec {
                    template: None,
                    ..spec("x", "comment", &none)
                },
                "template",
            ),
            (
                CommandSpec {
                    template: Some("  \n"),
                    ..spec("x", "post_message", &none)
                },
                "template",
            ),
            (spec("x", "comment", &bad_cond), "conditions.lables"),
            (spec("x", "forward", &none), "target"),
            (
                CommandSpec {
                    target: Some(&url),
                    ..spec("x", "forward", &none)
                },
                "target.url",
            ),
            (
                CommandSpec {
                    target: Some(&url),
                    ..spec("x", "comment", &none)
                },
                "target",
            ),
        ];
        for (spec, field) in cases {
            let err = check(&spec).expect_err("should be refused");
            assert_eq!(err.field, field, "{spec:?}: {err}");
        }
    }

    #[test]
    fn an_agent_is_left_out_with_a_word_where_the_action_runs_none() {
        for action in ActionKind::ALL {
            let said = unused_agent(action, Some("brain"));
            match action {
                ActionKind::CreateTask | ActionKind::Ask => assert_eq!(said, None),
                _ => {
                    let said = said.expect("should be said");
                    assert!(
                        said.contains("use create_task with agent `brain`"),
                        "{action}: {said}"
                    );
                }
            }
            // None, or `""` (which removes it), says nothing.
            assert_eq!(unused_agent(action, None), None);
            assert_eq!(unused_agent(action, Some(" ")), None);
        }
    }

    #[test]
    fn a_create_task_target_is_a_channel_and_held_to_what_a_channel_takes() {
        let none = Value::Null;
        let url = json!({"url": "https://hooks.slack.com/services/T0/B0/x"});
        let checked = check(&CommandSpec {
            agent: Some("planning"),
            target: Some(&url),
            ..spec("x", "create_task", &none)
        });
        assert!(checked.is_ok(), "{:?}", checked.err());
        let channel = |more: Value| {
            let mut t = json!({"url": "https://hooks.slack.com/services/T0/B0/x"});
            t.as_object_mut()
                .expect("object")
                .extend(more.as_object().expect("object").clone());
            serde_json::from_value::<Target>(t).expect("a target")
        };
        let cases = [
            (channel(json!({})), None),
            (channel(json!({"secret": "whsec_x"})), Some("target.secret")),
            (
                channel(json!({"headers": {"Authorization": "Bearer x"}})),
                Some("target.headers"),
            ),
        ];
        for (target, refused) in cases {
            let checked = check_new_target(ActionKind::CreateTask, &target);
            assert_eq!(checked.err().map(|e| e.field), refused.map(str::to_string));
        }
    }

    #[test]
    fn an_open_webui_channel_url_without_v1_is_refused() {
        let target = |url: &str, kind: Option<&str>| Target {
            url: url.into(),
            secret: None,
            kind: kind.map(str::to_string),
            chat_id: None,
            thread_id: None,
            headers: BTreeMap::new(),
        };
        let refused = [
            target(
                "http://open-webui:8080/api/channels/webhooks/id/s3cr3t",
                None,
            ),
            target(
                "https://chat.example/api/channels/webhooks/id/s3cr3t",
                Some("openwebui"),
            ),
            target("http://gw/owui/api/channels/webhooks/id/s3cr3t", None),
        ];
        for t in refused {
            let err = check_new_target(ActionKind::PostMessage, &t).expect_err(&t.url);
            assert_eq!(err.field, "target.url");
            assert!(
                err.message
                    .contains("/api/v1/channels/webhooks/{id}/{token}"),
                "{}",
                err.message
            );
            // The URL's token is not echoed back.
            assert!(!err.message.contains("s3cr3t"), "{}", err.message);
        }
        for cut in [
            "http://open-webui:8080/api/v1/channels/webhooks/id",
            "http://open-webui:8080/api/v1/channels/webhooks/id/tok/",
            "http://open-webui:8080/api/v1/channels/webhooks//tok",
        ] {
            let err = check_new_target(ActionKind::PostMessage, &target(cut, None)).expect_err(cut);
            assert!(
                err.message.contains("copy the whole URL"),
                "{cut}: {}",
                err.message
            );
        }
        let taken = [
            target(
                "http://open-webui:8080/api/v1/channels/webhooks/id/tok",
                None,
            ),
            // Another kind's URL is its own business.
            target(
                "https://example.com/api/channels/webhooks/id/tok",
                Some("slack"),
            ),
        ];
        for t in taken {
            assert_eq!(
                check_new_target(ActionKind::PostMessage, &t),
                Ok(()),
                "{}",
                t.url
            );
        }
    }

    #[test]
    fn seed_commands_are_accepted() {
        let labels = json!({"labels": ["bug", "enhancement"]});
        let agent = json!({"body_contains": "@agent"});
        let channel = json!({"channel": "#engineering"});
        let none = Value::Null;
        let cases = [
            CommandSpec {
                agent: Some("planning"),
                template: Some("Analyze issue: {{issue.title}}\n\n{{issue.body}}"),
                ..spec("issues.opened", "create_task", &labels)
            },
            CommandSpec {
                agent: Some("brain"),
                template: Some("User asked: {{comment.body}}"),
                ..spec("issue_comment.created", "ask", &agent)
            },
            CommandSpec {
                agent: Some("planning"),
                template: Some("New Jira ticket: {{issue.key}} - {{issue.summary}}"),
                ..spec("jira:issue_created", "create_task", &none)
            },
            CommandSpec {
                agent: Some("brain"),
                template: Some("Processing your request: {{text}}"),
                ..spec("message.channels", "respond", &channel)
            },
        ];
        for c in cases {
            assert!(check(&c).is_ok(), "{c:?}: {:?}", check(&c));
        }
    }
}
