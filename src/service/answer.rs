//! A person answers a task that waits for a reply from this service's own doors (`answer_task`
//! over MCP, say from an Open WebUI chat; `POST /api/tasks/{id}/answer`) rather than on its
//! thread. The answer joins the conversation as a reply on the thread would, marked as given
//! here, and does to the task what that reply would ([`tasks::attach_reply`]): one kept logic
//! for both. With `post`, it is also posted on the thread, led by who answered from where, so
//! the people there see it; that comment coming back is the service's own (see `echo`).

use serde::Serialize;

use super::ServiceError;
use super::actions::{self, ActionOut, Author, ReplyTo};
use super::audit::AuditUser;
use super::tasks::{self as service_tasks, TaskOut};
use crate::app::AppState;
use crate::clock;
use crate::engine::ActionKind;
use crate::providers::SourceRef;
use crate::store::conversation::{self, ReplyFrom};
use crate::store::tasks::{self, Attached};

/// Who answers, and through which door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answerer {
    /// The Open WebUI user the request was made for, else the API key's name.
    pub name: String,
    /// [`conversation::VIA_OPENWEBUI`] when the request named an Open WebUI user
    /// ([`conversation::VIA_OPENWEBUI_SIGNED`] when by a checked token), else the door it came
    /// through ([`conversation::VIA_MCP`], [`conversation::VIA_API`]).
    pub via: &'static str,
    /// Whose words the text is: a model's (over MCP) is defused before it is posted.
    pub author: Author,
}

impl Answerer {
    /// The answerer of a request through `via` with the key named `key_name`: the Open WebUI
    /// user it was made for, as the key check read it from what Open WebUI forwards (see
    /// `http::forwarded_user`: checked against its signature when the shared secret is set,
    /// else the caller's word), by name, else by id; without one, the key.
    pub fn of(key_name: &str, user: Option<&AuditUser>, via: &'static str) -> Answerer {
        let author = if via == conversation::VIA_MCP {
            Author::Model
        } else {
            Author::Person
        };
        match user {
            Some(user) => Answerer {
                name: user.name.clone().unwrap_or_else(|| user.id.clone()),
                via: if user.verified {
                    conversation::VIA_OPENWEBUI_SIGNED
                } else {
                    conversation::VIA_OPENWEBUI
                },
                author,
            },
            None => Answerer {
                name: key_name.to_string(),
                via,
                author,
            },
        }
    }

    /// The line the answer is posted under on the thread: "Answered in Open WebUI by alice:".
    /// The server's own keys (named after their variable, or as generated on first start) and
    /// a stdio client are "the operator" there: such a name in a public comment reads as a
    /// leaked setting.
    fn lead(&self) -> String {
        let name = match self.name.as_str() {
            super::auth::CONFIGURED_KEY_NAME
            | super::auth::GENERATED_KEY_NAME
            | crate::mcp::STDIO_ACTOR => "the operator",
            name => name,
        };
        format!(
            "Answered {} by {}:",
            conversation::given_where(self.via),
            plain_name(name)
        )
    }
}

/// A name as plain words for the line above a posted answer: an Open WebUI user chooses their
/// own display name, and one such as `@org/team [x](https://…) <!--` would mention a team,
/// add a link or hide the answer when the thread renders it. Of ASCII (and its full-width
/// forms) only letters, digits, spaces and `.`, `-`, `_`, `'` are kept; other scripts and
/// emoji are, but for [`crate::invisible`] marks; at most 64 characters, and a name with no
/// letter or digit left is "someone".
fn plain_name(name: &str) -> String {
    let kept: String = name
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|&c| {
            // Markup is ASCII (`@`, `<`, `[`, `` ` ``…), in its full-width forms too; other
            // scripts keep their marks and joiners (a Devanagari virama, Persian's ZWNJ).
            let ascii = match c as u32 {
                0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0),
                _ => c.is_ascii().then_some(c),
            };
            match ascii {
                Some(a) => a.is_ascii_alphanumeric() || " .-_'".contains(a),
                None => !c.is_control() && !crate::invisible::misleading(c),
            }
        })
        .take(64)
        .collect();
    let kept = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    if kept.chars().any(char::is_alphanumeric) {
        kept
    } else {
        "someone".into()
    }
}

/// A task answered: the task now, what the answer did to it, and the comment that posts it.
#[derive(Debug, Clone, Serialize)]
pub struct Answered {
    #[serde(flatten)]
    pub task: TaskOut,
    /// `resumed` (it waited: queued to run again with the answer), `joined` (a run of it under
    /// way, or queued, reads it at its next step) or `noted` (the external agent working it
    /// is shown it before it completes).
    pub answer: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posted: Option<ActionOut>,
}

/// Adds `text` to the task's conversation as `by`'s answer, resuming the task as a reply on
/// its thread would; with `post`, also queues it as a comment on the thread.
pub async fn answer(
    state: &AppState,
    task_id: &str,
    text: String,
    post: bool,
    by: Answerer,
) -> Result<Answered, ServiceError> {
    let task = service_tasks::load(state, task_id).await?;
    let source: Option<SourceRef> = task
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    actions::check_reply("text", &text, source.as_ref())?;
    let key = task_id.to_string();
    if !state
        .store
        .read(move |db| tasks::takes_answer(db, &key))
        .await?
    {
        return Err(waits_for_nothing(&task));
    }
    let comment = if post {
        let to = ReplyTo {
            event_id: None,
            task_id: Some(task_id.to_string()),
            author: by.author,
            owner: None,
        };
        let posted = format!("{}\n\n{text}", by.lead());
        Some(actions::plan_on_source(state, &to, posted, ActionKind::Comment).await?)
    } else {
        None
    };
    let (key, now, row) = (
        task_id.to_string(),
        clock::now_ms(),
        comment.as_ref().map(|c| c.row.clone()),
    );
    let (name, via) = (by.name.clone(), by.via);
    // The task as the write left it, so the answer reports what was stored even if a later
    // read would fail: a caller that saw an error would answer (and post) again.
    let (attached, task) = state
        .store
        .write(move |db| {
            // Looked at again in the write: the task may have moved on since.
            if !tasks::takes_answer(db, &key)? {
                return Ok((Attached::No, tasks::get(db, &key)?));
            }
            let attached =
                tasks::attach_reply(db, &key, ReplyFrom::Service(via), &text, Some(&name), now)?;
            if !matches!(attached, Attached::No | Attached::Full) {
                // A question of the task still on its way out is answered already.
                tasks::drop_unsent_questions(db, &key, now, tasks::ANSWERED_FIRST)?;
                if let Some(row) = &row {
                    actions::insert_and_settle(db, row)?;
                }
            }
            Ok((attached, tasks::get(db, &key)?))
        })
        .await?;
    let task = task.ok_or_else(|| ServiceError::NotFound {
        what: "task",
        id: task_id.to_string(),
    })?;
    let answer = match attached {
        Attached::Resumed => "resumed",
        Attached::Joined => "joined",
        Attached::Noted => "noted",
        Attached::Kept | Attached::No => return Err(waits_for_nothing(&task)),
        Attached::Full => {
            return Err(ServiceError::Conflict(format!(
                "task `{task_id}` was not answered: the agent working it has {} replies it has \
                 not seen yet; answer again once it has read them (its `get_task`)",
                crate::store::conversation::MAX_UNSEEN
            )));
        }
    };
    if attached == Attached::Resumed {
        state.wake_runner();
    }
    if comment.is_some() {
        state.wake_workers();
    }
    Ok(Answered {
        task: service_tasks::with_hold(state, service_tasks::present(&task), &task),
        answer,
        posted: comment.map(|c| c.presented()),
    })
}

fn waits_for_nothing(task: &tasks::TaskRow) -> ServiceError {
    // One whose question went unanswered in time is not at an end: its next step is said.
    let why = match after_timeout(
        &task.status,
        task.error.as_deref(),
        task.command_id.as_deref(),
        task.event_id.as_deref(),
    ) {
        Some(next) => format!(": nobody answered its question in time (the reply timeout); {next}"),
        None => ": only a task that asked a question on its thread (waiting_reply, or queued or \
                 running on an earlier reply) takes one"
            .into(),
    };
    ServiceError::Conflict(format!(
        "task `{}` {} and waits for no answer{why}",
        task.id,
        crate::quote::task_is(&task.status)
    ))
}

/// What takes up again a task failed by the reply timeout, which an answer no longer reaches:
/// a replay runs its command again, which runs it again with its conversation (replies that
/// came late among it) or asks its question again; one an `ask` by hand started has no
/// command, and only a new question starts a task that waits. None for any other task.
pub fn after_timeout(
    status: &str,
    error: Option<&str>,
    command_id: Option<&str>,
    event_id: Option<&str>,
) -> Option<String> {
    if status != "failed" || error != Some(tasks::TIMED_OUT) {
        return None;
    }
    let event = event_id?;
    Some(match command_id {
        Some(_) => format!(
            "replay_event `{event}` (POST /api/events/{event}/replay) runs its command again, \
             which takes the task up again, its conversation kept (replies that came late \
             included); then it takes answers"
        ),
        None => format!(
            "its question was asked by hand, so no replay runs it again: ask again with the \
             event_id `{event}` alone, which starts a new task that waits for the answer"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, name: Option<&str>) -> AuditUser {
        AuditUser {
            id: id.into(),
            name: name.map(str::to_string),
            email: None,
            role: Some("user".into()),
            verified: false,
        }
    }

    #[test]
    fn the_answerer_is_the_open_webui_user_when_named_else_the_key() {
        // (the user the request was made for, the answerer's name, through where)
        let cases = [
            (None, "ops-key", conversation::VIA_MCP),
            (
                Some(user("u-1", Some("Alice Smith"))),
                "Alice Smith",
                conversation::VIA_OPENWEBUI,
            ),
            (
                Some(user("u-42", None)),
                "u-42",
                conversation::VIA_OPENWEBUI,
            ),
            (
                Some(AuditUser {
                    verified: true,
                    ..user("u-7", Some("Bob"))
                }),
                "Bob",
                conversation::VIA_OPENWEBUI_SIGNED,
            ),
        ];
        for (user, name, via) in cases {
            let by = Answerer::of("ops-key", user.as_ref(), conversation::VIA_MCP);
            assert_eq!((by.name.as_str(), by.via), (name, via), "{user:?}");
            assert_eq!(by.author, Author::Model);
        }
        let by = Answerer::of("ops-key", None, conversation::VIA_API);
        assert_eq!(by.lead(), "Answered through the API by ops-key:");
        for own in [
            super::super::auth::CONFIGURED_KEY_NAME,
            super::super::auth::GENERATED_KEY_NAME,
            crate::mcp::STDIO_ACTOR,
        ] {
            let by = Answerer::of(own, None, conversation::VIA_MCP);
            assert_eq!(by.lead(), "Answered over MCP by the operator:");
            assert_eq!(by.name, own, "the record keeps the key's name");
        }
        assert_eq!(by.author, Author::Person);
        let alice = user("u-1", Some("Alice"));
        let by = Answerer::of("k", Some(&alice), conversation::VIA_API);
        assert_eq!(by.lead(), "Answered in Open WebUI by Alice:");
    }

    #[test]
    fn a_name_is_posted_as_plain_words() {
        let cases = [
            ("Alice Smith", "Alice Smith"),
            ("Jane O'Neil-Ng", "Jane O'Neil-Ng"),
            ("Zoë 山田", "Zoë 山田"),
            (
                "Eve @o/security-team `x` [click](http://evil.example) <!-- hi",
                "Eve osecurity-team x clickhttpevil.example -- hi",
            ),
            ("<!channel>", "channel"),
            ("@@@", "someone"),
            ("कृष्ण", "कृष्ण"),
            ("ジョン・スミス", "ジョン・スミス"),
            ("Zoe\u{0308}", "Zoe\u{0308}"),
            ("＠team ［x］", "team x"),
            ("a\u{202E}b", "ab"),
        ];
        for (name, shown) in cases {
            assert_eq!(plain_name(name), shown, "{name}");
        }
    }
}
