//! The `webhook-mcp` binary: parse flags and env, start logging, build the app, serve until
//! Ctrl-C or SIGTERM.

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use webhook_mcp::config::Config;
use webhook_mcp::{app, telemetry};

#[derive(Parser)]
#[command(
    name = "webhook-mcp",
    version,
    about = "Webhooks that AI agents and Open WebUI users own"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the receiver, the REST API and MCP over HTTP (the default).
    Serve,
    /// Serve MCP over stdin/stdout on the same database (for clients that spawn the server).
    Stdio,
}

/// mimalloc: the receive path allocates many small JSON nodes per request, and measured
/// faster than the system allocator under load on this workload.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Stack of every runtime thread. Templates, which anyone who may save a command writes, are
/// parsed and rendered on them, and minijinja recurses in places no limit of ours reaches;
/// the templates are bounded so that 2 MiB is enough, and this is the margin. Untouched
/// stack pages cost no memory.
const THREAD_STACK_BYTES: usize = 8 * 1024 * 1024;

/// A line on stderr, or nothing when stderr cannot be written (`eprintln!` would panic, and
/// the server stop with it).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

fn main() -> anyhow::Result<()> {
    let matches = Cli::command()
        .try_get_matches()
        .unwrap_or_else(|e| exit_naming_variable(e));
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if matches!(cli.command, Some(Command::Stdio)) {
        front_end_only(&mut cli.config, &matches);
    }
    telemetry::init(cli.config.log_format);
    // A misspelt setting would otherwise be ignored without a word.
    let names = std::env::vars_os().map(|(name, _)| name);
    for warning in webhook_mcp::config::unknown_variables(names) {
        tracing::warn!("{warning}");
    }
    let json_logs = matches!(cli.config.log_format, webhook_mcp::config::LogFormat::Json);
    let ran = run(cli);
    if let (Err(e), true) = (&ran, json_logs) {
        // One JSON line, as the log collector reads every other (anyhow's own report is lines
        // of plain text), written whatever RUST_LOG lets through, as that report would be.
        let line = serde_json::json!({
            "timestamp": now_rfc3339(),
            "level": "ERROR",
            "fields": {"message": "webhook-mcp stopped with an error", "error": format!("{e:#}")},
            "target": "webhook_mcp",
        });
        say!("{line}");
        std::process::exit(1);
    }
    ran
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK_BYTES)
        .build()
        .context("start the async runtime")?;
    let ran = runtime.block_on(async {
        // Before anything starts, as the stop signals' handlers are: until then a SIGHUP ends
        // the process on the spot.
        log_hangups();
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(cli.config).await,
            Command::Stdio => {
                if let Some(warning) = cli.config.public_base_url_warning(cli.config.listen) {
                    tracing::warn!("{warning}");
                }
                app::run_stdio(cli.config, shutdown_signal()).await
            }
        }
    });
    // Everything has stopped and the database is closed; what may still hold a thread is a
    // read of stdin, which would keep a stopped `stdio` alive until its client wrote again.
    runtime.shutdown_background();
    ran
}

/// `stdio` is an MCP front end, started by an MCP client with an environment of the client's
/// choosing (often without the tokens and hosts `serve` has), on the database `serve` works
/// from: it sends no actions, runs no agents and times out no questions unless told to
/// (`--worker`, `--runner` given, or their variables set). Its own settings would otherwise
/// apply to `serve`'s work: a retry taken and dead-lettered for a token only `serve` holds.
fn front_end_only(config: &mut Config, matches: &ArgMatches) {
    let given = |id: &str| {
        matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    config.worker &= given("worker");
    config.agents.runner &= given("runner");
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = app::build(config).await.context("start webhook-mcp")?;
    if let Some(key) = app.generated_api_key() {
        match app.state().config.log_format {
            // One line, as a log collector reading JSON lines takes it.
            webhook_mcp::config::LogFormat::Json => say!(
                "{}",
                serde_json::json!({
                    "timestamp": now_rfc3339(),
                    "level": "WARN",
                    "fields": {
                        "message": "No WEBHOOK_MCP_API_KEY was set, so one was generated. It is \
                                    shown only now; use it as `Authorization: Bearer <api_key>` \
                                    on /api and /mcp. Only its hash is stored.",
                        "api_key": key,
                    },
                    "target": "webhook_mcp",
                })
            ),
            webhook_mcp::config::LogFormat::Text => say!(
                "\n  No WEBHOOK_MCP_API_KEY was set, so one was generated. It is shown only now:\n\n    \
                 {key}\n\n  Use it as `Authorization: Bearer {key}` on /api and /mcp. Only its hash \
                 is stored.\n"
            ),
        }
    }
    tracing::info!(addr = %app.local_addr(), base_url = %app.state().public_base_url, "listening");
    if let Some(warning) = app.state().config.public_base_url_warning(app.local_addr()) {
        tracing::warn!("{warning}");
    }
    app.run_until_stopped(shutdown_signal()).await
}

/// Ends the process with clap's error, and, for a value that came from the environment, the
/// variable that holds it: clap names only the flag (`--outbound-concurrency`), which
/// someone who set `WEBHOOK_MCP_OUTBOUND_CONCURRENCY` in a compose file never typed.
fn exit_naming_variable(error: clap::Error) -> ! {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        error.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        error.exit();
    }
    let text = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let (arg, value) = (
        text(ContextKind::InvalidArg),
        text(ContextKind::InvalidValue),
    );
    let command = Cli::command();
    let variable = command
        .get_subcommands()
        .flat_map(|c| c.get_arguments())
        .chain(command.get_arguments())
        .find(|a| {
            arg.as_deref().is_some_and(|shown| {
                // `--listen <LISTEN>`, or `--mcp-sessions[=<MCP_SESSIONS>]` for a flag that
                // may stand alone.
                a.get_long().is_some_and(|long| {
                    shown.starts_with(&format!("--{long} "))
                        || shown.starts_with(&format!("--{long}["))
                        || shown == format!("--{long}")
                })
            })
        })
        .and_then(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .filter(|name| value.is_some() && std::env::var(name).ok() == value);
    match variable {
        Some(name) => {
            let _ = error.print();
            say!("The value comes from the environment variable {name}.");
            std::process::exit(error.exit_code());
        }
        None => error.exit(),
    }
}

/// Resolves at the first Ctrl-C or SIGTERM; a second one then ends the process at once, for
/// whoever will not wait out the grace given to the work in flight. The handlers are in place
/// from this call on, not from the future's first poll: a signal in between ended the process
/// outright (a stdio client stopping its server just after `initialize` was answered, which
/// the server may do before it first looks at its stop).
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let first = stop_signal();
    async move {
        first.await;
        let second = stop_signal();
        tokio::spawn(async move {
            second.await;
            tracing::warn!(
                "a second stop signal: stopping now, without waiting for the work in flight"
            );
            std::process::exit(130);
        });
    }
}

/// Logs each SIGHUP, from this call on, and goes on. Its default action ends the process on
/// the spot: no drain, and an exit systemd's `Restart=on-failure` does not restart, which an
/// `ExecReload=kill -HUP` or a logrotate `postrotate` copied from another service would bring
/// about. There is nothing to reload (settings are read at start only; the log goes to stderr,
/// which has no file to reopen). `stdio` logs it too and goes on: a hangup of its terminal or
/// of its client ends its input, and that stops it, after its work in hand.
#[cfg(unix)]
fn log_hangups() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::warn!(
                "SIGHUP received and ignored: settings are read only at start, so nothing was \
                 reloaded; restart the server (SIGTERM, then start it again) to apply changed \
                 settings"
            );
        }
    });
}

#[cfg(not(unix))]
fn log_hangups() {}

/// The next Ctrl-C or SIGTERM, listened for from this call on.
#[cfg(unix)]
fn stop_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt()).ok();
    let terminate = signal(SignalKind::terminate()).ok();
    let next = |listening: Option<Signal>| async move {
        match listening {
            Some(mut signal) => {
                signal.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    async move {
        tokio::select! {
            () = next(interrupt) => {},
            () = next(terminate) => {},
        }
    }
}

/// The next Ctrl-C.
#[cfg(not(unix))]
fn stop_signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Now as RFC 3339 in UTC, as the JSON log lines write it.
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
