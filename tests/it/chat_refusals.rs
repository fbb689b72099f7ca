//! A chat API that refuses the runner's key or a model: its tasks wait (held, not failed),
//! the API is looked at again with a growing pause rather than once per task, other agents go
//! on, and the tasks run by themselves once the key is taken again; held too long, they fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use webhook_mcp::agents::chat_pauses::Timing;
use webhook_mcp::agents::runner;
use webhook_mcp::config::Config;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{
    CHAT_PATH, TestApp, agent_app_with, chat_requests, fake_github, fake_llm, llm_answer,
    llm_calls, open_issue, run_next, runner_of,
};

/// Open WebUI's answer to a key it does not take.
fn key_refused() -> ResponseTemplate {
    ResponseTemplate::new(401).set_body_json(json!({"detail": "Invalid token"}))
}

/// Answers 401 until `fixed` is set (the operator mends the key), then a final answer.
struct KeyMendedLater(Arc<AtomicBool>);

impl Respond for KeyMendedLater {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.load(Ordering::SeqCst) {
            llm_answer("Looks like a regression in the login form.")
        } else {
            key_refused()
        }
    }
}

/// Pauses of `first`, doubling up to four times that; a task held up to `limit`.
fn pauses(first: Duration, limit: Duration) -> impl Fn(&mut Config) + Clone {
    move |config: &mut Config| {
        config.agents.chat_pause = Timing {
            first,
            longest: first * 4,
            limit,
        };
    }
}

const HOUR: Duration = Duration::from_secs(3600);

async fn health(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("health JSON")
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .bearer_auth(crate::helpers::API_KEY)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

#[tokio::test]
async fn a_refused_key_holds_the_backlog_without_hammering_and_every_task_runs_once_it_is_mended() {
    // Arrange: the app's own runner is on; the chat API refuses its key for now.
    let mended = Arc::new(AtomicBool::new(false));
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHAT_PATH))
        .respond_with(KeyMendedLater(Arc::clone(&mended)))
        .mount(&llm)
        .await;
    let github = fake_github().await;
    let short = pauses(Duration::from_millis(200), HOUR);
    let app = agent_app_with(&llm, &github, |c| {
        c.agents.runner = true;
        short(c);
    })
    .await;
    let mut ids = Vec::new();
    for number in 1..=4 {
        let event = open_issue(&app, 200 + number, "Login fails").await;
        ids.push(app.task_id_of(&event).await);
    }

    // Act: two seconds of a refused key.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let refused_calls = chat_requests(&llm).await.len();
    let mut held = Vec::new();
    for id in &ids {
        held.push(app.task(id).await);
    }
    let listed = app.tasks("status=queued").await;
    let paused = health(&app).await;
    let gauge = metrics(&app).await;
    mended.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let mut done = Vec::new();
    while started.elapsed() < Duration::from_secs(10) {
        done.clear();
        for id in &ids {
            done.push(app.task(id).await);
        }
        if done.iter().all(|t| t["status"] == "done") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resumed = health(&app).await;

    // Assert: while refused, no task failed or spent an attempt, each says why it waits, and
    // the API was asked a few times, not once per task per look.
    for task in &held {
        assert_ne!(task["status"], "failed", "{task}");
        let error = task["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("401") && error.contains("waiting, not failed"),
            "{task}"
        );
        if task["status"] == "queued" {
            assert_eq!(task["attempts"], 0, "{task}");
        }
    }
    assert!(
        listed.iter().any(|t| t["error"]
            .as_str()
            .is_some_and(|e| e.contains("waiting, not failed"))),
        "{listed:?}"
    );
    assert!(
        (2..=8).contains(&refused_calls),
        "{refused_calls} calls in 2 s"
    );
    assert_eq!(paused["status"], "ok", "{paused}");
    assert_eq!(paused["chat_api_paused"][0]["refused"], "key", "{paused}");
    assert!(gauge.contains("webhook_mcp_chat_api_paused 1"), "{gauge}");
    // Mended: every task ran by itself, with no trace of the wait.
    for task in &done {
        assert_eq!(task["status"], "done", "{task}");
        assert!(task["error"].is_null(), "{task}");
        assert_eq!(task["attempts"], 1, "{task}");
    }
    assert!(resumed.get("chat_api_paused").is_none(), "{resumed}");
    assert!(
        metrics(&app)
            .await
            .contains("webhook_mcp_chat_api_paused 0")
    );
}

/// [`two_agents`] on a chat API that answers `refusal` to model `gone` and any other well.
/// The fake chat API, the app, the event and a runner.
async fn two_agents_one_model_refused(
    refusal: ResponseTemplate,
) -> (MockServer, TestApp, String, runner::Runner) {
    let llm = refusing(body_partial_json(json!({"model": "gone"})), refusal).await;
    let (app, event) = two_agents(&llm).await;
    let runner = runner_of(&app);
    (llm, app, event, runner)
}

/// Agents `planning` on model `gone` and `triage` on AI_MODEL, against the chat API `llm`; a
/// long pause, so nothing looks again during a test. One opened issue makes a task for each.
/// The app and the event.
async fn two_agents(llm: &MockServer) -> (TestApp, String) {
    let github = fake_github().await;
    let agents = json!([{"name": "planning", "model": "gone"}, {"name": "triage"}]).to_string();
    let long = pauses(Duration::from_secs(60), HOUR);
    let app = agent_app_with(llm, &github, |c| {
        c.agents.agents = Some(agents);
        long(c);
    })
    .await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "triage",
               "template": "Triage issue {{issue.number}}"}),
    )
    .await;
    let event = open_issue(&app, 7, "Crash").await;
    (app, event)
}

#[tokio::test]
async fn an_unknown_model_holds_its_agents_tasks_while_other_agents_run() {
    // Arrange: `planning` calls a model the API does not know (Open WebUI's answer); `triage`
    // calls AI_MODEL, which works. One issue makes a task for each.
    let gone = ResponseTemplate::new(400).set_body_json(json!({"detail": "Model not found"}));
    let (llm, app, event, runner) = two_agents_one_model_refused(gone).await;

    // Act
    runner::drain(&app.state, &runner).await.expect("drain");
    let again = runner::drain(&app.state, &runner).await.expect("drain");

    // Assert: the planning task waits, the triage task is done; the model gone was asked once.
    let tasks = app.tasks(&format!("event_id={event}")).await;
    let of = |agent: &str| {
        tasks
            .iter()
            .find(|t| t["agent"] == agent)
            .cloned()
            .expect("a task of the agent")
    };
    let (planning, triage) = (of("planning"), of("triage"));
    assert_eq!(planning["status"], "queued", "{planning}");
    assert!(
        planning["error"]
            .as_str()
            .is_some_and(|e| e.contains("model `gone`") && e.contains("Model not found")),
        "{planning}"
    );
    assert_eq!(triage["status"], "done", "{triage}");
    assert!(again.is_empty(), "held while paused: {again:?}");
    let asked_gone = chat_requests(&llm)
        .await
        .iter()
        .filter(|r| serde_json::from_slice::<Value>(&r.body).expect("JSON")["model"] == "gone")
        .count();
    assert_eq!(asked_gone, 1);
    let paused = health(&app).await;
    assert_eq!(paused["chat_api_paused"][0]["refused"], "model", "{paused}");
    assert_eq!(paused["chat_api_paused"][0]["model"], "gone", "{paused}");
}

#[tokio::test]
async fn tasks_held_longer_than_the_limit_fail_saying_why() {
    // Arrange: the key is never taken; a task may be held half a second.
    let (llm, github) = (fake_llm(vec![key_refused()]).await, fake_github().await);
    let short = pauses(Duration::from_millis(100), Duration::from_millis(500));
    let app = agent_app_with(&llm, &github, short).await;
    let first_event = open_issue(&app, 31, "Crash").await;
    let first = app.task_id_of(&first_event).await;
    let second = app.task_id_of(&open_issue(&app, 32, "Hang").await).await;
    let runner = runner_of(&app);
    assert_eq!(
        run_next(&app, &runner).await,
        Some((first.clone(), "queued".into()))
    );
    assert_eq!(run_next(&app, &runner).await, None, "paused");

    // Act: past the limit, the next look is refused too.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let ran = run_next(&app, &runner).await;

    // Assert: both failed, saying the key was refused all that time; their events follow.
    // (The look again was the task not refused yet.)
    assert_eq!(ran, Some((second.clone(), "failed".into())));
    for id in [&first, &second] {
        let task = app.task(id).await;
        assert_eq!(task["status"], "failed", "{task}");
        let error = task["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("401") && error.contains("not held longer"),
            "{task}"
        );
    }
    assert_eq!(app.event(&first_event).await["status"], "failed");
    assert_eq!(chat_requests(&llm).await.len(), 2);
}

/// Open WebUI's answer for a model it does not know (or a key may not use).
fn model_refused(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"detail": "Model not found"}))
}

/// The pauses `/health` lists, as `refused` (and `model`) pairs.
async fn paused(app: &TestApp) -> Vec<(Value, Value)> {
    let health = health(app).await;
    health["chat_api_paused"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["refused"].clone(), p["model"].clone()))
        .collect()
}

/// A chat API answering `refusal` to a request with the words `POISON`, and any other well.
async fn refusing_poison(refusal: ResponseTemplate) -> MockServer {
    refusing(wiremock::matchers::body_string_contains("POISON"), refusal).await
}

/// A chat API answering `refusal` to the requests `asked` matches, and any other well.
async fn refusing(asked: impl wiremock::Match + 'static, refusal: ResponseTemplate) -> MockServer {
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHAT_PATH))
        .and(asked)
        .respond_with(refusal)
        .with_priority(1)
        .mount(&llm)
        .await;
    Mock::given(method("POST"))
        .and(path(CHAT_PATH))
        .respond_with(llm_answer("Fine."))
        .with_priority(2)
        .mount(&llm)
        .await;
    llm
}

#[tokio::test]
async fn a_task_refused_for_its_own_words_does_not_hold_back_the_other_tasks_of_its_model() {
    // Arrange: a firewall in front of the API answers 403 with a page of its own to one
    // issue's words; the others pass.
    let blocked_page = ResponseTemplate::new(403).set_body_string("<html>Request blocked</html>");
    let llm = refusing_poison(blocked_page).await;
    let github = fake_github().await;
    let app = agent_app_with(&llm, &github, pauses(Duration::from_millis(100), HOUR)).await;
    let blocked = app.task_id_of(&open_issue(&app, 1, "POISON").await).await;
    let fine = app.task_id_of(&open_issue(&app, 2, "Hang").await).await;
    let runner = runner_of(&app);
    assert_eq!(
        run_next(&app, &runner).await,
        Some((blocked.clone(), "queued".into()))
    );

    // Act: the pause is over; one task looks again.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let probe = run_next(&app, &runner).await;

    // Assert: the look again was the other task's, which ran.
    assert_eq!(probe, Some((fine.clone(), "done".into())));
    let task = app.task(&blocked).await;
    assert_eq!(task["status"], "queued", "{task}");
}

#[tokio::test]
async fn a_moderations_403_for_one_tasks_input_fails_that_task_and_holds_no_other() {
    // Arrange: OpenRouter answers 403 when a model's moderation flags the input: the first
    // issue's words are flagged, the second's are not.
    let llm = refusing_poison(ResponseTemplate::new(403).set_body_json(json!({"error": {
        "code": 403, "message": "llama requires moderation. Your input was flagged",
        "metadata": {"reasons": ["harassment"], "flagged_input": "POISON"}}})))
    .await;
    let github = fake_github().await;
    let app = agent_app_with(&llm, &github, pauses(Duration::from_secs(60), HOUR)).await;
    let flagged = app.task_id_of(&open_issue(&app, 1, "POISON").await).await;
    let fine = app.task_id_of(&open_issue(&app, 2, "Hang").await).await;
    let runner = runner_of(&app);

    // Act
    let first = run_next(&app, &runner).await;
    let second = run_next(&app, &runner).await;

    // Assert: the flagged task failed with the moderation's words; the other ran at once.
    assert_eq!(first, Some((flagged.clone(), "failed".into())));
    let task = app.task(&flagged).await;
    assert!(
        task["error"]
            .as_str()
            .is_some_and(|e| e.contains("input was flagged")),
        "{task}"
    );
    assert_eq!(second, Some((fine, "done".into())));
    assert!(paused(&app).await.is_empty());
}

/// Runs the task of issue `number`, the chat API answering `answers` in turn; asserts it
/// failed at once with an error saying each of `says`, and nothing was paused.
async fn fails_at_once_saying(answers: Vec<ResponseTemplate>, number: u64, says: &[&str]) {
    let (llm, github) = (fake_llm(answers).await, fake_github().await);
    let app = agent_app_with(&llm, &github, pauses(Duration::from_secs(60), HOUR)).await;
    let id = app
        .task_id_of(&open_issue(&app, number, "Crash").await)
        .await;
    let runner = runner_of(&app);

    let ran = run_next(&app, &runner).await;

    assert_eq!(ran, Some((id.clone(), "failed".into())));
    let task = app.task(&id).await;
    let error = task["error"].as_str().unwrap_or_default();
    assert!(says.iter().all(|said| error.contains(said)), "{task}");
    assert!(paused(&app).await.is_empty());
}

#[tokio::test]
async fn a_refusal_after_the_runs_earlier_call_was_taken_fails_the_task_instead_of_holding() {
    // The model looks at the event, then its next call (with what the tool returned) is
    // refused: failed as a refused request, saying why.
    let answers = vec![llm_calls("get_event", json!({})), model_refused(403)];
    fails_at_once_saying(answers, 3, &["Model not found", "this request"]).await;
}

#[tokio::test]
async fn litellms_401_for_a_model_the_key_may_not_use_holds_that_models_agents_only() {
    // Arrange: LiteLLM answers 401 (`key_model_access_denied`, `param: model`) for a model
    // outside the key's list; `planning` calls it, `triage` calls AI_MODEL, which works.
    let gone = ResponseTemplate::new(401).set_body_json(json!({"error": {
        "message": "key not allowed to access model. This key can only access \
                    models=['fake-model']. Tried to access gone",
        "type": "key_model_access_denied", "param": "model", "code": "401"}}));
    let (_llm, app, event, runner) = two_agents_one_model_refused(gone).await;

    // Act
    runner::drain(&app.state, &runner).await.expect("drain");

    // Assert: the model is paused, not the key; triage's model works, so its task ran.
    let tasks = app.tasks(&format!("event_id={event}")).await;
    let triage = tasks
        .iter()
        .find(|t| t["agent"] == "triage")
        .expect("triage");
    assert_eq!(triage["status"], "done", "{triage}");
    assert_eq!(
        paused(&app).await,
        [(json!("model"), json!("gone"))],
        "the model's pause only"
    );
}

#[tokio::test]
async fn a_404_that_speaks_of_no_model_fails_at_once_pointing_at_the_url() {
    // WEBHOOK_MCP_CHAT_URL stops at `/v1`: the server has nothing there.
    let not_found = ResponseTemplate::new(404).set_body_json(json!({"detail": "Not Found"}));
    fails_at_once_saying(vec![not_found], 4, &["404", "/chat/completions"]).await;
}

#[tokio::test]
async fn open_webuis_405_to_a_base_url_ending_in_api_fails_at_once_pointing_at_the_url() {
    // OPENWEBUI_URL=http://host:3000/api (as Open WebUI's docs give its OpenAI-compatible
    // base): the runner posts to /api/api/chat/completions, which Open WebUI's front end
    // answers 405.
    let not_allowed =
        ResponseTemplate::new(405).set_body_json(json!({"detail": "Method Not Allowed"}));
    fails_at_once_saying(
        vec![not_allowed],
        4,
        &["405", "OPENWEBUI_URL", "without /api"],
    )
    .await;
}

#[tokio::test]
async fn open_webuis_disabled_passthrough_fails_at_once_pointing_at_the_url_not_pausing_the_model()
{
    // OPENWEBUI_URL=http://host:3000/openai: Open WebUI refuses its deprecated pass-through
    // with a 403, which is the URL's fault, not the model's.
    let passthrough = ResponseTemplate::new(403).set_body_json(json!({
        "detail": "Direct API passthrough is disabled. Set ENABLE_OPENAI_API_PASSTHROUGH=True \
                   to enable."}));
    fails_at_once_saying(
        vec![passthrough],
        4,
        &["403", "passthrough", "OPENWEBUI_URL"],
    )
    .await;
}

#[tokio::test]
async fn a_refusal_that_ends_in_a_full_stop_is_not_given_a_second_one() {
    // Open WebUI's answer to a key it no longer takes ends its own sentence.
    let signed_out = ResponseTemplate::new(401).set_body_json(json!({"detail":
        "Your session has expired or the token is invalid. Please sign in again."}));
    let (llm, github) = (fake_llm(vec![signed_out]).await, fake_github().await);
    let app = agent_app_with(&llm, &github, pauses(Duration::from_secs(60), HOUR)).await;
    let id = app.task_id_of(&open_issue(&app, 6, "Crash").await).await;

    let ran = run_next(&app, &runner_of(&app)).await;

    assert_eq!(ran, Some((id.clone(), "queued".into())));
    let task = app.task(&id).await;
    let error = task["error"].as_str().unwrap_or_default();
    assert!(error.contains("Please sign in again. The tasks"), "{error}");
    assert!(!error.contains(".."), "{error}");
}

#[tokio::test]
async fn a_refused_model_ends_the_keys_pause_the_key_was_read() {
    // Arrange: the key is refused, then (mended) the model is.
    let llm = fake_llm(vec![key_refused(), model_refused(403)]).await;
    let github = fake_github().await;
    let app = agent_app_with(&llm, &github, pauses(Duration::from_millis(100), HOUR)).await;
    open_issue(&app, 5, "Crash").await;
    let runner = runner_of(&app);
    run_next(&app, &runner).await;
    assert_eq!(paused(&app).await, [(json!("key"), Value::Null)]);

    // Act: the look again is refused for the model.
    tokio::time::sleep(Duration::from_millis(150)).await;
    run_next(&app, &runner).await;

    // Assert
    assert_eq!(paused(&app).await, [(json!("model"), json!("fake-model"))]);
}

#[tokio::test]
async fn a_pause_with_no_task_left_to_look_again_with_ends() {
    // Arrange: the key is refused; the only task held is then cancelled.
    let (llm, github) = (fake_llm(vec![key_refused()]).await, fake_github().await);
    let app = agent_app_with(&llm, &github, pauses(Duration::from_millis(100), HOUR)).await;
    let id = app.task_id_of(&open_issue(&app, 6, "Crash").await).await;
    let runner = runner_of(&app);
    run_next(&app, &runner).await;
    let (status, cancelled) = app
        .post_api(&format!("/api/tasks/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");

    // Act: the pause is over, and nothing is left to look with.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let ran = run_next(&app, &runner).await;

    // Assert: the pause is gone from /health and /metrics; the cancelled task says nothing
    // of the chat API.
    assert_eq!(ran, None);
    assert!(paused(&app).await.is_empty());
    assert!(
        metrics(&app)
            .await
            .contains("webhook_mcp_chat_api_paused 0")
    );
    let task = app.task(&id).await;
    assert!(task["error"].is_null(), "{task}");
}

#[tokio::test]
async fn a_look_again_answered_408_leaves_the_pause_in_force() {
    // Arrange: the key is refused; the look again times out at a proxy (408).
    let timed_out = ResponseTemplate::new(408).set_body_string("Request Timeout");
    let (llm, github) = (
        fake_llm(vec![key_refused(), timed_out]).await,
        fake_github().await,
    );
    let app = agent_app_with(&llm, &github, pauses(Duration::from_millis(100), HOUR)).await;
    open_issue(&app, 8, "Crash").await;
    let runner = runner_of(&app);
    run_next(&app, &runner).await;

    // Act
    tokio::time::sleep(Duration::from_millis(150)).await;
    let ran = run_next(&app, &runner).await;

    // Assert: the task waits to retry, and the key is still paused: nothing was learnt.
    assert_eq!(ran.map(|(_, status)| status).as_deref(), Some("queued"));
    assert_eq!(paused(&app).await, [(json!("key"), Value::Null)]);
}

#[tokio::test]
async fn a_task_cancelled_while_its_refused_call_was_out_ends_the_run_cancelled() {
    // Arrange: the key's refusal comes after a second.
    let slow = key_refused().set_delay(Duration::from_millis(1000));
    let (llm, github) = (fake_llm(vec![slow]).await, fake_github().await);
    let app = agent_app_with(&llm, &github, pauses(Duration::from_secs(60), HOUR)).await;
    let id = app.task_id_of(&open_issue(&app, 9, "Crash").await).await;
    let (state, runner) = (app.state.clone(), runner_of(&app));
    let running = tokio::spawn(async move { runner::run_next(&state, &runner).await });
    for _ in 0..100 {
        if chat_requests(&llm).await.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Act
    let (status, cancelled) = app
        .post_api(&format!("/api/tasks/{id}/cancel"), &json!({}))
        .await;
    let ran = running.await.expect("join").expect("run");

    // Assert: the run ends as the task is, cancelled, not held.
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(
        ran,
        runner::Step::Ran {
            task_id: id.clone(),
            status: "cancelled".into()
        }
    );
    assert_eq!(app.task(&id).await["status"], "cancelled");
}

#[tokio::test]
async fn a_task_queued_during_a_pause_says_at_once_why_it_waits() {
    // Arrange: `planning`'s model is refused, and paused for a minute; `triage` runs.
    let (_llm, app, first, runner) = two_agents_one_model_refused(model_refused(400)).await;
    runner::drain(&app.state, &runner).await.expect("drain");
    let of = |tasks: &[Value], agent: &str| {
        tasks
            .iter()
            .find(|t| t["agent"] == agent)
            .cloned()
            .expect("a task of the agent")
    };
    let refused = of(&app.tasks(&format!("event_id={first}")).await, "planning");
    let refused = app.task(refused["id"].as_str().expect("id")).await;

    // Act: another issue is opened during the pause; nothing looks again before the test ends.
    let event = open_issue(&app, 8, "Hang").await;

    // Assert: its planning task, queued, says why it waits as the one refused does, listed
    // and read alone; its triage task waits for nothing.
    let tasks = app.tasks(&format!("event_id={event}")).await;
    let listed = of(&tasks, "planning");
    assert_eq!(listed["status"], "queued", "{listed}");
    assert!(
        listed["error"].as_str().is_some_and(|e| {
            e.starts_with("waiting, not failed") && e.contains("model `gone`")
        }),
        "{listed}"
    );
    let read = app.task(listed["id"].as_str().expect("id")).await;
    assert!(
        read["error"]
            .as_str()
            .is_some_and(|e| e.contains("Model not found")),
        "{read}"
    );
    assert_eq!(read["error"], refused["error"], "{read}\n{refused}");
    assert!(of(&tasks, "triage")["error"].is_null(), "{tasks:?}");
}

/// Runs the next task in the background until its call of the chat API is under way.
async fn run_in_background(
    app: &TestApp,
    llm: &MockServer,
) -> tokio::task::JoinHandle<anyhow::Result<runner::Step>> {
    let before = chat_requests(llm).await.len();
    let (state, runner) = (app.state.clone(), runner_of(app));
    let running = tokio::spawn(async move { runner::run_next(&state, &runner).await });
    for _ in 0..100 {
        if chat_requests(llm).await.len() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running
}

/// With another task's call of the chat API under way in the background, runs the next task,
/// `given_back`: asserts the key's refusal gave it back queued and paused the key. The call
/// under way and the runner.
async fn given_back_for_the_key_during_a_call(
    app: &TestApp,
    llm: &MockServer,
    given_back: &str,
) -> (
    tokio::task::JoinHandle<anyhow::Result<runner::Step>>,
    runner::Runner,
) {
    let under_way = run_in_background(app, llm).await;
    let runner = runner_of(app);
    assert_eq!(
        run_next(app, &runner).await,
        Some((given_back.to_string(), "queued".into()))
    );
    assert_eq!(paused(app).await, [(json!("key"), Value::Null)]);
    (under_way, runner)
}

/// A chat API answering `refusal` once to the requests `asked` matches, and any other well
/// after half a second.
async fn refusing_once(
    asked: impl wiremock::Match + 'static,
    refusal: ResponseTemplate,
) -> MockServer {
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHAT_PATH))
        .and(asked)
        .respond_with(refusal)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&llm)
        .await;
    Mock::given(method("POST"))
        .and(path(CHAT_PATH))
        .respond_with(llm_answer("Fine.").set_delay(Duration::from_millis(500)))
        .with_priority(2)
        .mount(&llm)
        .await;
    llm
}

#[tokio::test]
async fn a_task_given_back_due_at_its_pauses_end_runs_at_once_when_a_call_ends_the_pause_sooner() {
    // Arrange: the key is refused once, for one issue's request, while another task's call
    // is under way (slow); the pause is a minute.
    let llm = refusing_once(
        wiremock::matchers::body_string_contains("POISON"),
        key_refused(),
    )
    .await;
    let github = fake_github().await;
    let app = agent_app_with(&llm, &github, pauses(Duration::from_secs(60), HOUR)).await;
    let slow = app.task_id_of(&open_issue(&app, 1, "Hang").await).await;
    let refused = app.task_id_of(&open_issue(&app, 2, "POISON").await).await;
    let (under_way, runner) = given_back_for_the_key_during_a_call(&app, &llm, &refused).await;

    // Act: the call under way is answered (the key is taken: the pause ends).
    let answered = under_way.await.expect("join").expect("run");
    let next = run_next(&app, &runner).await;

    // Assert: the task given back runs now, not when the pause was to end.
    assert_eq!(
        answered,
        runner::Step::Ran {
            task_id: slow,
            status: "done".into()
        }
    );
    assert!(paused(&app).await.is_empty());
    assert_eq!(next, Some((refused.clone(), "done".into())));
    assert!(app.task(&refused).await["error"].is_null());
}

#[tokio::test]
async fn a_task_the_keys_pause_gave_back_runs_at_once_when_a_model_refused_shows_the_key_taken() {
    // Arrange: `triage`'s call (AI_MODEL) is refused for the key once, while `planning`'s
    // call of model `gone` is under way; that one is then refused for its model.
    let llm = refusing_once(
        body_partial_json(json!({"model": "fake-model"})),
        key_refused(),
    )
    .await;
    Mock::given(method("POST"))
        .and(path(CHAT_PATH))
        .and(body_partial_json(json!({"model": "gone"})))
        .respond_with(model_refused(400).set_delay(Duration::from_millis(500)))
        .with_priority(1)
        .mount(&llm)
        .await;
    let (app, event) = two_agents(&llm).await;
    let tasks = app.tasks(&format!("event_id={event}")).await;
    let id_of = |agent: &str| {
        tasks
            .iter()
            .find(|t| t["agent"] == agent)
            .and_then(|t| t["id"].as_str())
            .expect("a task of the agent")
            .to_string()
    };
    let (planning, triage) = (id_of("planning"), id_of("triage"));
    let (under_way, runner) = given_back_for_the_key_during_a_call(&app, &llm, &triage).await;

    // Act: the call under way is refused for its model: the key was taken, its pause ends.
    let refused = under_way.await.expect("join").expect("run");
    let next = run_next(&app, &runner).await;

    // Assert: the triage task runs now; planning's waits for its model.
    assert_eq!(
        refused,
        runner::Step::Ran {
            task_id: planning,
            status: "queued".into()
        }
    );
    assert_eq!(paused(&app).await, [(json!("model"), json!("gone"))]);
    assert_eq!(next, Some((triage, "done".into())));
}
