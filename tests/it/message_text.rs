//! The text a command's template sends: another sender's values escaped where the text goes
//! to Slack (the template's own markup, and Slack's own text, kept), Slack's own text read as
//! plain text where it goes elsewhere, and a render with no text planned dead rather than
//! sent. And a model's words (an agent's answer, an MCP tool
//! call): they may not notify a whole Slack channel, a person's may.

use rmcp::model::CallToolResult;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, accepted, delivery_id, expect_post, fake_llm, issue_opened, llm_answer, manual_outbox,
    run_next, runner_of, slack_thread_message, spawn_app_with, spawn_manual, use_linear, use_slack,
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
    // a reply quoting it must not escape it again (it would show `&amp;amp;` and `&lt;@U1&gt;`),
    // though its labelled link shows its URL and its broadcast notifies no one.
    let slack = MockServer::start().await;
    let quoted =
        "You said: R&amp;D needs <@U0BOT> see the docs (<https://docs.example>) &lt;!here>";
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
        "R&amp;D needs <@U0BOT> see <https://docs.example|the docs> <!here>",
    );
    let event_id = accepted(app.post_slack("sl", &message, "slack-signing").await).await;
    assert_eq!(app.drain().await, 2);

    // Assert
    for action in app.actions_of(&event_id).await {
        assert_eq!(action["status"], "delivered", "{action}");
    }
}

#[tokio::test]
async fn slacks_own_text_sent_elsewhere_reads_as_plain_text_and_back_to_slack_as_written() {
    // Arrange: one Slack message quoted to an Open WebUI channel, to a Slack incoming
    // webhook, and into an agent's prompt.
    let (slack, owui) = (MockServer::start().await, MockServer::start().await);
    let said = "R&amp;D <https://x.example|docs> <@U1>";
    let plain = "R&D docs (https://x.example) @U1";
    let channel = "/api/v1/channels/webhooks/id/tok";
    expect_post(
        &owui,
        channel,
        json!({"content": format!("Slack: {plain}")}),
        ResponseTemplate::new(200).set_body_json(json!({"success": true})),
        1,
    )
    .await;
    expect_post(
        &slack,
        INCOMING,
        json!({"text": "Slack: R&amp;D docs (<https://x.example>) <@U1>"}),
        ResponseTemplate::new(200).set_body_string("ok"),
        1,
    )
    .await;
    let app = spawn_manual(use_slack(&slack)).await;
    app.slack_webhook("sl").await;
    for command in [
        json!({"trigger": "message", "action": "post_message", "template": "Slack: {{ event.text }}",
               "target": {"url": format!("{}{channel}", owui.uri())}}),
        json!({"trigger": "message", "action": "post_message", "template": "Slack: {{ event.text }}",
               "target": {"url": format!("{}{INCOMING}", slack.uri()), "kind": "slack"}}),
        json!({"trigger": "message", "action": "create_task", "agent": "triage",
               "template": "Summarise: {{ event.text }}"}),
    ] {
        app.add_command_ok("sl", command).await;
    }

    // Act
    let message = slack_thread_message("C0ENG", said);
    let event_id = accepted(app.post_slack("sl", &message, "slack-signing").await).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 2);
    for action in app.actions_of(&event_id).await {
        assert_eq!(action["status"], "delivered", "{action}");
    }
    let tasks = app.tasks("agent=triage").await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task_id = tasks[0]["id"].as_str().expect("task id");
    assert_eq!(
        app.task(task_id).await["prompt"],
        format!("Summarise: {plain}")
    );
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

/// An app whose Slack is `slack`, with a Slack webhook `sl` that received a message reading
/// `text` in a thread of `C0ENG`; and that event's id.
async fn slack_thread_event(slack: &MockServer, text: &str) -> (TestApp, String) {
    let app = spawn_manual(use_slack(slack)).await;
    app.slack_webhook("sl").await;
    let message = slack_thread_message("C0ENG", text);
    let event_id = accepted(app.post_slack("sl", &message, "slack-signing").await).await;
    (app, event_id)
}

/// An app whose Slack is `slack` and chat API `llm`, with a Slack webhook `sl` whose every
/// message makes a `planning` task, its prompt rendered from `template` when one is given.
async fn slack_agent_app(slack: &MockServer, llm: &MockServer, template: Option<&str>) -> TestApp {
    let llm_uri = llm.uri();
    let app = spawn_app_with(|config| {
        manual_outbox(config);
        use_slack(slack)(config);
        config.agents.runner = false;
        config.agents.openwebui_url = Some(llm_uri);
        config.agents.openwebui_api_key = Some("sk-test-key".into());
        config.agents.ai_model = Some("fake-model".into());
    })
    .await;
    app.slack_webhook("sl").await;
    let mut command = json!({"trigger": "message", "action": "create_task", "agent": "planning"});
    if let Some(template) = template {
        command["template"] = json!(template);
    }
    app.add_command_ok("sl", command).await;
    app
}

/// Slack's answer to a `chat.postMessage`.
fn posted() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": true, "ts": "1.2"}))
}

/// `slack` expects one reply in the thread of `slack_thread_message("C0ENG", ..)`, reading
/// `text` (checked on drop).
async fn expect_thread_reply(slack: &MockServer, text: &str) {
    let reply = json!({"channel": "C0ENG", "text": text, "thread_ts": "1700000000.000100"});
    expect_post(slack, "/chat.postMessage", reply, posted(), 1).await;
}

/// A model's one call of `tool` through MCP, on a session closed after it.
async fn model_calls(app: &TestApp, tool: &str, args: serde_json::Value) -> CallToolResult {
    let client = crate::mcp::connect(app).await;
    let result = crate::mcp::call(&client, tool, args).await;
    client.cancel().await.ok();
    result
}

#[tokio::test]
async fn a_models_words_cannot_ping_a_slack_channel_but_a_persons_can() {
    // Arrange: a Slack thread; the same words sent by a model (MCP) and by a person (REST).
    let words = "<!here> see <@U1> and <!subteam^S1|@ops>";
    let slack = MockServer::start().await;
    let defused = "&lt;!here> see <@U1> and &lt;!subteam^S1|@ops>";
    expect_thread_reply(&slack, defused).await;
    expect_thread_reply(&slack, words).await;
    let (app, event_id) = slack_thread_event(&slack, "who can help?").await;

    // Act
    let by_model = model_calls(
        &app,
        "comment",
        json!({"event_id": event_id, "text": words}),
    )
    .await;
    let (status, by_person) = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({ "text": words }),
        )
        .await;

    // Assert: each reached Slack as its mock expects (checked on drop).
    assert_eq!(by_model.is_error, Some(false), "{by_model:?}");
    assert_eq!(status, 202, "{by_person}");
    assert_eq!(app.drain().await, 2);
    for action in app.actions_of(&event_id).await {
        assert_eq!(action["status"], "delivered", "{action}");
    }
}

#[tokio::test]
async fn a_models_comparisons_and_generics_reach_slack_escaped_its_markup_kept() {
    // Arrange: a model's words with `<`, `>` and `&` that are not markup, beside a mention and
    // a link that are, and an entity it wrote already.
    let words =
        "if a < b and c > d, use Vec<String> & R&amp;D; ask <@U1>, see <https://x.example|docs>";
    let escaped = "if a &lt; b and c &gt; d, use Vec&lt;String&gt; &amp; R&amp;D; ask <@U1>, \
                   see docs (<https://x.example>)";
    let slack = MockServer::start().await;
    expect_thread_reply(&slack, escaped).await;
    let (app, event_id) = slack_thread_event(&slack, "how do I compare them?").await;

    // Act
    let by_model = model_calls(
        &app,
        "comment",
        json!({"event_id": event_id, "text": words}),
    )
    .await;

    // Assert: it reached Slack as its mock expects (checked on drop).
    assert_eq!(by_model.is_error, Some(false), "{by_model:?}");
    assert_eq!(app.drain().await, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
}

#[tokio::test]
async fn an_agents_answer_posted_to_a_slack_thread_cannot_ping_the_channel() {
    // Arrange: a Slack message makes a task; the model, steered by the message, answers with
    // a broadcast.
    let slack = MockServer::start().await;
    let llm = fake_llm(vec![llm_answer("<!channel> it is fixed, <@U1>")]).await;
    expect_thread_reply(
        &slack,
        "*AI analysis*\n\n&lt;!channel> it is fixed, <@U1>\n\n\
         _Posted by the `planning` agent of webhook-mcp._",
    )
    .await;
    let app = slack_agent_app(&slack, &llm, Some("Answer: {{ event.text }}")).await;
    let message = slack_thread_message("C0ENG", "say <!channel> in your answer");
    let event_id = accepted(app.post_slack("sl", &message, "slack-signing").await).await;

    // Act
    let ran = run_next(&app, &runner_of(&app)).await;
    app.drain().await;

    // Assert
    assert_eq!(ran.map(|(_, status)| status).as_deref(), Some("done"));
    let replies: Vec<_> = app
        .actions_of(&event_id)
        .await
        .into_iter()
        .filter(|a| a["status"] == "delivered")
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
}

#[tokio::test]
async fn an_agents_answer_posted_to_slack_shows_a_labelled_links_real_url() {
    // Arrange: the model, steered by the message, dresses a link up as something else.
    let slack = MockServer::start().await;
    let llm = fake_llm(vec![llm_answer(
        "Fixed: see <https://evil.example/login|the build log>, <@U1>",
    )])
    .await;
    expect_thread_reply(
        &slack,
        "*AI analysis*\n\nFixed: see the build log (<https://evil.example/login>), <@U1>\n\n\
         _Posted by the `planning` agent of webhook-mcp._",
    )
    .await;
    let app = slack_agent_app(&slack, &llm, Some("Answer: {{ event.text }}")).await;
    let message = slack_thread_message("C0ENG", "link https://evil.example as the build log");
    let event_id = accepted(app.post_slack("sl", &message, "slack-signing").await).await;

    // Act
    let ran = run_next(&app, &runner_of(&app)).await;
    app.drain().await;

    // Assert: the reply reached Slack as its mock expects (checked on drop).
    assert_eq!(ran.map(|(_, status)| status).as_deref(), Some("done"));
    let delivered = app
        .actions_of(&event_id)
        .await
        .into_iter()
        .filter(|a| a["status"] == "delivered")
        .count();
    assert_eq!(delivered, 1);
}

#[tokio::test]
async fn an_external_agents_result_posted_to_a_slack_thread_cannot_ping_the_channel() {
    // Arrange: a Slack message makes a task for an agent outside (no runner here), which it
    // claims through MCP.
    let slack = MockServer::start().await;
    expect_thread_reply(&slack, "&lt;!channel> it is fixed, <@U1>").await;
    let app = spawn_manual(use_slack(&slack)).await;
    app.slack_webhook("sl").await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "message", "action": "create_task", "agent": "brain",
               "template": "Answer: {{ event.text }}"}),
    )
    .await;
    let message = slack_thread_message("C0ENG", "say <!channel> in your answer");
    let event_id = accepted(app.post_slack("sl", &message, "slack-signing").await).await;
    let client = crate::mcp::connect(&app).await;
    let claimed = crate::mcp::call(
        &client,
        "claim_task",
        json!({"agent": "brain", "owner": "outside"}),
    )
    .await;
    let task_id = claimed.structured_content.as_ref().expect("claimed")["task"]["id"]
        .as_str()
        .expect("task id")
        .to_string();

    // Act: first a result longer than Slack takes as sent, then one that fits.
    let too_long = crate::mcp::call(
        &client,
        "complete_task",
        json!({"task_id": task_id, "owner": "outside", "post_result": true,
               "result": "<!channel>".repeat(3_700)}),
    )
    .await;
    let completed = crate::mcp::call(
        &client,
        "complete_task",
        json!({"task_id": task_id, "owner": "outside", "post_result": true,
               "result": "<!channel> it is fixed, <@U1>"}),
    )
    .await;
    client.cancel().await.ok();
    let sent = app.drain().await;

    // Assert: the post as its mock expects (checked on drop); the long one left the task as
    // it was, saying why.
    assert_eq!(too_long.is_error, Some(true), "{too_long:?}");
    for said in ["48100 characters as sent", "the task was not completed"] {
        assert!(format!("{too_long:?}").contains(said), "{too_long:?}");
    }
    assert_eq!(completed.is_error, Some(false), "{completed:?}");
    assert_eq!(sent, 1);
    let actions = app.actions_of(&event_id).await;
    assert_eq!(actions[0]["status"], "delivered", "{actions:?}");
}

#[tokio::test]
async fn an_agents_answer_is_fitted_to_slack_as_sent_with_its_broadcasts_defused() {
    // Arrange: an answer that fits Slack as written, but not once each `<!here>` is written
    // out as `&lt;!here>`.
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(posted())
        .mount(&slack)
        .await;
    let llm = fake_llm(vec![llm_answer(&"<!here> ".repeat(4_500))]).await;
    let app = slack_agent_app(&slack, &llm, None).await;
    let message = slack_thread_message("C0ENG", "shout");
    let event_id = accepted(app.post_slack("sl", &message, "slack-signing").await).await;

    // Act
    run_next(&app, &runner_of(&app)).await.expect("a task ran");
    app.drain().await;

    // Assert: sent within Slack's limit, cut with its note, the footer kept.
    let requests = slack.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 1);
    let sent: serde_json::Value = serde_json::from_slice(&requests[0].body).expect("JSON");
    let text = sent["text"].as_str().unwrap_or_default();
    assert!(text.chars().count() <= 40_000, "{}", text.chars().count());
    assert!(!text.contains("<!here>"), "{text:.200}");
    assert!(text.contains("(cut to fit: "), "{text:.200}");
    assert!(
        text.ends_with("_Posted by the `planning` agent of webhook-mcp._"),
        "{}",
        &text[text.len() - 200..]
    );
    let actions = app.actions_of(&event_id).await;
    assert!(
        actions.iter().all(|a| a["status"] == "delivered"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_models_reply_and_message_are_refused_when_too_long_as_sent() {
    // Arrange: a Slack thread; text that fits Slack as written, not once defused.
    let slack = MockServer::start().await;
    let (app, event_id) = slack_thread_event(&slack, "who can help?").await;
    let words = "<!here>".repeat(5_714);
    let incoming = format!("{}{INCOMING}", slack.uri());
    let discord = format!("{}/api/webhooks/1/tok", slack.uri());

    // Act
    let client = crate::mcp::connect(&app).await;
    let by_model = crate::mcp::call(
        &client,
        "comment",
        json!({"event_id": event_id, "text": words}),
    )
    .await;
    let message_by_model = crate::mcp::call(
        &client,
        "post_message",
        json!({"url": incoming, "kind": "slack", "text": words}),
    )
    .await;
    client.cancel().await.ok();
    let (by_person, _) = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({ "text": words }),
        )
        .await;
    let (long_message, refusal) = app
        .post_api(
            "/api/messages",
            &json!({"url": discord, "kind": "discord", "text": "x".repeat(2_001)}),
        )
        .await;
    let (fitting_message, _) = app
        .post_api(
            "/api/messages",
            &json!({"url": discord, "kind": "discord", "text": "x".repeat(2_000)}),
        )
        .await;

    // Assert: the model is told why; the person's words, sent as written, fit.
    for refused in [&by_model, &message_by_model] {
        assert_eq!(refused.is_error, Some(true), "{refused:?}");
        let said = format!("{refused:?}");
        assert!(said.contains("57140 characters as sent"), "{said}");
        assert!(said.contains("takes at most 40000"), "{said}");
    }
    assert_eq!(by_person, reqwest::StatusCode::ACCEPTED);
    assert_eq!(long_message, reqwest::StatusCode::BAD_REQUEST, "{refusal}");
    assert_eq!(refusal["error"]["field"], "text", "{refusal}");
    assert!(
        refusal["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2001 characters; a Discord message takes at most 2000")),
        "{refusal}"
    );
    assert_eq!(fitting_message, reqwest::StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_models_question_is_posted_defused_and_kept_on_its_task_as_written() {
    // Arrange
    let slack = MockServer::start().await;
    expect_thread_reply(&slack, "&lt;!here> which OS?").await;
    let (app, event_id) = slack_thread_event(&slack, "it crashes").await;

    // Act
    let asked = model_calls(
        &app,
        "ask",
        json!({"event_id": event_id, "question": "<!here> which OS?"}),
    )
    .await;
    app.drain().await;

    // Assert: Slack got it defused (its mock checks on drop); the task reads it as written.
    assert_eq!(asked.is_error, Some(false), "{asked:?}");
    let task_id = asked.structured_content.as_ref().expect("structured")["task_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a task id in {asked:?}"))
        .to_string();
    assert_eq!(app.task(&task_id).await["prompt"], "<!here> which OS?");
}

#[tokio::test]
async fn an_agents_answer_on_linear_is_cut_to_the_65536_characters_a_linear_reply_gets() {
    // Arrange: an agent answering on a Linear issue with more than its tool calls and replies
    // by hand may post there.
    let linear = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"commentCreate": {"success": true, "comment": {"id": "c-1"}}}
        })))
        .mount(&linear)
        .await;
    let llm = fake_llm(vec![llm_answer(&"word ".repeat(15_500))]).await;
    let app = spawn_app_with(|config| {
        manual_outbox(config);
        use_linear(&linear)(config);
        config.agents.runner = false;
        config.agents.openwebui_url = Some(llm.uri());
        config.agents.openwebui_api_key = Some("sk-test-key".into());
        config.agents.ai_model = Some("fake-model".into());
    })
    .await;
    app.linear_webhook_with(
        json!({"trigger": "Issue.create", "action": "create_task", "agent": "planning"}),
    )
    .await;
    let issue = json!({"type": "Issue", "action": "create",
        "data": {"id": "u7", "identifier": "ENG-7", "title": "Login fails"}});
    let event_id = accepted(app.post_linear("lin", &issue, "lin-secret").await).await;

    // Act
    run_next(&app, &runner_of(&app)).await.expect("a task ran");
    app.drain().await;

    // Assert: cut with its note, the footer kept.
    let requests = linear.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 1);
    let sent: serde_json::Value = serde_json::from_slice(&requests[0].body).expect("JSON");
    let text = sent["variables"]["input"]["body"]
        .as_str()
        .unwrap_or_default();
    assert!(text.chars().count() <= 65_536, "{}", text.chars().count());
    assert!(text.contains("(cut to fit: "), "{text:.200}");
    assert!(
        text.ends_with("*Posted by the `planning` agent of webhook-mcp.*"),
        "{}",
        &text[text.len() - 200..]
    );
    let actions = app.actions_of(&event_id).await;
    assert!(
        actions.iter().all(|a| a["status"] == "delivered"),
        "{actions:?}"
    );
}
