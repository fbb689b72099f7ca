//! MCP answers stay under the 1 MiB a client takes in one message (the Python SDK's stream
//! limit, and so Open WebUI's and mcpo's), whatever senders and callers stored: through a
//! real rmcp client, against the running app.

use rmcp::model::{CallToolResult, ReadResourceRequestParams, ResourceContents};
use serde_json::{Value, json};

use wiremock::MockServer;

use crate::helpers::{TestApp, agent_app, fake_github, fake_llm, llm_answer, open_issue};
use crate::mcp::{Client, call, connect, structured, text};

/// What a client takes in one message, in bytes.
const CLIENT_LIMIT: usize = 1024 * 1024;

fn size(result: &CallToolResult) -> usize {
    serde_json::to_string(result).expect("JSON").len()
}

/// An app with webhook `gh` (a create_task command for `planning`), an MCP client of it, and
/// the fake upstreams it uses, kept for as long as the test runs.
async fn app_with_client() -> (TestApp, Client, (MockServer, MockServer)) {
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let client = connect(&app).await;
    (app, client, (llm, github))
}

fn ok(result: &CallToolResult) -> Value {
    assert_eq!(result.is_error, Some(false), "{}", text(result));
    structured(result)
}

#[tokio::test]
async fn what_senders_and_callers_stored_large_is_answered_within_a_clients_limit() {
    // Arrange: an Open WebUI event whose chat link is 600 KB (Open WebUI does not sign, so
    // whoever holds the URL writes it), and a task completed with a 1.1 MB result.
    let (app, client, _upstreams) = app_with_client().await;
    let created = ok(&call(
        &client,
        "create_webhook",
        json!({"name": "Open WebUI", "provider": "openwebui", "id": "owui"}),
    )
    .await);
    let url = created["webhook"]["url_with_token"]
        .as_str()
        .expect("url_with_token")
        .to_string();
    let body = json!({"event": "chat.finished", "id": "big-1",
                      "data": {"chat_id": "c1", "url": "A".repeat(600_000)}});
    let sent = app
        .client
        .post(&url)
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(sent.status(), 200);
    let owui_event = app.events("webhook_id=owui").await[0]["id"]
        .as_str()
        .expect("event id")
        .to_string();

    open_issue(&app, 7, "Crash on save").await;
    let claimed = ok(&call(
        &client,
        "claim_task",
        json!({"agent": "planning", "owner": "brain"}),
    )
    .await);
    let task_id = claimed["task"]["id"].as_str().expect("task id").to_string();
    ok(&call(
        &client,
        "complete_task",
        json!({"task_id": task_id, "owner": "brain", "result": "r".repeat(1_100_000)}),
    )
    .await);

    // Act
    let listed = call(&client, "list_events", json!({"webhook_id": "owui"})).await;
    let event = call(&client, "get_event", json!({"event_id": owui_event})).await;
    let task = call(&client, "get_task", json!({"task_id": task_id})).await;

    // Assert: the event's source keeps the chat it names, not the link as long as the payload
    assert!(size(&listed) < 16 * 1024, "{} bytes", size(&listed));
    assert!(size(&event) < CLIENT_LIMIT, "{} bytes", size(&event));
    let source = &ok(&event)["source"];
    assert_eq!(source["key"], "c1", "{source}");
    assert!(source["detail"].get("url").is_none(), "{source}");
    // The result is cut to fit, and the answer says so and where it is whole.
    let shown = ok(&task);
    assert!(size(&task) < CLIENT_LIMIT, "{} bytes", size(&task));
    let result = shown["task"]["result"]
        .as_str()
        .or_else(|| shown["result"].as_str())
        .unwrap_or_else(|| panic!("no result: {}", &shown.to_string()[..500]));
    assert!(result.starts_with("rrrr"), "{}", &result[..100]);
    assert!(
        result.ends_with("… [cut: 1100000 bytes]"),
        "{}",
        &result[result.len() - 100..]
    );
    let note = shown["answer_cut"].as_str().expect("answer_cut");
    assert!(
        note.contains("the REST API (/api) returns them whole"),
        "{note}"
    );
    assert!(
        text(&task).contains("this answer was"),
        "{}",
        &text(&task)[..300]
    );
    let (status, whole) = app.get_json(&format!("/api/tasks/{task_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        whole["result"]
            .as_str()
            .or_else(|| whole["task"]["result"].as_str())
            .map(str::len),
        Some(1_100_000)
    );
}

#[tokio::test]
async fn an_event_resource_too_large_pretty_is_sent_compact() {
    // Arrange: a payload of deep lists, 81 KB as sent, which indenting makes 8 MB.
    let (_app, client, _upstreams) = app_with_client().await;
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let payload = json!({"action": "opened", "issue": {"number": 1, "title": "t"},
                         "repository": {"full_name": "o/r"}, "blob": vec![deep; 400]});
    let tested = ok(&call(
        &client,
        "test_webhook",
        json!({"webhook_id": "gh", "event_type": "issues.opened", "payload": payload}),
    )
    .await);
    let event_id = tested["event_id"].as_str().expect("event id");

    // Act
    let read = client
        .read_resource(ReadResourceRequestParams::new(format!(
            "event://{event_id}"
        )))
        .await
        .expect("resource read");

    // Assert
    let ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else {
        panic!("not text: {read:?}");
    };
    assert!(text.len() < CLIENT_LIMIT, "{} bytes", text.len());
    let event: Value = serde_json::from_str(text).expect("JSON");
    assert_eq!(event["payload"]["blob"].as_array().map(Vec::len), Some(400));
}

#[tokio::test]
async fn a_refusal_quotes_only_the_start_of_a_huge_value() {
    // Arrange
    let (_app, client, _upstreams) = app_with_client().await;
    let huge = "p".repeat(1_000_000);
    // (tool, arguments, what the refusal names)
    let cases = [
        ("list_events", json!({"provider": huge}), "unknown provider"),
        ("list_events", json!({"status": huge}), "unknown status"),
        ("list_tasks", json!({"status": huge}), "unknown status"),
        (
            "list_webhooks",
            json!({"provider": huge}),
            "unknown provider",
        ),
        (
            "create_webhook",
            json!({"name": "n", "provider": huge}),
            "unknown provider",
        ),
        (
            "add_command",
            json!({"webhook_id": "gh", "trigger": "issues.opened", "action": huge}),
            "unknown action",
        ),
        (
            "test_webhook",
            json!({"webhook_id": "gh", "event_type": huge}),
            "at most 200",
        ),
        (
            "test_webhook",
            json!({"webhook_id": "gh", "event_type": "x".repeat(201)}),
            "at most 200",
        ),
    ];

    for (tool, args, names) in cases {
        // Act
        let refused = call(&client, tool, args).await;

        // Assert
        assert_eq!(refused.is_error, Some(true), "{tool}");
        let said = text(&refused);
        assert!(
            said.contains(names),
            "{tool}: {}",
            &said[..said.len().min(300)]
        );
        assert!(said.len() < 2_000, "{tool}: {} bytes", said.len());
    }
    // A filter that matches none says so, not that there are no webhooks at all.
    let none = call(&client, "list_webhooks", json!({"provider": "Linear"})).await;
    assert!(
        text(&none).starts_with("No linear webhooks (call again without `provider`"),
        "{}",
        text(&none)
    );
}

#[tokio::test]
async fn a_list_page_is_cut_to_what_a_models_context_takes_and_its_cursor_reads_on() {
    // Arrange: 120 events (and their tasks) on webhook `gh`.
    let (app, client, _upstreams) = app_with_client().await;
    let sent = app
        .post_github_concurrently("gh", 120, crate::helpers::GH_SECRET)
        .await;

    // Act: every event asked for at once, as a model asked for "all" does, then the rest.
    let first = call(&client, "list_events", json!({"limit": 200})).await;
    let page = ok(&first);
    let cursor = page["next_cursor"].as_str().expect("a cursor").to_string();
    let mut rest = Vec::new();
    let mut next = Some(cursor.clone());
    while let Some(at) = next.take() {
        let more = ok(&call(&client, "list_events", json!({"limit": 200, "cursor": at})).await);
        next = more["next_cursor"].as_str().map(str::to_string);
        rest.push(more);
        assert!(rest.len() < 10, "the pages end");
    }
    let tasks = call(&client, "list_tasks", json!({"limit": 200})).await;

    // Assert: the first page fits a model's context and says it was cut; with the next, no
    // event is missed or shown twice.
    let kept = page["events"].as_array().expect("events").len();
    assert!(kept < 120, "{kept}");
    assert!(size(&first) < 80 * 1024, "{}", size(&first));
    let said = text(&first);
    assert!(
        said.contains(&format!("the first {kept} of the 120 asked for")),
        "{said}"
    );
    assert!(said.contains(&format!("cursor `{cursor}`")), "{said}");
    let mut seen: Vec<&str> = std::iter::once(&page)
        .chain(&rest)
        .filter_map(|p| p["events"].as_array())
        .flatten()
        .filter_map(|e| e["id"].as_str())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), sent.len(), "every event, once");
    assert!(size(&tasks) < 80 * 1024, "{}", size(&tasks));
    assert!(text(&tasks).contains("as many as fit a model's context"));
}
