//! Embedded, numbered migrations tracked in `PRAGMA user_version`. Each runs once, in order,
//! inside one transaction; a database from a newer build is refused rather than guessed at.

use std::path::Path;

use rusqlite::Connection;

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
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to date. Running it again on an up-to-date database does nothing.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.display().to_string(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    let tx = conn.transaction()?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}
