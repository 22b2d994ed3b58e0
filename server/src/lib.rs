//! # kite-server: the Kite MQTT broker
//!
//! # Layout
//! - [`aligned`]: the global allocator: cache-line-aligned blocks (tokio tasks) reuse exact-size free lists.
//! - [`alarms`]: the alarm engine (rules over device measurements, state as retained messages).
//! - [`config`]: command-line flags (a contract: `--tcp`, `--http`, …).
//! - [`counter`]: a counter sharded per thread, so counting per message shares no cache line.
//! - [`broker`]: shared state (router, retained store, client registry, counters) and `Broker::run`.
//! - [`listener`]: the MQTT-over-TCP accept loop.
//! - [`http`]: the HTTP listener: WebSocket upgrade at `/mqtt`, the dashboard at `/`.
//! - [`transport`]: TCP or WebSocket behind one read/write interface.
//! - [`connack`]: the client id a connection gets, refusals, and the v5 CONNACK properties.
//! - [`connection`]: one connection's async loop: CONNECT, CONNACK, then bytes ⇄ session ⇄ broker.
//! - [`dormant`]: a quiet connection without a task, woken by its socket, queue, kick or keepalive.
//! - [`parking`]: one epoll thread watching dormant connections' sockets off tokio's reactor.
//! - [`session`]: the sans-I/O per-client protocol state machine (QoS flows, inflight window, aliases)
//!   and `ProtocolError`, mapped to a DISCONNECT reason code in one place.
//! - [`reserved`]: topics only the broker writes (`$SYS`, the alarm engine's outputs) and `--max-topic-levels`.
//! - [`registry`]: connected client ids (takeover) and parked persistent sessions.
//! - [`router`]: the subscription tree (`+`, `#`, `$` rule), read-locked per walk, and each connection's cache of its last topic's subscribers.
//! - [`retained`]: retained messages behind the `RetainedStore` trait.
//! - [`store`]: the crash-safe `redb` store (retained, persistent sessions, queues) and its group-commit writer thread.
//! - [`sys`]: the `$SYS/broker/...` tree and Prometheus `/metrics`.
//! - [`message`]: the routed message and what a connection's queue carries.
//! - [`small_map`]: a map that is a short vector until it grows (idle clients, topic nodes).
//! - [`mailbox`]: a client's bounded queue of outbound messages (no memory while idle).
//! - [`config_file`]: `--config FILE` (TOML): every flag as a key, flags win, errors name the line.
//! - [`auth`]: password file (argon2id), anonymous rule, `kite-server passwd`, SIGHUP-swappable `Access`.
//! - [`acl`]: the ACL file (Mosquitto's form), checked on publish, subscribe and delivery.
//! - [`tls`]: rustls: MQTT over TLS, HTTPS/WSS, client certificates and their common names.
//! - [`policy`]: one connection's ACL rules and publish token bucket, asked by the session.
//! - [`limits`]: connection slots, per-client queue bytes, publish token bucket, and the limit counters.
//!
//! # How a PUBLISH travels
//! `transport::read` → `connection::run` decodes with `mqtt::decode` →
//! `Session::handle` returns `Action::Route` (and the PUBACK/PUBREC) →
//! `Shared::publish` stores it if retained and gets the subscribers from the
//! connection's `RouteCache` (walking `Router` when the topic or the table
//! changed) → the read's batch, queued by `Shared::flush_routes` once the read
//! is handled → each subscriber's bounded queue → that connection's
//! `run` loop → `Session::deliver` (QoS, inflight window, packet ids) →
//! `mqtt::encode` → `transport::write`.

pub mod acl;
pub mod alarms;
pub mod aligned;
pub mod auth;
pub mod broker;
pub mod config;
pub mod config_file;
pub mod connack;
pub mod connection;
pub mod counter;
pub mod dormant;
pub mod http;
pub mod limits;
pub mod listener;
pub mod mailbox;
pub mod message;
pub mod parking;
pub mod policy;
pub mod registry;
pub mod reserved;
pub mod retained;
pub mod router;
pub mod session;
pub mod small_map;
pub mod store;
pub mod sys;
pub mod tls;
pub mod transport;

pub use broker::{Broker, BrokerError, Shared};
pub use config::Config;
