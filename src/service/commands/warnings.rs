//! The warnings a saved command is shown with: what a preview of its trigger and template
//! found, and what would go wrong when it fires (no thread to reply on, a forward to its own
//! receiver, an agent no one here runs).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{CommandOut, present};
use crate::app::AppState;
use crate::clock;
use crate::engine::command;
use crate::engine::conditions::Conditions;
use crate::engine::template;
use crate::engine::trigger::Trigger;
use crate::providers::{self, Provider, samples};
use crate::store::commands::CommandRow;
use crate::store::webhooks::WebhookRow;

/// A saved command as shown, with what a preview of its template found and whether anyone
/// here runs its agent.
pub(super) async fn presented_with_warnings(
    state: &AppState,
    hook: &WebhookRow,
    row: &CommandRow,
) -> CommandOut {
    let mut out = super::on_hook(hook, present(row));
    if row.schedule.is_some() && row.enabled && !hook.enabled {
        out.warnings.push(format!(
            "webhook `{}` is disabled, so this scheduled command does not fire until the \
             webhook is enabled again (ticks that fall while it is off are not made up)",
            hook.id
        ));
    }
    // A scheduled command fires on its clock: no event type of the provider is meant, and
    // it has no thread (its replies are refused when saved).
    let scheduled = row.schedule.is_some();
    let never_matches = trigger_warning(hook, row).filter(|_| !scheduled);
    // What would go wrong when it fires is beside the point then (and a thread warning about
    // a misspelt event would point at the wrong fix).
    let fires = never_matches.is_none() && !scheduled;
    out.warnings.extend(never_matches);
    // Rendered off the runtime's threads: a template that takes long to render (see
    // `template`'s limits) must not hold up the requests that share them.
    let (for_render, to_render) = (hook.clone(), row.clone());
    let rendered = tokio::task::spawn_blocking(move || {
        [
            template_warning(&for_render, &to_render),
            url_template_warning(&for_render, &to_render),
        ]
    });
    out.warnings
        .extend(rendered.await.ok().into_iter().flatten().flatten());
    out.warnings.extend(agent_warning(state, row));
    out.warnings.extend(sender_text_warning(row));
    if fires {
        out.warnings.extend(no_thread_warning(state, hook, row));
    }
    if scheduled {
        out.warnings.extend(scheduled_result_warning(state, row));
    }
    out.warnings.extend(run_thread_warning(hook, row));
    out.warnings.extend(slack_channel_warning(hook, row));
    out.warnings.extend(openwebui_message_warning(hook, row));
    out.warnings.extend(slack_subtype_warning(hook, row));
    out.warnings.extend(own_receiver_warning(state, hook, row));
    // A scheduled task has no source to comment on: what a token would be for is said above.
    if !scheduled {
        out.warnings
            .extend(crate::service::sending::command_token_warning(
                state, hook, row,
            ));
    }
    out.warnings
        .extend(second_respond_warning(state, hook, row).await);
    if command::posts_to_channel(&row.action)
        && let Some(target) = row
            .target
            .as_deref()
            .and_then(|t| serde_json::from_str::<command::Target>(t).ok())
        // Stored sealed when WEBHOOK_MCP_SECRET_KEY is set (a channel URL is a credential).
        && let Ok(url) = state.sealer.open(&target.url)
    {
        out.warnings
            .extend(crate::service::sending::unknown_channel_warning(
                state,
                "target.url",
                &url,
                target.kind.is_some(),
            ));
        let kind = target.kind.as_deref().and_then(|k| k.parse().ok());
        out.warnings
            .extend(crate::service::sending::teams_connector_warning(
                "target.url",
                &url,
                kind,
            ));
    }
    out
}

/// A custom sender reads one answer, in the HTTP response: the first `respond` an event fires
/// (by priority) gives it, and another has no thread to answer on, so it ends dead. Which
/// commands fire together depends on the events; that two may is worth saying.
async fn second_respond_warning(
    state: &AppState,
    hook: &WebhookRow,
    row: &CommandRow,
) -> Option<String> {
    if hook.provider != "custom" || row.action != "respond" || !row.enabled {
        return None;
    }
    let webhook_id = hook.id.clone();
    let others = state
        .store
        .read(move |db| crate::store::commands::list(db, &webhook_id))
        .await
        .ok()?;
    let other = others
        .iter()
        .find(|c| c.id != row.id && c.enabled && c.action == "respond")?;
    Some(format!(
        "command `{}` answers this webhook's deliveries too: a custom sender reads one answer, \
         in the HTTP response, given by the first `respond` an event fires (by priority); \
         another one it fires has no thread to answer on and ends dead. Give the two \
         triggers or conditions no event meets together, or make one a forward or post_message",
        other.id
    ))
}

/// A forward to this webhook's own receive URL comes back as a new event that forwards again:
/// it stops only at the hop limit (`actions::hops`), having run its commands each time. That
/// is, if the webhook takes it: a forward is signed the Standard Webhooks way, and a webhook
/// whose sender signs otherwise (a `github` one wants `X-Hub-Signature-256`) rejects it, so
/// each action ends dead instead. Which it is, the receiver's own verification says, run on
/// the request the forward connector builds.
fn own_receiver_warning(state: &AppState, hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    if row.action != "forward" {
        return None;
    }
    let target: Value = serde_json::from_str(row.target.as_deref()?).ok()?;
    let url = target.get("url")?.as_str()?;
    let own = crate::service::webhooks::receiver_url(state, &hook.provider, &hook.id);
    if !reaches_receiver(url, &state.public_base_url, hook) {
        return None;
    }
    // Stored sealed when WEBHOOK_MCP_SECRET_KEY is set (an update reads it so): opened, as
    // the worker signs with it. One that does not open is warned of as a loop, the worse case.
    let secret = target
        .get("secret")
        .and_then(Value::as_str)
        .map(|secret| state.sealer.open(secret));
    // Its own headers too (a custom webhook's token may be taken from one): opened likewise.
    let headers: Result<BTreeMap<String, String>, String> = target
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            let value = value.as_str().unwrap_or_default();
            Ok((name.clone(), state.sealer.open(value)?))
        })
        .collect();
    let rejected = match (secret, headers) {
        (Some(Err(_)), _) | (_, Err(_)) => None,
        (Some(Ok(secret)), Ok(headers)) => forward_rejected(hook, url, Some(&secret), &headers),
        (None, Ok(headers)) => forward_rejected(hook, url, None, &headers),
    };
    match rejected {
        Some(why) => Some(format!(
            "the target is this webhook's own receive URL ({own}), and {} `{}` webhook rejects \
             the forward ({why}): a forward is signed the Standard Webhooks way \
             (`webhook-signature`, with target.secret), which only a `standard-webhooks` \
             webhook verifies (an `openwebui` or token-mode `custom` one takes its token in the \
             URL's `?token=`), so each forward ends dead",
            crate::quote::a_or_an(&hook.provider),
            hook.provider
        )),
        None => Some(format!(
            "the target is this webhook's own receive URL ({own}): each forward comes back as a \
             new event that fires this command again; the loop stops only after {} forwards \
             (the {} header counts them), when the event is stored as `looped` and runs nothing",
            crate::actions::hops::MAX_HOPS,
            crate::actions::hops::HEADER
        )),
    }
}

/// Whether `url` reaches `hook`'s receiver on this server, whose URLs start with `base`
/// (`PUBLIC_URL`): the same origin (a host's trailing dot and case aside), then
/// `/webhooks/{provider}/{id}` as the router takes it (the provider by any of its names, in
/// any case; the id exactly; no trailing `/`, which the router does not take).
fn reaches_receiver(url: &str, base: &str, hook: &WebhookRow) -> bool {
    let place = |u: &str| {
        let u = reqwest::Url::parse(u).ok().filter(reqwest::Url::has_host)?;
        let host = u.host_str()?.trim_end_matches('.').to_ascii_lowercase();
        Some((
            u.scheme().to_owned(),
            host,
            u.port_or_known_default(),
            u.path().to_owned(),
        ))
    };
    let (Some((scheme, host, port, path)), Some((own_scheme, own_host, own_port, own_path))) =
        (place(url), place(base))
    else {
        return false;
    };
    let Some(rest) = path.strip_prefix(own_path.trim_end_matches('/')) else {
        return false;
    };
    let mut segments = rest.split('/');
    let (Some(""), Some("webhooks"), Some(provider), Some(id), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };
    // The router hands the handler its segments percent-decoded (`sw%32` is webhook `sw2`).
    let decoded = |segment: &str| {
        percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map(|s| s.into_owned())
            .ok()
    };
    let (Some(provider), Some(id)) = (decoded(provider), decoded(id)) else {
        return false;
    };
    (scheme, host, port) == (own_scheme, own_host, own_port)
        && provider.parse::<Provider>().ok() == hook.provider.parse::<Provider>().ok()
        && id == hook.id
}

/// Why `hook` would reject a forward to `url` signed with `secret`: its own verification, as
/// the receiver runs it, on a forward as the connector builds it. `None` when it takes it.
fn forward_rejected(
    hook: &WebhookRow,
    url: &str,
    secret: Option<&str>,
    headers: &BTreeMap<String, String>,
) -> Option<String> {
    let provider: Provider = hook.provider.parse().ok()?;
    let options: providers::ProviderOptions =
        serde_json::from_str(&hook.options).unwrap_or_default();
    let now_ms = clock::now_ms();
    let message = crate::actions::ForwardMessage {
        url,
        secret,
        event_type: "test",
        message_id: "msg_check",
        body: "{}",
        hops: 1,
        headers,
    };
    let (body, headers) = crate::actions::forward_request(&message, now_ms.div_euclid(1000));
    let parsed = reqwest::Url::parse(url).ok()?;
    let request = providers::Request {
        headers: &headers,
        body: body.as_bytes(),
        query: parsed.query(),
        now_ms,
    };
    let secrets = crate::service::ingest::secrets(hook, now_ms);
    providers::verify(provider, secrets, &options, &request)
        .err()
        .map(|e| e.to_string())
}

/// A reply on the source from a provider whose events have no thread to reply on (a Stripe
/// payment, a Sentry alert) fails for every event.
fn no_thread_warning(state: &AppState, hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    let provider: Provider = hook.provider.parse().ok()?;
    if crate::providers::replies_possible(provider, &row.trigger) {
        return None;
    }
    // What has no thread: all of a provider's events, or these GitHub or GitLab ones.
    let provider = match provider {
        Provider::GitHub => format!("GitHub `{}`", row.trigger.trim()),
        Provider::GitLab => format!("GitLab `{}`", row.trigger.trim()),
        Provider::Slack => format!("Slack `{}`", row.trigger.trim()),
        Provider::Linear => format!("Linear `{}`", row.trigger.trim()),
        Provider::Jira => format!("Jira `{}`", row.trigger.trim()),
        other => format!("`{}`", other.as_str()),
    };
    // A custom sender reads its answer in the HTTP response: `respond` has somewhere to go.
    let answered_inline = hook.provider == "custom";
    match row.action.as_str() {
        "comment" | "ask" => Some(format!(
            "{provider} events have no thread to reply on, so this {} fails for every event; \
             use post_message (to a channel) or forward instead",
            row.action
        )),
        "respond" if !answered_inline => Some(format!(
            "{provider} events have no thread to reply on, and their sender reads no answer \
             in the HTTP response, so this respond fails for every event; use post_message \
             (to a channel) or forward instead"
        )),
        // A target of its own is where its result goes.
        "create_task" if row.target.is_none() => {
            let agent = row.agent.as_deref()?;
            let spec = state.agents.iter().find(|a| a.name == agent)?;
            (spec.result == crate::agents::ResultAction::Comment).then(|| {
                format!(
                    "agent `{agent}` posts its result as a comment, and {provider} events have \
                     no thread to take one: the result is kept on the task only (give this \
                     command a `target` channel to have it posted there)"
                )
            })
        }
        _ => None,
    }
}

/// A scheduled create_task has no event source for its agent's result comment: said when the
/// agent is declared to answer so (the built-in `planning` and `brain` are).
fn scheduled_result_warning(state: &AppState, row: &CommandRow) -> Option<String> {
    let agent = row
        .agent
        .as_deref()
        .filter(|_| row.action == "create_task" && row.target.is_none())?;
    let spec = state.agents.iter().find(|a| a.name == agent)?;
    (spec.result == crate::agents::ResultAction::Comment).then(|| {
        format!(
            "agent `{agent}` posts its result as a comment, and a scheduled task has no event \
             source to take one: the result is kept on the task only (give this command a \
             `target` channel to have it posted there)"
        )
    })
}

/// A reply on a GitHub run event lands on the run's pull request, and a run without one (a
/// push to a branch, a fork's pull request) has nowhere to take it. Nothing to say when the
/// command's conditions already skip those runs.
fn run_thread_warning(hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    let provider: Provider = hook.provider.parse().ok()?;
    let event = crate::providers::run_event(provider, row.trigger.trim())?;
    let action = &row.action;
    if !matches!(action.as_str(), "comment" | "ask" | "respond") {
        return None;
    }
    let field = match provider {
        Provider::GitLab => "merge_request.iid".to_string(),
        _ => format!("{event}.pull_requests.0"),
    };
    let conditions = serde_json::from_str(&row.conditions).unwrap_or(Value::Null);
    if Conditions::compile(&conditions).is_ok_and(|c| c.require(&field)) {
        return None;
    }
    Some(match provider {
        Provider::GitLab => format!(
            "a GitLab `pipeline` has a thread only when it ran for a merge request into this \
             project: the {action} goes on that merge request as a note, and fails for a \
             branch's or tag's pipeline; add the condition \
             {{\"field\": \"{field}\", \"exists\": true}} to skip those"
        ),
        _ => format!(
            "a GitHub `{event}` has a thread only when the run was for a pull request of this \
             repository: the {action} goes on that pull request, and fails for a run on a \
             branch push, for a fork's pull request (GitHub names none) and for a run in a fork \
             for its pull request upstream; add the condition \
             {{\"field\": \"{field}\", \"exists\": true}} to skip the first two"
        ),
    })
}

/// A `message` trigger sees new messages only: an edit, deletion or join is an event named by
/// its subtype, so a condition on `event.subtype` under it looks for what never comes there.
fn slack_subtype_warning(hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    let new_posts = row.trigger == "message" || row.trigger.starts_with("message.");
    (hook.provider == "slack" && new_posts && row.conditions.contains("subtype")).then(|| {
        "a `message` trigger hears new messages only; edits, deletions and joins are events of \
         their own, named by their subtype (`message_changed`, `message_deleted`, \
         `message_channel_join`): trigger on that name instead of a condition on \
         `event.subtype`"
            .to_string()
    })
}

/// Slack's Events API gives a channel's id (`C0123ABCD`), never its name: a `#name` condition
/// only ever matches slash commands, which carry `channel_name`, and interactions (buttons,
/// message actions), which carry `channel.name`.
fn slack_channel_warning(hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    if hook.provider != "slack"
        || row.trigger.starts_with('/')
        || crate::providers::slack::INTERACTIONS_IN_A_CHANNEL.contains(&row.trigger.as_str())
    {
        return None;
    }
    let conditions: Value = serde_json::from_str(&row.conditions).ok()?;
    // A name with its id beside it (looked up when saved) matches Slack's events.
    let named = crate::service::slack_channels::name_without_id(&conditions)?;
    Some(format!(
        "Slack's events name a channel by its id (C0123ABCD), not `{named}`: this condition \
         matches only slash commands and interactions in a channel (buttons, message \
         actions); use the channel's id (in Slack: channel details, at the bottom)"
    ))
}

/// Open WebUI sends `message.created` for every chat prompt and answer and every direct
/// message, not only for channel posts: a command on it without a channel to keep to would
/// echo private chats into a channel, and one keeping to a channel by name keeps to none (the
/// event names it by id).
fn openwebui_message_warning(hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    let fires_on_messages = crate::engine::trigger::Trigger::parse(&row.trigger)
        .is_ok_and(|t| t.matches("message.created"));
    if hook.provider != "openwebui" || !fires_on_messages {
        return None;
    }
    let conditions: Value = serde_json::from_str(&row.conditions).unwrap_or(Value::Null);
    // Meant for chats, or for what a chat's messages carry: said knowingly.
    let text = conditions.to_string();
    if text.contains("chat_id") || text.contains("data.role") || text.contains("/data/role") {
        return None;
    }
    let channels = required_channels(&conditions);
    let looks_like_id = |c: &String| uuid::Uuid::parse_str(c.trim_start_matches('#')).is_ok();
    if channels.is_empty() {
        return Some(
            "Open WebUI sends `message.created` for every message in a chat (the user's prompt \
             and the model's answer, with `data.chat_id`) and every direct message, not only for \
             channel posts: add `{\"channel\": \"<channel id>\"}` to the conditions to keep this \
             command to one channel (its id is in the channel's URL, /channels/<id>)"
                .into(),
        );
    }
    let named = channels.iter().find(|c| !looks_like_id(c))?;
    Some(format!(
        "Open WebUI's `message.created` names its channel by id, not `{}`: this condition \
         matches no channel post; use the channel's id (in its URL, /channels/<id>)",
        crate::quote::quoted(named)
    ))
}

/// The channels every event passing `conditions` is in: a `channel` test at the top or in an
/// `all` (however deep), or in every branch of an `any`; never one under `not`.
fn required_channels(conditions: &Value) -> Vec<String> {
    let Some(map) = conditions.as_object() else {
        return Vec::new();
    };
    let mut found = map.get("channel").map(channel_names).unwrap_or_default();
    for item in map
        .get("all")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        found.extend(required_channels(item));
    }
    if let Some(branches) = map.get("any").and_then(Value::as_array) {
        let each: Vec<Vec<String>> = branches.iter().map(required_channels).collect();
        if !each.is_empty() && each.iter().all(|b| !b.is_empty()) {
            found.extend(each.into_iter().flatten());
        }
    }
    found
}

/// The names a `channel` condition gives: one, or a list of them.
fn channel_names(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// A trigger no event of the webhook's provider can match (GitLab's `issues.opened` is
/// `issue.open`, Jira's `issue_created` is `jira:issue_created`), or, on a custom webhook, one
/// that lists types joined by commas. Not refused: the lists are
/// the providers' documented names, and a new name may come before this server knows it.
fn trigger_warning(hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    // Another provider's is refused when saved (see `check_commas`); a custom sender's types
    // are its own, so a comma there is only most likely a list.
    if hook.provider == "custom" && row.trigger.contains(',') {
        return Some(super::checks::comma_list_message(
            "custom",
            row.trigger.trim(),
        ));
    }
    let provider: Provider = hook.provider.parse().ok()?;
    crate::providers::event_names::unknown_trigger(provider, &row.trigger)
}

/// A task's prompt that prints what a sender words puts it among the agent's instructions:
/// a `create_task`'s template, or an `ask`'s, whose question is the prompt of the task that
/// waits for its answer.
fn sender_text_warning(row: &CommandRow) -> Option<String> {
    let into = match row.action.as_str() {
        "create_task" => "the task's instructions",
        "ask" => {
            "the question, which is also the instructions of the task that waits for its answer"
        }
        _ => return None,
    };
    let printed = crate::engine::sender_text::printed_sender_text(row.template.as_deref()?);
    if printed.is_empty() {
        return None;
    }
    let printed: Vec<String> = printed.iter().map(|p| format!("`{{{{ {p} }}}}`")).collect();
    let (them, prints) = if printed.len() == 1 {
        (printed[0].clone(), "prints")
    } else {
        (printed.join(", "), "print")
    };
    Some(format!(
        "template: {them} {prints} what the sender wrote into {into}, where the model takes it \
         as yours: whoever writes it can steer the agent (\"ignore the above and ...\"). The \
         agent reads the whole event as data anyway (marked untrusted): print only what a \
         sender cannot word (a number, the event type)"
    ))
}

/// An agent the built-in runner does not run (a typo, often) gets tasks nobody here takes.
/// Not refused: an external agent may claim tasks by that name. Without a runner every task
/// is for external agents, so there is nothing to say.
fn agent_warning(state: &AppState, row: &CommandRow) -> Option<String> {
    // An `ask` without an agent hands its reply to `brain` when it fires, so an agent list
    // without `brain` strands it just as a misspelt name would.
    let (agent, implied) = match row.agent.as_deref() {
        Some(agent) => (agent, ""),
        None if row.action == "ask" => (
            crate::agents::ASK_AGENT,
            "an `ask` without `agent` is for agent `brain`, and ",
        ),
        None => return None,
    };
    let declared = crate::agents::run_here(state);
    if declared.is_empty() || declared.contains(&agent) {
        return None;
    }
    Some(format!(
        "{implied}the built-in runner does not run agent `{agent}` (it runs {}): its tasks \
         wait for an external agent to claim them by that name (claim_task)",
        declared
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Renders the command's template over the provider's built-in sample of each event type
/// its trigger matches. Templates render with strict undefined, so a misspelt variable would
/// otherwise surface only as a failed action on the first real event. A warning, and only
/// when no sample renders: a real delivery may carry fields the samples lack.
fn template_warning(hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    let source = row.template.as_deref()?;
    let forward = row.action.trim() == "forward";
    sample_warning(hook, row, source, "the template", |source, context| {
        // Text a reader still takes when cut is sent cut (saying so), as a delivery does; a
        // forward's body is not cut, so one too long is an error there as here.
        if forward {
            template::render(source, context).map(drop)
        } else {
            template::render_cut(source, context, template::Escape::Plain).map(drop)
        }
    })
}

/// A forward's templated URL that renders with none of the samples its trigger matches.
fn url_template_warning(hook: &WebhookRow, row: &CommandRow) -> Option<String> {
    let url = row
        .target
        .as_deref()
        .and_then(|t| serde_json::from_str::<command::Target>(t).ok())
        .map(|t| t.url)
        .filter(|url| {
            row.action.trim() == "forward" && crate::engine::url_template::is_template(url)
        })?;
    sample_warning(
        hook,
        row,
        &url,
        "the target URL's template",
        |source, context| crate::engine::url_template::render(source, context).map(drop),
    )
}

/// `what` (`source`) rendered by `render` over each sample of the provider that the
/// command's trigger matches: a warning when it renders with none of them.
fn sample_warning(
    hook: &WebhookRow,
    row: &CommandRow,
    source: &str,
    what: &str,
    render: impl Fn(&str, &minijinja::Value) -> Result<(), String>,
) -> Option<String> {
    let provider: Provider = hook.provider.parse().ok()?;
    let trigger = Trigger::parse(&row.trigger).ok()?;
    let now = clock::now_ms();
    let options: providers::ProviderOptions =
        serde_json::from_str(&hook.options).unwrap_or_default();
    let mut first_failure = None;
    for event_type in samples::builtin_event_types(provider)
        .iter()
        .filter(|t| trigger.matches(t))
    {
        let Ok(sample) = samples::sample(provider, Some(event_type), None, now) else {
            continue;
        };
        let Ok(payload) = providers::parse_payload(provider, &sample.body) else {
            continue;
        };
        // The sample's own thread, as a delivery of it would have (`{{ delivery.source.key }}`).
        let headers: axum::http::HeaderMap = sample
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.parse().ok()?, v.parse().ok()?)))
            .collect();
        let thread = providers::describe(provider, &options, &headers, &payload).source;
        let context = crate::service::planning::template_context(
            hook,
            &Arc::new(payload),
            json!({"id": "evt_preview", "type": event_type, "provider": hook.provider,
                "received_at": clock::rfc3339(now), "source": thread}),
        );
        match render(source, &context) {
            Ok(()) => return None,
            Err(error) => {
                first_failure.get_or_insert((*event_type, error));
            }
        }
    }
    let (event_type, error) = first_failure?;
    // Only a missing value may be the samples' fault: a loop too long, an operation on
    // values of the wrong kind, fail a real delivery's render alike.
    let caveat = if error.contains("undefined value") {
        "A real delivery may have fields the samples lack, but check the names"
    } else {
        "This is no missing field: a real delivery's render fails alike unless its values \
         differ in kind from the samples', so check the template"
    };
    let stop = crate::quote::full_stop(&error);
    Some(format!(
        "{what} does not render with the sample `{event_type}` payload (nor any other sample \
         its trigger matches): {error}{stop} {caveat} (test_webhook shows what each command \
         would send)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forward_reaches_its_own_receiver_by_any_spelling_the_router_takes() {
        let hook = WebhookRow {
            id: "sw".into(),
            name: "Self".into(),
            provider: "standard-webhooks".into(),
            secret: String::new(),
            previous_secret: None,
            previous_expires_at: None,
            enabled: true,
            options: "{}".into(),
            created_by: None,
            created_at: 0,
            updated_at: 0,
            secret_placeholder: false,
        };
        let base = "https://hooks.example.com/in";
        let cases = [
            (
                "https://hooks.example.com/in/webhooks/standard-webhooks/sw",
                true,
            ),
            ("https://HOOKS.example.com./in/webhooks/svix/sw?x=1", true),
            (
                "https://hooks.example.com:443/in/webhooks/Standard-Webhooks/sw",
                true,
            ),
            // Another webhook, provider, origin or base path; the id in another case.
            (
                "https://hooks.example.com/in/webhooks/standard-webhooks/sw2",
                false,
            ),
            (
                "https://hooks.example.com/in/webhooks/standard-webhooks/SW",
                false,
            ),
            ("https://hooks.example.com/in/webhooks/github/sw", false),
            (
                "http://hooks.example.com/in/webhooks/standard-webhooks/sw",
                false,
            ),
            (
                "https://hooks.example.com:8443/in/webhooks/standard-webhooks/sw",
                false,
            ),
            (
                "https://other.example.com/in/webhooks/standard-webhooks/sw",
                false,
            ),
            (
                "https://hooks.example.com/webhooks/standard-webhooks/sw",
                false,
            ),
            (
                "https://hooks.example.com/in/webhooks/standard-webhooks/sw/x",
                false,
            ),
            // Segments percent-encoded, as the router decodes them.
            (
                "https://hooks.example.com/in/webhooks/standard%2Dwebhooks/%73w",
                true,
            ),
            (
                "https://hooks.example.com/in/webhooks/standard-webhooks/s%77%32",
                false,
            ),
            // The router takes no trailing `/`: such a forward ends dead, it does not loop.
            (
                "https://hooks.example.com/in/webhooks/standard-webhooks/sw/",
                false,
            ),
            ("not a url", false),
        ];
        for (url, reaches) in cases {
            assert_eq!(reaches_receiver(url, base, &hook), reaches, "{url}");
        }
    }
}
