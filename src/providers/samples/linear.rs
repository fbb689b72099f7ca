//! Linear samples: Issue and Comment webhooks (`type`/`action` in the body), and the agent
//! session, app notification and SLA webhooks (their objects at the top, not in `data`), with
//! a fresh `webhookTimestamp` and the `Linear-*` headers.

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

const ORGANIZATION: &str = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f";
const ALICE: &str = "8e2c3b6a-1f4d-4e7a-9b0c-5d6e7f8a9b0c";
const APP_USER: &str = "6b5a4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d";

fn linear_body(kind: &str, action: Option<&str>, cx: &Cx) -> Value {
    let mut body = match kind {
        "AgentSessionEvent" => agent_session_body(action, cx),
        "AppUserNotification" => notification_body(action, cx),
        "IssueSLA" => {
            let issue = linear_issue(cx);
            json!({"issueData": issue, "url": issue["url"]})
        }
        _ => data_body(kind, action, cx),
    };
    put(&mut body, "type", json!(kind));
    if let Some(a) = action {
        put(&mut body, "action", json!(a));
    }
    put(&mut body, "createdAt", json!(cx.iso_ms()));
    put(&mut body, "organizationId", json!(ORGANIZATION));
    put(&mut body, "webhookTimestamp", json!(cx.ms));
    put(
        &mut body,
        "webhookId",
        json!("0d1c2b3a-4958-4a6b-8c7d-e6f5a4b3c2d1"),
    );
    body
}

/// The issue as the app webhooks name it (`agentSession.issue`, `notification.issue`).
fn linear_issue_child() -> Value {
    json!({
        "id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
        "identifier": "ENG-123",
        "title": "Login page returns 500 after password reset",
        "description": "Steps to reproduce: reset the password, then log in.",
        "url": "https://linear.app/acme/issue/ENG-123/login-page-returns-500-after-password-reset",
        "teamId": "72b2a2dc-6f4f-4423-9d34-24b5bd10634a",
        "team": {"id": "72b2a2dc-6f4f-4423-9d34-24b5bd10634a", "key": "ENG", "name": "Engineering"},
    })
}

fn linear_comment_child(id: &str, body: &str) -> Value {
    json!({
        "id": id,
        "body": body,
        "issueId": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
        "userId": ALICE,
    })
}

fn linear_user() -> Value {
    json!({"id": ALICE, "name": "Alice Example", "email": "alice@example.com",
           "url": "https://linear.app/acme/profiles/alice"})
}

/// An agent session opened by a mention in a comment (`created`), or a later prompt in its
/// thread (`prompted`, with the activity that carries it).
fn agent_session_body(action: Option<&str>, cx: &Cx) -> Value {
    let at = cx.iso_ms();
    let root = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    let mut body = json!({
        "appUserId": APP_USER,
        "oauthClientId": "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a9f",
        "agentSession": {
            "id": "5e4d3c2b-1a09-4f8e-8d7c-6b5a4e3d2c1b",
            "appUserId": APP_USER,
            "organizationId": ORGANIZATION,
            "status": "pending",
            "type": "commentThread",
            "creatorId": ALICE,
            "creator": linear_user(),
            "issueId": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
            "issue": linear_issue_child(),
            "commentId": root,
            "comment": linear_comment_child(root, "@agent please look into this"),
            "createdAt": at,
            "updatedAt": at,
        },
    });
    if action == Some("prompted") {
        put(
            &mut body,
            "agentActivity",
            json!({
                "id": "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910",
                "agentSessionId": "5e4d3c2b-1a09-4f8e-8d7c-6b5a4e3d2c1b",
                "content": {"type": "prompt", "body": "It fails on staging only."},
                "sourceCommentId": "1b2c3d4e-5f60-4718-9a0b-c1d2e3f4a5b6",
                "userId": ALICE,
                "createdAt": at,
                "updatedAt": at,
            }),
        );
    } else {
        put(
            &mut body,
            "promptContext",
            json!(
                "<issue identifier=\"ENG-123\"><title>Login page returns 500 after password reset</title></issue>"
            ),
        );
        put(&mut body, "previousComments", json!([]));
        put(&mut body, "guidance", json!([]));
    }
    body
}

/// A notification to the app's user about an issue: a mention in a comment, a new comment,
/// an assignment, ... (the action names it; those about a comment carry the comment).
fn notification_body(action: Option<&str>, cx: &Cx) -> Value {
    let at = cx.iso_ms();
    let kind = action.unwrap_or("issueCommentMention");
    let mut notification = json!({
        "id": "4d3c2b1a-0f9e-4d8c-b7a6-5f4e3d2c1b0a",
        "type": kind,
        "actorId": ALICE,
        "actor": linear_user(),
        "userId": APP_USER,
        "issueId": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
        "issue": linear_issue_child(),
        "createdAt": at,
        "updatedAt": at,
    });
    if kind.contains("Comment") {
        let id = "5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
        put(&mut notification, "commentId", json!(id));
        put(
            &mut notification,
            "comment",
            linear_comment_child(id, "@agent can you take a look?"),
        );
    }
    json!({
        "appUserId": APP_USER,
        "oauthClientId": "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a9f",
        "notification": notification,
    })
}

/// A data change webhook: the model changed in `data`, with who changed it.
fn data_body(kind: &str, action: Option<&str>, cx: &Cx) -> Value {
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
        "data": data,
        "url": url,
        "actor": {"id": ALICE, "name": "Alice Example", "email": "alice@example.com", "type": "user"},
    });
    if action == Some("update") && kind == "Issue" {
        put(
            &mut body,
            "updatedFrom",
            json!({"stateId": "0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d", "updatedAt": at}),
        );
    }
    body
}
