//! Actions back to each source and out to other places, against fakes: GitLab notes, Jira
//! comments, Slack thread replies and slash-command answers, Open WebUI channel messages,
//! signed forwards, ask → reply threading, and the SSRF guard on user-given targets.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, accepted, answer_once, delivery_id, expect_post, issue_comment, issue_opened,
    read_json, slack_thread_message, spawn_manual, task_conversation, use_github, use_jira,
    use_linear, use_slack, verify_standard_request,
};

const GH_SECRET: &str = "gh-secret-for-sources";
const ISSUE_9: &str = "/repos/octo/app/issues/9/comments";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Where GitHub shows the question the service asks on issue 9.
const QUESTION_URL: &str = "https://github.com/octo/app/issues/9#issuecomment-77";

/// A GitHub webhook `gh` with one command, on an app with a manual outbox.
async fn github_app_with(command: Value, github: Option<&MockServer>) -> TestApp {
    let app = spawn_manual(|config| {
        if let Some(github) = github {
            use_github(github)(config);
        }
    })
    .await;
    app.github_webhook("gh", GH_SECRET).await;
    app.add_command_ok("gh", command).await;
    app
}

/// A GitLab webhook `gl` (token `gl-tok`) with one command, on an app whose GitLab is `gitlab`.
async fn gitlab_app_with(gitlab: &MockServer, command: Value) -> TestApp {
    let app = spawn_manual(|config| {
        config.upstreams.gitlab_url = gitlab.uri();
        config.upstreams.gitlab_token = Some("glpat-test".into());
    })
    .await;
    app.create_webhook(
        json!({"id": "gl", "name": "GitLab", "provider": "gitlab", "secret": "gl-tok"}),
    )
    .await;
    app.add_command_ok("gl", command).await;
    app
}

/// A Jira webhook `jr` (secret `jira-secret`) with one command, on an app whose Jira is `jira`.
async fn jira_app_with(jira: &MockServer, command: Value) -> TestApp {
    let app = spawn_manual(use_jira(jira)).await;
    app.create_webhook(
        json!({"id": "jr", "name": "Jira", "provider": "jira", "secret": "jira-secret"}),
    )
    .await;
    app.add_command_ok("jr", command).await;
    app
}

async fn post_gh(app: &TestApp, event: &str, body: &str) -> String {
    accepted(
        app.post_github("gh", event, &delivery_id(), body, GH_SECRET)
            .await,
    )
    .await
}

#[tokio::test]
async fn a_gitlab_issue_open_gets_a_note_on_the_encoded_project_path_with_the_token_as_bearer() {
    // Arrange: GitLab takes an OAuth token only as `Authorization: Bearer`, and an access
    // token that way too.
    let gitlab = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/group%2Fsub%2Fapp/issues/5/notes"))
        .and(header("authorization", "Bearer glpat-test"))
        .and(body_json(json!({"body": "Seen: Crash on start"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 42})))
        .expect(1)
        .mount(&gitlab)
        .await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "issue.open", "action": "comment",
               "template": "Seen: {{object_attributes.title}}"}),
    )
    .await;
    let body = json!({
        "object_kind": "issue",
        "project": {"path_with_namespace": "group/sub/app"},
        "object_attributes": {"iid": 5, "action": "open", "title": "Crash on start"},
    });

    // Act
    let event_id = accepted(app.post_gitlab("gl", &body, "gl-tok").await).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["remote_id"], "42");
}

#[tokio::test]
async fn a_telegram_message_by_hand_or_by_a_command_takes_its_chat_id_as_a_number() {
    // Arrange
    let telegram = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/bot123:ABC/sendMessage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true,
                                                           "result": {"message_id": 5}})))
        .expect(2)
        .mount(&telegram)
        .await;
    let url = format!("{}/bot123:ABC/sendMessage", telegram.uri());
    let app = github_app_with(
        json!({"trigger": "issues.opened", "action": "post_message", "template": "New issue",
               "target": {"url": url, "kind": "telegram", "chat_id": -100123}}),
        None,
    )
    .await;

    // Act
    let (status, queued) = app
        .post_api(
            "/api/messages",
            &json!({"url": url, "kind": "telegram", "chat_id": -100123, "text": "Deployed"}),
        )
        .await;
    post_gh(&app, "issues", &issue_opened("octo/app", 3, &[])).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(sent, 2);
    for request in telegram.received_requests().await.expect("recorded") {
        let body: Value = serde_json::from_slice(&request.body).expect("json");
        assert_eq!(
            body["chat_id"].to_string().trim_matches('"'),
            "-100123",
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_discord_message_shows_mentions_from_the_payload_without_pinging_anyone() {
    // Arrange: an issue title that mentions everyone, posted to a Discord webhook.
    let discord = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/webhooks/1/tok"))
        .and(body_json(json!({
            "content": "New: @everyone look <@&42>",
            "allowed_mentions": {"parse": []},
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&discord)
        .await;
    let url = format!("{}/api/webhooks/1/tok", discord.uri());
    let app = github_app_with(
        json!({"trigger": "issues.opened", "action": "post_message",
               "template": "New: {{issue.title}}", "target": {"url": url, "kind": "discord"}}),
        None,
    )
    .await;
    let mut body: Value = serde_json::from_str(&issue_opened("octo/app", 3, &[])).expect("json");
    body["issue"]["title"] = json!("@everyone look <@&42>");
    let event_id = post_gh(&app, "issues", &body.to_string()).await;

    // Act
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
}

#[tokio::test]
async fn a_discord_message_waits_for_discords_answer_and_keeps_its_message_id() {
    // Arrange: a Discord webhook posting into a thread (`thread_id`), which answers with the
    // message only when asked to wait; by a command and by hand.
    let discord = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/webhooks/1/DiscordTok3nSecret99"))
        .and(query_param("wait", "true"))
        .and(query_param("thread_id", "77"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "1180000000000000001", "channel_id": "77"})),
        )
        .expect(2)
        .mount(&discord)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&discord)
        .await;
    let url = format!(
        "{}/api/webhooks/1/DiscordTok3nSecret99?thread_id=77",
        discord.uri()
    );
    let app = github_app_with(
        json!({"trigger": "issues.opened", "action": "post_message", "template": "New issue",
               "target": {"url": url, "kind": "discord"}}),
        None,
    )
    .await;

    // Act
    let (status, queued) = app
        .post_api(
            "/api/messages",
            &json!({"url": url, "kind": "discord", "text": "Deployed"}),
        )
        .await;
    let event_id = post_gh(&app, "issues", &issue_opened("octo/app", 3, &[])).await;
    app.drain().await;

    // Assert: each went once, waiting, in its thread, and keeps the message's id; the target
    // is shown as before, its token masked and no query added.
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let by_hand = queued["id"].as_str().expect("action id");
    let (_, by_hand) = app.get_json(&format!("/api/actions/{by_hand}")).await;
    let by_command = app.actions_of(&event_id).await.remove(0);
    let shown = format!("discord {}/api/webhooks/1/***", discord.uri());
    for action in [&by_hand, &by_command] {
        assert_eq!(action["status"], "delivered", "{action}");
        assert_eq!(action["remote_id"], "1180000000000000001", "{action}");
        assert_eq!(action["target"], shown.as_str(), "{action}");
        assert!(!action.to_string().contains("DiscordTok3n"), "{action}");
    }
}

#[tokio::test]
async fn a_gitlab_note_created_on_current_gitlab_answers_a_question_on_its_issue() {
    // Arrange: an issue asks its question as a note; GitLab 16.11+ names note hooks'
    // action (`note.create`).
    let gitlab = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/group%2Fapp/issues/5/notes"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 42})))
        .mount(&gitlab)
        .await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "issue.open", "action": "ask", "agent": "brain",
               "template": "Which milestone?"}),
    )
    .await;
    let project = json!({"path_with_namespace": "group/app"});
    let issue = json!({"object_kind": "issue", "project": project,
                       "user": {"id": 3, "username": "jsmith"},
                       "object_attributes": {"iid": 5, "action": "open", "title": "Crash"}});
    let event_id = accepted(app.post_gitlab("gl", &issue, "gl-tok").await).await;
    app.drain().await;

    // Act
    let note = json!({"object_kind": "note", "project": project,
                      "user": {"id": 3, "username": "jsmith"},
                      "object_attributes": {"id": 43, "note": "16.0 please", "action": "create",
                                            "noteable_type": "Issue"},
                      "issue": {"iid": 5}});
    accepted(app.post_gitlab("gl", &note, "gl-tok").await).await;

    // Assert
    let task = task_of(&app, &event_id).await;
    assert_eq!(task["status"], "queued", "the note answered it: {task}");
    let conversation = task_conversation(&app, task["id"].as_str().expect("task id"));
    assert!(conversation.contains("16.0 please"), "{conversation}");
}

#[tokio::test]
async fn an_answer_to_a_review_comment_goes_in_its_thread_beside_the_line() {
    // Arrange: a reply in a review thread whose first comment is 42.
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/pulls/3/comments/42/replies"))
        .and(body_json(json!({"body": "Looking at line 12"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"id": 44, "html_url": "https://github.com/octo/app/pull/3#discussion_r44"}),
        ))
        .expect(1)
        .mount(&github)
        .await;
    let app = github_app_with(
        json!({"trigger": "pull_request_review_comment.created", "action": "comment",
               "template": "Looking at line {{comment.line}}"}),
        Some(&github),
    )
    .await;
    let body = json!({
        "action": "created",
        "comment": {"id": 43, "in_reply_to_id": 42, "line": 12, "body": "why this?",
                    "html_url": "https://github.com/octo/app/pull/3#discussion_r43",
                    "user": {"login": "alice", "type": "User"}},
        "pull_request": {"number": 3, "title": "Speed up", "user": {"login": "bob"}},
        "repository": {"full_name": "octo/app"},
        "sender": {"login": "alice", "type": "User"},
    })
    .to_string();

    // Act
    let event_id = post_gh(&app, "pull_request_review_comment", &body).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["target"], "github octo/app#3 (review thread 42)");
}

/// A `workflow_run.completed` in repository 70, for the given pull requests (number, base
/// repository id).
fn workflow_run(conclusion: &str, pull_requests: &[(u64, u64)]) -> String {
    let prs: Vec<Value> = pull_requests
        .iter()
        .map(|(number, base)| json!({"number": number, "base": {"repo": {"id": base}}}))
        .collect();
    json!({
        "action": "completed",
        "workflow_run": {"name": "CI", "conclusion": conclusion, "pull_requests": prs},
        "repository": {"id": 70, "full_name": "octo/app"},
        "sender": {"login": "alice", "type": "User"},
    })
    .to_string()
}

#[tokio::test]
async fn a_failed_workflow_run_for_a_pull_request_is_answered_on_that_pull_request() {
    // Arrange: comment on failed runs that were for a pull request, as the save-time warning
    // suggests.
    let github = MockServer::start().await;
    expect_post(
        &github,
        ISSUE_9,
        json!({"body": "CI failed: failure"}),
        ResponseTemplate::new(201).set_body_json(json!({"id": 5})),
        1,
    )
    .await;
    let command = json!({"trigger": "workflow_run.completed", "action": "comment",
        "template": "{{workflow_run.name}} failed: {{workflow_run.conclusion}}",
        "conditions": {"all": [
            {"field": "workflow_run.conclusion", "equals": "failure"},
            {"field": "workflow_run.pull_requests.0", "exists": true}]}});
    let app = spawn_manual(use_github(&github)).await;
    app.github_webhook("gh", GH_SECRET).await;
    let saved = app.add_command_ok("gh", command).await;
    // The condition the warning gives is there, so there is nothing left to warn of.
    assert!(saved.get("warnings").is_none(), "{saved}");

    // Act: a failed run for PR 9 here (and for a PR of a fork's base, 4), a failed run on a
    // push, and a passing run for PR 9.
    let on_pr = post_gh(
        &app,
        "workflow_run",
        &workflow_run("failure", &[(4, 71), (9, 70)]),
    )
    .await;
    let on_push = post_gh(&app, "workflow_run", &workflow_run("failure", &[])).await;
    let passed = post_gh(&app, "workflow_run", &workflow_run("success", &[(9, 70)])).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 1);
    let event = app.event(&on_pr).await;
    assert_eq!(event["source"]["key"], "octo/app#9", "{event}");
    assert_eq!(event["actions"][0]["status"], "delivered", "{event}");
    assert_eq!(
        event["actions"][0]["target"], "github octo/app#9",
        "{event}"
    );
    for quiet in [on_push, passed] {
        let event = app.event(&quiet).await;
        assert_eq!(event["status"], "accepted", "{event}");
    }
}

#[tokio::test]
async fn a_signed_jira_issue_created_gets_a_comment_with_basic_auth() {
    // Arrange
    let jira = MockServer::start().await;
    let auth = format!("Basic {}", STANDARD.encode("bot@example.com:atl-token"));
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue/ENG-12/comment"))
        .and(header("authorization", auth.as_str()))
        .and(body_json(json!({"body": "Ack ENG-12: Login broken"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "10042"})))
        .expect(1)
        .mount(&jira)
        .await;
    let app = jira_app_with(
        &jira,
        json!({"trigger": "jira:issue_created", "action": "comment",
               "template": "Ack {{issue.key}}: {{issue.fields.summary}}"}),
    )
    .await;
    let body = json!({
        "webhookEvent": "jira:issue_created",
        "issue": {"id": "10001", "key": "ENG-12", "fields": {"summary": "Login broken"}},
    })
    .to_string();

    // Act
    let event_id = accepted(app.post_jira("jr", &body, "jira-secret").await).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["remote_id"], "10042");
}

/// A Jira webhook `jr` forwarding each created issue elsewhere, and issue ENG-12 created: the
/// fake Jira, the app and the API path that comments on the creation's event by hand.
async fn jira_issue_to_comment_on() -> (MockServer, TestApp, String) {
    let jira = MockServer::start().await;
    let app = jira_app_with(
        &jira,
        json!({"trigger": "jira:issue_created", "action": "forward",
               "target": {"url": "https://example.com/hook"}}),
    )
    .await;
    let body = json!({"webhookEvent": "jira:issue_created",
        "issue": {"id": "10001", "key": "ENG-12", "fields": {"summary": "Login broken"}}})
    .to_string();
    let event_id = accepted(app.post_jira("jr", &body, "jira-secret").await).await;
    (jira, app, format!("/api/events/{event_id}/comment"))
}

#[tokio::test]
async fn a_comment_by_hand_longer_than_jira_takes_is_refused_naming_jiras_limit() {
    // Arrange
    let (_jira, app, path) = jira_issue_to_comment_on().await;

    // Act
    let (status, answer) = app
        .post_api(&path, &json!({"text": "x".repeat(40_000)}))
        .await;
    let (fits, _) = app
        .post_api(&path, &json!({"text": "x".repeat(32_767)}))
        .await;

    // Assert
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer
            .to_string()
            .contains("a Jira comment takes at most 32767"),
        "{answer}"
    );
    assert_eq!(fits, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_comment_by_hand_is_measured_for_jira_in_utf16_units() {
    // Arrange: an emoji is one character but two UTF-16 units, which Jira counts.
    let (_jira, app, path) = jira_issue_to_comment_on().await;

    // Act
    let (status, answer) = app
        .post_api(&path, &json!({"text": "🚀".repeat(20_000)}))
        .await;
    let (fits, _) = app
        .post_api(&path, &json!({"text": "🚀".repeat(16_383)}))
        .await;

    // Assert
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("40000") && message.contains("a Jira comment takes at most 32767"),
        "{message}"
    );
    assert_eq!(fits, StatusCode::ACCEPTED);
}

/// A Jira webhook that asks "Which browser?" about each new issue, after `issue` was created
/// and the question posted on it; the app and the creation's event id.
async fn jira_question_on(jira: &MockServer, issue: &Value) -> (TestApp, String) {
    let key = issue["key"].as_str().expect("issue key");
    Mock::given(method("POST"))
        .and(path(format!("/rest/api/2/issue/{key}/comment")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "10050"})))
        .mount(jira)
        .await;
    let app = jira_app_with(
        jira,
        json!({"trigger": "jira:issue_created", "action": "ask", "agent": "brain",
               "template": "Which browser?"}),
    )
    .await;
    let created = json!({"webhookEvent": "jira:issue_created", "issue": issue}).to_string();
    let event_id = accepted(app.post_jira("jr", &created, "jira-secret").await).await;
    app.drain().await;
    (app, event_id)
}

#[tokio::test]
async fn a_jira_comment_heard_as_an_issue_update_answers_a_question_on_its_issue() {
    // Arrange: the question goes out as a comment; the webhook hears issue events only, so a
    // comment comes as `jira:issue_updated` (`issue_commented`), its body in document format.
    let jira = MockServer::start().await;
    let issue = json!({"id": "10019", "key": "OPS-19", "fields": {"summary": "Crash"}});
    let (app, event_id) = jira_question_on(&jira, &issue).await;

    // Act
    let commented = json!({
        "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_commented",
        "issue": issue,
        "comment": {"id": "10051", "author": {"accountId": "5b10", "displayName": "Bob"},
                    "body": {"type": "doc", "version": 1, "content": [{"type": "paragraph",
                             "content": [{"type": "text", "text": "Firefox 128 on Linux"}]}]}},
    })
    .to_string();
    accepted(app.post_jira("jr", &commented, "jira-secret").await).await;

    // Assert
    let task = task_of(&app, &event_id).await;
    assert_eq!(task["status"], "queued", "the comment answered it: {task}");
    let conversation = task_conversation(&app, task["id"].as_str().expect("task id"));
    assert!(
        conversation.contains("Firefox 128 on Linux"),
        "{conversation}"
    );
}

#[tokio::test]
async fn a_comment_made_before_the_question_is_out_does_not_answer_it() {
    // Jira refuses the question for now (a rate limit, or an outage that took nothing in);
    // it will be tried again.
    for status in [429, 503] {
        let jira = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/rest/api/2/issue/OPS-21/comment"))
            .respond_with(ResponseTemplate::new(status))
            .mount(&jira)
            .await;
        a_comment_during_an_outage_answers_nothing(&jira.uri()).await;
    }
}

#[tokio::test]
async fn a_comment_made_while_the_question_cannot_reach_jira_does_not_answer_it() {
    // No connection is made at all: nothing went out that anyone could answer.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    a_comment_during_an_outage_answers_nothing(&address).await;
}

async fn a_comment_during_an_outage_answers_nothing(jira_url: &str) {
    // Arrange: the question cannot go out for now; it will be tried again.
    let app = spawn_manual(|c| {
        c.upstreams.jira_base_url = Some(jira_url.to_string());
        c.upstreams.jira_email = Some("bot@example.com".into());
        c.upstreams.jira_api_token = Some("atl-token".into());
        c.retry_schedule = vec!["1h".into()];
    })
    .await;
    app.create_webhook(
        json!({"id": "jr", "name": "Jira", "provider": "jira", "secret": "jira-secret"}),
    )
    .await;
    app.add_command_ok(
        "jr",
        json!({"trigger": "jira:issue_created", "action": "ask", "agent": "brain",
               "template": "Which browser?"}),
    )
    .await;
    let issue = json!({"id": "10021", "key": "OPS-21", "fields": {"summary": "Crash"}});
    let created = json!({"webhookEvent": "jira:issue_created", "issue": issue}).to_string();
    let event_id = accepted(app.post_jira("jr", &created, "jira-secret").await).await;
    app.drain().await;
    let question = app.actions_of(&event_id).await.remove(0);
    assert_eq!(question["status"], "retrying", "{question}");

    // Act: someone comments on the issue meanwhile.
    let comment = json!({"webhookEvent": "comment_created", "issue": issue,
        "comment": {"id": "10060", "author": {"accountId": "5b10"}, "body": "Any news?"}})
    .to_string();
    accepted(app.post_jira("jr", &comment, "jira-secret").await).await;

    // Assert: no one has seen the question, so the comment is no answer to it.
    let task = task_of(&app, &event_id).await;
    assert_eq!(task["status"], "waiting_reply", "{task}");
    let conversation = task_conversation(&app, task["id"].as_str().expect("task id"));
    assert!(!conversation.contains("Any news?"), "{conversation}");
}

#[tokio::test]
async fn a_question_cancelled_before_it_went_out_fails_its_task_and_a_retry_asks_it_again() {
    // Arrange: GitHub refuses the question for now; it waits to be tried again.
    let github = MockServer::start().await;
    answer_once(&github, ISSUE_9, ResponseTemplate::new(502)).await;
    let created = ResponseTemplate::new(201).set_body_json(json!({"id": 81}));
    expect_post(
        &github,
        ISSUE_9,
        json!({"body": "Which release?"}),
        created,
        1,
    )
    .await;
    let (app, event_id) = asking_which_release_retried_hourly(&github).await;
    app.drain().await;
    let question = app.actions_of(&event_id).await.remove(0);
    assert_eq!(question["status"], "retrying", "{question}");
    let action_id = question["id"].as_str().expect("action id").to_string();

    // Act: the question is cancelled, then someone comments on the issue about something else.
    let (status, _) = app
        .post_api(&format!("/api/actions/{action_id}/cancel"), &json!({}))
        .await;
    assert!(status.is_success());
    let unrelated = issue_comment(9, "Flaky CI", "dave", "I see this on mobile too");
    post_gh(&app, "issue_comment", &unrelated).await;

    // Assert: the task failed as for a question never posted, and took no comment for an
    // answer to it.
    let task_id = task_of(&app, &event_id).await["id"]
        .as_str()
        .expect("task id")
        .to_string();
    let (_, task) = app.get_json(&format!("/api/tasks/{task_id}")).await;
    assert_eq!(task["status"], "failed", "{task}");
    let error = task["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("the question could not be posted: cancelled by hand"),
        "{error}"
    );
    let conversation = task_conversation(&app, &task_id);
    assert!(!conversation.contains("on mobile"), "{conversation}");

    // Act: a retry sends it after all.
    let (status, retried) = app
        .post_api(&format!("/api/actions/{action_id}/retry"), &json!({}))
        .await;
    assert!(status.is_success(), "{retried}");
    let sent = app.drain().await;

    // Assert: asked, and its task waits for the answer again.
    assert_eq!(sent, 1);
    let task = task_of(&app, &event_id).await;
    assert_eq!(task["status"], "waiting_reply", "{task}");
}

#[tokio::test]
async fn a_jira_comment_delivered_twice_answers_once_and_starts_no_second_agent() {
    // Arrange: a question waits on OPS-20; every new comment also starts a triage task.
    let jira = MockServer::start().await;
    let issue = json!({"id": "10020", "key": "OPS-20", "fields": {"summary": "Crash"}});
    let (app, event_id) = jira_question_on(&jira, &issue).await;
    app.add_command_ok(
        "jr",
        json!({"trigger": "comment_created", "action": "create_task", "agent": "brain",
               "template": "Triage: {{comment.body}}"}),
    )
    .await;
    let comment = json!({"id": 10052, "author": {"accountId": "5b10"}, "body": "Safari 18"});

    // Act: Jira Cloud sends the one comment as an issue update and as `comment_created`.
    let as_update = json!({"webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_commented", "issue": issue, "comment": comment})
    .to_string();
    let as_comment =
        json!({"webhookEvent": "comment_created", "issue": issue, "comment": comment}).to_string();
    accepted(app.post_jira("jr", &as_update, "jira-secret").await).await;
    let twin = accepted(app.post_jira("jr", &as_comment, "jira-secret").await).await;

    // Assert: the question has its answer once; the twin started no task.
    let task = task_of(&app, &event_id).await;
    assert_eq!(task["status"], "queued", "{task}");
    let conversation = task_conversation(&app, task["id"].as_str().expect("task id"));
    assert_eq!(
        conversation.matches("Safari 18").count(),
        1,
        "{conversation}"
    );
    let twin = app.event(&twin).await;
    assert_eq!(twin["tasks"], json!([]), "{twin}");
}

/// A Jira Data Center sender's `comment_created`: the comment alone, its address naming the
/// issue by id.
fn server_comment_created(comment: &Value, issue_id: &str, base: &str) -> String {
    let mut comment = comment.clone();
    let id = comment["id"].as_str().expect("comment id").to_string();
    comment["self"] = json!(format!("{base}/rest/api/2/issue/{issue_id}/comment/{id}"));
    json!({"webhookEvent": "comment_created", "comment": comment}).to_string()
}

#[tokio::test]
async fn a_data_center_comment_naming_its_issue_by_id_answers_a_question_on_its_key() {
    for update_first in [true, false] {
        // Arrange: a question waits on OPS-21 (id 10021); every new comment also starts a
        // triage task.
        let jira = MockServer::start().await;
        let issue = json!({"id": "10021", "key": "OPS-21", "self":
            format!("{}/rest/api/2/issue/10021", jira.uri()), "fields": {"summary": "Crash"}});
        let (app, event_id) = jira_question_on(&jira, &issue).await;
        app.add_command_ok(
            "jr",
            json!({"trigger": "comment_created", "action": "create_task", "agent": "brain",
                   "template": "Triage: {{comment.body}}"}),
        )
        .await;
        let comment = json!({"id": "10053", "author": {"name": "bob"}, "body": "Safari 18"});
        let as_update = json!({"webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_commented", "issue": issue, "comment": comment})
        .to_string();
        let as_comment = server_comment_created(&comment, "10021", &jira.uri());

        // Act: the sender's two deliveries of the comment, in either order.
        let (first, second) = if update_first {
            (&as_update, &as_comment)
        } else {
            (&as_comment, &as_update)
        };
        accepted(app.post_jira("jr", first, "jira-secret").await).await;
        let twin = accepted(app.post_jira("jr", second, "jira-secret").await).await;

        // Assert: the question has its answer, once; neither delivery started a second agent.
        let task = task_of(&app, &event_id).await;
        assert_eq!(
            task["status"], "queued",
            "update first: {update_first}: {task}"
        );
        let conversation = task_conversation(&app, task["id"].as_str().expect("task id"));
        assert_eq!(
            conversation.matches("Safari 18").count(),
            1,
            "update first: {update_first}: {conversation}"
        );
        let twin = app.event(&twin).await;
        assert_eq!(
            twin["tasks"],
            json!([]),
            "update first: {update_first}: {twin}"
        );
    }
}

#[tokio::test]
async fn a_comment_on_a_jira_issue_moved_to_another_project_answers_the_question_asked_before() {
    // Arrange: a question waits on OPS-22 (id 10022), which then moves to DEV as DEV-7.
    let jira = MockServer::start().await;
    let site = jira.uri();
    let issue = json!({"id": "10022", "key": "OPS-22",
        "self": format!("{site}/rest/api/2/issue/10022"), "fields": {"summary": "Crash"}});
    let (app, event_id) = jira_question_on(&jira, &issue).await;
    let moved = json!({"id": "10022", "key": "DEV-7",
        "self": format!("{site}/rest/api/2/issue/10022"), "fields": {"summary": "Crash"}});

    // Act: a comment on the moved issue; and one on an issue of another site with the same id.
    let elsewhere = json!({"id": "10022", "key": "ZZ-3",
        "self": "https://other.atlassian.net/rest/api/2/issue/10022"});
    let other_site = json!({"webhookEvent": "comment_created", "issue": elsewhere,
        "comment": {"id": "20001", "author": {"accountId": "5c"}, "body": "not here"}})
    .to_string();
    accepted(app.post_jira("jr", &other_site, "jira-secret").await).await;
    let still_waiting = task_of(&app, &event_id).await;
    let comment = json!({"webhookEvent": "comment_created", "issue": moved,
        "comment": {"id": "10054", "author": {"accountId": "5b10"}, "body": "Chrome 131"}})
    .to_string();
    accepted(app.post_jira("jr", &comment, "jira-secret").await).await;

    // Assert
    assert_eq!(still_waiting["status"], "waiting_reply", "{still_waiting}");
    let task = task_of(&app, &event_id).await;
    assert_eq!(task["status"], "queued", "{task}");
    let conversation = task_conversation(&app, task["id"].as_str().expect("task id"));
    assert!(conversation.contains("Chrome 131"), "{conversation}");
    assert!(!conversation.contains("not here"), "{conversation}");
}

#[tokio::test]
async fn a_comment_on_the_same_key_of_another_jira_site_does_not_answer_the_question() {
    // Arrange: a question waits on OPS-23 of the webhook's site.
    let jira = MockServer::start().await;
    let site = jira.uri();
    let issue = json!({"id": "10023", "key": "OPS-23",
        "self": format!("{site}/rest/api/2/issue/10023"), "fields": {"summary": "Crash"}});
    let (app, event_id) = jira_question_on(&jira, &issue).await;

    // Act: the same webhook hears a comment on another site's OPS-23.
    let elsewhere = json!({"id": "40023", "key": "OPS-23",
        "self": "https://other.atlassian.net/rest/api/2/issue/40023"});
    let other_site = json!({"webhookEvent": "comment_created", "issue": elsewhere,
        "comment": {"id": "20002", "author": {"accountId": "5c"}, "body": "not this one"}})
    .to_string();
    accepted(app.post_jira("jr", &other_site, "jira-secret").await).await;

    // Assert: the question still waits for an answer on its own site.
    let task = task_of(&app, &event_id).await;
    assert_eq!(task["status"], "waiting_reply", "{task}");
    let conversation = task_conversation(&app, task["id"].as_str().expect("task id"));
    assert!(!conversation.contains("not this one"), "{conversation}");
}

#[tokio::test]
async fn a_slack_thread_message_in_the_channel_gets_a_threaded_reply_with_the_bot_token() {
    // Arrange
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-test"))
        .and(body_json(
            json!({"channel": "C0ENG", "text": "On it: deploy is failing",
                              "thread_ts": "1700000000.000100"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "ts": "1.2"})))
        .expect(1)
        .mount(&slack)
        .await;
    let app = spawn_manual(use_slack(&slack)).await;
    app.slack_webhook("sl").await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "message", "action": "respond", "template": "On it: {{event.text}}",
               "conditions": {"channel": "C0ENG"}}),
    )
    .await;

    // Act
    let event_id = accepted(
        app.post_slack(
            "sl",
            &slack_thread_message("C0ENG", "deploy is failing"),
            "slack-signing",
        )
        .await,
    )
    .await;
    let elsewhere = accepted(
        app.post_slack(
            "sl",
            &slack_thread_message("C0RANDOM", "lunch?"),
            "slack-signing",
        )
        .await,
    )
    .await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["remote_id"], "C0ENG:1.2");
    assert!(app.actions_of(&elsewhere).await.is_empty());
}

#[tokio::test]
async fn a_slack_edit_or_join_is_not_a_new_message_and_fires_no_message_command() {
    // Arrange
    let app = spawn_manual(|_| {}).await;
    app.create_webhook(
        json!({"id": "sl", "name": "Slack", "provider": "slack", "secret": "slack-signing"}),
    )
    .await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "message", "action": "respond", "template": "On it: {{event.text}}"}),
    )
    .await;
    let notice = |subtype: &str, extra: Value| {
        let mut event = json!({"type": "message", "subtype": subtype, "channel": "C0ENG",
                               "channel_type": "channel", "ts": "1700000000.000900"});
        event
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"type": "event_callback", "team_id": "T1",
               "event_id": format!("Ev{}", uuid::Uuid::new_v4().simple()), "event": event})
        .to_string()
    };
    let edit = notice(
        "message_changed",
        json!({"hidden": true, "message": {"type": "message", "user": "U1", "text": "deploy is failing!",
               "ts": "1700000000.000200", "thread_ts": "1700000000.000100"}}),
    );
    let join = notice(
        "channel_join",
        json!({"user": "U2", "text": "<@U2> has joined the channel"}),
    );

    // Act
    let edited = accepted(app.post_slack("sl", &edit, "slack-signing").await).await;
    let joined = accepted(app.post_slack("sl", &join, "slack-signing").await).await;
    let posted = accepted(
        app.post_slack(
            "sl",
            &slack_thread_message("C0ENG", "deploy is failing"),
            "slack-signing",
        )
        .await,
    )
    .await;

    // Assert
    let edited = app.event(&edited).await;
    assert_eq!(edited["event_type"], "message_changed", "{edited}");
    assert_eq!(
        edited["source"]["key"], "C0ENG:1700000000.000100",
        "{edited}"
    );
    assert!(edited["actions"].as_array().unwrap().is_empty(), "{edited}");
    let joined = app.event(&joined).await;
    assert_eq!(joined["event_type"], "message_channel_join", "{joined}");
    assert!(joined["actions"].as_array().unwrap().is_empty(), "{joined}");
    assert_eq!(app.actions_of(&posted).await.len(), 1);
}

#[tokio::test]
async fn a_slack_slash_command_is_answered_in_the_receivers_own_response_and_nothing_is_queued() {
    // Arrange
    let app = spawn_manual(|_| {}).await;
    app.create_webhook(
        json!({"id": "sl", "name": "Slack", "provider": "slack", "secret": "slack-signing"}),
    )
    .await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "*", "action": "respond",
               "template": "Working on: {{text}} ({{ delivery.id }}, {{ delivery.received_at }})"}),
    )
    .await;
    let form = [
        ("team_id", "T1"),
        ("channel_id", "C0ENG"),
        ("channel_name", "engineering"),
        ("user_id", "U1"),
        ("command", "/agent"),
        ("text", "status please"),
        ("response_url", "https://hooks.slack.com/commands/T1/1/abc"),
        ("trigger_id", "13345.1"),
    ];

    // Act
    let (status, answer) = read_json(app.post_slack_form("sl", &form, "slack-signing").await).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{answer}");
    let events = app.events("webhook_id=sl").await;
    let event_id = events[0]["id"].as_str().expect("event id");
    let received_at = events[0]["received_at"].as_str().expect("received_at");
    assert_eq!(
        answer,
        json!({"response_type": "in_channel",
               "text": format!("Working on: status please ({event_id}, {received_at})")})
    );
    assert!(app.actions_of(event_id).await.is_empty());
    assert_eq!(app.drain().await, 0);
    assert_eq!(
        events[0]["status"], "done",
        "answered, so nothing is under way"
    );

    // Act: the same command again (a retry after a lost answer, a little later) is answered
    // the same, about the event stored first.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (again_status, again) =
        read_json(app.post_slack_form("sl", &form, "slack-signing").await).await;

    // Assert
    assert_eq!(again_status, StatusCode::OK, "{again}");
    assert_eq!(again, answer);
    assert_eq!(app.events("webhook_id=sl").await.len(), 1, "stored once");
}

#[tokio::test]
async fn a_repeated_delivery_is_answered_about_its_first_copy_whatever_the_repeat_says() {
    // Arrange: a custom sender that reads its answer from the response and names each
    // delivery in a header.
    let app = spawn_manual(|_| {}).await;
    app.create_webhook(json!({"id": "cu", "name": "Bot", "provider": "custom",
        "secret": "cu-token",
        "options": {"custom": {"mode": "token", "delivery_id_header": "X-Request-Id"}}}))
        .await;
    app.add_command_ok(
        "cu",
        json!({"trigger": "*", "action": "respond", "template": "got n={{ n }}"}),
    )
    .await;
    let send = |body: &'static str| {
        app.client
            .post(app.url("/webhooks/custom/cu"))
            .header("X-Webhook-Token", "cu-token")
            .header("X-Request-Id", "req-1")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let (_, first) = read_json(send(r#"{"n":1}"#).await.expect("POST")).await;

    // Act: the same delivery id again, with another body.
    let (status, again) = read_json(send(r#"{"n":2}"#).await.expect("POST")).await;

    // Assert: the answer is about what was stored, not what the repeat said.
    assert_eq!(first["text"], "got n=1", "{first}");
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["status"], "duplicate", "{again}");
    assert_eq!(again["text"], "got n=1", "{again}");
    assert_eq!(again["event_id"], first["event_id"], "{again}");
}

#[tokio::test]
async fn post_message_reaches_an_open_webui_channel_webhook_as_content() {
    // Arrange
    let owui = MockServer::start().await;
    let hook = "/api/v1/channels/webhooks/wid/token";
    for content in ["New issue: Issue 3", "by hand"] {
        Mock::given(method("POST"))
            .and(path(hook))
            .and(body_json(json!({"content": content})))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"success": true, "message_id": "m1"})),
            )
            .expect(1)
            .mount(&owui)
            .await;
    }
    let url = format!("{}{hook}", owui.uri());
    let app = github_app_with(
        json!({"trigger": "issues.opened", "action": "post_message",
               "template": "New issue: {{issue.title}}", "target": {"url": url}}),
        None,
    )
    .await;

    // Act
    let event_id = post_gh(&app, "issues", &issue_opened("octo/app", 3, &[])).await;
    assert_eq!(app.drain().await, 1);
    let (status, manual) = app
        .post_api(
            "/api/messages",
            &json!({"url": url, "kind": "openwebui", "text": "by hand"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{manual}");
    assert_eq!(app.drain().await, 1);

    // Assert
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["remote_id"], "m1");
    // the message sent by hand belongs to no event: its own route shows how it went
    let manual_id = manual["id"].as_str().expect("action id");
    let (status, read) = app.get_json(&format!("/api/actions/{manual_id}")).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["status"], "delivered", "{read}");
    assert_eq!(read["event_id"], Value::Null);
    assert_eq!(read["attempt_log"][0]["http_status"], 200, "{read}");
    let (missing, _) = app.get_json("/api/actions/act_nope").await;
    assert_eq!(missing, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_forward_is_signed_the_standard_webhooks_way_with_the_same_id_on_a_retry() {
    // Arrange
    let target = MockServer::start().await;
    answer_once(&target, "/in", ResponseTemplate::new(500)).await;
    Mock::given(method("POST"))
        .and(path("/in"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&target)
        .await;
    let url = format!("{}/in", target.uri());
    let app = github_app_with(
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": url, "secret": WHSEC}}),
        None,
    )
    .await;
    let body = issue_opened("octo/app", 4, &[]);
    let event_id = post_gh(&app, "issues", &body).await;

    // Act
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 2);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    let requests = target.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 2);
    let mut ids = Vec::new();
    for req in &requests {
        let (id, payload) = verify_standard_request(req, WHSEC);
        assert_eq!(payload, body, "the event is forwarded byte for byte");
        ids.push(id);
    }
    assert_eq!(ids[0], ids[1], "webhook-id is stable across retries");
    assert_eq!(ids[0], action["id"].as_str().expect("action id"));
}

#[tokio::test]
async fn a_json_body_with_a_byte_order_mark_is_forwarded_as_json_without_it() {
    // Arrange
    let target = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/in"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&target)
        .await;
    let url = format!("{}/in", target.uri());
    let app = github_app_with(
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": url, "secret": WHSEC}}),
        None,
    )
    .await;
    let json = issue_opened("octo/app", 4, &[]);
    let event_id = post_gh(&app, "issues", &format!("\u{feff}{json}")).await;

    // Act
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    let requests = target.received_requests().await.expect("recorded");
    let (_, payload) = verify_standard_request(&requests[0], WHSEC);
    assert_eq!(
        payload, json,
        "the JSON is forwarded without its byte-order mark"
    );
}

/// The event's first task.
async fn task_of(app: &TestApp, event_id: &str) -> Value {
    app.event(event_id).await["tasks"][0].clone()
}

/// GitHub echoes our own question back (the task keeps waiting), then another user answers
/// on the same issue (the task is queued with the answer in its conversation).
async fn echo_then_reply_on_issue_9(app: &TestApp, event_id: &str, question: &str) {
    let mut echo: Value =
        serde_json::from_str(&issue_comment(9, "Flaky CI", "webhook-mcp", question)).expect("json");
    echo["comment"]["html_url"] = json!(QUESTION_URL);
    let echo = echo.to_string();
    post_gh(app, "issue_comment", &echo).await;
    let task = task_of(app, event_id).await;
    assert_eq!(
        task["status"], "waiting_reply",
        "our own comment is no answer: {task}"
    );

    let reply = issue_comment(9, "Flaky CI", "bob", "Yes, prioritise it");
    post_gh(app, "issue_comment", &reply).await;
    let task = task_of(app, event_id).await;
    assert_eq!(task["status"], "queued", "{task}");
    let conversation = task_conversation(app, task["id"].as_str().expect("task id"));
    assert!(
        conversation.contains("Yes, prioritise it"),
        "{conversation}"
    );
    assert_eq!(app.drain().await, 0, "an answer sends nothing by itself");
}

/// A GitHub webhook whose command asks `question` (once, on issue 9) about each comment that
/// calls `@agent`; GitHub's API is the returned fake, kept alive with the app.
async fn asking_when_the_agent_is_called(question: &str) -> (MockServer, TestApp) {
    let github = MockServer::start().await;
    let created =
        ResponseTemplate::new(201).set_body_json(json!({"id": 77, "html_url": QUESTION_URL}));
    expect_post(&github, ISSUE_9, json!({"body": question}), created, 1).await;
    let app = github_app_with(
        json!({"trigger": "issue_comment.created", "action": "ask", "agent": "brain",
               "template": "Should I prioritise {{issue.title}}?",
               "conditions": {"body_contains": "@agent"}}),
        Some(&github),
    )
    .await;
    (github, app)
}

#[tokio::test]
async fn an_ask_command_waits_for_a_reply_on_the_same_issue_and_ignores_its_own_question() {
    // Arrange
    let question = "Should I prioritise Flaky CI?";
    let (_github, app) = asking_when_the_agent_is_called(question).await;
    let asked = issue_comment(9, "Flaky CI", "alice", "@agent can you look at this?");

    // Act
    let event_id = post_gh(&app, "issue_comment", &asked).await;
    let sent = app.drain().await;

    // Assert: the question went out and the task waits for the answer
    assert_eq!(sent, 1);
    let event = app.event(&event_id).await;
    assert_eq!(event["actions"][0]["action"], "ask");
    assert_eq!(event["actions"][0]["status"], "delivered", "{event}");
    assert_eq!(event["tasks"][0]["agent"], "brain");
    assert_eq!(event["tasks"][0]["status"], "waiting_reply", "{event}");
    echo_then_reply_on_issue_9(&app, &event_id, question).await;
}

#[tokio::test]
async fn a_question_that_cannot_be_posted_fails_its_task_and_a_finished_task_takes_no_question() {
    // Arrange: GitHub refuses the comment outright (404: dead at once).
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ISSUE_9))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&github)
        .await;
    let app = spawn_manual(use_github(&github)).await;
    app.github_webhook("gh", GH_SECRET).await;
    let event_id = post_gh(&app, "issues", &issue_opened("octo/app", 9, &[])).await;
    let other_event = post_gh(&app, "issues", &issue_opened("octo/app", 10, &[])).await;

    // Act: ask, and the question goes dead.
    let (status, asked) = app
        .post_api(
            &format!("/api/events/{event_id}/ask"),
            &json!({"text": "Which release?", "agent": "brain"}),
        )
        .await;
    app.drain().await;
    let task_id = asked["task_id"].as_str().expect("task id").to_string();
    let task = app.task(&task_id).await;

    // Assert: the task failed at once instead of waiting out the reply timeout.
    assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
    assert_eq!(task["status"], "failed", "{task}");
    assert!(
        task["error"]
            .as_str()
            .is_some_and(|e| e.contains("could not be posted")),
        "{task}"
    );

    // Act: ask on the finished task, and name a task of another event.
    let (again, refused) = app
        .post_api(
            "/api/webhooks/gh/ask",
            &json!({"text": "Still there?", "task_id": task_id}),
        )
        .await;
    let (mismatch, wrong) = app
        .post_api(
            "/api/webhooks/gh/comment",
            &json!({"text": "Hello", "event_id": other_event, "task_id": task_id}),
        )
        .await;

    // Assert
    assert_eq!(again, StatusCode::CONFLICT, "{refused}");
    assert!(refused.to_string().contains("is finished"), "{refused}");
    assert_eq!(mismatch, StatusCode::BAD_REQUEST, "{wrong}");
    assert!(wrong.to_string().contains("belongs to event"), "{wrong}");

    // Act: send the dead question again.
    let action_id = asked["id"].as_str().expect("action id");
    let (retried, _) = app
        .post_api(&format!("/api/actions/{action_id}/retry"), &json!({}))
        .await;

    // Assert: its task waits for the answer again.
    assert!(retried.is_success(), "{retried}");
    assert_eq!(app.task(&task_id).await["status"], "waiting_reply");
}

#[tokio::test]
async fn replaying_an_event_whose_ask_command_went_dead_makes_its_task_wait_again() {
    // Arrange: an ask command whose question GitHub refuses once (404: dead at once).
    let github = MockServer::start().await;
    let refused = ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
    answer_once(&github, ISSUE_9, refused).await;
    let created = ResponseTemplate::new(201).set_body_json(json!({"id": 79}));
    expect_post(
        &github,
        ISSUE_9,
        json!({"body": "Which release?"}),
        created,
        1,
    )
    .await;
    let (app, event_id) = asking_which_release(&github).await;
    app.drain().await;
    let task = task_of(&app, &event_id).await;
    assert_eq!(task["status"], "failed", "{task}");

    // Act
    let (status, replayed) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;
    let sent = app.drain().await;

    // Assert: the question went out this time, and its task waits for the answer.
    assert!(status.is_success(), "{replayed}");
    assert_eq!(sent, 1);
    let task = task_of(&app, &event_id).await;
    assert_eq!(task["status"], "waiting_reply", "{task}");
}

#[tokio::test]
async fn replaying_an_event_does_not_ask_again_for_a_task_that_was_cancelled() {
    // Arrange: an ask command's question GitHub keeps refusing; its task is cancelled.
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ISSUE_9))
        .respond_with(ResponseTemplate::new(502))
        .mount(&github)
        .await;
    let (app, event_id) = asking_which_release_retried_hourly(&github).await;
    app.drain().await;
    let task_id = task_of(&app, &event_id).await["id"]
        .as_str()
        .expect("task id")
        .to_string();
    let (cancelled, _) = app
        .post_api(&format!("/api/tasks/{task_id}/cancel"), &json!({}))
        .await;
    assert!(cancelled.is_success());
    // Its question, dead-lettered by the cancel, is no failure of the event.
    let event = app.event(&event_id).await;
    assert_eq!(event["status"], "done", "{event}");

    // Act
    let (status, replayed) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;
    let sent = app.drain().await;

    // Assert
    assert!(status.is_success(), "{replayed}");
    assert!(
        replayed.to_string().contains("task_cancelled"),
        "{replayed}"
    );
    assert_eq!(sent, 0, "the cancelled task's question is not asked again");
}

/// As [`asking_which_release`], with a failed send tried again only after an hour (so a test
/// sees it `retrying`).
async fn asking_which_release_retried_hourly(github: &MockServer) -> (TestApp, String) {
    let app = spawn_manual(|c| {
        use_github(github)(c);
        c.retry_schedule = vec!["1h".into()];
    })
    .await;
    ask_which_release(app).await
}

/// An app whose `ask` command asks "Which release?" on each opened issue, GitHub at the fake,
/// and issue 9 opened: the app and the event.
async fn asking_which_release(github: &MockServer) -> (TestApp, String) {
    ask_which_release(spawn_manual(use_github(github)).await).await
}

/// `app` given the `ask` command of [`asking_which_release`], and issue 9 opened.
async fn ask_which_release(app: TestApp) -> (TestApp, String) {
    app.github_webhook("gh", GH_SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "ask", "agent": "brain",
               "template": "Which release?"}),
    )
    .await;
    let event_id = post_gh(&app, "issues", &issue_opened("octo/app", 9, &[])).await;
    (app, event_id)
}

#[tokio::test]
async fn replaying_an_event_whose_question_went_unanswered_asks_it_again() {
    // Arrange: an ask command's question out, then the reply timeout passed.
    let github = MockServer::start().await;
    let created = ResponseTemplate::new(201).set_body_json(json!({"id": 80}));
    expect_post(
        &github,
        ISSUE_9,
        json!({"body": "Which release?"}),
        created,
        2,
    )
    .await;
    let (app, event_id) = asking_which_release(&github).await;
    app.drain().await;
    let later = webhook_mcp::clock::now_ms() + 1_000;
    app.state
        .store
        .write(move |db| webhook_mcp::store::tasks::expire_waiting(db, later, later))
        .await
        .expect("expire");
    let timed_out = task_of(&app, &event_id).await;

    // Act
    let (status, replayed) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;
    let sent = app.drain().await;

    // Assert: asked once more, and its task waits for the answer again.
    assert_eq!(timed_out["status"], "failed", "{timed_out}");
    assert!(status.is_success(), "{replayed}");
    assert!(replayed.to_string().contains("asked_again"), "{replayed}");
    assert_eq!(sent, 1);
    let task = task_of(&app, &event_id).await;
    assert_eq!(task["status"], "waiting_reply", "{task}");
}

#[tokio::test]
async fn a_question_asked_over_rest_waits_for_a_reply_on_the_same_issue() {
    // Arrange
    let github = MockServer::start().await;
    let question = "Which release should this go in?";
    let created =
        ResponseTemplate::new(201).set_body_json(json!({"id": 78, "html_url": QUESTION_URL}));
    expect_post(&github, ISSUE_9, json!({"body": question}), created, 1).await;
    let app = spawn_manual(use_github(&github)).await;
    app.github_webhook("gh", GH_SECRET).await;
    let mut opened: Value = serde_json::from_str(&issue_opened("octo/app", 9, &[])).expect("JSON");
    opened["issue"]["title"] = json!("Flaky CI");
    let event_id = post_gh(&app, "issues", &opened.to_string()).await;

    // Act
    let (status, asked) = app
        .post_api(
            &format!("/api/events/{event_id}/ask"),
            &json!({"text": question, "agent": "brain"}),
        )
        .await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
    assert_eq!(sent, 1);
    let task = task_of(&app, &event_id).await;
    assert_eq!(task["id"], asked["task_id"], "{task}");
    assert_eq!(task["status"], "waiting_reply", "{task}");
    echo_then_reply_on_issue_9(&app, &event_id, question).await;
}

/// A Slack webhook `sl` whose `/deploy` asks which region, on an app configured by
/// `configure`, after someone typed `/deploy web` in C0ENG; the app and that event's id.
async fn slash_command_asking(
    configure: impl FnOnce(&mut webhook_mcp::config::Config),
) -> (TestApp, String) {
    let app = spawn_manual(configure).await;
    app.slack_webhook("sl").await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "/deploy", "action": "ask", "agent": "brain",
               "template": "Deploy {{text}}: which region?"}),
    )
    .await;
    let form = [
        ("team_id", "T1"),
        ("channel_id", "C0ENG"),
        ("user_id", "U1"),
        ("command", "/deploy"),
        ("text", "web"),
        ("trigger_id", "13345.7"),
    ];
    app.post_slack_form("sl", &form, "slack-signing").await;
    let event_id = app.events("webhook_id=sl").await[0]["id"]
        .as_str()
        .expect("event id")
        .to_string();
    (app, event_id)
}

#[tokio::test]
async fn a_question_about_a_slash_command_waits_for_the_reply_in_the_thread_it_starts() {
    // Arrange: `/deploy` asks which region; Slack names the question `1.2` in C0ENG.
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .and(body_json(
            json!({"channel": "C0ENG", "text": "Deploy web: which region?"}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0ENG", "ts": "1.2"})),
        )
        .expect(1)
        .mount(&slack)
        .await;
    let (app, event_id) = slash_command_asking(use_slack(&slack)).await;
    assert_eq!(app.drain().await, 1);

    // Act: a person answers in the question's thread, mentioning the app (which is all an
    // app subscribed to mentions only hears).
    let reply = json!({"type": "event_callback", "team_id": "T1", "event_id": "EvReply1",
        "event": {"type": "app_mention", "channel": "C0ENG", "user": "U1",
                  "text": "<@UBOT> eu-west-1", "ts": "1.3", "thread_ts": "1.2"}})
    .to_string();
    accepted(app.post_slack("sl", &reply, "slack-signing").await).await;

    // Assert: the task has the reply and runs again; what it says next goes in that thread.
    let task_id = task_of(&app, &event_id).await["id"].clone();
    let task = app.task(task_id.as_str().expect("task id")).await;
    assert_eq!(task["status"], "queued", "{task}");
    assert!(
        task["conversation"].to_string().contains("eu-west-1"),
        "{task}"
    );
    assert_eq!(task["source"]["key"], "C0ENG:1.2", "{task}");
    assert_eq!(task["source"]["detail"]["thread_ts"], "1.2", "{task}");

    // Act: the task's next word, by hand.
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .and(body_json(
            json!({"channel": "C0ENG", "text": "Deploying to eu-west-1", "thread_ts": "1.2"}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0ENG", "ts": "1.4"})),
        )
        .expect(1)
        .mount(&slack)
        .await;
    let (status, answer) = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "Deploying to eu-west-1", "task_id": task_id}),
        )
        .await;

    // Assert: it goes in the thread.
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(app.drain().await, 1);
}

#[tokio::test]
async fn a_slash_commands_question_whose_send_timed_out_still_waits_in_its_thread() {
    // Arrange: Slack posts the question (`1.2`) but answers too late; no retries are left.
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0ENG", "ts": "1.2"}))
                .set_delay(std::time::Duration::from_secs(3)),
        )
        .mount(&slack)
        .await;
    let (app, event_id) = slash_command_asking(|config| {
        use_slack(&slack)(config);
        config.outbound_timeout_secs = 1;
        config.retry_schedule = Vec::new();
    })
    .await;

    // Act: the question is announced while its send waits; then a person answers in its
    // thread.
    let announce = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let echo = json!({"type": "event_callback", "team_id": "T1", "event_id": "EvQ1",
            "event": {"type": "message", "channel": "C0ENG", "user": "UBOT", "bot_id": "B1",
                      "text": "Deploy web: which region?", "ts": "1.2"}});
        accepted(
            app.post_slack("sl", &echo.to_string(), "slack-signing")
                .await,
        )
        .await
    };
    let (_, echo) = tokio::join!(app.drain(), announce);
    let reply = json!({"type": "event_callback", "team_id": "T1", "event_id": "EvR1",
        "event": {"type": "message", "channel": "C0ENG", "user": "U1", "text": "eu-west-1",
                  "ts": "1.3", "thread_ts": "1.2"}});
    accepted(
        app.post_slack("sl", &reply.to_string(), "slack-signing")
            .await,
    )
    .await;

    // Assert
    assert_eq!(app.event(&echo).await["status"], "own_post");
    let task_id = task_of(&app, &event_id).await["id"].clone();
    let task = app.task(task_id.as_str().expect("task id")).await;
    assert_eq!(task["status"], "queued", "{task}");
    assert_eq!(task["source"]["key"], "C0ENG:1.2", "{task}");
}

#[tokio::test]
async fn a_reply_to_an_internal_gitlab_note_or_a_restricted_jira_comment_stays_as_private() {
    // Arrange: GitLab and Jira take only the private form of the reply.
    let gitlab = MockServer::start().await;
    expect_post(
        &gitlab,
        "/api/v4/projects/group%2Fapp/issues/5/notes",
        json!({"body": "Re: token leak", "internal": true}),
        ResponseTemplate::new(201).set_body_json(json!({"id": 44})),
        1,
    )
    .await;
    let gl = gitlab_app_with(
        &gitlab,
        json!({"trigger": "note.create", "action": "comment",
               "template": "Re: {{object_attributes.note}}"}),
    )
    .await;
    let jira = MockServer::start().await;
    let admins = json!({"type": "role", "value": "Administrators"});
    expect_post(
        &jira,
        "/rest/api/2/issue/ENG-12/comment",
        json!({"body": "Re: firefox too", "visibility": admins,
               "properties": [{"key": "sd.public.comment", "value": {"internal": true}}]}),
        ResponseTemplate::new(201).set_body_json(json!({"id": "10050"})),
        1,
    )
    .await;
    let jr = jira_app_with(
        &jira,
        json!({"trigger": "comment_created", "action": "comment",
               "template": "Re: {{comment.body}}"}),
    )
    .await;

    // Act
    let note = json!({"object_kind": "note", "event_type": "confidential_note",
        "project": {"path_with_namespace": "group/app"},
        "user": {"id": 3, "username": "jsmith"},
        "object_attributes": {"id": 43, "note": "token leak", "action": "create",
                              "noteable_type": "Issue", "internal": true},
        "issue": {"iid": 5}});
    let gl_event = accepted(gl.post_gitlab("gl", &note, "gl-tok").await).await;
    let comment = json!({"webhookEvent": "comment_created",
        "issue": {"id": "10001", "key": "ENG-12"},
        "comment": {"id": "10049", "body": "firefox too", "jsdPublic": false,
                    "visibility": admins, "author": {"accountId": "a1"}}})
    .to_string();
    let jr_event = accepted(jr.post_jira("jr", &comment, "jira-secret").await).await;
    let sent = (gl.drain().await, jr.drain().await);

    // Assert
    assert_eq!(sent, (1, 1));
    assert_eq!(gl.actions_of(&gl_event).await[0]["status"], "delivered");
    assert_eq!(jr.actions_of(&jr_event).await[0]["status"], "delivered");
}

#[tokio::test]
async fn an_apps_comment_does_not_answer_a_waiting_question_and_a_persons_does() {
    // Arrange: a question on ENG-12, posted.
    let jira = MockServer::start().await;
    let issue = json!({"id": "10001", "key": "ENG-12", "fields": {"summary": "Login broken"}});
    let (app, event_id) = jira_question_on(&jira, &issue).await;
    let comment = |id: &str, account_type: &str, body: &str| {
        json!({"webhookEvent": "comment_created", "issue": {"id": "10001", "key": "ENG-12"},
               "comment": {"id": id, "body": body,
                           "author": {"accountId": format!("acc-{id}"), "accountType": account_type}}})
        .to_string()
    };

    // Act: Automation for Jira comments; then a person.
    accepted(
        app.post_jira(
            "jr",
            &comment("10061", "app", "Linked to PR #7"),
            "jira-secret",
        )
        .await,
    )
    .await;
    let after_app = task_of(&app, &event_id).await["status"].clone();
    accepted(
        app.post_jira(
            "jr",
            &comment("10062", "atlassian", "Firefox"),
            "jira-secret",
        )
        .await,
    )
    .await;

    // Assert
    assert_eq!(after_app, "waiting_reply");
    assert_eq!(task_of(&app, &event_id).await["status"], "queued");
}

#[tokio::test]
async fn a_failed_merge_request_pipeline_is_answered_on_its_merge_request() {
    // Arrange
    let gitlab = MockServer::start().await;
    expect_post(
        &gitlab,
        "/api/v4/projects/group%2Fapp/merge_requests/9/notes",
        json!({"body": "Pipeline 31 failed"}),
        ResponseTemplate::new(201).set_body_json(json!({"id": 45})),
        1,
    )
    .await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "pipeline", "action": "comment",
               "template": "Pipeline {{object_attributes.id}} failed",
               "conditions": {"all": [
                   {"field": "object_attributes.status", "equals": "failed"},
                   {"field": "merge_request.iid", "exists": true}]}}),
    )
    .await;
    let pipeline = |mr: Value| {
        json!({"object_kind": "pipeline",
               "project": {"id": 7, "path_with_namespace": "group/app"},
               "user": {"id": 3, "username": "jsmith"},
               "object_attributes": {"id": 31, "status": "failed", "ref": "fix"},
               "merge_request": mr})
    };

    // Act: a merge request's pipeline, then a branch's.
    let for_mr = accepted(
        app.post_gitlab(
            "gl",
            &pipeline(json!({"iid": 9, "target_project_id": 7})),
            "gl-tok",
        )
        .await,
    )
    .await;
    let for_branch = accepted(
        app.post_gitlab("gl", &pipeline(Value::Null), "gl-tok")
            .await,
    )
    .await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 1);
    assert_eq!(app.actions_of(&for_mr).await[0]["status"], "delivered");
    assert_eq!(app.event(&for_branch).await["status"], "accepted");
}

/// A Slack webhook `sl` whose command asks "Which service?" about each `trigger` event, in
/// its thread; Slack's Web API is the returned fake, kept alive with the app.
async fn slack_asking_on(trigger: &str) -> (MockServer, TestApp) {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0ENG", "ts": "1.5"})),
        )
        .mount(&slack)
        .await;
    let app = spawn_manual(use_slack(&slack)).await;
    app.slack_webhook("sl").await;
    app.add_command_ok(
        "sl",
        json!({"trigger": trigger, "action": "ask", "agent": "brain",
               "template": "Which service?"}),
    )
    .await;
    (slack, app)
}

/// A person's signed Slack event in thread 1.1 of #eng; the event id.
async fn post_in_thread(app: &TestApp, kind: &str, id: &str, ts: &str, text: &str) -> String {
    let body = json!({"type": "event_callback", "team_id": "T1", "event_id": id,
        "event": {"type": kind, "channel": "C0ENG", "channel_type": "channel",
                  "user": "U1", "text": text, "ts": ts, "thread_ts": "1.1"}});
    accepted(
        app.post_slack("sl", &body.to_string(), "slack-signing")
            .await,
    )
    .await
}

#[tokio::test]
async fn the_app_mention_twin_of_the_message_that_asked_does_not_answer_it() {
    // Arrange: a question about each new message, asked in its thread.
    let (_slack, app) = slack_asking_on("message").await;
    let asked = post_in_thread(&app, "message", "EvM1", "1.2", "<@UBOT> deploy").await;
    app.drain().await;

    // Act: the same message as an app_mention; then the person's answer.
    post_in_thread(&app, "app_mention", "EvA1", "1.2", "<@UBOT> deploy").await;
    let after_twin = task_of(&app, &asked).await["status"].clone();
    post_in_thread(&app, "app_mention", "EvA2", "1.6", "<@UBOT> web").await;

    // Assert
    assert_eq!(after_twin, "waiting_reply");
    assert_eq!(task_of(&app, &asked).await["status"], "queued");
}

#[tokio::test]
async fn an_answer_that_also_matches_an_agent_command_starts_no_second_agent() {
    // Arrange: a question about every comment that calls the agent, asked and waiting.
    let question = "Should I prioritise Flaky CI?";
    let (_github, app) = asking_when_the_agent_is_called(question).await;
    let asked = issue_comment(9, "Flaky CI", "alice", "@agent can you look at this?");
    let event_id = post_gh(&app, "issue_comment", &asked).await;
    app.drain().await;

    // Act: the answer calls the agent too.
    let answer = issue_comment(9, "Flaky CI", "alice", "@agent yes, prioritise it");
    let answer_id = post_gh(&app, "issue_comment", &answer).await;
    let sent = app.drain().await;

    // Assert: the waiting task has the answer; no new question went out.
    assert_eq!(task_of(&app, &event_id).await["status"], "queued");
    assert_eq!(sent, 0);
    let answer = app.event(&answer_id).await;
    assert_eq!(answer["tasks"], json!([]), "{answer}");
    assert_eq!(answer["actions"], json!([]), "{answer}");
    assert_eq!(answer["status"], "done", "{answer}");

    // Act: a replay of the answer starts no agent either.
    let (status, replayed) = app
        .post_api(&format!("/api/events/{answer_id}/replay"), &json!({}))
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert!(
        replayed.to_string().contains("skipped_an_answer"),
        "{replayed}"
    );
    assert_eq!(app.drain().await, 0);
    assert_eq!(app.event(&answer_id).await["tasks"], json!([]));
}

#[tokio::test]
async fn a_slack_answer_delivered_twice_resumes_the_question_and_starts_nothing_new() {
    // Arrange: a question for each mention, asked in its thread.
    let (_slack, app) = slack_asking_on("app_mention").await;
    let asked = post_in_thread(&app, "app_mention", "EvA1", "1.2", "<@UBOT> deploy").await;
    app.drain().await;

    // Act: the answer mentions the bot, so Slack delivers it as a message and a mention.
    let as_message = post_in_thread(&app, "message", "EvM2", "1.6", "<@UBOT> web").await;
    let as_mention = post_in_thread(&app, "app_mention", "EvA2", "1.6", "<@UBOT> web").await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(task_of(&app, &asked).await["status"], "queued");
    assert_eq!(app.event(&as_message).await["tasks"], json!([]));
    let mention = app.event(&as_mention).await;
    assert_eq!(mention["tasks"], json!([]), "{mention}");
    assert_eq!(mention["status"], "done", "{mention}");
    assert_eq!(sent, 0);
}

#[tokio::test]
async fn a_late_second_delivery_of_a_slack_answer_does_not_answer_the_follow_up_question() {
    // Arrange: a question in a thread, answered by a message; the task asks a follow-up.
    let (_slack, app) = slack_asking_on("app_mention").await;
    let asked = post_in_thread(&app, "app_mention", "EvA1", "1.2", "<@UBOT> deploy").await;
    app.drain().await;
    post_in_thread(&app, "message", "EvM2", "1.6", "<@UBOT> web").await;
    let task_id = task_of(&app, &asked).await["id"]
        .as_str()
        .expect("task id")
        .to_string();
    let (status, follow_up) = app
        .post_api(
            &format!("/api/events/{asked}/ask"),
            &json!({"text": "Which region?", "task_id": task_id}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{follow_up}");
    app.drain().await;

    // Act: Slack's other delivery of the first answer comes late.
    post_in_thread(&app, "app_mention", "EvA2", "1.6", "<@UBOT> web").await;

    // Assert
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "waiting_reply", "{task}");
    assert_eq!(app.drain().await, 0);
}

#[tokio::test]
async fn a_linear_comment_answers_the_question_asked_on_its_issue() {
    // Arrange: a question about each new issue, posted as a comment.
    let linear = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"commentCreate": {"success": true, "comment": {"id": "c-q"}}}
        })))
        .mount(&linear)
        .await;
    let app = spawn_manual(use_linear(&linear)).await;
    app.linear_webhook_with(
        json!({"trigger": "Issue.create", "action": "ask", "agent": "brain",
               "template": "Which release is {{data.identifier}} for?"}),
    )
    .await;
    let issue = json!({"type": "Issue", "action": "create",
        "data": {"id": "u7", "identifier": "ENG-7", "title": "Login fails"}});
    let asked = accepted(app.post_linear("lin", &issue, "lin-secret").await).await;
    app.drain().await;

    // Act: the reporter answers; Linear's comment event names the issue by id only.
    let answer = json!({"type": "Comment", "action": "create",
        "data": {"id": "c-1", "body": "2.4", "issueId": "u7",
                 "issue": {"id": "u7", "title": "Login fails"}, "user": {"id": "p1", "name": "Ann"}}});
    accepted(app.post_linear("lin", &answer, "lin-secret").await).await;

    // Assert
    assert_eq!(task_of(&app, &asked).await["status"], "queued");
    let requests = linear.received_requests().await.expect("recorded");
    let sent: Value = serde_json::from_slice(&requests[0].body).expect("json");
    assert_eq!(sent["variables"]["input"]["issueId"], "u7");
}

#[tokio::test]
async fn a_linear_oauth_token_is_sent_as_bearer_from_the_environment_or_a_webhooks_credentials() {
    // Arrange: Linear answering only an OAuth token sent as `Bearer`; one webhook with the
    // server's LINEAR_API_KEY, one with its own linear_api_key, each commenting on new issues.
    let linear = MockServer::start().await;
    let tokens = [
        ("lin_oauth_server0123", "c-server"),
        ("lin_oauth_own4567", "c-own"),
    ];
    for (token, comment) in tokens {
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": {"commentCreate": {"success": true, "comment": {"id": comment}}}
            })))
            .expect(1)
            .mount(&linear)
            .await;
    }
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "errors": [{"message": "Authentication required, not authenticated",
                        "extensions": {"code": "AUTHENTICATION_ERROR"}}]
        })))
        .mount(&linear)
        .await;
    let app = spawn_manual(|c| {
        c.upstreams.linear_api_url = format!("{}/graphql", linear.uri());
        c.upstreams.linear_api_key = Some("lin_oauth_server0123".into());
    })
    .await;
    for (id, options) in [
        ("lin", json!({})),
        (
            "lin-own",
            json!({"credentials": {"linear_api_key": "lin_oauth_own4567"}}),
        ),
    ] {
        app.create_webhook(json!({"id": id, "name": id, "provider": "linear",
                                  "secret": "lin-secret", "options": options}))
            .await;
        app.add_command_ok(
            id,
            json!({"trigger": "Issue.create", "action": "comment", "template": "Seen"}),
        )
        .await;
    }
    let issue = json!({"type": "Issue", "action": "create",
        "data": {"id": "u7", "identifier": "ENG-7", "title": "Login fails"}});

    // Act
    let mut events = Vec::new();
    for id in ["lin", "lin-own"] {
        events.push(accepted(app.post_linear(id, &issue, "lin-secret").await).await);
    }
    app.drain().await;

    // Assert: each comment went with its own token, as Bearer (the fake answers no other).
    for (event_id, (_, comment)) in events.iter().zip(tokens) {
        let action = app.actions_of(event_id).await.remove(0);
        assert_eq!(action["status"], "delivered", "{action}");
        assert_eq!(action["remote_id"], comment, "{action}");
    }
}
