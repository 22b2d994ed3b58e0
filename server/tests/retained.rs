//! Retained messages: stored, replaced, deleted by an empty payload; the
//! retain flag as subscribers see it; v5 retain handling 0/1/2 and
//! retain-as-published.

mod common;

use std::collections::BTreeMap;

use common::*;

/// Publish a retained QoS 0 message from a fresh 3.1.1 client.
async fn retain(broker: &Broker, topic: &str, payload: &[u8]) {
    let mut publisher = Raw::v311(broker, "retainer").await;
    publisher
        .send(&publish(false, topic, payload, 0, 0, true, &[]))
        .await;
    publisher.sync().await; // once PINGRESP is back, the PUBLISH was handled
}

#[tokio::test]
async fn retained_message_is_sent_to_a_new_subscriber_with_the_retain_flag() {
    let broker = Broker::start().await;
    retain(&broker, "r/1", b"v1").await;
    let mut sub = Raw::v311(&broker, "sub").await;
    sub.send(&subscribe(false, 1, &[], &[("r/+", 0)])).await;
    let mut got = vec![sub.recv_bytes().await, sub.recv_bytes().await];
    got.sort(); // SUBACK (0x90) and the retained PUBLISH, in either order
    assert_eq!(
        got,
        [
            vec![0x31, 0x07, 0x00, 0x03, b'r', b'/', b'1', b'v', b'1'], // PUBLISH, RETAIN 1, "r/1", "v1"
            vec![0x90, 0x03, 0x00, 0x01, 0x00], // SUBACK, id 1, granted QoS 0
        ]
    );
    sub.expect_silence().await;
}

#[tokio::test]
async fn a_newer_retained_message_replaces_the_older_one() {
    let broker = Broker::start().await;
    retain(&broker, "r/x", b"old").await;
    retain(&broker, "r/x", b"new").await;
    let mut sub = Raw::v311(&broker, "sub").await;
    sub.subscribe(1, "r/x", 0).await;
    let p = sub.publish().await;
    assert!(p.retain);
    assert_eq!(&p.payload[..], b"new");
    sub.expect_silence().await;
}

#[tokio::test]
async fn an_empty_retained_payload_deletes_the_retained_message() {
    let broker = Broker::start().await;
    retain(&broker, "r/del", b"here").await;
    retain(&broker, "r/keep", b"kept").await;
    retain(&broker, "r/del", b"").await;
    let mut sub = Raw::v311(&broker, "sub").await;
    sub.subscribe(1, "r/#", 0).await;
    let p = sub.publish().await;
    assert_eq!((&*p.topic, &p.payload[..]), ("r/keep", &b"kept"[..]));
    sub.expect_silence().await; // nothing for r/del, not even an empty message
}

#[tokio::test]
async fn retain_flag_is_cleared_for_an_established_subscription_v311() {
    let broker = Broker::start().await;
    let mut sub = Raw::v311(&broker, "sub").await;
    sub.subscribe(1, "live", 0).await;
    retain(&broker, "live", b"now").await;
    let delivered = sub.recv_bytes().await;
    assert_eq!(
        delivered[0], 0x30,
        "PUBLISH with RETAIN 0: {delivered:02x?}"
    );
}

#[tokio::test]
async fn retained_messages_are_delivered_at_the_lower_qos_and_once_per_topic() {
    let broker = Broker::start().await;
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher.publish_acked("m/a", b"a", 1, 1, true, &[]).await;
    publisher.publish_acked("m/b", b"b", 2, 2, true, &[]).await;
    publisher.publish_acked("m/c", b"c", 0, 0, true, &[]).await;
    let mut sub = Raw::v311(&broker, "sub").await;
    sub.subscribe(1, "m/#", 1).await;
    let mut got = BTreeMap::new();
    for _ in 0..3 {
        let p = sub.publish().await;
        assert!(p.retain);
        if let Some(pid) = p.pid {
            sub.send(&puback(pid.get())).await;
        }
        assert!(got.insert(p.topic.to_string(), p.qos as u8).is_none());
    }
    let expected = [("m/a", 1), ("m/b", 1), ("m/c", 0)].map(|(t, q)| (t.to_string(), q));
    assert_eq!(got, BTreeMap::from(expected));
    sub.expect_silence().await;
}

#[tokio::test]
async fn retained_dollar_topics_do_not_match_a_leading_wildcard() {
    let broker = Broker::start().await;
    retain(&broker, "$app/x", b"hidden").await;
    retain(&broker, "app/x", b"shown").await;
    let mut sub = Raw::v311(&broker, "sub").await;
    sub.subscribe(1, "#", 0).await;
    assert_eq!(&sub.publish().await.topic, "app/x");
    sub.expect_silence().await;
    sub.subscribe(2, "$app/#", 0).await;
    assert_eq!(&sub.publish().await.topic, "$app/x");
}

/// Subscribe a v5 client with `options` and return how many retained messages followed.
async fn retained_after_subscribe(sub: &mut Raw, pid: u16, filter: &str, options: u8) -> usize {
    assert_eq!(sub.subscribe(pid, filter, options).await, 0x00);
    let mut count = 0;
    while let Ok(Some(packet)) = sub.next_within(QUIET).await {
        match packet {
            mqtt::Packet::Publish(p) if p.retain => count += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    count
}

#[tokio::test]
async fn retain_handling_0_sends_retained_messages_at_every_subscribe() {
    let broker = Broker::start().await;
    retain(&broker, "rh/0", b"x").await;
    let mut sub = Raw::v5(&broker, "sub").await;
    // Options 0x00: QoS 0, retain handling 0 (send at subscribe).
    assert_eq!(retained_after_subscribe(&mut sub, 1, "rh/0", 0x00).await, 1);
    assert_eq!(retained_after_subscribe(&mut sub, 2, "rh/0", 0x00).await, 1);
}

#[tokio::test]
async fn retain_handling_1_sends_retained_messages_only_for_a_new_subscription() {
    let broker = Broker::start().await;
    retain(&broker, "rh/1", b"x").await;
    let mut sub = Raw::v5(&broker, "sub").await;
    // Options 0x10: QoS 0, retain handling 1 (send if the subscription is new).
    assert_eq!(retained_after_subscribe(&mut sub, 1, "rh/1", 0x10).await, 1);
    assert_eq!(retained_after_subscribe(&mut sub, 2, "rh/1", 0x10).await, 0);
}

#[tokio::test]
async fn retain_handling_2_never_sends_retained_messages_but_live_ones_flow() {
    let broker = Broker::start().await;
    retain(&broker, "rh/2", b"x").await;
    let mut sub = Raw::v5(&broker, "sub").await;
    // Options 0x20: QoS 0, retain handling 2 (do not send).
    assert_eq!(retained_after_subscribe(&mut sub, 1, "rh/2", 0x20).await, 0);
    retain(&broker, "rh/2", b"live").await;
    let p = sub.publish().await;
    assert_eq!(&p.payload[..], b"live");
}

#[tokio::test]
async fn retain_as_published_keeps_the_flag_on_live_messages_only_for_that_subscription() {
    let broker = Broker::start().await;
    let mut rap = Raw::v5(&broker, "rap").await;
    rap.subscribe(1, "rap", 0x08).await; // options: QoS 0, retain as published
    let mut plain = Raw::v5(&broker, "plain").await;
    plain.subscribe(1, "rap", 0x00).await; // options: QoS 0
    retain(&broker, "rap", b"r").await;
    assert!(rap.publish().await.retain, "retain as published: RETAIN 1");
    assert!(
        !plain.publish().await.retain,
        "default: RETAIN 0 on live delivery"
    );

    let mut non_retained = Raw::v311(&broker, "pub").await;
    non_retained
        .send(&publish(false, "rap", b"n", 0, 0, false, &[]))
        .await;
    assert!(
        !rap.publish().await.retain,
        "a non-retained message stays RETAIN 0"
    );
    assert!(!plain.publish().await.retain);
}
