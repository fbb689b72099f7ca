//! How long the writer's commits and the syncer's fdatasyncs take, as histogram buckets for
//! `/metrics`: the totals show the average, the buckets show the stalls (a checkpoint inside a
//! commit, a disk that holds one fdatasync for a tenth of a second) that make the tail.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// Upper bounds, in seconds, of the buckets; one more bucket takes everything slower.
pub const BOUNDS: [f64; 10] = [
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Counts per bucket, the last one unbounded. Not cumulative: `/metrics` sums them up.
pub type Buckets = [u64; BOUNDS.len() + 1];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BOUNDS.len() + 1],
}

impl Histogram {
    pub fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = BOUNDS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BOUNDS.len());
        self.counts[bucket].fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> Buckets {
        std::array::from_fn(|i| self.counts[i].load(Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_duration_lands_in_the_first_bucket_that_holds_it() {
        let cases = [
            (Duration::ZERO, 0),
            (Duration::from_micros(500), 0),
            (Duration::from_micros(501), 1),
            (Duration::from_millis(1), 1),
            (Duration::from_millis(7), 4),
            (Duration::from_millis(100), 7),
            (Duration::from_millis(234), 8),
            (Duration::from_secs(1), 9),
            (Duration::from_secs(3), 10),
        ];
        for (took, bucket) in cases {
            let histogram = Histogram::default();
            histogram.observe(took);
            let mut expected = Buckets::default();
            expected[bucket] = 1;
            assert_eq!(histogram.snapshot(), expected, "{took:?}");
        }
    }
}
