//! The credentials a request carried, scrubbed out of its answer (`client::exchange`, and the
//! chat API's client) before any of the answer is quoted in an error, kept as a response or
//! logged: an upstream that echoes the request (`… you sent Bearer ghp_…`, a 401 quoting the
//! key) would otherwise put the token where read-only keys, a model's context and the server
//! log see it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{AUTHORIZATION, HeaderMap, PROXY_AUTHORIZATION};
use reqwest::{Request, Url};

/// What a scrubbed credential reads as.
const MASK: &str = "***";
/// Shorter values are left: taking every `pw`, or a local model server's placeholder key
/// (`ollama`, `EMPTY`, `null`, `test`), out of an answer would garble it (and could break the
/// JSON a 2xx is read from) for a value that guards little.
const SHORTEST: usize = 8;

/// The credentials one request sent, longest first (a base64 `user:password` before the
/// password inside it).
#[derive(Debug, Default)]
pub(crate) struct SentSecrets(Vec<String>);

impl SentSecrets {
    /// What `request` carries as a credential: the value of `Authorization` (the token after
    /// its scheme, and a basic login's password), of any header marked sensitive or named as
    /// a secret (`PRIVATE-TOKEN`, `X-Api-Key`), and the URL's password, `bot<token>` segment
    /// and secret query values.
    pub fn of(request: &Request) -> Self {
        Self::from_parts(request.headers(), request.url())
    }

    pub fn from_parts(headers: &HeaderMap, url: &Url) -> Self {
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
        for segment in url.path_segments().into_iter().flatten() {
            if let Some(token) = segment.strip_prefix("bot").filter(|t| t.contains(':')) {
                found.push(token.to_owned());
            }
        }
        for (name, value) in url.query_pairs() {
            if super::describe::secret_query_name(&name) {
                found.push(value.into_owned());
            }
        }
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
        SentSecrets::of(&req.build().unwrap())
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
}
