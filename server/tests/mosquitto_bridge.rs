//! Mosquitto bridges connect to Kite as they are (issue #18): Debian's
//! Mosquitto broker, with a `connection` section left at its defaults,
//! bridges into a real kite-server. Those defaults are `try_private true`
//! (CONNECT's protocol level is 0x84), `cleansession false`, and
//! `notifications true` (a will, and a retained "1", on
//! `$SYS/broker/connection/<client id>/state` in Kite). Kite treats the
//! bridge as Mosquitto treats its own: the bridge never gets its own
//! messages back (no echo), and gets retain flags as published.

mod common;

use std::time::Duration;

use common::{qos, within, Broker, Mosquitto, QUIET, V4};
use tokio::time::{timeout, Instant};

/// A Kite, a Mosquitto bridging every topic (`#`) both ways at QoS 1 into
/// it, and on each side a client subscribed to `t/#` and `probe/#`.
struct Bridged {
    kite: Broker,
    mosquitto: Mosquitto,
    /// Subscribed on Kite's side.
    on_kite: V4,
    /// Subscribed on Mosquitto's side.
    on_mosquitto: V4,
}

async fn bridged(test: &str) -> Bridged {
    let kite = Broker::start().await;
    let mosquitto = Mosquitto::start(&format!(
        "connection kite\naddress 127.0.0.1:{}\ntopic # both 1\n",
        kite.tcp
    ))
    .await;
    let mut on_kite = V4::connect(&kite, &format!("{test}-sub-kite")).await;
    // The bridge announces itself in Kite: its state topic is its own to write.
    on_kite
        .subscribe("$SYS/broker/connection/+/state", qos(1))
        .await;
    let state = on_kite
        .events
        .find("the bridge's state \"1\" in Kite", |e| {
            common::v4_publish(e).filter(|p| &p.payload[..] == b"1")
        })
        .await;
    let bridge_id = state
        .topic
        .strip_prefix("$SYS/broker/connection/")
        .and_then(|t| t.strip_suffix("/state"))
        .expect("a state topic")
        .to_string();
    let as_bridge = format!("client_id={bridge_id}");
    assert!(
        kite.log()
            .lines()
            .any(|l| l.contains("the client is a bridge") && l.contains(&as_bridge)),
        "Kite logs {bridge_id} as a bridge"
    );
    on_kite.subscribe("t/#", qos(1)).await;
    on_kite.subscribe("probe/#", qos(0)).await;
    let mut on_mosquitto = V4::connect_on(mosquitto.port, &format!("{test}-sub-m"), |_| {}).await;
    on_mosquitto.subscribe("t/#", qos(1)).await;
    on_mosquitto.subscribe("probe/#", qos(0)).await;
    let mut bridged = Bridged {
        kite,
        mosquitto,
        on_kite,
        on_mosquitto,
    };
    bridged.until_both_ways(test).await;
    bridged
}

impl Bridged {
    /// A client publishing on Kite's side.
    async fn kite_client(&self, id: &str) -> V4 {
        V4::connect(&self.kite, id).await
    }

    /// A client publishing on Mosquitto's side.
    async fn mosquitto_client(&self, id: &str) -> V4 {
        V4::connect_on(self.mosquitto.port, id, |_| {}).await
    }

    /// Probe each way until a message gets through: the bridge's SUBSCRIBE
    /// reached Kite, and its local subscription is in Mosquitto.
    async fn until_both_ways(&mut self, test: &str) {
        let kite_side = self.kite_client(&format!("{test}-probe-kite")).await;
        let m_side = self.mosquitto_client(&format!("{test}-probe-m")).await;
        probe(&kite_side, &mut self.on_mosquitto, "probe/to-mosquitto").await;
        probe(&m_side, &mut self.on_kite, "probe/to-kite").await;
    }
}

/// Publish `topic` (QoS 0) from `from` every 100 ms until `to` receives it.
async fn probe(from: &V4, to: &mut V4, topic: &str) {
    within(&format!("a probe on {topic} to get through"), async {
        loop {
            from.publish(topic, qos(0), false, b"probe").await;
            let deadline = Instant::now() + Duration::from_millis(100);
            while let Ok(p) = tokio::time::timeout_at(deadline, to.next_publish()).await {
                if p.topic == topic {
                    return;
                }
            }
        }
    })
    .await;
}

/// A message as a subscriber sees it: topic, QoS, retain flag, payload.
type Seen = (String, u8, bool, String);

fn message(topic: &str, qos: u8, retain: bool, payload: &str) -> Seen {
    (topic.into(), qos, retain, payload.into())
}

/// `client` (on `side`) receives exactly `expected` on `t/...`, in any
/// order: once they came, `QUIET` passes with no more (an echo would come
/// then).
async fn assert_received(client: &mut V4, side: &str, expected: &[Seen]) {
    let mut got = Vec::new();
    within(
        &format!("{} messages on t/# {side}", expected.len()),
        async {
            while got.len() < expected.len() {
                let p = client.next_publish().await;
                if p.topic.starts_with("t/") {
                    got.push(p);
                }
            }
        },
    )
    .await;
    while let Ok(p) = timeout(QUIET, client.next_publish()).await {
        if p.topic.starts_with("t/") {
            got.push(p);
        }
    }
    let mut got: Vec<Seen> = got
        .into_iter()
        .map(|p| {
            let payload = String::from_utf8_lossy(&p.payload).into_owned();
            (p.topic, p.qos as u8, p.retain, payload)
        })
        .collect();
    got.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(got, expected, "{side}");
}

#[tokio::test]
async fn messages_cross_the_bridge_both_ways_once_each_at_qos_0_and_1() {
    let mut b = bridged("cross").await;
    let from_kite = b.kite_client("cross-pub-kite").await;
    let from_mosquitto = b.mosquitto_client("cross-pub-m").await;
    from_mosquitto.publish("t/m/0", qos(0), false, b"m0").await;
    from_mosquitto.publish("t/m/1", qos(1), false, b"m1").await;
    from_kite.publish("t/k/0", qos(0), false, b"k0").await;
    from_kite.publish("t/k/1", qos(1), false, b"k1").await;
    // Every message once on each side, its own side included: the bridge
    // does not send Kite's messages back to Kite, and Kite does not send
    // the bridge's messages back to Mosquitto.
    let all = [
        message("t/k/0", 0, false, "k0"),
        message("t/k/1", 1, false, "k1"),
        message("t/m/0", 0, false, "m0"),
        message("t/m/1", 1, false, "m1"),
    ];
    assert_received(&mut b.on_kite, "on Kite's side", &all).await;
    assert_received(&mut b.on_mosquitto, "on Mosquitto's side", &all).await;
}

#[tokio::test]
async fn a_retained_message_stays_retained_across_the_bridge() {
    let mut b = bridged("retain").await;
    let from_kite = b.kite_client("retain-pub-kite").await;
    let from_mosquitto = b.mosquitto_client("retain-pub-m").await;
    from_mosquitto.publish("t/m", qos(1), true, b"kept m").await;
    from_kite.publish("t/k", qos(1), true, b"kept k").await;
    // Live subscribers get them once each, retain cleared (MQTT-3.3.1-12).
    let live = [
        message("t/k", 1, false, "kept k"),
        message("t/m", 1, false, "kept m"),
    ];
    assert_received(&mut b.on_kite, "on Kite's side", &live).await;
    assert_received(&mut b.on_mosquitto, "on Mosquitto's side", &live).await;
    // Each broker kept both, the other side's too: a new subscriber on
    // either side gets both as retained messages. Kite's is retained in
    // Mosquitto only because Kite keeps the flag for the bridge.
    let kept = [
        message("t/k", 1, true, "kept k"),
        message("t/m", 1, true, "kept m"),
    ];
    let mut late_kite = b.kite_client("retain-late-kite").await;
    late_kite.subscribe("t/#", qos(1)).await;
    assert_received(&mut late_kite, "kept by Kite", &kept).await;
    let mut late_m = b.mosquitto_client("retain-late-m").await;
    late_m.subscribe("t/#", qos(1)).await;
    assert_received(&mut late_m, "kept by Mosquitto", &kept).await;
}
