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

/// A count of `webhook_mcp_deliveries_total` in a scrape.
fn deliveries(text: &str, outcome: &str) -> u64 {
    let series = format!("webhook_mcp_deliveries_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series)?.parse().ok())
        .unwrap_or_else(|| panic!("no {series}in:\n{text}"))
}

#[tokio::test]
async fn every_answer_of_the_receiver_is_counted_by_its_outcome() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // Arrange: a webhook for each way a delivery goes, a small body limit and a short time.
    let app = crate::helpers::spawn_app_with(|c| {
        c.max_body_bytes = 4096;
        c.request_timeout_secs = 2;
    })
    .await;
    let fresh = app.metrics_text().await;
    app.github_webhook("gh", "s").await;
    for (id, options) in [
        ("rl", json!({"rate_limit": {"per_second": 1, "burst": 1}})),
        ("fw", json!({"ip_allowlist": ["192.0.2.0/24"]})),
        ("off", json!({})),
    ] {
        app.create_webhook(
            json!({"id": id, "name": id, "provider": "github", "secret": "s", "options": options}),
        )
        .await;
    }
    app.api(Method::POST, "/api/webhooks/off/disable")
        .send()
        .await
        .expect("disable");
    app.create_webhook(json!({"id": "sl", "name": "sl", "provider": "slack", "secret": "sl"}))
        .await;
    let body = issue_opened("o/r", 1, &[]);

    // Act: each kind of request, and its answer.
    let mut answered = Vec::new();
    for (id, delivery, secret) in [
        ("gh", "d-1", "s"),
        ("gh", "d-1", "s"),
        ("gh", "d-2", "wrong"),
        ("nowhere", "d-3", "s"),
        ("off", "d-4", "s"),
        ("fw", "d-5", "s"),
        ("rl", "d-6", "s"),
        ("rl", "d-7", "s"),
    ] {
        answered.push(
            app.post_github(id, "issues", delivery, &body, secret)
                .await
                .status(),
        );
    }
    answered.push(
        app.post_github("gh", "issues", "d-8", "not JSON", "s")
            .await
            .status(),
    );
    answered.push(
        app.post_github("gh", "issues", "d-9", &"x".repeat(5000), "s")
            .await
            .status(),
    );
    let compressed = app
        .client
        .post(app.url("/webhooks/github/gh"))
        .header("Content-Encoding", "gzip")
        .body("\x1f\u{8b}")
        .send()
        .await
        .expect("POST");
    answered.push(compressed.status());
    let opened_in_a_browser = app
        .client
        .get(app.url("/webhooks/github/gh"))
        .send()
        .await
        .expect("GET");
    answered.push(opened_in_a_browser.status());
    let challenge = json!({"type": "url_verification", "challenge": "c-1"}).to_string();
    answered.push(app.post_slack("sl", &challenge, "sl").await.status());
    // Every byte of bodies this client may hold, held: the next is told to come back.
    let budget = webhook_mcp::service::limits::buffer_budget(app.state.config.max_body_bytes);
    let held = app
        .state
        .limits
        .hold("127.0.0.1".parse().expect("address"), budget / 4)
        .expect("a share");
    answered.push(
        app.post_github("gh", "issues", "d-10", &body, "s")
            .await
            .status(),
    );
    drop(held);
    // A body that stops coming.
    let mut slow = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    slow.write_all(
        b"POST /webhooks/github/gh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{",
    )
    .await
    .expect("send");
    let mut late = vec![0; 12];
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        slow.read_exact(&mut late),
    )
    .await
    .expect("answered within 10 s")
    .expect("read");
    let text = app.metrics_text().await;

    // Assert
    assert_eq!(
        answered,
        [
            200, 200, 401, 404, 404, 403, 200, 429, 400, 413, 415, 405, 200, 503
        ]
        .map(|s| { StatusCode::from_u16(s).expect("status") })
    );
    assert_eq!(String::from_utf8_lossy(&late), "HTTP/1.1 408");
    assert!(
        text.contains(
            "# TYPE webhook_mcp_deliveries_total counter\nwebhook_mcp_deliveries_total{outcome="
        ),
        "{text}"
    );
    for (outcome, count) in [
        ("accepted", 2),
        ("duplicate", 1),
        ("handshake", 1),
        ("unauthorized", 1),
        ("invalid", 2),
        ("not_found", 1),
        ("disabled", 1),
        ("forbidden", 1),
        ("too_large", 1),
        ("unsupported_encoding", 1),
        ("rate_limited", 1),
        ("busy", 1),
        ("replaced", 0),
        ("timeout", 1),
        ("error", 0),
    ] {
        assert_eq!(deliveries(&fresh, outcome), 0, "{outcome} at start");
        assert_eq!(deliveries(&text, outcome), count, "{outcome}");
    }
}
