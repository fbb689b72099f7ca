//! Abuse limits through the front door: per-webhook and per-IP rate limits, IP allowlists,
//! trusted proxies, and options validated when saved.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, issue_opened, spawn_app, spawn_app_with};

const SECRET: &str = "limits-secret";

/// An app with one GitHub webhook `gh` allowed 1 request/s with a burst of 2.
async fn rate_limited_webhook() -> TestApp {
    let app = spawn_app().await;
    app.create_webhook(
        json!({"id": "gh", "name": "g", "provider": "github", "secret": SECRET,
        "options": {"rate_limit": {"per_second": 1, "burst": 2}}}),
    )
    .await;
    app
}

#[tokio::test]
async fn a_webhook_over_its_rate_limit_gets_429_with_retry_after_and_stores_nothing_more() {
    // Arrange
    let app = rate_limited_webhook().await;
    let body = issue_opened("o/r", 1, &[]);

    // Act
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for n in 0..3 {
        let r = app
            .post_github("gh", "issues", &format!("d-{n}"), &body, SECRET)
            .await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or("").to_string());
        }
        statuses.push(r.status());
    }

    // Assert
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(app.events("webhook_id=gh").await.len(), 2);
}

#[tokio::test]
async fn forged_requests_cannot_use_up_the_real_senders_rate_limit() {
    // Arrange
    let app = rate_limited_webhook().await;
    let body = issue_opened("o/r", 1, &[]);

    // Act: a flood of wrongly signed requests, then the real delivery.
    let mut forged = Vec::new();
    for n in 0..4 {
        let r = app
            .post_github("gh", "issues", &format!("f-{n}"), &body, "guessed")
            .await;
        forged.push(r.status());
    }
    let real = app.post_github("gh", "issues", "d-1", &body, SECRET).await;

    // Assert: forgeries have their own bucket (and past it are not even logged).
    assert_eq!(
        forged,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(real.status(), StatusCode::OK);
    assert_eq!(app.events("webhook_id=gh&status=rejected").await.len(), 2);
}

#[tokio::test]
async fn replays_of_a_stored_delivery_do_not_use_up_the_senders_rate_limit() {
    // Arrange
    let app = rate_limited_webhook().await;
    let body = issue_opened("o/r", 1, &[]);
    let first = app.post_github("gh", "issues", "d-1", &body, SECRET).await;
    assert_eq!(first.status(), StatusCode::OK);

    // Act: the same signed delivery again and again (GitHub signs no timestamp), then a new one.
    let mut replays = Vec::new();
    for _ in 0..4 {
        let r = app.post_github("gh", "issues", "d-1", &body, SECRET).await;
        let status = r.status();
        let answer: serde_json::Value = r.json().await.unwrap_or_default();
        replays.push((status, answer["status"].clone()));
    }
    let next = app.post_github("gh", "issues", "d-2", &body, SECRET).await;

    // Assert
    for replay in &replays {
        assert_eq!(*replay, (StatusCode::OK, json!("duplicate")), "{replays:?}");
    }
    assert_eq!(next.status(), StatusCode::OK);
    assert_eq!(app.events("webhook_id=gh").await.len(), 2);
}

#[tokio::test]
async fn a_source_address_over_the_per_ip_limit_gets_429() {
    let app = spawn_app_with(|c| c.rate_limit_per_ip = 2).await;
    app.github_webhook("gh", SECRET).await;
    let body = issue_opened("o/r", 1, &[]);
    let mut codes = Vec::new();
    for n in 0..3 {
        codes.push(
            app.post_github("gh", "issues", &format!("d-{n}"), &body, SECRET)
                .await
                .status(),
        );
    }
    assert_eq!(codes[2], StatusCode::TOO_MANY_REQUESTS, "{codes:?}");
}

#[tokio::test]
async fn forgeries_and_replays_from_a_senders_address_leave_its_per_ip_allowance() {
    // Arrange: GitHub sends from shared addresses; anyone can aim a wrongly signed webhook
    // (or a captured delivery) at this URL from the same ones.
    let app = spawn_app_with(|c| c.rate_limit_per_ip = 2).await;
    app.github_webhook("gh", SECRET).await;
    let body = issue_opened("o/r", 1, &[]);

    // Act
    let mut forged = Vec::new();
    for n in 0..3 {
        let r = app
            .post_github("gh", "issues", &format!("f-{n}"), &body, "not-the-secret")
            .await;
        forged.push(r.status());
    }
    let mut replays = Vec::new();
    for _ in 0..3 {
        replays.push(
            app.post_github("gh", "issues", "d-1", &body, SECRET)
                .await
                .status(),
        );
    }
    let next = app.post_github("gh", "issues", "d-2", &body, SECRET).await;

    // Assert
    assert_eq!(
        forged,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(replays, [StatusCode::OK; 3]);
    assert_eq!(next.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_allowlist_admits_listed_ranges_and_refuses_others_with_403() {
    // Arrange: one webhook open to loopback only, one to a range loopback is not in.
    let app = spawn_app().await;
    app.create_webhook(
        json!({"id": "open", "name": "o", "provider": "github", "secret": SECRET,
        "options": {"ip_allowlist": ["127.0.0.0/8"]}}),
    )
    .await;
    app.create_webhook(
        json!({"id": "closed", "name": "c", "provider": "github", "secret": SECRET,
        "options": {"ip_allowlist": ["192.30.252.0/22", "2001:db8::1"]}}),
    )
    .await;
    let body = issue_opened("o/r", 1, &[]);

    // Act
    let open = app
        .post_github("open", "issues", "d-1", &body, SECRET)
        .await;
    let closed = app
        .post_github("closed", "issues", "d-2", &body, SECRET)
        .await;

    // Assert
    assert_eq!(open.status(), StatusCode::OK);
    assert_eq!(closed.status(), StatusCode::FORBIDDEN);
    let error: serde_json::Value = closed.json().await.expect("json");
    assert_eq!(error["error"]["code"], "address_not_allowed");
}

#[tokio::test]
async fn a_webhook_whose_stored_options_cannot_be_read_takes_no_delivery() {
    // Arrange: an allowlist that shuts out loopback, then options this version cannot read
    // (a database another version wrote, or edited by hand).
    let app = spawn_app().await;
    app.create_webhook(
        json!({"id": "gh", "name": "g", "provider": "github", "secret": SECRET,
        "options": {"ip_allowlist": ["192.30.252.0/22"]}}),
    )
    .await;
    rusqlite::Connection::open(&app.db_path)
        .expect("open db")
        .execute(
            "UPDATE webhooks SET options = \
             '{\"ip_allowlist\": [\"192.30.252.0/22\"], \"from_a_later_version\": true}'",
            [],
        )
        .expect("edit");

    // Act: a delivery signed as it should be, from outside the allowlist.
    let body = issue_opened("o/r", 1, &[]);
    let answer = app
        .post_github("gh", "issues", "d-unreadable", &body, SECRET)
        .await;

    // Assert: refused, not let through for want of the allowlist.
    assert!(answer.status().is_server_error(), "{}", answer.status());
    assert!(app.events("webhook_id=gh").await.is_empty());
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    // Behind a trusted proxy (loopback here), the client is the X-Forwarded-For address.
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1".into()]).await;
    app.create_webhook(
        json!({"id": "gh", "name": "g", "provider": "github", "secret": SECRET,
        "options": {"ip_allowlist": ["192.30.252.0/22"]}}),
    )
    .await;
    let send = |xff: &'static str, delivery: &'static str| {
        let app = &app;
        async move { from_client(app, xff, delivery).await.0 }
    };
    assert_eq!(send("192.30.252.10", "d-1").await, StatusCode::OK);
    assert_eq!(send("8.8.8.8", "d-2").await, StatusCode::FORBIDDEN);
    // A proxy on a dual-stack socket forwards IPv4 clients as IPv4-mapped IPv6.
    assert_eq!(send("::ffff:192.30.252.11", "d-4").await, StatusCode::OK);
    // A client writing an allowed address left of its own gains nothing, whether the proxy
    // appends the client's address with its port or appends something that is no address.
    assert_eq!(
        send("192.30.252.10, 8.8.8.8:4711", "d-5").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send("192.30.252.10, unknown", "d-6").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(send("192.30.252.10,,", "d-7").await, StatusCode::FORBIDDEN);
    assert_eq!(send("192.30.252.12:4711", "d-8").await, StatusCode::OK);

    // Without trust, the header is ignored and the loopback peer is the client.
    let untrusted = spawn_app().await;
    untrusted
        .create_webhook(
            json!({"id": "gh", "name": "g", "provider": "github", "secret": SECRET,
            "options": {"ip_allowlist": ["192.30.252.0/22"]}}),
        )
        .await;
    let (status, _) = from_client(&untrusted, "192.30.252.10", "d-3").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_limit_or_base_url_options_are_refused_when_saved_with_the_field_named() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"ip_allowlist": ["10.0.0.0/8", "nope"]}),
            "options.ip_allowlist[1]",
        ),
        (
            json!({"rate_limit": {"per_second": 0}}),
            "options.rate_limit.per_second",
        ),
        (
            json!({"rate_limit": {"per_sec": 5}}),
            "options.rate_limit.per_sec",
        ),
        (
            json!({"credentials": {"github_api_url": "http://169.254.169.254/latest"}}),
            "options.credentials.github_api_url",
        ),
        (
            json!({"credentials": {"gitlab_url": "gitlab.example.com"}}),
            "options.credentials.gitlab_url",
        ),
        // A host name of megabytes, and a header name quoted back whole.
        (
            json!({"credentials": {"github_api_url": format!("https://{}.example/api", "a".repeat(100_000))}}),
            "options.credentials.github_api_url",
        ),
        (
            json!({"custom": {"mode": "token", "header": "x".repeat(100_000)}}),
            "options.custom",
        ),
    ];
    for (options, field) in cases {
        let provider = if options.get("custom").is_some() {
            "custom"
        } else {
            "github"
        };
        let (status, body) = crate::helpers::send_json(
            app.api(Method::POST, "/api/webhooks")
                .json(&json!({"name": "x", "provider": provider, "options": options})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
        assert!(
            body.to_string().len() < 2_000,
            "an answer of {} bytes",
            body.to_string().len()
        );
    }
}

#[tokio::test]
async fn a_rate_limit_out_of_range_is_told_the_range_that_is_taken() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "gh", "name": "x", "provider": "github"}))
        .await;

    // Act + Assert: below 1, negative or 0, is told the same range, which 1 is in.
    for (rate_limit, field) in [
        (json!({"per_second": -5, "burst": 20}), "per_second"),
        (json!({"per_second": 0}), "per_second"),
        (json!({"per_second": 5, "burst": 0}), "burst"),
        (json!({"per_second": 5, "burst": -1}), "burst"),
    ] {
        let (status, body) = crate::helpers::send_json(
            app.api(Method::PUT, "/api/webhooks/gh")
                .json(&json!({"options": {"rate_limit": rate_limit}})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            body["error"]["field"],
            format!("options.rate_limit.{field}"),
            "{body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("from 1 to 4294967295"), "{message}");
    }
    let (status, body) = crate::helpers::send_json(
        app.api(Method::PUT, "/api/webhooks/gh")
            .json(&json!({"options": {"rate_limit": {"per_second": 1, "burst": 1}}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_empty_allowlist_is_refused_and_null_removes_an_allowlist() {
    // Arrange: a webhook locked to a range loopback is not in.
    let app = spawn_app().await;
    app.create_webhook(
        json!({"id": "gh", "name": "g", "provider": "github", "secret": SECRET,
        "options": {"ip_allowlist": ["192.30.252.0/22"]}}),
    )
    .await;
    let body = issue_opened("o/r", 1, &[]);

    // Act: an empty list, on create and on update, then null.
    let created = crate::helpers::send_json(
        app.api(Method::POST, "/api/webhooks")
            .json(&json!({"name": "x", "provider": "github", "options": {"ip_allowlist": []}})),
    )
    .await;
    let emptied = crate::helpers::send_json(
        app.api(Method::PUT, "/api/webhooks/gh")
            .json(&json!({"options": {"ip_allowlist": []}})),
    )
    .await;
    let still_locked = app.post_github("gh", "issues", "d-1", &body, SECRET).await;
    let removed = crate::helpers::send_json(
        app.api(Method::PUT, "/api/webhooks/gh")
            .json(&json!({"options": {"ip_allowlist": null}})),
    )
    .await;
    let open = app.post_github("gh", "issues", "d-2", &body, SECRET).await;

    // Assert
    for refused in [&created, &emptied] {
        crate::helpers::assert_error(
            refused,
            StatusCode::BAD_REQUEST,
            Some("options.ip_allowlist"),
        );
        assert_eq!(refused.1["error"]["code"], "invalid_field");
        let message = refused.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("null"), "{message}");
    }
    assert_eq!(still_locked.status(), StatusCode::FORBIDDEN);
    assert_eq!(removed.0, StatusCode::OK, "{}", removed.1);
    assert_eq!(open.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_compressed_body_is_refused_with_415_and_stores_nothing() {
    // Arrange: a body compressed and signed as sent (the signature checks out).
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let compressed = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xabV\x02\x00".to_vec();
    let signature = crate::helpers::github_signature(SECRET, &compressed);
    // (Content-Encoding as sent, the status)
    let cases = [
        (Some("gzip"), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (Some("identity, br"), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (Some("identity"), StatusCode::BAD_REQUEST),
        // A charset where the coding goes, as some senders write it: no compression.
        (Some("UTF-8"), StatusCode::BAD_REQUEST),
        (None, StatusCode::BAD_REQUEST),
    ];

    for (n, (encoding, status)) in cases.into_iter().enumerate() {
        // Act
        let mut request = app
            .client
            .post(app.url("/webhooks/github/gh"))
            .header("x-github-event", "issues")
            .header("x-github-delivery", format!("gz-{n}"))
            .header("x-hub-signature-256", &signature)
            .body(compressed.clone());
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        let answer = request.send().await.expect("POST");

        // Assert: refused as compressed, or (uncompressed) kept and refused as not JSON
        assert_eq!(answer.status(), status, "{encoding:?}");
        let body: serde_json::Value = answer.json().await.expect("JSON");
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            assert_eq!(code, "unsupported_encoding", "{body}");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("send the body as is"), "{body}");
        } else {
            assert_eq!(code, "invalid_payload", "{body}");
        }
    }
    assert_eq!(app.events("webhook_id=gh").await.len(), 3);
}

#[tokio::test]
async fn a_body_compressed_as_a_transfer_coding_is_refused_with_415_too() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    // Arrange: hyper takes `chunked` off and passes the `gzip` under it through.
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let compressed = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xabV\x02\x00".to_vec();
    let signature = crate::helpers::github_signature(SECRET, &compressed);
    let mut request = format!(
        "POST /webhooks/github/gh HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: issues\r\n\
         X-GitHub-Delivery: te-1\r\nX-Hub-Signature-256: {signature}\r\n\
         Transfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        compressed.len()
    )
    .into_bytes();
    request.extend(&compressed);
    request.extend(b"\r\n0\r\n\r\n");

    // Act
    let mut socket = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    socket.write_all(&request).await.expect("send");
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.ok();

    // Assert
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    assert!(answer.contains("Transfer-Encoding: gzip"), "{answer}");
    assert!(app.events("webhook_id=gh").await.is_empty());
}

#[tokio::test]
async fn commands_and_allowlists_past_what_a_delivery_is_checked_against_are_refused() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let command = |extra: serde_json::Value| {
        let mut body = json!({"trigger": "issues.opened", "action": "forward",
                              "target": {"url": "https://example.com/hook"}});
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        body
    };
    let many: Vec<String> = (0..1025)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    // (what, the request, the field refused, what the message names)
    let cases = [
        (
            "conditions past 16 KiB",
            app.api(Method::POST, "/api/webhooks/gh/commands")
                .json(&command(json!({"conditions": {"body_contains": "y".repeat(20_000)}}))),
            "conditions",
            "16384",
        ),
        (
            "a target past 16 KiB",
            app.api(Method::POST, "/api/webhooks/gh/commands").json(&command(
                json!({"target": {"url": format!("https://example.com/{}", "p".repeat(20_000))}}),
            )),
            "target",
            "16384",
        ),
        (
            "an allowlist of 1,025 ranges",
            app.api(Method::PUT, "/api/webhooks/gh")
                .json(&json!({"options": {"ip_allowlist": many}})),
            "options.ip_allowlist",
            "1024",
        ),
    ];

    for (what, request, field, names) in cases {
        // Act
        let answer = crate::helpers::send_json(request).await;

        // Assert
        crate::helpers::assert_error(&answer, StatusCode::BAD_REQUEST, Some(field));
        let message = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{what}: {message}");
    }
    // Within the bounds, each is saved.
    let fits = crate::helpers::send_json(app.api(Method::POST, "/api/webhooks/gh/commands").json(
        &command(json!({"conditions": {"body_contains": "y".repeat(15_000)}})),
    ))
    .await;
    assert_eq!(fits.0, StatusCode::CREATED, "{}", fits.1);
}

#[tokio::test]
async fn a_command_stored_past_the_limits_before_they_existed_still_fires_and_can_be_disabled() {
    // Arrange: a forward command whose conditions are made 25 KB in the file, as a version
    // without the limit saved them.
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let (status, command) = crate::helpers::send_json(
        app.api(Method::POST, "/api/webhooks/gh/commands")
            .json(&json!({
            "trigger": "issues.opened", "action": "create_task", "agent": "planning",
            "template": "{{ issue.title }}"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{command}");
    let id = command["id"].as_str().expect("id").to_string();
    let names: Vec<String> = (0..1200).map(|i| format!("someone-{i:05}")).collect();
    let big = json!({"not": {"author": names}}).to_string();
    assert!(big.len() > 16 * 1024);
    let db = rusqlite::Connection::open(&app.db_path).expect("open the database");
    db.execute(
        "UPDATE commands SET conditions = ?1 WHERE id = ?2",
        rusqlite::params![big, id],
    )
    .expect("update");
    app.state.hooks.invalidate("gh");

    // Act
    let delivered = app
        .post_github(
            "gh",
            "issues",
            "d-big",
            &issue_opened("o/r", 1, &[]),
            SECRET,
        )
        .await;
    let disabled = crate::helpers::send_json(
        app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{id}"))
            .json(&json!({"enabled": false})),
    )
    .await;

    // Assert
    assert_eq!(delivered.status(), StatusCode::OK);
    let (_, tasks) = app.get_json("/api/tasks?webhook_id=gh").await;
    assert_eq!(tasks["tasks"].as_array().map(Vec::len), Some(1), "{tasks}");
    assert_eq!(disabled.0, StatusCode::OK, "{}", disabled.1);
    assert_eq!(disabled.1["enabled"], false, "{}", disabled.1);
}

#[tokio::test]
async fn an_allowlist_stored_past_the_limit_before_it_existed_does_not_block_other_options() {
    // Arrange: 1,100 ranges in the file (loopback among them), as a version without the
    // limit saved them.
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let mut ranges: Vec<String> = (0..1099)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    ranges.push("127.0.0.1/32".into());
    let options = json!({"ip_allowlist": ranges}).to_string();
    let db = rusqlite::Connection::open(&app.db_path).expect("open the database");
    db.execute(
        "UPDATE webhooks SET options = ?1 WHERE id = 'gh'",
        [&options],
    )
    .expect("update");
    app.state.hooks.invalidate("gh");

    // Act
    let changed = crate::helpers::send_json(
        app.api(Method::PUT, "/api/webhooks/gh")
            .json(&json!({"options": {"rate_limit": {"per_second": 50}}})),
    )
    .await;
    let delivered = app
        .post_github("gh", "issues", "d-1", &issue_opened("o/r", 1, &[]), SECRET)
        .await;

    // Assert
    assert_eq!(changed.0, StatusCode::OK, "{}", changed.1);
    assert_eq!(
        changed.1["options"]["ip_allowlist"]
            .as_array()
            .map(Vec::len),
        Some(1100)
    );
    assert_eq!(delivered.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_webhook_holds_at_most_a_hundred_commands_and_the_next_is_409() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "gh", "name": "g", "provider": "github"}))
        .await;
    let add = |n: usize| {
        app.api(Method::POST, "/api/webhooks/gh/commands")
            .json(&json!({"trigger": "issues.opened", "action": "comment",
                          "template": format!("reply {n}")}))
            .send()
    };
    for n in 0..100 {
        let added = add(n).await.expect("send");
        assert_eq!(added.status(), StatusCode::CREATED, "command {n}");
    }

    // Act
    let (status, body) = crate::helpers::read_json(add(100).await.expect("send")).await;

    // Assert
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("100 commands"), "{message}");
    let (_, listed) = app.get_json("/api/webhooks/gh/commands").await;
    assert_eq!(listed["commands"].as_array().map(Vec::len), Some(100));
}

#[tokio::test]
async fn a_webhook_made_with_the_name_of_several_says_how_many() {
    // Arrange: four made already with one name.
    let app = spawn_app().await;
    let make = || {
        crate::helpers::send_json(
            app.api(Method::POST, "/api/webhooks")
                .json(&json!({"name": "same", "provider": "github"})),
        )
    };
    for _ in 0..4 {
        make().await;
    }

    // Act
    let (status, fifth) = make().await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{fifth}");
    assert!(
        fifth["warnings"].to_string().contains("(and 3 more)"),
        "{fifth}"
    );
}

#[tokio::test]
async fn a_compressed_api_or_mcp_body_is_415_naming_its_encoding() {
    // Arrange
    let app = spawn_app().await;
    let gzipped = |path: &str| {
        app.api(Method::POST, path)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Encoding", "gzip")
            .body(vec![0x1f, 0x8b, 0x08, 0x00])
    };

    // Act
    let api = crate::helpers::send_json(gzipped("/api/webhooks")).await;
    let mcp = crate::helpers::send_json(gzipped("/mcp")).await;

    // Assert: said as the receiver says it, not "the body must be a JSON object".
    assert_eq!(api.0, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", api.1);
    assert_eq!(api.1["error"]["code"], "unsupported_encoding", "{}", api.1);
    assert_eq!(mcp.0, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", mcp.1);
    assert!(
        mcp.1["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Content-Encoding: gzip")),
        "{}",
        mcp.1
    );
}

#[tokio::test]
async fn a_webhook_made_again_at_a_deleted_ones_id_starts_with_a_full_rate_limit() {
    // Arrange: the first webhook's burst used up, then it is deleted and made again.
    let app = rate_limited_webhook().await;
    let body = issue_opened("o/r", 1, &[]);
    for n in 0..3 {
        app.post_github("gh", "issues", &format!("d-{n}"), &body, SECRET)
            .await;
    }
    let deleted = app
        .api(Method::DELETE, "/api/webhooks/gh")
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    app.create_webhook(
        json!({"id": "gh", "name": "g", "provider": "github", "secret": SECRET,
        "options": {"rate_limit": {"per_second": 1, "burst": 2}}}),
    )
    .await;

    // Act
    let first = app
        .post_github("gh", "issues", "d-again", &body, SECRET)
        .await;

    // Assert
    assert_eq!(first.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_webhook_another_process_deleted_and_this_one_made_again_takes_its_new_secret_at_once() {
    // Arrange: a webhook remembered here from a delivery, then deleted by another process.
    let app = spawn_app().await;
    app.github_webhook("gh", SECRET).await;
    let body = issue_opened("o/r", 2, &[]);
    let first = app.post_github("gh", "issues", "d-1", &body, SECRET).await;
    assert_eq!(first.status(), StatusCode::OK);
    let other = rusqlite::Connection::open(&app.db_path).expect("open the database");
    other
        .execute_batch("PRAGMA foreign_keys = ON; DELETE FROM webhooks WHERE id = 'gh'")
        .expect("delete it as another process would");

    // Act: made again here with another secret; its sender then delivers.
    app.github_webhook("gh", "the-new-secret").await;
    let again = app
        .post_github("gh", "issues", "d-2", &body, "the-new-secret")
        .await;

    // Assert
    assert_eq!(again.status(), StatusCode::OK);
}

/// A signed `issues` delivery to `gh` naming `client` in `X-Forwarded-For` (the client, when
/// the loopback proxy is trusted); its status and error code.
async fn from_client(app: &TestApp, client: &str, delivery: &str) -> (StatusCode, String) {
    let body = issue_opened("o/r", 3, &[]);
    let answer = app
        .client
        .post(app.url("/webhooks/github/gh"))
        .header("X-GitHub-Event", "issues")
        .header("X-GitHub-Delivery", delivery)
        .header("X-Forwarded-For", client)
        .header(
            "X-Hub-Signature-256",
            crate::helpers::github_signature(SECRET, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .expect("send");
    let status = answer.status();
    let error: serde_json::Value = answer.json().await.unwrap_or_default();
    (
        status,
        error["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn deliveries_past_the_bytes_of_bodies_held_at_once_are_told_to_come_back_and_none_is_lost() {
    // Arrange: behind a proxy (loopback), one client holds all it may of bodies at once (slow
    // bodies on many connections); then four clients hold all the receiver may, but a byte.
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1".into()]).await;
    app.create_webhook(json!({"id": "gh", "name": "g", "provider": "github", "secret": SECRET}))
        .await;
    let budget = webhook_mcp::service::limits::buffer_budget(app.state.config.max_body_bytes);
    let share = budget / 4;
    let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("address");
    let slow = app
        .state
        .limits
        .hold(ip("203.0.113.9"), share)
        .expect("a share");

    // Act
    let (its_own, its_code) = from_client(&app, "203.0.113.9", "d-1").await;
    let (another, _) = from_client(&app, "198.51.100.7", "d-2").await;
    let mut all = vec![slow];
    for (n, client) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"].iter().enumerate() {
        let bytes = if n == 2 { share - 1 } else { share };
        all.push(app.state.limits.hold(ip(client), bytes).expect("a share"));
    }
    let (full, full_code) = from_client(&app, "198.51.100.7", "d-3").await;
    let nowhere = app
        .post_github(
            "nowhere",
            "issues",
            &crate::helpers::delivery_id(),
            "{}",
            SECRET,
        )
        .await
        .status();
    drop(all);
    let (retried, _) = from_client(&app, "203.0.113.9", "d-1").await;

    // Assert: the client holding its share is told to retry, another is not; with the whole
    // budget held, every one is; a body sent to no webhook is never held, so it is told so
    // whatever the receiver holds; and a retry is taken once the bodies are gone.
    assert_eq!(
        (its_own, its_code.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "busy")
    );
    assert_eq!(another, StatusCode::OK);
    assert_eq!(
        (full, full_code.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "busy")
    );
    assert_eq!(nowhere, StatusCode::NOT_FOUND);
    assert_eq!(retried, StatusCode::OK);
    assert_eq!(app.events("webhook_id=gh").await.len(), 2);
}

/// A connection from `client` (behind the loopback proxy) that sends a forged delivery to
/// `gh` and one byte of its 100-byte body, then stalls, as a slow-body flood does; given time
/// to reach the handler.
async fn stalled_forgery(app: &TestApp, client: &str, n: usize) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut socket = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /webhooks/github/gh HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: issues\r\n\
         X-GitHub-Delivery: slow-{n}\r\nX-Hub-Signature-256: sha256=00\r\n\
         X-Forwarded-For: {client}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{"
    );
    socket.write_all(head.as_bytes()).await.expect("send");
    socket
}

/// An app behind a loopback proxy with four requests in flight at most (one per client), and
/// `gh` made with `options`.
async fn four_slots(options: serde_json::Value) -> TestApp {
    let app = spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".into()];
        c.max_in_flight = 4;
    })
    .await;
    app.create_webhook(
        json!({"id": "gh", "name": "g", "provider": "github", "secret": SECRET,
                              "options": options}),
    )
    .await;
    app
}

#[tokio::test]
async fn slow_bodies_from_outside_the_allowlist_take_no_slot_from_the_allowed_sender() {
    // Arrange: as many stalled forgeries from outside the allowlist as there are slots.
    let app = four_slots(json!({"ip_allowlist": ["9.9.9.9/32"]})).await;
    let mut stalled = Vec::new();
    for n in 1..=4 {
        stalled.push(stalled_forgery(&app, &format!("6.6.6.{n}"), n).await);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // Act
    let (allowed, code) = from_client(&app, "9.9.9.9", "d-allowed").await;

    // Assert
    assert_eq!((allowed, code.as_str()), (StatusCode::OK, ""));
    assert_eq!(app.events("webhook_id=gh").await.len(), 1);
}

#[tokio::test]
async fn one_clients_slow_bodies_hold_at_most_a_quarter_of_the_slots() {
    // Arrange: one client stalls as many forgeries as there are slots.
    let app = four_slots(serde_json::Value::Null).await;
    let mut stalled = Vec::new();
    for n in 1..=4 {
        stalled.push(stalled_forgery(&app, "6.6.6.6", n).await);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // Act
    let (own, own_code) = from_client(&app, "6.6.6.6", "d-own").await;
    let (other, _) = from_client(&app, "9.9.9.9", "d-other").await;

    // Assert: the client past its share is told to come back; another client is not.
    assert_eq!(
        (own, own_code.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "busy")
    );
    assert_eq!(other, StatusCode::OK);
}
