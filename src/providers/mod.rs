//! Providers: the pure first step of the receive path. Each provider file knows how its
//! sender signs a request, what the event type and delivery id are, and which thread of the
//! source ("repo#issue", Jira key, Slack channel+thread) the event belongs to.
//!
//! Nothing here does I/O or reads the clock: `now` is passed in, so every scheme is
//! table-tested with the providers' own vectors.

mod common;
pub mod custom;
pub mod event_names;
mod github;
pub mod gitlab;
mod header_type;
pub mod headline;
mod jira;
mod linear;
mod openwebui;
pub mod samples;
mod sentry;
pub mod sign;
mod site;
pub mod slack;
mod slack_token;
mod standard;
mod stripe;
#[cfg(test)]
mod vectors_test;

use std::fmt;
use std::str::FromStr;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use common::{ct_eq, random_token};
pub use custom::CustomOptions;

/// The id of the issue an event is about, where its key may differ or be missing: a Linear
/// issue's UUID (a comment may name its issue by id only, where the issue's own events say
/// `ENG-123`), a Jira issue's `10020` (it stays when the issue moves to another project, and is
/// all an older Data Center sender's comment event names). Replies and the service's own posts
/// coming back are found by it too.
pub fn issue_id(provider: Provider, payload: &Value) -> Option<String> {
    let at = |path: &str| common::str_at(payload, path);
    match provider {
        Provider::Linear => at("/data/issueId").or_else(|| at("/data/issue/id")),
        Provider::Jira => jira::issue_id(payload),
        _ => None,
    }
}
pub use site::site_of;

/// Every sender the receiver understands. A closed set, dispatched by `match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    GitHub,
    GitLab,
    Slack,
    Jira,
    Sentry,
    Linear,
    Stripe,
    StandardWebhooks,
    OpenWebUi,
    Custom,
}

impl Provider {
    pub const ALL: [Provider; 10] = [
        Provider::GitHub,
        Provider::GitLab,
        Provider::Slack,
        Provider::Jira,
        Provider::Sentry,
        Provider::Linear,
        Provider::Stripe,
        Provider::StandardWebhooks,
        Provider::OpenWebUi,
        Provider::Custom,
    ];

    /// The name used in URLs (`/webhooks/{provider}/{id}`), the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::Slack => "slack",
            Provider::Jira => "jira",
            Provider::Sentry => "sentry",
            Provider::Linear => "linear",
            Provider::Stripe => "stripe",
            Provider::StandardWebhooks => "standard-webhooks",
            Provider::OpenWebUi => "openwebui",
            Provider::Custom => "custom",
        }
    }

    /// The comma-separated list of names, for error messages, with the senders' names that
    /// stand for a scheme (`svix`, `openai`), which users reach for first.
    pub fn names() -> String {
        format!(
            "{} (also `svix` and `openai` for standard-webhooks, `atlassian` for jira)",
            Self::ALL.map(Provider::as_str).join(", ")
        )
    }

    /// Whether the provider issues the signing secret itself (shown in its app settings), so a
    /// generated one verifies nothing it sends.
    pub fn issues_own_secret(self) -> bool {
        matches!(
            self,
            Provider::Slack | Provider::Stripe | Provider::Sentry | Provider::Linear
        )
    }

    /// The sender a webhook created as `given` (a provider's name or an alias) is for, when
    /// that sender issues the signing secret itself, so that a generated one verifies nothing
    /// it sends. OpenAI signs with Standard Webhooks, whose other senders may take ours, but
    /// its dashboard makes the secret.
    pub fn own_secret_issuer(given: &str) -> Option<String> {
        match given.trim().parse::<Provider>() {
            Ok(p) if p.issues_own_secret() => Some(p.as_str().to_string()),
            Ok(_) => Self::secret_issuing_alias(given).map(str::to_string),
            Err(()) => None,
        }
    }

    /// The alias `given` is (as stored in a webhook's `options.sender`), when that alias's
    /// sender makes the signing secret itself while the provider's other senders take ours.
    pub fn secret_issuing_alias(given: &str) -> Option<&'static str> {
        let name = given.trim().to_ascii_lowercase();
        SECRET_ISSUING_ALIASES
            .into_iter()
            .find(|alias| *alias == name)
    }

    /// Generates a secret in the form this provider's verifier expects.
    pub fn generate_secret(self) -> String {
        match self {
            Provider::StandardWebhooks => standard::generate_secret(),
            _ => common::random_token(32),
        }
    }
}

/// Aliases whose sender issues its own signing secret, unlike their provider's other senders:
/// OpenAI's dashboard makes it, where Svix and other Standard Webhooks senders take ours.
const SECRET_ISSUING_ALIASES: [&str; 1] = ["openai"];

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = ();

    /// Accepts the canonical names plus the few aliases people type (`svix` and `openai`
    /// sign with Standard Webhooks; `atlassian` is Jira).
    fn from_str(s: &str) -> Result<Self, ()> {
        let p = match s.to_ascii_lowercase().as_str() {
            "github" => Provider::GitHub,
            "gitlab" => Provider::GitLab,
            "slack" => Provider::Slack,
            "jira" | "atlassian" => Provider::Jira,
            "sentry" => Provider::Sentry,
            "linear" => Provider::Linear,
            "stripe" => Provider::Stripe,
            "standard-webhooks" | "standard_webhooks" | "standardwebhooks" | "svix" | "openai" => {
                Provider::StandardWebhooks
            }
            "openwebui" | "open-webui" | "open_webui" => Provider::OpenWebUi,
            "custom" | "generic" => Provider::Custom,
            _ => return Err(()),
        };
        Ok(p)
    }
}

/// The parts of an HTTP request that verification and description read.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub headers: &'a HeaderMap,
    /// The raw body exactly as received: every scheme signs these bytes, never re-serialised JSON.
    pub body: &'a [u8],
    /// The raw query string, where Open WebUI and token-mode custom hooks carry their token.
    pub query: Option<&'a str>,
    /// Unix time in milliseconds (Linear's window is in ms; the others divide by 1000).
    pub now_ms: i64,
}

impl Request<'_> {
    pub fn now_secs(&self) -> i64 {
        self.now_ms.div_euclid(1000)
    }
}

/// The secrets a request may be signed with: the current one and, during a rotation grace
/// period, the one before it.
#[derive(Debug, Clone, Copy)]
pub struct Secrets<'a> {
    pub current: &'a str,
    pub previous: Option<&'a str>,
}

impl<'a> Secrets<'a> {
    /// Tries `check` with the current secret, then the previous one.
    pub fn try_each(
        &self,
        mut check: impl FnMut(&'a str) -> Result<(), VerifyError>,
    ) -> Result<KeyUsed, VerifyError> {
        match check(self.current) {
            Ok(()) => Ok(KeyUsed::Current),
            Err(VerifyError::BadSignature) if self.previous.is_some() => {
                check(self.previous.unwrap_or_default()).map(|()| KeyUsed::Previous)
            }
            Err(e) => Err(e),
        }
    }
}

/// Which secret verified the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyUsed {
    Current,
    Previous,
}

/// Per-webhook settings that change how a request is verified or described.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderOptions {
    /// Replay window in seconds for schemes that sign a timestamp (Slack, Stripe, Standard
    /// Webhooks). Linear's own SDK uses 60 s; this overrides it too when set.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number"
    )]
    pub tolerance_secs: Option<i64>,
    /// How a `custom` webhook signs requests and where its event type lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomOptions>,
    /// Credentials and base URLs for replying on this webhook's source (comments, Slack
    /// messages), overriding the global ones. Not read by verification; shown masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<ReplyCredentials>,
    /// Requests per second this webhook accepts (token bucket); 429 beyond.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Source addresses or CIDR ranges allowed to call this webhook (e.g. GitHub's hook
    /// ranges); everyone when absent. Others get 403.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_allowlist: Option<Vec<String>>,
    /// The sender a webhook was created for by its alias (`openai` for `standard-webhooks`),
    /// kept when that sender issues the signing secret itself: a rotation then needs the
    /// secret it shows, as for Stripe. Not read by verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
}

/// A token bucket: `per_second` refill, `burst` capacity (default `per_second`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(deserialize_with = "at_least_one")]
    pub per_second: u32,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "at_least_one_if_given"
    )]
    pub burst: Option<u32>,
}

/// A [`whole_number`] from 1, refused below in those words (a range from 0 would be told to
/// a caller whose 0 is refused too).
fn at_least_one<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    whole_number::<D, std::num::NonZeroU32>(d).map(std::num::NonZeroU32::get)
}

/// [`at_least_one`], or null.
fn at_least_one_if_given<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    whole_number::<D, Option<std::num::NonZeroU32>>(d).map(|n| n.map(std::num::NonZeroU32::get))
}

/// A number field that also takes a whole float (`10.0`, `1e2`), as JSON Schema's `integer`
/// does and as models write them; a fraction is refused by the field's own type.
pub(crate) fn whole_number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Value::deserialize(d)?;
    let value = as_whole(&value).unwrap_or(value);
    T::deserialize(value).map_err(serde::de::Error::custom)
}

/// A float with no fraction, as an integer (within i64); `None` for anything else. The one rule
/// for whole floats, in options here and in MCP tool arguments.
pub(crate) fn as_whole(value: &Value) -> Option<Value> {
    let n = value.as_number().filter(|n| n.is_f64())?.as_f64()?;
    (n.fract() == 0.0 && n.abs() < 9.0e15).then(|| Value::from(n as i64))
}

/// Per-webhook credentials for the connectors. Every field is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReplyCredentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_token: Option<String>,
    /// GitHub Enterprise: `https://github.example.com/api/v3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab_token: Option<String>,
    /// Self-hosted GitLab: `https://gitlab.example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira_base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira_api_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_bot_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear_api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_bot_token: Option<String>,
}

/// What masked credentials look like in API output; sent back unchanged, it keeps the value.
pub const MASK: &str = "********";

impl ReplyCredentials {
    /// A copy with every secret replaced by [`MASK`], and a password (or token) written into
    /// a base URL masked too: the HTTP client sends it as a credential. The rest of the URLs
    /// and the Jira email stay readable.
    pub fn masked(&self) -> ReplyCredentials {
        let m = |v: &Option<String>| v.as_ref().map(|_| MASK.to_string());
        let url = |v: &Option<String>| v.as_deref().map(crate::actions::mask_url_credentials);
        ReplyCredentials {
            github_token: m(&self.github_token),
            github_api_url: url(&self.github_api_url),
            gitlab_token: m(&self.gitlab_token),
            gitlab_url: url(&self.gitlab_url),
            jira_base_url: url(&self.jira_base_url),
            jira_email: self.jira_email.clone(),
            jira_api_token: m(&self.jira_api_token),
            slack_bot_token: m(&self.slack_bot_token),
            linear_api_key: m(&self.linear_api_key),
            telegram_bot_token: m(&self.telegram_bot_token),
        }
    }

    /// The fields that hold secrets, for sealing and masking.
    pub fn secret_fields_mut(&mut self) -> [&mut Option<String>; 6] {
        [
            &mut self.github_token,
            &mut self.gitlab_token,
            &mut self.jira_api_token,
            &mut self.slack_bot_token,
            &mut self.linear_api_key,
            &mut self.telegram_bot_token,
        ]
    }

    /// Replaces masked values in `self` (an update) with the values in `old`: a token given
    /// as the mask, a base URL given as shown (or with only its query edited, on the same
    /// server and path, its hidden credentials kept: `actions::restore_url`).
    pub fn unmask_from(&mut self, old: &ReplyCredentials) {
        // A mask with nothing stored behind it stays, for `still_masked` to refuse.
        let keep = |new: &mut Option<String>, old: &Option<String>| {
            if new.as_deref() == Some(MASK) && old.is_some() {
                new.clone_from(old);
            }
        };
        keep(&mut self.github_token, &old.github_token);
        keep(&mut self.gitlab_token, &old.gitlab_token);
        keep(&mut self.jira_api_token, &old.jira_api_token);
        keep(&mut self.slack_bot_token, &old.slack_bot_token);
        keep(&mut self.linear_api_key, &old.linear_api_key);
        keep(&mut self.telegram_bot_token, &old.telegram_bot_token);
        let keep_url = |new: &mut Option<String>, old: &Option<String>| {
            let (Some(given), Some(stored)) = (new.as_deref(), old.as_deref()) else {
                return;
            };
            // Listed with its credentials masked, never left out: the URL without them is one
            // with them taken out.
            if let Some(restored) = crate::actions::restore_url(given, stored, false) {
                *new = Some(restored);
            }
        };
        keep_url(&mut self.github_api_url, &old.github_api_url);
        keep_url(&mut self.gitlab_url, &old.gitlab_url);
        keep_url(&mut self.jira_base_url, &old.jira_base_url);
    }

    /// The first field still showing a mask (once stored values were put back): a value
    /// copied from a listing where nothing stands behind it here, which would be sent as is.
    pub fn still_masked(&self) -> Option<(&'static str, &'static str)> {
        let tokens = [
            ("github_token", &self.github_token),
            ("gitlab_token", &self.gitlab_token),
            ("jira_api_token", &self.jira_api_token),
            ("slack_bot_token", &self.slack_bot_token),
            ("linear_api_key", &self.linear_api_key),
            ("telegram_bot_token", &self.telegram_bot_token),
        ];
        if let Some((name, _)) = tokens.into_iter().find(|(_, v)| v.as_deref() == Some(MASK)) {
            return Some((
                name,
                "this is the mask a listing shows in place of a token, and no stored token \
                 stands behind it here: give the token itself",
            ));
        }
        let urls = [
            ("github_api_url", &self.github_api_url),
            ("gitlab_url", &self.gitlab_url),
            ("jira_base_url", &self.jira_base_url),
        ];
        urls.into_iter().find_map(|(name, url)| {
            crate::actions::masked_url_refusal(url.as_deref()?).map(|why| (name, why))
        })
    }
}

/// Default replay window for timestamped schemes, as the providers' SDKs use.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a request was refused. Every variant is a 401 at the edge; the text goes to the log
/// and the event log, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A signed field the sender always sends, missing from the body.
    #[error("missing {0}")]
    MissingField(&'static str),
    #[error("missing token (send it as ?token= in the URL)")]
    MissingToken,
    /// A custom token webhook's: the header it is configured to read, or the URL.
    #[error("missing token (send it in the {0} header, or as ?token= in the URL)")]
    MissingTokenIn(String),
    #[error("malformed signature: {0}")]
    Malformed(&'static str),
    /// A signature, or a token for the token schemes (GitLab, Open WebUI, custom `token`).
    #[error("signature or token does not match the webhook's secret")]
    BadSignature,
    #[error("timestamp outside the allowed window")]
    StaleTimestamp,
    #[error("webhook is misconfigured: {0}")]
    Misconfigured(String),
    /// Signed in a way no webhook here can verify; the text says what to set up instead.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// Checks the request's signature (or token) in constant time against the webhook's secrets.
pub fn verify(
    provider: Provider,
    secrets: Secrets<'_>,
    options: &ProviderOptions,
    req: &Request<'_>,
) -> Result<KeyUsed, VerifyError> {
    let tolerance = options.tolerance_secs;
    match provider {
        Provider::GitHub => github::verify(secrets, req),
        Provider::GitLab => gitlab::verify(secrets, req, tolerance),
        Provider::Slack => slack::verify(secrets, req, tolerance),
        Provider::Jira => jira::verify(secrets, req),
        Provider::Sentry => sentry::verify(secrets, req),
        Provider::Linear => linear::verify(secrets, req, tolerance),
        Provider::Stripe => stripe::verify(secrets, req, tolerance),
        Provider::StandardWebhooks => standard::verify(secrets, req, tolerance),
        Provider::OpenWebUi => openwebui::verify(secrets, req),
        Provider::Custom => custom::verify(secrets, req, options.custom.as_ref()),
    }
}

/// The body as it is kept, shown and forwarded: a credential the sender puts in it (Slack's
/// legacy verification token) replaced by a marker, the rest as sent. `None` when it carries
/// none. The signature is checked on the body as sent, before this.
pub fn without_credentials(provider: Provider, body: &[u8]) -> Option<Vec<u8>> {
    match provider {
        Provider::Slack => slack_token::without_token(body),
        _ => None,
    }
}

/// The body as JSON, whatever form it came in: GitHub and Slack may send
/// `application/x-www-form-urlencoded` (`payload=<json>` or slash-command fields).
pub fn parse_payload(provider: Provider, body: &[u8]) -> Result<Value, PayloadError> {
    // Some senders (.NET's default UTF-8 encoder among them) start the body with a byte-order
    // mark, which JSON parsers refuse. The signature covers the raw bytes, checked before this.
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let body = &*crate::lone_surrogates::mended(body);
    match provider {
        Provider::GitHub => github::parse_payload(body),
        Provider::Slack => slack::parse_payload(body),
        _ => common::parse_json_or_form(body),
    }
}

/// A body that is neither JSON nor a form this provider sends; the message says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadError(pub String);

impl PayloadError {
    /// A body read as JSON, and not: `why` is what is wrong with it.
    pub fn not_json(why: impl std::fmt::Display) -> PayloadError {
        PayloadError(format!("body is not valid JSON: {why}"))
    }
}

/// What a verified request is about, as commands will match it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Described {
    /// e.g. `issues.opened`, `jira:issue_created`, `message`, `issue.created`, `Issue.create`.
    pub event_type: String,
    /// The sender's id for this delivery, the same on every retry: the dedup key.
    pub delivery_id: Option<String>,
    /// The thread on the source this event belongs to (where a comment or reply goes).
    pub source: Option<SourceRef>,
    /// A handshake the sender expects answered instead of `{"event_id"...}`.
    pub handshake: Option<Handshake>,
}

/// The Slack message a delivery carries, named `channel:ts` as the service names its own
/// posts (a `ts` is unique within its channel only).
pub fn slack_message(payload: &Value) -> Option<String> {
    let at = |p: &str| payload.pointer(p).and_then(Value::as_str);
    Some(format!("{}:{}", at("/event/channel")?, at("/event/ts")?))
}

/// The thread a delivery says moved away, by the key its events had there: a GitHub issue
/// transferred to another repository (its `issues.transferred` names the new one, which is
/// the delivery's source). The tasks on the old thread follow it there.
pub fn moved_from(provider: Provider, event_type: &str, payload: &Value) -> Option<String> {
    if provider != Provider::GitHub || event_type != "issues.transferred" {
        return None;
    }
    let repo = payload.pointer("/repository/full_name")?.as_str()?;
    let number = payload.pointer("/issue/number").filter(|n| n.is_u64())?;
    Some(format!("{repo}#{number}"))
}

/// Whether events a trigger matches can have a thread to reply on (`comment`, `ask`): never
/// for providers whose events have none, nor for GitHub events that are the repository's
/// (`push`, `release.published`), nor for Linear or Jira events about no issue (a project, a
/// sprint); a pattern that could match either may.
pub fn replies_possible(provider: Provider, trigger: &str) -> bool {
    match provider {
        Provider::Sentry
        | Provider::Stripe
        | Provider::StandardWebhooks
        | Provider::OpenWebUi
        | Provider::Custom => false,
        Provider::GitHub => {
            let event = trigger.split('.').next().unwrap_or_default();
            event.contains('*')
                || github::THREAD_EVENTS.contains(&event)
                || github::RUN_EVENTS.contains(&event)
        }
        Provider::GitLab => {
            let event = trigger.split('.').next().unwrap_or_default();
            event.contains('*') || gitlab::THREAD_EVENTS.contains(&event)
        }
        Provider::Slack => !slack::INTERACTIONS_OUTSIDE_A_CHANNEL.contains(&trigger.trim()),
        Provider::Linear => {
            let kind = trigger.split('.').next().unwrap_or_default();
            kind.contains('*') || linear::has_issue(kind)
        }
        Provider::Jira => jira::may_name_an_issue(trigger.trim()),
    }
}

/// The GitHub run event (`workflow_run`, `check_run`, `check_suite`) a trigger names: such an
/// event has a thread to reply on only when the run was for a pull request of the repository.
pub fn run_event(provider: Provider, trigger: &str) -> Option<&'static str> {
    let event = trigger.split('.').next()?;
    match provider {
        Provider::GitHub => github::RUN_EVENTS.into_iter().find(|e| *e == event),
        Provider::GitLab => (event == "pipeline").then_some("pipeline"),
        _ => None,
    }
}

/// Where on the source an event happened. `key` is stable per thread, so a reply to the same
/// issue or Slack thread carries the same key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    /// e.g. `github.issue`, `github.pull_request`, `gitlab.merge_request`, `gitlab.commit`,
    /// `jira.issue`, `slack.thread`, `sentry.issue`, `linear.issue`, `stripe.object`,
    /// `openwebui.chat`.
    pub kind: String,
    /// e.g. `octo/hello#12`, `TEST-1`, `C0123:1712345678.000100`, `ENG-123`.
    pub key: String,
    /// The fields a connector needs to reach the thread (repo, number, channel, thread_ts, ...).
    #[serde(default)]
    pub detail: serde_json::Map<String, Value>,
}

/// The longest source key kept as sent, in bytes: real ones (`owner/repo#12`, a Slack
/// `channel:ts`, a Jira key) are far shorter.
const MAX_SOURCE_KEY_BYTES: usize = 256;

/// The longest source detail kept, in bytes of its JSON: repository paths, ids, thread stamps
/// and links are far shorter.
const MAX_SOURCE_DETAIL_BYTES: usize = 2048;

impl SourceRef {
    /// The source as stored, indexed and shown on every listing of its event: a sender writes
    /// the values it is read from, and they must not make each stored row, index entry and
    /// answer as large as the payload. A key too long is kept as its start and a digest of
    /// the whole (so every event of the same thread still has the same key); a detail too long
    /// is left out (a reply that needed it then says the source lacks what it needs).
    pub fn bounded(mut self) -> SourceRef {
        self.key = bounded_id(self.key, MAX_SOURCE_KEY_BYTES);
        self.detail.retain(|_, value| match value {
            Value::String(text) => text.len() <= MAX_SOURCE_DETAIL_BYTES,
            Value::Number(_) | Value::Bool(_) => true,
            other => other.to_string().len() <= MAX_SOURCE_DETAIL_BYTES,
        });
        self
    }
}

/// A protocol exchange the receiver answers itself, before any event is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Handshake {
    /// Slack `url_verification`: reply 200 with the challenge.
    SlackChallenge { challenge: String },
    /// Slack `ssl_check=1` on a slash-command URL: reply 200, empty.
    SlackSslCheck,
}

/// Reads the event type, delivery id, source thread and any handshake from a verified request.
pub fn describe(
    provider: Provider,
    options: &ProviderOptions,
    headers: &HeaderMap,
    payload: &Value,
) -> Described {
    let mut described = match provider {
        Provider::GitHub => github::describe(headers, payload),
        Provider::GitLab => gitlab::describe(headers, payload),
        Provider::Slack => slack::describe(headers, payload),
        Provider::Jira => jira::describe(headers, payload),
        Provider::Sentry => sentry::describe(headers, payload),
        Provider::Linear => linear::describe(headers, payload),
        Provider::Stripe => stripe::describe(headers, payload),
        Provider::StandardWebhooks => standard::describe(headers, payload),
        Provider::OpenWebUi => openwebui::describe(headers, payload),
        Provider::Custom => custom::describe(options.custom.as_ref(), headers, payload),
    };
    described.source = described.source.map(SourceRef::bounded);
    // Read from the body by some senders (a custom `event_type_pointer`): it is stored and
    // shown on every listing, so a sender cannot make it as large as the payload.
    described.event_type = bounded_type(described.event_type);
    described.delivery_id = described
        .delivery_id
        .map(|id| bounded_id(id, MAX_EVENT_TYPE_BYTES));
    described
}

/// The longest event type kept, as the type a test event may be given.
pub const MAX_EVENT_TYPE_BYTES: usize = 200;

/// An event type cut to [`MAX_EVENT_TYPE_BYTES`], wherever it was read from.
pub(crate) fn bounded_type(mut event_type: String) -> String {
    if event_type.len() > MAX_EVENT_TYPE_BYTES {
        let cut = event_type.floor_char_boundary(MAX_EVENT_TYPE_BYTES);
        event_type.truncate(cut);
    }
    event_type
}

/// An id (a delivery's, a source's key) too long to keep whole, kept as its start and a digest
/// of the whole, so the same id still matches itself.
fn bounded_id(id: String, max: usize) -> String {
    if id.len() <= max {
        return id;
    }
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(id.as_bytes()));
    format!("{}…sha256:{digest}", &id[..id.floor_char_boundary(64)])
}

pub use header_type::{header_delivery_id, header_event_type};

/// Names of the headers that carry secrets or signatures, dropped before headers are stored.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "x-gitlab-token",
    "x-webhook-token",
    "proxy-authorization",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_type_or_delivery_id_read_from_the_body_is_kept_bounded() {
        let options = ProviderOptions {
            custom: Some(
                serde_json::from_value(serde_json::json!({
                    "event_type_pointer": "/type", "delivery_id_pointer": "/id"}))
                .expect("options"),
            ),
            ..Default::default()
        };
        let long = |id: &str| format!("{id}{}", "é".repeat(450_000));
        let payload = serde_json::json!({"type": long("t"), "id": long("a")});
        let other = serde_json::json!({"type": "t", "id": long("b")});

        let d = describe(Provider::Custom, &options, &HeaderMap::new(), &payload);
        let e = describe(Provider::Custom, &options, &HeaderMap::new(), &other);

        assert!(
            d.event_type.len() <= MAX_EVENT_TYPE_BYTES,
            "{}",
            d.event_type.len()
        );
        assert!(d.event_type.starts_with("té"));
        let (a, b) = (d.delivery_id.expect("id"), e.delivery_id.expect("id"));
        assert!(a.len() < 200 && a.starts_with("aé"), "{a}");
        assert_ne!(a, b, "ids that differ stay apart");
    }

    #[test]
    fn a_source_is_kept_bounded_and_the_same_for_the_same_thread() {
        let source = |key: &str, detail: Value| {
            SourceRef {
                kind: "openwebui.chat".into(),
                key: key.into(),
                detail: detail.as_object().cloned().expect("object"),
            }
            .bounded()
        };
        let small = serde_json::json!({"chat_id": "c1", "number": 7, "internal": true,
                                       "thread": {"id": "t"}});
        assert_eq!(
            source("octo/app#12", small.clone()).detail,
            *small.as_object().unwrap()
        );
        assert_eq!(source("octo/app#12", small.clone()).key, "octo/app#12");
        let at_limit = "k".repeat(MAX_SOURCE_KEY_BYTES);
        assert_eq!(source(&at_limit, small.clone()).key, at_limit);

        let long = format!("é{}", "a".repeat(400));
        let kept = source(&long, small.clone()).key;
        assert!(kept.starts_with(&long[..63]), "{kept}");
        assert!(kept.len() < 160, "{kept}");
        assert_eq!(
            source(&long, small.clone()).key,
            kept,
            "the same thread, the same key"
        );
        assert_ne!(source(&format!("{long}b"), small).key, kept);

        let big = serde_json::json!({"chat_id": "c1", "url": "A".repeat(600_000),
                                     "number": 1, "blob": ["x".repeat(3000)],
                                     "at_limit": "u".repeat(MAX_SOURCE_DETAIL_BYTES)});
        let detail = source("c1", big).detail;
        let mut names: Vec<&String> = detail.keys().collect();
        names.sort();
        assert_eq!(names, ["at_limit", "chat_id", "number"]);
    }

    #[test]
    fn options_take_whole_floats_for_their_numbers_and_refuse_fractions() {
        let parse =
            |v: Value| serde_json::from_value::<ProviderOptions>(v).map_err(|e| e.to_string());
        let cases = [
            (
                serde_json::json!({"tolerance_secs": 300.0, "rate_limit": {"per_second": 1e1, "burst": 20.0}}),
                Ok((
                    Some(300),
                    Some(RateLimit {
                        per_second: 10,
                        burst: Some(20),
                    }),
                )),
            ),
            (
                serde_json::json!({"tolerance_secs": null, "rate_limit": {"per_second": 5}}),
                Ok((
                    None,
                    Some(RateLimit {
                        per_second: 5,
                        burst: None,
                    }),
                )),
            ),
            (serde_json::json!({"tolerance_secs": 1.5}), Err("1.5")),
            (
                serde_json::json!({"rate_limit": {"per_second": -1.0}}),
                Err("-1"),
            ),
            (
                serde_json::json!({"rate_limit": {"per_second": "5"}}),
                Err("string \"5\""),
            ),
            (
                serde_json::json!({"rate_limit": {"burst": 5}}),
                Err("per_second"),
            ),
            (
                serde_json::json!({"rate_limit": {"per_second": 1, "bursts": 5}}),
                Err("bursts"),
            ),
        ];
        for (given, expected) in cases {
            let got = parse(given.clone()).map(|o| (o.tolerance_secs, o.rate_limit));
            match (&got, expected) {
                (Ok(got), Ok(want)) => assert_eq!(*got, want, "{given}"),
                (Err(message), Err(part)) => assert!(message.contains(part), "{given}: {message}"),
                _ => panic!("{given}: got {got:?}"),
            }
        }
    }

    #[test]
    fn a_leading_byte_order_mark_is_not_part_of_the_json() {
        for provider in [Provider::GitHub, Provider::Jira, Provider::Slack] {
            let parsed = parse_payload(provider, b"\xEF\xBB\xBF{\"a\":1}");
            assert_eq!(parsed, Ok(serde_json::json!({"a": 1})), "{provider}");
        }
    }

    #[test]
    fn replies_are_possible_only_where_events_can_have_a_thread() {
        let cases = [
            (Provider::GitHub, "issues.opened", true),
            (Provider::GitHub, "issues", true),
            (
                Provider::GitHub,
                "pull_request_review_comment.created",
                true,
            ),
            (Provider::GitHub, "*", true),
            (Provider::GitHub, "*.created", true),
            (Provider::GitHub, "push", false),
            (Provider::GitHub, "workflow_run.completed", true),
            (Provider::GitHub, "check_run", true),
            (Provider::GitLab, "note", true),
            (Provider::GitLab, "pipeline", true),
            (Provider::GitLab, "push", false),
            (Provider::GitLab, "tag_push", false),
            (Provider::GitHub, "release.published", false),
            (Provider::GitHub, "discussion.*", false),
            (Provider::Slack, "message", true),
            (Provider::Slack, "block_actions", true),
            (Provider::Slack, "/deploy", true),
            (Provider::Slack, "*", true),
            (Provider::Slack, "view_submission", false),
            (Provider::Slack, "shortcut", false),
            (Provider::Jira, "jira:issue_created", true),
            (Provider::Jira, "comment_created", true),
            (Provider::Jira, "worklog_updated", true),
            (Provider::Jira, "jira:worklog_updated", true),
            (Provider::Jira, "*", true),
            (Provider::Jira, "*_created", true),
            (Provider::Jira, "sprint_started", false),
            (Provider::Jira, "sprint_*", false),
            (Provider::Jira, "board_created", false),
            (Provider::Jira, "project_updated", false),
            (Provider::Jira, "jira:version_released", false),
            (Provider::Jira, "jira:version_*", false),
            (Provider::Linear, "Issue.create", true),
            (Provider::Linear, "Comment", true),
            (Provider::Linear, "AgentSessionEvent.prompted", true),
            (
                Provider::Linear,
                "AppUserNotification.issueCommentMention",
                true,
            ),
            (Provider::Linear, "IssueSLA.breached", true),
            (Provider::Linear, "Attachment.create", true),
            (Provider::Linear, "CustomerNeed.*", true),
            (Provider::Linear, "*", true),
            (Provider::Linear, "*.create", true),
            (Provider::Linear, "Project.create", false),
            (Provider::Linear, "Cycle.*", false),
            (Provider::Linear, "Reaction", false),
            (Provider::Linear, "IssueLabel.update", false),
            (Provider::Sentry, "*", false),
            (Provider::Custom, "build.done", false),
        ];
        for (provider, trigger, possible) in cases {
            assert_eq!(
                replies_possible(provider, trigger),
                possible,
                "{provider} {trigger}"
            );
        }
    }
}
