//! For action tests: an app whose outbox the test drives by hand (worker off, retries due at
//! once), commands added over REST, senders for Jira and Slack forms, and reading an event's
//! actions and tasks.

use std::sync::Arc;

use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use webhook_mcp::config::Config;

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
            self.api(Method::POST, &format!("/api/webhooks/{webhook_id}/commands"))
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

    /// POSTs a Jira admin webhook signed `X-Hub-Signature: sha256=<hex>`.
    pub async fn post_jira(&self, webhook_id: &str, body: &str, secret: &str) -> Response {
        self.client
            .post(self.url(&format!("/webhooks/jira/{webhook_id}")))
            .header("Content-Type", "application/json")
            .header("X-Atlassian-Webhook-Identifier", uuid::Uuid::new_v4().to_string())
            .header("X-Hub-Signature", github_signature(secret, body.as_bytes()))
            .body(body.to_string())
            .send()
            .await
            .expect("POST to receiver")
    }

    /// POSTs a Slack slash command: a signed `application/x-www-form-urlencoded` body.
    pub async fn post_slack_form(&self, webhook_id: &str, fields: &[(&str, &str)], secret: &str) -> Response {
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

/// The `event_id` of a receiver answer; panics unless 200 `accepted`.
pub async fn accepted(response: Response) -> String {
    let (status, answer) = super::read_json(response).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "accepted", "{answer}");
    answer["event_id"].as_str().expect("event_id").to_string()
}
