//! A Jira event is answered on the Jira site it came from (its `issue.self`) only: never on
//! the configured site's issue that happens to have the same key.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, accepted, assert_error, spawn_manual, use_jira};

const SECRET: &str = "jira-secret";

/// A `jr` Jira webhook (with `options`) that answers "Noted" to every comment.
async fn commenting_webhook(app: &TestApp, options: Value) {
    app.create_webhook(json!({
        "id": "jr", "name": "Jira", "provider": "jira", "secret": SECRET, "options": options,
    }))
    .await;
    app.add_command_ok(
        "jr",
        json!({"trigger": "comment_created", "action": "comment", "template": "Noted"}),
    )
    .await;
}

/// A comment on issue OPS-7 of the Jira site at `site`; returns the event's id.
async fn comment_on(app: &TestApp, site: &str) -> String {
    let body = json!({
        "webhookEvent": "comment_created",
        "issue": {"id": "10007", "key": "OPS-7", "fields": {"summary": "Disk full"},
                  "self": format!("{site}/rest/api/2/issue/10007")},
        "comment": {"id": "20001", "body": "please look", "author": {"accountId": "alice"},
                    "self": format!("{site}/rest/api/2/issue/10007/comment/20001")},
    })
    .to_string();
    accepted(app.post_jira("jr", &body, SECRET).await).await
}

#[tokio::test]
async fn an_event_of_another_jira_site_is_not_answered_on_the_configured_one() {
    // Arrange: the operator's Jira site (a fake) and login; a webhook with no site of its own
    // hears a comment made on acme-b's OPS-7.
    let jira = MockServer::start().await;
    let app = spawn_manual(use_jira(&jira)).await;
    commenting_webhook(&app, json!({})).await;
    let event_id = comment_on(&app, "https://acme-b.atlassian.net").await;

    // Act: the command's comment is sent, and a reply is asked for by hand of a process that
    // sends (its worker on), which refuses what it could not send.
    app.drain().await;
    let sender = app.beside(use_jira(&jira)).await;
    let by_hand = sender
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "by hand"}),
        )
        .await;

    // Assert: nothing reached the configured site; the comment is dead and the reply refused,
    // both naming the event's site and the options to set.
    let leaked = jira.received_requests().await.unwrap_or_default();
    assert!(leaked.is_empty(), "{leaked:?}");
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "dead", "{action}");
    let error = action["last_error"].as_str().expect("last_error");
    assert!(
        error.contains("https://acme-b.atlassian.net")
            && error.contains("options.credentials.jira_base_url")
            && error.contains("JIRA_BASE_URL"),
        "{error}"
    );
    assert_error(&by_hand, StatusCode::BAD_REQUEST, None);
    let message = by_hand.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("acme-b.atlassian.net"), "{message}");
}

#[tokio::test]
async fn an_event_of_the_webhooks_own_jira_site_is_answered_there() {
    // Arrange: the webhook's own site and login (a fake, which the event names as its site)
    // beside the operator's.
    let jira = MockServer::start().await;
    let own = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue/OPS-7/comment"))
        .and(header(
            "authorization",
            "Basic b3BzQGFjbWUuZXhhbXBsZTpiLXRva2Vu",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "20002"})))
        .expect(1)
        .mount(&own)
        .await;
    let app = spawn_manual(|c| {
        use_jira(&jira)(c);
        c.allowed_target_hosts.push(own.address().to_string());
    })
    .await;
    let credentials = json!({"jira_base_url": own.uri(), "jira_email": "ops@acme.example",
                             "jira_api_token": "b-token"});
    commenting_webhook(&app, json!({"credentials": credentials})).await;
    let event_id = comment_on(&app, &own.uri()).await;

    // Act
    app.drain().await;

    // Assert: the comment went to the event's own site, nothing to the operator's.
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    let leaked = jira.received_requests().await.unwrap_or_default();
    assert!(leaked.is_empty(), "{leaked:?}");
}

#[tokio::test]
async fn a_data_center_personal_access_token_alone_is_sent_as_bearer_and_nothing_refuses_it() {
    // Arrange: a Jira Data Center site (a fake) with a personal access token and no email,
    // which Jira takes only as `Authorization: Bearer`; a process that sends.
    let jira = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue/OPS-7/comment"))
        .and(header("authorization", "Bearer dc-pat-0123456789"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "20003"})))
        .expect(2)
        .mount(&jira)
        .await;
    let app = crate::helpers::spawn_app_with(|c| {
        c.upstreams.jira_base_url = Some(jira.uri());
        c.upstreams.jira_api_token = Some("dc-pat-0123456789".into());
    })
    .await;
    app.create_webhook(json!({
        "id": "jr", "name": "Jira", "provider": "jira", "secret": SECRET,
    }))
    .await;

    // Act: a command is saved, tried in a dry run, fired by a comment, and a reply is asked
    // for by hand.
    let command = app
        .add_command_ok(
            "jr",
            json!({"trigger": "comment_created", "action": "comment", "template": "Noted"}),
        )
        .await;
    let client = crate::mcp::connect(&app).await;
    let payload = json!({
        "webhookEvent": "comment_created",
        "issue": {"id": "10007", "key": "OPS-7", "fields": {"summary": "Disk full"},
                  "self": format!("{}/rest/api/2/issue/10007", jira.uri())},
        "comment": {"id": "20001", "body": "please look", "author": {"accountId": "alice"},
                    "self": format!("{}/rest/api/2/issue/10007/comment/20001", jira.uri())},
    });
    let dry = crate::mcp::structured(
        &crate::mcp::call(
            &client,
            "test_webhook",
            json!({"webhook_id": "jr", "payload": payload}),
        )
        .await,
    );
    client.cancel().await.ok();
    let event_id = comment_on(&app, &jira.uri()).await;
    let by_hand = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "by hand"}),
        )
        .await;

    // Assert: no warning, no would-fail, no refusal; both comments went with the bearer token.
    assert!(command.get("warnings").is_none(), "{command}");
    let planned = &dry["matched"][0];
    assert_eq!(planned["would_fail"], Value::Null, "{dry}");
    assert_eq!(by_hand.0, StatusCode::ACCEPTED, "{}", by_hand.1);
    let mut actions = Vec::new();
    for _ in 0..100 {
        actions = app.actions_of(&event_id).await;
        if actions.len() == 2 && actions.iter().all(|a| a["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        actions.len() == 2 && actions.iter().all(|a| a["status"] == "delivered"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_jira_email_given_with_spaces_around_it_is_saved_and_sent_without_them() {
    // Arrange: the webhook's own site (a fake) taking only the trimmed login.
    let own = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue/OPS-7/comment"))
        .and(header(
            "authorization",
            "Basic b3BzMkBhY21lLmV4YW1wbGU6Yi10b2tlbg==",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "20004"})))
        .expect(1)
        .mount(&own)
        .await;
    let app = spawn_manual(|c| c.allowed_target_hosts.push(own.address().to_string())).await;
    let credentials = json!({"jira_base_url": own.uri(), "jira_email": " ops@acme.example \n",
                             "jira_api_token": "b-token"});
    commenting_webhook(&app, json!({"credentials": credentials})).await;
    let (_, created) = app.get_json("/api/webhooks/jr").await;

    // Act: an update gives another email, padded too; then a comment is answered.
    let (status, updated) = crate::helpers::send_json(
        app.api(reqwest::Method::PUT, "/api/webhooks/jr")
            .json(&json!({
                "options": {"credentials": {"jira_email": "\tops2@acme.example  "}}
            })),
    )
    .await;
    let event_id = comment_on(&app, &own.uri()).await;
    app.drain().await;

    // Assert
    let email = |webhook: &Value| webhook["options"]["credentials"]["jira_email"].clone();
    assert_eq!(email(&created), "ops@acme.example", "{created}");
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(email(&updated), "ops2@acme.example", "{updated}");
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
}
