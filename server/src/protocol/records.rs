//! What the store keeps of a session, as plain structs: the session's
//! record and its queued messages. Their bytes on disk are the store's
//! business (`store::records`); the session only fills and reads these.

use bytestring::ByteString;
use mqtt::{Pid, Protocol, SubscriptionOptions};

use super::message::Outbound;

/// Where a queued message stands in its flow to the subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuedState {
    /// Not sent yet (or sent without an id we recorded).
    Queued,
    /// Sent as PUBLISH with this packet id, not acknowledged.
    Sent(Pid),
    /// QoS 2: PUBREC received, PUBREL sent with this id.
    Released(Pid),
}

/// A message waiting in (or in flight from) a persistent session's queue.
#[derive(Debug, Clone)]
pub struct Queued {
    pub outbound: Outbound,
    pub state: QueuedState,
}

/// One subscription of a persistent session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubscription {
    pub filter: ByteString,
    pub options: SubscriptionOptions,
    pub id: Option<u32>,
}

/// What survives of a persistent session besides its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub protocol: Protocol,
    pub expiry_interval: u32,
    /// When the client went away (Unix ms); 0 while connected.
    pub disconnected_at: u64,
    pub subscriptions: Vec<StoredSubscription>,
    /// Incoming QoS 2 packet ids received and PUBREC'd, awaiting PUBREL.
    pub incoming_qos2: Vec<Pid>,
}
