//! A 2xx that shows no post made is no delivery: GitLab answers a note it made with the note,
//! Jira a comment with the comment, Linear with `commentCreate`; a sign-in page in their place
//! (a base URL behind SSO, a web front end's address), an empty `{}` or `204` posted nothing,
//! and a question that went nowhere must not leave its task waiting for an answer. An answer
//! cut off on its way is not that: its post may be there, known by its words.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, accepted, spawn_manual, use_jira, use_linear};

const SIGN_IN: &str = "<!DOCTYPE html><html><head><title>Sign in</title></head>\
                       <body>Log in with your company account</body></html>";

/// What a proxy or front end answers in the API's place, and what the error names of it.
fn not_posts() -> [(ResponseTemplate, &'static str); 3] {
    [
        (
            ResponseTemplate::new(200).set_body_raw(SIGN_IN, "text/html; charset=utf-8"),
            "a web page (text/html; charset=utf-8)",
        ),
        (
            ResponseTemplate::new(201).set_body_json(json!({})),
            "JSON naming no",
        ),
        (ResponseTemplate::new(204), "an empty answer"),
    ]
}

async fn answering(server: &MockServer, at: &str, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(answer)
        .expect(1)
        .mount(server)
        .await;
}

/// Asserts the one action of `event_id` is dead after one attempt, its error naming where it
/// was posted, what came back and what to check.
async fn dead_naming(app: &TestApp, event_id: &str, posted_to: &str, came: &str, setting: &str) {
    let action = app.actions_of(event_id).await.remove(0);
    assert_eq!(action["status"], "dead", "{action}");
    assert_eq!(action["attempts"], 1, "not retried: {action}");
    assert!(action["remote_id"].is_null(), "{action}");
    let error = action["last_error"].as_str().unwrap_or_default();
    for said in [posted_to, came, setting, "nothing shows"] {
        assert!(error.contains(said), "{said:?} in {error}");
    }
    for secret in ["glpat-test", "atl-token"] {
        assert!(!error.contains(secret), "{error}");
    }
}

/// An app whose GitLab is at `gitlab_url` (each send given `timeout_secs`, when named), with
/// a GitLab webhook `gl` commenting `template` on each opened issue.
async fn gitlab_commenting(
    gitlab_url: String,
    template: &str,
    timeout_secs: Option<u64>,
) -> TestApp {
    let app = spawn_manual(|config| {
        config.upstreams.gitlab_url = gitlab_url;
        config.upstreams.gitlab_token = Some("glpat-test".into());
        if let Some(secs) = timeout_secs {
            config.outbound_timeout_secs = secs;
        }
    })
    .await;
    app.create_webhook(
        json!({"id": "gl", "name": "GitLab", "provider": "gitlab", "secret": "gl-tok"}),
    )
    .await;
    app.add_command_ok(
        "gl",
        json!({"trigger": "issue.open", "action": "comment", "template": template}),
    )
    .await;
    app
}

/// Issue `iid` of group/app opened, as GitLab sends it to webhook `gl`; the event's id.
async fn open_gitlab_issue(app: &TestApp, iid: u64) -> String {
    let body = json!({
        "object_kind": "issue",
        "project": {"path_with_namespace": "group/app"},
        "object_attributes": {"iid": iid, "action": "open", "title": "Crash"},
    });
    accepted(app.post_gitlab("gl", &body, "gl-tok").await).await
}

#[tokio::test]
async fn a_gitlab_2xx_that_is_not_the_note_made_is_dead_naming_where_it_was_posted() {
    // Arrange: each issue's note is answered by something other than GitLab's API.
    let gitlab = MockServer::start().await;
    let app = gitlab_commenting(gitlab.uri(), "Seen", None).await;
    for (iid, (answer, came)) in (1u64..).zip(not_posts()) {
        let notes = format!("/api/v4/projects/group%2Fapp/issues/{iid}/notes");
        answering(&gitlab, &notes, answer).await;
        let event_id = open_gitlab_issue(&app, iid).await;

        // Act
        assert_eq!(app.drain().await, 1);

        // Assert
        let posted_to = format!("{}{notes}", gitlab.uri());
        dead_naming(&app, &event_id, &posted_to, came, "GITLAB_URL").await;
    }
}

/// A Jira webhook `jr` asking `brain` a question on each created issue, on an app whose Jira
/// is `jira`.
async fn jira_asking(jira: &MockServer) -> TestApp {
    let app = spawn_manual(use_jira(jira)).await;
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
    app
}

fn issue_created(n: u64) -> String {
    let issue = json!({"id": format!("{}", 10_000 + n), "key": format!("OPS-{n}"),
                       "fields": {"summary": "Checkout fails"}});
    json!({"webhookEvent": "jira:issue_created", "issue": issue}).to_string()
}

#[tokio::test]
async fn a_jira_question_answered_by_a_sign_in_page_fails_its_task_instead_of_waiting() {
    // Arrange: the Jira base URL is a site behind SSO, whose sign-in page answers any POST.
    let jira = MockServer::start().await;
    let app = jira_asking(&jira).await;
    for (n, (answer, came)) in (1u64..).zip(not_posts()) {
        let comments = format!("/rest/api/2/issue/OPS-{n}/comment");
        answering(&jira, &comments, answer).await;
        let event_id = accepted(app.post_jira("jr", &issue_created(n), "jira-secret").await).await;

        // Act
        assert_eq!(app.drain().await, 1);

        // Assert: nobody saw the question, and the task says so rather than waiting days.
        let posted_to = format!("{}{comments}", jira.uri());
        dead_naming(&app, &event_id, &posted_to, came, "JIRA_BASE_URL").await;
        let task: Value = app.event(&event_id).await["tasks"][0].clone();
        assert_eq!(task["status"], "failed", "{task}");
    }
}

#[tokio::test]
async fn a_linear_sign_in_page_is_said_to_be_one_naming_linear_api_url() {
    // Arrange
    let linear = MockServer::start().await;
    answering(
        &linear,
        "/graphql",
        ResponseTemplate::new(200).set_body_raw(SIGN_IN, "text/html"),
    )
    .await;
    let app = spawn_manual(use_linear(&linear)).await;
    app.linear_webhook_with(
        json!({"trigger": "Issue.create", "action": "comment", "template": "Seen"}),
    )
    .await;
    let issue = json!({"type": "Issue", "action": "create",
        "url": "https://linear.app/acme/issue/ENG-7/login-fails",
        "data": {"id": "u7", "identifier": "ENG-7", "title": "Login fails"}});
    let event_id = accepted(app.post_linear("lin", &issue, "lin-secret").await).await;

    // Act
    assert_eq!(app.drain().await, 1);

    // Assert
    let posted_to = format!("{}/graphql", linear.uri());
    dead_naming(
        &app,
        &event_id,
        &posted_to,
        "a web page (text/html)",
        "LINEAR_API_URL",
    )
    .await;
}

/// A GitLab that makes the note and answers `201` with the start of it, then nothing more
/// until long past the send's timeout.
async fn gitlab_stalling_its_answer() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                // The request's head and (small) body arrive at once on loopback.
                let mut buf = [0u8; 8192];
                let _ = stream.read(&mut buf).await;
                let head = "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n\
                            content-length: 80\r\n\r\n{\"id\": 901, ";
                if stream.write_all(head.as_bytes()).await.is_ok() {
                    let _ = stream.flush().await;
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                }
            });
        }
    });
    address
}

#[tokio::test]
async fn a_gitlab_note_whose_answer_was_cut_off_is_still_delivered_without_an_id() {
    // Arrange
    let gitlab = gitlab_stalling_its_answer().await;
    let app = gitlab_commenting(gitlab, "Seen", Some(1)).await;
    let event_id = open_gitlab_issue(&app, 5).await;

    // Act
    assert_eq!(app.drain().await, 1);

    // Assert: the note was made, its answer lost: delivered, known by its words if it comes
    // back, not sent again.
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert!(action["remote_id"].is_null(), "{action}");
}

#[tokio::test]
async fn a_gitlab_note_of_quick_actions_alone_answered_202_is_delivered() {
    // Arrange: a template of its own quick action; GitLab runs it, makes no note, and answers
    // 202 with what changed.
    let gitlab = MockServer::start().await;
    let notes = "/api/v4/projects/group%2Fapp/issues/5/notes";
    answering(
        &gitlab,
        notes,
        ResponseTemplate::new(202).set_body_json(json!({
            "commands_changes": {"add_label_ids": [3]}, "summary": ["Added ~triaged label."]})),
    )
    .await;
    let app = gitlab_commenting(gitlab.uri(), "/label ~triaged", None).await;
    let event_id = open_gitlab_issue(&app, 5).await;

    // Act
    assert_eq!(app.drain().await, 1);

    // Assert
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
}
