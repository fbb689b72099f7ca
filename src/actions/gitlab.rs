//! GitLab connector (outbox worker → `actions::execute` → here): adds a note to an issue,
//! merge request or commit through the REST API v4, on gitlab.com or a self-hosted instance —
//! in the thread it answers when it answers one.

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

/// What a note goes on.
#[derive(Debug, Clone, Copy)]
pub(super) enum Noteable<'a> {
    Item {
        noun: GitlabNoun,
        iid: u64,
    },
    /// A commit, by its SHA.
    Commit(&'a str),
}

/// A note as it is to be posted.
#[derive(Debug, Clone, Copy)]
pub(super) struct Note<'a> {
    pub body: &'a str,
    pub internal: bool,
    /// The thread (`discussion_id`) it answers in.
    pub discussion: Option<&'a str>,
    /// The instance the event came from.
    pub site: Option<&'a str>,
}

/// Refuses a note for an event of gitlab.com that would go to a self-hosted GitLab, or for an
/// event of a self-hosted one (`site`, as its project's `web_url` names it) that would go to
/// gitlab.com: project paths repeat across instances, and the token would post the text on a
/// stranger's project — a confidential issue's text on a public one. Two self-hosted addresses
/// are taken for one instance: its API is often reached at another address than the public
/// one its pages name (`http://gitlab:80` inside a compose network, a proxy ending TLS).
pub(super) fn same_site(creds: &Credentials, site: Option<&str>) -> Result<(), ActionError> {
    let Some(site) = site else {
        return Ok(());
    };
    let configured = crate::providers::site_of("gitlab", &creds.gitlab_url.url);
    let on_gitlab_com = |address: &str| {
        reqwest::Url::parse(address)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| h.trim_end_matches('.').eq_ignore_ascii_case("gitlab.com"))
            })
            .unwrap_or(false)
    };
    let configured_on_com = configured.as_deref().is_some_and(on_gitlab_com);
    if configured.as_deref() == Some(site) || on_gitlab_com(site) == configured_on_com {
        return Ok(());
    }
    let configured = configured.unwrap_or_else(|| "an unreadable address".into());
    Err(ActionError::permanent(format!(
        "this event came from the GitLab instance {site}, but the note would go to the GitLab \
         at {configured}: set the webhook's options.credentials.gitlab_url to {site}'s API \
         address, with a gitlab_token for it (or GITLAB_URL and GITLAB_TOKEN, when this server \
         answers that instance only)"
    )))
}

pub(super) async fn note(
    clients: &Clients,
    creds: &Credentials,
    project: &str,
    on: Noteable<'_>,
    note: &Note<'_>,
) -> Result<Sent, ActionError> {
    same_site(creds, note.site)?;
    let token = token(creds)?;
    let path = note_path(project, on, note.discussion)?;
    let (http, url) = clients.for_endpoint(&creds.gitlab_url, &path)?;
    let req =
        with_token(http.post(url.clone()), &url, token).json(&note_body(note.body, note.internal));
    let reply = client::send("GitLab", req)
        .await
        .map_err(|e| client::naming_a_404s_url(e, &url, setting(&creds.gitlab_url)))?;
    // Notes have no web URL in the answer; the id is what the API addresses them by, and
    // what the note's own event names when it comes back. A new thread answers with the
    // thread, its note first. (A note of its own is answered as the note alone, which names
    // no discussion.)
    let answer = reply.json();
    let remote_id = answer["id"]
        .as_u64()
        .or_else(|| answer.pointer("/notes/0/id").and_then(|id| id.as_u64()))
        .map(|id| id.to_string());
    // A note of quick actions alone (a template's own `/label ~triaged` line) is run and
    // makes no note: GitLab answers it 202 with what the actions changed, and no id.
    let quick_actions_only = reply.status == 202;
    if remote_id.is_none() && reply.whole && !quick_actions_only {
        return Err(reply.not_the_post("GitLab", "note", setting(&creds.gitlab_url)));
    }
    let thread = match (on, note.discussion) {
        (Noteable::Commit(_), None) => answer["id"].as_str().map(str::to_owned),
        _ => None,
    };
    let author = answer
        .pointer("/author/username")
        .or_else(|| answer.pointer("/notes/0/author/username"))
        .and_then(|a| a.as_str());
    Ok(Sent {
        thread,
        ..reply.sent(remote_id).by(author)
    })
}

/// Where the GitLab address a note went to is set: the server's, or the webhook's own.
fn setting(gitlab_url: &super::Endpoint) -> &'static str {
    if gitlab_url.trusted {
        "GITLAB_URL"
    } else {
        "the webhook's options.credentials.gitlab_url"
    }
}

/// The token on a request to `url`: as `Authorization: Bearer`, which GitLab takes for an OAuth
/// token and for a personal, project or group access token alike. A URL that carries a login
/// (for a proxy in front of GitLab) has it sent in `Authorization` itself: the token then goes
/// in `PRIVATE-TOKEN`, where GitLab takes an access token too (not an OAuth one).
fn with_token(
    req: reqwest::RequestBuilder,
    url: &reqwest::Url,
    token: &str,
) -> reqwest::RequestBuilder {
    if url.username().is_empty() && url.password().is_none() {
        req.bearer_auth(token)
    } else {
        req.header("PRIVATE-TOKEN", token)
    }
}

/// Where a note is posted: the thread's notes when it answers in one; else the item's notes,
/// or for a commit a thread of its own. (A commit's comments API takes a plain comment too,
/// but answers without the note's id, by which its event is known for the service's own when
/// it comes back: unknown, a question would answer itself.)
fn note_path(
    project: &str,
    on: Noteable<'_>,
    discussion: Option<&str>,
) -> Result<String, ActionError> {
    if project
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(ActionError::permanent(format!(
            "invalid GitLab project path {project:?}"
        )));
    }
    // The API takes the project path as one segment, its slashes encoded as %2F.
    let project = segment("GitLab project", project)?;
    let item = match on {
        Noteable::Item { noun, iid } => format!("{}/{iid}", noun.as_str()),
        Noteable::Commit(sha) => format!("repository/commits/{}", segment("commit SHA", sha)?),
    };
    let base = format!("/api/v4/projects/{project}/{item}");
    Ok(match (discussion, on) {
        (Some(thread), _) => format!(
            "{base}/discussions/{}/notes",
            segment("GitLab discussion", thread)?
        ),
        (None, Noteable::Commit(_)) => format!("{base}/discussions"),
        (None, Noteable::Item { .. }) => format!("{base}/notes"),
    })
}

/// The note as GitLab takes it; `internal` only when set (older GitLab refuses no unknown
/// field, but a public note needs none). A reply in a thread is as internal as the thread.
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

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::client::testing::{authorization_sent, clients, endpoint};
    use super::super::{Credentials, Delivery, GitlabNoun, execute};
    use super::Noteable;

    const NOTES: &str = "/api/v4/projects/group%2Fsub%2Fapp/merge_requests/3/notes";

    #[test]
    fn a_note_crosses_between_gitlab_com_and_a_self_hosted_gitlab_in_neither_direction() {
        let cases = [
            ("https://gitlab.com", Some("https://gitlab.com"), true),
            ("https://gitlab.com/", None, true),
            (
                "https://gitlab.com",
                Some("https://gitlab.internal.example"),
                false,
            ),
            ("https://GitLab.com.", Some("http://10.0.0.5:8929"), false),
            (
                "https://gitlab.example.com",
                Some("https://gitlab.com"),
                false,
            ),
            // One self-hosted instance, its API at an address its pages do not name.
            ("http://gitlab:80", Some("https://gitlab.example.com"), true),
            (
                "https://git.example.com:8443/gitlab",
                Some("http://git.example.com"),
                true,
            ),
        ];
        for (configured, site, taken) in cases {
            let creds = Credentials {
                gitlab_url: endpoint(configured.to_string()),
                ..Credentials::default()
            };
            let verdict = super::same_site(&creds, site);
            assert_eq!(verdict.is_ok(), taken, "{configured} {site:?}: {verdict:?}");
        }
    }

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
            discussion: None,
            site: None,
        }
    }

    async fn answering(status: u16) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(NOTES))
            // A comment made is answered as the comment, with its id.
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("Retry-After", "7")
                    .set_body_json(json!({"id": 42})),
            )
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn a_token_goes_in_private_token_beside_the_login_of_a_proxy_in_the_url() {
        // The proxy's login takes `Authorization`: the token goes in its own header.
        let server = answering(201).await;
        let creds = Credentials {
            gitlab_url: endpoint(server.uri().replace("http://", "http://bot:pa55word@")),
            ..creds(&server)
        };
        execute(&clients(), &creds, &delivery()).await.unwrap();
        let login = format!("Basic {}", STANDARD.encode("bot:pa55word"));
        assert_eq!(authorization_sent(&server).await, [login.as_str()]);
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests[0].headers["private-token"], "glpat-test");
    }

    #[tokio::test]
    async fn a_note_goes_to_the_encoded_project_path_with_the_token_as_bearer() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(NOTES))
            .and(header("authorization", "Bearer glpat-test"))
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
        assert_eq!(sent.thread, None, "a note of its own starts no thread");
    }

    #[test]
    fn notes_go_to_their_thread_or_their_item_table() {
        let mr = Noteable::Item {
            noun: GitlabNoun::MergeRequests,
            iid: 3,
        };
        let commit = Noteable::Commit("da15608");
        let cases = [
            (mr, None, "/api/v4/projects/g%2Fp/merge_requests/3/notes"),
            (
                mr,
                Some("6a9c"),
                "/api/v4/projects/g%2Fp/merge_requests/3/discussions/6a9c/notes",
            ),
            (
                Noteable::Item {
                    noun: GitlabNoun::Issues,
                    iid: 5,
                },
                Some("d1"),
                "/api/v4/projects/g%2Fp/issues/5/discussions/d1/notes",
            ),
            // A commit's own note is a thread of its own: the comments API names no note id.
            (
                commit,
                None,
                "/api/v4/projects/g%2Fp/repository/commits/da15608/discussions",
            ),
            (
                commit,
                Some("d2"),
                "/api/v4/projects/g%2Fp/repository/commits/da15608/discussions/d2/notes",
            ),
        ];
        for (on, discussion, want) in cases {
            assert_eq!(
                super::note_path("g/p", on, discussion).unwrap(),
                want,
                "{on:?}"
            );
        }
        assert!(super::note_path("g/p", Noteable::Commit(".."), None).is_err());
        assert!(super::note_path("g/p", mr, Some("..")).is_err());
    }

    #[tokio::test]
    async fn a_new_thread_on_a_commit_is_known_by_its_first_note() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(
                "/api/v4/projects/group%2Fsub%2Fapp/repository/commits/da15608/discussions",
            ))
            .and(body_json(json!({"body": "LGTM"})))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({"id": "6a9c", "individual_note": false,
                       "notes": [{"id": 77, "author": {"username": "project_1_bot_x"}}]})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let d = Delivery::GitlabCommitNote {
            project: "group/sub/app".into(),
            sha: "da15608".into(),
            body: "LGTM".into(),
            discussion: None,
            site: None,
        };
        let sent = execute(&clients(), &creds(&server), &d).await.unwrap();
        assert_eq!(sent.remote_id.as_deref(), Some("77"));
        assert_eq!(sent.author.as_deref(), Some("project_1_bot_x"));
        assert_eq!(
            sent.thread.as_deref(),
            Some("6a9c"),
            "the thread it started"
        );
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
            discussion: None,
            site: None,
        };
        let err = execute(&clients(), &creds(&server), &d).await.unwrap_err();
        assert!(!err.retryable);
    }
}
