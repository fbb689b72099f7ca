//! Events from GitHub Enterprise Server (`X-GitHub-Enterprise-Host`) are answered on that
//! server only: never on github.com's repository of the same name with the operator's token.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, accepted, assert_error, delivery_id, github_signature, issue_opened, spawn_manual,
    use_github,
};

const SECRET: &str = "gh-secret-for-enterprise";
const COMMENTS: &str = "/repos/octo/app/issues/7/comments";

/// A `gh` webhook (with `options`) that comments "Hi" on every opened issue.
async fn commenting_webhook(app: &TestApp, options: Value) {
    app.create_webhook(json!({
        "id": "gh", "name": "GitHub", "provider": "github", "secret": SECRET,
        "options": options,
    }))
    .await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "comment", "template": "Hi"}),
    )
    .await;
}

/// Issue 7 of `octo/app` opened on the enterprise server `host`; returns the event's id.
async fn open_issue_on(app: &TestApp, host: &str) -> String {
    let body = issue_opened("octo/app", 7, &[]);
    let response = app
        .client
        .post(app.url("/webhooks/github/gh"))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", "issues")
        .header("X-GitHub-Delivery", delivery_id())
        .header("X-GitHub-Enterprise-Host", host)
        .header(
            "X-Hub-Signature-256",
            github_signature(SECRET, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .expect("POST to receiver");
    accepted(response).await
}

#[tokio::test]
async fn an_enterprise_event_is_not_answered_on_github_com() {
    // Arrange: the operator's github.com (a fake) and token; a webhook with no API of its own
    // receives an issue opened on ghe.example.com.
    let github = MockServer::start().await;
    let app = spawn_manual(use_github(&github)).await;
    commenting_webhook(&app, json!({})).await;
    let event_id = open_issue_on(&app, "ghe.example.com").await;

    // Act: the command's comment is sent, and a reply is asked for by hand of a process that
    // sends (its worker on), which refuses what it could not send.
    app.drain().await;
    let sender = app.beside(use_github(&github)).await;
    let by_hand = sender
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "by hand"}),
        )
        .await;

    // Assert: nothing reached github.com; the comment is dead and the reply refused, both
    // naming the server and the option to set.
    let leaked = github.received_requests().await.unwrap_or_default();
    assert!(leaked.is_empty(), "{leaked:?}");
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "dead", "{action}");
    let error = action["last_error"].as_str().expect("last_error");
    assert!(
        error.contains("ghe.example.com") && error.contains("options.credentials.github_api_url"),
        "{error}"
    );
    assert_error(&by_hand, StatusCode::BAD_REQUEST, None);
    let message = by_hand.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("ghe.example.com"), "{message}");
}

#[tokio::test]
async fn an_enterprise_event_is_answered_through_the_webhooks_api_on_that_server() {
    // Arrange: the webhook's own API and token on the enterprise server (a fake, whose
    // address the event names as its host).
    let github = MockServer::start().await;
    let enterprise = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMMENTS))
        .and(header("authorization", "Bearer ghe-token"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 1, "html_url": "https://ghe.example.com/octo/app/issues/7#issuecomment-1"
        })))
        .expect(1)
        .mount(&enterprise)
        .await;
    let app = spawn_manual(|c| {
        use_github(&github)(c);
        c.allowed_target_hosts
            .push(enterprise.address().to_string());
    })
    .await;
    let credentials = json!({"github_api_url": enterprise.uri(), "github_token": "ghe-token"});
    commenting_webhook(&app, json!({"credentials": credentials})).await;
    let event_id = open_issue_on(&app, &enterprise.address().to_string()).await;

    // Act
    app.drain().await;

    // Assert: the comment went to the enterprise server, nothing to github.com.
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    let leaked = github.received_requests().await.unwrap_or_default();
    assert!(leaked.is_empty(), "{leaked:?}");
}
