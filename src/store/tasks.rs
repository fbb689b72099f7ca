//! SQL for agent tasks: created by `create_task` and `ask` commands in the event's
//! transaction; a task waiting for a reply is found by its source thread when the reply comes.

use super::conversation;
use super::{StoreError, events};
use rusqlite::{Connection, OptionalExtension, Row, params};

mod claims;
mod holds;
mod questions;
mod replies;
mod reply_lookup;
mod threads;

pub use claims::{
    claim, claim_one, claim_probe, held_by, lease_owner, queued_agents, release, renew_lease,
    requeue, save_progress,
};
pub use holds::{HeldTooLong, due_now, fail_held, hold, let_go, mark_held};
pub use questions::{
    ANSWERED_FIRST, COMPLETED, QUESTION_NOT_POSTED, drop_unsent_questions, expire_waiting,
    fail_waiting, keep_asking_run, question_posted, question_posted_after_all, wait_again,
    wait_for_reply,
};
pub use replies::{
    Attached, attach_reply, claimed_outside, conversation_with, conversation_with_run,
    past_questions, settle_unclaimed_answers, settle_unread, take_replies, takes_answer,
};
pub use reply_lookup::{
    IssueKind, TIMED_OUT, answered_by, replies_on_jira_issue, tasks_answered, waiting_on,
    waiting_on_issue,
};
pub use threads::{
    follow_moved_thread, follow_renamed_project, speak_in_discussion, wait_on_thread,
};

#[derive(Debug, Clone)]
pub struct TaskRow {
    pub id: String,
    pub event_id: Option<String>,
    pub webhook_id: Option<String>,
    pub command_id: Option<String>,
    pub agent: String,
    pub prompt: String,
    pub status: String,
    pub source_kind: Option<String>,
    pub source_key: Option<String>,
    pub source: Option<String>,
    /// JSON list of `{role, content, event_id?, at}`.
    pub conversation: String,
    pub result: Option<String>,
    pub error: Option<String>,
    pub attempts: i64,
    /// Waiting for a reply: since its question was posted. Queued: held since the chat API
    /// first refused the runner's key or model for it (see `holds`).
    pub waiting_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Failed model calls in a row that were retried; reset when a reply queues it again.
    pub run_failures: i64,
    /// The built-in runner's progress in an unfinished run (see migration 0006).
    pub run_progress: Option<String>,
    /// Who holds the claim (the runner's claims are named `runner-` + a random suffix each).
    pub lease_owner: Option<String>,
    /// When a queued task may run (later than now after a failed model call).
    pub next_run_at: Option<i64>,
    /// Until when a running task's claim holds; past it, anyone may claim the task.
    pub lease_until: Option<i64>,
}

impl TaskRow {
    /// A running task whose claim has passed: anyone's to claim or finish, as a queued one.
    pub fn claim_lapsed(&self, now: i64) -> bool {
        self.status == "running" && self.lease_until.is_some_and(|until| until < now)
    }
}

const COLUMNS: &str = "id, event_id, webhook_id, command_id, agent, prompt, status, source_kind, \
                       source_key, source, conversation, result, error, attempts, waiting_since, \
                       created_at, updated_at";

/// What reads return: the inserted columns and the counters the runner keeps.
const READ_COLUMNS: &str = "id, event_id, webhook_id, command_id, agent, prompt, status, \
                            source_kind, source_key, source, conversation, result, error, \
                            attempts, waiting_since, created_at, updated_at, run_failures, \
                            run_progress, lease_owner, next_run_at, lease_until";

fn from_row(r: &Row<'_>) -> rusqlite::Result<TaskRow> {
    Ok(TaskRow {
        id: r.get(0)?,
        event_id: r.get(1)?,
        webhook_id: r.get(2)?,
        command_id: r.get(3)?,
        agent: r.get(4)?,
        prompt: r.get(5)?,
        status: r.get(6)?,
        source_kind: r.get(7)?,
        source_key: r.get(8)?,
        source: r.get(9)?,
        conversation: r.get(10)?,
        result: r.get(11)?,
        error: r.get(12)?,
        attempts: r.get(13)?,
        waiting_since: r.get(14)?,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
        run_failures: r.get(17)?,
        run_progress: r.get(18)?,
        lease_owner: r.get(19)?,
        next_run_at: r.get(20)?,
        lease_until: r.get(21)?,
    })
}

/// Inserts the task unless its command already made one for this event (false then).
pub fn insert(conn: &Connection, t: &TaskRow) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(&format!(
            "INSERT INTO tasks ({COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
             ON CONFLICT (event_id, command_id) WHERE command_id IS NOT NULL DO NOTHING"
        ))?
        .execute(params![
            t.id,
            t.event_id,
            t.webhook_id,
            t.command_id,
            t.agent,
            t.prompt,
            t.status,
            t.source_kind,
            t.source_key,
            t.source,
            t.conversation,
            t.result,
            t.error,
            t.attempts,
            t.waiting_since,
            t.created_at,
            t.updated_at
        ])?;
    Ok(n == 1)
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<TaskRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {READ_COLUMNS} FROM tasks WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn for_event(conn: &Connection, event_id: &str) -> Result<Vec<TaskRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {READ_COLUMNS} FROM tasks WHERE event_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([event_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Filters for [`list`].
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<String>,
    pub agent: Option<String>,
    pub webhook_id: Option<String>,
    pub event_id: Option<String>,
    pub before_id: Option<String>,
    pub limit: u32,
}

/// Tasks newest first.
pub fn list(conn: &Connection, f: &TaskFilter) -> Result<Vec<TaskRow>, StoreError> {
    let mut sql = format!("SELECT {READ_COLUMNS} FROM tasks WHERE 1 = 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    // A running task whose claim lapsed is queued again, as a claim finds it (see `claim`).
    match f.status.as_deref() {
        Some("queued") => {
            args.push(crate::clock::now_ms().into());
            sql.push_str(" AND (status = 'queued' OR (status = 'running' AND lease_until < ?1))");
        }
        Some("running") => {
            args.push(crate::clock::now_ms().into());
            sql.push_str(" AND status = 'running' AND (lease_until IS NULL OR lease_until >= ?1)");
        }
        Some(status) => {
            args.push(status.to_string().into());
            sql.push_str(" AND status = ?1");
        }
        None => {}
    }
    for (clause, value) in [
        ("agent =", &f.agent),
        ("webhook_id =", &f.webhook_id),
        ("event_id =", &f.event_id),
        ("id <", &f.before_id),
    ] {
        if let Some(v) = value {
            args.push(v.clone().into());
            sql.push_str(&format!(" AND {clause} ?{}", args.len()));
        }
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", f.limit));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[allow(clippy::too_many_arguments)]
/// Ends a running (or waiting) task as done or failed. With `owner`, only if it still holds
/// the lease or the lease has lapsed (a lapsed claim is no one's, as a claim finds it; an
/// agent whose lease expired and was re-claimed cannot finish it). With
/// `run_only` (the built-in runner's run), only a task still running under `owner`: one a
/// person asked a question on meanwhile waits for that answer instead.
pub fn finish(
    conn: &Connection,
    id: &str,
    owner: &str,
    status: &str,
    result: Option<&str>,
    error: Option<&str>,
    conversation: Option<&str>,
    now: i64,
    run_only: bool,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = ?2, result = COALESCE(?3, result), error = ?4, \
             conversation = COALESCE(?5, conversation), lease_owner = NULL, lease_until = NULL, \
             waiting_since = NULL, run_progress = NULL, updated_at = ?6 \
             WHERE id = ?1 AND status IN ('running', 'waiting_reply', 'queued') \
             AND (lease_owner IS NULL OR lease_owner = ?7 OR lease_until < ?6) \
             AND (?8 = 0 OR (status = 'running' AND lease_owner = ?7)) RETURNING event_id",
        )?
        .query_row(
            params![
                id,
                status,
                result,
                error,
                conversation,
                now,
                owner,
                run_only
            ],
            |r| r.get(0),
        )
        .optional()?;
    settled(conn, n)
}

/// After an update that ended (or revived) at most one task, returning its event: that
/// event's status follows. True when a task changed.
fn settled(conn: &Connection, changed: Option<Option<String>>) -> Result<bool, StoreError> {
    match changed {
        Some(event_id) => {
            if let Some(event_id) = event_id {
                events::settle(conn, &event_id)?;
            }
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Queues a failed task to run again from `prompt`, with its retry budget whole; its
/// conversation (questions asked and answers) is kept, and the replies its dropped run had
/// still to read, or had read, stand where they came.
pub fn run_again(conn: &Connection, id: &str, prompt: &str, now: i64) -> Result<bool, StoreError> {
    let Some(task) = get(conn, id)? else {
        return Ok(false);
    };
    let mut items = conversation::parse(&task.conversation);
    conversation::forget_run(&mut items);
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'queued', prompt = ?2, error = NULL, result = NULL, \
             run_failures = 0, run_progress = NULL, next_run_at = 0, lease_owner = NULL, \
             lease_until = NULL, waiting_since = NULL, conversation = ?4, updated_at = ?3 \
             WHERE id = ?1 AND status = 'failed' RETURNING event_id",
        )?
        .query_row(
            params![id, prompt, now, conversation::to_string(items)],
            |r| r.get(0),
        )
        .optional()?;
    settled(conn, n)
}

/// Why an action of a cancelled task was not sent (or not sent again).
pub const CANCELLED: &str = "the task was cancelled";

/// Whether the task is cancelled: its actions are not sent any more.
pub fn is_cancelled(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE id = ?1 AND status = 'cancelled')",
        )?
        .query_row([id], |r| r.get(0))?)
}

/// Cancels a task that has not ended. A task held by a refused key or model no longer waits
/// for it: its error, which said so, goes.
pub fn cancel(conn: &Connection, id: &str, now: i64) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'cancelled', lease_owner = NULL, lease_until = NULL, \
             run_progress = NULL, updated_at = ?2, \
             error = CASE WHEN status != 'waiting_reply' AND waiting_since IS NOT NULL \
                 THEN NULL ELSE error END, \
             waiting_since = CASE WHEN status != 'waiting_reply' THEN NULL \
                 ELSE waiting_since END \
             WHERE id = ?1 AND status IN ('queued', 'running', 'waiting_reply') \
             RETURNING event_id",
        )?
        .query_row(params![id, now], |r| r.get(0))
        .optional()?;
    if n.is_some() {
        // What its runs queued and is not yet out (a question still retrying, a comment) is
        // not sent for a task no one works on any more: an answer to it would reach no one.
        // (One being sent now is stopped when its attempt ends: `outbox::finish`. One with a
        // post id already was posted, announced after a lost answer: the worker records it
        // delivered.)
        conn.prepare_cached(
            "UPDATE outbox SET status = 'dead', last_error = ?3, \
             updated_at = ?2 WHERE task_id = ?1 AND status IN ('pending', 'retrying') \
             AND remote_id IS NULL",
        )?
        .execute(params![id, now, CANCELLED])?;
    }
    settled(conn, n)
}

/// The task's status alone (its conversation is not read), if there is such a task.
pub fn status_of(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT status FROM tasks WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::claims::{claim_sql, fresh_claim_sql};
    use super::reply_lookup::{
        ANSWERED_BY, QUESTION_OUT, QUESTION_SENT, TAKES_REPLIES, TASKS_ANSWERED, on_issue,
        replies_on_jira_issue_sql,
    };
    use super::threads::on_renamed_project_sql;
    use super::*;
    use crate::store::conversation::ReplyFrom;
    use serde_json::{Value, json};

    #[test]
    fn a_claim_reads_each_status_in_index_order_not_a_sort_of_every_task() {
        let conn = migrated();
        for sql in [claim_sql(), fresh_claim_sql()] {
            let planned = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params![0, "o", 0, "[]"], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
                .join("; ");
            assert!(!planned.contains("TEMP B-TREE"), "{planned}");
            assert_eq!(planned.matches("tasks_by_status").count(), 2, "{planned}");
        }
    }

    /// Tasks `a1`, `a2`, `a3` of agent `a`, queued; `a1` claimed and held (refused) until 500.
    fn held_backlog() -> Connection {
        let conn = migrated();
        for id in ["a1", "a2", "a3"] {
            add_task(&conn, id, "queued", "{}", "[]");
        }
        conn.execute("UPDATE tasks SET error = NULL", []).unwrap();
        let agents = ["a".to_string()];
        let claimed = claim(&conn, &agents, "o", 100, 1_000).unwrap().unwrap();
        assert_eq!(claimed.id, "a1");
        assert!(hold(&conn, "a1", "o", "waiting, not failed", 0, 500, 100).unwrap());
        mark_held(&conn, &agents, "waiting, not failed", 100).unwrap();
        conn
    }

    #[test]
    fn a_look_again_takes_a_held_task_not_refused_yet_before_the_one_refused() {
        let conn = held_backlog();
        let agents = ["a".to_string()];

        let probe = claim_probe(&conn, &agents, "p", 500, 1_000)
            .unwrap()
            .unwrap();
        assert!(hold(&conn, &probe.id, "p", "waiting, not failed", 0, 900, 500).unwrap());
        let next = claim_probe(&conn, &agents, "p", 900, 2_000)
            .unwrap()
            .unwrap();
        assert!(hold(&conn, &next.id, "p", "waiting, not failed", 0, 1_300, 900).unwrap());
        let last = claim_probe(&conn, &agents, "p", 1_300, 2_000)
            .unwrap()
            .unwrap();

        // Each held task in turn, then, none left unrefused, the oldest due.
        assert_eq!((probe.id.as_str(), next.id.as_str()), ("a2", "a3"));
        assert_eq!(last.id, "a1");
    }

    #[test]
    fn a_held_task_cancelled_or_asked_no_longer_says_it_waits_for_the_chat_api() {
        let conn = held_backlog();
        let error = |id: &str| get(&conn, id).unwrap().unwrap().error;

        assert!(cancel(&conn, "a1", 200).unwrap());
        assert!(wait_for_reply(&conn, "a2", "Which version?", 200).unwrap());

        assert_eq!(error("a1"), None);
        assert_eq!(error("a2"), None);
        assert!(error("a3").is_some(), "still held");
        assert_eq!(get(&conn, "a1").unwrap().unwrap().waiting_since, None);
    }

    #[test]
    fn a_held_task_whose_look_again_heard_nothing_keeps_when_it_was_first_held() {
        let conn = held_backlog();
        let agents = ["a".to_string()];
        let probe = claim_probe(&conn, &agents, "p", 500, 1_000)
            .unwrap()
            .unwrap();

        // A 5xx: the task waits to retry.
        assert!(requeue(&conn, &probe.id, "p", "502 Bad Gateway", 30_500, 1, 500).unwrap());

        let task = get(&conn, &probe.id).unwrap().unwrap();
        assert_eq!(
            task.waiting_since,
            Some(100),
            "the limit counts from the first hold"
        );
    }

    #[test]
    fn a_task_given_back_is_due_now_when_its_pause_ends_sooner_unless_it_changed_since() {
        let conn = held_backlog();
        let agents = ["a".to_string()];
        let probe = claim_probe(&conn, &agents, "p", 500, 1_000)
            .unwrap()
            .unwrap();
        assert!(requeue(&conn, &probe.id, "p", "502 Bad Gateway", 30_500, 1, 500).unwrap());
        let due = |id: &str| get(&conn, id).unwrap().unwrap().next_run_at;

        // a1 was given back due at 500, the pause's end; a2 since waits for its own retry.
        let given = [("a1".to_string(), 500), (probe.id.clone(), 500)];
        let none = due_now(&conn, &given, &[], 200).unwrap();
        let made = due_now(&conn, &given, &agents, 200).unwrap();

        assert_eq!((none, made), (0, 1), "only of the agents no pause holds");
        assert_eq!(due("a1"), Some(200));
        assert_eq!(due(&probe.id), Some(30_500));
    }

    #[test]
    fn a_task_failed_by_the_reply_timeout_is_one_that_takes_replies() {
        assert!(TAKES_REPLIES.contains(&format!("error = '{TIMED_OUT}'")));
    }

    #[test]
    fn the_runners_claims_are_told_apart_by_the_runners_own_prefix() {
        use crate::agents::runner::RUNNER_OWNER_PREFIX;
        let n = RUNNER_OWNER_PREFIX.len();
        let told = format!(
            "substr(COALESCE(lease_owner, '{RUNNER_OWNER_PREFIX}'), 1, {n}) != '{RUNNER_OWNER_PREFIX}'"
        );
        assert!(TAKES_REPLIES.contains(&told));
    }

    fn migrated() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        conn
    }

    fn add_task(conn: &Connection, id: &str, status: &str, source: &str, conversation: &str) {
        conn.execute(
            "INSERT INTO tasks (id, webhook_id, agent, prompt, status, source_kind, source_key, \
             source, conversation, error, created_at, updated_at) \
             VALUES (?1, 'w', 'a', 'p', ?2, 'linear.issue', ?1, ?3, ?4, ?5, 0, 0)",
            params![id, status, source, conversation, TIMED_OUT],
        )
        .unwrap();
    }

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let given = ["w", "x"].into_iter().take(stmt.parameter_count());
        let rows = stmt.query_map(rusqlite::params_from_iter(given), |r| r.get::<_, String>(3));
        rows.unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn reply_lookups_search_an_index_not_every_task_of_the_webhook() {
        let conn = migrated();

        let linear = plan(&conn, &on_issue(IssueKind::Linear));
        let jira = plan(&conn, &on_issue(IssueKind::Jira));
        let jira_replies = plan(&conn, &replies_on_jira_issue_sql());
        let answered = plan(&conn, ANSWERED_BY);
        let tasks_answered = plan(&conn, TASKS_ANSWERED);

        assert!(
            linear.contains("tasks_by_linear_issue (webhook_id=? AND <expr>=?)"),
            "{linear}"
        );
        for plan in [&jira, &jira_replies] {
            assert!(
                plan.contains("tasks_by_jira_issue (webhook_id=? AND <expr>=?)"),
                "{plan}"
            );
        }
        for answered in [&answered, &tasks_answered] {
            assert!(
                answered.contains("SEARCH r USING PRIMARY KEY (event_id=?)")
                    && !answered.contains("SCAN t"),
                "{answered}"
            );
        }
    }

    #[test]
    fn a_tasks_actions_are_found_by_an_index_not_the_outbox_history() {
        let conn = migrated();
        let looked_up = [
            format!("SELECT id FROM tasks WHERE {QUESTION_OUT}"),
            format!("SELECT id FROM tasks WHERE {QUESTION_SENT}"),
            "SELECT id FROM outbox WHERE task_id = 'x' AND action = 'ask' \
             ORDER BY created_at DESC, id DESC LIMIT 1"
                .into(),
        ];
        for sql in looked_up {
            let plan: String = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
                .join("; ");
            assert!(plan.contains("outbox_by_task (task_id=?)"), "{sql}\n{plan}");
        }
    }

    #[test]
    fn a_reply_attached_answers_its_task_a_late_one_does_not() {
        let conn = migrated();
        add_task(&conn, "task_w", "waiting_reply", "{}", "[]");
        add_task(&conn, "task_f", "failed", "{}", "[]");

        let resumed =
            attach_reply(&conn, "task_w", ReplyFrom::Event("evt_1"), "yes", None, 1).unwrap();
        let kept =
            attach_reply(&conn, "task_f", ReplyFrom::Event("evt_2"), "late", None, 1).unwrap();

        assert_eq!((resumed, kept), (Attached::Resumed, Attached::Kept));
        assert!(answered_by(&conn, "w", "evt_1").unwrap());
        assert!(!answered_by(&conn, "other", "evt_1").unwrap());
        assert!(!answered_by(&conn, "w", "evt_2").unwrap());
    }

    #[test]
    fn a_claimed_task_keeps_a_bounded_number_of_replies_unseen() {
        let conn = migrated();
        add_task(&conn, "task_c", "running", "{}", "[]");
        conn.execute(
            "UPDATE tasks SET lease_owner = 'agent:brain', lease_until = 99 WHERE id = 'task_c'",
            [],
        )
        .unwrap();
        let attach = |n: usize| {
            let text = format!("message {n}");
            attach_reply(&conn, "task_c", ReplyFrom::Service("mcp"), &text, None, 1).unwrap()
        };

        let kept: Vec<Attached> = (0..conversation::MAX_UNSEEN).map(attach).collect();
        let past = attach(conversation::MAX_UNSEEN);
        let items = conversation::parse(&get(&conn, "task_c").unwrap().unwrap().conversation);

        assert!(kept.iter().all(|a| *a == Attached::Noted), "{kept:?}");
        assert_eq!(past, Attached::Full);
        assert_eq!(conversation::unread(&items), conversation::MAX_UNSEEN);
    }

    #[test]
    fn a_renamed_gitlab_projects_tasks_are_looked_up_by_an_index() {
        let conn = migrated();
        let sql = format!("EXPLAIN QUERY PLAN {}", on_renamed_project_sql());
        let plan: Vec<String> = conn
            .prepare(&sql)
            .unwrap()
            .query_map(params!["w", 15, "g/p"], |r| r.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();

        let plan = plan.join("; ");
        assert!(
            plan.contains("tasks_by_gitlab_project (webhook_id=? AND <expr>=?)"),
            "{plan}"
        );
    }

    #[test]
    fn gitlab_tasks_follow_their_project_to_its_new_path_on_their_own_instance_only() {
        let conn = migrated();
        for (id, key, source) in [
            (
                "t_issue",
                "g/p#5",
                json!({"kind": "gitlab.issue", "key": "g/p#5",
                "detail": {"project": "g/p", "project_id": 15, "iid": 5,
                           "site": "https://gitlab.example.com"}}),
            ),
            (
                "t_project",
                "g/p",
                json!({"kind": "gitlab.project", "key": "g/p",
                "detail": {"project": "g/p", "project_id": 15}}),
            ),
            (
                "t_other_site",
                "g/p!7",
                json!({"kind": "gitlab.merge_request", "key": "g/p!7",
                "detail": {"project": "g/p", "project_id": 15, "iid": 7,
                           "site": "https://gitlab.com"}}),
            ),
            (
                "t_other_project",
                "g/q#1",
                json!({"kind": "gitlab.issue", "key": "g/q#1",
                "detail": {"project": "g/q", "project_id": 16, "iid": 1}}),
            ),
        ] {
            add_task(&conn, id, "waiting_reply", &source.to_string(), "[]");
            conn.execute(
                "UPDATE tasks SET source_kind = ?2, source_key = ?3 WHERE id = ?1",
                params![id, source["kind"].as_str().unwrap(), key],
            )
            .unwrap();
        }

        let moved = follow_renamed_project(
            &conn,
            "w",
            15,
            "h/p2",
            Some("https://gitlab.example.com"),
            9,
        )
        .unwrap();

        assert_eq!(moved, 2);
        let key = |id: &str| get(&conn, id).unwrap().unwrap().source_key.unwrap();
        assert_eq!(key("t_issue"), "h/p2#5");
        assert_eq!(key("t_project"), "h/p2");
        assert_eq!(key("t_other_site"), "g/p!7");
        assert_eq!(key("t_other_project"), "g/q#1");
        let source: Value =
            serde_json::from_str(&get(&conn, "t_issue").unwrap().unwrap().source.unwrap()).unwrap();
        assert_eq!(source["detail"]["project"], "h/p2");
        assert_eq!(source["key"], "h/p2#5");
        assert_eq!(source["detail"]["iid"], 5);

        // An event naming no instance moves only the tasks that name none either.
        let moved = follow_renamed_project(&conn, "w", 15, "k/p3", None, 10).unwrap();

        assert_eq!(moved, 1);
        assert_eq!(key("t_project"), "k/p3");
        assert_eq!(key("t_issue"), "h/p2#5");
    }

    #[test]
    fn gitlab_tasks_made_before_migration_0023_take_their_projects_number_from_their_event() {
        let conn = migrated();
        conn.execute_batch("DROP INDEX tasks_by_gitlab_project;")
            .unwrap();
        for (event, body) in [
            (
                "evt_a",
                br#"{"project": {"id": 15, "path_with_namespace": "g/p"}}"#.to_vec(),
            ),
            ("evt_b", br#"{"project": {"id": "15"}}"#.to_vec()),
            ("evt_c", b"not json".to_vec()),
        ] {
            conn.execute(
                "INSERT INTO events (id, webhook_id, provider, verified, verification, status, \
                 headers, body, received_at) \
                 VALUES (?1, 'w', 'gitlab', 1, 'current', 'accepted', '{}', ?2, 0)",
                params![event, body],
            )
            .unwrap();
        }
        for (id, event) in [("t_a", "evt_a"), ("t_b", "evt_b"), ("t_c", "evt_c")] {
            add_task(
                &conn,
                id,
                "waiting_reply",
                r#"{"kind": "gitlab.issue", "key": "g/p#5", "detail": {"project": "g/p"}}"#,
                "[]",
            );
            conn.execute(
                "UPDATE tasks SET source_kind = 'gitlab.issue', event_id = ?2 WHERE id = ?1",
                params![id, event],
            )
            .unwrap();
        }

        conn.execute_batch(include_str!("migrations/0023_gitlab_project_ids.sql"))
            .unwrap();

        let number = |id: &str| -> Value {
            let source = get(&conn, id).unwrap().unwrap().source.unwrap();
            serde_json::from_str::<Value>(&source).unwrap()["detail"]["project_id"].clone()
        };
        assert_eq!(number("t_a"), json!(15));
        assert_eq!(number("t_b"), Value::Null);
        assert_eq!(number("t_c"), Value::Null);
    }

    #[test]
    fn jira_tasks_made_before_migration_0022_are_found_by_their_issues_id() {
        let conn = migrated();
        conn.execute_batch("DROP INDEX tasks_by_jira_issue;")
            .unwrap();
        for (id, source) in [
            (
                "task_text",
                r#"{"detail": {"key": "OPS-1", "id": "10001"}}"#,
            ),
            (
                "task_number",
                r#"{"detail": {"key": "OPS-2", "id": 10002}}"#,
            ),
            (
                "task_named",
                r#"{"detail": {"key": "OPS-3", "id": "10003", "issue_id": "9"}}"#,
            ),
            (
                "task_key_only",
                r#"{"detail": {"key": "OPS-4", "id": "OPS-4"}}"#,
            ),
            ("task_broken", "not json"),
            // Keyed (here, as `add_task` keys by id) by the id an event without its issue
            // named it by.
            ("10005", r#"{"detail": {"key": "10005"}}"#),
        ] {
            add_task(&conn, id, "waiting_reply", source, "[]");
        }
        conn.execute("UPDATE tasks SET source_kind = 'jira.issue'", [])
            .unwrap();

        conn.execute_batch(include_str!("migrations/0022_jira_issue_ids.sql"))
            .unwrap();

        let found = |issue: &str| -> Vec<String> {
            waiting_on_issue(&conn, "w", IssueKind::Jira, issue)
                .unwrap()
                .into_iter()
                .map(|t| t.id)
                .collect()
        };
        assert_eq!(found("10001"), ["task_text"]);
        assert_eq!(found("10002"), ["task_number"]);
        assert_eq!(found("9"), ["task_named"]);
        assert_eq!(found("10005"), ["10005"]);
        assert!(found("10003").is_empty());
        assert!(found("OPS-4").is_empty());
    }

    #[test]
    fn replies_stored_before_migration_0013_still_answer_and_issues_are_found_by_id() {
        let conn = migrated();
        conn.execute_batch("DROP TABLE task_replies; DROP INDEX tasks_by_linear_issue;")
            .unwrap();
        let issue = r#"{"detail": {"issue_id": "uuid-1"}}"#;
        add_task(
            &conn,
            "task_a",
            "waiting_reply",
            issue,
            r#"[{"role": "assistant", "content": "q"},
                {"role": "user", "content": "a", "event_id": "evt_1"},
                {"role": "user", "content": "b", "event_id": "evt_2", "late": true}]"#,
        );
        add_task(&conn, "task_b", "waiting_reply", "not json", "not json");

        conn.execute_batch(include_str!("migrations/0013_reply_lookups.sql"))
            .unwrap();

        assert!(answered_by(&conn, "w", "evt_1").unwrap());
        assert!(!answered_by(&conn, "w", "evt_2").unwrap());
        let found = waiting_on_issue(&conn, "w", IssueKind::Linear, "uuid-1").unwrap();
        assert_eq!(
            found.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["task_a"]
        );
    }

    #[test]
    fn a_claim_takes_agent_names_as_given_a_quote_or_nul_too() {
        let conn = migrated();
        for (id, agent) in [
            ("task_q", "o'neil"),
            ("task_n", "a\0b"),
            ("task_p", "planning"),
        ] {
            conn.execute(
                "INSERT INTO tasks (id, webhook_id, agent, prompt, status, source_kind, \
                 source_key, created_at, updated_at) \
                 VALUES (?1, 'w', ?2, 'p', 'queued', 'k', ?1, 0, 0)",
                params![id, agent],
            )
            .unwrap();
        }
        let claim_for = |agents: &[&str]| {
            let agents: Vec<String> = agents.iter().map(|a| a.to_string()).collect();
            claim(&conn, &agents, "me", 1, 2).unwrap().map(|t| t.id)
        };

        let cases: [(&[&str], Option<&str>); 6] = [
            (&["a\0b"], Some("task_n")),
            (&["a"], None),
            (&["nobody", "o'neil"], Some("task_q")),
            (&["') OR 1 = 1 --"], None),
            (&[], Some("task_p")),
            (&["o'neil"], None),
        ];
        for (agents, want) in cases {
            assert_eq!(claim_for(agents).as_deref(), want, "{agents:?}");
        }
    }
}
