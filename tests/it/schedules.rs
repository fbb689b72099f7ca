//! Scheduled commands: a command with trigger `schedule` fires on its cron schedule, each tick
//! once (a restart at the same tick does not fire it again), and bad schedules are refused over
//! REST and MCP naming the field. The scheduler is stepped with a chosen time, not waited for:
//! the schedules here (29 February, 09:00) fall years after the real clock, which the app's
//! own scheduler runs on meanwhile and never finds due.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use webhook_mcp::service::schedules::{Scheduler, Tick};

use crate::helpers::{TestApp, send_json, spawn_app};
use crate::mcp::{call, connect, text};

/// 29 February 2028, 09:00:30 UTC: half a minute after a `0 9 29 2 *` tick.
fn leap_day_morning() -> i64 {
    webhook_mcp::clock::parse("2028-02-29T09:00:30Z").expect("time")
}

async fn app_with_webhook() -> TestApp {
    let app = spawn_app().await;
    app.github_webhook("gh", "s3cret").await;
    app
}

async fn add(app: &TestApp, body: Value) -> (StatusCode, Value) {
    send_json(
        app.api(Method::POST, "/api/webhooks/gh/commands")
            .json(&body),
    )
    .await
}

async fn leap_day_report(app: &TestApp) -> String {
    let (status, added) = add(
        app,
        json!({"trigger": "schedule", "schedule": "0 9 29 2 *", "action": "create_task",
               "agent": "planning",
               "template": "Summarise the issues opened since {{ previous_scheduled_for }} \
                            (report due {{ scheduled_for }}) for #engineering"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    // The built-in planning agent answers with a comment, which a tick has no source for: said
    // as such, not as a token this server lacks.
    let said = added["warnings"].to_string();
    assert!(
        said.contains("no event source") && !said.contains("token"),
        "{added}"
    );
    added["id"].as_str().expect("id").to_string()
}

async fn tasks(app: &TestApp) -> Vec<Value> {
    let (status, tasks) = app.get_json("/api/tasks?webhook_id=gh").await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
    tasks["tasks"].as_array().expect("tasks").clone()
}

#[tokio::test]
async fn a_schedule_fires_once_and_a_restart_at_the_same_tick_does_not_fire_it_again() {
    // Arrange
    let app = app_with_webhook().await;
    let command_id = leap_day_report(&app).await;
    let now = leap_day_morning();

    // Act
    let mut scheduler = Scheduler::default();
    let first = scheduler.step(&app.state, now).await.expect("step");
    let again = scheduler
        .step(&app.state, now + 20_000)
        .await
        .expect("step");
    let app = app.restart().await;
    let after_restart = Scheduler::default()
        .step(&app.state, now)
        .await
        .expect("step");

    // Assert: fired once, for 09:00, its task's prompt rendered from the tick.
    let due = webhook_mcp::clock::parse("2028-02-29T09:00:00Z").expect("time");
    let [
        Tick::Fired {
            command_id: fired,
            event_id,
            due: fired_due,
        },
    ] = first.as_slice()
    else {
        panic!("one tick fired: {first:?}");
    };
    assert_eq!((fired.as_str(), *fired_due), (command_id.as_str(), due));
    assert_eq!(again, [], "the same tick again");
    assert!(
        matches!(after_restart.as_slice(), [Tick::Duplicate { event_id: e, .. }] if e == event_id),
        "{after_restart:?}"
    );
    let tasks = tasks(&app).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let (_, task) = app
        .get_json(&format!(
            "/api/tasks/{}",
            tasks[0]["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(
        task["prompt"],
        "Summarise the issues opened since 2024-02-29T09:00:00.000Z (report due \
         2028-02-29T09:00:00.000Z) for #engineering",
        "{task}"
    );
    let (_, event) = app.get_json(&format!("/api/events/{event_id}")).await;
    assert_eq!(event["event_type"], "schedule", "{event}");
    assert_eq!(event["matched_commands"], json!([command_id]), "{event}");
    // Listed with what it is: its schedule and time, where a sender's event has its title.
    let listed = app.events("event_type=schedule").await;
    assert_eq!(
        listed[0]["title"], "0 9 29 2 * (UTC) for 2028-02-29T09:00:00+00:00",
        "{listed:?}"
    );
    assert_eq!(event["title"], listed[0]["title"]);
}

#[tokio::test]
async fn a_ticks_event_replayed_runs_its_own_command_and_no_catch_all() {
    // Arrange: a catch-all command beside the schedule, which its tick must not set off.
    let app = app_with_webhook().await;
    let command_id = leap_day_report(&app).await;
    let (status, all) = add(
        &app,
        json!({"trigger": "*", "action": "create_task", "agent": "triage",
               "template": "Look at this event"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{all}");
    let fired = Scheduler::default()
        .step(&app.state, leap_day_morning())
        .await
        .expect("step");
    let [Tick::Fired { event_id, .. }] = fired.as_slice() else {
        panic!("{fired:?}");
    };

    // Act
    let (status, replayed) = send_json(
        app.api(Method::POST, &format!("/api/events/{event_id}/replay"))
            .json(&json!({})),
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{replayed}");
    // Its queued task is kept (a replay queues only what is missing), and the catch-all,
    // which no sender's event set off, made none.
    let said = replayed.to_string();
    let all_id = all["id"].as_str().expect("id");
    assert!(
        said.contains(&command_id) && !said.contains(all_id),
        "{said}"
    );
    let tasks = tasks(&app).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["agent"], "planning", "{tasks:?}");
    let (_, event) = app.get_json(&format!("/api/events/{event_id}")).await;
    assert_eq!(event["matched_commands"], json!([command_id]), "{event}");
}

#[tokio::test]
async fn after_downtime_only_a_recent_tick_fires_and_an_old_one_is_skipped() {
    // Arrange
    let app = app_with_webhook().await;
    leap_day_report(&app).await;
    let half_an_hour_late = leap_day_morning() + 30 * 60_000;
    let three_hours_late =
        webhook_mcp::clock::parse("2032-02-29T12:00:00Z").expect("a later leap day");

    // Act
    let late = Scheduler::default()
        .step(&app.state, half_an_hour_late)
        .await
        .expect("step");
    let missed = Scheduler::default()
        .step(&app.state, three_hours_late)
        .await
        .expect("step");

    // Assert
    assert!(matches!(late.as_slice(), [Tick::Fired { .. }]), "{late:?}");
    assert!(
        matches!(missed.as_slice(), [Tick::Missed { .. }]),
        "{missed:?}"
    );
    assert_eq!(tasks(&app).await.len(), 1);
}

#[tokio::test]
async fn a_disabled_or_deleted_command_and_a_disabled_webhook_do_not_fire() {
    // Arrange
    let owned = app_with_webhook().await;
    let app = &owned;
    let command_id = leap_day_report(app).await;
    let command = format!("/api/webhooks/gh/commands/{command_id}");
    let step = |now: i64| async move {
        Scheduler::default()
            .step(&app.state, now)
            .await
            .expect("step")
    };
    let put = |path: String, body: Value| async move {
        let (status, answer) = send_json(app.api(Method::PUT, &path).json(&body)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        answer
    };

    // Act
    let disabled = put(command.clone(), json!({"enabled": false})).await;
    let while_disabled = step(leap_day_morning()).await;
    put(command.clone(), json!({"enabled": true})).await;
    put("/api/webhooks/gh".into(), json!({"enabled": false})).await;
    let while_webhook_disabled = step(leap_day_morning()).await;
    put("/api/webhooks/gh".into(), json!({"enabled": true})).await;
    let enabled_again = step(leap_day_morning()).await;
    let (_, half_past) = add(
        app,
        json!({"trigger": "schedule", "schedule": "30 9 29 2 *", "action": "create_task",
               "agent": "planning", "template": "Half past"}),
    )
    .await;
    let half_past = half_past["id"].as_str().expect("id").to_string();
    let (removed, _) = send_json(app.api(
        Method::DELETE,
        &format!("/api/webhooks/gh/commands/{half_past}"),
    ))
    .await;
    let after_delete = step(leap_day_morning() + 30 * 60_000).await;

    // Assert
    assert_eq!(disabled["next_run_at"], Value::Null, "{disabled}");
    assert_eq!(while_disabled, []);
    assert_eq!(while_webhook_disabled, []);
    // The same tick fires once both are on again: what held it back was their being off.
    assert!(
        matches!(enabled_again.as_slice(), [Tick::Fired { .. }]),
        "{enabled_again:?}"
    );
    assert!(removed.is_success(), "{removed}");
    assert!(
        after_delete
            .iter()
            .all(|t| !format!("{t:?}").contains(&half_past)),
        "{after_delete:?}"
    );
    assert_eq!(tasks(app).await.len(), 1);
}

#[tokio::test]
async fn a_listing_shows_the_schedule_its_zone_and_next_run() {
    // Arrange
    let app = app_with_webhook().await;
    let (status, added) = add(
        &app,
        json!({"trigger": "schedule", "schedule": "0 9 * * 1-5", "timezone": "Europe/Berlin",
               "action": "post_message", "template": "Stand-up in #engineering at {{ scheduled_for_local }}",
               "target": {"url": "https://hooks.slack.com/services/T0/B0/x"}}),
    )
    .await;

    // Act
    let (_, listed) = app.get_json("/api/webhooks/gh/commands").await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let shown = &listed["commands"][0];
    assert_eq!(shown["schedule"], "0 9 * * 1-5", "{listed}");
    assert_eq!(shown["timezone"], "Europe/Berlin", "{listed}");
    let next = shown["next_run_at"].as_str().expect("next_run_at");
    // 09:00 in Berlin is 07:00 or 08:00 UTC.
    assert!(
        next.ends_with("T08:00:00.000Z") || next.ends_with("T07:00:00.000Z"),
        "{next}"
    );
    // A scheduled command is not told its trigger is no GitHub event.
    assert_eq!(added["warnings"], Value::Null, "{added}");
}

#[tokio::test]
async fn bad_schedules_are_refused_over_rest_naming_the_field() {
    // Arrange
    let app = app_with_webhook().await;
    let task = |extra: Value| {
        let mut body = json!({"trigger": "schedule", "action": "create_task",
                              "agent": "planning", "template": "Daily report"});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };
    // (body, field refused)
    let cases = [
        (task(json!({"schedule": "61 9 * * *"})), "schedule"),
        (task(json!({"schedule": "0 9 * *"})), "schedule"),
        (task(json!({})), "schedule"),
        (
            task(json!({"schedule": "0 9 * * *", "timezone": "Mars/Olympus"})),
            "timezone",
        ),
        (
            task(json!({"trigger": "issues.opened", "schedule": "0 9 * * *"})),
            "schedule",
        ),
        (
            task(json!({"schedule": "0 9 * * *", "action": "comment"})),
            "action",
        ),
        (
            task(json!({"schedule": "0 9 * * *", "template": "Look at {{ issue.title }}"})),
            "template",
        ),
    ];

    for (body, field) in cases {
        // Act
        let (status, refused) = add(&app, body.clone()).await;

        // Assert
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {refused}");
        assert_eq!(refused["error"]["field"], field, "{body}: {refused}");
    }
}

#[tokio::test]
async fn a_bad_schedule_is_a_tool_error_over_mcp_and_a_good_one_is_added() {
    // Arrange
    let app = app_with_webhook().await;
    let client = connect(&app).await;

    // Act
    let refused = call(
        &client,
        "add_command",
        json!({"webhook_id": "gh", "trigger": "schedule", "schedule": "every weekday at 9",
               "action": "create_task", "agent": "planning", "template": "Daily report"}),
    )
    .await;
    let added = call(
        &client,
        "add_command",
        json!({"webhook_id": "gh", "trigger": "schedule", "schedule": "0 9 * * 1-5",
               "action": "create_task", "agent": "planning",
               "template": "Summarise yesterday's issues (due {{ scheduled_for }})"}),
    )
    .await;

    // Assert
    assert_eq!(refused.is_error, Some(true), "{}", text(&refused));
    let said = text(&refused);
    assert!(
        said.contains("schedule") && said.contains("0 9 * * 1-5"),
        "{said}"
    );
    assert_eq!(added.is_error, Some(false), "{}", text(&added));
    client.cancel().await.ok();
}

/// A configuration file holding a daily report, as `WEBHOOK_MCP_CONFIG_DIR` takes it.
fn daily_report_config(schedule: &str) -> Value {
    json!({"name": "Reports", "provider": "github", "webhook_id": "reports",
           "secret": "a-secret-of-some-length",
           "commands": [{"trigger": "schedule", "schedule": schedule,
                         "timezone": "America/New_York", "action": "create_task",
                         "agent": "planning",
                         "template": "Summarise yesterday's issues ({{ scheduled_for_local }})"}]})
}

#[tokio::test]
async fn a_config_file_holds_a_schedule_kept_across_starts_and_a_bad_one_stops_the_start() {
    // Arrange
    let files = tempfile::tempdir().expect("config dir");
    let file = files.path().join("reports.json");
    std::fs::write(&file, daily_report_config("0 9 * * 1-5").to_string()).expect("write");
    let dir = files.path().to_path_buf();
    let app = crate::helpers::spawn_app_with(|c| c.config_dir = Some(dir.clone())).await;
    let (_, first) = app.get_json("/api/webhooks/reports/commands").await;

    // Act: started again on the same file, then on one with a bad schedule.
    let app = app.restart_with(|c| c.config_dir = Some(dir.clone())).await;
    let (_, again) = app.get_json("/api/webhooks/reports/commands").await;
    std::fs::write(&file, daily_report_config("0 25 * * *").to_string()).expect("write");
    let data = tempfile::tempdir().expect("data dir");
    let mut config = webhook_mcp::config::Config::for_tests(data.path().join("app.db"));
    config.config_dir = Some(dir.clone());
    let refused = webhook_mcp::app::build(config).await.err();

    // Assert
    let command = &first["commands"][0];
    assert_eq!(command["schedule"], "0 9 * * 1-5", "{first}");
    assert_eq!(command["timezone"], "America/New_York", "{first}");
    assert!(command["next_run_at"].is_string(), "{first}");
    // Unchanged, it keeps its id: the same command, not a new one each start.
    assert_eq!(again["commands"][0]["id"], command["id"], "{again}");
    let said = format!("{:#}", refused.expect("the start was refused"));
    assert!(
        said.contains("reports.json") && said.contains("schedule"),
        "{said}"
    );
}

#[tokio::test]
async fn an_update_changes_the_schedule_and_an_event_trigger_drops_it() {
    // Arrange
    let app = app_with_webhook().await;
    let command_id = leap_day_report(&app).await;
    let client = connect(&app).await;

    // Act
    let moved = call(
        &client,
        "update_command",
        json!({"webhook_id": "gh", "command_id": command_id, "schedule": "30 8 * * 1-5",
               "timezone": "Asia/Tokyo"}),
    )
    .await;
    let (_, after_move) = app
        .get_json(&format!("/api/webhooks/gh/commands/{command_id}"))
        .await;
    let (status, to_events) = send_json(
        app.api(
            Method::PUT,
            &format!("/api/webhooks/gh/commands/{command_id}"),
        )
        .json(&json!({"trigger": "issues.opened", "template": "Look at {{ issue.title }}"})),
    )
    .await;

    // Assert
    assert_eq!(moved.is_error, Some(false), "{}", text(&moved));
    assert_eq!(after_move["schedule"], "30 8 * * 1-5", "{after_move}");
    assert_eq!(after_move["timezone"], "Asia/Tokyo", "{after_move}");
    // 08:30 in Tokyo is 23:30 UTC the day before.
    let next = after_move["next_run_at"].as_str().expect("next_run_at");
    assert!(next.ends_with("T23:30:00.000Z"), "{next}");
    assert_eq!(status, StatusCode::OK, "{to_events}");
    assert_eq!(to_events["trigger"], "issues.opened", "{to_events}");
    assert_eq!(to_events["schedule"], Value::Null, "{to_events}");
    assert_eq!(to_events["next_run_at"], Value::Null, "{to_events}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn two_processes_on_one_database_fire_a_tick_once() {
    // Arrange: `serve` and a `stdio --worker` on the same file each run a scheduler; here a
    // second app built on the same database stands for the other process.
    let app = app_with_webhook().await;
    let command_id = leap_day_report(&app).await;
    let other =
        webhook_mcp::app::build(webhook_mcp::config::Config::for_tests(app.db_path.clone()))
            .await
            .expect("a second app on the same database");
    let other = other.state();
    let now = leap_day_morning();

    // Act: both look at the same tick at once.
    let (mut ours, mut theirs) = (Scheduler::default(), Scheduler::default());
    let (here, there) = tokio::join!(ours.step(&app.state, now), theirs.step(&other, now));
    let (here, there) = (here.expect("step"), there.expect("step"));

    // Assert: one fired it, the other found it fired; one task.
    let all: Vec<&Tick> = here.iter().chain(&there).collect();
    let fired = all
        .iter()
        .filter(|t| matches!(t, Tick::Fired { command_id: c, .. } if *c == command_id))
        .count();
    let found = all
        .iter()
        .filter(|t| matches!(t, Tick::Duplicate { command_id: c, .. } if *c == command_id))
        .count();
    assert_eq!((fired, found), (1, 1), "{all:?}");
    assert_eq!(tasks(&app).await.len(), 1);
}
