//! # kite-server: the Kite MQTT broker
//!
//! # Layout
//! - [`config`]: command-line flags (a contract: `--tcp`, `--http`, …).
//! - [`broker`]: shared state (router, retained store, client registry, counters) and `Broker::run`.
//! - [`listener`]: the MQTT-over-TCP accept loop.
//! - [`http`]: the HTTP listener: WebSocket upgrade at `/mqtt`, the dashboard at `/`.
//! - [`transport`]: TCP or WebSocket behind one read/write interface.
//! - [`connection`]: one connection's async loop: CONNECT, CONNACK, then bytes ⇄ session ⇄ broker.
//! - [`session`]: the sans-I/O per-client protocol state machine (QoS flows, inflight window, aliases)
//!   and `ProtocolError`, mapped to a DISCONNECT reason code in one place.
//! - [`registry`]: connected client ids (takeover) and parked persistent sessions.
//! - [`router`]: the subscription tree (`+`, `#`, `$` rule), read-locked per publish.
//! - [`retained`]: retained messages behind the `RetainedStore` trait.
//! - [`store`]: the crash-safe `redb` store (retained, persistent sessions, queues) and its group-commit writer thread.
//! - [`sys`]: the `$SYS/broker/...` tree and Prometheus `/metrics`.
//! - [`message`]: the routed message and what a connection's queue carries.
//!
//! # How a PUBLISH travels
//! `transport::read` → `connection::run` decodes with `mqtt::decode` →
//! `Session::handle` returns `Action::Route` (and the PUBACK/PUBREC) →
//! `Shared::publish` stores it if retained and asks `Router::matches` for the
//! subscribers → each subscriber's bounded queue → that connection's
//! `run` loop → `Session::deliver` (QoS, inflight window, packet ids) →
//! `mqtt::encode` → `transport::write`.

pub mod broker;
pub mod config;
pub mod connection;
pub mod http;
pub mod listener;
pub mod message;
pub mod registry;
pub mod retained;
pub mod router;
pub mod session;
pub mod store;
pub mod sys;
pub mod transport;

pub use broker::{Broker, BrokerError, Shared};
pub use config::Config;
