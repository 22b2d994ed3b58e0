//! QoS 1/2 messages of one topic that wait for JetStream together share a
//! stream message (`cluster/batch.rs`): the stream holds far fewer messages
//! than were published, yet each subscriber on another node gets each
//! message once and each topic in order, the publisher's PUBACKs come in
//! the order of its PUBLISHes, and a node killed while it takes bursts in
//! for a persistent session, or before it took any in, resumes where it
//! was (none lost, none doubled). Real `nats-server -js`, real nodes.

mod common;

use std::time::Duration;

use common::*;
use mqtt::Packet;
use tokio::time::Instant;

/// A node whose clients may have a whole burst queued (the default stops
/// at 1,000 messages per client, then drops, as Mosquitto does).
async fn node(nats: &Nats, name: &str) -> Broker {
    cluster_node_with(&nats.url, name, &["--max-queued-messages", "100000"]).await
}

/// Send `count` QoS 1 PUBLISHes in one write (payloads `first..`, packet
/// ids from 1, topic by `topic_of(n)`), then read their PUBACKs, which must
/// come in the same order.
async fn burst(
    publisher: &mut Raw,
    first: u16,
    count: u16,
    topic_of: impl Fn(u16) -> &'static str,
) {
    let mut bytes = Vec::new();
    for n in 0..count {
        bytes.extend(publish(
            false,
            topic_of(n),
            (first + n).to_string().as_bytes(),
            1,
            n + 1,
            false,
            &[],
        ));
    }
    publisher.send(&bytes).await;
    for n in 0..count {
        match publisher.next_within(Duration::from_secs(30)).await {
            Ok(Some(Packet::PubAck(ack))) => {
                assert_eq!(
                    ack.pid.get(),
                    n + 1,
                    "PUBACKs in the order of the PUBLISHes"
                );
            }
            other => panic!("PUBACK {} of {count}: {other:?}", n + 1),
        }
    }
}

/// How many messages the cluster's QoS 1/2 stream holds.
async fn stored(nats: &Nats) -> u64 {
    let client = async_nats::connect(&nats.url).await.expect("NATS");
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("kite_messages").await.expect("the stream");
    stream.info().await.expect("its state").state.messages
}

#[tokio::test]
async fn a_burst_shares_stream_messages_and_each_message_arrives_once_in_order() {
    const N: u16 = 4_000;
    let nats = Nats::start();
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);
    let mut clean = Raw::v5(&b, "clean-on-b").await;
    assert_eq!(clean.subscribe(1, "burst/#", 1).await, 1);
    // Fed from the stream, position by position.
    let (mut kept, _) = Raw::connect(&b, &Connect::v311("kept-on-b").clean(false)).await;
    assert_eq!(kept.subscribe(1, "burst/#", 1).await, 1);
    let mut publisher = Raw::v311(&a, "pub-on-a").await;
    // Two topics interleaved: each keeps its own order.
    burst(&mut publisher, 0, N, |n| {
        if n % 2 == 0 {
            "burst/x"
        } else {
            "burst/y"
        }
    })
    .await;
    let stream_messages = stored(&nats).await;
    eprintln!("{N} QoS 1 messages published in one burst: {stream_messages} stream messages");
    assert!(
        stream_messages <= u64::from(N) / 4,
        "{stream_messages} stream messages for {N} MQTT messages: they were not put together"
    );
    for (name, client) in [("clean", &mut clean), ("persistent", &mut kept)] {
        let got = receive(client, usize::from(N), Duration::from_secs(30)).await;
        for parity in [0, 1] {
            let topic: Vec<u32> = got.iter().copied().filter(|n| n % 2 == parity).collect();
            let sent: Vec<u32> = (0..u32::from(N)).filter(|n| n % 2 == parity).collect();
            assert_eq!(
                topic, sent,
                "{name}: every message of the topic once, in order"
            );
        }
        client.expect_silence().await;
    }
}

#[tokio::test]
async fn a_node_killed_while_it_takes_bursts_in_resumes_with_each_message_once() {
    const BURST: u16 = 3_000;
    const ROUNDS: u16 = 4;
    let nats = Nats::start();
    let a = node(&nats, "a").await;
    // `always` commits each round as soon as the last one is on disk, so
    // what b stored when killed stops at any message.
    let mut b = cluster_node_with(
        &nats.url,
        "b",
        &["--max-queued-messages", "100000", "--durability", "always"],
    )
    .await;
    let keeper = Connect::v311("keeper").clean(false);
    let (mut on_b, _) = Raw::connect(&b, &keeper).await;
    on_b.subscribe(1, "k/#", 1).await;
    on_b.send(&DISCONNECT).await;
    let mut publisher = Raw::v311(&a, "pub").await;
    // Messages from the stream that b had taken in (this run) when killed.
    let received = "kite_messages_received_total{node=\"b\"}";
    let mut taken_in = Vec::new();
    for round in 0..ROUNDS {
        burst(&mut publisher, round * BURST, BURST, |_| "k/t").await;
        // The first kill comes before b took anything in: it stored where
        // its start put it in the stream, and resumes there. The others
        // come as soon as b hands messages on.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = 0;
        while round > 0 && seen == 0 && Instant::now() < deadline {
            seen = b.metric(received).await;
        }
        b.signal("-KILL");
        taken_in.push(seen);
        b = b.restart(Stop::Crash).await;
        reading(&b).await;
    }
    eprintln!("b had taken in {taken_in:?} messages when killed (bursts of {BURST})");
    assert!(
        taken_in[1..].iter().all(|&n| n > 0),
        "b took nothing in within 10 s: {taken_in:?}"
    );
    let (mut on_b, connack) = Raw::connect(&b, &keeper).await;
    assert!(connack.session_present, "b kept the session");
    let total = u32::from(BURST) * u32::from(ROUNDS);
    let got = receive(&mut on_b, total as usize, Duration::from_secs(60)).await;
    assert!(
        got == (0..total).collect::<Vec<_>>(),
        "each once, in order: {} received, first wrong at {:?}",
        got.len(),
        got.iter().enumerate().find(|(i, n)| *i as u32 != **n)
    );
    on_b.expect_silence().await;
}
