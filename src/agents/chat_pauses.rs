//! Chat API pauses: a refusal that is the configuration's (the runner's key refused, a model
//! unknown) pauses the calls it concerns, with a growing back-off, instead of each task being
//! run to the same refusal and failed. One call at a time looks again when a pause is over (a
//! probe); a call that works ends the pause.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::chat::Refused;

/// How pauses grow, and how long a task may be held by them before it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The first pause after a refusal.
    pub first: Duration,
    /// Each probe refused doubles the pause, up to this.
    pub longest: Duration,
    /// A task held longer than this (since the first refusal that held it) fails.
    pub limit: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            first: Duration::from_secs(30),
            longest: Duration::from_secs(600),
            limit: Duration::from_secs(24 * 3600),
        }
    }
}

/// What a pause holds back: every call (the key), or the calls of one model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Key,
    Model(String),
}

impl Scope {
    /// The scope a refusal of a call of `model` blames.
    pub fn of(refused: Refused, model: &str) -> Scope {
        match refused {
            Refused::Key => Scope::Key,
            Refused::Model => Scope::Model(model.to_string()),
        }
    }

    /// Whether the scope holds back the calls of `model` (none: an agent with no model,
    /// whose tasks fail without a call).
    pub fn holds(&self, model: Option<&str>) -> bool {
        match self {
            Scope::Key => true,
            Scope::Model(m) => model == Some(m.as_str()),
        }
    }

    /// What the chat API refuses, as a task's error says it.
    pub fn what(&self) -> String {
        match self {
            Scope::Key => "the runner's key".to_string(),
            Scope::Model(m) => format!("model `{m}`"),
        }
    }
}

/// Why a task a pause of `scope` holds back waits (its `error`), the chat API having said
/// `reason`.
pub fn held_note(scope: &Scope, reason: &str, timing: Timing) -> String {
    let reason = crate::quote::one_line(reason);
    // Not doubled after the API's own full stop (Open WebUI's "… Please sign in again.").
    let stop = crate::quote::full_stop(&reason);
    format!(
        "waiting, not failed: the chat API refuses {}: {reason}{stop} The tasks it concerns wait \
         until it is taken again (looked at again after {}, then less often, up to every {}; \
         /health shows the pause), and each fails if still refused {} after it was first held",
        scope.what(),
        span(timing.first),
        span(timing.longest),
        span(timing.limit)
    )
}

/// A duration as a person reads it: `30 s`, `10 min`, `24 h`.
pub fn span(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{} ms", d.as_millis()),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[derive(Debug, Clone)]
struct Pause {
    since: i64,
    until: i64,
    backoff: Duration,
    reason: String,
    /// A call is looking again (the pause was over when its task was claimed).
    probing: bool,
    /// The tasks a refusal gave back to the queue due when the pause is over, with that
    /// time (see `gave_back`).
    given_back: Vec<(String, i64)>,
}

/// A pause in force, as `/health` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PauseView {
    /// `key` or `model`.
    pub refused: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub since: String,
    /// When a call looks again.
    pub retry_at: String,
    pub error: String,
}

/// How a refusal changed the pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A pause begins (said once in the log).
    Started { until: i64 },
    /// The probe was refused: the pause is longer.
    Longer { until: i64 },
    /// Already paused by another call's refusal (calls that began before it).
    Held { until: i64 },
}

impl Refusal {
    pub fn until(self) -> i64 {
        match self {
            Refusal::Started { until } | Refusal::Longer { until } | Refusal::Held { until } => {
                until
            }
        }
    }
}

/// The pauses in force in this process (the runner's, shared with `/health` and `/metrics`).
#[derive(Debug)]
pub struct Pauses {
    timing: Timing,
    paused: Mutex<HashMap<Scope, Pause>>,
    /// Tasks may be marked held that no pause of this process holds (marked before a restart,
    /// or by a pause that ended): the next call that works lets them go.
    sweep: AtomicBool,
    /// The tasks given back by a refusal, with the time each was made due (its pause's end),
    /// of pauses that ended sooner: due now (see `take_freed`).
    freed: Mutex<Vec<(String, i64)>>,
}

impl Pauses {
    pub fn new(timing: Timing) -> Self {
        Pauses {
            timing,
            paused: Mutex::new(HashMap::new()),
            sweep: AtomicBool::new(true),
            freed: Mutex::new(Vec::new()),
        }
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Scope, Pause>> {
        // A panic while holding it leaves a map that is still whole.
        self.paused.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Of `agents` (names and the model each calls), those whose tasks may be claimed now: the
    /// ones no pause holds back, and, of a pause that is over with no call looking again yet,
    /// those it holds, the claim then being its probe.
    pub fn admit(&self, agents: &[(String, Option<String>)], now: i64) -> Admitted<'_> {
        let mut paused = self.lock();
        let mut probes: Vec<Scope> = Vec::new();
        let mut names = Vec::new();
        for (name, model) in agents {
            let mut free = true;
            for (scope, pause) in paused.iter_mut() {
                if !scope.holds(model.as_deref()) {
                    continue;
                }
                if probes.contains(scope) {
                    continue;
                }
                if pause.until <= now && !pause.probing {
                    pause.probing = true;
                    probes.push(scope.clone());
                } else {
                    free = false;
                }
            }
            if free {
                names.push(name.clone());
            }
        }
        Admitted {
            pauses: self,
            names,
            probe: Probe {
                pauses: self,
                scopes: probes,
            },
        }
    }

    /// Records that a call of `model` was refused for `scope`'s reason: a pause begins, or a
    /// probe's refusal makes it longer (doubled, up to the longest).
    pub fn refused(&self, probe: &mut Probe<'_>, scope: Scope, reason: &str, now: i64) -> Refusal {
        let mut paused = self.lock();
        let probed = probe.scopes.contains(&scope);
        probe.scopes.retain(|s| *s != scope);
        match paused.get_mut(&scope) {
            Some(pause) if probed => {
                pause.backoff = (pause.backoff * 2).min(self.timing.longest);
                pause.until = now + millis(pause.backoff);
                pause.reason = reason.to_string();
                pause.probing = false;
                Refusal::Longer { until: pause.until }
            }
            Some(pause) => Refusal::Held { until: pause.until },
            None => {
                let backoff = self.timing.first.min(self.timing.longest);
                let until = now + millis(backoff);
                paused.insert(
                    scope,
                    Pause {
                        since: now,
                        until,
                        backoff,
                        reason: reason.to_string(),
                        probing: false,
                        given_back: Vec::new(),
                    },
                );
                Refusal::Started { until }
            }
        }
    }

    /// Ends the key's pause, if there is one: a refusal of a model shows the key was read and
    /// taken. Whether there was.
    pub fn key_taken(&self) -> bool {
        let mut paused = self.lock();
        let Some(pause) = paused.remove(&Scope::Key) else {
            return false;
        };
        self.ended(pause);
        self.sweep.store(true, Ordering::SeqCst);
        true
    }

    /// What ends with a pause: the tasks given back due at its end are freed (the caller
    /// holds the pauses' lock, so a task given back meanwhile is not missed).
    fn ended(&self, pause: Pause) {
        if !pause.given_back.is_empty() {
            self.lock_freed().extend(pause.given_back);
        }
    }

    fn lock_freed(&self) -> std::sync::MutexGuard<'_, Vec<(String, i64)>> {
        self.freed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that a refusal of `scope` gave task `id` back to the queue due at `due`, its
    /// pause's end: if the pause ends sooner, the task is due then (`take_freed`). A pause
    /// that ended already (another call was taken while this one was given back) frees it
    /// at once.
    pub fn gave_back(&self, scope: &Scope, id: &str, due: i64, now: i64) {
        let mut paused = self.lock();
        match paused.get_mut(scope) {
            Some(pause) => {
                // Those due already wait for nothing: a pause's tasks are those of its
                // current back-off only, a few (the runs under way when it was refused).
                pause
                    .given_back
                    .retain(|(held, at)| *at > now && held != id);
                pause.given_back.push((id.to_string(), due));
            }
            None => self.lock_freed().push((id.to_string(), due)),
        }
    }

    /// The tasks given back due at the end of pauses that ended sooner, and the time each
    /// was made due, those still to come at `now`: they wait for nothing now (but another
    /// pause still in force). Taken once.
    pub fn take_freed(&self, now: i64) -> Vec<(String, i64)> {
        let mut freed = std::mem::take(&mut *self.lock_freed());
        freed.retain(|(_, due)| *due > now);
        freed
    }

    /// Records that a call of `model` was answered with something other than a refusal of
    /// the configuration (the key and the model were taken): the pauses holding it back end.
    /// The scopes whose pause ended.
    pub fn answered(&self, probe: &mut Probe<'_>, model: &str) -> Vec<Scope> {
        let mut paused = self.lock();
        let ended: Vec<Scope> = paused
            .keys()
            .filter(|scope| scope.holds(Some(model)))
            .cloned()
            .collect();
        for scope in &ended {
            if let Some(pause) = paused.remove(scope) {
                self.ended(pause);
            }
        }
        probe.scopes.retain(|s| !ended.contains(s));
        if !ended.is_empty() {
            self.sweep.store(true, Ordering::SeqCst);
        }
        ended
    }

    /// Whether tasks marked held may be waiting to be let go (see `sweep`); asked once, by a
    /// call that worked, which lets them go.
    pub fn take_sweep(&self) -> bool {
        self.sweep.swap(false, Ordering::SeqCst)
    }

    /// The tasks taken to let go could not be: the next call that works tries again.
    pub fn sweep_later(&self) {
        self.sweep.store(true, Ordering::SeqCst);
    }

    /// Whether a pause holds back the calls of `model` now.
    pub fn holds(&self, model: Option<&str>) -> bool {
        self.lock().keys().any(|scope| scope.holds(model))
    }

    /// Why a task whose agent calls `model` waits, when a pause in force holds it back (the
    /// key's before a model's): as a refusal marks the tasks it holds (`held_note`).
    pub fn held_note(&self, model: Option<&str>) -> Option<String> {
        let paused = self.lock();
        let (scope, pause) = paused
            .iter()
            .filter(|(scope, _)| scope.holds(model))
            .min_by_key(|(scope, _)| matches!(scope, Scope::Model(_)))?;
        Some(held_note(scope, &pause.reason, self.timing))
    }

    /// When the next pause still running at `now` is over, if one is.
    pub fn next_over(&self, now: i64) -> Option<i64> {
        self.lock()
            .values()
            .map(|p| p.until)
            .filter(|until| *until > now)
            .min()
    }

    /// The pauses in force, the key's first, then by model.
    pub fn views(&self) -> Vec<PauseView> {
        let paused = self.lock();
        let mut views: Vec<PauseView> = paused
            .iter()
            .map(|(scope, pause)| PauseView {
                refused: match scope {
                    Scope::Key => "key",
                    Scope::Model(_) => "model",
                },
                model: match scope {
                    Scope::Key => None,
                    Scope::Model(m) => Some(m.clone()),
                },
                since: crate::clock::rfc3339(pause.since),
                retry_at: crate::clock::rfc3339(pause.until),
                error: pause.reason.clone(),
            })
            .collect();
        views.sort_by(|a, b| (a.refused, &a.model).cmp(&(b.refused, &b.model)));
        views
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The agents a claim may take a task of, and the pauses it probes.
pub struct Admitted<'a> {
    pauses: &'a Pauses,
    pub names: Vec<String>,
    probe: Probe<'a>,
}

impl<'a> Admitted<'a> {
    /// Whether the claim looks again for a pause that is over.
    pub fn probing(&self) -> bool {
        self.probe.probing()
    }

    /// The claim found no task to look again with (those held were cancelled, or failed):
    /// the pauses it looked for end, or `/health` would show them for ever with nothing
    /// left to try. A task queued later finds out afresh. The scopes ended.
    pub fn nothing_to_probe(self) -> Vec<Scope> {
        let mut probe = self.probe;
        let scopes = std::mem::take(&mut probe.scopes);
        let mut paused = self.pauses.lock();
        for scope in &scopes {
            if let Some(pause) = paused.remove(scope) {
                self.pauses.ended(pause);
            }
        }
        if !scopes.is_empty() {
            // Tasks marked held and not due yet (waiting to retry) are let go by the next
            // call that works.
            self.pauses.sweep.store(true, Ordering::SeqCst);
        }
        scopes
    }

    /// The probe of the task claimed (of `model`): the pauses over that hold it back. Those
    /// it does not concern are left for another claim to probe.
    pub fn probe_for(self, model: Option<&str>) -> Probe<'a> {
        let mut probe = self.probe;
        let (kept, others): (Vec<Scope>, Vec<Scope>) = std::mem::take(&mut probe.scopes)
            .into_iter()
            .partition(|scope| scope.holds(model));
        self.pauses.let_probe_go(&others, false);
        probe.scopes = kept;
        probe
    }
}

/// The pauses a run is looking again for. Dropped unresolved (no task of theirs claimed, or
/// no call made), another claim may look at once.
pub struct Probe<'a> {
    pauses: &'a Pauses,
    scopes: Vec<Scope>,
}

impl Probe<'_> {
    /// Whether this run looks again for a pause (it was over when its task was claimed).
    pub fn probing(&self) -> bool {
        !self.scopes.is_empty()
    }

    /// The call made heard nothing of the key or the model (a timeout, a 5xx): the pauses it
    /// looked for wait as long again before the next look, rather than have claim after claim
    /// look at once.
    pub fn heard_nothing(&mut self) {
        let scopes = std::mem::take(&mut self.scopes);
        self.pauses.let_probe_go(&scopes, true);
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        let scopes = std::mem::take(&mut self.scopes);
        self.pauses.let_probe_go(&scopes, false);
    }
}

impl Pauses {
    /// Ends the looks again of `scopes`; `wait` puts the next one a back-off away (this one
    /// found nothing out), else it may be made at once (this claim took no task it concerns).
    fn let_probe_go(&self, scopes: &[Scope], wait: bool) {
        if scopes.is_empty() {
            return;
        }
        let now = crate::clock::now_ms();
        let mut paused = self.lock();
        for scope in scopes {
            if let Some(pause) = paused.get_mut(scope) {
                pause.probing = false;
                if wait {
                    pause.until = pause.until.max(now + millis(pause.backoff));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> Timing {
        Timing {
            first: Duration::from_secs(30),
            longest: Duration::from_secs(100),
            limit: Duration::from_secs(3600),
        }
    }

    fn agents() -> Vec<(String, Option<String>)> {
        vec![
            ("planning".into(), Some("gone".into())),
            ("triage".into(), Some("llama".into())),
        ]
    }

    #[test]
    fn a_refused_model_holds_back_its_agents_only_and_one_probe_looks_again() {
        let pauses = Pauses::new(timing());
        let mut probe = pauses.admit(&agents(), 0).probe_for(Some("gone"));

        let first = pauses.refused(&mut probe, Scope::Model("gone".into()), "404", 0);

        assert_eq!(first, Refusal::Started { until: 30_000 });
        assert_eq!(pauses.admit(&agents(), 1_000).names, ["triage"]);
        // Over: one claim probes it, and the next claims do not while it looks.
        let probing = pauses.admit(&agents(), 30_000);
        assert_eq!(probing.names, ["planning", "triage"]);
        let mut probe = probing.probe_for(Some("gone"));
        assert!(probe.probing());
        assert_eq!(pauses.admit(&agents(), 30_001).names, ["triage"]);
        // Refused again: twice as long, then no longer than the longest.
        let again = pauses.refused(&mut probe, Scope::Model("gone".into()), "404", 30_000);
        assert_eq!(again, Refusal::Longer { until: 90_000 });
        let mut probe = pauses.admit(&agents(), 90_000).probe_for(Some("gone"));
        let longest = pauses.refused(&mut probe, Scope::Model("gone".into()), "404", 90_000);
        assert_eq!(longest, Refusal::Longer { until: 190_000 });
    }

    #[test]
    fn a_refused_key_holds_back_every_agent_until_a_call_works() {
        let pauses = Pauses::new(timing());
        let mut probe = pauses.admit(&agents(), 0).probe_for(Some("llama"));
        pauses.refused(&mut probe, Scope::Key, "401", 0);
        // A call that began before the pause, refused too, does not lengthen it.
        let mut late = pauses.admit(&[], 0).probe_for(Some("gone"));
        let held = pauses.refused(&mut late, Scope::Key, "401", 5);
        assert_eq!(held, Refusal::Held { until: 30_000 });
        assert!(pauses.admit(&agents(), 29_999).names.is_empty());
        assert_eq!(pauses.views()[0].refused, "key");
        assert!(
            pauses.take_sweep(),
            "at start, tasks may be marked from before"
        );
        assert!(!pauses.take_sweep());

        let mut probe = pauses.admit(&agents(), 30_000).probe_for(Some("llama"));
        let ended = pauses.answered(&mut probe, "llama");

        assert_eq!(ended, [Scope::Key]);
        assert_eq!(pauses.count(), 0);
        assert_eq!(pauses.admit(&agents(), 30_001).names.len(), 2);
        assert!(pauses.take_sweep(), "the tasks it held are let go");
    }

    #[test]
    fn a_pause_with_nothing_left_to_probe_ends_and_a_model_refusal_ends_the_keys() {
        let pauses = Pauses::new(timing());
        let mut probe = pauses.admit(&agents(), 0).probe_for(Some("gone"));
        pauses.refused(&mut probe, Scope::Model("gone".into()), "404", 0);
        drop(probe);
        let mut probe = pauses.admit(&agents(), 0).probe_for(Some("llama"));
        pauses.refused(&mut probe, Scope::Key, "401", 0);
        drop(probe);
        pauses.take_sweep();

        let probing = pauses.admit(&agents(), 30_000);
        assert!(probing.probing());
        let ended = probing.nothing_to_probe();

        assert_eq!(ended.len(), 2, "{ended:?}");
        assert_eq!(pauses.count(), 0);
        assert!(pauses.take_sweep());
        let mut probe = pauses.admit(&agents(), 30_000).probe_for(Some("llama"));
        pauses.refused(&mut probe, Scope::Key, "401", 30_000);
        assert!(pauses.key_taken());
        assert!(!pauses.key_taken());
        assert_eq!(pauses.count(), 0);
    }

    #[test]
    fn a_probe_that_hears_nothing_waits_a_back_off_and_one_not_made_lets_another_look() {
        let pauses = Pauses::new(timing());
        let mut probe = pauses.admit(&agents(), 0).probe_for(Some("gone"));
        pauses.refused(&mut probe, Scope::Model("gone".into()), "404", 0);
        drop(probe);

        // A claim that took another agent's task leaves the probe to the next claim.
        let other = pauses.admit(&agents(), 30_000).probe_for(Some("llama"));
        assert!(!other.probing());
        let mut probe = pauses.admit(&agents(), 30_000).probe_for(Some("gone"));
        assert!(probe.probing());
        // A probe that heard nothing (a timeout) waits a back-off from now.
        probe.heard_nothing();
        let now = crate::clock::now_ms();
        assert!(pauses.next_over(now - 1).is_some_and(|at| at >= now));
        assert_eq!(pauses.admit(&agents(), 30_000).names, ["triage"]);
    }

    #[test]
    fn spans_read_in_the_largest_whole_unit() {
        let cases = [
            (30, "30 s"),
            (600, "10 min"),
            (86_400, "24 h"),
            (90, "90 s"),
        ];
        for (secs, want) in cases {
            assert_eq!(span(Duration::from_secs(secs)), want);
        }
        assert_eq!(span(Duration::from_millis(300)), "300 ms");
    }

    #[test]
    fn the_tasks_a_pause_gave_back_are_freed_when_it_ends_sooner() {
        let pauses = Pauses::new(timing());
        let mut probe = pauses.admit(&agents(), 0).probe_for(Some("llama"));
        let until = pauses.refused(&mut probe, Scope::Key, "401", 0).until();
        pauses.gave_back(&Scope::Key, "t1", until, 0);
        assert!(
            pauses.take_freed(0).is_empty(),
            "held while the pause lasts"
        );

        // A call that began before the pause is answered: the key is taken.
        let mut earlier = pauses.admit(&[], 10).probe_for(Some("llama"));
        pauses.answered(&mut earlier, "llama");

        assert_eq!(pauses.take_freed(10), [("t1".to_string(), 30_000)]);
        assert!(pauses.take_freed(10).is_empty(), "taken once");
        // Given back once its pause ended: freed at once; one due already waits for nothing.
        pauses.gave_back(&Scope::Key, "t2", 30_000, 20);
        pauses.gave_back(&Scope::Key, "t3", 15, 20);
        assert_eq!(pauses.take_freed(20), [("t2".to_string(), 30_000)]);
    }

    #[test]
    fn a_task_held_by_the_key_and_its_model_says_the_keys_pause() {
        let pauses = Pauses::new(timing());
        let mut probe = pauses.admit(&agents(), 0).probe_for(Some("gone"));
        pauses.refused(
            &mut probe,
            Scope::Model("gone".into()),
            "Model not found",
            0,
        );
        assert!(pauses.held_note(Some("llama")).is_none());
        let gone = pauses.held_note(Some("gone")).expect("held");
        assert!(
            gone.starts_with(
                "waiting, not failed: the chat API refuses model `gone`: Model not found."
            ),
            "{gone}"
        );
        pauses.refused(&mut probe, Scope::Key, "Invalid token", 0);

        let key = pauses.held_note(Some("gone")).expect("held");

        assert!(
            key.contains("refuses the runner's key: Invalid token"),
            "{key}"
        );
        assert!(
            key.contains("after 30 s") && key.contains("every 100 s"),
            "{key}"
        );
        assert!(
            key.ends_with("still refused 1 h after it was first held"),
            "{key}"
        );
    }
}
