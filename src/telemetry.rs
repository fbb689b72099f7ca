//! Structured logs on stderr via tracing: `RUST_LOG` filters, `--log-format json` for
//! collectors. Stdout stays free (the stdio MCP transport will need it).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    const DEFAULT: &str = "info,tower_http=warn";
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    let (filter, spec, refused) = match EnvFilter::try_from_default_env() {
        Ok(filter) => (filter, asked.as_str(), None),
        Err(e) => (
            EnvFilter::new(DEFAULT),
            DEFAULT,
            // Unset is the default; a value that is not a filter is said once logging runs.
            (!asked.trim().is_empty()).then(|| e.to_string()),
        ),
    };
    let filter = quiet_rmcp(filter, spec);
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
    if spec.contains("rmcp") || !louder_than_warn {
        return filter;
    }
    filter.add_directive("rmcp=warn".parse().expect("a valid directive"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ];
        for (asked, quieted) in cases {
            let filter = quiet_rmcp(EnvFilter::new(asked), asked).to_string();
            assert_eq!(filter.contains("rmcp=warn"), quieted, "{asked}: {filter}");
        }
    }
}
