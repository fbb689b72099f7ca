//! SQL for letting old events go (`WEBHOOK_MCP_EVENT_RETENTION_DAYS`): an event received
//! before the cutoff whose work has all ended is deleted with its tasks, its actions, their
//! attempts and the reply lookups that name any of them. One call is one small write, so the
//! receive path's group commit never waits long behind it. Actions no event holds go by
//! [`eventless`].

pub mod eventless;

use rusqlite::{Connection, params};

use super::StoreError;

/// Task statuses that are over; any other (`queued`, `running`, `waiting_reply`, or one a
/// later version adds) keeps its event.
const TASK_ENDED: &str = "('done', 'failed', 'cancelled')";

/// Action statuses that are over; any other (`pending`, `sending`, `retrying`, or one a later
/// version adds) keeps its event.
const ACTION_ENDED: &str = "('delivered', 'dead', 'cancelled')";

/// How much one write lets go at most: this many events, or their bodies to this many bytes
/// (deleting a body frees every page it fills, so a few large ones weigh like many small);
/// [`eventless`] counts actions and their deliveries by the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub events: usize,
    pub body_bytes: i64,
    /// Events looked at, deleted or not: old ones still at work are passed over each sweep.
    pub looked_at: u32,
}

/// What the sweep uses: a few hundred events, or 8 MiB of bodies, per write.
pub const BUDGET: Budget = Budget {
    events: 256,
    body_bytes: 8 * 1024 * 1024,
    looked_at: 1024,
};

/// How many events (or audit entries) received since the cutoff, one after another, end a
/// sweep. Time order is what makes a sweep stop early, and a clock step can break it for a
/// few; a run this long is the young end of the log.
pub const YOUNG_RUN: usize = 64;

/// What one write let go, and where the next one takes up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    pub events: usize,
    pub tasks: usize,
    pub actions: usize,
    /// The row number of the last event looked at: the next write starts after it.
    pub last_row: i64,
    /// Nothing older than the cutoff is left past `last_row`.
    pub finished: bool,
}

/// Whether the event `e`'s work has all ended: no task of it, no action of it or of its
/// tasks, and no task it answered is still at work. Nor may what goes with it belong to
/// another event that stays (`?2`, the cutoff): a reply to its task received since (the
/// lookup that tells a replay of that reply it answered something goes with the task), an
/// action of its task posted for a younger event, or an action of it posted for another
/// event's task that is at work or young.
fn work_ended() -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM tasks t WHERE t.event_id = e.id \
                     AND t.status NOT IN {TASK_ENDED}) \
         AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.id \
                         AND o.status NOT IN {ACTION_ENDED}) \
         AND NOT EXISTS (SELECT 1 FROM tasks t JOIN outbox o ON o.task_id = t.id \
                         WHERE t.event_id = e.id AND o.status NOT IN {ACTION_ENDED}) \
         AND NOT EXISTS (SELECT 1 FROM task_replies r JOIN tasks t ON t.id = r.task_id \
                         WHERE r.event_id = e.id AND t.status NOT IN {TASK_ENDED}) \
         AND NOT EXISTS (SELECT 1 FROM tasks t JOIN task_replies r ON r.task_id = t.id \
                         JOIN events re ON re.id = r.event_id \
                         WHERE t.event_id = e.id AND re.received_at >= ?2) \
         AND NOT EXISTS (SELECT 1 FROM tasks t JOIN outbox o ON o.task_id = t.id \
                         JOIN events oe ON oe.id = o.event_id \
                         WHERE t.event_id = e.id AND oe.id <> e.id AND oe.received_at >= ?2) \
         AND NOT EXISTS (SELECT 1 FROM outbox o JOIN tasks t ON t.id = o.task_id \
                         JOIN events te ON te.id = t.event_id \
                         WHERE o.event_id = e.id AND t.event_id <> e.id \
                         AND (t.status NOT IN {TASK_ENDED} OR te.received_at >= ?2))"
    )
}

/// The events after row `after`, oldest first, up to the newest (never included): their row
/// number, id, received time, body size and, for those received before the cutoff, whether
/// their work has ended.
fn candidates() -> String {
    format!(
        "SELECT e.rowid, e.id, e.received_at, length(e.body), \
                CASE WHEN e.received_at < ?2 THEN {} END \
         FROM events e WHERE e.rowid > ?1 AND e.rowid < ?3 ORDER BY e.rowid LIMIT ?4",
        work_ended()
    )
}

/// Deletes, within `budget`, events after row `after` received before `cutoff` (unix ms)
/// whose work has ended, with everything that belongs to them.
///
/// Events are read in the order they were stored (row number), and [`YOUNG_RUN`] received
/// since the cutoff in a row end the sweep: they arrive in time order, so what comes after
/// them is younger still. One young among old ones is passed over, not taken for the end: it
/// would keep every later event, however old, until its own time came; and those stamped
/// later than `now` (by a clock that was ahead, and was set back since) are not counted
/// towards a run, however many there are. The
/// newest event is never deleted, however old: watchers find new events by row number
/// (`events::committed_after`), and SQLite would give its number to the next one.
pub fn expire(
    conn: &Connection,
    cutoff: i64,
    now: i64,
    after: i64,
    budget: Budget,
) -> Result<Expired, StoreError> {
    let newest = super::events::last_row(conn)?;
    let mut expired = Expired {
        last_row: after,
        ..Expired::default()
    };
    let mut ids: Vec<String> = Vec::new();
    let mut bytes = 0i64;
    let mut looked_at = 0u32;
    {
        let mut stmt = conn.prepare_cached(&candidates())?;
        let mut rows = stmt.query(params![after, cutoff, newest, budget.looked_at])?;
        let mut young = 0;
        while let Some(row) = rows.next()? {
            looked_at += 1;
            let received_at: i64 = row.get(2)?;
            if received_at >= cutoff {
                // Stamped later than now (by a clock that was ahead): not of the young end,
                // however many there are.
                young += usize::from(received_at <= now);
                if young >= YOUNG_RUN {
                    expired.finished = true;
                    break;
                }
                expired.last_row = row.get(0)?;
                continue;
            }
            young = 0;
            expired.last_row = row.get(0)?;
            if row.get::<_, Option<bool>>(4)? == Some(true) {
                ids.push(row.get(1)?);
                bytes += row.get::<_, Option<i64>>(3)?.unwrap_or(0);
                if ids.len() >= budget.events || bytes >= budget.body_bytes {
                    break;
                }
            }
        }
        // Fewer rows than asked for: the newest was reached.
        if !expired.finished && ids.len() < budget.events && bytes < budget.body_bytes {
            expired.finished = looked_at < budget.looked_at;
        }
    }
    if ids.is_empty() {
        return Ok(expired);
    }
    let events = serde_json::to_string(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let tasks: Vec<String> = conn
        .prepare_cached("SELECT id FROM tasks WHERE event_id IN (SELECT value FROM json_each(?1))")?
        .query_map([&events], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let tasks = serde_json::to_string(&tasks).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let actions: Vec<String> = conn
        .prepare_cached(
            "SELECT id FROM outbox WHERE event_id IN (SELECT value FROM json_each(?1)) \
             UNION SELECT id FROM outbox \
                   WHERE task_id IS NOT NULL AND task_id IN (SELECT value FROM json_each(?2))",
        )?
        .query_map([&events, &tasks], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let actions =
        serde_json::to_string(&actions).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    expired.actions = delete_actions(conn, &actions)?;
    // The lookups of replies these events were, and of replies to these tasks (the foreign
    // key would take the latter too, where it is on).
    conn.prepare_cached(
        "DELETE FROM task_replies WHERE event_id IN (SELECT value FROM json_each(?1))",
    )?
    .execute([&events])?;
    conn.prepare_cached(
        "DELETE FROM task_replies WHERE task_id IN (SELECT value FROM json_each(?1))",
    )?
    .execute([&tasks])?;
    expired.tasks = conn
        .prepare_cached("DELETE FROM tasks WHERE id IN (SELECT value FROM json_each(?1))")?
        .execute([&tasks])?;
    expired.events = conn
        .prepare_cached("DELETE FROM events WHERE id IN (SELECT value FROM json_each(?1))")?
        .execute([&events])?;
    Ok(expired)
}

/// Deletes the actions named in `ids` (a JSON array) with their attempts; how many went.
fn delete_actions(conn: &Connection, ids: &str) -> Result<usize, StoreError> {
    conn.prepare_cached(
        "DELETE FROM outbox_attempts WHERE outbox_id IN (SELECT value FROM json_each(?1))",
    )?
    .execute([ids])?;
    Ok(conn
        .prepare_cached("DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?1))")?
        .execute([ids])?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(super) const OLD: i64 = 1_000;
    pub(super) const CUTOFF: i64 = 5_000;
    const NEW: i64 = 9_000;
    const NOW: i64 = 10_000;

    pub(crate) fn migrated() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        conn
    }

    pub(super) fn add_event(conn: &Connection, id: &str, received_at: i64) {
        conn.execute(
            "INSERT INTO events (id, webhook_id, provider, verified, verification, status, \
             headers, body, received_at) VALUES (?1, 'w', 'github', 1, 'current', 'matched', \
             '{}', x'7b7d', ?2)",
            params![id, received_at],
        )
        .unwrap();
    }

    pub(super) fn add_task(conn: &Connection, id: &str, event_id: &str, status: &str) {
        conn.execute(
            "INSERT INTO tasks (id, event_id, webhook_id, agent, prompt, status, created_at, \
             updated_at) VALUES (?1, ?2, 'w', 'a', 'p', ?3, 0, 0)",
            params![id, event_id, status],
        )
        .unwrap();
    }

    pub(super) fn add_action(
        conn: &Connection,
        id: &str,
        event_id: Option<&str>,
        task_id: Option<&str>,
        status: &str,
    ) {
        conn.execute(
            "INSERT INTO outbox (id, event_id, webhook_id, task_id, action, target, status, \
             next_attempt_at, created_at, updated_at) \
             VALUES (?1, ?2, 'w', ?3, 'comment', 't', ?4, 0, 0, 0)",
            params![id, event_id, task_id, status],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO outbox_attempts (outbox_id, attempt, started_at, latency_ms, outcome) \
             VALUES (?1, 1, 0, 1, 'retry')",
            [id],
        )
        .unwrap();
    }

    pub(super) fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Expires everything there is to, then tells whether `evt_x` is still there.
    fn kept(conn: &Connection) -> bool {
        let mut after = 0;
        loop {
            let expired = expire(conn, CUTOFF, NOW, after, BUDGET).unwrap();
            after = expired.last_row;
            if expired.finished {
                break;
            }
        }
        count(conn, "SELECT COUNT(*) FROM events WHERE id = 'evt_x'") == 1
    }

    #[test]
    fn an_old_event_goes_only_once_all_its_work_has_ended() {
        // (received at, its tasks' statuses, its actions' statuses, its tasks' actions'
        // statuses, whether it stays)
        type Case = (
            i64,
            &'static [&'static str],
            &'static [&'static str],
            &'static [&'static str],
            bool,
        );
        let cases: [Case; 14] = [
            (OLD, &[], &[], &[], false),
            (NEW, &[], &[], &[], true),
            (OLD, &["done", "failed", "cancelled"], &[], &[], false),
            (OLD, &["done", "queued"], &[], &[], true),
            (OLD, &["running"], &[], &[], true),
            (OLD, &["waiting_reply"], &[], &[], true),
            (OLD, &["paused_by_a_later_version"], &[], &[], true),
            (OLD, &[], &["delivered", "dead", "cancelled"], &[], false),
            (OLD, &[], &["delivered", "pending"], &[], true),
            (OLD, &[], &["retrying"], &[], true),
            (OLD, &[], &["sending"], &[], true),
            (OLD, &["done"], &[], &["delivered"], false),
            (OLD, &["done"], &[], &["retrying"], true),
            (NEW, &["done"], &["delivered"], &[], true),
        ];
        for (received_at, tasks, actions, task_actions, stays) in cases {
            let conn = migrated();
            add_event(&conn, "evt_x", received_at);
            for (i, status) in tasks.iter().enumerate() {
                add_task(&conn, &format!("task_{i}"), "evt_x", status);
            }
            for (i, status) in actions.iter().enumerate() {
                add_action(&conn, &format!("act_e{i}"), Some("evt_x"), None, status);
            }
            for (i, status) in task_actions.iter().enumerate() {
                add_action(&conn, &format!("act_t{i}"), None, Some("task_0"), status);
            }
            // Never the newest event.
            add_event(&conn, "evt_z", NEW);

            let case = format!("{received_at} {tasks:?} {actions:?} {task_actions:?}");
            assert_eq!(kept(&conn), stays, "{case}");
            let left = count(&conn, "SELECT COUNT(*) FROM tasks")
                + count(&conn, "SELECT COUNT(*) FROM outbox")
                + count(&conn, "SELECT COUNT(*) FROM outbox_attempts");
            let had = tasks.len() + 2 * (actions.len() + task_actions.len());
            assert_eq!(left, if stays { had as i64 } else { 0 }, "{case}");
        }
    }

    #[test]
    fn a_reply_goes_with_its_task_not_while_the_task_is_at_work() {
        for (task_status, stays) in [("queued", true), ("done", false)] {
            let conn = migrated();
            add_event(&conn, "evt_asked", OLD);
            add_task(&conn, "task_a", "evt_asked", task_status);
            add_event(&conn, "evt_x", OLD);
            conn.execute(
                "INSERT INTO task_replies (event_id, task_id) VALUES ('evt_x', 'task_a')",
                [],
            )
            .unwrap();
            add_event(&conn, "evt_z", NEW);

            assert_eq!(kept(&conn), stays, "{task_status}");
            let lookups = count(&conn, "SELECT COUNT(*) FROM task_replies");
            assert_eq!(lookups, i64::from(stays), "{task_status}");
        }
    }

    #[test]
    fn an_old_event_stays_while_what_would_go_with_it_belongs_to_one_that_stays() {
        // (the other event's age, how it is tied to evt_x's work, its task's status)
        let cases = [
            (NEW, "a reply to evt_x's task", "done", true),
            (OLD, "a reply to evt_x's task", "done", false),
            (NEW, "an action of evt_x's task posted for it", "done", true),
            (
                OLD,
                "an action of evt_x's task posted for it",
                "done",
                false,
            ),
            (
                OLD,
                "an action of evt_x posted for its task",
                "running",
                true,
            ),
            (NEW, "an action of evt_x posted for its task", "done", true),
            (OLD, "an action of evt_x posted for its task", "done", false),
        ];
        for (other_at, tie, other_task, stays) in cases {
            let conn = migrated();
            add_event(&conn, "evt_x", OLD);
            add_task(&conn, "task_x", "evt_x", "done");
            add_event(&conn, "evt_o", other_at);
            add_task(&conn, "task_o", "evt_o", other_task);
            match tie {
                "a reply to evt_x's task" => {
                    conn.execute(
                        "INSERT INTO task_replies (event_id, task_id) VALUES ('evt_o', 'task_x')",
                        [],
                    )
                    .unwrap();
                }
                "an action of evt_x's task posted for it" => {
                    add_action(&conn, "act", Some("evt_o"), Some("task_x"), "delivered");
                }
                _ => add_action(&conn, "act", Some("evt_x"), Some("task_o"), "delivered"),
            }
            add_event(&conn, "evt_z", NEW);

            let case = format!("{other_at} {tie} {other_task}");
            assert_eq!(kept(&conn), stays, "{case}");
            if stays {
                let tied = count(&conn, "SELECT COUNT(*) FROM task_replies")
                    + count(&conn, "SELECT COUNT(*) FROM outbox");
                assert_eq!(tied, 1, "{case}");
            }
        }
    }

    #[test]
    fn the_newest_event_stays_however_old_and_one_young_among_old_ones_is_passed_over() {
        let conn = migrated();
        add_event(&conn, "evt_a", OLD);
        // Stamped in the future by a clock that stepped back since.
        add_event(&conn, "evt_b", NEW);
        add_event(&conn, "evt_c", OLD);
        add_event(&conn, "evt_d", OLD);

        let expired = expire(&conn, CUTOFF, NOW, 0, BUDGET).unwrap();

        assert_eq!(expired.events, 2);
        assert!(expired.finished);
        assert_eq!(expired.last_row, 3);
        assert_eq!(left(&conn), ["evt_b", "evt_d"]);
    }

    #[test]
    fn a_run_of_young_events_ends_the_sweep() {
        let conn = migrated();
        add_event(&conn, "evt_a", OLD);
        for i in 0..YOUNG_RUN {
            add_event(&conn, &format!("evt_y{i:03}"), NEW);
        }
        add_event(&conn, "evt_old_behind", OLD);
        add_event(&conn, "evt_newest", OLD);

        let expired = expire(&conn, CUTOFF, NOW, 0, BUDGET).unwrap();

        assert_eq!(expired.events, 1);
        assert!(expired.finished);
        assert!(left(&conn).contains(&"evt_old_behind".to_string()));
    }

    #[test]
    fn events_stamped_later_than_now_end_no_sweep_however_many() {
        // Two bursts from a clock that was ahead, with old events around them.
        let conn = migrated();
        for burst in 0..2 {
            add_event(&conn, &format!("evt_old{burst}"), OLD);
            for i in 0..YOUNG_RUN {
                add_event(&conn, &format!("evt_ahead{burst}_{i:03}"), NOW + 1_000);
            }
        }
        add_event(&conn, "evt_old_last", OLD);
        add_event(&conn, "evt_newest", OLD);

        let expired = expire(&conn, CUTOFF, NOW, 0, BUDGET).unwrap();

        assert_eq!(expired.events, 3);
        assert!(!left(&conn).iter().any(|id| id.starts_with("evt_old")));
    }

    fn left(conn: &Connection) -> Vec<String> {
        conn.prepare("SELECT id FROM events ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn one_write_lets_go_of_no_more_than_its_budget() {
        let conn = migrated();
        for i in 0..10 {
            add_event(&conn, &format!("evt_{i}"), OLD);
        }
        add_task(&conn, "task_busy", "evt_0", "queued");
        let small = Budget {
            events: 3,
            body_bytes: 1 << 20,
            looked_at: 100,
        };

        let first = expire(&conn, CUTOFF, NOW, 0, small).unwrap();
        let second = expire(&conn, CUTOFF, NOW, first.last_row, small).unwrap();
        let third = expire(&conn, CUTOFF, NOW, second.last_row, small).unwrap();

        // evt_0 is at work and passed over; evt_9 is the newest.
        assert_eq!(
            (first.events, first.last_row, first.finished),
            (3, 4, false)
        );
        assert_eq!((second.events, second.last_row), (3, 7));
        assert_eq!((third.events, third.finished), (2, true));
        let by_bytes = expire(
            &conn,
            CUTOFF,
            NOW,
            0,
            Budget {
                events: 100,
                body_bytes: 1,
                looked_at: 100,
            },
        )
        .unwrap();
        assert_eq!(by_bytes.events, 0, "only evt_0 and the newest are left");
    }

    #[test]
    fn the_sweep_finds_an_events_work_by_index_not_by_reading_every_row() {
        let conn = migrated();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", candidates()))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map(params![0, 0, 0, 0], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let plan = plan.join("; ");
        assert!(
            plan.contains("SEARCH e USING INTEGER PRIMARY KEY"),
            "{plan}"
        );
        for table in ["t", "o", "r"] {
            assert!(!plan.contains(&format!("SCAN {table}")), "{plan}");
        }
    }
}
