//! GitHub connector (outbox worker → `actions::execute` → here): comments on an issue or pull
//! request through the REST API (PR conversation comments are issue comments; an answer to a
//! review comment goes in that comment's thread). The base URL is configurable for GitHub
//! Enterprise Server (`https://ghe.example/api/v3`); an event from such a server is answered
//! through an API on that server or not at all.

use serde_json::json;

use super::client::{self, missing_token};
use super::{ActionError, Clients, Credentials, Sent, moved, segment};

/// The token a comment is posted with, or why there is none.
pub(super) fn token(creds: &Credentials) -> Result<&str, ActionError> {
    creds.github_token.as_deref().ok_or_else(|| {
        missing_token(
            &creds.github_api_url,
            "GitHub token",
            "GITHUB_TOKEN",
            "github_token",
        )
    })
}

/// Refuses a reply to a GitHub Enterprise Server's event (`enterprise_host`, as its
/// `X-GitHub-Enterprise-Host` header named it) that would go to another API: github.com has
/// repositories of the same names, and the operator's token would post the text there.
pub(super) fn same_server(
    creds: &Credentials,
    enterprise_host: Option<&str>,
) -> Result<(), ActionError> {
    let Some(host) = enterprise_host else {
        return Ok(());
    };
    let endpoint = reqwest::Url::parse(&creds.github_api_url.url).ok();
    let endpoint_host = endpoint
        .as_ref()
        .and_then(|u| u.host_str())
        .unwrap_or_default();
    if endpoint.as_ref().is_some_and(|u| serves(u, host)) {
        return Ok(());
    }
    Err(ActionError::permanent(format!(
        "this event came from the GitHub Enterprise server {host}, but the reply would go to \
         the GitHub API at {endpoint_host:?}: set the webhook's \
         options.credentials.github_api_url to that server's API (e.g. \
         https://{host}/api/v3) and options.credentials.github_token to a token for it"
    )))
}

/// Whether the API at `endpoint` is on the server `host` names: GitHub sends the host name
/// alone, compared with the URL's host; a `host:port` (a server on another port) must match
/// the URL's port too.
fn serves(endpoint: &reqwest::Url, host: &str) -> bool {
    let Some(named) = reqwest::Url::parse(&format!("https://{host}/"))
        .ok()
        .filter(|u| u.path() == "/" && u.username().is_empty())
    else {
        return false;
    };
    endpoint.host() == named.host()
        && named
            .port()
            .is_none_or(|port| endpoint.port_or_known_default() == Some(port))
}

pub(super) async fn comment(
    clients: &Clients,
    creds: &Credentials,
    repo: &str,
    number: u64,
    in_reply_to: Option<u64>,
    enterprise_host: Option<&str>,
    body: &str,
) -> Result<Sent, ActionError> {
    same_server(creds, enterprise_host)?;
    let token = token(creds)?;
    let (owner, name) = repo.split_once('/').ok_or_else(|| {
        ActionError::permanent(format!("invalid GitHub repo {repo:?}: expected owner/name"))
    })?;
    let (owner, name) = (
        segment("GitHub owner", owner)?,
        segment("GitHub repo", name)?,
    );
    let path = match in_reply_to {
        Some(comment) => {
            format!("/repos/{owner}/{name}/pulls/{number}/comments/{comment}/replies")
        }
        None => format!("/repos/{owner}/{name}/issues/{number}/comments"),
    };
    let (http, mut url) = clients.for_endpoint(&creds.github_api_url, &path)?;
    client::drop_login(&mut url);
    let req = http
        .post(url)
        .bearer_auth(token)
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .json(&json!({ "body": body }));
    // A repository renamed or transferred since the event named it: GitHub redirects the
    // old path to the new one on its own host, which is followed (`moved`).
    let followed = moved::exchange("GitHub", req).await?;
    if !followed.answer.status.is_success() {
        return Err(client::status_error("GitHub", &followed.answer));
    }
    let note = followed.moved_to.map(|to| {
        format!(
            "GitHub says {repo} has moved (renamed or transferred) and redirected the comment \
             to {}, where it was posted; replies to events and tasks from before the move go \
             through that redirect. Check that the webhook still hears the repository (a \
             transfer to another owner leaves an organization's webhook behind)",
            super::redact_url(to.as_str())
        )
    });
    let reply = followed.answer.reply();
    let answer = reply.json();
    // The comment's page is what a person wants to open; the id is the fallback, named with
    // its repository and kind (`echo::github_comment_key`): a bare number is not one comment
    // across servers, nor across issue and review comments. A reply in a review thread is
    // known by the review GitHub wraps it in, which is announced apart
    // (`pull_request_review.submitted`) besides the comment.
    let html_url = answer["html_url"].as_str();
    let review_page = html_url
        .zip(answer["pull_request_review_id"].as_u64())
        .filter(|_| in_reply_to.is_some())
        .map(|(page, review)| crate::service::echo::github_review_page(page, review));
    let remote_id = review_page
        .or_else(|| html_url.map(str::to_owned))
        .or_else(|| {
            let id = answer["id"].as_u64()?;
            Some(crate::service::echo::github_comment_key(
                repo,
                in_reply_to.is_some(),
                id,
            ))
        });
    let author = answer.pointer("/user/login").and_then(|a| a.as_str());
    Ok(reply.sent(remote_id).by(author).noting(note))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::client::testing::{authorization_sent, clients, endpoint};
    use super::super::{Credentials, Delivery, execute};
    use super::serves;

    fn creds(server: &MockServer) -> Credentials {
        Credentials {
            github_api_url: endpoint(server.uri()),
            github_token: Some("ghp_test".into()),
            ..Credentials::default()
        }
    }

    fn delivery() -> Delivery {
        Delivery::GithubComment {
            repo: "octo/app".into(),
            number: 7,
            body: "Thanks, on it.".into(),
            in_reply_to: None,
            enterprise_host: None,
        }
    }

    async fn answering(status: u16) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/repos/octo/app/issues/7/comments"))
            .respond_with(ResponseTemplate::new(status).insert_header("Retry-After", "7"))
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn an_answer_to_a_review_comment_goes_in_its_thread() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/repos/octo/app/pulls/7/comments/42/replies"))
            .and(header("authorization", "Bearer ghp_test"))
            .and(body_json(json!({"body": "Thanks, on it."})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "id": 43, "html_url": "https://github.com/octo/app/pull/7#discussion_r43",
                "pull_request_review_id": 80
            })))
            .expect(1)
            .mount(&server)
            .await;
        let Delivery::GithubComment {
            repo, number, body, ..
        } = delivery()
        else {
            unreachable!()
        };
        let in_thread = Delivery::GithubComment {
            repo,
            number,
            body,
            in_reply_to: Some(42),
            enterprise_host: None,
        };
        let sent = execute(&clients(), &creds(&server), &in_thread)
            .await
            .unwrap();
        // The review GitHub wraps the reply in, which it announces too.
        assert_eq!(
            sent.remote_id.as_deref(),
            Some("https://github.com/octo/app/pull/7#pullrequestreview-80")
        );
    }

    #[tokio::test]
    async fn a_comment_is_posted_with_the_api_headers_and_returns_its_url() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/repos/octo/app/issues/7/comments"))
            .and(header("authorization", "Bearer ghp_test"))
            .and(header("accept", "application/vnd.github+json"))
            .and(header("x-github-api-version", "2022-11-28"))
            .and(header(
                "user-agent",
                concat!("webhook-mcp/", env!("CARGO_PKG_VERSION")),
            ))
            .and(body_json(json!({"body": "Thanks, on it."})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "id": 1, "html_url": "https://github.com/octo/app/issues/7#issuecomment-1",
                "user": {"login": "hook-bot"}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let sent = execute(&clients(), &creds(&server), &delivery())
            .await
            .unwrap();
        assert_eq!(sent.status, 201);
        assert_eq!(sent.author.as_deref(), Some("hook-bot"));
        assert_eq!(
            sent.remote_id.as_deref(),
            Some("https://github.com/octo/app/issues/7#issuecomment-1")
        );
        assert!(sent.response.unwrap().contains("issuecomment"));
    }

    #[tokio::test]
    async fn a_long_comments_answer_is_read_whole_for_its_id_and_author() {
        // GitHub echoes the text, each emoji escaped as 12 bytes: past the usual read limit.
        let text = "\u{1F600}".repeat(65_536);
        let escaped = "\\ud83d\\ude00".repeat(65_536);
        let answer = format!(
            r#"{{"html_url":"https://github.com/octo/app/issues/7#issuecomment-9","id":9,"user":{{"login":"hook-bot"}},"body":"{escaped}"}}"#
        );
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/repos/octo/app/issues/7/comments"))
            .respond_with(ResponseTemplate::new(201).set_body_raw(answer, "application/json"))
            .mount(&server)
            .await;
        let long = Delivery::GithubComment {
            repo: "octo/app".into(),
            number: 7,
            body: text,
            in_reply_to: None,
            enterprise_host: None,
        };
        let sent = execute(&clients(), &creds(&server), &long).await.unwrap();
        assert_eq!(
            sent.remote_id.as_deref(),
            Some("https://github.com/octo/app/issues/7#issuecomment-9")
        );
        assert_eq!(sent.author.as_deref(), Some("hook-bot"));
    }

    #[tokio::test]
    async fn a_login_in_a_stored_api_url_is_not_sent_beside_the_token() {
        // Saved by an earlier version: the token's header alone goes.
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/repos/octo/app/issues/7/comments"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
            .expect(1)
            .mount(&server)
            .await;
        let with_login = server.uri().replace("http://", "http://bot:pa55@");
        let creds = Credentials {
            github_api_url: endpoint(with_login),
            ..creds(&server)
        };
        execute(&clients(), &creds, &delivery()).await.unwrap();
        let auth = authorization_sent(&server).await;
        assert_eq!(auth, ["Bearer ghp_test"]);
    }

    #[tokio::test]
    async fn a_server_error_is_retryable() {
        let server = answering(500).await;
        let err = execute(&clients(), &creds(&server), &delivery())
            .await
            .unwrap_err();
        assert!(err.retryable);
        assert_eq!(err.status, Some(500));
    }

    #[tokio::test]
    async fn too_many_requests_is_retried_after_the_delay_github_asks_for() {
        let server = answering(429).await;
        let err = execute(&clients(), &creds(&server), &delivery())
            .await
            .unwrap_err();
        assert!(err.retryable);
        assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    }

    #[tokio::test]
    async fn not_found_and_gone_are_permanent() {
        for status in [404, 410] {
            let server = answering(status).await;
            let err = execute(&clients(), &creds(&server), &delivery())
                .await
                .unwrap_err();
            assert!(!err.retryable, "{status}");
            assert_eq!(err.status, Some(status));
            assert!(err.message.contains(&status.to_string()), "{}", err.message);
        }
    }

    #[tokio::test]
    async fn a_missing_token_is_permanent_and_names_github_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201))
            .expect(0)
            .mount(&server)
            .await;
        let creds = Credentials {
            github_token: None,
            ..creds(&server)
        };
        let err = execute(&clients(), &creds, &delivery()).await.unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("GITHUB_TOKEN"), "{}", err.message);
    }

    #[tokio::test]
    async fn a_repo_that_is_not_owner_slash_name_is_refused_before_sending() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201))
            .expect(0)
            .mount(&server)
            .await;
        for repo in ["octo", "../x", "octo/.."] {
            let d = Delivery::GithubComment {
                repo: repo.into(),
                number: 1,
                body: "x".into(),
                in_reply_to: None,
                enterprise_host: None,
            };
            let err = execute(&clients(), &creds(&server), &d).await.unwrap_err();
            assert!(!err.retryable, "{repo}");
        }
    }

    #[test]
    fn an_enterprise_server_is_served_by_an_api_on_its_host() {
        let cases = [
            ("https://ghe.example.com/api/v3", "ghe.example.com", true),
            (
                "https://GHE.example.com:8443/api/v3",
                "ghe.example.com",
                true,
            ),
            (
                "https://ghe.example.com:8443/api/v3",
                "ghe.example.com:8443",
                true,
            ),
            (
                "https://ghe.example.com/api/v3",
                "ghe.example.com:8443",
                false,
            ),
            ("http://127.0.0.1:4000", "127.0.0.1:4000", true),
            ("https://api.github.com", "ghe.example.com", false),
            (
                "https://ghe.example.com.evil.test/api/v3",
                "ghe.example.com",
                false,
            ),
            ("https://ghe.example.com/api/v3", "ghe.example.com/x", false),
            ("https://ghe.example.com/api/v3", "", false),
        ];
        for (endpoint, host, want) in cases {
            let url = reqwest::Url::parse(endpoint).unwrap();
            assert_eq!(serves(&url, host), want, "{endpoint} for {host}");
        }
    }

    #[tokio::test]
    async fn an_enterprise_servers_event_is_not_answered_on_another_api() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201))
            .expect(0)
            .mount(&server)
            .await;
        let Delivery::GithubComment {
            repo, number, body, ..
        } = delivery()
        else {
            unreachable!()
        };
        let from_ghe = Delivery::GithubComment {
            repo,
            number,
            body,
            in_reply_to: None,
            enterprise_host: Some("ghe.example.com".into()),
        };
        let err = execute(&clients(), &creds(&server), &from_ghe)
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(
            err.message.contains("ghe.example.com")
                && err.message.contains("options.credentials.github_api_url"),
            "{}",
            err.message
        );
    }
}
