//! The writer thread: runs writes as they arrive in one open transaction, commits the batch
//! when the syncer is free, and hands the batch's callers to the syncer, which answers them
//! once the commit is on disk.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::durations::{Buckets, Histogram};
use super::syncer::{self, Committed};
use tokio::sync::oneshot;

use super::{StoreError, WriteJob};

/// How many writes one transaction takes at most; bounds the latency a batch adds.
const MAX_BATCH: usize = 512;

/// How long a batch's writes may run before it commits once the syncer is free, though more
/// writes are queued. A write is normally well under a millisecond, so this only cuts a batch
/// when writes run slow (a large scan, a slow disk): else the first write of a queue of slow
/// ones is answered only when the last has run (512 writes of 450 ms: four minutes).
const MAX_BATCH_WORK: Duration = Duration::from_millis(25);

/// What the writer and syncer share with the store: counters bumped once per batch or sync,
/// and the reason the store stopped taking writes, if it did.
#[derive(Default)]
pub(super) struct WriterStats {
    pub commits: AtomicU64,
    /// COMMITs that failed (a full disk, say): their writes were not stored.
    pub failed_commits: AtomicU64,
    pub writes: AtomicU64,
    pub work_nanos: AtomicU64,
    pub commit_nanos: AtomicU64,
    pub syncs: AtomicU64,
    pub sync_nanos: AtomicU64,
    pub commit_durations: Histogram,
    pub sync_durations: Histogram,
    /// Set once, when a commit could not be made durable. From then on every write is
    /// refused: the commit is already visible to readers, and after a failed `fdatasync` the
    /// kernel may not report the lost pages again, so a later sync proves nothing. Only a
    /// restart, which recovers the database from what really is on disk, makes it safe again.
    pub failure: OnceLock<String>,
    /// The failure was the WAL file taken from its path ([`syncer::WalGone`]): no sync failed,
    /// and what it holds is still in the file the writer's connection has open, so a clean
    /// stop folds it into the database file still.
    pub wal_gone: AtomicBool,
    /// Why the last write that could not be stored failed (a full disk, a read-only file, the
    /// write lock held elsewhere), until a later batch stores something: the store takes no
    /// writes for now, though it may again once that is mended. `/health` reports it.
    pub trouble: Mutex<Option<String>>,
}

impl WriterStats {
    pub fn snapshot(&self) -> WriterSnapshot {
        let secs = |n: &AtomicU64| n.load(Relaxed) as f64 / 1e9;
        WriterSnapshot {
            commits: self.commits.load(Relaxed),
            failed_commits: self.failed_commits.load(Relaxed),
            writes: self.writes.load(Relaxed),
            work_seconds: secs(&self.work_nanos),
            commit_seconds: secs(&self.commit_nanos),
            syncs: self.syncs.load(Relaxed),
            sync_seconds: secs(&self.sync_nanos),
            commit_durations: self.commit_durations.snapshot(),
            sync_durations: self.sync_durations.snapshot(),
        }
    }

    /// Stops the store taking writes; the first reason given is the one kept.
    pub fn fail(&self, reason: String) {
        if self.failure.set(reason.clone()).is_ok() {
            tracing::error!(
                reason,
                "the store refuses writes from now on; restart the server"
            );
        }
    }

    /// A write could not be stored, for `reason`.
    fn troubled(&self, reason: String) {
        let mut trouble = self.trouble.lock().unwrap_or_else(|e| e.into_inner());
        // A held lock does not stand in for a full disk or a read-only file already known:
        // the next commit would clear it as let go while writes still could not go in.
        let lock_only = reason.starts_with(super::LOCK_HELD);
        if !(lock_only
            && trouble
                .as_deref()
                .is_some_and(|t| !t.starts_with(super::LOCK_HELD)))
        {
            *trouble = Some(reason);
        }
    }

    /// Whether the trouble is only the write lock held elsewhere: any commit then shows it
    /// was let go, one that changed nothing too (a full disk is shown gone only by a write
    /// that stores something).
    fn only_locked_out(&self) -> bool {
        self.trouble
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_deref()
            .is_some_and(|why| why.starts_with(super::LOCK_HELD))
    }

    /// A batch stored changes with no write failing for want of storage: writes go in again.
    /// Said once, as the trouble was (at ERROR, once in a while): the log shows it passed.
    fn mended(&self) {
        let passed = self
            .trouble
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(trouble) = passed {
            tracing::info!(was = %trouble, "writes are stored again: the storage trouble has passed");
        }
    }

    /// Why writes are not being stored just now, if the last one was not (see `trouble`).
    pub fn trouble(&self) -> Option<String> {
        self.trouble
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn refusal(&self) -> Option<Failed> {
        self.failure.get().cloned().map(Failed::Unavailable)
    }
}

/// A reading of the writer's counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriterSnapshot {
    /// Transactions committed (one per batch).
    pub commits: u64,
    /// Transactions whose COMMIT failed.
    pub failed_commits: u64,
    /// Writes those transactions held.
    pub writes: u64,
    /// Time spent running the writes' SQL.
    pub work_seconds: f64,
    /// Time spent committing to the WAL (before the sync).
    pub commit_seconds: f64,
    /// fdatasync calls that made commits durable (one can cover several commits).
    pub syncs: u64,
    /// Time spent in those calls.
    pub sync_seconds: f64,
    /// How many commits took how long (see `durations::BOUNDS`).
    pub commit_durations: Buckets,
    /// How many syncs took how long.
    pub sync_durations: Buckets,
}

/// How the trouble of a file read as damaged begins.
pub(super) const DAMAGED: &str = "the database file reads as damaged";

/// Why a batch's writes did not commit.
#[derive(Debug, Clone)]
pub(super) enum Failed {
    /// This transaction failed (BEGIN, COMMIT or a savepoint); the next one may succeed.
    Transaction(String),
    /// The store cannot make writes durable any more (see `WriterStats::failure`).
    Unavailable(String),
}

/// How long the writer waits for another write while a sync is running, before looking again
/// whether the syncer is free to take its commit.
const POLL: Duration = Duration::from_micros(50);

/// The writer loop. It keeps one transaction open and runs each write as it arrives; it
/// commits when the syncer is free (or the batch is full) and hands the commit over. A commit
/// made while a sync runs would wait for the next sync anyway, so holding the transaction
/// open until then costs no latency and makes batches larger: every write that arrives during
/// an fsync joins the next commit, and its SQL runs meanwhile.
///
/// While the syncer is idle the writer still takes every write already queued before it
/// commits (unless they have run for [`MAX_BATCH_WORK`]). Committing the moment the syncer is free instead was measured to be worse
/// (bench/run.sh: 7 writes per commit instead of 13, 14.4k instead of 17.2k requests/s, p50
/// at 1,000 requests/s 1.4 ms instead of 1.8 ms): the queue holds at most one write per
/// request in flight, so it runs dry quickly and a batch never waits long.
///
/// `flush` makes everything committed so far durable; the syncer thread calls it.
pub(super) fn run<F>(conn: Connection, flush: F, rx: Receiver<WriteJob>, stats: &WriterStats)
where
    F: FnMut() -> io::Result<()> + Send,
{
    let (to_syncer, from_writer) = mpsc::channel::<Committed>();
    let in_flight = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        // Named, so it shows apart from the writer in `top -H` and profiles.
        let syncer = std::thread::Builder::new()
            .name("store-syncer".into())
            .spawn_scoped(scope, || syncer::run(flush, from_writer, &in_flight, stats))
            .expect("cannot start the store's syncer thread");
        // The syncer lowers `in_flight` after each sync; should it ever die, nothing would,
        // so the writer also commits (and learns the syncer is gone) once it has finished.
        let syncer_idle = || in_flight.load(SeqCst) == 0 || syncer.is_finished();
        let mut batch: Option<Batch> = None;
        loop {
            let next = match &batch {
                None => match rx.recv() {
                    Ok(job) => Some(job),
                    Err(_) => break,
                },
                Some(b) if b.len() >= MAX_BATCH => None,
                Some(b) if b.work >= MAX_BATCH_WORK && syncer_idle() => None,
                Some(_) => match rx.try_recv() {
                    Ok(job) => Some(job),
                    Err(TryRecvError::Disconnected) => None,
                    Err(TryRecvError::Empty) if syncer_idle() => None,
                    Err(TryRecvError::Empty) => match rx.recv_timeout(POLL) {
                        Ok(job) => Some(job),
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => None,
                    },
                },
            };
            match next {
                Some(job) => {
                    if let Some(refused) = stats.refusal() {
                        if let Some(open) = batch.take() {
                            open.abandon(&conn, refused.clone());
                        }
                        job.answer(Err(refused));
                        continue;
                    }
                    let open = match batch.take() {
                        Some(open) => Ok(open),
                        None => Batch::begin(&conn),
                    };
                    match open {
                        Ok(open) => batch = open.run(&conn, job, stats),
                        Err(e) => {
                            let why = failed(&e, stats);
                            if let Failed::Transaction(_) = why {
                                tracing::error!(error = %e, "cannot begin a store transaction");
                            }
                            // Another process held the lock past the busy timeout: the writes
                            // queued meanwhile have waited as long, and each would wait its
                            // own timeout again in turn (the sixth of a burst 30 s). They are
                            // answered now, as this one is.
                            if is_busy(&e) {
                                while let Ok(waiting) = rx.try_recv() {
                                    waiting.answer(Err(why.clone()));
                                }
                            }
                            job.answer(Err(why));
                        }
                    }
                }
                None => {
                    let Some(open) = batch.take() else { continue };
                    if let Some(refused) = stats.refusal() {
                        open.abandon(&conn, refused);
                        continue;
                    }
                    let committed = open.commit(&conn, stats);
                    in_flight.fetch_add(1, SeqCst);
                    if let Err(mpsc::SendError(lost)) = to_syncer.send(committed) {
                        // The syncer is gone (it panicked): nothing can be made durable.
                        stats.fail("the store's syncer thread stopped".into());
                        let refused = stats.refusal().expect("failure was just set");
                        for job in lost.jobs {
                            job.answer(Err(refused.clone()));
                        }
                    }
                }
            }
        }
        drop(to_syncer);
    });
    if stats.refusal().is_none() {
        fold_wal_into_database(&conn);
    } else if stats.wal_gone.load(SeqCst) {
        // No flush failed: the removed file's pages are whole, and the database file is the
        // one still at its path. Without this, the next start would find neither. Not if a
        // new WAL has since been made at the path: the index both share may describe its
        // frames.
        match syncer::WalGone::path_of(&conn) {
            Some(wal) if !wal.exists() => fold_removed_wal(&conn),
            Some(_) => tracing::error!(
                "a new WAL file was made where the removed one was: what the removed one held \
                 is not folded into the database file, and is lost at this stop"
            ),
            None => tracing::error!(
                "the removed WAL file's path is not known: what it held is not folded into \
                 the database file, and is lost at this stop"
            ),
        }
    }
}

/// On a clean stop, copies the WAL into the database file and empties it, so that the `.db`
/// file alone holds everything (a backup that copies only it loses nothing). SQLite does this
/// itself when the last connection closes, but the readers outlive the writer. Another
/// process still reading is not waited for: what it holds stays in the WAL for the next start.
fn fold_wal_into_database(conn: &Connection) {
    let _ = conn.busy_timeout(Duration::ZERO);
    let folded = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        row.get::<_, i64>(0)
    });
    match folded {
        Ok(0) => {}
        Ok(_) => {
            tracing::info!("another process is reading; part of the WAL stays for the next start")
        }
        Err(e) => tracing::warn!(error = %e, "could not fold the WAL into the database file"),
    }
}

/// [`fold_wal_into_database`] for a WAL file removed under the server: the next start cannot
/// reach what stays in it, so a reader of another process is waited for a while, and a fold
/// it still keeps from ending is told as the loss it is.
fn fold_removed_wal(conn: &Connection) {
    let _ = conn.busy_timeout(Duration::from_secs(10));
    let folded = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    });
    match folded {
        Ok((0, frames, copied)) if copied >= frames => {
            tracing::warn!("what the removed WAL file held was folded into the database file")
        }
        Ok(_) => tracing::error!(
            "another process reading the database kept part of the removed WAL file from being \
             folded into the database file: it is lost unless that process ends cleanly (not \
             killed) before this server starts again"
        ),
        Err(e) => tracing::error!(
            error = %e,
            "could not fold the removed WAL file into the database file: what it held is lost"
        ),
    }
}

/// A write waiting for the writer: it runs (perhaps again, after a rollback), and its caller
/// hears the outcome once the batch's fate is known.
pub(super) trait Job: Send {
    /// Runs the write and says whether it succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Sends the caller the last run's outcome, or the batch's failure.
    fn answer(self: Box<Self>, committed: Result<(), Failed>);
    /// Why the last run failed, when it was for want of storage (see `super::cannot_write`).
    fn unwritable(&self) -> Option<String>;
}

/// A caller's closure and the channel its result goes back on.
pub(super) struct Pending<T, F> {
    f: F,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Pending<T, F> {
    pub fn new(f: F, reply: oneshot::Sender<Result<T, StoreError>>) -> Self {
        Pending {
            f,
            outcome: None,
            reply,
        }
    }
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: Fn(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        // A panicking write must not take the writer thread (and every later write) with it;
        // it fails like any other write, and its half-done changes are rolled back.
        let outcome = catch_unwind(AssertUnwindSafe(|| (self.f)(conn))).unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(message, "a store write panicked");
            Err(StoreError::Corrupt(format!(
                "the write panicked: {message}"
            )))
        });
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, committed: Result<(), Failed>) {
        let result = match (self.outcome, committed) {
            (Some(Err(e)), _) => Err(e),
            (_, Err(Failed::Unavailable(reason))) => Err(StoreError::Unavailable(reason)),
            (Some(Ok(_)), Err(Failed::Transaction(e))) => {
                Err(StoreError::Corrupt(format!("commit failed: {e}")))
            }
            (None, Err(Failed::Transaction(e))) => Err(StoreError::Corrupt(format!(
                "the write could not start: {e}"
            ))),
            (None, Ok(())) => Err(StoreError::Closed),
            (Some(Ok(v)), Ok(())) => Ok(v),
        };
        let _ = self.reply.send(result);
    }

    fn unwritable(&self) -> Option<String> {
        match &self.outcome {
            Some(Err(StoreError::Sqlite(e))) => {
                super::cannot_write(e).map(|why| format!("{why} ({e})"))
            }
            _ => None,
        }
    }
}
/// The open transaction and the writes it holds.
///
/// Writes run bare at first: a savepoint per write costs a copy of every page it touches, and
/// nearly every write succeeds. When one fails, the transaction is rolled back and every write
/// so far runs again, each in its own savepoint, and so do the rest of this batch: the failed
/// write is undone alone and the others still commit.
struct Batch {
    jobs: Vec<WriteJob>,
    guarded: bool,
    /// Time spent running the writes (not waiting for them).
    work: Duration,
    /// The connection's change count when the batch began, to tell whether it stored any.
    changes_before: u64,
    /// A write of this batch failed for want of storage.
    troubled: bool,
}

impl Batch {
    fn begin(conn: &Connection) -> rusqlite::Result<Batch> {
        exec(conn, "BEGIN IMMEDIATE")?;
        Ok(Batch {
            jobs: Vec::new(),
            guarded: false,
            work: Duration::ZERO,
            changes_before: conn.total_changes(),
            troubled: false,
        })
    }

    fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Adds a write to the batch. `None` means the transaction itself broke: every write in
    /// it has been answered with that error, and the batch is gone.
    fn run(mut self, conn: &Connection, mut job: WriteJob, stats: &WriterStats) -> Option<Batch> {
        let started = Instant::now();
        if !self.guarded {
            if job.run(conn) {
                self.jobs.push(job);
                self.work += started.elapsed();
                return Some(self);
            }
            self.note_unwritable(job.as_ref(), stats);
            self.jobs.push(job);
            // Some failures (a full disk, say) have already ended the transaction.
            let rolled_back = if conn.is_autocommit() {
                Ok(())
            } else {
                exec(conn, "ROLLBACK")
            };
            let redone = rolled_back
                .and_then(|()| exec(conn, "BEGIN IMMEDIATE"))
                .and_then(|()| {
                    self.guarded = true;
                    for job in &mut self.jobs {
                        run_guarded(conn, job.as_mut())?;
                    }
                    Ok(())
                });
            self.work += started.elapsed();
            return match redone {
                Ok(()) => Some(self),
                Err(e) => {
                    self.abandon(conn, failed(&e, stats));
                    None
                }
            };
        }
        let guarded = run_guarded(conn, job.as_mut());
        self.note_unwritable(job.as_ref(), stats);
        self.jobs.push(job);
        self.work += started.elapsed();
        match guarded {
            Ok(()) => Some(self),
            Err(e) => {
                self.abandon(conn, failed(&e, stats));
                None
            }
        }
    }

    fn note_unwritable(&mut self, job: &dyn Job, stats: &WriterStats) {
        if let Some(why) = job.unwritable() {
            self.troubled = true;
            stats.troubled(why);
        }
    }

    /// Rolls the transaction back and answers every write in it with `why`.
    fn abandon(self, conn: &Connection, why: Failed) {
        if let Failed::Transaction(e) = &why {
            tracing::error!(error = %e, "store transaction broke; its writes are refused");
        }
        if !conn.is_autocommit() {
            let _ = exec(conn, "ROLLBACK");
        }
        for job in self.jobs {
            job.answer(Err(why.clone()));
        }
    }

    fn commit(self, conn: &Connection, stats: &WriterStats) -> Committed {
        let committing = Instant::now();
        stats
            .work_nanos
            .fetch_add(self.work.as_nanos() as u64, Relaxed);
        let stored = conn.total_changes() > self.changes_before;
        let result = exec(conn, "COMMIT").map_err(|e| {
            if !conn.is_autocommit() {
                let _ = exec(conn, "ROLLBACK");
            }
            let why = failed(&e, stats);
            if let Failed::Transaction(_) = why {
                tracing::error!(error = %e, "store batch failed to commit");
            }
            why
        });
        if result.is_ok() && !self.troubled && (stored || stats.only_locked_out()) {
            stats.mended();
        }
        let took = committing.elapsed();
        stats
            .commit_nanos
            .fetch_add(took.as_nanos() as u64, Relaxed);
        stats.commit_durations.observe(took);
        if result.is_ok() {
            stats.commits.fetch_add(1, Relaxed);
            stats.writes.fetch_add(self.jobs.len() as u64, Relaxed);
        } else {
            stats.failed_commits.fetch_add(1, Relaxed);
        }
        Committed {
            jobs: self.jobs,
            result,
        }
    }
}

/// Runs a write inside its own savepoint; a failed write is rolled back alone. An error is a
/// failure of the savepoint machinery itself, not of the write.
fn run_guarded(conn: &Connection, job: &mut dyn Job) -> rusqlite::Result<()> {
    exec(conn, "SAVEPOINT write")?;
    if !job.run(conn) {
        exec(conn, "ROLLBACK TO write")?;
    }
    exec(conn, "RELEASE write")
}

/// Why a transaction broke. A full disk or a file turned read-only is `Unavailable`: callers
/// answer 503 with Retry-After (senders come back once it is mended) rather than 500; unlike
/// a failed sync it does not stop the store, since nothing unsynced was shown to anyone.
fn failed(e: &rusqlite::Error, stats: &WriterStats) -> Failed {
    if let Some(why) = super::cannot_write(e) {
        if let Some(times) = storage_failures() {
            tracing::error!(error = %e, times, "{why}; writes are refused until it is mended");
        }
        let reason = format!("{why} ({e})");
        stats.troubled(reason.clone());
        return Failed::Unavailable(reason);
    }
    // Read as damaged where BEGIN or COMMIT meets the file (a failing disk, a file changed
    // under the server): every write may fail so until it is mended or restored, so callers
    // are told to come back (503), and `/health` says why.
    if matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    ) {
        if let Some(times) = storage_failures() {
            tracing::error!(error = %e, times, "the database file reads as damaged");
        }
        let reason =
            format!("{DAMAGED} ({e}); if it still does after a restart, restore it from a backup");
        stats.troubled(reason.clone());
        return Failed::Unavailable(reason);
    }
    Failed::Transaction(e.to_string())
}

/// How many storage failures there were since the last was logged, when one is to be logged
/// now: once every ten seconds at most, as a full disk fails every claim of every sender, and
/// the log is often on the same disk.
fn storage_failures() -> Option<u64> {
    static FAILURES: std::sync::Mutex<crate::telemetry::Throttle> =
        std::sync::Mutex::new(crate::telemetry::Throttle::every(Duration::from_secs(10)));
    FAILURES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .note(Instant::now())
}

/// Whether `e` is another connection's lock held past the busy timeout.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc::SyncSender;

    use super::*;

    type Answer<T> = oneshot::Receiver<Result<T, StoreError>>;

    /// A writer over a fresh database with a table `t(x)`, syncing with `flush`.
    struct Harness {
        tx: Option<SyncSender<WriteJob>>,
        thread: Option<std::thread::JoinHandle<()>>,
        stats: Arc<WriterStats>,
        path: std::path::PathBuf,
        _dir: tempfile::TempDir,
    }

    impl Harness {
        fn new(flush: impl FnMut() -> io::Result<()> + Send + 'static) -> Harness {
            Harness::watching(|_| flush)
        }

        /// Like `new`, with a flush that may look at the database file.
        fn watching<F>(make_flush: impl FnOnce(std::path::PathBuf) -> F) -> Harness
        where
            F: FnMut() -> io::Result<()> + Send + 'static,
        {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("w.db");
            let flush = make_flush(path.clone());
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)", [])
                .unwrap();
            conn.busy_timeout(BUSY).unwrap();
            let (tx, rx) = mpsc::sync_channel(16);
            let stats = Arc::new(WriterStats::default());
            let shared = Arc::clone(&stats);
            let thread = std::thread::spawn(move || run(conn, flush, rx, &shared));
            Harness {
                tx: Some(tx),
                thread: Some(thread),
                stats,
                path,
                _dir: dir,
            }
        }

        fn insert(&self, x: i64) -> Answer<usize> {
            self.submit(move |c| Ok(c.execute("INSERT INTO t VALUES (?1)", [x])?))
        }

        fn submit<T: Send + 'static>(
            &self,
            f: impl Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
        ) -> Answer<T> {
            let (reply, answer) = oneshot::channel();
            let job: WriteJob = Box::new(Pending::new(f, reply));
            self.tx.as_ref().unwrap().send(job).unwrap();
            answer
        }

        /// Stops the writer and returns the rows that were committed.
        fn finish(mut self) -> Vec<i64> {
            drop(self.tx.take());
            self.thread.take().unwrap().join().unwrap();
            let conn = Connection::open(&self.path).unwrap();
            let mut rows = conn.prepare("SELECT x FROM t ORDER BY x").unwrap();
            rows.query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
    }

    /// How long the harness's writer waits for another connection's lock.
    const BUSY: Duration = Duration::from_millis(300);

    #[test]
    fn slow_writes_queued_together_are_answered_one_batch_at_a_time_not_when_all_have_run() {
        let harness = Harness::new(|| Ok(()));
        let slow = Duration::from_millis(250);
        // The first write holds the writer until the others are queued behind it.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Mutex::new(held);
        let first = harness.submit(move |c| {
            held.lock().unwrap().recv().unwrap();
            Ok(c.execute("INSERT INTO t VALUES (0)", [])?)
        });
        let started: Arc<Mutex<Vec<(i64, Instant)>>> = Arc::default();
        let answers: Vec<_> = (1..=3)
            .map(|x| {
                let started = Arc::clone(&started);
                harness.submit(move |c| {
                    started.lock().unwrap().push((x, Instant::now()));
                    std::thread::sleep(slow);
                    Ok(c.execute("INSERT INTO t VALUES (?1)", [x])?)
                })
            })
            .collect();
        release.send(()).unwrap();

        assert_eq!(first.blocking_recv().unwrap().unwrap(), 1);
        let mut answers = answers.into_iter();
        answers.next().unwrap().blocking_recv().unwrap().unwrap();
        let answered = Instant::now();

        for answer in answers {
            answer.blocking_recv().unwrap().unwrap();
        }
        let third = started
            .lock()
            .unwrap()
            .iter()
            .find(|(x, _)| *x == 3)
            .unwrap()
            .1;
        // Answered while the second ran, before the third began (not after all three).
        assert!(
            answered < third,
            "answered {:?} after the third began",
            answered - third
        );
        assert_eq!(harness.finish(), [0, 1, 2, 3]);
    }

    #[test]
    fn writes_queued_behind_a_lock_held_elsewhere_are_refused_together_not_one_wait_each() {
        let harness = Harness::new(|| Ok(()));
        let other = Connection::open(&harness.path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();

        let started = std::time::Instant::now();
        let answers: Vec<_> = (0..8).map(|x| harness.insert(x)).collect();
        let refused = answers
            .into_iter()
            .map(|a| a.blocking_recv().unwrap())
            .filter(Result::is_err)
            .count();
        let waited = started.elapsed();

        assert_eq!(refused, 8);
        // One busy timeout for all of them, not eight in turn (2.4 s).
        assert!(waited < BUSY * 5, "{waited:?}");
        other.execute_batch("ROLLBACK").unwrap();
        assert!(harness.insert(9).blocking_recv().unwrap().is_ok());
        assert_eq!(harness.finish(), [9]);
    }

    #[test]
    fn a_failed_flush_fails_its_writes_and_refuses_every_later_one() {
        let flushes = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&flushes);
        let harness = Harness::new(move || {
            counted.fetch_add(1, SeqCst);
            Err(io::Error::other("disk gone"))
        });

        let first = harness.insert(1).blocking_recv().unwrap();
        assert!(
            matches!(&first, Err(StoreError::Unavailable(r)) if r.contains("disk gone")),
            "{first:?}"
        );
        assert!(harness.stats.failure.get().is_some());
        let second = harness.insert(2).blocking_recv().unwrap();
        assert!(
            matches!(second, Err(StoreError::Unavailable(_))),
            "{second:?}"
        );

        let rows = harness.finish();
        // Once a flush failed, no sync can be trusted: nothing more is committed or synced.
        assert!(!rows.contains(&2), "{rows:?}");
        assert_eq!(flushes.load(SeqCst), 1);
    }

    #[test]
    fn a_file_read_as_damaged_at_begin_or_commit_is_unavailable_for_now_and_said() {
        let stats = WriterStats::default();
        for code in [rusqlite::ffi::SQLITE_CORRUPT, rusqlite::ffi::SQLITE_NOTADB] {
            let e = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
            let failed = failed(&e, &stats);
            assert!(
                matches!(&failed, Failed::Unavailable(r) if r.contains("damaged")),
                "{failed:?}"
            );
            assert!(stats.trouble().is_some_and(|t| t.contains("damaged")));
        }
        let e = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            None,
        );
        assert!(matches!(failed(&e, &stats), Failed::Transaction(_)));
    }

    #[test]
    fn storage_trouble_that_passes_is_said_once_when_writes_go_in_again() {
        use tracing_subscriber::layer::SubscriberExt;

        /// The messages of the events logged.
        struct Messages(Arc<std::sync::Mutex<Vec<String>>>);
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Messages {
            fn on_event(
                &self,
                event: &tracing::Event<'_>,
                _: tracing_subscriber::layer::Context<'_, S>,
            ) {
                struct Message(String);
                impl tracing::field::Visit for Message {
                    fn record_debug(
                        &mut self,
                        field: &tracing::field::Field,
                        value: &dyn std::fmt::Debug,
                    ) {
                        if field.name() == "message" {
                            self.0 = format!("{value:?}");
                        }
                    }
                }
                let mut message = Message(String::new());
                event.record(&mut message);
                self.0.lock().unwrap().push(message.0);
            }
        }
        let logged = Arc::new(std::sync::Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Messages(Arc::clone(&logged)));
        let stats = WriterStats::default();

        tracing::subscriber::with_default(subscriber, || {
            // A batch stored with no trouble known: nothing to say.
            stats.mended();
            stats.troubled("the disk is full".into());
            stats.mended();
            stats.mended();
        });

        let logged = logged.lock().unwrap();
        assert_eq!(
            *logged,
            ["writes are stored again: the storage trouble has passed"]
        );
        assert_eq!(stats.trouble(), None);
    }

    #[test]
    fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let harness = Harness::new(|| Ok(()));
        let before = harness.insert(1);
        let panicking = harness.submit(|c| {
            c.execute("INSERT INTO t VALUES (2)", [])?;
            panic!("boom");
            #[allow(unreachable_code)]
            Ok(())
        });
        let after = harness.insert(3);

        assert_eq!(before.blocking_recv().unwrap().unwrap(), 1);
        let failed = panicking.blocking_recv().unwrap();
        assert!(
            matches!(&failed, Err(StoreError::Corrupt(m)) if m.contains("boom")),
            "{failed:?}"
        );
        assert_eq!(after.blocking_recv().unwrap().unwrap(), 1);
        assert_eq!(harness.insert(4).blocking_recv().unwrap().unwrap(), 1);
        assert_eq!(harness.finish(), vec![1, 3, 4]);
    }

    #[test]
    fn a_write_is_answered_only_after_a_flush_that_covered_it() {
        let flushed = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
        let seen = Arc::clone(&flushed);
        let harness = Harness::watching(move |path| {
            move || {
                // What a flush makes durable is what was committed when it ran.
                let conn = Connection::open(&path).map_err(io::Error::other)?;
                let mut rows = conn.prepare("SELECT x FROM t").map_err(io::Error::other)?;
                let committed: Vec<i64> = rows
                    .query_map([], |r| r.get(0))
                    .and_then(|rows| rows.collect())
                    .map_err(io::Error::other)?;
                *seen.lock().unwrap() = committed;
                Ok(())
            }
        });
        let answers: Vec<_> = (0..40).map(|x| (x, harness.insert(x))).collect();
        for (x, answer) in answers {
            answer.blocking_recv().unwrap().unwrap();
            assert!(
                flushed.lock().unwrap().contains(&x),
                "{x} answered before a flush"
            );
        }
        assert_eq!(harness.finish().len(), 40);
    }
}
