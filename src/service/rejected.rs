//! What is kept of requests that fail verification. Anyone who knows a webhook's URL can send
//! them, so each keeps only the start of its body (its size and digest say what came), and
//! each webhook keeps only its newest ones: the log helps debug a signing mismatch without
//! being free storage for whoever finds the URL.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use sha2::{Digest, Sha256};

use crate::store::events::Truncation;

/// The start of a rejected body that is kept: enough to see which payload it was.
pub const BODY_KEEP: usize = 4 * 1024;

/// Headers of a rejected request are kept up to this much in all (an accepted one's, more).
pub const HEADERS_KEEP: usize = 8 * 1024;

/// The body kept of a rejected request, and what was cut from it, if anything.
pub fn kept_body(body: &Bytes) -> (Bytes, Option<Truncation>) {
    if body.len() <= BODY_KEEP {
        return (body.clone(), None);
    }
    let truncation = Truncation {
        received_size: body.len() as i64,
        received_sha256: hex::encode(Sha256::digest(body)),
    };
    (body.slice(..BODY_KEEP), Some(truncation))
}

/// When a webhook's old rejected events are let go. Pruning walks the newest `keep` of them,
/// so it runs once per `keep / 16` rejections (or each one, for a small `keep`): its cost is
/// spread thin over the rejections that cause it, and the accepted path never pays it. A
/// webhook may hold that many more than `keep` between two prunes.
#[derive(Debug)]
pub struct Pruning {
    keep: u32,
    every: u32,
    /// Rejections per webhook since its last prune. Only webhooks that exist get here, and a
    /// deleted one's go, so it grows no larger than their number.
    since: Mutex<HashMap<String, u32>>,
    /// Rejections per webhook since its last log line: anyone with a URL can send them, and
    /// each would otherwise be a line of the log.
    logged: Mutex<HashMap<String, super::limits::Refusals>>,
}

impl Pruning {
    pub fn new(keep: u32) -> Self {
        let keep = keep.max(1);
        Pruning {
            keep,
            every: (keep / 16).max(1),
            since: Mutex::new(HashMap::new()),
            logged: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets a deleted webhook's counts.
    pub fn forget(&self, webhook_id: &str) {
        self.since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(webhook_id);
        self.logged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(webhook_id);
    }

    /// Counts one rejection of `webhook_id` for the log; how many there were since its last
    /// line, when it is time for the next (the first at once, then one per ten seconds).
    pub fn log_due(&self, webhook_id: &str) -> Option<u64> {
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        logged
            .entry(webhook_id.to_string())
            .or_default()
            .count(std::time::Instant::now())
    }

    /// Each webhook with rejections counted since its last line, once it is time for the
    /// next, and how many: told without waiting for another rejection, which may not come.
    pub fn overdue(&self, now: std::time::Instant) -> Vec<(String, u64)> {
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        logged
            .iter_mut()
            .filter_map(|(webhook, refusals)| Some((webhook.clone(), refusals.overdue(now)?)))
            .collect()
    }

    /// How many rejected events a webhook keeps.
    pub fn keep(&self) -> u32 {
        self.keep
    }

    /// How many one prune lets go at most: twice what comes between two, so a backlog shrinks
    /// by at least as much again each time.
    pub fn at_most(&self) -> u32 {
        self.every.saturating_mul(2).max(256)
    }

    /// Counts one rejection of `webhook_id`; true when it is time to prune that webhook.
    pub fn due(&self, webhook_id: &str) -> bool {
        let mut since = self.since.lock().expect("pruning counts poisoned");
        let count = since.entry(webhook_id.to_string()).or_default();
        *count += 1;
        if *count >= self.every {
            *count = 0;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_body_is_kept_whole_and_a_large_one_by_its_start_size_and_digest() {
        let small = Bytes::from_static(b"{\"a\":1}");
        assert_eq!(kept_body(&small), (small.clone(), None));

        let large = Bytes::from(vec![b'x'; BODY_KEEP + 1]);
        let (kept, truncation) = kept_body(&large);
        assert_eq!(kept.len(), BODY_KEEP);
        let truncation = truncation.expect("cut");
        assert_eq!(truncation.received_size, BODY_KEEP as i64 + 1);
        assert_eq!(
            truncation.received_sha256,
            hex::encode(Sha256::digest(&large[..]))
        );
    }

    #[test]
    fn pruning_comes_once_per_sixteenth_of_what_is_kept_and_per_webhook() {
        let small = Pruning::new(3);
        assert!((0..5).all(|_| small.due("a")));
        let large = Pruning::new(1000);
        let dues = (0..124).filter(|_| large.due("a")).count();
        assert_eq!(dues, 2);
        assert!(!large.due("b"), "another webhook counts on its own");
        assert_eq!(Pruning::new(0).keep(), 1);
        let logs: Vec<Option<u64>> = (0..3).map(|_| large.log_due("a")).collect();
        assert_eq!(logs, [Some(1), None, None], "one line, then counted");
        assert_eq!(
            large.log_due("b"),
            Some(1),
            "another webhook logs on its own"
        );
        let later = std::time::Instant::now() + super::super::limits::REFUSAL_LOG_EVERY;
        assert_eq!(
            large.overdue(later),
            [("a".to_string(), 2)],
            "the two counted after the line, told once its time is up"
        );
        assert!(large.overdue(later).is_empty());
        large.forget("a");
        assert!(!large.since.lock().unwrap().contains_key("a"));
        assert_eq!(large.log_due("a"), Some(1), "counted anew once forgotten");
        assert_eq!(large.at_most(), 256);
        assert_eq!(Pruning::new(100_000).at_most(), 12_500);
    }
}
