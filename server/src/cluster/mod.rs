//! Several `kite-server` nodes as one broker, on NATS (`--cluster`).
//!
//! - [`subject`]: MQTT topics and filters as NATS subjects (a bijection).
//! - [`nats`]: the `Backplane` over core NATS: each node publishes what its
//!   clients send and subscribes to what its clients want.

pub(crate) mod nats;
pub(crate) mod subject;
