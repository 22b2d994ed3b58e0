//! Retained messages across the cluster (a JetStream bucket on a real
//! `nats-server -js`): a SUBSCRIBE on one node right after a retained
//! PUBLISH acknowledged on another gets it; concurrent writers on two nodes
//! leave the same value on both; a node that joins later has them; an empty
//! retained message deletes everywhere.

mod common;

use std::time::Duration;

use common::*;

async fn node(nats: &Nats, name: &str) -> Broker {
    Broker::start_with(&["--cluster", &nats.url, "--node-id", name]).await
}

/// Wait until the node says its retained messages are shared (the bucket
/// is open and watched).
async fn shared(node: &Broker) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !node.log().contains("cluster: retained messages shared") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the retained bucket was never opened:\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The retained message a fresh subscriber on `node` gets for `topic`.
async fn retained_on(node: &Broker, id: &str, topic: &str) -> Option<Vec<u8>> {
    let mut client = V4::connect(node, id).await;
    client.subscribe(topic, qos(1)).await;
    let got = tokio::time::timeout(QUIET, client.next_publish())
        .await
        .ok()
        .map(|p| {
            assert!(p.retain, "sent as retained");
            p.payload.to_vec()
        });
    client.disconnect().await;
    got
}

#[tokio::test]
async fn a_subscribe_on_one_node_right_after_an_acknowledged_retained_publish_on_another_gets_it() {
    let nats = Nats::start();
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);
    shared(&a).await;
    shared(&b).await;
    let mut writer = V4::connect(&a, "writer").await;
    // Node b already takes `state/#` from NATS: a new subscriber to it
    // does not wait for NATS, only for b's retained messages to catch up.
    let mut holder = V4::connect(&b, "holder").await;
    holder.subscribe("state/#", qos(0)).await;
    for i in 0..20 {
        let topic = format!("state/{i}");
        writer
            .publish(&topic, qos(1), true, format!("v{i}").as_bytes())
            .await;
        writer.puback().await;
        // No pause: the PUBACK means the bucket has it.
        let mut reader = V4::connect(&b, &format!("reader-{i}")).await;
        reader.subscribe("state/#", qos(1)).await;
        let mut got = Vec::new();
        for _ in 0..=i {
            let p = reader.next_publish().await;
            assert!(p.retain);
            got.push((
                p.topic.clone(),
                String::from_utf8_lossy(&p.payload).into_owned(),
            ));
        }
        assert!(
            got.contains(&(topic.clone(), format!("v{i}"))),
            "round {i}: {got:?}\n{}",
            b.log()
        );
        reader.disconnect().await;
    }
}

#[tokio::test]
async fn writers_on_two_nodes_leave_the_same_value_everywhere_and_a_late_node_has_it() {
    let nats = Nats::start();
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);
    shared(&a).await;
    shared(&b).await;
    let on_a = V4::connect(&a, "writer-a").await;
    let on_b = V4::connect(&b, "writer-b").await;
    for i in 0..50 {
        on_a.publish("race", qos(0), true, format!("a{i}").as_bytes())
            .await;
        on_b.publish("race", qos(0), true, format!("b{i}").as_bytes())
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen_a = retained_on(&a, "look-a", "race").await;
    let seen_b = retained_on(&b, "look-b", "race").await;
    assert!(seen_a.is_some(), "a has a value");
    assert_eq!(seen_a, seen_b, "both nodes agree");
    // A node that joins now gets the bucket's values.
    let c = node(&nats, "c").await;
    shared(&c).await;
    assert_eq!(retained_on(&c, "look-c", "race").await, seen_a);
    // An empty retained message deletes it on every node.
    let mut deleter = V4::connect(&a, "deleter").await;
    deleter.publish("race", qos(1), true, b"").await;
    deleter.puback().await;
    for (node, id) in [(&a, "gone-a"), (&b, "gone-b"), (&c, "gone-c")] {
        assert_eq!(retained_on(node, id, "race").await, None, "{id}");
    }
}
