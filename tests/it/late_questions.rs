//! A send that timed out although its post was made, and went dead since (a question's task
//! failed for want of it), is announced by its provider later: what may settle it (the
//! service's own post, not a person's repeating its words), and what that may wake.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

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
    announced_by("operator", id, html_url, text)
}

/// A comment GitHub announces, made by `login`.
fn announced_by(login: &str, id: u64, html_url: &str, text: &str) -> String {
    let mut echo: Value =
        serde_json::from_str(&issue_comment(9, "Flaky CI", login, text)).expect("json");
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

#[tokio::test]
async fn a_person_repeating_a_dead_question_is_not_taken_for_its_post_once_the_bots_login_is_known()
{
    // Arrange: a `/hi` comment is answered, and GitHub's answer names the login the service
    // posts as; then a question is posted but answered too late and refused for good (a
    // 422): dead, its task failed.
    let github = MockServer::start().await;
    let greeted = ResponseTemplate::new(201).set_body_json(json!({
        "id": 554, "html_url": "https://github.com/octo/app/issues/9#issuecomment-554",
        "user": {"login": "hook-bot", "type": "User"}}));
    answer_once(&github, ISSUE_9, greeted).await;
    answer_once(&github, ISSUE_9, too_late()).await;
    answer_once(&github, ISSUE_9, ResponseTemplate::new(422)).await;
    let app = asking_app(&github, &["0s"]).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issue_comment.created", "action": "comment", "template": "Hello",
               "conditions": {"body_contains": "/hi"}}),
    )
    .await;
    post_comment(&app, &issue_comment(9, "Flaky CI", "alice", "/hi")).await;
    assert_eq!(app.drain().await, 1);
    let asked = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "/ask about the crash"),
    )
    .await;
    assert_eq!(app.drain().await, 2);
    assert_eq!(task_status(&app, &asked).await, "failed");

    // Act: within the day, a person posts the question's words.
    let repeated = post_comment(&app, &announced_by("bob", 556, RETRY_URL, QUESTION)).await;
    let settled = app.drain().await;

    // Assert: that is the person's comment; the question stays dead, its task failed.
    let event = app.event(&repeated).await;
    assert_ne!(event["status"], "own_post", "{event}");
    assert_eq!(settled, 0);
    let question = app.actions_of(&asked).await.remove(0);
    assert_eq!(question["status"], "dead", "{question}");
    assert_eq!(question["remote_id"], Value::Null, "{question}");
    assert_eq!(task_status(&app, &asked).await, "failed");

    // Act: GitHub announces the question's own post, made as the service.
    let echo = post_comment(&app, &announced_by("hook-bot", 555, OWN_URL, QUESTION)).await;
    let settled = app.drain().await;

    // Assert: that one settles it, and wakes the task, with the person's comment (made on
    // the thread once the question was up) as what was said to it.
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(settled, 1);
    let question = app.actions_of(&asked).await.remove(0);
    assert_eq!(question["status"], "delivered", "{question}");
    assert_eq!(question["remote_id"], OWN_URL, "{question}");
    assert_eq!(task_status(&app, &asked).await, "queued");
}

const RETRY_URL: &str = "https://github.com/octo/app/issues/9#issuecomment-556";

/// A new message in channel `C0ENG` thread `1.1`, as Slack delivers it to app `A1`, whose
/// bot user is `UBOT`.
fn slack_reply(ts: &str, by: Value) -> String {
    let mut event = json!({"type": "message", "channel": "C0ENG", "channel_type": "channel",
                           "ts": ts, "thread_ts": "1.1"});
    for (k, v) in by.as_object().expect("sender fields") {
        event[k] = v.clone();
    }
    json!({"type": "event_callback", "team_id": "T1", "api_app_id": "A1",
           "event_id": format!("Ev{}", uuid::Uuid::new_v4().simple()), "event": event,
           "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": true}]})
    .to_string()
}

#[tokio::test]
async fn a_person_repeating_a_dead_slack_reply_is_not_taken_for_its_post() {
    // Arrange: every message in the thread is quoted back. Slack posts the first quote
    // (`1.2`) but answers too late, and no retries are left: dead.
    let slack = MockServer::start().await;
    let late = ResponseTemplate::new(200)
        .set_body_json(json!({"ok": true, "channel": "C0ENG", "ts": "1.2"}))
        .set_delay(std::time::Duration::from_secs(3));
    answer_once(&slack, "/chat.postMessage", late).await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0ENG", "ts": "1.9"})),
        )
        .mount(&slack)
        .await;
    let app = spawn_manual(|c| {
        crate::helpers::use_slack(&slack)(c);
        c.outbound_timeout_secs = 1;
        c.retry_schedule = Vec::new();
    })
    .await;
    app.slack_webhook("sl").await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "message", "action": "comment", "template": "Echo: {{event.text}}"}),
    )
    .await;
    let post = |body: String| {
        let app = &app;
        async move { accepted(app.post_slack("sl", &body, "slack-signing").await).await }
    };
    let asked = post(slack_reply("1.1", json!({"user": "U1", "text": "deploy?"}))).await;
    assert_eq!(app.drain().await, 1);
    assert_eq!(app.actions_of(&asked).await[0]["status"], "dead");

    // Act: a person posts the quote's words in the thread.
    let repeated = post(slack_reply(
        "1.3",
        json!({"user": "U2", "text": "Echo: deploy?"}),
    ))
    .await;

    // Assert: a person's message, which leaves the quote dead.
    let event = app.event(&repeated).await;
    assert_ne!(event["status"], "own_post", "{event}");
    let quote = app.actions_of(&asked).await.remove(0);
    assert_eq!(quote["status"], "dead", "{quote}");
    assert_eq!(quote["remote_id"], Value::Null, "{quote}");

    // Act: Slack announces the quote the app posted.
    let own = json!({"user": "UBOT", "bot_id": "B1", "app_id": "A1", "text": "Echo: deploy?"});
    let echo = post(slack_reply("1.2", own)).await;
    app.drain().await;

    // Assert: that one settles it.
    assert_eq!(app.event(&echo).await["status"], "own_post");
    let quote = app.actions_of(&asked).await.remove(0);
    assert_eq!(quote["status"], "delivered", "{quote}");
    assert_eq!(quote["remote_id"], "C0ENG:1.2", "{quote}");
}

#[tokio::test]
async fn an_answer_given_while_a_dead_questions_task_had_failed_is_taken_once_it_is_announced() {
    // Arrange: the question is dead and its task failed; a person answers it all the same
    // (it is on the issue), and then another comments.
    let github = MockServer::start().await;
    let (app, asked, task_id) = dead_question(&github).await;
    let answer = post_comment(&app, &issue_comment(9, "Flaky CI", "bob", "Firefox 128")).await;
    post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "carol", "Also on Safari"),
    )
    .await;

    // Act: GitHub announces the question.
    post_comment(&app, &announced(555, OWN_URL, QUESTION)).await;

    // Assert: the first answer is the task's, which runs again with it (and with it alone).
    assert_eq!(task_status(&app, &asked).await, "queued");
    let conversation = task_conversation(&app, &task_id);
    assert!(conversation.contains("Firefox 128"), "{conversation}");
    assert!(conversation.contains(&answer), "{conversation}");
    assert!(!conversation.contains("Safari"), "{conversation}");
}
