//! MQTT 5 subscription identifiers (being added): the identifier given in
//! SUBSCRIBE comes back in every PUBLISH the subscription matched, all of
//! them when several subscriptions of the client match one message.

mod common;

use common::*;
use rumqttc::v5::mqttbytes::v5::SubscribeProperties;

/// SUBSCRIBE properties carrying one subscription identifier.
fn with_id(id: usize) -> Vec<u8> {
    prop(0x0B, &varint(id)) // subscription identifier, a variable byte integer
}

/// Subscribe a v5 raw client to `filter` at QoS 0 with subscription identifier `id`.
async fn subscribe_with_id(c: &mut Raw, pid: u16, filter: &str, id: usize) {
    c.send(&subscribe(true, pid, &with_id(id), &[(filter, 0)]))
        .await;
    match c.recv().await {
        mqtt::Packet::SubAck(s) => assert_eq!(s.reasons, [mqtt::ReasonCode::Success]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

async fn publish_from(broker: &Broker, topic: &str, retain: bool) {
    let mut publisher = Raw::v5(broker, "pub").await;
    publisher
        .publish_acked(topic, b"x", 1, 1, retain, &[])
        .await;
}

#[tokio::test]
async fn connack_says_subscription_identifiers_are_available() {
    let broker = Broker::start().await;
    let (_c, connack) = Raw::connect(&broker, &Connect::v5("ask")).await;
    // Absent means available; 0 would tell clients not to use them.
    assert!(
        matches!(
            connack.properties.subscription_identifier_available,
            None | Some(1)
        ),
        "{:?}",
        connack.properties.subscription_identifier_available
    );
}

#[tokio::test]
async fn subscription_identifier_is_returned_with_a_matching_publish() {
    let broker = Broker::start().await;
    let mut sub = Raw::v5(&broker, "sub").await;
    sub.send(&[
        0x82, // SUBSCRIBE
        0x0C, // remaining length 12
        0x00, 0x01, // packet id 1
        0x02, // property length 2
        0x0B, 0x07, // subscription identifier 7
        0x00, 0x04, b's', b'i', b'/', b'+', // filter "si/+"
        0x00, // options: QoS 0
    ])
    .await;
    assert!(matches!(sub.recv().await, mqtt::Packet::SubAck(_)));
    let mut plain = Raw::v5(&broker, "plain").await;
    plain.subscribe(1, "si/+", 0).await;
    publish_from(&broker, "si/a", false).await;
    assert_eq!(sub.publish().await.properties.subscription_identifiers, [7]);
    assert!(
        plain
            .publish()
            .await
            .properties
            .subscription_identifiers
            .is_empty(),
        "identifiers belong to the subscription that set them"
    );
}

#[tokio::test]
async fn all_matching_subscription_identifiers_come_in_one_publish() {
    let broker = Broker::start().await;
    let mut sub = Raw::v5(&broker, "sub").await;
    subscribe_with_id(&mut sub, 1, "si/+", 1).await;
    subscribe_with_id(&mut sub, 2, "si/#", 2).await;
    subscribe_with_id(&mut sub, 3, "si/a", 268_435_455).await; // the largest: 4 bytes
    sub.subscribe(4, "+/a", 0).await; // no identifier
    publish_from(&broker, "si/a", false).await;
    let p = sub.publish().await;
    let mut ids = p.properties.subscription_identifiers.clone();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 268_435_455]);
    sub.expect_silence().await; // one PUBLISH, not one per subscription
}

#[tokio::test]
async fn subscribing_again_replaces_the_identifier() {
    let broker = Broker::start().await;
    let mut sub = Raw::v5(&broker, "sub").await;
    subscribe_with_id(&mut sub, 1, "again", 5).await;
    subscribe_with_id(&mut sub, 2, "again", 6).await;
    publish_from(&broker, "again", false).await;
    assert_eq!(sub.publish().await.properties.subscription_identifiers, [6]);
}

#[tokio::test]
async fn retained_message_sent_at_subscribe_carries_the_identifier() {
    let broker = Broker::start().await;
    publish_from(&broker, "kept", true).await;
    let mut sub = Raw::v5(&broker, "sub").await;
    subscribe_with_id(&mut sub, 1, "kept", 42).await;
    let p = sub.publish().await;
    assert!(p.retain);
    assert_eq!(p.properties.subscription_identifiers, [42]);
}

#[tokio::test]
async fn an_independent_client_reads_the_identifier() {
    let broker = Broker::start().await;
    let mut sub = V5::connect(&broker, "rumqttc").await;
    let properties = SubscribeProperties {
        id: Some(9),
        user_properties: vec![],
    };
    sub.client
        .subscribe_with_properties("ind/+", qos5(1), properties)
        .await
        .expect("subscribe");
    sub.events
        .find("SUBACK", |e| match e {
            rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::SubAck(s)) => {
                Some(s.clone())
            }
            _ => None,
        })
        .await;
    publish_from(&broker, "ind/x", false).await;
    let p = sub.next_publish().await;
    let ids = p.properties.map(|p| p.subscription_identifiers);
    assert_eq!(ids, Some(vec![9]));
}
