//! The running worker shares its senders across target hosts: actions piling up for a slow
//! forward target, or for a webhook's own slow GitHub Enterprise API, do not hold up another
//! webhook's comment on a fast GitHub.

use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, accepted, delivery_id, issue_opened, spawn_app_with, use_github};

const SECRET: &str = "gh-secret-for-fairness";
const COMMENTS: &str = "/repos/octo/app/issues/7/comments";

/// Forwards queued for the slow target before the comment: with every sender on them, the
/// comment would wait `SLOW_ACTIONS / CONCURRENCY` timeouts (6 s).
const SLOW_ACTIONS: u64 = 6;
const CONCURRENCY: usize = 2;
const TIMEOUT_SECS: u64 = 2;

async fn queue(app: &TestApp, webhook_id: &str, number: u64) {
    let body = issue_opened("octo/app", number, &[]);
    accepted(
        app.post_github(webhook_id, "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;
}

/// A GitHub that takes the comment on issue 7 at once.
async fn fast_github() -> MockServer {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMMENTS))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 1, "html_url": "https://github.com/octo/app/issues/7#issuecomment-1"
        })))
        .mount(&github)
        .await;
    github
}

/// Queues `gh`'s comment on issue 7 and waits until `github` has it, 10 s at most; when it
/// was queued.
async fn queue_the_comment(app: &TestApp, github: &MockServer) -> Instant {
    let queued = Instant::now();
    queue(app, "gh", 7).await;
    let deadline = queued + Duration::from_secs(10);
    while github
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    queued
}

#[tokio::test]
async fn a_slow_forward_target_does_not_hold_up_another_hosts_actions() {
    // Arrange: `slow` forwards every event to a target that answers after 5 s (each send
    // times out at 2 s); `gh` comments on a fast GitHub. The real worker runs, 2 senders.
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&slow)
        .await;
    let github = fast_github().await;
    let app = spawn_app_with(|c| {
        use_github(&github)(c);
        c.worker = true;
        c.outbound_concurrency = CONCURRENCY;
        c.outbound_timeout_secs = TIMEOUT_SECS;
    })
    .await;
    app.github_webhook("slow", SECRET).await;
    app.add_command_ok(
        "slow",
        json!({"trigger": "issues.opened", "action": "forward", "target": {"url": slow.uri()}}),
    )
    .await;
    app.github_webhook("gh", SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "comment", "template": "Thanks"}),
    )
    .await;
    for number in 1..=SLOW_ACTIONS {
        queue(&app, "slow", 100 + number).await;
    }

    // Act: the comment is queued behind them.
    let queued = queue_the_comment(&app, &github).await;

    // Assert: it went out at once, long before the slow target's first send timed out.
    let waited = queued.elapsed();
    let comments = github.received_requests().await.unwrap_or_default();
    assert_eq!(comments.len(), 1, "the comment was not sent within 10 s");
    assert!(
        waited < Duration::from_millis(1_500),
        "the comment waited {waited:?} behind the slow target's actions"
    );
}

#[tokio::test]
async fn a_webhooks_own_slow_github_does_not_hold_up_another_webhooks_comment() {
    // Arrange: `ghe` comments through its own GitHub Enterprise API, which answers after 5 s
    // (each send times out at 2 s); `gh` comments through the operator's fast GitHub.
    let enterprise = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(5)))
        .mount(&enterprise)
        .await;
    let github = fast_github().await;
    let app = spawn_app_with(|c| {
        use_github(&github)(c);
        c.allowed_target_hosts
            .push(enterprise.address().to_string());
        c.worker = true;
        c.outbound_concurrency = CONCURRENCY;
        c.outbound_timeout_secs = TIMEOUT_SECS;
    })
    .await;
    let comment = json!({"trigger": "issues.opened", "action": "comment", "template": "Thanks"});
    let credentials = json!({"github_api_url": enterprise.uri(), "github_token": "ghe-token"});
    app.create_webhook(json!({
        "id": "ghe", "name": "GitHub Enterprise", "provider": "github", "secret": SECRET,
        "options": {"credentials": credentials},
    }))
    .await;
    app.add_command_ok("ghe", comment.clone()).await;
    app.github_webhook("gh", SECRET).await;
    app.add_command_ok("gh", comment).await;
    for number in 1..=SLOW_ACTIONS {
        queue(&app, "ghe", 100 + number).await;
    }

    // Act: the comment on the operator's GitHub is queued behind them.
    let queued = queue_the_comment(&app, &github).await;

    // Assert: it went out at once, long before the enterprise API's first send timed out.
    let waited = queued.elapsed();
    let comments = github.received_requests().await.unwrap_or_default();
    assert_eq!(comments.len(), 1, "the comment was not sent within 10 s");
    assert!(
        waited < Duration::from_millis(1_500),
        "the comment waited {waited:?} behind the enterprise API's actions"
    );
}
