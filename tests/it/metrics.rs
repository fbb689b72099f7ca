//! `GET /metrics`: Prometheus text behind the API key.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{issue_opened, spawn_app};

#[tokio::test]
async fn metrics_count_events_and_webhooks_for_key_holders_only() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", "s").await;
    let body = issue_opened("o/r", 1, &[]);
    app.post_github("gh", "issues", "d-1", &body, "s").await;
    app.post_github("gh", "issues", "d-2", &body, "wrong").await;

    // Act
    let with_key = app
        .api(Method::GET, "/metrics")
        .send()
        .await
        .expect("GET /metrics");
    let status = with_key.status();
    let text = with_key.text().await.expect("text");
    let without = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("GET");

    // Assert
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("webhook_mcp_events{status=\"accepted\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("webhook_mcp_events{status=\"rejected\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("webhook_mcp_webhooks{status=\"enabled\"} 1"),
        "{text}"
    );
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);

    // A read-only key may scrape.
    let (_, key) = crate::helpers::send_json(
        app.api(Method::POST, "/api/keys")
            .json(&json!({"name": "prometheus", "scope": "read"})),
    )
    .await;
    let read = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(key["key"].as_str().expect("key"))
        .send()
        .await
        .expect("GET");
    assert_eq!(read.status(), StatusCode::OK);
}
