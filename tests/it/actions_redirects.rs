//! A comment on a GitHub repository renamed or transferred since its event: GitHub redirects
//! the old path to the new one on its own host, which is followed once, with the same method,
//! token and body; a redirect anywhere else (another host, a 301 to a POST, a second one) is
//! still not followed.

use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, accepted, delivery_id, issue_opened, spawn_manual, use_github};

const SECRET: &str = "gh-secret-for-redirects";
const OLD: &str = "/repos/octo/app/issues/7/comments";
const NEW: &str = "/repositories/42/issues/7/comments";

/// An app whose `gh` webhook comments "Thanks" on every opened issue, on the fake GitHub.
async fn commenting(github: &MockServer) -> TestApp {
    let app = spawn_manual(use_github(github)).await;
    app.github_webhook("gh", SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "comment", "template": "Thanks"}),
    )
    .await;
    app
}

/// Opens issue 7 of `octo/app`, sends its actions, and returns the comment's action.
async fn comment_on_issue_7(app: &TestApp) -> serde_json::Value {
    let body = issue_opened("octo/app", 7, &[]);
    let event_id = accepted(
        app.post_github("gh", "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await;
    app.drain().await;
    app.actions_of(&event_id).await.remove(0)
}

/// The old path answers `status` with `location`.
async fn moved(github: &MockServer, status: u16, location: &str) {
    Mock::given(method("POST"))
        .and(path(OLD))
        .respond_with(ResponseTemplate::new(status).insert_header("Location", location))
        .mount(github)
        .await;
}

#[tokio::test]
async fn a_comment_on_a_moved_repository_follows_githubs_redirect_once_on_its_host() {
    // Arrange: the old path answers 307 to the new one (absolute, as GitHub writes it), where
    // only the same token and body are taken.
    let github = MockServer::start().await;
    moved(&github, 307, &format!("{}{NEW}", github.uri())).await;
    Mock::given(method("POST"))
        .and(path(NEW))
        .and(header("authorization", "Bearer ghp_test"))
        .and(header("x-github-api-version", "2022-11-28"))
        .and(body_json(json!({"body": "Thanks"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 1, "html_url": "https://github.com/octo/renamed/issues/7#issuecomment-1"
        })))
        .expect(1)
        .mount(&github)
        .await;
    let app = commenting(&github).await;

    // Act
    let action = comment_on_issue_7(&app).await;

    // Assert: delivered on the first attempt, named by its new page.
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["attempts"], 1, "{action}");
    assert_eq!(
        action["remote_id"],
        "https://github.com/octo/renamed/issues/7#issuecomment-1"
    );
    let requests = github.received_requests().await.unwrap_or_default();
    let paths: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
    assert_eq!(paths, [OLD, NEW]);
}

#[tokio::test]
async fn a_redirect_to_another_host_a_301_to_a_post_or_a_second_one_is_not_followed() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let taken = ResponseTemplate::new(201).set_body_json(json!({"id": 1}));
    let again =
        ResponseTemplate::new(307).insert_header("Location", "/repositories/43/issues/7/comments");
    let not_followed: &[&str] = &["not followed"];
    let to_elsewhere = format!("{}{NEW}", elsewhere.uri());
    // (the old path's answer and where it sends; what the new path answers and how often it is
    // asked; what the action's error says; the requests GitHub gets in all)
    let cases = [
        (307, to_elsewhere, taken.clone(), 0, not_followed, 1),
        (301, NEW.to_string(), taken.clone(), 0, not_followed, 1),
        (302, NEW.to_string(), taken.clone(), 0, not_followed, 1),
        (303, NEW.to_string(), taken, 0, not_followed, 1),
        // A redirect whose target redirects again: the first is followed, the second is not,
        // named as a redirect's target is shown, its last segment masked.
        (
            307,
            NEW.to_string(),
            again,
            1,
            &["redirect to ", "/repositories/43/issues/7/"][..],
            2,
        ),
    ];
    for (status, location, at_new, asked_at_new, said, requests) in cases {
        // Arrange
        let github = MockServer::start().await;
        moved(&github, status, &location).await;
        Mock::given(method("POST"))
            .and(path(NEW))
            .respond_with(at_new)
            .expect(asked_at_new)
            .mount(&github)
            .await;
        let app = commenting(&github).await;

        // Act
        let action = comment_on_issue_7(&app).await;

        // Assert: dead, naming the redirect, as before.
        let case = format!("{status} to {location}");
        assert_eq!(action["status"], "dead", "{case}: {action}");
        let error = action["last_error"].as_str().unwrap_or_default();
        for words in said {
            assert!(error.contains(words), "{case}: {error}");
        }
        let sent = github.received_requests().await.unwrap_or_default().len();
        assert_eq!(sent, requests, "{case}");
    }
}
