//! Tool parameters as the model sees them: every field has a description (the doc comment),
//! optional fields are optional in the schema. Converted into the service layer's inputs.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

pub(crate) mod lenient;

use crate::service::actions::ActionQuery;
use crate::service::commands::CommandIn;
use crate::service::events::EventQuery;
use crate::service::webhooks::{RotateIn, WebhookIn, WebhookPatch, WebhookQuery};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookArgs {
    /// Human-readable name, e.g. "GitHub issues for octo/app".
    pub name: String,
    /// Who sends the events: github, gitlab, slack, jira, sentry, linear, stripe,
    /// standard-webhooks (or svix), openai (Standard Webhooks signed with the secret OpenAI's
    /// dashboard issues), openwebui or custom.
    #[schemars(extend("enum" = ["github", "gitlab", "slack", "jira", "sentry", "linear", "stripe", "standard-webhooks", "svix", "openai", "openwebui", "custom"]))]
    pub provider: String,
    /// URL-safe id (letters, digits, `-`, `_`), not starting as another kind's ids do (`evt_`,
    /// `task_`, `act_`, `cmd_`, `key_`). Generated when omitted.
    #[serde(default)]
    pub id: Option<String>,
    /// The signing secret. Omit it to have one generated, except for slack, stripe, sentry,
    /// linear and openai: those generate their own signing secret, which must be passed here.
    #[serde(default)]
    pub secret: Option<String>,
    /// Whether the webhook accepts events right away (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Provider options, all optional: tolerance_secs for timestamped schemes; custom (how a
    /// custom sender signs and where its event type is); credentials (tokens for replies on
    /// this webhook's source instead of the server's); rate_limit; ip_allowlist.
    #[serde(default, deserialize_with = "lenient::json_text")]
    #[schemars(schema_with = "super::shapes::options")]
    pub options: Option<Value>,
}

impl CreateWebhookArgs {
    pub fn into_input(self) -> WebhookIn {
        WebhookIn {
            id: self.id,
            name: self.name,
            provider: self.provider,
            secret: self.secret,
            enabled: self.enabled,
            options: self.options,
            endpoint: None,
            commands: None,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookIdArgs {
    /// The webhook's id, as list_webhooks shows it.
    pub webhook_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookArgs {
    /// The webhook's id.
    pub webhook_id: String,
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// false stops accepting events (senders get 404), true starts again.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Options to change, as create_webhook takes them: each option given replaces the stored
    /// one whole (credentials are merged token by token), an option set to null is removed,
    /// the others stay.
    #[serde(default, deserialize_with = "lenient::json_text")]
    #[schemars(schema_with = "super::shapes::options_undescribed")]
    pub options: Option<Value>,
}

impl UpdateWebhookArgs {
    pub fn into_patch(self) -> (String, WebhookPatch) {
        (
            self.webhook_id,
            WebhookPatch {
                name: self.name,
                enabled: self.enabled,
                options: self.options,
                provider: None,
                id: None,
                edited_from: None,
                ..WebhookPatch::default()
            },
        )
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretArgs {
    /// The webhook's id.
    pub webhook_id: String,
    /// The new secret; generated when omitted (pass the provider's own for slack, stripe,
    /// sentry, linear).
    #[serde(default)]
    pub secret: Option<String>,
    /// Seconds the old secret keeps verifying so the sender can be updated (default one day;
    /// 0 ends it at once).
    #[serde(default)]
    pub grace_period_secs: Option<i64>,
}

impl RotateSecretArgs {
    pub fn into_input(self) -> (String, RotateIn) {
        (
            self.webhook_id,
            RotateIn {
                secret: self.secret,
                grace_period_secs: self.grace_period_secs,
            },
        )
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCommandArgs {
    /// The webhook the command belongs to.
    pub webhook_id: String,
    /// Event type that fires the command: exact (`issues.opened`), `*` per dot segment
    /// (`issues.*`), a segment prefix (`issues`), `*`; or "schedule".
    pub trigger: String,
    /// What the command does.
    #[schemars(extend("enum" = ["create_task", "comment", "ask", "respond", "forward", "post_message"]))]
    pub action: String,
    /// Agent that takes the work (required for create_task), e.g. "planning".
    #[serde(default)]
    pub agent: Option<String>,
    /// minijinja template over the payload, e.g. "Analyze issue: {{issue.title}}". Required
    /// for comment, ask, respond and post_message.
    #[serde(default)]
    pub template: Option<String>,
    /// Filters, all of which must hold, e.g. {"labels": ["bug"], "from_bot": false} or
    /// {"field": "issue.user.login", "equals": "alice"}. A list matches any of its names:
    /// labels (the or merge request's), label (the one just added), body_contains,
    /// channel (a Slack id or name), sender, author (login, name or id). from_bot: false
    /// ignores bots and apps, true takes only them. field (a payload path) is tested by equals, not_equals, in, contains (text, or a
    /// list's item), regex, exists, gt, lt; "42" matches 42.
    #[serde(default, deserialize_with = "lenient::json_text")]
    #[schemars(schema_with = "super::shapes::conditions")]
    pub conditions: Option<Value>,
    /// Where forward and post_message send (create_task: its result's channel). url: a
    /// channel's webhook (Open WebUI, Slack, Discord, Teams) or Telegram sendMessage URL, or
    /// forward's endpoint (its path may use {{ }}); secret (forward): whsec_... to sign with;
    /// headers (forward): e.g. Authorization, shown masked; kind: guessed from the URL when
    /// omitted; chat_id: a Telegram chat's id; thread_id: a Telegram forum topic's.
    #[serde(default, deserialize_with = "lenient::target")]
    #[schemars(schema_with = "super::shapes::target")]
    pub target: Option<Value>,
    /// Higher runs first (default 0).
    #[serde(default)]
    pub priority: Option<i64>,
    /// true: lower priorities do not run after it.
    #[serde(default)]
    pub stop: Option<bool>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// 5-field cron for trigger "schedule": "0 9 * * 1-5".
    #[serde(default)]
    pub schedule: Option<String>,
    /// IANA zone (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
}

impl AddCommandArgs {
    pub fn into_input(self) -> (String, CommandIn) {
        (
            self.webhook_id,
            CommandIn {
                trigger: Some(self.trigger),
                action: Some(self.action),
                agent: self.agent,
                template: self.template,
                conditions: self.conditions,
                target: self.target,
                priority: self.priority,
                stop: self.stop,
                enabled: self.enabled,
                schedule: self.schedule,
                timezone: self.timezone,
            },
        )
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCommandArgs {
    /// The webhook the command belongs to.
    pub webhook_id: String,
    /// The command's id (cmd_...).
    pub command_id: String,
    /// New trigger, as add_command takes it (`issues.opened`, `issues.*`, `*`).
    #[serde(default)]
    pub trigger: Option<String>,
    /// New action: create_task, comment, ask, respond, forward or post_message.
    #[serde(default)]
    #[schemars(extend("enum" = ["create_task", "comment", "ask", "respond", "forward", "post_message"]))]
    pub action: Option<String>,
    /// New agent (for create_task), e.g. "planning".
    #[serde(default)]
    pub agent: Option<String>,
    /// New minijinja template over the payload, e.g. "Analyze issue: {{issue.title}}".
    #[serde(default)]
    pub template: Option<String>,
    /// New conditions, as add_command takes them; they replace the old ones whole.
    #[serde(default, deserialize_with = "lenient::json_text")]
    #[schemars(schema_with = "super::shapes::conditions_undescribed")]
    pub conditions: Option<Value>,
    /// New target, as add_command takes it: forward {"url", "secret"?, "headers"?}; post_message
    /// or create_task (its result's channel) {"url", "kind"?, "chat_id"?, "thread_id"?}; {}
    /// removes a create_task's.
    #[serde(default, deserialize_with = "lenient::target")]
    #[schemars(schema_with = "super::shapes::target_change")]
    pub target: Option<Value>,
    /// New priority.
    #[serde(default)]
    pub priority: Option<i64>,
    /// New stop flag.
    #[serde(default)]
    pub stop: Option<bool>,
    /// Enable or disable the command.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// New cron schedule (trigger "schedule"), e.g. "0 9 * * 1-5".
    #[serde(default)]
    pub schedule: Option<String>,
    /// New IANA zone of the schedule; "" for UTC.
    #[serde(default)]
    pub timezone: Option<String>,
}

impl UpdateCommandArgs {
    pub fn into_input(self) -> (String, String, CommandIn) {
        (
            self.webhook_id,
            self.command_id,
            CommandIn {
                trigger: self.trigger,
                action: self.action,
                agent: self.agent,
                template: self.template,
                conditions: self.conditions,
                target: self.target,
                priority: self.priority,
                stop: self.stop,
                enabled: self.enabled,
                schedule: self.schedule,
                timezone: self.timezone,
            },
        )
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandIdArgs {
    /// The webhook the command belongs to.
    pub webhook_id: String,
    /// The command's id (cmd_...).
    pub command_id: String,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListWebhooksArgs {
    /// Only this provider's webhooks: github, gitlab, slack, jira, sentry, linear, stripe,
    /// standard-webhooks, openwebui or custom.
    #[serde(default)]
    #[schemars(extend("enum" = ["github", "gitlab", "slack", "jira", "sentry", "linear", "stripe", "standard-webhooks", "openwebui", "custom"]))]
    pub provider: Option<String>,
    /// Page size 1-200 (default 50).
    #[serde(default, deserialize_with = "lenient::page_size")]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
    /// next_cursor from the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

impl ListWebhooksArgs {
    pub fn into_query(self) -> WebhookQuery {
        WebhookQuery {
            provider: self.provider,
            limit: Some(self.limit.unwrap_or(50)),
            cursor: self.cursor,
        }
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEventsArgs {
    /// Only this webhook's events.
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// Only this provider's events: github, gitlab, slack, jira, sentry, linear, stripe,
    /// standard-webhooks, openwebui or custom.
    #[serde(default)]
    #[schemars(extend("enum" = ["github", "gitlab", "slack", "jira", "sentry", "linear", "stripe", "standard-webhooks", "openwebui", "custom"]))]
    pub provider: Option<String>,
    /// An event type with its actions (`issues` also lists `issues.opened`), or a `*`
    /// pattern (`*.created`).
    #[serde(default)]
    pub event_type: Option<String>,
    /// accepted, own_post (the service's own comment coming back), matched, done, failed,
    /// rejected, invalid_payload, test or looped (came through too many forwards).
    #[serde(default)]
    #[schemars(extend("enum" = ["accepted", "own_post", "matched", "done", "failed", "rejected", "invalid_payload", "test", "looped"]))]
    pub status: Option<String>,
    /// Only events at or after this time, as text: RFC 3339, a date, or unix seconds or
    /// milliseconds (e.g. "2026-12-01T09:00:00Z", "2026-12-01" or "1764579600").
    #[serde(default, deserialize_with = "lenient::text_or_number")]
    pub since: Option<String>,
    /// Only events before this time, in the forms since takes.
    #[serde(default, deserialize_with = "lenient::text_or_number")]
    pub until: Option<String>,
    /// Page size 1-200 (default 20).
    #[serde(default, deserialize_with = "lenient::page_size")]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
    /// next_cursor from the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

impl ListEventsArgs {
    pub fn into_query(self) -> EventQuery {
        EventQuery {
            webhook_id: self.webhook_id,
            provider: self.provider,
            event_type: self.event_type,
            status: self.status,
            since: self.since,
            until: self.until,
            limit: Some(self.limit.unwrap_or(20)),
            cursor: self.cursor,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIdArgs {
    /// The event's id (evt_...).
    pub event_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionIdArgs {
    /// The action's id (act_...), as a comment, ask, respond or post_message returned it.
    pub action_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListActionsArgs {
    /// pending, sending, retrying, delivered, dead or cancelled.
    #[serde(default)]
    #[schemars(extend("enum" = ["pending", "sending", "retrying", "delivered", "dead", "cancelled"]))]
    pub status: Option<String>,
    /// Only actions of this webhook's events and replies (the id, as list_webhooks shows it).
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// Only the actions of this task (`task_…`): its comments, questions and posted result.
    #[serde(default)]
    pub task_id: Option<String>,
    /// Page size 1-200 (default 20).
    #[serde(default, deserialize_with = "lenient::page_size")]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
    /// next_cursor from the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

impl ListActionsArgs {
    pub fn into_query(self) -> ActionQuery {
        ActionQuery {
            status: self.status,
            webhook_id: self.webhook_id,
            task_id: self.task_id,
            // A model reads every line of the page: smaller than REST's default of 50.
            limit: Some(self.limit.unwrap_or(20)),
            cursor: self.cursor,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestWebhookArgs {
    /// The webhook to test.
    pub webhook_id: String,
    /// Event type to simulate, e.g. issues.opened, issue_comment.created,
    /// jira:issue_created, message.channels. Defaults to the provider's most common one; with
    /// your own `payload`, to the type it names (a Stripe `type`; on GitHub the kind its objects
    /// say: a `pull_request` is pull_request, with a `review` pull_request_review, an `issue`
    /// with a `comment` issue_comment, with its own `action` or that kind's usual one; a Sentry
    /// payload, or a GitHub one naming no kind, is an `issues`/`issue` event).
    #[serde(default)]
    pub event_type: Option<String>,
    /// Payload to send instead of the built-in sample: a JSON object as the provider sends
    /// it, written as JSON text (e.g. "{\"action\": \"opened\", \"issue\": {...}}").
    #[serde(default, deserialize_with = "lenient::json_text")]
    #[schemars(schema_with = "super::shapes::json_text")]
    pub payload: Option<Value>,
    /// A scheduled command to fire now (event_type `schedule` picks the webhook's only one):
    /// a dry run shows what its tick sends; with run_actions its work is queued now.
    #[serde(default)]
    pub command_id: Option<String>,
    /// Also queue the matched commands' actions and tasks for real (a comment on the issue the
    /// payload names, a forward, an agent task); needs your own `payload` (a built-in sample's
    /// issue or channel is not yours), or a scheduled `command_id`. Default false: only report
    /// what they would do.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub run_actions: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyArgs {
    /// The event whose source to reply on (its issue, merge request, ticket or Slack thread).
    #[serde(default)]
    pub event_id: Option<String>,
    /// Or the task whose event to reply on (the task is linked to the reply).
    #[serde(default)]
    pub task_id: Option<String>,
    /// The text to post (markdown where the source renders it).
    // `message` and `response` too, as the REST routes take them (the seed's shape); and
    // `body`, the name GitHub's, GitLab's and Jira's comment APIs give it, which a model that
    // learnt those sends.
    #[serde(alias = "message", alias = "response", alias = "body")]
    pub text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AskArgs {
    /// The event whose source to ask on.
    #[serde(default)]
    pub event_id: Option<String>,
    /// Or the task that is asking; it waits for the reply.
    #[serde(default)]
    pub task_id: Option<String>,
    /// The question to post on the source.
    // `text` too, as comment and respond name theirs: a model that learnt those tries it; and
    // `body`, as GitHub's, GitLab's and Jira's comment APIs name it.
    #[serde(alias = "text", alias = "body")]
    pub question: String,
    /// Agent that takes the answer when no task_id is given (default "brain"); a task's own
    /// agent takes it otherwise, and another name is refused.
    #[serde(default)]
    pub agent: Option<String>,
    /// With task_id: the owner you claimed the task with (default "mcp", as claim_task's
    /// default). A task claimed by someone else is refused until their lease passes.
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessageArgs {
    /// The channel's incoming-webhook URL: an Open WebUI channel webhook
    /// ({base}/api/v1/channels/webhooks/{id}/{token}), a Slack, Discord or Teams incoming
    /// webhook, or a Telegram sendMessage URL.
    pub url: String,
    /// The text to post.
    // `content` too, the name Open WebUI's channel webhooks and Discord's give it.
    #[serde(alias = "content")]
    pub text: String,
    /// openwebui, slack, discord, teams or telegram; guessed from the URL when omitted.
    #[serde(default)]
    #[schemars(extend("enum" = ["openwebui", "slack", "discord", "teams", "telegram"]))]
    pub kind: Option<String>,
    /// Telegram only: the chat to post in, as text (e.g. "-1001234567890").
    #[serde(default, deserialize_with = "lenient::text_or_number")]
    pub chat_id: Option<String>,
    /// Telegram only: the forum topic to post in (its message_thread_id), in a group with
    /// topics; omitted: the General topic.
    #[serde(
        default,
        alias = "message_thread_id",
        deserialize_with = "lenient::text_or_number"
    )]
    pub thread_id: Option<String>,
    /// The event this message is about, so the event log shows it.
    #[serde(default)]
    pub event_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTasksArgs {
    /// queued, running, waiting_reply, done, failed or cancelled.
    #[serde(default)]
    #[schemars(extend("enum" = ["queued", "running", "waiting_reply", "done", "failed", "cancelled"]))]
    pub status: Option<String>,
    /// Only this agent's tasks, e.g. "planning".
    #[serde(default)]
    pub agent: Option<String>,
    /// Only tasks from this webhook's events.
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// Only this event's tasks (evt_...).
    #[serde(default)]
    pub event_id: Option<String>,
    /// Page size 1-200 (default 20).
    #[serde(default, deserialize_with = "lenient::page_size")]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
    /// next_cursor from the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskIdArgs {
    /// The task's id (task_...), as list_tasks or claim_task shows it.
    pub task_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetTaskArgs {
    /// The task's id (task_...), as list_tasks or claim_task shows it.
    pub task_id: String,
    /// The owner you claimed the task with (default "mcp"): only its claimer is shown the
    /// replies it has not seen, and they count as seen then.
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerTaskArgs {
    /// The waiting task's id (task_...), as list_tasks status=waiting_reply shows it.
    pub task_id: String,
    /// The answer to the task's question, as the person gave it.
    pub text: String,
    /// true to also post the answer on the task's thread, under a line naming who answered
    /// (default false: only the task reads it).
    #[serde(default)]
    pub post: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimTaskArgs {
    /// Take only this agent's tasks (e.g. "brain"); any queued task when omitted.
    #[serde(default)]
    pub agent: Option<String>,
    /// Who is claiming (your agent's name); only the claimer can complete the task.
    #[serde(default)]
    pub owner: Option<String>,
    /// Seconds the claim lasts (default 600). If you vanish, the task is free again after it.
    #[serde(default)]
    pub lease_secs: Option<i64>,
    /// Claim this task (task_...) rather than the oldest queued one; on a task you hold
    /// already, renews your claim for lease_secs more.
    #[serde(default)]
    pub task_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteTaskArgs {
    /// The task's id (task_...).
    pub task_id: String,
    /// The result: your answer or analysis (or, with failed, why it could not be done).
    pub result: String,
    /// true when the task could not be done.
    #[serde(default)]
    pub failed: Option<bool>,
    /// true to also post the result as a comment on the event's source, or in the channel
    /// its command's `target` names (posted once).
    #[serde(default)]
    pub post_result: Option<bool>,
    /// The owner you claimed with (default "mcp", as claim_task's default). A task claimed by
    /// someone else is refused until their lease passes.
    #[serde(default)]
    pub owner: Option<String>,
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;

    use super::*;
    use crate::engine::command::ActionKind;
    use crate::providers::Provider;
    use crate::service::{actions, events, tasks};

    /// The values a field's schema offers the model.
    fn offered<T: JsonSchema>(field: &str) -> Vec<String> {
        let schema = serde_json::to_value(schemars::schema_for!(T)).expect("schema");
        serde_json::from_value(schema["properties"][field]["enum"].clone())
            .unwrap_or_else(|e| panic!("no enum on {field}: {e}"))
    }

    fn names(values: impl IntoIterator<Item = &'static str>) -> Vec<String> {
        values.into_iter().map(str::to_owned).collect()
    }

    /// The lists are written out for schemars by hand: each must still be every value the
    /// code takes, so a model is never offered one that is refused or denied one that works.
    #[test]
    fn every_listed_choice_is_every_value_the_code_takes() {
        let providers = names(Provider::ALL.map(Provider::as_str));
        let kinds = names(ActionKind::ALL.map(ActionKind::as_str));
        let cases = [
            (offered::<ListWebhooksArgs>("provider"), providers.clone()),
            (offered::<ListEventsArgs>("provider"), providers.clone()),
            (offered::<AddCommandArgs>("action"), kinds.clone()),
            (offered::<UpdateCommandArgs>("action"), kinds),
            (offered::<ListEventsArgs>("status"), names(events::STATUSES)),
            (
                offered::<ListActionsArgs>("status"),
                names(actions::STATUSES),
            ),
            (offered::<ListTasksArgs>("status"), names(tasks::STATUSES)),
        ];
        for (offered, taken) in cases {
            assert_eq!(offered, taken);
        }
        // Creating also takes the names that stand for one (svix, openai).
        let created = offered::<CreateWebhookArgs>("provider");
        assert!(providers.iter().all(|p| created.contains(p)), "{created:?}");
        for name in &created {
            assert!(name.parse::<Provider>().is_ok(), "{name} is not taken");
        }
        for kind in offered::<PostMessageArgs>("kind") {
            assert!(
                kind.parse::<crate::actions::MessageKind>().is_ok(),
                "{kind} is not taken"
            );
        }
    }
}
