//! `webhook-mcp stdio` driven line by line as raw JSON-RPC, to see what a malformed line is
//! answered (an rmcp client would never send one), and what a front end without `serve`'s
//! settings queues for `serve` to send.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::helpers::{API_KEY, spawn_app, spawn_app_with};

/// A stdio server on its own database, spoken to one JSON-RPC line at a time.
struct RawStdio {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl RawStdio {
    /// A stdio server on `db`, with more arguments or environment as `adjust` sets; none of
    /// the test's own environment's upstream settings leak in.
    fn spawn_with(
        db: &std::path::Path,
        adjust: impl FnOnce(&mut tokio::process::Command),
    ) -> RawStdio {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_webhook-mcp"));
        command
            .arg("stdio")
            .arg("--database")
            .arg(db)
            .env_remove("WEBHOOK_MCP_API_KEY")
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITHUB_API_URL")
            .env_remove("ALLOWED_TARGET_HOSTS")
            .env_remove("WEBHOOK_MCP_WORKER")
            .env_remove("WEBHOOK_MCP_RUNNER")
            .env("RUST_LOG", "warn");
        adjust(&mut command);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn webhook-mcp stdio");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        RawStdio {
            child,
            stdin,
            stdout,
        }
    }

    async fn send(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write a line");
        self.stdin.flush().await.expect("flush");
    }

    /// The next line the server writes, as JSON; `None` if it says nothing within 5 s.
    async fn answer(&mut self) -> Option<Value> {
        let line = tokio::time::timeout(Duration::from_secs(5), self.stdout.next_line())
            .await
            .ok()?
            .expect("read stdout")?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")))
    }

    async fn exchange(&mut self, line: &str) -> Option<Value> {
        self.send(line).await;
        self.answer().await
    }
}

/// Starts a stdio server on `db` and waits until it has answered `initialize`.
async fn started_stdio(
    db: &std::path::Path,
    adjust: impl FnOnce(&mut tokio::process::Command),
) -> RawStdio {
    let mut stdio = RawStdio::spawn_with(db, adjust);
    let initialized = stdio
        .exchange(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                               "clientInfo": {"name": "raw", "version": "0"}}})
            .to_string(),
        )
        .await
        .expect("initialize answered");
    assert_eq!(initialized["id"], 1, "{initialized}");
    stdio
}

/// A stdio server on `db` whose session has begun (`initialize` answered, then
/// `notifications/initialized` sent), ready for tool calls.
async fn session(
    db: &std::path::Path,
    adjust: impl FnOnce(&mut tokio::process::Command),
) -> RawStdio {
    let mut stdio = started_stdio(db, adjust).await;
    stdio
        .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    stdio
}

#[tokio::test]
async fn a_stdio_front_end_leaves_the_servers_sends_and_waits_alone_unless_told_to_work() {
    // Arrange: `serve` (worker driven by hand) has a question out, its task waiting, and a
    // comment queued; stdio is started as an MCP client would, without GitHub's token and
    // with a 1 s reply timeout of its own.
    let github = crate::helpers::fake_github().await;
    let app = crate::helpers::spawn_manual(crate::helpers::use_github(&github)).await;
    app.github_webhook("gh", crate::helpers::GH_SECRET).await;
    let event_id = crate::helpers::open_issue(&app, 31, "Front end").await;
    let (_, asked) = app
        .post_api(
            &format!("/api/events/{event_id}/ask"),
            &json!({"text": "Which release?", "agent": "brain"}),
        )
        .await;
    assert_eq!(app.drain().await, 1, "the question went out");
    let task_id = asked["task_id"].as_str().expect("task id").to_string();
    let (_, comment) = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "Later"}),
        )
        .await;
    let action_id = comment["id"].as_str().expect("action id").to_string();
    let action_status = || async {
        let (_, action) = app.get_json(&format!("/api/actions/{action_id}")).await;
        action["status"].as_str().unwrap_or_default().to_string()
    };

    // Act
    let front_end = started_stdio(&app.db_path, |c| {
        c.env("WEBHOOK_MCP_REPLY_TIMEOUT", "1s");
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // Assert: nothing taken, nothing timed out.
    assert_eq!(action_status().await, "pending");
    assert_eq!(app.task(&task_id).await["status"], "waiting_reply");
    drop(front_end);

    // Act: one told to work does, with the settings it was given.
    let _worker = started_stdio(&app.db_path, |c| {
        c.args(["--worker", "true"])
            .env("WEBHOOK_MCP_REPLY_TIMEOUT", "1s")
            .env("GITHUB_API_URL", github.uri())
            .env("GITHUB_TOKEN", "ghp_test");
    })
    .await;
    let started = std::time::Instant::now();
    while (action_status().await != "delivered"
        || app.task(&task_id).await["status"] == "waiting_reply")
        && started.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Assert
    assert_eq!(action_status().await, "delivered");
    assert_eq!(app.task(&task_id).await["status"], "failed");
}

/// A `tools/call` over stdio (after `notifications/initialized`); the JSON-RPC result.
/// A stdio session on a new database in `dir` whose first call made GitHub webhook `gh`.
async fn session_with_gh(dir: &tempfile::TempDir) -> RawStdio {
    let mut stdio = session(&dir.path().join("stdio.db"), |_| {}).await;
    let made = call_tool(
        &mut stdio,
        2,
        "create_webhook",
        json!({"id": "gh", "name": "GH", "provider": "github"}),
    )
    .await;
    assert_eq!(made["isError"], false, "{made}");
    stdio
}

async fn call_tool(stdio: &mut RawStdio, id: u64, name: &str, arguments: Value) -> Value {
    let answer = stdio
        .exchange(
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": name, "arguments": arguments}})
            .to_string(),
        )
        .await
        .unwrap_or_else(|| panic!("{name} answered"));
    assert_eq!(answer["id"], id, "{answer}");
    answer["result"].clone()
}

#[tokio::test]
async fn a_stdio_front_end_queues_what_serve_sends_with_its_own_token_and_allowed_hosts() {
    // Arrange: `serve` (outbox driven by hand) with GitHub's token and 127.0.0.1 allowed; a
    // stdio front end on its database with neither, as mcp-proxy.json starts it.
    let github = crate::helpers::fake_github().await;
    let channel = wiremock::MockServer::start().await;
    let hook = "/api/v1/channels/webhooks/s/t";
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(hook))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({"success": true, "message_id": "m1"})),
        )
        .expect(1)
        .mount(&channel)
        .await;
    let app = crate::helpers::spawn_manual(crate::helpers::use_github(&github)).await;
    app.github_webhook("gh", crate::helpers::GH_SECRET).await;
    let event_id = crate::helpers::open_issue(&app, 32, "Front end reply").await;
    let mut front_end = session(&app.db_path, |_| {}).await;

    // Act
    let commented = call_tool(
        &mut front_end,
        2,
        "comment",
        json!({"event_id": event_id, "text": "Looking into it"}),
    )
    .await;
    let posted = call_tool(
        &mut front_end,
        3,
        "post_message",
        json!({"url": format!("{}{hook}", channel.uri()), "text": "Deploy done"}),
    )
    .await;

    // Assert: both queued, each with a warning that says who checks and how to follow it.
    for (result, says) in [
        (&commented, "GITHUB_TOKEN"),
        (&posted, "ALLOWED_TARGET_HOSTS"),
    ] {
        assert_eq!(result["isError"], false, "{result}");
        let action_id = result["structuredContent"]["id"].as_str().expect("id");
        let warning = result["structuredContent"]["warnings"][0]
            .as_str()
            .unwrap_or_else(|| panic!("a warning: {result}"));
        assert!(warning.contains("sends no actions"), "{warning}");
        assert!(warning.contains(says), "{warning}");
        assert!(
            warning.contains(&format!("get_action `{action_id}`")),
            "{warning}"
        );
        let summary = result["content"][0]["text"].as_str().unwrap_or_default();
        assert!(
            summary.contains("Warning: this process sends no actions"),
            "{summary}"
        );
    }

    // Act: `serve` sends them, with its own token, to its own allowed host.
    assert_eq!(app.drain().await, 2);

    // Assert
    assert_eq!(
        crate::helpers::comments_on(&github, 32).await,
        vec!["Looking into it"]
    );
    let sent_with = github.received_requests().await.expect("recorded")[0]
        .headers
        .get("authorization")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    assert_eq!(sent_with.as_deref(), Some("Bearer ghp_test"));
    for result in [&commented, &posted] {
        let id = result["structuredContent"]["id"].as_str().expect("id");
        let (_, action) = app.get_json(&format!("/api/actions/{id}")).await;
        assert_eq!(action["status"], "delivered", "{action}");
    }
    drop(front_end);

    // Act: a stdio told to send (--worker) holds the same calls to its own settings.
    let mut sender = started_stdio(&app.db_path, |c| {
        c.args(["--worker", "true"]);
    })
    .await;
    sender
        .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    let refused_comment = call_tool(
        &mut sender,
        2,
        "comment",
        json!({"event_id": event_id, "text": "Again"}),
    )
    .await;
    let refused_message = call_tool(
        &mut sender,
        3,
        "post_message",
        json!({"url": format!("{}{hook}", channel.uri()), "text": "Again"}),
    )
    .await;

    // Assert: refused as before, nothing more queued.
    for (result, says) in [
        (&refused_comment, "nothing was queued"),
        (&refused_message, "ALLOWED_TARGET_HOSTS"),
    ] {
        assert_eq!(result["isError"], true, "{result}");
        assert!(result.to_string().contains(says), "{result}");
    }
    assert_eq!(app.actions_of(&event_id).await.len(), 1);
}

#[tokio::test]
async fn a_malformed_stdio_line_is_answered_as_http_mcp_answers_it() {
    // Arrange: an initialized stdio session, and the HTTP server for comparison.
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stdio = session(&dir.path().join("stdio.db"), |_| {}).await;
    let malformed = [
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_webhook","arguments":"x"}}"#,
            json!(2),
            -32602,
            "`params.arguments` must be an object",
        ),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":5}}"#,
            json!(3),
            -32602,
            "`params.name` must be a string",
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{}}"#,
            json!(4),
            -32602,
            "`resources/read` needs `params.uri`",
        ),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get_webhook","arguments":{"webhook_id":"a","webhook_id":"b"}}}"#,
            json!(5),
            -32602,
            "appears twice",
        ),
        ("garbage", Value::Null, -32700, "Parse error"),
    ];

    for (line, id, code, says) in malformed {
        // Act
        let over_stdio = stdio.exchange(line).await;
        let over_http = app
            .client
            .post(app.url("/mcp"))
            .bearer_auth(API_KEY)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(line)
            .send()
            .await
            .expect("POST /mcp")
            .json::<Value>()
            .await
            .expect("a JSON-RPC error over HTTP");

        // Assert: the refusal HTTP gives, word for word.
        let over_stdio = over_stdio.unwrap_or_else(|| panic!("no answer over stdio to {line}"));
        assert_eq!(over_stdio, over_http, "{line}");
        assert_eq!(over_stdio["id"], id, "{over_stdio}");
        assert_eq!(over_stdio["error"]["code"], code, "{over_stdio}");
        let message = over_stdio["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{over_stdio}");
    }

    // Assert: the session goes on after the refusals.
    let listed = stdio
        .exchange(r#"{"jsonrpc":"2.0","id":6,"method":"tools/list"}"#)
        .await
        .expect("tools/list answered");
    assert_eq!(listed["id"], 6, "{listed}");
    assert!(listed["result"]["tools"].is_array(), "{listed}");

    // Assert: closing stdin still ends the server.
    drop(stdio.stdin);
    let status = tokio::time::timeout(Duration::from_secs(10), stdio.child.wait())
        .await
        .expect("stdio exits when its input ends")
        .expect("wait");
    assert!(status.success(), "{status}");
}

/// Front ends started together on a new database (as after an upgrade, beside `serve`) take
/// turns migrating it: every one starts and answers. Several rounds, since one may not
/// overlap.
#[tokio::test]
async fn stdio_front_ends_started_together_on_a_new_database_all_start() {
    for round in 0..4 {
        // Arrange
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("app.db");

        // Act
        let mut started: Vec<RawStdio> =
            (0..3).map(|_| RawStdio::spawn_with(&db, |_| {})).collect();

        // Assert
        for (n, stdio) in started.iter_mut().enumerate() {
            let answer = stdio
                .exchange(
                    &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                       "clientInfo": {"name": "raw", "version": "0"}}})
                    .to_string(),
                )
                .await;
            assert!(
                answer.is_some_and(|a| a["id"] == 1),
                "round {round}: front end {n} did not start"
            );
        }
    }
}

#[tokio::test]
async fn a_stdio_line_too_long_to_read_is_answered_and_the_session_goes_on() {
    // Arrange: a tool call over 16 MiB, its id at its start as clients write it.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stdio = session(&dir.path().join("stdio.db"), |_| {}).await;
    let pad = "x".repeat(16 * 1024 * 1024);
    let long = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"list_webhooks","arguments":{{"pad":"{pad}"}}}}}}"#
    );

    // Act
    let refused = stdio.exchange(&long).await;
    let ping = stdio
        .exchange(r#"{"jsonrpc":"2.0","id":10,"method":"ping"}"#)
        .await;

    // Assert: an error for its id saying why, where the client used to wait forever.
    let refused = refused.expect("the long line is answered");
    assert_eq!(refused["id"], 9, "{refused}");
    assert_eq!(refused["error"]["code"], -32000, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("16777216"), "{refused}");
    let ping = ping.expect("the next line is answered");
    assert_eq!(ping["id"], 10, "{ping}");
    assert!(ping.get("result").is_some(), "{ping}");
}

#[tokio::test]
async fn a_last_stdio_line_without_its_newline_is_answered() {
    // Arrange
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stdio = session(&dir.path().join("stdio.db"), |_| {}).await;

    // Act: a whole message, then the end of input instead of a `\n`.
    stdio
        .stdin
        .write_all(br#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)
        .await
        .expect("write");
    drop(stdio.stdin);
    let line = tokio::time::timeout(Duration::from_secs(5), stdio.stdout.next_line()).await;

    // Assert
    let line = line
        .expect("answered within 5 s")
        .expect("read stdout")
        .expect("a line");
    let answer: Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(answer["id"], 2, "{answer}");
    assert!(answer.get("result").is_some(), "{answer}");
}

#[tokio::test]
async fn over_stdio_a_listen_naming_too_many_resources_is_refused_and_the_next_line_answered() {
    // Arrange
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stdio = session(&dir.path().join("stdio.db"), |_| {}).await;
    let uris: Vec<String> = (0..20_000).map(|i| format!("event://e{i}")).collect();
    let listen = json!({"jsonrpc": "2.0", "id": "l1", "method": "subscriptions/listen",
        "params": {"notifications": {"resourceSubscriptions": uris},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
                      "io.modelcontextprotocol/clientCapabilities": {}}}});

    // Act
    let refused = stdio.exchange(&listen.to_string()).await;
    let ping = stdio
        .exchange(r#"{"jsonrpc":"2.0","id":11,"method":"ping"}"#)
        .await;

    // Assert: refused as it is, naming the limit, none of its 20,000 looked up.
    let refused = refused.expect("the listen is answered");
    assert_eq!(refused["id"], "l1", "{refused}");
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("at most 256") && message.contains("20000"),
        "{refused}"
    );
    assert_eq!(ping.expect("the ping is answered")["id"], 11);
}

#[tokio::test]
async fn over_stdio_a_listen_whose_filter_cannot_be_read_is_32602_naming_the_field() {
    // Arrange: a listen that names its filter `filter`, as a client may.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stdio = session(&dir.path().join("stdio.db"), |_| {}).await;
    let listen = json!({"jsonrpc": "2.0", "id": "l1", "method": "subscriptions/listen",
        "params": {"filter": {"resourceSubscriptions": ["webhook://x/events"]},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
                      "io.modelcontextprotocol/clientCapabilities": {}}}});

    // Act
    let refused = stdio.exchange(&listen.to_string()).await;

    // Assert: what is wrong, not an unknown method.
    let refused = refused.expect("the listen is answered");
    assert_eq!(refused["id"], "l1", "{refused}");
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`params.notifications.resourceSubscriptions`"),
        "{refused}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_stdio_server_told_to_stop_by_a_signal_stops_cleanly_with_its_input_still_open() {
    // Arrange: a started session whose client keeps stdin open.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stdio = started_stdio(&dir.path().join("stdio.db"), |_| {}).await;
    let pid = stdio.child.id().expect("running").to_string();

    // Act
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    let stopped = tokio::time::timeout(Duration::from_secs(10), stdio.child.wait()).await;

    // Assert: it ended by itself (the store closed), not killed by the signal, nor left
    // waiting on a read of stdin.
    assert!(sent.success());
    let status = stopped.expect("stopped within 10 s").expect("wait");
    assert!(status.success(), "{status:?}");
    drop(stdio.stdin);
}

/// A secret key: `serve`'s in one test, a front end's in others.
const SECRET_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[tokio::test]
async fn a_front_end_with_a_key_beside_a_serve_without_one_leaves_secrets_readable_to_it() {
    // Arrange: `serve` without a key, with a webhook; a front end started with one (a client
    // configured before `serve` was), which would otherwise seal every secret at its start.
    let app = spawn_app().await;
    app.github_webhook("gh", crate::helpers::GH_SECRET).await;
    let mut front_end = started_stdio(&app.db_path, |c| {
        c.env("WEBHOOK_MCP_SECRET_KEY", SECRET_KEY);
    })
    .await;
    front_end
        .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;

    // Act
    let made = call_tool(
        &mut front_end,
        2,
        "create_webhook",
        json!({"id": "gl", "name": "GL", "provider": "gitlab"}),
    )
    .await;
    let (gh_status, gh) = app.get_json("/api/webhooks/gh").await;
    let (gl_status, gl) = app.get_json("/api/webhooks/gl").await;
    crate::helpers::open_issue(&app, 1, "Still verified").await;

    // Assert
    assert_eq!(made["isError"], false, "{made}");
    assert_eq!(gh_status, reqwest::StatusCode::OK, "{gh}");
    assert_eq!(gl_status, reqwest::StatusCode::OK, "{gl}");
    let sealed: Vec<_> = crate::helpers::text_cells(&app.db_path)
        .into_iter()
        .filter(|(_, cell)| cell.contains("enc:v1:"))
        .collect();
    assert!(sealed.is_empty(), "{sealed:?}");
}

#[tokio::test]
async fn a_front_end_with_another_key_than_serves_is_refused_before_it_stores_anything() {
    // Arrange: `serve` started with a key, nothing stored yet.
    let app = spawn_app_with(|c| c.secret_key = Some(SECRET_KEY.into())).await;
    let other = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

    // Act
    let started = tokio::process::Command::new(env!("CARGO_BIN_EXE_webhook-mcp"))
        .arg("stdio")
        .arg("--database")
        .arg(&app.db_path)
        .env_remove("WEBHOOK_MCP_PREVIOUS_SECRET_KEYS")
        .env("WEBHOOK_MCP_SECRET_KEY", other)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run webhook-mcp stdio");

    // Assert
    let stderr = String::from_utf8_lossy(&started.stderr);
    assert!(!started.status.success(), "{stderr}");
    assert!(
        stderr.contains("not the key the stored secrets are kept under"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(other) && started.stdout.is_empty(),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_front_end_without_the_key_serve_keeps_secrets_under_is_refused_before_it_stores_anything()
 {
    // Arrange: `serve` started with a key, nothing stored yet (so nothing sealed to open).
    let app = spawn_app_with(|c| c.secret_key = Some(SECRET_KEY.into())).await;

    // Act: an MCP client starts stdio with an environment that lacks the key.
    let started = tokio::process::Command::new(env!("CARGO_BIN_EXE_webhook-mcp"))
        .arg("stdio")
        .arg("--database")
        .arg(&app.db_path)
        .env_remove("WEBHOOK_MCP_PREVIOUS_SECRET_KEYS")
        .env_remove("WEBHOOK_MCP_SECRET_KEY")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run webhook-mcp stdio");

    // Assert: refused, rather than storing the secrets it is given plain.
    let stderr = String::from_utf8_lossy(&started.stderr);
    assert!(!started.status.success(), "{stderr}");
    assert!(
        stderr.contains("WEBHOOK_MCP_SECRET_KEY is not set"),
        "{stderr}"
    );
    assert!(started.stdout.is_empty(), "{stderr}");
}

#[tokio::test]
async fn an_event_stored_by_the_stdio_process_itself_is_told_to_its_subscriber_once() {
    // Arrange: a session subscribed to a webhook's events.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stdio = session_with_gh(&dir).await;
    let subscribed = stdio
        .exchange(
            &json!({"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe",
                    "params": {"uri": "webhook://gh/events"}})
            .to_string(),
        )
        .await
        .expect("subscribe answered");
    assert_eq!(subscribed["id"], 3, "{subscribed}");

    // Act: this process stores an event; everything said in the next 2.5 s (the watcher
    // of other processes' events looks every second) is read.
    stdio
        .send(
            &json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                    "params": {"name": "test_webhook",
                               "arguments": {"webhook_id": "gh", "event_type": "issues.opened"}}})
            .to_string(),
        )
        .await;
    let mut said = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_millis(2_500);
    while let Ok(Ok(Some(line))) = tokio::time::timeout_at(until, stdio.stdout.next_line()).await {
        said.push(serde_json::from_str::<Value>(&line).expect("JSON line"));
    }

    // Assert
    assert!(said.iter().any(|m| m["id"] == 4), "{said:?}");
    let told = said
        .iter()
        .filter(|m| {
            m["method"] == "notifications/resources/updated"
                && m["params"]["uri"] == "webhook://gh/events"
        })
        .count();
    assert_eq!(told, 1, "{said:?}");
}

#[tokio::test]
async fn the_end_of_input_ends_an_open_listen_and_the_process_at_once() {
    // Arrange: a session listening to a webhook's events.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stdio = session_with_gh(&dir).await;
    let listen = json!({"jsonrpc": "2.0", "id": "l1", "method": "subscriptions/listen",
        "params": {"notifications": {"resourceSubscriptions": ["webhook://gh/events"]},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
                      "io.modelcontextprotocol/clientCapabilities": {}}}});
    stdio.send(&listen.to_string()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act
    let RawStdio {
        mut child, stdin, ..
    } = stdio;
    drop(stdin);
    let started = std::time::Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stopped within 10 s")
        .expect("wait");

    // Assert: rmcp's 5 s wait on the stream is not waited out.
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_notification_before_initialize_is_dropped_and_input_ended_at_once_is_a_clean_stop() {
    // Arrange
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("stdio.db");
    let mut early = RawStdio::spawn_with(&db, |_| {});

    // Act
    early
        .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    let initialized = early
        .exchange(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                               "clientInfo": {"name": "raw", "version": "0"}}})
            .to_string(),
        )
        .await;
    let nothing = tokio::process::Command::new(env!("CARGO_BIN_EXE_webhook-mcp"))
        .arg("stdio")
        .arg("--database")
        .arg(&db)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run webhook-mcp stdio");

    // Assert
    let initialized = initialized.expect("initialize answered");
    assert_eq!(initialized["id"], 1, "{initialized}");
    assert!(initialized["result"].is_object(), "{initialized}");
    let stderr = String::from_utf8_lossy(&nothing.stderr);
    assert!(nothing.status.success(), "{:?}: {stderr}", nothing.status);
    assert!(nothing.stdout.is_empty(), "{stderr}");
}

#[tokio::test]
async fn a_notification_once_a_session_without_initialize_began_goes_through() {
    // A 2026-07-28 client never sends `initialize`: its session begins with a call carrying
    // `_meta` (not `server/discover`), and its `notifications/cancelled` (how it cancels a call
    // or a listen) must then reach rmcp; before that one, a notification would end the session.
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |lines: Vec<String>| {
        let db = dir.path().join("stdio.db");
        async move {
            let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_webhook-mcp"))
                .arg("stdio")
                .arg("--database")
                .arg(&db)
                .env("RUST_LOG", "debug")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn webhook-mcp stdio");
            let mut stdin = child.stdin.take().expect("stdin");
            for line in lines {
                stdin
                    .write_all(format!("{line}\n").as_bytes())
                    .await
                    .expect("write");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            drop(stdin);
            tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
                .await
                .expect("stopped")
                .expect("output")
        }
    };
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
                      "io.modelcontextprotocol/clientCapabilities": {}});
    let call = |id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {"_meta": meta}})
            .to_string()
    };
    let discover = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover",
                          "params": {"_meta": meta}})
    .to_string();
    let cancel = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}"#
        .to_string();

    // Act
    let begun = run(vec![discover.clone(), call(2), cancel.clone(), call(3)]).await;
    let only_discovered = run(vec![discover, cancel, call(3)]).await;

    // Assert: each ran to the end of its input and answered its last call.
    let dropped = "a notification before the session began; dropped";
    for (name, done, drops) in [
        ("begun", &begun, false),
        ("discovered", &only_discovered, true),
    ] {
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert!(done.status.success(), "{name}: {stderr}");
        assert_eq!(stderr.contains(dropped), drops, "{name}: {stderr}");
        let stdout = String::from_utf8_lossy(&done.stdout);
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(r#""id":3"#) && l.contains("result")),
            "{name}: {stdout}"
        );
    }
}

#[tokio::test]
async fn a_front_end_first_on_a_database_seals_and_a_serve_without_its_key_is_refused() {
    // Arrange: a stdio with a key is the first process on a new database (used without
    // `serve`, or started before it).
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("app.db");
    let mut front_end = started_stdio(&db, |c| {
        c.env("WEBHOOK_MCP_SECRET_KEY", SECRET_KEY);
    })
    .await;
    front_end
        .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;

    // Act: `serve` without the key, while the front end still runs and nothing is sealed yet;
    // then the front end saves a secret.
    let serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_webhook-mcp"))
        .arg("serve")
        .arg("--database")
        .arg(&db)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env_remove("WEBHOOK_MCP_SECRET_KEY")
        .env_remove("WEBHOOK_MCP_PREVIOUS_SECRET_KEYS")
        .stdin(Stdio::null())
        .output();
    let serve = tokio::time::timeout(Duration::from_secs(20), serve)
        .await
        .expect("serve stopped")
        .expect("run serve");
    let made = call_tool(
        &mut front_end,
        2,
        "create_webhook",
        json!({"id": "gh", "name": "GH", "provider": "github", "secret": "s3cret-value-1234"}),
    )
    .await;
    assert_eq!(made["isError"], false, "{made}");

    // Assert: sealed by the front end; the keyless `serve` refused, not left to fail later.
    let sealed = crate::helpers::text_cells(&db)
        .into_iter()
        .any(|(_, cell)| cell.starts_with("enc:v1:"));
    assert!(sealed, "the front end sealed the secret");
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(!serve.status.success(), "{stderr}");
    assert!(stderr.contains("kept under a key"), "{stderr}");
}

#[tokio::test]
async fn a_default_database_that_cannot_be_made_is_named_by_its_absolute_path() {
    // Arrange: a working directory where the default `./data` folder cannot be made (a file
    // holds the name; a read-only folder would not stop root), as `/` is for a stdio server
    // Claude Desktop starts on macOS.
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path().canonicalize().expect("canonical tempdir");
    std::fs::write(cwd.join("data"), "not a folder").expect("write data file");

    // Act
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_webhook-mcp"))
        .arg("stdio")
        .current_dir(&cwd)
        .env_remove("WEBHOOK_MCP_DATABASE")
        .env_remove("WEBHOOK_MCP_API_KEY")
        .env_remove("WEBHOOK_MCP_SECRET_KEY")
        .env_remove("WEBHOOK_MCP_PREVIOUS_SECRET_KEYS")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdin(Stdio::null())
        .output();
    let run = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("stdio stopped")
        .expect("run stdio");

    // Assert: the folder meant is named whole, not only as `./data`.
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    let absolute = cwd.join("data").join("webhook-mcp.db");
    assert!(
        stderr.contains(&absolute.display().to_string()),
        "{absolute:?} not in {stderr}"
    );
}

#[tokio::test]
async fn over_stdio_a_string_cut_inside_an_emoji_is_read_with_a_replacement_character() {
    // Arrange: a line as a JavaScript client that cut "🔧" in two writes it.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stdio = session(&dir.path().join("stdio.db"), |_| {}).await;
    let cut = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_webhook","arguments":{"id":"cut","name":"ops \ud83d","provider":"github"}}}"#;

    // Act
    let made = stdio.exchange(cut).await.expect("answered");
    let read = call_tool(&mut stdio, 3, "get_webhook", json!({"webhook_id": "cut"})).await;

    // Assert
    assert_eq!(made["id"], 2, "{made}");
    assert_eq!(made["result"]["isError"], false, "{made}");
    assert!(read.to_string().contains("ops \u{fffd}"), "{read}");
}
