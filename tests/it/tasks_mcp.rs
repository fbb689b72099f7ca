//! An external agent works a task through the MCP tools alone: list_tasks, claim_task and
//! complete_task, against the running app and a fake GitHub.

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::helpers::{
    API_KEY, TestApp, agent_app, assert_error, chat_requests, comments_on, fake_github, fake_llm,
    issue_comment, llm_answer, open_issue, post_gh, set_lease_until,
};
use webhook_mcp::clock::now_ms;

type Client = RunningService<RoleClient, ()>;

async fn connect(app: &TestApp) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")).auth_header(API_KEY),
    );
    ().serve(transport).await.expect("MCP client connects")
}

/// Calls a tool; panics on a protocol error or a tool error.
async fn call_ok(client: &Client, tool: &str, args: Value) -> (String, Value) {
    let result: CallToolResult = client
        .call_tool(
            CallToolRequestParams::new(tool.to_string())
                .with_arguments(args.as_object().cloned().expect("object arguments")),
        )
        .await
        .unwrap_or_else(|e| panic!("{tool} failed at protocol level: {e}"));
    let text = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(result.is_error, Some(false), "{tool}: {text}");
    let structured = result
        .structured_content
        .clone()
        .unwrap_or_else(|| panic!("{tool}: no structured content: {text}"));
    (text, structured)
}

#[tokio::test]
async fn an_external_agent_lists_claims_and_completes_a_task_through_mcp_tools() {
    // Arrange
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let event_id = open_issue(&app, 21, "Dark mode toggle resets").await;
    let client = connect(&app).await;

    // Act: list
    let (listed, page) = call_ok(
        &client,
        "list_tasks",
        json!({"status": "queued", "agent": "planning"}),
    )
    .await;

    // Assert
    let tasks = page["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1, "{page}");
    let task_id = tasks[0]["id"].as_str().expect("task id").to_string();
    assert_eq!(tasks[0]["event_id"], json!(event_id));
    assert!(listed.contains(&task_id), "{listed}");
    assert!(listed.contains("[queued] planning"), "{listed}");
    assert!(
        listed.contains("Analyze issue: Dark mode toggle resets"),
        "{listed}"
    );

    // Act: claim
    let (said, claimed) = call_ok(
        &client,
        "claim_task",
        json!({"agent": "planning", "owner": "brain", "lease_secs": 60}),
    )
    .await;

    // Assert: the task comes with its event's payload
    assert_eq!(claimed["task"]["id"], json!(task_id), "{claimed}");
    assert_eq!(claimed["task"]["status"], "running");
    assert_eq!(claimed["event"]["id"], json!(event_id));
    let payload = &claimed["event"]["payload"];
    assert_eq!(
        payload["issue"]["title"], "Dark mode toggle resets",
        "{claimed}"
    );
    assert_eq!(payload["issue"]["number"], 21);
    assert!(said.contains(&task_id), "{said}");

    // Act: the owner claims again, as after a claim whose answer it never read
    let (again, held) = call_ok(&client, "claim_task", json!({"owner": "brain"})).await;

    // Assert: nothing new, and told which task it holds
    assert_eq!(held["task"], Value::Null, "{held}");
    assert_eq!(held["held"][0]["id"], json!(task_id), "{held}");
    assert!(
        again.contains(&task_id) && again.contains("already holds"),
        "{again}"
    );
    // The log names the task the claim took, and no task for the claim that took none.
    let claims: Vec<Value> = crate::keys::audit_entries(&app, "")
        .await
        .into_iter()
        .filter(|e| e["action"] == "mcp claim_task")
        .map(|e| e["target"].clone())
        .collect();
    assert_eq!(claims, [Value::Null, json!(task_id)], "newest first");

    // Act: another caller, or one that leaves the owner out, may not complete it
    for other in [json!({}), json!({"owner": "intruder"})] {
        let mut args = json!({"task_id": task_id, "result": "hijacked"});
        args.as_object_mut()
            .expect("object")
            .extend(other.as_object().expect("object").clone());
        let refused = client
            .call_tool(
                CallToolRequestParams::new("complete_task")
                    .with_arguments(args.as_object().cloned().expect("object")),
            )
            .await
            .expect("answered");
        let text = format!("{:?}", refused.content);
        assert_eq!(refused.is_error, Some(true), "{other}: {text}");
        assert!(text.contains("claimed by `brain`"), "{text}");
    }

    // Act: the owner, with an empty result to post
    let empty = client
        .call_tool(
            CallToolRequestParams::new("complete_task").with_arguments(
                json!({"task_id": task_id, "owner": "brain", "result": "  ", "post_result": true})
                    .as_object()
                    .cloned()
                    .expect("object"),
            ),
        )
        .await
        .expect("answered");
    let text = format!("{:?}", empty.content);
    assert_eq!(empty.is_error, Some(true), "{text}");
    assert!(text.contains("the result is empty"), "{text}");

    // Act: complete with the result posted on the issue
    let (said, done) = call_ok(
        &client,
        "complete_task",
        json!({"task_id": task_id, "owner": "brain", "post_result": true,
               "result": "Plan: store the toggle in localStorage."}),
    )
    .await;
    let sent = app.drain().await;

    // Assert: the answer names the action that posts the result, which get_action follows
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["result"], "Plan: store the toggle in localStorage.");
    assert!(said.contains("done"), "{said}");
    let action_id = done["posted"]["id"]
        .as_str()
        .expect("the posting action")
        .to_string();
    assert!(said.contains(&format!("action `{action_id}`")), "{said}");
    assert_eq!(sent, 1);
    assert_eq!(
        comments_on(&github, 21).await,
        ["Plan: store the toggle in localStorage."]
    );
    let (_, action) = call_ok(&client, "get_action", json!({"action_id": action_id})).await;
    assert_eq!(action["status"], "delivered", "{action}");
    assert_eq!(action["task_id"], task_id.as_str(), "{action}");
    // ... and the task's actions list it; a task id that names no task is an error.
    let (_, of_task) = call_ok(&client, "list_actions", json!({"task_id": task_id})).await;
    assert_eq!(of_task["actions"][0]["id"], action_id.as_str(), "{of_task}");
    let unknown = call_err(&client, "list_actions", json!({"task_id": "task_nope"})).await;
    assert!(unknown.contains("task `task_nope` not found"), "{unknown}");
    assert!(
        chat_requests(&llm).await.is_empty(),
        "the runner was not involved"
    );

    // Act: nothing left to claim
    let (said, empty) = call_ok(&client, "claim_task", json!({"owner": "brain"})).await;

    // Assert: said plainly, not an error
    assert_eq!(empty, json!({"task": null, "held": []}));
    assert!(said.contains("No queued task"), "{said}");

    // Act: a completion whose answer was lost, made again
    let again = call_err(
        &client,
        "complete_task",
        json!({"task_id": task_id, "owner": "brain", "post_result": true,
               "result": "Plan: store the toggle in localStorage."}),
    )
    .await;

    // Assert: refused, with where to read what the first one kept and sent
    assert!(
        again.contains(
            "is done; it was not changed (get_task shows its result and the actions it sent)"
        ),
        "{again}"
    );
    assert_eq!(app.drain().await, 0, "the result is not posted again");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_reply_queues_an_external_agents_task_for_any_agent_as_before_its_first_claim() {
    // Arrange: alice claims the task and asks a question on it.
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, 22, "Which OS").await)
        .await;
    let client = connect(&app).await;
    let claim = |owner: &str| json!({"agent": "planning", "owner": owner, "lease_secs": 60});
    call_ok(&client, "claim_task", claim("alice")).await;
    call_ok(
        &client,
        "ask",
        json!({"task_id": task_id, "question": "Which OS?", "owner": "alice"}),
    )
    .await;
    app.drain().await;

    // Act: the reply comes and queues the task again; bob completes it (shown the answer
    // first, as he did not claim it).
    let reply = post_gh(
        &app,
        "issue_comment",
        &issue_comment(22, "Which OS", "carol", "Linux"),
    )
    .await;
    // The reply made no task of its own, and says which it answered.
    let replied = app.event(&reply).await;
    assert_eq!(replied["tasks"], json!([]), "{replied}");
    assert_eq!(replied["answered_tasks"], json!([task_id]), "{replied}");
    let complete = json!({"task_id": task_id, "owner": "bob", "result": "Linux it is"});
    let shown = call_err(&client, "complete_task", complete.clone()).await;
    let (_, done) = call_ok(&client, "complete_task", complete).await;

    // Assert: a queued task is anyone's, as before its first claim; alice's ended with her
    // question.
    assert!(shown.contains("`carol`"), "{shown}");
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["result"], "Linux it is");
    client.cancel().await.ok();
}

#[tokio::test]
async fn asking_for_a_task_another_owner_holds_is_refused_and_leaves_their_claim() {
    // Arrange: alice holds the task.
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, 24, "Which OS").await)
        .await;
    let client = connect(&app).await;
    let claim = json!({"agent": "planning", "owner": "alice", "lease_secs": 60});
    call_ok(&client, "claim_task", claim).await;

    // Act: mallory asks for it, and then tries to complete it.
    let ask = json!({"task_id": task_id, "question": "Ship it?", "owner": "mallory"});
    let refused = call_err(&client, "ask", ask).await;
    let unnamed = call_err(
        &client,
        "ask",
        json!({"task_id": task_id, "question": "Ship it?"}),
    )
    .await;
    let complete = json!({"task_id": task_id, "owner": "mallory", "result": "shipped"});
    let not_completed = call_err(&client, "complete_task", complete).await;
    let sent = app.drain().await;

    // Assert: asked by another owner (or the default `mcp`), nothing is posted and alice
    // keeps the task.
    for said in [&refused, &unnamed] {
        assert!(said.contains("claimed by `alice` until"), "{said}");
        assert!(said.contains("Give `owner`"), "{said}");
    }
    assert!(not_completed.contains("alice"), "{not_completed}");
    assert_eq!(sent, 0);
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "running", "{task}");
    assert_eq!(task["claimed_by"], "alice", "{task}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn asking_for_a_task_under_another_agent_is_refused_and_under_its_own_is_queued() {
    // Arrange: the task is `planning`'s.
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, 23, "Which OS").await)
        .await;
    let client = connect(&app).await;

    // Act
    let other = call_err(
        &client,
        "ask",
        json!({"task_id": task_id, "question": "Which OS?", "agent": "brain"}),
    )
    .await;
    let (_, own) = call_ok(
        &client,
        "ask",
        json!({"task_id": task_id, "question": "Which OS?", "agent": "planning"}),
    )
    .await;

    // Assert: the answer would have gone to `planning` unseen by `brain`, so it is said.
    assert!(
        other.contains("agent") && other.contains("`planning`"),
        "{other}"
    );
    assert_eq!(own["task_id"], task_id.as_str(), "{own}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_result_that_cannot_be_posted_is_refused_and_the_task_stays_claimed() {
    // Arrange: no GitHub token anywhere, in a process that sends (its worker on); a claimed
    // task about an opened issue.
    let app = crate::helpers::spawn_app().await;
    app.github_webhook("gh", crate::helpers::GH_SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning"}),
    )
    .await;
    open_issue(&app, 4, "Crash on save").await;
    let client = connect(&app).await;
    let (_, claimed) = call_ok(&client, "claim_task", json!({"owner": "brain"})).await;
    let task_id = claimed["task"]["id"].as_str().expect("task id").to_string();

    // Act
    let refused = client
        .call_tool(
            CallToolRequestParams::new("complete_task").with_arguments(
                json!({"task_id": task_id, "owner": "brain", "result": "Fixed in #5",
                       "post_result": true})
                .as_object()
                .cloned()
                .expect("object"),
            ),
        )
        .await
        .expect("answered");
    let still = app.task(&task_id).await;
    let (_, done) = call_ok(
        &client,
        "complete_task",
        json!({"task_id": task_id, "owner": "brain", "result": "Fixed in #5"}),
    )
    .await;

    // Assert
    let text = format!("{:?}", refused.content);
    assert_eq!(refused.is_error, Some(true), "{text}");
    assert!(text.contains("GITHUB_TOKEN"), "{text}");
    assert!(text.contains("post_result: false"), "{text}");
    assert_eq!(still["status"], "running", "{still}");
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(app.drain().await, 0);
    client.cancel().await.ok();
}

/// Calls a tool that must fail as a tool error; its text.
async fn call_err(client: &Client, tool: &str, args: Value) -> String {
    let result: CallToolResult = client
        .call_tool(
            CallToolRequestParams::new(tool.to_string())
                .with_arguments(args.as_object().cloned().expect("object arguments")),
        )
        .await
        .unwrap_or_else(|e| panic!("{tool} failed at protocol level: {e}"));
    let text = format!("{:?}", result.content);
    assert_eq!(result.is_error, Some(true), "{tool}: {text}");
    text
}

/// Every action waiting to be tried again made due now.
async fn make_retries_due(app: &TestApp) {
    app.state
        .store
        .write(|db| {
            db.execute("UPDATE outbox SET next_attempt_at = 0", [])?;
            Ok(())
        })
        .await
        .expect("make the retries due");
}

/// An app whose `issues.opened` makes `planning` tasks, on a fake GitHub that refuses the
/// first comment on issue `number` (500) and takes the rest; a refused post waits an hour.
async fn app_whose_first_post_on_issue_fails(number: u64) -> (wiremock::MockServer, TestApp) {
    let github = wiremock::MockServer::start().await;
    let at = &format!("/repos/octo/app/issues/{number}/comments");
    crate::helpers::answer_once(&github, at, wiremock::ResponseTemplate::new(500)).await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(at))
        .respond_with(wiremock::ResponseTemplate::new(201).set_body_json(json!({"id": number})))
        .mount(&github)
        .await;
    let app = crate::helpers::spawn_manual(|c| {
        crate::helpers::use_github(&github)(c);
        c.retry_schedule = vec!["1h".into()];
    })
    .await;
    app.github_webhook("gh", crate::helpers::GH_SECRET).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning"}),
    )
    .await;
    (github, app)
}

#[tokio::test]
async fn completing_a_task_drops_its_question_still_to_be_posted_and_posts_the_result() {
    // Arrange: GitHub refuses the question an external agent asks on its task, so the
    // question waits an hour for its retry.
    let (github, app) = app_whose_first_post_on_issue_fails(31).await;
    let event_id = open_issue(&app, 31, "Which OS").await;
    let client = connect(&app).await;
    let (_, claimed) = call_ok(&client, "claim_task", json!({"owner": "brain"})).await;
    let task_id = claimed["task"]["id"].as_str().expect("task id").to_string();
    let (_, asked) = call_ok(
        &client,
        "ask",
        json!({"task_id": task_id, "question": "Which OS?", "owner": "brain"}),
    )
    .await;
    let question_id = asked["id"].as_str().expect("action id").to_string();
    assert_eq!(app.drain().await, 1, "the refused first attempt");

    // Act: the agent completes the task with its result posted; then every retry comes due.
    let (_, done) = call_ok(
        &client,
        "complete_task",
        json!({"task_id": task_id, "owner": "brain", "post_result": true,
               "result": "Works on every OS."}),
    )
    .await;
    make_retries_due(&app).await;
    app.drain().await;

    // Assert: the result is posted, the question is not (after it, or at all).
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(
        comments_on(&github, 31).await,
        ["Which OS?", "Works on every OS."],
        "the refused question, then the result alone"
    );
    let (_, question) = app.get_json(&format!("/api/actions/{question_id}")).await;
    assert_eq!(question["status"], "dead", "{question}");
    assert_eq!(
        question["last_error"], "the task was completed",
        "{question}"
    );
    assert_eq!(app.event(&event_id).await["status"], "done", "not failed");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_replay_does_not_post_a_question_dropped_when_its_task_was_completed() {
    // Arrange: an `ask` command's question is refused for now, and the task is completed
    // before it goes out, which drops it.
    let (github, app) = app_whose_first_post_on_issue_fails(33).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "ask", "agent": "brain",
               "template": "Which OS?"}),
    )
    .await;
    let event_id = open_issue(&app, 33, "Crash").await;
    assert_eq!(app.drain().await, 1, "the refused question");
    let (_, event) = app.get_json(&format!("/api/events/{event_id}")).await;
    let asking = event["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["agent"] == "brain")
        .expect("the question's task")["id"]
        .as_str()
        .expect("task id")
        .to_string();
    let (status, done) = app
        .post_api(
            &format!("/api/tasks/{asking}/complete"),
            &json!({"result": "Done without asking."}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{done}");

    // Act: the event replayed, and every retry made due.
    let (_, replayed) = app
        .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
        .await;
    make_retries_due(&app).await;
    app.drain().await;

    // Assert: the question stays unsent, and the replay says why.
    assert!(replayed.to_string().contains("not_needed"), "{replayed}");
    assert_eq!(
        comments_on(&github, 33).await,
        ["Which OS?"],
        "only the refused try"
    );
}

#[tokio::test]
async fn get_task_shows_a_task_whole_and_cancel_task_cancels_it_as_rest_does() {
    // Arrange: an external agent claims the task and finds it is not for it.
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, 32, "Dark mode\nsecond line").await)
        .await;
    let client = connect(&app).await;
    call_ok(&client, "claim_task", json!({"owner": "brain"})).await;

    // Act
    let (said, shown) = call_ok(&client, "get_task", json!({"task_id": task_id})).await;
    let (cancel_said, cancelled) =
        call_ok(&client, "cancel_task", json!({"task_id": task_id})).await;
    let again = call_err(&client, "cancel_task", json!({"task_id": task_id})).await;
    let missing = call_err(&client, "get_task", json!({"task_id": "task_nope"})).await;

    // Assert: the task as REST shows it; cancelled as REST cancels it.
    assert_eq!(shown["id"], json!(task_id), "{shown}");
    assert_eq!(shown["status"], "running");
    assert!(
        shown["prompt"]
            .as_str()
            .unwrap_or_default()
            .contains("second line"),
        "the whole prompt: {shown}"
    );
    assert!(shown["conversation"].is_array(), "{shown}");
    assert!(
        said.contains(&task_id) && said.contains("running"),
        "{said}"
    );
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert!(cancel_said.contains("Cancelled"), "{cancel_said}");
    assert_eq!(app.task(&task_id).await["status"], "cancelled");
    assert!(
        again.contains("is cancelled and cannot be cancelled"),
        "{again}"
    );
    assert!(missing.contains("task_nope"), "{missing}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_read_key_may_get_a_task_but_not_cancel_it() {
    // Arrange
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app.task_id_of(&open_issue(&app, 33, "Read").await).await;
    let (_, read) = crate::keys::create_key(&app, "watcher", "read").await;
    let client = crate::keys::connect(&app, &read).await;

    // Act
    let (_, shown) = call_ok(&client, "get_task", json!({"task_id": task_id})).await;
    let refused = call_err(&client, "cancel_task", json!({"task_id": task_id})).await;

    // Assert
    assert_eq!(shown["id"], json!(task_id));
    assert!(refused.contains("read-only"), "{refused}");
    assert_eq!(app.task(&task_id).await["status"], "queued");
    client.cancel().await.ok();
}

#[tokio::test]
async fn list_tasks_shows_each_task_in_brief_and_get_task_has_it_whole() {
    // Arrange: a task completed with a long result.
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app.task_id_of(&open_issue(&app, 34, "Long").await).await;
    let client = connect(&app).await;
    let long = "word ".repeat(40_000);
    call_ok(
        &client,
        "complete_task",
        json!({"task_id": task_id, "result": long}),
    )
    .await;

    // Act
    let (listed, page) = call_ok(&client, "list_tasks", json!({})).await;

    // Assert: the list is short; the task itself keeps everything.
    let brief = &page["tasks"][0];
    assert_eq!(brief["id"], json!(task_id), "{page}");
    assert_eq!(brief["status"], "done");
    let preview = brief["result"].as_str().expect("a result preview");
    assert!(
        preview.chars().count() <= 201 && preview.ends_with('…'),
        "{preview}"
    );
    assert!(brief.get("conversation").is_none(), "{brief}");
    assert_eq!(
        brief["prompt"], "Analyze issue: Long",
        "the first line: {brief}"
    );
    assert!(
        page.to_string().len() < 2_000,
        "{} bytes",
        page.to_string().len()
    );
    assert!(listed.len() < 1_000, "{listed}");
    let (_, whole) = call_ok(&client, "get_task", json!({"task_id": task_id})).await;
    assert_eq!(whole["result"].as_str().map(str::len), Some(long.len()));
    // By its event, as GET /api/tasks?event_id= lists them.
    let event_id = whole["event_id"].as_str().expect("event_id");
    let other = open_issue(&app, 35, "Other").await;
    for (event, want) in [(event_id, json!([task_id])), (other.as_str(), json!([]))] {
        let (_, page) = call_ok(
            &client,
            "list_tasks",
            json!({"event_id": event, "status": "done"}),
        )
        .await;
        let ids: Vec<Value> = page["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .map(|t| t["id"].clone())
            .collect();
        assert_eq!(json!(ids), want, "{event}: {page}");
    }
    client.cancel().await.ok();
}

/// An app whose task alice claimed, asked on ("Which OS?"), had answered by carol, and
/// claimed again; then dave replied on the thread while she held it. The app, the client
/// and the task's id.
async fn claimed_task_with_a_reply_unseen(
    llm: &wiremock::MockServer,
    github: &wiremock::MockServer,
) -> (TestApp, Client, String) {
    let app = agent_app(llm, github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, 23, "Which OS").await)
        .await;
    let client = connect(&app).await;
    let claim = json!({"agent": "planning", "owner": "alice", "lease_secs": 60});
    call_ok(&client, "claim_task", claim.clone()).await;
    call_ok(
        &client,
        "ask",
        json!({"task_id": task_id, "question": "Which OS?", "owner": "alice"}),
    )
    .await;
    app.drain().await;
    let comment = |login: &str, body: &str| issue_comment(23, "Which OS", login, body);
    post_gh(&app, "issue_comment", &comment("carol", "Linux")).await;
    let (_, claimed) = call_ok(&client, "claim_task", claim).await;
    assert_eq!(claimed["task"]["id"], json!(task_id), "{claimed}");
    post_gh(&app, "issue_comment", &comment("dave", "Only on Fedora 41")).await;
    (app, client, task_id)
}

#[tokio::test]
async fn a_claim_taking_a_lapsed_task_shows_the_replies_its_last_holder_had_not_seen() {
    // Arrange: dave replied while alice held the task; her lease then lapsed.
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let (app, client, task_id) = claimed_task_with_a_reply_unseen(&llm, &github).await;
    set_lease_until(&app, &task_id, now_ms() - 1_000);

    // Act: bob claims it, and completes it at once.
    let claim = json!({"agent": "planning", "owner": "bob", "lease_secs": 60});
    let (_, claimed) = call_ok(&client, "claim_task", claim).await;
    let complete = json!({"task_id": task_id, "owner": "bob", "result": "Fedora only"});
    let (_, done) = call_ok(&client, "complete_task", complete).await;

    // Assert: the claim showed dave's reply as one of the conversation's, and it counts seen.
    assert_eq!(claimed["task"]["id"], json!(task_id), "{claimed}");
    let shown = claimed["task"]["conversation"].to_string();
    assert!(shown.contains("Only on Fedora 41"), "{shown}");
    assert_eq!(done["status"], "done", "{done}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn completing_a_task_with_a_reply_it_has_not_seen_is_refused_once_quoting_the_reply() {
    // Arrange
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let (app, client, task_id) = claimed_task_with_a_reply_unseen(&llm, &github).await;
    let complete = json!({"task_id": task_id, "owner": "alice", "result": "Linux it is"});

    // Act
    let refused = call_err(&client, "complete_task", complete.clone()).await;
    let still = app.task(&task_id).await;
    let (_, done) = call_ok(&client, "complete_task", complete).await;

    // Assert: the reply it had not seen, by whom, and what to do; the second call completes.
    assert!(refused.contains("`dave`"), "{refused}");
    assert!(refused.contains("Only on Fedora 41"), "{refused}");
    assert!(
        !refused.contains("carol"),
        "only the unseen reply: {refused}"
    );
    assert!(refused.contains("call complete_task again"), "{refused}");
    assert_eq!(still["status"], "running", "{still}");
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["result"], "Linux it is");
    let replies: Vec<&Value> = done["conversation"]
        .as_array()
        .expect("conversation")
        .iter()
        .filter(|item| item["role"] == "user")
        .collect();
    assert_eq!(replies.len(), 2, "{done}");
    assert_eq!(replies[1]["author"], "dave", "{done}");
    assert_eq!(replies[1].get("mid_run"), None, "seen: {done}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn over_rest_the_refusal_for_an_unseen_reply_names_the_rest_call_to_make_again() {
    use reqwest::{Method, StatusCode};

    // Arrange
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let (app, client, task_id) = claimed_task_with_a_reply_unseen(&llm, &github).await;
    let path = format!("/api/tasks/{task_id}/complete");
    let complete = || {
        crate::helpers::send_json(
            app.api(Method::POST, &path)
                .json(&json!({"owner": "alice", "result": "Linux it is"})),
        )
    };

    // Act
    let (status, refused) = complete().await;
    let (done_status, done) = complete().await;

    // Assert: the REST route is named, not the MCP tool; the second call completes.
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Only on Fedora 41"), "{message}");
    assert!(
        message.contains(&format!("call POST /api/tasks/{task_id}/complete again")),
        "{message}"
    );
    assert!(!message.contains("complete_task"), "{message}");
    assert_eq!(done_status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "done", "{done}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn get_task_shows_its_agent_a_reply_that_came_while_claimed_and_counts_it_seen() {
    // Arrange
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let (app, client, task_id) = claimed_task_with_a_reply_unseen(&llm, &github).await;
    let (_, read) = crate::keys::create_key(&app, "watcher", "read").await;
    let watcher = crate::keys::connect(&app, &read).await;
    let get = json!({"task_id": task_id, "owner": "alice"});

    // Act: a read key looks first (a dashboard), and a person with the agent's key naming
    // no owner; then the agent, twice; then it completes.
    let (watched, _) = call_ok(&watcher, "get_task", get.clone()).await;
    let (looked, _) = call_ok(&client, "get_task", json!({"task_id": task_id})).await;
    let (shown, _) = call_ok(&client, "get_task", get.clone()).await;
    let (again, _) = call_ok(&client, "get_task", get).await;
    let (_, done) = call_ok(
        &client,
        "complete_task",
        json!({"task_id": task_id, "owner": "alice", "result": "Fedora only"}),
    )
    .await;

    // Assert
    let note = "came on its thread while it was claimed";
    assert!(
        !watched.contains(note),
        "a read key's look is no agent's: {watched}"
    );
    assert!(
        !looked.contains(note),
        "a look as another owner is not the claimer's: {looked}"
    );
    assert!(shown.contains(note), "{shown}");
    assert!(shown.contains("`dave`"), "{shown}");
    assert!(shown.contains("Only on Fedora 41"), "{shown}");
    assert!(!again.contains(note), "shown once: {again}");
    assert_eq!(done["status"], "done", "{done}");
    watcher.cancel().await.ok();
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_question_dropped_by_completing_its_task_is_not_sent_by_a_retry() {
    // Arrange: GitHub refuses an external agent's question, which waits an hour for its
    // retry; the agent completes the task meanwhile, which drops the question.
    let (github, app) = app_whose_first_post_on_issue_fails(32).await;
    open_issue(&app, 32, "Which OS").await;
    let client = connect(&app).await;
    let (_, claimed) = call_ok(&client, "claim_task", json!({"owner": "brain"})).await;
    let task_id = claimed["task"]["id"].as_str().expect("task id").to_string();
    let (_, asked) = call_ok(
        &client,
        "ask",
        json!({"task_id": task_id, "question": "Which OS?", "owner": "brain"}),
    )
    .await;
    let question_id = asked["id"].as_str().expect("action id").to_string();
    app.drain().await;
    call_ok(
        &client,
        "complete_task",
        json!({"task_id": task_id, "owner": "brain", "result": "Works everywhere."}),
    )
    .await;

    // Act: the retry tool, and the REST retry.
    let refused = call_err(&client, "retry_action", json!({"action_id": question_id})).await;
    let (status, body) = app
        .post_api(&format!("/api/actions/{question_id}/retry"), &json!({}))
        .await;
    app.drain().await;

    // Assert: refused with why; the question stays dead and is never posted.
    assert!(refused.contains("completed"), "{refused}");
    assert_eq!(status, reqwest::StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("completed")),
        "{body}"
    );
    let (_, question) = app.get_json(&format!("/api/actions/{question_id}")).await;
    assert_eq!(question["status"], "dead", "{question}");
    assert_eq!(
        comments_on(&github, 32).await,
        ["Which OS?"],
        "only the refused first attempt"
    );
    assert_eq!(app.task(&task_id).await["status"], "done");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_correction_posted_while_an_external_agent_works_is_shown_to_it_before_it_completes() {
    // Arrange: comments on the issue make a `brain` task; executor-bot claims the `planning`
    // task, and says on the issue that it is on it after dave's first comment.
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issue_comment.created", "action": "create_task", "agent": "brain"}),
    )
    .await;
    let task_id = app
        .task_id_of(&open_issue(&app, 36, "Refund rounding").await)
        .await;
    let client = connect(&app).await;
    let claim = json!({"agent": "planning", "owner": "executor-bot", "lease_secs": 60});
    call_ok(&client, "claim_task", claim).await;
    let comment = |login: &str, body: &str| issue_comment(36, "Refund rounding", login, body);
    post_gh(&app, "issue_comment", &comment("dave", "Same here")).await;
    call_ok(
        &client,
        "comment",
        json!({"task_id": task_id, "text": "Working on it"}),
    )
    .await;
    app.drain().await;

    // Act: carol corrects it while it works; it completes.
    let correction = "do NOT touch the payments module";
    let corrected = post_gh(&app, "issue_comment", &comment("carol", correction)).await;
    let complete = json!({"task_id": task_id, "owner": "executor-bot", "result": "Done"});
    let refused = call_err(&client, "complete_task", complete.clone()).await;
    let (_, done) = call_ok(&client, "complete_task", complete).await;

    // Assert: the correction is quoted once, then kept as seen; dave's, before anything was
    // said for the task, is not the task's.
    assert!(refused.contains("`carol`"), "{refused}");
    assert!(refused.contains(correction), "{refused}");
    assert!(!refused.contains("Same here"), "{refused}");
    assert_eq!(done["status"], "done", "{done}");
    let replies: Vec<&Value> = done["conversation"]
        .as_array()
        .expect("conversation")
        .iter()
        .filter(|item| item["role"] == "user")
        .collect();
    assert_eq!(replies.len(), 1, "{done}");
    assert_eq!(replies[0]["content"], correction, "{done}");
    assert_eq!(replies[0].get("mid_run"), None, "seen: {done}");
    // It answered no question: the comment still started the agent its command names.
    let started = app.tasks(&format!("event_id={corrected}")).await;
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["agent"], "brain", "{started:?}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_claim_for_an_agent_named_with_a_control_character_is_refused_naming_agent() {
    use reqwest::StatusCode;

    // Arrange: the name once went into the claim's SQL text, where a NUL cut it short
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let event_id = open_issue(&app, 31, "Export hangs").await;
    let client = connect(&app).await;
    let claim = |agent: &str| json!({"agent": agent, "owner": "brain"});

    // Act
    let nul = app.post_api("/api/tasks/claim", &claim("a\u{0}b")).await;
    let line_break = app.post_api("/api/tasks/claim", &claim("planning\n")).await;
    let nul_mcp = crate::mcp::call(&client, "claim_task", claim("planning\u{0}")).await;
    let quoted = app.post_api("/api/tasks/claim", &claim("o'neil")).await;
    let (_, claimed) = call_ok(&client, "claim_task", claim("planning")).await;

    // Assert: refused as the caller's slip, as is a quote: no task's agent has one
    for refused in [&nul, &line_break, &quoted] {
        assert_error(refused, StatusCode::BAD_REQUEST, Some("agent"));
    }
    let said = crate::mcp::text(&nul_mcp);
    assert_eq!(nul_mcp.is_error, Some(true), "{said}");
    assert!(
        said.contains("agent must not contain control characters"),
        "{said}"
    );
    assert_eq!(claimed["event"]["id"], json!(event_id), "{claimed}");
}

#[tokio::test]
async fn an_ask_says_who_goes_on_with_the_task_once_it_is_answered() {
    // Arrange: the built-in runner on, running the declared agents (`planning` and `brain`).
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = crate::helpers::agent_app_with(&llm, &github, |config| {
        config.agents.runner = true;
    })
    .await;
    let event_id = open_issue(&app, 31, "Crash on save").await;
    let client = connect(&app).await;

    // Act: an ask for the default agent, and one for a name the runner does not run.
    let (for_brain, _) = call_ok(
        &client,
        "ask",
        json!({"event_id": event_id, "question": "Which version?"}),
    )
    .await;
    let (for_ext, asked) = call_ok(
        &client,
        "ask",
        json!({"event_id": event_id, "question": "Which OS?", "agent": "ext"}),
    )
    .await;

    // Assert: the model that asks is told the runner takes the first answer, not it, and
    // how to take one itself.
    assert!(
        for_brain.contains("this server's built-in runner runs agent `brain` on the task"),
        "{for_brain}"
    );
    assert!(for_brain.contains("claim_task"), "{for_brain}");
    assert!(
        for_ext.contains("the task is queued for an agent to claim as `ext`"),
        "{for_ext}"
    );
    assert!(
        for_brain.contains("asking it again would post it twice"),
        "{for_brain}"
    );
    assert!(!for_brain.contains("Warning"), "{for_brain}");
    assert!(asked["note"].to_string().contains("`ext`"), "{asked}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_claimed_task_shows_who_holds_it_until_it_ends() {
    // Arrange
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, 41, "Slow search").await)
        .await;
    let client = connect(&app).await;

    // Act
    call_ok(
        &client,
        "claim_task",
        json!({"agent": "planning", "owner": "alice"}),
    )
    .await;
    let (_, held) = call_ok(&client, "get_task", json!({"task_id": task_id})).await;
    let (_, listed) = call_ok(&client, "list_tasks", json!({"status": "running"})).await;
    call_ok(
        &client,
        "complete_task",
        json!({"task_id": task_id, "owner": "alice", "result": "Indexed"}),
    )
    .await;
    let (_, ended) = call_ok(&client, "get_task", json!({"task_id": task_id})).await;

    // Assert
    assert_eq!(held["claimed_by"], "alice", "{held}");
    assert_eq!(listed["tasks"][0]["claimed_by"], "alice", "{listed}");
    assert!(ended.get("claimed_by").is_none(), "{ended}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_claim_for_an_agent_with_no_task_names_the_agents_whose_tasks_are_queued() {
    // Arrange: one `planning` task is queued.
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    open_issue(&app, 26, "Queued for planning").await;
    let client = connect(&app).await;

    // Act: a mistyped name, one no task can have, and over REST the mistyped one again
    let (said, empty) = call_ok(&client, "claim_task", json!({"agent": "planing"})).await;
    let not_a_name = call_err(&client, "claim_task", json!({"agent": "bad name!"})).await;
    let (status, rest) = app
        .post_api("/api/tasks/claim", &json!({"agent": "planing"}))
        .await;

    // Assert: no claim, but the agent that has work is named; a malformed name is refused.
    assert!(empty["task"].is_null(), "{empty}");
    assert!(
        said.contains("No task of agent `planing` is queued, but tasks of `planning` (1) are"),
        "{said}"
    );
    assert!(not_a_name.contains("is not an agent name"), "{not_a_name}");
    assert_eq!(status, reqwest::StatusCode::OK, "{rest}");
    assert!(rest["task"].is_null(), "{rest}");
    let others = rest["others_queued"].as_str().expect("others_queued");
    assert!(others.contains("`planning` (1)"), "{others}");
    assert_eq!(
        app.tasks("status=queued").await.len(),
        1,
        "nothing was claimed"
    );
    client.cancel().await.ok();
}

#[tokio::test]
async fn completing_a_task_failed_with_post_result_says_nothing_was_posted() {
    // Arrange
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, 27, "Cannot be done").await)
        .await;
    let client = connect(&app).await;

    // Act
    let complete = json!({"task_id": task_id, "result": "no access to the repo",
                          "failed": true, "post_result": true});
    let (said, failed) = call_ok(&client, "complete_task", complete).await;
    let sent = app.drain().await;

    // Assert: failed, nothing posted, and the caller told so with what to do instead
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(sent, 0);
    assert!(comments_on(&github, 27).await.is_empty());
    assert!(said.contains("nothing was posted"), "{said}");
    assert!(said.contains("comment with task_id"), "{said}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_tasks_brief_names_the_command_that_made_it_as_its_whole_view_does() {
    // Arrange: the `gh` command makes a task for an opened issue.
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let event_id = open_issue(&app, 31, "Export is slow").await;
    let client = connect(&app).await;

    // Act
    let (_, listed) = call_ok(&client, "list_tasks", json!({"event_id": event_id})).await;
    let over_rest = app.tasks(&format!("event_id={event_id}")).await;
    let task_id = listed["tasks"][0]["id"].as_str().expect("task id");
    let (_, whole) = call_ok(&client, "get_task", json!({"task_id": task_id})).await;

    // Assert: the brief, over MCP and REST, names the command get_task and the event name.
    let command_id = whole["command_id"].as_str().expect("the command's id");
    assert!(command_id.starts_with("cmd_"), "{whole}");
    assert_eq!(listed["tasks"][0]["command_id"], command_id, "{listed}");
    assert_eq!(over_rest[0]["command_id"], command_id, "{over_rest:?}");
    assert_eq!(
        app.event(&event_id).await["tasks"][0]["command_id"],
        command_id
    );
    client.cancel().await.ok();
}

#[tokio::test]
async fn counts_of_one_read_in_the_singular_in_tool_answers() {
    // Arrange: one webhook with one command, one event and the one task it made, claimed once.
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    open_issue(&app, 32, "Typo in the footer").await;
    let client = connect(&app).await;
    let (_, claimed) = call_ok(&client, "claim_task", json!({"owner": "brain"})).await;
    let task_id = claimed["task"]["id"].as_str().expect("task id").to_string();

    // Act
    let (webhooks, _) = call_ok(&client, "list_webhooks", json!({})).await;
    let (webhook, _) = call_ok(&client, "get_webhook", json!({"webhook_id": "gh"})).await;
    let (events, _) = call_ok(&client, "list_events", json!({})).await;
    let (tasks, _) = call_ok(&client, "list_tasks", json!({})).await;
    let (task, _) = call_ok(&client, "get_task", json!({"task_id": task_id})).await;
    let (failed, _) = call_ok(
        &client,
        "complete_task",
        json!({"task_id": task_id, "owner": "brain", "failed": true, "result": "Cannot tell"}),
    )
    .await;
    let not_cancelled = call_err(&client, "cancel_task", json!({"task_id": task_id})).await;
    let (actions, _) = call_ok(&client, "list_actions", json!({})).await;

    // Assert
    assert!(webhooks.starts_with("1 webhook:"), "{webhooks}");
    assert!(webhooks.contains(", 1 command)"), "{webhooks}");
    assert!(webhook.contains(", 1 command."), "{webhook}");
    assert!(events.starts_with("1 event, newest first"), "{events}");
    assert!(events.contains("(1 command matched)"), "{events}");
    assert!(tasks.starts_with("1 task, newest first"), "{tasks}");
    assert!(task.contains(", 1 attempt."), "{task}");
    assert!(
        failed.contains(&format!("`{task_id}` has failed.")),
        "{failed}"
    );
    assert!(
        not_cancelled.contains("has failed and cannot be cancelled"),
        "{not_cancelled}"
    );
    assert!(actions.starts_with("No actions match."), "{actions}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_claim_naming_a_task_takes_that_one_and_its_holder_renews_it_by_claiming_again() {
    // Arrange: two queued tasks; the newer one is wanted.
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    open_issue(&app, 28, "Older").await;
    let task_id = app.task_id_of(&open_issue(&app, 29, "Wanted").await).await;
    let client = connect(&app).await;
    let claim =
        |owner: &str, secs: i64| json!({"task_id": task_id, "owner": owner, "lease_secs": secs});

    // Act
    let (_, first) = call_ok(&client, "claim_task", claim("alice", 30)).await;
    let (said, renewed) = call_ok(&client, "claim_task", claim("alice", 600)).await;
    let taken = call_err(&client, "claim_task", claim("bob", 60)).await;
    call_ok(
        &client,
        "complete_task",
        json!({"task_id": task_id, "owner": "alice", "result": "done"}),
    )
    .await;
    let finished = call_err(&client, "claim_task", claim("alice", 60)).await;

    // Assert: that task, not the older one; renewed later, one attempt; others refused.
    assert_eq!(first["task"]["id"], json!(task_id), "{first}");
    assert!(said.starts_with("Renewed your claim"), "{said}");
    assert_eq!(renewed["renewed"], true, "{renewed}");
    assert_eq!(renewed["task"]["attempts"], 1, "{renewed}");
    let until = |c: &Value| c["lease_expires_at"].as_str().expect("lease").to_string();
    assert!(until(&renewed) > until(&first), "{renewed} {first}");
    assert!(taken.contains("is claimed by `alice` until"), "{taken}");
    assert!(
        finished.contains("is done: there is nothing left to claim"),
        "{finished}"
    );
    assert_eq!(
        app.tasks("status=queued").await.len(),
        1,
        "the older one waits"
    );
    client.cancel().await.ok();
}
