//! Acknowledged means durable (issue 7): the real binary is SIGKILLed in the middle of a burst
//! of signed GitHub deliveries; after a restart on the same database every delivery that got a
//! 2xx is stored exactly once, and the outbox worker then comments exactly once per stored
//! event on a fake GitHub. Loopback only, bounded in time.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, Semaphore};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{github_signature, issue_opened};

const API_KEY: &str = "durability-api-key";
const SECRET: &str = "durability-gh-secret";
const REPO: &str = "octo/durable";
/// Deliveries in the burst, each its own issue number `1..=BURST`.
const BURST: usize = 300;
/// Deliveries in flight at once.
const CONCURRENCY: usize = 32;
/// The server is killed once this many deliveries have been answered.
const KILL_AFTER: usize = 100;
/// How long the worker gets to send every comment after the restart.
const DRAIN_WITHIN: Duration = Duration::from_secs(20);
/// The whole test, both runs of the binary included.
const TEST_WITHIN: Duration = Duration::from_secs(60);

/// The real `webhook-mcp` binary on a loopback port, its stderr in a log file.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    /// Starts the binary on `db` and waits until `/health` answers. Retries on another port
    /// when the child exits early (the free port was taken between probe and bind).
    async fn start(dir: &Path, db: &Path, github: &MockServer, worker: bool, run: &str) -> Server {
        Self::start_logging(dir, db, github, worker, run, LogTo::File).await
    }

    async fn start_logging(
        dir: &Path,
        db: &Path,
        github: &MockServer,
        worker: bool,
        run: &str,
        log_to: LogTo,
    ) -> Server {
        let mut last_log = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let log = dir.join(format!("{run}-{attempt}.log"));
            let mut command = Command::new(env!("CARGO_BIN_EXE_webhook-mcp"));
            // Settings from the developer's shell must not leak into the child.
            for (key, _) in std::env::vars() {
                if key.starts_with("WEBHOOK_MCP_")
                    || key.starts_with("GITHUB_")
                    || key == "ALLOWED_TARGET_HOSTS"
                    || key == "PUBLIC_BASE_URL"
                {
                    command.env_remove(key);
                }
            }
            command
                .arg("serve")
                .env("WEBHOOK_MCP_LISTEN", format!("127.0.0.1:{port}"))
                .env("WEBHOOK_MCP_DATABASE", db)
                .env("WEBHOOK_MCP_API_KEY", API_KEY)
                .env("WEBHOOK_MCP_WORKER", worker.to_string())
                .env("WEBHOOK_MCP_RETRY_SCHEDULE", "1s,1s,1s")
                .env("WEBHOOK_MCP_RATE_LIMIT_PER_IP", "0")
                .env("WEBHOOK_MCP_RATE_LIMIT_PER_WEBHOOK", "0")
                .env("GITHUB_API_URL", github.uri())
                .env("GITHUB_TOKEN", "ghp_durability")
                .env("ALLOWED_TARGET_HOSTS", "127.0.0.1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .kill_on_drop(true);
            match log_to {
                LogTo::File => command
                    .env("RUST_LOG", "warn")
                    .stderr(std::fs::File::create(&log).expect("log file")),
                // Every delivery and send logged, to a pipe nobody reads.
                LogTo::ClosedPipe => {
                    let (reader, writer) = std::io::pipe().expect("pipe");
                    drop(reader);
                    command.env("RUST_LOG", "debug").stderr(writer)
                }
            };
            let mut child = command.spawn().expect("start webhook-mcp");
            let base = format!("http://127.0.0.1:{port}");
            let client = client();
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_log = std::fs::read_to_string(&log).unwrap_or_default();
                    eprintln!("webhook-mcp exited during start ({status}), retrying:\n{last_log}");
                    break;
                }
                let ready = client
                    .get(format!("{base}/health"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ready {
                    return Server { child, base, log };
                }
                assert!(
                    Instant::now() < deadline,
                    "webhook-mcp did not answer /health within 15 s:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("webhook-mcp did not start in 3 attempts:\n{last_log}");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL (no shutdown hook runs) and reap the child.
    async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL webhook-mcp");
        let status = self.child.wait().await.expect("reap webhook-mcp");
        assert!(!status.success(), "killed, not exited: {status}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Where the child's log goes.
#[derive(Clone, Copy)]
enum LogTo {
    File,
    /// A pipe whose reader is gone: every write fails.
    ClosedPipe,
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe");
    probe.local_addr().expect("probe address").port()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn api(
    client: &reqwest::Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client
        .request(method, server.url(path))
        .bearer_auth(API_KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("API request");
    let status = response.status();
    let text = response.text().await.expect("API body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// One signed `issues.opened` delivery for issue `number`, from its own task; the event id
/// when the server answered 2xx `accepted`, None when it did not (refused, reset, killed).
async fn deliver(
    client: reqwest::Client,
    url: String,
    number: usize,
    delivery: String,
) -> Option<String> {
    let body = issue_opened(REPO, number as u64, &[]);
    let response = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", "issues")
        .header("X-GitHub-Delivery", delivery)
        .header(
            "X-Hub-Signature-256",
            github_signature(SECRET, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let answer: Value = response.json().await.ok()?;
    assert_eq!(answer["status"], "accepted", "a fresh delivery: {answer}");
    answer["event_id"].as_str().map(str::to_owned)
}

/// Every event of the webhook, through all pages of `GET /api/events`.
async fn all_events(client: &reqwest::Client, server: &Server) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/events?webhook_id=gh&limit=200".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!(
                "&cursor={}",
                form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
            ));
        }
        let (status, page) = api(client, server, reqwest::Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {page}");
        events.extend(page["events"].as_array().expect("events").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return events,
        }
        assert!(events.len() <= 10 * BURST, "paging does not end");
    }
}

/// The issue number a comment request was for (`/repos/octo/durable/issues/{n}/comments`).
fn issue_of(request: &wiremock::Request) -> u64 {
    let path = request.url.path();
    path.trim_start_matches(&format!("/repos/{REPO}/issues/"))
        .trim_end_matches("/comments")
        .parse()
        .unwrap_or_else(|_| panic!("unexpected comment path {path}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_delivery_survives_sigkill_and_is_commented_exactly_once() {
    tokio::time::timeout(TEST_WITHIN, sigkill_mid_burst())
        .await
        .expect("the durability test finishes in time");
}

async fn sigkill_mid_burst() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("durable.db");
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(format!(r"^/repos/{REPO}/issues/\d+/comments$")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 1, "html_url": format!("https://github.com/{REPO}/issues/1#issuecomment-1"),
        })))
        .mount(&github)
        .await;
    let client = client();

    // Arrange: a GitHub webhook whose command comments on every opened issue; worker off, so
    // nothing is sent before the kill and every comment comes from the restarted server.
    let mut first = Server::start(dir.path(), &db, &github, false, "first").await;
    let (status, hook) = api(
        &client,
        &first,
        reqwest::Method::POST,
        "/api/webhooks",
        Some(json!({"id": "gh", "name": "Durable", "provider": "github", "secret": SECRET})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "create webhook: {hook}");
    let (status, command) = api(
        &client,
        &first,
        reqwest::Method::POST,
        "/api/webhooks/gh/commands",
        Some(json!({"trigger": "issues.opened", "action": "comment",
                    "template": "Thanks for {{issue.title}}"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "add command: {command}");

    // Act 1: the burst, from BURST tasks, CONCURRENCY in flight; SIGKILL after KILL_AFTER answers.
    let url = first.url("/webhooks/github/gh");
    let answered = Arc::new(AtomicUsize::new(0));
    let kill_now = Arc::new(Notify::new());
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::with_capacity(BURST);
    for number in 1..=BURST {
        let (client, url) = (client.clone(), url.clone());
        let (answered, kill_now, gate) = (answered.clone(), kill_now.clone(), gate.clone());
        let delivery = uuid::Uuid::new_v4().to_string();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.expect("gate");
            let acked = deliver(client, url, number, delivery.clone()).await;
            if answered.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                kill_now.notify_one();
            }
            (number, delivery, acked)
        }));
    }
    kill_now.notified().await;
    first.kill().await;
    let killed_at = started.elapsed();
    let mut acked: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for task in tasks {
        let (number, delivery, event_id) = task.await.expect("delivery task");
        if let Some(event_id) = event_id {
            acked.insert(delivery, (number, event_id));
        }
    }
    assert!(
        acked.len() >= KILL_AFTER / 2,
        "too few deliveries were acknowledged before the kill ({}):\n{}",
        acked.len(),
        first.log()
    );
    assert!(
        acked.len() < BURST,
        "every delivery was answered before the kill: the kill was not mid-burst"
    );

    // Assert 1: after a restart (worker on), every acknowledged delivery is stored once,
    // under the event id it was acknowledged with.
    let second = Server::start(dir.path(), &db, &github, true, "second").await;
    let events = all_events(&client, &second).await;
    let mut by_delivery: HashMap<String, Vec<&Value>> = HashMap::new();
    for event in &events {
        let delivery = event["delivery_id"]
            .as_str()
            .expect("delivery_id")
            .to_owned();
        by_delivery.entry(delivery).or_default().push(event);
    }
    let mut lost = Vec::new();
    for (delivery, (number, event_id)) in &acked {
        match by_delivery.get(delivery).map(Vec::as_slice) {
            None | Some([]) => lost.push(format!("issue {number} (delivery {delivery})")),
            Some([event]) => assert_eq!(
                event["id"].as_str(),
                Some(event_id.as_str()),
                "issue {number} stored under another event id"
            ),
            Some(many) => panic!("delivery {delivery} stored {} times", many.len()),
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged deliveries are missing after SIGKILL: {lost:?}",
        lost.len(),
        acked.len()
    );
    assert!(
        by_delivery.values().all(|v| v.len() == 1),
        "some delivery is stored more than once"
    );

    // Act 2: the worker drains the outbox; wait until every stored event is done.
    let deadline = Instant::now() + DRAIN_WITHIN;
    let mut statuses: BTreeMap<String, usize>;
    loop {
        let events = all_events(&client, &second).await;
        statuses = BTreeMap::new();
        for event in &events {
            *statuses
                .entry(event["status"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
        }
        if statuses.get("done") == Some(&events.len()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain within {DRAIN_WITHIN:?}: {statuses:?}\n{}",
            second.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A duplicate send would come right after the first; give it the chance to show.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Assert 2: one delivered action per stored event, and one comment per stored event.
    let mut stored_issues: BTreeMap<u64, String> = BTreeMap::new();
    for event in &events {
        let id = event["id"].as_str().expect("id");
        let (status, detail) = api(
            &client,
            &second,
            reqwest::Method::GET,
            &format!("/api/events/{id}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "GET event {id}: {detail}");
        let actions = detail["actions"].as_array().expect("actions");
        assert_eq!(actions.len(), 1, "event {id}: {actions:?}");
        assert_eq!(actions[0]["status"], "delivered", "event {id}: {actions:?}");
        assert_eq!(actions[0]["attempts"], 1, "event {id}: {actions:?}");
        let number = detail["payload"]["issue"]["number"]
            .as_u64()
            .expect("issue number");
        assert!(
            stored_issues.insert(number, id.to_owned()).is_none(),
            "issue {number} stored twice"
        );
    }
    let mut comments: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for request in github.received_requests().await.expect("recorded requests") {
        let body: Value = serde_json::from_slice(&request.body).expect("comment JSON");
        comments
            .entry(issue_of(&request))
            .or_default()
            .push(body["body"].as_str().unwrap_or_default().to_owned());
    }
    let duplicated: Vec<_> = comments.iter().filter(|(_, c)| c.len() > 1).collect();
    assert!(duplicated.is_empty(), "duplicate comments: {duplicated:?}");
    let missing: Vec<_> = stored_issues
        .keys()
        .filter(|n| !comments.contains_key(n))
        .collect();
    assert!(
        missing.is_empty(),
        "stored but never commented: {missing:?}"
    );
    let unstored: Vec<_> = comments
        .keys()
        .filter(|n| !stored_issues.contains_key(n))
        .collect();
    assert!(
        unstored.is_empty(),
        "commented but not stored: {unstored:?}"
    );
    for (number, bodies) in &comments {
        assert_eq!(bodies, &[format!("Thanks for Issue {number}")]);
    }
    eprintln!(
        "durability: {} of {BURST} acknowledged before SIGKILL at {killed_at:?}, {} stored \
         ({} in flight at the kill), {} comments, {:?} in all",
        acked.len(),
        events.len(),
        events.len() - acked.len(),
        comments.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_log_cannot_be_written_takes_sends_and_records_every_delivery() {
    // Arrange: the log's reader gone (a dead `| tee`, a full disk), a comment command.
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("unlogged.db");
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(format!(r"^/repos/{REPO}/issues/\d+/comments$")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .mount(&github)
        .await;
    let client = client();
    let server = Server::start_logging(
        dir.path(),
        &db,
        &github,
        true,
        "unlogged",
        LogTo::ClosedPipe,
    )
    .await;
    for (path, body) in [
        (
            "/api/webhooks",
            json!({"id": "gh", "name": "Unlogged", "provider": "github", "secret": SECRET}),
        ),
        (
            "/api/webhooks/gh/commands",
            json!({"trigger": "issues.opened", "action": "comment", "template": "Thanks"}),
        ),
    ] {
        let (status, answer) = api(&client, &server, reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {answer}");
    }

    // Act
    let url = server.url("/webhooks/github/gh");
    for number in 1..=3 {
        let delivery = uuid::Uuid::new_v4().to_string();
        let event = deliver(client.clone(), url.clone(), number, delivery).await;
        assert!(event.is_some(), "delivery {number} was not accepted");
    }

    // Assert: each comment sent once and recorded as delivered; the server still healthy.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, listed) = api(
            &client,
            &server,
            reqwest::Method::GET,
            "/api/actions?status=delivered",
            None,
        )
        .await;
        if listed["actions"].as_array().map(Vec::len) == Some(3) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the comments were not recorded as delivered: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = github.received_requests().await.unwrap_or_default();
    assert_eq!(sent.len(), 3, "each comment sent once");
    let (status, health) = api(&client, &server, reqwest::Method::GET, "/health", None).await;
    assert_eq!(status, StatusCode::OK, "{health}");
}
