//! SQL for the `webhooks` table: the registry rows the receiver looks up on every request.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{StoreError, conflict_on_unique};

/// One registered webhook as stored, secrets included. Never serialised as is.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRow {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_expires_at: Option<i64>,
    pub enabled: bool,
    /// JSON object of provider options.
    pub options: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The secret is the placeholder made for a sender that issues its own: the sender's
    /// deliveries are refused until its secret is set (rotate-secret).
    pub secret_placeholder: bool,
}

const COLUMNS: &str = "id, name, provider, secret, previous_secret, previous_expires_at, \
                       enabled, options, created_by, created_at, updated_at, secret_placeholder";

fn from_row(r: &Row<'_>) -> rusqlite::Result<WebhookRow> {
    Ok(WebhookRow {
        id: r.get(0)?,
        name: r.get(1)?,
        provider: r.get(2)?,
        secret: r.get(3)?,
        previous_secret: r.get(4)?,
        previous_expires_at: r.get(5)?,
        enabled: r.get(6)?,
        options: r.get(7)?,
        created_by: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        secret_placeholder: r.get(11)?,
    })
}

/// Whether work for a webhook id (an event received, an action queued at some time) still
/// belongs to the webhook stored at that id now.
#[derive(Debug)]
pub enum Standing {
    /// The same webhook: act on the work with it.
    Current(Box<WebhookRow>),
    /// No webhook at that id any more.
    Deleted,
    /// A webhook created after the work, at the same id: another one, perhaps another
    /// provider's with another host and token, that must not act on it.
    Replaced,
}

impl Standing {
    /// `since` is when the event was received or the action queued (unix ms).
    pub fn of(webhook: Option<WebhookRow>, since: i64) -> Self {
        match webhook {
            None => Self::Deleted,
            Some(w) if w.created_at > since => Self::Replaced,
            Some(w) => Self::Current(Box::new(w)),
        }
    }
}

/// What became of the webhook made at `made` (unix ms), which work was planned with, if it is
/// no longer the one stored at `id`: a read of one column, for the receiver's write. Compared
/// with the very row the work was planned with, not with the time work came: another
/// process's cache may hold a webhook deleted and made anew since, whose commands are not the
/// new one's.
pub fn gone(conn: &Connection, id: &str, made: i64) -> Result<Option<Gone>, StoreError> {
    let created: Option<i64> = conn
        .prepare_cached("SELECT created_at FROM webhooks WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(match created {
        None => Some(Gone::Deleted),
        Some(created) if created == made => None,
        Some(_) => Some(Gone::Replaced),
    })
}

/// A webhook that work was planned with, no longer stored at its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// No webhook at its id any more.
    Deleted,
    /// Another webhook made at its id since.
    Replaced,
}

/// Inserts a new webhook; `Conflict` if the id is taken.
pub fn insert(conn: &Connection, w: &WebhookRow) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO webhooks ({COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?
    .execute(params![
        w.id,
        w.name,
        w.provider,
        w.secret,
        w.previous_secret,
        w.previous_expires_at,
        w.enabled,
        w.options,
        w.created_by,
        w.created_at,
        w.updated_at,
        w.secret_placeholder
    ])
    .map_err(conflict_on_unique)?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<WebhookRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// Every webhook with the number of its commands, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<(WebhookRow, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, (SELECT COUNT(*) FROM commands c WHERE c.webhook_id = webhooks.id) \
         FROM webhooks ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([], |r| Ok((from_row(r)?, r.get(12)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A page of webhooks with the number of their commands, oldest first: those of `provider`
/// when one is given (and of those, the ones created for `sender`, their `options.sender`,
/// when one is given), after the (`created_at`, `id`) position `after`, at most `limit`.
pub fn page(
    conn: &Connection,
    provider: Option<&str>,
    sender: Option<&str>,
    after: Option<(i64, &str)>,
    limit: u32,
) -> Result<Vec<(WebhookRow, i64)>, StoreError> {
    let (after_at, after_id) = after.unwrap_or((i64::MIN, ""));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, (SELECT COUNT(*) FROM commands c WHERE c.webhook_id = webhooks.id) \
         FROM webhooks WHERE (?1 IS NULL OR provider = ?1) AND (created_at, id) > (?2, ?3) \
         AND (?5 IS NULL OR (json_valid(options) AND json_extract(options, '$.sender') = ?5)) \
         ORDER BY created_at, id LIMIT ?4"
    ))?;
    let rows = stmt.query_map(params![provider, after_at, after_id, limit, sender], |r| {
        Ok((from_row(r)?, r.get(12)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The other webhooks of `provider` named `name` (ids, oldest first, at most `limit`).
pub fn namesakes(
    conn: &Connection,
    name: &str,
    provider: &str,
    except: &str,
) -> Result<Option<(String, usize)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, COUNT(*) OVER () FROM webhooks WHERE name = ?1 AND provider = ?2 \
         AND id <> ?3 ORDER BY created_at, id LIMIT 1",
    )?;
    let first = stmt
        .query_row(params![name, provider, except], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?;
    Ok(first.map(|(id, count)| (id, usize::try_from(count).unwrap_or(usize::MAX))))
}

/// The ids of the webhooks named `name` (ASCII letters in any case), oldest first, at most
/// `limit`: what a model that gave a webhook's name for its id meant.
pub fn named(conn: &Connection, name: &str, limit: usize) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM webhooks WHERE name = ?1 COLLATE NOCASE ORDER BY created_at, id LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![name, limit], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Writes every mutable column of `w`; false if the webhook is gone.
pub fn update(conn: &Connection, w: &WebhookRow) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE webhooks SET name = ?2, secret = ?3, previous_secret = ?4, \
             previous_expires_at = ?5, enabled = ?6, options = ?7, created_by = ?8, \
             updated_at = ?9, secret_placeholder = ?10 WHERE id = ?1",
        )?
        .execute(params![
            w.id,
            w.name,
            w.secret,
            w.previous_secret,
            w.previous_expires_at,
            w.enabled,
            w.options,
            w.created_by,
            w.updated_at,
            w.secret_placeholder
        ])?;
    Ok(n == 1)
}

/// How many webhooks one write clears of an ended grace period at most.
pub const GRACES_PER_WRITE: u32 = 256;

/// Which webhooks keep a previous secret (or its end time) that no longer verifies at `?1`
/// (unix ms): its grace period ended, or it has no end time (no rotation stores one so; such a
/// secret never verified either, see `service::ingest::secrets`). Webhooks are few (tens,
/// hundreds), so reading the table is cheaper than an index every rotation would write.
const GRACE_ENDED: &str = "(previous_secret IS NOT NULL OR previous_expires_at IS NOT NULL)                            AND coalesce(previous_expires_at, 0) <= ?1";

/// Whether any webhook keeps a previous secret whose grace ended by `now`: asked on a
/// reader first, so a sweep with nothing to clear takes no turn at the writer.
pub fn any_grace_ended(conn: &Connection, now: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT EXISTS (SELECT 1 FROM webhooks WHERE {GRACE_ENDED})"
        ))?
        .query_row([now], |r| r.get(0))?)
}

/// Deletes the previous secret of at most `limit` webhooks whose grace period ended by `now`
/// (unix ms), with its end time: it verifies nothing any more, and kept it would still be
/// there to read from the file (with `secure_delete` on, its bytes are zeroed). The ids of
/// the webhooks cleared. The condition is checked in the write itself, so a rotation stored
/// meanwhile, with a grace that runs, keeps its previous secret.
pub fn clear_ended_graces(
    conn: &Connection,
    now: i64,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE webhooks SET previous_secret = NULL, previous_expires_at = NULL \
         WHERE id IN (SELECT id FROM webhooks WHERE {GRACE_ENDED} LIMIT ?2) RETURNING id"
    ))?;
    let ids = stmt.query_map(params![now, limit], |r| r.get(0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}

/// Deletes the webhook and (by cascade) its commands; its events stay in the log, but the
/// work they still had ends with it: queued, running and waiting tasks are cancelled, actions
/// not yet sent are dead-lettered. (Their delivery ids are freed one by one, when a new
/// webhook given the same id receives one again: see `events::insert`.)
pub fn delete(conn: &Connection, id: &str, now: i64) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM webhooks WHERE id = ?1")?
        .execute([id])?;
    if n == 0 {
        return Ok(false);
    }
    let mut touched: Vec<Option<String>> = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'cancelled', error = 'the webhook was deleted', \
             lease_owner = NULL, lease_until = NULL, run_progress = NULL, updated_at = ?2 \
             WHERE webhook_id = ?1 AND status IN ('queued', 'running', 'waiting_reply') \
             RETURNING event_id",
        )?
        .query_map(params![id, now], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let dead: Vec<Option<String>> = conn
        .prepare_cached(
            "UPDATE outbox SET status = 'dead', last_error = 'the webhook was deleted', \
             updated_at = ?2 WHERE status IN ('pending', 'retrying') AND webhook_id = ?1 \
             AND remote_id IS NULL RETURNING event_id",
        )?
        .query_map(params![id, now], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    touched.extend(dead);
    touched.sort();
    touched.dedup();
    for event_id in touched.iter().flatten() {
        super::events::settle(conn, event_id)?;
    }
    Ok(true)
}

/// A GitHub webhook `gh` (secret `s`, no options) made at `at`, for tests.
#[cfg(test)]
pub(crate) fn made_at(at: i64) -> WebhookRow {
    WebhookRow {
        id: "gh".into(),
        name: "gh".into(),
        provider: "github".into(),
        secret: "s".into(),
        previous_secret: None,
        previous_expires_at: None,
        enabled: true,
        options: "{}".into(),
        created_by: None,
        created_at: at,
        updated_at: at,
        secret_placeholder: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrated() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        conn
    }

    #[test]
    fn a_previous_secret_is_cleared_once_its_grace_has_ended_and_not_before() {
        const NOW: i64 = 5_000;
        // (previous secret, when it stops verifying, whether it is cleared)
        let cases = [
            (Some("old"), Some(NOW - 1), true),
            (Some("old"), Some(NOW), true),
            (Some("old"), Some(NOW + 1), false),
            (Some("old"), None, true),
            (None, Some(NOW - 1), true),
            (None, Some(NOW + 1), false),
            (None, None, false),
        ];
        for (previous, until, cleared) in cases {
            let conn = migrated();
            let mut row = made_at(0);
            row.previous_secret = previous.map(str::to_string);
            row.previous_expires_at = until;
            insert(&conn, &row).unwrap();

            let case = format!("{previous:?} {until:?}");
            assert_eq!(any_grace_ended(&conn, NOW).unwrap(), cleared, "{case}");
            let ids = clear_ended_graces(&conn, NOW, GRACES_PER_WRITE).unwrap();

            assert_eq!(ids.len(), usize::from(cleared), "{case}");
            let kept = get(&conn, "gh").unwrap().unwrap();
            let want = if cleared {
                (None, None)
            } else {
                (row.previous_secret, row.previous_expires_at)
            };
            assert_eq!(
                (kept.previous_secret, kept.previous_expires_at),
                want,
                "{case}"
            );
            assert_eq!(kept.secret, "s", "{case}");
        }
    }

    #[test]
    fn one_write_clears_no_more_than_its_limit() {
        let conn = migrated();
        for i in 0..5 {
            let mut row = made_at(0);
            row.id = format!("gh-{i}");
            row.previous_secret = Some("old".into());
            row.previous_expires_at = Some(1);
            insert(&conn, &row).unwrap();
        }

        let first = clear_ended_graces(&conn, 10, 3).unwrap();
        let second = clear_ended_graces(&conn, 10, 3).unwrap();
        let third = clear_ended_graces(&conn, 10, 3).unwrap();

        assert_eq!((first.len(), second.len(), third.len()), (3, 2, 0));
        assert!(!any_grace_ended(&conn, 10).unwrap());
    }

    #[test]
    fn work_belongs_to_the_webhook_only_if_it_was_there_first() {
        let cases = [
            (None, 100, "deleted"),
            (Some(made_at(100)), 100, "current"),
            (Some(made_at(50)), 100, "current"),
            (Some(made_at(101)), 100, "replaced"),
        ];
        for (webhook, since, want) in cases {
            let got = match Standing::of(webhook, since) {
                Standing::Current(_) => "current",
                Standing::Deleted => "deleted",
                Standing::Replaced => "replaced",
            };
            assert_eq!(got, want, "since {since}");
        }
    }
}
