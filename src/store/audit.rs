//! SQL for the `audit_log` table: who changed what, when, and how it went.

use rusqlite::{Connection, Row, params, params_from_iter};

use super::StoreError;

/// One entry as stored; `detail` is JSON text with secrets already masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub status: Option<i64>,
    pub detail: Option<String>,
    pub outcome: Option<String>,
}

/// An entry to store (the id is assigned by the database).
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub status: Option<i64>,
    pub detail: Option<&'a str>,
    pub outcome: &'a str,
}

/// Which entries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// Only entries with a smaller id (the previous page's cursor).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// Stores an entry; returns its id.
pub fn insert(conn: &Connection, entry: &NewAudit<'_>) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit_log (at, actor, action, target, status, detail, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        entry.at,
        entry.actor,
        entry.action,
        entry.target,
        entry.status,
        entry.detail,
        entry.outcome
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Entries matching `filter`, newest first.
pub fn list(conn: &Connection, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
    let mut sql = String::from(
        "SELECT id, at, actor, action, target, status, detail, outcome FROM audit_log",
    );
    let mut clauses = Vec::new();
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(actor) = &filter.actor {
        values.push(actor.clone().into());
        clauses.push(format!("actor = ?{}", values.len()));
    }
    if let Some(before) = filter.before_id {
        values.push(before.into());
        clauses.push(format!("id < ?{}", values.len()));
    }
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    values.push(i64::from(filter.limit).into());
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", values.len()));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), audit_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        status: r.get(5)?,
        detail: r.get(6)?,
        outcome: r.get(7)?,
    })
}
