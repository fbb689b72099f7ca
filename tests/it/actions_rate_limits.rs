//! A rate limit holds for its host: once one action to a host hears a 429 with `Retry-After`,
//! the host's other queued actions wait it out (not sent, failed or counted as attempts) and
//! then all go, while another host is served meanwhile. The real worker runs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{TestApp, accepted, delivery_id, issue_opened, send_json, spawn_app_with};

const SECRET: &str = "gh-secret-for-rate-limits";
/// Actions queued for the limited host.
const QUEUED: u64 = 4;

/// A target that notes when each request came, and answers the first of them `first`.
#[derive(Clone)]
struct Noting {
    seen: Arc<Mutex<Vec<Instant>>>,
    first: ResponseTemplate,
}

impl Noting {
    async fn start(first: ResponseTemplate) -> (MockServer, Arc<Mutex<Vec<Instant>>>) {
        let server = MockServer::start().await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let noting = Noting {
            seen: Arc::clone(&seen),
            first,
        };
        Mock::given(method("POST"))
            .respond_with(noting)
            .mount(&server)
            .await;
        (server, seen)
    }
}

impl Respond for Noting {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut seen = self.seen.lock().unwrap();
        seen.push(Instant::now());
        if seen.len() == 1 {
            self.first.clone()
        } else {
            ResponseTemplate::new(200)
        }
    }
}

fn times(seen: &Mutex<Vec<Instant>>) -> Vec<Instant> {
    seen.lock().unwrap().clone()
}

/// Waits until `seen` holds `count` requests, at most `within`.
async fn until_seen(seen: &Mutex<Vec<Instant>>, count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while times(seen).len() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A GitHub webhook `id` forwarding every opened issue to `target`.
async fn forwarding(app: &TestApp, id: &str, target: &MockServer) {
    app.github_webhook(id, SECRET).await;
    app.add_command_ok(
        id,
        json!({"trigger": "issues.opened", "action": "forward", "target": {"url": target.uri()}}),
    )
    .await;
}

async fn open_issue(app: &TestApp, webhook_id: &str, number: u64) -> String {
    let body = issue_opened("octo/app", number, &[]);
    accepted(
        app.post_github(webhook_id, "issues", &delivery_id(), &body, SECRET)
            .await,
    )
    .await
}

#[tokio::test]
async fn a_429_holds_the_hosts_other_actions_until_its_retry_after_and_not_other_hosts() {
    // Arrange: `limited` answers its first request 429 asking for 2 s, then takes everything;
    // `other` takes everything. Two senders: a share of one each per host.
    let (limited, limited_seen) =
        Noting::start(ResponseTemplate::new(429).insert_header("Retry-After", "2")).await;
    let (other, other_seen) = Noting::start(ResponseTemplate::new(200)).await;
    let app = spawn_app_with(|c| {
        c.worker = true;
        c.outbound_concurrency = 2;
        c.retry_schedule = vec!["1s".into(), "1s".into()];
    })
    .await;
    forwarding(&app, "to-limited", &limited).await;
    forwarding(&app, "to-other", &other).await;

    // Act: actions queued for the limited host; once it has said 429, one for the other.
    let mut events = Vec::new();
    for number in 1..=QUEUED {
        events.push(open_issue(&app, "to-limited", number).await);
    }
    until_seen(&limited_seen, 1, Duration::from_secs(5)).await;
    let queued_other = Instant::now();
    let other_event = open_issue(&app, "to-other", 100).await;
    until_seen(&other_seen, 1, Duration::from_secs(5)).await;
    until_seen(&limited_seen, QUEUED as usize + 1, Duration::from_secs(15)).await;

    // Assert: nothing more went to the limited host before its 2 s were over...
    let limited_times = times(&limited_seen);
    assert_eq!(
        limited_times.len(),
        QUEUED as usize + 1,
        "one 429, then each"
    );
    let quiet = limited_times[1] - limited_times[0];
    assert!(
        quiet >= Duration::from_millis(1_950),
        "the limited host heard again after {quiet:?}"
    );
    // ...while the other host was served at once.
    let other_times = times(&other_seen);
    assert_eq!(other_times.len(), 1);
    assert!(
        other_times[0] - queued_other < Duration::from_secs(1),
        "the other host waited {:?}",
        other_times[0] - queued_other
    );
    assert!(other_times[0] < limited_times[1]);
    // Every action delivered; only the one that heard the 429 took two attempts.
    let mut attempts = Vec::new();
    for event_id in events.iter().chain([&other_event]) {
        let mut action = app.actions_of(event_id).await.remove(0);
        let deadline = Instant::now() + Duration::from_secs(5);
        while action["status"] != "delivered" && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            action = app.actions_of(event_id).await.remove(0);
        }
        assert_eq!(action["status"], "delivered", "{action}");
        attempts.push(action["attempts"].as_i64().unwrap_or_default());
    }
    attempts.sort();
    let mut want = vec![1; QUEUED as usize + 1];
    *want.last_mut().unwrap() = 2;
    assert_eq!(attempts, want);
}

#[tokio::test]
async fn actions_held_by_their_hosts_rate_limit_say_so_and_until_when_also_when_retried() {
    // Arrange: the target answers its first request 429 asking for a minute.
    let (limited, limited_seen) =
        Noting::start(ResponseTemplate::new(429).insert_header("Retry-After", "60")).await;
    let (other, other_seen) = Noting::start(ResponseTemplate::new(200)).await;
    let app = spawn_app_with(|c| {
        c.worker = true;
        c.outbound_concurrency = 2;
    })
    .await;
    forwarding(&app, "to-limited", &limited).await;
    forwarding(&app, "to-other", &other).await;
    for number in 1..=QUEUED {
        open_issue(&app, "to-limited", number).await;
    }
    until_seen(&limited_seen, 1, Duration::from_secs(5)).await;
    open_issue(&app, "to-other", 100).await;
    until_seen(&other_seen, 1, Duration::from_secs(5)).await;

    // Act: the actions listed, one of them on an event, and one retried by hand.
    let (status, page) = app.get_json("/api/actions?webhook_id=to-limited").await;
    assert_eq!(status, 200, "{page}");
    let listed = page["actions"].as_array().unwrap().clone();
    let waiting = listed.iter().find(|a| a["status"] == "pending").unwrap();
    let event = app.event(waiting["event_id"].as_str().unwrap()).await;
    let retry = format!("/api/actions/{}/retry", waiting["id"].as_str().unwrap());
    let (status, retried) = send_json(app.api(Method::POST, &retry)).await;
    assert_eq!(status, 200, "{retried}");
    let (_, others) = app.get_json("/api/actions?webhook_id=to-other").await;
    let mcp = crate::mcp::connect(&app).await;
    let action_id = json!({"action_id": waiting["id"]});
    let told = crate::mcp::text(&crate::mcp::call(&mcp, "get_action", action_id.clone()).await);
    let retried_told = crate::mcp::text(&crate::mcp::call(&mcp, "retry_action", action_id).await);

    // Assert: every action of the limited host still to be tried says why it waits, and
    // until about a minute from now; the one answered 429 waits for its own retry, due then,
    // and the other host's delivered one says nothing.
    assert_eq!(listed.len(), QUEUED as usize);
    let (answered, untried): (Vec<_>, Vec<_>) =
        listed.iter().partition(|a| a["status"] == "retrying");
    assert_eq!(answered.len(), 1, "{listed:?}");
    assert!(answered[0].get("held").is_none(), "{}", answered[0]);
    let from_now = |held: &str| {
        let (until, _) = held
            .strip_prefix("held until ")
            .and_then(|s| s.split_once(": "))
            .unwrap_or_else(|| panic!("{held}"));
        let until = OffsetDateTime::parse(until, &Rfc3339).unwrap();
        (until - OffsetDateTime::now_utc()).whole_seconds()
    };
    for shown in untried.into_iter().chain([&event["actions"][0], &retried]) {
        let held = shown["held"].as_str().unwrap_or_else(|| panic!("{shown}"));
        assert!(held.contains("rate limit"), "{held}");
        assert!((50..=60).contains(&from_now(held)), "{held}");
    }
    // A model reading only the tools' text is told too.
    assert!(told.contains("Not sent yet: held until"), "{told}");
    assert!(
        retried_told.contains("once its host's rate limit is over"),
        "{retried_told}"
    );
    assert!(
        retried_told.contains("Not sent yet: held until"),
        "{retried_told}"
    );
    assert_eq!(times(&limited_seen).len(), 1, "nothing more sent meanwhile");
    let delivered = &others["actions"][0];
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    assert!(delivered.get("held").is_none(), "{delivered}");
}
