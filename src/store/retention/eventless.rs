//! SQL for letting old actions go that no event holds (`WEBHOOK_MCP_EVENT_RETENTION_DAYS`):
//! a message posted by hand with no event (`post_message`, `POST /api/messages`) belongs to
//! nothing the event sweep deletes, so it would keep its text forever. Once it has ended and
//! the retention has passed since, it goes with its attempts, one small write at a time.
//!
//! Tasks need no such sweep: every task is made for an event (a command's, or the event an
//! `ask` is on) and goes with it. An action with no event but a task (an agent's message for
//! its task) goes with that task; only one whose task is gone is left to this sweep.
//!
//! No column says when an action ended: `updated_at` is the time it was last changed, which
//! for an ended action is when it ended (or later, which only keeps it longer).

use rusqlite::{Connection, params};

use super::{ACTION_ENDED, Budget};
use crate::store::StoreError;

/// What one write let go, and where the next one takes up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    pub actions: usize,
    /// The row number of the last action looked at: the next write starts after it.
    pub last_row: i64,
    /// No action without an event is left past `last_row`.
    pub finished: bool,
}

/// The actions without an event after row `after`, in row order: their row number, id, size
/// and whether they may go (ended before `?2`, the cutoff, and held by no task). Unlike
/// events, they do not end in the order they were made, so every one is looked at.
fn candidates() -> String {
    format!(
        "SELECT o.rowid, o.id, length(o.delivery), \
                o.status IN {ACTION_ENDED} AND o.updated_at < ?2 \
                AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = o.task_id) \
         FROM outbox o WHERE o.event_id IS NULL AND o.rowid > ?1 ORDER BY o.rowid LIMIT ?3"
    )
}

/// Deletes, within `budget` (its `events` counting actions here), the actions without an event
/// after row `after` that ended before `cutoff` (unix ms) and belong to no task, with their
/// attempts.
pub fn expire(
    conn: &Connection,
    cutoff: i64,
    after: i64,
    budget: Budget,
) -> Result<Expired, StoreError> {
    let mut expired = Expired {
        last_row: after,
        ..Expired::default()
    };
    let mut ids: Vec<String> = Vec::new();
    let (mut bytes, mut looked_at, mut full) = (0i64, 0u32, false);
    {
        let mut stmt = conn.prepare_cached(&candidates())?;
        let mut rows = stmt.query(params![after, cutoff, budget.looked_at])?;
        while let Some(row) = rows.next()? {
            looked_at += 1;
            expired.last_row = row.get(0)?;
            if row.get::<_, bool>(3)? {
                ids.push(row.get(1)?);
                bytes += row.get::<_, Option<i64>>(2)?.unwrap_or(0);
                full = ids.len() >= budget.events || bytes >= budget.body_bytes;
                if full {
                    break;
                }
            }
        }
    }
    // Fewer rows than asked for, none left behind: the last one was reached.
    expired.finished = !full && looked_at < budget.looked_at;
    if ids.is_empty() {
        return Ok(expired);
    }
    let ids = serde_json::to_string(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    expired.actions = super::delete_actions(conn, &ids)?;
    Ok(expired)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{OLD, add_action, add_event, add_task, count, migrated};
    use super::*;

    const CUTOFF: i64 = super::super::tests::CUTOFF;

    /// Expires everything there is to, a write at a time; the ids left, in row order.
    fn left_after_sweeps(conn: &Connection, budget: Budget) -> Vec<String> {
        let mut after = 0;
        while !{
            let expired = expire(conn, CUTOFF, after, budget).unwrap();
            after = expired.last_row;
            expired.finished
        } {}
        conn.prepare("SELECT id FROM outbox ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn ended_at(conn: &Connection, id: &str, at: i64) {
        conn.execute(
            "UPDATE outbox SET updated_at = ?2 WHERE id = ?1",
            params![id, at],
        )
        .unwrap();
    }

    #[test]
    fn an_action_without_an_event_goes_once_ended_past_the_cutoff_and_held_by_no_task() {
        // (status, when it was last changed, its task: none, one that is there, one gone,
        // whether it stays)
        let cases = [
            ("delivered", OLD, None, false),
            ("dead", OLD, None, false),
            ("cancelled", OLD, None, false),
            ("delivered", CUTOFF, None, true),
            ("pending", OLD, None, true),
            ("sending", OLD, None, true),
            ("retrying", OLD, None, true),
            ("paused_by_a_later_version", OLD, None, true),
            ("delivered", OLD, Some("task_there"), true),
            ("delivered", OLD, Some("task_gone"), false),
        ];
        for (status, at, task, stays) in cases {
            let conn = migrated();
            add_event(&conn, "evt_a", OLD);
            add_task(&conn, "task_there", "evt_a", "done");
            add_action(&conn, "act_x", None, task, status);
            ended_at(&conn, "act_x", at);
            // An event's own action is the event sweep's, however old.
            add_action(&conn, "act_e", Some("evt_a"), None, "delivered");

            let case = format!("{status} {at} {task:?}");
            let left = left_after_sweeps(&conn, super::super::BUDGET);
            let want: &[&str] = if stays {
                &["act_x", "act_e"]
            } else {
                &["act_e"]
            };
            assert_eq!(left, want, "{case}");
            let attempts = count(&conn, "SELECT COUNT(*) FROM outbox_attempts");
            assert_eq!(attempts, want.len() as i64, "{case}");
        }
    }

    #[test]
    fn one_write_lets_go_of_no_more_than_its_budget_and_every_one_is_looked_at() {
        let conn = migrated();
        for i in 0..10 {
            add_action(&conn, &format!("act_{i}"), None, None, "delivered");
            ended_at(&conn, &format!("act_{i}"), OLD);
        }
        // Ended since the cutoff, among old ones: passed over, not an end to the sweep.
        ended_at(&conn, "act_1", CUTOFF);
        let small = Budget {
            events: 3,
            body_bytes: 1 << 20,
            looked_at: 100,
        };

        let first = expire(&conn, CUTOFF, 0, small).unwrap();

        assert_eq!(
            (first.actions, first.last_row, first.finished),
            (3, 4, false)
        );
        assert_eq!(left_after_sweeps(&conn, small), ["act_1"]);
        let by_bytes = Budget {
            events: 100,
            body_bytes: 1,
            looked_at: 100,
        };
        add_action(&conn, "act_a", None, None, "dead");
        add_action(&conn, "act_b", None, None, "dead");
        conn.execute("UPDATE outbox SET delivery = '{}'", [])
            .unwrap();
        let one = expire(&conn, CUTOFF, 0, by_bytes).unwrap();
        assert_eq!((one.actions, one.finished), (1, false));
    }

    #[test]
    fn an_action_an_older_build_left_naming_a_pruned_event_is_swept_after_the_upgrade() {
        // Arrange: the database as the build before migration 18 left it.
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::migrate_to(&conn, 17);
        add_event(&conn, "evt_a", OLD);
        add_action(&conn, "act_orphan", Some("evt_gone"), None, "delivered");
        ended_at(&conn, "act_orphan", OLD);
        add_action(&conn, "act_e", Some("evt_a"), None, "delivered");
        ended_at(&conn, "act_e", OLD);

        // Act
        crate::store::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();

        // Assert: the orphan is one without an event now, and goes; the event's stays.
        let left = left_after_sweeps(&conn, super::super::BUDGET);
        assert_eq!(left, ["act_e"]);
        let event: Option<String> = conn
            .query_row("SELECT event_id FROM outbox WHERE id = 'act_e'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(event.as_deref(), Some("evt_a"));
    }

    #[test]
    fn the_sweep_reads_only_actions_without_an_event_by_index() {
        let conn = migrated();
        let plan: String = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", candidates()))
            .unwrap()
            .query_map(params![0, 0, 0], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("; ");
        assert!(
            plan.contains("SEARCH o USING INDEX outbox_by_event (event_id=? AND rowid>?)"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN"), "{plan}");
    }
}
