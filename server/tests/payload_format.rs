//! MQTT 5 payload format indicator. 1 says the payload is UTF-8: a payload
//! that is not is refused with reason 0x99 (being added) and not routed;
//! valid ones, and binary ones marked 0, are forwarded with the indicator.

mod common;

use common::*;
use mqtt::{Packet, ReasonCode};

async fn watcher(broker: &Broker) -> Raw {
    let mut w = Raw::v5(broker, "watcher").await;
    w.subscribe(1, "pf", 1).await;
    w
}

#[tokio::test]
async fn invalid_utf8_marked_as_utf8_gets_puback_0x99_and_is_not_routed() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let mut c = Raw::v5(&broker, "liar").await;
    c.send(&[
        0x32, // PUBLISH, QoS 1
        0x0A, // remaining length 10
        0x00, 0x02, b'p', b'f', // topic "pf"
        0x00, 0x01, // packet id 1
        0x02, // property length 2
        0x01, 0x01, // payload format indicator: 1, UTF-8
        0xFF, // payload: not UTF-8
    ])
    .await;
    match c.recv().await {
        Packet::PubAck(ack) => {
            assert_eq!(ack.pid.get(), 1);
            assert_eq!(ack.reason, ReasonCode::PayloadFormatInvalid);
        }
        other => panic!("expected PUBACK, got {other:?}"),
    }
    w.expect_silence().await;
    c.send(&PINGREQ).await;
    assert_eq!(c.recv().await, Packet::PingResp, "the connection stays");
}

#[tokio::test]
async fn invalid_utf8_marked_as_utf8_gets_pubrec_0x99_at_qos2() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let mut c = Raw::v5(&broker, "liar2").await;
    let pfi_1 = prop(0x01, &[0x01]); // payload format indicator: UTF-8
    c.send(&publish(true, "pf", &[0xC3, 0x28], 2, 7, false, &pfi_1))
        .await;
    match c.recv().await {
        Packet::PubRec(rec) => {
            assert_eq!(rec.pid.get(), 7);
            assert_eq!(rec.reason, ReasonCode::PayloadFormatInvalid);
        }
        other => panic!("expected PUBREC, got {other:?}"),
    }
    w.expect_silence().await;
}

#[tokio::test]
async fn valid_utf8_marked_as_utf8_is_forwarded_with_the_indicator() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let mut c = Raw::v5(&broker, "honest").await;
    let pfi_1 = prop(0x01, &[0x01]); // payload format indicator: UTF-8
    let reason = c
        .publish_acked("pf", "grüße ✓".as_bytes(), 1, 1, false, &pfi_1)
        .await;
    assert_eq!(reason, ReasonCode::Success);
    let p = w.publish().await;
    assert_eq!(p.properties.payload_format_indicator, Some(1));
    assert_eq!(&p.payload[..], "grüße ✓".as_bytes());
}

#[tokio::test]
async fn binary_payload_marked_as_bytes_is_forwarded() {
    let broker = Broker::start().await;
    let mut w = watcher(&broker).await;
    let mut c = Raw::v5(&broker, "binary").await;
    let pfi_0 = prop(0x01, &[0x00]); // payload format indicator: unspecified bytes
    let reason = c
        .publish_acked("pf", &[0xFF, 0x00, 0xFE], 1, 1, false, &pfi_0)
        .await;
    assert_eq!(reason, ReasonCode::Success);
    let p = w.publish().await;
    assert_eq!(p.properties.payload_format_indicator, Some(0));
    assert_eq!(&p.payload[..], [0xFF, 0x00, 0xFE]);
}
