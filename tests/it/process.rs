//! The real binary as an operator runs it: the environment it is started with and the
//! signals it is sent.

/// The binary with none of the developer's own settings, so that they cannot leak in.
fn webhook_mcp() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_webhook-mcp"));
    for (key, _) in std::env::vars() {
        if key.starts_with("WEBHOOK_MCP_") || key == "PUBLIC_BASE_URL" {
            command.env_remove(key);
        }
    }
    command
}

#[tokio::test]
async fn misspelt_settings_in_the_environment_are_warned_of_at_start_naming_the_one_meant() {
    // Arrange: a start refused soon for another reason, with misspelt settings beside it.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = webhook_mcp();
    command
        .arg("serve")
        .env("WEBHOOK_MCP_LISTEN", "127.0.0.1:0")
        .env("WEBHOOK_MCP_DATABASE", dir.path().join("app.db"))
        .env("WEBHOOK_MCP_LISTNE", "0.0.0.0:8086")
        .env("WEBHOOK_MCP_SECRETKEY", "value-never-shown-1")
        .env("WEBHOOK_MCP_SOMETHING_ELSE", "1")
        .env("GITHUB_TOKN", "value-never-shown-2")
        .env("PUBLIC_BASE_URL", "ftp://refused.example")
        .env("RUST_LOG", "warn");

    // Act
    let output = command.output().await.expect("run webhook-mcp");

    // Assert: each said once, the variable's value never.
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{said}");
    for line in [
        "WEBHOOK_MCP_LISTNE is no setting and is ignored; did you mean WEBHOOK_MCP_LISTEN?",
        "WEBHOOK_MCP_SECRETKEY is no setting and is ignored; did you mean \
         WEBHOOK_MCP_SECRET_KEY?",
        "GITHUB_TOKN is no setting and is ignored; did you mean GITHUB_TOKEN?",
        "WEBHOOK_MCP_SOMETHING_ELSE is no setting and is ignored (`webhook-mcp --help`",
    ] {
        assert_eq!(said.matches(line).count(), 1, "{line} in:\n{said}");
    }
    assert!(!said.contains("value-never-shown"), "{said}");
    assert!(!said.contains("WEBHOOK_MCP_LISTEN is no setting"), "{said}");
}
