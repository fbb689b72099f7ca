//! Commands that would be saved and never do what their writer meant are refused when saved,
//! saying what to write instead: conditions no event can pass (an empty list, names joined
//! into one string, an empty name, an empty `all`), an `agent` on an action that runs none,
//! the same command added twice (or made by an update), an Open WebUI
//! channel URL without its `/v1`, a template naming a filter, test or function that does not
//! exist, a trigger listing event types joined by commas. And a Telegram Bot API URL behind a
//! proxy's path is posted to as given.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, accepted, assert_error, delivery_id, issue_opened, send_json, spawn_app,
    spawn_app_with, spawn_manual,
};
use crate::mcp::{call, connect, text};

const GH_SECRET: &str = "gh-secret-for-mistakes";

async fn app_with_webhook() -> TestApp {
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github"}))
        .await;
    app
}

async fn add(app: &TestApp, body: Value) -> (StatusCode, Value) {
    send_json(
        app.api(Method::POST, "/api/webhooks/gh/commands")
            .json(&body),
    )
    .await
}

async fn update(app: &TestApp, id: &str, body: Value) -> (StatusCode, Value) {
    send_json(
        app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{id}"))
            .json(&body),
    )
    .await
}

async fn commands(app: &TestApp) -> Vec<Value> {
    let (status, list) = app.get_json("/api/webhooks/gh/commands").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array()
        .or_else(|| list["commands"].as_array())
        .cloned()
        .unwrap_or_else(|| panic!("a list: {list}"))
}

fn message(answer: &Value) -> String {
    answer["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn comment(conditions: Value) -> Value {
    json!({"trigger": "issues.opened", "action": "comment", "template": "Thanks",
           "conditions": conditions})
}

#[tokio::test]
async fn conditions_no_event_could_pass_are_refused_saying_what_to_write() {
    // Arrange
    let app = app_with_webhook().await;
    let cases = [
        (
            json!({"labels": []}),
            "conditions.labels",
            "matches no event",
        ),
        (
            json!({"labels": "bug,enhancement"}),
            "conditions.labels",
            "give a list: [\"bug\", \"enhancement\"]",
        ),
        (
            json!({"sender": "alice, bob"}),
            "conditions.sender",
            "give a list: [\"alice\", \"bob\"]",
        ),
        (
            json!({"any": [{"field": "action", "in": []}]}),
            "conditions.any[0].in",
            "no value to match",
        ),
        (json!({"all": []}), "conditions.all", "leave `all` out"),
        (json!({"not": {}}), "conditions.not", "no event passes"),
        (
            json!({"labels": ""}),
            "conditions.labels",
            "an empty label matches no label",
        ),
        (
            json!({"sender": ["alice", ""]}),
            "conditions.sender",
            "an empty name",
        ),
    ];

    for (conditions, field, says) in cases {
        // Act
        let answer = add(&app, comment(conditions.clone())).await;

        // Assert
        assert_error(&answer, StatusCode::BAD_REQUEST, Some(field));
        assert!(
            message(&answer.1).contains(says),
            "{conditions}: {}",
            answer.1
        );
    }
    assert!(commands(&app).await.is_empty());

    // and an update that would write one is refused too, the command left as it was
    let saved = app
        .add_command_ok("gh", comment(json!({"labels": ["bug"]})))
        .await;
    let id = saved["id"].as_str().expect("id");
    let answer = update(&app, id, json!({"conditions": {"labels": "bug,docs"}})).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, Some("conditions.labels"));
    assert_eq!(
        commands(&app).await[0]["conditions"],
        json!({"labels": ["bug"]})
    );
    // A name holding a comma, given in a list, is taken as meant.
    let (status, kept) = update(&app, id, json!({"conditions": {"author": ["Doe, Jane"]}})).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
}

#[tokio::test]
async fn an_agent_on_an_action_that_runs_none_is_left_out_with_a_word_pointing_at_create_task() {
    // Arrange
    let app = app_with_webhook().await;

    for action in ["respond", "comment"] {
        // Act
        let (status, saved) = add(
            &app,
            json!({"trigger": "issues.opened", "action": action, "agent": "brain",
                   "template": "Looking"}),
        )
        .await;

        // Assert
        assert_eq!(status, StatusCode::CREATED, "{saved}");
        assert!(saved["agent"].is_null(), "{saved}");
        assert!(
            saved["warnings"]
                .as_array()
                .expect("warnings")
                .iter()
                .any(|w| w
                    .as_str()
                    .unwrap()
                    .contains("use create_task with agent `brain`")),
            "{saved}"
        );
    }
    // Nor is a name left out held to an agent name's form (a person's words, say).
    let (status, spoken) = add(
        &app,
        json!({"trigger": "issues.closed", "action": "comment", "agent": "Planning Bot",
               "template": "Closed"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{spoken}");
    assert!(spoken["agent"].is_null(), "{spoken}");
    let kept = commands(&app).await;
    assert_eq!(kept.len(), 3);
    assert!(kept.iter().all(|c| c["agent"].is_null()), "{kept:?}");
    // An update that gives one has it left out too; `ask` and `create_task` keep theirs.
    let saved = app.add_command_ok("gh", comment(json!({}))).await;
    let id = saved["id"].as_str().expect("id");
    let (status, updated) = update(&app, id, json!({"agent": "brain", "priority": 3})).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(updated["agent"].is_null(), "{updated}");
    assert_eq!(updated["priority"], 3);
    assert!(
        updated["warnings"].to_string().contains("was left out"),
        "{updated}"
    );
    let ask = app
        .add_command_ok(
            "gh",
            json!({"trigger": "issues.opened", "action": "ask", "agent": "brain",
                   "template": "Which release?"}),
        )
        .await;
    assert_eq!(ask["agent"], "brain");
    // A create_task turned into a comment leaves its agent behind, as a forward its target.
    let task = app
        .add_command_ok(
            "gh",
            json!({"trigger": "issues.closed", "action": "create_task", "agent": "planning"}),
        )
        .await;
    let id = task["id"].as_str().expect("id");
    let (status, changed) = update(&app, id, json!({"action": "comment", "template": "x"})).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["action"], "comment", "{changed}");
    assert!(changed["agent"].is_null(), "{changed}");
}

#[tokio::test]
async fn the_same_command_added_twice_is_a_conflict_naming_the_first() {
    // Arrange: forwards signed with a secret, sealed at rest, so the stored one is compared
    // opened.
    let target = MockServer::start().await;
    let app = spawn_app_with(|c| {
        c.secret_key =
            Some("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f".into());
    })
    .await;
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github"}))
        .await;
    let forward = json!({"trigger": "issues.opened", "action": "forward",
        "conditions": {"labels": ["bug"], "from_bot": false},
        "target": {"url": format!("{}/hook", target.uri()),
                   "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}});
    let first = app.add_command_ok("gh", forward.clone()).await;
    let first_id = first["id"].as_str().expect("id");

    // Act: the same again, its conditions' keys in another order
    let mut again = forward.clone();
    again["conditions"] = json!({"from_bot": false, "labels": ["bug"]});
    let answer = add(&app, again).await;

    // Assert
    assert_error(&answer, StatusCode::CONFLICT, None);
    let said = message(&answer.1);
    assert!(said.contains(first_id), "{said}");
    assert!(said.contains("update_command"), "{said}");
    assert_eq!(commands(&app).await.len(), 1);
    // One that differs in anything it does is another command.
    let mut other = forward.clone();
    other["target"]["secret"] = json!("whsec_b3RoZXItc2VjcmV0LWZvci10aGUtdGVzdHM=");
    app.add_command_ok("gh", other).await;
    let mut later = forward;
    later["priority"] = json!(5);
    app.add_command_ok("gh", later).await;
    assert_eq!(commands(&app).await.len(), 3);
}

#[tokio::test]
async fn an_update_that_makes_a_copy_of_another_command_is_a_conflict_naming_it() {
    // Arrange: two forwards that differ only in their label, signed, sealed at rest.
    let target = MockServer::start().await;
    let app = spawn_app_with(|c| {
        c.secret_key =
            Some("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f".into());
    })
    .await;
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github"}))
        .await;
    let forward = |label: &str| {
        json!({"trigger": "issues.opened", "action": "forward",
               "conditions": {"labels": [label], "from_bot": false},
               "target": {"url": format!("{}/hook", target.uri()),
                          "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}})
    };
    let bugs = app.add_command_ok("gh", forward("bug")).await;
    let bugs_id = bugs["id"].as_str().expect("id");
    let docs = app.add_command_ok("gh", forward("docs")).await;
    let docs_id = docs["id"].as_str().expect("id").to_string();

    // Act: the second's label made the first's, its conditions' keys in another order
    let answer = update(
        &app,
        &docs_id,
        json!({"conditions": {"from_bot": false, "labels": ["bug"]}}),
    )
    .await;

    // Assert: refused as an add of it would be, the command left as it was
    assert_error(&answer, StatusCode::CONFLICT, None);
    let said = message(&answer.1);
    assert!(said.contains(bugs_id), "{said}");
    assert!(said.contains("remove_command"), "{said}");
    let listed = commands(&app).await;
    let kept = listed.iter().find(|c| c["id"] == docs_id.as_str());
    assert_eq!(
        kept.expect("still there")["conditions"]["labels"],
        json!(["docs"])
    );
    // An update that leaves a command as it is, or makes it differ in anything it does, is
    // taken.
    let (status, same) = update(&app, &docs_id, forward("docs")).await;
    assert_eq!(status, StatusCode::OK, "{same}");
    let (status, other) = update(
        &app,
        &docs_id,
        json!({"conditions": {"labels": ["bug"], "from_bot": false}, "priority": 3}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{other}");
    // And over MCP, which names the other command too.
    let client = connect(&app).await;
    let copied = call(
        &client,
        "update_command",
        json!({"webhook_id": "gh", "command_id": docs_id, "priority": 0}),
    )
    .await;
    assert_eq!(copied.is_error, Some(true), "{}", text(&copied));
    assert!(text(&copied).contains(bugs_id), "{}", text(&copied));
    client.cancel().await.ok();
}

#[tokio::test]
async fn an_open_webui_channel_url_without_v1_is_refused_naming_the_path() {
    // Arrange
    let app = app_with_webhook().await;
    let post = |url: &str| {
        json!({"trigger": "issues.opened", "action": "post_message", "template": "New",
               "target": {"url": url}})
    };

    // Act
    let answer = add(
        &app,
        post("http://127.0.0.1:9/api/channels/webhooks/ch1/tok3n"),
    )
    .await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST, Some("target.url"));
    assert!(
        message(&answer.1).contains("/api/v1/channels/webhooks/{id}/{token}"),
        "{}",
        answer.1
    );
    app.add_command_ok(
        "gh",
        post("http://127.0.0.1:9/api/v1/channels/webhooks/ch1/tok3n"),
    )
    .await;
    // A message by hand, over REST and MCP, is refused the same way rather than queued to die.
    let by_hand = json!({"url": "http://127.0.0.1:9/api/channels/webhooks/ch1/tok3n",
                         "text": "hello"});
    let rest = send_json(app.api(Method::POST, "/api/messages").json(&by_hand)).await;
    assert_error(&rest, StatusCode::BAD_REQUEST, Some("url"));
    assert!(message(&rest.1).contains("/v1"), "{}", rest.1);
    let client = connect(&app).await;
    let tool = call(&client, "post_message", by_hand).await;
    client.cancel().await.ok();
    assert_eq!(tool.is_error, Some(true), "{}", text(&tool));
    assert!(text(&tool).contains("/v1"), "{}", text(&tool));
}

#[tokio::test]
async fn a_telegram_url_behind_a_proxy_path_is_posted_to_as_given() {
    // Arrange: a Bot API server behind a proxy's `/tg` prefix, on loopback.
    let proxy = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/tg/bot123:abc/sendMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "result": {"message_id": 5}})),
        )
        .expect(1)
        .mount(&proxy)
        .await;
    let app = spawn_manual(|_| {}).await;
    app.github_webhook("gh", GH_SECRET).await;
    let url = format!("{}/tg/bot123:abc/sendMessage", proxy.uri());
    let (added, command) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "post_message", "template": "New issue",
               "target": {"url": url, "chat_id": "-100123"}}),
    )
    .await;
    assert_eq!(added, StatusCode::CREATED, "{command}");

    // Act
    let body = issue_opened("octo/app", 3, &[]);
    let event = accepted(
        app.post_github("gh", "issues", &delivery_id(), &body, GH_SECRET)
            .await,
    )
    .await;
    app.drain().await;

    // Assert
    let actions = app.actions_of(&event).await;
    assert_eq!(actions[0]["status"], "delivered", "{actions:?}");
    let sent = proxy.received_requests().await.expect("recorded");
    let sent: Value = serde_json::from_slice(&sent[0].body).expect("json");
    assert_eq!(sent, json!({"chat_id": "-100123", "text": "New issue"}));
}

#[tokio::test]
async fn add_command_over_mcp_refuses_each_mistake_with_text_to_act_on() {
    // Arrange
    let app = spawn_app().await;
    let client = connect(&app).await;
    let made = call(
        &client,
        "create_webhook",
        json!({"id": "gh", "name": "Issues", "provider": "github"}),
    )
    .await;
    assert_eq!(made.is_error, Some(false), "{}", text(&made));
    let command = |extra: Value| {
        let mut c = json!({"webhook_id": "gh", "trigger": "issues.opened",
                           "action": "comment", "template": "Thanks"});
        for (k, v) in extra.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };
    let cases = [
        (
            command(json!({"conditions": {"labels": []}})),
            "matches no event",
        ),
        (
            command(json!({"conditions": {"labels": "bug,enhancement"}})),
            "[\"bug\", \"enhancement\"]",
        ),
        (
            command(json!({"conditions": {"labels": [""]}})),
            "an empty label matches no label",
        ),
        (
            command(json!({"conditions": {"all": []}})),
            "leave `all` out",
        ),
        (
            command(json!({"action": "create_task", "agent": "planning",
                           "target": {"url": "https://example.com/x", "secret": "whsec_abc"}})),
            "takes no `secret`",
        ),
        (
            command(json!({"action": "post_message",
                           "target": {"url": "http://127.0.0.1:9/api/channels/webhooks/a/b"}})),
            "/api/v1/channels/webhooks/{id}/{token}",
        ),
    ];

    // Act + Assert
    for (args, says) in cases {
        let refused = call(&client, "add_command", args.clone()).await;
        assert_eq!(refused.is_error, Some(true), "{args}: {}", text(&refused));
        assert!(text(&refused).contains(says), "{args}: {}", text(&refused));
    }
    // A retry of a call that worked names the command it made.
    let first = call(&client, "add_command", command(json!({}))).await;
    assert_eq!(first.is_error, Some(false), "{}", text(&first));
    let id = first
        .structured_content
        .as_ref()
        .and_then(|c| c["id"].as_str())
        .expect("id")
        .to_string();
    let again = call(&client, "add_command", command(json!({}))).await;
    assert_eq!(again.is_error, Some(true), "{}", text(&again));
    assert!(text(&again).contains(&id), "{}", text(&again));
    assert!(text(&again).contains("update_command"), "{}", text(&again));
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_command_whose_disabled_twin_exists_can_still_be_disabled() {
    // Arrange: two commands alike but for `enabled`, which add takes as different.
    let app = spawn_app_with(|_| {}).await;
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github"}))
        .await;
    let command = |enabled: bool| {
        json!({"trigger": "issues.opened", "action": "comment", "template": "hi",
               "enabled": enabled})
    };
    let on = app.add_command_ok("gh", command(true)).await;
    app.add_command_ok("gh", command(false)).await;
    let on_id = on["id"].as_str().expect("id").to_string();

    // Act: the kill switch.
    let (status, body) = update(&app, &on_id, json!({"enabled": false})).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["enabled"], false, "{body}");
}

#[tokio::test]
async fn an_update_that_gives_nothing_to_change_is_refused_and_changes_nothing() {
    // Arrange
    let app = app_with_webhook().await;
    let (status, made) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "comment", "template": "hi"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap().to_string();

    // Act: an empty body over REST, and only nulls over MCP (as models send left-out fields).
    let rest = update(&app, &id, json!({})).await;
    let client = connect(&app).await;
    let mcp = call(
        &client,
        "update_command",
        json!({"webhook_id": "gh", "command_id": id, "trigger": null, "action": null,
               "template": null, "conditions": null, "target": null, "enabled": null}),
    )
    .await;
    client.cancel().await.ok();

    // Assert
    assert_error(&rest, StatusCode::BAD_REQUEST, None);
    assert!(message(&rest.1).contains("nothing to change"), "{}", rest.1);
    assert_eq!(mcp.is_error, Some(true), "{}", text(&mcp));
    assert!(text(&mcp).contains("nothing to change"), "{}", text(&mcp));
    let kept = commands(&app).await;
    assert_eq!(kept[0]["updated_at"], made["updated_at"], "{kept:?}");
}

#[tokio::test]
async fn a_template_naming_a_filter_test_or_function_that_does_not_exist_is_refused() {
    // Arrange
    let app = app_with_webhook().await;
    let with = |template: &str| json!({"trigger": "issues.opened", "action": "comment", "template": template});

    // Act + Assert: each is named with its kind; the samples could never have told it, as
    // every delivery fails on it whatever its payload.
    for (template, said) in [
        ("{{ issue.title | uper }}", "the filter `uper`"),
        (
            "{% if issue.title is startswith('x') %}x{% endif %}",
            "the test `startswith`",
        ),
        ("{{ rnage(3) }}", "the function `rnage`"),
    ] {
        let answer = add(&app, with(template)).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, Some("template"));
        let answer = answer.1;
        assert!(message(&answer).contains(said), "{template}: {answer}");
    }
    assert!(commands(&app).await.is_empty());

    // A good one is saved; changing it to a misspelt one is refused, and it stays as it was.
    let (status, saved) = add(&app, with("{{ issue.title | upper }}")).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let id = saved["id"].as_str().expect("id").to_string();
    let answer = update(&app, &id, json!({"template": "{{ issue.title | uper }}"})).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, Some("template"));
    assert_eq!(
        commands(&app).await[0]["template"],
        "{{ issue.title | upper }}"
    );

    // One saved before the check (written straight to the file) can still be disabled.
    let db = rusqlite::Connection::open(&app.db_path).expect("open the database");
    db.execute(
        "UPDATE commands SET template = '{{ issue.title | uper }}' WHERE id = ?1",
        [&id],
    )
    .expect("write the old row");
    let (status, changed) = update(&app, &id, json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["enabled"], false, "{changed}");
}

#[tokio::test]
async fn a_missing_trigger_or_action_is_a_missing_field_as_on_every_other_route() {
    // Arrange
    let app = app_with_webhook().await;

    // Act
    let no_action = add(&app, json!({"trigger": "issues.opened", "template": "a"})).await;
    let no_trigger_in_a_create = send_json(app.api(Method::POST, "/api/webhooks").json(&json!({
        "name": "x", "provider": "github",
        "commands": [{"action": "comment", "template": "a"}]
    })))
    .await;

    // Assert
    assert_error(&no_action, StatusCode::BAD_REQUEST, Some("action"));
    assert_eq!(
        no_action.1["error"]["code"], "missing_field",
        "{}",
        no_action.1
    );
    assert_eq!(message(&no_action.1), "missing field `action`");
    assert_error(
        &no_trigger_in_a_create,
        StatusCode::BAD_REQUEST,
        Some("commands[0].trigger"),
    );
    assert_eq!(
        no_trigger_in_a_create.1["error"]["code"], "missing_field",
        "{}",
        no_trigger_in_a_create.1
    );
    assert!(commands(&app).await.is_empty());
}

#[tokio::test]
async fn a_trigger_listing_event_types_joined_by_commas_is_refused_naming_each_to_add() {
    // Arrange: the event list a sender's own settings take (Open WebUI's `WEBHOOK_EVENTS`),
    // written as a trigger; one Open WebUI webhook, one custom.
    let app = app_with_webhook().await;
    let listed = "message.created,file.uploaded, error.occurred";
    let post = |path: &'static str, body: Value| {
        let app = &app;
        async move { send_json(app.api(Method::POST, path).json(&body)).await }
    };
    let to_slack = json!({"url": "https://hooks.slack.com/services/T0/B0/XYZ"});

    // Act
    let in_a_create = post(
        "/api/webhooks",
        json!({"id": "owui", "name": "Open WebUI", "provider": "openwebui", "commands": [
            {"trigger": listed, "action": "post_message", "template": "x", "target": to_slack}
        ]}),
    )
    .await;
    let added = add(
        &app,
        json!({"trigger": "issues.opened,issues.labeled", "action": "comment", "template": "x"}),
    )
    .await;
    let kept = add(
        &app,
        json!({"trigger": "issues.opened", "action": "comment", "template": "x"}),
    )
    .await;
    let kept_id = kept.1["id"].as_str().unwrap_or_default().to_string();
    let updated = update(
        &app,
        &kept_id,
        json!({"trigger": "issues.opened,issues.closed"}),
    )
    .await;
    app.create_webhook(json!({"id": "own", "name": "own", "provider": "custom"}))
        .await;
    let custom = post(
        "/api/webhooks/own/commands",
        json!({"trigger": listed, "action": "respond", "template": "x"}),
    )
    .await;

    // Assert: refused, naming each type to give a command of its own; nothing made.
    assert_error(
        &in_a_create,
        StatusCode::BAD_REQUEST,
        Some("commands[0].trigger"),
    );
    let said = message(&in_a_create.1);
    for each in [
        "`message.created`",
        "`file.uploaded`",
        "`error.occurred`",
        "one command for each",
    ] {
        assert!(said.contains(each), "{said}");
    }
    let (status, _) = app.get_json("/api/webhooks/owui").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&added, StatusCode::BAD_REQUEST, Some("trigger"));
    assert!(message(&added.1).contains("never fire"), "{}", added.1);
    assert_error(&updated, StatusCode::BAD_REQUEST, Some("trigger"));
    let triggers: Vec<Value> = commands(&app)
        .await
        .iter()
        .map(|c| c["trigger"].clone())
        .collect();
    assert_eq!(triggers, vec![json!("issues.opened")]);
    // A custom sender names its own types: saved, with the same word as a warning.
    assert_eq!(custom.0, StatusCode::CREATED, "{}", custom.1);
    let warned = custom.1["warnings"].to_string();
    assert!(
        warned.contains("one command for each of `message.created`"),
        "{warned}"
    );
}
