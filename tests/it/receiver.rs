//! The receiver through the front door: GitHub verification, dedup, refusals, the size
//! limit, rotation grace, command matching, and "committed before 2xx".

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod invalid_payload;
mod providers;
mod rejected;
mod slack_token;

use crate::helpers::{
    assert_error, delivery_id, issue_opened, read_json, send_json, spawn_app, spawn_app_with,
};

const SECRET: &str = "gh-secret-0123456789";

#[tokio::test]
async fn a_signed_github_issue_is_accepted_and_immediately_visible_in_the_log() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let delivery = delivery_id();
    let body = issue_opened("octo/hello", 12, &[]);

    // Act
    let (status, answer) = read_json(
        app.post_github("gh", "issues", &delivery, &body, SECRET)
            .await,
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "accepted");
    let event_id = answer["event_id"].as_str().expect("event_id");
    let event = app.event(event_id).await;
    assert_eq!(event["id"], event_id);
    assert_eq!(event["webhook_id"], "gh");
    assert_eq!(event["provider"], "github");
    assert_eq!(event["event_type"], "issues.opened");
    assert_eq!(event["delivery_id"], delivery.as_str());
    assert_eq!(event["source"]["key"], "octo/hello#12");
    assert_eq!(event["status"], "accepted");
    assert_eq!(event["verified"], true);
    assert_eq!(event["verification"], "current_secret");
    assert_eq!(
        event["payload"],
        serde_json::from_str::<Value>(&body).unwrap()
    );
    assert_eq!(event["headers"]["x-github-event"], "issues");
    assert_eq!(event["matched_commands"], json!([]));
    assert!(
        !event.to_string().contains(SECRET),
        "secret leaked: {event}"
    );
}

#[tokio::test]
async fn the_same_delivery_again_is_a_duplicate_with_the_original_event_id() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let delivery = delivery_id();
    let body = issue_opened("octo/hello", 1, &[]);
    let (_, first) = read_json(
        app.post_github("gh", "issues", &delivery, &body, SECRET)
            .await,
    )
    .await;

    // Act
    let (status, second) = read_json(
        app.post_github("gh", "issues", &delivery, &body, SECRET)
            .await,
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["status"], "duplicate");
    assert_eq!(second["event_id"], first["event_id"]);
    assert_eq!(app.events("webhook_id=gh").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_of_one_delivery_are_stored_once_under_one_event_id() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let delivery = delivery_id();
    let body = issue_opened("octo/hello", 9, &[]);

    // Act
    let retries = (0..10).map(|_| (delivery.clone(), body.clone())).collect();
    let answers = app.post_github_all_at_once("gh", retries, SECRET).await;

    // Assert
    let mut event_ids = Vec::new();
    let mut accepted = 0;
    for (status, answer) in answers {
        assert_eq!(status, StatusCode::OK, "{answer}");
        accepted += usize::from(answer["status"] == "accepted");
        event_ids.push(answer["event_id"].clone());
    }
    assert_eq!(accepted, 1, "exactly one retry is the new event");
    assert!(
        event_ids.iter().all(|id| *id == event_ids[0]),
        "{event_ids:?}"
    );
    assert_eq!(app.events("webhook_id=gh").await.len(), 1);
}

#[tokio::test]
async fn a_wrong_signature_is_401_logged_as_rejected_and_does_not_block_the_real_delivery() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let delivery = delivery_id();
    let body = issue_opened("octo/hello", 2, &[]);

    // Act
    let forged = read_json(
        app.post_github("gh", "issues", &delivery, &body, "not-the-secret")
            .await,
    )
    .await;
    let (real_status, real) = read_json(
        app.post_github("gh", "issues", &delivery, &body, SECRET)
            .await,
    )
    .await;

    // Assert
    assert_error(&forged, StatusCode::UNAUTHORIZED, None);
    let rejected = app.events("status=rejected").await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["verified"], false);
    assert_eq!(rejected[0]["webhook_id"], "gh");
    assert_eq!(real_status, StatusCode::OK, "{real}");
    assert_eq!(real["status"], "accepted");
    assert_ne!(real["event_id"], rejected[0]["id"]);
    assert_eq!(app.events("webhook_id=gh").await.len(), 2);
}

#[tokio::test]
async fn huge_headers_on_a_forged_request_are_kept_only_in_part() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let body = issue_opened("octo/hello", 2, &[]);
    let request = (0..20).fold(
        app.client
            .post(app.url("/webhooks/github/gh"))
            .header("X-GitHub-Event", "issues")
            .header("X-Hub-Signature-256", "sha256=00")
            .header(
                "X-Big",
                reqwest::header::HeaderValue::from_bytes("é".repeat(150_000).as_bytes())
                    .expect("header value"),
            ),
        |r, n| r.header(format!("x-filler-{n}"), "f".repeat(3000)),
    );

    // Act
    let forged = request.body(body).send().await.expect("send");

    // Assert: refused, logged, but its headers take at most tens of KB, not hundreds.
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let rejected = app.events("status=rejected").await;
    let event = app.event(rejected[0]["id"].as_str().expect("id")).await;
    let kept = event["headers"].to_string();
    assert!(kept.len() < 40 * 1024, "{} bytes kept", kept.len());
    let big = event["headers"]["x-big"]
        .as_str()
        .expect("x-big kept in part");
    assert!(
        big.ends_with("more bytes not kept]"),
        "{}",
        &big[big.len() - 60..]
    );
    assert_eq!(event["headers"]["x-github-event"], "issues");
}

#[tokio::test]
async fn a_full_disk_is_503_with_retry_after_and_deliveries_are_taken_again_once_there_is_room() {
    // Arrange: the database may not grow by a single page (as on a full disk).
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let cap = |pages: Option<i64>| {
        app.state.store.write(move |db| {
            let now: i64 = db.pragma_query_value(None, "page_count", |r| r.get(0))?;
            db.pragma_update(None, "max_page_count", pages.unwrap_or(now))?;
            Ok(())
        })
    };
    cap(None).await.expect("cap the file");
    let mut opened: Value =
        serde_json::from_str(&issue_opened("octo/hello", 3, &[])).expect("JSON");
    opened["issue"]["body"] = json!("x".repeat(200_000));
    let body = opened.to_string();

    // Act
    let full = app
        .post_github("gh", "issues", "d-full", &body, SECRET)
        .await;
    let retry_after = full.headers().get("retry-after").cloned();
    let (full_status, full_body) = read_json(full).await;
    cap(Some(1 << 30)).await.expect("room again");
    let again = app
        .post_github("gh", "issues", "d-full", &body, SECRET)
        .await;

    // Assert
    assert_eq!(full_status, StatusCode::SERVICE_UNAVAILABLE, "{full_body}");
    assert_eq!(
        full_body["error"]["code"], "storage_unavailable",
        "{full_body}"
    );
    assert!(retry_after.is_some());
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_missing_signature_is_401_and_logged_as_rejected() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;

    // Act
    let answer = send_json(
        app.client
            .post(app.url("/webhooks/github/gh"))
            .header("X-GitHub-Event", "issues")
            .header("X-GitHub-Delivery", delivery_id())
            .body(issue_opened("octo/hello", 3, &[])),
    )
    .await;

    // Assert
    assert_error(&answer, StatusCode::UNAUTHORIZED, None);
    assert_eq!(app.events("status=rejected").await.len(), 1);
    assert!(app.events("status=accepted").await.is_empty());
}

#[tokio::test]
async fn an_unknown_webhook_or_a_provider_mismatch_is_404() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let body = issue_opened("octo/hello", 4, &[]);

    // Act
    let unknown = read_json(
        app.post_github("nope", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;
    let mismatch = read_json(
        app.post_gitlab("gh", &json!({"object_kind": "push"}), SECRET)
            .await,
    )
    .await;

    // Assert
    assert_error(&unknown, StatusCode::NOT_FOUND, None);
    assert_error(&mismatch, StatusCode::NOT_FOUND, None);
    assert!(app.events("").await.is_empty());
}

#[tokio::test]
async fn a_disabled_webhook_is_404_until_enabled_again() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    send_json(app.api(Method::POST, "/api/webhooks/gh/disable")).await;
    let body = issue_opened("octo/hello", 5, &[]);

    // Act
    let disabled = read_json(
        app.post_github("gh", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;
    send_json(app.api(Method::POST, "/api/webhooks/gh/enable")).await;
    let (status, enabled) = read_json(
        app.post_github("gh", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;

    // Assert
    assert_error(&disabled, StatusCode::NOT_FOUND, None);
    assert_eq!(disabled.1["error"]["code"], "webhook_disabled");
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert_eq!(enabled["status"], "accepted");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_with_a_json_error_and_one_at_the_limit_is_accepted() {
    // Arrange
    let app = spawn_app_with(|c| c.max_body_bytes = 1024).await;
    app.github_webhook("gh", SECRET).await;
    let sized = |len: usize| {
        let body = json!({"action": "opened", "padding": ""}).to_string();
        json!({"action": "opened", "padding": "x".repeat(len - body.len())}).to_string()
    };
    let (too_big, just_fits) = (sized(1025), sized(1024));
    assert_eq!((too_big.len(), just_fits.len()), (1025, 1024));

    // Act
    let refused = read_json(
        app.post_github("gh", "issues", &delivery_id(), &too_big, SECRET)
            .await,
    )
    .await;
    let (status, fits) = read_json(
        app.post_github("gh", "issues", &delivery_id(), &just_fits, SECRET)
            .await,
    )
    .await;

    // Assert
    assert_error(&refused, StatusCode::PAYLOAD_TOO_LARGE, None);
    assert_eq!(refused.1["error"]["code"], "payload_too_large");
    assert_eq!(status, StatusCode::OK, "{fits}");
    assert_eq!(
        app.events("").await.len(),
        1,
        "only the body that fits is stored"
    );
}

#[tokio::test]
async fn a_deleted_webhook_or_one_created_disabled_does_not_receive() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gone", SECRET).await;
    app.api(Method::DELETE, "/api/webhooks/gone")
        .send()
        .await
        .expect("DELETE");
    app.create_webhook(json!({"id": "off", "name": "Off", "provider": "github", "secret": SECRET, "enabled": false}))
        .await;
    let body = issue_opened("octo/hello", 10, &[]);

    // Act
    let deleted = read_json(
        app.post_github("gone", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;
    let off = read_json(
        app.post_github("off", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;

    // Assert
    assert_error(&deleted, StatusCode::NOT_FOUND, None);
    assert_eq!(deleted.1["error"]["code"], "webhook_not_found");
    assert_error(&off, StatusCode::NOT_FOUND, None);
    assert_eq!(off.1["error"]["code"], "webhook_disabled");
    assert!(app.events("").await.is_empty());
}

#[tokio::test]
async fn after_rotation_the_old_secret_verifies_during_the_grace_period() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let (_, rotated) = send_json(app.api(Method::POST, "/api/webhooks/gh/rotate-secret")).await;
    let new_secret = rotated["secret"].as_str().expect("new secret").to_string();
    let body = issue_opened("octo/hello", 6, &[]);

    // Act
    let (old_status, old) = read_json(
        app.post_github("gh", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;
    let (new_status, new) = read_json(
        app.post_github("gh", "issues", &delivery_id(), &body, &new_secret)
            .await,
    )
    .await;

    // Assert
    assert_eq!(old_status, StatusCode::OK, "{old}");
    assert_eq!(new_status, StatusCode::OK, "{new}");
    let old_event = app.event(old["event_id"].as_str().unwrap()).await;
    let new_event = app.event(new["event_id"].as_str().unwrap()).await;
    assert_eq!(old_event["verification"], "previous_secret");
    assert_eq!(new_event["verification"], "current_secret");
}

#[tokio::test]
async fn a_second_rotation_inside_the_grace_period_says_it_ends_the_first_secrets_grace() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let (_, first) = send_json(app.api(Method::POST, "/api/webhooks/gh/rotate-secret")).await;
    let replaced = first["secret"].as_str().expect("secret").to_string();
    let body = issue_opened("octo/hello", 8, &[]);

    // Act
    let (status, second) = send_json(app.api(Method::POST, "/api/webhooks/gh/rotate-secret")).await;
    let original = read_json(
        app.post_github("gh", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;
    let (kept_status, kept) = read_json(
        app.post_github("gh", "issues", &delivery_id(), &body, &replaced)
            .await,
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{second}");
    assert!(first.get("warnings").is_none(), "{first}");
    let warning = second["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("no longer"), "{second}");
    assert_error(&original, StatusCode::UNAUTHORIZED, None);
    assert_eq!(kept_status, StatusCode::OK, "{kept}");

    // A third, with no grace period, says that only the new secret works.
    let (_, third) = send_json(
        app.api(Method::POST, "/api/webhooks/gh/rotate-secret")
            .json(&json!({"grace_period_secs": 0})),
    )
    .await;
    let warning = third["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("only the new secret works"), "{third}");
}

#[tokio::test]
async fn a_rotation_without_grace_period_refuses_the_old_secret_at_once() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let (status, rotated) = send_json(
        app.api(Method::POST, "/api/webhooks/gh/rotate-secret")
            .json(&json!({"grace_period_secs": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let body = issue_opened("octo/hello", 7, &[]);

    // Act
    let old = read_json(
        app.post_github("gh", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;

    // Assert
    assert_error(&old, StatusCode::UNAUTHORIZED, None);
}

#[tokio::test]
async fn rotating_to_the_current_secret_without_grace_ends_the_previous_secrets_grace() {
    // Arrange: a sender that issues its own secret rotated it; the old one is in its grace.
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let rotate = |body: Value| {
        send_json(
            app.api(Method::POST, "/api/webhooks/gh/rotate-secret")
                .json(&body),
        )
    };
    let (status, rotated) = rotate(json!({"secret": "the-new-one-from-the-sender"})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");

    // Act: the old one leaked; the new one again, with no grace, ends its grace now.
    let same_with_grace = rotate(json!({"secret": "the-new-one-from-the-sender"})).await;
    let (status, ended) =
        rotate(json!({"secret": "the-new-one-from-the-sender", "grace_period_secs": 0})).await;
    let body = issue_opened("octo/hello", 7, &[]);
    let old = read_json(
        app.post_github("gh", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;

    // Assert
    assert_error(&same_with_grace, StatusCode::BAD_REQUEST, Some("secret"));
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_error(&old, StatusCode::UNAUTHORIZED, None);
}

#[tokio::test]
async fn a_matching_command_is_listed_on_the_event_which_is_marked_matched() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let add = |body: Value| {
        send_json(
            app.api(Method::POST, "/api/webhooks/gh/commands")
                .json(&body),
        )
    };
    let (_, bug) = add(
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning",
        "template": "Analyze {{issue.title}}", "conditions": {"labels": ["bug"]}}),
    )
    .await;
    let (_, other) = add(json!({"trigger": "push", "action": "comment", "template": "x"})).await;
    let body = issue_opened("octo/hello", 8, &["bug"]);

    // Act
    let (status, answer) = read_json(
        app.post_github("gh", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{answer}");
    let event = app.event(answer["event_id"].as_str().unwrap()).await;
    assert_eq!(event["status"], "matched");
    assert_eq!(event["matched_commands"], json!([bug["id"]]));
    assert_ne!(bug["id"], other["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_delivery_answered_200_is_in_the_database_file_after_shutdown() {
    // Arrange
    const N: usize = 50;
    let mut app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;

    // Act
    let ids = app.post_github_concurrently("gh", N, SECRET).await;
    app.stop().await;

    // Assert
    let db = rusqlite::Connection::open(&app.db_path).expect("open the database file");
    let count = |sql: &str, id: &str| -> i64 {
        db.query_row(sql, [id], |r| r.get(0)).expect("count events")
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM events WHERE webhook_id = ?1", "gh"),
        N as i64
    );
    for id in &ids {
        let sql = "SELECT COUNT(*) FROM events WHERE id = ?1 AND verified = 1";
        assert_eq!(
            count(sql, id),
            1,
            "event {id} answered 200 but is not in the file"
        );
    }
}

#[tokio::test]
async fn an_mcp_client_looking_for_oauth_is_told_to_send_an_api_key() {
    // Arrange: MCP clients (mcp-remote, MCP Inspector) look for OAuth after a 401 and show
    // what they are answered.
    let app = spawn_app().await;

    // Act
    let mut answers = Vec::new();
    for request in [
        app.client
            .get(app.url("/.well-known/oauth-protected-resource/mcp")),
        app.client
            .get(app.url("/.well-known/oauth-authorization-server")),
        app.client.post(app.url("/register")).body("{}"),
        // mcp-remote looks under the MCP URL's own path too.
        app.client
            .get(app.url("/mcp/.well-known/openid-configuration")),
        app.client
            .get(app.url("/mcp/.well-known/oauth-protected-resource")),
        app.client
            .get(app.url("/mcp/.well-known/oauth-authorization-server")),
    ] {
        answers.push(send_json(request).await);
    }

    // Assert
    for (status, answer) in answers {
        assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("API key, not OAuth") && message.contains("Authorization: Bearer"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_receiver_url_with_a_slash_at_its_end_is_404_naming_the_route_without_it() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let body = issue_opened("octo/hello", 1, &[]);

    // Act
    let (status, answer) = send_json(
        app.client
            .post(app.url("/webhooks/github/gh/"))
            .header("Content-Type", "application/json")
            .body(body),
    )
    .await;
    let (_, elsewhere) = send_json(app.client.get(app.url("/nowhere"))).await;
    // A single handler's URL, a receive URL without its webhook's id, and `/api` itself.
    let mut hinted = Vec::new();
    for path in ["/webhook/github", "/webhooks/github", "/api/"] {
        let (status, answer) = send_json(app.client.post(app.url(path))).await;
        hinted.push((path, status, answer["error"]["message"].clone()));
    }

    // Assert
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("`/webhooks/github/gh`"), "{message}");
    assert_eq!(elsewhere["error"]["message"], "no such route");
    for (path, status, message) in hinted {
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {message}");
        let hint = if path == "/api/" {
            "/api/webhooks, /api/events"
        } else {
            "received at /webhooks/{provider}/{webhook_id}"
        };
        assert!(
            message.as_str().is_some_and(|m| m.contains(hint)),
            "{path}: {message}"
        );
    }
}

#[tokio::test]
async fn a_lone_surrogate_escape_is_read_as_a_replacement_character_not_refused() {
    // Arrange: a title cut in the middle of an emoji by a JavaScript sender, escaped as JSON.
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let body = issue_opened("octo/hello", 5, &[])
        .replace(r#""title":"#, r#""title":"Crash \ud83d","ignored_title":"#);
    assert!(body.contains(r"\ud83d"), "{body}");

    // Act
    let (status, answer) = read_json(
        app.post_github("gh", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "accepted", "{answer}");
    let event = app
        .event(answer["event_id"].as_str().unwrap_or_default())
        .await;
    assert_eq!(
        event["payload"]["issue"]["title"], "Crash \u{FFFD}",
        "{event}"
    );
    // Cut off at a backslash, as JSON or inside a form's payload: refused, not a crash.
    for cut in [r#"{"title":"a\"#, "payload=%7B%22a%22%3A%22%5C"] {
        let (status, refused) = read_json(
            app.post_github("gh", "issues", &delivery_id(), cut, SECRET)
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{cut}: {refused}");
        assert_eq!(refused["error"]["code"], "invalid_payload", "{refused}");
    }
}

#[tokio::test]
async fn a_body_in_another_charset_that_does_not_parse_is_told_only_utf8_is_read() {
    // Arrange: UTF-16 JSON, as its Content-Type says, signed as sent.
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let body: Vec<u8> = issue_opened("octo/hello", 6, &[])
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();

    // Act
    let answer = read_json(
        app.client
            .post(app.url("/webhooks/github/gh"))
            .header("Content-Type", "application/json; charset=UTF-16")
            .header("X-GitHub-Event", "issues")
            .header("X-GitHub-Delivery", delivery_id())
            .header(
                "X-Hub-Signature-256",
                crate::helpers::github_signature(SECRET, &body),
            )
            .body(body)
            .send()
            .await
            .expect("POST"),
    )
    .await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST, None);
    let said = answer.1["error"]["message"].as_str().unwrap_or_default();
    assert!(said.contains("said to be UTF-16: only UTF-8"), "{said}");
}
