//! Sentry samples: issue, event alert, metric alert, error, comment and installation
//! bodies, with the `Sentry-Hook-Resource` and `Request-ID` headers.

use serde_json::{Value, json};

use super::{Cx, Out, given, hex_id, put, set_if_absent, split};

pub(super) fn sentry(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let (resource, action) = split(t);
    let body = match payload {
        Some(p) => given(p, |p| {
            if let Some(a) = action {
                set_if_absent(p, &["action"], json!(a));
            }
        }),
        None => sentry_body(resource, action, cx),
    };
    Out::json(&body, "application/json")
        .header("Request-ID", hex_id())
        .header("Sentry-Hook-Resource", resource)
}

fn sentry_issue(cx: &Cx, status: &str) -> Value {
    json!({
        "id": "1170820242",
        "shortId": "WEBAPP-3",
        "title": "ZeroDivisionError: division by zero",
        "culprit": "app.views.checkout in compute_total",
        "level": "error",
        "status": status,
        "substatus": if status == "unresolved" { "new" } else { "" },
        "platform": "python",
        "project": {"id": "1", "name": "webapp", "slug": "webapp", "platform": "python"},
        "type": "error",
        "metadata": {"type": "ZeroDivisionError", "value": "division by zero", "filename": "app/views/checkout.py"},
        "count": "1",
        "userCount": 1,
        "firstSeen": cx.iso,
        "lastSeen": cx.iso,
        "assignedTo": null,
        "url": "https://sentry.io/api/0/organizations/acme/issues/1170820242/",
        "web_url": "https://sentry.io/organizations/acme/issues/1170820242/",
        "project_url": "https://sentry.io/organizations/acme/issues/?project=1",
    })
}

fn sentry_event(cx: &Cx) -> Value {
    json!({
        "event_id": "68c0fa4b42d645b6a7d1d8e5c9e2a0f1",
        "issue_id": "1170820242",
        "project": 1,
        "title": "ZeroDivisionError: division by zero",
        "message": "",
        "level": "error",
        "platform": "python",
        "culprit": "app.views.checkout in compute_total",
        "datetime": cx.iso,
        "timestamp": cx.secs,
        "environment": "production",
        "release": "webapp@1.4.2",
        "tags": [["environment", "production"], ["level", "error"]],
        "url": "https://sentry.io/api/0/projects/acme/webapp/events/68c0fa4b42d645b6a7d1d8e5c9e2a0f1/",
        "web_url": "https://sentry.io/organizations/acme/issues/1170820242/events/68c0fa4b42d645b6a7d1d8e5c9e2a0f1/",
        "issue_url": "https://sentry.io/api/0/issues/1170820242/",
    })
}

fn sentry_body(resource: &str, action: Option<&str>, cx: &Cx) -> Value {
    let installation = json!({"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"});
    let app_actor = json!({"type": "application", "id": "sentry", "name": "Sentry"});
    let user_actor = json!({"type": "user", "id": 1, "name": "Alice Example"});
    let (data, actor) = match resource {
        "issue" => {
            let status = match action {
                Some("resolved") => "resolved",
                Some("ignored" | "archived") => "ignored",
                _ => "unresolved",
            };
            let mut issue = sentry_issue(cx, status);
            let actor = if action == Some("created") {
                app_actor
            } else {
                user_actor
            };
            if action == Some("assigned") {
                put(
                    &mut issue,
                    "assignedTo",
                    json!({"type": "user", "id": "1", "name": "Alice Example", "email": "alice@example.com"}),
                );
            }
            (json!({ "issue": issue }), actor)
        }
        "event_alert" => (
            json!({
                "event": sentry_event(cx),
                "triggered_rule": "Send a notification for new issues",
                "issue_alert": {
                    "title": "Send a notification for new issues",
                    "settings": [],
                },
            }),
            app_actor,
        ),
        "error" => (json!({ "error": sentry_event(cx) }), app_actor),
        "metric_alert" => (
            json!({
                "metric_alert": {
                    "id": "7",
                    "identifier": 7,
                    "organization_id": "1",
                    "projects": ["webapp"],
                    "status": 20,
                    "title": "Error rate above 5%",
                    "date_started": cx.iso,
                    "date_detected": cx.iso,
                    "alert_rule": {"id": "3", "name": "Error rate above 5%", "aggregate": "percentage(sessions_crashed, sessions)", "threshold_type": 0},
                },
                "description_text": "5.7% errors in the last 10 minutes",
                "description_title": "Critical: Error rate above 5%",
                "web_url": "https://sentry.io/organizations/acme/alerts/rules/details/3/",
            }),
            app_actor,
        ),
        "comment" => (
            json!({
                "comment_id": "1234",
                "issue_id": "1170820242",
                "project_slug": "webapp",
                "timestamp": cx.iso,
                "comment": "Looking into this now.",
            }),
            user_actor,
        ),
        "installation" => (
            json!({
                "installation": {
                    "uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9",
                    "status": "installed",
                    "app": {"uuid": "64bf2cf4-37ca-4365-8dd3-6b6e56d741b8", "slug": "webhook-mcp"},
                    "organization": {"slug": "acme"},
                },
            }),
            user_actor,
        ),
        _ => (json!({}), app_actor),
    };
    let mut body = json!({
        "installation": installation,
        "data": data,
        "actor": actor,
    });
    if let Some(a) = action {
        put(&mut body, "action", json!(a));
    }
    body
}
