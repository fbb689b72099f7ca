//! Sample deliveries: the headers and body each provider sends for an event type, so
//! `test_webhook` can exercise a webhook end to end (sign with `sign::sign`, then the
//! ordinary verify + describe path). Pure: the clock is passed in; only ids are random, so
//! repeated tests are not deduplicated as retries of one delivery.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Provider;

/// One delivery as the provider would send it, before signing.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The event type `describe` reports for this delivery (the requested one, or the
    /// provider's default).
    pub event_type: String,
    /// The provider's event, delivery and content-type headers (no signature yet).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The type used when none is asked for: the event people most often wire up first.
pub fn default_event_type(provider: Provider) -> &'static str {
    match provider {
        Provider::GitHub => "issues.opened",
        Provider::GitLab => "issue.open",
        Provider::Slack => "message.channels",
        Provider::Jira => "jira:issue_created",
        Provider::Sentry => "issue.created",
        Provider::Linear => "Issue.create",
        Provider::Stripe => "payment_intent.succeeded",
        Provider::StandardWebhooks => "test.event",
        Provider::OpenWebUi => "chat.finished",
        Provider::Custom => "test.event",
    }
}

/// The types with a realistic built-in body. Any other type still gets a sample: a minimal
/// payload in the provider's shape that carries the type.
pub fn builtin_event_types(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::GitHub => &[
            "issues.opened",
            "issues.labeled",
            "issues.closed",
            "issue_comment.created",
            "pull_request.opened",
            "pull_request.closed",
            "pull_request_review.submitted",
            "push",
            "ping",
        ],
        Provider::GitLab => &[
            "issue.open",
            "issue.close",
            "merge_request.open",
            "merge_request.merge",
            "note",
            "push",
            "tag_push",
            "pipeline",
        ],
        Provider::Slack => &[
            "message.channels",
            "message.groups",
            "message.im",
            "message.mpim",
            "message",
            "app_mention",
            "reaction_added",
            "/deploy",
            "block_actions",
            "view_submission",
            "url_verification",
        ],
        Provider::Jira => &[
            "jira:issue_created",
            "jira:issue_updated",
            "jira:issue_deleted",
            "comment_created",
            "comment_updated",
        ],
        Provider::Sentry => &[
            "issue.created",
            "issue.resolved",
            "issue.assigned",
            "event_alert.triggered",
            "metric_alert.critical",
            "error.created",
            "comment.created",
            "installation.created",
        ],
        Provider::Linear => &[
            "Issue.create",
            "Issue.update",
            "Issue.remove",
            "Comment.create",
        ],
        Provider::Stripe => &[
            "payment_intent.succeeded",
            "payment_intent.payment_failed",
            "invoice.paid",
            "invoice.payment_failed",
            "customer.created",
            "customer.subscription.created",
            "checkout.session.completed",
            "charge.refunded",
        ],
        Provider::StandardWebhooks => &["test.event"],
        Provider::OpenWebUi => &[
            "chat.finished",
            "user.created",
            "auth.signup",
            "message.created",
            "system.startup.completed",
            "notification.chat",
            "notification.test",
        ],
        Provider::Custom => &["test.event"],
    }
}

/// A realistic delivery of `event_type` (default: [`default_event_type`]).
///
/// With `payload`, that value is the body (form-encoded where the provider sends a form:
/// Slack slash commands and interactivity); the headers still come from the event type, and
/// where the type lives in the body (GitHub/Sentry `action`, GitLab `object_kind` and
/// `object_attributes.action`, Jira `webhookEvent`, Linear `type`/`action`, Stripe and
/// Standard Webhooks `type`, Open WebUI `event`, Slack `event.type`) it is set only when
/// absent. Linear also gets a fresh `webhookTimestamp` when the payload has none, as Linear
/// always sends one and its verifier checks it.
///
/// Err only for an event type no sender could carry (blank, spaces, control characters).
pub fn sample(
    provider: Provider,
    event_type: Option<&str>,
    payload: Option<&Value>,
    now_ms: i64,
) -> Result<Sample, String> {
    let event_type = match event_type.map(str::trim) {
        Some(t) if !t.is_empty() => t,
        _ => default_event_type(provider),
    };
    if event_type.len() > 200 || !event_type.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
        return Err(format!(
            "event type {event_type:?} is not valid: use printable ASCII without spaces. \
             Built-in {provider} types: {} (any other name gets a minimal payload)",
            builtin_event_types(provider).join(", ")
        ));
    }
    let cx = Cx::new(now_ms);
    let out = match provider {
        Provider::GitHub => github(event_type, payload, &cx),
        Provider::GitLab => gitlab(event_type, payload, &cx),
        Provider::Slack => slack(event_type, payload, &cx),
        Provider::Jira => jira(event_type, payload, &cx),
        Provider::Sentry => sentry(event_type, payload, &cx),
        Provider::Linear => linear(event_type, payload, &cx),
        Provider::Stripe => stripe(event_type, payload, &cx),
        Provider::StandardWebhooks => standard(event_type, payload, &cx),
        Provider::OpenWebUi => openwebui(event_type, payload, &cx),
        Provider::Custom => custom(event_type, payload, &cx),
    };
    Ok(Sample {
        event_type: event_type.to_owned(),
        headers: out.headers,
        body: out.body,
    })
}

// ---------------------------------------------------------------------------------------
// Plumbing

/// The clock in the forms the payloads use.
struct Cx {
    ms: i64,
    secs: i64,
    /// RFC 3339, whole seconds (`2025-11-23T12:00:00Z`).
    iso: String,
}

impl Cx {
    fn new(ms: i64) -> Self {
        let secs = ms.div_euclid(1000);
        let iso = time::OffsetDateTime::from_unix_timestamp(secs)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
        Self { ms, secs, iso }
    }

    /// RFC 3339 with milliseconds, as Linear writes times.
    fn iso_ms(&self) -> String {
        let ms = self.ms.rem_euclid(1000);
        match self.iso.strip_suffix('Z') {
            Some(base) => format!("{base}.{ms:03}Z"),
            None => self.iso.clone(),
        }
    }
}

/// A request under construction: headers in send order and the encoded body.
struct Out {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Out {
    fn json(body: &Value, content_type: &str) -> Self {
        Self {
            headers: vec![("Content-Type".into(), content_type.into())],
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }

    /// `application/x-www-form-urlencoded`: an object's fields, scalars as text and nested
    /// values as JSON text. Anything but an object is sent as JSON, unchanged.
    fn form(body: &Value) -> Self {
        let Some(fields) = body.as_object() else {
            return Self::json(body, "application/json");
        };
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            ser.append_pair(k, &scalar_text(v));
        }
        Self {
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: ser.finish().into_bytes(),
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `base.sub` → (`base`, `sub`); a type without a (non-empty) second part has no action.
fn split(t: &str) -> (&str, Option<&str>) {
    match t.split_once('.') {
        Some((base, sub)) if !base.is_empty() && !sub.is_empty() => (base, Some(sub)),
        _ => (t, None),
    }
}

/// Sets `path` to `value` unless something non-null is already there, creating objects on
/// the way. A non-object in the way (the payload is an array, `event` is a string) is left
/// alone: the caller's body wins.
fn set_if_absent(v: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for key in parents {
        let Value::Object(map) = cur else { return };
        let slot = map.entry(*key).or_insert(Value::Null);
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        cur = slot;
    }
    if let Value::Object(map) = cur {
        let slot = map.entry(*last).or_insert(Value::Null);
        if slot.is_null() {
            *slot = value;
        }
    }
}

/// The caller's payload with `fill` applied (which only adds what is absent).
fn given(payload: &Value, fill: impl FnOnce(&mut Value)) -> Value {
    let mut p = payload.clone();
    fill(&mut p);
    p
}

/// Inserts `key: value` into an object body (built-ins only; they are always objects).
fn put(body: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = body {
        map.insert(key.to_owned(), value);
    }
}

fn uuid() -> String {
    Uuid::new_v4().to_string()
}

/// 32 lowercase hex digits (Sentry's `Request-ID`, Stripe-style id suffixes).
fn hex_id() -> String {
    Uuid::new_v4().simple().to_string()
}

/// A short alphanumeric suffix for provider ids (`evt_test_...`, `Ev...`).
fn short_id(len: usize) -> String {
    let mut s = hex_id().to_uppercase();
    s.truncate(len);
    s
}

// ---------------------------------------------------------------------------------------
// GitHub

fn github(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let (event, action) = split(t);
    let body = match payload {
        Some(p) => given(p, |p| {
            if let Some(a) = action {
                set_if_absent(p, &["action"], json!(a));
            }
        }),
        None => github_body(event, action, cx),
    };
    Out::json(&body, "application/json")
        .header("User-Agent", "GitHub-Hookshot/webhook-mcp-test")
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", format!("test-{}", uuid()))
        .header("X-GitHub-Hook-ID", "0")
        .header("X-GitHub-Hook-Installation-Target-Type", "repository")
        .header("X-GitHub-Hook-Installation-Target-ID", "1296269")
}

fn github_user(login: &str, id: u64) -> Value {
    json!({
        "login": login,
        "id": id,
        "type": "User",
        "site_admin": false,
        "html_url": format!("https://github.com/{login}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
    })
}

fn github_repo(cx: &Cx) -> Value {
    json!({
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": "hello-world",
        "full_name": "octo-org/hello-world",
        "private": false,
        "owner": {
            "login": "octo-org",
            "id": 6811672,
            "type": "Organization",
            "html_url": "https://github.com/octo-org",
        },
        "html_url": "https://github.com/octo-org/hello-world",
        "description": "A sample repository for webhook tests",
        "fork": false,
        "url": "https://api.github.com/repos/octo-org/hello-world",
        "clone_url": "https://github.com/octo-org/hello-world.git",
        "default_branch": "main",
        "visibility": "public",
        "pushed_at": cx.secs,
        "updated_at": cx.iso,
    })
}

fn github_label() -> Value {
    json!({
        "id": 208045946,
        "name": "bug",
        "color": "d73a4a",
        "default": true,
        "description": "Something isn't working",
    })
}

fn github_issue(action: Option<&str>, cx: &Cx) -> Value {
    let closed = action == Some("closed");
    json!({
        "id": 1347,
        "node_id": "MDU6SXNzdWUxMzQ3",
        "number": 42,
        "title": "Login page returns 500 after password reset",
        "body": "Steps to reproduce:\n1. Reset the password\n2. Log in with the new one\n\nExpected: dashboard. Actual: HTTP 500.",
        "user": github_user("octocat", 583231),
        "labels": [github_label()],
        "state": if closed { "closed" } else { "open" },
        "state_reason": if closed { Value::from("completed") } else { Value::Null },
        "locked": false,
        "assignee": null,
        "assignees": [],
        "milestone": null,
        "comments": 0,
        "created_at": cx.iso,
        "updated_at": cx.iso,
        "closed_at": if closed { Value::from(cx.iso.clone()) } else { Value::Null },
        "author_association": "MEMBER",
        "url": "https://api.github.com/repos/octo-org/hello-world/issues/42",
        "html_url": "https://github.com/octo-org/hello-world/issues/42",
    })
}

fn github_pull_request(action: Option<&str>, cx: &Cx) -> Value {
    let closed = action == Some("closed");
    json!({
        "id": 279147437,
        "node_id": "MDExOlB1bGxSZXF1ZXN0Mjc5MTQ3NDM3",
        "number": 7,
        "title": "Fix 500 on login after password reset",
        "body": "Fixes #42: the session cache is invalidated before the redirect.",
        "state": if closed { "closed" } else { "open" },
        "draft": false,
        "merged": closed,
        "locked": false,
        "user": github_user("octocat", 583231),
        "labels": [github_label()],
        "head": {
            "label": "octo-org:fix/login-500",
            "ref": "fix/login-500",
            "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        },
        "base": {
            "label": "octo-org:main",
            "ref": "main",
            "sha": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
        },
        "commits": 1,
        "additions": 12,
        "deletions": 3,
        "changed_files": 2,
        "created_at": cx.iso,
        "updated_at": cx.iso,
        "closed_at": if closed { Value::from(cx.iso.clone()) } else { Value::Null },
        "merged_at": if closed { Value::from(cx.iso.clone()) } else { Value::Null },
        "url": "https://api.github.com/repos/octo-org/hello-world/pulls/7",
        "html_url": "https://github.com/octo-org/hello-world/pull/7",
        "diff_url": "https://github.com/octo-org/hello-world/pull/7.diff",
    })
}

fn github_body(event: &str, action: Option<&str>, cx: &Cx) -> Value {
    let sender = github_user("octocat", 583231);
    let mut body = match event {
        "issues" => {
            let mut b = json!({ "issue": github_issue(action, cx) });
            if matches!(action, Some("labeled" | "unlabeled")) {
                put(&mut b, "label", github_label());
            }
            if action == Some("assigned") {
                put(&mut b, "assignee", sender.clone());
            }
            b
        }
        "issue_comment" => json!({
            "issue": github_issue(Some("opened"), cx),
            "comment": {
                "id": 1362880291,
                "node_id": "IC_kwDOABJ0Ns5RPU8j",
                "body": "I can reproduce this on staging too.",
                "user": github_user("hubot", 1),
                "created_at": cx.iso,
                "updated_at": cx.iso,
                "author_association": "CONTRIBUTOR",
                "url": "https://api.github.com/repos/octo-org/hello-world/issues/comments/1362880291",
                "html_url": "https://github.com/octo-org/hello-world/issues/42#issuecomment-1362880291",
            },
        }),
        "pull_request" => json!({
            "number": 7,
            "pull_request": github_pull_request(action, cx),
        }),
        "pull_request_review" => json!({
            "pull_request": github_pull_request(Some("opened"), cx),
            "review": {
                "id": 80,
                "body": "Looks good, one nit.",
                "state": "approved",
                "user": github_user("hubot", 1),
                "submitted_at": cx.iso,
                "html_url": "https://github.com/octo-org/hello-world/pull/7#pullrequestreview-80",
            },
        }),
        "pull_request_review_comment" => json!({
            "pull_request": github_pull_request(Some("opened"), cx),
            "comment": {
                "id": 426899381,
                "body": "Could this be a constant?",
                "path": "src/session.rs",
                "line": 12,
                "user": github_user("hubot", 1),
                "created_at": cx.iso,
                "html_url": "https://github.com/octo-org/hello-world/pull/7#discussion_r426899381",
            },
        }),
        "push" => json!({
            "ref": "refs/heads/main",
            "before": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
            "after": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
            "created": false,
            "deleted": false,
            "forced": false,
            "base_ref": null,
            "compare": "https://github.com/octo-org/hello-world/compare/9049f1265b7d...6dcb09b5b578",
            "commits": [{
                "id": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
                "distinct": true,
                "message": "Fix 500 on login after password reset",
                "timestamp": cx.iso,
                "url": "https://github.com/octo-org/hello-world/commit/6dcb09b5b57875f334f61aebed695e2e4193db5e",
                "author": {"name": "Monalisa Octocat", "email": "octocat@github.com", "username": "octocat"},
                "committer": {"name": "Monalisa Octocat", "email": "octocat@github.com", "username": "octocat"},
                "added": [],
                "removed": [],
                "modified": ["src/session.rs"],
            }],
            "head_commit": {
                "id": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                "message": "Fix 500 on login after password reset",
                "timestamp": cx.iso,
                "author": {"name": "Monalisa Octocat", "email": "octocat@github.com", "username": "octocat"},
            },
            "pusher": {"name": "octocat", "email": "octocat@github.com"},
        }),
        "ping" => json!({
            "zen": "Design for failure.",
            "hook_id": 123456789,
            "hook": {
                "type": "Repository",
                "id": 123456789,
                "name": "web",
                "active": true,
                "events": ["*"],
                "config": {"content_type": "json", "insecure_ssl": "0", "url": "https://example.invalid/webhooks"},
                "created_at": cx.iso,
                "updated_at": cx.iso,
            },
        }),
        _ => json!({}),
    };
    if let Some(a) = action {
        put(&mut body, "action", json!(a));
    }
    put(&mut body, "repository", github_repo(cx));
    put(&mut body, "sender", sender);
    body
}

// ---------------------------------------------------------------------------------------
// GitLab

fn gitlab(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let (kind, action) = split(t);
    let body = match payload {
        Some(p) => given(p, |p| {
            set_if_absent(p, &["object_kind"], json!(kind));
            if let Some(a) = action {
                set_if_absent(p, &["object_attributes", "action"], json!(a));
            }
        }),
        None => gitlab_body(kind, action, cx),
    };
    let idempotency = uuid();
    Out::json(&body, "application/json")
        .header("User-Agent", "GitLab/17.6.0")
        .header("X-Gitlab-Event", gitlab_event_header(kind))
        .header("X-Gitlab-Instance", "https://gitlab.example.com")
        .header("X-Gitlab-Webhook-UUID", uuid())
        .header("X-Gitlab-Event-UUID", uuid())
        .header("Idempotency-Key", idempotency)
}

/// GitLab's human label for an `object_kind` (`Issue Hook`, `Merge Request Hook`, ...).
fn gitlab_event_header(kind: &str) -> String {
    let known = match kind {
        "build" => Some("Job Hook"),
        "tag_push" => Some("Tag Push Hook"),
        "wiki_page" => Some("Wiki Page Hook"),
        "feature_flag" => Some("Feature Flag Hook"),
        "emoji" => Some("Emoji Hook"),
        _ => None,
    };
    if let Some(k) = known {
        return k.into();
    }
    let words: Vec<String> = kind
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("{} Hook", words.join(" "))
}

fn gitlab_user() -> Value {
    json!({
        "id": 1,
        "name": "Administrator",
        "username": "root",
        "avatar_url": "https://www.gravatar.com/avatar/e64c7d89f26bd1972efa854d13d7dd61?s=80&d=identicon",
        "email": "admin@example.com",
    })
}

fn gitlab_project() -> Value {
    json!({
        "id": 15,
        "name": "webapp",
        "description": "A sample project for webhook tests",
        "web_url": "https://gitlab.example.com/acme/webapp",
        "git_ssh_url": "git@gitlab.example.com:acme/webapp.git",
        "git_http_url": "https://gitlab.example.com/acme/webapp.git",
        "namespace": "Acme",
        "visibility_level": 20,
        "path_with_namespace": "acme/webapp",
        "default_branch": "main",
        "homepage": "https://gitlab.example.com/acme/webapp",
    })
}

fn gitlab_label() -> Value {
    json!({"id": 206, "title": "bug", "color": "#dc143c", "type": "ProjectLabel"})
}

fn gitlab_repository() -> Value {
    json!({
        "name": "webapp",
        "url": "git@gitlab.example.com:acme/webapp.git",
        "homepage": "https://gitlab.example.com/acme/webapp",
    })
}

fn gitlab_commit(cx: &Cx) -> Value {
    json!({
        "id": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
        "message": "Fix 500 on login after password reset\n",
        "title": "Fix 500 on login after password reset",
        "timestamp": cx.iso,
        "url": "https://gitlab.example.com/acme/webapp/-/commit/b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
        "author": {"name": "Administrator", "email": "admin@example.com"},
        "added": [],
        "modified": ["app/session.rb"],
        "removed": [],
    })
}

fn gitlab_body(kind: &str, action: Option<&str>, cx: &Cx) -> Value {
    let mut body = match kind {
        "issue" => {
            let state = match action {
                Some("close") => "closed",
                _ => "opened",
            };
            json!({
                "object_attributes": {
                    "id": 301,
                    "iid": 17,
                    "title": "Login page returns 500 after password reset",
                    "description": "Steps to reproduce: reset the password, then log in.",
                    "state": state,
                    "confidential": false,
                    "author_id": 1,
                    "project_id": 15,
                    "created_at": cx.iso,
                    "updated_at": cx.iso,
                    "labels": [gitlab_label()],
                    "url": "https://gitlab.example.com/acme/webapp/-/issues/17",
                },
                "labels": [gitlab_label()],
                "assignees": [],
            })
        }
        "merge_request" => {
            let state = match action {
                Some("merge") => "merged",
                Some("close") => "closed",
                _ => "opened",
            };
            json!({
                "object_attributes": {
                    "id": 99,
                    "iid": 5,
                    "title": "Fix 500 on login after password reset",
                    "description": "Closes #17",
                    "state": state,
                    "draft": false,
                    "merge_status": "can_be_merged",
                    "source_branch": "fix/login-500",
                    "target_branch": "main",
                    "source_project_id": 15,
                    "target_project_id": 15,
                    "author_id": 1,
                    "created_at": cx.iso,
                    "updated_at": cx.iso,
                    "last_commit": gitlab_commit(cx),
                    "labels": [gitlab_label()],
                    "url": "https://gitlab.example.com/acme/webapp/-/merge_requests/5",
                },
                "labels": [gitlab_label()],
            })
        }
        "note" => json!({
            "object_attributes": {
                "id": 1244,
                "note": "I can reproduce this on staging too.",
                "noteable_type": "Issue",
                "author_id": 1,
                "project_id": 15,
                "created_at": cx.iso,
                "updated_at": cx.iso,
                "url": "https://gitlab.example.com/acme/webapp/-/issues/17#note_1244",
            },
            "issue": {
                "id": 301,
                "iid": 17,
                "title": "Login page returns 500 after password reset",
                "state": "opened",
                "labels": [gitlab_label()],
                "url": "https://gitlab.example.com/acme/webapp/-/issues/17",
            },
        }),
        "push" | "tag_push" => {
            let tag = kind == "tag_push";
            json!({
                "event_name": kind,
                "before": if tag { "0000000000000000000000000000000000000000" } else { "95790bf891e76fee5e1747ab589903a6a1f80f22" },
                "after": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
                "ref": if tag { "refs/tags/v1.0.0" } else { "refs/heads/main" },
                "checkout_sha": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
                "user_id": 1,
                "user_name": "Administrator",
                "user_username": "root",
                "user_email": "admin@example.com",
                "project_id": 15,
                "commits": [gitlab_commit(cx)],
                "total_commits_count": 1,
                "repository": gitlab_repository(),
            })
        }
        "pipeline" => json!({
            "object_attributes": {
                "id": 31,
                "iid": 3,
                "ref": "main",
                "tag": false,
                "sha": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
                "source": "push",
                "status": "success",
                "detailed_status": "passed",
                "stages": ["build", "test"],
                "created_at": cx.iso,
                "finished_at": cx.iso,
                "duration": 63,
                "url": "https://gitlab.example.com/acme/webapp/-/pipelines/31",
            },
            "commit": gitlab_commit(cx),
            "builds": [],
        }),
        _ => json!({}),
    };
    put(&mut body, "object_kind", json!(kind));
    if !matches!(kind, "push" | "tag_push") {
        put(&mut body, "event_type", json!(kind));
    }
    put(&mut body, "user", gitlab_user());
    put(&mut body, "project", gitlab_project());
    if matches!(kind, "issue" | "merge_request" | "note") {
        put(&mut body, "repository", gitlab_repository());
    }
    if let Some(a) = action {
        set_if_absent(&mut body, &["object_attributes", "action"], json!(a));
    }
    body
}

// ---------------------------------------------------------------------------------------
// Slack

const SLACK_TEAM: &str = "T0001ABCDEF";
const SLACK_APP: &str = "A0001ABCDEF";
const SLACK_USER: &str = "U0123ABCDEF";
const SLACK_BOT_USER: &str = "U0BOT00001";

/// Interactivity payload types, sent as a form with one `payload=<json>` field.
const SLACK_INTERACTIVE: &[&str] = &[
    "block_actions",
    "block_suggestion",
    "view_submission",
    "view_closed",
    "message_action",
    "shortcut",
    "interactive_message",
    "dialog_submission",
];

/// How a Slack event type is delivered.
enum SlackShape<'t> {
    /// Events API `event_callback`, with the inner `event.type` and, for message
    /// subscriptions, `event.channel_type`.
    Event {
        inner: &'t str,
        channel_type: Option<&'static str>,
    },
    Slash,
    Interactive,
    UrlVerification,
    SslCheck,
}

fn slack_shape(t: &str) -> SlackShape<'_> {
    let message = |channel_type| SlackShape::Event {
        inner: "message",
        channel_type: Some(channel_type),
    };
    match t {
        "message.channels" => message("channel"),
        "message.groups" => message("group"),
        "message.im" => message("im"),
        "message.mpim" => message("mpim"),
        "url_verification" => SlackShape::UrlVerification,
        "ssl_check" => SlackShape::SslCheck,
        _ if t.starts_with('/') => SlackShape::Slash,
        _ if SLACK_INTERACTIVE.contains(&t) => SlackShape::Interactive,
        _ => SlackShape::Event {
            inner: t,
            channel_type: None,
        },
    }
}

fn slack(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let shape = slack_shape(t);
    let body = match payload {
        Some(p) => given(p, |p| match &shape {
            SlackShape::Event {
                inner,
                channel_type,
            } => {
                set_if_absent(p, &["type"], json!("event_callback"));
                if p.get("type").and_then(Value::as_str) == Some("event_callback") {
                    set_if_absent(p, &["event", "type"], json!(inner));
                    if let Some(ct) = channel_type {
                        set_if_absent(p, &["event", "channel_type"], json!(ct));
                    }
                }
            }
            SlackShape::Slash => set_if_absent(p, &["command"], json!(t)),
            SlackShape::Interactive | SlackShape::UrlVerification => {
                set_if_absent(p, &["type"], json!(t));
            }
            SlackShape::SslCheck => set_if_absent(p, &["ssl_check"], json!("1")),
        }),
        None => slack_body(t, &shape, cx),
    };
    let out = match shape {
        SlackShape::Slash | SlackShape::SslCheck => Out::form(&body),
        SlackShape::Interactive if body.is_object() => {
            Out::form(&json!({ "payload": body.to_string() }))
        }
        _ => Out::json(&body, "application/json"),
    };
    out.header("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
}

fn slack_body(t: &str, shape: &SlackShape<'_>, cx: &Cx) -> Value {
    let ts = format!("{}.000100", cx.secs);
    match shape {
        SlackShape::Event {
            inner,
            channel_type,
        } => {
            let channel = match *channel_type {
                Some("im") => "D0123ABCDEF",
                Some("group") => "G0123ABCDEF",
                Some("mpim") => "G0456ABCDEF",
                _ => "C0123ABCDEF",
            };
            let event = match *inner {
                "message" => {
                    let mut e = json!({
                        "type": "message",
                        "user": SLACK_USER,
                        "text": "Deploy of webapp to staging finished",
                        "ts": ts,
                        "event_ts": ts,
                        "channel": channel,
                        "team": SLACK_TEAM,
                        "client_msg_id": uuid(),
                        "blocks": [],
                    });
                    if let Some(ct) = channel_type {
                        put(&mut e, "channel_type", json!(ct));
                    }
                    e
                }
                "app_mention" => json!({
                    "type": "app_mention",
                    "user": SLACK_USER,
                    "text": format!("<@{SLACK_BOT_USER}> please summarise this thread"),
                    "ts": ts,
                    "event_ts": ts,
                    "channel": channel,
                    "team": SLACK_TEAM,
                    "client_msg_id": uuid(),
                    "blocks": [],
                }),
                "reaction_added" | "reaction_removed" => json!({
                    "type": inner,
                    "user": SLACK_USER,
                    "reaction": "white_check_mark",
                    "item_user": SLACK_BOT_USER,
                    "item": {"type": "message", "channel": channel, "ts": format!("{}.000050", cx.secs - 60)},
                    "event_ts": ts,
                }),
                other => json!({
                    "type": other,
                    "user": SLACK_USER,
                    "channel": channel,
                    "event_ts": ts,
                }),
            };
            json!({
                "token": "XXYYZZ0000000000",
                "team_id": SLACK_TEAM,
                "api_app_id": SLACK_APP,
                "event": event,
                "type": "event_callback",
                "event_id": format!("Ev{}", short_id(10)),
                "event_time": cx.secs,
                "authorizations": [{
                    "enterprise_id": null,
                    "team_id": SLACK_TEAM,
                    "user_id": SLACK_BOT_USER,
                    "is_bot": true,
                    "is_enterprise_install": false,
                }],
                "is_ext_shared_channel": false,
                "event_context": format!("4-{}", short_id(24)),
            })
        }
        SlackShape::Slash => {
            let text = if t == "/deploy" {
                "webapp production"
            } else {
                ""
            };
            json!({
                "token": "XXYYZZ0000000000",
                "team_id": SLACK_TEAM,
                "team_domain": "acme",
                "channel_id": "C0123ABCDEF",
                "channel_name": "deploys",
                "user_id": SLACK_USER,
                "user_name": "alice",
                "command": t,
                "text": text,
                "api_app_id": SLACK_APP,
                "is_enterprise_install": "false",
                "response_url": format!("https://hooks.slack.com/commands/{SLACK_TEAM}/1234567890/{}", short_id(24)),
                "trigger_id": format!("{}.{}.{}", cx.secs, 1_234_567_890, hex_id()),
            })
        }
        SlackShape::Interactive => {
            let mut p = json!({
                "type": t,
                "team": {"id": SLACK_TEAM, "domain": "acme"},
                "user": {"id": SLACK_USER, "username": "alice", "name": "alice", "team_id": SLACK_TEAM},
                "api_app_id": SLACK_APP,
                "token": "XXYYZZ0000000000",
                "trigger_id": format!("{}.{}.{}", cx.secs, 1_234_567_890, hex_id()),
            });
            if t == "block_actions" || t == "message_action" || t == "interactive_message" {
                put(
                    &mut p,
                    "container",
                    json!({"type": "message", "message_ts": ts, "channel_id": "C0123ABCDEF", "is_ephemeral": false}),
                );
                put(
                    &mut p,
                    "channel",
                    json!({"id": "C0123ABCDEF", "name": "deploys"}),
                );
                put(
                    &mut p,
                    "message",
                    json!({"type": "message", "user": SLACK_BOT_USER, "ts": ts, "text": "Deploy webapp to production?"}),
                );
                put(
                    &mut p,
                    "response_url",
                    json!(format!(
                        "https://hooks.slack.com/actions/{SLACK_TEAM}/1234567890/{}",
                        short_id(24)
                    )),
                );
                put(
                    &mut p,
                    "actions",
                    json!([{"type": "button", "action_id": "approve", "block_id": "deploy", "value": "approve", "text": {"type": "plain_text", "text": "Approve"}, "action_ts": ts}]),
                );
            }
            if t.starts_with("view_") {
                put(
                    &mut p,
                    "view",
                    json!({"id": "V0123ABCDEF", "type": "modal", "callback_id": "deploy_form", "state": {"values": {}}}),
                );
            }
            p
        }
        SlackShape::UrlVerification => json!({
            "token": "XXYYZZ0000000000",
            "challenge": short_id(32),
            "type": "url_verification",
        }),
        SlackShape::SslCheck => json!({"ssl_check": "1", "token": "XXYYZZ0000000000"}),
    }
}

// ---------------------------------------------------------------------------------------
// Jira

fn jira(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let body = match payload {
        Some(p) => given(p, |p| set_if_absent(p, &["webhookEvent"], json!(t))),
        None => jira_body(t, cx),
    };
    Out::json(&body, "application/json; charset=UTF-8")
        .header("User-Agent", "Atlassian Webhook HTTP Client")
        .header("X-Atlassian-Webhook-Identifier", uuid())
        .header("X-Atlassian-Webhook-Flow", "Primary")
}

fn jira_user() -> Value {
    json!({
        "self": "https://acme.atlassian.net/rest/api/2/user?accountId=5b10ac8d82e05b22cc7d4ef5",
        "accountId": "5b10ac8d82e05b22cc7d4ef5",
        "displayName": "Alice Example",
        "active": true,
        "timeZone": "Europe/Berlin",
        "accountType": "atlassian",
    })
}

fn jira_issue(cx: &Cx) -> Value {
    json!({
        "id": "10042",
        "self": "https://acme.atlassian.net/rest/api/2/10042",
        "key": "PROJ-42",
        "fields": {
            "summary": "Login page returns 500 after password reset",
            "description": "Steps to reproduce: reset the password, then log in.",
            "issuetype": {"id": "10004", "name": "Bug", "subtask": false},
            "project": {"id": "10000", "key": "PROJ", "name": "Project", "projectTypeKey": "software"},
            "status": {"id": "10000", "name": "To Do", "statusCategory": {"key": "new", "name": "To Do"}},
            "priority": {"id": "2", "name": "High"},
            "labels": ["bug"],
            "reporter": jira_user(),
            "creator": jira_user(),
            "assignee": null,
            "created": cx.iso,
            "updated": cx.iso,
        },
    })
}

fn jira_body(t: &str, cx: &Cx) -> Value {
    let mut body = json!({
        "timestamp": cx.ms,
        "webhookEvent": t,
    });
    match t {
        "jira:issue_created" | "jira:issue_updated" | "jira:issue_deleted" => {
            let name = match t {
                "jira:issue_created" => "issue_created",
                "jira:issue_deleted" => "issue_deleted",
                _ => "issue_generic",
            };
            put(&mut body, "issue_event_type_name", json!(name));
            put(&mut body, "user", jira_user());
            put(&mut body, "issue", jira_issue(cx));
            if t == "jira:issue_updated" {
                put(
                    &mut body,
                    "changelog",
                    json!({
                        "id": "10123",
                        "items": [{
                            "field": "status",
                            "fieldtype": "jira",
                            "from": "10000",
                            "fromString": "To Do",
                            "to": "3",
                            "toString": "In Progress",
                        }],
                    }),
                );
            }
        }
        _ if t.starts_with("comment_") => {
            put(
                &mut body,
                "comment",
                json!({
                    "id": "10200",
                    "self": "https://acme.atlassian.net/rest/api/2/issue/10042/comment/10200",
                    "author": jira_user(),
                    "updateAuthor": jira_user(),
                    "body": "I can reproduce this on staging too.",
                    "created": cx.iso,
                    "updated": cx.iso,
                    "jsdPublic": true,
                }),
            );
            put(&mut body, "issue", jira_issue(cx));
        }
        _ => {}
    }
    body
}

// ---------------------------------------------------------------------------------------
// Sentry

fn sentry(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let (resource, action) = split(t);
    let body = match payload {
        Some(p) => given(p, |p| {
            if let Some(a) = action {
                set_if_absent(p, &["action"], json!(a));
            }
        }),
        None => sentry_body(resource, action, cx),
    };
    Out::json(&body, "application/json")
        .header("Request-ID", hex_id())
        .header("Sentry-Hook-Resource", resource)
}

fn sentry_issue(cx: &Cx, status: &str) -> Value {
    json!({
        "id": "1170820242",
        "shortId": "WEBAPP-3",
        "title": "ZeroDivisionError: division by zero",
        "culprit": "app.views.checkout in compute_total",
        "level": "error",
        "status": status,
        "substatus": if status == "unresolved" { "new" } else { "" },
        "platform": "python",
        "project": {"id": "1", "name": "webapp", "slug": "webapp", "platform": "python"},
        "type": "error",
        "metadata": {"type": "ZeroDivisionError", "value": "division by zero", "filename": "app/views/checkout.py"},
        "count": "1",
        "userCount": 1,
        "firstSeen": cx.iso,
        "lastSeen": cx.iso,
        "assignedTo": null,
        "url": "https://sentry.io/api/0/organizations/acme/issues/1170820242/",
        "web_url": "https://sentry.io/organizations/acme/issues/1170820242/",
        "project_url": "https://sentry.io/organizations/acme/issues/?project=1",
    })
}

fn sentry_event(cx: &Cx) -> Value {
    json!({
        "event_id": "68c0fa4b42d645b6a7d1d8e5c9e2a0f1",
        "issue_id": "1170820242",
        "project": 1,
        "title": "ZeroDivisionError: division by zero",
        "message": "",
        "level": "error",
        "platform": "python",
        "culprit": "app.views.checkout in compute_total",
        "datetime": cx.iso,
        "timestamp": cx.secs,
        "environment": "production",
        "release": "webapp@1.4.2",
        "tags": [["environment", "production"], ["level", "error"]],
        "url": "https://sentry.io/api/0/projects/acme/webapp/events/68c0fa4b42d645b6a7d1d8e5c9e2a0f1/",
        "web_url": "https://sentry.io/organizations/acme/issues/1170820242/events/68c0fa4b42d645b6a7d1d8e5c9e2a0f1/",
        "issue_url": "https://sentry.io/api/0/issues/1170820242/",
    })
}

fn sentry_body(resource: &str, action: Option<&str>, cx: &Cx) -> Value {
    let installation = json!({"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"});
    let app_actor = json!({"type": "application", "id": "sentry", "name": "Sentry"});
    let user_actor = json!({"type": "user", "id": 1, "name": "Alice Example"});
    let (data, actor) = match resource {
        "issue" => {
            let status = match action {
                Some("resolved") => "resolved",
                Some("ignored" | "archived") => "ignored",
                _ => "unresolved",
            };
            let mut issue = sentry_issue(cx, status);
            let actor = if action == Some("created") {
                app_actor
            } else {
                user_actor
            };
            if action == Some("assigned") {
                put(
                    &mut issue,
                    "assignedTo",
                    json!({"type": "user", "id": "1", "name": "Alice Example", "email": "alice@example.com"}),
                );
            }
            (json!({ "issue": issue }), actor)
        }
        "event_alert" => (
            json!({
                "event": sentry_event(cx),
                "triggered_rule": "Send a notification for new issues",
                "issue_alert": {
                    "title": "Send a notification for new issues",
                    "settings": [],
                },
            }),
            app_actor,
        ),
        "error" => (json!({ "error": sentry_event(cx) }), app_actor),
        "metric_alert" => (
            json!({
                "metric_alert": {
                    "id": "7",
                    "identifier": 7,
                    "organization_id": "1",
                    "projects": ["webapp"],
                    "status": 20,
                    "title": "Error rate above 5%",
                    "date_started": cx.iso,
                    "date_detected": cx.iso,
                    "alert_rule": {"id": "3", "name": "Error rate above 5%", "aggregate": "percentage(sessions_crashed, sessions)", "threshold_type": 0},
                },
                "description_text": "5.7% errors in the last 10 minutes",
                "description_title": "Critical: Error rate above 5%",
                "web_url": "https://sentry.io/organizations/acme/alerts/rules/details/3/",
            }),
            app_actor,
        ),
        "comment" => (
            json!({
                "comment_id": "1234",
                "issue_id": "1170820242",
                "project_slug": "webapp",
                "timestamp": cx.iso,
                "comment": "Looking into this now.",
            }),
            user_actor,
        ),
        "installation" => (
            json!({
                "installation": {
                    "uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9",
                    "status": "installed",
                    "app": {"uuid": "64bf2cf4-37ca-4365-8dd3-6b6e56d741b8", "slug": "webhook-mcp"},
                    "organization": {"slug": "acme"},
                },
            }),
            user_actor,
        ),
        _ => (json!({}), app_actor),
    };
    let mut body = json!({
        "installation": installation,
        "data": data,
        "actor": actor,
    });
    if let Some(a) = action {
        put(&mut body, "action", json!(a));
    }
    body
}

// ---------------------------------------------------------------------------------------
// Linear

fn linear(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let (kind, action) = split(t);
    let body = match payload {
        Some(p) => given(p, |p| {
            set_if_absent(p, &["type"], json!(kind));
            if let Some(a) = action {
                set_if_absent(p, &["action"], json!(a));
            }
            set_if_absent(p, &["webhookTimestamp"], json!(cx.ms));
        }),
        None => linear_body(kind, action, cx),
    };
    Out::json(&body, "application/json; charset=utf-8")
        .header("User-Agent", "Linear-Webhook")
        .header("Linear-Delivery", uuid())
        .header("Linear-Event", kind)
}

fn linear_issue(cx: &Cx) -> Value {
    let at = cx.iso_ms();
    json!({
        "id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
        "identifier": "ENG-123",
        "number": 123,
        "title": "Login page returns 500 after password reset",
        "description": "Steps to reproduce: reset the password, then log in.",
        "priority": 2,
        "priorityLabel": "High",
        "url": "https://linear.app/acme/issue/ENG-123/login-page-returns-500-after-password-reset",
        "teamId": "72b2a2dc-6f4f-4423-9d34-24b5bd10634a",
        "team": {"id": "72b2a2dc-6f4f-4423-9d34-24b5bd10634a", "key": "ENG", "name": "Engineering"},
        "stateId": "4f5f3f1b-1c5c-4a8f-9d4e-0c3a8a4f6b1a",
        "state": {"id": "4f5f3f1b-1c5c-4a8f-9d4e-0c3a8a4f6b1a", "name": "Todo", "type": "unstarted", "color": "#e2e2e2"},
        "labelIds": ["a9f4c8a2-3e5f-4c1a-9d2b-6b8e0f7d1c3e"],
        "labels": [{"id": "a9f4c8a2-3e5f-4c1a-9d2b-6b8e0f7d1c3e", "name": "Bug", "color": "#eb5757"}],
        "creatorId": "8e2c3b6a-1f4d-4e7a-9b0c-5d6e7f8a9b0c",
        "assigneeId": null,
        "createdAt": at,
        "updatedAt": at,
    })
}

fn linear_body(kind: &str, action: Option<&str>, cx: &Cx) -> Value {
    let at = cx.iso_ms();
    let (data, url) = match kind {
        "Issue" => {
            let issue = linear_issue(cx);
            let url = issue["url"].clone();
            (issue, url)
        }
        "Comment" => {
            let url = "https://linear.app/acme/issue/ENG-123/login-page-returns-500-after-password-reset#comment-5f1e2d3c";
            (
                json!({
                    "id": "5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
                    "body": "I can reproduce this on staging too.",
                    "issueId": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
                    "issue": {
                        "id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
                        "identifier": "ENG-123",
                        "title": "Login page returns 500 after password reset",
                        "url": "https://linear.app/acme/issue/ENG-123/login-page-returns-500-after-password-reset",
                    },
                    "userId": "8e2c3b6a-1f4d-4e7a-9b0c-5d6e7f8a9b0c",
                    "user": {"id": "8e2c3b6a-1f4d-4e7a-9b0c-5d6e7f8a9b0c", "name": "Alice Example"},
                    "createdAt": at,
                    "updatedAt": at,
                }),
                json!(url),
            )
        }
        _ => (
            json!({"id": uuid(), "createdAt": at, "updatedAt": at}),
            Value::Null,
        ),
    };
    let mut body = json!({
        "type": kind,
        "data": data,
        "url": url,
        "createdAt": at,
        "actor": {"id": "8e2c3b6a-1f4d-4e7a-9b0c-5d6e7f8a9b0c", "name": "Alice Example", "email": "alice@example.com", "type": "user"},
        "organizationId": "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
        "webhookTimestamp": cx.ms,
        "webhookId": "0d1c2b3a-4958-4a6b-8c7d-e6f5a4b3c2d1",
    });
    if let Some(a) = action {
        put(&mut body, "action", json!(a));
    }
    if action == Some("update") && kind == "Issue" {
        put(
            &mut body,
            "updatedFrom",
            json!({"stateId": "0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d", "updatedAt": at}),
        );
    }
    body
}

// ---------------------------------------------------------------------------------------
// Stripe

fn stripe(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let body = match payload {
        Some(p) => given(p, |p| set_if_absent(p, &["type"], json!(t))),
        None => json!({
            "id": format!("evt_test_{}", short_id(24)),
            "object": "event",
            "api_version": "2024-06-20",
            "created": cx.secs,
            "data": {"object": stripe_object(t, cx)},
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": t,
        }),
    };
    Out::json(&body, "application/json; charset=utf-8").header(
        "User-Agent",
        "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    )
}

/// The `data.object` for a type: everything before the last segment names the object
/// (`payment_intent`, `customer.subscription`, `checkout.session`).
fn stripe_object(t: &str, cx: &Cx) -> Value {
    let (object, action) = t.rsplit_once('.').unwrap_or((t, ""));
    let id = |prefix: &str| format!("{prefix}_test_{}", short_id(24));
    match object {
        "payment_intent" => {
            let status = match action {
                "succeeded" => "succeeded",
                "canceled" => "canceled",
                "processing" => "processing",
                _ => "requires_payment_method",
            };
            let received = if status == "succeeded" { 2000 } else { 0 };
            json!({
                "id": id("pi"),
                "object": "payment_intent",
                "amount": 2000,
                "amount_received": received,
                "currency": "usd",
                "customer": "cus_test_NffrFeUfNV2Hib",
                "description": "Order #1042",
                "status": status,
                "latest_charge": if received > 0 { Value::from(id("ch")) } else { Value::Null },
                "last_payment_error": if action == "payment_failed" {
                    json!({"code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."})
                } else {
                    Value::Null
                },
                "metadata": {"order_id": "1042"},
                "livemode": false,
                "created": cx.secs,
            })
        }
        "invoice" => {
            let paid = action == "paid" || action == "payment_succeeded";
            json!({
                "id": id("in"),
                "object": "invoice",
                "number": "A1B2C3D4-0001",
                "customer": "cus_test_NffrFeUfNV2Hib",
                "customer_email": "alice@example.com",
                "subscription": "sub_test_1MowQVLkdIwHu7ix",
                "currency": "usd",
                "amount_due": 1500,
                "amount_paid": if paid { 1500 } else { 0 },
                "amount_remaining": if paid { 0 } else { 1500 },
                "attempt_count": 1,
                "status": if paid { "paid" } else { "open" },
                "paid": paid,
                "hosted_invoice_url": "https://invoice.stripe.com/i/acct_test/test_invoice",
                "livemode": false,
                "created": cx.secs,
            })
        }
        "customer" => json!({
            "id": id("cus"),
            "object": "customer",
            "email": "alice@example.com",
            "name": "Alice Example",
            "livemode": false,
            "created": cx.secs,
        }),
        "customer.subscription" => json!({
            "id": id("sub"),
            "object": "subscription",
            "customer": "cus_test_NffrFeUfNV2Hib",
            "status": if action == "deleted" { "canceled" } else { "active" },
            "items": {"object": "list", "data": [{"id": id("si"), "object": "subscription_item", "price": {"id": "price_test_1", "unit_amount": 1500, "currency": "usd", "recurring": {"interval": "month"}}}]},
            "current_period_start": cx.secs,
            "current_period_end": cx.secs + 30 * 86_400,
            "livemode": false,
            "created": cx.secs,
        }),
        "checkout.session" => json!({
            "id": id("cs"),
            "object": "checkout.session",
            "mode": "payment",
            "status": "complete",
            "payment_status": "paid",
            "amount_total": 2000,
            "currency": "usd",
            "customer": "cus_test_NffrFeUfNV2Hib",
            "customer_details": {"email": "alice@example.com", "name": "Alice Example"},
            "payment_intent": id("pi"),
            "livemode": false,
            "created": cx.secs,
        }),
        "charge" => json!({
            "id": id("ch"),
            "object": "charge",
            "amount": 2000,
            "amount_refunded": if action == "refunded" { 2000 } else { 0 },
            "refunded": action == "refunded",
            "currency": "usd",
            "customer": "cus_test_NffrFeUfNV2Hib",
            "payment_intent": id("pi"),
            "status": "succeeded",
            "livemode": false,
            "created": cx.secs,
        }),
        other => {
            let name = other.rsplit('.').next().unwrap_or(other);
            json!({
                "id": id("obj"),
                "object": name,
                "livemode": false,
                "created": cx.secs,
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// Standard Webhooks, custom

fn standard(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let body = match payload {
        Some(p) => given(p, |p| set_if_absent(p, &["type"], json!(t))),
        None => json!({
            "type": t,
            "timestamp": cx.iso,
            "data": {
                "id": format!("obj_{}", short_id(24)),
                "message": "Test event from webhook-mcp",
            },
        }),
    };
    // `sign` keeps this id and signs with it; it is also the delivery id.
    Out::json(&body, "application/json").header("webhook-id", format!("msg_test_{}", hex_id()))
}

fn custom(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let body = match payload {
        Some(p) => given(p, |p| set_if_absent(p, &["type"], json!(t))),
        None => json!({
            "type": t,
            "id": format!("test_{}", hex_id()),
            "timestamp": cx.iso,
            "data": {"message": "Test event from webhook-mcp"},
        }),
    };
    Out::json(&body, "application/json").header("X-Delivery-Id", format!("test-{}", uuid()))
}

// ---------------------------------------------------------------------------------------
// Open WebUI

const OWUI_USER_CREATED: &str = include_str!("samples/openwebui-user.created.json");
const OWUI_CHAT_FINISHED: &str = include_str!("samples/openwebui-chat.finished.json");
const OWUI_AUTH_SIGNUP: &str = include_str!("samples/openwebui-auth.signup.json");
const OWUI_MESSAGE_CREATED: &str = include_str!("samples/openwebui-message.created.json");
const OWUI_STARTUP: &str = include_str!("samples/openwebui-system.startup.completed.json");
const OWUI_NOTIFY_CHAT: &str = include_str!("samples/openwebui-notification.chat.json");
const OWUI_NOTIFY_TEST: &str = include_str!("samples/openwebui-notification.test.json");

fn openwebui(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    // User notification webhooks carry `action` and no `event`: `notification.<action>`.
    let notification = t.strip_prefix("notification.").filter(|a| !a.is_empty());
    let body = match payload {
        Some(p) => given(p, |p| match notification {
            Some(action) if p.get("event").is_none() => {
                set_if_absent(p, &["action"], json!(action));
            }
            _ => set_if_absent(p, &["event"], json!(t)),
        }),
        None => openwebui_body(t, notification, cx),
    };
    // aiohttp's defaults: Open WebUI sets no headers of its own.
    Out::json(&body, "application/json")
        .header("User-Agent", "Python/3.11 aiohttp/3.14.5")
        .header("Accept", "*/*")
}

fn openwebui_body(t: &str, notification: Option<&str>, cx: &Cx) -> Value {
    let fixture = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_default();
    if let Some(action) = notification {
        let mut body = match action {
            "test" => fixture(OWUI_NOTIFY_TEST),
            _ => fixture(OWUI_NOTIFY_CHAT),
        };
        put(&mut body, "action", json!(action));
        if action != "test" {
            put(&mut body, "url", json!(format!("/c/{}", uuid())));
        }
        return body;
    }
    let mut body = match t {
        "user.created" => fixture(OWUI_USER_CREATED),
        "chat.finished" => fixture(OWUI_CHAT_FINISHED),
        "auth.signup" => fixture(OWUI_AUTH_SIGNUP),
        "message.created" => fixture(OWUI_MESSAGE_CREATED),
        "system.startup.completed" => fixture(OWUI_STARTUP),
        _ => {
            // Any other event in the 0.12 envelope, with no subject or data to guess at.
            let mut b = fixture(OWUI_USER_CREATED);
            let (resource, operation) = t.rsplit_once('.').unwrap_or((t, ""));
            put(&mut b, "event", json!(t));
            put(&mut b, "resource", json!(resource));
            put(&mut b, "operation", json!(operation));
            put(&mut b, "subject", Value::Null);
            put(&mut b, "data", json!({}));
            b
        }
    };
    // A fresh id and time: the id is the delivery id, so a reused one would be deduplicated.
    put(&mut body, "id", json!(uuid()));
    put(&mut body, "created_at", json!(cx.secs));
    body
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};

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

    /// Types whose delivery carries no id: Slack's handshake, Open WebUI notifications.
    fn has_no_delivery_id(provider: Provider, t: &str) -> bool {
        (provider == Provider::Slack && t == "url_verification")
            || (provider == Provider::OpenWebUi && t.starts_with("notification."))
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
                if d.event_type != *t {
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
}
