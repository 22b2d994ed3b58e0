//! Sessions anywhere: a persistent session follows its client to whichever
//! node it reconnects to, with its subscriptions and every message queued
//! while it was away, in order; a message in flight at the move comes again
//! with DUP; none is lost, none doubled. A clean start elsewhere ends the
//! session. A session parked on a node that dies, or whose client was
//! connected there, is rebuilt where its client reconnects. (Real
//! `nats-server -js` and real `kite-server` nodes.)

mod common;

use std::{collections::HashMap, time::Duration};

use common::*;
use mqtt::{Packet, ReasonCode};
use tokio::time::Instant;

/// A NATS server and two nodes on it, a and b.
async fn two_nodes() -> (Nats, Broker, Broker) {
    let nats = Nats::start();
    let a = cluster_node(&nats.url, "a").await;
    let b = cluster_node(&nats.url, "b").await;
    (nats, a, b)
}

/// Publish `n` on `topic` at QoS 1; it must be acknowledged.
async fn publish_one(publisher: &mut Raw, topic: &str, n: u16) {
    let payload = n.to_string();
    publish_accepted(publisher, topic, payload.as_bytes(), 1, n % 60_000 + 1).await;
}

#[tokio::test]
async fn a_session_moves_to_the_node_its_client_reconnects_to_and_back() {
    let nats = Nats::start();
    let (a, b) = (
        cluster_node(&nats.url, "a").await,
        cluster_node(&nats.url, "b").await,
    );
    let keeper = Connect::v311("keeper").clean(false);
    let (mut on_a, connack) = Raw::connect(&a, &keeper).await;
    assert!(!connack.session_present);
    on_a.subscribe(1, "k/#", 1).await;
    on_a.send(&DISCONNECT).await;
    // Queued for it on a, published on b.
    let mut publisher = Raw::v311(&b, "pub").await;
    for n in 0..50 {
        publish_one(&mut publisher, "k/n", n).await;
    }
    let (mut on_b, connack) = Raw::connect(&b, &keeper).await;
    assert!(connack.session_present, "the session came from a");
    assert_eq!(
        receive(&mut on_b, 50, WAIT).await,
        (0..50).collect::<Vec<_>>(),
        "what a queued, in order"
    );
    // Its subscription came too: live messages from both nodes.
    let mut on_a_publisher = Raw::v311(&a, "pub-a").await;
    for n in 50..100 {
        let publisher = if n % 2 == 0 {
            &mut publisher
        } else {
            &mut on_a_publisher
        };
        publish_one(publisher, "k/n", n).await;
    }
    assert_eq!(
        receive(&mut on_b, 50, WAIT).await,
        (50..100).collect::<Vec<_>>()
    );
    on_b.expect_silence().await;
    on_b.send(&DISCONNECT).await;
    for n in 100..110 {
        publish_one(&mut on_a_publisher, "k/n", n).await;
    }
    // And back to a, which no longer had it.
    let (mut on_a, connack) = Raw::connect(&a, &keeper).await;
    assert!(connack.session_present, "the session came back from b");
    assert_eq!(
        receive(&mut on_a, 10, WAIT).await,
        (100..110).collect::<Vec<_>>()
    );
    on_a.expect_silence().await;
    // A clean start on b ends it: nothing queued follows, no subscription.
    on_a.send(&DISCONNECT).await;
    publish_one(&mut publisher, "k/n", 110).await;
    let (mut fresh, connack) = Raw::connect(&b, &Connect::v311("keeper")).await;
    assert!(!connack.session_present);
    publish_one(&mut publisher, "k/n", 111).await;
    fresh.expect_silence().await;
    fresh.send(&DISCONNECT).await;
    let (_, connack) = Raw::connect(&a, &keeper).await;
    assert!(!connack.session_present, "a kept nothing of it");
}

#[tokio::test]
async fn a_session_moved_back_and_forth_under_traffic_loses_nothing_and_doubles_nothing() {
    let nats = Nats::start();
    let (a, b) = (
        cluster_node(&nats.url, "a").await,
        cluster_node(&nats.url, "b").await,
    );
    let nodes = [&a, &b];
    let mover = Connect::v5("mover").clean(false).props(prop_u32(0x11, 300));
    let (mut client, _) = Raw::connect(&a, &mover).await;
    assert_eq!(client.subscribe(1, "m/#", 1).await, 1);
    const TOTAL: u16 = 600;
    // Two publishers, one on each node, each numbering its own messages.
    let mut publishers = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let mut publisher = Raw::v5(node, &format!("pub-{i}")).await;
        publishers.push(tokio::spawn(async move {
            let base = i as u16 * 10_000;
            for n in 0..TOTAL / 2 {
                publish_one(&mut publisher, "m/n", base + n).await;
            }
        }));
    }
    let mut got: Vec<Numbered> = Vec::new();
    let started = Instant::now();
    let mut moves = 0;
    loop {
        let distinct = got
            .iter()
            .map(|m| m.n)
            .collect::<std::collections::HashSet<_>>()
            .len();
        let left = usize::from(TOTAL) - distinct;
        if left == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{distinct} distinct of {TOTAL} after {moves} moves"
        );
        got.extend(receive_flagged(&mut client, left.min(40), Duration::from_secs(20)).await);
        // To the other node, taking over the connection (0x8E there).
        moves += 1;
        let (next, connack) = Raw::connect(nodes[moves % 2], &mover).await;
        assert!(connack.session_present, "move {moves}");
        match client.next_within(WAIT).await {
            Ok(Some(Packet::Disconnect(d))) => assert_eq!(d.reason, ReasonCode::SessionTakenOver),
            Ok(Some(Packet::Publish(_))) | Ok(None) => {}
            other => panic!("{other:?}"),
        }
        client = next;
    }
    for publisher in publishers {
        publisher.await.expect("publisher");
    }
    eprintln!("{} messages over {moves} moves", got.len());
    // Each publisher's messages in its order, each once, apart from DUP
    // redeliveries of what was in flight at a move.
    let mut seen: HashMap<u32, usize> = HashMap::new();
    let mut last: HashMap<u32, u32> = HashMap::new();
    for m in &got {
        let count = seen.entry(m.n).or_default();
        *count += 1;
        if *count > 1 {
            assert!(m.dup, "{} came twice, the second time without DUP", m.n);
            continue;
        }
        let publisher = m.n / 10_000;
        if let Some(&before) = last.get(&publisher) {
            assert!(m.n > before, "{} after {before}", m.n);
        }
        last.insert(publisher, m.n);
    }
    for publisher in 0..2u32 {
        for n in 0..u32::from(TOTAL / 2) {
            assert!(
                seen.contains_key(&(publisher * 10_000 + n)),
                "{} lost",
                publisher * 10_000 + n
            );
        }
    }
    client.expect_silence().await;
}

#[tokio::test]
async fn a_session_parked_on_a_node_that_died_is_rebuilt_where_its_client_reconnects() {
    let (_nats, a, b) = two_nodes().await;
    let keeper = Connect::v311("keeper").clean(false);
    let (mut on_a, _) = Raw::connect(&a, &keeper).await;
    on_a.subscribe(1, "old/#", 1).await;
    on_a.subscribe(2, "two/#", 2).await;
    let mut publisher = Raw::v311(&b, "pub").await;
    // 1 is in flight when the client goes: received, not acknowledged.
    publish_one(&mut publisher, "old/n", 1).await;
    let first = on_a.publish().await;
    assert_eq!(&first.payload[..], b"1");
    on_a.send(&DISCONNECT).await;
    wait_log(&a, "parked session kept in its owner record", WAIT).await;
    // 2-4 are queued for it on a (4 at QoS 2), 5-6 published once a died.
    publish_one(&mut publisher, "old/n", 2).await;
    publish_one(&mut publisher, "old/n", 3).await;
    publish_accepted(&mut publisher, "two/n", b"4", 2, 100).await;
    a.signal("-KILL");
    publish_one(&mut publisher, "old/n", 5).await;
    publish_one(&mut publisher, "old/n", 6).await;
    let (mut on_b, connack) = connect_again(&b, &keeper).await;
    assert!(connack.session_present, "rebuilt from a's snapshot");
    wait_log(&b, "parked session rebuilt here", WAIT).await;
    let got = receive_flagged(&mut on_b, 6, WAIT).await;
    let numbers: Vec<u32> = got.iter().map(|m| m.n).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6], "every one, in order");
    assert!(got[0].dup, "the one in flight comes again with DUP");
    assert!(got[1..].iter().all(|m| !m.dup), "{got:?}");
    // None doubled (4, at QoS 2, is released once).
    quiet(&mut on_b).await;
    // Its subscriptions came too: what is published now reaches it.
    publish_one(&mut publisher, "old/n", 7).await;
    assert_eq!(receive(&mut on_b, 1, WAIT).await, [7]);
    on_b.send(&DISCONNECT).await;
    // a comes back with its old copy in its store; the session is b's
    // now, and moves to a (replacing that copy) when the client goes there.
    let a = a.restart(Stop::Crash).await;
    reading(&a).await;
    publish_one(&mut publisher, "old/n", 8).await;
    let (mut on_a, connack) = connect_again(&a, &keeper).await;
    assert!(connack.session_present);
    assert_eq!(
        receive(&mut on_a, 1, WAIT).await,
        [8],
        "b's session, not a's old copy"
    );
    on_a.expect_silence().await;
}

#[tokio::test]
async fn a_client_connected_to_a_node_that_died_resumes_elsewhere_from_its_live_copy() {
    let (_nats, a, b) = two_nodes().await;
    let keeper = Connect::v311("keeper").clean(false);
    let (mut on_a, _) = Raw::connect(&a, &keeper).await;
    on_a.subscribe(1, "old/#", 1).await;
    on_a.subscribe(2, "two/#", 2).await;
    let mut publisher = Raw::v311(&b, "pub").await;
    // 1 (QoS 1) and 2 (QoS 2) are received and acknowledged, 2 completed.
    publish_one(&mut publisher, "old/n", 1).await;
    publish_accepted(&mut publisher, "two/n", b"2", 2, 100).await;
    assert_eq!(receive(&mut on_a, 2, WAIT).await, [1, 2]);
    quiet(&mut on_a).await;
    // 3 (QoS 1) is in flight when a dies: received, not acknowledged.
    publish_one(&mut publisher, "old/n", 3).await;
    let third = on_a.publish().await;
    assert_eq!(&third.payload[..], b"3");
    // 4 (QoS 2) is received and PUBRECed; a's PUBREL leaves only once a's
    // copy of the session says so, and the client has not completed it.
    publish_accepted(&mut publisher, "two/n", b"4", 2, 101).await;
    let fourth = on_a.publish().await;
    assert_eq!(&fourth.payload[..], b"4");
    let four = fourth.pid.expect("QoS 2").get();
    on_a.send(&pubrec(four)).await;
    assert!(matches!(on_a.recv().await, Packet::PubRel(r) if r.pid.get() == four));
    a.signal("-KILL");
    drop(on_a);
    // 5 is published once a died.
    publish_one(&mut publisher, "old/n", 5).await;
    let (mut on_b, connack) = connect_again(&b, &keeper).await;
    assert!(connack.session_present, "rebuilt from a's live copy");
    wait_log(&b, "parked session rebuilt here", WAIT).await;
    // 3 again with DUP and its packet id, 4 released again (never sent as
    // a new PUBLISH: exactly once), then 5; 1 and 2 do not come again.
    let mut got = Vec::new();
    while got.len() < 2 {
        match on_b.next_within(WAIT).await {
            Ok(Some(Packet::Publish(p))) => {
                if let Some(pid) = p.pid {
                    on_b.send(&puback(pid.get())).await;
                }
                got.push((
                    String::from_utf8_lossy(&p.payload).to_string(),
                    p.dup,
                    p.pid,
                ));
            }
            Ok(Some(Packet::PubRel(r))) => {
                assert_eq!(r.pid.get(), four, "4's PUBREL again");
                on_b.send(&pubcomp(four)).await;
            }
            other => panic!("{other:?} after {got:?}"),
        }
    }
    assert_eq!(got[0], ("3".to_string(), true, third.pid), "{got:?}");
    assert_eq!(got[1].0, "5", "{got:?}");
    quiet(&mut on_b).await;
    // Its subscriptions came too.
    publish_accepted(&mut publisher, "two/n", b"6", 2, 102).await;
    assert_eq!(receive(&mut on_b, 1, WAIT).await, [6]);
    quiet(&mut on_b).await;
}

#[tokio::test]
async fn a_session_a_restarted_node_restored_from_its_store_is_kept_for_the_others_at_once() {
    let (_nats, a, b) = two_nodes().await;
    let keeper = Connect::v311("keeper").clean(false);
    let (mut on_a, _) = Raw::connect(&a, &keeper).await;
    on_a.subscribe(1, "old/#", 1).await;
    let mut publisher = Raw::v311(&b, "pub").await;
    publish_one(&mut publisher, "old/n", 1).await;
    assert_eq!(receive(&mut on_a, 1, WAIT).await, [1]);
    drop(on_a);
    // a stores its stream position past 1 (every 200 ms), so nothing is
    // read again after its restart.
    tokio::time::sleep(Duration::from_millis(800)).await;
    // a restarts with the session in its store; the client is back there
    // and takes nothing more before a dies.
    let a = a.restart(Stop::Crash).await;
    reading(&a).await;
    let (on_a, connack) = connect_again(&a, &keeper).await;
    assert!(connack.session_present);
    // Its store's stream position says where the session stands: the copy
    // is kept before that CONNACK, not only once a message comes.
    a.signal("-KILL");
    drop(on_a);
    publish_one(&mut publisher, "old/n", 2).await;
    let (mut on_b, connack) = connect_again(&b, &keeper).await;
    assert!(connack.session_present, "rebuilt from the copy a kept");
    // 1 may come again (a killed node's store may not have committed its
    // acknowledgement: at least once), then 2.
    let mut got = receive(&mut on_b, 1, WAIT).await;
    if got == [1] {
        got = receive(&mut on_b, 1, WAIT).await;
    }
    assert_eq!(got, [2]);
    quiet(&mut on_b).await;
}

#[tokio::test]
async fn a_client_connected_to_a_node_that_died_before_it_took_a_message_starts_anew_and_the_old_session_yields(
) {
    let (_nats, a, b) = two_nodes().await;
    let keeper = Connect::v311("keeper").clean(false);
    let (mut on_a, _) = Raw::connect(&a, &keeper).await;
    on_a.subscribe(1, "old/#", 1).await;
    // Connected when a dies, before any message came: a copy of its
    // session would not know where in the stream it stood, so none was
    // kept.
    a.signal("-KILL");
    drop(on_a);
    // a does not answer: b does not wait for it, and says the session is new.
    // (Until NATS notices a is gone, a question to a may go unanswered:
    // that CONNECT is refused with Server unavailable, and the client tries
    // again, as clients do.)
    let started = Instant::now();
    let (mut on_b, connack) = connect_again(&b, &keeper).await;
    assert!(!connack.session_present, "a's session could not come");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    wait_log(&b, "is down and kept no copy of it", WAIT).await;
    on_b.subscribe(1, "new/#", 1).await;
    on_b.send(&DISCONNECT).await;
    // a comes back with its old session in its store; the client's session
    // is b's now, and moves to a when the client goes there.
    let a = a.restart(Stop::Crash).await;
    reading(&a).await;
    let mut publisher = Raw::v311(&b, "pub").await;
    publish_one(&mut publisher, "new/n", 1).await;
    publish_one(&mut publisher, "old/n", 2).await;
    let (mut on_a, connack) = connect_again(&a, &keeper).await;
    assert!(connack.session_present);
    assert_eq!(
        receive(&mut on_a, 1, WAIT).await,
        [1],
        "b's session, not a's old one"
    );
    on_a.expect_silence().await;
}

/// The persistent session of `publisher` connected to `a`, having taken a
/// message from the stream (published on `b`): a keeps live copies of it.
async fn copied(a: &Broker, b: &Broker, publisher: &Connect<'_>) -> Raw {
    let (mut on_a, _) = Raw::connect(a, publisher).await;
    on_a.subscribe(1, "old/#", 1).await;
    let mut other = Raw::v311(b, "other").await;
    publish_one(&mut other, "old/n", 1).await;
    assert_eq!(receive(&mut on_a, 1, WAIT).await, [1]);
    quiet(&mut on_a).await;
    on_a
}

/// Send the QoS 2 PUBLISH `q2` (packet id `pid`) again, with DUP: it must
/// be answered (PUBREC, then PUBCOMP to the PUBREL).
async fn resend(client: &mut Raw, q2: &[u8], pid: u16) {
    let mut again = q2.to_vec();
    again[0] |= 0x08; // DUP
    client.send(&again).await;
    // (1 may come again first: at least once.)
    let answer = loop {
        match client.recv().await {
            Packet::Publish(p) if &p.payload[..] == b"1" => {
                client.send(&puback(p.pid.expect("QoS 1").get())).await
            }
            other => break other,
        }
    };
    assert!(
        matches!(answer, Packet::PubRec(ref r) if r.pid.get() == pid),
        "{answer:?}"
    );
    client.send(&pubrel(pid)).await;
    assert!(matches!(client.recv().await, Packet::PubComp(r) if r.pid.get() == pid));
}

/// Point the QoS 1/2 stream at `subjects`: with none of the nodes'
/// subjects among them, JetStream takes nothing and the nodes retry.
async fn stream_subjects(url: &str, subjects: &[&str]) {
    subjects_of(url, "kite_messages", subjects).await;
}

/// Point the JetStream stream `name` at `subjects`.
async fn subjects_of(url: &str, name: &str, subjects: &[&str]) {
    let client = async_nats::connect(url).await.expect("NATS");
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(name).await.expect("the stream");
    let mut config = stream.info().await.expect("its config").config.clone();
    config.subjects = subjects.iter().map(|s| s.to_string()).collect();
    js.update_stream(config).await.expect("updated");
}

#[tokio::test]
async fn a_qos_2_publish_the_stream_had_not_taken_when_its_node_died_is_routed_when_sent_again() {
    let (nats, a, b) = two_nodes().await;
    let (mut sub, _) = Raw::connect(&b, &Connect::v311("sub").clean(false)).await;
    sub.subscribe(1, "q2/#", 2).await;
    // The publisher's session on a took a message from the stream: a keeps
    // live copies of it.
    let publisher = Connect::v311("q2-pub").clean(false);
    let mut on_a = copied(&a, &b, &publisher).await;
    // JetStream stops taking QoS 1/2 messages; a QoS 2 PUBLISH to a waits
    // in a's retries, its packet id in a's session.
    stream_subjects(&nats.url, &["KQ.held.>"]).await;
    let q2 = publish(false, "q2/x", b"once", 2, 7, false, &[]);
    on_a.send(&q2).await;
    // Time for a copy of the session to land, had it gone beside the
    // stream write (it must wait for it).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.signal("-KILL");
    drop(on_a);
    stream_subjects(&nats.url, &["KQ.m.>", "KQ.s.>"]).await;
    // The client sends it again to b: the rebuilt session must not take it
    // for one it had (it would answer PUBREC and drop it: lost).
    let (mut on_b, connack) = connect_again(&b, &publisher).await;
    assert!(connack.session_present, "rebuilt from a's copy");
    resend(&mut on_b, &q2, 7).await;
    let got = sub.publish().await;
    assert_eq!(&got.payload[..], b"once");
    sub.send(&pubrec(got.pid.expect("QoS 2").get())).await;
    assert!(matches!(sub.recv().await, Packet::PubRel(_)));
    sub.expect_silence().await;
}

#[tokio::test]
async fn a_qos_2_publish_stored_when_its_node_died_before_answering_is_not_routed_again() {
    let (nats, a, b) = two_nodes().await;
    // Not persistent: its deliveries wait for no copy of its own.
    let (mut sub, _) = Raw::connect(&b, &Connect::v311("sub")).await;
    sub.subscribe(1, "q2/#", 2).await;
    let publisher = Connect::v311("q2-stored").clean(false);
    let mut on_a = copied(&a, &b, &publisher).await;
    // A first QoS 2 message, all the way: a's copy of the session is fresh.
    on_a.send(&publish(false, "q2/x", b"first", 2, 6, false, &[]))
        .await;
    assert!(matches!(on_a.recv().await, Packet::PubRec(r) if r.pid.get() == 6));
    on_a.send(&pubrel(6)).await;
    assert!(matches!(on_a.recv().await, Packet::PubComp(r) if r.pid.get() == 6));
    let first = sub.publish().await;
    assert_eq!(&first.payload[..], b"first");
    sub.send(&pubrec(first.pid.expect("QoS 2").get())).await;
    assert!(matches!(sub.recv().await, Packet::PubRel(_)));
    // The owner records stop taking writes: a stores the next QoS 2
    // message in the stream (b routes it), then its copy of the session
    // waits in a's retries, and so does the PUBREC.
    subjects_of(&nats.url, "KV_kite_owners", &["$KV.held.>"]).await;
    let q2 = publish(false, "q2/x", b"once", 2, 7, false, &[]);
    on_a.send(&q2).await;
    let got = sub.publish().await;
    assert_eq!(&got.payload[..], b"once");
    sub.send(&pubrec(got.pid.expect("QoS 2").get())).await;
    assert!(matches!(sub.recv().await, Packet::PubRel(_)));
    a.signal("-KILL");
    drop(on_a);
    subjects_of(&nats.url, "KV_kite_owners", &["$KV.kite_owners.>"]).await;
    // The client sends it again to b: the session rebuilt from a's last
    // copy does not know its id, but a stored it: answered, not routed.
    let (mut on_b, connack) = connect_again(&b, &publisher).await;
    assert!(connack.session_present, "rebuilt from a's copy");
    resend(&mut on_b, &q2, 7).await;
    sub.expect_silence().await;
    // A new message with the same payload is routed as any.
    on_b.send(&publish(false, "q2/x", b"once", 2, 8, false, &[]))
        .await;
    assert!(matches!(on_b.recv().await, Packet::PubRec(r) if r.pid.get() == 8));
    assert_eq!(&sub.publish().await.payload[..], b"once");
}
