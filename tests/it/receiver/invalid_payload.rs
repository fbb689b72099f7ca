//! A verified delivery whose body is not what its provider sends: logged as `invalid_payload`,
//! typed by its headers where the provider names the event there, so a type filter finds it,
//! and known by the delivery id its headers carry, so the sender's retries are not stored again,
//! while an intact delivery of that id takes it over and runs.

use reqwest::StatusCode;
use serde_json::json;

use super::SECRET;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{assert_error, delivery_id, issue_opened, read_json, spawn_app, spawn_manual};

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
async fn a_retry_of_an_unreadable_delivery_is_refused_again_naming_the_first_and_a_forgery_claims_no_id()
 {
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

    // Assert: the retry is refused as the first was (a sender must not count an unreadable
    // delivery as delivered), names the event stored first, and stores nothing more.
    assert_eq!(forged.0, StatusCode::UNAUTHORIZED, "{}", forged.1);
    for (first, retried, webhook) in [
        (&first, &retried, "gh"),
        (&gitlab_first, &gitlab_retried, "gl"),
    ] {
        for answer in [first, retried] {
            assert_error(answer, StatusCode::BAD_REQUEST, None);
            assert_eq!(answer.1["error"]["code"], "invalid_payload", "{}", answer.1);
        }
        let stored = app
            .events(&format!("webhook_id={webhook}&status=invalid_payload"))
            .await;
        assert_eq!(stored.len(), 1, "{webhook}: {stored:#?}");
        let named = format!(
            "already stored as event {}",
            stored[0]["id"].as_str().unwrap()
        );
        let message = retried.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&named), "{webhook}: {message}");
    }
}

#[tokio::test]
async fn an_unreadable_copy_of_a_delivery_stored_whole_is_a_duplicate_and_not_stored() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let id = delivery_id();
    let body = issue_opened("octo/app", 1, &[]);
    let accepted = read_json(app.post_github("gh", "issues", &id, &body, SECRET).await).await;

    // Act: the same delivery again, cut off on the way (a sender's retry through a proxy that
    // dropped the rest). It must not count as a failure: the delivery is here, whole.
    let cut = read_json(
        app.post_github("gh", "issues", &id, &body[..body.len() / 2], SECRET)
            .await,
    )
    .await;

    // Assert
    assert_eq!(accepted.0, StatusCode::OK, "{}", accepted.1);
    assert_eq!(cut.0, StatusCode::OK, "{}", cut.1);
    assert_eq!(cut.1["status"], "duplicate", "{}", cut.1);
    assert_eq!(cut.1["event_id"], accepted.1["event_id"], "{}", cut.1);
    assert_eq!(app.events("webhook_id=gh").await.len(), 1);
}

/// A GitLab webhook (token, no body signature) whose notes are forwarded to the returned fake.
async fn gitlab_forwarding_notes() -> (crate::helpers::TestApp, MockServer) {
    let target = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&target)
        .await;
    let app = spawn_manual(|_| {}).await;
    app.create_webhook(
        json!({"id": "gl", "name": "GitLab", "provider": "gitlab", "secret": "gl-token-xyz"}),
    )
    .await;
    app.add_command_ok(
        "gl",
        json!({"trigger": "note", "action": "forward",
               "target": {"url": format!("{}/in", target.uri())}}),
    )
    .await;
    (app, target)
}

/// A GitLab note delivery with the right token and the delivery id `key`.
async fn send_note(
    app: &crate::helpers::TestApp,
    key: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let response = app
        .client
        .post(app.url("/webhooks/gitlab/gl"))
        .header("X-Gitlab-Token", "gl-token-xyz")
        .header("X-Gitlab-Event", "Note Hook")
        .header("Idempotency-Key", key)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST to receiver");
    read_json(response).await
}

#[tokio::test]
async fn an_intact_delivery_takes_its_id_from_a_cut_off_copy_and_runs() {
    // Arrange: GitLab's token is no signature over the body, so a cut-off body is verified.
    let (app, target) = gitlab_forwarding_notes().await;
    let intact = json!({"object_kind": "note", "object_attributes": {"note": "hello"}}).to_string();

    // Act: cut off first, then GitLab's retry with the whole body and the same key.
    let cut = send_note(&app, "gl-delivery-2", &intact[..20]).await;
    let whole = send_note(&app, "gl-delivery-2", &intact).await;
    let again = send_note(&app, "gl-delivery-2", &intact).await;
    let attempts = app.drain().await;

    // Assert: stored and run; the cut-off one stays in the log without the id, and the
    // intact delivery now holds it.
    assert_error(&cut, StatusCode::BAD_REQUEST, None);
    assert_eq!(whole.0, StatusCode::OK, "{}", whole.1);
    assert_eq!(whole.1["status"], "accepted", "{}", whole.1);
    assert_eq!(again.1["status"], "duplicate", "{}", again.1);
    assert_eq!(again.1["event_id"], whole.1["event_id"], "{}", again.1);
    assert_eq!(attempts, 1);
    let forwarded = target.received_requests().await.expect("recorded");
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0].body, intact.as_bytes());
    let kept = app.events("webhook_id=gl&status=invalid_payload").await;
    assert_eq!(kept.len(), 1, "{kept:#?}");
}

#[tokio::test]
async fn a_cut_off_copy_replayed_once_readable_keeps_its_id_so_the_redelivery_runs_nothing_twice() {
    // Arrange: a cut-off GitLab note stored, then made readable (as a parser fixed since would
    // read it) and replayed, which runs its forward.
    let (app, target) = gitlab_forwarding_notes().await;
    let intact = json!({"object_kind": "note", "object_attributes": {"note": "hello"}}).to_string();
    let cut = send_note(&app, "gl-delivery-3", &intact[..20]).await;
    assert_error(&cut, StatusCode::BAD_REQUEST, None);
    let stored = app.events("webhook_id=gl&status=invalid_payload").await;
    let cut_id = stored[0]["id"].as_str().expect("an id").to_owned();
    rusqlite::Connection::open(&app.db_path)
        .expect("open db")
        .execute(
            "UPDATE events SET body = ?1 WHERE id = ?2",
            rusqlite::params![intact.as_bytes(), cut_id],
        )
        .expect("make the body readable");
    let (replayed, answer) = crate::helpers::send_json(app.api(
        reqwest::Method::POST,
        &format!("/api/events/{cut_id}/replay"),
    ))
    .await;
    assert_eq!(replayed, StatusCode::OK, "{answer}");

    // Act: the sender's retry of the same delivery, whole.
    let whole = send_note(&app, "gl-delivery-3", &intact).await;
    let attempts = app.drain().await;

    // Assert: the replayed event did the delivery's work, so the retry is its duplicate.
    assert_eq!(whole.1["status"], "duplicate", "{}", whole.1);
    assert_eq!(whole.1["event_id"], cut_id.as_str(), "{}", whole.1);
    assert_eq!(attempts, 1);
    let forwarded = target.received_requests().await.expect("recorded");
    assert_eq!(forwarded.len(), 1, "the forward ran once");
}
