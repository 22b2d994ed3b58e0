//! A connection's read makes one store submission, however many writes it
//! holds (issue #20): fifty QoS 1 PUBLISHes for a persistent session, or
//! fifty PUBACKs from one, sent in one write are one batch for the store's
//! writer thread, not fifty. Each submission costs a lock, a wake-up of the
//! writer and its bookkeeping; per packet, they were a large part of what a
//! durable QoS 1 message cost. Counted by `kite_store_submissions_total`.

mod common;

use common::*;
use mqtt::Packet;

const MESSAGES: u16 = 50;
/// A write of fifty packets may be read in two or three pieces; a
/// submission per packet would be fifty.
const AT_MOST: u64 = 5;
const SUBMISSIONS: &str = "kite_store_submissions_total";

#[tokio::test]
async fn fifty_qos1_publishes_in_one_write_are_one_store_submission() {
    let broker = Broker::start_with(&["--durability", "batch"]).await;
    // A persistent session away: every message is queued in the store.
    let (mut keeper, _) = Raw::connect(&broker, &Connect::v311("keeper").clean(false)).await;
    keeper.subscribe(1, "fleet/readings", 1).await;
    keeper.send(&DISCONNECT).await;
    keeper.expect_closed().await;

    let mut publisher = Raw::v311(&broker, "publisher").await;
    let before = broker.metric(SUBMISSIONS).await;
    let burst: Vec<u8> = (1..=MESSAGES)
        .flat_map(|pid| publish(false, "fleet/readings", b"21.5", 1, pid, false, &[]))
        .collect();
    publisher.send(&burst).await;
    for pid in 1..=MESSAGES {
        match publisher.recv().await {
            Packet::PubAck(ack) => assert_eq!(ack.pid.get(), pid, "PUBACKs in order"),
            other => panic!("expected PUBACK {pid}, got {other:?}"),
        }
    }
    let submitted = broker.metric(SUBMISSIONS).await - before;
    assert!(
        (1..=AT_MOST).contains(&submitted),
        "{MESSAGES} PUBLISHes in one write made {submitted} store submissions"
    );

    // And every one was queued: the session gets all fifty back, in order.
    let (mut keeper, connack) = Raw::connect(&broker, &Connect::v311("keeper").clean(false)).await;
    assert!(connack.session_present);
    for n in 1..=MESSAGES {
        let p = keeper.publish().await;
        assert_eq!(&p.payload[..], b"21.5", "message {n}");
        keeper.send(&puback(p.pid.expect("QoS 1").get())).await;
    }
}

#[tokio::test]
async fn fifty_pubacks_in_one_write_are_one_store_submission() {
    let broker = Broker::start_with(&["--durability", "batch"]).await;
    let (mut keeper, _) = Raw::connect(&broker, &Connect::v311("keeper").clean(false)).await;
    keeper.subscribe(1, "fleet/readings", 1).await;
    let mut publisher = Raw::v311(&broker, "publisher").await;
    for pid in 1..=MESSAGES {
        publisher
            .publish_acked("fleet/readings", b"21.5", 1, pid, false, &[])
            .await;
    }
    let mut pids = Vec::new();
    for _ in 0..MESSAGES {
        pids.push(keeper.publish().await.pid.expect("QoS 1").get());
    }
    // Every delivery's own submission was made before its PUBLISH left.
    let before = broker.metric(SUBMISSIONS).await;
    let acks: Vec<u8> = pids.iter().flat_map(|&pid| puback(pid)).collect();
    keeper.send(&acks).await;
    keeper.sync().await; // the PUBACKs were handled
    let submitted = broker.metric(SUBMISSIONS).await - before;
    assert!(
        (1..=AT_MOST).contains(&submitted),
        "{MESSAGES} PUBACKs in one write made {submitted} store submissions"
    );

    // Every acknowledgement was applied: after a restart none comes back.
    // (A crash may bring some back, with DUP: an acknowledgement nobody
    // waits for is committed within the store's lazy bound.)
    keeper.send(&DISCONNECT).await;
    keeper.expect_closed().await;
    let broker = broker.restart(Stop::Graceful).await;
    let (mut keeper, connack) = Raw::connect(&broker, &Connect::v311("keeper").clean(false)).await;
    assert!(connack.session_present, "the session was kept");
    keeper.expect_silence().await;
}
