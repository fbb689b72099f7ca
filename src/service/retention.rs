//! Old events let go (`WEBHOOK_MCP_EVENT_RETENTION_DAYS`): a sweep at start and every few
//! minutes deletes the events received longer ago than the retention whose work has ended,
//! with their tasks and actions, and then the actions no event holds (messages posted by hand)
//! that ended that long ago, one small write at a time (see `store::retention`). The audit
//! log's entries have a retention of their own (`WEBHOOK_MCP_AUDIT_RETENTION_DAYS`): kept
//! for accountability, often longer than events, they hold what each change said. Whatever
//! the retentions, the same sweep deletes the secrets rotations replaced once their grace
//! period has ended: they verify nothing any more, and kept they could still be read from
//! the file. Likewise API keys revoked more than [`REVOKED_KEYS_KEPT_DAYS`] days ago: they
//! open nothing, and the audit log keeps each key's creation and revocation (its id, name and
//! scope) under its own retention.
//!
//! A delivery id is known only while its event is kept: once the event is gone, a delivery
//! with the same id is taken as new and acted on again. Senders retry within hours and are
//! redelivered by hand within days, so a retention of days leaves that to deliveries no
//! sender still makes; under [`SAFE_DAYS`] a warning at start says so.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::clock;
use crate::store::retention::{self, eventless};
use crate::store::{StoreError, api_keys, audit, webhooks};

/// How often to look: old events may wait this much longer than the retention.
pub const SWEEP_EVERY: Duration = Duration::from_secs(5 * 60);

/// The shortest retention not warned about: Stripe retries a delivery for up to three days,
/// and GitHub redelivers one by hand up to three days after it was sent.
pub const SAFE_DAYS: u32 = 3;

const DAY_MS: i64 = 86_400_000;

/// How long a revoked API key stays listed (with its last use) before it is deleted: a key
/// minted per CI job and revoked after would otherwise pile up in `GET /api/keys` for good.
pub const REVOKED_KEYS_KEPT_DAYS: u32 = 30;

/// Events received before this time (unix ms) are past a retention of `days`.
pub fn cutoff(now_ms: i64, days: u32) -> i64 {
    now_ms - i64::from(days) * DAY_MS
}

/// What to warn of at start about a retention of `days` (0: none kept forever), if anything.
pub fn warning(days: u32) -> Option<String> {
    (days > 0 && days < SAFE_DAYS).then(|| {
        format!(
            "WEBHOOK_MCP_EVENT_RETENTION_DAYS is {days}: a delivery id is known only while its \
             event is kept, so a delivery sent again later (Stripe retries for up to 3 days, \
             GitHub redelivers by hand within 3 days) is taken as new and acted on again; keep \
             events {SAFE_DAYS} days or more to avoid it"
        )
    })
}

/// What this process let go since it started, for `/metrics`.
#[derive(Debug, Default)]
pub struct Expired {
    events: AtomicU64,
    tasks: AtomicU64,
    /// With their events or tasks, or on their own.
    actions: AtomicU64,
    /// Past `WEBHOOK_MCP_AUDIT_RETENTION_DAYS`.
    audit_entries: AtomicU64,
}

impl Expired {
    pub fn events(&self) -> u64 {
        self.events.load(Relaxed)
    }

    pub fn tasks(&self) -> u64 {
        self.tasks.load(Relaxed)
    }

    pub fn actions(&self) -> u64 {
        self.actions.load(Relaxed)
    }

    pub fn audit_entries(&self) -> u64 {
        self.audit_entries.load(Relaxed)
    }
}

/// What one sweep let go.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub events: usize,
    pub tasks: usize,
    /// Every action let go, those without an event included.
    pub actions: usize,
    /// The actions no event held.
    pub without_event: usize,
}

/// Sweeps at once and then every [`SWEEP_EVERY`] until `stop`: rotated-out secrets whose grace
/// has ended and long-revoked API keys always, events when their retention is set, audit
/// entries when theirs is.
/// Several processes on one database may all sweep: each write looks again at what is there.
pub async fn run(state: AppState, stop: CancellationToken) {
    let days = state.config.event_retention_days;
    let audit_days = state.config.audit_retention_days;
    if days > 0 {
        tracing::info!(
            days,
            "events received more than {days} days ago are deleted once their work has ended, \
             and actions without an event {days} days after they ended"
        );
    }
    if audit_days > 0 {
        tracing::info!(
            days = audit_days,
            "audit log entries are deleted {audit_days} days after they were made"
        );
    }
    loop {
        match sweep_ended_graces(&state).await {
            Ok(0) => {}
            Ok(webhooks) => tracing::info!(
                webhooks,
                "deleted rotated-out webhook secrets whose grace period had ended"
            ),
            Err(e) => tracing::error!(error = %e, "sweep of rotated-out secrets failed"),
        }
        match sweep_revoked_keys(&state).await {
            Ok(0) => {}
            Ok(keys) => tracing::info!(
                keys,
                "deleted API keys revoked more than {REVOKED_KEYS_KEPT_DAYS} days ago"
            ),
            Err(e) => tracing::error!(error = %e, "sweep of revoked API keys failed"),
        }
        if days > 0 && !stop.is_cancelled() {
            match sweep(&state, days, &stop).await {
                Ok(swept) if swept.events > 0 || swept.without_event > 0 => tracing::info!(
                    events = swept.events,
                    tasks = swept.tasks,
                    actions = swept.actions,
                    without_event = swept.without_event,
                    "deleted events older than the retention, with their tasks and actions, \
                     and actions without an event that ended before it"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "event retention sweep failed"),
            }
        }
        if audit_days > 0 && !stop.is_cancelled() {
            match sweep_audit(&state, audit_days, &stop).await {
                Ok(0) => {}
                Ok(entries) => tracing::info!(
                    entries,
                    "deleted audit log entries older than the audit retention"
                ),
                Err(e) => tracing::error!(error = %e, "audit retention sweep failed"),
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(SWEEP_EVERY) => {},
        }
    }
}

/// Deletes the previous secrets whose rotation grace period has ended, a bounded write at a
/// time; how many webhooks had one. A look on a reader first, so that the usual sweep, with
/// none to delete, takes no turn at the writer.
pub async fn sweep_ended_graces(state: &AppState) -> Result<usize, StoreError> {
    let now = clock::now_ms();
    if !state
        .store
        .read(move |db| webhooks::any_grace_ended(db, now))
        .await?
    {
        return Ok(0);
    }
    let mut cleared = 0;
    loop {
        let ids = state
            .store
            .write(move |db| webhooks::clear_ended_graces(db, now, webhooks::GRACES_PER_WRITE))
            .await?;
        // This process's cached copy goes too (it no longer verified with it either); other
        // processes' go within their cache's time limit.
        for id in &ids {
            state.hooks.invalidate(id);
        }
        cleared += ids.len();
        if ids.len() < webhooks::GRACES_PER_WRITE as usize {
            return Ok(cleared);
        }
    }
}

/// Deletes the API keys revoked more than [`REVOKED_KEYS_KEPT_DAYS`] ago, a bounded write at a
/// time; how many went. A look on a reader first (by an index), so that the usual sweep, with
/// none to delete, takes no turn at the writer. No key that works is touched, so the keys in
/// memory, here and in other processes, stay as they are.
pub async fn sweep_revoked_keys(state: &AppState) -> Result<usize, StoreError> {
    let cutoff = cutoff(clock::now_ms(), REVOKED_KEYS_KEPT_DAYS);
    if !state
        .store
        .read(move |db| api_keys::any_revoked_before(db, cutoff))
        .await?
    {
        return Ok(0);
    }
    let mut deleted = 0;
    loop {
        let went = state
            .store
            .write(move |db| {
                api_keys::delete_revoked_before(db, cutoff, api_keys::DELETE_PER_WRITE)
            })
            .await?;
        deleted += went;
        if (went as i64) < api_keys::DELETE_PER_WRITE {
            return Ok(deleted);
        }
    }
}

/// One sweep of the audit log: small writes from its front until no entry made more than
/// `days` ago is left, or `stop`; how many entries went.
pub async fn sweep_audit(
    state: &AppState,
    days: u32,
    stop: &CancellationToken,
) -> Result<usize, StoreError> {
    let now = clock::now_ms();
    let cutoff = cutoff(now, days);
    let (mut entries, mut after) = (0, 0);
    loop {
        let expired = state
            .store
            .write(move |db| audit::expire(db, cutoff, now, audit::EXPIRE_PER_WRITE, after))
            .await?;
        after = expired.looked_to;
        state
            .expired
            .audit_entries
            .fetch_add(expired.entries as u64, Relaxed);
        entries += expired.entries;
        if expired.finished || stop.is_cancelled() {
            return Ok(entries);
        }
    }
}

/// One sweep: small writes until nothing older than the cutoff is left to let go, or `stop`:
/// events with their work first, then the actions no event holds. Each write waits for the
/// one before to be answered, so the receive path's writes take turns with them.
pub async fn sweep(
    state: &AppState,
    days: u32,
    stop: &CancellationToken,
) -> Result<Swept, StoreError> {
    let now = clock::now_ms();
    let cutoff = cutoff(now, days);
    let mut swept = Swept::default();
    let mut after = 0;
    loop {
        let expired = state
            .store
            .write(move |db| retention::expire(db, cutoff, now, after, retention::BUDGET))
            .await?;
        swept.count(
            &state.expired,
            expired.events,
            expired.tasks,
            expired.actions,
        );
        after = expired.last_row;
        if stop.is_cancelled() {
            return Ok(swept);
        }
        if expired.finished {
            break;
        }
    }
    let mut after = 0;
    loop {
        let expired = state
            .store
            .write(move |db| eventless::expire(db, cutoff, after, retention::BUDGET))
            .await?;
        swept.count(&state.expired, 0, 0, expired.actions);
        swept.without_event += expired.actions;
        after = expired.last_row;
        if expired.finished || stop.is_cancelled() {
            return Ok(swept);
        }
    }
}

impl Swept {
    /// Adds one write's deletions to this sweep's and to the process's counts.
    fn count(&mut self, total: &Expired, events: usize, tasks: usize, actions: usize) {
        total.events.fetch_add(events as u64, Relaxed);
        total.tasks.fetch_add(tasks as u64, Relaxed);
        total.actions.fetch_add(actions as u64, Relaxed);
        self.events += events;
        self.tasks += tasks;
        self.actions += actions;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_whole_days_before_now() {
        let now = 1_764_700_000_000;
        for (days, cutoff_ms) in [
            (1, now - 86_400_000),
            (30, now - 30 * 86_400_000),
            (3650, now - 3650 * 86_400_000),
        ] {
            assert_eq!(cutoff(now, days), cutoff_ms, "{days}");
        }
    }

    #[test]
    fn a_retention_shorter_than_senders_redeliver_is_warned_about() {
        for (days, warned) in [(0, false), (1, true), (2, true), (3, false), (30, false)] {
            let warning = warning(days);
            assert_eq!(warning.is_some(), warned, "{days}");
            assert!(
                warning.is_none_or(|w| w.contains("WEBHOOK_MCP_EVENT_RETENTION_DAYS")),
                "{days}"
            );
        }
    }
}
