//! Whether this node reaches NATS, and since when it does not.
//!
//! A node whose NATS server dies reconnects to another server of the NATS
//! cluster within about a second, and JetStream elects new leaders within
//! seconds: QoS 1/2 publishes made meanwhile are held and retried, not
//! refused. Only a node that stayed without NATS for [`GRACE`] refuses them
//! (it cannot make them durable), until it is back.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use crate::store::now_unix_ms;

/// How long a node may be without NATS before it refuses QoS 1/2.
pub(crate) const GRACE: Duration = Duration::from_secs(5);

/// The state of this node's connection to NATS.
#[derive(Debug, Default)]
pub(crate) struct Link {
    /// Unix ms when the connection was lost; 0 while connected.
    lost_since: AtomicU64,
}

impl Link {
    /// Not connected yet: counted as lost from now.
    pub(crate) fn new() -> Link {
        Link {
            lost_since: AtomicU64::new(now_unix_ms().max(1)),
        }
    }

    pub(crate) fn connected(&self) {
        self.lost_since.store(0, Ordering::Relaxed);
    }

    /// The connection was lost: returns the moment, to hand to
    /// [`Link::still_lost`] later.
    pub(crate) fn lost(&self) -> u64 {
        let now = now_unix_ms().max(1);
        match self
            .lost_since
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => now,
            Err(since) => since,
        }
    }

    /// True when the loss that began at `since` has not ended.
    pub(crate) fn still_lost(&self, since: u64) -> bool {
        self.lost_since.load(Ordering::Relaxed) == since
    }

    /// Lost for [`GRACE`] or longer: QoS 1/2 publishes are refused.
    pub(crate) fn refusing(&self) -> bool {
        let since = self.lost_since.load(Ordering::Relaxed);
        since != 0 && now_unix_ms().saturating_sub(since) >= GRACE.as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_loss_is_not_a_refusal_and_a_reconnect_ends_it() {
        let link = Link::new();
        link.connected();
        assert!(!link.refusing());
        let since = link.lost();
        assert!(!link.refusing(), "within the grace");
        assert!(link.still_lost(since));
        assert_eq!(link.lost(), since, "a second event keeps the first moment");
        link.connected();
        assert!(!link.still_lost(since));
    }

    #[test]
    fn a_loss_older_than_the_grace_refuses() {
        let link = Link::default();
        let long_ago = now_unix_ms() - GRACE.as_millis() as u64 - 1;
        link.lost_since.store(long_ago, Ordering::Relaxed);
        assert!(link.refusing());
    }
}
