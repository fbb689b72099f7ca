//! Wiring: open the store, load the API keys, bind the listener, serve the receiver, the REST
//! API and MCP until told to stop, then finish requests in flight and close the store.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::actions::Clients;
use crate::agents::runner::Runner;
use crate::config::Config;
use crate::mcp::Hub;
use crate::providers::RateLimit;
use crate::service::Change;
use crate::service::auth::ApiKeys;
use crate::service::hooks::HookCache;
use crate::service::limits::Limits;
use crate::service::rekey;
use crate::service::sealing::Sealer;
use crate::store::Store;

/// `path` as given, and where that is when it is relative: an MCP client starts a stdio server
/// in a folder of its own choosing (`/` for Claude Desktop on macOS), so the default
/// `./data/webhook-mcp.db` alone does not say which folder could not be made.
fn with_where(path: &Path) -> String {
    let Some(cwd) = path
        .is_relative()
        .then(std::env::current_dir)
        .and_then(Result::ok)
    else {
        return path.display().to_string();
    };
    let within: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    format!(
        "{} ({} from the working directory {}; an absolute --database or \
         WEBHOOK_MCP_DATABASE chooses another place)",
        cwd.join(within).display(),
        path.display(),
        cwd.display()
    )
}

/// What every handler, tool and service function gets.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    /// `PUBLIC_BASE_URL` without a trailing slash, or `http://{bound address}`.
    pub public_base_url: Arc<str>,
    pub api_keys: Arc<ApiKeys>,
    /// Changes MCP clients may be subscribed to (new events, ...).
    pub changes: broadcast::Sender<Change>,
    /// Outbound HTTP for actions (timeouts, no redirects, SSRF guard).
    pub clients: Arc<Clients>,
    /// Wakes the outbox senders when new work is stored.
    pub wake: Arc<Notify>,
    /// The outbox sends under way, by target host, so one host takes only its share.
    pub sending: Arc<crate::worker::hosts::InFlight>,
    /// Tells idle runner workers that a task is queued; apart from `wake`, so a new task does
    /// not send every outbox sender to look for work (a write each) and vice versa.
    pub task_wake: Arc<Notify>,
    /// Webhooks and compiled commands for the receive path.
    pub hooks: Arc<HookCache>,
    /// Rate limits, allowlists and the in-flight bound of the receiver.
    pub limits: Arc<Limits>,
    /// When old rejected events are let go.
    pub rejected: Arc<crate::service::rejected::Pruning>,
    /// How many events (and audit entries) past their retention this process let go.
    pub expired: Arc<crate::service::retention::Expired>,
    /// How many requests the receiver answered with each outcome, this process since start.
    pub deliveries: Arc<crate::http::receiver::Deliveries>,
    /// Encryption at rest for secrets (a no-op without WEBHOOK_MCP_SECRET_KEY).
    pub sealer: Arc<Sealer>,
    /// The agents declared (`WEBHOOK_MCP_AGENTS`), as read at start, when the built-in
    /// runner reads them too: what a command is warned of is what the runner does.
    pub agents: Arc<Vec<crate::agents::AgentSpec>>,
    /// The chat API refusals of the runner's key or a model that hold tasks back now (the
    /// runner's; `/health` and `/metrics` show them).
    pub chat_pauses: Arc<crate::agents::chat_pauses::Pauses>,
    /// The runner's chat calls answered with an error of late, whose reports Open WebUI may
    /// send back to a webhook here.
    pub failed_chat_calls: Arc<crate::agents::failed_calls::FailedCalls>,
}

impl AppState {
    /// Tells idle outbox senders that an action is waiting.
    pub fn wake_workers(&self) {
        self.wake.notify_waiters();
    }

    /// Tells idle runner workers that a task is queued (new, or resumed by a reply).
    pub fn wake_runner(&self) {
        self.task_wake.notify_waiters();
    }
}

/// Which process starts. `serve` makes an admin key when there is none (its `/api` and `/mcp`
/// need one) and keeps the stored secrets under its key; `stdio`, which has no HTTP side and
/// often runs beside a `serve`, does neither (see `rekey::Role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Serve,
    Stdio,
}

/// Opens the store and API keys; returns the state and a key generated on first start.
pub async fn state(
    config: Config,
    public_base_url: String,
    process: Process,
) -> anyhow::Result<(AppState, Option<String>)> {
    if config.no_auth && !config.listen.ip().is_loopback() {
        anyhow::bail!(
            "--no-auth is for local development only: it is refused when listening on {}, which \
             is not a loopback address",
            config.listen
        );
    }
    let mut config = config;
    config.upstreams = config.upstreams.given().map_err(anyhow::Error::msg)?;
    check_settings(&config, &public_base_url)?;
    if config.no_auth {
        tracing::warn!(
            "--no-auth: /api, /mcp and /metrics take requests without an API key (local \
             development only)"
        );
        if config.api_key.as_deref().is_some_and(|k| !k.is_empty()) {
            tracing::warn!("WEBHOOK_MCP_API_KEY is not asked for under --no-auth");
        }
    }
    let store = Store::open(&config.database)
        .with_context(|| format!("open database {}", with_where(&config.database)))?;
    config
        .retry_delays()
        .map_err(|e| anyhow::anyhow!("WEBHOOK_MCP_RETRY_SCHEDULE: {e}"))?;
    // Fail at start, not at the first task, on a broken agent declaration: with no chat API
    // the declarations still count (external agents claim their tasks, commands name them),
    // so they are read whether or not the built-in runner will run.
    let agents = crate::agents::declared(&config.agents, &config.upstreams.telegram_api_url)
        .map_err(anyhow::Error::msg)?;
    Runner::from_config(&config).map_err(anyhow::Error::msg)?;
    let clients = Clients::new(
        config.allowed_target_hosts.clone(),
        Duration::from_secs(config.outbound_timeout_secs),
    );
    let trusted = config
        .trusted_proxies
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| crate::service::limits::parse_net(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("WEBHOOK_MCP_TRUSTED_PROXIES: {e}"))?;
    for warning in crate::service::limits::trusted_proxy_warnings(&trusted) {
        tracing::warn!("{warning}");
    }
    let per = |n: u32| {
        (n > 0).then_some(RateLimit {
            per_second: n,
            burst: None,
        })
    };
    let limits = Limits::new(
        per(config.rate_limit_per_ip),
        per(config.rate_limit_per_webhook),
        trusted,
        config.max_in_flight,
    )
    .buffering(crate::service::limits::buffer_budget(config.max_body_bytes));
    let role = match process {
        Process::Serve => rekey::Role::Owner,
        Process::Stdio => rekey::Role::FrontEnd,
    };
    let sealer = rekey::start(&store, &config, role).await?;
    // Last of the checks: a key generated on first start is printed only once the server
    // starts, so a start refused after making it would leave an admin key no one ever saw.
    let (api_keys, generated) = ApiKeys::bootstrap(
        &store,
        config.api_key.as_deref(),
        // Without auth no key opens anything: one made now would be shown as if it did. A
        // later start with auth makes it then.
        process == Process::Serve && !config.no_auth,
    )
    .await
    .context("load API keys")?;
    let (changes, _) = broadcast::channel(1024);
    let wake = Arc::new(Notify::new());
    let sending =
        crate::worker::hosts::InFlight::new(config.outbound_concurrency, Arc::clone(&wake));
    let rejected = crate::service::rejected::Pruning::new(
        u32::try_from(config.rejected_keep).unwrap_or(u32::MAX),
    );
    let chat_pauses = Arc::new(crate::agents::chat_pauses::Pauses::new(
        config.agents.chat_pause,
    ));
    let state = AppState {
        store,
        config: Arc::new(config),
        // As the URL parser writes it (a space or non-ASCII letter in the path
        // percent-encoded): every receiver URL shown starts with it.
        public_base_url: reqwest::Url::parse(&public_base_url)
            .map_or(public_base_url, String::from)
            .trim_end_matches('/')
            .into(),
        api_keys: Arc::new(api_keys),
        changes,
        clients: Arc::new(clients),
        wake,
        sending: Arc::new(sending),
        task_wake: Arc::new(Notify::new()),
        hooks: Arc::new(HookCache::new(Duration::from_secs(2))),
        limits: Arc::new(limits),
        rejected: Arc::new(rejected),
        expired: Arc::default(),
        deliveries: Arc::default(),
        chat_pauses,
        failed_chat_calls: Arc::default(),
        sealer: Arc::new(sealer),
        agents: Arc::new(agents),
    };
    Ok((state, generated))
}

/// Shorter configured keys are warned about (generated ones are far longer).
const MIN_SAFE_KEY_CHARS: usize = 16;

/// How long a shutdown waits for `subscriptions/listen` streams to end with their final result
/// before rmcp closes what is left.
const LISTENERS_CLOSE_LIMIT: Duration = Duration::from_secs(1);

/// What is wrong with a public base URL, if anything: receiver URLs are made by appending
/// `/webhooks/…` to it, so it must be a plain http(s) address and path.
fn base_url_problem(url: &str) -> Option<String> {
    let Some(base) = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
    else {
        return Some(format!(
            "`{url}` is not an http(s) URL; give the address senders reach this server at, \
             e.g. https://hooks.example.com"
        ));
    };
    if !base.username().is_empty() || base.password().is_some() {
        // Not echoed: it holds a credential, and this message goes to the log.
        return Some(
            "the URL carries a user name or password, which every receiver URL shown would \
             repeat; give the address without them"
                .into(),
        );
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Some(format!(
            "`{url}` has a query or fragment (`?…`, `#…`), which would end up in the middle \
             of every receiver URL; give the address and path only"
        ));
    }
    None
}

/// Settings whose mistakes would otherwise show only later, as broken links or lost overrides.
fn check_settings(config: &Config, public_base_url: &str) -> anyhow::Result<()> {
    if let Some(problem) = base_url_problem(public_base_url) {
        anyhow::bail!("PUBLIC_BASE_URL: {problem}");
    }
    if let Some(key) = config.api_key.as_deref().filter(|k| !k.is_empty()) {
        if key.trim() != key {
            // A presented key is read without its surrounding spaces: this one never matches.
            anyhow::bail!(
                "WEBHOOK_MCP_API_KEY has spaces or line breaks around it (copied with a \
                 newline?); no client could present it as it is: remove them"
            );
        }
        if key.chars().any(|c| c.is_control() || !c.is_ascii()) {
            // Clients send it in a header, read as text only when it is printable ASCII.
            anyhow::bail!(
                "WEBHOOK_MCP_API_KEY holds a line break, control character or character beyond \
                 ASCII; no client could present it in an Authorization header: use letters, \
                 digits and punctuation (`openssl rand -hex 32`)"
            );
        }
        if key.chars().count() < MIN_SAFE_KEY_CHARS {
            tracing::warn!(
                "WEBHOOK_MCP_API_KEY is shorter than {MIN_SAFE_KEY_CHARS} characters and easy \
                 to guess; use a long random one (`openssl rand -hex 32`)"
            );
        }
    }
    if let Some(path) = config.database.to_str()
        && (path.starts_with("file:") || path == ":memory:")
    {
        // SQLite would read these as a URI or an in-memory database; here they are names.
        let meant = path
            .strip_prefix("file:")
            .map(|p| p.split(['?', '#']).next().unwrap_or_default());
        anyhow::bail!(
            "WEBHOOK_MCP_DATABASE is a file's path, not an SQLite URI or `:memory:`{}",
            meant.map(|p| format!(": give `{p}`")).unwrap_or_default()
        );
    }
    use crate::actions::endpoints_check;
    if let Some(problem) = endpoints_check::upstream_url_problem(&config.upstreams) {
        anyhow::bail!(problem);
    }
    for warning in endpoints_check::allowlist_problems(&config.allowed_target_hosts)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .chain(
            endpoints_check::mcp_host_problems(&config.mcp_allowed_hosts)
                .map_err(anyhow::Error::msg)?,
        )
    {
        tracing::warn!("{warning}");
    }
    if let Some(dir) = &config.prompts_dir
        && !dir.is_dir()
    {
        anyhow::bail!("PROMPTS_DIR: {} is not a folder", dir.display());
    }
    if let Some(dir) = &config.config_dir
        && !dir.is_dir()
    {
        anyhow::bail!("WEBHOOK_MCP_CONFIG_DIR: {} is not a folder", dir.display());
    }
    crate::agents::reply_timeout::of(config).map_err(anyhow::Error::msg)?;
    if let Some(warning) = crate::service::retention::warning(config.event_retention_days) {
        tracing::warn!("{warning}");
    }
    if let Some(warning) = config.agents.openwebui_url_warning() {
        tracing::warn!("{warning}");
    }
    Ok(())
}

/// A built, bound application, not yet serving.
pub struct App {
    listener: TcpListener,
    state: AppState,
    hub: Arc<Hub>,
    generated_api_key: Option<String>,
}

pub async fn build(config: Config) -> anyhow::Result<App> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("bind {}", config.listen))?;
    let addr = listener.local_addr().context("read bound address")?;
    let base = config
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let (state, generated_api_key) = state(config, base, Process::Serve).await?;
    if let Some(dir) = state.config.config_dir.clone()
        && let Err(refused) = crate::service::config_dir::apply(&state, &dir).await
    {
        // The key generated on this start would be shown only once it starts: it is not
        // kept, and the next start makes another.
        if let Some(key) = &generated_api_key {
            let digest = crate::service::auth::hash(key);
            state
                .store
                .write(move |db| crate::store::api_keys::delete_by_hash(db, &digest))
                .await
                .context("forget the API key generated on this start")?;
        }
        return Err(refused);
    }
    Ok(App {
        listener,
        state,
        hub: Arc::new(Hub::default()),
        generated_api_key,
    })
}

impl App {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("listener has an address")
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// The API key generated on this (first) start, to be shown once.
    pub fn generated_api_key(&self) -> Option<&str> {
        self.generated_api_key.as_deref()
    }

    /// Serves until `shutdown` resolves, then stops accepting, waits for requests in flight
    /// (at most the configured grace) and closes the store after its queued writes.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let grace = Duration::from_secs(state.config.shutdown_grace_secs);
        let stop = CancellationToken::new();

        let hub = self.hub.clone();
        let hub_task = tokio::spawn({
            let (changes, keys) = (state.changes.subscribe(), state.api_keys.clone());
            let stop = stop.clone();
            async move { hub.run(changes, keys, stop).await }
        });
        // Keys created and revoked by another process on the database hold here too.
        let keys_task = tokio::spawn({
            let (keys, store) = (state.api_keys.clone(), state.store.clone());
            let stop = stop.clone();
            async move { keys.follow(&store, stop).await }
        });

        // Settings checked before anything starts, so a bad one leaves nothing running.
        let reply_timeout =
            crate::agents::reply_timeout::of(&state.config).map_err(anyhow::Error::msg)?;
        let worker_stop = CancellationToken::new();
        let worker = state
            .config
            .worker
            .then(|| tokio::spawn(crate::worker::run(state.clone(), worker_stop.clone())));

        let runner = start_runner(&state, worker_stop.clone())?;
        let sweeper = start_reply_timeouts(&state, reply_timeout, worker_stop.clone());
        let retention = start_retention(&state, worker_stop.clone());
        let scheduler = start_scheduler(&state, worker_stop.clone());
        let refusal_lines = start_refusal_lines(&state, stop.clone());

        // Stateful MCP sessions (`--mcp-sessions`) end with the key that opened them, or
        // once their client has left.
        let sessions = Arc::new(crate::mcp::Sessions::new(
            state.api_keys.clone(),
            state.config.mcp_sessions,
            state.config.mcp_session_idle_limit,
            (
                state.config.mcp_max_sessions_per_key,
                state.config.mcp_max_sessions,
            ),
        ));
        let sessions_task = tokio::spawn({
            let (sessions, stop) = (sessions.clone(), stop.clone());
            async move {
                tokio::join!(
                    sessions.close_on_revocation(stop.clone()),
                    sessions.end_idle(stop)
                )
            }
        });
        // rmcp's streams close when this is cancelled: only once the listen streams have
        // ended with their final result (or a moment has passed), so that they end cleanly.
        let mcp_stop = CancellationToken::new();
        let router =
            crate::http::router(state.clone(), self.hub.clone(), sessions, mcp_stop.clone());
        let (stopping, stop_work) = (stop.clone(), worker_stop.clone());
        let (hub, mcp_stopping) = (self.hub.clone(), mcp_stop.clone());
        let limits = crate::http::serve::ConnectionLimits {
            header_timeout: Duration::from_secs(state.config.header_timeout_secs.max(1)),
            write_stall_timeout: Duration::from_secs(state.config.request_timeout_secs.max(1)),
            max_connections: crate::http::serve::fit_to_open_file_limit(
                state.config.max_connections.max(1),
            ),
        };
        let server = crate::http::serve::serve(self.listener, router, limits, async move {
            shutdown.await;
            tracing::info!(
                "shutting down: finishing requests in flight, action attempts and agent steps"
            );
            stopping.cancel();
            // No new sends or runs from now: the ones under way finish while requests do.
            stop_work.cancel();
            tokio::spawn(async move {
                hub.end_listeners(LISTENERS_CLOSE_LIMIT).await;
                mcp_stopping.cancel();
            });
        });
        let deadline = {
            let stop = stop.clone();
            async move {
                stop.cancelled().await;
                tokio::time::sleep(grace + SETTLE).await;
            }
        };
        tokio::select! {
            () = server => {}
            () = deadline => tracing::warn!("requests still in flight after the shutdown grace; stopping anyway"),
        }
        stop.cancel();
        mcp_stop.cancel();
        worker_stop.cancel();
        // Senders finish the attempt in hand and runs stop at their next model call (a tool
        // already acting finishes first), within the grace once requests are done, so a
        // process manager's own stop timeout is not spent waiting on a slow upstream. What is
        // cut off then is left to the next start, like a crash: queued actions are sent once
        // their lease ends (an attempt that had reached its upstream may arrive twice).
        let mut background: Vec<_> = worker.into_iter().chain(runner).collect();
        if finish_or_stop(&mut background, grace).await {
            tracing::warn!(
                "action attempts or agent runs still going after the shutdown grace; stopping anyway"
            );
        }
        let _ = sweeper.await;
        let _ = retention.await;
        if let Some(scheduler) = scheduler {
            let _ = scheduler.await;
        }
        let _ = refusal_lines.await;
        let _ = hub_task.await;
        let _ = sessions_task.await;
        let _ = keys_task.await;
        let store = state.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .context("close store")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// What the shutdown waits past its grace for loops that were idle to answer the stop: with
/// a grace of 0 they would otherwise not yet have been polled since it, and be warned about
/// (and aborted) as if they were sending or running something.
const SETTLE: Duration = Duration::from_millis(200);

/// Waits for the senders and runs to end, at most the grace (and [`SETTLE`]); those still
/// going then are aborted, not left to fail their writes against the closed store. Whether
/// any had to be.
async fn finish_or_stop(background: &mut [tokio::task::JoinHandle<()>], grace: Duration) -> bool {
    let finished = async {
        for task in background.iter_mut() {
            let _ = task.await;
        }
    };
    if tokio::time::timeout(grace + SETTLE, finished).await.is_ok() {
        return false;
    }
    for task in background.iter() {
        task.abort();
    }
    true
}

/// `webhook-mcp stdio`: MCP over stdin/stdout on the same database, for clients and proxies
/// that spawn the server. Logs go to stderr; stdout carries only the protocol.
pub async fn run_stdio(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let base = config
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    // Whoever starts stdio already holds the database; a key made here would only be printed
    // into an MCP client's log, and `serve` makes its own on its first start.
    let (state, _) = state(config, base, Process::Stdio).await?;
    let reply_timeout =
        crate::agents::reply_timeout::of(&state.config).map_err(anyhow::Error::msg)?;
    let hub = Arc::new(Hub::default());
    let stop = CancellationToken::new();
    let hub_task = tokio::spawn({
        let hub = hub.clone();
        let (changes, keys) = (state.changes.subscribe(), state.api_keys.clone());
        let stop = stop.clone();
        async move { hub.run(changes, keys, stop).await }
    });
    let worker = state
        .config
        .worker
        .then(|| tokio::spawn(crate::worker::run(state.clone(), stop.clone())));
    let runner = start_runner(&state, stop.clone())?;
    // Timing out questions and letting old events and ended secrets go are background work
    // like sending: they go with the worker (off in `stdio` unless asked for), so this front
    // end's settings cannot cut `serve`'s short.
    let sweeper = state
        .config
        .worker
        .then(|| start_reply_timeouts(&state, reply_timeout, stop.clone()));
    let retention = state
        .config
        .worker
        .then(|| start_retention(&state, stop.clone()));
    let scheduler = start_scheduler(&state, stop.clone());
    // Deliveries arrive at the HTTP server, another process: its events reach this one's
    // subscribers through the database.
    let watcher = tokio::spawn(crate::service::watch::run(state.clone(), stop.clone()));
    // An MCP client ends the server by closing stdin, or, when that is not enough, with a
    // signal: then the sends and runs under way get the grace `serve` gives them.
    let mut shutdown = std::pin::pin!(shutdown);
    let mut signalled = false;
    let result = tokio::select! {
        served = crate::mcp::serve_stdio(state.clone(), hub) => served,
        () = &mut shutdown => {
            signalled = true;
            tracing::info!("shutting down: finishing action attempts and agent steps");
            Ok(())
        }
    };
    stop.cancel();
    let _ = watcher.await;
    let mut background: Vec<_> = worker.into_iter().chain(runner).collect();
    let grace = Duration::from_secs(state.config.shutdown_grace_secs);
    // A client that closed stdin sends a signal next if the server is slow to go (the MCP
    // stdio shutdown): that ends the grace at once.
    let cut_short = tokio::select! {
        stopped = finish_or_stop(&mut background, grace) => stopped,
        () = &mut shutdown, if !signalled => true,
    };
    if cut_short {
        for task in &background {
            task.abort();
        }
        tracing::warn!(
            "action attempts or agent runs still going at the stop; stopping anyway (what was \
             cut off is taken up again after its lease)"
        );
    }
    if let Some(sweeper) = sweeper {
        let _ = sweeper.await;
    }
    if let Some(retention) = retention {
        let _ = retention.await;
    }
    if let Some(scheduler) = scheduler {
        let _ = scheduler.await;
    }
    let _ = hub_task.await;
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.close()).await?;
    result
}

/// Starts the sweeper that fails tasks waiting too long for a reply; it runs whether or not
/// the built-in runner does.
fn start_reply_timeouts(
    state: &AppState,
    timeout: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(crate::agents::reply_timeout::run(
        state.clone(),
        timeout,
        stop,
    ))
}

/// Starts the sweep that deletes rotated-out secrets once their grace has ended, and lets old
/// events and audit entries go when a retention is set.
fn start_retention(state: &AppState, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(crate::service::retention::run(state.clone(), stop))
}

/// Starts the loop that fires scheduled commands, where the worker runs (`serve` by default,
/// `stdio` when asked): with two processes on one database each tick still fires once.
fn start_scheduler(
    state: &AppState,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    state
        .config
        .worker
        .then(|| tokio::spawn(crate::service::schedules::run(state.clone(), stop)))
}

/// Starts the loop that logs the receiver's refusals counted since their last line (requests
/// that failed verification, by webhook, and those refused with 503 busy) once it is time for
/// the next: a burst's count is then told within a second of that, not when the next refusal
/// comes, which may be days later.
fn start_refusal_lines(state: &AppState, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = every.tick() => {}
            }
            let now = std::time::Instant::now();
            for (webhook, rejected) in state.rejected.overdue(now) {
                tracing::warn!(webhook = %webhook, rejected, "rejected webhook requests since the last line");
            }
            if let Some(refused) = state.limits.overdue_refusals(now) {
                tracing::warn!(
                    refused,
                    "requests refused with 503 busy since the last line (at capacity)"
                );
            }
        }
    })
}

/// Starts the built-in agent runner when it is on and a chat API is configured.
fn start_runner(
    state: &AppState,
    stop: CancellationToken,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if !state.config.agents.runner {
        return Ok(None);
    }
    let Some(runner) = Runner::from_config(&state.config).map_err(anyhow::Error::msg)? else {
        tracing::info!(
            "no chat API configured (OPENWEBUI_URL or WEBHOOK_MCP_CHAT_URL): tasks wait for external agents"
        );
        return Ok(None);
    };
    tracing::info!(agents = ?runner.agent_names(), "agent runner started");
    runner.warn_of_missing_prompts(state);
    runner.warn_of_missing_models();
    Ok(Some(tokio::spawn(crate::agents::runner::run(
        state.clone(),
        Arc::new(runner),
        stop,
    ))))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::{base_url_problem, finish_or_stop};

    #[tokio::test]
    async fn only_work_still_going_after_the_grace_is_stopped_with_a_warning() {
        // Arrange: loops with nothing to do, as the senders and runs are, one of them still
        // looking for work (a store read) when told to stop; and one busy past the grace.
        let stop = CancellationToken::new();
        let idle = |stop: CancellationToken| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                stop.cancelled().await
            })
        };
        let mut quiet = vec![idle(stop.clone()), idle(stop.clone())];
        let mut busy = vec![
            idle(stop.clone()),
            tokio::spawn(tokio::time::sleep(Duration::from_secs(30))),
        ];
        stop.cancel();

        // Act: a grace of 0, as WEBHOOK_MCP_SHUTDOWN_GRACE_SECS=0 sets.
        let quiet_stopped = finish_or_stop(&mut quiet, Duration::ZERO).await;
        let busy_stopped = finish_or_stop(&mut busy, Duration::ZERO).await;

        // Assert
        assert!(!quiet_stopped, "idle loops were taken for work still going");
        assert!(busy_stopped, "work still going was not noticed");
        let busy_one = busy.pop().expect("busy task");
        assert!(
            busy_one.await.is_err_and(|e| e.is_cancelled()),
            "not aborted"
        );
    }

    #[test]
    fn an_api_key_no_client_could_send_or_a_database_uri_is_refused_at_start() {
        let checked = |key: &str| {
            let mut config = crate::config::Config::for_tests("unused.db".into());
            config.api_key = Some(key.to_string());
            super::check_settings(&config, "http://127.0.0.1:8086").map_err(|e| e.to_string())
        };
        assert!(checked("testkey-0123456789abcdef").is_ok());
        for (database, says) in [
            ("file:/tmp/x.db?mode=rwc", "give `/tmp/x.db`"),
            (":memory:", ":memory:"),
        ] {
            let mut uri = crate::config::Config::for_tests(database.into());
            uri.api_key = None;
            let refused = super::check_settings(&uri, "http://127.0.0.1:8086")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                refused.starts_with("WEBHOOK_MCP_DATABASE") && refused.contains(says),
                "{refused}"
            );
        }
        // A space inside is sent and read as it is (`Bearer correct horse battery`).
        assert!(checked("correct horse battery staple zz").is_ok());
        for key in [
            "clé-secrète-0123456789abcdef",
            "two-lines-0123456789\nabcdef",
            "a\ttab-0123456789abcdef",
            " around-0123456789abcdef",
        ] {
            let refused = checked(key).err().unwrap_or_default();
            assert!(
                refused.starts_with("WEBHOOK_MCP_API_KEY"),
                "{key:?}: {refused}"
            );
        }
    }

    #[test]
    fn a_public_base_url_is_a_plain_http_address_and_path() {
        let cases = [
            ("https://hooks.example.com", None),
            ("https://hooks.example.com/in/", None),
            ("http://10.0.0.5:8086", None),
            ("hooks.example.com", Some("not an http(s) URL")),
            ("ftp://hooks.example.com", Some("not an http(s) URL")),
            ("https://h.example.com/hooks?q=1", Some("query or fragment")),
            (
                "https://h.example.com/hooks#frag",
                Some("query or fragment"),
            ),
            (
                "https://user:pw@h.example.com",
                Some("user name or password"),
            ),
            ("https://user@h.example.com", Some("user name or password")),
        ];
        for (url, refused) in cases {
            let problem = base_url_problem(url);
            match refused {
                None => assert_eq!(problem, None, "{url}"),
                Some(why) => {
                    let problem = problem.unwrap_or_else(|| panic!("{url} accepted"));
                    assert!(problem.contains(why), "{url}: {problem}");
                    assert!(!problem.contains("pw@"), "{url}: {problem}");
                }
            }
        }
    }
}
