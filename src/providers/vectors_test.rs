//! Runs every vector in tests/fixtures/provider-vectors.json (a copy of
//! shared/provider-vectors.json) through the public dispatch: verify, then parse + describe.

use std::str::FromStr;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::{Provider, ProviderOptions, Request, Secrets, describe, parse_payload, verify};

const VECTORS: &str = include_str!("../../tests/fixtures/provider-vectors.json");
/// Clock for vectors without `now`/`now_ms`: none of them sign a timestamp.
const DEFAULT_NOW_MS: i64 = 1_763_900_000_000;

fn text<'v>(v: &'v Value, field: &str) -> &'v str {
    v.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn header_map(v: &Value) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in v
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("vector header name");
        let value = HeaderValue::from_str(value.as_str().expect("string header")).expect("value");
        map.append(name, value);
    }
    map
}

fn now_ms(v: &Value) -> i64 {
    v.get("now_ms")
        .and_then(Value::as_i64)
        .or_else(|| v.get("now").and_then(Value::as_i64).map(|s| s * 1000))
        .unwrap_or(DEFAULT_NOW_MS)
}

#[test]
fn every_supported_vector() {
    let doc: Value = serde_json::from_str(VECTORS).expect("vectors parse");
    let vectors = doc
        .get("vectors")
        .and_then(Value::as_array)
        .expect("vectors array");
    let mut ran = 0;
    for v in vectors {
        let id = text(v, "id");
        let name = text(v, "provider");
        // Discord signs with Ed25519 and is not a supported provider yet.
        if name == "discord" {
            continue;
        }
        let provider =
            Provider::from_str(name).unwrap_or_else(|()| panic!("{id}: unknown provider {name}"));
        let headers = header_map(v);
        let body = text(v, "body").as_bytes();
        let req = Request {
            headers: &headers,
            body,
            query: None,
            now_ms: now_ms(v),
        };
        let secrets = Secrets {
            current: text(v, "secret"),
            previous: None,
        };
        let options = ProviderOptions::default();
        let result = verify(provider, secrets, &options, &req);
        match text(v, "expected") {
            "accept" => assert!(result.is_ok(), "{id}: expected accept, got {result:?}"),
            "reject" => assert!(result.is_err(), "{id}: expected reject, got {result:?}"),
            other => panic!("{id}: unknown expectation {other}"),
        }
        ran += 1;
        let Some(fields) = v.get("expect_fields").filter(|_| result.is_ok()) else {
            continue;
        };
        let payload = parse_payload(provider, body).unwrap_or_else(|e| panic!("{id}: {e}"));
        let d = describe(provider, &options, &headers, &payload);
        assert_eq!(d.event_type, text(fields, "event_type"), "{id}: event_type");
        if let Some(want) = fields.get("delivery_id").and_then(Value::as_str) {
            assert_eq!(d.delivery_id.as_deref(), Some(want), "{id}: delivery_id");
        }
        if let Some(want) = fields.get("source_ref").and_then(Value::as_str) {
            assert_eq!(
                d.source.as_ref().map(|s| s.key.as_str()),
                Some(want),
                "{id}: source_ref"
            );
        }
    }
    assert!(ran >= 20, "only {ran} vectors ran");
}

/// The slash-command vector is Slack's own example; it also pins how a command is described.
#[test]
fn slack_official_vector_describes_the_command() {
    let doc: Value = serde_json::from_str(VECTORS).expect("vectors parse");
    let vectors = doc
        .get("vectors")
        .and_then(Value::as_array)
        .expect("vectors array");
    let v = vectors
        .iter()
        .find(|v| text(v, "id") == "slack-sdk-vector")
        .expect("slack vector");
    let headers = header_map(v);
    let payload = parse_payload(Provider::Slack, text(v, "body").as_bytes()).expect("form");
    let d = describe(
        Provider::Slack,
        &ProviderOptions::default(),
        &headers,
        &payload,
    );
    assert_eq!(d.event_type, "/webhook-collect");
    assert_eq!(
        d.delivery_id.as_deref(),
        Some("398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    );
    assert_eq!(d.source.map(|s| s.key), Some("G8PSS9T3V".into()));
    // One second past the window the same request is refused.
    let late = Request {
        headers: &headers,
        body: text(v, "body").as_bytes(),
        query: None,
        now_ms: (1_531_420_618 + 301) * 1000,
    };
    let secrets = Secrets {
        current: text(v, "secret"),
        previous: None,
    };
    assert!(verify(Provider::Slack, secrets, &ProviderOptions::default(), &late).is_err());
}

/// Hostile headers, bodies and clocks must yield errors or descriptions, never a panic.
#[test]
fn hostile_inputs_do_not_panic() {
    let bodies: [&[u8]; 7] = [
        b"",
        b"\xff\xfe\x00",
        b"payload=%ZZ&=&&==",
        b"payload=%7B%22type%22%3A1%7D",
        b"{\"webhookTimestamp\":1e308,\"type\":[],\"event\":{\"channel\":{}}}",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        b"{\"url\":\"/c/\",\"action\":\"x\",\"data\":{\"object\":{\"id\":null}}}",
    ];
    let values = [
        "",
        " ",
        "sha256=",
        "v0=",
        "v1,",
        "t=,v1=",
        "t=9223372036854775807,v1=zz",
        "-9223372036854775808",
        "Bearer",
        "v1,!!! v1a,x",
        "é",
    ];
    let names = [
        "X-Hub-Signature-256",
        "X-Hub-Signature",
        "X-Gitlab-Token",
        "X-Slack-Signature",
        "X-Slack-Request-Timestamp",
        "Sentry-Hook-Signature",
        "Linear-Signature",
        "Linear-Timestamp",
        "Stripe-Signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "X-Webhook-Token",
        "Authorization",
        "X-Signature",
    ];
    let secrets = [
        Secrets {
            current: "",
            previous: Some(""),
        },
        Secrets {
            current: "s",
            previous: None,
        },
    ];
    let custom = ProviderOptions {
        tolerance_secs: Some(i64::MIN),
        custom: Some(super::CustomOptions {
            prefix: "ü".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    for provider in Provider::ALL {
        for value in values {
            let mut headers = HeaderMap::new();
            for name in names {
                let v = HeaderValue::from_bytes(value.as_bytes()).expect("value");
                headers.append(HeaderName::from_bytes(name.as_bytes()).expect("name"), v);
            }
            for body in bodies {
                for now_ms in [i64::MIN, 0, i64::MAX] {
                    for options in [&ProviderOptions::default(), &custom] {
                        for s in secrets {
                            let req = Request {
                                headers: &headers,
                                body,
                                query: Some("token=%"),
                                now_ms,
                            };
                            assert!(verify(provider, s, options, &req).is_err());
                        }
                        if let Ok(p) = parse_payload(provider, body) {
                            let _ = describe(provider, options, &headers, &p);
                        }
                    }
                }
            }
        }
    }
}
