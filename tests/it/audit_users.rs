//! The Open WebUI user a change was made for, in the audit log: Open WebUI calls with one key
//! per connection, whoever chats, and forwards who the user is in headers (plain, or one
//! signed token when it has a secret for them). Through the front door, over REST and MCP.

use std::collections::HashMap;

use jsonwebtoken::{EncodingKey, Header};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::helpers::{API_KEY, TestApp, send_json, spawn_app, spawn_app_with};
use crate::keys::{audit_entries, create_key};

pub(crate) type Client = RunningService<RoleClient, ()>;

pub(crate) const JWT_SECRET: &str = "shared-with-open-webui-0123456789";

/// The plain headers Open WebUI sends with `ENABLE_FORWARD_USER_INFO_HEADERS=true`: the name
/// percent-encoded with spaces kept, as its `quote(name, safe=" ")` writes it.
pub(crate) fn jane() -> Vec<(&'static str, &'static str)> {
    vec![
        ("X-OpenWebUI-User-Id", "0b7f-jane"),
        ("X-OpenWebUI-User-Name", "Jane Do%C3%A9 %2B co"),
        ("X-OpenWebUI-User-Email", "jane@example.com"),
        ("X-OpenWebUI-User-Role", "user"),
        ("X-OpenWebUI-Chat-Id", "chat-1"),
        ("X-OpenWebUI-Message-Id", "msg-1"),
    ]
}

fn with_headers(mut request: RequestBuilder, headers: &[(&str, &str)]) -> RequestBuilder {
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

/// Creates a webhook over REST with these extra headers; the answer must be 201.
pub(crate) async fn create_over_rest(app: &TestApp, id: &str, headers: &[(&str, &str)]) {
    let request = app
        .api(Method::POST, "/api/webhooks")
        .json(&json!({"id": id, "name": id, "provider": "github"}));
    let (status, body) = send_json(with_headers(request, headers)).await;
    assert_eq!(status, StatusCode::CREATED, "create {id}: {body}");
}

pub(crate) async fn connect_with(app: &TestApp, key: &str, headers: &[(&str, &str)]) -> Client {
    let custom: HashMap<_, _> = headers
        .iter()
        .map(|(name, value)| {
            (
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                // As bytes: a test sends the non-ASCII text a real client may (`from_str`
                // takes ASCII only).
                HeaderValue::from_bytes(value.as_bytes()).expect("header value"),
            )
        })
        .collect();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(app.url("/mcp"))
            .auth_header(key)
            .custom_headers(custom),
    );
    ().serve(transport).await.expect("MCP client connects")
}

pub(crate) async fn create_over_mcp(client: &Client, id: &str) {
    let created = client
        .call_tool(
            CallToolRequestParams::new("create_webhook").with_arguments(
                json!({"id": id, "name": id, "provider": "github"})
                    .as_object()
                    .cloned()
                    .expect("object"),
            ),
        )
        .await
        .expect("create_webhook");
    assert_eq!(created.is_error, Some(false), "{created:?}");
}

/// The audit entry of the webhook `id`'s creation (over MCP the target is its id, over REST
/// its path).
pub(crate) async fn entry_for(app: &TestApp, id: &str) -> Value {
    let entries = audit_entries(app, "").await;
    entries
        .into_iter()
        .find(|e| e["target"] == id || e["target"] == format!("/api/webhooks/{id}"))
        .unwrap_or_else(|| panic!("an audit entry for {id}"))
}

/// A token as Open WebUI 0.12.4 mints it: HS256, the user's id as `sub`, and a five-minute
/// expiry.
pub(crate) fn token(secret: &str, id: &str, expires_in_secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let claims = json!({
        "sub": id, "email": format!("{id}@example.com"), "name": "Zoë Admin", "role": "admin",
        "iss": "open-webui", "iat": now, "exp": now + expires_in_secs,
    });
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("an HMAC key"),
    )
    .expect("token")
}

fn jane_recorded() -> Value {
    json!({"id": "0b7f-jane", "name": "Jane Doé + co", "email": "jane@example.com",
           "role": "user", "verified": false})
}

#[tokio::test]
async fn a_rest_change_names_the_open_webui_user_its_headers_forward_unverified() {
    // Arrange
    let app = spawn_app().await;

    // Act
    create_over_rest(&app, "gh-jane", &jane()).await;

    // Assert: the key and the user, the name decoded; the headers are the caller's word.
    let entry = entry_for(&app, "gh-jane").await;
    assert_eq!(entry["actor"], "WEBHOOK_MCP_API_KEY", "{entry}");
    assert_eq!(entry["user"], jane_recorded(), "{entry}");
}

#[tokio::test]
async fn an_mcp_tool_call_names_the_open_webui_user_its_headers_forward() {
    // Arrange
    let app = spawn_app().await;
    let client = connect_with(&app, API_KEY, &jane()).await;

    // Act
    create_over_mcp(&client, "gh-mcp-jane").await;

    // Assert
    let entry = entry_for(&app, "gh-mcp-jane").await;
    assert_eq!(entry["action"], "mcp create_webhook", "{entry}");
    assert_eq!(entry["user"], jane_recorded(), "{entry}");
}

#[tokio::test]
async fn a_tool_call_refused_to_a_read_key_names_the_user_too() {
    // Arrange
    let app = spawn_app().await;
    let (_, read_key) = create_key(&app, "chat-readers", "read").await;
    let client = connect_with(&app, &read_key, &jane()).await;

    // Act
    let refused = client
        .call_tool(
            CallToolRequestParams::new("delete_webhook").with_arguments(
                json!({"webhook_id": "gh"})
                    .as_object()
                    .cloned()
                    .expect("object"),
            ),
        )
        .await
        .expect("answered");

    // Assert
    assert_eq!(refused.is_error, Some(true), "{refused:?}");
    let entries = audit_entries(&app, "actor=chat-readers").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["status"], 403, "{entries:?}");
    assert_eq!(entries[0]["user"], jane_recorded(), "{entries:?}");
}

#[tokio::test]
async fn a_change_without_the_headers_names_no_user() {
    // Arrange
    let app = spawn_app().await;
    let client = connect_with(&app, API_KEY, &[]).await;

    // Act
    create_over_rest(&app, "gh-plain", &[]).await;
    create_over_mcp(&client, "gh-mcp-plain").await;

    // Assert: recorded as before, the user null.
    for target in ["gh-plain", "gh-mcp-plain"] {
        let entry = entry_for(&app, target).await;
        assert_eq!(entry.get("user"), Some(&Value::Null), "{entry}");
    }
}

#[tokio::test]
async fn hostile_user_headers_break_neither_the_request_nor_the_audit_log() {
    // Arrange
    let app = spawn_app().await;
    let long = "x".repeat(5000);
    let hostile = [
        ("X-OpenWebUI-User-Id", "u-7"),
        // A line break once decoded, and bytes that are no UTF-8.
        ("X-OpenWebUI-User-Name", "Eve%0AAdmin"),
        ("X-OpenWebUI-User-Role", "%FF%FE"),
        ("X-OpenWebUI-User-Email", long.as_str()),
    ];
    let long_id = [("X-OpenWebUI-User-Id", long.as_str())];

    // Act
    create_over_rest(&app, "gh-hostile", &hostile).await;
    create_over_rest(&app, "gh-long-id", &long_id).await;

    // Assert: what cannot be recorded as sent is left out, the rest kept; an id that cannot
    // be kept names no one.
    let entry = entry_for(&app, "gh-hostile").await;
    assert_eq!(
        entry["user"],
        json!({"id": "u-7", "name": null, "email": null, "role": "%FF%FE", "verified": false}),
        "{entry}"
    );
    let entry = entry_for(&app, "gh-long-id").await;
    assert_eq!(entry.get("user"), Some(&Value::Null), "{entry}");
}

#[tokio::test]
async fn the_audit_log_is_filtered_by_the_users_id_or_email() {
    // Arrange
    let app = spawn_app().await;
    let bob = [
        ("X-OpenWebUI-User-Id", "b0b"),
        ("X-OpenWebUI-User-Email", "bob@example.com"),
    ];
    create_over_rest(&app, "gh-jane", &jane()).await;
    create_over_rest(&app, "gh-bob", &bob).await;
    create_over_rest(&app, "gh-nobody", &[]).await;

    // Act
    let by_id = audit_entries(&app, "user=0b7f-jane").await;
    let by_email = audit_entries(&app, "user=bob%40example.com").await;
    let by_neither = audit_entries(&app, "user=BOB%40example.com").await;

    // Assert: exactly the id or the email.
    let targets = |entries: &[Value]| -> Vec<String> {
        entries
            .iter()
            .map(|e| e["target"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(targets(&by_id), ["/api/webhooks/gh-jane"]);
    assert_eq!(targets(&by_email), ["/api/webhooks/gh-bob"]);
    assert!(by_neither.is_empty(), "{by_neither:?}");
}

#[tokio::test]
async fn a_users_entries_come_once_each_newest_first_a_page_at_a_time() {
    // Arrange: a user whose id is their email address (one entry matches both ways) changes
    // three webhooks, two from one chat; someone else changes one in between.
    let app = spawn_app().await;
    let same = |chat: &'static str| {
        vec![
            ("X-OpenWebUI-User-Id", "sam@example.com"),
            ("X-OpenWebUI-User-Email", "sam@example.com"),
            ("X-OpenWebUI-Chat-Id", chat),
        ]
    };
    create_over_rest(&app, "gh-1", &same("chat-a")).await;
    create_over_rest(&app, "gh-jane", &jane()).await;
    create_over_rest(&app, "gh-2", &same("chat-b")).await;
    create_over_rest(&app, "gh-3", &same("chat-a")).await;

    // Act
    let user = "user=sam%40example.com";
    let (status, first) = app.get_json(&format!("/api/audit?{user}&limit=2")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = app
        .get_json(&format!("/api/audit?{user}&limit=2&cursor={cursor}"))
        .await;
    let in_chat = audit_entries(&app, &format!("{user}&chat=chat-a")).await;

    // Assert
    let targets = |entries: &Value| -> Vec<String> {
        entries
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["target"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        targets(&first["entries"]),
        ["/api/webhooks/gh-3", "/api/webhooks/gh-2"]
    );
    assert_eq!(targets(&second["entries"]), ["/api/webhooks/gh-1"]);
    assert_eq!(second["next_cursor"], Value::Null, "{second}");
    assert_eq!(
        targets(&Value::Array(in_chat)),
        ["/api/webhooks/gh-3", "/api/webhooks/gh-1"]
    );
}

#[tokio::test]
async fn with_the_jwt_secret_only_a_valid_token_names_the_user_and_plain_headers_are_ignored() {
    // Arrange
    let app = spawn_app_with(|c| c.openwebui_user_jwt_secret = Some(JWT_SECRET.into())).await;
    let signed = token(JWT_SECRET, "zoe", 300);
    let mut forged = jane();
    forged.push(("X-OpenWebUI-User-Jwt", signed.as_str()));
    let client = connect_with(&app, API_KEY, &[("X-OpenWebUI-User-Jwt", signed.as_str())]).await;

    // Act
    create_over_rest(&app, "gh-signed", &forged).await;
    create_over_rest(&app, "gh-forged", &jane()).await;
    create_over_mcp(&client, "gh-mcp-signed").await;

    // Assert: the token's user, verified, whatever the plain headers say; without a token,
    // no one.
    let zoe = json!({"id": "zoe", "name": "Zoë Admin", "email": "zoe@example.com",
                     "role": "admin", "verified": true});
    for target in ["gh-signed", "gh-mcp-signed"] {
        assert_eq!(entry_for(&app, target).await["user"], zoe, "{target}");
    }
    let forged = entry_for(&app, "gh-forged").await;
    assert_eq!(forged.get("user"), Some(&Value::Null), "{forged}");
}

#[tokio::test]
async fn with_the_jwt_secret_a_bad_token_names_no_one_and_the_call_still_works() {
    // Arrange
    let app = spawn_app_with(|c| c.openwebui_user_jwt_secret = Some(JWT_SECRET.into())).await;
    let wrong_secret = token("not-the-secret", "mallory", 300);
    let expired = token(JWT_SECRET, "zoe", -3600);
    // Open WebUI's own check (PyJWT) allows no leeway past `exp`: neither does ours.
    let just_expired = token(JWT_SECRET, "zoe", -30);
    let bad = [
        ("gh-wrong-secret", wrong_secret.as_str()),
        ("gh-expired", expired.as_str()),
        ("gh-just-expired", just_expired.as_str()),
        ("gh-garbage", "not.a.token"),
    ];
    let client = connect_with(&app, API_KEY, &[("X-OpenWebUI-User-Jwt", expired.as_str())]).await;

    // Act: each change is made (201) all the same.
    for (id, jwt) in bad {
        create_over_rest(&app, id, &[("X-OpenWebUI-User-Jwt", jwt)]).await;
    }
    create_over_mcp(&client, "gh-mcp-expired").await;

    // Assert
    for target in [
        "gh-wrong-secret",
        "gh-expired",
        "gh-just-expired",
        "gh-garbage",
        "gh-mcp-expired",
    ] {
        let entry = entry_for(&app, target).await;
        assert_eq!(entry.get("user"), Some(&Value::Null), "{entry}");
        assert_eq!(entry["outcome"], "ok", "{entry}");
    }
}
