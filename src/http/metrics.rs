//! `GET /metrics`: Prometheus text. Counts come from the database at scrape time (events,
//! actions and tasks by status, webhooks), so they are exact across restarts and shared by
//! every process on the same file. The store writer's counters (commits, batched writes, time
//! spent, and histograms of commit and fdatasync durations), the count of events let go past
//! the retention, the receiver's answers by outcome and the runner's chat API pauses are this
//! process's own.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use rusqlite::Connection;

use super::error::ApiError;
use crate::app::AppState;
use crate::store::durations::{BOUNDS, Buckets};
use crate::store::{StoreError, WriterSnapshot};

pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut body = state
        .store
        .read(render)
        .await
        .map_err(crate::service::ServiceError::from)?;
    render_writer(&mut body, state.store.writer_stats());
    let store = &state.store;
    // Looked at again as /health does, so a scrape alone finds a trouble gone.
    let writable = (store.failure())
        .or_else(|| store.writer_stopped())
        .or_else(|| store.trouble_looked_at())
        .is_none();
    body.push_str(&format!(
        "# HELP webhook_mcp_store_writable 1 while writes are stored, 0 while they are refused \
         (/health says why).\n# TYPE webhook_mcp_store_writable gauge\n\
         webhook_mcp_store_writable {}\n",
        u8::from(writable)
    ));
    body.push_str(&format!(
        "# HELP webhook_mcp_chat_api_paused Pauses in force of the runner's calls the chat API \
         refused for their key or model (their tasks wait; /health says why).\n\
         # TYPE webhook_mcp_chat_api_paused gauge\nwebhook_mcp_chat_api_paused {}\n",
        state.chat_pauses.count()
    ));
    render_expired(&mut body, &state.expired);
    render_deliveries(&mut body, &state.deliveries);
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}

fn render(db: &Connection) -> Result<String, StoreError> {
    let mut out = String::new();
    let now = crate::clock::now_ms();
    // Every known status is shown, at 0 when nothing has it: a dashboard then reads 0, not
    // "no data". A status only the database knows (from a later version) is shown too.
    let mut family = |name: &str,
                      help: &str,
                      known: &[&str],
                      sql: &str,
                      params: &[&dyn rusqlite::ToSql]|
     -> Result<(), StoreError> {
        out.push_str(&format!(
            "# HELP {name} {help}
# TYPE {name} gauge
"
        ));
        let mut counts: Vec<(String, i64)> = known.iter().map(|s| (s.to_string(), 0)).collect();
        let mut stmt = db.prepare(sql)?;
        let rows = stmt.query_map(params, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (label, count) = row?;
            match counts.iter_mut().find(|(known, _)| *known == label) {
                Some((_, n)) => *n += count,
                None => counts.push((label, count)),
            }
        }
        for (label, count) in counts {
            out.push_str(&format!(
                "{name}{{status=\"{}\"}} {count}\n",
                escape(&label)
            ));
        }
        Ok(())
    };
    family(
        "webhook_mcp_events",
        "Stored events by status.",
        &crate::service::events::STATUSES,
        "SELECT status, COUNT(*) FROM events GROUP BY status",
        &[],
    )?;
    family(
        "webhook_mcp_actions",
        "Outbox actions by status.",
        &crate::service::actions::STATUSES,
        "SELECT status, COUNT(*) FROM outbox GROUP BY status",
        &[],
    )?;
    // A running task whose lease ran out is queued again, as the API shows it.
    family(
        "webhook_mcp_tasks",
        "Agent tasks by status.",
        &crate::service::tasks::STATUSES,
        "SELECT CASE WHEN status = 'running' AND lease_until < ?1 THEN 'queued' \
         ELSE status END AS shown, COUNT(*) FROM tasks GROUP BY shown",
        &[&now],
    )?;
    family(
        "webhook_mcp_webhooks",
        "Registered webhooks, enabled or disabled.",
        &["enabled", "disabled"],
        "SELECT CASE enabled WHEN 1 THEN 'enabled' ELSE 'disabled' END, COUNT(*) \
         FROM webhooks GROUP BY enabled",
        &[],
    )?;
    Ok(out)
}

/// The writer's own counters: this process only, reset at start. `writes / commits` is the
/// average batch a commit (one fsync) carried.
fn render_writer(out: &mut String, stats: WriterSnapshot) {
    let counters = [
        (
            "webhook_mcp_store_commits_total",
            "Transactions the store writer committed (one fsync each).",
            stats.commits as f64,
        ),
        (
            "webhook_mcp_store_failed_commits_total",
            "Transactions whose COMMIT failed (a full disk, a failing one): nothing of them \
             was stored.",
            stats.failed_commits as f64,
        ),
        (
            "webhook_mcp_store_writes_total",
            "Writes those transactions carried (group commit batches them).",
            stats.writes as f64,
        ),
        (
            "webhook_mcp_store_work_seconds_total",
            "Time the writer spent running writes before committing.",
            stats.work_seconds,
        ),
        (
            "webhook_mcp_store_commit_seconds_total",
            "Time the writer spent committing to the WAL.",
            stats.commit_seconds,
        ),
        (
            "webhook_mcp_store_syncs_total",
            "fdatasync calls that made commits durable (one covers every commit before it).",
            stats.syncs as f64,
        ),
        (
            "webhook_mcp_store_sync_seconds_total",
            "Time spent waiting for those syncs.",
            stats.sync_seconds,
        ),
    ];
    for (name, help, value) in counters {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        ));
    }
    histogram(
        out,
        "webhook_mcp_store_commit_duration_seconds",
        "How long each commit to the WAL took (the slow ones hold a checkpoint).",
        &stats.commit_durations,
        stats.commit_seconds,
    );
    histogram(
        out,
        "webhook_mcp_store_sync_duration_seconds",
        "How long each fdatasync of the WAL took (the disk's share of an answer's wait).",
        &stats.sync_durations,
        stats.sync_seconds,
    );
}

/// What this process let go past the retention: its own count, like the writer's.
fn render_expired(out: &mut String, expired: &crate::service::retention::Expired) {
    let counters = [
        (
            "webhook_mcp_events_expired_total",
            "Events this process deleted past WEBHOOK_MCP_EVENT_RETENTION_DAYS, with their \
             tasks and actions.",
            expired.events(),
        ),
        (
            "webhook_mcp_tasks_expired_total",
            "Tasks this process deleted with their events past \
             WEBHOOK_MCP_EVENT_RETENTION_DAYS.",
            expired.tasks(),
        ),
        (
            "webhook_mcp_actions_expired_total",
            "Actions this process deleted past WEBHOOK_MCP_EVENT_RETENTION_DAYS: with their \
             events or tasks, and those without an event once ended that long.",
            expired.actions(),
        ),
        (
            "webhook_mcp_audit_entries_expired_total",
            "Audit log entries this process deleted past WEBHOOK_MCP_AUDIT_RETENTION_DAYS.",
            expired.audit_entries(),
        ),
    ];
    for (name, help, value) in counters {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        ));
    }
}

/// What became of the requests to the receiver: this process's own count, every outcome
/// listed from the start. `webhook_mcp_events` counts only what is stored, and the rejected
/// events each webhook keeps are capped.
fn render_deliveries(out: &mut String, deliveries: &crate::http::receiver::Deliveries) {
    let name = "webhook_mcp_deliveries_total";
    out.push_str(&format!(
        "# HELP {name} Requests to the receiver this process answered, by outcome (accepted, \
         duplicate, or why it was refused).\n# TYPE {name} counter\n"
    ));
    for (delivery, count) in deliveries.counts() {
        out.push_str(&format!(
            "{name}{{outcome=\"{}\"}} {count}\n",
            delivery.label()
        ));
    }
}

/// A Prometheus histogram from per-bucket counts: cumulative `le` buckets, `_sum`, `_count`.
fn histogram(out: &mut String, name: &str, help: &str, counts: &Buckets, sum: f64) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
    let mut below = 0;
    for (i, count) in counts.iter().enumerate() {
        below += count;
        let le = BOUNDS.get(i).map_or("+Inf".to_string(), f64::to_string);
        out.push_str(&format!("{name}_bucket{{le=\"{le}\"}} {below}\n"));
    }
    out.push_str(&format!("{name}_sum {sum}\n{name}_count {below}\n"));
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_renders_cumulative_buckets_its_sum_and_count() {
        let mut counts = Buckets::default();
        counts[0] = 2;
        counts[4] = 1;
        counts[BOUNDS.len()] = 1;
        let mut out = String::new();
        histogram(&mut out, "x_seconds", "Help.", &counts, 1.5);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "# HELP x_seconds Help.");
        assert_eq!(lines[1], "# TYPE x_seconds histogram");
        assert_eq!(lines[2], "x_seconds_bucket{le=\"0.0005\"} 2");
        assert_eq!(lines[5], "x_seconds_bucket{le=\"0.005\"} 2");
        assert_eq!(lines[6], "x_seconds_bucket{le=\"0.01\"} 3");
        assert_eq!(lines[11], "x_seconds_bucket{le=\"1\"} 3");
        assert_eq!(lines[12], "x_seconds_bucket{le=\"+Inf\"} 4");
        assert_eq!(&lines[13..], ["x_seconds_sum 1.5", "x_seconds_count 4"]);
    }
}
