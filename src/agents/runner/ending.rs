//! How a run ends: its answer written for where it is posted, the result queued through the
//! outbox and the task finished, and those listening told.

use anyhow::Context;
use serde_json::{Value, json};

use super::CUT_OFF_NOTE;
use super::lease::owner_of;
use super::progress::kept;
use crate::actions::Delivery;
use crate::actions::broadcasts::Mentions;
use crate::agents::chat::Message;
use crate::agents::markup::{self, Markup};
use crate::agents::{AgentSpec, ResultAction};
use crate::app::AppState;
use crate::clock;
use crate::engine::{ActionKind, plan};
use crate::providers::SourceRef;
use crate::service::{Change, tasks as task_service};
use crate::store::tasks::{self, TaskRow};

/// How the agent's final answer goes out, per its declaration. The answer is the model's
/// words: it may not notify a whole channel (`Mentions::defuse`), and is fitted to its place's
/// limit as defused, which can only lengthen it.
pub(super) fn result_delivery(
    agent: &AgentSpec,
    task: &TaskRow,
    answer: &str,
) -> Option<(ActionKind, Delivery)> {
    match agent.result {
        ResultAction::None => None,
        ResultAction::Comment => {
            let source: Option<SourceRef> = task
                .source
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok());
            let kind = source.as_ref().map(|s| s.kind.as_str());
            let answer = Mentions::of_source(kind.unwrap_or_default()).defuse(answer.trim());
            let text = match kind.and_then(plan::reply_limit) {
                Some(limit) => fitted_result(Markup::of_source(kind), agent, &answer, limit),
                None => result_body(Markup::of_source(kind), agent, &answer),
            };
            match plan::reply_on_source(source.as_ref(), text) {
                Ok(d) => Some((ActionKind::Comment, d)),
                Err(e) => {
                    tracing::info!(task = %task.id, reason = %e, "result kept on the task only");
                    None
                }
            }
        }
        ResultAction::PostMessage => {
            agent
                .target
                .as_ref()
                .zip(markup::channel_kind(agent))
                .map(|(t, kind)| {
                    let markup = Markup::of_channel(kind);
                    let answer = Mentions::of_channel(kind).defuse(answer.trim());
                    let text = match plan::channel_limit(kind) {
                        Some(limit) => fitted_result(markup, agent, &answer, limit),
                        None => result_body(markup, agent, &answer),
                    };
                    (
                        ActionKind::PostMessage,
                        Delivery::ChannelMessage {
                            url: t.url.clone(),
                            kind,
                            text,
                            chat_id: t.chat_id.clone(),
                            thread_id: t.thread_id.clone(),
                        },
                    )
                })
        }
        ResultAction::Forward => agent.target.as_ref().map(|t| {
            let payload = json!({"task_id": task.id, "agent": agent.name, "event_id": task.event_id,
                                 "status": "done", "result": answer});
            (
                ActionKind::Forward,
                Delivery::Forward {
                    url: t.url.clone(),
                    secret: t.secret.clone(),
                    event_type: "task.completed".into(),
                    message_id: String::new(),
                    body: payload.to_string(),
                    hops: 0,
                    headers: t.headers.clone(),
                },
            )
        }),
    }
}

/// The result as posted: the agent's heading, the answer, and a footer naming the agent.
fn result_body(markup: Markup, agent: &AgentSpec, answer: &str) -> String {
    let (heading, answer, name) = (&agent.heading, answer.trim(), &agent.name);
    match markup {
        Markup::Markdown => format!(
            "### {heading}\n\n{answer}\n\n---\n*Posted by the `{name}` agent of webhook-mcp.*"
        ),
        Markup::Slack => {
            format!("*{heading}*\n\n{answer}\n\n_Posted by the `{name}` agent of webhook-mcp._")
        }
        Markup::JiraWiki => format!(
            "h3. {heading}\n\n{answer}\n\n----\n_Posted by the {{{{{name}}}}} agent of webhook-mcp._"
        ),
        Markup::Plain => {
            format!("{heading}\n\n{answer}\n\nPosted by the {name} agent of webhook-mcp.")
        }
    }
}

/// The result as posted where it must fit `limit`: an answer too long is cut, not the heading,
/// the footer naming the agent, or the line saying the model's own limit cut it off (cut as a
/// whole text, the end they are at would go).
fn fitted_result(markup: Markup, agent: &AgentSpec, answer: &str, limit: plan::Limit) -> String {
    let whole = result_body(markup, agent, answer);
    if limit.len(&whole) <= limit.max {
        return whole;
    }
    let answer = answer.trim();
    let (said, note) = match answer.strip_suffix(CUT_OFF_NOTE.trim_start()) {
        Some(said) => (said.trim_end(), CUT_OFF_NOTE),
        None => (answer, ""),
    };
    let around = limit.len(&result_body(markup, agent, "")) + limit.len(note);
    let said = plan::fit(said.to_string(), Some(limit.less(around)));
    result_body(markup, agent, &format!("{said}{note}"))
}

/// How a run ends.
pub(super) enum Ending {
    /// The model's final answer, and where it is posted (none when a tool already replied).
    Done {
        answer: String,
        /// What the model refused beside its answer: kept with the answer, not posted.
        refusal: Option<String>,
        delivery: Option<(ActionKind, Delivery)>,
    },
    Failed {
        why: String,
        /// The run, kept in the task's conversation: its tools spoke, and a run again (a
        /// replay) must read what they sent rather than send it a second time.
        run: Option<Value>,
    },
}

impl Ending {
    pub(super) fn failed(why: impl Into<String>) -> Ending {
        Ending::Failed {
            why: why.into(),
            run: None,
        }
    }

    /// Failed at the end of `run`, which is kept if a tool of its own replied on the source or
    /// posted a message (a failed run it goes on from is kept already: a run that said
    /// nothing more adds nothing a later run must know, and each kept one is sent again).
    pub(super) fn failed_after(
        why: String,
        run: &[Message],
        replied: bool,
        posted: bool,
    ) -> Ending {
        let run = (!run.is_empty() && (replied || posted)).then(|| {
            json!({"role": "run", "messages": kept(run), "failed": why,
                   "replied": replied, "posted": posted})
        });
        Ending::Failed { why, run }
    }
}

/// Ends the task and queues its result in one write.
pub(super) async fn finish(
    state: &AppState,
    task: &TaskRow,
    ending: Ending,
) -> anyhow::Result<String> {
    let now = clock::now_ms();
    let (status, result, refusal, error, delivery, run) = match ending {
        Ending::Done {
            answer,
            refusal,
            delivery,
        } => ("done", Some(answer), refusal, None, delivery, None),
        Ending::Failed { why, run } => ("failed", None, None, Some(why), None, run),
    };
    // Said in the log too: a task failing (a wrong chat API key fails every one) is otherwise
    // seen only by reading the tasks.
    let failed = error.clone().map(|why| {
        let webhook = task.webhook_id.clone().unwrap_or_else(|| "-".into());
        (why, task.agent.clone(), webhook)
    });
    let (task, owner, task_id) = (task.clone(), owner_of(task), task.id.clone());
    let sealer = state.sealer.clone();
    let queued = state
        .store
        .write(move |db| {
            // Read now, not as claimed: replies that came during the run stay in it.
            let conversation = match &result {
                Some(a) => {
                    let mut answer = json!({"role": "assistant", "content": a, "at": now});
                    if let Some(r) = &refusal {
                        answer["refusal"] = json!(r);
                    }
                    tasks::conversation_with(db, &task.id, answer)?
                }
                None => match &run {
                    Some(run) => {
                        let mut run = run.clone();
                        run["at"] = json!(now);
                        tasks::conversation_with_run(db, &task.id, run)?
                    }
                    None => None,
                },
            };
            let finished = tasks::finish(
                db,
                &task.id,
                &owner,
                status,
                result.as_deref(),
                error.as_deref(),
                conversation.as_deref(),
                now,
                true,
            )?;
            if !finished {
                // Cancelled or taken over meanwhile: say what it is now, and send nothing.
                let now_status = tasks::get(db, &task.id)?.map(|t| t.status);
                return Ok(Err(now_status.unwrap_or_else(|| "deleted".into())));
            }
            match (&delivery, &task.event_id) {
                (Some((kind, d)), Some(event_id)) => {
                    task_service::queue_result(db, &sealer, &task, event_id, *kind, d.clone(), now)
                        .map(Ok)
                }
                _ => Ok(Ok(false)),
            }
        })
        .await
        .context("finish a task")?;
    match queued {
        Ok(true) => state.wake_workers(),
        Ok(false) => {}
        Err(status) => {
            tracing::warn!(task = %task_id, status = %status, "the run ended after losing its task");
            return Ok(status);
        }
    }
    if let Some((why, agent, webhook)) = failed {
        let error = crate::quote::one_line(&why);
        tracing::warn!(task = %task_id, %agent, %webhook, %error, "task failed");
    }
    Ok(status.to_string())
}

pub(super) fn notify(state: &AppState, task: &TaskRow) {
    if let (Some(webhook_id), Some(event_id)) = (&task.webhook_id, &task.event_id) {
        let _ = state.changes.send(Change::Event {
            webhook_id: webhook_id.clone(),
            event_id: event_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_is_written_in_the_markup_its_destination_renders() {
        let agent: AgentSpec =
            serde_json::from_value(json!({"name": "triage", "heading": "AI analysis"}))
                .expect("agent");
        let cases = [
            (
                Markup::Markdown,
                "### AI analysis\n\nP1\n\n---\n*Posted by the `triage` agent of webhook-mcp.*",
            ),
            (
                Markup::Slack,
                "*AI analysis*\n\nP1\n\n_Posted by the `triage` agent of webhook-mcp._",
            ),
            (
                Markup::JiraWiki,
                "h3. AI analysis\n\nP1\n\n----\n_Posted by the {{triage}} agent of webhook-mcp._",
            ),
            (
                Markup::Plain,
                "AI analysis\n\nP1\n\nPosted by the triage agent of webhook-mcp.",
            ),
        ];
        for (markup, want) in cases {
            assert_eq!(result_body(markup, &agent, " P1 "), want, "{markup:?}");
        }
    }

    #[test]
    fn a_result_too_long_for_its_place_keeps_its_heading_footer_and_cut_off_line() {
        let agent: AgentSpec =
            serde_json::from_value(json!({"name": "triage", "heading": "AI analysis"}))
                .expect("agent");
        let limit = plan::Limit::chars(300, "a GitHub comment");
        let cut_off = format!("{}{CUT_OFF_NOTE}", "word ".repeat(200));
        let long = "é".repeat(1000);
        for (answer, note) in [(cut_off.as_str(), true), (long.as_str(), false)] {
            let posted = fitted_result(Markup::Markdown, &agent, answer, limit);
            assert!(posted.chars().count() <= 300, "{}", posted.chars().count());
            assert!(posted.starts_with("### AI analysis\n\n"), "{posted}");
            assert!(posted.ends_with("of webhook-mcp.*"), "{posted}");
            assert!(posted.contains("(cut to fit: "), "{posted}");
            assert_eq!(posted.contains(CUT_OFF_NOTE.trim()), note, "{posted}");
        }
        let short = fitted_result(Markup::Markdown, &agent, "P1", limit);
        assert_eq!(short, result_body(Markup::Markdown, &agent, "P1"));
    }
}
