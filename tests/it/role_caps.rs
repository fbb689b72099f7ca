//! `WEBHOOK_MCP_OPENWEBUI_WRITE_ROLES`: Open WebUI connects every chat user with one key, so
//! the user's role (as Open WebUI forwards it) decides whether a request may change anything.
//! Through the front door, over MCP and REST.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::audit_users::{connect_with, jane};
use crate::helpers::{API_KEY, TestApp, send_json, spawn_app_with};
use crate::keys::audit_entries;
use crate::mcp::{call, text};

/// An Open WebUI admin, as its forwarded headers name them.
fn admin() -> Vec<(&'static str, &'static str)> {
    vec![
        ("X-OpenWebUI-User-Id", "u-admin"),
        ("X-OpenWebUI-User-Name", "Ada"),
        ("X-OpenWebUI-User-Role", "admin"),
    ]
}

async fn capped_app() -> TestApp {
    spawn_app_with(|c| c.openwebui_write_roles = vec!["admin".into()]).await
}

async fn create_over_rest(
    app: &TestApp,
    id: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, serde_json::Value) {
    let mut request = app
        .api(Method::POST, "/api/webhooks")
        .json(&json!({"id": id, "name": id, "provider": "github"}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send_json(request).await
}

#[tokio::test]
async fn a_chat_user_whose_role_may_not_write_only_reads_through_the_admin_key() {
    // Arrange
    let app = capped_app().await;
    let user = connect_with(&app, API_KEY, &jane()).await;
    let boss = connect_with(&app, API_KEY, &admin()).await;

    // Act
    let refused = call(
        &user,
        "create_webhook",
        json!({"id": "by-user", "name": "u", "provider": "github"}),
    )
    .await;
    let listed = call(&user, "list_webhooks", json!({})).await;
    let made = call(
        &boss,
        "create_webhook",
        json!({"id": "by-admin", "name": "a", "provider": "github"}),
    )
    .await;
    let (rest_refused, refusal) = create_over_rest(&app, "rest-user", &jane()).await;
    let (rest_read, _) = send_json(
        app.api(Method::GET, "/api/webhooks")
            .header("X-OpenWebUI-User-Id", "0b7f-jane")
            .header("X-OpenWebUI-User-Role", "user"),
    )
    .await;
    let (no_user, _) = create_over_rest(&app, "by-key", &[]).await;
    let (_, read_key) = crate::keys::create_key(&app, "dashboard", "read").await;
    let (_, by_read_key) = send_json(
        app.client
            .post(app.url("/api/webhooks"))
            .bearer_auth(&read_key)
            .header("X-OpenWebUI-User-Id", "0b7f-jane")
            .header("X-OpenWebUI-User-Role", "user")
            .json(&json!({"id": "r", "name": "r", "provider": "github"})),
    )
    .await;
    let (_, on_keys) = send_json(
        app.api(Method::GET, "/api/keys")
            .header("X-OpenWebUI-User-Id", "0b7f-jane")
            .header("X-OpenWebUI-User-Role", "user"),
    )
    .await;

    // Assert: the user's change is refused, saying why, as a tool error the model can act on
    // and as a 403; reads work; an admin, and the key used with no user, change as before.
    assert_eq!(refused.is_error, Some(true), "{}", text(&refused));
    let said = text(&refused);
    assert!(said.contains("WEBHOOK_MCP_OPENWEBUI_WRITE_ROLES"), "{said}");
    assert!(said.contains("role is `user`"), "{said}");
    assert_eq!(listed.is_error, Some(false), "{}", text(&listed));
    assert_eq!(made.is_error, Some(false), "{}", text(&made));
    assert_eq!(rest_refused, StatusCode::FORBIDDEN, "{refusal}");
    assert!(refusal.to_string().contains("role is `user`"), "{refusal}");
    assert_eq!(rest_read, StatusCode::OK);
    // A read key is refused as the key it is; the admin key on key management, for the role.
    assert!(
        by_read_key
            .to_string()
            .contains("this API key is read-only"),
        "{by_read_key}"
    );
    assert!(
        on_keys.to_string().contains("admin key only, and")
            && on_keys.to_string().contains("role is `user`"),
        "{on_keys}"
    );
    assert_eq!(no_user, StatusCode::CREATED);
    let (_, hooks) = app.get_json("/api/webhooks").await;
    let ids: Vec<&str> = hooks["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .filter_map(|w| w["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"by-admin") && ids.contains(&"by-key"),
        "{ids:?}"
    );
    assert!(
        !ids.contains(&"by-user") && !ids.contains(&"rest-user"),
        "{ids:?}"
    );
    let entries = audit_entries(&app, "user=0b7f-jane").await;
    let entry = entries
        .iter()
        .find(|e| e["action"] == "mcp create_webhook")
        .unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(entry["status"], 403, "{entry}");
    assert!(
        entry["outcome"]
            .as_str()
            .unwrap_or_default()
            .contains("role is `user`"),
        "{entry}"
    );
    user.cancel().await.ok();
    boss.cancel().await.ok();
}

/// The names `tools/list` offers this client.
async fn offered(client: &crate::mcp::Client) -> Vec<String> {
    let tools = client.list_all_tools().await.expect("tools/list");
    tools.into_iter().map(|t| t.name.to_string()).collect()
}

fn only_reads(names: &[String]) -> bool {
    names
        .iter()
        .all(|n| n.starts_with("list_") || n.starts_with("get_"))
}

#[tokio::test]
async fn a_chat_user_whose_role_may_not_write_is_offered_only_the_tools_that_read() {
    // Arrange: Open WebUI lists the tools for each chat turn, with the user's headers.
    let app = capped_app().await;
    let user = connect_with(&app, API_KEY, &jane()).await;
    let boss = connect_with(&app, API_KEY, &admin()).await;
    let no_one = connect_with(&app, API_KEY, &[]).await;

    // Act
    let for_user = offered(&user).await;
    let for_admin = offered(&boss).await;
    let for_key = offered(&no_one).await;
    // A client may call a tool it was not offered.
    let refused = call(&user, "delete_webhook", json!({"webhook_id": "gh"})).await;

    // Assert: the capped user's model is offered no tool it would be refused; the admin and
    // the key used with no user, every tool.
    assert!(only_reads(&for_user), "{for_user:?}");
    assert!(
        for_user.iter().any(|n| n == "list_webhooks"),
        "{for_user:?}"
    );
    for names in [&for_admin, &for_key] {
        assert!(names.iter().any(|n| n == "create_webhook"), "{names:?}");
        assert!(names.iter().any(|n| n == "delete_webhook"), "{names:?}");
    }
    assert_eq!(for_admin.len(), for_key.len());
    assert!(for_user.len() < for_admin.len());
    assert_eq!(refused.is_error, Some(true), "{}", text(&refused));
    assert!(
        text(&refused).contains("role is `user`"),
        "{}",
        text(&refused)
    );
    user.cancel().await.ok();
    boss.cancel().await.ok();
    no_one.cancel().await.ok();
}

#[tokio::test]
async fn without_write_roles_a_chat_users_role_caps_nothing() {
    // Arrange
    let app = spawn_app_with(|_| {}).await;

    // Act
    let (status, body) = create_over_rest(&app, "by-user", &jane()).await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn with_signed_tokens_a_user_that_does_not_check_out_may_not_write_either() {
    // Arrange: Open WebUI signs its users; an admin's token, and the same expired (as a chat
    // turn longer than the token's life sends it on its later calls).
    use crate::audit_users::{JWT_SECRET, token};
    let app = spawn_app_with(|c| {
        c.openwebui_write_roles = vec!["admin".into()];
        c.openwebui_user_jwt_secret = Some(JWT_SECRET.into());
    })
    .await;
    let valid = token(JWT_SECRET, "u-admin", 300);
    let expired = token(JWT_SECRET, "u-admin", -600);

    // Act
    let (fresh, fresh_body) =
        create_over_rest(&app, "fresh", &[("X-OpenWebUI-User-Jwt", valid.as_str())]).await;
    let (stale, stale_body) =
        create_over_rest(&app, "stale", &[("X-OpenWebUI-User-Jwt", expired.as_str())]).await;
    // Plain headers claiming admin are ignored in this mode, and name someone all the same.
    let (plain, plain_body) = create_over_rest(&app, "plain", &admin()).await;

    // Assert: only the token that checks out writes; the others are read-only, not the key's.
    assert_eq!(fresh, StatusCode::CREATED, "{fresh_body}");
    assert_eq!(stale, StatusCode::FORBIDDEN, "{stale_body}");
    assert!(
        stale_body.to_string().contains("role is `(unknown)`"),
        "{stale_body}"
    );
    assert_eq!(plain, StatusCode::FORBIDDEN, "{plain_body}");
}

#[tokio::test]
async fn a_user_whose_token_does_not_check_out_is_told_why_not_asked_to_find_an_admin() {
    // Arrange: an admin's chat turn outlasted the token Open WebUI signed for it; another
    // server signs with a secret that is not ours.
    use crate::audit_users::{JWT_SECRET, token};
    let app = spawn_app_with(|c| {
        c.openwebui_write_roles = vec!["admin".into()];
        c.openwebui_user_jwt_secret = Some(JWT_SECRET.into());
    })
    .await;
    let expired = token(JWT_SECRET, "u-admin", -600);
    let forged = token("not-the-secret-shared-with-us-0123", "u-admin", 300);
    let stale = connect_with(&app, API_KEY, &[("X-OpenWebUI-User-Jwt", expired.as_str())]).await;

    // Act
    let refused = call(
        &stale,
        "create_webhook",
        json!({"id": "late", "name": "late", "provider": "github"}),
    )
    .await;
    let (status, body) =
        create_over_rest(&app, "forged", &[("X-OpenWebUI-User-Jwt", forged.as_str())]).await;

    // Assert: each says what to mend, and where.
    let said = text(&refused);
    assert_eq!(refused.is_error, Some(true), "{said}");
    assert!(
        (said.contains("expired 600 s ago") || said.contains("expired 601 s ago"))
            && said.contains("raise that in Open WebUI")
            && said.contains("FORWARD_USER_INFO_HEADER_JWT_EXPIRES_SECONDS")
            && !said.contains("ask an admin"),
        "{said}"
    );
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let said = body.to_string();
    assert!(
        said.contains("signed with another secret")
            && said.contains("FORWARD_USER_INFO_HEADER_JWT_SECRET"),
        "{said}"
    );
    stale.cancel().await.ok();
}
