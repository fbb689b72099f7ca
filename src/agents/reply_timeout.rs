//! The reply-timeout sweeper: ends tasks that waited longer than `WEBHOOK_MCP_REPLY_TIMEOUT`
//! for an answer to their question. It runs in every process, with or without the built-in
//! runner, since external agents ask questions too.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::clock;
use crate::config::{Config, parse_duration};
use crate::store::tasks;

/// The configured reply timeout.
pub fn of(config: &Config) -> Result<Duration, String> {
    let timeout = parse_duration(&config.agents.reply_timeout)
        .map_err(|e| format!("WEBHOOK_MCP_REPLY_TIMEOUT: {e}"))?;
    // Zero would fail every question the moment it is posted; someone writing it more likely
    // meant "never", which a long timeout gives.
    if timeout < Duration::from_secs(1) {
        return Err(format!(
            "WEBHOOK_MCP_REPLY_TIMEOUT: `{}` is less than a second; give how long a question \
             waits for its answer (e.g. 7d; at most 3650d for a wait without end)",
            config.agents.reply_timeout
        ));
    }
    Ok(timeout)
}

/// How often to look: a quarter of the timeout, between 1 s and 1 min, so a short timeout is
/// kept closely and a long one costs one query a minute.
fn interval(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Fails overdue waiting tasks until `stop`. Several processes on one database may all sweep:
/// the update is idempotent.
pub async fn run(state: AppState, timeout: Duration, stop: CancellationToken) {
    loop {
        let now = clock::now_ms();
        let cutoff = now - timeout.as_millis() as i64;
        match state
            .store
            .write(move |db| tasks::expire_waiting(db, cutoff, now))
            .await
        {
            Ok(n) if n > 0 => tracing::info!(tasks = n, "tasks timed out waiting for a reply"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "reply timeout sweep failed"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval(timeout)) => {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_interval_follows_the_timeout_within_bounds() {
        let cases = [
            (Duration::from_millis(500), Duration::from_secs(1)),
            (Duration::from_secs(20), Duration::from_secs(5)),
            (Duration::from_secs(7 * 86_400), Duration::from_secs(60)),
        ];
        for (timeout, expected) in cases {
            assert_eq!(interval(timeout), expected, "{timeout:?}");
        }
    }

    #[test]
    fn a_timeout_under_a_second_is_refused_at_start() {
        let with = |given: &str| {
            let mut config = Config::for_tests("unused.db".into());
            config.agents.reply_timeout = given.into();
            of(&config)
        };
        for zero in ["0", "0s", "0m"] {
            let refused = with(zero).expect_err(zero);
            assert!(refused.contains("WEBHOOK_MCP_REPLY_TIMEOUT"), "{refused}");
        }
        assert_eq!(with("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(with("7d"), Ok(Duration::from_secs(7 * 86_400)));
    }
}
