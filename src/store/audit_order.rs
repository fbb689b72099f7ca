//! Audit entries in the order their changes were stored. An audited request (a REST change, a
//! changing MCP tool call) runs inside [`audited`]; its first successful write reserves the
//! entry's row in the same transaction, and the entry is completed in that row once the
//! answer is known. Written after the answer instead, two changes made at once could be
//! listed in the other order than they took effect ("newest first" naming the change that
//! was overwritten), and a server stopped in between would keep a change with no entry.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, params};

use super::audit::{AuditUserRow, insert};

/// The outcome of a reserved entry until its answer is recorded; it stays so when the server
/// stopped in between.
pub const PENDING: &str = "pending";

tokio::task_local! {
    static CHANGE: std::sync::Arc<Reservation>;
}

/// Told apart so that only the write that reserved the row takes it again when its batch runs
/// it a second time (see `Store::write`).
static NEXT_WRITE: AtomicU64 = AtomicU64::new(1);

/// What an audited change is known to be before it runs: enough for its entry to say who
/// changed what, should its answer never be recorded.
#[derive(Debug)]
pub struct Reservation {
    actor: String,
    action: String,
    target: Option<String>,
    user: Option<AuditUserRow>,
    chat_id: Option<String>,
    message_id: Option<String>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The write that reserved the row, and the row.
    reserved: Option<(u64, i64)>,
    /// The entry is being recorded: later writes reserve nothing.
    closed: bool,
}

impl Reservation {
    pub fn new(
        actor: String,
        action: String,
        target: Option<String>,
        user: Option<AuditUserRow>,
        chat_id: Option<String>,
        message_id: Option<String>,
    ) -> Reservation {
        Reservation {
            actor,
            action,
            target,
            user,
            chat_id,
            message_id,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is two plain fields, whole after any panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Inserts the entry's row if no other write of this change has; run by the writer in
    /// the transaction of write `write`, after that write succeeded.
    fn reserve_in(&self, conn: &Connection, write: u64, at: i64) {
        let mut state = self.state();
        if state.closed || state.reserved.is_some_and(|(by, _)| by != write) {
            return;
        }
        let entry = super::audit::NewAudit {
            at,
            actor: &self.actor,
            action: &self.action,
            target: self.target.as_deref(),
            status: None,
            detail: None,
            outcome: PENDING,
            user: self.user.as_ref(),
            chat_id: self.chat_id.as_deref(),
            message_id: self.message_id.as_deref(),
        };
        match insert(conn, &entry) {
            Ok(row) => state.reserved = Some((write, row)),
            // The change is kept all the same; its entry is then written when it is answered.
            Err(e) => {
                tracing::warn!(error = %e, action = %self.action, "could not reserve an audit entry")
            }
        }
    }
}

/// Runs `change` as an audited change: its first write reserves the entry.
pub async fn audited<F: Future>(reservation: Reservation, change: F) -> F::Output {
    CHANGE.scope(std::sync::Arc::new(reservation), change).await
}

/// For `Store::write`: what a write made now must do for the audit log, if it is the first
/// write of an audited change.
pub(super) fn reserving() -> Option<Reserving> {
    CHANGE
        .try_with(|change| {
            let state = change.state();
            (!state.closed && state.reserved.is_none()).then(|| Reserving {
                change: std::sync::Arc::clone(change),
                write: NEXT_WRITE.fetch_add(1, Ordering::Relaxed),
            })
        })
        .ok()
        .flatten()
}

/// A write that reserves its change's audit entry, once it succeeded.
pub(super) struct Reserving {
    change: std::sync::Arc<Reservation>,
    write: u64,
}

impl Reserving {
    pub(super) fn reserve_in(&self, conn: &Connection) {
        self.change
            .reserve_in(conn, self.write, crate::clock::now_ms());
    }
}

/// Ends the reservation of the audited change running now, if any: the row its first write
/// reserved, to be completed with the entry. None when no write of it reserved one.
pub fn close() -> Option<i64> {
    CHANGE
        .try_with(|change| {
            let mut state = change.state();
            state.closed = true;
            state.reserved.map(|(_, row)| row)
        })
        .ok()
        .flatten()
}

/// Completes reserved row `row` with what the change got; false when the row is not there
/// (its transaction failed after all), for the caller to insert the entry instead. The time
/// stays the reservation's: when the change was stored.
pub fn complete(
    conn: &Connection,
    row: i64,
    entry: &super::audit::NewAudit<'_>,
) -> Result<bool, super::StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE audit_log SET target = ?2, status = ?3, detail = ?4, outcome = ?5
             WHERE id = ?1 AND outcome = ?6",
        )?
        .execute(params![
            row,
            entry.target,
            entry.status,
            entry.detail,
            entry.outcome,
            PENDING,
        ])?;
    Ok(changed == 1)
}
