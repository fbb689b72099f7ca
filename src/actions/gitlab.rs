//! GitLab connector (outbox worker → `actions::execute` → here): adds a note to an issue or
//! merge request through the REST API v4, on gitlab.com or a self-hosted instance.

use serde_json::json;

use super::client::{self, missing_token};
use super::{ActionError, Clients, Credentials, GitlabNoun, Sent, segment};

/// The token a note is posted with, or why there is none.
pub(super) fn token(creds: &Credentials) -> Result<&str, ActionError> {
    creds.gitlab_token.as_deref().ok_or_else(|| {
        missing_token(
            &creds.gitlab_url,
            "GitLab token",
            "GITLAB_TOKEN",
            "gitlab_token",
        )
    })
}

pub(super) async fn note(
    clients: &Clients,
    creds: &Credentials,
    project: &str,
    noun: GitlabNoun,
    iid: u64,
    body: &str,
    internal: bool,
) -> Result<Sent, ActionError> {
    let token = token(creds)?;
    if project
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(ActionError::permanent(format!(
            "invalid GitLab project path {project:?}"
        )));
    }
    // The API takes the project path as one segment, its slashes encoded as %2F.
    let path = format!(
        "/api/v4/projects/{}/{}/{iid}/notes",
        segment("GitLab project", project)?,
        noun.as_str()
    );
    let (http, url) = clients.for_endpoint(&creds.gitlab_url, &path)?;
    let req = http
        .post(url)
        .header("PRIVATE-TOKEN", token)
        .json(&note_body(body, internal));
    let reply = client::send("GitLab", req).await?;
    // Notes have no web URL in the answer; the id is what the API addresses them by.
    let remote_id = reply.json()["id"].as_u64().map(|id| id.to_string());
    Ok(reply.sent(remote_id))
}

/// The note as GitLab takes it; `internal` only when set (older GitLab refuses no unknown
/// field, but a public note needs none).
fn note_body(body: &str, internal: bool) -> serde_json::Value {
    let mut note = json!({ "body": body });
    if internal {
        note["internal"] = json!(true);
    }
    note
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::client::testing::{clients, endpoint};
    use super::super::{Credentials, Delivery, GitlabNoun, execute};

    const NOTES: &str = "/api/v4/projects/group%2Fsub%2Fapp/merge_requests/3/notes";

    fn creds(server: &MockServer) -> Credentials {
        Credentials {
            // A trailing slash, as people paste base URLs.
            gitlab_url: endpoint(format!("{}/", server.uri())),
            gitlab_token: Some("glpat-test".into()),
            ..Credentials::default()
        }
    }

    fn delivery() -> Delivery {
        Delivery::GitlabNote {
            project: "group/sub/app".into(),
            noun: GitlabNoun::MergeRequests,
            iid: 3,
            body: "LGTM".into(),
            internal: false,
        }
    }

    async fn answering(status: u16) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(NOTES))
            .respond_with(ResponseTemplate::new(status).insert_header("Retry-After", "7"))
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn a_note_goes_to_the_encoded_project_path_with_the_private_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(NOTES))
            .and(header("private-token", "glpat-test"))
            .and(body_json(json!({"body": "LGTM"})))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(json!({"id": 42, "body": "LGTM"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let sent = execute(&clients(), &creds(&server), &delivery())
            .await
            .unwrap();
        assert_eq!(sent.status, 201);
        assert_eq!(sent.remote_id.as_deref(), Some("42"));
    }

    #[tokio::test]
    async fn server_errors_and_rate_limits_are_retryable() {
        let server = answering(500).await;
        let err = execute(&clients(), &creds(&server), &delivery())
            .await
            .unwrap_err();
        assert!(err.retryable);

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
        }
    }

    #[tokio::test]
    async fn a_missing_token_is_permanent_and_names_gitlab_token() {
        let server = MockServer::start().await;
        let creds = Credentials {
            gitlab_token: None,
            ..creds(&server)
        };
        let err = execute(&clients(), &creds, &delivery()).await.unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("GITLAB_TOKEN"), "{}", err.message);
    }

    #[tokio::test]
    async fn a_project_path_with_dot_segments_is_refused() {
        let server = MockServer::start().await;
        let d = Delivery::GitlabNote {
            project: "group/../admin".into(),
            noun: GitlabNoun::Issues,
            iid: 1,
            body: "x".into(),
            internal: false,
        };
        let err = execute(&clients(), &creds(&server), &d).await.unwrap_err();
        assert!(!err.retryable);
    }
}
