//! Secrets at rest: with WEBHOOK_MCP_SECRET_KEY, webhook secrets and reply credentials are
//! stored encrypted, still verify deliveries, and are never shown back.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{issue_opened, send_json, spawn_app_with};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[tokio::test]
async fn secrets_and_tokens_are_sealed_in_the_database_and_masked_in_answers() {
    // Arrange
    let app = spawn_app_with(|c| c.secret_key = Some(KEY.into())).await;
    app.create_webhook(json!({"id": "gh", "name": "g", "provider": "github",
        "secret": "s3cr3t-value", "options": {"credentials": {"github_token": "ghp_sealme"}}}))
        .await;

    // Act: a delivery signed with the plain secret, then an update that sends the mask back.
    let body = issue_opened("o/r", 1, &[]);
    let delivered = app
        .post_github("gh", "issues", "d-1", &body, "s3cr3t-value")
        .await;
    let (_, shown) = app.get_json("/api/webhooks/gh").await;
    let (status, updated) = send_json(app.api(Method::PUT, "/api/webhooks/gh").json(&json!({
        "options": {"credentials": {"github_token": "********", "jira_email": "ops@example.com"}}
    })))
    .await;

    // Assert
    assert_eq!(delivered.status(), StatusCode::OK);
    assert_eq!(shown["options"]["credentials"]["github_token"], "********");
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        updated["options"]["credentials"]["github_token"],
        "********"
    );
    let conn = rusqlite::Connection::open(&app.db_path).expect("open db");
    let (secret, options): (String, String) = conn
        .query_row(
            "SELECT secret, options FROM webhooks WHERE id = 'gh'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert!(secret.starts_with("enc:v1:"), "{secret}");
    assert!(!secret.contains("s3cr3t"));
    assert!(!options.contains("ghp_sealme"), "{options}");
    assert!(
        options.contains("enc:v1:"),
        "the kept token is still sealed: {options}"
    );
    // The mask did not replace the stored token: the sealed value opens to the original.
    let sealer = webhook_mcp::service::sealing::Sealer::new(Some(KEY)).expect("key");
    let stored: serde_json::Value = serde_json::from_str(&options).expect("json");
    let token = stored["credentials"]["github_token"]
        .as_str()
        .expect("token");
    assert_eq!(sealer.open(token).as_deref(), Ok("ghp_sealme"));
}

#[tokio::test]
async fn an_update_of_some_options_keeps_the_others_and_a_null_removes_one() {
    // Arrange
    let app = spawn_app_with(|c| c.secret_key = Some(KEY.into())).await;
    app.create_webhook(json!({"id": "gh", "name": "g", "provider": "github",
        "secret": "s3cr3t-value", "options": {
            "credentials": {"github_token": "ghp_kept"},
            "rate_limit": {"per_second": 5, "burst": 20},
            "ip_allowlist": ["127.0.0.0/8"]}}))
        .await;

    // Act: change the rate limit only, then remove the allowlist.
    let (limited, _) = send_json(app.api(Method::PUT, "/api/webhooks/gh").json(&json!({
        "options": {"rate_limit": {"per_second": 9}}
    })))
    .await;
    let (opened, shown) = send_json(app.api(Method::PUT, "/api/webhooks/gh").json(&json!({
        "options": {"ip_allowlist": null}
    })))
    .await;

    // Assert
    assert_eq!(
        (limited, opened),
        (StatusCode::OK, StatusCode::OK),
        "{shown}"
    );
    let options = &shown["options"];
    assert_eq!(options["rate_limit"], json!({"per_second": 9}));
    assert!(
        options.get("ip_allowlist").is_none_or(|v| v.is_null()),
        "{options}"
    );
    assert_eq!(
        options["credentials"]["github_token"], "********",
        "{options}"
    );
    let conn = rusqlite::Connection::open(&app.db_path).expect("open db");
    let stored: String = conn
        .query_row("SELECT options FROM webhooks WHERE id = 'gh'", [], |r| {
            r.get(0)
        })
        .expect("row");
    let stored: serde_json::Value = serde_json::from_str(&stored).expect("json");
    let sealer = webhook_mcp::service::sealing::Sealer::new(Some(KEY)).expect("key");
    let token = stored["credentials"]["github_token"]
        .as_str()
        .expect("token");
    assert_eq!(sealer.open(token).as_deref(), Ok("ghp_kept"));
}

#[tokio::test]
async fn a_changed_api_base_url_needs_its_token_given_again() {
    // Arrange
    let app = spawn_app_with(|c| c.secret_key = Some(KEY.into())).await;
    app.create_webhook(json!({"id": "gh", "name": "g", "provider": "github",
        "options": {"credentials": {"github_token": "ghp_kept",
            "github_api_url": "https://ghe.example.com/api/v3"}}}))
        .await;
    let update = |credentials: serde_json::Value| {
        send_json(
            app.api(Method::PUT, "/api/webhooks/gh")
                .json(&json!({"options": {"credentials": credentials}})),
        )
    };

    // Act
    let moved = update(json!({"github_api_url": "https://elsewhere.example.net/api"})).await;
    let masked = update(
        json!({"github_api_url": "https://elsewhere.example.net/api",
        "github_token": "********"}),
    )
    .await;
    let regiven = update(json!({"github_api_url": "https://ghe2.example.com/api/v3",
        "github_token": "ghp_new"}))
    .await;
    let token_only = update(json!({"github_token": "ghp_newer"})).await;
    // Removing the URL would send the token to the server's own GITHUB_API_URL.
    let removed = update(json!({"github_api_url": null})).await;
    let removed_with_token = update(json!({"github_api_url": null, "github_token": null})).await;

    // Assert
    for refused in [&moved, &masked, &removed] {
        assert_eq!(refused.0, StatusCode::BAD_REQUEST, "{}", refused.1);
        assert_eq!(
            refused.1["error"]["field"],
            "options.credentials.github_token"
        );
    }
    assert_eq!(regiven.0, StatusCode::OK, "{}", regiven.1);
    assert_eq!(token_only.0, StatusCode::OK, "{}", token_only.1);
    assert_eq!(
        token_only.1["options"]["credentials"]["github_api_url"],
        "https://ghe2.example.com/api/v3"
    );
    let message = removed.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("GITHUB_API_URL"), "{}", removed.1);
    assert_eq!(
        removed_with_token.0,
        StatusCode::OK,
        "{}",
        removed_with_token.1
    );
    let left = &removed_with_token.1["options"]["credentials"];
    assert!(left["github_token"].is_null(), "{left}");
    assert!(left["github_api_url"].is_null(), "{left}");
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_refused_at_start_naming_the_webhooks() {
    // Arrange: a webhook sealed with KEY.
    let mut app = spawn_app_with(|c| c.secret_key = Some(KEY.into())).await;
    app.create_webhook(json!({"id": "gh", "name": "g", "provider": "github"}))
        .await;
    app.stop().await;
    let other = "ff".repeat(32);

    // Act
    let mut refusals = Vec::new();
    for key in [None, Some(other.as_str())] {
        let mut config = webhook_mcp::config::Config::for_tests(app.db_path.clone());
        config.secret_key = key.map(String::from);
        match webhook_mcp::app::build(config).await {
            Ok(_) => panic!("started with key {key:?}"),
            Err(e) => refusals.push(format!("{e:#}")),
        }
    }
    let app = app.restart_with(|c| c.secret_key = Some(KEY.into())).await;
    let (status, listed) = app.get_json("/api/webhooks").await;

    // Assert: both refused, saying which webhook and what to set; the right key serves.
    for refused in &refusals {
        assert!(
            refused.contains("`gh`") && refused.contains("WEBHOOK_MCP_SECRET_KEY"),
            "{refused}"
        );
    }
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["webhooks"][0]["id"], "gh");
}

#[tokio::test]
async fn values_in_the_sealed_form_are_refused_as_secrets_and_tokens() {
    // Arrange: sealing off, where such a value would be taken for a sealed one.
    let app = spawn_app_with(|_| {}).await;

    // Act
    let secret = send_json(
        app.api(Method::POST, "/api/webhooks")
            .json(&json!({"name": "g", "provider": "github", "secret": "enc:v1:looks-sealed"})),
    )
    .await;
    let token = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "name": "g", "provider": "github",
        "options": {"credentials": {"github_token": "enc:v1:looks-sealed"}}})))
    .await;
    let (_, listed) = app.get_json("/api/webhooks").await;

    // Assert
    crate::helpers::assert_error(&secret, StatusCode::BAD_REQUEST, Some("secret"));
    crate::helpers::assert_error(
        &token,
        StatusCode::BAD_REQUEST,
        Some("options.credentials.github_token"),
    );
    assert_eq!(listed["webhooks"], json!([]));
}

#[tokio::test]
async fn a_forwards_signing_secret_is_sealed_in_its_command_and_outbox_and_still_signs() {
    // Arrange
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let target = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&target)
        .await;
    let app = crate::helpers::spawn_manual(|c| c.secret_key = Some(KEY.into())).await;
    app.github_webhook("gh", "gh-secret").await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": format!("{}/in", target.uri()), "secret": WHSEC}}),
    )
    .await;

    // Act
    let body = issue_opened("octo/app", 3, &[]);
    let sent = app
        .post_github("gh", "issues", "d-fwd", &body, "gh-secret")
        .await;
    assert_eq!(sent.status(), StatusCode::OK);
    let attempts = app.drain().await;

    // Assert: signed with the secret, which the database holds only sealed.
    assert_eq!(attempts, 1);
    let requests = target.received_requests().await.expect("recorded");
    let (_, forwarded) = crate::helpers::verify_standard_request(&requests[0], WHSEC);
    assert_eq!(forwarded, body);
    let db = rusqlite::Connection::open(&app.db_path).expect("open db");
    let stored: String = db
        .query_row(
            "SELECT (SELECT group_concat(target) FROM commands) || \
             (SELECT group_concat(delivery) FROM outbox)",
            [],
            |r| r.get(0),
        )
        .expect("rows");
    assert!(!stored.contains("MfKQ9r8"), "{stored}");
    assert!(stored.contains("enc:v1:"), "{stored}");
}

#[tokio::test]
async fn a_forwards_secret_saved_before_the_key_is_sealed_by_any_later_update() {
    // Arrange: a forward saved without a key, then the key set.
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let mut app = crate::helpers::spawn_manual(|_| {}).await;
    app.github_webhook("gh", "gh-secret").await;
    let command = app
        .add_command_ok(
            "gh",
            json!({"trigger": "issues.opened", "action": "forward",
                   "target": {"url": "https://hooks.example.com/in", "secret": WHSEC}}),
        )
        .await;
    let id = command["id"].as_str().expect("id").to_string();
    app.stop().await;
    let app = app.restart_with(|c| c.secret_key = Some(KEY.into())).await;

    // Act: an update that leaves the target as it was.
    let (status, updated) = send_json(
        app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{id}"))
            .json(&json!({"priority": 5})),
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{updated}");
    let db = rusqlite::Connection::open(&app.db_path).expect("open db");
    let target: String = db
        .query_row("SELECT target FROM commands", [], |r| r.get(0))
        .expect("row");
    assert!(!target.contains("MfKQ9r8"), "{target}");
    assert!(target.contains("enc:v1:"), "{target}");
}
