//! Linear: the receive path's verify + describe step (`Linear-Signature`, the body's
//! `webhookTimestamp`, `Linear-Delivery`).

use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use super::common::{
    check_hmac, decode_hex, delivery_header, described, detail, dotted, header, raw_at,
    secret_bytes, source, str_at, within,
};
use super::{Described, KeyUsed, Request, Secrets, SourceRef, VerifyError};

const SIGNATURE: &str = "Linear-Signature";
/// The SDK's window; third-party guides say five minutes, the code says 60 s.
const WINDOW_MS: i64 = 60_000;

/// Bare hex HMAC of the body (a `sha256=` prefix fails, as the SDK compares the whole
/// header), then the replay window on `webhookTimestamp` (ms, inside the signed body). The
/// `Linear-Timestamp` header is not signed: a body without the field is refused, as the SDK
/// refuses it, since with a fresh header a captured body could be replayed forever (Linear
/// always puts the field in the body).
pub(super) fn verify(
    secrets: Secrets<'_>,
    req: &Request<'_>,
    tolerance: Option<i64>,
) -> Result<KeyUsed, VerifyError> {
    let value = header(req.headers, SIGNATURE).ok_or(VerifyError::MissingHeader(SIGNATURE))?;
    let sig = decode_hex(value)?;
    let used = secrets.try_each(|secret| check_hmac(secret_bytes(secret)?, &[req.body], &sig))?;
    let ts = match body_timestamp(req.body) {
        Ok(Some(ts)) => ts,
        Err(()) => {
            return Err(VerifyError::Malformed(
                "webhookTimestamp in the body is not a number of milliseconds",
            ));
        }
        Ok(None) => {
            return Err(VerifyError::MissingField(
                "webhookTimestamp in the signed body (the Linear-Timestamp header is not signed, so it is not trusted)",
            ));
        }
    };
    let window = tolerance.map_or(WINDOW_MS, |secs| secs.saturating_mul(1000));
    if !within(req.now_ms, ts, window) {
        return Err(VerifyError::StaleTimestamp);
    }
    Ok(used)
}

/// Reads only `webhookTimestamp`: `None` when the body has none, an error when it has one that
/// is not a number of milliseconds (so the refusal names it, not the header fallback).
fn body_timestamp(body: &[u8]) -> Result<Option<i64>, ()> {
    // Only an object carries the field (serde would fill a struct from an array by position).
    #[derive(Deserialize)]
    struct Stamp {
        #[serde(rename = "webhookTimestamp")]
        ts: Option<Value>,
    }
    let Ok(value) = serde_json::from_slice::<Value>(&crate::lone_surrogates::mended(body)) else {
        return Ok(None);
    };
    if !value.is_object() {
        return Ok(None);
    }
    let Some(ts) = serde_json::from_value::<Stamp>(value)
        .ok()
        .and_then(|s| s.ts)
    else {
        return Ok(None);
    };
    let ms = match ts {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    ms.map(Some).ok_or(())
}

/// `Issue.create`, `Comment.update`, ...: the SDK dispatches on `type`, so it leads.
pub(super) fn describe(headers: &HeaderMap, payload: &Value) -> Described {
    let kind = str_at(payload, "/type");
    let action = str_at(payload, "/action");
    let delivery = delivery_header(headers, "Linear-Delivery");
    let src = source_of(kind.as_deref().unwrap_or_default(), payload);
    described(dotted(kind, action), delivery, src)
}

/// Issues are keyed by their identifier (`ENG-123`), which is what people and the API use;
/// comments are filed under their issue so a thread of comments shares one key.
fn source_of(kind: &str, p: &Value) -> Option<SourceRef> {
    let (key, issue_id, comment_id, thread_id) = match kind {
        "Issue" => {
            let key = str_at(p, "/data/identifier").or_else(|| str_at(p, "/data/id"))?;
            (key, raw_at(p, "/data/id"), None, None)
        }
        "Comment" => {
            let issue_id = raw_at(p, "/data/issueId").or_else(|| raw_at(p, "/data/issue/id"));
            let key = str_at(p, "/data/issue/identifier")
                .or_else(|| str_at(p, "/data/issueId"))
                .or_else(|| str_at(p, "/data/issue/id"))?;
            // Linear threads are one deep: a reply's thread is its parent's.
            let thread = raw_at(p, "/data/parentId")
                .filter(|v| v.is_string())
                .or_else(|| raw_at(p, "/data/id"));
            (key, issue_id, raw_at(p, "/data/id"), thread)
        }
        _ => return None,
    };
    let d = detail([
        ("issue_id", issue_id),
        (
            "identifier",
            raw_at(p, "/data/identifier").or_else(|| raw_at(p, "/data/issue/identifier")),
        ),
        ("comment_id", comment_id),
        ("thread_id", thread_id),
        ("url", raw_at(p, "/url")),
    ]);
    Some(source("linear.issue", key, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Secrets;
    use crate::providers::common::test_support::{headers, hex_hmac, only, req};
    use serde_json::json;

    const SECRET: &str = "lin_wh_secret";
    const NOW_MS: i64 = 1_763_900_000_000;

    fn body(ts_ms: i64) -> Vec<u8> {
        format!(r#"{{"type":"Issue","action":"create","webhookTimestamp":{ts_ms}}}"#).into_bytes()
    }

    #[test]
    fn verify_table() {
        let fresh = body(NOW_MS - 1_000);
        let stale = body(NOW_MS - 61_000);
        let good = hex_hmac(SECRET, &[&fresh]);
        let old = hex_hmac("old", &[&fresh]);
        let stale_sig = hex_hmac(SECRET, &[&stale]);
        let prefixed = format!("sha256={good}");
        let rotating = Secrets {
            current: SECRET,
            previous: Some("old"),
        };
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            &'a [u8],
            Option<i64>,
            Secrets<'a>,
            Result<KeyUsed, VerifyError>,
        );
        let cases: Vec<Case> = vec![
            (
                "valid",
                Some(&good),
                &fresh,
                None,
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "tampered",
                Some(&good),
                &stale,
                None,
                only(SECRET),
                Err(VerifyError::BadSignature),
            ),
            (
                "wrong secret",
                Some(&good),
                &fresh,
                None,
                only("nope"),
                Err(VerifyError::BadSignature),
            ),
            (
                "missing",
                None,
                &fresh,
                None,
                only(SECRET),
                Err(VerifyError::MissingHeader(SIGNATURE)),
            ),
            (
                "stale",
                Some(&stale_sig),
                &stale,
                None,
                only(SECRET),
                Err(VerifyError::StaleTimestamp),
            ),
            (
                "stale but tolerated",
                Some(&stale_sig),
                &stale,
                Some(120),
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "prefixed",
                Some(&prefixed),
                &fresh,
                None,
                only(SECRET),
                Err(VerifyError::Malformed("signature is not hex")),
            ),
            (
                "rotation",
                Some(&old),
                &fresh,
                None,
                rotating,
                Ok(KeyUsed::Previous),
            ),
        ];
        for (name, sig, body, tolerance, secrets, want) in cases {
            let h = headers(&sig.map(|s| vec![(SIGNATURE, s)]).unwrap_or_default());
            let r = crate::providers::Request {
                now_ms: NOW_MS,
                ..req(&h, body, 0)
            };
            assert_eq!(verify(secrets, &r, tolerance), want, "{name}");
        }
    }

    #[test]
    fn an_unsigned_timestamp_header_does_not_stand_in_for_the_signed_field() {
        const TIMESTAMP: &str = "Linear-Timestamp";
        // A captured body without `webhookTimestamp` must not be replayable with a fresh header.
        let no_ts = br#"{"type":"Issue","action":"create"}"#;
        let sig = hex_hmac(SECRET, &[no_ts]);
        let fresh = (NOW_MS - 5).to_string();
        for ts in [Some(fresh.as_str()), Some("1"), None] {
            let mut pairs = vec![(SIGNATURE, sig.as_str())];
            pairs.extend(ts.map(|t| (TIMESTAMP, t)));
            let h = headers(&pairs);
            let r = crate::providers::Request {
                now_ms: NOW_MS,
                ..req(&h, no_ts, 0)
            };
            let got = verify(only(SECRET), &r, None);
            assert!(
                matches!(got, Err(VerifyError::MissingField(f)) if f.starts_with("webhookTimestamp")),
                "{ts:?}: {got:?}"
            );
        }
    }

    #[test]
    fn window_edges_are_inclusive_both_ways() {
        let cases = [
            (NOW_MS - 60_000, Ok(KeyUsed::Current)),
            (NOW_MS + 60_000, Ok(KeyUsed::Current)),
            (NOW_MS - 60_001, Err(VerifyError::StaleTimestamp)),
            (NOW_MS + 60_001, Err(VerifyError::StaleTimestamp)),
        ];
        for (ts, want) in cases {
            let b = body(ts);
            let sig = hex_hmac(SECRET, &[&b]);
            let h = headers(&[(SIGNATURE, &sig)]);
            let r = crate::providers::Request {
                now_ms: NOW_MS,
                ..req(&h, &b, 0)
            };
            assert_eq!(verify(only(SECRET), &r, None), want, "{ts}");
        }
    }

    #[test]
    fn body_timestamp_shapes() {
        let ts = NOW_MS - 1_000;
        let text = format!(r#"{{"webhookTimestamp":"{ts}"}}"#);
        let float = format!(r#"{{"webhookTimestamp":{ts}.0}}"#);
        assert_eq!(body_timestamp(text.as_bytes()), Ok(Some(ts)));
        assert_eq!(body_timestamp(float.as_bytes()), Ok(Some(ts)));
        assert_eq!(body_timestamp(&body(ts)), Ok(Some(ts)));
        assert_eq!(body_timestamp(br#"{"webhookTimestamp":true}"#), Err(()));
        assert_eq!(body_timestamp(br#"{"webhookTimestamp":"abc"}"#), Err(()));
        assert_eq!(body_timestamp(br#"{"webhookTimestamp":null}"#), Ok(None));
        assert_eq!(body_timestamp(br#"{"type":"Issue"}"#), Ok(None));
        assert_eq!(body_timestamp(br#"[1]"#), Ok(None));
        assert_eq!(body_timestamp(b"not json"), Ok(None));
        // A timestamp in the body that is not one is named, not blamed on the header.
        let bad = br#"{"webhookTimestamp":"abc"}"#;
        let sig = hex_hmac(SECRET, &[&bad[..]]);
        let h = headers(&[(SIGNATURE, &sig)]);
        let r = crate::providers::Request {
            now_ms: NOW_MS,
            ..req(&h, bad, 0)
        };
        assert!(matches!(
            verify(only(SECRET), &r, None),
            Err(VerifyError::Malformed(m)) if m.contains("webhookTimestamp")
        ));
        // A string timestamp in the body is honoured, not replaced by the header.
        let sig = hex_hmac(SECRET, &[text.as_bytes()]);
        let h = headers(&[(SIGNATURE, &sig)]);
        let r = crate::providers::Request {
            now_ms: NOW_MS,
            ..req(&h, text.as_bytes(), 0)
        };
        assert_eq!(verify(only(SECRET), &r, None), Ok(KeyUsed::Current));
    }

    #[test]
    fn describe_table() {
        let cases = [
            (
                json!({"type": "Issue", "action": "create", "data": {"id": "u1", "identifier": "ENG-1"}}),
                "Issue.create",
                Some("ENG-1"),
            ),
            (
                json!({"type": "Issue", "action": "remove", "data": {"id": "u1"}}),
                "Issue.remove",
                Some("u1"),
            ),
            (
                json!({"type": "Comment", "action": "create", "data": {"id": "c1", "issueId": "u2", "issue": {"id": "u2", "identifier": "ENG-2"}}}),
                "Comment.create",
                Some("ENG-2"),
            ),
            (
                json!({"type": "Comment", "action": "update", "data": {"id": "c1", "issueId": "u2"}}),
                "Comment.update",
                Some("u2"),
            ),
            (
                json!({"type": "Project", "action": "create", "data": {"id": "p1"}}),
                "Project.create",
                None,
            ),
        ];
        for (payload, want_type, want_key) in cases {
            let d = describe(&headers(&[("Linear-Delivery", "del-1")]), &payload);
            assert_eq!(d.event_type, want_type);
            assert_eq!(d.delivery_id.as_deref(), Some("del-1"));
            assert_eq!(
                d.source.as_ref().map(|s| s.key.as_str()),
                want_key,
                "{want_type}"
            );
        }
        let comment =
            json!({"type": "Comment", "action": "create", "data": {"id": "c1", "issueId": "u2"}});
        let d = describe(&headers(&[]), &comment).source.expect("source");
        assert_eq!(d.kind, "linear.issue");
        assert_eq!(
            Some(d.detail),
            json!({"issue_id": "u2", "comment_id": "c1", "thread_id": "c1"})
                .as_object()
                .cloned()
        );
        // A reply's thread is its parent's: Linear nests one deep.
        let reply = json!({"type": "Comment", "action": "create",
                           "data": {"id": "c3", "issueId": "u2", "parentId": "c1"}});
        let d = describe(&headers(&[]), &reply).source.expect("source");
        assert_eq!(d.detail["comment_id"], "c3");
        assert_eq!(d.detail["thread_id"], "c1");
    }
}
