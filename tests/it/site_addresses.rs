//! A GitLab or Jira base URL is the site's address, to which each request adds the API's
//! path: one given with that path already (`…/api/v4`, `…/rest/api/2`) or as a page's address
//! (`…/browse/TEST-1`) would send every post astray, so it is refused where it is given (the
//! webhook's options, or the environment at start); and a 404 says where the post went.

use reqwest::{Method, StatusCode};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{accepted, assert_error, send_json, spawn_manual};

#[tokio::test]
async fn a_gitlab_or_jira_url_with_the_api_path_or_an_issue_page_is_refused_naming_the_fix() {
    // Arrange
    let app = spawn_manual(|_| {}).await;
    let cases = [
        (
            "gitlab",
            "gitlab_url",
            "https://git.example.com/gitlab/api/v4",
            "`https://git.example.com/gitlab`",
        ),
        (
            "jira",
            "jira_base_url",
            "https://jira.example.com/rest/api/2",
            "`https://jira.example.com`",
        ),
        (
            "jira",
            "jira_base_url",
            "https://acme.atlassian.net/browse/TEST-1",
            "`https://acme.atlassian.net`",
        ),
    ];
    for (n, (provider, name, url, fix)) in cases.into_iter().enumerate() {
        let id = format!("w{n}");
        let webhook = |url: &str| {
            json!({"id": id, "name": id, "provider": provider, "secret": "s3cret-value",
                   "options": {"credentials": {name: url}}})
        };

        // Act: given when the webhook is made, and when it is changed.
        let created = send_json(app.api(Method::POST, "/api/webhooks").json(&webhook(url))).await;
        let site = url.split("/api/v4").next().unwrap_or_default();
        let site = site.split("/rest/").next().unwrap_or_default();
        let site = site.split("/browse/").next().unwrap_or_default();
        let made = send_json(app.api(Method::POST, "/api/webhooks").json(&webhook(site))).await;
        let updated = send_json(
            app.api(Method::PUT, &format!("/api/webhooks/{id}"))
                .json(&json!({"options": {"credentials": {name: url}}})),
        )
        .await;

        // Assert
        let field = format!("options.credentials.{name}");
        assert!(made.0.is_success(), "{url}: {:?}", made.1);
        for refused in [&created, &updated] {
            assert_error(refused, StatusCode::BAD_REQUEST, Some(&field));
            let message = refused.1["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(fix), "{message}");
        }
    }
}

#[tokio::test]
async fn a_gitlab_or_jira_404_names_the_url_it_posted_to() {
    // Arrange: a GitLab and a Jira that know no such project or issue (as a base URL saved
    // with the API's path before it was refused would show: the path twice).
    let gitlab = MockServer::start().await;
    let jira = MockServer::start().await;
    for server in [&gitlab, &jira] {
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(404).set_body_json(json!({"message": "404 Not Found"})),
            )
            .mount(server)
            .await;
    }
    let (gitlab_url, jira_url) = (format!("{}/gitlab", gitlab.uri()), jira.uri());
    let app = spawn_manual(|c| {
        c.upstreams.gitlab_url = gitlab_url;
        c.upstreams.gitlab_token = Some("glpat-secret-404".into());
        c.upstreams.jira_base_url = Some(jira_url);
        c.upstreams.jira_email = Some("bot@example.com".into());
        c.upstreams.jira_api_token = Some("atl-secret-404".into());
    })
    .await;
    for (id, provider, trigger) in [
        ("gl", "gitlab", "issue.open"),
        ("jr", "jira", "jira:issue_created"),
    ] {
        app.create_webhook(json!({"id": id, "name": id, "provider": provider,
                                  "secret": "hook-secret"}))
            .await;
        app.add_command_ok(
            id,
            json!({"trigger": trigger, "action": "comment", "template": "Seen"}),
        )
        .await;
    }
    let note = json!({"object_kind": "issue", "project": {"path_with_namespace": "group/app"},
                      "object_attributes": {"iid": 5, "action": "open", "title": "Crash"}});
    let on_gitlab = accepted(app.post_gitlab("gl", &note, "hook-secret").await).await;
    let issue = json!({"webhookEvent": "jira:issue_created",
                       "issue": {"id": "10021", "key": "OPS-21", "fields": {"summary": "x"}}});
    let on_jira = accepted(app.post_jira("jr", &issue.to_string(), "hook-secret").await).await;

    // Act
    assert_eq!(app.drain().await, 2);

    // Assert: each error shows where it posted, and no credential.
    let tried = [
        (
            on_gitlab,
            format!(
                "{}/gitlab/api/v4/projects/group%2Fapp/issues/5/notes",
                gitlab.uri()
            ),
            "GITLAB_URL",
        ),
        (
            on_jira,
            format!("{}/rest/api/2/issue/OPS-21/comment", jira.uri()),
            "JIRA_BASE_URL",
        ),
    ];
    for (event_id, url, setting) in tried {
        let action = app.actions_of(&event_id).await.remove(0);
        assert_eq!(action["status"], "dead", "{action}");
        let error = action["last_error"].as_str().unwrap_or_default();
        assert!(error.contains(&format!("posted to {url}")), "{error}");
        assert!(error.contains(setting), "{error}");
        assert!(!error.contains("secret-404"), "{error}");
    }
}

#[tokio::test]
async fn gitlab_url_or_jira_base_url_with_the_api_path_is_refused_at_start_naming_the_fix() {
    for (name, value, fix) in [
        (
            "GITLAB_URL",
            "http://host/gitlab/api/v4",
            "give the site's address, `http://host/gitlab`",
        ),
        (
            "JIRA_BASE_URL",
            "https://acme.atlassian.net/browse/TEST-1",
            "give the site's address, `https://acme.atlassian.net`",
        ),
    ] {
        // Arrange
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_webhook-mcp"));
        for (key, _) in std::env::vars() {
            if key.starts_with("WEBHOOK_MCP_") || key == "PUBLIC_BASE_URL" {
                command.env_remove(key);
            }
        }
        command
            .arg("serve")
            .env("WEBHOOK_MCP_LISTEN", "127.0.0.1:0")
            .env("WEBHOOK_MCP_DATABASE", dir.path().join("app.db"))
            .env(name, value)
            .env("RUST_LOG", "warn");

        command.kill_on_drop(true);

        // Act: served, it would run until killed.
        let output = tokio::time::timeout(std::time::Duration::from_secs(30), command.output())
            .await
            .expect("refused at start, not served")
            .expect("run webhook-mcp");

        // Assert
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{said}");
        assert!(said.contains(name) && said.contains(fix), "{said}");
    }
}
