//! SQL for the `events` table: the durable log of every request that reached a webhook.
//! The insert is the receiver's one write; it is kept small and uses a cached statement.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::StoreError;

/// An event about to be stored. The body is kept as received, but for a credential the
/// sender puts in it (`providers::without_credentials`).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub webhook_id: String,
    pub provider: String,
    pub event_type: Option<String>,
    pub delivery_id: Option<String>,
    pub verified: bool,
    pub verification: String,
    pub status: String,
    pub source_kind: Option<String>,
    pub source_key: Option<String>,
    pub source: Option<String>,
    pub headers: String,
    pub content_type: Option<String>,
    pub body: axum::body::Bytes,
    pub matched_commands: String,
    pub remote_addr: Option<String>,
    pub received_at: i64,
    /// Set when `body` is only the start of what was received (a rejected request's).
    pub truncated: Option<Truncation>,
}

/// What was received of a body kept only in part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Truncation {
    /// Its whole size, in bytes.
    pub received_size: i64,
    /// Hex SHA-256 of the whole body, to tell what came without keeping it.
    pub received_sha256: String,
}

/// What an insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored under this id.
    New(String),
    /// The webhook already has a verified event with this delivery id: its id.
    Duplicate(String),
}

/// The message an event carries, as two deliveries of it both name it: a Slack event
/// callback's `channel:ts` (a mention comes as a `message` and an `app_mention`), a Jira
/// comment's id (a comment comes as `comment_created` and as `jira:issue_updated`).
const MESSAGE_OF_BODY: &str = "CASE WHEN json_valid(CAST(body AS TEXT)) THEN \
    CASE provider \
    WHEN 'slack' THEN json_extract(CAST(body AS TEXT), '$.event.channel') || ':' || \
                      json_extract(CAST(body AS TEXT), '$.event.ts') \
    WHEN 'jira' THEN CAST(json_extract(CAST(body AS TEXT), '$.comment.id') AS TEXT) END END";

/// The message (see [`MESSAGE_OF_BODY`]) a stored event carries, if any.
pub fn message_of(conn: &Connection, event_id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {MESSAGE_OF_BODY} FROM events WHERE id = ?1"
        ))?
        .query_row([event_id], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// An event as [`committed_after`] finds it.
#[derive(Debug)]
pub struct Committed {
    pub row: i64,
    pub id: String,
    pub webhook_id: String,
    /// A refused delivery (`rejected`, `invalid_payload`): the receiver tells no one of it.
    pub refused: bool,
}

/// Events committed after the one at row number `after` (see [`last_row`]), in commit order:
/// one writer inserts them, and the only ones ever deleted are rejected ones older than a
/// webhook's newest rejected (see [`prune_rejected`]) and old ones past the retention (see
/// [`super::retention::expire`]), never the last row, so row numbers only grow, in the order
/// commits become visible.
pub fn committed_after(
    conn: &Connection,
    after: i64,
    limit: u32,
) -> Result<Vec<Committed>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT rowid, id, webhook_id, status IN ('rejected', 'invalid_payload') \
             FROM events WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit], |r| {
        Ok(Committed {
            row: r.get(0)?,
            id: r.get(1)?,
            webhook_id: r.get(2)?,
            refused: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An event as [`on_thread_between`] finds it.
#[derive(Debug)]
pub struct OnThread {
    pub id: String,
    pub provider: String,
    pub event_type: Option<String>,
    pub body: Vec<u8>,
}

/// At most `limit` events a webhook received on a thread from `since` to `until` (unix ms),
/// oldest first, neither refused nor a dry run nor the service's own posts.
pub fn on_thread_between(
    conn: &Connection,
    webhook_id: &str,
    source_key: &str,
    since: i64,
    until: i64,
    limit: u32,
) -> Result<Vec<OnThread>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, provider, event_type, body FROM events \
         WHERE webhook_id = ?1 AND source_key = ?2 AND received_at BETWEEN ?3 AND ?4 \
         AND verified = 1 AND status IN ('accepted', 'matched', 'done', 'failed') \
         ORDER BY id LIMIT ?5",
    )?;
    let rows = stmt.query_map(params![webhook_id, source_key, since, until, limit], |r| {
        Ok(OnThread {
            id: r.get(0)?,
            provider: r.get(1)?,
            event_type: r.get(2)?,
            body: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The row number of the event committed last (0 before any).
pub fn last_row(conn: &Connection) -> Result<i64, StoreError> {
    Ok(
        conn.query_row("SELECT COALESCE(MAX(rowid), 0) FROM events", [], |r| {
            r.get(0)
        })?,
    )
}

/// Whether another delivery of the same message (see [`MESSAGE_OF_BODY`]) on this thread
/// answered a waiting task. Only the thread's events taken as replies are read for their
/// message: every message of a long thread, each read whole, made every new one cost the
/// thread's length in bodies, in the writer.
pub fn twin_answered(
    conn: &Connection,
    webhook_id: &str,
    source_key: &str,
    message: &str,
    event_id: &str,
) -> Result<bool, StoreError> {
    let twins: Vec<String> = conn
        .prepare_cached(&twins_sql())?
        .query_map(params![webhook_id, source_key, message, event_id], |r| {
            r.get(0)
        })?
        .collect::<Result<_, _>>()?;
    for twin in &twins {
        if super::tasks::answered_by(conn, webhook_id, twin)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn twins_sql() -> String {
    format!(
        "WITH replies AS MATERIALIZED ( \
           SELECT e.id, e.provider, e.body FROM events e \
           WHERE e.webhook_id = ?1 AND e.source_key = ?2 AND e.id != ?4 \
             AND EXISTS (SELECT 1 FROM task_replies r WHERE r.event_id = e.id)) \
         SELECT id FROM replies WHERE {MESSAGE_OF_BODY} = ?3"
    )
}

/// The status of a verified event whose body could not be read.
pub const INVALID_PAYLOAD: &str = "invalid_payload";

/// Stores the event, unless it repeats a verified delivery id of the same webhook. The event
/// holding the id gives it up (its headers keep it) and the new one is stored afresh when the
/// holder came before the webhook was created (to an earlier, deleted webhook of the same id),
/// or when the holder's body could not be read and the new one's can: the sender's intact
/// delivery of a body once cut off on the way, or read by a parser fixed since.
pub fn insert(conn: &Connection, e: &NewEvent) -> Result<Inserted, StoreError> {
    if try_insert(conn, e)? {
        return Ok(Inserted::New(e.id.clone()));
    }
    // Only a verified event's delivery id conflicts, so that event is there.
    let delivery_id = e.delivery_id.as_deref().unwrap_or_default();
    let holder = stored_delivery(conn, &e.webhook_id, delivery_id)?
        .ok_or_else(|| StoreError::Corrupt("a delivery id conflicted with no event".into()))?;
    if holder.yields_to(e.status != INVALID_PAYLOAD) {
        conn.prepare_cached("UPDATE events SET delivery_id = NULL WHERE id = ?1")?
            .execute([&holder.id])?;
        if try_insert(conn, e)? {
            return Ok(Inserted::New(e.id.clone()));
        }
    }
    Ok(Inserted::Duplicate(holder.id))
}

/// The verified event of the webhook that has this delivery id, as `insert` would take it for
/// a duplicate of a readable delivery (one that came to an earlier, deleted webhook of the
/// same id, or whose body could not be read, does not count).
pub fn with_delivery_id(
    conn: &Connection,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(stored_delivery(conn, webhook_id, delivery_id)?
        .filter(|holder| !holder.yields_to(true))
        .map(|holder| holder.id))
}

/// The event holding a delivery id.
struct Holder {
    id: String,
    /// It came before the webhook was created (to an earlier one of the same id).
    earlier: bool,
    /// Its body could not be read (`invalid_payload`).
    unreadable: bool,
}

impl Holder {
    /// Whether a new delivery of its id takes the id over instead of being a duplicate.
    fn yields_to(&self, readable: bool) -> bool {
        self.earlier || (self.unreadable && readable)
    }
}

/// The verified event of the webhook with this delivery id.
fn stored_delivery(
    conn: &Connection,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<Option<Holder>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT e.id, e.received_at < COALESCE(w.created_at, 0), e.status = ?3 FROM events e \
             LEFT JOIN webhooks w ON w.id = e.webhook_id \
             WHERE e.webhook_id = ?1 AND e.delivery_id = ?2 AND e.verified = 1",
        )?
        .query_row(params![webhook_id, delivery_id, INVALID_PAYLOAD], |r| {
            Ok(Holder {
                id: r.get(0)?,
                earlier: r.get(1)?,
                unreadable: r.get(2)?,
            })
        })
        .optional()?)
}

/// Inserts the event; false when a verified event of the webhook has its delivery id.
fn try_insert(conn: &Connection, e: &NewEvent) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "INSERT INTO events (id, webhook_id, provider, event_type, delivery_id, verified, \
             verification, status, source_kind, source_key, source, headers, content_type, body, \
             matched_commands, remote_addr, received_at, received_size, received_sha256) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
             ?18, ?19) \
             ON CONFLICT (webhook_id, delivery_id) WHERE verified = 1 AND delivery_id IS NOT NULL \
             DO NOTHING",
        )?
        .execute(params![
            e.id,
            e.webhook_id,
            e.provider,
            e.event_type,
            e.delivery_id,
            e.verified,
            e.verification,
            e.status,
            e.source_kind,
            e.source_key,
            e.source,
            e.headers,
            e.content_type,
            &e.body[..],
            e.matched_commands,
            e.remote_addr,
            e.received_at,
            e.truncated.as_ref().map(|t| t.received_size),
            e.truncated.as_ref().map(|t| t.received_sha256.as_str()),
        ])?;
    Ok(changed == 1)
}

/// Deletes up to `at_most` of the webhook's rejected events past the newest `keep` (at least
/// one is kept); how many went. Rejected events set nothing in motion, so nothing else refers
/// to them. Bounded, as it runs in a delivery's write: a backlog (a lowered keep, a database
/// from before rejected events were capped) goes over several prunes, not in one delete that
/// holds up every webhook's deliveries.
pub fn prune_rejected(
    conn: &Connection,
    webhook_id: &str,
    keep: u32,
    at_most: u32,
) -> Result<usize, StoreError> {
    // Walks the `events_rejected` index from the newest: `keep` steps, then `at_most` go.
    Ok(conn
        .prepare_cached(
            "DELETE FROM events WHERE webhook_id = ?1 AND status = 'rejected' AND id IN ( \
               SELECT id FROM events WHERE webhook_id = ?1 AND status = 'rejected' \
               ORDER BY id DESC LIMIT ?3 OFFSET ?2)",
        )?
        .execute(params![webhook_id, keep.max(1), at_most])?)
}

/// Whether any event of this webhook id is kept (its webhook may be deleted).
pub fn any_of_webhook(conn: &Connection, webhook_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM events WHERE webhook_id = ?1)")?
        .query_row([webhook_id], |r| r.get(0))?)
}

/// A stored event. `body` is only filled by [`get`].
#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: String,
    pub webhook_id: String,
    pub provider: String,
    pub event_type: Option<String>,
    pub delivery_id: Option<String>,
    pub verified: bool,
    pub verification: String,
    pub status: String,
    pub source: Option<String>,
    pub headers: String,
    pub content_type: Option<String>,
    pub body: Option<Vec<u8>>,
    pub body_size: i64,
    pub matched_commands: String,
    pub remote_addr: Option<String>,
    pub received_at: i64,
    /// Set when the body is only the start of what was received.
    pub truncated: Option<Truncation>,
}

const COLUMNS: &str = "id, webhook_id, provider, event_type, delivery_id, verified, verification, \
                       status, source, headers, content_type, length(body), matched_commands, \
                       remote_addr, received_at, received_size, received_sha256";

fn from_row(r: &Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        id: r.get(0)?,
        webhook_id: r.get(1)?,
        provider: r.get(2)?,
        event_type: r.get(3)?,
        delivery_id: r.get(4)?,
        verified: r.get(5)?,
        verification: r.get(6)?,
        status: r.get(7)?,
        source: r.get(8)?,
        headers: r.get(9)?,
        content_type: r.get(10)?,
        body: None,
        body_size: r.get(11)?,
        matched_commands: r.get(12)?,
        remote_addr: r.get(13)?,
        received_at: r.get(14)?,
        truncated: match (r.get(15)?, r.get(16)?) {
            (Some(received_size), Some(received_sha256)) => Some(Truncation {
                received_size,
                received_sha256,
            }),
            _ => None,
        },
    })
}

/// The event's status from the work its commands made, actions and tasks alike: `failed` if
/// an action is dead or a task failed, `done` when every action is delivered and every task
/// done or cancelled (or when there was nothing to do later: an answer given inline), else
/// `matched`. A question dropped because its task ended (cancelled or completed) or was
/// answered before it went out is no failure. Called whenever a piece of that work ends.
pub fn settle(conn: &Connection, event_id: &str) -> Result<(), StoreError> {
    let (total, finished, failed): (i64, i64, i64) = conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(finished), 0), COALESCE(SUM(failed), 0) FROM ( \
               SELECT status IN ('delivered', 'cancelled') OR cancelled AS finished, \
                      status = 'dead' AND NOT cancelled AS failed FROM ( \
                 SELECT status, EXISTS (SELECT 1 FROM tasks t WHERE t.id = outbox.task_id \
                                        AND t.status = 'cancelled') \
                          OR (status = 'dead' AND COALESCE(last_error, '') IN (?2, ?3)) \
                          AS cancelled \
                   FROM outbox WHERE event_id = ?1) \
               UNION ALL \
               SELECT status IN ('done', 'cancelled'), status = 'failed' \
                 FROM tasks WHERE event_id = ?1)",
        )?
        .query_row(
            params![
                event_id,
                super::tasks::COMPLETED,
                super::tasks::ANSWERED_FIRST
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
    let status = if failed > 0 {
        "failed"
    } else if finished == total {
        "done"
    } else {
        "matched"
    };
    conn.prepare_cached(
        "UPDATE events SET status = ?2 WHERE id = ?1 AND status IN ('matched', 'done', 'failed')",
    )?
    .execute(params![event_id, status])?;
    Ok(())
}

/// Marks an `accepted`, `test` (or `own_post`, `looped`) event `matched`, once a replay has set
/// commands to work on it. Other statuses already follow the event's actions.
pub fn mark_matched(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE events SET status = 'matched' WHERE id = ?1 \
         AND status IN ('accepted', 'test', 'own_post', 'looped', 'invalid_payload')",
    )?
    .execute([id])?;
    Ok(())
}

/// The headers an event was received with, as kept (a JSON object, names in lower case),
/// without its body.
pub fn headers_of(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT headers FROM events WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// Up to `limit` event ids that begin with `prefix`, newest first: read in the id index, a
/// range from the prefix to the last text that begins with it.
pub fn ids_starting_with(
    conn: &Connection,
    prefix: &str,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    let past = format!("{prefix}\u{10FFFF}");
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM events WHERE id >= ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
    )?;
    let ids = stmt.query_map(params![prefix, past, limit], |r| r.get(0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}

/// One event with its body.
pub fn get(conn: &Connection, id: &str) -> Result<Option<EventRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS}, body FROM events WHERE id = ?1"))?
        .query_row([id], |r| {
            let mut row = from_row(r)?;
            row.body = Some(r.get(17)?);
            Ok(row)
        })
        .optional()?)
}

/// Filters for [`list`]; every one is optional.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub webhook_id: Option<String>,
    pub provider: Option<String>,
    /// Only events of webhooks created for this sender (their `options.sender`: `openai`).
    pub sender: Option<String>,
    /// A type and its actions (`issues`: `issues` and `issues.*`), or a pattern where `*`
    /// matches any run of characters (`*.created`).
    pub event_type: Option<String>,
    pub status: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only events older than this id (the previous page's `next_cursor`).
    pub before_id: Option<String>,
    pub limit: u32,
}

/// Events matching `filter`, newest first, without bodies. Event ids are `evt_` + UUIDv7, so
/// ordering by id is ordering by arrival, and the last id of a page is the next cursor.
pub fn list(conn: &Connection, filter: &EventFilter) -> Result<Vec<EventRow>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM events WHERE 1 = 1");
    let mut args: Vec<SqlValue> = Vec::new();
    // As a trigger reads a type: `issues` is also every `issues.*` (GitLab's `note` is
    // `note.create` since 16.11), and `*` matches any run of characters.
    if let Some(v) = &filter.event_type {
        if v.contains('*') {
            args.push(glob_pattern(v).into());
            sql.push_str(" AND event_type GLOB ?1");
        } else {
            args.extend([v.clone().into(), format!("{}.*", glob_pattern(v)).into()]);
            sql.push_str(" AND (event_type = ?1 OR event_type GLOB ?2)");
        }
    }
    if let Some(v) = &filter.sender {
        args.push(v.clone().into());
        sql.push_str(&format!(
            " AND webhook_id IN (SELECT id FROM webhooks WHERE json_valid(options) \
             AND json_extract(options, '$.sender') = ?{})",
            args.len()
        ));
    }
    let mut push = |clause: &str, value: SqlValue| {
        args.push(value);
        sql.push_str(&format!(" AND {clause} ?{}", args.len()));
    };
    if let Some(v) = &filter.webhook_id {
        push("webhook_id =", v.clone().into());
    }
    if let Some(v) = &filter.provider {
        push("provider =", v.clone().into());
    }
    if let Some(v) = &filter.status {
        push("status =", v.clone().into());
    }
    // An event's id starts with the time it was received (UUIDv7, whose first 48 bits are
    // its milliseconds, and `received_at` is read from it): a time bound is also a bound on
    // the id, which the primary key finds without reading every event after it.
    let id_at = |ms: i64| format!("evt_{:012x}", ms.clamp(0, 0xffff_ffff_ffff));
    if let Some(v) = filter.since_ms {
        push("received_at >=", v.into());
        push("id >=", id_at(v).into());
    }
    if let Some(v) = filter.until_ms {
        push("received_at <", v.into());
        // A second's slack: events stored before `received_at` was read from the id took it
        // from the clock just before the id was made, a millisecond or so earlier.
        push("id <", id_at(v.saturating_add(1000)).into());
    }
    if let Some(v) = &filter.before_id {
        push("id <", v.clone().into());
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", filter.limit));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The body of event `id` as stored, alone: what a listing, whose rows carry its length but not
/// the body, reads a title from.
pub fn body(conn: &Connection, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT body FROM events WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// `*` stays a wildcard; GLOB's other special characters are matched literally.
fn glob_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::glob_pattern;

    #[test]
    fn only_a_threads_replies_are_read_for_the_message_they_carry() {
        let conn = crate::store::retention::tests::migrated();
        let body = |ts: &str| format!(r#"{{"event": {{"channel": "C1", "ts": "{ts}"}}}}"#);
        for (id, ts) in [("evt_1", "1.1"), ("evt_2", "1.2"), ("evt_3", "1.2")] {
            conn.execute(
                "INSERT INTO events (id, webhook_id, provider, verified, verification, status, \
                 source_key, headers, body, received_at) \
                 VALUES (?1, 'w', 'slack', 1, 'current', 'accepted', 'C1:1.0', '{}', ?2, 0)",
                rusqlite::params![id, body(ts).into_bytes()],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO tasks (id, webhook_id, agent, prompt, status, created_at, updated_at) \
             VALUES ('t', 'w', 'a', 'p', 'queued', 0, 0); \
             INSERT INTO task_replies (event_id, task_id) VALUES ('evt_2', 't');",
        )
        .unwrap();
        let twins = |message: &str, of: &str| -> Vec<String> {
            conn.prepare(&super::twins_sql())
                .unwrap()
                .query_map(rusqlite::params!["w", "C1:1.0", message, of], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };

        // evt_3 is the other delivery of evt_2's message, which was taken as a reply; evt_1
        // was taken as none.
        assert_eq!(twins("C1:1.2", "evt_3"), ["evt_2"]);
        assert!(twins("C1:1.2", "evt_2").is_empty());
        assert!(twins("C1:1.1", "evt_9").is_empty());
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", super::twins_sql()))
            .unwrap()
            .query_map(rusqlite::params!["w", "C1:1.0", "m", "e"], |r| r.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter().any(|step| step.contains("events_by_source")),
            "{plan:?}"
        );
    }

    #[test]
    fn a_backlog_of_rejected_events_goes_a_bounded_batch_per_prune() {
        let conn = crate::store::retention::tests::migrated();
        for n in 0..600 {
            conn.execute(
                "INSERT INTO events (id, webhook_id, provider, verified, verification, status, \
                 headers, body, received_at) VALUES (?1, 'w', 'github', 0, 'failed', \
                 'rejected', '{}', x'7b7d', ?2)",
                rusqlite::params![format!("evt_{n:04}"), n],
            )
            .unwrap();
        }
        let went: Vec<usize> = (0..4)
            .map(|_| super::prune_rejected(&conn, "w", 10, 256).unwrap())
            .collect();
        assert_eq!(went, [256, 256, 78, 0]);
        let oldest: String = conn
            .query_row("SELECT MIN(id) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(oldest, "evt_0590", "the newest ten are kept");
    }

    #[test]
    fn glob_pattern_keeps_star_and_escapes_the_rest() {
        assert_eq!(glob_pattern("issues.*"), "issues.*");
        assert_eq!(glob_pattern("a?b[c"), "a[?]b[[]c");
    }
}
