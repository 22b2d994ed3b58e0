//! Shared subscriptions across the cluster (real `nats-server -js`, real
//! `kite-server` nodes): each message that matches a group reaches one
//! member of the group cluster-wide, whichever node published it, and the
//! members on every node get their share; a member's node SIGKILLed, the
//! acknowledged QoS 1 messages it held unacknowledged reach a surviving
//! member, and those a member that leaves held go to another at once; the
//! stream's leader SIGKILLed (three nats-servers), every acknowledged
//! message still reaches the group; a persistent member parked on a node
//! that is SIGKILLed gets its share where it returns; once the last member
//! anywhere left, the group takes no messages.

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::*;
use mqtt::Packet;
use tokio::time::Instant;

const GROUP: &str = "$share/workers/jobs/#";

async fn node(url: &str, name: &str) -> Broker {
    cluster_node(url, name).await
}

/// A member of [`GROUP`] on `broker`, granted QoS 2.
async fn member(broker: &Broker, id: &str) -> Raw {
    let mut client = Raw::v5(broker, id).await;
    assert_eq!(client.subscribe(1, GROUP, 2).await, 2);
    client
}

/// Everything a client receives (acknowledging QoS 1 and 2) into `got`,
/// until `quiet` passes without a packet or the connection closes.
async fn collect(client: Raw, got: Arc<Mutex<Vec<String>>>, quiet: Duration) -> Raw {
    receive(client, got, quiet, true).await
}

/// As [`collect`]; without `ack`, QoS 1/2 messages stay unacknowledged.
async fn receive(mut client: Raw, got: Arc<Mutex<Vec<String>>>, quiet: Duration, ack: bool) -> Raw {
    loop {
        let packet = match client.next_within(quiet).await {
            Ok(Some(packet)) => packet,
            Ok(None) | Err(()) => return client,
        };
        match packet {
            Packet::Publish(p) => {
                match (p.qos, p.pid) {
                    _ if !ack => {}
                    (mqtt::QoS::AtLeastOnce, Some(pid)) => client.send(&puback(pid.get())).await,
                    (mqtt::QoS::ExactlyOnce, Some(pid)) => client.send(&pubrec(pid.get())).await,
                    _ => {}
                }
                let text = std::str::from_utf8(&p.payload).expect("UTF-8").to_string();
                got.lock().unwrap().push(text);
            }
            Packet::PubRel(ack) => client.send(&pubcomp(ack.pid.get())).await,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// A persistent member of [`GROUP`] (QoS 1) on `node` that left: its
/// session is parked there.
async fn park_member(node: &Broker, member: &Connect<'_>) {
    let (mut client, _) = Raw::connect(node, member).await;
    assert_eq!(client.subscribe(1, GROUP, 1).await, 1);
    client.send(&DISCONNECT).await;
    client.expect_closed().await;
}

/// Publish `n` numbered QoS 1 jobs from `node`, each acknowledged.
async fn publish_jobs(node: &Broker, n: u16) -> Vec<String> {
    let mut publisher = Raw::v5(node, "publisher").await;
    let sent: Vec<String> = (0..n).map(|n| n.to_string()).collect();
    for (n, payload) in sent.iter().enumerate() {
        let code = publisher
            .publish_acked("jobs/x", payload.as_bytes(), 1, n as u16 + 1, false, &[])
            .await;
        assert!(code.is_success());
    }
    sent
}

/// How many times each payload arrived, over all of `lists`.
fn counts(lists: &[&Arc<Mutex<Vec<String>>>]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for list in lists {
        for payload in list.lock().unwrap().iter() {
            *counts.entry(payload.clone()).or_insert(0) += 1;
        }
    }
    counts
}

#[tokio::test]
async fn each_message_reaches_exactly_one_member_cluster_wide_at_every_qos() {
    let nats = Nats::start();
    let nodes = [
        node(&nats.url, "a").await,
        node(&nats.url, "b").await,
        node(&nats.url, "c").await,
    ];
    one_member_each(&nodes).await;
}

#[tokio::test]
async fn each_node_on_its_own_nats_server_each_message_reaches_one_member() {
    let nats = NatsCluster::start();
    let nodes = [
        node(&nats.urls[0], "a").await,
        node(&nats.urls[1], "b").await,
        node(&nats.urls[2], "c").await,
    ];
    one_member_each(&nodes).await;
}

/// Members on the first two `nodes`, publishers on all three, QoS 0, 1
/// and 2: each message reaches one member, and every member some.
async fn one_member_each(nodes: &[Broker; 3]) {
    // Two members on a, one on b, none on c; an ordinary subscriber on a to
    // the same topics must not make a's members get a message twice.
    let members = [
        ("a1", member(&nodes[0], "a1").await),
        ("a2", member(&nodes[0], "a2").await),
        ("b1", member(&nodes[1], "b1").await),
    ];
    let mut plain = Raw::v5(&nodes[0], "plain-on-a").await;
    assert_eq!(plain.subscribe(1, "jobs/#", 1).await, 1);
    let plain_got = Arc::new(Mutex::new(Vec::new()));
    let plain_task = tokio::spawn(collect(plain, plain_got.clone(), Duration::from_secs(4)));
    let mut tasks = Vec::new();
    let mut lists = Vec::new();
    for (name, client) in members {
        let got = Arc::new(Mutex::new(Vec::new()));
        lists.push((name, got.clone()));
        tasks.push(tokio::spawn(collect(client, got, Duration::from_secs(4))));
    }
    let mut publishers = Vec::new();
    for (i, broker) in nodes.iter().enumerate() {
        publishers.push(Raw::v5(broker, &format!("pub-{i}")).await);
    }
    const EACH: u16 = 60;
    let started = Instant::now();
    let mut sent = Vec::new();
    for qos in 0..=2u8 {
        for n in 0..EACH {
            for (i, publisher) in publishers.iter_mut().enumerate() {
                let payload = format!("q{qos}-p{i}-{n}");
                publish_accepted(
                    publisher,
                    &format!("jobs/{i}"),
                    payload.as_bytes(),
                    qos,
                    n + 1,
                )
                .await;
                sent.push(payload);
            }
        }
    }
    let published = started.elapsed();
    for task in tasks {
        task.await.unwrap();
    }
    plain_task.await.unwrap();
    let got: Vec<&Arc<Mutex<Vec<String>>>> = lists.iter().map(|(_, l)| l).collect();
    let counts = counts(&got);
    let missing: Vec<&String> = sent.iter().filter(|p| !counts.contains_key(*p)).collect();
    let twice: Vec<(&String, &usize)> = counts.iter().filter(|(_, &n)| n > 1).collect();
    let per_member: Vec<(&str, usize)> = lists
        .iter()
        .map(|(name, l)| (*name, l.lock().unwrap().len()))
        .collect();
    eprintln!(
        "{} messages from 3 nodes in {published:?}; per member {per_member:?} (a1, a2 on a)",
        sent.len()
    );
    assert!(
        missing.is_empty(),
        "never delivered to the group: {missing:?}"
    );
    assert!(
        twice.is_empty(),
        "delivered to the group more than once: {twice:?}"
    );
    assert_eq!(counts.len(), sent.len(), "nothing else arrived");
    for qos in 0..=2 {
        let prefix = format!("q{qos}-");
        for (name, list) in &lists {
            let got = list.lock().unwrap();
            let share = got.iter().filter(|p| p.starts_with(&prefix)).count();
            assert!(
                share > 0,
                "member {name} got no QoS {qos} message: {per_member:?}"
            );
        }
    }
    // The ordinary subscriber got every message once, beside the group.
    let plain = counts_of(&plain_got);
    assert_eq!(
        plain.len(),
        sent.len(),
        "the ordinary subscriber's messages"
    );
    assert!(plain.values().all(|&n| n == 1));
}

fn counts_of(list: &Arc<Mutex<Vec<String>>>) -> HashMap<String, usize> {
    counts(&[list])
}

#[tokio::test]
async fn a_members_node_killed_what_it_held_unacknowledged_reaches_a_survivor() {
    let nats = Nats::start();
    let (a, b, c) = (
        node(&nats.url, "a").await,
        node(&nats.url, "b").await,
        node(&nats.url, "c").await,
    );
    // The member on a receives but never acknowledges: its node must not
    // acknowledge those messages to JetStream either.
    let on_a = Arc::new(Mutex::new(Vec::new()));
    let on_b = Arc::new(Mutex::new(Vec::new()));
    let task_a = tokio::spawn(receive(
        member(&a, "holder").await,
        on_a.clone(),
        Duration::from_secs(60),
        false,
    ));
    let task_b = tokio::spawn(collect(
        member(&b, "survivor").await,
        on_b.clone(),
        Duration::from_secs(60),
    ));
    let mut publisher = Raw::v5(&c, "pub-on-c").await;
    let mut acknowledged = Vec::new();
    let mut killed_at = None;
    for n in 0..600u16 {
        let payload = n.to_string();
        let code = publisher
            .publish_acked("jobs/x", payload.as_bytes(), 1, n + 1, false, &[])
            .await;
        if code.is_success() {
            acknowledged.push(payload);
        }
        if n == 300 {
            a.signal("-KILL");
            killed_at = Some(Instant::now());
        }
    }
    let killed_at = killed_at.expect("killed");
    let held = on_a.lock().unwrap().len();
    assert!(held > 0, "the member on a got nothing before its node died");
    // The survivor gets every acknowledged message, what a held after
    // JetStream's ack wait (10 s).
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let got = counts_of(&on_b);
        let missing = acknowledged
            .iter()
            .filter(|p| !got.contains_key(*p))
            .count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} acknowledged messages never reached the survivor ({held} held on a, {} on b)",
            acknowledged.len(),
            on_b.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let twice = counts_of(&on_b).values().filter(|&&n| n > 1).count();
    eprintln!(
        "{} acknowledged; {held} held unacknowledged on a when it was killed; all on b {:?} after the kill ({twice} twice on b)",
        acknowledged.len(),
        killed_at.elapsed()
    );
    assert_eq!(twice, 0, "the survivor got a message twice");
    task_a.abort();
    task_b.abort();
}

#[tokio::test]
async fn a_member_that_leaves_gives_what_it_held_to_another_member_at_once() {
    let nats = Nats::start();
    let (a, b) = (node(&nats.url, "a").await, node(&nats.url, "b").await);
    let held = Arc::new(Mutex::new(Vec::new()));
    let on_b = Arc::new(Mutex::new(Vec::new()));
    let holder = tokio::spawn(receive(
        member(&a, "holder").await,
        held.clone(),
        Duration::from_secs(3),
        false,
    ));
    let taker = tokio::spawn(collect(
        member(&b, "taker").await,
        on_b.clone(),
        Duration::from_secs(30),
    ));
    let mut publisher = Raw::v5(&b, "publisher").await;
    let sent: Vec<String> = (0..100).map(|n: u16| n.to_string()).collect();
    for (n, payload) in sent.iter().enumerate() {
        let code = publisher
            .publish_acked("jobs/x", payload.as_bytes(), 1, n as u16 + 1, false, &[])
            .await;
        assert!(code.is_success());
    }
    // The holder's connection ends (its clean session with it) after 3 s
    // of quiet: well before JetStream's ack wait (10 s), the taker has all.
    let holder = holder.await.unwrap();
    let left = Instant::now();
    drop(holder);
    assert!(!held.lock().unwrap().is_empty(), "the holder got nothing");
    loop {
        let got = counts_of(&on_b);
        if sent.iter().all(|p| got.contains_key(p)) {
            break;
        }
        assert!(
            left.elapsed() < Duration::from_secs(5),
            "{} of {} after the holder left",
            got.len(),
            sent.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "the holder kept {} unacknowledged; the taker had them {:?} after it left",
        held.lock().unwrap().len(),
        left.elapsed()
    );
    taker.abort();
}

#[tokio::test]
async fn a_persistent_member_away_gets_its_share_when_it_returns() {
    let nats = Nats::start();
    let (a, b) = (node(&nats.url, "a").await, node(&nats.url, "b").await);
    let away = Connect::v311("away").clean(false);
    park_member(&a, &away).await;
    let on_b = Arc::new(Mutex::new(Vec::new()));
    let present = tokio::spawn(collect(
        member(&b, "present").await,
        on_b.clone(),
        Duration::from_secs(3),
    ));
    let sent = publish_jobs(&b, 40).await;
    present.await.unwrap();
    // Its node kept its share in its session (acknowledged to JetStream
    // once a snapshot of the session held it): it comes when the client
    // does.
    let (client, connack) = Raw::connect(&a, &away).await;
    assert!(connack.session_present);
    let on_a = Arc::new(Mutex::new(Vec::new()));
    collect(client, on_a.clone(), Duration::from_secs(3)).await;
    let got = counts(&[&on_a, &on_b]);
    assert!(!on_a.lock().unwrap().is_empty(), "the away member's share");
    assert!(
        !on_b.lock().unwrap().is_empty(),
        "the present member's share"
    );
    assert_eq!(got.len(), sent.len(), "every message: {got:?}");
    assert!(got.values().all(|&n| n == 1), "each once: {got:?}");
}

#[tokio::test]
async fn a_persistent_member_parked_on_a_node_that_dies_gets_its_share_where_it_returns() {
    let nats = Nats::start();
    let (a, b) = (node(&nats.url, "a").await, node(&nats.url, "b").await);
    let away = Connect::v311("away").clean(false);
    park_member(&a, &away).await;
    // The only member: every message is its turn, queued in its session
    // parked on a.
    let sent = publish_jobs(&b, 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.signal("-KILL");
    // The client returns to b: its session, rebuilt there from a's
    // snapshot, has its share (a snapshot that held them was kept before
    // the group counted them delivered; one that did not would leave them
    // to the group, which gives them to the member again on b).
    let (client, connack) = connect_again(&b, &away).await;
    assert!(connack.session_present);
    let got = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut client = client;
    while counts_of(&got).len() < sent.len() && Instant::now() < deadline {
        client = collect(client, got.clone(), Duration::from_secs(1)).await;
    }
    let got = counts_of(&got);
    assert_eq!(
        got.len(),
        sent.len(),
        "every message, at least once: {got:?}"
    );
}

#[tokio::test]
async fn once_the_last_member_anywhere_left_the_group_takes_no_messages() {
    let nats = Nats::start();
    let (a, b) = (node(&nats.url, "a").await, node(&nats.url, "b").await);
    let first = member(&a, "first").await;
    let second = member(&b, "second").await;
    let mut publisher = Raw::v5(&b, "publisher").await;
    // Both members leave (clean sessions end with their connections).
    first.drop_socket();
    second.drop_socket();
    // Past the last pull's expiry and the consumer's linger (10 s).
    tokio::time::sleep(Duration::from_secs(20)).await;
    for (qos, pid) in [(0, 1), (1, 2), (2, 3)] {
        let payload = format!("nobody-{qos}");
        publisher
            .publish_acked("jobs/x", payload.as_bytes(), qos, pid, false, &[])
            .await;
    }
    let mut late = member(&a, "late").await;
    for (qos, pid) in [(0, 4), (1, 5), (2, 6)] {
        let payload = format!("after-{qos}");
        publisher
            .publish_acked("jobs/x", payload.as_bytes(), qos, pid, false, &[])
            .await;
    }
    let got = Arc::new(Mutex::new(Vec::new()));
    late = collect(late, got.clone(), Duration::from_secs(3)).await;
    let mut got = got.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, ["after-0", "after-1", "after-2"]);
    drop(late);
}

#[tokio::test]
async fn the_stream_leader_killed_acknowledged_messages_still_reach_the_group() {
    let mut nats = NatsCluster::start();
    let urls = nats.urls.join(",");
    let (a, b) = (node(&urls, "a").await, node(&urls, "b").await);
    let on_a = Arc::new(Mutex::new(Vec::new()));
    let on_b = Arc::new(Mutex::new(Vec::new()));
    let quiet = Duration::from_secs(90);
    let task_a = tokio::spawn(collect(member(&a, "ma").await, on_a.clone(), quiet));
    let task_b = tokio::spawn(collect(member(&b, "mb").await, on_b.clone(), quiet));
    let mut publisher = Raw::v5(&a, "pub").await;
    let leader = nats.wait_stream_leader("kite_messages").await;
    // 50 before the kill, then on until 100 more are acknowledged (a
    // publish refused during the election is not counted).
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    let started = Instant::now();
    let mut n = 0u16;
    while acknowledged.len() < 150 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{} acknowledged, {refused} refused\n{}",
            acknowledged.len(),
            a.log()
        );
        if n == 50 {
            nats.kill(leader);
        }
        publisher
            .send(&publish(
                true,
                "jobs/n",
                n.to_string().as_bytes(),
                1,
                n + 1,
                false,
                &[],
            ))
            .await;
        match publisher.next_within(Duration::from_secs(30)).await {
            Ok(Some(Packet::PubAck(ack))) if ack.reason.is_success() => {
                acknowledged.push(n.to_string())
            }
            Ok(Some(Packet::PubAck(_))) => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(Some(Packet::Disconnect(_))) | Ok(None) => publisher = Raw::v5(&a, "pub").await,
            other => panic!("{n}: {other:?}"),
        }
        n += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = counts(&[&on_a, &on_b]);
        let missing: Vec<&String> = acknowledged
            .iter()
            .filter(|p| !got.contains_key(*p))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged, never delivered to the group: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = counts(&[&on_a, &on_b]);
    let twice = got.values().filter(|&&n| n > 1).count();
    eprintln!(
        "stream leader n{leader} killed: {} acknowledged ({refused} refused), all in the group after {:?}: a {}, b {}, {twice} twice",
        acknowledged.len(),
        started.elapsed(),
        on_a.lock().unwrap().len(),
        on_b.lock().unwrap().len()
    );
    task_a.abort();
    task_b.abort();
}
