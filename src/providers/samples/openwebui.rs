//! Open WebUI samples: the recorded 0.12 event bodies (the `*.json` fixtures beside this
//! file) and user notification webhooks, each with a fresh id and time.

use serde_json::{Value, json};

use super::{Cx, Out, given, put, set_if_absent, uuid};

const OWUI_USER_CREATED: &str = include_str!("openwebui-user.created.json");
const OWUI_CHAT_FINISHED: &str = include_str!("openwebui-chat.finished.json");
const OWUI_AUTH_SIGNUP: &str = include_str!("openwebui-auth.signup.json");
const OWUI_MESSAGE_CREATED: &str = include_str!("openwebui-message.created.json");
const OWUI_STARTUP: &str = include_str!("openwebui-system.startup.completed.json");
const OWUI_NOTIFY_CHAT: &str = include_str!("openwebui-notification.chat.json");
const OWUI_NOTIFY_TEST: &str = include_str!("openwebui-notification.test.json");

pub(super) fn openwebui(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    // User notification webhooks carry `action` and no `event`: `notification.<action>`.
    let notification = t.strip_prefix("notification.").filter(|a| !a.is_empty());
    let body = match payload {
        Some(p) => given(p, |p| match notification {
            Some(action) if p.get("event").is_none() => {
                set_if_absent(p, &["action"], json!(action));
            }
            _ => set_if_absent(p, &["event"], json!(t)),
        }),
        None => openwebui_body(t, notification, cx),
    };
    // aiohttp's defaults: Open WebUI sets no headers of its own.
    Out::json(&body, "application/json")
        .header("User-Agent", "Python/3.11 aiohttp/3.14.5")
        .header("Accept", "*/*")
}

fn openwebui_body(t: &str, notification: Option<&str>, cx: &Cx) -> Value {
    let fixture = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_default();
    if let Some(action) = notification {
        let mut body = match action {
            "test" => fixture(OWUI_NOTIFY_TEST),
            _ => fixture(OWUI_NOTIFY_CHAT),
        };
        put(&mut body, "action", json!(action));
        match action {
            "test" => {}
            // A channel message names the channel in `title` and links to it, not to a chat.
            "channel" => {
                put(&mut body, "title", json!("general"));
                put(&mut body, "url", json!(format!("/channels/{}", uuid())));
            }
            _ => put(&mut body, "url", json!(format!("/c/{}", uuid()))),
        }
        return body;
    }
    let mut body = match t {
        "user.created" => fixture(OWUI_USER_CREATED),
        "chat.finished" => fixture(OWUI_CHAT_FINISHED),
        "auth.signup" => fixture(OWUI_AUTH_SIGNUP),
        "message.created" => fixture(OWUI_MESSAGE_CREATED),
        "system.startup.completed" => fixture(OWUI_STARTUP),
        // Releases before 0.12 sent this alone on a sign-up, with no id or time to refresh.
        "new_user" => {
            return json!({"event": "new_user", "user": {"email": "tim@example.com", "name": "Tim"}});
        }
        _ => {
            // Any other event in the 0.12 envelope, with no subject or data to guess at.
            let mut b = fixture(OWUI_USER_CREATED);
            let (resource, operation) = t.rsplit_once('.').unwrap_or((t, ""));
            put(&mut b, "event", json!(t));
            put(&mut b, "resource", json!(resource));
            put(&mut b, "operation", json!(operation));
            put(&mut b, "subject", Value::Null);
            put(&mut b, "data", json!({}));
            b
        }
    };
    // A fresh id and time: the id is the delivery id, so a reused one would be deduplicated.
    put(&mut body, "id", json!(uuid()));
    put(&mut body, "created_at", json!(cx.secs));
    body
}
