//! Wills across the cluster (a real `nats-server -js` and real
//! `kite-server` nodes): each will fires exactly once cluster-wide. A node
//! SIGKILLed has its clients' wills published by a survivor (once, even
//! with two survivors racing) within [`DEATH_BOUND`]: the lease lasts 5 s,
//! is read every second, and a will is published once adopted. A will
//! delay (MQTT 5) is honoured, and cancelled by a client back in time on
//! another node; a clean DISCONNECT fires none, a network drop and a
//! takeover from another node and a keepalive timeout fire it once (not
//! again when that node dies later); a persistent session continued on
//! another node fires none; a node shut down leaves none to fire;
//! a node restarted with the same id fires what its previous run left once;
//! the same on three NATS servers (buckets with three replicas).

mod common;

use std::time::Duration;

use common::*;
use mqtt::Packet;
use tokio::time::Instant;

/// A dead node's will arrives within this: lease 5 s + 2 reads of 1 s,
/// plus room for a loaded machine.
const DEATH_BOUND: Duration = Duration::from_secs(12);

async fn node(nats: &Nats, name: &str) -> Broker {
    let node = Broker::start_with(&["--cluster", &nats.url, "--node-id", name]).await;
    ready(&node).await;
    node
}

/// A will on `will/<name>` with payload `name` (v5: with these properties).
fn will(topic: &'static str, qos: u8, props: Vec<u8>) -> Will<'static> {
    Will {
        topic,
        payload: topic.as_bytes(),
        qos,
        props,
        ..Will::default()
    }
}

/// Session Expiry Interval 300 s (CONNECT property 0x11).
fn expiry_300() -> Vec<u8> {
    prop_u32(0x11, 300)
}

/// Will Delay Interval (will property 0x18).
fn will_delay(seconds: u32) -> Vec<u8> {
    prop_u32(0x18, seconds)
}

/// A watcher of `will/#` at QoS 1.
async fn watcher(node: &Broker, id: &str) -> Raw {
    let mut watcher = Raw::v311(node, id).await;
    assert_eq!(watcher.subscribe(1, "will/#", 1).await, 1);
    watcher
}

/// Every will topic that arrives within `window`, with when it arrived
/// (acknowledging QoS 1).
async fn collect(watcher: &mut Raw, window: Duration) -> Vec<(String, Duration)> {
    let started = Instant::now();
    let deadline = started + window;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match watcher.next_within(left).await {
            Err(()) => return got,
            Ok(None) => panic!("watcher closed"),
            Ok(Some(Packet::Publish(p))) => {
                if let Some(pid) = p.pid {
                    watcher.send(&puback(pid.get())).await;
                }
                got.push((p.topic.to_string(), started.elapsed()));
            }
            Ok(Some(other)) => panic!("unexpected {other:?}"),
        }
    }
}

fn topics(got: &[(String, Duration)]) -> Vec<&str> {
    let mut topics: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    topics.sort();
    topics
}

#[tokio::test]
async fn wills_of_a_killed_node_fire_once_on_the_survivors() {
    let nats = Nats::start();
    let a = node(&nats, "a").await;
    let (b, c) = (node(&nats, "b").await, node(&nats, "c").await);
    let mut on_b = watcher(&b, "watch-b").await;
    let mut on_c = watcher(&c, "watch-c").await;
    let names = ["will/k0", "will/k1", "will/k2", "will/k3"];
    let mut clients = Vec::new();
    for (n, topic) in names.iter().enumerate() {
        let connect = Connect::v311(topic).will(will(topic, (n % 2) as u8, vec![]));
        let (mut client, _) = Raw::connect(&a, &connect).await;
        client.sync().await;
        clients.push(client);
    }
    let killed = Instant::now();
    a.signal("-KILL");
    // Both survivors race for the claim; each will arrives once at each.
    let (got_b, got_c) = tokio::join!(
        collect(&mut on_b, DEATH_BOUND + Duration::from_secs(3)),
        collect(&mut on_c, DEATH_BOUND + Duration::from_secs(3)),
    );
    let latest = got_b.iter().chain(&got_c).map(|(_, at)| *at).max();
    eprintln!(
        "SIGKILL → wills on the survivors: first {:?}, last {latest:?}",
        got_b.iter().chain(&got_c).map(|(_, at)| *at).min()
    );
    assert_eq!(topics(&got_b), names, "each will once on b");
    assert_eq!(topics(&got_c), names, "each will once on c");
    assert!(
        killed.elapsed() > DEATH_BOUND && latest.is_some_and(|at| at <= DEATH_BOUND),
        "every will within {DEATH_BOUND:?} of the SIGKILL"
    );
    let adopted = [&b, &c]
        .iter()
        .filter(|n| n.log().contains("cluster: wills of a gone node adopted"))
        .count();
    assert_eq!(adopted, 1, "one survivor claims the dead node");
}

#[tokio::test]
async fn a_killed_nodes_will_waits_its_delay_and_is_cancelled_by_a_return_elsewhere() {
    let nats = Nats::start();
    let a = node(&nats, "a").await;
    let b = node(&nats, "b").await;
    let mut on_b = watcher(&b, "watch-b").await;
    // Delayed 4 s: due 4 s after the survivor finds the node dead.
    let delayed = Connect::v5("will/delayed").props(expiry_300()).will(will(
        "will/delayed",
        1,
        will_delay(4),
    ));
    let (_delayed, _) = Raw::connect(&a, &delayed).await;
    // Delayed 6 s, but back on b before that: never published.
    let back =
        Connect::v5("will/back")
            .props(expiry_300())
            .will(will("will/back", 1, will_delay(6)));
    let (mut back_client, _) = Raw::connect(&a, &back).await;
    back_client.sync().await;
    let killed = Instant::now();
    a.signal("-KILL");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = Connect::v5("will/back").clean(false).props(expiry_300());
    // b takes the session once a's lease shows it dead (about 5 s).
    let (_back_again, connack) = Raw::try_connect_within(b.addr(), &again, Duration::from_secs(12))
        .await
        .expect("b answers");
    assert_eq!(connack.code, mqtt::ReasonCode::Success);
    let since_kill = killed.elapsed();
    let got = collect(&mut on_b, DEATH_BOUND + Duration::from_secs(8)).await;
    eprintln!("delayed will (4 s) after SIGKILL: {got:?} + {since_kill:?}");
    assert_eq!(
        topics(&got),
        ["will/delayed"],
        "the delayed will once, the other cancelled"
    );
    // From the SIGKILL: the lease's last renewal was about 1 s before, it
    // ran out 5 s after that (the connection's end, for the survivor),
    // then the 4 s delay; 2 s of slack for a late renewal.
    let at = since_kill + got[0].1;
    assert!(
        at >= Duration::from_secs(4 + 5 - 2),
        "not before the lease and the delay: {at:?}"
    );
    assert!(
        at <= DEATH_BOUND + Duration::from_secs(4),
        "within the bound and the delay: {at:?}"
    );
    assert!(killed.elapsed() >= DEATH_BOUND + Duration::from_secs(8));
}

#[tokio::test]
async fn a_clean_disconnect_fires_no_will_even_when_its_node_dies_later() {
    let nats = Nats::start();
    let a = node(&nats, "a").await;
    let b = node(&nats, "b").await;
    let mut on_b = watcher(&b, "watch-b").await;
    // CONNECT → CONNACK with a will (kept in the bucket first) and without.
    let mut timings = Vec::new();
    for with_will in [true, false] {
        let started = Instant::now();
        for n in 0..20 {
            let id = format!("clean-{with_will}-{n}");
            let mut connect = Connect::v311(&id);
            if with_will {
                connect = connect.will(will("will/clean", 1, vec![]));
            }
            let (mut client, _) = Raw::connect(&a, &connect).await;
            client.send(&DISCONNECT).await;
            client.expect_closed().await;
        }
        timings.push(started.elapsed() / 20);
    }
    eprintln!(
        "CONNECT → CONNACK → DISCONNECT on a cluster node: with a will {:?}, without {:?}",
        timings[0], timings[1]
    );
    // The wills' keys are gone before the node dies.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.signal("-KILL");
    let got = collect(&mut on_b, DEATH_BOUND).await;
    assert!(got.is_empty(), "no will after a clean DISCONNECT: {got:?}");
    assert!(
        b.log().contains("cluster: wills of a gone node adopted"),
        "b found a dead:\n{}",
        b.log()
    );
}

#[tokio::test]
async fn a_node_shut_down_leaves_no_will_for_the_others_to_fire() {
    let nats = Nats::start();
    let mut a = node(&nats, "a").await;
    let b = node(&nats, "b").await;
    let mut on_b = watcher(&b, "watch-b").await;
    let connect = Connect::v311("will/shutdown").will(will("will/shutdown", 1, vec![]));
    let (mut client, _) = Raw::connect(&a, &connect).await;
    client.sync().await;
    // As a single node: a shutdown does not fire wills, nor does b later.
    a.signal("-INT");
    assert!(a.exited(WAIT).await.success());
    let got = collect(&mut on_b, DEATH_BOUND).await;
    assert!(got.is_empty(), "no will after a shutdown: {got:?}");
    assert!(b.log().contains("cluster: wills of a gone node adopted"));
}

#[tokio::test]
async fn a_keepalive_timeout_fires_the_will_once() {
    let nats = Nats::start();
    let a = node(&nats, "a").await;
    let b = node(&nats, "b").await;
    let mut on_a = watcher(&a, "watch-a").await;
    let mut on_b = watcher(&b, "watch-b").await;
    let connect = Connect::v311("will/silent")
        .keep_alive(1)
        .will(will("will/silent", 0, vec![]));
    // Silent from now on: closed after 1.5 × 1 s.
    let (_silent, _) = Raw::connect(&a, &connect).await;
    let (got_a, got_b) = tokio::join!(
        collect(&mut on_a, Duration::from_secs(4)),
        collect(&mut on_b, Duration::from_secs(4)),
    );
    assert_eq!(topics(&got_a), ["will/silent"], "once on a");
    assert_eq!(topics(&got_b), ["will/silent"], "once on b");
}

#[tokio::test]
async fn a_network_drop_fires_the_will_once_not_again_when_the_node_dies() {
    let nats = Nats::start();
    let a = node(&nats, "a").await;
    let b = node(&nats, "b").await;
    let mut on_b = watcher(&b, "watch-b").await;
    let connect = Connect::v311("will/drop").will(will("will/drop", 1, vec![]));
    let (mut client, _) = Raw::connect(&a, &connect).await;
    client.sync().await;
    client.drop_socket();
    let got = collect(&mut on_b, Duration::from_secs(3)).await;
    assert_eq!(topics(&got), ["will/drop"], "the will at once");
    a.signal("-KILL");
    let got = collect(&mut on_b, DEATH_BOUND).await;
    assert!(got.is_empty(), "not again when a dies: {got:?}");
}

#[tokio::test]
async fn a_takeover_from_another_node_fires_the_will_once() {
    let nats = Nats::start();
    let a = node(&nats, "a").await;
    let b = node(&nats, "b").await;
    let mut on_a = watcher(&a, "watch-a").await;
    let mut on_b = watcher(&b, "watch-b").await;
    let connect = Connect::v311("will/taken").will(will("will/taken", 1, vec![]));
    let (mut first, _) = Raw::connect(&a, &connect).await;
    first.sync().await;
    // Taken over on b by a clean session: a closes the first (the session
    // ends), its will is due, the new connection's will is pending.
    let (mut second, _) = Raw::connect(&b, &connect).await;
    first.expect_closed().await;
    second.sync().await;
    let (got_a, got_b) = tokio::join!(
        collect(&mut on_a, Duration::from_secs(3)),
        collect(&mut on_b, Duration::from_secs(3)),
    );
    assert_eq!(topics(&got_a), ["will/taken"], "once on a");
    assert_eq!(topics(&got_b), ["will/taken"], "once on b");
    // The second connection's will stays pending (b still holds it): a
    // dying now fires nothing more, b dropping it fires it once.
    a.signal("-KILL");
    let got = collect(&mut on_b, DEATH_BOUND).await;
    assert!(got.is_empty(), "nothing when a dies: {got:?}");
    second.drop_socket();
    let got = collect(&mut on_b, Duration::from_secs(3)).await;
    assert_eq!(
        topics(&got),
        ["will/taken"],
        "the second connection's will, once"
    );
}

#[tokio::test]
async fn a_node_restarted_with_the_same_id_fires_its_previous_wills_once() {
    let nats = Nats::start();
    let a = node(&nats, "a").await;
    let b = node(&nats, "b").await;
    let mut on_b = watcher(&b, "watch-b").await;
    let connect = Connect::v311("will/restart").will(will("will/restart", 1, vec![]));
    let (mut client, _) = Raw::connect(&a, &connect).await;
    client.sync().await;
    let restarted = Instant::now();
    let a = a.restart(Stop::Crash).await;
    ready(&a).await;
    let restart = restarted.elapsed();
    let got = collect(&mut on_b, DEATH_BOUND).await;
    eprintln!("will of the previous run after a restart ({restart:?}): {got:?}");
    assert_eq!(topics(&got), ["will/restart"], "once");
    // Back within the lease: the new run takes its lease and adopts the will.
    assert!(
        a.log().contains("adopted=1") || b.log().contains("adopted=1"),
        "one of them adopted it"
    );
}

#[tokio::test]
async fn a_persistent_session_continued_on_another_node_fires_no_will() {
    let nats = Nats::start();
    let a = node(&nats, "a").await;
    let b = node(&nats, "b").await;
    let mut on_b = watcher(&b, "watch-b").await;
    let first = Connect::v5("will/moved")
        .props(expiry_300())
        .will(will("will/moved", 1, vec![]));
    let (mut old, _) = Raw::connect(&a, &first).await;
    old.sync().await;
    // Continued on b (clean start 0): the session did not end, no will.
    let again = Connect::v5("will/moved").clean(false).props(expiry_300());
    let (mut new, _) = Raw::connect(&b, &again).await;
    old.expect_closed().await;
    new.sync().await;
    let got = collect(&mut on_b, Duration::from_secs(2)).await;
    assert!(got.is_empty(), "no will on the takeover: {got:?}");
    // Nor when a dies later.
    a.signal("-KILL");
    let got = collect(&mut on_b, DEATH_BOUND).await;
    assert!(got.is_empty(), "no will when a dies: {got:?}");
}

#[tokio::test]
async fn on_three_nats_servers_a_killed_nodes_will_fires_once() {
    // The buckets with three replicas, each Kite node on its own server.
    let nats = NatsCluster::start();
    let start = |name: &'static str, url: String| async move {
        let node = Broker::start_with(&["--cluster", &url, "--node-id", name]).await;
        ready(&node).await;
        node
    };
    let a = start("a", nats.urls[0].clone()).await;
    let b = start("b", nats.urls[1].clone()).await;
    let mut on_b = watcher(&b, "watch-b").await;
    let connect = Connect::v311("will/r3").will(will("will/r3", 1, vec![]));
    let (mut client, _) = Raw::connect(&a, &connect).await;
    client.sync().await;
    a.signal("-KILL");
    let got = collect(&mut on_b, DEATH_BOUND + Duration::from_secs(3)).await;
    eprintln!("three NATS servers, SIGKILL → will: {got:?}");
    assert_eq!(topics(&got), ["will/r3"], "once");
    assert!(got[0].1 <= DEATH_BOUND, "within {DEATH_BOUND:?}");
    // a's deleted lease leaves nothing behind in the bucket: b's lease is
    // the only key left, so no round reads the dead forever.
    let leases_left = async {
        while nats.stream_subjects("KV_kite_nodes") != Some(1) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    within("a's lease marker purged", leases_left).await;
}

#[tokio::test]
async fn a_node_frozen_past_its_lease_closes_its_connections_without_firing_their_wills_again() {
    let nats = Nats::start();
    let a = node(&nats, "a").await;
    let b = node(&nats, "b").await;
    let mut on_b = watcher(&b, "watch-b").await;
    let connect = Connect::v5("will/frozen").will(will("will/frozen", 1, vec![]));
    let (mut client, _) = Raw::connect(&a, &connect).await;
    client.sync().await;
    // a stops renewing its lease, as a node cut off from NATS would: b
    // takes it for dead and fires the will of its client.
    a.signal("-STOP");
    let got = collect(&mut on_b, DEATH_BOUND).await;
    assert_eq!(topics(&got), ["will/frozen"], "fired by b");
    // Back, a finds its lease claimed: it ends the connection whose will
    // went out (0x9C, Use another server) and does not fire it again.
    a.signal("-CONT");
    wait_log(&a, "this node's lease was claimed", WAIT).await;
    assert_eq!(
        client.expect_disconnect().await,
        Some(mqtt::ReasonCode::UseAnotherServer)
    );
    let got = collect(&mut on_b, Duration::from_secs(3)).await;
    assert!(got.is_empty(), "no second will: {got:?}");
    // The client connects again (a is alive): no will fires while it is.
    let (mut again, _) = Raw::connect(&a, &connect).await;
    again.sync().await;
    let got = collect(&mut on_b, Duration::from_secs(2)).await;
    assert!(got.is_empty(), "{got:?}");
}
