//! What senders do: sign bodies the way each provider does and POST them to the receiver,
//! plus the sample bodies the tests send.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{TestApp, read_json};

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `sha256=<hex>` as GitHub sends it.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body))
    )
}

/// `v0=<hex>` over `v0:{ts}:{body}`, as Slack sends it.
pub fn slack_signature(secret: &str, ts: i64, body: &str) -> String {
    let base = format!("v0:{ts}:{body}");
    format!(
        "v0={}",
        hex::encode(hmac_sha256(secret.as_bytes(), base.as_bytes()))
    )
}

/// `v1,<base64>` over `{id}.{ts}.{body}` with the base64-decoded `whsec_` key.
pub fn standard_signature(secret: &str, id: &str, ts: i64, body: &str) -> String {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("whsec_ secret is base64");
    let signed = format!("{id}.{ts}.{body}");
    let mac = hmac_sha256(&key, signed.as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    )
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A GitHub `issues.opened` body for `repo` issue `number`, optionally labelled.
pub fn issue_opened(repo: &str, number: u64, labels: &[&str]) -> String {
    let labels: Vec<Value> = labels.iter().map(|l| json!({"name": l})).collect();
    json!({
        "action": "opened",
        "issue": {
            "number": number,
            "title": format!("Issue {number}"),
            "body": "Something is broken",
            "labels": labels,
            "user": {"login": "octocat"},
        },
        "repository": {"full_name": repo, "name": repo.split('/').nth(1).unwrap_or(repo)},
        "sender": {"login": "octocat"},
    })
    .to_string()
}

/// A fresh delivery id, as GitHub sends a GUID.
pub fn delivery_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl TestApp {
    /// POSTs a GitHub delivery signed with `secret` (`X-Hub-Signature-256: sha256=<hex>`).
    pub async fn post_github(
        &self,
        webhook_id: &str,
        event: &str,
        delivery: &str,
        body: &str,
        secret: &str,
    ) -> Response {
        self.client
            .post(self.url(&format!("/webhooks/github/{webhook_id}")))
            .header("Content-Type", "application/json")
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .header(
                "X-Hub-Signature-256",
                github_signature(secret, body.as_bytes()),
            )
            .body(body.to_string())
            .send()
            .await
            .expect("POST to receiver")
    }

    /// Sends GitHub webhook `webhook_id` a delivery signed with the wrong secret, which it keeps
    /// as rejected; that event's id.
    pub async fn forged_github(&self, webhook_id: &str) -> String {
        let forged = self
            .post_github(webhook_id, "issues", &delivery_id(), "{}", "not-the-secret")
            .await;
        assert_eq!(forged.status(), reqwest::StatusCode::UNAUTHORIZED);
        self.events("status=rejected").await[0]["id"]
            .as_str()
            .expect("rejected event")
            .to_string()
    }

    /// Sends signed GitHub `issues` deliveries `(delivery id, body)` at once, each from its
    /// own task, and returns the answers in the same order.
    pub async fn post_github_all_at_once(
        &self,
        webhook_id: &str,
        deliveries: Vec<(String, String)>,
        secret: &str,
    ) -> Vec<(StatusCode, Value)> {
        let url = self.url(&format!("/webhooks/github/{webhook_id}"));
        let tasks: Vec<_> = deliveries
            .into_iter()
            .map(|(delivery, body)| {
                let request = self
                    .client
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .header("X-GitHub-Event", "issues")
                    .header("X-GitHub-Delivery", delivery)
                    .header(
                        "X-Hub-Signature-256",
                        github_signature(secret, body.as_bytes()),
                    )
                    .body(body);
                tokio::spawn(async move { read_json(request.send().await.expect("POST")).await })
            })
            .collect();
        let mut answers = Vec::with_capacity(tasks.len());
        for task in tasks {
            answers.push(task.await.expect("delivery task"));
        }
        answers
    }

    /// Sends `n` distinct signed GitHub deliveries at once and returns their event ids;
    /// panics unless every answer is 200 accepted.
    pub async fn post_github_concurrently(
        &self,
        webhook_id: &str,
        n: usize,
        secret: &str,
    ) -> Vec<String> {
        let deliveries = (0..n)
            .map(|i| (delivery_id(), issue_opened("octo/load", i as u64, &[])))
            .collect();
        let answers = self
            .post_github_all_at_once(webhook_id, deliveries, secret)
            .await;
        answers
            .into_iter()
            .map(|(status, answer)| {
                assert_eq!(status, StatusCode::OK, "{answer}");
                assert_eq!(answer["status"], "accepted", "{answer}");
                answer["event_id"].as_str().expect("event_id").to_string()
            })
            .collect()
    }
}

/// An Open WebUI 0.12 `user.created` event as it sends it (from /work/shared/openwebui-samples).
pub const OPENWEBUI_USER_CREATED: &str = r#"{
  "schema": "0.12.4",
  "id": "0e6d48ba-037e-40c1-bc15-a72df1c7b183",
  "event": "user.created",
  "resource": "user",
  "operation": "created",
  "created_at": 1795369391,
  "instance_id": "f9b3bbbf-bb16-4b21-a679-cbcf04cf98a5",
  "version": "0.12.4",
  "source": "api",
  "actor": {
    "id": "5eb8d70a-cc59-46aa-a255-76af4cebf9bc",
    "name": "Harness Admin",
    "email": "admin@example.com",
    "role": "admin",
    "created_at": 1795369391,
    "updated_at": 1795369391,
    "type": "user"
  },
  "subject": {
    "type": "user",
    "id": "5eb8d70a-cc59-46aa-a255-76af4cebf9bc"
  },
  "data": {
    "role": "admin"
  },
  "message": null
}"#;

impl TestApp {
    /// POSTs a Slack request signed with the v0 scheme over `v0:{ts}:{body}`, ts = now.
    pub async fn post_slack(&self, webhook_id: &str, body: &str, secret: &str) -> Response {
        self.post_slack_at(webhook_id, body, secret, now_secs())
            .await
    }

    /// As `post_slack`, with the given request timestamp.
    pub async fn post_slack_at(
        &self,
        webhook_id: &str,
        body: &str,
        secret: &str,
        ts: i64,
    ) -> Response {
        self.client
            .post(self.url(&format!("/webhooks/slack/{webhook_id}")))
            .header("Content-Type", "application/json")
            .header("X-Slack-Request-Timestamp", ts.to_string())
            .header("X-Slack-Signature", slack_signature(secret, ts, body))
            .body(body.to_string())
            .send()
            .await
            .expect("POST to receiver")
    }

    /// POSTs a Standard Webhooks message (`webhook-id`, `webhook-timestamp` = now,
    /// `webhook-signature: v1,<base64>`).
    pub async fn post_standard(
        &self,
        webhook_id: &str,
        msg_id: &str,
        body: &str,
        secret: &str,
    ) -> Response {
        let ts = now_secs();
        self.client
            .post(self.url(&format!("/webhooks/standard-webhooks/{webhook_id}")))
            .header("Content-Type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", ts.to_string())
            .header(
                "webhook-signature",
                standard_signature(secret, msg_id, ts, body),
            )
            .body(body.to_string())
            .send()
            .await
            .expect("POST to receiver")
    }

    /// POSTs a GitLab hook with its `X-Gitlab-Token`.
    pub async fn post_gitlab(&self, webhook_id: &str, body: &Value, token: &str) -> Response {
        self.client
            .post(self.url(&format!("/webhooks/gitlab/{webhook_id}")))
            .header("X-Gitlab-Token", token)
            .header("X-Gitlab-Event", "Issue Hook")
            .json(body)
            .send()
            .await
            .expect("POST to receiver")
    }
}
