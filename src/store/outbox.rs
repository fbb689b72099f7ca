//! SQL for the outbox: actions written in the same transaction as their event, claimed by the
//! worker with a lease, and finished with every attempt recorded. Dead rows stay to be retried.

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::StoreError;
use crate::providers::site_of;

/// An action row. `delivery` is the JSON of `actions::Delivery`.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: String,
    pub event_id: Option<String>,
    pub webhook_id: Option<String>,
    pub command_id: Option<String>,
    pub task_id: Option<String>,
    pub action: String,
    pub delivery: Option<String>,
    pub target: String,
    /// Where it goes (`Delivery::host`): the worker shares its senders out by it.
    pub host: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub last_status: Option<i64>,
    pub remote_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// A row being sent: until when its sender holds it (after that another sender takes it
    /// up again, its attempt recorded as cut off).
    pub lease_until: Option<i64>,
}

const COLUMNS: &str = "id, event_id, webhook_id, command_id, task_id, action, delivery, target, \
                       status, attempts, next_attempt_at, last_error, last_status, remote_id, \
                       created_at, updated_at, host, lease_until";

fn from_row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        event_id: r.get(1)?,
        webhook_id: r.get(2)?,
        command_id: r.get(3)?,
        task_id: r.get(4)?,
        action: r.get(5)?,
        delivery: r.get(6)?,
        target: r.get(7)?,
        status: r.get(8)?,
        attempts: r.get(9)?,
        next_attempt_at: r.get(10)?,
        last_error: r.get(11)?,
        last_status: r.get(12)?,
        remote_id: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        host: r.get(16)?,
        lease_until: r.get(17)?,
    })
}

/// Inserts the row unless the command already has one for this event (returns false then).
/// A reply keeps its event's thread (see [`Way::Thread`]).
pub fn insert(conn: &Connection, o: &OutboxRow) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(&format!(
            "INSERT INTO outbox ({COLUMNS}, thread_key, thread_issue_id) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
              CASE WHEN ?6 IN {REPLIES} THEN \
                  (SELECT source_key FROM events WHERE id = ?2) END, \
              CASE WHEN ?6 IN {REPLIES} THEN \
                  (SELECT {EVENT_ISSUE_ID} FROM events e WHERE e.id = ?2) END) \
             ON CONFLICT (event_id, command_id) WHERE command_id IS NOT NULL DO NOTHING"
        ))?
        .execute(params![
            o.id,
            o.event_id,
            o.webhook_id,
            o.command_id,
            o.task_id,
            o.action,
            o.delivery,
            o.target,
            o.status,
            o.attempts,
            o.next_attempt_at,
            o.last_error,
            o.last_status,
            o.remote_id,
            o.created_at,
            o.updated_at,
            o.host,
            o.lease_until
        ])?;
    Ok(n == 1)
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<OutboxRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn for_event(conn: &Connection, event_id: &str) -> Result<Vec<OutboxRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE event_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([event_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes a dead row that never held a delivery (its command could not be planned), when
/// what it stood for is planned afresh in another form (a task).
pub fn delete_unplanned(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "DELETE FROM outbox WHERE id = ?1 AND status = 'dead' AND delivery IS NULL",
    )?
    .execute([id])?;
    Ok(())
}

/// The next due row `claim_due` may take (see there).
const CLAIM_DUE: &str = "SELECT id, lease_ran_out FROM ( \
               SELECT * FROM (SELECT id, 0 AS lease_ran_out, next_attempt_at FROM outbox \
                 WHERE status = 'pending' AND next_attempt_at <= ?1 \
                   AND host NOT IN (SELECT value FROM json_each(?2)) \
                   AND id NOT IN (SELECT value FROM json_each(?3)) \
                 ORDER BY next_attempt_at LIMIT 1) \
               UNION ALL \
               SELECT * FROM (SELECT id, 0, next_attempt_at FROM outbox \
                 WHERE status = 'retrying' AND next_attempt_at <= ?1 \
                   AND host NOT IN (SELECT value FROM json_each(?2)) \
                   AND id NOT IN (SELECT value FROM json_each(?3)) \
                 ORDER BY next_attempt_at LIMIT 1) \
               UNION ALL \
               SELECT * FROM (SELECT id, 1, next_attempt_at FROM outbox \
                 WHERE status = 'sending' AND lease_until < ?1 \
                   AND host NOT IN (SELECT value FROM json_each(?2)) \
                   AND id NOT IN (SELECT value FROM json_each(?3)) \
                 ORDER BY next_attempt_at LIMIT 1)) \
             ORDER BY next_attempt_at LIMIT 1";

/// Takes the next due row and leases it until `lease_until`, so a crash mid-send only delays
/// it: an expired lease makes the row due again. Rows going to one of the `full` hosts (those
/// with their share of the senders busy) are passed over, and wait for one of them to end;
/// so are the `unrecorded` rows, sent and known by this process though not yet recorded.
pub fn claim_due(
    conn: &Connection,
    now: i64,
    lease_until: i64,
    full: &[String],
    unrecorded: &[String],
) -> Result<Option<OutboxRow>, StoreError> {
    // The earliest of each status's own earliest, each read in `outbox_due`'s order and
    // stopping at the first row it may take (the hosts and ids passed over are looked up in
    // the index itself): one `ORDER BY` over the three would read and sort every due row,
    // and a backlog would make each claim, on the writer, cost milliseconds.
    let due: Option<(String, bool)> = conn
        .prepare_cached(CLAIM_DUE)?
        .query_row(params![now, json_list(full), json_list(unrecorded)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((id, lease_ran_out)) = due else {
        return Ok(None);
    };
    if lease_ran_out {
        record_interrupted(conn, &id)?;
    }
    Ok(conn
        .prepare_cached(&format!(
            "UPDATE outbox SET status = 'sending', lease_until = ?2, attempts = attempts + 1, \
             updated_at = ?3 WHERE id = ?1 RETURNING {COLUMNS}"
        ))?
        .query_row(params![id, lease_until, now], from_row)
        .optional()?)
}

/// Keeps a row being sent leased until `lease_until`: its sender knows how the send went and
/// has not recorded it yet, and the row must not be sent again meanwhile.
pub fn renew_lease(conn: &Connection, id: &str, lease_until: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE outbox SET lease_until = MAX(lease_until, ?2) WHERE id = ?1 AND status = 'sending'",
    )?
    .execute(params![id, lease_until])?;
    Ok(())
}

/// The actions whose posts a provider announces back, so that an unanswered attempt of one
/// may have made a post that comes back to be compared (as SQL, and for [`is_announced`]).
const ANNOUNCED_ACTIONS: &str = "('ask', 'comment', 'respond', 'post_message')";

/// The actions that reply on an event's thread (as SQL): each keeps its event's thread.
const REPLIES: &str = "('ask', 'comment', 'respond')";

/// Whether a post of `action` is announced back (see [`ANNOUNCED_ACTIONS`]); only then is an
/// unanswered attempt of it worth keeping as such.
pub fn is_announced(action: &str) -> bool {
    matches!(action, "ask" | "comment" | "respond" | "post_message")
}

/// Rows of `actions` (an SQL list) that may have made a post no answer named: those on their
/// way, and those with an attempt since `since` (a placeholder) that went out and heard no
/// answer, or was delivered with an answer that named no post. Read from the rows on their way (`outbox_due`, kept to the actions asked about: a
/// backlog of forwards is no reply) and the few attempts unanswered of late of those actions
/// (`outbox_attempts_unanswered`: a day of comments timing out is not read for a channel
/// post), not the whole outbox.
fn uncertain_rows(since: &str, actions: &str) -> String {
    format!(
        "WITH uncertain(id) AS ( \
             SELECT id FROM outbox \
             WHERE status IN ('pending', 'retrying', 'sending') AND remote_id IS NULL \
               AND action IN {actions} \
             UNION ALL \
             SELECT outbox_id FROM outbox_attempts \
             WHERE unanswered = 1 AND action IN {actions} AND started_at >= {since})"
    )
}

/// What an attempt cut off before its answer was recorded says.
const INTERRUPTED: &str = "the send was cut off before its answer was recorded (the process \
     stopped, or the send outlasted its lease); it may have reached the target";

/// A send whose lease ran out with no answer recorded (the process was killed mid-send, or
/// stopped past its grace), taken up again now: its attempt is recorded as `interrupted`, so
/// the log shows every attempt made, as `attempts` counts them. Only when it is taken up: a
/// sender that outlived its lease may still answer until then, and is heard (`finish`).
fn record_interrupted(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO outbox_attempts (outbox_id, attempt, started_at, latency_ms, http_status, \
         outcome, error, unanswered, action) \
         SELECT o.id, (SELECT COUNT(*) + 1 FROM outbox_attempts a WHERE a.outbox_id = o.id), \
                o.updated_at, MAX(o.lease_until - o.updated_at, 0), NULL, 'interrupted', ?2, \
                o.action IN {ANNOUNCED_ACTIONS}, o.action \
         FROM outbox o WHERE o.id = ?1"
    ))?
    .execute(params![id, INTERRUPTED])?;
    Ok(())
}

/// When the next row not going to one of the `full` hosts, nor `unrecorded` (see
/// [`claim_due`]), falls due, if any is waiting.
pub fn next_due_at(
    conn: &Connection,
    full: &[String],
    unrecorded: &[String],
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(NEXT_DUE_AT)?
        .query_row([json_list(full), json_list(unrecorded)], |r| r.get(0))?)
}

/// [`next_due_at`]'s statement: each status's earliest in `outbox_due`'s order, as
/// [`CLAIM_DUE`] reads them (a `MIN` over the three at once read every row on its way).
const NEXT_DUE_AT: &str = "SELECT MIN(at) FROM ( \
       SELECT * FROM (SELECT next_attempt_at AS at FROM outbox WHERE status = 'pending' \
         AND host NOT IN (SELECT value FROM json_each(?1)) \
         AND id NOT IN (SELECT value FROM json_each(?2)) \
         ORDER BY next_attempt_at LIMIT 1) \
       UNION ALL \
       SELECT * FROM (SELECT next_attempt_at FROM outbox WHERE status = 'retrying' \
         AND host NOT IN (SELECT value FROM json_each(?1)) \
         AND id NOT IN (SELECT value FROM json_each(?2)) \
         ORDER BY next_attempt_at LIMIT 1) \
       UNION ALL \
       SELECT MIN(lease_until) FROM outbox WHERE status = 'sending' \
         AND host NOT IN (SELECT value FROM json_each(?1)) \
         AND id NOT IN (SELECT value FROM json_each(?2)))";

fn json_list(values: &[String]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".into())
}

/// One attempt's result, recorded with the row's new state.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub started_at: i64,
    pub latency_ms: i64,
    pub http_status: Option<i64>,
    /// delivered | retry | dead
    pub outcome: &'static str,
    pub error: Option<String>,
    pub remote_id: Option<String>,
    /// For `retry`: when to try again.
    pub next_attempt_at: Option<i64>,
    /// The request went out (or may have) and heard no answer: what it posted may be there.
    /// Also a delivered attempt whose answer did not name the post it made (see
    /// `Delivery::named_in_its_answer`): the post is there, and can be known only by its words.
    pub unanswered: bool,
}

/// Records an attempt and moves the row to delivered, retrying or dead; returns the status
/// it ends in, if it was still being sent. The row's state changes only while it is still
/// being sent: a sender that outlived its lease must not turn a row another sender has since
/// delivered back into a retry. A row whose post the provider announced meanwhile (it has an
/// id) is delivered, whatever this attempt heard.
pub fn finish(
    conn: &Connection,
    id: &str,
    attempt: &Attempt,
    now: i64,
) -> Result<Option<Finished>, StoreError> {
    let mut status = match attempt.outcome {
        "delivered" => "delivered",
        "retry" => "retrying",
        _ => "dead",
    };
    let mut error = attempt.error.clone();
    // Why a failure that would have been retried is not.
    let mut not_retried = None;
    // A task cancelled while this was being sent, or completed while its question was: no
    // one waits for it to be tried again.
    if status == "retrying" {
        let ended: Option<String> = conn
            .prepare_cached(
                "SELECT t.status FROM outbox o JOIN tasks t ON t.id = o.task_id \
                 WHERE o.id = ?1 AND (t.status = 'cancelled' \
                   OR (o.action = 'ask' AND t.status IN ('done', 'failed')))",
            )?
            .query_row([id], |r| r.get(0))
            .optional()?;
        if let Some(ended) = ended {
            status = "dead";
            let why = if ended == "cancelled" {
                super::tasks::CANCELLED
            } else {
                super::tasks::COMPLETED
            };
            // The row keeps the reason alone, which `events::settle` reads.
            error = Some(why.to_string());
            not_retried = Some(why.to_string());
        }
    }
    // Its webhook deleted (or made anew) while this was being sent: the delete ended the
    // rest of its work, and would find this one waiting for a retry that can only die.
    if status == "retrying" {
        let gone: Option<String> = conn
            .prepare_cached(
                "SELECT o.webhook_id FROM outbox o LEFT JOIN webhooks w ON w.id = o.webhook_id \
                 WHERE o.id = ?1 AND o.webhook_id IS NOT NULL \
                   AND (w.id IS NULL OR w.created_at > o.created_at)",
            )?
            .query_row([id], |r| r.get(0))
            .optional()?;
        if let Some(webhook) = gone {
            status = "dead";
            let why = deleted_webhook_not_retried(&webhook);
            error = Some(failed_and_not_retried(attempt.error.as_deref(), &why));
            not_retried = Some(why);
        }
    }
    // Recorded as what became of the row: a failure that would have been retried but is not
    // (see above) is the attempt that made it dead, and says both what failed and why.
    let (outcome, attempt_error) = match &not_retried {
        Some(why) => (
            "dead",
            Some(failed_and_not_retried(attempt.error.as_deref(), why)),
        ),
        None => (attempt.outcome, attempt.error.clone()),
    };
    // Numbered across the row's whole life: `attempts` restarts when a row is retried.
    let attempts: i64 = conn
        .prepare_cached("SELECT COUNT(*) + 1 FROM outbox_attempts WHERE outbox_id = ?1")?
        .query_row([id], |r| r.get(0))?;
    conn.prepare_cached(
        "INSERT INTO outbox_attempts (outbox_id, attempt, started_at, latency_ms, http_status, \
         outcome, error, unanswered, action) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, (SELECT action FROM outbox WHERE id = ?1))",
    )?
    .execute(params![
        id,
        attempts,
        attempt.started_at,
        attempt.latency_ms,
        attempt.http_status,
        outcome,
        attempt_error,
        attempt.unanswered
    ])?;
    Ok(conn
        .prepare_cached(
            "UPDATE outbox SET \
             status = CASE WHEN remote_id IS NOT NULL THEN 'delivered' ELSE ?2 END, \
             lease_until = NULL, \
             last_error = CASE WHEN remote_id IS NOT NULL THEN NULL ELSE ?3 END, \
             last_status = ?4, remote_id = COALESCE(?5, remote_id), \
             next_attempt_at = COALESCE(?6, next_attempt_at), \
             updated_at = ?7 WHERE id = ?1 AND status = 'sending' RETURNING status, remote_id",
        )?
        .query_row(
            params![
                id,
                status,
                error,
                attempt.http_status,
                attempt.remote_id,
                attempt.next_attempt_at,
                now
            ],
            |r| {
                let status: String = r.get(0)?;
                Ok(Finished {
                    not_retried: not_retried.clone().filter(|_| status == "dead"),
                    status,
                    remote_id: r.get(1)?,
                })
            },
        )
        .optional()?)
}

/// Why a send of webhook `webhook`'s, which failed and would have been retried, is not: the
/// webhook was deleted (or made anew at its id) while it was being sent.
fn deleted_webhook_not_retried(webhook: &str) -> String {
    format!("webhook {webhook} was deleted, so nothing more is sent on its behalf")
}

/// A failed attempt's error followed by why it is not retried.
fn failed_and_not_retried(failure: Option<&str>, why: &str) -> String {
    match failure {
        Some(failure) => format!("{failure}; not retried: {why}"),
        None => format!("not retried: {why}"),
    }
}

/// How a send ended: the row's status, and the id of the post it made (from its answer, or
/// from the announcement that came while it waited).
#[derive(Debug, Clone)]
pub struct Finished {
    pub status: String,
    pub remote_id: Option<String>,
    /// Why a failure that would have been retried is dead instead: its task or its webhook
    /// is gone.
    pub not_retried: Option<String>,
}

/// Queues the delivered action `planned.id` to be sent once more, as `planned` (the row planned
/// anew) has it: a question asked again on replay, after its task waited out the reply timeout.
pub fn send_again(conn: &Connection, planned: &OutboxRow, now: i64) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?2, lease_until = NULL, \
             delivery = ?3, target = ?4, host = ?5, last_error = NULL, last_status = NULL, \
             remote_id = NULL, attempts = 0, updated_at = ?2 \
             WHERE id = ?1 AND status = 'delivered'",
        )?
        .execute(params![
            planned.id,
            now,
            planned.delivery,
            planned.target,
            planned.host
        ])?;
    if n == 1 {
        // Its earlier life is settled: a copy of it announced now is not this life's post
        // (however that life ended: delivered through an announcement, its attempt unanswered).
        conn.prepare_cached("UPDATE outbox_attempts SET unanswered = 0 WHERE outbox_id = ?1")?
            .execute([&planned.id])?;
    }
    Ok(n == 1)
}

/// Makes a dead (or retrying) row due now, optionally with a freshly planned delivery, with
/// a fresh retry schedule. Delivered rows are never reset (only [`send_again`] sends one
/// again, when asked to): that is what keeps a replay from commenting twice.
pub fn reset(
    conn: &Connection,
    id: &str,
    delivery: Option<(&Option<String>, &str, &str)>,
    status: &str,
    error: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let n = match delivery {
        Some((delivery, target, host)) => conn
            .prepare_cached(
                "UPDATE outbox SET status = ?2, next_attempt_at = ?3, lease_until = NULL, \
                 delivery = ?4, target = ?5, last_error = ?6, host = ?7, attempts = 0, \
                 updated_at = ?3 WHERE id = ?1 AND status IN ('dead', 'retrying', 'pending', 'cancelled')",
            )?
            .execute(params![id, status, now, delivery, target, error, host])?,
        None => conn
            .prepare_cached(
                "UPDATE outbox SET status = ?2, next_attempt_at = ?3, lease_until = NULL, \
                 attempts = 0, updated_at = ?3 \
                 WHERE id = ?1 AND status IN ('dead', 'retrying', 'pending', 'cancelled')",
            )?
            .execute(params![id, status, now])?,
    };
    Ok(n == 1)
}

/// Why an action cancelled by hand was not sent.
pub const CANCELLED_BY_HAND: &str = "cancelled by hand; a retry sends it after all";

/// Cancels an action still waiting to be sent (pending, or retrying after a failure), and
/// settles its event: a cancel is no failure. `None` when it was not waiting.
///
/// A question cancelled so fails the task that waits for its answer, as one that could not be
/// posted does: nobody saw it, so nothing said on the thread answers it (a comment about
/// something else would be taken for the answer), and no reply is to be waited for. A retry
/// sends it and has the task wait again.
pub fn cancel(conn: &Connection, id: &str, now: i64) -> Result<Option<OutboxRow>, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "UPDATE outbox SET status = 'cancelled', last_error = ?3, lease_until = NULL, \
             updated_at = ?2 WHERE id = ?1 AND status IN ('pending', 'retrying') \
             RETURNING {COLUMNS}"
        ))?
        .query_row(params![id, now, CANCELLED_BY_HAND], from_row)
        .optional()?;
    if let Some(row) = &row
        && row.action == "ask"
        && let Some(task_id) = &row.task_id
    {
        let why = format!("{}: {CANCELLED_BY_HAND}", super::tasks::QUESTION_NOT_POSTED);
        super::tasks::fail_waiting(conn, task_id, &why, now)?;
    }
    if let Some(event_id) = row.as_ref().and_then(|r| r.event_id.as_deref()) {
        super::events::settle(conn, event_id)?;
    }
    Ok(row)
}

/// Which actions to list; all optional.
#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    pub status: Option<String>,
    pub webhook_id: Option<String>,
    pub task_id: Option<String>,
    /// Only actions older than this one (the page cursor).
    pub before_id: Option<String>,
    pub limit: u32,
}

/// Actions, newest first (their ids are time-ordered).
pub fn list(conn: &Connection, filter: &ActionFilter) -> Result<Vec<OutboxRow>, StoreError> {
    let (sql, values) = list_query(filter);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The list's statement with only the filters given: `(?1 IS NULL OR status = ?1)` would
/// keep the planner from the index of each (`outbox_by_status`, `outbox_by_webhook`).
fn list_query(filter: &ActionFilter) -> (String, Vec<rusqlite::types::Value>) {
    let mut sql = format!("SELECT {COLUMNS} FROM outbox WHERE 1 = 1");
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    let given = [
        ("status", filter.status.clone()),
        ("webhook_id", filter.webhook_id.clone()),
        ("task_id", filter.task_id.clone()),
    ];
    for (column, value) in given {
        if let Some(value) = value {
            values.push(value.into());
            sql.push_str(&format!(" AND {column} = ?{}", values.len()));
        }
    }
    if let Some(before) = &filter.before_id {
        values.push(before.clone().into());
        sql.push_str(&format!(" AND id < ?{}", values.len()));
    }
    values.push(filter.limit.into());
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", values.len()));
    (sql, values)
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AttemptRow {
    pub attempt: i64,
    pub started_at: i64,
    pub latency_ms: i64,
    pub http_status: Option<i64>,
    pub outcome: String,
    pub error: Option<String>,
}

pub fn attempts(conn: &Connection, outbox_id: &str) -> Result<Vec<AttemptRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT attempt, started_at, latency_ms, http_status, outcome, error FROM outbox_attempts \
         WHERE outbox_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([outbox_id], |r| {
        Ok(AttemptRow {
            attempt: r.get(0)?,
            started_at: r.get(1)?,
            latency_ms: r.get(2)?,
            http_status: r.get(3)?,
            outcome: r.get(4)?,
            error: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whose replies an announcement is compared with: the webhook's own, and other webhooks' of
/// the same provider (two webhooks on one repository, a project's and its group's, hear each
/// other's comments): by id alone where ids name one thing on every site (GitHub's comment
/// pages, Linear's UUIDs); where a site numbers its comments (Jira, GitLab), by id on the
/// same thread of the same site, as another site's comment with that number is not ours.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    pub provider: &'a str,
    pub webhook_id: &'a str,
    pub ids_name_one_thing: bool,
    /// The thread the announcement is on.
    pub source_key: Option<&'a str>,
    /// The site it came from (see [`site_of`]).
    pub site: Option<&'a str>,
}

impl Scope<'_> {
    /// Whether a reply planned for an event of `webhook_id` (of `provider`, from the site its
    /// delivery's address names; `same_thread` when on this announcement's thread) may be the
    /// post announced in this scope.
    fn takes(
        &self,
        webhook_id: Option<&str>,
        provider: Option<&str>,
        address: Option<&str>,
        same_thread: bool,
    ) -> bool {
        if webhook_id == Some(self.webhook_id) {
            return true;
        }
        if provider != Some(self.provider) {
            return false;
        }
        if self.ids_name_one_thing {
            return true;
        }
        let same_site = match (self.site, address) {
            (Some(site), Some(address)) => site_of(self.provider, address).as_deref() == Some(site),
            _ => false,
        };
        same_site && same_thread
    }
}

/// Where in a delivery of `provider` the address of the site it came from is, for providers
/// whose sites number comments each their own way: GitLab's project page, Jira's issue. As a
/// JSON path (for the store) and a JSON pointer (for a payload at hand).
pub fn site_address_at(provider: &str) -> Option<(&'static str, &'static str)> {
    match provider {
        "gitlab" => Some(("$.project.web_url", "/project/web_url")),
        "jira" => Some(("$.issue.self", "/issue/self")),
        _ => None,
    }
}

/// Whether a reply in `scope` (a comment, question or response) posted the item the other
/// side calls by one of `remote_ids`, or, with `any_webhook`, a `post_message` did (a channel
/// several webhooks post to). Other actions' ids are not compared: a Telegram message id and
/// a Jira comment id can be the same small number.
pub fn posted(
    conn: &Connection,
    scope: &Scope<'_>,
    remote_ids: &[String],
    any_webhook: bool,
) -> Result<bool, StoreError> {
    // The few rows that recorded the id (outbox_by_remote), weighed by `Scope::takes`.
    let mut stmt = conn.prepare_cached(
        "SELECT o.action, o.webhook_id, e.provider, e.source_key, \
                CASE WHEN ?2 IS NOT NULL AND json_valid(CAST(e.body AS TEXT)) \
                     THEN json_extract(CAST(e.body AS TEXT), ?2) END \
         FROM outbox o LEFT JOIN events e ON e.id = o.event_id WHERE o.remote_id = ?1",
    )?;
    let site_at = site_address_at(scope.provider).map(|(path, _)| path);
    for id in remote_ids {
        let rows = stmt.query_map(params![id, site_at], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        for row in rows {
            let (action, webhook_id, provider, source_key, address) = row?;
            let ours = match action.as_str() {
                "ask" | "comment" | "respond" => scope.takes(
                    webhook_id.as_deref(),
                    provider.as_deref(),
                    address.as_deref(),
                    source_key.is_some() && source_key.as_deref() == scope.source_key,
                ),
                "post_message" => any_webhook,
                _ => false,
            };
            if ours {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The query of [`unconfirmed_channel_texts`].
fn unconfirmed_channel_sql() -> String {
    format!(
        "{} SELECT o.id, o.delivery, {}, o.status = 'dead' \
         FROM outbox o \
         WHERE o.id IN (SELECT id FROM uncertain) AND o.action = 'post_message' \
         AND json_valid(o.delivery) \
         AND json_extract(o.delivery, '$.message_kind') = 'openwebui' \
         ORDER BY o.id DESC LIMIT 50",
        uncertain_rows("?1", "('post_message')"),
        sent_unanswered("?1")
    )
}

/// What Open WebUI channel messages that may be in a channel unannounced say (any webhook's
/// `post_message`): those still on their way (sent or being sent with no answer recorded
/// yet), as a channel announces a post before its sender has read the answer naming it; and
/// those with an attempt since `since` that went out and heard no answer, whose post may be
/// there beside the one a later attempt delivered, as `unconfirmed_texts_on_source` has it
/// for comments (and those delivered since `since` with an answer that named no post). Such an attempt makes one still to be sent sent unanswered (see
/// `sent_unanswered`).
pub fn unconfirmed_channel_texts(
    conn: &Connection,
    since: i64,
) -> Result<Vec<Unconfirmed>, StoreError> {
    // Posts to an Open WebUI channel only (a Discord or Slack message is not announced by
    // Open WebUI), picked before the limit, which other targets' rows would fill.
    let mut stmt = conn.prepare_cached(&unconfirmed_channel_sql())?;
    let rows = stmt.query_map([since], |r| {
        Ok((
            r.get(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, bool>(2)?,
            r.get::<_, bool>(3)?,
        ))
    })?;
    let mut found = Vec::new();
    for row in rows {
        let (action_id, delivery, sent_unanswered, dead) = row?;
        if let Some(text) = text_of(delivery) {
            found.push(Unconfirmed {
                action_id,
                text,
                sent_unanswered,
                dead,
            });
        }
    }
    Ok(found)
}

/// The issue's id a Linear or Jira event `e` names, which a reply keeps as its
/// `thread_issue_id` (Jira events stored before migration 0022 name it as `id` only);
/// migration 0027 reckons it alike for the replies stored before.
const EVENT_ISSUE_ID: &str = "(CASE WHEN e.provider IN ('linear', 'jira') AND json_valid(e.source) \
         THEN CASE e.provider \
         WHEN 'linear' THEN json_extract(e.source, '$.detail.issue_id') \
         ELSE coalesce(json_extract(e.source, '$.detail.issue_id'), \
                       CAST(json_extract(e.source, '$.detail.id') AS TEXT)) END END)";

/// The two ways [`unconfirmed_texts_on_source`] finds the replies to compare: each reads rows
/// in proportion to one number that can grow large, so the one with fewer is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// From the replies that may be unannounced anywhere: those on their way and those with
    /// an attempt of the last day that heard no answer (`outbox_unconfirmed`,
    /// `outbox_attempts_unanswered`). Few, until a provider answers 5xx for a day: 3.5k such
    /// attempts cost 45 ms of the single writer's time per incoming comment.
    Uncertain,
    /// From the replies on the thread, by the thread key (or the issue's id) each reply keeps
    /// of its event (`outbox_by_thread`, `outbox_by_issue_id`), and only then their attempts.
    /// Few, but for a thread we replied on thousands of times; a thread's events that got no
    /// reply (a pull request's check runs) are not read.
    Thread,
}

/// How many of each way's rows are counted at most before the way is chosen: past it, both
/// are large, and the thread is taken (each of its rows costs less than an uncertain one's).
const WAY_COUNT_CAP: i64 = 2048;

/// Counts, up to `?1`, the rows each [`Way`] would start from: the uncertain replies (`?2`
/// is `since`), and the replies on the thread (`?3` its key, `?4` the issue's id). Read from
/// indexes alone.
const WAY_COUNTS: &str = "SELECT \
     (SELECT COUNT(*) FROM (SELECT 1 FROM outbox_attempts WHERE unanswered = 1 \
          AND action IN ('ask', 'comment', 'respond') AND started_at >= ?2 LIMIT ?1)) \
     + (SELECT COUNT(*) FROM (SELECT 1 FROM outbox \
          WHERE remote_id IS NULL AND status IN ('pending', 'retrying', 'sending') \
            AND action IN ('ask', 'comment', 'respond') LIMIT ?1)), \
     (SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE thread_key = ?3 LIMIT ?1)) \
     + (SELECT COUNT(*) FROM (SELECT 1 FROM outbox \
          WHERE ?4 IS NOT NULL AND thread_issue_id = ?4 LIMIT ?1))";

/// The query of [`unconfirmed_texts_on_source`], the [`Way`] given. Both read the replies of
/// the webhooks in scope only (a deleted webhook's are not compared).
fn unconfirmed_on_source_sql(way: Way) -> String {
    let (with, from, matching) = match way {
        Way::Uncertain => (
            uncertain_rows("?6", REPLIES),
            "outbox o CROSS JOIN events e ON e.id = o.event_id",
            "o.id IN (SELECT id FROM uncertain) \
             AND (o.thread_key = ?2 OR (?4 IS NOT NULL AND o.thread_issue_id = ?4))",
        ),
        Way::Thread => (
            "WITH thread(id) AS ( \
                 SELECT id FROM outbox WHERE thread_key = ?2 \
                 UNION \
                 SELECT id FROM outbox WHERE ?4 IS NOT NULL AND thread_issue_id = ?4)"
                .to_string(),
            "thread t CROSS JOIN outbox o ON o.id = t.id \
             CROSS JOIN events e ON e.id = o.event_id",
            "((o.status IN ('pending', 'retrying', 'sending') AND o.remote_id IS NULL) \
              OR EXISTS (SELECT 1 FROM outbox_attempts a WHERE a.outbox_id = o.id \
                         AND a.unanswered = 1 AND a.started_at >= ?6))",
        ),
    };
    format!(
        "{with} SELECT o.id, o.delivery, {}, o.webhook_id, e.provider, \
                CASE WHEN ?5 IS NOT NULL AND json_valid(CAST(e.body AS TEXT)) \
                     THEN json_extract(CAST(e.body AS TEXT), ?5) END, o.status = 'dead' \
         FROM {from} \
         WHERE {matching} AND o.action IN {REPLIES} \
         AND e.webhook_id IN (SELECT id FROM webhooks WHERE id = ?3 OR provider = ?1) \
         AND (o.webhook_id = ?3 OR e.provider = ?1) \
         ORDER BY o.id DESC LIMIT 50",
        sent_unanswered("?6")
    )
}

/// The way with fewer rows to read for this thread (see [`Way`]).
fn way_for(
    conn: &Connection,
    source_key: &str,
    issue_id: Option<&str>,
    since: i64,
) -> Result<Way, StoreError> {
    let found = params![WAY_COUNT_CAP, since, source_key, issue_id];
    let (uncertain, thread): (i64, i64) = conn
        .prepare_cached(WAY_COUNTS)?
        .query_row(found, |r| Ok((r.get(0)?, r.get(1)?)))?;
    // At a tie (both at the cap, say) the thread, whose rows cost less each.
    Ok(if uncertain < thread {
        Way::Uncertain
    } else {
        Way::Thread
    })
}

/// What replies in `scope` that may be on a source thread unannounced say: those still on
/// their way (sent or being sent, but with no answer recorded yet), whose announcement can
/// come before the id that would know it; and those with an attempt since `since` that went
/// out and heard no answer (a timeout, a send cut off), whose post may be there beside the
/// one a later attempt delivered under another id, announced whenever the provider gets to
/// it; and those delivered since `since` whose answer named no post (its body cut off), known
/// by nothing else. A reply delivered at its first try with its id is known by that id alone,
/// and a person repeating it later is a person.
///
/// `issue_id` is the issue's id an announcement names, where the thread's key may differ: a
/// Linear issue's UUID (the thread is keyed `ENG-78`), a Jira issue's `10121` (keyed `OPS-21`,
/// or by a key it had before it moved). Events stored before migration 0022 name a Jira
/// issue's id as `id` only.
pub fn unconfirmed_texts_on_source(
    conn: &Connection,
    scope: &Scope<'_>,
    source_key: &str,
    issue_id: Option<&str>,
    since: i64,
) -> Result<Vec<Unconfirmed>, StoreError> {
    let way = way_for(conn, source_key, issue_id, since)?;
    unconfirmed_on_source_by(conn, way, scope, source_key, issue_id, since)
}

/// [`unconfirmed_texts_on_source`] the [`Way`] given.
fn unconfirmed_on_source_by(
    conn: &Connection,
    way: Way,
    scope: &Scope<'_>,
    source_key: &str,
    issue_id: Option<&str>,
    since: i64,
) -> Result<Vec<Unconfirmed>, StoreError> {
    let mut stmt = conn.prepare_cached(&unconfirmed_on_source_sql(way))?;
    let site_at = site_address_at(scope.provider).map(|(path, _)| path);
    let found = params![
        scope.provider,
        source_key,
        scope.webhook_id,
        issue_id,
        site_at,
        since
    ];
    let rows = stmt.query_map(found, |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get::<_, bool>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, bool>(6)?,
        ))
    })?;
    let mut found = Vec::new();
    for row in rows {
        let (action_id, delivery, sent_unanswered, webhook_id, provider, address, dead) = row?;
        // On this thread (or, on Linear, this issue) already: another webhook's reply counts
        // as `Scope::takes` says.
        if !scope.takes(
            webhook_id.as_deref(),
            provider.as_deref(),
            address.as_deref(),
            true,
        ) {
            continue;
        }
        if let Some(text) = text_of(delivery) {
            found.push(Unconfirmed {
                action_id,
                text,
                sent_unanswered,
                dead,
            });
        }
    }
    Ok(found)
}

/// A reply on its way, or one that may have posted more than its recorded id, as an
/// announcement is compared with it.
#[derive(Debug, Clone)]
pub struct Unconfirmed {
    pub action_id: String,
    pub text: String,
    /// Sent with no answer heard and still to be settled (see `sent_unanswered`): the post
    /// may be there, and be the one that settles it. A reply never sent, only ever answered
    /// with an error, or settled already, is not.
    pub sent_unanswered: bool,
    /// Dead (refused for good, or its retries spent): sent again only by hand, where one still
    /// to be retried would post again on its own, so a post announced with the words of both
    /// is taken for the latter's.
    pub dead: bool,
}

/// SQL telling whether the outbox row `o` may have made a post no answer named and is still
/// to be settled, so that a post announced with its words can be its: one being sent, one
/// waiting to retry after a send with no answer (not one whose connection was never made), or one still to be sent or dead with an
/// attempt since `since` (a placeholder) that went out and heard no answer, whatever later
/// attempts heard (a timeout, then a 5xx: the first post may be there all the same, and a
/// third send would make another; a timeout, then a 422 or the retries spent: a retry by hand
/// would). Attempts before the row was last delivered are its earlier life's (a question
/// asked again on replay), settled then.
fn sent_unanswered(since: &str) -> String {
    format!(
        "(o.remote_id IS NULL AND (o.status = 'sending' \
             OR (o.status = 'retrying' AND o.last_status IS NULL AND EXISTS ( \
                 SELECT 1 FROM outbox_attempts u WHERE u.outbox_id = o.id AND u.unanswered = 1)) \
             OR (o.status IN ('pending', 'retrying', 'dead') AND EXISTS ( \
                 SELECT 1 FROM outbox_attempts a WHERE a.outbox_id = o.id \
                 AND a.unanswered = 1 AND a.started_at >= {since} \
                 AND a.id > (SELECT COALESCE(MAX(d.id), 0) FROM outbox_attempts d \
                             WHERE d.outbox_id = o.id AND d.outcome = 'delivered')))))"
    )
}

/// A send whose answer was lost (a timeout) but whose post the provider has announced: it
/// gets the post's id, so it is not sent again. A row waiting to be sent again, or dead since
/// (a later attempt refused for good, its retries spent), is made due now, for the worker to
/// record it delivered without sending it (and a retry by hand then finds it delivered); one
/// still being sent keeps its course, and however that attempt ends, `finish` records it
/// delivered. Only a row sent with no answer heard (since `since`, see `sent_unanswered`) can
/// be taken for the post: one never sent, or only ever refused, cannot. Whether a row was
/// taken.
pub fn seen_coming_back(
    conn: &Connection,
    id: &str,
    remote_id: &str,
    since: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(&format!(
            "UPDATE outbox AS o SET remote_id = ?2, updated_at = ?3, \
             status = CASE WHEN status = 'dead' THEN 'retrying' ELSE status END, \
             last_status = CASE WHEN status = 'dead' THEN NULL ELSE last_status END, \
             next_attempt_at = CASE WHEN status = 'sending' THEN next_attempt_at ELSE ?3 END \
             WHERE o.id = ?1 AND {}",
            sent_unanswered("?4")
        ))?
        .execute(params![id, remote_id, now, since])?;
    Ok(n == 1)
}

/// When the row's first attempt since it was last delivered that went out and heard no
/// answer started: the post it may have made could be read from then on.
pub fn first_unanswered_at(conn: &Connection, id: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT MIN(a.started_at) FROM outbox_attempts a WHERE a.outbox_id = ?1 \
             AND a.unanswered = 1 AND a.id > (SELECT COALESCE(MAX(d.id), 0) \
             FROM outbox_attempts d WHERE d.outbox_id = ?1 AND d.outcome = 'delivered')",
        )?
        .query_row([id], |r| r.get(0))?)
}

/// Records who the provider said made the row's post (see `actions::Sent::author`).
pub fn posted_by(conn: &Connection, id: &str, author: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE outbox SET posted_by = ?2 WHERE id = ?1")?
        .execute(params![id, author])?;
    Ok(())
}

/// Whether a post by `author` is known not to be the row's: its webhook's posts were made
/// under some identity the provider named, and never under this one. (Where none was named
/// yet, nothing is known: the words alone decide.)
pub fn posted_by_another(conn: &Connection, id: &str, author: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM outbox o JOIN outbox k ON k.webhook_id = o.webhook_id                             WHERE o.id = ?1 AND k.posted_by IS NOT NULL)                 AND NOT EXISTS (SELECT 1 FROM outbox o                                 JOIN outbox k ON k.webhook_id = o.webhook_id                                 WHERE o.id = ?1 AND k.posted_by = ?2)",
        )?
        .query_row(params![id, author], |r| r.get(0))?)
}

/// A task's actions queued since `since` (ms), oldest first: what a run's tool calls cut off
/// before their results were saved did, or did not, queue.
pub fn of_task_since(
    conn: &Connection,
    task_id: &str,
    since: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE task_id = ?1 AND created_at >= ?2 \
         ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map(params![task_id, since], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The newest question a task has asked (its newest `ask` row), if any.
pub fn newest_ask_of_task(conn: &Connection, task_id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM outbox WHERE task_id = ?1 AND action = 'ask' \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )?
        .query_row([task_id], |r| r.get(0))
        .optional()?)
}

/// The text a planned delivery says: a comment's `body`, a message's `text` (a channel post's
/// `{"text"}` before it is shaped for its channel).
pub(crate) fn text_of(delivery: Option<String>) -> Option<String> {
    let value = serde_json::from_str::<serde_json::Value>(&delivery?).ok()?;
    let text = value
        .get("body")
        .or_else(|| value.get("text"))
        .and_then(|v| v.as_str())?;
    Some(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::retention::tests::migrated;

    fn plan(conn: &Connection, sql: &str, values: impl rusqlite::Params) -> String {
        conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(values, |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("; ")
    }

    fn queue(conn: &Connection, id: &str, action: &str, host: &str, at: i64) {
        conn.execute(
            "INSERT INTO outbox (id, action, target, status, attempts, next_attempt_at, host, \
             delivery, created_at, updated_at) VALUES (?1, ?2, 't', 'pending', 0, ?3, ?4, '{}', \
             0, 0)",
            params![id, action, at, host],
        )
        .unwrap();
    }

    #[test]
    fn a_claim_reads_the_due_rows_in_index_order_not_a_sort_of_them_all() {
        let conn = migrated();
        let claim = plan(&conn, CLAIM_DUE, params![0, "[]", "[]"]);
        // One sort, of the three rows the statuses' own searches found; none of the backlog.
        assert!(!claim.contains("SCAN outbox"), "{claim}");
        assert_eq!(claim.matches("USE TEMP B-TREE").count(), 1, "{claim}");
        assert_eq!(
            claim.matches("USING COVERING INDEX outbox_due").count(),
            2,
            "{claim}"
        );

        // The earliest row whose host has senders to spare, of any status.
        queue(&conn, "act_1", "forward", "busy:443", 1);
        queue(&conn, "act_2", "forward", "busy:443", 2);
        queue(&conn, "act_3", "comment", "free:443", 3);
        conn.execute(
            "UPDATE outbox SET status = 'retrying' WHERE id = 'act_3'",
            [],
        )
        .unwrap();
        let claimed = claim_due(&conn, 10, 100, &["busy:443".into()], &[]).unwrap();
        assert_eq!(claimed.map(|r| r.id).as_deref(), Some("act_3"));
        let claimed = claim_due(&conn, 10, 100, &[], &["act_1".into()]).unwrap();
        assert_eq!(claimed.map(|r| r.id).as_deref(), Some("act_2"));

        // When the next one falls due, read the same way.
        let next = plan(&conn, NEXT_DUE_AT, params!["[]", "[]"]);
        assert!(!next.contains("SCAN outbox"), "{next}");
        assert_eq!(
            next.matches("USING COVERING INDEX outbox_due").count(),
            2,
            "{next}"
        );
        conn.execute("UPDATE outbox SET lease_until = 7 WHERE id = 'act_2'", [])
            .unwrap();
        let due = |full: &[String]| next_due_at(&conn, full, &[]).unwrap();
        // act_1 pending at 1, act_2 (busy) and act_3 (free) claimed above, leased until 7
        // and 100.
        assert_eq!(due(&[]), Some(1));
        assert_eq!(due(&["busy:443".into()]), Some(100));
        assert_eq!(due(&["busy:443".into(), "free:443".into()]), None);
    }

    #[test]
    fn each_list_filter_searches_an_index_in_the_lists_order() {
        let conn = migrated();
        let filter = |status: Option<&str>, webhook: Option<&str>| ActionFilter {
            status: status.map(str::to_string),
            webhook_id: webhook.map(str::to_string),
            task_id: None,
            before_id: Some("act_9".into()),
            limit: 10,
        };
        // A task's few actions are found by its index (and sorted, being few).
        let of_task = ActionFilter {
            task_id: Some("task_1".into()),
            ..filter(None, None)
        };
        let (sql, values) = list_query(&of_task);
        let planned = plan(&conn, &sql, params_from_iter(values));
        assert!(planned.contains("outbox_by_task"), "{planned}");
        for (given, index) in [
            (filter(Some("dead"), None), "outbox_by_status"),
            (filter(None, Some("gh")), "outbox_by_webhook"),
        ] {
            let (sql, values) = list_query(&given);
            let planned = plan(&conn, &sql, params_from_iter(values));
            assert!(planned.contains(index), "{planned}");
            assert!(!planned.contains("TEMP B-TREE"), "{planned}");
        }
        queue(&conn, "act_1", "forward", "h:443", 1);
        let listed = list(&conn, &filter(Some("pending"), None)).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(list(&conn, &filter(Some("dead"), None)).unwrap().is_empty());
    }

    #[test]
    fn a_channel_post_looks_only_at_posts_on_their_way_not_a_backlog_of_other_actions() {
        let conn = migrated();
        let planned = plan(&conn, &unconfirmed_channel_sql(), params![0]);
        assert!(planned.contains("outbox_unconfirmed"), "{planned}");
        // Only the channel posts' unanswered attempts, not a day of comments timing out.
        assert!(
            planned.contains("INDEX outbox_attempts_unanswered (action=? AND started_at>?)"),
            "{planned}"
        );
        assert!(!planned.contains("SCAN outbox"), "{planned}");
    }

    #[test]
    fn a_comment_is_compared_by_indexes_alone_either_way() {
        let conn = migrated();
        let values = || params!["jira", "OPS-21", "jr", "10121", None::<String>, 0];
        let by_thread = plan(&conn, &unconfirmed_on_source_sql(Way::Thread), values());
        for index in [
            "COVERING INDEX outbox_by_thread",
            "COVERING INDEX outbox_by_issue_id",
            "outbox_attempts_by_row",
        ] {
            assert!(by_thread.contains(index), "{index} unused: {by_thread}");
        }
        assert!(
            !by_thread.contains("outbox_attempts_unanswered"),
            "{by_thread}"
        );
        let by_uncertain = plan(&conn, &unconfirmed_on_source_sql(Way::Uncertain), values());
        for index in ["outbox_unconfirmed", "outbox_attempts_unanswered"] {
            assert!(
                by_uncertain.contains(index),
                "{index} unused: {by_uncertain}"
            );
        }
        let counts = plan(&conn, WAY_COUNTS, params![8, 0, "OPS-21", "10121"]);
        // Only the webhooks (a few rows) and the rows each way starts from are read whole.
        for planned in [by_thread, by_uncertain, counts] {
            for step in planned.split("; ") {
                let scanned = step.strip_prefix("SCAN ").map(|s| s.split(' ').next());
                let fine = match scanned {
                    None => true,
                    Some(Some(name)) => {
                        ["webhooks", "t", "scoped", "uncertain", "CONSTANT"].contains(&name)
                            || name.starts_with("(subquery-")
                    }
                    Some(None) => false,
                };
                assert!(fine, "{step}: {planned}");
            }
        }
    }

    /// The events of [`threads_with_replies`]: id, webhook, provider, thread key, source.
    const THREAD_EVENTS: [(&str, &str, &str, &str, &str); 10] = [
        ("evt_1", "gh", "github", "o/r#1", "{}"),
        ("evt_2", "gh", "github", "o/r#1", "{}"),
        ("evt_3", "gh2", "github", "o/r#1", "{}"),
        ("evt_4", "gh", "github", "o/r#2", r#"{"detail":{"id":4}}"#),
        ("evt_5", "sl", "slack", "o/r#1", "{}"),
        ("evt_6", "gone", "github", "o/r#1", "{}"),
        (
            "evt_7",
            "jr",
            "jira",
            "OPS-21",
            r#"{"detail":{"issue_id":"10121"}}"#,
        ),
        (
            "evt_8",
            "jr",
            "jira",
            "APP-3",
            r#"{"detail":{"issue_id":"10121"}}"#,
        ),
        ("evt_9", "jr", "jira", "APP-4", r#"{"detail":{"id":10121}}"#),
        (
            "evt_a",
            "jr",
            "jira",
            "APP-5",
            r#"{"detail":{"issue_id":"777"}}"#,
        ),
    ];

    /// Each event's replies: on their way, delivered, dead, and another action kind.
    const REPLY_STATES: [(&str, Option<&str>, &str); 7] = [
        ("pending", None, "comment"),
        ("retrying", None, "ask"),
        ("sending", None, "respond"),
        ("delivered", Some("https://x/1"), "comment"),
        ("delivered", None, "comment"),
        ("dead", None, "comment"),
        ("pending", None, "forward"),
    ];

    fn thread_events(conn: &Connection) {
        for (id, webhook, provider, key, source) in THREAD_EVENTS {
            conn.execute(
                "INSERT INTO events (id, webhook_id, provider, verified, verification, status, \
                 headers, body, received_at, source_key, source) \
                 VALUES (?1, ?2, ?3, 1, 'current', 'matched', '{}', x'7b7d', 0, ?4, ?5)",
                params![id, webhook, provider, key, source],
            )
            .unwrap();
        }
    }

    /// The replies of [`REPLY_STATES`] to each of [`THREAD_EVENTS`], as they would be stored.
    fn thread_replies() -> impl Iterator<Item = OutboxRow> {
        THREAD_EVENTS.into_iter().flat_map(|(event, webhook, ..)| {
            REPLY_STATES
                .into_iter()
                .enumerate()
                .map(move |(n, (status, remote, action))| {
                    let id = format!("act_{event}_{n}");
                    OutboxRow {
                        delivery: Some(format!(r#"{{"text":"{id}"}}"#)),
                        id,
                        event_id: Some(event.into()),
                        webhook_id: Some(webhook.into()),
                        command_id: None,
                        task_id: None,
                        action: action.into(),
                        target: "t".into(),
                        host: "h".into(),
                        status: status.into(),
                        attempts: 0,
                        next_attempt_at: 0,
                        last_error: None,
                        last_status: None,
                        remote_id: remote.map(Into::into),
                        created_at: 0,
                        updated_at: 0,
                        lease_until: None,
                    }
                })
        })
    }

    /// Webhooks, their events on threads, replies to them in every state, and attempts: what
    /// both ways of [`unconfirmed_texts_on_source`] must find alike.
    fn threads_with_replies(conn: &Connection) {
        conn.execute_batch(
            "INSERT INTO webhooks (id, name, provider, secret, created_at, updated_at) VALUES
                 ('gh', 'a', 'github', 's', 0, 0), ('gh2', 'b', 'github', 's', 0, 0),
                 ('jr', 'c', 'jira', 's', 0, 0), ('sl', 'd', 'slack', 's', 0, 0);",
        )
        .unwrap();
        thread_events(conn);
        for (n, reply) in thread_replies().enumerate() {
            assert!(insert(conn, &reply).unwrap());
            // Every other one heard no answer once, some of them before `since`.
            let n = n % REPLY_STATES.len();
            if n % 2 == 1 || reply.status == "delivered" {
                let started = if n == 3 { 50 } else { 500 };
                conn.execute(
                    "INSERT INTO outbox_attempts (outbox_id, attempt, started_at, \
                     latency_ms, outcome, unanswered, action) \
                     VALUES (?1, 1, ?2, 1, 'retry', 1, ?3)",
                    params![reply.id, started, reply.action],
                )
                .unwrap();
            }
        }
    }

    #[test]
    fn replies_stored_before_0027_get_the_thread_and_action_those_stored_now_get() {
        let thread_of = |conn: &Connection| {
            conn.prepare("SELECT id, thread_key, thread_issue_id FROM outbox ORDER BY id")
                .unwrap()
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        };
        // Stored now.
        let now = migrated();
        thread_events(&now);
        for reply in thread_replies() {
            insert(&now, &reply).unwrap();
        }
        // Stored by a build before 0027, then migrated.
        let mut before = Connection::open_in_memory().unwrap();
        crate::store::migrate::migrate_to(&before, 26);
        thread_events(&before);
        for o in thread_replies() {
            before
                .execute(
                    "INSERT INTO outbox (id, event_id, webhook_id, action, delivery, target, \
                     status, next_attempt_at, remote_id, created_at, updated_at, host) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 't', ?6, 0, ?7, 0, 0, 'h')",
                    params![
                        o.id,
                        o.event_id,
                        o.webhook_id,
                        o.action,
                        o.delivery,
                        o.status,
                        o.remote_id
                    ],
                )
                .unwrap();
            before
                .execute(
                    "INSERT INTO outbox_attempts (outbox_id, attempt, started_at, latency_ms, \
                     outcome, unanswered) VALUES (?1, 1, 0, 1, 'retry', 1)",
                    [&o.id],
                )
                .unwrap();
        }
        crate::store::migrate(&mut before, std::path::Path::new(":memory:")).unwrap();
        // Each unanswered attempt names its row's action, as one recorded now does.
        let unnamed: i64 = before
            .query_row(
                "SELECT COUNT(*) FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id \
                 WHERE a.action IS NOT o.action",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(unnamed, 0);

        let stored = thread_of(&now);
        assert_eq!(thread_of(&before), stored);
        let with = |id: &str| stored.iter().find(|(i, ..)| i == id).unwrap().clone();
        let (_, key, issue) = with("act_evt_9_1");
        assert_eq!(
            (key.as_deref(), issue.as_deref()),
            (Some("APP-4"), Some("10121"))
        );
        // A forward is no reply; a GitHub event's `id` is no issue's id.
        assert_eq!(with("act_evt_9_6").1, None);
        assert_eq!(with("act_evt_4_0").2, None);
    }

    #[test]
    fn both_ways_find_the_same_replies_on_a_thread() {
        let conn = migrated();
        threads_with_replies(&conn);
        let asked = [
            ("github", "gh", "o/r#1", None, false),
            ("github", "gh2", "o/r#1", None, true),
            ("github", "gh", "o/r#2", None, false),
            ("github", "gh", "o/r#9", None, false),
            ("slack", "sl", "o/r#1", None, false),
            ("jira", "jr", "OPS-21", Some("10121"), false),
            ("jira", "jr", "OPS-21", None, false),
            ("jira", "jr", "APP-5", Some("777"), false),
        ];
        let mut found_any = 0;
        for (provider, webhook_id, key, issue_id, ids_name_one_thing) in asked {
            let scope = Scope {
                provider,
                webhook_id,
                ids_name_one_thing,
                source_key: Some(key),
                site: None,
            };
            let texts = |way| {
                unconfirmed_on_source_by(&conn, way, &scope, key, issue_id, 100)
                    .unwrap()
                    .into_iter()
                    .map(|u| (u.text, u.sent_unanswered, u.dead))
                    .collect::<Vec<_>>()
            };
            let (by_thread, by_uncertain) = (texts(Way::Thread), texts(Way::Uncertain));
            assert_eq!(by_thread, by_uncertain, "{webhook_id} {key} {issue_id:?}");
            assert!(by_thread.iter().all(|(text, ..)| !text.contains("evt_6")));
            found_any += usize::from(!by_thread.is_empty());
        }
        assert!(found_any >= 5, "{found_any}");

        // Jira's issue found by its id on three keys; its events' pending, retrying, sending,
        // id-less delivered and dead replies, not the delivered one with an id heard before
        // `since`, nor a forward.
        let scope = Scope {
            provider: "jira",
            webhook_id: "jr",
            ids_name_one_thing: false,
            source_key: Some("OPS-21"),
            site: None,
        };
        let found = unconfirmed_texts_on_source(&conn, &scope, "OPS-21", Some("10121"), 100);
        let mut texts: Vec<String> = found.unwrap().into_iter().map(|u| u.text).collect();
        texts.sort();
        let want: Vec<String> = ["evt_7", "evt_8", "evt_9"]
            .iter()
            .flat_map(|e| [0, 1, 2, 4, 5].map(|n| format!("act_{e}_{n}")))
            .collect();
        assert_eq!(texts, want);
    }

    #[test]
    fn the_way_with_fewer_rows_to_read_is_taken() {
        let conn = migrated();
        threads_with_replies(&conn);
        // Fifteen replies on o/r#1; far more uncertain everywhere.
        assert_eq!(way_for(&conn, "o/r#1", None, 100).unwrap(), Way::Thread);
        // No reply on o/r#9.
        assert_eq!(way_for(&conn, "o/r#9", None, 100).unwrap(), Way::Thread);
        // A thread of many events and no reply (a pull request's check runs) has nothing to
        // read; many replies on it, as many as are uncertain: the uncertain ones.
        conn.execute_batch(
            "UPDATE outbox SET status = 'delivered', remote_id = id; \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2100) \
             INSERT INTO events (id, webhook_id, provider, verified, verification, status, \
                 headers, body, received_at, source_key) \
             SELECT 'evt_big' || i, 'gh', 'github', 1, 'current', 'matched', '{}', x'7b7d', 0, \
                 'o/r#big' FROM n; \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) \
             INSERT INTO outbox_attempts (outbox_id, attempt, started_at, latency_ms, outcome, \
                 unanswered, action) SELECT 'act_elsewhere', i, 500, 1, 'retry', 1, 'comment' \
                 FROM n;",
        )
        .unwrap();
        assert_eq!(way_for(&conn, "o/r#big", None, 100).unwrap(), Way::Thread);
        conn.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) \
             INSERT INTO outbox (id, event_id, webhook_id, action, target, status, \
                 next_attempt_at, remote_id, created_at, updated_at, thread_key) \
             SELECT 'act_big' || i, 'evt_big' || i, 'gh', 'comment', 't', 'delivered', 0, \
                 'r' || i, 0, 0, 'o/r#big' FROM n;",
        )
        .unwrap();
        assert_eq!(
            way_for(&conn, "o/r#big", None, 100).unwrap(),
            Way::Uncertain
        );
        // A Jira issue's replies counted by its id too.
        assert_eq!(
            way_for(&conn, "OPS-99", Some("10121"), 100).unwrap(),
            Way::Thread
        );
        // Both at the cap: the thread.
        conn.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2100) \
             INSERT INTO outbox_attempts (outbox_id, attempt, started_at, latency_ms, outcome, \
                 unanswered, action) \
                 SELECT 'act_elsewhere', 300 + i, 500, 1, 'retry', 1, 'comment' FROM n; \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2100) \
             INSERT INTO outbox (id, event_id, webhook_id, action, target, status, \
                 next_attempt_at, remote_id, created_at, updated_at, thread_key) \
             SELECT 'act_bigger' || i, 'evt_big' || i, 'gh', 'comment', 't', 'delivered', 0, \
                 'r' || i, 0, 0, 'o/r#big' FROM n;",
        )
        .unwrap();
        assert_eq!(way_for(&conn, "o/r#big", None, 100).unwrap(), Way::Thread);
        // With nothing uncertain, that way reads nothing.
        conn.execute_batch(
            "DELETE FROM outbox_attempts; \
             UPDATE outbox SET status = 'delivered', remote_id = id;",
        )
        .unwrap();
        assert_eq!(way_for(&conn, "o/r#1", None, 100).unwrap(), Way::Uncertain);
    }
}
