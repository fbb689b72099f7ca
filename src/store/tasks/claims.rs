//! The runner's hold on a task: claimed, listed by holder, renewed, requeued or released,
//! and its progress saved while it runs.

use rusqlite::{Connection, OptionalExtension, params};

use super::{READ_COLUMNS, TaskRow, from_row, status_of};
use crate::store::StoreError;

/// [`claim`]'s statement.
pub(super) fn claim_sql() -> String {
    claim_sql_of("next_run_at <= ?1")
}

/// [`claim_probe`]'s first statement: a queued task due with no wait of its own.
pub(super) fn fresh_claim_sql() -> String {
    claim_sql_of("next_run_at = 0")
}

/// The claim of the oldest task queued and `due`, or running with its lease expired.
fn claim_sql_of(due: &str) -> String {
    // The oldest of each status's own oldest, each read in `tasks_by_status`' order: one
    // `ORDER BY` over both would read and sort every queued task (a backlog, during a chat
    // API outage) on each claim, on the writer.
    format!(
        "UPDATE tasks SET status = 'running', lease_owner = ?2, lease_until = ?3, \
         attempts = attempts + 1, updated_at = ?1 \
         WHERE id = (SELECT MIN(id) FROM ( \
             SELECT * FROM (SELECT id FROM tasks WHERE status = 'queued' AND {due} \
               AND (?4 = '[]' OR agent IN (SELECT value FROM json_each(?4))) \
               ORDER BY id LIMIT 1) \
             UNION ALL \
             SELECT * FROM (SELECT id FROM tasks WHERE status = 'running' AND lease_until < ?1 \
               AND (?4 = '[]' OR agent IN (SELECT value FROM json_each(?4))) \
               ORDER BY id LIMIT 1))) \
         RETURNING {READ_COLUMNS}"
    )
}

/// Takes the oldest runnable task (queued and due, or running with an expired lease) for one
/// of `agents` (any agent when empty) and leases it to `owner` until `lease_until`.
pub fn claim(
    conn: &Connection,
    agents: &[String],
    owner: &str,
    now: i64,
    lease_until: i64,
) -> Result<Option<TaskRow>, StoreError> {
    // The names are bound as one JSON array, never pasted into the SQL: any text is a name
    // (a quote, a NUL), and the statement stays the same, so it is prepared once.
    let agents = serde_json::Value::from(agents).to_string();
    let sql = claim_sql();
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![now, owner, lease_until, agents], from_row)
        .optional()?)
}

/// Leases task `id` to `owner` until `lease_until`: a queued task that is due, one whose
/// claim lapsed, or one `owner` holds already (its lease renewed, no attempt counted). None
/// when it is none of those (or of another agent than `agent`, when one is named).
pub fn claim_one(
    conn: &Connection,
    id: &str,
    agent: Option<&str>,
    owner: &str,
    now: i64,
    lease_until: i64,
) -> Result<Option<TaskRow>, StoreError> {
    let sql = format!(
        "UPDATE tasks SET status = 'running', lease_owner = ?2, lease_until = ?3, \
         attempts = attempts + CASE WHEN status = 'running' AND lease_owner = ?2 \
             AND lease_until >= ?1 THEN 0 ELSE 1 END, updated_at = ?1 \
         WHERE id = ?4 AND (?5 IS NULL OR agent = ?5) \
           AND ((status = 'queued' AND next_run_at <= ?1) \
                OR (status = 'running' AND (lease_until < ?1 OR lease_owner = ?2))) \
         RETURNING {READ_COLUMNS}"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![now, owner, lease_until, id, agent], from_row)
        .optional()?)
}

/// [`claim`] for a run that looks again at a paused key or model: a task with no wait of its
/// own first (one the pause held, or queued since), not one a refusal gave back, due when
/// the pause is over (`holds::hold`), which may have been refused for its own request (its
/// words flagged) and would be looked again with each time, the others waiting behind it.
/// Those only when there is no other.
pub fn claim_probe(
    conn: &Connection,
    agents: &[String],
    owner: &str,
    now: i64,
    lease_until: i64,
) -> Result<Option<TaskRow>, StoreError> {
    let names = serde_json::Value::from(agents).to_string();
    let fresh = conn
        .prepare_cached(&fresh_claim_sql())?
        .query_row(params![now, owner, lease_until, names], from_row)
        .optional()?;
    match fresh {
        Some(task) => Ok(Some(task)),
        None => claim(conn, agents, owner, now, lease_until),
    }
}

/// The tasks `owner` holds a lease on now (at most `limit`, oldest first): id, agent and
/// lease end.
pub fn held_by(
    conn: &Connection,
    owner: &str,
    now: i64,
    limit: i64,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, agent, lease_until FROM tasks \
         WHERE status = 'running' AND lease_owner = ?1 AND lease_until >= ?2 \
         ORDER BY id LIMIT ?3",
    )?;
    let rows = statement
        .query_map(params![owner, now, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The agents with tasks queued and due now, and how many each, most first (at most
/// `limit`): what a claim for an agent with none could have meant.
pub fn queued_agents(
    conn: &Connection,
    now: i64,
    limit: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT agent, COUNT(*) AS n FROM tasks WHERE status = 'queued' AND next_run_at <= ?1 \
         GROUP BY agent ORDER BY n DESC, agent LIMIT ?2",
    )?;
    let rows = statement
        .query_map(params![now, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Who holds the task's lease, if anyone (to tell a caller whose completion was refused).
pub fn lease_owner(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT lease_owner FROM tasks WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Puts a task `owner` is running back in the queue after a failed model call, to run again
/// at `next_run_at`. A held task keeps when it was first held (`waiting_since`): a look again
/// that heard nothing (a 5xx, a timeout) learnt nothing of the key or the model, and the
/// limit on holding it would otherwise start again with each (see `holds`).
pub fn requeue(
    conn: &Connection,
    id: &str,
    owner: &str,
    error: &str,
    next_run_at: i64,
    failures: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'queued', error = ?2, next_run_at = ?3, lease_owner = NULL, \
             lease_until = NULL, run_failures = ?6, updated_at = ?4 \
             WHERE id = ?1 AND status = 'running' AND lease_owner = ?5",
        )?
        .execute(params![id, error, next_run_at, now, owner, failures])?;
    Ok(n == 1)
}

/// Gives a task `owner` runs back to the queue, due now, its progress as it is and its model
/// calls failed in a row as the run counted them (the process is stopping; the next one goes
/// on with it).
pub fn release(
    conn: &Connection,
    id: &str,
    owner: &str,
    failures: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'queued', next_run_at = 0, lease_owner = NULL, \
             lease_until = NULL, run_failures = ?4, updated_at = ?2 \
             WHERE id = ?1 AND status = 'running' AND lease_owner = ?3",
        )?
        .execute(params![id, now, owner, failures])?;
    Ok(n == 1)
}

/// Saves the runner's progress in its current run, if `owner` still runs the task. A model
/// call that worked ends a run of failures, so the retry budget starts again.
pub fn save_progress(
    conn: &Connection,
    id: &str,
    owner: &str,
    progress: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET run_progress = ?3, run_failures = 0, updated_at = ?4 \
             WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'",
        )?
        .execute(params![id, owner, progress, now])?;
    Ok(n == 1)
}

/// Extends a running task's lease, if `owner` still holds it: `None` then; otherwise the
/// task's status now (`waiting_reply` after the run asked a question; anything else means the
/// run lost the task: cancelled, finished elsewhere, or claimed by another after a stall).
pub fn renew_lease(
    conn: &Connection,
    id: &str,
    owner: &str,
    lease_until: i64,
) -> Result<Option<String>, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET lease_until = ?3 \
             WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'",
        )?
        .execute(params![id, owner, lease_until])?;
    if n == 1 {
        return Ok(None);
    }
    Ok(Some(
        status_of(conn, id)?.unwrap_or_else(|| "deleted".into()),
    ))
}
