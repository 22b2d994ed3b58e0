//! QoS 0, 1 and 2 in both directions with their exact flows, exactly-once
//! delivery of a resent QoS 2 message, the inflight window bounded by the
//! client's Receive Maximum, redelivery with DUP after reconnect, ordering,
//! and the downgrade to the subscription's maximum QoS.

mod common;

use std::collections::HashSet;

use common::*;
use mqtt::{Packet, Protocol};

#[tokio::test]
async fn qos0_publish_is_forwarded_byte_for_byte_to_a_qos0_subscriber() {
    let broker = Broker::start().await;
    let mut sub = Raw::v311(&broker, "sub").await;
    sub.send(&subscribe(false, 1, &[], &[("t/0", 0)])).await;
    // SUBACK, remaining length 3, packet id 1, granted QoS 0.
    assert_eq!(sub.recv_bytes().await, [0x90, 0x03, 0x00, 0x01, 0x00]);
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .send(&[
            0x30, // PUBLISH, QoS 0, no DUP, no RETAIN
            0x0A, // remaining length 10
            0x00, 0x03, b't', b'/', b'0', // topic "t/0"
            b'h', b'e', b'l', b'l', b'o', // payload
        ])
        .await;
    assert_eq!(
        sub.recv_bytes().await,
        [0x30, 0x0A, 0x00, 0x03, b't', b'/', b'0', b'h', b'e', b'l', b'l', b'o']
    );
    publisher.expect_silence().await; // no acknowledgement for QoS 0
}

#[tokio::test]
async fn qos1_flow_puback_in_both_directions() {
    let broker = Broker::start().await;
    let mut sub = Raw::v311(&broker, "sub").await;
    assert_eq!(sub.subscribe(1, "q1", 1).await, 0x01, "granted QoS 1");
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .send(&[
            0x32, // PUBLISH, QoS 1
            0x07, // remaining length 7
            0x00, 0x02, b'q', b'1', // topic "q1"
            0x00, 0x07, // packet id 7
            b'x', // payload
        ])
        .await;
    // PUBACK, remaining length 2, packet id 7.
    assert_eq!(publisher.recv_bytes().await, [0x40, 0x02, 0x00, 0x07]);
    let delivered = sub.recv_bytes().await;
    assert_eq!(delivered.len(), 9, "{delivered:02x?}");
    assert_eq!(&delivered[..6], [0x32, 0x07, 0x00, 0x02, b'q', b'1']);
    assert_ne!(&delivered[6..8], [0, 0], "a non-zero packet id");
    assert_eq!(delivered[8], b'x');
    sub.send(&packet(0x40, &delivered[6..8])).await; // PUBACK with that id
    sub.expect_silence().await; // acknowledged: not sent again
}

#[tokio::test]
async fn qos2_flow_pubrec_pubrel_pubcomp_in_both_directions() {
    let broker = Broker::start().await;
    let mut sub = Raw::v311(&broker, "sub").await;
    assert_eq!(sub.subscribe(1, "q2", 2).await, 0x02, "granted QoS 2");
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .send(&[
            0x34, // PUBLISH, QoS 2
            0x07, // remaining length 7
            0x00, 0x02, b'q', b'2', // topic "q2"
            0x00, 0x09, // packet id 9
            b'y', // payload
        ])
        .await;
    // PUBREC, remaining length 2, packet id 9.
    assert_eq!(publisher.recv_bytes().await, [0x50, 0x02, 0x00, 0x09]);
    publisher.send(&[0x62, 0x02, 0x00, 0x09]).await; // PUBREL (flags 0b0010), id 9
                                                     // PUBCOMP, remaining length 2, packet id 9.
    assert_eq!(publisher.recv_bytes().await, [0x70, 0x02, 0x00, 0x09]);

    let delivered = sub.recv_bytes().await;
    assert_eq!(&delivered[..6], [0x34, 0x07, 0x00, 0x02, b'q', b'2']);
    let pid = [delivered[6], delivered[7]];
    assert_eq!(delivered[8], b'y');
    sub.send(&packet(0x50, &pid)).await; // PUBREC
                                         // PUBREL (flags 0b0010), remaining length 2, the same packet id.
    assert_eq!(sub.recv_bytes().await, [0x62, 0x02, pid[0], pid[1]]);
    sub.send(&packet(0x70, &pid)).await; // PUBCOMP
    sub.expect_silence().await;
}

#[tokio::test]
async fn qos2_resent_with_dup_before_pubrel_is_delivered_exactly_once() {
    let broker = Broker::start().await;
    let mut sub = Raw::v311(&broker, "sub").await;
    sub.subscribe(1, "once", 2).await;
    let mut publisher = Raw::v311(&broker, "pub").await;
    let first = [
        0x34, // PUBLISH, QoS 2, DUP 0
        0x09, // remaining length 9
        0x00, 0x04, b'o', b'n', b'c', b'e', // topic "once"
        0x00, 0x05, // packet id 5
        b'1', // payload
    ];
    publisher.send(&first).await;
    assert_eq!(publisher.recv_bytes().await, [0x50, 0x02, 0x00, 0x05]); // PUBREC 5
    let mut resent = first;
    resent[0] = 0x3C; // PUBLISH, QoS 2, DUP 1: the same message again
    publisher.send(&resent).await;
    assert_eq!(publisher.recv_bytes().await, [0x50, 0x02, 0x00, 0x05]); // PUBREC 5 again
    publisher.send(&pubrel(5)).await;
    assert_eq!(publisher.recv_bytes().await, [0x70, 0x02, 0x00, 0x05]); // PUBCOMP 5

    let p = sub.publish().await;
    assert_eq!(&p.payload[..], b"1");
    sub.send(&pubrec(p.pid.unwrap().get())).await;
    assert!(matches!(sub.recv().await, Packet::PubRel(_)));
    sub.send(&pubcomp(p.pid.unwrap().get())).await;
    sub.expect_silence().await; // one delivery, not two

    // After PUBCOMP the id is free: the same id is a new message.
    publisher
        .publish_acked("once", b"2", 2, 5, false, &[])
        .await;
    assert_eq!(&sub.publish().await.payload[..], b"2");
}

#[tokio::test]
async fn receive_maximum_2_bounds_the_unacknowledged_qos1_publishes() {
    let broker = Broker::start().await;
    let connect = Connect::v5("slow").props(prop_u16(0x21, 2)); // receive maximum: 2
    let (mut sub, _) = Raw::connect(&broker, &connect).await;
    sub.subscribe(1, "rm", 1).await;
    let mut publisher = Raw::v311(&broker, "pub").await;
    for n in 1..=5u16 {
        publisher
            .publish_acked("rm", &[b'0' + n as u8], 1, n, false, &[])
            .await;
    }
    let a = sub.publish().await;
    let b = sub.publish().await;
    assert_eq!((&a.payload[..], &b.payload[..]), (&b"1"[..], &b"2"[..]));
    sub.expect_silence().await; // the window of 2 is full

    sub.send(&puback(a.pid.unwrap().get())).await;
    let c = sub.publish().await;
    assert_eq!(&c.payload[..], b"3");
    sub.expect_silence().await; // full again

    sub.send(&puback(b.pid.unwrap().get())).await;
    sub.send(&puback(c.pid.unwrap().get())).await;
    let d = sub.publish().await;
    let e = sub.publish().await;
    assert_eq!((&d.payload[..], &e.payload[..]), (&b"4"[..], &b"5"[..]));
    sub.send(&puback(d.pid.unwrap().get())).await;
    sub.send(&puback(e.pid.unwrap().get())).await;
    sub.expect_silence().await;
}

#[tokio::test]
async fn unacknowledged_qos1_is_redelivered_with_dup_after_reconnect() {
    let broker = Broker::start().await;
    let connect = Connect::v311("redo").clean(false);
    let (mut sub, _) = Raw::connect(&broker, &connect).await;
    sub.subscribe(1, "redo", 1).await;
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .publish_acked("redo", b"first", 1, 1, false, &[])
        .await;
    let original = sub.publish().await;
    assert!(!original.dup, "first delivery has DUP 0");
    sub.drop_socket(); // no PUBACK

    let (mut sub, connack) = Raw::connect(&broker, &connect).await;
    assert!(connack.session_present);
    let again = sub.recv_bytes().await;
    let pid = original.pid.unwrap().get().to_be_bytes();
    let mut expected = vec![
        0x3A, // PUBLISH, DUP 1, QoS 1
        0x0D, // remaining length 13
        0x00, 0x04, b'r', b'e', b'd', b'o', // topic "redo"
        pid[0], pid[1], // the same packet id
    ];
    expected.extend_from_slice(b"first");
    assert_eq!(again, expected);
    sub.send(&puback(original.pid.unwrap().get())).await;
    sub.expect_silence().await;
}

#[tokio::test]
async fn qos2_flows_resume_after_reconnect_publish_with_dup_and_pubrel() {
    let broker = Broker::start().await;
    let connect = Connect::v311("redo2").clean(false);
    let (mut sub, _) = Raw::connect(&broker, &connect).await;
    sub.subscribe(1, "r2", 2).await;
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher.publish_acked("r2", b"a", 2, 1, false, &[]).await;
    publisher.publish_acked("r2", b"b", 2, 2, false, &[]).await;
    let a = sub.publish().await;
    let b = sub.publish().await;
    let (pa, pb) = (a.pid.unwrap().get(), b.pid.unwrap().get());
    sub.send(&pubrec(pa)).await;
    assert!(matches!(sub.recv().await, Packet::PubRel(r) if r.pid.get() == pa));
    sub.drop_socket(); // "a" waits for PUBCOMP, "b" for PUBREC

    let (mut sub, connack) = Raw::connect(&broker, &connect).await;
    assert!(connack.session_present);
    let mut saw_pubrel_a = false;
    let mut saw_dup_b = false;
    for _ in 0..2 {
        match sub.recv().await {
            Packet::PubRel(r) if r.pid.get() == pa => saw_pubrel_a = true,
            Packet::Publish(p) if p.pid.map(|x| x.get()) == Some(pb) => {
                assert!(p.dup, "resent PUBLISH has DUP 1");
                assert_eq!(&p.payload[..], b"b");
                saw_dup_b = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_pubrel_a && saw_dup_b);
    sub.send(&pubcomp(pa)).await;
    sub.send(&pubrec(pb)).await;
    assert!(matches!(sub.recv().await, Packet::PubRel(r) if r.pid.get() == pb));
    sub.send(&pubcomp(pb)).await;
    sub.expect_silence().await;
}

#[tokio::test]
async fn thousand_qos1_messages_from_one_publisher_arrive_in_order() {
    let broker = Broker::start().await;
    let mut sub = V4::connect(&broker, "order-sub").await;
    sub.subscribe("order", qos(1)).await;
    let publisher = V4::connect(&broker, "order-pub").await;
    let sender = tokio::spawn(async move {
        for n in 0u32..1000 {
            publisher
                .publish("order", qos(1), false, &n.to_be_bytes())
                .await;
        }
        publisher // keep its event loop alive until all are sent
    });
    for expected in 0u32..1000 {
        let p = sub.next_publish().await;
        assert_eq!(p.qos, qos(1));
        let n = u32::from_be_bytes(p.payload[..].try_into().expect("4 bytes"));
        assert_eq!(n, expected, "out of order");
    }
    within("publisher task", sender).await.expect("publisher");
}

#[tokio::test]
async fn delivery_qos_is_the_lower_of_publish_and_subscription() {
    let broker = Broker::start().await;
    let mut sub = Raw::open(&broker, Protocol::V311).await;
    sub.send(&Connect::v311("sub").bytes()).await;
    sub.connack().await;
    sub.send(&subscribe(
        false,
        1,
        &[],
        &[("d/0", 0), ("d/1", 1), ("d/2", 2)],
    ))
    .await;
    // SUBACK, remaining length 5, packet id 1, granted 0, 1, 2.
    assert_eq!(
        sub.recv_bytes().await,
        [0x90, 0x05, 0x00, 0x01, 0x00, 0x01, 0x02]
    );
    let mut publisher = Raw::v311(&broker, "pub").await;
    let cases = [
        ("d/0", 2u8, 0u8),
        ("d/1", 2, 1),
        ("d/2", 1, 1),
        ("d/2", 0, 0),
    ];
    let mut pids = HashSet::new();
    for (n, (topic, published, delivered)) in cases.into_iter().enumerate() {
        publisher
            .publish_acked(topic, b"q", published, n as u16 + 1, false, &[])
            .await;
        let p = sub.publish().await;
        assert_eq!(p.topic, topic);
        assert_eq!(
            p.qos,
            mqtt_qos(delivered),
            "{topic} published at {published}"
        );
        if let Some(pid) = p.pid {
            assert!(pids.insert(pid));
            if delivered == 1 {
                sub.send(&puback(pid.get())).await;
            } else {
                sub.send(&pubrec(pid.get())).await;
                sub.recv().await;
                sub.send(&pubcomp(pid.get())).await;
            }
        }
    }
    sub.expect_silence().await;
}
