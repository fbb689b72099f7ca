//! Moving to a new WEBHOOK_MCP_SECRET_KEY: a start with the old key in
//! WEBHOOK_MCP_PREVIOUS_SECRET_KEYS seals every stored secret again with the new key (or
//! stores it plain when no key is set), after which the old key is no longer needed.

use reqwest::{Method, StatusCode};
use serde_json::json;
use webhook_mcp::config::Config;
use webhook_mcp::service::sealing::Sealer;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, delivery_id, issue_opened, manual_outbox, send_json, spawn_manual,
    verify_standard_request,
};

const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const K2: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";
const K3: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
const OLD_SECRET: &str = "old-webhook-secret";
const NEW_SECRET: &str = "new-webhook-secret";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TOKEN: &str = "ghp_own_token";

/// Every place sealed values live, as `table.column`.
const PLACES: [&str; 5] = [
    "webhooks.secret",
    "webhooks.previous_secret",
    "webhooks.options",
    "commands.target",
    "outbox.delivery",
];

/// The forward's target and the webhook's own GitHub.
struct Fakes {
    target: MockServer,
    github: MockServer,
}

impl Fakes {
    async fn start() -> Fakes {
        let (target, github) = (MockServer::start().await, MockServer::start().await);
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&target)
            .await;
        Mock::given(method("POST"))
            .and(path("/repos/octo/app/issues/7/comments"))
            .respond_with(ResponseTemplate::new(201).set_body_json(
                json!({"id": 1, "html_url": "https://github.com/octo/app/issues/7#issuecomment-1"}),
            ))
            .mount(&github)
            .await;
        Fakes { target, github }
    }

    /// Manual outbox, the fakes reachable, and the keys.
    fn config(&self, key: Option<&str>, previous: &[&str]) -> impl FnOnce(&mut Config) + '_ {
        let key = key.map(String::from);
        let previous: Vec<String> = previous.iter().map(|k| k.to_string()).collect();
        move |c| {
            manual_outbox(c);
            c.allowed_target_hosts
                .push(self.target.address().to_string());
            c.allowed_target_hosts
                .push(self.github.address().to_string());
            c.secret_key = key;
            c.previous_secret_keys = previous;
        }
    }

    /// Checks what reached the fakes since the last call: `n` forwards signed with the
    /// forward's secret and `n` comments made with the webhook's own token.
    async fn assert_sent(&self, n: usize) {
        let forwards = self.target.received_requests().await.expect("recorded");
        let comments = self.github.received_requests().await.expect("recorded");
        assert_eq!((forwards.len(), comments.len()), (n, n));
        for forward in &forwards {
            verify_standard_request(forward, WHSEC);
        }
        for comment in &comments {
            assert_eq!(
                comment.headers["authorization"],
                format!("Bearer {TOKEN}").as_str()
            );
        }
        self.target.reset().await;
        self.github.reset().await;
    }
}

/// A webhook with its own GitHub token and a rotated secret (the old one still in its grace
/// period), a forward with a signing secret and a comment, and an event whose two actions are
/// queued: a value of every kind sealed with `key`.
async fn seal_everything(fakes: &Fakes, key: &str) -> TestApp {
    let app = spawn_manual(fakes.config(Some(key), &[])).await;
    app.create_webhook(json!({"id": "gh", "name": "g", "provider": "github",
        "secret": OLD_SECRET, "options": {"credentials": {
            "github_api_url": fakes.github.uri(), "github_token": TOKEN}}}))
        .await;
    let (rotated, answer) = send_json(
        app.api(Method::POST, "/api/webhooks/gh/rotate-secret")
            .json(&json!({"secret": NEW_SECRET, "grace_period_secs": 86400})),
    )
    .await;
    assert_eq!(rotated, StatusCode::OK, "{answer}");
    for command in [
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": format!("{}/in", fakes.target.uri()), "secret": WHSEC}}),
        json!({"trigger": "issues.opened", "action": "comment", "template": "Hi"}),
    ] {
        app.add_command_ok("gh", command).await;
    }
    assert_eq!(deliver(&app, NEW_SECRET).await, StatusCode::OK);
    app
}

async fn deliver(app: &TestApp, secret: &str) -> StatusCode {
    let body = issue_opened("octo/app", 7, &[]);
    app.post_github("gh", "issues", &delivery_id(), &body, secret)
        .await
        .status()
}

/// Every sealed-looking value anywhere in the database, with the `table.column` holding it.
fn sealed_values(db: &std::path::Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (column, text) in crate::helpers::text_cells(db) {
        for (at, _) in text.match_indices("enc:v1:") {
            let value: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "+/=:".contains(*c))
                .collect();
            found.push((column.clone(), value));
        }
    }
    found
}

#[tokio::test]
async fn a_previous_key_moves_every_stored_secret_to_the_new_key_which_then_serves_alone() {
    // Arrange: every kind of value sealed with K1.
    let fakes = Fakes::start().await;
    let app = seal_everything(&fakes, K1).await;
    let before = sealed_values(&app.db_path);

    // Act: K2, with K1 as the previous key; the actions queued under K1 are sent.
    let mut app = app.restart_with(fakes.config(Some(K2), &[K1])).await;
    let sent = app.drain().await;
    let old_still_verifies = deliver(&app, OLD_SECRET).await;
    app.stop().await;
    let after = sealed_values(&app.db_path);

    // Assert: each kind was found sealed with K1 and now opens with K2 only.
    assert_eq!(sent, 2);
    fakes.assert_sent(1).await;
    assert_eq!(old_still_verifies, StatusCode::OK);
    let (k1, k2) = (
        Sealer::new(Some(K1)).expect("key"),
        Sealer::new(Some(K2)).expect("key"),
    );
    for place in PLACES {
        assert!(
            before.iter().any(|(p, v)| p == place && k1.open(v).is_ok()),
            "nothing sealed in {place}: {before:?}"
        );
        assert!(after.iter().any(|(p, _)| p == place), "{place}: {after:?}");
    }
    for (place, value) in &after {
        assert!(
            k2.open(value).is_ok(),
            "{place} is not sealed with K2: {value}"
        );
        assert!(
            !before.iter().any(|(_, v)| v == value),
            "{place} kept {value}"
        );
    }

    // Act: K2 alone serves; K3 alone is refused.
    let mut app = app.restart_with(fakes.config(Some(K2), &[])).await;
    let new_verifies = deliver(&app, NEW_SECRET).await;
    let old_verifies = deliver(&app, OLD_SECRET).await;
    let sent = app.drain().await;
    app.stop().await;
    let mut config = Config::for_tests(app.db_path.clone());
    config.secret_key = Some(K3.into());
    let refused = match webhook_mcp::app::build(config).await {
        Ok(_) => panic!("started with a key that opens nothing"),
        Err(e) => format!("{e:#}"),
    };

    // Assert
    assert_eq!(
        (new_verifies, old_verifies),
        (StatusCode::OK, StatusCode::OK)
    );
    // The action queued by the old secret's delivery under K2 with K1, and these four.
    assert_eq!(sent, 6);
    fakes.assert_sent(3).await;
    assert!(
        refused.contains("`gh`") && refused.contains("WEBHOOK_MCP_PREVIOUS_SECRET_KEYS"),
        "{refused}"
    );
}

#[tokio::test]
async fn without_a_key_previous_keys_store_the_secrets_plain_again() {
    // Arrange
    let fakes = Fakes::start().await;
    let app = seal_everything(&fakes, K1).await;

    // Act: no key, K1 as the previous one; then neither.
    let mut app = app.restart_with(fakes.config(None, &[K1])).await;
    let sent = app.drain().await;
    app.stop().await;
    let left = sealed_values(&app.db_path);
    let mut app = app.restart_with(fakes.config(None, &[])).await;
    let old_verifies = deliver(&app, OLD_SECRET).await;
    let new_verifies = deliver(&app, NEW_SECRET).await;
    let sent_plain = app.drain().await;
    app.stop().await;

    // Assert
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(sent, 2);
    assert_eq!(
        (old_verifies, new_verifies),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(sent_plain, 4);
    fakes.assert_sent(3).await;
    let conn = rusqlite::Connection::open(&app.db_path).expect("open db");
    let (secret, previous): (String, String) = conn
        .query_row(
            "SELECT secret, previous_secret FROM webhooks WHERE id = 'gh'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!(
        (secret.as_str(), previous.as_str()),
        (NEW_SECRET, OLD_SECRET)
    );
}

#[tokio::test]
async fn a_malformed_previous_key_or_the_key_itself_is_refused_at_start() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (Some(K1), vec!["not-a-key"]),
        (Some(K1), vec![K2, K1]),
        (None, vec!["abc"]),
    ];

    // Act
    let mut refusals = Vec::new();
    for (key, previous) in cases {
        let mut config = Config::for_tests(dir.path().join("app.db"));
        config.secret_key = key.map(String::from);
        config.previous_secret_keys = previous.iter().map(|k| k.to_string()).collect();
        refusals.push(match webhook_mcp::app::build(config).await {
            Ok(_) => panic!("started with {previous:?}"),
            Err(e) => format!("{e:#}"),
        });
    }

    // Assert: the setting is named, the keys are not echoed.
    for refused in &refusals {
        assert!(
            refused.contains("WEBHOOK_MCP_PREVIOUS_SECRET_KEYS"),
            "{refused}"
        );
        assert!(
            !refused.contains(K1) && !refused.contains("not-a-key"),
            "{refused}"
        );
    }
    assert!(refusals[1].contains("key 2 of 2"), "{}", refusals[1]);
}
