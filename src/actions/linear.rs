//! Linear connector (outbox worker → `actions::execute` → here): comments on an issue with
//! the `commentCreate` GraphQL mutation. GraphQL reports failures in `errors`, so the body
//! decides the outcome, not only the status.

use serde_json::{Value, json};

use super::client::{self, missing};
use super::{ActionError, Clients, Credentials, Sent};

const MUTATION: &str = "mutation($input: CommentCreateInput!){ commentCreate(input: $input){ success comment { id url } } }";

/// The API key a comment is posted with, or why there is none.
pub(super) fn api_key(creds: &Credentials) -> Result<&str, ActionError> {
    creds
        .linear_api_key
        .as_deref()
        .ok_or_else(|| missing("Linear API key", "LINEAR_API_KEY"))
}

pub(super) async fn comment(
    clients: &Clients,
    creds: &Credentials,
    issue_id: &str,
    parent_id: Option<&str>,
    body: &str,
) -> Result<Sent, ActionError> {
    let key = api_key(creds)?;
    let (http, url) = clients.for_endpoint(&creds.linear_api_url, "")?;
    let mut input = json!({ "issueId": issue_id, "body": body });
    if let Some(parent) = parent_id {
        // In the thread of the comment answered, as it shows in Linear.
        input["parentId"] = json!(parent);
    }
    let payload = json!({ "query": MUTATION, "variables": { "input": input } });
    let req = http
        .post(url)
        .header("Authorization", authorization(key))
        .json(&payload);
    let answer = client::exchange("Linear", req).await?;
    // GraphQL errors come with 200, and with 400 for rate limits and invalid input, so the
    // body is read before the status.
    let json: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    let status = answer.status.as_u16();
    // GraphQL may answer the data it made beside errors about other parts of the answer: a
    // comment made is made, and sending it again would post it twice.
    let made = answer.status.is_success()
        && json["data"]["commentCreate"]["success"].as_bool() == Some(true);
    if let Some(errors) = json["errors"].as_array().filter(|e| !e.is_empty())
        && !made
        && (answer.status.is_success() || status == 400)
    {
        let retryable = errors.iter().any(is_transient);
        let limited = errors
            .iter()
            .any(|e| e["extensions"]["code"].as_str() == Some("RATELIMITED"));
        return Err(ActionError {
            retryable,
            status: Some(status),
            retry_after: limited
                .then(|| budget_reset(&answer.headers, std::time::SystemTime::now()))
                .flatten(),
            message: format!("Linear refused the comment: {}", messages(errors)),
            unanswered: false,
            rate_limited: limited,
        });
    }
    if !answer.status.is_success() {
        let mut err = client::status_error("Linear", &answer);
        if status == 429 && err.retry_after.is_none() {
            err.retry_after = budget_reset(&answer.headers, std::time::SystemTime::now());
        }
        return Err(err);
    }
    let reply = answer.reply();
    let created = &json["data"]["commentCreate"];
    // Not GraphQL at all, and all there was of it (a sign-in page, an empty answer): not
    // Linear's API at that address, and nothing made.
    if json.is_null() && reply.whole {
        return Err(reply.not_the_post("Linear", "comment", "LINEAR_API_URL"));
    }
    if created["success"].as_bool() != Some(true) {
        return Err(ActionError {
            status: Some(reply.status),
            ..ActionError::permanent("Linear answered commentCreate without success")
        });
    }
    // The id, as the comment's own `Comment.create` webhook names it (`data.id`): that is how
    // the service knows its comment when it comes back. Its URL there is a page address that
    // need not match the API's letter for letter.
    let comment = &created["comment"];
    let remote_id = comment["id"]
        .as_str()
        .or_else(|| comment["url"].as_str())
        .map(str::to_owned);
    Ok(reply.sent(remote_id))
}

/// The `Authorization` value for `key`: a personal API key (`lin_api_…`) goes bare, as Linear
/// takes it; any other is an OAuth access token (an app actor's, for an agent, too), which
/// Linear takes only after `Bearer`.
fn authorization(key: &str) -> String {
    if key.starts_with("lin_api_") {
        key.to_owned()
    } else {
        format!("Bearer {key}")
    }
}

/// Linear signals rate limits as a GraphQL error with code `RATELIMITED`, and trouble on its
/// side as `INTERNAL_SERVER_ERROR`: the errors that waiting fixes.
fn is_transient(error: &Value) -> bool {
    matches!(
        error["extensions"]["code"].as_str(),
        Some("RATELIMITED" | "INTERNAL_SERVER_ERROR")
    )
}

/// When a spent Linear budget refills: Linear counts requests and query complexity apart,
/// each with `-remaining` and `-reset` headers (`x-ratelimit-requests-reset`, in epoch
/// milliseconds). The wait is until the latest reset of a budget that is spent, or of every
/// budget named if none says it is (a query costlier than what is left).
fn budget_reset(
    headers: &reqwest::header::HeaderMap,
    now: std::time::SystemTime,
) -> Option<std::time::Duration> {
    let read = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let budgets: Vec<(Option<f64>, f64)> = ["requests", "complexity"]
        .iter()
        .filter_map(|b| {
            let reset = read(&format!("x-ratelimit-{b}-reset"))?;
            Some((read(&format!("x-ratelimit-{b}-remaining")), reset))
        })
        .collect();
    let spent = budgets
        .iter()
        .filter(|(remaining, _)| remaining.is_some_and(|r| r <= 0.0))
        .map(|(_, reset)| *reset);
    let reset = spent
        .clone()
        .reduce(f64::max)
        .or_else(|| budgets.iter().map(|(_, reset)| *reset).reduce(f64::max))?;
    // Milliseconds, as Linear sends; a value in seconds (before the year 5138) is taken as such.
    let at_ms = if reset < 1e11 { reset * 1000.0 } else { reset };
    let now_ms = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as f64;
    let wait = (at_ms - now_ms).max(0.0) / 1000.0;
    std::time::Duration::try_from_secs_f64(wait).ok()
}

fn messages(errors: &[Value]) -> String {
    let all: Vec<&str> = errors
        .iter()
        .map(|e| e["message"].as_str().unwrap_or("unknown error"))
        .collect();
    client::truncate(&all.join("; "), 300).to_owned()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use wiremock::matchers::{body_partial_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::client::testing::{clients, endpoint};
    use super::super::{Credentials, Delivery, execute};

    fn creds(server: &MockServer) -> Credentials {
        Credentials {
            linear_api_url: endpoint(format!("{}/graphql", server.uri())),
            linear_api_key: Some("lin_api_test".into()),
            ..Credentials::default()
        }
    }

    fn delivery() -> Delivery {
        Delivery::LinearComment {
            issue_id: "ENG-7".into(),
            body: "Picked up.".into(),
            parent_id: None,
        }
    }

    async fn answering(template: ResponseTemplate) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .respond_with(template)
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn a_comment_is_created_with_the_bare_api_key_and_returns_its_url() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(header("authorization", "lin_api_test"))
            .and(body_partial_json(json!({
                "variables": {"input": {"issueId": "ENG-7", "body": "Picked up."}}
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": {"commentCreate": {"success": true,
                    "comment": {"id": "c1", "url": "https://linear.app/x/issue/ENG-7#comment-c1"}}}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let sent = execute(&clients(), &creds(&server), &delivery())
            .await
            .unwrap();
        assert_eq!(sent.remote_id.as_deref(), Some("c1"));
        let requests = server.received_requests().await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
        assert!(
            body["query"]
                .as_str()
                .unwrap()
                .contains("commentCreate(input: $input)")
        );
        assert!(body["variables"]["input"].get("parentId").is_none());
    }

    #[tokio::test]
    async fn an_oauth_token_is_sent_as_bearer() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(header("authorization", "Bearer lin_oauth_8f3a"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": {"commentCreate": {"success": true, "comment": {"id": "c1"}}}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let creds = Credentials {
            linear_api_key: Some("lin_oauth_8f3a".into()),
            ..creds(&server)
        };
        execute(&clients(), &creds, &delivery()).await.unwrap();
    }

    #[test]
    fn only_a_personal_api_key_goes_bare() {
        assert_eq!(super::authorization("lin_api_abc"), "lin_api_abc");
        assert_eq!(
            super::authorization("lin_oauth_abc"),
            "Bearer lin_oauth_abc"
        );
        assert_eq!(
            super::authorization("9f86d081884c7d65"),
            "Bearer 9f86d081884c7d65"
        );
    }

    #[tokio::test]
    async fn a_reply_to_a_comment_is_made_in_its_thread() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(body_partial_json(json!({
                "variables": {"input": {"issueId": "ENG-7", "parentId": "c0", "body": "Picked up."}}
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": {"commentCreate": {"success": true, "comment": {"id": "c1"}}}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let reply = Delivery::LinearComment {
            issue_id: "ENG-7".into(),
            body: "Picked up.".into(),
            parent_id: Some("c0".into()),
        };
        execute(&clients(), &creds(&server), &reply).await.unwrap();
    }

    #[tokio::test]
    async fn a_comment_made_beside_errors_about_the_rest_of_the_answer_is_delivered() {
        let partial = json!({
            "data": {"commentCreate": {"success": true, "comment": {"id": "cpart", "url": null}}},
            "errors": [{"message": "Internal error resolving url",
                        "path": ["commentCreate", "comment", "url"],
                        "extensions": {"code": "INTERNAL_SERVER_ERROR"}}],
        });
        let server = answering(ResponseTemplate::new(200).set_body_json(partial)).await;
        let sent = execute(&clients(), &creds(&server), &delivery())
            .await
            .expect("the comment was made");
        assert_eq!(sent.remote_id.as_deref(), Some("cpart"));
    }

    #[tokio::test]
    async fn graphql_errors_are_permanent_unless_rate_limited() {
        let bad = json!({"errors": [{"message": "Entity not found: Issue"}], "data": null});
        let server = answering(ResponseTemplate::new(200).set_body_json(bad)).await;
        let err = execute(&clients(), &creds(&server), &delivery())
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("Entity not found"), "{}", err.message);

        for code in ["RATELIMITED", "INTERNAL_SERVER_ERROR"] {
            let passing = json!({"errors": [{"message": "try later",
                "extensions": {"code": code}}]});
            let server = answering(ResponseTemplate::new(400).set_body_json(passing)).await;
            assert!(
                execute(&clients(), &creds(&server), &delivery())
                    .await
                    .unwrap_err()
                    .retryable,
                "{code}"
            );
        }
    }

    #[tokio::test]
    async fn a_rate_limit_waits_for_the_spent_budget_to_refill() {
        let limited = json!({"errors": [{"message": "Rate limit exceeded",
            "extensions": {"code": "RATELIMITED"}}]});
        // A reset is written as seconds from now (`@40`) and stamped just before the request:
        // under load, building the cases' servers can take longer than the tolerance below.
        let at = |secs: u64| format!("@{secs}");
        let cases = [
            (
                "requests spent",
                vec![
                    ("requests-remaining", "0".to_string()),
                    ("requests-reset", at(40)),
                    ("complexity-remaining", "9000".into()),
                    ("complexity-reset", at(3000)),
                ],
                Some(40),
            ),
            (
                "complexity spent",
                vec![
                    ("requests-remaining", "12".to_string()),
                    ("requests-reset", at(40)),
                    ("complexity-remaining", "0".into()),
                    ("complexity-reset", at(90)),
                ],
                Some(90),
            ),
            (
                "neither says spent",
                vec![("requests-reset", at(20)), ("complexity-reset", at(60))],
                Some(60),
            ),
            ("no headers", vec![], None),
        ];
        for (name, headers, want) in cases {
            let server = MockServer::start().await;
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64;
            let mut template = ResponseTemplate::new(400).set_body_json(limited.clone());
            for (h, v) in headers {
                let v = match v.strip_prefix('@') {
                    Some(secs) => (now_ms + secs.parse::<u64>().unwrap() * 1000).to_string(),
                    None => v,
                };
                template = template.insert_header(format!("x-ratelimit-{h}").as_str(), v.as_str());
            }
            Mock::given(method("POST"))
                .and(path("/graphql"))
                .respond_with(template)
                .mount(&server)
                .await;
            let err = execute(&clients(), &creds(&server), &delivery())
                .await
                .unwrap_err();
            assert!(err.retryable, "{name}");
            let secs = err.retry_after.map(|d| d.as_secs_f64().round() as u64);
            // A second either way: the reset is read against a clock that has moved on.
            assert!(
                match (secs, want) {
                    (Some(s), Some(w)) => s.abs_diff(w) <= 1,
                    (s, w) => s == w,
                },
                "{name}: {secs:?}"
            );
        }
    }

    #[tokio::test]
    async fn http_errors_are_classified_like_every_other_api() {
        let server = answering(ResponseTemplate::new(500)).await;
        assert!(
            execute(&clients(), &creds(&server), &delivery())
                .await
                .unwrap_err()
                .retryable
        );

        let server = answering(ResponseTemplate::new(429).insert_header("Retry-After", "7")).await;
        let err = execute(&clients(), &creds(&server), &delivery())
            .await
            .unwrap_err();
        assert_eq!(err.retry_after, Some(Duration::from_secs(7)));

        for status in [404, 410] {
            let server = answering(ResponseTemplate::new(status)).await;
            assert!(
                !execute(&clients(), &creds(&server), &delivery())
                    .await
                    .unwrap_err()
                    .retryable
            );
        }
    }

    #[tokio::test]
    async fn a_missing_api_key_is_permanent_and_names_linear_api_key() {
        let server = MockServer::start().await;
        let creds = Credentials {
            linear_api_key: None,
            ..creds(&server)
        };
        let err = execute(&clients(), &creds, &delivery()).await.unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("LINEAR_API_KEY"), "{}", err.message);
    }
}
