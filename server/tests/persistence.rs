//! The on-disk store (`--data-dir`, `--durability`; being added): retained
//! messages, persistent sessions, their queues and QoS flows survive a
//! restart, and what was acknowledged survives a crash (SIGKILL).
//! `--durability none` keeps nothing.

mod common;

use common::*;
use mqtt::{Packet, ReasonCode};

/// A persistent 3.1.1 session for `id`.
fn durable(id: &str) -> Connect<'_> {
    Connect::v311(id).clean(false)
}

#[tokio::test]
async fn retained_message_survives_a_graceful_restart() {
    let broker = Broker::start().await;
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .publish_acked("kept/1", b"before", 1, 1, true, &[])
        .await;
    let broker = broker.restart(Stop::Graceful).await;
    let mut sub = Raw::v311(&broker, "sub").await;
    sub.subscribe(1, "kept/#", 0).await;
    let p = sub.publish().await;
    assert!(p.retain);
    assert_eq!((&*p.topic, &p.payload[..]), ("kept/1", &b"before"[..]));
}

#[tokio::test]
async fn acknowledged_retained_message_survives_a_crash() {
    let broker = Broker::start().await;
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .publish_acked("kept/2", b"acked", 1, 1, true, &[])
        .await; // PUBACK received: the message is committed
    let broker = broker.restart(Stop::Crash).await;
    let mut sub = Raw::v311(&broker, "sub").await;
    sub.subscribe(1, "kept/2", 0).await;
    assert_eq!(&sub.publish().await.payload[..], b"acked");
}

#[tokio::test]
async fn persistent_session_and_its_subscription_survive_a_restart() {
    let broker = Broker::start().await;
    let (mut sub, _) = Raw::connect(&broker, &durable("durable")).await;
    sub.subscribe(1, "s/#", 1).await;
    sub.send(&DISCONNECT).await;
    sub.expect_closed().await;
    let broker = broker.restart(Stop::Graceful).await;
    let (mut sub, connack) = Raw::connect(&broker, &durable("durable")).await;
    assert!(connack.session_present, "the session was restored");
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .publish_acked("s/x", b"live", 1, 1, false, &[])
        .await;
    assert_eq!(&sub.publish().await.payload[..], b"live");
}

#[tokio::test]
async fn queued_qos1_message_for_an_offline_session_survives_a_crash() {
    let broker = Broker::start().await;
    let (mut sub, _) = Raw::connect(&broker, &durable("away")).await;
    sub.subscribe(1, "q", 1).await;
    sub.send(&DISCONNECT).await;
    sub.expect_closed().await;
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher.publish_acked("q", b"m1", 1, 1, false, &[]).await;
    publisher.publish_acked("q", b"m2", 1, 2, false, &[]).await;
    let broker = broker.restart(Stop::Crash).await;
    let (mut sub, connack) = Raw::connect(&broker, &durable("away")).await;
    assert!(connack.session_present);
    for expected in [b"m1", b"m2"] {
        let p = sub.publish().await;
        assert_eq!(&p.payload[..], expected, "in order");
        sub.send(&puback(p.pid.unwrap().get())).await;
    }
    sub.expect_silence().await;
}

#[tokio::test]
async fn unacknowledged_delivery_is_resent_with_dup_after_a_crash() {
    let broker = Broker::start().await;
    let (mut sub, _) = Raw::connect(&broker, &durable("inflight")).await;
    sub.subscribe(1, "f", 1).await;
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .publish_acked("f", b"unacked", 1, 1, false, &[])
        .await;
    let first = sub.publish().await; // never acknowledged
    drop(sub);
    let broker = broker.restart(Stop::Crash).await;
    let (mut sub, connack) = Raw::connect(&broker, &durable("inflight")).await;
    assert!(connack.session_present);
    let again = sub.publish().await;
    assert_eq!(&again.payload[..], b"unacked");
    assert!(again.dup, "a resent PUBLISH has DUP 1");
    assert_eq!(again.pid, first.pid, "with the same packet id");
}

#[tokio::test]
async fn qos2_received_before_a_crash_is_released_after_it_exactly_once() {
    let broker = Broker::start().await;
    let (mut sub, _) = Raw::connect(&broker, &durable("sub2")).await;
    sub.subscribe(1, "x2", 2).await;
    sub.send(&DISCONNECT).await;
    sub.expect_closed().await;
    let connect = Connect::v5("pub2").clean(false).props(prop_u32(0x11, 600)); // session expiry interval: 600 s
    let (mut publisher, _) = Raw::connect(&broker, &connect).await;
    publisher
        .send(&publish(true, "x2", b"once", 2, 9, false, &[]))
        .await;
    assert!(matches!(publisher.recv().await, Packet::PubRec(r) if r.pid.get() == 9));
    let broker = broker.restart(Stop::Crash).await; // before PUBREL

    let (mut publisher, connack) = Raw::connect(&broker, &connect).await;
    assert!(connack.session_present);
    publisher.send(&pubrel(9)).await;
    match publisher.recv().await {
        Packet::PubComp(c) => {
            assert_eq!(c.pid.get(), 9);
            assert_eq!(c.reason, ReasonCode::Success, "the id was remembered");
        }
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    let (mut sub, _) = Raw::connect(&broker, &durable("sub2")).await;
    let p = sub.publish().await;
    assert_eq!(&p.payload[..], b"once");
    let pid = p.pid.unwrap().get();
    sub.send(&pubrec(pid)).await;
    assert!(matches!(sub.recv().await, Packet::PubRel(_)));
    sub.send(&pubcomp(pid)).await;
    sub.expect_silence().await; // exactly once
}

#[tokio::test]
async fn durability_none_keeps_nothing_across_a_restart() {
    let broker = Broker::start_with(&["--durability", "none"]).await;
    let mut publisher = Raw::v311(&broker, "pub").await;
    publisher
        .publish_acked("gone", b"memory only", 1, 1, true, &[])
        .await;
    let (mut sub, _) = Raw::connect(&broker, &durable("mem")).await;
    sub.subscribe(1, "x", 1).await;
    sub.send(&DISCONNECT).await;
    sub.expect_closed().await;
    let broker = broker.restart(Stop::Graceful).await;
    let (mut sub, connack) = Raw::connect(&broker, &durable("mem")).await;
    assert!(!connack.session_present);
    sub.subscribe(1, "gone", 0).await;
    sub.expect_silence().await;
}
