//! GitHub: the receive path's verify + describe step for repository and organisation hooks
//! (`X-Hub-Signature-256`, `X-GitHub-Event`, `X-GitHub-Delivery`).

use axum::http::HeaderMap;
use serde_json::Value;

use super::common::{
    check_hmac, decode_hex, delivery_header, described, detail, dotted, form_payload, header,
    parse_form, raw_at, secret_bytes, source, str_at,
};
use super::{Described, KeyUsed, PayloadError, Request, Secrets, SourceRef, VerifyError};

const SIGNATURE: &str = "X-Hub-Signature-256";
const ENTERPRISE_HOST: &str = "X-GitHub-Enterprise-Host";

/// `sha256=<hex>` HMAC of the raw body. The prefix is required, as octokit compares the whole
/// header; the legacy SHA-1 `X-Hub-Signature` is ignored.
pub(super) fn verify(secrets: Secrets<'_>, req: &Request<'_>) -> Result<KeyUsed, VerifyError> {
    let value = header(req.headers, SIGNATURE).ok_or(VerifyError::MissingHeader(SIGNATURE))?;
    let hex_sig = value
        .strip_prefix("sha256=")
        .ok_or(VerifyError::Malformed("expected sha256=<hex>"))?;
    let sig = decode_hex(hex_sig)?;
    secrets.try_each(|secret| check_hmac(secret_bytes(secret)?, &[req.body], &sig))
}

/// JSON, or the `payload=<json>` form a hook set to `application/x-www-form-urlencoded` sends.
pub(super) fn parse_payload(body: &[u8]) -> Result<Value, PayloadError> {
    // An empty body is an empty form, as for every provider.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(e) => match parse_form(body) {
            // A form (content type application/x-www-form-urlencoded) whose JSON is bad is
            // told so, not that the whole body is no JSON.
            Some(fields) if fields.contains_key("payload") => {
                form_payload(&fields).ok_or_else(|| {
                    PayloadError::not_json(
                        "the form's `payload` field is not a JSON object or array",
                    )
                })
            }
            _ => Err(super::common::not_a_form(body, &e)),
        },
    }
}

/// `issues.opened`, `pull_request.closed`, or the bare header for action-less events (`push`,
/// `ping`). The source is the issue or pull request when there is one, else the repository.
pub(super) fn describe(headers: &HeaderMap, payload: &Value) -> Described {
    let event = header(headers, "X-GitHub-Event")
        .filter(|e| !e.is_empty())
        .map(str::to_owned);
    let action = str_at(payload, "/action");
    let delivery = delivery_header(headers, "X-GitHub-Delivery");
    let mut src = event.as_deref().and_then(|e| source_of(e, payload));
    // GitHub Enterprise Server names itself here. Its repositories are not github.com's, so a
    // reply must go to that server's API, never to a same-named repository elsewhere.
    if let (Some(src), Some(host)) = (
        src.as_mut(),
        header(headers, ENTERPRISE_HOST).filter(|h| !h.trim().is_empty()),
    ) {
        src.detail
            .insert("enterprise_host".into(), Value::String(host.trim().into()));
    }
    // Without the header the action alone (`opened`) would pass for an event type.
    let event = event.or_else(|| Some("unknown".into()));
    described(dotted(event, action), delivery, src)
}

/// The events that happen on an issue or pull request, which a comment can answer; the
/// others (`push`, `release`, `workflow_run`, `discussion`, ...) are the repository's.
pub(super) const THREAD_EVENTS: [&str; 6] = [
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_review_thread",
];

/// Events about a run on a commit, which name the pull requests the commit was run for: a
/// comment on a failed run goes on its pull request.
pub(super) const RUN_EVENTS: [&str; 3] = ["workflow_run", "check_run", "check_suite"];

fn source_of(event: &str, p: &Value) -> Option<SourceRef> {
    if let Some(moved) = transferred_to(event, p) {
        return Some(moved);
    }
    let repo = str_at(p, "/repository/full_name")?;
    let thread = match event {
        _ if RUN_EVENTS.contains(&event) => {
            run_pull_request(p, event).map(|number| ("github.pull_request", Some(number)))
        }
        _ if !THREAD_EVENTS.contains(&event) => None,
        "issues" | "issue_comment" => {
            // GitHub models pull requests as issues; comments on a PR arrive as issue_comment.
            let kind = if p.pointer("/issue/pull_request").is_some() {
                "github.pull_request"
            } else {
                "github.issue"
            };
            Some((kind, raw_at(p, "/issue/number")))
        }
        "pull_request"
        | "pull_request_review"
        | "pull_request_review_comment"
        | "pull_request_review_thread" => Some((
            "github.pull_request",
            raw_at(p, "/pull_request/number").or_else(|| raw_at(p, "/number")),
        )),
        _ => None,
    };
    match thread {
        Some((kind, Some(Value::Number(number)))) => {
            let key = format!("{repo}#{number}");
            // A review comment is answered in its thread, which its first comment names
            // (GitHub takes no reply to a reply).
            // A thread's first comment has no `in_reply_to_id`, or a null one.
            let number_at = |at: &str| raw_at(p, at).filter(Value::is_number);
            let review_comment = (event == "pull_request_review_comment")
                .then(|| number_at("/comment/in_reply_to_id").or_else(|| number_at("/comment/id")))
                .flatten();
            let d = detail([
                ("repo", Some(repo.into())),
                ("number", Some(number.into())),
                ("review_comment", review_comment),
            ]);
            Some(source(kind, key, d))
        }
        _ => {
            let d = detail([("repo", Some(Value::String(repo.clone())))]);
            Some(source("github.repository", repo, d))
        }
    }
}

/// The issue a transferred one now is, in its new repository: GitHub answers a comment on the
/// old number with a redirect (not followed, see `actions::client`), so the thread to answer
/// is the new one the payload names under `changes`.
fn transferred_to(event: &str, p: &Value) -> Option<SourceRef> {
    if event != "issues" || p.get("action").and_then(Value::as_str) != Some("transferred") {
        return None;
    }
    let repo = str_at(p, "/changes/new_repository/full_name")?;
    let number = raw_at(p, "/changes/new_issue/number").filter(Value::is_u64)?;
    let key = format!("{repo}#{number}");
    let d = detail([("repo", Some(repo.into())), ("number", Some(number))]);
    Some(source("github.issue", key, d))
}

/// The pull request of this repository a run was for. GitHub lists none for a branch push,
/// nor for a pull request from a fork; one whose base is another repository (a run in a fork,
/// for its pull request upstream) is not a thread this webhook's repository can comment on.
fn run_pull_request(p: &Value, event: &str) -> Option<Value> {
    let repo_id = p.pointer("/repository/id")?;
    p.pointer(&format!("/{event}/pull_requests"))?
        .as_array()?
        .iter()
        .find(|pr| pr.pointer("/base/repo/id") == Some(repo_id))
        .and_then(|pr| pr.get("number"))
        .filter(|n| n.is_u64())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::common::test_support::{headers, hex_hmac, only, req, rotating};
    use serde_json::json;

    const SECRET: &str = "gh-secret";
    const BODY: &[u8] = br#"{"action":"opened"}"#;

    #[test]
    fn verify_table() {
        let good = format!("sha256={}", hex_hmac(SECRET, &[BODY]));
        let old = format!("sha256={}", hex_hmac("old", &[BODY]));
        let upper = format!("sha256={}", hex_hmac(SECRET, &[BODY]).to_uppercase());
        let bare = hex_hmac(SECRET, &[BODY]);
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
                "uppercase hex",
                Some(&upper),
                BODY,
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "tampered",
                Some(&good),
                b"{\"action\":\"closed\"}",
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
                "no prefix",
                Some(&bare),
                BODY,
                only(SECRET),
                Err(VerifyError::Malformed("expected sha256=<hex>")),
            ),
            (
                "not hex",
                Some("sha256=zz"),
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
            (
                "rotation, neither",
                Some(&old),
                BODY,
                rotating(SECRET, "other"),
                Err(VerifyError::BadSignature),
            ),
        ];
        for (name, sig, body, secrets, want) in cases {
            let h = match sig {
                Some(s) => headers(&[(SIGNATURE, s)]),
                None => headers(&[]),
            };
            assert_eq!(verify(secrets, &req(&h, body, 0)), want, "{name}");
        }
    }

    #[test]
    fn form_payload_is_unwrapped() {
        let body = b"payload=%7B%22zen%22%3A%22hi%22%7D";
        assert_eq!(parse_payload(body), Ok(json!({"zen": "hi"})));
        assert!(parse_payload(b"foo=bar").is_err());
        // Its JSON bad: said of the field, not of the whole body.
        let bad = parse_payload(b"payload=%7B%22zen%22").expect_err("refused");
        assert!(bad.0.contains("`payload` field"), "{bad}");
        assert_eq!(parse_payload(b""), Ok(json!({})));
        assert_eq!(parse_payload(b" \n"), Ok(json!({})));
    }

    #[test]
    fn describe_table() {
        let repo = json!({"full_name": "octo/hello"});
        let cases = [
            (
                "issues",
                json!({"action": "opened", "issue": {"number": 12}, "repository": repo}),
                "issues.opened",
                Some(("github.issue", "octo/hello#12")),
            ),
            (
                "issue_comment",
                json!({"action": "created", "issue": {"number": 3, "pull_request": {}}, "repository": repo}),
                "issue_comment.created",
                Some(("github.pull_request", "octo/hello#3")),
            ),
            (
                "pull_request",
                json!({"action": "closed", "number": 5, "pull_request": {"number": 5}, "repository": repo}),
                "pull_request.closed",
                Some(("github.pull_request", "octo/hello#5")),
            ),
            (
                "pull_request_review",
                json!({"action": "submitted", "pull_request": {"number": 6}, "repository": repo}),
                "pull_request_review.submitted",
                Some(("github.pull_request", "octo/hello#6")),
            ),
            (
                "push",
                json!({"ref": "refs/heads/main", "repository": repo}),
                "push",
                Some(("github.repository", "octo/hello")),
            ),
            // A run for a pull request of this repository is about that pull request.
            (
                "workflow_run",
                json!({"action": "completed", "repository": {"id": 7, "full_name": "octo/hello"},
                       "workflow_run": {"pull_requests": [
                           {"number": 9, "base": {"repo": {"id": 8}}},
                           {"number": 4, "base": {"repo": {"id": 7}}}]}}),
                "workflow_run.completed",
                Some(("github.pull_request", "octo/hello#4")),
            ),
            (
                "check_run",
                json!({"action": "completed", "repository": {"id": 7, "full_name": "octo/hello"},
                       "check_run": {"pull_requests": [{"number": 2, "base": {"repo": {"id": 7}}}]}}),
                "check_run.completed",
                Some(("github.pull_request", "octo/hello#2")),
            ),
            (
                "check_suite",
                json!({"action": "completed", "repository": {"id": 7, "full_name": "octo/hello"},
                       "check_suite": {"pull_requests": [{"number": 3, "base": {"repo": {"id": 7}}}]}}),
                "check_suite.completed",
                Some(("github.pull_request", "octo/hello#3")),
            ),
            // A push's run, a fork's pull request (listed by none), or another repository's.
            (
                "workflow_run",
                json!({"action": "completed", "repository": {"id": 7, "full_name": "octo/hello"},
                       "workflow_run": {"pull_requests": []}}),
                "workflow_run.completed",
                Some(("github.repository", "octo/hello")),
            ),
            (
                "workflow_run",
                json!({"action": "completed", "repository": {"id": 7, "full_name": "octo/hello"},
                       "workflow_run": {"pull_requests": [{"number": 9, "base": {"repo": {"id": 8}}}]}}),
                "workflow_run.completed",
                Some(("github.repository", "octo/hello")),
            ),
            // A transferred issue is answered where it now is; without the new one named, on
            // the old number as before.
            (
                "issues",
                json!({"action": "transferred", "issue": {"number": 1}, "repository": repo,
                       "changes": {"new_issue": {"number": 8},
                                   "new_repository": {"full_name": "octo/moved"}}}),
                "issues.transferred",
                Some(("github.issue", "octo/moved#8")),
            ),
            (
                "issues",
                json!({"action": "transferred", "issue": {"number": 1}, "repository": repo}),
                "issues.transferred",
                Some(("github.issue", "octo/hello#1")),
            ),
            (
                "ping",
                json!({"zen": "Keep it simple.", "hook_id": 1}),
                "ping",
                None,
            ),
            // No event name: the action alone is not an event type.
            ("", json!({"action": "opened"}), "unknown.opened", None),
        ];
        for (event, payload, want_type, want_src) in cases {
            let h = headers(&[("X-GitHub-Event", event), ("X-GitHub-Delivery", "d-1")]);
            let d = describe(&h, &payload);
            assert_eq!(d.event_type, want_type);
            assert_eq!(d.delivery_id.as_deref(), Some("d-1"));
            let got = d.source.as_ref().map(|s| (s.kind.as_str(), s.key.as_str()));
            assert_eq!(got, want_src, "{event}");
        }
        let issue = describe(
            &headers(&[("X-GitHub-Event", "issues")]),
            &json!({"action": "opened", "issue": {"number": 12}, "repository": repo}),
        );
        let detail = issue.source.map(|s| s.detail);
        assert_eq!(
            detail,
            json!({"repo": "octo/hello", "number": 12})
                .as_object()
                .cloned()
        );
    }

    #[test]
    fn an_enterprise_servers_events_name_it_in_their_source() {
        let payload = json!({"action": "opened", "issue": {"number": 12},
                             "repository": {"full_name": "octo/hello"}});
        let h = headers(&[
            ("X-GitHub-Event", "issues"),
            (ENTERPRISE_HOST, "ghe.example.com"),
        ]);
        let detail = describe(&h, &payload).source.expect("source").detail;
        assert_eq!(detail["enterprise_host"], "ghe.example.com");
    }

    #[test]
    fn a_review_comment_is_answered_in_the_thread_its_first_comment_names() {
        let review_comment = |comment: Value| {
            let payload = json!({"action": "created", "comment": comment,
                                 "pull_request": {"number": 3},
                                 "repository": {"full_name": "octo/hello"}});
            let h = headers(&[("X-GitHub-Event", "pull_request_review_comment")]);
            describe(&h, &payload).source.expect("source").detail["review_comment"].clone()
        };
        for (comment, thread) in [
            (json!({"id": 43, "in_reply_to_id": 42}), json!(42)),
            (json!({"id": 42}), json!(42)),
            (json!({"id": 42, "in_reply_to_id": null}), json!(42)),
        ] {
            assert_eq!(review_comment(comment.clone()), thread, "{comment}");
        }
    }
}
