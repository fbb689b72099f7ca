//! The receiver's one write: the event, the actions and tasks it planned, and a reply handed to
//! a task that waits on the same thread — one write of the store, which commits or undoes it
//! whole, so either all of it is durable before the 2xx or none of it is.

use rusqlite::Connection;
use serde_json::Value;

use super::echo::{self, Posted};
use super::sealing::Sealer;
use crate::actions::Delivery;
use crate::engine::ActionKind;
use crate::engine::plan::Planned;
use crate::providers::ProviderOptions;
use crate::store::StoreError;
use crate::store::conversation::ReplyFrom;
use crate::store::events::{self, Inserted, NewEvent};
use crate::store::outbox::{self, OutboxRow};
use crate::store::tasks::{self, IssueKind, TaskRow};
use crate::store::webhooks::{self, Gone};

/// The status of an event that is the service's own comment or message coming back.
pub const OWN_POST: &str = "own_post";

/// A reply found in the event, to hand to tasks waiting on its thread.
#[derive(Debug, Clone)]
pub struct Reply {
    pub source_key: String,
    pub text: String,
    /// The message the reply is, which two deliveries can carry: a Slack `channel:ts`, a
    /// Jira comment's id.
    pub message: Option<String>,
    /// The issue's id, where the thread's key may differ (see `providers::issue_id`).
    pub issue_id: Option<String>,
    /// The Jira site the event came from (`https://acme.atlassian.net`), when it names one:
    /// a Jira issue's id is its site's.
    pub site: Option<String>,
    /// Who wrote it, when the event names them: shown with it to an agent that claimed the task.
    pub author: Option<String>,
}

/// What the write did.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub inserted: Inserted,
    /// Outbox rows written or made due (zero for a duplicate).
    pub actions: usize,
    /// Tasks that got the reply and were queued again.
    pub resumed: Vec<String>,
}

/// Stores the event and, if it is new, its planned work. A duplicate stores nothing more.
/// `webhook_made` is when the webhook the delivery was checked and planned with was made.
/// Nothing is stored if that webhook is gone (deleted, or made anew at its id) since it was
/// read: the delivery is refused, as one sent after the delete is, and not kept as an event
/// that did nothing (or looked as if it had done all it matched).
#[allow(clippy::too_many_arguments)]
pub fn record(
    conn: &Connection,
    sealer: &Sealer,
    event: &NewEvent,
    webhook_made: i64,
    planned: &[Planned],
    own_apis: &OwnApis,
    reply: Option<&Reply>,
    posted: Option<&Posted>,
    moved_from: Option<&str>,
) -> Result<Result<Recorded, Gone>, StoreError> {
    // Before anything is written: this write is the whole of it, so refusing here loses
    // nothing a sender was told was kept.
    if let Some(gone) = webhooks::gone(conn, &event.webhook_id, webhook_made)? {
        return Ok(Err(gone));
    }
    let own = match posted {
        Some(posted) => echo::is_own(
            conn,
            &event.provider,
            &event.webhook_id,
            event.source_key.as_deref(),
            posted,
            event.received_at,
        )?,
        None => None,
    };
    if let Some(own) = own {
        // Its send is done, whatever that send itself hears back: it is not sent again.
        let mut confirmed = false;
        let mut resumed = Vec::new();
        if let (echo::Own::SentUnanswered { action_id }, Some(id)) =
            (&own, posted.and_then(|p| p.ids.first()))
        {
            confirmed = settle_announced(conn, action_id, id, event, &mut resumed)?;
        }
        // Kept in the log like every delivery, but nothing fires on it and it answers no
        // question: it is what this service said.
        let own = NewEvent {
            status: OWN_POST.into(),
            matched_commands: "[]".into(),
            ..event.clone()
        };
        return Ok(Ok(Recorded {
            inserted: events::insert(conn, &own)?,
            actions: usize::from(confirmed),
            resumed,
        }));
    }
    let inserted = events::insert(conn, event)?;
    let Inserted::New(event_id) = &inserted else {
        return Ok(Ok(Recorded {
            inserted,
            actions: 0,
            resumed: Vec::new(),
        }));
    };
    let now = event.received_at;
    // An issue moved to another repository: its tasks follow it, so what they say next and
    // the answers they wait for are on the issue as it is now (GitHub answers a comment on
    // the old number with a redirect, which is not followed).
    if let (Some(from), Some(kind), Some(key), Some(source)) = (
        moved_from,
        &event.source_kind,
        &event.source_key,
        &event.source,
    ) && from != key
    {
        let moved =
            tasks::follow_moved_thread(conn, &event.webhook_id, from, (kind, key, source), now)?;
        if moved > 0 {
            tracing::info!(webhook = %event.webhook_id, from, to = %key, tasks = moved,
                "tasks follow their issue to where it moved");
        }
    }
    // A test delivery (a built-in sample's project) or a looped one moves nothing.
    if event.provider == "gitlab"
        && !matches!(event.status.as_str(), "test" | super::ingest::LOOPED)
    {
        follow_renamed_project(conn, event, now)?;
    }
    let mut resumed = Vec::new();
    let mut joined = false;
    // The other delivery of a message already taken as an answer (a Slack `message` beside
    // its `app_mention`, a Jira `comment_created` beside its `jira:issue_updated`; in either
    // order, however late) answers nothing more: not the follow-up question the first
    // delivery's answer led to either.
    let issue_kind = IssueKind::of(&event.provider);
    let twin_answered = match reply {
        Some(Reply {
            message: Some(message),
            source_key,
            issue_id,
            ..
        }) => {
            events::twin_answered(conn, &event.webhook_id, source_key, message, event_id)?
                || match issue_id {
                    Some(issue) if issue_kind == Some(IssueKind::Jira) => {
                        jira_twin_answered(conn, event, issue, message, event_id)?
                    }
                    _ => false,
                }
        }
        _ => false,
    };
    // (The service's own comment coming back was told apart above: it is no answer.)
    if let Some(reply) = reply.filter(|_| !twin_answered) {
        // A Jira key names an issue on its site only: one webhook may hear several sites.
        let mut waiting = tasks::waiting_on(conn, &event.webhook_id, &reply.source_key)?;
        waiting.retain(|task| same_site(task, &reply.site));
        if let (Some(issue), Some(kind)) = (&reply.issue_id, issue_kind) {
            for task in tasks::waiting_on_issue(conn, &event.webhook_id, kind, issue)? {
                if !waiting.iter().any(|t| t.id == task.id) && same_site(&task, &reply.site) {
                    waiting.push(task);
                }
            }
        }
        for task in waiting {
            // A task this very event asked with waits for the *next* message, not this one
            // (nor this one's twin: the `app_mention` of the `message` that asked, the issue
            // update of the comment that asked).
            if task.event_id.as_deref() == Some(event_id.as_str()) {
                continue;
            }
            if let (Some(message), Some(asked_by)) = (&reply.message, &task.event_id)
                && events::message_of(conn, asked_by)?.as_deref() == Some(message.as_str())
            {
                continue;
            }
            match tasks::attach_reply(
                conn,
                &task.id,
                ReplyFrom::Event(event_id),
                &reply.text,
                reply.author.as_deref(),
                now,
            )? {
                tasks::Attached::Resumed => resumed.push(task.id),
                tasks::Attached::Joined => joined = true,
                // Shown to the external agent working the task; it answered no question.
                tasks::Attached::Noted => {}
                // Kept for a run again of a task that had failed: it answered nothing now; or
                // not kept at all.
                tasks::Attached::Kept | tasks::Attached::No | tasks::Attached::Full => {}
            }
        }
    }
    // A reply that answers a question is that conversation's: it starts no second agent on
    // the same words (a `create_task` or `ask` its text also matches), nor does the other
    // delivery of the same message. Messages and forwards it matches still go.
    let answered = !resumed.is_empty() || joined || twin_answered;
    let kept: Vec<Planned>;
    let planned = if answered {
        kept = planned
            .iter()
            .filter(|p| !starts_agent(p))
            .cloned()
            .collect();
        &kept[..]
    } else {
        planned
    };
    let actions = write_planned(
        conn,
        sealer,
        event_id,
        &event.webhook_id,
        event,
        planned,
        own_apis,
        now,
    )?;
    // An answer given inline is work already finished: such an event is done at once.
    let inline = planned.iter().any(|p| matches!(p, Planned::Inline { .. }));
    if actions > 0 || inline || answered {
        crate::store::events::settle(conn, event_id)?;
    }
    Ok(Ok(Recorded {
        inserted,
        actions,
        resumed,
    }))
}

/// Settles the send an announced post (`announced`) was taken for (see
/// [`outbox::seen_coming_back`]); whether it was. A question taken for dead was posted after
/// all: its task, failed for want of it, waits for the answer again, as a task whose question
/// was delivered does (if it is the task's latest question, asked through the webhook still
/// stored at its id). A question that started a GitLab discussion, whose answer naming it was
/// lost, has its task speak in the discussion its announcement names, as the answer would have.
/// A task woken so is handed an answer given while it had given up (see `late_answer`), and
/// is then in `resumed`.
fn settle_announced(
    conn: &Connection,
    action_id: &str,
    remote_id: &str,
    announced: &NewEvent,
    resumed: &mut Vec<String>,
) -> Result<bool, StoreError> {
    let now = announced.received_at;
    let before = outbox::get(conn, action_id)?;
    let since = now - echo::UNANSWERED_POST_WINDOW_MS;
    if !outbox::seen_coming_back(conn, action_id, remote_id, since, now)? {
        return Ok(false);
    }
    let Some(row) = before.filter(|row| row.action == "ask") else {
        return Ok(true);
    };
    let Some(task_id) = &row.task_id else {
        return Ok(true);
    };
    // Only the task's latest question may wake it or say where it speaks: an earlier run's,
    // announced late, is settled and nothing more.
    if outbox::newest_ask_of_task(conn, task_id)?.as_deref() != Some(action_id) {
        return Ok(true);
    }
    // Nor one whose webhook was deleted since (or made anew at its id, as the worker tells):
    // the task was that webhook's, and the new one's answers and tokens are not its.
    if !asked_for_current_webhook(conn, &row)? {
        return Ok(true);
    }
    let woke = row.status == "dead" && tasks::question_posted_after_all(conn, task_id, now)?;
    if let Some(thread) = discussion_started(&row, announced) {
        tasks::speak_in_discussion(conn, task_id, &thread, now)?;
    }
    if woke && super::late_answer::hand_over(conn, task_id, &row, now)? {
        resumed.push(task_id.clone());
    }
    Ok(true)
}

/// Whether the other delivery of a Jira comment (`message`, its id) was taken as an answer
/// where the two name the issue differently: one by its key, the other (an older Data Center
/// sender's `comment_created`) by its id alone, so [`events::twin_answered`], which looks on
/// the same thread key, misses it. Looked for among the replies of the issue's tasks.
fn jira_twin_answered(
    conn: &Connection,
    event: &NewEvent,
    issue: &str,
    message: &str,
    event_id: &str,
) -> Result<bool, StoreError> {
    for reply in tasks::replies_on_jira_issue(conn, &event.webhook_id, issue)? {
        if reply != event_id && events::message_of(conn, &reply)?.as_deref() == Some(message) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A GitLab project renamed or moved to another group keeps its number: the webhook's tasks
/// on its old path follow it to the path this event names (see
/// [`tasks::follow_renamed_project`]).
fn follow_renamed_project(conn: &Connection, event: &NewEvent, now: i64) -> Result<(), StoreError> {
    let Some(source) = event
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    else {
        return Ok(());
    };
    let detail = &source["detail"];
    let (Some(project_id), Some(path)) =
        (detail["project_id"].as_u64(), detail["project"].as_str())
    else {
        return Ok(());
    };
    let site = detail["site"].as_str();
    let moved =
        tasks::follow_renamed_project(conn, &event.webhook_id, project_id, path, site, now)?;
    if moved > 0 {
        tracing::info!(webhook = %event.webhook_id, project_id, to = %path, tasks = moved,
            "tasks follow their GitLab project to its new path");
    }
    Ok(())
}

/// Whether a task found by its issue's key or id is on the reply's site: Jira numbers issues
/// per site, and one webhook may hear several. Either side naming no site (a Linear one never
/// does) is taken as the same.
fn same_site(task: &TaskRow, site: &Option<String>) -> bool {
    let task_site = task
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|s| {
            let address = s.pointer("/detail/self")?.as_str()?.to_owned();
            crate::providers::site_of("jira", &address)
        });
    match (task_site, site) {
        (Some(task_site), Some(site)) => &task_site == site,
        _ => true,
    }
}

/// Whether the webhook the row was queued for is still the one stored at its id.
fn asked_for_current_webhook(conn: &Connection, row: &OutboxRow) -> Result<bool, StoreError> {
    let stored = match &row.webhook_id {
        Some(id) => webhooks::get(conn, id)?,
        None => None,
    };
    Ok(matches!(
        webhooks::Standing::of(stored, row.created_at),
        webhooks::Standing::Current(_)
    ))
}

/// The GitLab discussion a post started, as its announcement names it: a note on a commit
/// that answered in no discussion is one of its own (see `actions::gitlab`).
fn discussion_started(row: &OutboxRow, announced: &NewEvent) -> Option<String> {
    let delivery = serde_json::from_str(row.delivery.as_deref()?).ok()?;
    if !matches!(
        delivery,
        Delivery::GitlabCommitNote {
            discussion: None,
            ..
        }
    ) {
        return None;
    }
    let source: Value = serde_json::from_str(announced.source.as_deref()?).ok()?;
    source
        .pointer("/detail/discussion")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Whether a stored event was taken as the answer to a question, itself or (on Slack, Jira)
/// the other delivery of the same message: a replay of it starts no agent either.
pub fn was_an_answer(conn: &Connection, event: &NewEvent) -> Result<bool, StoreError> {
    if tasks::answered_by(conn, &event.webhook_id, &event.id)? {
        return Ok(true);
    }
    match (&event.source_key, events::message_of(conn, &event.id)?) {
        (Some(source_key), Some(message)) => {
            events::twin_answered(conn, &event.webhook_id, source_key, &message, &event.id)
        }
        _ => Ok(false),
    }
}

/// Whether the planned work is an agent's: a task, or a question a task waits on.
pub fn starts_agent(planned: &Planned) -> bool {
    match planned {
        Planned::Task { .. } => true,
        Planned::Send { ask, .. } => ask.is_some(),
        Planned::Inline { .. } => false,
    }
}

/// Writes planned work for an event (also used by replay). Returns how many outbox rows
/// were written; rows a command already has for this event are left alone.
#[allow(clippy::too_many_arguments)]
pub fn write_planned(
    conn: &Connection,
    sealer: &Sealer,
    event_id: &str,
    webhook_id: &str,
    event: &NewEvent,
    planned: &[Planned],
    own_apis: &OwnApis,
    now: i64,
) -> Result<usize, StoreError> {
    let mut written = 0;
    for p in planned {
        match p {
            Planned::Send {
                command_id,
                action,
                delivery,
                ask,
            } => {
                let id = super::new_id("act");
                let task_id = match ask {
                    Some((agent, question)) => {
                        let task = new_task(
                            event_id, webhook_id, command_id, agent, question, event, now,
                        );
                        let task_id = task.id.clone();
                        if tasks::insert(conn, &task)? {
                            tasks::wait_for_reply(conn, &task_id, question, now)?;
                            // A question with nowhere to go gets no answer: the task ends now,
                            // not after the reply timeout.
                            if let Err(why) = delivery {
                                let why = format!("{}: {why}", tasks::QUESTION_NOT_POSTED);
                                tasks::fail_waiting(conn, &task_id, &why, now)?;
                            }
                            Some(task_id)
                        } else {
                            None
                        }
                    }
                    None => None,
                };
                let (e, w) = (event_id.to_string(), webhook_id.to_string());
                let mut row = outbox_row(
                    sealer,
                    id,
                    Some(&e),
                    Some(&w),
                    Some(command_id),
                    task_id,
                    *action,
                    delivery,
                    now,
                );
                own_apis.key(&mut row);
                if outbox::insert(conn, &row)? {
                    written += 1;
                }
            }
            Planned::Task {
                command_id,
                agent,
                prompt,
            } => {
                let task = new_task(event_id, webhook_id, command_id, agent, prompt, event, now);
                tasks::insert(conn, &task)?;
            }
            // Answered in the HTTP response; nothing to send later.
            Planned::Inline { .. } => {}
        }
    }
    Ok(written)
}

/// An outbox row for a delivery; an unplannable one is stored dead with the reason. A URL
/// that is a credential itself (a channel's, a forward's with a password or token) is stored
/// sealed when a key is set, as its command holds it; the worker opens it to send, and the
/// row's `target` (shown) and `host` (for sharing senders) come from it beforehand.
#[allow(clippy::too_many_arguments)]
pub fn outbox_row(
    sealer: &Sealer,
    id: String,
    event_id: Option<&String>,
    webhook_id: Option<&String>,
    command_id: Option<&String>,
    task_id: Option<String>,
    action: ActionKind,
    delivery: &Result<Delivery, String>,
    now: i64,
) -> OutboxRow {
    let (delivery_json, target, host, status, error) = match delivery {
        Ok(d) => {
            let mut d = d.clone();
            if let Delivery::Forward { message_id, .. } = &mut d {
                // The row id: the same on every retry, so the receiver can dedup.
                *message_id = id.clone();
            }
            let (target, host) = (d.describe_target(), d.host());
            if let Some(url) = d.credential_url_mut()
                && let Some(sealed) = sealer.seal_once(url)
            {
                *url = sealed;
            }
            (
                serde_json::to_string(&d).ok(),
                target,
                host,
                "pending",
                None,
            )
        }
        Err(e) => (
            None,
            "-".to_string(),
            String::new(),
            "dead",
            Some(e.clone()),
        ),
    };
    OutboxRow {
        id,
        event_id: event_id.cloned(),
        webhook_id: webhook_id.cloned(),
        command_id: command_id.cloned(),
        task_id,
        action: action.as_str().to_string(),
        delivery: delivery_json,
        target,
        host,
        status: status.to_string(),
        attempts: 0,
        next_attempt_at: now,
        last_error: error,
        last_status: None,
        remote_id: None,
        created_at: now,
        updated_at: now,
        lease_until: None,
    }
}

/// The APIs a webhook's own credentials name (a GitHub Enterprise server, a self-hosted
/// GitLab, a Jira site), as outbox host keys. A call to one of them is keyed by it in place
/// of the provider's name (`Delivery::host`), which stands for the operator's endpoint: one
/// of those answering slowly must hold up only its own actions, not every webhook's on that
/// provider. Worked out once per webhook (the receiver keeps it with the cached webhook), so
/// the single writer does no lookup for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnApis {
    github: Option<String>,
    gitlab: Option<String>,
    jira: Option<String>,
}

impl OwnApis {
    pub fn of(options: &ProviderOptions) -> Self {
        let Some(own) = &options.credentials else {
            return OwnApis::default();
        };
        // A URL that cannot be read keeps the provider's name; its send fails on it anyway.
        let key = |url: &Option<String>| {
            url.as_deref()
                .filter(|url| reqwest::Url::parse(url).is_ok_and(|u| u.has_host()))
                .map(crate::actions::host_of)
        };
        OwnApis {
            github: key(&own.github_api_url),
            gitlab: key(&own.gitlab_url),
            jira: key(&own.jira_base_url),
        }
    }

    /// Of the stored webhook, for writes off the receive path (a replay, a reply by hand, a
    /// task's answer).
    pub fn of_webhook(conn: &Connection, webhook_id: Option<&str>) -> Result<Self, StoreError> {
        let Some(webhook) = webhook_id
            .map(|id| webhooks::get(conn, id))
            .transpose()?
            .flatten()
        else {
            return Ok(OwnApis::default());
        };
        // Options that cannot be read name no API of their own.
        Ok(serde_json::from_str::<ProviderOptions>(&webhook.options)
            .map(|options| OwnApis::of(&options))
            .unwrap_or_default())
    }

    /// Keys the row by the webhook's own API where it calls the provider's.
    pub fn key(&self, row: &mut OutboxRow) {
        if let Some(host) = self.in_place_of(&row.host) {
            row.host = host.to_string();
        }
    }

    /// The webhook's own API in place of a provider's name (`github`, `gitlab`, `jira`).
    fn in_place_of(&self, host: &str) -> Option<&str> {
        match host {
            "github" => self.github.as_deref(),
            "gitlab" => self.gitlab.as_deref(),
            "jira" => self.jira.as_deref(),
            _ => None,
        }
    }
}

/// Keys a row written off the receive path by its webhook's own API (see [`OwnApis`]).
pub fn key_by_own_api(conn: &Connection, row: &mut OutboxRow) -> Result<(), StoreError> {
    OwnApis::of_webhook(conn, row.webhook_id.as_deref())?.key(row);
    Ok(())
}

fn new_task(
    event_id: &str,
    webhook_id: &str,
    command_id: &str,
    agent: &str,
    prompt: &str,
    event: &NewEvent,
    now: i64,
) -> TaskRow {
    TaskRow {
        id: super::new_id("task"),
        event_id: Some(event_id.to_string()),
        webhook_id: Some(webhook_id.to_string()),
        command_id: Some(command_id.to_string()),
        agent: agent.to_string(),
        prompt: prompt.to_string(),
        status: "queued".into(),
        source_kind: event.source_kind.clone(),
        source_key: event.source_key.clone(),
        source: event.source.clone(),
        conversation: Value::Array(Vec::new()).to_string(),
        result: None,
        error: None,
        attempts: 0,
        waiting_since: None,
        created_at: now,
        updated_at: now,
        run_failures: 0,
        run_progress: None,
        lease_owner: None,
        next_run_at: None,
        lease_until: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrate;
    use rusqlite::OptionalExtension;

    #[test]
    fn an_event_is_stored_only_for_the_webhook_it_was_checked_against() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        let add_webhook = |conn: &Connection, created_at: i64| {
            conn.execute(
                "INSERT INTO webhooks (id, name, provider, secret, created_at, updated_at) \
                 VALUES ('gh', 'gh', 'github', 's', ?1, ?1)",
                [created_at],
            )
            .unwrap();
        };
        let event = |id: &str, received_at: i64| NewEvent {
            id: id.into(),
            webhook_id: "gh".into(),
            provider: "github".into(),
            event_type: Some("issues.opened".into()),
            delivery_id: Some(id.into()),
            verified: true,
            verification: "current_secret".into(),
            status: "matched".into(),
            source_kind: None,
            source_key: None,
            source: None,
            headers: "{}".into(),
            content_type: Some("application/json".into()),
            body: axum::body::Bytes::from_static(b"{}"),
            matched_commands: "[\"cmd_1\"]".into(),
            remote_addr: None,
            received_at,
            truncated: None,
        };
        let planned = [Planned::Task {
            command_id: "cmd_1".into(),
            agent: "planning".into(),
            prompt: "p".into(),
        }];
        // What was stored for the event: its tasks and status, or nothing at all.
        let record_at = |conn: &Connection, id: &str, at: i64, made: i64| {
            let recorded = record(
                conn,
                &Sealer::new(None).unwrap(),
                &event(id, at),
                made,
                &planned,
                &OwnApis::default(),
                None,
                None,
                None,
            )
            .unwrap();
            let tasks: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM tasks WHERE event_id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .unwrap();
            let status: Option<String> = conn
                .query_row("SELECT status FROM events WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()
                .unwrap();
            (recorded.err(), tasks, status)
        };
        add_webhook(&conn, 1_000);
        assert_eq!(
            record_at(&conn, "ev_1", 2_000, 1_000),
            (None, 1, Some("matched".into())),
            "standing"
        );
        webhooks::delete(&conn, "gh", 3_000).unwrap();
        // Checked against the webhook before its delete, written after it: refused whole,
        // not kept as an event that looks done.
        assert_eq!(
            record_at(&conn, "ev_2", 2_500, 1_000),
            (Some(Gone::Deleted), 0, None),
            "deleted"
        );
        // ... or after another was made at its id.
        add_webhook(&conn, 4_000);
        assert_eq!(
            record_at(&conn, "ev_3", 3_500, 1_000),
            (Some(Gone::Replaced), 0, None),
            "replaced"
        );
        assert_eq!(
            record_at(&conn, "ev_4", 4_500, 4_000),
            (None, 1, Some("matched".into())),
            "the new one's"
        );
        // Checked later than the new one was made, but against the old one (another
        // process's cache): the old one's commands are not run.
        assert_eq!(
            record_at(&conn, "ev_5", 4_600, 1_000),
            (Some(Gone::Replaced), 0, None),
            "an old copy's"
        );
    }

    #[test]
    fn a_webhooks_own_api_stands_in_for_its_providers_name_only() {
        let options: ProviderOptions = serde_json::from_value(serde_json::json!({
            "credentials": {
                "github_api_url": "https://ghe.example.com/api/v3",
                "gitlab_url": "http://gitlab.internal:8080",
                "jira_base_url": "not a url",
                "github_token": "t"
            }
        }))
        .expect("options");
        let own = OwnApis::of(&options);
        let cases = [
            ("github", Some("ghe.example.com:443")),
            ("gitlab", Some("gitlab.internal:8080")),
            // Unreadable: the send fails on it anyway, under the provider's name.
            ("jira", None),
            ("slack", None),
            ("hooks.example.com:443", None),
        ];
        for (host, keyed) in cases {
            assert_eq!(own.in_place_of(host), keyed, "{host}");
        }
        let none = OwnApis::of(&ProviderOptions::default());
        assert_eq!(none, OwnApis::default());
        assert_eq!(none.in_place_of("github"), None);
    }
}
