//! The dashboard: its page, script, stylesheet and icon are served without a key, with their
//! types and a strict CSP, and every `/api` route its script calls (the table atop `app.js`,
//! read from the served script) exists: it answers an admin key, and a read key for what it
//! reads.

use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::helpers::*;
use super::keys::create_key;

const FILES: [(&str, &str); 4] = [
    ("/dashboard", "text/html; charset=utf-8"),
    ("/dashboard/app.js", "text/javascript; charset=utf-8"),
    ("/dashboard/app.css", "text/css; charset=utf-8"),
    ("/dashboard/favicon.svg", "image/svg+xml"),
];

/// The name an SVG file gives its namespace: a name, not an address anything is fetched from.
const SVG_NAMESPACE: &str = "xmlns=\"http://www.w3.org/2000/svg\"";

/// A served file's text, after checking its headers.
async fn served(app: &TestApp, path: &str, content_type: &str) -> String {
    // No key: the files hold no data.
    let response = app.client.get(app.url(path)).send().await.expect("GET");
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let header = |name| {
        let value = response.headers().get(name);
        value.map(|v| v.to_str().expect("ASCII header").to_string())
    };
    assert_eq!(
        header(CONTENT_TYPE).as_deref(),
        Some(content_type),
        "{path}"
    );
    assert_eq!(header(X_CONTENT_TYPE_OPTIONS).as_deref(), Some("nosniff"));
    let csp = header(CONTENT_SECURITY_POLICY).expect("a CSP");
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        // The page's icon is one of its files.
        "img-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{path}: {csp} lacks {part}");
    }
    assert!(!csp.contains("unsafe"), "{path}: {csp}");
    response.text().await.expect("text")
}

#[tokio::test]
async fn the_page_script_stylesheet_and_icon_are_served_without_a_key_under_a_strict_csp() {
    let app = spawn_app().await;
    let mut texts = Vec::new();
    for (path, content_type) in FILES {
        texts.push(served(&app, path, content_type).await);
    }
    let (page, script, icon) = (&texts[0], &texts[1], &texts[3]);
    assert!(page.contains("src=\"dashboard/app.js\"") && page.contains("dashboard/app.css"));
    // The page names its icon, so that browsers do not ask for a `/favicon.ico` (a 404).
    assert!(
        page.contains("<link rel=\"icon\" href=\"dashboard/favicon.svg\" type=\"image/svg+xml\">")
    );
    assert!(
        icon.starts_with("<svg ") && icon.contains(SVG_NAMESPACE),
        "{icon}"
    );
    // Drawn with attributes: the CSP refuses inline style, and an icon runs no script.
    for refused in ["<style", "style=", "<script", "href="] {
        assert!(!icon.contains(refused), "the icon has {refused}");
    }
    // The providers the server knows, listed by the server.
    for provider in [
        "github",
        "slack",
        "standard-webhooks",
        "openwebui",
        "custom",
    ] {
        assert!(page.contains(&format!("<option value=\"{provider}\">")));
    }
    // Payloads are the senders' words: they enter the page as text only, and nothing is
    // fetched from elsewhere.
    for markup in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ] {
        assert!(!script.contains(markup), "app.js uses {markup}");
    }
    for text in &texts {
        let text = text.replace(SVG_NAMESPACE, "");
        assert!(!text.contains("http://") && !text.contains("https://"));
    }
    // A file it does not have: the JSON 404, pointing at the dashboard.
    let (status, body) = send_json(app.client.get(app.url("/dashboard/app.mjs"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("/dashboard/app.js"), "{message}");
    assert!(message.contains("/dashboard/favicon.svg"), "{message}");
    let (status, body) = send_json(app.client.get(app.url("/"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["message"].to_string().contains("/dashboard"));
}

/// The script's API table: `name: ["METHOD", "/api/path"],` per line.
fn api_table(script: &str) -> Vec<(Method, String)> {
    let start = script.find("const API = {").expect("the API table");
    let end = start + script[start..].find("\n};").expect("its end");
    let routes: Vec<(Method, String)> = script[start..end]
        .lines()
        .skip(1)
        .map(|line| {
            let parts: Vec<&str> = line.split('"').collect();
            assert_eq!(parts.len(), 5, "a line of the API table: {line}");
            let method = Method::from_bytes(parts[1].as_bytes()).expect("a method");
            assert!(parts[3].starts_with("/api/"), "{line}");
            (method, parts[3].to_string())
        })
        .collect();
    assert!(routes.len() >= 15, "{routes:?}");
    routes
}

#[tokio::test]
async fn every_api_route_the_script_calls_answers() {
    let app = spawn_app().await;
    let script = served(&app, "/dashboard/app.js", FILES[1].1).await;
    let routes = api_table(&script);
    // The API keys and audit tabs' routes among them.
    for (method, path) in [
        (Method::GET, "/api/keys"),
        (Method::POST, "/api/keys"),
        (Method::DELETE, "/api/keys/{key_id}"),
        (Method::GET, "/api/audit"),
    ] {
        assert!(
            routes.contains(&(method.clone(), path.to_string())),
            "{method} {path} not in {routes:?}"
        );
    }

    // A webhook with a command that queues a task and one that comments (an action), and an
    // event that fired both.
    let secret = "dashboard-secret";
    let hook = app
        .create_webhook(json!({
            "id": "dash", "name": "Dashboard", "provider": "github", "secret": secret,
            "commands": [
                {"trigger": "issues.opened", "action": "create_task", "agent": "planning",
                 "template": "Look at #{{issue.number}}"},
                {"trigger": "issues.opened", "action": "comment", "template": "Thanks!"},
            ],
        }))
        .await;
    let command_id = hook["added_commands"][0]["id"]
        .as_str()
        .expect("command id");
    let body = issue_opened("acme/app", 7, &[]);
    let receipt = app
        .post_github("dash", "issues", &delivery_id(), &body, secret)
        .await;
    let (status, receipt) = read_json(receipt).await;
    assert!(status.is_success(), "{status} {receipt}");
    let event_id = receipt["event_id"].as_str().expect("event id").to_string();
    let event = app.event(&event_id).await;
    let task_id = event["tasks"][0]["id"].as_str().expect("a task");
    let action_id = event["actions"][0]["id"].as_str().expect("an action");
    // The read key the routes are tried with; the admin key revokes it last.
    let (read_key_id, read_key) = create_key(&app, "dashboard reader", "read").await;
    let fill = |template: &str| {
        let path = template
            .replace("{webhook_id}", "dash")
            .replace("{command_id}", command_id)
            .replace("{event_id}", &event_id)
            .replace("{task_id}", task_id)
            .replace("{action_id}", action_id)
            .replace("{key_id}", &read_key_id);
        assert!(
            !path.contains('{'),
            "a parameter the test does not fill: {path}"
        );
        path
    };

    // A read key browses: every GET answers but the keys' list (how the page tells the
    // kinds of key apart), and every change is refused with a message to show.
    for (method, template) in &routes {
        let path = fill(template);
        let mut request = app.client.request(method.clone(), app.url(&path));
        if *method != Method::GET && *method != Method::DELETE {
            request = request.json(&json!({}));
        }
        let (status, body) = send_json(request.bearer_auth(&read_key)).await;
        let reads = *method == Method::GET && path != "/api/keys";
        let want = if reads {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, want, "{method} {path} with a read key: {body}");
        if !reads {
            assert!(body["error"]["message"].is_string(), "{body}");
        }
    }

    // With an admin key every route exists (no 404 or 405), whatever it makes of an empty
    // body; the deletes go last, a command's before its webhook's.
    let mut ordered: Vec<&(Method, String)> = routes.iter().collect();
    ordered.sort_by_key(|(method, path)| match *method == Method::DELETE {
        true => (1, usize::MAX - path.len()),
        false => (0, 0),
    });
    for (method, template) in ordered {
        let path = fill(template);
        let mut request = app.api(method.clone(), &path);
        if *method != Method::GET && *method != Method::DELETE {
            request = request.json(&json!({}));
        }
        let (status, body): (StatusCode, Value) = send_json(request).await;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status} {body}"
        );
    }
    // The revocation took: the read key is refused, and the log says who revoked what.
    let (status, body) = send_json(
        app.client
            .get(app.url("/api/webhooks"))
            .bearer_auth(&read_key),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, log) = send_json(app.api(Method::GET, "/api/audit")).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let revoked = format!("/api/keys/{read_key_id}");
    let entry = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| {
            e["target"] == revoked.as_str()
                && e["action"].as_str().unwrap_or("").starts_with("DELETE")
        })
        .unwrap_or_else(|| panic!("no revocation of {revoked} in {log}"));
    assert_eq!(entry["outcome"], "ok", "{entry}");
}
