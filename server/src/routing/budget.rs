//! What a client's queue may hold in bytes (`--max-queued-bytes`), and the
//! messages dropped for it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::protocol::message::Message;

/// The bytes waiting in one client's queue (`--max-queued-bytes`), and the
/// messages dropped for it. Shared by the queue's senders (router entries)
/// and its receiving connection.
///
/// The drop count is 32 bits (it saturates) and the queue's capacity in
/// messages lives here: with both in this struct's 16 bytes, every client's
/// mailbox is an 80-byte allocation instead of 96.
#[derive(Debug)]
pub(crate) struct QueueBudget {
    bytes: AtomicU64,
    dropped: AtomicU32,
    /// Messages the queue may hold (`--max-queued-messages`, at least 1).
    capacity: u32,
}

impl QueueBudget {
    /// An empty queue's budget, for at most `capacity` messages (at least 1).
    pub(crate) fn new(capacity: usize) -> QueueBudget {
        QueueBudget {
            bytes: AtomicU64::new(0),
            dropped: AtomicU32::new(0),
            capacity: u32::try_from(capacity).unwrap_or(u32::MAX).max(1),
        }
    }

    /// Messages the queue may hold.
    pub(crate) fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Count `size` more bytes unless that would pass `max`.
    pub(crate) fn try_charge(&self, size: u64, max: u64) -> bool {
        self.bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                queued.checked_add(size).filter(|&total| total <= max)
            })
            .is_ok()
    }

    /// A message left the queue.
    pub(crate) fn release(&self, size: u64) {
        let _ = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                Some(queued.saturating_sub(size))
            });
    }

    /// Bytes queued now.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Count a message dropped for this client (queue full by count or bytes).
    pub(crate) fn dropped_one(&self) -> u64 {
        let before = self
            .dropped
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(1))
            })
            .unwrap_or(u32::MAX);
        u64::from(before.saturating_add(1))
    }

    /// Messages dropped for this client so far (at most `u32::MAX`).
    pub(crate) fn dropped(&self) -> u64 {
        u64::from(self.dropped.load(Ordering::Relaxed))
    }
}

/// What a queued message costs against `--max-queued-bytes`: its payload and topic.
pub(crate) fn queued_size(message: &Message) -> u64 {
    (message.payload.len() + message.topic.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_budget_charges_up_to_the_limit_and_releases() {
        let budget = QueueBudget::new(10);
        assert_eq!(budget.capacity(), 10);
        assert!(budget.try_charge(60, 100));
        assert!(!budget.try_charge(41, 100));
        assert!(budget.try_charge(40, 100));
        assert_eq!(budget.bytes(), 100);
        budget.release(60);
        assert_eq!(budget.bytes(), 40);
        budget.release(1000);
        assert_eq!(budget.bytes(), 0);
        assert_eq!(budget.dropped_one(), 1);
    }
}
