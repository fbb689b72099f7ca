//! What a task sent: the actions its agent's tools and its result queued, as a task's whole
//! view shows them, so a task `done` whose only reply died says so where it is read.

use serde::Serialize;

use super::ServiceError;
use crate::app::AppState;
use crate::store::outbox::{self, ActionFilter, OutboxRow};

/// How many of a task's actions its whole view shows, newest kept: a run's tool calls are
/// bounded, a task answered again and again is not (list_actions with `task_id` pages on).
pub const SHOWN: u32 = 50;

/// One action a task queued, in brief: get_action follows it by its id.
#[derive(Debug, Clone, Serialize)]
pub struct SentAction {
    pub id: String,
    pub action: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl SentAction {
    fn of(row: OutboxRow) -> SentAction {
        let delivered = row.status == "delivered";
        SentAction {
            id: row.id,
            action: row.action,
            status: row.status,
            last_error: row.last_error.filter(|_| !delivered),
        }
    }
}

/// The task's actions, oldest first, up to [`SHOWN`] of the newest.
pub async fn of_task(state: &AppState, task_id: &str) -> Result<Vec<SentAction>, ServiceError> {
    let filter = ActionFilter {
        task_id: Some(task_id.to_string()),
        limit: SHOWN,
        ..ActionFilter::default()
    };
    let mut rows = state
        .store
        .read(move |db| outbox::list(db, &filter))
        .await?;
    rows.reverse();
    Ok(rows.into_iter().map(SentAction::of).collect())
}

/// What a reader of the task must be told of its actions: those that died, and, when nothing
/// it sent arrived, that its `done` posted nothing. `None` when none died.
pub fn dead_note(status: &str, sent: &[SentAction]) -> Option<String> {
    let dead: Vec<&SentAction> = sent.iter().filter(|a| a.status == "dead").collect();
    let first = dead.first()?;
    let why = first
        .last_error
        .as_deref()
        .map(|e| format!(" ({})", crate::quote::one_line(&cut(e))))
        .unwrap_or_default();
    let named = match dead.len() {
        1 => format!("its {} `{}` died{why}", first.action, first.id),
        n => format!(
            "{n} of its actions died, the first its {} `{}`{why}",
            first.action, first.id
        ),
    };
    let arrived = sent.iter().any(|a| a.status == "delivered");
    let pending = sent
        .iter()
        .any(|a| matches!(a.status.as_str(), "pending" | "sending" | "retrying"));
    let nothing = if status == "done" && !arrived && !pending {
        " Nothing it sent arrived, though the task is done."
    } else {
        ""
    };
    Some(format!(
        "{}{}.{nothing} retry_action `{}` sends it again once the cause is fixed.",
        named[..1].to_uppercase(),
        &named[1..],
        first.id
    ))
}

/// An error as a note quotes it: its first line, up to [`ERROR_CHARS`] characters (an
/// upstream's whole answer can follow it; get_action shows it all).
fn cut(error: &str) -> String {
    let line = error.lines().next().unwrap_or_default().trim_end();
    match line.char_indices().nth(ERROR_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

const ERROR_CHARS: usize = 300;

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(id: &str, action: &str, status: &str, error: Option<&str>) -> SentAction {
        SentAction {
            id: id.into(),
            action: action.into(),
            status: status.into(),
            last_error: error.map(str::to_string),
        }
    }

    #[test]
    fn notes_say_what_died_and_whether_anything_arrived() {
        let dead = sent(
            "act_1",
            "comment",
            "dead",
            Some("HTTP 403: Resource not accessible"),
        );
        let cases: Vec<(&str, Vec<SentAction>, Option<&str>)> = vec![
            ("done", vec![], None),
            (
                "done",
                vec![sent("act_0", "comment", "delivered", None)],
                None,
            ),
            (
                "done",
                vec![dead.clone()],
                Some(
                    "Its comment `act_1` died (HTTP 403: Resource not accessible). Nothing it \
                     sent arrived, though the task is done. retry_action `act_1` sends it again \
                     once the cause is fixed.",
                ),
            ),
            (
                "done",
                vec![
                    sent("act_0", "post_message", "delivered", None),
                    dead.clone(),
                ],
                Some(
                    "Its comment `act_1` died (HTTP 403: Resource not accessible). \
                     retry_action `act_1` sends it again once the cause is fixed.",
                ),
            ),
            (
                "failed",
                vec![dead.clone(), sent("act_2", "ask", "dead", None)],
                Some(
                    "2 of its actions died, the first its comment `act_1` (HTTP 403: Resource \
                     not accessible). retry_action `act_1` sends it again once the cause is \
                     fixed.",
                ),
            ),
            (
                "done",
                vec![dead.clone(), sent("act_2", "comment", "retrying", None)],
                Some(
                    "Its comment `act_1` died (HTTP 403: Resource not accessible). \
                     retry_action `act_1` sends it again once the cause is fixed.",
                ),
            ),
        ];
        let long = sent(
            "act_3",
            "comment",
            "dead",
            Some(&format!("{}\nmore", "x".repeat(400))),
        );
        let note = dead_note("done", &[long]).unwrap();
        assert!(note.contains(&format!("({}…)", "x".repeat(300))), "{note}");
        assert!(!note.contains("more"), "{note}");
        for (status, sent, want) in cases {
            assert_eq!(
                dead_note(status, &sent).as_deref(),
                want,
                "{status} {sent:?}"
            );
        }
    }
}
