//! What one client can make `/mcp` hold or do for it, over raw Streamable HTTP: sessions
//! past a key's (or the server's) limit are refused until some end, a listen names so many
//! resources and is looked into only once rmcp would take its headers; and the JSON-RPC
//! answers a key gets to a method the server does not serve, or to a response it never asked
//! for.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{API_KEY, TestApp, send_json, spawn_app, spawn_app_with};

const SESSION: &str = "mcp-session-id";

/// A POST of `body` to `/mcp` with `key`, at the legacy protocol (the one with sessions).
fn post(app: &TestApp, key: &str, body: &Value) -> RequestBuilder {
    app.client
        .post(app.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(body)
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
           "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                      "clientInfo": {"name": "raw", "version": "0"}}})
}

/// Sends `initialize` with `key`: the session it opened, or the refusal's status and body.
async fn try_open(app: &TestApp, key: &str) -> Result<String, (StatusCode, Value)> {
    opened(post(app, key, &initialize()).send().await.expect("POST")).await
}

async fn opened(response: reqwest::Response) -> Result<String, (StatusCode, Value)> {
    let status = response.status();
    let session = response
        .headers()
        .get(SESSION)
        .map(|v| v.to_str().expect("text").to_string());
    let text = response.text().await.expect("body");
    match session {
        Some(session) if status == StatusCode::OK => Ok(session),
        _ => Err((
            status,
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
        )),
    }
}

async fn end(app: &TestApp, key: &str, session: &str) {
    let ended = app
        .client
        .delete(app.url("/mcp"))
        .bearer_auth(key)
        .header("mcp-protocol-version", "2025-06-18")
        .header(SESSION, session)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
}

/// Creates a stored key of `scope`; returns the key.
async fn create_key(app: &TestApp, name: &str, scope: &str) -> String {
    let (status, body) = send_json(
        app.api(Method::POST, "/api/keys")
            .json(&json!({"name": name, "scope": scope})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["key"].as_str().expect("key").to_string()
}

fn assert_refused(refused: &(StatusCode, Value), status: StatusCode, says: &str) {
    let (got, body) = refused;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["id"], 1, "the initialize's own id: {body}");
    assert_eq!(body["error"]["code"], -32000, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(says) && message.contains("DELETE /mcp"),
        "{body}"
    );
}

#[tokio::test]
async fn sessions_past_a_keys_limit_or_the_servers_are_refused_until_one_ends() {
    // Arrange: at most 3 sessions per key, 5 in all.
    let app = spawn_app_with(|c| {
        c.mcp_sessions = true;
        c.mcp_max_sessions_per_key = 3;
        c.mcp_max_sessions = 5;
    })
    .await;
    let other = create_key(&app, "other", "read").await;

    // Act: 8 at once with one key, and then 3 with another.
    let mut sent = tokio::task::JoinSet::new();
    for _ in 0..8 {
        sent.spawn(post(&app, API_KEY, &initialize()).send());
    }
    let mut tries = Vec::new();
    for response in sent.join_all().await {
        tries.push(opened(response.expect("POST")).await);
    }
    let (opened, refused): (Vec<_>, Vec<_>) = tries.into_iter().partition(Result::is_ok);
    let opened: Vec<String> = opened.into_iter().map(Result::unwrap).collect();
    let others = [
        try_open(&app, &other).await,
        try_open(&app, &other).await,
        try_open(&app, &other).await,
    ];

    // Assert: sent together or not, a key gets its 3; the server holds 5 in all.
    assert_eq!(opened.len(), 3, "{refused:?}");
    for refusal in refused {
        assert_refused(
            &refusal.unwrap_err(),
            StatusCode::TOO_MANY_REQUESTS,
            "this API key already holds 3",
        );
    }
    assert!(others[0].is_ok() && others[1].is_ok(), "{others:?}");
    assert_refused(
        others[2].as_ref().unwrap_err(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the server already holds 5",
    );

    // Act: one session ended (DELETE) makes room for one more, for the key that ended it.
    end(&app, API_KEY, &opened[0]).await;
    let again = try_open(&app, API_KEY).await;
    let still_full = try_open(&app, API_KEY).await;

    // Assert
    assert!(again.is_ok(), "{again:?}");
    assert_refused(
        &still_full.unwrap_err(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the server already holds 5",
    );
}

#[tokio::test]
async fn a_key_at_its_session_limit_is_told_to_retry_when_its_longest_idle_session_will_have_ended()
{
    // Arrange: at most 2 sessions per key, each kept 2 minutes idle (looked at every 30 s);
    // the first opened 2 s before the second.
    let app = spawn_app_with(|c| {
        c.mcp_sessions = true;
        c.mcp_max_sessions_per_key = 2;
        c.mcp_session_idle_limit = std::time::Duration::from_secs(120);
    })
    .await;
    try_open(&app, API_KEY).await.expect("the first session");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    try_open(&app, API_KEY).await.expect("the second session");

    // Act
    let refused = post(&app, API_KEY, &initialize())
        .send()
        .await
        .expect("POST");

    // Assert: the first session reaches the limit in 118 s, and the sweep after that ends
    // it, within 30 s more (less the time a loaded machine takes between the calls; not the
    // whole 150 s of a key whose sessions are all in use).
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((120..=148).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.expect("JSON");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("within {retry_after} seconds")),
        "{body}"
    );
}

/// A `subscriptions/listen` of protocol 2026-07-28 for `uris`, as a client sends it, with the
/// headers the protocol requires unless `mcp_method` is `None`.
fn listen(app: &TestApp, uris: &[String], mcp_method: Option<&str>) -> RequestBuilder {
    let params = json!({"notifications": {"resourceSubscriptions": uris}});
    listen_with(app, params, mcp_method)
}

/// A `subscriptions/listen` as [`listen`] sends it, with `params` of the caller's (`_meta`
/// added).
fn listen_with(app: &TestApp, mut params: Value, mcp_method: Option<&str>) -> RequestBuilder {
    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}});
    let body = json!({"jsonrpc": "2.0", "id": "l1", "method": "subscriptions/listen",
        "params": params});
    let request = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(API_KEY)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .json(&body);
    match mcp_method {
        Some(method) => request.header("mcp-method", method),
        None => request,
    }
}

#[tokio::test]
async fn a_listen_may_name_so_many_resources_and_copies_of_one_are_looked_up_once() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", "s3cret").await;
    let copies = |n: usize| vec!["webhook://gh/events".to_string(); n];

    // Act
    let too_many = listen(&app, &copies(257), Some("subscriptions/listen"))
        .send()
        .await
        .expect("POST");
    let (status, refused) = (too_many.status(), too_many.json::<Value>().await);
    let most = listen(&app, &copies(256), Some("subscriptions/listen"))
        .send()
        .await
        .expect("POST");

    // Assert: refused naming the limit; at the limit, the stream is acknowledged.
    let refused = refused.expect("a JSON-RPC error");
    assert_eq!(status, StatusCode::OK, "{refused}");
    assert_eq!(refused["id"], "l1", "{refused}");
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("at most 256") && message.contains("257"),
        "{refused}"
    );
    assert_eq!(most.status(), StatusCode::OK);
    let kind = most.headers().get("content-type").cloned();
    assert!(
        kind.is_some_and(|k| k
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream")),
        "a listen stream"
    );
}

#[tokio::test]
async fn a_listen_whose_filter_cannot_be_read_is_32602_naming_the_field_not_an_unknown_method() {
    // Arrange: what a client gets wrong: another name for the filter, a URI not in a list,
    // a list of something else.
    let app = spawn_app().await;
    app.github_webhook("gh", "s3cret").await;
    let wrong = [
        json!({"filter": {"resourceSubscriptions": ["webhook://gh/events"]}}),
        json!({"notifications": {"resourceSubscriptions": "webhook://gh/events"}}),
        json!({"notifications": {"resourceSubscriptions": [5]}}),
    ];

    for params in wrong {
        // Act
        let refused = listen_with(&app, params.clone(), Some("subscriptions/listen"))
            .send()
            .await
            .expect("POST");
        let status = refused.status();
        let refused = refused.json::<Value>().await.expect("a JSON-RPC error");

        // Assert
        assert_eq!(status, StatusCode::OK, "{params}: {refused}");
        assert_eq!(refused["id"], "l1", "{params}: {refused}");
        assert_eq!(refused["error"]["code"], -32602, "{params}: {refused}");
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("`params.notifications.resourceSubscriptions`"),
            "{params}: {refused}"
        );
    }
}

#[tokio::test]
async fn a_listen_without_the_headers_rmcp_requires_is_refused_for_them_first() {
    // Arrange
    let app = spawn_app().await;
    let nothing = vec!["event://nope".to_string()];

    // Act: no Mcp-Method header, and one naming another method.
    let without = listen(&app, &nothing, None).send().await.expect("POST");
    let (without_status, without) = (without.status(), without.json::<Value>().await);
    let other = listen(&app, &nothing, Some("tools/list"))
        .send()
        .await
        .expect("POST");
    let (other_status, other) = (other.status(), other.json::<Value>().await);

    // Assert: rmcp's header refusal, not the answer about the resource (looked up for
    // nothing).
    for (status, body) in [(without_status, without), (other_status, other)] {
        let body = body.expect("a JSON-RPC error");
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], -32020, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Mcp-Method")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_method_the_server_does_not_serve_is_32601_naming_it_whatever_the_key() {
    // Arrange
    let app = spawn_app().await;
    let read = create_key(&app, "reader", "read").await;

    for method in ["foo/bar", "logging/setLevel", "tasks/list"] {
        let params = match method {
            "logging/setLevel" => json!({"level": "info"}),
            _ => json!({}),
        };
        let body = json!({"jsonrpc": "2.0", "id": 3, "method": method, "params": params});
        for key in [API_KEY, read.as_str()] {
            // Act
            let response = post(&app, key, &body).send().await.expect("POST");
            let status = response.status();
            let text = response.text().await.expect("body");

            // Assert: a JSON-RPC error naming the method (as JSON or one server-sent event).
            assert_eq!(status, StatusCode::OK, "{method}: {text}");
            let json = text
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or(&text);
            let answer: Value =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"));
            assert_eq!(answer["id"], 3, "{answer}");
            assert_eq!(answer["error"]["code"], -32601, "{method}: {answer}");
            assert_eq!(
                answer["error"]["message"],
                format!("method not found: {method}"),
                "{answer}"
            );
        }
    }
}

#[tokio::test]
async fn a_json_rpc_response_on_no_session_is_refused_with_a_null_id() {
    // Arrange
    let app = spawn_app().await;
    let response = json!({"jsonrpc": "2.0", "id": 5, "result": {}});

    // Act
    let answer = post(&app, API_KEY, &response).send().await.expect("POST");
    let status = answer.status();
    let body: Value = answer.json().await.expect("a JSON-RPC error");

    // Assert: `"id": null`, present, as JSON-RPC requires of an error.
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.as_object().is_some_and(|b| b.contains_key("id")),
        "{body}"
    );
    assert_eq!(body["id"], Value::Null, "{body}");
    assert_eq!(body["error"]["code"], -32600, "{body}");
}

#[tokio::test]
async fn an_unknown_tool_prompt_or_method_named_at_length_is_quoted_cut_short() {
    // Arrange: a name of a megabyte would otherwise come back whole, past what clients read.
    let app = spawn_app().await;
    let long = "N".repeat(1_000_000);
    let calls = [
        ("tools/call", json!({"name": long, "arguments": {}}), -32602),
        ("prompts/get", json!({"name": long}), -32602),
        (&*format!("no/such{long}"), json!({}), -32601),
    ];

    for (method, params, code) in calls {
        let body = json!({"jsonrpc": "2.0", "id": 4, "method": method, "params": params});

        // Act
        let response = post(&app, API_KEY, &body).send().await.expect("POST");
        let text = response.text().await.expect("body");

        // Assert
        let json = text
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap_or(&text);
        let answer: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"));
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert_eq!(answer["error"]["code"], code, "{}", &text[..200]);
        assert!(message.len() < 400, "{}", &message[..200]);
        assert!(message.contains("bytes)"), "{message}");
    }
}

#[tokio::test]
async fn a_tool_call_without_an_id_is_refused_saying_so_not_accepted_and_dropped() {
    // Arrange: a call written by hand (or by a model) that left out the id.
    let app = spawn_app().await;
    let call = json!({"jsonrpc": "2.0", "method": "tools/call",
                      "params": {"name": "create_webhook",
                                 "arguments": {"id": "no-id", "name": "n", "provider": "github"}}});

    // Act
    let answer = post(&app, API_KEY, &call).send().await.expect("POST");
    let status = answer.status();
    let text = answer.text().await.expect("body");

    // Assert: a 400 saying what is missing, not a 202 for a call that never ran.
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(body["id"], Value::Null, "{body}");
    assert_eq!(body["error"]["code"], -32600, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`tools/call`") && message.contains("`id`"),
        "{body}"
    );
    let (status, _) = app.get_json("/api/webhooks/no-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A notification still goes without one.
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let answer = post(&app, API_KEY, &note).send().await.expect("POST");
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
}
