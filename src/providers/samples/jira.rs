//! Jira samples: issue and comment webhooks (`webhookEvent` in the body) with Atlassian's
//! webhook headers.

use serde_json::{Value, json};

use super::{Cx, Out, given, put, set_if_absent, uuid};

pub(super) fn jira(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let body = match payload {
        Some(p) => given(p, |p| set_if_absent(p, &["webhookEvent"], json!(t))),
        None => jira_body(t, cx),
    };
    Out::json(&body, "application/json; charset=UTF-8")
        .header("User-Agent", "Atlassian Webhook HTTP Client")
        .header("X-Atlassian-Webhook-Identifier", uuid())
        .header("X-Atlassian-Webhook-Flow", "Primary")
}

fn jira_user() -> Value {
    json!({
        "self": "https://acme.atlassian.net/rest/api/2/user?accountId=5b10ac8d82e05b22cc7d4ef5",
        "accountId": "5b10ac8d82e05b22cc7d4ef5",
        "displayName": "Alice Example",
        "active": true,
        "timeZone": "Europe/Berlin",
        "accountType": "atlassian",
    })
}

fn jira_issue(cx: &Cx) -> Value {
    json!({
        "id": "10042",
        "self": "https://acme.atlassian.net/rest/api/2/10042",
        "key": "PROJ-42",
        "fields": {
            "summary": "Login page returns 500 after password reset",
            "description": "Steps to reproduce: reset the password, then log in.",
            "issuetype": {"id": "10004", "name": "Bug", "subtask": false},
            "project": {"id": "10000", "key": "PROJ", "name": "Project", "projectTypeKey": "software"},
            "status": {"id": "10000", "name": "To Do", "statusCategory": {"key": "new", "name": "To Do"}},
            "priority": {"id": "2", "name": "High"},
            "labels": ["bug"],
            "reporter": jira_user(),
            "creator": jira_user(),
            "assignee": null,
            "created": cx.iso,
            "updated": cx.iso,
        },
    })
}

fn jira_body(t: &str, cx: &Cx) -> Value {
    let mut body = json!({
        "timestamp": cx.ms,
        "webhookEvent": t,
    });
    match t {
        "jira:issue_created" | "jira:issue_updated" | "jira:issue_deleted" => {
            let name = match t {
                "jira:issue_created" => "issue_created",
                "jira:issue_deleted" => "issue_deleted",
                _ => "issue_generic",
            };
            put(&mut body, "issue_event_type_name", json!(name));
            put(&mut body, "user", jira_user());
            put(&mut body, "issue", jira_issue(cx));
            if t == "jira:issue_updated" {
                put(
                    &mut body,
                    "changelog",
                    json!({
                        "id": "10123",
                        "items": [{
                            "field": "status",
                            "fieldtype": "jira",
                            "from": "10000",
                            "fromString": "To Do",
                            "to": "3",
                            "toString": "In Progress",
                        }],
                    }),
                );
            }
        }
        _ if t.starts_with("comment_") => {
            put(
                &mut body,
                "comment",
                json!({
                    "id": "10200",
                    "self": "https://acme.atlassian.net/rest/api/2/issue/10042/comment/10200",
                    "author": jira_user(),
                    "updateAuthor": jira_user(),
                    "body": "I can reproduce this on staging too.",
                    "created": cx.iso,
                    "updated": cx.iso,
                    "jsdPublic": true,
                }),
            );
            put(&mut body, "issue", jira_issue(cx));
        }
        _ => {}
    }
    body
}
