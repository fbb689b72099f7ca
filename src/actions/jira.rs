//! Jira connector (outbox worker → `actions::execute` → here): comments on an issue through
//! REST API v2, which takes the comment as plain text (v3 wants Atlassian Document Format).
//! Works for Jira Cloud (email + API token, Basic auth) and Data Center (a personal access
//! token alone, sent as `Bearer`; or a user name and password, Basic auth). An event is
//! answered on the Jira site it came from or not at all.

use serde_json::json;

use super::client::{self, missing};
use super::{ActionError, Clients, Credentials, Sent, segment};
use crate::providers::site_of;

const SETTINGS: &str = "JIRA_BASE_URL, JIRA_EMAIL and JIRA_API_TOKEN";

/// How a comment logs in to Jira.
/// No `Debug`: it holds the token.
#[derive(Clone, Copy)]
pub(super) enum Login<'a> {
    /// An email (or Data Center user name) with an API token (or password): Basic auth.
    Basic { email: &'a str, token: &'a str },
    /// A token given without an email: a Data Center personal access token, which Jira takes
    /// only as `Authorization: Bearer`.
    Bearer(&'a str),
}

/// The Jira site and the login a comment is posted with, or why there are none. A token
/// alone is a personal access token; with an email, the two are a Basic login.
pub(super) fn login(creds: &Credentials) -> Result<(&super::Endpoint, Login<'_>), ActionError> {
    let Some(base) = creds.jira_base_url.as_ref() else {
        return Err(missing("Jira site and credentials", SETTINGS));
    };
    let Some(token) = creds.jira_api_token.as_deref() else {
        let set = if base.trusted {
            "JIRA_API_TOKEN on the server, or the webhook's options.credentials.jira_api_token"
                .to_string()
        } else {
            // Only a webhook's own token goes to the site it named itself.
            format!(
                "the webhook's own options.credentials.jira_api_token for {} (JIRA_API_TOKEN \
                 is only sent to the server's configured JIRA_BASE_URL)",
                super::redact_url(&base.url)
            )
        };
        return Err(ActionError::permanent(format!(
            "no Jira API token configured: set {set}; with an email (JIRA_EMAIL, jira_email) \
             for an Atlassian API token or a password, alone for a Data Center personal access \
             token"
        )));
    };
    // Trimmed here too: an email saved before it was trimmed on save (a space copied with
    // it) would go into the Basic login and be refused as a wrong password.
    let email = creds
        .jira_email
        .as_deref()
        .map(str::trim)
        .filter(|email| !email.is_empty());
    let login = match email {
        Some(email) => Login::Basic { email, token },
        None => Login::Bearer(token),
    };
    Ok((base, login))
}

/// Refuses a reply to an event of one Jira site (`site`, as its issue's `self` names it)
/// that would go to another: issue keys repeat across sites (every site's first project is
/// `KAN`), and the login would post the text on a stranger's issue.
pub(super) fn same_site(creds: &Credentials, site: Option<&str>) -> Result<(), ActionError> {
    // No site configured at all is `login`'s to say, naming the settings.
    let (Some(site), Some(base)) = (site, creds.jira_base_url.as_ref()) else {
        return Ok(());
    };
    // Atlassian's API gateway (`https://api.atlassian.com/ex/jira/{cloudId}`, for scoped
    // tokens and OAuth) names a site by its cloud id, which no event carries: it cannot be
    // told apart, so it is trusted to be the site the operator gave it for.
    if reqwest::Url::parse(&base.url).is_ok_and(|u| u.host_str() == Some("api.atlassian.com")) {
        return Ok(());
    }
    let configured = site_of("jira", &base.url);
    if configured.as_deref() == Some(site) {
        return Ok(());
    }
    let configured = configured.unwrap_or_else(|| "an unreadable address".into());
    Err(ActionError::permanent(format!(
        "this event came from the Jira site {site}, but the reply would go to the Jira site \
         {configured}: set the webhook's options.credentials.jira_base_url to {site}, with \
         jira_api_token (and jira_email, for Basic auth) for it (or JIRA_BASE_URL, \
         JIRA_API_TOKEN and JIRA_EMAIL, when this server answers that site only)"
    )))
}

/// One comment to post, as the outbox holds it.
pub(super) struct Comment<'a> {
    pub key: &'a str,
    pub body: &'a str,
    pub visibility: Option<&'a serde_json::Value>,
    pub internal: bool,
    pub site: Option<&'a str>,
}

pub(super) async fn comment(
    clients: &Clients,
    creds: &Credentials,
    comment: &Comment<'_>,
) -> Result<Sent, ActionError> {
    same_site(creds, comment.site)?;
    let (base, login) = login(creds)?;
    let path = format!(
        "/rest/api/2/issue/{}/comment",
        segment("Jira issue key", comment.key)?
    );
    let (http, mut url) = clients.for_endpoint(base, &path)?;
    client::drop_login(&mut url);
    let req = match login {
        Login::Basic { email, token } => http.post(url.clone()).basic_auth(email, Some(token)),
        Login::Bearer(token) => http.post(url.clone()).bearer_auth(token),
    };
    let setting = if base.trusted {
        "JIRA_BASE_URL"
    } else {
        "the webhook's options.credentials.jira_base_url"
    };
    let req = req.json(&comment_body(
        comment.body,
        comment.visibility,
        comment.internal,
    ));
    let reply = client::send("Jira", req)
        .await
        .map_err(|e| client::naming_a_404s_url(e, &url, setting))?;
    let answer = reply.json();
    let remote_id = answer["id"].as_str().map(str::to_owned);
    if remote_id.is_none() && reply.whole {
        return Err(reply.not_the_post("Jira", "comment", setting));
    }
    let author = answer
        .pointer("/author/accountId")
        .or_else(|| answer.pointer("/author/name"))
        .and_then(|a| a.as_str());
    Ok(reply.sent(remote_id).by(author))
}

/// The comment as REST v2 takes it: restricted to the same role or group as the comment it
/// answers, and marked internal on a service desk (`sd.public.comment`) when that was.
fn comment_body(
    body: &str,
    visibility: Option<&serde_json::Value>,
    internal: bool,
) -> serde_json::Value {
    let mut comment = json!({ "body": body });
    if let Some(v) = visibility {
        comment["visibility"] = v.clone();
    }
    if internal {
        comment["properties"] = json!([{"key": "sd.public.comment", "value": {"internal": true}}]);
    }
    comment
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
    use super::super::{Credentials, Delivery, execute};

    const COMMENTS: &str = "/rest/api/2/issue/ENG-12/comment";

    fn creds(server: &MockServer) -> Credentials {
        Credentials {
            jira_base_url: Some(endpoint(server.uri())),
            jira_email: Some("bot@example.com".into()),
            jira_api_token: Some("atl-token".into()),
            ..Credentials::default()
        }
    }

    fn delivery() -> Delivery {
        Delivery::JiraComment {
            key: "ENG-12".into(),
            body: "Investigating.".into(),
            visibility: None,
            internal: false,
            site: None,
        }
    }

    #[test]
    fn a_reply_goes_only_to_the_site_its_event_came_from_or_through_the_gateway() {
        let acme = Some("https://acme.atlassian.net");
        let cases = [
            ("https://acme.atlassian.net/", acme, true),
            ("https://ACME.atlassian.net", acme, true),
            ("https://other.atlassian.net", acme, false),
            (
                "https://api.atlassian.com/ex/jira/1324a887-45db-1bf4",
                acme,
                true,
            ),
            (
                "https://jira.corp.example/jira",
                Some("https://jira.corp.example/jira"),
                true,
            ),
            (
                "https://jira.corp.example",
                Some("https://jira.corp.example/jira"),
                false,
            ),
            ("https://other.atlassian.net", None, true),
        ];
        for (base, site, ok) in cases {
            let creds = Credentials {
                jira_base_url: Some(endpoint(base.to_string())),
                ..Credentials::default()
            };
            assert_eq!(
                super::same_site(&creds, site).is_ok(),
                ok,
                "{base} {site:?}"
            );
        }
    }

    async fn answering(status: u16) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(COMMENTS))
            // A comment made is answered as the comment, with its id.
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("Retry-After", "7")
                    .set_body_json(json!({"id": "10001"})),
            )
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn a_login_in_a_stored_site_url_is_not_sent_beside_the_api_token() {
        // Saved by an earlier version: the email and token's header alone goes.
        let server = answering(201).await;
        let creds = Credentials {
            jira_base_url: Some(endpoint(
                server.uri().replace("http://", "http://other:pa55@"),
            )),
            ..creds(&server)
        };
        execute(&clients(), &creds, &delivery()).await.unwrap();
        let auth = authorization_sent(&server).await;
        let expected = format!("Basic {}", STANDARD.encode("bot@example.com:atl-token"));
        assert_eq!(auth, [expected.as_str()]);
    }

    #[tokio::test]
    async fn a_comment_is_posted_as_plain_text_with_basic_auth() {
        let server = MockServer::start().await;
        let auth = format!("Basic {}", STANDARD.encode("bot@example.com:atl-token"));
        Mock::given(method("POST"))
            .and(path(COMMENTS))
            .and(header("authorization", auth.as_str()))
            .and(body_json(json!({"body": "Investigating."})))
            .respond_with(ResponseTemplate::new(201).set_body_json(
                json!({"id": "10042", "self": "x", "author": {"accountId": "5b10a"}}),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let sent = execute(&clients(), &creds(&server), &delivery())
            .await
            .unwrap();
        assert_eq!(sent.status, 201);
        assert_eq!(sent.remote_id.as_deref(), Some("10042"));
        assert_eq!(sent.author.as_deref(), Some("5b10a"));
    }

    #[tokio::test]
    async fn an_email_stored_with_spaces_around_it_is_sent_without_them() {
        // Stored before emails were trimmed on save.
        for (email, sent) in [
            (
                " bot@example.com \n",
                "Basic Ym90QGV4YW1wbGUuY29tOmF0bC10b2tlbg==",
            ),
            ("  ", "Bearer atl-token"),
        ] {
            let server = answering(201).await;
            let creds = Credentials {
                jira_email: Some(email.into()),
                ..creds(&server)
            };
            execute(&clients(), &creds, &delivery()).await.unwrap();
            let requests = server.received_requests().await.unwrap();
            let auth: Vec<_> = requests[0]
                .headers
                .get_all("authorization")
                .iter()
                .collect();
            assert_eq!(auth, [sent], "{email:?}");
        }
        assert_eq!(
            STANDARD.encode("bot@example.com:atl-token"),
            "Ym90QGV4YW1wbGUuY29tOmF0bC10b2tlbg=="
        );
    }

    #[tokio::test]
    async fn a_token_without_an_email_is_sent_as_a_bearer_personal_access_token() {
        // Data Center takes its personal access tokens only as `Bearer`.
        let server = answering(201).await;
        let creds = Credentials {
            jira_email: None,
            jira_api_token: Some("dc-pat".into()),
            ..creds(&server)
        };
        execute(&clients(), &creds, &delivery()).await.unwrap();
        let auth = authorization_sent(&server).await;
        assert_eq!(auth, ["Bearer dc-pat"]);
    }

    #[tokio::test]
    async fn server_errors_and_rate_limits_are_retryable() {
        let server = answering(503).await;
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
        }
    }

    #[tokio::test]
    async fn missing_credentials_are_permanent_and_name_the_jira_settings() {
        let server = MockServer::start().await;
        let creds = Credentials {
            jira_api_token: None,
            ..creds(&server)
        };
        let err = execute(&clients(), &creds, &delivery()).await.unwrap_err();
        assert!(!err.retryable);
        for var in ["JIRA_BASE_URL", "JIRA_EMAIL", "JIRA_API_TOKEN"] {
            assert!(err.message.contains(var), "{}", err.message);
        }
    }
}
