//! A forward's URL as a template: its path and query filled from the event, so one command
//! calls an API about the event's own issue (GitHub's labels, say). Its scheme and host are
//! written out, and each value is percent-encoded: a sender's `../..` in a title stays one
//! segment. Shown with its expressions, previewed by test_webhook, refused where it could
//! choose the host or is not a forward's, and a name the event lacks is warned of when saved
//! and fails the action saying so.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, accepted, assert_error, delivery_id, spawn_manual};

const SECRET: &str = "gh-secret";
const TOKEN: &str = "ghp_labelsToken0123456789";

/// A GitHub `issues.opened` for issue 12 of octo/app titled `title`.
fn issue_opened(title: &str) -> String {
    json!({
        "action": "opened",
        "issue": {"number": 12, "title": title, "body": "", "labels": [],
                  "user": {"login": "octocat"}},
        "repository": {"full_name": "octo/app", "name": "app", "owner": {"login": "octo"}},
        "sender": {"login": "octocat"},
    })
    .to_string()
}

async fn app_with(upstream: &MockServer, url: &str) -> (TestApp, Value) {
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", SECRET).await;
    let added = app
        .add_command_ok(
            "gh",
            json!({"trigger": "issues.opened", "action": "forward",
                   "template": "{\"labels\": [\"triage\"]}",
                   "target": {"url": format!("{}{url}", upstream.uri()),
                              "headers": {"Authorization": format!("Bearer {TOKEN}")}}}),
        )
        .await;
    (app, added)
}

async fn open_issue(app: &TestApp, title: &str) -> String {
    let event = accepted(
        app.post_github("gh", "issues", &delivery_id(), &issue_opened(title), SECRET)
            .await,
    )
    .await;
    app.drain().await;
    event
}

#[tokio::test]
async fn an_opened_issue_is_labelled_through_githubs_api_at_its_own_address() {
    // Arrange
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/issues/12/labels"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(json!({"labels": ["triage"]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"name": "triage"}])))
        .mount(&upstream)
        .await;
    let template = "/repos/{{ repository.owner.login }}/{{ repository.name }}/issues/{{ issue.number }}/labels";
    let (app, added) = app_with(&upstream, template).await;

    // Act
    let (status, tested) = app
        .post_api(
            "/api/webhooks/gh/test",
            &json!({"payload": serde_json::from_str::<Value>(&issue_opened("Crash")).expect("JSON")}),
        )
        .await;
    let event = open_issue(&app, "Crash").await;

    // Assert: sent once, to the issue's own labels, and shown as written.
    let requests = upstream.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(app.actions_of(&event).await[0]["status"], "delivered");
    let shown = added["target"]["url"].as_str().expect("url");
    assert!(shown.ends_with(template), "{shown}");
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(
        tested["matched"][0]["url"],
        json!(format!(
            "{}/repos/octo/app/issues/12/labels",
            upstream.uri()
        )),
        "{tested}"
    );
}

#[tokio::test]
async fn a_senders_value_fills_one_segment_and_a_missing_name_fails_the_action_saying_so() {
    // Arrange
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&upstream)
        .await;
    let (app, _) = app_with(&upstream, "/notes/{{ issue.title }}").await;
    let (missing, warned) = app_with(&upstream, "/notes/{{ issue.numbr }}").await;

    // Act
    open_issue(&app, "../../admin?x=1").await;
    let climbing = open_issue(&app, "..").await;
    let failed = open_issue(&missing, "Crash").await;

    // Assert: warned when saved; the title stayed one encoded segment under /notes.
    assert!(
        warned["warnings"]
            .to_string()
            .contains("the target URL's template does not render"),
        "{warned}"
    );
    let requests = upstream.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].url.path(), "/notes/..%2F..%2Fadmin%3Fx%3D1");
    assert_eq!(requests[0].url.query(), None);
    // A title that is `..` alone would climb out of /notes: refused, not sent.
    let refused = &app.actions_of(&climbing).await[0];
    assert_eq!(refused["status"], "dead", "{refused}");
    assert!(refused.to_string().contains("segment"), "{refused}");
    let action = &missing.actions_of(&failed).await[0];
    assert_eq!(action["status"], "dead", "{action}");
    assert!(
        action.to_string().contains("the target URL's template"),
        "{action}"
    );
}

#[tokio::test]
async fn a_templated_url_is_refused_where_the_event_would_choose_the_host_or_it_is_no_forward() {
    // Arrange
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", SECRET).await;
    let add = |body: Value| {
        let app = &app;
        async move { app.post_api("/api/webhooks/gh/commands", &body).await }
    };

    // Act
    let host = add(json!({"trigger": "issues.opened", "action": "forward",
        "target": {"url": "https://{{ repository.name }}.example.com/hook"}}))
    .await;
    let userinfo = add(json!({"trigger": "issues.opened", "action": "forward",
        "target": {"url": "https://{{ x }}@example.com/hook"}}))
    .await;
    let channel = add(json!({"trigger": "issues.opened", "action": "post_message",
        "template": "New", "target": {"url": "https://hooks.slack.com/services/{{ x }}"}}))
    .await;
    let broken = add(json!({"trigger": "issues.opened", "action": "forward",
        "target": {"url": "https://example.com/{{ issue.number"}}))
    .await;

    // Assert
    for refused in [&host, &userinfo, &channel, &broken] {
        assert_error(refused, StatusCode::BAD_REQUEST, Some("target.url"));
    }
    assert!(host.1.to_string().contains("host"), "{}", host.1);
    assert!(channel.1.to_string().contains("forward"), "{}", channel.1);
}
