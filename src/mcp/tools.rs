//! The MCP tools: each one a thin door onto the same service functions the REST API uses.
//! Descriptions live in `tools/{name}.md` so they can be tuned without touching Rust.
//! Domain failures are tool errors (`isError: true`) with a message the model can act on.

use super::params::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use serde::Serialize;
use serde_json::{Value, json};

use super::McpServer;
use super::args::*;
use crate::quote::{counted, one_line};
use crate::service::{ServiceError, actions, commands, events, webhooks};
use crate::store::StoreError;

/// A list tool's text: its lines under a heading (`{n} {noun}, newest first{aside}:`), or
/// that none match, and the cursor to call again with when there are more.
pub(super) fn page_text(
    noun: &str,
    aside: &str,
    lines: &[String],
    next_cursor: Option<&str>,
) -> String {
    if lines.is_empty() {
        return format!("No {noun}s match.");
    }
    let more = next_cursor
        .map(|c| format!("\nMore: call again with cursor `{c}`."))
        .unwrap_or_default();
    format!(
        "{}, newest first{aside}:\n{}{more}",
        counted(lines.len(), noun),
        lines.join("\n")
    )
}

/// Structured JSON for clients that read it, preceded by one line for people and models.
pub(super) fn done(
    summary: impl Into<String>,
    value: impl Serialize,
) -> Result<CallToolResult, String> {
    let value = serde_json::to_value(value).map_err(|e| e.to_string())?;
    let mut result = CallToolResult::structured(value);
    result.content.insert(0, ContentBlock::text(summary.into()));
    Ok(result)
}

/// Warnings to append to a summary, so a model reading only the text still sees them; each
/// ends a sentence, so that the next does not read as part of it.
pub(super) fn warned(warnings: &[String]) -> String {
    warnings
        .iter()
        .map(|w| format!(" Warning: {w}{}", crate::quote::full_stop(w)))
        .collect()
}

/// " Held until …" for an action waiting on its host's rate limit, so a model reading only
/// the text knows why it does not go (see `actions::with_pause`).
pub(super) fn held(action: &actions::ActionOut) -> String {
    action
        .held
        .as_deref()
        .map(|why| format!(" Not sent yet: {why}{}", crate::quote::full_stop(why)))
        .unwrap_or_default()
}

/// A service error as a message the model can act on, naming the field to fix.
pub fn tool_error(e: ServiceError) -> String {
    match e {
        ServiceError::Invalid {
            field: Some(field),
            message,
        } => format!("invalid `{field}`: {message}"),
        // Its own words: what it changed is kept, so it must not be sent again.
        ServiceError::Store(StoreError::Unavailable(reason))
            if reason.contains(crate::store::KEPT_AT_STOP) =>
        {
            format!("the webhook store cannot save anything more: {reason}")
        }
        ServiceError::Store(StoreError::Unavailable(reason)) => format!(
            "the webhook store cannot save anything ({reason}); nothing was changed: try again \
             later, and if it lasts an operator must mend it (free space, or restart the server)"
        ),
        // As REST answers them 503: a disk or file fault, not a fault of the call.
        ServiceError::Store(StoreError::Sqlite(e))
            if crate::store::cannot_write(&e).is_some()
                || matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
                ) =>
        {
            tracing::error!(error = %e, "store error in MCP tool");
            format!(
                "the webhook store cannot be used right now ({e}); try again later, and if it \
                 lasts an operator must mend it"
            )
        }
        ServiceError::Store(store) => {
            tracing::error!(error = %store, "store error in MCP tool");
            "internal error in the webhook store; try again, and check the server log if it persists"
                .to_string()
        }
        other => other.to_string(),
    }
}

#[tool_router(vis = "pub(super)")]
impl McpServer {
    #[tool(
        description = include_str!("../../tools/create_webhook.md"),
        annotations(title = "Create webhook", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn create_webhook(
        &self,
        Parameters(args): Parameters<CreateWebhookArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, String> {
        let placeholder = args
            .secret
            .is_none()
            .then(|| crate::providers::Provider::own_secret_issuer(&args.provider))
            .flatten();
        // The webhook names its maker as the audit log does: the key's name, or `stdio`.
        let created_by = self.auditor(&context).map(|(actor, _)| actor);
        let created = webhooks::create(&self.state, args.into_input(), created_by)
            .await
            .map_err(tool_error)?;
        let setup = crate::service::setup::steps(&created);
        // These providers issue the signing secret themselves; a generated one cannot verify
        // anything they send, and "copy it now" would send the user the wrong way.
        let secret_note = if let Some(sender) = &placeholder {
            format!(
                "{sender} issues its own signing secret, so the generated one is only a placeholder: \
                 once the provider shows its secret, set it with rotate_secret \
                 {{\"webhook_id\": \"{}\", \"secret\": \"...\", \"grace_period_secs\": 0}}.",
                created.id
            )
        } else {
            "The secret is shown only now.".to_string()
        };
        // The placeholder's warning is the secret note already.
        let said = placeholder
            .as_deref()
            .map(crate::service::webhooks::placeholder_warning);
        let others: Vec<String> = created
            .warnings
            .iter()
            .filter(|w| said.as_ref() != Some(*w))
            .cloned()
            .collect();
        let summary = format!(
            "Created {} webhook `{}`. Receiver URL: {}. {secret_note}{}",
            created.provider,
            created.id,
            created.url_with_token.as_deref().unwrap_or(&created.url),
            warned(&others)
        );
        done(summary, json!({"webhook": created, "setup": setup}))
    }

    #[tool(
        description = include_str!("../../tools/list_webhooks.md"),
        annotations(title = "List webhooks", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_webhooks(
        &self,
        Parameters(args): Parameters<ListWebhooksArgs>,
    ) -> Result<CallToolResult, String> {
        let provider = args.provider.clone();
        let first_page = args.cursor.is_none();
        let page = webhooks::list_page(&self.state, args.into_query())
            .await
            .map_err(tool_error)?;
        let all = &page.webhooks;
        let summary = if all.is_empty() && !first_page {
            "No more webhooks.".to_string()
        } else if all.is_empty() {
            match provider.as_deref() {
                // The provider as the service names it (it was checked to be one).
                Some(provider) => format!(
                    "No {} webhooks (call again without `provider` for all of them).",
                    webhooks::provider_named(provider).map_or(provider, |p| p.as_str())
                ),
                None => "No webhooks yet.".to_string(),
            }
        } else {
            let lines: Vec<String> = all
                .iter()
                .map(|w| {
                    // The name too: "delete the Stripe webhook" may need it to tell two apart.
                    format!(
                        "- {} {} ({}, {}, {}) {}{}",
                        w.id,
                        Value::String(w.name.clone()),
                        w.provider,
                        if w.enabled { "enabled" } else { "disabled" },
                        counted(w.commands.unwrap_or(0), "command"),
                        w.url,
                        if w.secret_placeholder {
                            " [secret still a placeholder: the sender's deliveries are refused \
                             until its own is set with rotate_secret]"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            let more = page
                .next_cursor
                .as_deref()
                .map(|c| format!("\nMore: call again with cursor `{c}`."))
                .unwrap_or_default();
            format!(
                "{}:\n{}{more}",
                counted(all.len(), "webhook"),
                lines.join("\n")
            )
        };
        done(summary, page)
    }

    #[tool(
        description = include_str!("../../tools/get_webhook.md"),
        annotations(title = "Get webhook", read_only_hint = true, open_world_hint = false)
    )]
    async fn get_webhook(
        &self,
        Parameters(args): Parameters<WebhookIdArgs>,
    ) -> Result<CallToolResult, String> {
        let webhook = webhooks::get(&self.state, &args.webhook_id)
            .await
            .map_err(tool_error)?;
        let cmds = commands::list(&self.state, &args.webhook_id)
            .await
            .map_err(tool_error)?;
        // Its `url` alone gets a 401 from senders that cannot sign, and the model should not
        // hand it out as if it were enough.
        let token_in_url = webhooks::sender_uses_token(&webhook);
        let summary = format!(
            "Webhook `{}` ({}, {}), {}.{}",
            webhook.id,
            webhook.provider,
            if webhook.enabled {
                "enabled"
            } else {
                "disabled"
            },
            counted(cmds.len(), "command"),
            if token_in_url {
                " Its sender proves itself with the secret as a token (in the URL as \
                 `?token=<secret>`, url_with_token, or in a custom webhook's token header), \
                 shown only when the webhook was created or its secret rotated; if it is lost, \
                 rotate_secret gives a new one."
            } else {
                ""
            }
        );
        let summary = format!("{summary}{}", warned(&webhook.warnings));
        done(summary, json!({"webhook": webhook, "commands": cmds}))
    }

    #[tool(
        description = include_str!("../../tools/update_webhook.md"),
        annotations(title = "Update webhook", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn update_webhook(
        &self,
        Parameters(args): Parameters<UpdateWebhookArgs>,
    ) -> Result<CallToolResult, String> {
        // Blank values are dropped as left out (models fill every field).
        let (id, patch) = args.into_patch();
        let webhook = webhooks::update(&self.state, &id, patch)
            .await
            .map_err(tool_error)?;
        done(
            format!(
                "Updated webhook `{}`.{}",
                webhook.id,
                warned(&webhook.warnings)
            ),
            webhook,
        )
    }

    #[tool(
        description = include_str!("../../tools/delete_webhook.md"),
        annotations(title = "Delete webhook", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn delete_webhook(
        &self,
        Parameters(args): Parameters<WebhookIdArgs>,
    ) -> Result<CallToolResult, String> {
        webhooks::delete(&self.state, &args.webhook_id)
            .await
            .map_err(tool_error)?;
        done(
            format!(
                "Deleted webhook `{}` and its commands; its events stay in the log.",
                args.webhook_id
            ),
            json!({"deleted": args.webhook_id}),
        )
    }

    #[tool(
        description = include_str!("../../tools/rotate_secret.md"),
        annotations(title = "Rotate webhook secret", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false)
    )]
    async fn rotate_secret(
        &self,
        Parameters(args): Parameters<RotateSecretArgs>,
    ) -> Result<CallToolResult, String> {
        let (id, input) = args.into_input();
        let webhook = webhooks::rotate_secret(&self.state, &id, input)
            .await
            .map_err(tool_error)?;
        let until = webhook
            .previous_secret_expires_at
            .as_deref()
            .map(|t| format!(" The old secret keeps working until {t}."))
            // Another process on the database (a `serve` beside stdio) holds a webhook for up
            // to its hook cache's 2 s, old secret included.
            .unwrap_or_else(|| {
                " The old secret no longer works here, nor, within 2 seconds, in other \
                 processes on the same database (a `serve` beside a stdio server)."
                    .into()
            });
        let warnings: String = webhook
            .warnings
            .iter()
            .map(|w| format!(" Warning: {w}{}", crate::quote::full_stop(w)))
            .collect();
        done(
            format!(
                "Rotated the secret of `{}`; the new one is shown only now.{until}{warnings}",
                webhook.id
            ),
            webhook,
        )
    }

    #[tool(
        description = include_str!("../../tools/add_command.md"),
        annotations(title = "Add command", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn add_command(
        &self,
        Parameters(args): Parameters<AddCommandArgs>,
    ) -> Result<CallToolResult, String> {
        let (webhook_id, input) = args.into_input();
        let command = commands::add(&self.state, &webhook_id, input)
            .await
            .map_err(tool_error)?;
        // A scheduled one says when it first fires, and how to see what it sends before then.
        let when = match (&command.schedule, &command.next_run_at) {
            (Some(schedule), Some(next)) => {
                let zone = command.timezone.as_deref().unwrap_or("UTC");
                // In the zone it is read in, as the person who wrote it thinks of it.
                let local = crate::engine::schedule::Schedule::parse(schedule, Some(zone))
                    .ok()
                    .zip(crate::clock::parse(next))
                    .and_then(|(s, at)| s.local_time(at))
                    .map_or_else(String::new, |l| format!("{l} {zone}, "));
                format!(
                    " It first fires at {local}{next} (`{schedule}`); test_webhook with this \
                     command_id shows what a tick sends, or runs it now."
                )
            }
            _ => String::new(),
        };
        done(
            format!(
                "Added command `{}` to `{webhook_id}`: {} -> {}.{when}{}",
                command.id,
                command.trigger,
                command.action,
                warned(&command.warnings)
            ),
            command,
        )
    }

    #[tool(
        description = include_str!("../../tools/update_command.md"),
        annotations(title = "Update command", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn update_command(
        &self,
        Parameters(args): Parameters<UpdateCommandArgs>,
    ) -> Result<CallToolResult, String> {
        let (webhook_id, command_id, input) = args.into_input();
        let command =
            match commands::update(&self.state, &webhook_id, &command_id, input, None).await {
                Ok(command) => command,
                Err(e) => {
                    let e = commands::on_another_webhook(&self.state, &webhook_id, &command_id, e);
                    return Err(tool_error(e.await));
                }
            };
        done(
            format!(
                "Updated command `{}`.{}",
                command.id,
                warned(&command.warnings)
            ),
            command,
        )
    }

    #[tool(
        description = include_str!("../../tools/remove_command.md"),
        annotations(title = "Remove command", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn remove_command(
        &self,
        Parameters(args): Parameters<CommandIdArgs>,
    ) -> Result<CallToolResult, String> {
        if let Err(e) = commands::remove(&self.state, &args.webhook_id, &args.command_id).await {
            let (webhook_id, command_id) = (&args.webhook_id, &args.command_id);
            let e = commands::on_another_webhook(&self.state, webhook_id, command_id, e);
            return Err(tool_error(e.await));
        }
        done(
            format!("Removed command `{}`.", args.command_id),
            json!({"removed": args.command_id}),
        )
    }

    #[tool(
        description = include_str!("../../tools/list_events.md"),
        annotations(title = "List events", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_events(
        &self,
        Parameters(args): Parameters<ListEventsArgs>,
    ) -> Result<CallToolResult, String> {
        let mut page = events::list(&self.state, args.into_query())
            .await
            .map_err(tool_error)?;
        let mut lines: Vec<String> = page
            .events
            .iter()
            .map(|e| {
                let matched = e.matched_commands.as_array().map_or(0, Vec::len);
                // The type and source are the sender's words (a rejected delivery's too,
                // unchecked): each kept to its entry's line.
                format!(
                    "- {} {} {} [{}] {}{}{}",
                    e.received_at,
                    e.id,
                    one_line(e.event_type.as_deref().unwrap_or("?")),
                    e.status,
                    one_line(
                        e.source
                            .as_ref()
                            .and_then(|s| s.get("key"))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                    ),
                    e.title
                        .as_deref()
                        .map(|t| format!(" “{}”", one_line(t)))
                        .unwrap_or_default(),
                    if matched > 0 {
                        format!(" ({} matched)", counted(matched, "command"))
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        let cut =
            super::page_fit::fit_page(&mut page.events, &mut lines, &mut page.next_cursor, |e| {
                e.id.clone()
            });
        let summary = page_text("event", &cut, &lines, page.next_cursor.as_deref());
        done(summary, page)
    }

    #[tool(
        description = include_str!("../../tools/get_event.md"),
        annotations(title = "Get event", read_only_hint = true, open_world_hint = false)
    )]
    async fn get_event(
        &self,
        Parameters(args): Parameters<EventIdArgs>,
    ) -> Result<CallToolResult, String> {
        let event = events::get(&self.state, &args.event_id)
            .await
            .map_err(tool_error)?
            .cut_for_model(events::SHOWN_BODY_BYTES);
        let s = &event.summary;
        done(
            format!(
                "Event `{}`: {} from webhook `{}`, {} ({}).",
                s.id,
                one_line(s.event_type.as_deref().unwrap_or("?")),
                s.webhook_id,
                s.status,
                event.verification
            ),
            event,
        )
    }

    #[tool(
        description = include_str!("../../tools/test_webhook.md"),
        annotations(title = "Test webhook", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn test_webhook(
        &self,
        Parameters(args): Parameters<TestWebhookArgs>,
    ) -> Result<CallToolResult, String> {
        let report = crate::service::testing::test_webhook(
            &self.state,
            &args.webhook_id,
            crate::service::testing::TestAsk {
                event_type: args.event_type.as_deref(),
                payload: args.payload,
                command_id: args.command_id.as_deref(),
                run_actions: args.run_actions,
            },
            crate::service::Door::Mcp,
        )
        .await
        .map_err(tool_error)?;
        done(report.summary(), report)
    }

    #[tool(
        description = include_str!("../../tools/replay_event.md"),
        annotations(title = "Replay event", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn replay_event(
        &self,
        Parameters(args): Parameters<EventIdArgs>,
    ) -> Result<CallToolResult, String> {
        let report = actions::replay(&self.state, &args.event_id)
            .await
            .map_err(tool_error)?;
        let results: Vec<&str> = report
            .results
            .iter()
            .filter_map(|r| r.get("result").and_then(Value::as_str))
            .collect();
        let summary = if report.matched_commands.is_empty() {
            format!(
                "Replayed `{}`: no command matches it now; nothing was queued.",
                report.event_id
            )
        } else {
            format!(
                "Replayed `{}`: {} command(s) matched; {}.",
                report.event_id,
                report.matched_commands.len(),
                results.join(", ")
            )
        };
        done(summary, report)
    }

    #[tool(
        description = include_str!("../../tools/comment.md"),
        annotations(title = "Comment on the source", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn comment(
        &self,
        Parameters(args): Parameters<ReplyArgs>,
    ) -> Result<CallToolResult, String> {
        let to = actions::ReplyTo {
            event_id: args.event_id,
            task_id: args.task_id,
            author: actions::Author::Model,
            owner: None,
        };
        let action = actions::comment(&self.state, to, args.text)
            .await
            .map_err(tool_error)?;
        done(queued("Comment", &action), action)
    }

    #[tool(
        description = include_str!("../../tools/ask.md"),
        annotations(title = "Ask on the source and wait", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn ask(&self, Parameters(args): Parameters<AskArgs>) -> Result<CallToolResult, String> {
        let to = actions::ReplyTo {
            event_id: args.event_id,
            task_id: args.task_id,
            author: actions::Author::Model,
            owner: Some(
                args.owner
                    .unwrap_or_else(|| super::task_tools::DEFAULT_OWNER.into()),
            ),
        };
        let action = actions::ask(&self.state, to, args.question, args.agent)
            .await
            .map_err(tool_error)?;
        done(
            format!(
                "{} The task `{}` waits for the reply.{}",
                queued("Question", &action),
                action.task_id.as_deref().unwrap_or("?"),
                action
                    .note
                    .as_deref()
                    .map(|note| format!(" {note}"))
                    .unwrap_or_default()
            ),
            action,
        )
    }

    #[tool(
        description = include_str!("../../tools/respond.md"),
        annotations(title = "Respond to the sender", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn respond(
        &self,
        Parameters(args): Parameters<ReplyArgs>,
    ) -> Result<CallToolResult, String> {
        let to = actions::ReplyTo {
            event_id: args.event_id,
            task_id: args.task_id,
            author: actions::Author::Model,
            owner: None,
        };
        let action = actions::respond(&self.state, to, args.text)
            .await
            .map_err(tool_error)?;
        done(queued("Response", &action), action)
    }

    #[tool(
        description = include_str!("../../tools/post_message.md"),
        annotations(title = "Post a message", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn post_message(
        &self,
        Parameters(args): Parameters<PostMessageArgs>,
    ) -> Result<CallToolResult, String> {
        let action = actions::post_message(
            &self.state,
            args.url,
            args.kind,
            actions::TelegramChat {
                chat_id: args.chat_id,
                thread_id: args.thread_id,
            },
            args.text,
            args.event_id,
            None,
            actions::Author::Model,
        )
        .await
        .map_err(tool_error)?;
        done(queued("Message", &action), action)
    }
}

fn queued(what: &str, action: &actions::ActionOut) -> String {
    let status = match &action.event_id {
        Some(event_id) => format!(
            "get_action `{}` or get_event `{event_id}` shows its status",
            action.id
        ),
        None => format!("get_action `{}` shows its status", action.id),
    };
    format!(
        "{what} queued as `{}` to {}; it is sent in the background with retries ({status}; \
         cancel_action stops it while it waits).{}{}",
        action.id,
        one_line(&action.target),
        held(action),
        warned(&action.warnings)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_warning_in_a_summary_ends_a_sentence() {
        let cases: [(&[&str], &str); 3] = [
            (&[], ""),
            (
                &["it prints what the sender wrote (see Agents)", "check it."],
                " Warning: it prints what the sender wrote (see Agents). Warning: check it.",
            ),
            (&["done already?"], " Warning: done already?"),
        ];
        for (warnings, said) in cases {
            let warnings: Vec<String> = warnings.iter().map(|w| (*w).to_string()).collect();
            assert_eq!(super::warned(&warnings), said);
        }
    }
}
