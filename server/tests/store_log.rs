//! The queue log (store format 3) under traffic: a SIGKILL in the middle of
//! hundreds of commit rounds loses nothing acknowledged, whether its entry
//! was still held, in a round's record, beside a state item (sent), or
//! moved by compaction (an offline session's few entries among thousands
//! acknowledged at once).

mod common;

use std::{
    collections::{BTreeSet, VecDeque},
    time::{Duration, Instant},
};

use common::*;
use mqtt::Packet;

/// Messages per burst: the publisher waits for each burst's PUBACKs, so
/// every burst is at least one commit round.
const BURST: u16 = 20;
/// Bursts before the kill: well past the 64 records after which a sparse
/// record is compacted.
const BURSTS: u16 = 250;
/// Every this many messages, one goes to the offline session too.
const KEEP_EVERY: u16 = 25;

fn number(payload: &[u8]) -> u16 {
    u16::from_be_bytes([payload[0], payload[1]])
}

/// The online subscriber: acknowledges what it gets 10 ms later (past the
/// store's 5 ms hold, so its entries are written and then marked dead),
/// until the broker dies. Returns the numbers it acknowledged.
async fn acknowledge_until_closed(mut sub: Raw) -> BTreeSet<u16> {
    let late = Duration::from_millis(10);
    let mut acknowledged = BTreeSet::new();
    let mut waiting: VecDeque<(Instant, u16, u16)> = VecDeque::new();
    loop {
        let got = sub.next_within(Duration::from_millis(2)).await;
        while let Some(&(at, pid, n)) = waiting.front() {
            if at.elapsed() < late {
                break;
            }
            waiting.pop_front();
            if !sub.try_send(&puback(pid)).await {
                return acknowledged;
            }
            acknowledged.insert(n);
        }
        match got {
            Ok(Some(Packet::Publish(p))) => {
                let pid = p.pid.expect("QoS 1").get();
                waiting.push_back((Instant::now(), pid, number(&p.payload)));
            }
            Ok(Some(other)) => panic!("online subscriber got {other:?}"),
            Err(()) => {} // nothing within 2 ms
            Ok(None) => return acknowledged,
        }
    }
}

/// Read PUBLISHes until `wanted` were all seen (acknowledging each);
/// returns everything seen, in order.
async fn collect(sub: &mut Raw, wanted: &BTreeSet<u16>) -> Vec<u16> {
    let mut seen = Vec::new();
    let mut missing = wanted.clone();
    while !missing.is_empty() {
        match sub.next_within(WAIT).await {
            Ok(Some(Packet::Publish(p))) => {
                sub.send(&puback(p.pid.expect("QoS 1").get())).await;
                let n = number(&p.payload);
                missing.remove(&n);
                seen.push(n);
            }
            other => panic!(
                "{} acknowledged messages never came back (first {:?}); got {other:?}",
                missing.len(),
                missing.first()
            ),
        }
    }
    seen
}

/// `count` bursts of QoS 1 messages numbered on from `n`, each burst's
/// PUBACKs awaited; the numbers acknowledged go into `acknowledged`.
async fn bursts(publisher: &mut Raw, n: &mut u16, count: u16, acknowledged: &mut BTreeSet<u16>) {
    for _ in 0..count {
        publisher.send(&burst(n)).await;
        for _ in 0..BURST {
            match publisher.recv().await {
                Packet::PubAck(ack) => assert!(acknowledged.insert(ack.pid.get())),
                other => panic!("expected PUBACK, got {other:?}"),
            }
        }
        assert_eq!(acknowledged.last(), Some(&*n));
    }
}

/// The next [`BURST`] PUBLISHes, numbered on from `n` (packet id = number).
fn burst(n: &mut u16) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..BURST {
        *n += 1;
        let topic = if *n % KEEP_EVERY == 0 {
            "load/keep"
        } else {
            "load/drop"
        };
        let payload = [n.to_be_bytes().as_slice(), &[0x5a; 62]].concat();
        bytes.extend(publish(false, topic, &payload, 1, *n, false, &[]));
    }
    bytes
}

/// After the restart: `owed` all come, in order; whatever else comes was
/// published (at most `n`), was not owed, and comes once (at least once
/// allows a message whose PUBACK, or whose subscriber's acknowledgement,
/// the kill cut off).
async fn owed_come_back(sub: &mut Raw, owed: &BTreeSet<u16>, n: u16) {
    let seen = collect(sub, owed).await;
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "in order, each once: {seen:?}"
    );
    let mut seen: BTreeSet<u16> = seen.into_iter().collect();
    while let Ok(Some(Packet::Publish(p))) = sub.next_within(Duration::from_secs(1)).await {
        let extra = number(&p.payload);
        assert!(extra <= n && !owed.contains(&extra), "{extra} was not owed");
        assert!(seen.insert(extra), "{extra} came twice after the restart");
        sub.send(&puback(p.pid.expect("QoS 1").get())).await;
    }
}

#[tokio::test]
async fn a_sigkill_under_traffic_loses_nothing_acknowledged_from_the_log() {
    let broker = Broker::start().await;
    let (mut offline, _) = Raw::connect(&broker, &Connect::v311("offline").clean(false)).await;
    offline.subscribe(1, "load/keep", 1).await;
    offline.send(&DISCONNECT).await;
    offline.expect_closed().await;
    let (mut online, _) = Raw::connect(&broker, &Connect::v311("online").clean(false)).await;
    online.subscribe(1, "load/#", 1).await;
    let online = tokio::spawn(acknowledge_until_closed(online));
    let mut publisher = Raw::v311(&broker, "publisher").await;
    let mut acknowledged = BTreeSet::new();
    let mut n: u16 = 0;

    bursts(&mut publisher, &mut n, BURSTS / 2, &mut acknowledged).await;
    assert!(
        broker.log().contains("sparse queue records compacted"),
        "the offline session's entries were moved by compaction"
    );
    // The offline session looks in: takes half its backlog (entries moved
    // by compaction go), leaves the rest sent but unacknowledged (their
    // new state goes beside them), and leaves again.
    let (mut offline, _) = Raw::connect(&broker, &Connect::v311("offline").clean(false)).await;
    let backlog = (n / KEEP_EVERY) as usize;
    let mut took_offline = BTreeSet::new();
    for i in 0..backlog {
        let p = offline.publish().await;
        let k = number(&p.payload);
        assert_eq!(k, (i as u16 + 1) * KEEP_EVERY, "the backlog in order");
        if i < backlog / 2 {
            offline.send(&puback(p.pid.expect("QoS 1").get())).await;
            took_offline.insert(k);
        }
    }
    offline.send(&DISCONNECT).await;
    offline.expect_closed().await;

    bursts(&mut publisher, &mut n, BURSTS / 2, &mut acknowledged).await;
    // A last burst, killed while its PUBACKs are on their way.
    publisher.send(&burst(&mut n)).await;
    if let Ok(Some(Packet::PubAck(ack))) = publisher.next_within(WAIT).await {
        acknowledged.insert(ack.pid.get());
    }
    let broker = broker.restart(Stop::Crash).await;
    let taken = online.await.expect("the online subscriber's task");

    // The offline session: every acknowledged message of its topic it did
    // not take, in order.
    let owed: BTreeSet<u16> = acknowledged
        .iter()
        .copied()
        .filter(|n| n % KEEP_EVERY == 0 && !took_offline.contains(n))
        .collect();
    assert!(owed.len() >= (BURSTS * BURST / KEEP_EVERY) as usize / 2);
    let (mut offline, connack) =
        Raw::connect(&broker, &Connect::v311("offline").clean(false)).await;
    assert!(connack.session_present);
    owed_come_back(&mut offline, &owed, n).await;

    // The online session: every acknowledged message it had not taken.
    let owed: BTreeSet<u16> = acknowledged.difference(&taken).copied().collect();
    let (mut online, connack) = Raw::connect(&broker, &Connect::v311("online").clean(false)).await;
    assert!(connack.session_present);
    owed_come_back(&mut online, &owed, n).await;
}
