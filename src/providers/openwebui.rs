//! Open WebUI: the receive path's verify + describe step for its outgoing webhooks, which
//! carry no signature, so the secret travels in the receiver URL (`?token=`).

use axum::http::HeaderMap;
use serde_json::Value;

use super::common::{
    bearer, check_token, described, detail, header, query_param, raw_at, source, str_at,
};
use super::{Described, KeyUsed, Request, Secrets, SourceRef, VerifyError};

/// Open WebUI sends only the URL it was given, so the token is read from the query first;
/// `X-Webhook-Token` and `Authorization: Bearer` serve proxies or callers that can set
/// headers. Compared in constant time like any secret.
pub(super) fn verify(secrets: Secrets<'_>, req: &Request<'_>) -> Result<KeyUsed, VerifyError> {
    let presented = query_param(req.query, "token")
        .or_else(|| header(req.headers, "X-Webhook-Token").map(str::to_owned))
        .or_else(|| bearer(req.headers).map(str::to_owned))
        .ok_or(VerifyError::MissingToken)?;
    secrets.try_each(|secret| check_token(&presented, secret))
}

/// Three body shapes: the 0.12 event stream (`event`, `id`, `subject`, `data`), the user
/// notification webhooks (`action`, `url`, no id), and the legacy `{"event":"new_user"}`.
pub(super) fn describe(_headers: &HeaderMap, payload: &Value) -> Described {
    if let Some(event) = str_at(payload, "/event") {
        let src = event_source(&event, payload);
        let id = delivery_id(&event, payload);
        return described(event, id, src);
    }
    if let Some(action) = str_at(payload, "/action") {
        // Notifications have no id; a retry cannot happen (Open WebUI never retries).
        let src = str_at(payload, "/url").and_then(|url| url_source(&url));
        return described(format!("notification.{action}"), None, src);
    }
    described("unknown".into(), None, None)
}

/// The id that makes two deliveries one event. Open WebUI sends `channel.message` once for
/// each member of the channel who is away (the sender too), each copy with an id of its own
/// and the member in `data.user_id`: the message's id makes them one, so a command runs once
/// per message, not once per member.
fn delivery_id(event: &str, p: &Value) -> Option<String> {
    if event == "channel.message"
        && let Some(message) = str_at(p, "/data/message_id")
    {
        return Some(format!("channel.message:{message}"));
    }
    str_at(p, "/id")
}

fn event_source(event: &str, p: &Value) -> Option<SourceRef> {
    // A chat's events, and the `message.created` Open WebUI sends for each prompt and answer
    // in a chat (besides channel posts and direct messages), are the chat's.
    if (event.starts_with("chat.") || event.starts_with("message."))
        && let Some(chat) = str_at(p, "/data/chat_id")
    {
        // A chat message's `message.created` names its message as the subject.
        let message = raw_at(p, "/data/message_id").or_else(|| {
            (str_at(p, "/subject/type").as_deref() == Some("message"))
                .then(|| raw_at(p, "/subject/id"))
                .flatten()
        });
        let d = detail([
            ("chat_id", Some(Value::String(chat.clone()))),
            ("message_id", message),
            ("url", raw_at(p, "/data/url")),
        ]);
        return Some(source("openwebui.chat", chat, d));
    }
    if let Some(channel) = str_at(p, "/data/channel_id") {
        let message = (str_at(p, "/subject/type").as_deref() == Some("message"))
            .then(|| raw_at(p, "/subject/id"))
            .flatten()
            .or_else(|| raw_at(p, "/data/message_id"));
        let d = detail([
            ("channel_id", Some(Value::String(channel.clone()))),
            ("message_id", message),
        ]);
        return Some(source("openwebui.channel", channel, d));
    }
    let kind = str_at(p, "/subject/type")?;
    let id = str_at(p, "/subject/id")?;
    let d = detail([("id", Some(Value::String(id.clone())))]);
    Some(source(&format!("openwebui.{kind}"), id, d))
}

/// Notification payloads name their chat or channel only in a link such as
/// `https://host/c/<id>` or the relative `/channels/<id>`.
fn url_source(url: &str) -> Option<SourceRef> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    segments.windows(2).rev().find_map(|pair| {
        let (kind, field) = match pair.first().copied()? {
            "c" => ("openwebui.chat", "chat_id"),
            "channels" => ("openwebui.channel", "channel_id"),
            _ => return None,
        };
        let id = pair.get(1)?.to_string();
        let d = detail([
            (field, Some(Value::String(id.clone()))),
            ("url", Some(url.into())),
        ]);
        Some(source(kind, id, d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::common::test_support::{headers, only, req, rotating};
    use serde_json::json;

    const SECRET: &str = "owui-token-123";

    #[test]
    fn verify_table() {
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Vec<(&'a str, &'a str)>,
            Secrets<'a>,
            Result<KeyUsed, VerifyError>,
        );
        let cases: Vec<Case> = vec![
            (
                "query",
                Some("a=1&token=owui-token-123"),
                vec![],
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "header",
                None,
                vec![("X-Webhook-Token", SECRET)],
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "bearer",
                None,
                vec![("Authorization", "Bearer owui-token-123")],
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "wrong",
                Some("token=owui-token-12"),
                vec![],
                only(SECRET),
                Err(VerifyError::BadSignature),
            ),
            (
                "missing",
                Some("token="),
                vec![("Authorization", "Basic abc")],
                only(SECRET),
                Err(VerifyError::MissingToken),
            ),
            (
                "rotation",
                Some("token=old"),
                vec![],
                rotating(SECRET, "old"),
                Ok(KeyUsed::Previous),
            ),
            (
                "rotation, neither",
                Some("token=x"),
                vec![],
                rotating(SECRET, "old"),
                Err(VerifyError::BadSignature),
            ),
        ];
        for (name, query, pairs, secrets, want) in cases {
            let h = headers(&pairs);
            let r = Request {
                query,
                ..req(&h, b"{}", 0)
            };
            assert_eq!(verify(secrets, &r), want, "{name}");
        }
    }

    /// Trimmed from shared/openwebui-samples (Open WebUI 0.12.4, measured).
    fn sample(name: &str) -> Value {
        let actor =
            json!({"id": "5eb8d70a-cc59-46aa-a255-76af4cebf9bc", "role": "admin", "type": "user"});
        match name {
            "chat" => json!({"schema": "0.12.4", "id": "4a3ed352-3264-4b05-993f-bd6e28f20129",
                "event": "chat.finished", "resource": "chat", "operation": "finished", "actor": actor,
                "subject": {"type": "chat", "id": "82177fe9-bfa9-43ff-867b-d4d3e19acf7a"},
                "data": {"user_id": "5eb8d70a-cc59-46aa-a255-76af4cebf9bc",
                    "chat_id": "82177fe9-bfa9-43ff-867b-d4d3e19acf7a", "message_id": "asst-1",
                    "model_id": "fake-model", "title": "New Chat",
                    "url": "/c/82177fe9-bfa9-43ff-867b-d4d3e19acf7a", "message": "TOOL RESULT: echo: ping"},
                "message": "New Chat"}),
            "message" => json!({"schema": "0.12.4", "id": "a5f9e150-e820-44e0-a5e5-0cbffb40c246",
                "event": "message.created", "resource": "message", "operation": "created",
                "source": "channel_webhook", "actor": {"id": "5f68a2fb", "role": "webhook", "type": "webhook"},
                "subject": {"type": "message", "id": "2594d533-b2ab-4d34-bfb3-74183e7324b3"},
                "data": {"channel_id": "682d8c62-f773-40ed-8da9-a8c0ac5b71e3",
                    "content_preview": "Hello from **webhook-mcp** :rocket:"},
                "message": null}),
            "user" => json!({"schema": "0.12.4", "id": "0e6d48ba-037e-40c1-bc15-a72df1c7b183",
                "event": "user.created", "resource": "user", "operation": "created", "actor": actor,
                "subject": {"type": "user", "id": "5eb8d70a-cc59-46aa-a255-76af4cebf9bc"},
                "data": {"role": "admin"}, "message": null}),
            _ => json!({"schema": "0.12.4", "id": "083a6e3b-b941-4251-96ed-af172d8cab28",
                "event": "system.startup.completed", "resource": "system.startup",
                "operation": "completed", "source": "system", "actor": null, "subject": null,
                "data": {}, "message": null}),
        }
    }

    #[test]
    fn describe_table() {
        let cases = [
            (
                sample("chat"),
                "chat.finished",
                Some("4a3ed352-3264-4b05-993f-bd6e28f20129"),
                Some(("openwebui.chat", "82177fe9-bfa9-43ff-867b-d4d3e19acf7a")),
            ),
            (
                sample("message"),
                "message.created",
                Some("a5f9e150-e820-44e0-a5e5-0cbffb40c246"),
                Some(("openwebui.channel", "682d8c62-f773-40ed-8da9-a8c0ac5b71e3")),
            ),
            // A chat's prompt, as Open WebUI 0.12.4 sends it for every message in a chat.
            (
                json!({"event": "message.created", "id": "m-1",
                    "subject": {"type": "message", "id": "msg-1"},
                    "data": {"chat_id": "c-9", "role": "user", "content_preview": "private"}}),
                "message.created",
                Some("m-1"),
                Some(("openwebui.chat", "c-9")),
            ),
            // Sent once per channel member away, each copy with its own id: one event.
            (
                json!({"event": "channel.message", "id": "copy-for-bob",
                    "subject": {"type": "channel", "id": "ch-2"},
                    "data": {"user_id": "bob", "channel_id": "ch-2", "message_id": "msg-7",
                             "content": "the deploy failed"}}),
                "channel.message",
                Some("channel.message:msg-7"),
                Some(("openwebui.channel", "ch-2")),
            ),
            (
                sample("user"),
                "user.created",
                Some("0e6d48ba-037e-40c1-bc15-a72df1c7b183"),
                Some(("openwebui.user", "5eb8d70a-cc59-46aa-a255-76af4cebf9bc")),
            ),
            (
                sample("startup"),
                "system.startup.completed",
                Some("083a6e3b-b941-4251-96ed-af172d8cab28"),
                None,
            ),
            (
                json!({"action": "chat", "message": "hi", "title": "New Chat", "url": "/c/ba427b41"}),
                "notification.chat",
                None,
                Some(("openwebui.chat", "ba427b41")),
            ),
            (
                json!({"action": "channel", "message": "hi", "url": "https://owui.example/channels/ch-1?x=1"}),
                "notification.channel",
                None,
                Some(("openwebui.channel", "ch-1")),
            ),
            (
                json!({"action": "test", "user_id": "u1"}),
                "notification.test",
                None,
                None,
            ),
            (
                json!({"event": "new_user", "user": {"id": "u1"}}),
                "new_user",
                None,
                None,
            ),
            (json!({"hello": "world"}), "unknown", None, None),
        ];
        for (payload, want_type, want_id, want_src) in cases {
            let d = describe(&headers(&[]), &payload);
            assert_eq!(d.event_type, want_type);
            assert_eq!(d.delivery_id.as_deref(), want_id, "{want_type}");
            let got = d.source.as_ref().map(|s| (s.kind.as_str(), s.key.as_str()));
            assert_eq!(got, want_src, "{want_type}");
        }
        let d = describe(&headers(&[]), &sample("message"))
            .source
            .expect("source");
        let want = json!({"channel_id": "682d8c62-f773-40ed-8da9-a8c0ac5b71e3",
            "message_id": "2594d533-b2ab-4d34-bfb3-74183e7324b3"});
        assert_eq!(Some(d.detail), want.as_object().cloned());
    }
}
