//! The syncer thread: makes the writer's commits durable and only then answers their callers.
//!
//! The writer commits with `synchronous=NORMAL`, so a commit appends its frames to the WAL file
//! without waiting for the disk. This thread then calls `fdatasync` on that file once for every
//! commit that arrived since its last call, and answers their callers. The frames a commit
//! wrote were in the file before the sync began, so they are on disk when it returns: the same
//! guarantee `synchronous=FULL` gives, while the writer already runs the next batch.
//!
//! The WAL file is opened here read-only and never the database file: closing any descriptor
//! of a file drops the process's POSIX locks on it, and SQLite locks the database file (and
//! `-shm`), not the WAL.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::mpsc::Receiver;
use std::time::Instant;

use rusqlite::Connection;

use super::WriteJob;
use super::writer::{Failed, WriterStats};

/// A committed batch whose callers wait for it to be durable.
pub(super) struct Committed {
    pub jobs: Vec<WriteJob>,
    /// The commit's own outcome; a failed commit is answered without waiting for a sync.
    pub result: Result<(), Failed>,
}

/// `in_flight` counts commits handed over and not yet synced; the writer commits when it is 0.
/// `flush` makes every commit so far durable. Once it fails, the store is failed (see
/// `WriterStats::failure`) and every later commit is answered with that, unsynced.
pub(super) fn run<F>(
    mut flush: F,
    rx: Receiver<Committed>,
    in_flight: &AtomicUsize,
    stats: &WriterStats,
) where
    F: FnMut() -> io::Result<()>,
{
    while let Ok(first) = rx.recv() {
        let mut ready = vec![first];
        ready.extend(rx.try_iter());
        let synced = if let Some(refused) = stats.failure.get() {
            Err(Failed::Unavailable(refused.clone()))
        } else if ready.iter().any(|c| c.result.is_ok()) {
            let started = Instant::now();
            let flushed = flush();
            stats.syncs.fetch_add(1, Relaxed);
            let took = started.elapsed();
            stats.sync_nanos.fetch_add(took.as_nanos() as u64, Relaxed);
            stats.sync_durations.observe(took);
            flushed.map_err(|e| {
                let reason = format!("flushing the database to disk failed: {e}");
                stats.fail(reason.clone());
                match e.get_ref().and_then(|e| e.downcast_ref::<WalGone>()) {
                    Some(WalGone {
                        replaced: false, ..
                    }) => {
                        stats.wal_gone.store(true, SeqCst);
                        // Unlike the writes refused after it, these went into the removed
                        // file, which that clean stop folds in: sent again, they would be
                        // there twice.
                        Failed::Unavailable(format!(
                            "{reason}; {}: do not send it again",
                            super::KEPT_AT_STOP
                        ))
                    }
                    _ => Failed::Unavailable(reason),
                }
            })
        } else {
            Ok(())
        };
        in_flight.fetch_sub(ready.len(), SeqCst);
        for committed in ready {
            let result = committed.result.and(synced.clone());
            for job in committed.jobs {
                job.answer(result.clone());
            }
        }
    }
}

/// The database's `-wal` file, opened once and checked to still be the same file at each sync,
/// as the database file itself is.
pub(super) struct WalFile {
    path: PathBuf,
    /// The open file and its (device, inode), to notice a replaced file.
    open: Option<(File, (u64, u64))>,
    /// The database file's path and its (device, inode) when the store opened it. Only
    /// `stat`ed, never opened here (see the module's note on locks); SQLite's connections hold
    /// it open, so its inode cannot be given to a new file at the path meanwhile.
    db: PathBuf,
    db_id: Option<(u64, u64)>,
}

impl WalFile {
    /// The WAL of the database `conn` has open. SQLite names it after the database's full
    /// path with every symlink resolved, which is not always the path the store was given.
    pub fn of(conn: &Connection) -> Option<WalFile> {
        let mut wal = conn
            .path()
            .filter(|p| !p.is_empty())
            .map(|p| WalFile::new(Path::new(p)))?;
        // Now, with the database open: a file replaced before the first write is told too.
        wal.db_id = std::fs::metadata(&wal.db).ok().map(|m| (m.dev(), m.ino()));
        Some(wal)
    }

    fn new(db_path: &Path) -> WalFile {
        let mut name = db_path.as_os_str().to_owned();
        name.push("-wal");
        WalFile {
            path: PathBuf::from(name),
            open: None,
            db: db_path.to_owned(),
            db_id: None,
        }
    }

    /// `fdatasync`s the WAL, opening it on first use. The writer's connection stays open for
    /// the store's life, so SQLite never replaces its WAL meanwhile: a different file at the
    /// path means the WAL was removed under us (and a new one made, by the next connection to
    /// open the database). The commits went to the old file, which no path reaches any more,
    /// so that is a failure to flush, never a reason to sync the new, empty file instead.
    ///
    /// A database file removed or replaced under us is a failure too: commits would go on
    /// into a file no path reaches, and the next start would make a new, empty database at
    /// the path, every webhook and acknowledged delivery gone without a word.
    pub fn sync(&mut self) -> io::Result<()> {
        let db = std::fs::metadata(&self.db).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "the database file {} cannot be read: {e}",
                    self.db.display()
                ),
            )
        })?;
        match self.db_id {
            None => self.db_id = Some((db.dev(), db.ino())),
            Some(id) if id != (db.dev(), db.ino()) => {
                return Err(io::Error::other(
                    "the database file was removed or replaced while it was open",
                ));
            }
            Some(_) => {}
        }
        let on_disk = match std::fs::metadata(&self.path) {
            Ok(meta) => Some((meta.dev(), meta.ino())),
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.open.is_some() => None,
            Err(e) => return Err(e),
        };
        match &self.open {
            None => {
                let file = File::open(&self.path)?;
                let meta = file.metadata()?;
                self.open = Some((file, (meta.dev(), meta.ino())));
            }
            Some((_, id)) if Some(*id) != on_disk => {
                return Err(io::Error::other(WalGone {
                    path: self.path.clone(),
                    replaced: on_disk.is_some(),
                }));
            }
            Some(_) => {}
        }
        let (file, _) = self.open.as_ref().expect("opened above");
        file.sync_data()
    }
}

/// The WAL file was removed or replaced at its path while the database was open. A removed
/// one loses nothing yet: the writer's connection still has the file, and a clean stop folds
/// it into the database file ([`super::writer::WriterStats::wal_gone`]); a kill would lose
/// it. A replaced one is not folded: the new file may be another connection's, whose frames
/// the shared index then describes.
#[derive(Debug)]
pub(super) struct WalGone {
    path: PathBuf,
    replaced: bool,
}

impl WalGone {
    /// The path of the WAL file of the database `conn` has open.
    pub fn path_of(conn: &Connection) -> Option<PathBuf> {
        WalFile::of(conn).map(|wal| wal.path)
    }
}

impl std::fmt::Display for WalGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.display();
        if self.replaced {
            write!(
                f,
                "the WAL file {path} was replaced while the database was open; what it held \
                 can be copied back from /proc/<pid>/fd while the server still runs"
            )
        } else {
            write!(
                f,
                "the WAL file {path} was removed while the database was open; stop the server \
                 cleanly (SIGTERM, not a kill), which folds what it held into the database \
                 file, then start it again"
            )
        }
    }
}

impl std::error::Error for WalGone {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_is_the_database_path_with_a_suffix() {
        let wal = WalFile::new(Path::new("/data/webhook-mcp.db"));
        assert_eq!(wal.path, Path::new("/data/webhook-mcp.db-wal"));
    }

    #[test]
    fn a_missing_wal_is_an_error_not_a_silent_success() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WalFile::new(&dir.path().join("none.db"));
        assert!(wal.sync().is_err());
    }

    #[test]
    fn a_wal_replaced_after_the_first_sync_is_an_error_not_synced_in_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let mut wal = WalFile::new(&db);
        std::fs::write(&db, b"db").unwrap();
        std::fs::write(&wal.path, b"one").unwrap();
        wal.sync().unwrap();
        std::fs::remove_file(&wal.path).unwrap();
        std::fs::write(&wal.path, b"two").unwrap();
        let refused = wal.sync().unwrap_err();
        assert!(refused.to_string().contains("was replaced"), "{refused}");
        assert!(matches!(
            refused.get_ref().and_then(|e| e.downcast_ref::<WalGone>()),
            Some(WalGone { replaced: true, .. })
        ));
        // Removed, with no file in its place: told apart, as only that one is folded at stop.
        std::fs::remove_file(&wal.path).unwrap();
        let removed = wal.sync().unwrap_err();
        assert!(matches!(
            removed.get_ref().and_then(|e| e.downcast_ref::<WalGone>()),
            Some(WalGone {
                replaced: false,
                ..
            })
        ));
    }

    #[test]
    fn a_database_file_removed_or_replaced_after_the_first_sync_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let mut wal = WalFile::new(&db);
        std::fs::write(&db, b"db").unwrap();
        // As SQLite's connections hold it: its inode is not reused while open.
        let _held = File::open(&db).unwrap();
        std::fs::write(&wal.path, b"wal").unwrap();
        wal.sync().unwrap();

        std::fs::remove_file(&db).unwrap();
        let removed = wal.sync().unwrap_err();
        std::fs::write(&db, b"another").unwrap();
        let replaced = wal.sync().unwrap_err();

        assert!(removed.to_string().contains("x.db"), "{removed}");
        assert!(
            replaced.to_string().contains("removed or replaced"),
            "{replaced}"
        );
    }
}
