//! The real binary as an operator runs it: the environment it is started with and the
//! signals it is sent.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

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

/// `serve` on a loopback port of its own, its log in a file.
struct Served {
    child: tokio::process::Child,
    base: String,
    log: PathBuf,
}

impl Served {
    async fn start(dir: &Path) -> Served {
        let log = dir.join("server.log");
        let child = webhook_mcp()
            .arg("serve")
            .env("WEBHOOK_MCP_LISTEN", "127.0.0.1:0")
            .env("WEBHOOK_MCP_DATABASE", dir.join("app.db"))
            .env("WEBHOOK_MCP_API_KEY", "process-test-api-key")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .kill_on_drop(true)
            .spawn()
            .expect("start webhook-mcp");
        let addr = crate::helpers::listening_addr(&log).await;
        Served {
            child,
            base: format!("http://{addr}"),
            log,
        }
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{name}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_sighup_is_logged_and_the_server_keeps_serving_until_a_sigterm_stops_it_cleanly() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let mut served = Served::start(dir.path()).await;

    // Act: a reload as `ExecReload=kill -HUP $MAINPID` or a logrotate postrotate sends it.
    served.signal("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still_running = served
        .child
        .try_wait()
        .expect("look at the child")
        .is_none();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let health = client
        .get(format!("{}/health", served.base))
        .send()
        .await
        .map(|r| r.status());
    if still_running {
        served.signal("TERM");
    }
    let stopped = tokio::time::timeout(Duration::from_secs(20), served.child.wait()).await;

    // Assert
    let log = served.log();
    assert!(still_running, "ended by SIGHUP:\n{log}");
    assert_eq!(health.ok(), Some(reqwest::StatusCode::OK), "{log}");
    assert!(
        log.contains("SIGHUP received and ignored: settings are read only at start"),
        "{log}"
    );
    let status = stopped.expect("stopped within 20 s").expect("wait");
    assert!(status.success(), "{status:?}:\n{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test]
async fn a_burst_of_rejected_requests_is_told_with_its_count_once_the_lines_time_is_up() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let served = Served::start(dir.path()).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let made = client
        .post(format!("{}/api/webhooks", served.base))
        .bearer_auth("process-test-api-key")
        .json(&serde_json::json!({"id": "gh", "name": "gh", "provider": "github", "secret": "s"}))
        .send()
        .await
        .expect("create a webhook");
    assert!(made.status().is_success(), "{:?}", made.status());

    // Act: three forgeries at once, then nothing more.
    for n in 0..3 {
        let forged = client
            .post(format!("{}/webhooks/github/gh", served.base))
            .header("X-GitHub-Event", "issues")
            .header("X-GitHub-Delivery", format!("forged-{n}"))
            .header("X-Hub-Signature-256", "sha256=00")
            .body("{}")
            .send()
            .await
            .expect("POST");
        assert_eq!(forged.status(), reqwest::StatusCode::UNAUTHORIZED);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let told = loop {
        let log = served.log();
        let told = log
            .lines()
            .find(|l| l.contains("rejected webhook requests since the last line"))
            .map(String::from);
        if told.is_some() || Instant::now() > deadline {
            break told;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Assert: the first at once; the two after it once the line's 10 s are up.
    let log = served.log();
    let first = log
        .lines()
        .find(|l| l.contains("rejected webhook request "))
        .unwrap_or_default();
    assert!(first.contains("rejected=1"), "{log}");
    let told = told.unwrap_or_else(|| panic!("the two after it never told:\n{log}"));
    assert!(
        told.contains("webhook=gh") && told.contains("rejected=2"),
        "{told}"
    );
}
