//! Replies that come on a task's thread when it is not waiting for one: while it runs on an
//! earlier reply (or is queued to, after a failed model call), and after its question timed
//! out, for when it is run again.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::helpers::{
    TestApp, agent_app, chat_requests, contents, fake_github, fake_llm, issue_comment, llm_answer,
    llm_asks, llm_calls, open_issue, post_gh, question_timed_out, run_next, runner_of,
};

const ANSWER: &str = "It is the macOS keychain prompt.";

/// The user messages of chat request `n` that carry a reply from the thread.
async fn replies_in(llm: &wiremock::MockServer, n: usize) -> Vec<String> {
    let requests = chat_requests(llm).await;
    let body: Value = serde_json::from_slice(&requests[n].body).expect("JSON request");
    // Replies that came together are one message (chat APIs refuse two user messages in a
    // row), each in its own block.
    contents(&body, "user")
        .iter()
        .flat_map(|m| m.split("</reply>"))
        .filter(|part| part.contains("<reply>"))
        .map(|part| format!("{}</reply>", part.trim_start()))
        .collect()
}

/// Makes a queued task due now, as if its retry wait had passed.
fn due_now(app: &TestApp, task_id: &str) {
    let db = rusqlite::Connection::open(&app.db_path).expect("open db");
    db.execute("UPDATE tasks SET next_run_at = 0 WHERE id = ?1", [task_id])
        .expect("make due");
}

/// A comment by bob on `octo/app` issue 70.
async fn bob_says(app: &TestApp, text: &str) {
    post_gh(
        app,
        "issue_comment",
        &issue_comment(70, "Crash on start", "bob", text),
    )
    .await;
}

#[tokio::test]
async fn a_second_reply_while_the_task_waits_to_retry_reaches_the_model_once_after_the_first() {
    // Arrange: the model asks; the first reply comes; the chat API then fails once, so the
    // task is queued to try again later.
    let down = ResponseTemplate::new(500).set_body_json(json!({"detail": "upstream down"}));
    let llm = fake_llm(vec![llm_asks("Which OS?"), down, llm_answer(ANSWER)]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app
        .task_id_of(&open_issue(&app, 70, "Crash on start").await)
        .await;
    assert_eq!(
        run_next(&app, &runner).await,
        Some((task_id.clone(), "waiting_reply".into()))
    );
    assert_eq!(app.drain().await, 1, "the question went out");
    bob_says(&app, "Linux").await;
    assert_eq!(
        run_next(&app, &runner).await,
        Some((task_id.clone(), "queued".into()))
    );

    // Act: the second reply comes while it waits; then it runs.
    bob_says(&app, "actually macOS").await;
    let meanwhile = app.task(&task_id).await;
    due_now(&app, &task_id);
    let ran = run_next(&app, &runner).await;

    // Assert: the model read both replies, in the order they came, each once.
    assert_eq!(meanwhile["status"], "queued", "{meanwhile}");
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    let replies = replies_in(&llm, 2).await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(replies[0].contains("Linux"), "{replies:?}");
    assert!(replies[1].contains("actually macOS"), "{replies:?}");
    // Each with who wrote it, so the model can weigh whose answer it is.
    assert!(
        replies.iter().all(|r| r.contains("A reply by `bob`")),
        "{replies:?}"
    );
    let task = app.task(&task_id).await;
    assert_eq!(task["result"], ANSWER, "{task}");
    assert!(
        task["conversation"].to_string().contains("actually macOS"),
        "the task keeps it: {task}"
    );
}

/// An agent app on `llm` whose task for issue 70 asked, and bob answered `Linux`: the fake
/// GitHub, the app and the task's id.
async fn asked_and_answered_linux(
    llm: &wiremock::MockServer,
) -> (wiremock::MockServer, TestApp, String) {
    let github = fake_github().await;
    let app = agent_app(llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app
        .task_id_of(&open_issue(&app, 70, "Crash on start").await)
        .await;
    run_next(&app, &runner).await;
    app.drain().await;
    bob_says(&app, "Linux").await;
    (github, app, task_id)
}

/// Runs the task again; bob says `actually macOS` once its second call of `llm` is out.
async fn bob_says_during_the_second_call(app: &TestApp, llm: &wiremock::MockServer) {
    let (state, run_runner) = (app.state.clone(), runner_of(app));
    let running =
        tokio::spawn(
            async move { webhook_mcp::agents::runner::run_next(&state, &run_runner).await },
        );
    for _ in 0..100 {
        if chat_requests(llm).await.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    bob_says(app, "actually macOS").await;
    running.await.expect("run").expect("runner step");
}

#[tokio::test]
async fn a_reply_while_the_model_thinks_reaches_it_at_its_next_step_once() {
    // Arrange: after the first reply the model looks at the event, slowly, then answers.
    // Slow enough that the reply is stored while the call is out, on a loaded machine too.
    let slow_look =
        llm_calls("get_event", json!({})).set_delay(std::time::Duration::from_millis(1500));
    let llm = fake_llm(vec![llm_asks("Which OS?"), slow_look, llm_answer(ANSWER)]).await;
    let (_github, app, task_id) = asked_and_answered_linux(&llm).await;

    // Act: the second reply comes once the run is under way.
    bob_says_during_the_second_call(&app, &llm).await;

    // Assert: the last model call carried both replies, in order, each once; the finished
    // task keeps the second in its conversation.
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "done", "{task}");
    assert!(
        task["conversation"].to_string().contains("actually macOS"),
        "{task}"
    );
    let replies = replies_in(&llm, 2).await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(replies[0].contains("Linux") && replies[1].contains("actually macOS"));
}

#[tokio::test]
async fn a_reply_while_the_model_gives_its_last_answer_is_read_before_the_task_ends() {
    // Arrange: after the first reply the model answers, slowly; its second thoughts follow.
    // Slow enough that the reply is stored while the call is out, on a loaded machine too.
    let slow_answer =
        llm_answer("Use the Linux build.").set_delay(std::time::Duration::from_millis(1500));
    let llm = fake_llm(vec![llm_asks("Which OS?"), slow_answer, llm_answer(ANSWER)]).await;
    let (_github, app, task_id) = asked_and_answered_linux(&llm).await;

    // Act: the second reply comes while the model writes what would be its last answer.
    bob_says_during_the_second_call(&app, &llm).await;

    // Assert: the answer written before the reply was read is not the end: the model was
    // asked again with both replies, and its answer then is the task's.
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "done", "{task}");
    assert_eq!(task["result"], ANSWER, "{task}");
    let replies = replies_in(&llm, 2).await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(replies[0].contains("Linux") && replies[1].contains("actually macOS"));
}

#[tokio::test]
async fn a_task_run_again_after_its_question_timed_out_is_told_so_and_reads_the_late_reply() {
    // Arrange: the model asked; no reply came in time; one came later.
    let llm = fake_llm(vec![llm_asks("Which version?"), llm_answer(ANSWER)]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let (event_id, task_id, _) = question_timed_out(&app, &runner, 70, "Crash on start").await;
    let failed = app.task(&task_id).await;

    // Act
    let (status, replayed) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;
    let ran = run_next(&app, &runner).await;

    // Assert: the late reply revived nothing; the run again was told the question went
    // unanswered in time, then given the reply that came since.
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    let requests = chat_requests(&llm).await;
    let body: Value = serde_json::from_slice(&requests[1].body).expect("JSON request");
    let user = contents(&body, "user").join("\n\n");
    let note = user
        .find("reply timeout")
        .unwrap_or_else(|| panic!("no timeout note: {user}"));
    let reply = user
        .find("Version 2.1")
        .unwrap_or_else(|| panic!("no late reply: {user}"));
    assert!(note < reply, "{user}");
    assert!(
        contents(&body, "assistant")
            .join("\n")
            .contains("Which version?")
    );
}

/// A GitHub `pull_request_review.submitted` on `octo/app` pull request 71 by bob; `body` is
/// the review's own text (GitHub sends null for a review that only wraps a thread reply).
async fn bob_reviews(app: &TestApp, state: &str, body: Value) {
    let review = json!({
        "action": "submitted",
        "review": {"id": 80, "state": state, "body": body, "user": {"login": "bob", "type": "User"}},
        "pull_request": {"number": 71, "title": "Retry on 502"},
        "repository": {"full_name": "octo/app"},
        "sender": {"login": "bob", "type": "User"},
    });
    post_gh(app, "pull_request_review", &review.to_string()).await;
}

#[tokio::test]
async fn a_review_submitted_with_words_answers_the_question_on_its_pull_request() {
    // Arrange: a task on pull request 71 asks, and waits.
    let llm = fake_llm(vec![llm_asks("May I merge it?"), llm_answer(ANSWER)]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "pull_request.opened", "action": "create_task",
               "agent": "planning", "template": "Review {{pull_request.title}}"}),
    )
    .await;
    let runner = runner_of(&app);
    let opened = json!({
        "action": "opened", "number": 71,
        "pull_request": {"number": 71, "title": "Retry on 502", "user": {"login": "octocat"}},
        "repository": {"full_name": "octo/app"}, "sender": {"login": "octocat"},
    });
    let task_id = app
        .task_id_of(&post_gh(&app, "pull_request", &opened.to_string()).await)
        .await;
    run_next(&app, &runner).await;
    assert_eq!(app.drain().await, 1, "the question went out");

    // Act: a review with no words of its own (what wraps a reply in a review thread), then
    // one that answers.
    bob_reviews(&app, "commented", Value::Null).await;
    let after_empty = app.task(&task_id).await;
    bob_reviews(&app, "approved", json!("Yes, merge it after the release.")).await;
    let ran = run_next(&app, &runner).await;

    // Assert
    assert_eq!(after_empty["status"], "waiting_reply", "{after_empty}");
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    let replies = replies_in(&llm, 1).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].contains("Yes, merge it after the release.") && replies[0].contains("bob"),
        "{replies:?}"
    );
}

#[tokio::test]
async fn a_question_asked_before_its_issue_moved_is_answered_on_the_issue_where_it_is_now() {
    // Arrange: a task on octo/app issue 70 asks, and waits; then the issue is transferred to
    // octo/other, where it is issue 5 (an organization's webhook hears both repositories).
    let llm = fake_llm(vec![
        llm_asks("Which OS?"),
        llm_calls(
            "comment",
            json!({"body": "Thanks, looking at the keychain."}),
        ),
        llm_answer(ANSWER),
    ])
    .await;
    let github = fake_github().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(
            "/repos/octo/other/issues/5/comments",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 2})))
        .mount(&github)
        .await;
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app
        .task_id_of(&open_issue(&app, 70, "Crash on start").await)
        .await;
    run_next(&app, &runner).await;
    assert_eq!(app.drain().await, 1, "the question went out");
    let transferred = json!({
        "action": "transferred",
        "changes": {
            "new_issue": {"number": 5, "title": "Crash on start"},
            "new_repository": {"full_name": "octo/other"},
        },
        "issue": {"number": 70, "title": "Crash on start", "user": {"login": "octocat"}},
        "repository": {"full_name": "octo/app"},
        "sender": {"login": "octocat", "type": "User"},
    });
    post_gh(&app, "issues", &transferred.to_string()).await;

    // Act: bob answers on the issue where it is now.
    let answer = json!({
        "action": "created",
        "issue": {"number": 5, "title": "Crash on start", "user": {"login": "octocat"}},
        "comment": {"id": 9_100_001, "body": "macOS", "user": {"login": "bob", "type": "User"}},
        "repository": {"full_name": "octo/other"},
        "sender": {"login": "bob", "type": "User"},
    });
    post_gh(&app, "issue_comment", &answer.to_string()).await;
    let ran = run_next(&app, &runner).await;
    app.drain().await;

    // Assert: the answer reached the model, and what it said next went to the moved issue.
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    let replies = replies_in(&llm, 1).await;
    assert!(
        replies.len() == 1 && replies[0].contains("macOS"),
        "{replies:?}"
    );
    let task = app.task(&task_id).await;
    assert_eq!(task["source"]["key"], "octo/other#5", "{task}");
    let moved_comments: Vec<_> = github
        .received_requests()
        .await
        .expect("requests are recorded")
        .into_iter()
        .filter(|r| r.url.path() == "/repos/octo/other/issues/5/comments")
        .collect();
    assert_eq!(
        moved_comments.len(),
        1,
        "the comment went to the moved issue"
    );
}
