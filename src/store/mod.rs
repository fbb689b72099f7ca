//! The store: one SQLite file in WAL mode, written by a single thread with group commit and
//! read through a small pool of read-only connections.
//!
//! Why this shape: SQLite allows one writer at a time, and a durable commit costs one fsync
//! (about 4,400 a second on this kind of machine, see PERF.md). The writer thread takes every
//! write waiting in its queue, runs each inside its own savepoint of one transaction and
//! commits them together, so a burst of webhooks pays for one fsync, and each caller learns
//! its result only after the commit that made it durable. Readers use their own connections;
//! in WAL mode they see the last commit and never wait for the writer.

mod migrate;

pub mod api_keys;
pub mod audit;
pub mod commands;
pub mod events;
pub mod outbox;
pub mod tasks;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

pub use migrate::{SCHEMA_VERSION, migrate};

/// How many writes one transaction takes at most; bounds the latency a batch adds.
const MAX_BATCH: usize = 512;
/// How many writes may wait for the writer before callers wait for room.
const QUEUE_DEPTH: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the database {path} was written by a newer webhook-mcp (schema version {found}, this \
         build knows up to {known}); upgrade webhook-mcp or point --database at another file"
    )]
    SchemaTooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("the store is shut down")]
    Closed,
    #[error("already exists")]
    Conflict,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Told whether the batch holding a write committed; sends the caller its result.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A unit of work for the writer: runs inside a savepoint and says whether it succeeded.
type WriteJob = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Option<SyncSender<WriteJob>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the database, applies migrations and starts the writer.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Corrupt(format!("cannot create folder {}: {e}", dir.display()))
            })?;
        }
        let mut conn = Connection::open(path)?;
        configure_writer(&conn)?;
        migrate(&mut conn, path)?;

        let (tx, rx) = mpsc::sync_channel::<WriteJob>(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run_writer(conn, rx))
            .map_err(|e| StoreError::Corrupt(format!("cannot start writer thread: {e}")))?;

        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(thread)),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Runs `f` on the writer; resolves once the transaction holding it has committed.
    /// An error from `f` rolls back only `f`'s own savepoint, never the rest of the batch.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel::<Result<T, StoreError>>();
        let job: WriteJob = Box::new(move |conn: &Connection| {
            let outcome = f(conn);
            let ok = outcome.is_ok();
            let reply: Reply = Box::new(move |committed: Result<(), String>| {
                let result = match (outcome, committed) {
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(StoreError::Corrupt(format!("commit failed: {e}"))),
                    (Ok(v), Ok(())) => Ok(v),
                };
                let _ = reply_tx.send(result);
            });
            (ok, reply)
        });
        let sender = self
            .inner
            .writer
            .lock()
            .expect("writer handle mutex poisoned")
            .clone()
            .ok_or(StoreError::Closed)?;
        // Usually the queue has room and the job is handed over without a thread hop. When it
        // is full, a blocking-pool thread waits for room: backpressure that never blocks the
        // async runtime's workers.
        match sender.try_send(job) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(job)) => {
                tokio::task::spawn_blocking(move || sender.send(job))
                    .await
                    .map_err(|_| StoreError::Closed)?
                    .map_err(|_| StoreError::Closed)?;
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
        }
        reply_rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a read-only connection. Sees the latest commit; never waits for the writer.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = match inner.readers.lock().expect("reader pool poisoned").pop() {
                Some(conn) => conn,
                None => open_reader(&inner.path)?,
            };
            let result = f(&conn);
            inner
                .readers
                .lock()
                .expect("reader pool poisoned")
                .push(conn);
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    /// Stops taking writes, lets the writer finish what is queued, and waits for it.
    pub fn close(&self) {
        self.inner
            .writer
            .lock()
            .expect("writer mutex poisoned")
            .take();
        if let Some(handle) = self
            .inner
            .writer_thread
            .lock()
            .expect("mutex poisoned")
            .take()
        {
            let _ = handle.join();
        }
    }
}

/// Turns a UNIQUE or PRIMARY KEY violation into `Conflict`, so callers can answer 409.
pub(crate) fn conflict_on_unique(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(err, _)
            if err.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict
        }
        _ => StoreError::Sqlite(e),
    }
}

fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk before its callers hear back; with group commit it also
    // measured faster than NORMAL here (larger batches form while the fsync runs).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// The writer loop: block for one job, take every other job already waiting, run them all in
/// one transaction (each in its own savepoint), commit once, then answer every caller.
fn run_writer(mut conn: Connection, rx: Receiver<WriteJob>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let replies = run_batch(&mut conn, batch);
        let (replies, committed) = match replies {
            Ok(replies) => (replies, Ok(())),
            Err((replies, e)) => {
                tracing::error!(error = %e, "store batch failed to commit");
                (replies, Err(e))
            }
        };
        for reply in replies {
            reply(committed.clone());
        }
    }
}

fn run_batch(
    conn: &mut Connection,
    batch: Vec<WriteJob>,
) -> Result<Vec<Reply>, (Vec<Reply>, String)> {
    let mut replies = Vec::with_capacity(batch.len());
    let mut tx = match conn.transaction() {
        Ok(tx) => tx,
        // Dropping the jobs drops their reply channels: each caller gets `Closed`.
        Err(e) => return Err((replies, e.to_string())),
    };
    for job in batch {
        let Ok(mut sp) = tx.savepoint() else {
            continue;
        };
        let (ok, reply) = job(&sp);
        let released = if ok {
            sp.commit()
        } else {
            // A failed write must not reach the commit; the others in the batch still do.
            sp.rollback()
        };
        if let Err(e) = released {
            tracing::error!(error = %e, "savepoint release failed");
        }
        replies.push(reply);
    }
    match tx.commit() {
        Ok(()) => Ok(replies),
        Err(e) => Err((replies, e.to_string())),
    }
}
