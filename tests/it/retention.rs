//! Old events let go (`WEBHOOK_MCP_EVENT_RETENTION_DAYS`): past the retention, an event whose
//! work has ended goes with its tasks, actions, attempts and reply lookups; one still at work,
//! a recent one, and every one without a retention stay. Messages posted by hand without an
//! event go the same retention after they ended.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    GH_SECRET, TestApp, agent_app, agent_config, fake_github, fake_llm, issue_comment, llm_answer,
    llm_asks, manual_outbox, open_issue, post_gh, run_next, runner_of, spawn_manual,
};

const DAY_MS: i64 = 86_400_000;

/// How many rows `sql` (with one `?1`) counts in the app's database file.
fn count(app: &TestApp, sql: &str, arg: &str) -> i64 {
    let db = rusqlite::Connection::open(&app.db_path).expect("open db");
    db.query_row(sql, [arg], |r| r.get(0)).expect("count")
}

async fn status_of(app: &TestApp, path: &str) -> StatusCode {
    app.get_json(path).await.0
}

#[tokio::test]
async fn old_events_whose_work_ended_go_with_their_tasks_and_actions_the_rest_stay() {
    // Arrange: a task that asked, took its reply and answered, every action of it delivered;
    // a task still queued; a comment still pending; a rejected delivery. All received 40 days
    // ago; then one event today.
    let llm = fake_llm(vec![llm_asks("Which browser?"), llm_answer("Fixed.")]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.closed", "action": "comment", "template": "Closed."}),
    )
    .await;
    let runner = runner_of(&app);
    let finished = open_issue(&app, 1, "Login broken").await;
    let task = app.task_id_of(&finished).await;
    run_next(&app, &runner).await.expect("asks");
    app.drain().await;
    let reply = post_gh(
        &app,
        "issue_comment",
        &issue_comment(1, "Login broken", "bob", "Firefox"),
    )
    .await;
    assert_eq!(
        run_next(&app, &runner).await,
        Some((task.clone(), "done".into()))
    );
    assert_eq!(app.drain().await, 1, "the answer");
    let still_queued = open_issue(&app, 2, "Not run yet").await;
    let queued_task = app.task_id_of(&still_queued).await;
    let closed = json!({
        "action": "closed",
        "issue": {"number": 3, "title": "Done", "body": "", "labels": [],
                  "user": {"login": "octocat"}},
        "repository": {"full_name": "octo/app", "name": "app"},
        "sender": {"login": "octocat"},
    });
    let pending = post_gh(&app, "issues", &closed.to_string()).await;
    let rejected = app.forged_github("gh").await;
    let actions: Vec<String> = {
        let db = rusqlite::Connection::open(&app.db_path).expect("open db");
        let mut stmt = db
            .prepare("SELECT id FROM outbox WHERE task_id = ?1")
            .expect("prepare");
        stmt.query_map([&task], |r| r.get(0))
            .expect("query")
            .map(|id| id.expect("id"))
            .collect()
    };
    let attempts = "SELECT COUNT(*) FROM outbox_attempts WHERE outbox_id = ?1";
    let lookups = "SELECT COUNT(*) FROM task_replies WHERE event_id = ?1";
    assert_eq!(actions.len(), 2, "question, answer");
    for action in &actions {
        assert_eq!(count(&app, attempts, action), 1, "{action}");
    }
    assert_eq!(count(&app, lookups, &reply), 1);
    {
        let db = rusqlite::Connection::open(&app.db_path).expect("open db");
        db.execute(
            "UPDATE events SET received_at = received_at - ?1",
            [40 * DAY_MS],
        )
        .expect("backdate");
    }
    let recent = post_gh(
        &app,
        "issue_comment",
        &issue_comment(2, "Not run yet", "bob", "Any news?"),
    )
    .await;
    let every = [
        &finished,
        &reply,
        &still_queued,
        &pending,
        &rejected,
        &recent,
    ];

    // Act: without a retention (the default), through a restart (where a sweep would start)
    let app = app.restart_with(agent_config(&llm, &github)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Assert: nothing goes
    for id in every {
        assert_eq!(
            status_of(&app, &format!("/api/events/{id}")).await,
            StatusCode::OK,
            "{id}"
        );
    }

    // Act: with a retention of 30 days
    let with_retention = agent_config(&llm, &github);
    let app = app
        .restart_with(move |config| {
            with_retention(config);
            config.event_retention_days = 30;
        })
        .await;
    let mut waited = 0;
    while status_of(&app, &format!("/api/events/{finished}")).await == StatusCode::OK {
        assert!(waited < 100, "the old finished event was never deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }

    // Assert: the finished event, its task, actions, attempts and the reply (and its lookup)
    // are gone, and so is the old rejected delivery
    for gone in [&finished, &reply, &rejected] {
        assert_eq!(
            status_of(&app, &format!("/api/events/{gone}")).await,
            StatusCode::NOT_FOUND,
            "{gone}"
        );
    }
    assert_eq!(
        status_of(&app, &format!("/api/tasks/{task}")).await,
        StatusCode::NOT_FOUND
    );
    for action in &actions {
        let rows = "SELECT COUNT(*) FROM outbox WHERE id = ?1";
        assert_eq!(count(&app, rows, action), 0, "{action}");
        assert_eq!(count(&app, attempts, action), 0, "{action}");
    }
    assert_eq!(count(&app, lookups, &reply), 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM task_replies WHERE task_id = ?1",
            &task
        ),
        0
    );
    // ...while work still going keeps its old event, and the recent one stays
    assert_eq!(app.task(&queued_task).await["status"], "queued");
    let actions = app.actions_of(&pending).await;
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0]["status"], "pending");
    for kept in [&still_queued, &recent] {
        assert_eq!(
            status_of(&app, &format!("/api/events/{kept}")).await,
            StatusCode::OK,
            "{kept}"
        );
    }
    let metrics = app.metrics_text().await;
    for counted in [
        "webhook_mcp_events_expired_total 3",
        "webhook_mcp_tasks_expired_total 1",
        "webhook_mcp_actions_expired_total 2",
    ] {
        assert!(metrics.contains(&format!("\n{counted}\n")), "{metrics}");
    }
}

#[tokio::test]
async fn old_messages_posted_without_an_event_go_once_ended_fresh_and_unsent_ones_stay() {
    // Arrange: messages posted by hand with no event: one delivered and one dead (its channel
    // down), then, 40 days later by their times, one still waiting to be sent; and one
    // delivered today.
    let channel = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/down"))
        .respond_with(wiremock::ResponseTemplate::new(503))
        .mount(&channel)
        .await;
    wiremock::Mock::given(wiremock::matchers::path("/up"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&channel)
        .await;
    let app = spawn_manual(|_| {}).await;
    let post = async |to: &str, text: &str| {
        let message = json!({"url": format!("{}/{to}", channel.uri()), "kind": "slack",
                             "text": text});
        let (status, action) = app.post_api("/api/messages", &message).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{action}");
        action["id"].as_str().expect("action id").to_string()
    };
    let delivered = post("up", "Deploy done, ping alice@example.com").await;
    let dead = post("down", "Lunch at noon").await;
    app.drain().await;
    let fresh = post("up", "Today's news").await;
    app.drain().await;
    let unsent = post("up", "Not sent yet").await;
    let status = |id: String| {
        let app = &app;
        async move { app.get_json(&format!("/api/actions/{id}")).await.1["status"].clone() }
    };
    assert_eq!(status(delivered.clone()).await, "delivered");
    assert_eq!(status(dead.clone()).await, "dead");
    assert_eq!(status(fresh.clone()).await, "delivered");
    assert_eq!(status(unsent.clone()).await, "pending");
    let attempts = "SELECT COUNT(*) FROM outbox_attempts WHERE outbox_id = ?1";
    assert_eq!(count(&app, attempts, &dead), 3);
    {
        let db = rusqlite::Connection::open(&app.db_path).expect("open db");
        for id in [&delivered, &dead, &unsent] {
            db.execute(
                "UPDATE outbox SET created_at = created_at - ?2, updated_at = updated_at - ?2, \
                 next_attempt_at = next_attempt_at - ?2 WHERE id = ?1",
                rusqlite::params![id, 40 * DAY_MS],
            )
            .expect("backdate");
            db.execute(
                "UPDATE outbox_attempts SET started_at = started_at - ?2 WHERE outbox_id = ?1",
                rusqlite::params![id, 40 * DAY_MS],
            )
            .expect("backdate attempts");
        }
    }

    // Act: a restart with a retention of 30 days (the worker off: the unsent one stays so)
    let app = app
        .restart_with(|config| {
            manual_outbox(config);
            config.event_retention_days = 30;
        })
        .await;
    let mut waited = 0;
    while status_of(&app, &format!("/api/actions/{delivered}")).await == StatusCode::OK {
        assert!(waited < 100, "the old delivered message was never deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }

    // Assert: the old ended ones are gone with their attempts, the others stay and are counted
    for gone in [&delivered, &dead] {
        assert_eq!(
            status_of(&app, &format!("/api/actions/{gone}")).await,
            StatusCode::NOT_FOUND,
            "{gone}"
        );
        assert_eq!(count(&app, attempts, gone), 0, "{gone}");
    }
    for kept in [&fresh, &unsent] {
        assert_eq!(
            status_of(&app, &format!("/api/actions/{kept}")).await,
            StatusCode::OK,
            "{kept}"
        );
    }
    let metrics = app.metrics_text().await;
    for counted in [
        "webhook_mcp_events_expired_total 0",
        "webhook_mcp_tasks_expired_total 0",
        "webhook_mcp_actions_expired_total 2",
    ] {
        assert!(metrics.contains(&format!("\n{counted}\n")), "{metrics}");
    }
}

#[tokio::test]
async fn audit_entries_older_than_their_own_retention_go_newer_ones_and_events_stay() {
    // Arrange: three changes 40 days old by their entries' times (two messages posted by hand,
    // whose text is in their entries, and the webhook's creation), one made today; an event
    // 40 days old.
    let channel = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&channel)
        .await;
    let app = spawn_manual(|_| {}).await;
    let post = async |text: &str| {
        let message = json!({"url": format!("{}/hook", channel.uri()), "kind": "slack",
                             "text": text});
        let (status, action) = app.post_api("/api/messages", &message).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{action}");
    };
    post("Call alice on +1 555 0100").await;
    post("Lunch at noon").await;
    app.github_webhook("gh", GH_SECRET).await;
    let event = open_issue(&app, 1, "Login broken").await;
    {
        let db = rusqlite::Connection::open(&app.db_path).expect("open db");
        db.execute("UPDATE audit_log SET at = at - ?1", [40 * DAY_MS])
            .expect("backdate entries");
        db.execute(
            "UPDATE events SET received_at = received_at - ?1",
            [40 * DAY_MS],
        )
        .expect("backdate event");
    }
    post("Today's news").await;
    let texts = "SELECT COUNT(*) FROM audit_log WHERE detail LIKE ?1";
    assert_eq!(count(&app, texts, "%alice%"), 1);

    // Act: a restart with an audit retention of 30 days and no event retention
    let app = app
        .restart_with(|config| {
            manual_outbox(config);
            config.audit_retention_days = 30;
        })
        .await;
    let mut waited = 0;
    while count(&app, texts, "%alice%") > 0 {
        assert!(waited < 100, "the old audit entry was never deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }

    // Assert: the old entries are gone, today's stays, and the event is kept
    assert_eq!(count(&app, texts, "%Lunch%"), 0);
    assert_eq!(count(&app, texts, "%Today%"), 1);
    assert_eq!(
        status_of(&app, &format!("/api/events/{event}")).await,
        StatusCode::OK
    );
    let metrics = app.metrics_text().await;
    for counted in [
        "webhook_mcp_audit_entries_expired_total 3",
        "webhook_mcp_events_expired_total 0",
    ] {
        assert!(metrics.contains(&format!("\n{counted}\n")), "{metrics}");
    }
}
