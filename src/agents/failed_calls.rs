//! The runner's chat calls that the chat API answered with an error, kept for a minute, so
//! that Open WebUI's report of each (`model.provider_request.failed`, sent to its event
//! webhooks when a model's provider fails a call) is known for the runner's own when it comes
//! back to an Open WebUI webhook here. A command that starts a task on that report would
//! otherwise, with the runner calling the same Open WebUI, start a task per failure of its own
//! calls, each failing and reported again, without end.

use std::collections::VecDeque;
use std::sync::Mutex;

/// How long after a failed call its report may come: Open WebUI sends it at once, in the
/// background.
const WINDOW_MS: i64 = 60_000;

/// At most this many calls are kept (a burst of failures across many workers).
const KEPT: usize = 4096;

/// Failed calls not yet matched with a report: the model called, and when.
#[derive(Debug, Default)]
pub struct FailedCalls {
    calls: Mutex<VecDeque<(String, i64)>>,
}

impl FailedCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, i64)>> {
        // A panic while holding it leaves a queue that is still whole.
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A call of `model` was answered with an error at `now`.
    pub fn failed(&self, model: &str, now: i64) {
        let mut calls = self.lock();
        if calls.len() == KEPT {
            calls.pop_front();
        }
        calls.push_back((model.to_string(), now));
    }

    /// Whether a report, at `now`, of a failed call of `model` is of one of the runner's
    /// calls: one not matched yet, of the last minute. Each call matches one report, so a
    /// person's failed chat beside the runner's failures is reported as theirs.
    pub fn reported(&self, model: &str, now: i64) -> bool {
        let mut calls = self.lock();
        while calls
            .front()
            .is_some_and(|(_, at)| now.saturating_sub(*at) > WINDOW_MS)
        {
            calls.pop_front();
        }
        match calls.iter().position(|(m, _)| m == model) {
            Some(at) => {
                calls.remove(at);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failed_call_matches_one_report_of_its_model_within_a_minute() {
        let calls = FailedCalls::default();
        calls.failed("llama", 1_000);
        calls.failed("llama", 2_000);
        calls.failed("gpt", 3_000);

        let reports = [
            ("gpt", 3_500, true),
            ("gpt", 3_600, false),
            ("llama", 4_000, true),
            // The second call's report, past the minute: too late to be its.
            ("llama", 62_001, false),
        ];
        for (model, at, ours) in reports {
            assert_eq!(calls.reported(model, at), ours, "{model} at {at}");
        }
    }
}
