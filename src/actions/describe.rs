//! How deliveries are named and shown (outbox worker → `actions::execute` → a connector;
//! the worker also logs `describe_target`): target descriptions, `Debug`, URL redaction, and
//! the path-segment encoding connectors use for values taken from payloads. Everything here
//! keeps tokens out of logs and the event log.

use std::fmt;

use super::{ActionError, Delivery, GitlabNoun, MessageKind};

/// What a hidden part of a URL reads as.
const MASK: &str = "***";

impl Delivery {
    /// What a delivery targets, for logs and the event log: "github octo/app#7",
    /// "slack C123 (thread 1.2)", "forward https://host/path". Never a token: URLs lose
    /// their query and credentials, and the secrets of their path ([`path_secrets`] for a
    /// channel's, [`forward_path_secrets`] for a forward's).
    pub fn describe_target(&self) -> String {
        match self {
            Delivery::GithubComment {
                repo,
                number,
                in_reply_to: None,
                ..
            } => format!("github {repo}#{number}"),
            Delivery::GithubComment {
                repo,
                number,
                in_reply_to: Some(comment),
                ..
            } => format!("github {repo}#{number} (review thread {comment})"),
            Delivery::GitlabNote {
                project,
                noun,
                iid,
                discussion,
                ..
            } => {
                let sigil = match noun {
                    GitlabNoun::Issues => '#',
                    GitlabNoun::MergeRequests => '!',
                    GitlabNoun::Snippets => '$',
                };
                format!("gitlab {project}{sigil}{iid}{}", in_thread(discussion))
            }
            Delivery::GitlabCommitNote {
                project,
                sha,
                discussion,
                ..
            } => format!("gitlab {project}@{sha}{}", in_thread(discussion)),
            Delivery::JiraComment { key, .. } => format!("jira {key}"),
            Delivery::SlackMessage {
                channel, thread_ts, ..
            } => match thread_ts {
                Some(ts) => format!("slack {channel} (thread {ts})"),
                None => format!("slack {channel}"),
            },
            Delivery::SlackResponse { response_url, .. } => {
                format!("slack response_url {}", redact_secret_path(response_url))
            }
            Delivery::LinearComment { issue_id, .. } => format!("linear {issue_id}"),
            Delivery::ChannelMessage {
                url,
                kind,
                chat_id,
                thread_id,
                ..
            } => match (kind, chat_id, thread_id) {
                (MessageKind::Telegram, Some(chat), Some(topic)) => {
                    format!("telegram chat {chat} (topic {topic})")
                }
                (MessageKind::Telegram, Some(chat), None) => format!("telegram chat {chat}"),
                _ => format!("{kind} {}", redact_secret_path(url)),
            },
            Delivery::Forward { url, .. } => format!("forward {}", redact_forward_url(url)),
        }
    }

    /// The delivery's kind as stored (`github_comment`, `channel_message`, ...).
    pub fn action_name(&self) -> &'static str {
        match self {
            Delivery::GithubComment { .. } => "github_comment",
            Delivery::GitlabNote { .. } => "gitlab_note",
            Delivery::GitlabCommitNote { .. } => "gitlab_commit_note",
            Delivery::JiraComment { .. } => "jira_comment",
            Delivery::SlackMessage { .. } => "slack_message",
            Delivery::SlackResponse { .. } => "slack_response",
            Delivery::LinearComment { .. } => "linear_comment",
            Delivery::ChannelMessage { .. } => "channel_message",
            Delivery::Forward { .. } => "forward",
        }
    }

    /// The host a delivery goes to, as the worker shares its senders out: `host:port` of the
    /// URL it carries, or its provider's name for an API call, whose address comes with the
    /// credentials (a webhook's own API is put in its place when the row is stored:
    /// `service::record::OwnApis`).
    pub fn host(&self) -> String {
        let url = match self {
            Delivery::GithubComment { .. } => return "github".into(),
            Delivery::GitlabNote { .. } | Delivery::GitlabCommitNote { .. } => {
                return "gitlab".into();
            }
            Delivery::JiraComment { .. } => return "jira".into(),
            Delivery::SlackMessage { .. } => return "slack".into(),
            Delivery::LinearComment { .. } => return "linear".into(),
            // A Telegram message to the configured bot's API.
            Delivery::ChannelMessage { url, .. } if url.is_empty() => return "telegram".into(),
            Delivery::SlackResponse { response_url, .. } => response_url,
            Delivery::ChannelMessage { url, .. } | Delivery::Forward { url, .. } => url,
        };
        host_of(url)
    }
}

/// " (thread <id>)" for a GitLab note answering in a thread, else nothing.
fn in_thread(discussion: &Option<String>) -> String {
    discussion
        .as_deref()
        .map(|d| format!(" (thread {d})"))
        .unwrap_or_default()
}

impl Delivery {
    /// The URL that is a credential itself, which is stored sealed when a key is set: a
    /// channel's (an incoming-webhook URL is the channel's key, a Bot API URL holds the bot's
    /// token) and a forward's that carries a password or token (see [`url_is_credential`]).
    pub fn credential_url_mut(&mut self) -> Option<&mut String> {
        match self {
            Delivery::ChannelMessage { url, .. } if url_is_credential(true, url) => Some(url),
            Delivery::Forward { url, .. } if url_is_credential(false, url) => Some(url),
            _ => None,
        }
    }

    /// The URL a delivery is sent to, where it carries one that may be stored sealed.
    pub fn target_url_mut(&mut self) -> Option<&mut String> {
        match self {
            Delivery::ChannelMessage { url, .. } | Delivery::Forward { url, .. } => Some(url),
            _ => None,
        }
    }

    /// Whether the answer to this delivery names the post it makes (a comment's page or id,
    /// a Slack message's `ts`, an Open WebUI channel message's id) and its provider announces
    /// that post back as an event: the post comes back, and is known by that name. One
    /// delivered with no name in its answer can be known only by its words.
    pub fn named_in_its_answer(&self) -> bool {
        match self {
            Delivery::GithubComment { .. }
            | Delivery::GitlabNote { .. }
            | Delivery::GitlabCommitNote { .. }
            | Delivery::JiraComment { .. }
            | Delivery::SlackMessage { .. }
            | Delivery::LinearComment { .. } => true,
            Delivery::ChannelMessage { kind, .. } => *kind == MessageKind::OpenWebUi,
            Delivery::SlackResponse { .. } | Delivery::Forward { .. } => false,
        }
    }
}

/// Whether a target URL is a credential, to be stored sealed: every channel URL
/// (`channel`), whose secret is its path or a `bot<token>` segment, and a forward's with
/// what [`mask_forward_url`] hides in it (a password, a token as user name, a secret query
/// value, a secret in its path). An empty URL (a Telegram message by the configured bot)
/// holds nothing.
pub(crate) fn url_is_credential(channel: bool, url: &str) -> bool {
    !url.is_empty() && (channel || mask_forward_url(url) != url)
}

/// `host:port` of a URL, empty when it is none.
pub(crate) fn host_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or_default(),
            u.port_or_known_default().unwrap_or_default()
        ),
        Err(_) => String::new(),
    }
}

/// `Debug` goes to logs and test output, so it shows the redacted target and hides the
/// forward secret; the text itself is kept since it is what the event log shows anyway.
impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Delivery::GithubComment { body, .. }
            | Delivery::GitlabNote { body, .. }
            | Delivery::GitlabCommitNote { body, .. }
            | Delivery::JiraComment { body, .. }
            | Delivery::LinearComment { body, .. }
            | Delivery::Forward { body, .. } => body,
            Delivery::SlackMessage { text, .. }
            | Delivery::SlackResponse { text, .. }
            | Delivery::ChannelMessage { text, .. } => text,
        };
        let mut s = f.debug_struct(self.action_name());
        s.field("target", &self.describe_target());
        if let Delivery::Forward {
            secret, headers, ..
        } = self
        {
            s.field("signed", &secret.is_some());
            // Names only: the values are credentials (an API's `Authorization`).
            if !headers.is_empty() {
                s.field("headers", &headers.keys().collect::<Vec<_>>());
            }
        }
        s.field("text", text).finish()
    }
}

/// `scheme://host[:port]/path` without userinfo, query or fragment, where tokens hide.
pub(crate) fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        // `user:pw@host/path` parses too, as scheme `user` with no host.
        Ok(u) if !u.has_host() => mask_unparsed_credentials(url),
        Ok(u) => {
            let host = u.host_str().unwrap_or_default();
            match u.port() {
                Some(port) => format!("{}://{host}:{port}{}", u.scheme(), u.path()),
                None => format!("{}://{host}{}", u.scheme(), u.path()),
            }
        }
        Err(_) => "<invalid URL>".into(),
    }
}

/// `redact_url` with the path's secrets masked, as [`path_secrets`] finds them.
pub(crate) fn redact_secret_path(url: &str) -> String {
    let plain = redact_url(url);
    // The path starts after `scheme://host[:port]/`.
    let Some(start) = plain
        .find("://")
        .and_then(|at| Some(at + 3 + plain[at + 3..].find('/')? + 1))
    else {
        return plain;
    };
    let (origin, path) = plain.split_at(start);
    let segments: Vec<&str> = path.split('/').collect();
    let secrets = match reqwest::Url::parse(&plain) {
        Ok(url) => channel_path_secrets(&url, &segments),
        Err(_) => path_secrets(&segments),
    };
    format!("{origin}{}", masked_path(&segments, &secrets))
}

/// `redact_url` with every path segment masked that either rule finds secret, a channel's
/// ([`path_secrets`]) or a forward's ([`forward_path_secrets`]; a Zapier silent hook's key
/// is not last): for the audit log, which records a `url` without asking which action it
/// is for.
pub(crate) fn redact_any_secret_path(url: &str) -> String {
    // One given without its scheme (`open-webui:8080/api/…`, refused, but audited as given)
    // parses as scheme `open-webui` with no host: read as `http://` it has one, and a path.
    // A `://` in its query or fragment (`?next=http://…`) does not make it one with a scheme.
    let before_query = url.split(['?', '#']).next().unwrap_or_default();
    let has_host = reqwest::Url::parse(url).is_ok_and(|u| u.has_host());
    if !has_host && !before_query.contains("://") {
        let read = redact_any_secret_path(&format!("http://{}", url.trim()));
        if let Some(masked) = read.strip_prefix("http://") {
            return masked.to_owned();
        }
        // Not a URL even so (a port past 65535, say): its host at most, no path, no query.
        if let Some((origin, _)) = before_query.trim().split_once('/') {
            let host = origin.rsplit('@').next().unwrap_or_default();
            return format!("{host}/{MASK}");
        }
    }
    let plain = redact_url(url);
    let Ok(parsed) = reqwest::Url::parse(&plain) else {
        return plain;
    };
    let Some(segments) = parsed.path_segments().filter(|_| parsed.has_host()) else {
        return plain;
    };
    let segments: Vec<&str> = segments.collect();
    let (forward, channel) = (
        forward_path_secrets(&parsed, &segments),
        channel_path_secrets(&parsed, &segments),
    );
    // Where both find one, the longer: the whole segment over a `bot<token>`'s token.
    let secrets: Vec<Option<&str>> = forward
        .into_iter()
        .zip(channel)
        .map(|pair| match pair {
            (Some(f), Some(c)) => Some(if f.len() >= c.len() { f } else { c }),
            (f, c) => f.or(c),
        })
        .collect();
    let path = format!("/{}", masked_path(&segments, &secrets));
    let mut masked = parsed.clone();
    masked.set_path(&path);
    masked.to_string()
}

/// A stored target as it is shown. A forward's is described with the secrets of its path
/// masked ([`redact_forward_url`]), a channel message's (`discord <url>`) with its channel
/// rule ([`redact_secret_path`]); a row a build before those rules wrote (it masked only the
/// query and credentials, or only the last segment of a channel's path) is masked now, so an
/// old action shows no more than a new one. Masking an already masked target changes nothing.
pub(crate) fn shown_target(stored: &str) -> std::borrow::Cow<'_, str> {
    if let Some(url) = stored.strip_prefix("forward ") {
        return format!("forward {}", redact_forward_url(url)).into();
    }
    match channel_target(stored) {
        Some((kind, url)) => format!("{kind} {}", redact_secret_path(url)).into(),
        None => stored.into(),
    }
}

/// A channel message's target split into its kind and its URL; none for any other target,
/// nor for a channel named without a URL (`slack C123`, `telegram chat 42`).
fn channel_target(stored: &str) -> Option<(&str, &str)> {
    let (kind, url) = stored.split_once(' ')?;
    let is_kind = kind
        .parse::<MessageKind>()
        .is_ok_and(|k| k.as_str() == kind);
    let is_url = reqwest::Url::parse(url).is_ok_and(|u| u.has_host());
    (is_kind && is_url).then_some((kind, url))
}

/// A forward's URL as its target is described: `redact_url` with the path's secrets masked,
/// as [`forward_path_secrets`] finds them.
fn redact_forward_url(url: &str) -> String {
    let plain = redact_url(url);
    match reqwest::Url::parse(&plain) {
        Ok(u) if u.has_host() => with_forward_path_masked(u).unwrap_or(plain),
        _ => plain,
    }
}

/// A forward's URL as it is shown ([`mask_url_credentials`], query kept) with the secrets of
/// its path masked too, as [`forward_path_secrets`] finds them.
pub(crate) fn mask_forward_url(url: &str) -> String {
    let shown = mask_url_credentials(url);
    match reqwest::Url::parse(&shown) {
        Ok(u) if u.has_host() => with_forward_path_masked(u).unwrap_or(shown),
        _ => shown,
    }
}

/// `url` with the secrets [`forward_path_secrets`] finds in its path masked; `None` where
/// there are none (the URL is shown as it was given).
fn with_forward_path_masked(mut url: reqwest::Url) -> Option<String> {
    let segments: Vec<&str> = url.path_segments().into_iter().flatten().collect();
    let secrets = forward_path_secrets(&url, &segments);
    if secrets.iter().all(Option::is_none) {
        return None;
    }
    let path = format!("/{}", masked_path(&segments, &secrets));
    url.set_path(&path);
    Some(url.to_string())
}

/// `segments` joined as a path, each secret in them (`secrets`, by position) shown as `***`.
fn masked_path(segments: &[&str], secrets: &[Option<&str>]) -> String {
    let masked: Vec<String> = segments
        .iter()
        .zip(secrets)
        .map(|(segment, secret)| match secret {
            Some(secret) => mask_segment(segment, secret),
            None => (*segment).to_owned(),
        })
        .collect();
    masked.join("/")
}

/// `segment` as shown with its `secret` (the whole of it, or a `bot<token>`'s token) masked:
/// `***`, `bot***`.
fn mask_segment(segment: &str, secret: &str) -> String {
    format!("{}{MASK}", &segment[..segment.len() - secret.len()])
}

/// The secret in each segment of a forward URL's path (`None` where there is none). A
/// forward's path is the receiver's own and stays readable (`/api/hooks/build` shows where
/// it goes), but many receivers take their key in it: every token-like segment and
/// `bot<token>` is secret in any URL, and on an incoming webhook that is known to be keyed by
/// its path (`channels::is_incoming_webhook`: Slack, Discord, Teams, an Open WebUI channel,
/// Zapier, Make, IFTTT) the last segment too, as [`path_secrets`] has it, even when it is
/// the only one (Make's `/{token}`); on Zapier's, the segment after its account instead,
/// wherever it stands (`channels::zapier_key_index`: a silent hook's `…/{key}/silent/`).
/// `mask_forward_url` and `redact_forward_url` mask these in a target and `SentSecrets`
/// scrubs them from its answers: one rule, as for channels.
pub(crate) fn forward_path_secrets<'a>(
    url: &reqwest::Url,
    segments: &[&'a str],
) -> Vec<Option<&'a str>> {
    if let Some(key) = super::channels::zapier_key_index(url).filter(|&i| i < segments.len()) {
        let mut secrets: Vec<Option<&str>> = segments.iter().map(|s| segment_secret(s)).collect();
        secrets[key] = Some(segments[key]);
        return secrets;
    }
    if !super::channels::is_incoming_webhook(url) {
        return segments.iter().map(|s| segment_secret(s)).collect();
    }
    let mut secrets = path_secrets(segments);
    if let Some(last) = segments.iter().rposition(|segment| !segment.is_empty()) {
        secrets[last] = Some(segments[last]);
    }
    secrets
}

/// The secret a path segment is wherever it stands: a `bot<token>`'s token, or the whole of a
/// token-like one.
fn segment_secret(segment: &str) -> Option<&str> {
    bot_token(segment).or(token_like(segment).then_some(segment))
}

/// The secret in each segment of an incoming-webhook URL's path (`None` where there is none).
/// Slack, Discord, Open WebUI and Teams carry theirs in the path, usually last but not always
/// (Discord's `/api/webhooks/{id}/{token}/slack`, Teams' `/IncomingWebhook/{secret}/{owner}`):
/// the last segment and every token-like one are secret. Telegram's is the token of a
/// `bot<token>` segment, and nothing else is. `redact_secret_path` masks these in a target and
/// `SentSecrets` scrubs them from its answers: one rule, so an error cannot show what the
/// target hides.
pub(crate) fn path_secrets<'a>(segments: &[&'a str]) -> Vec<Option<&'a str>> {
    let mut secrets: Vec<Option<&str>> = segments.iter().map(|s| segment_secret(s)).collect();
    // `bot***` is a token already masked (no URL holding `***` is stored:
    // `masked_url_refusal`), so a target masked again keeps its method in view.
    let telegram = segments
        .iter()
        .any(|segment| bot_token(segment).is_some() || *segment == MASKED_BOT);
    if !telegram
        && segments.len() > 1
        && let Some(last) = segments.iter().rposition(|segment| !segment.is_empty())
    {
        secrets[last] = Some(segments[last]);
    }
    secrets
}

/// The secrets of a channel URL's path (`segments`, as `url`'s): [`path_secrets`], and
/// Zapier's key wherever it stands, as a forward's rule has it (a silent hook's,
/// `…/{key}/silent/`, is not last).
pub(crate) fn channel_path_secrets<'a>(
    url: &reqwest::Url,
    segments: &[&'a str],
) -> Vec<Option<&'a str>> {
    let mut secrets = path_secrets(segments);
    if let Some(key) = super::channels::zapier_key_index(url).filter(|&i| i < segments.len()) {
        secrets[key] = Some(segments[key]);
    }
    secrets
}

/// A `bot<token>` path segment as shown.
const MASKED_BOT: &str = "bot***";

/// The token in a Telegram `bot<token>` path segment (`bot123:ABC`), which is secret in any
/// URL.
pub(crate) fn bot_token(segment: &str) -> Option<&str> {
    segment
        .strip_prefix("bot")
        .filter(|token| token.contains(':'))
}

/// The URL as given, with what in it is a credential masked: the password before the host,
/// and query values whose names say secret (`token`, `api_key`, ...). For an API's base URL,
/// whose path stays readable; a forward's target has the secrets of its path masked too
/// ([`mask_forward_url`]).
pub(crate) fn mask_url_credentials(url: &str) -> String {
    // `user:pw@host/path` parses too, as scheme `user` with no host.
    let Some(mut u) = reqwest::Url::parse(url).ok().filter(|u| u.has_host()) else {
        return mask_unparsed_credentials(url);
    };
    let secret_query = u.query_pairs().any(|(k, _)| secret_query_name(&k));
    // A user name alone (`https://<token>@host/`) is the credential.
    let token_user = u.password().is_none() && !u.username().is_empty();
    // Shown as given where nothing is hidden (parsing would rewrite its form).
    if u.password().is_none() && !token_user && !secret_query {
        return url.to_string();
    }
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    } else if token_user {
        let _ = u.set_username("***");
    }
    if secret_query {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_query_name(&k) {
                    "***".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// Text that is no URL, shown as safely as one: it may still hold a credential where a URL
/// does (`user:password@host` with no scheme, a space in the host), so what stands before its
/// last `@` and its query are hidden.
fn mask_unparsed_credentials(text: &str) -> String {
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), text),
    };
    let rest = match rest.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => rest.to_string(),
    };
    let rest = match rest.split_once('?') {
        Some((path, _)) => format!("{path}?***"),
        None => rest,
    };
    format!("{scheme}{rest}")
}

/// A query parameter that carries a credential: a secret field's name, one of the names
/// services sign or authorise URLs with (Azure's `sig` and Functions' `code`, Google's `key`,
/// S3's `X-Amz-Signature` and `X-Amz-Credential`), or one naming a signature, an HMAC, a
/// token, a secret or a password anywhere in it (`hmac`, `secretkey`, `pass`).
pub(crate) fn secret_query_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    crate::service::audit::is_secret_field(&name)
        || [
            "signature",
            "hmac",
            "token",
            "secret",
            "password",
            "credential",
        ]
        .iter()
        .any(|word| name.contains(word))
        || matches!(
            name.as_str(),
            "sig" | "code" | "auth" | "apikey" | "key" | "pass" | "passwd" | "pwd" | "jwt"
        )
}

/// The URL to keep in place of `given`, an update's URL, when it is how `stored` was shown (its
/// secret path or credentials masked: the stored one stays) or `stored` edited on the same
/// server with its credentials still masked (put back); `None` to keep `given` as it is.
/// `listed_bare`: whether `stored` is listed with its query and credentials left out unmarked
/// (a channel's URL); only then does that form stand for it. Elsewhere (a forward's, a base
/// URL) it is the URL with its credentials taken out, as someone mending a leaked one sends.
pub(crate) fn restore_url(given: &str, stored: &str, listed_bare: bool) -> Option<String> {
    if given == stored {
        return None;
    }
    if (listed_bare && given == redact_secret_path(stored))
        || given == mask_url_credentials(stored)
        || given == mask_forward_url(stored)
    {
        return Some(stored.to_string());
    }
    unmask_url_credentials(given, stored)
}

/// `given` with the credentials `mask_forward_url` hid put back from `stored`, where both
/// are on the same scheme, host and port (credentials never follow a URL to another server)
/// and the same path, masked segments put back as [`unmask_path`] allows (a key kept for one
/// endpoint is not pointed at another of the server's: a token in the query as one in the
/// path); `None` when nothing in `given` is masked, the servers or the paths differ.
pub(crate) fn unmask_url_credentials(given: &str, stored: &str) -> Option<String> {
    let (mut given, stored) = (
        reqwest::Url::parse(given).ok()?,
        reqwest::Url::parse(stored).ok()?,
    );
    if given.scheme() != stored.scheme()
        || given.host_str() != stored.host_str()
        || given.port_or_known_default() != stored.port_or_known_default()
    {
        return None;
    }
    let mut changed = false;
    if let Some(path) = unmask_path(&given, &stored) {
        given.set_path(&path);
        changed = true;
    }
    // A trailing `/` added or dropped (a base URL tidied) names the same endpoint.
    if given.path().trim_end_matches('/') != stored.path().trim_end_matches('/') {
        return None;
    }
    if given.password() == Some("***") && given.username() == stored.username() {
        given.set_password(stored.password()).ok()?;
        changed = true;
    } else if given.username() == "***" && given.password().is_none() {
        given.set_username(stored.username()).ok()?;
        changed = true;
    }
    let masked = |k: &str, v: &str| v == "***" && secret_query_name(k);
    if given.query_pairs().any(|(k, v)| masked(&k, &v)) {
        let pairs: Vec<(String, String)> = given
            .query_pairs()
            .map(|(k, v)| {
                let v = match stored.query_pairs().find(|(sk, _)| *sk == k) {
                    Some((_, stored_value)) if masked(&k, &v) => stored_value.into_owned(),
                    _ => v.into_owned(),
                };
                (k.into_owned(), v)
            })
            .collect();
        given.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    changed.then(|| given.to_string())
}

/// `stored`'s path, where `given`'s is that same path as it was shown: every segment as
/// stored but the masked ones, each reading as that stored segment was shown (`***`,
/// `bot***`, by the forward's or the channel's rule: no filling by prefix, which would let an
/// editor test guesses). `None` when nothing is masked or anything else in the path differs.
/// So a hidden key stays exactly where it was, shown as before: an edit can neither move it
/// to where another rule shows it nor point it at another endpoint of the same server (a
/// bot token at `/setWebhook`); changing the path means giving the whole URL. A mask left in
/// place is then refused by [`masked_url_refusal`].
fn unmask_path(given: &reqwest::Url, stored: &reqwest::Url) -> Option<String> {
    let edited: Vec<&str> = given.path_segments()?.collect();
    if !edited.iter().any(|segment| segment.contains(MASK)) {
        return None;
    }
    let kept: Vec<&str> = stored.path_segments()?.collect();
    if kept.len() != edited.len() {
        return None;
    }
    let (forward, channel) = (
        forward_path_secrets(stored, &kept),
        channel_path_secrets(stored, &kept),
    );
    let as_shown = |i: usize| {
        [forward[i], channel[i]]
            .into_iter()
            .flatten()
            .any(|secret| mask_segment(kept[i], secret) == edited[i])
    };
    (0..kept.len())
        .all(|i| edited[i] == kept[i] || (edited[i].contains(MASK) && as_shown(i)))
        .then(|| stored.path().to_owned())
}

/// Why a URL given to send to is refused when it still shows the mask `redact_secret_path`
/// puts in place of its secret part (copied from a listing, or left by an edit where nothing
/// stored may stand behind it, see [`unmask_path`]): it would only ever fail, and any path
/// segment holding `***` (`a***`) is taken for one, not saved as typed.
pub(crate) fn masked_url_refusal(url: &str) -> Option<&'static str> {
    let masked_credential = reqwest::Url::parse(url).is_ok_and(|u| {
        u.password() == Some(MASK)
            || u.username() == MASK
            || u.query_pairs()
                .any(|(k, v)| v == MASK && secret_query_name(&k))
    });
    let before_query = url.split(['?', '#']).next().unwrap_or_default();
    (masked_credential
        || before_query.split('/').any(|seg| seg.contains(MASK))
        || url.split(['/', '?']).any(|seg| seg == MASK))
    .then_some(
        "this URL shows `***` where a secret part was hidden when it was listed, and no \
             stored value can stand there (an edit keeps one only in its place, still hidden); \
             give the whole URL, as the service that issued it shows it",
    )
}

/// Long and mixing letters with digits, as generated tokens do; path words (`webhooks`,
/// `IncomingWebhook`) and short ids (Slack's `T0123ABCD`) are not.
fn token_like(segment: &str) -> bool {
    segment.len() >= 16
        && segment.bytes().any(|b| b.is_ascii_digit())
        && segment.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Percent-encodes one path segment (RFC 3986 unreserved characters stay), so a value from
/// a payload cannot add path segments or a query. `.` and `..` are refused by the callers.
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path segment taken from a payload: non-empty, not `.`/`..` (which URL parsing would
/// resolve), and encoded.
pub(crate) fn segment(what: &str, s: &str) -> Result<String, ActionError> {
    if s.is_empty() || s == "." || s == ".." {
        return Err(ActionError::permanent(format!("invalid {what}: {s:?}")));
    }
    Ok(encode_segment(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_described_without_tokens() {
        let cases = [
            (
                Delivery::GithubComment {
                    repo: "octo/app".into(),
                    number: 7,
                    body: String::new(),
                    in_reply_to: None,
                    enterprise_host: None,
                },
                "github octo/app#7",
            ),
            (
                Delivery::GithubComment {
                    repo: "octo/app".into(),
                    number: 7,
                    body: String::new(),
                    in_reply_to: Some(42),
                    enterprise_host: None,
                },
                "github octo/app#7 (review thread 42)",
            ),
            (
                Delivery::GitlabNote {
                    project: "group/app".into(),
                    noun: GitlabNoun::MergeRequests,
                    iid: 3,
                    body: String::new(),
                    internal: false,
                    discussion: Some("6a9c".into()),
                    site: None,
                },
                "gitlab group/app!3 (thread 6a9c)",
            ),
            (
                Delivery::GitlabCommitNote {
                    project: "group/app".into(),
                    sha: "da15608".into(),
                    body: String::new(),
                    discussion: None,
                    site: None,
                },
                "gitlab group/app@da15608",
            ),
            (
                Delivery::SlackMessage {
                    channel: "C123".into(),
                    thread_ts: Some("1.2".into()),
                    text: String::new(),
                },
                "slack C123 (thread 1.2)",
            ),
            (
                Delivery::ChannelMessage {
                    url: "https://webui.example/api/v1/channels/webhooks/abc/SECRETTOKEN".into(),
                    kind: MessageKind::OpenWebUi,
                    text: String::new(),
                    chat_id: None,
                    thread_id: None,
                },
                "openwebui https://webui.example/api/v1/channels/webhooks/abc/***",
            ),
            (
                Delivery::Forward {
                    url: "https://user:pw@host.example/in?token=SECRET".into(),
                    secret: Some("whsec_SECRET".into()),
                    event_type: "x".into(),
                    message_id: "m".into(),
                    body: "{}".into(),
                    hops: 0,
                    headers: [("Authorization".to_string(), "Bearer SECRET".to_string())].into(),
                },
                "forward https://host.example/in",
            ),
            (
                Delivery::SlackResponse {
                    response_url: "https://hooks.slack.com/commands/T1/123/SECRET".into(),
                    text: String::new(),
                    replace_original: false,
                },
                "slack response_url https://hooks.slack.com/commands/T1/123/***",
            ),
        ];
        for (d, want) in cases {
            assert_eq!(d.describe_target(), want);
            assert!(!format!("{d:?}").contains("SECRET"), "{d:?}");
        }
    }

    #[test]
    fn hosts_are_where_a_delivery_goes() {
        let forward = |url: &str| Delivery::Forward {
            url: url.into(),
            secret: None,
            event_type: "x".into(),
            message_id: "m".into(),
            body: "{}".into(),
            hops: 0,
            headers: Default::default(),
        };
        let telegram = |url: &str| Delivery::ChannelMessage {
            url: url.into(),
            kind: MessageKind::Telegram,
            text: String::new(),
            chat_id: Some("1".into()),
            thread_id: None,
        };
        let cases = [
            (
                forward("https://user:pw@Hooks.Example/in?x=1"),
                "hooks.example:443",
            ),
            (forward("http://127.0.0.1:8080/in"), "127.0.0.1:8080"),
            (telegram(""), "telegram"),
            (
                telegram("https://api.telegram.org/bot1:x/sendMessage"),
                "api.telegram.org:443",
            ),
            (
                Delivery::LinearComment {
                    issue_id: "i".into(),
                    body: String::new(),
                    parent_id: None,
                },
                "linear",
            ),
        ];
        for (d, want) in cases {
            assert_eq!(d.host(), want, "{d:?}");
        }
    }

    #[test]
    fn tokens_inside_a_path_are_masked_not_only_the_last_segment() {
        let cases = [
            (
                "https://discord.com/api/webhooks/1234567890/AbCdEf123456GhIjKl7890mnop/slack",
                "https://discord.com/api/webhooks/1234567890/***/***",
            ),
            (
                "https://discord.com/api/webhooks/1234567890/AbCdEf123456GhIjKl7890mnop/github",
                "https://discord.com/api/webhooks/1234567890/***/***",
            ),
            (
                "https://x.webhook.office.com/webhookb2/g1@g2/IncomingWebhook/0a1b2c3d4e5f60718293a4b5c6d7e8f9/owner",
                "https://x.webhook.office.com/webhookb2/g1@g2/IncomingWebhook/***/***",
            ),
            (
                "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/XXXXSECRETXXXX",
                "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/***",
            ),
            // A Zapier silent hook's key, not last, as a forward's rule hides it.
            (
                "https://hooks.zapier.com/hooks/catch/123456/abc1def/silent/",
                "https://hooks.zapier.com/hooks/catch/123456/***/***/",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(redact_secret_path(url), want, "{url}");
        }
    }

    #[test]
    fn the_audit_masks_what_either_rule_hides_in_a_path() {
        let cases = [
            // A Zapier silent hook's key is hidden by the forward's rule only ...
            (
                "https://hooks.zapier.com/hooks/catch/123456/abc1def/silent/?x=1",
                "https://hooks.zapier.com/hooks/catch/123456/***/***/",
            ),
            // ... a channel's last segment by the channel's (any host) ...
            (
                "https://chat.example.com/notify/room7",
                "https://chat.example.com/notify/***",
            ),
            // ... a bot token by both.
            (
                "https://api.telegram.org/bot123:ABC/sendMessage",
                "https://api.telegram.org/bot***/sendMessage",
            ),
            (
                "https://ci.example.com/hooks/5b2e3a4c-0d1e-4f5a-8b9c-0123456789ab/build",
                "https://ci.example.com/hooks/***/***",
            ),
            ("https://example.com/", "https://example.com/"),
            // Given without a scheme: its path masked all the same.
            (
                "open-webui:8080/api/v1/channels/webhooks/ch1/owuitok9",
                "open-webui:8080/api/v1/channels/webhooks/ch1/***",
            ),
            (
                "user:pw@localhost:8080/hooks/abcsecret",
                "localhost:8080/hooks/***",
            ),
            (
                "open-webui:8080/api/v1/channels/webhooks/ch1/owuitok9?next=http://a",
                "open-webui:8080/api/v1/channels/webhooks/ch1/***",
            ),
            (
                "open-webui:8080/api/v1/channels/webhooks/ch1/owuitok9#x://y",
                "open-webui:8080/api/v1/channels/webhooks/ch1/***",
            ),
            (
                "open-webui:99999/api/v1/channels/webhooks/ch1/owuitok9",
                "open-webui:99999/***",
            ),
            (
                "u:pw@open-webui:http/api/v1/channels/webhooks/ch1/owuitok9",
                "open-webui:http/***",
            ),
            ("not a url", "<invalid URL>"),
        ];
        for (url, recorded) in cases {
            assert_eq!(redact_any_secret_path(url), recorded, "{url}");
        }
    }

    #[test]
    fn a_forward_target_stored_by_an_older_build_is_shown_masked() {
        let cases = [
            // Written before forwards masked their path: masked when shown.
            (
                "forward https://hooks.zapier.com/hooks/catch/123456/abcdefg/",
                "forward https://hooks.zapier.com/hooks/catch/123456/***/",
            ),
            (
                "forward https://ci.example.com/in/AbCdEf123456GhIjKl7890",
                "forward https://ci.example.com/in/***",
            ),
            // Written as this build describes them: unchanged.
            (
                "forward https://hooks.zapier.com/hooks/catch/123456/***/",
                "forward https://hooks.zapier.com/hooks/catch/123456/***/",
            ),
            (
                "forward https://ci.example.com/api/hooks/build",
                "forward https://ci.example.com/api/hooks/build",
            ),
            ("github octo/app#7", "github octo/app#7"),
            (
                "slack https://hooks.slack.com/services/T0/B0/***",
                "slack https://hooks.slack.com/services/T0/B0/***",
            ),
        ];
        for (stored, shown) in cases {
            assert_eq!(shown_target(stored), shown, "{stored}");
        }
    }

    #[test]
    fn a_channel_target_stored_by_an_older_build_is_shown_masked() {
        let cases = [
            // Written when only a channel path's last segment was masked: its token in view.
            (
                "discord https://discord.com/api/webhooks/123/AbCdEfGh1234567890xyz/***",
                "discord https://discord.com/api/webhooks/123/***/***",
            ),
            (
                "teams https://t.webhook.office.com/webhookb2/g@t/IncomingWebhook/0a1b2c3d4e5f6a7b8c9d/***",
                "teams https://t.webhook.office.com/webhookb2/g@t/IncomingWebhook/***/***",
            ),
            (
                "slack https://hooks.zapier.com/hooks/catch/123456/abcdefg/***/",
                "slack https://hooks.zapier.com/hooks/catch/123456/***/***/",
            ),
            // Written as this build describes them: unchanged.
            (
                "telegram https://api.telegram.org/bot***/sendMessage",
                "telegram https://api.telegram.org/bot***/sendMessage",
            ),
            (
                "openwebui https://webui.example/api/v1/channels/webhooks/abc/***",
                "openwebui https://webui.example/api/v1/channels/webhooks/abc/***",
            ),
            ("slack C123 (thread 1.2)", "slack C123 (thread 1.2)"),
            ("telegram chat -100123", "telegram chat -100123"),
            ("linear 0a1b2c3d4e5f6a7b8c9d", "linear 0a1b2c3d4e5f6a7b8c9d"),
        ];
        for (stored, shown) in cases {
            assert_eq!(shown_target(stored), shown, "{stored}");
            assert_eq!(shown_target(shown), shown, "{shown}");
        }
    }

    #[test]
    fn a_forward_shows_where_it_goes_but_not_the_key_in_its_path() {
        // (URL, as its target describes it, as its command shows it)
        let cases = [
            // The receiver's own path words stay readable.
            (
                "https://ci.example.com/api/hooks/build?x=1",
                "https://ci.example.com/api/hooks/build",
                "https://ci.example.com/api/hooks/build?x=1",
            ),
            (
                "https://example.com/services/T0/B0/hello",
                "https://example.com/services/T0/B0/hello",
                "https://example.com/services/T0/B0/hello",
            ),
            (
                "https://zapier.example.com/hooks/catch/1/abcdefg/",
                "https://zapier.example.com/hooks/catch/1/abcdefg/",
                "https://zapier.example.com/hooks/catch/1/abcdefg/",
            ),
            // A token-like segment, anywhere, on any host; a `bot<token>` too.
            (
                "https://ci.example.com/hooks/5b2e3a4c-0d1e-4f5a-8b9c-0123456789ab/build",
                "https://ci.example.com/hooks/***/build",
                "https://ci.example.com/hooks/***/build",
            ),
            (
                "https://relay.example.com/bot123:ABC/in",
                "https://relay.example.com/bot***/in",
                "https://relay.example.com/bot***/in",
            ),
            (
                "https://u:pw@sink.example.com/in/AbCdEf123456GhIjKl7890?token=t1&x=1",
                "https://sink.example.com/in/***",
                "https://u:***@sink.example.com/in/***?token=***&x=1",
            ),
            // Known incoming webhooks: their key, however it looks.
            (
                "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/XXXXSECRETXXXX",
                "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/***",
                "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/***",
            ),
            (
                "https://discord.com/api/webhooks/1234567890/AbCdEfGhIjKlMnOp",
                "https://discord.com/api/webhooks/1234567890/***",
                "https://discord.com/api/webhooks/1234567890/***",
            ),
            (
                "https://x.webhook.office.com/webhookb2/g1@g2/IncomingWebhook/0a1b2c3d4e5f60718293a4b5c6d7e8f9/owner",
                "https://x.webhook.office.com/webhookb2/g1@g2/IncomingWebhook/***/***",
                "https://x.webhook.office.com/webhookb2/g1@g2/IncomingWebhook/***/***",
            ),
            (
                "http://open-webui:8080/api/v1/channels/webhooks/ch1/owuitoken",
                "http://open-webui:8080/api/v1/channels/webhooks/ch1/***",
                "http://open-webui:8080/api/v1/channels/webhooks/ch1/***",
            ),
            (
                "https://hooks.zapier.com/hooks/catch/123456/abcdefg/",
                "https://hooks.zapier.com/hooks/catch/123456/***/",
                "https://hooks.zapier.com/hooks/catch/123456/***/",
            ),
            // Zapier's key is the segment after its account, a silent hook's too.
            (
                "https://hooks.zapier.com/hooks/catch/123456/abcdefg/silent/",
                "https://hooks.zapier.com/hooks/catch/123456/***/silent/",
                "https://hooks.zapier.com/hooks/catch/123456/***/silent/",
            ),
            (
                "https://hooks.zapier.com/hooks/standard/123456/abcdefg/",
                "https://hooks.zapier.com/hooks/standard/123456/***/",
                "https://hooks.zapier.com/hooks/standard/123456/***/",
            ),
            // A host with its trailing dot is the same host.
            (
                "https://hooks.zapier.com./hooks/catch/123456/abcdefg/",
                "https://hooks.zapier.com./hooks/catch/123456/***/",
                "https://hooks.zapier.com./hooks/catch/123456/***/",
            ),
            (
                "https://hooks.slack.com./services/T0123ABCD/B0123ABCD/XXXXSECRETXXXX",
                "https://hooks.slack.com./services/T0123ABCD/B0123ABCD/***",
                "https://hooks.slack.com./services/T0123ABCD/B0123ABCD/***",
            ),
            (
                "https://hook.eu1.make.com/abcdefghijklmnopqrstuvwxyzabcdef",
                "https://hook.eu1.make.com/***",
                "https://hook.eu1.make.com/***",
            ),
            (
                "https://maker.ifttt.com/trigger/deploy/with/key/dA1b2C3",
                "https://maker.ifttt.com/trigger/deploy/with/key/***",
                "https://maker.ifttt.com/trigger/deploy/with/key/***",
            ),
            // Query values named as credentials however a service spells them.
            (
                "https://b.s3.example.com/in?X-Amz-Credential=AK%2F1&X-Amz-Signature=ab12&n=1",
                "https://b.s3.example.com/in",
                "https://b.s3.example.com/in?X-Amz-Credential=***&X-Amz-Signature=***&n=1",
            ),
            (
                "https://sink.example.com/in?hmac=ab12&pass=pw&secretkey=s1&jwt=e.y.j",
                "https://sink.example.com/in",
                "https://sink.example.com/in?hmac=***&pass=***&secretkey=***&jwt=***",
            ),
        ];
        for (url, described, shown) in cases {
            assert_eq!(redact_forward_url(url), described, "{url}");
            assert_eq!(mask_forward_url(url), shown, "{url}");
            // Shown masked, it is a credential: stored sealed, refused if sent, put back if
            // given back as shown.
            assert_eq!(url_is_credential(false, url), shown != url, "{url}");
            if shown != url {
                assert!(masked_url_refusal(shown).is_some(), "{shown}");
                assert_eq!(restore_url(shown, url, true).as_deref(), Some(url), "{url}");
            }
        }
    }

    #[test]
    fn a_url_given_with_its_credentials_taken_out_is_taken_as_given_where_none_lists_it_so() {
        let stored = "http://u:pw1@sink.example.com/f?token=t1";
        let bare = "http://sink.example.com/f";
        assert_eq!(restore_url(bare, stored, false), None);
        // A channel's URL is listed so: written back, it keeps what was left out.
        assert_eq!(restore_url(bare, stored, true).as_deref(), Some(stored));
        assert_eq!(
            restore_url("http://u:***@sink.example.com/f?token=***", stored, false).as_deref(),
            Some(stored)
        );
    }

    #[test]
    fn a_forward_url_edited_with_its_path_still_masked_gets_its_key_back() {
        let stored = "https://hooks.zapier.com/hooks/catch/123456/abcdefg/?token=t1";
        let edited = "https://hooks.zapier.com/hooks/catch/123456/***/?token=***&x=2";
        assert_eq!(
            restore_url(edited, stored, true).as_deref(),
            Some("https://hooks.zapier.com/hooks/catch/123456/abcdefg/?token=t1&x=2")
        );
        // Not where the path no longer lines up, nor to another server.
        for elsewhere in [
            "https://hooks.zapier.com/hooks/catch/***/",
            "https://evil.example.net/hooks/catch/123456/***/",
        ] {
            assert_eq!(restore_url(elsewhere, stored, true), None, "{elsewhere}");
        }
        // A key in the query or before the host is not pointed at another endpoint either.
        let stored = "https://u:pw1@sink.example.com/in?token=t1&code=c1";
        for elsewhere in [
            "https://sink.example.com/admin/x?token=***",
            "https://u:***@sink.example.com/admin",
            "https://sink.example.com/in/x?code=***",
        ] {
            assert_eq!(restore_url(elsewhere, stored, true), None, "{elsewhere}");
        }
        assert_eq!(
            restore_url(
                "https://u:***@sink.example.com/in?token=***&x=2",
                stored,
                true
            )
            .as_deref(),
            Some("https://u:pw1@sink.example.com/in?token=t1&x=2")
        );
        // A trailing `/` added (or dropped) is the same endpoint.
        assert_eq!(
            restore_url("https://u:***@sink.example.com/in/?token=***", stored, true).as_deref(),
            Some("https://u:pw1@sink.example.com/in/?token=t1")
        );
        assert_eq!(
            restore_url(
                "https://bot:***@ghe.example.com/api/v3",
                "https://bot:pw@ghe.example.com/api/v3/",
                true
            )
            .as_deref(),
            Some("https://bot:pw@ghe.example.com/api/v3")
        );
    }

    /// What an edit of `stored` to `given` saves: the URL kept, or `Err` where it is refused
    /// (a mask left that nothing stored may stand behind), as a command's update has it.
    fn edit(given: &str, stored: &str) -> Result<String, &'static str> {
        let url = restore_url(given, stored, true).unwrap_or_else(|| given.to_string());
        match masked_url_refusal(&url) {
            Some(refused) => Err(refused),
            None => Ok(url),
        }
    }

    #[test]
    fn an_edit_keeps_a_masked_key_only_in_its_place_on_the_path_it_had() {
        let zapier = "https://hooks.zapier.com/hooks/catch/123456/abc1def/";
        let channel = "http://open-webui:8080/api/v1/channels/webhooks/ch1/owuikey9";
        let slack = "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/SECRETXX";
        let token = "https://ci.example.com/hooks/5b2e3a4c-0d1e-4f5a-8b9c-0123456789ab/build";
        let bot = "https://relay.example.com/bot123:ABC/in";
        let telegram = "https://api.telegram.org/bot123:ABC/sendMessage";
        // (stored, edited, saved; None where the edit is refused)
        let cases = [
            // Kept: the path as it was shown, the rest of the URL edited.
            (
                zapier,
                "https://hooks.zapier.com/hooks/catch/123456/***/?x=1",
                Some("https://hooks.zapier.com/hooks/catch/123456/abc1def/?x=1"),
            ),
            (
                channel,
                "http://open-webui:8080/api/v1/channels/webhooks/ch1/***?x=1",
                Some("http://open-webui:8080/api/v1/channels/webhooks/ch1/owuikey9?x=1"),
            ),
            (
                token,
                "https://ci.example.com/hooks/***/build?x=1",
                Some("https://ci.example.com/hooks/5b2e3a4c-0d1e-4f5a-8b9c-0123456789ab/build?x=1"),
            ),
            (
                bot,
                "https://relay.example.com/bot***/in?x=1",
                Some("https://relay.example.com/bot123:ABC/in?x=1"),
            ),
            (
                telegram,
                "https://api.telegram.org/bot***/sendMessage?x=1",
                Some("https://api.telegram.org/bot123:ABC/sendMessage?x=1"),
            ),
            // Refused: any other change of the path, which could show the key under another
            // rule (a post_message target shows the last segment hidden, not Zapier's key;
            // a `bot…:` segment turns that off) or use it at another endpoint, ...
            (
                zapier,
                "https://hooks.zapier.com/hooks/catch/123456/***/silent/",
                None,
            ),
            (
                zapier,
                "https://hooks.zapier.com/hooks/catch/123456/***/x",
                None,
            ),
            (
                channel,
                "http://open-webui:8080/api/v1/channels/webhooks/ch2/***",
                None,
            ),
            (
                channel,
                "http://open-webui:8080/bot1:a/v1/channels/webhooks/ch1/***",
                None,
            ),
            (token, "https://ci.example.com/hooks/***/deploy", None),
            (bot, "https://relay.example.com/bot***/out", None),
            (telegram, "https://api.telegram.org/bot***/setWebhook", None),
            (
                zapier,
                "https://hooks.zapier.com/hooks/other/123456/***/x",
                None,
            ),
            (
                channel,
                "http://open-webui:8080/api/v1/channels/hooks/ch1/***",
                None,
            ),
            (
                slack,
                "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/***/x",
                None,
            ),
            // ... where nothing secret stood (a path word is no key to put back), ...
            (token, "https://ci.example.com/***/***/build", None),
            (
                zapier,
                "https://hooks.zapier.com/hooks/catch/***/***/",
                None,
            ),
            // ... a mask not as it was shown (no filling by prefix, which tests guesses; no
            // `a***` saved as typed), ...
            (token, "https://ci.example.com/hooks/5b2e***/build", None),
            (token, "https://ci.example.com/hooks/z***/build", None),
            (bot, "https://relay.example.com/bot1***/in", None),
            (token, "https://ci.example.com/hooks/bot***/build", None),
            (
                zapier,
                "https://hooks.zapier.com/hooks/catch/123456/a***/",
                None,
            ),
            // ... one mask kept and one not, and on another server.
            (bot, "https://relay.example.com/bot***/***", None),
            (
                zapier,
                "https://evil.example.net/hooks/catch/123456/***/",
                None,
            ),
        ];
        for (stored, edited, saved) in cases {
            let got = edit(edited, stored);
            assert_eq!(got.as_deref().ok(), saved, "{stored} edited to {edited}");
            if let Err(refused) = got {
                assert!(refused.contains("whole URL"), "{refused}");
            }
            // What is kept is shown with the key masked, as a forward and as a message.
            if let Some(saved) = saved {
                for shown in [mask_forward_url(saved), redact_secret_path(saved)] {
                    for key in ["abc1def", "owuikey9", "5b2e3a4c", "123:ABC"] {
                        assert!(!shown.contains(key), "{shown}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_telegram_url_loses_its_bot_token() {
        let url = "https://api.telegram.org/bot123:ABC/sendMessage";
        assert_eq!(
            redact_secret_path(url),
            "https://api.telegram.org/bot***/sendMessage"
        );
    }

    #[test]
    fn text_that_is_no_url_still_has_its_credentials_masked() {
        for (text, shown) in [
            (
                "bot:NOSCHEMEPW2@ghe.example.com/api/v3",
                "***@ghe.example.com/api/v3",
            ),
            (
                "https://u:LEAKPASS5@exa mple.com/api",
                "https://***@exa mple.com/api",
            ),
            (
                "https://exa mple.com/api?token=T0K",
                "https://exa mple.com/api?***",
            ),
            ("not a url", "not a url"),
        ] {
            assert_eq!(mask_url_credentials(text), shown, "{text}");
        }
        assert_eq!(
            redact_secret_path("admin:S3cret@hooks.example/in"),
            "***@hooks.example/in"
        );
    }

    #[test]
    fn a_forward_urls_credentials_are_masked_and_put_back_only_on_the_same_server() {
        let cases = [
            (
                "https://sink.example.com/in?x=1",
                "https://sink.example.com/in?x=1",
            ),
            (
                "https://SINK.example.com/a%20b",
                "https://SINK.example.com/a%20b",
            ),
            (
                "https://u:pw@sink.example.com/in?token=t1&x=1",
                "https://u:***@sink.example.com/in?token=***&x=1",
            ),
            (
                "https://ghp_abc@sink.example.com/in",
                "https://***@sink.example.com/in",
            ),
            (
                "https://x.logic.azure.com/wf?api-version=1&sig=S1G",
                "https://x.logic.azure.com/wf?api-version=1&sig=***",
            ),
            (
                "https://f.azurewebsites.net/api/h?code=C0DE",
                "https://f.azurewebsites.net/api/h?code=***",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(mask_url_credentials(url), shown, "{url}");
            if shown != url {
                assert!(masked_url_refusal(shown).is_some(), "{shown}");
                let back = unmask_url_credentials(shown, url).expect("put back");
                assert_eq!(
                    reqwest::Url::parse(&back).unwrap(),
                    reqwest::Url::parse(url).unwrap()
                );
            }
        }
        // Never to another server.
        let stored = "https://u:pw@sink.example.com/in?token=t1";
        for elsewhere in [
            "https://u:***@evil.example.net/in?token=***",
            "http://u:***@sink.example.com/in?token=***",
            "https://u:***@sink.example.com:8443/in?token=***",
        ] {
            assert_eq!(
                unmask_url_credentials(elsewhere, stored),
                None,
                "{elsewhere}"
            );
        }
    }

    #[test]
    fn path_segments_from_payloads_cannot_escape_their_place() {
        assert_eq!(encode_segment("group/sub proj"), "group%2Fsub%20proj");
        assert_eq!(encode_segment("ABC-12"), "ABC-12");
        assert!(segment("key", "..").is_err());
        assert!(segment("key", "").is_err());
    }

    #[test]
    fn channel_urls_and_forward_urls_with_credentials_are_credentials() {
        let cases = [
            (true, "https://hooks.slack.com/services/T0/B0/abc", true),
            (
                true,
                "https://chat.example.com/api/v1/channels/c1/webhook",
                true,
            ),
            (true, "", false),
            (false, "https://sink.example.com/in?x=1", false),
            (false, "https://u:pw@sink.example.com/in", true),
            (false, "https://ghp_abc@sink.example.com/in", true),
            (false, "https://sink.example.com/in?token=t1", true),
            (false, "https://fn.example.net/api/hook?code=abc", true),
            (
                false,
                "https://hooks.zapier.com/hooks/catch/1/abcdefg/",
                true,
            ),
            (false, "https://ci.example.com/api/hooks/build", false),
        ];
        for (channel, url, credential) in cases {
            assert_eq!(url_is_credential(channel, url), credential, "{url}");
        }
    }
}
