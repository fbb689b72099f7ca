//! A person chatting in Open WebUI answers a task that waits for a reply on its thread: the
//! `answer_task` tool (over a real MCP client) and its REST twin `POST /api/tasks/{id}/answer`,
//! against the running app, a fake chat API and a fake GitHub.

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    API_KEY, TestApp, accepted, agent_app, chat_requests, comments_on, contents, delivery_id,
    fake_github, fake_llm, issue_comment, llm_answer, llm_asks, open_issue, run_next, runner_of,
    send_json, task_conversation,
};
use crate::keys::{audit_entries, create_key};
use crate::mcp::{call, text};

type Client = RunningService<RoleClient, ()>;

const ANSWER: &str = "Linux, Ubuntu 24.04";
const RESULT: &str = "It is the Wayland clipboard bug.";

/// An MCP client as Open WebUI connects with forwarded user headers: alice's.
async fn connect_as_alice(app: &TestApp, key: &str) -> Client {
    let headers = HashMap::from([
        (
            HeaderName::from_static("x-openwebui-user-name"),
            HeaderValue::from_static("Alice%20Smith"),
        ),
        (
            HeaderName::from_static("x-openwebui-user-id"),
            HeaderValue::from_static("u-alice"),
        ),
    ]);
    let config = StreamableHttpClientTransportConfig::with_uri(app.url("/mcp"))
        .auth_header(key)
        .custom_headers(headers);
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("MCP client connects")
}

/// An app whose runner's model asks "Which OS?" on issue 70, then answers; the task waits for
/// the reply, its question posted. The task's id.
async fn waiting_task(llm: &MockServer, github: &MockServer) -> (TestApp, String) {
    let app = agent_app(llm, github).await;
    let runner = runner_of(&app);
    let task_id = app
        .task_id_of(&open_issue(&app, 70, "Crash on start").await)
        .await;
    assert_eq!(
        run_next(&app, &runner).await,
        Some((task_id.clone(), "waiting_reply".into()))
    );
    assert_eq!(app.drain().await, 1, "the question went out");
    (app, task_id)
}

/// The user messages of chat request `n`.
async fn user_messages(llm: &MockServer, n: usize) -> Vec<String> {
    let requests = chat_requests(llm).await;
    let body: Value = serde_json::from_slice(&requests[n].body).expect("JSON request");
    contents(&body, "user")
}

/// The answer as the run after it read it: the user message of chat request 1 holding it.
async fn answer_as_read(llm: &MockServer) -> String {
    let user = user_messages(llm, 1).await;
    user.iter()
        .find(|m| m.contains(ANSWER))
        .cloned()
        .unwrap_or_else(|| panic!("no answer in {user:?}"))
}

/// The `waiting_since` column (null once nothing waits, which stops the reply timeout).
fn waiting_since(app: &TestApp, task_id: &str) -> Option<i64> {
    let db = rusqlite::Connection::open(&app.db_path).expect("open the database");
    db.query_row(
        "SELECT waiting_since FROM tasks WHERE id = ?1",
        [task_id],
        |r| r.get(0),
    )
    .expect("task row")
}

#[tokio::test]
async fn a_person_answers_a_waiting_task_from_the_chat_and_its_run_reads_the_answer() {
    // Arrange
    let llm = fake_llm(vec![llm_asks("Which OS?"), llm_answer(RESULT)]).await;
    let github = fake_github().await;
    let (app, task_id) = waiting_task(&llm, &github).await;
    assert!(waiting_since(&app, &task_id).is_some());
    let client = connect_as_alice(&app, API_KEY).await;

    // Act
    let answered = call(
        &client,
        "answer_task",
        json!({"task_id": task_id, "text": ANSWER}),
    )
    .await;
    let sent = app.drain().await;
    let ran = run_next(&app, &runner_of(&app)).await;

    // Assert: queued again with the answer, its wait over; nothing posted on the thread; the
    // next model call read the answer as alice's, given in Open WebUI.
    let said = text(&answered);
    assert_eq!(answered.is_error, Some(false), "{said}");
    let out = answered.structured_content.clone().expect("structured");
    assert_eq!(out["status"], "queued", "{out}");
    assert_eq!(out["answer"], "resumed", "{out}");
    assert!(out.get("posted").is_none(), "{out}");
    assert!(said.contains("queued to run again"), "{said}");
    assert_eq!(sent, 0, "not posted by default");
    assert_eq!(comments_on(&github, 70).await, ["Which OS?"]);
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    let answer = answer_as_read(&llm).await;
    assert!(
        answer.contains("An answer by `Alice Smith` was given in Open WebUI, not on the thread"),
        "{answer}"
    );
    let task = app.task(&task_id).await;
    assert_eq!(task["result"], RESULT, "{task}");
    let items = task["conversation"].as_array().expect("conversation");
    let reply = items
        .iter()
        .find(|i| i["content"] == ANSWER)
        .unwrap_or_else(|| panic!("{task}"));
    assert_eq!(reply["author"], "Alice Smith", "{reply}");
    assert_eq!(reply["via"], "openwebui", "{reply}");
    assert!(reply.get("event_id").is_none(), "{reply}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_second_answer_to_a_task_still_queued_says_it_waits_for_a_run_not_that_one_reads_it() {
    // Arrange: the first answer queued the task again; no run has taken it yet.
    let llm = fake_llm(vec![llm_asks("Which OS?"), llm_answer(RESULT)]).await;
    let github = fake_github().await;
    let (app, task_id) = waiting_task(&llm, &github).await;
    let client = connect_as_alice(&app, API_KEY).await;
    let first = json!({"task_id": task_id, "text": ANSWER});
    assert_eq!(
        call(&client, "answer_task", first).await.is_error,
        Some(false)
    );

    // Act
    let second = json!({"task_id": task_id, "text": "Also on Windows."});
    let answered = call(&client, "answer_task", second).await;

    // Assert: no run is under way, so none is said to read it.
    let said = text(&answered);
    let out = answered.structured_content.clone().expect("structured");
    assert_eq!(
        (out["status"].as_str(), out["answer"].as_str()),
        (Some("queued"), Some("joined")),
        "{out}"
    );
    assert!(
        said.contains("the run that takes it next reads your answer"),
        "{said}"
    );
    client.cancel().await.ok();
}

#[tokio::test]
async fn an_answer_posted_on_the_thread_carries_its_lead_and_coming_back_is_no_second_reply() {
    // Arrange: GitHub numbers the answer's comment 2 (the question's is 1).
    let llm = fake_llm(vec![llm_asks("Which OS?"), llm_answer(RESULT)]).await;
    let github = fake_github().await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/issues/70/comments"))
        .and(body_string_contains("Answered in Open WebUI"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 2})))
        .with_priority(1)
        .mount(&github)
        .await;
    let (app, task_id) = waiting_task(&llm, &github).await;
    let client = connect_as_alice(&app, API_KEY).await;

    // Act: answered with post; the comment goes out, and GitHub announces it.
    let answered = call(
        &client,
        "answer_task",
        json!({"task_id": task_id, "text": ANSWER, "post": true}),
    )
    .await;
    let sent = app.drain().await;
    let mut echo: Value =
        serde_json::from_str(&issue_comment(70, "Crash on start", "operator", "")).expect("json");
    echo["comment"]["id"] = json!(2);
    echo["comment"]["body"] = json!(format!(
        "Answered in Open WebUI by Alice Smith:\n\n{ANSWER}"
    ));
    let echo_id = accepted(
        app.post_github(
            "gh",
            "issue_comment",
            &delivery_id(),
            &echo.to_string(),
            crate::helpers::GH_SECRET,
        )
        .await,
    )
    .await;
    let ran = run_next(&app, &runner_of(&app)).await;

    // Assert: posted once, under its lead; its echo is the service's own post and joined
    // nothing; the model read the answer once.
    let said = text(&answered);
    assert_eq!(answered.is_error, Some(false), "{said}");
    let out = answered.structured_content.clone().expect("structured");
    assert_eq!(out["posted"]["action"], "comment", "{out}");
    assert!(said.contains("also posted"), "{said}");
    assert_eq!(sent, 1);
    assert_eq!(
        comments_on(&github, 70).await,
        [
            "Which OS?".to_string(),
            format!("Answered in Open WebUI by Alice Smith:\n\n{ANSWER}")
        ]
    );
    assert_eq!(app.event(&echo_id).await["status"], "own_post");
    let conversation = task_conversation(&app, &task_id);
    assert_eq!(conversation.matches(ANSWER).count(), 1, "{conversation}");
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    let user = user_messages(&llm, 1).await;
    assert_eq!(
        user.iter().filter(|m| m.contains(ANSWER)).count(),
        1,
        "{user:?}"
    );
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_task_that_waits_for_nothing_or_does_not_exist_is_refused_naming_why() {
    // Arrange: a task answered and done; another queued that asked nothing.
    let llm = fake_llm(vec![llm_answer(RESULT)]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let done_id = app
        .task_id_of(&open_issue(&app, 71, "Typo in README").await)
        .await;
    run_next(&app, &runner_of(&app)).await;
    assert_eq!(app.drain().await, 1, "its result went out");
    let queued_id = app
        .task_id_of(&open_issue(&app, 72, "Slow start").await)
        .await;
    let client = connect_as_alice(&app, API_KEY).await;

    // Act
    let done = call(
        &client,
        "answer_task",
        json!({"task_id": done_id, "text": ANSWER}),
    )
    .await;
    let queued = call(
        &client,
        "answer_task",
        json!({"task_id": queued_id, "text": ANSWER, "post": true}),
    )
    .await;
    let unknown = call(
        &client,
        "answer_task",
        json!({"task_id": "task_nope", "text": ANSWER}),
    )
    .await;
    let (rest_status, rest) = app
        .post_api(
            &format!("/api/tasks/{done_id}/answer"),
            &json!({"text": ANSWER}),
        )
        .await;
    let (missing_status, _) = app
        .post_api("/api/tasks/task_nope/answer", &json!({"text": ANSWER}))
        .await;
    let (empty_status, empty) = app
        .post_api(
            &format!("/api/tasks/{queued_id}/answer"),
            &json!({"text": "  "}),
        )
        .await;

    // Assert: each a tool error (or 409/404/400) saying why; nothing changed or posted.
    for (result, status) in [(&done, "is done"), (&queued, "is queued")] {
        assert_eq!(result.is_error, Some(true), "{}", text(result));
        assert!(text(result).contains(status), "{}", text(result));
        assert!(
            text(result).contains("waits for no answer"),
            "{}",
            text(result)
        );
    }
    assert_eq!(unknown.is_error, Some(true));
    assert!(text(&unknown).contains("not found"), "{}", text(&unknown));
    assert_eq!(rest_status, StatusCode::CONFLICT, "{rest}");
    assert!(
        rest["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("is done")),
        "{rest}"
    );
    assert_eq!(missing_status, StatusCode::NOT_FOUND);
    assert_eq!(empty_status, StatusCode::BAD_REQUEST, "{empty}");
    assert_eq!(app.task(&queued_id).await["conversation"], json!([]));
    assert_eq!(app.drain().await, 0, "nothing posted");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_read_key_may_not_answer_a_task_and_the_refusal_is_audited() {
    // Arrange
    let llm = fake_llm(vec![llm_asks("Which OS?"), llm_answer(RESULT)]).await;
    let github = fake_github().await;
    let (app, task_id) = waiting_task(&llm, &github).await;
    let (_, read) = create_key(&app, "dashboard", "read").await;
    let client = connect_as_alice(&app, &read).await;

    // Act
    let refused = call(
        &client,
        "answer_task",
        json!({"task_id": task_id, "text": ANSWER}),
    )
    .await;
    let (rest_status, _) = send_json(
        app.client
            .post(app.url(&format!("/api/tasks/{task_id}/answer")))
            .bearer_auth(&read)
            .json(&json!({"text": ANSWER})),
    )
    .await;

    // Assert: refused both ways, audited, and the task still waits.
    assert_eq!(refused.is_error, Some(true), "{}", text(&refused));
    assert!(text(&refused).contains("read-only"), "{}", text(&refused));
    assert_eq!(rest_status, StatusCode::FORBIDDEN);
    let entries = audit_entries(&app, "actor=dashboard").await;
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "mcp answer_task" && e["status"] == 403),
        "{entries:?}"
    );
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "waiting_reply", "{task}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn the_rest_twin_answers_as_the_key_posts_when_asked_and_is_audited() {
    // Arrange
    let llm = fake_llm(vec![llm_asks("Which OS?"), llm_answer(RESULT)]).await;
    let github = fake_github().await;
    let (app, task_id) = waiting_task(&llm, &github).await;
    let (_, admin) = create_key(&app, "ops", "admin").await;

    // Act
    let (status, answered) = send_json(
        app.client
            .post(app.url(&format!("/api/tasks/{task_id}/answer")))
            .bearer_auth(&admin)
            .json(&json!({"text": ANSWER, "post": true})),
    )
    .await;
    let sent = app.drain().await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{answered}");
    assert_eq!(answered["id"], json!(task_id), "{answered}");
    assert_eq!(answered["status"], "queued", "{answered}");
    assert_eq!(answered["answer"], "resumed", "{answered}");
    assert_eq!(answered["posted"]["task_id"], json!(task_id), "{answered}");
    assert_eq!(
        waiting_since(&app, &task_id),
        None,
        "the reply timeout stops"
    );
    assert_eq!(sent, 1);
    assert_eq!(
        comments_on(&github, 70).await[1],
        format!("Answered through the API by ops:\n\n{ANSWER}")
    );
    let reply = app.task(&task_id).await["conversation"]
        .as_array()
        .expect("conversation")
        .iter()
        .find(|i| i["content"] == ANSWER)
        .cloned()
        .expect("the answer");
    assert_eq!(
        (&reply["author"], &reply["via"]),
        (&json!("ops"), &json!("api"))
    );
    let entries = audit_entries(&app, "actor=ops").await;
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == format!("POST /api/tasks/{task_id}/answer")),
        "{entries:?}"
    );
}

#[tokio::test]
async fn an_external_agent_that_spoke_on_the_thread_is_shown_the_answer_before_it_completes() {
    // Arrange: brain claims the task and says something on its issue for it.
    let llm = fake_llm(vec![llm_answer("unused")]).await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, 73, "Which OS").await)
        .await;
    let client = connect_as_alice(&app, API_KEY).await;
    let claim = json!({"agent": "planning", "owner": "brain", "lease_secs": 60});
    assert_eq!(
        call(&client, "claim_task", claim).await.is_error,
        Some(false)
    );
    let said = json!({"task_id": task_id, "text": "Looking into it: which OS is this on?"});
    assert_eq!(call(&client, "comment", said).await.is_error, Some(false));
    app.drain().await;

    // Act: alice answers in the chat; brain then completes.
    let answered = call(
        &client,
        "answer_task",
        json!({"task_id": task_id, "text": ANSWER}),
    )
    .await;
    let complete = json!({"task_id": task_id, "owner": "brain", "result": "done"});
    let first = call(&client, "complete_task", complete.clone()).await;
    let second = call(&client, "complete_task", complete).await;

    // Assert: noted for brain, quoted once when it completes, as a reply on the thread is.
    assert_eq!(answered.is_error, Some(false), "{}", text(&answered));
    let out = answered.structured_content.clone().expect("structured");
    assert_eq!(out["answer"], "noted", "{out}");
    assert_eq!(out["status"], "running", "{out}");
    assert_eq!(first.is_error, Some(true), "{}", text(&first));
    assert!(text(&first).contains(ANSWER), "{}", text(&first));
    assert!(
        text(&first).contains("(given in Open WebUI)"),
        "{}",
        text(&first)
    );
    assert_eq!(second.is_error, Some(false), "{}", text(&second));
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_question_still_on_its_way_out_when_answered_is_not_posted_after_its_answer() {
    // Arrange: the model asks "Which OS?", and the question is still in the outbox (not sent)
    // when the person answers it from the chat; the next run asks something else.
    let llm = fake_llm(vec![
        llm_asks("Which OS?"),
        llm_asks("Which version?"),
        llm_answer(RESULT),
    ])
    .await;
    let github = fake_github().await;
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let event_id = open_issue(&app, 70, "Crash on start").await;
    let task_id = app.task_id_of(&event_id).await;
    assert_eq!(
        run_next(&app, &runner).await,
        Some((task_id.clone(), "waiting_reply".into()))
    );
    let client = connect_as_alice(&app, API_KEY).await;

    // Act
    let answered = call(
        &client,
        "answer_task",
        json!({"task_id": task_id, "text": ANSWER}),
    )
    .await;
    let ran = run_next(&app, &runner).await;
    app.drain().await;

    // Assert: only the second question reached the thread; the first ended dead, saying why.
    assert_eq!(answered.is_error, Some(false), "{}", text(&answered));
    assert_eq!(ran, Some((task_id.clone(), "waiting_reply".into())));
    let posted = comments_on(&github, 70).await;
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(posted[0].contains("Which version?"), "{posted:?}");
    let db = rusqlite::Connection::open(&app.db_path).expect("open the database");
    let first: (String, String) = db
        .query_row(
            "SELECT status, last_error FROM outbox WHERE task_id = ?1 AND action = 'ask' \
             ORDER BY created_at LIMIT 1",
            [&task_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the first question's action");
    assert_eq!(first.0, "dead");
    assert!(
        first.1.contains("answered before it was posted"),
        "{first:?}"
    );
    // A question dropped for its answer is no failure of the event.
    let (_, event) = app.get_json(&format!("/api/events/{event_id}")).await;
    assert_eq!(event["status"], "matched", "{event}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn an_answer_from_a_user_named_by_a_checked_token_is_shown_the_model_as_checked() {
    // Arrange: Open WebUI signs its user into a token with the secret the service shares.
    const JWT_SECRET: &str = "shared-with-open-webui";
    let llm = fake_llm(vec![llm_asks("Which OS?"), llm_answer(RESULT)]).await;
    let github = fake_github().await;
    let app = crate::helpers::agent_app_with(&llm, &github, |c| {
        c.openwebui_user_jwt_secret = Some(JWT_SECRET.into());
    })
    .await;
    let runner = runner_of(&app);
    let task_id = app
        .task_id_of(&open_issue(&app, 70, "Crash on start").await)
        .await;
    run_next(&app, &runner).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let claims = json!({"sub": "u-bob", "name": "Bob", "iss": "open-webui", "iat": now,
                        "exp": now + 300});
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()).expect("an HMAC key"),
    )
    .expect("token");

    // Act
    let (status, answered) = send_json(
        app.api(
            reqwest::Method::POST,
            &format!("/api/tasks/{task_id}/answer"),
        )
        .header("X-OpenWebUI-User-Jwt", token)
        .json(&json!({"text": ANSWER})),
    )
    .await;
    run_next(&app, &runner).await;

    // Assert: the model reads the name as checked, not as the caller's word.
    assert_eq!(status, StatusCode::OK, "{answered}");
    let answer = answer_as_read(&llm).await;
    assert!(
        answer.contains("An answer by `Bob` was given in Open WebUI, not on the thread"),
        "{answer}"
    );
    assert!(
        answer.contains("the account was checked against Open WebUI's signature"),
        "{answer}"
    );
    assert!(!answer.contains("caller's word"), "{answer}");
    let task = app.task(&task_id).await;
    let reply = task["conversation"]
        .as_array()
        .expect("conversation")
        .iter()
        .find(|i| i["content"] == ANSWER)
        .cloned()
        .unwrap_or_else(|| panic!("{task}"));
    assert_eq!(
        (&reply["author"], &reply["via"]),
        (&json!("Bob"), &json!("openwebui_signed"))
    );
}
