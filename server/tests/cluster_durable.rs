//! QoS 1 and 2 across the cluster (a JetStream stream on a real
//! `nats-server -js`): each message a subscriber on another node gets, as
//! its QoS promises; a node without NATS refuses QoS 1/2 publishes instead
//! of acknowledging them (QoS 0 keeps working there); a node killed and
//! restarted gives its persistent sessions what was published meanwhile;
//! NATS killed and restarted loses no acknowledged message.

mod common;

use std::{collections::HashMap, time::Duration};

use common::*;
use mqtt::{Packet, ReasonCode};
use tokio::time::Instant;

async fn node(nats: &Nats, name: &str) -> Broker {
    cluster_node(&nats.url, name).await
}

#[tokio::test]
async fn qos_1_and_2_cross_nodes_each_message_once() {
    let nats = Nats::start();
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);
    let mut q1 = Raw::v5(&b, "q1-on-b").await;
    assert_eq!(q1.subscribe(1, "q1/#", 1).await, 1);
    let mut q2 = Raw::v5(&b, "q2-on-b").await;
    assert_eq!(q2.subscribe(1, "q2/#", 2).await, 2);
    let mut publisher = Raw::v311(&a, "pub-on-a").await;
    let started = Instant::now();
    for n in 0..300u16 {
        let code = publisher
            .publish_acked("q1/t", n.to_string().as_bytes(), 1, n + 1, false, &[])
            .await;
        assert_eq!(code, ReasonCode::Success);
    }
    let per_message = started.elapsed() / 300;
    for n in 0..100u16 {
        let code = publisher
            .publish_acked("q2/t", n.to_string().as_bytes(), 2, n + 1, false, &[])
            .await;
        assert_eq!(code, ReasonCode::Success);
    }
    eprintln!("QoS 1 PUBLISH → PUBACK through JetStream, one at a time: {per_message:?} each");
    let got = receive(&mut q1, 300, Duration::from_secs(10)).await;
    assert_eq!(
        got,
        (0..300).collect::<Vec<_>>(),
        "every QoS 1 message, in order"
    );
    let got = receive(&mut q2, 100, Duration::from_secs(10)).await;
    assert_eq!(
        got,
        (0..100).collect::<Vec<_>>(),
        "each QoS 2 message once, in order"
    );
    q1.expect_silence().await;
    quiet(&mut q2).await;
    // A subscriber on the publisher's node got them once too (not again
    // from the stream).
    let mut local = Raw::v5(&a, "q1-on-a").await;
    local.subscribe(1, "q1/#", 1).await;
    publisher
        .publish_acked("q1/t", b"7", 1, 1, false, &[])
        .await;
    assert_eq!(receive(&mut local, 1, WAIT).await, [7]);
    local.expect_silence().await;
}

#[tokio::test]
async fn a_node_that_cannot_reach_nats_refuses_qos_1_and_2_and_keeps_qos_0() {
    let mut nats = Nats::start();
    let a = node(&nats, "a").await;
    let mut sub = Raw::v5(&a, "sub").await;
    sub.subscribe(1, "t/#", 1).await;
    nats.kill();
    // A short loss (a reconnection to another NATS server) holds QoS 1/2
    // publishes; a longer one refuses them.
    wait_log(&a, "cluster: NATS still lost", Duration::from_secs(15)).await;
    let mut v5 = Raw::v5(&a, "pub-v5").await;
    v5.send(&publish(true, "t/1", b"1", 1, 1, false, &[])).await;
    match v5.recv().await {
        Packet::PubAck(ack) => {
            assert_eq!(ack.reason, ReasonCode::UnspecifiedError);
            let why = ack.properties.reason_string.expect("a reason string");
            assert!(why.contains("NATS"), "{why}");
        }
        other => panic!("expected a refusing PUBACK, got {other:?}"),
    }
    assert_eq!(
        v5.publish_acked("t/2", b"2", 2, 2, false, &[]).await,
        ReasonCode::UnspecifiedError,
        "QoS 2: the PUBREC refuses"
    );
    // QoS 0 still reaches this node's subscribers.
    v5.publish_acked("t/0", b"0", 0, 0, false, &[]).await;
    assert_eq!(receive(&mut sub, 1, WAIT).await, [0]);
    sub.expect_silence().await;
    // Before v5 an acknowledgement cannot say no: the connection ends.
    let mut v3 = Raw::v311(&a, "pub-v3").await;
    v3.send(&publish(false, "t/3", b"3", 1, 1, false, &[]))
        .await;
    assert_eq!(v3.expect_closed().await, vec![], "no PUBACK");
    let log = a.log();
    assert!(
        log.contains("QoS 1/2 PUBLISH refused: this cluster node cannot reach NATS"),
        "{log}"
    );
}

#[tokio::test]
async fn a_persistent_session_gets_what_was_published_while_its_node_was_down() {
    let nats = Nats::start();
    let a = node(&nats, "a").await;
    let b = node(&nats, "b").await;
    let keeper = Connect::v311("keeper").clean(false);
    let (mut on_b, _) = Raw::connect(&b, &keeper).await;
    on_b.subscribe(1, "k/#", 1).await;
    on_b.send(&DISCONNECT).await;
    let mut publisher = Raw::v311(&a, "pub").await;
    // Parked on b: b's store queues them.
    for n in 0..20u16 {
        publish_one(&mut publisher, n).await;
    }
    // Let b read them from the stream before it dies.
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.signal("-KILL");
    for n in 20..120u16 {
        publish_one(&mut publisher, n).await;
    }
    // Same flags, same --data-dir (and --node-id).
    let b = b.restart(Stop::Crash).await;
    reading(&b).await;
    let (mut on_b, connack) = Raw::connect(&b, &keeper).await;
    assert!(connack.session_present, "b kept the session");
    let got = receive(&mut on_b, 120, Duration::from_secs(10)).await;
    assert_eq!(got, (0..120).collect::<Vec<_>>(), "each once, in order");
    on_b.expect_silence().await;
    // A client that subscribes after the restart gets nothing older.
    let mut fresh = Raw::v311(&b, "fresh").await;
    fresh.subscribe(1, "k/#", 1).await;
    fresh.expect_silence().await;
}

/// Publish `n` on `k/n` at QoS 1; it must be acknowledged.
async fn publish_one(publisher: &mut Raw, n: u16) {
    let code = publisher
        .publish_acked("k/n", n.to_string().as_bytes(), 1, n + 1, false, &[])
        .await;
    assert_eq!(code, ReasonCode::Success);
}

/// Publish `n` at QoS 1 over `client`, reconnecting as `id` to `node` when
/// the broker closes; `true` if the PUBACK said success.
async fn publish_through(client: &mut Raw, node: &Broker, id: &str, n: u16) -> bool {
    client
        .send(&publish(
            true,
            "r/n",
            n.to_string().as_bytes(),
            1,
            n.max(1),
            false,
            &[],
        ))
        .await;
    match client.next_within(Duration::from_secs(15)).await {
        Ok(Some(Packet::PubAck(ack))) => ack.reason.is_success(),
        Ok(Some(Packet::Disconnect(_))) | Ok(None) => {
            *client = Raw::v5(node, id).await;
            false
        }
        Ok(Some(other)) => panic!("unexpected {other:?}"),
        Err(()) => panic!("no PUBACK for {n} within 15 s"),
    }
}

#[tokio::test]
async fn nats_restarted_during_qos_1_traffic_loses_no_acknowledged_message() {
    let mut nats = Nats::start();
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);
    let mut sub = Raw::v5(&b, "sub").await;
    sub.subscribe(1, "r/#", 1).await;
    let mut publisher = Raw::v5(&a, "pub").await;
    let mut acked = Vec::new();
    let mut refused = 0;
    let mut n = 0u16;
    let mut restarted_at = None;
    let started = Instant::now();
    // 100 before the restart, then on until 100 more are acknowledged.
    while acked.iter().filter(|&&m| m >= 100).count() < 100 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "acknowledged {acked:?}"
        );
        if n == 100 {
            nats.restart();
            restarted_at = Some(Instant::now());
        }
        if publish_through(&mut publisher, &a, "pub", n).await {
            acked.push(n);
        } else {
            refused += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        n += 1;
    }
    let back = restarted_at.expect("restarted").elapsed();
    eprintln!(
        "{} acknowledged, {refused} refused; publishing again {back:?} after the restart",
        acked.len()
    );
    // Every acknowledged message arrives (a refused one may too).
    let mut seen: HashMap<u32, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while acked.iter().any(|&m| !seen.contains_key(&u32::from(m))) {
        let left = deadline.saturating_duration_since(Instant::now());
        let missing: Vec<_> = acked
            .iter()
            .filter(|&&m| !seen.contains_key(&u32::from(m)))
            .collect();
        assert!(!left.is_zero(), "never arrived: {missing:?}\n{}", b.log());
        for m in receive(&mut sub, 1, left).await {
            *seen.entry(m).or_default() += 1;
        }
    }
}

#[tokio::test]
async fn publishes_wait_through_a_stream_leader_election_and_none_is_lost() {
    let mut nats = NatsCluster::start();
    let urls = nats.urls.join(",");
    let start = |name: &'static str| {
        let urls = urls.clone();
        async move { cluster_node(&urls, name).await }
    };
    let (a, b) = (start("a").await, start("b").await);
    let mut sub = Raw::v5(&b, "sub").await;
    sub.subscribe(1, "e/#", 1).await;
    let mut publisher = Raw::v5(&a, "pub").await;
    let leader = nats.wait_stream_leader("kite_messages").await;
    // Made before the NATS servers met each other, it would have one.
    assert_eq!(nats.stream_replicas("kite_messages"), Some(3));
    let mut acked = Vec::new();
    let mut refused = 0;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    // 50 before the kill, then on until 100 more are acknowledged: an
    // election that outlasts the node's retries (20 s) refuses a few, and
    // the node must accept again once a leader is back.
    let mut n = 0u16;
    while acked.iter().filter(|&&m| m >= 50).count() < 100 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "acknowledged {acked:?}, {refused} refused\n{}",
            a.log()
        );
        if n == 50 {
            nats.kill(leader);
        }
        let sent = Instant::now();
        publisher
            .send(&publish(
                true,
                "e/n",
                n.to_string().as_bytes(),
                1,
                n % 60_000 + 1,
                false,
                &[],
            ))
            .await;
        // The node retries for 20 s: a reconnection, then an election.
        match publisher.next_within(Duration::from_secs(30)).await {
            Ok(Some(Packet::PubAck(ack))) if ack.reason.is_success() => acked.push(u32::from(n)),
            Ok(Some(Packet::PubAck(_))) => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(Some(Packet::Disconnect(_))) | Ok(None) => publisher = Raw::v5(&a, "pub").await,
            other => panic!("{n}: {other:?}"),
        }
        slowest = slowest.max(sent.elapsed());
        n += 1;
    }
    eprintln!(
        "stream leader n{leader} killed: {} of {n} acknowledged, {refused} refused, the slowest answer after {slowest:?}",
        acked.len()
    );
    assert_eq!(
        acked[..50],
        (0..50).collect::<Vec<u32>>()[..],
        "before the kill"
    );
    // Every acknowledged message arrives (a refused one may too: JetStream
    // may have stored it after the node stopped waiting).
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.iter().any(|m| !seen.contains(m)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let missing: Vec<_> = acked.iter().filter(|m| !seen.contains(*m)).collect();
        assert!(
            !left.is_zero(),
            "acknowledged, never delivered: {missing:?}"
        );
        seen.extend(receive(&mut sub, 1, left).await);
    }
}
