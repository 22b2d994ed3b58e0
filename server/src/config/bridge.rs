//! A bridge's settings: a `[[bridge]]` table of the configuration file, or
//! the body of a `createBridge` command on `$CONTROL/kite/v1` (the same
//! JSON shape). The names follow Mosquitto's `connection` section where
//! one exists (`kite-server import-mosquitto` translates one to the other).

use serde::{Deserialize, Serialize};

/// One bridge: an MQTT client inside the broker that carries topics to and
/// from a remote broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// Its name: `[A-Za-z0-9_.-]`, unique; `$SYS/broker/connection/<name>/...`.
    pub name: String,
    /// `host:port` of the remote broker, tried in turn.
    pub addresses: Vec<String>,
    /// `mqttv31`, `mqttv311` (the default) or `mqttv50` (Mosquitto's names).
    #[serde(default)]
    pub protocol: BridgeProtocol,
    /// Client id on the remote broker; unset: `<host name>.<name>`, as
    /// Mosquitto does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Start a new session on the remote at each connection. The default,
    /// `false`, keeps the remote session (and what it queued) across
    /// reconnections.
    #[serde(default)]
    pub clean_start: bool,
    /// MQTT 5: seconds the remote keeps the session after a disconnection;
    /// unset: forever without `clean_start`, 0 with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expiry: Option<u32>,
    /// Seconds between keepalive pings to the remote.
    #[serde(default = "default_keepalive")]
    pub keepalive: u16,
    /// Connect with TLS (implied by `ca_file`).
    #[serde(default)]
    pub tls: bool,
    /// CA certificates (PEM) the remote's certificate is checked against;
    /// unset with `tls`: the system's roots are not read, so set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Client certificate (PEM) and its key, for remotes that ask for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// Skip the check that the remote's certificate names its host.
    #[serde(default)]
    pub insecure: bool,
    /// MQTT 3.1/3.1.1: mark the CONNECT as a bridge's (protocol level with
    /// the 0x80 bit), so a Mosquitto or Kite remote does not echo our own
    /// messages back.
    #[serde(default = "yes")]
    pub try_private: bool,
    /// Messages held for the remote while it cannot take them (QoS 0 past
    /// this are dropped and counted; QoS 1/2 wait in the broker's store).
    #[serde(default = "default_max_queued")]
    pub max_queued_messages: usize,
    /// Seconds between two connection attempts.
    #[serde(default = "default_restart_timeout")]
    pub restart_timeout: u64,
    /// `false`: configured but not connected (paused).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What it carries (at least one).
    #[serde(default)]
    pub topic: Vec<TopicRule>,
}

/// One `topic` line: which topics travel, which way, at what QoS, renamed
/// how. Mosquitto's `topic pattern [[[ out | in | both ] qos] local-prefix
/// remote-prefix]`: the local topic is `local_prefix + pattern`, the remote
/// one `remote_prefix + pattern`; an empty pattern makes the prefixes the
/// whole topics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicRule {
    pub pattern: String,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub qos: u8,
    #[serde(default)]
    pub local_prefix: String,
    #[serde(default)]
    pub remote_prefix: String,
}

/// Which way a topic travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From this broker to the remote (Mosquitto's default).
    #[default]
    Out,
    /// From the remote to this broker.
    In,
    Both,
}

impl Direction {
    pub fn outgoing(self) -> bool {
        matches!(self, Direction::Out | Direction::Both)
    }

    pub fn incoming(self) -> bool {
        matches!(self, Direction::In | Direction::Both)
    }
}

/// The MQTT version spoken to the remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BridgeProtocol {
    #[serde(rename = "mqttv31")]
    V31,
    #[default]
    #[serde(rename = "mqttv311")]
    V311,
    #[serde(rename = "mqttv50", alias = "mqttv5")]
    V5,
}

impl BridgeProtocol {
    pub fn mqtt(self) -> mqtt::Protocol {
        match self {
            BridgeProtocol::V31 => mqtt::Protocol::V31,
            BridgeProtocol::V311 => mqtt::Protocol::V311,
            BridgeProtocol::V5 => mqtt::Protocol::V5,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_keepalive() -> u16 {
    60
}

fn default_max_queued() -> usize {
    1000
}

fn default_restart_timeout() -> u64 {
    5
}

/// A bridge setting that cannot work: the field it concerns and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BridgeConfigError {
    /// The field, e.g. `name`, `addresses`, `topic[2].pattern`.
    pub field: String,
    pub message: String,
}

impl BridgeConfig {
    /// Check what serde cannot: names, addresses, topics, prefixes, QoS.
    pub fn validate(&self) -> Result<(), BridgeConfigError> {
        let fail = |field: &str, message: String| {
            Err(BridgeConfigError {
                field: field.to_string(),
                message,
            })
        };
        let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if self.name.is_empty() || self.name.len() > 64 || !self.name.chars().all(name_ok) {
            return fail(
                "name",
                format!(
                    "{:?} is not a bridge name (1 to 64 of A-Z a-z 0-9 _ . -)",
                    self.name
                ),
            );
        }
        if self.addresses.is_empty() {
            return fail("addresses", "give at least one host:port".into());
        }
        for (i, address) in self.addresses.iter().enumerate() {
            if split_address(address).is_none() {
                return fail(
                    &format!("addresses[{i}]"),
                    format!("{address:?} is not host:port"),
                );
            }
        }
        if self.client_id.as_deref() == Some("") {
            return fail("client_id", "must not be empty".into());
        }
        if self.password.is_some() && self.username.is_none() && self.protocol != BridgeProtocol::V5
        {
            return fail(
                "password",
                "MQTT 3 sends a password only with a user name: set username".into(),
            );
        }
        if self.key_file.is_some() != self.cert_file.is_some() {
            return fail("cert_file", "cert_file and key_file go together".into());
        }
        if self.topic.is_empty() {
            return fail("topic", "give at least one topic rule".into());
        }
        for (i, rule) in self.topic.iter().enumerate() {
            rule.validate()
                .map_err(|(field, message)| BridgeConfigError {
                    field: format!("topic[{i}].{field}"),
                    message,
                })?;
        }
        Ok(())
    }

    /// Whether it speaks TLS to the remote.
    pub fn uses_tls(&self) -> bool {
        self.tls || self.ca_file.is_some()
    }
}

impl TopicRule {
    /// The filter this rule subscribes to on this broker.
    pub fn local_filter(&self) -> String {
        format!("{}{}", self.local_prefix, self.pattern)
    }

    /// The filter this rule subscribes to on the remote.
    pub fn remote_filter(&self) -> String {
        format!("{}{}", self.remote_prefix, self.pattern)
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.qos > 2 {
            return Err(("qos", format!("{} is not 0, 1 or 2", self.qos)));
        }
        for (field, prefix) in [
            ("local_prefix", &self.local_prefix),
            ("remote_prefix", &self.remote_prefix),
        ] {
            if prefix.contains(['+', '#']) {
                return Err((field, format!("{prefix:?} must not hold + or #")));
            }
        }
        if self.pattern.is_empty() {
            // Mosquitto: `topic "" both 0 local/x remote/x` renames one topic.
            if self.local_prefix.is_empty() || self.remote_prefix.is_empty() {
                return Err((
                    "pattern",
                    "an empty pattern needs both prefixes (they are then the whole topics)".into(),
                ));
            }
        }
        for (field, filter) in [
            ("local_prefix", self.local_filter()),
            ("remote_prefix", self.remote_filter()),
        ] {
            if let Err(err) = mqtt::topic::validate_topic_filter(&filter) {
                let field = if self.pattern.is_empty() {
                    field
                } else {
                    "pattern"
                };
                return Err((field, format!("{filter:?} is not a topic filter: {err}")));
            }
        }
        Ok(())
    }
}

/// `host:port` (an IPv6 host in brackets), with a port that is a number.
pub fn split_address(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some(())?;
    Some((host, port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> BridgeConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn mosquitto_defaults_apply_to_what_is_left_out() {
        let bridge = parse(
            r#"
            name = "cloud"
            addresses = ["example.com:1883"]
            [[topic]]
            pattern = "sensors/#"
            "#,
        );
        assert_eq!(bridge.protocol, BridgeProtocol::V311);
        assert!(!bridge.clean_start);
        assert!(bridge.try_private);
        assert!(bridge.enabled);
        assert_eq!(bridge.keepalive, 60);
        assert_eq!(bridge.topic[0].direction, Direction::Out);
        assert_eq!(bridge.topic[0].qos, 0);
        assert_eq!(bridge.validate(), Ok(()));
    }

    #[test]
    fn each_mistake_names_its_field() {
        let base = parse(
            r#"
            name = "b"
            addresses = ["h:1"]
            [[topic]]
            pattern = "a/#"
            "#,
        );
        type Change = Box<dyn Fn(&mut BridgeConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            ("name", Box::new(|b| b.name = "a/b".into())),
            ("addresses", Box::new(|b| b.addresses.clear())),
            (
                "addresses[1]",
                Box::new(|b| b.addresses.push("nohost".into())),
            ),
            ("topic", Box::new(|b| b.topic.clear())),
            ("topic[0].qos", Box::new(|b| b.topic[0].qos = 3)),
            (
                "topic[0].pattern",
                Box::new(|b| b.topic[0].pattern = "a/#/b".into()),
            ),
            (
                "topic[0].local_prefix",
                Box::new(|b| b.topic[0].local_prefix = "x/+/".into()),
            ),
            (
                "topic[0].pattern",
                Box::new(|b| b.topic[0].pattern = String::new()),
            ),
            ("cert_file", Box::new(|b| b.key_file = Some("k.pem".into()))),
            ("password", Box::new(|b| b.password = Some("p".into()))),
        ];
        for (field, change) in cases {
            let mut bridge = base.clone();
            change(&mut bridge);
            assert_eq!(bridge.validate().unwrap_err().field, field);
        }
    }

    #[test]
    fn an_empty_pattern_with_both_prefixes_renames_one_topic() {
        let rule = TopicRule {
            pattern: String::new(),
            direction: Direction::Both,
            qos: 1,
            local_prefix: "here/temp".into(),
            remote_prefix: "there/t".into(),
        };
        assert_eq!(rule.validate(), Ok(()));
        assert_eq!(rule.local_filter(), "here/temp");
        assert_eq!(rule.remote_filter(), "there/t");
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split_address("a.b:1883"), Some(("a.b", 1883)));
        assert_eq!(split_address("[::1]:8883"), Some(("::1", 8883)));
        assert_eq!(split_address(":1883"), None);
        assert_eq!(split_address("host"), None);
        assert_eq!(split_address("host:x"), None);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = toml::from_str::<BridgeConfig>("name = \"b\"\naddresses=[]\nadress = 1\n");
        assert!(err.unwrap_err().to_string().contains("adress"));
    }
}
