//! The senders' share per target host: a host whose sends are slow (a target that answers
//! only at the timeout) holds at most its share of them, and the others keep serving every
//! other host. Counted in memory: claims are leased, so each process sharing a database
//! counts its own sends. A host paused by a rate limit (`pauses`) is passed over the same way.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::pauses::Pauses;

/// The hosts this process is sending to.
pub struct InFlight {
    /// How many sends one host may have at once.
    share: usize,
    /// Past this many sends in all, only a host with none in flight may take another: the
    /// last sender is kept for the hosts that are not busy, so two slow hosts with half each
    /// cannot hold every sender. `None` with a single sender.
    reserve_from: Option<usize>,
    next_claim: AtomicU64,
    /// Each claim's host, rather than a count per host: a claim's write may run again (when
    /// another write of its batch fails), and must not then count its row twice.
    hosts: Mutex<HashMap<u64, String>>,
    /// The idle senders' wake-up: a host back under its share has rows they passed over.
    wake: Arc<Notify>,
    /// Rows whose send is over and whose record could not be written yet: their result is
    /// known here, so they are not taken up again when their lease runs out meanwhile (a full
    /// disk outlasting it leaves no write to renew it with, and once writes go in again
    /// another sender's claim may come before the record).
    unrecorded: Mutex<HashSet<String>>,
    /// Hosts whose last send from here heard no answer (a timeout): the last sender is not
    /// kept for them, or three hanging hosts would take every sender in turn.
    stalled: Mutex<HashSet<String>>,
    /// Hosts that answered that a rate limit was reached, until its wait is over.
    pauses: Pauses,
}

impl InFlight {
    /// Half the senders per host (at least one): a single busy host (most servers talk to one
    /// GitHub) still sends in parallel, and the other half stays free for the other hosts
    /// whatever one host does. A fixed share would not follow the concurrency asked for.
    pub fn new(concurrency: usize, wake: Arc<Notify>) -> Self {
        InFlight {
            share: (concurrency / 2).max(1),
            reserve_from: (concurrency >= 2).then(|| concurrency - 1),
            next_claim: AtomicU64::new(0),
            hosts: Mutex::new(HashMap::new()),
            wake,
            unrecorded: Mutex::new(HashSet::new()),
            stalled: Mutex::new(HashSet::new()),
            pauses: Pauses::default(),
        }
    }

    /// The hosts whose share is taken, or which are paused: their due rows are passed over.
    pub fn full(&self) -> Vec<String> {
        self.full_but(None)
    }

    /// Passes `host`'s rows over for `wait` (a rate limit's), see `pauses`.
    pub fn pause(&self, host: &str, wait: Duration) {
        self.pauses.pause(host, wait);
    }

    /// How long `host` stays paused by a rate limit, if it is.
    pub fn paused_for(&self, host: &str) -> Option<Duration> {
        self.pauses.left(host)
    }

    /// When the next paused host is let go, if one is paused.
    pub fn next_resume(&self) -> Option<Instant> {
        self.pauses.next_end()
    }

    /// A claim about to be made. Its row's host counts from `hold` until it is dropped, which
    /// is when its send is over (or the sender that made it panicked).
    pub fn claim(self: &Arc<Self>) -> Claim {
        Claim {
            in_flight: Arc::clone(self),
            id: self.next_claim.fetch_add(1, Relaxed),
        }
    }

    /// The rows sent by this process whose record is still to be written: never claimed.
    pub fn unrecorded(&self) -> Vec<String> {
        let rows = self.unrecorded.lock().unwrap_or_else(|e| e.into_inner());
        rows.iter().cloned().collect()
    }

    fn full_but(&self, claim: Option<u64>) -> Vec<String> {
        let mut counts = HashMap::<&str, usize>::new();
        let hosts = self.hosts();
        for (_, host) in hosts.iter().filter(|(id, _)| Some(**id) != claim) {
            *counts.entry(host).or_default() += 1;
        }
        let total: usize = counts.values().sum();
        let reserved = self.reserve_from.is_some_and(|from| total >= from);
        let mut full: Vec<String> = counts
            .into_iter()
            .filter(|(_, n)| *n >= self.share || reserved)
            .map(|(host, _)| host.to_string())
            .collect();
        if reserved {
            let stalled = self.stalled.lock().unwrap_or_else(|e| e.into_inner());
            full.extend(
                stalled
                    .iter()
                    .filter(|h| !full.contains(h))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
        for host in self.pauses.paused() {
            if !full.contains(&host) {
                full.push(host);
            }
        }
        full
    }

    /// The map holds whole entries only, so one a panicking sender left is still right.
    fn hosts(&self) -> MutexGuard<'_, HashMap<u64, String>> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One sender's claim on a row, and on a place in its host's share.
pub struct Claim {
    in_flight: Arc<InFlight>,
    id: u64,
}

impl Claim {
    /// The hosts this claim passes over; its own host from an earlier run of its write is not
    /// counted against it.
    pub fn full(&self) -> Vec<String> {
        self.in_flight.full_but(Some(self.id))
    }

    /// The claimed row `id` was sent and its record could not be written yet: it is passed
    /// over (see `InFlight::unrecorded`) until this claim is dropped.
    pub fn unrecorded(&self, id: &str) -> Unrecorded {
        let in_flight = Arc::clone(&self.in_flight);
        let mut rows = in_flight
            .unrecorded
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        rows.insert(id.to_string());
        drop(rows);
        Unrecorded {
            in_flight,
            id: id.to_string(),
        }
    }

    /// Records how the send to `host` ended: `answered` unless it timed out unanswered.
    pub fn heard(&self, host: &str, answered: bool) {
        let mut stalled = self
            .in_flight
            .stalled
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if answered {
            stalled.remove(host);
        } else {
            stalled.insert(host.to_string());
        }
    }

    /// Counts the claimed row against its host; `None` when nothing was claimed.
    pub fn hold(&self, host: Option<&str>) {
        let mut hosts = self.in_flight.hosts();
        match host {
            Some(host) => hosts.insert(self.id, host.to_string()),
            None => hosts.remove(&self.id),
        };
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let in_flight = &self.in_flight;
        let was_full = {
            let mut hosts = in_flight.hosts();
            hosts.remove(&self.id).is_some_and(|host| {
                hosts.values().filter(|h| **h == host).count() + 1 == in_flight.share
                    || in_flight.reserve_from == Some(hosts.len() + 1)
            })
        };
        // Only then: waking every idle sender costs a claim (a write) each.
        if was_full {
            in_flight.wake.notify_waiters();
        }
    }
}

/// A row passed over while its record is being written; dropped once it is, or given up.
pub struct Unrecorded {
    in_flight: Arc<InFlight>,
    id: String,
}

impl Drop for Unrecorded {
    fn drop(&mut self) {
        let mut rows = self
            .in_flight
            .unrecorded
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        rows.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_host_at_its_share_is_passed_over_until_one_of_its_sends_ends() {
        let wake = Arc::new(Notify::new());
        // A share of two, and senders to spare.
        let in_flight = Arc::new(InFlight::new(5, Arc::clone(&wake)));
        let (a1, a2, b) = (in_flight.claim(), in_flight.claim(), in_flight.claim());
        a1.hold(Some("slow:443"));
        b.hold(Some("github"));
        assert!(in_flight.full().is_empty());

        a2.hold(Some("slow:443"));
        assert_eq!(in_flight.full(), ["slow:443"]);
        // Run again, a claim's write replaces its host rather than adding to it.
        a2.hold(Some("slow:443"));
        assert!(a2.full().is_empty(), "its own place is not held against it");

        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        drop(a1);
        assert!(in_flight.full().is_empty());
        let woken = tokio::time::timeout(std::time::Duration::from_secs(1), woken).await;
        assert!(woken.is_ok(), "idle senders are woken");
    }

    #[tokio::test]
    async fn two_busy_hosts_leave_the_last_sender_to_a_host_with_nothing_in_flight() {
        let wake = Arc::new(Notify::new());
        let in_flight = Arc::new(InFlight::new(4, Arc::clone(&wake)));
        let claims: Vec<Claim> = (0..3).map(|_| in_flight.claim()).collect();
        claims[0].hold(Some("slow-a:443"));
        claims[1].hold(Some("slow-a:443"));
        claims[2].hold(Some("slow-b:443"));

        // slow-b is under its share, but the last sender is kept for a third host.
        let mut full = in_flight.full();
        full.sort();
        assert_eq!(full, ["slow-a:443", "slow-b:443"]);
        let third = in_flight.claim();
        third.hold(Some("github"));
        assert_eq!(in_flight.full().len(), 3, "every sender busy");
        drop(third);

        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        drop(claims);
        assert!(in_flight.full().is_empty());
        let woken = tokio::time::timeout(std::time::Duration::from_secs(1), woken).await;
        assert!(woken.is_ok(), "idle senders are woken");
    }

    #[test]
    fn the_last_sender_is_not_kept_for_a_host_that_has_stopped_answering() {
        let in_flight = Arc::new(InFlight::new(4, Arc::new(Notify::new())));
        let claims: Vec<Claim> = (0..3).map(|_| in_flight.claim()).collect();
        claims[0].hold(Some("slow-a:443"));
        claims[1].hold(Some("slow-a:443"));
        claims[2].hold(Some("slow-b:443"));
        claims[2].heard("slow-c:443", false);
        let full = |in_flight: &InFlight| {
            let mut full = in_flight.full();
            full.sort();
            full
        };
        assert_eq!(full(&in_flight), ["slow-a:443", "slow-b:443", "slow-c:443"]);

        // Heard from again, it may have the last sender; and with senders to spare, any.
        claims[2].heard("slow-c:443", true);
        assert_eq!(full(&in_flight), ["slow-a:443", "slow-b:443"]);
        claims[2].heard("slow-c:443", false);
        drop(claims);
        assert!(in_flight.full().is_empty());
    }

    #[test]
    fn a_paused_host_is_passed_over_until_its_pause_ends() {
        let in_flight = Arc::new(InFlight::new(4, Arc::new(Notify::new())));
        let claim = in_flight.claim();
        claim.hold(Some("slow:443"));
        in_flight.pause("limited:443", Duration::from_millis(60));
        in_flight.pause("slow:443", Duration::from_millis(60));
        let mut full = claim.full();
        full.sort();
        assert_eq!(full, ["limited:443", "slow:443"], "listed once each");
        assert!(in_flight.next_resume().is_some());
        std::thread::sleep(Duration::from_millis(80));
        assert!(in_flight.full().is_empty());
        assert_eq!(in_flight.next_resume(), None);
    }

    #[test]
    fn one_sender_has_a_share_of_one() {
        let in_flight = Arc::new(InFlight::new(1, Arc::new(Notify::new())));
        let claim = in_flight.claim();
        claim.hold(Some("github"));
        assert_eq!(in_flight.full(), ["github"]);
        claim.hold(None);
        assert!(in_flight.full().is_empty());
    }
}
