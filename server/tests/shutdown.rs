//! Shutting down: SIGTERM (what `docker stop`, systemd and most supervisors
//! send) does exactly what Ctrl-C (SIGINT) does. The broker stops
//! accepting, sends MQTT 5 clients DISCONNECT 0x8B (Server shutting down),
//! commits the store, and exits 0 within a bounded time; a second signal
//! exits at once.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mqtt::ReasonCode;

const RULE: &[u8] = br#"{"device":"*","measurement":"battery","condition":"<","threshold":20,"severity":"warning","message":"battery low"}"#;

#[tokio::test]
async fn sigterm_disconnects_clients_and_keeps_sessions_and_lazy_writes() {
    let broker = Broker::start().await;
    // A persistent v5 session (expiry 300 s), connected at shutdown.
    let durable = || {
        Connect::v5("durable")
            .clean(false)
            .props(prop_u32(0x11, 300))
    };
    let (mut client, _) = Raw::connect(&broker, &durable()).await;
    assert_eq!(client.subscribe(1, "s/#", 1).await, 1);
    // An alarm raised just before the signal: the engine's state is
    // written lazily (within 100 ms), nobody waits for it.
    let mut watcher = Raw::v311(&broker, "watcher").await;
    assert_eq!(watcher.subscribe(1, "$kite/alarms/active/#", 1).await, 1);
    let mut admin = Raw::v5(&broker, "admin").await;
    admin
        .publish_acked("$kite/alarms/rules/low", RULE, 1, 1, true, &[])
        .await;
    admin
        .publish_acked(
            "devices/d1/telemetry",
            br#"{"battery":5}"#,
            0,
            0,
            false,
            &[],
        )
        .await;
    assert_eq!(
        &*watcher.publish().await.topic,
        "$kite/alarms/active/d1/low"
    );
    broker.signal("-TERM");
    assert_eq!(
        client.expect_disconnect().await,
        Some(ReasonCode::ServerShuttingDown)
    );
    // Exits 0 (asserted by restart), then starts again on the same store.
    let broker = broker.restart(Stop::Signalled).await;
    let (_client, connack) = Raw::connect(&broker, &durable()).await;
    assert!(connack.session_present, "the persistent session survived");
    let mut late = Raw::v311(&broker, "late").await;
    assert_eq!(late.subscribe(1, "$kite/alarms/active/#", 1).await, 1);
    let alarm = late.publish().await;
    assert_eq!(&*alarm.topic, "$kite/alarms/active/d1/low");
    assert!(alarm.retain);
}

#[tokio::test]
async fn sigint_and_sigterm_both_exit_0() {
    for signal in ["-INT", "-TERM"] {
        let mut broker = Broker::start().await;
        let _client = Raw::v311(&broker, "c").await;
        broker.signal(signal);
        let status = broker.exited(WAIT).await;
        assert!(status.success(), "{signal}: {status}");
        assert!(broker.log().contains("shutting down"), "{signal}");
    }
}

/// A subscriber that takes nothing while a flood fills its socket: its
/// connection is stuck in a write (up to --write-timeout) and holds the
/// shutdown up.
async fn stuck_subscriber(broker: &Broker) -> Raw {
    let mut stalled = Raw::v311(broker, "stalled").await;
    assert_eq!(stalled.subscribe(1, "flood", 0).await, 0);
    let mut publisher = Raw::v311(broker, "publisher").await;
    let chunk = publish(false, "flood", &[0; 60_000], 0, 0, false, &[]);
    for _ in 0..300 {
        publisher.send(&chunk).await; // 18 MB: far more than two socket buffers
    }
    publisher.sync().await;
    stalled
}

#[tokio::test]
async fn a_stuck_connection_holds_shutdown_up_boundedly_and_a_second_signal_exits_at_once() {
    let mut broker = Broker::start_with(&["--write-timeout", "60"]).await;
    let _stalled = stuck_subscriber(&broker).await;
    broker.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(broker.running(), "still waiting for the stuck connection");
    broker.signal("-TERM");
    let status = broker.exited(Duration::from_secs(1)).await;
    assert!(
        !status.success(),
        "a second signal is not a clean exit: {status}"
    );
    assert!(broker.log().contains("during shutdown: stopping at once"));

    // Without a second signal the wait is bounded and the exit clean.
    let mut broker = Broker::start_with(&["--write-timeout", "60"]).await;
    let _stalled = stuck_subscriber(&broker).await;
    let first = Instant::now();
    broker.signal("-TERM");
    // 5 s for connections to end, then the store's commit.
    let status = broker.exited(Duration::from_secs(8)).await;
    assert!(status.success(), "{status}");
    assert!(
        first.elapsed() > Duration::from_secs(4),
        "it waited for the connection"
    );
    assert!(broker.log().contains("still open after"));
}
