//! A question whose send timed out although GitHub posted it, and which went dead (its task
//! failed for want of it), is announced by GitHub later: what that announcement may settle,
//! and what it may wake.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, accepted, answer_once, delivery_id, issue_comment, spawn_manual, task_conversation,
    use_github,
};

const SECRET: &str = "gh-secret-for-late-questions";
const ISSUE_9: &str = "/repos/octo/app/issues/9/comments";
const OWN_URL: &str = "https://github.com/octo/app/issues/9#issuecomment-555";
const QUESTION: &str = "Which browser?";

/// GitHub's answer to a post of comment 555, given after the send has stopped waiting.
fn too_late() -> ResponseTemplate {
    ResponseTemplate::new(201)
        .set_body_json(json!({"id": 555, "html_url": OWN_URL}))
        .set_delay(std::time::Duration::from_secs(3))
}

/// An app whose `/ask` comments on issue 9 ask [`QUESTION`], with a 1 s send timeout and the
/// retries `retries`.
async fn asking_app(github: &MockServer, retries: &[&str]) -> TestApp {
    let retries: Vec<String> = retries.iter().map(|r| r.to_string()).collect();
    let app = spawn_manual(|c| {
        use_github(github)(c);
        c.outbound_timeout_secs = 1;
        c.retry_schedule = retries;
    })
    .await;
    add_asking_webhook(&app).await;
    app
}

async fn add_asking_webhook(app: &TestApp) {
    app.github_webhook("gh", SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issue_comment.created", "action": "ask", "agent": "brain",
               "template": QUESTION, "conditions": {"body_contains": "/ask"}}),
    )
    .await;
}

async fn post_comment(app: &TestApp, body: &str) -> String {
    accepted(
        app.post_github("gh", "issue_comment", &delivery_id(), body, SECRET)
            .await,
    )
    .await
}

/// The comment GitHub announces for one the service posted (by a personal token's user).
fn announced(id: u64, html_url: &str, text: &str) -> String {
    let mut echo: Value =
        serde_json::from_str(&issue_comment(9, "Flaky CI", "operator", text)).expect("json");
    echo["comment"]["id"] = json!(id);
    echo["comment"]["html_url"] = json!(html_url);
    echo.to_string()
}

/// A question GitHub posted (comment 555) but answered too late, then refused for good (a
/// 422): dead, its task failed. Returns the app, the asking event and the task's id.
async fn dead_question(github: &MockServer) -> (TestApp, String, String) {
    answer_once(github, ISSUE_9, too_late()).await;
    answer_once(github, ISSUE_9, ResponseTemplate::new(422)).await;
    let app = asking_app(github, &["0s"]).await;
    let asked = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "/ask about the crash"),
    )
    .await;
    assert_eq!(
        app.drain().await,
        2,
        "the timed-out send and the refused one"
    );
    assert_eq!(app.actions_of(&asked).await[0]["status"], "dead");
    let task = app.event(&asked).await["tasks"][0].clone();
    assert_eq!(task["status"], "failed", "{task}");
    let task_id = task["id"].as_str().expect("task id").to_string();
    (app, asked, task_id)
}

async fn task_status(app: &TestApp, asked: &str) -> Value {
    app.event(asked).await["tasks"][0]["status"].clone()
}

#[tokio::test]
async fn an_earlier_dead_question_announced_late_is_delivered_but_does_not_wake_its_task() {
    // Arrange: the task asks, then is asked a second question by hand; GitHub posts both but
    // answers each too late, and no retries are left: both dead, the task failed.
    let github = MockServer::start().await;
    answer_once(&github, ISSUE_9, too_late()).await;
    answer_once(&github, ISSUE_9, too_late()).await;
    let app = asking_app(&github, &[]).await;
    let asked = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "/ask about the crash"),
    )
    .await;
    let task_id = app.event(&asked).await["tasks"][0]["id"].clone();
    let (status, later) = app
        .post_api(
            &format!("/api/events/{asked}/ask"),
            &json!({"text": "Which version?", "task_id": task_id}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{later}");
    assert_eq!(app.drain().await, 2);
    let statuses: Vec<Value> = app
        .actions_of(&asked)
        .await
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("dead"), json!("dead")]);
    assert_eq!(task_status(&app, &asked).await, "failed");

    // Act: GitHub announces the first question, which is not the task's latest.
    let echo = post_comment(&app, &announced(555, OWN_URL, QUESTION)).await;
    let settled = app.drain().await;

    // Assert: that question is delivered, but the task stays failed: no one saw the question
    // it last asked, so no answer to it will come.
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(settled, 1);
    let first = app
        .actions_of(&asked)
        .await
        .into_iter()
        .find(|a| a["remote_id"] == OWN_URL)
        .expect("the first question, settled");
    assert_eq!(first["status"], "delivered", "{first}");
    assert_eq!(task_status(&app, &asked).await, "failed");
}

#[tokio::test]
async fn an_answer_right_after_a_dead_questions_late_announcement_is_taken() {
    // Arrange
    let github = MockServer::start().await;
    let (app, asked, task_id) = dead_question(&github).await;

    // Act: GitHub announces the question, and a person answers before the worker has looked
    // at it again.
    post_comment(&app, &announced(555, OWN_URL, QUESTION)).await;
    post_comment(&app, &issue_comment(9, "Flaky CI", "bob", "Firefox 128")).await;

    // Assert: the answer is the task's, at once.
    assert_eq!(task_status(&app, &asked).await, "queued");
    let conversation = task_conversation(&app, &task_id);
    assert!(conversation.contains("Firefox 128"), "{conversation}");
}

#[tokio::test]
async fn a_dead_question_announced_late_is_delivered_though_its_task_is_cancelled_then() {
    // Arrange
    let github = MockServer::start().await;
    let (app, asked, task_id) = dead_question(&github).await;

    // Act: GitHub announces the question; before the worker looks at it again, the task is
    // cancelled.
    post_comment(&app, &announced(555, OWN_URL, QUESTION)).await;
    let (status, cancelled) = app
        .post_api(&format!("/api/tasks/{task_id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let settled = app.drain().await;

    // Assert: the question was posted, and is recorded so, not dead.
    assert_eq!(settled, 1);
    let question = app.actions_of(&asked).await.remove(0);
    assert_eq!(question["status"], "delivered", "{question}");
    assert_eq!(question["remote_id"], OWN_URL, "{question}");
}

#[tokio::test]
async fn a_dead_question_announced_late_is_delivered_though_its_webhook_is_deleted_then() {
    // Arrange
    let github = MockServer::start().await;
    let (app, asked, _) = dead_question(&github).await;

    // Act: GitHub announces the question; before the worker looks at it again, the webhook
    // is deleted.
    post_comment(&app, &announced(555, OWN_URL, QUESTION)).await;
    let deleted = app
        .api(Method::DELETE, "/api/webhooks/gh")
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let settled = app.drain().await;

    // Assert
    assert_eq!(settled, 1);
    let question = app.actions_of(&asked).await.remove(0);
    assert_eq!(question["status"], "delivered", "{question}");
    assert_eq!(question["remote_id"], OWN_URL, "{question}");
}

#[tokio::test]
async fn a_dead_question_announced_to_a_new_webhook_of_its_id_does_not_wake_its_task() {
    // Arrange: the question is dead and its task failed; then its webhook is deleted, and a
    // new one made with the same id.
    let github = MockServer::start().await;
    let (app, asked, task_id) = dead_question(&github).await;
    let deleted = app
        .api(Method::DELETE, "/api/webhooks/gh")
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    add_asking_webhook(&app).await;

    // Act: GitHub announces the question to the new webhook; a person answers there.
    let echo = post_comment(&app, &announced(555, OWN_URL, QUESTION)).await;
    post_comment(&app, &issue_comment(9, "Flaky CI", "bob", "Firefox 128")).await;

    // Assert: the post is the service's own, but the task, which was the deleted webhook's,
    // stays failed: the new webhook's answers are not its.
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(task_status(&app, &asked).await, "failed");
    let conversation = task_conversation(&app, &task_id);
    assert!(!conversation.contains("Firefox 128"), "{conversation}");
}
