//! SQL for the `audit_log` table: who changed what, when, and how it went.

use rusqlite::{Connection, Row, params, params_from_iter};

use super::StoreError;

/// One entry as stored; `detail` is JSON text with secrets already masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub status: Option<i64>,
    pub detail: Option<String>,
    pub outcome: Option<String>,
    pub user: Option<AuditUserRow>,
    /// The Open WebUI chat and message it was asked from (the caller's word).
    pub chat_id: Option<String>,
    pub message_id: Option<String>,
}

/// The Open WebUI user an entry was made for (see `service::audit::AuditUser`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditUserRow {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    pub verified: bool,
}

/// An entry to store (the id is assigned by the database).
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub status: Option<i64>,
    pub detail: Option<&'a str>,
    pub outcome: &'a str,
    pub user: Option<&'a AuditUserRow>,
    pub chat_id: Option<&'a str>,
    pub message_id: Option<&'a str>,
}

/// Which entries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// Only entries for the Open WebUI user with this id or email address.
    pub user: Option<String>,
    /// Only entries asked from the Open WebUI chat with this id.
    pub chat: Option<String>,
    /// Only entries with a smaller id (the previous page's cursor).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// Stores an entry; returns its id.
pub fn insert(conn: &Connection, entry: &NewAudit<'_>) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit_log (at, actor, action, target, status, detail, outcome, user_id,
                                user_name, user_email, user_role, user_verified, chat_id,
                                message_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        entry.at,
        entry.actor,
        entry.action,
        entry.target,
        entry.status,
        entry.detail,
        entry.outcome,
        entry.user.map(|u| &u.id),
        entry.user.and_then(|u| u.name.as_ref()),
        entry.user.and_then(|u| u.email.as_ref()),
        entry.user.and_then(|u| u.role.as_ref()),
        entry.user.map(|u| u.verified),
        entry.chat_id,
        entry.message_id,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Entries matching `filter`, newest first.
pub fn list(conn: &Connection, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
    let (sql, values) = list_query(filter);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), audit_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The query [`list`] runs for `filter`, and its parameters (apart, so that a test can see
/// that each filter searches an index).
fn list_query(filter: &AuditFilter) -> (String, Vec<rusqlite::types::Value>) {
    const SELECT: &str = "SELECT id, at, actor, action, target, status, detail, outcome, \
                          user_id, user_name, user_email, user_role, user_verified, chat_id, \
                          message_id FROM audit_log";
    let mut clauses = Vec::new();
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(actor) = &filter.actor {
        values.push(actor.clone().into());
        clauses.push(format!("actor = ?{}", values.len()));
    }
    if let Some(chat) = &filter.chat {
        values.push(chat.clone().into());
        clauses.push(format!("chat_id = ?{}", values.len()));
    }
    if let Some(before) = filter.before_id {
        values.push(before.into());
        clauses.push(format!("id < ?{}", values.len()));
    }
    let select = |clauses: &[String]| {
        if clauses.is_empty() {
            SELECT.to_string()
        } else {
            format!("{SELECT} WHERE {}", clauses.join(" AND "))
        }
    };
    let mut sql = match &filter.user {
        None => select(&clauses),
        // The id or the email, each by its own index in id order, merged: with an `OR`
        // SQLite would read every entry of the user and sort them, on every page.
        Some(user) => {
            values.push(user.clone().into());
            let n = values.len();
            let side = |column: &str| {
                let mut clauses = clauses.clone();
                clauses.push(format!("{column} = ?{n}"));
                select(&clauses)
            };
            format!("{} UNION {}", side("user_id"), side("user_email"))
        }
    };
    values.push(i64::from(filter.limit).into());
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", values.len()));
    (sql, values)
}

fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        status: r.get(5)?,
        detail: r.get(6)?,
        outcome: r.get(7)?,
        user: match r.get::<_, Option<String>>(8)? {
            Some(id) => Some(AuditUserRow {
                id,
                name: r.get(9)?,
                email: r.get(10)?,
                role: r.get(11)?,
                verified: r.get::<_, Option<bool>>(12)?.unwrap_or(false),
            }),
            None => None,
        },
        chat_id: r.get(13)?,
        message_id: r.get(14)?,
    })
}

/// Entries the audit retention deletes per write: each keeps up to 64 KiB of arguments, so a
/// write frees a few MiB at most, as the event sweep's do, and the receive path's writes wait
/// little behind it.
pub const EXPIRE_PER_WRITE: u32 = 256;

/// What one write of the audit retention let go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditExpired {
    pub entries: usize,
    /// No entry older than the cutoff is left at the front of the log.
    pub finished: bool,
    /// The last entry looked at: the next write goes on after it, past the ones kept (stamped
    /// in the future by a clock that was ahead), which would otherwise be read again forever.
    pub looked_to: i64,
}

/// Deletes the oldest entries made before `cutoff` (unix ms), from the first `budget`: the
/// log is written in time order, so they are the ones at its front, read by row number up to
/// a run of newer ones. Never a scan of the whole log, however long it is. The newest entry
/// stays, however old: SQLite would give its id to the next entry again, and an id quoted
/// (or a `cursor` held) would then name another change.
pub fn expire(
    conn: &Connection,
    cutoff: i64,
    now: i64,
    budget: u32,
    after: i64,
) -> Result<AuditExpired, StoreError> {
    let front: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT id, at FROM audit_log WHERE id > ?2 AND id < (SELECT MAX(id) FROM audit_log) \
             ORDER BY id LIMIT ?1",
        )?
        .query_map(params![budget, after], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    // The old ones up to a run of young ones (see `retention::YOUNG_RUN`): one stamped in
    // the future by a clock step is passed over, not taken for the young end.
    let mut old = Vec::new();
    let mut young = 0;
    let mut ended = false;
    for (id, at) in &front {
        if *at < cutoff {
            young = 0;
            old.push(*id);
        } else {
            // One stamped later than now (a clock that was ahead) counts towards no run.
            young += usize::from(*at <= now);
            if young >= super::retention::YOUNG_RUN {
                ended = true;
                break;
            }
        }
    }
    if !old.is_empty() {
        let ids = serde_json::to_string(&old).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        conn.prepare_cached("DELETE FROM audit_log WHERE id IN (SELECT value FROM json_each(?1))")?
            .execute(params![ids])?;
    }
    Ok(AuditExpired {
        entries: old.len(),
        finished: ended || front.len() < budget as usize,
        looked_to: front.last().map_or(after, |(id, _)| *id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrated() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        conn
    }

    fn add(conn: &Connection, at: i64) -> i64 {
        insert(
            conn,
            &NewAudit {
                at,
                actor: "admin",
                action: "POST /api/messages",
                target: None,
                status: Some(202),
                detail: Some(r#"{"text":"lunch"}"#),
                outcome: "ok",
                user: None,
                chat_id: None,
                message_id: None,
            },
        )
        .unwrap()
    }

    fn ids(conn: &Connection) -> Vec<i64> {
        conn.prepare("SELECT id FROM audit_log ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn each_filter_searches_an_index_not_the_whole_log() {
        let conn = migrated();
        let plan = |filter: &AuditFilter| {
            let (sql, values) = list_query(filter);
            conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params_from_iter(values), |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
                .join("; ")
        };
        let filter =
            |actor: Option<&str>, user: Option<&str>, chat: Option<&str>, before_id| AuditFilter {
                actor: actor.map(str::to_string),
                user: user.map(str::to_string),
                chat: chat.map(str::to_string),
                before_id,
                limit: 10,
            };
        let by_user: &[&str] = &["audit_log_by_user_id", "audit_log_by_user_email"];
        // (filter, the indexes it must search)
        let cases = [
            (
                filter(Some("ops"), None, None, None),
                &["audit_log_by_actor"][..],
            ),
            (
                filter(None, None, Some("c-1"), None),
                &["audit_log_by_chat_id"],
            ),
            (
                filter(None, None, Some("c-1"), Some(9)),
                &["audit_log_by_chat_id"],
            ),
            (filter(None, Some("u-1"), None, None), by_user),
            (filter(None, Some("u-1"), None, Some(9)), by_user),
        ];
        for (filter, indexes) in cases {
            let plan = plan(&filter);
            for index in indexes {
                assert!(
                    plan.contains(&format!("SEARCH audit_log USING INDEX {index}")),
                    "{filter:?}: {plan}"
                );
            }
            // Walked in id order, newest first, up to the page's limit: not every matching
            // entry read and sorted (a busy user's every page would read them all).
            assert!(!plan.contains("TEMP B-TREE"), "{filter:?}: {plan}");
        }
    }

    #[test]
    fn entries_before_the_cutoff_go_from_the_front_a_budget_at_a_time() {
        // (times of the entries, budget, what one write leaves, entries deleted, finished)
        type Case = (&'static [i64], u32, &'static [usize], usize, bool);
        let cases: [Case; 9] = [
            (&[], 10, &[], 0, true),
            (&[1, 2, 9], 10, &[2], 2, true),
            (&[1, 2, 3, 4], 2, &[2, 3], 2, false),
            (&[1, 2, 3], 2, &[2], 2, false),
            // The newest stays, however old: its id would be given again.
            (&[1, 2, 3], 10, &[2], 2, true),
            (&[1], 10, &[0], 0, true),
            // The clock stepped back: an entry stamped in the future is passed over.
            (&[9, 1, 2], 10, &[0, 2], 1, true),
            (&[1, 9, 2], 10, &[1, 2], 1, true),
            (&[1, 9, 1, 1], 10, &[1, 3], 2, true),
        ];
        for (times, budget, kept, deleted, finished) in cases {
            let conn = migrated();
            let made: Vec<i64> = times.iter().map(|at| add(&conn, *at)).collect();
            let expired = expire(&conn, 5, 10, budget, 0).unwrap();
            let kept: Vec<i64> = kept.iter().map(|i| made[*i]).collect();
            assert_eq!(ids(&conn), kept, "{times:?} budget {budget}");
            assert_eq!(
                (expired.entries, expired.finished),
                (deleted, finished),
                "{times:?} budget {budget}"
            );
        }
        // A run of newer entries is the young end: what is behind it is not read; entries
        // stamped later than now (a clock that was ahead), however many, are not that end.
        let run = super::super::retention::YOUNG_RUN;
        for (young, at, deleted) in [(run, 9, 0), (run * 2, 99, 1)] {
            let conn = migrated();
            for at in std::iter::repeat_n(at, young).chain([1, 1]) {
                add(&conn, at);
            }
            let expired = expire(&conn, 5, 10, 1000, 0).unwrap();
            assert_eq!(
                (expired.entries, expired.finished),
                (deleted, true),
                "{young} at {at}"
            );
        }
    }

    #[test]
    fn a_sweep_goes_on_past_a_front_of_entries_stamped_in_the_future() {
        // A clock that ran ahead stamped more entries than one write reads, before old ones.
        let conn = migrated();
        let ahead: Vec<i64> = (0..5).map(|_| add(&conn, 99)).collect();
        (0..3).for_each(|_| {
            add(&conn, 1);
        });
        add(&conn, 9);

        let mut after = 0;
        let mut writes = 0;
        loop {
            let expired = expire(&conn, 5, 10, 2, after).unwrap();
            after = expired.looked_to;
            writes += 1;
            assert!(writes < 10, "the sweep never ends");
            if expired.finished {
                break;
            }
        }

        let mut kept = ahead;
        kept.push(ids(&conn).last().copied().expect("the newest"));
        assert_eq!(ids(&conn), kept);
    }
}
