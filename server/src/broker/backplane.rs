//! The backplane: where this node's messages meet other nodes' when
//! several `kite-server`s are one broker. A single node has none
//! ([`SingleNode`]); a cluster implements [`Backplane`] and feeds what other
//! nodes published back in through `Shared::publish_remote`.
//!
//! The contract, so that a cluster keeps MQTT's semantics:
//! - Every message a client of this node publishes goes to the local
//!   subscribers first, then to [`Backplane::publish`]; nothing that came in
//!   through `publish_remote` is handed back (no loops between nodes).
//! - Topics only this node writes (`$SYS/broker/...`) stay on this node.
//! - The backplane hears of each filter this node's clients subscribe to
//!   ([`Backplane::subscribed`], once per client and filter) and of each
//!   subscription that ends ([`Backplane::unsubscribed`]): it keeps the
//!   count and asks other nodes only for what someone here wants.
//! - A QoS 1/2 message the backplane cannot keep ([`Backplane::refusal`],
//!   or a failed ticket) is refused, never acknowledged.

use std::{future::Future, pin::Pin, sync::Arc};

use crate::{
    protocol::{
        message::{Message, Receipt},
        records::{Queued, SessionRecord},
    },
    store::Ticket,
};

/// Carries messages between this node and the rest of a cluster.
pub(crate) trait Backplane: Send + Sync {
    /// A message published on this node, already routed to its local
    /// subscribers. With `wait` (a client's QoS 1/2 or retained message),
    /// returns a ticket the acknowledgement waits for: the message is safe
    /// beyond this node once it resolves, and a failed ticket means the
    /// publisher gets no success.
    fn publish(&self, message: &Arc<Message>, wait: bool) -> Option<Ticket>;

    /// Why a QoS 1/2 message cannot be kept beyond this node now (a
    /// cluster node that lost NATS): such publishes are refused rather than
    /// acknowledged. `None` when they can be.
    fn refusal(&self) -> Option<&'static str> {
        None
    }

    /// True when QoS 1/2 messages reach this node's persistent sessions
    /// only through the backplane (a cluster's stream), this node's own
    /// included: local routing then skips them.
    fn streams_durable(&self) -> bool {
        false
    }

    /// A client of this node subscribed to `filter` (shared subscriptions
    /// keep their `$share/<group>/` prefix). Returns a ticket the SUBACK
    /// waits for when other nodes must first learn of the interest, so
    /// that what they publish after the SUBACK arrives.
    fn subscribed(&self, filter: &str) -> Option<Ticket>;

    /// A subscription to `filter` of a client of this node ended.
    fn unsubscribed(&self, filter: &str);
}

/// One broker on one machine: there is nobody to tell.
pub(crate) struct SingleNode;

impl Backplane for SingleNode {
    fn publish(&self, _message: &Arc<Message>, _wait: bool) -> Option<Ticket> {
        None
    }

    fn subscribed(&self, _filter: &str) -> Option<Ticket> {
        None
    }

    fn unsubscribed(&self, _filter: &str) {}
}

/// Which node holds each connected client id, in a cluster: a client id
/// is connected on one node at a time.
pub(crate) trait ClientIds: Send + Sync {
    /// This node is about to connect `client_id`: the ticket resolves once
    /// no other node holds it (it was asked to close its connection with
    /// 0x8E, and handed its persistent session here if the client
    /// `resumes` it) and this node is its owner, or once waiting longer is
    /// useless. It fails when the client resumes a session that another
    /// node holds and did not hand over: the CONNECT is refused then
    /// (Server unavailable), so the client tries again.
    fn claim(&self, client_id: &str, resumes: bool) -> Ticket;

    /// The connection that claimed `client_id` is registered here now:
    /// true when another node took the id over in the meantime (this
    /// connection must then close, 0x8E).
    fn registered(&self, client_id: &str) -> bool;

    /// This node's connection of `client_id` ended.
    fn release(&self, client_id: &str);

    /// Keep a copy of the connected persistent session of `client_id`
    /// where the other nodes find it, should this node die: its record and
    /// queue, complete up to stream position `at`. The `turns` (a shared
    /// group's deliveries in that queue) are finished once it is kept. With
    /// `wait` (a QoS 2 PUBLISH or PUBREL, a PUBREC, SUBACK or UNSUBACK is
    /// about to leave), the ticket resolves once the copy is kept; it fails
    /// when the id was claimed since.
    fn keep_live(
        &self,
        _client_id: &str,
        _at: u64,
        _session: (SessionRecord, Vec<Queued>),
        _turns: Vec<Arc<dyn Receipt>>,
        _wait: bool,
    ) -> Option<Ticket> {
        None
    }

    /// Whether copies of the session of `client_id` are kept now (this
    /// node holds its claim): the turns a copy takes are then finished once
    /// it is kept ([`ClientIds::keep_live`]).
    fn keeps_copies(&self, _client_id: &str) -> bool {
        false
    }

    /// When a copy of the session of `client_id` was last kept.
    fn copy_kept_at(&self, _client_id: &str) -> Option<std::time::Instant> {
        None
    }

    /// A shared group's turn was queued for the parked session of
    /// `client_id` here: keep a new snapshot of it, which finishes the turn
    /// once kept. False when none can be kept now (the turn is then
    /// finished as the store commits it).
    fn turn_parked(&self, _client_id: &str) -> bool {
        false
    }

    /// The session of `client_id` was rebuilt here from the copy of a node
    /// that died: for a resent QoS 2 PUBLISH (`topic`, `payload`) whose
    /// packet id the session does not know, the check whether that node
    /// stored the message before it died (true: it is not routed again).
    /// `None` for any other session.
    fn stored_before(
        &self,
        _client_id: &str,
        _topic: &str,
        _payload: &[u8],
    ) -> Option<StoredCheck> {
        None
    }
}

/// [`ClientIds::stored_before`]'s answer, to wait for.
pub(crate) type StoredCheck = Pin<Box<dyn Future<Output = bool> + Send>>;

/// The wills of this node's connections, kept where other nodes find them
/// (a cluster): the will of a node that dies is published by another.
pub(crate) trait Wills: Send + Sync {
    /// Connection `connection` of `client_id` began here, with its will
    /// (the message and its delay in seconds, bounded by the session
    /// expiry) or without one (any will still pending for the id is
    /// cancelled: the client is back). The ticket resolves once the will
    /// is kept beyond this node, or once waiting longer is useless.
    fn connected(
        &self,
        client_id: &str,
        connection: u64,
        will: Option<(Message, u32)>,
    ) -> Option<Ticket>;

    /// That connection ended. `will`: due (now, or after its delay unless
    /// the client is back by then), and published by this call; `None`:
    /// not due, and no longer pending anywhere.
    fn ended(&self, client_id: &str, connection: u64, will: Option<(Message, u32)>);

    /// Resolves once what the connections ended so far asked for is done
    /// (at shutdown: no will of a connection closed on purpose is left
    /// for another node to fire).
    fn settled(&self) -> Ticket;
}
