//! For agent task tests: a fake OpenAI-compatible chat API that answers from a script, a fake
//! GitHub that records comments, and an app whose runner and outbox the test drives by hand.

use std::sync::Mutex;

use reqwest::StatusCode;
use serde_json::{Value, json};
use webhook_mcp::agents::runner::{self, Runner, Step};
use webhook_mcp::config::Config;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{TestApp, accepted, delivery_id, issue_comment, manual_outbox, spawn_app_with};

pub const GH_SECRET: &str = "gh-secret-for-tasks";
pub const CHAT_PATH: &str = "/api/chat/completions";
pub const PLANNING_TEMPLATE: &str = "Analyze issue: {{issue.title}}\n\n{{issue.body}}";

/// Answers in order; the last answer repeats.
struct Script(Mutex<Vec<ResponseTemplate>>);

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut answers = self.0.lock().expect("script lock");
        if answers.len() > 1 {
            answers.remove(0)
        } else {
            answers[0].clone()
        }
    }
}

/// A fake chat API at `{uri}/api/chat/completions` answering `answers` one after another.
pub async fn fake_llm(answers: Vec<ResponseTemplate>) -> MockServer {
    assert!(!answers.is_empty(), "a script needs an answer");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHAT_PATH))
        .respond_with(Script(Mutex::new(answers)))
        .mount(&server)
        .await;
    server
}

/// A final text answer in the OpenAI shape.
pub fn llm_answer(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}]
    }))
}

/// An answer that calls the `ask` tool with `question`.
pub fn llm_asks(question: &str) -> ResponseTemplate {
    let arguments = json!({ "question": question }).to_string();
    ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "c1", "type": "function",
                            "function": {"name": "ask", "arguments": arguments}}]},
                     "finish_reason": "tool_calls"}]
    }))
}

/// An answer that calls the tool `name` with `arguments`.
pub fn llm_calls(name: &str, arguments: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "c1", "type": "function",
                            "function": {"name": name, "arguments": arguments.to_string()}}]},
                     "finish_reason": "tool_calls"}]
    }))
}

/// A fake GitHub that accepts comments on any `octo/app` issue.
pub async fn fake_github() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/repos/octo/app/issues/\d+/comments$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .mount(&server)
        .await;
    server
}

/// Worker and runner off, the chat API and GitHub pointed at the fakes. Reusable on restart.
pub fn agent_config(llm: &MockServer, github: &MockServer) -> impl Fn(&mut Config) + Clone {
    let (llm, github) = (llm.uri(), github.uri());
    move |config: &mut Config| {
        manual_outbox(config);
        config.agents.runner = false;
        config.agents.openwebui_url = Some(llm.clone());
        config.agents.openwebui_api_key = Some("sk-test-key".into());
        config.agents.ai_model = Some("fake-model".into());
        config.upstreams.github_api_url = github.clone();
        config.upstreams.github_token = Some("ghp_test".into());
    }
}

/// An app on the fakes with webhook `gh` whose `issues.opened` makes a `planning` task.
pub async fn agent_app(llm: &MockServer, github: &MockServer) -> TestApp {
    agent_app_with(llm, github, |_| {}).await
}

/// [`agent_app`], its configuration adjusted further.
pub async fn agent_app_with(
    llm: &MockServer,
    github: &MockServer,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let agents = agent_config(llm, github);
    let app = spawn_app_with(move |config| {
        agents(config);
        adjust(config);
    })
    .await;
    app.github_webhook("gh", GH_SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning",
               "template": PLANNING_TEMPLATE}),
    )
    .await;
    app
}

/// The runner the app's configuration describes (it is not started by the app).
pub fn runner_of(app: &TestApp) -> Runner {
    Runner::from_config(&app.state.config)
        .expect("valid agent settings")
        .expect("a chat API is configured")
}

/// Runs the next runnable task; returns its id and the status it ended the run in.
pub async fn run_next(app: &TestApp, runner: &Runner) -> Option<(String, String)> {
    match runner::run_next(&app.state, runner)
        .await
        .expect("runner step")
    {
        Step::Ran { task_id, status } => Some((task_id, status)),
        Step::Idle => None,
    }
}

/// Signed GitHub `issues.opened` on `octo/app` issue `number` titled `title`; the event id.
pub async fn open_issue(app: &TestApp, number: u64, title: &str) -> String {
    let body = json!({
        "action": "opened",
        "issue": {"number": number, "title": title, "body": "Login fails after the update",
                  "labels": [], "user": {"login": "octocat"}},
        "repository": {"full_name": "octo/app", "name": "app"},
        "sender": {"login": "octocat"},
    });
    post_gh(app, "issues", &body.to_string()).await
}

/// A signed GitHub delivery to webhook `gh`; the event id.
pub async fn post_gh(app: &TestApp, event: &str, body: &str) -> String {
    accepted(
        app.post_github("gh", event, &delivery_id(), body, GH_SECRET)
            .await,
    )
    .await
}

impl TestApp {
    /// `GET /api/tasks/{id}`; panics unless 200.
    pub async fn task(&self, id: &str) -> Value {
        let (status, json) = self.get_json(&format!("/api/tasks/{id}")).await;
        assert_eq!(status, StatusCode::OK, "GET task {id}: {json}");
        json
    }

    /// The tasks of `GET /api/tasks?{query}`; panics unless 200.
    pub async fn tasks(&self, query: &str) -> Vec<Value> {
        let (status, json) = self.get_json(&format!("/api/tasks?{query}")).await;
        assert_eq!(status, StatusCode::OK, "GET tasks?{query}: {json}");
        json["tasks"].as_array().expect("tasks array").clone()
    }

    /// The id of the one task the event made.
    pub async fn task_id_of(&self, event_id: &str) -> String {
        let tasks = self.tasks(&format!("event_id={event_id}")).await;
        assert_eq!(tasks.len(), 1, "one task for {event_id}: {tasks:?}");
        tasks[0]["id"].as_str().expect("task id").to_string()
    }
}

/// The requests the fake chat API received, in order.
pub async fn chat_requests(llm: &MockServer) -> Vec<Request> {
    llm.received_requests()
        .await
        .expect("requests are recorded")
        .into_iter()
        .filter(|r| r.url.path() == CHAT_PATH)
        .collect()
}

/// Where a chat request's `messages` break the order some chat APIs hold to (Mistral's API,
/// Mistral's and Gemma's chat templates): a `user` message straight after a `tool` one, or two
/// `user`, or two `assistant` messages that only speak, in a row. Empty when none does.
pub fn turns_out_of_order(messages: &[Value]) -> Vec<String> {
    let speaks = |m: &Value| m["tool_calls"].is_null();
    messages
        .windows(2)
        .filter(|w| {
            let (a, b) = (&w[0], &w[1]);
            let after_tool_or_user = a["role"] == "tool" || a["role"] == "user";
            (after_tool_or_user && b["role"] == "user")
                || (a["role"] == "assistant" && b["role"] == "assistant" && speaks(a) && speaks(b))
        })
        .map(|w| format!("{} then {}", w[0]["role"], w[1]["role"]))
        .collect()
}

/// The bodies of the comments the fake GitHub received on `octo/app` issue `number`.
pub async fn comments_on(github: &MockServer, number: u64) -> Vec<String> {
    let at = format!("/repos/octo/app/issues/{number}/comments");
    github
        .received_requests()
        .await
        .expect("requests are recorded")
        .into_iter()
        .filter(|r| r.url.path() == at)
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("JSON comment");
            body["body"].as_str().expect("comment body").to_string()
        })
        .collect()
}

/// The content of every message with `role` in a chat request body.
pub fn contents(body: &Value, role: &str) -> Vec<String> {
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == role)
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect()
}

/// Writes a task's lease end straight into the database (the API allows no lease under 10 s).
pub fn set_lease_until(app: &TestApp, task_id: &str, lease_until_ms: i64) {
    let db = rusqlite::Connection::open(&app.db_path).expect("open the database");
    let n = db
        .execute(
            "UPDATE tasks SET lease_until = ?2 WHERE id = ?1",
            rusqlite::params![task_id, lease_until_ms],
        )
        .expect("update the lease");
    assert_eq!(n, 1, "task {task_id} exists");
}

/// Opens `octo/app` issue `number` titled `title` and runs its task, whose model asks: the
/// question goes out, the task's wait for a reply times out, and bob's reply `Version 2.1`
/// comes after. The event's id, the task's id and how its run ended.
pub async fn question_timed_out(
    app: &TestApp,
    runner: &Runner,
    number: u64,
    title: &str,
) -> (String, String, Option<(String, String)>) {
    let event_id = open_issue(app, number, title).await;
    let task_id = app.task_id_of(&event_id).await;
    let ran = run_next(app, runner).await;
    assert_eq!(app.drain().await, 1, "the question went out");
    let now = webhook_mcp::clock::now_ms();
    app.state
        .store
        .write(move |db| webhook_mcp::store::tasks::expire_waiting(db, now + 1_000, now))
        .await
        .expect("expire");
    let late = issue_comment(number, title, "bob", "Version 2.1");
    post_gh(app, "issue_comment", &late).await;
    (event_id, task_id, ran)
}
