//! Management changes made at the same moment: each is applied to the webhook or command as
//! it is when stored, so neither undoes the other (a rename sent with a rotation must not bring
//! the leaked secret back). Each test fires the pair at once for several rounds: a change read
//! before the other was stored and written back after it would lose the other in most rounds.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, delivery_id, issue_opened, read_json, send_json, spawn_app};
use crate::mcp::{call, connect, structured, text};

const ROUNDS: usize = 20;
const SECRET: &str = "the-leaked-secret-of-some-length";

/// The status a GitHub delivery signed with `secret` gets from webhook `id`.
async fn delivery_status(app: &TestApp, id: &str, secret: &str) -> StatusCode {
    let body = issue_opened("octo/hello", 1, &[]);
    let (status, _) = read_json(
        app.post_github(id, "issues", &delivery_id(), &body, secret)
            .await,
    )
    .await;
    status
}

async fn put_webhook(app: &TestApp, id: &str, body: Value) -> (StatusCode, Value) {
    send_json(
        app.api(Method::PUT, &format!("/api/webhooks/{id}"))
            .json(&body),
    )
    .await
}

async fn rotate(app: &TestApp, id: &str, grace_period_secs: i64) -> (StatusCode, Value) {
    send_json(
        app.api(Method::POST, &format!("/api/webhooks/{id}/rotate-secret"))
            .json(&json!({"grace_period_secs": grace_period_secs})),
    )
    .await
}

#[tokio::test]
async fn a_rename_sent_with_a_rotation_never_brings_the_old_secret_back() {
    // Arrange
    let app = spawn_app().await;

    for round in 0..ROUNDS {
        let id = format!("gh-{round}");
        app.github_webhook(&id, SECRET).await;
        let name = format!("Renamed {round}");

        // Act
        let ((rotated_status, rotated), (renamed_status, renamed)) = tokio::join!(
            rotate(&app, &id, 0),
            put_webhook(&app, &id, json!({"name": name})),
        );

        // Assert
        assert_eq!(rotated_status, StatusCode::OK, "{rotated}");
        assert_eq!(renamed_status, StatusCode::OK, "{renamed}");
        let fresh = rotated["secret"].as_str().expect("new secret");
        assert_eq!(
            delivery_status(&app, &id, fresh).await,
            StatusCode::OK,
            "round {round}: the new secret is refused"
        );
        assert_eq!(
            delivery_status(&app, &id, SECRET).await,
            StatusCode::UNAUTHORIZED,
            "round {round}: the old secret is back"
        );
        let (_, stored) = app.get_json(&format!("/api/webhooks/{id}")).await;
        assert_eq!(stored["name"], name.as_str(), "round {round}: {stored}");
        assert_eq!(stored["secret_hint"], rotated["secret_hint"], "{stored}");
    }
}

#[tokio::test]
async fn a_rotation_over_mcp_beside_a_rest_update_keeps_the_new_secret() {
    // Arrange
    let app = spawn_app().await;
    let client = connect(&app).await;

    for round in 0..ROUNDS {
        let id = format!("gh-{round}");
        app.github_webhook(&id, SECRET).await;

        // Act
        let (rotated, (renamed_status, renamed)) = tokio::join!(
            call(
                &client,
                "rotate_secret",
                json!({"webhook_id": id, "grace_period_secs": 0}),
            ),
            put_webhook(&app, &id, json!({"name": format!("Renamed {round}")})),
        );

        // Assert
        assert_eq!(rotated.is_error, Some(false), "{}", text(&rotated));
        assert_eq!(renamed_status, StatusCode::OK, "{renamed}");
        let rotated = structured(&rotated);
        let fresh = rotated["secret"].as_str().expect("new secret");
        assert_eq!(
            delivery_status(&app, &id, fresh).await,
            StatusCode::OK,
            "round {round}"
        );
        assert_eq!(
            delivery_status(&app, &id, SECRET).await,
            StatusCode::UNAUTHORIZED,
            "round {round}"
        );
    }
    client.cancel().await.ok();
}

#[tokio::test]
async fn two_rotations_at_once_keep_one_new_secret_as_the_previous_and_say_so() {
    // Arrange
    let app = spawn_app().await;

    for round in 0..ROUNDS {
        let id = format!("gh-{round}");
        app.github_webhook(&id, SECRET).await;

        // Act
        let ((a_status, a), (b_status, b)) =
            tokio::join!(rotate(&app, &id, 300), rotate(&app, &id, 300));

        // Assert: as one after the other, whichever came first.
        assert_eq!(a_status, StatusCode::OK, "{a}");
        assert_eq!(b_status, StatusCode::OK, "{b}");
        for answer in [&a, &b] {
            let secret = answer["secret"].as_str().expect("new secret");
            assert_eq!(
                delivery_status(&app, &id, secret).await,
                StatusCode::OK,
                "round {round}: a new secret was lost ({answer})"
            );
        }
        assert_eq!(
            delivery_status(&app, &id, SECRET).await,
            StatusCode::UNAUTHORIZED,
            "round {round}: the original secret outlived both rotations"
        );
        let warned = [&a, &b]
            .iter()
            .filter(|answer| answer["warnings"].to_string().contains("no longer"))
            .count();
        assert_eq!(warned, 1, "round {round}: {a} {b}");
    }
}

#[tokio::test]
async fn disabling_beside_an_allowlist_change_keeps_both() {
    // Arrange
    let app = spawn_app().await;

    for round in 0..ROUNDS {
        let id = format!("gh-{round}");
        app.github_webhook(&id, SECRET).await;

        // Act
        let ((listed_status, listed), (off_status, off)) = tokio::join!(
            put_webhook(
                &app,
                &id,
                json!({"options": {"ip_allowlist": ["10.0.0.0/8"]}})
            ),
            send_json(app.api(Method::POST, &format!("/api/webhooks/{id}/disable"))),
        );

        // Assert
        assert_eq!(listed_status, StatusCode::OK, "{listed}");
        assert_eq!(off_status, StatusCode::OK, "{off}");
        let (_, stored) = app.get_json(&format!("/api/webhooks/{id}")).await;
        assert_eq!(stored["enabled"], false, "round {round}: {stored}");
        assert_eq!(
            stored["options"]["ip_allowlist"],
            json!(["10.0.0.0/8"]),
            "round {round}: {stored}"
        );
    }
}

#[tokio::test]
async fn option_changes_and_a_rename_at_once_all_stay() {
    // Arrange
    let app = spawn_app().await;

    for round in 0..ROUNDS {
        let id = format!("gh-{round}");
        app.github_webhook(&id, SECRET).await;
        let name = format!("Renamed {round}");

        // Act
        let ((limited, _), (listed, _), (renamed, _)) = tokio::join!(
            put_webhook(
                &app,
                &id,
                json!({"options": {"rate_limit": {"per_second": 5}}})
            ),
            put_webhook(
                &app,
                &id,
                json!({"options": {"ip_allowlist": ["10.0.0.0/8"]}})
            ),
            put_webhook(&app, &id, json!({"name": name})),
        );

        // Assert
        assert_eq!(
            [limited, listed, renamed],
            [StatusCode::OK; 3],
            "round {round}"
        );
        let (_, stored) = app.get_json(&format!("/api/webhooks/{id}")).await;
        assert_eq!(
            stored["options"]["rate_limit"]["per_second"], 5,
            "round {round}: {stored}"
        );
        assert_eq!(
            stored["options"]["ip_allowlist"],
            json!(["10.0.0.0/8"]),
            "round {round}: {stored}"
        );
        assert_eq!(stored["name"], name.as_str(), "round {round}: {stored}");
    }
}

#[tokio::test]
async fn two_command_updates_at_once_keep_both_changes() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let (_, added) = send_json(
        app.api(Method::POST, "/api/webhooks/gh/commands")
            .json(&json!({"trigger": "issues.opened", "action": "comment", "template": "Hi"})),
    )
    .await;
    let path = format!(
        "/api/webhooks/gh/commands/{}",
        added["id"].as_str().expect("id")
    );

    for round in 0..ROUNDS {
        let template = format!("Seen {round}: {{{{ issue.title }}}}");
        let priority = round as i64 + 1;

        // Act
        let ((templated, t), (prioritised, p)) = tokio::join!(
            send_json(
                app.api(Method::PUT, &path)
                    .json(&json!({"template": template}))
            ),
            send_json(
                app.api(Method::PUT, &path)
                    .json(&json!({"priority": priority}))
            ),
        );

        // Assert
        assert_eq!(templated, StatusCode::OK, "{t}");
        assert_eq!(prioritised, StatusCode::OK, "{p}");
        let (_, listed) = app.get_json("/api/webhooks/gh/commands").await;
        let stored = &listed["commands"][0];
        assert_eq!(
            stored["template"],
            template.as_str(),
            "round {round}: {stored}"
        );
        assert_eq!(stored["priority"], priority, "round {round}: {stored}");
    }
}

/// The audit log, newest first, names the changes in the order they were stored: its newest
/// rename is the name the webhook kept.
// Several threads, so that the tasks answering the changes can be run in another order than
// the changes were stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_log_lists_renames_made_at_once_in_the_order_they_were_stored() {
    // Arrange
    let app = spawn_app().await;
    let client = connect(&app).await;

    for round in 0..ROUNDS / 2 {
        let id = format!("gh-{round}");
        app.github_webhook(&id, SECRET).await;
        let name = |i: usize| format!("Renamed {round}.{i}");

        // Act: three renames over REST and three over MCP, all at once.
        let rename = |i: usize| put_webhook(&app, &id, json!({"name": name(i)}));
        let rename_mcp = |i: usize| {
            call(
                &client,
                "update_webhook",
                json!({"webhook_id": id, "name": name(i)}),
            )
        };
        let (r0, r1, r2, m3, m4, m5) = tokio::join!(
            rename(0),
            rename(1),
            rename(2),
            rename_mcp(3),
            rename_mcp(4),
            rename_mcp(5),
        );

        // Assert
        let rest = [r0, r1, r2];
        assert!(rest.iter().all(|(s, _)| *s == StatusCode::OK), "{rest:?}");
        let mcp = [m3, m4, m5];
        assert!(mcp.iter().all(|r| r.is_error == Some(false)), "{mcp:?}");
        let (_, stored) = app.get_json(&format!("/api/webhooks/{id}")).await;
        let (_, audit) = app.get_json("/api/audit?limit=6").await;
        let entries = audit["entries"].as_array().expect("entries");
        let renamed: Vec<&str> = entries
            .iter()
            .map(|e| e["detail"]["name"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(renamed[0], stored["name"], "round {round}: {audit}");
        assert!(
            entries.iter().all(|e| e["outcome"] == "ok"),
            "round {round}: {audit}"
        );
        let mut all = renamed.clone();
        all.sort_unstable();
        assert_eq!(all, (0..6).map(name).collect::<Vec<_>>(), "round {round}");
    }
    client.cancel().await.ok();
}
