//! # kite-server: the Kite MQTT broker
//!
//! # Layout
//! Folders by concept, lowest layer first (the `# Layers` table below says
//! which may import which):
//! - [`util`]: the allocator (cache-line-aligned blocks reuse exact-size
//!   free lists) and giving its and glibc's free memory back after a burst,
//!   a counter sharded per thread, a map that is a short vector until it
//!   grows, Unix-millisecond time.
//! - [`config`]: command-line flags (a contract: `--tcp`, `--http`, …) and
//!   the TOML file whose keys are the flags (`config::file`).
//! - [`metrics`]: the statistics and limit counters, and a `Snapshot` of
//!   them rendered for Prometheus (`/metrics`) and `$SYS/broker/...`.
//! - [`protocol`]: the sans-I/O session (QoS flows, inflight window,
//!   aliases, its subscriptions packed while few) and `ProtocolError`,
//!   mapped to a DISCONNECT reason in one place; the routed message; the
//!   `Admission` the session asks; the records the store keeps of a session.
//! - [`routing`]: the subscription tree (`+`, `#`, `$` rule) and each
//!   connection's cache of its last topic's subscribers; retained messages
//!   behind `RetainedStore`; the registry of connected ids (takeover) and
//!   parked sessions; each client's bounded queue and its byte budget.
//! - [`store`]: the `SessionStore` trait (typed ops for sessions, queues and
//!   retained messages) and `RedbStore`, this node's crash-safe `redb` file
//!   with its group-commit writer thread.
//! - [`alarms`]: the alarm engine: messages in, publications out.
//! - [`history`]: device measurements (raw, per minute, per quarter hour)
//!   and events, recorded by a worker thread into `history.redb`, queried
//!   on `$kite/history/query` and `GET /api/history`.
//! - [`security`]: password file (argon2id), ACL file (Mosquitto's form),
//!   topics only the broker writes and `--max-topic-levels`, one
//!   connection's policy (ACL view, publish token bucket), TLS.
//! - [`broker`]: `Shared`, the state every connection holds, and what it
//!   does with a message: publish, route, persist, expire. The seam where
//!   routing and storage beyond this node plug in, each a trait given to
//!   `Shared::new` in `Seams`: `RetainedStore`, `SessionStore` and
//!   `Backplane` (`SingleNode`, or `cluster`'s NATS backplane with `--cluster`).
//! - [`net`]: the listeners (TCP and TLS: one accept loop; HTTP with
//!   WebSocket at `/mqtt`, `/metrics`, the dashboard), the transport behind
//!   one read/write interface, each connection's loop, CONNACK, dormant
//!   connections and the epoll thread that parks their sockets.
//! - [`cluster`]: `--cluster`: MQTT topics as NATS subjects (a bijection)
//!   and the `Backplane` over NATS that makes several nodes one broker: QoS
//!   0 on core NATS, QoS 1/2 acknowledged once a JetStream stream has them
//!   (each node reads it from a position its store keeps), retained
//!   messages, client ids, pending wills and node leases in JetStream
//!   buckets (a survivor fires a dead node's wills, once), shared
//!   subscriptions balanced across the nodes (a queue group, a consumer
//!   per group).
//! - [`bridge`]: bridges to other brokers (`[[bridge]]`, or created live):
//!   each a pair of MQTT client sessions, one to this broker over an
//!   in-memory pipe (`net::local`) and one to the remote, that acknowledge
//!   a message to one side once the other has it.
//! - [`control`]: the administration API on `$CONTROL/kite/v1` (Mosquitto's
//!   dynamic-security commands): live users and roles in `admin.redb`, put
//!   in force at once; the live clients view (`listSessions`) and its
//!   actions. Plugged into `broker` as its `Admin`.
//! - [`ops`]: `Broker::run` (start-up, the ready line, shutdown), the
//!   background tasks (`every`), the `$SYS` publisher, the SIGHUP reload,
//!   `kite-server passwd`, `kite-server import-mosquitto` (a mosquitto.conf
//!   as Kite TOML), the open-file limit.
//!
//! # Layers
//! Lowest first. A module imports only from layers above its own line, never
//! from its own or a lower one (`convention/tests/layers.rs` checks it):
//! 1. `util`: imports nothing from the crate.
//! 2. `config`: flags and the file.
//! 3. `metrics`: counters sharded with `util`.
//! 4. `protocol`: the session's limits come from `config`.
//! 5. `routing`, `store`, `alarms`, `history`, `security`: each builds on `protocol`
//!    and below, none on another (the topic names they share come from
//!    `kite_convention`).
//! 6. `broker`: holds all of the above.
//! 7. `net`, `cluster`: move bytes between `broker` and sockets, and
//!    messages between `broker` and the other nodes over NATS.
//! 8. `bridge`: connections to other brokers.
//! 9. `control`: the `$CONTROL/kite/v1` API, behind `broker`'s `Admin` trait.
//! 10. `ops`: starts and stops everything.
//!
//! # How a PUBLISH travels
//! `net::transport::read` → `net::connection::run` decodes with
//! `mqtt::decode` → `protocol::session::Session::handle_with` asks the
//! connection's `security::policy` (ACL, rate, topic rules) and returns
//! `Action::Route` (and the PUBACK/PUBREC) → `broker::Shared::publish`
//! stores it if retained and gets the subscribers from the connection's
//! `routing::router::RouteCache` (walking `Router` when the topic or the
//! table changed) → the read's batch, queued by `Shared::flush_routes` once
//! the read is handled → each subscriber's bounded `routing::mailbox` → that
//! connection's `run` loop → `Session::deliver` (QoS, inflight window,
//! packet ids) → `mqtt::encode` → `net::transport::write`. After the local
//! subscribers, `Shared::publish` hands the message to the `Backplane` and
//! the acknowledgement waits for its ticket beside the store's.

// `pub(crate)` by default: a `pub` item that no other crate can reach is
// an error under `make test` (clippy -D warnings), so the public surface
// stays what the binary, the examples and the fuzz targets use.
#![warn(unreachable_pub)]

// Public: what the binary, the examples and the fuzz targets use.
pub mod alarms;
pub(crate) mod bridge;
pub(crate) mod broker;
pub(crate) mod cluster;
pub mod config;
pub(crate) mod control;
pub mod history;
pub(crate) mod metrics;
pub(crate) mod net;
pub mod ops;
pub mod protocol;
pub(crate) mod routing;
pub mod security;
pub mod store;
pub mod util;

pub use cluster::batch::check_stream_message;
pub use config::Config;
pub use ops::{Broker, BrokerError};
