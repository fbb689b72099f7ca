//! Named, scoped API keys (create, list, revoke; read-only keys over REST and MCP) and the
//! audit log of management changes, through the front door.

use reqwest::{Method, StatusCode};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::helpers::{API_KEY, TestApp, assert_error, send_json, spawn_app, spawn_app_with};

type Client = RunningService<RoleClient, ()>;

/// Creates a key with the test (configured) key; returns its id and the key.
pub(crate) async fn create_key(app: &TestApp, name: &str, scope: &str) -> (String, String) {
    let (status, body) = send_json(
        app.api(Method::POST, "/api/keys")
            .json(&json!({"name": name, "scope": scope})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "create key {name}: {body}");
    (
        body["id"].as_str().expect("key id").to_string(),
        body["key"]
            .as_str()
            .expect("the key, shown once")
            .to_string(),
    )
}

/// A request to the API with `key` instead of the test key.
async fn with_key(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    send_json(request).await
}

pub(crate) async fn connect(app: &TestApp, key: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")).auth_header(key),
    );
    ().serve(transport).await.expect("MCP client connects")
}

fn tool_call(tool: &str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().cloned().expect("object arguments"))
}

/// Every entry of the audit log (newest first), read with the test key.
pub(crate) async fn audit_entries(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app.get_json(&format!("/api/audit?{query}")).await;
    assert_eq!(status, StatusCode::OK, "GET /api/audit: {body}");
    body["entries"].as_array().expect("entries array").clone()
}

#[tokio::test]
async fn a_created_key_is_shown_once_and_listed_without_its_secret() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, created) = send_json(
        app.api(Method::POST, "/api/keys")
            .json(&json!({"name": "grafana", "scope": "read"})),
    )
    .await;
    let (list_status, list) = app.get_json("/api/keys").await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().expect("key");
    assert!(key.starts_with("whk_") && key.len() > 40, "{key}");
    assert_eq!(created["name"], "grafana");
    assert_eq!(created["scope"], "read");
    assert_eq!(created["created_by"], "WEBHOOK_MCP_API_KEY");
    assert_eq!(list_status, StatusCode::OK, "{list}");
    let listed = listed_key(&list, created["id"].as_str().expect("id"));
    assert_eq!(listed["name"], "grafana");
    assert_eq!(listed["scope"], "read");
    assert!(listed["created_at"].is_string());
    assert_eq!(listed["revoked_at"], Value::Null);
    assert!(listed.get("key").is_none() && listed.get("hash").is_none());
    assert!(!list.to_string().contains(key), "the key leaked: {list}");
    assert_eq!(list["environment_key"], true);
}

#[tokio::test]
async fn one_key_is_read_by_its_id_as_listed_revoked_too_and_a_missing_one_is_a_404() {
    // Arrange
    let app = spawn_app().await;
    let (id, key) = create_key(&app, "grafana", "read").await;
    let (_, list) = app.get_json("/api/keys").await;
    let listed = listed_key(&list, &id);

    // Act
    let (status, one) = app.get_json(&format!("/api/keys/{id}")).await;
    let revoked = app
        .api(Method::DELETE, &format!("/api/keys/{id}"))
        .send()
        .await
        .expect("DELETE key");
    let (after_status, after) = app.get_json(&format!("/api/keys/{id}")).await;
    let missing = send_json(app.api(Method::GET, "/api/keys/key_missing")).await;
    let with_query = send_json(app.api(Method::GET, &format!("/api/keys/{id}?scope=read"))).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one, listed);
    assert!(!one.to_string().contains(&key), "the key leaked: {one}");
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(after_status, StatusCode::OK, "{after}");
    assert!(after["revoked_at"].is_string(), "{after}");
    assert_error(&missing, StatusCode::NOT_FOUND, None);
    assert_eq!(missing.1["error"]["code"], "key_not_found", "{}", missing.1);
    assert_error(&with_query, StatusCode::BAD_REQUEST, None);
}

#[tokio::test]
async fn a_webhook_names_the_key_that_created_it_and_no_maker_can_be_claimed() {
    // Arrange
    let app = spawn_app().await;
    let (_, ops) = create_key(&app, "ops", "admin").await;
    let (_, agent) = create_key(&app, "agent", "admin").await;
    let client = connect(&app, &agent).await;

    // Act: over REST with a stored key, over REST claiming a maker, over MCP.
    let by_ops = with_key(
        &app,
        &ops,
        Method::POST,
        "/api/webhooks",
        Some(json!({"id": "a", "name": "A", "provider": "github"})),
    )
    .await;
    let claimed = with_key(
        &app,
        &ops,
        Method::POST,
        "/api/webhooks",
        Some(json!({"id": "b", "name": "B", "provider": "github", "created_by": "someone"})),
    )
    .await;
    let by_agent = client
        .call_tool(tool_call(
            "create_webhook",
            json!({"id": "c", "name": "C", "provider": "github"}),
        ))
        .await
        .expect("create_webhook");

    // Assert
    assert_eq!(by_ops.0, StatusCode::CREATED, "{}", by_ops.1);
    assert_eq!(by_ops.1["created_by"], "ops");
    assert_error(&claimed, StatusCode::BAD_REQUEST, Some("created_by"));
    assert_eq!(claimed.1["error"]["code"], "unknown_field");
    let (status, _) = app.get_json("/api/webhooks/b").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was created");
    assert_ne!(by_agent.is_error, Some(true), "{by_agent:?}");
    let (_, made_over_mcp) = app.get_json("/api/webhooks/c").await;
    assert_eq!(made_over_mcp["created_by"], "agent");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_read_key_can_list_webhooks_but_gets_403_creating_one() {
    // Arrange
    let app = spawn_app().await;
    let (_, read) = create_key(&app, "dashboard", "read").await;

    // Act
    let listed = with_key(&app, &read, Method::GET, "/api/webhooks", None).await;
    let created = with_key(
        &app,
        &read,
        Method::POST,
        "/api/webhooks",
        Some(json!({"id": "gh", "name": "GitHub", "provider": "github"})),
    )
    .await;
    let asked = with_key(&app, &read, Method::OPTIONS, "/api/webhooks", None).await;

    // Assert
    assert_eq!(listed.0, StatusCode::OK, "{}", listed.1);
    assert_eq!(asked.0, StatusCode::METHOD_NOT_ALLOWED, "{}", asked.1);
    assert!(
        asked.1["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("takes GET, HEAD, POST")),
        "an OPTIONS is told what the route takes, not that the key only reads: {}",
        asked.1
    );
    assert_eq!(
        created,
        (
            StatusCode::FORBIDDEN,
            json!({"error": {"code": "forbidden", "message": "this API key is read-only"}})
        )
    );
    let (_, webhooks) = app.get_json("/api/webhooks").await;
    assert_eq!(webhooks["webhooks"], json!([]), "nothing was created");
}

#[tokio::test]
async fn a_read_key_listing_api_keys_is_told_the_keys_are_admin_only() {
    // Arrange
    let app = spawn_app().await;
    let (_, read) = create_key(&app, "dashboard", "read").await;

    // Act
    let (status, body) = with_key(&app, &read, Method::GET, "/api/keys", None).await;

    // Assert: a read key reads everything else, so "read-only" alone would not say why.
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("admin key only"), "{body}");
}

#[tokio::test]
async fn a_first_start_without_auth_makes_no_key_and_the_next_one_with_auth_does() {
    // Arrange: a database that has never had a key.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = |no_auth: bool| {
        let mut config = webhook_mcp::config::Config::for_tests(dir.path().join("app.db"));
        config.api_key = None;
        config.no_auth = no_auth;
        config
    };

    // Act
    let without_auth = webhook_mcp::app::build(config(true)).await.expect("start");
    let made_without_auth = without_auth.generated_api_key().map(str::to_owned);
    drop(without_auth);
    let with_auth = webhook_mcp::app::build(config(false)).await.expect("start");

    // Assert: no key is shown as if it were needed while none is; the first start that needs
    // one makes it.
    assert_eq!(made_without_auth, None);
    assert!(with_auth.generated_api_key().is_some());
}

#[tokio::test]
async fn without_auth_a_request_naming_another_host_or_origin_is_refused() {
    // Arrange: as a web page would reach a local no-auth server, by a rebound name or a
    // cross-site form.
    let app = spawn_app_with(|c| c.no_auth = true).await;
    let create = |host: Option<&str>, origin: Option<&str>| {
        let mut request = app
            .client
            .post(app.url("/api/webhooks"))
            .header("Content-Type", "text/plain")
            .body(json!({"name": "x", "provider": "github"}).to_string());
        if let Some(host) = host {
            request = request.header("Host", host);
        }
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        send_json(request)
    };
    let mcp = app
        .client
        .post(app.url("/mcp"))
        .header("Host", "attacker.example")
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string());

    // Act
    let rebound = create(Some("attacker.example:8765"), None).await;
    let cross_site = create(None, Some("http://evil.example")).await;
    let mcp = send_json(mcp).await;
    let local = create(None, Some(&app.base)).await;

    // Assert
    assert_eq!(rebound.0, StatusCode::FORBIDDEN, "{}", rebound.1);
    assert!(
        rebound.1["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("attacker.example")),
        "{}",
        rebound.1
    );
    assert_eq!(cross_site.0, StatusCode::FORBIDDEN, "{}", cross_site.1);
    assert_eq!(mcp.0, StatusCode::FORBIDDEN, "{}", mcp.1);
    assert_eq!(local.0, StatusCode::CREATED, "{}", local.1);
}

#[tokio::test]
async fn without_auth_a_request_through_a_proxy_on_this_machine_is_refused() {
    // Arrange: nginx's `proxy_pass http://127.0.0.1:…` connects from loopback and names
    // 127.0.0.1 in Host, but adds the headers a proxy adds.
    let app = spawn_app_with(|c| c.no_auth = true).await;
    let list = |header: &'static str, value: &'static str| {
        send_json(
            app.client
                .get(app.url("/api/webhooks"))
                .header(header, value),
        )
    };

    // Act
    let mut proxied = Vec::new();
    for (header, value) in [
        ("X-Forwarded-For", "203.0.113.9"),
        ("Forwarded", "for=203.0.113.9"),
        ("X-Real-IP", "203.0.113.9"),
        ("X-Forwarded-Host", "hooks.example.com"),
    ] {
        proxied.push((header, list(header, value).await));
    }
    let direct = send_json(app.client.get(app.url("/api/webhooks"))).await;

    // Assert
    for (header, answer) in proxied {
        assert_eq!(answer.0, StatusCode::FORBIDDEN, "{header}: {}", answer.1);
        let said = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(said.contains("proxy"), "{said}");
    }
    assert_eq!(direct.0, StatusCode::OK, "{}", direct.1);
}

#[tokio::test]
async fn with_allowed_hosts_an_mcp_request_from_a_web_page_elsewhere_is_refused() {
    // Arrange: a keyed server that names the hosts /mcp answers to.
    let app = spawn_app_with(|c| c.mcp_allowed_hosts = vec!["webhook-mcp.example".into()]).await;
    let ping = |host: &str, origin: Option<&str>| {
        let mut request = app
            .client
            .post(app.url("/mcp"))
            .bearer_auth(API_KEY)
            .header("Host", host)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .body(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string());
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        async move {
            let response = request.send().await.expect("request");
            let status = response.status();
            (status, response.text().await.unwrap_or_default())
        }
    };

    // Act
    let elsewhere = ping("webhook-mcp.example", Some("http://evil.example")).await;
    let null = ping("webhook-mcp.example", Some("null")).await;
    let listed = ping("webhook-mcp.example", Some("https://webhook-mcp.example")).await;
    let local = ping("webhook-mcp.example", Some("http://localhost:6274")).await;
    let no_origin = ping("webhook-mcp.example", None).await;
    let wrong_host = ping("attacker.example", None).await;

    // Assert: the MCP transport's "an Origin present and invalid is 403".
    assert_eq!(elsewhere.0, StatusCode::FORBIDDEN, "{}", elsewhere.1);
    assert!(elsewhere.1.contains("evil.example"), "{}", elsewhere.1);
    assert!(
        elsewhere.1.contains("WEBHOOK_MCP_ALLOWED_HOSTS"),
        "{}",
        elsewhere.1
    );
    assert_eq!(null.0, StatusCode::FORBIDDEN, "{}", null.1);
    for passed in [&listed, &local, &no_origin] {
        assert_eq!(passed.0, StatusCode::OK, "{}", passed.1);
    }
    assert_eq!(wrong_host.0, StatusCode::FORBIDDEN, "{}", wrong_host.1);
}

#[tokio::test]
async fn without_allowed_hosts_a_keyed_mcp_request_is_taken_from_any_origin() {
    // Arrange: the default, where the bearer key is the guard (a page cannot know it).
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(API_KEY)
        .header("Origin", "http://elsewhere.example")
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string())
        .send()
        .await
        .expect("request");

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_admin_key_created_over_the_api_manages_webhooks() {
    // Arrange
    let app = spawn_app().await;
    let (_, admin) = create_key(&app, "ops", "admin").await;

    // Act
    let (status, body) = with_key(
        &app,
        &admin,
        Method::POST,
        "/api/webhooks",
        Some(json!({"id": "gh", "name": "GitHub", "provider": "github"})),
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_read_key_gets_403_on_key_management() {
    // Arrange
    let app = spawn_app().await;
    let (id, read) = create_key(&app, "dashboard", "read").await;

    // Act
    let list = with_key(&app, &read, Method::GET, "/api/keys", None).await;
    let create = with_key(
        &app,
        &read,
        Method::POST,
        "/api/keys",
        Some(json!({"name": "mine", "scope": "admin"})),
    )
    .await;
    let revoke = with_key(
        &app,
        &read,
        Method::DELETE,
        &format!("/api/keys/{id}"),
        None,
    )
    .await;
    let one = with_key(&app, &read, Method::GET, &format!("/api/keys/{id}"), None).await;

    // Assert
    for answer in [&list, &create, &revoke, &one] {
        assert_error(answer, StatusCode::FORBIDDEN, None);
        assert_eq!(answer.1["error"]["code"], "forbidden");
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused_with_401_at_once() {
    // Arrange
    let app = spawn_app().await;
    let (id, key) = create_key(&app, "ci", "admin").await;
    let before = with_key(&app, &key, Method::GET, "/api/webhooks", None).await;
    assert_eq!(before.0, StatusCode::OK, "{}", before.1);

    // Act
    let response = app
        .api(Method::DELETE, &format!("/api/keys/{id}"))
        .send()
        .await
        .expect("DELETE key");
    let after = with_key(&app, &key, Method::GET, "/api/webhooks", None).await;
    let never_made = with_key(&app, "whk_never_made", Method::GET, "/api/webhooks", None).await;
    let two = send_json(
        app.client
            .get(app.url("/api/webhooks"))
            .header("Authorization", "Bearer whk_never_made")
            .header("Authorization", format!("Bearer {key}")),
    )
    .await;

    // Assert: the revoked key is told it was revoked, by its name; another, that it is none.
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_error(&after, StatusCode::UNAUTHORIZED, None);
    let said = after.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        said.starts_with("the API key `ci` was revoked at 20"),
        "{said}"
    );
    assert_error(&never_made, StatusCode::UNAUTHORIZED, None);
    assert_eq!(never_made.1["error"]["message"], "the API key is not valid");
    assert_error(&two, StatusCode::UNAUTHORIZED, None);
    assert!(
        two.1["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("more than one `Authorization` header")),
        "{}",
        two.1
    );
    let (_, list) = app.get_json("/api/keys").await;
    let listed = listed_key(&list, &id);
    assert!(listed["revoked_at"].is_string(), "{listed}");
    let missing = send_json(app.api(Method::DELETE, "/api/keys/key_missing")).await;
    assert_error(&missing, StatusCode::NOT_FOUND, None);
    assert_eq!(missing.1["error"]["code"], "key_not_found", "{}", missing.1);
}

/// Asks `app` for its webhooks with `key` until the answer is `want`, for at most `secs`
/// seconds; the last status seen.
async fn status_within(app: &TestApp, key: &str, want: StatusCode, secs: u64) -> StatusCode {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let (status, _) = with_key(app, key, Method::GET, "/api/webhooks", None).await;
        if status == want || tokio::time::Instant::now() >= deadline {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The key `id` as the list of `GET /api/keys` shows it.
fn listed_key(list: &Value, id: &str) -> Value {
    list["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["id"] == id)
        .unwrap_or_else(|| panic!("key {id} is listed: {list}"))
        .clone()
}

/// The keys `GET /api/keys` lists: (id, revoked).
async fn listed_keys(app: &TestApp) -> Vec<(String, bool)> {
    let (status, list) = app.get_json("/api/keys").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            let id = k["id"].as_str().expect("id").to_string();
            (id, k["revoked_at"].is_string())
        })
        .collect()
}

#[tokio::test]
async fn a_key_revoked_more_than_30_days_ago_is_deleted_and_its_audit_entries_stay() {
    // Arrange: two keys revoked, one of them 31 days ago (its revocation moved back in the
    // file), beside one that works.
    let app = spawn_app().await;
    let (old, _) = create_key(&app, "ci-1", "read").await;
    let (recent, _) = create_key(&app, "ci-2", "read").await;
    let (active, active_key) = create_key(&app, "dashboard", "read").await;
    for id in [&old, &recent] {
        let revoked = app
            .api(Method::DELETE, &format!("/api/keys/{id}"))
            .send()
            .await
            .expect("DELETE key");
        assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    }
    let db = rusqlite::Connection::open(&app.db_path).expect("open db");
    let moved = db
        .execute(
            "UPDATE api_keys SET revoked_at = revoked_at - 31 * 86400000 WHERE id = ?1",
            [&old],
        )
        .expect("move the revocation back");
    assert_eq!(moved, 1);
    drop(db);

    // Act: a restart, whose retention sweep runs at once.
    let app = app.restart().await;
    let mut waited = 0;
    while listed_keys(&app).await.iter().any(|(id, _)| *id == old) {
        assert!(
            waited < 100,
            "the key revoked 31 days ago was never deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }

    // Assert: the other two stay; the audit log still says when the deleted key was made and
    // revoked, and under which name; a revocation of it is a 404 now.
    let listed = listed_keys(&app).await;
    assert!(listed.contains(&(recent.clone(), true)), "{listed:?}");
    assert!(listed.contains(&(active.clone(), false)), "{listed:?}");
    let works = with_key(&app, &active_key, Method::GET, "/api/webhooks", None).await;
    assert_eq!(works.0, StatusCode::OK, "{}", works.1);
    let entries = audit_entries(&app, "").await;
    let about_old: Vec<(&Value, &Value)> = entries
        .iter()
        .filter(|e| e["target"] == format!("/api/keys/{old}"))
        .map(|e| (&e["action"], &e["detail"]))
        .collect();
    let named = json!({"name": "ci-1", "scope": "read"});
    assert_eq!(
        about_old,
        [
            (&json!(format!("DELETE /api/keys/{old}")), &named),
            (&json!("POST /api/keys"), &named),
        ]
    );
    let again = send_json(app.api(Method::DELETE, &format!("/api/keys/{old}"))).await;
    assert_error(&again, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn a_key_revoked_by_another_server_on_the_database_is_refused_within_seconds() {
    // Arrange: `serve` and a second server on the same SQLite file (a second replica, say),
    // which knows the key from its start.
    let first = spawn_app().await;
    let (id, key) = create_key(&first, "ci", "admin").await;
    let second = first.beside(|c| c.worker = false).await;
    let before = with_key(&second, &key, Method::GET, "/api/webhooks", None).await;
    assert_eq!(before.0, StatusCode::OK, "{}", before.1);

    // Act
    let revoked = first
        .api(Method::DELETE, &format!("/api/keys/{id}"))
        .send()
        .await
        .expect("DELETE key");
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);

    // Assert
    assert_eq!(
        status_within(&second, &key, StatusCode::UNAUTHORIZED, 10).await,
        StatusCode::UNAUTHORIZED,
        "a key revoked on another server still works"
    );
    let told = with_key(&second, &key, Method::GET, "/api/webhooks", None).await;
    let said = told.1["error"]["message"].as_str().unwrap_or_default();
    assert!(said.contains("`ci` was revoked at"), "{said}");
}

#[tokio::test]
async fn a_key_created_by_another_server_on_the_database_works_within_seconds() {
    // Arrange
    let first = spawn_app().await;
    let second = first.beside(|c| c.worker = false).await;

    // Act
    let (_, key) = create_key(&first, "deploy", "read").await;

    // Assert
    assert_eq!(
        status_within(&second, &key, StatusCode::OK, 10).await,
        StatusCode::OK,
        "a key created on another server is refused"
    );
}

#[tokio::test]
async fn the_last_admin_key_cannot_be_revoked_without_the_configured_key() {
    // Arrange: no WEBHOOK_MCP_API_KEY; a key is generated on first start, and one made here.
    let app = spawn_app_with(|config| config.api_key = None).await;
    let created = webhook_mcp::service::auth::create(
        &app.state,
        webhook_mcp::service::auth::KeyIn {
            name: "ops".into(),
            scope: Some("admin".into()),
        },
        None,
    )
    .await
    .expect("create an admin key");
    let ops = created.key.clone();
    let (status, list) = with_key(&app, &ops, Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let generated = list["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["name"] == "generated on first start")
        .expect("the generated key is listed")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (_, read) = with_key(
        &app,
        &ops,
        Method::POST,
        "/api/keys",
        Some(json!({"name": "dash", "scope": "read"})),
    )
    .await;
    assert!(read["key"].is_string(), "{read}");

    // Act
    let first = with_key(
        &app,
        &ops,
        Method::DELETE,
        &format!("/api/keys/{generated}"),
        None,
    )
    .await;
    let last = with_key(
        &app,
        &ops,
        Method::DELETE,
        &format!("/api/keys/{}", created.info.id),
        None,
    )
    .await;

    // Assert
    assert_eq!(first.0, StatusCode::NO_CONTENT, "{}", first.1);
    assert_error(&last, StatusCode::CONFLICT, None);
    let still = with_key(&app, &ops, Method::GET, "/api/webhooks", None).await;
    assert_eq!(still.0, StatusCode::OK, "the last admin key still works");
}

#[tokio::test]
async fn a_read_key_over_mcp_is_offered_and_calls_list_tools_but_cannot_create() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github"}))
        .await;
    let (_, read) = create_key(&app, "agent-reader", "read").await;
    let client = connect(&app, &read).await;

    // Act
    let tools = client.list_all_tools().await.expect("tools/list");
    let prompts = client.list_all_prompts().await.expect("prompts/list");
    let admin = connect(&app, API_KEY).await;
    let admin_prompts = admin.list_all_prompts().await.expect("prompts/list");
    admin.cancel().await.ok();
    let listed = client
        .call_tool(tool_call("list_webhooks", json!({})))
        .await
        .expect("list_webhooks is allowed");
    let one = client
        .call_tool(tool_call("get_webhook", json!({"webhook_id": "gh"})))
        .await
        .expect("get_webhook is allowed");
    let created = client
        .call_tool(tool_call(
            "create_webhook",
            json!({"name": "x", "provider": "github", "id": "sneaky"}),
        ))
        .await;

    // Assert: only the tools it may call are offered; one it calls anyway is refused.
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(
        names.contains(&"list_webhooks") && names.contains(&"get_task"),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("list_") || n.starts_with("get_")),
        "a read key is offered a tool that changes something: {names:?}"
    );
    // Nor the prompt that walks through creating a webhook; the ones that read are there.
    let prompt_names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert!(!prompt_names.contains(&"setup-webhook"), "{prompt_names:?}");
    assert!(prompt_names.contains(&"triage-event"), "{prompt_names:?}");
    let admin_names: Vec<&str> = admin_prompts.iter().map(|p| p.name.as_str()).collect();
    for name in ["setup-webhook", "triage-event", "explain-event-log"] {
        assert!(admin_names.contains(&name), "{admin_names:?}");
    }
    assert_ne!(listed.is_error, Some(true), "{listed:?}");
    assert!(format!("{listed:?}").contains("gh"), "{listed:?}");
    assert_ne!(one.is_error, Some(true), "{one:?}");
    // Its guide is the reader's: it says the connection only reads and walks through no
    // tool it is not offered.
    let guide = client
        .peer_info()
        .and_then(|info| info.instructions.clone())
        .unwrap_or_default();
    assert!(guide.contains("may only read"), "{guide}");
    assert!(guide.contains("list_events"), "{guide}");
    assert!(!guide.contains("add_command"), "{guide}");
    let created = created.expect("a refusal the model can read, not a transport error");
    assert_eq!(created.is_error, Some(true), "{created:?}");
    assert!(format!("{created:?}").contains("read-only"), "{created:?}");
    let (status, _) = app.get_json("/api/webhooks/sneaky").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was created");
    client.cancel().await.ok();
}

#[tokio::test]
async fn server_discover_gives_a_read_key_the_readers_guide_and_an_admin_key_the_whole_one() {
    use rmcp::ClientServiceExt;
    // Arrange: Open WebUI 0.12 learns the instructions from `server/discover` (protocol
    // 2026-07-28), not from `initialize`.
    let app = spawn_app().await;
    let (_, read) = create_key(&app, "agent-reader", "read").await;

    // Act
    let mut guides = Vec::new();
    for key in [read.as_str(), API_KEY] {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")).auth_header(key),
        );
        let lifecycle = rmcp::ClientLifecycleMode::Discover {
            preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
        };
        let client = ().serve_with_lifecycle(transport, lifecycle).await;
        let client = client.expect("MCP client discovers");
        guides.push(
            client
                .peer_info()
                .and_then(|info| info.instructions.clone())
                .unwrap_or_default(),
        );
        client.cancel().await.ok();
    }

    // Assert
    let (reader, admin) = (&guides[0], &guides[1]);
    assert!(reader.contains("may only read"), "{reader}");
    assert!(!reader.contains("add_command"), "{reader}");
    assert!(admin.contains("add_command"), "{admin}");
    assert!(!admin.contains("may only read"), "{admin}");
}

#[tokio::test]
async fn a_read_key_gets_a_tool_error_from_mcp_for_a_tool_that_changes_something() {
    // Arrange
    let app = spawn_app().await;
    let (_, read) = create_key(&app, "agent-reader", "read").await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "delete_webhook", "arguments": {"webhook_id": "gh"}}});

    // Act: once at the current protocol, once at an older one.
    let mut answers = Vec::new();
    for version in ["2026-07-28", "2025-06-18"] {
        let response = app
            .client
            .post(app.url("/mcp"))
            .bearer_auth(&read)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", version)
            .json(&body)
            .send()
            .await
            .expect("POST /mcp");
        assert_eq!(response.status(), StatusCode::OK);
        answers.push(response.json::<Value>().await.expect("JSON-RPC"));
    }

    // Assert: a JSON-RPC answer to the call, marked as a tool error, shaped for the version
    // spoken (2026-07-28 results name their type); the refusal is audited.
    for answer in &answers {
        assert_eq!(answer["id"], 1, "{answer}");
        assert_eq!(answer["result"]["isError"], true, "{answer}");
        assert!(answer.to_string().contains("read-only"), "{answer}");
    }
    assert_eq!(answers[0]["result"]["resultType"], "complete");
    assert!(answers[1]["result"].get("resultType").is_none());
    let entries = audit_entries(&app, "actor=agent-reader").await;
    assert_eq!(entries.len(), 2, "each attempt is audited: {entries:?}");
    assert_eq!(entries[0]["action"], "mcp delete_webhook");
    assert_eq!(entries[0]["status"], 403);
    assert_eq!(
        entries[0]["outcome"],
        "error: refused: the API key is read-only"
    );
}

#[tokio::test]
async fn a_change_asked_of_a_route_that_takes_no_such_method_is_audited_with_why() {
    // Arrange
    let app = spawn_app().await;

    // Act: the event log is read, never written to by hand.
    let response = app
        .client
        .post(app.url("/api/events"))
        .bearer_auth("test-api-key")
        .json(&json!({"event_type": "issues.opened"}))
        .send()
        .await
        .expect("POST /api/events");
    let status = response.status();
    let entries = audit_entries(&app, "actor=WEBHOOK_MCP_API_KEY").await;

    // Assert
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let entry = entries
        .iter()
        .find(|e| e["action"] == "POST /api/events")
        .unwrap_or_else(|| panic!("the attempt is audited: {entries:?}"));
    assert_eq!(
        entry["outcome"],
        "error: HTTP 405: method not allowed: `/api/events` does not take POST"
    );
}

#[tokio::test]
async fn a_read_key_calling_a_tool_that_does_not_exist_is_told_so_and_the_scheme_is_any_case() {
    // Arrange
    let app = spawn_app().await;
    let (_, read) = create_key(&app, "agent-reader", "read").await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "nonexistent_tool", "arguments": {}}});

    // Act
    let response = app
        .client
        .post(app.url("/mcp"))
        .header("authorization", format!("BEARER {read}"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&body)
        .send()
        .await
        .expect("POST /mcp");
    let status = response.status();
    // JSON, or one server-sent event carrying it.
    let answer = response.text().await.expect("body");

    // Assert: no read-only refusal for a tool that changes nothing; nothing audited.
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(!answer.contains("read-only"), "{answer}");
    assert!(
        answer.contains("nonexistent_tool") && answer.contains("\"error\""),
        "the answer names the missing tool: {answer}"
    );
    assert!(audit_entries(&app, "actor=agent-reader").await.is_empty());
}

#[tokio::test]
async fn a_failed_mcp_tool_call_is_audited_with_the_error_the_model_was_told() {
    // Arrange
    let app = spawn_app().await;
    let (_, key) = create_key(&app, "claude", "admin").await;
    let client = connect(&app, &key).await;

    // Act: one call that fails (no such webhook), one that succeeds.
    let failed = client
        .call_tool(tool_call("delete_webhook", json!({"webhook_id": "nope"})))
        .await
        .expect("delete_webhook");
    let created = client
        .call_tool(tool_call(
            "create_webhook",
            json!({"name": "ok", "provider": "github", "id": "gh-ok"}),
        ))
        .await
        .expect("create_webhook");
    // A secret of the wrong type: the error quotes the value it refused.
    let quoted = client
        .call_tool(tool_call(
            "rotate_secret",
            json!({"webhook_id": "gh-ok", "secret": 123_456_789_012_345_678_i64}),
        ))
        .await
        .expect("rotate_secret");
    client.cancel().await.ok();

    // Assert: all answered 200 over HTTP; only the outcome tells them apart.
    assert_eq!(failed.is_error, Some(true), "{failed:?}");
    assert_eq!(created.is_error, Some(false), "{created:?}");
    assert_eq!(quoted.is_error, Some(true), "{quoted:?}");
    let entries = audit_entries(&app, "actor=claude").await;
    assert_eq!(entries.len(), 3, "each call recorded once: {entries:?}");
    let rotated = entries
        .iter()
        .find(|e| e["action"] == "mcp rotate_secret")
        .expect("rotate_secret audited");
    let outcome = rotated["outcome"].as_str().expect("outcome");
    assert!(
        !outcome.contains("123456789012345678") && outcome.contains("********"),
        "the secret is masked in the outcome too: {outcome}"
    );
    let of = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action} audited: {entries:?}"))
            .clone()
    };
    let deleted = of("mcp delete_webhook");
    assert_eq!(deleted["status"], 200);
    assert_eq!(deleted["target"], "nope");
    let outcome = deleted["outcome"].as_str().expect("outcome");
    assert!(
        outcome.starts_with("error: ") && outcome.contains("nope"),
        "the tool's error text: {outcome}"
    );
    assert_eq!(of("mcp create_webhook")["outcome"], "ok");
}

#[tokio::test]
async fn a_refused_call_naming_a_huge_id_is_audited_with_the_id_cut_short() {
    // Arrange: a read key, which may make any number of refused calls.
    let app = spawn_app().await;
    let (_, key) = create_key(&app, "reader", "read").await;
    let client = connect(&app, &key).await;
    let huge = "z".repeat(1_000_000);

    // Act
    let refused = client
        .call_tool(tool_call("delete_webhook", json!({"webhook_id": huge})))
        .await
        .expect("delete_webhook");
    client.cancel().await.ok();

    // Assert: refused and audited, with a few hundred bytes of the id, not a megabyte.
    assert_eq!(refused.is_error, Some(true), "{refused:?}");
    let entries = audit_entries(&app, "actor=reader").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let target = entries[0]["target"].as_str().expect("target");
    assert!(
        target.starts_with("zzz") && target.ends_with('…'),
        "kept {} bytes",
        target.len()
    );
    assert!(target.len() <= 310, "kept {} bytes", target.len());
}

#[tokio::test]
async fn a_change_whose_client_hangs_up_at_once_is_audited_all_the_same() {
    use tokio::io::AsyncWriteExt as _;
    // Arrange: creates sent by clients that reset the connection without reading the answer.
    let app = spawn_app().await;
    for n in 0..12 {
        let body = json!({"id": format!("gone-{n}"), "name": "gone", "provider": "github"});
        let body = body.to_string();
        let request = format!(
            "POST /api/webhooks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut socket = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        socket.write_all(request.as_bytes()).await.expect("send");
        // Closed with a reset, as a client killed mid-request does.
        socket.set_zero_linger().ok();
        drop(socket);
    }

    // Assert: every webhook made has its entry once the changes have settled (some made, and
    // their number the same two looks running).
    let (mut missing, mut made_before) = (Vec::new(), usize::MAX);
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (_, listed) = app.get_json("/api/webhooks").await;
        let made: Vec<String> = listed["webhooks"]
            .as_array()
            .expect("webhooks")
            .iter()
            .map(|w| w["id"].as_str().expect("id").to_string())
            .collect();
        let settled = !made.is_empty() && made.len() == made_before;
        made_before = made.len();
        let entries = audit_entries(&app, "limit=200").await;
        missing = made
            .into_iter()
            .filter(|id| {
                let target = format!("/api/webhooks/{id}");
                !entries.iter().any(|e| e["target"] == target.as_str())
            })
            .collect();
        if settled && missing.is_empty() {
            break;
        }
    }
    assert!(made_before > 0, "no webhook was made");
    assert!(missing.is_empty(), "made with no audit entry: {missing:?}");
}

#[tokio::test]
async fn the_audit_log_shows_who_created_a_webhook_over_rest_and_mcp_with_secrets_masked() {
    // Arrange
    let app = spawn_app().await;
    let (_, rest_key) = create_key(&app, "deploy-bot", "admin").await;
    let (_, mcp_key) = create_key(&app, "claude", "admin").await;
    let (_, read_key) = create_key(&app, "dashboard", "read").await;

    // Act: one webhook over REST, one over MCP, both with a known secret.
    let (status, body) = with_key(
        &app,
        &rest_key,
        Method::POST,
        "/api/webhooks",
        Some(
            json!({"id": "gh-rest", "name": "REST", "provider": "github",
                    "secret": "s3cr3t-value"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let client = connect(&app, &mcp_key).await;
    let created = client
        .call_tool(tool_call(
            "create_webhook",
            json!({"name": "MCP", "provider": "github", "id": "gh-mcp",
                   "secret": "s3cr3t-value"}),
        ))
        .await
        .expect("create_webhook");
    assert_eq!(created.is_error, Some(false), "{created:?}");
    // Made with ids the requests did not give: the audit names them all the same.
    let generated = client
        .call_tool(tool_call(
            "create_webhook",
            json!({"name": "MCP, id generated", "provider": "gitlab"}),
        ))
        .await
        .expect("create_webhook");
    let generated_id = generated.structured_content.as_ref().expect("content")["webhook"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let added = client
        .call_tool(tool_call(
            "add_command",
            json!({"webhook_id": "gh-mcp", "trigger": "issues", "action": "comment",
                   "template": "Hi"}),
        ))
        .await
        .expect("add_command");
    let mcp_command_id = added.structured_content.as_ref().expect("content")["id"]
        .as_str()
        .expect("command id")
        .to_string();
    let updated = client
        .call_tool(tool_call(
            "update_command",
            json!({"webhook_id": "gh-mcp", "command_id": mcp_command_id, "template": "Hello"}),
        ))
        .await
        .expect("update_command");
    assert_eq!(updated.is_error, Some(false), "{updated:?}");
    client.cancel().await.ok();
    let (_, command) = with_key(
        &app,
        &rest_key,
        Method::POST,
        "/api/webhooks/gh-rest/commands",
        Some(json!({"trigger": "issues", "action": "comment", "template": "Hi"})),
    )
    .await;
    let (audit_status, audit) = with_key(&app, &read_key, Method::GET, "/api/audit", None).await;

    // Assert
    assert_eq!(
        audit_status,
        StatusCode::OK,
        "a read key reads the log: {audit}"
    );
    assert!(
        !audit.to_string().contains("s3cr3t-value"),
        "a secret reached the audit log: {audit}"
    );
    let entries = audit["entries"].as_array().expect("entries");
    let rest = entries
        .iter()
        .find(|e| e["action"] == "POST /api/webhooks")
        .unwrap_or_else(|| panic!("REST creation audited: {audit}"));
    assert_eq!(rest["actor"], "deploy-bot");
    assert_eq!(rest["target"], "/api/webhooks/gh-rest");
    assert_eq!(rest["status"], 201);
    assert_eq!(rest["outcome"], "ok");
    assert_eq!(rest["detail"]["secret"], "********");
    assert_eq!(rest["detail"]["id"], "gh-rest");
    assert!(
        rest["at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{rest}"
    );
    let mcp = entries
        .iter()
        .find(|e| e["action"] == "mcp create_webhook" && e["detail"]["id"] == "gh-mcp")
        .unwrap_or_else(|| panic!("MCP creation audited: {audit}"));
    assert_eq!(mcp["actor"], "claude");
    assert_eq!(mcp["target"], "gh-mcp");
    assert_eq!(mcp["status"], 200);
    assert_eq!(mcp["outcome"], "ok");
    assert_eq!(mcp["detail"]["secret"], "********");
    assert!(
        entries.iter().any(|e| e["target"] == generated_id.as_str()),
        "{audit}"
    );
    let on_mcp_command: Vec<&str> = entries
        .iter()
        .filter(|e| e["target"] == mcp_command_id.as_str())
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        on_mcp_command,
        ["mcp update_command", "mcp add_command"],
        "a command's creation and update both name it: {audit}"
    );
    let command_id = command["id"].as_str().expect("command id");
    assert!(
        entries.iter().any(
            |e| e["target"] == format!("/api/webhooks/gh-rest/commands/{command_id}").as_str()
        ),
        "{audit}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["action"] != "GET /api/webhooks" && e["action"] != "mcp list_webhooks"),
        "reads are not audited: {audit}"
    );
    let ids: Vec<i64> = entries
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
}

#[tokio::test]
async fn creating_and_revoking_keys_is_audited_without_the_key() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (id, key) = create_key(&app, "temp", "read").await;
    let response = app
        .api(Method::DELETE, &format!("/api/keys/{id}"))
        .send()
        .await
        .expect("DELETE key");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let entries = audit_entries(&app, "").await;

    // Assert
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["action"], format!("DELETE /api/keys/{id}"));
    assert_eq!(entries[0]["status"], 204);
    // A revocation, which has no body, names the key it revoked.
    assert_eq!(
        entries[0]["detail"],
        json!({"name": "temp", "scope": "read"})
    );
    assert_eq!(entries[1]["action"], "POST /api/keys");
    assert_eq!(entries[1]["target"], format!("/api/keys/{id}"));
    assert_eq!(entries[1]["actor"], "WEBHOOK_MCP_API_KEY");
    assert_eq!(
        entries[1]["detail"],
        json!({"name": "temp", "scope": "read"})
    );
    assert!(!Value::Array(entries).to_string().contains(&key));
    // A key made with the default scope is recorded with it.
    let (status, _) = send_json(
        app.api(Method::POST, "/api/keys")
            .json(&json!({"name": "dash"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let newest = &audit_entries(&app, "limit=1").await[0];
    assert_eq!(
        newest["detail"],
        json!({"name": "dash", "scope": "read"}),
        "{newest}"
    );
}

#[tokio::test]
async fn the_audit_log_pages_with_a_cursor_and_filters_by_actor() {
    // Arrange: three keys created by the test key, then one webhook by another key.
    let app = spawn_app().await;
    for name in ["a", "b", "c"] {
        create_key(&app, name, "read").await;
    }
    let (_, ops) = create_key(&app, "ops", "admin").await;
    with_key(
        &app,
        &ops,
        Method::POST,
        "/api/webhooks",
        Some(json!({"id": "gh", "name": "GitHub", "provider": "github"})),
    )
    .await;

    // Act
    let (_, first) = app.get_json("/api/audit?limit=3").await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let (_, second) = app
        .get_json(&format!("/api/audit?limit=3&cursor={cursor}"))
        .await;
    let by_ops = audit_entries(&app, "actor=ops").await;
    let bad = app.get_json("/api/audit?cursor=nope").await;

    // Assert
    assert_eq!(first["entries"].as_array().expect("entries").len(), 3);
    assert_eq!(second["entries"].as_array().expect("entries").len(), 2);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!(by_ops.len(), 1, "{by_ops:?}");
    assert_eq!(by_ops[0]["action"], "POST /api/webhooks");
    assert_error(&bad, StatusCode::BAD_REQUEST, Some("cursor"));
}

#[tokio::test]
async fn key_names_and_scopes_are_checked() {
    // Arrange
    let app = spawn_app().await;
    create_key(&app, "taken", "read").await;

    // Act
    let cases = [
        (
            json!({"name": "", "scope": "read"}),
            StatusCode::BAD_REQUEST,
            Some("name"),
        ),
        (
            json!({"name": "x", "scope": "write"}),
            StatusCode::BAD_REQUEST,
            Some("scope"),
        ),
        (
            json!({"name": "WEBHOOK_MCP_API_KEY"}),
            StatusCode::BAD_REQUEST,
            Some("name"),
        ),
        (json!({"name": "taken"}), StatusCode::CONFLICT, Some("name")),
        // Names the audit log gives the server's own callers, however written.
        (
            json!({"name": "stdio"}),
            StatusCode::BAD_REQUEST,
            Some("name"),
        ),
        (
            json!({"name": "No-Auth"}),
            StatusCode::BAD_REQUEST,
            Some("name"),
        ),
        // Look-alike letters: Cyrillic `ѕ`, `і`, `о`; full-width forms.
        (
            json!({"name": "\u{0455}td\u{0456}\u{043e}"}),
            StatusCode::BAD_REQUEST,
            Some("name"),
        ),
        (
            json!({"name": "\u{FF53}\u{FF54}\u{FF44}\u{FF49}\u{FF4F}"}),
            StatusCode::BAD_REQUEST,
            Some("name"),
        ),
        // Circled letters (a compatibility form) and UTS #39 confusables (dotless `ı`).
        (
            json!({"name": "\u{24E2}\u{24E3}\u{24D3}\u{24D8}\u{24DE}"}),
            StatusCode::BAD_REQUEST,
            Some("name"),
        ),
        (
            json!({"name": "std\u{0131}o"}),
            StatusCode::BAD_REQUEST,
            Some("name"),
        ),
        (
            json!({"name": "WEBHOOK\u{2011}MCP\u{2011}API\u{2011}KEY"}),
            StatusCode::BAD_REQUEST,
            Some("name"),
        ),
        (
            json!({"name": "WEBHOOK_MCP_API_KEY\u{200b}"}),
            StatusCode::BAD_REQUEST,
            Some("name"),
        ),
        (
            json!({"name": "\u{202e}evil"}),
            StatusCode::BAD_REQUEST,
            Some("name"),
        ),
        (
            json!({"scope": "read"}),
            StatusCode::BAD_REQUEST,
            Some("name"),
        ),
    ];

    // Assert
    for (body, status, field) in cases {
        let answer = send_json(app.api(Method::POST, "/api/keys").json(&body)).await;
        assert_error(&answer, status, field);
    }
    let (_, default_scope) = send_json(
        app.api(Method::POST, "/api/keys")
            .json(&json!({"name": "plain"})),
    )
    .await;
    // A scope in capitals is the scope.
    let (status, capitals) = send_json(
        app.api(Method::POST, "/api/keys")
            .json(&json!({"name": "loud", "scope": " READ"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{capitals}");
    assert_eq!(capitals["scope"], "read", "{capitals}");
    // Least privilege: a key asked for without a scope can only look.
    assert_eq!(default_scope["scope"], "read");
    assert_ne!(API_KEY, default_scope["key"]);
    let plain_key = default_scope["key"].as_str().expect("key");
    let (status, _) = with_key(
        &app,
        plain_key,
        Method::POST,
        "/api/webhooks",
        Some(json!({"name": "x", "provider": "github"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_key_name_that_looks_like_an_active_keys_is_refused() {
    // Arrange: the audit log names callers by their key's name.
    let app = spawn_app().await;
    let (ops_id, _) = create_key(&app, "ops", "admin").await;

    // Act: the same name with a Cyrillic `о`, in capitals, full-width, with a dash.
    let look_alikes = [
        "\u{043e}ps",
        "OPS",
        "\u{FF4F}\u{FF50}\u{FF53}",
        "o-ps",
        " Ops ",
    ];
    let mut answers = Vec::new();
    for name in look_alikes {
        answers.push(
            send_json(
                app.api(Method::POST, "/api/keys")
                    .json(&json!({"name": name})),
            )
            .await,
        );
    }

    // Assert: each refused, naming the key it clashes with; other names still go through,
    // and the name is free again once that key is revoked.
    for answer in &answers {
        assert_error(answer, StatusCode::CONFLICT, Some("name"));
        let message = answer.1["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("`ops`") && message.contains(&ops_id),
            "{message}"
        );
    }
    create_key(&app, "ops2", "read").await;
    create_key(&app, "\u{5e73}\u{53f0}", "read").await;
    create_key(&app, "\u{76d1}\u{63a7}", "read").await;
    let revoked = app
        .api(Method::DELETE, &format!("/api/keys/{ops_id}"))
        .send()
        .await
        .expect("DELETE key");
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    create_key(&app, "OPS", "admin").await;
}

#[tokio::test]
async fn a_refused_base_url_keeps_its_password_out_of_the_audit_log() {
    // Arrange: text that is no URL, yet carries a password where a URL would.
    let app = spawn_app().await;
    app.github_webhook("gh", "s3cret").await;

    // Act
    let (status, refused) = send_json(app.api(Method::PUT, "/api/webhooks/gh").json(&json!({
        "options": {"credentials": {"github_api_url": "bot:NOSCHEMEPW2@ghe.example.com/api/v3",
                                    "github_token": "ghp_x"}}
    })))
    .await;
    let (_, audit) = app.get_json("/api/audit").await;

    // Assert
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let entry = &audit["entries"][0];
    assert_eq!(entry["status"], 400, "{audit}");
    assert!(!audit.to_string().contains("NOSCHEMEPW2"), "{audit}");
    assert_eq!(
        entry["detail"]["options"]["credentials"]["github_api_url"],
        "***@ghe.example.com/api/v3"
    );
}

#[tokio::test]
async fn a_first_start_refused_for_a_bad_setting_leaves_no_unseen_key_behind() {
    // Arrange: a database that has never had a key.
    let dir = tempfile::tempdir().expect("temp dir");
    let fresh = || {
        let mut config = webhook_mcp::config::Config::for_tests(dir.path().join("app.db"));
        config.api_key = None;
        config
    };
    type Spoil = fn(&mut webhook_mcp::config::Config);
    let refused_settings: [(&str, Spoil); 9] = [
        ("WEBHOOK_MCP_API_KEY", |c| {
            c.api_key = Some("a-key-copied-with-its-newline\n".into())
        }),
        ("PUBLIC_BASE_URL", |c| {
            c.public_base_url = Some("https://hooks.example.com/in?x=1".into())
        }),
        ("WEBHOOK_MCP_SECRET_KEY", |c| {
            c.secret_key = Some("abc".into())
        }),
        ("WEBHOOK_MCP_RETRY_SCHEDULE", |c| {
            c.retry_schedule = vec!["5x".into()]
        }),
        ("PUBLIC_BASE_URL", |c| {
            c.public_base_url = Some("hooks.example.com".into())
        }),
        ("PROMPTS_DIR", |c| {
            c.prompts_dir = Some("/nonexistent/prompts".into())
        }),
        ("GITHUB_API_URL", |c| {
            c.upstreams.github_api_url = "not-a-url".into()
        }),
        ("JIRA_BASE_URL", |c| {
            c.upstreams.jira_base_url = Some("jira.example.com".into())
        }),
        ("ALLOWED_TARGET_HOSTS", |c| {
            c.allowed_target_hosts = vec!["host:notaport".into()]
        }),
    ];

    // Act + Assert: each start is refused, naming the setting.
    for (name, bad) in refused_settings {
        let mut config = fresh();
        bad(&mut config);
        let error = match webhook_mcp::app::build(config).await {
            Ok(_) => panic!("a start with a bad {name} was not refused"),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.contains(name), "{name}: {error}");
    }

    // Assert: the first start that succeeds is still the one that makes (and shows) a key.
    let app = webhook_mcp::app::build(fresh()).await.expect("start");
    assert!(
        app.generated_api_key().is_some(),
        "the key of the first real start is shown"
    );
}

#[tokio::test]
async fn a_first_start_on_every_interface_shows_where_the_key_works_and_asks_for_a_base_url() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    // Arrange: the real binary on 0.0.0.0 with no key and no PUBLIC_BASE_URL.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_webhook-mcp"));
    // Settings from the developer's shell must not leak into the child.
    for (key, _) in std::env::vars() {
        if key.starts_with("WEBHOOK_MCP_") || key == "PUBLIC_BASE_URL" {
            command.env_remove(key);
        }
    }
    let mut child = command
        .arg("--listen")
        .arg("0.0.0.0:0")
        .arg("--database")
        .arg(dir.path().join("app.db"))
        .env("WEBHOOK_MCP_WORKER", "false")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start webhook-mcp");

    // Act: read stderr up to the warning about the URLs, which follows the line that says it
    // listens.
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut log = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.expect("read log") {
            let warned = line.contains("PUBLIC_BASE_URL");
            log.push(line);
            if warned {
                break;
            }
        }
    })
    .await;
    child.kill().await.ok();

    // Assert
    assert!(read.is_ok(), "never listened: {log:#?}");
    assert!(
        log.iter()
            .any(|l| l.contains("Bearer") && l.contains("on /api and /mcp")),
        "{log:#?}"
    );
    let warning = log.last().map(String::as_str).unwrap_or_default();
    assert!(warning.contains("WARN"), "{log:#?}");
    assert!(
        !warning.contains("0.0.0.0:0"),
        "names the bound port: {warning}"
    );
}

#[tokio::test]
async fn a_refused_rest_change_is_audited_with_the_reason_it_was_refused() {
    // Arrange
    let app = spawn_app().await;
    create_key(&app, "grafana", "read").await;

    // Act: a second key of the same name, and one of no known scope.
    let (clash, _) = send_json(
        app.api(Method::POST, "/api/keys")
            .json(&json!({"name": "grafana", "scope": "read"})),
    )
    .await;
    let (bad_scope, _) = send_json(
        app.api(Method::POST, "/api/keys")
            .json(&json!({"name": "other", "scope": "owner"})),
    )
    .await;

    // Assert: the outcome says why, as the answer did, not only the status.
    assert_eq!(clash, StatusCode::CONFLICT);
    assert_eq!(bad_scope, StatusCode::BAD_REQUEST);
    let entries = audit_entries(&app, "limit=200").await;
    let outcomes: Vec<&str> = entries
        .iter()
        .filter(|e| e["action"] == "POST /api/keys")
        .filter_map(|e| e["outcome"].as_str())
        .filter(|o| o.starts_with("error: "))
        .collect();
    assert_eq!(outcomes.len(), 2, "{entries:?}");
    assert!(
        outcomes
            .iter()
            .any(|o| o.starts_with("error: HTTP 409: ") && o.contains("grafana")),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| o.starts_with("error: HTTP 400: ") && o.contains("scope")),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn the_audit_log_masks_secrets_but_keeps_the_keys_a_payload_names_things_by() {
    // Arrange: a Jira webhook, made with its secret; its issues and projects have `key`s.
    let app = spawn_app().await;
    let client = connect(&app, API_KEY).await;
    let made = client
        .call_tool(tool_call(
            "create_webhook",
            json!({"name": "Jira", "provider": "jira", "id": "jr", "secret": "s3cr3t-value"}),
        ))
        .await
        .expect("create_webhook");
    assert_eq!(made.is_error, Some(false), "{made:?}");
    let payload = json!({"webhookEvent": "jira:issue_created",
        "issue": {"id": "10001", "key": "PROJ-7", "self": "https://jira.example/rest/api/2/issue/10001",
                  "fields": {"summary": "Broken", "project": {"key": "PROJ"}}},
        "token": "tok-value"});

    // Act
    let tested = client
        .call_tool(tool_call(
            "test_webhook",
            json!({"webhook_id": "jr", "payload": payload}),
        ))
        .await
        .expect("test_webhook");
    assert_eq!(tested.is_error, Some(false), "{tested:?}");
    let entries = audit_entries(&app, "").await;

    // Assert: the issue's and project's keys are shown; the secret and the token are not.
    let test = entries
        .iter()
        .find(|e| e["action"] == "mcp test_webhook")
        .unwrap_or_else(|| panic!("test_webhook audited: {entries:?}"));
    let sent = &test["detail"]["payload"];
    assert_eq!(sent["issue"]["key"], "PROJ-7", "{test}");
    assert_eq!(sent["issue"]["fields"]["project"]["key"], "PROJ", "{test}");
    assert_eq!(sent["token"], "********", "{test}");
    let create = entries
        .iter()
        .find(|e| e["action"] == "mcp create_webhook")
        .unwrap_or_else(|| panic!("create_webhook audited: {entries:?}"));
    assert_eq!(create["detail"]["secret"], "********", "{create}");
    assert!(!format!("{entries:?}").contains("s3cr3t-value"));
    client.cancel().await.ok();
}

#[tokio::test]
async fn refused_changes_are_audited_without_the_channel_urls_and_tokens_they_were_given() {
    // Arrange: a webhook; a read key to read the log with, as a dashboard would.
    let app = spawn_app().await;
    app.github_webhook("gh", "gh-secret").await;
    let (_, reader) = create_key(&app, "dashboard", "read").await;
    let slack_url = "https://hooks.slack.com/services/T0/B0/SLACKSECRETCLEAN";

    // Act: refused changes whose values are credentials: a target with a secret of the
    // wrong type, a misspelt credential, options written as Python would.
    let refused = [
        (
            "/api/webhooks/gh/commands",
            json!({"trigger": "issues.opened", "action": "post_message",
                                             "target": {"url": slack_url, "secret": 5},
                                             "template": "x"}),
        ),
        (
            "/api/webhooks",
            json!({"name": "GH", "provider": "github",
                                 "options": {"credentials": {"github_tokn": "ghp_MISSPELT"}}}),
        ),
        (
            "/api/webhooks",
            json!({"name": "GH", "provider": "github",
                                 "options": "{'credentials': {'github_token': 'ghp_QUOTED'}}"}),
        ),
    ];
    for (path, body) in &refused {
        let (status, answer) = send_json(app.api(Method::POST, path).json(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
    }
    let (status, log) = send_json(
        app.client
            .get(app.url("/api/audit?limit=10"))
            .bearer_auth(&reader),
    )
    .await;

    // Assert: recorded, each with its error, none of the credentials readable.
    assert_eq!(status, StatusCode::OK, "{log}");
    let text = log.to_string();
    let errors = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| {
            e["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("error"))
        })
        .count();
    assert_eq!(errors, 3, "{log}");
    for secret in ["SLACKSECRETCLEAN", "ghp_MISSPELT", "ghp_QUOTED"] {
        assert!(!text.contains(secret), "{secret} in {log}");
    }
}

#[tokio::test]
async fn two_starts_at_once_on_a_database_without_an_admin_key_generate_one_key() {
    // Arrange: a database with no admin key (the test app's key is configured, not stored).
    let app = spawn_app().await;
    let store = &app.state.store;

    // Act: two starts look for an admin key at the same moment.
    let (first, second) = tokio::join!(
        webhook_mcp::service::auth::ApiKeys::bootstrap(store, None, true),
        webhook_mcp::service::auth::ApiKeys::bootstrap(store, None, true),
    );

    // Assert: one of them generated a key; one admin key is stored.
    let generated = [first, second]
        .into_iter()
        .filter_map(|started| started.expect("bootstrap").1)
        .count();
    assert_eq!(generated, 1);
    let stored = store
        .read(webhook_mcp::store::api_keys::active)
        .await
        .expect("keys");
    let admins = stored.iter().filter(|k| k.scope == "admin").count();
    assert_eq!(admins, 1, "{stored:?}");
}

/// Sends `body` to `path` with `key` in two parts over a raw connection, calling `between`
/// after the first; returns the response's status line and body.
async fn send_in_two_parts(
    app: &TestApp,
    path: &str,
    key: &str,
    body: &Value,
    between: impl std::future::Future<Output = ()>,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = reqwest::Url::parse(&app.url("/")).expect("url");
    let address = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().expect("port")
    );
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let body = body.to_string();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         MCP-Protocol-Version: 2025-06-18\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    stream
        .write_all(format!("{head}{first}").as_bytes())
        .await
        .expect("head");
    between.await;
    stream.write_all(rest.as_bytes()).await.expect("rest");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("answer");
    answer
}

#[tokio::test]
async fn a_key_revoked_while_its_request_body_is_coming_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let (id, key) = create_key(&app, "leaked", "admin").await;
    let revoke = |app: &TestApp| {
        let request = app.api(Method::DELETE, &format!("/api/keys/{id}"));
        async move {
            let answer = request.send().await.expect("revoke");
            assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        }
    };
    let rest = json!({"id": "by-rest", "name": "r", "provider": "github", "secret": "s3cret-value-of-some-length"});
    let mcp = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "create_webhook", "arguments": {"id": "by-mcp", "name": "m", "provider": "github"}}});

    // Act
    let by_rest = send_in_two_parts(&app, "/api/webhooks", &key, &rest, revoke(&app)).await;
    let (id_two, key_two) = create_key(&app, "leaked-too", "admin").await;
    let revoke_two = app.api(Method::DELETE, &format!("/api/keys/{id_two}"));
    let by_mcp = send_in_two_parts(&app, "/mcp", &key_two, &mcp, async move {
        revoke_two.send().await.expect("revoke");
    })
    .await;

    // Assert
    assert!(by_rest.starts_with("HTTP/1.1 401"), "{by_rest}");
    assert!(by_rest.contains("revoked"), "{by_rest}");
    assert!(by_mcp.starts_with("HTTP/1.1 401"), "{by_mcp}");
    for made in ["by-rest", "by-mcp"] {
        let (status, body) = app.get_json(&format!("/api/webhooks/{made}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{made}: {body}");
    }
}

#[tokio::test]
async fn a_yes_no_setting_refused_names_its_environment_variable_and_the_words_it_takes() {
    // Arrange: flags that may stand alone (`--mcp-sessions`) and one that takes a word.
    let run = |variable: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_webhook-mcp"));
        for (key, _) in std::env::vars() {
            if key.starts_with("WEBHOOK_MCP_") {
                command.env_remove(key);
            }
        }
        command.arg("serve").env(variable, "maybe");
        command.output().expect("run webhook-mcp")
    };

    for variable in [
        "WEBHOOK_MCP_SESSIONS",
        "WEBHOOK_MCP_NO_AUTH",
        "WEBHOOK_MCP_WORKER",
    ] {
        // Act
        let refused = run(variable);

        // Assert
        let said = String::from_utf8_lossy(&refused.stderr).into_owned();
        assert_eq!(refused.status.code(), Some(2), "{variable}: {said}");
        assert!(
            said.contains(&format!("environment variable {variable}")),
            "{variable}: {said}"
        );
        assert!(
            said.contains("yes or no") && !said.contains("not a boolean"),
            "{variable}: {said}"
        );
    }
}

#[tokio::test]
async fn a_setting_refused_by_the_command_line_parser_names_its_environment_variable() {
    // Arrange: as a compose file sets it.
    let run = |with_env: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_webhook-mcp"));
        for (key, _) in std::env::vars() {
            if key.starts_with("WEBHOOK_MCP_") {
                command.env_remove(key);
            }
        }
        command.arg("serve");
        if with_env {
            command.env("WEBHOOK_MCP_OUTBOUND_CONCURRENCY", "eight");
        } else {
            command.args(["--outbound-concurrency", "eight"]);
        }
        command.output().expect("run webhook-mcp")
    };

    // Act
    let (from_env, from_flag) = (run(true), run(false));

    // Assert: both refused; the variable named only where it was the variable.
    let said = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(from_env.status.code(), Some(2), "{}", said(&from_env));
    assert!(
        said(&from_env).contains("environment variable WEBHOOK_MCP_OUTBOUND_CONCURRENCY"),
        "{}",
        said(&from_env)
    );
    assert_eq!(from_flag.status.code(), Some(2), "{}", said(&from_flag));
    assert!(
        !said(&from_flag).contains("environment variable"),
        "{}",
        said(&from_flag)
    );
}
