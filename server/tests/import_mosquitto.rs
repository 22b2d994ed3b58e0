//! `kite-server import-mosquitto`: the real binary on real mosquitto.conf
//! files (`tests/fixtures/mosquitto/`: Mosquitto's own example, Debian's,
//! a TLS + WebSockets + password + ACL broker, an edge gateway's bridges).
//! Its output must be a configuration Kite's own parser accepts, with the
//! keys and comments each file calls for.

use std::{ffi::OsString, path::PathBuf, process::Command};

use kite_server::config::file::{parse_with_text, ConfigError};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mosquitto")
        .join(name)
}

/// Run `kite-server import-mosquitto FILE`: (exit success, stdout, stderr).
fn import(file: &std::path::Path) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_kite-server"))
        .arg("import-mosquitto")
        .arg(file)
        .output()
        .expect("run kite-server");
    (
        output.status.success(),
        String::from_utf8(output.stdout).expect("UTF-8 output"),
        String::from_utf8(output.stderr).expect("UTF-8 errors"),
    )
}

/// Translate a fixture, check Kite accepts the result, and return it.
fn translated(name: &str) -> String {
    let (ok, toml, stderr) = import(&fixture(name));
    assert!(ok, "import-mosquitto {name} failed: {stderr}");
    assert!(
        toml.starts_with(&format!(
            "# Kite configuration translated from {}",
            fixture(name).display()
        )),
        "{toml}"
    );
    let table: toml::Table =
        toml::from_str(&toml).unwrap_or_else(|err| panic!("{name}: not TOML: {err}\n{toml}"));
    // The settings before the first table go through Kite's own parser
    // (each value through its flag's parser).
    let settings = toml.split("\n[[bridge]]").next().unwrap_or_default();
    let args = |path: &str| -> Vec<OsString> {
        ["kite-server", "--config", path]
            .map(OsString::from)
            .to_vec()
    };
    if let Err(err) = parse_with_text(args(name), settings) {
        panic!("{name}: Kite refuses the settings: {err}\n{settings}");
    }
    // The whole file, `[[bridge]]` tables included, once the parser knows them.
    match parse_with_text(args(name), &toml) {
        Ok(_) => {}
        Err(ConfigError::File(message)) if message.contains("unknown key `bridge`") => {}
        Err(err) => panic!("{name}: Kite refuses it: {err}\n{toml}"),
    }
    if let Some(bridges) = table.get("bridge") {
        for bridge in bridges
            .as_array()
            .expect("[[bridge]] is an array of tables")
        {
            for key in [
                "name",
                "addresses",
                "protocol",
                "keepalive",
                "enabled",
                "topic",
            ] {
                assert!(
                    bridge.get(key).is_some(),
                    "{name}: bridge without {key}: {bridge}"
                );
            }
        }
    }
    toml
}

fn assert_has(name: &str, toml: &str, expected: &[&str]) {
    for line in expected {
        assert!(toml.contains(line), "{name}: missing {line:?} in:\n{toml}");
    }
}

#[test]
fn mosquittos_own_example_gives_mosquittos_defaults() {
    // Every option of Mosquitto's example is commented out: nothing to
    // report, only what Mosquitto 2 does without options.
    let toml = translated("mosquitto.conf");
    assert_has(
        "mosquitto.conf",
        &toml,
        &[
            "tcp = \"127.0.0.1:1883\"  # Mosquitto 2 without listeners",
            "http = \"127.0.0.1:8080\"",
            "durability = \"none\"",
        ],
    );
    assert!(
        !toml
            .lines()
            .any(|line| line.starts_with("# not translated:")),
        "{toml}"
    );
}

#[test]
fn debians_default_configuration() {
    let toml = translated("debian-mosquitto.conf");
    assert_has(
        "debian-mosquitto.conf",
        &toml,
        &[
            "durability = \"batch\"  # line 8: persistence true",
            "data_dir = \"/var/lib/mosquitto/\"",
            "# not translated: pid_file /run/mosquitto/mosquitto.pid  (",
            "# not translated: log_dest file /var/log/mosquitto/mosquitto.log  (",
            "# not translated: include_dir /etc/mosquitto/conf.d  (",
        ],
    );
}

#[test]
fn tls_websockets_password_and_acl() {
    let toml = translated("tls-websockets.conf");
    assert_has(
        "tls-websockets.conf",
        &toml,
        &[
            "tcp = \"127.0.0.1:1883\"  # line 12",
            "tls = \"0.0.0.0:8883\"",
            "cert = \"/etc/letsencrypt/live/mqtt.example.com/fullchain.pem\"",
            "key = \"/etc/letsencrypt/live/mqtt.example.com/privkey.pem\"",
            "client_ca = \"/etc/mosquitto/ca_certificates/devices-ca.crt\"",
            "require_certificate = true",
            "http = \"0.0.0.0:8083\"",
            "# not needed: certfile /etc/letsencrypt/live/mqtt.example.com/fullchain.pem  (the same `cert` as above)",
            "# not translated: tls_version tlsv1.2  (",
            "# not translated: http_dir /var/www/mqtt  (",
            "# not translated: listener 11883 192.168.10.1  (Kite has one MQTT listener",
            "max_connections = 5200",
            "allow_anonymous = false  # line 7",
            "password_file = \"passwd\"",
            "acl_file = \"acl\"",
            "max_inflight = 40",
            "max_queued_messages = 5000",
            "max_queued_bytes = 67108864",
            "max_packet_size = 327680  # line 39: message_size_limit 262144",
            "max_keepalive = 300",
            "durability = \"batch\"",
            "sys_interval = 30",
            "# not translated: log_dest syslog  (",
            // The files it names, read beside the configuration by Kite's readers.
            "# acl: 7 rules",
            "# passwd: 3 users; Kite reads Mosquitto's $7$ and $6$ hashes as they are",
        ],
    );
}

#[test]
fn bridge_to_a_cloud_broker() {
    let toml = translated("bridge-cloud.conf");
    let table: toml::Table = toml::from_str(&toml).unwrap();
    let bridges = table["bridge"].as_array().unwrap();
    assert_eq!(bridges.len(), 2);
    let cloud = &bridges[0];
    assert_eq!(cloud["name"].as_str(), Some("cloud"));
    assert_eq!(
        cloud["addresses"].as_array().unwrap().len(),
        2,
        "both addresses: {cloud}"
    );
    assert_eq!(cloud["tls"].as_bool(), Some(true));
    assert_eq!(cloud["restart_timeout"].as_integer(), Some(10));
    let topics = cloud["topic"].as_array().unwrap();
    assert_eq!(topics.len(), 5);
    assert_eq!(topics[0]["local_prefix"].as_str(), Some("devices/"));
    assert_eq!(
        topics[0]["remote_prefix"].as_str(),
        Some("site/42/devices/")
    );
    assert_eq!(topics[2]["direction"].as_str(), Some("in"));
    assert_eq!(topics[4]["pattern"].as_str(), Some(""));
    let site_b = &bridges[1];
    assert_eq!(site_b["enabled"].as_bool(), Some(false), "lazy: {site_b}");
    assert_has(
        "bridge-cloud.conf",
        &toml,
        &[
            "client_id = \"gateway-42\"",
            "# not translated: restart_timeout 10 120  (",
            "# not translated: notification_topic gateways/42/bridge/state  (",
            "# not translated: start_type lazy  (Kite has no lazy start",
            "# not translated: round_robin false  (",
            "addresses = [\"10.20.0.5:1883\"]",
        ],
    );
}

#[test]
fn missing_file_is_an_error() {
    let missing = fixture("no-such-mosquitto.conf");
    let (ok, stdout, stderr) = import(&missing);
    assert!(!ok, "a missing file must fail");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("kite-server import-mosquitto: cannot read")
            && stderr.contains("no-such-mosquitto.conf"),
        "{stderr}"
    );
    // A folder is not a file either.
    let (ok, _, stderr) = import(&fixture(""));
    assert!(!ok && stderr.contains("cannot read"), "{stderr}");
}
