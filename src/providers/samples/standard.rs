//! Standard Webhooks and custom samples: a minimal typed envelope, with `webhook-id` or
//! `X-Delivery-Id` as the delivery id.

use serde_json::{Value, json};

use super::{Cx, Out, given, hex_id, set_if_absent, short_id, uuid};

pub(super) fn standard(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let body = match payload {
        Some(p) => given(p, |p| set_if_absent(p, &["type"], json!(t))),
        None => json!({
            "type": t,
            "timestamp": cx.iso,
            "data": {
                "id": format!("obj_{}", short_id(24)),
                "message": "Test event from webhook-mcp",
            },
        }),
    };
    // `sign` keeps this id and signs with it; it is also the delivery id.
    Out::json(&body, "application/json").header("webhook-id", format!("msg_test_{}", hex_id()))
}

pub(super) fn custom(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let body = match payload {
        Some(p) => given(p, |p| set_if_absent(p, &["type"], json!(t))),
        None => json!({
            "type": t,
            "id": format!("test_{}", hex_id()),
            "timestamp": cx.iso,
            "data": {"message": "Test event from webhook-mcp"},
        }),
    };
    Out::json(&body, "application/json").header("X-Delivery-Id", format!("test-{}", uuid()))
}
