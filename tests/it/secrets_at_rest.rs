//! Secrets at rest: with WEBHOOK_MCP_SECRET_KEY, webhook secrets, reply credentials and target
//! URLs that are credentials are stored encrypted, still verify deliveries (or send), and are
//! never shown back. A secret a rotation replaced is deleted once its grace period has ended.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{issue_opened, send_json, spawn_app, spawn_app_with};

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

/// The previous secret and when it stops verifying, as stored for webhook `id`.
fn stored_previous(db: &std::path::Path, id: &str) -> (Option<String>, Option<i64>) {
    let conn = rusqlite::Connection::open(db).expect("open db");
    conn.query_row(
        "SELECT previous_secret, previous_expires_at FROM webhooks WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .expect("row")
}

#[tokio::test]
async fn a_rotated_out_secret_is_deleted_from_the_database_once_its_grace_has_ended() {
    // Arrange: two rotations, one whose old secret verifies for one more second, one for an
    // hour; then that second passes.
    let app = spawn_app().await;
    let old = "the-old-secret-0123456789";
    for id in ["gh-short", "gh-long"] {
        app.github_webhook(id, old).await;
    }
    let rotate = |id: &str, grace_period_secs: i64| {
        send_json(
            app.api(Method::POST, &format!("/api/webhooks/{id}/rotate-secret"))
                .json(&json!({"grace_period_secs": grace_period_secs})),
        )
    };
    let (short, rotated) = rotate("gh-short", 1).await;
    assert_eq!(short, StatusCode::OK, "{rotated}");
    let (long, rotated) = rotate("gh-long", 3600).await;
    assert_eq!(long, StatusCode::OK, "{rotated}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, ended) = app.get_json("/api/webhooks/gh-short").await;
    let (_, running) = app.get_json("/api/webhooks/gh-long").await;
    let body = issue_opened("o/r", 1, &[]);
    let refused = app
        .post_github("gh-short", "issues", "d-1", &body, old)
        .await
        .status();

    // Act: a restart, where the sweep runs at once (no retention set)
    let app = app.restart().await;
    let mut waited = 0;
    while stored_previous(&app.db_path, "gh-short").0.is_some() {
        assert!(waited < 100, "the ended secret was never deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }

    // Assert: the ended one is shown nowhere, refused, and then gone from the row with its
    // time; the one still in its grace stays, and still verifies.
    assert!(ended.get("previous_secret_expires_at").is_none(), "{ended}");
    assert!(
        running["previous_secret_expires_at"].is_string(),
        "{running}"
    );
    assert_eq!(refused, StatusCode::UNAUTHORIZED);
    assert_eq!(stored_previous(&app.db_path, "gh-short"), (None, None));
    let (kept, until) = stored_previous(&app.db_path, "gh-long");
    assert_eq!(kept.as_deref(), Some(old));
    assert!(until.is_some());
    let verified = app
        .post_github("gh-long", "issues", "d-2", &body, old)
        .await
        .status();
    assert_eq!(verified, StatusCode::OK);
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
async fn a_start_refused_for_many_unopenable_secrets_names_a_few_and_counts_them_all() {
    // Arrange: 14 webhooks sealed with KEY.
    let mut app = spawn_app_with(|c| c.secret_key = Some(KEY.into())).await;
    for n in 0..14 {
        app.create_webhook(json!({"id": format!("gh{n:02}"), "name": "g", "provider": "github"}))
            .await;
    }
    app.stop().await;

    // Act
    let config = webhook_mcp::config::Config::for_tests(app.db_path.clone());
    let refused = match webhook_mcp::app::build(config).await {
        Ok(_) => panic!("started without the key"),
        Err(e) => format!("{e:#}"),
    };

    // Assert
    assert!(refused.contains("`gh00`"), "{refused}");
    assert!(!refused.contains("`gh13`"), "{refused}");
    assert!(refused.contains("and 4 more (14 in all)"), "{refused}");
}

#[tokio::test]
async fn a_blank_credential_is_refused_on_create_and_update_and_the_stored_one_kept() {
    // Arrange: a webhook with its own token (a blank one would be sent in place of it, or of
    // the server's GITHUB_TOKEN).
    let app = spawn_app_with(|_| {}).await;
    app.create_webhook(json!({"id": "gh", "name": "g", "provider": "github",
        "options": {"credentials": {"github_token": "ghp_own"}}}))
        .await;

    // Act
    let created = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "name": "g2", "provider": "github",
        "options": {"credentials": {"github_token": ""}}})))
    .await;
    let updated = send_json(
        app.api(Method::PUT, "/api/webhooks/gh")
            .json(&json!({"options": {"credentials": {"github_token": " "}}})),
    )
    .await;

    // Assert
    for refused in [&created, &updated] {
        crate::helpers::assert_error(
            refused,
            StatusCode::BAD_REQUEST,
            Some("options.credentials.github_token"),
        );
    }
    let (_, shown) = app.get_json("/api/webhooks/gh").await;
    assert_eq!(
        shown["options"]["credentials"]["github_token"], "********",
        "{shown}"
    );
    let (_, listed) = app.get_json("/api/webhooks").await;
    assert_eq!(listed["webhooks"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_token_no_request_could_carry_is_refused_naming_it() {
    // Arrange
    let app = spawn_app_with(|_| {}).await;
    app.create_webhook(json!({"id": "gh", "name": "g", "provider": "github"}))
        .await;

    for (field, token) in [
        ("github_token", " ghp_padded0123 "),
        ("gitlab_token", "glpat-line\nbreak"),
        ("jira_api_token", "tab\tinside"),
        ("slack_bot_token", "xoxb-\u{dc}nicode"),
    ] {
        // Act
        let refused = send_json(
            app.api(Method::PUT, "/api/webhooks/gh")
                .json(&json!({"options": {"credentials": {field: token}}})),
        )
        .await;

        // Assert
        crate::helpers::assert_error(
            &refused,
            StatusCode::BAD_REQUEST,
            Some(&format!("options.credentials.{field}")),
        );
    }
    let kept = send_json(
        app.api(Method::PUT, "/api/webhooks/gh")
            .json(&json!({"options": {"credentials": {"github_token": "ghp_Fine-0123_x"}}})),
    )
    .await;
    assert_eq!(kept.0, StatusCode::OK, "{}", kept.1);
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
async fn a_forwards_secret_saved_before_the_key_is_sealed_at_start_and_through_an_update() {
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

/// A Slack incoming webhook's path: its last segment is the credential to post there.
const SLACK_PATH: &str = "/services/T0SEALED/B0SEALED/slackPathSecret0123456789";
const FORWARD_PASSWORD: &str = "fwdPa55word";
const FORWARD_TOKEN: &str = "fwdQueryToken42";

/// A fake taking a Slack channel's messages at `SLACK_PATH` and forwards at `/fwd` with the
/// token in their query.
async fn url_upstream() -> wiremock::MockServer {
    use wiremock::matchers::{method, path, query_param};
    let upstream = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("POST"))
        .and(path(SLACK_PATH))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&upstream)
        .await;
    wiremock::Mock::given(method("POST"))
        .and(path("/fwd"))
        .and(query_param("token", FORWARD_TOKEN))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&upstream)
        .await;
    upstream
}

/// A manual outbox reaching `upstream`, with the keys given.
fn url_config(
    upstream: &wiremock::MockServer,
    key: Option<&str>,
    previous: &[&str],
) -> impl FnOnce(&mut webhook_mcp::config::Config) {
    let address = upstream.address().to_string();
    let key = key.map(String::from);
    let previous: Vec<String> = previous.iter().map(|k| k.to_string()).collect();
    move |c| {
        crate::helpers::manual_outbox(c);
        c.allowed_target_hosts.push(address);
        c.secret_key = key;
        c.previous_secret_keys = previous;
    }
}

/// A GitHub webhook `gh` with a post_message to a Slack channel and a forward whose URL
/// carries a password and a token (wiremock's host is no Slack host: the kind is named).
async fn url_commands(app: &crate::helpers::TestApp, upstream: &wiremock::MockServer) {
    app.github_webhook("gh", "gh-secret").await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "post_message",
               "template": "Opened {{issue.title}}",
               "target": {"url": format!("{}{SLACK_PATH}", upstream.uri()), "kind": "slack"}}),
    )
    .await;
    let address = upstream.address();
    let forward =
        format!("http://hooks:{FORWARD_PASSWORD}@{address}/fwd?token={FORWARD_TOKEN}&v=1");
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "forward", "target": {"url": forward}}),
    )
    .await;
}

/// Sends an issue event to `gh` and drains the outbox; returns what the upstream received
/// for it, as `path?query`.
async fn deliver_to_urls(
    app: &crate::helpers::TestApp,
    upstream: &wiremock::MockServer,
) -> Vec<String> {
    let before = upstream.received_requests().await.expect("recorded").len();
    send_issue(app, "gh", "gh-secret", 5).await;
    assert_eq!(app.drain().await, 2);
    let mut got: Vec<String> = upstream.received_requests().await.expect("recorded")[before..]
        .iter()
        .map(|r| format!("{}?{}", r.url.path(), r.url.query().unwrap_or_default()))
        .collect();
    got.sort();
    got
}

/// Sends issue `number`'s `issues.opened` to webhook `hook`, signed with `secret`; it must be
/// taken.
async fn send_issue(app: &crate::helpers::TestApp, hook: &str, secret: &str, number: u64) {
    let body = issue_opened("octo/app", number, &[]);
    let sent = app
        .post_github(
            hook,
            "issues",
            &crate::helpers::delivery_id(),
            &body,
            secret,
        )
        .await;
    assert_eq!(sent.status(), StatusCode::OK);
}

/// A forward URL to `upstream`'s `/fwd` with a password and a query token in it.
fn password_forward(upstream: &wiremock::MockServer) -> String {
    format!(
        "http://hooks:{FORWARD_PASSWORD}@{}/fwd?token={FORWARD_TOKEN}",
        upstream.address()
    )
}

/// Each text column of every table holding one of `needles`, as `table.column`.
fn columns_holding(db: &std::path::Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (column, text) in crate::helpers::text_cells(db) {
        if needles.iter().any(|n| text.contains(n)) {
            found.push(column);
        }
    }
    found
}

/// Updates each command of `gh`, as listed, with the body made of it; each must succeed.
async fn update_each_command(
    app: &crate::helpers::TestApp,
    body_of: impl Fn(&serde_json::Value) -> serde_json::Value,
) {
    let (_, listed) = app.get_json("/api/webhooks/gh/commands").await;
    for command in listed["commands"].as_array().expect("commands") {
        let path = format!(
            "/api/webhooks/gh/commands/{}",
            command["id"].as_str().expect("id")
        );
        let (status, updated) =
            send_json(app.api(Method::PUT, &path).json(&body_of(command))).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
    }
}

/// The commands' targets as `GET /api/webhooks/gh/commands` shows them, by action.
async fn shown_targets(app: &crate::helpers::TestApp) -> Vec<(String, serde_json::Value)> {
    let (status, listed) = app.get_json("/api/webhooks/gh/commands").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let mut targets: Vec<(String, serde_json::Value)> = listed["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap_or_default().to_string(),
                c["target"].clone(),
            )
        })
        .collect();
    targets.sort_by(|a, b| a.0.cmp(&b.0));
    targets
}

const SECRET_PARTS: [&str; 3] = ["slackPathSecret0123456789", FORWARD_PASSWORD, FORWARD_TOKEN];

#[tokio::test]
async fn channel_and_credential_urls_are_sealed_at_rest_shown_masked_and_still_send() {
    // Arrange: the same commands with a key and without one.
    const K2: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";
    let upstream = url_upstream().await;
    let app = crate::helpers::spawn_manual(url_config(&upstream, Some(KEY), &[])).await;
    url_commands(&app, &upstream).await;
    let plain = crate::helpers::spawn_manual(url_config(&upstream, None, &[])).await;
    url_commands(&plain, &upstream).await;
    let expected = vec![
        "/fwd?token=fwdQueryToken42&v=1".to_string(),
        SLACK_PATH.to_string() + "?",
    ];

    // Act: an event sent; the listing written back as shown; the key rotated.
    let sent = deliver_to_urls(&app, &upstream).await;
    let shown = shown_targets(&app).await;
    update_each_command(
        &app,
        |command| json!({"target": command["target"], "priority": 3}),
    )
    .await;
    let written_back = deliver_to_urls(&app, &upstream).await;
    let leaked = columns_holding(&app.db_path, &SECRET_PARTS);
    let sealed = columns_holding(&app.db_path, &["enc:v1:"]);
    let app = app
        .restart_with(url_config(&upstream, Some(K2), &[KEY]))
        .await;
    let rotated = deliver_to_urls(&app, &upstream).await;

    // Assert: sent to the real URLs every time, never stored plain, shown as without a key.
    assert_eq!(sent, expected);
    assert_eq!(written_back, expected);
    assert_eq!(rotated, expected);
    assert_eq!(leaked, Vec::<String>::new());
    for place in ["commands.target", "outbox.delivery"] {
        assert!(
            sealed.iter().any(|s| s == place),
            "{place} not sealed: {sealed:?}"
        );
    }
    assert_eq!(shown, shown_targets(&plain).await);
    let shown_text = serde_json::to_string(&shown).expect("json");
    assert!(!shown_text.contains("enc:v1:"), "{shown_text}");
    assert!(
        shown_text.contains("/services/T0SEALED/B0SEALED/***"),
        "{shown_text}"
    );
    assert!(shown_text.contains("token=***"), "{shown_text}");
    assert_eq!(
        columns_holding(&app.db_path, &SECRET_PARTS),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_url_saved_before_the_key_is_sealed_through_an_update_and_then_needs_the_key() {
    // Arrange: a channel message saved without a key (the webhook's secret stays plain).
    let upstream = url_upstream().await;
    let mut app = crate::helpers::spawn_manual(url_config(&upstream, None, &[])).await;
    url_commands(&app, &upstream).await;
    app.stop().await;
    let app = app
        .restart_with(url_config(&upstream, Some(KEY), &[]))
        .await;

    // Act: updates that leave the targets as they were; then a start without the key.
    update_each_command(&app, |_| json!({"priority": 5})).await;
    let leaked = columns_holding(&app.db_path, &SECRET_PARTS);
    let sent = deliver_to_urls(&app, &upstream).await;
    let mut app = app;
    app.stop().await;
    let config = webhook_mcp::config::Config::for_tests(app.db_path.clone());
    let refused = match webhook_mcp::app::build(config).await {
        Ok(_) => panic!("started without the key"),
        Err(e) => format!("{e:#}"),
    };

    // Assert
    assert_eq!(leaked, Vec::<String>::new());
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        refused.contains("`gh`") && refused.contains("WEBHOOK_MCP_SECRET_KEY"),
        "{refused}"
    );
}

#[tokio::test]
async fn values_stored_before_the_key_are_sealed_at_the_first_start_with_it() {
    // Arrange: without a key, webhooks with a secret and a token, commands with credential
    // URLs and a signing secret, actions sent and actions still queued.
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let upstream = url_upstream().await;
    wiremock::Mock::given(wiremock::matchers::path("/signed"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&upstream)
        .await;
    let mut app = crate::helpers::spawn_manual(url_config(&upstream, None, &[])).await;
    url_commands(&app, &upstream).await;
    app.create_webhook(json!({"id": "gl", "name": "g", "provider": "github",
        "secret": "gl-secret-value", "options": {"credentials": {"github_token": "ghp_plainBeforeKey"}}}))
        .await;
    app.add_command_ok(
        "gl",
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": format!("{}/signed", upstream.uri()), "secret": WHSEC}}),
    )
    .await;
    let expected = deliver_to_urls(&app, &upstream).await;
    for (hook, secret) in [("gh", "gh-secret"), ("gl", "gl-secret-value")] {
        send_issue(&app, hook, secret, 9).await;
    }
    let body = issue_opened("octo/app", 9, &[]);
    let needles: Vec<&str> = SECRET_PARTS
        .into_iter()
        .chain(["MfKQ9r8", "ghp_plainBeforeKey", "gl-secret-value"])
        .collect();
    let plain_before = columns_holding(&app.db_path, &needles);
    app.stop().await;

    // Act: a start with the key; the queued actions sent; a new event. Then a start that
    // takes the key off (as a previous key), and one that sets it again.
    let app = app
        .restart_with(url_config(&upstream, Some(KEY), &[]))
        .await;
    let leaked = columns_holding(&app.db_path, &needles);
    let secrets: Vec<String> = rusqlite::Connection::open(&app.db_path)
        .expect("open db")
        .prepare("SELECT secret FROM webhooks ORDER BY id")
        .expect("query")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("secrets");
    let sent_queued = app.drain().await;
    let signed = upstream
        .received_requests()
        .await
        .expect("recorded")
        .into_iter()
        .filter(|r| r.url.path() == "/signed")
        .collect::<Vec<_>>();
    let after = deliver_to_urls(&app, &upstream).await;
    let app = app.restart_with(url_config(&upstream, None, &[KEY])).await;
    let opened_again = columns_holding(&app.db_path, &needles);
    let app = app
        .restart_with(url_config(&upstream, Some(KEY), &[]))
        .await;
    let sealed_again = columns_holding(&app.db_path, &needles);

    // Assert: nothing readable once the key is set, and everything still verifies and sends.
    for place in [
        "webhooks.secret",
        "webhooks.options",
        "commands.target",
        "outbox.delivery",
    ] {
        assert!(
            plain_before.iter().any(|p| p == place),
            "{place} was not plain before: {plain_before:?}"
        );
    }
    assert_eq!(leaked, Vec::<String>::new());
    assert_eq!(secrets.len(), 2);
    assert!(
        secrets.iter().all(|s| s.starts_with("enc:v1:")),
        "{secrets:?}"
    );
    assert_eq!(
        sent_queued, 3,
        "the queued post, forward and signed forward"
    );
    assert_eq!(signed.len(), 1, "the queued signed forward: {signed:?}");
    let (_, forwarded) = crate::helpers::verify_standard_request(&signed[0], WHSEC);
    assert_eq!(forwarded, body);
    assert_eq!(after, expected);
    assert!(!opened_again.is_empty(), "the previous key opened nothing");
    assert_eq!(sealed_again, Vec::<String>::new());
}

#[tokio::test]
async fn what_a_process_without_the_key_saves_beside_one_with_it_is_sealed_at_the_next_start() {
    // Arrange: a process without the key keeps running while one with it starts.
    let upstream = url_upstream().await;
    let mut plain = crate::helpers::spawn_manual(url_config(&upstream, None, &[])).await;
    let mut keyed = plain.beside(url_config(&upstream, Some(KEY), &[])).await;

    // Act: the keyless one saves a webhook and a forward, and queues one; both stop, and the
    // one with the key starts again.
    plain
        .create_webhook(json!({"id": "late", "name": "l", "provider": "github",
            "secret": "late-plain-secret"}))
        .await;
    plain
        .add_command_ok(
            "late",
            json!({"trigger": "issues.opened", "action": "forward",
                   "target": {"url": password_forward(&upstream)}}),
        )
        .await;
    send_issue(&plain, "late", "late-plain-secret", 2).await;
    let needles = [FORWARD_PASSWORD, FORWARD_TOKEN, "late-plain-secret"];
    let left_plain = columns_holding(&plain.db_path, &needles);
    plain.stop().await;
    let keyed = {
        keyed.stop().await;
        keyed
            .restart_with(url_config(&upstream, Some(KEY), &[]))
            .await
    };
    let sent = keyed.drain().await;

    // Assert
    assert!(
        left_plain.iter().any(|c| c == "outbox.delivery"),
        "{left_plain:?}"
    );
    assert_eq!(
        columns_holding(&keyed.db_path, &needles),
        Vec::<String>::new()
    );
    assert_eq!(sent, 1);
    let forwarded = upstream.received_requests().await.expect("recorded");
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0].url.query(), Some("token=fwdQueryToken42"));
}

#[tokio::test]
async fn a_plain_action_taking_the_rowid_of_a_deleted_newest_one_is_still_sealed() {
    // Arrange: a process without the key queues forwards; one with the key starts beside it
    // and seals them; the newest is deleted, as the retention sweep may.
    let upstream = url_upstream().await;
    let mut plain = crate::helpers::spawn_manual(url_config(&upstream, None, &[])).await;
    plain.github_webhook("early", "early-secret").await;
    plain
        .add_command_ok(
            "early",
            json!({"trigger": "issues.opened", "action": "forward",
                   "target": {"url": password_forward(&upstream)}}),
        )
        .await;
    for n in 1..=3 {
        send_issue(&plain, "early", "early-secret", n).await;
    }
    let mut keyed = plain.beside(url_config(&upstream, Some(KEY), &[])).await;
    let db = rusqlite::Connection::open(&plain.db_path).expect("open db");
    db.execute(
        "DELETE FROM outbox WHERE rowid = (SELECT max(rowid) FROM outbox)",
        [],
    )
    .expect("delete the newest");
    let newest_before: i64 = db
        .query_row("SELECT max(rowid) FROM outbox", [], |r| r.get(0))
        .expect("rowid");

    // Act: the keyless process queues one more, which takes the freed rowid; both stop and
    // the one with the key starts again.
    send_issue(&plain, "early", "early-secret", 9).await;
    let newest: i64 = db
        .query_row("SELECT max(rowid) FROM outbox", [], |r| r.get(0))
        .expect("rowid");
    drop(db);
    plain.stop().await;
    keyed.stop().await;
    let keyed = keyed
        .restart_with(url_config(&upstream, Some(KEY), &[]))
        .await;

    // Assert
    assert_eq!(newest, newest_before + 1, "the freed rowid is taken again");
    assert_eq!(
        columns_holding(&keyed.db_path, &[FORWARD_PASSWORD, FORWARD_TOKEN]),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_target_url_in_the_sealed_form_is_refused() {
    // Arrange
    let app = crate::helpers::spawn_manual(|c| c.secret_key = Some(KEY.into())).await;
    app.github_webhook("gh", "gh-secret").await;

    // Act
    let added = send_json(
        app.api(Method::POST, "/api/webhooks/gh/commands")
            .json(&json!({
        "trigger": "issues.opened", "action": "post_message", "template": "x",
        "target": {"url": "enc:v1:bG9va3Mtc2VhbGVk", "kind": "slack"}})),
    )
    .await;

    // Assert
    crate::helpers::assert_error(&added, StatusCode::BAD_REQUEST, Some("target.url"));
    assert!(added.1.to_string().contains("enc:v1:"), "{}", added.1);
}

#[tokio::test]
async fn an_agents_channel_url_is_sealed_in_the_outbox_and_still_posts_its_result() {
    // Arrange: an agent whose result goes to an Open WebUI channel, with a key set.
    const CHANNEL_PATH: &str = "/api/v1/channels/webhooks/c1/chanTok0123456789";
    let channel = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(CHANNEL_PATH))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({"success": true, "message_id": "m-1"})),
        )
        .mount(&channel)
        .await;
    let (llm, github) = (
        crate::helpers::fake_llm(vec![crate::helpers::llm_answer("P1, team auth")]).await,
        crate::helpers::fake_github().await,
    );
    let config = crate::helpers::agent_config(&llm, &github);
    let agents = json!([{"name": "triage", "result": "post_message",
                         "target": {"url": format!("{}{CHANNEL_PATH}", channel.uri()),
                                    "kind": "openwebui"}}]);
    let app = spawn_app_with(move |c| {
        config(c);
        c.agents.agents = Some(agents.to_string());
        c.secret_key = Some(KEY.into());
    })
    .await;
    app.github_webhook("gh", crate::helpers::GH_SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "triage",
               "template": "Triage {{ issue.title }}"}),
    )
    .await;
    let event_id = crate::helpers::open_issue(&app, 29, "Login").await;
    app.task_id_of(&event_id).await;

    // Act
    let runner = crate::helpers::runner_of(&app);
    let ran = crate::helpers::run_next(&app, &runner).await;
    let queued = columns_holding(&app.db_path, &["chanTok0123456789"]);
    app.drain().await;

    // Assert: posted at the channel's URL, which the outbox held only sealed.
    assert_eq!(ran.map(|r| r.1).as_deref(), Some("done"));
    let posts = channel.received_requests().await.expect("recorded");
    assert_eq!(posts.len(), 1);
    assert_eq!(queued, Vec::<String>::new());
    assert!(
        columns_holding(&app.db_path, &["enc:v1:"])
            .iter()
            .any(|c| c == "outbox.delivery")
    );
}

#[tokio::test]
async fn a_queued_message_sealed_with_the_key_refuses_a_start_without_it() {
    // Arrange: a channel message posted by hand (no webhook, no command holds its URL) and
    // still queued when the server stops.
    let upstream = url_upstream().await;
    let mut app = crate::helpers::spawn_manual(url_config(&upstream, Some(KEY), &[])).await;
    let (status, queued) = send_json(app.api(Method::POST, "/api/messages").json(&json!({
        "url": format!("{}{SLACK_PATH}", upstream.uri()),
        "kind": "slack",
        "text": "deploy finished",
    })))
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    app.stop().await;

    // Act
    let config = webhook_mcp::config::Config::for_tests(app.db_path.clone());
    let refused = match webhook_mcp::app::build(config).await {
        Ok(_) => panic!("started without the key"),
        Err(e) => format!("{e:#}"),
    };

    // Assert: said at start, naming the action, rather than the message dying when its turn
    // comes.
    let action = queued["id"].as_str().expect("action id");
    assert!(
        refused.contains(action) && refused.contains("WEBHOOK_MCP_SECRET_KEY"),
        "{refused}"
    );
}

/// The bytes of the database file and its WAL, if any.
fn file_bytes(db: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(db).expect("read db");
    if let Ok(wal) = std::fs::read(db.with_extension("db-wal")) {
        bytes.extend(wal);
    }
    bytes
}

fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn a_deleted_webhooks_secret_is_not_left_readable_in_the_database_file() {
    // Arrange: no secret key, so the secret is stored as given.
    let mut app = spawn_app_with(|_| {}).await;
    let secret = "zeroed-on-delete-5b1f0c";
    app.create_webhook(json!({"id": "gone", "name": "g", "provider": "github",
        "secret": secret}))
        .await;
    app.create_webhook(json!({"id": "kept", "name": "k", "provider": "github"}))
        .await;

    // Act
    let deleted = app
        .api(Method::DELETE, "/api/webhooks/gone")
        .send()
        .await
        .expect("delete");
    app.stop().await;

    // Assert: after a clean stop (the WAL folded into the file), no free page still holds it.
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let bytes = file_bytes(&app.db_path);
    assert!(holds(&bytes, "kept"), "the file is read as it is on disk");
    assert!(
        !holds(&bytes, secret),
        "the deleted secret is still in the file"
    );
}
