//! Mosquitto's listeners → Kite's three: `tcp` (MQTT), `tls` (MQTT over
//! TLS) and `http` (WebSocket at `/mqtt`, HTTPS when `cert` is set), with
//! `cert`, `key`, `client_ca`, `require_certificate`,
//! `use_identity_as_username` (shared by `tls` and HTTPS) and
//! `max_connections` (Kite counts all listeners together).

use std::net::IpAddr;

use super::{
    out::{from, Out},
    read::{Conf, Line, Listener},
};

/// Which of Kite's listeners a Mosquitto listener becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Tls,
    Http,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Tcp => "tcp",
            Kind::Tls => "tls",
            Kind::Http => "http",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Tcp => "one MQTT listener",
            Kind::Tls => "one MQTT-over-TLS listener",
            Kind::Http => "one HTTP listener for WebSocket",
        }
    }
}

/// What the listener is and where it listens; `Err` says why Kite cannot.
fn classify(listener: &Listener) -> Result<(Kind, String, Option<String>), String> {
    let (port, host) = listener.port_and_host();
    let port = port.unwrap_or("1883");
    let port: u16 = match port.parse() {
        Ok(0) if host.is_some() => {
            return Err("Kite has no Unix socket listener".into());
        }
        Ok(port) if port > 0 => port,
        _ => return Err(format!("`{port}` is not a port")),
    };
    if listener.get("psk_hint").is_some() {
        return Err("Kite has no TLS-PSK".into());
    }
    let websockets = listener
        .get("protocol")
        .is_some_and(|line| line.words().first() == Some(&"websockets"));
    let kind = match (websockets, listener.get("certfile")) {
        (true, _) => Kind::Http,
        (false, Some(_)) => Kind::Tls,
        (false, None) => Kind::Tcp,
    };
    let (ip, note) = match host {
        None => ("0.0.0.0".to_string(), None),
        Some("localhost") => ("127.0.0.1".to_string(), None),
        Some(host) => match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => (ip.to_string(), None),
            Ok(IpAddr::V6(ip)) => (format!("[{ip}]"), None),
            Err(_) => (
                "0.0.0.0".to_string(),
                Some(format!(
                    "Kite binds to an IP address, not a host name: put the address of {host} \
                     here (all interfaces until then)"
                )),
            ),
        },
    };
    Ok((kind, format!("{ip}:{port}"), note))
}

/// The TLS settings Kite's `tls` and HTTPS listeners share: the key's
/// value and the line that set it.
#[derive(Default)]
struct Shared<'a> {
    set: Vec<(&'static str, toml::Value, Line<'a>)>,
}

impl<'a> Shared<'a> {
    /// Emit `key = value` unless a listener set it already.
    fn set(&mut self, out: &mut Out, key: &'static str, value: toml::Value, line: &Line<'a>) {
        match self.set.iter().find(|(k, _, _)| *k == key) {
            Some((_, old, _)) if *old == value => {
                out.not_needed(line, &format!("the same `{key}` as above"))
            }
            Some((_, _, first)) => out.skipped(
                line,
                &format!(
                    "Kite's TLS and HTTPS listeners share one `{key}`: line {}'s",
                    first.number
                ),
            ),
            None => {
                out.key(key, value.clone(), &from(&[line]));
                self.set.push((key, value, *line));
            }
        }
    }
}

/// Write the listener keys.
pub(super) fn write(conf: &Conf, out: &mut Out) {
    out.section("Listeners");
    let all: Vec<&Listener> = conf
        .default_listener
        .iter()
        .chain(conf.listeners.iter())
        .collect();
    let mut chosen: Vec<(Kind, usize)> = Vec::new();
    let mut shared = Shared::default();
    let mut max_connections: Vec<(i64, Line)> = Vec::new();
    let mut plain_websockets = None;
    for listener in &all {
        let first = listener.opened_by.first().or(listener.settings.first());
        let (kind, address, note) = match classify(listener) {
            Ok(found) => found,
            Err(why) => {
                skip_all(listener, out, &why);
                continue;
            }
        };
        if let Some((_, line)) = chosen.iter().find(|(k, _)| *k == kind) {
            let why = format!(
                "Kite has {}: `{}` from line {line}",
                kind.what(),
                kind.key()
            );
            skip_all(listener, out, &why);
            continue;
        }
        chosen.push((kind, first.map_or(0, |line| line.number)));
        let mut opened: Vec<&Line> = listener.opened_by.iter().collect();
        opened.extend(listener.get("protocol"));
        out.key(kind.key(), address, &from(&opened));
        if let Some(note) = note {
            out.note(&note);
        }
        if kind == Kind::Http && listener.get("certfile").is_none() {
            plain_websockets = listener.opened_by.first().copied();
        }
        for line in &listener.settings {
            setting(line, listener, kind, out, &mut shared, &mut max_connections);
        }
    }
    if !chosen.iter().any(|(kind, _)| *kind == Kind::Tcp) {
        let why = if all.is_empty() {
            "Mosquitto 2 without listeners: port 1883 on loopback only, anonymous clients allowed"
        } else {
            "Mosquitto had no plain MQTT listener; Kite always has one: kept on loopback"
        };
        out.key("tcp", "127.0.0.1:1883", why);
    }
    if !chosen.iter().any(|(kind, _)| *kind == Kind::Http) {
        out.key(
            "http",
            "127.0.0.1:8080",
            "Mosquitto had no websockets listener; Kite always serves HTTP (dashboard, \
             /metrics, MQTT over WebSocket at /mqtt): kept on loopback",
        );
    }
    let has_cert = shared.set.iter().any(|(key, _, _)| *key == "cert");
    if let (Some(line), true) = (plain_websockets, has_cert) {
        out.note(&format!(
            "with `cert` set, Kite's HTTP listener serves HTTPS and WSS; Mosquitto's \
             websockets listener (line {}) was plain",
            line.number
        ));
    }
    if !max_connections.is_empty() {
        let total: i64 = max_connections.iter().map(|(n, _)| n).sum();
        let lines: Vec<&Line> = max_connections.iter().map(|(_, line)| line).collect();
        out.key("max_connections", total, &from(&lines));
        if lines.len() > 1 || chosen.len() > 1 {
            out.note(
                "Mosquitto counts max_connections per listener, Kite over all its listeners \
                 together: the sum of the limits above",
            );
        }
    }
}

/// Every line of a listener Kite does not get.
fn skip_all(listener: &Listener, out: &mut Out, why: &str) {
    for line in listener.opened_by.iter().chain(&listener.settings) {
        out.skipped(line, why);
    }
}

/// One option of a listener Kite keeps.
fn setting<'a>(
    line: &Line<'a>,
    listener: &Listener<'a>,
    kind: Kind,
    out: &mut Out,
    shared: &mut Shared<'a>,
    max_connections: &mut Vec<(i64, Line<'a>)>,
) {
    let tls = kind != Kind::Tcp;
    let checks_clients =
        listener.is_on("require_certificate") || listener.is_on("use_identity_as_username");
    let string = || toml::Value::String(line.value.to_string());
    match line.key {
        "protocol" => {}
        "certfile" if tls => shared.set(out, "cert", string(), line),
        "keyfile" if tls => shared.set(out, "key", string(), line),
        "cafile" if tls && checks_clients => shared.set(out, "client_ca", string(), line),
        "cafile" if tls => out.not_needed(
            line,
            "Mosquitto checks client certificates only with require_certificate true",
        ),
        "require_certificate" | "use_identity_as_username" if tls => match line.bool() {
            Ok(true) => {
                let key = match line.key {
                    "require_certificate" => "require_certificate",
                    _ => "use_identity_as_username",
                };
                shared.set(out, key, true.into(), line)
            }
            Ok(false) => out.not_needed(line, "Kite's default"),
            Err(why) => out.skipped(line, &why),
        },
        "certfile" | "keyfile" | "cafile" | "require_certificate" | "use_identity_as_username" => {
            out.skipped(line, "a TLS option on a listener without certfile")
        }
        "capath" => out.skipped(
            line,
            "Kite reads client CAs from one PEM file (client_ca): concatenate the \
             certificates of that folder into one",
        ),
        "max_connections" => match line.int() {
            Ok(n) if n >= 0 => max_connections.push((n, *line)),
            Ok(_) => out.not_needed(line, "no limit: Kite's default"),
            Err(why) => out.skipped(line, &why),
        },
        "use_subject_as_username" => out.skipped(
            line,
            "Kite can use the certificate's common name only (use_identity_as_username)",
        ),
        "ciphers"
        | "ciphers_tls1.3"
        | "tls_version"
        | "dhparamfile"
        | "crlfile"
        | "tls_engine"
        | "tls_keyform"
        | "tls_engine_kpass_sha1" => out.skipped(
            line,
            "Kite uses rustls's safe defaults: TLS 1.2 and 1.3, no settings",
        ),
        "mount_point" => out.skipped(line, "Kite has no mount points"),
        "max_qos" | "maximum_qos" => out.skipped(line, "Kite accepts every QoS"),
        "max_topic_alias" => out.skipped(line, "Kite has no setting for it"),
        "http_dir" => out.skipped(
            line,
            "Kite's HTTP listener serves its dashboard (dashboard_dir), not other files",
        ),
        "bind_interface" | "socket_domain" => {
            out.skipped(line, "Kite binds to the address of `tcp`/`tls`/`http`")
        }
        _ => out.skipped(line, "Kite has no setting for it"),
    }
}
