//! Agent tasks end to end: a signed event makes a task, the built-in runner asks a fake
//! OpenAI-compatible chat API and the answer goes back to a fake GitHub as one comment; ask →
//! reply → resume; restart recovery; claim leases for external agents; failures, reply
//! timeouts and cancelling.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use webhook_mcp::agents::runner::{self, Step};
use webhook_mcp::clock::now_ms;
use webhook_mcp::store::tasks as task_rows;
use wiremock::ResponseTemplate;

use crate::helpers::{
    agent_app, agent_config, assert_error, chat_requests, comments_on, contents, fake_github,
    fake_llm, issue_comment, llm_answer, llm_asks, llm_calls, open_issue, post_gh,
    question_timed_out, run_next, runner_of, send_json, set_lease_until, turns_out_of_order,
};

const ANSWER: &str = "Plan: reproduce on Safari 17, then fix the session cookie.";

#[tokio::test]
async fn an_opened_issue_becomes_a_task_whose_model_answer_is_posted_once_as_an_ai_analysis() {
    // Arrange
    let (llm, github) = (
        fake_llm(vec![llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);

    // Act
    let event_id = open_issue(&app, 7, "Login broken on Safari").await;
    let queued = app.tasks("status=queued&agent=planning").await;
    let while_queued = app.event(&event_id).await["status"].clone();
    let ran = run_next(&app, &runner).await;
    let before_sending = app.event(&event_id).await["status"].clone();
    let sent = app.drain().await;

    // Assert: the task was queued with the rendered prompt
    assert_eq!(queued.len(), 1, "{queued:?}");
    let task_id = queued[0]["id"].as_str().expect("task id").to_string();
    assert_eq!(queued[0]["event_id"], json!(event_id));
    assert_eq!(
        app.task(&task_id).await["prompt"],
        "Analyze issue: Login broken on Safari\n\nLogin fails after the update"
    );
    // one chat call with the model, the framed agent prompt, the issue as data and the key
    let requests = chat_requests(&llm).await;
    assert_eq!(requests.len(), 1);
    let auth = requests[0].headers.get("authorization").expect("auth");
    assert_eq!(auth.to_str().expect("ASCII"), "Bearer sk-test-key");
    let body: Value = serde_json::from_slice(&requests[0].body).expect("JSON request");
    assert_eq!(body["model"], "fake-model");
    let system = contents(&body, "system").join("\n");
    assert!(system.contains("planning agent"), "{system}");
    assert!(system.contains("untrusted"), "{system}");
    let user = contents(&body, "user").join("\n");
    assert!(
        user.contains("Analyze issue: Login broken on Safari"),
        "{user}"
    );
    assert!(user.contains("<event_data>"), "{user}");
    assert!(
        user.contains("\"number\": 7"),
        "the event payload is data: {user}"
    );
    // the task is done with the answer, posted once under the heading with the agent named
    assert_eq!(ran, Some((task_id.clone(), "done".to_string())));
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "done", "{task}");
    assert_eq!(task["result"], ANSWER);
    assert_eq!(sent, 1);
    let comments = comments_on(&github, 7).await;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].contains("AI analysis"), "{}", comments[0]);
    assert!(comments[0].contains(ANSWER), "{}", comments[0]);
    assert!(comments[0].contains("`planning` agent"), "{}", comments[0]);
    assert_eq!(run_next(&app, &runner).await, None, "nothing left to run");
    assert_eq!(app.drain().await, 0, "nothing left to send");
    // the event's status followed its task and the answer's comment
    assert_eq!(while_queued, "matched");
    assert_eq!(before_sending, "matched", "the answer is not delivered yet");
    assert_eq!(app.event(&event_id).await["status"], "done");
}

#[tokio::test]
async fn a_model_that_asks_waits_for_the_reply_on_the_issue_and_resumes_with_it() {
    // Arrange
    let question = "Which browser?";
    let answer = "It is a Firefox-only cookie bug.";
    let llm = fake_llm(vec![llm_asks(question), llm_answer(answer)]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let event_id = open_issue(&app, 9, "Flaky login").await;
    let task_id = app.task_id_of(&event_id).await;

    // Act: the model asks; the question goes out
    let first = run_next(&app, &runner).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(first, Some((task_id.clone(), "waiting_reply".into())));
    assert_eq!(sent, 1);
    assert_eq!(comments_on(&github, 9).await, [question]);
    assert_eq!(app.task(&task_id).await["status"], "waiting_reply");
    assert_eq!(
        run_next(&app, &runner).await,
        None,
        "a waiting task does not run"
    );

    // Act: another user replies on the same issue
    let reply = issue_comment(9, "Flaky login", "bob", "It happens in Firefox");
    post_gh(&app, "issue_comment", &reply).await;

    // Assert: queued again with the reply in its conversation
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "queued", "{task}");
    assert!(
        task["conversation"]
            .to_string()
            .contains("It happens in Firefox"),
        "{task}"
    );

    // Act: the runner resumes it
    let second = run_next(&app, &runner).await;
    let sent = app.drain().await;

    // Assert: the second call carried the question and the reply; the answer went out once
    assert_eq!(second, Some((task_id.clone(), "done".into())));
    let requests = chat_requests(&llm).await;
    assert_eq!(requests.len(), 2);
    let body: Value = serde_json::from_slice(&requests[1].body).expect("JSON request");
    let assistant = contents(&body, "assistant").join("\n");
    assert!(assistant.contains(question), "{body}");
    let user = contents(&body, "user").join("\n");
    assert!(user.contains("It happens in Firefox"), "{body}");
    let task = app.task(&task_id).await;
    assert_eq!(
        (&task["status"], &task["result"]),
        (&json!("done"), &json!(answer))
    );
    assert_eq!(sent, 1);
    let comments = comments_on(&github, 9).await;
    assert_eq!(
        comments.len(),
        2,
        "the question and the answer: {comments:?}"
    );
    assert!(comments[1].contains("AI analysis") && comments[1].contains(answer));
    assert_eq!(app.drain().await, 0);
}

#[tokio::test]
async fn a_question_asked_by_hand_while_the_task_runs_keeps_what_its_tools_did() {
    // Arrange: the model comments, then takes its time over the next step; meanwhile someone
    // asks on the task by hand, which ends the run.
    let answer = "Fixed in 2.1.";
    let llm = fake_llm(vec![
        llm_calls("comment", json!({"text": "Looking into it."})),
        llm_answer("never posted").set_delay(std::time::Duration::from_millis(1500)),
        llm_answer(answer),
    ])
    .await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let event_id = open_issue(&app, 12, "Crash on save").await;
    let task_id = app.task_id_of(&event_id).await;

    // Act
    let run = {
        let (state, runner) = (app.state.clone(), runner_of(&app));
        tokio::spawn(async move { runner::run_next(&state, &runner).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let (status, asked) = app
        .post_api(
            &format!("/api/events/{event_id}/ask"),
            &json!({"text": "Which version?", "task_id": task_id}),
        )
        .await;
    run.await.expect("run").expect("runner step");
    app.drain().await;
    post_gh(
        &app,
        "issue_comment",
        &issue_comment(12, "Crash on save", "bob", "2.0"),
    )
    .await;
    let resumed = run_next(&app, &runner).await;
    app.drain().await;

    // Assert: the run after the reply knew the comment was made, and made it only once
    assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
    assert_eq!(resumed, Some((task_id.clone(), "done".into())));
    let requests = chat_requests(&llm).await;
    assert_eq!(requests.len(), 3);
    let body: Value = serde_json::from_slice(&requests[2].body).expect("JSON request");
    assert!(
        body.to_string().contains("Looking into it."),
        "the comment already made: {body}"
    );
    let comments = comments_on(&github, 12).await;
    assert_eq!(comments.len(), 3, "{comments:?}");
    assert_eq!(comments[0], "Looking into it.");
    assert_eq!(comments[1], "Which version?");
    assert!(comments[2].contains(answer), "{comments:?}");
}

#[tokio::test]
async fn a_run_cut_short_inside_a_message_of_calls_has_each_call_answered_in_place() {
    // Arrange: the saved progress of a run whose model called two tools; the first ran, then
    // someone asked on the task by hand.
    let llm = fake_llm(vec![llm_answer(ANSWER)]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let event_id = open_issue(&app, 23, "Two calls").await;
    let task_id = app.task_id_of(&event_id).await;
    let call = |id: &str, text: &str| {
        json!({"id": id, "type": "function",
               "function": {"name": "comment", "arguments": json!({"text": text}).to_string()}})
    };
    let progress = json!({"messages": [
        {"role": "assistant", "content": null, "tool_calls": [call("c1", "one"), call("c2", "two")]},
        {"role": "tool", "tool_call_id": "c1", "name": "comment", "content": "posted"},
    ], "replied": true});
    set_run_progress(&app, &task_id, &progress);

    // Act
    let (status, asked) = app
        .post_api(
            &format!("/api/events/{event_id}/ask"),
            &json!({"text": "Which OS?", "task_id": task_id}),
        )
        .await;
    app.drain().await;
    post_gh(
        &app,
        "issue_comment",
        &issue_comment(23, "Two calls", "bob", "linux"),
    )
    .await;
    let resumed = run_next(&app, &runner).await;

    // Assert: the unanswered call is answered right after the one that was, before the
    // question and the reply.
    assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
    assert_eq!(resumed, Some((task_id.clone(), "done".into())));
    let requests = chat_requests(&llm).await;
    let body: Value = serde_json::from_slice(&requests[0].body).expect("JSON request");
    let roles: Vec<(String, String)> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or_default().to_string(),
                m["tool_call_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let at = |role: &str, id: &str| {
        roles
            .iter()
            .position(|(r, i)| r == role && i == id)
            .unwrap_or_else(|| panic!("{role} {id} in {roles:?}"))
    };
    assert_eq!(at("tool", "c2"), at("tool", "c1") + 1, "{roles:?}");
    let question = roles
        .iter()
        .rposition(|(r, _)| r == "assistant")
        .expect("question");
    assert!(at("tool", "c2") < question, "{roles:?}");
}

/// A run of the task of a new issue `number` cut off (a crash) while its model's `comment`
/// call ("On it") acted, before the call's result was saved; `queued` says whether the call
/// had queued its comment by then. Runs it again to its end; the chat requests' last tool
/// result and the comments on the issue.
async fn resumed_after_a_crash_in_a_comment_call(
    number: u64,
    queued: bool,
) -> (String, Vec<String>) {
    // Arrange
    let llm = fake_llm(vec![llm_answer(ANSWER)]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let event_id = open_issue(&app, number, "Cut off").await;
    let task_id = app.task_id_of(&event_id).await;
    let calls_since = now_ms() - 1_000;
    if queued {
        let to = webhook_mcp::service::actions::ReplyTo {
            event_id: Some(event_id.clone()),
            task_id: Some(task_id.clone()),
            author: webhook_mcp::service::actions::Author::Model,
            owner: None,
        };
        webhook_mcp::service::actions::comment(&app.state, to, "On it".into())
            .await
            .expect("the call's comment");
    }
    let call = json!({"id": "c1", "type": "function",
        "function": {"name": "comment", "arguments": json!({"text": "On it"}).to_string()}});
    let progress = json!({"messages": [{"role": "assistant", "content": null,
        "tool_calls": [call]}], "replied": false, "calls_since": calls_since});
    set_run_progress(&app, &task_id, &progress);

    // Act
    let ran = run_next(&app, &runner_of(&app)).await;
    app.drain().await;

    assert_eq!(ran, Some((task_id, "done".into())));
    let requests = chat_requests(&llm).await;
    let body: Value = serde_json::from_slice(&requests[0].body).expect("JSON request");
    let result = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .rfind(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .expect("the call's result");
    (result, comments_on(&github, number).await)
}

#[tokio::test]
async fn a_comment_call_cut_off_after_it_queued_its_comment_is_known_to_have_spoken() {
    // Act
    let (result, comments) = resumed_after_a_crash_in_a_comment_call(43, true).await;

    // Assert: the model is told the comment went; the final answer is not posted beside it.
    assert!(result.starts_with("queued as act_"), "{result}");
    assert_eq!(comments, ["On it"]);
}

#[tokio::test]
async fn a_comment_call_cut_off_before_it_queued_anything_is_known_not_made() {
    // Act
    let (result, comments) = resumed_after_a_crash_in_a_comment_call(44, false).await;

    // Assert: the model is told the call was not made; its final answer is posted.
    assert!(result.starts_with("error: not made"), "{result}");
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].contains(ANSWER), "{comments:?}");
}

#[tokio::test]
async fn a_task_whose_runner_died_is_run_again_after_a_restart_and_its_result_posted_once() {
    // Arrange: the runner claimed the task, then its process died (its lease has passed)
    let (llm, github) = (
        fake_llm(vec![llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let event_id = open_issue(&app, 11, "Crash on start").await;
    let task_id = app.task_id_of(&event_id).await;
    let now = now_ms();
    let claimed = app
        .state
        .store
        .write(move |db| task_rows::claim(db, &["planning".into()], "runner", now, now - 1))
        .await
        .expect("claim")
        .expect("a task to claim");
    assert_eq!(claimed.id, task_id);
    // Its lease lapsed with it: the task shows as queued, for the next claim to take.
    assert_eq!(app.task(&task_id).await["status"], "queued");

    // Act
    let app = app.restart_with(agent_config(&llm, &github)).await;
    let runner = runner_of(&app);
    let ran = run_next(&app, &runner).await;
    let sent = app.drain().await;
    let again = app
        .post_api(
            &format!("/api/tasks/{task_id}/complete"),
            &json!({"result": "a second answer", "post_result": true}),
        )
        .await;
    let sent_again = app.drain().await;

    // Assert
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "done", "{task}");
    assert_eq!(task["attempts"], 2, "{task}");
    assert_eq!(task["result"], ANSWER);
    assert_eq!(sent, 1);
    assert_error(&again, StatusCode::CONFLICT, None);
    let refusal = again.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        refusal.contains(&format!(
            "(GET /api/tasks/{task_id} shows its result and the actions it sent)"
        )),
        "{refusal}"
    );
    assert_eq!(sent_again, 0);
    let comments = comments_on(&github, 11).await;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].contains(ANSWER));
    assert_eq!(chat_requests(&llm).await.len(), 1);
}

#[tokio::test]
async fn a_running_task_keeps_its_lease_and_no_other_runner_on_the_database_takes_it() {
    // Arrange: a model that takes 5 s; a runner whose lease is 2 s unless renewed.
    let slow = llm_answer(ANSWER).set_delay(std::time::Duration::from_millis(5000));
    let (llm, github) = (fake_llm(vec![slow]).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let event_id = open_issue(&app, 13, "Slow model").await;
    let task_id = app.task_id_of(&event_id).await;
    let first = runner_of(&app).with_lease(std::time::Duration::from_millis(2000));
    let state = app.state.clone();
    let running = tokio::spawn(async move { runner::run_next(&state, &first).await });
    for _ in 0..100 {
        if app.task(&task_id).await["status"] == "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Act: another process's runner starts on the same database (as `stdio` does), and a
    // third keeps trying to claim while the first run goes on.
    let stop = tokio_util::sync::CancellationToken::new();
    let second = tokio::spawn(runner::run(
        app.state.clone(),
        std::sync::Arc::new(runner_of(&app)),
        stop.clone(),
    ));
    let third = runner_of(&app);
    let mut taken = Vec::new();
    for _ in 0..45 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if let Step::Ran { task_id, .. } = runner::run_next(&app.state, &third).await.expect("step")
        {
            taken.push(task_id);
        }
    }
    let ran = running.await.expect("join").expect("run");
    stop.cancel();
    second.await.expect("join");
    let sent = app.drain().await;

    // Assert
    assert!(taken.is_empty(), "taken from a live runner: {taken:?}");
    assert_eq!(
        ran,
        Step::Ran {
            task_id: task_id.clone(),
            status: "done".into()
        }
    );
    let task = app.task(&task_id).await;
    assert_eq!(task["attempts"], 1, "{task}");
    assert_eq!(chat_requests(&llm).await.len(), 1);
    assert_eq!(sent, 1);
    assert_eq!(comments_on(&github, 13).await.len(), 1);
}

#[tokio::test]
async fn a_run_whose_task_is_cancelled_stops_without_posting() {
    // Arrange: a model that takes 4 s; the runner renews its lease every 0.3 s.
    let slow = llm_answer(ANSWER).set_delay(std::time::Duration::from_millis(4000));
    let (llm, github) = (fake_llm(vec![slow]).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, 24, "Never mind").await)
        .await;
    let runner = runner_of(&app).with_lease(std::time::Duration::from_millis(900));
    let state = app.state.clone();
    let started = std::time::Instant::now();
    let running = tokio::spawn(async move { runner::run_next(&state, &runner).await });
    for _ in 0..100 {
        if app.task(&task_id).await["status"] == "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Act
    let (status, cancelled) = app
        .post_api(&format!("/api/tasks/{task_id}/cancel"), &json!({}))
        .await;
    let ran = running.await.expect("join").expect("run");
    let took = started.elapsed();
    let sent = app.drain().await;

    // Assert: the run noticed at its next renewal, before the model answered.
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(
        ran,
        Step::Ran {
            task_id: task_id.clone(),
            status: "cancelled".into()
        }
    );
    assert!(took < std::time::Duration::from_millis(3500), "{took:?}");
    assert_eq!(sent, 0);
    assert!(comments_on(&github, 24).await.is_empty());
    assert_eq!(app.task(&task_id).await["status"], "cancelled");
}

#[tokio::test]
async fn a_cancelled_tasks_agent_cannot_post_for_it_any_more() {
    // Arrange: a task cancelled before its agent (outside, unaware) speaks for it.
    let (llm, github) = (
        fake_llm(vec![llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let event_id = open_issue(&app, 26, "Stop this").await;
    let task_id = app.task_id_of(&event_id).await;
    let (status, _) = app
        .post_api(&format!("/api/tasks/{task_id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    // Act
    let mut refused = Vec::new();
    for reply in ["comment", "respond", "ask"] {
        refused.push(
            app.post_api(
                &format!("/api/events/{event_id}/{reply}"),
                &json!({"task_id": task_id, "text": "Still on it"}),
            )
            .await,
        );
    }
    let (about_event, said) = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "Dropped."}),
        )
        .await;
    app.drain().await;

    // Assert: only the reply about the event went out.
    for (status, answer) in refused {
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    }
    assert_eq!(about_event, StatusCode::ACCEPTED, "{said}");
    assert_eq!(comments_on(&github, 26).await, ["Dropped."]);
}

#[tokio::test]
async fn a_run_of_the_built_in_runner_cannot_be_finished_from_outside_nor_its_claim_named() {
    // Arrange: a model that takes 2 s, and the run under way.
    let slow = llm_answer(ANSWER).set_delay(std::time::Duration::from_millis(2000));
    let (llm, github) = (fake_llm(vec![slow]).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, 25, "Slow one").await)
        .await;
    let running = start_run(&app, &task_id).await;
    let complete = format!("/api/tasks/{task_id}/complete");

    // Act: complete it as anyone; then under a name like the runner's claims.
    let (refused, said) = app.post_api(&complete, &json!({"result": "mine"})).await;
    let (posing, posing_said) = app
        .post_api(
            &complete,
            &json!({"result": "mine", "owner": "runner-0123456789ab"}),
        )
        .await;
    let (claiming, _) = app
        .post_api("/api/tasks/claim", &json!({"owner": "runner-x"}))
        .await;
    let ran = running.await.expect("join").expect("run");

    // Assert: refused without naming the runner's claim; the run finished as its own.
    assert_eq!(refused, StatusCode::CONFLICT, "{said}");
    let message = said["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("built-in agent runner"), "{said}");
    assert!(!message.contains("runner-"), "{said}");
    crate::helpers::assert_error(
        &(posing, posing_said),
        StatusCode::BAD_REQUEST,
        Some("owner"),
    );
    assert_eq!(claiming, StatusCode::BAD_REQUEST);
    assert_eq!(
        ran,
        Step::Ran {
            task_id: task_id.clone(),
            status: "done".into()
        }
    );
    assert_eq!(app.task(&task_id).await["result"], ANSWER);
}

/// Starts the next run in the background once `event_id`'s task is there; returns when the
/// task shows as running.
async fn start_run(
    app: &crate::helpers::TestApp,
    task_id: &str,
) -> tokio::task::JoinHandle<anyhow::Result<Step>> {
    let (state, runner) = (app.state.clone(), runner_of(app));
    let running = tokio::spawn(async move { runner::run_next(&state, &runner).await });
    for _ in 0..100 {
        if app.task(task_id).await["status"] == "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    running
}

#[tokio::test]
async fn a_model_call_that_worked_starts_the_retry_wait_again_from_30_seconds() {
    // Arrange: two failures, a tool call that works, then another failure.
    let down = || ResponseTemplate::new(503);
    let looked = crate::helpers::llm_calls("get_event", json!({}));
    let (llm, github) = (
        fake_llm(vec![down(), down(), looked, down()]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app.task_id_of(&open_issue(&app, 28, "Flaky").await).await;

    // Act
    for _ in 0..2 {
        assert_eq!(
            run_next(&app, &runner).await,
            Some((task_id.clone(), "queued".into()))
        );
        due_now(&app, &task_id);
    }
    let before = now_ms();
    let third = run_next(&app, &runner).await;

    // Assert: waits 30 s (the first of a new run of failures), not the 2 min of a third.
    assert_eq!(third, Some((task_id.clone(), "queued".into())));
    let wait = retry_wait(&app, &task_id, before);
    assert!((25_000..=40_000).contains(&wait), "waits {wait} ms");
}

#[tokio::test]
async fn a_comment_on_the_issue_does_not_stand_for_a_verdict_declared_for_a_channel() {
    // Arrange: a triage agent whose result goes to a channel; its model comments on the issue
    // ("triaging"), asks and comments again in one message, then gives its verdict.
    let channel = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": true,
                                                                       "message_id": "m-1"})),
        )
        .mount(&channel)
        .await;
    let url = format!("{}/api/v1/channels/webhooks/abc/tok", channel.uri());
    let interim = crate::helpers::llm_calls("comment", json!({"text": "Triaging"}));
    let (llm, github) = (
        fake_llm(vec![interim, llm_answer("P1, team auth")]).await,
        fake_github().await,
    );
    let config = agent_config(&llm, &github);
    let agents = json!([{"name": "triage", "result": "post_message",
                         "target": {"url": url, "kind": "openwebui"},
                         "tools": ["comment", "get_event"]}]);
    let app = crate::helpers::spawn_app_with(move |c| {
        config(c);
        c.agents.agents = Some(agents.to_string());
    })
    .await;
    app.github_webhook("gh", crate::helpers::GH_SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "triage",
               "template": "Triage {{ issue.title }}"}),
    )
    .await;
    let task_id = app.task_id_of(&open_issue(&app, 29, "Login").await).await;

    // Act
    let ran = run_next(&app, &runner_of(&app)).await;
    app.drain().await;

    // Assert: the comment on the issue, and the verdict in the channel.
    assert_eq!(ran, Some((task_id, "done".into())));
    assert_eq!(comments_on(&github, 29).await, ["Triaging"]);
    let posts = channel.received_requests().await.expect("recorded");
    assert_eq!(posts.len(), 1);
    let body: Value = serde_json::from_slice(&posts[0].body).expect("json");
    assert!(
        body["content"]
            .as_str()
            .unwrap_or_default()
            .contains("P1, team auth"),
        "{body}"
    );
}

#[tokio::test]
async fn calls_the_model_makes_with_an_ask_are_made_too() {
    // Arrange: one message asks and comments.
    let both = ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "ask", "arguments": "{\"question\": \"Which OS?\"}"}},
                {"id": "c2", "type": "function",
                 "function": {"name": "comment", "arguments": "{\"text\": \"Labelled as bug\"}"}}]},
                     "finish_reason": "tool_calls"}]}));
    let (llm, github) = (fake_llm(vec![both]).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let task_id = app.task_id_of(&open_issue(&app, 30, "Crash").await).await;

    // Act
    let ran = run_next(&app, &runner_of(&app)).await;
    app.drain().await;

    // Assert
    assert_eq!(ran, Some((task_id.clone(), "waiting_reply".into())));
    assert_eq!(
        comments_on(&github, 30).await,
        ["Labelled as bug", "Which OS?"],
        "the question goes last, handing the task to its answer"
    );
    assert_eq!(app.task(&task_id).await["status"], "waiting_reply");
}

#[tokio::test]
async fn a_run_that_asked_twice_resumes_knowing_what_its_tools_did() {
    // Arrange: one message comments and asks two questions; the answer comes after the reply.
    let calls = ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [
                {"id": "q1", "type": "function",
                 "function": {"name": "ask", "arguments": "{\"question\": \"Which OS?\"}"}},
                {"id": "c1", "type": "function",
                 "function": {"name": "comment", "arguments": "{\"text\": \"Looking into it\"}"}},
                {"id": "q2", "type": "function",
                 "function": {"name": "ask", "arguments": "{\"question\": \"Which version?\"}"}}]},
                     "finish_reason": "tool_calls"}]}));
    let llm = fake_llm(vec![calls, llm_answer("A Linux 6.1 regression.")]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app.task_id_of(&open_issue(&app, 31, "Crash").await).await;
    let first = run_next(&app, &runner).await;
    app.drain().await;

    // Act: a person answers both; the task runs again.
    let reply = issue_comment(31, "Crash", "bob", "Linux, 6.1");
    post_gh(&app, "issue_comment", &reply).await;
    let second = run_next(&app, &runner).await;

    // Assert: both questions were asked; the second model call saw the first's calls, each
    // with its result, then the reply.
    assert_eq!(first, Some((task_id.clone(), "waiting_reply".into())));
    assert_eq!(second, Some((task_id.clone(), "done".into())));
    assert_eq!(
        comments_on(&github, 31).await,
        ["Looking into it", "Which OS?", "Which version?"]
    );
    let requests = chat_requests(&llm).await;
    let body: Value = serde_json::from_slice(&requests[1].body).expect("JSON request");
    let messages = body["messages"].as_array().expect("messages");
    let called = messages
        .iter()
        .position(|m| m["tool_calls"].as_array().is_some_and(|c| c.len() == 3))
        .unwrap_or_else(|| panic!("the run's calls are not in {body}"));
    let results: Vec<&Value> = messages[called + 1..]
        .iter()
        .take_while(|m| m["role"] == "tool")
        .map(|m| &m["tool_call_id"])
        .collect();
    assert_eq!(
        results,
        [&json!("c1"), &json!("q1"), &json!("q2")],
        "{body}"
    );
    let reply_at = messages
        .iter()
        .position(|m| m["role"] == "user" && m["content"].to_string().contains("Linux, 6.1"))
        .expect("the reply");
    assert!(reply_at > called + 3, "{body}");
    // The two questions are one assistant message: chat templates that hold roles to
    // alternate refuse two in a row.
    assert_eq!(turns_out_of_order(messages), Vec::<String>::new(), "{body}");
    let shown = app.task(&task_id).await["conversation"].clone();
    assert_eq!(
        shown[0],
        json!({"role": "run", "tools_called": ["ask", "comment", "ask"], "at": shown[0]["at"]}),
        "{shown}"
    );
    // Every entry's time in RFC 3339, as every other time shown.
    for entry in shown.as_array().expect("conversation") {
        let at = entry["at"].as_str().unwrap_or_default();
        assert!(
            at.len() == 24 && at.ends_with('Z') && at.contains('T'),
            "{entry}"
        );
    }
}

#[tokio::test]
async fn an_answer_longer_than_a_github_comment_is_posted_cut_and_kept_whole_on_the_task() {
    // Arrange
    let answer = "word ".repeat(14_000);
    let llm = fake_llm(vec![llm_answer(&answer)]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let task_id = app.task_id_of(&open_issue(&app, 33, "Long").await).await;

    // Act
    let ran = run_next(&app, &runner_of(&app)).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    assert_eq!(sent, 1);
    let comments = comments_on(&github, 33).await;
    let posted = comments[0].chars().count();
    assert!(posted <= 65_536, "{posted}");
    assert!(comments[0].contains("cut to fit"), "{:.80}", comments[0]);
    let task = app.task(&task_id).await;
    let kept = task["result"].as_str().unwrap_or_default();
    assert_eq!(kept.trim().len(), answer.trim().len(), "the whole answer");
}

#[tokio::test]
async fn a_message_of_too_many_tool_calls_makes_sixteen_and_answers_the_rest_as_not_made() {
    // Arrange: one message of 18 comments, then an answer.
    let calls: Vec<Value> = (1..=18)
        .map(|n| {
            json!({"id": format!("c{n}"), "type": "function",
                   "function": {"name": "comment",
                                "arguments": json!({"text": format!("note {n}")}).to_string()}})
        })
        .collect();
    let many = ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": calls}, "finish_reason": "tool_calls"}]}));
    let llm = fake_llm(vec![many, llm_answer("Done.")]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let task_id = app.task_id_of(&open_issue(&app, 34, "Many").await).await;

    // Act
    let ran = run_next(&app, &runner_of(&app)).await;
    app.drain().await;

    // Assert
    assert_eq!(ran, Some((task_id, "done".into())));
    let comments = comments_on(&github, 34).await;
    assert_eq!(comments.len(), 16, "{comments:?}");
    let requests = chat_requests(&llm).await;
    let body: Value = serde_json::from_slice(&requests[1].body).expect("JSON request");
    let refused: Vec<&Value> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "tool" && m["content"].to_string().contains("not made"))
        .map(|m| &m["tool_call_id"])
        .collect();
    assert_eq!(refused, [&json!("c17"), &json!("c18")]);
}

#[tokio::test]
async fn a_message_of_many_questions_puts_three_and_answers_the_rest_as_not_made() {
    // Arrange: one message of five questions, as a payload could ask a model for thousands.
    let calls: Vec<Value> = (1..=5)
        .map(|n| {
            json!({"id": format!("q{n}"), "type": "function",
                   "function": {"name": "ask",
                                "arguments": json!({"question": format!("question {n}?")}).to_string()}})
        })
        .collect();
    let many = ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": calls}, "finish_reason": "tool_calls"}]}));
    let llm = fake_llm(vec![many]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let task_id = app.task_id_of(&open_issue(&app, 35, "Asks").await).await;

    // Act
    let ran = run_next(&app, &runner_of(&app)).await;
    app.drain().await;

    // Assert
    assert_eq!(ran, Some((task_id.clone(), "waiting_reply".into())));
    let comments = comments_on(&github, 35).await;
    assert_eq!(
        comments,
        ["question 1?", "question 2?", "question 3?"],
        "the rest are answered as not made"
    );
}

#[tokio::test]
async fn reading_tools_say_what_they_cannot_do_instead_of_answering_something_else() {
    // Arrange: a model that asks for another webhook's events, a page size as text, and
    // another event than its own.
    let calls = ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [
                {"id": "l1", "type": "function", "function": {"name": "list_events",
                 "arguments": "{\"webhook_id\": \"payments\"}"}},
                {"id": "l2", "type": "function", "function": {"name": "list_events",
                 "arguments": "{\"limit\": \"2\"}"}},
                {"id": "l3", "type": "function", "function": {"name": "list_events",
                 "arguments": "{\"limit\": 2}"}},
                {"id": "g1", "type": "function", "function": {"name": "get_event",
                 "arguments": "{\"event_id\": \"evt_other\"}"}}]},
                     "finish_reason": "tool_calls"}]}));
    let llm = fake_llm(vec![calls, llm_answer("Done.")]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    app.task_id_of(&open_issue(&app, 36, "Reads").await).await;

    // Act
    run_next(&app, &runner_of(&app)).await;

    // Assert
    let requests = chat_requests(&llm).await;
    let body: Value = serde_json::from_slice(&requests[1].body).expect("JSON request");
    let result = |id: &str| {
        body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .find(|m| m["tool_call_id"] == id)
            .map(|m| m["content"].to_string())
            .unwrap_or_default()
    };
    assert!(result("l1").contains("webhook_id"), "{}", result("l1"));
    assert!(result("l1").starts_with("\"error"), "{}", result("l1"));
    assert!(result("l2").starts_with("\"error"), "{}", result("l2"));
    assert!(!result("l3").contains("error"), "{}", result("l3"));
    assert!(result("g1").contains("own event"), "{}", result("g1"));
}

#[tokio::test]
async fn a_tool_call_that_comes_after_the_task_was_cancelled_is_not_made() {
    // Arrange: the model takes a second, then asks to comment; the lease is long, so no
    // renewal comes in between.
    let comment = crate::helpers::llm_calls("comment", json!({"text": "after cancel"}))
        .set_delay(std::time::Duration::from_millis(1000));
    let (llm, github) = (fake_llm(vec![comment]).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let task_id = app.task_id_of(&open_issue(&app, 25, "Dup").await).await;
    let running = start_run(&app, &task_id).await;

    // Act
    let (status, _) = app
        .post_api(&format!("/api/tasks/{task_id}/cancel"), &json!({}))
        .await;
    let ran = running.await.expect("join").expect("run");
    let sent = app.drain().await;

    // Assert: nothing was queued, no further model call was made.
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ran,
        Step::Ran {
            task_id: task_id.clone(),
            status: "cancelled".into()
        }
    );
    assert_eq!(sent, 0);
    assert!(comments_on(&github, 25).await.is_empty());
    assert_eq!(chat_requests(&llm).await.len(), 1);
}

#[tokio::test]
async fn a_question_a_person_asks_while_the_task_runs_is_kept_and_waited_on() {
    // Arrange
    let slow = llm_answer(ANSWER).set_delay(std::time::Duration::from_millis(1000));
    let (llm, github) = (fake_llm(vec![slow]).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let event_id = open_issue(&app, 26, "Flaky").await;
    let task_id = app.task_id_of(&event_id).await;
    let running = start_run(&app, &task_id).await;

    // Act: a person asks on the task's behalf while the model thinks.
    let (status, _) = app
        .post_api(
            &format!("/api/events/{event_id}/ask"),
            &json!({"text": "Which version do you run?", "task_id": task_id}),
        )
        .await;
    let ran = running.await.expect("join").expect("run");
    app.drain().await;

    // Assert: the task waits for the answer to that question; the run posted nothing.
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        ran,
        Step::Ran {
            task_id: task_id.clone(),
            status: "waiting_reply".into()
        }
    );
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "waiting_reply", "{task}");
    assert!(
        task["conversation"].to_string().contains("Which version"),
        "{task}"
    );
    assert_eq!(
        comments_on(&github, 26).await,
        ["Which version do you run?"],
        "only the person's question went out"
    );
}

#[tokio::test]
async fn stopping_the_server_does_not_wait_for_a_model_and_leaves_the_task_queued() {
    // Arrange: the built-in runner on, a model that would take a minute.
    let slow = llm_answer(ANSWER).set_delay(std::time::Duration::from_secs(60));
    let (llm, github) = (fake_llm(vec![slow]).await, fake_github().await);
    let config = agent_config(&llm, &github);
    let mut app = crate::helpers::spawn_app_with(move |c| {
        config(c);
        c.agents.runner = true;
        c.shutdown_grace_secs = 30;
    })
    .await;
    app.github_webhook("gh", crate::helpers::GH_SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning",
               "template": "Analyze {{ issue.title }}"}),
    )
    .await;
    let task_id = app.task_id_of(&open_issue(&app, 27, "Slow").await).await;
    for _ in 0..200 {
        if app.task(&task_id).await["status"] == "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Act
    let started = std::time::Instant::now();
    app.stop().await;
    let took = started.elapsed();

    // Assert: stopped well before the model or the grace would have ended; the task waits
    // for the next start, its failure budget untouched.
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    let db = rusqlite::Connection::open(&app.db_path).expect("open db");
    let (status, failures, owner): (String, i64, Option<String>) = db
        .query_row(
            "SELECT status, run_failures, lease_owner FROM tasks WHERE id = ?1",
            [&task_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("task row");
    assert_eq!((status.as_str(), failures, owner), ("queued", 0, None));
}

#[tokio::test]
async fn a_claim_lease_that_expires_passes_the_task_to_another_owner_and_only_they_complete_it() {
    // Arrange
    let (llm, github) = (
        fake_llm(vec![llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let event_id = open_issue(&app, 12, "Slow search").await;
    let task_id = app.task_id_of(&event_id).await;
    let claim = |owner: &str| json!({"agent": "planning", "owner": owner, "lease_secs": 10});

    // Act + Assert: brain takes it; nobody else can while the lease holds
    let too_short = app
        .post_api("/api/tasks/claim", &json!({"owner": "x", "lease_secs": 5}))
        .await;
    assert_error(&too_short, StatusCode::BAD_REQUEST, Some("lease_secs"));
    let nobody = app.post_api("/api/tasks/claim", &claim(" ")).await;
    assert_error(&nobody, StatusCode::BAD_REQUEST, Some("owner"));
    // Names that read as another's (a bidi mark, a NUL, a tab) or are past all reason.
    for unreadable in [
        "brain\u{202e}",
        "br\u{200b}ain",
        "a\u{0}b",
        "tab\tbed",
        &"o".repeat(201),
    ] {
        let refused = app.post_api("/api/tasks/claim", &claim(unreadable)).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, Some("owner"));
    }
    let no_agent = app
        .post_api("/api/tasks/claim", &json!({"agent": "", "owner": "brain"}))
        .await;
    assert_error(&no_agent, StatusCode::BAD_REQUEST, Some("agent"));
    let (status, first) = app.post_api("/api/tasks/claim", &claim("brain")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["task"]["id"], json!(task_id), "{first}");
    assert_eq!(first["task"]["status"], "running");
    assert_eq!(first["event"]["payload"]["issue"]["title"], "Slow search");
    assert!(first["lease_expires_at"].is_string(), "{first}");
    let (status, none) = app.post_api("/api/tasks/claim", &claim("other")).await;
    assert_eq!(
        (status, none),
        (StatusCode::OK, json!({"task": null, "held": []}))
    );
    // The same owner again, as after a claim whose answer it never read: told what it holds.
    let (status, again) = app.post_api("/api/tasks/claim", &claim("brain")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["task"], Value::Null, "{again}");
    assert_eq!(again["held"][0]["id"], json!(task_id), "{again}");
    assert_eq!(
        again["held"][0]["lease_expires_at"], first["lease_expires_at"],
        "{again}"
    );
    assert!(
        again["note"]
            .as_str()
            .is_some_and(|n| n.contains("get_task")),
        "{again}"
    );
    let held = app.task(&task_id).await;
    assert_eq!(held["status"], "running", "{held}");
    assert_eq!(
        held["lease_expires_at"], first["lease_expires_at"],
        "{held}"
    );

    assert_eq!(app.event(&event_id).await["tasks"][0]["status"], "running");

    // Act: the lease runs out: the task shows (and lists) as queued; another owner claims it
    set_lease_until(&app, &task_id, now_ms() - 1_000);
    let lapsed = app.task(&task_id).await;
    let (_, queued) = app.get_json("/api/tasks?status=queued").await;
    let (_, running) = app.get_json("/api/tasks?status=running").await;
    let of_event = app.event(&event_id).await;
    assert_eq!(lapsed["status"], "queued", "{lapsed}");
    assert_eq!(
        of_event["tasks"][0]["status"], "queued",
        "its event's view agrees"
    );
    assert!(lapsed.get("lease_expires_at").is_none(), "{lapsed}");
    assert_eq!(queued["tasks"][0]["id"], json!(task_id), "{queued}");
    assert_eq!(running["tasks"], json!([]), "{running}");
    let (status, second) = app.post_api("/api/tasks/claim", &claim("other")).await;
    let complete =
        |owner: &str, result: &str| json!({"result": result, "post_result": true, "owner": owner});
    let path = format!("/api/tasks/{task_id}/complete");
    let late = app.post_api(&path, &complete("brain", "late answer")).await;
    let (done_status, done) = app
        .post_api(&path, &complete("other", "Plan from other"))
        .await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["task"]["id"], json!(task_id), "{second}");
    assert_eq!(second["task"]["attempts"], 2, "{second}");
    assert_error(&late, StatusCode::CONFLICT, None);
    assert_eq!(done_status, StatusCode::OK, "{done}");
    assert_eq!(
        (&done["status"], &done["result"]),
        (&json!("done"), &json!("Plan from other"))
    );
    assert_eq!(sent, 1);
    assert_eq!(comments_on(&github, 12).await, ["Plan from other"]);
    assert!(
        chat_requests(&llm).await.is_empty(),
        "the runner was not involved"
    );
}

#[tokio::test]
async fn a_task_whose_claim_lapsed_may_be_completed_directly_as_a_queued_one_may() {
    // Arrange: brain claimed the task and vanished; its lease has passed.
    let (llm, github) = (
        fake_llm(vec![llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app.task_id_of(&open_issue(&app, 13, "Lapsed").await).await;
    let (status, claimed) = app
        .post_api(
            "/api/tasks/claim",
            &json!({"agent": "planning", "owner": "brain", "lease_secs": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    set_lease_until(&app, &task_id, now_ms() - 1_000);

    // Act: someone else completes it without claiming, as the listing invites.
    let (status, done) = app
        .post_api(
            &format!("/api/tasks/{task_id}/complete"),
            &json!({"result": "Handled by hand", "owner": "ops"}),
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["result"], "Handled by hand");
}

#[tokio::test]
async fn an_agent_asks_over_rest_on_its_own_task_which_then_waits() {
    // Arrange: an external agent holds the event's task.
    let (llm, github) = (
        fake_llm(vec![llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let event_id = open_issue(&app, 25, "Which browser").await;
    let task_id = app.task_id_of(&event_id).await;
    let claim = json!({"agent": "planning", "owner": "brain", "lease_secs": 60});
    let (status, _) = app.post_api("/api/tasks/claim", &claim).await;
    assert_eq!(status, StatusCode::OK);

    // Act: asked as another owner (REST's default, `api`), then as the claimer
    let ask = |owner: Option<&str>| {
        let mut body = json!({"text": "Which browser?", "task_id": task_id});
        if let Some(owner) = owner {
            body["owner"] = json!(owner);
        }
        body
    };
    let path = format!("/api/events/{event_id}/ask");
    let (refused_status, refused) = app.post_api(&path, &ask(None)).await;
    let still = app.task(&task_id).await;
    let sent_meanwhile = app.drain().await;
    let (status, asked) = app.post_api(&path, &ask(Some("brain"))).await;

    // Assert: another owner's question would have taken the task from its claimer: refused,
    // nothing posted, the claim stands.
    assert_eq!(refused_status, StatusCode::CONFLICT, "{refused}");
    let message = refused["error"]["message"].as_str().expect("message");
    assert!(message.contains("claimed by `brain` until"), "{message}");
    assert!(message.contains("nothing was posted"), "{message}");
    assert_eq!(still["status"], "running", "{still}");
    assert_eq!(still["claimed_by"], "brain", "{still}");
    assert_eq!(sent_meanwhile, 0);
    // the question belongs to that task, which now waits; no second task.
    assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
    assert_eq!(asked["task_id"], json!(task_id), "{asked}");
    assert_eq!(app.task(&task_id).await["status"], "waiting_reply");
    assert_eq!(app.tasks("webhook_id=gh").await.len(), 1);
}

#[tokio::test]
async fn a_chat_api_server_error_requeues_the_task_and_posts_nothing() {
    // Arrange
    let broken = ResponseTemplate::new(500).set_body_json(json!({"detail": "upstream down"}));
    let (llm, github) = (fake_llm(vec![broken]).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app.task_id_of(&open_issue(&app, 13, "Outage").await).await;

    // Act
    let ran = run_next(&app, &runner).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(ran, Some((task_id.clone(), "queued".into())));
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "queued", "{task}");
    assert_eq!(task["attempts"], 1, "{task}");
    let error = task["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("500") && error.contains("upstream down"),
        "{task}"
    );
    assert!(
        task["next_run_at"].is_string(),
        "shows when it runs again: {task}"
    );
    assert_eq!(
        run_next(&app, &runner).await,
        None,
        "the retry waits its back-off"
    );
    assert_eq!(sent, 0);
    assert!(comments_on(&github, 13).await.is_empty());
}

#[tokio::test]
async fn a_model_that_ends_with_nothing_fails_the_task_instead_of_posting_a_blank_comment() {
    // Arrange: a content filter ends the answer with no text and no tool call.
    let filtered = ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null},
                     "finish_reason": "content_filter"}]
    }));
    let (llm, github) = (fake_llm(vec![filtered]).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app
        .task_id_of(&open_issue(&app, 14, "Filtered").await)
        .await;

    // Act
    let ran = run_next(&app, &runner).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(ran, Some((task_id.clone(), "failed".into())));
    let task = app.task(&task_id).await;
    assert_eq!(
        task["error"],
        "the chat API's content filter stopped the model's answer (finish_reason \
         content_filter): what came of it is not posted",
        "{task}"
    );
    assert_eq!(sent, 0);
    assert!(comments_on(&github, 14).await.is_empty());
}

#[tokio::test]
async fn an_answer_cut_off_by_the_length_limit_is_posted_saying_so() {
    // Arrange: the model's output limit ends its answer mid-sentence.
    let cut = ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant",
                     "content": "The login fails because the session cookie"},
                     "finish_reason": "length"}]
    }));
    let (llm, github) = (fake_llm(vec![cut]).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app.task_id_of(&open_issue(&app, 15, "Cut").await).await;

    // Act
    let ran = run_next(&app, &runner).await;
    app.drain().await;

    // Assert
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    let comments = comments_on(&github, 15).await;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].contains("The login fails because the session cookie\n\n(This answer was cut off: the model reached its length limit.)"),
        "{comments:?}"
    );
}

/// A reasoning model's answer (DeepSeek-R1, QwQ, Qwen3 served by Ollama or vLLM): its thinking
/// written in the content, and beside it.
fn thinking_answer(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content,
                     "reasoning_content": "Musing: the reporter is the CFO"},
                     "finish_reason": "stop"}]
    }))
}

#[tokio::test]
async fn a_reasoning_models_thinking_is_not_posted_with_its_answer() {
    // Arrange
    let content = "<think>\nThe reporter sounds angry; I will not mention the audit.\n</think>\n\n\
                   The fix is to reset the session cookie.";
    let (llm, github) = (
        fake_llm(vec![thinking_answer(content)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, 35, "Logout loop").await)
        .await;

    // Act
    let ran = run_next(&app, &runner_of(&app)).await;
    let sent = app.drain().await;

    // Assert: the answer alone is posted and kept.
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    assert_eq!(sent, 1);
    let comments = comments_on(&github, 35).await;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].contains("\n\nThe fix is to reset the session cookie.\n\n"),
        "{}",
        comments[0]
    );
    for thought in ["think>", "audit", "Musing", "CFO"] {
        assert!(!comments[0].contains(thought), "{thought}: {}", comments[0]);
    }
    let task = app.task(&task_id).await;
    assert_eq!(
        task["result"], "The fix is to reset the session cookie.",
        "{task}"
    );
}

#[tokio::test]
async fn a_reasoning_model_cut_off_while_thinking_fails_the_task_and_posts_nothing() {
    // Arrange: the thinking never closed (the token limit came first).
    let (llm, github) = (
        fake_llm(vec![thinking_answer(
            "<think>\nThe reporter sounds angry; the",
        )])
        .await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, 37, "Logout loop").await)
        .await;

    // Act
    let ran = run_next(&app, &runner_of(&app)).await;
    let sent = app.drain().await;

    // Assert: as with no answer at all.
    assert_eq!(ran, Some((task_id.clone(), "failed".into())));
    let task = app.task(&task_id).await;
    assert_eq!(
        task["error"], "the model ended with no answer (finish_reason stop)",
        "{task}"
    );
    assert_eq!(sent, 0);
    assert!(comments_on(&github, 37).await.is_empty());
}

#[tokio::test]
async fn a_running_runner_starts_on_a_new_task_at_once_not_at_its_next_poll() {
    // Arrange: the runner is up and idle (it polls every 5 s).
    let (llm, github) = (
        fake_llm(vec![llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(runner::run(
        app.state.clone(),
        std::sync::Arc::new(runner_of(&app)),
        stop.clone(),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    // Act
    let sent_at = std::time::Instant::now();
    open_issue(&app, 15, "Wake up").await;
    while chat_requests(&llm).await.is_empty() && sent_at.elapsed().as_secs() < 10 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let waited = sent_at.elapsed();
    stop.cancel();
    running.await.expect("join");

    // Assert
    // Well under the 5 s poll the runner would otherwise wait for.
    assert!(
        waited < std::time::Duration::from_secs(4),
        "the model was asked {waited:?} after the event"
    );
}

#[tokio::test]
async fn an_ask_command_with_no_thread_to_ask_on_fails_its_task_at_once() {
    // Arrange: a Standard Webhooks source has no thread a question could be posted on.
    let (llm, github) = (
        fake_llm(vec![llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    app.create_webhook(
        json!({"id": "sw", "name": "Svix", "provider": "standard-webhooks",
                              "secret": secret}),
    )
    .await;
    let (status, added) = app
        .post_api(
            "/api/webhooks/sw/commands",
            &json!({"trigger": "*", "action": "ask", "agent": "planning",
                    "template": "Which environment?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");

    // Act
    let response = app
        .post_standard("sw", "msg_1", r#"{"type":"deploy.failed"}"#, secret)
        .await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let tasks = app.tasks("webhook_id=sw").await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["status"], "failed", "{}", tasks[0]);
    let error = tasks[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("the question could not be posted"),
        "{error}"
    );
}

#[tokio::test]
async fn a_task_with_no_thread_to_answer_on_is_not_offered_the_tools_that_answer_on_it() {
    // Arrange: `planning` has comment, ask, get_event and list_events; a Standard Webhooks
    // event has no thread a comment, question or response could go to.
    let (llm, github) = (
        fake_llm(vec![llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    app.create_webhook(
        json!({"id": "sw", "name": "Svix", "provider": "standard-webhooks", "secret": secret}),
    )
    .await;
    app.add_command_ok(
        "sw",
        json!({"trigger": "*", "action": "create_task", "agent": "planning"}),
    )
    .await;
    let response = app
        .post_standard("sw", "msg_1", r#"{"type":"deploy.failed"}"#, secret)
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // Act
    run_next(&app, &runner_of(&app)).await.expect("a task ran");

    // Assert: only the tools that can act here were offered.
    let requests = chat_requests(&llm).await;
    let body: Value = serde_json::from_slice(&requests[0].body).expect("JSON request");
    let offered: Vec<&str> = body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert_eq!(offered, ["get_event", "list_events"], "{body}");

    // A comment by hand on the task is refused under the field that named it.
    let (_, tasks) = app.get_json("/api/tasks").await;
    let task_id = tasks["tasks"][0]["id"]
        .as_str()
        .expect("the task")
        .to_string();
    let refused = send_json(
        app.api(Method::POST, "/api/webhooks/sw/comment")
            .json(&json!({"task_id": task_id, "text": "Looking"})),
    )
    .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, Some("task_id"));
    assert!(
        refused
            .1
            .to_string()
            .contains("this task's event has no source thread"),
        "{}",
        refused.1
    );
}

#[tokio::test]
async fn a_task_resumed_after_replies_keeps_its_full_retry_budget_for_chat_api_failures() {
    // Arrange: the model asks three questions, each answered; then the chat API fails once.
    let broken = ResponseTemplate::new(500).set_body_json(json!({"detail": "upstream down"}));
    let script = vec![
        llm_asks("Which browser?"),
        llm_asks("Which version?"),
        llm_asks("Which OS?"),
        broken,
    ];
    let (llm, github) = (fake_llm(script).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app.task_id_of(&open_issue(&app, 18, "Flaky").await).await;
    for answer in ["Firefox", "128", "Linux"] {
        assert_eq!(
            run_next(&app, &runner).await,
            Some((task_id.clone(), "waiting_reply".into()))
        );
        app.drain().await;
        post_gh(
            &app,
            "issue_comment",
            &issue_comment(18, "Flaky", "bob", answer),
        )
        .await;
    }

    // Act
    let failed_once = run_next(&app, &runner).await;

    // Assert: the first failure of this run is retried, as on a first run.
    assert_eq!(failed_once, Some((task_id.clone(), "queued".into())));
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "queued", "{task}");
    assert_eq!(task["attempts"], 4, "{task}");
}

#[tokio::test]
async fn a_model_call_that_worked_restarts_the_retry_count_when_a_reply_has_it_asked_again() {
    // Arrange: asked and answered; the chat API then fails twice; the third call works but
    // a second reply arrives while the model writes its last word, so the model is asked
    // again, and that call and the next fail.
    let broken = || ResponseTemplate::new(500).set_body_json(json!({"detail": "upstream down"}));
    let slow_answer = llm_answer(ANSWER).set_delay(std::time::Duration::from_secs(3));
    let script = vec![
        llm_asks("Which browser?"),
        broken(),
        broken(),
        slow_answer,
        broken(),
        broken(),
    ];
    let (llm, github) = (fake_llm(script).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app.task_id_of(&open_issue(&app, 19, "Flaky").await).await;
    assert_eq!(
        run_next(&app, &runner).await,
        Some((task_id.clone(), "waiting_reply".into()))
    );
    app.drain().await;
    let firefox = issue_comment(19, "Flaky", "bob", "Firefox");
    post_gh(&app, "issue_comment", &firefox).await;
    for _ in 0..2 {
        assert_eq!(
            run_next(&app, &runner).await,
            Some((task_id.clone(), "queued".into()))
        );
        due_now(&app, &task_id);
    }

    // Act: the run whose call works, with a reply arriving during it; then one more failure.
    let mobile = issue_comment(19, "Flaky", "alice", "Also on mobile");
    let (worked_then_failed, _) = tokio::join!(run_next(&app, &runner), async {
        // Once the call that works is on its way (its answer takes 3 s).
        while chat_requests(&llm).await.len() < 4 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        post_gh(&app, "issue_comment", &mobile).await;
    });
    due_now(&app, &task_id);
    let failed_again = run_next(&app, &runner).await;

    // Assert: the failures after the call that worked are the first and second in a row,
    // retried as such, not the third and fourth (which would end the task).
    assert_eq!(worked_then_failed, Some((task_id.clone(), "queued".into())));
    assert_eq!(failed_again, Some((task_id.clone(), "queued".into())));
    assert_eq!(chat_requests(&llm).await.len(), 6);
}

#[tokio::test]
async fn a_run_cut_short_after_a_tool_acted_continues_without_acting_again() {
    // Arrange: the model comments through its tool, then the chat API is briefly down, then
    // the model gives its final answer.
    let arguments = json!({"text": "Looking into it"}).to_string();
    let comments = ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "c1", "type": "function",
                            "function": {"name": "comment", "arguments": arguments}}]},
                     "finish_reason": "tool_calls"}]
    }));
    let down = ResponseTemplate::new(503).insert_header("Retry-After", "0");
    let (llm, github) = (
        fake_llm(vec![comments, down, llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app
        .task_id_of(&open_issue(&app, 23, "Cut short").await)
        .await;

    // Act
    let first = run_next(&app, &runner).await;
    due_now(&app, &task_id);
    let second = run_next(&app, &runner).await;
    let sent = app.drain().await;

    // Assert: the second run carried on from the tool's result; one comment in all.
    assert_eq!(first, Some((task_id.clone(), "queued".into())));
    assert_eq!(second, Some((task_id.clone(), "done".into())));
    let requests = chat_requests(&llm).await;
    assert_eq!(requests.len(), 3);
    let last: Value = serde_json::from_slice(&requests[2].body).expect("JSON request");
    let roles: Vec<&str> = last["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"], "{last}");
    assert_eq!(sent, 1);
    assert_eq!(comments_on(&github, 23).await, ["Looking into it"]);
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "done", "{task}");
}

/// Makes a queued task due now, as if its retry wait had passed.
fn due_now(app: &crate::helpers::TestApp, task_id: &str) {
    let db = rusqlite::Connection::open(&app.db_path).expect("open db");
    db.execute("UPDATE tasks SET next_run_at = 0 WHERE id = ?1", [task_id])
        .expect("make due");
}

/// How long from `before` the task waits to run again, in ms.
fn retry_wait(app: &crate::helpers::TestApp, task_id: &str, before: i64) -> i64 {
    let db = rusqlite::Connection::open(&app.db_path).expect("open db");
    let next: i64 = db
        .query_row(
            "SELECT next_run_at FROM tasks WHERE id = ?1",
            [task_id],
            |r| r.get(0),
        )
        .expect("task row");
    next - before
}

#[tokio::test]
async fn a_chat_api_retry_after_longer_than_the_schedule_is_waited_for_and_a_shorter_one_is_not() {
    // Arrange: a 429 asking for 5 minutes, then a 503 asking for nothing at all.
    let limited = ResponseTemplate::new(429)
        .insert_header("Retry-After", "300")
        .set_body_json(json!({"error": {"message": "slow down"}}));
    let down = ResponseTemplate::new(503).insert_header("Retry-After", "0");
    let (llm, github) = (
        fake_llm(vec![limited, down, llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app.task_id_of(&open_issue(&app, 19, "Busy").await).await;

    // Act
    let before_limited = now_ms();
    let limited = run_next(&app, &runner).await;
    let waited_limited = retry_wait(&app, &task_id, before_limited);
    let too_soon = run_next(&app, &runner).await;
    due_now(&app, &task_id);
    let before_down = now_ms();
    let down = run_next(&app, &runner).await;
    let waited_down = retry_wait(&app, &task_id, before_down);
    due_now(&app, &task_id);
    let after = run_next(&app, &runner).await;

    // Assert: 5 minutes as asked; then the schedule's 1 min (the second failure in a row),
    // not at once.
    assert_eq!(limited, Some((task_id.clone(), "queued".into())));
    assert!(
        (299_000..=305_000).contains(&waited_limited),
        "waits {waited_limited} ms"
    );
    assert_eq!(too_soon, None, "it waits the time asked for");
    assert_eq!(down, Some((task_id.clone(), "queued".into())));
    assert!(
        (55_000..=65_000).contains(&waited_down),
        "waits {waited_down} ms"
    );
    assert_eq!(after, Some((task_id, "done".into())));
}

#[tokio::test]
async fn a_request_the_chat_api_refuses_fails_the_task_with_the_servers_words() {
    // Arrange: a refusal of this task's request (an unknown model or a refused key holds the
    // task instead: see chat_refusals).
    let refused = ResponseTemplate::new(400).set_body_json(json!({"error": {
        "message": "This model's maximum context length is 8192 tokens",
        "code": "context_length_exceeded", "param": "messages"}}));
    let (llm, github) = (fake_llm(vec![refused]).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app.task_id_of(&open_issue(&app, 14, "Typo").await).await;

    // Act
    let ran = run_next(&app, &runner).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(ran, Some((task_id.clone(), "failed".into())));
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "failed", "{task}");
    let error = task["error"].as_str().unwrap_or_default();
    assert!(error.contains("maximum context length"), "{task}");
    assert_eq!(run_next(&app, &runner).await, None);
    assert_eq!(sent, 0);
    assert!(comments_on(&github, 14).await.is_empty());
    let failed = app.events("status=failed").await;
    assert_eq!(
        failed.len(),
        1,
        "the event's status follows its task: {failed:?}"
    );
}

#[tokio::test]
async fn replaying_the_event_of_a_failed_task_runs_it_again() {
    // Arrange: the chat API refuses once (the task fails), then answers.
    let refused = ResponseTemplate::new(400).set_body_json(json!({"detail": "Bad request"}));
    let (llm, github) = (
        fake_llm(vec![refused, llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let event_id = open_issue(&app, 15, "Crash").await;
    let task_id = app.task_id_of(&event_id).await;
    assert_eq!(
        run_next(&app, &runner).await,
        Some((task_id.clone(), "failed".into()))
    );

    // Act
    let (status, replayed) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;
    let queued = app.task(&task_id).await;
    let ran = run_next(&app, &runner).await;
    app.drain().await;

    // Assert: the same task ran again and its answer was posted; the event is done.
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["results"][0]["result"], "requeued", "{replayed}");
    assert_eq!(queued["status"], "queued", "{queued}");
    assert!(queued["error"].is_null(), "{queued}");
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    assert_eq!(comments_on(&github, 15).await.len(), 1);
    assert_eq!(app.event(&event_id).await["status"], "done");
}

#[tokio::test]
async fn a_task_whose_template_failed_is_made_by_a_replay_after_the_fix() {
    // Arrange: a create_task command with a misspelt field: the event fails, no task.
    let (llm, github) = (
        fake_llm(vec![llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = crate::helpers::spawn_app_with(agent_config(&llm, &github)).await;
    app.github_webhook("gh", crate::helpers::GH_SECRET).await;
    let command = app
        .add_command_ok(
            "gh",
            json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning",
                   "template": "Analyze {{ issue.titel }}"}),
        )
        .await;
    let event_id = open_issue(&app, 16, "Crash").await;
    assert_eq!(app.event(&event_id).await["status"], "failed");

    // Act: fix the template and replay.
    let command_id = command["id"].as_str().expect("id");
    let (fixed, _) = send_json(
        app.api(
            Method::PUT,
            &format!("/api/webhooks/gh/commands/{command_id}"),
        )
        .json(&json!({"template": "Analyze {{ issue.title }}"})),
    )
    .await;
    let (_, replayed) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;
    let event = app.event(&event_id).await;

    // Assert: the task stands in place of the dead plan; the event is under way, not failed.
    assert_eq!(fixed, StatusCode::OK);
    assert_eq!(
        replayed["results"][0]["result"], "task_created",
        "{replayed}"
    );
    assert_eq!(event["actions"], json!([]), "{event}");
    assert_eq!(event["tasks"][0]["status"], "queued", "{event}");
    assert_eq!(event["status"], "matched", "{event}");
    assert!(app.events("status=failed").await.is_empty());
}

#[tokio::test]
async fn a_task_waiting_past_the_reply_timeout_fails_with_timeout_and_ignores_late_replies() {
    // Arrange: the model asked; the task waits
    let llm = fake_llm(vec![llm_asks("Which version?"), llm_answer(ANSWER)]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app.task_id_of(&open_issue(&app, 15, "Old bug").await).await;
    let other_id = app
        .task_id_of(&open_issue(&app, 16, "Queued bug").await)
        .await;
    let ran = run_next(&app, &runner).await;
    assert_eq!(ran, Some((task_id.clone(), "waiting_reply".into())));
    assert_eq!(app.drain().await, 1, "the question went out");

    // Act: the sweep runs with a cutoff after the moment the task began waiting
    let now = now_ms();
    let expired = app
        .state
        .store
        .write(move |db| task_rows::expire_waiting(db, now + 1_000, now))
        .await
        .expect("expire");
    let late = issue_comment(15, "Old bug", "bob", "Version 2.1");
    post_gh(&app, "issue_comment", &late).await;

    // Assert
    assert_eq!(expired, 1);
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert!(
        task["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timeout"),
        "{task}"
    );
    assert_eq!(
        app.task(&other_id).await["status"],
        "queued",
        "only waiting tasks expire"
    );
    let next = run_next(&app, &runner).await;
    assert_eq!(
        next.map(|(id, _)| id),
        Some(other_id),
        "the late reply revived nothing"
    );
    assert_eq!(app.task(&task_id).await["status"], "failed");
}

#[tokio::test]
async fn the_reply_timeout_holds_without_the_built_in_runner() {
    // Arrange: no chat API (external agents only), a 1 s reply timeout, a question asked.
    let github = fake_github().await;
    let app = crate::helpers::spawn_manual(|c| {
        crate::helpers::use_github(&github)(c);
        c.agents.reply_timeout = "1s".into();
    })
    .await;
    app.github_webhook("gh", crate::helpers::GH_SECRET).await;
    let event_id = open_issue(&app, 17, "Waiting").await;
    let (status, asked) = app
        .post_api(
            &format!("/api/events/{event_id}/ask"),
            &json!({"text": "Which release?", "agent": "brain"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
    assert_eq!(app.drain().await, 1, "the question went out");
    let task_id = asked["task_id"].as_str().expect("task id").to_string();

    // Act: wait past the timeout (the sweep looks every second at this setting).
    let started = std::time::Instant::now();
    while app.task(&task_id).await["status"] == "waiting_reply" && started.elapsed().as_secs() < 6 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Assert
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error"], "timeout: no reply arrived in time");

    // Act: an answer comes too late.
    let refused = app
        .post_api(
            &format!("/api/tasks/{task_id}/answer"),
            &json!({"text": "2.1"}),
        )
        .await;

    // Assert: asked by hand, no replay runs it again: asking anew is the way on.
    assert_error(&refused, StatusCode::CONFLICT, None);
    let message = refused.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("has failed") && message.contains("ask again with the event_id"),
        "{message}"
    );
}

#[tokio::test]
async fn a_task_failed_by_the_reply_timeout_says_how_a_late_reply_reaches_it() {
    // Arrange: the model asked; nobody answered in time; a reply came after.
    let llm = fake_llm(vec![llm_asks("Which version?"), llm_answer(ANSWER)]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let (event_id, task_id, ran) = question_timed_out(&app, &runner, 18, "Old crash").await;
    assert_eq!(ran, Some((task_id.clone(), "waiting_reply".into())));
    let client = crate::mcp::connect(&app).await;

    // Act
    let refused = app
        .post_api(
            &format!("/api/tasks/{task_id}/answer"),
            &json!({"text": "Version 2.1"}),
        )
        .await;
    let shown = crate::mcp::call(&client, "get_task", json!({"task_id": task_id})).await;

    // Assert: both say what takes it up again, the replay of its event.
    assert_error(&refused, StatusCode::CONFLICT, None);
    let message = refused.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("has failed and waits for no answer")
            && message.contains(&format!("replay_event `{event_id}`")),
        "{message}"
    );
    let said = crate::mcp::text(&shown);
    assert!(
        said.contains("A reply came on its thread after it timed out")
            && said.contains(&format!("replay_event `{event_id}`")),
        "{said}"
    );

    // Act: the replay it points to.
    let (status, replayed) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;

    // Assert: the task is queued again, the late reply in its conversation.
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["results"][0]["result"], "requeued", "{replayed}");
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "queued", "{task}");
    assert!(
        task["conversation"].to_string().contains("Version 2.1"),
        "{task}"
    );
    client.cancel().await.ok();
}

/// A fake GitHub that refuses the first comment on issue `number` of octo/app (404: the issue
/// was gone for a while) and takes the next ones.
async fn github_refusing_the_first_comment_on(number: u64) -> wiremock::MockServer {
    let github = wiremock::MockServer::start().await;
    let at = format!("/repos/octo/app/issues/{number}/comments");
    crate::helpers::answer_once(&github, &at, ResponseTemplate::new(404)).await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(at))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 9})))
        .mount(&github)
        .await;
    github
}

#[tokio::test]
async fn replaying_an_event_sends_its_tasks_dead_answer_again() {
    // Arrange: the answer's comment is refused once (the issue was gone for a while).
    let llm = fake_llm(vec![llm_answer(ANSWER)]).await;
    let github = github_refusing_the_first_comment_on(21).await;
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let event_id = open_issue(&app, 21, "Gone and back").await;
    run_next(&app, &runner).await;
    app.drain().await;
    let dead = app.event(&event_id).await;

    // Act
    let (status, replayed) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(dead["status"], "failed", "{dead}");
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert!(
        replayed.to_string().contains("task_exists_posts_requeued"),
        "{replayed}"
    );
    assert_eq!(sent, 1);
    let event = app.event(&event_id).await;
    assert_eq!(event["status"], "done", "{event}");
    let action = &event["actions"][0];
    assert_eq!(action["status"], "delivered", "{event}");
    assert!(
        action["command_id"].is_null(),
        "a result has no command: {action}"
    );
    assert_eq!(
        run_next(&app, &runner).await,
        None,
        "the task did not run again"
    );
}

#[tokio::test]
async fn a_done_task_whose_answer_died_says_so_until_it_is_sent_again() {
    // Arrange: GitHub refuses the answer's comment once.
    let llm = fake_llm(vec![llm_answer(ANSWER)]).await;
    let github = github_refusing_the_first_comment_on(22).await;
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    open_issue(&app, 22, "Answer lost").await;
    let (task_id, _) = run_next(&app, &runner).await.expect("a task ran");
    app.drain().await;

    // Act
    let dead = app.task(&task_id).await;
    let action_id = dead["actions"][0]["id"]
        .as_str()
        .expect("action id")
        .to_string();
    let (status, retried) = app
        .post_api(&format!("/api/actions/{action_id}/retry"), &json!({}))
        .await;
    app.drain().await;
    let sent = app.task(&task_id).await;

    // Assert: done, but the comment that died is named, with why and what sends it again.
    assert_eq!(dead["status"], "done", "{dead}");
    assert_eq!(dead["actions"].as_array().map(Vec::len), Some(1), "{dead}");
    assert_eq!(dead["actions"][0]["action"], "comment", "{dead}");
    assert_eq!(dead["actions"][0]["status"], "dead", "{dead}");
    let note = dead["actions_note"].as_str().expect("a note");
    for said in [
        format!("Its comment `{action_id}` died ("),
        "404".to_string(),
        "Nothing it sent arrived, though the task is done.".to_string(),
        format!("retry_action `{action_id}`"),
    ] {
        assert!(note.contains(&said), "{said}: {note}");
    }
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(sent["actions"][0]["status"], "delivered", "{sent}");
    assert!(sent["actions"][0].get("last_error").is_none(), "{sent}");
    assert!(sent.get("actions_note").is_none(), "{sent}");
}

#[tokio::test]
async fn replaying_an_event_does_not_resend_a_cancelled_tasks_dead_comment() {
    // Arrange: the model comments (GitHub refuses it: dead) and asks (posted); then the task
    // is cancelled while it waits.
    let llm = fake_llm(vec![
        llm_calls("comment", json!({"text": "Looking"})),
        llm_asks("Which release?"),
    ])
    .await;
    let github = wiremock::MockServer::start().await;
    let at = "/repos/octo/app/issues/22/comments";
    crate::helpers::expect_post(
        &github,
        at,
        json!({"body": "Looking"}),
        ResponseTemplate::new(404),
        1,
    )
    .await;
    crate::helpers::expect_post(
        &github,
        at,
        json!({"body": "Which release?"}),
        ResponseTemplate::new(201).set_body_json(json!({"id": 9})),
        1,
    )
    .await;
    let app = agent_app(&llm, &github).await;
    let event_id = open_issue(&app, 22, "Cancelled midway").await;
    run_next(&app, &runner_of(&app)).await;
    app.drain().await;
    let task_id = app.task_id_of(&event_id).await;
    assert_eq!(app.task(&task_id).await["status"], "waiting_reply");
    let (status, _) = app
        .post_api(&format!("/api/tasks/{task_id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    // Act
    let (status, replayed) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;
    let sent = app.drain().await;

    // Assert: the dead comment stays dead (the mocks count one request each).
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert!(
        replayed.to_string().contains("task_cancelled"),
        "{replayed}"
    );
    assert_eq!(sent, 0, "nothing of the cancelled task is sent again");
}

/// A question asked by hand on an issue's event, whose first post GitHub refuses (the next
/// succeeds); retried an hour later.
struct Question {
    task_id: String,
    action_id: String,
}

async fn question_github_refused_once(
    issue: u64,
) -> (wiremock::MockServer, crate::helpers::TestApp, Question) {
    let github = wiremock::MockServer::start().await;
    let at = format!("/repos/octo/app/issues/{issue}/comments");
    crate::helpers::answer_once(&github, &at, ResponseTemplate::new(502)).await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(at))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": issue})))
        .mount(&github)
        .await;
    let app = crate::helpers::spawn_manual(|c| {
        crate::helpers::use_github(&github)(c);
        c.retry_schedule = vec!["1h".into()];
    })
    .await;
    app.github_webhook("gh", crate::helpers::GH_SECRET).await;
    let event_id = open_issue(&app, issue, "Held back").await;
    let (_, asked) = app
        .post_api(
            &format!("/api/events/{event_id}/ask"),
            &json!({"text": "Which release?", "agent": "brain"}),
        )
        .await;
    let question = Question {
        task_id: asked["task_id"].as_str().expect("task id").to_string(),
        action_id: asked["id"].as_str().expect("action id").to_string(),
    };
    (github, app, question)
}

#[tokio::test]
async fn the_reply_timeout_counts_from_when_the_question_was_posted() {
    // Arrange: GitHub fails the question's first post; it is retried later.
    let (_github, app, question) = question_github_refused_once(18).await;
    let Question {
        task_id, action_id, ..
    } = question;
    let expire = |cutoff: i64| {
        let state = app.state.clone();
        async move {
            state
                .store
                .write(move |db| task_rows::expire_waiting(db, cutoff, now_ms()))
                .await
                .expect("expire")
        }
    };

    // Act: past the timeout while the question is still to be posted, then once it is out
    app.drain().await;
    let while_unsent = expire(now_ms() + 60_000).await;
    let before_posting = now_ms();
    let (retried, _) = app
        .post_api(&format!("/api/actions/{action_id}/retry"), &json!({}))
        .await;
    let sent = app.drain().await;
    let since_asked = expire(before_posting).await;

    // Assert
    assert_eq!(
        while_unsent, 0,
        "a question nobody could read yet does not time out"
    );
    assert!(retried.is_success(), "{retried}");
    assert_eq!(sent, 1);
    assert_eq!(
        since_asked, 0,
        "the wait starts when the question is posted, not when it was queued"
    );
    assert_eq!(app.task(&task_id).await["status"], "waiting_reply");
    assert_eq!(expire(now_ms() + 1_000).await, 1);
}

#[tokio::test]
async fn a_cancelled_tasks_question_still_to_be_posted_is_not_posted() {
    // Arrange: a question whose first post GitHub refused waits for its retry.
    let (github, app, question) = question_github_refused_once(19).await;
    let Question { task_id, action_id } = question;
    let first = app.drain().await;

    // Act: the task is cancelled, then the retry comes due
    let (status, cancelled) =
        send_json(app.api(Method::POST, &format!("/api/tasks/{task_id}/cancel"))).await;
    let due = action_id.clone();
    app.state
        .store
        .write(move |db| {
            db.execute(
                "UPDATE outbox SET next_attempt_at = 0 WHERE id = ?1",
                [due.as_str()],
            )?;
            Ok(())
        })
        .await
        .expect("make the retry due");
    let sent_after = app.drain().await;
    let retried =
        send_json(app.api(Method::POST, &format!("/api/actions/{action_id}/retry"))).await;

    // Assert: nothing more is posted; the question shows why.
    assert_eq!(first, 1, "the first attempt was made");
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(sent_after, 0);
    let posted = github.received_requests().await.expect("recorded");
    assert_eq!(posted.len(), 1, "only the refused first attempt");
    let (_, action) = app.get_json(&format!("/api/actions/{action_id}")).await;
    assert_eq!(action["status"], "dead", "{action}");
    assert_eq!(action["last_error"], "the task was cancelled", "{action}");
    assert_error(&retried, StatusCode::CONFLICT, None);
}

#[tokio::test]
async fn a_message_the_model_posted_is_not_sent_once_its_task_is_cancelled() {
    // Arrange: the model posts to its channel and asks on the issue in one message; the task
    // waits for the answer while the channel message waits to be sent.
    let channel = wiremock::MockServer::start().await;
    let url = format!("{}/api/v1/channels/webhooks/abc/tok", channel.uri());
    let both = ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "post_message", "arguments": "{\"text\": \"Status: looking\"}"}},
                {"id": "c2", "type": "function",
                 "function": {"name": "ask", "arguments": "{\"question\": \"Proceed?\"}"}}]},
                     "finish_reason": "tool_calls"}]}));
    let (llm, github) = (fake_llm(vec![both]).await, fake_github().await);
    let config = agent_config(&llm, &github);
    let agents = json!([{"name": "brain", "target": {"url": url, "kind": "openwebui"},
                         "tools": ["post_message", "ask"]}]);
    let app = crate::helpers::spawn_app_with(move |c| {
        config(c);
        c.agents.agents = Some(agents.to_string());
    })
    .await;
    app.github_webhook("gh", crate::helpers::GH_SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "brain",
               "template": "Look at {{ issue.title }}"}),
    )
    .await;
    let task_id = app.task_id_of(&open_issue(&app, 31, "Outage").await).await;
    let ran = run_next(&app, &runner_of(&app)).await;

    // Act
    let (status, cancelled) =
        send_json(app.api(Method::POST, &format!("/api/tasks/{task_id}/cancel"))).await;
    app.drain().await;

    // Assert: the channel never hears from the cancelled task.
    assert_eq!(ran, Some((task_id.clone(), "waiting_reply".into())));
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let posts = channel.received_requests().await.expect("recorded");
    assert!(posts.is_empty(), "{} posts", posts.len());
    let (_, actions) = app.get_json("/api/actions?webhook_id=gh").await;
    let message = actions["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["action"] == "post_message")
        .unwrap_or_else(|| panic!("the message is listed: {actions}"))
        .clone();
    assert_eq!(message["task_id"], task_id.as_str(), "{message}");
    assert_eq!(message["status"], "dead", "{message}");
    assert_eq!(message["last_error"], "the task was cancelled", "{message}");
}

#[tokio::test]
async fn a_question_being_sent_when_its_task_is_cancelled_is_not_tried_again() {
    // Arrange: a question whose post is under way (its sender holds it) when the task is
    // cancelled.
    let github = wiremock::MockServer::start().await;
    let app = crate::helpers::spawn_manual(crate::helpers::use_github(&github)).await;
    app.github_webhook("gh", crate::helpers::GH_SECRET).await;
    let event_id = open_issue(&app, 20, "Under way").await;
    let (_, asked) = app
        .post_api(
            &format!("/api/events/{event_id}/ask"),
            &json!({"text": "Which release?", "agent": "brain"}),
        )
        .await;
    let task_id = asked["task_id"].as_str().expect("task id").to_string();
    let action_id = asked["id"].as_str().expect("action id").to_string();
    let sending = action_id.clone();
    app.state
        .store
        .write(move |db| {
            db.execute(
                "UPDATE outbox SET status = 'sending' WHERE id = ?1",
                [sending.as_str()],
            )?;
            Ok(())
        })
        .await
        .expect("hold the question as being sent");
    let (status, _) =
        send_json(app.api(Method::POST, &format!("/api/tasks/{task_id}/cancel"))).await;
    assert_eq!(status, StatusCode::OK);

    // Act: the attempt ends in a failure that would be retried
    let finishing = action_id.clone();
    let finished = app
        .state
        .store
        .write(move |db| {
            webhook_mcp::store::outbox::finish(
                db,
                &finishing,
                &webhook_mcp::store::outbox::Attempt {
                    started_at: now_ms(),
                    latency_ms: 15_000,
                    http_status: None,
                    outcome: "retry",
                    error: Some("timed out".into()),
                    remote_id: None,
                    next_attempt_at: Some(now_ms()),
                    unanswered: true,
                },
                now_ms(),
            )
        })
        .await
        .expect("finish");

    // Assert
    assert_eq!(finished.map(|f| f.status).as_deref(), Some("dead"));
    let (_, action) = app.get_json(&format!("/api/actions/{action_id}")).await;
    assert_eq!(action["last_error"], "the task was cancelled", "{action}");
    assert_eq!(app.drain().await, 0);
}

#[tokio::test]
async fn a_cancelled_task_is_not_run_and_a_finished_one_cannot_be_cancelled() {
    // Arrange
    let (llm, github) = (
        fake_llm(vec![llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app
        .task_id_of(&open_issue(&app, 17, "Never mind").await)
        .await;
    let cancel = |id: &str| app.api(Method::POST, &format!("/api/tasks/{id}/cancel"));

    // Act
    let (status, cancelled) = send_json(cancel(&task_id)).await;
    let ran = run_next(&app, &runner).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(ran, None, "the runner skips a cancelled task");
    assert!(chat_requests(&llm).await.is_empty());
    assert_eq!(app.task(&task_id).await["status"], "cancelled");

    // Act: a task that ran to the end
    let done_id = app
        .task_id_of(&open_issue(&app, 18, "Real bug").await)
        .await;
    assert_eq!(
        run_next(&app, &runner).await,
        Some((done_id.clone(), "done".into()))
    );
    let refused = send_json(cancel(&done_id)).await;

    // Assert
    assert_error(&refused, StatusCode::CONFLICT, None);
    assert_eq!(app.task(&done_id).await["status"], "done");
    let unknown = send_json(cancel("task_nope")).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn an_agent_whose_prompt_file_is_missing_is_named_in_a_warning_at_start() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    // Arrange: the real binary, a chat API (never called) and an agent naming a prompt file
    // that neither PROMPTS_DIR nor the built-ins hold.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_webhook-mcp"))
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--database")
        .arg(dir.path().join("app.db"))
        .arg("--prompts-dir")
        .arg(dir.path())
        .env("WEBHOOK_MCP_API_KEY", "k")
        .env(
            "WEBHOOK_MCP_CHAT_URL",
            "http://127.0.0.1:9/v1/chat/completions",
        )
        .env("AI_MODEL", "m")
        .env(
            "WEBHOOK_MCP_AGENTS",
            r#"[{"name": "triage", "system_prompt": "triage.md"}, {"name": "planning"}]"#,
        )
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start webhook-mcp");

    // Act: read the log up to the runner's start and the lines right after it.
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut log = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.expect("read log") {
            let started = line.contains("agent runner started");
            log.push(line);
            if started {
                for _ in 0..3 {
                    match tokio::time::timeout(
                        std::time::Duration::from_millis(500),
                        lines.next_line(),
                    )
                    .await
                    {
                        Ok(Ok(Some(line))) => log.push(line),
                        _ => break,
                    }
                }
                break;
            }
        }
    })
    .await;
    child.kill().await.ok();

    // Assert: triage (missing file) is named; planning (built in) is not.
    assert!(read.is_ok(), "the runner never started: {log:#?}");
    let warnings: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("no system prompt"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log:#?}");
    assert!(warnings[0].contains("agents/triage.md"), "{log:#?}");
}

#[tokio::test]
async fn an_owner_with_a_stray_space_completes_its_claim_whichever_form_the_claim_holds() {
    // Arrange: two tasks; one claimed with spaces around its owner (kept trimmed), the other
    // held by an owner stored with a trailing space, as claims made before trimming were.
    let (llm, github) = (
        fake_llm(vec![llm_answer(ANSWER)]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let trimmed = app.task_id_of(&open_issue(&app, 31, "First").await).await;
    let (status, claimed) = app
        .post_api(
            "/api/tasks/claim",
            &json!({"owner": " brain ", "lease_secs": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    assert_eq!(claimed["task"]["id"], json!(trimmed), "{claimed}");
    let older = app.task_id_of(&open_issue(&app, 32, "Second").await).await;
    let (status, _) = app
        .post_api(
            "/api/tasks/claim",
            &json!({"owner": "other", "lease_secs": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let db = rusqlite::Connection::open(&app.db_path).expect("open the database");
    db.execute(
        "UPDATE tasks SET lease_owner = 'other ' WHERE id = ?1",
        [&older],
    )
    .expect("update");

    // Act
    let complete = |id: &str, owner: &str| {
        (
            format!("/api/tasks/{id}/complete"),
            json!({"owner": owner, "result": "done"}),
        )
    };
    let (path, body) = complete(&trimmed, "brain ");
    let (first, first_body) = app.post_api(&path, &body).await;
    let (path, body) = complete(&older, "other ");
    let (second, second_body) = app.post_api(&path, &body).await;

    // Assert
    assert_eq!(first, StatusCode::OK, "{first_body}");
    assert_eq!(second, StatusCode::OK, "{second_body}");
}

#[tokio::test]
async fn a_task_failed_after_its_retries_says_they_are_spent() {
    // Arrange: the chat API fails four times in a row.
    let broken = || ResponseTemplate::new(500).set_body_json(json!({"detail": "upstream down"}));
    let script = vec![broken(), broken(), broken(), broken()];
    let (llm, github) = (fake_llm(script).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app.task_id_of(&open_issue(&app, 21, "Outage").await).await;
    for _ in 0..3 {
        assert_eq!(
            run_next(&app, &runner).await,
            Some((task_id.clone(), "queued".into()))
        );
        due_now(&app, &task_id);
    }

    // Act
    let last = run_next(&app, &runner).await;

    // Assert
    assert_eq!(last, Some((task_id.clone(), "failed".into())));
    let task = app.task(&task_id).await;
    let error = task["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("upstream down") && error.contains("failed 4 times in a row"),
        "{task}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_calling_message_is_saved_before_its_calls_act() {
    // Arrange: the model comments through its tool, then takes its time to answer (the run
    // is still under way, its progress kept, whenever the comment is seen queued).
    let (llm, github) = (
        fake_llm(vec![
            crate::helpers::llm_calls("comment", json!({"text": "On it"})),
            llm_answer(ANSWER).set_delay(std::time::Duration::from_secs(5)),
        ])
        .await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, 29, "Saved first").await)
        .await;
    let db = rusqlite::Connection::open(&app.db_path).expect("open db");

    // Act: the run, watched from another connection for the moment its comment is queued.
    let running = start_run(&app, &task_id).await;
    let mut seen = None;
    for _ in 0..20_000 {
        let (queued, progress): (i64, Option<String>) = db
            .query_row(
                "SELECT (SELECT COUNT(*) FROM outbox WHERE task_id = ?1), \
                        (SELECT run_progress FROM tasks WHERE id = ?1)",
                rusqlite::params![task_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("read");
        if queued > 0 {
            seen = Some(progress);
            break;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    running.await.expect("join").expect("run");

    // Assert: a crash then resumes with the call answered "may have taken effect", rather
    // than a run that knows nothing of it and makes it again.
    let progress = seen.expect("the comment was queued").unwrap_or_default();
    assert!(progress.contains("tool_calls"), "progress: {progress:?}");
}

#[tokio::test]
async fn an_answer_with_a_lone_surrogate_escape_is_posted_with_a_replacement_character() {
    // Arrange: a chat API whose answer cut an emoji in half, as JSON allows it to be written.
    let cut = ResponseTemplate::new(200).set_body_raw(
        r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Fixed \ud83d"},"finish_reason":"stop"}]}"#,
        "application/json",
    );
    let llm = fake_llm(vec![cut]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let task_id = app.task_id_of(&open_issue(&app, 35, "Cut").await).await;

    // Act
    let ran = run_next(&app, &runner_of(&app)).await;
    app.drain().await;

    // Assert: done at the first answer, not retried as unreadable.
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    let task = app.task(&task_id).await;
    assert_eq!(task["result"], "Fixed \u{FFFD}", "{task}");
    assert!(comments_on(&github, 35).await[0].contains("Fixed \u{FFFD}"));
}

/// Saves `progress` as the task's run progress, as a run stopped part way leaves it.
fn set_run_progress(app: &crate::helpers::TestApp, task_id: &str, progress: &Value) {
    rusqlite::Connection::open(&app.db_path)
        .expect("open db")
        .execute(
            "UPDATE tasks SET run_progress = ?2 WHERE id = ?1",
            rusqlite::params![task_id, progress.to_string()],
        )
        .expect("progress");
}
