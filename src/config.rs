//! Every setting, from flags and environment variables, with defaults that run locally.
//! Built once in `main` and passed down inside `AppState`; tests build one with `for_tests`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Settings of the server. Each one is a flag and an environment variable.
// Every flag is `global`, so it also works after a subcommand: MCP client configs write
// `webhook-mcp stdio --database ...`.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the HTTP listener (receiver, REST API, MCP) binds to.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_LISTEN",
        default_value = "127.0.0.1:8086",
        value_parser = ip_and_port
    )]
    pub listen: SocketAddr,

    /// SQLite database file; created with its folder on first start.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_DATABASE",
        default_value = "./data/webhook-mcp.db"
    )]
    pub database: PathBuf,

    /// Bearer key for /api and /mcp. Without one, a key is generated on first start,
    /// printed once, and only its hash is stored.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,

    /// Base URL senders reach this server at, used in the receiver URLs shown to users.
    /// Defaults to `http://{listen}`.
    #[arg(long, global = true, env = "PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// Largest webhook body accepted, in bytes; larger ones get 413. At most 64 MiB.
    #[arg(long, global = true, env = "WEBHOOK_MCP_MAX_BODY_BYTES", default_value_t = 1024 * 1024,
        // 0 would refuse every delivery with 413; past the maximum, the bodies held in memory
        // at once (four of the largest) would have no bound worth the name.
        value_parser = between_one_and(MAX_BODY_BYTES))]
    pub max_body_bytes: usize,

    /// How long the previous secret keeps verifying after a rotation, in seconds,
    /// unless the rotation request says otherwise.
    #[arg(long, global = true, env = "WEBHOOK_MCP_ROTATION_GRACE_SECS", default_value_t = 24 * 3600,
        value_parser = clap::value_parser!(i64).range(0..=MAX_ROTATION_GRACE_SECS))]
    pub rotation_grace_secs: i64,

    /// Log format on stderr: `text` for people, `json` for log collectors.
    #[arg(long, global = true, env = "WEBHOOK_MCP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Folder whose prompt files (`setup-webhook.md`, `instructions.md`, ...) replace the
    /// compiled-in ones.
    #[arg(long, global = true, env = "PROMPTS_DIR")]
    pub prompts_dir: Option<PathBuf>,

    /// Folder of webhook configurations, each `*.json` file the body `POST /api/webhooks`
    /// takes, naming its webhook (`webhook_id` or `endpoint`): applied when `serve` starts, in
    /// name order, each created if its webhook does not exist and put (`PUT
    /// /api/webhooks/{id}`) if it does; a file that is refused stops the start.
    #[arg(long, global = true, env = "WEBHOOK_MCP_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,

    /// Host names `/mcp` answers to (comma-separated), a guard against DNS rebinding. Unset:
    /// any host (the bearer key is the guard), which suits Open WebUI in Docker
    /// (`host.docker.internal`) and reverse proxies.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub mcp_allowed_hosts: Vec<String>,

    /// Stateful MCP sessions (`Mcp-Session-Id`), needed only by clients that use the legacy
    /// `resources/subscribe` push; `subscriptions/listen` works without.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_SESSIONS",
        value_parser = yes_no,
        default_value_t = false,
        // Alone it means yes; `=false` says no (with `=` only, so that the word after the
        // flag stays a subcommand: `--mcp-sessions stdio`).
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub mcp_sessions: bool,

    /// How long an MCP session no request or open stream uses is kept. Not a setting: tests
    /// shorten it.
    #[arg(skip = crate::mcp::MCP_SESSION_IDLE_LIMIT)]
    pub mcp_session_idle_limit: std::time::Duration,

    /// MCP sessions (`--mcp-sessions`) one API key may hold open at once; past it an
    /// `initialize` is refused (`429`) until the key's client ends one (`DELETE /mcp`) or one
    /// ends for want of use.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_MAX_SESSIONS_PER_KEY",
        default_value_t = 100,
        // 0 would refuse every session.
        value_parser = at_least_one
    )]
    pub mcp_max_sessions_per_key: usize,

    /// MCP sessions open at once in all, whatever keys opened them (each holds about 100 KB);
    /// past it an `initialize` is refused (`503`).
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_MAX_SESSIONS",
        default_value_t = 1000,
        // 0 would refuse every session.
        value_parser = at_least_one
    )]
    pub mcp_max_sessions: usize,

    /// Serve /api and /mcp without an API key. Refused unless listening on loopback: for
    /// local development only.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_NO_AUTH",
        value_parser = yes_no,
        default_value_t = false,
        // Alone it means yes; `=false` says no (with `=` only, so that the word after the
        // flag stays a subcommand: `--no-auth stdio`).
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub no_auth: bool,

    /// Hosts (`host` or `host:port`) that outbound actions may reach even on private or
    /// loopback addresses, e.g. `open-webui:8080` in a compose network. Comma-separated.
    #[arg(
        long,
        global = true,
        env = "ALLOWED_TARGET_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_target_hosts: Vec<String>,

    /// When failed actions are tried again: delays after the 1st, 2nd, ... failure, ±20 %
    /// jitter; after the last one the action is dead-lettered. Units s, m, h, d.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_RETRY_SCHEDULE",
        value_delimiter = ',',
        default_value = "5s,5m,30m,2h,5h,10h,10h"
    )]
    pub retry_schedule: Vec<String>,

    /// Timeout of one outbound request (comment, message, forward), in seconds.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_OUTBOUND_TIMEOUT_SECS",
        default_value_t = 15
    ,
        // 0 would time out every request at once.
        value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS)
    )]
    pub outbound_timeout_secs: u64,

    /// How many actions are sent at the same time.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_OUTBOUND_CONCURRENCY",
        default_value_t = 8,
        // 0 would send nothing.
        value_parser = between_one_and(1024)
    )]
    pub outbound_concurrency: usize,

    /// Run the outbox worker (turn off to only receive and store). `stdio`: off unless given.
    #[arg(long, global = true, env = "WEBHOOK_MCP_WORKER",
        value_parser = yes_no, default_value_t = true, action = clap::ArgAction::Set)]
    pub worker: bool,

    #[command(flatten)]
    pub upstreams: Upstreams,

    #[command(flatten)]
    pub agents: AgentSettings,

    /// Key that encrypts webhook secrets and reply credentials at rest (32 bytes: 64 hex
    /// characters or base64). Unset: stored as given.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_SECRET_KEY",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,

    /// The secret Open WebUI signs the user token it forwards with (its
    /// `FORWARD_USER_INFO_HEADER_JWT_SECRET`). Set: only a valid `X-OpenWebUI-User-Jwt` names
    /// the chat user in the audit log; the plain `X-OpenWebUI-User-*` headers, which anyone
    /// holding the key could write, are ignored. Unset: those headers are recorded as the
    /// caller's unverified word.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_OPENWEBUI_USER_JWT_SECRET",
        hide_env_values = true
    )]
    pub openwebui_user_jwt_secret: Option<String>,

    /// The Open WebUI roles that may change things through an admin key (comma-separated,
    /// e.g. `admin`). Set: a request naming an Open WebUI user whose role is not one of them
    /// is served as with a read-only key, whatever key Open WebUI connects with; a request
    /// naming no user keeps its key's scope. Empty: roles cap nothing.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_OPENWEBUI_WRITE_ROLES",
        value_delimiter = ','
    )]
    pub openwebui_write_roles: Vec<String>,

    /// Keys the stored secrets were sealed with before `--secret-key` (comma-separated, same
    /// forms): values sealed with one are sealed again with `--secret-key` at start (stored
    /// plain when it is unset), after which they can be removed.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_PREVIOUS_SECRET_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub previous_secret_keys: Vec<String>,

    /// Requests per second one source address may send to the receiver (token bucket,
    /// burst = the same number); 0 turns the limit off.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_RATE_LIMIT_PER_IP",
        default_value_t = 0
    )]
    pub rate_limit_per_ip: u32,

    /// Rejected events (requests that failed verification) each webhook keeps: the oldest
    /// beyond it are deleted. Accepted events are kept unless `--event-retention-days` is set.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_REJECTED_KEEP",
        default_value_t = 1000,
        // 0 would keep no trace of a signing mismatch to debug.
        value_parser = at_least_one
    )]
    pub rejected_keep: usize,

    /// Days an event is kept after it was received, once the work it started has ended
    /// (its tasks and actions go with it); rejected events too. 0 (default): kept forever.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_EVENT_RETENTION_DAYS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u32).range(0..=MAX_RETENTION_DAYS)
    )]
    pub event_retention_days: u32,

    /// Days an audit log entry is kept: entries keep each change's arguments (a message's
    /// text, the Open WebUI user's name and email). 0 (default): kept forever.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_AUDIT_RETENTION_DAYS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u32).range(0..=MAX_RETENTION_DAYS)
    )]
    pub audit_retention_days: u32,

    /// Requests per second each webhook accepts unless its options set `rate_limit`; 0 = off.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_RATE_LIMIT_PER_WEBHOOK",
        default_value_t = 0
    )]
    pub rate_limit_per_webhook: u32,

    /// Proxies (addresses or CIDR ranges, comma-separated) whose `X-Forwarded-For` is believed
    /// for the client address. Empty (default): the TCP peer is the client.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,

    /// Webhook requests in flight at once; past it the receiver answers 503 with Retry-After
    /// (senders retry) instead of queueing without bound.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_MAX_IN_FLIGHT",
        default_value_t = 1024,
        // 0 would answer every delivery 503.
        value_parser = between_one_and(1_000_000)
    )]
    pub max_in_flight: usize,

    /// Seconds a request to the receiver or /api may take, slow clients included (408 after).
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_REQUEST_TIMEOUT_SECS",
        default_value_t = 30
    ,
        // 0 would time out every request at once.
        value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS)
    )]
    pub request_timeout_secs: u64,

    /// Seconds a client has to send a request's headers, from connecting or from the end of
    /// its previous response; a connection that stalls or idles longer is closed.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_HEADER_TIMEOUT_SECS",
        default_value_t = 10
    ,
        // 0 would time out every request at once.
        value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS)
    )]
    pub header_timeout_secs: u64,

    /// Connections open at once; past it new connections are closed at once, so a flood of
    /// idle ones cannot take every file descriptor.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_MAX_CONNECTIONS",
        default_value_t = 4096,
        // 0 would close every connection.
        value_parser = between_one_and(1_000_000)
    )]
    pub max_connections: usize,

    /// Adds `POST /bench/bare` (reads the body, answers 200) so the benchmark can measure the
    /// ceiling of this binary next to the full receive path.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_BENCH_ROUTES",
        value_parser = yes_no,
        default_value_t = false,
        hide = true
    )]
    pub bench_routes: bool,

    /// Seconds to wait on shutdown for requests in flight, action attempts under way and the
    /// agent step being taken to finish.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_SHUTDOWN_GRACE_SECS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(0..=MAX_TIMEOUT_SECS)
    )]
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
        // Read as the start check reads them (a scheme or path dropped), so that
        // `http://webhook-mcp` matches the host it names rather than nothing.
        let hosts: Vec<String> = self
            .mcp_allowed_hosts
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .map(|h| crate::actions::endpoints_check::mcp_host(h).unwrap_or_else(|| h.to_string()))
            .collect();
        (!hosts.is_empty()).then_some(hosts)
    }

    /// What is wrong with the receiver URLs shown to users when serving on `addr`, if
    /// anything: on every interface (`0.0.0.0`, `[::]`) without `PUBLIC_BASE_URL` they would
    /// name the wildcard address, which no sender can reach. A warning, not a refusal: the API
    /// and MCP work regardless.
    pub fn public_base_url_warning(&self, addr: SocketAddr) -> Option<String> {
        (self.public_base_url.is_none() && addr.ip().is_unspecified()).then(|| {
            format!(
                "listening on {addr} without PUBLIC_BASE_URL: receiver URLs will read \
                 http://{addr}/webhooks/..., which senders cannot reach; set PUBLIC_BASE_URL to \
                 the address they reach this server at (e.g. https://hooks.example.com)"
            )
        })
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
            config_dir: None,
            mcp_allowed_hosts: Vec::new(),
            mcp_sessions: false,
            mcp_session_idle_limit: crate::mcp::MCP_SESSION_IDLE_LIMIT,
            mcp_max_sessions_per_key: 100,
            mcp_max_sessions: 1000,
            no_auth: false,
            allowed_target_hosts: vec!["127.0.0.1".into(), "localhost".into()],
            retry_schedule: vec!["5s".into(), "5m".into(), "30m".into()],
            outbound_timeout_secs: 5,
            outbound_concurrency: 4,
            worker: true,
            upstreams: Upstreams::default(),
            agents: AgentSettings::default(),
            bench_routes: false,
            secret_key: None,
            previous_secret_keys: Vec::new(),
            openwebui_user_jwt_secret: None,
            openwebui_write_roles: Vec::new(),
            rate_limit_per_ip: 0,
            rate_limit_per_webhook: 0,
            rejected_keep: 1000,
            event_retention_days: 0,
            audit_retention_days: 0,
            trusted_proxies: Vec::new(),
            max_in_flight: 1024,
            request_timeout_secs: 30,
            header_timeout_secs: 10,
            max_connections: 4096,
        }
    }
}

/// The environment variables the settings are read from, as the flags above declare them:
/// the one list, so that a setting added there is known here with nothing more to do.
pub fn setting_variables() -> Vec<String> {
    Config::augment_args(clap::Command::new("webhook-mcp"))
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

/// How the names of this server's own settings begin.
const PREFIX: &str = "WEBHOOK_MCP_";

/// Warnings about the environment's variable names (never their values): each
/// `WEBHOOK_MCP_*` name that is no setting, which would otherwise be ignored without a word
/// (`WEBHOOK_MCP_SECRETKEY` leaves secrets stored plain), with the setting it was likely meant
/// as; and each other name one slip from a setting's (`GITHUB_TOKN`, `WEBHOOK_MPC_LISTEN`).
/// Other names are let be: an environment holds many variables that are none of ours.
pub fn unknown_variables(names: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<String> {
    let known = setting_variables();
    // Compared without the prefix they share (`LISTNE` with `LISTEN`), and with the names of
    // the settings that have none (`WEBHOOK_MCP_GITHUB_TOKEN` for `GITHUB_TOKEN`).
    let short: Vec<&str> = known
        .iter()
        .map(|k| k.strip_prefix(PREFIX).unwrap_or(k))
        .collect();
    let mut warnings = Vec::new();
    for name in names {
        let name = name.to_string_lossy();
        if known.iter().any(|k| *k == name) {
            continue;
        }
        let upper = name.to_ascii_uppercase();
        let ours = upper.starts_with(PREFIX);
        let meant = if known.contains(&upper) {
            // Names are case-sensitive: `webhook_mcp_listen` is not read.
            Some(upper.as_str())
        } else if let Some(rest) = upper.strip_prefix(PREFIX) {
            crate::providers::event_names::closest(rest, &short)
                .and_then(|s| short.iter().position(|k| *k == s))
                .map(|i| known[i].as_str())
        } else {
            // Only a slip as plain as one letter wrong, missing, extra or swapped, and in a
            // name long enough that another program's variable is not taken for one.
            known
                .iter()
                .find(|k| k.len() >= 8 && strsim::damerau_levenshtein(&upper, k) == 1)
                .map(String::as_str)
        };
        match meant {
            Some(meant) => warnings.push(format!(
                "the environment variable {name} is no setting and is ignored; did you mean \
                 {meant}?"
            )),
            None if ours => warnings.push(format!(
                "the environment variable {name} is no setting and is ignored (`webhook-mcp \
                 --help` lists the settings, each with its variable)"
            )),
            None => {}
        }
    }
    warnings.sort();
    warnings
}

/// Where connectors reach the sources, and the credentials they use. Per-webhook credentials
/// (a webhook's `options.credentials`) override these.
#[derive(Debug, Clone, Args)]
pub struct Upstreams {
    #[arg(
        long,
        global = true,
        env = "GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,
    #[arg(long, global = true, env = "GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,
    #[arg(
        long,
        global = true,
        env = "GITLAB_URL",
        default_value = "https://gitlab.com"
    )]
    pub gitlab_url: String,
    #[arg(long, global = true, env = "GITLAB_TOKEN", hide_env_values = true)]
    pub gitlab_token: Option<String>,
    /// e.g. `https://your-domain.atlassian.net`.
    #[arg(long, global = true, env = "JIRA_BASE_URL")]
    pub jira_base_url: Option<String>,
    #[arg(long, global = true, env = "JIRA_EMAIL")]
    pub jira_email: Option<String>,
    #[arg(long, global = true, env = "JIRA_API_TOKEN", hide_env_values = true)]
    pub jira_api_token: Option<String>,
    #[arg(
        long,
        global = true,
        env = "SLACK_API_URL",
        default_value = "https://slack.com/api"
    )]
    pub slack_api_url: String,
    #[arg(long, global = true, env = "SLACK_BOT_TOKEN", hide_env_values = true)]
    pub slack_bot_token: Option<String>,
    #[arg(
        long,
        global = true,
        env = "LINEAR_API_URL",
        default_value = "https://api.linear.app/graphql"
    )]
    pub linear_api_url: String,
    #[arg(long, global = true, env = "LINEAR_API_KEY", hide_env_values = true)]
    pub linear_api_key: Option<String>,
    #[arg(
        long,
        global = true,
        env = "TELEGRAM_API_URL",
        default_value = "https://api.telegram.org"
    )]
    pub telegram_api_url: String,
    #[arg(
        long,
        global = true,
        env = "TELEGRAM_BOT_TOKEN",
        hide_env_values = true
    )]
    pub telegram_bot_token: Option<String>,
}

impl Upstreams {
    /// The settings as meant: a blank one (`GITHUB_TOKEN=` from a compose file's
    /// `${GITHUB_TOKEN}`) is unset, and spaces around one are dropped. A token with a space,
    /// a line break or anything else but printable ASCII inside is refused, naming it: no
    /// request header or URL can carry it, so every reply would fail.
    pub fn given(mut self) -> Result<Self, String> {
        // A blank base URL is its default, as a blank token is no token.
        let defaults = Upstreams::default();
        for (url, default) in [
            (&mut self.github_api_url, defaults.github_api_url),
            (&mut self.gitlab_url, defaults.gitlab_url),
            (&mut self.slack_api_url, defaults.slack_api_url),
            (&mut self.linear_api_url, defaults.linear_api_url),
            (&mut self.telegram_api_url, defaults.telegram_api_url),
        ] {
            *url = match url.trim() {
                "" => default,
                given => given.to_string(),
            };
        }
        let fields: [(&str, &mut Option<String>, bool); 8] = [
            ("GITHUB_TOKEN", &mut self.github_token, true),
            ("GITLAB_TOKEN", &mut self.gitlab_token, true),
            ("JIRA_BASE_URL", &mut self.jira_base_url, false),
            ("JIRA_EMAIL", &mut self.jira_email, false),
            ("JIRA_API_TOKEN", &mut self.jira_api_token, true),
            ("SLACK_BOT_TOKEN", &mut self.slack_bot_token, true),
            ("LINEAR_API_KEY", &mut self.linear_api_key, true),
            ("TELEGRAM_BOT_TOKEN", &mut self.telegram_bot_token, true),
        ];
        for (name, field, secret) in fields {
            *field = field
                .take()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty());
            // Tokens are printable ASCII; a header takes nothing else (a zero-width space or a
            // typographic quote copied with one would fail every request to the provider).
            if secret
                && let Some(odd) = field
                    .as_deref()
                    .and_then(|v| v.chars().find(|c| !c.is_ascii_graphic()))
            {
                let what = if odd.is_whitespace() || odd.is_control() {
                    "a space or line break".to_string()
                } else {
                    format!("the character U+{:04X}, which no token has", u32::from(odd))
                };
                return Err(format!(
                    "{name} has {what} inside it (copied with one?); no request can carry it: \
                     remove it"
                ));
            }
        }
        Ok(self)
    }
}

impl Default for Upstreams {
    fn default() -> Self {
        Upstreams {
            github_api_url: "https://api.github.com".into(),
            github_token: None,
            gitlab_url: "https://gitlab.com".into(),
            gitlab_token: None,
            jira_base_url: None,
            jira_email: None,
            jira_api_token: None,
            slack_api_url: "https://slack.com/api".into(),
            slack_bot_token: None,
            linear_api_url: "https://api.linear.app/graphql".into(),
            linear_api_key: None,
            telegram_api_url: "https://api.telegram.org".into(),
            telegram_bot_token: None,
        }
    }
}

/// A count such as a limit or a concurrency. 0 would stop all the work it counts, so it is
/// refused at start rather than quietly taken as 1.
/// A count from 1 to `max`: past a sane maximum a count starts that many tasks, or asks for
/// more than a semaphore holds, and takes the machine down instead of refusing at start.
fn between_one_and(
    max: usize,
) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |given| match at_least_one(given)? {
        n if n > max => Err(format!("must be at most {max}")),
        n => Ok(n),
    }
}

/// The address to listen on. `SocketAddr` alone says only "invalid socket address syntax",
/// which does not tell someone who wrote `localhost:8086` that a host name is not taken.
fn ip_and_port(given: &str) -> Result<SocketAddr, String> {
    given.parse().map_err(|_| {
        "expected an IP address and a port, such as 127.0.0.1:8086 (this machine only) or \
         0.0.0.0:8086 (every interface), not a host name"
            .into()
    })
}

/// A yes/no setting: the words clap's `BoolishValueParser` takes (any case), refused with
/// the ones to use, where clap says only "value was not a boolean".
fn yes_no(given: &str) -> Result<bool, String> {
    match given.to_lowercase().as_str() {
        "yes" | "y" | "true" | "t" | "on" | "1" => Ok(true),
        "no" | "n" | "false" | "f" | "off" | "0" => Ok(false),
        _ => Err("expected yes or no (or true/false, on/off, 1/0)".into()),
    }
}

fn at_least_one(given: &str) -> Result<usize, String> {
    match given.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1: 0 would stop all the work it counts".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses `5s`, `5m`, `2h`, `1d` or plain seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 5s, 5m, 2h"))?;
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("`{s}` has an unknown unit; use s, m, h or d")),
    };
    // Times are kept as milliseconds since 1970 in an i64: a longer wait would wrap around.
    match n.checked_mul(unit_secs) {
        Some(secs) if secs <= MAX_DURATION_SECS => Ok(std::time::Duration::from_secs(secs)),
        _ => Err(format!(
            "`{s}` is longer than the longest wait taken, 3650d"
        )),
    }
}

/// The largest webhook body limit taken: 64 MiB, over twice the largest body a sender sends
/// (GitHub's, 25 MB). The receiver holds four bodies of that size in memory at once (256 MiB)
/// before it tells senders to come back.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The longest timeout or grace a setting takes, in seconds: a day. (Far larger ones overflow
/// the clock when added to now, which took every connection down with a panic.)
const MAX_TIMEOUT_SECS: u64 = 86_400;

/// The longest duration a setting takes: ten years.
const MAX_DURATION_SECS: u64 = 3650 * 86400;

/// The longest event retention, in days: ten years, as for the durations other settings take.
const MAX_RETENTION_DAYS: i64 = 3650;

/// The longest rotation grace, in config and per rotation: 30 days.
pub const MAX_ROTATION_GRACE_SECS: i64 = 30 * 24 * 3600;

impl Config {
    /// The retry schedule as durations.
    pub fn retry_delays(&self) -> Result<Vec<std::time::Duration>, String> {
        // Empty as a whole is a schedule of no retries; an empty entry among others is a
        // slip (`1s,,2s`) that would quietly drop a retry.
        if self.retry_schedule.len() > 1 && self.retry_schedule.iter().any(|s| s.trim().is_empty())
        {
            return Err(format!(
                "an empty entry in `{}`: remove the extra comma (an empty schedule as a whole \
                 means no retries)",
                self.retry_schedule.join(",")
            ));
        }
        self.retry_schedule
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_duration(s))
            .collect()
    }
}

/// The built-in agent runner: which chat API it calls and which agents it runs.
#[derive(Debug, Clone, Args)]
pub struct AgentSettings {
    /// Open WebUI's base URL; the runner calls `{OPENWEBUI_URL}/api/chat/completions`.
    #[arg(long, global = true, env = "OPENWEBUI_URL")]
    pub openwebui_url: Option<String>,
    /// Bearer key for the chat API (an Open WebUI `sk-...` API key).
    #[arg(long, global = true, env = "OPENWEBUI_API_KEY", hide_env_values = true)]
    pub openwebui_api_key: Option<String>,
    /// Full chat completions URL of any OpenAI-compatible API; overrides OPENWEBUI_URL.
    #[arg(long, global = true, env = "WEBHOOK_MCP_CHAT_URL")]
    pub chat_url: Option<String>,
    /// The model agents use unless their declaration names one.
    #[arg(long, global = true, env = "AI_MODEL")]
    pub ai_model: Option<String>,
    /// Agent declarations: a JSON file path, or the JSON itself (a list of
    /// {"name", "model"?, "system_prompt"?, "result"?, "target"?, "tools"?, "max_steps"?}).
    /// Default: `planning` and `brain`, both answering with a comment on the source.
    #[arg(long, global = true, env = "WEBHOOK_MCP_AGENTS")]
    pub agents: Option<String>,
    /// Run the built-in runner in this process (it runs only when a chat API is set).
    /// `stdio`: off unless given.
    #[arg(long, global = true, env = "WEBHOOK_MCP_RUNNER",
        value_parser = yes_no, default_value_t = true, action = clap::ArgAction::Set)]
    pub runner: bool,
    /// How many tasks run at the same time.
    #[arg(
        long = "agent-concurrency",
        visible_alias = "concurrency",
        global = true,
        env = "WEBHOOK_MCP_AGENT_CONCURRENCY",
        default_value_t = 2,
        // 0 would run no task.
        value_parser = between_one_and(256)
    )]
    pub concurrency: usize,
    /// Timeout of one chat completion call, in seconds.
    #[arg(
        long = "agent-timeout-secs",
        visible_alias = "timeout-secs",
        global = true,
        env = "WEBHOOK_MCP_AGENT_TIMEOUT_SECS",
        default_value_t = 120,
        // 0 would time out every model call at once.
        value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS)
    )]
    pub timeout_secs: u64,
    /// How long a task waits for a reply after `ask` before it fails with `timeout`.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_MCP_REPLY_TIMEOUT",
        default_value = "7d"
    )]
    pub reply_timeout: String,
    /// How long the runner pauses the calls a chat API refused for their key or model, and
    /// how long a task may be held so. Not a setting: tests shorten it.
    #[arg(skip)]
    pub chat_pause: crate::agents::chat_pauses::Timing,
}

impl AgentSettings {
    /// A setting as given: an empty variable (a compose file's `VAR=${VAR}`) is one not set.
    pub fn given(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }

    /// Whether a chat API is configured, so the built-in runner can run.
    pub fn has_chat_api(&self) -> bool {
        Self::given(&self.chat_url).is_some() || Self::given(&self.openwebui_url).is_some()
    }

    /// What is wrong with `OPENWEBUI_URL`, if it ends in one of Open WebUI's API paths
    /// (`/api`, `/api/v1`, as Open WebUI's docs give its OpenAI-compatible base, or
    /// `/openai`): `/api/chat/completions` is added to it, so each chat call would go to a
    /// path Open WebUI does not serve. A warning, not a refusal: Open WebUI may be served
    /// under such a prefix by a proxy.
    pub fn openwebui_url_warning(&self) -> Option<String> {
        let base = Self::given(&self.openwebui_url)?;
        let url = reqwest::Url::parse(base).ok()?;
        let path = url.path().trim_end_matches('/').to_ascii_lowercase();
        let tail = ["/api/v1", "/api", "/openai"]
            .into_iter()
            .find(|tail| path.ends_with(tail))?;
        Some(format!(
            "OPENWEBUI_URL `{}` ends in `{tail}`, but /api/chat/completions is added to it (for \
             the runner's chat calls{}), so it should be Open WebUI's base address, such as \
             http://open-webui:8080: drop the `{tail}`",
            crate::actions::mask_url_credentials(base),
            match Self::given(&self.chat_url) {
                Some(_) => ", unused while WEBHOOK_MCP_CHAT_URL is set",
                None => "",
            }
        ))
    }
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            openwebui_url: None,
            openwebui_api_key: None,
            chat_url: None,
            ai_model: None,
            agents: None,
            runner: true,
            concurrency: 2,
            timeout_secs: 120,
            reply_timeout: "7d".into(),
            chat_pause: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Config;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn yes_or_no_settings_take_the_words_people_write() {
        for (given, meant) in [
            ("no", false),
            ("0", false),
            ("off", false),
            ("yes", true),
            ("1", true),
        ] {
            let cli = Cli::try_parse_from(["webhook-mcp", "--worker", given])
                .unwrap_or_else(|e| panic!("{given}: {e}"));
            assert_eq!(cli.config.worker, meant, "{given}");
        }
        assert!(Cli::try_parse_from(["webhook-mcp", "--worker", "maybe"]).is_err());
        // The flags off by default: alone they mean yes, and take a word after `=`.
        for (args, meant) in [
            (&["--mcp-sessions"][..], true),
            (&["--mcp-sessions=false"][..], false),
            (&["--mcp-sessions=on"][..], true),
            (&["--no-auth=no"][..], false),
            (&["--no-auth"][..], true),
            (&[][..], false),
        ] {
            let cli =
                Cli::try_parse_from(std::iter::once("webhook-mcp").chain(args.iter().copied()))
                    .unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let got = if args.first().is_some_and(|a| a.starts_with("--no-auth")) {
                cli.config.no_auth
            } else {
                cli.config.mcp_sessions
            };
            assert_eq!(got, meant, "{args:?}");
        }
    }

    #[test]
    fn blank_upstream_settings_are_unset_and_a_token_with_a_break_inside_is_refused() {
        let parse = |args: &[&str]| {
            let cli =
                Cli::try_parse_from(std::iter::once("webhook-mcp").chain(args.iter().copied()))
                    .expect("parses");
            cli.config.upstreams.given()
        };
        let given = parse(&[
            "--github-token",
            "",
            "--jira-base-url",
            " ",
            "--slack-bot-token",
            " xoxb-1 \n",
            "--github-api-url",
            " ",
        ])
        .expect("blank is unset");
        assert_eq!(given.github_api_url, "https://api.github.com");
        assert_eq!(given.github_token, None);
        assert_eq!(given.jira_base_url, None);
        assert_eq!(given.slack_bot_token.as_deref(), Some("xoxb-1"));
        for (flag, name) in [
            ("--github-token", "GITHUB_TOKEN"),
            ("--telegram-bot-token", "TELEGRAM_BOT_TOKEN"),
        ] {
            let refused = parse(&[flag, "ghp_a\nb"]).err().unwrap_or_default();
            assert!(refused.starts_with(name), "{refused}");
        }
        // A zero-width space or a typographic character copied in with a token.
        for odd in ["ghp_a\u{200B}b", "ghp_a\u{2019}b"] {
            let refused = parse(&["--gitlab-token", odd]).err().unwrap_or_default();
            assert!(
                refused.starts_with("GITLAB_TOKEN has the character U+"),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_retry_schedule_is_empty_whole_or_has_no_empty_entry() {
        for (given, delays) in [
            ("5s,1m", Some(2)),
            ("", Some(0)),
            (" 5s , 1m ", Some(2)),
            ("1s,,2s", None),
            ("1s,", None),
        ] {
            let cli = Cli::try_parse_from(["webhook-mcp", "--retry-schedule", given])
                .unwrap_or_else(|e| panic!("{given}: {e}"));
            assert_eq!(
                cli.config.retry_delays().ok().map(|d| d.len()),
                delays,
                "{given}"
            );
        }
    }

    #[test]
    fn settings_that_would_break_every_request_are_refused_at_start() {
        for flag in [
            "--request-timeout-secs",
            "--header-timeout-secs",
            "--outbound-timeout-secs",
            "--agent-timeout-secs",
            "--max-body-bytes",
            "--outbound-concurrency",
            "--agent-concurrency",
            "--max-in-flight",
            "--max-connections",
            "--rejected-keep",
        ] {
            assert!(
                Cli::try_parse_from(["webhook-mcp", flag, "0"]).is_err(),
                "{flag}"
            );
            assert!(
                Cli::try_parse_from(["webhook-mcp", flag, "1"]).is_ok(),
                "{flag}"
            );
        }
        let refused = Cli::try_parse_from(["webhook-mcp", "--max-in-flight", "0"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("at least 1"), "{refused}");
        // Counts that start a task or a permit each: a huge one took the machine down. A huge
        // body limit lifted the bound on the bodies held in memory at once.
        for (flag, max) in [
            ("--outbound-concurrency", 1024),
            ("--agent-concurrency", 256),
            ("--max-in-flight", 1_000_000),
            ("--max-connections", 1_000_000),
            ("--max-body-bytes", 64 * 1024 * 1024),
        ] {
            let at_max = max.to_string();
            let past = (max + 1).to_string();
            assert!(Cli::try_parse_from(["webhook-mcp", flag, &at_max]).is_ok());
            let refused = Cli::try_parse_from(["webhook-mcp", flag, &past])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(refused.contains("at most"), "{flag}: {refused}");
            let huge = Cli::try_parse_from(["webhook-mcp", flag, "18446744073709551615"]);
            assert!(huge.is_err(), "{flag}");
        }
    }

    #[test]
    fn a_listen_address_that_is_not_an_ip_and_port_is_refused_saying_which_it_takes() {
        for given in [
            "localhost:8086",
            "127.0.0.1",
            "8086",
            "http://127.0.0.1:8086",
        ] {
            let refused = Cli::try_parse_from(["webhook-mcp", "--listen", given])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                refused.contains("IP address and a port") && refused.contains("0.0.0.0:8086"),
                "{given}: {refused}"
            );
        }
        let cli = Cli::try_parse_from(["webhook-mcp", "--listen", "[::1]:8086"]).expect("parses");
        assert_eq!(cli.config.listen, "[::1]:8086".parse().unwrap());
    }

    #[test]
    fn an_openwebui_url_ending_in_an_api_path_is_warned_about() {
        for (url, warned) in [
            ("http://host:3000/api", Some("/api")),
            ("http://host:3000/api/", Some("/api")),
            ("http://host:3000/api/v1", Some("/api/v1")),
            ("http://host:3000/API/V1/", Some("/api/v1")),
            ("http://host:3000/openai", Some("/openai")),
            ("https://u:pw@host/webui/api", Some("/api")),
            ("http://host:3000", None),
            ("http://host:3000/", None),
            ("https://host/webui", None),
            ("https://host/rapi", None),
            ("", None),
            ("not a url", None),
        ] {
            let cli = Cli::try_parse_from(["webhook-mcp", "--openwebui-url", url])
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            let warning = cli.config.agents.openwebui_url_warning();
            assert_eq!(warning.is_some(), warned.is_some(), "{url}: {warning:?}");
            if let (Some(warning), Some(tail)) = (warning, warned) {
                assert!(
                    warning.contains(&format!("ends in `{tail}`"))
                        && warning.contains("/api/chat/completions is added")
                        && !warning.contains("pw"),
                    "{url}: {warning}"
                );
            }
        }
    }

    #[test]
    fn listening_on_every_interface_without_a_public_base_url_is_warned_about() {
        for (args, warned) in [
            (&["--listen", "0.0.0.0:8086"][..], true),
            (&["--listen", "[::]:8086"][..], true),
            (
                &[
                    "--listen",
                    "0.0.0.0:8086",
                    "--public-base-url",
                    "https://hooks.example.com",
                ][..],
                false,
            ),
            (&["--listen", "127.0.0.1:8086"][..], false),
            (&["--listen", "192.168.1.5:8086"][..], false),
        ] {
            let cli =
                Cli::try_parse_from(std::iter::once("webhook-mcp").chain(args.iter().copied()))
                    .unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let warning = cli.config.public_base_url_warning(cli.config.listen);
            assert_eq!(warning.is_some(), warned, "{args:?}");
            assert!(
                warning.is_none_or(|w| w.contains("PUBLIC_BASE_URL")),
                "{args:?}"
            );
        }
    }

    #[test]
    fn a_grace_or_a_duration_out_of_range_is_refused_at_start_not_at_use() {
        for grace in ["-5", "2592001"] {
            assert!(
                Cli::try_parse_from(["webhook-mcp", "--rotation-grace-secs", grace]).is_err(),
                "{grace}"
            );
        }
        let cli = Cli::try_parse_from(["webhook-mcp", "--rotation-grace-secs", "2592000"])
            .expect("30 days");
        assert_eq!(cli.config.rotation_grace_secs, 2_592_000);
        for (given, taken) in [
            ("5s", Some(5)),
            ("2h", Some(7200)),
            ("3650d", Some(315_360_000)),
        ] {
            assert_eq!(
                super::parse_duration(given).ok().map(|d| d.as_secs()),
                taken
            );
        }
        for (days, taken) in [("0", true), ("30", true), ("3650", true), ("3651", false)] {
            let parsed = Cli::try_parse_from(["webhook-mcp", "--event-retention-days", days]);
            assert_eq!(parsed.is_ok(), taken, "{days}");
        }
        assert!(
            Cli::try_parse_from(["webhook-mcp", "--event-retention-days", "1.5"]).is_err(),
            "whole days"
        );
        for absurd in ["3651d", "300000000000000d", "18446744073709551615s"] {
            let refused = super::parse_duration(absurd).expect_err(absurd);
            assert!(refused.contains("longest"), "{refused}");
        }
    }

    #[test]
    fn a_variable_named_as_a_setting_but_none_is_warned_of_with_the_one_meant() {
        let warned =
            |names: &[&str]| super::unknown_variables(names.iter().map(std::ffi::OsString::from));
        for (given, meant) in [
            ("WEBHOOK_MCP_LISTNE", "WEBHOOK_MCP_LISTEN"),
            ("WEBHOOK_MCP_SECRETKEY", "WEBHOOK_MCP_SECRET_KEY"),
            (
                "WEBHOOK_MCP_EVENT_RETENTION",
                "WEBHOOK_MCP_EVENT_RETENTION_DAYS",
            ),
            ("WEBHOOK_MCP_GITHUB_TOKEN", "GITHUB_TOKEN"),
            ("webhook_mcp_listen", "WEBHOOK_MCP_LISTEN"),
            ("WEBHOOK_MPC_LISTEN", "WEBHOOK_MCP_LISTEN"),
            ("GITHUB_TOKN", "GITHUB_TOKEN"),
            ("SLACK_BOT_TOEKN", "SLACK_BOT_TOKEN"),
        ] {
            let warnings = warned(&[given]);
            assert_eq!(warnings.len(), 1, "{given}: {warnings:?}");
            assert!(
                warnings[0].contains(&format!("variable {given} is no setting"))
                    && warnings[0].ends_with(&format!("did you mean {meant}?")),
                "{given}: {warnings:?}"
            );
        }
        // One of ours near no setting: warned of all the same.
        let unknown = warned(&["WEBHOOK_MCP_TELEMETRY"]);
        assert_eq!(unknown.len(), 1, "{unknown:?}");
        assert!(!unknown[0].contains("did you mean"), "{unknown:?}");
        // Settings, and other programs' variables, are let be.
        let quiet = warned(&[
            "WEBHOOK_MCP_LISTEN",
            "WEBHOOK_MCP_BENCH_ROUTES",
            "GITHUB_TOKEN",
            "PATH",
            "HOME",
            "RUST_LOG",
            "GH_TOKEN",
            "OPENAI_API_KEY",
            "WEBUI_URL",
            "GITLAB_API_URL",
        ]);
        assert!(quiet.is_empty(), "{quiet:?}");
    }

    #[test]
    fn every_setting_is_in_the_readme_table_and_every_variable_there_is_a_setting() {
        let readme = include_str!("../README.md");
        let table = readme
            .split("\n## Configuration\n")
            .nth(1)
            .and_then(|s| s.split("\n#").next())
            .expect("the Configuration section");
        let mut documented: Vec<String> = table
            .lines()
            .filter(|l| l.starts_with("| `"))
            .flat_map(|l| {
                let first = l.split('|').nth(1).unwrap_or_default();
                first.split('`').skip(1).step_by(2).map(String::from)
            })
            .filter(|name| name != "RUST_LOG")
            .collect();
        let command = <Config as clap::Args>::augment_args(clap::Command::new("webhook-mcp"));
        let mut settings: Vec<String> = command
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        documented.sort();
        settings.sort();
        assert_eq!(documented, settings);
        assert!(
            super::setting_variables().len() > settings.len(),
            "hidden settings are known too"
        );
    }

    #[test]
    fn the_command_line_is_well_formed() {
        // clap checks its own definition only when the command is built: a mistake there
        // panics at start.
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn timeouts_past_a_day_are_refused_at_start() {
        // Far larger ones overflowed the clock at the first connection, with a panic each.
        for flag in [
            "--header-timeout-secs",
            "--request-timeout-secs",
            "--outbound-timeout-secs",
            "--agent-timeout-secs",
            "--shutdown-grace-secs",
        ] {
            for absurd in ["86401", "9223372036854775807", "18446744073709551615"] {
                let refused = Cli::try_parse_from(["webhook-mcp", flag, absurd]);
                assert!(refused.is_err(), "{flag} {absurd}");
            }
            assert!(
                Cli::try_parse_from(["webhook-mcp", flag, "86400"]).is_ok(),
                "{flag} a day"
            );
        }
    }
}
