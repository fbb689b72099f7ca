//! Linear samples: Issue and Comment webhooks (`type`/`action` in the body) with a fresh
//! `webhookTimestamp` and the `Linear-*` headers.

use serde_json::{Value, json};

use super::{Cx, Out, given, put, set_if_absent, split, uuid};

pub(super) fn linear(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let (kind, action) = split(t);
    let body = match payload {
        Some(p) => given(p, |p| {
            set_if_absent(p, &["type"], json!(kind));
            if let Some(a) = action {
                set_if_absent(p, &["action"], json!(a));
            }
            set_if_absent(p, &["webhookTimestamp"], json!(cx.ms));
        }),
        None => linear_body(kind, action, cx),
    };
    Out::json(&body, "application/json; charset=utf-8")
        .header("User-Agent", "Linear-Webhook")
        .header("Linear-Delivery", uuid())
        .header("Linear-Event", kind)
}

fn linear_issue(cx: &Cx) -> Value {
    let at = cx.iso_ms();
    json!({
        "id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
        "identifier": "ENG-123",
        "number": 123,
        "title": "Login page returns 500 after password reset",
        "description": "Steps to reproduce: reset the password, then log in.",
        "priority": 2,
        "priorityLabel": "High",
        "url": "https://linear.app/acme/issue/ENG-123/login-page-returns-500-after-password-reset",
        "teamId": "72b2a2dc-6f4f-4423-9d34-24b5bd10634a",
        "team": {"id": "72b2a2dc-6f4f-4423-9d34-24b5bd10634a", "key": "ENG", "name": "Engineering"},
        "stateId": "4f5f3f1b-1c5c-4a8f-9d4e-0c3a8a4f6b1a",
        "state": {"id": "4f5f3f1b-1c5c-4a8f-9d4e-0c3a8a4f6b1a", "name": "Todo", "type": "unstarted", "color": "#e2e2e2"},
        "labelIds": ["a9f4c8a2-3e5f-4c1a-9d2b-6b8e0f7d1c3e"],
        "labels": [{"id": "a9f4c8a2-3e5f-4c1a-9d2b-6b8e0f7d1c3e", "name": "Bug", "color": "#eb5757"}],
        "creatorId": "8e2c3b6a-1f4d-4e7a-9b0c-5d6e7f8a9b0c",
        "assigneeId": null,
        "createdAt": at,
        "updatedAt": at,
    })
}

fn linear_body(kind: &str, action: Option<&str>, cx: &Cx) -> Value {
    let at = cx.iso_ms();
    let (data, url) = match kind {
        "Issue" => {
            let issue = linear_issue(cx);
            let url = issue["url"].clone();
            (issue, url)
        }
        "Comment" => {
            let url = "https://linear.app/acme/issue/ENG-123/login-page-returns-500-after-password-reset#comment-5f1e2d3c";
            (
                json!({
                    "id": "5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
                    "body": "I can reproduce this on staging too.",
                    "issueId": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
                    "issue": {
                        "id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
                        "identifier": "ENG-123",
                        "title": "Login page returns 500 after password reset",
                        "url": "https://linear.app/acme/issue/ENG-123/login-page-returns-500-after-password-reset",
                    },
                    "userId": "8e2c3b6a-1f4d-4e7a-9b0c-5d6e7f8a9b0c",
                    "user": {"id": "8e2c3b6a-1f4d-4e7a-9b0c-5d6e7f8a9b0c", "name": "Alice Example"},
                    "createdAt": at,
                    "updatedAt": at,
                }),
                json!(url),
            )
        }
        _ => (
            json!({"id": uuid(), "createdAt": at, "updatedAt": at}),
            Value::Null,
        ),
    };
    let mut body = json!({
        "type": kind,
        "data": data,
        "url": url,
        "createdAt": at,
        "actor": {"id": "8e2c3b6a-1f4d-4e7a-9b0c-5d6e7f8a9b0c", "name": "Alice Example", "email": "alice@example.com", "type": "user"},
        "organizationId": "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
        "webhookTimestamp": cx.ms,
        "webhookId": "0d1c2b3a-4958-4a6b-8c7d-e6f5a4b3c2d1",
    });
    if let Some(a) = action {
        put(&mut body, "action", json!(a));
    }
    if action == Some("update") && kind == "Issue" {
        put(
            &mut body,
            "updatedFrom",
            json!({"stateId": "0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d", "updatedAt": at}),
        );
    }
    body
}
