//! GitLab: the receive path's verify + describe step for project and group hooks
//! (`X-Gitlab-Token`, or Standard Webhooks headers when a signing token is set).

use axum::http::HeaderMap;
use serde_json::Value;

use super::common::{check_token, described, detail, dotted, header, raw_at, source, str_at};
use super::{Described, KeyUsed, Request, Secrets, SourceRef, VerifyError, standard};

const TOKEN: &str = "X-Gitlab-Token";

/// The classic token is the secret itself, compared in constant time. With a signing token
/// GitLab adds Standard Webhooks headers; when both arrive, either proof is accepted, since
/// each alone is what GitLab sends for that configuration (and the token, replayable anyway,
/// is no weaker for the signature being present).
pub(super) fn verify(
    secrets: Secrets<'_>,
    req: &Request<'_>,
    tolerance: Option<i64>,
) -> Result<KeyUsed, VerifyError> {
    let token = header(req.headers, TOKEN);
    let signed = header(req.headers, "webhook-signature").is_some();
    let by_token = |t: &str| secrets.try_each(|secret| check_token(t, secret));
    match (token, signed) {
        (Some(t), false) => by_token(t),
        (None, true) => standard::verify(secrets, req, tolerance),
        (Some(t), true) => by_token(t).or_else(|_| standard::verify(secrets, req, tolerance)),
        (None, false) => Err(VerifyError::MissingHeader(TOKEN)),
    }
}

/// `issue.open`, `merge_request.merge`, `note`, `push`: `object_kind` plus the action when the
/// event has one. `Idempotency-Key` stays the same across retries; `X-Gitlab-Webhook-UUID`
/// does not, so it is never the delivery id.
pub(super) fn describe(headers: &HeaderMap, payload: &Value) -> Described {
    // System, group and member hooks name their event (`user_create`, `project_create`,
    // `user_add_to_group`) and have no `object_kind`.
    let kind = str_at(payload, "/object_kind").or_else(|| str_at(payload, "/event_name"));
    // A release names its action at the top (`create`, `update`, `delete`).
    let action = str_at(payload, "/object_attributes/action").or_else(|| {
        (kind.as_deref() == Some("release"))
            .then(|| str_at(payload, "/action"))
            .flatten()
    });
    let delivery = header(headers, "Idempotency-Key")
        .or_else(|| header(headers, "webhook-id"))
        .map(str::to_owned);
    let src = source_of(kind.as_deref().unwrap_or_default(), payload);
    described(dotted(kind, action), delivery, src)
}

/// The events about an issue or merge request, which a note can answer, and pipelines, which
/// are about one when they ran for a merge request.
pub(super) const THREAD_EVENTS: [&str; 4] = ["issue", "merge_request", "note", "pipeline"];

/// Issues are `path#iid` and merge requests `path!iid`, as GitLab writes references; notes
/// belong to the issue or merge request they are on. Anything else with a project (push,
/// pipeline, notes on commits) is keyed by the project.
fn source_of(kind: &str, p: &Value) -> Option<SourceRef> {
    let path = str_at(p, "/project/path_with_namespace")?;
    let target = match kind {
        "issue" => Some(("gitlab.issue", '#', "/object_attributes/iid")),
        "merge_request" => Some(("gitlab.merge_request", '!', "/object_attributes/iid")),
        "note" if p.pointer("/issue/iid").is_some() => Some(("gitlab.issue", '#', "/issue/iid")),
        "note" if p.pointer("/merge_request/iid").is_some() => {
            Some(("gitlab.merge_request", '!', "/merge_request/iid"))
        }
        // A merge request's pipeline is about it, when it ran in the project the merge
        // request is into.
        "pipeline"
            if p.pointer("/merge_request/iid").is_some()
                && p.pointer("/merge_request/target_project_id") == p.pointer("/project/id") =>
        {
            Some(("gitlab.merge_request", '!', "/merge_request/iid"))
        }
        _ => None,
    };
    if let Some((source_kind, sep, iid_path)) = target
        && let Some(iid) = str_at(p, iid_path)
    {
        let key = format!("{path}{sep}{iid}");
        // An internal note (`internal`, `confidential` before GitLab 15.0) is answered
        // internally: a public reply would show what only members may read. A confidential
        // issue's other events are not: its reporter, who may see the issue but not internal
        // notes, is often the one to answer. (GitLab names every note on a confidential issue
        // a `confidential_note`, public ones too, so the event type does not tell.)
        let internal = kind == "note"
            && [
                "/object_attributes/internal",
                "/object_attributes/confidential",
            ]
            .iter()
            .any(|at| p.pointer(at) == Some(&Value::Bool(true)));
        let d = detail([
            ("project", Some(Value::String(path))),
            ("iid", raw_at(p, iid_path)),
            ("internal", internal.then_some(Value::Bool(true))),
        ]);
        return Some(source(source_kind, key, d));
    }
    let d = detail([("project", Some(Value::String(path.clone())))]);
    Some(source("gitlab.project", path, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::common::test_support::{headers, only, req, rotating};
    use crate::providers::standard::tests::sign;
    use serde_json::json;

    const SECRET: &str = "gl-token";
    const BODY: &[u8] = br#"{"object_kind":"push"}"#;

    #[test]
    fn token_table() {
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Secrets<'a>,
            Result<KeyUsed, VerifyError>,
        );
        let cases: Vec<Case> = vec![
            ("valid", Some(SECRET), only(SECRET), Ok(KeyUsed::Current)),
            (
                "wrong secret",
                Some("gl-token2"),
                only(SECRET),
                Err(VerifyError::BadSignature),
            ),
            (
                "missing",
                None,
                only(SECRET),
                Err(VerifyError::MissingHeader(TOKEN)),
            ),
            (
                "rotation",
                Some("old"),
                rotating(SECRET, "old"),
                Ok(KeyUsed::Previous),
            ),
        ];
        for (name, token, secrets, want) in cases {
            let h = headers(&token.map(|t| vec![(TOKEN, t)]).unwrap_or_default());
            assert_eq!(verify(secrets, &req(&h, BODY, 0), None), want, "{name}");
        }
    }

    #[test]
    fn signing_token_table() {
        const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        const OLD: &str = "whsec_c2VjcmV0LXR3by1ieXRlcy1mb3ItdGVzdHM=";
        let now = 1_700_000_000;
        let good = sign(WHSEC, "idem-1", now, BODY);
        let old = sign(OLD, "idem-1", now, BODY);
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a [u8],
            i64,
            Secrets<'a>,
            Result<KeyUsed, VerifyError>,
        );
        let cases: Vec<Case> = vec![
            ("valid", &good, BODY, now, only(WHSEC), Ok(KeyUsed::Current)),
            (
                "tampered",
                &good,
                b"{}",
                now,
                only(WHSEC),
                Err(VerifyError::BadSignature),
            ),
            (
                "wrong secret",
                &good,
                BODY,
                now,
                only(OLD),
                Err(VerifyError::BadSignature),
            ),
            (
                "stale",
                &good,
                BODY,
                now + 301,
                only(WHSEC),
                Err(VerifyError::StaleTimestamp),
            ),
            (
                "rotation",
                &old,
                BODY,
                now,
                rotating(WHSEC, OLD),
                Ok(KeyUsed::Previous),
            ),
        ];
        for (name, sig, body, at, secrets, want) in cases {
            let ts = now.to_string();
            let h = headers(&[
                ("webhook-id", "idem-1"),
                ("webhook-timestamp", &ts),
                ("webhook-signature", sig),
            ]);
            assert_eq!(verify(secrets, &req(&h, body, at), None), want, "{name}");
        }
        // Token and signature together: the matching token is enough.
        let ts = now.to_string();
        let h = headers(&[
            (TOKEN, SECRET),
            ("webhook-id", "i"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &good),
        ]);
        assert_eq!(
            verify(only(SECRET), &req(&h, BODY, now), None),
            Ok(KeyUsed::Current)
        );
    }

    #[test]
    fn describe_table() {
        let project = json!({"path_with_namespace": "grp/app"});
        let cases = [
            (
                json!({"object_kind": "issue", "project": project, "object_attributes": {"iid": 4, "action": "open"}}),
                "issue.open",
                Some(("gitlab.issue", "grp/app#4")),
            ),
            (
                json!({"object_kind": "merge_request", "project": project, "object_attributes": {"iid": 9, "action": "merge"}}),
                "merge_request.merge",
                Some(("gitlab.merge_request", "grp/app!9")),
            ),
            (
                json!({"object_kind": "note", "project": project, "object_attributes": {"note": "hi"}, "issue": {"iid": 4}}),
                "note",
                Some(("gitlab.issue", "grp/app#4")),
            ),
            (
                json!({"object_kind": "note", "project": project, "object_attributes": {}, "merge_request": {"iid": 9}}),
                "note",
                Some(("gitlab.merge_request", "grp/app!9")),
            ),
            (
                json!({"object_kind": "push", "project": project}),
                "push",
                Some(("gitlab.project", "grp/app")),
            ),
            (json!({"object_kind": "push"}), "push", None),
            // A merge request's pipeline is about it; a branch's, or one in a fork, is not.
            (
                json!({"object_kind": "pipeline", "project": {"id": 7, "path_with_namespace": "grp/app"},
                       "object_attributes": {"status": "failed"},
                       "merge_request": {"iid": 9, "target_project_id": 7}}),
                "pipeline",
                Some(("gitlab.merge_request", "grp/app!9")),
            ),
            (
                json!({"object_kind": "pipeline", "project": {"id": 8, "path_with_namespace": "me/app"},
                       "merge_request": {"iid": 9, "target_project_id": 7}}),
                "pipeline",
                Some(("gitlab.project", "me/app")),
            ),
            (
                json!({"object_kind": "pipeline", "project": project, "merge_request": null}),
                "pipeline",
                Some(("gitlab.project", "grp/app")),
            ),
            // System and group hooks name their event; a release its action, at the top.
            (
                json!({"event_name": "user_create", "user_id": 4}),
                "user_create",
                None,
            ),
            (
                json!({"object_kind": "release", "action": "create", "project": project}),
                "release.create",
                Some(("gitlab.project", "grp/app")),
            ),
        ];
        for (payload, want_type, want_src) in cases {
            let d = describe(&headers(&[("Idempotency-Key", "k-1")]), &payload);
            assert_eq!(d.event_type, want_type);
            assert_eq!(d.delivery_id.as_deref(), Some("k-1"));
            let got = d.source.as_ref().map(|s| (s.kind.as_str(), s.key.as_str()));
            assert_eq!(got, want_src, "{want_type}");
        }
        let d = describe(
            &headers(&[("webhook-id", "w-1")]),
            &json!({"object_kind": "issue", "project": project, "object_attributes": {"iid": 4}}),
        );
        assert_eq!(d.delivery_id.as_deref(), Some("w-1"));
        assert_eq!(
            d.source.map(|s| s.detail),
            json!({"project": "grp/app", "iid": 4}).as_object().cloned()
        );
    }

    #[test]
    fn internal_replies_table() {
        let project = json!({"path_with_namespace": "grp/app"});
        let cases = [
            (
                "internal note",
                json!({"object_kind": "note", "project": project, "issue": {"iid": 4},
                "object_attributes": {"note": "x", "internal": true}}),
                true,
            ),
            (
                "confidential note before 15.0",
                json!({"object_kind": "note", "project": project,
                "issue": {"iid": 4}, "object_attributes": {"note": "x", "confidential": true}}),
                true,
            ),
            (
                "internal note on a confidential issue",
                json!({"object_kind": "note", "event_type": "confidential_note",
                "project": project, "issue": {"iid": 4, "confidential": true},
                "object_attributes": {"note": "x", "internal": true}}),
                true,
            ),
            (
                "public note on a confidential issue",
                json!({"object_kind": "note", "event_type": "confidential_note",
                "project": project, "issue": {"iid": 4, "confidential": true},
                "object_attributes": {"note": "x", "internal": false, "confidential": false}}),
                false,
            ),
            (
                "public note",
                json!({"object_kind": "note", "project": project, "issue": {"iid": 4},
                "object_attributes": {"note": "x", "internal": false}}),
                false,
            ),
            (
                "confidential issue opened",
                json!({"object_kind": "issue", "project": project,
                "object_attributes": {"iid": 4, "action": "open", "confidential": true}}),
                false,
            ),
            (
                "confidential issue event",
                json!({"object_kind": "issue", "event_type": "confidential_issue",
                "project": project, "object_attributes": {"iid": 4, "confidential": true}}),
                false,
            ),
        ];
        for (name, payload, want) in cases {
            let d = describe(&headers(&[]), &payload);
            let detail = d.source.expect(name).detail;
            assert_eq!(
                detail.get("internal") == Some(&Value::Bool(true)),
                want,
                "{name}"
            );
        }
    }
}
