//! A verified delivery whose body is not what its provider sends: logged as `invalid_payload`,
//! typed by its headers where the provider names the event there, so a type filter finds it.

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
