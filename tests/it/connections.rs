//! Connection limits through a raw socket: a client that stalls in its headers or idles is
//! closed, a flood of connections past the cap is turned away without taking the server down,
//! oversized headers get 431, and the errors the framework answers itself are JSON.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{API_KEY, TestApp, spawn_app_with};

/// Waits until the server closes `stream`, returning what it sent first and how long it took.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!("still open after {within:?}; got {seen:?}"),
        }
    }
    (
        String::from_utf8_lossy(&seen).into_owned(),
        started.elapsed(),
    )
}

async fn stalled(app: &TestApp) -> TcpStream {
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    stream
        .write_all(b"POST /webhooks/github/gh HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    stream
}

#[tokio::test]
async fn a_client_that_stalls_says_nothing_or_idles_is_closed_after_the_header_timeout() {
    // Arrange
    let app = spawn_app_with(|c| c.header_timeout_secs = 1).await;
    let mut half_sent = stalled(&app).await;
    let mut silent = TcpStream::connect(app.addr).await.expect("connect");
    let mut http2_preface = TcpStream::connect(app.addr).await.expect("connect");
    http2_preface
        .write_all(b"PRI * HTTP/2.0\r\n")
        .await
        .expect("write");
    let mut idle = TcpStream::connect(app.addr).await.expect("connect");
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");

    // Act
    let (_, stalled_for) = until_closed(&mut half_sent, Duration::from_secs(10)).await;
    let (_, silent_for) = until_closed(&mut silent, Duration::from_secs(10)).await;
    let (_, preface_for) = until_closed(&mut http2_preface, Duration::from_secs(10)).await;
    let (answered, idled_for) = until_closed(&mut idle, Duration::from_secs(10)).await;

    // Assert: both gone soon after the second; the idle one got its answer first.
    assert!(stalled_for < Duration::from_secs(5), "{stalled_for:?}");
    assert!(silent_for < Duration::from_secs(5), "{silent_for:?}");
    assert!(preface_for < Duration::from_secs(5), "{preface_for:?}");
    assert!(idled_for < Duration::from_secs(5), "{idled_for:?}");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_are_closed_and_the_server_recovers() {
    // Arrange: two stalled clients fill the cap.
    let app = spawn_app_with(|c| {
        c.max_connections = 2;
        c.header_timeout_secs = 2;
    })
    .await;
    let mut first = stalled(&app).await;
    let mut second = stalled(&app).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Act
    let mut third = TcpStream::connect(app.addr).await.expect("connect");
    let _ = third
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (refused, _) = until_closed(&mut third, Duration::from_secs(1)).await;
    until_closed(&mut first, Duration::from_secs(10)).await;
    until_closed(&mut second, Duration::from_secs(10)).await;
    let after = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("GET /health once the stalled ones are gone");

    // Assert
    assert_eq!(refused, "", "closed without an answer");
    assert_eq!(after.status(), StatusCode::OK);
}

/// An app whose request timeout is `limit` seconds, and a connection to it with a small
/// receive buffer, so that answers left unread soon fill the socket's buffers.
async fn pipelining_client(limit: u64) -> (TestApp, TcpStream) {
    let app = spawn_app_with(|c| {
        c.request_timeout_secs = limit;
        c.header_timeout_secs = limit;
    })
    .await;
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let stream = socket.connect(app.addr).await.expect("connect");
    (app, stream)
}

/// 2,000 requests for /health, to send at once without waiting for their answers.
fn pipelined_requests() -> Vec<u8> {
    b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2_000)
}

#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_closed_after_the_request_timeout() {
    // Arrange: a client that pipelines requests and reads none of the answers. Once the
    // socket's buffers are full the server waits to write and reads no more, so the header
    // timeout never runs; only a deadline on the stalled write frees the connection.
    let (_app, stream) = pipelining_client(1).await;
    let (_unread, mut requests) = stream.into_split();
    let batch = pipelined_requests();
    let started = Instant::now();

    // Act: keep sending (up to ~700 MB, far past what the buffers hold) until the server ends
    // the connection.
    let sending = tokio::time::timeout(Duration::from_secs(30), async {
        for _ in 0..10_000 {
            if requests.write_all(&batch).await.is_err() {
                return true;
            }
        }
        false
    })
    .await;

    // Assert
    assert_eq!(
        sending,
        Ok(true),
        "the connection was still open after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_that_reads_its_answers_slowly_but_steadily_keeps_its_connection() {
    // Arrange: the same pipelining client, reading a little every 100 ms. Linux reports a
    // socket writable only once much of its send buffer has drained, which a slow reader does
    // not do within the limit: a deadline on any write left waiting would cut it off. A
    // limit of 3 s, as a loaded machine can leave the reader (on the server's thread) unrun
    // for over a second.
    let (_app, stream) = pipelining_client(3).await;
    let (mut answers, mut requests) = stream.into_split();
    let batch = pipelined_requests();
    tokio::spawn(async move {
        while requests.write_all(&batch).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let started = Instant::now();
    let mut read = 0usize;
    let mut chunk = [0u8; 8192];

    // Act: read for twice the limit.
    while started.elapsed() < Duration::from_secs(6) {
        match tokio::time::timeout(Duration::from_secs(5), answers.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => panic!(
                "closed after {:?}, having read {read} bytes",
                started.elapsed()
            ),
            Ok(Ok(n)) => read += n,
            Err(_) => panic!("no answer for 5 s"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Assert: still answered all along.
    assert!(read > 8192, "{read}");
}

#[tokio::test]
async fn too_many_or_too_large_headers_get_431() {
    let app = spawn_app_with(|_| {}).await;
    let many = (0..200).fold(app.client.get(app.url("/health")), |r, n| {
        r.header(format!("x-h{n}"), "v")
    });
    let large = app
        .client
        .get(app.url("/health"))
        .header("x-large", "a".repeat(1024 * 1024));

    for request in [many, large] {
        let status = request.send().await.expect("answered").status();
        assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
}

#[tokio::test]
async fn errors_the_framework_answers_itself_are_json_too() {
    // Arrange
    let app = spawn_app_with(|c| c.request_timeout_secs = 1).await;

    // Act
    let bad_path = app
        .api(reqwest::Method::GET, "/api/webhooks/%FF")
        .send()
        .await
        .expect("answered");
    let wrong_method = app
        .api(reqwest::Method::PATCH, "/api/webhooks/x")
        .send()
        .await
        .expect("answered");
    let mut slow = TcpStream::connect(app.addr).await.expect("connect");
    slow.write_all(
        b"POST /webhooks/github/gh HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":",
    )
    .await
    .expect("write");
    let (timed_out, _) = until_closed(&mut slow, Duration::from_secs(10)).await;

    // Assert
    assert_eq!(bad_path.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = bad_path.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "bad_request", "{body}");
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong_method.headers().contains_key("allow"));
    let body: serde_json::Value = wrong_method.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    assert!(timed_out.starts_with("HTTP/1.1 408"), "{timed_out}");
    assert!(
        timed_out.contains("\"code\":\"request_timeout\""),
        "{timed_out}"
    );
    assert!(
        timed_out.contains("not done within WEBHOOK_MCP_REQUEST_TIMEOUT_SECS"),
        "the setting to change is named: {timed_out}"
    );
}

#[tokio::test]
async fn a_slow_api_or_mcp_body_gets_408_within_the_request_timeout() {
    // Arrange
    let app = spawn_app_with(|c| c.request_timeout_secs = 1).await;
    let started = std::time::Instant::now();

    // Act: each sends its headers and the start of a body, then nothing.
    let mut answers = Vec::new();
    for path in ["/api/webhooks", "/mcp"] {
        let mut slow = TcpStream::connect(app.addr).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"a\":",
            crate::helpers::API_KEY
        );
        slow.write_all(head.as_bytes()).await.expect("write");
        answers.push(until_closed(&mut slow, Duration::from_secs(10)).await.0);
    }

    // Assert: both cut off after the configured second, not a fixed half minute.
    for answer in &answers {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("within 1 s"), "{answer}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

/// The real binary started with a low open-file limit (`ulimit -n`), the default cap of 4096
/// connections, and its log.
struct LowLimitServer {
    child: tokio::process::Child,
    addr: std::net::SocketAddr,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl LowLimitServer {
    async fn start(open_files: u32) -> LowLimitServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("server.log");
        let mut command = tokio::process::Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {open_files} && exec \"$0\" serve"))
            .arg(env!("CARGO_BIN_EXE_webhook-mcp"));
        for (key, _) in std::env::vars() {
            if key.starts_with("WEBHOOK_MCP_") {
                command.env_remove(key);
            }
        }
        command
            .env("WEBHOOK_MCP_LISTEN", "127.0.0.1:0")
            .env("WEBHOOK_MCP_DATABASE", dir.path().join("db.sqlite"))
            .env("WEBHOOK_MCP_API_KEY", "low-limit-key")
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .kill_on_drop(true);
        let child = command.spawn().expect("start webhook-mcp");
        let addr = crate::helpers::listening_addr(&log).await;
        LowLimitServer {
            child,
            addr,
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[tokio::test]
async fn a_cap_above_the_open_file_limit_is_lowered_to_fit_so_a_flood_is_still_turned_away() {
    // Arrange: 192 descriptors leave room for 64 connections next to the server's own files.
    let mut server = LowLimitServer::start(192).await;
    let health = format!("http://{}/health", server.addr);
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !client
        .get(&health)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "no /health:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(client);

    // Act: one more connection than fits. Without the fit all would be accepted and left
    // open (the cap of 4096 is never reached) until the process ran out of descriptors. Which
    // one is turned away depends on the order the server accepts them in, so watch them all.
    let mut watched = tokio::task::JoinSet::new();
    for _ in 0..65 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        watched.spawn(async move {
            let mut buf = [0u8; 64];
            // Idle ones stay open for the 10 s header timeout; only a refusal ends one sooner.
            let closed = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            })
            .await
            .is_ok();
            (closed, stream)
        });
    }
    let watched = watched.join_all().await;

    // Assert
    let turned_away = watched.iter().filter(|(closed, _)| *closed).count();
    assert!(turned_away >= 1, "no connection was turned away");
    drop(watched);
    let log = server.log();
    assert!(log.contains("open-file limit"), "{log}");
    assert!(log.contains("serving=64"), "{log}");
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = client.get(&health).send().await;
        if answer.as_ref().is_ok_and(|r| r.status() == StatusCode::OK) {
            break;
        }
        assert!(Instant::now() < deadline, "{answer:?}\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.child.kill().await.expect("stop webhook-mcp");
}

/// Sends only a request's headers, asking `Expect: 100-continue` for a body of `length`
/// bytes, and returns the first status line the server answers with.
async fn first_answer_to_expect(app: &TestApp, head: &str, length: usize) -> String {
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    let request = format!(
        "{head}\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n\
         Content-Length: {length}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("an answer within 5 s")
        .expect("read");
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_oversized_declared_body_is_refused_before_the_client_is_invited_to_send_it() {
    // Arrange
    let app = spawn_app_with(|c| c.max_body_bytes = 1024).await;
    app.create_webhook(serde_json::json!({"id": "gh", "name": "g", "provider": "github"}))
        .await;
    let api = format!("POST /api/webhooks HTTP/1.1\r\nAuthorization: Bearer {API_KEY}");

    // Act
    let receiver_over =
        first_answer_to_expect(&app, "POST /webhooks/github/gh HTTP/1.1", 1025).await;
    let receiver_fits =
        first_answer_to_expect(&app, "POST /webhooks/github/gh HTTP/1.1", 1024).await;
    let api_over = first_answer_to_expect(&app, &api, 3 * 1024 * 1024).await;
    let api_fits = first_answer_to_expect(&app, &api, 100).await;

    // Assert: 413 straight away, not `100 Continue` and an upload that is then thrown away.
    assert!(receiver_over.contains(" 413 "), "{receiver_over}");
    assert!(api_over.contains(" 413 "), "{api_over}");
    assert!(receiver_fits.contains(" 100 "), "{receiver_fits}");
    assert!(api_fits.contains(" 100 "), "{api_fits}");
    // Sent to no webhook, a body that fits is refused without the invitation too.
    let nowhere = first_answer_to_expect(&app, "POST /webhooks/github/none HTTP/1.1", 10).await;
    assert!(nowhere.contains(" 404 "), "{nowhere}");
}

/// Reads one HTTP/1.1 answer from `stream`: its head, and a body of the length it declares.
async fn read_answer(stream: &mut TcpStream) -> std::io::Result<(String, String)> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        seen.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&seen[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(str::to_string)
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = seen[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&buf[..n]);
    }
    Ok((head, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test]
async fn a_compressed_body_sent_whole_gets_its_415_read_and_the_connection_goes_on() {
    // Arrange: 1 MiB, within the limits, but gzipped, from a client that sends it all first.
    let app = spawn_app_with(|_| {}).await;

    for path in ["/mcp", "/api/webhooks"] {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        let body = vec![0x1f; 1024 * 1024];
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_KEY}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             Content-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );

        // Act
        let within = Duration::from_secs(20);
        let sent = async {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await?;
            read_answer(&mut stream).await
        };
        let answer = tokio::time::timeout(within, sent).await.expect("in time");
        let next = async {
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .await?;
            read_answer(&mut stream).await
        };
        let next = tokio::time::timeout(within, next).await.expect("in time");

        // Assert
        let (head, body) = answer.unwrap_or_else(|e| panic!("{path}: no answer read: {e}"));
        assert!(head.starts_with("HTTP/1.1 415"), "{path}: {head}");
        assert!(body.contains("gzip"), "{path}: {body}");
        let (next, _) = next.unwrap_or_else(|e| panic!("after {path}: {e}"));
        assert!(next.starts_with("HTTP/1.1 200"), "after {path}: {next}");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_sent_whole_gets_its_413_read_and_the_connection_goes_on() {
    // Arrange: a client that sends a whole body before it reads (no `Expect`), as the Python
    // MCP SDK's httpx does, Node's `http` and Python's `urllib` too: 5 MiB to `/mcp` (4 MiB
    // allowed), 3 MiB to `/api` (2 MiB), 2 MiB to a webhook (1 MiB).
    let app = spawn_app_with(|c| c.max_body_bytes = 1024 * 1024).await;

    for (path, mib) in [
        ("/mcp", 5),
        ("/api/webhooks", 3),
        ("/webhooks/github/gh", 2),
    ] {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        let body = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"x\",\
             \"arguments\":{{\"pad\":\"{}\"}}}}}}",
            "x".repeat(mib * 1024 * 1024)
        );
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_KEY}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );

        // Act: the whole request, then the answer, then a second request on the same connection.
        let within = Duration::from_secs(20);
        let sent = async {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body.as_bytes()).await?;
            read_answer(&mut stream).await
        };
        let answer = tokio::time::timeout(within, sent).await.expect("in time");
        let next = async {
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .await?;
            read_answer(&mut stream).await
        };
        let next = tokio::time::timeout(within, next).await.expect("in time");

        // Assert: the 413 is read, not lost to a connection reset mid-upload.
        let (head, body) = answer.unwrap_or_else(|e| panic!("{path}: no answer read: {e}"));
        assert!(head.starts_with("HTTP/1.1 413"), "{path}: {head}");
        let error: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("bytes allowed"), "{path}: {body}");
        if path == "/mcp" {
            // As MCP clients read a refusal: a JSON-RPC error, whose message they show.
            assert_eq!(error["jsonrpc"], "2.0", "{body}");
            assert_eq!(error["id"], serde_json::Value::Null, "{body}");
            assert_eq!(error["error"]["code"], -32000, "{body}");
        } else {
            assert_eq!(error["error"]["code"], "payload_too_large", "{body}");
        }
        let (next, _) = next.unwrap_or_else(|e| panic!("after {path}: {e}"));
        assert!(next.starts_with("HTTP/1.1 200"), "after {path}: {next}");
    }
}
