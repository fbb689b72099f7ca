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
    include_str!("migrations/0008_linear_issue_keys.sql"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_rows_are_rekeyed_by_issue_id() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..7] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 7).unwrap();
        let source = r#"{"kind":"linear.issue","key":"ENG-7","detail":{"issue_id":"u7","identifier":"ENG-7"}}"#;
        conn.execute(
            "INSERT INTO tasks (id, agent, prompt, status, source_kind, source_key, source, \
             created_at, updated_at) VALUES ('t1', 'a', 'p', 'waiting_reply', 'linear.issue', \
             'ENG-7', ?1, 0, 0)",
            [source],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO events (id, webhook_id, provider, verified, verification, status, \
             source_kind, source_key, source, headers, body, received_at) VALUES ('e1', 'lin', \
             'linear', 1, 'current_secret', 'matched', 'linear.issue', 'ENG-7', ?1, '{}', x'', 0)",
            [source],
        )
        .unwrap();

        migrate(&mut conn, Path::new(":memory:")).unwrap();

        for table in ["tasks", "events"] {
            let (key, source): (String, String) = conn
                .query_row(
                    &format!("SELECT source_key, source FROM {table}"),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!(key, "u7", "{table}");
            let source: serde_json::Value = serde_json::from_str(&source).unwrap();
            assert_eq!(source["key"], "u7", "{table}");
            assert_eq!(source["detail"]["identifier"], "ENG-7", "{table}");
        }
    }
}
