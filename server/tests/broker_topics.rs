//! Topics only the broker writes: `$SYS/...` and the alarm engine's outputs
//! (`$kite/alarms/active/...`, `events`, `history`, `errors`). A client
//! PUBLISH there, whatever the ACL says, gets 0x87 (Not authorized) in its
//! PUBACK/PUBREC in MQTT 5, is dropped (with a log line) in 3.1.1, is
//! counted, and is never routed, retained or stored. So is a PUBLISH to
//! `$share/...`, which is subscription syntax. The engine's inputs
//! (`rules`, `ack`) stay writable.

mod common;

use common::*;
use mqtt::ReasonCode;

const FORGED: [&str; 6] = [
    "$SYS/broker/version",
    "$kite/alarms/active/sim-1/fake",
    "$kite/alarms/events",
    "$kite/alarms/history",
    "$kite/alarms/errors",
    "$SYS",
];

const FORGED_ALARM: &[u8] = br#"{"severity":"critical","message":"forged"}"#;

/// A 3.1.1 client watching every broker-owned topic (QoS 1).
async fn watcher(broker: &Broker, id: &str) -> Raw {
    let mut w = Raw::v311(broker, id).await;
    assert_eq!(w.subscribe(1, "$SYS/#", 1).await, 1);
    assert_eq!(w.subscribe(2, "$kite/alarms/#", 1).await, 1);
    w
}

#[tokio::test]
async fn a_v5_forgery_gets_0x87_and_reaches_no_subscriber_and_no_store() {
    let broker = Broker::start().await;
    let mut watching = watcher(&broker, "watcher").await;
    let mut forger = Raw::v5(&broker, "forger").await;
    let mut pid = 0;
    for topic in FORGED {
        for qos in [1, 2] {
            pid += 1;
            let reason = forger
                .publish_acked(topic, FORGED_ALARM, qos, pid, true, &[])
                .await;
            assert_eq!(reason, ReasonCode::NotAuthorized, "{topic} at QoS {qos}");
        }
    }
    // QoS 0 has nothing to answer with: dropped, the connection goes on.
    forger
        .publish_acked("$SYS/broker/uptime", b"0", 0, 0, true, &[])
        .await;
    watching.expect_silence().await;
    assert_eq!(broker.metric("kite_broker_topics_refused_total").await, 13);
    assert!(
        broker.log().contains("PUBLISH refused"),
        "a log line per refusal"
    );
    // Nothing was retained: a new subscriber gets nothing, nor after a restart.
    let mut late = watcher(&broker, "late").await;
    late.expect_silence().await;
    let broker = broker.restart(Stop::Graceful).await;
    let mut after = watcher(&broker, "after-restart").await;
    after.expect_silence().await;
}

#[tokio::test]
async fn a_v311_forgery_is_acknowledged_as_usual_but_dropped() {
    // 3.1.1 has no way to say no: the PUBACK is the usual one, as Mosquitto does.
    let broker = Broker::start().await;
    let mut watching = watcher(&broker, "watcher").await;
    let mut forger = Raw::v311(&broker, "forger").await;
    let reason = forger
        .publish_acked("$SYS/broker/version", b"forged", 1, 1, true, &[])
        .await;
    assert_eq!(reason, ReasonCode::Success);
    let reason = forger
        .publish_acked(
            "$kite/alarms/active/sim-1/fake",
            FORGED_ALARM,
            2,
            2,
            true,
            &[],
        )
        .await;
    assert_eq!(reason, ReasonCode::Success);
    watching.expect_silence().await;
    let mut late = watcher(&broker, "late").await;
    late.expect_silence().await;
    assert_eq!(broker.metric("kite_broker_topics_refused_total").await, 2);
}

#[tokio::test]
async fn the_acl_cannot_grant_broker_topics() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("broker-topics-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let acl = dir.join("acl");
    std::fs::write(
        &acl,
        "topic readwrite #\ntopic readwrite $SYS/#\ntopic readwrite $kite/#\n",
    )
    .unwrap();
    let broker = Broker::start_with(&["--acl-file", acl.to_str().unwrap()]).await;
    let mut watching = watcher(&broker, "watcher").await;
    let mut forger = Raw::v5(&broker, "forger").await;
    for (pid, topic) in (1..).zip(FORGED) {
        let reason = forger.publish_acked(topic, b"x", 1, pid, false, &[]).await;
        assert_eq!(reason, ReasonCode::NotAuthorized, "{topic}");
    }
    watching.expect_silence().await;
}

#[tokio::test]
async fn a_share_topic_name_is_refused() {
    let broker = Broker::start().await;
    let mut member = Raw::v5(&broker, "member").await;
    assert_eq!(member.subscribe(1, "$share/g/t", 1).await, 1);
    let mut forger = Raw::v5(&broker, "forger").await;
    let reason = forger
        .publish_acked("$share/g/t", b"x", 1, 1, true, &[])
        .await;
    assert_eq!(reason, ReasonCode::NotAuthorized);
    member.expect_silence().await;
    assert_eq!(broker.metric("kite_broker_topics_refused_total").await, 1);
}

#[tokio::test]
async fn the_engines_inputs_stay_writable() {
    let broker = Broker::start().await;
    let mut rules = Raw::v5(&broker, "rules-watcher").await;
    assert_eq!(rules.subscribe(1, "$kite/alarms/rules/#", 1).await, 1);
    assert_eq!(rules.subscribe(2, "$kite/alarms/ack/#", 1).await, 1);
    let mut admin = Raw::v5(&broker, "admin").await;
    let rule = br#"{"device":"*","measurement":"battery","condition":"<","threshold":20,"severity":"warning","message":"low"}"#;
    let reason = admin
        .publish_acked("$kite/alarms/rules/low", rule, 1, 1, true, &[])
        .await;
    assert_eq!(reason, ReasonCode::Success);
    assert_eq!(&*rules.publish().await.topic, "$kite/alarms/rules/low");
    let reason = admin
        .publish_acked("$kite/alarms/ack/d1/low", b"", 1, 2, false, &[])
        .await;
    assert_eq!(reason, ReasonCode::Success);
    assert_eq!(&*rules.publish().await.topic, "$kite/alarms/ack/d1/low");
    assert_eq!(broker.metric("kite_broker_topics_refused_total").await, 0);
}

#[tokio::test]
async fn a_will_on_a_broker_topic_is_refused_at_connect() {
    let broker = Broker::start().await;
    let will = Will {
        topic: "$kite/alarms/active/sim-1/fake",
        payload: FORGED_ALARM,
        ..Will::default()
    };
    let mut c = Raw::open(&broker, mqtt::Protocol::V5).await;
    c.send(&Connect::v5("sneaky").will(will).bytes()).await;
    assert_eq!(c.connack().await.code, ReasonCode::NotAuthorized);
    assert_eq!(broker.metric("kite_broker_topics_refused_total").await, 1);
}
