//! The receiver with the other providers' schemes: GitLab tokens, Slack v0 signatures and
//! its url_verification handshake, Standard Webhooks (and Svix's header names) and Open
//! WebUI's URL token.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    OPENWEBUI_USER_CREATED, assert_error, now_secs, read_json, send_json, spawn_app,
    standard_signature,
};

#[tokio::test]
async fn a_gitlab_token_is_accepted_and_not_kept_with_the_event() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(
        json!({"id": "gl", "name": "GitLab", "provider": "gitlab", "secret": "gl-token-xyz"}),
    )
    .await;
    let body = json!({"object_kind": "issue", "object_attributes": {"iid": 4, "action": "open"},
        "project": {"path_with_namespace": "group/proj"}});

    // Act
    let (status, answer) = read_json(app.post_gitlab("gl", &body, "gl-token-xyz").await).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "accepted");
    let event = app.event(answer["event_id"].as_str().unwrap()).await;
    assert_eq!(event["event_type"], "issue.open");
    assert_eq!(event["source"]["key"], "group/proj#4");
    assert_eq!(event["headers"]["x-gitlab-event"], "Issue Hook");
    assert!(event["headers"].get("x-gitlab-token").is_none(), "{event}");
    assert!(
        !event.to_string().contains("gl-token-xyz"),
        "token leaked: {event}"
    );
}

#[tokio::test]
async fn headers_named_like_credentials_are_not_kept_and_signatures_and_ids_are() {
    // Arrange: a GitHub delivery through a gateway that adds its own key and token.
    let app = spawn_app().await;
    app.github_webhook("gh", "gh-secret").await;
    let body = crate::helpers::issue_opened("o/r", 1, &[]);

    // Act
    let response = app
        .client
        .post(app.url("/webhooks/github/gh"))
        .header("X-GitHub-Event", "issues")
        .header("X-GitHub-Delivery", "d-headers")
        .header(
            "X-Hub-Signature-256",
            crate::helpers::github_signature("gh-secret", body.as_bytes()),
        )
        .header("X-Api-Key", "gateway-key-1")
        .header("X-Auth-Token", "gateway-token-2")
        .header("X-Authorization", "Bearer gateway-a")
        .header("X-Auth-Key", "gateway-b")
        .header("Token", "gateway-c")
        .header("Password", "gateway-d")
        .header("X-Api_Key", "gateway-e")
        .header("X-Credentials", "gateway-f")
        .header("X-Webhook-Key", "gateway-g")
        .header("Sec-Websocket-Key", "kept-1")
        .header("Idempotency-Key", "idem-3")
        .header("X-Event-Key", "issue:created")
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST");
    let (status, answer) = read_json(response).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{answer}");
    let event = app.event(answer["event_id"].as_str().unwrap()).await;
    let headers = &event["headers"];
    assert!(headers.get("x-api-key").is_none(), "{headers}");
    assert!(headers.get("x-auth-token").is_none(), "{headers}");
    assert!(!event.to_string().contains("gateway-"), "{event}");
    assert_eq!(headers["idempotency-key"], "idem-3", "{headers}");
    assert_eq!(headers["sec-websocket-key"], "kept-1", "{headers}");
    assert_eq!(headers["x-event-key"], "issue:created", "{headers}");
    assert!(headers["x-hub-signature-256"].is_string(), "{headers}");
}

#[tokio::test]
async fn slack_url_verification_is_answered_with_the_challenge_and_not_stored() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(
        json!({"id": "sl", "name": "Slack", "provider": "slack", "secret": "slack-signing"}),
    )
    .await;
    let challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";
    let body = json!({"token": "legacy", "challenge": challenge, "type": "url_verification"});

    // Act
    let (status, answer) = read_json(
        app.post_slack("sl", &body.to_string(), "slack-signing")
            .await,
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["challenge"], challenge);
    assert!(app.events("webhook_id=sl").await.is_empty());

    // One without a challenge to answer with (or with one that is not text) is refused.
    for body in [
        json!({"type": "url_verification"}),
        json!({"type": "url_verification", "challenge": {"a": 1}}),
    ] {
        let answer = read_json(
            app.post_slack("sl", &body.to_string(), "slack-signing")
                .await,
        )
        .await;
        crate::helpers::assert_error(&answer, StatusCode::BAD_REQUEST, None);
        assert_eq!(answer.1["error"]["code"], "invalid_payload", "{}", answer.1);
    }
    assert!(app.events("webhook_id=sl").await.is_empty());
}

#[tokio::test]
async fn slack_forms_are_acknowledged_with_an_empty_body_and_the_receipt_in_headers() {
    // Arrange: Slack posts a non-empty answer to a slash command in its channel, and a modal
    // answered with anything but its own shape shows an error.
    let app = spawn_app().await;
    app.create_webhook(
        json!({"id": "sl", "name": "Slack", "provider": "slack", "secret": "slack-signing"}),
    )
    .await;
    let slash = [
        ("team_id", "T1"),
        ("channel_id", "C1"),
        ("user_id", "U1"),
        ("command", "/deploy"),
        ("text", "web"),
        ("trigger_id", "13345.9"),
    ];
    let view = json!({"type": "view_submission", "trigger_id": "13345.10",
        "user": {"id": "U1"}, "view": {"id": "V1", "callback_id": "deploy"}});
    let view = view.to_string();
    let interactivity = [("payload", view.as_str())];

    for (what, form) in [
        ("slash command", &slash[..]),
        ("view submission", &interactivity[..]),
    ] {
        // Act
        let first = app.post_slack_form("sl", form, "slack-signing").await;
        let first_headers = first.headers().clone();
        let first_status = first.status();
        let first_body = first.text().await.expect("body");
        let again = app.post_slack_form("sl", form, "slack-signing").await;

        // Assert
        assert_eq!(first_status, StatusCode::OK, "{what}: {first_body}");
        assert_eq!(
            first_body, "",
            "{what}: Slack takes an empty body as the acknowledgement"
        );
        assert_eq!(first_headers["x-webhook-status"], "accepted", "{what}");
        let event_id = first_headers["x-webhook-event-id"]
            .to_str()
            .expect("event id");
        assert_eq!(app.event(event_id).await["id"], event_id, "{what}");
        assert_eq!(again.headers()["x-webhook-status"], "duplicate", "{what}");
        assert_eq!(again.headers()["x-webhook-event-id"], event_id, "{what}");
        assert_eq!(again.text().await.expect("body"), "", "{what}");
    }
}

#[tokio::test]
async fn a_slack_request_with_a_stale_timestamp_is_401() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(
        json!({"id": "sl", "name": "Slack", "provider": "slack", "secret": "slack-signing"}),
    )
    .await;
    let body = json!({"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "channel": "C1", "ts": "1.2"}});
    let ten_minutes_ago = now_secs() - 600;

    // Act
    let stale = read_json(
        app.post_slack_at("sl", &body.to_string(), "slack-signing", ten_minutes_ago)
            .await,
    )
    .await;
    let (status, fresh) = read_json(
        app.post_slack("sl", &body.to_string(), "slack-signing")
            .await,
    )
    .await;

    // Assert
    assert_error(&stale, StatusCode::UNAUTHORIZED, None);
    assert_eq!(status, StatusCode::OK, "{fresh}");
    let event = app.event(fresh["event_id"].as_str().unwrap()).await;
    assert_eq!(event["event_type"], "message");
    assert_eq!(event["delivery_id"], "Ev1");
}

#[tokio::test]
async fn a_standard_webhooks_event_signed_with_the_generated_secret_is_accepted() {
    // Arrange
    let app = spawn_app().await;
    let created = app
        .create_webhook(json!({"id": "sw", "name": "Svix", "provider": "standard-webhooks"}))
        .await;
    let secret = created["secret"].as_str().expect("secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let body = json!({"type": "invoice.paid", "data": {"id": "inv_1"}}).to_string();

    // Act
    let (status, answer) =
        read_json(app.post_standard("sw", "msg_2KWPBgLl", &body, secret).await).await;
    let forged = read_json(
        app.post_standard(
            "sw",
            "msg_other",
            &body,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .await,
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "accepted");
    let event = app.event(answer["event_id"].as_str().unwrap()).await;
    assert_eq!(event["event_type"], "invoice.paid");
    assert_eq!(event["delivery_id"], "msg_2KWPBgLl");
    assert_error(&forged, StatusCode::UNAUTHORIZED, None);
}

#[tokio::test]
async fn a_svix_delivery_with_svix_header_names_is_verified_and_deduplicated() {
    // Arrange: Svix sends svix-id / svix-timestamp / svix-signature, not the webhook-* names.
    let app = spawn_app().await;
    let created = app
        .create_webhook(json!({"id": "sx", "name": "Svix", "provider": "svix"}))
        .await;
    let secret = created["secret"].as_str().expect("secret").to_string();
    let body = json!({"type": "user.created", "data": {"id": "u_1"}}).to_string();
    let ts = now_secs();
    let send = |signature: String| {
        app.client
            .post(app.url("/webhooks/svix/sx"))
            .header("Content-Type", "application/json")
            .header("svix-id", "msg_svix_1")
            .header("svix-timestamp", ts.to_string())
            .header("svix-signature", signature)
            .body(body.clone())
            .send()
    };
    let signature = standard_signature(&secret, "msg_svix_1", ts, &body);

    // Act
    let (status, first) = read_json(send(signature.clone()).await.unwrap()).await;
    let (_, again) = read_json(send(signature).await.unwrap()).await;
    let forged = read_json(
        send(standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_svix_1",
            ts,
            &body,
        ))
        .await
        .unwrap(),
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["status"], "accepted");
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["event_id"], first["event_id"]);
    let event = app.event(first["event_id"].as_str().unwrap()).await;
    assert_eq!(event["event_type"], "user.created");
    assert_eq!(event["delivery_id"], "msg_svix_1");
    assert_error(&forged, StatusCode::UNAUTHORIZED, None);
}

#[tokio::test]
async fn an_open_webui_event_with_the_url_token_is_accepted_and_without_it_is_401() {
    // Arrange
    let app = spawn_app().await;
    let created = app
        .create_webhook(json!({"id": "owui", "name": "Open WebUI", "provider": "openwebui"}))
        .await;
    let with_token = created["url_with_token"].as_str().expect("url_with_token");
    assert!(with_token.starts_with(&format!("{}/webhooks/openwebui/owui?token=", app.base)));
    // As a reverse proxy passes the URL on, which stored headers must not keep.
    let path = with_token.strip_prefix(&app.base).expect("path");
    let post = |url: String| {
        app.client
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-Original-URI", path)
            .header("Referer", with_token)
            .body(OPENWEBUI_USER_CREATED)
    };

    // Act
    let (status, answer) = send_json(post(with_token.to_string())).await;
    let without = send_json(post(app.url("/webhooks/openwebui/owui"))).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "accepted");
    let event = app.event(answer["event_id"].as_str().unwrap()).await;
    assert_eq!(event["event_type"], "user.created");
    assert_eq!(event["delivery_id"], "0e6d48ba-037e-40c1-bc15-a72df1c7b183");
    assert_eq!(event["payload"]["actor"]["name"], "Harness Admin");
    let token = created["secret"].as_str().expect("secret");
    assert!(!event.to_string().contains(token), "token leaked: {event}");
    assert_eq!(
        event["headers"]["x-original-uri"],
        "/webhooks/openwebui/owui?token=********"
    );
    assert_error(&without, StatusCode::UNAUTHORIZED, None);
}

#[tokio::test]
async fn a_jira_connect_apps_jwt_signed_webhook_is_401_saying_to_use_an_admin_webhook() {
    // Arrange: Connect apps sign with a JWT (in the Authorization header or `?jwt=`), never
    // with X-Hub-Signature.
    let app = spawn_app().await;
    app.create_webhook(
        json!({"id": "jira", "name": "Jira", "provider": "jira", "secret": "jira-secret"}),
    )
    .await;
    let body = json!({"webhookEvent": "jira:issue_created", "issue": {"key": "OPS-1"}});
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJjb25uZWN0In0.c2ln";
    let post = |path: String| app.client.post(app.url(&path)).json(&body);

    // Act
    let in_header =
        send_json(post("/webhooks/jira/jira".into()).header("Authorization", format!("JWT {jwt}")))
            .await;
    let in_query = send_json(post(format!("/webhooks/jira/jira?lic=none&jwt={jwt}"))).await;
    let unsigned = send_json(post("/webhooks/jira/jira".into())).await;

    // Assert
    for answer in [&in_header, &in_query] {
        assert_error(answer, StatusCode::UNAUTHORIZED, None);
        let message = answer.1["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("Connect app") && message.contains("not supported"),
            "{message}"
        );
        assert!(message.contains("admin webhook with a secret"), "{message}");
    }
    assert_error(&unsigned, StatusCode::UNAUTHORIZED, None);
    assert_eq!(
        unsigned.1["error"]["message"],
        "missing header X-Hub-Signature"
    );
    let rejected = app.events("webhook_id=jira&status=rejected").await;
    assert_eq!(rejected.len(), 3, "{rejected:#?}");
    for event in rejected {
        let event = app.event(event["id"].as_str().expect("id")).await;
        assert!(!event.to_string().contains(jwt), "JWT kept: {event}");
    }
}
