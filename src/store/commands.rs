//! SQL for the `commands` table: what a webhook does with the events it receives.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct CommandRow {
    pub id: String,
    pub webhook_id: String,
    pub trigger: String,
    pub action: String,
    pub agent: Option<String>,
    pub template: Option<String>,
    /// JSON object.
    pub conditions: String,
    /// JSON object (forward / post_message destination), if any.
    pub target: Option<String>,
    pub priority: i64,
    pub stop: bool,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// A 5-field cron expression, on a command with trigger `schedule` only.
    pub schedule: Option<String>,
    /// The IANA zone `schedule` is read in; `None` is UTC.
    pub timezone: Option<String>,
}

const COLUMNS: &str = "id, webhook_id, trigger, action, agent, template, conditions, target, \
                       priority, stop, enabled, created_at, updated_at, schedule, timezone";

fn from_row(r: &Row<'_>) -> rusqlite::Result<CommandRow> {
    Ok(CommandRow {
        id: r.get(0)?,
        webhook_id: r.get(1)?,
        trigger: r.get(2)?,
        action: r.get(3)?,
        agent: r.get(4)?,
        template: r.get(5)?,
        conditions: r.get(6)?,
        target: r.get(7)?,
        priority: r.get(8)?,
        stop: r.get(9)?,
        enabled: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        schedule: r.get(13)?,
        timezone: r.get(14)?,
    })
}

pub fn insert(conn: &Connection, c: &CommandRow) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO commands ({COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    ))?
    .execute(params![
        c.id,
        c.webhook_id,
        c.trigger,
        c.action,
        c.agent,
        c.template,
        c.conditions,
        c.target,
        c.priority,
        c.stop,
        c.enabled,
        c.created_at,
        c.updated_at,
        c.schedule,
        c.timezone
    ])
    .map_err(super::conflict_on_unique)?;
    Ok(())
}

/// A webhook's commands in the order they run: priority (higher first), then creation.
pub fn list(conn: &Connection, webhook_id: &str) -> Result<Vec<CommandRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM commands WHERE webhook_id = ?1 ORDER BY priority DESC, id"
    ))?;
    let rows = stmt.query_map([webhook_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every webhook's commands that have a schedule, enabled or not, by id.
pub fn scheduled(conn: &Connection) -> Result<Vec<CommandRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM commands WHERE schedule IS NOT NULL ORDER BY id"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many commands the webhook has, as the listing of webhooks counts them.
pub fn count(conn: &Connection, webhook_id: &str) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM commands WHERE webhook_id = ?1")?
        .query_row([webhook_id], |r| r.get(0))?)
}

pub fn get(
    conn: &Connection,
    webhook_id: &str,
    id: &str,
) -> Result<Option<CommandRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM commands WHERE webhook_id = ?1 AND id = ?2"
        ))?
        .query_row([webhook_id, id], from_row)
        .optional()?)
}

/// The webhook a command is on, whichever it is.
pub fn webhook_of(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT webhook_id FROM commands WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

pub fn update(conn: &Connection, c: &CommandRow) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE commands SET trigger = ?3, action = ?4, agent = ?5, template = ?6, \
             conditions = ?7, target = ?8, priority = ?9, stop = ?10, enabled = ?11, \
             updated_at = ?12, schedule = ?13, timezone = ?14 WHERE webhook_id = ?1 AND id = ?2",
        )?
        .execute(params![
            c.webhook_id,
            c.id,
            c.trigger,
            c.action,
            c.agent,
            c.template,
            c.conditions,
            c.target,
            c.priority,
            c.stop,
            c.enabled,
            c.updated_at,
            c.schedule,
            c.timezone
        ])?;
    Ok(n == 1)
}

/// [`update`], if the command is still stored as `read`: `None` when it has changed since, so
/// that a change made from an older read does not undo one stored after that read.
pub fn update_if_unchanged(
    conn: &Connection,
    read: &CommandRow,
    c: &CommandRow,
) -> Result<Option<bool>, StoreError> {
    match get(conn, &read.webhook_id, &read.id)? {
        Some(now) if now != *read => Ok(None),
        _ => update(conn, c).map(Some),
    }
}

pub fn delete(conn: &Connection, webhook_id: &str, id: &str) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM commands WHERE webhook_id = ?1 AND id = ?2")?
        .execute([webhook_id, id])?;
    Ok(n == 1)
}
