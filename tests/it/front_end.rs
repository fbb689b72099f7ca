//! A process that sends no actions (`serve --worker false`, as a `stdio` front end is by
//! default) queues what only the sending process's tokens and allowed hosts decide, with a
//! warning; the sending process checks them when it sends, and one that sends refuses first.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{GH_SECRET, TestApp, assert_error, open_issue, spawn_app_with, spawn_manual};

/// No token and no allowed hosts: what neither a front end nor its sender has.
fn bare(config: &mut webhook_mcp::config::Config) {
    config.upstreams.github_token = None;
    config.allowed_target_hosts.clear();
}

/// The reply, message, command and webhook a front end is asked for, each to where only the
/// sending process's settings decide (a GitHub comment, a loopback channel and base URL).
async fn ask_for_all(app: &TestApp, event_id: &str) -> [(StatusCode, Value); 4] {
    [
        app.post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "Looking into it"}),
        )
        .await,
        app.post_api(
            "/api/messages",
            &json!({"url": "http://127.0.0.1:9/api/v1/channels/webhooks/s/t", "text": "Hi"}),
        )
        .await,
        app.post_api(
            "/api/webhooks/gh/commands",
            &json!({"trigger": "*", "action": "forward",
                    "target": {"url": "http://127.0.0.1:9/in"}}),
        )
        .await,
        app.post_api(
            "/api/webhooks",
            &json!({"id": "ghe", "name": "GHE", "provider": "github",
                    "options": {"credentials": {"github_api_url": "http://127.0.0.1:9/api/v3",
                                                "github_token": "ghe-token"}}}),
        )
        .await,
    ]
}

#[tokio::test]
async fn a_front_end_queues_with_a_warning_and_a_sender_without_the_token_or_host_dead_letters() {
    // Arrange: `serve` (outbox driven by hand) without GitHub's token or allowed hosts, and a
    // front end beside it on the same database, without them either.
    let serve = spawn_manual(bare).await;
    serve.github_webhook("gh", GH_SECRET).await;
    serve
        .add_command_ok(
            "gh",
            json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning"}),
        )
        .await;
    let event_id = open_issue(&serve, 5, "Crash on save").await;
    let front_end = serve
        .beside(|c| {
            bare(c);
            c.worker = false;
        })
        .await;

    // Act
    let answers = ask_for_all(&front_end, &event_id).await;
    let (_, claimed) = front_end
        .post_api("/api/tasks/claim", &json!({"owner": "brain"}))
        .await;
    let task_id = claimed["task"]["id"].as_str().expect("a task");
    let completed = front_end
        .post_api(
            &format!("/api/tasks/{task_id}/complete"),
            &json!({"result": "Fixed in #6", "post_result": true, "owner": "brain"}),
        )
        .await;

    // Assert: all taken, each with a warning naming what the sender checks.
    assert_eq!(completed.0, StatusCode::OK, "{}", completed.1);
    assert_eq!(completed.1["status"], "done", "{}", completed.1);
    let warning = completed.1["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("GITHUB_TOKEN") && warning.contains(&format!("get_event `{event_id}`")),
        "{}",
        completed.1
    );
    let wants = [
        (StatusCode::ACCEPTED, "GITHUB_TOKEN"),
        (StatusCode::ACCEPTED, "ALLOWED_TARGET_HOSTS"),
        (StatusCode::CREATED, "ALLOWED_TARGET_HOSTS"),
        (StatusCode::CREATED, "ALLOWED_TARGET_HOSTS"),
    ];
    for ((status, body), (want, names)) in answers.iter().zip(wants) {
        assert_eq!(*status, want, "{body}");
        let warning = body["warnings"]
            .as_array()
            .and_then(|w| w.iter().find_map(Value::as_str))
            .unwrap_or_else(|| panic!("a warning: {body}"));
        assert!(warning.contains("sends no actions"), "{warning}");
        assert!(warning.contains(names), "{warning}");
    }
    let action_id = answers[0].1["id"].as_str().expect("action id");
    assert!(
        answers[0].1["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains(&format!("GET /api/actions/{action_id}"))),
        "{}",
        answers[0].1
    );

    // Act: the sending process sends them with its own settings.
    assert_eq!(serve.drain().await, 3);

    // Assert: dead, each saying what the sender lacks.
    for ((_, queued), lacks) in answers
        .iter()
        .zip(["no GitHub token", "ALLOWED_TARGET_HOSTS"])
    {
        let id = queued["id"].as_str().expect("action id");
        let (_, action) = serve.get_json(&format!("/api/actions/{id}")).await;
        assert_eq!(action["status"], "dead", "{action}");
        let error = action["last_error"].as_str().unwrap_or_default();
        assert!(error.contains(lacks), "{error}");
    }
    let result = serve.actions_of(&event_id).await;
    assert!(
        result
            .iter()
            .any(|a| a["task_id"] == task_id && a["status"] == "dead"),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_process_that_sends_still_refuses_what_it_could_not_send() {
    // Arrange: `serve` with its worker, without GitHub's token or allowed hosts.
    let serve = spawn_app_with(bare).await;
    serve.github_webhook("gh", GH_SECRET).await;
    let event_id = open_issue(&serve, 6, "Crash on load").await;

    // Act
    let answers = ask_for_all(&serve, &event_id).await;

    // Assert: refused before anything is queued or saved, as before.
    let fields = [
        None,
        Some("url"),
        Some("target.url"),
        Some("options.credentials.github_api_url"),
    ];
    for (answer, field) in answers.iter().zip(fields) {
        assert_error(answer, StatusCode::BAD_REQUEST, field);
    }
    assert!(
        answers[0].1["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nothing was queued"))
    );
    assert_eq!(serve.actions_of(&event_id).await, Vec::<Value>::new());
    let (status, _) = serve.get_json("/api/webhooks/ghe").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_front_end_still_refuses_what_no_sender_could_send() {
    // Arrange
    let serve = spawn_manual(bare).await;
    serve.github_webhook("gh", GH_SECRET).await;
    let front_end = serve.beside(|c| c.worker = false).await;

    // Act: a scheme no allowed host admits, and a webhook's own API without its own token.
    let ftp = front_end
        .post_api(
            "/api/messages",
            &json!({"url": "ftp://127.0.0.1/x", "kind": "slack", "text": "Hi"}),
        )
        .await;
    let secret = "ghe-secret";
    front_end
        .create_webhook(json!({"id": "ghe", "name": "GHE", "provider": "github",
                               "secret": secret, "options": {"credentials":
                                   {"github_api_url": "https://ghe.example.com/api/v3"}}}))
        .await;
    let body = crate::helpers::issue_opened("octo/app", 8, &[]);
    let event_id = crate::helpers::accepted(
        front_end
            .post_github(
                "ghe",
                "issues",
                &crate::helpers::delivery_id(),
                &body,
                secret,
            )
            .await,
    )
    .await;
    let tokenless = front_end
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "Hi"}),
        )
        .await;

    // Assert
    assert_error(&ftp, StatusCode::BAD_REQUEST, Some("url"));
    assert_error(&tokenless, StatusCode::BAD_REQUEST, None);
    let message = tokenless.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("github_token"), "{message}");
}
