//! The built-in runner: claims queued tasks of the declared agents, asks the model with the
//! agent's system prompt and the event as clearly marked data, runs the tools the model calls
//! (scoped to the task), and posts the answer back through the outbox.
//!
//! Restart safety: a task is leased while it runs, under a name of its own for each claim, and
//! the lease is renewed while the run goes on. If the process dies, renewals stop, the lease
//! expires within `LEASE` and the task is claimed again; the run's saved progress keeps tools
//! that already acted from acting again, and its result goes out through the outbox keyed by
//! the task id, so a re-run cannot post a second comment. A live run's task is never taken
//! from it, and a run that loses its task (cancelled, or taken after a stall) stops.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::ResultAction;
use super::chat::{ChatError, ChatRequest, Message};
use super::chat_pauses::Probe;
use super::markup::Destinations;
use super::tools::{self, Outcome};
use crate::actions::Delivery;
use crate::app::AppState;
use crate::clock;
use crate::store::outbox;
use crate::store::tasks::{self, TaskRow};

mod ending;
mod held;
mod lease;
mod messages;
mod progress;
mod setup;

use ending::{Ending, finish, notify, result_delivery};
use held::{RefusedCall, RunSoFar, heard, hold, let_due};
use lease::{keep_lease, lost, owner_of, release};
use messages::{opening, take_replies};
use progress::{
    Progress, close_interrupted_calls_by, keep_run_cut_short, kept, name_calls_apart,
    save_progress, spoke_in_failed_runs, spoke_in_kept_runs,
};
pub use setup::Runner;

/// How the built-in runner's claims are named (`runner-` and a name of the claim's own):
/// claim and complete calls from outside may not take such a name, so no caller can finish
/// a live run in the runner's place.
pub const RUNNER_OWNER_PREFIX: &str = "runner-";

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Ran { task_id: String, status: String },
    Idle,
}

/// Claims the next task of a declared agent and runs it until it ends, waits or must retry.
pub async fn run_next(state: &AppState, runner: &Runner) -> anyhow::Result<Step> {
    run_next_until(state, runner, &CancellationToken::new()).await
}

/// `run_next`, stopping at the next model call once `stop` is cancelled: the task goes back
/// to the queue with its progress, to go on at the next start.
async fn run_next_until(
    state: &AppState,
    runner: &Runner,
    stop: &CancellationToken,
) -> anyhow::Result<Step> {
    let now = clock::now_ms();
    let lease = now + runner.lease.as_millis() as i64;
    // Each claim has a name of its own, so two processes on one database (`serve` and a
    // `stdio` an MCP client started), or two runs in one, never renew or finish each other's.
    let owner = format!(
        "{RUNNER_OWNER_PREFIX}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    // The agents a refused key or model holds back are left out, but for one claim that looks
    // again once their pause is over.
    let agents = runner.agent_models();
    let admitted = state.chat_pauses.admit(&agents, now);
    if admitted.names.is_empty() && !agents.is_empty() {
        return Ok(Step::Idle);
    }
    let names = admitted.names.clone();
    let probing = admitted.probing();
    let claimed = state
        .store
        .write(move |db| {
            if probing {
                tasks::claim_probe(db, &names, &owner, now, lease)
            } else {
                tasks::claim(db, &names, &owner, now, lease)
            }
        })
        .await
        .context("claim a task")?;
    let Some(task) = claimed else {
        if probing {
            let ended = admitted.nothing_to_probe();
            tracing::info!(
                ?ended,
                "no task is left to look at the chat API again with (the tasks held were \
                 cancelled or failed): the pause ends; the next task finds out afresh"
            );
            let_due(state, runner).await;
        }
        return Ok(Step::Idle);
    };
    let mut probe = admitted.probe_for(runner.model_of(&task.agent).as_deref());
    let status = tokio::select! {
        biased;
        status = run_task(state, runner, &task, stop, &mut probe) => status?,
        lost = keep_lease(state, runner, &task) => {
            tracing::warn!(task = %task.id, status = %lost, "the run lost its task; stopped");
            lost
        }
    };
    notify(state, &task);
    Ok(Step::Ran {
        task_id: task.id,
        status,
    })
}

/// Runs every runnable task. For tests.
pub async fn drain(state: &AppState, runner: &Runner) -> anyhow::Result<Vec<Step>> {
    let mut steps = Vec::new();
    loop {
        match run_next(state, runner).await? {
            Step::Idle => return Ok(steps),
            step => steps.push(step),
        }
    }
}

/// Runs tasks with a few concurrent workers until shutdown.
pub async fn run(state: AppState, runner: Arc<Runner>, shutdown: CancellationToken) {
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..state.config.agents.concurrency.max(1) {
        let (state, runner, shutdown) = (state.clone(), runner.clone(), shutdown.clone());
        workers.spawn(async move {
            loop {
                if shutdown.is_cancelled() {
                    return;
                }
                // Listening before looking, so a task queued while this looks is not missed.
                let woken = state.task_wake.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                let pause = match run_next_until(&state, &runner, &shutdown).await {
                    Ok(Step::Ran { .. }) => continue,
                    // A pause of the chat API over sooner is looked at then.
                    Ok(Step::Idle) => {
                        let now = clock::now_ms();
                        let over = state.chat_pauses.next_over(now).map(|at| at - now);
                        over.map_or(IDLE, |ms| IDLE.min(Duration::from_millis(ms as u64)))
                    }
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "task runner step failed");
                        // Not cut short by a wake: each new task would retry a failing store
                        // at once.
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_secs(5)) => continue,
                        }
                    }
                };
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = &mut woken => {},
                    () = tokio::time::sleep(pause) => {},
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
}

/// How long an idle worker waits before it looks for a task again (unless woken first).
const IDLE: Duration = Duration::from_secs(5);

async fn run_task(
    state: &AppState,
    runner: &Runner,
    task: &TaskRow,
    stop: &CancellationToken,
    probe: &mut Probe<'_>,
) -> anyhow::Result<String> {
    let Some(declared) = runner.agent(&task.agent) else {
        // Claimed by filter, so this cannot happen; fail loudly rather than loop.
        return finish(state, task, Ending::failed("no such agent")).await;
    };
    // The command that made the task may name the channel its result goes to.
    let posting = crate::service::tasks::result_channel(state, task)
        .await
        .map(|target| declared.posting_to(target));
    let agent = posting.as_ref().unwrap_or(declared);
    let Some(model) = agent.model.clone().or_else(|| runner.default_model.clone()) else {
        let msg = "no model: set AI_MODEL or the agent's `model`";
        return finish(state, task, Ending::failed(msg)).await;
    };
    // A run that stopped part way continues where it was: its tools already acted.
    let progress: Progress = task
        .run_progress
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    let steps_done = progress
        .messages
        .iter()
        .filter(|m| m.role == "assistant")
        .count();
    let mut messages = opening(state, agent, task).await;
    let opening_len = messages.len();
    messages.extend(progress.messages);
    let (mut replied, mut posted) = (progress.replied, progress.posted);
    // Calls cut off before their results were saved: what they queued (or did not) is in
    // the outbox, each a write of its own, and is told to the model as it is.
    let queued = match progress.calls_since {
        Some(since) => {
            let id = task.id.clone();
            let rows = state
                .store
                .read(move |db| outbox::of_task_since(db, &id, since))
                .await
                .context("read what an interrupted run's calls queued")?;
            Some(rows)
        }
        None => None,
    };
    let spoke = close_interrupted_calls_by(&mut messages, queued.as_deref());
    replied |= spoke.replied;
    posted |= spoke.posted;
    let defs = tools::definitions(
        &tools::offered(&agent.tools, task),
        &Destinations::of(agent, task),
    );
    // A run that failed after its tools spoke (kept in the conversation) and this one, run
    // again by a replay, are one piece of work: what it said is not said again. What this run
    // itself said is kept apart: only that makes it worth keeping if it fails too.
    let (failed_replied, failed_posted) = spoke_in_failed_runs(&task.conversation);
    // Failed model calls in a row; one that works ends the run of them (as save_progress
    // does in the store).
    let mut run_failures = task.run_failures;
    // Whether a call of this run was answered: the key and model were taken, so a refusal
    // after it is of this run's own request (its words, what a tool returned), and fails it
    // as any refused request, rather than holding every task of the model.
    let mut taken = false;
    for step in steps_done..agent.max_steps as usize {
        // Replies that came on the thread since the run began (or last looked) are read now,
        // after what it has done so far.
        let came = take_replies(state, task, &messages[opening_len..], replied, posted).await?;
        messages.extend(came);
        let request = ChatRequest {
            model: model.clone(),
            messages: messages.clone(),
            tools: defs.clone(),
            stream: false,
        };
        // Shutting down: the call is not made (or is dropped, having acted on nothing), and
        // the task waits for the next start with what its tools already did.
        let answered = tokio::select! {
            biased;
            () = stop.cancelled() => None,
            answered = runner.chat.complete(&request) => Some(answered),
        };
        let Some(answered) = answered else {
            return release(state, task, run_failures).await;
        };
        // An answer with an error status may be reported back by Open WebUI (see
        // `failed_calls`); one that never came is not.
        if let Err(ChatError {
            status: Some(_), ..
        }) = &answered
        {
            state.failed_chat_calls.failed(&model, clock::now_ms());
        }
        let mut reply = match answered {
            Ok(reply) => {
                run_failures = 0;
                taken = true;
                heard(state, runner, probe, &model, None).await;
                reply
            }
            // The key or the model refused: every task would be alike until an operator
            // fixes it, so this one waits for that rather than fail.
            Err(
                e @ ChatError {
                    refused: Some(refused),
                    ..
                },
            ) if !taken => {
                let run = RunSoFar {
                    messages: &messages[opening_len..],
                    replied,
                    posted,
                };
                let call = RefusedCall {
                    model: &model,
                    refused,
                    error: &e,
                    failures: run_failures,
                };
                return hold(state, runner, task, call, probe, run).await;
            }
            // Three retries, 30 s, 1 min and 2 min after the failures in a row before this
            // one (a reply starts the count again), or later when the server asks for (its
            // `Retry-After`, up to an hour). Never sooner: a `Retry-After: 0` would spend all
            // three retries within a second of an outage.
            Err(e) if e.retryable && run_failures < 3 => {
                heard(state, runner, probe, &model, Some(&e)).await;
                let scheduled = 30_000i64 << run_failures.clamp(0, 2);
                let asked = e
                    .retry_after
                    .map_or(0, |d| d.min(Duration::from_secs(3600)).as_millis() as i64);
                let wait = scheduled.max(asked);
                tracing::warn!(task = %task.id, error = %e, "chat API failed; task will run again");
                let (id, msg, now) = (task.id.clone(), e.message.clone(), clock::now_ms());
                let owner = owner_of(task);
                // This run's count, not the stored one: a call that worked since the run
                // began (and saved no progress, as a last word re-asked does not) ended the
                // failures before it.
                let failures = run_failures + 1;
                state
                    .store
                    .write(move |db| {
                        tasks::requeue(db, &id, &owner, &msg, now + wait, failures, now)
                    })
                    .await?;
                return Ok("queued".into());
            }
            Err(e) => {
                heard(state, runner, probe, &model, Some(&e)).await;
                // Said when the failure could pass but the retries are spent, so the task's
                // error does not read as if it would be tried again.
                let spent = if e.retryable {
                    format!(
                        " (failed {} times in a row; not retried further)",
                        run_failures + 1
                    )
                } else {
                    String::new()
                };
                let after_taken = if e.refused.is_some() {
                    " (refused after this run's earlier calls were taken: this request, not the \
                     key or the model)"
                } else {
                    ""
                };
                let msg = format!("chat API: {}{spent}{after_taken}", e.message);
                let ending = Ending::failed_after(msg, &messages[opening_len..], replied, posted);
                return finish(state, task, ending).await;
            }
        };
        // Cancelled (or taken over) while the model thought: what it asks for is not done.
        if let Some(status) = lost(state, task).await? {
            tracing::info!(task = %task.id, %status, "the run's task was taken from it; stopped");
            keep_run_cut_short(state, task, &status, &messages[opening_len..]).await?;
            return Ok(status);
        }
        name_calls_apart(&mut reply.message, &messages, step);
        let calls = reply.message.tool_calls.clone().unwrap_or_default();
        if calls.is_empty() && step + 1 < agent.max_steps as usize {
            // A reply that came while the model wrote what would be its last word was counted
            // an answer on arrival (it started nothing of its own): the model is asked again
            // with it rather than ending unread.
            let came = take_replies(state, task, &messages[opening_len..], replied, posted).await?;
            if !came.is_empty() {
                messages.extend(came);
                continue;
            }
        }
        if calls.is_empty() {
            // Once a tool replied or posted, the run has done its work: a last word that is
            // a no, or that the filter stopped, is kept with the task (not posted), which ends
            // `done` as when the tools said it all; failed, a replay would run it again and
            // post what the tools posted a second time.
            // An earlier run's (before a question it asked) too: its progress is gone, but
            // the run is kept in the conversation, read only now that it matters.
            let spoke = replied
                || posted
                || failed_replied
                || failed_posted
                || spoke_in_kept_runs(&task.conversation);
            let mut answer = reply.message.content.clone().unwrap_or_default();
            if reply.finish_reason.as_deref() == Some(CONTENT_FILTER) {
                // The filter cut the answer (or left none of it): what came is not the
                // model's whole word, and posted it would read as one.
                if !spoke {
                    return finish(state, task, Ending::failed(filtered(&reply.refusal))).await;
                }
                answer.push_str(FILTERED_NOTE);
                let ending = Ending::Done {
                    answer: answer.trim_start().to_string(),
                    refusal: reply.refusal.clone(),
                    delivery: None,
                };
                return finish(state, task, ending).await;
            }
            if answer.trim().is_empty()
                && !spoke
                && let Some(refusal) = &reply.refusal
            {
                // A no is not an answer to post: the task fails saying it, in the model's
                // words.
                let why = format!("the model refused: {refusal}");
                return finish(state, task, Ending::failed(why)).await;
            }
            if reply.finish_reason.as_deref() == Some("length") && !answer.trim().is_empty() {
                // Posted as it is, a cut-off answer reads as the model's whole verdict.
                answer.push_str(CUT_OFF_NOTE);
            }
            if answer.trim().is_empty() && !spoke {
                // Nothing said and nothing done: posting it would be an empty comment.
                let why = match reply.finish_reason.as_deref() {
                    Some(reason) => {
                        format!("the model ended with no answer (finish_reason {reason})")
                    }
                    None => "the model ended with no answer".to_string(),
                };
                return finish(state, task, Ending::failed(why)).await;
            }
            // Posted once: not again where a tool already said it, but still where it is
            // declared to go if the tools spoke elsewhere (a comment on the issue does not
            // stand for a verdict meant for the team's channel).
            let said_there = match agent.result {
                ResultAction::Comment => replied || failed_replied,
                ResultAction::PostMessage => posted || failed_posted,
                _ => false,
            };
            // Nothing said at the end (the tools said it all): no empty result either.
            let delivery = if said_there || answer.trim().is_empty() {
                None
            } else {
                result_delivery(agent, task, &answer).map(|(kind, d)| (kind, sealed(state, d)))
            };
            // Said beside an answer, a refusal is of part of it: the answer goes as any
            // does, and the refusal is kept with it in the task's conversation.
            let refusal = reply.refusal.clone();
            let ending = Ending::Done {
                answer,
                refusal,
                delivery,
            };
            return finish(state, task, ending).await;
        }
        messages.push(reply.message.clone());
        // Saved before any call acts: a run cut off (a crash, a lost lease) while a call acts
        // resumes with that call answered "may have taken effect", not by the model making it
        // again; its comment was queued in a write of its own.
        let calls_since = clock::now_ms();
        let calling = Progress {
            messages: messages[opening_len..].to_vec(),
            replied,
            posted,
            calls_since: Some(calls_since),
        };
        save_progress(state, task, &calling).await?;
        // Every call of the message is made, those after an `ask` too: the model meant them
        // together, and none would have a result to read otherwise.
        let mut asked = 0;
        // Questions last: the other calls act while the run still holds its task, and the
        // question then hands it to the answer.
        let (questions, others): (Vec<_>, Vec<_>) =
            calls.into_iter().partition(|c| c.function.name == "ask");
        // Questions are counted apart (the other calls cannot crowd one out), and fewer:
        // each is a comment at the source, and a payload could ask for thousands.
        let questions = questions
            .into_iter()
            .enumerate()
            .map(|(n, c)| (n >= MAX_QUESTIONS_PER_MESSAGE, c));
        for (over, call) in others
            .into_iter()
            .enumerate()
            .map(|(n, c)| (n >= MAX_CALLS_PER_MESSAGE, c))
            .chain(questions)
        {
            // Cancelled between two calls: the rest are not made. (After a question the task
            // waits for its reply, and a second question in the message is still this run's.)
            if asked == 0
                && let Some(status) = lost(state, task).await?
            {
                tracing::info!(task = %task.id, %status, "the run's task was taken from it; stopped");
                keep_run_cut_short(state, task, &status, &messages[opening_len..]).await?;
                return Ok(status);
            }
            let outcome = if over {
                // The run's progress is saved whole after each call: a message of hundreds of
                // calls, each result kept, would grow it without end.
                Outcome::Text(format!(
                    "error: not made: a message makes at most {MAX_CALLS_PER_MESSAGE} tool \
                     calls and {MAX_QUESTIONS_PER_MESSAGE} questions; make this one again in \
                     your next message if you still need it"
                ))
            } else {
                match call.function.parsed_arguments() {
                    Ok(args) => {
                        tools::execute(state, task, agent, &call.function.name, &args).await
                    }
                    Err(e) => Outcome::Text(format!("error: {e}")),
                }
            };
            let text = match outcome {
                Outcome::Text(t) => t,
                Outcome::Replied(t) => {
                    replied = true;
                    t
                }
                Outcome::Posted(t) => {
                    posted = true;
                    t
                }
                Outcome::Asked(t) => {
                    asked += 1;
                    t
                }
            };
            messages.push(Message::tool_result(&call.id, &call.function.name, &text));
            if asked == 0 {
                // After each tool, not each step: a tool that acted is never run again.
                let done = Progress {
                    messages: messages[opening_len..].to_vec(),
                    replied,
                    posted,
                    calls_since: Some(calls_since),
                };
                save_progress(state, task, &done).await?;
            }
        }
        if asked > 0 {
            // `ask` put the task in waiting_reply; the reply will queue it again, and the run
            // it starts reads this one from the conversation.
            let run = serde_json::to_value(kept(&messages[opening_len..]))?;
            let (id, now) = (task.id.clone(), clock::now_ms());
            state
                .store
                .write(move |db| tasks::keep_asking_run(db, &id, run.clone(), asked, now))
                .await
                .context("keep the run that asked")?;
            return Ok("waiting_reply".into());
        }
    }
    // Failed, not `done`, even when its tools spoke: the model had not given its last word
    // (it still meant to act), and a replay runs it again, from the run kept here.
    let msg = format!(
        "stopped after {} model calls without a final answer",
        agent.max_steps
    );
    let ending = Ending::failed_after(msg, &messages[opening_len..], replied, posted);
    finish(state, task, ending).await
}

/// Tool calls one model message may make (questions aside); the rest are answered as not made.
const MAX_CALLS_PER_MESSAGE: usize = 16;

/// Questions (`ask`) one model message may put; the rest are answered as not made.
const MAX_QUESTIONS_PER_MESSAGE: usize = 3;

/// Added to an answer the model's length limit cut off (`finish_reason: length`).
const CUT_OFF_NOTE: &str = "\n\n(This answer was cut off: the model reached its length limit.)";

/// The `finish_reason` of an answer a content filter stopped (OpenAI's, Azure OpenAI's).
const CONTENT_FILTER: &str = "content_filter";

/// Kept after what a content filter let through of the last answer of a run whose tools had
/// spoken: the task's result says why it was not posted.
const FILTERED_NOTE: &str = "\n\n(The chat API's content filter stopped this answer (finish_reason content_filter): \
     it was not posted.)";

/// Why a task whose answer the content filter stopped failed, with the model's refusal if it
/// gave one.
fn filtered(refusal: &Option<String>) -> String {
    let why = "the chat API's content filter stopped the model's answer (finish_reason \
               content_filter): what came of it is not posted";
    match refusal {
        Some(r) => format!("{why}; the model refused: {r}"),
        None => why.to_string(),
    }
}

/// A forward's signing secret and headers' values (from the agent's declaration) sealed for
/// the outbox, as commands' are; the worker opens them to send.
fn sealed(state: &AppState, mut delivery: Delivery) -> Delivery {
    if let Delivery::Forward {
        secret, headers, ..
    } = &mut delivery
    {
        if let Some(secret) = secret {
            *secret = state.sealer.seal(secret);
        }
        for value in headers.values_mut() {
            *value = state.sealer.seal(value);
        }
    }
    delivery
}
