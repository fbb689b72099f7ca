//! Slack's legacy verification `token` (in the Events API envelope, a slash command's form,
//! an interaction's `payload`): a credential of the user's Slack app that this service never
//! needs, so it is not kept with the event, shown to a model or a person, or forwarded.

use reqwest::StatusCode;
use rmcp::model::ReadResourceRequestParams;
use serde_json::{Value, json};
use wiremock::MockServer;

use crate::helpers::{
    TestApp, accepted, agent_config, chat_requests, fake_github, fake_llm, llm_answer, read_json,
    run_next, runner_of, spawn_app_with, spawn_manual,
};
use crate::mcp::{call, connect, text};

const TOKEN: &str = "legacy-verification-tok-7f3a";
const MARKER: &str = "[redacted]";

/// An Events API delivery of an `app_mention`, carrying the app's verification token.
fn app_mention(event_id: &str) -> String {
    json!({"token": TOKEN, "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
           "event_id": event_id, "event_time": 1_700_000_000,
           "event": {"type": "app_mention", "user": "U1", "text": "<@U0> deploy",
                     "ts": "1700000000.000100", "channel": "C1"}})
    .to_string()
}

/// A `/deploy prod` slash command's form fields, as Slack sends them.
fn slash_command() -> Vec<(&'static str, &'static str)> {
    vec![
        ("token", TOKEN),
        ("team_id", "T1"),
        ("channel_id", "C1"),
        ("user_id", "U1"),
        ("command", "/deploy"),
        ("text", "prod"),
        ("response_url", "https://hooks.slack.com/commands/T1/1/abc"),
        ("trigger_id", "trig-slash-1"),
    ]
}

/// A button click's interactivity `payload`.
fn block_actions() -> String {
    json!({"type": "block_actions", "token": TOKEN, "trigger_id": "trig-click-1",
           "user": {"id": "U1"}, "team": {"id": "T1"}, "channel": {"id": "C1"},
           "container": {"type": "message", "channel_id": "C1", "message_ts": "1700000000.000100"},
           "actions": [{"action_id": "approve", "value": "yes"}],
           "response_url": "https://hooks.slack.com/actions/T1/1/xyz"})
    .to_string()
}

/// A Slack app with a manual outbox that may forward to `target`, and webhook `sl` forwarding
/// what `trigger` matches there.
async fn forwarding_app(target: &MockServer, trigger: &str) -> TestApp {
    let address = target.address().to_string();
    let app = spawn_manual(|c| c.allowed_target_hosts.push(address)).await;
    app.slack_webhook("sl").await;
    app.add_command_ok(
        "sl",
        json!({"trigger": trigger, "action": "forward",
               "target": {"url": format!("{}/in", target.uri())}}),
    )
    .await;
    app
}

/// Everything a model reads about the event over MCP: `get_event`, `list_events` and the
/// event's resource.
async fn what_the_model_sees(app: &TestApp, event_id: &str) -> String {
    let client = connect(app).await;
    let got = call(&client, "get_event", json!({"event_id": event_id})).await;
    assert_eq!(got.is_error, Some(false), "{}", text(&got));
    assert!(text(&got).contains(MARKER), "{}", text(&got));
    let listed = call(&client, "list_events", json!({"webhook_id": "sl"})).await;
    let resource = client
        .read_resource(ReadResourceRequestParams::new(format!(
            "event://{event_id}"
        )))
        .await
        .expect("read event resource");
    client.cancel().await.ok();
    format!(
        "{}\n{:?}\n{}\n{:?}\n{resource:?}",
        text(&got),
        got.structured_content,
        text(&listed),
        listed.structured_content
    )
}

/// The one body the forward target received.
async fn forwarded_body(app: &TestApp, target: &MockServer) -> String {
    assert_eq!(app.drain().await, 1, "one forward sent");
    let requests = target.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1, "{requests:?}");
    String::from_utf8(requests[0].body.clone()).expect("UTF-8 body")
}

fn assert_no_token(what: &str, text: &str) {
    assert!(!text.contains(TOKEN), "the token leaked in {what}: {text}");
}

#[tokio::test]
async fn a_slack_events_api_token_is_not_kept_shown_or_forwarded() {
    // Arrange
    let target = MockServer::start().await;
    let app = forwarding_app(&target, "app_mention").await;
    let body = app_mention("Ev-token-1");

    // Act
    let event_id = accepted(app.post_slack("sl", &body, "slack-signing").await).await;
    let (_, again) = read_json(app.post_slack("sl", &body, "slack-signing").await).await;

    // Assert: the event is described and deduplicated as before, its token a marker.
    assert_eq!(again["status"], "duplicate", "{again}");
    assert_eq!(again["event_id"], event_id.as_str());
    let event = app.event(&event_id).await;
    assert_eq!(event["event_type"], "app_mention");
    assert_eq!(event["delivery_id"], "Ev-token-1");
    assert_eq!(event["payload"]["token"], MARKER, "{event}");
    assert_eq!(event["payload"]["event"]["text"], "<@U0> deploy");
    assert_no_token("the REST event", &event.to_string());
    assert_no_token("MCP", &what_the_model_sees(&app, &event_id).await);
    let forwarded = forwarded_body(&app, &target).await;
    assert_no_token("the forward", &forwarded);
    let forwarded: Value = serde_json::from_str(&forwarded).expect("still JSON");
    let mut want: Value = serde_json::from_str(&body).expect("json");
    want["token"] = json!(MARKER);
    assert_eq!(forwarded, want, "only the token differs");
}

#[tokio::test]
async fn a_replayed_slack_event_is_planned_from_its_kept_body_without_the_token() {
    // Arrange: the event comes before the command that forwards it.
    let target = MockServer::start().await;
    let address = target.address().to_string();
    let app = spawn_manual(|c| c.allowed_target_hosts.push(address)).await;
    app.slack_webhook("sl").await;
    let event_id = accepted(
        app.post_slack("sl", &app_mention("Ev-replayed"), "slack-signing")
            .await,
    )
    .await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "app_mention", "action": "forward",
               "target": {"url": format!("{}/in", target.uri())}}),
    )
    .await;

    // Act
    let (status, report) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["results"][0]["result"], "queued", "{report}");
    let forwarded = forwarded_body(&app, &target).await;
    assert_no_token("the replayed forward", &forwarded);
    let forwarded: Value = serde_json::from_str(&forwarded).expect("still JSON");
    assert_eq!(forwarded["token"], MARKER);
    assert_eq!(forwarded["event_id"], "Ev-replayed");
}

#[tokio::test]
async fn a_slash_commands_token_is_not_kept_shown_or_forwarded_and_its_form_stays_a_form() {
    // Arrange
    let target = MockServer::start().await;
    let app = forwarding_app(&target, "/deploy").await;

    // Act
    let event_id = accepted(
        app.post_slack_form("sl", &slash_command(), "slack-signing")
            .await,
    )
    .await;

    // Assert
    let event = app.event(&event_id).await;
    assert_eq!(event["event_type"], "/deploy");
    assert_eq!(event["delivery_id"], "trig-slash-1");
    assert_eq!(event["payload"]["token"], MARKER, "{event}");
    assert_eq!(event["payload"]["text"], "prod");
    assert_no_token("the REST event", &event.to_string());
    assert_no_token("MCP", &what_the_model_sees(&app, &event_id).await);
    let forwarded = forwarded_body(&app, &target).await;
    assert_no_token("the forward", &forwarded);
    let fields: Vec<(String, String)> = form_urlencoded::parse(forwarded.as_bytes())
        .into_owned()
        .collect();
    let mut want: Vec<(String, String)> = slash_command()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want[0].1 = MARKER.to_string();
    assert_eq!(fields, want, "the same form, only the token differs");
}

#[tokio::test]
async fn an_interactions_token_is_not_kept_shown_or_forwarded() {
    // Arrange
    let target = MockServer::start().await;
    let app = forwarding_app(&target, "block_actions").await;
    let payload = block_actions();

    // Act
    let event_id = accepted(
        app.post_slack_form("sl", &[("payload", payload.as_str())], "slack-signing")
            .await,
    )
    .await;

    // Assert
    let event = app.event(&event_id).await;
    assert_eq!(event["event_type"], "block_actions");
    assert_eq!(event["delivery_id"], "trig-click-1");
    assert_eq!(event["payload"]["token"], MARKER, "{event}");
    assert_eq!(event["payload"]["actions"][0]["value"], "yes");
    assert_no_token("the REST event", &event.to_string());
    assert_no_token("MCP", &what_the_model_sees(&app, &event_id).await);
    let forwarded = forwarded_body(&app, &target).await;
    assert_no_token("the forward", &forwarded);
    let fields: Vec<(String, String)> = form_urlencoded::parse(forwarded.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert_eq!(fields[0].0, "payload");
    let forwarded: Value = serde_json::from_str(&fields[0].1).expect("payload still JSON");
    let mut want: Value = serde_json::from_str(&payload).expect("json");
    want["token"] = json!(MARKER);
    assert_eq!(forwarded, want, "only the token differs");
}

#[tokio::test]
async fn a_rejected_slack_requests_token_is_not_kept_or_shown() {
    // Arrange
    let app = spawn_manual(|_| {}).await;
    app.slack_webhook("sl").await;

    // Act
    let (status, answer) = read_json(
        app.post_slack("sl", &app_mention("Ev-forged"), "wrong-secret")
            .await,
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let events = app.events("webhook_id=sl").await;
    assert_eq!(events.len(), 1, "the attempt is logged: {events:?}");
    assert_eq!(events[0]["status"], "rejected");
    let event_id = events[0]["id"].as_str().expect("event id").to_string();
    let event = app.event(&event_id).await;
    assert_eq!(event["payload"]["token"], MARKER, "{event}");
    assert_no_token("the REST event", &event.to_string());
    assert_no_token("MCP", &what_the_model_sees(&app, &event_id).await);
}

#[tokio::test]
async fn an_agent_never_sees_a_slash_commands_token() {
    // Arrange: a task whose prompt quotes the command's fields, `token` among them.
    let llm = fake_llm(vec![llm_answer("done")]).await;
    let github = fake_github().await;
    let app = spawn_app_with(agent_config(&llm, &github)).await;
    app.slack_webhook("sl").await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "/deploy", "action": "create_task", "agent": "planning",
               "template": "Deploy {{ text }} (token {{ token }}): {{ payload | tojson }}"}),
    )
    .await;
    let event_id = accepted(
        app.post_slack_form("sl", &slash_command(), "slack-signing")
            .await,
    )
    .await;

    // Act
    let runner = runner_of(&app);
    let ran = run_next(&app, &runner).await;

    // Assert
    assert!(ran.is_some(), "the task ran");
    let task = app.task(&app.task_id_of(&event_id).await).await;
    let prompt = task["prompt"].as_str().expect("prompt");
    assert!(prompt.contains(&format!("token {MARKER}")), "{prompt}");
    assert_no_token("the task", &task.to_string());
    let asked = chat_requests(&llm).await;
    assert!(!asked.is_empty(), "the model was asked");
    for request in asked {
        assert_no_token("the chat request", &String::from_utf8_lossy(&request.body));
    }
}
