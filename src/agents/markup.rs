//! The markup an agent's words are shown in where they go: what the model is told to write
//! (its system prompt and tool descriptions), and how its answer is framed when posted.

use super::{AgentSpec, ResultAction};
use crate::actions::{MessageKind, guess_kind};
use crate::providers::SourceRef;
use crate::store::tasks::TaskRow;

/// What a destination renders. A Markdown heading shows as `###` in Slack and Jira.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Markup {
    Markdown,
    /// Slack's mrkdwn: `*bold*`, `_italic_`.
    Slack,
    /// Jira's wiki markup (REST API v2 comments): `h3.`, `----`.
    JiraWiki,
    /// Telegram without a parse mode.
    Plain,
}

impl Markup {
    /// Of a reply on a source of `kind` (`jira.issue`, `slack.thread`, …).
    pub fn of_source(kind: Option<&str>) -> Markup {
        match kind {
            Some(kind) if kind.starts_with("slack.") => Markup::Slack,
            Some("jira.issue") => Markup::JiraWiki,
            _ => Markup::Markdown,
        }
    }

    /// Of a message to a channel of `kind`.
    pub fn of_channel(kind: MessageKind) -> Markup {
        match kind {
            MessageKind::Slack => Markup::Slack,
            MessageKind::Telegram => Markup::Plain,
            _ => Markup::Markdown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Markup::Markdown => "Markdown",
            Markup::Slack => "Slack mrkdwn",
            Markup::JiraWiki => "Jira wiki markup",
            Markup::Plain => "plain text",
        }
    }

    /// How to write in it, for a model that knows Markdown best.
    fn forms(self) -> &'static str {
        match self {
            Markup::Markdown => {
                "### headings, **bold**, `code`, ``` fenced blocks, [text](url) links, - bullets, \
                 1. numbered lists"
            }
            Markup::Slack => {
                "not Markdown: *bold*, _italic_, `code`, ``` blocks, <url> links (a label, \
                 <url|text>, is shown followed by its URL), - bullets; \
                 no # headings, no **double stars**"
            }
            Markup::JiraWiki => {
                "not Markdown: h3. headings, *bold*, _italic_, {{monospace}}, {code}…{code} \
                 blocks, [text|url] links, * bullets, # numbered lists; no ### headings, no \
                 **double stars**, no ``` fences"
            }
            Markup::Plain => "no markup at all",
        }
    }
}

/// Where a task's words are shown: replies on its event's source, messages to the agent's
/// channel, and its final answer (per the agent's `result`).
pub struct Destinations {
    pub source: Markup,
    source_place: &'static str,
    /// Whether the event has a thread its replies go on.
    threaded: bool,
    pub channel: Markup,
    result: ResultAction,
}

impl Destinations {
    pub fn of(agent: &AgentSpec, task: &TaskRow) -> Self {
        let source: Option<SourceRef> = task
            .source
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let kind = source.as_ref().map(|s| s.kind.as_str());
        Destinations {
            source: Markup::of_source(kind),
            source_place: place(kind),
            threaded: kind.is_some_and(crate::engine::plan::has_thread),
            channel: channel_kind(agent).map_or(Markup::Markdown, Markup::of_channel),
            result: agent.result,
        }
    }

    /// What the system prompt says of the markup to write in.
    pub fn instructions(&self) -> String {
        let (source, channel) = (self.source, self.channel);
        let mut said = if self.threaded {
            format!(
                "Your tools reply on the event's own source: comments and questions there are \
                 shown on {}, which renders {} ({}).",
                self.source_place,
                source.name(),
                source.forms()
            )
        } else {
            "This event has no thread to reply on: nothing you write goes back to its sender."
                .to_string()
        };
        said.push(' ');
        said.push_str(&match self.result {
            ResultAction::Comment if self.threaded => {
                format!("Write your final answer in {} too.", source.name())
            }
            ResultAction::PostMessage => format!(
                "Your final answer goes to this agent's channel: write it in {} ({}).",
                channel.name(),
                channel.forms()
            ),
            ResultAction::Comment | ResultAction::Forward | ResultAction::None => {
                "Your final answer is kept as data: write it in Markdown.".to_string()
            }
        });
        said
    }
}

/// The kind of the agent's channel, where it has one.
pub fn channel_kind(agent: &AgentSpec) -> Option<MessageKind> {
    agent.target.as_ref().map(|t| {
        t.kind
            .as_deref()
            .and_then(|k| k.parse().ok())
            .unwrap_or_else(|| guess_kind(&t.url))
    })
}

/// Where a source of `kind` is, for the model.
fn place(kind: Option<&str>) -> &'static str {
    match kind.and_then(|k| k.split('.').next()) {
        Some("github") => "GitHub",
        Some("gitlab") => "GitLab",
        Some("jira") => "Jira",
        Some("slack") => "Slack",
        Some("linear") => "Linear",
        Some("openwebui") => "Open WebUI",
        _ => "the event's source",
    }
}
