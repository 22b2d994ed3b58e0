//! The broker's administration API over MQTT, in the shape of Mosquitto's
//! dynamic-security plugin: a client publishes `{"commands":[...]}` to
//! [`REQUEST_TOPIC`] and gets `{"responses":[...]}`, one response per
//! command and in the same order, on its MQTT 5 Response Topic (with its
//! Correlation Data) or, without one, on [`RESPONSE_TOPIC`]. Only the asker
//! receives it. The commands and their JSON are in the README
//! ("$CONTROL API"); the live clients view ([`SessionView`]) is typed here
//! so that the broker writes and the dashboard reads the same fields.

use serde::{Deserialize, Serialize};

/// Where a client publishes its commands.
pub const REQUEST_TOPIC: &str = "$CONTROL/kite/v1";

/// Where the responses go for a client that names no response topic.
pub const RESPONSE_TOPIC: &str = "$CONTROL/kite/v1/response";

/// The filter an ACL must grant (write on [`REQUEST_TOPIC`], read on
/// [`RESPONSE_TOPIC`]) for a client to administer the broker.
pub const FILTER: &str = "$CONTROL/kite/#";

/// One session in `listSessions`: a connected client, or a persistent
/// session kept while its client is away (`connected: false`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub clientid: String,
    /// The user name it authenticated as; `None`: anonymous, or a session
    /// restored from the store whose client has not been back since.
    pub username: Option<String>,
    pub connected: bool,
    /// The peer's address (`127.0.0.1:50312`), of the last connection.
    pub address: Option<String>,
    /// `3.1`, `3.1.1` or `5`.
    pub protocol: Option<String>,
    /// `tcp`, `tls`, `ws` or `wss`.
    pub transport: Option<String>,
    /// When the (last) connection was accepted, Unix milliseconds.
    pub connected_since: Option<u64>,
    /// Subscription filters.
    pub subscriptions: u64,
    /// QoS 1/2 messages sent and not yet acknowledged, and those waiting
    /// for room in the inflight window.
    pub inflight: u64,
    /// Messages and bytes in the client's queue, not yet taken by its connection.
    pub queued_messages: u64,
    pub queued_bytes: u64,
    /// Messages dropped for this client (its queue was full).
    pub dropped: u64,
    /// Session expiry interval in seconds (`4294967295`: never); 0 for a
    /// session that ends with its connection.
    pub expiry_interval: u32,
}
