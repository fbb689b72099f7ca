//! Sentry integration platform: the receive path's verify + describe step
//! (`Sentry-Hook-Signature`, `Sentry-Hook-Resource`, `Request-ID`).

use axum::http::HeaderMap;
use serde_json::Value;

use super::common::{
    check_hmac, decode_hex, described, detail, dotted, header, raw_at, secret_bytes, source, str_at,
};
use super::{Described, KeyUsed, Request, Secrets, SourceRef, VerifyError};

const SIGNATURE: &str = "Sentry-Hook-Signature";

/// Bare hex HMAC of the raw body with the client secret. `Sentry-Hook-Timestamp` is not
/// signed (anyone could change it), so it is not checked; dedup on `Request-ID` is all there is.
pub(super) fn verify(secrets: Secrets<'_>, req: &Request<'_>) -> Result<KeyUsed, VerifyError> {
    let value = header(req.headers, SIGNATURE).ok_or(VerifyError::MissingHeader(SIGNATURE))?;
    let sig = decode_hex(value)?;
    secrets.try_each(|secret| check_hmac(secret_bytes(secret)?, &[req.body], &sig))
}

/// `issue.created`, `event_alert.triggered`, ...: the resource header plus the body's action,
/// as Sentry itself names its sends.
pub(super) fn describe(headers: &HeaderMap, payload: &Value) -> Described {
    let resource = header(headers, "Sentry-Hook-Resource").map(str::to_owned);
    let action = str_at(payload, "/action");
    let delivery = header(headers, "Request-ID").map(str::to_owned);
    let src = resource.as_deref().and_then(|r| source_of(r, payload));
    described(dotted(resource, action), delivery, src)
}

/// Each resource keeps its issue id in a different place; metric alerts have no issue and
/// are keyed by the alert.
fn source_of(resource: &str, p: &Value) -> Option<SourceRef> {
    let (id_path, project) = match resource {
        "issue" => ("/data/issue/id", raw_at(p, "/data/issue/project/slug")),
        "event_alert" => ("/data/event/issue_id", raw_at(p, "/data/event/project")),
        "error" => ("/data/error/issue_id", raw_at(p, "/data/error/project")),
        "comment" => ("/data/issue_id", raw_at(p, "/data/project_slug")),
        "metric_alert" => {
            let id = str_at(p, "/data/metric_alert/id")?;
            let d = detail([("metric_alert_id", Some(Value::String(id.clone())))]);
            return Some(source("sentry.metric_alert", id, d));
        }
        _ => return None,
    };
    let id = str_at(p, id_path)?;
    let d = detail([
        ("issue_id", Some(Value::String(id.clone()))),
        ("short_id", raw_at(p, "/data/issue/shortId")),
        ("project", project),
    ]);
    Some(source("sentry.issue", id, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::common::test_support::{headers, hex_hmac, only, req, rotating};
    use serde_json::json;

    const SECRET: &str = "sentry-client-secret";
    const BODY: &[u8] = br#"{"action": "created"}"#;

    #[test]
    fn verify_table() {
        let good = hex_hmac(SECRET, &[BODY]);
        let old = hex_hmac("old", &[BODY]);
        let prefixed = format!("sha256={good}");
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            &'a [u8],
            Secrets<'a>,
            Result<KeyUsed, VerifyError>,
        );
        let cases: Vec<Case> = vec![
            (
                "valid",
                Some(&good),
                BODY,
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "tampered",
                Some(&good),
                br#"{"action":"created"}"#,
                only(SECRET),
                Err(VerifyError::BadSignature),
            ),
            (
                "wrong secret",
                Some(&good),
                BODY,
                only("nope"),
                Err(VerifyError::BadSignature),
            ),
            (
                "missing",
                None,
                BODY,
                only(SECRET),
                Err(VerifyError::MissingHeader(SIGNATURE)),
            ),
            (
                "prefixed",
                Some(&prefixed),
                BODY,
                only(SECRET),
                Err(VerifyError::Malformed("signature is not hex")),
            ),
            (
                "rotation",
                Some(&old),
                BODY,
                rotating(SECRET, "old"),
                Ok(KeyUsed::Previous),
            ),
        ];
        for (name, sig, body, secrets, want) in cases {
            let mut pairs = vec![("Sentry-Hook-Timestamp", "1")];
            pairs.extend(sig.map(|s| (SIGNATURE, s)));
            let h = headers(&pairs);
            assert_eq!(
                verify(secrets, &req(&h, body, 1_900_000_000)),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn describe_table() {
        let cases = [
            (
                "issue",
                json!({"action": "created", "data": {"issue": {"id": "11", "shortId": "FE-2", "project": {"slug": "fe"}}}}),
                "issue.created",
                Some(("sentry.issue", "11")),
            ),
            (
                "event_alert",
                json!({"action": "triggered", "data": {"event": {"issue_id": "12"}}}),
                "event_alert.triggered",
                Some(("sentry.issue", "12")),
            ),
            (
                "error",
                json!({"action": "created", "data": {"error": {"issue_id": 13}}}),
                "error.created",
                Some(("sentry.issue", "13")),
            ),
            (
                "comment",
                json!({"action": "created", "data": {"issue_id": 14, "project_slug": "fe"}}),
                "comment.created",
                Some(("sentry.issue", "14")),
            ),
            (
                "metric_alert",
                json!({"action": "critical", "data": {"metric_alert": {"id": "15"}}}),
                "metric_alert.critical",
                Some(("sentry.metric_alert", "15")),
            ),
            (
                "installation",
                json!({"action": "created", "data": {"installation": {}}}),
                "installation.created",
                None,
            ),
        ];
        for (resource, payload, want_type, want_src) in cases {
            let h = headers(&[("Sentry-Hook-Resource", resource), ("Request-ID", "r-1")]);
            let d = describe(&h, &payload);
            assert_eq!(d.event_type, want_type);
            assert_eq!(d.delivery_id.as_deref(), Some("r-1"));
            let got = d.source.as_ref().map(|s| (s.kind.as_str(), s.key.as_str()));
            assert_eq!(got, want_src, "{resource}");
        }
        let h = headers(&[("Sentry-Hook-Resource", "issue")]);
        let d = describe(
            &h,
            &json!({"action": "resolved", "data": {"issue": {"id": "11", "shortId": "FE-2", "project": {"slug": "fe"}}}}),
        );
        let want = json!({"issue_id": "11", "short_id": "FE-2", "project": "fe"});
        assert_eq!(d.source.map(|s| s.detail), want.as_object().cloned());
    }
}
