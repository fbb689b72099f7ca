//! The MCP tools over outbound actions: follow one, list them, and stop or resend one. The
//! same service calls as `/api/actions`; a read-only key may use the `get_`/`list_` ones only.

use std::borrow::Cow;

use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};

use super::McpServer;
use super::args::{ActionIdArgs, ListActionsArgs};
use super::params::Parameters;
use super::tools::{done, held, page_text, tool_error};
use crate::quote::{counted, one_line};
use crate::service::actions::{self, ActionOut};
use crate::service::events;

#[tool_router(router = action_tool_router, vis = "pub(super)")]
impl McpServer {
    #[tool(
        description = include_str!("../../tools/get_action.md"),
        annotations(title = "Get action", read_only_hint = true, open_world_hint = false)
    )]
    async fn get_action(
        &self,
        Parameters(args): Parameters<ActionIdArgs>,
    ) -> Result<CallToolResult, String> {
        let action = events::action(&self.state, &args.action_id)
            .await
            .map_err(tool_error)?;
        let a = &action.action;
        let tried = tried(a.attempts, action.attempt_log.len());
        let error = a
            .last_error
            .as_deref()
            .map(|e| format!("; last error: {e}"))
            .unwrap_or_default();
        // After a crash mid-send it stays `sending`, out of reach, until its send's hold ends.
        let leased = a
            .lease_expires_at
            .as_deref()
            .map(|until| format!(" (its send holds it until {until})"))
            .unwrap_or_default();
        done(
            format!(
                "Action `{}` ({}) to {}: {}{leased}, {tried}{error}{}{}",
                a.id,
                a.action,
                destination(&a.action, &a.target),
                a.status,
                // The error is the upstream's words, which may end a sentence already.
                crate::quote::full_stop(&error),
                held(a)
            ),
            action,
        )
    }

    #[tool(
        description = include_str!("../../tools/list_actions.md"),
        annotations(title = "List actions", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_actions(
        &self,
        Parameters(args): Parameters<ListActionsArgs>,
    ) -> Result<CallToolResult, String> {
        let mut page = actions::list(&self.state, args.into_query())
            .await
            .map_err(tool_error)?;
        let mut lines: Vec<String> = page
            .actions
            .iter()
            .map(|a| {
                let error = a
                    .last_error
                    .as_deref()
                    .map(|e| format!(": {}", one_line(e)))
                    .unwrap_or_default();
                format!(
                    "- {} {} {} [{}] to {}{error}{}",
                    a.created_at,
                    a.id,
                    a.action,
                    a.status,
                    destination(&a.action, &a.target),
                    held(a)
                )
            })
            .collect();
        let cut =
            super::page_fit::fit_page(&mut page.actions, &mut lines, &mut page.next_cursor, |a| {
                a.id.clone()
            });
        let summary = page_text("action", &cut, &lines, page.next_cursor.as_deref());
        done(summary, page)
    }

    #[tool(
        description = include_str!("../../tools/cancel_action.md"),
        annotations(title = "Cancel action", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn cancel_action(
        &self,
        Parameters(args): Parameters<ActionIdArgs>,
    ) -> Result<CallToolResult, String> {
        let action = actions::cancel(&self.state, &args.action_id)
            .await
            .map_err(tool_error)?;
        // A question its task waited on fails that task, and the event with it: said so
        // rather than that nothing failed.
        let said = match &action.note {
            Some(note) => format!(
                "Cancelled {}: it will not be sent; {note}.",
                described(&action)
            ),
            None => format!(
                "Cancelled {}: it will not be sent, and does not fail its event. retry_action \
                 `{}` sends it after all.",
                described(&action),
                action.id
            ),
        };
        done(said, action)
    }

    #[tool(
        description = include_str!("../../tools/retry_action.md"),
        annotations(title = "Retry action", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn retry_action(
        &self,
        Parameters(args): Parameters<ActionIdArgs>,
    ) -> Result<CallToolResult, String> {
        let action = actions::retry(&self.state, &args.action_id)
            .await
            .map_err(tool_error)?;
        let when = match &action.held {
            Some(_) => "once its host's rate limit is over",
            None => "now",
        };
        done(
            format!(
                "Queued {} to be sent again {when}, with a fresh round of retries \
                 (get_action `{}` shows how it went).{}",
                described(&action),
                action.id,
                held(&action)
            ),
            action,
        )
    }
}

/// How often an action was tried, as its JSON counts it: `attempts` is this round's (a retry
/// by hand starts a new one), the attempt log holds every round's, so both are said when
/// they differ ("1 attempt this round, 3 in all").
fn tried(this_round: i64, in_all: usize) -> String {
    match (this_round, in_all) {
        (0, 0) => "not tried yet".into(),
        (n, all) if usize::try_from(n) == Ok(all) => counted(n, "attempt"),
        (0, all) => format!(
            "not tried yet this round, {} in all",
            counted(all, "attempt")
        ),
        (n, all) => format!("{} this round, {all} in all", counted(n, "attempt")),
    }
}

/// "action `act_…` (comment to github octo/app#7)", for a summary.
fn described(action: &ActionOut) -> String {
    format!(
        "action `{}` ({} to {})",
        action.id,
        action.action,
        destination(&action.action, &action.target)
    )
}

/// Where an action goes, for "{action} to {destination}": its target without the action's
/// name in front (a forward's target reads `forward https://…`, which would say it twice).
fn destination<'a>(action: &str, target: &'a str) -> Cow<'a, str> {
    one_line(
        target
            .strip_prefix(action)
            .and_then(|rest| rest.strip_prefix(' '))
            .unwrap_or(target),
    )
}

#[cfg(test)]
mod tests {
    use super::tried;

    #[test]
    fn an_actions_tries_are_counted_as_its_json_counts_them_and_in_all_when_that_differs() {
        for (this_round, in_all, said) in [
            (0, 0, "not tried yet"),
            (1, 1, "1 attempt"),
            (3, 3, "3 attempts"),
            (1, 3, "1 attempt this round, 3 in all"),
            (2, 5, "2 attempts this round, 5 in all"),
            (0, 2, "not tried yet this round, 2 attempts in all"),
        ] {
            assert_eq!(tried(this_round, in_all), said, "{this_round}, {in_all}");
        }
    }
}
