//! The MQTT-over-WebSocket transport.
//!
//! - [`driver`]: the sans-I/O part: wraps [`mqtt::client::ClientSession`],
//!   renews the subscriptions after every CONNACK, turns session events into
//!   [`TransportEvent`]s. Target independent and tested natively.
//! - `socket` (wasm32 only): the browser glue: a `web_sys::WebSocket` with the
//!   `mqtt` subprotocol, the 1 s keepalive tick (a `gloo-timers` interval),
//!   reconnect with exponential backoff and jitter.
//! - `offline` (native only): a [`Connection`] that never connects, so the UI
//!   code builds and is linted natively too.
//!
//! Both `Connection`s have the same API: `new(options, subscriptions,
//! on_event)`, `connect(url, options)`, `disconnect()`, `publish(outgoing)`,
//! `subscribe(filters)`, `unsubscribe(filters)`.

pub mod driver;

#[cfg(not(target_arch = "wasm32"))]
mod offline;
#[cfg(target_arch = "wasm32")]
mod socket;

#[cfg(not(target_arch = "wasm32"))]
pub use offline::Connection;
#[cfg(target_arch = "wasm32")]
pub use socket::Connection;

pub use driver::{Driver, Step};

use mqtt::Publish;

use crate::state::ConnState;

/// What the transport tells the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportEvent {
    /// The connection state changed.
    State(ConnState),
    /// CONNACK accepted (follows `State(Connected)`).
    Session {
        session_present: bool,
        client_id: String,
    },
    /// A message arrived on one of our subscriptions.
    Message(Box<Publish>),
    /// A SUBACK: per filter, the granted QoS or why it was refused.
    Subscribed {
        filters: Vec<String>,
        results: Vec<Result<u8, String>>,
    },
    /// A QoS 1 or 2 publish of ours completed (or was refused, v5).
    Published {
        pid: u16,
        result: Result<(), String>,
    },
    /// The next connection attempt is in this many ms.
    Retrying { delay_ms: u32 },
    /// Something went wrong; the text is for people.
    Error(String),
}

/// The MQTT client id for a dashboard: `kite-dash-` and 8 hex digits taken
/// from `random` in `[0, 1)` (e.g. `Math.random()`).
pub fn client_id_from_random(random: f64) -> String {
    let bits = (random.clamp(0.0, 1.0) * f64::from(u32::MAX)) as u32;
    format!("kite-dash-{bits:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_prefixed_and_fixed_length() {
        assert_eq!(client_id_from_random(0.0), "kite-dash-00000000");
        assert_eq!(client_id_from_random(0.5), "kite-dash-7fffffff");
        assert_eq!(client_id_from_random(1.0), "kite-dash-ffffffff");
        assert_eq!(client_id_from_random(f64::NAN), "kite-dash-00000000");
        assert_ne!(client_id_from_random(0.1), client_id_from_random(0.2));
        // MQTT 3.1.1 servers must accept ids of up to 23 characters.
        assert!(client_id_from_random(0.3).len() <= 23);
    }
}
