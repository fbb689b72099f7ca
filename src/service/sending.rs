//! The checks before queuing that hang on the sending process's settings: its tokens and its
//! `ALLOWED_TARGET_HOSTS`. A process that sends (its worker on) refuses there and then what it
//! could only dead-letter later. One that does not (a `stdio` front end, `--worker false`)
//! would be judging by settings that are not the sender's (an MCP client often starts stdio
//! without `serve`'s tokens), so it refuses only what no sender's settings could send, queues
//! the rest, and tells the caller what it left to the sender, which checks again as it sends.

use crate::actions::{Credentials, Delivery, GitlabNoun, ssrf};
use crate::app::AppState;
use crate::clock;
use crate::config::Upstreams;
use crate::providers::{Provider, ReplyCredentials};
use crate::store::commands::CommandRow;
use crate::store::webhooks::WebhookRow;

/// Whether this process sends what it queues: its outbox worker runs.
pub(super) fn sends(state: &AppState) -> bool {
    state.config.worker
}

/// The refusal for a token `delivery` lacks. `Ok(None)`: nothing lacks. `Ok(Some(why))`: this
/// process lacks it, but another one sends, so it was queued anyway; `why` is for the warning.
/// `Err(why)`: refused, here and by any sender (or this process sends and lacks it).
pub(super) fn missing_credentials(
    state: &AppState,
    own: ReplyCredentials,
    delivery: &Delivery,
) -> Result<Option<String>, String> {
    let here = crate::worker::merge(&state.config.upstreams, own.clone());
    let Some(missing) = crate::actions::missing_credentials(&here, delivery) else {
        return Ok(None);
    };
    if sends(state) {
        return Err(missing.message);
    }
    match crate::actions::missing_credentials(&best_provided(state, own, delivery), delivery) {
        Some(anywhere) => Err(anywhere.message),
        None => Ok(Some(missing.message)),
    }
}

/// The credentials a sender with every server-wide setting would use: each token set, a Jira
/// site (the one a Jira event came from, where it names it), and for a GitHub Enterprise event
/// a GitHub API on that server. What these still cannot send is the webhook's own doing (its
/// own API named without its own token), which no sender's settings mend.
fn best_provided(state: &AppState, own: ReplyCredentials, delivery: &Delivery) -> Credentials {
    let set = || Some("(the sending process's)".to_string());
    let mut best: Upstreams = state.config.upstreams.clone();
    best.github_token = set();
    best.gitlab_token = set();
    best.jira_base_url = best
        .jira_base_url
        .or_else(|| Some("https://jira.invalid".into()));
    best.jira_email = set();
    best.jira_api_token = set();
    best.slack_bot_token = set();
    best.linear_api_key = set();
    best.telegram_bot_token = set();
    if let Delivery::GithubComment {
        enterprise_host: Some(host),
        ..
    } = delivery
    {
        best.github_api_url = format!("https://{host}/api/v3");
    }
    if let Delivery::JiraComment {
        site: Some(site), ..
    } = delivery
    {
        best.jira_base_url = Some(site.clone());
    }
    crate::worker::merge(&best, own)
}

/// The refusal of a target URL given now (`field` names it). `Ok(Some(why))`: this process's
/// `ALLOWED_TARGET_HOSTS` refuses it, but another process sends, against its own list.
pub(super) fn target_refusal(state: &AppState, url: &str) -> Result<Option<String>, String> {
    let Some(refused) = ssrf::refusal_at_save(url, &state.config.allowed_target_hosts) else {
        return Ok(None);
    };
    if sends(state) {
        return Err(refused);
    }
    match ssrf::refusal_whatever_allowed(url) {
        Some(anywhere) => Err(anywhere),
        None => Ok(Some(refused)),
    }
}

/// The refusal the sender's resolver would give a target's host name as DNS answers now (a
/// name that resolves only to private addresses, which ALLOWED_TARGET_HOSTS does not open),
/// by this process's list. A literal address is `target_refusal`'s.
pub(super) async fn address_refusal(
    state: &AppState,
    url: &str,
    deadline: tokio::time::Instant,
) -> Option<String> {
    ssrf::refusal_by_address(url, &state.config.allowed_target_hosts, deadline).await
}

/// The warning for a target URL saved now (`field`) whose host name resolves to a private
/// address: kept, not refused, since DNS may answer otherwise where and when it is sent (the
/// sender resolves it again then), but as things stand each action it makes ends dead.
pub(super) async fn address_warning(
    state: &AppState,
    field: &str,
    url: &str,
    deadline: tokio::time::Instant,
) -> Option<String> {
    let why = address_refusal(state, url, deadline).await?;
    if !sends(state) {
        return Some(saved_target_warning(field, &why));
    }
    Some(format!(
        "`{field}` was saved, but as DNS answers now the sender refuses it and each action it \
         makes ends dead ({why}); it is not refused here only because DNS may answer otherwise \
         when it sends"
    ))
}

/// The same for a message queued now, refused by [`address_refusal`] for `why`: it is refused
/// when sent, unless DNS answers otherwise by then.
pub(super) fn queued_address_warning(state: &AppState, why: &str, action_id: &str) -> String {
    if !sends(state) {
        return action_warning(why, action_id);
    }
    format!(
        "queued, but as DNS answers now the sender refuses it and it ends dead ({why}); it was \
         not refused here only because DNS may answer otherwise when it sends: follow it with \
         get_action `{action_id}` (GET /api/actions/{action_id})"
    )
}

/// Why this process would refuse `delivery`, planned for an event of a webhook whose own
/// credentials are `own`, when it sends it: its target is one ALLOWED_TARGET_HOSTS refuses
/// (by address, or by a name that resolves to a private address as DNS answers now), or a
/// token it needs is not set. The same checks, in the same words, as the sender's; only
/// certain refusals (a process that does not send judges by what no sender could send).
/// `None` when it would go out, as far as can be known before trying.
pub(super) async fn refusal_when_sent(
    state: &AppState,
    own: ReplyCredentials,
    delivery: &Delivery,
    deadline: tokio::time::Instant,
) -> Option<String> {
    let url = match delivery {
        Delivery::Forward { url, .. } => Some(url),
        // An empty Telegram URL is the bot's, built from its token when sent.
        Delivery::ChannelMessage { url, .. } if !url.is_empty() => Some(url),
        _ => None,
    };
    if let Some(url) = url {
        if let Err(refused) = target_refusal(state, url) {
            return Some(refused);
        }
        // Another process's list may open the name: only the sender's own check counts.
        if sends(state)
            && let Some(refused) = address_refusal(state, url, deadline).await
        {
            return Some(refused);
        }
    }
    missing_credentials(state, own, delivery).err()
}

/// A command that replies on its events' source where this process, which sends, has no token
/// to (GITHUB_TOKEN unset and none in the webhook's options, say): saved, it would fail every
/// event it matches, each dead saying so where nobody looks. A hand-made reply is refused for
/// this before it is queued; a command is only warned about, since the token can come later
/// (a restart with it set, an `update_webhook`) and the command is right as it stands. A task
/// for an agent whose result is posted as a comment counts as a comment.
pub(super) fn command_token_warning(
    state: &AppState,
    hook: &WebhookRow,
    row: &CommandRow,
) -> Option<String> {
    let action = match row.action.as_str() {
        // One with a target posts its result to that channel, not as a comment.
        "create_task" if row.target.is_none() && posts_a_comment(state, row.agent.as_deref()?) => {
            "result comment"
        }
        "comment" | "ask" | "respond" => row.action.as_str(),
        _ => return None,
    };
    if !sends(state) {
        return None;
    }
    // A reply of this provider as the worker would send it: only what it needs matters here.
    let delivery = match hook.provider.parse().ok()? {
        Provider::GitHub => Delivery::GithubComment {
            repo: String::new(),
            number: 0,
            body: String::new(),
            in_reply_to: None,
            enterprise_host: None,
        },
        Provider::GitLab => Delivery::GitlabNote {
            project: String::new(),
            noun: GitlabNoun::Issues,
            iid: 0,
            body: String::new(),
            internal: false,
            discussion: None,
            site: None,
        },
        Provider::Jira => Delivery::JiraComment {
            key: String::new(),
            body: String::new(),
            visibility: None,
            internal: false,
            site: None,
        },
        Provider::Linear => Delivery::LinearComment {
            issue_id: String::new(),
            body: String::new(),
            parent_id: None,
        },
        // A thread reply is posted with the bot token; a `respond` to a slash command or a
        // button goes in the HTTP answer or to its `response_url`, which need none (to a
        // message it is a thread reply too).
        Provider::Slack if action != "respond" || !answered_without_token(&row.trigger) => {
            Delivery::SlackMessage {
                channel: String::new(),
                thread_ts: None,
                text: String::new(),
            }
        }
        // The others have no thread, or read the answer in the HTTP response.
        _ => return None,
    };
    let own =
        crate::worker::own_credentials_of(state, &hook.id, Some(hook.clone()), clock::now_ms())
            .ok()?;
    let missing = missing_credentials(state, own, &delivery).err()?;
    Some(format!(
        "this command was saved, but every {action} it makes fails until the token is set: \
         {missing}"
    ))
}

/// Whether a Slack trigger names only slash commands or interactions, whose `respond` goes in
/// the HTTP answer or to the payload's `response_url`.
fn answered_without_token(trigger: &str) -> bool {
    let trigger = trigger.trim();
    trigger.starts_with('/') || crate::providers::slack::INTERACTIONS.contains(&trigger)
}

/// Whether the built-in runner posts `agent`'s result as a comment on the event's source.
fn posts_a_comment(state: &AppState, agent: &str) -> bool {
    state
        .agents
        .iter()
        .find(|a| a.name == agent)
        .is_some_and(|spec| spec.result == crate::agents::ResultAction::Comment)
}

/// What the caller is told of a queued action this process would have refused had it sent it.
pub(super) fn action_warning(why: &str, action_id: &str) -> String {
    queued_warning(
        why,
        &format!("get_action `{action_id}` (GET /api/actions/{action_id})"),
    )
}

/// The same for a task's result queued as a comment, which shows among its event's actions.
pub(super) fn result_warning(why: &str, event_id: &str) -> String {
    queued_warning(
        why,
        &format!("get_event `{event_id}` (GET /api/events/{event_id}), under its actions"),
    )
}

fn queued_warning(why: &str, follow: &str) -> String {
    format!(
        "this process sends no actions (a `stdio` front end, or --worker false), so it did not \
         hold this to its own settings, by which it would have been refused ({why}); the \
         process that sends it (`serve`) checks its own tokens and ALLOWED_TARGET_HOSTS when it \
         sends, and an action it cannot send ends dead saying why: follow it with {follow}"
    )
}

/// A channel URL given without `kind` that nothing names (see
/// [`crate::actions::is_unknown_channel`]): it is posted Open WebUI's body, which another
/// chat's webhook would refuse.
pub(super) fn unknown_channel_warning(
    state: &AppState,
    field: &str,
    url: &str,
    kind_given: bool,
) -> Option<String> {
    (!kind_given
        && crate::actions::is_unknown_channel(url, &state.config.upstreams.telegram_api_url))
    .then(|| {
        format!(
            "`{field}` is none of the channel webhooks known by their address (Slack, Discord, \
             Teams, Telegram, Open WebUI's `/api/v1/channels/webhooks/…`), so it is posted as \
             an Open WebUI channel (`{{\"content\": …}}`); if it is another kind, give `kind` \
             (slack, discord, teams, telegram, openwebui); other chats are reached with a \
             forward"
        )
    })
}

/// A Teams channel URL of an Office 365 connector (`*.webhook.office.com`), which Microsoft
/// has retired: posted to as before (a MessageCard), but a connector that has stopped takes no
/// more messages, so the caller is pointed at Workflows. `kind` as given, if it was.
pub(super) fn teams_connector_warning(
    field: &str,
    url: &str,
    kind: Option<crate::actions::MessageKind>,
) -> Option<String> {
    (kind.is_none_or(|k| k == crate::actions::MessageKind::Teams)
        && crate::actions::is_retired_teams_connector(url))
    .then(|| {
        format!(
            "`{field}` is a Teams Office 365 connector's incoming webhook: Microsoft has retired \
             those connectors, so this one may take no more messages (each post then ends \
             dead); set up a Workflows webhook for the channel instead (the Teams Workflows \
             template \"Post to a channel when a webhook request is received\") and give its \
             URL, which is posted an Adaptive Card"
        )
    })
}

/// The same for a URL saved in a command or a webhook's options, whose actions come later.
pub(super) fn saved_target_warning(field: &str, why: &str) -> String {
    format!(
        "`{field}` was saved although this process's ALLOWED_TARGET_HOSTS refuses it ({why}): \
         this process sends no actions (a `stdio` front end, or --worker false), and the \
         process that sends them (`serve`) checks its own ALLOWED_TARGET_HOSTS when it sends; \
         an action it refuses ends dead saying why, shown in the event's actions (get_event, \
         get_action)"
    )
}
