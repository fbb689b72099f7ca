//! SQL for agent tasks: created by `create_task` and `ask` commands in the event's
//! transaction; a task waiting for a reply is found by its source thread when the reply comes.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Value, json};

use super::conversation::{self, KEPT_AFTER_TIMEOUT, LATE, REPLY_TIMEOUT, ReplyFrom};
use super::{StoreError, events};

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

/// A waiting task's question is out (or may be: sent, its answer lost): no question of it
/// is still to be sent, or waits to be tried again with no attempt that may have posted it
/// (every one refused with an answer, or made no connection: only an attempt that went out
/// and heard nothing back may have posted it, whatever later ones heard). A comment before the question is out answers
/// nothing (during an outage of the place it goes to, one may come hours before), and a
/// question that never goes out fails its task.
const QUESTION_OUT: &str = "NOT EXISTS (SELECT 1 FROM outbox o \
     WHERE o.status IN ('pending', 'retrying') AND o.task_id = tasks.id AND o.action = 'ask' \
     AND (o.status = 'pending' \
          OR NOT EXISTS (SELECT 1 FROM outbox_attempts a \
                         WHERE a.outbox_id = o.id AND a.unanswered = 1)))";

/// No question of the task's is still to be sent or being sent: its wait for a reply has begun
/// (stricter than [`QUESTION_OUT`], which takes a question whose attempt failed without an
/// answer as possibly posted, for a reply that may come; the timeout waits until it surely
/// went, or went dead).
const QUESTION_SENT: &str = "NOT EXISTS (SELECT 1 FROM outbox o \
     WHERE o.status IN ('pending', 'retrying', 'sending') AND o.task_id = tasks.id \
     AND o.action = 'ask')";

/// Why a task whose question went unanswered for too long failed.
pub const TIMED_OUT: &str = "timeout: no reply arrived in time";

/// A task that takes a reply on its thread: one waiting for it; one that asked and runs on an
/// earlier reply, or is queued to (a reply that comes meanwhile reaches its run); one an
/// external agent's claim holds after something was said on the thread for it (`comment`,
/// `respond` or `ask` with its id: people may answer that while the agent works, and it is
/// shown them before it completes); one failed for want of a reply in time (kept for when it
/// is run again).
const TAKES_REPLIES: &str = "(status = 'waiting_reply' \
     OR (status IN ('queued', 'running') AND json_valid(conversation) \
         AND EXISTS (SELECT 1 FROM json_each(conversation) c \
                     WHERE json_extract(c.value, '$.role') = 'assistant')) \
     OR (status = 'running' AND substr(COALESCE(lease_owner, 'runner-'), 1, 7) != 'runner-' \
         AND EXISTS (SELECT 1 FROM outbox o WHERE o.task_id = tasks.id \
                     AND o.action IN ('comment', 'respond', 'ask'))) \
     OR (status = 'failed' AND error = 'timeout: no reply arrived in time'))";

/// Tasks on this source thread that take a reply ([`TAKES_REPLIES`]) to a question that is
/// out, oldest first.
pub fn waiting_on(
    conn: &Connection,
    webhook_id: &str,
    source_key: &str,
) -> Result<Vec<TaskRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {READ_COLUMNS} FROM tasks WHERE webhook_id = ?1 AND source_key = ?2 \
         AND {TAKES_REPLIES} AND {QUESTION_OUT} ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![webhook_id, source_key], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A task's issue id (a Linear issue's UUID, a Jira issue's `10020`), as the indexes
/// `tasks_by_linear_issue` (migration 0013) and `tasks_by_jira_issue` (0022) hold it: a lookup
/// must use this very expression, and name the index's `source_kind`, for SQLite to use them.
const ISSUE_ID: &str =
    "(CASE WHEN json_valid(source) THEN json_extract(source, '$.detail.issue_id') END)";

/// Where tasks are also found by their issue's id, whatever key their event gave the issue:
/// a Linear comment may name its issue by id only (where the issue's events say `ENG-123`); a
/// Jira issue keeps its id when it moves to another project, and an older Data Center
/// sender's `comment_created` names it by id alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueKind {
    Linear,
    Jira,
}

impl IssueKind {
    /// The kind of the provider (as events store it) whose tasks are found so, if it is one.
    pub fn of(provider: &str) -> Option<Self> {
        match provider {
            "linear" => Some(IssueKind::Linear),
            "jira" => Some(IssueKind::Jira),
            _ => None,
        }
    }

    fn source_kind(self) -> &'static str {
        match self {
            IssueKind::Linear => "linear.issue",
            IssueKind::Jira => "jira.issue",
        }
    }
}

/// Tasks that take a reply (to a question that is out) on an issue, found by the issue's id.
pub fn waiting_on_issue(
    conn: &Connection,
    webhook_id: &str,
    kind: IssueKind,
    issue_id: &str,
) -> Result<Vec<TaskRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&on_issue(kind))?;
    let rows = stmt.query_map(params![webhook_id, issue_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn on_issue(kind: IssueKind) -> String {
    format!(
        "SELECT {READ_COLUMNS} FROM tasks WHERE webhook_id = ?1 AND {TAKES_REPLIES} \
         AND source_kind = '{}' AND {ISSUE_ID} = ?2 AND {QUESTION_OUT} ORDER BY id",
        kind.source_kind()
    )
}

/// The events that the conversations of a Jira issue's tasks took as replies (not late
/// ones): where the other delivery of a comment is looked for when the two name the issue
/// differently (its key in one, its id alone in the other).
pub fn replies_on_jira_issue(
    conn: &Connection,
    webhook_id: &str,
    issue_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(&replies_on_jira_issue_sql())?;
    let rows = stmt.query_map(params![webhook_id, issue_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn replies_on_jira_issue_sql() -> String {
    format!(
        "SELECT DISTINCT json_extract(c.value, '$.event_id') FROM tasks \
           JOIN json_each(CASE WHEN json_valid(tasks.conversation) THEN tasks.conversation \
                          ELSE '[]' END) c \
         WHERE tasks.webhook_id = ?1 AND tasks.source_kind = 'jira.issue' \
           AND {ISSUE_ID} = ?2 AND c.type = 'object' \
           AND json_type(c.value, '$.event_id') = 'text' \
           AND json_extract(c.value, '$.late') IS NULL"
    )
}

/// Whether the event was added to a task's conversation as the reply to its question (not
/// one kept after the question had timed out: that answered nothing).
/// Only the tasks `task_replies` names for it are read, not every task of the webhook.
pub fn answered_by(
    conn: &Connection,
    webhook_id: &str,
    event_id: &str,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(ANSWERED_BY)?
        .query_row(params![webhook_id, event_id], |r| r.get(0))?)
}

const ANSWERED_BY: &str = "SELECT EXISTS (SELECT 1 FROM task_replies r \
       JOIN tasks t ON t.id = r.task_id \
       JOIN json_each(CASE WHEN json_valid(t.conversation) THEN t.conversation ELSE '[]' END) c \
     WHERE r.event_id = ?2 AND t.webhook_id = ?1 AND json_extract(c.value, '$.event_id') = ?2 \
       AND json_extract(c.value, '$.late') IS NULL)";

/// What a reply did to a task that takes replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// The task waited for it: queued to run again with it.
    Resumed,
    /// The task runs (or is queued to) on an earlier reply: its run reads this one too.
    Joined,
    /// An external agent works the task and spoke on the thread for it: kept as not yet seen,
    /// for it to see before it completes. It answered no question: the event's own commands
    /// go as they would have.
    Noted,
    /// The task had failed for want of a reply in time: kept for when it runs again.
    Kept,
    /// Nothing: the task took no reply any more, or kept enough after its timeout.
    No,
    /// Nothing: the external agent working the task has [`conversation::MAX_UNSEEN`] replies
    /// it has not seen yet.
    Full,
}

/// Adds a reply to the conversation of a task that takes replies ([`TAKES_REPLIES`]); a task
/// that waited for it is queued to run again. A reply given through the service (`from` names
/// no event) goes as one on the thread would.
pub fn attach_reply(
    conn: &Connection,
    task_id: &str,
    from: ReplyFrom<'_>,
    reply: &str,
    author: Option<&str>,
    now: i64,
) -> Result<Attached, StoreError> {
    let Some(task) = get(conn, task_id)? else {
        return Ok(Attached::No);
    };
    let mut items = conversation::parse(&task.conversation);
    // A run under way (or stopped part way, its progress saved) has read the conversation
    // already: it reads this reply at its next step, after what it has done.
    let mid_run = task.status == "running" || task.run_progress.is_some();
    let (attached, sql) = match task.status.as_str() {
        "waiting_reply" => (
            Attached::Resumed,
            "UPDATE tasks SET conversation = ?2, status = 'queued', waiting_since = NULL, \
             lease_owner = NULL, lease_until = NULL, run_failures = 0, updated_at = ?3 \
             WHERE id = ?1 AND status = 'waiting_reply'",
        ),
        "queued" | "running" if has_asked(&items) => (
            Attached::Joined,
            "UPDATE tasks SET conversation = ?2, updated_at = ?3 \
             WHERE id = ?1 AND status IN ('queued', 'running')",
        ),
        "running" if claimed_outside(&task) => {
            // The other delivery of a message kept already (Slack's `app_mention` beside its
            // `message`) is the same words: shown to the agent once.
            if let ReplyFrom::Event(event_id) = from
                && holds_message_of(conn, &items, event_id, now)?
            {
                return Ok(Attached::No);
            }
            if conversation::unread(&items) >= conversation::MAX_UNSEEN {
                tracing::warn!(
                    task = %task_id,
                    "a reply on the thread of a claimed task was not kept: {} wait unseen already",
                    conversation::MAX_UNSEEN
                );
                return Ok(Attached::Full);
            }
            (
                Attached::Noted,
                "UPDATE tasks SET conversation = ?2, updated_at = ?3 \
                 WHERE id = ?1 AND status = 'running'",
            )
        }
        "failed" if conversation::replies_after_timeout(&items) < KEPT_AFTER_TIMEOUT => (
            Attached::Kept,
            "UPDATE tasks SET conversation = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'failed'",
        ),
        _ => return Ok(Attached::No),
    };
    let mut item = conversation::reply(
        reply,
        author,
        from,
        now,
        mid_run && matches!(attached, Attached::Joined | Attached::Noted),
    );
    if attached == Attached::Kept {
        item[LATE] = json!(true);
    }
    items.push(item);
    let n =
        conn.prepare_cached(sql)?
            .execute(params![task_id, conversation::to_string(items), now])?;
    if n != 1 {
        return Ok(Attached::No);
    }
    if attached == Attached::Noted {
        // Not named where `answered_by` looks: it answered nothing, and a replay of the event,
        // or its other delivery, starts the agents it would have started.
        return Ok(attached);
    }
    // Where `answered_by` looks first: every event a conversation took is named there.
    if let ReplyFrom::Event(event_id) = from {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO task_replies (event_id, task_id) VALUES (?1, ?2)",
        )?
        .execute(params![event_id, task_id])?;
    }
    Ok(attached)
}

/// Whether a person may answer the task through the service now: it takes a reply on its
/// thread ([`TAKES_REPLIES`]) that would answer something (not a failed task's, kept only for
/// when it is run again). Whether its question was posted yet does not matter: the person
/// read it in the task.
pub fn takes_answer(conn: &Connection, task_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE id = ?1 AND status != 'failed' \
             AND {TAKES_REPLIES})"
        ))?
        .query_row(params![task_id], |r| r.get(0))?)
}

/// Whether the conversation holds a question the task asked.
fn has_asked(items: &[Value]) -> bool {
    items.iter().any(|i| i["role"] == "assistant")
}

/// A running task held by a claim that is not the built-in runner's: an external agent's.
pub fn claimed_outside(task: &TaskRow) -> bool {
    use crate::agents::runner::RUNNER_OWNER_PREFIX;
    task.status == "running"
        && task
            .lease_owner
            .as_deref()
            .is_some_and(|owner| !owner.starts_with(RUNNER_OWNER_PREFIX))
}

/// How far back, and how many replies back, the other delivery of a message is looked for:
/// a sender sends both at once, and retries each within the hour, so a long thread's every
/// earlier reply need not be read again, in the writer, for each new one.
const TWIN_WINDOW_MS: i64 = 60 * 60 * 1000;
const TWIN_LOOKBACK: usize = 50;

/// Whether the conversation already holds a reply carried by the same message as the event
/// (its other delivery), among its recent replies.
fn holds_message_of(
    conn: &Connection,
    items: &[Value],
    event_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(message) = events::message_of(conn, event_id)? else {
        return Ok(false);
    };
    let recent = items
        .iter()
        .rev()
        .filter(|i| {
            i["at"]
                .as_i64()
                .is_some_and(|at| at >= now - TWIN_WINDOW_MS)
        })
        .filter_map(|i| i["event_id"].as_str())
        .take(TWIN_LOOKBACK);
    for other in recent {
        if other != event_id && events::message_of(conn, other)?.as_deref() == Some(&message) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Gives the run `owner` holds the replies that came on the task's thread since it last
/// looked, in the order they came, once: marked read and saved in its progress (what
/// `progress` makes of them) in one write, so a run that stops after this still has them.
pub fn take_replies(
    conn: &Connection,
    id: &str,
    owner: &str,
    now: i64,
    progress: impl Fn(&[conversation::Reply]) -> String,
) -> Result<Vec<conversation::Reply>, StoreError> {
    let Some(task) = get(conn, id)? else {
        return Ok(Vec::new());
    };
    if task.status != "running" || task.lease_owner.as_deref() != Some(owner) {
        return Ok(Vec::new());
    }
    let mut items = conversation::parse(&task.conversation);
    let taken = conversation::take_unread(&mut items);
    if taken.is_empty() {
        return Ok(taken);
    }
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET conversation = ?3, run_progress = ?4, updated_at = ?5 \
             WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'",
        )?
        .execute(params![
            id,
            owner,
            conversation::to_string(items),
            progress(&taken),
            now
        ])?;
    Ok(if n == 1 { taken } else { Vec::new() })
}

/// Settles the replies that came on the thread of a task an external agent works (claimed, or
/// queued for anyone) and that it has not seen ([`conversation::settle_unread`]), when `sees`
/// says the caller is that agent; those replies, in the order they came.
pub fn settle_unread(
    conn: &Connection,
    id: &str,
    now: i64,
    sees: impl FnOnce(&TaskRow) -> bool,
) -> Result<Vec<Value>, StoreError> {
    settle_with(conn, id, now, sees, conversation::settle_unread)
}

/// As [`settle_unread`], for the answers a queued task's question got while no one held it
/// ([`conversation::settle_unclaimed_answers`]), when `sees` says the caller may finish it.
pub fn settle_unclaimed_answers(
    conn: &Connection,
    id: &str,
    now: i64,
    sees: impl FnOnce(&TaskRow) -> bool,
) -> Result<Vec<Value>, StoreError> {
    let queued = |t: &TaskRow| t.status == "queued" && sees(t);
    settle_with(
        conn,
        id,
        now,
        queued,
        conversation::settle_unclaimed_answers,
    )
}

/// Marks, by `settle`, the replies of the task's conversation a caller `sees` is shown now,
/// and keeps the conversation so; those replies.
fn settle_with(
    conn: &Connection,
    id: &str,
    now: i64,
    sees: impl FnOnce(&TaskRow) -> bool,
    settle: fn(&mut [Value]) -> Vec<Value>,
) -> Result<Vec<Value>, StoreError> {
    let Some(task) = get(conn, id)?.filter(|t| sees(t)) else {
        return Ok(Vec::new());
    };
    let mut items = conversation::parse(&task.conversation);
    let settled = settle(&mut items);
    if !settled.is_empty() {
        conn.prepare_cached("UPDATE tasks SET conversation = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![id, conversation::to_string(items), now])?;
    }
    Ok(settled)
}

/// Whether a question of the task may no longer be sent: the task was completed (done, or
/// failed by its agent), so an answer would wake no one. Not a task failed because its
/// question could not be posted, or for want of a reply: sending it again is what revives it.
pub fn past_questions(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE id = ?1 AND (status = 'done' \
               OR (status = 'failed' AND substr(COALESCE(error, ''), 1, length(?2)) != ?2 \
                   AND COALESCE(error, '') != ?3)))",
        )?
        .query_row(params![id, QUESTION_NOT_POSTED, TIMED_OUT], |r| r.get(0))?)
}

/// The task's conversation now, with `item` added at its end (a run's final answer: replies
/// that came during the run stay in it).
pub fn conversation_with(
    conn: &Connection,
    id: &str,
    item: Value,
) -> Result<Option<String>, StoreError> {
    Ok(get(conn, id)?.map(|task| {
        let mut items = conversation::parse(&task.conversation);
        items.push(item);
        conversation::to_string(items)
    }))
}

/// The task's conversation now, with `run` (one that failed after its tools spoke) kept at its
/// end: the replies the run read are read there, those it did not come after it.
pub fn conversation_with_run(
    conn: &Connection,
    id: &str,
    run: Value,
) -> Result<Option<String>, StoreError> {
    Ok(get(conn, id)?.map(|task| {
        let mut items = conversation::parse(&task.conversation);
        items.push(run);
        let at = items.len() - 1;
        conversation::keep_run(&mut items, at);
        conversation::to_string(items)
    }))
}

/// Marks a task as waiting for a reply on its source (after an `ask`), recording the question.
pub fn wait_for_reply(
    conn: &Connection,
    task_id: &str,
    question: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(task) = get(conn, task_id)? else {
        return Ok(false);
    };
    let mut conversation: Vec<Value> = serde_json::from_str(&task.conversation).unwrap_or_default();
    // A run cut short by this question (asked by someone else while it ran, or while it waited
    // to retry) is kept where it stood, or the run that takes the reply would call its tools
    // again. A run asking itself replaces it with the whole run (`keep_asking_run`).
    if let Some(progress) = task
        .run_progress
        .as_deref()
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .and_then(|mut p| p.get_mut("messages").map(Value::take))
        .filter(|m| m.as_array().is_some_and(|m| !m.is_empty()))
    {
        conversation
            .push(json!({"role": "run", "messages": progress, "cut_short": true, "at": now}));
        let run = conversation.len() - 1;
        conversation::keep_run(&mut conversation, run);
    } else {
        // No run to keep: replies that came while the task ran (an external agent's claim)
        // stand where they came, before this question.
        conversation::forget_run(&mut conversation);
    }
    conversation.push(json!({"role": "assistant", "content": question, "at": now}));
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET conversation = ?2, status = 'waiting_reply', waiting_since = ?3, \
             run_progress = NULL, lease_owner = NULL, lease_until = NULL, updated_at = ?3 \
             WHERE id = ?1 AND status NOT IN ('done', 'failed', 'cancelled')",
        )?
        .execute(params![
            task_id,
            Value::Array(conversation).to_string(),
            now
        ])?;
    Ok(n == 1)
}

/// Starts a waiting task's wait for a reply again now that its question was posted: the reply
/// timeout counts from when people could read it, not from when it was queued (a question
/// held back by a failing upstream would otherwise time out before it was ever seen).
pub fn question_posted(conn: &Connection, task_id: &str, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE tasks SET waiting_since = ?2 WHERE id = ?1 AND status = 'waiting_reply'",
    )?
    .execute(params![task_id, now])?;
    Ok(())
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

/// [`claim`]'s statement.
fn claim_sql() -> String {
    // The oldest of each status's own oldest, each read in `tasks_by_status`' order: one
    // `ORDER BY` over both would read and sort every queued task (a backlog, during a chat
    // API outage) on each claim, on the writer.
    format!(
        "UPDATE tasks SET status = 'running', lease_owner = ?2, lease_until = ?3, \
         attempts = attempts + 1, updated_at = ?1 \
         WHERE id = (SELECT MIN(id) FROM ( \
             SELECT * FROM (SELECT id FROM tasks WHERE status = 'queued' AND next_run_at <= ?1 \
               AND (?4 = '[]' OR agent IN (SELECT value FROM json_each(?4))) \
               ORDER BY id LIMIT 1) \
             UNION ALL \
             SELECT * FROM (SELECT id FROM tasks WHERE status = 'running' AND lease_until < ?1 \
               AND (?4 = '[]' OR agent IN (SELECT value FROM json_each(?4))) \
               ORDER BY id LIMIT 1))) \
         RETURNING {READ_COLUMNS}"
    )
}

/// Takes the oldest runnable task (queued and due, or running with an expired lease) for one
/// of `agents` (any agent when empty) and leases it to `owner` until `lease_until`.
pub fn claim(
    conn: &Connection,
    agents: &[String],
    owner: &str,
    now: i64,
    lease_until: i64,
) -> Result<Option<TaskRow>, StoreError> {
    // The names are bound as one JSON array, never pasted into the SQL: any text is a name
    // (a quote, a NUL), and the statement stays the same, so it is prepared once.
    let agents = serde_json::Value::from(agents).to_string();
    let sql = claim_sql();
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![now, owner, lease_until, agents], from_row)
        .optional()?)
}

/// The tasks `owner` holds a lease on now (at most `limit`, oldest first): id, agent and
/// lease end.
pub fn held_by(
    conn: &Connection,
    owner: &str,
    now: i64,
    limit: i64,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, agent, lease_until FROM tasks \
         WHERE status = 'running' AND lease_owner = ?1 AND lease_until >= ?2 \
         ORDER BY id LIMIT ?3",
    )?;
    let rows = statement
        .query_map(params![owner, now, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
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

/// What the error of a task failed by [`fail_waiting`] begins with.
pub const QUESTION_NOT_POSTED: &str = "the question could not be posted";

/// Fails a task that waits for a reply because its question could not be posted, unless
/// another question of it is still on its way.
pub fn fail_waiting(
    conn: &Connection,
    id: &str,
    error: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'failed', error = ?2, waiting_since = NULL, \
             lease_owner = NULL, lease_until = NULL, updated_at = ?3 \
             WHERE id = ?1 AND status = 'waiting_reply' \
             AND NOT EXISTS (SELECT 1 FROM outbox WHERE task_id = ?1 AND action = 'ask' \
                             AND status IN ('pending', 'sending', 'retrying')) \
             RETURNING event_id",
        )?
        .query_row(params![id, error, now], |r| r.get(0))
        .optional()?;
    settled(conn, n)
}

/// Sets a failed task waiting for a reply again, when its question is sent once more.
pub fn wait_again(conn: &Connection, id: &str, now: i64) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'waiting_reply', error = NULL, waiting_since = ?2, \
             updated_at = ?2 WHERE id = ?1 AND status = 'failed' RETURNING event_id",
        )?
        .query_row(params![id, now], |r| r.get(0))
        .optional()?;
    settled(conn, n)
}

/// Sets a task waiting for a reply again when its question, dead, turns out to have been
/// posted after all (its provider announced the post of a send that heard no answer): only a
/// task failed for want of its question ([`QUESTION_NOT_POSTED`]), not one run again since and
/// failed otherwise. The reply timeout counts from now, when the post became known.
pub fn question_posted_after_all(
    conn: &Connection,
    id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'waiting_reply', error = NULL, waiting_since = ?2, \
             updated_at = ?2 WHERE id = ?1 AND status = 'failed' \
             AND substr(error, 1, length(?3)) = ?3 RETURNING event_id",
        )?
        .query_row(params![id, now, QUESTION_NOT_POSTED], |r| r.get(0))
        .optional()?;
    settled(conn, n)
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

/// Who holds the task's lease, if anyone (to tell a caller whose completion was refused).
pub fn lease_owner(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT lease_owner FROM tasks WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Puts a task `owner` is running back in the queue after a failed model call, to run again
/// at `next_run_at`.
pub fn requeue(
    conn: &Connection,
    id: &str,
    owner: &str,
    error: &str,
    next_run_at: i64,
    failures: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'queued', error = ?2, next_run_at = ?3, lease_owner = NULL, \
             lease_until = NULL, run_failures = ?6, updated_at = ?4 \
             WHERE id = ?1 AND status = 'running' AND lease_owner = ?5",
        )?
        .execute(params![id, error, next_run_at, now, owner, failures])?;
    Ok(n == 1)
}

/// Gives a task `owner` runs back to the queue, due now, its progress as it is and its model
/// calls failed in a row as the run counted them (the process is stopping; the next one goes
/// on with it).
pub fn release(
    conn: &Connection,
    id: &str,
    owner: &str,
    failures: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'queued', next_run_at = 0, lease_owner = NULL, \
             lease_until = NULL, run_failures = ?4, updated_at = ?2 \
             WHERE id = ?1 AND status = 'running' AND lease_owner = ?3",
        )?
        .execute(params![id, now, owner, failures])?;
    Ok(n == 1)
}

/// Saves the runner's progress in its current run, if `owner` still runs the task. A model
/// call that worked ends a run of failures, so the retry budget starts again.
pub fn save_progress(
    conn: &Connection,
    id: &str,
    owner: &str,
    progress: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET run_progress = ?3, run_failures = 0, updated_at = ?4 \
             WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'",
        )?
        .execute(params![id, owner, progress, now])?;
    Ok(n == 1)
}

/// Keeps the run that ended in `questions` questions in the task's conversation, just before
/// them: the run that takes the reply then knows what its tools already did and said.
pub fn keep_asking_run(
    conn: &Connection,
    id: &str,
    run: Value,
    questions: usize,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(task) = get(conn, id)? else {
        return Ok(false);
    };
    let mut conversation: Vec<Value> = serde_json::from_str(&task.conversation).unwrap_or_default();
    let asked: Vec<usize> = conversation
        .iter()
        .enumerate()
        .filter(|(_, item)| item.get("role").and_then(Value::as_str) == Some("assistant"))
        .map(|(i, _)| i)
        .collect();
    let at = asked
        .len()
        .checked_sub(questions.max(1))
        .and_then(|first| asked.get(first).copied())
        .unwrap_or(conversation.len());
    let run = json!({"role": "run", "messages": run, "at": now});
    // The part of this run its first question kept (`wait_for_reply`) is now the whole run.
    let run_at = match at.checked_sub(1).and_then(|i| conversation.get_mut(i)) {
        Some(cut) if cut.get("cut_short") == Some(&Value::Bool(true)) => {
            *cut = run;
            at - 1
        }
        _ => {
            conversation.insert(at, run);
            at
        }
    };
    conversation::keep_run(&mut conversation, run_at);
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET conversation = ?2, updated_at = ?3 \
             WHERE id = ?1 AND status NOT IN ('done', 'failed', 'cancelled')",
        )?
        .execute(params![id, Value::Array(conversation).to_string(), now])?;
    Ok(n == 1)
}

/// Has a task that waits for a reply in a channel wait for it in `thread` (`channel:ts`), the
/// thread its question started there; what it says next goes in that thread too.
pub fn wait_on_thread(
    conn: &Connection,
    id: &str,
    thread: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(task) = get(conn, id)? else {
        return Ok(false);
    };
    let Some((channel, ts)) = thread.split_once(':') else {
        return Ok(false);
    };
    if task.status != "waiting_reply" || task.source_key.as_deref() != Some(channel) {
        return Ok(false);
    }
    let mut source: Value = task
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_else(|| json!({"detail": {"channel": channel}}));
    source["kind"] = json!("slack.thread");
    source["key"] = json!(thread);
    source["detail"]["thread_ts"] = json!(ts);
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET source_key = ?2, source_kind = 'slack.thread', source = ?3, \
             updated_at = ?4 WHERE id = ?1 AND status = 'waiting_reply'",
        )?
        .execute(params![id, thread, source.to_string(), now])?;
    Ok(n == 1)
}

/// Has the webhook's tasks on thread `from` (every one, finished or not: one run again speaks
/// where the thread is now) be on the thread the moved one is now: `to` is its key, `kind`
/// and `source` as an event there names them. How many moved.
pub fn follow_moved_thread(
    conn: &Connection,
    webhook_id: &str,
    from: &str,
    to: (&str, &str, &str),
    now: i64,
) -> Result<usize, StoreError> {
    let (kind, key, source) = to;
    Ok(conn
        .prepare_cached(
            "UPDATE tasks SET source_kind = ?3, source_key = ?4, source = ?5, updated_at = ?6 \
             WHERE webhook_id = ?1 AND source_key = ?2",
        )?
        .execute(params![webhook_id, from, kind, key, source, now])?)
}

/// A GitLab task's project number and path, as the index `tasks_by_gitlab_project`
/// (migration 0023) holds them: a lookup must use these very expressions, and name the
/// index's `source_kind` test, for SQLite to use it.
const GITLAB_PROJECT: &str = "(CASE WHEN json_valid(source) THEN \
     json_extract(source, '$.detail.project_id') END)";
const GITLAB_PATH: &str = "(CASE WHEN json_valid(source) THEN \
     json_extract(source, '$.detail.project') END)";

/// Has the webhook's tasks on GitLab project `project_id` that name it by another path (it was
/// renamed, or moved to another group, since) be on `path`, what its events call it now: the
/// answers they wait for come keyed by it, and GitLab's API takes no write on the old path.
/// Tasks of another instance stay: one that names its instance (`site`) moves only for an
/// event naming the same (one naming none, from an older build, moves for any).
/// How many moved.
pub fn follow_renamed_project(
    conn: &Connection,
    webhook_id: &str,
    project_id: u64,
    path: &str,
    site: Option<&str>,
    now: i64,
) -> Result<usize, StoreError> {
    let renamed: Vec<(String, String, String)> = conn
        .prepare_cached(&on_renamed_project_sql())?
        .query_map(params![webhook_id, project_id as i64, path], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut moved = 0;
    for (id, key, source) in renamed {
        let Ok(mut source) = serde_json::from_str::<Value>(&source) else {
            continue;
        };
        let detail = &source["detail"];
        // Numbers repeat across instances: a task that names its instance moves only for an
        // event that names the same one.
        let other_site = match (detail["site"].as_str(), site) {
            (Some(theirs), Some(ours)) => theirs != ours,
            (Some(_), None) => true,
            _ => false,
        };
        let Some(old) = detail["project"].as_str().map(str::to_owned) else {
            continue;
        };
        // The key is the path and what is in the project (`#5`, `!7`, `@sha`), or the path.
        let Some(rest) = key.strip_prefix(old.as_str()) else {
            continue;
        };
        if other_site {
            continue;
        }
        let key = format!("{path}{rest}");
        source["key"] = Value::String(key.clone());
        source["detail"]["project"] = Value::String(path.to_owned());
        moved += conn
            .prepare_cached(
                "UPDATE tasks SET source_key = ?2, source = ?3, updated_at = ?4 WHERE id = ?1",
            )?
            .execute(params![id, key, source.to_string(), now])?;
    }
    Ok(moved)
}

fn on_renamed_project_sql() -> String {
    format!(
        "SELECT id, source_key, source FROM tasks WHERE webhook_id = ?1 \
         AND source_kind GLOB 'gitlab.*' AND {GITLAB_PROJECT} = ?2 AND {GITLAB_PATH} <> ?3"
    )
}

/// Has a task whose question started a GitLab discussion (`thread`; asked about a commit note
/// in none, where every post starts one) say what it says next in it, where its answer is
/// looked for. It still waits on its commit, merge request or issue: an answer given in
/// another thread there answers as well.
pub fn speak_in_discussion(
    conn: &Connection,
    id: &str,
    thread: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(task) = get(conn, id)? else {
        return Ok(false);
    };
    let Some(mut source) = task
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    else {
        return Ok(false);
    };
    let on_gitlab = source["kind"]
        .as_str()
        .is_some_and(|kind| kind.starts_with("gitlab."));
    if task.status != "waiting_reply" || !on_gitlab || !source["detail"].is_object() {
        return Ok(false);
    }
    source["detail"]["discussion"] = json!(thread);
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET source = ?2, updated_at = ?3 \
             WHERE id = ?1 AND status = 'waiting_reply'",
        )?
        .execute(params![id, source.to_string(), now])?;
    Ok(n == 1)
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

/// Why a question of a completed task was not sent (or not sent again).
pub const COMPLETED: &str = "the task was completed";

/// Why a question a person answered through the service before it was out was not sent.
pub const ANSWERED_FIRST: &str = "answered before it was posted";

/// Drops the questions of a task that are not yet out (to be sent, or refused and waiting to
/// be tried again), `why` ([`COMPLETED`], [`ANSWERED_FIRST`]): of a task just completed, an
/// answer to one would wake no one, and it would land after the result; one already answered
/// would be asked after its answer, and its replies taken for the next question's. Its other
/// actions (a comment, the result itself) still go. One with a post id already was posted, as
/// [`cancel`] leaves it. Like a cancelled task's, they do not make the event `failed`.
pub fn drop_unsent_questions(
    conn: &Connection,
    id: &str,
    now: i64,
    why: &str,
) -> Result<usize, StoreError> {
    let events: Vec<Option<String>> = conn
        .prepare_cached(
            "UPDATE outbox SET status = 'dead', last_error = ?3, updated_at = ?2 \
             WHERE task_id = ?1 AND action = 'ask' AND status IN ('pending', 'retrying') \
             AND remote_id IS NULL RETURNING event_id",
        )?
        .query_map(params![id, now, why], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut settled: Vec<&String> = events.iter().flatten().collect();
    settled.dedup();
    for event_id in settled {
        events::settle(conn, event_id)?;
    }
    Ok(events.len())
}

/// Cancels a task that has not ended.
pub fn cancel(conn: &Connection, id: &str, now: i64) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'cancelled', lease_owner = NULL, lease_until = NULL, \
             run_progress = NULL, updated_at = ?2 WHERE id = ?1 AND status IN ('queued', 'running', 'waiting_reply') \
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

/// Ends tasks that waited for a reply since before `cutoff`: failed, reason `timeout`. Their
/// conversation notes it, so a run of the task again knows its question went unanswered.
pub fn expire_waiting(conn: &Connection, cutoff: i64, now: i64) -> Result<usize, StoreError> {
    let events: Vec<Option<String>> = conn
        .prepare_cached(&format!(
            "UPDATE tasks SET status = 'failed', error = ?3, waiting_since = NULL, \
                 conversation = json_insert(CASE WHEN json_valid(conversation) \
                     THEN conversation ELSE '[]' END, '$[#]', json_object('role', 'note', \
                     'kind', ?4, 'content', ?3, 'at', ?2)), updated_at = ?2 \
                 WHERE status = 'waiting_reply' AND waiting_since < ?1 AND {QUESTION_SENT} \
                 RETURNING event_id"
        ))?
        .query_map(params![cutoff, now, TIMED_OUT, REPLY_TIMEOUT], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for event_id in events.iter().flatten() {
        events::settle(conn, event_id)?;
    }
    Ok(events.len())
}

/// The task's status alone (its conversation is not read), if there is such a task.
pub fn status_of(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT status FROM tasks WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// Extends a running task's lease, if `owner` still holds it: `None` then; otherwise the
/// task's status now (`waiting_reply` after the run asked a question; anything else means the
/// run lost the task: cancelled, finished elsewhere, or claimed by another after a stall).
pub fn renew_lease(
    conn: &Connection,
    id: &str,
    owner: &str,
    lease_until: i64,
) -> Result<Option<String>, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE tasks SET lease_until = ?3 \
             WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'",
        )?
        .execute(params![id, owner, lease_until])?;
    if n == 1 {
        return Ok(None);
    }
    Ok(Some(
        status_of(conn, id)?.unwrap_or_else(|| "deleted".into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_reads_each_status_in_index_order_not_a_sort_of_every_task() {
        let conn = migrated();
        let planned = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", claim_sql()))
            .unwrap()
            .query_map(params![0, "o", 0, "[]"], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("; ");
        assert!(!planned.contains("TEMP B-TREE"), "{planned}");
        assert_eq!(planned.matches("tasks_by_status").count(), 2, "{planned}");
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
        let rows = stmt.query_map(params!["w", "x"], |r| r.get::<_, String>(3));
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
        assert!(
            answered.contains("SEARCH r USING PRIMARY KEY (event_id=?)")
                && !answered.contains("SCAN t"),
            "{answered}"
        );
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
