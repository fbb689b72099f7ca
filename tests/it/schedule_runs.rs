//! A scheduled command tried before its time: test_webhook with its `command_id` fires a tick
//! now, as a preview (stored as a `test`, nothing queued) or, with `run_actions`, for real,
//! sending what its tick would; the clock's own tick still fires after. What it cannot do is
//! refused over REST naming the field, and over MCP as a tool error.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use webhook_mcp::service::schedules::{Scheduler, Tick};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, assert_error, send_json, spawn_manual};
use crate::mcp::{call, connect, text};

/// A weekday report forwarded to the team's service, rendered from the tick.
fn weekday_report(upstream: &MockServer) -> Value {
    json!({"trigger": "schedule", "schedule": "0 9 * * 1-5", "timezone": "Europe/Berlin",
           "action": "forward", "target": {"url": format!("{}/reports", upstream.uri())},
           "template": "{\"report_due\": {{ scheduled_for | tojson }}, \"since\": {{ previous_scheduled_for | tojson }}}"})
}

async fn app_with_report(upstream: &MockServer) -> (TestApp, String) {
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", "s3cret").await;
    let added = app.add_command_ok("gh", weekday_report(upstream)).await;
    (app, added["id"].as_str().expect("id").to_string())
}

async fn test_webhook(app: &TestApp, body: Value) -> (StatusCode, Value) {
    send_json(app.api(Method::POST, "/api/webhooks/gh/test").json(&body)).await
}

async fn reports_service() -> MockServer {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/reports"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&upstream)
        .await;
    upstream
}

#[tokio::test]
async fn a_scheduled_command_is_previewed_then_run_now_and_its_clock_tick_still_fires() {
    // Arrange
    let upstream = reports_service().await;
    let (app, command_id) = app_with_report(&upstream).await;

    // Act: a preview, then a run now, then the clock's first tick after it.
    let before = webhook_mcp::clock::now_ms();
    let (status, preview) = test_webhook(&app, json!({"command_id": command_id})).await;
    let previewed_sends = app.drain().await;
    let (ran_status, ran) =
        test_webhook(&app, json!({"event_type": "schedule", "run_actions": true})).await;
    let sent = app.drain().await;
    let next_tick = webhook_mcp::clock::parse(
        app.get_json(&format!("/api/webhooks/gh/commands/{command_id}"))
            .await
            .1["next_run_at"]
            .as_str()
            .expect("next run"),
    )
    .expect("time");
    let ticks = Scheduler::default()
        .step(&app.state, next_tick + 1_000)
        .await
        .expect("step");

    // Assert: the preview renders the tick at this moment and sends nothing.
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(
        (&preview["event_type"], &preview["status"]),
        (&json!("schedule"), &json!("matched")),
        "{preview}"
    );
    assert_eq!(preview["matched"][0]["command_id"], json!(command_id));
    assert_eq!(preview["actions_queued"], false, "{preview}");
    let would_send: Value = serde_json::from_str(
        preview["matched"][0]["would_send"]
            .as_str()
            .expect("would_send"),
    )
    .expect("the rendered template is JSON");
    let due =
        webhook_mcp::clock::parse(would_send["report_due"].as_str().expect("due")).expect("time");
    assert!(
        due >= before && due <= webhook_mcp::clock::now_ms(),
        "{would_send}"
    );
    assert!(would_send["since"].is_string(), "{would_send}");
    assert_eq!(previewed_sends, 0);
    let preview_event = app
        .event(preview["event_id"].as_str().expect("event id"))
        .await;
    assert_eq!(preview_event["status"], "test", "{preview_event}");
    // The run now sent the report once, as the tick would.
    assert_eq!(ran_status, StatusCode::OK, "{ran}");
    assert_eq!(ran["actions_queued"], true, "{ran}");
    assert_eq!(ran["action_ids"].as_array().map(Vec::len), Some(1), "{ran}");
    assert_eq!(sent, 1);
    let requests = upstream.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1);
    let body: Value = serde_json::from_slice(&requests[0].body).expect("JSON");
    assert!(body["report_due"].is_string(), "{body}");
    // The clock's tick was not taken by the run now: it fires, once.
    assert!(
        matches!(ticks.as_slice(), [Tick::Fired { command_id: c, .. }] if *c == command_id),
        "{ticks:?}"
    );
}

#[tokio::test]
async fn what_a_tick_test_cannot_do_is_refused_naming_the_field() {
    // Arrange
    let upstream = reports_service().await;
    let (app, report) = app_with_report(&upstream).await;
    let on_events = app
        .add_command_ok(
            "gh",
            json!({"trigger": "issues.opened", "action": "comment", "template": "Thanks"}),
        )
        .await;
    let on_events = on_events["id"].as_str().expect("id").to_string();

    // Act
    let not_scheduled = test_webhook(&app, json!({"command_id": on_events})).await;
    let with_payload = test_webhook(
        &app,
        json!({"command_id": report, "payload": {"scheduled_for": "now"}}),
    )
    .await;
    let unknown = test_webhook(&app, json!({"command_id": "cmd_nope"})).await;
    let empty = test_webhook(&app, json!({"command_id": " "})).await;
    let (_, untemplated) = send_json(app.api(Method::POST, "/api/webhooks/gh/commands").json(
        &json!({"trigger": "schedule", "schedule": "0 9 * * *",
                          "action": "post_message",
                          "target": {"url": format!("{}/reports", upstream.uri())}}),
    ))
    .await;
    let other_type = test_webhook(
        &app,
        json!({"command_id": report, "event_type": "issues.opened"}),
    )
    .await;
    let mut evening = weekday_report(&upstream);
    evening["schedule"] = json!("0 18 * * 1-5");
    let second = app.add_command_ok("gh", evening).await;
    let which = test_webhook(&app, json!({"event_type": "schedule"})).await;
    let (status, disabled) = send_json(
        app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{report}"))
            .json(&json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{disabled}");
    let run_disabled = test_webhook(&app, json!({"command_id": report, "run_actions": true})).await;
    let preview_disabled = test_webhook(&app, json!({"command_id": report})).await;
    let sends = app.drain().await;
    // A disabled webhook fires none of its scheduled commands: none shows a next run, and one
    // added to it is told so.
    let (status, _) = send_json(
        app.api(Method::PUT, "/api/webhooks/gh")
            .json(&json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut later = weekday_report(&upstream);
    later["schedule"] = json!("0 12 * * 1-5");
    let on_disabled = app.add_command_ok("gh", later).await;
    let (_, listed) = app.get_json("/api/webhooks/gh/commands").await;

    // Assert
    assert_error(&not_scheduled, StatusCode::BAD_REQUEST, Some("command_id"));
    assert!(
        not_scheduled.1.to_string().contains("issues.opened"),
        "{}",
        not_scheduled.1
    );
    assert_error(&with_payload, StatusCode::BAD_REQUEST, Some("payload"));
    assert_error(&unknown, StatusCode::NOT_FOUND, None);
    assert_error(&empty, StatusCode::BAD_REQUEST, Some("command_id"));
    // A tick has no issue: the example a missing template is told with is a tick's.
    let said = untemplated.to_string();
    assert!(
        said.contains("scheduled_for_local") && !said.contains("issue.title"),
        "{said}"
    );
    assert_error(&other_type, StatusCode::BAD_REQUEST, Some("event_type"));
    assert_eq!(on_disabled["next_run_at"], Value::Null, "{on_disabled}");
    assert!(
        on_disabled["warnings"].to_string().contains("is disabled"),
        "{on_disabled}"
    );
    let next_runs: Vec<&Value> = listed["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .map(|c| &c["next_run_at"])
        .collect();
    assert!(next_runs.iter().all(|n| n.is_null()), "{listed}");
    assert_error(&which, StatusCode::BAD_REQUEST, Some("command_id"));
    let said = which.1.to_string();
    assert!(
        said.contains(&report) && said.contains(second["id"].as_str().expect("id")),
        "{said}"
    );
    assert_error(&run_disabled, StatusCode::BAD_REQUEST, Some("command_id"));
    assert!(
        run_disabled.1.to_string().contains("disabled"),
        "{}",
        run_disabled.1
    );
    assert_eq!(preview_disabled.0, StatusCode::OK, "{}", preview_disabled.1);
    assert_eq!(preview_disabled.1["actions_queued"], false);
    assert_eq!(sends, 0);
    assert_eq!(
        upstream.received_requests().await.expect("recorded").len(),
        0
    );
}

#[tokio::test]
async fn over_mcp_a_scheduled_command_says_when_it_fires_and_its_tick_is_previewed() {
    // Arrange
    let upstream = reports_service().await;
    let (app, _) = app_with_report(&upstream).await;
    let client = connect(&app).await;

    // Act
    let added = call(
        &client,
        "add_command",
        json!({"webhook_id": "gh", "trigger": "schedule", "schedule": "30 17 * * FRI",
               "action": "forward", "target": {"url": format!("{}/reports", upstream.uri())},
               "template": "Weekly summary due {{ scheduled_for_local }}"}),
    )
    .await;
    let command_id = added.structured_content.as_ref().expect("structured")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let tested = call(
        &client,
        "test_webhook",
        json!({"webhook_id": "gh", "command_id": command_id}),
    )
    .await;
    let refused = call(
        &client,
        "test_webhook",
        json!({"webhook_id": "gh", "event_type": "schedule"}),
    )
    .await;
    let disabled = call(
        &client,
        "update_command",
        json!({"webhook_id": "gh", "command_id": command_id, "enabled": false}),
    )
    .await;
    assert_eq!(disabled.is_error, Some(false), "{}", text(&disabled));
    let previewed_disabled = call(
        &client,
        "test_webhook",
        json!({"webhook_id": "gh", "command_id": command_id}),
    )
    .await;
    // A sender's own event that calls itself `schedule` is tested as a sender's event.
    let senders = call(
        &client,
        "test_webhook",
        json!({"webhook_id": "gh", "event_type": "schedule",
               "payload": "{\"action\": \"opened\", \"issue\": {\"number\": 1, \"title\": \"x\"}}"}),
    )
    .await;

    // Assert
    assert_eq!(added.is_error, Some(false), "{}", text(&added));
    assert!(
        text(&added).contains("It first fires at") && text(&added).contains("T17:30:00+00:00 UTC"),
        "{}",
        text(&added)
    );
    assert_eq!(tested.is_error, Some(false), "{}", text(&tested));
    let said = text(&tested);
    assert!(
        said.contains(&format!("A tick of scheduled command {command_id}"))
            && said.contains("nothing was sent or queued"),
        "{said}"
    );
    let structured = tested.structured_content.as_ref().expect("structured");
    assert!(
        structured["matched"][0]["would_send"]
            .as_str()
            .is_some_and(|s| s.starts_with("Weekly summary due 20")),
        "{structured}"
    );
    // Two scheduled commands now: which one is asked.
    assert_eq!(refused.is_error, Some(true), "{}", text(&refused));
    assert!(text(&refused).contains("command_id"), "{}", text(&refused));
    let said = text(&previewed_disabled);
    assert!(
        said.contains("the command is disabled") && !said.contains("run_actions: true runs it"),
        "{said}"
    );
    assert_eq!(senders.is_error, Some(false), "{}", text(&senders));
    assert!(!text(&senders).contains("A tick of"), "{}", text(&senders));
    client.cancel().await.ok();
}
