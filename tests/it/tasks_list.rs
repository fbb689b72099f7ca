//! `GET /api/tasks` lists tasks in brief, as MCP `list_tasks` does, so a page stays small
//! however long the tasks' conversations and results; `GET /api/tasks/{id}` has one whole.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{agent_app, fake_github, fake_llm, llm_answer, open_issue};

#[tokio::test]
async fn the_rest_task_list_shows_each_task_in_brief_and_the_task_itself_has_it_whole() {
    // Arrange: a task completed with a long result.
    let (llm, github) = (
        fake_llm(vec![llm_answer("unused")]).await,
        fake_github().await,
    );
    let app = agent_app(&llm, &github).await;
    let task_id = app.task_id_of(&open_issue(&app, 34, "Long").await).await;
    let long = "word ".repeat(40_000);
    let (status, done) = app
        .post_api(
            &format!("/api/tasks/{task_id}/complete"),
            &json!({"result": long}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");

    // Act
    let (status, page) = app.get_json("/api/tasks").await;
    let whole = app.task(&task_id).await;

    // Assert: the list is short; the task itself keeps everything.
    assert_eq!(status, StatusCode::OK, "{page}");
    let brief = &page["tasks"][0];
    assert_eq!(brief["id"], json!(task_id), "{page}");
    assert_eq!(brief["status"], "done");
    let preview = brief["result"].as_str().expect("a result preview");
    assert!(
        preview.chars().count() <= 201 && preview.ends_with('…'),
        "{} characters",
        preview.chars().count()
    );
    assert!(brief.get("conversation").is_none(), "{brief}");
    assert_eq!(
        brief["prompt"], "Analyze issue: Long",
        "the first line: {brief}"
    );
    let size = page.to_string().len();
    assert!(size < 2_000, "{size} bytes");
    assert_eq!(whole["result"].as_str().map(str::len), Some(long.len()));
    assert!(whole["conversation"].is_array(), "{whole}");
    assert!(
        whole["prompt"]
            .as_str()
            .is_some_and(|p| p.starts_with("Analyze issue: Long\n")),
        "{whole}"
    );
}
