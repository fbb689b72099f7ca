//! Tests: every sample signs, verifies and describes as the type it was asked for, and
//! payload overrides, custom options and the helpers behave.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use serde_json::{Value, json};

use super::gitlab::gitlab_event_header;
use super::*;
use crate::providers::sign::sign;
use crate::providers::{
    Described, Handshake, KeyUsed, ProviderOptions, Request, Secrets, VerifyError, describe,
    parse_payload, verify,
};

const NOW_MS: i64 = 1_763_900_000_123;

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        let name = HeaderName::from_bytes(k.as_bytes()).expect("header name");
        map.append(name, HeaderValue::from_str(v).expect("header value"));
    }
    map
}

fn header<'s>(s: &'s Sample, name: &str) -> Option<&'s str> {
    s.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// What `test_webhook` does: sign with `sign_secret`, then the receive path with
/// `verify_secret` as the webhook's only secret.
fn deliver(
    provider: Provider,
    options: &ProviderOptions,
    sample: &Sample,
    sign_secret: &str,
    verify_secret: &str,
) -> Result<Described, VerifyError> {
    let signed = sign(
        provider,
        sign_secret,
        options,
        &sample.body,
        &sample.headers,
        NOW_MS,
    )?;
    let headers = header_map(&signed.headers);
    let req = Request {
        headers: &headers,
        body: &sample.body,
        query: signed.query.as_deref(),
        now_ms: NOW_MS,
    };
    let secrets = Secrets {
        current: verify_secret,
        previous: None,
    };
    assert_eq!(verify(provider, secrets, options, &req)?, KeyUsed::Current);
    let payload = parse_payload(provider, &sample.body).expect("sample body parses");
    Ok(describe(provider, options, &headers, &payload))
}

fn round_trip(provider: Provider, options: &ProviderOptions, sample: &Sample) -> Described {
    let secret = provider.generate_secret();
    deliver(provider, options, sample, &secret, &secret)
        .unwrap_or_else(|e| panic!("{provider} {}: {e}", sample.event_type))
}

fn custom_options(v: Value) -> ProviderOptions {
    ProviderOptions {
        tolerance_secs: None,
        custom: Some(serde_json::from_value(v).expect("custom options")),
        ..Default::default()
    }
}

/// Types whose delivery carries no id: Slack's handshake, Open WebUI notifications and its
/// legacy sign-up.
fn has_no_delivery_id(provider: Provider, t: &str) -> bool {
    (provider == Provider::Slack && t == "url_verification")
        || (provider == Provider::OpenWebUi && (t.starts_with("notification.") || t == "new_user"))
}

#[test]
fn every_builtin_sample_verifies_and_describes_as_requested() {
    let mut failures = Vec::new();
    for provider in Provider::ALL {
        let options = ProviderOptions::default();
        let types = builtin_event_types(provider);
        assert!(types.contains(&default_event_type(provider)), "{provider}");
        for t in types {
            let s = sample(provider, Some(t), None, NOW_MS).expect("sample");
            assert_eq!(s.event_type, *t);
            assert!(header(&s, "Content-Type").is_some(), "{provider} {t}");
            let d = round_trip(provider, &options, &s);
            // Or a more exact type the asked one covers, as a real delivery is typed: Slack's
            // `message` is a channel's, `message.channels`.
            let covered = d
                .event_type
                .strip_prefix(t)
                .is_some_and(|rest| rest.starts_with('.'));
            if d.event_type != *t && !covered {
                failures.push(format!("{provider} {t}: described as {}", d.event_type));
            }
            assert_eq!(
                d.delivery_id.is_none(),
                has_no_delivery_id(provider, t),
                "{provider} {t}: delivery id {:?}",
                d.delivery_id
            );
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn defaults_are_the_common_types() {
    for provider in Provider::ALL {
        let s = sample(provider, None, None, NOW_MS).expect("sample");
        assert_eq!(s.event_type, default_event_type(provider));
        let blank = sample(provider, Some("  "), None, NOW_MS).expect("sample");
        assert_eq!(blank.event_type, default_event_type(provider));
        let d = round_trip(provider, &ProviderOptions::default(), &s);
        assert_eq!(d.event_type, s.event_type, "{provider}");
    }
}

#[test]
fn builtin_samples_have_the_providers_headers_and_shapes() {
    let s = sample(Provider::GitHub, Some("issues.opened"), None, NOW_MS).expect("gh");
    assert_eq!(header(&s, "X-GitHub-Event"), Some("issues"));
    assert!(header(&s, "X-GitHub-Delivery").is_some_and(|d| d.starts_with("test-")));
    let body: Value = serde_json::from_slice(&s.body).expect("json");
    assert_eq!(body["action"], "opened");
    assert_eq!(body["issue"]["labels"][0]["name"], "bug");
    let d = round_trip(Provider::GitHub, &ProviderOptions::default(), &s);
    let src = d.source.expect("source");
    assert_eq!(
        (src.kind.as_str(), src.key.as_str()),
        ("github.issue", "octo-org/hello-world#42")
    );

    let s = sample(Provider::GitHub, Some("issues.labeled"), None, NOW_MS).expect("gh");
    let body: Value = serde_json::from_slice(&s.body).expect("json");
    assert_eq!(body["label"]["name"], "bug");

    let s = sample(Provider::GitLab, Some("merge_request.open"), None, NOW_MS).expect("gl");
    assert_eq!(header(&s, "X-Gitlab-Event"), Some("Merge Request Hook"));
    assert!(header(&s, "Idempotency-Key").is_some());
    let d = round_trip(Provider::GitLab, &ProviderOptions::default(), &s);
    assert_eq!(d.source.map(|s| s.key).as_deref(), Some("acme/webapp!5"));

    let s = sample(Provider::Slack, Some("message.channels"), None, NOW_MS).expect("slack");
    let body: Value = serde_json::from_slice(&s.body).expect("json");
    assert_eq!(body["type"], "event_callback");
    assert_eq!(body["event"]["type"], "message");
    assert_eq!(body["event"]["channel_type"], "channel");

    let s = sample(Provider::Slack, Some("message"), None, NOW_MS).expect("slack");
    let d = round_trip(Provider::Slack, &ProviderOptions::default(), &s);
    assert_eq!(d.event_type, "message.channels");

    let s = sample(Provider::Slack, Some("/deploy"), None, NOW_MS).expect("slash");
    assert_eq!(
        header(&s, "Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
    let text = String::from_utf8(s.body.clone()).expect("utf8");
    assert!(text.contains("command=%2Fdeploy"), "{text}");
    let d = round_trip(Provider::Slack, &ProviderOptions::default(), &s);
    assert_eq!(d.source.map(|s| s.kind).as_deref(), Some("slack.channel"));

    let s = sample(Provider::Slack, Some("block_actions"), None, NOW_MS).expect("block");
    assert!(s.body.starts_with(b"payload="));

    let s = sample(Provider::Slack, Some("url_verification"), None, NOW_MS).expect("url");
    let d = round_trip(Provider::Slack, &ProviderOptions::default(), &s);
    assert!(matches!(
        d.handshake,
        Some(Handshake::SlackChallenge { .. })
    ));

    let s = sample(Provider::Jira, None, None, NOW_MS).expect("jira");
    assert!(header(&s, "X-Atlassian-Webhook-Identifier").is_some());
    let d = round_trip(Provider::Jira, &ProviderOptions::default(), &s);
    assert_eq!(d.source.map(|s| s.key).as_deref(), Some("PROJ-42"));

    let s = sample(
        Provider::Sentry,
        Some("event_alert.triggered"),
        None,
        NOW_MS,
    )
    .expect("s");
    assert_eq!(header(&s, "Sentry-Hook-Resource"), Some("event_alert"));
    assert!(header(&s, "Request-ID").is_some_and(|id| id.len() == 32));
    let d = round_trip(Provider::Sentry, &ProviderOptions::default(), &s);
    assert_eq!(d.source.map(|s| s.key).as_deref(), Some("1170820242"));

    for t in ["Issue.create", "Comment.create"] {
        let s = sample(Provider::Linear, Some(t), None, NOW_MS).expect("linear");
        let body: Value = serde_json::from_slice(&s.body).expect("json");
        assert_eq!(body["webhookTimestamp"], NOW_MS);
        assert_eq!(header(&s, "Linear-Event"), t.split('.').next());
        assert!(header(&s, "Linear-Delivery").is_some());
        let d = round_trip(Provider::Linear, &ProviderOptions::default(), &s);
        assert_eq!(d.source.map(|s| s.key).as_deref(), Some("ENG-123"), "{t}");
    }

    let s = sample(Provider::Stripe, Some("invoice.paid"), None, NOW_MS).expect("stripe");
    let body: Value = serde_json::from_slice(&s.body).expect("json");
    assert_eq!(body["data"]["object"]["object"], "invoice");
    assert_eq!(body["data"]["object"]["status"], "paid");
    assert!(body["id"].as_str().is_some_and(|id| id.starts_with("evt_")));

    let s = sample(
        Provider::StandardWebhooks,
        Some("contact.created"),
        None,
        NOW_MS,
    )
    .expect("standard");
    let body: Value = serde_json::from_slice(&s.body).expect("json");
    assert_eq!(body["type"], "contact.created");
    assert!(body["data"].is_object() && body["timestamp"].is_string());
    let id = header(&s, "webhook-id").expect("webhook-id").to_owned();
    let d = round_trip(Provider::StandardWebhooks, &ProviderOptions::default(), &s);
    assert_eq!(d.delivery_id, Some(id));

    // Open WebUI samples are the recorded ones with a fresh id.
    let a = sample(Provider::OpenWebUi, Some("chat.finished"), None, NOW_MS).expect("owui");
    let b = sample(Provider::OpenWebUi, Some("chat.finished"), None, NOW_MS).expect("owui");
    let (va, vb): (Value, Value) = (
        serde_json::from_slice(&a.body).expect("json"),
        serde_json::from_slice(&b.body).expect("json"),
    );
    assert_ne!(va["id"], vb["id"]);
    assert_eq!(
        va["data"]["chat_id"],
        "82177fe9-bfa9-43ff-867b-d4d3e19acf7a"
    );
    let d = round_trip(Provider::OpenWebUi, &ProviderOptions::default(), &a);
    assert_eq!(d.source.map(|s| s.kind).as_deref(), Some("openwebui.chat"));
}

#[test]
fn unknown_types_get_a_minimal_payload_carrying_the_type() {
    let s = sample(Provider::GitHub, Some("release.published"), None, NOW_MS).expect("gh");
    assert_eq!(header(&s, "X-GitHub-Event"), Some("release"));
    let body: Value = serde_json::from_slice(&s.body).expect("json");
    assert_eq!(body["action"], "published");
    assert!(body["repository"]["full_name"].is_string() && body["sender"].is_object());
    for provider in Provider::ALL {
        for t in ["widget.exploded", "widget"] {
            let s = sample(provider, Some(t), None, NOW_MS).expect("sample");
            let d = round_trip(provider, &ProviderOptions::default(), &s);
            assert_eq!(d.event_type, t, "{provider}");
        }
    }
}

#[test]
fn payload_override_keeps_the_body_and_sets_the_headers() {
    let given =
        json!({"action": "closed", "issue": {"number": 1}, "repository": {"full_name": "a/b"}});
    let s = sample(
        Provider::GitHub,
        Some("issues.opened"),
        Some(&given),
        NOW_MS,
    )
    .expect("s");
    assert_eq!(s.body, serde_json::to_vec(&given).expect("json"));
    assert_eq!(header(&s, "X-GitHub-Event"), Some("issues"));
    assert!(header(&s, "X-GitHub-Delivery").is_some());
    let d = round_trip(Provider::GitHub, &ProviderOptions::default(), &s);
    // The payload's own action wins over the requested one.
    assert_eq!(d.event_type, "issues.closed");
    assert_eq!(d.source.map(|s| s.key).as_deref(), Some("a/b#1"));

    // Where the type lives in the body, it is filled in only when absent.
    let cases = [
        (Provider::GitHub, "issues.opened"),
        (Provider::GitHub, "push"),
        (Provider::GitLab, "issue.open"),
        (Provider::GitLab, "note"),
        (Provider::Slack, "message.channels"),
        (Provider::Slack, "app_mention"),
        (Provider::Slack, "message_changed"),
        (Provider::Slack, "message_channel_join"),
        (Provider::Slack, "/deploy"),
        (Provider::Slack, "block_actions"),
        (Provider::Jira, "jira:issue_updated"),
        (Provider::Sentry, "issue.created"),
        (Provider::Linear, "Comment.create"),
        (Provider::Stripe, "invoice.paid"),
        (Provider::StandardWebhooks, "contact.created"),
        (Provider::OpenWebUi, "user.created"),
        (Provider::OpenWebUi, "notification.chat"),
        (Provider::Custom, "build.done"),
    ];
    for (provider, t) in cases {
        let given = json!({"hello": "world"});
        let s = sample(provider, Some(t), Some(&given), NOW_MS).expect("sample");
        let d = round_trip(provider, &ProviderOptions::default(), &s);
        assert_eq!(d.event_type, t, "{provider}");
        let payload = parse_payload(provider, &s.body).expect("parses");
        assert_eq!(payload["hello"], "world", "{provider} {t}");
    }

    // A body that already names its type is sent byte for byte.
    let jira = json!({"webhookEvent": "comment_created", "issue": {"key": "X-1"}});
    let s = sample(
        Provider::Jira,
        Some("jira:issue_created"),
        Some(&jira),
        NOW_MS,
    )
    .expect("j");
    assert_eq!(s.body, serde_json::to_vec(&jira).expect("json"));
    assert!(header(&s, "X-Atlassian-Webhook-Identifier").is_some());
    let d = round_trip(Provider::Jira, &ProviderOptions::default(), &s);
    assert_eq!(d.event_type, "comment_created");

    // Sentry and GitLab take the resource/kind from the requested type for the headers.
    let sentry = json!({"action": "resolved", "data": {"issue": {"id": "9"}}});
    let s = sample(
        Provider::Sentry,
        Some("issue.created"),
        Some(&sentry),
        NOW_MS,
    )
    .expect("s");
    assert_eq!(s.body, serde_json::to_vec(&sentry).expect("json"));
    assert_eq!(header(&s, "Sentry-Hook-Resource"), Some("issue"));
    let d = round_trip(Provider::Sentry, &ProviderOptions::default(), &s);
    assert_eq!(d.event_type, "issue.resolved");

    // Slack messages get the subscription's channel type only when absent.
    let slack = json!({"type": "event_callback", "event": {"type": "message", "channel_type": "im", "channel": "D1", "ts": "1.2"}});
    let s = sample(
        Provider::Slack,
        Some("message.channels"),
        Some(&slack),
        NOW_MS,
    )
    .expect("s");
    assert_eq!(s.body, serde_json::to_vec(&slack).expect("json"));
    let d = round_trip(Provider::Slack, &ProviderOptions::default(), &s);
    assert_eq!(d.event_type, "message.im");

    // A non-object payload is sent as is.
    let list = json!([1, 2, 3]);
    let s = sample(Provider::Stripe, None, Some(&list), NOW_MS).expect("stripe");
    assert_eq!(s.body, b"[1,2,3]");
}

#[test]
fn custom_hooks_round_trip_with_hmac_and_token_options() {
    let cases = [
        json!({}),
        json!({"mode": "hmac", "header": "X-Hub-Sig", "prefix": "sha256=", "encoding": "base64", "event_type_pointer": "/type"}),
        json!({"mode": "hmac", "header": "X-Sig", "prefix": "v1=", "encoding": "hex", "delivery_id_header": "X-Delivery-Id"}),
        json!({"mode": "token"}),
        json!({"mode": "token", "header": "Authorization", "prefix": "Bearer ", "event_type_header": "X-Event"}),
    ];
    for options in cases {
        let opts = custom_options(options.clone());
        for t in [None, Some("build.done")] {
            let s = sample(Provider::Custom, t, None, NOW_MS).expect("sample");
            let secret = Provider::Custom.generate_secret();
            let d = deliver(Provider::Custom, &opts, &s, &secret, &secret)
                .unwrap_or_else(|e| panic!("{options}: {e}"));
            assert_eq!(d.event_type, s.event_type, "{options}");
            assert_eq!(
                d.delivery_id.as_deref(),
                header(&s, "X-Delivery-Id"),
                "{options}"
            );
            let other = Provider::Custom.generate_secret();
            assert_eq!(
                deliver(Provider::Custom, &opts, &s, &secret, &other),
                Err(VerifyError::BadSignature),
                "{options}"
            );
        }
    }
}

#[test]
fn a_wrong_secret_is_rejected_for_every_provider() {
    for provider in Provider::ALL {
        let s = sample(provider, None, None, NOW_MS).expect("sample");
        let secret = provider.generate_secret();
        let wrong = provider.generate_secret();
        assert_eq!(
            deliver(provider, &ProviderOptions::default(), &s, &secret, &wrong),
            Err(VerifyError::BadSignature),
            "{provider}"
        );
    }
}

#[test]
fn repeated_samples_are_distinct_deliveries() {
    for provider in Provider::ALL {
        let a = sample(provider, None, None, NOW_MS).expect("a");
        let b = sample(provider, None, None, NOW_MS).expect("b");
        let da = round_trip(provider, &ProviderOptions::default(), &a);
        let db = round_trip(provider, &ProviderOptions::default(), &b);
        assert!(da.delivery_id.is_some(), "{provider}");
        assert_ne!(da.delivery_id, db.delivery_id, "{provider}");
    }
}

#[test]
fn impossible_types_are_refused_with_the_accepted_ones() {
    for bad in ["issues opened", "a\nb", "caf\u{e9}"] {
        let err = sample(Provider::GitHub, Some(bad), None, NOW_MS).expect_err(bad);
        assert!(err.contains("issues.opened"), "{err}");
    }
    let long = "x".repeat(201);
    assert!(sample(Provider::Custom, Some(&long), None, NOW_MS).is_err());
}

#[test]
fn helpers() {
    assert_eq!(split("issues.opened"), ("issues", Some("opened")));
    assert_eq!(
        split("metric_alert.critical"),
        ("metric_alert", Some("critical"))
    );
    assert_eq!(split("push"), ("push", None));
    assert_eq!(split("x."), ("x.", None));
    let mut v = json!({"a": {"b": 1}, "n": null, "s": "x"});
    set_if_absent(&mut v, &["a", "b"], json!(2));
    set_if_absent(&mut v, &["a", "c"], json!(3));
    set_if_absent(&mut v, &["n"], json!(4));
    set_if_absent(&mut v, &["s", "t"], json!(5));
    set_if_absent(&mut v, &["new", "deep"], json!(6));
    assert_eq!(
        v,
        json!({"a": {"b": 1, "c": 3}, "n": 4, "s": "x", "new": {"deep": 6}})
    );
    assert_eq!(gitlab_event_header("merge_request"), "Merge Request Hook");
    assert_eq!(gitlab_event_header("build"), "Job Hook");
    let cx = Cx::new(NOW_MS);
    assert_eq!(cx.secs, 1_763_900_000);
    assert_eq!(cx.iso, "2025-11-23T12:13:20Z");
    assert_eq!(cx.iso_ms(), "2025-11-23T12:13:20.123Z");
}

#[test]
fn a_github_payloads_kind_is_read_from_the_objects_it_carries() {
    use serde_json::json;
    let cases = [
        (
            json!({"zen": "Keep it simple.", "hook_id": 1}),
            Some("ping"),
        ),
        (
            json!({"pull_request": {}, "review": {}}),
            Some("pull_request_review"),
        ),
        (
            json!({"pull_request": {}, "comment": {}}),
            Some("pull_request_review_comment"),
        ),
        (json!({"pull_request": {}}), Some("pull_request")),
        (json!({"issue": {}, "comment": {}}), Some("issue_comment")),
        (json!({"issue": {}}), Some("issues")),
        (
            json!({"discussion": {}, "comment": {}}),
            Some("discussion_comment"),
        ),
        (
            json!({"comment": {"commit_id": "abc"}}),
            Some("commit_comment"),
        ),
        (json!({"workflow_run": {}}), Some("workflow_run")),
        // Deployments carry the run that made them; a review thread its pull request.
        (
            json!({"deployment": {}, "workflow_run": {}}),
            Some("deployment"),
        ),
        (
            json!({"deployment_status": {}, "deployment": {}, "workflow_run": {}}),
            Some("deployment_status"),
        ),
        (
            json!({"workflow_job_runs": [], "workflow_run": {}}),
            Some("deployment_review"),
        ),
        (
            json!({"workflow_job_run": {}, "workflow_run": {}}),
            Some("deployment_review"),
        ),
        // A job that deploys carries its deployment; it is still the job's event.
        (
            json!({"workflow_job": {}, "deployment": {}}),
            Some("workflow_job"),
        ),
        (
            json!({"pull_request": {}, "thread": {}}),
            Some("pull_request_review_thread"),
        ),
        (json!({"workflow_job": {}}), Some("workflow_job")),
        (json!({"release": {}}), Some("release")),
        (
            json!({"ref": "refs/heads/main", "commits": []}),
            Some("push"),
        ),
        (json!({"issue": null, "action": "opened"}), None),
        (json!({"action": "opened"}), None),
    ];
    for (payload, kind) in cases {
        assert_eq!(super::github::kind_of(&payload), kind, "{payload}");
    }
}

#[test]
fn a_github_payload_without_an_action_is_of_its_kinds_usual_one() {
    use serde_json::json;
    let cases = [
        (json!({"issue": {}}), Some("issues.opened")),
        (
            json!({"issue": {}, "action": "closed"}),
            Some("issues.closed"),
        ),
        (
            json!({"pull_request": {}, "review": {}}),
            Some("pull_request_review.submitted"),
        ),
        (
            json!({"issue": {}, "comment": {}}),
            Some("issue_comment.created"),
        ),
        (json!({"release": {}}), Some("release.published")),
        (
            json!({"pull_request": {}, "thread": {}}),
            Some("pull_request_review_thread.resolved"),
        ),
        (
            json!({"ref": "refs/heads/main", "commits": []}),
            Some("push"),
        ),
        (json!({"zen": "z", "hook_id": 1}), Some("ping")),
        (json!({"action": "opened"}), None),
    ];
    for (payload, event_type) in cases {
        let found = super::github_event_type_of(&payload);
        assert_eq!(found.as_deref(), event_type, "{payload}");
    }
}

#[test]
fn a_custom_senders_spaced_event_type_can_be_tested_but_no_other_providers() {
    // A custom sender that names events in a header (`X-Gitea-Event: Issue Hook`, say).
    let opts = custom_options(json!({"mode": "token", "event_type_header": "X-Event"}));
    let s = sample(Provider::Custom, Some("Issue Hook"), None, NOW_MS).expect("custom");
    let secret = Provider::Custom.generate_secret();
    let d = deliver(Provider::Custom, &opts, &s, &secret, &secret).expect("delivered");
    assert_eq!(d.event_type, "Issue Hook");
    for (provider, spaced) in [
        (Provider::GitHub, "issues opened"),
        (Provider::Stripe, "charge refunded"),
        (Provider::Custom, "tab\there"),
    ] {
        let refused = sample(provider, Some(spaced), None, NOW_MS).expect_err(spaced);
        assert!(refused.contains("printable ASCII"), "{refused}");
    }
}

#[test]
fn a_channel_notification_sample_names_its_channel_as_open_webui_does() {
    let s = sample(
        Provider::OpenWebUi,
        Some("notification.channel"),
        None,
        NOW_MS,
    )
    .expect("s");
    let body: Value = serde_json::from_slice(&s.body).expect("json");
    let url = body["url"].as_str().expect("url");
    assert!(url.contains("/channels/"), "{body}");
    let channels = crate::engine::payload::channels(&body);
    assert!(channels.contains(&"general".to_string()), "{channels:?}");
    assert_eq!(channels.len(), 2, "by id and by name: {channels:?}");
}

#[test]
fn a_github_sample_carries_the_object_its_event_is_about() {
    let cases = [
        ("release.published", "/release/tag_name"),
        ("workflow_run.completed", "/workflow_run/conclusion"),
        (
            "workflow_run.completed",
            "/workflow_run/pull_requests/0/number",
        ),
        ("workflow_job.completed", "/workflow_job/conclusion"),
        ("check_run.completed", "/check_run/output/title"),
        ("check_suite.completed", "/check_suite/conclusion"),
        ("discussion.created", "/discussion/title"),
        ("discussion_comment.created", "/comment/body"),
        ("discussion_comment.created", "/discussion/number"),
        ("pull_request.labeled", "/label/name"),
        ("pull_request.unlabeled", "/label/name"),
        ("issues.unassigned", "/assignee/login"),
        ("commit_comment.created", "/comment/commit_id"),
        ("deployment.created", "/deployment/environment"),
        ("deployment_status.created", "/deployment_status/state"),
        ("deployment_status.created", "/deployment/sha"),
        (
            "pull_request_review_thread.resolved",
            "/thread/comments/0/path",
        ),
        (
            "pull_request_review_thread.unresolved",
            "/pull_request/number",
        ),
        ("release.published", "/release/target_commitish"),
        ("workflow_job.completed", "/workflow_job/steps/0/conclusion"),
    ];
    for (event_type, pointer) in cases {
        let s = sample(Provider::GitHub, Some(event_type), None, NOW_MS).expect(event_type);
        let body: serde_json::Value = serde_json::from_slice(&s.body).expect("json");
        assert!(
            body.pointer(pointer).is_some(),
            "{event_type}: no {pointer}"
        );
        assert_eq!(
            super::github::kind_of(&body),
            event_type.split('.').next(),
            "{event_type}"
        );
    }
}

/// A template that reads what every real delivery of a kind carries must not be reported as
/// failing on its sample: each sample has its kind's own objects.
#[test]
fn a_sample_carries_what_every_delivery_of_its_kind_has() {
    let cases = [
        (
            Provider::GitHub,
            "status",
            &["/sha", "/state", "/context", "/commit/sha"][..],
        ),
        (
            Provider::GitLab,
            "emoji.award",
            &["/object_attributes/awardable_type", "/issue/iid"],
        ),
        (
            Provider::GitLab,
            "pipeline",
            &["/object_attributes/status", "/merge_request/iid"],
        ),
        (
            Provider::GitLab,
            "release.create",
            &["/tag", "/commit/id", "/action"],
        ),
        (
            Provider::GitLab,
            "build",
            &["/build_status", "/build_name", "/commit/sha"],
        ),
        (
            Provider::GitLab,
            "deployment",
            &["/status", "/environment", "/deployable_url"],
        ),
        (
            Provider::Slack,
            "file_shared",
            &["/event/channel_id", "/event/file_id", "/event/file/id"],
        ),
        (
            Provider::Slack,
            "pin_added",
            &["/event/channel_id", "/event/item/type"],
        ),
        (
            Provider::Linear,
            "AgentSessionEvent.created",
            &[
                "/agentSession/issue/identifier",
                "/agentSession/comment/id",
                "/promptContext",
            ],
        ),
        (
            Provider::Linear,
            "AgentSessionEvent.prompted",
            &[
                "/agentActivity/content/body",
                "/agentActivity/sourceCommentId",
            ],
        ),
        (
            Provider::Linear,
            "AppUserNotification.issueCommentMention",
            &[
                "/notification/issue/identifier",
                "/notification/comment/body",
            ],
        ),
        (
            Provider::Linear,
            "AppUserNotification.issueAssignedToYou",
            &["/notification/issue/identifier", "/notification/type"],
        ),
        (
            Provider::Linear,
            "IssueSLA.breached",
            &["/issueData/identifier", "/url"],
        ),
        (
            Provider::Jira,
            "worklog_created",
            &["/worklog/timeSpent", "/worklog/issueId"],
        ),
        (
            Provider::Jira,
            "jira:version_released",
            &["/version/name", "/version/released"],
        ),
        (
            Provider::Jira,
            "sprint_started",
            &["/sprint/name", "/sprint/state"],
        ),
        (
            Provider::Jira,
            "sprint_updated",
            &["/sprint/goal", "/oldValue/name"],
        ),
        (
            Provider::Jira,
            "attachment_created",
            &["/attachment/filename", "/attachment/mimeType"],
        ),
    ];
    for (provider, event_type, pointers) in cases {
        let s = sample(provider, Some(event_type), None, NOW_MS).expect(event_type);
        let body: Value = serde_json::from_slice(&s.body).expect("json");
        for pointer in pointers {
            let found = body.pointer(pointer).filter(|v| !v.is_null());
            assert!(
                found.is_some(),
                "{provider} {event_type}: no {pointer} in {body}"
            );
        }
        let d = round_trip(provider, &ProviderOptions::default(), &s);
        assert_eq!(d.event_type, event_type, "{provider}");
    }
}

/// Linear's app webhooks carry their objects at the top, as Linear sends them, and are filed
/// under the issue they are about, in the thread they came from.
#[test]
fn linear_app_samples_are_shaped_as_sent_and_name_their_issue() {
    for (event_type, thread) in [
        ("AgentSessionEvent.created", true),
        ("AgentSessionEvent.prompted", true),
        ("AppUserNotification.issueCommentMention", true),
        ("AppUserNotification.issueAssignedToYou", false),
        ("IssueSLA.breached", false),
    ] {
        let s = sample(Provider::Linear, Some(event_type), None, NOW_MS).expect(event_type);
        let body: Value = serde_json::from_slice(&s.body).expect("json");
        assert!(body.get("data").is_none(), "{event_type}: {body}");
        let d = round_trip(Provider::Linear, &ProviderOptions::default(), &s);
        let source = d
            .source
            .unwrap_or_else(|| panic!("{event_type}: no source"));
        assert_eq!(
            (source.kind.as_str(), source.key.as_str()),
            ("linear.issue", "ENG-123")
        );
        assert!(source.detail.contains_key("issue_id"), "{event_type}");
        assert_eq!(
            source.detail.contains_key("thread_id"),
            thread,
            "{event_type}"
        );
    }
}

/// A file shared in a channel is answered in that channel.
#[test]
fn a_file_shared_sample_is_filed_under_its_channel() {
    let s = sample(Provider::Slack, Some("file_shared"), None, NOW_MS).expect("s");
    let d = round_trip(Provider::Slack, &ProviderOptions::default(), &s);
    let source = d.source.expect("source");
    assert_eq!(
        (source.kind.as_str(), source.key.as_str()),
        ("slack.channel", "C0123ABCDEF")
    );
}
