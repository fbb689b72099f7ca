//! Slack connector (outbox worker → `actions::execute` → here): `chat.postMessage` with the
//! bot token (channel messages and thread replies), and answers to slash commands and
//! interactions through the payload's `response_url`.
//!
//! The Web API answers HTTP 200 even when it refuses (`{"ok": false, "error": "..."}`), so
//! the body decides the outcome, not only the status.

use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::client::{self, missing};
use super::{ActionError, Clients, Credentials, Sent, redact_secret_path, ssrf};

/// Slack warns (`missing_charset`) about a bare `application/json`.
const JSON_UTF8: &str = "application/json; charset=utf-8";

/// The bot token a message is posted with, or why there is none.
pub(super) fn bot_token(creds: &Credentials) -> Result<&str, ActionError> {
    creds
        .slack_bot_token
        .as_deref()
        .ok_or_else(|| missing("Slack bot token", "SLACK_BOT_TOKEN"))
}

pub(super) async fn post_message(
    clients: &Clients,
    creds: &Credentials,
    channel: &str,
    thread_ts: Option<&str>,
    text: &str,
) -> Result<Sent, ActionError> {
    let token = bot_token(creds)?;
    let mut payload = json!({ "channel": channel, "text": text });
    if let Some(ts) = thread_ts {
        payload["thread_ts"] = json!(ts);
    }
    let (http, url) = clients.for_endpoint(&creds.slack_api_url, "/chat.postMessage")?;
    let req = http
        .post(url)
        .bearer_auth(token)
        .header(CONTENT_TYPE, JSON_UTF8)
        .json(&payload);
    let reply = client::send("Slack", req).await?;
    let answer = reply.json();
    // An answer cut off after `{"ok":true` was a post made: sent again, it would be posted
    // twice. (Slack answers JSON, unindented, `ok` first, then `channel` and `ts`: what
    // arrived of them still names the post, which a question's thread needs.)
    if answer.is_null() && reply.body.trim_start().starts_with(r#"{"ok":true"#) {
        let channel = string_in_cut_json(&reply.body, "channel").unwrap_or(channel);
        let remote_id = string_in_cut_json(&reply.body, "ts").map(|ts| format!("{channel}:{ts}"));
        return Ok(reply.sent(remote_id));
    }
    check_ok(&answer, &reply)?;
    // A `ts` is unique within its channel only: the message is named by both.
    let channel = answer["channel"].as_str().unwrap_or(channel);
    let remote_id = answer["ts"].as_str().map(|ts| format!("{channel}:{ts}"));
    let author = answer
        .pointer("/message/user")
        .or_else(|| answer.pointer("/message/bot_id"))
        .and_then(|a| a.as_str());
    Ok(reply.sent(remote_id).by(author))
}

/// Posts to a `response_url`. The URL comes from the (verified) payload, but it is still
/// data from outside: only Slack's own hooks host is accepted, or an allowlisted host.
pub(super) async fn respond(
    clients: &Clients,
    response_url: &str,
    text: &str,
    replace_original: bool,
) -> Result<Sent, ActionError> {
    check_response_url(response_url, clients.allowlist())?;
    let (http, url) = clients.for_url(response_url, false)?;
    let payload = json!({
        "text": text,
        "response_type": "in_channel",
        "replace_original": replace_original,
    });
    let req = http
        .post(url)
        .header(CONTENT_TYPE, JSON_UTF8)
        .json(&payload);
    let reply = client::send_to_webhook("Slack response_url", req).await?;
    // Usually plain `ok`; some answers are JSON with `ok: false`.
    let answer = reply.json();
    if answer.is_object() {
        check_ok(&answer, &reply)?;
    }
    Ok(reply.sent(None))
}

fn check_response_url(raw: &str, allowlist: &[String]) -> Result<(), ActionError> {
    let refused = || {
        ActionError::permanent(format!(
            "refused response_url {}: only https://hooks.slack.com URLs are accepted",
            redact_secret_path(raw)
        ))
    };
    let url = Url::parse(raw).map_err(|_| refused())?;
    let host = url.host_str().unwrap_or_default();
    let slack = url.scheme() == "https" && host.eq_ignore_ascii_case("hooks.slack.com");
    let port = url.port_or_known_default().unwrap_or(0);
    if slack || ssrf::host_allowed(host, port, allowlist) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// Errors Slack documents as passing (a rate limit, trouble on its side, a workspace being
/// migrated): worth another try. Slack warns that after `internal_error` and `fatal_error` the
/// message may have been posted all the same ([`MAY_HAVE_POSTED`]): a rare duplicate beats a
/// lost reply, and its announcement, if it comes, settles the retry.
const TRANSIENT: &[&str] = &[
    "ratelimited",
    // chat.postMessage's own: too many messages posted lately.
    "rate_limited",
    "service_unavailable",
    "internal_error",
    "fatal_error",
    "request_timeout",
    "team_added_to_org",
];

/// The errors after which Slack says the message may have been posted all the same.
const MAY_HAVE_POSTED: &[&str] = &["internal_error", "fatal_error"];

/// A top-level string field of a JSON answer cut off midway, if all of it arrived (its closing
/// quote too). Slack's ids hold no escapes, so one with a backslash is not trusted.
fn string_in_cut_json<'b>(body: &'b str, key: &str) -> Option<&'b str> {
    let start = body.find(&format!(r#""{key}":""#))? + key.len() + 4;
    let value = &body[start..][..body[start..].find('"')?];
    (!value.contains('\\') && !value.is_empty()).then_some(value)
}

/// Channels asked for a page of `conversations.list`, as Slack advises (a page of 1,000 can
/// pass what an answer may hold), and pages read at most: a workspace with more names the
/// rest by id.
const CHANNELS_PER_PAGE: &str = "200";
const MAX_CHANNEL_PAGES: usize = 50;

/// The ids of the channels named `names` (without their `#`) that the bot token can see,
/// read from `conversations.list` (public channels, and private ones the bot is in; public
/// ones only when the token may not list private ones).
pub(super) async fn channel_ids(
    clients: &Clients,
    creds: &Credentials,
    names: &[String],
) -> Result<Vec<(String, String)>, String> {
    match list_channels(clients, creds, names, "public_channel,private_channel").await {
        Err(why) if why.contains("missing_scope") => {
            list_channels(clients, creds, names, "public_channel").await
        }
        listed => listed,
    }
}

async fn list_channels(
    clients: &Clients,
    creds: &Credentials,
    names: &[String],
    types: &str,
) -> Result<Vec<(String, String)>, String> {
    let token = bot_token(creds).map_err(|e| e.message)?;
    let (http, url) = clients
        .for_endpoint(&creds.slack_api_url, "/conversations.list")
        .map_err(|e| e.message)?;
    let mut found = Vec::new();
    let mut cursor = String::new();
    for _ in 0..MAX_CHANNEL_PAGES {
        let mut page = url.clone();
        page.query_pairs_mut()
            .append_pair("types", types)
            .append_pair("exclude_archived", "true")
            .append_pair("limit", CHANNELS_PER_PAGE)
            .append_pair("cursor", &cursor);
        let req = http.get(page).bearer_auth(token);
        let reply = client::send("Slack", req).await.map_err(|e| e.message)?;
        let answer = reply.json();
        if answer["ok"].as_bool() != Some(true) {
            let error = answer["error"]
                .as_str()
                .unwrap_or("its answer could not be read");
            return Err(format!("Slack's conversations.list answered `{error}`"));
        }
        for channel in answer["channels"].as_array().into_iter().flatten() {
            if let (Some(name), Some(id)) = (channel["name"].as_str(), channel["id"].as_str())
                && names.iter().any(|n| n == name)
            {
                found.push((name.to_string(), id.to_string()));
            }
        }
        cursor = answer
            .pointer("/response_metadata/next_cursor")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if cursor.is_empty() || names.iter().all(|n| found.iter().any(|(f, _)| f == n)) {
            break;
        }
    }
    Ok(found)
}

/// `ok: false` is a refusal; the transient errors are retried (after the wait the answer
/// names, if any, as for a 429), the others (`channel_not_found`, `not_in_channel`,
/// `invalid_auth`) answer the same every time.
fn check_ok(answer: &Value, reply: &client::Reply) -> Result<(), ActionError> {
    if answer["ok"].as_bool() == Some(true) {
        return Ok(());
    }
    let error = match answer["error"].as_str() {
        Some(error) => error,
        None if answer.is_null() => "its answer could not be read (cut off, or not JSON)",
        None if answer.get("ok").is_none() => "unknown error (no `ok` field)",
        None => "no reason given (`ok` is not true and there is no `error` field)",
    };
    let retryable = TRANSIENT.contains(&error);
    Err(ActionError {
        retryable,
        status: Some(reply.status),
        retry_after: reply.retry_after.filter(|_| retryable),
        message: format!("Slack refused the message: {error}"),
        // Slack says some of what was asked may have been done after these.
        unanswered: MAY_HAVE_POSTED.contains(&error),
        rate_limited: matches!(error, "ratelimited" | "rate_limited"),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::client::testing::{clients, endpoint};
    use super::super::{Clients, Credentials, Delivery, execute};

    fn creds(server: &MockServer) -> Credentials {
        Credentials {
            slack_api_url: endpoint(server.uri()),
            slack_bot_token: Some("xoxb-test".into()),
            ..Credentials::default()
        }
    }

    fn reply() -> Delivery {
        Delivery::SlackMessage {
            channel: "C123".into(),
            thread_ts: Some("1712345678.000100".into()),
            text: "Done.".into(),
        }
    }

    async fn answering(template: ResponseTemplate) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/chat.postMessage"))
            .respond_with(template)
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn a_thread_reply_is_posted_with_the_bot_token_and_returns_its_ts() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/chat.postMessage"))
            .and(header("authorization", "Bearer xoxb-test"))
            .and(header("content-type", "application/json; charset=utf-8"))
            .and(body_json(json!({
                "channel": "C123", "text": "Done.", "thread_ts": "1712345678.000100"
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"ok": true, "channel": "C123", "ts": "1712345679.000200",
                           "message": {"user": "UBOT", "bot_id": "B1"}}),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let sent = execute(&clients(), &creds(&server), &reply())
            .await
            .unwrap();
        assert_eq!(sent.remote_id.as_deref(), Some("C123:1712345679.000200"));
        assert_eq!(sent.author.as_deref(), Some("UBOT"));
    }

    #[tokio::test]
    async fn a_message_without_a_thread_sends_no_thread_ts() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(body_json(json!({"channel": "C123", "text": "hi"})))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"ok": true, "ts": "1.2"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let d = Delivery::SlackMessage {
            channel: "C123".into(),
            thread_ts: None,
            text: "hi".into(),
        };
        execute(&clients(), &creds(&server), &d).await.unwrap();
    }

    #[tokio::test]
    async fn ok_false_is_permanent_except_when_rate_limited() {
        let refused = json!({"ok": false, "error": "channel_not_found"});
        let server = answering(ResponseTemplate::new(200).set_body_json(refused)).await;
        let err = execute(&clients(), &creds(&server), &reply())
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("channel_not_found"), "{}", err.message);

        for transient in [
            "ratelimited",
            "rate_limited",
            "service_unavailable",
            "internal_error",
        ] {
            let answer = json!({"ok": false, "error": transient});
            let server = answering(ResponseTemplate::new(200).set_body_json(answer)).await;
            let err = execute(&clients(), &creds(&server), &reply())
                .await
                .unwrap_err();
            assert!(err.retryable, "{transient}");
        }
    }

    /// Slack refuses for a rate limit with a 200 too, naming its wait as a 429 would: the
    /// retry waits it. A refusal that is not retried has no wait to keep.
    #[tokio::test]
    async fn a_rate_limit_answered_with_200_waits_the_retry_after_it_names() {
        // (the error, Retry-After, the wait kept)
        let cases = [
            ("ratelimited", Some("20"), Some(Duration::from_secs(20))),
            ("rate_limited", Some("6"), Some(Duration::from_secs(6))),
            ("ratelimited", None, None),
            ("channel_not_found", Some("20"), None),
        ];
        for (error, retry_after, kept) in cases {
            let mut answer =
                ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": error}));
            if let Some(secs) = retry_after {
                answer = answer.insert_header("retry-after", secs);
            }
            let server = answering(answer).await;
            let err = execute(&clients(), &creds(&server), &reply())
                .await
                .unwrap_err();
            assert_eq!(err.retry_after, kept, "{error} {retry_after:?}");
        }
    }

    #[tokio::test]
    async fn an_answer_cut_off_after_ok_true_is_a_post_made_not_a_refusal() {
        let cut = r#"{"ok":true,"channel":"C1","ts":"17000"#;
        let server = answering(ResponseTemplate::new(200).set_body_string(cut)).await;
        let sent = execute(&clients(), &creds(&server), &reply()).await;
        assert_eq!(
            sent.expect("delivered").remote_id,
            None,
            "its ts did not all arrive"
        );
        let cut = r#"{"ok":true,"channel":"C1","ts":"1700000000.000300","message":{"te"#;
        let server = answering(ResponseTemplate::new(200).set_body_string(cut)).await;
        let sent = execute(&clients(), &creds(&server), &reply()).await;
        assert_eq!(
            sent.expect("delivered").remote_id.as_deref(),
            Some("C1:1700000000.000300")
        );

        let garbled = answering(ResponseTemplate::new(200).set_body_string("<html>")).await;
        let err = execute(&clients(), &creds(&garbled), &reply())
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("could not be read"), "{}", err.message);
    }

    #[tokio::test]
    async fn http_errors_are_classified_like_every_other_api() {
        let server = answering(ResponseTemplate::new(500)).await;
        assert!(
            execute(&clients(), &creds(&server), &reply())
                .await
                .unwrap_err()
                .retryable
        );

        let server = answering(ResponseTemplate::new(429).insert_header("Retry-After", "7")).await;
        let err = execute(&clients(), &creds(&server), &reply())
            .await
            .unwrap_err();
        assert!(err.retryable);
        assert_eq!(err.retry_after, Some(Duration::from_secs(7)));

        for status in [404, 410] {
            let server = answering(ResponseTemplate::new(status)).await;
            assert!(
                !execute(&clients(), &creds(&server), &reply())
                    .await
                    .unwrap_err()
                    .retryable
            );
        }
    }

    #[tokio::test]
    async fn a_missing_bot_token_is_permanent_and_names_slack_bot_token() {
        let server = MockServer::start().await;
        let creds = Credentials {
            slack_bot_token: None,
            ..creds(&server)
        };
        let err = execute(&clients(), &creds, &reply()).await.unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("SLACK_BOT_TOKEN"), "{}", err.message);
    }

    #[tokio::test]
    async fn a_response_url_answer_is_posted_in_channel() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/commands/T1/123/abc"))
            .and(body_json(json!({
                "text": "Queued.", "response_type": "in_channel", "replace_original": false
            })))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .expect(1)
            .mount(&server)
            .await;
        let d = Delivery::SlackResponse {
            response_url: format!("{}/commands/T1/123/abc", server.uri()),
            text: "Queued.".into(),
            replace_original: false,
        };
        let sent = execute(&clients(), &Credentials::default(), &d)
            .await
            .unwrap();
        assert_eq!(sent.status, 200);
    }

    #[tokio::test]
    async fn a_response_url_outside_slack_is_refused_without_a_request() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        // The mock's host is not allowlisted here, so it is just "some other host".
        let strict = Clients::new(Vec::new(), Duration::from_secs(5));
        for url in [
            format!("{}/commands/T1/123/abc", server.uri()),
            "http://hooks.slack.com/commands/T1/1/x".to_owned(),
            "https://hooks.slack.com.evil.example/commands/T1/1/x".to_owned(),
        ] {
            let d = Delivery::SlackResponse {
                response_url: url.clone(),
                text: "x".into(),
                replace_original: true,
            };
            let err = execute(&strict, &Credentials::default(), &d)
                .await
                .unwrap_err();
            assert!(!err.retryable, "{url}");
            assert!(err.message.contains("hooks.slack.com"), "{}", err.message);
        }
    }
}
