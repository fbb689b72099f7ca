//! The test harness: a real app on a loopback port over a real SQLite file in a temp folder,
//! a client that speaks to it through the front door, and signing helpers for senders.

#![allow(dead_code)]

mod chat;
mod senders;
mod upstreams;

pub use chat::*;
pub use senders::*;
pub use upstreams::*;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use webhook_mcp::app::AppState;
use webhook_mcp::config::Config;

pub const API_KEY: &str = "test-api-key";

pub struct TestApp {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:{port}`, no trailing slash.
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub db_path: PathBuf,
    dir: Arc<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A fresh app on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A fresh app whose config the test adjusts first (e.g. a small body limit).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("create temp dir"));
    spawn_on(dir, adjust).await
}

async fn spawn_on(dir: Arc<TempDir>, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let db_path = dir.path().join("app.db");
    let mut config = Config::for_tests(db_path.clone());
    adjust(&mut config);
    let app = webhook_mcp::app::build(config).await.expect("build app");
    let addr = app.local_addr();
    let state = app.state();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("build client"),
        state,
        db_path,
        dir,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// Stops the server the way a signal would and waits until it has closed the store.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task did not panic")
                .expect("server stopped cleanly");
        }
    }

    /// Stops this app and starts a new one on the same database file.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        spawn_on(Arc::clone(&self.dir), |_| {}).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to the management API with the test API key.
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(API_KEY)
    }

    /// Creates a webhook; panics unless the answer is 201. Returns the answer's JSON.
    pub async fn create_webhook(&self, body: Value) -> Value {
        let response = self
            .api(Method::POST, "/api/webhooks")
            .json(&body)
            .send()
            .await
            .expect("POST /api/webhooks");
        let status = response.status();
        let json: Value = response.json().await.expect("JSON answer");
        assert_eq!(status, StatusCode::CREATED, "create webhook: {json}");
        json
    }

    /// A GitHub webhook with a known secret.
    pub async fn github_webhook(&self, id: &str, secret: &str) -> Value {
        self.create_webhook(json!({
            "id": id, "name": format!("GitHub {id}"), "provider": "github", "secret": secret,
        }))
        .await
    }

    /// Creates a Slack webhook whose signing secret is `slack-signing`.
    pub async fn slack_webhook(&self, id: &str) -> Value {
        self.create_webhook(json!({
            "id": id, "name": format!("Slack {id}"), "provider": "slack", "secret": "slack-signing",
        }))
        .await
    }

    /// GETs an API path and returns status and JSON body.
    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        send_json(self.api(Method::GET, path)).await
    }

    /// `/metrics` as text, asked with the API key.
    pub async fn metrics_text(&self) -> String {
        self.api(Method::GET, "/metrics")
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// One event in full; panics unless 200.
    pub async fn event(&self, id: &str) -> Value {
        let (status, json) = self.get_json(&format!("/api/events/{id}")).await;
        assert_eq!(status, StatusCode::OK, "GET event {id}: {json}");
        json
    }

    /// The events of one page of `GET /api/events?{query}`; panics unless 200.
    pub async fn events(&self, query: &str) -> Vec<Value> {
        let (status, json) = self.get_json(&format!("/api/events?{query}")).await;
        assert_eq!(status, StatusCode::OK, "GET events?{query}: {json}");
        json["events"].as_array().expect("events array").clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Sends a request and returns its status and JSON body (`Null` when the body is not JSON).
pub async fn send_json(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("send request");
    let status = response.status();
    let text = response.text().await.expect("read body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Status and JSON body of a response already received.
pub async fn read_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("read body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts a JSON error with this status, code (when given) and field (when given).
pub fn assert_error(
    (status, body): &(StatusCode, Value),
    want_status: StatusCode,
    want_field: Option<&str>,
) {
    assert_eq!(*status, want_status, "{body}");
    let error = &body["error"];
    assert!(error["code"].is_string(), "error.code missing: {body}");
    assert!(
        error["message"].is_string(),
        "error.message missing: {body}"
    );
    if let Some(field) = want_field {
        assert_eq!(error["field"], json!(field), "error.field: {body}");
    }
}

/// Every text (or blob) cell of every table in the database file, as (`table.column`, text):
/// for tests that look for what must never be stored as given.
pub fn text_cells(db: &std::path::Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(db).expect("open db");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("tables");
    let mut cells = Vec::new();
    for table in tables {
        let mut rows = conn
            .prepare(&format!("SELECT * FROM \"{table}\""))
            .expect("select");
        let columns: Vec<String> = rows.column_names().map(String::from).collect();
        let mut cursor = rows.query([]).expect("query");
        while let Some(row) = cursor.next().expect("row") {
            for (i, column) in columns.iter().enumerate() {
                let text = match row.get_ref(i).expect("value") {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        String::from_utf8_lossy(t).into_owned()
                    }
                    _ => continue,
                };
                cells.push((format!("{table}.{column}"), text));
            }
        }
    }
    cells
}

/// The address a `webhook-mcp serve` process started with `WEBHOOK_MCP_LISTEN=127.0.0.1:0`
/// says it listens on, read from its log at `log` (its stderr) once it has said so.
pub async fn listening_addr(log: &std::path::Path) -> SocketAddr {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let found = text
            .lines()
            .filter(|l| l.contains("listening"))
            .find_map(|l| {
                l.split("addr=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            });
        if let Some(addr) = found {
            return addr;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no `listening` line in:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
