//! Several `kite-server` nodes as one broker, on NATS (`--cluster`).
//!
//! - [`subject`]: MQTT topics and filters as NATS subjects (a bijection).
//! - [`nats`]: the `Backplane` over NATS: each node publishes what its
//!   clients send at QoS 0 on core NATS and subscribes to what its clients
//!   want.
//! - [`messages`]: QoS 1/2 messages in a JetStream stream (`kite_messages`):
//!   acknowledged once stored, refused when they cannot be, and read by
//!   every node with one consumer from a position its store keeps;
//!   [`batch`]: several of one subject in one stream message, in
//!   [`compact`] form; `writer`: handing them to JetStream.
//! - [`retained`]: retained messages in a JetStream key-value bucket, the
//!   same on every node; the `RetainedStore` of a cluster node.
//! - [`owners`]: which node holds each connected client id (a bucket too),
//!   and taking one over from another node (DISCONNECT 0x8E there).
//! - [`handoff`]: a persistent session moving to the node its client
//!   reconnects to, at one position of the stream.
//! - [`parked`]: rebuilding a session from its copy in its owner record
//!   when its node died; [`keeper`]: writing those copies (a parked
//!   session's snapshot, a connected one's live copy); `unanswered`: a
//!   QoS 2 message the dead node stored but its copy missed, resent.
//! - [`wills`]: each will kept in a bucket too (`kite_wills`), so that it
//!   fires exactly once cluster-wide; [`will_record`] is its format.
//! - [`leases`]: which nodes are alive (`kite_nodes`); a survivor adopts
//!   the wills of a node whose lease stopped.
//! - [`shares`]: shared subscriptions balanced across the nodes (a NATS
//!   queue group for QoS 0, a durable consumer per group for QoS 1/2).
//! - `bucket`: opening those buckets.
//! - `link`: whether this node reaches NATS; a short loss holds QoS 1/2
//!   publishes, a long one refuses them.

pub(crate) mod batch;
mod bucket;
mod compact;
pub(crate) mod handoff;
pub(crate) mod keeper;
pub(crate) mod leases;
mod link;
pub(crate) mod messages;
pub(crate) mod nats;
pub(crate) mod owners;
pub(crate) mod parked;
pub(crate) mod retained;
pub(crate) mod shares;
pub(crate) mod subject;
mod unanswered;
pub(crate) mod will_record;
pub(crate) mod wills;
mod writer;
