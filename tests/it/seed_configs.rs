//! The example configurations of the registration design the project started from, posted to
//! `POST /api/webhooks` as written there: the webhook and its commands made in one request,
//! all or nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_error, delivery_id, issue_opened, read_json, send_json, spawn_app};

/// "Example 1: GitHub Issue Tracker", word for word.
fn github_issue_tracker() -> Value {
    json!({
      "webhook_id": "github-issues-001",
      "name": "GitHub Issue Tracker",
      "provider": "github",
      "endpoint": "/webhooks/github/github-issues-001",
      "secret": "your-webhook-secret",
      "enabled": true,
      "commands": [
        {
          "trigger": "issues.opened",
          "action": "create_task",
          "agent": "planning",
          "template": "Analyze issue: {{issue.title}}\n\n{{issue.body}}",
          "conditions": {
            "labels": ["bug", "enhancement"]
          }
        },
        {
          "trigger": "issue_comment.created",
          "action": "ask",
          "agent": "brain",
          "template": "User asked: {{comment.body}}",
          "conditions": {
            "body_contains": "@agent"
          }
        }
      ]
    })
}

#[tokio::test]
async fn a_whole_configuration_makes_its_webhook_and_commands_which_then_run() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, created) = send_json(
        app.api(Method::POST, "/api/webhooks")
            .json(&github_issue_tracker()),
    )
    .await;
    let response = app
        .post_github(
            "github-issues-001",
            "issues",
            &delivery_id(),
            &issue_opened("octo/app", 7, &["bug"]),
            "your-webhook-secret",
        )
        .await;
    let (_, accepted) = read_json(response).await;
    let event_id = accepted["event_id"].as_str().expect("event id");

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["id"], "github-issues-001");
    assert_eq!(created["commands"], 2, "{created}");
    let added = created["added_commands"]
        .as_array()
        .expect("added commands");
    let triggers: Vec<&str> = added
        .iter()
        .map(|c| c["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(triggers, ["issues.opened", "issue_comment.created"]);
    assert!(
        added
            .iter()
            .all(|c| c["id"].as_str().unwrap().starts_with("cmd_"))
    );
    let (_, listed) = app
        .get_json("/api/webhooks/github-issues-001/commands")
        .await;
    assert_eq!(
        listed["commands"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    let tasks = app.tasks(&format!("event_id={event_id}")).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task = app.task(tasks[0]["id"].as_str().unwrap()).await;
    assert_eq!(task["agent"], "planning");
    assert_eq!(
        task["prompt"],
        "Analyze issue: Issue 7\n\nSomething is broken"
    );
}

#[tokio::test]
async fn a_configuration_with_one_bad_command_makes_nothing_and_names_that_command() {
    // Arrange
    let app = spawn_app().await;
    let mut config = github_issue_tracker();
    config["commands"][1]["action"] = json!("shout");

    // Act
    let refused = send_json(app.api(Method::POST, "/api/webhooks").json(&config)).await;
    let (after, _) = app.get_json("/api/webhooks/github-issues-001").await;

    // Assert
    assert_error(
        &refused,
        StatusCode::BAD_REQUEST,
        Some("commands[1].action"),
    );
    let message = refused.1["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("commands[1]: "), "{message}");
    assert_eq!(after, StatusCode::NOT_FOUND, "the webhook was kept");
}

#[tokio::test]
async fn the_same_command_twice_in_one_configuration_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let mut config = github_issue_tracker();
    let first = config["commands"][0].clone();
    config["commands"].as_array_mut().unwrap().push(first);

    // Act
    let refused = send_json(app.api(Method::POST, "/api/webhooks").json(&config)).await;

    // Assert
    assert_error(&refused, StatusCode::BAD_REQUEST, Some("commands[2]"));
    assert!(
        refused.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("commands[0]"),
        "{}",
        refused.1
    );
}

#[tokio::test]
async fn an_endpoint_gives_the_id_and_one_that_disagrees_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let by_endpoint = json!({
        "name": "From its endpoint", "provider": "gitlab",
        "endpoint": "https://hooks.example.com/webhooks/gitlab/gl-from-endpoint",
    });
    let disagreeing = json!({
        "webhook_id": "gh-one", "name": "Disagrees", "provider": "github",
        "endpoint": "/webhooks/github/gh-other",
    });
    let elsewhere = json!({
        "name": "Elsewhere", "provider": "github", "endpoint": "/webhook/github",
    });

    // Act
    let (status, made) = send_json(app.api(Method::POST, "/api/webhooks").json(&by_endpoint)).await;
    let refused = send_json(app.api(Method::POST, "/api/webhooks").json(&disagreeing)).await;
    let other = send_json(app.api(Method::POST, "/api/webhooks").json(&elsewhere)).await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["id"], "gl-from-endpoint");
    assert_error(&refused, StatusCode::BAD_REQUEST, Some("endpoint"));
    assert!(
        refused.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/webhooks/github/gh-one"),
        "{}",
        refused.1
    );
    assert_error(&other, StatusCode::BAD_REQUEST, Some("endpoint"));
}
