//! The service's own comments come back as deliveries (GitHub sends `issue_comment.created` for
//! the comment a command posted): they are kept as `own_post` and fire nothing, so a command
//! never answers itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, accepted, answer_once, delivery_id, issue_comment, spawn_manual, task_conversation,
    use_github, use_jira, use_linear, use_slack,
};

const SECRET: &str = "gh-secret-for-echoes";
const ISSUE_9: &str = "/repos/octo/app/issues/9/comments";
const OWN_URL: &str = "https://github.com/octo/app/issues/9#issuecomment-555";

/// A GitHub webhook whose command answers every `@agent` comment with a comment that quotes
/// it, as seed 004's first example does; GitHub answers the comment with id 555.
async fn quoting_app(github: &MockServer) -> TestApp {
    quoting_app_answered_after(github, 0, |_| {}).await
}

/// The quoting app, its GitHub taking `delay_secs` to answer the comment it has posted, and
/// the app's config adjusted (a short send timeout, say).
async fn quoting_app_answered_after(
    github: &MockServer,
    delay_secs: u64,
    adjust: impl FnOnce(&mut webhook_mcp::config::Config),
) -> TestApp {
    let answer = ResponseTemplate::new(201)
        .set_body_json(json!({"id": 555, "html_url": OWN_URL}))
        .set_delay(std::time::Duration::from_secs(delay_secs));
    quoting_app_answering(github, answer, adjust).await
}

/// The quoting app, its GitHub answering the comment it has posted with `answer`.
async fn quoting_app_answering(
    github: &MockServer,
    answer: ResponseTemplate,
    adjust: impl FnOnce(&mut webhook_mcp::config::Config),
) -> TestApp {
    let posts = Mock::given(method("POST"))
        .and(path(ISSUE_9))
        .respond_with(answer);
    let app = github_taking(github, posts, adjust).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issue_comment.created", "action": "comment",
               "template": "User asked: {{comment.body}}",
               "conditions": {"body_contains": "@agent"}}),
    )
    .await;
    app
}

/// An app with GitHub webhook `gh` (no command yet) whose GitHub, `github`, takes `posts`; the
/// app's config adjusted.
async fn github_taking(
    github: &MockServer,
    posts: Mock,
    adjust: impl FnOnce(&mut webhook_mcp::config::Config),
) -> TestApp {
    posts.mount(github).await;
    let app = spawn_manual(|c| {
        use_github(github)(c);
        adjust(c);
    })
    .await;
    app.github_webhook("gh", SECRET).await;
    app
}

/// The quoting app after a person asked and its answer went out.
async fn answered_once(github: &MockServer) -> TestApp {
    let app = quoting_app(github).await;
    post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "@agent estimate?"),
    )
    .await;
    assert_eq!(app.drain().await, 1);
    app
}

async fn post_comment(app: &TestApp, body: &str) -> String {
    accepted(
        app.post_github("gh", "issue_comment", &delivery_id(), body, SECRET)
            .await,
    )
    .await
}

/// The comment GitHub announces for the one the service posted (by a personal token's user,
/// so nothing marks it as a bot's).
fn echo_of(id: u64, html_url: &str, text: &str) -> String {
    let mut echo: serde_json::Value =
        serde_json::from_str(&issue_comment(9, "Flaky CI", "operator", text)).expect("json");
    echo["comment"]["id"] = json!(id);
    echo["comment"]["html_url"] = json!(html_url);
    echo.to_string()
}

#[tokio::test]
async fn the_services_own_comment_coming_back_fires_no_command() {
    // Arrange: a person asks, and the answer goes out.
    let github = MockServer::start().await;
    let app = answered_once(&github).await;

    // Act: GitHub announces that answer (its text as GitHub renders it, so only the id can
    // tell it).
    let echo = post_comment(
        &app,
        &echo_of(555, OWN_URL, "User asked: @agent estimate? (as rendered)"),
    )
    .await;
    let sent_after = app.drain().await;

    // Assert: kept, but nothing matched and nothing more was posted.
    let event = app.event(&echo).await;
    assert_eq!(event["status"], "own_post", "{event}");
    assert_eq!(event["matched_commands"], json!([]), "{event}");
    assert_eq!(event["actions"], json!([]), "{event}");
    assert_eq!(sent_after, 0);
    let posted = github.received_requests().await.expect("recorded");
    assert_eq!(posted.len(), 1, "one comment, not a loop");
    let listed = app.events("status=own_post").await;
    assert_eq!(listed.len(), 1, "own posts can be listed by status");

    // A replay of it is refused: it would make the command answer the service's own words.
    let (status, error) = app
        .post_api(&format!("/api/events/{echo}/replay"), &json!({}))
        .await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("own post"),
        "{error}"
    );
    assert_eq!(app.drain().await, 0);
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(github.received_requests().await.expect("recorded").len(), 1);
}

#[tokio::test]
async fn an_own_comment_whose_post_was_answered_without_its_page_is_known_by_its_id() {
    // Arrange: GitHub answers the post with the comment's id alone, which is what the
    // action records.
    let github = MockServer::start().await;
    let answer = ResponseTemplate::new(201).set_body_json(json!({"id": 99120}));
    let app = quoting_app_answering(&github, answer, |_| {}).await;
    let asked = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "@agent estimate?"),
    )
    .await;
    assert_eq!(app.drain().await, 1);
    let actions = app.actions_of(&asked).await;
    assert_eq!(
        actions[0]["remote_id"], "octo/app#comment-99120",
        "{actions:?}"
    );

    // Act: GitHub announces that answer, with its page as always.
    let echo = post_comment(
        &app,
        &echo_of(
            99120,
            "https://github.com/octo/app/issues/9#issuecomment-99120",
            "User asked: @agent estimate? (as rendered)",
        ),
    )
    .await;
    let sent_after = app.drain().await;

    // Assert
    let event = app.event(&echo).await;
    assert_eq!(event["status"], "own_post", "{event}");
    assert_eq!(event["actions"], json!([]), "{event}");
    assert_eq!(sent_after, 0);
}

#[tokio::test]
async fn an_own_comment_announced_before_its_send_finished_is_known_by_its_text() {
    // Arrange: the answer is queued; GitHub's announcement beats the worker's record of it.
    let github = MockServer::start().await;
    let app = quoting_app(&github).await;
    post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "@agent estimate?"),
    )
    .await;

    // Act
    let echo = post_comment(&app, &echo_of(556, OWN_URL, "User asked: @agent estimate?")).await;
    let another = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "bob", "@agent and the tests?"),
    )
    .await;
    let sent = app.drain().await;

    // Assert: the echo fires nothing; a person's new comment on the same thread still does.
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(app.event(&another).await["status"], "done");
    assert_eq!(sent, 2, "the first answer and the answer to bob");
}

#[tokio::test]
async fn a_person_repeating_the_services_words_or_editing_its_comment_is_a_person() {
    // Arrange: the answer went out and GitHub's announcement of it was recognised.
    let github = MockServer::start().await;
    let app = answered_once(&github).await;
    post_comment(&app, &echo_of(555, OWN_URL, "User asked: @agent estimate?")).await;

    // Act: later, a person writes the same words; another edits the service's comment.
    let repeated = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "bob", "User asked: @agent estimate?"),
    )
    .await;
    let mut edit: serde_json::Value =
        serde_json::from_str(&echo_of(555, OWN_URL, "User asked: @agent estimate? [x]"))
            .expect("json");
    edit["action"] = json!("edited");
    edit["sender"] = json!({"login": "carol", "type": "User"});
    let edited = accepted(
        app.post_github(
            "gh",
            "issue_comment",
            &delivery_id(),
            &edit.to_string(),
            SECRET,
        )
        .await,
    )
    .await;

    // Assert: neither is taken for the service's own post.
    assert_ne!(app.event(&repeated).await["status"], "own_post");
    assert_ne!(app.event(&edited).await["status"], "own_post");
    assert_eq!(
        app.event(&repeated).await["matched_commands"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "the person's comment fires the command"
    );
}

/// An Open WebUI webhook `owui` that answers every person's channel message with "Seen: ..."
/// in `channel` (a loop, were its own posts not known); the app and the webhook's URL.
async fn seeing_app(
    channel: &MockServer,
    configure: impl FnOnce(&mut webhook_mcp::config::Config),
) -> (TestApp, String) {
    let app = spawn_manual(configure).await;
    let created = app
        .create_webhook(json!({"id": "owui", "name": "Open WebUI", "provider": "openwebui"}))
        .await;
    let url = created["url_with_token"].as_str().expect("url").to_string();
    app.add_command_ok(
        "owui",
        json!({"trigger": "message.created", "action": "post_message",
               "template": "Seen: {{ data.content_preview }}",
               "conditions": {"field": "source", "equals": "channel"},
               "target": {"url": format!("{}/api/v1/channels/webhooks/w1/tok", channel.uri()),
                          "kind": "openwebui"}}),
    )
    .await;
    (app, url)
}

/// Open WebUI's `message.created` for message `id` in channel c1, from a person (`channel`)
/// or a channel webhook (`channel_webhook`); the stored event's id.
async fn post_message_created(
    app: &TestApp,
    url: &str,
    id: &str,
    preview: &str,
    source: &str,
) -> String {
    let body = json!({"event": "message.created", "id": format!("e-{id}"), "source": source,
                      "subject": {"type": "message", "id": id},
                      "data": {"channel_id": "c1", "content_preview": preview}});
    accepted(app.client.post(url).json(&body).send().await.expect("POST")).await
}

#[tokio::test]
async fn an_open_webui_channel_post_announced_before_its_answer_is_known_by_its_beginning() {
    // Arrange: every channel message is posted on to the same channel (a loop, were its own
    // posts not known); the post is queued, not yet sent.
    let channel = MockServer::start().await;
    let (app, url) = seeing_app(&channel, |_| {}).await;

    // Act
    let person = post_message_created(&app, &url, "m-1", "deploy please", "channel").await;
    let echo = post_message_created(&app, &url, "m-2", "Seen: deploy pl…", "channel_webhook").await;
    // A person whose words begin the post still on its way, and another integration's
    // whole (short) post that does.
    let short = post_message_created(&app, &url, "m-3", "Seen", "channel").await;
    let other = post_message_created(&app, &url, "m-4", "Seen", "channel_webhook").await;

    // Assert: the persons' messages fired the command; the early announcement of its post did
    // not.
    assert_eq!(app.event(&person).await["status"], "matched");
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(app.event(&short).await["status"], "matched");
    assert_eq!(app.event(&other).await["status"], "accepted");
}

#[tokio::test]
async fn an_open_webui_channel_post_announced_while_its_send_times_out_is_delivered_once() {
    // Arrange: the channel takes the post but answers too late; no retries are left.
    let channel = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/channels/webhooks/w1/tok"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"success": true, "message_id": "m-own"}))
                .set_delay(std::time::Duration::from_secs(3)),
        )
        .mount(&channel)
        .await;
    let (app, url) = seeing_app(&channel, |c| {
        c.outbound_timeout_secs = 1;
        c.retry_schedule = Vec::new();
    })
    .await;
    let person = post_message_created(&app, &url, "m-1", "deploy please", "channel").await;

    // Act: the announcement comes while the send waits for its answer.
    let announce = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        post_message_created(&app, &url, "m-own", "Seen: deploy pl…", "channel_webhook").await
    };
    let (sent, echo) = tokio::join!(app.drain(), announce);

    // Assert
    assert_eq!(sent, 1);
    assert_eq!(channel.received_requests().await.map(|r| r.len()), Some(1));
    assert_eq!(app.event(&echo).await["status"], "own_post");
    let action = app.actions_of(&person).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["remote_id"], "m-own", "{action}");
}

#[tokio::test]
async fn a_comment_one_webhook_posted_is_its_own_post_on_another_webhook_of_the_repository() {
    // Arrange: a second webhook on the same repository (an organisation's hook beside the
    // repository's) with the same quoting command; the first one's answer went out.
    let github = MockServer::start().await;
    let app = answered_once(&github).await;
    app.github_webhook("gh-org", "org-secret").await;
    app.add_command_ok(
        "gh-org",
        json!({"trigger": "issue_comment.created", "action": "comment",
               "template": "Org bot saw: {{comment.body}}"}),
    )
    .await;

    // Act: GitHub announces the first webhook's answer to both.
    let echo = echo_of(555, OWN_URL, "User asked: @agent estimate?");
    let on_org = accepted(
        app.post_github(
            "gh-org",
            "issue_comment",
            &delivery_id(),
            &echo,
            "org-secret",
        )
        .await,
    )
    .await;
    let sent_after = app.drain().await;

    // Assert
    let event = app.event(&on_org).await;
    assert_eq!(event["status"], "own_post", "{event}");
    assert_eq!(event["actions"], json!([]), "{event}");
    assert_eq!(sent_after, 0);
}

/// On a quoting `app` whose send to `github` of the comment answering an `@agent` comment on
/// issue 9 fails (`case`: how) though GitHub made it: the send waits for its retry; GitHub's
/// announcement of the comment comes, then the retry falls due. One POST in all, the
/// announcement its own post, the action delivered as the comment announced. The asking
/// event's id.
async fn announced_before_its_retry(app: &TestApp, github: &MockServer, case: &str) -> String {
    let asked = post_comment(
        app,
        &issue_comment(9, "Flaky CI", "alice", "@agent estimate?"),
    )
    .await;
    app.drain().await;
    let retrying = app.actions_of(&asked).await.remove(0);
    assert_eq!(retrying["status"], "retrying", "{case}: {retrying}");

    let echo = post_comment(app, &echo_of(555, OWN_URL, "User asked: @agent estimate?")).await;
    let settled = app.drain().await;

    let posts = github.received_requests().await.map(|r| r.len());
    assert_eq!(posts, Some(1), "{case}");
    assert_eq!(app.event(&echo).await["status"], "own_post", "{case}");
    assert_eq!(settled, 1, "{case}");
    let action = app.actions_of(&asked).await.remove(0);
    assert_eq!(action["status"], "delivered", "{case}: {action}");
    assert_eq!(action["remote_id"], OWN_URL, "{case}: {action}");
    asked
}

#[tokio::test]
async fn a_comment_whose_send_timed_out_is_not_posted_again_once_github_announces_it() {
    // Arrange: GitHub posts the comment but answers too late for the send, which will retry.
    let github = MockServer::start().await;
    let app = quoting_app_answered_after(&github, 3, |c| {
        c.outbound_timeout_secs = 1;
        c.retry_schedule = vec!["1h".into()];
    })
    .await;

    // Act and assert: announced before the retry, delivered as the comment GitHub announced.
    let asked = announced_before_its_retry(&app, &github, "a time-out").await;

    // Assert: and the event done.
    assert_eq!(app.event(&asked).await["status"], "done");
}

#[tokio::test]
async fn a_comment_answered_with_a_server_error_is_not_posted_again_once_github_announces_it() {
    for status in [500, 502] {
        // Arrange: GitHub makes the comment but answers a server error (as it does at times);
        // the send will retry, and a retry would post a second comment.
        let github = MockServer::start().await;
        answer_once(&github, ISSUE_9, ResponseTemplate::new(status)).await;
        let duplicate =
            ResponseTemplate::new(201).set_body_json(json!({"id": 556, "html_url": RETRY_URL}));
        let app = quoting_app_answering(&github, duplicate, |c| {
            c.retry_schedule = vec!["1h".into()];
        })
        .await;

        // Act and assert: announced before the retry, delivered as the comment announced.
        announced_before_its_retry(&app, &github, &format!("a {status}")).await;
    }
}

#[tokio::test]
async fn a_comment_announced_while_its_send_times_out_is_delivered_not_failed() {
    // Arrange: GitHub posts the comment and announces it, but answers the send too late; no
    // retries are left.
    let github = MockServer::start().await;
    let app = quoting_app_answered_after(&github, 3, |c| {
        c.outbound_timeout_secs = 1;
        c.retry_schedule = Vec::new();
    })
    .await;
    let asked = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "@agent estimate?"),
    )
    .await;

    // Act: the announcement comes while the send waits for its answer.
    let announce = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        post_comment(&app, &echo_of(555, OWN_URL, "User asked: @agent estimate?")).await
    };
    let (sent, echo) = tokio::join!(app.drain(), announce);

    // Assert
    assert_eq!(sent, 1);
    assert_eq!(github.received_requests().await.map(|r| r.len()), Some(1));
    assert_eq!(app.event(&echo).await["status"], "own_post");
    let action = app.actions_of(&asked).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["remote_id"], OWN_URL, "{action}");
    assert_eq!(app.event(&asked).await["status"], "done");
}

/// A GitHub that makes every comment it is sent (201) but sends only the start of its answer,
/// then holds the connection open long past a send's timeout: the comment is there, and the
/// answer that would have named it never arrives whole. Its address, and how many comments
/// it took.
async fn github_stalling_its_answers() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let posts = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&posts);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                // The request whole (head, then as much body as it says), before answering.
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (name, value) = l.split_once(':')?;
                                name.eq_ignore_ascii_case("content-length")
                                    .then(|| value.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let head = "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n\
                            content-length: 80\r\n\r\n{\"id\": 555, ";
                if stream.write_all(head.as_bytes()).await.is_ok() {
                    let _ = stream.flush().await;
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                }
            });
        }
    });
    (address, posts)
}

#[tokio::test]
async fn an_own_comment_delivered_without_its_id_is_known_by_its_text_when_it_comes_back() {
    // Arrange: GitHub makes the quoting command's answer, but its answer trickles past the
    // send's timeout, so the send is delivered with no id for the comment.
    let (github, posts) = github_stalling_its_answers().await;
    let app = spawn_manual(|c| {
        c.upstreams.github_api_url = github.clone();
        c.upstreams.github_token = Some("ghp_test".into());
        c.outbound_timeout_secs = 1;
    })
    .await;
    app.github_webhook("gh", SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issue_comment.created", "action": "comment",
               "template": "User asked: {{comment.body}}",
               "conditions": {"body_contains": "@agent"}}),
    )
    .await;
    let asked = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "@agent estimate?"),
    )
    .await;
    assert_eq!(app.drain().await, 1);
    let action = app.actions_of(&asked).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert!(action["remote_id"].is_null(), "{action}");

    // Act: GitHub announces the comment (by the token's user, so nothing marks it a bot's).
    let echo = post_comment(&app, &echo_of(555, OWN_URL, "User asked: @agent estimate?")).await;
    let sent_after = app.drain().await;

    // Assert: the service's own words fire nothing; one comment in all, not a loop step.
    let event = app.event(&echo).await;
    assert_eq!(event["status"], "own_post", "{event}");
    assert_eq!(event["actions"], json!([]), "{event}");
    assert_eq!(sent_after, 0);
    assert_eq!(posts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_person_saying_what_a_waiting_reply_will_say_does_not_stop_it_being_sent() {
    // Arrange: the answer is queued, not sent yet.
    let github = MockServer::start().await;
    let app = quoting_app(&github).await;
    let asked = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "@agent estimate?"),
    )
    .await;

    // Act: someone writes the very same words first, then the worker runs.
    post_comment(
        &app,
        &echo_of(
            556,
            "https://github.com/octo/app/issues/9#issuecomment-556",
            "User asked: @agent estimate?",
        ),
    )
    .await;
    let sent = app.drain().await;

    // Assert: the answer still went out, and is known by GitHub's id for it.
    assert_eq!(sent, 1);
    let action = app.actions_of(&asked).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["remote_id"], OWN_URL, "{action}");
}

#[tokio::test]
async fn jira_comment_ids_of_another_site_are_not_taken_for_the_services_own() {
    // Arrange: two Jira sites; the service's comment on site A got id 10042.
    let jira = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue/KAN-1/comment"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "10042"})))
        .mount(&jira)
        .await;
    let app = spawn_manual(use_jira(&jira)).await;
    for site in ["site-a", "site-b", "site-a-admin"] {
        app.create_webhook(json!({"id": site, "name": site, "provider": "jira",
                                  "secret": format!("{site}-secret")}))
            .await;
        app.add_command_ok(
            site,
            json!({"trigger": "comment_created", "action": "comment", "template": "Noted",
                   "conditions": {"body_contains": "help"}}),
        )
        .await;
    }
    // Site A is the service's configured site (the fake), where its replies go.
    let address = |site: &str| match site {
        "site-a" => jira.uri(),
        other => format!("https://{other}.atlassian.net"),
    };
    let comment = |site: &str, id: &str, author: &str, text: &str| {
        json!({"webhookEvent": "comment_created",
               "issue": {"id": "1", "key": "KAN-1", "fields": {"summary": "S"},
                         "self": format!("{}/rest/api/2/issue/1", address(site))},
               "comment": {"id": id, "body": text, "author": {"accountId": author}}})
        .to_string()
    };
    accepted(
        app.post_jira(
            "site-a",
            &comment("site-a", "10041", "alice", "help please"),
            "site-a-secret",
        )
        .await,
    )
    .await;
    assert_eq!(app.drain().await, 1);

    // Act: on site B, a person's comment that happens to have the same id on an issue of the
    // same key (`KAN` is Jira Cloud's first project's key).
    let on_b = accepted(
        app.post_jira(
            "site-b",
            &comment("site-b", "10042", "bob", "help me too"),
            "site-b-secret",
        )
        .await,
    )
    .await;

    // Assert
    let event = app.event(&on_b).await;
    assert_ne!(event["status"], "own_post", "{event}");
    assert_eq!(
        event["actions"].as_array().map(Vec::len),
        Some(1),
        "{event}"
    );

    // Act: the service's comment comes back to another webhook of site A (an admin's
    // site-wide hook beside a project's).
    let on_a = accepted(
        app.post_jira(
            "site-a-admin",
            &comment("site-a", "10042", "svc", "Noted"),
            "site-a-admin-secret",
        )
        .await,
    )
    .await;

    // Assert
    assert_eq!(app.event(&on_a).await["status"], "own_post");
}

/// A Linear `Comment.create` delivery: the comment's id in `data.id`, its page in `url`.
fn linear_comment(id: &str, author: &str, text: &str) -> serde_json::Value {
    json!({
        "type": "Comment", "action": "create",
        "url": format!("https://linear.app/acme/issue/ENG-7/login-fails#comment-{id}"),
        "data": {"id": id, "body": text, "issueId": "u7",
                 "issue": {"id": "u7", "identifier": "ENG-7", "title": "Login fails"},
                 "user": {"id": "u-1", "name": author}},
    })
}

#[tokio::test]
async fn the_services_own_linear_comment_coming_back_fires_no_command() {
    // Arrange: a command answering every comment that asks for help, quoting it; Linear's
    // API answers with the new comment's id and page.
    let linear = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"commentCreate": {"success": true, "comment": {
                "id": "c-own",
                "url": "https://linear.app/acme/issue/ENG-7#comment-c-own"}}}
        })))
        .expect(1)
        .mount(&linear)
        .await;
    let app = spawn_manual(use_linear(&linear)).await;
    app.linear_webhook_with(json!({"trigger": "Comment.create", "action": "comment",
               "template": "Noted: {{data.body}}", "conditions": {"body_contains": "help"}}))
        .await;
    let asked = accepted(
        app.post_linear(
            "lin",
            &linear_comment("c-bob", "Bob", "need help here"),
            "lin-secret",
        )
        .await,
    )
    .await;
    assert_eq!(app.drain().await, 1);

    // Act: Linear announces the answer, under a page address that is not the API's.
    let echo = accepted(
        app.post_linear(
            "lin",
            &linear_comment("c-own", "Automation", "Noted: need help here"),
            "lin-secret",
        )
        .await,
    )
    .await;
    let sent_after = app.drain().await;

    // Assert
    assert_eq!(app.actions_of(&asked).await[0]["remote_id"], "c-own");
    let echo = app.event(&echo).await;
    assert_eq!(echo["status"], "own_post", "{echo}");
    assert_eq!(echo["actions"], json!([]), "{echo}");
    assert_eq!(sent_after, 0);
}

/// A review on pull request 3 of octo/app, as GitHub announces it: a reply in a review thread
/// comes wrapped in a review of its own, with no body.
fn review_submitted(review: u64, by: &str) -> String {
    json!({"action": "submitted",
           "review": {"id": review, "body": null, "state": "commented",
                      "html_url": format!("https://github.com/octo/app/pull/3#pullrequestreview-{review}"),
                      "user": {"login": by, "type": "User"}},
           "pull_request": {"number": 3, "title": "Speed up", "user": {"login": "bob"}},
           "repository": {"full_name": "octo/app"},
           "sender": {"login": by, "type": "User"}})
    .to_string()
}

/// A comment in the review thread of comment 42 on pull request 3, in review `review`.
fn review_comment(id: u64, review: u64, by: &str, text: &str) -> String {
    json!({"action": "created",
           "comment": {"id": id, "in_reply_to_id": 42, "line": 12, "body": text,
                       "pull_request_review_id": review,
                       "html_url": format!("https://github.com/octo/app/pull/3#discussion_r{id}"),
                       "user": {"login": by, "type": "User"}},
           "pull_request": {"number": 3, "title": "Speed up", "user": {"login": "bob"}},
           "repository": {"full_name": "octo/app"},
           "sender": {"login": by, "type": "User"}})
    .to_string()
}

/// A GitHub webhook `gh` replying in review threads and noting every review; its GitHub answers
/// the reply (as comment 44 in review 90) with `answer`. A person has asked on line 12.
async fn review_thread_app(
    github: &MockServer,
    answer: ResponseTemplate,
    adjust: impl FnOnce(&mut webhook_mcp::config::Config),
) -> TestApp {
    let replies = Mock::given(method("POST"))
        .and(path("/repos/octo/app/pulls/3/comments/42/replies"))
        .respond_with(answer)
        .expect(1);
    let app = github_taking(github, replies, adjust).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "pull_request_review_comment.created", "action": "comment",
               "template": "Looking at line {{comment.line}}"}),
    )
    .await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "pull_request_review.submitted", "action": "comment",
               "template": "Review by {{review.user.login}}"}),
    )
    .await;
    post_review_event(
        &app,
        "pull_request_review_comment",
        review_comment(43, 89, "alice", "why this?"),
    )
    .await;
    app
}

async fn post_review_event(app: &TestApp, event: &str, body: String) -> String {
    accepted(
        app.post_github("gh", event, &delivery_id(), &body, SECRET)
            .await,
    )
    .await
}

/// GitHub announcing the service's reply (comment 44) and the review wrapping it (90); their
/// event ids.
async fn announce_our_reply(app: &TestApp) -> [String; 2] {
    let reply = review_comment(44, 90, "operator", "Looking at line 12");
    [
        post_review_event(app, "pull_request_review_comment", reply).await,
        post_review_event(app, "pull_request_review", review_submitted(90, "operator")).await,
    ]
}

async fn assert_own_posts(app: &TestApp, events: [String; 2]) {
    for own in events {
        let own = app.event(&own).await;
        assert_eq!(own["status"], "own_post", "{own}");
        assert_eq!(own["actions"], json!([]), "{own}");
    }
}

fn reply_answer() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "id": 44, "pull_request_review_id": 90,
        "html_url": "https://github.com/octo/app/pull/3#discussion_r44",
        "user": {"login": "operator"}}))
}

#[tokio::test]
async fn the_review_wrapping_the_services_reply_in_a_review_thread_is_its_own_post() {
    // Arrange
    let github = MockServer::start().await;
    let app = review_thread_app(&github, reply_answer(), |_| {}).await;
    assert_eq!(app.drain().await, 1);

    // Act: GitHub announces the reply, then the review wrapping it; then a person's review.
    let ours = announce_our_reply(&app).await;
    let persons =
        post_review_event(&app, "pull_request_review", review_submitted(91, "alice")).await;

    // Assert
    assert_own_posts(&app, ours).await;
    let persons = app.event(&persons).await;
    assert_eq!(persons["status"], "matched", "{persons}");
}

#[tokio::test]
async fn the_review_wrapping_a_reply_announced_while_its_send_times_out_is_its_own_post() {
    // Arrange: GitHub posts the reply but answers too late; no retries are left.
    let github = MockServer::start().await;
    let late = reply_answer().set_delay(std::time::Duration::from_secs(3));
    let app = review_thread_app(&github, late, |c| {
        c.outbound_timeout_secs = 1;
        c.retry_schedule = Vec::new();
    })
    .await;

    // Act: the reply, then the review wrapping it, are announced while the send waits.
    let announce = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        announce_our_reply(&app).await
    };
    let (sent, announced) = tokio::join!(app.drain(), announce);

    // Assert
    assert_eq!(sent, 1);
    assert_own_posts(&app, announced).await;
}

/// A Slack webhook `sl` whose command answers every new message in its thread, quoting it;
/// Slack's Web API is `slack`, which names the posts it takes `1.2`.
async fn slack_quoting_app(slack: &MockServer) -> TestApp {
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0ENG", "ts": "1.2"})),
        )
        .mount(slack)
        .await;
    let app = spawn_manual(use_slack(slack)).await;
    app.slack_webhook("sl").await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "message", "action": "comment", "template": "Echo: {{event.text}}"}),
    )
    .await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "/deploy", "action": "comment", "template": "Deploying {{text}}"}),
    )
    .await;
    app
}

/// A new message in `channel`, as Slack delivers it to app `A1` (whose bot user is `UBOT`).
fn slack_message(channel: &str, ts: &str, thread_ts: Option<&str>, by: Value) -> String {
    let mut event = json!({"type": "message", "channel": channel, "channel_type": "channel",
                           "ts": ts});
    if let Some(thread_ts) = thread_ts {
        event["thread_ts"] = json!(thread_ts);
    }
    for (k, v) in by.as_object().expect("sender fields") {
        event[k] = v.clone();
    }
    json!({"type": "event_callback", "team_id": "T1", "api_app_id": "A1",
           "event_id": format!("Ev{}", uuid::Uuid::new_v4().simple()), "event": event,
           "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": true}]})
    .to_string()
}

async fn post_slack(app: &TestApp, body: &str) -> String {
    accepted(app.post_slack("sl", body, "slack-signing").await).await
}

#[tokio::test]
async fn the_slack_apps_own_post_is_known_by_its_app_whatever_slack_did_to_its_text() {
    // Arrange: a person's message with a link; the quoting reply is queued, not yet sent.
    let slack = MockServer::start().await;
    let app = slack_quoting_app(&slack).await;
    let person = json!({"user": "U1", "text": "see http://example.com/x"});
    post_slack(&app, &slack_message("C0ENG", "1.1", None, person)).await;

    // Act: the reply comes back before its answer, its link written the Slack way, from the
    // app's bot; then another bot's post and a person's.
    let own = json!({"user": "UBOT", "bot_id": "B1", "app_id": "A1",
                     "text": "Echo: see <http://example.com/x>"});
    let echo = post_slack(&app, &slack_message("C0ENG", "1.2", Some("1.1"), own)).await;
    let by_user = json!({"user": "UBOT", "text": "Echo: see <http://example.com/x|x>"});
    let echo_by_user = post_slack(&app, &slack_message("C0ENG", "1.3", Some("1.1"), by_user)).await;
    let other_bot = json!({"user": "UOTHER", "bot_id": "B2", "app_id": "A2", "text": "hello"});
    let other = post_slack(&app, &slack_message("C0ENG", "1.4", Some("1.1"), other_bot)).await;

    // Assert
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(app.event(&echo_by_user).await["status"], "own_post");
    assert_eq!(app.event(&other).await["status"], "matched");
}

#[tokio::test]
async fn slack_unfurling_a_link_in_the_apps_own_post_is_its_own_post_and_a_persons_edit_is_not() {
    // Arrange: a command that answers every edit.
    let slack = MockServer::start().await;
    let app = slack_quoting_app(&slack).await;
    app.add_command_ok(
        "sl",
        json!({"trigger": "message_changed", "action": "comment",
               "template": "Edited: {{event.message.text}}"}),
    )
    .await;

    // Act: Slack edits the app's post to unfurl its link; a person edits their own message.
    let unfurled = json!({"subtype": "message_changed", "message": {"user": "UBOT",
        "bot_id": "B1", "app_id": "A1", "text": "Echo: see <http://example.com/x>",
        "ts": "1.2", "attachments": [{"title": "x"}]}});
    let ours = post_slack(&app, &slack_message("C0ENG", "1.9", None, unfurled)).await;
    let edited = json!({"subtype": "message_changed",
        "message": {"user": "U1", "text": "see http://example.com/y", "ts": "1.1"}});
    let theirs = post_slack(&app, &slack_message("C0ENG", "1.10", None, edited)).await;

    // Assert: our post's edit answers nothing (it would answer itself at every unfurl).
    let ours = app.event(&ours).await;
    assert_eq!(ours["status"], "own_post", "{ours}");
    assert_eq!(ours["actions"], json!([]), "{ours}");
    assert_eq!(app.event(&theirs).await["status"], "matched");
}

/// Slack's notice that thread `1.1` in C0ENG got reply `latest` (from `by`), as the Events
/// API sends it: hidden, with the thread's parent, and without its `message_replied` subtype.
fn slack_reply_notice(ts: &str, latest: &str, by: &str) -> String {
    let notice = json!({"hidden": true, "event_ts": ts, "message": {"type": "message",
        "user": "U1", "text": "see http://example.com/x", "ts": "1.1", "thread_ts": "1.1",
        "reply_count": 1, "latest_reply": latest, "replies": [{"user": by, "ts": latest}]}});
    slack_message("C0ENG", ts, None, notice)
}

#[tokio::test]
async fn slacks_notice_of_a_thread_reply_is_no_new_message_and_of_our_own_reply_is_our_post() {
    // Arrange: a person's message, answered in its thread (Slack names the answer `1.2`),
    // and a command on every event besides the one on new messages.
    let slack = MockServer::start().await;
    let app = slack_quoting_app(&slack).await;
    let person = json!({"user": "U1", "text": "see http://example.com/x"});
    post_slack(&app, &slack_message("C0ENG", "1.1", None, person)).await;
    assert_eq!(app.drain().await, 1);
    app.add_command_ok(
        "sl",
        json!({"trigger": "*", "action": "comment", "template": "Seen {{event.type}}"}),
    )
    .await;

    // Act: the notices of our reply and of a person's.
    let ours = post_slack(&app, &slack_reply_notice("1.3", "1.2", "UBOT")).await;
    let theirs = post_slack(&app, &slack_reply_notice("1.5", "1.4", "U2")).await;

    // Assert: neither is a new message; ours answers nothing, a person's only the `*` command.
    let ours = app.event(&ours).await;
    assert_eq!(ours["event_type"], "message_replied", "{ours}");
    assert_eq!(ours["status"], "own_post", "{ours}");
    assert_eq!(ours["actions"], json!([]), "{ours}");
    let theirs = app.event(&theirs).await;
    assert_eq!(theirs["event_type"], "message_replied", "{theirs}");
    assert_eq!(theirs["status"], "matched", "{theirs}");
    assert_eq!(
        theirs["actions"].as_array().map(Vec::len),
        Some(1),
        "{theirs}"
    );
}

#[tokio::test]
async fn a_slash_commands_channel_post_coming_back_early_is_known_and_is_posted_once() {
    // Arrange: a slash command, whose comment is a new message in its channel.
    let slack = MockServer::start().await;
    let app = slack_quoting_app(&slack).await;
    let form = [
        ("team_id", "T1"),
        ("channel_id", "C0ENG"),
        ("user_id", "U1"),
        ("command", "/deploy"),
        ("text", "prod"),
        ("trigger_id", "13345.9"),
    ];
    app.post_slack_form("sl", &form, "slack-signing").await;

    // Act: the post comes back before its send has finished (no app named, as older
    // deliveries have it); then the send.
    let own = json!({"user": "UBOT", "bot_id": "B1", "text": "Deploying prod"});
    let mut echo: Value = serde_json::from_str(&slack_message("C0ENG", "1.2", None, own)).unwrap();
    echo.as_object_mut().unwrap().remove("authorizations");
    let echo = post_slack(&app, &echo.to_string()).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(sent, 1);
}

#[tokio::test]
async fn a_persons_slack_message_in_another_channel_is_not_taken_for_a_post_with_its_ts() {
    // Arrange: the reply to a message in C0ENG went out and Slack named it `1.2` there.
    let slack = MockServer::start().await;
    let app = slack_quoting_app(&slack).await;
    let person = json!({"user": "U1", "text": "deploy?"});
    post_slack(&app, &slack_message("C0ENG", "1.1", None, person)).await;
    assert_eq!(app.drain().await, 1);

    // Act: a person's message in another channel whose ts is also `1.2`.
    let person = json!({"user": "U2", "text": "lunch?"});
    let elsewhere = post_slack(&app, &slack_message("C0RANDOM", "1.2", None, person)).await;

    // Assert
    assert_eq!(app.event(&elsewhere).await["status"], "matched");
}

#[tokio::test]
async fn a_gitlab_note_one_webhook_posted_is_its_own_post_on_another_webhook_of_the_project() {
    // Arrange: a project's webhook and its group's, each quoting `/deploy` notes in a note;
    // GitLab numbers notes per site, and answers the project webhook's note with id 901.
    let gitlab = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/group%2Fapp/issues/5/notes"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 901})))
        .expect(1)
        .mount(&gitlab)
        .await;
    let app = spawn_manual(|c| {
        c.upstreams.gitlab_url = gitlab.uri();
        c.upstreams.gitlab_token = Some("glpat-test".into());
    })
    .await;
    for id in ["gl-project", "gl-group"] {
        app.create_webhook(json!({"id": id, "name": id, "provider": "gitlab", "secret": "gl-tok"}))
            .await;
        app.add_command_ok(
            id,
            json!({"trigger": "note", "action": "comment",
                   "template": "Deploy requested: {{object_attributes.note}}",
                   "conditions": {"body_contains": "/deploy"}}),
        )
        .await;
    }
    let note = |id: u64, site: &str, text: &str| {
        json!({"object_kind": "note", "event_type": "note",
               "project": {"path_with_namespace": "group/app",
                           "web_url": format!("{site}/group/app")},
               "user": {"id": 3, "username": "jsmith"},
               "object_attributes": {"id": id, "note": text, "action": "create",
                                     "noteable_type": "Issue"},
               "issue": {"iid": 5}})
    };
    accepted(
        app.post_gitlab(
            "gl-project",
            &note(43, "https://gitlab.example.com", "/deploy please"),
            "gl-tok",
        )
        .await,
    )
    .await;
    assert_eq!(app.drain().await, 1);

    // Act: GitLab announces the project webhook's note to the group's webhook too; and a
    // person's note with the same number on a mirror of the project on another site.
    let echo = accepted(
        app.post_gitlab(
            "gl-group",
            &note(
                901,
                "https://gitlab.example.com",
                "Deploy requested: /deploy please",
            ),
            "gl-tok",
        )
        .await,
    )
    .await;
    let elsewhere = accepted(
        app.post_gitlab(
            "gl-group",
            &note(
                901,
                "https://gitlab.mirror.example.org",
                "Deploy requested: /deploy please",
            ),
            "gl-tok",
        )
        .await,
    )
    .await;

    // Assert: the echo fires nothing; the other site's note is a person's.
    let event = app.event(&echo).await;
    assert_eq!(event["status"], "own_post", "{event}");
    assert_eq!(event["actions"], json!([]), "{event}");
    assert_ne!(app.event(&elsewhere).await["status"], "own_post");
    assert_eq!(app.actions_of(&elsewhere).await.len(), 1);
}

#[tokio::test]
async fn a_linear_comment_announced_by_issue_id_while_its_send_times_out_is_ours_and_sent_once() {
    // Arrange: a comment on each new issue, and one quoting comments that say "Looking"
    // (which would answer our own); Linear posts the comment but answers the send too late.
    let linear = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"commentCreate": {"success": true,
                    "comment": {"id": "c-own"}}}}))
                .set_delay(std::time::Duration::from_secs(3)),
        )
        .mount(&linear)
        .await;
    let app = spawn_manual(|c| {
        use_linear(&linear)(c);
        c.outbound_timeout_secs = 1;
        c.retry_schedule = vec!["1h".into()];
    })
    .await;
    app.create_webhook(
        json!({"id": "lin", "name": "Linear", "provider": "linear", "secret": "lin-secret"}),
    )
    .await;
    for (trigger, template, condition) in [
        ("Issue.create", "Looking into {{data.title}}", json!({})),
        (
            "Comment.create",
            "Escalating: {{data.body}}",
            json!({"body_contains": "Looking"}),
        ),
    ] {
        app.add_command_ok(
            "lin",
            json!({"trigger": trigger, "action": "comment", "template": template,
                   "conditions": condition}),
        )
        .await;
    }
    let issue = json!({"type": "Issue", "action": "create",
        "data": {"id": "u78", "identifier": "ENG-78", "title": "Crash on save"}});
    let opened = accepted(app.post_linear("lin", &issue, "lin-secret").await).await;

    // Act: the comment's webhook comes while the send waits, naming its issue by id only.
    let announce = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let comment = json!({"type": "Comment", "action": "create",
            "data": {"id": "c-own", "body": "Looking into Crash on save", "issueId": "u78",
                     "issue": {"id": "u78", "title": "Crash on save"}}});
        accepted(app.post_linear("lin", &comment, "lin-secret").await).await
    };
    let (_, echo) = tokio::join!(app.drain(), announce);
    app.drain().await;

    // Assert: ours, so nothing answers it, and the send is recorded delivered, not repeated.
    let echo = app.event(&echo).await;
    assert_eq!(echo["status"], "own_post", "{echo}");
    assert_eq!(echo["actions"], json!([]), "{echo}");
    let action = app.actions_of(&opened).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["remote_id"], "c-own", "{action}");
    assert_eq!(linear.received_requests().await.map(|r| r.len()), Some(1));
}

/// The quoting app, its GitHub posting the first send's comment (555) but answering too late
/// for the send, then answering the retry at once with another comment (556): GitHub then
/// holds both.
async fn quoting_app_posting_twice(github: &MockServer) -> TestApp {
    let late = ResponseTemplate::new(201)
        .set_body_json(json!({"id": 555, "html_url": OWN_URL}))
        .set_delay(std::time::Duration::from_secs(3));
    answer_once(github, ISSUE_9, late).await;
    let retried =
        ResponseTemplate::new(201).set_body_json(json!({"id": 556, "html_url": RETRY_URL}));
    quoting_app_answering(github, retried, |c| c.outbound_timeout_secs = 1).await
}

const RETRY_URL: &str = "https://github.com/octo/app/issues/9#issuecomment-556";

#[tokio::test]
async fn the_first_copy_of_a_comment_whose_send_timed_out_is_own_post_after_the_retry_is_delivered()
{
    // Arrange: a person asks; the first send times out although GitHub made the comment, the
    // retry is delivered as the second comment.
    let github = MockServer::start().await;
    let app = quoting_app_posting_twice(&github).await;
    let asked = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "@agent estimate?"),
    )
    .await;
    assert_eq!(app.drain().await, 2, "the timed-out send and its retry");
    let action = app.actions_of(&asked).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["remote_id"], RETRY_URL, "{action}");

    // Act: GitHub announces both comments, the retry's first.
    let second = post_comment(
        &app,
        &echo_of(556, RETRY_URL, "User asked: @agent estimate?"),
    )
    .await;
    let first = post_comment(&app, &echo_of(555, OWN_URL, "User asked: @agent estimate?")).await;
    let sent_after = app.drain().await;

    // Assert: both are the service's own; the quoting command did not answer itself.
    for echo in [&second, &first] {
        let event = app.event(echo).await;
        assert_eq!(event["status"], "own_post", "{event}");
        assert_eq!(event["actions"], json!([]), "{event}");
    }
    assert_eq!(sent_after, 0);
    assert_eq!(github.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn a_person_saying_what_a_twice_posted_comment_said_a_day_later_is_a_person() {
    // Arrange: the comment went out after a timed-out first send; GitHub announced both.
    let github = MockServer::start().await;
    let app = quoting_app_posting_twice(&github).await;
    post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "@agent estimate?"),
    )
    .await;
    app.drain().await;

    // Act: more than a day after that send, a person writes the same words there.
    let db = rusqlite::Connection::open(&app.db_path).expect("open the database");
    db.execute(
        "UPDATE outbox_attempts SET started_at = started_at - 25 * 3600 * 1000",
        [],
    )
    .expect("age the attempts");
    let repeated = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "bob", "User asked: @agent estimate?"),
    )
    .await;

    // Assert: a person's, which the command answers.
    let event = app.event(&repeated).await;
    assert_ne!(event["status"], "own_post", "{event}");
    assert_eq!(
        event["actions"].as_array().map(Vec::len),
        Some(1),
        "{event}"
    );
}

#[tokio::test]
async fn the_first_copy_of_a_jira_question_whose_send_timed_out_answers_no_question() {
    // The copy announced with its issue, and as an older Data Center sender announces a
    // comment: alone, its address naming the issue by id (found by its id, as replies are).
    for data_center in [false, true] {
        first_copy_of_a_timed_out_jira_question_is_ours(data_center).await;
    }
}

async fn first_copy_of_a_timed_out_jira_question_is_ours(data_center: bool) {
    // Arrange: `/ask` comments ask a question; Jira makes the first send's comment (60001)
    // but answers too late, and answers the retry at once (60000).
    let jira = MockServer::start().await;
    let at = "/rest/api/2/issue/ENG-121/comment";
    answer_once(
        &jira,
        at,
        ResponseTemplate::new(201)
            .set_body_json(json!({"id": "60001"}))
            .set_delay(std::time::Duration::from_secs(3)),
    )
    .await;
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "60000"})))
        .mount(&jira)
        .await;
    let app = spawn_manual(|c| {
        use_jira(&jira)(c);
        c.outbound_timeout_secs = 1;
    })
    .await;
    app.create_webhook(
        json!({"id": "jr", "name": "Jira", "provider": "jira", "secret": "jira-secret"}),
    )
    .await;
    app.add_command_ok(
        "jr",
        json!({"trigger": "comment_created", "action": "ask", "agent": "brain",
               "template": "Which browser?", "conditions": {"body_contains": "/ask"}}),
    )
    .await;
    let issue = json!({"id": "10121", "key": "ENG-121", "fields": {"summary": "Crash"},
                       "self": format!("{}/rest/api/2/issue/10121", jira.uri())});
    let comment = |id: &str, author: &str, text: &str| {
        json!({"webhookEvent": "comment_created", "issue": issue,
               "comment": {"id": id, "author": {"accountId": author}, "body": text}})
        .to_string()
    };
    let asked = accepted(
        app.post_jira(
            "jr",
            &comment("59999", "alice", "/ask about the crash"),
            "jira-secret",
        )
        .await,
    )
    .await;
    assert_eq!(app.drain().await, 2, "the timed-out send and its retry");
    let question = app.actions_of(&asked).await.remove(0);
    assert_eq!(question["remote_id"], "60000", "{question}");

    // Act: Jira announces the first send's comment after the retry's.
    let announced = if data_center {
        json!({"webhookEvent": "comment_created", "comment": {"id": "60001",
            "author": {"name": "svc"}, "body": "Which browser?",
            "self": format!("{}/rest/api/2/issue/10121/comment/60001", jira.uri())}})
        .to_string()
    } else {
        comment("60001", "svc", "Which browser?")
    };
    let first = accepted(app.post_jira("jr", &announced, "jira-secret").await).await;

    // Assert: the service's own, so the question still waits for a person.
    assert_eq!(
        app.event(&first).await["status"],
        "own_post",
        "data center: {data_center}"
    );
    let task = app.event(&asked).await["tasks"][0].clone();
    assert_eq!(task["status"], "waiting_reply", "{task}");

    // Act: a person answers.
    accepted(
        app.post_jira("jr", &comment("60002", "bob", "Firefox 128"), "jira-secret")
            .await,
    )
    .await;

    // Assert: that is the answer.
    let task = app.event(&asked).await["tasks"][0].clone();
    assert_eq!(task["status"], "queued", "{task}");
    let conversation = task_conversation(&app, task["id"].as_str().expect("task id"));
    assert!(conversation.contains("Firefox 128"), "{conversation}");
    assert_eq!(
        conversation.matches("Which browser?").count(),
        1,
        "{conversation}"
    );
}

/// The quoting app, its GitHub answering the first sends of its comments with `first` (in
/// turn, once each), then refusing their retries (a 500 each), then posting comment 556 (a
/// duplicate, were a third send made); a refused send is retried after an hour.
async fn quoting_app_timing_out_then_refused(
    github: &MockServer,
    first: &[(u64, &str)],
) -> TestApp {
    for (id, html_url) in first {
        let late = ResponseTemplate::new(201)
            .set_body_json(json!({"id": id, "html_url": html_url}))
            .set_delay(std::time::Duration::from_secs(3));
        answer_once(github, ISSUE_9, late).await;
    }
    for _ in first {
        answer_once(github, ISSUE_9, ResponseTemplate::new(500)).await;
    }
    let duplicate =
        ResponseTemplate::new(201).set_body_json(json!({"id": 556, "html_url": RETRY_URL}));
    quoting_app_answering(github, duplicate, |c| {
        c.outbound_timeout_secs = 1;
        c.retry_schedule = vec!["0s".into(), "1h".into()];
    })
    .await
}

#[tokio::test]
async fn a_comment_whose_timed_out_send_was_then_refused_is_not_posted_again_once_announced() {
    // Arrange: the first send times out although GitHub made the comment; the retry is
    // refused (a 500), so the action waits to be sent a third time.
    let github = MockServer::start().await;
    let app = quoting_app_timing_out_then_refused(&github, &[(555, OWN_URL)]).await;
    let asked = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "@agent estimate?"),
    )
    .await;
    assert_eq!(
        app.drain().await,
        2,
        "the timed-out send and the refused one"
    );
    let action = app.actions_of(&asked).await.remove(0);
    assert_eq!(action["status"], "retrying", "{action}");

    // Act: GitHub announces the first send's comment.
    let echo = post_comment(&app, &echo_of(555, OWN_URL, "User asked: @agent estimate?")).await;
    let settled = app.drain().await;

    // Assert: the action is delivered as that comment, and not sent a third time.
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(settled, 1);
    let action = app.actions_of(&asked).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["remote_id"], OWN_URL, "{action}");
    assert_eq!(app.event(&asked).await["status"], "done");
    assert_eq!(github.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn one_announced_comment_settles_one_of_two_timed_out_then_refused_sends_of_its_words() {
    // Arrange: two people ask alike, so two answers say the same words on the same issue;
    // each one's first send times out although GitHub made its comment (555, 557), and its
    // retry is refused.
    let github = MockServer::start().await;
    let other_url = "https://github.com/octo/app/issues/9#issuecomment-557";
    let app =
        quoting_app_timing_out_then_refused(&github, &[(555, OWN_URL), (557, other_url)]).await;
    let mut asked = Vec::new();
    for person in ["alice", "bob"] {
        let comment = issue_comment(9, "Flaky CI", person, "@agent estimate?");
        asked.push(post_comment(&app, &comment).await);
    }
    assert_eq!(
        app.drain().await,
        4,
        "two timed-out sends and two refused ones"
    );
    let actions = || async {
        let mut found = Vec::new();
        for event in &asked {
            found.push(app.actions_of(event).await.remove(0));
        }
        found
    };

    // Act: GitHub announces one of the comments.
    let echo = post_comment(&app, &echo_of(555, OWN_URL, "User asked: @agent estimate?")).await;
    let settled = app.drain().await;

    // Assert: it settles one action; the other still waits for its own comment.
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(settled, 1);
    let statuses: Vec<Value> = actions()
        .await
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("delivered"), json!("retrying")]);

    // Act: the other comment is announced too.
    let echo = post_comment(
        &app,
        &echo_of(557, other_url, "User asked: @agent estimate?"),
    )
    .await;
    let settled = app.drain().await;

    // Assert: each action is delivered as one of the comments, and none was posted again.
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(settled, 1);
    let remote: Vec<Value> = actions()
        .await
        .iter()
        .map(|a| a["remote_id"].clone())
        .collect();
    assert_eq!(remote, [json!(OWN_URL), json!(other_url)]);
    assert_eq!(github.received_requests().await.map(|r| r.len()), Some(4));
}

#[tokio::test]
async fn an_open_webui_channel_post_whose_timed_out_send_was_then_refused_is_not_posted_again() {
    // Arrange: the channel makes the post but answers the first send too late, then refuses
    // the retry (a 500); a third send would post it again.
    let channel = MockServer::start().await;
    let at = "/api/v1/channels/webhooks/w1/tok";
    answer_once(
        &channel,
        at,
        ResponseTemplate::new(200)
            .set_body_json(json!({"success": true, "message_id": "m-own"}))
            .set_delay(std::time::Duration::from_secs(3)),
    )
    .await;
    answer_once(&channel, at, ResponseTemplate::new(500)).await;
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": true, "message_id": "m-2"})),
        )
        .mount(&channel)
        .await;
    let (app, url) = seeing_app(&channel, |c| {
        c.outbound_timeout_secs = 1;
        c.retry_schedule = vec!["0s".into(), "1h".into()];
    })
    .await;
    let person = post_message_created(&app, &url, "m-1", "deploy please", "channel").await;
    assert_eq!(
        app.drain().await,
        2,
        "the timed-out send and the refused one"
    );

    // Act: Open WebUI announces the post the first send made.
    let echo = post_message_created(
        &app,
        &url,
        "m-own",
        "Seen: deploy please",
        "channel_webhook",
    )
    .await;
    let settled = app.drain().await;

    // Assert
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(settled, 1);
    let action = app.actions_of(&person).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["remote_id"], "m-own", "{action}");
    assert_eq!(channel.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn the_first_copy_of_an_open_webui_channel_post_whose_send_timed_out_is_own_post_after_the_retry_is_delivered()
 {
    // Arrange: the channel makes the first send's post but answers too late; the retry is
    // delivered as a second post.
    let channel = MockServer::start().await;
    let at = "/api/v1/channels/webhooks/w1/tok";
    answer_once(
        &channel,
        at,
        ResponseTemplate::new(200)
            .set_body_json(json!({"success": true, "message_id": "m-first"}))
            .set_delay(std::time::Duration::from_secs(3)),
    )
    .await;
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"success": true, "message_id": "m-retry"})),
        )
        .mount(&channel)
        .await;
    let (app, url) = seeing_app(&channel, |c| c.outbound_timeout_secs = 1).await;
    let person = post_message_created(&app, &url, "m-1", "deploy please", "channel").await;
    assert_eq!(app.drain().await, 2, "the timed-out send and its retry");
    let action = app.actions_of(&person).await.remove(0);
    assert_eq!(action["remote_id"], "m-retry", "{action}");

    // Act: Open WebUI announces both posts, the retry's first.
    let second = post_message_created(
        &app,
        &url,
        "m-retry",
        "Seen: deploy please",
        "channel_webhook",
    )
    .await;
    let first = post_message_created(
        &app,
        &url,
        "m-first",
        "Seen: deploy please",
        "channel_webhook",
    )
    .await;
    let sent_after = app.drain().await;

    // Assert: both are the service's own.
    for echo in [&second, &first] {
        let event = app.event(echo).await;
        assert_eq!(event["status"], "own_post", "{event}");
        assert_eq!(event["actions"], json!([]), "{event}");
    }
    assert_eq!(sent_after, 0);
    assert_eq!(channel.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn a_comment_whose_timed_out_send_went_dead_is_delivered_once_announced_and_not_retried() {
    // Arrange: GitHub posts the comment but answers too late for the send; no retries are
    // left, so the action is dead.
    let github = MockServer::start().await;
    let app = quoting_app_answered_after(&github, 3, |c| {
        c.outbound_timeout_secs = 1;
        c.retry_schedule = Vec::new();
    })
    .await;
    let asked = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "@agent estimate?"),
    )
    .await;
    assert_eq!(app.drain().await, 1);
    let action = app.actions_of(&asked).await.remove(0);
    assert_eq!(action["status"], "dead", "{action}");
    let action_id = action["id"].as_str().expect("action id").to_string();

    // Act: GitHub announces the comment, then someone retries the action by hand.
    let echo = post_comment(&app, &echo_of(555, OWN_URL, "User asked: @agent estimate?")).await;
    let settled = app.drain().await;
    let (retried, refusal) = app
        .post_api(&format!("/api/actions/{action_id}/retry"), &json!({}))
        .await;
    let sent_after = app.drain().await;

    // Assert: the action is delivered as the announced comment, its event done, and the retry
    // refused: GitHub got one POST in all.
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(settled, 1);
    let action = app.actions_of(&asked).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["remote_id"], OWN_URL, "{action}");
    assert_eq!(app.event(&asked).await["status"], "done");
    assert_eq!(retried, reqwest::StatusCode::CONFLICT, "{refusal}");
    assert_eq!(sent_after, 0);
    assert_eq!(github.received_requests().await.map(|r| r.len()), Some(1));
}

#[tokio::test]
async fn a_question_whose_timed_out_send_was_then_refused_for_good_waits_for_its_answer_once_announced()
 {
    // Arrange: `/ask` comments ask a question. GitHub posts the first send's comment (555)
    // but answers too late, then refuses the retry for good (a 422): the question is dead and
    // its task failed.
    let github = MockServer::start().await;
    let late = ResponseTemplate::new(201)
        .set_body_json(json!({"id": 555, "html_url": OWN_URL}))
        .set_delay(std::time::Duration::from_secs(3));
    answer_once(&github, ISSUE_9, late).await;
    answer_once(&github, ISSUE_9, ResponseTemplate::new(422)).await;
    let app = spawn_manual(|c| {
        use_github(&github)(c);
        c.outbound_timeout_secs = 1;
        c.retry_schedule = vec!["0s".into()];
    })
    .await;
    app.github_webhook("gh", SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issue_comment.created", "action": "ask", "agent": "brain",
               "template": "Which browser?", "conditions": {"body_contains": "/ask"}}),
    )
    .await;
    let asked = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "/ask about the crash"),
    )
    .await;
    assert_eq!(
        app.drain().await,
        2,
        "the timed-out send and the refused one"
    );
    let question = app.actions_of(&asked).await.remove(0);
    assert_eq!(question["status"], "dead", "{question}");
    let task = app.event(&asked).await["tasks"][0].clone();
    assert_eq!(task["status"], "failed", "{task}");

    // Act: GitHub announces the first send's comment.
    let echo = post_comment(&app, &echo_of(555, OWN_URL, "Which browser?")).await;
    let settled = app.drain().await;

    // Assert: the question is delivered as that comment, and its task waits for the answer.
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(settled, 1);
    let question = app.actions_of(&asked).await.remove(0);
    assert_eq!(question["status"], "delivered", "{question}");
    assert_eq!(question["remote_id"], OWN_URL, "{question}");
    let task = app.event(&asked).await["tasks"][0].clone();
    assert_eq!(task["status"], "waiting_reply", "{task}");

    // Act: a person answers, and someone retries the question by hand.
    post_comment(&app, &issue_comment(9, "Flaky CI", "bob", "Firefox 128")).await;
    let question_id = question["id"].as_str().expect("action id");
    let (retried, refusal) = app
        .post_api(&format!("/api/actions/{question_id}/retry"), &json!({}))
        .await;
    let sent_after = app.drain().await;

    // Assert: that is the answer; the question is not posted again.
    let task = app.event(&asked).await["tasks"][0].clone();
    assert_eq!(task["status"], "queued", "{task}");
    let conversation = task_conversation(&app, task["id"].as_str().expect("task id"));
    assert!(conversation.contains("Firefox 128"), "{conversation}");
    assert_eq!(retried, reqwest::StatusCode::CONFLICT, "{refusal}");
    assert_eq!(sent_after, 0);
    assert_eq!(github.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn a_person_saying_what_a_reply_refused_at_once_said_is_a_person() {
    // Arrange: GitHub refuses the answer for good at its first send (a 404): it went out and
    // was answered, so nothing of it is on the issue.
    let github = MockServer::start().await;
    let app = quoting_app_answering(&github, ResponseTemplate::new(404), |_| {}).await;
    let asked = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "alice", "@agent estimate?"),
    )
    .await;
    app.drain().await;
    assert_eq!(app.actions_of(&asked).await[0]["status"], "dead");

    // Act: a person writes the words the dead answer had.
    let repeated = post_comment(
        &app,
        &issue_comment(9, "Flaky CI", "bob", "User asked: @agent estimate?"),
    )
    .await;

    // Assert: a person's, which the command answers; the dead answer stays dead, unposted.
    let event = app.event(&repeated).await;
    assert_ne!(event["status"], "own_post", "{event}");
    assert_eq!(
        event["actions"].as_array().map(Vec::len),
        Some(1),
        "{event}"
    );
    let action = app.actions_of(&asked).await.remove(0);
    assert_eq!(action["status"], "dead", "{action}");
    assert_eq!(action["remote_id"], Value::Null, "{action}");
}

#[tokio::test]
async fn an_announced_comment_settles_a_send_still_to_be_retried_before_a_dead_one_of_its_words() {
    // Arrange: two people ask alike. The first answer's send times out although GitHub made
    // its comment (555), and its retry is refused for good (a 422): dead. The second's times
    // out too (557), and its retry is refused for now (a 500): it will be sent again.
    let github = MockServer::start().await;
    let other_url = "https://github.com/octo/app/issues/9#issuecomment-557";
    let late = |id: u64, html_url: &str| {
        ResponseTemplate::new(201)
            .set_body_json(json!({"id": id, "html_url": html_url}))
            .set_delay(std::time::Duration::from_secs(3))
    };
    answer_once(&github, ISSUE_9, late(555, OWN_URL)).await;
    answer_once(&github, ISSUE_9, ResponseTemplate::new(422)).await;
    answer_once(&github, ISSUE_9, late(557, other_url)).await;
    answer_once(&github, ISSUE_9, ResponseTemplate::new(500)).await;
    let duplicate =
        ResponseTemplate::new(201).set_body_json(json!({"id": 556, "html_url": RETRY_URL}));
    let app = quoting_app_answering(&github, duplicate, |c| {
        c.outbound_timeout_secs = 1;
        c.retry_schedule = vec!["0s".into(), "1h".into()];
    })
    .await;
    let mut asked = Vec::new();
    for person in ["alice", "bob"] {
        let comment = issue_comment(9, "Flaky CI", person, "@agent estimate?");
        asked.push(post_comment(&app, &comment).await);
        assert_eq!(app.drain().await, 2, "a timed-out send and a refused one");
    }
    let actions = || async {
        let mut found = Vec::new();
        for event in &asked {
            found.push(app.actions_of(event).await.remove(0));
        }
        found
    };
    let statuses: Vec<Value> = actions()
        .await
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("dead"), json!("retrying")]);

    // Act: GitHub announces the second answer's comment.
    let echo = post_comment(
        &app,
        &echo_of(557, other_url, "User asked: @agent estimate?"),
    )
    .await;
    let settled = app.drain().await;

    // Assert: it settles the answer that would have been sent again on its own.
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(settled, 1);
    let found = actions().await;
    assert_eq!(found[0]["status"], "dead", "{}", found[0]);
    assert_eq!(found[1]["status"], "delivered", "{}", found[1]);
    assert_eq!(found[1]["remote_id"], other_url, "{}", found[1]);

    // Act: the first answer's comment is announced too.
    let echo = post_comment(&app, &echo_of(555, OWN_URL, "User asked: @agent estimate?")).await;
    let settled = app.drain().await;

    // Assert: each is delivered as its own comment, and none was posted again.
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(settled, 1);
    let remote: Vec<Value> = actions()
        .await
        .iter()
        .map(|a| a["remote_id"].clone())
        .collect();
    assert_eq!(remote, [json!(OWN_URL), json!(other_url)]);
    assert_eq!(github.received_requests().await.map(|r| r.len()), Some(4));
}
