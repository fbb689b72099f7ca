//! The webhook registry over REST: create, read, update, enable/disable, rotate, delete, and
//! the errors that name what to fix. Also the API key and health.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_error, read_json, send_json, spawn_app, spawn_app_with};

#[tokio::test]
async fn health_answers_ok_without_an_api_key() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, body) = send_json(app.client.get(app.url("/health"))).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn creating_a_webhook_answers_201_with_its_url_and_the_secret_once() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, created) = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "id": "gh-main", "name": "Main repo", "provider": "github", "secret": "s3cret-value-of-some-length",
    })))
    .await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["id"], "gh-main");
    assert_eq!(created["name"], "Main repo");
    assert_eq!(created["provider"], "github");
    assert_eq!(created["enabled"], true);
    assert_eq!(
        created["url"],
        format!("{}/webhooks/github/gh-main", app.base)
    );
    assert_eq!(created["secret"], "s3cret-value-of-some-length");
    assert_eq!(created["secret_hint"], "…ngth");
    assert_eq!(created["created_by"], "WEBHOOK_MCP_API_KEY");
}

#[tokio::test]
async fn get_and_list_never_show_the_secret_only_its_hint() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(
        json!({"id": "gh-1", "name": "One", "provider": "github", "secret": "abcdefgh-abcdefgh-1234"}),
    )
    .await;

    // Act
    let (get_status, one) = app.get_json("/api/webhooks/gh-1").await;
    let (list_status, list) = app.get_json("/api/webhooks").await;

    // Assert
    assert_eq!(get_status, StatusCode::OK, "{one}");
    assert_eq!(list_status, StatusCode::OK, "{list}");
    assert!(one.get("secret").is_none(), "GET shows the secret: {one}");
    assert_eq!(one["secret_hint"], "…1234");
    let hooks = list["webhooks"].as_array().expect("webhooks array");
    assert_eq!(hooks.len(), 1);
    assert!(
        hooks[0].get("secret").is_none(),
        "list shows the secret: {list}"
    );
    assert_eq!(hooks[0]["secret_hint"], "…1234");
    assert!(!one.to_string().contains("abcdefgh-abcdefgh-1234"));
    assert!(!list.to_string().contains("abcdefgh-abcdefgh-1234"));

    // Four characters of a short secret would give away too much of it.
    app.create_webhook(json!({"id": "short", "name": "S", "provider": "gitlab", "secret": "abcd"}))
        .await;
    let (_, short) = app.get_json("/api/webhooks/short").await;
    assert_eq!(short["secret_hint"], "…", "{short}");
}

#[tokio::test]
async fn a_webhook_without_id_or_secret_gets_generated_ones() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let created = app
        .create_webhook(json!({"name": "Generated", "provider": "gitlab"}))
        .await;
    // Stripe shows its secret only once the endpoint (this URL) exists.
    let stripe = app
        .create_webhook(json!({"name": "Payments", "provider": "stripe"}))
        .await;

    // Assert
    assert!(created.get("warnings").is_none(), "{created}");
    let warning = stripe["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("placeholder"), "{stripe}");
    assert!(warning.contains("rotate-secret"), "{stripe}");
    let id = created["id"].as_str().expect("id");
    let secret = created["secret"].as_str().expect("secret");
    assert!(!id.is_empty());
    assert!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "id is not URL-safe: {id}"
    );
    assert!(secret.len() >= 32, "secret too short: {secret}");
    assert_eq!(created["url"], format!("{}/webhooks/gitlab/{id}", app.base));
    let (status, _) = app.get_json(&format!("/api/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_openai_webhook_without_a_secret_is_warned_its_generated_one_is_a_placeholder() {
    // Arrange: OpenAI signs with Standard Webhooks, but its dashboard makes the secret.
    let app = spawn_app().await;

    // Act
    let openai = app
        .create_webhook(json!({"name": "Batches", "provider": "openai"}))
        .await;
    let svix = app
        .create_webhook(json!({"name": "Svix", "provider": "standard-webhooks"}))
        .await;
    let given = app
        .create_webhook(json!({"name": "Given", "provider": "openai",
                               "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))
        .await;

    // Assert
    assert_eq!(openai["provider"], "standard-webhooks", "{openai}");
    let warning = openai["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("openai issues its own"), "{openai}");
    assert!(warning.contains("placeholder"), "{openai}");
    assert!(warning.contains("rotate-secret"), "{openai}");
    assert!(svix.get("warnings").is_none(), "{svix}");
    assert!(given.get("warnings").is_none(), "{given}");

    // With the sender named no more, the generated secret is one to give the sender: neither
    // flagged nor warned of.
    let id = openai["id"].as_str().expect("id");
    let (status, plain) = send_json(
        app.api(Method::PUT, &format!("/api/webhooks/{id}"))
            .json(&json!({"options": {"sender": null}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    let (_, looked) = app.get_json(&format!("/api/webhooks/{id}")).await;
    assert!(looked.get("secret_placeholder").is_none(), "{looked}");
    assert!(looked.get("warnings").is_none(), "{looked}");
}

#[tokio::test]
async fn a_placeholder_secret_is_said_on_every_look_until_the_senders_own_is_set() {
    // Arrange: Stripe makes the secret; the webhook exists before it does.
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "st", "name": "Payments", "provider": "stripe"}))
        .await;

    // Act
    let (_, shown) = app.get_json("/api/webhooks/st").await;
    let (_, listed) = app.get_json("/api/webhooks").await;
    let (status, rotated) = send_json(
        app.api(Method::POST, "/api/webhooks/st/rotate-secret")
            .json(&json!({"secret": "whsec_stripe_own_0123456789abcdef"})),
    )
    .await;
    let (_, after) = app.get_json("/api/webhooks/st").await;

    // Assert: flagged and warned while it lasts, with no grace kept for it after.
    for looked in [&shown, &listed["webhooks"][0]] {
        assert_eq!(looked["secret_placeholder"], true, "{looked}");
        let warning = looked["warnings"][0].as_str().unwrap_or_default();
        assert!(warning.contains("placeholder"), "{looked}");
    }
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert!(rotated.get("secret_placeholder").is_none(), "{rotated}");
    assert!(
        rotated.get("previous_secret_expires_at").is_none(),
        "{rotated}"
    );
    assert!(after.get("warnings").is_none(), "{after}");
}

#[tokio::test]
async fn an_openai_webhook_keeps_its_sender_so_a_rotation_needs_the_secret_openai_shows() {
    // Arrange: created by its alias, a standard-webhooks webhook whose sender makes the secret.
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "oai", "name": "Batches", "provider": "openai"}))
        .await;
    let rotate = "/api/webhooks/oai/rotate-secret";

    // Act
    let generated = send_json(app.api(Method::POST, rotate).json(&json!({}))).await;
    let (_, shown) = app.get_json("/api/webhooks/oai").await;
    let (_, listed) = app.get_json("/api/webhooks").await;
    let theirs = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (given_status, given) = send_json(
        app.api(Method::POST, rotate)
            .json(&json!({"secret": theirs, "grace_period_secs": 0})),
    )
    .await;
    let elsewhere = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "name": "Not OpenAI", "provider": "github", "options": {"sender": "openai"},
    })))
    .await;

    // Assert
    assert_error(&generated, StatusCode::BAD_REQUEST, Some("secret"));
    let message = generated.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("openai issues its own signing secret"),
        "{message}"
    );
    assert_eq!(shown["provider"], "standard-webhooks", "{shown}");
    assert_eq!(shown["options"]["sender"], "openai", "{shown}");
    assert_eq!(
        listed["webhooks"][0]["options"]["sender"], "openai",
        "{listed}"
    );
    assert_eq!(given_status, StatusCode::OK, "{given}");
    assert_eq!(given["secret"], theirs, "{given}");
    assert_error(&elsewhere, StatusCode::BAD_REQUEST, Some("options.sender"));
}

#[tokio::test]
async fn the_same_secret_again_suggests_ending_the_grace_only_where_that_would_work() {
    // Arrange: a webhook with its own secret and no earlier one.
    let app = spawn_app().await;
    let secret = "a-secret-set-at-the-sender-0123456789";
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github",
                              "secret": secret}))
        .await;
    let rotate = |body: Value| {
        send_json(
            app.api(Method::POST, "/api/webhooks/gh/rotate-secret")
                .json(&body),
        )
    };
    let message = |answer: &(StatusCode, Value)| {
        assert_error(answer, StatusCode::BAD_REQUEST, Some("secret"));
        answer.1["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    // Act: the same secret, with and without a grace period, and with no previous secret.
    let no_previous = rotate(json!({"secret": secret})).await;
    let already_zero = rotate(json!({"secret": secret, "grace_period_secs": 0})).await;
    // ... then, with a previous secret in its grace period, the current one again.
    let (status, rotated) = rotate(json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let current = rotated["secret"].as_str().expect("secret").to_string();
    let in_grace = rotate(json!({"secret": current, "grace_period_secs": 60})).await;
    let ended = rotate(json!({"secret": current, "grace_period_secs": 0})).await;

    // Assert: the way to end a grace period is named only where there is one to end and the
    // request did not already ask for it; then it works.
    for refused in [&no_previous, &already_zero] {
        let said = message(refused);
        assert!(said.contains("already the current secret"), "{said}");
        assert!(!said.contains("grace_period_secs 0"), "{said}");
    }
    let said = message(&in_grace);
    assert!(said.contains("grace_period_secs 0"), "{said}");
    assert_eq!(ended.0, StatusCode::OK, "{}", ended.1);
}

#[tokio::test]
async fn a_duplicate_id_is_refused_with_409_saying_how_to_take_up_the_existing_one() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "dup", "name": "First", "provider": "github"}))
        .await;

    // Act
    let answer = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "id": "dup", "name": "Second", "provider": "github",
    })))
    .await;

    // Assert: an earlier create whose answer was lost is looked at and its secret replaced,
    // rather than a second webhook made.
    assert_error(&answer, StatusCode::CONFLICT, Some("id"));
    let said = answer.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        said.contains("GET /api/webhooks/dup")
            && said.contains("POST /api/webhooks/dup/rotate-secret"),
        "{said}"
    );
}

#[tokio::test]
async fn an_unknown_provider_is_told_the_senders_names_that_also_work() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, body) = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "name": "x", "provider": "svx",
    })))
    .await;

    // Assert: `svix` and `openai` are accepted, so a list without them misleads.
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`svix`") && message.contains("`openai`"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_create_requests_are_refused_with_400_naming_the_field() {
    // Arrange
    let app = spawn_app().await;
    let cases: [(&str, &str, Option<&str>); 9] = [
        (
            r#"{"name":"x","provider":"myspace"}"#,
            "unknown provider",
            Some("provider"),
        ),
        (r#"{"name":"x","provider":"#, "bad JSON", None),
        (r#"{"provider":"github"}"#, "missing name", Some("name")),
        (r#"{"name":"x"}"#, "missing provider", Some("provider")),
        (
            r#"{"name":"x","provider":"github","colour":"red"}"#,
            "unknown field",
            Some("colour"),
        ),
        (
            r#"{"id":"has space","name":"x","provider":"github"}"#,
            "bad id",
            Some("id"),
        ),
        // Masks copied from a listing, with no stored value behind them to keep.
        (
            r#"{"name":"x","provider":"github","secret":"********"}"#,
            "masked secret",
            Some("secret"),
        ),
        (
            r#"{"name":"x","provider":"github","options":{"credentials":{"github_token":"********"}}}"#,
            "masked token",
            Some("options.credentials.github_token"),
        ),
        (
            r#"{"name":"x","provider":"github","options":{"credentials":{"github_api_url":"https://bot:***@ghe.example.com/api/v3"}}}"#,
            "masked base URL",
            Some("options.credentials.github_api_url"),
        ),
    ];

    for (body, what, field) in cases {
        // Act
        let answer = send_json(
            app.api(Method::POST, "/api/webhooks")
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await;

        // Assert
        assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{what}: {}", answer.1);
        assert_error(&answer, StatusCode::BAD_REQUEST, field);
    }
    let (_, list) = app.get_json("/api/webhooks").await;
    assert_eq!(list["webhooks"], json!([]), "nothing was created");
}

#[tokio::test]
async fn a_field_given_under_two_of_its_names_is_refused_naming_both() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let both_ids = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "name": "x", "provider": "github", "webhook_id": "a1", "id": "a2",
    })))
    .await;
    let both_texts = send_json(
        app.api(Method::POST, "/api/events/evt_1/comment")
            .json(&json!({"text": "a", "message": "b"})),
    )
    .await;

    // Assert
    for (answer, field, said) in [
        (&both_ids, "id", "give `id` or `webhook_id`, not both"),
        (&both_texts, "text", "give `text` or `message`, not both"),
    ] {
        assert_error(answer, StatusCode::BAD_REQUEST, Some(field));
        let message = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(said), "{message}");
        assert!(!message.contains("line 1"), "{message}");
    }
    let (_, listed) = app.get_json("/api/webhooks").await;
    assert_eq!(listed["webhooks"], json!([]), "{listed}");
}

#[tokio::test]
async fn put_updates_the_name_and_options() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "sl", "name": "Before", "provider": "slack", "secret": "x1"}))
        .await;

    // Act
    let (status, updated) = send_json(
        app.api(Method::PUT, "/api/webhooks/sl")
            .json(&json!({"name": "After", "options": {"tolerance_secs": 60}})),
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "After");
    assert_eq!(updated["options"]["tolerance_secs"], 60);
    assert!(updated.get("secret").is_none());
    let (_, read_back) = app.get_json("/api/webhooks/sl").await;
    assert_eq!(read_back["name"], "After");
    assert_eq!(read_back["options"], json!({"tolerance_secs": 60}));
}

#[tokio::test]
async fn put_with_a_different_provider_is_refused_naming_provider() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github"}))
        .await;

    // Act
    let answer = send_json(
        app.api(Method::PUT, "/api/webhooks/gh")
            .json(&json!({"provider": "gitlab"})),
    )
    .await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST, Some("provider"));
    let (_, still) = app.get_json("/api/webhooks/gh").await;
    assert_eq!(still["provider"], "github");
}

#[tokio::test]
async fn disable_and_enable_flip_the_enabled_flag() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "flip", "name": "Flip", "provider": "github"}))
        .await;

    // Act
    let (off_status, off) = send_json(app.api(Method::POST, "/api/webhooks/flip/disable")).await;
    let (_, after_off) = app.get_json("/api/webhooks/flip").await;
    let (on_status, on) = send_json(app.api(Method::POST, "/api/webhooks/flip/enable")).await;
    let (_, after_on) = app.get_json("/api/webhooks/flip").await;

    // Assert
    assert_eq!(off_status, StatusCode::OK, "{off}");
    assert_eq!(off["enabled"], false);
    assert_eq!(after_off["enabled"], false);
    assert_eq!(on_status, StatusCode::OK, "{on}");
    assert_eq!(on["enabled"], true);
    assert_eq!(after_on["enabled"], true);
}

#[tokio::test]
async fn delete_answers_204_and_the_webhook_is_then_404() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "gone", "name": "Gone", "provider": "github"}))
        .await;

    // Act
    let deleted = app
        .api(Method::DELETE, "/api/webhooks/gone")
        .send()
        .await
        .expect("DELETE");
    let after = app.get_json("/api/webhooks/gone").await;
    let again = send_json(app.api(Method::DELETE, "/api/webhooks/gone")).await;

    // Assert
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_error(&after, StatusCode::NOT_FOUND, None);
    assert_error(&again, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn the_api_refuses_a_missing_or_wrong_key_with_401() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let missing = send_json(app.client.get(app.url("/api/webhooks"))).await;
    let wrong = send_json(
        app.client
            .get(app.url("/api/webhooks"))
            .bearer_auth("not-the-key"),
    )
    .await;
    let create_without_key = send_json(
        app.client
            .post(app.url("/api/webhooks"))
            .json(&json!({"name": "x", "provider": "github"})),
    )
    .await;

    // Assert
    assert_error(&missing, StatusCode::UNAUTHORIZED, None);
    assert_error(&wrong, StatusCode::UNAUTHORIZED, None);
    assert_error(&create_without_key, StatusCode::UNAUTHORIZED, None);
    let (_, list) = app.get_json("/api/webhooks").await;
    assert_eq!(list["webhooks"], json!([]));
}

#[tokio::test]
async fn rotate_secret_returns_the_new_secret_once() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(
        json!({"id": "rot", "name": "Rot", "provider": "github", "secret": "old-secret-1"}),
    )
    .await;

    // Act
    let (status, rotated) =
        send_json(app.api(Method::POST, "/api/webhooks/rot/rotate-secret")).await;
    let (_, read_back) = app.get_json("/api/webhooks/rot").await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().expect("new secret shown");
    assert_ne!(new_secret, "old-secret-1");
    assert!(
        rotated["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );
    assert!(read_back.get("secret").is_none(), "{read_back}");
    let tail: String = new_secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(read_back["secret_hint"], Value::String(format!("…{tail}")));
}

#[tokio::test]
async fn the_receiver_url_uses_the_public_base_url_when_set() {
    // Arrange
    let app =
        spawn_app_with(|c| c.public_base_url = Some("https://hooks.example.com/".into())).await;

    // Act
    let created = app
        .create_webhook(json!({"id": "pub", "name": "Public", "provider": "github"}))
        .await;

    // Assert
    assert_eq!(
        created["url"],
        "https://hooks.example.com/webhooks/github/pub"
    );
}

#[tokio::test]
async fn a_secret_other_than_the_webhooks_given_to_an_update_is_refused_pointing_at_rotate_secret()
{
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github"}))
        .await;
    let put = |body: Value| send_json(app.api(Method::PUT, "/api/webhooks/gh").json(&body));

    // Act
    let secret = put(json!({"name": "Renamed", "secret": "a-new-secret-of-mine"})).await;
    let other = put(json!({"colour": "red"})).await;

    // Assert: refused, saying what changes it; an unknown field is not told of secrets.
    assert_error(&secret, StatusCode::BAD_REQUEST, Some("secret"));
    let said = secret.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        said.contains("rotate_secret `gh` (POST /api/webhooks/gh/rotate-secret)"),
        "{said}"
    );
    let said = other.1["error"]["message"].as_str().unwrap_or_default();
    assert!(!said.contains("rotate"), "{said}");
    let (_, unchanged) = app.get_json("/api/webhooks/gh").await;
    assert_eq!(unchanged["name"], "GitHub", "{unchanged}");
}

#[tokio::test]
async fn bad_updates_and_rotations_are_refused_naming_the_field() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(
        json!({"id": "gh", "name": "GitHub", "provider": "github", "secret": "keep-it-safe-keep-me"}),
    )
    .await;
    let put = |body: Value| send_json(app.api(Method::PUT, "/api/webhooks/gh").json(&body));
    let rotate = |body: Value| {
        send_json(
            app.api(Method::POST, "/api/webhooks/gh/rotate-secret")
                .json(&body),
        )
    };

    // Act
    let unknown_field = put(json!({"colour": "red"})).await;
    let options_list = put(json!({"options": [1]})).await;
    // Lists where objects belong: serde would read them by position.
    let credentials_list = put(json!({"options": {"credentials": ["enc:v1:AAAA"]}})).await;
    let rate_limit_list = put(json!({"options": {"rate_limit": [100, 200]}})).await;
    let no_burst = put(json!({"options": {"rate_limit": {"per_second": 5, "burst": 0}}})).await;
    let long_accented = put(json!({"name": "é".repeat(150)})).await;
    let reversed = put(json!({"name": "\u{202E}kooh"})).await;
    let empty_name = put(json!({"name": "   "})).await;
    let new_id = put(json!({"id": "other"})).await;
    let nothing = put(json!({})).await;
    let only_nulls = put(json!({"name": null, "options": null})).await;
    let empty_options = put(json!({"options": {}})).await;
    let negative_grace = rotate(json!({"grace_period_secs": -1})).await;
    let same_secret = rotate(json!({"secret": "keep-it-safe-keep-me"})).await;
    let masked_secret = rotate(json!({"secret": "********"})).await;
    let masked_token =
        put(json!({"options": {"credentials": {"slack_bot_token": "********"}}})).await;
    // GitHub signs no time: a replay window would protect nothing.
    let no_window = put(json!({"options": {"tolerance_secs": 60}})).await;
    let unknown_webhook = send_json(
        app.api(Method::PUT, "/api/webhooks/nope")
            .json(&json!({"name": "x"})),
    )
    .await;

    // Assert
    assert_error(&unknown_field, StatusCode::BAD_REQUEST, Some("colour"));
    for refused in [&nothing, &only_nulls, &empty_options] {
        assert_error(refused, StatusCode::BAD_REQUEST, None);
        assert!(
            refused.1.to_string().contains("nothing to change"),
            "{}",
            refused.1
        );
    }
    assert_error(&options_list, StatusCode::BAD_REQUEST, Some("options"));
    assert_error(
        &credentials_list,
        StatusCode::BAD_REQUEST,
        Some("options.credentials"),
    );
    assert_error(
        &rate_limit_list,
        StatusCode::BAD_REQUEST,
        Some("options.rate_limit"),
    );
    assert_error(
        &no_burst,
        StatusCode::BAD_REQUEST,
        Some("options.rate_limit.burst"),
    );
    assert_eq!(long_accented.0, StatusCode::OK, "{}", long_accented.1);
    assert_error(&reversed, StatusCode::BAD_REQUEST, Some("name"));
    assert_error(&empty_name, StatusCode::BAD_REQUEST, Some("name"));
    assert_error(&new_id, StatusCode::BAD_REQUEST, Some("id"));
    assert_error(
        &negative_grace,
        StatusCode::BAD_REQUEST,
        Some("grace_period_secs"),
    );
    assert_error(&unknown_webhook, StatusCode::NOT_FOUND, None);
    assert_error(&same_secret, StatusCode::BAD_REQUEST, Some("secret"));
    assert_error(&masked_secret, StatusCode::BAD_REQUEST, Some("secret"));
    assert_error(
        &masked_token,
        StatusCode::BAD_REQUEST,
        Some("options.credentials.slack_bot_token"),
    );
    assert_error(
        &no_window,
        StatusCode::BAD_REQUEST,
        Some("options.tolerance_secs"),
    );
    let (_, still) = app.get_json("/api/webhooks/gh").await;
    assert_eq!(still["name"], "é".repeat(150));
    assert_eq!(still["options"], json!({}), "{still}");
    assert_eq!(
        still["secret_hint"], "…p-me",
        "a refused rotation changed the secret"
    );
}

#[tokio::test]
async fn a_standard_webhooks_secret_that_is_not_whsec_base64_is_refused() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let answer = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "name": "Svix", "provider": "standard-webhooks", "secret": "whsec_not*base64!",
    })))
    .await;
    let stripe_api_key = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "name": "Stripe", "provider": "stripe", "secret": "sk_live_51Habc123",
    })))
    .await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST, Some("secret"));
    assert_error(&stripe_api_key, StatusCode::BAD_REQUEST, Some("secret"));
    let said = stripe_api_key.1.to_string();
    assert!(
        said.contains("Stripe API key") && said.contains("whsec_"),
        "{said}"
    );
    assert!(!said.contains("51Habc123"), "{said}");
}

#[tokio::test]
async fn a_database_that_cannot_be_flushed_refuses_writes_with_503_and_health_says_why() {
    // Arrange: the WAL file is removed under the running server, so the next flush of a
    // commit fails, as it would on a disk that gave out.
    let app = spawn_app().await;
    app.github_webhook("gh", "s3cret").await;
    let db = std::fs::canonicalize(&app.db_path).expect("database path");
    let wal = format!("{}-wal", db.display());
    std::fs::remove_file(&wal).expect("the WAL exists while the server runs");
    // Another connection (a reader, or `webhook-mcp stdio` on the same file) then makes a
    // new, empty WAL at the path: flushing that one would prove nothing.
    let other = rusqlite::Connection::open(&db).expect("open the database again");
    // (Its read fails: the shared index still counts frames the new file lacks.)
    let _ = other.query_row("SELECT COUNT(*) FROM webhooks", [], |r| r.get::<_, i64>(0));
    assert!(std::path::Path::new(&wal).exists(), "a new WAL was made");
    let body = json!({"action": "opened", "issue": {"number": 1, "title": "t"}}).to_string();

    // Act
    let delivery = app
        .post_github("gh", "issues", "d-after-disk-failure", &body, "s3cret")
        .await;
    let retry_after = delivery.headers().get("retry-after").cloned();
    let (delivery_status, delivery_body) = read_json(delivery).await;
    let (health_status, health) = send_json(app.client.get(app.url("/health"))).await;
    let created = send_json(
        app.api(Method::POST, "/api/webhooks")
            .json(&json!({"id": "later", "name": "Later", "provider": "github", "secret": "x"})),
    )
    .await;

    // Assert: the sender is told to retry (not that its event is stored), every later write
    // is refused the same way, and /health names the reason.
    assert_eq!(
        delivery_status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{delivery_body}"
    );
    assert_eq!(delivery_body["error"]["code"], "storage_unavailable");
    assert_eq!(retry_after.expect("Retry-After"), "60");
    assert_eq!(health_status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert_eq!(health["status"], "error");
    assert!(
        health["database"]
            .as_str()
            .is_some_and(|reason| reason.contains("flushing the database to disk failed")),
        "{health}"
    );
    assert_error(&created, StatusCode::SERVICE_UNAVAILABLE, None);
    assert_eq!(created.1["error"]["code"], "storage_unavailable");
}

#[tokio::test]
async fn a_database_file_removed_under_the_server_refuses_writes_with_503_and_health_says_why() {
    // Arrange: the database file is deleted (a cleanup script, a wrong `rm`); the server's
    // open connections still write into it, which no path reaches any more.
    let app = spawn_app().await;
    app.github_webhook("gh", "s3cret").await;
    let db = std::fs::canonicalize(&app.db_path).expect("database path");
    std::fs::remove_file(&db).expect("remove the database file");
    let body = json!({"action": "opened", "issue": {"number": 1, "title": "t"}}).to_string();

    // Act
    let delivery = app
        .post_github("gh", "issues", "d-after-rm", &body, "s3cret")
        .await;
    let (delivery_status, delivery_body) = read_json(delivery).await;
    let (health_status, health) = send_json(app.client.get(app.url("/health"))).await;

    // Assert: not acknowledged as stored, where a restart would find a new, empty database.
    assert_eq!(
        delivery_status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{delivery_body}"
    );
    assert_eq!(delivery_body["error"]["code"], "storage_unavailable");
    assert_eq!(health_status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert!(
        health["database"]
            .as_str()
            .is_some_and(|reason| reason.contains("database file")),
        "{health}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_exactly_one_json_object_is_refused_and_nothing_is_created() {
    // Arrange
    let app = spawn_app().await;
    let bodies = [
        r#"{"id":"tg1","name":"x","provider":"github"} this is not JSON"#,
        r#"{"id":"tg2","name":"x","provider":"github"}{"a":1}"#,
        r#"["tg3","n","github",null,null,null,null]"#,
    ];

    for body in bodies {
        // Act
        let answer = send_json(
            app.api(Method::POST, "/api/webhooks")
                .header("content-type", "application/json")
                .body(body),
        )
        .await;

        // Assert
        assert_error(&answer, StatusCode::BAD_REQUEST, None);
        assert_eq!(answer.1["error"]["code"], "invalid_json", "{body}");
    }
    let (_, listed) = send_json(app.api(Method::GET, "/api/webhooks")).await;
    assert_eq!(listed["webhooks"], json!([]), "nothing was created");
}

#[tokio::test]
async fn listing_refuses_parameters_it_does_not_take_and_names_refuse_control_characters() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let sorted = send_json(app.api(Method::GET, "/api/webhooks?sort=name")).await;
    let nul_name = send_json(
        app.api(Method::POST, "/api/webhooks")
            .json(&json!({"name": "a\u{0}b", "provider": "github"})),
    )
    .await;

    // Assert
    assert_error(&sorted, StatusCode::BAD_REQUEST, Some("sort"));
    assert_eq!(sorted.1["error"]["code"], "unknown_field", "{}", sorted.1);
    assert_error(&nul_name, StatusCode::BAD_REQUEST, Some("name"));
    let (status, listed) = send_json(app.api(Method::GET, "/api/webhooks")).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["webhooks"], json!([]));
}

#[tokio::test]
async fn the_webhook_list_pages_oldest_first_and_goes_on_past_a_deleted_last_webhook() {
    // Arrange: five webhooks, four of them GitHub's.
    let app = spawn_app().await;
    // Made a few milliseconds apart, in an order their ids do not sort in.
    for id in ["d4", "c3", "b2", "a1"] {
        app.github_webhook(id, "s").await;
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let (status, body) = send_json(
        app.api(Method::POST, "/api/webhooks")
            .json(&json!({"id": "e5", "name": "j", "provider": "jira"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let ids = |page: &Value| -> Vec<String> {
        page["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap().to_string())
            .collect()
    };

    // Act: the GitHub ones two at a time; the first page's last webhook is deleted before
    // the second page is asked for.
    let (_, first) = send_json(app.api(Method::GET, "/api/webhooks?provider=github&limit=2")).await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let (status, _) = send_json(app.api(Method::DELETE, "/api/webhooks/c3")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, second) = send_json(app.api(
        Method::GET,
        &format!("/api/webhooks?provider=github&limit=2&cursor={cursor}"),
    ))
    .await;
    let (_, all_at_once) = send_json(app.api(Method::GET, "/api/webhooks")).await;
    let (_, last) = send_json(app.api(Method::GET, "/api/webhooks?limit=200&cursor=0.a1")).await;

    // Assert
    assert_eq!(ids(&first), ["d4", "c3"], "{first}");
    assert_eq!(ids(&second), ["b2", "a1"], "{second}");
    assert_eq!(
        second["next_cursor"],
        Value::Null,
        "no GitHub webhook after a1: {second}"
    );
    assert_eq!(ids(&all_at_once), ["d4", "b2", "a1", "e5"], "{all_at_once}");
    assert_eq!(all_at_once["next_cursor"], Value::Null, "{all_at_once}");
    // A cursor from before any webhook was made starts at the first.
    assert_eq!(ids(&last), ["d4", "b2", "a1", "e5"], "{last}");
    for (path, field) in [
        ("/api/webhooks?limit=0", "limit"),
        ("/api/webhooks?limit=201", "limit"),
        ("/api/webhooks?limit=-1", "limit"),
        ("/api/webhooks?cursor=evt_0123", "cursor"),
        ("/api/webhooks?cursor=12.a%20b", "cursor"),
    ] {
        let answer = send_json(app.api(Method::GET, path)).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, Some(field));
    }
    // A limit that is no count is told the range and what it was, on every paged list.
    for (path, given) in [
        ("/api/webhooks?limit=-1", "-1"),
        ("/api/events?limit=abc", "abc"),
        ("/api/actions?limit=1.5", "1.5"),
        ("/api/tasks?limit=99999999999", "99999999999"),
        ("/api/audit?limit=-3", "-3"),
    ] {
        let answer = send_json(app.api(Method::GET, path)).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, Some("limit"));
        assert_eq!(
            answer.1["error"]["message"],
            format!("limit must be between 1 and 200 (got `{given}`)"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn lists_without_paging_refuse_limit_and_cursor_rather_than_answer_everything() {
    // Arrange: a webhook with a command, so each list has something it could have paged.
    let app = spawn_app().await;
    app.github_webhook("gh", "s").await;
    let (status, body) = send_json(
        app.api(Method::POST, "/api/webhooks/gh/commands")
            .json(&json!({"trigger": "issues.opened", "action": "comment", "template": "hi"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    for (path, param) in [
        ("/api/webhooks/gh/commands?limit=5", "limit"),
        ("/api/webhooks/gh/commands?cursor=abc", "cursor"),
        ("/api/keys?limit=1", "limit"),
        ("/api/keys?sort=name", "sort"),
    ] {
        // Act
        let answer = send_json(app.api(Method::GET, path)).await;

        // Assert
        assert_error(&answer, StatusCode::BAD_REQUEST, Some(param));
        assert_eq!(
            answer.1["error"]["code"], "unknown_field",
            "{path}: {}",
            answer.1
        );
    }
    for path in ["/api/webhooks/gh/commands", "/api/keys"] {
        let (status, body) = send_json(app.api(Method::GET, path)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
}

#[tokio::test]
async fn deleting_a_webhook_ends_its_open_work_and_a_new_one_at_its_id_starts_afresh() {
    // Arrange: a GitHub webhook whose delivery left a queued task and an unsent comment.
    let app = crate::helpers::spawn_manual(|_| {}).await;
    let secret = "old-secret";
    app.github_webhook("gh", secret).await;
    for command in [
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning"}),
        json!({"trigger": "issues.opened", "action": "comment", "template": "Hi"}),
    ] {
        app.add_command_ok("gh", command).await;
    }
    let body = crate::helpers::issue_opened("o/r", 1, &[]);
    let (_, first) = read_json(app.post_github("gh", "issues", "d-1", &body, secret).await).await;
    let old_event = first["event_id"].as_str().expect("event_id").to_string();

    // Act: delete it, make a new webhook at the same id, and send the same delivery again.
    let deleted = app.api(Method::DELETE, "/api/webhooks/gh").send().await;
    assert_eq!(deleted.expect("delete").status(), StatusCode::NO_CONTENT);
    let old = app.event(&old_event).await;
    let old_action = old["actions"][0]["id"].as_str().expect("action id");
    let replay_while_gone = app
        .post_api(&format!("/api/events/{old_event}/replay"), &json!({}))
        .await;
    let retry_while_gone = app
        .post_api(&format!("/api/actions/{old_action}/retry"), &json!({}))
        .await;
    app.github_webhook("gh", "new-secret").await;
    let (_, again) = read_json(
        app.post_github("gh", "issues", "d-1", &body, "new-secret")
            .await,
    )
    .await;
    let replay = app
        .post_api(&format!("/api/events/{old_event}/replay"), &json!({}))
        .await;
    let retried = app
        .post_api(&format!("/api/actions/{old_action}/retry"), &json!({}))
        .await;

    // Assert: the old event's task is cancelled and its comment dead, both saying why; the
    // delivery is new to the new webhook; the old event is not replayed through it.
    assert_eq!(old["tasks"][0]["status"], "cancelled", "{old}");
    assert_eq!(old["actions"][0]["status"], "dead", "{old}");
    assert_eq!(
        old["actions"][0]["last_error"], "the webhook was deleted",
        "{old}"
    );
    assert_eq!(again["status"], "accepted", "{again}");
    assert_ne!(again["event_id"], old_event.as_str());
    for gone in [&replay_while_gone, &retry_while_gone] {
        assert_error(gone, StatusCode::CONFLICT, None);
        let message = gone.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("`gh` was deleted"), "{}", gone.1);
    }
    assert_error(&replay, StatusCode::CONFLICT, None);
    assert_error(&retried, StatusCode::CONFLICT, None);
    for earlier in [&replay, &retried] {
        let message = earlier.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("earlier webhook"), "{}", earlier.1);
    }
    let (_, again_event) = app
        .get_json(&format!(
            "/api/events/{}",
            again["event_id"].as_str().unwrap_or_default()
        ))
        .await;
    assert_eq!(again_event["delivery_id"], "d-1", "{again_event}");
    let (_, tasks) = app.get_json("/api/tasks?status=queued").await;
    assert_eq!(tasks["tasks"], json!([]), "nothing left to claim: {tasks}");
}

#[tokio::test]
async fn a_password_in_a_credential_base_url_is_masked_everywhere_and_kept_when_sent_back() {
    // Arrange: a self-hosted GitLab behind a proxy that takes a user and password in the URL
    // (GitLab's token goes in its own header, so the login is sent alone).
    let app = spawn_app().await;
    let url = "https://bot:pa55word@gitlab.example.com";
    let (status, created) = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "id": "gl", "name": "GL", "provider": "gitlab",
        "options": {"credentials": {"gitlab_token": "glpat-own", "gitlab_url": url}}
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // Act: read it, and send the options back as shown with another change.
    let (_, shown) = app.get_json("/api/webhooks/gl").await;
    let (status, updated) = send_json(app.api(Method::PUT, "/api/webhooks/gl").json(&json!({
        "name": "GL (renamed)", "options": shown["options"].clone()
    })))
    .await;

    // Assert: shown masked, kept whole.
    let masked = "https://bot:***@gitlab.example.com/";
    assert_eq!(created["options"]["credentials"]["gitlab_url"], masked);
    assert_eq!(shown["options"]["credentials"]["gitlab_url"], masked);
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["options"]["credentials"]["gitlab_url"], masked);
    let db = rusqlite::Connection::open(&app.db_path).expect("open db");
    let stored: String = db
        .query_row("SELECT options FROM webhooks WHERE id = 'gl'", [], |r| {
            r.get(0)
        })
        .expect("row");
    assert!(stored.contains(url), "{stored}");
    let (_, audit) = app.get_json("/api/audit").await;
    assert!(!audit.to_string().contains("pa55word"), "{audit}");
    assert!(
        audit.to_string().contains("bot:***@gitlab.example.com"),
        "{audit}"
    );
}

#[tokio::test]
async fn a_login_in_a_github_or_jira_url_is_refused_and_a_refusal_hides_a_new_password() {
    // Arrange: their tokens go in `Authorization`, where the URL's login would go too.
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "ghe", "name": "GHE", "provider": "github", "options":
        {"credentials": {"github_token": "ghp_own", "github_api_url": "https://ghe.example.com/api/v3"}}}))
        .await;

    // Act
    let github = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "name": "G", "provider": "github", "options": {"credentials":
            {"github_token": "ghp_x", "github_api_url": "https://bot:NEWPW1@ghe2.example.com/api/v3"}}
    })))
    .await;
    let jira = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "name": "J", "provider": "jira", "options": {"credentials": {"jira_email": "a@b.example",
            "jira_api_token": "atl", "jira_base_url": "https://me:NEWPW2@acme.atlassian.net"}}
    })))
    .await;
    let moved = send_json(app.api(Method::PUT, "/api/webhooks/ghe").json(&json!({
        "options": {"credentials": {"github_api_url": "https://bot:NEWPW3@ghe3.example.com/api/v3"}}
    })))
    .await;

    // Assert
    for (answer, field, password) in [
        (&github, "options.credentials.github_api_url", "NEWPW1"),
        (&jira, "options.credentials.jira_base_url", "NEWPW2"),
        (&moved, "options.credentials.github_token", "NEWPW3"),
    ] {
        assert_error(answer, StatusCode::BAD_REQUEST, Some(field));
        let body = answer.1.to_string();
        assert!(!body.contains(password) && body.contains(":***@"), "{body}");
    }
    assert!(
        github.1.to_string().contains("second `Authorization`"),
        "{github:?}"
    );
    let (_, list) = app.get_json("/api/webhooks").await;
    assert_eq!(list["webhooks"].as_array().map(Vec::len), Some(1), "{list}");
}

#[tokio::test]
async fn the_list_is_of_one_provider_when_asked_and_an_unknown_one_is_refused() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", "s3cret").await;
    app.slack_webhook("sl").await;

    // Act
    let (status, slack) = app.get_json("/api/webhooks?provider=slack").await;
    let unknown = app.get_json("/api/webhooks?provider=bitbucket").await;
    let (_, all) = app.get_json("/api/webhooks").await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{slack}");
    let ids = |listed: &Value| -> Vec<String> {
        listed["webhooks"]
            .as_array()
            .expect("webhooks")
            .iter()
            .map(|w| w["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(ids(&slack), ["sl"]);
    assert_eq!(ids(&all).len(), 2);
    assert_error(&unknown, StatusCode::BAD_REQUEST, Some("provider"));
}

#[tokio::test]
async fn a_short_secret_is_taken_with_a_warning_and_a_long_one_without() {
    // Arrange: a secret already set at the sender must be taken, however short.
    let app = spawn_app().await;

    // Act
    let short = app
        .create_webhook(json!({"id": "s", "name": "S", "provider": "github", "secret": "x"}))
        .await;
    let (status, rotated_short) = send_json(
        app.api(Method::POST, "/api/webhooks/s/rotate-secret")
            .json(&json!({"secret": "y"})),
    )
    .await;
    let (_, rotated_long) = send_json(
        app.api(Method::POST, "/api/webhooks/s/rotate-secret")
            .json(&json!({"secret": "0123456789abcdef"})),
    )
    .await;
    let long = app
        .create_webhook(
            json!({"id": "l", "name": "L", "provider": "gitlab", "secret": "0123456789abcdef"}),
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{rotated_short}");
    for answer in [&short, &rotated_short] {
        let warnings = answer["warnings"].to_string();
        assert!(
            warnings.contains("only 1 character(s)") && warnings.contains("at least 16"),
            "{answer}"
        );
    }
    assert!(
        !rotated_long["warnings"]
            .to_string()
            .contains("character(s)"),
        "{rotated_long}"
    );
    assert!(long.get("warnings").is_none(), "{long}");
}

#[tokio::test]
async fn a_second_webhook_of_the_same_name_and_provider_is_warned_of_the_first() {
    // Arrange: a model that calls create_webhook again when the answer was slow.
    let app = spawn_app().await;
    let first = app
        .create_webhook(json!({"name": "Repo events", "provider": "github"}))
        .await;

    // Act
    let again = app
        .create_webhook(json!({"name": "Repo events", "provider": "github"}))
        .await;
    let other_provider = app
        .create_webhook(json!({"name": "Repo events", "provider": "gitlab"}))
        .await;
    let other_name = app
        .create_webhook(json!({"name": "Repo events 2", "provider": "github"}))
        .await;

    // Assert
    assert!(first.get("warnings").is_none(), "{first}");
    let first_id = first["id"].as_str().unwrap();
    assert_ne!(again["id"], first["id"], "{again}");
    let warnings = again["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| {
            let w = w.as_str().unwrap_or_default();
            w.contains(&format!("`{first_id}`")) && w.contains("delete_webhook")
        }),
        "{again}"
    );
    assert!(other_provider.get("warnings").is_none(), "{other_provider}");
    assert!(other_name.get("warnings").is_none(), "{other_name}");
}

#[tokio::test]
async fn rotating_back_to_the_secret_in_its_grace_warns_of_nothing_lost() {
    // Arrange: secret A rotated to B, A still in its grace period.
    let app = spawn_app().await;
    let (a, b, c) = (
        "secret-a-0123456789abcdef",
        "secret-b-0123456789abcdef",
        "secret-c-0123456789abcdef",
    );
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github", "secret": a}))
        .await;
    let rotate = |secret: &str| {
        send_json(
            app.api(Method::POST, "/api/webhooks/gh/rotate-secret")
                .json(&json!({"secret": secret, "grace_period_secs": 600})),
        )
    };
    let (status, first) = rotate(b).await;
    assert_eq!(status, StatusCode::OK, "{first}");

    // Act: back to A; then on to C, which does end B's grace early.
    let (back_status, back) = rotate(a).await;
    let body = crate::helpers::issue_opened("o/r", 1, &[]);
    let with_a = app.post_github("gh", "issues", "d-a", &body, a).await;
    let with_b = app.post_github("gh", "issues", "d-b", &body, b).await;
    let (_, on) = rotate(c).await;

    // Assert: nothing stopped working, so nothing is said to; both secrets still verify.
    assert_eq!(back_status, StatusCode::OK, "{back}");
    let warned = |answer: &Value| answer["warnings"].to_string();
    assert!(!warned(&back).contains("no longer"), "{back}");
    assert_eq!(
        (with_a.status(), with_b.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    assert!(warned(&on).contains("no longer"), "{on}");
}

#[tokio::test]
async fn whole_numbers_written_as_floats_are_taken_over_rest_as_over_mcp() {
    // Arrange: models and JSON tools often write `10.0` for 10.
    let app = spawn_app().await;
    app.github_webhook("gh", "s3cret-value-of-some-length")
        .await;

    // Act
    let (rotated, rotation) = app
        .post_api(
            "/api/webhooks/gh/rotate-secret",
            &json!({"grace_period_secs": 60.0}),
        )
        .await;
    let (added, command) = app
        .post_api(
            "/api/webhooks/gh/commands",
            &json!({"trigger": "issues.opened", "action": "comment", "template": "Hi", "priority": 5.0}),
        )
        .await;
    let (claimed, claim) = app
        .post_api("/api/tasks/claim", &json!({"lease_secs": 30.0}))
        .await;
    let refused = app
        .post_api(
            "/api/webhooks/gh/commands",
            &json!({"trigger": "push", "action": "comment", "template": "Hi", "priority": 5.5}),
        )
        .await;

    // Assert
    assert_eq!(rotated, StatusCode::OK, "{rotation}");
    assert!(
        rotation["previous_secret_expires_at"].is_string(),
        "{rotation}"
    );
    assert_eq!(added, StatusCode::CREATED, "{command}");
    assert_eq!(command["priority"], 5, "{command}");
    assert_eq!(claimed, StatusCode::OK, "{claim}");
    assert_error(&refused, StatusCode::BAD_REQUEST, None);
}

/// Deletes webhook `gh` from the database as another process would (its commands go with it by
/// cascade; this process's cache keeps it for up to 2 s), then answers 500.
struct DeletesTheWebhookThenFails(std::path::PathBuf);

impl wiremock::Respond for DeletesTheWebhookThenFails {
    fn respond(&self, _: &wiremock::Request) -> wiremock::ResponseTemplate {
        delete_as_another_process(&self.0);
        wiremock::ResponseTemplate::new(500)
    }
}

fn delete_as_another_process(db: &std::path::Path) {
    rusqlite::Connection::open(db)
        .expect("open the database")
        .execute_batch(
            "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
             DELETE FROM webhooks WHERE id = 'gh'",
        )
        .expect("delete the webhook");
}

/// What this thread logs while it is held (a test's runtime runs on its thread).
#[derive(Clone, Default)]
struct Logged(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logged {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logged {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log")).into_owned()
    }
}

#[tokio::test]
async fn an_action_being_sent_when_its_webhook_is_deleted_ends_dead_not_retrying() {
    // Arrange: GitHub answers the comment with a 500, once its webhook is deleted.
    let github = wiremock::MockServer::start().await;
    let uri = github.uri();
    let app = crate::helpers::spawn_manual(move |c| {
        c.upstreams.github_api_url = uri;
        c.upstreams.github_token = Some("ghp_test".into());
    })
    .await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(DeletesTheWebhookThenFails(app.db_path.clone()))
        .mount(&github)
        .await;
    let secret = "s3cret-value-of-some-length";
    app.github_webhook("gh", secret).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "comment", "template": "Hi"}),
    )
    .await;
    let body = crate::helpers::issue_opened("octo/app", 3, &[]);
    let (_, sent) = read_json(app.post_github("gh", "issues", "d-9", &body, secret).await).await;
    let event_id = sent["event_id"].as_str().expect("event_id").to_string();
    let logged = Logged::default();
    let sink = logged.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let held = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

    // Act: the webhook is deleted while its comment is on its way, which then fails.
    let step = webhook_mcp::worker::send_one(&app.state)
        .await
        .expect("send");
    drop(held);

    // Assert: dead, and said so, in the log and on the action, with what failed and why it
    // is not retried.
    assert!(
        matches!(
            step,
            webhook_mcp::worker::Step::Sent {
                outcome: "dead",
                ..
            }
        ),
        "{step:?}"
    );
    let action = &app.actions_of(&event_id).await[0];
    assert_eq!(action["status"], "dead", "{action}");
    let why = action["last_error"].as_str().unwrap_or_default();
    assert!(why.contains("500"), "{action}");
    assert!(
        why.ends_with(
            "; not retried: webhook gh was deleted, so nothing more is sent on its behalf"
        ),
        "{action}"
    );
    let attempts = action["attempt_log"].as_array().expect("attempt_log");
    assert_eq!(attempts.len(), 1, "{action}");
    assert_eq!(attempts[0]["outcome"], "dead", "{action}");
    assert_eq!(attempts[0]["error"], why, "{action}");
    let log = logged.text();
    assert!(!log.contains("will retry"), "{log}");
    assert!(
        log.contains("action failed and is not retried (webhook gh was deleted, so nothing more is sent on its behalf); dead-lettered"),
        "{log}"
    );
    assert_eq!(app.drain().await, 0);
}

/// Webhook `gh` with a comment command, read into this process's cache just now.
async fn cached_webhook_with_a_command(app: &crate::helpers::TestApp, secret: &str) {
    app.github_webhook("gh", secret).await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "comment", "template": "Hi"}),
    )
    .await;
    let cached = app
        .state
        .hooks
        .get(&app.state.store, &app.state.sealer, "gh")
        .await
        .expect("read the webhook");
    assert!(cached.is_some_and(|hook| hook.commands.len() == 1));
}

#[tokio::test]
async fn a_delivery_checked_against_a_webhook_deleted_before_it_is_stored_is_refused_not_kept_as_done()
 {
    // Arrange: another process deletes the webhook this one has just read.
    let app = crate::helpers::spawn_manual(|_| {}).await;
    let secret = "s3cret-value-of-some-length";
    cached_webhook_with_a_command(&app, secret).await;
    delete_as_another_process(&app.db_path);

    // Act
    let body = crate::helpers::issue_opened("octo/app", 4, &[]);
    let answer = app.post_github("gh", "issues", "d-10", &body, secret).await;
    let (status, refused) = read_json(answer).await;

    // Assert: answered as a delivery sent after the delete is; nothing in the log claims it
    // was processed.
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    assert_eq!(refused["error"]["code"], "webhook_not_found", "{refused}");
    assert!(app.events("").await.is_empty());
    let again = app.post_github("gh", "issues", "d-10", &body, secret).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_delivery_checked_against_a_webhook_made_anew_before_it_is_stored_is_checked_again_against_the_new_one()
 {
    // Arrange: another process deletes the webhook this one has just read, and makes another
    // at its id, with a command of its own.
    let app = crate::helpers::spawn_manual(|_| {}).await;
    let other = app.beside(crate::helpers::manual_outbox).await;
    let secret = "s3cret-value-of-some-length";
    cached_webhook_with_a_command(&app, secret).await;
    let deleted = other.api(Method::DELETE, "/api/webhooks/gh").send().await;
    assert_eq!(deleted.expect("delete").status(), StatusCode::NO_CONTENT);
    other.github_webhook("gh", secret).await;
    other
        .add_command_ok(
            "gh",
            json!({"trigger": "issues.opened", "action": "comment", "template": "New"}),
        )
        .await;

    // Act: a delivery checked against the old one here.
    let body = crate::helpers::issue_opened("octo/app", 5, &[]);
    let (status, accepted) =
        read_json(app.post_github("gh", "issues", "d-11", &body, secret).await).await;

    // Assert: not kept for the old one, but checked again at once and taken by the new
    // webhook and its command, as the sender's retry would have been (GitHub retries only
    // by hand).
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["status"], "accepted", "{accepted}");
    let events = app.events("").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event_id = accepted["event_id"].as_str().expect("event_id");
    let actions = app.actions_of(event_id).await;
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0]["status"], "pending", "{actions:?}");
}

#[tokio::test]
async fn receiver_urls_start_with_the_public_base_url_as_a_url_parser_writes_it() {
    // Arrange: a path with a space and a non-ASCII letter, as typed.
    let app = spawn_app_with(|c| {
        c.public_base_url = Some("https://Hooks.example.com/in coming/é/".into())
    })
    .await;

    // Act
    let created = app
        .github_webhook("gh", "s3cret-value-of-some-length")
        .await;

    // Assert
    assert_eq!(
        created["url"], "https://hooks.example.com/in%20coming/%C3%A9/webhooks/github/gh",
        "{created}"
    );
}

#[tokio::test]
async fn a_query_is_refused_where_no_list_reads_it_so_a_dry_run_flag_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let body = json!({"id": "qq", "name": "Issues", "provider": "github"});

    // Act: a create with a dry-run flag some APIs know, and a read with a field selection.
    let created = send_json(
        app.api(Method::POST, "/api/webhooks?dry_run=true")
            .json(&body),
    )
    .await;
    let (status, lists) = app.get_json("/api/webhooks?limit=5").await;

    // Assert: refused by name, nothing made; a list still takes its own parameters.
    assert_error(&created, StatusCode::BAD_REQUEST, Some("dry_run"));
    assert_eq!(status, StatusCode::OK, "{lists}");
    assert_eq!(lists["webhooks"], json!([]), "{lists}");
    app.create_webhook(body).await;
    for (method, path) in [
        (Method::POST, "/api/webhooks?dry_run"),
        (Method::GET, "/api/webhooks?foo"),
        (Method::GET, "/api/webhooks/qq?fields=id"),
        (Method::POST, "/api/webhooks/qq/disable?force=1"),
        (Method::DELETE, "/api/webhooks/qq?cascade=false"),
    ] {
        let refused = send_json(app.api(method.clone(), path)).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, None);
        assert!(
            refused.1.to_string().contains("unknown field"),
            "{path}: {}",
            refused.1
        );
    }
    let (status, kept) = app.get_json("/api/webhooks/qq").await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["enabled"], true, "{kept}");
    // A known parameter given without a value is as if not given.
    let (status, listed) = app.get_json("/api/webhooks?limit=&provider=").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(
        listed["webhooks"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
}

#[tokio::test]
async fn every_answer_about_a_webhook_counts_its_commands_a_changes_as_a_looks() {
    // Arrange: one webhook with a command, one without.
    let app = spawn_app().await;
    let (status, with) = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "id": "gh", "name": "Issues", "provider": "github",
        "commands": [{"trigger": "issues.opened", "action": "comment", "template": "Thanks"}],
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{with}");
    let (_, without) = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "id": "bare", "name": "Bare", "provider": "github",
    })))
    .await;

    // Act
    let answers = [
        send_json(
            app.api(Method::PUT, "/api/webhooks/gh")
                .json(&json!({"name": "Issues 2"})),
        )
        .await,
        send_json(app.api(Method::POST, "/api/webhooks/gh/disable")).await,
        send_json(app.api(Method::POST, "/api/webhooks/gh/enable")).await,
        send_json(
            app.api(Method::POST, "/api/webhooks/gh/rotate-secret")
                .json(&json!({})),
        )
        .await,
        app.get_json("/api/webhooks/gh").await,
    ];

    // Assert
    assert_eq!(with["commands"], 1, "{with}");
    assert_eq!(without["commands"], 0, "{without}");
    for (status, answer) in answers {
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["commands"], 1, "{answer}");
    }
}

#[tokio::test]
async fn a_route_that_takes_no_body_refuses_one_rather_than_ignore_it() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "gh", "name": "Issues", "provider": "github"}))
        .await;

    // Act: an enable told what to set, as if it were an update, and plain garbage.
    let told = send_json(
        app.api(Method::POST, "/api/webhooks/gh/disable")
            .json(&json!({"enabled": true})),
    )
    .await;
    let garbage = send_json(
        app.api(Method::POST, "/api/events/evt_x/replay")
            .body("garbage"),
    )
    .await;
    // Nothing at all, or an empty object, is what it takes.
    let (empty, _) = send_json(app.api(Method::POST, "/api/webhooks/gh/disable")).await;
    let (object, enabled) = send_json(
        app.api(Method::POST, "/api/webhooks/gh/enable")
            .json(&json!({})),
    )
    .await;

    // Assert
    assert_error(&told, StatusCode::BAD_REQUEST, Some("enabled"));
    assert_error(&garbage, StatusCode::BAD_REQUEST, None);
    assert_eq!(
        (empty, object),
        (StatusCode::OK, StatusCode::OK),
        "{enabled}"
    );
    assert_eq!(enabled["enabled"], true, "{enabled}");
}

#[tokio::test]
async fn a_webhook_read_edited_and_put_back_whole_is_updated_unless_it_changed_since() {
    // Arrange: a webhook with a command, read as a dashboard's form reads it.
    let app = spawn_app().await;
    app.create_webhook(json!({
        "id": "gh", "name": "Before", "provider": "github",
        "options": {"credentials": {"github_token": "ghp_0123456789abcdefghij0123456789abcdef"}},
        "commands": [{"trigger": "issues.opened", "action": "comment", "template": "Hi"}],
    }))
    .await;
    let (_, mut read) = app.get_json("/api/webhooks/gh").await;
    read["name"] = json!("After");
    let put = |body: Value| send_json(app.api(Method::PUT, "/api/webhooks/gh").json(&body));

    // Act
    let (status, updated) = put(read.clone()).await;
    let stale = put(read.clone()).await;
    let (_, mut fresh) = app.get_json("/api/webhooks/gh").await;
    fresh["url"] = json!("http://elsewhere.example/webhooks/github/gh");
    let moved = put(fresh.clone()).await;
    let not_a_time = put(json!({"name": "x", "updated_at": "yesterday"})).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "After");
    assert_eq!(updated["commands"], 1);
    assert_eq!(
        updated["options"]["credentials"]["github_token"], "********",
        "the masked token sent back keeps the stored one: {updated}"
    );
    assert_error(&stale, StatusCode::CONFLICT, Some("updated_at"));
    assert!(
        stale.1["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("read it again")),
        "{}",
        stale.1
    );
    assert_error(&moved, StatusCode::BAD_REQUEST, Some("url"));
    assert_error(&not_a_time, StatusCode::BAD_REQUEST, Some("updated_at"));
    let (_, after) = app.get_json("/api/webhooks/gh").await;
    assert_eq!(after["name"], "After", "only the first put changed it");
    assert_eq!(after["updated_at"], updated["updated_at"]);
}

#[tokio::test]
async fn a_put_given_an_empty_list_of_commands_removes_every_command() {
    // Arrange
    let app = spawn_app().await;
    let created = app
        .create_webhook(json!({
            "id": "gh", "name": "GitHub", "provider": "github",
            "commands": [{"trigger": "issues.opened", "action": "comment", "template": "Hi"}],
        }))
        .await;
    let command_id = created["added_commands"][0]["id"].clone();

    // Act
    let (status, updated) = send_json(
        app.api(Method::PUT, "/api/webhooks/gh")
            .json(&json!({"commands": []})),
    )
    .await;
    let (_, listed) = app.get_json("/api/webhooks/gh/commands").await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["commands"], 0, "{updated}");
    assert_eq!(updated["kept_commands"], 0, "{updated}");
    assert_eq!(
        updated["removed_commands"],
        json!([command_id]),
        "{updated}"
    );
    assert_eq!(listed["commands"], json!([]), "{listed}");
}

#[tokio::test]
async fn a_webhook_put_back_unchanged_keeps_its_version_so_another_editors_copy_stays_current() {
    // Arrange: a webhook with a masked token and an allowlist, read by two editors.
    let app = spawn_app().await;
    app.create_webhook(json!({
        "id": "gh", "name": "Before", "provider": "github",
        "options": {
            "credentials": {"github_token": "ghp_0123456789abcdefghij0123456789abcdef"},
            "ip_allowlist": ["10.0.0.0/8"],
        },
    }))
    .await;
    let (_, read) = app.get_json("/api/webhooks/gh").await;
    let mut other_editors = read.clone();
    other_editors["name"] = json!("After");
    let put = |body: Value| send_json(app.api(Method::PUT, "/api/webhooks/gh").json(&body));

    // Act: the first puts it back as read, enables it (it is enabled) and sends its name;
    // the second then saves a change on its copy.
    let (unchanged, kept) = put(read.clone()).await;
    let (_, enabled) = send_json(app.api(Method::POST, "/api/webhooks/gh/enable")).await;
    let (_, named) = put(json!({"name": "Before"})).await;
    let (changed, saved) = put(other_editors).await;

    // Assert
    assert_eq!(unchanged, StatusCode::OK, "{kept}");
    for answer in [&kept, &enabled, &named] {
        assert_eq!(answer["updated_at"], read["updated_at"], "{answer}");
    }
    assert_eq!(changed, StatusCode::OK, "{saved}");
    assert_eq!(saved["name"], "After", "{saved}");
    assert_ne!(saved["updated_at"], read["updated_at"], "{saved}");
}

#[tokio::test]
async fn a_copy_put_back_after_a_rotation_or_its_grace_is_told_by_its_version_not_its_hint() {
    // Arrange: a copy read during a rotation's grace, which ends, and one read before another
    // rotation.
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "gh", "name": "Before", "provider": "github"}))
        .await;
    let rotate = |grace: u64| {
        send_json(
            app.api(Method::POST, "/api/webhooks/gh/rotate-secret")
                .json(&json!({"grace_period_secs": grace})),
        )
    };
    let (status, rotated) = rotate(1).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let (_, mut in_grace) = app.get_json("/api/webhooks/gh").await;
    assert!(
        in_grace["previous_secret_expires_at"].is_string(),
        "{in_grace}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    in_grace["name"] = json!("After the grace");
    in_grace["secret_placeholder"] = json!(false);
    let put = |body: Value| send_json(app.api(Method::PUT, "/api/webhooks/gh").json(&body));

    // Act
    let (after_grace, answered) = put(in_grace.clone()).await;
    let (_, mut before_rotation) = app.get_json("/api/webhooks/gh").await;
    rotate(0).await;
    before_rotation["name"] = json!("Stale");
    let stale = put(before_rotation).await;
    let twice = send_json(
        app.api(Method::PUT, "/api/webhooks/gh")
            .header("Content-Type", "application/json")
            .body(r#"{"name": "first", "name": "second"}"#),
    )
    .await;

    // Assert
    assert_eq!(after_grace, StatusCode::OK, "{answered}");
    assert_eq!(answered["name"], "After the grace");
    assert_error(&stale, StatusCode::CONFLICT, Some("updated_at"));
    assert_error(&twice, StatusCode::BAD_REQUEST, Some("name"));
    assert!(
        twice.1["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`name` is given twice")),
        "{}",
        twice.1
    );
    let (_, now) = app.get_json("/api/webhooks/gh").await;
    assert_eq!(now["name"], "After the grace");
}

#[tokio::test]
async fn a_webhook_id_may_not_start_as_another_kinds_ids_do() {
    // Arrange
    let app = spawn_app().await;
    let client = crate::mcp::connect(&app).await;
    let post = |body: Value| send_json(app.api(Method::POST, "/api/webhooks").json(&body));

    // Act + Assert: each prefix the server gives its own ids, as `id` or in `endpoint`.
    for prefix in ["evt_", "task_", "act_", "cmd_", "key_"] {
        let id = format!("{prefix}01a2508696c37728852b5343d49f48a4");
        let refused = post(json!({"name": "x", "provider": "github", "id": id})).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, Some("id"));
        let message = refused.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("`{prefix}`")), "{message}");
        let by_path = post(json!({"name": "x", "provider": "github",
                                  "endpoint": format!("/webhooks/github/{id}")}))
        .await;
        assert_error(&by_path, StatusCode::BAD_REQUEST, Some("endpoint"));
        let over_mcp = crate::mcp::call(
            &client,
            "create_webhook",
            json!({"name": "x", "provider": "github", "id": id}),
        )
        .await;
        assert_eq!(
            over_mcp.is_error,
            Some(true),
            "{}",
            crate::mcp::text(&over_mcp)
        );
        assert!(
            crate::mcp::text(&over_mcp).contains(&format!("`{prefix}`")),
            "{}",
            crate::mcp::text(&over_mcp)
        );
    }
    let (_, listed) = app.get_json("/api/webhooks").await;
    assert_eq!(listed["webhooks"], json!([]), "none was made: {listed}");

    // Act + Assert: a webhook's own kind, and names that only look alike, are taken.
    for id in ["wh_01a2", "events", "evt-1", "EVT_1", "my_evt_1"] {
        let (status, made) = post(json!({"name": "x", "provider": "github", "id": id})).await;
        assert_eq!(status, StatusCode::CREATED, "{id}: {made}");
    }
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_reply_for_a_task_its_webhooks_delete_cancelled_is_not_sent_to_the_event_instead() {
    // Arrange: a task of a webhook's command, cancelled when the webhook is deleted.
    let app = crate::helpers::spawn_manual(|_| {}).await;
    app.github_webhook("gh", "s3cret").await;
    app.add_command_ok(
        "gh",
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning"}),
    )
    .await;
    let body = crate::helpers::issue_opened("o/r", 1, &[]);
    let (_, first) = read_json(
        app.post_github("gh", "issues", "d-1", &body, "s3cret")
            .await,
    )
    .await;
    let event_id = first["event_id"].as_str().expect("event_id").to_string();
    let task_id = app.event(&event_id).await["tasks"][0]["id"]
        .as_str()
        .expect("task id")
        .to_string();
    let deleted = app.api(Method::DELETE, "/api/webhooks/gh").send().await;
    assert_eq!(deleted.expect("delete").status(), StatusCode::NO_CONTENT);

    // Act
    let for_task = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "Still on it", "task_id": task_id}),
        )
        .await;
    let for_event = app
        .post_api(
            &format!("/api/events/{event_id}/comment"),
            &json!({"text": "Still on it"}),
        )
        .await;

    // Assert: the refusal says why, and does not send the caller to a reply refused as well.
    assert_error(&for_task, StatusCode::CONFLICT, None);
    let message = for_task.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("task `{task_id}` was cancelled"))
            && message.contains("`gh` was deleted"),
        "{message}"
    );
    assert!(!message.contains("event_id alone"), "{message}");
    assert_error(&for_event, StatusCode::CONFLICT, None);
}

#[tokio::test]
async fn a_method_a_route_does_not_take_is_405_naming_in_its_message_the_ones_it_does() {
    // Arrange
    let app = spawn_app().await;
    app.github_webhook("gh", "a-secret-of-some-length").await;

    // Act
    let patch = send_json(app.api(Method::PATCH, "/api/webhooks/gh")).await;
    let get_enable = send_json(app.api(Method::GET, "/api/webhooks/gh/enable")).await;
    let get_mcp = send_json(
        app.api(Method::GET, "/mcp")
            .header("accept", "text/event-stream"),
    )
    .await;

    // Assert: the body says what the `Allow` header says, which a model never sees.
    assert_error(&patch, StatusCode::METHOD_NOT_ALLOWED, None);
    assert_eq!(
        patch.1["error"]["message"],
        "method not allowed: `/api/webhooks/gh` takes GET, HEAD, PUT, DELETE, not PATCH",
        "{}",
        patch.1
    );
    assert_error(&get_enable, StatusCode::METHOD_NOT_ALLOWED, None);
    assert_eq!(
        get_enable.1["error"]["message"],
        "method not allowed: `/api/webhooks/gh/enable` takes POST, not GET",
        "{}",
        get_enable.1
    );
    // On `/mcp` (without sessions) as a JSON-RPC error.
    assert_eq!(get_mcp.0, StatusCode::METHOD_NOT_ALLOWED, "{}", get_mcp.1);
    assert_eq!(get_mcp.1["error"]["code"], -32000, "{}", get_mcp.1);
    assert_eq!(
        get_mcp.1["error"]["message"], "method not allowed: `/mcp` takes POST, not GET",
        "{}",
        get_mcp.1
    );
}

#[tokio::test]
async fn a_field_given_twice_is_named_once_in_the_refusal() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let twice = send_json(
        app.api(Method::POST, "/api/webhooks")
            .header("Content-Type", "application/json")
            .body(r#"{"name": "a", "name": "b", "provider": "github"}"#),
    )
    .await;

    // Assert: not "`name`: `name` is given twice".
    assert_error(&twice, StatusCode::BAD_REQUEST, Some("name"));
    assert_eq!(
        twice.1["error"]["message"], "`name` is given twice; give it once",
        "{}",
        twice.1
    );
}

#[tokio::test]
async fn a_form_sent_to_the_api_is_refused_naming_the_content_type_it_came_as() {
    // Arrange
    let app = spawn_app().await;
    let send = |content_type: &'static str, body: &'static str| {
        send_json(
            app.api(Method::POST, "/api/webhooks")
                .header("Content-Type", content_type)
                .body(body),
        )
    };

    // Act: a form, as `requests.post(url, data={...})` sends one; a multipart form, as
    // `curl -F` does; and JSON labelled as a form, as `curl -d` labels it.
    let form = send(
        "application/x-www-form-urlencoded",
        "name=a&provider=github",
    )
    .await;
    let multipart = send(
        "multipart/form-data; boundary=x",
        "--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\na\r\n--x--\r\n",
    )
    .await;
    let labelled_as_form = send(
        "application/x-www-form-urlencoded",
        r#"{"id": "made", "name": "a", "provider": "github"}"#,
    )
    .await;

    // Assert
    for (refused, named) in [
        (&form, "`Content-Type: application/x-www-form-urlencoded`"),
        (
            &multipart,
            "`Content-Type: multipart/form-data; boundary=x`",
        ),
    ] {
        assert_error(refused, StatusCode::BAD_REQUEST, None);
        assert_eq!(refused.1["error"]["code"], "invalid_json", "{}", refused.1);
        let message = refused.1["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(named) && message.contains("application/json"),
            "{}",
            refused.1
        );
    }
    assert_eq!(
        labelled_as_form.0,
        StatusCode::CREATED,
        "{}",
        labelled_as_form.1
    );
}

#[tokio::test]
async fn a_webhook_is_tested_over_rest_as_a_dashboards_test_button_would() {
    // Arrange: a GitHub webhook thanking every reporter, and a read key.
    let app = spawn_app().await;
    app.create_webhook(json!({
        "id": "gh", "name": "Issues", "provider": "github",
        "options": {"credentials": {"github_token": "ghp_0123456789abcdefghij0123456789abcdef"}},
        "commands": [{"trigger": "issues.opened", "action": "comment",
                      "template": "Thanks, @{{ issue.user.login }}!"}],
    }))
    .await;
    let (_, read_key) = crate::keys::create_key(&app, "dashboard", "read").await;
    let test = |body: Value| send_json(app.api(Method::POST, "/api/webhooks/gh/test").json(&body));

    // Act
    let (status, dry) = test(json!({})).await;
    let sample_for_real = test(json!({"run_actions": true})).await;
    let unknown = test(json!({"event": "issues.opened"})).await;
    let missing = send_json(app.api(Method::POST, "/api/webhooks/nope/test")).await;
    let by_reader = send_json(
        app.client
            .post(app.url("/api/webhooks/gh/test"))
            .bearer_auth(&read_key)
            .json(&json!({})),
    )
    .await;
    send_json(app.api(Method::POST, "/api/webhooks/gh/disable")).await;
    let disabled = test(json!({})).await;
    let sent = app.drain().await;

    // Assert: a dry run over the built-in sample, what the command would send shown.
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["status"], "matched", "{dry}");
    assert_eq!(dry["actions_queued"], false, "{dry}");
    assert_eq!(dry["matched"][0]["action"], "comment", "{dry}");
    assert!(
        dry["matched"][0]["would_send"]
            .as_str()
            .is_some_and(|t| t.starts_with("Thanks, @")),
        "{dry}"
    );
    assert_eq!(sent, 0, "a dry run sends nothing");
    assert_error(
        &sample_for_real,
        StatusCode::BAD_REQUEST,
        Some("run_actions"),
    );
    assert_error(&unknown, StatusCode::BAD_REQUEST, Some("event"));
    assert_error(&missing, StatusCode::NOT_FOUND, None);
    assert_error(&by_reader, StatusCode::FORBIDDEN, None);
    assert_error(&disabled, StatusCode::BAD_REQUEST, Some("webhook_id"));
    assert!(
        disabled.1["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("POST /api/webhooks/gh/enable")),
        "{}",
        disabled.1
    );
}
