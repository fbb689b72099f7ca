//! The example configurations of the registration design the project started from, posted to
//! `POST /api/webhooks` as written there: the webhook and its commands made in one request,
//! all or nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    accepted, assert_error, delivery_id, issue_opened, read_json, send_json, spawn_app,
    spawn_app_with, spawn_manual, use_jira, use_slack,
};

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

/// Example 1 as its file reads after an edit: renamed, its first command as it was, its second
/// changed (another mention), and a command for pull requests added.
fn github_issue_tracker_edited() -> Value {
    let mut config = github_issue_tracker();
    config["name"] = json!("GitHub Issue and PR Tracker");
    config["commands"][1]["conditions"]["body_contains"] = json!("@bot");
    config["commands"].as_array_mut().unwrap().push(json!({
      "trigger": "pull_request.opened",
      "action": "create_task",
      "agent": "executor",
      "template": "Review pull request: {{pull_request.title}}"
    }));
    config
}

/// The ids and `updated_at`s of a webhook's commands, by trigger.
async fn commands_of(app: &crate::helpers::TestApp, id: &str) -> Vec<(String, String, String)> {
    let (status, listed) = app.get_json(&format!("/api/webhooks/{id}/commands")).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let mut commands: Vec<(String, String, String)> = listed["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .map(|c| {
            let field = |name: &str| c[name].as_str().unwrap_or_default().to_string();
            (field("trigger"), field("id"), field("updated_at"))
        })
        .collect();
    commands.sort();
    commands
}

#[tokio::test]
async fn an_edited_configuration_put_back_keeps_the_commands_it_still_has_and_replaces_the_rest() {
    // Arrange
    let app = spawn_app().await;
    let created = app.create_webhook(github_issue_tracker()).await;
    let kept_id = created["added_commands"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let changed_id = created["added_commands"][1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = commands_of(&app, "github-issues-001").await;
    let audited_before = crate::keys::audit_entries(&app, "").await.len();

    // Act
    let (status, put) = send_json(
        app.api(Method::PUT, "/api/webhooks/github-issues-001")
            .json(&github_issue_tracker_edited()),
    )
    .await;
    let after = commands_of(&app, "github-issues-001").await;
    let audited = crate::keys::audit_entries(&app, "").await;
    let pull_request = json!({
        "action": "opened", "number": 5,
        "pull_request": {"number": 5, "title": "Fix the login", "user": {"login": "octocat"}},
        "repository": {"full_name": "octo/app", "name": "app"},
        "sender": {"login": "octocat"},
    })
    .to_string();
    let response = app
        .post_github(
            "github-issues-001",
            "pull_request",
            &delivery_id(),
            &pull_request,
            "your-webhook-secret",
        )
        .await;
    let (_, accepted) = read_json(response).await;
    let event_id = accepted["event_id"].as_str().expect("event id");

    // Assert: the answer says what changed.
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["name"], "GitHub Issue and PR Tracker", "{put}");
    assert_eq!(put["commands"], 3, "{put}");
    assert_eq!(put["kept_commands"], 1, "{put}");
    assert_eq!(put["removed_commands"], json!([changed_id]), "{put}");
    let added: Vec<&str> = put["added_commands"]
        .as_array()
        .expect("added commands")
        .iter()
        .map(|c| c["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["issue_comment.created", "pull_request.opened"]);
    assert!(put.get("secret").is_none(), "{put}");
    assert_ne!(put["updated_at"], created["updated_at"], "{put}");
    // The one kept is the very row it was; the changed one is a new command.
    let kept = before.iter().find(|c| c.1 == kept_id).expect("kept before");
    assert!(after.contains(kept), "{after:?}");
    assert!(!after.iter().any(|c| c.1 == changed_id), "{after:?}");
    let triggers: Vec<&str> = after.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        triggers,
        [
            "issue_comment.created",
            "issues.opened",
            "pull_request.opened"
        ]
    );
    let (_, comment) = app
        .get_json(&format!(
            "/api/webhooks/github-issues-001/commands/{}",
            after[0].1
        ))
        .await;
    assert_eq!(comment["conditions"]["body_contains"], "@bot", "{comment}");
    // One request, one entry.
    assert_eq!(audited.len(), audited_before + 1, "{audited:?}");
    // A delivery meets the new set.
    let tasks = app.tasks(&format!("event_id={event_id}")).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task = app.task(tasks[0]["id"].as_str().unwrap()).await;
    assert_eq!(task["agent"], "executor");
    assert_eq!(task["prompt"], "Review pull request: Fix the login");
}

#[tokio::test]
async fn a_configuration_put_back_unchanged_changes_nothing_not_even_its_version() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(github_issue_tracker()).await;
    let (_, read) = app.get_json("/api/webhooks/github-issues-001").await;
    let before = commands_of(&app, "github-issues-001").await;

    // Act
    let (status, put) = send_json(
        app.api(Method::PUT, "/api/webhooks/github-issues-001")
            .json(&github_issue_tracker()),
    )
    .await;
    let (_, after) = app.get_json("/api/webhooks/github-issues-001").await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["kept_commands"], 2, "{put}");
    assert_eq!(put["removed_commands"], json!([]), "{put}");
    assert!(put.get("added_commands").is_none(), "{put}");
    assert_eq!(after, read);
    assert_eq!(commands_of(&app, "github-issues-001").await, before);
}

#[tokio::test]
async fn a_configuration_put_back_with_one_bad_command_changes_nothing_and_names_that_command() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(github_issue_tracker()).await;
    let (_, read) = app.get_json("/api/webhooks/github-issues-001").await;
    let before = commands_of(&app, "github-issues-001").await;
    let mut config = github_issue_tracker_edited();
    config["commands"][2]["action"] = json!("shout");

    // Act
    let refused = send_json(
        app.api(Method::PUT, "/api/webhooks/github-issues-001")
            .json(&config),
    )
    .await;
    let (_, after) = app.get_json("/api/webhooks/github-issues-001").await;

    // Assert
    assert_error(
        &refused,
        StatusCode::BAD_REQUEST,
        Some("commands[2].action"),
    );
    let message = refused.1["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("commands[2]: "), "{message}");
    assert_eq!(after, read, "the name was kept, and the version");
    assert_eq!(commands_of(&app, "github-issues-001").await, before);
}

#[tokio::test]
async fn a_configuration_put_back_with_another_secret_id_or_endpoint_is_refused() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(github_issue_tracker()).await;
    let (_, read) = app.get_json("/api/webhooks/github-issues-001").await;
    let put = |edit: &dyn Fn(&mut Value)| {
        let mut config = github_issue_tracker_edited();
        edit(&mut config);
        send_json(
            app.api(Method::PUT, "/api/webhooks/github-issues-001")
                .json(&config),
        )
    };

    // Act
    let secret = put(&|c| c["secret"] = json!("another-webhook-secret")).await;
    let id = put(&|c| c["webhook_id"] = json!("github-issues-002")).await;
    let endpoint = put(&|c| c["endpoint"] = json!("/webhooks/github/github-issues-002")).await;
    let (_, after) = app.get_json("/api/webhooks/github-issues-001").await;

    // Assert
    assert_error(&secret, StatusCode::BAD_REQUEST, Some("secret"));
    let said = secret.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        said.contains("POST /api/webhooks/github-issues-001/rotate-secret"),
        "{said}"
    );
    assert!(!said.contains("another-webhook-secret"), "{said}");
    assert_error(&id, StatusCode::BAD_REQUEST, Some("webhook_id"));
    assert_error(&endpoint, StatusCode::BAD_REQUEST, Some("endpoint"));
    assert_eq!(after, read, "nothing changed");
}

#[tokio::test]
async fn a_config_dir_is_applied_at_start_creating_its_webhooks_then_putting_them_when_edited() {
    // Arrange: Example 1 as a file in the config dir.
    let files = tempfile::tempdir().expect("config dir");
    let file = files.path().join("github-issues-001.json");
    std::fs::write(&file, github_issue_tracker().to_string()).expect("write config");
    let dir = files.path().to_path_buf();
    let app = spawn_app_with(|c| c.config_dir = Some(dir.clone())).await;
    let (status, made) = app.get_json("/api/webhooks/github-issues-001").await;
    let first = commands_of(&app, "github-issues-001").await;

    // Act: the file edited, and the server started again.
    std::fs::write(&file, github_issue_tracker_edited().to_string()).expect("edit config");
    let app = app.restart_with(|c| c.config_dir = Some(dir.clone())).await;
    let (_, edited) = app.get_json("/api/webhooks/github-issues-001").await;
    let after = commands_of(&app, "github-issues-001").await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(made["name"], "GitHub Issue Tracker", "{made}");
    assert_eq!(made["commands"], 2, "{made}");
    assert_eq!(edited["name"], "GitHub Issue and PR Tracker", "{edited}");
    assert_eq!(edited["commands"], 3, "{edited}");
    let kept = first.iter().find(|c| c.0 == "issues.opened").unwrap();
    let changed = first
        .iter()
        .find(|c| c.0 == "issue_comment.created")
        .unwrap();
    assert!(after.contains(kept), "{after:?}");
    assert!(!after.contains(changed), "{after:?}");
    // The secret the file gives verifies deliveries.
    accepted(
        app.post_github(
            "github-issues-001",
            "issues",
            &delivery_id(),
            &issue_opened("octo/app", 8, &["bug"]),
            "your-webhook-secret",
        )
        .await,
    )
    .await;

    // Act: the secret rotated over the API, and the server started again with the file.
    let (status, rotated) = send_json(
        app.api(
            Method::POST,
            "/api/webhooks/github-issues-001/rotate-secret",
        )
        .json(&json!({"secret": "a-rotated-webhook-secret", "grace_period_secs": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let app = app.restart_with(|c| c.config_dir = Some(dir.clone())).await;

    // Assert: it starts, and the webhook keeps the secret it was rotated to.
    accepted(
        app.post_github(
            "github-issues-001",
            "issues",
            &delivery_id(),
            &issue_opened("octo/app", 9, &["bug"]),
            "a-rotated-webhook-secret",
        )
        .await,
    )
    .await;
}

#[tokio::test]
async fn a_config_file_that_is_refused_stops_the_start_naming_the_file_and_the_field() {
    // Arrange: a good file, then one with a bad command.
    let files = tempfile::tempdir().expect("config dir");
    std::fs::write(
        files.path().join("a-good.json"),
        github_issue_tracker().to_string(),
    )
    .expect("write config");
    let mut bad = github_issue_tracker_edited();
    bad["webhook_id"] = json!("github-issues-002");
    bad["endpoint"] = json!("/webhooks/github/github-issues-002");
    bad["commands"][1]["action"] = json!("shout");
    std::fs::write(files.path().join("b-bad.json"), bad.to_string()).expect("write config");
    std::fs::write(files.path().join("notes.txt"), "not a configuration").expect("write");
    let data = tempfile::tempdir().expect("data dir");
    let mut config = webhook_mcp::config::Config::for_tests(data.path().join("app.db"));
    config.config_dir = Some(files.path().to_path_buf());

    // Act
    let refused = webhook_mcp::app::build(config).await.err();

    // Assert
    let said = format!("{:#}", refused.expect("the start was refused"));
    assert!(said.contains("b-bad.json"), "{said}");
    assert!(said.contains("`commands[1].action`"), "{said}");
    assert!(!said.contains("a-good.json"), "{said}");
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

    let prefixed = json!({
        "name": "Under a base path", "provider": "gitlab",
        "endpoint": "https://example.com/hooks/webhooks/gitlab/gl-prefixed",
    });
    let with_token = json!({
        "name": "Token in it", "provider": "custom",
        "endpoint": "https://example.com/webhooks/custom/ow1?token=S3CRET-VALUE",
    });
    let (prefixed_status, prefixed) =
        send_json(app.api(Method::POST, "/api/webhooks").json(&prefixed)).await;
    let token_refused = send_json(app.api(Method::POST, "/api/webhooks").json(&with_token)).await;
    let (_, audit) = app.get_json("/api/audit").await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["id"], "gl-from-endpoint");
    assert_eq!(prefixed_status, StatusCode::CREATED, "{prefixed}");
    assert_eq!(prefixed["id"], "gl-prefixed");
    assert_error(&token_refused, StatusCode::BAD_REQUEST, Some("endpoint"));
    assert!(
        token_refused.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`secret`"),
        "{}",
        token_refused.1
    );
    assert!(
        !token_refused.1.to_string().contains("S3CRET"),
        "{}",
        token_refused.1
    );
    assert!(!audit.to_string().contains("S3CRET"), "{audit}");
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

#[tokio::test]
async fn the_jira_automation_example_runs_as_written() {
    // Arrange: "Example 2: Jira Automation", word for word, its issue on the operator's site.
    let jira = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue/OPS-23/comment"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "30001"})))
        .mount(&jira)
        .await;
    let app = spawn_manual(use_jira(&jira)).await;
    let config = json!({
      "webhook_id": "jira-automation-001",
      "name": "Jira Sprint Automation",
      "provider": "jira",
      "endpoint": "/webhooks/jira/jira-automation-001",
      "enabled": true,
      "commands": [
        {
          "trigger": "jira:issue_created",
          "action": "create_task",
          "agent": "planning",
          "template": "New Jira ticket: {{issue.key}} - {{issue.summary}}"
        },
        {
          "trigger": "jira:issue_updated",
          "action": "comment",
          "agent": "brain",
          "template": "Acknowledged update to {{issue.key}}"
        }
      ]
    });
    let (status, created) = send_json(app.api(Method::POST, "/api/webhooks").json(&config)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().expect("secret").to_string();
    let issue = |event: &str| {
        json!({
            "webhookEvent": event,
            "issue": {"id": "10042", "key": "OPS-23",
                      "self": format!("{}/rest/api/2/issue/10042", jira.uri()),
                      "fields": {"summary": "Login broken"}},
            "user": {"accountId": "alice"},
        })
        .to_string()
    };

    // Act
    let created_event = accepted(
        app.post_jira("jira-automation-001", &issue("jira:issue_created"), &secret)
            .await,
    )
    .await;
    let updated_event = accepted(
        app.post_jira("jira-automation-001", &issue("jira:issue_updated"), &secret)
            .await,
    )
    .await;
    app.drain().await;

    // Assert: the task's prompt reads the summary on the issue; the comment is posted as
    // written, its agent left out with a word.
    let task_id = app.task_id_of(&created_event).await;
    assert_eq!(
        app.task(&task_id).await["prompt"],
        "New Jira ticket: OPS-23 - Login broken"
    );
    let comment = &created["added_commands"][1];
    assert!(comment["agent"].is_null(), "{comment}");
    assert!(
        comment["warnings"].to_string().contains("was left out"),
        "{comment}"
    );
    let actions = app.actions_of(&updated_event).await;
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0]["status"], "delivered", "{actions:?}");
    let posted = jira.received_requests().await.unwrap_or_default();
    let bodies: Vec<Value> = posted
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(
        bodies[0]
            .to_string()
            .contains("Acknowledged update to OPS-23"),
        "{bodies:?}"
    );
}

#[tokio::test]
async fn the_slack_example_answers_a_channels_message_in_its_thread() {
    // Arrange: "Example 3: Custom Slack Integration", word for word: its channel by name,
    // which the bot token's channel list turns into the id Slack's events name it by.
    let slack = slack_with_channels().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "ts": "1700000001.000200"})),
        )
        .mount(&slack)
        .await;
    let app = spawn_manual(use_slack(&slack)).await;
    let config = json!({
      "webhook_id": "slack-alerts-001",
      "name": "Slack Alert Handler",
      "provider": "slack",
      "endpoint": "/webhooks/slack/slack-alerts-001",
      "secret": "slack-signing-secret",
      "enabled": true,
      "commands": [
        {
          "trigger": "message.channels",
          "action": "respond",
          "agent": "brain",
          "template": "Processing your request: {{text}}",
          "conditions": {
            "channel": "#engineering"
          }
        }
      ]
    });
    let (status, created) = send_json(app.api(Method::POST, "/api/webhooks").json(&config)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let message = |channel: &str, ts: &str| {
        json!({
            "type": "event_callback", "team_id": "T1", "event_id": format!("Ev{ts}"),
            "event_time": 1,
            "event": {"type": "message", "channel": channel, "channel_type": "channel",
                      "user": "U1", "text": "deploy the API &amp; the worker", "ts": ts},
        })
        .to_string()
    };

    // Act
    let event_id = accepted(
        app.post_slack(
            "slack-alerts-001",
            &message("C0ENG1234", "1700000000.000100"),
            "slack-signing-secret",
        )
        .await,
    )
    .await;
    let elsewhere = accepted(
        app.post_slack(
            "slack-alerts-001",
            &message("C0GEN0001", "1700000000.000300"),
            "slack-signing-secret",
        )
        .await,
    )
    .await;
    app.drain().await;

    // Assert
    let command = &created["added_commands"][0];
    assert_eq!(
        command["conditions"],
        json!({"channel": ["#engineering", "C0ENG1234"]}),
        "{command}"
    );
    assert!(
        command["warnings"].to_string().contains("is `C0ENG1234`"),
        "{command}"
    );
    assert_eq!(app.actions_of(&event_id).await.len(), 1);
    assert!(app.actions_of(&elsewhere).await.is_empty());
    let posted: Vec<Value> = slack
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/chat.postMessage")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0]["channel"], "C0ENG1234", "{}", posted[0]);
    assert_eq!(posted[0]["thread_ts"], "1700000000.000100", "{}", posted[0]);
    assert_eq!(
        posted[0]["text"], "Processing your request: deploy the API &amp; the worker",
        "{}",
        posted[0]
    );
}

#[tokio::test]
async fn a_slack_channel_name_that_cannot_be_looked_up_is_kept_with_a_warning_saying_why() {
    // Arrange: a token without the scope to list channels.
    let slack = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/conversations.list"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "missing_scope"})),
        )
        .mount(&slack)
        .await;
    let app = spawn_manual(use_slack(&slack)).await;
    app.slack_webhook("sl").await;

    // Act
    let saved = app
        .add_command_ok(
            "sl",
            json!({"trigger": "message.channels", "action": "respond", "template": "On it",
                   "conditions": {"channel": "#engineering"}}),
        )
        .await;

    // Assert
    assert_eq!(saved["conditions"], json!({"channel": "#engineering"}));
    let warnings = saved["warnings"].to_string();
    assert!(
        warnings.contains("missing_scope") && warnings.contains("channels:read"),
        "{warnings}"
    );
}

#[tokio::test]
async fn a_configurations_slack_channels_are_listed_once_for_all_its_commands() {
    // Arrange
    let slack = slack_with_channels().await;
    let app = spawn_manual(use_slack(&slack)).await;
    let command = |channel: &str| {
        json!({"trigger": "message.channels", "action": "respond", "template": "Seen",
               "conditions": {"channel": channel}})
    };
    let config = json!({
        "id": "sl", "name": "Slack", "provider": "slack", "secret": "slack-signing-secret",
        "commands": [command("#engineering"), command("#general")],
    });

    // Act
    let (status, created) = send_json(app.api(Method::POST, "/api/webhooks").json(&config)).await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let channels: Vec<&Value> = created["added_commands"]
        .as_array()
        .expect("added commands")
        .iter()
        .map(|c| &c["conditions"]["channel"])
        .collect();
    assert_eq!(
        channels,
        [
            &json!(["#engineering", "C0ENG1234"]),
            &json!(["#general", "C0GEN0001"])
        ]
    );
    let listings = slack.received_requests().await.unwrap_or_default().len();
    assert_eq!(listings, 1);
}

/// A fake Slack whose bot token sees `#general` (C0GEN0001) and `#engineering` (C0ENG1234).
pub(crate) async fn slack_with_channels() -> MockServer {
    let slack = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/conversations.list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "channels": [{"id": "C0GEN0001", "name": "general"},
                         {"id": "C0ENG1234", "name": "engineering"}],
            "response_metadata": {"next_cursor": ""},
        })))
        .mount(&slack)
        .await;
    slack
}
