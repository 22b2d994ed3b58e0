//! MQTT 5 topic aliases. Client → broker: an alias set by a PUBLISH with a
//! topic resolves later empty topics; an alias of 0 or above the broker's
//! Topic Alias Maximum is answered with DISCONNECT 0x94, an empty topic
//! with an alias never set with 0x82. Broker → client
//! (being added): used only when the client's CONNECT allows it, and never
//! above the client's maximum.

mod common;

use std::collections::HashMap;

use common::*;
use mqtt::ReasonCode;

#[tokio::test]
async fn client_topic_alias_is_set_by_a_publish_and_resolves_later_empty_topics() {
    let broker = Broker::start().await;
    let mut sub = Raw::v311(&broker, "sub").await;
    sub.subscribe(1, "a/b", 0).await;
    let mut publisher = Raw::v5(&broker, "pub").await;
    publisher
        .send(&[
            0x30, // PUBLISH, QoS 0
            0x0A, // remaining length 10
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            0x03, // property length 3
            0x23, 0x00, 0x01, // topic alias 1
            b'1', // payload
        ])
        .await;
    publisher
        .send(&[
            0x30, // PUBLISH, QoS 0
            0x07, // remaining length 7
            0x00, 0x00, // topic: empty
            0x03, // property length 3
            0x23, 0x00, 0x01, // topic alias 1
            b'2', // payload
        ])
        .await;
    for payload in [b"1", b"2"] {
        let p = sub.publish().await;
        assert_eq!((&*p.topic, &p.payload[..]), ("a/b", &payload[..]));
    }
}

#[tokio::test]
async fn client_topic_alias_can_be_remapped_to_another_topic() {
    let broker = Broker::start().await;
    let mut sub = Raw::v311(&broker, "sub").await;
    sub.subscribe(1, "remap/#", 0).await;
    let mut publisher = Raw::v5(&broker, "pub").await;
    let alias_1 = prop_u16(0x23, 1); // topic alias 1
    publisher
        .send(&publish(true, "remap/x", b"1", 0, 0, false, &alias_1))
        .await;
    publisher
        .send(&publish(true, "remap/y", b"2", 0, 0, false, &alias_1))
        .await;
    publisher
        .send(&publish(true, "", b"3", 0, 0, false, &alias_1))
        .await;
    let topics: Vec<String> = [
        sub.publish().await,
        sub.publish().await,
        sub.publish().await,
    ]
    .iter()
    .map(|p| p.topic.to_string())
    .collect();
    assert_eq!(topics, ["remap/x", "remap/y", "remap/y"]);
}

#[tokio::test]
async fn topic_alias_above_the_brokers_maximum_gets_disconnect_0x94() {
    let broker = Broker::start().await;
    let mut watcher = Raw::v311(&broker, "watcher").await;
    watcher.subscribe(1, "#", 0).await;
    let (mut c, connack) = Raw::connect(&broker, &Connect::v5("over")).await;
    let maximum = connack.properties.topic_alias_maximum.unwrap_or(0);
    c.send(&publish(
        true,
        "t",
        b"x",
        0,
        0,
        false,
        &prop_u16(0x23, maximum + 1), // topic alias one above the maximum
    ))
    .await;
    assert_eq!(
        c.expect_disconnect().await,
        Some(ReasonCode::TopicAliasInvalid)
    );
    watcher.expect_silence().await; // the message was not routed
}

#[tokio::test]
async fn topic_alias_zero_gets_disconnect_0x94_or_0x82() {
    let broker = Broker::start().await;
    let mut c = Raw::v5(&broker, "zero").await;
    c.send(&[
        0x30, // PUBLISH, QoS 0
        0x08, // remaining length 8
        0x00, 0x01, b't', // topic "t"
        0x03, // property length 3
        0x23, 0x00, 0x00, // topic alias 0: not allowed
        b'x', // payload
    ])
    .await;
    // 0x94 is defined for "greater than the maximum"; 0 is "not permitted" (MQTT-3.3.2-8).
    let reason = c.expect_disconnect().await;
    assert!(
        matches!(
            reason,
            Some(ReasonCode::TopicAliasInvalid | ReasonCode::ProtocolError)
        ),
        "{reason:?}"
    );
}

#[tokio::test]
async fn an_unmapped_alias_with_an_empty_topic_is_a_protocol_error_0x82() {
    // §3.3.4: "If the Topic Name has zero length and there is no mapping for
    // the Topic Alias, it is a Protocol Error"; 0x94 is for an alias above
    // the maximum. Alias 5 is within the broker's maximum, but never set.
    let broker = Broker::start().await;
    let mut c = Raw::v5(&broker, "unmapped").await;
    c.send(&publish(true, "", b"x", 0, 0, false, &prop_u16(0x23, 5)))
        .await;
    assert_eq!(c.expect_disconnect().await, Some(ReasonCode::ProtocolError));
}

#[tokio::test]
async fn topic_aliases_do_not_survive_a_reconnect() {
    let broker = Broker::start().await;
    let connect = Connect::v5("forgets")
        .clean(false)
        .props(prop_u32(0x11, 60)); // session expiry interval: 60 s
    let (mut c, _) = Raw::connect(&broker, &connect).await;
    c.send(&publish(true, "t", b"1", 0, 0, false, &prop_u16(0x23, 1)))
        .await;
    c.send(&DISCONNECT).await;
    c.expect_closed().await;
    let (mut c, connack) = Raw::connect(&broker, &connect).await;
    assert!(connack.session_present);
    c.send(&publish(true, "", b"2", 0, 0, false, &prop_u16(0x23, 1)))
        .await;
    assert!(c.expect_disconnect().await.is_some(), "alias 1 is unknown");
}

/// Resolve broker → client aliases the way a client must; panics on a
/// violation (unknown alias, alias above `maximum`).
fn resolve(aliases: &mut HashMap<u16, String>, p: &mqtt::Publish, maximum: u16) -> String {
    match p.properties.topic_alias {
        None => {
            assert!(!p.topic.is_empty(), "empty topic without an alias");
            p.topic.to_string()
        }
        Some(alias) => {
            assert!(
                (1..=maximum).contains(&alias),
                "alias {alias}, client maximum {maximum}"
            );
            if p.topic.is_empty() {
                aliases.get(&alias).cloned().expect("alias never set")
            } else {
                aliases.insert(alias, p.topic.to_string());
                p.topic.to_string()
            }
        }
    }
}

#[tokio::test]
async fn no_topic_alias_is_sent_to_a_client_that_did_not_allow_them() {
    let broker = Broker::start().await;
    let mut sub = Raw::v5(&broker, "no-alias").await; // no Topic Alias Maximum: 0
    sub.subscribe(1, "long/topic/name", 0).await;
    let mut publisher = Raw::v5(&broker, "pub").await;
    for _ in 0..3 {
        publisher
            .send(&publish(true, "long/topic/name", b"x", 0, 0, false, &[]))
            .await;
        let p = sub.publish().await;
        assert_eq!(p.properties.topic_alias, None);
        assert_eq!(&p.topic, "long/topic/name");
    }
}

#[tokio::test]
async fn broker_aliases_never_exceed_the_clients_maximum_and_always_resolve() {
    let broker = Broker::start().await;
    let connect = Connect::v5("max1").props(prop_u16(0x22, 1)); // topic alias maximum 1
    let (mut sub, _) = Raw::connect(&broker, &connect).await;
    sub.subscribe(1, "al/#", 0).await;
    let mut publisher = Raw::v5(&broker, "pub").await;
    let topics = [
        "al/one", "al/two", "al/one", "al/three", "al/three", "al/two",
    ];
    let mut aliases = HashMap::new();
    for topic in topics {
        publisher
            .send(&publish(true, topic, b"x", 0, 0, false, &[]))
            .await;
        let p = sub.publish().await;
        assert_eq!(resolve(&mut aliases, &p, 1), topic);
    }
}

// ---- Broker → client topic aliases: being added. ----

#[tokio::test]
async fn broker_uses_topic_aliases_towards_a_client_that_allows_them() {
    let broker = Broker::start().await;
    let connect = Connect::v5("aliased").props(prop_u16(0x22, 10)); // topic alias maximum 10
    let (mut sub, _) = Raw::connect(&broker, &connect).await;
    sub.subscribe(1, "sensors/#", 1).await;
    let mut publisher = Raw::v5(&broker, "pub").await;
    let topic = "sensors/building-7/floor-3/room-12/temperature";
    let mut aliases = HashMap::new();
    let mut shortened = 0;
    for n in 1..=4u16 {
        publisher
            .publish_acked(topic, b"21.5", 1, n, false, &[])
            .await;
        let p = sub.publish().await;
        sub.send(&puback(p.pid.unwrap().get())).await;
        assert_eq!(resolve(&mut aliases, &p, 10), topic);
        if p.topic.is_empty() {
            shortened += 1;
        }
    }
    assert!(
        shortened >= 1,
        "a repeated topic should be sent as an alias with an empty topic name"
    );
}
