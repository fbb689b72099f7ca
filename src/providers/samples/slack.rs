//! Slack samples: Events API callbacks, slash commands and interactivity payloads (sent as
//! forms), and the `url_verification` / `ssl_check` handshakes.

use serde_json::{Value, json};

use super::{Cx, Out, given, hex_id, put, set_if_absent, short_id, uuid};

const SLACK_TEAM: &str = "T0001ABCDEF";
const SLACK_APP: &str = "A0001ABCDEF";
const SLACK_USER: &str = "U0123ABCDEF";
const SLACK_BOT_USER: &str = "U0BOT00001";

/// Interactivity payload types, sent as a form with one `payload=<json>` field.
const SLACK_INTERACTIVE: &[&str] = &[
    "block_actions",
    "block_suggestion",
    "view_submission",
    "view_closed",
    "message_action",
    "shortcut",
    "interactive_message",
    "dialog_submission",
];

/// How a Slack event type is delivered.
enum SlackShape<'t> {
    /// Events API `event_callback`, with the inner `event.type` and, for message
    /// subscriptions, `event.channel_type`.
    Event {
        inner: &'t str,
        channel_type: Option<&'static str>,
    },
    /// A `message` that is not a new post (an edit, a deletion, a join), named by its
    /// subtype as `describe` names it.
    Subtype(&'t str),
    Slash,
    Interactive,
    UrlVerification,
    SslCheck,
}

fn slack_shape(t: &str) -> SlackShape<'_> {
    let message = |channel_type| SlackShape::Event {
        inner: "message",
        channel_type: Some(channel_type),
    };
    match t {
        "message.channels" => message("channel"),
        "message.groups" => message("group"),
        "message.im" => message("im"),
        "message.mpim" => message("mpim"),
        "url_verification" => SlackShape::UrlVerification,
        "ssl_check" => SlackShape::SslCheck,
        "message_changed" | "message_deleted" | "message_replied" => SlackShape::Subtype(t),
        // `message_metadata_*` are events of their own, not message subtypes.
        _ if t.starts_with("message_") && !t.starts_with("message_metadata_") => {
            SlackShape::Subtype(&t["message_".len()..])
        }
        _ if t.starts_with('/') => SlackShape::Slash,
        _ if SLACK_INTERACTIVE.contains(&t) => SlackShape::Interactive,
        _ => SlackShape::Event {
            inner: t,
            channel_type: None,
        },
    }
}

/// An Events API envelope around one event.
fn callback(event: Value, cx: &Cx) -> Value {
    json!({
        "token": "XXYYZZ0000000000",
        "team_id": SLACK_TEAM,
        "api_app_id": SLACK_APP,
        "event": event,
        "type": "event_callback",
        "event_id": format!("Ev{}", short_id(10)),
        "event_time": cx.secs,
        "authorizations": [{
            "enterprise_id": null,
            "team_id": SLACK_TEAM,
            "user_id": SLACK_BOT_USER,
            "is_bot": true,
            "is_enterprise_install": false,
        }],
        "is_ext_shared_channel": false,
        "event_context": format!("4-{}", short_id(24)),
    })
}

pub(super) fn slack(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let shape = slack_shape(t);
    let body = match payload {
        Some(p) => given(p, |p| match &shape {
            SlackShape::Event {
                inner,
                channel_type,
            } => {
                set_if_absent(p, &["type"], json!("event_callback"));
                if p.get("type").and_then(Value::as_str) == Some("event_callback") {
                    set_if_absent(p, &["event", "type"], json!(inner));
                    if let Some(ct) = channel_type {
                        set_if_absent(p, &["event", "channel_type"], json!(ct));
                    }
                }
            }
            SlackShape::Subtype(subtype) => {
                set_if_absent(p, &["type"], json!("event_callback"));
                set_if_absent(p, &["event", "type"], json!("message"));
                set_if_absent(p, &["event", "subtype"], json!(subtype));
            }
            SlackShape::Slash => set_if_absent(p, &["command"], json!(t)),
            SlackShape::Interactive | SlackShape::UrlVerification => {
                set_if_absent(p, &["type"], json!(t));
            }
            SlackShape::SslCheck => set_if_absent(p, &["ssl_check"], json!("1")),
        }),
        None => slack_body(t, &shape, cx),
    };
    let out = match shape {
        SlackShape::Slash | SlackShape::SslCheck => Out::form(&body),
        SlackShape::Interactive if body.is_object() => {
            Out::form(&json!({ "payload": body.to_string() }))
        }
        _ => Out::json(&body, "application/json"),
    };
    out.header("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
}

fn slack_body(t: &str, shape: &SlackShape<'_>, cx: &Cx) -> Value {
    let ts = format!("{}.000100", cx.secs);
    match shape {
        SlackShape::Subtype(subtype) => {
            let channel = "C0123ABCDEF";
            let earlier = format!("{}.000050", cx.secs - 60);
            let original = json!({
                "type": "message",
                "user": SLACK_USER,
                "text": "Deploy of webapp to staging finished",
                "ts": earlier,
                "team": SLACK_TEAM,
            });
            let mut event = json!({
                "type": "message",
                "subtype": subtype,
                "channel": channel,
                "channel_type": "channel",
                "ts": ts,
                "event_ts": ts,
            });
            match *subtype {
                "message_changed" => {
                    let mut edited = original.clone();
                    put(
                        &mut edited,
                        "text",
                        json!("Deploy of webapp to production finished"),
                    );
                    put(&mut edited, "edited", json!({"user": SLACK_USER, "ts": ts}));
                    put(&mut event, "hidden", json!(true));
                    put(&mut event, "message", edited);
                    put(&mut event, "previous_message", original);
                }
                "message_deleted" => {
                    put(&mut event, "hidden", json!(true));
                    put(&mut event, "deleted_ts", json!(earlier));
                    put(&mut event, "previous_message", original);
                }
                _ => {
                    put(&mut event, "user", json!(SLACK_USER));
                    put(
                        &mut event,
                        "text",
                        json!(format!("<@{SLACK_USER}> has joined the channel")),
                    );
                }
            }
            callback(event, cx)
        }
        SlackShape::Event {
            inner,
            channel_type,
        } => {
            let channel = match *channel_type {
                Some("im") => "D0123ABCDEF",
                Some("group") => "G0123ABCDEF",
                Some("mpim") => "G0456ABCDEF",
                _ => "C0123ABCDEF",
            };
            let event = match *inner {
                "message" => {
                    let mut e = json!({
                        "type": "message",
                        "user": SLACK_USER,
                        "text": "Deploy of webapp to staging finished",
                        "ts": ts,
                        "event_ts": ts,
                        "channel": channel,
                        "team": SLACK_TEAM,
                        "client_msg_id": uuid(),
                        "blocks": [],
                    });
                    // Slack sends every new message with its `channel_type`: a plain
                    // `message` asked for is the commonest, a public channel's, so it is
                    // typed `message.channels` as a real one is (a trigger `message` still
                    // matches it).
                    put(
                        &mut e,
                        "channel_type",
                        json!(channel_type.unwrap_or("channel")),
                    );
                    e
                }
                "app_mention" => json!({
                    "type": "app_mention",
                    "user": SLACK_USER,
                    "text": format!("<@{SLACK_BOT_USER}> please summarise this thread"),
                    "ts": ts,
                    "event_ts": ts,
                    "channel": channel,
                    "team": SLACK_TEAM,
                    "client_msg_id": uuid(),
                    "blocks": [],
                }),
                "reaction_added" | "reaction_removed" => json!({
                    "type": inner,
                    "user": SLACK_USER,
                    "reaction": "white_check_mark",
                    "item_user": SLACK_BOT_USER,
                    "item": {"type": "message", "channel": channel, "ts": format!("{}.000050", cx.secs - 60)},
                    "event_ts": ts,
                }),
                // A file or a pin names its channel `channel_id`, not `channel`.
                "file_shared" | "file_unshared" => json!({
                    "type": inner,
                    "channel_id": channel,
                    "file_id": "F0123ABCDEF",
                    "user_id": SLACK_USER,
                    "file": {"id": "F0123ABCDEF"},
                    "event_ts": ts,
                }),
                "pin_added" | "pin_removed" => json!({
                    "type": inner,
                    "user": SLACK_USER,
                    "channel_id": channel,
                    "item": {
                        "type": "message",
                        "channel": channel,
                        "created": cx.secs,
                        "created_by": SLACK_USER,
                        "message": {"type": "message", "user": SLACK_USER, "text": "Runbook: https://example.invalid/runbook", "ts": format!("{}.000050", cx.secs - 60)},
                    },
                    "has_pins": *inner == "pin_added",
                    "event_ts": ts,
                }),
                other => json!({
                    "type": other,
                    "user": SLACK_USER,
                    "channel": channel,
                    "event_ts": ts,
                }),
            };
            callback(event, cx)
        }
        SlackShape::Slash => {
            let text = if t == "/deploy" {
                "webapp production"
            } else {
                ""
            };
            json!({
                "token": "XXYYZZ0000000000",
                "team_id": SLACK_TEAM,
                "team_domain": "acme",
                "channel_id": "C0123ABCDEF",
                "channel_name": "deploys",
                "user_id": SLACK_USER,
                "user_name": "alice",
                "command": t,
                "text": text,
                "api_app_id": SLACK_APP,
                "is_enterprise_install": "false",
                "response_url": format!("https://hooks.slack.com/commands/{SLACK_TEAM}/1234567890/{}", short_id(24)),
                "trigger_id": format!("{}.{}.{}", cx.secs, 1_234_567_890, hex_id()),
            })
        }
        SlackShape::Interactive => {
            let mut p = json!({
                "type": t,
                "team": {"id": SLACK_TEAM, "domain": "acme"},
                "user": {"id": SLACK_USER, "username": "alice", "name": "alice", "team_id": SLACK_TEAM},
                "api_app_id": SLACK_APP,
                "token": "XXYYZZ0000000000",
                "trigger_id": format!("{}.{}.{}", cx.secs, 1_234_567_890, hex_id()),
            });
            if t == "block_actions" || t == "message_action" || t == "interactive_message" {
                put(
                    &mut p,
                    "container",
                    json!({"type": "message", "message_ts": ts, "channel_id": "C0123ABCDEF", "is_ephemeral": false}),
                );
                put(
                    &mut p,
                    "channel",
                    json!({"id": "C0123ABCDEF", "name": "deploys"}),
                );
                put(
                    &mut p,
                    "message",
                    json!({"type": "message", "user": SLACK_BOT_USER, "ts": ts, "text": "Deploy webapp to production?"}),
                );
                put(
                    &mut p,
                    "response_url",
                    json!(format!(
                        "https://hooks.slack.com/actions/{SLACK_TEAM}/1234567890/{}",
                        short_id(24)
                    )),
                );
                put(
                    &mut p,
                    "actions",
                    json!([{"type": "button", "action_id": "approve", "block_id": "deploy", "value": "approve", "text": {"type": "plain_text", "text": "Approve"}, "action_ts": ts}]),
                );
            }
            if t.starts_with("view_") {
                put(
                    &mut p,
                    "view",
                    json!({"id": "V0123ABCDEF", "type": "modal", "callback_id": "deploy_form", "state": {"values": {}}}),
                );
            }
            p
        }
        SlackShape::UrlVerification => json!({
            "token": "XXYYZZ0000000000",
            "challenge": short_id(32),
            "type": "url_verification",
        }),
        SlackShape::SslCheck => json!({"ssl_check": "1", "token": "XXYYZZ0000000000"}),
    }
}
