//! The last step before a chat request goes out: its messages put in an order every chat API
//! takes. Mistral's API, and the chat templates of Mistral and Gemma models behind vLLM or
//! Ollama, refuse a `user` message straight after a `tool` one and two messages of one role in
//! a row, which a task's conversation can hold: a reply that came on the thread in the middle
//! of a run, a note before a rerun, two replies that came together, questions asked together.

use super::chat::Message;

/// What the model is shown as its own words between its tool results and a message that came
/// after them: a turn that only hands the floor back, which every API takes there.
const AFTER_TOOLS: &str = "(I have the results of my tool calls above.)";

/// `messages` fitted to alternate: two plain messages of one role in a row (no tool calls on
/// either) become one, their texts a paragraph apart, and a `user` message after a `tool` one
/// follows a short assistant turn. `None` when they already alternate, as they mostly do.
pub fn fitted(messages: &[Message]) -> Option<Vec<Message>> {
    if !messages.windows(2).any(|w| needs_fitting(&w[0], &w[1])) {
        return None;
    }
    let mut fitted: Vec<Message> = Vec::with_capacity(messages.len() + 1);
    for message in messages {
        match fitted.last_mut() {
            Some(last) if same_plain_turn(last, message) => {
                let said = last.content.get_or_insert_default();
                said.push_str("\n\n");
                said.push_str(message.content.as_deref().unwrap_or_default());
            }
            Some(last) if after_tools(last, message) => {
                fitted.push(Message::assistant(AFTER_TOOLS));
                fitted.push(message.clone());
            }
            _ => fitted.push(message.clone()),
        }
    }
    Some(fitted)
}

fn needs_fitting(last: &Message, next: &Message) -> bool {
    same_plain_turn(last, next) || after_tools(last, next)
}

fn after_tools(last: &Message, next: &Message) -> bool {
    last.role == "tool" && next.role == "user"
}

/// Two user messages, or two assistant ones that only speak: one turn said in two parts.
fn same_plain_turn(last: &Message, next: &Message) -> bool {
    last.role == next.role
        && matches!(next.role.as_str(), "user" | "assistant")
        && plain(last)
        && plain(next)
}

/// A message that calls no tool and carries no thinking to send back with its calls.
fn plain(message: &Message) -> bool {
    message.tool_calls.is_none()
        && message.tool_call_id.is_none()
        && message.reasoning_content.is_none()
        && message.reasoning_details.is_none()
        && message.thinking_blocks.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::chat::{FunctionCall, ToolCall};

    fn calls() -> Message {
        Message {
            content: None,
            tool_calls: Some(vec![ToolCall {
                id: "c1".into(),
                kind: "function".into(),
                function: FunctionCall {
                    name: "comment".into(),
                    arguments: "{}".into(),
                },
                extra_content: None,
            }]),
            ..Message::assistant("")
        }
    }

    fn roles_and_texts(messages: &[Message]) -> Vec<(String, String)> {
        messages
            .iter()
            .map(|m| (m.role.clone(), m.content.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn messages_are_fitted_to_alternate_only_where_they_do_not() {
        let result = Message::tool_result("c1", "comment", "queued");
        // (case, messages, the roles and texts fitted, or none when they stand)
        type Case<'a> = (&'a str, Vec<Message>, Option<Vec<(&'a str, &'a str)>>);
        let cases: Vec<Case> = vec![
            (
                "alternating already",
                vec![
                    Message::system("s"),
                    Message::user("u"),
                    calls(),
                    result.clone(),
                    Message::assistant("a"),
                    Message::user("u2"),
                ],
                None,
            ),
            (
                "a reply after tool results",
                vec![
                    Message::user("u"),
                    calls(),
                    result.clone(),
                    Message::user("reply"),
                ],
                Some(vec![
                    ("user", "u"),
                    ("assistant", ""),
                    ("tool", "queued"),
                    ("assistant", AFTER_TOOLS),
                    ("user", "reply"),
                ]),
            ),
            (
                "a note then two replies after tool results",
                vec![
                    calls(),
                    result.clone(),
                    Message::user("note"),
                    Message::user("r1"),
                    Message::user("r2"),
                ],
                Some(vec![
                    ("assistant", ""),
                    ("tool", "queued"),
                    ("assistant", AFTER_TOOLS),
                    ("user", "note\n\nr1\n\nr2"),
                ]),
            ),
            (
                "questions asked together",
                vec![
                    Message::user("u"),
                    Message::assistant("q1"),
                    Message::assistant("q2"),
                    Message::user("answer"),
                ],
                Some(vec![
                    ("user", "u"),
                    ("assistant", "q1\n\nq2"),
                    ("user", "answer"),
                ]),
            ),
            (
                "calls after a text are a turn of their own",
                vec![
                    Message::user("u"),
                    Message::assistant("a"),
                    calls(),
                    result.clone(),
                ],
                None,
            ),
            (
                "tool results in a row",
                vec![
                    calls(),
                    result.clone(),
                    result.clone(),
                    Message::assistant("a"),
                ],
                None,
            ),
            (
                "a system message and a user one",
                vec![Message::system("s"), Message::user("u")],
                None,
            ),
        ];
        for (case, messages, want) in cases {
            let got = fitted(&messages).map(|m| roles_and_texts(&m));
            let want = want.map(|w| {
                w.iter()
                    .map(|(r, t)| (r.to_string(), t.to_string()))
                    .collect::<Vec<_>>()
            });
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn a_fitted_list_keeps_the_calls_and_results_it_was_given() {
        let messages = vec![
            Message::user("u"),
            calls(),
            Message::tool_result("c1", "comment", "queued"),
            Message::user("reply"),
        ];
        let once = fitted(&messages).expect("fitted");
        assert_eq!(once[1], messages[1]);
        assert_eq!(once[2], messages[2]);
        assert!(fitted(&once).is_none(), "fitting twice changes nothing");
    }
}
