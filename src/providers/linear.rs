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

/// Where a kind's payload names the issue it is about and the comment whose thread a
/// reply joins. Data change webhooks carry the changed model in `data`; the app webhooks
/// carry theirs under their own name (`agentSession`, `notification`) and an SLA event the
/// issue itself in `issueData`.
struct Shape {
    /// The issue object (`identifier`, `id`, `url`).
    issue: &'static str,
    /// The issue's id where it stands beside the object (`issueId`), as some events name
    /// their issue by it alone.
    issue_id: Option<&'static str>,
    /// Where the comment the event is about is named, first found first.
    comment: &'static [&'static str],
    /// Where the root of that comment's thread is named, when the comment is a reply.
    thread: &'static [&'static str],
}

/// The kinds that name an issue. Others (`Project`, `Cycle`, `Reaction`, ...) have no issue
/// to comment on, which is all a reply to Linear can be (`commentCreate` on an issue id).
fn shape(kind: &str) -> Option<Shape> {
    let (issue, issue_id) = match kind {
        "Issue" => ("/data", None),
        "IssueSLA" => ("/issueData", None),
        "Comment" | "Attachment" | "CustomerNeed" => ("/data/issue", Some("/data/issueId")),
        "AgentSessionEvent" => ("/agentSession/issue", Some("/agentSession/issueId")),
        "AppUserNotification" => ("/notification/issue", Some("/notification/issueId")),
        _ => return None,
    };
    let (comment, thread): (&[&str], &[&str]) = match kind {
        "Comment" => (&["/data/id"], &["/data/parentId"]),
        // A session lives in the thread of its root comment; a prompt in it names the
        // comment it came from on its activity.
        "AgentSessionEvent" => (
            &[
                "/agentActivity/sourceCommentId",
                "/agentSession/comment/id",
                "/agentSession/commentId",
            ],
            &["/agentSession/comment/id", "/agentSession/commentId"],
        ),
        "AppUserNotification" => (
            &["/notification/comment/id", "/notification/commentId"],
            &[
                "/notification/parentComment/id",
                "/notification/parentCommentId",
            ],
        ),
        _ => (&[], &[]),
    };
    Some(Shape {
        issue,
        issue_id,
        comment,
        thread,
    })
}

/// Whether events of a Linear kind (`Issue`, `Project`, ...) can name an issue to reply on.
pub(super) fn has_issue(kind: &str) -> bool {
    shape(kind).is_some()
}

/// Issues are keyed by their identifier (`ENG-123`), which is what people and the API use;
/// comments, and everything else about an issue, are filed under their issue so a thread of
/// comments shares one key.
fn source_of(kind: &str, p: &Value) -> Option<SourceRef> {
    let shape = shape(kind)?;
    let issue = |field: &str| format!("{}/{field}", shape.issue);
    let first = |paths: &[&str]| paths.iter().find_map(|path| raw_at(p, path));
    let side_id = shape.issue_id.and_then(|path| raw_at(p, path));
    let issue_id = side_id.or_else(|| raw_at(p, &issue("id")));
    let key = str_at(p, &issue("identifier"))
        .or_else(|| shape.issue_id.and_then(|path| str_at(p, path)))
        .or_else(|| str_at(p, &issue("id")))?;
    let comment_id = first(shape.comment).filter(Value::is_string);
    // Linear threads are one deep: a reply's thread is its parent's.
    let thread_id = first(shape.thread)
        .filter(Value::is_string)
        .or_else(|| comment_id.clone());
    let d = detail([
        ("issue_id", issue_id),
        ("identifier", raw_at(p, &issue("identifier"))),
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

    /// The app webhooks (agent sessions, notifications) and SLA events carry their issue
    /// outside `data`, and attachments and customer needs may name it by id alone: each is
    /// filed under its issue with what a comment there needs, in the thread it came from.
    #[test]
    fn events_about_an_issue_outside_data_are_filed_under_it() {
        let issue = json!({"id": "u9", "identifier": "ENG-9", "title": "t",
                           "url": "https://linear.app/acme/issue/ENG-9"});
        let cases = [
            (
                json!({"type": "AgentSessionEvent", "action": "created",
                       "agentSession": {"id": "s1", "issueId": "u9", "issue": issue,
                                        "commentId": "c1", "comment": {"id": "c1", "body": "@bot"}}}),
                "ENG-9",
                json!({"issue_id": "u9", "identifier": "ENG-9", "comment_id": "c1", "thread_id": "c1"}),
            ),
            (
                json!({"type": "AgentSessionEvent", "action": "prompted",
                       "agentSession": {"id": "s1", "issue": issue, "comment": {"id": "c1"}},
                       "agentActivity": {"id": "a1", "sourceCommentId": "c4"}}),
                "ENG-9",
                json!({"issue_id": "u9", "identifier": "ENG-9", "comment_id": "c4", "thread_id": "c1"}),
            ),
            (
                json!({"type": "AppUserNotification", "action": "issueCommentMention",
                       "notification": {"id": "n1", "type": "issueCommentMention", "issueId": "u9",
                                        "issue": issue, "commentId": "c5", "comment": {"id": "c5"},
                                        "parentCommentId": "c2"}}),
                "ENG-9",
                json!({"issue_id": "u9", "identifier": "ENG-9", "comment_id": "c5", "thread_id": "c2"}),
            ),
            (
                json!({"type": "AppUserNotification", "action": "issueAssignedToYou",
                       "notification": {"id": "n2", "issueId": "u9", "issue": issue}}),
                "ENG-9",
                json!({"issue_id": "u9", "identifier": "ENG-9"}),
            ),
            (
                json!({"type": "IssueSLA", "action": "breached", "issueData": issue,
                       "url": "https://linear.app/acme/issue/ENG-9"}),
                "ENG-9",
                json!({"issue_id": "u9", "identifier": "ENG-9",
                       "url": "https://linear.app/acme/issue/ENG-9"}),
            ),
            (
                json!({"type": "Attachment", "action": "create",
                       "data": {"id": "att1", "issueId": "u9", "title": "PR #7"}}),
                "u9",
                json!({"issue_id": "u9"}),
            ),
            (
                json!({"type": "CustomerNeed", "action": "create",
                       "data": {"id": "need1", "issueId": "u9", "issue": issue}}),
                "ENG-9",
                json!({"issue_id": "u9", "identifier": "ENG-9"}),
            ),
        ];
        for (payload, key, detail) in cases {
            let s = describe(&headers(&[]), &payload).source;
            let s = s.unwrap_or_else(|| panic!("no source: {payload}"));
            assert_eq!((s.kind.as_str(), s.key.as_str()), ("linear.issue", key));
            assert_eq!(Value::Object(s.detail), detail, "{payload}");
        }
        // Nothing to comment on: a project's need, a notification about a document, a reaction.
        for payload in [
            json!({"type": "CustomerNeed", "action": "create", "data": {"id": "n", "projectId": "p"}}),
            json!({"type": "AppUserNotification", "notification": {"id": "n", "documentId": "d"}}),
            json!({"type": "AgentSessionEvent", "agentSession": {"id": "s1"}}),
            json!({"type": "Reaction", "action": "create", "data": {"id": "r", "projectUpdateId": "p"}}),
        ] {
            assert_eq!(describe(&headers(&[]), &payload).source, None, "{payload}");
        }
    }
}
