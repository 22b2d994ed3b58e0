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

/// One command's response: `data` on success (when the command answers
/// something), `error` and perhaps the `field` it concerns on failure
/// (`username`, `bridge.topic[0].pattern`, ...), and the command's own
/// `correlationData` echoed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    #[serde(default)]
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(
        default,
        rename = "correlationData",
        skip_serializing_if = "Option::is_none"
    )]
    pub correlation_data: Option<serde_json::Value>,
}

/// The body of a response: one [`Response`] per command, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Responses {
    pub responses: Vec<Response>,
}

/// A bridge's settings, as `createBridge` and `modifyBridge` take them and
/// `listBridges` shows them (the `[[bridge]]` table's keys; the broker's
/// `BridgeConfig` reads the same JSON). `protocol` is `mqttv31`, `mqttv311`
/// or `mqttv50`; a `password` left out of `modifyBridge` keeps the old one,
/// and the list shows it as `********`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeSettings {
    pub name: String,
    pub addresses: Vec<String>,
    #[serde(default = "default_protocol")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default)]
    pub clean_start: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expiry: Option<u32>,
    #[serde(default = "default_keepalive")]
    pub keepalive: u16,
    #[serde(default)]
    pub tls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    #[serde(default)]
    pub insecure: bool,
    #[serde(default = "yes")]
    pub try_private: bool,
    #[serde(default = "default_max_queued")]
    pub max_queued_messages: u64,
    #[serde(default = "default_restart_timeout")]
    pub restart_timeout: u64,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub topic: Vec<BridgeTopic>,
}

/// One topic rule of a bridge: `direction` is `out`, `in` or `both`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeTopic {
    pub pattern: String,
    #[serde(default = "default_direction")]
    pub direction: String,
    #[serde(default)]
    pub qos: u8,
    #[serde(default)]
    pub local_prefix: String,
    #[serde(default)]
    pub remote_prefix: String,
}

/// A bridge in `listBridges` (and `getBridge`'s `bridge`): its settings,
/// where they come from (`file`: read-only here, but pausable; `live`), and
/// its figures now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeStatus {
    pub config: BridgeSettings,
    pub source: String,
    pub connected: bool,
    pub sent: u64,
    pub received: u64,
    pub queued: u64,
    pub dropped: u64,
    pub reconnects: u64,
}

/// The password `listBridges` shows for a bridge that has one.
pub const HIDDEN_PASSWORD: &str = "********";

fn default_protocol() -> String {
    "mqttv311".to_owned()
}

fn default_direction() -> String {
    "out".to_owned()
}

fn default_keepalive() -> u16 {
    60
}

fn default_max_queued() -> u64 {
    1000
}

fn default_restart_timeout() -> u64 {
    5
}

fn yes() -> bool {
    true
}

/// A live user (Mosquitto: a client) as `getClient` and a verbose
/// `listClients` show it; the password is never shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub username: String,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub roles: Vec<RoleRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clientid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub textname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub textdescription: Option<String>,
}

/// A role given to a user; higher priorities are tried first (-1 when
/// left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRef {
    pub rolename: String,
    #[serde(default = "minus_one")]
    pub priority: i64,
}

fn minus_one() -> i64 {
    -1
}

/// A role as `getRole` and a verbose `listRoles` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleView {
    pub rolename: String,
    #[serde(default)]
    pub acls: Vec<AclEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub textname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub textdescription: Option<String>,
}

/// The kinds of a role's ACL entry.
pub const ACL_TYPES: [&str; 4] = [
    "publishClientSend",
    "publishClientReceive",
    "subscribeLiteral",
    "subscribePattern",
];

/// The kinds of the default access (`setDefaultACLAccess`).
pub const DEFAULT_ACL_TYPES: [&str; 4] = [
    "publishClientSend",
    "publishClientReceive",
    "subscribe",
    "unsubscribe",
];

/// One entry of a role's ACL: `acltype` one of [`ACL_TYPES`], `topic` a
/// filter (`%c`, `%u` allowed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    pub acltype: String,
    pub topic: String,
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub allow: bool,
}

/// One line of the default access: `acltype` one of [`DEFAULT_ACL_TYPES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultAccess {
    pub acltype: String,
    pub allow: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_examples_read() {
        let responses: Responses = serde_json::from_str(
            r#"{"responses": [
              {"command": "createRole"},
              {"command": "createClient", "correlationData": "form-7"},
              {"command": "getClient", "error": "client `bob` does not exist", "field": "username"}]}"#,
        )
        .unwrap();
        assert_eq!(responses.responses.len(), 3);
        assert_eq!(
            responses.responses[1].correlation_data,
            Some(serde_json::json!("form-7"))
        );
        assert_eq!(responses.responses[2].field.as_deref(), Some("username"));
        let session: SessionView = serde_json::from_str(
            r#"{"clientid": "sim-1", "username": "alice", "connected": true, "address": "10.0.0.7:50312",
             "protocol": "5", "transport": "tcp", "connectedSince": 1767225600000, "subscriptions": 2,
             "inflight": 0, "queuedMessages": 0, "queuedBytes": 0, "dropped": 0, "expiryInterval": 0}"#,
        )
        .unwrap();
        assert_eq!(session.connected_since, Some(1_767_225_600_000));
    }

    #[test]
    fn bridge_settings_take_defaults_and_leave_out_what_is_unset() {
        let settings: BridgeSettings = serde_json::from_str(
            r#"{"name": "cloud", "addresses": ["mqtt.example.com:1883"], "username": "site1",
                "topic": [{"pattern": "sensors/#", "qos": 1, "local_prefix": "site1/"}]}"#,
        )
        .unwrap();
        assert_eq!(settings.protocol, "mqttv311");
        assert_eq!((settings.keepalive, settings.restart_timeout), (60, 5));
        assert!(settings.enabled && settings.try_private && !settings.clean_start);
        assert_eq!(settings.topic[0].direction, "out");
        let json = serde_json::to_value(&settings).unwrap();
        assert!(json.get("password").is_none() && json.get("client_id").is_none());
        assert_eq!(json["topic"][0]["local_prefix"], "site1/");
    }
}
