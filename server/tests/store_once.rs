//! A message queued for many persistent sessions is stored once, with a
//! small delivery record per session, and still reaches every one of them
//! after a crash (issue #20: one stored message, a position per session).

mod common;

use common::*;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

/// The store's tables, as `server/src/store/file.rs` names them.
const QUEUE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queue");
const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");

const SESSIONS: usize = 1000;
const PAYLOAD: usize = 10_000;

/// (queue entries, stored messages, bytes of the largest queue entry,
/// bytes of the largest message) in the broker's store file.
fn store_counts(broker: &Broker) -> (u64, u64, usize, usize) {
    let db = Database::open(broker.data_dir.join("kite.redb")).expect("the store opens");
    let txn = db.begin_read().unwrap();
    let queue = txn.open_table(QUEUE).unwrap();
    let messages = txn.open_table(MESSAGES).unwrap();
    let largest = |sizes: Vec<usize>| sizes.into_iter().max().unwrap_or(0);
    let entry_sizes = queue
        .iter()
        .unwrap()
        .map(|e| e.unwrap().1.value().len())
        .collect();
    let message_sizes = messages
        .iter()
        .unwrap()
        .map(|e| e.unwrap().1.value().len())
        .collect();
    (
        queue.len().unwrap(),
        messages.len().unwrap(),
        largest(entry_sizes),
        largest(message_sizes),
    )
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
    let (entries, messages, entry_bytes, message_bytes) = store_counts(&broker);
    assert_eq!(entries, SESSIONS as u64, "one queue entry per session");
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
    let (entries, messages, _, _) = store_counts(&broker);
    assert_eq!(
        (entries, messages),
        (0, 0),
        "acknowledged everywhere: nothing kept"
    );
}
