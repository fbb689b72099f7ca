//! An agent follows, stops and resends outbound actions through MCP tools alone (list_actions,
//! cancel_action, retry_action), with the REST API's rules: the same statuses, paging, errors,
//! scopes and audit entries. The outbox is driven by hand against fake upstreams.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, accepted, delivery_id, issue_opened, posted_over_mcp, spawn_manual, use_github,
};
use crate::keys::{audit_entries, create_key};
use crate::mcp::{call, connect, structured, text};

const SECRET: &str = "gh-secret-for-actions-over-mcp";
const COMMENTS: &str = "/repos/octo/app/issues/7/comments";
const CHANNEL: &str = "/api/v1/channels/webhooks/wid/token";

/// An app whose `gh` webhook comments on every opened issue, against a fake GitHub.
async fn app_commenting(github: &MockServer) -> TestApp {
    let app = spawn_manual(use_github(github)).await;
    app.github_webhook("gh", SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "comment",
               "template": "Thanks for {{issue.title}}"}),
    )
    .await;
    app
}

/// Opens issue 7 on `octo/app` through webhook `gh`; the event's id.
async fn issue_7_opened(app: &TestApp) -> String {
    let body = issue_opened("octo/app", 7, &[]);
    accepted(
        app.post_github("gh", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await
}

/// An app with webhook `gh` (no commands) against `github`, and issue 7 opened on it: the
/// event's id.
async fn app_with_issue_7(github: &MockServer) -> (TestApp, String) {
    let app = spawn_manual(use_github(github)).await;
    app.github_webhook("gh", SECRET).await;
    let event_id = issue_7_opened(&app).await;
    (app, event_id)
}

/// Opens issue 7 on `octo/app`; its comment waits in the outbox. Returns the action's id.
async fn queued_comment(app: &TestApp) -> String {
    let event_id = issue_7_opened(app).await;
    let actions = app.actions_of(&event_id).await;
    actions[0]["id"].as_str().expect("action id").to_string()
}

/// A fake Open WebUI channel that takes `times` messages.
async fn channel(times: u64) -> MockServer {
    let owui = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHANNEL))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": true, "message_id": "m1"})),
        )
        .expect(times)
        .mount(&owui)
        .await;
    owui
}

fn ids(page: &Value) -> Vec<String> {
    page["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn list_actions_filters_by_status_and_pages_newest_first_with_the_rest_rules() {
    // Arrange: three comments waiting, the oldest cancelled over REST.
    let github = MockServer::start().await;
    let app = app_commenting(&github).await;
    let mut queued = Vec::new();
    for _ in 0..3 {
        queued.push(queued_comment(&app).await);
    }
    let (cancelled, _) = app
        .post_api(&format!("/api/actions/{}/cancel", queued[0]), &json!({}))
        .await;
    assert_eq!(cancelled, StatusCode::OK);
    let client = connect(&app).await;

    // Act
    let first = call(
        &client,
        "list_actions",
        json!({"status": "pending", "webhook_id": "gh", "limit": 1}),
    )
    .await;
    let cursor = structured(&first)["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let second = call(
        &client,
        "list_actions",
        json!({"status": "pending", "limit": 1, "cursor": cursor}),
    )
    .await;
    let stopped = call(&client, "list_actions", json!({"status": "cancelled"})).await;
    let all = call(&client, "list_actions", json!({})).await;

    // Assert: newest first, a page at a time, the filter kept across pages.
    assert_eq!(first.is_error, Some(false), "{}", text(&first));
    assert_eq!(ids(&structured(&first)), vec![queued[2].clone()]);
    assert!(
        text(&first).contains(&format!("cursor `{cursor}`")) && text(&first).contains("[pending]"),
        "{}",
        text(&first)
    );
    let second = structured(&second);
    assert_eq!(ids(&second), vec![queued[1].clone()]);
    assert!(second["next_cursor"].is_null(), "{second}");
    assert_eq!(ids(&structured(&stopped)), vec![queued[0].clone()]);
    let (_, rest) = app.get_json("/api/actions").await;
    assert_eq!(structured(&all), rest, "the same page as GET /api/actions");

    // Act: what REST refuses, the tool refuses, naming the argument.
    for (args, says) in [
        (json!({"status": "lost"}), "`status`"),
        (json!({"limit": 0}), "`limit`"),
        // Out of any range, the list's range is named, not the type it is held in.
        (json!({"limit": -1}), "between 1 and 200"),
        (json!({"limit": 1_000_000_000_000_i64}), "between 1 and 200"),
        (json!({"cursor": "evt_1"}), "`cursor`"),
        (json!({"webhook_id": "nope"}), "not found"),
    ] {
        let refused = call(&client, "list_actions", args.clone()).await;
        assert_eq!(refused.is_error, Some(true), "{args}: {}", text(&refused));
        assert!(text(&refused).contains(says), "{args}: {}", text(&refused));
    }
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_cancelled_message_is_never_sent_until_retry_action_sends_it() {
    // Arrange: a message queued over MCP to a channel that takes exactly one.
    let owui = channel(1).await;
    let (app, client, posted, action_id) =
        posted_over_mcp(format!("{}{CHANNEL}", owui.uri()), "Wrong channel, sorry").await;

    // Act: cancel it, then let the outbox run.
    let cancelled = call(&client, "cancel_action", json!({"action_id": action_id})).await;
    let tried = app.drain().await;
    let seen = call(&client, "get_action", json!({"action_id": action_id})).await;
    let (_, over_rest) = app.get_json(&format!("/api/actions/{action_id}")).await;
    let again = call(&client, "cancel_action", json!({"action_id": action_id})).await;

    // Assert: cancelled, and nothing reached the channel.
    assert!(text(&posted).contains("cancel_action"), "{}", text(&posted));
    assert_eq!(cancelled.is_error, Some(false), "{}", text(&cancelled));
    assert_eq!(structured(&cancelled)["status"], "cancelled");
    assert!(
        text(&cancelled).contains(&format!("retry_action `{action_id}`")),
        "{}",
        text(&cancelled)
    );
    assert_eq!(tried, 0);
    assert!(
        owui.received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(structured(&seen)["status"], "cancelled");
    assert_eq!(over_rest["status"], "cancelled", "{over_rest}");
    assert_eq!(again.is_error, Some(true));
    assert!(
        text(&again).contains("already cancelled"),
        "{}",
        text(&again)
    );

    // Act: a retry sends it after all.
    let retried = call(&client, "retry_action", json!({"action_id": action_id})).await;
    let sent = app.drain().await;

    // Assert (the channel's mock checks on drop that it got exactly one)
    assert_eq!(retried.is_error, Some(false), "{}", text(&retried));
    assert_eq!(structured(&retried)["status"], "pending");
    assert_eq!(sent, 1);
    let (_, delivered) = app.get_json(&format!("/api/actions/{action_id}")).await;
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn cancelling_a_delivered_action_is_a_tool_error_saying_what_to_do_and_is_audited() {
    // Arrange: the comment goes out.
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMMENTS))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"id": 1, "html_url": "https://github.com/octo/app/issues/7#issuecomment-1"}),
        ))
        .expect(1)
        .mount(&github)
        .await;
    let app = app_commenting(&github).await;
    let action_id = queued_comment(&app).await;
    assert_eq!(app.drain().await, 1);
    let client = connect(&app).await;

    // Act
    let cancelled = call(&client, "cancel_action", json!({"action_id": action_id})).await;
    let retried = call(&client, "retry_action", json!({"action_id": action_id})).await;
    let unknown = call(&client, "cancel_action", json!({"action_id": "evt_01a2"})).await;

    // Assert: refused with why and what to do instead; still delivered, sent once.
    assert_eq!(cancelled.is_error, Some(true), "{}", text(&cancelled));
    let why = text(&cancelled);
    assert!(
        why.contains("already delivered") && why.contains("correcting reply"),
        "{why}"
    );
    assert_eq!(retried.is_error, Some(true), "{}", text(&retried));
    assert!(
        text(&retried).contains("not sent twice"),
        "{}",
        text(&retried)
    );
    assert!(text(&unknown).contains("get_event"), "{}", text(&unknown));
    let (_, action) = app.get_json(&format!("/api/actions/{action_id}")).await;
    assert_eq!(action["status"], "delivered", "{action}");
    let entries = audit_entries(&app, "").await;
    let of = |tool: &str| {
        entries
            .iter()
            .find(|e| e["action"] == format!("mcp {tool}") && e["target"] == action_id.as_str())
            .unwrap_or_else(|| panic!("no audit entry for {tool}: {entries:?}"))
            .clone()
    };
    assert_eq!(of("cancel_action")["outcome"], format!("error: {why}"));
    assert!(
        of("retry_action")["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("error: ")),
        "{entries:?}"
    );
    assert!(
        !entries.iter().any(|e| e["action"] == "mcp list_actions"),
        "reads are not audited"
    );
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_read_key_may_list_actions_but_not_cancel_or_retry_them() {
    // Arrange: a comment waiting, and an agent holding a read-only key.
    let github = MockServer::start().await;
    let app = app_commenting(&github).await;
    let action_id = queued_comment(&app).await;
    let (_, read) = create_key(&app, "watcher", "read").await;
    let client = crate::keys::connect(&app, &read).await;

    // Act
    let listed = call(&client, "list_actions", json!({"status": "pending"})).await;
    let cancelled = call(&client, "cancel_action", json!({"action_id": action_id})).await;
    let retried = call(&client, "retry_action", json!({"action_id": action_id})).await;

    // Assert: listed; both changes refused as tool errors, audited as refused, nothing changed.
    assert_eq!(listed.is_error, Some(false), "{}", text(&listed));
    assert_eq!(ids(&structured(&listed)), vec![action_id.clone()]);
    for refused in [&cancelled, &retried] {
        assert_eq!(refused.is_error, Some(true), "{}", text(refused));
        assert!(text(refused).contains("read-only"), "{}", text(refused));
    }
    let (_, action) = app.get_json(&format!("/api/actions/{action_id}")).await;
    assert_eq!(action["status"], "pending", "{action}");
    let entries = audit_entries(&app, "actor=watcher").await;
    let mut refused: Vec<&str> = entries
        .iter()
        .filter(|e| e["status"] == 403 && e["target"] == action_id.as_str())
        .filter_map(|e| e["action"].as_str())
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        ["mcp cancel_action", "mcp retry_action"],
        "{entries:?}"
    );
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_forwards_summaries_name_its_kind_once_before_its_target() {
    // Arrange: a forward queued for an opened issue (never sent: the outbox is not run).
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": "http://127.0.0.1:9/in"}}),
    )
    .await;
    let action_id = queued_comment(&app).await;
    let client = connect(&app).await;

    // Act
    let seen = call(&client, "get_action", json!({"action_id": action_id})).await;
    let listed = call(&client, "list_actions", json!({})).await;
    let cancelled = call(&client, "cancel_action", json!({"action_id": action_id})).await;
    let retried = call(&client, "retry_action", json!({"action_id": action_id})).await;

    // Assert
    for said in [&seen, &listed, &cancelled, &retried] {
        assert_eq!(said.is_error, Some(false), "{}", text(said));
        let said = text(said);
        assert!(!said.contains("to forward http"), "{said}");
        assert!(said.contains("to http://127.0.0.1:9/in"), "{said}");
    }
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_models_words_cannot_notify_a_github_team_but_a_persons_can() {
    // Arrange: an issue; the same words sent by a model (MCP) and by a person (REST).
    let words = "@acme/ops please look, @alice";
    let github = MockServer::start().await;
    for body in ["@\u{200B}acme/ops please look, @alice", words] {
        Mock::given(method("POST"))
            .and(path(COMMENTS))
            .and(wiremock::matchers::body_json(json!({ "body": body })))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
            .expect(1)
            .mount(&github)
            .await;
    }
    let (app, event_id) = app_with_issue_7(&github).await;

    // Act
    let client = connect(&app).await;
    let by_model = call(
        &client,
        "comment",
        json!({"event_id": event_id, "text": words}),
    )
    .await;
    client.cancel().await.ok();
    let (status, by_person) = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({ "text": words }),
        )
        .await;

    // Assert: each reached GitHub as its mock expects (checked on drop).
    assert_eq!(by_model.is_error, Some(false), "{}", text(&by_model));
    assert_eq!(status, StatusCode::ACCEPTED, "{by_person}");
    assert_eq!(app.drain().await, 2);
    for action in app.actions_of(&event_id).await {
        assert_eq!(action["status"], "delivered", "{action}");
    }
}

#[tokio::test]
async fn cancelling_a_question_says_its_task_and_event_failed_with_it() {
    // Arrange: a question asked over MCP on issue 7 (whose event also has a comment to send),
    // waiting in the outbox; its new task waits on it.
    let github = MockServer::start().await;
    let app = app_commenting(&github).await;
    let event_id = issue_7_opened(&app).await;
    let client = connect(&app).await;
    let asked = call(
        &client,
        "ask",
        json!({"event_id": event_id, "question": "Which browser?"}),
    )
    .await;
    assert_eq!(asked.is_error, Some(false), "{}", text(&asked));
    let action_id = structured(&asked)["id"].as_str().expect("id").to_string();
    let task_id = structured(&asked)["task_id"]
        .as_str()
        .expect("task id")
        .to_string();

    // Act
    let cancelled = call(&client, "cancel_action", json!({"action_id": action_id})).await;
    let (_, task) = app.get_json(&format!("/api/tasks/{task_id}")).await;
    let event = app.event(&event_id).await;

    // Assert: what it says is what happened: the task and its event failed.
    let said = text(&cancelled);
    assert_eq!(cancelled.is_error, Some(false), "{said}");
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(event["status"], "failed", "{event}");
    assert!(!said.contains("does not fail its event"), "{said}");
    assert!(
        said.contains(&format!("task `{task_id}`"))
            && said.contains("has failed")
            && said.contains("so has its event"),
        "{said}"
    );
    assert!(
        said.contains(&format!("retry_action `{action_id}`")),
        "{said}"
    );
    assert!(
        structured(&cancelled)["note"]
            .as_str()
            .is_some_and(|n| n.contains(&task_id)),
        "{}",
        structured(&cancelled)
    );

    // Act: asked after all, then cancelled over REST.
    let retried = call(&client, "retry_action", json!({"action_id": action_id})).await;
    assert_eq!(retried.is_error, Some(false), "{}", text(&retried));
    let (status, over_rest) = app
        .post_api(&format!("/api/actions/{action_id}/cancel"), &json!({}))
        .await;

    // Assert: the REST answer says it too.
    assert_eq!(status, StatusCode::OK, "{over_rest}");
    assert!(
        over_rest["note"]
            .as_str()
            .is_some_and(|n| n.contains(&task_id) && n.contains("has failed")),
        "{over_rest}"
    );
    client.cancel().await.ok();
}

#[tokio::test]
async fn get_action_counts_attempts_as_its_json_does_and_says_every_rounds_when_they_differ() {
    // Arrange: a channel that refuses the first message and takes the next.
    let owui = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHANNEL))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"detail": "no"})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&owui)
        .await;
    Mock::given(method("POST"))
        .and(path(CHANNEL))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": true, "message_id": "m1"})),
        )
        .mount(&owui)
        .await;
    let (app, client, _, action_id) =
        posted_over_mcp(format!("{}{CHANNEL}", owui.uri()), "Deploy done").await;
    app.drain().await;
    let dead = call(&client, "get_action", json!({"action_id": action_id})).await;
    assert_eq!(structured(&dead)["status"], "dead", "{}", text(&dead));
    assert!(text(&dead).contains("dead, 1 attempt;"), "{}", text(&dead));

    // Act: sent again, by hand, and delivered.
    let retried = call(&client, "retry_action", json!({"action_id": action_id})).await;
    assert_eq!(retried.is_error, Some(false), "{}", text(&retried));
    app.drain().await;
    let seen = call(&client, "get_action", json!({"action_id": action_id})).await;

    // Assert: the text counts as `attempts` does, and says the log's count beside it.
    let shown = structured(&seen);
    assert_eq!(shown["status"], "delivered", "{shown}");
    assert_eq!(shown["attempts"], 1, "{shown}");
    assert_eq!(shown["attempt_log"].as_array().map(Vec::len), Some(2));
    assert!(
        text(&seen).contains("delivered, 1 attempt this round, 2 in all"),
        "{}",
        text(&seen)
    );
    client.cancel().await.ok();
}

#[tokio::test]
async fn the_text_a_model_names_as_the_api_it_knows_does_is_taken() {
    // Arrange: GitHub's, GitLab's and Jira's comment APIs call a comment's text `body`, Open
    // WebUI's channel webhooks and Discord's call a message's `content`; a model that knows
    // them (and reaches this server through Open WebUI, which passes its arguments on as
    // written) sends those names.
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMMENTS))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(3)
        .mount(&github)
        .await;
    let owui = channel(1).await;
    let (app, event_id) = app_with_issue_7(&github).await;

    // Act
    let client = connect(&app).await;
    let mut called = Vec::new();
    for (tool, arguments) in [
        ("comment", json!({"event_id": event_id, "body": "On it"})),
        (
            "respond",
            json!({"event_id": event_id, "body": "Fixed in #8"}),
        ),
        (
            "ask",
            json!({"event_id": event_id, "body": "Which release?"}),
        ),
        (
            "post_message",
            json!({"url": format!("{}{CHANNEL}", owui.uri()), "content": "Issue 7 answered"}),
        ),
    ] {
        called.push((tool, call(&client, tool, arguments).await));
    }
    // Both names at once is one field given twice, and said so by both names.
    let twice = call(
        &client,
        "comment",
        json!({"event_id": event_id, "text": "a", "body": "b"}),
    )
    .await;
    client.cancel().await.ok();

    // Assert: each queued as with `text` (or `question`) and delivered (the mocks count the
    // posts: three on the issue, one in the channel).
    for (tool, result) in &called {
        assert_eq!(result.is_error, Some(false), "{tool}: {}", text(result));
    }
    assert_eq!(app.drain().await, 4);
    assert_eq!(twice.is_error, Some(true));
    assert!(
        text(&twice).contains("give `text` or `body`, not both"),
        "{}",
        text(&twice)
    );
}
