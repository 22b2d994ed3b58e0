//! MQTT 5 §3.4.2.1: a QoS 1/2 PUBLISH that no subscription matched is
//! acknowledged with 0x10 (No matching subscribers), as Mosquitto and EMQX
//! do, so a publisher can tell that nobody listened. The message is still
//! accepted: retained if asked, and the QoS 2 flow goes on to PUBCOMP.

mod common;

use common::*;
use mqtt::ReasonCode;

#[tokio::test]
async fn v5_qos1_and_qos2_to_nobody_get_0x10() {
    let broker = Broker::start().await;
    let mut publisher = Raw::v5(&broker, "publisher").await;
    // PUBACK: fixed header, packet id, reason 0x10.
    publisher
        .send(&publish(true, "nobody/1", b"x", 1, 1, false, &[]))
        .await;
    assert_eq!(
        publisher.recv_bytes().await,
        [
            0x40, 0x03, // PUBACK, remaining length 3
            0x00, 0x01, // packet identifier 1
            0x10, // reason code: no matching subscribers
        ]
    );
    // QoS 2: PUBREC 0x10 (below 0x80, so the flow goes on), PUBREL, PUBCOMP.
    let reason = publisher
        .publish_acked("nobody/2", b"x", 2, 2, false, &[])
        .await;
    assert_eq!(reason, ReasonCode::NoMatchingSubscribers);
}

#[tokio::test]
async fn a_matching_subscription_makes_it_success() {
    let broker = Broker::start().await;
    let mut sub = Raw::v311(&broker, "sub").await;
    assert_eq!(sub.subscribe(1, "heard/+", 1).await, 1);
    let mut publisher = Raw::v5(&broker, "publisher").await;
    for (pid, qos) in [(1, 1), (2, 2)] {
        let reason = publisher
            .publish_acked("heard/x", b"x", qos, pid, false, &[])
            .await;
        assert_eq!(reason, ReasonCode::Success, "QoS {qos}");
    }
    // The same publisher, after the subscriber leaves: nobody again.
    sub.send(&DISCONNECT).await;
    drop(sub);
    tokio::time::sleep(QUIET).await;
    let reason = publisher
        .publish_acked("heard/x", b"x", 1, 3, false, &[])
        .await;
    assert_eq!(reason, ReasonCode::NoMatchingSubscribers);
}

#[tokio::test]
async fn a_retained_message_to_nobody_gets_0x10_and_is_still_retained() {
    let broker = Broker::start().await;
    let mut publisher = Raw::v5(&broker, "publisher").await;
    let reason = publisher
        .publish_acked("kept/x", b"kept", 1, 1, true, &[])
        .await;
    assert_eq!(reason, ReasonCode::NoMatchingSubscribers);
    let mut late = Raw::v311(&broker, "late").await;
    assert_eq!(late.subscribe(1, "kept/#", 1).await, 1);
    assert_eq!(&late.publish().await.payload[..], b"kept");
}

#[tokio::test]
async fn no_local_leaves_nobody_to_hear_it() {
    let broker = Broker::start().await;
    let mut c = Raw::v5(&broker, "self").await;
    // Options 0x05: QoS 1, no local.
    assert_eq!(c.subscribe(1, "mine", 0x05).await, 1);
    let reason = c.publish_acked("mine", b"x", 1, 2, false, &[]).await;
    assert_eq!(reason, ReasonCode::NoMatchingSubscribers);
}

#[tokio::test]
async fn v311_acknowledgements_carry_no_reason() {
    let broker = Broker::start().await;
    let mut publisher = Raw::v311(&broker, "publisher").await;
    publisher
        .send(&publish(false, "nobody", b"x", 1, 7, false, &[]))
        .await;
    assert_eq!(
        publisher.recv_bytes().await,
        [
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x07, // packet identifier 7; 3.1.1 has no reason code
        ]
    );
}
