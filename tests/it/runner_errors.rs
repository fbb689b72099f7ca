//! What the built-in runner does when things go wrong around a model: a chat answer cut off
//! on its way, a tool called with the wrong arguments or where it cannot act, and agent
//! settings that could never work.

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::helpers::{
    agent_app, agent_config, chat_requests, contents, fake_github, fake_llm, llm_answer, llm_calls,
    open_issue, run_next, runner_of, spawn_app_with,
};

/// The tool results the model was given in the `n`th chat request.
async fn tool_results(llm: &wiremock::MockServer, n: usize) -> Vec<String> {
    let requests = chat_requests(llm).await;
    let body: Value = serde_json::from_slice(&requests[n].body).expect("JSON request");
    contents(&body, "tool")
}

#[tokio::test]
async fn a_chat_answer_cut_off_on_its_way_is_retried_not_failed() {
    // Arrange: a 200 whose JSON ends half way, then a whole answer.
    let cut = ResponseTemplate::new(200).set_body_raw(r#"{"choices": [{"ind"#, "application/json");
    let (llm, github) = (
        fake_llm(vec![cut, llm_answer("All good.")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app.task_id_of(&open_issue(&app, 41, "Cut").await).await;

    // Act
    let ran = run_next(&app, &runner).await;

    // Assert: queued again with a back-off, saying why.
    assert_eq!(ran, Some((task_id.clone(), "queued".into())));
    let task = app.task(&task_id).await;
    assert_eq!(task["status"], "queued", "{task}");
    assert!(task["next_run_at"].is_string(), "{task}");
    assert!(
        task["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not JSON"),
        "{task}"
    );
}

#[tokio::test]
async fn what_a_model_api_asks_back_with_its_tool_calls_is_sent_back_and_calls_without_ids_get_some()
 {
    // Arrange: DeepSeek's thinking beside the calls, Gemini's thought signature on one call,
    // and two calls with no id (as Gemini's and LM Studio's APIs may give them).
    // LiteLLM's signed thinking blocks for Claude.
    let signature = json!({"google": {"thought_signature": "c2lnbmF0dXJl"}});
    let blocks = json!([{"type": "thinking", "thinking": "The user wants", "signature": "EqoB"}]);
    let step = ResponseTemplate::new(200).set_body_json(json!({"choices": [{"index": 0,
        "message": {"role": "assistant", "content": "", "thinking_blocks": blocks,
            "reasoning_content": "The user wants the event first.",
            "tool_calls": [
                {"type": "function", "extra_content": signature,
                 "function": {"name": "get_event", "arguments": "{}"}},
                {"id": null, "type": "function",
                 "function": {"name": "list_events", "arguments": "{}"}}]},
        "finish_reason": "tool_calls"}]}));
    let (llm, github) = (
        fake_llm(vec![step, llm_answer("Done.")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    let task_id = app.task_id_of(&open_issue(&app, 43, "Think").await).await;

    // Act
    let ran = run_next(&app, &runner).await;

    // Assert: the second request carries the thinking and the signature back, and each
    // result answers a call of its own.
    assert_eq!(ran, Some((task_id, "done".into())));
    let requests = chat_requests(&llm).await;
    let body: Value = serde_json::from_slice(&requests[1].body).expect("JSON request");
    let messages = body["messages"].as_array().expect("messages");
    let calling = messages
        .iter()
        .find(|m| m["role"] == "assistant" && m["tool_calls"].is_array())
        .expect("the assistant's calls");
    assert_eq!(
        calling["reasoning_content"], "The user wants the event first.",
        "{calling}"
    );
    assert_eq!(calling["tool_calls"][0]["extra_content"], signature);
    assert_eq!(calling["thinking_blocks"], blocks, "{calling}");
    let ids: Vec<&str> = calling["tool_calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "{calling}");
    assert!(
        ids.iter().all(|id| !id.is_empty()) && ids[0] != ids[1],
        "{ids:?}"
    );
    let answered: Vec<&str> = messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["tool_call_id"].as_str())
        .collect();
    assert_eq!(answered, ids);
}

#[tokio::test]
async fn a_tool_argument_of_the_wrong_type_is_named_with_its_type() {
    // Arrange
    let (llm, github) = (
        fake_llm(vec![
            llm_calls("comment", json!({"text": 42})),
            llm_answer("Done."),
        ])
        .await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let runner = runner_of(&app);
    open_issue(&app, 42, "Types").await;

    // Act
    run_next(&app, &runner).await;

    // Assert
    let results = tool_results(&llm, 1).await;
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(
        results[0].contains("invalid type: integer `42`, expected a string"),
        "{results:?}"
    );
}

#[tokio::test]
async fn a_reply_where_there_is_no_source_names_no_tool_the_agent_lacks() {
    // Arrange: a custom sender's event (no thread to reply on) for an agent without
    // post_message.
    let (llm, github) = (
        fake_llm(vec![
            llm_calls("comment", json!({"text": "hello"})),
            llm_answer("Done."),
        ])
        .await,
        fake_github().await,
    );
    let app = spawn_app_with(agent_config(&llm, &github)).await;
    app.create_webhook(json!({"id": "cu", "name": "Bot", "provider": "custom",
        "secret": "cu-token", "options": {"custom": {"mode": "token"}}}))
        .await;
    app.add_command_ok(
        "cu",
        json!({"trigger": "*", "action": "create_task", "agent": "planning"}),
    )
    .await;
    let sent = app
        .client
        .post(app.url("/webhooks/custom/cu"))
        .header("X-Webhook-Token", "cu-token")
        .header("Content-Type", "application/json")
        .body(r#"{"n": 1}"#)
        .send()
        .await
        .expect("POST");
    assert!(sent.status().is_success(), "{}", sent.status());
    let runner = runner_of(&app);

    // Act
    run_next(&app, &runner).await;

    // Assert
    let results = tool_results(&llm, 1).await;
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(results[0].contains("no source thread"), "{results:?}");
    assert!(!results[0].contains("post_message"), "{results:?}");
    assert!(results[0].contains("final message"), "{results:?}");
}

#[tokio::test]
async fn a_runner_without_ai_model_names_the_agents_that_have_no_model() {
    // Arrange: no AI_MODEL; one agent brings its own model.
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let config = agent_config(&llm, &github);
    let app = spawn_app_with(|c| {
        config(c);
        c.agents.ai_model = None;
        c.agents.agents =
            Some(r#"[{"name": "planning", "model": "m1"}, {"name": "triage"}]"#.into());
    })
    .await;

    // Act
    let without = runner_of(&app).agents_without_model();

    // Assert
    assert_eq!(without, ["triage"]);
    let with_default = agent_app(&llm, &github).await;
    assert!(runner_of(&with_default).agents_without_model().is_empty());
}

/// Open WebUI's report (to its event webhooks) that a model's provider failed a call.
fn provider_failed(id: &str, model: &str) -> Value {
    json!({"schema": "0.12.4", "id": id, "event": "model.provider_request.failed",
        "resource": "model.provider_request", "operation": "failed", "source": "api",
        "actor": {"id": "u-1", "name": "Admin", "role": "admin", "type": "user"},
        "subject": {"type": "model", "id": model},
        "data": {"error_type": "server_failed", "status": 500, "provider": "openai-compatible",
                 "requested_model": model, "upstream_message": "upstream exploded"}})
}

#[tokio::test]
async fn open_webuis_report_of_the_runners_own_failed_call_starts_no_task_a_persons_does() {
    // Arrange: the runner calls Open WebUI, whose model's provider fails; a command starts a
    // task on each report of such a failure.
    let (llm, github) = (
        fake_llm(vec![
            ResponseTemplate::new(500).set_body_string("upstream exploded"),
        ])
        .await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let token = "owui-token-0123456789";
    app.create_webhook(
        json!({"id": "ow", "name": "Open WebUI", "provider": "openwebui", "secret": token}),
    )
    .await;
    app.add_command_ok(
        "ow",
        json!({"trigger": "model.provider_request.failed", "action": "create_task",
               "agent": "planning", "template": "The model provider failed: tell the team"}),
    )
    .await;
    let report = |id: &str| {
        app.client
            .post(app.url(&format!("/webhooks/openwebui/ow?token={token}")))
            .json(&provider_failed(id, "fake-model"))
            .send()
    };
    open_issue(&app, 42, "Anything").await;
    let (_, status) = run_next(&app, &runner_of(&app)).await.expect("a task ran");
    assert_eq!(status, "queued", "a 5xx is retried");

    // Act: the report of that call, then one more (a person's chat failing beside it).
    let own = crate::helpers::accepted(report("r-1").await.expect("send")).await;
    let persons = crate::helpers::accepted(report("r-2").await.expect("send")).await;

    // Assert
    assert_eq!(app.event(&own).await["status"], "looped");
    assert!(app.tasks(&format!("event_id={own}")).await.is_empty());
    assert_eq!(app.event(&persons).await["status"], "matched");
    assert_eq!(app.tasks(&format!("event_id={persons}")).await.len(), 1);
}
