//! test_webhook's dry run against a real delivery of the same event: what the dry run says
//! would be sent, or would fail, is what the real delivery does.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, accepted, delivery_id, issue_opened, spawn_app, spawn_manual};
use crate::mcp::{call, connect, structured, text};

/// The event's actions once each is delivered or dead (the app's own worker sends them).
async fn settled_actions(app: &TestApp, event_id: &str) -> Vec<Value> {
    for _ in 0..100 {
        let actions = app.actions_of(event_id).await;
        let settled = |a: &Value| a["status"] == "delivered" || a["status"] == "dead";
        if !actions.is_empty() && actions.iter().all(settled) {
            return actions;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the actions of {event_id} never settled")
}

/// The planned command of a dry run's report, by command id.
fn planned<'a>(report: &'a Value, command_id: &str) -> &'a Value {
    report["matched"]
        .as_array()
        .and_then(|m| m.iter().find(|c| c["command_id"] == command_id))
        .unwrap_or_else(|| panic!("{command_id} did not match: {report}"))
}

#[tokio::test]
async fn a_dry_run_says_a_reply_where_there_is_no_thread_fails_as_the_real_delivery_does() {
    // Arrange: an Open WebUI webhook that answers a finished chat; Open WebUI's chats are no
    // thread this service can reply on.
    let app = spawn_manual(|_| {}).await;
    let created = app
        .create_webhook(json!({"id": "ow", "name": "Open WebUI", "provider": "openwebui"}))
        .await;
    let url = created["url_with_token"]
        .as_str()
        .expect("url_with_token")
        .to_string();
    let command = app
        .add_command_ok(
            "ow",
            json!({"trigger": "chat.finished", "action": "respond",
                   "template": "Got it: {{ payload.data.title }}"}),
        )
        .await;
    let command_id = command["id"].as_str().expect("command id");
    let payload = json!({"id": "evt-chat-1", "event": "chat.finished",
        "subject": {"type": "chat", "id": "c1"},
        "data": {"chat_id": "c1", "message_id": "m1", "title": "New Chat"}});
    let client = connect(&app).await;

    // Act: the dry run, then the same event delivered for real.
    let dry = call(
        &client,
        "test_webhook",
        json!({"webhook_id": "ow", "payload": payload}),
    )
    .await;
    let delivered = app
        .client
        .post(&url)
        .json(&payload)
        .send()
        .await
        .expect("deliver");
    let event_id = accepted(delivered).await;

    // Assert: the dry run sends nothing and fails in the words the real action fails with.
    let report = structured(&dry);
    let planned = planned(&report, command_id);
    assert_eq!(planned["would_send"], Value::Null, "{report}");
    let why = planned["would_fail"].as_str().expect("would_fail");
    assert!(why.contains("has no thread to reply on"), "{why}");
    assert!(
        text(&dry).contains(&format!("{command_id} would fail: {why}")),
        "{}",
        text(&dry)
    );
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "dead", "{action}");
    assert_eq!(action["last_error"], why, "{action}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_dry_run_holds_each_action_to_the_senders_checks_as_the_real_delivery_does() {
    // Arrange: on a GitHub webhook, a comment with no GITHUB_TOKEN set, a forward whose target
    // ALLOWED_TARGET_HOSTS stops allowing after a restart, and a forward that goes.
    let app = spawn_app().await;
    let secret = "gh-secret-0123456789";
    app.github_webhook("gh", secret).await;
    let add = |body: Value| {
        let app = &app;
        async move {
            let added = app.add_command_ok("gh", body).await;
            added["id"].as_str().expect("command id").to_string()
        }
    };
    let comment = add(json!({"trigger": "issues.opened", "action": "comment",
                             "template": "Thanks"}))
    .await;
    let refused = add(json!({"trigger": "issues.opened", "action": "forward",
                             "target": {"url": "http://127.0.0.1:9/in"}}))
    .await;
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let allowed = receiver.address().to_string();
    let goes = add(json!({"trigger": "issues.opened", "action": "forward",
                          "target": {"url": format!("http://{allowed}/in")}}))
    .await;
    let app = app
        .restart_with(|c| c.allowed_target_hosts = vec![allowed.clone()])
        .await;
    let client = connect(&app).await;
    let body = issue_opened("octo/app", 7, &[]);
    let payload: Value = serde_json::from_str(&body).expect("JSON");

    // Act
    let dry = structured(
        &call(
            &client,
            "test_webhook",
            json!({"webhook_id": "gh", "event_type": "issues.opened", "payload": payload}),
        )
        .await,
    );
    let response = app
        .post_github("gh", "issues", &delivery_id(), &body, secret)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let event_id = accepted(response).await;
    let actions = settled_actions(&app, &event_id).await;

    // Assert: each failing action's error is what the dry run said; the one that goes, goes.
    for (command_id, says) in [
        (&comment, "GITHUB_TOKEN"),
        (&refused, "ALLOWED_TARGET_HOSTS"),
    ] {
        let why = planned(&dry, command_id)["would_fail"]
            .as_str()
            .unwrap_or_else(|| panic!("{command_id} would not fail: {dry}"));
        assert!(why.contains(says), "{why}");
        let action = actions
            .iter()
            .find(|a| a["command_id"] == command_id.as_str())
            .unwrap_or_else(|| panic!("no action of {command_id}: {actions:?}"));
        assert_eq!(action["status"], "dead", "{action}");
        assert_eq!(action["last_error"], why, "{action}");
    }
    let going = planned(&dry, &goes);
    assert_eq!(going["would_fail"], Value::Null, "{dry}");
    let would_send: Value =
        serde_json::from_str(going["would_send"].as_str().expect("would_send")).expect("JSON");
    assert_eq!(would_send, payload, "{dry}");
    let sent = actions
        .iter()
        .find(|a| a["command_id"] == goes.as_str())
        .expect("the forward's action");
    assert_eq!(sent["status"], "delivered", "{sent}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_dry_run_of_a_webhook_whose_options_cannot_be_read_fails_as_its_deliveries_do() {
    // Arrange: options a hand edit broke (an allowlist the receiver would enforce).
    let app = spawn_app().await;
    app.github_webhook("gh", "s3cret-s3cret-s3cret").await;
    rusqlite::Connection::open(&app.db_path)
        .expect("open the database")
        .execute(
            "UPDATE webhooks SET options = '{\"ip_allowlist\": 7' WHERE id = 'gh'",
            [],
        )
        .expect("break the options");
    let client = connect(&app).await;

    // Act
    let dry = call(&client, "test_webhook", json!({"webhook_id": "gh"})).await;

    // Assert: not a report of a delivery signed and verified with the defaults (the cause is
    // in the server's log, as for the deliveries).
    assert!(dry.is_error == Some(true), "{}", text(&dry));
}
