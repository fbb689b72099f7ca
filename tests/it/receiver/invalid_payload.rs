//! A verified delivery whose body is not what its provider sends: logged as `invalid_payload`,
//! typed by its headers where the provider names the event there, so a type filter finds it,
//! and known by the delivery id its headers carry, so the sender's retries are duplicates.

use reqwest::StatusCode;
use serde_json::json;

use super::SECRET;
use crate::helpers::{assert_error, delivery_id, read_json, spawn_app};

#[tokio::test]
async fn an_unreadable_body_is_logged_with_the_event_type_its_headers_name() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    app.create_webhook(
        json!({"id": "gl", "name": "GitLab", "provider": "gitlab", "secret": "gl-token-xyz"}),
    )
    .await;

    // Act: signed (or with the right token), but no JSON.
    let github = read_json(
        app.post_github("gh", "issues", &delivery_id(), "not json", SECRET)
            .await,
    )
    .await;
    let gitlab = read_json(
        app.client
            .post(app.url("/webhooks/gitlab/gl"))
            .header("X-Gitlab-Token", "gl-token-xyz")
            .header("X-Gitlab-Event", "Confidential Note Hook")
            .header("Content-Type", "application/json")
            .body("{\"object_kind\": \"note\"")
            .send()
            .await
            .expect("POST to receiver"),
    )
    .await;

    // Assert: refused as before, and found by type.
    for (answer, webhook, filter, event_type) in [
        (&github, "gh", "issues", "issues"),
        (&gitlab, "gl", "note", "note"),
    ] {
        assert_error(answer, StatusCode::BAD_REQUEST, None);
        assert_eq!(answer.1["error"]["code"], "invalid_payload", "{}", answer.1);
        let found = app
            .events(&format!("webhook_id={webhook}&event_type={filter}"))
            .await;
        assert_eq!(found.len(), 1, "{webhook}: {found:#?}");
        assert_eq!(found[0]["status"], "invalid_payload");
        assert_eq!(found[0]["event_type"], event_type);
    }
}

#[tokio::test]
async fn a_retry_of_an_unreadable_delivery_is_a_duplicate_and_a_forgery_claims_no_id() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    app.create_webhook(
        json!({"id": "gl", "name": "GitLab", "provider": "gitlab", "secret": "gl-token-xyz"}),
    )
    .await;
    let id = delivery_id();
    let gitlab = || {
        app.client
            .post(app.url("/webhooks/gitlab/gl"))
            .header("X-Gitlab-Token", "gl-token-xyz")
            .header("X-Gitlab-Event", "Note Hook")
            .header("Idempotency-Key", "gl-delivery-1")
            .header("Content-Type", "application/json")
            .body("{\"object_kind\": \"note\"")
            .send()
    };

    // Act: a forgery first (wrong secret) with the delivery's id, then the signed delivery
    // twice, as a sender retrying after the 400 would.
    let forged = read_json(
        app.post_github("gh", "issues", &id, "not json", "not-the-secret")
            .await,
    )
    .await;
    let first = read_json(
        app.post_github("gh", "issues", &id, "not json", SECRET)
            .await,
    )
    .await;
    let retried = read_json(
        app.post_github("gh", "issues", &id, "not json", SECRET)
            .await,
    )
    .await;
    let gitlab_first = read_json(gitlab().await.expect("POST to receiver")).await;
    let gitlab_retried = read_json(gitlab().await.expect("POST to receiver")).await;

    // Assert
    assert_eq!(forged.0, StatusCode::UNAUTHORIZED, "{}", forged.1);
    for (first, retried, webhook) in [
        (&first, &retried, "gh"),
        (&gitlab_first, &gitlab_retried, "gl"),
    ] {
        assert_error(first, StatusCode::BAD_REQUEST, None);
        assert_eq!(first.1["error"]["code"], "invalid_payload", "{}", first.1);
        assert_eq!(retried.0, StatusCode::OK, "{}", retried.1);
        assert_eq!(retried.1["status"], "duplicate", "{}", retried.1);
        let stored = app
            .events(&format!("webhook_id={webhook}&status=invalid_payload"))
            .await;
        assert_eq!(stored.len(), 1, "{webhook}: {stored:#?}");
        assert_eq!(retried.1["event_id"], stored[0]["id"], "{}", retried.1);
    }
}
