//! Jira Cloud / Data Center admin webhooks: the receive path's verify + describe step
//! (`X-Hub-Signature: sha256=<hex>`, `webhookEvent`, `X-Atlassian-Webhook-Identifier`).

use axum::http::HeaderMap;
use serde_json::Value;

use super::common::{
    check_hmac, decode_hex, described, detail, header, raw_at, secret_bytes, source, str_at,
};
use super::{Described, KeyUsed, Request, Secrets, VerifyError};

const SIGNATURE: &str = "X-Hub-Signature";

/// WebSub `method=signature`: Jira always sends the `sha256=` prefix, so a bare hex value is
/// refused rather than guessed at. There is no signed timestamp, so no replay window.
pub(super) fn verify(secrets: Secrets<'_>, req: &Request<'_>) -> Result<KeyUsed, VerifyError> {
    let Some(value) = header(req.headers, SIGNATURE) else {
        return Err(if signed_by_connect_app(req) {
            VerifyError::Unsupported(CONNECT_APP)
        } else {
            VerifyError::MissingHeader(SIGNATURE)
        });
    };
    let hex_sig = value
        .strip_prefix("sha256=")
        .ok_or(VerifyError::Malformed("expected sha256=<hex>"))?;
    let sig = decode_hex(hex_sig)?;
    secrets.try_each(|secret| check_hmac(secret_bytes(secret)?, &[req.body], &sig))
}

/// Why a Connect app's webhook is refused: its JWT is signed with the app's shared secret,
/// agreed when the app is installed, which a webhook here never learns.
const CONNECT_APP: &str = "JWT-signed webhooks (from a Jira Connect app) are not supported: \
     register an admin webhook with a secret in Jira (Settings > System > WebHooks) at this \
     URL; it signs each delivery with X-Hub-Signature";

/// A Connect app sends its JWT as `Authorization: JWT <token>` or in the `jwt` query
/// parameter.
fn signed_by_connect_app(req: &Request<'_>) -> bool {
    let in_header = header(req.headers, "authorization").is_some_and(|v| {
        v.get(..4)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("jwt "))
    });
    let in_query = req.query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("jwt"))
    });
    in_header || in_query
}

/// `jira:issue_created`, `comment_created`, ...; comment events carry their issue too, so the
/// source is the issue key in both cases.
pub(super) fn describe(headers: &HeaderMap, payload: &Value) -> Described {
    let event_type = str_at(payload, "/webhookEvent").unwrap_or_else(|| "unknown".into());
    let delivery = header(headers, "X-Atlassian-Webhook-Identifier").map(str::to_owned);
    // A comment event without its issue (older Data Center senders) names the issue in the
    // comment's own address, `…/rest/api/2/issue/10002/comment/10103`, as a worklog event
    // (which never carries it) does in the worklog's: Jira takes the id where a key goes.
    let issue_in = |item: &str| {
        let address = str_at(payload, &format!("/{item}/self"))?;
        let (_, after) = address.split_once("/issue/")?;
        let id = after.split('/').next()?;
        (!id.is_empty() && after[id.len()..].starts_with(&format!("/{item}")))
            .then(|| id.to_string())
    };
    let key = str_at(payload, "/issue/key")
        .or_else(|| issue_in("comment"))
        .or_else(|| issue_in("worklog"))
        .or_else(|| str_at(payload, "/worklog/issueId"));
    let issue_id = issue_id(payload);
    let src = key.map(|key| {
        // A comment only some may see (a role's or group's; a service desk's internal note)
        // is answered as privately as it was made.
        let internal = payload.pointer("/comment/jsdPublic") == Some(&Value::Bool(false));
        let d = detail([
            ("key", Some(Value::String(key.clone()))),
            ("id", raw_at(payload, "/issue/id")),
            // The issue's number, which stays when its key changes (a move to another
            // project) and is all an older comment event names it by: replies find the
            // questions asked on the issue by it (`tasks::waiting_on_issue`).
            ("issue_id", issue_id.map(Value::String)),
            // The issue's address names its site; a comment's does too, where a sender
            // leaves the issue's out.
            (
                "self",
                raw_at(payload, "/issue/self")
                    .or_else(|| raw_at(payload, "/comment/self"))
                    .or_else(|| raw_at(payload, "/worklog/self")),
            ),
            (
                "visibility",
                raw_at(payload, "/comment/visibility")
                    .or_else(|| raw_at(payload, "/worklog/visibility"))
                    .filter(Value::is_object),
            ),
            ("internal", internal.then_some(Value::Bool(true))),
        ]);
        source("jira.issue", key, d)
    });
    described(event_type, delivery, src)
}

/// The families of events about something other than an issue (Jira Software's sprints and
/// boards, a project, a version, an issue link between two): none names an issue to
/// comment on. Attachments are left out, as some senders may add their issue.
const NOT_ABOUT_AN_ISSUE: [&str; 9] = [
    "sprint_",
    "board_",
    "project_",
    "jira:version_",
    "user_",
    "filter_",
    "option_",
    "issuetype_",
    "issuelink_",
];

/// Whether events a trigger matches can name an issue (and so a thread to reply on): all but
/// those of a family above. A pattern is judged by what comes before its first `*`, so one
/// that could reach beyond a family (`*_created`, `sprint*`) may.
pub(super) fn may_name_an_issue(trigger: &str) -> bool {
    let fixed = trigger.split('*').next().unwrap_or_default();
    !NOT_ABOUT_AN_ISSUE
        .iter()
        .any(|family| fixed.starts_with(family))
}

/// The issue's id (`10002`), as text: the issue's own, or the one a comment's or worklog's
/// address names (`…/rest/api/2/issue/10002/comment/10103`), or a worklog's `issueId`. None
/// when only a key names it.
pub fn issue_id(payload: &Value) -> Option<String> {
    let numeric =
        |id: String| (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(id);
    let in_address = |item: &str| {
        let address = str_at(payload, &format!("/{item}/self"))?;
        let (_, after) = address.split_once("/issue/")?;
        let (id, rest) = after.split_once('/')?;
        (rest.split('/').next() == Some(item)).then(|| id.to_string())
    };
    str_at(payload, "/issue/id")
        .and_then(numeric)
        .or_else(|| in_address("comment").and_then(numeric))
        .or_else(|| in_address("worklog").and_then(numeric))
        .or_else(|| str_at(payload, "/worklog/issueId").and_then(numeric))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::common::test_support::{headers, hex_hmac, only, req, rotating};
    use serde_json::json;

    const SECRET: &str = "jira-secret";
    const BODY: &[u8] = br#"{"webhookEvent":"jira:issue_created"}"#;

    #[test]
    fn verify_table() {
        let good = format!("sha256={}", hex_hmac(SECRET, &[BODY]));
        let old = format!("sha256={}", hex_hmac("old", &[BODY]));
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
                "tampered",
                Some(&good),
                b"{}",
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
                "bare hex",
                Some(&bare),
                BODY,
                only(SECRET),
                Err(VerifyError::Malformed("expected sha256=<hex>")),
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
            let h = headers(&sig.map(|s| vec![(SIGNATURE, s)]).unwrap_or_default());
            assert_eq!(verify(secrets, &req(&h, body, 0)), want, "{name}");
        }
    }

    /// An unsigned request is told it lacks the signature, unless a Connect app's JWT is
    /// there (its header in any case, or a `jwt` query parameter), which is told why it is
    /// not taken; a signed one is checked whatever JWT comes with it.
    #[test]
    fn a_connect_apps_jwt_is_refused_as_unsupported_and_nothing_else_is() {
        let good = format!("sha256={}", hex_hmac(SECRET, &[BODY]));
        let unsupported = Err(VerifyError::Unsupported(CONNECT_APP));
        let missing = Err(VerifyError::MissingHeader(SIGNATURE));
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, &'a str)>,
            Option<&'a str>,
            Result<KeyUsed, VerifyError>,
        );
        let cases: Vec<Case> = vec![
            (
                "JWT header",
                vec![("Authorization", "JWT eyJ.x.y")],
                None,
                unsupported.clone(),
            ),
            (
                "jwt header",
                vec![("Authorization", "jwt eyJ.x.y")],
                None,
                unsupported.clone(),
            ),
            (
                "jwt query",
                vec![],
                Some("user=1&jwt=eyJ.x.y"),
                unsupported.clone(),
            ),
            (
                "jwt query first",
                vec![],
                Some("jwt=eyJ.x.y"),
                unsupported.clone(),
            ),
            (
                "bearer",
                vec![("Authorization", "Bearer eyJ.x.y")],
                None,
                missing.clone(),
            ),
            (
                "short",
                vec![("Authorization", "JWT")],
                None,
                missing.clone(),
            ),
            (
                "other query",
                vec![],
                Some("jwtx=1&xjwt=2"),
                missing.clone(),
            ),
            ("nothing", vec![], None, missing.clone()),
            (
                "signed with a JWT too",
                vec![("Authorization", "JWT eyJ.x.y"), (SIGNATURE, good.as_str())],
                Some("jwt=eyJ.x.y"),
                Ok(KeyUsed::Current),
            ),
        ];
        for (name, pairs, query, want) in cases {
            let h = headers(&pairs);
            let request = Request {
                query,
                ..req(&h, BODY, 0)
            };
            assert_eq!(verify(only(SECRET), &request), want, "{name}");
        }
    }

    #[test]
    fn describe_reads_issue() {
        let h = headers(&[("X-Atlassian-Webhook-Identifier", "wh-1")]);
        let payload = json!({"webhookEvent": "comment_created", "comment": {"id": "5"},
            "issue": {"id": "10001", "key": "TEST-1", "self": "https://x/rest/api/2/10001"}});
        let d = describe(&h, &payload);
        assert_eq!(d.event_type, "comment_created");
        assert_eq!(d.delivery_id.as_deref(), Some("wh-1"));
        let src = d.source.expect("source");
        assert_eq!(
            (src.kind.as_str(), src.key.as_str()),
            ("jira.issue", "TEST-1")
        );
        let want = json!({"key": "TEST-1", "id": "10001", "issue_id": "10001",
            "self": "https://x/rest/api/2/10001"});
        assert_eq!(Some(src.detail), want.as_object().cloned());
        assert_eq!(describe(&headers(&[]), &json!({})).event_type, "unknown");
        // A comment event without its issue: the comment's address names the issue.
        let bare = json!({"webhookEvent": "comment_created", "comment": {"id": "10103",
            "self": "https://acme.atlassian.net/rest/api/2/issue/10002/comment/10103"}});
        let src = describe(&h, &bare).source.expect("source");
        assert_eq!(
            (src.kind.as_str(), src.key.as_str()),
            ("jira.issue", "10002")
        );
        assert_eq!(src.detail["issue_id"], "10002");
        let elsewhere = json!({"comment": {"self": "https://x/rest/api/2/issue/10002/worklog/1"}});
        assert!(describe(&h, &elsewhere).source.is_none());
        // A worklog event never carries its issue: the worklog names it.
        let self_ = "https://acme.atlassian.net/rest/api/2/issue/10148/worklog/10000";
        for worklog in [
            json!({"self": self_, "issueId": "10148"}),
            json!({"self": self_}),
            json!({"issueId": "10148"}),
        ] {
            let logged = json!({"webhookEvent": "worklog_created", "worklog": worklog});
            let src = describe(&h, &logged).source.expect("source");
            assert_eq!(
                (src.kind.as_str(), src.key.as_str()),
                ("jira.issue", "10148"),
                "{logged}"
            );
            assert_eq!(src.detail["issue_id"], "10148", "{logged}");
        }
        // A worklog only a role may see is answered as privately.
        let visibility = json!({"type": "role", "value": "Administrators"});
        let restricted = json!({"webhookEvent": "worklog_created",
            "worklog": {"self": self_, "visibility": visibility}});
        let src = describe(&h, &restricted).source.expect("source");
        assert_eq!(src.detail.get("visibility"), Some(&visibility));
    }

    #[test]
    fn the_issue_id_is_read_wherever_the_event_names_it() {
        let comment_at = "https://jira.acme.test/rest/api/2/issue/26313/comment/10103";
        let cases = [
            (
                json!({"issue": {"id": "10001", "key": "OPS-1"}}),
                Some("10001"),
            ),
            (
                json!({"issue": {"id": 10001, "key": "OPS-1"}}),
                Some("10001"),
            ),
            (json!({"issue": {"key": "OPS-1"}}), None),
            (json!({"issue": {"id": "OPS-1"}}), None),
            (json!({"comment": {"self": comment_at}}), Some("26313")),
            (
                json!({"comment": {"self": "https://x/rest/api/2/issue/OPS-1/comment/5"}}),
                None,
            ),
            (
                json!({"comment": {"self": "https://x/rest/api/2/issue/7/commentary/5"}}),
                None,
            ),
            (
                json!({"worklog": {"self": "https://x/rest/api/2/issue/10148/worklog/1"}}),
                Some("10148"),
            ),
            (json!({"worklog": {"issueId": "10148"}}), Some("10148")),
            (
                json!({"issue": {"id": ""}, "comment": {"self": comment_at}}),
                Some("26313"),
            ),
            (json!({}), None),
        ];
        for (payload, want) in cases {
            assert_eq!(issue_id(&payload).as_deref(), want, "{payload}");
        }
    }
}
