//! Actions: the outbound end of the flow. The engine plans a `Delivery` per action and the
//! store keeps it in the outbox in the event's transaction; the outbox worker calls
//! `execute`, which sends it through one connector (GitHub, GitLab, Jira, Slack, Linear, a
//! chat channel or a forward target) and answers `Sent` or an `ActionError` that says
//! whether a retry can help. Scheduling, attempts and dead letters are the worker's.
//!
//! Targets a user gave (per-webhook URLs, forward and channel URLs, Slack `response_url`s)
//! go through the SSRF guard in `ssrf`; operator endpoints from the environment do not.

pub mod broadcasts;
mod channels;
mod client;
mod describe;
pub mod endpoints_check;
mod forward;
mod github;
mod gitlab;
pub mod hops;
mod jira;
mod linear;
mod mentions;
mod moved;
mod scrub;
mod slack;
pub mod slack_markup;
pub mod ssrf;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use channels::{
    DISCORD_LIMIT, MessageKind, OPENWEBUI_CHANNEL_PATH, SLACK_LIMIT, TELEGRAM_LIMIT, guess_kind,
    guess_kind_on, is_retired_teams_connector, is_send_message_url, is_unknown_channel,
    made_whole_warning, openwebui_path_made_whole, takes_chat_id,
};
pub use client::Clients;
pub(crate) use client::{retry_after, retry_after_named};
pub(crate) use describe::{
    encode_segment, host_of, mask_forward_url, mask_url_credentials, masked_url_refusal,
    redact_any_secret_path, redact_secret_path, redact_url, restore_url, segment, shown_target,
    url_is_credential,
};
pub use forward::{
    EVENT_HEADER, Message as ForwardMessage, NOT_A_STANDARD_SECRET, event_type_of_header,
    request as forward_request, sign_standard, standard_key,
};
pub(crate) use scrub::{SentSecrets, UrlPath};

pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
pub const DEFAULT_GITLAB_URL: &str = "https://gitlab.com";
pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";
pub const DEFAULT_LINEAR_API_URL: &str = "https://api.linear.app/graphql";
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";

/// One outbound request, fully resolved, stored as JSON in the outbox.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Delivery {
    GithubComment {
        /// `owner/name`.
        repo: String,
        number: u64,
        body: String,
        /// A pull request review comment answered in its own thread (the thread's first
        /// comment's id), beside the line it is about, not in the conversation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_reply_to: Option<u64>,
        /// The GitHub Enterprise Server the event came from (`X-GitHub-Enterprise-Host`): the
        /// comment goes to that server's API or nowhere, never to github.com's repository of
        /// the same name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        enterprise_host: Option<String>,
    },
    GitlabNote {
        /// `path_with_namespace`, e.g. `group/sub/project`.
        project: String,
        noun: GitlabNoun,
        iid: u64,
        body: String,
        /// An internal note, seen by members only (a reply to one).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        internal: bool,
        /// The thread (`discussion_id`) the note answers in, beside the line of a diff it is
        /// about; none for a note of its own on the issue or merge request (rows queued
        /// before threads were answered have none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        discussion: Option<String>,
        /// The GitLab instance the event came from (`providers::site_of` its project's
        /// `web_url`): the note goes to that instance or nowhere, never to another one's
        /// project of the same path.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        site: Option<String>,
    },
    /// A note on a commit: in the thread it answers, or one of its own.
    GitlabCommitNote {
        /// `path_with_namespace`, e.g. `group/sub/project`.
        project: String,
        sha: String,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        discussion: Option<String>,
        /// As a [`Delivery::GitlabNote`]'s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        site: Option<String>,
    },
    JiraComment {
        key: String,
        body: String,
        /// Who may see it (`{"type": "role" | "group", "value"}`), as the comment answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visibility: Option<serde_json::Value>,
        /// A Jira Service Management internal comment, hidden from customers.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        internal: bool,
        /// The Jira site the event came from (`providers::site_of` its issue's `self`): the
        /// comment goes to that site or nowhere, never to another site's issue of the same key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        site: Option<String>,
    },
    SlackMessage {
        channel: String,
        thread_ts: Option<String>,
        text: String,
    },
    SlackResponse {
        response_url: String,
        text: String,
        replace_original: bool,
    },
    LinearComment {
        issue_id: String,
        body: String,
        /// The comment thread it answers in (its first comment's id), when the event came
        /// from a comment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent_id: Option<String>,
    },
    ChannelMessage {
        /// The channel's incoming-webhook URL. For Telegram see `channels`: empty (the bot
        /// token comes from the credentials) or a full `.../bot<token>/sendMessage` URL.
        url: String,
        /// Stored as `message_kind`: `kind` is the enum's tag and serde refuses a field that
        /// shares the tag's name.
        #[serde(rename = "message_kind")]
        kind: MessageKind,
        text: String,
        #[serde(default)]
        chat_id: Option<String>,
        /// Telegram: the forum topic (`message_thread_id`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_id: Option<String>,
    },
    Forward {
        url: String,
        /// Standard Webhooks secret (`whsec_...`); `None` sends unsigned.
        secret: Option<String>,
        event_type: String,
        message_id: String,
        /// JSON text, sent byte for byte (the signature covers these bytes).
        body: String,
        /// How many forwards the event has come through with this one (`hops::HEADER`); 0 in
        /// rows stored before hops were counted, sent as 1.
        #[serde(default, skip_serializing_if = "is_zero")]
        hops: u32,
        /// The target's own headers (`target.headers`), name → value, each value sealed as
        /// `secret` is and opened only to send.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The GitLab resource a note goes on, as named in the API path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GitlabNoun {
    Issues,
    MergeRequests,
    Snippets,
}

impl GitlabNoun {
    pub fn as_str(self) -> &'static str {
        match self {
            GitlabNoun::Issues => "issues",
            GitlabNoun::MergeRequests => "merge_requests",
            GitlabNoun::Snippets => "snippets",
        }
    }
}

/// A base URL and whether it may point inside the network.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    /// Operator-configured (env) endpoints are trusted; user-given ones (a per-webhook option)
    /// go through the SSRF guard.
    pub trusted: bool,
}

impl Endpoint {
    pub fn trusted(url: impl Into<String>) -> Self {
        Endpoint {
            url: url.into(),
            trusted: true,
        }
    }

    pub fn user(url: impl Into<String>) -> Self {
        Endpoint {
            url: url.into(),
            trusted: false,
        }
    }
}

/// Global settings merged with per-webhook overrides by the caller. `Debug` hides the
/// secrets; `Default` holds the public SaaS endpoints and no credentials.
#[derive(Clone)]
pub struct Credentials {
    pub github_api_url: Endpoint,
    pub github_token: Option<String>,
    pub gitlab_url: Endpoint,
    pub gitlab_token: Option<String>,
    pub jira_base_url: Option<Endpoint>,
    pub jira_email: Option<String>,
    pub jira_api_token: Option<String>,
    pub slack_api_url: Endpoint,
    pub slack_bot_token: Option<String>,
    pub linear_api_url: Endpoint,
    pub linear_api_key: Option<String>,
    pub telegram_api_url: Endpoint,
    pub telegram_bot_token: Option<String>,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            github_api_url: Endpoint::trusted(DEFAULT_GITHUB_API_URL),
            github_token: None,
            gitlab_url: Endpoint::trusted(DEFAULT_GITLAB_URL),
            gitlab_token: None,
            jira_base_url: None,
            jira_email: None,
            jira_api_token: None,
            slack_api_url: Endpoint::trusted(DEFAULT_SLACK_API_URL),
            slack_bot_token: None,
            linear_api_url: Endpoint::trusted(DEFAULT_LINEAR_API_URL),
            linear_api_key: None,
            telegram_api_url: Endpoint::trusted(DEFAULT_TELEGRAM_API_URL),
            telegram_bot_token: None,
        }
    }
}

/// A user and password written into the URL are credentials: never printed.
impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &mask_url_credentials(&self.url))
            .field("trusted", &self.trusted)
            .finish()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &Option<String>| if s.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Credentials")
            .field("github_api_url", &self.github_api_url)
            .field("github_token", &set(&self.github_token))
            .field("gitlab_url", &self.gitlab_url)
            .field("gitlab_token", &set(&self.gitlab_token))
            .field("jira_base_url", &self.jira_base_url)
            .field("jira_email", &self.jira_email)
            .field("jira_api_token", &set(&self.jira_api_token))
            .field("slack_api_url", &self.slack_api_url)
            .field("slack_bot_token", &set(&self.slack_bot_token))
            .field("linear_api_url", &self.linear_api_url)
            .field("linear_api_key", &set(&self.linear_api_key))
            .field("telegram_api_url", &self.telegram_api_url)
            .field("telegram_bot_token", &set(&self.telegram_bot_token))
            .finish()
    }
}

/// A delivery the other side accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub status: u16,
    /// The answer's body, truncated to 2 KiB.
    pub response: Option<String>,
    /// What the other side created: a comment URL or id, a Slack `ts`, a message id.
    pub remote_id: Option<String>,
    /// The thread the post started, where it started one and the answer names it apart from
    /// the post (a GitLab discussion): what follows it can go there.
    pub thread: Option<String>,
    /// Who the answer says made the post (a GitHub login, a GitLab username, a Jira account,
    /// a Slack user): the identity the service posts under there.
    pub author: Option<String>,
    /// What the operator should hear of a delivery that went through all the same (GitHub
    /// redirected it to where its repository moved): the worker logs it as a warning.
    pub note: Option<String>,
}

impl Sent {
    /// The post as made by `author`, where the answer names one.
    pub fn by(self, author: Option<&str>) -> Self {
        Self {
            author: author.filter(|a| !a.is_empty()).map(str::to_owned),
            ..self
        }
    }

    /// The post, with `note` for the operator.
    pub fn noting(self, note: Option<String>) -> Self {
        Self { note, ..self }
    }
}

/// A delivery that failed, and whether the same request may succeed later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ActionError {
    pub retryable: bool,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// How long the other side asked us to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// Safe to store and show: never holds a token.
    pub message: String,
    /// The request went out (or may have) and no answer came back (a timeout, a connection
    /// lost mid-request), or the answer said the server failed while handling it (a 500, 502
    /// or 504, Slack's `internal_error`): what it asked for may have been done all the same.
    pub unanswered: bool,
    /// The answer said a rate limit was reached (a 429, GitHub's rate-limit 403, Slack's
    /// `ratelimited`, Linear's `RATELIMITED`): its wait holds for every request to the host,
    /// not only this one (the worker pauses the host, `worker::pauses`).
    pub rate_limited: bool,
}

impl ActionError {
    pub fn permanent(message: impl Into<String>) -> Self {
        ActionError {
            retryable: false,
            status: None,
            retry_after: None,
            message: message.into(),
            unanswered: false,
            rate_limited: false,
        }
    }

    pub fn retryable(message: impl Into<String>) -> Self {
        ActionError {
            retryable: true,
            ..ActionError::permanent(message)
        }
    }
}

/// The ids of the Slack channels named `names` (without `#`) that `creds`' bot token sees,
/// as `(name, id)`; or why they could not be read.
pub async fn slack_channel_ids(
    clients: &Clients,
    creds: &Credentials,
    names: &[String],
) -> Result<Vec<(String, String)>, String> {
    slack::channel_ids(clients, creds, names).await
}

/// Why `delivery` cannot be sent with `creds` (a token it needs is not configured, or a
/// GitHub Enterprise event's webhook has no API of that server), checked before it is queued
/// so the caller hears it now rather than from a dead action later.
pub fn missing_credentials(creds: &Credentials, delivery: &Delivery) -> Option<ActionError> {
    match delivery {
        Delivery::GithubComment {
            enterprise_host, ..
        } => github::same_server(creds, enterprise_host.as_deref())
            .and_then(|()| github::token(creds).map(drop))
            .err(),
        Delivery::GitlabNote { site, .. } | Delivery::GitlabCommitNote { site, .. } => {
            gitlab::same_site(creds, site.as_deref())
                .and_then(|()| gitlab::token(creds).map(drop))
                .err()
        }
        Delivery::JiraComment { site, .. } => jira::same_site(creds, site.as_deref())
            .and_then(|()| jira::login(creds).map(drop))
            .err(),
        Delivery::SlackMessage { .. } => slack::bot_token(creds).err(),
        Delivery::LinearComment { .. } => linear::api_key(creds).err(),
        Delivery::ChannelMessage { url, kind, .. }
            if *kind == MessageKind::Telegram && !is_send_message_url(url) =>
        {
            channels::telegram_token(creds).err()
        }
        Delivery::SlackResponse { .. }
        | Delivery::ChannelMessage { .. }
        | Delivery::Forward { .. } => None,
    }
}

/// Sends one delivery through its connector.
pub async fn execute(
    clients: &Clients,
    creds: &Credentials,
    delivery: &Delivery,
) -> Result<Sent, ActionError> {
    tracing::debug!(action = delivery.action_name(), target = %delivery.describe_target(), "sending");
    match delivery {
        Delivery::GithubComment {
            repo,
            number,
            body,
            in_reply_to,
            enterprise_host,
        } => {
            let enterprise = enterprise_host.as_deref();
            github::comment(
                clients,
                creds,
                repo,
                *number,
                *in_reply_to,
                enterprise,
                body,
            )
            .await
        }
        Delivery::GitlabNote {
            project,
            noun,
            iid,
            body,
            internal,
            discussion,
            site,
        } => {
            let on = gitlab::Noteable::Item {
                noun: *noun,
                iid: *iid,
            };
            let note = gitlab::Note {
                body,
                internal: *internal,
                discussion: discussion.as_deref(),
                site: site.as_deref(),
            };
            gitlab::note(clients, creds, project, on, &note).await
        }
        Delivery::GitlabCommitNote {
            project,
            sha,
            body,
            discussion,
            site,
        } => {
            let note = gitlab::Note {
                body,
                internal: false,
                discussion: discussion.as_deref(),
                site: site.as_deref(),
            };
            gitlab::note(
                clients,
                creds,
                project,
                gitlab::Noteable::Commit(sha),
                &note,
            )
            .await
        }
        Delivery::JiraComment {
            key,
            body,
            visibility,
            internal,
            site,
        } => {
            let comment = jira::Comment {
                key,
                body,
                visibility: visibility.as_ref(),
                internal: *internal,
                site: site.as_deref(),
            };
            jira::comment(clients, creds, &comment).await
        }
        Delivery::SlackMessage {
            channel,
            thread_ts,
            text,
        } => slack::post_message(clients, creds, channel, thread_ts.as_deref(), text).await,
        Delivery::SlackResponse {
            response_url,
            text,
            replace_original,
        } => slack::respond(clients, response_url, text, *replace_original).await,
        Delivery::LinearComment {
            issue_id,
            body,
            parent_id,
        } => linear::comment(clients, creds, issue_id, parent_id.as_deref(), body).await,
        Delivery::ChannelMessage {
            url,
            kind,
            text,
            chat_id,
            thread_id,
        } => {
            let chat = channels::Chat {
                id: chat_id.as_deref(),
                thread: thread_id.as_deref(),
            };
            channels::post(clients, creds, url, *kind, text, chat).await
        }
        Delivery::Forward {
            url,
            secret,
            event_type,
            message_id,
            body,
            hops,
            headers,
        } => {
            let msg = forward::Message {
                url,
                secret: secret.as_deref(),
                event_type,
                message_id,
                body,
                hops: (*hops).max(1),
                headers,
            };
            forward::send(clients, &msg).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_round_trip_through_the_outbox_json() {
        let d = Delivery::GitlabNote {
            project: "group/app".into(),
            noun: GitlabNoun::MergeRequests,
            iid: 3,
            body: "hi".into(),
            internal: false,
            discussion: None,
            site: None,
        };
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["kind"], "gitlab_note");
        assert_eq!(json["noun"], "merge_requests");
        assert!(json.get("discussion").is_none(), "{json}");
        assert_eq!(serde_json::from_value::<Delivery>(json).unwrap(), d);

        let c = serde_json::json!({"kind": "channel_message", "url": "https://x/y",
            "message_kind": "discord", "text": "t"});
        let d: Delivery = serde_json::from_value(c).unwrap();
        assert!(matches!(
            d,
            Delivery::ChannelMessage {
                kind: MessageKind::Discord,
                chat_id: None,
                ..
            }
        ));
    }

    #[test]
    fn gitlab_notes_queued_before_threads_were_answered_still_send() {
        // A row an older build queued: no `discussion`, so a note of its own, as it was.
        let old = serde_json::json!({"kind": "gitlab_note", "project": "group/app",
            "noun": "issues", "iid": 5, "body": "hi"});
        let d: Delivery = serde_json::from_value(old).unwrap();
        assert_eq!(
            d,
            Delivery::GitlabNote {
                project: "group/app".into(),
                noun: GitlabNoun::Issues,
                iid: 5,
                body: "hi".into(),
                internal: false,
                discussion: None,
                site: None,
            }
        );

        for d in [
            Delivery::GitlabNote {
                project: "group/app".into(),
                noun: GitlabNoun::MergeRequests,
                iid: 3,
                body: "hi".into(),
                internal: false,
                discussion: Some("6a9c1750b3".into()),
                site: None,
            },
            Delivery::GitlabCommitNote {
                project: "group/app".into(),
                sha: "da1560886d4f094c".into(),
                body: "hi".into(),
                discussion: None,
                site: None,
            },
        ] {
            let json = serde_json::to_value(&d).unwrap();
            assert_eq!(serde_json::from_value::<Delivery>(json).unwrap(), d);
        }
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let creds = Credentials {
            github_token: Some("ghp_SECRET".into()),
            github_api_url: Endpoint {
                url: "https://bot:pa55SECRET@ghe.example.com/api/v3".into(),
                trusted: false,
            },
            ..Credentials::default()
        };
        let shown = format!("{creds:?}");
        assert!(
            !shown.contains("SECRET") && shown.contains("<set>"),
            "{shown}"
        );
    }
}
