//! SQL for the `api_keys` table. Only a hash of each key is kept.

use rusqlite::{Connection, params};

use super::StoreError;

/// Hashes of the keys that are not revoked.
pub fn active_hashes(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT hash FROM api_keys WHERE revoked_at IS NULL")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn insert(
    conn: &Connection,
    id: &str,
    name: &str,
    hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO api_keys (id, name, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id, name, hash, now])
    .map_err(super::conflict_on_unique)?;
    Ok(())
}
