//! Every setting, from flags and environment variables, with defaults that run locally.
//! Built once in `main` and passed down inside `AppState`; tests build one with `for_tests`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Settings of the server. Each one is a flag and an environment variable.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the HTTP listener (receiver, REST API, MCP) binds to.
    #[arg(long, env = "WEBHOOK_MCP_LISTEN", default_value = "127.0.0.1:8086")]
    pub listen: SocketAddr,

    /// SQLite database file; created with its folder on first start.
    #[arg(
        long,
        env = "WEBHOOK_MCP_DATABASE",
        default_value = "./data/webhook-mcp.db"
    )]
    pub database: PathBuf,

    /// Bearer key for /api and /mcp. Without one, a key is generated on first start,
    /// printed once, and only its hash is stored.
    #[arg(long, env = "WEBHOOK_MCP_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Base URL senders reach this server at, used in the receiver URLs shown to users.
    /// Defaults to `http://{listen}`.
    #[arg(long, env = "PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// Largest webhook body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "WEBHOOK_MCP_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// How long the previous secret keeps verifying after a rotation, in seconds,
    /// unless the rotation request says otherwise.
    #[arg(long, env = "WEBHOOK_MCP_ROTATION_GRACE_SECS", default_value_t = 24 * 3600)]
    pub rotation_grace_secs: i64,

    /// Log format on stderr: `text` for people, `json` for log collectors.
    #[arg(long, env = "WEBHOOK_MCP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Folder whose prompt files (`setup-webhook.md`, `instructions.md`, ...) replace the
    /// compiled-in ones.
    #[arg(long, env = "PROMPTS_DIR")]
    pub prompts_dir: Option<PathBuf>,

    /// Host names `/mcp` answers to (comma-separated), a guard against DNS rebinding. Unset:
    /// any host (the bearer key is the guard), which suits Open WebUI in Docker
    /// (`host.docker.internal`) and reverse proxies.
    #[arg(long, env = "WEBHOOK_MCP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub mcp_allowed_hosts: Vec<String>,

    /// Stateful MCP sessions (`Mcp-Session-Id`), needed only by clients that use the legacy
    /// `resources/subscribe` push; `subscriptions/listen` works without.
    #[arg(long, env = "WEBHOOK_MCP_SESSIONS", default_value_t = false)]
    pub mcp_sessions: bool,

    /// Serve /api and /mcp without an API key. Refused unless listening on loopback: for
    /// local development only.
    #[arg(long, env = "WEBHOOK_MCP_NO_AUTH", default_value_t = false)]
    pub no_auth: bool,

    /// Seconds to wait for requests in flight to finish on shutdown.
    #[arg(long, env = "WEBHOOK_MCP_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// The `/mcp` host allowlist, or None for any host.
    pub fn mcp_allowed_hosts(&self) -> Option<Vec<String>> {
        let hosts: Vec<String> = self
            .mcp_allowed_hosts
            .iter()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .collect();
        (!hosts.is_empty()).then_some(hosts)
    }

    /// A config for tests: loopback on a free port, the given database, a fixed API key.
    pub fn for_tests(database: PathBuf) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database,
            api_key: Some("test-api-key".into()),
            public_base_url: None,
            max_body_bytes: 1024 * 1024,
            rotation_grace_secs: 24 * 3600,
            log_format: LogFormat::Text,
            shutdown_grace_secs: 5,
            prompts_dir: None,
            mcp_allowed_hosts: Vec::new(),
            mcp_sessions: false,
            no_auth: false,
        }
    }
}
