//! GitLab: the receive path's verify + describe step for project and group hooks
//! (`X-Gitlab-Token`, or Standard Webhooks headers when a signing token is set).

use axum::http::HeaderMap;
use serde_json::Value;

use super::common::{
    check_token, delivery_header, described, detail, dotted, header, raw_at, source, str_at,
};
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
        // GitLab sends both when both are set, but the webhook keeps one secret: a failure is
        // told as the signature's only when that secret is a signing key (`whsec_`), else as
        // the token's, not as "misconfigured" or a clock error about a signature never meant
        // to be checked with it.
        (Some(t), true) => by_token(t).or_else(|token_error| {
            standard::verify(secrets, req, tolerance).map_err(|signature_error| {
                if secrets.current.starts_with(standard::PREFIX) {
                    signature_error
                } else {
                    token_error
                }
            })
        }),
        (None, false) => Err(VerifyError::MissingHeader(TOKEN)),
    }
}

/// `issue.open`, `merge_request.merge`, `note`, `push`: `object_kind` plus the action when the
/// event has one. `Idempotency-Key` stays the same across retries; `X-Gitlab-Webhook-UUID`
/// does not, so it is never the delivery id. A signed delivery is known by `webhook-id`,
/// which its signature covers (GitLab sets it to the `Idempotency-Key`): the unsigned key would
/// let a captured delivery be sent again, within the window, as a new one.
/// The kinds whose hook names its action at the top of the body, not in `object_attributes`.
pub(super) fn action_at_top(kind: &str) -> bool {
    matches!(kind, "release" | "milestone")
}

pub(super) fn describe(headers: &HeaderMap, payload: &Value) -> Described {
    // System, group and member hooks name their event (`user_create`, `project_create`,
    // `user_add_to_group`) and have no `object_kind`.
    let kind = str_at(payload, "/object_kind").or_else(|| str_at(payload, "/event_name"));
    // A release and a milestone name their action at the top (`create`, `close`, ...), an
    // award its own (`award`, `revoke`) as its `event_type`.
    let action = str_at(payload, "/object_attributes/action").or_else(|| {
        let at = match kind.as_deref() {
            Some("emoji") => "/event_type",
            Some(kind) if action_at_top(kind) => "/action",
            _ => return None,
        };
        str_at(payload, at)
    });
    let signed = header(headers, "webhook-signature").is_some();
    let delivery = if signed {
        delivery_header(headers, "webhook-id")
    } else {
        delivery_header(headers, "Idempotency-Key")
            .or_else(|| delivery_header(headers, "webhook-id"))
    };
    let src = source_of(kind.as_deref().unwrap_or_default(), payload);
    described(dotted(kind, action), delivery, src)
}

/// The events about an issue or merge request (a work item, an award on one), which a note can
/// answer, and pipelines, which are about one when they ran for a merge request.
pub(super) const THREAD_EVENTS: [&str; 6] = [
    "issue",
    "merge_request",
    "note",
    "pipeline",
    "emoji",
    "work_item",
];

/// Issues are `path#iid`, merge requests `path!iid` and snippets `path$id`, as GitLab writes
/// references; notes belong to the issue, merge request or snippet they are on, and a note on
/// a commit to the commit (`path@sha`). Anything else with a project (push, pipeline) is keyed
/// by the project.
fn source_of(kind: &str, p: &Value) -> Option<SourceRef> {
    let path = str_at(p, "/project/path_with_namespace")?;
    let target = match kind {
        // A work item (a task, an incident...) is an issue to the notes API.
        "issue" | "work_item" => Some(("gitlab.issue", '#', "/object_attributes/iid")),
        // An award is about what it was given to: an issue, a merge request, or a note on one.
        "emoji" if p.pointer("/issue/iid").is_some() => Some(("gitlab.issue", '#', "/issue/iid")),
        "emoji" if p.pointer("/merge_request/iid").is_some() => {
            Some(("gitlab.merge_request", '!', "/merge_request/iid"))
        }
        "merge_request" => Some(("gitlab.merge_request", '!', "/object_attributes/iid")),
        "note" if p.pointer("/issue/iid").is_some() => Some(("gitlab.issue", '#', "/issue/iid")),
        "note" if p.pointer("/merge_request/iid").is_some() => {
            Some(("gitlab.merge_request", '!', "/merge_request/iid"))
        }
        // A project snippet has an id and no iid; the notes API addresses it by that id.
        "note"
            if str_at(p, "/object_attributes/noteable_type").as_deref() == Some("Snippet")
                && p.pointer("/snippet/id").is_some() =>
        {
            Some(("gitlab.snippet", '$', "/snippet/id"))
        }
        "note" => return Some(commit_of(p, path)),
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
        // An award on an internal note is answered as privately as the note.
        let note_at = match kind {
            "note" => Some("/object_attributes"),
            "emoji" => Some("/note"),
            _ => None,
        };
        let internal = note_at.is_some_and(|note| {
            ["internal", "confidential"]
                .iter()
                .any(|flag| p.pointer(&format!("{note}/{flag}")) == Some(&Value::Bool(true)))
        });
        let d = detail([
            ("project", Some(Value::String(path))),
            ("project_id", project_id(p)),
            ("iid", raw_at(p, iid_path)),
            ("internal", internal.then_some(Value::Bool(true))),
            (
                "discussion",
                (kind == "note").then(|| thread_of(p)).flatten(),
            ),
            ("site", site_of_event(p)),
        ]);
        return Some(source(source_kind, key, d));
    }
    Some(project_source(p, path))
}

fn project_source(p: &Value, path: String) -> SourceRef {
    let d = detail([
        ("project", Some(Value::String(path.clone()))),
        ("project_id", project_id(p)),
        ("site", site_of_event(p)),
    ]);
    source("gitlab.project", path, d)
}

/// The project's number, which stays when it is renamed or moved to another group (its path
/// does not): tasks on its old path follow it (`tasks::follow_renamed_project`).
fn project_id(p: &Value) -> Option<Value> {
    p.pointer("/project/id")
        .and_then(Value::as_u64)
        .map(Value::from)
}

/// A note on a commit is about the commit, `path@sha` as GitLab writes a commit reference;
/// a note on anything else that is neither issue nor merge request (a snippet) is the
/// project's.
fn commit_of(p: &Value, path: String) -> SourceRef {
    let on_commit = str_at(p, "/object_attributes/noteable_type").as_deref() == Some("Commit")
        || p.pointer("/commit").is_some_and(Value::is_object);
    let sha = str_at(p, "/commit/id").or_else(|| str_at(p, "/object_attributes/commit_id"));
    match sha.filter(|_| on_commit) {
        Some(sha) => {
            let d = detail([
                ("project", Some(Value::String(path.clone()))),
                ("project_id", project_id(p)),
                ("sha", Some(Value::String(sha.clone()))),
                ("discussion", thread_of(p)),
                ("site", site_of_event(p)),
            ]);
            source("gitlab.commit", format!("{path}@{sha}"), d)
        }
        None => project_source(p, path),
    }
}

/// The instance the event came from, as its project's page names it: a reply goes there or
/// nowhere (`actions::gitlab::same_site`).
fn site_of_event(p: &Value) -> Option<Value> {
    str_at(p, "/project/web_url")
        .and_then(|url| super::site_of("gitlab", &url))
        .map(Value::String)
}

/// The thread a note is in, when it is in one (it started one, or answers in one, or sits
/// beside a line of a diff): replies go there. A standalone comment's discussion is not
/// named: GitLab could turn it into a thread, but on a merge request or issue a thread is
/// resolvable (a merge request whose project wants every thread resolved could not be merged
/// until someone resolves the one the reply made), and on a commit it refuses to; a reply to
/// a standalone comment is one too, as a person's would be.
fn thread_of(p: &Value) -> Option<Value> {
    let in_thread = matches!(
        str_at(p, "/object_attributes/type").as_deref(),
        Some("DiscussionNote" | "DiffNote" | "LegacyDiffNote")
    );
    str_at(p, "/object_attributes/discussion_id")
        .filter(|_| in_thread)
        .map(Value::String)
}

/// Whether a GitLab user is the bot user of a project or group access token
/// (`project_123_bot_4ffca233d8298ea1`, `group_45_bot_…`; `project_123_bot` or
/// `project_123_bot2` before GitLab 16): automation, whose notes answer no question. GitLab's
/// hooks carry no bot flag for them, only the username.
pub fn is_access_token_bot(username: &str) -> bool {
    let Some(rest) = username
        .strip_prefix("project_")
        .or_else(|| username.strip_prefix("group_"))
    else {
        return false;
    };
    let Some((id, suffix)) = rest.split_once("_bot") else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let random = suffix
        .strip_prefix('_')
        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()));
    digits(id) && (suffix.is_empty() || digits(suffix) || random)
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
        // Both, neither matching: a token secret is told the token does not match (not that
        // it is no signing key, nor that a clock is off); a signing key hears the signature's.
        for (secret, at, want) in [
            ("gl-other", now, VerifyError::BadSignature),
            ("gl-other", now + 400, VerifyError::BadSignature),
            (OLD, now, VerifyError::BadSignature),
            (WHSEC, now + 400, VerifyError::StaleTimestamp),
        ] {
            assert_eq!(
                verify(only(secret), &req(&h, BODY, at), None),
                Err(want),
                "{secret} at {at}"
            );
        }
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
            // A note on a commit is about the commit; one on a snippet, the project's.
            (
                json!({"object_kind": "note", "project": project,
                       "object_attributes": {"note": "hi", "noteable_type": "Commit",
                                             "commit_id": "da1560886d4f094c"},
                       "commit": {"id": "da1560886d4f094c", "message": "fix"}}),
                "note",
                Some(("gitlab.commit", "grp/app@da1560886d4f094c")),
            ),
            (
                json!({"object_kind": "note", "project": project,
                       "object_attributes": {"note": "hi", "noteable_type": "Snippet"},
                       "snippet": {"id": 53}}),
                "note",
                Some(("gitlab.snippet", "grp/app$53")),
            ),
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
            // A milestone too (GitLab's own samples).
            (
                json!({"object_kind": "milestone", "action": "close", "project": project,
                       "object_attributes": {"id": 61, "iid": 1, "state": "closed"}}),
                "milestone.close",
                Some(("gitlab.project", "grp/app")),
            ),
            (
                json!({"object_kind": "emoji", "event_type": "award", "project": project,
                       "object_attributes": {"name": "thumbsup", "awardable_type": "Issue"},
                       "issue": {"iid": 4}}),
                "emoji.award",
                Some(("gitlab.issue", "grp/app#4")),
            ),
            (
                json!({"object_kind": "emoji", "event_type": "award", "project": project,
                       "object_attributes": {"name": "tada", "awardable_type": "Note"},
                       "note": {"id": 1244}, "merge_request": {"iid": 9}}),
                "emoji.award",
                Some(("gitlab.merge_request", "grp/app!9")),
            ),
            (
                json!({"object_kind": "emoji", "event_type": "award", "project": project,
                       "object_attributes": {"name": "eyes", "awardable_type": "Note"},
                       "note": {"id": 1245, "internal": true}, "issue": {"iid": 4}}),
                "emoji.award",
                Some(("gitlab.issue", "grp/app#4")),
            ),
            (
                json!({"object_kind": "emoji", "event_type": "revoke", "project": project,
                       "object_attributes": {"name": "tada", "awardable_type": "Snippet"},
                       "snippet": {"id": 53}}),
                "emoji.revoke",
                Some(("gitlab.project", "grp/app")),
            ),
            (
                json!({"object_kind": "work_item", "event_type": "work_item", "project": project,
                       "object_attributes": {"iid": 12, "type": "Task", "action": "open"}}),
                "work_item.open",
                Some(("gitlab.issue", "grp/app#12")),
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
        // Signed, the id is the one the signature covers, whatever the unsigned key says.
        let ids = [
            ("webhook-id", "w-1"),
            ("Idempotency-Key", "forged"),
            ("webhook-signature", "v1,x"),
        ];
        let signed = describe(&headers(&ids), &json!({"object_kind": "push"}));
        assert_eq!(signed.delivery_id.as_deref(), Some("w-1"));
        let unsigned = describe(&headers(&ids[..2]), &json!({"object_kind": "push"}));
        assert_eq!(unsigned.delivery_id.as_deref(), Some("forged"));
        assert_eq!(
            d.source.map(|s| s.detail),
            json!({"project": "grp/app", "iid": 4}).as_object().cloned()
        );
    }

    #[test]
    fn notes_in_a_thread_are_answered_in_it_table() {
        let project = json!({"path_with_namespace": "grp/app"});
        let note = |noteable: Value, attributes: Value| {
            let mut p = json!({"object_kind": "note", "project": project,
                               "object_attributes": attributes});
            for (k, v) in noteable.as_object().expect("noteable") {
                p[k] = v.clone();
            }
            p
        };
        let mr = json!({"merge_request": {"iid": 9}});
        let commit = json!({"commit": {"id": "da15608"}});
        let cases = [
            (
                "diff note on a merge request",
                note(
                    mr.clone(),
                    json!({"note": "x", "type": "DiffNote", "discussion_id": "d1"}),
                ),
                Some("d1"),
            ),
            (
                "reply in an issue thread",
                note(
                    json!({"issue": {"iid": 4}}),
                    json!({"note": "x", "type": "DiscussionNote", "discussion_id": "d2"}),
                ),
                Some("d2"),
            ),
            (
                "standalone note, whose discussion is its own",
                note(
                    mr.clone(),
                    json!({"note": "x", "type": null, "discussion_id": "d3"}),
                ),
                None,
            ),
            (
                "standalone note of an older GitLab",
                note(mr, json!({"note": "x"})),
                None,
            ),
            (
                "thread on a commit",
                note(
                    commit.clone(),
                    json!({"note": "x", "noteable_type": "Commit",
                           "type": "DiscussionNote", "discussion_id": "d4"}),
                ),
                Some("d4"),
            ),
            (
                "standalone note on a commit",
                note(
                    commit,
                    json!({"note": "x", "noteable_type": "Commit", "discussion_id": "d5"}),
                ),
                None,
            ),
        ];
        for (name, payload, want) in cases {
            let d = describe(&headers(&[]), &payload).source.expect(name).detail;
            assert_eq!(d.get("discussion").and_then(Value::as_str), want, "{name}");
        }
    }

    #[test]
    fn access_token_bots_are_known_by_their_username_table() {
        let cases = [
            ("project_123_bot_4ffca233d8298ea1", true),
            ("group_45_bot_0a1b2c3d", true),
            // Before GitLab 16: a number after a second token's bot.
            ("project_64_bot", true),
            ("project_20_bot2", true),
            ("jsmith", false),
            ("project_bot", false),
            ("project_x_bot_1", false),
            ("my_project_1_bot_ab", false),
            ("project_1_bottle", false),
            ("project_1_bot_", false),
            ("group_4_bot_a-b", false),
        ];
        for (username, want) in cases {
            assert_eq!(is_access_token_bot(username), want, "{username}");
        }
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
                "award on an internal note",
                json!({"object_kind": "emoji", "event_type": "award", "project": project,
                "issue": {"iid": 4}, "note": {"id": 7, "internal": true},
                "object_attributes": {"name": "eyes", "awardable_type": "Note"}}),
                true,
            ),
            (
                "award on a public note",
                json!({"object_kind": "emoji", "event_type": "award", "project": project,
                "issue": {"iid": 4}, "note": {"id": 7, "internal": false},
                "object_attributes": {"name": "eyes", "awardable_type": "Note"}}),
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
