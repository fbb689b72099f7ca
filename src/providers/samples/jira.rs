//! Jira samples: issue, comment, worklog, version, sprint and attachment webhooks
//! (`webhookEvent` in the body) with Atlassian's webhook headers.

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
        "self": "https://acme.atlassian.net/rest/api/2/issue/10042",
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
        // A worklog names its issue only by id (and in its own address).
        _ if t.trim_start_matches("jira:").starts_with("worklog_") => put(
            &mut body,
            "worklog",
            json!({
                "id": "10300",
                "self": "https://acme.atlassian.net/rest/api/2/issue/10042/worklog/10300",
                "issueId": "10042",
                "author": jira_user(),
                "updateAuthor": jira_user(),
                "comment": "Reproduced and bisected.",
                "started": cx.iso,
                "created": cx.iso,
                "updated": cx.iso,
                "timeSpent": "1h",
                "timeSpentSeconds": 3600,
            }),
        ),
        _ if t.starts_with("jira:version_") => put(
            &mut body,
            "version",
            json!({
                "id": "10100",
                "self": "https://acme.atlassian.net/rest/api/2/version/10100",
                "name": "1.4.0",
                "description": "Login fixes",
                "archived": false,
                "released": t == "jira:version_released",
                "overdue": false,
                "releaseDate": "2025-12-01",
                "userReleaseDate": "01/Dec/25",
                "projectId": 10000,
            }),
        ),
        _ if t.starts_with("sprint_") => {
            let sprint = json!({
                "id": 37,
                "self": "https://acme.atlassian.net/rest/agile/1.0/sprint/37",
                "state": if t == "sprint_closed" { "closed" } else { "active" },
                "name": "PROJ Sprint 12",
                "startDate": cx.iso,
                "endDate": cx.iso,
                "originBoardId": 1,
                "goal": "Ship the login fixes",
            });
            if t == "sprint_updated" {
                put(&mut body, "oldValue", sprint.clone());
            }
            put(&mut body, "sprint", sprint);
        }
        _ if t.starts_with("attachment_") => put(
            &mut body,
            "attachment",
            json!({
                "id": "10500",
                "self": "https://acme.atlassian.net/rest/api/2/attachment/10500",
                "filename": "stacktrace.txt",
                "author": jira_user(),
                "created": cx.iso,
                "size": 2048,
                "mimeType": "text/plain",
                "content": "https://acme.atlassian.net/rest/api/2/attachment/content/10500",
            }),
        ),
        _ => {}
    }
    body
}
