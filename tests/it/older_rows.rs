//! Rows an older build stored with less masked than this one masks (an audit detail's channel
//! URL, an action's channel target, an event's credential headers) are shown as a new row
//! would be: masking happens when they are read too, not only when they are written.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, accepted, delivery_id, issue_opened, spawn_manual};

const GH_SECRET: &str = "gh-secret-for-older-rows";

/// A statement run straight on the app's database file, as an older build would have written.
fn write_old_row(app: &TestApp, sql: &str, params: impl rusqlite::Params) {
    let db = rusqlite::Connection::open(&app.db_path).expect("open the database");
    let changed = db.execute(sql, params).expect("write the old row");
    assert_eq!(changed, 1, "{sql}");
}

#[tokio::test]
async fn an_audit_entry_stored_with_a_channel_url_plain_is_shown_masked() {
    // Arrange: an entry as builds before the audit masked `url` fields wrote it, its reason
    // quoting the URL as serde does.
    let app = spawn_manual(|_| {}).await;
    let detail = json!({"action": "post_message", "template": "hi", "target": {
        "url": "https://hooks.slack.com/services/T0/B0/OLDSLACKSECRET", "kind": "slack"}});
    write_old_row(
        &app,
        "INSERT INTO audit_log (at, actor, action, target, status, detail, outcome) \
         VALUES (1, 'admin', 'POST /api/webhooks/gh/commands', '/api/webhooks/gh/commands', \
         400, ?1, ?2)",
        rusqlite::params![
            detail.to_string(),
            "error: invalid value: \"https://hooks.slack.com/services/T0/B0/OLDSLACKSECRET\"",
        ],
    );

    // Act
    let (status, page) = app.get_json("/api/audit").await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{page}");
    let entry = &page["entries"][0];
    assert_eq!(
        entry["detail"]["target"]["url"], "https://hooks.slack.com/services/T0/B0/***",
        "{entry}"
    );
    assert!(!page.to_string().contains("OLDSLACKSECRET"), "{page}");
}

#[tokio::test]
async fn an_action_target_stored_with_a_channel_token_in_view_is_shown_masked() {
    // Arrange: a Discord message whose target a build before token-like segments were masked
    // described (only the last segment hidden).
    let app = spawn_manual(|_| {}).await;
    let (status, queued) = app
        .post_api(
            "/api/messages",
            &json!({"url": "https://discord.com/api/webhooks/123/AbCdEfGh1234567890xyz/slack",
                    "kind": "discord", "text": "hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let id = queued["id"].as_str().expect("action id");
    write_old_row(
        &app,
        "UPDATE outbox SET target = ?2 WHERE id = ?1",
        [
            id,
            "discord https://discord.com/api/webhooks/123/AbCdEfGh1234567890xyz/***",
        ],
    );

    // Act
    let (status, action) = app.get_json(&format!("/api/actions/{id}")).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{action}");
    assert_eq!(
        action["target"], "discord https://discord.com/api/webhooks/123/***/***",
        "{action}"
    );
}

#[tokio::test]
async fn event_headers_stored_with_credentials_are_shown_without_them() {
    // Arrange: an event whose headers a build with narrower header rules kept.
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", GH_SECRET).await;
    let body = issue_opened("octo/app", 3, &[]);
    let event_id = accepted(
        app.post_github("gh", "issues", &delivery_id(), &body, GH_SECRET)
            .await,
    )
    .await;
    let headers = json!({
        "x-github-event": "issues",
        "x-session-id": "OLDSESSION",
        "x_api_key": "OLDAPIKEY",
        "referer": "https://ci.example/x?token=OLDURLTOKEN",
    });
    write_old_row(
        &app,
        "UPDATE events SET headers = ?2 WHERE id = ?1",
        [event_id.as_str(), &headers.to_string()],
    );

    // Act
    let event = app.event(&event_id).await;

    // Assert: named like a credential: left out; a URL's token: masked; the rest kept.
    assert_eq!(
        event["headers"],
        json!({"x-github-event": "issues", "referer": "https://ci.example/x?token=********"}),
        "{event}"
    );
}
