//! Keep alive: a silent client is closed after 1.5 times its keep alive
//! (MQTT-3.1.2-24), not before; PINGREQ keeps it alive; with
//! `--max-keepalive` a v5 client asking for more is told the server's value.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mqtt::{Packet, ReasonCode};

/// Connect with keep alive 1 s, stay silent, and return how long after the
/// CONNACK the broker closed, and how (v5 DISCONNECT reason).
async fn silent_for_keepalive_1(v5: bool) -> (Duration, Option<ReasonCode>) {
    let broker = Broker::start().await;
    let connect = if v5 {
        Connect::v5("quiet")
    } else {
        Connect::v311("quiet")
    };
    let (mut raw, _) = Raw::connect(&broker, &connect.keep_alive(1)).await;
    let connacked = Instant::now();
    let reason = raw.expect_disconnect().await;
    (connacked.elapsed(), reason)
}

#[tokio::test]
async fn silent_client_with_keepalive_1_is_closed_after_one_and_a_half_seconds_v311() {
    let (elapsed, reason) = silent_for_keepalive_1(false).await;
    assert!(
        elapsed >= Duration::from_millis(1300),
        "closed after {elapsed:?}: keep alive must be enforced at 1.5 s, not 1 s"
    );
    assert!(
        elapsed <= Duration::from_secs(3),
        "closed after {elapsed:?}"
    );
    assert_eq!(reason, None, "3.1.1: just a close");
}

#[tokio::test]
async fn silent_v5_client_with_keepalive_1_gets_disconnect_0x8d_after_one_and_a_half_seconds() {
    let (elapsed, reason) = silent_for_keepalive_1(true).await;
    assert!(elapsed >= Duration::from_millis(1300), "after {elapsed:?}");
    assert!(elapsed <= Duration::from_secs(3), "after {elapsed:?}");
    assert_eq!(reason, Some(ReasonCode::KeepAliveTimeout));
}

#[tokio::test]
async fn pingreq_every_700ms_keeps_a_keepalive_1_client_connected() {
    let broker = Broker::start().await;
    let (mut raw, _) = Raw::connect(&broker, &Connect::v311("pinger").keep_alive(1)).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        raw.send(&PINGREQ).await;
        // PINGRESP: type 13, remaining length 0.
        assert_eq!(raw.recv_bytes().await, [0xD0, 0x00]);
    }
}

#[tokio::test]
async fn keepalive_0_turns_the_timeout_off() {
    let broker = Broker::start().await;
    let (mut raw, _) = Raw::connect(&broker, &Connect::v311("forever").keep_alive(0)).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    raw.send(&PINGREQ).await;
    assert_eq!(raw.recv().await, Packet::PingResp);
}

// ---- Server keep alive (`--max-keepalive`): being added. ----

#[tokio::test]
async fn connack_carries_server_keep_alive_when_the_client_asks_for_more_than_max_keepalive() {
    let broker = Broker::start_with(&["--max-keepalive", "5"]).await;
    let (_raw, connack) = Raw::connect(&broker, &Connect::v5("greedy").keep_alive(60)).await;
    assert_eq!(
        connack.properties.server_keep_alive,
        Some(5),
        "server keep alive property (0x13)"
    );
}

#[tokio::test]
async fn server_keep_alive_is_what_the_broker_enforces() {
    let broker = Broker::start_with(&["--max-keepalive", "1"]).await;
    let (mut raw, connack) = Raw::connect(&broker, &Connect::v5("greedy").keep_alive(60)).await;
    assert_eq!(connack.properties.server_keep_alive, Some(1));
    let connacked = Instant::now();
    assert_eq!(
        raw.expect_disconnect().await,
        Some(ReasonCode::KeepAliveTimeout)
    );
    let elapsed = connacked.elapsed();
    assert!(elapsed >= Duration::from_millis(1300), "after {elapsed:?}");
}

#[tokio::test]
async fn no_server_keep_alive_when_the_client_asks_for_less_than_max_keepalive() {
    let broker = Broker::start_with(&["--max-keepalive", "60"]).await;
    let (_raw, connack) = Raw::connect(&broker, &Connect::v5("modest").keep_alive(10)).await;
    assert!(matches!(
        connack.properties.server_keep_alive,
        None | Some(10)
    ));
}
