//! Shared subscriptions `$share/{group}/{filter}` (being added): each message
//! goes to exactly one member of each group, rotating among the members;
//! every group, and every plain subscriber, gets its own copy.

mod common;

use std::collections::BTreeSet;

use common::*;
use mqtt::Packet;

/// Read every PUBLISH until the client is quiet for `QUIET`, acknowledging
/// QoS 1; returns the payloads as numbers, in arrival order.
async fn drain(c: &mut Raw) -> Vec<u16> {
    let mut got = Vec::new();
    loop {
        match c.next_within(QUIET).await {
            Err(()) => return got,
            Ok(Some(Packet::Publish(p))) => {
                if let Some(pid) = p.pid {
                    c.send(&puback(pid.get())).await;
                }
                got.push(u16::from_be_bytes(
                    p.payload[..].try_into().expect("2 bytes"),
                ));
            }
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
}

/// Publish `count` QoS 1 messages numbered from 0 on `topic`.
async fn publish_numbered(broker: &Broker, topic: &str, count: u16) {
    let mut publisher = Raw::v5(broker, "pub").await;
    for n in 0..count {
        publisher
            .publish_acked(topic, &n.to_be_bytes(), 1, n + 1, false, &[])
            .await;
    }
}

async fn member(broker: &Broker, id: &str, filter: &str) -> Raw {
    let mut c = Raw::v5(broker, id).await;
    assert_eq!(c.subscribe(1, filter, 1).await, 0x01, "granted QoS 1");
    c
}

#[tokio::test]
async fn connack_says_shared_subscriptions_are_available() {
    let broker = Broker::start().await;
    let (_c, connack) = Raw::connect(&broker, &Connect::v5("ask")).await;
    let available = connack.properties.shared_subscription_available;
    assert!(matches!(available, None | Some(1)), "{available:?}");
}

#[tokio::test]
async fn each_message_goes_to_exactly_one_member_rotating() {
    let broker = Broker::start().await;
    let mut a = member(&broker, "a", "$share/workers/jobs/+").await;
    let mut b = member(&broker, "b", "$share/workers/jobs/+").await;
    publish_numbered(&broker, "jobs/x", 10).await;
    let (got_a, got_b) = (drain(&mut a).await, drain(&mut b).await);
    let all: BTreeSet<u16> = got_a.iter().chain(&got_b).copied().collect();
    assert_eq!(got_a.len() + got_b.len(), 10, "a {got_a:?}, b {got_b:?}");
    assert_eq!(all, (0..10).collect(), "every message exactly once");
    assert!(
        got_a.len() >= 4 && got_b.len() >= 4,
        "members take turns: a {got_a:?}, b {got_b:?}"
    );
}

#[tokio::test]
async fn a_shared_delivery_carries_the_published_topic() {
    let broker = Broker::start().await;
    let mut a = member(&broker, "a", "$share/g/t/#").await;
    let mut publisher = Raw::v5(&broker, "pub").await;
    publisher
        .publish_acked("t/deep/topic", b"x", 1, 1, false, &[])
        .await;
    assert_eq!(&a.publish().await.topic, "t/deep/topic");
}

#[tokio::test]
async fn every_group_and_every_plain_subscriber_gets_a_copy() {
    let broker = Broker::start().await;
    let mut a = member(&broker, "a", "$share/one/news").await;
    let mut b = member(&broker, "b", "$share/one/news").await;
    let mut c = member(&broker, "c", "$share/two/news").await;
    let mut plain = member(&broker, "plain", "news").await;
    publish_numbered(&broker, "news", 4).await;
    let (got_a, got_b) = (drain(&mut a).await, drain(&mut b).await);
    assert_eq!(
        got_a.len() + got_b.len(),
        4,
        "group one: a {got_a:?}, b {got_b:?}"
    );
    assert_eq!(drain(&mut c).await, [0, 1, 2, 3], "group two, in order");
    assert_eq!(drain(&mut plain).await, [0, 1, 2, 3], "plain subscriber");
}

#[tokio::test]
async fn a_client_in_a_group_and_subscribed_plainly_gets_both_copies() {
    let broker = Broker::start().await;
    let mut a = member(&broker, "a", "$share/g/dual").await;
    assert_eq!(a.subscribe(2, "dual", 1).await, 0x01);
    publish_numbered(&broker, "dual", 1).await;
    assert_eq!(drain(&mut a).await, [0, 0]);
}

#[tokio::test]
async fn a_member_that_leaves_gets_nothing_more() {
    let broker = Broker::start().await;
    let mut a = member(&broker, "a", "$share/g/work").await;
    let mut b = member(&broker, "b", "$share/g/work").await;
    a.send(&packet(
        0xA2, // UNSUBSCRIBE, reserved flags 0b0010
        &[
            &[0x00, 0x02][..], // packet id 2
            &[0x00],           // property length 0
            &string("$share/g/work"),
        ]
        .concat(),
    ))
    .await;
    assert!(matches!(a.recv().await, Packet::UnsubAck(_)));
    publish_numbered(&broker, "work", 4).await;
    assert_eq!(drain(&mut b).await, [0, 1, 2, 3]);
    assert_eq!(drain(&mut a).await, []);
}

#[tokio::test]
async fn a_disconnected_member_is_skipped() {
    let broker = Broker::start().await;
    let gone = member(&broker, "gone", "$share/g/work").await;
    let mut b = member(&broker, "b", "$share/g/work").await;
    gone.drop_socket();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    publish_numbered(&broker, "work", 4).await;
    assert_eq!(drain(&mut b).await, [0, 1, 2, 3]);
}

#[tokio::test]
async fn retained_messages_are_not_sent_for_a_new_shared_subscription() {
    let broker = Broker::start().await;
    let mut publisher = Raw::v5(&broker, "pub").await;
    publisher
        .publish_acked("stored", b"r", 1, 1, true, &[])
        .await;
    let mut a = member(&broker, "a", "$share/g/stored").await;
    assert_eq!(
        drain(&mut a).await,
        [],
        "MQTT 5 §4.8.2: no retained messages"
    );
}

#[tokio::test]
async fn v311_clients_can_be_members_of_a_group() {
    let broker = Broker::start().await;
    let mut a = Raw::v311(&broker, "a311").await;
    assert_eq!(a.subscribe(1, "$share/g/mixed", 1).await, 0x01);
    let mut b = member(&broker, "b5", "$share/g/mixed").await;
    publish_numbered(&broker, "mixed", 6).await;
    let (got_a, got_b) = (drain(&mut a).await, drain(&mut b).await);
    assert_eq!(got_a.len() + got_b.len(), 6, "a {got_a:?}, b {got_b:?}");
    assert!(!got_a.is_empty() && !got_b.is_empty());
}
