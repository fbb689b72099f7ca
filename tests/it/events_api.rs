//! The event log over REST: filters, pagination newest first, errors naming the parameter,
//! and events surviving a restart.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::{
    TestApp, assert_error, delivery_id, issue_opened, read_json, send_json, spawn_app,
};

const SECRET: &str = "gh-secret-for-events";

fn ids(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

async fn post_gh(app: &TestApp, event: &str, body: &str) -> String {
    let (status, answer) = read_json(
        app.post_github("gh", event, &delivery_id(), body, SECRET)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["event_id"].as_str().expect("event_id").to_string()
}

async fn post_gl(app: &TestApp, token: &str, body: serde_json::Value) -> StatusCode {
    app.client
        .post(app.url("/webhooks/gitlab/gl"))
        .header("X-Gitlab-Token", token)
        .json(&body)
        .send()
        .await
        .expect("POST gitlab")
        .status()
}

/// gh: issues.opened, issues.closed, push; gl: issue.open accepted, note rejected.
async fn app_with_mixed_events() -> (TestApp, Vec<String>) {
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    app.create_webhook(
        json!({"id": "gl", "name": "GitLab", "provider": "gitlab", "secret": "gl-tok"}),
    )
    .await;
    let opened = post_gh(&app, "issues", &issue_opened("octo/a", 1, &[])).await;
    let closed_body = issue_opened("octo/a", 1, &[]).replace("\"opened\"", "\"closed\"");
    let closed = post_gh(&app, "issues", &closed_body).await;
    let push = post_gh(
        &app,
        "push",
        &json!({"ref": "refs/heads/main", "repository": {"full_name": "octo/a"}}).to_string(),
    )
    .await;
    let issue = json!({"object_kind": "issue", "object_attributes": {"iid": 1, "action": "open"}});
    assert_eq!(post_gl(&app, "gl-tok", issue).await, StatusCode::OK);
    assert_eq!(
        post_gl(&app, "wrong", json!({"object_kind": "note"})).await,
        StatusCode::UNAUTHORIZED
    );
    (app, vec![opened, closed, push])
}

#[tokio::test]
async fn events_are_filtered_by_webhook_provider_type_and_status() {
    // Arrange
    let (app, gh_ids) = app_with_mixed_events().await;

    // Act
    let by_webhook = app.events("webhook_id=gh").await;
    let by_provider = app.events("provider=gitlab").await;
    let exact_type = app.events("event_type=issues.opened").await;
    let type_pattern = app.events("event_type=issues.*").await;
    // A type names its actions too, as a trigger does.
    let type_and_actions = app.events("event_type=issues").await;
    let rejected = app.events("status=rejected").await;
    let accepted = app.events("status=accepted").await;
    let combined = app.events("provider=github&event_type=push").await;

    // Assert
    let newest_first: Vec<String> = gh_ids.iter().rev().cloned().collect();
    assert_eq!(ids(&by_webhook), newest_first);
    assert_eq!(by_provider.len(), 2);
    assert!(by_provider.iter().all(|e| e["provider"] == "gitlab"));
    assert_eq!(ids(&exact_type), [gh_ids[0].clone()]);
    assert_eq!(ids(&type_pattern), [gh_ids[1].clone(), gh_ids[0].clone()]);
    assert_eq!(ids(&type_and_actions), ids(&type_pattern));
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["webhook_id"], "gl");
    assert_eq!(rejected[0]["verified"], false);
    assert_eq!(accepted.len(), 4);
    assert!(accepted.iter().all(|e| e["status"] == "accepted"));
    assert_eq!(ids(&combined), [gh_ids[2].clone()]);
}

#[tokio::test]
async fn events_are_filtered_by_time_since() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let before = post_gh(&app, "issues", &issue_opened("octo/a", 1, &[])).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cut = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("format time");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = post_gh(&app, "issues", &issue_opened("octo/a", 2, &[])).await;

    // Act
    let since_cut = app.events(&format!("since={cut}")).await;
    let since_long_ago = app.events("since=2000-01-01T00:00:00Z").await;
    let since_future = app.events("since=2999-01-01T00:00:00Z").await;

    // Assert
    assert_eq!(ids(&since_cut), std::slice::from_ref(&after));
    assert_eq!(ids(&since_long_ago), [after, before]);
    assert!(since_future.is_empty());
}

#[tokio::test]
async fn a_time_whose_offset_plus_was_sent_unencoded_is_read_as_that_offset() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let id = post_gh(&app, "issues", &issue_opened("octo/a", 1, &[])).await;
    // An hour ago, written at +01:00 as curl sends it: the `+` reaches the query as a space.
    let hour_ago = (OffsetDateTime::now_utc() - Duration::from_secs(3600))
        .to_offset(time::macros::offset!(+1))
        .format(&Rfc3339)
        .expect("format time");
    assert!(hour_ago.ends_with("+01:00"), "{hour_ago}");

    // Act
    let since = app.events(&format!("since={hour_ago}")).await;
    let until = app.events(&format!("until={hour_ago}")).await;

    // Assert
    assert_eq!(ids(&since), [id]);
    assert!(until.is_empty());
}

#[tokio::test]
async fn a_bad_limit_or_since_is_refused_naming_the_parameter() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let zero = app.get_json("/api/events?limit=0").await;
    let huge = app.get_json("/api/events?limit=1000").await;
    let words = app.get_json("/api/events?limit=many").await;
    let since = app.get_json("/api/events?since=yesterday").await;
    let swapped = app
        .get_json("/api/events?since=2026-12-06T00:00:00Z&until=2026-12-05T00:00:00Z")
        .await;
    let unknown = app.get_json("/api/events?colour=red").await;
    let twice = app.get_json("/api/events?status=done&status=failed").await;
    let audit_cursor = app.get_json("/api/audit?cursor=0").await;

    // Assert
    assert_error(&zero, StatusCode::BAD_REQUEST, Some("limit"));
    assert_error(&huge, StatusCode::BAD_REQUEST, Some("limit"));
    assert_error(&words, StatusCode::BAD_REQUEST, Some("limit"));
    assert_error(&since, StatusCode::BAD_REQUEST, Some("since"));
    assert_error(&swapped, StatusCode::BAD_REQUEST, Some("until"));
    assert_error(&unknown, StatusCode::BAD_REQUEST, Some("colour"));
    assert_error(&twice, StatusCode::BAD_REQUEST, Some("status"));
    assert_error(&audit_cursor, StatusCode::BAD_REQUEST, Some("cursor"));
}

#[tokio::test]
async fn an_unknown_event_is_404() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let answer = app.get_json("/api/events/evt_doesnotexist").await;

    // Assert
    assert_error(&answer, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn the_event_log_needs_the_api_key() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let answer = send_json(app.client.get(app.url("/api/events"))).await;

    // Assert
    assert_error(&answer, StatusCode::UNAUTHORIZED, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_restart_walking_the_cursor_visits_every_event_once_newest_first() {
    // Arrange
    const N: usize = 50;
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let sent: HashSet<String> = app
        .post_github_concurrently("gh", N, SECRET)
        .await
        .into_iter()
        .collect();
    let app = app.restart().await;

    // Act
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("/api/events?limit=20&cursor={c}"),
            None => "/api/events?limit=20".to_string(),
        };
        let (status, page) = app.get_json(&query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages.push(page["events"].as_array().expect("events").clone());
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() || pages.len() > 10 {
            break;
        }
    }

    // Assert
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [20, 20, 10]);
    let walked: Vec<String> = pages.iter().flat_map(|p| ids(p)).collect();
    let unique: HashSet<String> = walked.iter().cloned().collect();
    assert_eq!(walked.len(), N, "an event was visited twice or missed");
    assert_eq!(unique, sent);
    let mut newest_first = walked.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(walked, newest_first, "not newest first");
    let times: Vec<OffsetDateTime> = pages
        .iter()
        .flatten()
        .map(|e| {
            OffsetDateTime::parse(e["received_at"].as_str().expect("received_at"), &Rfc3339)
                .expect("RFC 3339")
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "received_at not descending: {times:?}"
    );
}

#[tokio::test]
async fn events_outlive_their_deleted_webhook() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let id = post_gh(&app, "issues", &issue_opened("octo/a", 1, &[])).await;

    // Act
    let deleted = app
        .api(reqwest::Method::DELETE, "/api/webhooks/gh")
        .send()
        .await
        .expect("DELETE");
    let (status, event) = app.get_json(&format!("/api/events/{id}")).await;

    // Assert
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!(event["webhook_id"], "gh");
    assert_eq!(ids(&app.events("webhook_id=gh").await), [id]);
    assert!(app.events("webhook_id=gh&status=failed").await.is_empty());
}

#[tokio::test]
async fn a_webhook_id_that_names_no_webhook_is_404_not_an_empty_log() {
    // Arrange: the model gave the webhook's name where its id belongs.
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;

    // Act
    let events = app.get_json("/api/events?webhook_id=GitHub%20issues").await;
    let tasks = app.get_json("/api/tasks?webhook_id=GitHub%20issues").await;
    let (status, empty) = app.get_json("/api/events?webhook_id=gh").await;

    // Assert
    assert_error(&events, StatusCode::NOT_FOUND, None);
    assert_error(&tasks, StatusCode::NOT_FOUND, None);
    assert_eq!(status, StatusCode::OK, "{empty}");
}

#[tokio::test]
async fn a_query_that_is_not_utf8_is_refused_not_looked_up() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;

    // Act: a byte no UTF-8 text has, as a mis-encoding client sends it.
    let events = app.get_json("/api/events?webhook_id=gh%ff").await;
    let tasks = app.get_json("/api/tasks?webhook_id=%c3").await;
    let encoded = app
        .get_json("/api/events?webhook_id=gh&event_type=caf%C3%A9")
        .await;

    // Assert
    assert_error(&events, StatusCode::BAD_REQUEST, None);
    assert!(events.1.to_string().contains("UTF-8"), "{}", events.1);
    assert_error(&tasks, StatusCode::BAD_REQUEST, None);
    assert_eq!(encoded.0, StatusCode::OK, "{}", encoded.1);
}

#[tokio::test]
async fn an_unknown_provider_filter_is_refused_and_unix_seconds_are_a_valid_since() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let id = post_gh(&app, "issues", &issue_opened("octo/a", 1, &[])).await;
    let hour_ago = crate::helpers::now_secs() - 3600;

    // Act
    let bad_provider = app.get_json("/api/events?provider=myspace").await;
    let since_unix = app.events(&format!("since={hour_ago}")).await;
    // Milliseconds too (JavaScript's Date.now()): seconds that long lie 3,000 years ahead.
    let since_unix_ms = app.events(&format!("since={}", hour_ago * 1000)).await;
    let until_unix_ms = app.events(&format!("until={}", hour_ago * 1000)).await;

    // Assert
    assert_error(&bad_provider, StatusCode::BAD_REQUEST, Some("provider"));
    assert_eq!(ids(&since_unix), std::slice::from_ref(&id));
    assert_eq!(ids(&since_unix_ms), [id]);
    assert!(until_unix_ms.is_empty());
}

#[tokio::test]
async fn the_cursor_keeps_the_filters_of_the_walk() {
    // Arrange
    let (app, gh_ids) = app_with_mixed_events().await;

    // Act
    let (_, first) = app.get_json("/api/events?webhook_id=gh&limit=2").await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("next_cursor")
        .to_string();
    let (_, second) = app
        .get_json(&format!(
            "/api/events?webhook_id=gh&limit=2&cursor={cursor}"
        ))
        .await;

    // Assert
    let first_ids = ids(first["events"].as_array().expect("events"));
    let second_ids = ids(second["events"].as_array().expect("events"));
    assert_eq!(first_ids, [gh_ids[2].clone(), gh_ids[1].clone()]);
    assert_eq!(second_ids, [gh_ids[0].clone()]);
    assert!(second["next_cursor"].is_null(), "{second}");
}

#[tokio::test]
async fn a_delivery_repeated_after_a_restart_is_still_a_duplicate() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let (delivery, body) = (delivery_id(), issue_opened("octo/a", 1, &[]));
    let (_, first) = read_json(
        app.post_github("gh", "issues", &delivery, &body, SECRET)
            .await,
    )
    .await;
    let app = app.restart().await;

    // Act
    let (status, again) = read_json(
        app.post_github("gh", "issues", &delivery, &body, SECRET)
            .await,
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["event_id"], first["event_id"]);
    assert_eq!(app.events("").await.len(), 1);
}

#[tokio::test]
async fn an_event_type_filter_longer_than_a_trigger_is_refused_naming_its_limit() {
    // Arrange: SQLite refuses a GLOB pattern past 50,000 bytes as a store error
    let (app, gh_ids) = app_with_mixed_events().await;
    let client = crate::mcp::connect(&app).await;
    let longest = format!("issues{}", "*".repeat(194));
    let (too_long, huge) = ("a".repeat(201), "a".repeat(50_001));

    // Act
    let at_the_limit = app.events(&format!("event_type={longest}")).await;
    let over = app
        .get_json(&format!("/api/events?event_type={too_long}"))
        .await;
    let far_over = app
        .get_json(&format!("/api/events?event_type={huge}"))
        .await;
    let over_mcp = crate::mcp::call(&client, "list_events", json!({"event_type": huge})).await;

    // Assert
    assert_eq!(ids(&at_the_limit), [gh_ids[1].clone(), gh_ids[0].clone()]);
    for refused in [&over, &far_over] {
        assert_error(refused, StatusCode::BAD_REQUEST, Some("event_type"));
        let message = refused.1["error"]["message"].as_str().expect("message");
        assert!(message.contains("200 characters"), "{message}");
    }
    let said = crate::mcp::text(&over_mcp);
    assert_eq!(over_mcp.is_error, Some(true), "{said}");
    assert!(
        said.contains("event_type") && said.contains("200 characters"),
        "{said}"
    );
}

#[tokio::test]
async fn an_id_of_another_kind_is_told_over_rest_which_routes_take_it() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (task_status, task_as_event) = app.get_json("/api/events/task_0193").await;
    let (name_status, name_as_id) = app.get_json("/api/webhooks/GitHub%20issues").await;

    // Assert
    assert_eq!(task_status, StatusCode::NOT_FOUND, "{task_as_event}");
    let said = task_as_event["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(said.contains("/api/tasks/{id}"), "{said}");
    assert!(!said.contains("claim_task"), "{said}");
    assert_eq!(name_status, StatusCode::NOT_FOUND, "{name_as_id}");
    let said = name_as_id["error"]["message"].as_str().unwrap_or_default();
    assert!(said.contains("GET /api/webhooks lists"), "{said}");
}

#[tokio::test]
async fn provider_openai_lists_the_webhooks_made_for_openai_and_their_events_only() {
    // Arrange: two Standard Webhooks webhooks, one created as `openai`, each with an event.
    let app = spawn_app().await;
    let whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    for (id, provider) in [("oa", "openai"), ("sw", "standard-webhooks")] {
        app.create_webhook(json!({"id": id, "name": id, "provider": provider, "secret": whsec}))
            .await;
    }
    let mut received = Vec::new();
    for id in ["oa", "sw"] {
        let body = json!({"type": "batch.completed", "data": {"id": id}}).to_string();
        let sent = app.post_standard(id, &delivery_id(), &body, whsec).await;
        let (status, receipt) = read_json(sent).await;
        assert!(status.is_success(), "{receipt}");
        received.push(receipt["event_id"].as_str().expect("event id").to_string());
    }

    // Act
    let webhooks = |query: &'static str| {
        let app = &app;
        async move {
            let (status, page) = app.get_json(&format!("/api/webhooks?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let ids: Vec<String> = page["webhooks"]
                .as_array()
                .expect("webhooks")
                .iter()
                .map(|w| w["id"].as_str().expect("id").to_string())
                .collect();
            ids
        }
    };
    let openai_hooks = webhooks("provider=openai").await;
    let standard_hooks = webhooks("provider=standard-webhooks").await;
    let openai_events = ids(&app.events("provider=openai").await);
    let standard_events = ids(&app.events("provider=svix").await);

    // Assert: OpenAI's alone; the scheme's name (or `svix`, an alias of it) lists both.
    assert_eq!(openai_hooks, ["oa"]);
    assert_eq!(standard_hooks, ["oa", "sw"]);
    assert_eq!(openai_events, [received[0].clone()]);
    let both: HashSet<String> = received.into_iter().collect();
    assert_eq!(standard_events.into_iter().collect::<HashSet<_>>(), both);
}
