//! Sessions: clean session / clean start, the session present flag, v5
//! session expiry, client id takeover, zero-length client ids.

mod common;

use std::time::Duration;

use common::*;
use mqtt::{Packet, Protocol, ReasonCode};

#[tokio::test]
async fn clean_session_connack_is_exactly_success_without_session_v311() {
    let broker = Broker::start().await;
    let mut raw = Raw::open(&broker, Protocol::V311).await;
    raw.send(&Connect::v311("clean").bytes()).await;
    // CONNACK, remaining length 2, session present 0, return code 0 (accepted).
    assert_eq!(raw.recv_bytes().await, [0x20, 0x02, 0x00, 0x00]);
}

#[tokio::test]
async fn persistent_session_is_present_and_keeps_subscriptions_and_queued_messages_v311() {
    let broker = Broker::start().await;
    let (mut sub, connack) = Raw::connect(&broker, &Connect::v311("durable").clean(false)).await;
    assert!(!connack.session_present, "a new session is not present");
    assert_eq!(sub.subscribe(1, "queue/+", 1).await, 1);
    sub.send(&DISCONNECT).await;
    sub.expect_closed().await;

    let mut publisher = Raw::v311(&broker, "pub").await;
    for (n, pid) in [(0u8, 10u16), (1, 11), (2, 12)] {
        publisher
            .send(&publish(
                false,
                "queue/a",
                &[b'm', b'0' + n],
                1,
                pid,
                false,
                &[],
            ))
            .await;
        assert!(matches!(publisher.recv().await, Packet::PubAck(a) if a.pid.get() == pid));
    }

    let mut sub = Raw::open(&broker, Protocol::V311).await;
    sub.send(&Connect::v311("durable").clean(false).bytes())
        .await;
    // CONNACK, remaining length 2, session present 1, return code 0.
    assert_eq!(sub.recv_bytes().await, [0x20, 0x02, 0x01, 0x00]);
    for expected in [b"m0", b"m1", b"m2"] {
        let p = sub.publish().await;
        assert_eq!(&p.payload[..], expected);
        assert_eq!(p.qos, mqtt_qos(1));
        sub.send(&puback(p.pid.unwrap().get())).await;
    }
    sub.expect_silence().await;
}

#[tokio::test]
async fn clean_session_discards_the_previous_session_v311() {
    let broker = Broker::start().await;
    let (mut sub, _) = Raw::connect(&broker, &Connect::v311("gone").clean(false)).await;
    sub.subscribe(1, "t", 1).await;
    sub.send(&DISCONNECT).await;
    sub.expect_closed().await;

    let (mut sub, connack) = Raw::connect(&broker, &Connect::v311("gone").clean(true)).await;
    assert!(
        !connack.session_present,
        "clean session 1: no session present"
    );
    sub.send(&DISCONNECT).await;
    sub.expect_closed().await;

    let (mut sub, connack) = Raw::connect(&broker, &Connect::v311("gone").clean(false)).await;
    assert!(!connack.session_present, "the clean session ended it");
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .send(&publish(false, "t", b"x", 0, 0, false, &[]))
        .await;
    sub.expect_silence().await; // the old subscription is gone
}

#[tokio::test]
async fn v5_clean_start_discards_the_session_and_reports_not_present() {
    let broker = Broker::start().await;
    let expiry = prop_u32(0x11, 60); // session expiry interval: 60 s
    let (mut c, _) = Raw::connect(
        &broker,
        &Connect::v5("v5c").clean(true).props(expiry.clone()),
    )
    .await;
    c.subscribe(1, "t", 1).await;
    c.send(&DISCONNECT).await;
    c.expect_closed().await;

    let (mut c, connack) = Raw::connect(
        &broker,
        &Connect::v5("v5c").clean(false).props(expiry.clone()),
    )
    .await;
    assert!(connack.session_present, "clean start 0 resumes the session");
    c.send(&DISCONNECT).await;
    c.expect_closed().await;

    let (_c, connack) = Raw::connect(&broker, &Connect::v5("v5c").clean(true).props(expiry)).await;
    assert!(
        !connack.session_present,
        "clean start 1 never reports a session"
    );
}

#[tokio::test]
async fn v5_session_expiry_zero_ends_the_session_with_the_connection() {
    let broker = Broker::start().await;
    // No session expiry property: 0, the session ends when the connection does.
    let (mut c, _) = Raw::connect(&broker, &Connect::v5("short").clean(false)).await;
    c.subscribe(1, "t", 1).await;
    c.send(&DISCONNECT).await;
    c.expect_closed().await;
    let (_c, connack) = Raw::connect(&broker, &Connect::v5("short").clean(false)).await;
    assert!(!connack.session_present);
}

#[tokio::test]
async fn v5_session_with_expiry_is_resumed_within_it_and_gone_after_it() {
    let broker = Broker::start().await;
    let connect = Connect::v5("expiring")
        .clean(false)
        .props(prop_u32(0x11, 1)); // session expiry interval: 1 s
    let (mut c, connack) = Raw::connect(&broker, &connect).await;
    assert!(!connack.session_present);
    c.subscribe(1, "t", 1).await;
    c.send(&DISCONNECT).await;
    c.expect_closed().await;

    let (mut c, connack) = Raw::connect(&broker, &connect).await;
    assert!(
        connack.session_present,
        "resumed within the expiry interval"
    );
    c.send(&DISCONNECT).await;
    c.expect_closed().await;

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_c, connack) = Raw::connect(&broker, &connect).await;
    assert!(!connack.session_present, "expired after 1 s away");
}

#[tokio::test]
async fn v5_disconnect_with_session_expiry_zero_ends_a_persistent_session() {
    let broker = Broker::start().await;
    let connect = Connect::v5("shorten")
        .clean(false)
        .props(prop_u32(0x11, 60));
    let (mut c, _) = Raw::connect(&broker, &connect).await;
    c.subscribe(1, "t", 1).await;
    let mut disconnect = vec![0x00]; // reason: normal disconnection
    disconnect.extend(props(&prop_u32(0x11, 0))); // session expiry interval: 0
    c.send(&packet(0xE0, &disconnect)).await;
    c.expect_closed().await;
    let (_c, connack) = Raw::connect(&broker, &connect).await;
    assert!(!connack.session_present, "DISCONNECT set the expiry to 0");
}

#[tokio::test]
async fn takeover_closes_the_old_connection_v311() {
    let broker = Broker::start().await;
    let mut old = Raw::v311(&broker, "twin").await;
    let mut new = Raw::v311(&broker, "twin").await;
    assert_eq!(
        old.expect_disconnect().await,
        None,
        "3.1.1 has no DISCONNECT from the server: just a close"
    );
    new.send(&PINGREQ).await;
    assert_eq!(new.recv().await, Packet::PingResp, "the new one is served");
}

#[tokio::test]
async fn takeover_sends_disconnect_0x8e_to_the_old_v5_connection() {
    let broker = Broker::start().await;
    let mut old = Raw::v5(&broker, "twin5").await;
    let mut new = Raw::v5(&broker, "twin5").await;
    assert_eq!(
        old.expect_disconnect().await,
        Some(ReasonCode::SessionTakenOver)
    );
    new.send(&PINGREQ).await;
    assert_eq!(new.recv().await, Packet::PingResp);
}

#[tokio::test]
async fn takeover_of_a_persistent_session_keeps_its_subscriptions() {
    let broker = Broker::start().await;
    let (mut old, _) = Raw::connect(&broker, &Connect::v311("moving").clean(false)).await;
    old.subscribe(1, "moved", 0).await;
    let (mut new, connack) = Raw::connect(&broker, &Connect::v311("moving").clean(false)).await;
    assert!(connack.session_present, "the live session is taken over");
    old.expect_closed().await;
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .send(&publish(false, "moved", b"here", 0, 0, false, &[]))
        .await;
    assert_eq!(&new.publish().await.payload[..], b"here");
}

#[tokio::test]
async fn v5_empty_client_id_gets_an_assigned_identifier_in_connack() {
    let broker = Broker::start().await;
    let (mut c, connack) = Raw::connect(&broker, &Connect::v5("")).await;
    let assigned = connack
        .properties
        .assigned_client_identifier
        .expect("assigned client identifier property (0x12)");
    assert!(!assigned.is_empty());
    let (_d, other) = Raw::connect(&broker, &Connect::v5("")).await;
    assert_ne!(
        other.properties.assigned_client_identifier,
        Some(assigned),
        "each assigned id is unique"
    );
    c.send(&PINGREQ).await;
    assert_eq!(c.recv().await, Packet::PingResp);
}

#[tokio::test]
async fn v311_empty_client_id_with_clean_session_is_accepted() {
    let broker = Broker::start().await;
    let mut raw = Raw::open(&broker, Protocol::V311).await;
    raw.send(&Connect::v311("").clean(true).bytes()).await;
    // CONNACK, remaining length 2, session present 0, return code 0.
    assert_eq!(raw.recv_bytes().await, [0x20, 0x02, 0x00, 0x00]);
    raw.send(&PINGREQ).await;
    assert_eq!(raw.recv().await, Packet::PingResp);
}

#[tokio::test]
async fn v311_empty_client_id_without_clean_session_is_refused_with_code_2() {
    let broker = Broker::start().await;
    let mut raw = Raw::open(&broker, Protocol::V311).await;
    raw.send(&Connect::v311("").clean(false).bytes()).await;
    // CONNACK, remaining length 2, session present 0, return code 2 (identifier rejected).
    assert_eq!(raw.recv_bytes().await, [0x20, 0x02, 0x00, 0x02]);
    assert!(raw.expect_closed().await.is_empty(), "then the close");
}

#[tokio::test]
async fn rumqttc_persistent_session_gets_what_was_published_while_it_was_away() {
    let broker = Broker::start().await;
    let durable = |o: &mut rumqttc::MqttOptions| {
        o.set_clean_session(false);
    };
    let mut sub = V4::connect_with(&broker, "rq-durable", durable).await;
    assert!(!sub.connack.session_present);
    sub.subscribe("rq/#", qos(1)).await;
    sub.disconnect().await;
    let mut publisher = V4::connect(&broker, "rq-pub").await;
    publisher
        .publish("rq/a", qos(1), false, b"while away")
        .await;
    publisher.puback().await;
    let mut sub = V4::connect_with(&broker, "rq-durable", durable).await;
    assert!(sub.connack.session_present);
    let p = sub.next_publish().await;
    assert_eq!((&p.topic[..], &p.payload[..]), ("rq/a", &b"while away"[..]));
}
