//! Commands that act, on GitHub: a matching event ends as one comment on the right issue;
//! retries, dead letters, replays and manual replies through the outbox; nothing lost on a
//! restart. The outbox is driven by hand (`drain`) against a fake GitHub.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use webhook_mcp::worker::{self, Step};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, accepted, answer_once, assert_error, delivery_id, expect_post, issue_opened,
    manual_outbox, send_json, spawn_manual, use_github,
};

const SECRET: &str = "gh-secret-for-actions";
const COMMENTS: &str = "/repos/octo/app/issues/7/comments";

/// An app whose `gh` webhook comments "Thanks for {{issue.title}}" on every opened issue.
async fn app_commenting(github: &MockServer) -> TestApp {
    app_commenting_with(github, "Thanks for {{issue.title}}").await
}

/// An app whose `gh` webhook comments `template` on every opened issue.
async fn app_commenting_with(github: &MockServer, template: &str) -> TestApp {
    let app = spawn_manual(use_github(github)).await;
    app.github_webhook("gh", SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "comment", "template": template}),
    )
    .await;
    app
}

async fn open_issue_7(app: &TestApp) -> String {
    let body = issue_opened("octo/app", 7, &[]);
    accepted(
        app.post_github("gh", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await
}

fn comment_answer(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "id": 1, "html_url": "https://github.com/octo/app/issues/7#issuecomment-1"
    }))
}

/// The step sent the action and it will be tried again.
fn assert_retried(step: &Step) {
    assert!(
        matches!(
            step,
            Step::Sent {
                outcome: "retry",
                ..
            }
        ),
        "{step:?}"
    );
}

fn thanks() -> Value {
    json!({"body": "Thanks for Issue 7"})
}

fn outcomes(action: &Value) -> Vec<(Value, Value)> {
    action["attempt_log"]
        .as_array()
        .expect("attempt_log")
        .iter()
        .map(|a| (a["outcome"].clone(), a["http_status"].clone()))
        .collect()
}

fn time_ms(v: &Value) -> i128 {
    let t = OffsetDateTime::parse(v.as_str().expect("a time"), &Rfc3339).expect("RFC 3339");
    t.unix_timestamp_nanos() / 1_000_000
}

#[tokio::test]
async fn a_signed_issue_opened_ends_as_exactly_one_comment_on_that_issue() {
    // Arrange
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMMENTS))
        .and(header("authorization", "Bearer ghp_test"))
        .and(body_json(json!({"body": "Thanks for Issue 7"})))
        .respond_with(comment_answer(201))
        .expect(1)
        .mount(&github)
        .await;
    let app = app_commenting(&github).await;
    let event_id = open_issue_7(&app).await;
    let queued = app.actions_of(&event_id).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0]["status"], "pending");
    assert_eq!(queued[0]["action"], "comment");

    // Act
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 1);
    let event = app.event(&event_id).await;
    let action = &event["actions"][0];
    assert_eq!(action["status"], "delivered", "{event}");
    assert_eq!(action["attempts"], 1);
    assert_eq!(outcomes(action), vec![(json!("delivered"), json!(201))]);
    assert_eq!(
        action["remote_id"],
        "https://github.com/octo/app/issues/7#issuecomment-1"
    );
    assert_eq!(event["status"], "done");
}

#[tokio::test]
async fn an_upstream_500_then_200_ends_as_one_success_after_one_retry() {
    // Arrange
    let github = MockServer::start().await;
    answer_once(&github, COMMENTS, ResponseTemplate::new(500)).await;
    expect_post(&github, COMMENTS, thanks(), comment_answer(201), 1).await;
    let app = app_commenting(&github).await;
    let event_id = open_issue_7(&app).await;

    // Act
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 2);
    let event = app.event(&event_id).await;
    let action = &event["actions"][0];
    assert_eq!(action["status"], "delivered", "{event}");
    assert_eq!(action["attempts"], 2);
    assert_eq!(
        outcomes(action),
        vec![
            (json!("retry"), json!(500)),
            (json!("delivered"), json!(201))
        ]
    );
    assert_eq!(event["status"], "done");
    assert_eq!(github.received_requests().await.expect("recorded").len(), 2);
}

#[tokio::test]
async fn a_permanent_404_is_dead_lettered_then_replayed_once_the_upstream_is_fixed() {
    // Arrange
    let github = MockServer::start().await;
    let not_found = ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
    answer_once(&github, COMMENTS, not_found).await;
    let app = app_commenting(&github).await;
    let event_id = open_issue_7(&app).await;

    // Act: one attempt, no retry
    assert_eq!(app.drain().await, 1);

    // Assert
    let event = app.event(&event_id).await;
    let action = &event["actions"][0];
    assert_eq!(action["status"], "dead", "{event}");
    assert_eq!(action["attempts"], 1);
    assert_eq!(action["last_status"], 404);
    assert_eq!(outcomes(action), vec![(json!("dead"), json!(404))]);
    assert_eq!(event["status"], "failed");
    let failed = app.events("status=failed").await;
    assert!(
        failed.iter().any(|e| e["id"] == event_id.as_str()),
        "{failed:?}"
    );

    // Act: the upstream is fixed, the event replayed
    expect_post(&github, COMMENTS, thanks(), comment_answer(201), 1).await;
    let (status, report) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["results"][0]["result"], "requeued", "{report}");
    assert_eq!(app.drain().await, 1);
    let event = app.event(&event_id).await;
    assert_eq!(event["actions"].as_array().expect("actions").len(), 1);
    assert_eq!(event["actions"][0]["status"], "delivered", "{event}");
    assert_eq!(event["status"], "done");
    let failed = app.events("status=failed").await;
    assert!(!failed.iter().any(|e| e["id"] == event_id.as_str()));
}

#[tokio::test]
async fn a_replay_after_success_does_not_repeat_a_delivered_comment() {
    // Arrange
    let github = MockServer::start().await;
    expect_post(&github, COMMENTS, thanks(), comment_answer(201), 1).await;
    let app = app_commenting(&github).await;
    let event_id = open_issue_7(&app).await;
    assert_eq!(app.drain().await, 1);

    // Act
    let (status, report) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        report["results"][0]["result"], "already_delivered",
        "{report}"
    );
    assert_eq!(sent, 0);
    let event = app.event(&event_id).await;
    assert_eq!(event["actions"][0]["status"], "delivered");
    assert_eq!(event["actions"][0]["attempts"], 1);
    assert_eq!(event["status"], "done");
}

/// A `gh` webhook with its own GitHub `credentials` that comments "Hi" on every opened issue,
/// and the event of issue 7 opened; returns the event's id.
async fn comment_through_own_github(app: &TestApp, credentials: Value) -> String {
    app.create_webhook(json!({
        "id": "gh", "name": "own GitHub", "provider": "github", "secret": SECRET,
        "options": {"credentials": credentials},
    }))
    .await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "comment", "template": "Hi"}),
    )
    .await;
    open_issue_7(app).await
}

#[tokio::test]
async fn a_webhook_pointing_github_elsewhere_never_gets_the_operators_token() {
    // Arrange: the operator's GitHub and token, and a webhook whose own API URL (any API
    // caller may set one) points elsewhere, without a token of its own.
    let github = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    let app = spawn_manual(use_github(&github)).await;
    let credentials = json!({"github_api_url": elsewhere.uri()});
    let event_id = comment_through_own_github(&app, credentials).await;

    // Act
    app.drain().await;

    // Assert: nothing reached either server; the action is dead, naming the option to set.
    let leaked = elsewhere.received_requests().await.unwrap_or_default();
    assert!(leaked.is_empty(), "{leaked:?}");
    assert!(
        github
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "dead", "{action}");
    let error = action["last_error"].as_str().expect("last_error");
    assert!(
        error.contains("options.credentials.github_token"),
        "{error}"
    );
}

#[tokio::test]
async fn a_deleted_webhooks_actions_never_fall_back_to_the_operators_github() {
    // Arrange: a GitHub Enterprise webhook with its own URL and token, on a server whose
    // operator has a github.com token; its comment is queued.
    let github = MockServer::start().await;
    let enterprise = MockServer::start().await;
    let app = spawn_manual(|c| {
        use_github(&github)(c);
        c.allowed_target_hosts
            .push(enterprise.address().to_string());
    })
    .await;
    let credentials = json!({"github_api_url": enterprise.uri(), "github_token": "ghe"});
    let event_id = comment_through_own_github(&app, credentials).await;

    // Act: the webhook goes before the comment is sent, and someone replies on its event by hand.
    let deleted = app.api(Method::DELETE, "/api/webhooks/gh").send().await;
    assert_eq!(deleted.expect("delete").status(), StatusCode::NO_CONTENT);
    app.drain().await;
    let manual = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "by hand"}),
        )
        .await;

    // Assert: nothing reached the operator's GitHub; the comment is dead, the reply refused.
    let leaked = github.received_requests().await.unwrap_or_default();
    assert!(leaked.is_empty(), "{leaked:?}");
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "dead", "{action}");
    assert!(
        action["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("deleted"),
        "{action}"
    );
    assert_error(&manual, StatusCode::CONFLICT, None);
    assert!(
        manual.1["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("deleted")
    );
}

#[tokio::test]
async fn shutdown_waits_for_a_slow_send_no_longer_than_the_grace() {
    // Arrange: a forward whose target takes 30 s, the outbound timeout 20 s, a 1 s grace.
    let target = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(30)))
        .mount(&target)
        .await;
    let mut app = crate::helpers::spawn_app_with(|c| {
        c.shutdown_grace_secs = 1;
        c.outbound_timeout_secs = 20;
    })
    .await;
    app.github_webhook("gh", SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": format!("{}/in", target.uri())}}),
    )
    .await;
    open_issue_7(&app).await;
    let started = std::time::Instant::now();
    while target
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty()
        && started.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Act
    let stopping = std::time::Instant::now();
    app.stop().await;

    // Assert: the send was under way, and shutdown did not wait it out.
    assert_eq!(
        target.received_requests().await.unwrap_or_default().len(),
        1
    );
    assert!(
        stopping.elapsed() < Duration::from_secs(8),
        "stopped after {:?}",
        stopping.elapsed()
    );
}

/// Claims the row due at `now` as a sender would, its lease ending at `lease_until`; panics
/// unless one is due.
async fn claim(app: &TestApp, now: i64, lease_until: i64) -> webhook_mcp::store::outbox::OutboxRow {
    app.state
        .store
        .write(move |db| webhook_mcp::store::outbox::claim_due(db, now, lease_until, &[], &[]))
        .await
        .expect("claim")
        .expect("a row to claim")
}

#[tokio::test]
async fn an_action_being_sent_is_not_queued_again_by_hand() {
    // Arrange: a sender holds the comment (its attempt under way).
    let github = MockServer::start().await;
    expect_post(&github, COMMENTS, thanks(), comment_answer(201), 0).await;
    let app = app_commenting(&github).await;
    open_issue_7(&app).await;
    let now = webhook_mcp::clock::now_ms();
    let claimed = claim(&app, now, now + 60_000).await;

    // Act
    let manual =
        send_json(app.api(Method::POST, &format!("/api/actions/{}/retry", claimed.id))).await;

    // Assert
    assert_error(&manual, StatusCode::CONFLICT, None);
    assert!(
        manual.1["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("being sent now"),
        "{}",
        manual.1
    );
    assert_eq!(
        app.drain().await,
        0,
        "the held row is not sent beside its attempt"
    );
}

#[tokio::test]
async fn a_sender_that_outlived_its_lease_cannot_undo_a_later_delivery() {
    // Arrange: a first sender claims the comment and stalls past its lease; a second one
    // takes the row over and delivers it.
    let github = MockServer::start().await;
    expect_post(&github, COMMENTS, thanks(), comment_answer(201), 1).await;
    let app = app_commenting(&github).await;
    let event_id = open_issue_7(&app).await;
    let now = webhook_mcp::clock::now_ms();
    let stalled = claim(&app, now, now - 1).await;
    assert_eq!(app.drain().await, 1);

    // Act: the stalled sender comes back with a failure to record.
    let late = webhook_mcp::store::outbox::Attempt {
        started_at: now,
        latency_ms: 30_000,
        http_status: Some(502),
        outcome: "retry",
        error: Some("GitHub answered 502".into()),
        remote_id: None,
        next_attempt_at: Some(now),
        unanswered: false,
    };
    let id = stalled.id.clone();
    app.state
        .store
        .write(move |db| webhook_mcp::store::outbox::finish(db, &id, &late, now))
        .await
        .expect("finish");

    // Assert: its attempt is in the log (after the cut-off one the takeover recorded), but
    // the row stays delivered and is not sent again.
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    let outcomes: Vec<&str> = action["attempt_log"]
        .as_array()
        .expect("attempt log")
        .iter()
        .map(|a| a["outcome"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(outcomes, ["interrupted", "delivered", "retry"], "{action}");
    assert_eq!(app.drain().await, 0);
}

#[tokio::test]
async fn a_sender_past_its_lease_is_still_heard_while_no_one_has_taken_its_row_up() {
    // Arrange: a sender claims the comment and outlives its lease; another sender looks for
    // work while GitHub's share is full, and takes nothing.
    let github = MockServer::start().await;
    let app = app_commenting(&github).await;
    let event_id = open_issue_7(&app).await;
    let now = webhook_mcp::clock::now_ms();
    let stalled = claim(&app, now, now - 1).await;
    let taken = app
        .state
        .store
        .write(move |db| {
            webhook_mcp::store::outbox::claim_due(db, now, now + 60_000, &["github".into()], &[])
        })
        .await
        .expect("claim");
    assert!(taken.is_none(), "{taken:?}");

    // Act: the late sender's post went through.
    let delivered = webhook_mcp::store::outbox::Attempt {
        started_at: now,
        latency_ms: 30_000,
        http_status: Some(201),
        outcome: "delivered",
        error: None,
        remote_id: Some("https://github.com/octo/app/issues/7#issuecomment-1".into()),
        next_attempt_at: None,
        unanswered: false,
    };
    let id = stalled.id.clone();
    let finished = app
        .state
        .store
        .write(move |db| webhook_mcp::store::outbox::finish(db, &id, &delivered, now))
        .await
        .expect("finish");

    // Assert: heard, delivered once, not sent again.
    assert!(finished.is_some());
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(outcomes(&action).len(), 1, "{action}");
    assert_eq!(app.drain().await, 0);
}

#[tokio::test]
async fn an_absurd_delay_in_a_429_body_waits_the_longest_retry_not_a_crash() {
    // Arrange: a target asking for 10^20 seconds, more than a Duration holds.
    let github = MockServer::start().await;
    let absurd = ResponseTemplate::new(429).set_body_string(r#"{"retry_after":1e20}"#);
    answer_once(&github, COMMENTS, absurd).await;
    let app = app_commenting(&github).await;
    let event_id = open_issue_7(&app).await;

    // Act
    let first = worker::send_one(&app.state).await.expect("send");

    // Assert: retried after a day, the cap.
    assert_retried(&first);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "retrying", "{action}");
    let wait = time_ms(&action["next_attempt_at"]) - time_ms(&action["attempt_log"][0]["at"]);
    assert!(
        (86_399_000..=86_401_000).contains(&wait),
        "next attempt {wait} ms later"
    );
}

#[tokio::test]
async fn a_github_rate_limit_403_is_retried_at_the_reset_not_dead() {
    // Arrange: GitHub's primary rate limit, which it answers with 403.
    let github = MockServer::start().await;
    let reset = OffsetDateTime::now_utc().unix_timestamp() + 2;
    let limited = ResponseTemplate::new(403)
        .insert_header("x-ratelimit-remaining", "0")
        .insert_header("x-ratelimit-reset", reset.to_string().as_str())
        .set_body_json(json!({"message": "API rate limit exceeded"}));
    answer_once(&github, COMMENTS, limited).await;
    expect_post(&github, COMMENTS, thanks(), comment_answer(201), 1).await;
    let app = app_commenting(&github).await;
    let event_id = open_issue_7(&app).await;

    // Act
    worker::send_one(&app.state).await.expect("send");
    let limited = app.actions_of(&event_id).await.remove(0);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(limited["status"], "retrying", "{limited}");
    assert_eq!(limited["last_status"], 403);
    let wait = time_ms(&limited["next_attempt_at"]) - time_ms(&limited["attempt_log"][0]["at"]);
    assert!((0..=2000).contains(&wait), "next attempt {wait} ms later");
    assert_eq!(sent, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_the_delay_asked_for() {
    // Arrange
    let github = MockServer::start().await;
    let limited = ResponseTemplate::new(429).insert_header("Retry-After", "1");
    answer_once(&github, COMMENTS, limited).await;
    expect_post(&github, COMMENTS, thanks(), comment_answer(201), 1).await;
    let app = app_commenting(&github).await;
    let event_id = open_issue_7(&app).await;

    // Act
    let first = worker::send_one(&app.state).await.expect("send");
    let too_soon = worker::send_one(&app.state).await.expect("send");

    // Assert: retried, not before the second Retry-After asked for (the schedule says 0 s)
    assert_retried(&first);
    assert_eq!(too_soon, Step::Idle);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "retrying", "{action}");
    assert_eq!(action["last_status"], 429);
    assert_eq!(outcomes(&action), vec![(json!("retry"), json!(429))]);
    let wait = time_ms(&action["next_attempt_at"]) - time_ms(&action["attempt_log"][0]["at"]);
    // From the attempt's start, so the fake's answer time is in it too.
    assert!((900..=3000).contains(&wait), "next attempt {wait} ms later");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.drain().await, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["attempts"], 2);
}

#[tokio::test]
async fn manual_comments_over_rest_go_to_the_event_source_and_not_for_rejected_events() {
    // Arrange: no commands, so only the manual comments are sent
    let github = MockServer::start().await;
    for text in ["hi", "hello from the seed shape"] {
        Mock::given(method("POST"))
            .and(path(COMMENTS))
            .and(header("authorization", "Bearer ghp_test"))
            .and(body_json(json!({"body": text})))
            .respond_with(comment_answer(201))
            .expect(1)
            .mount(&github)
            .await;
    }
    let app = spawn_manual(use_github(&github)).await;
    app.github_webhook("gh", SECRET).await;
    let event_id = open_issue_7(&app).await;
    assert!(app.actions_of(&event_id).await.is_empty());

    // Act
    let (status, by_event) = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{by_event}");
    assert_eq!(app.drain().await, 1);
    let (status, by_webhook) = app
        .post_api(
            "/api/webhooks/gh/comment",
            &json!({"event_id": event_id, "message": "hello from the seed shape"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{by_webhook}");
    assert_eq!(app.drain().await, 1);

    // Act: more than a comment can hold is refused before anything is queued.
    let (status, too_long) = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "x".repeat(65_537)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{too_long}");
    assert_eq!(too_long["error"]["field"], "text", "{too_long}");

    // Assert
    assert_eq!(by_event["status"], "pending");
    let actions = app.actions_of(&event_id).await;
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(
        actions.iter().all(|a| a["status"] == "delivered"),
        "{actions:?}"
    );

    // Act: a delivery that failed verification
    let forged = issue_opened("octo/app", 7, &[]);
    let response = app
        .post_github("gh", "issues", &delivery_id(), &forged, "wrong-secret")
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let rejected = app.events("status=rejected").await;
    let rejected_id = rejected[0]["id"].as_str().expect("rejected event id");
    let refused = app
        .post_api(
            &format!("/api/events/{rejected_id}/comment"),
            &json!({"text": "hi"}),
        )
        .await;

    // Assert: refused, nothing queued or sent (the mocks' expect(1) hold)
    assert_error(&refused, StatusCode::BAD_REQUEST, Some("event_id"));
    assert_eq!(app.drain().await, 0);
}

#[tokio::test]
async fn a_restart_does_not_lose_queued_actions() {
    // Arrange
    let github = MockServer::start().await;
    expect_post(&github, COMMENTS, thanks(), comment_answer(201), 1).await;
    let app = app_commenting(&github).await;
    let event_id = open_issue_7(&app).await;
    assert_eq!(app.actions_of(&event_id).await[0]["status"], "pending");

    // Act
    let app = app
        .restart_with(|config| {
            manual_outbox(config);
            use_github(&github)(config);
        })
        .await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 1);
    let event = app.event(&event_id).await;
    assert_eq!(event["actions"][0]["status"], "delivered", "{event}");
    assert_eq!(event["status"], "done");
}

const PRIVATE_TARGETS: [&str; 2] = [
    "http://10.1.2.3/",
    "http://169.254.169.254/latest/meta-data",
];

#[tokio::test]
async fn a_forward_or_message_to_a_private_or_metadata_address_is_refused_when_given() {
    // Arrange: a process that sends (its worker on), so its own allowed hosts are the ones
    // that count.
    let app = crate::helpers::spawn_app().await;
    app.github_webhook("gh", SECRET).await;

    // Act
    let mut refused = Vec::new();
    for url in PRIVATE_TARGETS {
        let command = json!({"trigger": "*", "action": "forward", "target": {"url": url}});
        refused.push((
            "target.url",
            app.post_api("/api/webhooks/gh/commands", &command).await,
        ));
        let message = json!({"url": url, "kind": "slack", "text": "hello"});
        refused.push(("url", app.post_api("/api/messages", &message).await));
    }

    // Assert
    for (field, answer) in &refused {
        assert_error(answer, StatusCode::BAD_REQUEST, Some(field));
        let message = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("ALLOWED_TARGET_HOSTS"), "{message}");
    }
    let commands = app.get_json("/api/webhooks/gh/commands").await;
    assert_eq!(commands.1["commands"], json!([]), "{commands:?}");
}

#[tokio::test]
async fn forwards_to_private_or_metadata_addresses_are_dead_lettered_and_ftp_is_refused() {
    // Arrange: commands saved while their hosts were allowed, sent after they no longer are.
    let allow_private = |c: &mut webhook_mcp::config::Config| {
        c.allowed_target_hosts
            .extend(["10.1.2.3".into(), "169.254.169.254".into()]);
    };
    let app = spawn_manual(allow_private).await;
    app.github_webhook("gh", SECRET).await;
    let mut saved = Vec::new();
    for url in PRIVATE_TARGETS {
        let command = app
            .add_command_ok(
                "gh",
                json!({"trigger": "issues.opened", "action": "forward", "target": {"url": url}}),
            )
            .await;
        saved.push(command["id"].as_str().expect("command id").to_string());
    }
    let app = app.restart_with(manual_outbox).await;
    let body = issue_opened("octo/app", 5, &[]);
    let event_id = accepted(
        app.post_github("gh", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;

    // Act
    let sent = app.drain().await;
    let ftp = app
        .post_api(
            "/api/webhooks/gh/commands",
            &json!({"trigger": "*", "action": "forward", "target": {"url": "ftp://x"}}),
        )
        .await;

    // Assert
    assert_eq!(sent, 2);
    let event = app.event(&event_id).await;
    for action in event["actions"].as_array().expect("actions") {
        assert_eq!(action["status"], "dead", "{action}");
        assert_eq!(action["attempts"], 1);
        assert!(
            action["last_status"].is_null(),
            "no request was made: {action}"
        );
        let error = action["last_error"].as_str().expect("last_error");
        assert!(error.contains("ALLOWED_TARGET_HOSTS"), "{error}");
    }
    assert_eq!(event["status"], "failed");
    assert_error(&ftp, StatusCode::BAD_REQUEST, Some("target.url"));
    // A command whose saved target is refused now can still be switched off or fixed.
    let (disabled, command) = send_json(
        app.api(
            Method::PUT,
            &format!("/api/webhooks/gh/commands/{}", saved[0]),
        )
        .json(&json!({"enabled": false})),
    )
    .await;
    assert_eq!(disabled, StatusCode::OK, "{command}");
    assert_eq!(command["enabled"], false);
}

#[tokio::test]
async fn two_servers_on_one_database_record_every_attempt() {
    // Arrange: `serve` and a second server on the same SQLite file (as `webhook-mcp stdio`
    // beside it is), both sending from the one outbox to a channel that is down, so every
    // attempt is a write racing the other server's.
    let channel = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&channel)
        .await;
    let adjust = |c: &mut webhook_mcp::config::Config| {
        c.allowed_target_hosts.push(channel.address().to_string());
        c.retry_schedule = vec!["0s".into(), "0s".into()];
    };
    let first = crate::helpers::spawn_app_with(adjust).await;
    let second = first.beside(adjust).await;
    let url = format!("{}/hook", channel.uri());

    // Act: both take messages at once.
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..MESSAGES {
        let app = if i % 2 == 0 { &first } else { &second };
        let message = json!({"url": url, "kind": "slack", "text": format!("m{i}")});
        posts.spawn(send_json(
            app.api(Method::POST, "/api/messages").json(&message),
        ));
    }
    let answers = posts.join_all().await;

    // Assert: every message was taken, tried three times and each try recorded.
    let mut ids = Vec::new();
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::ACCEPTED, "{body}");
        ids.push(body["id"].as_str().expect("action id").to_string());
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while channel.received_requests().await.unwrap_or_default().len() < 3 * MESSAGES
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in ids {
        let (_, action) = first.get_json(&format!("/api/actions/{id}")).await;
        assert_eq!(action["status"], "dead", "{action}");
        assert_eq!(action["attempts"], 3, "{action}");
    }
    assert_eq!(
        channel.received_requests().await.unwrap_or_default().len(),
        3 * MESSAGES
    );
}

const MESSAGES: usize = 150;

#[tokio::test]
async fn a_reply_without_its_text_names_every_field_that_takes_it() {
    // Arrange
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", SECRET).await;

    // Act: the seed's shape, with `message` left out.
    let answer = app
        .post_api("/api/webhooks/gh/comment", &json!({"event_id": "evt_x"}))
        .await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST, Some("text"));
    let message = answer.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("`message`"), "{message}");
}

#[tokio::test]
async fn a_reply_longer_than_any_place_takes_is_not_told_a_million_would_go() {
    // Arrange
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", SECRET).await;
    let event_id = open_issue_7(&app).await;

    // Act
    let answer = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "x".repeat(1_048_576)}),
        )
        .await;

    // Assert: nothing says 1,000,000 characters would be sent; GitHub takes 65,536.
    assert_error(&answer, StatusCode::BAD_REQUEST, Some("text"));
    let message = answer.1["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.contains("are sent"), "{message}");
    assert!(
        message.contains("no place a reply goes takes more than 1000000"),
        "{message}"
    );
}

#[tokio::test]
async fn a_command_quoting_a_long_issue_posts_it_cut_to_fit_and_a_forward_of_it_goes_dead() {
    // Arrange: an issue body GitHub takes (65,536 characters) that renders to more than a
    // template's 256 KiB: characters of four bytes each.
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMMENTS))
        .respond_with(comment_answer(201))
        .mount(&github)
        .await;
    let app = spawn_manual(use_github(&github)).await;
    app.github_webhook("gh", SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "comment",
               "template": "Quoting:\n{{issue.body}}"}),
    )
    .await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": "https://example.com/hook"},
               "template": "{\"body\": {{ issue.body | tojson }}}"}),
    )
    .await;

    for body in ["𝄞".repeat(65_536), "😀".repeat(65_536)] {
        // Act
        let mut issue: Value =
            serde_json::from_str(&issue_opened("octo/app", 7, &[])).expect("json");
        issue["issue"]["body"] = json!(body);
        let event_id = accepted(
            app.post_github("gh", "issues", &delivery_id(), &issue.to_string(), SECRET)
                .await,
        )
        .await;
        app.drain().await;

        // Assert: the comment went, its start and how much was left out; the forward did not.
        let event = app.event(&event_id).await;
        let actions = event["actions"].as_array().expect("actions");
        let comment = actions.iter().find(|a| a["action"] == "comment");
        let comment = comment.unwrap_or_else(|| panic!("{event}"));
        assert_eq!(comment["status"], "delivered", "{comment}");
        let forward = actions.iter().find(|a| a["action"] == "forward");
        let forward = forward.unwrap_or_else(|| panic!("{event}"));
        assert_eq!(forward["status"], "dead", "{forward}");
        assert!(
            forward.to_string().contains("a forward is not cut short"),
            "{forward}"
        );
        let posted = github.received_requests().await.expect("recorded");
        let sent: Value =
            serde_json::from_slice(&posted.last().expect("a comment").body).expect("JSON comment");
        let text = sent["body"].as_str().expect("comment text");
        assert!(text.starts_with("Quoting:\n"), "{text:.40}");
        assert!(text.chars().count() <= 65_536);
        let quoted = text.split("\n\n…").next().unwrap_or_default();
        let kept = quoted.chars().filter(|c| body.starts_with(*c)).count();
        let left = body.chars().count() - kept;
        assert!(
            text.ends_with(&format!("(cut to fit: {left} more characters)")),
            "{}",
            text.chars()
                .skip(text.chars().count() - 60)
                .collect::<String>()
        );
    }
}

#[tokio::test]
async fn a_waiting_action_is_listed_cancelled_without_failing_its_event_and_retried_after_all() {
    // Arrange: GitHub refuses the comment once (500): it waits an hour to be retried.
    let github = MockServer::start().await;
    answer_once(&github, COMMENTS, ResponseTemplate::new(500)).await;
    expect_post(&github, COMMENTS, thanks(), comment_answer(201), 1).await;
    let app = spawn_manual(|c| {
        use_github(&github)(c);
        c.retry_schedule = vec!["1h".into()];
    })
    .await;
    app.github_webhook("gh", SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "comment",
               "template": "Thanks for {{issue.title}}"}),
    )
    .await;
    let event_id = open_issue_7(&app).await;
    assert_eq!(app.drain().await, 1);
    let (status, waiting) = app.get_json("/api/actions?status=retrying").await;
    assert_eq!(status, StatusCode::OK, "{waiting}");
    let action_id = waiting["actions"][0]["id"]
        .as_str()
        .expect("the retrying action is listed")
        .to_string();

    // Act
    let (cancelled, answer) = app
        .post_api(&format!("/api/actions/{action_id}/cancel"), &json!({}))
        .await;
    let again = send_json(app.api(Method::POST, &format!("/api/actions/{action_id}/cancel"))).await;
    let made_due = app
        .state
        .store
        .write(|db| {
            db.execute("UPDATE outbox SET next_attempt_at = 0", [])
                .map_err(Into::into)
        })
        .await
        .expect("make every action due");
    let sent_after_cancel = app.drain().await;

    // Assert: cancelled, not sent, its event not failed by it.
    assert_eq!(cancelled, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "cancelled", "{answer}");
    assert_error(&again, StatusCode::CONFLICT, None);
    assert_eq!((made_due, sent_after_cancel), (1, 0));
    assert_eq!(app.event(&event_id).await["status"], "done");
    let (_, listed) = app.get_json("/api/actions?status=cancelled").await;
    assert_eq!(listed["actions"][0]["id"], action_id.as_str(), "{listed}");

    // Act: a retry sends it after all.
    let (retried, _) = app
        .post_api(&format!("/api/actions/{action_id}/retry"), &json!({}))
        .await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(retried, StatusCode::OK);
    assert_eq!(sent, 1);
    let (_, action) = app.get_json(&format!("/api/actions/{action_id}")).await;
    assert_eq!(action["status"], "delivered", "{action}");
}

#[tokio::test]
async fn actions_are_listed_newest_first_a_page_at_a_time_and_bad_filters_are_refused() {
    // Arrange: three opened issues, three comments waiting (the outbox is driven by hand).
    let github = MockServer::start().await;
    let app = app_commenting(&github).await;
    for _ in 0..3 {
        open_issue_7(&app).await;
    }

    // Act
    let (_, first) = app.get_json("/api/actions?webhook_id=gh&limit=2").await;
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = app
        .get_json(&format!("/api/actions?limit=2&cursor={cursor}"))
        .await;

    // Assert
    let ids = |page: &Value| -> Vec<String> {
        page["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .map(|a| a["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let (first_ids, second_ids) = (ids(&first), ids(&second));
    assert_eq!(
        (first_ids.len(), second_ids.len()),
        (2, 1),
        "{first} {second}"
    );
    assert!(first_ids[0] > first_ids[1] && first_ids[1] > second_ids[0]);
    assert!(second["next_cursor"].is_null(), "{second}");
    for (query, field) in [
        ("limit=0", "limit"),
        ("status=lost", "status"),
        ("cursor=evt_1", "cursor"),
        ("page=2", "page"),
    ] {
        let refused = send_json(app.api(Method::GET, &format!("/api/actions?{query}"))).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, Some(field));
    }
    let (missing, _) = app.get_json("/api/actions?webhook_id=nope").await;
    assert_eq!(missing, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_forward_to_its_own_receiver_is_warned_of_and_stops_after_the_hop_limit() {
    // Arrange: a Standard Webhooks webhook that forwards every event, signed, to itself.
    let app = spawn_manual(|_| {}).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    app.create_webhook(
        json!({"id": "sw", "name": "Loop", "provider": "standard-webhooks",
                              "secret": secret}),
    )
    .await;
    let own_url = app.url("/webhooks/standard-webhooks/sw");
    let command = app
        .add_command_ok(
            "sw",
            json!({"trigger": "*", "action": "forward",
                   "target": {"url": own_url, "secret": secret}}),
        )
        .await;

    // Act: one delivery, then the outbox run until nothing is left to send (or far past the
    // limit, if the loop never stops).
    let response = app
        .post_standard("sw", "msg_loop", r#"{"type":"deploy.failed"}"#, secret)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut forwards = 0;
    for _ in 0..20 {
        match worker::send_one(&app.state).await.expect("send") {
            Step::Sent { outcome, .. } => {
                assert_eq!(outcome, "delivered");
                forwards += 1;
            }
            Step::Idle => break,
        }
    }

    // Assert: warned when saved; five forwards went, the sixth event ran nothing and says why.
    let warnings = command["warnings"].to_string();
    assert!(warnings.contains("own receive URL"), "{command}");
    assert!(warnings.contains("the loop stops only after"), "{command}");
    assert_eq!(forwards, 5);
    let events = app.events("webhook_id=sw&limit=50").await;
    assert_eq!(events.len(), 6, "{events:?}");
    let last = app.event(events[0]["id"].as_str().expect("id")).await;
    assert_eq!(last["status"], "looped", "{last}");
    assert_eq!(last["headers"]["x-webhook-mcp-hops"], "5", "{last}");
    assert_eq!(last["actions"], json!([]), "{last}");
    let first = app.event(events[5]["id"].as_str().expect("id")).await;
    assert_eq!(first["status"], "done", "{first}");
}

/// Issue 7 opened on webhook `gh` (signed with `secret`) and the first action it queued sent.
async fn open_issue_and_send(app: &TestApp, secret: &str) -> Step {
    let response = app
        .post_github(
            "gh",
            "issues",
            &delivery_id(),
            &issue_opened("octo/app", 7, &[]),
            secret,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    worker::send_one(&app.state).await.expect("send")
}

#[tokio::test]
async fn a_forward_to_its_own_receiver_that_would_not_verify_it_is_warned_of_as_rejected() {
    // Arrange: webhooks forwarding to their own receive URL: a GitHub one (which wants GitHub's
    // signature), a Standard Webhooks one sent unsigned, and an Open WebUI one whose URL
    // carries its token (which it takes, so it loops).
    let app = spawn_manual(|_| {}).await;
    let gh_secret = "gh-secret-0123456789";
    app.github_webhook("gh", gh_secret).await;
    app.create_webhook(
        json!({"id": "sw", "name": "Unsigned", "provider": "standard-webhooks",
                              "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
    )
    .await;
    let owui = app
        .create_webhook(json!({"id": "ow", "name": "Open WebUI", "provider": "openwebui"}))
        .await;
    let owui_url = owui["url_with_token"].as_str().expect("url_with_token");
    let cases = [
        ("gh", app.url("/webhooks/github/gh"), "X-Hub-Signature-256"),
        (
            "sw",
            app.url("/webhooks/standard-webhooks/sw"),
            "webhook-signature",
        ),
        ("ow", owui_url.to_string(), "the loop stops only after"),
    ];

    // Act
    let mut added = Vec::new();
    for (hook, url, _) in &cases {
        let body = json!({"trigger": "*", "action": "forward", "target": {"url": url}});
        added.push(app.add_command_ok(hook, body).await);
    }
    let step = open_issue_and_send(&app, gh_secret).await;

    // Assert: each warned as its webhook would take the forward; GitHub's goes dead.
    for ((hook, _, says), command) in cases.iter().zip(&added) {
        let warnings = command["warnings"].to_string();
        assert!(warnings.contains(says), "{hook}: {command}");
        let rejects = warnings.contains("rejects the forward");
        assert_eq!(rejects, *hook != "ow", "{hook}: {command}");
    }
    assert!(
        matches!(
            step,
            Step::Sent {
                outcome: "dead",
                ..
            }
        ),
        "{step:?}"
    );
}

#[tokio::test]
async fn a_sealed_forward_to_its_own_receiver_is_still_warned_of_as_a_loop_after_an_update() {
    // Arrange: secrets sealed at rest; a Standard Webhooks webhook forwarding to itself,
    // signed with its own secret, so it takes each forward and loops.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let app = spawn_manual(|c| {
        c.secret_key =
            Some("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f".into());
    })
    .await;
    app.create_webhook(
        json!({"id": "sw", "name": "Self", "provider": "standard-webhooks", "secret": secret}),
    )
    .await;
    let added = app
        .add_command_ok(
            "sw",
            json!({"trigger": "*", "action": "forward",
                   "target": {"url": app.url("/webhooks/standard-webhooks/sw"), "secret": secret}}),
        )
        .await;
    let id = added["id"].as_str().expect("id");

    // Act: an update that leaves the target as stored (sealed).
    let (status, updated) = send_json(
        app.api(Method::PUT, &format!("/api/webhooks/sw/commands/{id}"))
            .json(&json!({"priority": 3})),
    )
    .await;

    // Assert: both warn of the loop; neither says the webhook rejects the forward.
    assert_eq!(status, StatusCode::OK, "{updated}");
    for command in [&added, &updated] {
        let warnings = command["warnings"].to_string();
        assert!(warnings.contains("the loop stops only after"), "{command}");
        assert!(!warnings.contains("rejects the forward"), "{command}");
    }
}

#[tokio::test]
async fn a_forward_to_a_standard_webhooks_webhook_arrives_with_its_event_type() {
    // Arrange: a GitHub webhook forwarding, signed and with no template, to a Standard
    // Webhooks hub on the same server. A GitHub body names no `type` of its own.
    let app = spawn_manual(|_| {}).await;
    let (gh_secret, hub_secret) = (
        "gh-secret-0123456789",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    );
    app.github_webhook("gh", gh_secret).await;
    app.create_webhook(
        json!({"id": "hub", "name": "Hub", "provider": "standard-webhooks",
                              "secret": hub_secret}),
    )
    .await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.*", "action": "forward",
               "target": {"url": app.url("/webhooks/standard-webhooks/hub"),
                          "secret": hub_secret}}),
    )
    .await;
    let hub_command = app
        .add_command_ok(
            "hub",
            json!({"trigger": "issues.opened", "action": "forward",
                   "target": {"url": "http://127.0.0.1:9/next"}}),
        )
        .await;

    // Act: an issue opened on GitHub, and the forward sent.
    let step = open_issue_and_send(&app, gh_secret).await;

    // Assert: the hub verified it, typed it as GitHub did, and its own command matched.
    assert!(
        matches!(
            step,
            Step::Sent {
                outcome: "delivered",
                ..
            }
        ),
        "{step:?}"
    );
    let events = app.events("webhook_id=hub").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = app.event(events[0]["id"].as_str().expect("id")).await;
    assert_eq!(event["event_type"], "issues.opened", "{event}");
    assert_eq!(event["verified"], true, "{event}");
    assert_eq!(
        event["matched_commands"],
        json!([hub_command["id"]]),
        "{event}"
    );
}

/// Holds the database at the size it has now, as a full disk would: SQLite answers a write
/// that needs another page with a real SQLITE_FULL, while writes that change pages in place
/// (a claim, a lease renewed) still go in. `max_page_count` is a connection's own setting,
/// so it is set on the writer's connection, through a write.
async fn fill_the_disk(app: &TestApp) {
    app.state
        .store
        .write(|db| {
            let size: i64 = db.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            db.pragma_update(None, "max_page_count", size)?;
            Ok(())
        })
        .await
        .expect("the disk fills");
}

/// Room on the disk again.
async fn free_the_disk(app: &TestApp) {
    app.state
        .store
        .write(|db| Ok(db.pragma_update(None, "max_page_count", 1_073_741_823)?))
        .await
        .expect("the disk frees");
}

/// A GitHub answer naming its comment by a URL longer than the pages the database has free:
/// recording it needs pages the full disk cannot give.
async fn comment_answer_needing_room(app: &TestApp) -> ResponseTemplate {
    let (page_size, free_pages) = app
        .state
        .store
        .read(|db| {
            let size: i64 = db.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            let free: i64 = db.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            Ok((size, free))
        })
        .await
        .expect("page sizes");
    let long = "x".repeat(((free_pages + 4) * page_size) as usize);
    ResponseTemplate::new(201).set_body_json(json!({
        "id": 1, "html_url": format!("https://github.com/octo/app/issues/7#issuecomment-1-{long}")
    }))
}

async fn lease_of(app: &TestApp) -> Option<i64> {
    app.state
        .store
        .read(|db| Ok(db.query_row("SELECT lease_until FROM outbox", [], |r| r.get(0))?))
        .await
        .expect("the lease")
}

async fn end_the_lease(app: &TestApp) {
    app.state
        .store
        .write(|db| Ok(db.execute("UPDATE outbox SET lease_until = 1", [])?))
        .await
        .expect("end the lease");
}

/// How many times a record the data refuses is tried before it is given up (the worker's).
const RECORD_TRIES_WHEN_REFUSED: usize = 5;

#[tokio::test]
async fn a_delivered_comment_whose_record_meets_a_full_disk_is_recorded_once_the_disk_frees() {
    // Arrange: the disk is full when the comment's record is written.
    let github = MockServer::start().await;
    let app = app_commenting(&github).await;
    let event_id = open_issue_7(&app).await;
    let answer = comment_answer_needing_room(&app).await;
    expect_post(&github, COMMENTS, thanks(), answer, 1).await;
    fill_the_disk(&app).await;

    // Act: posted, then unrecorded. Each failed try renews the lease; ending it each time
    // and seeing it renewed again counts tries, up to as many as a refused record gets.
    let state = app.state.clone();
    let sending = tokio::spawn(async move { worker::send_one(&state).await });
    for _ in 0..500 {
        if github
            .received_requests()
            .await
            .is_some_and(|r| !r.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    end_the_lease(&app).await;
    let mut renewed = 0;
    for _ in 0..3000 {
        if renewed == RECORD_TRIES_WHEN_REFUSED || sending.is_finished() {
            break;
        }
        if lease_of(&app).await.is_some_and(|until| until > 1) {
            end_the_lease(&app).await;
            renewed += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // (Its lease just ended: a sender that took it up would post again, then wait with its
    // own record.)
    let while_unrecorded =
        tokio::time::timeout(Duration::from_secs(5), worker::send_one(&app.state)).await;
    let still_sending = !sending.is_finished();
    free_the_disk(&app).await;
    let sent = tokio::time::timeout(Duration::from_secs(30), sending)
        .await
        .expect("recorded once there is room")
        .expect("the sender did not panic")
        .expect("the attempt is recorded");

    // Assert: a full disk, for real, kept the record waiting past a refused record's tries;
    // recorded as delivered once it freed, not taken up again meanwhile, nor posted again.
    assert_eq!(
        renewed, RECORD_TRIES_WHEN_REFUSED,
        "the record was tried again"
    );
    assert!(still_sending, "given up on a full disk");
    assert!(
        matches!(while_unrecorded, Ok(Ok(Step::Idle))),
        "{while_unrecorded:?}"
    );
    assert!(
        matches!(
            sent,
            Step::Sent {
                outcome: "delivered",
                ..
            }
        ),
        "{sent:?}"
    );
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(outcomes(&action), vec![(json!("delivered"), json!(201))]);
    assert_eq!(app.state.store.trouble(), None);
    assert_eq!(app.drain().await, 0);
}

/// Makes the record of a delivered attempt fail the way a broken invariant does: a
/// constraint the data breaks, whatever room there is.
const RECORD_REFUSED: &str = "
    CREATE TEMP TRIGGER refuse_records BEFORE INSERT ON main.outbox_attempts
    WHEN NEW.outcome = 'delivered'
    BEGIN SELECT RAISE(ABORT, 'this record breaks a rule'); END;";

#[tokio::test]
async fn a_delivered_comment_whose_record_the_data_refuses_is_given_up_after_a_few_tries() {
    // Arrange
    let github = MockServer::start().await;
    expect_post(&github, COMMENTS, thanks(), comment_answer(201), 1).await;
    let app = app_commenting(&github).await;
    let event_id = open_issue_7(&app).await;
    app.state
        .store
        .write(|db| Ok(db.execute_batch(RECORD_REFUSED)?))
        .await
        .expect("refuse records");

    // Act
    let given_up = tokio::time::timeout(Duration::from_secs(60), worker::send_one(&app.state))
        .await
        .expect("given up, not tried without end");

    // Assert: the step fails (the sender's loop logs it) saying what became of the post; the
    // action stays unrecorded, to be sent again once its lease ends, and was posted once.
    let error = format!("{:#}", given_up.expect_err("not recorded"));
    assert!(
        error.contains("could not be recorded") && error.contains("this record breaks a rule"),
        "{error}"
    );
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "sending", "{action}");
    assert_eq!(outcomes(&action), vec![]);
}

#[tokio::test]
async fn a_message_tied_to_an_event_that_failed_verification_is_refused_naming_event_id() {
    // Arrange: a forged delivery, kept as rejected (and pruned later, with nothing to hold
    // a message tied to it).
    let channel = MockServer::start().await;
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", SECRET).await;
    let rejected = app.forged_github("gh").await;

    // Act
    let message = json!({"url": format!("{}/hook", channel.uri()), "kind": "slack",
                         "text": "About that delivery", "event_id": rejected});
    let answer = app.post_api("/api/messages", &message).await;

    // Assert: refused as a reply on it is; nothing queued
    assert_error(&answer, StatusCode::BAD_REQUEST, Some("event_id"));
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("failed verification")),
        "{}",
        answer.1
    );
    assert!(app.drain().await == 0, "nothing was queued");
}

#[tokio::test]
async fn a_reply_by_webhook_naming_another_webhooks_task_is_refused() {
    // Arrange: a task on `gh`'s event (its question), and a second webhook.
    let github = MockServer::start().await;
    let app = spawn_manual(use_github(&github)).await;
    app.github_webhook("gh", SECRET).await;
    app.github_webhook("other", SECRET).await;
    let event_id = open_issue_7(&app).await;
    let (status, asked) = app
        .post_api(
            &format!("/api/events/{event_id}/ask"),
            &json!({"question": "Which OS?"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
    let task_id = asked["task_id"].as_str().expect("task_id");

    // Act
    let (status, refused) = app
        .post_api(
            "/api/webhooks/other/comment",
            &json!({"task_id": task_id, "text": "hi"}),
        )
        .await;

    // Assert: as an event of another webhook is refused.
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["field"], "task_id", "{refused}");
    assert_eq!(
        app.actions_of(&event_id).await.len(),
        1,
        "only the question"
    );
}

#[tokio::test]
async fn a_comment_or_response_naming_an_agent_is_refused_as_it_runs_none() {
    // Arrange
    let github = MockServer::start().await;
    let app = spawn_manual(use_github(&github)).await;
    app.github_webhook("gh", SECRET).await;
    let event_id = open_issue_7(&app).await;

    // Act
    let mut refused = Vec::new();
    for (path, body) in [
        (format!("/api/events/{event_id}/comment"), json!({})),
        (format!("/api/events/{event_id}/respond"), json!({})),
        (
            "/api/webhooks/gh/comment".to_string(),
            json!({"event_id": event_id}),
        ),
    ] {
        let mut body = body;
        body["text"] = json!("hi");
        body["agent"] = json!("planning");
        refused.push(app.post_api(&path, &body).await);
    }

    // Assert: said, and nothing queued.
    for (status, body) in &refused {
        assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["field"], "agent", "{body}");
    }
    assert!(app.actions_of(&event_id).await.is_empty());
}

#[tokio::test]
async fn a_senders_team_mention_echoed_by_a_template_notifies_no_team_but_the_templates_own_does() {
    // Arrange: the template names its own team; the issue's title names another.
    let github = MockServer::start().await;
    expect_post(
        &github,
        COMMENTS,
        json!({"body": "@octo/triage: @\u{200B}octo/everyone look"}),
        comment_answer(201),
        1,
    )
    .await;
    let app = app_commenting_with(&github, "@octo/triage: {{issue.title}}").await;
    let mut body: Value = serde_json::from_str(&issue_opened("octo/app", 7, &[])).expect("JSON");
    body["issue"]["title"] = json!("@octo/everyone look");
    let body = body.to_string();

    // Act
    accepted(
        app.post_github("gh", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;

    // Assert: it reached GitHub as the mock expects (checked on drop).
    assert_eq!(app.drain().await, 1);
}

#[tokio::test]
async fn an_empty_url_is_refused_as_empty_not_as_a_relative_url() {
    // Arrange
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", SECRET).await;

    // Act
    let message = app
        .post_api("/api/messages", &json!({"url": "", "text": "x"}))
        .await;
    let command = app
        .post_api(
            "/api/webhooks/gh/commands",
            &json!({"trigger": "issues.closed", "action": "forward", "target": {"url": " "}}),
        )
        .await;

    // Assert
    for (answer, field) in [(&message, "url"), (&command, "target.url")] {
        assert_error(answer, StatusCode::BAD_REQUEST, Some(field));
        let said = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(said.contains("URL is empty"), "{said}");
        assert!(!said.contains("relative URL"), "{said}");
    }
    assert!(app.drain().await == 0, "nothing was queued");
}

#[tokio::test]
async fn an_empty_event_or_task_id_is_refused_as_empty_naming_it() {
    // Arrange
    let channel = MockServer::start().await;
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", SECRET).await;
    let url = format!("{}/hook", channel.uri());

    // Act
    let refused = [
        (
            "event_id",
            app.post_api(
                "/api/messages",
                &json!({"url": url, "kind": "slack", "text": "x", "event_id": ""}),
            )
            .await,
        ),
        (
            "task_id",
            app.post_api(
                "/api/webhooks/gh/comment",
                &json!({"text": "x", "task_id": ""}),
            )
            .await,
        ),
        (
            "event_id",
            app.post_api(
                "/api/webhooks/gh/respond",
                &json!({"text": "x", "event_id": " "}),
            )
            .await,
        ),
        (
            "task_id",
            app.post_api(
                "/api/events/evt_1/ask",
                &json!({"text": "x", "task_id": ""}),
            )
            .await,
        ),
    ];

    // Assert
    for (field, answer) in &refused {
        assert_error(answer, StatusCode::BAD_REQUEST, Some(field));
        let said = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(said.contains("empty"), "{said}");
    }
    assert!(app.drain().await == 0, "nothing was queued");
}
