//! Planning: turns the commands an event fired into concrete work — outbound deliveries for
//! the outbox, tasks for agents, or an answer in the webhook's own HTTP response. Pure: the
//! receiver calls it before its one write, and the result is stored with the event.
//!
//! Where a reply goes is decided here from the event's source, never from anything a command
//! or payload could point elsewhere: a comment on a GitHub event goes to that issue. Where
//! it goes also decides how a template's values are escaped (Slack's text has markup).

use serde_json::Value;

use super::command::{ActionKind, Target};
use super::template;
use crate::actions::{self, Delivery, GitlabNoun, MessageKind, slack_markup};
use crate::providers::{Provider, SourceRef};
use crate::text_cut;

/// A fired command, with what planning needs of it.
#[derive(Debug, Clone)]
pub struct Fired<'a> {
    pub command_id: &'a str,
    pub action: ActionKind,
    pub agent: Option<&'a str>,
    pub template: Option<&'a str>,
    pub target: Option<Target>,
}

/// The event as planning sees it.
#[derive(Debug, Clone)]
pub struct EventView<'a> {
    pub provider: Provider,
    pub event_type: &'a str,
    pub payload: &'a Value,
    pub source: Option<&'a SourceRef>,
    /// The template context (payload + event + webhook), built once.
    pub context: &'a minijinja::Value,
    /// The body as kept (without a credential in it), forwarded as is when a forward command
    /// has no template.
    pub body: &'a [u8],
}

/// One unit of planned work.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    /// Send through the outbox. `Err` holds why it cannot be sent (a template error, a source
    /// with nowhere to reply): stored as a dead action so the event log shows it.
    Send {
        command_id: String,
        action: ActionKind,
        delivery: Result<Delivery, String>,
        /// `ask`: the agent whose task waits for the reply, and the question.
        ask: Option<(String, String)>,
    },
    /// A task for an agent.
    Task {
        command_id: String,
        agent: String,
        prompt: String,
    },
    /// Answer in the receiver's HTTP response (Slack slash commands and interactivity, custom).
    Inline { command_id: String, body: Value },
}

/// Plans every fired command, in order. At most one `respond` is answered inline.
pub fn plan(fired: &[Fired<'_>], event: &EventView<'_>) -> Vec<Planned> {
    let mut answered_inline = false;
    fired
        .iter()
        .map(|c| {
            let text = text_of(c, event);
            let command_id = c.command_id.to_string();
            match c.action {
                ActionKind::CreateTask => match text {
                    Ok(prompt) => Planned::Task {
                        command_id,
                        agent: c.agent.unwrap_or(crate::agents::ASK_AGENT).to_string(),
                        prompt,
                    },
                    Err(e) => Planned::Send {
                        command_id,
                        action: c.action,
                        delivery: Err(e),
                        ask: None,
                    },
                },
                ActionKind::Respond => {
                    // Slack's answer to a slash command or button, in the HTTP answer or to its
                    // `response_url`, takes no more than a message in its thread would.
                    let text = text.map(|t| fit(t, place_limit(c, event)));
                    if !answered_inline
                        && let Ok(text) = &text
                        && let Some(body) = inline_body(event, text)
                    {
                        answered_inline = true;
                        return Planned::Inline { command_id, body };
                    }
                    Planned::Send {
                        command_id,
                        action: c.action,
                        delivery: text.and_then(|t| respond_delivery(event, t)),
                        ask: None,
                    }
                }
                ActionKind::Comment | ActionKind::Ask => {
                    let ask = match (&c.action, &text) {
                        (ActionKind::Ask, Ok(q)) => Some((
                            c.agent.unwrap_or(crate::agents::ASK_AGENT).to_string(),
                            q.clone(),
                        )),
                        _ => None,
                    };
                    Planned::Send {
                        command_id,
                        action: c.action,
                        delivery: text.and_then(|t| reply_on_source(event.source, t)),
                        ask,
                    }
                }
                ActionKind::Forward => Planned::Send {
                    command_id,
                    action: c.action,
                    delivery: forward(c, event, text),
                    ask: None,
                },
                ActionKind::PostMessage => Planned::Send {
                    command_id,
                    action: c.action,
                    delivery: text.and_then(|t| post_message(c.target.as_ref(), t)),
                    ask: None,
                },
            }
        })
        .collect()
}

/// The command's text for this event, as it would be sent (test_webhook's report shows it):
/// rendered for where it goes, and refused when a message would be empty.
pub fn text_of(c: &Fired<'_>, event: &EventView<'_>) -> Result<String, String> {
    let text = match (c.template, c.action) {
        (Some(source), ActionKind::Forward) => forward_body(source, event),
        // Without a template a forward passes the event on as it was kept.
        (None, ActionKind::Forward) => Ok(String::from_utf8_lossy(event.body).into_owned()),
        // Text quoting more than a render keeps (a long issue) is sent cut, as a reply longer
        // than its place is; a prompt too, whose task carries the whole payload as data.
        (Some(source), _) => {
            template::render_cut(source, event.context, escape(c, event)).map(|r| {
                let text = match r.left_out {
                    None => r.text,
                    Some(left) => cut(r.text, place_limit(c, event), Some(left)),
                };
                if comments_on(c, event, "gitlab.") {
                    crate::actions::broadcasts::gitlab_note(source, &text)
                } else if comments_on(c, event, "github.") {
                    crate::actions::broadcasts::github_comment(source, &text)
                } else if escape(c, event) == template::Escape::BackToSlack {
                    crate::actions::broadcasts::slack_message(source, &text)
                } else {
                    text
                }
            })
        }
        (None, _) => Ok(default_prompt(event)),
    };
    match c.action {
        ActionKind::Comment | ActionKind::Ask | ActionKind::Respond | ActionKind::PostMessage => {
            text.and_then(not_blank)
        }
        ActionKind::CreateTask | ActionKind::Forward => text,
    }
}

/// Whether the command's text goes as a reply on a source of `site` (`gitlab.`: a note, whose
/// lines GitLab runs as quick actions; `github.`: a comment, where a team mention notifies).
fn comments_on(c: &Fired<'_>, event: &EventView<'_>, site: &str) -> bool {
    matches!(c.action, ActionKind::Comment | ActionKind::Ask)
        && event.source.is_some_and(|s| s.kind.starts_with(site))
}

/// How a command's template escapes the values it prints: for Slack when another sender's
/// text goes to Slack (a message to a Slack incoming webhook, or a reply on a Slack thread
/// by an event from elsewhere), as plain text when Slack's own text goes elsewhere (another
/// chat, an agent's prompt), as is otherwise.
/// test_webhook's report renders with it too, so it shows the text that would be sent.
pub fn escape(c: &Fired<'_>, event: &EventView<'_>) -> template::Escape {
    let slack_source = event.source.is_some_and(|s| s.kind.starts_with("slack."));
    let to_slack = match c.action {
        ActionKind::Comment | ActionKind::Ask => slack_source,
        // A custom sender reads its answer in the HTTP response; only Slack's events have a
        // `response_url` to answer through.
        ActionKind::Respond => event.provider == Provider::Slack || slack_source,
        ActionKind::PostMessage => c
            .target
            .as_ref()
            .is_some_and(|t| t.message_kind() == Ok(MessageKind::Slack)),
        ActionKind::CreateTask | ActionKind::Forward => false,
    };
    // Slack's own events' text arrives escaped already (`R&amp;D`, `<@U1>`, a link as
    // `<url|text>`): quoted back to Slack it is its markup as the person wrote it, and
    // escaping it again would show the entities (their other strings, names and the like,
    // are escaped by the view `BackToSlack` renders over); anywhere else that markup is
    // noise, so it is read as the plain text people saw. Another sender's text, and what
    // people typed into a Slack button's or form's fields (sent as typed), are what must not
    // become markup.
    let escaped_by_slack = event.provider == Provider::Slack
        && !crate::providers::slack::INTERACTIONS.contains(&event.event_type);
    match (to_slack, escaped_by_slack) {
        (true, false) => template::Escape::Slack,
        (true, true) => template::Escape::BackToSlack,
        // A forward is a copy for a machine, sent as its template writes it.
        (false, true) if c.action != ActionKind::Forward => template::Escape::FromSlack,
        _ => template::Escape::Plain,
    }
}

/// A message's text, refused when there is none: Slack, Discord, Telegram and GitHub refuse
/// an empty message, which would otherwise fail only after the round trip.
fn not_blank(text: String) -> Result<String, String> {
    if text.trim().is_empty() {
        Err("the template rendered no text, so nothing was sent".into())
    } else {
        Ok(text)
    }
}

/// The prompt of a `create_task` without a template: what happened, and where.
fn default_prompt(event: &EventView<'_>) -> String {
    let place = event
        .source
        .map(|s| format!(" on {}", s.key))
        .unwrap_or_default();
    // The payload is not written here, among the instructions: it is untrusted, and whoever
    // works the task is given it as data (the built-in runner inside `<event_data>`,
    // claim_task as `event`, get_event for the whole of it).
    format!(
        "A {} `{}` event arrived{place}. Decide what to do about it; the event's payload is \
         given with this task as data.",
        event.provider, event.event_type
    )
}

/// The source kinds a reply can be posted on (see [`reply_on_source`]); others (an Open WebUI
/// chat, a Sentry issue) have no thread this service can write to.
const THREAD_KINDS: [&str; 10] = [
    "github.issue",
    "github.pull_request",
    "gitlab.issue",
    "gitlab.merge_request",
    "gitlab.snippet",
    "gitlab.commit",
    "jira.issue",
    "slack.thread",
    "slack.channel",
    "linear.issue",
];

/// Whether a source of `kind` has a thread a comment, question or answer can go on.
pub fn has_thread(kind: &str) -> bool {
    THREAD_KINDS.contains(&kind)
}

/// The end of the refusal of a reply on an event with no thread: the agent runner replaces
/// it for an agent that has neither tool.
pub const USE_FORWARD_OR_POST_MESSAGE: &str = "; use forward or post_message instead";

/// Where a comment or question about this event goes: the issue, merge request, GitLab
/// commit, Jira issue, Slack thread or Linear issue the event came from — in the review or
/// discussion thread it came from, where it came from one.
pub fn reply_on_source(source: Option<&SourceRef>, text: String) -> Result<Delivery, String> {
    let source = source.ok_or_else(|| {
        format!(
            "this event has no source thread to reply on (no issue, merge request, ticket or \
             channel){USE_FORWARD_OR_POST_MESSAGE}"
        )
    })?;
    let text = fit(text, reply_limit(&source.kind));
    let d = &source.detail;
    let s = |key: &str| d.get(key).and_then(as_string);
    let n = |key: &str| d.get(key).and_then(as_u64);
    // Answered as privately as the comment that asked (an internal note).
    let private = || d.get("internal") == Some(&Value::Bool(true));
    let missing = || {
        format!(
            "source `{}` ({}) lacks what a reply needs",
            source.key, source.kind
        )
    };
    match source.kind.as_str() {
        "github.issue" | "github.pull_request" => Ok(Delivery::GithubComment {
            repo: s("repo").ok_or_else(missing)?,
            number: n("number").ok_or_else(missing)?,
            body: text,
            in_reply_to: n("review_comment"),
            enterprise_host: s("enterprise_host"),
        }),
        "gitlab.issue" | "gitlab.merge_request" | "gitlab.snippet" => Ok(Delivery::GitlabNote {
            project: s("project").ok_or_else(missing)?,
            noun: match source.kind.as_str() {
                "gitlab.issue" => GitlabNoun::Issues,
                "gitlab.snippet" => GitlabNoun::Snippets,
                _ => GitlabNoun::MergeRequests,
            },
            iid: n("iid").ok_or_else(missing)?,
            body: text,
            internal: private(),
            // A note in a thread (beside a line of a diff, or a reply in one) is answered there.
            discussion: s("discussion"),
            site: s("site"),
        }),
        "gitlab.commit" => Ok(Delivery::GitlabCommitNote {
            project: s("project").ok_or_else(missing)?,
            sha: s("sha").ok_or_else(missing)?,
            body: text,
            discussion: s("discussion"),
            site: s("site"),
        }),
        "jira.issue" => Ok(Delivery::JiraComment {
            key: s("key").unwrap_or_else(|| source.key.clone()),
            body: text,
            visibility: d.get("visibility").filter(|v| v.is_object()).cloned(),
            internal: private(),
            site: s("self").and_then(|address| crate::providers::site_of("jira", &address)),
        }),
        "slack.thread" | "slack.channel" => Ok(Delivery::SlackMessage {
            channel: s("channel").ok_or_else(missing)?,
            thread_ts: s("thread_ts"),
            text,
        }),
        "linear.issue" => Ok(Delivery::LinearComment {
            issue_id: s("issue_id").ok_or_else(missing)?,
            body: text,
            parent_id: s("thread_id"),
        }),
        other => Err(format!(
            "{} `{other}` source has no thread to reply on (a comment, question or answer needs \
             an issue, ticket or Slack thread){USE_FORWARD_OR_POST_MESSAGE}",
            crate::quote::a_or_an(other)
        )),
    }
}

/// The longest reply a place takes, and how it counts: Jira (Java) and Telegram count UTF-16
/// code units, so an emoji beyond the Basic Multilingual Plane is two; the others count
/// characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: usize,
    /// What the place is called: "a Jira comment".
    pub what: &'static str,
    utf16: bool,
    /// Whether the place renders ```` ``` ```` code blocks (Jira's wiki markup and Telegram's
    /// plain text do not), so a cut inside one closes it.
    fenced: bool,
    /// Whether the place's text writes `&`, `<` and `>` as entities (`&amp;`: Slack's), which
    /// a cut may not split.
    entities: bool,
}

impl Limit {
    /// A limit counted in characters.
    pub const fn chars(max: usize, what: &'static str) -> Self {
        Limit {
            max,
            what,
            utf16: false,
            fenced: true,
            entities: false,
        }
    }

    /// A Slack message's: its text has `&`, `<` and `>` written as entities.
    pub const fn slack_message() -> Self {
        Limit {
            entities: true,
            ..Limit::chars(actions::SLACK_LIMIT, "a Slack message")
        }
    }

    /// The same place with `less` taken from its room (for what goes around a text).
    pub fn less(self, less: usize) -> Self {
        Limit {
            max: self.max.saturating_sub(less),
            ..self
        }
    }

    /// `text`'s length as the place counts it.
    pub fn len(&self, text: &str) -> usize {
        text.chars().map(|c| self.width(c)).sum()
    }

    fn width(&self, c: char) -> usize {
        if self.utf16 { c.len_utf16() } else { 1 }
    }

    /// The unit `len` counts in, for a refusal.
    pub fn unit(&self) -> &'static str {
        if self.utf16 {
            "characters as counted there (UTF-16 code units: an emoji is two)"
        } else {
            "characters"
        }
    }
}

/// The longest reply a kind of source takes.
pub fn reply_limit(source_kind: &str) -> Option<Limit> {
    match source_kind {
        "github.issue" | "github.pull_request" => Some(Limit::chars(65_536, "a GitHub comment")),
        "jira.issue" => Some(Limit {
            utf16: true,
            fenced: false,
            ..Limit::chars(32_767, "a Jira comment")
        }),
        "slack.thread" | "slack.channel" => Some(Limit::slack_message()),
        "gitlab.issue" | "gitlab.merge_request" | "gitlab.commit" | "gitlab.snippet" => {
            Some(Limit::chars(1_000_000, "a GitLab note"))
        }
        // What a reply by hand or a model's tool call may post there: an agent's answer is
        // cut to it too, not sent whole.
        "linear.issue" => Some(Limit::chars(65_536, "a Linear comment")),
        _ => None,
    }
}

/// The longest message a channel takes: Slack truncates past 40,000 characters (the end,
/// where a cut note or a footer is, would go unseen), Discord refuses past 2,000 and Telegram
/// past 4,096 UTF-16 code units. Teams counts its limit in bytes of the whole card, which its sender
/// keeps under (`actions::channels`); Open WebUI takes any length.
pub fn channel_limit(kind: MessageKind) -> Option<Limit> {
    match kind {
        MessageKind::Slack => Some(Limit::slack_message()),
        MessageKind::Discord => Some(Limit::chars(actions::DISCORD_LIMIT, "a Discord message")),
        MessageKind::Telegram => Some(Limit {
            utf16: true,
            fenced: false,
            ..Limit::chars(actions::TELEGRAM_LIMIT, "a Telegram message")
        }),
        MessageKind::Teams | MessageKind::OpenWebUi => None,
    }
}

/// The longest text a command's text may be where it goes, as [`reply_on_source`] fits it.
fn place_limit(c: &Fired<'_>, event: &EventView<'_>) -> Option<Limit> {
    match c.action {
        ActionKind::Comment | ActionKind::Ask | ActionKind::Respond => {
            event.source.and_then(|s| reply_limit(&s.kind))
        }
        ActionKind::PostMessage => c
            .target
            .as_ref()
            .and_then(|t| t.message_kind().ok())
            .and_then(channel_limit),
        ActionKind::CreateTask | ActionKind::Forward => None,
    }
}

/// A text longer than its place takes, cut to fit and saying so: the place would refuse it
/// whole (a template quoting a long body, an agent's long answer, whose whole text stays on
/// its task).
pub fn fit(text: String, limit: Option<Limit>) -> String {
    cut(text, limit, None)
}

/// `text` cut to what `limit` takes, between graphemes and (in Slack's text) not inside an
/// entity, saying how many characters are left out, counting what `before` left out of it
/// already (a render cut at the template output bound), so that the note is written once and
/// counts all of it.
fn cut(text: String, limit: Option<Limit>, before: Option<template::LeftOut>) -> String {
    if before.is_none() && limit.is_none_or(|l| l.len(&text) <= l.max) {
        return text;
    }
    let chars = text.chars().count();
    let (before, at_least) = before.map_or((0, false), |b| (b.chars, b.at_least));
    let at_least = if at_least { "at least " } else { "" };
    let note = |left: usize| format!("\n\n… (cut to fit: {at_least}{left} more characters)");
    let (mut cut, closing) = match limit {
        Some(limit) => {
            // The note's own length depends on how much is left out; a generous guess covers it.
            let room = limit.max.saturating_sub(limit.len(&note(chars + before)));
            let within = |room: usize| -> String {
                let end = text_cut::within(&text, room, |c| limit.width(c)).len();
                if limit.entities {
                    text[..slack_markup::unsplit_end(&text, end)].into()
                } else {
                    text[..end].into()
                }
            };
            let cut = within(room);
            // Cut inside a code block, the note (and a footer after it) would show as code:
            // the block is closed, in room made for it.
            match open_fence(&cut).filter(|_| limit.fenced) {
                Some(fence) => {
                    let cut = within(room.saturating_sub(limit.len(&fence) + 1));
                    let closing = open_fence(&cut).map(|fence| format!("\n{fence}"));
                    (cut, closing)
                }
                None => (cut, None),
            }
        }
        None => (text, None),
    };
    let kept = cut.chars().count();
    cut.push_str(closing.as_deref().unwrap_or_default());
    cut.push_str(&note(chars - kept + before));
    cut
}

/// The fence that closes the code block `text` ends inside, if it does. As CommonMark reads
/// them: a line of three or more ```` ` ```` or `~`, indented three spaces at most, opens one;
/// a line of the same character, at least as many, and nothing else, closes it.
fn open_fence(text: &str) -> Option<String> {
    let fence_of = |line: &str| -> Option<(char, usize, bool)> {
        let rest = line.trim_start_matches(' ');
        if line.len() - rest.len() > 3 {
            return None;
        }
        let mark = rest.chars().next().filter(|c| matches!(c, '`' | '~'))?;
        let run = rest.chars().take_while(|c| *c == mark).count();
        let bare = rest[run..].trim().is_empty();
        (run >= 3).then_some((mark, run, bare))
    };
    let open = text
        .lines()
        .fold(None, |open, line| match (open, fence_of(line)) {
            (None, Some((mark, run, _))) => Some((mark, run)),
            (Some((mark, run)), Some((m, r, true))) if m == mark && r >= run => None,
            (open, _) => open,
        });
    open.map(|(mark, run)| mark.to_string().repeat(run))
}

/// Senders that read the HTTP response: Slack slash commands (typed `/command`; Slack drops
/// the body of its answer to a button click or other interaction, which is replied to through
/// its `response_url` instead), and custom senders.
fn inline_body(event: &EventView<'_>, text: &str) -> Option<Value> {
    match event.provider {
        Provider::Slack if event.event_type.starts_with('/') => Some(serde_json::json!({
            "response_type": "in_channel",
            "text": text,
        })),
        Provider::Custom => Some(serde_json::json!({ "text": text })),
        _ => None,
    }
}

fn respond_delivery(event: &EventView<'_>, text: String) -> Result<Delivery, String> {
    match response_url(event) {
        Some(url) => Ok(Delivery::SlackResponse {
            response_url: url,
            text,
            replace_original: false,
        }),
        None => reply_on_source(event.source, text),
    }
}

/// Where Slack takes answers to a slash command or interaction. Only Slack's own signed
/// payloads name it: in any other sender's payload it is just a field, and a reply must not go
/// wherever a payload points.
fn response_url(event: &EventView<'_>) -> Option<String> {
    if event.provider != Provider::Slack {
        return None;
    }
    event
        .source
        .and_then(|s| s.detail.get("response_url"))
        .and_then(as_string)
        .or_else(|| event.payload.get("response_url").and_then(as_string))
}

/// `body` is the forward's [`text_of`]: what test_webhook's report shows is what is sent.
fn forward(
    c: &Fired<'_>,
    event: &EventView<'_>,
    body: Result<String, String>,
) -> Result<Delivery, String> {
    let target = c.target.as_ref().ok_or("forward has no target")?;
    let body = body?;
    Ok(Delivery::Forward {
        url: forward_url(&target.url, event)?,
        secret: target.secret.clone(),
        event_type: event.event_type.to_string(),
        // Filled with the outbox row's id when stored: stable across retries.
        message_id: String::new(),
        body,
        // Counted from the event's own hops by `service::planning`.
        hops: 0,
        // As stored: sealed when a key is set, opened by the worker to send.
        headers: target.headers.clone(),
    })
}

/// A forward's URL: as written, or its template rendered over the event, each value
/// percent-encoded (its scheme and host are written out: see `command::check_url_template`).
pub fn forward_url(url: &str, event: &EventView<'_>) -> Result<String, String> {
    if !super::url_template::is_template(url) {
        return Ok(url.to_string());
    }
    super::url_template::render(url, event.context)
}

/// A forward's rendered body, whole: cut short, a JSON body would no longer parse.
fn forward_body(source: &str, event: &EventView<'_>) -> Result<String, String> {
    let rendered = template::render_cut(source, event.context, template::Escape::Plain)?;
    match rendered.left_out {
        None => Ok(rendered.text),
        Some(left) => Err(format!(
            "the template renders more than the {} bytes a forward's body may have ({}{} \
             characters more); a forward is not cut short, since its body (JSON, often) would \
             no longer be valid",
            template::MAX_OUTPUT_LEN,
            if left.at_least { "at least " } else { "" },
            left.chars,
        )),
    }
}

fn post_message(target: Option<&Target>, text: String) -> Result<Delivery, String> {
    let target = target.ok_or("post_message has no target")?;
    let kind = target.message_kind()?;
    Ok(Delivery::ChannelMessage {
        url: target.url.clone(),
        kind,
        text: fit(text, channel_limit(kind)),
        chat_id: target.chat_id.clone(),
        thread_id: target.thread_id.as_deref().map(|t| t.trim().to_string()),
    })
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
