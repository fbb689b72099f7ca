//! What the built-in runner does when the model says no: a refusal (OpenAI's `message.refusal`,
//! or a `refusal` part of its content) and an answer the content filter stopped
//! (`finish_reason: content_filter`). Neither is posted as if it were the model's answer.

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::helpers::{
    agent_app, comments_on, fake_github, fake_llm, issue_comment, llm_asks, llm_calls, open_issue,
    post_gh, run_next, runner_of,
};

/// A final answer whose `choices[0].message` is `message`, ended for `finish_reason`.
fn answer(message: Value, finish_reason: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]
    }))
}

/// Runs the one task `answer` makes for issue `number`; the task, how many actions the outbox
/// sent, and the comments posted on the issue.
async fn task_answered(answer: ResponseTemplate, number: u64) -> (Value, usize, Vec<String>) {
    let (llm, github) = (fake_llm(vec![answer]).await, fake_github().await);
    let app = agent_app(&llm, &github).await;
    let task_id = app
        .task_id_of(&open_issue(&app, number, "Refused").await)
        .await;
    let ran = run_next(&app, &runner_of(&app)).await;
    let sent = app.drain().await;
    let task = app.task(&task_id).await;
    assert_eq!(ran.map(|(id, _)| id), Some(task_id), "{task}");
    (task, sent, comments_on(&github, number).await)
}

fn error_of(task: &Value) -> &str {
    task["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_refusal_with_no_answer_fails_the_task_quoting_it_and_posts_nothing() {
    // Arrange: OpenAI's shape, the refusal beside a null content; and the same as a part.
    let cases = [
        json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}),
        json!({"role": "assistant",
               "content": [{"type": "refusal", "refusal": "I can't help with that."}]}),
    ];
    for (n, message) in cases.into_iter().enumerate() {
        // Act
        let (task, sent, comments) =
            task_answered(answer(message.clone(), "stop"), 60 + n as u64).await;

        // Assert
        assert_eq!(task["status"], "failed", "{message}: {task}");
        assert_eq!(
            error_of(&task),
            "the model refused: I can't help with that.",
            "{message}: {task}"
        );
        assert_eq!(sent, 0, "{message}");
        assert!(comments.is_empty(), "{message}: {comments:?}");
    }
}

#[tokio::test]
async fn a_refusal_or_a_filtered_answer_after_a_tool_spoke_ends_done_kept_not_posted() {
    // Arrange: the model comments, then refuses where its final answer would be; or its final
    // answer is cut by the content filter.
    let cases = [
        (
            json!({"role": "assistant", "content": null, "refusal": "I can't go on."}),
            "stop",
            "",
        ),
        (
            json!({"role": "assistant", "content": "The cause is"}),
            "content_filter",
            "The cause is\n\n(The chat API's content filter stopped this answer \
             (finish_reason content_filter): it was not posted.)",
        ),
    ];
    for (n, (last, finish_reason, result)) in cases.into_iter().enumerate() {
        let number = 66 + n as u64;
        let (llm, github) = (
            fake_llm(vec![
                llm_calls("comment", json!({"text": "Looking into it."})),
                answer(last.clone(), finish_reason),
            ])
            .await,
            fake_github().await,
        );
        let app = agent_app(&llm, &github).await;
        let event = open_issue(&app, number, "Spoke").await;
        let task_id = app.task_id_of(&event).await;

        // Act
        let ran = run_next(&app, &runner_of(&app)).await;
        app.drain().await;

        // Assert: what the tool said went out once; the task and its event are done (failed,
        // a replay would run it and comment again); the last word is kept, not posted.
        assert_eq!(ran, Some((task_id.clone(), "done".into())), "{last}");
        let task = app.task(&task_id).await;
        assert_eq!(task["result"], result, "{last}: {task}");
        assert!(task["error"].is_null(), "{last}: {task}");
        let (_, stored) = app.get_json(&format!("/api/events/{event}")).await;
        assert_eq!(stored["status"], "done", "{last}: {stored}");
        let comments = comments_on(&github, number).await;
        assert_eq!(comments.len(), 1, "{last}: {comments:?}");
        assert!(comments[0].contains("Looking into it."), "{comments:?}");
        if finish_reason == "stop" {
            let conversation = task["conversation"].as_array().cloned().unwrap_or_default();
            assert!(
                conversation
                    .iter()
                    .any(|i| i["refusal"] == "I can't go on."),
                "{task}"
            );
        }
    }
}

#[tokio::test]
async fn a_refusal_in_the_run_after_a_question_ends_done_when_an_earlier_run_commented() {
    // Arrange: the first run comments and then asks; the reply starts a second run, which
    // refuses. The first run's progress is gone by then, kept in the conversation.
    let refused = json!({"role": "assistant", "content": null, "refusal": "I can't go on."});
    let (llm, github) = (
        fake_llm(vec![
            llm_calls("comment", json!({"text": "Looking into it."})),
            llm_asks("Which browser?"),
            answer(refused, "stop"),
        ])
        .await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app.task_id_of(&open_issue(&app, 68, "Asked").await).await;
    let runner = runner_of(&app);
    assert_eq!(
        run_next(&app, &runner).await,
        Some((task_id.clone(), "waiting_reply".into()))
    );
    app.drain().await;
    post_gh(
        &app,
        "issue_comment",
        &issue_comment(68, "Asked", "bob", "Firefox"),
    )
    .await;

    // Act
    let ran = run_next(&app, &runner).await;
    app.drain().await;

    // Assert: done (failed, a replay would run it and comment again), nothing more posted
    assert_eq!(ran, Some((task_id.clone(), "done".into())));
    let comments = comments_on(&github, 68).await;
    assert_eq!(
        comments.len(),
        2,
        "the comment and the question: {comments:?}"
    );
}

#[tokio::test]
async fn a_refusal_quoted_in_a_tasks_error_is_capped_and_has_the_chat_key_scrubbed() {
    // Arrange: a long refusal that quotes the chat API's key back (`sk-test-key`).
    let refusal = format!("I will not use sk-test-key. {}", "No. ".repeat(200));
    let message = json!({"role": "assistant", "content": null, "refusal": refusal});

    // Act
    let (task, _, comments) = task_answered(answer(message, "stop"), 62).await;

    // Assert
    let error = error_of(&task);
    assert_eq!(task["status"], "failed", "{task}");
    assert!(
        error.starts_with("the model refused: I will not use ***."),
        "{error}"
    );
    assert!(!error.contains("sk-test-key"), "{error}");
    assert!(error.len() < 400, "{} bytes: {error}", error.len());
    assert!(comments.is_empty(), "{comments:?}");
}

#[tokio::test]
async fn an_answer_beside_a_refusal_is_posted_and_the_refusal_kept_on_the_task() {
    // Arrange: the model answers part and refuses part.
    let message = json!({"role": "assistant", "content": [
        {"type": "text", "text": "The login fails because the cookie expired."},
        {"type": "refusal", "refusal": "I won't guess the admin password."}]});

    // Act
    let (task, sent, comments) = task_answered(answer(message, "stop"), 63).await;

    // Assert: the answer goes out as any answer; the refusal is in the task's record.
    assert_eq!(task["status"], "done", "{task}");
    assert_eq!(
        task["result"],
        "The login fails because the cookie expired."
    );
    assert_eq!(sent, 1);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].contains("The login fails because the cookie expired."),
        "{comments:?}"
    );
    assert!(!comments[0].contains("admin password"), "{comments:?}");
    let last = task["conversation"]
        .as_array()
        .and_then(|items| items.last().cloned())
        .unwrap_or_default();
    assert_eq!(last["role"], "assistant", "{task}");
    assert_eq!(
        last["refusal"], "I won't guess the admin password.",
        "{task}"
    );
}

#[tokio::test]
async fn an_answer_the_content_filter_stopped_fails_the_task_naming_the_filter() {
    // Arrange: Azure OpenAI's filter cuts an answer part way, or leaves nothing of it.
    let cases = [
        json!({"role": "assistant", "content": "The login fails because"}),
        json!({"role": "assistant", "content": null}),
    ];
    for (n, message) in cases.into_iter().enumerate() {
        // Act
        let (task, sent, comments) =
            task_answered(answer(message.clone(), "content_filter"), 64 + n as u64).await;

        // Assert: failed, saying so; the part the filter let through is not posted as whole.
        assert_eq!(task["status"], "failed", "{message}: {task}");
        assert!(
            error_of(&task).contains("content filter")
                && error_of(&task).contains("finish_reason content_filter"),
            "{message}: {task}"
        );
        assert_eq!(sent, 0, "{message}");
        assert!(comments.is_empty(), "{message}: {comments:?}");
    }
}
