//! Tasks held in the queue while the chat API refuses the runner's key or model (see
//! `agents::chat_pauses`): the task a run was refused for is given back without counting the
//! attempt, the other queued tasks of the agents concerned say why they wait, those held
//! longer than the limit fail, and all are let go once a call works (those given back due at
//! a pause's end are due at once when it ends sooner). A held task's `waiting_since` is when
//! the first refusal held it (a queued task has none otherwise).

use rusqlite::{Connection, params};

use super::settled;
use crate::store::StoreError;

/// Gives the task `owner` runs back to the queue, due when the pause is over (`due`), its
/// attempt not counted, its progress kept and its model calls failed in a row as the run
/// counted them; `error` says why it waits. Due then, not at once, the next look is another
/// held task's (see `claims::claim_probe`): this one's refusal may be of its own request (a
/// firewall's 403 on its words), and would otherwise be the only one ever looked at again.
/// Whether `owner` still ran it (a task cancelled meanwhile is not held).
pub fn hold(
    conn: &Connection,
    id: &str,
    owner: &str,
    error: &str,
    failures: i64,
    due: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'queued', error = ?3, attempts = MAX(attempts - 1, 0), \
             next_run_at = ?6, lease_owner = NULL, lease_until = NULL, run_failures = ?4, \
             waiting_since = COALESCE(waiting_since, ?5), updated_at = ?5 \
             WHERE id = ?1 AND status = 'running' AND lease_owner = ?2",
        )?
        .execute(params![id, owner, error, failures, now, due])?;
    Ok(n == 1)
}

/// Marks the queued tasks of `agents` held, saying why (`error`), each since the first
/// refusal that held it. Only those not saying it yet are written.
pub fn mark_held(
    conn: &Connection,
    agents: &[String],
    error: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let agents = serde_json::Value::from(agents).to_string();
    Ok(conn
        .prepare_cached(
            "UPDATE tasks SET error = ?2, waiting_since = COALESCE(waiting_since, ?3), \
             updated_at = ?3 \
             WHERE status = 'queued' AND agent IN (SELECT value FROM json_each(?1)) \
             AND (waiting_since IS NULL OR error IS NOT ?2)",
        )?
        .execute(params![agents, error, now])?)
}

/// A held task failed for being held too long: where to tell of it.
#[derive(Debug, Clone)]
pub struct HeldTooLong {
    pub id: String,
    pub webhook_id: Option<String>,
    pub event_id: Option<String>,
}

/// Fails the queued tasks of `agents` held since before `before` that no run has begun (one
/// with progress fails through its run, which keeps what its tools did): `why` says so.
/// Their events' statuses follow.
pub fn fail_held(
    conn: &Connection,
    agents: &[String],
    before: i64,
    why: &str,
    now: i64,
) -> Result<Vec<HeldTooLong>, StoreError> {
    let agents = serde_json::Value::from(agents).to_string();
    let failed = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'failed', error = ?3, waiting_since = NULL, \
             updated_at = ?4 \
             WHERE status = 'queued' AND agent IN (SELECT value FROM json_each(?1)) \
             AND waiting_since < ?2 AND run_progress IS NULL \
             RETURNING id, webhook_id, event_id",
        )?
        .query_map(params![agents, before, why, now], |r| {
            Ok(HeldTooLong {
                id: r.get(0)?,
                webhook_id: r.get(1)?,
                event_id: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for task in &failed {
        settled(conn, Some(task.event_id.clone()))?;
    }
    Ok(failed)
}

/// Makes due now the tasks a refusal gave back due at its pause's end (`hold`), the pause
/// having ended sooner: each of `given` (its id and the due time `hold` set) still queued
/// and due then (not claimed, held or retried since), of one of `agents` (those no pause
/// holds back now). How many. A few, each found by its id.
pub fn due_now(
    conn: &Connection,
    given: &[(String, i64)],
    agents: &[String],
    now: i64,
) -> Result<usize, StoreError> {
    let agents = serde_json::Value::from(agents).to_string();
    let mut statement = conn.prepare_cached(
        "UPDATE tasks SET next_run_at = ?3, updated_at = ?3 \
         WHERE id = ?1 AND status = 'queued' AND next_run_at = ?2 AND next_run_at > ?3 \
         AND agent IN (SELECT value FROM json_each(?4))",
    )?;
    let mut made = 0;
    for (id, due) in given {
        made += statement.execute(params![id, due, now, agents])?;
    }
    Ok(made)
}

/// Lets the held tasks of `agents` go: the chat API takes the key and model again. Their
/// error (why they waited) goes with the hold.
pub fn let_go(conn: &Connection, agents: &[String], now: i64) -> Result<usize, StoreError> {
    let agents = serde_json::Value::from(agents).to_string();
    Ok(conn
        .prepare_cached(
            "UPDATE tasks SET error = NULL, waiting_since = NULL, updated_at = ?2 \
             WHERE status = 'queued' AND agent IN (SELECT value FROM json_each(?1)) \
             AND waiting_since IS NOT NULL",
        )?
        .execute(params![agents, now])?)
}
