//! A forward's own headers (`target.headers`): a labelled GitHub issue triggers a GitHub
//! Actions workflow (`repository_dispatch`, with the API's own `Authorization`), the header
//! values are sent on every attempt but never shown back nor stored plain, a target written
//! back as shown keeps them, and bad names and values are refused over REST and MCP.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, accepted, assert_error, delivery_id, send_json, spawn_manual, text_cells,
};
use crate::mcp::{call, connect, text};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const OTHER_KEY: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";
/// The token: no output may show any of it, nor the database hold it plain.
const TOKEN: &str = "ghp_fwdHeaderToken0123456789abcdef";
const SEEN: &str = "fwdHeaderToken";
const DISPATCHES: &str = "/repos/octo/app/dispatches";

/// The README's example: a `repository_dispatch` rendered from the labelled issue.
const TEMPLATE: &str = r#"{"event_type": "deploy", "client_payload": {"issue": {{ issue.number }}, "title": {{ issue.title | tojson }}, "repository": {{ repository.full_name | tojson }}}}"#;

fn dispatch_command(upstream: &MockServer) -> Value {
    json!({
        "trigger": "issues.labeled",
        "action": "forward",
        "conditions": {"label": "deploy"},
        "template": TEMPLATE,
        "target": {
            "url": format!("{}{DISPATCHES}", upstream.uri()),
            "headers": {
                "Authorization": format!("Bearer {TOKEN}"),
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28"
            }
        }
    })
}

/// A GitHub `issues.labeled` delivery: issue 12 of octo/app labelled `label`.
fn issue_labeled(label: &str) -> String {
    json!({
        "action": "labeled",
        "label": {"name": label},
        "issue": {
            "number": 12,
            "title": "Ship \"v2\"",
            "body": "Ready",
            "labels": [{"name": label}],
            "user": {"login": "octocat"},
        },
        "repository": {"full_name": "octo/app", "name": "app"},
        "sender": {"login": "octocat"},
    })
    .to_string()
}

/// The fake GitHub API: `POST /repos/octo/app/dispatches` with the token and the rendered
/// body answers 204, as GitHub does.
async fn github_api() -> MockServer {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(DISPATCHES))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "event_type": "deploy",
            "client_payload": {"issue": 12, "title": "Ship \"v2\"", "repository": "octo/app"}
        })))
        .respond_with(ResponseTemplate::new(204))
        .mount(&upstream)
        .await;
    upstream
}

/// Delivers the labelled issue to `gh`, sends what it queued; the event's id.
async fn label_and_send(app: &TestApp) -> String {
    let body = issue_labeled("deploy");
    let event = accepted(
        app.post_github("gh", "issues", &delivery_id(), &body, "gh-secret")
            .await,
    )
    .await;
    app.drain().await;
    event
}

fn assert_hidden(place: &str, shown: &str) {
    assert!(
        !shown.contains(SEEN),
        "{place} shows the header's value: {shown}"
    );
}

#[tokio::test]
async fn a_labelled_issue_dispatches_a_workflow_and_the_token_is_never_shown_nor_stored_plain() {
    // Arrange
    let upstream = github_api().await;
    let app = spawn_manual(|c| c.secret_key = Some(KEY.into())).await;
    app.github_webhook("gh", "gh-secret").await;
    let added = app.add_command_ok("gh", dispatch_command(&upstream)).await;
    let id = added["id"].as_str().expect("id").to_string();

    // Act
    let event = label_and_send(&app).await;

    // Assert: the API got the call, with its own headers and the rendered body.
    let requests = upstream.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        app.actions_of(&event).await[0]["status"],
        "delivered",
        "{:?}",
        app.actions_of(&event).await
    );
    assert_eq!(added["target"]["headers"]["Authorization"], "********");
    assert_eq!(
        added["target"]["headers"]["Accept"], "********",
        "every value is masked: {added}"
    );
    assert_hidden("the added command", &added.to_string());
    for at in [
        format!("/api/webhooks/gh/commands/{id}"),
        "/api/webhooks/gh/commands".to_string(),
        "/api/webhooks/gh".to_string(),
        format!("/api/events/{event}"),
        "/api/actions".to_string(),
    ] {
        let (status, shown) = app.get_json(&at).await;
        assert_eq!(status, StatusCode::OK, "{at}: {shown}");
        assert_hidden(&at, &shown.to_string());
    }
    let action = app.actions_of(&event).await[0]["id"]
        .as_str()
        .expect("action id")
        .to_string();
    let client = connect(&app).await;
    for (tool, args) in [
        ("list_actions", json!({})),
        ("get_action", json!({"action_id": action})),
        ("get_event", json!({"event_id": event})),
        ("get_webhook", json!({"webhook_id": "gh"})),
        (
            "test_webhook",
            json!({"webhook_id": "gh", "event_type": "issues.labeled", "payload": issue_labeled("deploy")}),
        ),
    ] {
        let result = call(&client, tool, args).await;
        assert_eq!(result.is_error, Some(false), "{tool}: {}", text(&result));
        assert_hidden(tool, &format!("{result:?}"));
    }
    client.cancel().await.ok();
    for (cell, value) in text_cells(&app.db_path) {
        assert_hidden(&cell, &value);
    }
}

#[tokio::test]
async fn a_target_written_back_as_shown_keeps_its_header_values_and_a_new_url_needs_them() {
    // Arrange
    let upstream = github_api().await;
    let app = spawn_manual(|c| c.secret_key = Some(KEY.into())).await;
    app.github_webhook("gh", "gh-secret").await;
    let added = app.add_command_ok("gh", dispatch_command(&upstream)).await;
    let at = format!(
        "/api/webhooks/gh/commands/{}",
        added["id"].as_str().expect("id")
    );
    let put = |body: Value| send_json(app.api(Method::PUT, &at).json(&body));
    let shown = added["target"].clone();
    let elsewhere = format!("{}/repos/octo/other/dispatches", upstream.uri());

    // Act: the target read back with a new priority; then the masks with a new URL, and a
    // new URL alone.
    let echoed = put(json!({"target": shown, "priority": 3})).await;
    let client = connect(&app).await;
    let over_mcp = call(
        &client,
        "update_command",
        json!({"webhook_id": "gh", "command_id": added["id"], "target": shown, "priority": 4}),
    )
    .await;
    let mut moved_masked = shown.clone();
    moved_masked["url"] = json!(elsewhere);
    let moved_masked = put(json!({"target": moved_masked})).await;
    let moved_bare = put(json!({"target": {"url": elsewhere}})).await;
    label_and_send(&app).await;

    // Assert: the stored values were kept, and sent.
    assert_eq!(echoed.0, StatusCode::OK, "{}", echoed.1);
    assert_eq!(echoed.1["target"], shown, "{}", echoed.1);
    assert_eq!(over_mcp.is_error, Some(false), "{}", text(&over_mcp));
    assert_hidden("update_command", &format!("{over_mcp:?}"));
    // The first masked header, by name.
    assert_error(
        &moved_masked,
        StatusCode::BAD_REQUEST,
        Some("target.headers.Accept"),
    );
    assert_error(&moved_bare, StatusCode::BAD_REQUEST, Some("target.headers"));
    let requests = upstream.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1, "the stored token is still sent");
    assert_eq!(
        requests[0].headers["authorization"],
        format!("Bearer {TOKEN}").as_str()
    );

    // Act: `"headers": {}` sends none from now on.
    let (status, cleared) = put(json!({"target": {"url": shown["url"], "headers": {}}})).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert!(cleared["target"].get("headers").is_none(), "{cleared}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn headers_are_sent_on_each_attempt_beside_the_signature() {
    // Arrange: the first attempt fails with a 500.
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let upstream = MockServer::start().await;
    // It quotes what it was sent, as some APIs' errors do.
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_string(format!("upstream broke; you sent Bearer {TOKEN}")),
        )
        .up_to_n_times(1)
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&upstream)
        .await;
    let app = spawn_manual(|c| c.secret_key = Some(KEY.into())).await;
    app.github_webhook("gh", "gh-secret").await;
    let mut command = dispatch_command(&upstream);
    command["target"]["secret"] = json!(WHSEC);
    app.add_command_ok("gh", command).await;

    // Act
    let event = label_and_send(&app).await;
    app.drain().await;

    // Assert: both attempts carried the token and the signature; the answer that quoted the
    // token is shown without it.
    let requests = upstream.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 2, "{requests:?}");
    let shown = app.event(&event).await;
    assert_eq!(shown["actions"][0]["status"], "delivered", "{shown}");
    assert!(shown.to_string().contains("upstream broke"), "{shown}");
    assert_hidden("the event's attempts", &shown.to_string());
    for (cell, value) in text_cells(&app.db_path) {
        assert_hidden(&cell, &value);
    }
    for request in &requests {
        assert_eq!(
            request.headers["authorization"],
            format!("Bearer {TOKEN}").as_str()
        );
        crate::helpers::verify_standard_request(request, WHSEC);
    }
}

#[tokio::test]
async fn headers_saved_without_a_key_are_sealed_at_start_and_follow_a_new_key() {
    // Arrange: a forward saved with no key.
    let upstream = github_api().await;
    let mut app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", "gh-secret").await;
    app.add_command_ok("gh", dispatch_command(&upstream)).await;
    app.stop().await;

    // Act: a start with a key, then one with another key and the first as previous.
    let mut app = app
        .restart_with(|c| {
            crate::helpers::manual_outbox(c);
            c.secret_key = Some(KEY.into());
        })
        .await;
    let sealed = text_cells(&app.db_path);
    app.stop().await;
    let app = app
        .restart_with(|c| {
            crate::helpers::manual_outbox(c);
            c.secret_key = Some(OTHER_KEY.into());
            c.previous_secret_keys = vec![KEY.into()];
        })
        .await;
    label_and_send(&app).await;

    // Assert: never plain in the database, and still sent as given.
    for (cell, value) in sealed.into_iter().chain(text_cells(&app.db_path)) {
        assert_hidden(&cell, &value);
    }
    let requests = upstream.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1, "{requests:?}");
}

#[tokio::test]
async fn a_config_file_s_forward_with_headers_is_kept_as_it_is_on_each_start() {
    // Arrange
    let upstream = github_api().await;
    let files = tempfile::tempdir().expect("config dir");
    let config = json!({
        "webhook_id": "gh", "name": "Deploys", "provider": "github", "secret": "gh-secret",
        "commands": [dispatch_command(&upstream)]
    });
    std::fs::write(files.path().join("gh.json"), config.to_string()).expect("write");
    let dir = files.path().to_path_buf();
    let app = spawn_manual(|c| {
        c.secret_key = Some(KEY.into());
        c.config_dir = Some(dir.clone());
    })
    .await;
    let (_, first) = app.get_json("/api/webhooks/gh/commands").await;

    // Act
    let app = app
        .restart_with(|c| {
            crate::helpers::manual_outbox(c);
            c.secret_key = Some(KEY.into());
            c.config_dir = Some(dir.clone());
        })
        .await;
    let (_, again) = app.get_json("/api/webhooks/gh/commands").await;
    label_and_send(&app).await;

    // Assert: the same command (its sealed values compared opened), which sends.
    assert_eq!(first["commands"][0]["id"], again["commands"][0]["id"]);
    assert_eq!(
        first["commands"][0]["updated_at"],
        again["commands"][0]["updated_at"]
    );
    assert_eq!(upstream.received_requests().await.map(|r| r.len()), Some(1));
}

#[tokio::test]
async fn bad_header_names_and_values_are_refused_naming_the_header_over_rest_and_mcp() {
    // Arrange
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", "gh-secret").await;
    let forward = |headers: Value| {
        json!({"trigger": "issues.labeled", "action": "forward",
               "target": {"url": "https://api.github.com/repos/o/r/dispatches", "headers": headers}})
    };
    let cases = [
        (json!({"Host": "evil.example"}), "target.headers.Host"),
        (
            json!({"Content-Length": "5"}),
            "target.headers.Content-Length",
        ),
        (
            json!({"webhook-signature": "v1,x"}),
            "target.headers.webhook-signature",
        ),
        (
            json!({"X-Webhook-Mcp-Hops": "0"}),
            "target.headers.X-Webhook-Mcp-Hops",
        ),
        (json!({"X Foo": "v"}), "target.headers.X Foo"),
        (
            json!({"X-Foo": "a\r\nX-Injected: 1"}),
            "target.headers.X-Foo",
        ),
        (json!({"X-Foo": "naïve"}), "target.headers.X-Foo"),
        (json!({"X-Foo": 5}), "target.headers.X-Foo"),
        (json!({"X-Foo": "********"}), "target.headers.X-Foo"),
        (json!({"X-Foo": "enc:v1:abc"}), "target.headers.X-Foo"),
        (json!(["Authorization"]), "target.headers"),
    ];
    let client = connect(&app).await;

    // Act + Assert
    for (headers, field) in cases {
        let refused = app
            .post_api("/api/webhooks/gh/commands", &forward(headers.clone()))
            .await;
        assert_error(&refused, StatusCode::BAD_REQUEST, Some(field));
        let mut args = forward(headers);
        args["webhook_id"] = json!("gh");
        let result = call(&client, "add_command", args).await;
        assert_eq!(result.is_error, Some(true), "{field}: {}", text(&result));
        assert!(text(&result).contains(field), "{field}: {}", text(&result));
    }
    let message = json!({"trigger": "issues.labeled", "action": "post_message", "template": "x",
        "target": {"url": "https://hooks.slack.com/services/T0/B0/abc", "headers": {"X-Foo": "v"}}});
    let refused = app.post_api("/api/webhooks/gh/commands", &message).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, Some("target.headers"));
    let said = refused.1["error"]["message"].as_str().unwrap_or_default();
    assert!(said.contains("only a forward"), "{said}");
    let (_, listed) = app.get_json("/api/webhooks/gh/commands").await;
    assert_eq!(listed["commands"], json!([]), "nothing was saved");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_forward_to_its_own_receiver_carrying_its_token_header_is_warned_of_as_a_loop() {
    // Arrange: a token-mode custom webhook, which takes its secret in `X-Webhook-Token`;
    // values sealed at rest.
    let token = "ct-token-0123456789abcdef";
    let app = spawn_manual(|c| c.secret_key = Some(KEY.into())).await;
    app.create_webhook(json!({"id": "ct", "name": "Custom", "provider": "custom",
        "secret": token, "options": {"custom": {"mode": "token"}}}))
        .await;
    let forward = |headers: Value| {
        json!({"trigger": "*", "action": "forward",
               "target": {"url": app.url("/webhooks/custom/ct"), "headers": headers}})
    };

    // Act: with the token header, without it, and the first updated as stored (sealed).
    let with = app
        .add_command_ok("ct", forward(json!({"X-Webhook-Token": token})))
        .await;
    let without = app
        .add_command_ok("ct", forward(json!({"X-Other": "value"})))
        .await;
    let at = format!(
        "/api/webhooks/ct/commands/{}",
        with["id"].as_str().expect("id")
    );
    let (status, updated) =
        send_json(app.api(Method::PUT, &at).json(&json!({"priority": 2}))).await;

    // Assert: the receiver's own check ran on the headers the forward would send.
    assert_eq!(status, StatusCode::OK, "{updated}");
    for command in [&with, &updated] {
        let warnings = command["warnings"].to_string();
        assert!(warnings.contains("the loop stops only after"), "{command}");
        assert!(!warnings.contains("rejects the forward"), "{command}");
        assert!(!warnings.contains(token), "{command}");
    }
    let warnings = without["warnings"].to_string();
    assert!(warnings.contains("rejects the forward"), "{without}");
}
