//! SQL for the `api_keys` table. Only a hash of each key is kept.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;

/// A key that opens the API: what the authentication check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveKey {
    pub id: String,
    pub name: String,
    pub hash: String,
    /// `admin` or `read`.
    pub scope: String,
}

/// A key as listed to admins: never its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_by: Option<String>,
}

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub hash: &'a str,
    pub scope: &'a str,
    pub created_at: i64,
    pub created_by: Option<&'a str>,
}

/// What revoking a key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Revoked,
    /// It was revoked before; nothing changed.
    AlreadyRevoked,
    NotFound,
    /// Refused: it is the last active admin key.
    LastAdmin,
}

/// Hashes of the keys that are not revoked.
pub fn active_hashes(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT hash FROM api_keys WHERE revoked_at IS NULL")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The keys that are not revoked, with their names and scopes.
pub fn active(conn: &Connection) -> Result<Vec<ActiveKey>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, hash, scope FROM api_keys WHERE revoked_at IS NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ActiveKey {
            id: r.get(0)?,
            name: r.get(1)?,
            hash: r.get(2)?,
            scope: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A key revoked and still kept (for 30 days after its revocation): told apart from a key that
/// never was one when it is presented again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedKey {
    pub hash: String,
    pub name: String,
    pub revoked_at: i64,
}

/// The revoked keys still kept.
pub fn revoked(conn: &Connection) -> Result<Vec<RevokedKey>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, name, revoked_at FROM api_keys WHERE revoked_at IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(RevokedKey {
            hash: r.get(0)?,
            name: r.get(1)?,
            revoked_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A cheap mark of the table: how many times a key was created, revoked or changed, kept by
/// triggers in the transaction of the change (migration 0025), so every create or revoke, by
/// any process on the database, moves it. One row read by its primary key, however many keys
/// were ever revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub changes: i64,
}

pub fn marker(conn: &Connection) -> Result<Marker, StoreError> {
    Ok(conn
        .prepare_cached(MARKER_SQL)?
        .query_row([], |r| Ok(Marker { changes: r.get(0)? }))?)
}

const MARKER_SQL: &str = "SELECT changes FROM api_keys_changes WHERE id = 1";

/// How many revoked keys one write deletes at most.
pub const DELETE_PER_WRITE: i64 = 500;

/// Whether a key revoked before `cutoff` (unix ms) is still stored.
pub fn any_revoked_before(conn: &Connection, cutoff: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM api_keys
                            WHERE revoked_at IS NOT NULL AND revoked_at < ?1)",
        )?
        .query_row(params![cutoff], |r| r.get(0))?)
}

/// Deletes up to `limit` keys revoked before `cutoff` (unix ms), those revoked first first;
/// how many went. No key that works is touched.
pub fn delete_revoked_before(
    conn: &Connection,
    cutoff: i64,
    limit: i64,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM api_keys WHERE rowid IN (
                 SELECT rowid FROM api_keys
                 WHERE revoked_at IS NOT NULL AND revoked_at < ?1
                 ORDER BY revoked_at LIMIT ?2)",
        )?
        .execute(params![cutoff, limit])?)
}

/// Every key, revoked ones too (until they are deleted), oldest first.
pub fn list(conn: &Connection) -> Result<Vec<KeyRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, scope, created_at, last_used_at, revoked_at, created_by
         FROM api_keys ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map([], key_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<KeyRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, name, scope, created_at, last_used_at, revoked_at, created_by
             FROM api_keys WHERE id = ?1",
        )?
        .query_row(params![id], key_row)
        .optional()?)
}

fn key_row(r: &Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        scope: r.get(2)?,
        created_at: r.get(3)?,
        last_used_at: r.get(4)?,
        revoked_at: r.get(5)?,
        created_by: r.get(6)?,
    })
}

/// Stores an admin key (the one generated on first start).
pub fn insert(
    conn: &Connection,
    id: &str,
    name: &str,
    hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    insert_key(
        conn,
        &NewKey {
            id,
            name,
            hash,
            scope: "admin",
            created_at: now,
            created_by: None,
        },
    )
}

/// Stores a key; `Conflict` when its id or hash exists already.
pub fn insert_key(conn: &Connection, key: &NewKey<'_>) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO api_keys (id, name, hash, scope, created_at, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        key.id,
        key.name,
        key.hash,
        key.scope,
        key.created_at,
        key.created_by
    ])
    .map_err(super::conflict_on_unique)?;
    Ok(())
}

/// Deletes the key with this hash: one generated on a start that did not go on to show it.
pub fn delete_by_hash(conn: &Connection, hash: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM api_keys WHERE hash = ?1")?
        .execute([hash])?;
    Ok(())
}

/// The id and name of every key that is not revoked.
pub fn active_names(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, name FROM api_keys WHERE revoked_at IS NULL ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes key `id` unless it is the last active admin key and `keep_last_admin` is set.
/// Checks and changes in one transaction, so two revocations cannot both pass the check.
pub fn revoke(
    conn: &Connection,
    id: &str,
    now: i64,
    keep_last_admin: bool,
) -> Result<Revoked, StoreError> {
    let Some(key) = get(conn, id)? else {
        return Ok(Revoked::NotFound);
    };
    if key.revoked_at.is_some() {
        return Ok(Revoked::AlreadyRevoked);
    }
    if keep_last_admin && key.scope == "admin" {
        let other_admins: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM api_keys
                 WHERE scope = 'admin' AND revoked_at IS NULL AND id <> ?1",
            )?
            .query_row(params![id], |r| r.get(0))?;
        if other_admins == 0 {
            return Ok(Revoked::LastAdmin);
        }
    }
    conn.prepare_cached("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(Revoked::Revoked)
}

/// Records that key `id` was used at `now`.
pub fn touch(conn: &Connection, id: &str, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE api_keys SET last_used_at = ?2
         WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
    )?
    .execute(params![id, now])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite plans for `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let steps = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
        steps.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn the_keys_looked_at_every_second_and_at_every_reload_are_read_without_the_revoked_ones() {
        // Arrange: the schema, with one active key among many revoked (one per CI job).
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::migrate_to(&conn, crate::store::SCHEMA_VERSION as usize);
        for n in 0..200 {
            insert(&conn, &format!("key_{n:03}"), "ci", &format!("h{n}"), n).unwrap();
            if n > 0 {
                revoke(&conn, &format!("key_{n:03}"), 1_000 + n, false).unwrap();
            }
        }
        conn.execute_batch("ANALYZE").unwrap();

        // Act
        let marker_plan = plan(&conn, MARKER_SQL);
        let active_plan = plan(
            &conn,
            "SELECT id, name, hash, scope FROM api_keys WHERE revoked_at IS NULL ORDER BY id",
        );

        // Assert: no step reads the whole keys table.
        assert!(!marker_plan.contains("api_keys "), "{marker_plan}");
        assert!(!marker_plan.contains("SCAN"), "{marker_plan}");
        assert!(active_plan.contains("api_keys_active"), "{active_plan}");
        assert_eq!(active(&conn).unwrap().len(), 1);
    }

    #[test]
    fn the_mark_moves_at_every_create_and_revocation_and_not_when_a_key_is_used_or_deleted_revoked()
    {
        // Arrange
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::migrate_to(&conn, crate::store::SCHEMA_VERSION as usize);
        let mark = || marker(&conn).unwrap().changes;
        let start = mark();

        // Act / Assert
        insert(&conn, "key_a", "a", "ha", 1).unwrap();
        insert(&conn, "key_b", "b", "hb", 1).unwrap();
        assert_eq!(mark(), start + 2, "created");
        touch(&conn, "key_a", 5).unwrap();
        assert_eq!(mark(), start + 2, "used");
        assert_eq!(revoke(&conn, "key_a", 10, false).unwrap(), Revoked::Revoked);
        assert_eq!(mark(), start + 3, "revoked");
        assert!(any_revoked_before(&conn, 11).unwrap());
        assert!(!any_revoked_before(&conn, 10).unwrap());
        assert_eq!(
            delete_revoked_before(&conn, 11, DELETE_PER_WRITE).unwrap(),
            1
        );
        assert_eq!(mark(), start + 3, "a revoked key deleted");
        assert!(get(&conn, "key_a").unwrap().is_none());
        assert!(
            get(&conn, "key_b").unwrap().is_some(),
            "an active key stays"
        );
    }
}
