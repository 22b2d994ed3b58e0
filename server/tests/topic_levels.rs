//! `--max-topic-levels` (default 128, as EMQX): a topic name or filter with
//! more levels is refused wherever a client can send one. SUBSCRIBE: 0x8F
//! (Topic Filter invalid) in MQTT 5, 0x80 in 3.1.1. PUBLISH: 0x90 (Topic
//! Name invalid) in the v5 PUBACK/PUBREC, a DISCONNECT 0x90 for v5 QoS 0,
//! the connection closed in 3.1.1. A will: CONNACK 0x90. Each is counted.

mod common;

use common::*;
use mqtt::ReasonCode;

/// A topic of `n` levels: `l/l/.../l`.
fn levels(n: usize) -> String {
    vec!["l"; n].join("/")
}

#[tokio::test]
async fn a_filter_over_the_limit_gets_0x8f_in_v5_and_0x80_in_v311() {
    let broker = Broker::start().await;
    let mut v5 = Raw::v5(&broker, "v5").await;
    assert_eq!(
        v5.subscribe(1, &levels(128), 0).await,
        0,
        "128 levels: granted"
    );
    assert_eq!(v5.subscribe(2, &levels(129), 0).await, 0x8F);
    // 65,535 slashes: 65,536 empty levels, the deepest filter MQTT can carry.
    assert_eq!(v5.subscribe(3, &"/".repeat(65_535), 0).await, 0x8F);
    assert_eq!(
        v5.subscribe(4, &format!("{}/#", levels(128)), 0).await,
        0x8F
    );
    let mut v311 = Raw::v311(&broker, "v311").await;
    assert_eq!(v311.subscribe(1, &levels(129), 0).await, 0x80);
    assert_eq!(v311.subscribe(2, &levels(128), 1).await, 1);
    assert_eq!(broker.metric("kite_topic_levels_refused_total").await, 4);
    // The connections go on.
    v5.sync().await;
    v311.sync().await;
}

#[tokio::test]
async fn a_v5_publish_over_the_limit_gets_0x90_and_is_not_routed() {
    let broker = Broker::start().await;
    let mut watcher = Raw::v311(&broker, "watcher").await;
    assert_eq!(watcher.subscribe(1, "#", 1).await, 1);
    let mut publisher = Raw::v5(&broker, "publisher").await;
    let deep = levels(129);
    assert_eq!(
        publisher.publish_acked(&deep, b"x", 1, 1, true, &[]).await,
        ReasonCode::TopicNameInvalid
    );
    assert_eq!(
        publisher.publish_acked(&deep, b"x", 2, 2, false, &[]).await,
        ReasonCode::TopicNameInvalid
    );
    watcher.expect_silence().await;
    // 128 levels are fine.
    let ok = publisher
        .publish_acked(&levels(128), b"y", 1, 3, false, &[])
        .await;
    assert_eq!(ok, ReasonCode::Success);
    assert_eq!(&*watcher.publish().await.topic, levels(128));
    // Not retained either: a new subscriber gets nothing.
    let mut late = Raw::v311(&broker, "late").await;
    assert_eq!(late.subscribe(1, "#", 1).await, 1);
    late.expect_silence().await;
    // QoS 0 cannot be answered: DISCONNECT 0x90.
    publisher
        .send(&publish(true, &deep, b"z", 0, 0, false, &[]))
        .await;
    assert_eq!(
        publisher.expect_disconnect().await,
        Some(ReasonCode::TopicNameInvalid)
    );
    watcher.expect_silence().await;
    assert_eq!(broker.metric("kite_topic_levels_refused_total").await, 3);
}

#[tokio::test]
async fn a_v311_publish_over_the_limit_closes_the_connection() {
    let broker = Broker::start().await;
    let mut watcher = Raw::v311(&broker, "watcher").await;
    assert_eq!(watcher.subscribe(1, "#", 1).await, 1);
    let mut publisher = Raw::v311(&broker, "publisher").await;
    publisher
        .send(&publish(false, &"/".repeat(65_535), b"x", 1, 1, false, &[]))
        .await;
    assert_eq!(publisher.expect_closed().await, vec![], "no PUBACK, closed");
    watcher.expect_silence().await;
    assert_eq!(broker.metric("kite_topic_levels_refused_total").await, 1);
}

#[tokio::test]
async fn a_will_over_the_limit_is_refused_at_connect() {
    let broker = Broker::start().await;
    let topic = levels(129);
    let will = Will {
        topic: &topic,
        payload: b"gone",
        ..Will::default()
    };
    let mut c = Raw::open(&broker, mqtt::Protocol::V5).await;
    c.send(&Connect::v5("deep-will").will(will).bytes()).await;
    assert_eq!(c.connack().await.code, ReasonCode::TopicNameInvalid);
    assert_eq!(broker.metric("kite_topic_levels_refused_total").await, 1);
}

#[tokio::test]
async fn the_limit_is_a_flag_from_1_to_1024() {
    let broker = Broker::start_with(&["--max-topic-levels", "3"]).await;
    let mut c = Raw::v5(&broker, "c").await;
    assert_eq!(c.subscribe(1, "a/b/c", 0).await, 0);
    assert_eq!(c.subscribe(2, "a/b/c/d", 0).await, 0x8F);
    drop(broker);
    // At the ceiling a 1024-level filter is matched, delivered and pruned
    // (the tree is walked recursively: 65,536 levels overflowed the stack).
    let broker = Broker::start_with(&["--max-topic-levels", "1024"]).await;
    let mut c = Raw::v5(&broker, "c").await;
    assert_eq!(c.subscribe(1, &levels(1024), 1).await, 1);
    let deepest = "/".repeat(1023);
    assert_eq!(c.subscribe(2, &deepest, 1).await, 1);
    let mut publisher = Raw::v5(&broker, "publisher").await;
    for (pid, topic) in [(1, levels(1024)), (2, deepest.clone())] {
        let reason = publisher
            .publish_acked(&topic, b"x", 1, pid, false, &[])
            .await;
        assert_eq!(reason, ReasonCode::Success);
        assert_eq!(*c.publish().await.topic, *topic);
    }
    c.send(&DISCONNECT).await;
    c.expect_closed().await;
    publisher.sync().await; // the broker is alive after pruning both
                            // 0 (no limit) and more than 1024 are refused, with the usage.
    for bad in ["0", "1025"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kite-server"))
            .args(["--max-topic-levels", bad])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("--max-topic-levels"), "{stderr}");
    }
}
