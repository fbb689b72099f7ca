//! The writer thread: runs each write in its own savepoint of one open transaction, commits
//! the batch when the syncer is free, and hands the batch's callers to the syncer, which
//! answers them once the commit is on disk.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::syncer::{self, Committed};
use tokio::sync::oneshot;

use super::{StoreError, WriteJob};

/// How many writes one transaction takes at most; bounds the latency a batch adds.
const MAX_BATCH: usize = 512;

/// Counters the writer and syncer bump once per batch or sync.
#[derive(Default)]
pub(super) struct WriterStats {
    pub commits: AtomicU64,
    pub writes: AtomicU64,
    pub work_nanos: AtomicU64,
    pub commit_nanos: AtomicU64,
    pub syncs: AtomicU64,
    pub sync_nanos: AtomicU64,
}

impl WriterStats {
    pub fn snapshot(&self) -> WriterSnapshot {
        let secs = |n: &AtomicU64| n.load(Relaxed) as f64 / 1e9;
        WriterSnapshot {
            commits: self.commits.load(Relaxed),
            writes: self.writes.load(Relaxed),
            work_seconds: secs(&self.work_nanos),
            commit_seconds: secs(&self.commit_nanos),
            syncs: self.syncs.load(Relaxed),
            sync_seconds: secs(&self.sync_nanos),
        }
    }
}

/// A reading of the writer's counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriterSnapshot {
    /// Transactions committed (one per batch).
    pub commits: u64,
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
}

/// How long the writer waits for another write while a sync is running, before looking again
/// whether the syncer is free to take its commit.
const POLL: Duration = Duration::from_micros(50);

/// The writer loop. It keeps one transaction open and runs each write as it arrives, in its
/// own savepoint; it commits when the syncer is free (or the batch is full) and hands the
/// commit over. A commit made while a sync runs would wait for the next sync anyway, so
/// holding the transaction open until then costs no latency and makes batches larger: every
/// write that arrives during an fsync joins the next commit, and its SQL runs meanwhile.
pub(super) fn run(conn: Connection, db_path: &Path, rx: Receiver<WriteJob>, stats: &WriterStats) {
    let (to_syncer, from_writer) = mpsc::channel::<Committed>();
    let in_flight = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        scope.spawn(|| syncer::run(db_path, from_writer, &in_flight, stats));
        let mut batch: Option<Batch> = None;
        loop {
            let next = match &batch {
                None => match rx.recv() {
                    Ok(job) => Some(job),
                    Err(_) => break,
                },
                Some(b) if b.len() >= MAX_BATCH => None,
                Some(_) => match rx.try_recv() {
                    Ok(job) => Some(job),
                    Err(TryRecvError::Disconnected) => None,
                    Err(TryRecvError::Empty) if in_flight.load(SeqCst) == 0 => None,
                    Err(TryRecvError::Empty) => match rx.recv_timeout(POLL) {
                        Ok(job) => Some(job),
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => None,
                    },
                },
            };
            match next {
                Some(job) => {
                    let open = match batch.take() {
                        Some(open) => Ok(open),
                        None => Batch::begin(&conn),
                    };
                    match open {
                        Ok(open) => batch = open.run(&conn, job),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot begin a store transaction");
                            job.answer(Err(e.to_string()));
                        }
                    }
                }
                None => {
                    let Some(open) = batch.take() else { continue };
                    let committed = open.commit(&conn, stats);
                    in_flight.fetch_add(1, SeqCst);
                    if let Err(mpsc::SendError(lost)) = to_syncer.send(committed) {
                        // The syncer is gone (it panicked): nothing can be made durable.
                        for job in lost.jobs {
                            job.answer(Err("the store's syncer stopped".into()));
                        }
                    }
                }
            }
        }
        drop(to_syncer);
    });
}

/// A write waiting for the writer: it runs (perhaps again, after a rollback), and its caller
/// hears the outcome once the batch's fate is known.
pub(super) trait Job: Send {
    /// Runs the write and says whether it succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Sends the caller the last run's outcome, or the batch's failure.
    fn answer(self: Box<Self>, committed: Result<(), String>);
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
        let outcome = (self.f)(conn);
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, committed: Result<(), String>) {
        let result = match (self.outcome, committed) {
            (None, _) => Err(StoreError::Closed),
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(_)), Err(e)) => Err(StoreError::Corrupt(format!("commit failed: {e}"))),
            (Some(Ok(v)), Ok(())) => Ok(v),
        };
        let _ = self.reply.send(result);
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
}

impl Batch {
    fn begin(conn: &Connection) -> rusqlite::Result<Batch> {
        exec(conn, "BEGIN")?;
        Ok(Batch {
            jobs: Vec::new(),
            guarded: false,
            work: Duration::ZERO,
        })
    }

    fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Adds a write to the batch. `None` means the transaction itself broke: every write in
    /// it has been answered with that error, and the batch is gone.
    fn run(mut self, conn: &Connection, mut job: WriteJob) -> Option<Batch> {
        let started = Instant::now();
        if !self.guarded {
            if job.run(conn) {
                self.jobs.push(job);
                self.work += started.elapsed();
                return Some(self);
            }
            self.jobs.push(job);
            let redone = exec(conn, "ROLLBACK")
                .and_then(|()| exec(conn, "BEGIN"))
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
                    self.abandon(conn, &e);
                    None
                }
            };
        }
        let guarded = run_guarded(conn, job.as_mut());
        self.jobs.push(job);
        self.work += started.elapsed();
        match guarded {
            Ok(()) => Some(self),
            Err(e) => {
                self.abandon(conn, &e);
                None
            }
        }
    }

    fn abandon(self, conn: &Connection, e: &rusqlite::Error) {
        tracing::error!(error = %e, "store transaction broke; its writes are refused");
        if !conn.is_autocommit() {
            let _ = exec(conn, "ROLLBACK");
        }
        for job in self.jobs {
            job.answer(Err(e.to_string()));
        }
    }

    fn commit(self, conn: &Connection, stats: &WriterStats) -> Committed {
        let committing = Instant::now();
        stats.writes.fetch_add(self.jobs.len() as u64, Relaxed);
        stats
            .work_nanos
            .fetch_add(self.work.as_nanos() as u64, Relaxed);
        let result = exec(conn, "COMMIT").map_err(|e| {
            tracing::error!(error = %e, "store batch failed to commit");
            if !conn.is_autocommit() {
                let _ = exec(conn, "ROLLBACK");
            }
            e.to_string()
        });
        stats
            .commit_nanos
            .fetch_add(committing.elapsed().as_nanos() as u64, Relaxed);
        stats.commits.fetch_add(1, Relaxed);
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

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}
