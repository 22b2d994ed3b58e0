//! The broker-wide settings: authentication and access control, limits,
//! persistence, and the rest (logging, plugins, …), each section with the
//! lines that belong to it.

use super::{
    out::{from, Out},
    read::{scope, Conf, Line, Scope},
};

/// Where a broker-wide option goes in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Access,
    Limits,
    Persistence,
    Other,
}

fn section(key: &str) -> Section {
    match key {
        "acl_file"
        | "allow_anonymous"
        | "allow_zero_length_clientid"
        | "auth_plugin"
        | "auth_plugin_deny_special_chars"
        | "auto_id_prefix"
        | "password_file"
        | "plugin"
        | "psk_file"
        | "per_listener_settings"
        | "clientid_prefixes" => Section::Access,
        k if k.starts_with("auth_opt_") || k.starts_with("plugin_opt_") => Section::Access,
        "max_inflight_messages"
        | "max_inflight_bytes"
        | "max_queued_messages"
        | "max_queued_bytes"
        | "max_packet_size"
        | "message_size_limit"
        | "max_keepalive"
        | "memory_limit"
        | "queue_qos0_messages"
        | "upgrade_outgoing_qos"
        | "retain_available" => Section::Limits,
        "persistence"
        | "retained_persistence"
        | "persistence_location"
        | "persistence_file"
        | "autosave_interval"
        | "autosave_on_changes"
        | "persistent_client_expiration" => Section::Persistence,
        _ => Section::Other,
    }
}

/// What one line becomes.
enum Outcome {
    Key(&'static str, toml::Value),
    Skipped(String),
    NotNeeded(String),
}

use Outcome::{Key, NotNeeded, Skipped};

/// Payload limit (`message_size_limit`) → packet limit: room for the
/// fixed header, the longest topic and properties.
const PACKET_OVERHEAD: i64 = 65_536;
/// The largest MQTT packet: 256 MiB of remaining length, 5 header bytes.
const MQTT_MAX_PACKET: i64 = 268_435_460;

/// Write the broker-wide sections.
pub(super) fn write(conf: &Conf, out: &mut Out) {
    let has = |key: &str| conf.globals.iter().any(|line| line.key == key);
    let listeners = conf.default_listener.is_some() || !conf.listeners.is_empty();
    let per_listener = conf
        .globals
        .iter()
        .any(|line| line.key == "per_listener_settings" && line.bool() == Ok(true));
    for section in [
        Section::Access,
        Section::Limits,
        Section::Persistence,
        Section::Other,
    ] {
        let mut part = Out::default();
        let lines: Vec<&Line> = conf
            .globals
            .iter()
            .filter(|line| self::section(line.key) == section)
            .collect();
        for (index, line) in lines.iter().enumerate() {
            let outcome = outcome(line, &has);
            // Mosquitto keeps the last value of a repeated setting.
            let later = lines[index + 1..].iter().find(|l| l.key == line.key);
            if let (Key(..), Some(later)) = (&outcome, later) {
                let why = if per_listener && scope(line.key) == Scope::Security {
                    format!(
                        "Kite has one `{}` for every listener: line {}'s",
                        line.key, later.number
                    )
                } else {
                    format!("line {} sets it again", later.number)
                };
                part.skipped(line, &why);
                continue;
            }
            match outcome {
                Key(key, value) => {
                    part.key(key, value, &from(&[line]));
                    if key == "password_file" {
                        part.note(
                            "Kite reads mosquitto_passwd's hashes ($7$, $6$) as they are; \
                             `kite-server passwd` adds users (argon2id)",
                        );
                    }
                }
                Skipped(why) => part.skipped(line, &why),
                NotNeeded(why) => part.not_needed(line, &why),
            }
        }
        match section {
            Section::Access if listeners && !has("allow_anonymous") => part.key(
                "allow_anonymous",
                false,
                "Mosquitto 2's default once listeners are defined (Kite's: loopback only)",
            ),
            Section::Persistence if !has("persistence") && !has("retained_persistence") => part
                .key(
                    "durability",
                    "none",
                    "Mosquitto's default (persistence false): nothing survives a restart; \
                     remove this line to keep sessions and retained messages",
                ),
            _ => {}
        }
        if !part.text.is_empty() {
            out.section(match section {
                Section::Access => "Authentication and access control",
                Section::Limits => "Limits",
                Section::Persistence => "Persistence",
                Section::Other => "Other settings",
            });
            out.text.push_str(&part.text);
        }
    }
}

/// What Kite makes of one broker-wide line.
fn outcome(line: &Line, has: &dyn Fn(&str) -> bool) -> Outcome {
    let value = || toml::Value::String(line.value.to_string());
    let int = |check: &dyn Fn(i64) -> Outcome| match line.int() {
        Ok(n) => check(n),
        Err(why) => Skipped(why),
    };
    let flag = |key: &'static str| match line.bool() {
        Ok(on) => Key(key, on.into()),
        Err(why) => Skipped(why),
    };
    match line.key {
        "allow_anonymous" => flag("allow_anonymous"),
        "password_file" => Key("password_file", value()),
        "acl_file" => Key("acl_file", value()),
        "per_listener_settings" => match line.bool() {
            Ok(true) => Skipped(
                "Kite's password_file, acl_file and allow_anonymous apply to every listener".into(),
            ),
            Ok(false) => NotNeeded("Kite's security settings apply to every listener".into()),
            Err(why) => Skipped(why),
        },
        "allow_zero_length_clientid" | "auto_id_prefix" => {
            Skipped("Kite has no setting for it".into())
        }
        "psk_file" => Skipped("Kite has no TLS-PSK".into()),
        "clientid_prefixes" => Skipped("Kite has no client id prefixes".into()),
        k if k == "plugin"
            || k == "auth_plugin"
            || k == "auth_plugin_deny_special_chars"
            || k.starts_with("auth_opt_")
            || k.starts_with("plugin_opt_") =>
        {
            Skipped("Kite loads no plugins".into())
        }
        "max_inflight_messages" => int(&|n| match n {
            0 | 65_535.. => Key("max_inflight", 65_535.into()),
            1.. => Key("max_inflight", n.into()),
            _ => Key("max_inflight", 65_535.into()),
        }),
        "max_queued_messages" => int(&|n| match n {
            1.. => Key("max_queued_messages", n.into()),
            _ => Skipped(
                "no limit: Kite always bounds each client's queue (default 1000 messages)".into(),
            ),
        }),
        "max_queued_bytes" => int(&|n| match n {
            1.. => Key("max_queued_bytes", n.into()),
            _ => {
                Skipped("no limit: Kite always bounds each client's queue (default 64 MiB)".into())
            }
        }),
        "max_packet_size" => int(&|n| match n {
            20.. => Key("max_packet_size", n.min(MQTT_MAX_PACKET).into()),
            _ => Skipped("Mosquitto refuses a max_packet_size under 20".into()),
        }),
        "message_size_limit" if has("max_packet_size") => {
            NotNeeded("max_packet_size sets Kite's limit".into())
        }
        "message_size_limit" => int(&|n| match n {
            1.. => Key(
                "max_packet_size",
                (n + PACKET_OVERHEAD).min(MQTT_MAX_PACKET).into(),
            ),
            _ => NotNeeded("no limit (Kite's max_packet_size default is 16 MiB)".into()),
        }),
        "max_keepalive" => int(&|n| match n {
            1..=65_535 => Key("max_keepalive", n.into()),
            0 => Skipped("Kite has no way to let clients go without keepalive".into()),
            _ => Skipped("not a keepalive (0 to 65535)".into()),
        }),
        "memory_limit" => Skipped(
            "Kite bounds memory per client (max_queued_messages, max_queued_bytes) instead".into(),
        ),
        "max_inflight_bytes"
        | "queue_qos0_messages"
        | "upgrade_outgoing_qos"
        | "retain_available" => Skipped("Kite has no setting for it".into()),
        "persistence" | "retained_persistence" => match line.bool() {
            Ok(true) => Key("durability", "batch".into()),
            Ok(false) => Key("durability", "none".into()),
            Err(why) => Skipped(why),
        },
        "persistence_location" => Key("data_dir", value()),
        "persistence_file" => Skipped(
            "Kite keeps its own files in data_dir and cannot read mosquitto.db: retained \
             messages and sessions are not carried over"
                .into(),
        ),
        "autosave_interval" | "autosave_on_changes" => NotNeeded(
            "Kite commits every acknowledged message within milliseconds (durability batch)".into(),
        ),
        "persistent_client_expiration" => Skipped("Kite has no setting for it".into()),
        "sys_interval" => int(&|n| match n {
            0.. => Key("sys_interval", n.into()),
            _ => Skipped("not a number of seconds".into()),
        }),
        "log_dest"
        | "log_type"
        | "log_timestamp"
        | "log_timestamp_format"
        | "log_facility"
        | "connection_messages"
        | "websockets_log_level" => Skipped(
            "Kite logs to standard output; RUST_LOG chooses what (e.g. RUST_LOG=debug)".into(),
        ),
        "pid_file" => Skipped("Kite writes no pid file (run it under systemd)".into()),
        "user" => Skipped("Kite does not change user: start it as that user".into()),
        "include_dir" => Skipped(
            "translate each file of that folder with `kite-server import-mosquitto` too and \
             merge them"
                .into(),
        ),
        "set_tcp_nodelay" | "check_retain_source" | "allow_duplicate_messages" => {
            Skipped("Kite has no setting for it".into())
        }
        "retry_interval" => NotNeeded("Mosquitto 2 ignores it too".into()),
        _ => Skipped("not a Mosquitto 2.0 option Kite knows".into()),
    }
}
