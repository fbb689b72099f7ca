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
