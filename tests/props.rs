//! Property tests of the pure first steps of the receive path (issue 7, "fuzz the provider
//! parsers and verifiers"): whatever a hostile sender puts in the headers, body and query, and
//! whatever a user saves as a trigger, conditions or template, nothing panics; and a signature
//! made by `sign::sign` verifies until any single byte of what it covers changes.
//!
//! Runs 256 cases per property by default; `PROPTEST_CASES=10000 cargo test --test props`
//! fuzzes longer.

use std::str::FromStr;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};
use webhook_mcp::engine::conditions::Conditions;
use webhook_mcp::engine::template;
use webhook_mcp::engine::trigger::Trigger;
use webhook_mcp::providers::custom::CustomOptions;
use webhook_mcp::providers::{
    KeyUsed, Provider, ProviderOptions, Request, Secrets, VerifyError, describe, parse_payload,
    samples, sign, verify,
};

/// A fixed clock (2025-11-23) for the signed round trips.
const NOW_MS: i64 = 1_763_900_000_123;

/// Every header a provider reads, so random values land where the verifiers look.
const KNOWN_HEADERS: &[&str] = &[
    "X-Hub-Signature-256",
    "X-Hub-Signature",
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-Gitlab-Token",
    "X-Gitlab-Event",
    "Idempotency-Key",
    "X-Slack-Request-Timestamp",
    "X-Slack-Signature",
    "X-Atlassian-Webhook-Identifier",
    "Sentry-Hook-Resource",
    "Sentry-Hook-Timestamp",
    "Sentry-Hook-Signature",
    "Request-ID",
    "Linear-Signature",
    "Linear-Timestamp",
    "Linear-Delivery",
    "Linear-Event",
    "Stripe-Signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "X-Webhook-Token",
    "Authorization",
    "X-Signature",
    "X-Sig",
    "X-Request-Id",
    "X-Delivery-Id",
    "X-Event",
    "Content-Type",
];

/// Object keys the describers and conditions look up, so random JSON reaches their branches.
const KNOWN_KEYS: &[&str] = &[
    "action",
    "challenge",
    "channel",
    "channel_id",
    "channel_type",
    "chat_id",
    "command",
    "comment",
    "container",
    "data",
    "error",
    "event",
    "event_id",
    "event_type",
    "full_name",
    "id",
    "identifier",
    "iid",
    "issue",
    "issueId",
    "issue_id",
    "item",
    "key",
    "label",
    "labels",
    "login",
    "merge_request",
    "message",
    "message_ts",
    "meta",
    "metric_alert",
    "name",
    "number",
    "object",
    "object_attributes",
    "object_kind",
    "path_with_namespace",
    "payload",
    "project",
    "project_slug",
    "pull_request",
    "repository",
    "response_url",
    "sender",
    "shortId",
    "slug",
    "ssl_check",
    "subject",
    "text",
    "body",
    "thread_ts",
    "ts",
    "type",
    "url",
    "user",
    "user_id",
    "webhookEvent",
    "webhookTimestamp",
];

fn config() -> ProptestConfig {
    // Respect PROPTEST_CASES when set; otherwise a modest default that keeps the file fast.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        // Cases that cannot happen on the wire are skipped (`prop_assume!`), a few in ten.
        max_global_rejects: cases.saturating_mul(4),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Strategies

fn provider() -> impl Strategy<Value = Provider> {
    prop::sample::select(Provider::ALL.to_vec())
}

/// Text with the characters parsers trip on: separators, quotes, escapes, unicode, controls.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9_./:#-]{0,16}",
        1 => "[ -~]{0,24}",
        1 => ".{0,12}",
        1 => prop::sample::select(KNOWN_KEYS.to_vec()).prop_map(str::to_owned),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KNOWN_KEYS.to_vec()).prop_map(str::to_owned),
        1 => text(),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), -5i64..5].prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        text().prop_map(Value::from),
    ]
}

/// Any JSON value, at most 5 levels deep, biased towards the keys providers read.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Bodies: raw bytes, JSON, forms (with and without a JSON `payload`), Linear timestamps.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..256),
        3 => json_value().prop_map(|v| serde_json::to_vec(&v).expect("json")),
        1 => json_value().prop_map(|v| {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            ser.append_pair("payload", &v.to_string());
            ser.finish().into_bytes()
        }),
        1 => prop::collection::vec((text(), text()), 0..5).prop_map(|pairs| {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
                .into_bytes()
        }),
        1 => prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
                .map(Value::Number)),
            "-?[0-9]{0,25}".prop_map(Value::from),
        ]
        .prop_map(|ts| serde_json::to_vec(&json!({"webhookTimestamp": ts})).expect("json")),
        1 => "[ \t\r\n]{0,4}".prop_map(String::into_bytes),
        2 => escapes(),
    ]
}

/// Text dense in JSON escapes, whole and cut: backslashes, surrogate halves, pairs.
fn escapes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop::sample::select(vec![
        "\\", "\\u", "\\ud83d", "\\ude00", "\\\\", "\\u00e9", "\\ud8", "a", "\"", "{", "}", ":",
        "\\n",
    ]);
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat().into_bytes())
}

/// Header values shaped like the real ones (prefixes, hex, base64, lists, timestamps) and
/// arbitrary bytes.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => "(sha256=|SHA256=|v0=|v1,|v1=|Bearer |bearer |t=)?[0-9a-fA-F]{0,70}",
        2 => "t=-?[0-9]{0,21}(,[ ]?v[01]=[0-9a-f]{0,66}){0,3}",
        2 => "(v1a?,[A-Za-z0-9+/=_-]{0,48} ?){0,3}",
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => "-?[0-9]{0,25}",
        1 => text(),
    ]
    .prop_map(String::into_bytes)
    .boxed()
    .prop_union(prop::collection::vec(any::<u8>(), 0..80).boxed())
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KNOWN_HEADERS.to_vec()).prop_map(str::to_owned),
        1 => "[A-Za-z][A-Za-z0-9-]{0,20}",
    ]
}

/// Pairs that `http` accepts (invalid names or values cannot reach the receiver).
fn headers() -> impl Strategy<Value = HeaderMap> {
    prop::collection::vec((header_name(), header_value()), 0..8).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(&value),
            ) {
                map.append(n, v);
            }
        }
        map
    })
}

fn query() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        "token=[ -~]{0,40}",
        "(a=1&)?token=[A-Za-z0-9%+_-]{0,30}(&token=x)?",
        ".{0,40}",
    ])
}

fn secret() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[ -~]{1,40}",
        "whsec_[A-Za-z0-9+/=]{0,44}",
        ".{1,20}",
    ]
}

/// Custom-hook options as saved (validated or not: verify must cope with both).
fn custom_options() -> impl Strategy<Value = Option<CustomOptions>> {
    let pointer = prop::option::of(prop_oneof![
        "/[a-z_]{0,8}(/[a-z0-9_]{0,6}){0,2}",
        "[a-z_]{1,8}(\\.[a-z0-9_]{1,6}){0,2}",
        text(),
    ]);
    prop::option::of(
        (
            prop::sample::select(vec!["hmac", "token"]),
            prop::option::of(header_name()),
            prop_oneof!["", "sha256=", "Bearer ", "[ -~]{0,8}", ".{0,4}"],
            prop::sample::select(vec!["hex", "base64"]),
            pointer.clone(),
            prop::option::of(header_name()),
            pointer.clone(),
            prop::option::of(header_name()),
            pointer,
        )
            .prop_filter_map(
                "deserialises",
                |(mode, header, prefix, encoding, etp, eth, dip, dih, sp)| {
                    serde_json::from_value(json!({
                        "mode": mode, "header": header, "prefix": prefix, "encoding": encoding,
                        "event_type_pointer": etp, "event_type_header": eth,
                        "delivery_id_pointer": dip, "delivery_id_header": dih,
                        "source_pointer": sp,
                    }))
                    .ok()
                },
            ),
    )
}

fn options() -> impl Strategy<Value = ProviderOptions> {
    (
        prop::option::of(prop_oneof![
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
            -10i64..1000
        ]),
        custom_options(),
    )
        .prop_map(|(tolerance_secs, custom)| ProviderOptions {
            tolerance_secs,
            custom,
            ..ProviderOptions::default()
        })
}

fn now_ms() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => Just(NOW_MS),
        1 => any::<i64>(),
        1 => prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), Just(-1)],
    ]
}

// ---------------------------------------------------------------------------------------
// Helpers

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        let name = HeaderName::from_bytes(k.as_bytes()).expect("sample header name");
        map.append(name, HeaderValue::from_str(v).expect("sample header value"));
    }
    map
}

fn only(secret: &str) -> Secrets<'_> {
    Secrets {
        current: secret,
        previous: None,
    }
}

/// The custom-hook configurations a signed sample is tried with.
fn custom_configs() -> Vec<Option<CustomOptions>> {
    [
        None,
        Some(json!({})),
        Some(
            json!({"mode": "hmac", "header": "X-Hub-Sig", "prefix": "sha256=", "encoding": "base64"}),
        ),
        Some(json!({"mode": "hmac", "header": "X-Sig", "prefix": "v1=", "encoding": "hex"})),
        Some(json!({"mode": "token"})),
        Some(json!({"mode": "token", "header": "Authorization", "prefix": "Bearer "})),
    ]
    .into_iter()
    .map(|v| v.map(|v| serde_json::from_value(v).expect("custom options")))
    .collect()
}

/// Where a scheme carries its proof, and how its encoding may vary without changing meaning.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Proof {
    /// `[prefix]<hex HMAC>` (hex decodes in either case).
    Hex,
    /// Standard Webhooks `v1,<base64>` (padding optional).
    StandardBase64,
    /// A custom hook's `<prefix><base64>` (prefix in any case; padding optional; URL-safe
    /// alphabet accepted).
    CustomBase64 { prefix_len: usize },
    /// The secret itself (a custom prefix matches in any case).
    Token { prefix_len: usize },
    /// Open WebUI: `?token=` in the query.
    Query,
}

/// The header holding the proof, and its kind.
fn proof(provider: Provider, options: &ProviderOptions) -> (Option<String>, Proof) {
    let named = |n: &str| Some(n.to_owned());
    match provider {
        Provider::GitHub => (named("X-Hub-Signature-256"), Proof::Hex),
        Provider::GitLab => (named("X-Gitlab-Token"), Proof::Token { prefix_len: 0 }),
        Provider::Slack => (named("X-Slack-Signature"), Proof::Hex),
        Provider::Jira => (named("X-Hub-Signature"), Proof::Hex),
        Provider::Sentry => (named("Sentry-Hook-Signature"), Proof::Hex),
        Provider::Linear => (named("Linear-Signature"), Proof::Hex),
        Provider::Stripe => (named("Stripe-Signature"), Proof::Hex),
        Provider::StandardWebhooks => (named("webhook-signature"), Proof::StandardBase64),
        Provider::OpenWebUi => (None, Proof::Query),
        Provider::Custom => {
            let opts = options.custom.clone().unwrap_or_default();
            let token = serde_json::to_value(&opts).expect("options")["mode"] == "token";
            let base64 = serde_json::to_value(&opts).expect("options")["encoding"] == "base64";
            let prefix_len = opts.prefix.len();
            let default = if token {
                "X-Webhook-Token"
            } else {
                "X-Signature"
            };
            let header = opts.header.clone().unwrap_or_else(|| default.to_owned());
            let kind = match (token, base64) {
                (true, _) => Proof::Token { prefix_len },
                (false, true) => Proof::CustomBase64 { prefix_len },
                (false, false) => Proof::Hex,
            };
            (Some(header), kind)
        }
    }
}

/// Whether the scheme's proof covers the body (token schemes send the secret itself).
fn signs_body(kind: Proof) -> bool {
    !matches!(kind, Proof::Token { .. } | Proof::Query)
}

/// Whether `mutated` is only another spelling of `original` that the scheme documents as
/// equal (hex case, base64 padding and alphabet, prefix case, surrounding whitespace, which
/// the receiver trims).
fn same_meaning(kind: Proof, original: &str, mutated: &[u8]) -> bool {
    let Ok(mutated) = std::str::from_utf8(mutated) else {
        return false; // not text: the header reads as absent
    };
    let (a, b) = (original.trim(), mutated.trim());
    let lower_prefix = |s: &str, n: usize| -> Option<String> {
        let head = s.get(..n)?;
        let rest = s.get(n..)?;
        Some(format!("{}{}", head.to_ascii_lowercase(), rest.trim()))
    };
    match kind {
        Proof::Hex => a.eq_ignore_ascii_case(b),
        Proof::StandardBase64 => a.trim_end_matches('=') == b.trim_end_matches('='),
        Proof::CustomBase64 { prefix_len } => {
            let norm = |s: &str| {
                lower_prefix(s, prefix_len)
                    .map(|s| s.trim_end_matches('=').replace('-', "+").replace('_', "/"))
            };
            norm(a).is_some() && norm(a) == norm(b)
        }
        Proof::Token { prefix_len } => {
            lower_prefix(a, prefix_len).is_some()
                && lower_prefix(a, prefix_len) == lower_prefix(b, prefix_len)
        }
        Proof::Query => a == b,
    }
}

/// A realistic signed delivery of `provider`: (secret, options, headers, body, query).
struct Signed {
    secret: String,
    options: ProviderOptions,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    query: Option<String>,
}

fn signed_sample(provider: Provider, type_pick: Index, custom_pick: Index) -> Signed {
    let types = samples::builtin_event_types(provider);
    let event_type = types[type_pick.index(types.len())];
    let customs = custom_configs();
    let options = ProviderOptions {
        custom: match provider {
            Provider::Custom => customs[custom_pick.index(customs.len())].clone(),
            _ => None,
        },
        ..ProviderOptions::default()
    };
    let sample = samples::sample(provider, Some(event_type), None, NOW_MS).expect("sample");
    let secret = provider.generate_secret();
    let signed = sign::sign(
        provider,
        &secret,
        &options,
        &sample.body,
        &sample.headers,
        NOW_MS,
    )
    .expect("sign");
    Signed {
        secret,
        options,
        headers: signed.headers,
        body: sample.body,
        query: signed.query,
    }
}

fn check(provider: Provider, s: &Signed, secrets: Secrets<'_>) -> Result<KeyUsed, String> {
    check_parts(
        provider,
        secrets,
        &s.options,
        &header_map(&s.headers),
        &s.body,
        s.query.as_deref(),
    )
}

fn check_parts(
    provider: Provider,
    secrets: Secrets<'_>,
    options: &ProviderOptions,
    headers: &HeaderMap,
    body: &[u8],
    query: Option<&str>,
) -> Result<KeyUsed, String> {
    let req = Request {
        headers,
        body,
        query,
        now_ms: NOW_MS,
    };
    verify(provider, secrets, options, &req).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------
// Providers: nothing panics on hostile input

proptest! {
    #![proptest_config(config())]

    #[test]
    fn verify_never_panics(
        provider in provider(),
        options in options(),
        headers in headers(),
        body in body(),
        query in query(),
        current in secret(),
        previous in prop::option::of(secret()),
        now_ms in now_ms(),
    ) {
        let req = Request { headers: &headers, body: &body, query: query.as_deref(), now_ms };
        let secrets = Secrets { current: &current, previous: previous.as_deref() };
        let _ = verify(provider, secrets, &options, &req);
        let _ = req.now_secs();
    }

    #[test]
    fn mending_surrogates_never_panics_and_changes_no_document_serde_reads(body in body()) {
        let mended = webhook_mcp::lone_surrogates::mended(&body);
        if serde_json::from_slice::<Value>(&body).is_ok() {
            prop_assert_eq!(&*mended, &body[..]);
        }
    }

    #[test]
    fn a_cut_text_fits_its_limit_whatever_fences_it_holds(
        pieces in prop::collection::vec(
            prop::sample::select(vec!["```", "````", "~~~", "\n", "    ", "x", "é", "😀", "```rust"]),
            0..400,
        ),
        max in 60usize..300,
    ) {
        use webhook_mcp::engine::plan::{Limit, fit};
        let limit = Limit::chars(max, "a place");
        let text = pieces.concat();
        let cut = fit(text.clone(), Some(limit));
        prop_assert!(limit.len(&cut) <= max, "{} > {max}: {cut:?}", limit.len(&cut));
        if limit.len(&text) <= max {
            prop_assert_eq!(cut, text);
        }
    }

    #[test]
    fn parse_payload_and_describe_never_panic_on_bodies(
        provider in provider(),
        options in options(),
        headers in headers(),
        body in body(),
    ) {
        if let Ok(payload) = parse_payload(provider, &body) {
            let _ = describe(provider, &options, &headers, &payload);
        }
    }

    #[test]
    fn describe_never_panics_on_any_json(
        provider in provider(),
        options in options(),
        headers in headers(),
        payload in json_value(),
    ) {
        let d = describe(provider, &options, &headers, &payload);
        // What describe returns is stored and shown: it must serialise.
        prop_assert!(serde_json::to_string(&d).is_ok());
        // JSON sent as a body parses (every provider accepts a JSON body).
        let bytes = serde_json::to_vec(&payload).expect("json");
        prop_assert!(parse_payload(provider, &bytes).is_ok(), "{}", provider);
    }

    #[test]
    fn samples_never_panic_and_round_trip(
        provider in provider(),
        event_type in prop::option::of(prop_oneof![
            "[a-z_:/]{1,12}(\\.[a-z_]{1,10}){0,2}",
            ".{0,20}",
        ]),
        payload in prop::option::of(json_value()),
        now_ms in now_ms(),
    ) {
        let Ok(sample) = samples::sample(provider, event_type.as_deref(), payload.as_ref(), now_ms)
        else {
            return Ok(());
        };
        let options = ProviderOptions::default();
        let secret = provider.generate_secret();
        let signed = sign::sign(provider, &secret, &options, &sample.body, &sample.headers, now_ms)
            .expect("a generated secret always signs");
        // A payload that brings its own `webhookTimestamp` is checked against it by Linear.
        // Non-object payloads are covered by `linear_reads_the_timestamp_only_from_an_object`.
        let own_stamp = payload
            .as_ref()
            .is_some_and(|p| !p.is_object() || p.get("webhookTimestamp").is_some());
        if provider == Provider::Linear && own_stamp {
            return Ok(());
        }
        let headers = header_map(&signed.headers);
        let req = Request {
            headers: &headers,
            body: &sample.body,
            query: signed.query.as_deref(),
            now_ms,
        };
        prop_assert_eq!(
            verify(provider, only(&secret), &options, &req),
            Ok(KeyUsed::Current),
            "{} {:?}", provider, sample.event_type
        );
        if let Ok(payload) = parse_payload(provider, &sample.body) {
            let _ = describe(provider, &options, &headers, &payload);
        }
    }
}

/// A Linear delivery whose body is a JSON array (which `sample` sends as is) carries no
/// `webhookTimestamp`, and is refused for that (the unsigned `Linear-Timestamp` header that
/// `sign` sets is not trusted). Found by `samples_never_panic_and_round_trip`:
/// `linear::body_timestamp` deserialised the body into a struct, and serde fills a struct
/// from an array by position, so `[0]` read as `webhookTimestamp: 0`.
#[test]
fn linear_reads_the_timestamp_only_from_an_object() {
    let secret = Provider::Linear.generate_secret();
    let options = ProviderOptions::default();
    for payload in [json!([0]), json!([NOW_MS - 3_600_000, "x"]), json!(["1"])] {
        let sample =
            samples::sample(Provider::Linear, None, Some(&payload), NOW_MS).expect("sample");
        let signed = sign::sign(
            Provider::Linear,
            &secret,
            &options,
            &sample.body,
            &sample.headers,
            NOW_MS,
        )
        .expect("sign");
        let headers = header_map(&signed.headers);
        assert_eq!(
            check_parts(
                Provider::Linear,
                only(&secret),
                &options,
                &headers,
                &sample.body,
                None
            ),
            Err(VerifyError::MissingField(
                "webhookTimestamp in the signed body (the Linear-Timestamp header is not signed, so it is not trusted)"
            )
            .to_string()),
            "body {payload}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Providers: a signature holds exactly as long as nothing it covers changes

proptest! {
    #![proptest_config(config())]

    #[test]
    fn signed_samples_verify_with_current_and_previous_secret(
        provider in provider(),
        type_pick in any::<Index>(),
        custom_pick in any::<Index>(),
    ) {
        let s = signed_sample(provider, type_pick, custom_pick);
        prop_assert_eq!(check(provider, &s, only(&s.secret)), Ok(KeyUsed::Current));
        let other = provider.generate_secret();
        let rotating = Secrets { current: &other, previous: Some(&s.secret) };
        prop_assert_eq!(check(provider, &s, rotating), Ok(KeyUsed::Previous));
        let rotated = Secrets { current: &s.secret, previous: Some(&other) };
        prop_assert_eq!(check(provider, &s, rotated), Ok(KeyUsed::Current));
        prop_assert!(check(provider, &s, only(&other)).is_err(), "wrong secret verified");
    }

    #[test]
    fn flipping_any_body_byte_fails_verification(
        provider in prop::sample::select(
            Provider::ALL
                .into_iter()
                .filter(|p| !matches!(p, Provider::GitLab | Provider::OpenWebUi))
                .collect::<Vec<_>>()
        ),
        type_pick in any::<Index>(),
        custom_pick in any::<Index>(),
        at in any::<Index>(),
        xor in 1u8..=255,
    ) {
        let mut s = signed_sample(provider, type_pick, custom_pick);
        let (_, kind) = proof(provider, &s.options);
        // Token schemes (GitLab's secret token, Open WebUI's ?token=, custom token mode)
        // sign nothing: the body is not covered, by design.
        if !signs_body(kind) {
            return Ok(());
        }
        prop_assume!(!s.body.is_empty());
        let i = at.index(s.body.len());
        s.body[i] ^= xor;
        let got = check(provider, &s, only(&s.secret));
        prop_assert!(got.is_err(), "{provider}: body byte {i} changed and still {got:?}");
    }

    #[test]
    fn changing_any_byte_of_the_proof_fails_verification(
        provider in provider(),
        type_pick in any::<Index>(),
        custom_pick in any::<Index>(),
        at in any::<Index>(),
        replacement in any::<u8>(),
    ) {
        let mut s = signed_sample(provider, type_pick, custom_pick);
        let (name, kind) = proof(provider, &s.options);
        match name {
            Some(name) => {
                let slot = s
                    .headers
                    .iter()
                    .position(|(k, _)| k.eq_ignore_ascii_case(&name))
                    .expect("the proof header is sent");
                let original = s.headers[slot].1.clone();
                let mut bytes = original.clone().into_bytes();
                let i = at.index(bytes.len());
                prop_assume!(bytes[i] != replacement);
                bytes[i] = replacement;
                // A value `http` refuses can never arrive; another spelling of the same
                // proof is allowed to verify.
                prop_assume!(HeaderValue::from_bytes(&bytes).is_ok());
                prop_assume!(!same_meaning(kind, &original, &bytes));
                let mut headers = header_map(
                    &s.headers.iter().enumerate().filter(|(j, _)| *j != slot)
                        .map(|(_, h)| h.clone()).collect::<Vec<_>>(),
                );
                headers.append(
                    HeaderName::from_str(&name).expect("name"),
                    HeaderValue::from_bytes(&bytes).expect("checked"),
                );
                let got = check_parts(
                    provider, only(&s.secret), &s.options, &headers, &s.body, s.query.as_deref(),
                );
                prop_assert!(
                    got.is_err(),
                    "{provider}: {name} {original:?} -> {:?} still {got:?}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            None => {
                // The token rides in the query; keep it text (a URL's query is ASCII).
                let original = s.query.clone().expect("query");
                let mut bytes = original.clone().into_bytes();
                let i = at.index(bytes.len());
                let replacement = b' ' + replacement % 95;
                prop_assume!(bytes[i] != replacement);
                bytes[i] = replacement;
                s.query = Some(String::from_utf8(bytes).expect("ascii"));
                let got = check(provider, &s, only(&s.secret));
                prop_assert!(
                    got.is_err(),
                    "{provider}: query {original:?} -> {:?} still {got:?}", s.query
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Engine: triggers, conditions, templates

fn event_type() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_:*]{0,8}(\\.[a-z_*]{0,8}){0,3}",
        ".{0,24}",
        prop::sample::select(
            Provider::ALL
                .iter()
                .flat_map(|p| samples::builtin_event_types(*p).iter().copied())
                .collect::<Vec<_>>()
        )
        .prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn triggers_never_panic_and_star_matches_everything(
        pattern in prop_oneof![
            "[a-z_:*]{0,8}(\\.[a-z_*]{0,8}){0,4}",
            "[ \t.*a-z]{0,12}",
            ".{0,30}",
            "\\*{1,3}(\\.\\*{1,3}){0,2}",
        ],
        event in event_type(),
    ) {
        if let Ok(trigger) = Trigger::parse(&pattern) {
            let _ = trigger.matches(&event);
            // A glob matches its own text (each `*` can stand for itself), and a trigger
            // matches any event that has its segments as a prefix.
            prop_assert!(trigger.matches(trigger.as_str()), "{pattern:?}");
            let longer = format!("{}.{}", trigger.as_str(), "x");
            prop_assert!(trigger.matches(&longer), "{pattern:?} vs {longer:?}");
            // Without `*`, a match means "the same segments, then maybe more".
            if !trigger.as_str().contains('*') && trigger.matches(&event) {
                let t = trigger.as_str();
                prop_assert!(
                    event == t || event.starts_with(&format!("{t}.")),
                    "{t:?} matched {event:?}"
                );
            }
        }
        let star = Trigger::parse("*").expect("`*` is valid");
        prop_assert!(star.matches(&event));
    }
}

/// Conditions objects with the real keys, nested through `all`, `any` and `not`.
fn conditions_json() -> impl Strategy<Value = Value> {
    let strings = prop_oneof![
        text().prop_map(Value::from),
        prop::collection::vec(text(), 0..4).prop_map(|v| json!(v)),
    ];
    let regex = prop_oneof![
        "[a-z.*+?()|^$\\\\\\[\\]{}0-9,-]{0,16}",
        Just("(a+)+$".to_owned()),
        Just("[".to_owned()),
        Just("a{99999}".to_owned()),
    ];
    let field = prop_oneof![
        "[a-z_]{1,8}(\\.[a-z0-9_]{1,8}){0,3}",
        "/[a-z_]{0,8}(/[a-z0-9_~]{0,6}){0,3}",
        text(),
    ];
    let leaf = (
        prop::option::of(strings.clone()),
        prop::option::of(strings.clone()),
        prop::option::of(strings.clone()),
        prop::option::of(strings),
        prop::option::of(field),
        prop::option::of(json_leaf()),
        prop::option::of(regex),
        prop::option::of(any::<bool>()),
        prop::option::of(prop_oneof![any::<f64>().prop_map(Value::from), json_leaf()]),
        prop::option::of(prop::collection::vec(json_leaf(), 0..4)),
        prop::option::of(text()),
    )
        .prop_map(
            |(
                labels,
                sender,
                body_contains,
                channel,
                field,
                equals,
                regex,
                exists,
                gt,
                in_list,
                unknown,
            )| {
                let mut m = Map::new();
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        m.insert(k.to_owned(), v);
                    }
                };
                put("labels", labels);
                put("sender", sender);
                put("body_contains", body_contains);
                put("channel", channel);
                put("field", field.map(Value::from));
                put("equals", equals);
                put("regex", regex.map(Value::from));
                put("exists", exists.map(Value::from));
                put("gt", gt);
                put("in", in_list.map(Value::from));
                // Now and then a key that is not a condition (it must be refused, not ignored).
                if let Some(k) = unknown.filter(|k| k.len() % 7 == 0) {
                    m.insert(k, json!(1));
                }
                Value::Object(m)
            },
        );
    let any_json = json_value();
    prop_oneof![
        4 => leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"all": v})),
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"any": v})),
                inner.prop_map(|v| json!({"not": v})),
            ]
        }),
        1 => any_json,
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn conditions_compile_and_match_never_panic(
        conditions in conditions_json(),
        payload in json_value(),
    ) {
        if let Ok(compiled) = Conditions::compile(&conditions) {
            let _ = compiled.matches(&payload);
            let _ = compiled.is_empty();
        }
    }

    #[test]
    fn conditions_refuse_unknown_keys_and_accept_null_and_empty(
        key in "[a-z_]{1,12}",
        payload in json_value(),
    ) {
        let known = [
            "labels", "label", "body_contains", "channel", "sender", "author", "field", "equals",
            "not_equals", "in", "contains", "regex", "exists", "gt", "lt", "all", "any", "not",
        ];
        prop_assume!(!known.contains(&key.as_str()));
        let unknown = json!({ key.clone(): "x" });
        prop_assert!(Conditions::compile(&unknown).is_err(), "{key} accepted");
        for always in [Value::Null, json!({})] {
            let c = Conditions::compile(&always).expect("always");
            prop_assert!(c.matches(&payload));
        }
    }
}

/// Template text: jinja syntax pieces joined by spaces (so digits never run together into
/// huge loop bounds), or any text at all.
fn template_text() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        "{{-",
        "-}}",
        "{%-",
        "-%}",
        "if",
        "elif",
        "else",
        "endif",
        "for",
        "in",
        "endfor",
        "set",
        "=",
        "raw",
        "endraw",
        "macro",
        "endmacro",
        "call",
        "filter",
        "endfilter",
        "with",
        "endwith",
        "block",
        "endblock",
        "extends",
        "include",
        "import",
        "from",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ".",
        ":",
        "|",
        "~",
        "+",
        "-",
        "*",
        "/",
        "//",
        "%",
        "**",
        "==",
        "!=",
        "<",
        ">",
        "and",
        "or",
        "not",
        "is",
        "defined",
        "none",
        "true",
        "false",
        "'x'",
        "\"y\"",
        "0",
        "1",
        "2",
        "7",
        "-1",
        "issue",
        "issue.title",
        "payload",
        "event",
        "delivery",
        "webhook",
        "labels",
        "x",
        "loop",
        "loop.index",
        "range",
        "range(3)",
        "length",
        "upper",
        "lower",
        "join",
        "default",
        "tojson",
        "items",
        "map",
        "attribute",
        "replace",
        "trim",
        "first",
        "last",
        "sort",
        "unique",
        "safe",
        "escape",
        "indent",
        "\n",
        "😀",
        "\\",
    ]);
    prop_oneof![
        4 => prop::collection::vec(piece, 0..24).prop_map(|p| p.join(" ")),
        1 => ".{0,64}",
        1 => "[{}%#a-z .|()'\"]{0,48}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn templates_never_panic(source in template_text(), payload in json_value()) {
        let ctx = template::context(
            &std::sync::Arc::new(payload.clone()),
            json!({"id": "evt_1", "type": "issues.opened", "provider": "github"}),
            json!({"id": "gh", "name": "GitHub", "provider": "github"}),
        );
        let valid = template::validate(&source);
        let rendered = template::render(&source, &ctx);
        // What fails to parse when saved fails to render too (never renders as something).
        if valid.is_err() {
            prop_assert!(rendered.is_err(), "{source:?} invalid but rendered {rendered:?}");
        }
        if let Ok(out) = rendered {
            prop_assert!(out.len() <= template::MAX_OUTPUT_LEN);
        }
        // Escaped for Slack, the same template parses or fails alike.
        let slack = template::render_as(&source, &ctx, template::Escape::Slack);
        if valid.is_err() {
            prop_assert!(slack.is_err(), "{source:?} invalid but rendered {slack:?}");
        }
        if let Ok(out) = slack {
            prop_assert!(out.len() <= template::MAX_OUTPUT_LEN);
        }
    }
}

/// The deeply nested templates tried below, by name: each fits the saved-size limit.
fn deep_templates() -> Vec<(&'static str, String)> {
    let room = template::MAX_SOURCE_LEN - 16;
    vec![
        (
            "parentheses",
            format!(
                "{{{{ {}1{} }}}}",
                "(".repeat(room / 2),
                ")".repeat(room / 2)
            ),
        ),
        (
            "brackets",
            format!(
                "{{{{ {}1{} }}}}",
                "[".repeat(room / 2),
                "]".repeat(room / 2)
            ),
        ),
        ("if blocks", "{% if x %}".repeat(room / 10)),
        ("unary minus", format!("{{{{ {}1 }}}}", "-".repeat(room))),
        ("not", format!("{{{{ {}x }}}}", "not ".repeat(room / 4))),
        ("additions", format!("{{{{ 1{} }}}}", "+1".repeat(room / 2))),
        (
            "filters",
            format!("{{{{ x{} }}}}", "|upper".repeat(room / 6)),
        ),
        (
            "attributes",
            format!("{{{{ x{} }}}}", ".a".repeat(room / 2)),
        ),
        (
            "tests",
            format!("{{{{ x{} }}}}", " is defined".repeat(room / 11)),
        ),
    ]
}

const DEEP_CHILD: &str = "PROPS_DEEP_TEMPLATE";

/// Saving (`validate`) or rendering a deeply nested template that fits the size limit ends in
/// an error, not a stack overflow, on a thread with the 2 MiB stack tokio gives the workers
/// that run request handlers. A stack overflow aborts the whole process, so each template is
/// tried in a child process (this test binary, re-run with `PROPS_DEEP_TEMPLATE=<name>`).
#[test]
fn deeply_nested_templates_do_not_overflow_the_stack() {
    if let Ok(name) = std::env::var(DEEP_CHILD) {
        let (_, source) = deep_templates()
            .into_iter()
            .find(|(n, _)| *n == name)
            .expect("a known template");
        assert!(source.len() <= template::MAX_SOURCE_LEN);
        let worker = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                let _ = template::validate(&source);
                let _ = template::render(&source, &template::json_context(&json!({"x": 1})));
            })
            .expect("spawn");
        worker.join().expect("no panic");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let mut crashed = Vec::new();
    for (name, source) in deep_templates() {
        let out = std::process::Command::new(&exe)
            .args([
                "--exact",
                "deeply_nested_templates_do_not_overflow_the_stack",
                "--test-threads=1",
            ])
            .env(DEEP_CHILD, name)
            .output()
            .expect("run the child");
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let why = stderr
                .lines()
                .find(|l| l.contains("overflow") || l.contains("panicked"))
                .unwrap_or("(no message)")
                .trim()
                .to_owned();
            crashed.push(format!(
                "{name} ({} bytes): {} — {why}",
                source.len(),
                out.status
            ));
        }
    }
    assert!(
        crashed.is_empty(),
        "templates under MAX_SOURCE_LEN ({}) crash the process:\n  {}",
        template::MAX_SOURCE_LEN,
        crashed.join("\n  ")
    );
}
