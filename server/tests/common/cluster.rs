//! Cluster test helpers: nodes on a real NATS, and reading numbered
//! messages.

use std::time::Duration;

use mqtt::{Packet, ReasonCode};
use tokio::time::Instant;

use super::{puback, pubcomp, pubrec, Broker, Connect, Raw, QUIET};

/// Wait until the node reads the QoS 1/2 stream.
pub async fn reading(node: &Broker) {
    wait_log(
        node,
        "cluster: QoS 1/2 messages shared",
        Duration::from_secs(15),
    )
    .await;
}

/// A node of the cluster on `urls`, reading the stream.
pub async fn cluster_node(urls: &str, name: &str) -> Broker {
    cluster_node_with(urls, name, &[]).await
}

/// [`cluster_node`] with more flags.
pub async fn cluster_node_with(urls: &str, name: &str, extra: &[&str]) -> Broker {
    let mut flags = vec!["--cluster", urls, "--node-id", name];
    flags.extend_from_slice(extra);
    let node = Broker::start_with(&flags).await;
    ready(&node).await;
    node
}

/// Wait until the node reads the QoS 1/2 stream, says which node holds
/// each client id, and holds its lease (its wills fire once cluster-wide).
pub async fn ready(node: &Broker) {
    for line in [
        "cluster: QoS 1/2 messages shared",
        "cluster: client ids are held cluster-wide",
        "cluster: node lease held",
    ] {
        wait_log(node, line, Duration::from_secs(20)).await;
    }
}

/// Wait until `line` is in the node's log.
pub async fn wait_log(node: &Broker, line: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !node.log().contains(line) {
        assert!(
            Instant::now() < deadline,
            "no {line:?} in the log:\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One numbered message as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbered {
    pub n: u32,
    pub dup: bool,
}

/// Read `count` PUBLISH packets (acknowledging QoS 1 and 2 ones), with
/// their payloads as numbers and DUP flags, in order of arrival.
pub async fn receive_flagged(client: &mut Raw, count: usize, limit: Duration) -> Vec<Numbered> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    while got.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let packet = match client.next_within(left).await {
            Ok(Some(packet)) => packet,
            Ok(None) => panic!("closed after {} messages", got.len()),
            Err(()) => panic!("{} of {count} messages within {limit:?}", got.len()),
        };
        match packet {
            Packet::Publish(p) => {
                match (p.qos, p.pid) {
                    (mqtt::QoS::AtLeastOnce, Some(pid)) => client.send(&puback(pid.get())).await,
                    (mqtt::QoS::ExactlyOnce, Some(pid)) => client.send(&pubrec(pid.get())).await,
                    _ => {}
                }
                let text = std::str::from_utf8(&p.payload).expect("UTF-8");
                got.push(Numbered {
                    n: text.parse().expect("a number"),
                    dup: p.dup,
                });
            }
            Packet::PubRel(ack) => client.send(&pubcomp(ack.pid.get())).await,
            other => panic!("unexpected {other:?}"),
        }
    }
    got
}

/// [`receive_flagged`], the numbers only.
pub async fn receive(client: &mut Raw, count: usize, limit: Duration) -> Vec<u32> {
    let got = receive_flagged(client, count, limit).await;
    got.into_iter().map(|m| m.n).collect()
}

/// Answer the PUBRELs still coming, then nothing else may arrive.
pub async fn quiet(client: &mut Raw) {
    loop {
        match client.next_within(QUIET).await {
            Err(()) => return,
            Ok(Some(Packet::PubRel(ack))) => client.send(&pubcomp(ack.pid.get())).await,
            Ok(other) => panic!("expected nothing more, got {other:?}"),
        }
    }
}

/// Publish and complete the flow; the acknowledgement must be a success.
/// A subscriber on another node is not counted where the message is
/// published, so MQTT 5's 0x10 (No matching subscribers) is one too.
pub async fn publish_accepted(client: &mut Raw, topic: &str, payload: &[u8], qos: u8, pid: u16) {
    let code = client
        .publish_acked(topic, payload, qos, pid, false, &[])
        .await;
    assert!(
        matches!(
            code,
            ReasonCode::Success | ReasonCode::NoMatchingSubscribers
        ),
        "{topic} {:?}: {code:?}",
        String::from_utf8_lossy(payload)
    );
}

/// Connect, again while the node answers Server unavailable (a session it
/// could not take yet), for up to 15 s.
pub async fn connect_again(node: &Broker, connect: &Connect<'_>) -> (Raw, mqtt::ConnAck) {
    let started = Instant::now();
    loop {
        // Up to the dead holder's lease running out (5 s) and more.
        let (raw, connack) = Raw::try_connect_within(node.addr(), connect, Duration::from_secs(12))
            .await
            .expect("the node answers");
        if connack.code != ReasonCode::ServerUnavailable {
            assert_eq!(connack.code, ReasonCode::Success);
            return (raw, connack);
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "refused for 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
