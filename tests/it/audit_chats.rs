//! The Open WebUI chat and message a change was asked for, in the audit log: with
//! `ENABLE_FORWARD_USER_INFO_HEADERS=true` Open WebUI sends `X-OpenWebUI-Chat-Id` and
//! `X-OpenWebUI-Message-Id` with every tool-server request of a chat turn, never signed.
//! Through the front door, over MCP and REST; and a database from before they were recorded.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::audit_users::{
    JWT_SECRET, connect_with, create_over_mcp, create_over_rest, entry_for, jane, token,
};
use crate::helpers::{API_KEY, spawn_app, spawn_app_with};
use crate::keys::{audit_entries, create_key};

/// The chat and message an entry names, as `GET /api/audit` shows them (a field left out is
/// not null: an entry shows both, null when unknown).
fn chat_of(entry: &Value) -> (Value, Value) {
    let field = |name| entry.get(name).cloned().unwrap_or(json!("(left out)"));
    (field("chat_id"), field("message_id"))
}

fn ids(chat: &str, message: &str) -> (Value, Value) {
    (json!(chat), json!(message))
}

#[tokio::test]
async fn a_change_records_the_chat_and_message_open_webui_forwards() {
    // Arrange
    let app = spawn_app().await;
    let client = connect_with(&app, API_KEY, &jane()).await;
    let (_, read_key) = create_key(&app, "chat-readers", "read").await;
    let reader = connect_with(&app, &read_key, &jane()).await;

    // Act
    create_over_mcp(&client, "gh-mcp-chat").await;
    create_over_rest(&app, "gh-rest-chat", &jane()).await;
    let refused = crate::mcp::call(&reader, "delete_webhook", json!({"webhook_id": "gh"})).await;

    // Assert: beside the user, over MCP, REST and a refused tool call alike.
    assert_eq!(refused.is_error, Some(true), "{refused:?}");
    for target in ["gh-mcp-chat", "gh-rest-chat"] {
        let entry = entry_for(&app, target).await;
        assert_eq!(chat_of(&entry), ids("chat-1", "msg-1"), "{entry}");
        assert_eq!(entry["user"]["id"], "0b7f-jane", "{entry}");
    }
    let refusals = audit_entries(&app, "actor=chat-readers").await;
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(chat_of(&refusals[0]), ids("chat-1", "msg-1"));
}

#[tokio::test]
async fn unusable_chat_headers_are_recorded_as_null_and_the_call_still_works() {
    // Arrange
    let app = spawn_app().await;
    let long = "c".repeat(201);
    let at_most = "c".repeat(200);
    // (webhook, chat id sent, message id sent, recorded)
    let cases = [
        ("gh-blank", "   ", "msg-2", (Value::Null, json!("msg-2"))),
        (
            "gh-long",
            long.as_str(),
            "msg-3",
            (Value::Null, json!("msg-3")),
        ),
        ("gh-tab", "chat-4", "msg\t4", (json!("chat-4"), Value::Null)),
        (
            "gh-c1",
            "chat\u{85}5",
            " msg-5 ",
            (Value::Null, json!("msg-5")),
        ),
        ("gh-200", at_most.as_str(), "msg-6", ids(&at_most, "msg-6")),
    ];

    for (id, chat, message, recorded) in cases {
        // Act
        let client = connect_with(
            &app,
            API_KEY,
            &[
                ("X-OpenWebUI-Chat-Id", chat),
                ("X-OpenWebUI-Message-Id", message),
            ],
        )
        .await;
        create_over_mcp(&client, id).await;

        // Assert: what cannot be recorded as sent is left out, the rest kept (trimmed).
        let entry = entry_for(&app, id).await;
        assert_eq!(chat_of(&entry), recorded, "{id}: {entry}");
        assert_eq!(entry["outcome"], "ok", "{id}: {entry}");
    }
    // Without the headers, both are null.
    let client = connect_with(&app, API_KEY, &[]).await;
    create_over_mcp(&client, "gh-none").await;
    let entry = entry_for(&app, "gh-none").await;
    assert_eq!(chat_of(&entry), (Value::Null, Value::Null), "{entry}");
}

#[tokio::test]
async fn with_the_jwt_secret_the_unsigned_chat_headers_are_recorded_all_the_same() {
    // Arrange
    let app = spawn_app_with(|c| c.openwebui_user_jwt_secret = Some(JWT_SECRET.into())).await;
    let signed = token(JWT_SECRET, "zoe", 300);
    let expired = token(JWT_SECRET, "zoe", -3600);
    let chat = [
        ("X-OpenWebUI-Chat-Id", "chat-7"),
        ("X-OpenWebUI-Message-Id", "msg-7"),
    ];
    fn with_token<'a>(chat: &[(&'a str, &'a str)], jwt: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut headers = chat.to_vec();
        headers.push(("X-OpenWebUI-User-Jwt", jwt));
        headers
    }
    let valid = connect_with(&app, API_KEY, &with_token(&chat, &signed)).await;
    let refused = connect_with(&app, API_KEY, &with_token(&chat, &expired)).await;

    // Act
    create_over_mcp(&valid, "gh-signed").await;
    create_over_mcp(&refused, "gh-expired").await;

    // Assert: the token names the user, or no one; the chat is the caller's word either way.
    let entry = entry_for(&app, "gh-signed").await;
    assert_eq!(entry["user"]["verified"], true, "{entry}");
    assert_eq!(chat_of(&entry), ids("chat-7", "msg-7"), "{entry}");
    let entry = entry_for(&app, "gh-expired").await;
    assert_eq!(entry["user"], Value::Null, "{entry}");
    assert_eq!(chat_of(&entry), ids("chat-7", "msg-7"), "{entry}");
}

#[tokio::test]
async fn the_audit_log_is_filtered_by_the_chat() {
    // Arrange
    let app = spawn_app().await;
    let chat = |id| [("X-OpenWebUI-Chat-Id", id), ("X-OpenWebUI-Message-Id", "m")];
    let in_one = connect_with(&app, API_KEY, &chat("chat-a")).await;
    let in_other = connect_with(&app, API_KEY, &chat("chat-b")).await;
    create_over_mcp(&in_one, "gh-a1").await;
    create_over_mcp(&in_other, "gh-b1").await;
    create_over_rest(&app, "gh-a2", &chat("chat-a")).await;
    create_over_rest(&app, "gh-nowhere", &[]).await;

    // Act
    let in_a = audit_entries(&app, "chat=chat-a").await;
    let in_b_by_key = audit_entries(&app, "chat=chat-b&actor=WEBHOOK_MCP_API_KEY").await;
    let in_b_by_other = audit_entries(&app, "chat=chat-b&actor=ops").await;
    let in_neither = audit_entries(&app, "chat=CHAT-A").await;
    let paged = audit_entries(&app, "chat=chat-a&limit=1").await;

    // Assert: exactly that chat's entries, newest first, with the other filters.
    let targets = |entries: &[Value]| -> Vec<String> {
        entries
            .iter()
            .map(|e| e["target"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(targets(&in_a), ["/api/webhooks/gh-a2", "gh-a1"]);
    assert_eq!(targets(&in_b_by_key), ["gh-b1"]);
    assert!(in_b_by_other.is_empty(), "{in_b_by_other:?}");
    assert!(in_neither.is_empty(), "{in_neither:?}");
    assert_eq!(targets(&paged), ["/api/webhooks/gh-a2"]);
}

/// A database as the build before chat ids were recorded left it: migrations 0001-0016 (the
/// shipped files, never edited), with one audit entry naming a user.
fn database_at_schema_16(path: &std::path::Path) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations folder")
        .map(|f| f.expect("entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.get(..4)
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n <= 16)
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 16, "{files:?}");
    let db = rusqlite::Connection::open(path).expect("create db file");
    for file in &files {
        let sql = std::fs::read_to_string(file).expect("migration");
        db.execute_batch(&sql).expect("old migration");
    }
    db.pragma_update(None, "user_version", 16)
        .expect("set user_version");
    db.execute(
        "INSERT INTO audit_log (at, actor, action, target, status, detail, outcome, user_id,
                                user_verified)
         VALUES (1, 'ops', 'mcp delete_webhook', 'gh-old', 200, '{}', 'ok', 'u-old', 0)",
        [],
    )
    .expect("old entry");
}

#[tokio::test]
async fn a_database_from_before_chats_were_recorded_opens_and_its_entries_name_none() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("old.db");
    database_at_schema_16(&path);

    // Act
    let app = spawn_app_with(|c| c.database = path.clone()).await;
    let client = connect_with(&app, API_KEY, &jane()).await;
    create_over_mcp(&client, "gh-new").await;
    let (status, body) = app.get_json("/api/audit?chat=chat-1").await;

    // Assert: the old entry as it was, its chat null; new entries record theirs.
    let old = entry_for(&app, "gh-old").await;
    assert_eq!(old["user"]["id"], "u-old", "{old}");
    assert_eq!(chat_of(&old), (Value::Null, Value::Null), "{old}");
    let new = entry_for(&app, "gh-new").await;
    assert_eq!(chat_of(&new), ids("chat-1", "msg-1"), "{new}");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entries"].as_array().map(Vec::len), Some(1), "{body}");
}
