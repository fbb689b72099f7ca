//! The kind of a `post_message` target given without `kind`: a Telegram Bot API URL (on any
//! host, or any URL on `TELEGRAM_API_URL`'s) is Telegram's, by hand, by a command and for an
//! agent; and a `chat_id` given to a kind that has no use for it is refused, not dropped.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, accepted, delivery_id, issue_opened, send_json, spawn_manual};

const GH_SECRET: &str = "gh-secret-for-kinds";

/// A fake Telegram Bot API answering sendMessage for `token`, `times` times.
async fn fake_telegram(token: &str, times: u64) -> MockServer {
    let telegram = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{token}/sendMessage")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true,
                                                           "result": {"message_id": 5}})))
        .expect(times)
        .mount(&telegram)
        .await;
    telegram
}

/// The JSON bodies Telegram was sent.
async fn bodies_sent(telegram: &MockServer) -> Vec<Value> {
    let requests = telegram.received_requests().await.expect("recorded");
    requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("json"))
        .collect()
}

/// The chat ids and texts Telegram was sent, as `chat id: text`, sorted.
async fn sent_to(telegram: &MockServer) -> Vec<String> {
    let mut sent: Vec<String> = bodies_sent(telegram)
        .await
        .iter()
        .map(|body| {
            let chat = body["chat_id"].to_string();
            let text = body["text"].as_str().unwrap_or_default();
            format!("{}: {text}", chat.trim_matches('"'))
        })
        .collect();
    sent.sort();
    sent
}

/// A GitHub issue `number` opened on `gh` (whose `issues.opened` commands fire), and what it
/// queued sent.
async fn open_issue_and_send(app: &TestApp, number: u64) {
    let body = issue_opened("octo/app", number, &[]);
    accepted(
        app.post_github("gh", "issues", &delivery_id(), &body, GH_SECRET)
            .await,
    )
    .await;
    app.drain().await;
}

async fn add_command(app: &TestApp, target: Value) -> (StatusCode, Value) {
    send_json(
        app.api(reqwest::Method::POST, "/api/webhooks/gh/commands")
            .json(
                &json!({"trigger": "issues.opened", "action": "post_message",
                          "template": "New issue", "target": target}),
            ),
    )
    .await
}

#[tokio::test]
async fn a_telegram_bot_url_without_kind_posts_to_telegram_with_its_chat_id() {
    // Arrange: a Bot API server on loopback (a local one, as Telegram's own is not reachable).
    let telegram = fake_telegram("999:X", 2).await;
    let url = format!("{}/bot999:X/sendMessage", telegram.uri());
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", GH_SECRET).await;
    let (added, command) = add_command(&app, json!({"url": url, "chat_id": "-100123"})).await;

    // Act
    let (status, queued) = app
        .post_api(
            "/api/messages",
            &json!({"url": url, "text": "x", "chat_id": "-100123"}),
        )
        .await;
    open_issue_and_send(&app, 3).await;

    // Assert
    assert_eq!(added, StatusCode::CREATED, "{command}");
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(
        sent_to(&telegram).await,
        ["-100123: New issue", "-100123: x"]
    );
}

#[tokio::test]
async fn a_url_on_the_configured_telegram_api_host_is_telegram() {
    // Arrange: TELEGRAM_API_URL is a local Bot API server; the target is that server's URL.
    let telegram = fake_telegram("123:ABC", 2).await;
    let api = telegram.uri();
    let app = spawn_manual(|c| {
        c.upstreams.telegram_api_url = api.clone();
        c.upstreams.telegram_bot_token = Some("123:ABC".into());
    })
    .await;
    app.github_webhook("gh", GH_SECRET).await;

    // Act
    let (added, command) = add_command(&app, json!({"url": telegram.uri(), "chat_id": 7})).await;
    let (status, queued) = app
        .post_api(
            "/api/messages",
            &json!({"url": telegram.uri(), "text": "hi", "chat_id": 7}),
        )
        .await;
    open_issue_and_send(&app, 4).await;

    // Assert: the command is saved as a Telegram one, and both reach the chat.
    assert_eq!(added, StatusCode::CREATED, "{command}");
    assert_eq!(command["target"]["kind"], "telegram", "{command}");
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(sent_to(&telegram).await, ["7: New issue", "7: hi"]);
}

#[tokio::test]
async fn a_chat_id_for_a_channel_that_takes_none_is_refused_naming_it() {
    // Arrange
    let channel = MockServer::start().await;
    let owui = format!("{}/api/v1/channels/webhooks/id/tok", channel.uri());
    let discord = format!("{}/api/webhooks/1/tok", channel.uri());
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", GH_SECRET).await;

    // Act
    let by_hand = [
        json!({"url": owui, "text": "x", "chat_id": "-100123"}),
        json!({"url": discord, "kind": "discord", "text": "x", "chat_id": 5}),
    ];
    let mut answers = Vec::new();
    for body in &by_hand {
        answers.push(app.post_api("/api/messages", body).await);
    }
    let (saved, command) = add_command(&app, json!({"url": owui, "chat_id": "-100123"})).await;
    let client = crate::mcp::connect(&app).await;
    let tool = crate::mcp::call(
        &client,
        "post_message",
        json!({"url": discord, "kind": "discord", "text": "x", "chat_id": "5"}),
    )
    .await;
    client.cancel().await.ok();

    // Assert: nothing was queued, and each refusal names the field.
    for (status, answer) in answers {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["field"], "chat_id", "{answer}");
    }
    assert_eq!(saved, StatusCode::BAD_REQUEST, "{command}");
    assert_eq!(command["error"]["field"], "target.chat_id", "{command}");
    assert_eq!(tool.is_error, Some(true), "{tool:?}");
    assert!(format!("{tool:?}").contains("chat_id"), "{tool:?}");
    assert_eq!(app.drain().await, 0);
}

#[tokio::test]
async fn a_channel_url_nothing_names_is_taken_with_a_warning_to_give_its_kind() {
    // Arrange: a Mattermost-style hook, and an Open WebUI channel's, on the same host.
    let channel = MockServer::start().await;
    let unknown = format!("{}/mm/hooks/xyz123abc", channel.uri());
    let owui = format!("{}/api/v1/channels/webhooks/id/tok", channel.uri());
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", GH_SECRET).await;

    // Act
    let (_, guessed) = app
        .post_api("/api/messages", &json!({"url": unknown, "text": "x"}))
        .await;
    let (_, named) = app
        .post_api(
            "/api/messages",
            &json!({"url": unknown, "kind": "openwebui", "text": "x"}),
        )
        .await;
    let (_, command) = add_command(&app, json!({"url": unknown})).await;
    let (_, open_webui) = add_command(&app, json!({"url": owui})).await;

    // Assert: only the guess is warned of.
    assert!(
        guessed["warnings"].to_string().contains("give `kind`"),
        "{guessed}"
    );
    assert!(
        command["warnings"].to_string().contains("give `kind`"),
        "{command}"
    );
    assert!(!named.to_string().contains("give `kind`"), "{named}");
    assert!(
        !open_webui.to_string().contains("give `kind`"),
        "{open_webui}"
    );
}

#[tokio::test]
async fn a_telegram_chat_id_that_names_no_chat_is_refused_naming_it() {
    // Arrange
    let url = "https://api.telegram.org/bot1:A/sendMessage";
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", GH_SECRET).await;

    // Act: a fraction, a number too large to be kept whole, and words.
    let mut answers = Vec::new();
    for chat_id in [
        json!(1.5),
        json!(99999999999999999999999_f64),
        json!("general"),
    ] {
        answers.push(
            app.post_api(
                "/api/messages",
                &json!({"url": url, "text": "x", "chat_id": chat_id}),
            )
            .await,
        );
    }
    let (saved, command) = add_command(&app, json!({"url": url, "chat_id": "1.5"})).await;
    // A chat's number and a public channel's name are chats.
    let fine = [json!(-1001234567890_i64), json!("@my_channel")];
    let mut taken = Vec::new();
    for chat_id in fine {
        taken.push(add_command(&app, json!({"url": url, "chat_id": chat_id})).await);
    }

    // Assert
    for (status, answer) in answers {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["field"], "chat_id", "{answer}");
    }
    assert_eq!(saved, StatusCode::BAD_REQUEST, "{command}");
    assert_eq!(command["error"]["field"], "target.chat_id", "{command}");
    for (status, command) in taken {
        assert_eq!(status, StatusCode::CREATED, "{command}");
    }
    assert_eq!(app.drain().await, 0);
}

#[tokio::test]
async fn an_agent_whose_channel_could_never_be_posted_to_is_refused_at_start() {
    let cases = [
        // A Telegram channel with no chat: every result would go dead.
        (
            json!({"url": "https://api.telegram.org/bot1:A/sendMessage"}),
            "post_message",
        ),
        (
            json!({"url": "http://127.0.0.1:9/bot1:A/sendMessage"}),
            "none",
        ),
        // A chat for a channel that has none: dropped, unseen.
        (
            json!({"url": "https://hooks.slack.com/services/T0/B0/x", "chat_id": 5}),
            "post_message",
        ),
    ];
    for (target, result) in cases {
        // Arrange
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = webhook_mcp::config::Config::for_tests(dir.path().join("app.db"));
        config.agents.openwebui_url = Some("http://127.0.0.1:9".into());
        config.agents.agents = Some(
            json!([{"name": "triage", "result": result, "target": target,
                    "tools": ["post_message"]}])
            .to_string(),
        );

        // Act
        let error = match webhook_mcp::app::build(config).await {
            Ok(_) => panic!("an agent posting to {target} was not refused"),
            Err(e) => format!("{e:#}"),
        };

        // Assert
        assert!(error.contains("agent `triage`"), "{error}");
        assert!(error.contains("target.chat_id"), "{error}");
    }
}

#[tokio::test]
async fn an_agent_posting_to_an_open_webui_channel_without_v1_is_refused_at_start() {
    // Arrange: the channel URL as it is often copied, without `/v1`.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = webhook_mcp::config::Config::for_tests(dir.path().join("app.db"));
    config.agents.openwebui_url = Some("http://127.0.0.1:9".into());
    config.agents.agents = Some(
        json!([{"name": "triage", "result": "post_message",
                "target": {"url": "http://127.0.0.1:9/api/channels/webhooks/ch1/tok3n"}}])
        .to_string(),
    );

    // Act
    let error = match webhook_mcp::app::build(config).await {
        Ok(_) => panic!("an agent posting to a channel without /v1 was not refused"),
        Err(e) => format!("{e:#}"),
    };

    // Assert: in the words add_command uses
    assert!(error.contains("agent `triage`"), "{error}");
    assert!(error.contains("target.url"), "{error}");
    assert!(
        error.contains("/api/v1/channels/webhooks/{id}/{token}"),
        "{error}"
    );
}

#[tokio::test]
async fn a_broken_agent_declaration_is_refused_at_start_without_a_chat_api_too() {
    let cases = [
        (
            json!([{"name": "x", "tools": ["nope"]}]),
            "lists unknown tool `nope`",
        ),
        (json!([{"name": "x", "max_steps": 0}]), "has max_steps 0"),
    ];
    for (agents, why) in cases {
        for chat_api in [None, Some("http://127.0.0.1:9")] {
            // Arrange: external agents only, or the built-in runner's chat API.
            let dir = tempfile::tempdir().expect("temp dir");
            let mut config = webhook_mcp::config::Config::for_tests(dir.path().join("app.db"));
            config.agents.openwebui_url = chat_api.map(str::to_string);
            config.agents.chat_url = None;
            config.agents.agents = Some(agents.to_string());

            // Act
            let error = match webhook_mcp::app::build(config).await {
                Ok(_) => panic!("{agents} was not refused with chat API {chat_api:?}"),
                Err(e) => format!("{e:#}"),
            };

            // Assert
            assert!(error.contains("agent `x`"), "{error}");
            assert!(error.contains(why), "{error}");
        }
    }
}

#[tokio::test]
async fn a_teams_url_that_is_no_retired_connector_is_posted_an_adaptive_card() {
    // Arrange: a Teams Workflows webhook behind a relay on loopback (Microsoft's hosts are not
    // reachable here), given as `kind: teams`, by hand and in a command.
    let teams = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/relay/workflows/invoke"))
        .respond_with(ResponseTemplate::new(202))
        .expect(2)
        .mount(&teams)
        .await;
    let url = format!("{}/relay/workflows/invoke", teams.uri());
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", GH_SECRET).await;
    let (saved, command) = add_command(&app, json!({"url": url, "kind": "teams"})).await;
    assert_eq!(saved, StatusCode::CREATED, "{command}");

    // Act
    let (queued, message) = app
        .post_api(
            "/api/messages",
            &json!({"url": url, "kind": "teams", "text": "Deployed"}),
        )
        .await;
    open_issue_and_send(&app, 3).await;

    // Assert: both went as an Adaptive Card in a message, as Workflows takes them.
    assert_eq!(queued, StatusCode::ACCEPTED, "{message}");
    let mut texts = Vec::new();
    for request in teams.received_requests().await.expect("recorded") {
        let body: Value = serde_json::from_slice(&request.body).expect("json");
        assert_eq!(body["type"], "message", "{body}");
        let card = &body["attachments"][0];
        assert_eq!(
            card["contentType"], "application/vnd.microsoft.card.adaptive",
            "{body}"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard", "{body}");
        texts.push(card["content"]["body"][0]["text"].to_string());
    }
    texts.sort();
    assert_eq!(texts, ["\"Deployed\"", "\"New issue\""]);
}

#[tokio::test]
async fn a_retired_teams_connector_is_taken_with_a_warning_pointing_at_workflows() {
    // Arrange: an Office 365 connector's incoming webhook, and a Workflows one.
    let connector =
        "https://acme.webhook.office.com/webhookb2/g1@t1/IncomingWebhook/0a1b2c3d4e5f/owner";
    let workflow = "https://prod-00.westus.logic.azure.com/workflows/a1/triggers/manual/paths/\
                    invoke?api-version=2016-06-01&sig=S1GNATURE";
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", GH_SECRET).await;

    // Act
    let (saved, command) = add_command(&app, json!({"url": connector})).await;
    let (named, with_kind) = add_command(&app, json!({"url": connector, "kind": "teams"})).await;
    let (queued, by_hand) = app
        .post_api("/api/messages", &json!({"url": connector, "text": "x"}))
        .await;
    let (_, current) = add_command(&app, json!({"url": workflow})).await;

    // Assert: saved and queued as before, each with the warning; the Workflows URL without.
    assert_eq!(saved, StatusCode::CREATED, "{command}");
    assert_eq!(named, StatusCode::CREATED, "{with_kind}");
    assert_eq!(queued, StatusCode::ACCEPTED, "{by_hand}");
    for answer in [&command, &with_kind, &by_hand] {
        let warnings = answer["warnings"].to_string();
        assert!(
            warnings.contains("retired") && warnings.contains("Workflows"),
            "{answer}"
        );
    }
    assert!(!current.to_string().contains("retired"), "{current}");
}

/// The forum topics each message Telegram was sent names (`message_thread_id`), as JSON.
async fn topics_sent(telegram: &MockServer) -> Vec<Value> {
    let mut topics: Vec<Value> = bodies_sent(telegram)
        .await
        .into_iter()
        .map(|body| body["message_thread_id"].clone())
        .collect();
    topics.sort_by_key(Value::to_string);
    topics
}

#[tokio::test]
async fn a_telegram_message_goes_to_the_forum_topic_its_thread_id_names() {
    // Arrange: a group with topics; the command names topic 42, by hand 7 and over MCP 9 (as
    // Telegram's own name for it), and one names none (the General topic).
    let telegram = fake_telegram("999:X", 4).await;
    let url = format!("{}/bot999:X/sendMessage", telegram.uri());
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", GH_SECRET).await;
    let (added, command) = add_command(
        &app,
        json!({"url": url, "chat_id": "-100123", "thread_id": 42}),
    )
    .await;

    // Act
    let (by_hand, queued) = app
        .post_api(
            "/api/messages",
            &json!({"url": url, "text": "x", "chat_id": "-100123", "thread_id": "7"}),
        )
        .await;
    let (general, _) = app
        .post_api(
            "/api/messages",
            &json!({"url": url, "text": "y", "chat_id": "-100123"}),
        )
        .await;
    let client = crate::mcp::connect(&app).await;
    let posted = crate::mcp::call(
        &client,
        "post_message",
        json!({"url": url, "text": "z", "chat_id": "-100123", "message_thread_id": 9}),
    )
    .await;
    client.cancel().await.ok();
    open_issue_and_send(&app, 5).await;

    // Assert: each went to its topic, as a number; the one without went with none.
    assert_eq!(added, StatusCode::CREATED, "{command}");
    assert_eq!(command["target"]["thread_id"], 42, "{command}");
    assert_eq!(
        (by_hand, general),
        (StatusCode::ACCEPTED, StatusCode::ACCEPTED),
        "{queued}"
    );
    assert_eq!(posted.is_error, Some(false), "{posted:?}");
    assert_eq!(
        queued["target"], "telegram chat -100123 (topic 7)",
        "{queued}"
    );
    assert_eq!(
        topics_sent(&telegram).await,
        [json!(42), json!(7), json!(9), Value::Null]
    );
}

#[tokio::test]
async fn a_thread_id_that_names_no_topic_or_goes_to_another_kind_is_refused_naming_it() {
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", GH_SECRET).await;
    let telegram = "https://api.telegram.org/bot1:A/sendMessage";
    let mut refused = Vec::new();
    for (url, thread_id, says) in [
        (telegram, json!("general"), "positive whole number"),
        (telegram, json!(0), "positive whole number"),
        (telegram, json!(-3), "positive whole number"),
        (
            "https://discord.com/api/webhooks/1/x",
            json!(5),
            "?thread_id=",
        ),
        (
            "https://hooks.slack.com/services/T/B/x",
            json!(5),
            "only Telegram's",
        ),
    ] {
        let chat_id = (url == telegram).then_some("-100123");
        let mut target = json!({"url": url, "thread_id": thread_id});
        if let Some(chat) = chat_id {
            target["chat_id"] = json!(chat);
        }
        let (saved, command) = add_command(&app, target.clone()).await;
        let mut message = target;
        message["text"] = json!("x");
        let (sent, answer) = app.post_api("/api/messages", &message).await;
        refused.push((
            saved,
            command["error"]["field"].clone(),
            sent,
            answer.clone(),
        ));
        assert!(command.to_string().contains(says), "{command}");
        assert!(answer.to_string().contains(says), "{answer}");
    }
    for (saved, field, sent, answer) in refused {
        assert_eq!(saved, StatusCode::BAD_REQUEST);
        assert_eq!(field, "target.thread_id");
        assert_eq!(sent, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["field"], "thread_id", "{answer}");
    }
    assert_eq!(app.drain().await, 0);
}

/// The path Open WebUI 0.12's "Copy URL" of a channel webhook gives: no host.
const COPIED: &str = "/api/v1/channels/webhooks/ch1/s3cr3tTOKEN";

#[tokio::test]
async fn open_webuis_copied_channel_path_is_posted_to_on_openwebui_url() {
    // Arrange: Open WebUI at OPENWEBUI_URL.
    let owui = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COPIED))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": true, "message_id": "m1"})),
        )
        .expect(3)
        .mount(&owui)
        .await;
    let base = format!("{}/", owui.uri());
    let app = spawn_manual(move |c| c.agents.openwebui_url = Some(base.clone())).await;
    app.github_webhook("gh", GH_SECRET).await;

    // Act: by hand, by a command and by a model.
    let (status, queued) = app
        .post_api("/api/messages", &json!({"url": COPIED, "text": "by hand"}))
        .await;
    let (added, command) = add_command(&app, json!({"url": COPIED})).await;
    let client = crate::mcp::connect(&app).await;
    let tool = crate::mcp::call(
        &client,
        "post_message",
        json!({"url": COPIED, "text": "by a model"}),
    )
    .await;
    client.cancel().await.ok();
    open_issue_and_send(&app, 5).await;

    // Assert: each is taken on Open WebUI's address, says so, and reaches the channel.
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(added, StatusCode::CREATED, "{command}");
    let said = crate::mcp::text(&tool);
    assert_eq!(tool.is_error, Some(false), "{said}");
    for warned in [
        queued["warnings"].to_string(),
        command["warnings"].to_string(),
        said,
    ] {
        assert!(
            warned.contains("taken on OPENWEBUI_URL") && !warned.contains("s3cr3tTOKEN"),
            "{warned}"
        );
    }
    let stored = command["target"]["url"].as_str().unwrap_or_default();
    assert!(
        stored.starts_with(&format!("{}/api/v1/channels/webhooks/", owui.uri())),
        "{command}"
    );
    let requests = owui.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 3, "{requests:?}");
}

#[tokio::test]
async fn open_webuis_copied_channel_path_without_openwebui_url_says_to_put_its_address_in_front() {
    // Arrange: no OPENWEBUI_URL; and one that names a private address no setting allows.
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", GH_SECRET).await;
    // A process that sends, so its own ALLOWED_TARGET_HOSTS refuse (not only warn).
    let private = crate::helpers::spawn_app_with(|c| {
        c.agents.openwebui_url = Some("http://10.9.8.7:8080".into())
    })
    .await;

    // Act
    let (status, answer) = app
        .post_api("/api/messages", &json!({"url": COPIED, "text": "x"}))
        .await;
    let (added, command) = add_command(&app, json!({"url": COPIED})).await;
    let (inside, refused) = private
        .post_api("/api/messages", &json!({"url": COPIED, "text": "x"}))
        .await;

    // Assert: refused naming the field and the fix; the made-whole URL is held to the SSRF
    // rules as any other.
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["field"], "url", "{answer}");
    assert_eq!(added, StatusCode::BAD_REQUEST, "{command}");
    assert_eq!(command["error"]["field"], "target.url", "{command}");
    for said in [answer.to_string(), command.to_string()] {
        assert!(
            said.contains("put Open WebUI's address in front")
                && said.contains("OPENWEBUI_URL")
                && !said.contains("relative URL without a base")
                && !said.contains("s3cr3tTOKEN"),
            "{said}"
        );
    }
    assert_eq!(inside, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused.to_string().contains("10.9.8.7"), "{refused}");
    assert_eq!(app.drain().await, 0);
}
