//! Slack: the receive path's verify + describe step for the Events API, slash commands and
//! interactivity, which all sign `v0:{timestamp}:{body}` the same way.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::common::{
    check_hmac, decode_hex, described, detail, form_payload, header, not_a_form, parse_form,
    parse_ts, raw_at, secret_bytes, source, str_at, within,
};
use super::{
    DEFAULT_TOLERANCE_SECS, Described, Handshake, KeyUsed, PayloadError, Request, Secrets,
    SourceRef, VerifyError,
};

const SIGNATURE: &str = "X-Slack-Signature";
const TIMESTAMP: &str = "X-Slack-Request-Timestamp";

/// The window is checked before the signature, as the SDK does, in both directions.
pub(super) fn verify(
    secrets: Secrets<'_>,
    req: &Request<'_>,
    tolerance: Option<i64>,
) -> Result<KeyUsed, VerifyError> {
    let value = header(req.headers, SIGNATURE).ok_or(VerifyError::MissingHeader(SIGNATURE))?;
    let ts_raw = header(req.headers, TIMESTAMP).ok_or(VerifyError::MissingHeader(TIMESTAMP))?;
    let ts = parse_ts(ts_raw, "X-Slack-Request-Timestamp is not an integer")?;
    if !within(
        req.now_secs(),
        ts,
        tolerance.unwrap_or(DEFAULT_TOLERANCE_SECS),
    ) {
        return Err(VerifyError::StaleTimestamp);
    }
    let hex_sig = value
        .strip_prefix("v0=")
        .ok_or(VerifyError::Malformed("expected v0=<hex>"))?;
    let sig = decode_hex(hex_sig)?;
    // Slack signs the header text as sent, so it is used verbatim, not re-formatted.
    let parts: [&[u8]; 4] = [b"v0:", ts_raw.as_bytes(), b":", req.body];
    secrets.try_each(|secret| check_hmac(secret_bytes(secret)?, &parts, &sig))
}

/// The event types of Slack's interactivity payloads (buttons, shortcuts, modals). Unlike a
/// message's text, which Slack escapes, what people typed into them comes as typed.
pub const INTERACTIONS: [&str; 8] = [
    "block_actions",
    "block_suggestion",
    "message_action",
    "shortcut",
    "view_submission",
    "view_closed",
    "interactive_message",
    "dialog_submission",
];

/// Interactions that name the channel they happened in (`channel.name`, `channel.id`).
pub const INTERACTIONS_IN_A_CHANNEL: [&str; 4] = [
    "block_actions",
    "message_action",
    "interactive_message",
    "dialog_submission",
];

/// Interactions that happen outside any channel (a global shortcut, a modal) and carry no
/// `response_url`: nothing can be replied to them.
pub const INTERACTIONS_OUTSIDE_A_CHANNEL: [&str; 4] = [
    "shortcut",
    "view_submission",
    "view_closed",
    "block_suggestion",
];

/// Whether the string at a path of a Slack event's payload (`keys`: the object keys leading
/// to it, array indexes left out; `parent`: the object holding it) is text Slack escaped
/// (`&amp;`, `&lt;`, `&gt;`) and may mark up (`<@U1>`, `<https://x|label>`): a message's
/// `text`, an attachment's `text`, `fallback` and `pretext`, a slash command's `text`, and
/// inside Block Kit `blocks` only a `mrkdwn` text object's `text`. Everything else — names,
/// titles, a rich-text element's or a `plain_text` object's `text` (the words as typed,
/// wherever it stands: a view's title too) — is plain, and would be markup if put into a
/// Slack message as it is.
pub fn is_escaped_text(keys: &[&str], parent: &Map<String, Value>) -> bool {
    let Some((last, above)) = keys.split_last() else {
        return false;
    };
    let kind = parent.get("type").and_then(Value::as_str);
    if kind == Some("plain_text") {
        return false;
    }
    if above.contains(&"blocks") {
        *last == "text" && kind == Some("mrkdwn")
    } else {
        matches!(*last, "text" | "fallback" | "pretext")
    }
}

/// Events API JSON; an interactivity form's `payload` JSON; otherwise the form's own fields
/// (slash commands, `ssl_check=1`).
pub(super) fn parse_payload(body: &[u8]) -> Result<Value, PayloadError> {
    // An empty body is an empty form, as for every provider.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(e) => {
            let fields = parse_form(body).ok_or_else(|| not_a_form(body, &e))?;
            match form_payload(&fields).filter(Value::is_object) {
                Some(payload) => Ok(payload),
                // An interactivity form carries its JSON in `payload`; anything else there
                // is not something Slack sends.
                None if fields.contains_key("payload") => Err(PayloadError::not_json(
                    "the form's `payload` is not a JSON object",
                )),
                None => Ok(Value::Object(fields)),
            }
        }
    }
}

/// Handshakes first, then the three body shapes. For `event_callback` the event type is
/// `event.type`, except that a new `message` is named as Slack names the subscription that
/// delivered it (`message.channels`, `message.groups`, `message.im`, `message.mpim`) from
/// `event.channel_type`, so a trigger `message` matches all of them and `message.channels`
/// only public channels. A message whose `subtype` says it is not a new post (an edit, a
/// deletion, someone joining) is named by that subtype (`message_changed`,
/// `message_deleted`, `message_channel_join`), so "answer each new message" does not also
/// answer every edit and join.
pub(super) fn describe(_headers: &HeaderMap, payload: &Value) -> Described {
    let kind = str_at(payload, "/type");
    if kind.as_deref() == Some("url_verification") {
        let challenge = str_at(payload, "/challenge").unwrap_or_default();
        return handshake("url_verification", Handshake::SlackChallenge { challenge });
    }
    if str_at(payload, "/ssl_check").as_deref() == Some("1") {
        return handshake("ssl_check", Handshake::SlackSslCheck);
    }
    if kind.as_deref() == Some("event_callback") {
        let event_type = match str_at(payload, "/event/type") {
            Some(t) if t == "message" => message_type(payload),
            Some(t) => t,
            None => "event_callback".into(),
        };
        return described(
            event_type,
            str_at(payload, "/event_id"),
            event_source(payload),
        );
    }
    if let Some(command) = str_at(payload, "/command") {
        return described(
            command,
            str_at(payload, "/trigger_id"),
            command_source(payload),
        );
    }
    match kind {
        Some(kind) => described(
            kind,
            str_at(payload, "/trigger_id"),
            interaction_source(payload),
        ),
        None => described("unknown".into(), None, None),
    }
}

/// Subtypes that are still someone posting something new, as a person's plain message is.
const NEW_POST_SUBTYPES: [&str; 4] = [
    "bot_message",
    "me_message",
    "file_share",
    "thread_broadcast",
];

/// Whether a `message` event is Slack's notice that a thread got a reply (`message_replied`,
/// carrying the thread's parent message): the Events API sends it without its subtype (a bug
/// Slack documents), but hidden and with the parent in `message`. Taken for a new post, it
/// would answer the reply it announces, as often as replies come: a loop with our own.
pub fn is_reply_notice(payload: &Value) -> bool {
    match payload.pointer("/event/subtype").and_then(Value::as_str) {
        Some(subtype) => subtype == "message_replied",
        None => {
            payload.pointer("/event/hidden").and_then(Value::as_bool) == Some(true)
                && payload.pointer("/event/message/thread_ts").is_some()
        }
    }
}

fn message_type(payload: &Value) -> String {
    if is_reply_notice(payload) {
        return "message_replied".into();
    }
    match str_at(payload, "/event/subtype") {
        Some(sub) if !NEW_POST_SUBTYPES.contains(&sub.as_str()) => {
            if sub.starts_with("message_") {
                sub
            } else {
                format!("message_{sub}")
            }
        }
        _ => match str_at(payload, "/event/channel_type").as_deref() {
            Some("channel") => "message.channels",
            Some("group") => "message.groups",
            Some("im") => "message.im",
            Some("mpim") => "message.mpim",
            _ => "message",
        }
        .to_string(),
    }
}

fn handshake(event_type: &str, h: Handshake) -> Described {
    Described {
        handshake: Some(h),
        ..described(event_type.into(), None, None)
    }
}

/// A message's thread is its `thread_ts`, or its own `ts` when it starts one; an edit or a
/// deletion is about the message it carries (its own `ts` is only the notice's); reactions
/// point at their message through `item`.
fn event_source(p: &Value) -> Option<SourceRef> {
    // A file or a pin names its channel `channel_id` (`file_shared`, `pin_added`); an AI
    // app's assistant thread names its channel and thread apart (`assistant_thread_started`,
    // `assistant_thread_context_changed`).
    let channel = str_at(p, "/event/channel")
        .or_else(|| str_at(p, "/event/item/channel"))
        .or_else(|| str_at(p, "/event/channel_id"))
        .or_else(|| str_at(p, "/event/assistant_thread/channel_id"))?;
    // A link typed in the message composer (`link_shared` from `COMPOSER`) is in no
    // message yet: its `message_ts` is an id, not a place to post.
    if channel == "COMPOSER" {
        return None;
    }
    let ts = [
        "/event/thread_ts",
        "/event/assistant_thread/thread_ts",
        "/event/message/thread_ts",
        "/event/previous_message/thread_ts",
        "/event/message/ts",
        "/event/deleted_ts",
        // `link_shared` names the message its links are in so.
        "/event/message_ts",
        "/event/ts",
        "/event/item/ts",
    ]
    .into_iter()
    .find_map(|path| str_at(p, path));
    Some(thread_or_channel(channel, ts, None))
}

fn command_source(p: &Value) -> Option<SourceRef> {
    let channel = str_at(p, "/channel_id")?;
    let d = detail([
        ("channel", Some(Value::String(channel.clone()))),
        ("response_url", raw_at(p, "/response_url")),
        ("user_id", raw_at(p, "/user_id")),
    ]);
    Some(source("slack.channel", channel, d))
}

fn interaction_source(p: &Value) -> Option<SourceRef> {
    let channel = str_at(p, "/channel/id").or_else(|| str_at(p, "/container/channel_id"))?;
    let ts = str_at(p, "/message/thread_ts")
        .or_else(|| str_at(p, "/message/ts"))
        .or_else(|| str_at(p, "/container/thread_ts"))
        .or_else(|| str_at(p, "/container/message_ts"));
    Some(thread_or_channel(channel, ts, raw_at(p, "/response_url")))
}

fn thread_or_channel(
    channel: String,
    ts: Option<String>,
    response_url: Option<Value>,
) -> SourceRef {
    let mut d: Map<String, Value> = detail([
        ("channel", Some(Value::String(channel.clone()))),
        ("thread_ts", ts.clone().map(Value::String)),
        ("response_url", response_url),
    ]);
    match ts {
        Some(ts) => source("slack.thread", format!("{channel}:{ts}"), d),
        None => {
            d.remove("thread_ts");
            source("slack.channel", channel, d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::common::test_support::{headers, hex_hmac, only, req, rotating};
    use serde_json::json;

    const SECRET: &str = "slack-signing";
    const BODY: &[u8] = br#"{"type":"event_callback"}"#;
    const NOW: i64 = 1_700_000_000;

    fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
        format!(
            "v0={}",
            hex_hmac(secret, &[b"v0:", ts.as_bytes(), b":", body])
        )
    }

    #[test]
    fn verify_table() {
        let ts = NOW.to_string();
        let good = sign(SECRET, &ts, BODY);
        let old = sign("old", &ts, BODY);
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            &'a [u8],
            i64,
            Secrets<'a>,
            Result<KeyUsed, VerifyError>,
        );
        let cases: Vec<Case> = vec![
            (
                "valid",
                Some(&good),
                BODY,
                NOW,
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "tampered",
                Some(&good),
                b"{}",
                NOW,
                only(SECRET),
                Err(VerifyError::BadSignature),
            ),
            (
                "wrong secret",
                Some(&good),
                BODY,
                NOW,
                only("nope"),
                Err(VerifyError::BadSignature),
            ),
            (
                "missing",
                None,
                BODY,
                NOW,
                only(SECRET),
                Err(VerifyError::MissingHeader(SIGNATURE)),
            ),
            (
                "stale",
                Some(&good),
                BODY,
                NOW + 301,
                only(SECRET),
                Err(VerifyError::StaleTimestamp),
            ),
            (
                "future",
                Some(&good),
                BODY,
                NOW - 301,
                only(SECRET),
                Err(VerifyError::StaleTimestamp),
            ),
            (
                "no prefix",
                Some(&good[3..]),
                BODY,
                NOW,
                only(SECRET),
                Err(VerifyError::Malformed("expected v0=<hex>")),
            ),
            (
                "rotation",
                Some(&old),
                BODY,
                NOW,
                rotating(SECRET, "old"),
                Ok(KeyUsed::Previous),
            ),
        ];
        for (name, sig, body, now, secrets, want) in cases {
            let mut pairs = vec![(TIMESTAMP, ts.as_str())];
            pairs.extend(sig.map(|s| (SIGNATURE, s)));
            let h = headers(&pairs);
            assert_eq!(verify(secrets, &req(&h, body, now), None), want, "{name}");
        }
        let h = headers(&[(SIGNATURE, &good)]);
        let want = Err(VerifyError::MissingHeader(TIMESTAMP));
        assert_eq!(verify(only(SECRET), &req(&h, BODY, NOW), None), want);
        let h = headers(&[(SIGNATURE, &good), (TIMESTAMP, &ts)]);
        assert_eq!(
            verify(only(SECRET), &req(&h, BODY, NOW + 900), Some(1000)),
            Ok(KeyUsed::Current)
        );
    }

    #[test]
    fn window_edges_are_inclusive_both_ways() {
        let ts = NOW.to_string();
        let good = sign(SECRET, &ts, BODY);
        let h = headers(&[(SIGNATURE, &good), (TIMESTAMP, &ts)]);
        for (now, want) in [
            (NOW + 300, Ok(KeyUsed::Current)),
            (NOW - 300, Ok(KeyUsed::Current)),
            (NOW + 301, Err(VerifyError::StaleTimestamp)),
            (NOW - 301, Err(VerifyError::StaleTimestamp)),
        ] {
            assert_eq!(
                verify(only(SECRET), &req(&h, BODY, now), None),
                want,
                "{now}"
            );
        }
    }

    #[test]
    fn parses_every_body_shape() {
        assert_eq!(parse_payload(BODY), Ok(json!({"type": "event_callback"})));
        let interaction = b"payload=%7B%22type%22%3A%22block_actions%22%7D";
        assert_eq!(
            parse_payload(interaction),
            Ok(json!({"type": "block_actions"}))
        );
        let slash = b"command=%2Fdeploy&channel_id=C1&text=";
        assert_eq!(
            parse_payload(slash),
            Ok(json!({"command": "/deploy", "channel_id": "C1", "text": ""}))
        );
        assert_eq!(
            parse_payload(b"ssl_check=1&token=x"),
            Ok(json!({"ssl_check": "1", "token": "x"}))
        );
        assert!(parse_payload(b"not a body").is_err());
        assert_eq!(parse_payload(b""), Ok(json!({})));
        assert_eq!(parse_payload(b" \n"), Ok(json!({})));
        // A form whose `payload` is not the JSON object Slack sends there.
        assert!(parse_payload(b"payload=%7Bnot-json").is_err());
        assert!(parse_payload(b"payload=%5B1%5D").is_err());
    }

    #[test]
    fn describe_handshakes() {
        let d = describe(
            &headers(&[]),
            &json!({"type": "url_verification", "challenge": "abc", "token": "t"}),
        );
        assert_eq!(d.event_type, "url_verification");
        assert_eq!(
            d.handshake,
            Some(Handshake::SlackChallenge {
                challenge: "abc".into()
            })
        );
        let d = describe(&headers(&[]), &json!({"ssl_check": "1", "token": "t"}));
        assert_eq!(
            (d.event_type.as_str(), d.handshake),
            ("ssl_check", Some(Handshake::SlackSslCheck))
        );
    }

    #[test]
    fn describe_table() {
        let cases = [
            (
                json!({"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention", "channel": "C1", "ts": "1.2"}}),
                "app_mention",
                Some("Ev1"),
                Some(("slack.thread", "C1:1.2")),
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev2", "event": {"type": "message", "subtype": "bot_message", "channel": "C1", "ts": "3.4", "thread_ts": "1.2"}}),
                "message",
                Some("Ev2"),
                Some(("slack.thread", "C1:1.2")),
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev4", "event": {"type": "message", "channel_type": "channel", "channel": "C5", "ts": "9.1"}}),
                "message.channels",
                Some("Ev4"),
                Some(("slack.thread", "C5:9.1")),
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev5", "event": {"type": "message", "channel_type": "im", "channel": "D1", "ts": "9.2"}}),
                "message.im",
                Some("Ev5"),
                Some(("slack.thread", "D1:9.2")),
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev6", "event": {"type": "message", "subtype": "thread_broadcast", "channel_type": "channel", "channel": "C5", "ts": "9.3", "thread_ts": "9.1"}}),
                "message.channels",
                Some("Ev6"),
                Some(("slack.thread", "C5:9.1")),
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev7", "event": {"type": "message", "subtype": "message_changed", "channel_type": "channel", "channel": "C5", "ts": "9.9",
                    "message": {"type": "message", "text": "edited", "ts": "9.4", "thread_ts": "9.1"}}}),
                "message_changed",
                Some("Ev7"),
                Some(("slack.thread", "C5:9.1")),
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev8", "event": {"type": "message", "subtype": "message_changed", "channel_type": "channel", "channel": "C5", "ts": "9.9",
                    "message": {"type": "message", "text": "edited", "ts": "9.4"}}}),
                "message_changed",
                Some("Ev8"),
                Some(("slack.thread", "C5:9.4")),
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev9", "event": {"type": "message", "subtype": "message_deleted", "channel_type": "channel", "channel": "C5", "ts": "9.9", "deleted_ts": "9.4"}}),
                "message_deleted",
                Some("Ev9"),
                Some(("slack.thread", "C5:9.4")),
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev10", "event": {"type": "message", "subtype": "channel_join", "channel_type": "channel", "channel": "C5", "ts": "9.5", "text": "<@U1> has joined the channel"}}),
                "message_channel_join",
                Some("Ev10"),
                Some(("slack.thread", "C5:9.5")),
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev3", "event": {"type": "reaction_added", "item": {"channel": "C2", "ts": "5.6"}}}),
                "reaction_added",
                Some("Ev3"),
                Some(("slack.thread", "C2:5.6")),
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev11", "event": {"type": "assistant_thread_started",
                    "assistant_thread": {"user_id": "U1", "channel_id": "D9", "thread_ts": "1729999327.187299", "context": {}},
                    "event_ts": "1715873754.429808"}}),
                "assistant_thread_started",
                Some("Ev11"),
                Some(("slack.thread", "D9:1729999327.187299")),
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev12", "event": {"type": "link_shared", "channel": "C7",
                    "message_ts": "7.7", "links": [{"domain": "example.com", "url": "https://example.com/1"}]}}),
                "link_shared",
                Some("Ev12"),
                Some(("slack.thread", "C7:7.7")),
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev13", "event": {"type": "link_shared", "channel": "COMPOSER",
                    "message_ts": "U0123-9a8b", "source": "composer", "links": []}}),
                "link_shared",
                Some("Ev13"),
                None,
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev14", "event": {"type": "file_shared", "channel_id": "C8",
                    "file_id": "F1", "user_id": "U1", "file": {"id": "F1"}, "event_ts": "8.8"}}),
                "file_shared",
                Some("Ev14"),
                Some(("slack.channel", "C8")),
            ),
            (
                json!({"type": "event_callback", "event_id": "Ev15", "event": {"type": "pin_removed", "channel_id": "C9",
                    "user": "U1", "item": {"type": "file", "file_id": "F2"}, "has_pins": false, "event_ts": "9.9"}}),
                "pin_removed",
                Some("Ev15"),
                Some(("slack.channel", "C9")),
            ),
            (
                json!({"command": "/deploy", "channel_id": "C3", "trigger_id": "T1", "response_url": "https://r", "user_id": "U1"}),
                "/deploy",
                Some("T1"),
                Some(("slack.channel", "C3")),
            ),
            (
                json!({"type": "block_actions", "trigger_id": "T2", "channel": {"id": "C4"}, "message": {"ts": "7.8"}, "response_url": "https://r"}),
                "block_actions",
                Some("T2"),
                Some(("slack.thread", "C4:7.8")),
            ),
            (
                json!({"type": "view_submission", "trigger_id": "T3", "view": {}}),
                "view_submission",
                Some("T3"),
                None,
            ),
            (json!({"hello": 1}), "unknown", None, None),
        ];
        for (payload, want_type, want_id, want_src) in cases {
            let d = describe(&headers(&[]), &payload);
            assert_eq!(d.event_type, want_type);
            assert_eq!(d.delivery_id.as_deref(), want_id, "{want_type}");
            let got = d.source.as_ref().map(|s| (s.kind.as_str(), s.key.as_str()));
            assert_eq!(got, want_src, "{want_type}");
        }
        let slash = json!({"command": "/deploy", "channel_id": "C3", "response_url": "https://r", "user_id": "U1"});
        let want = json!({"channel": "C3", "response_url": "https://r", "user_id": "U1"});
        assert_eq!(
            describe(&headers(&[]), &slash).source.map(|s| s.detail),
            want.as_object().cloned()
        );
        let thread = json!({"type": "event_callback", "event": {"type": "message", "channel": "C1", "ts": "3.4", "thread_ts": "1.2"}});
        let want = json!({"channel": "C1", "thread_ts": "1.2"});
        assert_eq!(
            describe(&headers(&[]), &thread).source.map(|s| s.detail),
            want.as_object().cloned()
        );
    }
}
