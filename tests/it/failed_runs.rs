//! A run that fails after its tools already commented (the chat API refusing the next call, or
//! the run out of steps): the run is kept in the task's conversation, so the run a replay
//! starts reads what its tools sent and does not send it again.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::helpers::{
    GH_SECRET, PLANNING_TEMPLATE, agent_config, chat_requests, comments_on, fake_github, fake_llm,
    llm_answer, llm_calls, open_issue, run_next, runner_of, spawn_app_with,
};

/// Whether every tool call in the request's messages is answered by a tool message before the
/// next assistant or user message (an OpenAI-compatible API refuses one left unanswered).
fn calls_all_answered(messages: &[Value]) -> bool {
    messages.iter().enumerate().all(|(at, m)| {
        let calls = m["tool_calls"].as_array().cloned().unwrap_or_default();
        let results: Vec<&Value> = messages[at + 1..]
            .iter()
            .take_while(|r| r["role"] == "tool")
            .collect();
        calls
            .iter()
            .all(|c| results.iter().any(|r| r["tool_call_id"] == c["id"]))
    })
}

#[tokio::test]
async fn a_run_that_failed_after_commenting_is_kept_and_its_replay_does_not_comment_again() {
    // Arrange: the model comments; then the chat API refuses the next call (400), or the run
    // has no step left. The run a replay starts answers with text only.
    let refused = ResponseTemplate::new(400).set_body_json(json!({"detail": "Bad request"}));
    let cases: [(&str, u32, Vec<ResponseTemplate>, &str); 2] = [
        (
            "a 400",
            8,
            vec![
                llm_calls("comment", json!({"text": "Looking into it."})),
                refused,
                llm_answer("All done."),
            ],
            "Bad request",
        ),
        (
            "out of steps",
            1,
            vec![
                llm_calls("comment", json!({"text": "Looking into it."})),
                llm_answer("All done."),
            ],
            "stopped after 1 model calls",
        ),
    ];
    for (n, (case, max_steps, script, error)) in cases.into_iter().enumerate() {
        let number = 90 + n as u64;
        let (llm, github) = (fake_llm(script).await, fake_github().await);
        let app = spawn_app_with(|config| {
            agent_config(&llm, &github)(config);
            config.agents.agents =
                Some(json!([{"name": "planning", "max_steps": max_steps}]).to_string());
        })
        .await;
        app.github_webhook("gh", GH_SECRET).await;
        app.add_command_ok(
            "gh",
            json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning",
                   "template": PLANNING_TEMPLATE}),
        )
        .await;
        let runner = runner_of(&app);
        let event_id = open_issue(&app, number, "Spoke").await;
        let task_id = app.task_id_of(&event_id).await;
        assert_eq!(
            run_next(&app, &runner).await,
            Some((task_id.clone(), "failed".into())),
            "{case}"
        );
        app.drain().await;
        let failed = app.task(&task_id).await;
        assert!(
            failed["error"].as_str().unwrap_or_default().contains(error),
            "{case}: {failed}"
        );
        let kept = failed["conversation"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            kept.iter().any(|i| i["role"] == "run"
                && i["tools_called"] == json!(["comment"])
                && i["failed"].is_string()),
            "{case}: the failed run is kept: {failed}"
        );

        // Act
        let (status, replayed) = app
            .post_api(&format!("/api/events/{event_id}/replay"), &json!({}))
            .await;
        let before = chat_requests(&llm).await.len();
        let ran = run_next(&app, &runner).await;
        app.drain().await;

        // Assert: the run again read the comment its tool made (the call and what it queued),
        // in a request a chat API takes; the comment went out once and the answer not again.
        assert_eq!(status, StatusCode::OK, "{case}: {replayed}");
        assert_eq!(
            replayed["results"][0]["result"], "requeued",
            "{case}: {replayed}"
        );
        assert_eq!(ran, Some((task_id.clone(), "done".into())), "{case}");
        let requests = chat_requests(&llm).await;
        let body: Value = serde_json::from_slice(&requests[before].body).expect("JSON request");
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let call = messages
            .iter()
            .filter_map(|m| m["tool_calls"].as_array())
            .flatten()
            .find(|c| c["function"]["name"] == "comment")
            .unwrap_or_else(|| panic!("{case}: the earlier call is in the request: {body}"));
        assert!(
            messages.iter().any(|m| m["role"] == "tool"
                && m["tool_call_id"] == call["id"]
                && m["content"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("queued as act_"))),
            "{case}: {body}"
        );
        assert!(calls_all_answered(&messages), "{case}: {body}");
        let comments = comments_on(&github, number).await;
        assert_eq!(comments.len(), 1, "{case}: {comments:?}");
        assert!(comments[0].contains("Looking into it."), "{comments:?}");
        let done = app.task(&task_id).await;
        assert_eq!(done["result"], "All done.", "{case}: {done}");
        assert_eq!(app.event(&event_id).await["status"], "done", "{case}");
    }
}
