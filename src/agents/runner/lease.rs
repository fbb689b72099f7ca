//! A run's hold on its task: the lease renewed while the run goes on, the task checked for
//! being lost (cancelled, or taken after a stall), and given back at shutdown.

use anyhow::Context;

use super::Runner;
use crate::app::AppState;
use crate::clock;
use crate::store::tasks::{self, TaskRow};

/// Renews the claim on `task` every third of the lease, for as long as the run lasts (the
/// caller drops this when the run ends). Returns the task's status if the run has lost it.
pub(super) async fn keep_lease(state: &AppState, runner: &Runner, task: &TaskRow) -> String {
    loop {
        tokio::time::sleep(runner.lease / 3).await;
        let (id, owner) = (task.id.clone(), owner_of(task));
        let until = clock::now_ms() + runner.lease.as_millis() as i64;
        match state
            .store
            .write(move |db| tasks::renew_lease(db, &id, &owner, until))
            .await
        {
            Ok(None) => {}
            // The run asked a question and is ending: nothing left to hold.
            Ok(Some(status)) if status == "waiting_reply" => std::future::pending().await,
            Ok(Some(status)) => return status,
            Err(e) => tracing::warn!(task = %task.id, error = %e, "could not renew a task's lease"),
        }
    }
}

/// The name the task was claimed under (set by the claim that returned it).
pub(super) fn owner_of(task: &TaskRow) -> String {
    task.lease_owner.clone().unwrap_or_default()
}

/// The task's status if this run no longer holds it: cancelled by a person, or claimed by
/// another run after this one's lease ran out.
pub(super) async fn lost(state: &AppState, task: &TaskRow) -> anyhow::Result<Option<String>> {
    let id = task.id.clone();
    let now = state
        .store
        .read(move |db| tasks::get(db, &id))
        .await
        .context("read the task being run")?;
    Ok(match now {
        Some(t) if t.status == "running" && t.lease_owner == task.lease_owner => None,
        Some(t) => Some(t.status),
        None => Some("deleted".into()),
    })
}

/// Gives the task back to the queue, progress kept, without counting a failure.
pub(super) async fn release(
    state: &AppState,
    task: &TaskRow,
    failures: i64,
) -> anyhow::Result<String> {
    let (id, owner, now) = (task.id.clone(), owner_of(task), clock::now_ms());
    state
        .store
        .write(move |db| tasks::release(db, &id, &owner, failures, now))
        .await
        .context("release a task at shutdown")?;
    Ok("queued".into())
}
