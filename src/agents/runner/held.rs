//! A run the chat API refused for the runner's key or model (see `agents::chat_pauses`): its task
//! is held in the queue, not failed, since every task would get the same refusal until an
//! operator fixes it; what it concerns is paused, and resumes when a call is taken again.
//! A task held longer than the limit fails.

use anyhow::Context;

use super::Runner;
use super::ending::{Ending, finish};
use super::lease::owner_of;
use crate::agents::chat::{ChatError, Message, Refused};
use crate::agents::chat_pauses::{Probe, Refusal, Scope, held_note, span};
use crate::app::AppState;
use crate::clock;
use crate::service::Change;
use crate::store::tasks::{self, TaskRow};

/// What a run had done when the refusal came: kept if it fails, as any failed run is.
pub(super) struct RunSoFar<'a> {
    pub messages: &'a [Message],
    pub replied: bool,
    pub posted: bool,
}

/// The call the chat API refused as the configuration's.
pub(super) struct RefusedCall<'a> {
    pub model: &'a str,
    /// What the refusal blames.
    pub refused: Refused,
    pub error: &'a ChatError,
    /// The run's model calls failed in a row before it.
    pub failures: i64,
}

/// Holds `task`, whose call was refused (`call`), and pauses what the refusal concerns;
/// fails it instead if it has been held longer than the limit. The status the task ends the
/// run in.
pub(super) async fn hold(
    state: &AppState,
    runner: &Runner,
    task: &TaskRow,
    call: RefusedCall<'_>,
    probe: &mut Probe<'_>,
    run: RunSoFar<'_>,
) -> anyhow::Result<String> {
    let RefusedCall {
        model,
        refused,
        error: e,
        failures,
    } = call;
    let pauses = &state.chat_pauses;
    let timing = pauses.timing();
    let scope = Scope::of(refused, model);
    let now = clock::now_ms();
    // A model refused is a key read and taken: a pause of the key, if one is in force, is
    // over (its tasks run again, unless their model is refused too).
    if matches!(scope, Scope::Model(_)) && pauses.key_taken() {
        tracing::info!(
            model,
            "the chat API takes the runner's key (it refused only the model): the key's pause \
             ends"
        );
        state.wake_runner();
    }
    let refusal = pauses.refused(probe, scope.clone(), &e.message, now);
    let what = scope.what();
    let agents = runner.agents_held_by(&scope);
    let error = crate::quote::one_line(&e.message).into_owned();
    let wait_ms = (refusal.until() - now).max(0);
    // Once a pause, not once a task: a backlog would otherwise log the same line hundreds of
    // times.
    match refusal {
        Refusal::Started { .. } => tracing::warn!(
            refused = %what, ?agents, %error, retry_in_ms = wait_ms,
            "the chat API refuses the runner's configuration: the tasks of these agents wait \
             (not failed) until it takes it; looked at again after the pause, then less and \
             less often"
        ),
        Refusal::Longer { .. } => tracing::info!(
            refused = %what, %error, retry_in_ms = wait_ms,
            "the chat API still refuses the runner's configuration; looked at again later"
        ),
        Refusal::Held { .. } => {}
    }
    let limit = timing.limit;
    let limit_ms = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
    let why_failed = format!(
        "chat API: {error} (it refused {what} for {} since the task was first held, and the \
         task is not held longer: fix the key or model and replay the event to run it)",
        span(limit)
    );
    let held = held_note(&scope, &e.message, timing);
    let overdue = task
        .waiting_since
        .is_some_and(|since| now.saturating_sub(since) >= limit_ms);
    let status = if overdue {
        // Failed through its run, which keeps what its tools did (a replay reads it).
        let why = why_failed.clone();
        let ending = Ending::failed_after(why, run.messages, run.replied, run.posted);
        finish(state, task, ending).await?
    } else {
        let (id, owner, held) = (task.id.clone(), owner_of(task), held.clone());
        // Due when the pause is over, so the next look is another held task's.
        let due = refusal.until();
        let kept = state
            .store
            .write(move |db| tasks::hold(db, &id, &owner, &held, failures, due, now))
            .await
            .context("hold a task the chat API refused")?;
        if kept {
            pauses.gave_back(&scope, &task.id, due, now);
            "queued".to_string()
        } else {
            // Cancelled (or taken) while the call was made: not held, and said as it is.
            let id = task.id.clone();
            let status = state
                .store
                .read(move |db| tasks::status_of(db, &id))
                .await
                .context("read the status of a task the chat API refused")?;
            status.unwrap_or_else(|| "deleted".into())
        }
    };
    // The key's pause ended above (or this one while the task was given back): what it
    // held is due now.
    let_due(state, runner).await;
    // The other tasks are marked (and those held too long failed) when a pause begins or is
    // lengthened, not at every call refused meanwhile.
    if matches!(refusal, Refusal::Held { .. }) {
        return Ok(status);
    }
    let failed = state
        .store
        .write(move |db| {
            tasks::mark_held(db, &agents, &held, now)?;
            tasks::fail_held(db, &agents, now.saturating_sub(limit_ms), &why_failed, now)
        })
        .await
        .context("hold the tasks the chat API's refusal concerns")?;
    if !failed.is_empty() {
        tracing::warn!(
            tasks = failed.len(), refused = %what, %error,
            "tasks failed: held longer than the limit while the chat API refused the runner's \
             configuration"
        );
    }
    for task in failed {
        tracing::info!(task = %task.id, "task failed: held too long");
        if let (Some(webhook_id), Some(event_id)) = (task.webhook_id, task.event_id) {
            let _ = state.changes.send(Change::Event {
                webhook_id,
                event_id,
            });
        }
    }
    Ok(status)
}

/// Records what a call's answer says of the key and the model: one the API read (an answer,
/// or a refusal of the request itself, a 4xx) took them, and ends the pauses holding back
/// `model`'s calls, the tasks they held let go; one that heard nothing of them (a timeout, a
/// 408 or a 5xx: a proxy's or the server's own, before the key was looked at) leaves a pause
/// looked for to wait as long again.
pub(super) async fn heard(
    state: &AppState,
    runner: &Runner,
    probe: &mut Probe<'_>,
    model: &str,
    failed: Option<&ChatError>,
) {
    let read = failed.is_none_or(|e| {
        e.status
            .is_some_and(|s| (400..500).contains(&s) && s != 408)
    });
    if !read {
        probe.heard_nothing();
        return;
    }
    let pauses = &state.chat_pauses;
    let ended = pauses.answered(probe, model);
    if !ended.is_empty() {
        tracing::info!(
            model,
            "the chat API takes the runner's key and model again: the tasks it held run"
        );
        // Idle workers are woken: the held tasks are theirs to claim now.
        state.wake_runner();
    }
    let_due(state, runner).await;
    if pauses.take_sweep() {
        let agents = runner.agents_not_held(pauses);
        let now = clock::now_ms();
        let let_go = state
            .store
            .write(move |db| tasks::let_go(db, &agents, now))
            .await;
        if let Err(e) = let_go {
            // Not the run's failure: the tasks only say a while longer why they waited, and
            // the next call that works tries again.
            tracing::warn!(error = %e, "could not let the tasks held for a refused key go");
            pauses.sweep_later();
        }
    }
}

/// Makes due now the tasks a refusal gave back due at its pause's end, of pauses that ended
/// sooner (a call was taken again, a model refused showed the key taken, no task was left to
/// look again with), unless another pause holds their agent back: they would otherwise wait
/// out a pause no longer in force, up to the longest. Idle workers are woken for them.
pub(super) async fn let_due(state: &AppState, runner: &Runner) {
    let pauses = &state.chat_pauses;
    let now = clock::now_ms();
    let freed = pauses.take_freed(now);
    if freed.is_empty() {
        return;
    }
    let agents = runner.agents_not_held(pauses);
    let due = state
        .store
        .write(move |db| tasks::due_now(db, &freed, &agents, now))
        .await;
    match due {
        Ok(0) => {}
        Ok(_) => state.wake_runner(),
        // Not the run's failure: the tasks run when their pause was to end, as before.
        Err(e) => tracing::warn!(error = %e, "could not make the tasks a pause held due"),
    }
}
