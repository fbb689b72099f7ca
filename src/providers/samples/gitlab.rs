//! GitLab samples: the `X-Gitlab-*` headers (with the `... Hook` event label) and issue,
//! merge request, note, push, tag push, pipeline, award (emoji), release, job (build) and
//! deployment bodies for acme/webapp.

use serde_json::{Value, json};

use super::{Cx, Out, given, put, set_if_absent, split, uuid};

pub(super) fn gitlab(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let (kind, action) = split(t);
    let body = match payload {
        Some(p) => given(p, |p| {
            set_if_absent(p, &["object_kind"], json!(kind));
            if let Some(a) = action {
                set_if_absent(p, action_path(kind), json!(a));
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
pub(super) fn gitlab_event_header(kind: &str) -> String {
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
        // A merge request's pipeline, the one a reply can go on (to its merge request).
        "pipeline" => json!({
            "object_attributes": {
                "id": 31,
                "iid": 3,
                "ref": "refs/merge-requests/1/head",
                "tag": false,
                "sha": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
                "before_sha": "95790bf891e76fee5e1747ab589903a6a1f80f22",
                "source": "merge_request_event",
                "status": "success",
                "detailed_status": "passed",
                "stages": ["build", "test"],
                "created_at": cx.iso,
                "finished_at": cx.iso,
                "duration": 63,
                "url": "https://gitlab.example.com/acme/webapp/-/pipelines/31",
            },
            "merge_request": {
                "id": 99,
                "iid": 1,
                "title": "Fix 500 on login after password reset",
                "source_branch": "fix/login-500",
                "source_project_id": 15,
                "target_branch": "main",
                "target_project_id": 15,
                "state": "opened",
                "merge_status": "can_be_merged",
                "detailed_merge_status": "mergeable",
                "url": "https://gitlab.example.com/acme/webapp/-/merge_requests/1",
            },
            "commit": gitlab_commit(cx),
            "builds": [],
        }),
        // An award on an issue.
        "emoji" => json!({
            "event_type": if action == Some("revoke") { "revoke" } else { "award" },
            "project_id": 15,
            "object_attributes": {
                "id": 1,
                "name": "thumbsup",
                "user_id": 1,
                "awardable_type": "Issue",
                "awardable_id": 301,
                "created_at": cx.iso,
                "updated_at": cx.iso,
            },
            "issue": {
                "id": 301,
                "iid": 17,
                "title": "Login page returns 500 after password reset",
                "state": "opened",
                "project_id": 15,
                "created_at": cx.iso,
                "labels": [gitlab_label()],
                "url": "https://gitlab.example.com/acme/webapp/-/issues/17",
            },
        }),
        "release" => json!({
            "id": 1,
            "action": action.unwrap_or("create"),
            "name": "v1.0.0",
            "tag": "v1.0.0",
            "description": "Fixes the 500 on login after a password reset.",
            "created_at": cx.iso,
            "released_at": cx.iso,
            "url": "https://gitlab.example.com/acme/webapp/-/releases/v1.0.0",
            "assets": {"count": 0, "links": [], "sources": []},
            "commit": gitlab_commit(cx),
        }),
        "build" => json!({
            "ref": "main",
            "tag": false,
            "before_sha": "95790bf891e76fee5e1747ab589903a6a1f80f22",
            "sha": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
            "build_id": 1977,
            "build_name": "test",
            "build_stage": "test",
            "build_status": "failed",
            "build_created_at": cx.iso,
            "build_started_at": cx.iso,
            "build_finished_at": cx.iso,
            "build_duration": 23.2,
            "build_allow_failure": false,
            "build_failure_reason": "script_failure",
            "pipeline_id": 31,
            "project_id": 15,
            "project_name": "Acme / webapp",
            "commit": {
                "id": 31,
                "sha": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
                "message": "Fix 500 on login after password reset\n",
                "author_name": "Administrator",
                "author_email": "admin@example.com",
                "status": "failed",
            },
            "repository": gitlab_repository(),
            "environment": null,
        }),
        "deployment" => json!({
            "status": "success",
            "status_changed_at": cx.iso,
            "deployment_id": 15,
            "deployable_id": 1977,
            "deployable_url": "https://gitlab.example.com/acme/webapp/-/jobs/1977",
            "environment": "staging",
            "environment_tier": "staging",
            "environment_slug": "staging",
            "environment_external_url": "https://staging.example.invalid",
            "short_sha": "b6568db1",
            "user_url": "https://gitlab.example.com/root",
            "commit_url": "https://gitlab.example.com/acme/webapp/-/commit/b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
            "commit_title": "Fix 500 on login after password reset",
            "ref": "main",
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
        set_if_absent(&mut body, action_path(kind), json!(a));
    }
    body
}

/// Where GitLab puts a hook's action: at the top for a release or a milestone.
fn action_path(kind: &str) -> &'static [&'static str] {
    if crate::providers::gitlab::action_at_top(kind) {
        &["action"]
    } else {
        &["object_attributes", "action"]
    }
}
