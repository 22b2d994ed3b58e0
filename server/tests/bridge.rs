//! Bridges from Kite to other brokers (`[[bridge]]` in the configuration
//! file): a real Debian Mosquitto, or a second kite-server, on loopback.
//! Messages travel in each direction with prefixes at every QoS; a both-way
//! bridge between two Kites makes no storm; QoS 1 messages acknowledged by
//! Kite reach the remote even when it was down.

mod common;

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use common::*;
use rumqttc::{Event, Packet};
use tokio::time::Instant;

/// A configuration file with one bridge to `127.0.0.1:port`.
fn bridge_config(test: &str, port: u16, extra: &str, topics: &[&str]) -> PathBuf {
    let mut text = format!(
        "[[bridge]]\nname = \"remote\"\naddresses = [\"127.0.0.1:{port}\"]\nrestart_timeout = 1\n{extra}\n"
    );
    for topic in topics {
        text.push_str("[[bridge.topic]]\n");
        text.push_str(topic);
        text.push('\n');
    }
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bridge-{test}-{}.toml", std::process::id()));
    std::fs::write(&path, text).expect("write the configuration file");
    path
}

fn rule(pattern: &str, direction: &str, qos: u8, local: &str, remote: &str) -> String {
    format!(
        "pattern = \"{pattern}\"\ndirection = \"{direction}\"\nqos = {qos}\n\
         local_prefix = \"{local}\"\nremote_prefix = \"{remote}\""
    )
}

/// Started as root, Mosquitto runs as user `mosquitto`, which may neither
/// write the test's folder nor read its keys: it stays who started it.
fn mosquitto_as_us() -> String {
    let user = std::process::Command::new("id")
        .arg("-un")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if user.is_empty() {
        String::new()
    } else {
        format!("user {user}\n")
    }
}

/// Mosquitto settings that keep its sessions and queues across a restart.
fn mosquitto_persistence() -> String {
    format!(
        "persistence true\npersistence_location ./\n{}",
        mosquitto_as_us()
    )
}

/// Wait until the bridge says it is connected (its retained `$SYS` state is 1).
async fn wait_connected(kite: &Broker) {
    let mut watcher = V4::connect(kite, "state-watcher").await;
    watcher
        .subscribe("$SYS/broker/connection/remote/state", qos(0))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let publish = tokio::time::timeout_at(deadline, watcher.next_publish())
            .await
            .unwrap_or_else(|_| panic!("the bridge did not connect:\n{}", kite.log()));
        if &publish.payload[..] == b"1" {
            return;
        }
    }
}

/// Collect publishes for `quiet` after the last one: (topic, payload) → count.
async fn collect(client: &mut V4, quiet: Duration) -> BTreeMap<(String, String), usize> {
    let mut seen = BTreeMap::new();
    while let Ok(publish) = tokio::time::timeout(quiet, client.next_publish()).await {
        let key = (
            publish.topic.clone(),
            String::from_utf8_lossy(&publish.payload).into_owned(),
        );
        *seen.entry(key).or_insert(0) += 1;
    }
    seen
}

#[tokio::test]
async fn each_direction_with_prefixes_at_each_qos() {
    let mosquitto = Mosquitto::start("").await;
    let config = bridge_config(
        "directions",
        mosquitto.port,
        "",
        &[
            &rule("out/#", "out", 2, "k/", "m/"),
            &rule("in/#", "in", 2, "k/", "m/"),
        ],
    );
    let kite = Broker::start_with(&["--config", config.to_str().unwrap()]).await;
    wait_connected(&kite).await;
    let mut far = V4::connect_on(mosquitto.port, "far-sub", |_| {}).await;
    far.subscribe("#", qos(2)).await;
    let mut near = V4::connect(&kite, "near-sub").await;
    near.subscribe("k/in/#", qos(2)).await;
    let near_pub = V4::connect(&kite, "near-pub").await;
    let far_pub = V4::connect_on(mosquitto.port, "far-pub", |_| {}).await;
    // Let the bridge's subscription on Mosquitto settle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for q in 0..=2u8 {
        near_pub
            .publish("k/out/a", qos(q), false, format!("out{q}").as_bytes())
            .await;
        far_pub
            .publish("m/in/b", qos(q), false, format!("in{q}").as_bytes())
            .await;
    }
    let far_seen = collect(&mut far, Duration::from_secs(2)).await;
    let near_seen = collect(&mut near, Duration::from_secs(1)).await;
    for q in 0..=2u8 {
        assert_eq!(
            far_seen.get(&("m/out/a".into(), format!("out{q}"))),
            Some(&1),
            "QoS {q} out, renamed k/ → m/: {far_seen:?}\n{}",
            kite.log()
        );
        assert_eq!(
            near_seen.get(&("k/in/b".into(), format!("in{q}"))),
            Some(&1),
            "QoS {q} in, renamed m/ → k/: {near_seen:?}"
        );
    }
    // Nothing crossed that no rule carries, and nothing came back.
    assert_eq!(far_seen.len(), 3 + 3, "{far_seen:?}");
    assert_eq!(near_seen.len(), 3, "{near_seen:?}");
}

/// Two Kites bridged both ways on the same topics: each message arrives
/// once on each side, whichever side it was published on.
async fn no_storm_between_two_kites(protocol: &str) {
    let far = Broker::start().await;
    let config = bridge_config(
        &format!("storm-{protocol}"),
        far.tcp,
        &format!("protocol = \"{protocol}\""),
        &[&rule("chat/#", "both", 1, "", "")],
    );
    let near = Broker::start_with(&["--config", config.to_str().unwrap()]).await;
    wait_connected(&near).await;
    let mut near_sub = V4::connect(&near, "near-sub").await;
    near_sub.subscribe("chat/#", qos(1)).await;
    let mut far_sub = V4::connect(&far, "far-sub").await;
    far_sub.subscribe("chat/#", qos(1)).await;
    let near_pub = V4::connect(&near, "near-pub").await;
    let far_pub = V4::connect(&far, "far-pub").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..10 {
        near_pub
            .publish("chat/near", qos(1), false, format!("n{i}").as_bytes())
            .await;
        far_pub
            .publish("chat/far", qos(1), false, format!("f{i}").as_bytes())
            .await;
    }
    for (side, client) in [("near", &mut near_sub), ("far", &mut far_sub)] {
        let seen = collect(client, Duration::from_secs(1)).await;
        assert_eq!(seen.len(), 20, "{side}: {seen:?}\n{}", near.log());
        assert!(
            seen.values().all(|&n| n == 1),
            "{side}: a message arrived more than once (a loop): {seen:?}"
        );
    }
    let (_, metrics) = near.http_get("/metrics", &[]).await;
    for line in [
        "kite_bridge_messages_sent_total{bridge=\"remote\"} 10",
        "kite_bridge_messages_received_total{bridge=\"remote\"} 10",
        "kite_bridge_up{bridge=\"remote\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
}

#[tokio::test]
async fn a_both_way_bridge_between_two_kites_makes_no_storm_mqtt5() {
    no_storm_between_two_kites("mqttv50").await;
}

#[tokio::test]
async fn a_both_way_bridge_between_two_kites_makes_no_storm_mqtt311_try_private() {
    no_storm_between_two_kites("mqttv311").await;
}

/// Count the distinct payloads `client` receives until it has `n` of them.
async fn receive_all(client: &mut V4, n: usize, limit: Duration) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    let deadline = Instant::now() + limit;
    while seen.len() < n && Instant::now() < deadline {
        // Shorter than the harness's own wait, which panics.
        let Ok(publish) = tokio::time::timeout(Duration::from_secs(4), client.next_publish()).await
        else {
            continue;
        };
        *seen
            .entry(String::from_utf8_lossy(&publish.payload).into_owned())
            .or_insert(0) += 1;
    }
    seen
}

/// Publish `range` as QoS 1 `topic` payloads on `client`, and wait for
/// every PUBACK: from then on Kite answers for them.
async fn publish_acknowledged(client: &mut V4, topic: &str, range: std::ops::Range<usize>) {
    let count = range.len();
    for i in range {
        client
            .client
            .publish(topic, qos(1), false, format!("m{i:04}").into_bytes())
            .await
            .expect("publish");
    }
    let mut acked = 0;
    while acked < count {
        client
            .events
            .find("PUBACK", |e| {
                matches!(e, Event::Incoming(Packet::PubAck(_))).then_some(())
            })
            .await;
        acked += 1;
    }
}

#[tokio::test]
async fn qos1_acknowledged_while_the_remote_restarts_all_arrive() {
    let mut mosquitto = Mosquitto::start(&mosquitto_persistence()).await;
    let config = bridge_config(
        "restart",
        mosquitto.port,
        "",
        &[&rule("data/#", "out", 1, "", "")],
    );
    let kite = Broker::start_with(&["--config", config.to_str().unwrap()]).await;
    wait_connected(&kite).await;
    // A persistent subscriber on Mosquitto: its session survives the restart.
    let clean = |o: &mut rumqttc::MqttOptions| {
        o.set_clean_session(false);
    };
    let mut far = V4::connect_on(mosquitto.port, "far-keeper", clean).await;
    far.subscribe("data/#", qos(1)).await;
    far.disconnect().await;
    let mut publisher = V4::connect(&kite, "publisher").await;
    publish_acknowledged(&mut publisher, "data/x", 0..100).await;
    mosquitto.terminate();
    publish_acknowledged(&mut publisher, "data/x", 100..200).await;
    mosquitto.restart().await;
    publish_acknowledged(&mut publisher, "data/x", 200..300).await;
    let mut far = V4::connect_on(mosquitto.port, "far-keeper", clean).await;
    let seen = receive_all(&mut far, 300, Duration::from_secs(30)).await;
    let missing: Vec<usize> = (0..300)
        .filter(|i| !seen.contains_key(&format!("m{i:04}")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged messages never reached the remote: {missing:?}\n{}",
        missing.len(),
        kite.log()
    );
}

#[tokio::test]
async fn queued_bridge_messages_survive_a_kite_crash() {
    let mut mosquitto = Mosquitto::start(&mosquitto_persistence()).await;
    let clean = |o: &mut rumqttc::MqttOptions| {
        o.set_clean_session(false);
    };
    let mut far = V4::connect_on(mosquitto.port, "far-keeper", clean).await;
    far.subscribe("data/#", qos(1)).await;
    far.disconnect().await;
    let config = bridge_config(
        "crash",
        mosquitto.port,
        "",
        &[&rule("data/#", "out", 1, "", "")],
    );
    let kite = Broker::start_with(&["--config", config.to_str().unwrap()]).await;
    wait_connected(&kite).await;
    mosquitto.terminate();
    let mut publisher = V4::connect(&kite, "publisher").await;
    publish_acknowledged(&mut publisher, "data/y", 0..50).await;
    drop(publisher);
    let kite = kite.restart(Stop::Crash).await;
    mosquitto.restart().await;
    wait_connected(&kite).await;
    let mut far = V4::connect_on(mosquitto.port, "far-keeper", clean).await;
    let seen = receive_all(&mut far, 50, Duration::from_secs(30)).await;
    assert_eq!(
        seen.len(),
        50,
        "queued in Kite's store before the crash, sent after: {seen:?}\n{}",
        kite.log()
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made
/// with `openssl` in `dir`.
fn certificates(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (installed by scripts/setup.sh)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    for (name, subject, extension) in [
        (
            "server",
            "/CN=127.0.0.1",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ),
        ("client", "/CN=site1", "extendedKeyUsage=clientAuth"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), extension).unwrap();
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]);
    }
}

#[tokio::test]
async fn a_tls_bridge_with_a_client_certificate() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bridge-tls-{}", std::process::id()));
    certificates(&dir);
    let file = |name: &str| dir.join(name).display().to_string();
    // Mosquitto's one listener speaks TLS and wants a certificate signed by the CA.
    let mosquitto = Mosquitto::start(&format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n{}",
        file("ca.pem"),
        file("server.pem"),
        file("server.key"),
        mosquitto_as_us(),
    ))
    .await;
    let tls = format!(
        "ca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"",
        file("ca.pem"),
        file("client.pem"),
        file("client.key")
    );
    let config = bridge_config(
        "tls",
        mosquitto.port,
        &tls,
        &[&rule("secure/#", "both", 1, "", "")],
    );
    let kite = Broker::start_with(&["--config", config.to_str().unwrap()]).await;
    wait_connected(&kite).await;
    let log = mosquitto.log();
    assert!(
        log.contains("New bridge connected"),
        "Mosquitto took the bridge over TLS:\n{log}"
    );
    let mut near = V4::connect(&kite, "near-sub").await;
    near.subscribe("secure/in", qos(1)).await;
    let publisher = V4::connect(&kite, "near-pub").await;
    // Mosquitto's own clients over TLS with the client certificate.
    let port = mosquitto.port.to_string();
    let tls_args = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "--cafile",
            &file("ca.pem"),
            "--cert",
            &file("client.pem"),
            "--key",
            &file("client.key"),
            "-q",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let far_sub = std::process::Command::new("mosquitto_sub")
        .args(tls_args(&["-t", "secure/out", "-C", "1", "-W", "15", "-v"]))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_sub");
    tokio::time::sleep(Duration::from_millis(500)).await;
    publisher
        .publish("secure/out", qos(1), false, b"sealed")
        .await;
    let out = tokio::task::spawn_blocking(move || far_sub.wait_with_output())
        .await
        .unwrap()
        .expect("mosquitto_sub output");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "secure/out sealed",
        "out over TLS\n{}",
        kite.log()
    );
    let status = std::process::Command::new("mosquitto_pub")
        .args(tls_args(&["-t", "secure/in", "-m", "opened"]))
        .status()
        .expect("mosquitto_pub");
    assert!(status.success());
    let got = near.next_publish().await;
    assert_eq!(
        (&got.topic[..], &got.payload[..]),
        ("secure/in", &b"opened"[..])
    );

    // Without its certificate, the same bridge is refused.
    let config = bridge_config(
        "tls-nocert",
        mosquitto.port,
        &format!("ca_file = \"{}\"", file("ca.pem")),
        &[&rule("secure/#", "both", 1, "", "")],
    );
    let refused = Broker::start_with(&["--config", config.to_str().unwrap()]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, metrics) = refused.http_get("/metrics", &[]).await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "kite_bridge_up{bridge=\"remote\"} 0"),
        "{metrics}"
    );
}

/// The protocol level of the CONNECT a fake remote reads on `stream`.
async fn connect_level(stream: &mut tokio::net::TcpStream) -> u8 {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    // Fixed header (0x10, a one-byte length here), "\0\x04MQTT", the level.
    while bytes.len() < 9 {
        let mut chunk = [0u8; 256];
        let n = within("the bridge's CONNECT", stream.read(&mut chunk))
            .await
            .expect("read");
        assert!(n > 0, "the bridge closed before its CONNECT");
        bytes.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(&bytes[..1], [0x10], "a CONNECT");
    assert_eq!(&bytes[2..8], b"\0\x04MQTT");
    bytes[8]
}

#[tokio::test]
async fn a_remote_that_refuses_try_private_gets_a_plain_connect() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = bridge_config("no-private", port, "", &[&rule("x/#", "both", 0, "", "")]);
    let kite = Broker::start_with(&["--config", config.to_str().unwrap()]).await;
    // An MQTT 3.1.1 broker that knows no bridges: level 0x84 is refused
    // (return code 1, unacceptable protocol version).
    let (mut first, _) = within("a first connection", listener.accept())
        .await
        .unwrap();
    assert_eq!(connect_level(&mut first).await, 0x84, "try_private first");
    first.write_all(&[0x20, 0x02, 0x00, 0x01]).await.unwrap();
    drop(first);
    let (mut second, _) = within("a second connection", listener.accept())
        .await
        .unwrap();
    assert_eq!(
        connect_level(&mut second).await,
        0x04,
        "then a plain 3.1.1 CONNECT"
    );
    second.write_all(&[0x20, 0x02, 0x00, 0x00]).await.unwrap();
    wait_connected(&kite).await;
    assert!(
        kite.log().contains("does not take try_private"),
        "the fallback is logged, with the loop warning:\n{}",
        kite.log()
    );
    drop(second);
}
