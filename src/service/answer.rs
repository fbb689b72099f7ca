//! A person answers a task that waits for a reply from this service's own doors (`answer_task`
//! over MCP, say from an Open WebUI chat; `POST /api/tasks/{id}/answer`) rather than on its
//! thread. The answer joins the conversation as a reply on the thread would, marked as given
//! here, and does to the task what that reply would ([`tasks::attach_reply`]): one kept logic
//! for both. With `post`, it is also posted on the thread, led by who answered from where, so
//! the people there see it; that comment coming back is the service's own (see `echo`).

use axum::http::HeaderMap;
use serde::Serialize;

use super::ServiceError;
use super::actions::{self, ActionOut, Author, ReplyTo};
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
    /// [`conversation::VIA_OPENWEBUI`] when the request named an Open WebUI user, else the
    /// door it came through ([`conversation::VIA_MCP`], [`conversation::VIA_API`]).
    pub via: &'static str,
    /// Whose words the text is: a model's (over MCP) is defused before it is posted.
    pub author: Author,
}

/// The longest name taken from a header: a name, not a message.
const MAX_NAME_CHARS: usize = 100;

impl Answerer {
    /// The answerer of a request through `via` with the key named `key_name`: the Open WebUI
    /// user its headers name when Open WebUI forwards them (`ENABLE_FORWARD_USER_INFO_HEADERS`;
    /// it percent-encodes the name), else the key. Anyone holding the key may set the headers:
    /// they say who the key's holder answered for, as a label, not who is allowed.
    pub fn of(key_name: &str, headers: Option<&HeaderMap>, via: &'static str) -> Answerer {
        let author = if via == conversation::VIA_MCP {
            Author::Model
        } else {
            Author::Person
        };
        let header = |name: &str| {
            headers
                .and_then(|h| h.get(name))
                .and_then(|v| v.to_str().ok())
                .and_then(percent_decoded)
                .map(|v| v.chars().filter(|c| !c.is_control()).collect::<String>())
                .map(|v| v.trim().chars().take(MAX_NAME_CHARS).collect::<String>())
                .filter(|v| !v.is_empty())
        };
        match header("x-openwebui-user-name").or_else(|| header("x-openwebui-user-id")) {
            Some(name) => Answerer {
                name,
                via: conversation::VIA_OPENWEBUI,
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
    fn lead(&self) -> String {
        format!(
            "Answered {} by {}:",
            conversation::given_where(self.via),
            self.name
        )
    }
}

/// `%XX` escapes decoded; `None` when they do not make UTF-8 text.
fn percent_decoded(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
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
        return Err(waits_for_nothing(task_id, &task.status));
    }
    let comment = if post {
        let to = ReplyTo {
            event_id: None,
            task_id: Some(task_id.to_string()),
            author: by.author,
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
    let attached = state
        .store
        .write(move |db| {
            // Looked at again in the write: the task may have moved on since.
            if !tasks::takes_answer(db, &key)? {
                return Ok(Attached::No);
            }
            let attached =
                tasks::attach_reply(db, &key, ReplyFrom::Service(via), &text, Some(&name), now)?;
            if let (Some(row), true) = (&row, attached != Attached::No) {
                actions::insert_and_settle(db, row)?;
            }
            Ok(attached)
        })
        .await?;
    let task = service_tasks::load(state, task_id).await?;
    let answer = match attached {
        Attached::Resumed => "resumed",
        Attached::Joined => "joined",
        Attached::Noted => "noted",
        Attached::Kept | Attached::No => return Err(waits_for_nothing(task_id, &task.status)),
    };
    if attached == Attached::Resumed {
        state.wake_runner();
    }
    if comment.is_some() {
        state.wake_workers();
    }
    Ok(Answered {
        task: service_tasks::present(&task),
        answer,
        posted: comment.map(|c| c.presented()),
    })
}

fn waits_for_nothing(task_id: &str, status: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "task `{task_id}` is {status} and waits for no answer: only a task that asked a \
         question on its thread (waiting_reply, or queued or running on an earlier reply) \
         takes one"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn the_answerer_is_the_open_webui_user_when_named_else_the_key() {
        // (the request's headers, the answerer's name, through where)
        type Case<'a> = (&'a [(&'static str, &'static str)], &'a str, &'a str);
        let cases: [Case; 6] = [
            (&[], "ops-key", conversation::VIA_MCP),
            (
                &[("x-openwebui-user-name", "Alice Smith")],
                "Alice Smith",
                conversation::VIA_OPENWEBUI,
            ),
            // As Open WebUI sends a name: percent-encoded, spaces kept.
            (
                &[("x-openwebui-user-name", "Jos%C3%A9 P")],
                "José P",
                conversation::VIA_OPENWEBUI,
            ),
            (
                &[("x-openwebui-user-id", "u-42")],
                "u-42",
                conversation::VIA_OPENWEBUI,
            ),
            (
                &[
                    ("x-openwebui-user-name", "  "),
                    ("x-openwebui-user-id", "u-42"),
                ],
                "u-42",
                conversation::VIA_OPENWEBUI,
            ),
            // Escapes that do not make text fall back, as no name would.
            (
                &[("x-openwebui-user-name", "%FF")],
                "ops-key",
                conversation::VIA_MCP,
            ),
        ];
        for (pairs, name, via) in cases {
            let by = Answerer::of("ops-key", Some(&headers(pairs)), conversation::VIA_MCP);
            assert_eq!((by.name.as_str(), by.via), (name, via), "{pairs:?}");
        }
        let by = Answerer::of("ops-key", None, conversation::VIA_API);
        assert_eq!(by.lead(), "Answered through the API by ops-key:");
        assert_eq!(by.author, Author::Person);
        let long = "n".repeat(300);
        let map = {
            let mut map = HeaderMap::new();
            map.insert("x-openwebui-user-name", long.parse().expect("value"));
            map
        };
        let by = Answerer::of("k", Some(&map), conversation::VIA_MCP);
        assert_eq!(by.name.chars().count(), MAX_NAME_CHARS);
        assert_eq!(by.lead(), format!("Answered in Open WebUI by {}:", by.name));
    }
}
