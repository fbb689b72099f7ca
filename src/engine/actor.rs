//! Whether a bot or an app did what an event reports. Pure. One answer serves the `from_bot`
//! condition and the receiver's choice of what may answer a waiting question, so the two can
//! never disagree about who is a bot.
//!
//! Only who acted counts, never who made the item acted on: a person's comment on an issue a
//! GitHub App opened is a person's.

use serde_json::Value;

use crate::providers::gitlab::is_access_token_bot;

/// Whether the event's actor is a bot or an app rather than a person. Read by the payload's
/// shape, as the other condition keys are (the engine is not told the provider): each sender
/// names its actor under keys of its own.
pub fn from_bot(p: &Value) -> bool {
    let text = |path: &str| p.pointer(path).and_then(Value::as_str);
    // GitHub: `sender` is who acted (the commenter, the labeller); a GitHub App's is a `Bot`.
    if let Some(sender) = p.get("sender").filter(|s| s.is_object()) {
        return sender.get("type").and_then(Value::as_str) == Some("Bot");
    }
    // GitLab: who acted is `user_username` on a push, else `user`; a project or group access
    // token's bot user is known by its username only.
    if text("/object_kind").is_some() {
        return text("/user_username")
            .or_else(|| text("/user/username"))
            .is_some_and(is_access_token_bot);
    }
    // Slack's Events API: an app's message carries its bot's id, or for older apps and
    // incoming webhooks the `bot_message` subtype; an edit's author is the edited message's.
    if let Some(event) = p.get("event").filter(|e| e.is_object()) {
        return slack_bot(event)
            || (text("/event/subtype") == Some("message_changed")
                && event.get("message").is_some_and(slack_bot));
    }
    // Linear (user, integration, OAuth app), Sentry (user, application: Sentry's own events
    // too), Open WebUI (user, a channel webhook): the kind of `actor`. A Linear payload (it
    // always has `webhookTimestamp`) may name no actor, and then only its `botActor` tells.
    if p.get("actor").is_some_and(Value::is_object) || p.get("webhookTimestamp").is_some() {
        let kind = text("/actor/type").map(str::to_ascii_lowercase);
        let app = matches!(
            kind.as_deref(),
            Some("integration" | "oauthclient" | "bot" | "application" | "webhook")
        );
        // Linear names the bot that made an item (`botActor`): who acted when the event is
        // the item's creation, only its maker on an update.
        let made_by_bot =
            text("/action") == Some("create") && p.pointer("/data/botActor").is_some_and(is_set);
        return app || made_by_bot;
    }
    // Jira: on a comment event (`comment_created`, `comment_updated`) whoever last wrote the
    // comment, whatever else the payload names; otherwise the event's `user`, who made the
    // change (and a comment added with it). Apps (Automation for Jira, an integration's user)
    // have their own account type.
    let comment_event = text("/webhookEvent").is_some_and(|e| e.starts_with("comment_"));
    let actors: [&str; 3] = if comment_event {
        ["/comment/updateAuthor", "/comment/author", "/user"]
    } else {
        ["/user", "/comment/updateAuthor", "/comment/author"]
    };
    actors
        .iter()
        .find_map(|path| p.pointer(path).filter(|v| v.is_object()))
        .and_then(|actor| actor.get("accountType"))
        .and_then(Value::as_str)
        == Some("app")
}

/// A Slack message (an event, or an edit's `message`) posted by an app, or by Slackbot (its
/// reminders and auto-responses, which carry no bot id).
fn slack_bot(message: &Value) -> bool {
    message.get("bot_id").is_some_and(is_set)
        || message.get("subtype").and_then(Value::as_str) == Some("bot_message")
        || message.get("user").and_then(Value::as_str) == Some("USLACKBOT")
}

fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
#[path = "actor_tests.rs"]
mod tests;
