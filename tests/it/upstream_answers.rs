//! What the server keeps of an upstream's answer, and when it tries again: a redirect is shown
//! masked as its target is, a credential the answer quotes back is scrubbed before it is
//! stored, a `Retry-After` on any answer worth retrying is waited, a GitHub limit waits as
//! GitHub says, and an action held by a send says until when.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{
    accepted, agent_app, assert_error, delivery_id, fake_llm, issue_opened, open_issue, run_next,
    runner_of, send_json, spawn_manual,
};

const GH_SECRET: &str = "gh-secret-for-answers";
const COMMENTS: &str = "/repos/octo/app/issues/7/comments";
const TOKEN: &str = "ghp_ECHOTOKEN4242";

/// The action `GET /api/actions/{id}` shows (with its attempt log).
async fn action(app: &crate::helpers::TestApp, id: &str) -> Value {
    let (status, action) = app.get_json(&format!("/api/actions/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{action}");
    action
}

fn time_ms(v: &Value) -> i128 {
    let t = OffsetDateTime::parse(v.as_str().expect("a time"), &Rfc3339).expect("RFC 3339");
    t.unix_timestamp_nanos() / 1_000_000
}

/// How long after its first attempt the action is tried again.
fn wait_ms(action: &Value) -> i128 {
    time_ms(&action["next_attempt_at"]) - time_ms(&action["attempt_log"][0]["at"])
}

/// The id of the first action an `issues.opened` of issue 7, sent to webhook `gh`, queued.
async fn first_action_of_an_opened_issue(app: &crate::helpers::TestApp) -> String {
    let body = issue_opened("octo/app", 7, &[]);
    let event_id = accepted(
        app.post_github("gh", "issues", &delivery_id(), &body, GH_SECRET)
            .await,
    )
    .await;
    app.actions_of(&event_id).await[0]["id"]
        .as_str()
        .expect("action id")
        .to_string()
}

/// An app commenting on every opened issue through a fake GitHub (token `TOKEN`), and the id
/// of the comment queued for issue 7.
async fn comment_queued(github: &MockServer) -> (crate::helpers::TestApp, String) {
    let uri = github.uri();
    let app = spawn_manual(move |config| {
        config.upstreams.github_api_url = uri;
        config.upstreams.github_token = Some(TOKEN.into());
    })
    .await;
    app.github_webhook("gh", GH_SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "comment", "template": "Thanks"}),
    )
    .await;
    let id = first_action_of_an_opened_issue(&app).await;
    (app, id)
}

async fn github_answering(answer: ResponseTemplate) -> MockServer {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMMENTS))
        .respond_with(answer)
        .mount(&github)
        .await;
    github
}

#[tokio::test]
async fn a_redirect_shows_where_it_went_with_the_channel_urls_secret_masked() {
    // Arrange: channel webhooks whose server sends each elsewhere, the same secret path on.
    let (up, down) = (MockServer::start().await, MockServer::start().await);
    let cases = [
        (
            "openwebui",
            "/api/v1/channels/webhooks/abc/TOKENPATHSECRET",
            None,
        ),
        ("slack", "/services/T000/B000/SLACKSECRET", None),
        ("discord", "/api/webhooks/123/DISCORDSECRET", None),
        // Relative: on the server it came from.
        (
            "openwebui",
            "/api/v1/channels/webhooks/abc/RELATIVESECRET",
            Some("/r307/again/RELATIVESECRET"),
        ),
        // The secret no longer last, and not token-like: the target's mask would show it.
        (
            "slack",
            "/services/T000/B000/SLACKSECRETPATHabcdefgh",
            Some("/services/T000/B000/SLACKSECRETPATHabcdefgh/v2"),
        ),
    ];
    for (_, at, relative) in &cases {
        let location = match relative {
            Some(relative) => relative.to_string(),
            None => format!("{}{at}", down.uri()),
        };
        Mock::given(method("POST"))
            .and(path(*at))
            .respond_with(ResponseTemplate::new(302).insert_header("Location", location))
            .mount(&up)
            .await;
    }
    let app = spawn_manual(|_| {}).await;
    let mut ids = Vec::new();
    for (kind, at, _) in &cases {
        let message = json!({"url": format!("{}{at}", up.uri()), "text": "hello", "kind": kind});
        let (status, queued) = app.post_api("/api/messages", &message).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        ids.push(queued["id"].as_str().expect("id").to_string());
    }

    // Act
    app.drain().await;

    // Assert: each says where it was sent, as its target is shown; no secret anywhere.
    let shown = [
        format!("{}/api/v1/channels/webhooks/abc/***", down.uri()),
        format!("{}/services/T000/B000/***", down.uri()),
        format!("{}/api/webhooks/123/***", down.uri()),
        format!("{}/r307/again/***", up.uri()),
        format!("{}/services/T000/B000/***/***", up.uri()),
    ];
    for (id, shown) in ids.iter().zip(shown) {
        let action = action(&app, id).await;
        assert_eq!(action["status"], "dead", "{action}");
        let error = action["last_error"].as_str().unwrap_or_default();
        assert!(
            error.contains(&format!("redirect to {shown} not followed")),
            "{error}"
        );
        assert!(!action.to_string().contains("SECRET"), "{action}");
    }
    let (_, listed) = app.get_json("/api/actions").await;
    assert!(!listed.to_string().contains("SECRET"), "{listed}");
}

#[tokio::test]
async fn a_token_the_upstream_quotes_back_is_not_stored() {
    // Arrange: GitHub refusing the comment, quoting the header it was sent.
    let echo = ResponseTemplate::new(422).set_body_json(json!({
        "message": format!("Validation failed: you sent Bearer {TOKEN}")
    }));
    let github = github_answering(echo).await;
    let (app, id) = comment_queued(&github).await;

    // Act
    app.drain().await;

    // Assert
    let action = action(&app, &id).await;
    assert_eq!(action["status"], "dead", "{action}");
    let error = action["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("you sent Bearer ***"), "{error}");
    assert!(!action.to_string().contains(TOKEN), "{action}");
}

/// A target (or a proxy before it) refusing whatever it is sent with a 400 that quotes the
/// path, as sent and percent-encoded whole (as an echo inside a query or a JSON field may be).
struct EchoPath;

impl Respond for EchoPath {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let sent = request.url.path();
        let encoded: String = sent
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        ResponseTemplate::new(400).set_body_string(format!(
            "bad request to {sent} (path={encoded}): no such webhook"
        ))
    }
}

#[tokio::test]
async fn a_channel_urls_secret_path_the_answer_quotes_back_is_not_stored() {
    // Arrange: channel webhooks on a server that echoes the path each was posted to.
    let target = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(EchoPath)
        .mount(&target)
        .await;
    let cases = [
        (
            "discord",
            "/api/webhooks/1234/DISCORDSECRETPATHxyz",
            "DISCORDSECRETPATHxyz",
        ),
        // The token before a Slack-compatible suffix.
        (
            "discord",
            "/api/webhooks/1234/DISCORDMID4SECRET5678ab/slack",
            "DISCORDMID4SECRET5678ab",
        ),
        (
            "slack",
            "/services/T000/B000/SLACKPATHSECRET999",
            "SLACKPATHSECRET999",
        ),
        (
            "openwebui",
            "/api/v1/channels/webhooks/ch1/OWUICHANTOKEN999",
            "OWUICHANTOKEN999",
        ),
        // Its `:` percent-encoded in the echo.
        (
            "telegram",
            "/bot123456:TGSECRETTOKEN99/sendMessage",
            "TGSECRETTOKEN99",
        ),
    ];
    let app = spawn_manual(|_| {}).await;
    let mut ids = Vec::new();
    for (kind, at, _) in &cases {
        let mut message =
            json!({"url": format!("{}{at}", target.uri()), "text": "hi", "kind": kind});
        if *kind == "telegram" {
            message["chat_id"] = json!(7);
        }
        let (status, queued) = app.post_api("/api/messages", &message).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        ids.push(queued["id"].as_str().expect("id").to_string());
    }

    // Act
    app.drain().await;

    // Assert: the answer is quoted, with the secret masked as in the target.
    for (id, (_, _, secret)) in ids.iter().zip(&cases) {
        let action = action(&app, id).await;
        assert_eq!(action["status"], "dead", "{action}");
        let error = action["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("bad request to /"), "{error}");
        assert!(error.contains("***"), "{error}");
        assert!(!action.to_string().contains(secret), "{action}");
    }
    let (_, listed) = app.get_json("/api/actions").await;
    for (_, _, secret) in &cases {
        assert!(!listed.to_string().contains(secret), "{listed}");
    }
}

#[tokio::test]
async fn a_forward_urls_token_in_its_path_is_neither_shown_nor_stored_from_the_answer() {
    // Arrange: a signed forward to a receiver whose key is a path segment, on a server that
    // echoes the path it was posted to; and a read-only key to look with.
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(EchoPath)
        .mount(&receiver)
        .await;
    let secret = "FWDPATHTOKEN1234abcd5678";
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", GH_SECRET).await;
    let command = app
        .add_command_ok(
            "gh",
            json!({"trigger": "issues.opened", "action": "forward",
                   "target": {"url": format!("{}/hooks/{secret}/build", receiver.uri()),
                              "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}),
        )
        .await;
    let id = first_action_of_an_opened_issue(&app).await;
    let (_, read) = crate::keys::create_key(&app, "dashboard", "read").await;
    let read_json = |path: String| {
        let request = app.client.get(app.url(&path)).bearer_auth(read.clone());
        send_json(request)
    };

    // Act
    app.drain().await;

    // Assert: the path's readable words stay, the token is masked in the target and the
    // answer alike, wherever a read key looks.
    let (status, action) = read_json(format!("/api/actions/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{action}");
    assert_eq!(action["status"], "dead", "{action}");
    let target = action["target"].as_str().unwrap_or_default();
    assert!(target.ends_with("/hooks/***/build"), "{action}");
    let error = action["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("bad request to /hooks/***/build"), "{error}");
    assert!(!action.to_string().contains(secret), "{action}");
    let (_, listed) = read_json("/api/actions".into()).await;
    assert!(!listed.to_string().contains(secret), "{listed}");
    let (_, commands) = read_json("/api/webhooks/gh/commands".into()).await;
    let shown = commands.to_string();
    assert!(shown.contains("/hooks/***/build"), "{shown}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(!command.to_string().contains(secret), "{command}");
}

#[tokio::test]
async fn a_chat_api_key_the_answer_quotes_back_is_not_stored_on_the_task() {
    // Arrange: a chat API refusing the key, quoting it (as OpenAI's 401 does, in part).
    let refused = ResponseTemplate::new(401).set_body_json(json!({
        "error": {"message": "Incorrect API key provided: sk-test-key. Find yours at ..."}
    }));
    let (llm, github) = (fake_llm(vec![refused]).await, MockServer::start().await);
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app.task_id_of(&open_issue(&app, 41, "Key").await).await;

    // Act
    run_next(&app, &runner).await;

    // Assert
    let task = app.task(&task_id).await;
    let error = task["error"].as_str().unwrap_or_default();
    assert!(error.contains("Incorrect API key provided: ***"), "{task}");
    assert!(!task.to_string().contains("sk-test-key"), "{task}");
}

#[tokio::test]
async fn a_502_naming_retry_after_is_tried_again_after_it() {
    // Arrange: the schedule says at once; the answer says two minutes.
    let busy = ResponseTemplate::new(502).insert_header("Retry-After", "120");
    let github = github_answering(busy).await;
    let (app, id) = comment_queued(&github).await;

    // Act
    app.drain().await;

    // Assert
    let action = action(&app, &id).await;
    assert_eq!(action["status"], "retrying", "{action}");
    let wait = wait_ms(&action);
    assert!(
        (119_000..=121_500).contains(&wait),
        "next attempt {wait} ms later"
    );
}

#[tokio::test]
async fn a_github_secondary_limit_with_nothing_remaining_waits_for_the_reset() {
    // Arrange: a secondary limit that also spent the primary one, which resets in 5 minutes.
    let reset = OffsetDateTime::now_utc().unix_timestamp() + 300;
    let limited = ResponseTemplate::new(403)
        .insert_header("x-ratelimit-remaining", "0")
        .insert_header("x-ratelimit-reset", reset.to_string().as_str())
        .set_body_json(json!({"message": "You have exceeded a secondary rate limit."}));
    let github = github_answering(limited).await;
    let (app, id) = comment_queued(&github).await;

    // Act
    app.drain().await;

    // Assert: at the reset, not after the minute kept for a limit that names no time.
    let action = action(&app, &id).await;
    assert_eq!(action["status"], "retrying", "{action}");
    let wait = wait_ms(&action);
    assert!(
        (290_000..=301_000).contains(&wait),
        "next attempt {wait} ms later"
    );
}

#[tokio::test]
async fn an_action_held_by_a_send_that_died_says_until_when() {
    // Arrange: a sender claimed the comment and was killed mid-send: its hold stays.
    let github = MockServer::start().await;
    let (app, id) = comment_queued(&github).await;
    let now = webhook_mcp::clock::now_ms();
    let lease = now + 60_000;
    app.state
        .store
        .write(move |db| webhook_mcp::store::outbox::claim_due(db, now, lease, &[], &[]))
        .await
        .expect("claim")
        .expect("a row to claim");
    let until = webhook_mcp::clock::rfc3339(lease);

    // Act
    let shown = action(&app, &id).await;
    let cancel = send_json(app.api(Method::POST, &format!("/api/actions/{id}/cancel"))).await;
    let retry = send_json(app.api(Method::POST, &format!("/api/actions/{id}/retry"))).await;

    // Assert
    assert_eq!(shown["status"], "sending", "{shown}");
    assert_eq!(shown["lease_expires_at"], json!(until), "{shown}");
    for refused in [&cancel, &retry] {
        assert_error(refused, StatusCode::CONFLICT, None);
        let message = refused.1["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("holds it until {until}")),
            "{message}"
        );
    }
}
