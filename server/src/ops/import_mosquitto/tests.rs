use super::{bridge::Topic, read, translate};

/// The translation of `conf`, without its header.
fn body(conf: &str) -> String {
    translate("test.conf", conf)
        .lines()
        .filter(|line| !line.starts_with("# Kite configuration") && !line.starts_with("# Run it"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each mosquitto.conf gives these lines (each one found whole in the output).
#[test]
fn options_translate_to_keys_and_comments() {
    let cases: &[(&str, &[&str])] = &[
        // Listeners.
        ("listener 1883", &["tcp = \"0.0.0.0:1883\"  # line 1: listener 1883"]),
        ("listener 1884 127.0.0.1", &["tcp = \"127.0.0.1:1884\""]),
        ("listener 1884 localhost", &["tcp = \"127.0.0.1:1884\""]),
        ("listener 1884 ::1", &["tcp = \"[::1]:1884\""]),
        (
            "listener 1884 broker.lan",
            &["tcp = \"0.0.0.0:1884\"", "# Kite binds to an IP address, not a host name"],
        ),
        ("port 1885", &["tcp = \"0.0.0.0:1885\"  # line 1: port 1885"]),
        ("port 1885\nbind_address 10.0.0.1", &["tcp = \"10.0.0.1:1885\"  # lines 1, 2"]),
        (
            "listener 9001\nprotocol websockets",
            &["http = \"0.0.0.0:9001\"  # lines 1, 2: listener 9001; protocol websockets"],
        ),
        (
            "listener 8883\ncertfile /c.pem\nkeyfile /k.pem\ncafile /ca.pem\nrequire_certificate true\nuse_identity_as_username true",
            &[
                "tls = \"0.0.0.0:8883\"",
                "cert = \"/c.pem\"  # line 2",
                "key = \"/k.pem\"  # line 3",
                "client_ca = \"/ca.pem\"  # line 4",
                "require_certificate = true  # line 5",
                "use_identity_as_username = true  # line 6",
                "tcp = \"127.0.0.1:1883\"  # Mosquitto had no plain MQTT listener",
            ],
        ),
        (
            "listener 8883\ncertfile /c.pem\nkeyfile /k.pem\ncafile /ca.pem",
            &["# not needed: cafile /ca.pem  (Mosquitto checks client certificates only with require_certificate true)"],
        ),
        (
            "listener 1883\nlistener 1884",
            &["# not translated: listener 1884  (Kite has one MQTT listener: `tcp` from line 1)"],
        ),
        ("listener 0 /run/mqtt.sock", &["# not translated: listener 0 /run/mqtt.sock  (Kite has no Unix socket listener)"]),
        (
            "listener 1883\nmax_connections 100\nlistener 9001\nprotocol websockets\nmax_connections 50",
            &["max_connections = 150  # lines 2, 5", "the sum of the limits above"],
        ),
        ("listener 1883\nmax_connections -1", &["# not needed: max_connections -1  (no limit"]),
        ("listener 1883\nmount_point a/", &["# not translated: mount_point a/  (Kite has no mount points)"]),
        (
            "",
            &[
                "tcp = \"127.0.0.1:1883\"  # Mosquitto 2 without listeners",
                "http = \"127.0.0.1:8080\"",
                "durability = \"none\"",
            ],
        ),
        // Authentication and access control.
        ("listener 1883", &["allow_anonymous = false  # Mosquitto 2's default"]),
        ("allow_anonymous true", &["allow_anonymous = true  # line 1"]),
        ("password_file /etc/mosquitto/passwd", &[
            "password_file = \"/etc/mosquitto/passwd\"",
            "# Kite reads mosquitto_passwd's hashes ($7$, $6$) as they are",
        ]),
        ("acl_file /etc/mosquitto/acl", &["acl_file = \"/etc/mosquitto/acl\""]),
        ("allow_anonymous maybe", &["# not translated: allow_anonymous maybe  (`allow_anonymous` must be true or false)"]),
        (
            "per_listener_settings true\nlistener 1883\npassword_file /a\nlistener 1884\npassword_file /b",
            &[
                "# not translated: per_listener_settings true",
                "# not translated: password_file /a  (Kite has one `password_file` for every listener: line 5's)",
                "password_file = \"/b\"",
            ],
        ),
        ("plugin /usr/lib/x.so\nplugin_opt_a b", &["# not translated: plugin_opt_a b  (Kite loads no plugins)"]),
        // Limits.
        ("max_inflight_messages 10", &["max_inflight = 10  # line 1"]),
        ("max_inflight_messages 0", &["max_inflight = 65535"]),
        ("max_queued_messages 200", &["max_queued_messages = 200"]),
        ("max_queued_messages 0", &["# not translated: max_queued_messages 0  (no limit: Kite always bounds"]),
        ("max_queued_bytes 1048576", &["max_queued_bytes = 1048576"]),
        ("max_packet_size 2048", &["max_packet_size = 2048"]),
        ("message_size_limit 1000", &["max_packet_size = 66536  # line 1: message_size_limit 1000"]),
        (
            "message_size_limit 1000\nmax_packet_size 4096",
            &["# not needed: message_size_limit 1000", "max_packet_size = 4096"],
        ),
        ("max_keepalive 120", &["max_keepalive = 120"]),
        ("max_keepalive 100\nmax_keepalive 200", &["# not translated: max_keepalive 100  (line 2 sets it again)", "max_keepalive = 200"]),
        // Persistence.
        (
            "persistence true\npersistence_location /var/lib/mosquitto/\nautosave_interval 60",
            &[
                "durability = \"batch\"  # line 1: persistence true",
                "data_dir = \"/var/lib/mosquitto/\"",
                "# not needed: autosave_interval 60",
            ],
        ),
        ("persistence false", &["durability = \"none\"  # line 1"]),
        ("persistence_file m.db", &["# not translated: persistence_file m.db  (Kite keeps its own files"]),
        // The rest.
        ("sys_interval 30", &["sys_interval = 30"]),
        ("log_dest file /var/log/m.log", &["# not translated: log_dest file /var/log/m.log  (Kite logs to standard output"]),
        ("log_type error\nlog_type warning", &["# not translated: log_type error  (Kite logs"]),
        (
            "connection my/bridge\naddress h\ntopic #",
            &["name = \"my-bridge\"", "# renamed: Kite's bridge names are"],
        ),
        ("connection b\naddress h", &["# not translated: connection b  (a bridge without topic"]),
        ("no_such_option 1", &["# not translated: no_such_option 1  (not a Mosquitto 2.0 option Kite knows)"]),
        ("topic a/#", &["# not translated: topic a/#  (a bridge option before any `connection` line)"]),
    ];
    for (conf, expected) in cases {
        let out = body(conf);
        for line in *expected {
            assert!(
                out.contains(line),
                "{conf:?} should give {line:?}; got:\n{out}"
            );
        }
    }
}

#[test]
fn comments_and_blank_lines_are_not_reported() {
    let out = body("# a comment\n\n   \n#listener 1\n  # indented\nlistener 1883\n");
    assert!(
        !out.contains("a comment") && !out.contains("indented") && !out.contains("listener 1\n"),
        "{out}"
    );
}

#[test]
fn header_names_the_source() {
    let out = translate("/etc/mosquitto/mosquitto.conf", "");
    assert!(
        out.starts_with("# Kite configuration translated from /etc/mosquitto/mosquitto.conf"),
        "{out}"
    );
}

#[test]
fn every_option_line_appears_in_the_output() {
    let conf = "listener 1883\nlistener 8883\ncertfile /c\nkeyfile /k\nciphers X\nlistener 9001\n\
                protocol websockets\nallow_anonymous false\npassword_file /p\nmax_queued_messages 5\n\
                persistence true\nlog_type all\nconnection c\naddress h\ntopic # both 1\nnotifications false\n";
    let out = translate("x", conf);
    for line in read::lines(conf) {
        assert!(
            out.contains(&format!("line {}:", line.number))
                || out.contains(&format!("lines {}", line.number))
                || out.contains(&format!(", {},", line.number))
                || out.contains(&format!(", {}:", line.number))
                || out.contains(&format!("# not translated: {}", line.text))
                || out.contains(&format!("# not needed: {}", line.text)),
            "line {} ({}) is not accounted for:\n{out}",
            line.number,
            line.text
        );
    }
}

#[test]
fn bridge_translates_to_a_bridge_table() {
    let conf = "max_queued_messages 500\nconnection cloud\naddresses cloud.example.com:8883 backup.example.com\n\
                bridge_protocol_version mqttv50\nremote_clientid edge-1\nremote_username edge\n\
                remote_password s3cret\ncleansession true\nkeepalive_interval 30\nbridge_cafile /ca.pem\n\
                bridge_insecure false\ntry_private false\nrestart_timeout 10 60\nstart_type lazy\n\
                notification_topic x/state\ntopic sensors/# out 1 site/ edge/site/\ntopic cmd/# in 2\ntopic \"\" both 0 a/b c/d\n";
    let out = body(conf);
    for expected in [
        "[[bridge]]",
        "name = \"cloud\"  # line 2: connection cloud",
        "addresses = [\"cloud.example.com:8883\", \"backup.example.com:1883\"]",
        "protocol = \"mqttv50\"",
        "client_id = \"edge-1\"",
        "username = \"edge\"",
        "password = \"s3cret\"",
        "clean_start = true",
        "keepalive = 30",
        "tls = true",
        "ca_file = \"/ca.pem\"",
        "insecure = false",
        "try_private = false",
        "max_queued_messages = 500  # max_queued_messages of line 1",
        "restart_timeout = 10",
        "backoff from 10 up to 60 s is not kept",
        "enabled = false",
        "# not translated: start_type lazy  (Kite has no lazy start",
        "# not translated: notification_topic x/state  (Kite's [[bridge]] has no setting for it)",
        "[[bridge.topic]]  # line 16: topic sensors/# out 1 site/ edge/site/\npattern = \"sensors/#\"\ndirection = \"out\"\nqos = 1\nlocal_prefix = \"site/\"\nremote_prefix = \"edge/site/\"",
        "pattern = \"cmd/#\"\ndirection = \"in\"\nqos = 2\nlocal_prefix = \"\"",
        "pattern = \"\"\ndirection = \"both\"\nqos = 0\nlocal_prefix = \"a/b\"\nremote_prefix = \"c/d\"",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let table: toml::Table = toml::from_str(&out).expect("valid TOML");
    let bridge = &table["bridge"].as_array().unwrap()[0];
    assert_eq!(bridge["topic"].as_array().unwrap().len(), 3);
}

#[test]
fn bridge_defaults_are_mosquittos() {
    let out = body("connection b\naddress 10.0.0.1\ntopic #\n");
    for expected in [
        "addresses = [\"10.0.0.1:1883\"]",
        "protocol = \"mqttv311\"  # Mosquitto's default",
        "clean_start = false",
        "keepalive = 60",
        "try_private = true",
        "restart_timeout = 5",
        "enabled = true",
        "pattern = \"#\"\ndirection = \"out\"\nqos = 0",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains("client_id"), "{out}");
}

#[test]
fn bridges_mosquitto_refuses_are_comments() {
    let out = body("connection a\ntopic #\nconnection a\naddress h\ntopic #\n");
    assert!(
        out.contains("# not translated: connection a  (a bridge without address"),
        "{out}"
    );
    assert!(
        out.contains("# not translated: topic #  (a bridge without address"),
        "{out}"
    );
    assert!(!out.contains("[[bridge]]"), "{out}");
}

#[test]
fn topic_lines_parse_like_mosquitto() {
    let line = |text: &'static str| read::lines(text)[0];
    /// Pattern, direction, QoS, local prefix, remote prefix; or the error's words.
    type Parsed =
        Result<(&'static str, &'static str, i64, &'static str, &'static str), &'static str>;
    let cases: &[(&str, Parsed)] = &[
        ("topic a/#", Ok(("a/#", "out", 0, "", ""))),
        ("topic a/# IN", Ok(("a/#", "in", 0, "", ""))),
        ("topic a/# both 2", Ok(("a/#", "both", 2, "", ""))),
        ("topic # both 1 l/ r/", Ok(("#", "both", 1, "l/", "r/"))),
        ("topic # out 1 \"\" r/", Ok(("#", "out", 1, "", "r/"))),
        ("topic # out 1 l/ \"\"", Ok(("#", "out", 1, "l/", ""))),
        ("topic \"\" in 0 l/x r/y", Ok(("", "in", 0, "l/x", "r/y"))),
        ("topic a out 1 # a comment", Ok(("a", "out", 1, "", ""))),
        (
            "topic \"\" in 0 l/x",
            Err("an empty pattern needs both prefixes"),
        ),
        ("topic a sideways", Err("direction `sideways`")),
        ("topic a in 3", Err("QoS `3`")),
        ("topic", Err("a topic needs a pattern")),
    ];
    for (text, expected) in cases {
        let got = Topic::parse(&line(text));
        match (got, expected) {
            (Ok(topic), Ok((pattern, direction, qos, local, remote))) => assert_eq!(
                (
                    topic.pattern.as_str(),
                    topic.direction.as_str(),
                    topic.qos,
                    topic.local_prefix.as_str(),
                    topic.remote_prefix.as_str()
                ),
                (*pattern, *direction, *qos, *local, *remote),
                "{text}"
            ),
            (Err(why), Err(words)) => assert!(why.contains(words), "{text}: {why}"),
            (got, expected) => panic!("{text}: got {got:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn lines_are_sorted_into_listeners_bridges_and_globals() {
    let conf = read::read(
        "certfile /early\nport 1883\nlistener 8883\ncertfile /c\nallow_anonymous true\n\
         connection x\naddress h\nkeyfile /k\nsys_interval 5\n",
    );
    let default = conf.default_listener.as_ref().unwrap();
    assert_eq!(default.settings[0].value, "/early");
    assert_eq!(default.opened_by[0].key, "port");
    assert_eq!(conf.listeners.len(), 1);
    // A listener option after `connection` still belongs to the listener (conf.c).
    let keys: Vec<&str> = conf.listeners[0].settings.iter().map(|l| l.key).collect();
    assert_eq!(keys, ["certfile", "keyfile"]);
    assert_eq!(conf.bridges[0].settings.len(), 1);
    let globals: Vec<&str> = conf.globals.iter().map(|l| l.key).collect();
    assert_eq!(globals, ["allow_anonymous", "sys_interval"]);
}

#[test]
fn output_is_valid_toml_even_with_odd_lines() {
    let out = translate(
        "odd\nname",
        "listener 1883 \"quoted\"\nfoo \u{0}bar\npassword_file /a \"b\"\n",
    );
    toml::from_str::<toml::Table>(&out).unwrap_or_else(|err| panic!("{err}\n{out}"));
}
