//! Structured logs on stderr via tracing: `RUST_LOG` filters, `--log-format json` for
//! collectors. Stdout stays free (the stdio MCP transport will need it).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Says when a recurring thing is due to be logged again, and how many times it happened.
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    count: u64,
}

impl Throttle {
    pub const fn every(every: Duration) -> Self {
        Throttle {
            every,
            last: None,
            count: 0,
        }
    }

    /// Counts one; `Some(times since the last log, this one included)` when it is to be
    /// logged now.
    pub fn note(&mut self, now: Instant) -> Option<u64> {
        self.count += 1;
        if self
            .last
            .is_some_and(|at| now.saturating_duration_since(at) < self.every)
        {
            return None;
        }
        let times = self.count;
        (self.last, self.count) = (Some(now), 0);
        Some(times)
    }
}

pub fn init(format: LogFormat) {
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    let (filter, refused) = filter_of(&asked);
    let quiet = ClientGone {
        dropped: !names_rmcp(&asked),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LossyStderr)
        // Colours only for a person at a terminal: redirected to a file or a journal, escape
        // codes only get in the way of reading and searching the log.
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().finish().with(quiet).try_init(),
        LogFormat::Text => builder.finish().with(quiet).try_init(),
    };
    if let Some(why) = refused {
        tracing::warn!(rust_log = %asked, error = %why, "RUST_LOG is not a valid filter; logging at info");
    }
}

/// What rmcp logs at ERROR when an answer cannot be written because its client has gone: a
/// listen stream the client ended, a request whose caller hung up or timed out. Clients come
/// and go, so that is no fault of the server's, and a line for each at ERROR would bury the
/// ones that are.
const CLIENT_GONE: [&str; 2] = [
    "fail to response message",
    "failed to send pending response during drain",
];

/// Leaves out rmcp's [`CLIENT_GONE`] lines unless `RUST_LOG` names rmcp (`dropped` false).
struct ClientGone {
    dropped: bool,
}

impl<S: Subscriber> Layer<S> for ClientGone {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if !self.dropped || *meta.level() != Level::ERROR || !meta.target().starts_with("rmcp") {
            return true;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let gone = fields.error.is_some_and(|e| {
            GONE_ERRORS
                .iter()
                .any(|g| e.to_ascii_lowercase().contains(g))
        });
        !(gone
            && fields
                .message
                .is_some_and(|m| CLIENT_GONE.contains(&m.as_str())))
    }
}

/// What the error of a [`CLIENT_GONE`] line says when it is the other end that went (a
/// transport's channel closed, a pipe or connection broken): any other error is logged.
const GONE_ERRORS: [&str; 4] = ["closed", "broken pipe", "connection reset", "disconnected"];

/// An event's message and `error` field.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    error: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = Some(format!("{value:?}")),
            "error" => self.error = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

/// Stderr, whose write errors are dropped: a log that cannot be written (its reader gone, a
/// full disk) must not stop the work it tells of. tracing reports a failed write with
/// `eprintln!`, which panics on a broken stderr, and so took down whichever sender, writer or
/// task was logging.
struct LossyStderr;

impl std::io::Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// The filter `RUST_LOG` asks for, rmcp kept quiet, and why the value was refused if it was.
/// Unset, blank or not a filter is the default. `RUST_LOG=` (as `RUST_LOG=${RUST_LOG}` in a
/// compose file gives) parses as a filter with no rules, which would log nothing, errors
/// included.
fn filter_of(asked: &str) -> (EnvFilter, Option<String>) {
    const DEFAULT: &str = "info,tower_http=warn";
    let (filter, spec, refused) = match EnvFilter::try_new(asked) {
        // Blank, spaces or a tab alone too (which the filter's parser refuses).
        _ if asked.trim().is_empty() => (EnvFilter::new(DEFAULT), DEFAULT, None),
        Ok(filter) => (filter, asked, None),
        // A value that is not a filter is said once logging runs.
        Err(e) => (EnvFilter::new(DEFAULT), DEFAULT, Some(e.to_string())),
    };
    (quiet_rmcp(filter, spec), refused)
}

/// rmcp at `warn` unless `RUST_LOG` names it: at info it writes three lines for every stateless
/// `/mcp` request (a server set up and torn down), and at debug each tool call's arguments and
/// result, secrets and tokens included, which a general `RUST_LOG=debug` should not let in.
/// A filter whose level for other targets is quieter than that (`error`, `off`, or none at
/// all: `webhook_mcp=debug` alone) is left as it is, since the directive would make rmcp louder.
fn quiet_rmcp(filter: EnvFilter, spec: &str) -> EnvFilter {
    // The level for targets the filter does not name: its last directive without a target.
    let default = spec
        .split(',')
        .map(str::trim)
        .filter(|d| !d.contains('='))
        .filter_map(|d| d.parse::<LevelFilter>().ok())
        .next_back();
    let louder_than_warn = default.is_some_and(|level| level > LevelFilter::WARN);
    if names_rmcp(spec) || !louder_than_warn {
        return filter;
    }
    filter.add_directive("rmcp=warn".parse().expect("a valid directive"))
}

/// Whether a `RUST_LOG` value names rmcp as a target (`rmcp`, `rmcp::transport`), not as part
/// of another (`rmcp_macros`).
fn names_rmcp(spec: &str) -> bool {
    spec.split(',').any(|d| {
        let target = d.trim().split(['=', '[']).next().unwrap_or_default();
        target == "rmcp" || target.starts_with("rmcp::")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn storage_trouble_is_logged_once_in_a_while_with_its_count() {
        let start = Instant::now();
        let mut throttle = Throttle::every(Duration::from_secs(10));
        let at = |secs: u64| start + Duration::from_secs(secs);
        let logged: Vec<Option<u64>> = [0, 1, 2, 9, 10, 11, 25]
            .into_iter()
            .map(|secs| throttle.note(at(secs)))
            .collect();
        assert_eq!(
            logged,
            [Some(1), None, None, None, Some(4), None, Some(2)],
            "the first at once, then once per 10 s with the count since"
        );
    }

    use super::*;

    #[test]
    fn rust_log_unset_blank_or_unreadable_logs_at_info() {
        for asked in ["", " ", "info,[", "=debug="] {
            let (filter, _) = filter_of(asked);
            assert!(filter.to_string().contains("info"), "{asked:?}: {filter}");
        }
        assert!(filter_of("").1.is_none());
        assert!(
            filter_of(" \t").1.is_none(),
            "blank is no mistake to warn of"
        );
        assert!(filter_of("debug").0.to_string().contains("debug"));
    }

    #[test]
    fn rmcp_saying_a_client_has_gone_is_left_out_unless_rmcp_is_named() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Count(Arc<AtomicUsize>);
        impl<S: Subscriber> Layer<S> for Count {
            fn on_event(&self, _: &Event<'_>, _: Context<'_, S>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        for (dropped, written) in [(true, 4), (false, 6)] {
            let seen = Arc::new(AtomicUsize::new(0));
            let subscriber = tracing_subscriber::registry()
                .with(ClientGone { dropped })
                .with(Count(Arc::clone(&seen)));
            tracing::subscriber::with_default(subscriber, || {
                tracing::error!(target: "rmcp::service", error = "channel closed", "fail to response message");
                tracing::error!(target: "rmcp::service", error = "Broken pipe (os error 32)", "failed to send pending response during drain");
                // The same line for another fault is kept.
                tracing::error!(target: "rmcp::service", error = "serialization failed", "fail to response message");
                // Other errors of rmcp's, and the same words from elsewhere or at another level.
                tracing::error!(target: "rmcp::service", "fail to handle request");
                tracing::error!(target: "webhook_mcp::mcp", "fail to response message");
                tracing::warn!(target: "rmcp::service", "fail to response message");
            });
            assert_eq!(seen.load(Ordering::Relaxed), written, "dropped: {dropped}");
        }
    }

    #[test]
    fn rmcp_is_kept_at_warn_unless_named() {
        let cases = [
            ("info", true),
            ("debug", true),
            ("info,tower_http=warn", true),
            ("info,rmcp=debug", false),
            ("rmcp=info", false),
            // Quieter than warn already: a directive would make rmcp louder than asked.
            ("error", false),
            ("off", false),
            // Only the default counts: a louder target of our own leaves rmcp at `error`.
            ("error,webhook_mcp=debug", false),
            ("webhook_mcp=debug", false),
            ("webhook_mcp=debug,info", true),
            ("rmcp::transport=debug,info", false),
            // Another crate whose name starts alike does not name rmcp.
            ("debug,rmcp_macros=off", true),
        ];
        for (asked, quieted) in cases {
            let filter = quiet_rmcp(EnvFilter::new(asked), asked).to_string();
            assert_eq!(filter.contains("rmcp=warn"), quieted, "{asked}: {filter}");
        }
    }
}
