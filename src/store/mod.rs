//! The store: one SQLite file in WAL mode, written by a single thread with group commit and
//! read through a small pool of read-only connections.
//!
//! Why this shape: SQLite allows one writer at a time, and a durable commit costs one fsync
//! (0.2–2 ms on this kind of machine, see bench/RESULTS.md). The writer thread runs every write
//! waiting in its queue in one transaction and commits them together, so a burst of webhooks
//! pays for one fsync; a write that fails is undone alone (see `writer::Batch`). A second
//! thread, the syncer, does that fsync while the writer goes on with the next batch, and each
//! caller learns its result only once the commit holding it is on disk. Readers use their own
//! connections; in WAL mode they see the last commit and never wait for the writer.
//!
//! Readers see a commit as soon as it is made, up to one fsync's time before the syncer's
//! fsync covers it. A power loss or OS crash in that window can lose a write some reader
//! already saw (the outbox worker may even have acted on it); its caller was never answered,
//! so the sender, which got no 2xx, delivers it again.
//!
//! Checkpoints stay SQLite's automatic ones, run by the writer after a commit. Running them
//! from a background connection instead was measured (bench/run.sh, 2026-12-01): the same
//! throughput and twice the p99 under load, as the database file's fsync then competes with
//! the WAL's, and the WAL only starts over when the writer catches up itself anyway.

pub mod durations;
mod migrate;
mod syncer;
mod writer;

pub mod api_keys;
pub mod audit;
pub mod audit_order;
pub mod commands;
pub mod conversation;
pub mod events;
pub mod outbox;
pub mod retention;
pub mod tasks;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

pub use migrate::{SCHEMA_VERSION, migrate};
pub use writer::WriterSnapshot;
use writer::WriterStats;

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
    #[error(
        "the database {path} holds webhook-mcp's tables but no schema version (PRAGMA \
         user_version is 0), as when it is restored from a `sqlite3 .dump`, which leaves the \
         version out; restore from a copy of the file, `sqlite3 old.db \".backup new.db\"` or \
         `VACUUM INTO` instead, or, if the dump came from this version of webhook-mcp, set \
         `PRAGMA user_version = {known}` on it"
    )]
    SchemaVersionLost { path: String, known: i64 },
    #[error("migrating the database {path} failed at migration {migration}: {reason}")]
    MigrationFailed {
        path: String,
        migration: String,
        reason: String,
    },
    #[error("the store is shut down")]
    Closed,
    #[error("the store cannot save anything: {0}")]
    Unavailable(String),
    #[error("already exists")]
    Conflict,
    /// A row names a parent (its webhook) that is gone: deleted between the caller's check
    /// and the write.
    #[error("what it belongs to no longer exists")]
    MissingParent,
    /// An action for a task that was cancelled between the caller's check and the write.
    #[error("task `{0}` was cancelled")]
    TaskCancelled(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A read panicked: a bug, not the data's fault nor the store's.
    #[error("a read of the database failed unexpectedly")]
    ReadPanicked,
}

impl StoreError {
    /// Whether a write failed for want of working storage rather than because of what it
    /// writes: a full disk, an I/O error, a read-only file, the write lock held elsewhere, a
    /// file that cannot be opened, or a store that refuses writes for one of those. The same
    /// write may go in unchanged once that is mended; one the data refuses (a constraint, a
    /// row gone, unreadable stored data) fails the same way every time.
    pub fn is_storage_trouble(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => e.sqlite_error_code().is_some_and(|code| {
                matches!(
                    code,
                    rusqlite::ErrorCode::DiskFull
                        | rusqlite::ErrorCode::SystemIoFailure
                        | rusqlite::ErrorCode::ReadOnly
                        | rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::OutOfMemory
                        | rusqlite::ErrorCode::FileLockingProtocolFailed
                )
            }),
            StoreError::Unavailable(_) => true,
            // Shut down: nothing this process tries will be written any more.
            StoreError::Closed
            | StoreError::SchemaTooNew { .. }
            | StoreError::SchemaVersionLost { .. }
            | StoreError::MigrationFailed { .. }
            | StoreError::Conflict
            | StoreError::MissingParent
            | StoreError::TaskCancelled(_)
            | StoreError::Corrupt(_)
            | StoreError::ReadPanicked => false,
        }
    }
}

/// A unit of work for the writer.
type WriteJob = Box<dyn writer::Job>;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// The WAL file's path as SQLite names it (links followed), which the writer keeps open.
    wal: Option<PathBuf>,
    stats: Arc<WriterStats>,
    writer: Mutex<Option<SyncSender<WriteJob>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    /// Reads running at once, each on a connection of its own: bounded, so a burst of slow
    /// listings cannot open hundreds of connections (two descriptors and a page cache each)
    /// that the pool would then keep.
    read_slots: Arc<tokio::sync::Semaphore>,
    /// Slots of the receive path's reads alone ([`Store::read_for_delivery`]), so that
    /// sixteen long listings do not hold up a delivery's look-up of its webhook.
    delivery_slots: Arc<tokio::sync::Semaphore>,
    /// When [`Store::trouble_looked_at`] last wrote to see whether the trouble passed.
    trouble_looked_at: Mutex<Option<std::time::Instant>>,
}

/// How often `/health` may write to see whether a known trouble passed.
const TROUBLE_LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Most reads at once, and so most reader connections kept, besides the receive path's.
const MAX_READERS: usize = 16;

/// Most of the receive path's reads at once (look-ups of webhooks not in its cache).
const MAX_DELIVERY_READERS: usize = 2;

impl Store {
    /// Opens (creating if needed) the database, applies migrations and starts the writer.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_folder(dir)?;
        }
        create_private(path)?;
        if let Some(mode) = open_to_others(path) {
            tracing::warn!(
                database = %path.display(),
                mode = format!("{mode:03o}"),
                "other users of this machine may read the database, which holds webhook secrets \
                 and tokens (sealed only under WEBHOOK_MCP_SECRET_KEY) and every event; a file \
                 restored from a backup or copied keeps the mode it came with: chmod 600 it"
            );
        }
        // Not as a URI (`file:…?mode=…`), which `Connection::open` would read: the readers
        // open the path as written, and would open another file.
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // SQLite opens a file it may not write read-only, without a word, and a current schema
        // needs no write to migrate: found here, not as a 500 on the first webhook.
        if conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(StoreError::Unavailable(format!(
                "{} is read-only to this process; give it (and its folder) write permission",
                path.display()
            )));
        }
        configure_writer(&conn)?;
        migrate(&mut conn, path)?;
        // From here on the syncer thread makes each commit durable (see `syncer`): commits
        // append to the WAL and the syncer's fdatasync stands in for FULL's, off this thread.
        let wal_path = syncer::WalGone::path_of(&conn);
        let mut wal = syncer::WalFile::of(&conn).ok_or_else(|| {
            StoreError::Corrupt(format!("{} is not a database file", path.display()))
        })?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;

        let (tx, rx) = mpsc::sync_channel::<WriteJob>(QUEUE_DEPTH);
        let stats = Arc::new(WriterStats::default());
        let writer_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer::run(conn, move || wal.sync(), rx, &writer_stats))
            .map_err(|e| StoreError::Corrupt(format!("cannot start writer thread: {e}")))?;

        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                wal: wal_path,
                stats,
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(thread)),
                readers: Mutex::new(Vec::new()),
                read_slots: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
                delivery_slots: Arc::new(tokio::sync::Semaphore::new(MAX_DELIVERY_READERS)),
                trouble_looked_at: Mutex::new(None),
            }),
        })
    }

    /// Runs `f` on the writer; resolves once the transaction holding it is on disk.
    /// An error from `f` undoes only `f`'s own writes, never the rest of the batch. `f` may
    /// run more than once (after a rollback caused by another write in its batch), so it must
    /// not depend on state it changes itself: it is `Fn`, and only its last run counts.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        if let Some(reason) = self.failure() {
            return Err(StoreError::Unavailable(reason));
        }
        let (reply_tx, reply_rx) = oneshot::channel::<Result<T, StoreError>>();
        // The first write of an audited change reserves its entry in its own transaction.
        let reserving = audit_order::reserving();
        let reserves = reserving.clone();
        let f = move |db: &Connection| {
            let done = f(db)?;
            if let Some(reserving) = &reserves {
                reserving.reserve_in(db);
            }
            Ok(done)
        };
        let job: WriteJob = Box::new(writer::Pending::new(f, reply_tx));
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
                    .map_err(|_| self.not_taken())?;
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return Err(self.not_taken()),
        }
        let written = reply_rx.await.unwrap_or_else(|_| Err(self.not_taken()));
        if let (Err(_), Some(reserving)) = (&written, &reserving) {
            reserving.undone();
        }
        written
    }

    /// Runs `f` on a read-only connection. Sees the latest commit; never waits for the writer.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.read_in(&self.inner.read_slots, f).await
    }

    /// [`Store::read`] for the receive path, in slots of its own: it never waits behind the
    /// API's and MCP's reads.
    pub async fn read_for_delivery<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.read_in(&self.inner.delivery_slots, f).await
    }

    async fn read_in<T, F>(
        &self,
        slots: &Arc<tokio::sync::Semaphore>,
        f: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        // Held by the read itself, not by this future: a request dropped (timed out, its client
        // gone) leaves its read running, and the slot taken until it ends.
        let slot = Arc::clone(slots)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let conn = match inner.readers.lock().expect("reader pool poisoned").pop() {
                Some(conn) => conn,
                None => {
                    refuse_without_wal(&inner)?;
                    open_reader(&inner.path)?
                }
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
        .map_err(|e| {
            if e.is_panic() {
                // A bug in the read, not a store shutting down: a 500, logged, not a 503
                // telling the client to come back.
                StoreError::ReadPanicked
            } else {
                StoreError::Closed
            }
        })?
    }

    /// What the writer has done since start: for `/metrics`, and to see how well writes batch.
    pub fn writer_stats(&self) -> WriterSnapshot {
        self.inner.stats.snapshot()
    }

    /// Why the store refuses writes, if it does: a commit could not be made durable, and only
    /// a restart recovers. `/health` reports it.
    pub fn failure(&self) -> Option<String> {
        self.inner.stats.failure.get().cloned()
    }

    /// Why no write will be made again though the store was not closed: its writer thread
    /// ended (it panicked). `/health` reports it, and writes are refused saying so.
    pub fn writer_stopped(&self) -> Option<String> {
        let stopped = self
            .inner
            .writer_thread
            .lock()
            .expect("mutex poisoned")
            .as_ref()
            .is_some_and(JoinHandle::is_finished);
        stopped.then(|| {
            "the database writer stopped unexpectedly (see the log); restart the server".into()
        })
    }

    /// The error for a write the writer did not take: closed by a shutdown, or stopped.
    fn not_taken(&self) -> StoreError {
        self.writer_stopped()
            .map_or(StoreError::Closed, StoreError::Unavailable)
    }

    /// Why the last write could not be stored, until a later one is: a full disk, a file
    /// turned read-only or the write lock held elsewhere, each of which may pass. `/health`
    /// reports it.
    pub fn trouble(&self) -> Option<String> {
        self.inner.stats.trouble()
    }

    /// [`Store::trouble`]; while one is known, a small write of its own looks again whether
    /// it passed, at most every [`TROUBLE_LOOK_EVERY`] and without waiting for it (behind a
    /// held lock it waits the busy timeout). Else, with no traffic, a disk given room again
    /// would stay reported full, and a deployment that routes requests only to a healthy
    /// server would never send the write that shows it mended.
    pub fn trouble_looked_at(&self) -> Option<String> {
        let trouble = self.trouble()?;
        // A damaged file is not looked at so: a small write may go in where others still fail,
        // and would show it mended.
        if trouble.starts_with(writer::DAMAGED) {
            return Some(trouble);
        }
        let due = {
            let mut last = self
                .inner
                .trouble_looked_at
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|at| at.elapsed() >= TROUBLE_LOOK_EVERY);
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        };
        if due {
            let store = self.clone();
            let now = crate::clock::now_ms().to_string();
            tokio::spawn(async move {
                let _ = store
                    .write(move |db| {
                        Ok(db
                            .prepare_cached(
                                "INSERT INTO meta (name, value) VALUES ('trouble_looked_at', ?1) \
                                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                            )?
                            .execute([&now])?)
                    })
                    .await;
            });
        }
        Some(trouble)
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

/// How a refusal says that what the refused request changed is stored all the same (it went
/// into a WAL file removed under the server, which a clean stop folds in).
pub const KEPT_AT_STOP: &str = "what this request changed is kept by that clean stop";

/// Why a write could not start while another process holds the write lock.
pub(crate) const LOCK_HELD: &str =
    "another process has held the database's write lock past the busy timeout (5 s)";

/// Why the database cannot take writes for now, when that may pass (an operator frees space
/// or gives the file back its write permission; another process ends its long transaction)
/// and a sender's retry may then succeed: such errors are answered 503 with Retry-After, not
/// 500, and are no sign of a corrupt database.
pub(crate) fn cannot_write(e: &rusqlite::Error) -> Option<&'static str> {
    match e.sqlite_error_code()? {
        rusqlite::ErrorCode::DiskFull => Some("the disk is full"),
        rusqlite::ErrorCode::ReadOnly => Some("the database file has become read-only"),
        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => Some(LOCK_HELD),
        // At COMMIT too (where a WAL append meets the disk), not only in a statement: else a
        // delivered post's record failing there would be counted refused and given up.
        rusqlite::ErrorCode::SystemIoFailure => {
            Some("the database file cannot be written (I/O error)")
        }
        rusqlite::ErrorCode::CannotOpen => Some("the database or its journal cannot be opened"),
        _ => None,
    }
}

/// Turns a UNIQUE or PRIMARY KEY violation into `Conflict`, so callers can answer 409, and a
/// FOREIGN KEY violation into `MissingParent`; other constraint failures stay errors.
pub(crate) fn conflict_on_unique(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    match &e {
        rusqlite::Error::SqliteFailure(err, _) => match err.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                StoreError::Conflict
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => StoreError::MissingParent,
            _ => StoreError::Sqlite(e),
        },
        _ => StoreError::Sqlite(e),
    }
}

/// How long a write waits for another process's lock on the database.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    enable_wal(conn)?;
    // FULL while migrating; the writer switches to NORMAL plus its own syncer afterwards.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // After a failed write the rest of its batch runs in savepoints; their undo copies stay
    // in memory instead of temp files.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // What is deleted (a webhook's secret, a message's text, an expired event's body) is
    // overwritten with zeros, not left readable in the file's free pages. Only deletes and
    // rewritten rows pay, in the pages they already write and the pages they free; the
    // receive path only inserts.
    conn.pragma_update(None, "secure_delete", true)?;
    // A burst (or a long read holding back checkpoints) grows the WAL; without a limit it
    // keeps that size on disk for good. With one, a checkpoint that starts it over cuts it
    // back to this size.
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    Ok(())
}

/// The size, in bytes, the WAL is cut back to when a checkpoint starts it over.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Switches the file to WAL (a setting kept in the file). Two processes switching a new file
/// at once each hold the shared lock the other must see go, and SQLite answers one of them
/// busy at once instead of waiting, so the switch is tried again for up to the busy timeout.
fn enable_wal(conn: &Connection) -> Result<(), StoreError> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            done => return Ok(done?),
        }
    }
}

/// Creates a new database file readable by its owner only: without a secret key it holds
/// webhook secrets and tokens as given (and URLs with credentials in them always). SQLite
/// gives its `-wal` and `-shm` files the database file's permissions. An existing file keeps
/// the permissions its owner gave it.
///
/// A path that is a link to a file not made yet (set up to keep the data on another disk) has
/// that file made so, with its folder: `create_new` refuses to follow the link, and SQLite
/// would otherwise make it readable by everyone the umask lets read.
/// The permission bits of a database file that users other than its owner and group may
/// read or write. A file made here is owner-only; one put in place by hand is not always.
fn open_to_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o006 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Makes the database's folder, and those above it, where missing: owner-only, as the file
/// is, since the folder holds its copies too (`-wal`, `-journal`). One that exists is left as
/// it is.
fn create_private_folder(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        StoreError::Unavailable(format!("cannot create folder {}: {e}", dir.display()))
    })
}

fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut path = path.to_path_buf();
    // A chain of links ends within a few; one longer (or a loop) is left to SQLite to refuse.
    for _ in 0..8 {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot create {}: {e}",
                    path.display()
                )));
            }
        };
        let dangling = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink())
            && std::fs::metadata(&path).is_err();
        if !dangling {
            return Ok(());
        }
        let target = std::fs::read_link(&path).map_err(|e| {
            StoreError::Unavailable(format!("cannot read the link {}: {e}", path.display()))
        })?;
        let target = match path.parent() {
            Some(folder) if target.is_relative() => folder.join(target),
            _ => target,
        };
        if let Some(folder) = target.parent().filter(|f| !f.as_os_str().is_empty()) {
            create_private_folder(folder)?;
        }
        path = target;
    }
    Ok(())
}

/// A new connection to a database whose WAL file was taken from its path while the writer
/// has it open would make a new, empty one there: its reads fail as a disk I/O error, and the
/// clean stop could no longer fold the removed file into the database (what it held would be
/// lost). Refused instead, saying what to do; the connections already open read on.
fn refuse_without_wal(inner: &Inner) -> Result<(), StoreError> {
    let Some(wal) = &inner.wal else {
        return Ok(());
    };
    let writing = inner
        .writer
        .lock()
        .expect("writer mutex poisoned")
        .is_some();
    if writing && !wal.exists() {
        return Err(StoreError::Unavailable(format!(
            "the WAL file {} was removed while the database was open; stop the server cleanly \
             (SIGTERM, not a kill), which folds what it held into the database file, then \
             start it again",
            wal.display()
        )));
    }
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use rusqlite::ffi;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_reads_opens_no_more_connections_than_reads_may_run_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("x.db")).unwrap();
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let reads = (0..100).map(|_| {
            let (store, running, most) = (store.clone(), running.clone(), most.clone());
            tokio::spawn(async move {
                store
                    .read(move |_| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
            })
        });
        for read in reads.collect::<Vec<_>>() {
            read.await.unwrap().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= MAX_READERS);
        assert!(store.inner.readers.lock().unwrap().len() <= MAX_READERS);
        store.close();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delivery_reads_its_webhook_while_every_other_read_slot_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("x.db")).unwrap();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let long_reads: Vec<_> = (0..MAX_READERS + 4)
            .map(|_| {
                let (store, held) = (store.clone(), held.clone());
                tokio::spawn(async move {
                    store
                        .read(move |_| {
                            let _ = held.lock().unwrap().recv();
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        while store.inner.read_slots.available_permits() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }

        let looked_up = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            store.read_for_delivery(|db| Ok(db.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)),
        )
        .await;

        for _ in 0..MAX_READERS + 4 {
            let _ = release.send(());
        }
        for read in long_reads {
            read.await.unwrap().unwrap();
        }
        assert_eq!(looked_up.expect("not held up").unwrap(), 1);
        store.close();
    }

    #[tokio::test]
    async fn the_writer_sets_the_size_a_checkpoint_cuts_the_wal_back_to() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("x.db")).unwrap();
        let limit: i64 = store
            .write(|db| Ok(db.query_row("PRAGMA journal_size_limit", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(limit, WAL_SIZE_LIMIT);
        store.close();
    }

    fn sqlite(extended_code: i32) -> StoreError {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            ffi::Error::new(extended_code),
            None,
        ))
    }

    #[cfg(unix)]
    #[test]
    fn a_database_linked_to_a_file_not_made_yet_is_made_private_with_its_folders() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("link")).expect("folder");
        // Readable by all, as a folder the user made may be, whatever the umask here.
        std::fs::set_permissions(
            dir.path().join("link"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
        std::os::unix::fs::symlink("../real/sub/app.db", dir.path().join("link/app.db"))
            .expect("link");
        create_private(&dir.path().join("link/app.db")).expect("created");
        let made = dir.path().join("real/sub/app.db");
        let mode = std::fs::metadata(&made).expect("made").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        // The folders it made are owner-only too; the one that was there is left as it was.
        for (folder, private) in [("real", true), ("real/sub", true), ("link", false)] {
            let mode = std::fs::metadata(dir.path().join(folder))
                .expect("folder")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077 == 0, private, "{folder}: {mode:o}");
        }
        assert_eq!(super::open_to_others(&made), None);
        // A file there already keeps its owner's permissions.
        std::fs::set_permissions(&made, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(super::open_to_others(&made), Some(0o644));
        std::fs::set_permissions(&made, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert_eq!(super::open_to_others(&made), None);
        create_private(&dir.path().join("link/app.db")).expect("kept");
        let mode = std::fs::metadata(&made).expect("kept").permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "{mode:o}");
    }

    #[test]
    fn a_commit_meeting_an_io_error_or_unopenable_journal_is_storage_trouble() {
        // The writer's COMMIT and BEGIN failures go through `cannot_write`: one it does not
        // know becomes a "corrupt" write, which a delivered post's record gives up on.
        for code in [
            ffi::SQLITE_FULL,
            ffi::SQLITE_IOERR_WRITE,
            ffi::SQLITE_IOERR_SHMMAP,
            ffi::SQLITE_CANTOPEN,
            ffi::SQLITE_READONLY,
            ffi::SQLITE_BUSY,
        ] {
            let StoreError::Sqlite(e) = sqlite(code) else {
                unreachable!()
            };
            assert!(cannot_write(&e).is_some(), "{e:?}");
        }
        let StoreError::Sqlite(e) = sqlite(ffi::SQLITE_CONSTRAINT_CHECK) else {
            unreachable!()
        };
        assert!(cannot_write(&e).is_none());
    }

    #[test]
    fn storage_trouble_is_told_apart_from_writes_the_data_refuses() {
        for (error, trouble) in [
            (sqlite(ffi::SQLITE_FULL), true),
            (sqlite(ffi::SQLITE_IOERR), true),
            (sqlite(ffi::SQLITE_IOERR_WRITE), true),
            (sqlite(ffi::SQLITE_IOERR_FSYNC), true),
            (sqlite(ffi::SQLITE_READONLY), true),
            (sqlite(ffi::SQLITE_READONLY_DBMOVED), true),
            (sqlite(ffi::SQLITE_BUSY), true),
            (sqlite(ffi::SQLITE_BUSY_SNAPSHOT), true),
            (sqlite(ffi::SQLITE_LOCKED), true),
            (sqlite(ffi::SQLITE_CANTOPEN), true),
            (sqlite(ffi::SQLITE_NOMEM), true),
            (sqlite(ffi::SQLITE_PROTOCOL), true),
            (StoreError::Unavailable("the disk is full".into()), true),
            (sqlite(ffi::SQLITE_CONSTRAINT_TRIGGER), false),
            (sqlite(ffi::SQLITE_CONSTRAINT_CHECK), false),
            (sqlite(ffi::SQLITE_CONSTRAINT_NOTNULL), false),
            (sqlite(ffi::SQLITE_MISMATCH), false),
            (sqlite(ffi::SQLITE_TOOBIG), false),
            (sqlite(ffi::SQLITE_CORRUPT), false),
            (sqlite(ffi::SQLITE_NOTADB), false),
            (sqlite(ffi::SQLITE_ERROR), false),
            (
                StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows),
                false,
            ),
            (StoreError::Conflict, false),
            (StoreError::MissingParent, false),
            (StoreError::Corrupt("unreadable".into()), false),
            (StoreError::Closed, false),
        ] {
            assert_eq!(error.is_storage_trouble(), trouble, "{error:?}");
        }
    }

    #[test]
    fn a_database_at_its_size_limit_is_storage_trouble_a_trigger_raising_is_not() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (x BLOB);
             CREATE TRIGGER no BEFORE INSERT ON t WHEN length(NEW.x) = 1
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
        let size: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        conn.pragma_update(None, "max_page_count", size).unwrap();

        let full = conn.execute("INSERT INTO t VALUES (zeroblob(100000))", []);
        let raised = conn.execute("INSERT INTO t VALUES (x'00')", []);

        let full = StoreError::from(full.unwrap_err());
        let raised = StoreError::from(raised.unwrap_err());
        assert!(full.is_storage_trouble(), "{full:?}");
        assert!(!raised.is_storage_trouble(), "{raised:?}");
    }
}
