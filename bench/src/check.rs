//! Arrival checks: each subscriber runs a [`Checker`] over every message it
//! receives. At the end the publishers' sent counts close the books: what
//! never arrived is lost, what arrived twice or early is out of order, what
//! fails its checksum is corrupt, what came from a publisher this subscriber
//! never subscribed to is misrouted.

use std::ops::Range;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::payload::{verify, Stamp};

/// Latency histogram: 1 µs to 100 s, three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid bounds")
}

/// One subscriber's view of the run.
pub struct Checker {
    /// Publishers whose messages this subscriber should get.
    publishers: Range<u16>,
    /// Next sequence number expected from each of them.
    next: Vec<u32>,
    size: usize,
    pub counts: Counts,
    /// End-to-end latency of every message received intact, µs.
    pub latency: Histogram<u64>,
}

/// What the checks found. A clean run has only `received` and `bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub received: u64,
    pub bytes: u64,
    /// Sent but never received (gaps in a stream, or its tail).
    pub lost: u64,
    /// Received with a sequence number below the next one expected:
    /// duplicates, or late after a gap.
    pub out_of_order: u64,
    /// Wrong size or checksum.
    pub corrupt: u64,
    /// From a publisher this subscriber did not subscribe to.
    pub misrouted: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.received += other.received;
        self.bytes += other.bytes;
        self.lost += other.lost;
        self.out_of_order += other.out_of_order;
        self.corrupt += other.corrupt;
        self.misrouted += other.misrouted;
    }

    /// No message lost, duplicated, reordered, corrupted or misrouted.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.out_of_order == 0 && self.corrupt == 0 && self.misrouted == 0
    }

    /// "lost 3, corrupt 1" — the problems only.
    pub fn problems(&self) -> String {
        let parts: Vec<String> = [
            ("lost", self.lost),
            ("out of order or duplicated", self.out_of_order),
            ("corrupt", self.corrupt),
            ("misrouted", self.misrouted),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
        parts.join(", ")
    }
}

impl Checker {
    /// A subscriber that should receive every message of `publishers`, each
    /// payload `size` bytes long.
    pub fn new(publishers: Range<u16>, size: usize) -> Checker {
        Checker {
            next: vec![0; publishers.len()],
            publishers,
            size,
            counts: Counts::default(),
            latency: histogram(),
        }
    }

    /// Check one arrival at `now_us`; its latency is recorded if it was sent
    /// at `record_from_us` or later (after the warm-up). Returns the stamp of
    /// an intact message from one of our publishers.
    pub fn arrived(&mut self, payload: &[u8], now_us: u64, record_from_us: u64) -> Option<Stamp> {
        self.counts.received += 1;
        self.counts.bytes += payload.len() as u64;
        if payload.len() != self.size {
            self.counts.corrupt += 1;
            return None;
        }
        let Ok(stamp) = verify(payload) else {
            self.counts.corrupt += 1;
            return None;
        };
        if !self.publishers.contains(&stamp.publisher) {
            self.counts.misrouted += 1;
            return None;
        }
        let next = &mut self.next[usize::from(stamp.publisher - self.publishers.start)];
        if stamp.seq < *next {
            self.counts.out_of_order += 1;
        } else {
            // A gap is counted lost now; it cannot arrive in order any more.
            self.counts.lost += u64::from(stamp.seq - *next);
            *next = stamp.seq + 1;
        }
        if stamp.sent_us >= record_from_us {
            let _ = self
                .latency
                .record(now_us.saturating_sub(stamp.sent_us).max(1));
        }
        Some(stamp)
    }

    /// Close the books: `sent[p]` is how many messages publisher `p` sent.
    /// Whatever its stream never reached is lost.
    pub fn finish(mut self, sent: &[u64]) -> (Counts, Histogram<u64>) {
        for (i, next) in self.next.iter().enumerate() {
            let publisher = usize::from(self.publishers.start) + i;
            let sent = sent.get(publisher).copied().unwrap_or(0);
            self.counts.lost += sent.saturating_sub(u64::from(*next));
        }
        (self.counts, self.latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::PayloadWriter;

    #[test]
    fn a_clean_stream_is_clean() {
        let writer = PayloadWriter::new(1, 64);
        let mut checker = Checker::new(0..2, 64);
        for seq in 0..10 {
            assert!(checker.arrived(&writer.build(seq, 5), 15, 0).is_some());
        }
        // Sent during the warm-up: checked, not timed.
        assert!(checker.arrived(&writer.build(10, 5), 15, 6).is_some());
        let (counts, latency) = checker.finish(&[0, 11]);
        assert!(counts.is_clean(), "{counts:?}");
        assert_eq!(counts.received, 11);
        assert_eq!(latency.len(), 10);
        assert_eq!(latency.value_at_quantile(0.5), 10);
    }

    #[test]
    fn gaps_tails_duplicates_and_corruption_are_counted() {
        let writer = PayloadWriter::new(0, 32);
        let mut checker = Checker::new(0..1, 32);
        checker.arrived(&writer.build(0, 0), 1, 0);
        checker.arrived(&writer.build(2, 0), 1, 0); // 1 lost
        checker.arrived(&writer.build(2, 0), 1, 0); // duplicate
        let mut bad = writer.build(3, 0).to_vec();
        bad[20] ^= 1;
        checker.arrived(&bad, 1, 0); // corrupt
        checker.arrived(&PayloadWriter::new(5, 32).build(0, 0), 1, 0); // misrouted
        let (counts, _) = checker.finish(&[6]); // 3, 4 and 5 never came
        assert_eq!(counts.lost, 1 + 3);
        assert_eq!(counts.out_of_order, 1);
        assert_eq!(counts.corrupt, 1);
        assert_eq!(counts.misrouted, 1);
        assert!(!counts.is_clean());
        assert_eq!(
            counts.problems(),
            "4 lost, 1 out of order or duplicated, 1 corrupt, 1 misrouted"
        );
    }
}
