//! `connection` sections → `[[bridge]]` tables, one `[[bridge.topic]]` per
//! `topic` line. Mosquitto's defaults are written out (protocol, clean
//! start, keepalive, try_private, restart timeout), so the bridge behaves
//! the same whatever Kite's own defaults are.

use super::{
    out::{from, Out},
    read::{Bridge, Conf, Line},
};

/// Write every bridge.
pub(super) fn write(conf: &Conf, out: &mut Out) {
    if conf.bridges.is_empty() && conf.orphans.is_empty() {
        return;
    }
    out.section("Bridges");
    for line in &conf.orphans {
        out.skipped(line, "a bridge option before any `connection` line");
    }
    // Mosquitto's bridges also queue at most max_queued_messages.
    let queued = conf
        .globals
        .iter()
        .rev()
        .find(|line| line.key == "max_queued_messages")
        .and_then(|line| line.int().ok().filter(|&n| n > 0).map(|n| (n, line)));
    for (index, bridge) in conf.bridges.iter().enumerate() {
        let why_not = if bridge.name.is_empty() {
            Some("a bridge needs a name".to_string())
        } else if conf.bridges[..index].iter().any(|b| b.name == bridge.name) {
            Some(format!("a second bridge named `{}`", bridge.name))
        } else if !bridge
            .settings
            .iter()
            .any(|line| matches!(line.key, "address" | "addresses"))
        {
            Some("a bridge without address: Mosquitto refuses it too".to_string())
        } else if !bridge.settings.iter().any(|line| line.key == "topic") {
            Some("a bridge without topic: it would carry nothing, Kite refuses it".to_string())
        } else {
            None
        };
        if let Some(why) = why_not {
            out.skipped(&bridge.opened_by, &why);
            for line in &bridge.settings {
                out.skipped(line, &why);
            }
            continue;
        }
        write_bridge(bridge, queued, out);
    }
}

/// One `[[bridge]]` table.
fn write_bridge(bridge: &Bridge, queued: Option<(i64, &Line)>, out: &mut Out) {
    out.raw("");
    out.raw("[[bridge]]");
    let name: String = bridge
        .name
        .chars()
        .take(64)
        .map(
            |c| match c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                true => c,
                false => '-',
            },
        )
        .collect();
    out.key("name", name.as_str(), &from(&[&bridge.opened_by]));
    if name != bridge.name {
        out.note("renamed: Kite's bridge names are 1 to 64 of A-Z a-z 0-9 _ . -");
    }
    let mut keys: Vec<(&'static str, toml::Value, String)> = Vec::new();
    let mut skipped: Vec<(Line, String)> = Vec::new();
    let mut not_needed: Vec<(Line, String)> = Vec::new();
    let mut topics: Vec<(Line, Topic)> = Vec::new();
    let mut addresses: Vec<String> = Vec::new();
    let mut address_lines: Vec<&Line> = Vec::new();
    for line in &bridge.settings {
        let here = from(&[line]);
        let string = || toml::Value::String(line.value.to_string());
        let mut set = |key: &'static str, value: toml::Value| {
            keys.retain(|(k, _, _)| *k != key);
            keys.push((key, value, here.clone()));
        };
        let mut flag = |key: &'static str| match line.bool() {
            Ok(on) => set(key, on.into()),
            Err(why) => skipped.push((*line, why)),
        };
        match line.key {
            "address" | "addresses" if address_lines.is_empty() => {
                addresses.extend(line.words().iter().map(|address| with_port(address)));
                address_lines.push(line);
            }
            "address" | "addresses" => {
                skipped.push((*line, "a second address line: Mosquitto refuses it".into()))
            }
            "bridge_protocol_version" => match line.value {
                "mqttv31" | "mqttv311" | "mqttv50" => set("protocol", string()),
                _ => skipped.push((*line, "expected mqttv31, mqttv311 or mqttv50".into())),
            },
            "remote_clientid" | "clientid" => set("client_id", string()),
            "remote_username" | "username" => set("username", string()),
            "remote_password" | "password" => set("password", string()),
            "cleansession" => flag("clean_start"),
            "bridge_session_expiry_interval" => match line.int() {
                Ok(n) if n >= 0 => set("session_expiry", n.min(u32::MAX.into()).into()),
                _ => skipped.push((*line, "not a number of seconds".into())),
            },
            "keepalive_interval" => match line.int() {
                Ok(n @ 5..=65_535) => set("keepalive", n.into()),
                Ok(0..=4) => set("keepalive", 5.into()),
                _ => skipped.push((*line, "not a keepalive (5 to 65535)".into())),
            },
            "bridge_cafile" => {
                set("tls", true.into());
                set("ca_file", string());
            }
            "bridge_capath" => {
                set("tls", true.into());
                skipped.push((
                    *line,
                    "Kite reads the CA certificates from one file (ca_file): concatenate \
                     that folder's certificates into one"
                        .into(),
                ));
            }
            "bridge_certfile" => set("cert_file", string()),
            "bridge_keyfile" => set("key_file", string()),
            "bridge_insecure" => flag("insecure"),
            "try_private" => flag("try_private"),
            "restart_timeout" => {
                let words = line.words();
                match words.first().and_then(|w| w.parse::<i64>().ok()) {
                    Some(base) => {
                        set("restart_timeout", base.max(1).into());
                        if let Some(cap) = words.get(1) {
                            skipped.push((
                                *line,
                                format!(
                                    "Kite waits restart_timeout seconds between attempts; \
                                     Mosquitto's backoff from {base} up to {cap} s is not kept"
                                ),
                            ));
                        }
                    }
                    None => skipped.push((*line, "not a number of seconds".into())),
                }
            }
            "start_type" => match line.words().first().copied() {
                Some("automatic") => set("enabled", true.into()),
                Some("once") => {
                    set("enabled", true.into());
                    skipped.push((
                        *line,
                        "Kite restarts a bridge whose connection fails; Mosquitto's `once` did not"
                            .into(),
                    ));
                }
                Some("lazy") => {
                    set("enabled", false.into());
                    skipped.push((
                        *line,
                        "Kite has no lazy start: the bridge is off (enabled = false); set \
                         enabled = true to run it all the time"
                            .into(),
                    ));
                }
                Some("manual") => set("enabled", false.into()),
                _ => skipped.push((*line, "expected automatic, lazy or once".into())),
            },
            "topic" => match Topic::parse(line) {
                Ok(topic) => topics.push((*line, topic)),
                Err(why) => skipped.push((*line, why)),
            },
            "round_robin" => skipped.push((
                *line,
                "Kite tries the addresses in turn and stays on the one that answers".into(),
            )),
            "idle_timeout" | "threshold" => skipped.push((
                *line,
                "for Mosquitto's lazy start, which Kite has not".into(),
            )),
            "bridge_attempt_unsubscribe" if line.bool() == Ok(true) => {
                not_needed.push((*line, "Mosquitto's default".into()))
            }
            "notifications" if line.bool() == Ok(true) => {
                not_needed.push((*line, "Mosquitto's default".into()))
            }
            _ => skipped.push((*line, "Kite's [[bridge]] has no setting for it".into())),
        }
    }
    out.key("addresses", addresses, &from(&address_lines));
    let defaults: [(&'static str, toml::Value, &str); 6] = [
        ("protocol", "mqttv311".into(), "Mosquitto's default"),
        (
            "clean_start",
            false.into(),
            "Mosquitto's default (cleansession false)",
        ),
        ("keepalive", 60.into(), "Mosquitto's default"),
        ("try_private", true.into(), "Mosquitto's default"),
        (
            "restart_timeout",
            5.into(),
            "Mosquitto's default is a backoff from 5 up to 30 s",
        ),
        (
            "enabled",
            true.into(),
            "start_type automatic, Mosquitto's default",
        ),
    ];
    let order = [
        "protocol",
        "client_id",
        "username",
        "password",
        "clean_start",
        "session_expiry",
        "keepalive",
        "tls",
        "ca_file",
        "cert_file",
        "key_file",
        "insecure",
        "try_private",
        "max_queued_messages",
        "restart_timeout",
        "enabled",
    ];
    for key in order {
        if let Some((_, value, why)) = keys.iter().find(|(k, _, _)| *k == key) {
            out.key(key, value.clone(), why);
        } else if let Some((_, value, why)) = defaults.iter().find(|(k, _, _)| *k == key) {
            out.key(key, value.clone(), why);
        } else if let ("max_queued_messages", Some((n, line))) = (key, queued) {
            out.key(
                key,
                n,
                &format!("max_queued_messages of line {}", line.number),
            );
        }
    }
    for (line, why) in &not_needed {
        out.not_needed(line, why);
    }
    for (line, why) in &skipped {
        out.skipped(line, why);
    }
    for (line, topic) in topics {
        out.raw(&format!("[[bridge.topic]]  # {}", from(&[&line])));
        out.key("pattern", topic.pattern, "");
        out.key("direction", topic.direction, "");
        out.key("qos", topic.qos, "");
        out.key("local_prefix", topic.local_prefix, "");
        out.key("remote_prefix", topic.remote_prefix, "");
    }
}

/// `host` → `host:1883`, Mosquitto's default port; `host:port` and
/// `[v6]:port` stay.
fn with_port(address: &str) -> String {
    if address
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty())
    {
        address.to_string()
    } else {
        format!("{}:1883", address.trim_end_matches(':'))
    }
}

/// `topic pattern [[[ out | in | both ] qos-level] local-prefix remote-prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Topic {
    pub(super) pattern: String,
    pub(super) direction: String,
    pub(super) qos: i64,
    pub(super) local_prefix: String,
    pub(super) remote_prefix: String,
}

impl Topic {
    /// Read a `topic` line as Mosquitto does (`""` is an empty prefix).
    pub(super) fn parse(line: &Line) -> Result<Topic, String> {
        let words = line.words();
        let unquote = |word: Option<&&str>| match word.copied() {
            None | Some("\"\"") => String::new(),
            Some(word) => word.to_string(),
        };
        let Some(pattern) = words.first() else {
            return Err("a topic needs a pattern".into());
        };
        let direction = match words.get(1).map(|w| w.to_ascii_lowercase()) {
            None => "out".to_string(),
            Some(d) if matches!(d.as_str(), "in" | "out" | "both") => d,
            Some(d) => return Err(format!("direction `{d}`: expected out, in or both")),
        };
        let qos = match words.get(2) {
            None => 0,
            Some(q) => match q.parse::<i64>() {
                Ok(q @ 0..=2) => q,
                _ => return Err(format!("QoS `{q}`: expected 0, 1 or 2")),
            },
        };
        let topic = Topic {
            pattern: unquote(Some(pattern)),
            direction,
            qos,
            local_prefix: unquote(words.get(3)),
            remote_prefix: unquote(words.get(4)),
        };
        if topic.pattern.is_empty()
            && (topic.local_prefix.is_empty() || topic.remote_prefix.is_empty())
        {
            return Err("an empty pattern needs both prefixes: Mosquitto refuses it".into());
        }
        Ok(topic)
    }
}
