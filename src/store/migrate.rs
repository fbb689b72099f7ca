//! Embedded, numbered migrations tracked in `PRAGMA user_version`. Each runs once, in order,
//! inside one transaction; a database from a newer build is refused rather than guessed at.
//!
//! A committed migration is never edited: a database is migrated by number only, so one that
//! ran the first version of a migration never runs its edit. A change is a new migration
//! (0024 repeats what edits to 0021 and 0022 added, for the databases made in between).

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// The migrations, in order; the schema version is how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_actions.sql"),
    include_str!("migrations/0003_keys_audit.sql"),
    include_str!("migrations/0004_audit_outcome.sql"),
    include_str!("migrations/0005_task_run_failures.sql"),
    include_str!("migrations/0006_task_run_progress.sql"),
    include_str!("migrations/0007_outbox_remote.sql"),
    include_str!("migrations/0008_outbox_host.sql"),
    include_str!("migrations/0009_attempt_unanswered.sql"),
    include_str!("migrations/0010_rejected_bodies.sql"),
    include_str!("migrations/0011_outbox_posted_by.sql"),
    include_str!("migrations/0012_tasks_by_source.sql"),
    include_str!("migrations/0013_reply_lookups.sql"),
    include_str!("migrations/0014_outbox_by_task.sql"),
    include_str!("migrations/0015_task_replies_by_task.sql"),
    include_str!("migrations/0016_audit_user.sql"),
    include_str!("migrations/0017_audit_chat.sql"),
    include_str!("migrations/0018_orphaned_actions.sql"),
    include_str!("migrations/0019_meta.sql"),
    include_str!("migrations/0020_secret_placeholder.sql"),
    include_str!("migrations/0021_outbox_due_hosts.sql"),
    include_str!("migrations/0022_jira_issue_ids.sql"),
    include_str!("migrations/0023_gitlab_project_ids.sql"),
    include_str!("migrations/0024_edited_migrations_again.sql"),
    include_str!("migrations/0025_api_keys_changes.sql"),
    include_str!("migrations/0026_events_by_thread.sql"),
    include_str!("migrations/0027_echo_lookups.sql"),
    include_str!("migrations/0028_command_schedules.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to date. Running it again on an up-to-date database does nothing.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    // An up-to-date database takes no write lock: a `stdio` front end starts beside a busy
    // `serve` without waiting for its writer.
    if check_version(conn, path)? == SCHEMA_VERSION {
        return Ok(());
    }
    // Another process (`serve` and `stdio` started together after an upgrade) may be
    // migrating the same file: the write lock comes first, and the version is read again
    // under it, so the one that waited finds the work done instead of doing it twice.
    // The one that waits waits as long as a migration can take (a new index over a large
    // table), not the few seconds a normal write waits for the lock.
    conn.busy_timeout(MIGRATION_WAIT)?;
    let migrated = run_pending(conn, path);
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    migrated
}

/// How long a process waits for another one's migration of the same file.
const MIGRATION_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Runs the migrations the file lacks, under the write lock.
fn run_pending(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = check_version(&tx, path)?;
    if found == 0 && holds_our_tables(&tx)? {
        return Err(StoreError::SchemaVersionLost {
            path: path.display().to_string(),
            known: SCHEMA_VERSION,
        });
    }
    // Said when an older database is brought up to date, before and after: a new index over
    // a large table makes that start take seconds or minutes, which would otherwise look like
    // a hang. (A new file made here is no news.)
    let upgrade = found > 0 && found < SCHEMA_VERSION;
    if upgrade {
        tracing::info!(
            from = found,
            to = SCHEMA_VERSION,
            "bringing the database schema up to date; this may take a while on a large database"
        );
    }
    let started = std::time::Instant::now();
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)
            .map_err(|e| failed(path, index + 1, e))?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    if upgrade {
        tracing::info!(
            from = found,
            to = SCHEMA_VERSION,
            took_ms = started.elapsed().as_millis() as u64,
            "database schema brought up to date"
        );
    }
    Ok(())
}

/// The schema version found, refused when a newer build wrote it.
fn check_version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.display().to_string(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// Whether the first migration's tables are there: with no version, the file was restored
/// from a `.dump`, which keeps tables but not `user_version`.
fn holds_our_tables(conn: &Connection) -> Result<bool, StoreError> {
    let tables: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'webhooks'",
        [],
        |r| r.get(0),
    )?;
    Ok(tables > 0)
}

/// A migration's failure by its number (its file's, `0004_…`) and SQLite's reason;
/// rusqlite's own message would quote the whole migration's SQL.
fn failed(path: &Path, number: usize, e: rusqlite::Error) -> StoreError {
    let reason = match e {
        rusqlite::Error::SqlInputError { msg, .. } => msg,
        rusqlite::Error::SqliteFailure(err, Some(msg)) => format!("{msg} ({err})"),
        other => other.to_string(),
    };
    StoreError::MigrationFailed {
        path: path.display().to_string(),
        migration: format!("{number:04}"),
        reason,
    }
}

/// Runs the first `version` migrations on a new database: for tests of what a later one does to
/// a database an older build left.
#[cfg(test)]
pub(crate) fn migrate_to(conn: &Connection, version: usize) {
    for (index, sql) in MIGRATIONS.iter().enumerate().take(version) {
        conn.execute_batch(sql).unwrap();
        conn.pragma_update(None, "user_version", index as i64 + 1)
            .unwrap();
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    #[test]
    fn a_database_made_before_0021_and_0022_were_edited_gets_what_the_edits_added() {
        // Arrange: the database as a build with the first versions of 0021 and 0022 left it
        // (no action list indexes; a Jira task keyed by its issue's id without it as issue_id).
        let mut conn = Connection::open_in_memory().unwrap();
        super::migrate_to(&conn, 23);
        conn.execute_batch(
            "DROP INDEX outbox_by_status; DROP INDEX outbox_by_webhook;
             INSERT INTO tasks (id, webhook_id, agent, prompt, status, source_kind, source_key,
                                source, created_at, updated_at)
             VALUES ('tsk_1', 'w', 'a', 'p', 'waiting_reply', 'jira.issue', '10042',
                     '{\"detail\": {}}', 0, 0);",
        )
        .unwrap();

        // Act: migrated; then 0024 once more, as on a database that had the edits (where it
        // must do nothing, and fail on nothing).
        super::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        conn.execute_batch(super::MIGRATIONS[23]).unwrap();

        // Assert
        let indexes: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index' \
                 AND name IN ('outbox_by_status', 'outbox_by_webhook')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 2);
        let issue_id: String = conn
            .query_row(
                "SELECT json_extract(source, '$.detail.issue_id') FROM tasks",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(issue_id, "10042");
    }

    /// A log sink for one test: what it was given, as text.
    #[derive(Clone, Default)]
    struct Logged(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Logged {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_upgrade_says_it_has_begun_before_the_work_not_only_when_done() {
        // Arrange
        let mut conn = Connection::open_in_memory().unwrap();
        super::migrate_to(&conn, 20);
        let logged = Logged::default();
        let sink = logged.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();

        // Act
        tracing::subscriber::with_default(subscriber, || {
            // Another test's migration, with no subscriber, may have had the log lines'
            // interest cached as "never" while this one was being set up.
            tracing::callsite::rebuild_interest_cache();
            super::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        });

        // Assert
        let text = String::from_utf8(logged.0.lock().unwrap().clone()).unwrap();
        let begun = text.find("this may take a while").expect(&text);
        let done = text.find("brought up to date").expect(&text);
        assert!(begun < done, "{text}");
    }

    #[test]
    fn attempts_from_before_0009_are_unanswered_only_when_their_request_went_out() {
        // Arrange: the database as a build before migration 9 left it, with a question's
        // failed attempts of the last hour.
        let mut conn = Connection::open_in_memory().unwrap();
        super::migrate_to(&conn, 8);
        conn.execute(
            "INSERT INTO outbox (id, action, target, status, next_attempt_at, created_at, \
             updated_at) VALUES ('act_1', 'ask', 'o/r#5', 'dead', 0, 0, 0)",
            [],
        )
        .unwrap();
        let recent = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - 3600)
            * 1000;
        let errors = [
            (1, "GitHub: timed out: operation timed out", true),
            (
                2,
                "GitHub: request failed: connection closed before message completed",
                true,
            ),
            (
                3,
                "GitHub: could not connect: Connection refused (os error 111)",
                false,
            ),
            (4, "no GitHub token configured (GITHUB_TOKEN)", false),
            (5, "gave up: GitHub: timed out: operation timed out", true),
        ];
        for (attempt, error, _) in errors {
            conn.execute(
                "INSERT INTO outbox_attempts (outbox_id, attempt, started_at, latency_ms, \
                 outcome, error) VALUES ('act_1', ?1, ?2, 5, 'retry', ?3)",
                rusqlite::params![attempt, recent, error],
            )
            .unwrap();
        }

        // Act
        super::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();

        // Assert: one that never connected, or never went, posted nothing, so no comment that
        // comes back with its words is taken for it.
        for (attempt, error, unanswered) in errors {
            let marked: bool = conn
                .query_row(
                    "SELECT unanswered FROM outbox_attempts WHERE attempt = ?1",
                    [attempt],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(marked, unanswered, "{error}");
        }
    }
}
