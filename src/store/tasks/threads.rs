//! The thread a task speaks and waits on: set when its question starts one, and followed when
//! the thread moves or its GitLab project is renamed.

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use super::get;
use crate::store::StoreError;

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

pub(super) fn on_renamed_project_sql() -> String {
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
