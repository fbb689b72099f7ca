//! Stateful MCP sessions (`--mcp-sessions`) over raw Streamable HTTP: a session is its
//! opening key's, revoking that key ends the session and its GET stream, and a session lives
//! while its client uses it (a stream open counts) and ends once it has left.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{API_KEY, TestApp, issue_opened, send_json, spawn_app_with, use_slack};

const SESSION: &str = "mcp-session-id";

async fn sessions_app() -> TestApp {
    spawn_app_with(|c| c.mcp_sessions = true).await
}

/// Creates a stored key; returns its id and the key.
async fn create_key(app: &TestApp, name: &str, scope: &str) -> (String, String) {
    let (status, body) = send_json(
        app.api(Method::POST, "/api/keys")
            .json(&json!({"name": name, "scope": scope})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let field = |f: &str| body[f].as_str().expect(f).to_string();
    (field("id"), field("key"))
}

/// A request to `/mcp` with `key`, in `session` if one is named.
fn mcp(app: &TestApp, method: Method, key: &str, session: Option<&str>) -> RequestBuilder {
    let request = app
        .client
        .request(method, app.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18");
    match session {
        Some(id) => request.header(SESSION, id),
        None => request,
    }
}

fn post(app: &TestApp, key: &str, session: Option<&str>, body: Value) -> RequestBuilder {
    mcp(app, Method::POST, key, session).json(&body)
}

/// Opens (initializes) a session with `key`; returns its id.
async fn open_session(app: &TestApp, key: &str) -> String {
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "0"}}});
    let opened = post(app, key, None, initialize)
        .send()
        .await
        .expect("initialize");
    assert_eq!(opened.status(), StatusCode::OK);
    let session = opened
        .headers()
        .get(SESSION)
        .expect("a session id")
        .to_str()
        .expect("text")
        .to_string();
    opened.text().await.expect("initialize answered");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let told = post(app, key, Some(&session), initialized)
        .send()
        .await
        .expect("initialized");
    assert_eq!(told.status(), StatusCode::ACCEPTED);
    session
}

/// The status of a `tools/list` sent with `key` in `session`.
async fn list_tools(app: &TestApp, key: &str, session: &str) -> StatusCode {
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let answer = post(app, key, Some(session), list)
        .send()
        .await
        .expect("tools/list");
    let status = answer.status();
    answer.text().await.expect("body");
    status
}

/// Whether `stream` ends within `secs` seconds.
async fn ends_within(mut stream: reqwest::Response, secs: u64) -> bool {
    let drained = async { while let Ok(Some(_)) = stream.chunk().await {} };
    tokio::time::timeout(Duration::from_secs(secs), drained)
        .await
        .is_ok()
}

#[tokio::test]
async fn a_sessions_answers_carry_no_event_with_empty_data_which_older_clients_cannot_read() {
    // Arrange
    let app = sessions_app().await;
    let session = open_session(&app, API_KEY).await;

    // Act
    let ping = json!({"jsonrpc": "2.0", "id": 3, "method": "ping"});
    let answer = post(&app, API_KEY, Some(&session), ping)
        .send()
        .await
        .expect("ping");
    let body = answer.text().await.expect("body");

    // Assert: every event's data is a JSON-RPC message.
    let data: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .collect();
    assert!(!data.is_empty(), "{body:?}");
    for d in data {
        let message: Value = serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {body:?}"));
        assert_eq!(message["jsonrpc"], "2.0", "{body:?}");
    }
}

#[tokio::test]
async fn revoking_a_key_ends_the_sessions_it_opened_and_their_streams() {
    // Arrange: a read key's session with its GET stream open and a subscription, beside the
    // configured key's session.
    let app = sessions_app().await;
    app.github_webhook("gh", "revoked-session-secret").await;
    let (key_id, key) = create_key(&app, "dashboard", "read").await;
    let session = open_session(&app, &key).await;
    let stream = listen_with(&app, &key, &session).await;
    let subscribe = json!({"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe",
                           "params": {"uri": "webhook://gh/events"}});
    let subscribed = post(&app, &key, Some(&session), subscribe)
        .send()
        .await
        .expect("subscribe");
    assert_eq!(subscribed.status(), StatusCode::OK);
    let subscribed = subscribed.text().await.expect("body");
    assert!(subscribed.contains("\"result\""), "{subscribed}");
    let admin_session = open_session(&app, API_KEY).await;

    // Act
    let revoked = app
        .api(Method::DELETE, &format!("/api/keys/{key_id}"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);

    // Assert: the stream ended, the session is gone, the other session goes on.
    assert!(
        ends_within(stream, 5).await,
        "the GET stream of a revoked key's session stayed open"
    );
    assert_eq!(
        list_tools(&app, API_KEY, &session).await,
        StatusCode::NOT_FOUND,
        "the revoked key's session is closed"
    );
    assert_eq!(
        list_tools(&app, API_KEY, &admin_session).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_key_revoked_on_another_server_ends_the_sessions_it_opened_here() {
    // Arrange: a second server on the same database, where a read key holds a session with
    // its GET stream open.
    let first = sessions_app().await;
    let (key_id, key) = create_key(&first, "dashboard", "read").await;
    let second = first
        .beside(|c| {
            c.mcp_sessions = true;
            c.worker = false;
        })
        .await;
    let session = open_session(&second, &key).await;
    let stream = listen_with(&second, &key, &session).await;

    // Act: the key is revoked on the first server.
    let revoked = first
        .api(Method::DELETE, &format!("/api/keys/{key_id}"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);

    // Assert
    assert!(
        ends_within(stream, 5).await,
        "the GET stream of a key revoked on another server stayed open"
    );
}

#[tokio::test]
async fn a_tool_call_under_way_when_its_key_is_revoked_is_answered_with_its_result() {
    // Arrange: a Slack that takes a while to list channels, so that an add_command naming
    // `#general` is still under way, in its session, when its key is revoked.
    let slack = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/conversations.list"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_millis(1500))
                .set_body_json(json!({
                    "ok": true,
                    "channels": [{"id": "C0GEN0001", "name": "general"}],
                    "response_metadata": {"next_cursor": ""},
                })),
        )
        .mount(&slack)
        .await;
    let app = spawn_app_with(|c| {
        use_slack(&slack)(c);
        c.mcp_sessions = true;
    })
    .await;
    app.slack_webhook("sl").await;
    let (key_id, key) = create_key(&app, "agent", "admin").await;
    let session = open_session(&app, &key).await;
    let stream = listen_with(&app, &key, &session).await;
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "add_command", "arguments": {
            "webhook_id": "sl", "trigger": "message.channels", "action": "respond",
            "template": "On it", "conditions": {"channel": "#general"}}}});
    let answer = tokio::spawn(post(&app, &key, Some(&session), call).send());
    let mut waited = 0;
    while slack
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty()
    {
        assert!(waited < 100, "the call never asked Slack");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }

    // Act
    let revoked = app
        .api(Method::DELETE, &format!("/api/keys/{key_id}"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);

    // Assert: the call, made, is answered with what it made; then the session ends.
    let answer = answer.await.expect("joined").expect("answered");
    assert_eq!(answer.status(), StatusCode::OK);
    let body = answer.text().await.expect("body");
    assert!(
        body.contains("\"result\"") && body.contains("C0GEN0001"),
        "the call under way was not answered with its result: {body:?}"
    );
    let (_, commands) = app.get_json("/api/webhooks/sl/commands").await;
    assert_eq!(
        commands["commands"].as_array().map(Vec::len),
        Some(1),
        "{commands}"
    );
    assert!(
        ends_within(stream, 5).await,
        "the GET stream of a revoked key's session stayed open"
    );
    assert_eq!(
        list_tools(&app, &key, &session).await,
        StatusCode::UNAUTHORIZED,
        "the revoked key works"
    );
}

#[tokio::test]
async fn a_session_is_used_only_with_the_key_that_opened_it() {
    // Arrange
    let app = sessions_app().await;
    let (_, key) = create_key(&app, "agent", "admin").await;
    let session = open_session(&app, &key).await;

    // Act: the configured key, which holds every right, uses the stored key's session.
    let listed = list_tools(&app, API_KEY, &session).await;
    let stream = mcp(&app, Method::GET, API_KEY, Some(&session))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET /mcp");
    let deleted = mcp(&app, Method::DELETE, API_KEY, Some(&session))
        .send()
        .await
        .expect("DELETE /mcp");

    // Assert: answered as for a session that does not exist, and the session lives on.
    assert_eq!(listed, StatusCode::NOT_FOUND);
    assert_eq!(stream.status(), StatusCode::NOT_FOUND);
    assert_eq!(deleted.status(), StatusCode::NOT_FOUND);
    assert_eq!(list_tools(&app, &key, &session).await, StatusCode::OK);
}

#[tokio::test]
async fn ending_a_session_is_answered_204_as_every_client_takes_it() {
    // Arrange
    let app = sessions_app().await;
    let session = open_session(&app, API_KEY).await;

    // Act
    let ended = mcp(&app, Method::DELETE, API_KEY, Some(&session))
        .send()
        .await
        .expect("DELETE /mcp");

    // Assert: 204, not rmcp's 202 (which the Python SDK logs as a failed termination), and
    // the session is gone.
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        list_tools(&app, API_KEY, &session).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn ending_a_session_that_is_gone_or_never_was_is_404_as_any_request_on_it() {
    // Arrange
    let app = sessions_app().await;
    let session = open_session(&app, API_KEY).await;
    let end = |id: String| {
        let app = &app;
        async move {
            mcp(app, Method::DELETE, API_KEY, Some(&id))
                .send()
                .await
                .expect("DELETE /mcp")
                .status()
        }
    };

    // Act
    let first = end(session.clone()).await;
    let again = end(session).await;
    let unknown = end("no-such-session".into()).await;

    // Assert: the spec's answer for a session the server does not hold.
    assert_eq!(first, StatusCode::NO_CONTENT);
    assert_eq!(again, StatusCode::NOT_FOUND);
    assert_eq!(unknown, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_read_key_on_another_keys_session_is_answered_404_whatever_it_sends() {
    // Arrange
    let app = sessions_app().await;
    let (_, reader) = create_key(&app, "reader", "read").await;
    let session = open_session(&app, API_KEY).await;
    let call = |tool: &str| {
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": tool, "arguments": {"id": "gh", "provider": "github"}}})
    };
    let status = |request: RequestBuilder| async move {
        let answer = request.send().await.expect("POST /mcp");
        let status = answer.status();
        answer.text().await.expect("body");
        status
    };

    // Act: a tool that changes something (which the read key may not call), one that only
    // reads, and a body that is not JSON-RPC at all.
    let write = status(post(&app, &reader, Some(&session), call("create_webhook"))).await;
    let read = status(post(&app, &reader, Some(&session), call("list_webhooks"))).await;
    let garbled = status(mcp(&app, Method::POST, &reader, Some(&session)).body("{not json")).await;

    // Assert: each as for a session that does not exist, before what it asks is looked at.
    assert_eq!(write, StatusCode::NOT_FOUND);
    assert_eq!(read, StatusCode::NOT_FOUND);
    assert_eq!(garbled, StatusCode::NOT_FOUND);
    assert_eq!(list_tools(&app, API_KEY, &session).await, StatusCode::OK);
}

#[tokio::test]
async fn a_read_key_on_a_session_that_ended_or_never_was_is_answered_404_as_on_a_live_one() {
    // Arrange: a read key's own session that it ended, and another key's live one.
    let app = sessions_app().await;
    let (_, reader) = create_key(&app, "reader", "read").await;
    let ended = open_session(&app, &reader).await;
    let gone = mcp(&app, Method::DELETE, &reader, Some(&ended))
        .send()
        .await
        .expect("DELETE /mcp");
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let live = open_session(&app, API_KEY).await;
    let create = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "create_webhook", "arguments": {"id": "gh", "provider": "github"}}});
    let answer = |session: String| {
        let (app, reader, create) = (&app, &reader, &create);
        async move {
            let answer = post(app, reader, Some(&session), create.clone())
                .send()
                .await
                .expect("POST /mcp");
            (answer.status(), answer.text().await.expect("body"))
        }
    };

    // Act: a tool the read key may not call, on each.
    let on_ended = answer(ended).await;
    let on_unknown = answer("no-such-session".into()).await;
    let on_live = answer(live).await;

    // Assert: one answer for all three, so the key learns nothing of which ids are live.
    assert_eq!(on_live.0, StatusCode::NOT_FOUND);
    assert_eq!(on_ended, on_live, "an ended session answers as a live one");
    assert_eq!(
        on_unknown, on_live,
        "an unknown session answers as a live one"
    );
}

#[tokio::test]
async fn a_read_key_in_its_own_session_still_gets_the_read_only_tool_error() {
    // Arrange
    let app = sessions_app().await;
    let (_, reader) = create_key(&app, "reader", "read").await;
    let session = open_session(&app, &reader).await;
    let create = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "create_webhook", "arguments": {"id": "gh", "provider": "github"}}});

    // Act: the read key calls a tool it may not in its own session.
    let refused = post(&app, &reader, Some(&session), create)
        .send()
        .await
        .expect("POST /mcp");
    let refused = (refused.status(), refused.text().await.expect("body"));
    let listed = list_tools(&app, &reader, &session).await;

    // Assert: the read-only tool error, as ever; its session still serves it.
    assert_eq!(refused.0, StatusCode::OK, "{}", refused.1);
    assert!(refused.1.contains("read-only"), "{}", refused.1);
    assert_eq!(listed, StatusCode::OK);
}

/// The idle limit the tests below set: short, so that a wait past it is brief, but long
/// enough that a loaded machine's gap between a session's `initialize` and its next request
/// (up to a quarter second seen) does not end it first.
const IDLE_LIMIT: Duration = Duration::from_secs(1);

/// Well past the idle limit and the sweeps that act on it (one each quarter of it). A fixed
/// wait, not a poll: each request to a session is a use that keeps it.
const PAST_IDLE_LIMIT: Duration = Duration::from_millis(3500);

async fn short_idle_app() -> TestApp {
    spawn_app_with(|c| {
        c.mcp_sessions = true;
        c.mcp_session_idle_limit = IDLE_LIMIT;
    })
    .await
}

/// Opens `session`'s GET stream.
async fn listen(app: &TestApp, session: &str) -> reqwest::Response {
    listen_with(app, API_KEY, session).await
}

/// Opens `session`'s GET stream with `key`.
async fn listen_with(app: &TestApp, key: &str, session: &str) -> reqwest::Response {
    let stream = mcp(app, Method::GET, key, Some(session))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET /mcp");
    assert_eq!(stream.status(), StatusCode::OK);
    stream
}

/// Whether `stream` carries `text` within `secs` seconds.
async fn carries_within(stream: &mut reqwest::Response, text: &str, secs: u64) -> bool {
    let mut seen = String::new();
    let found = async {
        while let Ok(Some(chunk)) = stream.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(text) {
                return true;
            }
        }
        false
    };
    tokio::time::timeout(Duration::from_secs(secs), found)
        .await
        .unwrap_or(false)
}

#[tokio::test]
async fn a_session_listening_on_its_stream_past_the_idle_limit_still_hears_of_new_events() {
    // Arrange: a session subscribed to a webhook's events, its GET stream open, then nothing
    // from its client for well past the idle limit.
    let app = short_idle_app().await;
    let secret = "gh-secret-for-a-quiet-listener";
    app.github_webhook("gh", secret).await;
    let session = open_session(&app, API_KEY).await;
    let mut stream = listen(&app, &session).await;
    let subscribe = json!({"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe",
                           "params": {"uri": "webhook://gh/events"}});
    let subscribed = post(&app, API_KEY, Some(&session), subscribe)
        .send()
        .await
        .expect("subscribe");
    let subscribed = subscribed.text().await.expect("body");
    assert!(subscribed.contains("\"result\""), "{subscribed}");
    tokio::time::sleep(PAST_IDLE_LIMIT).await;

    // Act
    let body = issue_opened("octo/app", 1, &[]);
    let received = app
        .post_github("gh", "issues", "d-quiet", &body, secret)
        .await;
    assert_eq!(received.status(), 200);

    // Assert: the notification arrives on the stream, and the session still serves.
    assert!(
        carries_within(&mut stream, "notifications/resources/updated", 5).await,
        "a session listening on its GET stream was ended as idle"
    );
    assert_eq!(list_tools(&app, API_KEY, &session).await, StatusCode::OK);
}

#[tokio::test]
async fn a_session_no_request_or_stream_used_past_the_idle_limit_is_ended() {
    // Arrange: a session that never opened a stream, one whose client closed its stream, and
    // one in use throughout.
    let app = short_idle_app().await;
    let never_listened = open_session(&app, API_KEY).await;
    let left = open_session(&app, API_KEY).await;
    drop(listen(&app, &left).await);
    let listening = open_session(&app, API_KEY).await;
    let _stream = listen(&app, &listening).await;

    // Act
    tokio::time::sleep(PAST_IDLE_LIMIT).await;

    // Assert: the first two are gone, as for any session the server does not hold.
    assert_eq!(
        list_tools(&app, API_KEY, &never_listened).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        list_tools(&app, API_KEY, &left).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(list_tools(&app, API_KEY, &listening).await, StatusCode::OK);
}

/// The tool names a `tools/list` sent in `session` with these headers is answered with.
async fn tools_offered(app: &TestApp, session: &str, headers: &[(&str, &str)]) -> Vec<String> {
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let mut request = post(app, API_KEY, Some(session), list);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().await.expect("tools/list");
    assert_eq!(answer.status(), StatusCode::OK);
    let body = answer.text().await.expect("body");
    // In a session the answer comes as a server-sent event.
    let result = body
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|message| message["id"] == 2)
        .unwrap_or_else(|| panic!("no answer to tools/list in {body}"));
    let tools = result["result"]["tools"].as_array().expect("tools");
    tools
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test]
async fn the_tools_a_session_is_offered_follow_the_user_of_each_request_not_of_the_opening() {
    // Arrange: only Open WebUI admins write; a session opened with an admin's headers.
    let app = spawn_app_with(|c| {
        c.mcp_sessions = true;
        c.openwebui_write_roles = vec!["admin".into()];
    })
    .await;
    let admin = [
        ("X-OpenWebUI-User-Id", "u-admin"),
        ("X-OpenWebUI-User-Role", "admin"),
    ];
    let user = [
        ("X-OpenWebUI-User-Id", "0b7f-jane"),
        ("X-OpenWebUI-User-Role", "user"),
    ];
    let session = open_session(&app, API_KEY).await;

    // Act
    let for_admin = tools_offered(&app, &session, &admin).await;
    let for_user = tools_offered(&app, &session, &user).await;

    // Assert
    assert!(
        for_admin.iter().any(|n| n == "create_webhook"),
        "{for_admin:?}"
    );
    assert!(
        for_user.iter().any(|n| n == "list_webhooks"),
        "{for_user:?}"
    );
    assert!(
        for_user
            .iter()
            .all(|n| n.starts_with("list_") || n.starts_with("get_")),
        "{for_user:?}"
    );
}

#[tokio::test]
async fn a_session_holds_at_most_256_subscriptions() {
    // Arrange: 257 webhooks to watch.
    let app = sessions_app().await;
    for n in 0..257 {
        app.github_webhook(&format!("w{n}"), "subscription-cap-secret")
            .await;
    }
    let session = open_session(&app, API_KEY).await;
    let subscribe = |n: usize| {
        let body = json!({"jsonrpc": "2.0", "id": n + 10, "method": "resources/subscribe",
                          "params": {"uri": format!("webhook://w{n}/events")}});
        post(&app, API_KEY, Some(&session), body).send()
    };

    // Act
    for n in 0..256 {
        let taken = subscribe(n).await.expect("subscribe");
        let taken = taken.text().await.expect("body");
        assert!(taken.contains("\"result\""), "{n}: {taken}");
    }
    let refused = subscribe(256).await.expect("subscribe");
    let refused = refused.text().await.expect("body");

    // Assert
    assert!(refused.contains("\"error\""), "{refused}");
    assert!(refused.contains("256"), "{refused}");
}

/// Opens `session`'s GET stream on a raw connection whose receive buffer is a few KB, and
/// never reads it: a client stuck, or gone without closing.
async fn stuck_stream(app: &TestApp, session: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(2048).expect("small buffer");
    socket.connect(&app.addr.into()).expect("connect");
    socket.set_nonblocking(true).expect("nonblocking");
    let mut stream =
        tokio::net::TcpStream::from_std(std::net::TcpStream::from(socket)).expect("stream");
    let request = format!(
        "GET /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {API_KEY}\r\n\
         Accept: text/event-stream\r\nMcp-Protocol-Version: 2025-06-18\r\n\
         {SESSION}: {session}\r\n\r\n",
        app.addr
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    stream
}

/// Subscribes `session` to `uri`.
async fn subscribe(app: &TestApp, session: &str, uri: &str) {
    let subscribe = json!({"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe",
                           "params": {"uri": uri}});
    let answer = post(app, API_KEY, Some(session), subscribe)
        .send()
        .await
        .expect("subscribe");
    assert_eq!(answer.status(), StatusCode::OK);
    answer.text().await.expect("subscribed");
}

#[tokio::test]
async fn a_session_whose_stream_is_not_read_holds_up_no_other_sessions_updates() {
    // Arrange: one session subscribed to `gh` whose stream is never read; another subscribed
    // to `quiet`, read as it comes.
    let app = sessions_app().await;
    app.github_webhook("gh", "s1").await;
    app.github_webhook("quiet", "s2").await;
    let stuck_session = open_session(&app, API_KEY).await;
    subscribe(&app, &stuck_session, "webhook://gh/events").await;
    let stuck = stuck_stream(&app, &stuck_session).await;
    let session = open_session(&app, API_KEY).await;
    subscribe(&app, &session, "webhook://quiet/events").await;
    let mut stream = mcp(&app, Method::GET, API_KEY, Some(&session))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET /mcp");

    // Act: a burst on `gh`, far more updates than the stuck stream's buffers hold; then one
    // event on `quiet`.
    for _ in 0..12 {
        app.post_github_concurrently("gh", 150, "s1").await;
    }
    app.post_github_concurrently("quiet", 1, "s2").await;
    let told = async {
        let mut seen = String::new();
        while let Ok(Some(chunk)) = stream.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("webhook://quiet/events") {
                return true;
            }
        }
        false
    };
    let told = tokio::time::timeout(Duration::from_secs(10), told).await;

    // Assert
    assert_eq!(
        told,
        Ok(true),
        "told within 10 s while the stuck stream holds its updates"
    );
    drop(stuck);
}

#[tokio::test]
async fn a_listen_in_a_legacy_session_is_told_how_that_protocol_subscribes() {
    // Arrange
    let app = sessions_app().await;
    app.github_webhook("gh", "s1").await;
    let session = open_session(&app, API_KEY).await;
    let listen = json!({"jsonrpc": "2.0", "id": 4, "method": "subscriptions/listen",
        "params": {"notifications": {"resourceSubscriptions": ["webhook://gh/events"]}}});

    // Act
    let answer = post(&app, API_KEY, Some(&session), listen)
        .send()
        .await
        .expect("listen");
    let body = answer.text().await.expect("body");

    // Assert: method not found, with the way this protocol subscribes.
    let data = body
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or(&body);
    let error: Value = serde_json::from_str(data).expect("a JSON-RPC answer");
    assert_eq!(error["id"], 4, "{error}");
    assert_eq!(error["error"]["code"], -32601, "{error}");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("resources/subscribe"), "{error}");
}
