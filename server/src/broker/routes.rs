//! A connection read's routes: the subscribers of its last topic (the
//! [`RouteCache`]) and what its PUBLISHes still owe them. Deliveries to a
//! few subscribers are batched until the read is handled, and so are the
//! store writes of those that go to persistent sessions, and the reading
//! session's own (its PUBACKs' deletions, its new states): a read of fifty
//! QoS 1 PUBLISHes, or of fifty PUBACKs, makes one store submission and
//! one ticket, not fifty.
//!
//! Order is kept by [`super::Shared::flush_routes`]: the store hears of
//! every write of the batch before any of its deliveries is queued (a
//! subscriber cannot acknowledge what the store has not heard of), and a
//! message that is not batched flushes the batch first.

use crate::{
    routing::router::RouteCache,
    store::{Op, Ticket},
};

/// See the module documentation.
#[derive(Default)]
pub(crate) struct Routes {
    pub(super) cache: RouteCache,
    /// The batch's store writes, submitted together by the next flush.
    pub(super) ops: Vec<Op>,
    /// Someone waits for `ops` to be committed (a QoS 1/2 PUBLISH, a
    /// SUBSCRIBE of a persistent session).
    pub(super) wait: bool,
    /// What the flushes so far submitted, for the connection to wait on
    /// before it acknowledges anything of this read.
    pub(super) ticket: Option<Ticket>,
    /// The read changed a session's state (`Some`), and whether what it
    /// answers waits for the session's live copy in a cluster.
    pub(super) copy: Option<bool>,
}

impl Routes {
    /// Whether the read changed a session's state (`Some`) and what it
    /// answers waits for the session's live copy: asked once per read.
    pub(crate) fn take_copy(&mut self) -> Option<bool> {
        self.copy.take()
    }

    /// The ticket of the writes flushed since the last call.
    pub(crate) fn take_ticket(&mut self) -> Option<Ticket> {
        self.ticket.take()
    }
}

impl Drop for Routes {
    fn drop(&mut self) {
        // A write left here would be acknowledged and lost.
        debug_assert!(
            self.ops.is_empty() || std::thread::panicking(),
            "a batch's store writes dropped"
        );
    }
}
