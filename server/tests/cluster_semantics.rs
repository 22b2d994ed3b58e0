//! MQTT 5's per-message and per-subscription features across two nodes on
//! a real `nats-server -js`: no-local, retain-as-published, message expiry
//! and subscription identifiers hold for a message published on the other
//! node as they do on one.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use rumqttc::v5::mqttbytes::v5::{Filter, PublishProperties, SubscribeProperties};

async fn node(nats: &Nats, name: &str) -> Broker {
    Broker::start_with(&["--cluster", &nats.url, "--node-id", name]).await
}

#[tokio::test]
async fn no_local_retain_as_published_expiry_and_subscription_ids_cross_nodes() {
    let nats = Nats::start();
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);

    // No-local: the publisher on a, subscribed no-local, never gets its own
    // message back through the cluster; a subscriber on b does.
    let mut own = V5::connect(&a, "own").await;
    let mut filter = Filter::new("nl/t", qos5(1));
    filter.nolocal = true;
    own.subscribe(filter).await;
    let mut far = V5::connect(&b, "far").await;
    far.subscribe(Filter::new("nl/t", qos5(1))).await;
    own.client
        .publish("nl/t", qos5(1), false, Bytes::from_static(b"mine"))
        .await
        .unwrap();
    assert_eq!(&far.next_publish().await.payload[..], b"mine");
    own.no_publish().await;
    // A persistent session gets QoS 1 from the stream, its own node's too:
    // a's stream reader routes far's message to it and skips its own, in
    // turns (the reader keeps one topic's deliveries from message to
    // message; a no-local subscription makes them the publisher's alone).
    let mut kept = V5::connect_with(&a, "kept", |o| {
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(600));
    })
    .await;
    let mut filter = Filter::new("nl/kept", qos5(1));
    filter.nolocal = true;
    kept.subscribe(filter).await;
    for turn in [b"far-1", b"mine1", b"far-2", b"mine2", b"far-3"] {
        let by = if turn.starts_with(b"far") {
            &far
        } else {
            &kept
        };
        by.client
            .publish("nl/kept", qos5(1), false, Bytes::from_static(turn))
            .await
            .unwrap();
        // In the stream in this order.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for expected in [b"far-1", b"far-2", b"far-3"] {
        assert_eq!(&kept.next_publish().await.payload[..], expected);
    }
    kept.no_publish().await;

    // Retain-as-published: a retained message published on a reaches a
    // live subscriber on b with the flag kept only when it asked.
    let mut keeps = V5::connect(&b, "keeps").await;
    let mut filter = Filter::new("rap/t", qos5(1));
    filter.preserve_retain = true;
    keeps.subscribe(filter).await;
    let mut clears = V5::connect(&b, "clears").await;
    clears.subscribe(Filter::new("rap/t", qos5(1))).await;
    own.client
        .publish("rap/t", qos5(1), true, Bytes::from_static(b"kept"))
        .await
        .unwrap();
    assert!(keeps.next_publish().await.retain, "retain as published");
    assert!(!clears.next_publish().await.retain, "MQTT-3.3.1-12");

    // Message expiry and subscription identifiers: the interval arrives
    // (counted down, never raised) and the id is the subscriber's own.
    let mut ids = V5::connect(&b, "ids").await;
    ids.client
        .subscribe_with_properties(
            "exp/t",
            qos5(1),
            SubscribeProperties {
                id: Some(7),
                user_properties: Vec::new(),
            },
        )
        .await
        .unwrap();
    ids.events
        .find("SUBACK", |e| {
            matches!(
                e,
                rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::SubAck(_))
            )
            .then_some(())
        })
        .await;
    let properties = PublishProperties {
        message_expiry_interval: Some(60),
        ..PublishProperties::default()
    };
    own.client
        .publish_with_properties(
            "exp/t",
            qos5(1),
            false,
            Bytes::from_static(b"soon"),
            properties,
        )
        .await
        .unwrap();
    let got = ids.next_publish().await;
    let props = got.properties.expect("properties");
    let expiry = props.message_expiry_interval.expect("the expiry crosses");
    assert!((55..=60).contains(&expiry), "{expiry}");
    assert_eq!(props.subscription_identifiers, vec![7]);

    // Properties that travel with the message (a stream message keeps such
    // a message whole, the others in compact form) cross unchanged.
    let properties = PublishProperties {
        content_type: Some("text/plain".into()),
        user_properties: vec![("unit".into(), "°C".into())],
        ..PublishProperties::default()
    };
    own.client
        .publish_with_properties(
            "exp/t",
            qos5(1),
            false,
            Bytes::from_static(b"21.5"),
            properties,
        )
        .await
        .unwrap();
    let got = ids.next_publish().await;
    assert_eq!(got.payload, Bytes::from_static(b"21.5"));
    let props = got.properties.expect("properties");
    assert_eq!(props.content_type.as_deref(), Some("text/plain"));
    assert_eq!(props.user_properties, vec![("unit".into(), "°C".into())]);
    assert_eq!(props.subscription_identifiers, vec![7]);
    assert_eq!(props.message_expiry_interval, None);
}
