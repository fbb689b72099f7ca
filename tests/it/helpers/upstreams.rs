//! For action tests: an app whose outbox the test drives by hand (worker off, retries due at
//! once), commands added over REST, senders for Jira and Slack forms, and reading an event's
//! actions and tasks.

use std::sync::Arc;

use reqwest::{Method, Response, StatusCode};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use webhook_mcp::config::Config;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{TestApp, github_signature, now_secs, send_json, slack_signature, spawn_app_with};

/// Worker off (the test drains the outbox itself) and two retries due at once.
pub fn manual_outbox(config: &mut Config) {
    config.worker = false;
    config.retry_schedule = vec!["0s".into(), "0s".into()];
}

/// An app with a manual outbox and whatever upstreams `adjust` points at the fakes.
pub async fn spawn_manual(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(|config| {
        manual_outbox(config);
        adjust(config);
    })
    .await
}

impl TestApp {
    /// Adds a command to a webhook over REST; panics unless 201. Returns the command.
    pub async fn add_command_ok(&self, webhook_id: &str, body: Value) -> Value {
        let (status, json) = send_json(
            self.api(
                Method::POST,
                &format!("/api/webhooks/{webhook_id}/commands"),
            )
            .json(&body),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "add command: {json}");
        json
    }

    /// Sends every due action, as the worker would; returns how many attempts were made.
    pub async fn drain(&self) -> usize {
        webhook_mcp::worker::drain(&self.state)
            .await
            .expect("drain the outbox")
    }

    /// POSTs to an API path with a JSON body; returns status and JSON answer.
    pub async fn post_api(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        send_json(self.api(Method::POST, path).json(body)).await
    }

    /// The event's actions (`actions` of `GET /api/events/{id}`).
    pub async fn actions_of(&self, event_id: &str) -> Vec<Value> {
        let event = self.event(event_id).await;
        event["actions"].as_array().expect("actions array").clone()
    }

    /// Stops this app and starts a new one on the same database with an adjusted config
    /// (`restart` uses the defaults, whose worker is on).
    pub async fn restart_with(mut self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        self.stop().await;
        super::spawn_on(Arc::clone(&self.dir), adjust).await
    }

    /// A second server on this one's database, as a `webhook-mcp stdio` beside `serve` would
    /// be: its own writer and connections, so the two contend for SQLite's write lock.
    pub async fn beside(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        super::spawn_on(Arc::clone(&self.dir), adjust).await
    }

    /// POSTs a Jira admin webhook signed `X-Hub-Signature: sha256=<hex>`.
    pub async fn post_jira(&self, webhook_id: &str, body: &str, secret: &str) -> Response {
        self.client
            .post(self.url(&format!("/webhooks/jira/{webhook_id}")))
            .header("Content-Type", "application/json")
            .header(
                "X-Atlassian-Webhook-Identifier",
                uuid::Uuid::new_v4().to_string(),
            )
            .header("X-Hub-Signature", github_signature(secret, body.as_bytes()))
            .body(body.to_string())
            .send()
            .await
            .expect("POST to receiver")
    }

    /// Creates the Linear webhook `lin` (secret `lin-secret`) and adds `command` to it.
    pub async fn linear_webhook_with(&self, command: Value) {
        self.create_webhook(
            json!({"id": "lin", "name": "Linear", "provider": "linear", "secret": "lin-secret"}),
        )
        .await;
        self.add_command_ok("lin", command).await;
    }

    /// POSTs a Linear webhook signed `Linear-Signature: <hex HMAC-SHA256 of the body>`, its
    /// `webhookTimestamp` now, as Linear sends it.
    pub async fn post_linear(&self, webhook_id: &str, body: &Value, secret: &str) -> Response {
        let mut body = body.clone();
        body["webhookTimestamp"] = json!(webhook_mcp::clock::now_ms());
        let kind = body["type"].as_str().unwrap_or_default().to_string();
        let body = body.to_string();
        let signature = github_signature(secret, body.as_bytes());
        self.client
            .post(self.url(&format!("/webhooks/linear/{webhook_id}")))
            .header("Content-Type", "application/json")
            .header("Linear-Delivery", uuid::Uuid::new_v4().to_string())
            .header("Linear-Event", kind)
            .header("Linear-Signature", signature.trim_start_matches("sha256="))
            .body(body)
            .send()
            .await
            .expect("POST to receiver")
    }

    /// POSTs a Slack slash command: a signed `application/x-www-form-urlencoded` body.
    pub async fn post_slack_form(
        &self,
        webhook_id: &str,
        fields: &[(&str, &str)],
        secret: &str,
    ) -> Response {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let ts = now_secs();
        self.client
            .post(self.url(&format!("/webhooks/slack/{webhook_id}")))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Slack-Request-Timestamp", ts.to_string())
            .header("X-Slack-Signature", slack_signature(secret, ts, &body))
            .body(body)
            .send()
            .await
            .expect("POST to receiver")
    }
}

/// The `event_id` of a receiver answer; panics unless 200 `accepted`. A Slack form's
/// answer is empty, its receipt in headers.
pub async fn accepted(response: Response) -> String {
    if let Some(event_id) = response.headers().get("x-webhook-event-id") {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-webhook-status"], "accepted");
        return event_id.to_str().expect("event id").to_string();
    }
    let (status, answer) = super::read_json(response).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "accepted", "{answer}");
    answer["event_id"].as_str().expect("event_id").to_string()
}

/// `POST {at}` on the fake answers `response` once, then falls through to mocks mounted after.
pub async fn answer_once(server: &MockServer, at: &str, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(response)
        .up_to_n_times(1)
        .expect(1)
        .mount(server)
        .await;
}

/// `POST {at}` with exactly this JSON body answers `response`, `times` times in the test.
pub async fn expect_post(
    server: &MockServer,
    at: &str,
    body: Value,
    response: ResponseTemplate,
    times: u64,
) {
    Mock::given(method("POST"))
        .and(path(at))
        .and(body_json(body))
        .respond_with(response)
        .expect(times)
        .mount(server)
        .await;
}

/// An app with a manual outbox and an MCP client on it, through which `text` is queued with
/// `post_message` to the Open WebUI channel at `url`. The app, the client, the tool's answer
/// and the action's id.
pub async fn posted_over_mcp(
    url: String,
    text: &str,
) -> (TestApp, crate::mcp::Client, CallToolResult, String) {
    let app = spawn_manual(|_| {}).await;
    let client = crate::mcp::connect(&app).await;
    let posted = crate::mcp::call(&client, "post_message", json!({"url": url, "text": text})).await;
    let action_id = crate::mcp::structured(&posted)["id"]
        .as_str()
        .expect("action id")
        .to_string();
    (app, client, posted, action_id)
}

/// Points the GitHub connector at a fake, with token `ghp_test`.
pub fn use_github(github: &MockServer) -> impl FnOnce(&mut Config) + '_ {
    move |config| {
        config.upstreams.github_api_url = github.uri();
        config.upstreams.github_token = Some("ghp_test".into());
    }
}

/// Points Slack replies at `slack`, with the bot token `xoxb-test`.
pub fn use_slack(slack: &MockServer) -> impl FnOnce(&mut Config) + '_ {
    move |config| {
        config.upstreams.slack_api_url = slack.uri();
        config.upstreams.slack_bot_token = Some("xoxb-test".into());
    }
}

/// Points Linear replies at `{linear}/graphql`, with the API key `lin_api_test`.
pub fn use_linear(linear: &MockServer) -> impl FnOnce(&mut Config) + '_ {
    move |config| {
        config.upstreams.linear_api_url = format!("{}/graphql", linear.uri());
        config.upstreams.linear_api_key = Some("lin_api_test".into());
    }
}

/// Points Jira replies at `jira`, with Basic auth `bot@example.com:atl-token`.
pub fn use_jira(jira: &MockServer) -> impl FnOnce(&mut Config) + '_ {
    move |config| {
        config.upstreams.jira_base_url = Some(jira.uri());
        config.upstreams.jira_email = Some("bot@example.com".into());
        config.upstreams.jira_api_token = Some("atl-token".into());
    }
}

/// A GitHub `issue_comment.created` body on `octo/app` issue `number`, with a comment id of
/// its own (as GitHub's are: the service knows its own comments coming back by their ids).
pub fn issue_comment(number: u64, title: &str, login: &str, body: &str) -> String {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(9_000_000);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({
        "action": "created",
        "issue": {"number": number, "title": title, "user": {"login": "octocat"}},
        "comment": {"id": id, "body": body, "user": {"login": login, "type": "User"}},
        "repository": {"full_name": "octo/app"},
        "sender": {"login": login, "type": "User"},
    })
    .to_string()
}

/// A Slack Events API `message` in a public channel, inside a thread.
pub fn slack_thread_message(channel: &str, text: &str) -> String {
    json!({
        "type": "event_callback", "team_id": "T1",
        "event_id": format!("Ev{}", uuid::Uuid::new_v4().simple()),
        "event": {"type": "message", "channel": channel, "channel_type": "channel",
                  "user": "U1", "text": text, "ts": "1700000000.000200",
                  "thread_ts": "1700000000.000100"},
    })
    .to_string()
}

/// A task's conversation (JSON text), read straight from the database.
pub fn task_conversation(app: &TestApp, task_id: &str) -> String {
    let db = rusqlite::Connection::open(&app.db_path).expect("open the database");
    db.query_row(
        "SELECT conversation FROM tasks WHERE id = ?1",
        [task_id],
        |r| r.get(0),
    )
    .expect("task row")
}

/// Checks a request a forward target received the Standard Webhooks way: `webhook-id`,
/// `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}"
/// keyed with the base64-decoded secret>`. Returns the id and the body.
pub fn verify_standard_request(req: &wiremock::Request, secret: &str) -> (String, String) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let header = |name: &str| {
        req.headers
            .get(name)
            .unwrap_or_else(|| panic!("{name} header missing"))
            .to_str()
            .expect("ASCII header")
            .to_string()
    };
    let (id, ts, sig) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let body = String::from_utf8(req.body.clone()).expect("UTF-8 body");
    let key = b64
        .decode(secret.trim_start_matches("whsec_"))
        .expect("whsec_ secret is base64");
    let mac = super::hmac_sha256(&key, format!("{id}.{ts}.{body}").as_bytes());
    assert_eq!(sig, format!("v1,{}", b64.encode(mac)), "signature verifies");
    (id, body)
}
