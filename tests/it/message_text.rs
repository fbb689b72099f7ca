//! The text a command's template sends: another sender's values escaped where the text goes
//! to Slack (the template's own markup, and Slack's own text, kept), and a render with no
//! text planned dead rather than sent.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, accepted, delivery_id, expect_post, issue_opened, slack_thread_message, spawn_manual,
    use_slack,
};

/// Where the Slack incoming webhook fake listens.
const INCOMING: &str = "/services/T1/B1/secret";

/// A Slack webhook `sl` on an app whose Slack API and incoming webhook are `slack`, with a
/// `comment` and a Slack `post_message` on every `message`, both rendering `template`.
async fn slack_app_with(slack: &MockServer, template: &str) -> TestApp {
    let app = spawn_manual(use_slack(slack)).await;
    app.slack_webhook("sl").await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "message", "action": "comment", "template": template}),
    )
    .await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "message", "action": "post_message", "template": template,
               "target": {"url": format!("{}{INCOMING}", slack.uri()), "kind": "slack"}}),
    )
    .await;
    app
}

#[tokio::test]
async fn another_senders_text_sent_to_slack_cannot_ping_a_channel_or_disguise_a_link() {
    // Arrange: a GitHub issue posted to a Slack channel; the author's own `<!here>` stays
    // markup, the issue's title is escaped.
    let slack = MockServer::start().await;
    expect_post(
        &slack,
        INCOMING,
        json!({"text": "<!here> new issue: hi &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"}),
        ResponseTemplate::new(200).set_body_string("ok"),
        1,
    )
    .await;
    let app = spawn_manual(use_slack(&slack)).await;
    app.github_webhook("gh", "gh-secret").await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "post_message",
               "template": "<!here> new issue: {{ issue.title }}",
               "target": {"url": format!("{}{INCOMING}", slack.uri()), "kind": "slack"}}),
    )
    .await;
    let mut issue: serde_json::Value =
        serde_json::from_str(&issue_opened("octo/app", 7, &[])).expect("json");
    issue["issue"]["title"] = json!("hi <!channel> & <https://evil.example|click>");

    // Act
    let event_id = accepted(
        app.post_github(
            "gh",
            "issues",
            &delivery_id(),
            &issue.to_string(),
            "gh-secret",
        )
        .await,
    )
    .await;
    assert_eq!(app.drain().await, 1);

    // Assert
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
}

#[tokio::test]
async fn slacks_own_text_quoted_back_to_slack_is_sent_as_slack_wrote_it() {
    // Arrange: Slack sends a message's text escaped, with its mentions and links as markup;
    // a reply quoting it must not escape it again (it would show `&amp;amp;` and `&lt;@U1&gt;`).
    let slack = MockServer::start().await;
    let quoted = "You said: R&amp;D needs <@U0BOT> see <https://docs.example|the docs>";
    expect_post(
        &slack,
        "/chat.postMessage",
        json!({"channel": "C0ENG", "text": quoted, "thread_ts": "1700000000.000100"}),
        ResponseTemplate::new(200).set_body_json(json!({"ok": true, "ts": "1.2"})),
        1,
    )
    .await;
    expect_post(
        &slack,
        INCOMING,
        json!({"text": quoted}),
        ResponseTemplate::new(200).set_body_string("ok"),
        1,
    )
    .await;
    let app = slack_app_with(&slack, "You said: {{ event.text }}").await;

    // Act
    let message = slack_thread_message(
        "C0ENG",
        "R&amp;D needs <@U0BOT> see <https://docs.example|the docs>",
    );
    let event_id = accepted(app.post_slack("sl", &message, "slack-signing").await).await;
    assert_eq!(app.drain().await, 2);

    // Assert
    for action in app.actions_of(&event_id).await {
        assert_eq!(action["status"], "delivered", "{action}");
    }
}

#[tokio::test]
async fn a_template_that_renders_no_text_is_a_dead_action_and_nothing_is_sent() {
    // Arrange
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "ts": "1.2"})))
        .mount(&slack)
        .await;
    let app = slack_app_with(&slack, "{{ event.text | trim }}").await;

    // Act
    let message = slack_thread_message("C0ENG", "   ");
    let event_id = accepted(app.post_slack("sl", &message, "slack-signing").await).await;
    app.drain().await;

    // Assert
    let actions = app.actions_of(&event_id).await;
    assert_eq!(actions.len(), 2, "{actions:?}");
    for action in actions {
        assert_eq!(action["status"], "dead", "{action}");
        assert_eq!(
            action["last_error"], "the template rendered no text, so nothing was sent",
            "{action}"
        );
    }
    let requests = slack.received_requests().await.unwrap_or_default();
    assert!(requests.is_empty(), "{requests:?}");
}
