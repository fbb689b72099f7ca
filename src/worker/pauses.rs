//! Hosts paused by a rate limit: after one send to a host hears that a limit was reached (a
//! 429, GitHub's rate-limit 403, Slack's `ratelimited`), every other action queued for that
//! host would only spend a request to hear the same. Until the wait the answer named is over,
//! its rows are passed over when claiming, as a host at its share is (`hosts`): not sent, not
//! failed, no attempt counted; other hosts are served meanwhile.
//!
//! Keyed by the row's host (`OutboxRow::host`), which is what a claim can pass over in SQL:
//! the token a row is sent with is only known once its webhook's credentials are opened,
//! after the claim. That host already tells the operator's API of a provider from a webhook's
//! own (a GitHub Enterprise server, another Jira site), so one server's limit holds up only
//! that server's actions; actions of webhooks with tokens of their own on the same server wait
//! with the rest. In memory: each process sharing a database hears its own answers.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The longest a host is paused for: a target's wait is taken as at most a day, as a row's
/// own is (`worker::judge`).
const LONGEST: Duration = Duration::from_secs(24 * 3600);

/// Each paused host and when its pause ends.
#[derive(Default)]
pub struct Pauses(Mutex<HashMap<String, Instant>>);

impl Pauses {
    /// Pauses `host` for `wait` from now, unless it is paused longer already.
    pub fn pause(&self, host: &str, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        let until = Instant::now() + wait.min(LONGEST);
        let mut paused = self.lock();
        let end = paused.entry(host.to_string()).or_insert(until);
        *end = (*end).max(until);
    }

    /// The hosts paused now; those whose pause is over are let go.
    pub fn paused(&self) -> Vec<String> {
        let now = Instant::now();
        let mut paused = self.lock();
        paused.retain(|_, until| *until > now);
        paused.keys().cloned().collect()
    }

    /// How long `host` stays paused, if it is: shown on its actions, which wait it out.
    pub fn left(&self, host: &str) -> Option<Duration> {
        let until = *self.lock().get(host)?;
        until
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
    }

    /// When the next pause ends, if any host is paused: idle senders look again then, as no
    /// row falling due would wake them for it.
    pub fn next_end(&self) -> Option<Instant> {
        let now = Instant::now();
        self.lock().values().copied().filter(|end| *end > now).min()
    }

    /// The map holds whole entries only, so one a panicking sender left is still right.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_paused_for_the_longest_wait_it_was_given_then_let_go() {
        let pauses = Pauses::default();
        assert!(pauses.paused().is_empty());
        assert_eq!(pauses.next_end(), None);

        pauses.pause("github", Duration::from_millis(80));
        pauses.pause("github", Duration::from_millis(10));
        pauses.pause("slack", Duration::ZERO);
        assert_eq!(pauses.paused(), ["github"]);
        let end = pauses.next_end().expect("a pause");
        assert!(end >= Instant::now() + Duration::from_millis(50), "{end:?}");
        let left = pauses.left("github").expect("paused");
        assert!(left > Duration::from_millis(50) && left <= Duration::from_millis(80));
        assert_eq!(pauses.left("slack"), None);

        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(pauses.left("github"), None);
        assert!(pauses.paused().is_empty());
        assert_eq!(pauses.next_end(), None);
    }

    #[test]
    fn a_wait_past_a_day_pauses_for_a_day() {
        let pauses = Pauses::default();
        pauses.pause("github", Duration::MAX);
        let end = pauses.next_end().expect("a pause");
        assert!(end <= Instant::now() + LONGEST, "{end:?}");
    }
}
