//! What a client's queue may hold in bytes (`--max-queued-bytes`), and the
//! messages dropped for it.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::protocol::message::Message;

/// The bytes waiting in one client's queue (`--max-queued-bytes`), and the
/// messages dropped for it. Shared by the queue's senders (router entries)
/// and its receiving connection.
#[derive(Debug, Default)]
pub(crate) struct QueueBudget {
    bytes: AtomicU64,
    dropped: AtomicU64,
}

impl QueueBudget {
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
        self.dropped.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Messages dropped for this client so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
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
        let budget = QueueBudget::default();
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
