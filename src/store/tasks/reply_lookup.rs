//! Which waiting task a reply answers: found by its source thread or issue, through indexes;
//! and whether an event was already taken as an answer.

use rusqlite::{Connection, params};

use super::{READ_COLUMNS, TaskRow, from_row};
use crate::store::StoreError;

/// A waiting task's question is out (or may be: sent, its answer lost): no question of it
/// is still to be sent, or waits to be tried again with no attempt that may have posted it
/// (every one refused with an answer, or made no connection: only an attempt that went out
/// and heard nothing back may have posted it, whatever later ones heard). A comment before the question is out answers
/// nothing (during an outage of the place it goes to, one may come hours before), and a
/// question that never goes out fails its task.
pub(super) const QUESTION_OUT: &str = "NOT EXISTS (SELECT 1 FROM outbox o \
     WHERE o.status IN ('pending', 'retrying') AND o.task_id = tasks.id AND o.action = 'ask' \
     AND (o.status = 'pending' \
          OR NOT EXISTS (SELECT 1 FROM outbox_attempts a \
                         WHERE a.outbox_id = o.id AND a.unanswered = 1)))";

/// No question of the task's is still to be sent or being sent: its wait for a reply has begun
/// (stricter than [`QUESTION_OUT`], which takes a question whose attempt failed without an
/// answer as possibly posted, for a reply that may come; the timeout waits until it surely
/// went, or went dead).
pub(super) const QUESTION_SENT: &str = "NOT EXISTS (SELECT 1 FROM outbox o \
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
pub(super) const TAKES_REPLIES: &str = "(status = 'waiting_reply' \
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

pub(super) fn on_issue(kind: IssueKind) -> String {
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

pub(super) fn replies_on_jira_issue_sql() -> String {
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

/// The tasks the event answered: those whose conversation took it as the reply to their
/// question (not one kept after the question had timed out), by id.
pub fn tasks_answered(conn: &Connection, event_id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(TASKS_ANSWERED)?;
    let rows = stmt.query_map([event_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) const TASKS_ANSWERED: &str = "SELECT DISTINCT r.task_id FROM task_replies r \
       JOIN tasks t ON t.id = r.task_id \
       JOIN json_each(CASE WHEN json_valid(t.conversation) THEN t.conversation ELSE '[]' END) c \
     WHERE r.event_id = ?1 AND json_extract(c.value, '$.event_id') = ?1 \
       AND json_extract(c.value, '$.late') IS NULL \
     ORDER BY r.task_id";

pub(super) const ANSWERED_BY: &str = "SELECT EXISTS (SELECT 1 FROM task_replies r \
       JOIN tasks t ON t.id = r.task_id \
       JOIN json_each(CASE WHEN json_valid(t.conversation) THEN t.conversation ELSE '[]' END) c \
     WHERE r.event_id = ?2 AND t.webhook_id = ?1 AND json_extract(c.value, '$.event_id') = ?2 \
       AND json_extract(c.value, '$.late') IS NULL)";
