//! A webhook's commands over REST: add, list in priority order, partial update, delete, and
//! refusals that name the field to fix.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, send_json, spawn_app, spawn_app_with};

async fn app_with_webhook() -> TestApp {
    let app = spawn_app_with(with_reply_tokens).await;
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github"}))
        .await;
    app
}

/// Every provider's reply token set, so that the warnings a test looks for are not mixed
/// with the one for a missing token.
fn with_reply_tokens(config: &mut webhook_mcp::config::Config) {
    let upstreams = &mut config.upstreams;
    upstreams.github_token = Some("ghp_test".into());
    upstreams.gitlab_token = Some("glpat-test".into());
    upstreams.jira_base_url = Some("https://example.atlassian.net".into());
    upstreams.jira_email = Some("bot@example.com".into());
    upstreams.jira_api_token = Some("jira-test".into());
    upstreams.linear_api_key = Some("lin_api_test".into());
    upstreams.slack_bot_token = Some("xoxb-test".into());
    // A Slack channel named in a condition is looked up with the token: nowhere, here.
    upstreams.slack_api_url = "http://127.0.0.1:9".into();
}

async fn add(app: &TestApp, body: Value) -> (StatusCode, Value) {
    send_json(
        app.api(Method::POST, "/api/webhooks/gh/commands")
            .json(&body),
    )
    .await
}

/// Adds to `gh` an `issues.opened` command per (action, target URL); their ids.
async fn add_targets(app: &TestApp, targets: &[(&str, &str)]) -> Vec<String> {
    let mut ids = Vec::new();
    for (action, url) in targets {
        let (status, command) = add(
            app,
            json!({"trigger": "issues.opened", "action": action, "template": "New issue",
                   "target": {"url": url}}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{command}");
        ids.push(command["id"].as_str().expect("id").to_string());
    }
    ids
}

/// `PUT` of `body` on command `id` of `gh`.
async fn put_command(app: &TestApp, id: &str, body: Value) -> (StatusCode, Value) {
    send_json(
        app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{id}"))
            .json(&body),
    )
    .await
}

/// `GET path` with the API key `key` (a read key, say).
async fn get_with(app: &TestApp, key: &str, path: &str) -> (StatusCode, Value) {
    send_json(app.client.get(app.url(path)).bearer_auth(key)).await
}

#[tokio::test]
async fn adding_a_command_answers_201_with_the_command() {
    // Arrange
    let app = app_with_webhook().await;

    // Act
    let (status, command) = add(
        &app,
        json!({
            "trigger": "issues.opened",
            "action": "create_task",
            "agent": "planning",
            "template": "Analyze issue #{{issue.number}}",
            "conditions": {"labels": ["bug"]},
            "priority": 5,
        }),
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{command}");
    assert!(command["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(command["webhook_id"], "gh");
    assert_eq!(command["trigger"], "issues.opened");
    assert_eq!(command["action"], "create_task");
    assert_eq!(command["agent"], "planning");
    assert_eq!(command["conditions"], json!({"labels": ["bug"]}));
    assert_eq!(command["priority"], 5);
    assert_eq!(command["enabled"], true);
    assert_eq!(command["stop"], false);
    assert!(command.get("warnings").is_none(), "{command}");
}

#[tokio::test]
async fn a_template_that_does_not_render_with_the_sample_payload_is_saved_with_a_warning() {
    // Arrange
    let app = app_with_webhook().await;
    let misspelt = "Issue {{ issue.tittle }} by {{ sender.login }}";

    // Act
    let (status, command) = add(
        &app,
        json!({"trigger": "issues.*", "action": "comment", "template": misspelt}),
    )
    .await;
    let id = command["id"].as_str().unwrap_or_default().to_string();
    let (fixed_status, fixed) = send_json(
        app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{id}"))
            .json(&json!({"template": "Issue {{ issue.title }} by {{ sender.login }}"})),
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{command}");
    let warning = command["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("issues.opened"), "{command}");
    assert!(warning.contains("tittle"), "{command}");
    assert_eq!(fixed_status, StatusCode::OK, "{fixed}");
    assert!(fixed.get("warnings").is_none(), "{fixed}");

    // The event's thread is there too, as on a real delivery: an Open WebUI notification's
    // chat id is only in `delivery.source`.
    app.create_webhook(json!({"id": "owui", "name": "Open WebUI", "provider": "openwebui"}))
        .await;
    let chat = app
        .add_command_ok(
            "owui",
            json!({"trigger": "notification.chat", "action": "forward",
                   "target": {"url": "https://example.com/hook"},
                   "template": "chat {{ delivery.source.key }}: {{ title }}"}),
        )
        .await;
    assert!(chat.get("warnings").is_none(), "{chat}");

    // Text too long for one message is sent cut, saying so: nothing to warn of; a forward's
    // body is never cut, so there it is.
    let long = "{{ 'x' * 270000 }}";
    let (_, cut) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "comment", "template": long}),
    )
    .await;
    assert!(cut.get("warnings").is_none(), "{cut}");
    let (_, forwarded) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "forward", "template": long,
               "target": {"url": "https://example.com/hook"}}),
    )
    .await;
    assert!(
        forwarded["warnings"].to_string().contains("262144"),
        "{forwarded}"
    );
}

#[tokio::test]
async fn a_second_respond_on_a_custom_webhook_is_saved_with_a_warning() {
    // Arrange: a custom sender reads one answer, in the HTTP response.
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "cu", "name": "c", "provider": "custom",
                              "options": {"custom": {"mode": "token"}}}))
        .await;
    let respond =
        |template: &str| json!({"trigger": "*", "action": "respond", "template": template});

    // Act
    let first = app.add_command_ok("cu", respond("one")).await;
    let second = app.add_command_ok("cu", respond("two")).await;

    // Assert
    assert!(first.get("warnings").is_none(), "{first}");
    let warned = second["warnings"].to_string();
    assert!(
        warned.contains(first["id"].as_str().expect("id")),
        "{second}"
    );
    assert!(warned.contains("ends dead"), "{second}");
}

#[tokio::test]
async fn an_ask_without_an_agent_warns_when_the_runner_does_not_run_brain() {
    // Arrange: the README's own agent list, which has no `brain`, and a chat API so the
    // built-in runner is on.
    let app = spawn_app_with(|c| {
        with_reply_tokens(c);
        c.agents.chat_url = Some("http://127.0.0.1:9/v1/chat/completions".into());
        c.agents.agents = Some(r#"[{"name": "planning"}, {"name": "triage"}]"#.into());
    })
    .await;
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github"}))
        .await;
    let ask = |agent: Option<&str>| {
        let mut body =
            json!({"trigger": "issues.opened", "action": "ask", "template": "which browser?"});
        if let Some(agent) = agent {
            body["agent"] = json!(agent);
        }
        body
    };

    // Act
    let implied = add(&app, ask(None)).await;
    let named = add(&app, ask(Some("brain"))).await;
    let run_here = add(&app, ask(Some("triage"))).await;

    // Assert: saved all the same; the implied `brain` warns as the named one does.
    for (status, body) in [&implied, &named, &run_here] {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
    }
    let warning = implied.1["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("without `agent` is for agent `brain`"),
        "{:?}",
        implied
    );
    assert!(warning.contains("`planning`, `triage`"), "{:?}", implied);
    let warning = named.1["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("does not run agent `brain`"),
        "{:?}",
        named
    );
    assert!(run_here.1.get("warnings").is_none(), "{:?}", run_here);
}

#[tokio::test]
async fn warnings_name_the_agents_the_runner_read_at_start_not_a_file_changed_since() {
    // Arrange: agents declared in a file, which is changed once the server runs.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("agents.json");
    std::fs::write(&file, r#"[{"name": "planning"}]"#).expect("write agents");
    let path = file.to_string_lossy().into_owned();
    let app = spawn_app_with(move |c| {
        with_reply_tokens(c);
        c.agents.chat_url = Some("http://127.0.0.1:9/v1/chat/completions".into());
        c.agents.agents = Some(path);
    })
    .await;
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github"}))
        .await;
    std::fs::write(&file, r#"[{"name": "planning"}, {"name": "triage"}]"#).expect("rewrite");

    // Act
    let (status, saved) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "triage"}),
    )
    .await;

    // Assert: the runner, started with the first list, does not run `triage`; said so.
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let warning = saved["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("does not run agent `triage`"), "{saved}");
}

#[tokio::test]
async fn the_channel_conditions_the_setup_prompt_teaches_are_saved_with_the_channels_id_on_slack() {
    // Arrange: the `channel` examples a model reads in the setup-webhook prompt (a `#name`,
    // then an id), and a bot token that sees the channel.
    let prompt = include_str!("../../prompts/setup-webhook.md");
    let taught: Vec<Value> = prompt
        .match_indices(r#"{"channel": "#)
        .map(|(start, _)| {
            let end = start + prompt[start..].find('}').expect("its end") + 1;
            serde_json::from_str(&prompt[start..end]).expect("JSON")
        })
        .collect();
    assert_eq!(taught.len(), 2, "{taught:?}");
    let slack = crate::seed_configs::slack_with_channels().await;
    let app = crate::helpers::spawn_manual(crate::helpers::use_slack(&slack)).await;
    app.slack_webhook("sl").await;

    // Act
    let mut saved = Vec::new();
    for conditions in &taught {
        saved.push(
            send_json(
                app.api(Method::POST, "/api/webhooks/sl/commands")
                    .json(&json!({"trigger": "message.channels", "action": "respond",
                                  "template": "Hi", "conditions": conditions})),
            )
            .await,
        );
    }

    // Assert: the name is saved with its id beside it, said once; the id as it is.
    let (status, by_name) = &saved[0];
    assert_eq!(*status, StatusCode::CREATED, "{by_name}");
    assert_eq!(
        by_name["conditions"]["channel"],
        json!(["#engineering", "C0ENG1234"]),
        "{by_name}"
    );
    assert_eq!(
        by_name["warnings"].as_array().map(Vec::len),
        Some(1),
        "{by_name}"
    );
    assert!(
        by_name["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("`#engineering` is `C0ENG1234`")),
        "{by_name}"
    );
    let (status, by_id) = &saved[1];
    assert_eq!(*status, StatusCode::CREATED, "{by_id}");
    assert!(by_id.get("warnings").is_none(), "{by_id}");
}

#[tokio::test]
async fn a_trigger_the_provider_never_sends_is_saved_with_a_warning_naming_the_fix() {
    // Arrange: a GitLab webhook, given GitHub's names, and a GitHub one given GitLab's tense.
    let app = spawn_app_with(with_reply_tokens).await;
    app.create_webhook(json!({"id": "gl", "name": "GitLab", "provider": "gitlab"}))
        .await;
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github"}))
        .await;
    app.create_webhook(json!({"id": "ji", "name": "Jira", "provider": "jira"}))
        .await;
    let comment =
        |trigger: &str| json!({"trigger": trigger, "action": "comment", "template": "Hi"});
    let add_to = |hook: &'static str, body: serde_json::Value| {
        let app = &app;
        async move {
            send_json(
                app.api(Method::POST, &format!("/api/webhooks/{hook}/commands"))
                    .json(&body),
            )
            .await
        }
    };

    // Act
    let wrong_provider = add_to("gl", comment("issues.opened")).await;
    let wrong_tense = add_to("gh", comment("pull_request.open")).await;
    let right = add_to("gl", comment("issue.open")).await;
    let unprefixed = add_to("ji", comment("issue_created")).await;
    let prefixed = add_to("ji", comment("jira:issue_created")).await;
    let comment_event = add_to("ji", comment("comment_created")).await;

    // Assert: all saved; the ones that can never fire say what would.
    for (status, body) in [
        &wrong_provider,
        &wrong_tense,
        &right,
        &unprefixed,
        &prefixed,
        &comment_event,
    ] {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
    }
    let warning = |answer: &(StatusCode, serde_json::Value)| {
        answer.1["warnings"][0]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        warning(&wrong_provider).contains("`issue.open`"),
        "{:?}",
        wrong_provider
    );
    assert!(
        warning(&wrong_tense).contains("`pull_request.opened`"),
        "{:?}",
        wrong_tense
    );
    assert!(right.1.get("warnings").is_none(), "{:?}", right);
    assert!(
        warning(&unprefixed).contains("did you mean `jira:issue_created`?"),
        "{:?}",
        unprefixed
    );
    for quiet in [&prefixed, &comment_event] {
        assert!(quiet.1.get("warnings").is_none(), "{:?}", quiet);
    }
}

#[tokio::test]
async fn other_providers_triggers_that_never_match_are_saved_with_a_warning() {
    // Arrange
    let app = spawn_app().await;
    for provider in [
        "gitlab",
        "linear",
        "sentry",
        "slack",
        "stripe",
        "standard-webhooks",
    ] {
        app.create_webhook(json!({"id": provider, "name": provider, "provider": provider}))
            .await;
    }
    let add = |hook: &'static str, trigger: &'static str| {
        let app = &app;
        async move {
            let body = json!({"trigger": trigger, "action": "forward",
                              "target": {"url": "https://example.com/hook"}});
            let answer = send_json(
                app.api(Method::POST, &format!("/api/webhooks/{hook}/commands"))
                    .json(&body),
            )
            .await;
            assert_eq!(answer.0, StatusCode::CREATED, "{trigger}: {}", answer.1);
            answer.1["warnings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect::<Vec<_>>()
                .join(" | ")
        }
    };

    // Act + Assert: each saved; the ones that can never fire say what would.
    for (hook, trigger, hint) in [
        ("gitlab", "note.created", "`note.create`"),
        ("gitlab", "pipeline.failed", "`object_attributes.status`"),
        ("linear", "Comment.created", "`Comment.create`"),
        ("linear", "comment.create", "`Comment.create`"),
        ("sentry", "issue_alert.triggered", "`event_alert.triggered`"),
        ("slack", "deploy", "`/deploy`"),
        ("slack", "app_mentions", "`app_mention`"),
        ("stripe", "invoice.payed", "`invoice.paid`"),
        ("standard-webhooks", "issues.opened", "`github`"),
    ] {
        let warnings = add(hook, trigger).await;
        assert!(warnings.contains(hint), "{hook} {trigger}: {warnings}");
    }
    for (hook, trigger) in [
        ("gitlab", "note.create"),
        ("linear", "Comment.create"),
        ("sentry", "event_alert.triggered"),
        ("slack", "/deploy"),
        ("stripe", "invoice.paid"),
        ("standard-webhooks", "invoice.paid"),
    ] {
        let warnings = add(hook, trigger).await;
        assert!(
            !warnings.contains("never matches"),
            "{hook} {trigger}: {warnings}"
        );
    }
}

#[tokio::test]
async fn replies_with_nowhere_to_go_and_slack_channel_names_are_saved_with_warnings() {
    // Arrange
    let app = spawn_app_with(with_reply_tokens).await;
    for (id, provider) in [
        ("sn", "sentry"),
        ("sl", "slack"),
        ("gh", "github"),
        ("gl", "gitlab"),
    ] {
        app.create_webhook(json!({"id": id, "name": id, "provider": provider}))
            .await;
    }
    let add = |hook: &str, body: Value| {
        let path = format!("/api/webhooks/{hook}/commands");
        let app = &app;
        async move { send_json(app.api(Method::POST, &path).json(&body)).await }
    };

    // Act
    let comment_on_alert = add(
        "sn",
        json!({"trigger": "issue.created", "action": "comment", "template": "Seen"}),
    )
    .await;
    let respond_to_alert = add(
        "sn",
        json!({"trigger": "issue.created", "action": "respond", "template": "Seen"}),
    )
    .await;
    let forward_alert = add(
        "sn",
        json!({"trigger": "issue.created", "action": "forward",
               "target": {"url": "https://sink.example.com/in"}}),
    )
    .await;
    let by_name = add(
        "sl",
        json!({"trigger": "message.channels", "action": "comment", "template": "Hi",
               "conditions": {"all": [{"channel": "#engineering"}]}}),
    )
    .await;
    let button_by_name = add(
        "sl",
        json!({"trigger": "block_actions", "action": "respond", "template": "Done",
               "conditions": {"channel": "#engineering"}}),
    )
    .await;
    let form_by_name = add(
        "sl",
        json!({"trigger": "view_submission", "action": "create_task", "agent": "planning",
               "conditions": {"channel": "#engineering"}}),
    )
    .await;
    let respond_to_modal = add(
        "sl",
        json!({"trigger": "view_submission", "action": "respond", "template": "Thanks"}),
    )
    .await;
    let by_id = add(
        "sl",
        json!({"trigger": "message.channels", "action": "comment", "template": "Hi",
               "conditions": {"channel": "C0ENG1234"}}),
    )
    .await;
    let on_subtype = add(
        "sl",
        json!({"trigger": "message.channels", "action": "comment", "template": "Edited",
               "conditions": {"field": "event.subtype", "equals": "message_changed"}}),
    )
    .await;
    let comment_on_push = add(
        "gh",
        json!({"trigger": "push", "action": "comment", "template": "Pushed"}),
    )
    .await;
    let ask_on_push = add(
        "gl",
        json!({"trigger": "push", "action": "ask", "agent": "brain", "template": "Why?"}),
    )
    .await;
    let comment_on_issue = add(
        "gh",
        json!({"trigger": "issues.opened", "action": "comment", "template": "Thanks"}),
    )
    .await;
    let comment_on_misspelt = add(
        "gh",
        json!({"trigger": "issues:opened", "action": "comment", "template": "Thanks"}),
    )
    .await;

    // Assert: saved, with a warning where it cannot work as meant.
    for (status, body) in [
        &comment_on_alert,
        &forward_alert,
        &by_name,
        &by_id,
        &comment_on_push,
        &comment_on_issue,
    ] {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
    }
    let warned = |answer: &(StatusCode, Value), words: &str| {
        answer.1["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|w| w.as_str().unwrap_or_default().contains(words))
    };
    assert!(
        warned(&comment_on_alert, "no thread"),
        "{:?}",
        comment_on_alert
    );
    // A trigger that never fires is told how to spell it, not that its event has no thread.
    assert!(
        warned(&comment_on_misspelt, "did you mean `issues.opened`?")
            && !warned(&comment_on_misspelt, "no thread"),
        "{:?}",
        comment_on_misspelt
    );
    assert!(
        forward_alert.1.get("warnings").is_none(),
        "{:?}",
        forward_alert
    );
    assert!(
        warned(&respond_to_alert, "this respond fails for every event"),
        "{:?}",
        respond_to_alert
    );
    assert!(warned(&by_name, "#engineering"), "{:?}", by_name);
    assert!(by_id.1.get("warnings").is_none(), "{:?}", by_id);
    // A modal names no channel at all, and gives no response_url to answer on.
    assert!(warned(&form_by_name, "#engineering"), "{:?}", form_by_name);
    assert!(
        warned(
            &respond_to_modal,
            "Slack `view_submission` events have no thread to reply on"
        ),
        "{:?}",
        respond_to_modal
    );
    // A button click names its channel: `#name` works there.
    assert!(
        button_by_name.1.get("warnings").is_none(),
        "{:?}",
        button_by_name
    );
    assert!(warned(&on_subtype, "`message_changed`"), "{:?}", on_subtype);
    assert!(
        warned(&comment_on_push, "GitHub `push` events have no thread"),
        "{:?}",
        comment_on_push
    );
    assert!(
        warned(&ask_on_push, "GitLab `push` events have no thread"),
        "{:?}",
        ask_on_push
    );
    assert!(
        comment_on_issue.1.get("warnings").is_none(),
        "{:?}",
        comment_on_issue
    );
}

#[tokio::test]
async fn a_reply_on_a_run_warns_of_runs_without_a_thread_unless_its_conditions_skip_them() {
    // Arrange
    let app = spawn_app_with(with_reply_tokens).await;
    for (id, provider) in [("gh", "github"), ("gl", "gitlab")] {
        app.create_webhook(json!({"id": id, "name": id, "provider": provider}))
            .await;
    }
    let comment = |hook: &str, trigger: &str, conditions: Value| {
        let path = format!("/api/webhooks/{hook}/commands");
        let body = json!({"trigger": trigger, "action": "comment", "template": "x",
                          "conditions": conditions});
        let app = &app;
        async move { send_json(app.api(Method::POST, &path).json(&body)).await }
    };
    let exists = |field: &str| json!({"field": field, "exists": true});

    // Act
    let pipeline = comment("gl", "pipeline", json!({})).await;
    let pipeline_of_a_merge_request = comment("gl", "pipeline", exists("merge_request.iid")).await;
    let in_an_all = comment(
        "gl",
        "pipeline",
        json!({"all": [{"field": "object_attributes.status", "equals": "failed"},
                       exists("/merge_request/iid")]}),
    )
    .await;
    let in_an_any = comment(
        "gl",
        "pipeline",
        json!({"any": [exists("merge_request.iid"), {"labels": "bug"}]}),
    )
    .await;
    let run = comment("gh", "workflow_run.completed", json!({})).await;
    let run_of_a_pull_request = comment(
        "gh",
        "workflow_run.completed",
        exists("workflow_run.pull_requests.0"),
    )
    .await;

    // Assert: the warning gives the condition, and is gone once the condition is there.
    for answer in [
        &pipeline,
        &pipeline_of_a_merge_request,
        &in_an_all,
        &in_an_any,
        &run,
        &run_of_a_pull_request,
    ] {
        assert_eq!(answer.0, StatusCode::CREATED, "{}", answer.1);
    }
    let warned = |answer: &(StatusCode, Value), condition: &str| {
        answer.1["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|w| w.as_str().unwrap_or_default().contains(condition))
    };
    let gitlab_condition = r#"{"field": "merge_request.iid", "exists": true}"#;
    let github_condition = r#"{"field": "workflow_run.pull_requests.0", "exists": true}"#;
    assert!(warned(&pipeline, gitlab_condition), "{:?}", pipeline);
    assert!(warned(&in_an_any, gitlab_condition), "{:?}", in_an_any);
    assert!(warned(&run, github_condition), "{:?}", run);
    for quiet in [
        &pipeline_of_a_merge_request,
        &in_an_all,
        &run_of_a_pull_request,
    ] {
        assert!(quiet.1.get("warnings").is_none(), "{:?}", quiet);
    }
}

#[tokio::test]
async fn a_task_for_an_agent_the_built_in_runner_does_not_run_is_saved_with_a_warning() {
    // Arrange: the runner is on (planning and brain, the default agents).
    let app = crate::helpers::spawn_app_with(|c| {
        with_reply_tokens(c);
        c.agents.openwebui_url = Some("http://127.0.0.1:9".into());
        c.agents.ai_model = Some("m".into());
    })
    .await;
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github"}))
        .await;
    let task = |agent: &str| {
        json!({"trigger": "issues.opened", "action": "create_task", "agent": agent,
               "template": "Look at #{{ issue.number }}"})
    };

    // Act
    let (typo_status, typo) = add(&app, task("plannning")).await;
    let (known_status, known) = add(&app, task("planning")).await;

    // Assert
    assert_eq!(typo_status, StatusCode::CREATED, "{typo}");
    let warning = typo["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("`plannning`") && warning.contains("`planning`, `brain`"),
        "{typo}"
    );
    assert_eq!(known_status, StatusCode::CREATED, "{known}");
    assert!(known.get("warnings").is_none(), "{known}");
}

#[tokio::test]
async fn commands_are_listed_highest_priority_first() {
    // Arrange
    let app = app_with_webhook().await;
    let mut ids = Vec::new();
    for priority in [1, 10, 5] {
        let (status, c) = add(&app, json!({
            "trigger": "issues.*", "action": "comment", "template": "p{{action}}", "priority": priority,
        }))
        .await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        ids.push(c["id"].as_str().expect("id").to_string());
    }

    // Act
    let (status, list) = app.get_json("/api/webhooks/gh/commands").await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{list}");
    let priorities: Vec<i64> = list["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .map(|c| c["priority"].as_i64().expect("priority"))
        .collect();
    assert_eq!(priorities, [10, 5, 1]);
    assert_eq!(list["commands"][0]["id"], json!(ids[1]));
}

#[tokio::test]
async fn updating_a_command_changes_only_the_given_fields() {
    // Arrange
    let app = app_with_webhook().await;
    let (_, c) = add(
        &app,
        json!({
            "trigger": "issues.opened", "action": "comment", "template": "Thanks!", "priority": 3,
        }),
    )
    .await;
    let id = c["id"].as_str().expect("id");

    // Act
    let (status, updated) = send_json(
        app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{id}"))
            .json(&json!({"priority": 9, "enabled": false})),
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["priority"], 9);
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["trigger"], "issues.opened");
    assert_eq!(updated["action"], "comment");
    assert_eq!(updated["template"], "Thanks!");
    let (_, list) = app.get_json("/api/webhooks/gh/commands").await;
    assert_eq!(list["commands"][0]["priority"], 9);
    assert_eq!(list["commands"][0]["template"], "Thanks!");
}

#[tokio::test]
async fn in_an_update_null_keeps_a_field_empty_removes_it_and_a_required_one_is_refused() {
    // Arrange
    let app = app_with_webhook().await;
    let (_, c) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning",
               "template": "Look at {{ issue.title }}", "conditions": {"labels": ["bug"]}}),
    )
    .await;
    let id = c["id"].as_str().expect("id");
    let put = |body: Value| {
        send_json(
            app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{id}"))
                .json(&body),
        )
    };

    // Act
    let (kept_status, kept) =
        put(json!({"conditions": null, "template": null, "priority": 2})).await;
    let (status, cleared) = put(json!({"conditions": {}, "template": ""})).await;
    let (agentless, refused) = put(json!({"agent": ""})).await;

    // Assert: null keeps (models send every optional field as null); empty removes; a
    // create_task cannot lose its agent.
    assert_eq!(kept_status, StatusCode::OK, "{kept}");
    assert_eq!(kept["conditions"], json!({"labels": ["bug"]}));
    assert_eq!(kept["template"], "Look at {{ issue.title }}");
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["conditions"], json!({}));
    assert_eq!(cleared["template"], Value::Null);
    assert_eq!(cleared["agent"], "planning");
    assert_eq!(agentless, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["field"], "agent", "{refused}");
}

#[tokio::test]
async fn a_channel_message_that_could_never_be_sent_is_refused_when_saved() {
    // Arrange
    let app = app_with_webhook().await;
    let message = |target: Value| {
        json!({"trigger": "issues.opened", "action": "post_message", "template": "New issue",
               "target": target})
    };
    let telegram = "https://api.telegram.org/bot1:A/sendMessage";
    let cases = [
        (
            message(json!({"url": "https://tg.example.com/send", "kind": "telegram"})),
            "target.chat_id",
        ),
        // The kind guessed from a Telegram URL, and a blank chat.
        (message(json!({"url": telegram})), "target.chat_id"),
        (
            message(json!({"url": telegram, "chat_id": " "})),
            "target.chat_id",
        ),
        // Only a forward is signed.
        (
            message(json!({"url": "https://hooks.slack.com/services/T0/B0/x",
                           "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})),
            "target.secret",
        ),
    ];

    for (body, field) in cases {
        // Act
        let answer = add(&app, body.clone()).await;

        // Assert
        assert_error(&answer, StatusCode::BAD_REQUEST, Some(field));
    }
    let (_, list) = app.get_json("/api/webhooks/gh/commands").await;
    assert_eq!(list["commands"], json!([]), "nothing was stored");

    // The same when an update makes them.
    let (status, c) = add(&app, message(json!({"url": telegram, "chat_id": -100123}))).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let id = c["id"].as_str().expect("id");
    let put = |body: Value| {
        send_json(
            app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{id}"))
                .json(&body),
        )
    };
    let no_chat = put(json!({"target": {"url": telegram}})).await;
    let signed = put(json!({"target": {"url": telegram, "chat_id": -100123,
                                       "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}))
    .await;
    assert_error(&no_chat, StatusCode::BAD_REQUEST, Some("target.chat_id"));
    assert_error(&signed, StatusCode::BAD_REQUEST, Some("target.secret"));

    // And when only the action changes: a signed forward made a post_message (which takes
    // its whole target again, a message's URL being shown by another rule).
    let (status, f) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": "https://hooks.slack.com/services/T0/B0/x",
                          "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{f}");
    let forward_id = f["id"].as_str().expect("id");
    let turned = send_json(
        app.api(
            Method::PUT,
            &format!("/api/webhooks/gh/commands/{forward_id}"),
        )
        .json(&json!({"action": "post_message", "template": "New issue"})),
    )
    .await;
    assert_error(&turned, StatusCode::BAD_REQUEST, Some("target"));
}

#[tokio::test]
async fn a_forward_turned_into_a_comment_leaves_its_target_behind() {
    // Arrange
    let app = app_with_webhook().await;
    let (_, c) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": "https://sink.example.com/in"}}),
    )
    .await;
    let id = c["id"].as_str().expect("id");
    let put = |body: Value| {
        send_json(
            app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{id}"))
                .json(&body),
        )
    };

    // Act: a new target with it is still refused, naming the target.
    let with_target = put(json!({"action": "comment", "template": "hi",
                                 "target": {"url": "https://sink.example.com/in"}}))
    .await;
    let (status, comment) = put(json!({"action": "comment", "template": "hi"})).await;

    // Assert
    assert_error(&with_target, StatusCode::BAD_REQUEST, Some("target"));
    assert_eq!(status, StatusCode::OK, "{comment}");
    assert_eq!(comment["action"], "comment");
    assert_eq!(comment["target"], Value::Null, "{comment}");
}

#[tokio::test]
async fn a_target_given_as_its_url_alone_is_that_url() {
    // Arrange
    let app = app_with_webhook().await;

    // Act
    let (status, added) = add(
        &app,
        json!({"trigger": "issues.closed", "action": "forward",
               "target": "https://sink.example.com/in"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let id = added["id"].as_str().expect("id");
    let (status, changed) = put_command(
        &app,
        id,
        json!({"target": "https://sink.example.com/other"}),
    )
    .await;

    // Assert
    assert_eq!(
        added["target"],
        json!({"url": "https://sink.example.com/in"})
    );
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        changed["target"],
        json!({"url": "https://sink.example.com/other"})
    );
}

#[tokio::test]
async fn deleting_a_command_answers_204_and_removes_it() {
    // Arrange
    let app = app_with_webhook().await;
    let (_, c) = add(
        &app,
        json!({"trigger": "push", "action": "comment", "template": "x"}),
    )
    .await;
    let id = c["id"].as_str().expect("id");

    // Act
    let deleted = app
        .api(Method::DELETE, &format!("/api/webhooks/gh/commands/{id}"))
        .send()
        .await
        .expect("DELETE");
    let again =
        send_json(app.api(Method::DELETE, &format!("/api/webhooks/gh/commands/{id}"))).await;

    // Assert
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_error(&again, StatusCode::NOT_FOUND, None);
    let (_, list) = app.get_json("/api/webhooks/gh/commands").await;
    assert_eq!(list["commands"], json!([]));
}

#[tokio::test]
async fn bad_commands_are_refused_with_400_naming_the_field() {
    // Arrange
    let app = app_with_webhook().await;
    let cases = [
        (
            json!({"trigger": "", "action": "comment", "template": "x"}),
            "trigger",
        ),
        (
            json!({"trigger": "issues..opened", "action": "comment", "template": "x"}),
            "trigger",
        ),
        (
            json!({"trigger": "issues.opened", "action": "explode", "template": "x"}),
            "action",
        ),
        (
            json!({"trigger": "issues.opened", "action": "create_task", "template": "x"}),
            "agent",
        ),
        (
            json!({"trigger": "issues.opened", "action": "comment", "template": "{{ issue.title "}),
            "template",
        ),
        (
            json!({"trigger": "issues.opened", "action": "comment", "template": "x", "conditions": {"lables": ["bug"]}}),
            "conditions.lables",
        ),
        (json!({"action": "comment", "template": "x"}), "trigger"),
        (
            json!({"trigger": "issues.opened", "action": "comment", "template": "x", "colour": 1}),
            "colour",
        ),
        // Lists where objects belong, which serde would read by position.
        (
            json!({"trigger": "issues.opened", "action": "forward",
                   "target": ["https://example.com/y", "TOPSECRET-fwd"]}),
            "target",
        ),
        (
            json!({"trigger": "issues.opened", "action": "comment", "template": "x",
                   "conditions": {"not": [["bug"]]}}),
            "conditions.not",
        ),
        // The mask a listing shows, with no stored secret behind it.
        (
            json!({"trigger": "issues.opened", "action": "forward",
                   "target": {"url": "https://example.com/in", "secret": "********"}}),
            "target.secret",
        ),
        // Secrets a Standard Webhooks library cannot load, or an empty key.
        (
            json!({"trigger": "issues.opened", "action": "forward",
                   "target": {"url": "https://example.com/in", "secret": "whsec_"}}),
            "target.secret",
        ),
        (
            json!({"trigger": "issues.opened", "action": "forward",
                   "target": {"url": "https://example.com/in", "secret": "not base64!"}}),
            "target.secret",
        ),
        // A tag's end inside a string does not hide the chain after it.
        (
            json!({"trigger": "issues.opened", "action": "comment",
                   "template": format!("{{{{ \"}}}}\" ~ {}1 }}}}", "-".repeat(3000))}),
            "template",
        ),
    ];

    for (body, field) in cases {
        // Act
        let answer = add(&app, body.clone()).await;

        // Assert
        assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{body}: {}", answer.1);
        assert_error(&answer, StatusCode::BAD_REQUEST, Some(field));
    }
    let (_, list) = app.get_json("/api/webhooks/gh/commands").await;
    assert_eq!(list["commands"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn a_forward_signing_key_short_enough_to_guess_is_saved_with_a_warning() {
    // Arrange
    let app = app_with_webhook().await;
    let forward = |secret: &str| {
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": "http://127.0.0.1:9/in", "secret": secret}})
    };

    // Act: keys a Standard Webhooks library loads, with their length once decoded (without
    // `whsec_` or padding too, as those libraries take them).
    let cases = [
        ("abc", 2),
        ("whsec_AA==", 1),
        ("QQ", 1),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 24),
    ];
    let mut answers = Vec::new();
    for (secret, bytes) in cases {
        answers.push((secret, bytes, add(&app, forward(secret)).await));
    }

    // Assert: all saved; the short ones say how short, the long one says nothing of it.
    for (secret, bytes, (status, command)) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{secret}: {command}");
        let warned = command["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|w| w.starts_with("target.secret"));
        if *bytes >= 16 {
            assert_eq!(warned, None, "{secret}: {command}");
        } else {
            let warned = warned.unwrap_or_else(|| panic!("no warning for {secret}: {command}"));
            assert!(
                warned.contains(&format!("only {bytes} byte(s)")),
                "{warned}"
            );
            assert!(warned.contains("at least 16 random bytes"), "{warned}");
        }
    }
}

#[tokio::test]
async fn an_update_that_breaks_the_command_is_refused_and_changes_nothing() {
    // Arrange
    let app = app_with_webhook().await;
    let (_, c) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "comment", "template": "Hi"}),
    )
    .await;
    let id = c["id"].as_str().expect("id");

    // Act
    let answer = send_json(
        app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{id}"))
            .json(&json!({"action": "create_task"})),
    )
    .await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST, Some("agent"));
    let (_, list) = app.get_json("/api/webhooks/gh/commands").await;
    assert_eq!(list["commands"][0]["action"], "comment");
}

#[tokio::test]
async fn a_command_an_older_build_saved_that_no_longer_compiles_is_shown_so_and_can_be_disabled() {
    // Arrange: a template that includes another, which builds since 2026-12-05 refuse.
    let app = app_with_webhook().await;
    let (_, c) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "comment", "template": "Hi"}),
    )
    .await;
    let id = c["id"].as_str().expect("id").to_string();
    rusqlite::Connection::open(&app.db_path)
        .expect("open the database")
        .execute(
            "UPDATE commands SET template = '{% include \"x\" %} hi' WHERE id = ?1",
            [&id],
        )
        .expect("an older build's template");

    // Act
    let (_, listed) = app.get_json("/api/webhooks/gh/commands").await;
    let reordered = put_command(&app, &id, json!({"priority": 3})).await;
    let broken_again = put_command(&app, &id, json!({"template": "{% include \"y\" %}"})).await;
    let disabled = put_command(&app, &id, json!({"enabled": false})).await;
    let (_, relisted) = app.get_json("/api/webhooks/gh/commands").await;

    // Assert: said on the listing; an update that leaves the template alone is taken, one
    // that writes another such template is not.
    let warnings = listed["commands"][0]["warnings"].to_string();
    assert!(warnings.contains("does not run"), "{listed}");
    assert!(warnings.contains("include"), "{listed}");
    assert_eq!(reordered.0, StatusCode::OK, "{}", reordered.1);
    assert_error(&broken_again, StatusCode::BAD_REQUEST, Some("template"));
    assert_eq!(disabled.0, StatusCode::OK, "{}", disabled.1);
    assert_eq!(relisted["commands"][0]["enabled"], false, "{relisted}");
    assert!(
        relisted["commands"][0].get("warnings").is_none(),
        "{relisted}"
    );
}

#[tokio::test]
async fn a_forward_url_given_without_its_credentials_is_saved_without_them() {
    // Arrange: a forward whose URL carries a password and a token that leaked.
    let app = app_with_webhook().await;
    let ids = add_targets(
        &app,
        &[(
            "forward",
            "https://u:leakedpw0123@sink.example.com/f?token=leakedtok0123",
        )],
    )
    .await;

    // Act: the same URL with both taken out.
    let mended = put_command(
        &app,
        &ids[0],
        json!({"target": {"url": "https://sink.example.com/f"}}),
    )
    .await;

    // Assert
    assert_eq!(mended.0, StatusCode::OK, "{}", mended.1);
    assert_eq!(
        mended.1["target"]["url"], "https://sink.example.com/f",
        "{}",
        mended.1
    );
    let stored = crate::helpers::text_cells(&app.db_path);
    assert!(
        !stored.iter().any(|(_, cell)| cell.contains("leakedpw0123")),
        "the password is still stored"
    );
}

#[tokio::test]
async fn an_empty_signing_secret_means_unsigned_on_any_forward() {
    // Arrange
    let app = app_with_webhook().await;

    // Act: as the refusal of a new URL without a secret says to send unsigned.
    let added = add(
        &app,
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": "https://sink.example.com/f", "secret": ""}}),
    )
    .await;
    let id = added.1["id"].as_str().unwrap_or_default().to_string();
    let updated = put_command(
        &app,
        &id,
        json!({"target": {"url": "https://sink.example.com/g", "secret": ""}}),
    )
    .await;

    // Assert
    assert_eq!(added.0, StatusCode::CREATED, "{}", added.1);
    assert_eq!(updated.0, StatusCode::OK, "{}", updated.1);
    assert!(updated.1["target"].get("secret").is_none(), "{}", updated.1);
}

#[tokio::test]
async fn commands_of_an_unknown_webhook_are_404() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let listed = app.get_json("/api/webhooks/nope/commands").await;
    let added = send_json(
        app.api(Method::POST, "/api/webhooks/nope/commands")
            .json(&json!({"trigger": "push", "action": "comment", "template": "x"})),
    )
    .await;

    // Assert
    assert_error(&listed, StatusCode::NOT_FOUND, None);
    assert_error(&added, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn deleting_a_webhook_removes_its_commands() {
    // Arrange
    let app = app_with_webhook().await;
    add(
        &app,
        json!({"trigger": "push", "action": "comment", "template": "x"}),
    )
    .await;
    app.api(Method::DELETE, "/api/webhooks/gh")
        .send()
        .await
        .expect("DELETE webhook");

    // Act
    app.create_webhook(json!({"id": "gh", "name": "Again", "provider": "github"}))
        .await;
    let (status, list) = app.get_json("/api/webhooks/gh/commands").await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["commands"], json!([]), "old commands came back");
}

#[tokio::test]
async fn a_command_added_while_its_webhook_is_deleted_is_a_404_never_a_500() {
    // Arrange
    let app = app_with_webhook().await;
    // Each its own priority: the same command twice would be refused as a retry.
    let body = |n: i64| {
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning",
               "priority": n})
    };

    // Act: adds race the delete; some load the webhook before it goes and insert after.
    let mut adds = tokio::task::JoinSet::new();
    let mut delete = None;
    for n in 0..48 {
        let request = app
            .api(Method::POST, "/api/webhooks/gh/commands")
            .json(&body(n));
        adds.spawn(send_json(request));
        if n == 24 {
            delete = Some(tokio::spawn(send_json(
                app.api(Method::DELETE, "/api/webhooks/gh"),
            )));
        }
    }
    let answers = adds.join_all().await;
    let (deleted, _) = delete.expect("spawned").await.expect("delete");

    // Assert: each add either landed before the delete or was told the webhook is gone.
    assert_eq!(deleted, StatusCode::NO_CONTENT);
    for (status, answer) in answers {
        match status {
            StatusCode::CREATED => {}
            StatusCode::NOT_FOUND => assert_eq!(answer["error"]["code"], "webhook_not_found"),
            other => panic!("{other}: {answer}"),
        }
    }
}

#[tokio::test]
async fn a_forwards_target_rewritten_without_its_secret_keeps_signing_or_is_refused() {
    // Arrange: a signed forward.
    let app = app_with_webhook().await;
    let (_, forward) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": "https://ci.example.com/in", "secret": "whsec_a2VlcG1lc2VjcmV0"}}),
    )
    .await;
    let path = format!(
        "/api/webhooks/gh/commands/{}",
        forward["id"].as_str().expect("id")
    );
    let put = |target: Value| {
        send_json(
            app.api(Method::PUT, &path)
                .json(&json!({ "target": target })),
        )
    };
    let stored = || {
        let db = rusqlite::Connection::open(&app.db_path).expect("open db");
        db.query_row("SELECT target FROM commands", [], |r| r.get::<_, String>(0))
            .map(|t| serde_json::from_str::<Value>(&t).expect("json"))
            .expect("stored")
    };

    // Act + Assert: the same URL without a secret (a model rewriting the target) keeps it.
    let (status, body) = put(json!({"url": "https://ci.example.com/in", "secret": null})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["target"]["secret"], "********", "{body}");
    assert_eq!(stored()["secret"], "whsec_a2VlcG1lc2VjcmV0");
    // A new URL without one is refused, not sent unsigned from then on.
    let moved = put(json!({"url": "https://ci2.example.com/in"})).await;
    crate::helpers::assert_error(&moved, StatusCode::BAD_REQUEST, Some("target.secret"));
    assert_eq!(stored()["url"], "https://ci.example.com/in");
    // `""` stops signing.
    let (status, body) = put(json!({"url": "https://ci2.example.com/in", "secret": ""})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stored(), json!({"url": "https://ci2.example.com/in"}));
}

#[tokio::test]
async fn channel_urls_and_signing_secrets_are_shown_masked_and_survive_being_written_back() {
    // Arrange: a Slack channel message (its URL is the credential) and a signed forward.
    let app = app_with_webhook().await;
    let hook = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX";
    let (_, message) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "post_message", "template": "New issue",
               "target": {"url": hook}}),
    )
    .await;
    // A forward's URL keeps its path and query readable, but not its password or token.
    let sink = "https://user:hunter2@sink.example.com/in?token=abc123&x=1";
    let (_, forward) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": sink, "secret": "whsec_a2VlcG1lc2VjcmV0"}}),
    )
    .await;

    // Act: each written back as shown (a model's read-modify-write), one field changed.
    let mut updated = Vec::new();
    for command in [&message, &forward] {
        let id = command["id"].as_str().expect("id");
        let mut target = command["target"].clone();
        target["kind"] = json!("slack");
        updated.push(
            send_json(
                app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{id}"))
                    .json(&json!({"target": target})),
            )
            .await,
        );
    }
    // The masked secret does not follow the forward to another host.
    let forward_id = forward["id"].as_str().expect("id");
    let moved = send_json(
        app.api(
            Method::PUT,
            &format!("/api/webhooks/gh/commands/{forward_id}"),
        )
        .json(
            &json!({"target": {"url": "https://elsewhere.example.net/in",
                                     "secret": "********"}}),
        ),
    )
    .await;
    let (_, listed) = app.get_json("/api/webhooks/gh/commands").await;
    let (_, audit) = app.get_json("/api/audit").await;

    // Assert: nothing shown or audited holds the secrets; the stored ones are intact.
    assert_eq!(
        message["target"]["url"],
        "https://hooks.slack.com/services/T000/B000/***"
    );
    assert_eq!(forward["target"]["secret"], "********");
    assert_eq!(
        forward["target"]["url"],
        "https://user:***@sink.example.com/in?token=***&x=1"
    );
    crate::helpers::assert_error(&moved, StatusCode::BAD_REQUEST, Some("target.secret"));
    for (status, body) in &updated {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    for shown in [&listed, &audit] {
        let text = shown.to_string();
        assert!(
            !text.contains("XXXXSECRET")
                && !text.contains("whsec_a2VlcG1lc2VjcmV0")
                && !text.contains("hunter2")
                && !text.contains("abc123"),
            "{text}"
        );
    }
    let db = rusqlite::Connection::open(&app.db_path).expect("open db");
    let targets: Vec<String> = db
        .prepare("SELECT target FROM commands ORDER BY created_at")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let stored: Vec<Value> = targets
        .iter()
        .map(|t| serde_json::from_str(t).expect("json"))
        .collect();
    assert_eq!(stored[0]["url"], hook, "{stored:?}");
    assert_eq!(stored[0]["kind"], "slack");
    assert_eq!(stored[1]["secret"], "whsec_a2VlcG1lc2VjcmV0", "{stored:?}");
    assert_eq!(stored[1]["url"], sink, "{stored:?}");

    // Act: the shown URL edited (a query value changed) keeps its hidden credentials; the
    // shown URL given to a new command is refused (it could only fail).
    let (status, edited) = send_json(
        app.api(
            Method::PUT,
            &format!("/api/webhooks/gh/commands/{forward_id}"),
        )
        .json(
            &json!({"target": {"url": "https://user:***@sink.example.com/in?token=***&x=2",
                                 "secret": "whsec_a2VlcG1lc2VjcmV0"}}),
        ),
    )
    .await;
    let copied = add(
        &app,
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": "https://user:***@sink.example.com/in?token=***&x=1"}}),
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{edited}");
    let url: String = db
        .query_row(
            "SELECT json_extract(target, '$.url') FROM commands WHERE id = ?1",
            [forward_id],
            |r| r.get(0),
        )
        .expect("stored");
    assert_eq!(
        url,
        "https://user:hunter2@sink.example.com/in?token=abc123&x=2"
    );
    crate::helpers::assert_error(&copied, StatusCode::BAD_REQUEST, Some("target.url"));
}

#[tokio::test]
async fn a_command_under_the_wrong_webhooks_path_is_not_found_there_and_mcp_says_where_it_is() {
    // Arrange
    let app = app_with_webhook().await;
    app.create_webhook(json!({"id": "other", "name": "Other", "provider": "github"}))
        .await;
    let (_, command) = add(
        &app,
        json!({"trigger": "issues", "action": "comment", "template": "Hi"}),
    )
    .await;
    let id = command["id"].as_str().expect("id").to_string();
    let at = |webhook: &str, command: &str| format!("/api/webhooks/{webhook}/commands/{command}");

    // Act
    let read_on_other = app.get_json(&at("other", &id)).await;
    let on_other = send_json(
        app.api(Method::PUT, &at("other", &id))
            .json(&json!({"priority": 2})),
    )
    .await;
    let deleted_on_other = send_json(app.api(Method::DELETE, &at("other", &id))).await;
    let no_webhook = send_json(app.api(Method::DELETE, &at("nope", &id))).await;
    let no_command = send_json(app.api(Method::DELETE, &at("gh", "cmd_nope"))).await;
    // MCP's tools take webhook_id as an argument of its own: they say which to give.
    let client = crate::mcp::connect(&app).await;
    let removed_on_other = crate::mcp::call(
        &client,
        "remove_command",
        json!({"webhook_id": "other", "command_id": id}),
    )
    .await;
    client.cancel().await.ok();

    // Assert: over REST, as GET answers the same path.
    for answer in [&read_on_other, &on_other, &deleted_on_other, &no_command] {
        assert_error(answer, StatusCode::NOT_FOUND, None);
        assert_eq!(
            answer.1["error"]["code"], "command_not_found",
            "{}",
            answer.1
        );
    }
    assert_error(&no_webhook, StatusCode::NOT_FOUND, None);
    let message = no_webhook.1["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("webhook `nope`"), "{message}");
    assert_eq!(removed_on_other.is_error, Some(true));
    let said = crate::mcp::text(&removed_on_other);
    assert!(said.contains("give webhook_id `gh`"), "{said}");
    let (_, listed) = app.get_json("/api/webhooks/gh/commands").await;
    assert_eq!(
        listed["commands"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    assert_eq!(
        listed["commands"][0]["priority"], command["priority"],
        "{listed}"
    );
}

#[tokio::test]
async fn a_space_in_a_trigger_is_a_typo_except_in_a_custom_senders_or_a_dispatchs_event_types() {
    // Arrange
    let app = app_with_webhook().await;
    app.create_webhook(json!({"id": "cu", "name": "cu", "provider": "custom"}))
        .await;
    let command =
        |trigger: &str| json!({"trigger": trigger, "action": "create_task", "agent": "planning"});

    // Act
    let typo = add(&app, command("issues opened")).await;
    let header_type = send_json(
        app.api(Method::POST, "/api/webhooks/cu/commands")
            .json(&command("Issue Hook")),
    )
    .await;
    // GitHub's repository_dispatch action is the event_type its sender chose.
    let dispatched = add(&app, command("repository_dispatch.run tests")).await;

    // Assert
    assert_error(&typo, StatusCode::BAD_REQUEST, Some("trigger"));
    assert_eq!(header_type.0, StatusCode::CREATED, "{}", header_type.1);
    assert_eq!(dispatched.0, StatusCode::CREATED, "{}", dispatched.1);
}

#[tokio::test]
async fn a_number_is_an_author_id_and_other_shapes_are_refused_naming_the_key() {
    // Arrange: GitLab names an item's author by its numeric `author_id`.
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "gl", "name": "gl", "provider": "gitlab"}))
        .await;
    let with_conditions = |conditions: Value| {
        let body = json!({"trigger": "issue.open", "action": "comment", "template": "x",
                          "conditions": conditions});
        let app = &app;
        async move {
            send_json(
                app.api(Method::POST, "/api/webhooks/gl/commands")
                    .json(&body),
            )
            .await
        }
    };

    // Act
    let by_id = with_conditions(json!({"author": 7})).await;
    let by_ids = with_conditions(json!({"author": [7, "root"], "sender": 1})).await;
    let by_flag = with_conditions(json!({"author": true})).await;

    // Assert
    assert_eq!(by_id.0, StatusCode::CREATED, "{}", by_id.1);
    assert_eq!(by_id.1["conditions"], json!({"author": 7}));
    assert_eq!(by_ids.0, StatusCode::CREATED, "{}", by_ids.1);
    assert_error(&by_flag, StatusCode::BAD_REQUEST, Some("conditions.author"));
    let message = by_flag.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`author`") && message.contains("a string, a number or a list"),
        "{message}"
    );
}

#[tokio::test]
async fn a_gitlab_header_label_as_trigger_is_refused_naming_the_trigger_it_means() {
    // Arrange
    let app = spawn_app().await;
    app.create_webhook(json!({"id": "gl", "name": "gl", "provider": "gitlab"}))
        .await;
    let add_to_gitlab = |trigger: &str| {
        let body = json!({"trigger": trigger, "action": "comment", "template": "x"});
        let app = &app;
        async move {
            send_json(
                app.api(Method::POST, "/api/webhooks/gl/commands")
                    .json(&body),
            )
            .await
        }
    };

    // Act
    let note_hook = add_to_gitlab("Note Hook").await;
    let spaced = add_to_gitlab("merge_request open").await;

    // Assert: GitLab's own names, never another provider's, and the trigger meant.
    for (answer, meant) in [
        (&note_hook, "use the trigger `note`"),
        (&spaced, "did you mean `merge_request.open`?"),
    ] {
        assert_error(answer, StatusCode::BAD_REQUEST, Some("trigger"));
        let message = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(meant), "{message}");
        assert!(message.contains("`issue.open`"), "{message}");
        assert!(!message.contains("issues.opened"), "{message}");
        assert!(!message.contains("message.channels"), "{message}");
    }
}

#[tokio::test]
async fn a_reply_command_with_no_token_to_send_it_is_saved_with_a_warning_naming_the_setting() {
    // Arrange: no GITHUB_TOKEN on the server; one webhook without a token of its own, one with;
    // an agent whose result is posted as a comment, and a Slack webhook (no SLACK_BOT_TOKEN).
    let app = spawn_app_with(|c| {
        c.agents.chat_url = Some("http://127.0.0.1:9/v1/chat/completions".into());
        c.agents.agents = Some(r#"[{"name": "planning", "result": "comment"}]"#.into());
    })
    .await;
    app.create_webhook(json!({"id": "gh", "name": "GitHub", "provider": "github"}))
        .await;
    app.create_webhook(json!({"id": "sl", "name": "Slack", "provider": "slack"}))
        .await;
    app.create_webhook(
        json!({"id": "own", "name": "Own token", "provider": "github",
                              "options": {"credentials": {"github_token": "ghp_own"}}}),
    )
    .await;
    let comment = json!({"trigger": "issues.opened", "action": "comment",
                         "template": "Thanks for {{ issue.title }}"});

    // Act
    let (status, tokenless) = add(&app, comment.clone()).await;
    let (_, forward) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "forward",
               "target": {"url": "https://example.com/in"}}),
    )
    .await;
    let (_, with_own) = send_json(
        app.api(Method::POST, "/api/webhooks/own/commands")
            .json(&comment),
    )
    .await;
    let (_, task) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning"}),
    )
    .await;
    let on_slack = |body: Value| {
        send_json(
            app.api(Method::POST, "/api/webhooks/sl/commands")
                .json(&body),
        )
    };
    let (_, slack_reply) = on_slack(json!({"trigger": "app_mention", "action": "comment",
                                           "template": "On it"}))
    .await;
    let (_, slash_respond) = on_slack(json!({"trigger": "/deploy", "action": "respond",
                                             "template": "Deploying"}))
    .await;
    let (_, mention_respond) = on_slack(json!({"trigger": "app_mention", "action": "respond",
                                               "template": "On it"}))
    .await;

    // Assert: saved, as the token can come later, but said now rather than by dead actions.
    assert_eq!(status, StatusCode::CREATED, "{tokenless}");
    let warnings = tokenless["warnings"].to_string();
    assert!(
        warnings.contains("GITHUB_TOKEN") && warnings.contains("every comment it makes fails"),
        "{tokenless}"
    );
    assert!(forward.get("warnings").is_none(), "{forward}");
    assert!(with_own.get("warnings").is_none(), "{with_own}");
    let task_warnings = task["warnings"].to_string();
    assert!(
        task_warnings.contains("every result comment it makes fails"),
        "{task}"
    );
    assert!(
        slack_reply["warnings"]
            .to_string()
            .contains("SLACK_BOT_TOKEN"),
        "{slack_reply}"
    );
    // A slash command is answered in the HTTP response: no token needed; a mention is answered
    // in its thread, with the token.
    assert!(slash_respond.get("warnings").is_none(), "{slash_respond}");
    assert!(
        mention_respond["warnings"]
            .to_string()
            .contains("SLACK_BOT_TOKEN"),
        "{mention_respond}"
    );
}

#[tokio::test]
async fn switching_between_forward_and_post_message_takes_the_whole_url_again() {
    // Arrange: a message to a URL whose last segment is its key (hidden by a message's rule,
    // not a forward's), and a forward to a Zapier silent hook; a read key.
    let app = app_with_webhook().await;
    let channel = "https://chat.example.com/hooks/abcsecretkeyhere";
    let silent = "https://hooks.zapier.com/hooks/catch/123456/zsil7ky/silent/";
    let ids = add_targets(&app, &[("post_message", channel), ("forward", silent)]).await;
    let (_, read) = crate::keys::create_key(&app, "dashboard", "read").await;

    // Act: each switched to the other action, with its target left as stored or given back
    // as shown; then once with the whole URL.
    let mut refused = Vec::new();
    for (id, body) in [
        (&ids[0], json!({"action": "forward"})),
        (
            &ids[0],
            json!({"action": "forward", "target": {"url": "https://chat.example.com/hooks/***?x=1"}}),
        ),
        (&ids[1], json!({"action": "post_message"})),
        (
            &ids[1],
            json!({"action": "post_message",
                   "target": {"url": "https://hooks.zapier.com/hooks/catch/123456/***/silent/"}}),
        ),
    ] {
        refused.push(put_command(&app, id, body).await);
    }
    let whole = put_command(
        &app,
        &ids[0],
        json!({"action": "forward", "target": {"url": "https://ci.example.com/in"}}),
    )
    .await;
    let (status, listed) = get_with(&app, &read, "/api/webhooks/gh/commands").await;

    // Assert: refused, naming the target; the whole URL is taken; no key is shown.
    for answer in &refused {
        assert_error(answer, StatusCode::BAD_REQUEST, None);
        let text = answer.1.to_string();
        assert!(text.contains("target"), "{text}");
        assert!(text.contains("whole"), "{text}");
    }
    assert_eq!(whole.0, StatusCode::OK, "{}", whole.1);
    assert_eq!(status, StatusCode::OK, "{listed}");
    let text = listed.to_string();
    for key in ["abcsecretkeyhere", "zsil7ky"] {
        assert!(!text.contains(key), "{key} in {text}");
    }
}

#[tokio::test]
async fn switching_between_forward_and_post_message_keeps_a_url_neither_hides_anything_of() {
    // Arrange: a URL with no key in its path and no query, shown whole by both rules.
    let app = app_with_webhook().await;
    let plain = "https://ci.example.com/in";
    let ids = add_targets(&app, &[("forward", plain)]).await;

    // Act: switched to a message and back, the target left as stored.
    let to_message = put_command(&app, &ids[0], json!({"action": "post_message"})).await;
    let back = put_command(&app, &ids[0], json!({"action": "forward"})).await;

    // Assert
    for (status, command) in [&to_message, &back] {
        assert_eq!(*status, StatusCode::OK, "{command}");
        assert_eq!(command["target"]["url"], plain, "{command}");
    }
    assert_eq!(to_message.1["action"], "post_message");
    assert_eq!(back.1["action"], "forward");
    // A forward with a signing secret has more than a URL to carry over: the URL is asked for.
    let (status, signed) = add(
        &app,
        json!({"trigger": "issues.closed", "action": "forward",
               "target": {"url": plain, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    let id = signed["id"].as_str().expect("id");
    let refused = put_command(&app, id, json!({"action": "post_message"})).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, Some("target"));
    assert!(refused.1.to_string().contains("whole"), "{}", refused.1);
}

#[tokio::test]
async fn an_edit_keeps_a_hidden_key_only_on_the_path_it_was_shown_on() {
    // Arrange: forwards to a Zapier catch hook and an Open WebUI channel webhook, whose keys
    // (short, not token-like) are hidden only because of where they stand, a message posted
    // to that channel (shown by the channel's rule, not the forward's); a read key.
    let app = app_with_webhook().await;
    let zapier = "https://hooks.zapier.com/hooks/catch/123456/abc1def/";
    let channel = "https://chat.example.com/api/v1/channels/webhooks/ch1/owuikey9";
    // A silent hook's key is not its last segment, and is hidden all the same.
    let silent = "https://hooks.zapier.com/hooks/catch/123456/zsil7ky/silent/";
    let ids = add_targets(
        &app,
        &[
            ("forward", zapier),
            ("forward", channel),
            ("post_message", channel),
            ("forward", silent),
        ],
    )
    .await;
    let (_, read) = crate::keys::create_key(&app, "dashboard", "read").await;

    // Act: each URL edited with its mask kept but its path changed — after Zapier's key (a
    // post_message's rule would hide the new last segment instead), out of
    // `/channels/webhooks/`, a `bot…:` segment that turns the channel rule off — and one
    // edited only in its query.
    let mut edits = Vec::new();
    for (id, url) in [
        (&ids[0], "https://hooks.zapier.com/hooks/catch/123456/***/x"),
        (
            &ids[1],
            "https://chat.example.com/api/v1/channels/hooks/ch1/***",
        ),
        (
            &ids[2],
            "https://chat.example.com/bot1:a/v1/channels/webhooks/ch1/***",
        ),
        (
            &ids[0],
            "https://hooks.zapier.com/hooks/catch/123456/***/?x=1",
        ),
    ] {
        edits.push(put_command(&app, id, json!({"target": {"url": url}})).await);
    }
    let (status, listed) = get_with(&app, &read, "/api/webhooks/gh/commands").await;
    let (audit_status, audit) = get_with(&app, &read, "/api/audit?limit=100").await;

    // Assert: every change of the path is refused, asking for the whole URL; the query's
    // edit keeps the key where it was, masked. A read key sees no key.
    assert_eq!(status, StatusCode::OK, "{listed}");
    for refused in &edits[..3] {
        assert_error(refused, StatusCode::BAD_REQUEST, Some("target.url"));
        assert!(refused.1.to_string().contains("whole URL"), "{}", refused.1);
    }
    let (kept_status, kept) = &edits[3];
    assert_eq!(*kept_status, StatusCode::OK, "{kept}");
    assert_eq!(
        kept["target"]["url"],
        "https://hooks.zapier.com/hooks/catch/123456/***/?x=1"
    );
    assert_eq!(audit_status, StatusCode::OK, "{audit}");
    for text in [listed.to_string(), audit.to_string()] {
        for key in ["abc1def", "owuikey9", "zsil7ky"] {
            assert!(!text.contains(key), "{key} in {text}");
        }
    }
}

#[tokio::test]
async fn an_open_webui_message_command_without_a_channel_id_is_saved_with_a_warning() {
    // Arrange: Open WebUI sends `message.created` for chat prompts and direct messages too.
    let app = spawn_app_with(with_reply_tokens).await;
    app.create_webhook(json!({"id": "owui", "name": "Open WebUI", "provider": "openwebui"}))
        .await;
    let add = |conditions: Value| {
        send_json(app.api(Method::POST, "/api/webhooks/owui/commands").json(
            &json!({"trigger": "message.created", "action": "create_task",
                              "agent": "triage", "template": "{{ data.content_preview }}",
                              "conditions": conditions}),
        ))
    };

    // Act
    let (_, anywhere) = add(json!({})).await;
    let (_, by_name) = add(json!({"channel": "ops"})).await;
    let (_, by_id) = add(json!({"channel": "682d8c62-f773-40ed-8da9-a8c0ac5b71e3"})).await;
    let (_, not_in) =
        add(json!({"not": {"channel": "682d8c62-f773-40ed-8da9-a8c0ac5b71e3"}})).await;
    let (_, for_chats) = add(json!({"field": "data.chat_id", "exists": true})).await;

    // Assert
    let said = |c: &Value| c["warnings"].to_string();
    assert!(
        said(&not_in).contains("every message in a chat"),
        "{not_in}"
    );
    assert!(!said(&for_chats).contains("message.created"), "{for_chats}");
    assert!(
        said(&anywhere).contains("every message in a chat"),
        "{anywhere}"
    );
    assert!(
        said(&by_name).contains("names its channel by id"),
        "{by_name}"
    );
    assert!(!said(&by_id).contains("message.created"), "{by_id}");
}

#[tokio::test]
async fn a_task_prompt_printing_what_a_sender_words_is_saved_with_a_warning() {
    // Arrange
    let app = app_with_webhook().await;

    // Act
    let (status, worded) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning",
               "template": "Triage this issue: {{ issue.title }}"}),
    )
    .await;
    let (_, numbered) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning",
               "template": "Triage issue #{{ issue.number }} of {{ repository.full_name }}"}),
    )
    .await;

    // Assert: the first puts the sender's words among the agent's instructions.
    assert_eq!(status, StatusCode::CREATED, "{worded}");
    let warned = worded["warnings"].to_string();
    assert!(
        warned.contains("`{{ issue.title }}` prints what the sender wrote"),
        "{worded}"
    );
    assert!(
        !numbered["warnings"]
            .to_string()
            .contains("prints what the sender wrote"),
        "{numbered}"
    );

    // An ask's question is the prompt of the task that waits for its answer: warned alike,
    // naming every such value; a comment's text is no one's instructions.
    let (status, asked) = add(
        &app,
        json!({"trigger": "issue_comment.created", "action": "ask", "agent": "planning",
               "template": "User asked: {{ comment.body }} on {{ issue.title }}"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{asked}");
    let warned = asked["warnings"].to_string();
    assert!(
        warned.contains("`{{ comment.body }}`, `{{ issue.title }}` print what the sender wrote into the question"),
        "{asked}"
    );
    let (_, commented) = add(
        &app,
        json!({"trigger": "issue_comment.created", "action": "comment",
               "template": "Thanks for: {{ comment.body }}"}),
    )
    .await;
    assert!(
        !commented["warnings"]
            .to_string()
            .contains("what the sender wrote"),
        "{commented}"
    );
}

#[tokio::test]
async fn a_trigger_too_long_is_refused_for_its_length_on_update_too() {
    // Arrange
    let app = app_with_webhook().await;
    let (_, command) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "comment", "template": "Hi"}),
    )
    .await;
    let id = command["id"].as_str().expect("command id");
    // A spaced trigger of thousands of characters (looking for what it may have meant took
    // minutes).
    let long = format!("{} b", "a_".repeat(2_000));

    // Act
    let (status, answer) = send_json(
        app.api(Method::PUT, &format!("/api/webhooks/gh/commands/{id}"))
            .json(&json!({ "trigger": long })),
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["field"], "trigger", "{answer}");
}

#[tokio::test]
async fn a_template_no_sample_renders_is_saved_with_a_warning_saying_whether_a_field_is_missing() {
    // Arrange
    let app = app_with_webhook().await;
    let with = |template: &str| json!({"trigger": "issues.opened", "action": "comment", "template": template});

    // Act: a misspelt field, and a loop no delivery's render gets through.
    let (status, misspelt) = add(&app, with("Thanks for {{ issue.titel }}")).await;
    let (_, looping) = add(&app, with("{% for i in range(100000000) %}x{% endfor %}")).await;

    // Assert: only the first may be the samples' fault.
    assert_eq!(status, StatusCode::CREATED, "{misspelt}");
    let said = misspelt["warnings"].to_string();
    assert!(said.contains("does not render with the sample"), "{said}");
    assert!(said.contains("may have fields the samples lack"), "{said}");
    let said = looping["warnings"].to_string();
    assert!(said.contains("does not render with the sample"), "{said}");
    assert!(said.contains("This is no missing field"), "{said}");
}

#[tokio::test]
async fn one_command_is_read_by_its_own_url_as_its_webhook_lists_it() {
    // Arrange: a command of gh, and another webhook.
    let app = app_with_webhook().await;
    app.create_webhook(json!({"id": "other", "name": "Other", "provider": "github"}))
        .await;
    let (_, added) = add(
        &app,
        json!({"trigger": "issues.opened", "action": "comment", "template": "Thanks"}),
    )
    .await;
    let id = added["id"].as_str().expect("command id");

    // Act
    let (status, one) = app
        .get_json(&format!("/api/webhooks/gh/commands/{id}"))
        .await;
    let (_, listed) = app.get_json("/api/webhooks/gh/commands").await;
    let elsewhere =
        send_json(app.api(Method::GET, &format!("/api/webhooks/other/commands/{id}"))).await;
    let missing = send_json(app.api(Method::GET, "/api/webhooks/gh/commands/cmd_nope")).await;

    // Assert: the same as its list shows; under another webhook it is not there.
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one, listed["commands"][0], "{listed}");
    assert_error(&elsewhere, StatusCode::NOT_FOUND, None);
    assert_eq!(elsewhere.1["error"]["code"], "command_not_found");
    assert_error(&missing, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn a_command_read_edited_and_put_back_whole_is_updated_unless_it_changed_since() {
    // Arrange: a forward whose target hides its key, read as listed.
    let app = app_with_webhook().await;
    let ids = add_targets(&app, &[("forward", "https://example.com/in?key=abc")]).await;
    let path = format!("/api/webhooks/gh/commands/{}", ids[0]);
    let (_, mut read) = app.get_json(&path).await;
    read["priority"] = json!(5);

    // Act
    let (status, updated) = put_command(&app, &ids[0], read.clone()).await;
    let stale = put_command(&app, &ids[0], read.clone()).await;
    let (_, mut fresh) = app.get_json(&path).await;
    fresh["webhook_id"] = json!("other");
    let moved = put_command(&app, &ids[0], fresh).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["priority"], 5);
    assert_eq!(
        updated["target"], read["target"],
        "the masked target is kept"
    );
    assert_error(&stale, StatusCode::CONFLICT, Some("updated_at"));
    assert_error(&moved, StatusCode::BAD_REQUEST, Some("webhook_id"));
    let (_, after) = app.get_json(&path).await;
    assert_eq!(after["updated_at"], updated["updated_at"]);
}

#[tokio::test]
async fn a_command_put_back_unchanged_keeps_its_version_so_another_editors_copy_stays_current() {
    // Arrange: a forward whose target hides its key, read by two editors.
    let app = app_with_webhook().await;
    let ids = add_targets(&app, &[("forward", "https://example.com/in?key=abc")]).await;
    let path = format!("/api/webhooks/gh/commands/{}", ids[0]);
    let (_, read) = app.get_json(&path).await;
    let mut other_editors = read.clone();
    other_editors["priority"] = json!(7);

    // Act: the first puts it back as read; the second then saves a change on its copy.
    let (unchanged, kept) = put_command(&app, &ids[0], read.clone()).await;
    let (changed, saved) = put_command(&app, &ids[0], other_editors).await;

    // Assert
    assert_eq!(unchanged, StatusCode::OK, "{kept}");
    assert_eq!(kept["updated_at"], read["updated_at"], "{kept}");
    assert_eq!(changed, StatusCode::OK, "{saved}");
    assert_eq!(saved["priority"], 7, "{saved}");
    assert_ne!(saved["updated_at"], read["updated_at"], "{saved}");
}
