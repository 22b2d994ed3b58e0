//! MQTT 5 message expiry interval (being added): a message that expired
//! while its subscriber was away is not delivered; one delivered late
//! carries the remaining interval; retained messages expire too.

mod common;

use std::time::Duration;

use common::*;
use mqtt::Packet;

/// PUBLISH properties with a message expiry interval.
fn expiry(seconds: u32) -> Vec<u8> {
    prop_u32(0x02, seconds) // message expiry interval, four bytes
}

fn persistent(id: &str) -> Connect<'_> {
    Connect::v5(id).clean(false).props(prop_u32(0x11, 60)) // session expiry interval: 60 s
}

/// A persistent v5 session subscribed to `filter` at QoS 1, then disconnected.
async fn away(broker: &Broker, id: &str, filter: &str) {
    let (mut c, _) = Raw::connect(broker, &persistent(id)).await;
    c.subscribe(1, filter, 1).await;
    c.send(&DISCONNECT).await;
    c.expect_closed().await;
}

/// Every PUBLISH until quiet, acknowledged.
async fn drain(c: &mut Raw) -> Vec<mqtt::Publish> {
    let mut got = Vec::new();
    while let Ok(Some(packet)) = c.next_within(QUIET).await {
        match packet {
            Packet::Publish(p) => {
                if let Some(pid) = p.pid {
                    c.send(&puback(pid.get())).await;
                }
                got.push(p);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    got
}

#[tokio::test]
async fn an_online_subscriber_gets_the_expiry_interval_forwarded() {
    let broker = Broker::start().await;
    let mut sub = Raw::v5(&broker, "sub").await;
    sub.subscribe(1, "exp", 1).await;
    let mut publisher = Raw::v5(&broker, "pub").await;
    publisher
        .publish_acked("exp", b"x", 1, 1, false, &expiry(10))
        .await;
    let remaining = sub.publish().await.properties.message_expiry_interval;
    assert!(matches!(remaining, Some(9..=10)), "{remaining:?}");
}

#[tokio::test]
async fn a_message_that_expired_while_the_subscriber_was_away_is_not_delivered() {
    let broker = Broker::start().await;
    away(&broker, "away", "exp").await;
    let mut publisher = Raw::v5(&broker, "pub").await;
    publisher
        .publish_acked("exp", b"short", 1, 1, false, &expiry(1))
        .await;
    publisher
        .publish_acked("exp", b"forever", 1, 2, false, &[])
        .await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (mut c, connack) = Raw::connect(&broker, &persistent("away")).await;
    assert!(connack.session_present);
    let payloads: Vec<Vec<u8>> = drain(&mut c)
        .await
        .iter()
        .map(|p| p.payload.to_vec())
        .collect();
    assert_eq!(
        payloads,
        [b"forever".to_vec()],
        "the expired one is dropped"
    );
}

#[tokio::test]
async fn a_late_delivery_carries_the_remaining_expiry_interval() {
    let broker = Broker::start().await;
    away(&broker, "late", "exp").await;
    let mut publisher = Raw::v5(&broker, "pub").await;
    publisher
        .publish_acked("exp", b"x", 1, 1, false, &expiry(10))
        .await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (mut c, _) = Raw::connect(&broker, &persistent("late")).await;
    let got = drain(&mut c).await;
    assert_eq!(got.len(), 1);
    let remaining = got[0].properties.message_expiry_interval;
    assert!(
        matches!(remaining, Some(1..=8)),
        "10 s less the 2.2 s waited, got {remaining:?}"
    );
}

#[tokio::test]
async fn a_retained_message_expires() {
    let broker = Broker::start().await;
    let mut publisher = Raw::v5(&broker, "pub").await;
    publisher
        .publish_acked("r/short", b"short", 1, 1, true, &expiry(1))
        .await;
    publisher
        .publish_acked("r/long", b"long", 1, 2, true, &[])
        .await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let mut sub = Raw::v5(&broker, "sub").await;
    sub.subscribe(1, "r/#", 1).await;
    let topics: Vec<String> = drain(&mut sub)
        .await
        .iter()
        .map(|p| p.topic.to_string())
        .collect();
    assert_eq!(topics, ["r/long"], "the expired retained message is gone");
}

#[tokio::test]
async fn a_retained_message_carries_its_remaining_expiry_interval() {
    let broker = Broker::start().await;
    let mut publisher = Raw::v5(&broker, "pub").await;
    publisher
        .publish_acked("r/x", b"x", 1, 1, true, &expiry(10))
        .await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let mut sub = Raw::v5(&broker, "sub").await;
    sub.subscribe(1, "r/x", 1).await;
    let got = drain(&mut sub).await;
    assert_eq!(got.len(), 1);
    let remaining = got[0].properties.message_expiry_interval;
    assert!(matches!(remaining, Some(1..=8)), "{remaining:?}");
}
