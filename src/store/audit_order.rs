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
pub struct EntryHead {
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub user: Option<AuditUserRow>,
    pub chat_id: Option<String>,
    pub message_id: Option<String>,
}

/// An audited change's entry, reserved by the change's first write.
#[derive(Debug)]
pub struct Reservation {
    head: EntryHead,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The write that reserved the row, and the row with its time (which, with the actor and
    /// action, tells it from another change's row given the same id after this one's
    /// transaction was undone).
    reserved: Option<(u64, Reserved)>,
    /// The entry is being recorded: later writes reserve nothing.
    closed: bool,
}

impl Reservation {
    pub fn new(head: EntryHead) -> Reservation {
        Reservation {
            head,
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
        // Once the entry is being recorded nothing reserves, not even this write run again
        // after a rollback: the entry then finds its row gone and is written anew.
        if state.closed || state.reserved.is_some_and(|(by, _)| by != write) {
            return;
        }
        let head = &self.head;
        let entry = super::audit::NewAudit {
            at,
            actor: &head.actor,
            action: &head.action,
            target: head.target.as_deref(),
            status: None,
            detail: None,
            outcome: PENDING,
            user: head.user.as_ref(),
            chat_id: head.chat_id.as_deref(),
            message_id: head.message_id.as_deref(),
        };
        match insert(conn, &entry) {
            Ok(row) => state.reserved = Some((write, Reserved { row, at })),
            // The change is kept all the same; its entry is then written when it is answered.
            Err(e) => {
                tracing::warn!(error = %e, action = %head.action, "could not reserve an audit entry")
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
#[derive(Clone)]
pub(super) struct Reserving {
    change: std::sync::Arc<Reservation>,
    write: u64,
}

impl Reserving {
    pub(super) fn reserve_in(&self, conn: &Connection) {
        self.change
            .reserve_in(conn, self.write, crate::clock::now_ms());
    }

    /// The write failed after all (its transaction undone, or its commit): the row it
    /// reserved is not there, and a later write of the change may reserve one.
    pub(super) fn undone(&self) {
        let mut state = self.change.state();
        if state.reserved.is_some_and(|(by, _)| by == self.write) {
            state.reserved = None;
        }
    }
}

/// The row a change's first write reserved, and the time it was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    row: i64,
    at: i64,
}

/// Ends the reservation of the audited change running now, if any: the row its first write
/// reserved, to be completed with the entry. None when no write of it reserved one.
pub fn close() -> Option<Reserved> {
    CHANGE
        .try_with(|change| {
            let mut state = change.state();
            state.closed = true;
            state.reserved.map(|(_, reserved)| reserved)
        })
        .ok()
        .flatten()
}

/// Completes the reserved row with what the change got; false when the row is not there (its
/// transaction was undone after all, and its id maybe given to another change's entry), for
/// the caller to insert the entry instead. The time stays the reservation's: when the change
/// was stored.
pub fn complete(
    conn: &Connection,
    reserved: Reserved,
    entry: &super::audit::NewAudit<'_>,
) -> Result<bool, super::StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE audit_log SET target = ?2, status = ?3, detail = ?4, outcome = ?5
             WHERE id = ?1 AND outcome = ?6 AND at = ?7 AND actor = ?8 AND action = ?9",
        )?
        .execute(params![
            reserved.row,
            entry.target,
            entry.status,
            entry.detail,
            entry.outcome,
            PENDING,
            reserved.at,
            entry.actor,
            entry.action,
        ])?;
    Ok(changed == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::audit::NewAudit;

    fn change(target: &str) -> Reservation {
        Reservation::new(EntryHead {
            actor: "ops".into(),
            action: "PUT /api/x".into(),
            target: Some(target.into()),
            user: None,
            chat_id: None,
            message_id: None,
        })
    }

    fn answer<'a>(target: &'a str, outcome: &'a str) -> NewAudit<'a> {
        NewAudit {
            at: 0,
            actor: "ops",
            action: "PUT /api/x",
            target: Some(target),
            status: Some(200),
            detail: None,
            outcome,
            user: None,
            chat_id: None,
            message_id: None,
        }
    }

    /// Every entry as (target, outcome), oldest first.
    async fn entries(store: &Store) -> Vec<(String, String)> {
        store
            .read(|db| {
                let mut rows = db.prepare("SELECT target, outcome FROM audit_log ORDER BY id")?;
                let rows = rows.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_change_whose_commit_failed_completes_no_later_changes_entry() {
        // Arrange: a write that runs but whose commit fails (a deferred foreign key, as a full
        // disk at COMMIT would), and so leaves its row's id to the next insert.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db")).unwrap();
        store
            .write(|db| {
                db.execute_batch(
                    "CREATE TABLE p (id INTEGER PRIMARY KEY);
                     CREATE TABLE c (p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED);",
                )?;
                Ok(())
            })
            .await
            .unwrap();

        // Act: change A fails at its commit; change B is stored; A is recorded, then B.
        let failed = audited(change("a"), async {
            let written = store
                .write(|db| Ok(db.execute("INSERT INTO c VALUES (99)", [])?))
                .await;
            (written.is_err(), close())
        })
        .await;
        let stored = audited(change("b"), async {
            store
                .write(|db| Ok(db.execute("INSERT INTO p VALUES (1)", [])?))
                .await
                .unwrap();
            close()
        })
        .await;
        let (a_failed, a_reserved) = failed;
        let b_reserved = stored.expect("B's write reserved its entry");
        let a_completed = match a_reserved {
            Some(reserved) => store
                .write(move |db| complete(db, reserved, &answer("a", "error: HTTP 503")))
                .await
                .unwrap(),
            None => false,
        };
        let b_completed = store
            .write(move |db| complete(db, b_reserved, &answer("b", "ok")))
            .await
            .unwrap();

        // Assert: A's entry is written anew; B's row is B's.
        assert!(a_failed);
        assert!(!a_completed, "A completed a row: {a_reserved:?}");
        assert!(b_completed);
        assert_eq!(entries(&store).await, [("b".into(), "ok".into())]);
    }
}
