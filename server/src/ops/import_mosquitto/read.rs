//! Reading mosquitto.conf the way Mosquitto 2.0's `src/conf.c` does: one
//! option a line (`#` in the first column starts a comment), the option's
//! name, then its value; the lines sorted into the listener, the bridge or
//! the broker-wide settings they configure.

/// One option line of mosquitto.conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Line<'a> {
    /// 1-based, as editors count.
    pub(super) number: usize,
    /// The line without surrounding blanks.
    pub(super) text: &'a str,
    /// The option's name.
    pub(super) key: &'a str,
    /// The rest of the line, blanks trimmed (a string value, as Mosquitto
    /// reads it, may contain spaces).
    pub(super) value: &'a str,
}

impl<'a> Line<'a> {
    /// The value's blank-separated words, up to a word starting with `#`
    /// after the first (Mosquitto reads such a word as the start of a
    /// comment; the first may be a topic pattern, `#`).
    pub(super) fn words(&self) -> Vec<&'a str> {
        let mut words = self.value.split_whitespace();
        words
            .next()
            .into_iter()
            .chain(words.take_while(|word| !word.starts_with('#')))
            .collect()
    }

    /// A `true` / `false` value, as Mosquitto's `conf__parse_bool` reads it.
    pub(super) fn bool(&self) -> Result<bool, String> {
        match self.words().first().copied() {
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            _ => Err(format!("`{}` must be true or false", self.key)),
        }
    }

    /// An integer value.
    pub(super) fn int(&self) -> Result<i64, String> {
        self.words()
            .first()
            .and_then(|word| word.parse().ok())
            .ok_or_else(|| format!("`{}` must be a whole number", self.key))
    }
}

/// What a line configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// The broker as a whole.
    Global,
    /// The listener last opened (`listener`, or the default one).
    Listener,
    /// The security settings: broker-wide, or per listener with
    /// `per_listener_settings true`.
    Security,
    /// The bridge last opened with `connection`.
    Bridge,
}

/// The options that belong to the current listener.
const LISTENER_KEYS: &[&str] = &[
    "bind_interface",
    "cafile",
    "capath",
    "certfile",
    "ciphers",
    "ciphers_tls1.3",
    "crlfile",
    "dhparamfile",
    "http_dir",
    "keyfile",
    "max_connections",
    "max_qos",
    "maximum_qos",
    "max_topic_alias",
    "mount_point",
    "protocol",
    "psk_hint",
    "require_certificate",
    "socket_domain",
    "tls_engine",
    "tls_engine_kpass_sha1",
    "tls_keyform",
    "tls_version",
    "use_identity_as_username",
    "use_subject_as_username",
    "use_username_as_clientid",
    "websockets_headers_size",
];

/// The security options (`conf__set_cur_security_options` in conf.c).
const SECURITY_KEYS: &[&str] = &[
    "acl_file",
    "allow_anonymous",
    "allow_zero_length_clientid",
    "auth_plugin",
    "auth_plugin_deny_special_chars",
    "auto_id_prefix",
    "password_file",
    "plugin",
    "psk_file",
];

/// The options of a bridge (`connection` section).
const BRIDGE_KEYS: &[&str] = &[
    "address",
    "addresses",
    "cleansession",
    "clientid",
    "idle_timeout",
    "keepalive_interval",
    "local_cleansession",
    "local_clientid",
    "local_password",
    "local_username",
    "notification_topic",
    "notifications",
    "notifications_local_only",
    "password",
    "remote_clientid",
    "remote_password",
    "remote_username",
    "restart_timeout",
    "round_robin",
    "start_type",
    "threshold",
    "topic",
    "try_private",
    "username",
];

/// Which part of the configuration `key` sets.
pub(super) fn scope(key: &str) -> Scope {
    if LISTENER_KEYS.contains(&key) {
        Scope::Listener
    } else if SECURITY_KEYS.contains(&key)
        || key.starts_with("auth_opt_")
        || key.starts_with("plugin_opt_")
    {
        Scope::Security
    } else if BRIDGE_KEYS.contains(&key) || key.starts_with("bridge_") {
        Scope::Bridge
    } else {
        Scope::Global
    }
}

/// A listener: a `listener PORT [ADDRESS]` line and the lines after it, or
/// the default listener (`port`, `bind_address`, and listener options given
/// before any `listener` line).
#[derive(Debug, Clone, Default)]
pub(super) struct Listener<'a> {
    /// `listener`, or `port` / `bind_address` for the default listener.
    pub(super) opened_by: Vec<Line<'a>>,
    /// The listener's own options, in file order.
    pub(super) settings: Vec<Line<'a>>,
}

impl<'a> Listener<'a> {
    /// The last line setting `key` (Mosquitto keeps the last value).
    pub(super) fn get(&self, key: &str) -> Option<&Line<'a>> {
        self.settings.iter().rev().find(|line| line.key == key)
    }

    /// Is `key` set to `true` on this listener?
    pub(super) fn is_on(&self, key: &str) -> bool {
        self.get(key).is_some_and(|line| line.bool() == Ok(true))
    }

    /// The port and the bind address or Unix socket path, as written.
    pub(super) fn port_and_host(&self) -> (Option<&'a str>, Option<&'a str>) {
        let mut port = None;
        let mut host = None;
        for line in &self.opened_by {
            let words = line.words();
            match line.key {
                "listener" => {
                    port = words.first().copied();
                    host = words.get(1).copied();
                }
                "port" => port = words.first().copied(),
                "bind_address" => host = words.first().copied(),
                _ => {}
            }
        }
        (port, host)
    }
}

/// A `connection NAME` section.
#[derive(Debug, Clone)]
pub(super) struct Bridge<'a> {
    pub(super) opened_by: Line<'a>,
    pub(super) name: &'a str,
    pub(super) settings: Vec<Line<'a>>,
}

/// A mosquitto.conf, its lines sorted.
#[derive(Debug, Clone, Default)]
pub(super) struct Conf<'a> {
    /// `port` / `bind_address` and the listener options before any
    /// `listener` line; `None` when there are none.
    pub(super) default_listener: Option<Listener<'a>>,
    pub(super) listeners: Vec<Listener<'a>>,
    pub(super) bridges: Vec<Bridge<'a>>,
    /// Broker-wide and security lines, in file order.
    pub(super) globals: Vec<Line<'a>>,
    /// Bridge options before any `connection` line (Mosquitto refuses them).
    pub(super) orphans: Vec<Line<'a>>,
}

/// The option lines of `text`: comments and blank lines left out.
pub(super) fn lines(text: &str) -> Vec<Line<'_>> {
    text.lines()
        .enumerate()
        .filter_map(|(index, raw)| {
            let text = raw.trim();
            if text.is_empty() || text.starts_with('#') {
                return None;
            }
            let (key, value) = text
                .split_once(char::is_whitespace)
                .map_or((text, ""), |(key, value)| (key, value.trim()));
            Some(Line {
                number: index + 1,
                text,
                key,
                value,
            })
        })
        .collect()
}

/// Sort the lines of a mosquitto.conf.
pub(super) fn read(text: &str) -> Conf<'_> {
    let mut conf = Conf::default();
    for line in lines(text) {
        match (line.key, scope(line.key)) {
            ("listener", _) => conf.listeners.push(Listener {
                opened_by: vec![line],
                settings: Vec::new(),
            }),
            ("port" | "bind_address", _) => conf
                .default_listener
                .get_or_insert_with(Listener::default)
                .opened_by
                .push(line),
            ("connection", _) => conf.bridges.push(Bridge {
                opened_by: line,
                name: line.words().first().copied().unwrap_or_default(),
                settings: Vec::new(),
            }),
            (_, Scope::Listener) => match conf.listeners.last_mut() {
                Some(listener) => listener.settings.push(line),
                None => conf
                    .default_listener
                    .get_or_insert_with(Listener::default)
                    .settings
                    .push(line),
            },
            (_, Scope::Bridge) => match conf.bridges.last_mut() {
                Some(bridge) => bridge.settings.push(line),
                None => conf.orphans.push(line),
            },
            (_, Scope::Global | Scope::Security) => conf.globals.push(line),
        }
    }
    conf
}
