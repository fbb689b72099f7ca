//! The credentials a request carried, scrubbed out of its answer (`client::exchange`, and the
//! chat API's client) before any of the answer is quoted in an error, kept as a response or
//! logged: an upstream that echoes the request (`… you sent Bearer ghp_…`, a 401 quoting the
//! key) would otherwise put the token where read-only keys, a model's context and the server
//! log see it. An incoming webhook's URL is its key, so the secret parts of its path
//! (`describe::path_secrets`, what its target hides) are credentials here too, and so are
//! those of a forward's (`describe::forward_path_secrets`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;
use reqwest::header::{AUTHORIZATION, HeaderMap, PROXY_AUTHORIZATION};
use reqwest::{Request, Url};

use super::describe::{bot_token, channel_path_secrets, encode_segment, forward_path_secrets};

/// What a scrubbed credential reads as.
const MASK: &str = "***";
/// Shorter values are left: taking every `pw`, or a local model server's placeholder key
/// (`ollama`, `EMPTY`, `null`, `test`), out of an answer would garble it (and could break the
/// JSON a 2xx is read from) for a value that guards little.
const SHORTEST: usize = 8;

/// What of a request's URL path is a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlPath {
    /// An API's path, which names what is asked for: only a `bot<token>` segment in it.
    Plain,
    /// An incoming webhook's (a channel's, a Slack `response_url`), whose path is its key:
    /// every part of it its target hides.
    Secret,
    /// A forward's, the receiver's own path: what its target hides of it, its token-like
    /// segments and, on a known incoming webhook (Zapier, Slack, ...), its key.
    Forward,
}

/// The credentials one request sent, longest first (a base64 `user:password` before the
/// password inside it).
#[derive(Debug, Default)]
pub(crate) struct SentSecrets(Vec<String>);

impl SentSecrets {
    /// What `request` carries as a credential: the value of `Authorization` (the token after
    /// its scheme, and a basic login's password), of any header marked sensitive or named as
    /// a secret (`PRIVATE-TOKEN`, `X-Api-Key`), and the URL's password, secret query values
    /// and the secrets of its path (`path`). Each also as it reads percent-decoded and
    /// percent-encoded, as an answer may quote it (a path echoed inside a query or JSON).
    pub fn of(request: &Request, path: UrlPath) -> Self {
        Self::from_parts(request.headers(), request.url(), path)
    }

    pub fn from_parts(headers: &HeaderMap, url: &Url, path: UrlPath) -> Self {
        let mut found = Vec::new();
        for (name, value) in headers {
            let sensitive = value.is_sensitive();
            let Ok(value) = value.to_str() else { continue };
            let value = value.trim();
            if name == AUTHORIZATION || name == PROXY_AUTHORIZATION {
                authorization(value, &mut found);
            } else if sensitive || crate::service::audit::is_secret_field(name.as_str()) {
                found.push(value.to_owned());
            }
        }
        if let Some(password) = url.password() {
            found.push(password.to_owned());
        } else if !url.username().is_empty() {
            found.push(url.username().to_owned());
        }
        let segments: Vec<&str> = url.path_segments().into_iter().flatten().collect();
        let in_path: Vec<&str> = match path {
            UrlPath::Plain => segments.iter().filter_map(|s| bot_token(s)).collect(),
            UrlPath::Secret => channel_path_secrets(url, &segments)
                .into_iter()
                .flatten()
                .collect(),
            UrlPath::Forward => forward_path_secrets(url, &segments)
                .into_iter()
                .flatten()
                .collect(),
        };
        found.extend(in_path.into_iter().map(str::to_owned));
        for (name, value) in url.query_pairs() {
            if super::describe::secret_query_name(&name) {
                found.push(value.into_owned());
            }
        }
        let spellings: Vec<String> = found.iter().flat_map(|s| other_spellings(s)).collect();
        found.extend(spellings);
        found.retain(|s| s.len() >= SHORTEST);
        found.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        found.dedup();
        SentSecrets(found)
    }

    /// `text` with every credential sent replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.0 {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }
}

/// `secret` percent-decoded and percent-encoded (every byte but RFC 3986's unreserved ones,
/// in upper- and lower-case hex: encoders write either), where either differs from it.
fn other_spellings(secret: &str) -> Vec<String> {
    let decoded = percent_decode_str(secret).decode_utf8_lossy().into_owned();
    let encoded = encode_segment(&decoded);
    let lower_hex = lower_hex(&encoded);
    [decoded, encoded, lower_hex]
        .into_iter()
        .filter(|spelling| spelling != secret)
        .collect()
}

/// `encoded` with the hex digits of each `%XX` in lower case, the rest as it is.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut hex_left = 0;
    for c in encoded.chars() {
        if hex_left > 0 {
            out.push(c.to_ascii_lowercase());
            hex_left -= 1;
        } else {
            hex_left = if c == '%' { 2 } else { 0 };
            out.push(c);
        }
    }
    out
}

/// An `Authorization` value's credentials: the part after its scheme (`Bearer <token>`), or
/// the whole value when it has none (a bare Linear key), and for `Basic` the login inside it: its password, or the
/// user name when that is all there is (a token given as the URL's user).
fn authorization(value: &str, found: &mut Vec<String>) {
    let Some((scheme, credential)) = value.split_once(' ') else {
        found.push(value.to_owned());
        return;
    };
    let credential = credential.trim();
    found.push(credential.to_owned());
    if !scheme.eq_ignore_ascii_case("basic") {
        return;
    }
    let Some(login) = STANDARD
        .decode(credential)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return;
    };
    match login.split_once(':') {
        Some((_, password)) if !password.is_empty() => found.push(password.to_owned()),
        Some((user, _)) => found.push(user.to_owned()),
        None => found.push(login),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Client;

    fn secrets(req: reqwest::RequestBuilder) -> SentSecrets {
        SentSecrets::of(&req.build().unwrap(), UrlPath::Plain)
    }

    fn to_webhook(url: &str) -> SentSecrets {
        SentSecrets::of(&Client::new().post(url).build().unwrap(), UrlPath::Secret)
    }

    #[test]
    fn every_credential_a_request_carried_is_scrubbed_from_its_answer() {
        let http = Client::new();
        let cases = [
            (
                secrets(
                    http.post("https://api.example/x")
                        .bearer_auth("ghp_ECHOTOKEN"),
                ),
                "you sent Bearer ghp_ECHOTOKEN",
                "you sent Bearer ***",
            ),
            (
                secrets(
                    http.post("https://jira.example/x")
                        .basic_auth("me@example.com", Some("JIRATOKEN9")),
                ),
                "bad password JIRATOKEN9 for bWVAZXhhbXBsZS5jb206SklSQVRPS0VOOQ==",
                "bad password *** for ***",
            ),
            (
                secrets(http.post("https://u:PASSWORD1@sink.example/in")),
                "login u:PASSWORD1 refused",
                "login u:*** refused",
            ),
            (
                secrets(
                    http.post("https://gl.example/x")
                        .header("PRIVATE-TOKEN", "glpat-ECHO"),
                ),
                "token glpat-ECHO expired",
                "token *** expired",
            ),
            (
                secrets(
                    http.post("https://linear.example/g")
                        .header("Authorization", "lin_api_ECHO"),
                ),
                "key lin_api_ECHO unknown",
                "key *** unknown",
            ),
            (
                secrets(http.post("https://tg.example/bot123:ABCDEF/sendMessage")),
                "no bot 123:ABCDEF",
                "no bot ***",
            ),
            (
                secrets(http.post("https://fn.example/api/h?code=C0DEVALUE&x=1")),
                "POST /api/h?code=C0DEVALUE&x=1",
                "POST /api/h?code=***&x=1",
            ),
            // A value too short to be a credential is left, or the answer would be garbled.
            (
                secrets(http.post("https://u:pw@sink.example/in")),
                "pw: upwards",
                "pw: upwards",
            ),
            (
                secrets(http.post("https://llm.example/v1").bearer_auth("ollama")),
                "{\"model\": \"ollama\"}",
                "{\"model\": \"ollama\"}",
            ),
        ];
        for (sent, answer, shown) in cases {
            assert_eq!(sent.scrub(answer), shown, "{answer}");
        }
    }

    #[test]
    fn what_a_webhooks_target_hides_of_its_path_is_scrubbed_from_its_answer() {
        let cases = [
            (
                "https://discord.com/api/webhooks/1234/DISCORDSECRETPATHxyz",
                "bad request to /api/webhooks/1234/DISCORDSECRETPATHxyz",
                "bad request to /api/webhooks/1234/***",
            ),
            (
                "https://discord.com/api/webhooks/1234/AbCdEf123456GhIjKl7890/slack",
                "no webhook AbCdEf123456GhIjKl7890 at /api/webhooks/1234/AbCdEf123456GhIjKl7890/slack",
                "no webhook *** at /api/webhooks/1234/***/slack",
            ),
            (
                "https://hooks.slack.com/services/T000/B000/SLACKPATHSECRET999",
                "invalid_token for /services/T000/B000/SLACKPATHSECRET999",
                "invalid_token for /services/T000/B000/***",
            ),
            (
                "https://webui.example/api/v1/channels/webhooks/ch1/OWUICHANTOKEN999",
                "{\"detail\":\"404: /api/v1/channels/webhooks/ch1/OWUICHANTOKEN999\"}",
                "{\"detail\":\"404: /api/v1/channels/webhooks/ch1/***\"}",
            ),
            (
                "https://x.webhook.office.com/webhookb2/g1@g2/IncomingWebhook/0a1b2c3d4e5f60718293a4b5c6d7e8f9/5b2e3a4c-0d1e-4f5a-8b9c-0123456789ab",
                "no connector 0a1b2c3d4e5f60718293a4b5c6d7e8f9/5b2e3a4c-0d1e-4f5a-8b9c-0123456789ab",
                "no connector ***/***",
            ),
            // Echoed percent-encoded (the path inside a query), or decoded.
            (
                "https://tg.example/bot123456:TGSECRETTOKEN99/sendMessage",
                "see /log?path=%2Fbot123456%3ATGSECRETTOKEN99%2FsendMessage",
                "see /log?path=%2Fbot***%2FsendMessage",
            ),
            // As .NET's `UrlEncode` writes it: lower-case hex.
            (
                "https://tg.example/bot123456:TGSECRETTOKEN99/sendMessage",
                "see /log?path=%2fbot123456%3aTGSECRETTOKEN99%2fsendMessage",
                "see /log?path=%2fbot***%2fsendMessage",
            ),
            // A Zapier silent hook's key, not last.
            (
                "https://hooks.zapier.com/hooks/catch/123456/ZAPKEY999/silent/",
                "no hook ZAPKEY999 for account 123456",
                "no hook *** for account 123456",
            ),
            (
                "https://sink.example/hooks/x/SECRET%20WITH%20SPACE",
                "no hook named \"SECRET WITH SPACE\" (SECRET%20WITH%20SPACE)",
                "no hook named \"***\" (***)",
            ),
            // Path words the target shows are left, and so is a masked part too short to be a
            // key (Discord's `/slack` suffix), as any short value is.
            (
                "https://hooks.slack.com/services/T000/B000/SLACKPATHSECRET999",
                "no service at /services/T000",
                "no service at /services/T000",
            ),
            (
                "https://discord.com/api/webhooks/1234/AbCdEf123456GhIjKl7890/slack",
                "unknown format: slack",
                "unknown format: slack",
            ),
        ];
        for (url, answer, shown) in cases {
            assert_eq!(to_webhook(url).scrub(answer), shown, "{url}");
        }
    }

    #[test]
    fn what_a_forwards_target_hides_of_its_path_is_scrubbed_from_its_answer() {
        let forward = |url: &str| {
            SentSecrets::of(&Client::new().post(url).build().unwrap(), UrlPath::Forward)
        };
        let cases = [
            (
                "https://ci.example.com/hooks/FWDPATHTOKEN1234abcd5678/build",
                "bad request to /hooks/FWDPATHTOKEN1234abcd5678/build",
                "bad request to /hooks/***/build",
            ),
            (
                "https://hooks.zapier.com/hooks/catch/123456/zapkey99/",
                "no catch hook zapkey99 for account 123456",
                "no catch hook *** for account 123456",
            ),
            (
                "https://hook.eu1.make.com/abcdefghijklmnopqrstuvwxyzabcdef",
                "Scenario abcdefghijklmnopqrstuvwxyzabcdef is off",
                "Scenario *** is off",
            ),
            // The receiver's own path words are left.
            (
                "https://ci.example.com/api/hooks/buildall",
                "no job at /api/hooks/buildall",
                "no job at /api/hooks/buildall",
            ),
        ];
        for (url, answer, shown) in cases {
            assert_eq!(forward(url).scrub(answer), shown, "{url}");
        }
    }

    #[test]
    fn an_apis_path_is_no_credential() {
        let sent = secrets(Client::new().post("https://api.example/repos/o/r/issues/7/comments"));
        assert_eq!(
            sent.scrub("no comments for issues/7"),
            "no comments for issues/7"
        );
    }
}
