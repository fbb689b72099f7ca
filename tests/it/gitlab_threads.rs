//! GitLab replies land where a GitLab user looks for them: in the discussion thread the note
//! that fired them sits in (a merge request diff note, a reply in a thread), on the commit a
//! note is about; and notes by access-token bots answer no question.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, accepted, agent_config, fake_github, fake_llm, llm_answer, run_next, runner_of,
    spawn_app_with, spawn_manual, task_conversation,
};

const PROJECT: &str = "/api/v4/projects/group%2Fapp";
const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";

/// A GitLab webhook `gl` (token `gl-tok`) with one command, on an app whose GitLab is `gitlab`.
async fn gitlab_app_with(gitlab: &MockServer, command: Value) -> TestApp {
    let app = spawn_manual(|config| {
        config.upstreams.gitlab_url = gitlab.uri();
        config.upstreams.gitlab_token = Some("glpat-test".into());
    })
    .await;
    add_gitlab_webhook(&app, command).await;
    app
}

async fn add_gitlab_webhook(app: &TestApp, command: Value) {
    app.create_webhook(
        json!({"id": "gl", "name": "GitLab", "provider": "gitlab", "secret": "gl-tok"}),
    )
    .await;
    app.add_command_ok("gl", command).await;
}

/// A note hook on `group/app`: `on` names what it is on (`merge_request`, `issue` or
/// `commit`, with the fields GitLab sends), `attributes` are added to its
/// `object_attributes`.
fn note(id: u64, username: &str, text: &str, on: Value, attributes: Value) -> Value {
    let mut note = json!({
        "object_kind": "note", "event_type": "note",
        "project": {"path_with_namespace": "group/app",
                    "web_url": "https://gitlab.example.com/group/app"},
        "user": {"id": id + 1000, "username": username, "name": username},
        "object_attributes": {"id": id, "note": text, "action": "create"},
    });
    for (k, v) in on.as_object().expect("noteable") {
        note[k] = v.clone();
    }
    for (k, v) in attributes.as_object().expect("attributes") {
        note["object_attributes"][k] = v.clone();
    }
    note
}

fn mr_7() -> Value {
    json!({"merge_request": {"iid": 7, "title": "Speed up"}})
}

fn diff_note(discussion: &str) -> Value {
    json!({"noteable_type": "MergeRequest", "type": "DiffNote", "discussion_id": discussion})
}

async fn post_note(app: &TestApp, note: &Value) -> String {
    accepted(app.post_gitlab("gl", note, "gl-tok").await).await
}

/// `POST {at}` with `{"body": body}` answers a note with `id`, `times` times in the test.
async fn expect_note(gitlab: &MockServer, at: &str, body: &str, answer: Value, times: u64) {
    Mock::given(method("POST"))
        .and(path(at))
        .and(body_json(json!({ "body": body })))
        .respond_with(ResponseTemplate::new(201).set_body_json(answer))
        .expect(times)
        .mount(gitlab)
        .await;
}

#[tokio::test]
async fn a_comment_on_a_merge_request_diff_note_is_a_reply_in_its_thread() {
    // Arrange
    let gitlab = MockServer::start().await;
    let thread = format!("{PROJECT}/merge_requests/7/discussions/6a9c1750b3/notes");
    expect_note(&gitlab, &thread, "Noted: why here?", json!({"id": 901}), 1).await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "note", "action": "comment",
               "template": "Noted: {{object_attributes.note}}"}),
    )
    .await;

    // Act
    let event_id = post_note(
        &app,
        &note(43, "alice", "why here?", mr_7(), diff_note("6a9c1750b3")),
    )
    .await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(sent, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["target"], "gitlab group/app!7 (thread 6a9c1750b3)");
}

#[tokio::test]
async fn a_notes_words_echoed_by_a_template_run_no_quick_action_but_the_templates_own_do() {
    // Arrange: anyone who may comment writes the quick actions the bot's token could run.
    let gitlab = MockServer::start().await;
    let thread = format!("{PROJECT}/merge_requests/7/discussions/6a9c1750b3/notes");
    expect_note(
        &gitlab,
        &thread,
        "Noted: lgtm\n\u{200b}/approve\n\u{200b}/merge @\u{200b}all\n/label ~seen",
        json!({"id": 903}),
        1,
    )
    .await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "note", "action": "comment",
               "template": "Noted: {{object_attributes.note}}\n/label ~seen"}),
    )
    .await;

    // Act
    post_note(
        &app,
        &note(
            45,
            "mallory",
            "lgtm\n/approve\n/merge @all",
            mr_7(),
            diff_note("6a9c1750b3"),
        ),
    )
    .await;
    let sent = app.drain().await;

    // Assert: the fake expects exactly that body.
    assert_eq!(sent, 1);
}

#[tokio::test]
async fn a_comment_on_a_reply_in_an_issue_thread_goes_in_that_thread() {
    // Arrange
    let gitlab = MockServer::start().await;
    let thread = format!("{PROJECT}/issues/5/discussions/d15c/notes");
    expect_note(&gitlab, &thread, "On it", json!({"id": 902}), 1).await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "note", "action": "comment", "template": "On it"}),
    )
    .await;
    let reply = json!({"noteable_type": "Issue", "type": "DiscussionNote",
                       "discussion_id": "d15c"});

    // Act
    let event_id = post_note(
        &app,
        &note(
            44,
            "alice",
            "any news?",
            json!({"issue": {"iid": 5}}),
            reply,
        ),
    )
    .await;

    // Assert
    assert_eq!(app.drain().await, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
}

#[tokio::test]
async fn a_comment_on_a_standalone_note_stays_a_note_of_its_own() {
    // Arrange: a comment that starts no thread; answered in its discussion it would become a
    // resolvable thread, which can hold up the merge request.
    let gitlab = MockServer::start().await;
    expect_note(
        &gitlab,
        &format!("{PROJECT}/merge_requests/7/notes"),
        "On it",
        json!({"id": 903}),
        1,
    )
    .await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "note", "action": "comment", "template": "On it"}),
    )
    .await;
    let standalone = json!({"noteable_type": "MergeRequest", "type": null,
                            "discussion_id": "0ne0ff"});

    // Act
    let event_id = post_note(&app, &note(45, "alice", "ship it?", mr_7(), standalone)).await;

    // Assert
    assert_eq!(app.drain().await, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["target"], "gitlab group/app!7", "{action}");
}

#[tokio::test]
async fn a_comment_on_a_snippet_note_goes_on_the_snippet() {
    // Arrange: a project snippet has an id, no iid; its notes API takes that id.
    let gitlab = MockServer::start().await;
    expect_note(
        &gitlab,
        &format!("{PROJECT}/snippets/53/notes"),
        "Looks right",
        json!({"id": 904}),
        1,
    )
    .await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "note", "action": "comment", "template": "Looks right"}),
    )
    .await;
    let on_snippet = json!({"snippet": {"id": 53, "title": "deploy.sh"}});
    let standalone = json!({"noteable_type": "Snippet", "type": null});

    // Act
    let event_id = post_note(
        &app,
        &note(46, "alice", "is this safe?", on_snippet, standalone),
    )
    .await;

    // Assert
    assert_eq!(app.drain().await, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["target"], "gitlab group/app$53", "{action}");
}

#[tokio::test]
async fn a_question_asked_in_a_merge_request_thread_waits_for_the_answer_in_that_thread() {
    // Arrange: a diff note asks the agent; the question goes in the note's thread.
    let gitlab = MockServer::start().await;
    let thread = format!("{PROJECT}/merge_requests/7/discussions/6a9c1750b3/notes");
    expect_note(
        &gitlab,
        &thread,
        "Which cache do you mean?",
        json!({"id": 901}),
        1,
    )
    .await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "note", "action": "ask", "agent": "brain",
               "template": "Which cache do you mean?",
               "conditions": {"body_contains": "@bot"}}),
    )
    .await;
    let event_id = post_note(
        &app,
        &note(
            43,
            "alice",
            "@bot cache this?",
            mr_7(),
            diff_note("6a9c1750b3"),
        ),
    )
    .await;
    assert_eq!(app.drain().await, 1);

    // Act: GitLab announces the question (our own note), then alice answers in the thread.
    let echo = post_note(
        &app,
        &note(
            901,
            "webhook-mcp",
            "Which cache do you mean?",
            mr_7(),
            diff_note("6a9c1750b3"),
        ),
    )
    .await;
    let task = app.event(&event_id).await["tasks"][0].clone();
    assert_eq!(task["status"], "waiting_reply", "{task}");
    post_note(
        &app,
        &note(
            904,
            "alice",
            "The HTTP one",
            mr_7(),
            diff_note("6a9c1750b3"),
        ),
    )
    .await;

    // Assert
    assert_eq!(app.event(&echo).await["status"], "own_post");
    let task = app.event(&event_id).await["tasks"][0].clone();
    assert_eq!(task["status"], "queued", "the answer resumed it: {task}");
    let conversation = task_conversation(&app, task["id"].as_str().expect("task id"));
    assert!(conversation.contains("The HTTP one"), "{conversation}");
}

/// A webhook `gl` on the GitLab at `gitlab` whose `ask` command answers a note saying `@bot`
/// with "Which cache?" (in the note's thread of merge request 7); the note `asked` is received
/// and the question sent. The app and the note's event id.
async fn which_cache_asked(gitlab: &MockServer, asked: &Value) -> (TestApp, String) {
    let thread = format!("{PROJECT}/merge_requests/7/discussions/6a9c1750b3/notes");
    expect_note(gitlab, &thread, "Which cache?", json!({"id": 901}), 1).await;
    let app = gitlab_app_with(
        gitlab,
        json!({"trigger": "note", "action": "ask", "agent": "brain",
               "template": "Which cache?", "conditions": {"body_contains": "@bot"}}),
    )
    .await;
    let event_id = post_note(&app, asked).await;
    assert_eq!(app.drain().await, 1);
    (app, event_id)
}

#[tokio::test]
async fn a_reply_in_another_thread_of_the_merge_request_still_answers_its_question() {
    // Arrange: as on GitHub, a question waits on its merge request: an answer given in
    // another thread (or as a note of its own) is not lost.
    let gitlab = MockServer::start().await;
    let asked = note(43, "alice", "@bot cache?", mr_7(), diff_note("6a9c1750b3"));
    let (app, event_id) = which_cache_asked(&gitlab, &asked).await;

    // Act
    post_note(
        &app,
        &note(905, "alice", "The HTTP one", mr_7(), diff_note("0th3r")),
    )
    .await;

    // Assert
    let task = app.event(&event_id).await["tasks"][0].clone();
    assert_eq!(task["status"], "queued", "{task}");
}

/// An app whose agents run on `llm` (and `github`), replying on the GitLab at `gitlab`.
async fn agent_app_on(llm: &MockServer, github: &MockServer, gitlab: &MockServer) -> TestApp {
    let agents = agent_config(llm, github);
    let gitlab_url = gitlab.uri();
    spawn_app_with(move |config| {
        agents(config);
        config.upstreams.gitlab_url = gitlab_url;
        config.upstreams.gitlab_token = Some("glpat-test".into());
    })
    .await
}

/// `note` on project 15 as it is called at `path` (renamed or moved since the question).
fn note_on_project(path: &str, note: Value) -> Value {
    let mut note = note;
    note["project"] = json!({"id": 15, "path_with_namespace": path,
                             "web_url": format!("https://gitlab.example.com/{path}")});
    note
}

#[tokio::test]
async fn a_question_asked_before_its_project_was_renamed_is_answered_and_spoken_on_in_its_new_path()
{
    // Arrange: a question goes in a merge request thread of project 15, then `group/app`.
    let (llm, github, gitlab) = (
        fake_llm(vec![llm_answer("Use the HTTP cache.")]).await,
        fake_github().await,
        MockServer::start().await,
    );
    let thread = "merge_requests/7/discussions/6a9c1750b3/notes";
    expect_note(
        &gitlab,
        &format!("{PROJECT}/{thread}"),
        "Which cache?",
        json!({"id": 901}),
        1,
    )
    .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/api/v4/projects/platform%2Fapp-next/{thread}"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 907})))
        .expect(1)
        .mount(&gitlab)
        .await;
    let app = agent_app_on(&llm, &github, &gitlab).await;
    add_gitlab_webhook(
        &app,
        json!({"trigger": "note", "action": "ask", "agent": "planning",
               "template": "Which cache?", "conditions": {"body_contains": "@bot"}}),
    )
    .await;
    let asked = note(43, "alice", "@bot cache?", mr_7(), diff_note("6a9c1750b3"));
    let event_id = post_note(&app, &note_on_project("group/app", asked)).await;
    assert_eq!(app.drain().await, 1);

    // Act: the project is moved to `platform/app-next`; alice answers there.
    let answer = note(
        905,
        "alice",
        "The HTTP one",
        mr_7(),
        diff_note("6a9c1750b3"),
    );
    post_note(&app, &note_on_project("platform/app-next", answer)).await;
    let task = app.event(&event_id).await["tasks"][0].clone();
    let ran = run_next(&app, &runner_of(&app)).await;
    let sent = app.drain().await;

    // Assert: the answer woke the question; what the agent said next went to the project as
    // it is called now (GitLab's API refuses a write on the old path).
    assert_eq!(task["status"], "queued", "the answer resumed it: {task}");
    assert_eq!(ran.map(|(_, status)| status).as_deref(), Some("done"));
    assert_eq!(sent, 1);
}

#[tokio::test]
async fn a_test_delivery_of_the_built_in_sample_moves_no_task_to_its_project() {
    // Arrange: a question waits on a merge request of project 15, `group/app` (the built-in
    // GitLab sample's project has that number too, as `acme/webapp`).
    let gitlab = MockServer::start().await;
    let asked = note(43, "alice", "@bot cache?", mr_7(), diff_note("6a9c1750b3"));
    let (app, _) = which_cache_asked(&gitlab, &note_on_project("group/app", asked)).await;

    // Act: the webhook is tested with the built-in sample.
    let client = crate::mcp::connect(&app).await;
    let tested = crate::mcp::call(
        &client,
        "test_webhook",
        json!({"webhook_id": "gl", "event_type": "push"}),
    )
    .await;

    // Assert: the task still waits on its own project.
    assert_eq!(tested.is_error, Some(false), "{tested:?}");
    let key: String = rusqlite::Connection::open(&app.db_path)
        .expect("open db")
        .query_row("SELECT source_key FROM tasks", [], |r| r.get(0))
        .expect("the task");
    assert_eq!(key, "group/app!7");
    client.cancel().await.ok();
}

#[tokio::test]
async fn an_agents_answer_about_a_diff_note_goes_in_the_notes_thread() {
    // Arrange: a diff note makes a task whose agent answers with a comment on its source; the
    // answer opens, after a space, with a quick action a payload steered it to write.
    let (llm, github, gitlab) = (
        fake_llm(vec![llm_answer("  /merge\nCache the parsed config.")]).await,
        fake_github().await,
        MockServer::start().await,
    );
    Mock::given(method("POST"))
        .and(path(format!(
            "{PROJECT}/merge_requests/7/discussions/6a9c1750b3/notes"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 906})))
        .expect(1)
        .mount(&gitlab)
        .await;
    let app = agent_app_on(&llm, &github, &gitlab).await;
    add_gitlab_webhook(
        &app,
        json!({"trigger": "note", "action": "create_task", "agent": "planning",
               "template": "Review: {{object_attributes.note}}"}),
    )
    .await;
    let event_id = post_note(
        &app,
        &note(
            43,
            "alice",
            "is this slow?",
            mr_7(),
            diff_note("6a9c1750b3"),
        ),
    )
    .await;

    // Act
    let ran = run_next(&app, &runner_of(&app)).await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(ran.map(|(_, status)| status).as_deref(), Some("done"));
    assert_eq!(sent, 1);
    let comment = app
        .actions_of(&event_id)
        .await
        .into_iter()
        .find(|a| a["action"] == "comment")
        .expect("the answer's comment");
    assert_eq!(comment["status"], "delivered", "{comment}");
    assert_eq!(comment["target"], "gitlab group/app!7 (thread 6a9c1750b3)");
    let requests = gitlab.received_requests().await.unwrap_or_default();
    let posted: Value = serde_json::from_slice(&requests[0].body).expect("JSON");
    let body = posted["body"].as_str().unwrap_or_default();
    assert!(body.contains("\n\u{200b}/merge\nCache"), "{body:?}");
    assert!(!body.contains("\n/merge"), "{body:?}");
}

#[tokio::test]
async fn a_comment_on_a_commit_note_starts_a_thread_on_the_commit_and_knows_it_when_it_returns() {
    // Arrange: a note on a commit, of its own (a commit's notes are answered in threads:
    // GitLab takes no reply to a standalone one, and its comments API names no note id).
    let gitlab = MockServer::start().await;
    expect_note(
        &gitlab,
        &format!("{PROJECT}/repository/commits/{SHA}/discussions"),
        "Noted: breaks the build?",
        json!({"id": "c0mm17", "individual_note": false, "notes": [{"id": 907}]}),
        1,
    )
    .await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "note", "action": "comment",
               "template": "Noted: {{object_attributes.note}}"}),
    )
    .await;
    let on_commit = json!({"commit": {"id": SHA, "message": "Speed up"}});
    let standalone = json!({"noteable_type": "Commit", "commit_id": SHA, "type": null,
                            "discussion_id": "0wn"});

    // Act
    let event_id = post_note(
        &app,
        &note(
            46,
            "alice",
            "breaks the build?",
            on_commit.clone(),
            standalone,
        ),
    )
    .await;
    let sent = app.drain().await;
    // GitLab announces the note it made, in the thread it started.
    let thread = json!({"noteable_type": "Commit", "commit_id": SHA,
                        "type": "DiscussionNote", "discussion_id": "c0mm17"});
    let echo = post_note(
        &app,
        &note(
            907,
            "webhook-mcp",
            "Noted: breaks the build?",
            on_commit,
            thread,
        ),
    )
    .await;

    // Assert
    assert_eq!(sent, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["target"], format!("gitlab group/app@{SHA}"));
    assert_eq!(app.event(&echo).await["status"], "own_post");
    assert_eq!(app.drain().await, 0, "our own note is not answered");
}

#[tokio::test]
async fn a_comment_on_a_note_in_a_commit_thread_is_a_reply_in_it() {
    // Arrange
    let gitlab = MockServer::start().await;
    let at = format!("{PROJECT}/repository/commits/{SHA}/discussions/d1ff/notes");
    expect_note(&gitlab, &at, "On it", json!({"id": 908}), 1).await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "note", "action": "comment", "template": "On it"}),
    )
    .await;
    let diff_note = json!({"noteable_type": "Commit", "commit_id": SHA, "type": "DiffNote",
                           "discussion_id": "d1ff"});

    // Act
    let event_id = post_note(
        &app,
        &note(
            47,
            "alice",
            "why?",
            json!({"commit": {"id": SHA}}),
            diff_note,
        ),
    )
    .await;

    // Assert
    assert_eq!(app.drain().await, 1);
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(
        action["target"],
        format!("gitlab group/app@{SHA} (thread d1ff)")
    );
}

#[tokio::test]
async fn a_question_about_a_standalone_commit_note_waits_and_speaks_in_the_thread_it_starts() {
    // Arrange: a standalone note on a commit asks; each post there starts a thread, and the
    // question's is `q7h`.
    let gitlab = MockServer::start().await;
    let commit = format!("{PROJECT}/repository/commits/{SHA}");
    expect_note(
        &gitlab,
        &format!("{commit}/discussions"),
        "Which target?",
        json!({"id": "q7h", "individual_note": false, "notes": [{"id": 910}]}),
        1,
    )
    .await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "note", "action": "ask", "agent": "brain",
               "template": "Which target?", "conditions": {"body_contains": "@bot"}}),
    )
    .await;
    let on_commit = || json!({"commit": {"id": SHA, "message": "Speed up"}});
    let standalone = json!({"noteable_type": "Commit", "commit_id": SHA, "type": null,
                            "discussion_id": "0wn"});
    let event_id = post_note(
        &app,
        &note(48, "alice", "@bot build it?", on_commit(), standalone),
    )
    .await;
    assert_eq!(app.drain().await, 1);

    // Act: alice answers in the question's thread.
    let in_question = json!({"noteable_type": "Commit", "commit_id": SHA,
                             "type": "DiscussionNote", "discussion_id": "q7h"});
    post_note(&app, &note(911, "alice", "arm64", on_commit(), in_question)).await;

    // Assert: the answer resumed the task, which now speaks in that thread.
    let task_id = app.task_id_of(&event_id).await;
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "queued", "{task}");
    assert_eq!(task["source"]["detail"]["discussion"], "q7h", "{task}");

    // Act: the task's next word, by hand.
    expect_note(
        &gitlab,
        &format!("{commit}/discussions/q7h/notes"),
        "Building for arm64",
        json!({"id": 912}),
        1,
    )
    .await;
    let (status, answer) = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "Building for arm64", "task_id": task_id}),
        )
        .await;

    // Assert: a reply in the question's thread, not a thread of its own.
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(app.drain().await, 1);
    let comment = app
        .actions_of(&event_id)
        .await
        .into_iter()
        .find(|a| a["action"] == "comment")
        .expect("the comment");
    assert_eq!(comment["status"], "delivered", "{comment}");
    assert_eq!(
        comment["target"],
        format!("gitlab group/app@{SHA} (thread q7h)")
    );
}

#[tokio::test]
async fn a_commit_question_whose_answer_was_lost_still_speaks_in_the_thread_its_note_names() {
    // Arrange: GitLab starts the question's thread `q8t` but answers too late; no retries
    // are left, so the question is taken for lost and its task fails.
    let gitlab = MockServer::start().await;
    let commit = format!("{PROJECT}/repository/commits/{SHA}");
    Mock::given(method("POST"))
        .and(path(format!("{commit}/discussions")))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": "q8t", "notes": [{"id": 920}]}))
                .set_delay(std::time::Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&gitlab)
        .await;
    let app = spawn_manual(|config| {
        config.upstreams.gitlab_url = gitlab.uri();
        config.upstreams.gitlab_token = Some("glpat-test".into());
        config.outbound_timeout_secs = 1;
        config.retry_schedule = Vec::new();
    })
    .await;
    add_gitlab_webhook(
        &app,
        json!({"trigger": "note", "action": "ask", "agent": "brain",
               "template": "Which target?", "conditions": {"body_contains": "@bot"}}),
    )
    .await;
    let on_commit = || json!({"commit": {"id": SHA, "message": "Speed up"}});
    let standalone = json!({"noteable_type": "Commit", "commit_id": SHA, "type": null});
    let event_id = post_note(
        &app,
        &note(49, "alice", "@bot build it?", on_commit(), standalone),
    )
    .await;
    app.drain().await;
    let task_id = app.task_id_of(&event_id).await;
    assert_eq!(app.task(&task_id).await["status"], "failed");

    // Act: GitLab announces the question, in the thread it started.
    let q8t = || {
        json!({"noteable_type": "Commit", "commit_id": SHA,
               "type": "DiscussionNote", "discussion_id": "q8t"})
    };
    let echo = post_note(
        &app,
        &note(920, "webhook-mcp", "Which target?", on_commit(), q8t()),
    )
    .await;
    app.drain().await;

    // Assert: the question was posted after all; its task waits, and speaks, in `q8t`.
    assert_eq!(app.event(&echo).await["status"], "own_post");
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "waiting_reply", "{task}");
    assert_eq!(task["source"]["detail"]["discussion"], "q8t", "{task}");
    post_note(&app, &note(921, "alice", "arm64", on_commit(), q8t())).await;
    assert_eq!(app.task(&task_id).await["status"], "queued");
}

#[tokio::test]
async fn notes_by_access_token_bots_answer_no_question() {
    // Arrange: a question on issue 5.
    let gitlab = MockServer::start().await;
    expect_note(
        &gitlab,
        &format!("{PROJECT}/issues/5/notes"),
        "Which milestone?",
        json!({"id": 42}),
        1,
    )
    .await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "issue.open", "action": "ask", "agent": "brain",
               "template": "Which milestone?"}),
    )
    .await;
    let issue = json!({"object_kind": "issue",
                       "project": {"path_with_namespace": "group/app"},
                       "user": {"id": 3, "username": "jsmith"},
                       "object_attributes": {"iid": 5, "action": "open", "title": "Crash"}});
    let event_id = accepted(app.post_gitlab("gl", &issue, "gl-tok").await).await;
    assert_eq!(app.drain().await, 1);
    let on_issue = || json!({"issue": {"iid": 5}});
    let plain = || json!({"noteable_type": "Issue"});

    // Act: a project's and a group's access token bots write notes; then a person answers.
    for (id, bot) in [
        (50, "project_123_bot_4ffca233d8298ea1"),
        (51, "group_45_bot_0a1b2c3d"),
    ] {
        post_note(&app, &note(id, bot, "pipeline passed", on_issue(), plain())).await;
        let task = app.event(&event_id).await["tasks"][0].clone();
        assert_eq!(
            task["status"], "waiting_reply",
            "{bot} is no answer: {task}"
        );
    }
    post_note(
        &app,
        &note(52, "jsmith", "16.0 please", on_issue(), plain()),
    )
    .await;

    // Assert
    let task = app.event(&event_id).await["tasks"][0].clone();
    assert_eq!(task["status"], "queued", "{task}");
    let conversation = task_conversation(&app, task["id"].as_str().expect("task id"));
    assert!(conversation.contains("16.0 please"), "{conversation}");
    assert!(!conversation.contains("pipeline passed"), "{conversation}");
}

#[tokio::test]
async fn an_event_from_gitlab_com_is_not_answered_on_a_self_hosted_gitlab() {
    // Arrange: the app replies to a self-hosted GitLab at `gitlab` (whose pages name another
    // address, as `note` writes them: that is still taken for the same instance); the event
    // comes from gitlab.com, whose project has the same path.
    let gitlab = MockServer::start().await;
    expect_note(
        &gitlab,
        &format!("{PROJECT}/issues/3/notes"),
        "Triage: Outage",
        json!({"id": 1}),
        0,
    )
    .await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "issue.open", "action": "comment",
               "template": "Triage: {{object_attributes.title}}"}),
    )
    .await;
    let issue = json!({"object_kind": "issue",
                       "project": {"path_with_namespace": "group/app",
                                   "web_url": "https://gitlab.com/group/app"},
                       "user": {"id": 3, "username": "jsmith"},
                       "object_attributes": {"iid": 3, "action": "open", "title": "Outage"}});

    // Act
    let event_id = accepted(app.post_gitlab("gl", &issue, "gl-tok").await).await;
    app.drain().await;

    // Assert: nothing posted (the fake expects no note); the action is dead, saying which
    // instance and which setting.
    let action = app.actions_of(&event_id).await.remove(0);
    assert_eq!(action["status"], "dead", "{action}");
    let error = action["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("https://gitlab.com"), "{error}");
    assert!(error.contains("gitlab_url"), "{error}");
}

#[tokio::test]
async fn an_external_agents_result_completed_over_rest_cannot_notify_the_whole_project_or_merge() {
    // Arrange: a note makes a task that an external agent claims over REST.
    let gitlab = MockServer::start().await;
    let app = gitlab_app_with(
        &gitlab,
        json!({"trigger": "note", "action": "create_task", "agent": "ext",
               "template": "Answer: {{object_attributes.note}}"}),
    )
    .await;
    expect_note(
        &gitlab,
        &format!("{PROJECT}/merge_requests/7/notes"),
        "@\u{200b}all please look, @\u{200b}group/sub\n\u{200b}/approve\n\u{200b}/merge",
        json!({"id": 907}),
        1,
    )
    .await;
    post_note(&app, &note(44, "alice", "help?", mr_7(), json!({}))).await;
    let (status, claimed) = app
        .post_api(
            "/api/tasks/claim",
            &json!({"agent": "ext", "owner": "bot-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    let task_id = claimed["task"]["id"].as_str().expect("claimed task");

    // Act
    let (status, done) = app
        .post_api(
            &format!("/api/tasks/{task_id}/complete"),
            &json!({"owner": "bot-1", "result": "@all please look, @group/sub\n/approve\n/merge",
                    "post_result": true}),
        )
        .await;
    let sent = app.drain().await;

    // Assert: an agent's words, as complete_task over MCP takes them.
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(sent, 1);
}
