//! Last will: published when the connection ends abnormally (socket dropped,
//! keep alive expired, protocol error), not after a normal DISCONNECT; a v5
//! DISCONNECT with reason 0x04 publishes it; the will delay interval (v5).

mod common;

use std::time::{Duration, Instant};

use common::*;

fn will<'a>(payload: &'a [u8]) -> Will<'a> {
    Will {
        topic: "will/t",
        payload,
        ..Will::default()
    }
}

/// A 3.1.1 watcher subscribed to the will topic at QoS 1.
async fn watcher(broker: &Broker) -> Raw {
    let mut w = Raw::v311(broker, "watcher").await;
    w.subscribe(1, "will/#", 1).await;
    w
}

#[tokio::test]
async fn will_is_published_when_the_socket_is_dropped() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let (c, _) = Raw::connect(&broker, &Connect::v311("dies").will(will(b"gone"))).await;
    c.drop_socket();
    let p = w.publish().await;
    assert_eq!((&*p.topic, &p.payload[..]), ("will/t", &b"gone"[..]));
    assert_eq!(p.qos, mqtt_qos(0), "will QoS 0");
}

#[tokio::test]
async fn will_is_not_published_after_a_normal_disconnect_v311() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let (mut c, _) = Raw::connect(&broker, &Connect::v311("polite").will(will(b"x"))).await;
    c.send(&DISCONNECT).await;
    c.expect_closed().await;
    w.expect_silence().await;
}

#[tokio::test]
async fn will_is_not_published_after_a_v5_normal_disconnect() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let (mut c, _) = Raw::connect(&broker, &Connect::v5("polite5").will(will(b"x"))).await;
    c.send(&[
        0xE0, // DISCONNECT
        0x01, // remaining length 1
        0x00, // reason: normal disconnection (no properties)
    ])
    .await;
    c.expect_closed().await;
    w.expect_silence().await;
}

#[tokio::test]
async fn v5_disconnect_with_reason_0x04_publishes_the_will() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let (mut c, _) = Raw::connect(&broker, &Connect::v5("asks").will(will(b"asked"))).await;
    c.send(&[
        0xE0, // DISCONNECT
        0x01, // remaining length 1
        0x04, // reason: disconnect with will message
    ])
    .await;
    c.expect_closed().await;
    assert_eq!(&w.publish().await.payload[..], b"asked");
}

#[tokio::test]
async fn will_qos_and_retain_are_honoured() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let durable = Will {
        qos: 1,
        retain: true,
        ..will(b"kept")
    };
    let (c, _) = Raw::connect(&broker, &Connect::v311("retains").will(durable)).await;
    c.drop_socket();
    let p = w.publish().await;
    assert_eq!(p.qos, mqtt_qos(1));
    w.send(&puback(p.pid.unwrap().get())).await;
    let mut late = Raw::v311(&broker, "late").await;
    late.subscribe(1, "will/t", 0).await;
    let p = late.publish().await;
    assert!(p.retain, "the will was retained");
    assert_eq!(&p.payload[..], b"kept");
}

#[tokio::test]
async fn will_is_published_when_the_keepalive_expires() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let connect = Connect::v311("silent").keep_alive(1).will(will(b"timeout"));
    let (_c, _) = Raw::connect(&broker, &connect).await; // kept open, but silent
    let p = within("the will", async {
        loop {
            if let Ok(Some(mqtt::Packet::Publish(p))) = w.next_within(WAIT).await {
                return p;
            }
        }
    })
    .await;
    assert_eq!(&p.payload[..], b"timeout");
}

#[tokio::test]
async fn will_is_published_when_the_connection_ends_with_a_protocol_error() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let (mut c, _) = Raw::connect(&broker, &Connect::v5("rude").will(will(b"error"))).await;
    c.send(&Connect::v5("rude").bytes()).await; // a second CONNECT
    c.expect_closed().await;
    assert_eq!(&w.publish().await.payload[..], b"error");
}

#[tokio::test]
async fn v5_will_properties_are_delivered_with_the_will() {
    let broker = Broker::start().await;
    let mut w = Raw::v5(&broker, "watcher5").await;
    w.subscribe(1, "will/#", 0).await;
    let mut props = prop_str(0x03, "text/plain"); // content type
    props.extend(prop(0x26, &[string("k"), string("v")].concat())); // user property k=v
    let with_props = Will {
        props,
        ..will(b"props")
    };
    let (c, _) = Raw::connect(&broker, &Connect::v5("propped").will(with_props)).await;
    c.drop_socket();
    let p = w.publish().await;
    assert_eq!(p.properties.content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        p.properties.user_properties,
        [("k".into(), "v".into())],
        "user property"
    );
}

#[tokio::test]
async fn rumqttc_v5_will_is_published_when_its_connection_drops() {
    let broker = Broker::start().await;
    let mut w = V4::connect(&broker, "rq-watcher").await;
    w.subscribe("will/#", qos(1)).await;
    let last_will =
        rumqttc::v5::mqttbytes::v5::LastWill::new("will/rq", "bye", qos5(1), false, None);
    let c = V5::connect_with(&broker, "rq-dies", |o| {
        o.set_last_will(last_will);
    })
    .await;
    drop(c); // its event loop stops: the socket closes without DISCONNECT
    let p = w.next_publish().await;
    assert_eq!((&p.topic[..], &p.payload[..]), ("will/rq", &b"bye"[..]));
    assert_eq!(p.qos, qos(1));
}

// ---- Will delay interval (v5): being added. ----

/// A v5 client with a 60 s session, whose will waits `delay` seconds.
fn delayed(client_id: &str, delay: u32) -> Connect<'_> {
    Connect::v5(client_id)
        .clean(false)
        .props(prop_u32(0x11, 60)) // session expiry interval: 60 s
        .will(Will {
            props: prop_u32(0x18, delay), // will delay interval
            ..will(b"delayed")
        })
}

#[tokio::test]
async fn will_delay_interval_postpones_the_will() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let (c, _) = Raw::connect(&broker, &delayed("later", 2)).await;
    let dropped = Instant::now();
    c.drop_socket();
    let p = w.publish().await;
    let elapsed = dropped.elapsed();
    assert_eq!(&p.payload[..], b"delayed");
    assert!(
        elapsed >= Duration::from_millis(1800),
        "will published after {elapsed:?}, before its 2 s delay"
    );
}

#[tokio::test]
async fn will_is_not_published_if_the_client_reconnects_within_the_delay() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let (c, _) = Raw::connect(&broker, &delayed("back", 2)).await;
    c.drop_socket();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_c, connack) = Raw::connect(&broker, &Connect::v5("back").clean(false)).await;
    assert!(connack.session_present);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    w.expect_silence().await;
}

#[tokio::test]
async fn will_delay_longer_than_the_session_is_cut_short_by_session_expiry() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let connect = Connect::v5("short")
        .clean(false)
        .props(prop_u32(0x11, 1)) // session expiry interval: 1 s
        .will(Will {
            props: prop_u32(0x18, 60), // will delay interval: 60 s
            ..will(b"session over")
        });
    let (c, _) = Raw::connect(&broker, &connect).await;
    c.drop_socket();
    assert_eq!(&w.publish().await.payload[..], b"session over");
}
