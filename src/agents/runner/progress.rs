//! A run's saved progress: what it did so far, kept between claims, and what a run again makes
//! of it (tool calls named apart, interrupted calls answered, whether its tools spoke).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lease::owner_of;
use crate::agents::chat::Message;
use crate::app::AppState;
use crate::clock;
use crate::store::outbox::{self, OutboxRow};
use crate::store::tasks::{self, TaskRow};

/// Gives each tool call of `message` an id no other call of the run has: some servers give
/// none (Gemini's OpenAI-compatible API, LM Studio, a stream whose pieces carry none) or the
/// same one twice, and the results sent back would then answer no call, or two, which a
/// strict server refuses, on this request and on every replay of the run kept with them. An
/// id made here is nine letters and digits (`c00020001`), the only form Mistral's API and
/// other servers of its models take.
pub(super) fn name_calls_apart(message: &mut Message, earlier: &[Message], step: usize) {
    let Some(calls) = message.tool_calls.as_mut() else {
        return;
    };
    let mut taken: std::collections::HashSet<String> = earlier
        .iter()
        .flat_map(|m| m.tool_calls.iter().flatten())
        .map(|c| c.id.clone())
        .collect();
    for (n, call) in calls.iter_mut().enumerate() {
        if call.id.trim().is_empty() || taken.contains(&call.id) {
            let (step, n) = (step % 10_000, n % 10_000);
            call.id = ('a'..='z')
                .chain('A'..='Z')
                .map(|lead| format!("{lead}{step:04}{n:04}"))
                .find(|id| !taken.contains(id))
                .unwrap_or_else(|| format!("c{step:04}{n:04}"));
        }
        taken.insert(call.id.clone());
    }
}

/// A run that asked, as the conversation keeps it for every later run: long tool results
/// (an event read in full) cut, since each later run carries them all again.
pub(super) fn kept(run: &[Message]) -> Vec<Message> {
    const KEPT_RESULT_CHARS: usize = 4_000;
    run.iter()
        .cloned()
        .map(|m| {
            let mut m = m.without_reasoning();
            if m.role == "tool"
                && let Some(text) = &m.content
                && text.chars().count() > KEPT_RESULT_CHARS
            {
                let cut: String = text.chars().take(KEPT_RESULT_CHARS).collect();
                m.content = Some(format!("{cut}\n… (cut; call the tool again for all of it)"));
            }
            m
        })
        .collect()
}

/// Whether an earlier run kept in the task's conversation (`{"role": "run", "messages"}`, kept
/// when it asked a question or one cut it short) had a tool reply on the source or post a
/// message: a tool result saying what it queued (`queued as act_…`).
pub(super) fn spoke_in_kept_runs(conversation: &str) -> bool {
    crate::store::conversation::parse(conversation)
        .iter()
        .filter(|item| item["role"] == "run")
        .filter_map(|item| item["messages"].as_array())
        .flatten()
        .any(|m| {
            m["role"] == "tool"
                && matches!(
                    m["name"].as_str(),
                    Some("comment" | "respond" | "post_message")
                )
                && m["content"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("queued as act_"))
        })
}

/// Whether a run kept in the task's conversation because it failed after its tools spoke,
/// since the task's latest question (a run after an answer is new work), had a tool reply on
/// the source, and post a message.
pub(super) fn spoke_in_failed_runs(conversation: &str) -> (bool, bool) {
    let items = crate::store::conversation::parse(conversation);
    let since = items
        .iter()
        .rposition(|i| i["role"] == "assistant")
        .map_or(0, |at| at + 1);
    items[since..]
        .iter()
        .filter(|i| i["role"] == "run" && i["failed"].is_string())
        .fold((false, false), |(r, p), i| {
            (r || i["replied"] == true, p || i["posted"] == true)
        })
}

/// A run whose task was made to wait for a question asked by hand keeps all it did in the
/// conversation, before that question (in place of the part its saved progress held): the
/// run that takes the reply then knows every tool that acted, the last one too.
pub(super) async fn keep_run_cut_short(
    state: &AppState,
    task: &TaskRow,
    status: &str,
    run: &[Message],
) -> anyhow::Result<()> {
    if status != "waiting_reply" || run.is_empty() {
        return Ok(());
    }
    let run = serde_json::to_value(kept(run))?;
    let (id, now) = (task.id.clone(), clock::now_ms());
    state
        .store
        .write(move |db| tasks::keep_asking_run(db, &id, run.clone(), 1, now))
        .await
        .context("keep the run a question cut short")?;
    Ok(())
}

/// What a run has done so far, saved after each step with tool calls.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Progress {
    /// The model's tool-calling messages and the tools' results, in order.
    pub(super) messages: Vec<Message>,
    /// Whether a tool already replied on the source.
    pub(super) replied: bool,
    /// Whether a tool already posted to the agent's channel.
    #[serde(default)]
    pub(super) posted: bool,
    /// When the calls of the latest message began (ms): the actions of the task queued
    /// since, and named in no result, are what calls cut off before their results were
    /// saved queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) calls_since: Option<i64>,
}

/// What calls cut off before their results were saved had done: they replied on the
/// source, or posted to the agent's channel.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Spoke {
    pub(super) replied: bool,
    pub(super) posted: bool,
}

/// What of a text is compared to tell a call's words in what an action says: its first 24
/// letters and digits (what is sent may be shaped for its place: a mention defused with a
/// zero-width space, a broadcast escaped, a long text cut after its start). Slack's entities
/// are read as the `&`, `<` and `>` they stand for, which count for nothing here: a model's
/// words go to Slack with those escaped (`slack_markup::escape_free_text`), and the letters of
/// `&amp;` are not the call's.
fn gist(text: &str) -> String {
    text.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .chars()
        .filter(|c| c.is_alphanumeric())
        .take(24)
        .collect()
}

/// The result a call cut off before its result was saved gets when nothing tells what it did.
const MAY_HAVE_ACTED: &str = "interrupted before its result was recorded: it may have taken \
     effect; do not repeat it unless you know it did not";

/// A run cut short between a tool call and its result being saved left that call without a
/// result, which chat APIs refuse; it gets one. Where `queued` holds the task's actions queued
/// since the calls began, a call that speaks through one (`comment`, `respond`,
/// `post_message`) is answered as it was: with the action it queued (named in no other
/// result), or as not made; any other call may have acted.
pub(super) fn close_interrupted_calls_by(
    messages: &mut Vec<Message>,
    queued: Option<&[OutboxRow]>,
) -> Spoke {
    let mut spoke = Spoke::default();
    let Some(last_call) = messages
        .iter()
        .rposition(|m| m.role == "assistant" && m.tool_calls.is_some())
    else {
        return spoke;
    };
    let results: Vec<&str> = messages[last_call..]
        .iter()
        .filter(|m| m.role == "tool")
        .filter_map(|m| m.content.as_deref())
        .collect();
    let mut unclaimed: Vec<&OutboxRow> = queued
        .unwrap_or_default()
        .iter()
        .filter(|row| !results.iter().any(|r| r.contains(row.id.as_str())))
        .collect();
    let calls = messages[last_call].tool_calls.clone().unwrap_or_default();
    for call in calls {
        let answered = messages[last_call..]
            .iter()
            .any(|m| m.role == "tool" && m.tool_call_id.as_deref() == Some(call.id.as_str()));
        if answered {
            continue;
        }
        let name = call.function.name.as_str();
        let speaks = matches!(name, "comment" | "respond" | "post_message");
        // The call's own words, found in what a row says: a person's comment on the task, made
        // meanwhile, is not taken for it.
        let words = call
            .function
            .parsed_arguments()
            .ok()
            .and_then(|args| args.get("text").and_then(Value::as_str).map(gist))
            .filter(|words| !words.is_empty());
        let said_it = |row: &&OutboxRow| {
            let said = outbox::text_of(row.delivery.clone()).map(|t| gist(&t));
            matches!((&words, said), (Some(words), Some(said)) if said.contains(words.as_str()))
        };
        let text = match queued {
            Some(_) if speaks => match unclaimed
                .iter()
                .position(|row| row.action == name && said_it(row))
            {
                Some(at) => {
                    let row = unclaimed.remove(at);
                    if name == "post_message" {
                        spoke.posted = true;
                        format!("queued as {}", row.id)
                    } else {
                        spoke.replied = true;
                        format!("queued as {} to {}", row.id, row.target)
                    }
                }
                // Something of its kind went, but in other words (or none were given): it may
                // be the call's, shaped for its place past telling.
                None if unclaimed.iter().any(|row| row.action == name) => {
                    MAY_HAVE_ACTED.to_string()
                }
                None => "error: not made: the run was interrupted before this call acted; \
                         make it again if you still need it"
                    .to_string(),
            },
            _ => MAY_HAVE_ACTED.to_string(),
        };
        messages.push(Message::tool_result(&call.id, name, &text));
    }
    spoke
}

/// A run cut short between a tool call and its result being saved left that call without a
/// result, which chat APIs refuse; it gets one saying it may have acted.
pub(super) fn close_interrupted_calls(messages: &mut Vec<Message>) {
    close_interrupted_calls_by(messages, None);
}

pub(super) async fn save_progress(
    state: &AppState,
    task: &TaskRow,
    done: &Progress,
) -> anyhow::Result<()> {
    let progress = serde_json::to_string(done)?;
    let (id, owner, now) = (task.id.clone(), owner_of(task), clock::now_ms());
    state
        .store
        .write(move |db| tasks::save_progress(db, &id, &owner, &progress, now))
        .await
        .context("save a run's progress")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn calls(ids: &[&str]) -> Message {
        serde_json::from_value(json!({
            "role": "assistant", "content": null,
            "tool_calls": ids.iter().map(|id| json!({"id": id, "type": "function",
                "function": {"name": "comment", "arguments": "{}"}})).collect::<Vec<_>>()
        }))
        .expect("an assistant message")
    }

    #[test]
    fn calls_cut_off_are_answered_with_what_they_queued_or_as_not_made() {
        let row = |id: &str, action: &str, text: &str| OutboxRow {
            id: id.into(),
            event_id: None,
            webhook_id: None,
            command_id: None,
            task_id: Some("t".into()),
            action: action.into(),
            delivery: Some(json!({ "body": text }).to_string()),
            target: "github o/r#1".into(),
            host: String::new(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            last_status: None,
            remote_id: None,
            created_at: 0,
            updated_at: 0,
            lease_until: None,
        };
        let named = |calls: &[(&str, &str, &str)]| -> Message {
            serde_json::from_value(json!({
                "role": "assistant", "content": null,
                "tool_calls": calls.iter().map(|(id, name, text)| json!({"id": id,
                    "type": "function", "function": {"name": name,
                    "arguments": json!({ "text": text }).to_string()}})).collect::<Vec<_>>()
            }))
            .expect("an assistant message")
        };
        // (calls, results saved, actions queued since the calls began, results added, spoke)
        type Case<'a> = (
            &'a [(&'a str, &'a str, &'a str)],
            &'a [(&'a str, &'a str)],
            Option<&'a [(&'a str, &'a str, &'a str)]>,
            &'a [&'a str],
            Spoke,
        );
        let may_have = "interrupted before its result was recorded";
        let cases: &[Case] = &[
            (
                &[("c1", "comment", "On it")],
                &[],
                Some(&[("act_1", "comment", "On it")]),
                &["queued as act_1 to github o/r#1"],
                Spoke {
                    replied: true,
                    posted: false,
                },
            ),
            // Escaped for Slack, it is still the call's.
            (
                &[("c1", "respond", "<!here> if a < b, R&D")],
                &[],
                Some(&[("act_1", "respond", "&lt;!here> if a &lt; b, R&amp;D")]),
                &["queued as act_1 to"],
                Spoke {
                    replied: true,
                    posted: false,
                },
            ),
            // Shaped for its place (a mention defused), it is still the call's.
            (
                &[("c1", "comment", "@org/team see this")],
                &[],
                Some(&[("act_1", "comment", "@\u{200B}org/team see this")]),
                &["queued as act_1 to github o/r#1"],
                Spoke {
                    replied: true,
                    posted: false,
                },
            ),
            (
                &[("c1", "comment", "On it")],
                &[],
                Some(&[]),
                &["error: not made"],
                Spoke::default(),
            ),
            // The first call's result names its action: the second made none.
            (
                &[("c1", "comment", "One"), ("c2", "comment", "Two")],
                &[("c1", "queued as act_1 to github o/r#1")],
                Some(&[("act_1", "comment", "One")]),
                &["error: not made"],
                Spoke::default(),
            ),
            (
                &[("c1", "post_message", "Done"), ("c2", "get_event", "")],
                &[],
                Some(&[("act_2", "post_message", "Done")]),
                &["queued as act_2", may_have],
                Spoke {
                    replied: false,
                    posted: true,
                },
            ),
            // An action of another kind is not this call's.
            (
                &[("c1", "respond", "Yes")],
                &[],
                Some(&[("act_3", "ask", "Yes")]),
                &["error: not made"],
                Spoke::default(),
            ),
            // A comment in other words (a person's on the task, made meanwhile) may or may
            // not be it: neither taken for it nor the call said not made.
            (
                &[("c1", "comment", "AGENT: the fix is X")],
                &[],
                Some(&[("act_4", "comment", "HUMAN: looking into it")]),
                &[may_have],
                Spoke::default(),
            ),
            // Nothing known of what was queued (a run saved before this was kept).
            (
                &[("c1", "comment", "On it")],
                &[],
                None,
                &[may_have],
                Spoke::default(),
            ),
        ];
        for (made, saved, queued, added, spoke) in cases {
            let mut messages = vec![Message::system("s"), named(made)];
            for (id, text) in *saved {
                messages.push(Message::tool_result(*id, "comment", *text));
            }
            let rows: Option<Vec<OutboxRow>> = queued.map(|q| {
                q.iter()
                    .map(|&(id, action, text)| row(id, action, text))
                    .collect()
            });
            let before = messages.len();

            let said = close_interrupted_calls_by(&mut messages, rows.as_deref());

            let new: Vec<&str> = messages[before..]
                .iter()
                .filter_map(|m| m.content.as_deref())
                .collect();
            assert_eq!(new.len(), added.len(), "{made:?}: {new:?}");
            for (got, want) in new.iter().zip(added.iter()) {
                assert!(got.starts_with(want), "{made:?}: {got:?} is not {want:?}");
            }
            assert_eq!(&said, spoke, "{made:?}");
        }
    }

    #[test]
    fn tool_calls_without_ids_or_with_ids_used_already_are_named_apart() {
        let ids = |m: &Message| -> Vec<String> {
            m.tool_calls
                .iter()
                .flatten()
                .map(|c| c.id.clone())
                .collect()
        };
        let earlier = [calls(&["call_a"]), calls(&["a00020000"])];
        let cases: [(&[&str], &[&str]); 5] = [
            (&["x", "y"], &["x", "y"]),
            (&["", ""], &["b00020000", "a00020001"]),
            (&["dup", "dup"], &["dup", "a00020001"]),
            (&["call_a", " "], &["b00020000", "a00020001"]),
            (&[], &[]),
        ];
        for (given, named) in cases {
            let mut message = calls(given);
            name_calls_apart(&mut message, &earlier, 2);
            assert_eq!(ids(&message), named, "{given:?}");
        }
    }

    #[test]
    fn a_kept_run_cuts_long_tool_results_only() {
        let run = vec![
            calls(&["a", "b"]),
            Message::tool_result("a", "get_event", "x".repeat(10_000)),
            Message::tool_result("b", "comment", "queued"),
        ];
        let kept = kept(&run);
        assert_eq!(kept[0], run[0]);
        let long = kept[1].content.as_deref().unwrap_or_default();
        assert!(long.len() < 4_100 && long.ends_with("call the tool again for all of it)"));
        assert_eq!(kept[2], run[2]);
    }

    #[test]
    fn calls_left_without_a_result_get_one_and_answered_ones_do_not() {
        let cases: &[(&[&str], &[&str], &[&str])] = &[
            // (calls made, results saved, results added)
            (&["a", "b"], &["a"], &["b"]),
            (&["a", "b"], &[], &["a", "b"]),
            (&["a"], &["a"], &[]),
        ];
        for (made, saved, added) in cases {
            let mut messages = vec![Message::system("s"), calls(made)];
            for id in *saved {
                messages.push(Message::tool_result(*id, "comment", "queued"));
            }
            let before = messages.len();
            close_interrupted_calls(&mut messages);
            let new: Vec<&str> = messages[before..]
                .iter()
                .filter_map(|m| m.tool_call_id.as_deref())
                .collect();
            assert_eq!(new, *added, "{made:?} with {saved:?}");
        }
        let mut untouched = vec![Message::system("s")];
        close_interrupted_calls(&mut untouched);
        assert_eq!(untouched.len(), 1);
    }

    #[test]
    fn only_failed_runs_since_the_latest_question_stand_for_this_runs_tools() {
        let failed = |replied: bool, posted: bool| {
            json!({"role": "run", "messages": [], "failed": "chat API: 400",
                   "replied": replied, "posted": posted})
        };
        let asked = json!({"role": "run", "messages": []});
        let question = json!({"role": "assistant", "content": "Which browser?"});
        let reply = json!({"role": "user", "content": "Firefox"});
        let cases = [
            (vec![], (false, false)),
            (vec![failed(true, false)], (true, false)),
            (vec![failed(true, false), failed(false, true)], (true, true)),
            // A run that asked spoke before the question: the run after the answer is new.
            (vec![asked, question.clone(), reply.clone()], (false, false)),
            (
                vec![failed(true, true), question.clone(), reply.clone()],
                (false, false),
            ),
            (vec![question, reply, failed(false, true)], (false, true)),
        ];
        for (items, want) in cases {
            let conversation = serde_json::to_string(&items).expect("JSON");
            assert_eq!(spoke_in_failed_runs(&conversation), want, "{conversation}");
        }
    }
}
