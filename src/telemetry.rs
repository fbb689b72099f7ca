//! Structured logs on stderr via tracing: `RUST_LOG` filters, `--log-format json` for
//! collectors. Stdout stays free (the stdio MCP transport will need it).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    let (mut filter, refused) = match EnvFilter::try_from_default_env() {
        Ok(filter) => (filter, None),
        Err(e) => (
            EnvFilter::new("info,tower_http=warn"),
            // Unset is the default; a value that is not a filter is said once logging runs.
            (!asked.trim().is_empty()).then(|| e.to_string()),
        ),
    };
    // rmcp logs each tool call's arguments and result at debug, secrets and tokens included; a
    // general `RUST_LOG=debug` should not write those to the log. Naming rmcp still lets them in.
    let verbose = filter
        .max_level_hint()
        .is_some_and(|level| level > tracing_subscriber::filter::LevelFilter::INFO);
    if verbose && !asked.contains("rmcp") {
        filter = filter.add_directive("rmcp=info".parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: redirected to a file or a journal, escape
        // codes only get in the way of reading and searching the log.
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if let Some(why) = refused {
        tracing::warn!(rust_log = %asked, error = %why, "RUST_LOG is not a valid filter; logging at info");
    }
}
