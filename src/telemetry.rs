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
    filter = quiet_rmcp(filter, &asked);
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
/// A filter quieter than that (`error`, `off`) is left as it is.
fn quiet_rmcp(filter: EnvFilter, asked: &str) -> EnvFilter {
    let louder_than_warn = filter
        .max_level_hint()
        .is_some_and(|level| level > tracing_subscriber::filter::LevelFilter::WARN);
    if asked.contains("rmcp") || !louder_than_warn {
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
        ];
        for (asked, quieted) in cases {
            let filter = quiet_rmcp(EnvFilter::new(asked), asked).to_string();
            assert_eq!(filter.contains("rmcp=warn"), quieted, "{asked}: {filter}");
        }
    }
}
