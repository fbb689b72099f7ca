//! Targets named by a host name that resolves to a private address (a compose service name,
//! an /etc/hosts entry): the sender's resolver refuses them unless ALLOWED_TARGET_HOSTS opens
//! them, so test_webhook says they would fail, and saving or queuing one warns (it is not
//! refused: DNS may answer otherwise when it is sent).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, accepted, delivery_id, issue_opened, send_json, spawn_app};
use crate::mcp::{call, connect, structured};

/// A name this machine resolves, from its hosts file (no DNS server asked), only to loopback,
/// and that is not `localhost` or another name refused as local whatever it resolves to. `None`
/// where the hosts file has none; the tests below then have nothing to check and say so.
async fn loopback_name() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let names = hosts
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let ip: std::net::IpAddr = fields.next()?.parse().ok()?;
            ip.is_loopback().then_some(fields)
        })
        .flatten()
        .filter(|name| !name.contains('.') && !name.eq_ignore_ascii_case("localhost"))
        .map(str::to_owned)
        .collect::<Vec<_>>();
    for name in names {
        let Ok(addrs) = tokio::net::lookup_host((name.as_str(), 0)).await else {
            continue;
        };
        let addrs: Vec<_> = addrs.collect();
        if !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()) {
            return Some(name);
        }
    }
    eprintln!("skipped: /etc/hosts names no host (other than localhost) on loopback");
    None
}

/// The planned command of a dry run's report, by command id.
fn planned<'a>(report: &'a Value, command_id: &str) -> &'a Value {
    report["matched"]
        .as_array()
        .and_then(|m| m.iter().find(|c| c["command_id"] == command_id))
        .unwrap_or_else(|| panic!("{command_id} did not match: {report}"))
}

/// test_webhook's report for an `issues.opened` of webhook `gh`.
async fn dry_run(app: &TestApp, payload: &Value) -> Value {
    let client = connect(app).await;
    let report = structured(
        &call(
            &client,
            "test_webhook",
            json!({"webhook_id": "gh", "event_type": "issues.opened", "payload": payload}),
        )
        .await,
    );
    client.cancel().await.ok();
    report
}

#[tokio::test]
async fn a_target_whose_name_resolves_to_a_private_address_is_warned_of_and_fails_its_dry_run() {
    // Arrange: a forward to a name on loopback, with nothing in ALLOWED_TARGET_HOSTS.
    let Some(name) = loopback_name().await else {
        return;
    };
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let url = format!("http://{name}:{}/in", receiver.address().port());
    let app = spawn_app().await;
    let secret = "gh-secret-0123456789";
    app.github_webhook("gh", secret).await;

    // Act: save the command, dry-run an event, then deliver it for real.
    let added = app
        .add_command_ok(
            "gh",
            json!({"trigger": "issues.opened", "action": "forward", "target": {"url": url}}),
        )
        .await;
    let command_id = added["id"].as_str().expect("command id").to_string();
    let body = issue_opened("octo/app", 7, &[]);
    let payload: Value = serde_json::from_str(&body).expect("JSON");
    let dry = dry_run(&app, &payload).await;
    let response = app
        .post_github("gh", "issues", &delivery_id(), &body, secret)
        .await;
    let event_id = accepted(response).await;
    let action = settled(&app, &event_id).await;

    // Assert: saved with a warning naming the fix; the dry run fails in the sender's words,
    // but for the address the name resolves to, which only the sender's own error names (a
    // check that queues nothing must not map internal names to addresses).
    let warnings = added["warnings"].to_string();
    assert!(
        warnings.contains("resolves to a private address"),
        "{added}"
    );
    assert!(warnings.contains("ALLOWED_TARGET_HOSTS"), "{added}");
    let planned = planned(&dry, &command_id);
    assert_eq!(planned["would_send"], Value::Null, "{dry}");
    let why = planned["would_fail"].as_str().expect("would_fail");
    assert!(why.contains("resolves to a private address;"), "{why}");
    for shown in [&warnings, why] {
        assert!(!shown.contains("(127."), "{shown}");
    }
    assert_eq!(action["status"], "dead", "{action}");
    let error = action["last_error"].as_str().expect("last_error");
    let (head, address_on) = error
        .split_once(" (127.")
        .unwrap_or_else(|| panic!("the sender names the address: {error}"));
    let rest = address_on.split_once(')').map_or("", |(_, rest)| rest);
    assert_eq!(format!("{head}{rest}"), why, "{action}");

    // Act: the same, once ALLOWED_TARGET_HOSTS names the host.
    let app = app
        .restart_with(|c| c.allowed_target_hosts = vec![name.clone()])
        .await;
    let dry = dry_run(&app, &payload).await;

    // Assert: now it would be sent.
    let planned = self::planned(&dry, &command_id);
    assert_eq!(planned["would_fail"], Value::Null, "{dry}");
    assert!(planned["would_send"].is_string(), "{dry}");
}

#[tokio::test]
async fn a_command_updated_or_a_message_posted_to_such_a_name_is_taken_with_a_warning() {
    // Arrange
    let Some(name) = loopback_name().await else {
        return;
    };
    let url = format!("http://{name}:9/api/v1/channels/webhooks/a/b");
    let app = spawn_app().await;
    app.github_webhook("gh", "gh-secret-0123456789").await;
    let added = app
        .add_command_ok(
            "gh",
            json!({"trigger": "issues.opened", "action": "post_message", "template": "hi",
                   "target": {"url": "https://example.com/hook"}}),
        )
        .await;
    let id = added["id"].as_str().expect("command id");

    // Act
    let (updated_status, updated) = send_json(
        app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{id}"))
            .json(&json!({"target": {"url": url}})),
    )
    .await;
    let (posted_status, posted) = app
        .post_api("/api/messages", &json!({"url": url, "text": "hi"}))
        .await;

    // Assert: both taken, each warning that the sender refuses the name as it resolves now.
    assert_eq!(updated_status, StatusCode::OK, "{updated}");
    assert!(
        updated["warnings"]
            .to_string()
            .contains("resolves to a private address"),
        "{updated}"
    );
    assert_eq!(posted_status, StatusCode::ACCEPTED, "{posted}");
    let warnings = posted["warnings"].to_string();
    assert!(
        warnings.contains("resolves to a private address"),
        "{posted}"
    );
    assert!(warnings.contains("get_action"), "{posted}");
}

/// The one action of `event_id` once it is delivered or dead (the app's own worker sends it).
async fn settled(app: &TestApp, event_id: &str) -> Value {
    for _ in 0..100 {
        let actions = app.actions_of(event_id).await;
        if let [only] = actions.as_slice()
            && (only["status"] == "delivered" || only["status"] == "dead")
        {
            return only.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the action of {event_id} never settled")
}
