//! MQTT 5 features around PUBLISH and CONNACK: no-local, user properties and
//! request/response properties passed through unchanged, a subscriber's
//! Maximum Packet Size, the limits CONNACK advertises, and overlapping
//! subscriptions delivered once at the highest QoS.

mod common;

use bytes::Bytes;
use common::*;
use rumqttc::v5::mqttbytes::v5::{Filter, PublishProperties};

#[tokio::test]
async fn no_local_subscription_does_not_receive_its_own_publishes() {
    let broker = Broker::start().await;
    let mut me = Raw::v5(&broker, "me").await;
    me.subscribe(1, "chat", 0x04).await; // options: QoS 0, no local
    me.send(&publish(true, "chat", b"mine", 0, 0, false, &[]))
        .await;
    me.expect_silence().await;
    let mut other = Raw::v5(&broker, "other").await;
    other
        .send(&publish(true, "chat", b"theirs", 0, 0, false, &[]))
        .await;
    assert_eq!(&me.publish().await.payload[..], b"theirs");
}

#[tokio::test]
async fn without_no_local_a_client_receives_its_own_publishes() {
    let broker = Broker::start().await;
    let mut me = Raw::v5(&broker, "me").await;
    me.subscribe(1, "echo", 0x00).await; // options: QoS 0
    me.send(&publish(true, "echo", b"mine", 0, 0, false, &[]))
        .await;
    assert_eq!(&me.publish().await.payload[..], b"mine");
}

#[tokio::test]
async fn user_properties_pass_through_unchanged_and_in_order() {
    let broker = Broker::start().await;
    let mut sub = V5::connect(&broker, "rumqttc-sub").await;
    sub.subscribe(Filter::new("props", qos5(1))).await;
    let mut publisher = Raw::v5(&broker, "raw-pub").await;
    let mut properties = Vec::new();
    for (k, v) in [("a", "1"), ("b", "2"), ("a", "3"), ("ü", "")] {
        properties.extend(prop(0x26, &[string(k), string(v)].concat())); // user property
    }
    publisher
        .publish_acked("props", b"x", 1, 1, false, &properties)
        .await;
    let p = sub.next_publish().await;
    let got = p.properties.expect("properties").user_properties;
    let expected = [("a", "1"), ("b", "2"), ("a", "3"), ("ü", "")]
        .map(|(k, v)| (k.to_string(), v.to_string()));
    assert_eq!(got, expected);
}

#[tokio::test]
async fn request_response_properties_pass_through_unchanged() {
    let broker = Broker::start().await;
    let mut sub = Raw::v5(&broker, "raw-sub").await;
    sub.subscribe(1, "request", 1).await;
    let publisher = V5::connect(&broker, "rumqttc-pub").await;
    let properties = PublishProperties {
        payload_format_indicator: Some(1),
        response_topic: Some("reply/here".into()),
        correlation_data: Some(Bytes::from_static(&[0x00, 0xFF, 0x10])),
        content_type: Some("application/json".into()),
        ..PublishProperties::default()
    };
    publisher
        .client
        .publish_with_properties("request", qos5(1), false, "{}", properties)
        .await
        .expect("publish");
    let p = sub.publish().await;
    assert_eq!(p.properties.payload_format_indicator, Some(1));
    assert_eq!(p.properties.response_topic.as_deref(), Some("reply/here"));
    assert_eq!(
        p.properties.correlation_data.as_deref(),
        Some(&[0x00, 0xFF, 0x10][..])
    );
    assert_eq!(
        p.properties.content_type.as_deref(),
        Some("application/json")
    );
    assert_eq!(&p.payload[..], b"{}");
}

#[tokio::test]
async fn retained_message_keeps_its_properties() {
    let broker = Broker::start().await;
    let mut publisher = Raw::v5(&broker, "pub").await;
    let mut properties = prop_str(0x03, "text/plain"); // content type
    properties.extend(prop(0x26, &[string("k"), string("v")].concat())); // user property
    publisher
        .publish_acked("kept", b"x", 1, 1, true, &properties)
        .await;
    let mut sub = Raw::v5(&broker, "sub").await;
    sub.subscribe(1, "kept", 0).await;
    let p = sub.publish().await;
    assert!(p.retain);
    assert_eq!(p.properties.content_type.as_deref(), Some("text/plain"));
    assert_eq!(p.properties.user_properties.len(), 1);
}

#[tokio::test]
async fn a_message_too_large_for_one_subscriber_is_dropped_for_it_only() {
    let broker = Broker::start().await;
    let small = Connect::v5("small").props(prop_u32(0x27, 128)); // maximum packet size 128
    let (mut small, _) = Raw::connect(&broker, &small).await;
    small.subscribe(1, "size", 1).await;
    let mut large = Raw::v5(&broker, "large").await;
    large.subscribe(1, "size", 1).await;
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .publish_acked("size", &[b'b'; 300], 1, 1, false, &[])
        .await;
    let p = large.publish().await;
    assert_eq!(p.payload.len(), 300);
    large.send(&puback(p.pid.unwrap().get())).await;
    small.expect_silence().await;

    publisher
        .publish_acked("size", b"fits", 1, 2, false, &[])
        .await;
    let p = small.publish().await;
    assert_eq!(
        &p.payload[..],
        b"fits",
        "the large one was dropped, not queued"
    );
    small.send(&puback(p.pid.unwrap().get())).await;
    assert_eq!(&large.publish().await.payload[..], b"fits");
    small.expect_silence().await;
}

#[tokio::test]
async fn connack_advertises_the_brokers_limits_and_features() {
    let broker = Broker::start_with(&["--max-packet-size", "4096"]).await;
    let (_c, connack) = Raw::connect(&broker, &Connect::v5("limits")).await;
    let p = &connack.properties;
    assert!(matches!(p.receive_maximum, Some(n) if n > 0), "{p:?}");
    assert_eq!(p.maximum_packet_size, Some(4096), "from --max-packet-size");
    assert!(matches!(p.topic_alias_maximum, Some(n) if n > 0), "{p:?}");
    assert_eq!(p.retain_available, Some(1));
    assert_eq!(p.wildcard_subscription_available, Some(1));
    assert!(
        matches!(p.maximum_qos, None | Some(2)),
        "QoS 2 is supported"
    );
}

#[tokio::test]
async fn connack_limits_as_an_independent_client_reads_them() {
    let broker = Broker::start().await;
    let c = V5::connect(&broker, "rumqttc-limits").await;
    let p = c.connack.properties.expect("CONNACK properties");
    assert!(p.receive_max.is_some());
    assert!(p.max_packet_size.is_some());
    assert!(p.topic_alias_max.is_some());
    assert_eq!(p.retain_available, Some(1));
    assert_eq!(p.wildcard_subscription_available, Some(1));
}

/// Subscribe to three overlapping filters at QoS 0, 1 and 2, publish once at
/// QoS 2, and return the QoS of the one delivery.
async fn overlapping(v5: bool) -> u8 {
    let broker = Broker::start().await;
    let mut sub = if v5 {
        Raw::v5(&broker, "sub").await
    } else {
        Raw::v311(&broker, "sub").await
    };
    sub.subscribe(1, "o/+", 0).await;
    sub.subscribe(2, "o/#", 2).await;
    sub.subscribe(3, "o/x", 1).await;
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .publish_acked("o/x", b"once", 2, 1, false, &[])
        .await;
    let p = sub.publish().await;
    let pid = p.pid.expect("QoS > 0").get();
    sub.send(&pubrec(pid)).await;
    assert!(matches!(sub.recv().await, mqtt::Packet::PubRel(_)));
    sub.send(&pubcomp(pid)).await;
    sub.expect_silence().await; // exactly one copy
    p.qos as u8
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_once_at_the_highest_qos_v311() {
    assert_eq!(overlapping(false).await, 2);
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_once_at_the_highest_qos_v5() {
    assert_eq!(overlapping(true).await, 2);
}
