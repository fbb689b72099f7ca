//! A `create_task` command's own `target`: the channel its task's result is posted to, in
//! place of where the agent's declaration sends it. A chat user sets it per command (no
//! server configuration), so a Sentry alert's analysis or a scheduled report reaches the
//! team's channel. It is held to what a channel takes, and sealed and masked as a
//! post_message's is.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use webhook_mcp::config::Config;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    GH_SECRET, TestApp, agent_config, assert_error, chat_requests, comments_on, fake_github,
    fake_llm, llm_answer, open_issue, run_next, runner_of, send_json, spawn_app_with, text_cells,
};
use crate::mcp::{call, connect, text};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// The channel webhook's token: a credential, never shown nor stored plain.
const TOKEN: &str = "chanTok3nSecret";
const CHANNEL: &str = "/api/v1/channels/webhooks/ch1/chanTok3nSecret";

/// An Open WebUI channel webhook that takes every message.
async fn fake_channel() -> MockServer {
    let channel = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHANNEL))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "m1"})))
        .mount(&channel)
        .await;
    channel
}

/// The texts the channel received, in order.
async fn posted(channel: &MockServer) -> Vec<String> {
    channel
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("JSON");
            body["content"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

/// The fakes a test runs on: a chat API answering `answer`, GitHub, and the team's channel.
struct Fakes {
    llm: MockServer,
    github: MockServer,
    channel: MockServer,
}

impl Fakes {
    async fn answering(answer: &str) -> Fakes {
        Fakes {
            llm: fake_llm(vec![llm_answer(answer)]).await,
            github: fake_github().await,
            channel: fake_channel().await,
        }
    }

    /// An app on them with a triage command whose results go to the channel.
    async fn with_triage(&self) -> (TestApp, Value) {
        let app = app_on(&self.llm, &self.github).await;
        let (status, added) = add(&app, &triage_to(&self.channel)).await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        (app, added)
    }
}

async fn app_on(llm: &MockServer, github: &MockServer) -> TestApp {
    let agents = agent_config(llm, github);
    let app = spawn_app_with(move |config: &mut Config| {
        agents(config);
        config.secret_key = Some(KEY.into());
    })
    .await;
    app.github_webhook("gh", GH_SECRET).await;
    app
}

fn triage_to(channel: &MockServer) -> Value {
    json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning",
           "template": "Triage this issue",
           "target": {"url": format!("{}{CHANNEL}", channel.uri())}})
}

async fn add(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    send_json(
        app.api(Method::POST, "/api/webhooks/gh/commands")
            .json(body),
    )
    .await
}

#[tokio::test]
async fn a_tasks_result_goes_to_its_commands_channel_and_not_on_the_issue() {
    // Arrange
    let fakes = Fakes::answering("Looks like a duplicate of #7.").await;
    let (llm, github, channel) = (&fakes.llm, &fakes.github, &fakes.channel);
    let (app, added) = fakes.with_triage().await;

    // Act
    open_issue(&app, 42, "Login broken").await;
    let ran = run_next(&app, &runner_of(&app)).await;
    let sent = app.drain().await;

    // Assert: posted to the channel, with the agent's heading; nothing on the issue.
    assert_eq!(ran.map(|(_, s)| s).as_deref(), Some("done"));
    assert_eq!(sent, 1);
    let texts = posted(channel).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].contains("Looks like a duplicate of #7.") && texts[0].contains("AI analysis"),
        "{texts:?}"
    );
    assert_eq!(comments_on(github, 42).await, Vec::<String>::new());
    // The model was told where its answer goes, and in the channel's markup.
    let asked: Value =
        serde_json::from_slice(&chat_requests(llm).await[0].body).expect("JSON request");
    let system = asked["messages"][0]["content"].as_str().unwrap_or_default();
    assert!(system.contains("Your final answer goes to"), "{system}");
    // Its URL is a credential: masked when shown, sealed at rest.
    assert!(!added.to_string().contains(TOKEN), "{added}");
    let plain: Vec<_> = text_cells(&app.db_path)
        .into_iter()
        .filter(|(_, text)| text.contains(TOKEN))
        .collect();
    assert_eq!(plain, Vec::<(String, String)>::new());
}

#[tokio::test]
async fn a_scheduled_report_with_a_channel_is_posted_there_and_warned_of_no_more() {
    // Arrange
    let fakes = Fakes::answering("3 issues opened, 2 closed.").await;
    let (llm, github, channel) = (&fakes.llm, &fakes.github, &fakes.channel);
    let app = app_on(llm, github).await;
    let mut report = json!({"trigger": "schedule", "schedule": "0 9 * * 1-5",
        "action": "create_task", "agent": "planning",
        "template": "Summarise the issues opened since {{ previous_scheduled_for }}"});
    let (_, without) = add(&app, &report).await;
    report["target"] = json!({"url": format!("{}{CHANNEL}", channel.uri())});
    report["schedule"] = json!("0 17 * * 1-5");
    let (status, with) = add(&app, &report).await;
    assert_eq!(status, StatusCode::CREATED, "{with}");

    // Act: run now, as its tick would.
    let (status, ran) = send_json(
        app.api(Method::POST, "/api/webhooks/gh/test")
            .json(&json!({"command_id": with["id"], "run_actions": true})),
    )
    .await;
    let task = run_next(&app, &runner_of(&app)).await;
    app.drain().await;

    // Assert: only the one without a channel is warned its result stays on the task.
    assert!(
        without["warnings"]
            .to_string()
            .contains("kept on the task only"),
        "{without}"
    );
    assert!(
        !with["warnings"]
            .to_string()
            .contains("kept on the task only"),
        "{with}"
    );
    assert_eq!(status, StatusCode::OK, "{ran}");
    assert_eq!(task.map(|(_, s)| s).as_deref(), Some("done"));
    let texts = posted(channel).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("3 issues opened, 2 closed."), "{texts:?}");
}

#[tokio::test]
async fn a_create_task_target_takes_what_a_channel_takes_over_rest_and_mcp() {
    // Arrange
    let fakes = Fakes::answering("ok").await;
    let (llm, github, channel) = (&fakes.llm, &fakes.github, &fakes.channel);
    let app = app_on(llm, github).await;
    let url = format!("{}{CHANNEL}", channel.uri());
    let with_target = |target: Value| {
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning",
               "template": "Triage", "target": target})
    };

    // Act
    let signed = add(
        &app,
        &with_target(json!({"url": url, "secret": "whsec_abc"})),
    )
    .await;
    let headed = add(
        &app,
        &with_target(json!({"url": url, "headers": {"Authorization": "Bearer x"}})),
    )
    .await;
    let telegram = add(
        &app,
        &with_target(json!({"url": "https://api.telegram.org/botTOKEN/sendMessage"})),
    )
    .await;
    let client = connect(&app).await;
    let over_mcp = call(
        &client,
        "add_command",
        json!({"webhook_id": "gh", "trigger": "issues.closed", "action": "create_task",
               "agent": "planning", "template": "Summarise", "target": {"url": url}}),
    )
    .await;
    let command_id = over_mcp.structured_content.clone().expect("structured")["id"].clone();
    let cleared = call(
        &client,
        "update_command",
        json!({"webhook_id": "gh", "command_id": command_id, "target": {}}),
    )
    .await;
    // `{}` is how a target is removed: the schema a strict client checks takes it.
    let tools = client.list_all_tools().await.expect("tools");
    let update = tools
        .iter()
        .find(|t| t.name == "update_command")
        .expect("update_command");
    let target_schema =
        Value::Object((*update.input_schema).clone())["properties"]["target"].clone();
    client.cancel().await.ok();

    // Assert
    assert_eq!(cleared.is_error, Some(false), "{}", text(&cleared));
    let after = cleared.structured_content.clone().expect("structured");
    assert!(after.get("target").is_none(), "{after}");
    assert!(target_schema.get("required").is_none(), "{target_schema}");
    assert_error(&signed, StatusCode::BAD_REQUEST, Some("target.secret"));
    assert_error(&headed, StatusCode::BAD_REQUEST, Some("target.headers"));
    assert_error(&telegram, StatusCode::BAD_REQUEST, Some("target.chat_id"));
    assert_eq!(over_mcp.is_error, Some(false), "{}", text(&over_mcp));
    let shown = over_mcp.structured_content.clone().expect("structured");
    assert!(
        shown["target"]["url"]
            .as_str()
            .is_some_and(|u| u.contains("/channels/webhooks/ch1/") && !u.contains(TOKEN)),
        "{shown}"
    );
}

#[tokio::test]
async fn an_external_agents_posted_result_goes_to_the_commands_channel_too() {
    // Arrange: the built-in runner is off; an agent of its own completes the task.
    let fakes = Fakes::answering("unused").await;
    let (github, channel) = (&fakes.github, &fakes.channel);
    let (app, _) = fakes.with_triage().await;
    let event_id = open_issue(&app, 43, "Crash on start").await;
    let task_id = app.task_id_of(&event_id).await;
    // It says where its result goes, the channel's key masked.
    let shown = app.task(&task_id).await;
    let channel_shown = shown["result_channel"].as_str().unwrap_or_default();
    assert!(
        channel_shown.starts_with("openwebui http://127.0.0.1:")
            && channel_shown.contains("/channels/webhooks/ch1/")
            && !channel_shown.contains(TOKEN),
        "{shown}"
    );

    // Act
    let (status, done) = app
        .post_api(
            &format!("/api/tasks/{task_id}/complete"),
            &json!({"result": "Fixed by reverting 1.2", "post_result": true,
                    "owner": "triage-bot"}),
        )
        .await;
    let sent = app.drain().await;

    // Assert: in the channel, as given; nothing on the issue.
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["posted"]["action"], "post_message", "{done}");
    assert_eq!(sent, 1);
    let texts = posted(channel).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts, ["Fixed by reverting 1.2"]);
    assert_eq!(comments_on(github, 43).await, Vec::<String>::new());
}

#[tokio::test]
async fn over_mcp_a_completed_tasks_result_is_said_to_go_to_the_channel_and_a_refused_one_is_foretold()
 {
    // Arrange
    let fakes = Fakes::answering("unused").await;
    let (llm, github) = (&fakes.llm, &fakes.github);
    let (app, _) = fakes.with_triage().await;
    let event_id = open_issue(&app, 44, "Slow start").await;
    let task_id = app.task_id_of(&event_id).await;

    // Act: an agent of its own completes it; then the channel's host is no longer allowed.
    let client = connect(&app).await;
    let completed = call(
        &client,
        "complete_task",
        json!({"task_id": task_id, "result": "Cache cold", "post_result": true,
               "owner": "triage-bot"}),
    )
    .await;
    client.cancel().await.ok();
    let agents = agent_config(llm, github);
    let app = app
        .restart_with(move |config| {
            agents(config);
            config.secret_key = Some(KEY.into());
            config.allowed_target_hosts = Vec::new();
            // This process sends, so what its sender would refuse is foretold.
            config.worker = true;
        })
        .await;
    let issue = json!({"action": "opened", "issue": {"number": 45, "title": "x", "body": "",
        "labels": [], "user": {"login": "octocat"}},
        "repository": {"full_name": "octo/app", "name": "app"}, "sender": {"login": "octocat"}});
    let (status, tested) = app
        .post_api("/api/webhooks/gh/test", &json!({"payload": issue}))
        .await;

    // Assert
    assert_eq!(completed.is_error, Some(false), "{}", text(&completed));
    assert!(
        text(&completed).contains("posted to the command's channel"),
        "{}",
        text(&completed)
    );
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert!(
        tested["matched"][0]["would_fail"]
            .as_str()
            .is_some_and(|w| w.starts_with("its result could not be posted to its channel")),
        "{tested}"
    );
}
