//! What a connection routes from one read reaches its subscribers' queues in
//! one batch per queue (`Shared::flush_routes`), and through a cache of its
//! last topic's subscribers (`RouteCache`). Neither may change what arrives:
//! the order of a publisher's messages across topics, the messages read
//! before a malformed packet, or a subscription made between two publishes.

mod common;

use common::*;

/// Topic and payload of the next `n` PUBLISH packets `sub` receives.
async fn received(sub: &mut Raw, n: usize) -> Vec<(String, Vec<u8>)> {
    let mut got = Vec::new();
    while got.len() < n {
        let p = sub.publish().await;
        got.push((p.topic.to_string(), p.payload.to_vec()));
    }
    got
}

#[tokio::test]
async fn one_write_across_topics_arrives_in_the_order_it_was_sent() {
    let broker = Broker::start().await;
    let mut sub = Raw::v311(&broker, "sub").await;
    assert_eq!(sub.subscribe(1, "t/+", 0).await, 0x00);
    // A second subscriber of every topic: the batch interleaves the two.
    let mut all = Raw::v311(&broker, "all").await;
    assert_eq!(all.subscribe(1, "#", 0).await, 0x00);
    let mut publisher = Raw::v311(&broker, "pub").await;
    // a, a, b, a, b, b in one write: the batch of one read holds all six,
    // and the cached topic changes four times.
    let sent = [
        ("t/a", 1u8),
        ("t/a", 2),
        ("t/b", 3),
        ("t/a", 4),
        ("t/b", 5),
        ("t/b", 6),
    ];
    let bytes: Vec<u8> = sent
        .iter()
        .flat_map(|(topic, n)| publish(false, topic, &[*n], 0, 0, false, &[]))
        .collect();
    publisher.send(&bytes).await;
    let expected: Vec<(String, Vec<u8>)> = sent
        .iter()
        .map(|(t, n)| (t.to_string(), vec![*n]))
        .collect();
    assert_eq!(received(&mut sub, 6).await, expected);
    assert_eq!(received(&mut all, 6).await, expected);
}

#[tokio::test]
async fn messages_read_before_a_malformed_packet_are_still_delivered() {
    let broker = Broker::start().await;
    let mut sub = Raw::v311(&broker, "sub").await;
    assert_eq!(sub.subscribe(1, "t", 0).await, 0x00);
    let mut publisher = Raw::v311(&broker, "pub").await;
    let mut bytes = publish(false, "t", b"1", 0, 0, false, &[]);
    bytes.extend(publish(false, "t", b"2", 0, 0, false, &[]));
    bytes.extend([
        0x30, // PUBLISH, QoS 0
        0x03, // remaining length 3
        0x00, 0x05, b't', // topic length 5, but only 1 byte of topic: malformed
    ]);
    publisher.send(&bytes).await;
    assert_eq!(
        received(&mut sub, 2).await,
        [("t".into(), b"1".to_vec()), ("t".into(), b"2".to_vec())]
    );
    publisher.expect_closed().await;
}

#[tokio::test]
async fn a_subscription_made_between_two_publishes_gets_the_second() {
    let broker = Broker::start().await;
    let mut first = Raw::v311(&broker, "first").await;
    assert_eq!(first.subscribe(1, "t", 0).await, 0x00);
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .send(&publish(false, "t", b"1", 0, 0, false, &[]))
        .await;
    assert_eq!(received(&mut first, 1).await[0].1, b"1");
    // The publisher's cached subscribers of "t" are now out of date.
    let mut second = Raw::v311(&broker, "second").await;
    assert_eq!(second.subscribe(1, "t", 0).await, 0x00);
    publisher
        .send(&publish(false, "t", b"2", 0, 0, false, &[]))
        .await;
    assert_eq!(received(&mut first, 1).await[0].1, b"2");
    assert_eq!(received(&mut second, 1).await[0].1, b"2");
    // And one that leaves stops getting them.
    first
        .send(&[0xA2, 0x05, 0x00, 0x02, 0x00, 0x01, b't'])
        .await; // UNSUBSCRIBE id 2 "t"
    assert_eq!(first.recv_bytes().await, [0xB0, 0x02, 0x00, 0x02]); // UNSUBACK id 2
    publisher
        .send(&publish(false, "t", b"3", 0, 0, false, &[]))
        .await;
    assert_eq!(received(&mut second, 1).await[0].1, b"3");
    first.expect_silence().await;
}
