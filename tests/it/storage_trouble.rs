//! Storage that cannot take writes for a while (a full disk, the write lock held by another
//! process): senders are told to come back, `/health` says so until writes go in again, and
//! nothing is called corrupt.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, delivery_id, issue_opened, read_json, send_json, spawn_app};

const SECRET: &str = "gh-secret-0123456789";

async fn health(app: &TestApp) -> (StatusCode, Value) {
    send_json(app.client.get(app.url("/health"))).await
}

/// Lets the database grow by `pages` more pages at most (none: as on a full disk).
async fn cap_growth(app: &TestApp, pages: i64) {
    app.state
        .store
        .write(move |db| {
            let now: i64 = db.pragma_query_value(None, "page_count", |r| r.get(0))?;
            db.pragma_update(None, "max_page_count", now + pages)?;
            Ok(())
        })
        .await
        .expect("cap the file");
}

/// An issue too big to fit in the pages the database already has.
fn big_issue() -> String {
    let mut opened: Value =
        serde_json::from_str(&issue_opened("octo/hello", 3, &[])).expect("JSON");
    opened["issue"]["body"] = json!("x".repeat(200_000));
    opened.to_string()
}

#[tokio::test]
async fn health_is_503_while_writes_fail_for_a_full_disk_and_200_once_one_goes_in() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let body = big_issue();
    cap_growth(&app, 0).await;

    // Act
    let full = app
        .post_github("gh", "issues", "d-full", &body, SECRET)
        .await;
    let (full_status, full_body) = read_json(full).await;
    let (while_full, full_health) = health(&app).await;
    cap_growth(&app, 1 << 20).await;
    let again = app
        .post_github("gh", "issues", "d-full", &body, SECRET)
        .await;
    let again_status = again.status();
    let (after, after_health) = health(&app).await;

    // Assert
    assert_eq!(full_status, StatusCode::SERVICE_UNAVAILABLE, "{full_body}");
    assert_eq!(while_full, StatusCode::SERVICE_UNAVAILABLE, "{full_health}");
    assert_eq!(full_health["status"], "error");
    assert!(
        full_health["database"]
            .as_str()
            .is_some_and(|reason| reason.contains("the disk is full")),
        "{full_health}"
    );
    assert_eq!(again_status, StatusCode::OK);
    assert_eq!(after, StatusCode::OK, "{after_health}");
    assert_eq!(after_health["database"], "ok");
}

#[tokio::test]
async fn a_database_locked_by_another_process_is_503_with_retry_after_not_a_corrupt_500() {
    // Arrange: another process holds the write lock past the busy timeout.
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let body = issue_opened("octo/hello", 4, &[]);
    let other = rusqlite::Connection::open(&app.db_path).expect("open the database");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");

    // Act
    let locked = app
        .post_github("gh", "issues", &delivery_id(), &body, SECRET)
        .await;
    let retry_after = locked.headers().get("retry-after").cloned();
    let (locked_status, locked_body) = read_json(locked).await;
    let (while_locked, locked_health) = health(&app).await;
    other.execute_batch("ROLLBACK").expect("let the lock go");
    // A write that changes nothing (the worker's idle poll, say) shows the lock was let go.
    app.state
        .store
        .write(|_| Ok(()))
        .await
        .expect("a write that changes nothing");
    let (lock_let_go, _) = health(&app).await;
    let again = app
        .post_github("gh", "issues", &delivery_id(), &body, SECRET)
        .await;
    let again_status = again.status();
    let (after, _) = health(&app).await;

    // Assert
    assert_eq!(
        locked_status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{locked_body}"
    );
    assert_eq!(locked_body["error"]["code"], "storage_unavailable");
    let message = locked_body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("write lock"), "{message}");
    assert!(!message.contains("corrupt"), "{message}");
    assert!(retry_after.is_some());
    assert_eq!(
        while_locked,
        StatusCode::SERVICE_UNAVAILABLE,
        "{locked_health}"
    );
    assert_eq!(lock_let_go, StatusCode::OK);
    assert_eq!(again_status, StatusCode::OK);
    assert_eq!(after, StatusCode::OK);
}

#[tokio::test]
async fn health_finds_a_disk_given_room_again_without_a_write_from_outside() {
    // Arrange: a delivery refused for a full disk, then room made, and no traffic since.
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    cap_growth(&app, 0).await;
    let full = app
        .post_github("gh", "issues", "d-full", &big_issue(), SECRET)
        .await;
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    let metrics_while_full = writable(&app).await;
    cap_growth(&app, 1 << 20).await;

    // Act: only /health is asked, as a load balancer would.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut last = health(&app).await;
    while last.0 != StatusCode::OK && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        last = health(&app).await;
    }

    // Assert
    assert_eq!(metrics_while_full, "0");
    assert_eq!(last.0, StatusCode::OK, "{}", last.1);
    assert_eq!(writable(&app).await, "1");
}

/// What `/metrics` says of whether writes are stored.
async fn writable(app: &TestApp) -> String {
    let text = app.metrics_text().await;
    text.lines()
        .find_map(|l| l.strip_prefix("webhook_mcp_store_writable "))
        .unwrap_or_else(|| panic!("no webhook_mcp_store_writable in {text}"))
        .to_string()
}
