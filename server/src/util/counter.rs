//! A counter that every core bumps without sharing a cache line.
//!
//! A single `AtomicU64` counted per message (`messages_received` on the
//! publishers' cores, `messages_sent` on the subscriber's) made its cache
//! line travel between cores on every PUBLISH. Here each thread adds to its
//! own cache-line-sized shard and a read sums the shards: reads are rare
//! (`$SYS`, `/metrics`), adds are per message.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Shards per counter: more than this machine's cores, and threads beyond
/// it share a shard (still correct, only less spread).
const SHARDS: usize = 8;

/// One shard, alone on its cache line (128 B: adjacent-line prefetch pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(AtomicU64);

/// A sum spread over per-thread shards. Wrapping arithmetic, so a gauge can
/// go down on one thread after going up on another.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    shards: [Shard; SHARDS],
}

/// This thread's shard, handed out in turn as threads first count.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|index| *index)
}

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        self.shards[shard_index()].0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sub(&self, n: u64) {
        self.shards[shard_index()].0.fetch_sub(n, Ordering::Relaxed);
    }

    /// The total over every shard. A gauge read while one thread adds and
    /// another subtracts may see the subtraction first: that reads as 0,
    /// not as a wrapped-around 1.8e19.
    pub(crate) fn get(&self) -> u64 {
        let sum = self.shards.iter().fold(0u64, |sum, shard| {
            sum.wrapping_add(shard.0.load(Ordering::Relaxed))
        });
        u64::try_from(sum as i64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sums_adds_from_many_threads() {
        let counter = Arc::new(Counter::default());
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counter.add(3);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counter.get(), 36_000);
    }

    #[test]
    fn a_gauge_read_between_a_subtraction_and_its_addition_is_zero() {
        let counter = Counter::default();
        counter.sub(1);
        assert_eq!(counter.get(), 0);
        counter.add(3);
        assert_eq!(counter.get(), 2);
    }

    #[test]
    fn a_gauge_can_go_down_on_another_thread() {
        let counter = Arc::new(Counter::default());
        counter.add(2);
        let other = counter.clone();
        std::thread::spawn(move || other.sub(1)).join().unwrap();
        assert_eq!(counter.get(), 1);
    }
}
