//! A run that fails after its tools already commented (the chat API refusing the next call, or
//! the run out of steps): the run is kept in the task's conversation, so the run a replay
//! starts reads what its tools sent and does not send it again.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, agent_app_with, chat_requests, comments_on, fake_github, fake_llm, llm_answer,
    llm_calls, open_issue, run_next, runner_of, turns_out_of_order,
};

/// An app on the fakes whose `planning` agent has `max_steps` model calls per run.
async fn app_with_steps(llm: &MockServer, github: &MockServer, max_steps: u32) -> TestApp {
    agent_app_with(llm, github, |config| {
        config.agents.agents =
            Some(json!([{"name": "planning", "max_steps": max_steps}]).to_string());
    })
    .await
}

async fn answer_comments_with(github: &MockServer, status: u16) {
    github.reset().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/repos/octo/app/issues/\d+/comments$"))
        .respond_with(ResponseTemplate::new(status).set_body_json(json!({"id": 1})))
        .mount(github)
        .await;
}

/// Whether every tool call in the request's messages is answered by a tool message before the
/// next assistant or user message (an OpenAI-compatible API refuses one left unanswered).
fn calls_all_answered(messages: &[Value]) -> bool {
    messages.iter().enumerate().all(|(at, m)| {
        let calls = m["tool_calls"].as_array().cloned().unwrap_or_default();
        let results: Vec<&Value> = messages[at + 1..]
            .iter()
            .take_while(|r| r["role"] == "tool")
            .collect();
        calls
            .iter()
            .all(|c| results.iter().any(|r| r["tool_call_id"] == c["id"]))
    })
}

#[tokio::test]
async fn a_run_that_failed_after_commenting_is_kept_and_its_replay_does_not_comment_again() {
    // Arrange: the model comments; then the chat API refuses the next call (400), or the run
    // has no step left. The run a replay starts answers with text only.
    let refused = ResponseTemplate::new(400).set_body_json(json!({"detail": "Bad request"}));
    let cases: [(&str, u32, Vec<ResponseTemplate>, &str); 2] = [
        (
            "a 400",
            8,
            vec![
                llm_calls("comment", json!({"text": "Looking into it."})),
                refused,
                llm_answer("All done."),
            ],
            "Bad request",
        ),
        (
            "out of steps",
            1,
            vec![
                llm_calls("comment", json!({"text": "Looking into it."})),
                llm_answer("All done."),
            ],
            "stopped after 1 model calls",
        ),
    ];
    for (n, (case, max_steps, script, error)) in cases.into_iter().enumerate() {
        let number = 90 + n as u64;
        let (llm, github) = (fake_llm(script).await, fake_github().await);
        let app = app_with_steps(&llm, &github, max_steps).await;
        let runner = runner_of(&app);
        let event_id = open_issue(&app, number, "Spoke").await;
        let task_id = app.task_id_of(&event_id).await;
        assert_eq!(
            run_next(&app, &runner).await,
            Some((task_id.clone(), "failed".into())),
            "{case}"
        );
        app.drain().await;
        let failed = app.task(&task_id).await;
        assert!(
            failed["error"].as_str().unwrap_or_default().contains(error),
            "{case}: {failed}"
        );
        let kept = failed["conversation"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            kept.iter().any(|i| i["role"] == "run"
                && i["tools_called"] == json!(["comment"])
                && i["failed"].is_string()),
            "{case}: the failed run is kept: {failed}"
        );

        // Act
        let (status, replayed) = app
            .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
            .await;
        let before = chat_requests(&llm).await.len();
        let ran = run_next(&app, &runner).await;
        app.drain().await;

        // Assert: the run again read the comment its tool made (the call and what it queued),
        // in a request a chat API takes; the comment went out once and the answer not again.
        assert_eq!(status, StatusCode::OK, "{case}: {replayed}");
        assert_eq!(
            replayed["results"][0]["result"], "requeued",
            "{case}: {replayed}"
        );
        assert_eq!(ran, Some((task_id.clone(), "done".into())), "{case}");
        let requests = chat_requests(&llm).await;
        let body: Value = serde_json::from_slice(&requests[before].body).expect("JSON request");
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let call = messages
            .iter()
            .filter_map(|m| m["tool_calls"].as_array())
            .flatten()
            .find(|c| c["function"]["name"] == "comment")
            .unwrap_or_else(|| panic!("{case}: the earlier call is in the request: {body}"));
        assert!(
            messages.iter().any(|m| m["role"] == "tool"
                && m["tool_call_id"] == call["id"]
                && m["content"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("queued as act_"))),
            "{case}: {body}"
        );
        assert!(calls_all_answered(&messages), "{case}: {body}");
        // The note that the run is run again comes after the tool results: as a user message
        // straight after them, Mistral's API would refuse the request.
        assert_eq!(
            turns_out_of_order(&messages),
            Vec::<String>::new(),
            "{case}: {body}"
        );
        let comments = comments_on(&github, number).await;
        assert_eq!(comments.len(), 1, "{case}: {comments:?}");
        assert!(comments[0].contains("Looking into it."), "{comments:?}");
        let done = app.task(&task_id).await;
        assert_eq!(done["result"], "All done.", "{case}: {done}");
        assert_eq!(app.event(&event_id).await["status"], "done", "{case}");
    }
}

#[tokio::test]
async fn a_failed_runs_comment_that_went_dead_is_sent_again_by_the_replay_and_said_once() {
    // Arrange: the model comments, the chat API then refuses; GitHub refuses the comment too
    // (a bad token, say), so it goes dead.
    let refused = ResponseTemplate::new(400).set_body_json(json!({"detail": "Bad request"}));
    let llm = fake_llm(vec![
        llm_calls("comment", json!({"text": "Looking into it."})),
        refused,
        llm_answer("All done."),
    ])
    .await;
    let github = MockServer::start().await;
    answer_comments_with(&github, 422).await;
    let app = app_with_steps(&llm, &github, 8).await;
    let runner = runner_of(&app);
    let event_id = open_issue(&app, 77, "Spoke").await;
    let task_id = app.task_id_of(&event_id).await;
    run_next(&app, &runner).await;
    app.drain().await;
    let dead = app.actions_of(&event_id).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["status"], "dead", "{dead:?}");

    // Act: GitHub fixed, the operator replays the event.
    answer_comments_with(&github, 201).await;
    let (_, replayed) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;
    let ran = run_next(&app, &runner).await;
    app.drain().await;

    // Assert: the comment the failed run made reaches the issue, once; the run again, which
    // read it as sent, does not say it again.
    assert_eq!(replayed["results"][0]["result"], "requeued", "{replayed}");
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    assert_eq!(comments_on(&github, 77).await, ["Looking into it."]);
    assert_eq!(app.task(&task_id).await["result"], "All done.");
}

#[tokio::test]
async fn a_run_again_that_fails_saying_nothing_is_not_kept_beside_the_one_that_spoke() {
    // Arrange: the first run comments and runs out of steps; every later run only reads the
    // event and runs out of steps too.
    let llm = fake_llm(vec![
        llm_calls("comment", json!({"text": "Looking into it."})),
        llm_calls("get_event", json!({})),
    ])
    .await;
    let github = fake_github().await;
    let app = app_with_steps(&llm, &github, 1).await;
    let runner = runner_of(&app);
    let event_id = open_issue(&app, 78, "Loops").await;
    let task_id = app.task_id_of(&event_id).await;
    run_next(&app, &runner).await;
    app.drain().await;

    // Act
    for _ in 0..3 {
        app.post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
            .await;
        assert_eq!(
            run_next(&app, &runner).await,
            Some((task_id.clone(), "failed".into()))
        );
        app.drain().await;
    }

    // Assert: one run kept (the one whose tool spoke), not one more per replay, which every
    // later model call would carry again.
    let task = app.task(&task_id).await;
    let runs: Vec<&Value> = task["conversation"]
        .as_array()
        .expect("conversation")
        .iter()
        .filter(|i| i["role"] == "run")
        .collect();
    assert_eq!(runs.len(), 1, "{task}");
    assert_eq!(runs[0]["tools_called"], json!(["comment"]), "{task}");
    assert_eq!(comments_on(&github, 78).await.len(), 1);
}

#[tokio::test]
async fn an_ask_commands_task_whose_run_failed_after_the_answer_runs_again_on_replay() {
    // Arrange: an `ask` command's question is posted and answered; the run on the answer is
    // refused by the chat API (400), which fails the task.
    let (_llm, github, app, event_id, task_id) = asked_on_label(78).await;
    app.drain().await;
    crate::helpers::post_gh(
        &app,
        "issue_comment",
        &crate::helpers::issue_comment(78, "Crash", "alice", "Linux"),
    )
    .await;
    let runner = runner_of(&app);
    assert_eq!(
        run_next(&app, &runner).await,
        Some((task_id.clone(), "failed".into()))
    );

    // Act: the chat API mended, the event is replayed.
    let (status, replayed) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;
    let ran = run_next(&app, &runner).await;
    app.drain().await;

    // Assert: the task ran again on the answer it had; the question was not asked twice.
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["results"][0]["result"], "run_again", "{replayed}");
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    let posted = comments_on(&github, 78).await;
    assert_eq!(
        posted.iter().filter(|c| c.contains("Which OS?")).count(),
        1,
        "{posted:?}"
    );
    assert!(
        posted.iter().any(|c| c.contains("Fixed on Linux.")),
        "{posted:?}"
    );
}

#[tokio::test]
async fn an_ask_commands_task_answered_before_its_question_went_out_runs_again_on_replay() {
    // Arrange: the question is answered from the chat before it is sent (so it is never
    // sent), and the run on the answer is refused by the chat API, which fails the task.
    let (_llm, github, app, event_id, task_id) = asked_on_label(79).await;
    let (status, answered) = app
        .post_api(
            &format!("/api/tasks/{task_id}/answer"),
            &json!({"text": "Linux"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    let runner = runner_of(&app);
    assert_eq!(
        run_next(&app, &runner).await,
        Some((task_id.clone(), "failed".into()))
    );

    // Act
    let (_, replayed) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;
    let ran = run_next(&app, &runner).await;
    app.drain().await;

    // Assert: run again on its answer; the question never asked.
    assert_eq!(replayed["results"][0]["result"], "run_again", "{replayed}");
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    let posted = comments_on(&github, 79).await;
    assert!(
        !posted.iter().any(|c| c.contains("Which OS?")),
        "{posted:?}"
    );
}

/// An app whose `ask` command asks "Which OS?" on a labeled issue `number` (not yet sent),
/// whose chat API refuses the first run and answers "Fixed on Linux." to the next: the fakes,
/// the app, the event and the question's task.
async fn asked_on_label(number: u64) -> (MockServer, MockServer, TestApp, String, String) {
    let refused = ResponseTemplate::new(400).set_body_json(json!({"detail": "Bad request"}));
    let llm = fake_llm(vec![refused, llm_answer("Fixed on Linux.")]).await;
    let github = fake_github().await;
    let app = agent_app_with(&llm, &github, |_| {}).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.labeled", "action": "ask", "agent": "brain",
               "template": "Which OS?"}),
    )
    .await;
    let labeled = json!({
        "action": "labeled", "label": {"name": "bug"},
        "issue": {"number": number, "title": "Crash", "body": "b", "labels": [{"name": "bug"}],
                  "user": {"login": "octocat"}},
        "repository": {"full_name": "octo/app", "name": "app"}, "sender": {"login": "octocat"},
    });
    let event_id = crate::helpers::post_gh(&app, "issues", &labeled.to_string()).await;
    let task_id = app.task_id_of(&event_id).await;
    (llm, github, app, event_id, task_id)
}
