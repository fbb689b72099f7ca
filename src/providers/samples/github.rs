//! GitHub samples: the `X-GitHub-*` headers and issue, comment, pull request, review, review
//! thread, commit comment, release, workflow, check, deployment, status, discussion, push and
//! ping bodies for the octo-org/hello-world repository.

use serde_json::{Value, json};

use super::{Cx, Out, given, put, set_if_absent, split, uuid};

pub(super) fn github(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
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

/// The kind of event (`X-GitHub-Event`) a payload given without one is, by the objects it
/// carries as GitHub's do; `None` when it names none (it is then taken as `issues`).
pub fn kind_of(payload: &Value) -> Option<&'static str> {
    let has = |key: &str| payload.get(key).is_some_and(|v| !v.is_null());
    let kind = if has("zen") && has("hook_id") {
        "ping"
    } else if has("workflow_job") {
        // A job that deploys to an environment carries its deployment too.
        "workflow_job"
    } else if has("deployment_status") {
        "deployment_status"
    } else if has("deployment") {
        "deployment"
    } else if has("workflow_job_run") || has("workflow_job_runs") {
        // GitHub sends one job run; older GHES releases sent a list.
        "deployment_review"
    } else if has("pull_request") {
        if has("thread") {
            "pull_request_review_thread"
        } else if has("review") {
            "pull_request_review"
        } else if has("comment") {
            "pull_request_review_comment"
        } else {
            "pull_request"
        }
    } else if has("issue") {
        if has("comment") {
            "issue_comment"
        } else {
            "issues"
        }
    } else if has("discussion") {
        if has("comment") {
            "discussion_comment"
        } else {
            "discussion"
        }
    } else if has("comment") {
        "commit_comment"
    } else if has("workflow_run") {
        "workflow_run"
    } else if has("check_run") {
        "check_run"
    } else if has("check_suite") {
        "check_suite"
    } else if has("release") {
        "release"
    } else if has("ref") && has("commits") {
        "push"
    } else {
        return None;
    };
    Some(kind)
}

/// The event type a payload given without one is: its kind (`kind_of`) and its own `action`,
/// or the action a payload of that kind most often has (a payload of GitHub's shape with no
/// `action` still tests the commands of `issues.opened`, not of a bare `issues`).
pub fn event_type_of(payload: &Value) -> Option<String> {
    let kind = kind_of(payload)?;
    let usual = match kind {
        "issues" | "pull_request" => Some("opened"),
        "pull_request_review" => Some("submitted"),
        "release" => Some("published"),
        "workflow_run" | "workflow_job" | "check_run" | "check_suite" => Some("completed"),
        "pull_request_review_thread" => Some("resolved"),
        "push" | "ping" => None,
        _ => Some("created"),
    };
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .or(usual);
    Some(match action {
        Some(action) => format!("{kind}.{action}"),
        None => kind.to_string(),
    })
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

fn github_workflow_run(action: Option<&str>, cx: &Cx) -> Value {
    let completed = action == Some("completed");
    json!({
        "id": 30433642,
        "name": "CI",
        "run_number": 562,
        "run_attempt": 1,
        "event": "pull_request",
        "head_branch": "fix-login",
        "head_sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "status": if completed { "completed" } else { "in_progress" },
        "conclusion": if completed { Value::from("failure") } else { Value::Null },
        "actor": github_user("octocat", 583231),
        "pull_requests": [{"number": 7, "head": {"ref": "fix-login"}, "base": {"ref": "main", "repo": {"id": 1296269}}}],
        "created_at": cx.iso,
        "updated_at": cx.iso,
        "html_url": "https://github.com/octo-org/hello-world/actions/runs/30433642",
    })
}

fn github_discussion(cx: &Cx) -> Value {
    json!({
        "id": 3418,
        "number": 90,
        "title": "How do we roll back a release?",
        "body": "The runbook says to redeploy the previous tag; is that still right?",
        "category": {"name": "Q&A", "slug": "q-a", "is_answerable": true},
        "state": "open",
        "user": github_user("octocat", 583231),
        "created_at": cx.iso,
        "updated_at": cx.iso,
        "html_url": "https://github.com/octo-org/hello-world/discussions/90",
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

/// The commit the samples' pull request, run and status are for.
const HEAD_SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";

fn github_review_comment(cx: &Cx) -> Value {
    json!({
        "id": 426899381,
        "body": "Could this be a constant?",
        "path": "src/session.rs",
        "line": 12,
        "commit_id": HEAD_SHA,
        "user": github_user("hubot", 1),
        "created_at": cx.iso,
        "html_url": "https://github.com/octo-org/hello-world/pull/7#discussion_r426899381",
    })
}

fn github_deployment(cx: &Cx) -> Value {
    json!({
        "id": 145988746,
        "sha": HEAD_SHA,
        "ref": "main",
        "task": "deploy",
        "environment": "staging",
        "original_environment": "staging",
        "description": null,
        "creator": github_user("octocat", 583231),
        "created_at": cx.iso,
        "updated_at": cx.iso,
    })
}

/// What an issue's or pull request's change names beside it, as every delivery of that
/// action does: the label added or removed, the user assigned or unassigned.
fn add_change(body: &mut Value, action: Option<&str>, sender: &Value) {
    match action {
        Some("labeled" | "unlabeled") => put(body, "label", github_label()),
        Some("assigned" | "unassigned") => put(body, "assignee", sender.clone()),
        _ => {}
    }
}

fn github_body(event: &str, action: Option<&str>, cx: &Cx) -> Value {
    let sender = github_user("octocat", 583231);
    let mut body = match event {
        "issues" => {
            let mut b = json!({ "issue": github_issue(action, cx) });
            add_change(&mut b, action, &sender);
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
        "pull_request" => {
            let mut b = json!({
                "number": 7,
                "pull_request": github_pull_request(action, cx),
            });
            add_change(&mut b, action, &sender);
            b
        }
        "pull_request_review_thread" => json!({
            "pull_request": github_pull_request(Some("opened"), cx),
            "thread": {
                "node_id": "PRRT_kwDOABJ0Ns4AAAAB",
                "comments": [github_review_comment(cx)],
            },
        }),
        "commit_comment" => json!({
            "comment": {
                "id": 1362880293,
                "body": "This commit broke the login page.",
                "path": "src/session.rs",
                "line": 12,
                "position": 4,
                "commit_id": HEAD_SHA,
                "user": github_user("hubot", 1),
                "created_at": cx.iso,
                "updated_at": cx.iso,
                "author_association": "CONTRIBUTOR",
                "html_url": format!("https://github.com/octo-org/hello-world/commit/{HEAD_SHA}#commitcomment-1362880293"),
            },
        }),
        "deployment" => json!({
            "deployment": github_deployment(cx),
            "workflow_run": github_workflow_run(Some("in_progress"), cx),
        }),
        "deployment_status" => json!({
            "deployment_status": {
                "id": 2600,
                "state": "success",
                "environment": "staging",
                "description": "Deployed to staging",
                "target_url": "https://staging.example.invalid",
                "creator": github_user("octocat", 583231),
                "created_at": cx.iso,
                "updated_at": cx.iso,
            },
            "deployment": github_deployment(cx),
        }),
        "status" => json!({
            "id": 21432211,
            "sha": HEAD_SHA,
            "name": "octo-org/hello-world",
            "state": "failure",
            "context": "ci/build",
            "description": "2 tests failed",
            "target_url": "https://ci.example.invalid/builds/562",
            "commit": {
                "sha": HEAD_SHA,
                "commit": {"message": "Fix 500 on login after password reset"},
                "html_url": format!("https://github.com/octo-org/hello-world/commit/{HEAD_SHA}"),
            },
            "branches": [{"name": "fix/login-500", "commit": {"sha": HEAD_SHA}, "protected": false}],
            "created_at": cx.iso,
            "updated_at": cx.iso,
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
            "comment": github_review_comment(cx),
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
        "release" => json!({
            "release": {
                "id": 9001,
                "tag_name": "v1.4.0",
                "target_commitish": "main",
                "name": "v1.4.0",
                "body": "Fixes the 500 on login after a password reset.",
                "draft": false,
                "prerelease": false,
                "author": github_user("octocat", 583231),
                "created_at": cx.iso,
                "published_at": cx.iso,
                "html_url": "https://github.com/octo-org/hello-world/releases/tag/v1.4.0",
            },
        }),
        "workflow_run" => json!({
            "workflow_run": github_workflow_run(action, cx),
            "workflow": {"id": 161335, "name": "CI", "path": ".github/workflows/ci.yml"},
        }),
        "workflow_job" => json!({
            "workflow_job": {
                "id": 399444496,
                "run_id": 30433642,
                "name": "test",
                "workflow_name": "CI",
                "head_branch": "fix-login",
                "head_sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                "status": if action == Some("completed") { "completed" } else { "queued" },
                "conclusion": if action == Some("completed") { Value::from("failure") } else { Value::Null },
                "started_at": cx.iso,
                "steps": [{
                    "name": "Run tests",
                    "number": 1,
                    "status": if action == Some("completed") { "completed" } else { "queued" },
                    "conclusion": if action == Some("completed") { Value::from("failure") } else { Value::Null },
                    "started_at": cx.iso,
                    "completed_at": if action == Some("completed") { Value::from(cx.iso.clone()) } else { Value::Null },
                }],
                "labels": ["ubuntu-latest"],
                "html_url": "https://github.com/octo-org/hello-world/actions/runs/30433642/job/399444496",
            },
        }),
        "check_run" => json!({
            "check_run": {
                "id": 128620228,
                "name": "test",
                "head_sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                "status": "completed",
                "conclusion": "failure",
                "started_at": cx.iso,
                "completed_at": cx.iso,
                "output": {"title": "2 tests failed", "summary": "session::login_after_reset"},
                "pull_requests": [],
                "html_url": "https://github.com/octo-org/hello-world/runs/128620228",
            },
        }),
        "check_suite" => json!({
            "check_suite": {
                "id": 118578147,
                "head_branch": "fix-login",
                "head_sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                "status": "completed",
                "conclusion": "failure",
                "pull_requests": [],
            },
        }),
        "discussion" => json!({ "discussion": github_discussion(cx) }),
        "discussion_comment" => json!({
            "discussion": github_discussion(cx),
            "comment": {
                "id": 1362880292,
                "body": "Same here, on the staging cluster.",
                "user": github_user("hubot", 1),
                "created_at": cx.iso,
                "html_url": "https://github.com/octo-org/hello-world/discussions/90#discussioncomment-1362880292",
            },
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
