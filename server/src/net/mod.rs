//! The network side: listeners (TCP, TLS, HTTP with WebSocket), the
//! transport behind one read/write interface, clients inside the broker
//! (`local`: a bridge's side here), each connection's loop, and
//! dormant connections parked off tokio's reactor.

pub(crate) mod connack;
pub(crate) mod connection;
pub(crate) mod dormant;
pub(crate) mod history_api;
pub(crate) mod http;
pub(crate) mod listener;
pub(crate) mod local;
pub(crate) mod parking;
pub(crate) mod transport;
