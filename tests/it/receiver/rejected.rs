//! What is kept of forged deliveries: the start of each body, and each webhook's newest
//! rejected only, so a stranger with the URL cannot fill the disk. Accepted events stay whole.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::SECRET;
use crate::helpers::{TestApp, delivery_id, spawn_app_with};

/// A GitHub `issues` body of about `size` bytes.
fn big_issue(size: usize) -> String {
    json!({"action": "opened", "issue": {"number": 1, "body": "x".repeat(size)},
           "repository": {"full_name": "octo/hello"}})
    .to_string()
}

async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    app.events(query)
        .await
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn forged_deliveries_keep_only_the_start_of_their_body_and_each_webhook_its_newest() {
    // Arrange: a webhook keeps its 3 newest rejected events.
    let app = spawn_app_with(|c| c.rejected_keep = 3).await;
    app.github_webhook("gh", SECRET).await;
    app.github_webhook("other", SECRET).await;
    let body = big_issue(65_000);
    let accepted = app
        .post_github("gh", "issues", &delivery_id(), &body, SECRET)
        .await;
    assert_eq!(accepted.status(), StatusCode::OK);
    let forged_elsewhere = app
        .post_github("other", "issues", &delivery_id(), &body, "forged")
        .await;
    assert_eq!(forged_elsewhere.status(), StatusCode::UNAUTHORIZED);

    // Act: six forged deliveries of the big body.
    for _ in 0..6 {
        let forged = app
            .post_github("gh", "issues", &delivery_id(), &body, "forged")
            .await;
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    }

    // Assert: the newest three are kept, each with the start of its body, its whole size and
    // digest; the accepted event and the other webhook's rejected one are untouched.
    let rejected = app.events("webhook_id=gh&status=rejected").await;
    assert_eq!(rejected.len(), 3, "{rejected:#?}");
    let event = app.event(rejected[0]["id"].as_str().expect("id")).await;
    assert_eq!(event["body_size"], 4096, "{}", event["body_size"]);
    assert_eq!(
        event["body_truncated"],
        json!({
            "received_size": body.len(),
            "received_sha256": hex::encode(Sha256::digest(body.as_bytes())),
        })
    );
    assert!(
        event["body_text"]
            .as_str()
            .is_some_and(|t| t.starts_with("{\"action\":\"opened\"")),
        "{}",
        event["body_text"]
    );

    let kept: Vec<Value> = app.events("webhook_id=gh&status=accepted").await;
    assert_eq!(kept.len(), 1);
    let whole = app.event(kept[0]["id"].as_str().expect("id")).await;
    assert_eq!(whole["body_size"], body.len());
    assert!(whole.get("body_truncated").is_none(), "{whole}");
    assert_eq!(
        whole["payload"]["issue"]["body"].as_str().map(str::len),
        Some(65_000)
    );

    assert_eq!(ids(&app, "webhook_id=other&status=rejected").await.len(), 1);
}

#[tokio::test]
async fn the_oldest_rejected_go_first_and_a_small_forged_body_is_kept_whole() {
    // Arrange
    let app = spawn_app_with(|c| c.rejected_keep = 2).await;
    app.github_webhook("gh", SECRET).await;
    let mut sent = Vec::new();

    // Act: three forged deliveries, each naming itself in a small body.
    for n in 0..3 {
        let body = json!({"action": "opened", "n": n}).to_string();
        let forged = app
            .post_github("gh", "issues", &delivery_id(), &body, "forged")
            .await;
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
        sent.push(body);
    }

    // Assert: the first one went; the other two are whole.
    let rejected = app.events("webhook_id=gh&status=rejected").await;
    let mut seen = Vec::new();
    for summary in &rejected {
        let event = app.event(summary["id"].as_str().expect("id")).await;
        assert!(event.get("body_truncated").is_none(), "{event}");
        seen.push(event["payload"]["n"].as_i64().expect("n"));
    }
    assert_eq!(seen, [2, 1], "newest first");
}
