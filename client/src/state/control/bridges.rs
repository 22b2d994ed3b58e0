//! The bridges page's state: the form (create and edit a bridge, its
//! topic rules), the commands it sends, and the list `listBridges` polls,
//! with each bridge's message rates from two successive polls.

use kite_convention::control::{BridgeSettings, BridgeStatus, BridgeTopic, HIDDEN_PASSWORD};
use serde_json::{json, Value};

use super::{command, Outcome};

/// The protocols a bridge may speak to its remote, as the API names them.
pub const PROTOCOLS: [(&str, &str); 3] = [
    ("mqttv311", "MQTT 3.1.1"),
    ("mqttv50", "MQTT 5"),
    ("mqttv31", "MQTT 3.1"),
];

/// The directions of a topic rule.
pub const DIRECTIONS: [&str; 3] = ["out", "in", "both"];

/// One topic rule as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicForm {
    pub pattern: String,
    pub direction: String,
    pub qos: String,
    pub local_prefix: String,
    pub remote_prefix: String,
}

impl Default for TopicForm {
    fn default() -> TopicForm {
        TopicForm {
            pattern: String::new(),
            direction: "out".into(),
            qos: "0".into(),
            local_prefix: String::new(),
            remote_prefix: String::new(),
        }
    }
}

/// The bridge form: every setting as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeForm {
    /// Editing the live bridge of this name (`modifyBridge`); `None`: a new one.
    pub editing: Option<String>,
    pub name: String,
    /// Remote addresses, `host:port`, separated by commas or spaces.
    pub addresses: String,
    pub protocol: String,
    pub client_id: String,
    pub username: String,
    /// Blank when editing: keeps the password the bridge has.
    pub password: String,
    pub clean_start: bool,
    pub keepalive: String,
    pub tls: bool,
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub insecure: bool,
    pub try_private: bool,
    pub max_queued_messages: String,
    pub restart_timeout: String,
    pub enabled: bool,
    pub topics: Vec<TopicForm>,
}

impl Default for BridgeForm {
    fn default() -> BridgeForm {
        BridgeForm {
            editing: None,
            name: String::new(),
            addresses: String::new(),
            protocol: "mqttv311".into(),
            client_id: String::new(),
            username: String::new(),
            password: String::new(),
            clean_start: false,
            keepalive: "60".into(),
            tls: false,
            ca_file: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
            insecure: false,
            try_private: true,
            max_queued_messages: "1000".into(),
            restart_timeout: "5".into(),
            enabled: true,
            topics: vec![TopicForm::default()],
        }
    }
}

/// The form's fields, as the API names them in its errors: shown next to
/// their input (`bridge.topic[<i>].<field>` for the rules).
pub const FIELDS: [&str; 15] = [
    "bridge.name",
    "bridge.addresses",
    "bridge.protocol",
    "bridge.client_id",
    "bridge.username",
    "bridge.password",
    "bridge.keepalive",
    "bridge.ca_file",
    "bridge.cert_file",
    "bridge.key_file",
    "bridge.max_queued_messages",
    "bridge.restart_timeout",
    "bridge.topic",
    "bridge.tls",
    "name",
];

/// Does the form show an input for `field` (an error there goes next to it)?
pub fn shows(field: &str) -> bool {
    FIELDS.contains(&field)
        || field.starts_with("bridge.topic[")
        || field.starts_with("bridge.addresses[")
}

/// The field an error of `field` is shown at: `bridge.addresses[1]` at
/// the addresses, `name` (pause, delete) at the name.
pub fn shown_at(field: &str) -> &str {
    if field.starts_with("bridge.addresses[") {
        "bridge.addresses"
    } else if field == "name" {
        "bridge.name"
    } else {
        field
    }
}

fn text(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

fn number<T: std::str::FromStr>(value: &str, field: &str, what: &str) -> Result<T, Outcome> {
    value
        .trim()
        .parse()
        .map_err(|_| Outcome::field(field, format!("{what}: {:?} is not a number", value.trim())))
}

impl BridgeForm {
    /// The form for a listed bridge, to edit (or, from the file, to read).
    pub fn from_status(status: &BridgeStatus) -> BridgeForm {
        let c = &status.config;
        let or_blank = |v: &Option<String>| v.clone().unwrap_or_default();
        BridgeForm {
            editing: Some(c.name.clone()),
            name: c.name.clone(),
            addresses: c.addresses.join(", "),
            protocol: c.protocol.clone(),
            client_id: or_blank(&c.client_id),
            username: or_blank(&c.username),
            // Never shown; blank keeps it.
            password: String::new(),
            clean_start: c.clean_start,
            keepalive: c.keepalive.to_string(),
            tls: c.tls,
            ca_file: or_blank(&c.ca_file),
            cert_file: or_blank(&c.cert_file),
            key_file: or_blank(&c.key_file),
            insecure: c.insecure,
            try_private: c.try_private,
            max_queued_messages: c.max_queued_messages.to_string(),
            restart_timeout: c.restart_timeout.to_string(),
            enabled: c.enabled,
            topics: c
                .topic
                .iter()
                .map(|t| TopicForm {
                    pattern: t.pattern.clone(),
                    direction: t.direction.clone(),
                    qos: t.qos.to_string(),
                    local_prefix: t.local_prefix.clone(),
                    remote_prefix: t.remote_prefix.clone(),
                })
                .collect(),
        }
    }

    /// The settings as the API takes them; a number that does not read is
    /// an error at its field, named as the broker names it. What only the
    /// broker can judge (names, filters, addresses) is left to it.
    pub fn settings(&self) -> Result<BridgeSettings, Outcome> {
        let mut topic = Vec::new();
        for (i, t) in self.topics.iter().enumerate() {
            let blank = t.pattern.trim().is_empty()
                && t.local_prefix.trim().is_empty()
                && t.remote_prefix.trim().is_empty();
            if blank && self.topics.len() > 1 {
                continue;
            }
            topic.push(BridgeTopic {
                pattern: t.pattern.trim().to_owned(),
                direction: t.direction.clone(),
                qos: number(&t.qos, &format!("bridge.topic[{i}].qos"), "QoS")?,
                local_prefix: t.local_prefix.trim().to_owned(),
                remote_prefix: t.remote_prefix.trim().to_owned(),
            });
        }
        let password = match (self.password.as_str(), &self.editing) {
            ("", Some(_)) => None,
            ("", None) => None,
            (password, _) => Some(password.to_owned()),
        };
        Ok(BridgeSettings {
            name: self.name.trim().to_owned(),
            addresses: self
                .addresses
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
            protocol: self.protocol.clone(),
            client_id: text(&self.client_id),
            username: text(&self.username),
            password,
            clean_start: self.clean_start,
            session_expiry: None,
            keepalive: number(&self.keepalive, "bridge.keepalive", "keepalive")?,
            tls: self.tls,
            ca_file: text(&self.ca_file),
            cert_file: text(&self.cert_file),
            key_file: text(&self.key_file),
            insecure: self.insecure,
            try_private: self.try_private,
            max_queued_messages: number(
                &self.max_queued_messages,
                "bridge.max_queued_messages",
                "max queued messages",
            )?,
            restart_timeout: number(
                &self.restart_timeout,
                "bridge.restart_timeout",
                "restart timeout",
            )?,
            enabled: self.enabled,
            topic,
        })
    }

    /// The command that saves the form: `createBridge` for a new bridge,
    /// `modifyBridge` for one being edited.
    pub fn command(&self) -> Result<Value, Outcome> {
        let settings = self.settings()?;
        let name = if self.editing.is_some() {
            "modifyBridge"
        } else {
            "createBridge"
        };
        Ok(command(name, json!({ "bridge": settings })))
    }
}

/// `listBridges`.
pub fn list_command() -> Value {
    command("listBridges", json!({}))
}

/// Pause (`disableBridge`) or resume (`enableBridge`) the bridge `name`.
pub fn pause_command(name: &str, pause: bool) -> Value {
    let verb = if pause {
        "disableBridge"
    } else {
        "enableBridge"
    };
    command(verb, json!({ "name": name }))
}

/// `deleteBridge`.
pub fn delete_command(name: &str) -> Value {
    command("deleteBridge", json!({ "name": name }))
}

/// A listed bridge and its rates (messages per second since the poll
/// before; `None` until two polls were seen).
#[derive(Clone, Debug, PartialEq)]
pub struct BridgeRow {
    pub status: BridgeStatus,
    pub sent_rate: Option<f64>,
    pub received_rate: Option<f64>,
}

impl BridgeRow {
    pub fn name(&self) -> &str {
        &self.status.config.name
    }

    /// From the configuration file: paused and resumed here, changed there.
    pub fn from_file(&self) -> bool {
        self.status.source == "file"
    }

    /// `connected`, `paused` or `connecting` (enabled, not connected).
    pub fn state(&self) -> &'static str {
        match (self.status.connected, self.status.config.enabled) {
            (true, _) => "connected",
            (false, false) => "paused",
            (false, true) => "connecting",
        }
    }

    /// Has a password (the list shows it hidden).
    pub fn has_password(&self) -> bool {
        self.status.config.password.as_deref() == Some(HIDDEN_PASSWORD)
    }

    /// The rules in Mosquitto's words: `sensors/# out 1 site1/ ""`.
    pub fn rules(&self) -> Vec<String> {
        self.status
            .config
            .topic
            .iter()
            .map(|t| {
                let quote = |s: &str| {
                    if s.is_empty() {
                        "\"\"".to_owned()
                    } else {
                        s.to_owned()
                    }
                };
                let mut rule = format!("{} {} {}", quote(&t.pattern), t.direction, t.qos);
                if !t.local_prefix.is_empty() || !t.remote_prefix.is_empty() {
                    rule.push_str(&format!(
                        " {} {}",
                        quote(&t.local_prefix),
                        quote(&t.remote_prefix)
                    ));
                }
                rule
            })
            .collect()
    }
}

/// The bridges as the last poll listed them, with their rates.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BridgeBook {
    pub rows: Vec<BridgeRow>,
    /// When the last list came (ms since the epoch); 0: never.
    pub at_ms: u64,
    /// Why the last poll failed, if it did.
    pub error: Option<String>,
}

impl BridgeBook {
    /// Take a `listBridges` `data` received at `now_ms`: each bridge's
    /// rates from its counts at the poll before (a count that went down,
    /// a bridge recreated, starts again).
    pub fn update(&mut self, data: &Value, now_ms: u64) -> Result<(), String> {
        let list: Vec<BridgeStatus> = data
            .get("bridges")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| format!("a bridge list that does not read: {e}"))?
            .unwrap_or_default();
        let seconds = now_ms.saturating_sub(self.at_ms) as f64 / 1000.0;
        let rate = |now: u64, before: u64| {
            (self.at_ms > 0 && seconds > 0.0 && now >= before)
                .then(|| (now - before) as f64 / seconds)
        };
        let rows = list
            .into_iter()
            .map(|status| {
                let before = self.rows.iter().find(|r| r.name() == status.config.name);
                BridgeRow {
                    sent_rate: before.and_then(|b| rate(status.sent, b.status.sent)),
                    received_rate: before.and_then(|b| rate(status.received, b.status.received)),
                    status,
                }
            })
            .collect();
        self.rows = rows;
        self.at_ms = now_ms;
        self.error = None;
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&BridgeRow> {
        self.rows.iter().find(|r| r.name() == name)
    }
}

/// A rate as the list shows it: `12.5 msg/s`, `—` before two polls.
pub fn format_rate(rate: Option<f64>) -> String {
    match rate {
        None => "—".to_owned(),
        Some(r) if r < 10.0 => format!("{r:.1} msg/s"),
        Some(r) => format!("{r:.0} msg/s"),
    }
}

#[cfg(test)]
mod tests;
