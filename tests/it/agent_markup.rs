//! The built-in runner tells the model the markup its words will be shown in: a Jira task's
//! answer is posted as Jira wiki markup, which renders Markdown as literal `###` and `**`.

use serde_json::{Value, json};
use wiremock::MockServer;

use crate::helpers::{
    accepted, agent_app, agent_config, chat_requests, contents, fake_github, fake_llm, llm_answer,
    open_issue, run_next, runner_of, spawn_app_with, use_jira,
};

/// The one chat request's system prompt and the `comment` tool's description of its text.
async fn what_the_model_was_told(llm: &MockServer) -> (String, String) {
    let requests = chat_requests(llm).await;
    assert_eq!(requests.len(), 1);
    let body: Value = serde_json::from_slice(&requests[0].body).expect("JSON request");
    let system = contents(&body, "system").join("\n");
    let comment = body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["function"]["name"] == "comment")
        .map(|t| t["function"]["parameters"]["properties"]["text"]["description"].to_string())
        .expect("a comment tool");
    (system, comment)
}

#[tokio::test]
async fn a_jira_tasks_model_is_told_to_write_jira_wiki_markup() {
    // Arrange: a Jira webhook whose new issues make `planning` tasks.
    let (llm, github, jira) = (
        fake_llm(vec![llm_answer("h3. Plan")]).await,
        fake_github().await,
        MockServer::start().await,
    );
    let app = spawn_app_with(|c| {
        agent_config(&llm, &github)(c);
        use_jira(&jira)(c);
    })
    .await;
    app.create_webhook(
        json!({"id": "jr", "name": "Jira", "provider": "jira", "secret": "jira-secret"}),
    )
    .await;
    app.add_command_ok(
        "jr",
        json!({"trigger": "jira:issue_created", "action": "create_task", "agent": "planning"}),
    )
    .await;
    let body = json!({"webhookEvent": "jira:issue_created",
        "issue": {"id": "10001", "key": "ENG-12", "fields": {"summary": "Login broken"},
                  "self": format!("{}/rest/api/2/issue/10001", jira.uri())}})
    .to_string();
    accepted(app.post_jira("jr", &body, "jira-secret").await).await;

    // Act
    run_next(&app, &runner_of(&app)).await.expect("a task ran");

    // Assert: Jira's wiki markup is named, with its forms, and Markdown is not asked for.
    let (system, comment) = what_the_model_was_told(&llm).await;
    for form in ["Jira wiki markup", "h3.", "{code}", "[text|url]"] {
        assert!(system.contains(form), "{form}: {system}");
    }
    assert!(!system.to_lowercase().contains("in markdown"), "{system}");
    assert!(comment.contains("Jira wiki markup"), "{comment}");
}

#[tokio::test]
async fn a_github_tasks_model_is_told_to_write_markdown() {
    // Arrange
    let (llm, github) = (
        fake_llm(vec![llm_answer("Plan")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;

    // Act
    open_issue(&app, 7, "Login broken").await;
    run_next(&app, &runner_of(&app)).await.expect("a task ran");

    // Assert
    let (system, comment) = what_the_model_was_told(&llm).await;
    assert!(
        system.contains("GitHub") && system.contains("Markdown"),
        "{system}"
    );
    assert!(!system.contains("wiki markup"), "{system}");
    assert!(comment.contains("Markdown"), "{comment}");
}

#[tokio::test]
async fn a_task_on_an_open_webui_chat_is_offered_no_reply_tool_and_told_there_is_no_thread() {
    // Arrange: an Open WebUI chat's event has a source (the chat) but no thread to post on.
    let (llm, github) = (
        fake_llm(vec![llm_answer("Summary")]).await,
        fake_github().await,
    );
    let app = crate::helpers::agent_app(&llm, &github).await;
    let token = "owui-token-0123456789";
    app.create_webhook(
        json!({"id": "ow", "name": "Open WebUI", "provider": "openwebui", "secret": token}),
    )
    .await;
    app.add_command_ok(
        "ow",
        json!({"trigger": "chat.finished", "action": "create_task", "agent": "planning"}),
    )
    .await;
    let event = json!({"schema": "0.12.4", "id": "4a3ed352-3264-4b05-993f-bd6e28f20129",
        "event": "chat.finished", "resource": "chat", "operation": "finished",
        "subject": {"type": "chat", "id": "82177fe9"},
        "data": {"chat_id": "82177fe9", "message_id": "asst-1", "url": "/c/82177fe9", "message": "hi"}});
    let sent = app
        .client
        .post(app.url(&format!("/webhooks/openwebui/ow?token={token}")))
        .json(&event)
        .send()
        .await
        .expect("send");
    accepted(sent).await;

    // Act
    run_next(&app, &runner_of(&app)).await.expect("a task ran");

    // Assert
    let requests = chat_requests(&llm).await;
    let body: Value = serde_json::from_slice(&requests[0].body).expect("JSON request");
    let tools: Vec<&str> = body["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["function"]["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    for reply in ["comment", "ask", "respond"] {
        assert!(!tools.contains(&reply), "{reply}: {tools:?}");
    }
    let system = contents(&body, "system").join("\n");
    assert!(system.contains("no thread to reply on"), "{system}");
    assert!(!system.contains("shown on"), "{system}");
}
