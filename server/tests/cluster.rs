//! Two `kite-server` nodes on one real `nats-server` (`--cluster`): a
//! client on either node gets what a client on the other published, with
//! MQTT's matching (wildcards, the `$` rule) intact and any topic a client
//! may send unchanged; a node that cannot reach NATS says so and stops.

mod common;

use std::time::Duration;

use common::*;

async fn node(nats: &Nats, name: &str) -> Broker {
    Broker::start_with(&["--cluster", &nats.url, "--node-id", name]).await
}

#[tokio::test]
async fn a_subscriber_on_one_node_gets_what_the_other_node_routes() {
    let nats = Nats::start();
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);
    let mut sub = V4::connect(&b, "sub-on-b").await;
    sub.subscribe("devices/+/telemetry", qos(0)).await;
    sub.subscribe("a/#", qos(0)).await;
    // Right after the SUBACKs: node b waited for NATS before sending them.
    let publisher = V4::connect(&a, "pub-on-a").await;
    for topic in [
        "devices/d1/telemetry",
        "x/y",
        "a",
        "a/b/c",
        "devices/d1/status",
    ] {
        publisher
            .publish(topic, qos(0), false, topic.as_bytes())
            .await;
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        let p = sub.next_publish().await;
        assert_eq!(p.payload, p.topic.as_bytes(), "payload unchanged");
        got.push(p.topic);
    }
    assert_eq!(got, ["devices/d1/telemetry", "a", "a/b/c"]);
    sub.no_publish().await;
}

#[tokio::test]
async fn any_topic_a_client_may_send_crosses_unchanged_and_the_dollar_rule_holds() {
    let nats = Nats::start();
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);
    let odd = ["a.b/*/>", "sp ace/é/€", "a//b", "=x/==", "tab\t/ok"];
    let mut everything = V4::connect(&b, "everything").await;
    everything.subscribe("#", qos(0)).await;
    let mut dollar = V4::connect(&b, "dollar").await;
    dollar.subscribe("$kite/odd/#", qos(0)).await;
    let publisher = V4::connect(&a, "publisher").await;
    for topic in odd {
        publisher.publish(topic, qos(0), false, b"x").await;
    }
    publisher.publish("$kite/odd/1", qos(0), false, b"x").await;
    let mut got = Vec::new();
    for _ in odd {
        got.push(everything.next_publish().await.topic);
    }
    assert_eq!(got, odd);
    assert_eq!(dollar.next_publish().await.topic, "$kite/odd/1");
    everything.no_publish().await; // `#` does not match `$kite/...`
                                   // A wildcard in a topic is no wildcard on the other node either.
    let mut exact = V4::connect(&b, "exact").await;
    exact.subscribe("a.b/*/>", qos(0)).await;
    publisher.publish("a.b/c/d", qos(0), false, b"x").await;
    publisher.publish("a.b/*/>", qos(0), false, b"y").await;
    assert_eq!(exact.next_publish().await.payload, &b"y"[..]);
    exact.no_publish().await;
}

#[tokio::test]
async fn qos_1_crosses_and_each_node_acknowledges_its_own_clients() {
    let nats = Nats::start();
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);
    let mut sub = V5::connect(&b, "sub").await;
    sub.subscribe(rumqttc::v5::mqttbytes::v5::Filter::new("t/#", qos5(1)))
        .await;
    let mut publisher = V4::connect(&a, "pub").await;
    for n in 0..20 {
        publisher
            .publish("t/n", qos(1), false, n.to_string().as_bytes())
            .await;
        publisher.puback().await;
    }
    for n in 0..20 {
        let p = sub.next_publish().await;
        assert_eq!(p.payload, n.to_string().as_bytes(), "in order");
        assert_eq!(p.qos, qos5(1));
    }
}

#[tokio::test]
async fn after_the_last_unsubscribe_a_node_stops_taking_the_topic() {
    let nats = Nats::start();
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);
    let mut sub = V4::connect(&b, "sub").await;
    sub.subscribe("gone/#", qos(0)).await;
    let publisher = V4::connect(&a, "pub").await;
    publisher.publish("gone/1", qos(0), false, b"1").await;
    sub.next_publish().await;
    sub.client.unsubscribe("gone/#").await.unwrap();
    tokio::time::sleep(QUIET).await;
    publisher.publish("gone/2", qos(0), false, b"2").await;
    sub.no_publish().await;
    // QoS 1 goes through the stream, which b reads whole: what nobody on b
    // wants is passed over unread, yet counted as received there.
    let received = r#"kite_messages_received_total{node="b"}"#;
    let before = b.metric(received).await;
    for n in 0..5 {
        publisher.publish("gone/3", qos(1), false, &[n]).await;
    }
    let counted = async {
        while b.metric(received).await < before + 5 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    within("b counting what it passed over", counted).await;
    sub.no_publish().await;
    assert_eq!(b.metric(received).await, before + 5);
    let log = b.log();
    assert!(log.contains("cluster: joined"), "{log}");
}

#[tokio::test]
async fn a_node_that_cannot_reach_nats_names_it_and_exits() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kite-server"))
        .args([
            "--tcp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--durability",
            "none",
        ])
        .args(["--cluster", &url])
        .output()
        .expect("run kite-server");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&url) && stderr.contains("--cluster-wait"),
        "{stderr}"
    );
}

#[tokio::test]
async fn without_nats_a_node_serves_its_own_clients_and_rejoins_by_itself() {
    let mut nats = Nats::start();
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);
    let mut far = V4::connect(&b, "far").await;
    far.subscribe("t/#", qos(0)).await;
    let mut near = V4::connect(&a, "near").await;
    near.subscribe("t/#", qos(0)).await;
    let publisher = V4::connect(&a, "pub").await;
    nats.kill();
    publisher.publish("t/alone", qos(0), false, b"1").await;
    assert_eq!(near.next_publish().await.topic, "t/alone");
    far.no_publish().await;
    nats.restart();
    // Both nodes reconnect and subscribe again by themselves.
    let mut n = 0;
    let back = loop {
        n += 1;
        publisher
            .publish("t/again", qos(0), false, n.to_string().as_bytes())
            .await;
        near.next_publish().await;
        let got =
            tokio::time::timeout(std::time::Duration::from_millis(200), far.next_publish()).await;
        if let Ok(p) = got {
            break p;
        }
        assert!(n < 50, "node b never got messages from a again");
    };
    // (What node a published while NATS was away may come first, or never:
    // QoS 0 across nodes is at most once.)
    assert!(back.topic.starts_with("t/"), "{}", back.topic);
    let log = a.log();
    assert!(log.contains("NATS lost"), "{log}");
}

#[tokio::test]
async fn each_node_s_figures_reach_every_node_and_its_metrics_name_it() {
    let nats = Nats::start();
    let args = |name: &'static str| {
        [
            "--cluster".to_string(),
            nats.url.clone(),
            "--node-id".into(),
            name.into(),
            "--sys-interval".into(),
            "1".into(),
        ]
    };
    let a_args = args("a");
    let b_args = args("b");
    let a = Broker::start_with(&a_args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let b = Broker::start_with(&b_args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let _client_on_a = V4::connect(&a, "someone").await;
    // On b, node a's figures (and not b's own `$SYS/broker/` of a).
    let mut watcher = V4::connect(&b, "watcher").await;
    watcher
        .subscribe("$SYS/brokers/a/clients/connected", qos(0))
        .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let p = watcher.next_publish().await;
        assert_eq!(p.topic, "$SYS/brokers/a/clients/connected");
        if &p.payload[..] == b"1" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "a's count never 1");
    }
    // Its version too (published once, retained).
    let mut versions = V4::connect(&b, "versions").await;
    versions.subscribe("$SYS/brokers/a/version", qos(0)).await;
    let version = versions.next_publish().await;
    assert!(
        String::from_utf8_lossy(&version.payload).starts_with("kite "),
        "{version:?}"
    );
    let (_, metrics) = a.http_get("/metrics", &[]).await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "kite_clients_connected{node=\"a\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .all(|l| l.starts_with('#') || l.contains("node=\"a\"")),
        "every sample is labelled"
    );
}

/// Wait for the DISCONNECT 0x8E (Session taken over) an MQTT 5 client gets
/// (rumqttc reports it as the end of its connection).
async fn taken_over(client: &mut V5) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let event = tokio::time::timeout_at(deadline, client.events.next())
            .await
            .expect("a DISCONNECT within 5 s");
        match event {
            Some(Ok(rumqttc::v5::Event::Incoming(
                rumqttc::v5::mqttbytes::v5::Packet::Disconnect(d),
            ))) => {
                assert_eq!(
                    d.reason_code,
                    rumqttc::v5::mqttbytes::v5::DisconnectReasonCode::SessionTakenOver
                );
                return;
            }
            Some(Err(error)) => {
                assert!(error.contains("SessionTakenOver"), "{error}");
                return;
            }
            Some(Ok(_)) => {}
            None => panic!("the connection ended without a DISCONNECT"),
        }
    }
}

#[tokio::test]
async fn a_client_id_connected_on_another_node_is_taken_over_there() {
    let nats = Nats::start();
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);
    for n in [&a, &b] {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while !n.log().contains("client ids are held cluster-wide") {
            assert!(tokio::time::Instant::now() < deadline, "{}", n.log());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    let mut first = V5::connect(&a, "roamer").await;
    // The same client id on the other node: the first connection is closed
    // there with 0x8E before the second is accepted.
    let mut second = V5::connect(&b, "roamer").await;
    taken_over(&mut first).await;
    assert!(a.log().contains("client id taken over by another node"));
    // And back: the id moves again, each node closing its own.
    let _third = V5::connect(&a, "roamer").await;
    taken_over(&mut second).await;
}

#[tokio::test]
async fn of_two_nodes_connecting_one_client_id_at_once_one_keeps_it() {
    let nats = Nats::start();
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);
    for n in [&a, &b] {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while !n.log().contains("client ids are held cluster-wide") {
            assert!(tokio::time::Instant::now() < deadline, "{}", n.log());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    for round in 0..10 {
        let id = format!("twin-{round}");
        let (mut on_a, mut on_b) = tokio::join!(V5::connect(&a, &id), V5::connect(&b, &id));
        // Exactly one of the two is taken over.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let mut gone = 0;
        for client in [&mut on_a, &mut on_b] {
            while let Ok(Some(event)) =
                tokio::time::timeout(std::time::Duration::from_millis(50), client.events.next())
                    .await
            {
                let disconnect = matches!(
                    event,
                    Ok(rumqttc::v5::Event::Incoming(
                        rumqttc::v5::mqttbytes::v5::Packet::Disconnect(_)
                    ))
                );
                if event.is_err() || disconnect {
                    gone += 1;
                    break;
                }
            }
        }
        assert_eq!(gone, 1, "round {round}: one connection keeps the id");
    }
}
