//! Tests: each provider's bots and apps are told from people by who acted, on the samples'
//! payloads (what `test_webhook` sends), changed where a bot would have acted instead.

use serde_json::{Value, json};

use super::from_bot;
use crate::providers::{Provider, parse_payload, samples};

/// The sample of `event_type`, as the receiver parses it.
fn sample(provider: Provider, event_type: &str) -> Value {
    let s = samples::sample(provider, Some(event_type), None, 1_763_900_000_123).expect("a sample");
    parse_payload(provider, &s.body).expect("the sample parses")
}

/// `sample` with each (JSON pointer, value) set, as a bot's delivery would have them.
fn with(provider: Provider, event_type: &str, changes: &[(&str, Value)]) -> Value {
    let mut p = sample(provider, event_type);
    for (pointer, value) in changes {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
        let parent = if parent.is_empty() {
            &mut p
        } else {
            p.pointer_mut(parent).expect("the parent is in the sample")
        };
        parent[key] = value.clone();
    }
    p
}

#[test]
fn bots_and_apps_are_told_from_people_by_who_acted_on_every_provider() {
    use Provider::*;
    let github_app = json!({"login": "triage-app[bot]", "id": 41898282, "type": "Bot"});
    let jira_app = json!({"accountId": "557058:f58131cb", "displayName": "Automation for Jira",
                          "accountType": "app"});
    let linear_bot = json!({"id": "b1", "type": "oauthClient", "name": "Claude"});
    let cases: Vec<(&str, Value, bool)> = vec![
        // GitHub
        (
            "github: a person's comment",
            sample(GitHub, "issue_comment.created"),
            false,
        ),
        (
            "github: a GitHub App's comment",
            with(
                GitHub,
                "issue_comment.created",
                &[
                    ("/sender", github_app.clone()),
                    ("/comment/user", github_app.clone()),
                ],
            ),
            true,
        ),
        (
            "github: a person's comment on an issue an app opened",
            with(
                GitHub,
                "issue_comment.created",
                &[("/issue/user", github_app.clone())],
            ),
            false,
        ),
        (
            "github: a person editing an app's comment",
            with(
                GitHub,
                "issue_comment.edited",
                &[("/comment/user", github_app.clone())],
            ),
            false,
        ),
        (
            "github: an app opening an issue",
            with(GitHub, "issues.opened", &[("/sender", github_app.clone())]),
            true,
        ),
        // GitLab
        ("gitlab: a person's note", sample(GitLab, "note"), false),
        (
            "gitlab: a project access token's note",
            with(
                GitLab,
                "note",
                &[("/user/username", json!("project_15_bot_4ffca233d8298ea1"))],
            ),
            true,
        ),
        (
            "gitlab: a group access token's push",
            with(
                GitLab,
                "push",
                &[("/user_username", json!("group_9_bot_7"))],
            ),
            true,
        ),
        ("gitlab: a person's push", sample(GitLab, "push"), false),
        // Slack
        (
            "slack: a person's message",
            sample(Slack, "message.channels"),
            false,
        ),
        (
            "slack: another app's bot",
            with(
                Slack,
                "message.channels",
                &[
                    ("/event/bot_id", json!("B0OTHER")),
                    ("/event/app_id", json!("A0OTHER")),
                    ("/event/user", json!("U0OTHERBOT")),
                ],
            ),
            true,
        ),
        (
            "slack: an incoming webhook's post",
            with(
                Slack,
                "message.channels",
                &[("/event/subtype", json!("bot_message"))],
            ),
            true,
        ),
        (
            "slack: a bot editing its message",
            with(
                Slack,
                "message_changed",
                &[("/event/message/bot_id", json!("B0OTHER"))],
            ),
            true,
        ),
        (
            "slack: Slackbot's reminder",
            with(
                Slack,
                "message.channels",
                &[("/event/user", json!("USLACKBOT"))],
            ),
            true,
        ),
        (
            "slack: a person editing a message",
            sample(Slack, "message_changed"),
            false,
        ),
        (
            "slack: a person's mention",
            sample(Slack, "app_mention"),
            false,
        ),
        // Jira
        (
            "jira: a person's comment",
            sample(Jira, "comment_created"),
            false,
        ),
        (
            "jira: Automation for Jira's comment",
            with(
                Jira,
                "comment_created",
                &[
                    ("/comment/author", jira_app.clone()),
                    ("/comment/updateAuthor", jira_app.clone()),
                ],
            ),
            true,
        ),
        (
            "jira: an app's comment in a delivery that also names a person as its user",
            with(
                Jira,
                "comment_created",
                &[
                    ("/comment/author", jira_app.clone()),
                    ("/comment/updateAuthor", jira_app.clone()),
                    (
                        "/user",
                        json!({"accountId": "5b10a2844c20165700ede21g",
                                     "accountType": "atlassian"}),
                    ),
                ],
            ),
            true,
        ),
        (
            "jira: a person's comment in a delivery that names an app as its user",
            with(Jira, "comment_created", &[("/user", jira_app.clone())]),
            false,
        ),
        (
            "jira: a person editing an app's comment",
            with(
                Jira,
                "comment_updated",
                &[("/comment/author", jira_app.clone())],
            ),
            false,
        ),
        (
            "jira: an app creating an issue",
            with(Jira, "jira:issue_created", &[("/user", jira_app.clone())]),
            true,
        ),
        (
            "jira: a person updating an issue an app reported",
            with(
                Jira,
                "jira:issue_updated",
                &[
                    ("/issue/fields/reporter", jira_app.clone()),
                    ("/issue/fields/creator", jira_app.clone()),
                ],
            ),
            false,
        ),
        // Linear
        (
            "linear: a person's comment",
            sample(Linear, "Comment.create"),
            false,
        ),
        (
            "linear: an integration's comment",
            with(
                Linear,
                "Comment.create",
                &[(
                    "/actor",
                    json!({"id": "i1", "type": "integration", "service": "github"}),
                )],
            ),
            true,
        ),
        (
            "linear: an OAuth app's comment",
            with(
                Linear,
                "Comment.create",
                &[(
                    "/actor",
                    json!({"id": "o1", "type": "OauthClient", "name": "Claude"}),
                )],
            ),
            true,
        ),
        (
            "linear: a comment a bot made",
            with(
                Linear,
                "Comment.create",
                &[("/data/botActor", linear_bot.clone())],
            ),
            true,
        ),
        (
            "linear: a person updating an issue a bot made",
            with(
                Linear,
                "Issue.update",
                &[("/data/botActor", linear_bot.clone())],
            ),
            false,
        ),
        // Sentry: its own events (a new issue, an alert) are its application's.
        ("sentry: a new issue", sample(Sentry, "issue.created"), true),
        (
            "sentry: a person resolving an issue",
            sample(Sentry, "issue.resolved"),
            false,
        ),
        (
            "sentry: another app's comment",
            with(
                Sentry,
                "comment.created",
                &[(
                    "/actor",
                    json!({"type": "application", "id": "ci-bot", "name": "CI"}),
                )],
            ),
            true,
        ),
        // Open WebUI
        (
            "open webui: a channel webhook's post",
            sample(OpenWebUi, "message.created"),
            true,
        ),
        (
            "open webui: a person's finished chat",
            sample(OpenWebUi, "chat.finished"),
            false,
        ),
        // Nobody in particular
        (
            "stripe: a payment",
            sample(Stripe, "payment_intent.succeeded"),
            false,
        ),
    ];
    for (name, payload, expected) in cases {
        assert_eq!(from_bot(&payload), expected, "{name}: {payload}");
    }
}
