//! The cluster page's model: nodes from `$SYS/brokers/<node-id>/...`, up,
//! waiting and down, rates, and the dashboard's own node.

use std::collections::BTreeMap;

use kite_convention::sys::{node_topic, topic};

use super::*;

/// One publication of a node's figures at `at_ms`, as the broker sends it.
fn publish(cluster: &mut Cluster, node: &str, at_ms: u64, figures: &[(&str, &str)]) {
    for (stat, value) in figures {
        assert!(cluster.apply(&node_topic(node, stat), value.as_bytes(), at_ms));
    }
}

/// A node's figures `seconds` after it started, with `clients` connected
/// and `per_second` messages in and twice that out since its start.
fn tick(
    cluster: &mut Cluster,
    node: &str,
    at_ms: u64,
    seconds: u64,
    clients: u32,
    per_second: u64,
) {
    let uptime = format!("{seconds} seconds");
    let clients = clients.to_string();
    let received = (seconds * per_second).to_string();
    let sent = (seconds * per_second * 2).to_string();
    publish(
        cluster,
        node,
        at_ms,
        &[
            (VERSION, "kite 0.1.0"),
            (UPTIME, &uptime),
            (CLIENTS_CONNECTED, &clients),
            (CLIENTS_TOTAL, &clients),
            (SUBSCRIPTIONS_COUNT, "4"),
            (MESSAGES_RECEIVED, &received),
            (MESSAGES_SENT, &sent),
        ],
    );
}

fn row<'a>(rows: &'a [NodeRow], id: &str) -> &'a NodeRow {
    rows.iter().find(|r| r.id == id).expect(id)
}

#[test]
fn other_topics_are_not_the_clusters() {
    let mut cluster = Cluster::default();
    assert!(!cluster.apply(&topic(UPTIME), b"5 seconds", 0));
    assert!(!cluster.apply("$SYS/brokers/east", b"1", 0));
    assert!(!cluster.apply("devices/x", b"1", 0));
    assert!(
        cluster.is_empty(),
        "a single node publishes no $SYS/brokers"
    );
    assert_eq!(cluster.rows(0), []);
}

#[test]
fn nodes_whose_figures_keep_changing_are_up_with_their_figures() {
    let mut cluster = Cluster::default();
    for (i, at) in [0u64, 1_000, 2_000].into_iter().enumerate() {
        tick(&mut cluster, "west", at, 10 + i as u64, 3, 50);
        tick(&mut cluster, "east", at + 100, 20 + i as u64, 1, 10);
    }
    let rows = cluster.rows(2_500);
    assert_eq!(
        rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["east", "west"],
        "by id"
    );
    let west = row(&rows, "west");
    assert_eq!(west.state, NodeState::Up);
    assert_eq!(west.clients_connected, Some(3.0));
    assert_eq!(west.clients_total, Some(3.0));
    assert_eq!(west.subscriptions, Some(4.0));
    assert_eq!(west.uptime_s, Some(12.0));
    assert_eq!(west.version.as_deref(), Some("kite 0.1.0"));
    assert_eq!(west.interval_s, 1.0, "from the steps of its uptime");
    assert_eq!(west.messages_in_rate, Some(50.0));
    assert_eq!(west.messages_out_rate, Some(100.0));
    assert_eq!(west.quiet_ms, 500);
    assert_eq!(row(&rows, "east").messages_in_rate, Some(10.0));
    assert_eq!(cluster.up_count(2_500), (2, 2));
}

#[test]
fn a_node_whose_figures_stop_is_down_after_three_intervals() {
    let mut cluster = Cluster::default();
    for (i, at) in [0u64, 2_000, 4_000].into_iter().enumerate() {
        tick(&mut cluster, "east", at, 2 * i as u64, 1, 1);
        tick(&mut cluster, "west", at, 100 + 2 * i as u64, 1, 1);
    }
    // west stops at 4 s; east goes on.
    for at in [6_000u64, 8_000, 9_900] {
        tick(&mut cluster, "east", at, at / 1000, 1, 1);
        let state = row(&cluster.rows(at), "west").state;
        assert_eq!(state, NodeState::Up, "quiet {} ms of 6,000", at - 4_000);
    }
    tick(&mut cluster, "east", 10_000, 10, 1, 1);
    let rows = cluster.rows(10_000);
    let west = row(&rows, "west");
    assert_eq!((west.state, west.interval_s), (NodeState::Down, 2.0));
    assert_eq!(
        west.messages_in_rate, None,
        "no rate for a node that is down"
    );
    assert_eq!(west.clients_connected, Some(1.0), "its last figures stay");
    assert_eq!(row(&rows, "east").state, NodeState::Up);
    assert_eq!(cluster.up_count(10_000), (1, 2));
    // It comes back, restarted: up again, its interval read afresh.
    tick(&mut cluster, "west", 11_000, 0, 0, 1);
    tick(&mut cluster, "west", 12_000, 1, 0, 1);
    let west = row(&cluster.rows(12_000), "west").clone();
    assert_eq!((west.state, west.interval_s), (NodeState::Up, 1.0));
}

#[test]
fn retained_last_figures_of_a_dead_node_are_not_taken_for_life() {
    let mut cluster = Cluster::default();
    // Connecting: both nodes' retained last figures arrive at once.
    tick(&mut cluster, "east", 0, 500, 2, 10);
    tick(&mut cluster, "gone", 0, 90, 7, 10);
    assert_eq!(row(&cluster.rows(0), "gone").state, NodeState::Waiting);
    // east publishes every second; gone never again.
    for s in 1..=6u64 {
        tick(&mut cluster, "east", s * 1_000, 500 + s, 2, 10);
    }
    let rows = cluster.rows(3_000);
    assert_eq!(row(&rows, "east").state, NodeState::Up);
    let gone = row(&rows, "gone");
    assert_eq!(gone.state, NodeState::Waiting, "under the 5 s floor");
    assert_eq!(
        gone.interval_s, 1.0,
        "east's interval stands in for its own"
    );
    let rows = cluster.rows(6_000);
    assert_eq!(row(&rows, "gone").state, NodeState::Down);
    assert_eq!(row(&rows, "gone").clients_connected, Some(7.0));
    // The same retained figures heard again (a reconnect) change nothing.
    tick(&mut cluster, "gone", 6_500, 90, 7, 10);
    assert_eq!(row(&cluster.rows(6_500), "gone").state, NodeState::Down);
}

#[test]
fn without_an_interval_three_default_intervals_pass() {
    let mut cluster = Cluster::default();
    tick(&mut cluster, "only", 0, 5, 0, 0);
    let only = row(&cluster.rows(29_999), "only").clone();
    assert_eq!((only.state, only.interval_s), (NodeState::Waiting, 10.0));
    assert_eq!(row(&cluster.rows(30_000), "only").state, NodeState::Down);
}

#[test]
fn rates_start_from_live_samples_and_skip_a_restart() {
    let mut cluster = Cluster::default();
    // The retained sample (published long before we connected) is no
    // start for a rate: 1000 messages in the first 1 s would be wrong.
    publish(&mut cluster, "n", 0, &[(MESSAGES_RECEIVED, "1000")]);
    publish(&mut cluster, "n", 1_000, &[(UPTIME, "1 seconds")]);
    publish(&mut cluster, "n", 1_000, &[(UPTIME, "2 seconds")]);
    publish(&mut cluster, "n", 1_000, &[(MESSAGES_RECEIVED, "2000")]);
    assert_eq!(cluster.rows(1_000)[0].messages_in_rate, None);
    publish(&mut cluster, "n", 2_000, &[(UPTIME, "3 seconds")]);
    publish(&mut cluster, "n", 2_000, &[(MESSAGES_RECEIVED, "2050")]);
    assert_eq!(cluster.rows(2_000)[0].messages_in_rate, Some(50.0));
    // Counting again from zero: no negative rate, and none until the next.
    publish(&mut cluster, "n", 3_000, &[(MESSAGES_RECEIVED, "10")]);
    assert_eq!(cluster.rows(3_000)[0].messages_in_rate, None);
    publish(&mut cluster, "n", 4_000, &[(MESSAGES_RECEIVED, "30")]);
    assert_eq!(cluster.rows(4_000)[0].messages_in_rate, Some(20.0));
}

#[test]
fn the_dashboards_own_node_is_the_one_whose_figures_are_its_own() {
    let mut cluster = Cluster::default();
    let figures = |uptime: &str, sent: &str| {
        vec![
            (UPTIME, uptime.to_owned()),
            (MESSAGES_RECEIVED, "40".to_owned()),
            (MESSAGES_SENT, sent.to_owned()),
            (BYTES_SENT, format!("{sent}00")),
        ]
    };
    // Started in the same second: equal uptimes, different traffic.
    for (node, sent) in [("east", "70"), ("west", "90")] {
        for (stat, value) in figures("8 seconds", sent) {
            cluster.apply(&node_topic(node, stat), value.as_bytes(), 0);
        }
    }
    let mut own: BTreeMap<String, String> = BTreeMap::new();
    cluster.recognise_own(&own);
    assert_eq!(cluster.own(), None, "nothing to compare yet");
    own.insert(UPTIME.into(), "8 seconds".into());
    own.insert(MESSAGES_RECEIVED.into(), "40".into());
    cluster.recognise_own(&own);
    assert_eq!(cluster.own(), None, "two figures fit both nodes");
    own.extend(
        figures("8 seconds", "90")
            .into_iter()
            .map(|(s, v)| (s.into(), v)),
    );
    cluster.recognise_own(&own);
    assert_eq!(cluster.own(), Some("west"));
    let rows = cluster.rows(0);
    assert!(row(&rows, "west").own && !row(&rows, "east").own);
    // Between a node's two publications of a figure it sticks.
    own.insert(MESSAGES_SENT.into(), "95".into());
    cluster.recognise_own(&own);
    assert_eq!(cluster.own(), Some("west"));
}
