//! A message queued for many persistent sessions is stored once, with a
//! small delivery record per session, and still reaches every one of them
//! after a crash (issue #20: one stored message, a position per session).

mod common;

use common::*;
use kite_server::store::{census, Census};

const SESSIONS: usize = 1000;
const PAYLOAD: usize = 10_000;

/// What the broker's store file holds in its queue (read while it is down).
fn store_counts(broker: &Broker) -> Census {
    census(&broker.data_dir).expect("the store reads")
}

fn client_id(i: usize) -> String {
    format!("device-{i:04}")
}

#[tokio::test]
async fn a_message_queued_for_1000_sessions_is_stored_once_and_reaches_each_after_a_crash() {
    let mut broker = Broker::start().await;
    for i in 0..SESSIONS {
        let id = client_id(i);
        let (mut sub, _) = Raw::connect(&broker, &Connect::v311(&id).clean(false)).await;
        sub.subscribe(1, "fleet/broadcast", 1).await;
        sub.send(&DISCONNECT).await;
    }
    let payload = vec![b'k'; PAYLOAD];
    let mut publisher = Raw::v311(&broker, "publisher").await;
    publisher
        .publish_acked("fleet/broadcast", &payload, 1, 1, false, &[])
        .await; // PUBACK: queued for all 1,000 and committed

    broker.signal("-KILL");
    broker.exited(WAIT).await;
    let Census {
        entries,
        messages,
        largest_entry: entry_bytes,
        largest_message: message_bytes,
    } = store_counts(&broker);
    assert_eq!(entries, SESSIONS, "one queue entry per session");
    assert_eq!(messages, 1, "the message itself is stored once");
    assert!(
        message_bytes > PAYLOAD,
        "the stored message holds the payload"
    );
    assert!(
        entry_bytes < 64,
        "a queue entry names the message, it does not copy it ({entry_bytes} bytes)"
    );

    let broker = broker.restart(Stop::Crash).await;
    for i in 0..SESSIONS {
        let id = client_id(i);
        let (mut sub, connack) = Raw::connect(&broker, &Connect::v311(&id).clean(false)).await;
        assert!(connack.session_present, "{id} lost its session");
        let p = sub.publish().await;
        assert_eq!(p.payload.len(), PAYLOAD, "{id} got the message whole");
        sub.send(&puback(p.pid.unwrap().get())).await;
        sub.send(&DISCONNECT).await;
        sub.expect_closed().await;
    }
    // Every session acknowledged it: the message is gone with the last entry.
    let mut broker = broker;
    broker.signal("-INT");
    assert!(broker.exited(WAIT).await.success());
    let Census {
        entries, messages, ..
    } = store_counts(&broker);
    assert_eq!(
        (entries, messages),
        (0, 0),
        "acknowledged everywhere: nothing kept"
    );
}
