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

#[tokio::test]
async fn metrics_show_how_long_commits_and_syncs_took() {
    // Arrange: every accepted delivery is one write, committed and synced.
    let app = spawn_app().await;
    app.github_webhook("gh", "s").await;
    let body = issue_opened("o/r", 1, &[]);
    for n in 0..3 {
        app.post_github("gh", "issues", &format!("d-{n}"), &body, "s")
            .await;
    }

    // Act
    let text = app.metrics_text().await;

    // Assert: both histograms count every commit and sync, and their +Inf bucket agrees.
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in {text}"))
    };
    for (histogram, total) in [
        (
            "webhook_mcp_store_commit_duration_seconds",
            "webhook_mcp_store_commits_total",
        ),
        (
            "webhook_mcp_store_sync_duration_seconds",
            "webhook_mcp_store_syncs_total",
        ),
    ] {
        assert!(
            text.contains(&format!("# TYPE {histogram} histogram")),
            "{text}"
        );
        let count = value(&format!("{histogram}_count"));
        assert!(count >= 3.0, "{histogram}: {count} in {text}");
        assert_eq!(count, value(total), "{histogram} counts every one");
        assert_eq!(count, value(&format!("{histogram}_bucket{{le=\"+Inf\"}}")));
    }
}

#[tokio::test]
async fn metrics_show_every_status_and_a_task_whose_lease_ran_out_as_queued() {
    // Arrange: a task claimed by an outside agent whose lease has since run out.
    let (llm, github) = (
        crate::helpers::fake_llm(vec![crate::helpers::llm_answer("unused")]).await,
        crate::helpers::fake_github().await,
    );
    let app = crate::helpers::agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&crate::helpers::open_issue(&app, 7, "Stuck").await)
        .await;
    let (claimed, task) = app
        .post_api(
            "/api/tasks/claim",
            &json!({"owner": "outside", "agent": "planning"}),
        )
        .await;
    assert_eq!(claimed, StatusCode::OK, "{task}");
    crate::helpers::set_lease_until(&app, &task_id, 1);

    // Act
    let text = app.metrics_text().await;
    let (_, listed) = app.get_json("/api/tasks?status=queued").await;

    // Assert: as the API lists it; statuses nothing has are shown at 0.
    assert_eq!(listed["tasks"][0]["id"], task_id.as_str(), "{listed}");
    for line in [
        "webhook_mcp_tasks{status=\"queued\"} 1",
        "webhook_mcp_tasks{status=\"running\"} 0",
        "webhook_mcp_webhooks{status=\"disabled\"} 0",
        "webhook_mcp_actions{status=\"dead\"} 0",
        "webhook_mcp_events{status=\"failed\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
}
