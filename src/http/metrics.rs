//! `GET /metrics`: Prometheus text. Counts come from the database at scrape time (events,
//! actions and tasks by status, webhooks), so they are exact across restarts and shared by
//! every process on the same file; the writer queue's state is not exported.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use rusqlite::Connection;

use super::error::ApiError;
use crate::app::AppState;
use crate::store::StoreError;

pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let body = state
        .store
        .read(render)
        .await
        .map_err(crate::service::ServiceError::from)?;
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}

fn render(db: &Connection) -> Result<String, StoreError> {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, sql: &str| -> Result<(), StoreError> {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        let mut stmt = db.prepare(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (label, count) = row?;
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
        "SELECT status, COUNT(*) FROM events GROUP BY status",
    )?;
    family(
        "webhook_mcp_actions",
        "Outbox actions by status.",
        "SELECT status, COUNT(*) FROM outbox GROUP BY status",
    )?;
    family(
        "webhook_mcp_tasks",
        "Agent tasks by status.",
        "SELECT status, COUNT(*) FROM tasks GROUP BY status",
    )?;
    family(
        "webhook_mcp_webhooks",
        "Registered webhooks, enabled or disabled.",
        "SELECT CASE enabled WHEN 1 THEN 'enabled' ELSE 'disabled' END, COUNT(*) \
         FROM webhooks GROUP BY enabled",
    )?;
    Ok(out)
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
