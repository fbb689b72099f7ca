//! The `from_bot` condition: a command that answers people keeps still for another app's bot,
//! so two bots in one channel cannot answer each other without end; and a `from_bot` that is
//! not a boolean is refused when the command is saved.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{accepted, assert_error, send_json, spawn_manual};

/// A new top-level message in `#eng`, as Slack delivers it to app `A1`; `by` names who
/// posted it (a person's `user`, or another app's `bot_id`, `app_id` and bot user).
fn slack_message(ts: &str, by: Value) -> String {
    let mut event = json!({"type": "message", "channel": "C0ENG", "channel_type": "channel",
                           "ts": ts, "event_ts": ts, "text": "@agent what broke the deploy?"});
    for (k, v) in by.as_object().expect("sender fields") {
        event[k] = v.clone();
    }
    json!({"type": "event_callback", "team_id": "T1", "api_app_id": "A1",
           "event_id": format!("Ev{}", uuid::Uuid::new_v4().simple()), "event": event,
           "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": true}]})
    .to_string()
}

#[tokio::test]
async fn a_command_for_people_plans_nothing_for_another_apps_bot_and_answers_a_person() {
    // Arrange: a Slack webhook whose command answers messages from people only.
    let app = spawn_manual(|_| {}).await;
    app.slack_webhook("sl").await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "message", "action": "respond", "template": "Looking: {{event.text}}",
               "conditions": {"from_bot": false}}),
    )
    .await;
    let other_bot = json!({"user": "U0OTHERBOT", "bot_id": "B0OTHER", "app_id": "A0OTHER",
                           "bot_profile": {"id": "B0OTHER", "name": "Other AI"}});
    let person = json!({"user": "U1"});

    // Act
    let by_bot = accepted(
        app.post_slack(
            "sl",
            &slack_message("1700000000.000100", other_bot),
            "slack-signing",
        )
        .await,
    )
    .await;
    let by_person = accepted(
        app.post_slack(
            "sl",
            &slack_message("1700000000.000200", person),
            "slack-signing",
        )
        .await,
    )
    .await;

    // Assert
    let by_bot = app.event(&by_bot).await;
    assert_eq!(by_bot["status"], "accepted", "{by_bot}");
    assert_eq!(by_bot["matched_commands"], json!([]), "{by_bot}");
    assert_eq!(by_bot["actions"], json!([]), "{by_bot}");
    let by_person = app.event(&by_person).await;
    assert_eq!(by_person["status"], "matched", "{by_person}");
    assert_eq!(
        by_person["actions"].as_array().map(Vec::len),
        Some(1),
        "{by_person}"
    );
}

#[tokio::test]
async fn a_from_bot_that_is_not_true_or_false_is_refused_naming_it_and_a_boolean_is_saved() {
    // Arrange
    let app = spawn_manual(|_| {}).await;
    app.slack_webhook("sl").await;
    let add = |conditions: Value| {
        send_json(app.api(Method::POST, "/api/webhooks/sl/commands").json(
            &json!({"trigger": "message", "action": "respond", "template": "Hi",
                              "conditions": conditions}),
        ))
    };

    // Act
    let text = add(json!({"from_bot": "false"})).await;
    let nested = add(json!({"all": [{"channel": "C0ENG"}, {"from_bot": 0}]})).await;
    let boolean = add(json!({"all": [{"channel": "C0ENG"}, {"from_bot": false}]})).await;

    // Assert
    assert_error(&text, StatusCode::BAD_REQUEST, Some("conditions.from_bot"));
    let message = text.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("expected true or false"), "{}", text.1);
    assert_error(
        &nested,
        StatusCode::BAD_REQUEST,
        Some("conditions.all[1].from_bot"),
    );
    assert_eq!(boolean.0, StatusCode::CREATED, "{}", boolean.1);
    assert_eq!(
        boolean.1["conditions"],
        json!({"all": [{"channel": "C0ENG"}, {"from_bot": false}]})
    );
}
