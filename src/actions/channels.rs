//! Chat channel connector for `post_message` (outbox worker → `actions::execute` → here):
//! posts text to an Open WebUI channel webhook or a Slack / Discord / Microsoft Teams
//! incoming webhook in each one's payload shape, or to a Telegram chat through the Bot API.
//!
//! Webhook URLs are user-given, so they go through the SSRF guard. Telegram: when `url`
//! is a full `https://api.telegram.org/bot<token>/sendMessage` URL (on any host, under any
//! path: `http://proxy/tg/bot<token>/sendMessage`) it is used as is (and guarded); otherwise
//! (e.g. empty) the message goes to `{telegram_api_url}/bot{TELEGRAM_BOT_TOKEN}/sendMessage`
//! from the credentials.

use std::fmt;
use std::str::FromStr;

use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{self, missing};
use super::{ActionError, Clients, Credentials, Sent};
use crate::text_cut;

/// Discord refuses longer `content`.
pub const DISCORD_LIMIT: usize = 2000;
/// Telegram refuses longer `text`, counted in UTF-16 code units (an emoji is two).
pub const TELEGRAM_LIMIT: usize = 4096;
/// Slack truncates longer `text`.
pub const SLACK_LIMIT: usize = 40_000;
/// Teams refuses a message over 28 KB (`413`); the card around the text takes well under the
/// rest, so the text is kept to this many bytes as it is written in JSON.
const TEAMS_TEXT_BYTES: usize = 24 * 1024;

/// The payload shape a channel URL expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    #[serde(rename = "openwebui")]
    OpenWebUi,
    Slack,
    Discord,
    Teams,
    Telegram,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::OpenWebUi => "openwebui",
            MessageKind::Slack => "slack",
            MessageKind::Discord => "discord",
            MessageKind::Teams => "teams",
            MessageKind::Telegram => "telegram",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "openwebui" | "open-webui" | "open_webui" => MessageKind::OpenWebUi,
            "slack" => MessageKind::Slack,
            "discord" => MessageKind::Discord,
            "teams" | "msteams" | "microsoft-teams" => MessageKind::Teams,
            "telegram" => MessageKind::Telegram,
            other => {
                return Err(format!(
                    "unknown message kind {other:?}: expected openwebui, slack, discord, teams or telegram"
                ));
            }
        })
    }
}

/// The kind a channel URL most likely is, from its host and path. A Bot API
/// `/bot<token>/sendMessage` path is Telegram's on any host (a local Bot API server, a
/// proxy). Anything unrecognised is taken as Open WebUI: its channel webhooks live on
/// whatever host the instance runs on (often `open-webui:8080` in a compose network), so they
/// cannot be told by host.
pub fn guess_kind(url: &str) -> MessageKind {
    if is_send_message_url(url) {
        return MessageKind::Telegram;
    }
    Url::parse(url)
        .ok()
        .and_then(|parsed| kind_by_host(&parsed))
        .unwrap_or(MessageKind::OpenWebUi)
}

/// A URL's host in lower case, without the one trailing dot a fully qualified name may be
/// written with (`hooks.slack.com.` resolves, and is posted to, as `hooks.slack.com`).
fn host_name(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match host.strip_suffix('.') {
        Some(name) => name.to_string(),
        None => host,
    }
}

/// The kind a URL's host (and, for Discord, its path) names, if it names one.
fn kind_by_host(url: &Url) -> Option<MessageKind> {
    let host = host_name(url);
    let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    if host == "hooks.slack.com" {
        Some(MessageKind::Slack)
    } else if (under("discord.com") || under("discordapp.com")) && is_discord_webhook(url.path()) {
        Some(MessageKind::Discord)
    } else if is_teams_connector(url) || is_teams_workflow_host(&host) {
        Some(MessageKind::Teams)
    } else if host == "api.telegram.org" {
        Some(MessageKind::Telegram)
    } else {
        None
    }
}

/// Whether `url` is a Teams Office 365 connector's (an incoming webhook on
/// `*.webhook.office.com`, or an older one at `outlook.office.com/webhook/…`): those take a
/// MessageCard. Microsoft has retired them in favour of Workflows.
fn is_teams_connector(url: &Url) -> bool {
    let host = host_name(url);
    host == "webhook.office.com"
        || host.ends_with(".webhook.office.com")
        || (host == "outlook.office.com" && url.path().starts_with("/webhook/"))
}

/// [`is_teams_connector`] for a URL as given: a channel that still points at a retired Office
/// 365 connector, which is warned about where it is saved or posted to.
pub fn is_retired_teams_connector(url: &str) -> bool {
    Url::parse(url).is_ok_and(|u| is_teams_connector(&u))
}

/// Whether `host` serves Teams Workflows (Power Automate) webhooks: `*.logic.azure.com`,
/// `*.powerplatform.com` (`{environment}.environment.api.powerplatform.com`),
/// `api.powerautomate.com` and its subdomains, and `*.flow.microsoft.com`.
fn is_teams_workflow_host(host: &str) -> bool {
    let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    under("logic.azure.com")
        || under("powerplatform.com")
        || under("api.powerautomate.com")
        || under("flow.microsoft.com")
}

/// The path of Open WebUI's channel webhooks, as its "Copy URL" gives it (0.12.4 copies the
/// path alone, with no host).
pub const OPENWEBUI_CHANNEL_PATH: &str = "/api/v1/channels/webhooks/";

/// A channel URL given as Open WebUI copies it, a path with no host
/// (`/api/v1/channels/webhooks/{id}/{token}`), made whole on `base` (`OPENWEBUI_URL`, Open
/// WebUI's address): `Ok(None)` for any other URL, taken as given; `Err` for such a path with
/// no base to put it on. Only that path: any other without a host is no URL, as before. Made
/// whole where it is given, so what is stored, checked (the SSRF rules among it) and sent is
/// the whole URL.
pub fn openwebui_path_made_whole(url: &str, base: Option<&str>) -> Result<Option<String>, String> {
    let path = url.trim();
    if !path.starts_with(OPENWEBUI_CHANNEL_PATH) {
        return Ok(None);
    }
    match base.map(str::trim).filter(|b| !b.is_empty()) {
        Some(base) => Ok(Some(format!("{}{path}", base.trim_end_matches('/')))),
        None => Err(format!(
            "this is a path without Open WebUI's address (as Open WebUI's \"Copy URL\" of a \
             channel webhook gives it): put Open WebUI's address in front, such as \
             http://openwebui:8080{OPENWEBUI_CHANNEL_PATH}<id>/<token>, or set OPENWEBUI_URL to \
             Open WebUI's address, on which such a path is then taken"
        )),
    }
}

/// What is said of a channel URL [`openwebui_path_made_whole`] made whole: the URL it now is,
/// its key masked. `field` is where it was given.
pub fn made_whole_warning(field: &str, whole: &str) -> String {
    format!(
        "`{field}` was a path without a host, taken on OPENWEBUI_URL: {}",
        super::redact_secret_path(whole)
    )
}

/// Whether `url` is an incoming webhook's whose path is its key, as a forward's target may be:
/// Slack's, Discord's or Teams' (by [`guess_kind`]'s hosts), an Open WebUI channel webhook
/// (`…/channels/webhooks/{id}/{token}`, on any host), or an automation service's catch hook:
/// Zapier's (`hooks.zapier.com/hooks/catch/…`), Make's (`hook.{zone}.make.com/{token}`, once
/// Integromat's) or IFTTT's (`maker.ifttt.com/…/key/{key}`).
pub(crate) fn is_incoming_webhook(url: &Url) -> bool {
    let host = host_name(url);
    let segments: Vec<&str> = url.path_segments().into_iter().flatten().collect();
    let make = host.starts_with("hook.")
        && (host.ends_with(".make.com") || host.ends_with(".integromat.com"));
    matches!(
        kind_by_host(url),
        Some(MessageKind::Slack | MessageKind::Discord | MessageKind::Teams)
    ) || segments.windows(2).any(|w| w == ["channels", "webhooks"])
        || host == "hooks.zapier.com"
        || make
        || host == "maker.ifttt.com"
}

/// Where a Zapier hook's key stands in its path, when `url` is one: after the account in
/// `hooks/catch/{account}/{key}/` and `hooks/standard/{account}/{key}/`, whatever follows
/// (a silent hook's `…/{key}/silent/`), so not always last.
pub(crate) fn zapier_key_index(url: &Url) -> Option<usize> {
    if host_name(url) != "hooks.zapier.com" {
        return None;
    }
    let segments: Vec<&str> = url.path_segments()?.collect();
    match segments.as_slice() {
        ["hooks", "catch" | "standard", account, key, ..]
            if !account.is_empty() && !key.is_empty() =>
        {
            Some(3)
        }
        _ => None,
    }
}

/// [`guess_kind`], where a URL on the host of `telegram_api_url` (`TELEGRAM_API_URL`, a
/// local Bot API server say) is Telegram's too: such a URL is posted to through that API with
/// the configured bot token.
pub fn guess_kind_on(url: &str, telegram_api_url: &str) -> MessageKind {
    // The API's path counts too: behind one gateway (`http://gw/telegram`, `http://gw/api/…`)
    // another service's URL shares the host.
    let place = |u: &str| {
        Url::parse(u).ok().filter(Url::has_host).map(|u| {
            let host = host_name(&u);
            let path = u.path().trim_end_matches('/').to_string();
            (host, u.port_or_known_default(), path)
        })
    };
    match (place(url), place(telegram_api_url)) {
        (Some((host, port, path)), Some((api_host, api_port, api_path)))
            if host == api_host
                && port == api_port
                && (path == api_path || path.starts_with(&format!("{api_path}/"))) =>
        {
            MessageKind::Telegram
        }
        _ => guess_kind(url),
    }
}

/// Whether `url` is taken for an Open WebUI channel only because nothing names it another
/// kind: it is not one of Open WebUI's channel webhooks (`…/channels/webhooks/…`) either, so
/// it may well be another chat's (Mattermost, Google Chat), which would refuse the body.
pub fn is_unknown_channel(url: &str, telegram_api_url: &str) -> bool {
    guess_kind_on(url, telegram_api_url) == MessageKind::OpenWebUi
        && !Url::parse(url).is_ok_and(|u| {
            let segments: Vec<&str> = u.path_segments().into_iter().flatten().collect();
            segments.windows(2).any(|w| w == ["channels", "webhooks"])
        })
}

/// Whether a message of `kind` has a use for a `chat_id`: only Telegram's names the chat; the
/// other kinds' URLs are one channel each, so a `chat_id` given for one would be dropped.
pub fn takes_chat_id(kind: MessageKind) -> bool {
    kind == MessageKind::Telegram
}

/// `/api/webhooks/...`, or the versioned `/api/v10/webhooks/...` Discord also hands out.
fn is_discord_webhook(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/") else {
        return false;
    };
    let rest = match rest.split_once('/') {
        Some((version, rest))
            if version.len() > 1
                && version.starts_with('v')
                && version[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            rest
        }
        _ => rest,
    };
    rest.starts_with("webhooks/")
}

/// The Telegram chat a message goes to, and the forum topic in it when one is named.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Chat<'a> {
    pub id: Option<&'a str>,
    pub thread: Option<&'a str>,
}

pub(super) async fn post(
    clients: &Clients,
    creds: &Credentials,
    url: &str,
    kind: MessageKind,
    text: &str,
    chat: Chat<'_>,
) -> Result<Sent, ActionError> {
    if kind == MessageKind::Telegram {
        return telegram(clients, creds, url, text, chat).await;
    }
    let payload = match kind {
        MessageKind::OpenWebUi => json!({ "content": text }),
        MessageKind::Slack => json!({ "text": shorten_slack(text) }),
        // The text comes from payloads and agents' answers: an `@everyone` or role mention in
        // it must show as text, not ping the whole server.
        MessageKind::Discord => json!({
            "content": shorten(text, DISCORD_LIMIT),
            "allowed_mentions": { "parse": [] },
        }),
        MessageKind::Teams => teams_payload(url, text),
        MessageKind::Telegram => unreachable!("handled above"),
    };
    let url = match kind {
        MessageKind::Discord => discord_url(url),
        _ => std::borrow::Cow::Borrowed(url),
    };
    let (http, target) = clients.for_url(&url, false)?;
    let service = format!("{kind} channel webhook");
    let reply = client::send_to_webhook(&service, http.post(target).json(&payload)).await?;
    let answer = reply.json();
    if kind == MessageKind::OpenWebUi && answer["success"].as_bool() == Some(false) {
        return Err(ActionError {
            status: Some(reply.status),
            ..ActionError::permanent(format!(
                "Open WebUI refused the message: {}",
                client::truncate(&reply.body, 300)
            ))
        });
    }
    // Open WebUI answers a post `{"success": true, "message_id": …}`; a 200 without either
    // at its channel webhook's address came from something else there (a sign-in page of a
    // proxy in front of it), and posted nothing. A URL nothing names is posted to as Open
    // WebUI's (with a warning when saved) and may be any relay: its 200 is taken as is.
    let remote_id = id_string(&answer["message_id"]).or_else(|| id_string(&answer["id"]));
    let posted = answer["success"].as_bool() == Some(true) || remote_id.is_some();
    if kind == MessageKind::OpenWebUi && url.contains("/channels/webhooks/") && !posted {
        return Err(ActionError {
            status: Some(reply.status),
            ..ActionError::permanent(format!(
                "the address answered {} but not as Open WebUI does when it posts (`success: \
                 true`); is a proxy or sign-in page in front of Open WebUI? It answered: {}",
                reply.status,
                client::truncate(&reply.body, 300)
            ))
        });
    }
    if kind == MessageKind::Teams
        && let Some(refused) = teams_connector_refusal(&reply.body)
    {
        return Err(ActionError {
            status: Some(reply.status),
            ..refused
        });
    }
    Ok(reply.sent(remote_id))
}

/// A Discord webhook URL as the Discord body is posted to it: at Discord's own endpoint
/// (Discord also serves each webhook Slack's and GitHub's bodies at `…/{id}/{token}/slack` and
/// `…/github`, where the Discord body and its `allowed_mentions` would be refused), with
/// `wait=true` added to its query unless it names `wait` already. Without it Discord answers
/// 204 before the message is saved, so a message it then drops fails nowhere; with it, it
/// answers with the message, whose id is kept. The query it had (`thread_id`) stays. This is
/// the URL sent only: the target is stored and shown as it was given (shown without its query).
fn discord_url(url: &str) -> std::borrow::Cow<'_, str> {
    let Ok(mut parsed) = Url::parse(url) else {
        return std::borrow::Cow::Borrowed(url);
    };
    let path = parsed.path().trim_end_matches('/').to_string();
    if let Some(native) = path
        .strip_suffix("/slack")
        .or_else(|| path.strip_suffix("/github"))
    {
        parsed.set_path(native);
    }
    if !parsed.query_pairs().any(|(name, _)| name == "wait") {
        parsed.query_pairs_mut().append_pair("wait", "true");
    }
    std::borrow::Cow::Owned(parsed.to_string())
}

/// A Teams connector's (MessageCard) failure told in a 200: those webhooks answer `1` when the
/// message is posted, and a 200 whose text says why it was not (`Webhook message delivery
/// failed with error: Microsoft Teams endpoint returned HTTP error 429 …`) otherwise. Retried
/// when the error it names is a 429 or a 5xx (or none), dead for another 4xx.
fn teams_connector_refusal(body: &str) -> Option<ActionError> {
    let text = body.trim();
    if text.is_empty() || text == "1" || !text.to_ascii_lowercase().contains("failed") {
        return None;
    }
    let message = format!(
        "Teams answered 200 but did not post the message: {}",
        client::truncate(text, 300)
    );
    let named = text
        .split("HTTP error")
        .nth(1)
        .and_then(|rest| rest.trim_start().get(..3))
        .and_then(|code| code.parse::<u16>().ok());
    Some(match named {
        Some(code) if (400..500).contains(&code) && code != 408 && code != 429 => {
            ActionError::permanent(message)
        }
        _ => ActionError::retryable(message),
    })
}

/// The retired Office 365 connectors ([`is_teams_connector`]) take a MessageCard; every other
/// Teams URL gets an Adaptive Card in a message, as Workflows (Power Automate, on whichever of
/// its hosts, or behind a proxy) expects.
fn teams_payload(url: &str, text: &str) -> Value {
    let text = &shorten_written(text, TEAMS_TEXT_BYTES);
    if !Url::parse(url).is_ok_and(|u| is_teams_connector(&u)) {
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [{ "type": "TextBlock", "text": text, "wrap": true }],
                },
            }],
        })
    } else {
        json!({
            "@type": "MessageCard",
            "@context": "http://schema.org/extensions",
            "text": text,
        })
    }
}

/// The bot token a Telegram message without a full sendMessage URL is posted with.
pub(super) fn telegram_token(creds: &Credentials) -> Result<&str, ActionError> {
    creds
        .telegram_bot_token
        .as_deref()
        .ok_or_else(|| missing("Telegram bot token", "TELEGRAM_BOT_TOKEN"))
}

async fn telegram(
    clients: &Clients,
    creds: &Credentials,
    url: &str,
    text: &str,
    chat: Chat<'_>,
) -> Result<Sent, ActionError> {
    let chat_id = chat.id.filter(|c| !c.is_empty()).ok_or_else(|| {
        ActionError::permanent("a Telegram message needs a chat_id (target.chat_id)")
    })?;
    let (http, target) = if is_send_message_url(url) {
        clients.for_url(url, false)?
    } else {
        let token = telegram_token(creds)?;
        clients.for_endpoint(&creds.telegram_api_url, &format!("/bot{token}/sendMessage"))?
    };
    let mut payload = json!({ "chat_id": chat_id, "text": shorten_utf16(text, TELEGRAM_LIMIT) });
    // Sent as the number Telegram documents it as; one checked at save always reads as one.
    if let Some(thread) = chat.thread.and_then(|t| t.parse::<i64>().ok()) {
        payload["message_thread_id"] = thread.into();
    }
    let reply = client::send("Telegram", http.post(target).json(&payload)).await?;
    let remote_id = id_string(&reply.json()["result"]["message_id"]);
    Ok(reply.sent(remote_id))
}

/// A full Bot API sendMessage URL, `…/bot<token>/sendMessage`: at the root of its host, or
/// under a path (a proxy's `/tg/bot<token>/sendMessage`, a gateway's), where the segment must
/// look like a token (`bot` + digits + `:`), so another service's path that happens to end
/// in `sendMessage` is not taken for Telegram's. Such a URL is posted to as given.
pub fn is_send_message_url(url: &str) -> bool {
    Url::parse(url).is_ok_and(|u| {
        let segments: Vec<&str> = u
            .path_segments()
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        match segments.as_slice() {
            [bot, "sendMessage"] => bot.starts_with("bot"),
            [_, .., bot, "sendMessage"] => is_bot_token_segment(bot),
            _ => false,
        }
    })
}

/// `bot123456:AA…`: how a Bot API URL names its bot.
fn is_bot_token_segment(segment: &str) -> bool {
    segment
        .strip_prefix("bot")
        .and_then(|token| token.split_once(':'))
        .is_some_and(|(id, secret)| {
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !secret.is_empty()
        })
}

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// At most `limit` bytes as written in a JSON string (escapes counted), ending in an ellipsis
/// when cut.
fn shorten_written(text: &str, limit: usize) -> String {
    let written = |c: char| match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    };
    if text.chars().map(written).sum::<usize>() <= limit {
        return text.to_owned();
    }
    let room = limit.saturating_sub('…'.len_utf8());
    let mut out = text_cut::within(text, room, written).to_owned();
    out.push('…');
    out
}

/// At most `limit` characters, ending in an ellipsis when cut.
fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut out = text_cut::within(text, limit - 1, |_| 1).to_owned();
    out.push('…');
    out
}

/// [`shorten`] to Slack's limit, and not inside an entity (`&amp;`) its text is written with.
fn shorten_slack(text: &str) -> String {
    if text.chars().count() <= SLACK_LIMIT {
        return text.to_owned();
    }
    let end = text_cut::within(text, SLACK_LIMIT - 1, |_| 1).len();
    let mut out = text[..super::slack_markup::unsplit_end(text, end)].to_owned();
    out.push('…');
    out
}

/// [`shorten`] counting UTF-16 code units, as Telegram counts its limit: an emoji is two.
fn shorten_utf16(text: &str, limit: usize) -> String {
    if text.encode_utf16().count() <= limit {
        return text.to_owned();
    }
    // One unit is kept for the `…`.
    let mut out = text_cut::within(text, limit - 1, char::len_utf16).to_owned();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::actions::client::testing::{clients, endpoint};
    use crate::actions::{Delivery, execute};

    fn message(url: String, kind: MessageKind, text: &str) -> Delivery {
        Delivery::ChannelMessage {
            url,
            kind,
            text: text.into(),
            chat_id: None,
            thread_id: None,
        }
    }

    #[test]
    fn open_webuis_copied_channel_path_is_made_whole_on_its_address() {
        let path = "/api/v1/channels/webhooks/ch1/s3cr3t";
        let base = Some("http://open-webui:8080/");
        assert_eq!(
            openwebui_path_made_whole(path, base),
            Ok(Some(
                "http://open-webui:8080/api/v1/channels/webhooks/ch1/s3cr3t".into()
            ))
        );
        assert_eq!(
            openwebui_path_made_whole(
                " /api/v1/channels/webhooks/ch1/s3cr3t ",
                Some("https://w/ui")
            ),
            Ok(Some(
                "https://w/ui/api/v1/channels/webhooks/ch1/s3cr3t".into()
            ))
        );
        // Whole URLs and other paths are left as given.
        for url in [
            "http://h/api/v1/channels/webhooks/ch1/s3cr3t",
            "/api/channels/webhooks/ch1/s3cr3t",
            "/hooks/x",
            "",
        ] {
            assert_eq!(openwebui_path_made_whole(url, base), Ok(None), "{url}");
        }
        // No address to put it on: said where to get one, the token not quoted back.
        for base in [None, Some(" ")] {
            let refused = openwebui_path_made_whole(path, base).expect_err("no base");
            assert!(
                refused.contains("http://openwebui:8080/api/v1/channels/webhooks/")
                    && refused.contains("OPENWEBUI_URL")
                    && !refused.contains("s3cr3t"),
                "{refused}"
            );
        }
        let said = made_whole_warning(
            "url",
            "http://open-webui:8080/api/v1/channels/webhooks/ch1/s3cr3t",
        );
        assert!(
            said.contains("OPENWEBUI_URL") && !said.contains("s3cr3t"),
            "{said}"
        );
    }

    #[test]
    fn kinds_are_guessed_from_the_url() {
        let cases = [
            (
                "https://hooks.slack.com/services/T0/B0/x",
                MessageKind::Slack,
            ),
            (
                "https://discord.com/api/webhooks/1/tok",
                MessageKind::Discord,
            ),
            (
                "https://ptb.discord.com/api/webhooks/1/tok",
                MessageKind::Discord,
            ),
            (
                "https://discord.com/api/v10/webhooks/1/tok",
                MessageKind::Discord,
            ),
            (
                "https://canary.discord.com/api/v9/webhooks/1/tok",
                MessageKind::Discord,
            ),
            (
                "https://ptb.discord.com/api/v10/webhooks/1/tok",
                MessageKind::Discord,
            ),
            (
                "https://discordapp.com/api/v6/webhooks/1/tok",
                MessageKind::Discord,
            ),
            (
                "https://discord.com/api/v/webhooks/1/tok",
                MessageKind::OpenWebUi,
            ),
            (
                "https://discord.com/api/webhooks/1/tok/slack",
                MessageKind::Discord,
            ),
            (
                "https://discord.com/api/channels/1/messages",
                MessageKind::OpenWebUi,
            ),
            (
                "https://acme.webhook.office.com/webhookb2/x",
                MessageKind::Teams,
            ),
            (
                "https://prod-01.westus.logic.azure.com/workflows/x",
                MessageKind::Teams,
            ),
            (
                "https://api.telegram.org/bot1:A/sendMessage",
                MessageKind::Telegram,
            ),
            (
                "http://127.0.0.1:8081/bot999:X/sendMessage",
                MessageKind::Telegram,
            ),
            (
                "https://tg-proxy.example/bot1:A/sendMessage/",
                MessageKind::Telegram,
            ),
            ("https://example.com/bot1:A/getMe", MessageKind::OpenWebUi),
            // Behind a proxy's path: the token's shape tells it from another service's path.
            (
                "http://proxy:8080/tg/bot123:abc/sendMessage",
                MessageKind::Telegram,
            ),
            (
                "http://proxy/a/b/bot123:abc/sendMessage",
                MessageKind::Telegram,
            ),
            ("http://proxy/tg/bots/sendMessage", MessageKind::OpenWebUi),
            (
                "http://proxy/tg/botx:abc/sendMessage",
                MessageKind::OpenWebUi,
            ),
            (
                "http://proxy/tg/bot123:/sendMessage",
                MessageKind::OpenWebUi,
            ),
            (
                "http://open-webui:8080/api/v1/channels/webhooks/id/tok",
                MessageKind::OpenWebUi,
            ),
            ("https://example.com/whatever", MessageKind::OpenWebUi),
            ("not a url", MessageKind::OpenWebUi),
        ];
        for (url, want) in cases {
            assert_eq!(guess_kind(url), want, "{url}");
        }
    }

    #[test]
    fn a_host_written_with_its_trailing_dot_is_the_same_host() {
        // `hooks.slack.com.` is the fully qualified name: it resolves, and posts, the same.
        let cases = [
            (
                "https://hooks.slack.com./services/T0/B0/x",
                Some(MessageKind::Slack),
                true,
            ),
            (
                "https://discord.com./api/webhooks/1/tok",
                Some(MessageKind::Discord),
                true,
            ),
            (
                "https://x.webhook.office.com./webhookb2/a/IncomingWebhook/b/c",
                Some(MessageKind::Teams),
                true,
            ),
            (
                "https://api.telegram.org./bot1:A/getMe",
                Some(MessageKind::Telegram),
                false,
            ),
            (
                "https://hooks.zapier.com./hooks/catch/1/abc1def/",
                None,
                true,
            ),
            ("https://maker.ifttt.com./trigger/e/with/key/k", None, true),
            ("https://hook.eu1.make.com./tok", None, true),
            // One dot only: `..` ends no name.
            ("https://hooks.slack.com../services/T0/B0/x", None, false),
        ];
        for (url, kind, incoming) in cases {
            let parsed = Url::parse(url).expect(url);
            assert_eq!(kind_by_host(&parsed), kind, "{url}");
            assert_eq!(
                guess_kind(url),
                kind.unwrap_or(MessageKind::OpenWebUi),
                "{url}"
            );
            assert_eq!(is_incoming_webhook(&parsed), incoming, "{url}");
        }
    }

    #[test]
    fn a_url_on_the_configured_telegram_api_host_is_telegram() {
        let api = "http://tg-local:8081";
        let cases = [
            ("http://tg-local:8081", MessageKind::Telegram),
            ("http://TG-local:8081/anything", MessageKind::Telegram),
            // A host written with its trailing dot is the same host.
            ("http://tg-local.:8081/x", MessageKind::Telegram),
            ("http://tg-local:8082/x", MessageKind::OpenWebUi),
            ("https://tg-local/x", MessageKind::OpenWebUi),
            (
                "https://hooks.slack.com/services/T0/B0/x",
                MessageKind::Slack,
            ),
            ("not a url", MessageKind::OpenWebUi),
        ];
        for (url, want) in cases {
            assert_eq!(guess_kind_on(url, api), want, "{url}");
        }
        assert_eq!(
            guess_kind_on("https://api.telegram.org", "not a url"),
            MessageKind::Telegram
        );
        // Behind a gateway, the API's path counts: another service there is not Telegram.
        let gateway = "http://gw:8080/telegram/";
        for (url, want) in [
            ("http://gw:8080/telegram", MessageKind::Telegram),
            ("http://gw:8080/telegram/x", MessageKind::Telegram),
            ("http://gw:8080/telegramx", MessageKind::OpenWebUi),
            (
                "http://gw:8080/api/v1/channels/webhooks/id/tok",
                MessageKind::OpenWebUi,
            ),
        ] {
            assert_eq!(guess_kind_on(url, gateway), want, "{url}");
        }
    }

    #[test]
    fn kinds_parse_and_serialise_by_their_short_names() {
        assert_eq!(
            "open-webui".parse::<MessageKind>(),
            Ok(MessageKind::OpenWebUi)
        );
        assert_eq!("Teams".parse::<MessageKind>(), Ok(MessageKind::Teams));
        assert!("irc".parse::<MessageKind>().is_err());
        assert_eq!(
            serde_json::to_value(MessageKind::OpenWebUi).unwrap(),
            json!("openwebui")
        );
        for kind in ["openwebui", "slack", "discord", "teams", "telegram"] {
            let k: MessageKind = serde_json::from_value(json!(kind)).unwrap();
            assert_eq!(k.as_str(), kind);
        }
    }

    #[tokio::test]
    async fn an_open_webui_channel_gets_content_and_returns_the_message_id() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/v1/channels/webhooks/ch1/tok"))
            .and(body_json(json!({"content": "Build failed"})))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"success": true, "message_id": "m-9"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let url = format!("{}/api/v1/channels/webhooks/ch1/tok", server.uri());
        let d = message(url, MessageKind::OpenWebUi, "Build failed");
        let sent = execute(&clients(), &Credentials::default(), &d)
            .await
            .unwrap();
        assert_eq!(sent.remote_id.as_deref(), Some("m-9"));
    }

    #[tokio::test]
    async fn a_200_that_is_not_open_webuis_answer_posted_nothing() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw("<html>Please sign in</html>", "text/html"),
            )
            .mount(&server)
            .await;
        let url = format!("{}/api/v1/channels/webhooks/ch1/tok", server.uri());
        let d = message(url, MessageKind::OpenWebUi, "Build failed");

        let failed = execute(&clients(), &Credentials::default(), &d)
            .await
            .expect_err("nothing was posted");

        assert!(!failed.retryable, "{failed:?}");
        assert!(failed.message.contains("sign in"), "{failed:?}");
    }

    #[tokio::test]
    async fn each_incoming_webhook_gets_its_own_payload_shape() {
        let long = "x".repeat(2500);
        let cut = format!("{}…", "x".repeat(1999));
        let cases = [
            (MessageKind::Slack, "hi", json!({"text": "hi"})),
            (
                MessageKind::Discord,
                long.as_str(),
                json!({"content": cut, "allowed_mentions": {"parse": []}}),
            ),
            // Not a connector's host: a Workflows URL behind a proxy, say.
            (
                MessageKind::Teams,
                "hi",
                json!({"type": "message", "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [{"type": "TextBlock", "text": "hi", "wrap": true}],
                    },
                }]}),
            ),
        ];
        for (kind, text, want) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/hook"))
                .and(body_json(want))
                .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
                .expect(1)
                .mount(&server)
                .await;
            let d = message(format!("{}/hook", server.uri()), kind, text);
            execute(&clients(), &Credentials::default(), &d)
                .await
                .unwrap();
        }
    }

    #[test]
    fn a_discord_url_is_posted_at_its_own_endpoint_waiting_for_the_message() {
        for (url, sent) in [
            (
                "https://discord.com/api/webhooks/1/tok",
                "https://discord.com/api/webhooks/1/tok?wait=true",
            ),
            (
                "https://discord.com/api/webhooks/1/tok/slack",
                "https://discord.com/api/webhooks/1/tok?wait=true",
            ),
            (
                "https://discord.com/api/webhooks/1/tok/github/",
                "https://discord.com/api/webhooks/1/tok?wait=true",
            ),
            (
                "https://discord.com/api/webhooks/1/tok?wait=true",
                "https://discord.com/api/webhooks/1/tok?wait=true",
            ),
            // The caller's own choice stands.
            (
                "https://discord.com/api/webhooks/1/tok?wait=false",
                "https://discord.com/api/webhooks/1/tok?wait=false",
            ),
            (
                "https://discord.com/api/webhooks/1/tok?thread_id=99",
                "https://discord.com/api/webhooks/1/tok?thread_id=99&wait=true",
            ),
            (
                "https://discord.com/api/webhooks/1/tok/slack?thread_id=99&wait=true",
                "https://discord.com/api/webhooks/1/tok?thread_id=99&wait=true",
            ),
        ] {
            assert_eq!(discord_url(url), sent, "{url}");
        }
    }

    #[test]
    fn a_slack_text_is_shortened_between_its_entities() {
        assert_eq!(shorten_slack("R&amp;D"), "R&amp;D");
        // Cut at 39,999 characters, one short of the `…`: inside the last `&lt;`, which goes.
        for (unit, kept_end) in [("&lt;", "&lt;"), ("x&amp;", "x"), ("&gt;b", "&gt;")] {
            let long = unit.repeat(SLACK_LIMIT / unit.len() + 1);
            let sent = shorten_slack(&long);
            assert!(sent.chars().count() <= SLACK_LIMIT, "{unit}");
            let kept = sent.strip_suffix('…').expect("cut");
            let end = &kept[kept.len() - 8..];
            assert!(kept.ends_with(kept_end), "{unit}: {end:?}");
            assert!(long.starts_with(kept));
        }
    }

    #[test]
    fn a_telegram_text_is_shortened_in_utf16_units() {
        assert_eq!(shorten_utf16("abc", 3), "abc");
        assert_eq!(shorten_utf16("🚀🚀", 4), "🚀🚀");
        assert_eq!(shorten_utf16("🚀🚀🚀", 4), "🚀…");
        assert_eq!(shorten_utf16("a🚀🚀", 4), "a🚀…");
        // A flag is two code points and four units: never half of one.
        assert_eq!(shorten_utf16("a🇫🇷🇫🇷", 7), "a🇫🇷…");
        assert_eq!(shorten_utf16("a🇫🇷🇫🇷", 8), "a🇫🇷…");
        let long = shorten_utf16(&"🚀".repeat(3_000), TELEGRAM_LIMIT);
        assert!(long.encode_utf16().count() <= TELEGRAM_LIMIT);
        assert!(long.encode_utf16().count() >= TELEGRAM_LIMIT - 2);
    }

    #[tokio::test]
    async fn a_teams_connector_failure_told_in_a_200_is_not_taken_for_a_post() {
        let failed = "Webhook message delivery failed with error: Microsoft Teams endpoint \
                      returned HTTP error";
        let cases = [
            ("1", None),
            ("", None),
            (&*format!("{failed} 429 with ContextId tcid=0"), Some(true)),
            (&*format!("{failed} 502 with ContextId tcid=0"), Some(true)),
            (&*format!("{failed} 413 with ContextId tcid=0"), Some(false)),
            ("Webhook message delivery failed", Some(true)),
        ];
        for (body, refused) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/hook"))
                .respond_with(ResponseTemplate::new(200).set_body_string(body))
                .expect(1)
                .mount(&server)
                .await;
            let d = message(format!("{}/hook", server.uri()), MessageKind::Teams, "hi");
            let sent = execute(&clients(), &Credentials::default(), &d).await;
            assert_eq!(
                sent.as_ref().err().map(|e| e.retryable),
                refused,
                "{body}: {sent:?}"
            );
            if let Err(e) = sent {
                assert!(e.message.contains("did not post"), "{}", e.message);
                assert_eq!(e.status, Some(200));
            }
        }
    }

    #[tokio::test]
    async fn a_telegram_message_uses_the_bot_token_from_the_credentials() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/bot123:ABC/sendMessage"))
            .and(body_json(json!({"chat_id": "-10042", "text": "hello"})))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"ok": true, "result": {"message_id": 5}})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let creds = Credentials {
            telegram_api_url: endpoint(server.uri()),
            telegram_bot_token: Some("123:ABC".into()),
            ..Credentials::default()
        };
        let d = Delivery::ChannelMessage {
            url: String::new(),
            kind: MessageKind::Telegram,
            text: "hello".into(),
            chat_id: Some("-10042".into()),
            thread_id: None,
        };
        let sent = execute(&clients(), &creds, &d).await.unwrap();
        assert_eq!(sent.remote_id.as_deref(), Some("5"));
    }

    #[tokio::test]
    async fn a_telegram_message_without_a_token_names_telegram_bot_token() {
        let d = Delivery::ChannelMessage {
            url: String::new(),
            kind: MessageKind::Telegram,
            text: "hello".into(),
            chat_id: Some("1".into()),
            thread_id: None,
        };
        let err = execute(&clients(), &Credentials::default(), &d)
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(
            err.message.contains("TELEGRAM_BOT_TOKEN"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn channel_errors_are_classified_for_retry() {
        let cases = [(500, true), (429, true), (404, false), (410, false)];
        for (status, retryable) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(status).insert_header("Retry-After", "7"))
                .mount(&server)
                .await;
            let d = message(format!("{}/hook", server.uri()), MessageKind::Discord, "x");
            let err = execute(&clients(), &Credentials::default(), &d)
                .await
                .unwrap_err();
            assert_eq!(err.retryable, retryable, "{status}");
            if status == 429 {
                assert_eq!(err.retry_after, Some(std::time::Duration::from_secs(7)));
            }
        }
    }

    #[test]
    fn a_long_text_fits_a_teams_card_however_it_is_escaped() {
        for url in [
            "https://example.webhook.office.com/webhookb2/x",
            "https://prod.westus.logic.azure.com/workflows/x",
        ] {
            for text in [
                "a".repeat(30_000),
                "\"".repeat(20_000),
                "\u{1}".repeat(10_000),
                "é".repeat(20_000),
            ] {
                let card = serde_json::to_string(&teams_payload(url, &text)).unwrap();
                assert!(card.len() <= 28 * 1024, "{url}: {}", card.len());
                assert!(card.contains('…'), "{url}: {}", &card[..50]);
            }
        }
        let url = "https://example.webhook.office.com/webhookb2/x";
        let short = teams_payload(url, "hi \"there\"");
        assert_eq!(short["text"], "hi \"there\"");
    }

    #[test]
    fn only_a_retired_connector_gets_a_message_card_every_other_teams_url_an_adaptive_card() {
        let cases = [
            ("https://prod.westus.logic.azure.com/workflows/x", true),
            ("https://prod.westus.logic.azure.com./workflows/x", true),
            (
                "https://default1a.ee.environment.api.powerplatform.com/powerautomate/x",
                true,
            ),
            ("https://api.powerautomate.com/x", true),
            ("https://prod-12.westeurope.api.powerautomate.com/x", true),
            ("https://prod-27.westus.flow.microsoft.com/x", true),
            ("https://teams-proxy.corp.example/hook", true),
            ("https://acme.webhook.office.com/webhookb2/x", false),
            ("https://webhook.office.com/webhookb2/x", false),
            ("https://ACME.webhook.office.com./webhookb2/x", false),
            (
                "https://outlook.office.com/webhook/a@b/IncomingWebhook/c/d",
                false,
            ),
        ];
        for (url, adaptive) in cases {
            let v = teams_payload(url, "hi");
            let card_text = &v["attachments"][0]["content"]["body"][0]["text"];
            assert_eq!(card_text == "hi", adaptive, "{url}: {v}");
            assert_eq!(v["@type"] == "MessageCard", !adaptive, "{url}: {v}");
        }
    }

    #[test]
    fn teams_workflows_hosts_and_connectors_are_guessed_as_teams() {
        for url in [
            "https://prod-00.westus.logic.azure.com:443/workflows/x/triggers/manual/paths/invoke",
            "https://default1a.ee.environment.api.powerplatform.com:443/powerautomate/x",
            "https://api.powerautomate.com/x",
            "https://prod-12.westeurope.api.powerautomate.com/x",
            "https://prod-27.westus.flow.microsoft.com/x",
            "https://acme.webhook.office.com/webhookb2/x",
            "https://outlook.office.com/webhook/a@b/IncomingWebhook/c/d",
        ] {
            assert_eq!(guess_kind(url), MessageKind::Teams, "{url}");
        }
        for url in [
            "https://powerautomate.com/x",
            "https://outlook.office.com/mail/inbox",
            "https://notflow.microsoft.com/x",
        ] {
            assert_eq!(guess_kind(url), MessageKind::OpenWebUi, "{url}");
        }
    }
}
