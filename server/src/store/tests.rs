//! The writer's rounds against an in-memory redb, and a format 2 file
//! brought to format 3.

use std::sync::Arc;

use bytes::Bytes;
use mqtt::{Pid, QoS};
use redb::{Database, ReadableDatabase, ReadableTable};
use tokio::sync::oneshot;

use super::{
    encode_queued, encode_retained,
    file::{self, MESSAGES, QUEUE},
    log::{Log, DEAD, LOG},
    records::encode_delivery,
    round::{Rounds, HOLD, SLOW_FOR},
    writer::Batch,
    Op, Queued, QueuedState,
};
use crate::protocol::message::{Message, Outbound};

fn message(payload: &'static str) -> Message {
    Message {
        topic: "devices/d1/temperature".into(),
        payload: Bytes::from_static(payload.as_bytes()),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Default::default(),
        origin: Arc::from("publisher"),
        expires_at: None,
    }
}

fn queued(message: &Arc<Message>, seq: u64) -> Queued {
    Queued {
        outbound: Outbound {
            message: message.clone(),
            qos: QoS::AtLeastOnce,
            retain: false,
            subscription_ids: vec![],
            seq: Some(seq),
            receipt: None,
            position: 0,
        },
        state: QueuedState::Queued,
    }
}

fn enqueue(client: &str, seq: u64, message: &Arc<Message>) -> Op {
    Op::Enqueue {
        client: Arc::from(client),
        seq,
        queued: queued(message, seq),
    }
}

fn delete(client: &str, seq: u64) -> Op {
    Op::DeleteQueued {
        client: Arc::from(client),
        seq,
    }
}

/// A batch of `ops`, and the receiver its commit answers.
fn batch(ops: Vec<Op>) -> (Batch, oneshot::Receiver<()>) {
    let (done, rx) = oneshot::channel();
    (
        Batch {
            writes: ops,
            done: Some(done),
        },
        rx,
    )
}

/// A writer's rounds on a clock of their own: a round commits at the
/// clock's time, which only [`TestRounds::advance`] moves, so a loaded
/// machine cannot age a held entry past [`HOLD`] between two steps.
struct TestRounds {
    rounds: Rounds,
    now: std::time::Instant,
}

impl TestRounds {
    fn commit(&mut self, batches: Vec<Batch>, hold: bool) {
        self.rounds.commit_at(batches, hold, self.now);
    }

    fn advance(&mut self, by: std::time::Duration) {
        self.now += by;
    }
}

impl std::ops::Deref for TestRounds {
    type Target = Rounds;
    fn deref(&self) -> &Rounds {
        &self.rounds
    }
}

fn rounds() -> TestRounds {
    TestRounds {
        rounds: Rounds::new(super::log::tests::db(), Log::default()),
        now: std::time::Instant::now(),
    }
}

/// The live queue entries (client, seq) and how many stored-once messages
/// the file holds, read from it as a restart would.
fn on_disk(rounds: &Rounds) -> (Vec<(String, u64)>, usize) {
    let txn = rounds.db().begin_read().unwrap();
    let (_, found) = Log::load(
        &txn.open_table(LOG).unwrap(),
        &txn.open_table(DEAD).unwrap(),
    )
    .expect("the log reads");
    let entries = found
        .entries
        .iter()
        .map(|e| (e.client.to_string(), e.seq))
        .collect();
    (entries, found.messages.len())
}

/// (queue entries, stored messages) in the file.
fn counts(rounds: &Rounds) -> (u64, u64) {
    let (entries, messages) = on_disk(rounds);
    (entries.len() as u64, messages as u64)
}

fn answered(rx: &mut oneshot::Receiver<()>) -> bool {
    rx.try_recv().is_ok()
}

#[test]
fn a_message_queued_for_three_sessions_is_stored_once_and_goes_with_the_last() {
    let mut rounds = rounds();
    let m = Arc::new(message("21.5"));
    let (b, mut rx) = batch(vec![
        enqueue("a", 7, &m),
        enqueue("b", 7, &m),
        enqueue("c", 7, &m),
    ]);
    rounds.commit(vec![b], false);
    assert!(answered(&mut rx));
    assert_eq!(counts(&rounds), (3, 1));
    let (b, _) = batch(vec![delete("a", 7), delete("b", 7)]);
    rounds.commit(vec![b], false);
    assert_eq!(counts(&rounds), (1, 1), "c still needs it");
    let (b, _) = batch(vec![delete("c", 7)]);
    rounds.commit(vec![b], false);
    assert_eq!(counts(&rounds), (0, 0));
}

/// A batch nobody waits for (a session's state change, its acknowledgement).
fn lazy(ops: Vec<Op>) -> Batch {
    Batch {
        writes: ops,
        done: None,
    }
}

#[test]
fn a_message_acknowledged_while_held_is_never_written_and_one_that_is_not_is_after_hold() {
    let mut rounds = rounds();
    let m1 = Arc::new(message("1"));
    let m2 = Arc::new(message("2"));
    let (b, mut rx) = batch(vec![enqueue("a", 1, &m1), enqueue("a", 2, &m2)]);
    rounds.commit(vec![b], true);
    assert_eq!(counts(&rounds), (0, 0), "held");
    assert!(!answered(&mut rx), "not answered before it is safe");
    assert!(rounds.pending());
    // 1 is sent (its state changes) and acknowledged; 2 is not.
    let sent = Op::PutQueued {
        client: Arc::from("a"),
        seq: 1,
        state: QueuedState::Sent(Pid::new(1).unwrap()),
    };
    rounds.commit(vec![lazy(vec![sent, delete("a", 1)])], true);
    assert_eq!(counts(&rounds), (0, 0), "1 settled in memory, 2 still held");
    assert!(!answered(&mut rx), "2 is neither acknowledged nor stored");
    rounds.advance(HOLD);
    rounds.commit(vec![], true);
    assert!(answered(&mut rx));
    assert_eq!(
        counts(&rounds),
        (1, 0),
        "only 2 reached the file, holding its message"
    );
    assert!(!rounds.pending());
    // Client a let an entry reach HOLD: for a while its entries are
    // written at once, its publishers not made to wait.
    let (b, mut rx) = batch(vec![enqueue("a", 3, &m2)]);
    rounds.commit(vec![b], true);
    assert!(answered(&mut rx));
    assert_eq!(counts(&rounds), (2, 0));
    rounds.commit(vec![lazy(vec![delete("a", 2), delete("a", 3)])], true);
    assert_eq!(counts(&rounds), (0, 0));
}

#[test]
fn a_client_that_does_not_acknowledge_in_time_is_written_at_once_for_a_while() {
    let mut rounds = rounds();
    let m = Arc::new(message("for an offline device"));
    rounds.commit(vec![batch(vec![enqueue("z", 1, &m)]).0], true);
    assert_eq!(counts(&rounds), (0, 0), "held: it may be online");
    rounds.advance(HOLD);
    rounds.commit(vec![], true);
    assert_eq!(counts(&rounds), (1, 0));
    let (b, mut rx) = batch(vec![enqueue("z", 2, &m)]);
    rounds.commit(vec![b], true);
    assert!(answered(&mut rx), "its publisher is answered at once");
    assert_eq!(counts(&rounds), (2, 0));
    rounds.advance(SLOW_FOR);
    let (b, mut rx) = batch(vec![enqueue("z", 3, &m)]);
    rounds.commit(vec![b], true);
    assert!(!answered(&mut rx), "given another chance");
    assert_eq!(counts(&rounds), (2, 0));
}

#[test]
fn only_the_batch_with_a_held_entry_waits_and_a_sync_waits_for_everything_held() {
    let mut rounds = rounds();
    let m = Arc::new(message("x"));
    let (held, mut rx_held) = batch(vec![enqueue("a", 1, &m)]);
    // The subscriber's own session write, for one: it must not wait for the
    // entry only its acknowledgement settles.
    let (after, mut rx_after) = batch(vec![Op::DeleteSession {
        client: Arc::from("other"),
    }]);
    let (sync, mut rx_sync) = batch(vec![]);
    rounds.commit(vec![held, after, sync], true);
    assert!(!answered(&mut rx_held));
    assert!(answered(&mut rx_after));
    assert!(
        !answered(&mut rx_sync),
        "a sync waits for what was held before it"
    );
    rounds.commit(vec![lazy(vec![delete("a", 1)])], true);
    assert!(answered(&mut rx_held) && answered(&mut rx_sync));
    assert_eq!(counts(&rounds), (0, 0));
}

/// (records in the log, bitmaps of dead items).
fn log_rows(rounds: &Rounds) -> (usize, usize) {
    let txn = rounds.db().begin_read().unwrap();
    let records = txn.open_table(LOG).unwrap().iter().unwrap().count();
    let dead = txn.open_table(DEAD).unwrap().iter().unwrap().count();
    (records, dead)
}

fn sent(client: &str, seq: u64) -> Op {
    Op::PutQueued {
        client: Arc::from(client),
        seq,
        state: QueuedState::Sent(Pid::new(seq as u16).unwrap()),
    }
}

#[test]
fn a_state_acknowledged_within_its_round_is_never_written() {
    let mut rounds = rounds();
    let m = Arc::new(message("m"));
    // Written at once (no hold): one record holding both entries.
    rounds.commit(
        vec![lazy(vec![enqueue("a", 1, &m), enqueue("a", 2, &m)])],
        true,
    );
    rounds.commit(vec![], false);
    assert_eq!(log_rows(&rounds), (1, 0));
    // Both sent, 1 acknowledged in the same round: only 2's state is
    // written, in a record of its own with nothing dead in it; 1's entry
    // dies in the first record.
    rounds.commit(
        vec![lazy(vec![sent("a", 1), sent("a", 2), delete("a", 1)])],
        false,
    );
    assert_eq!(
        log_rows(&rounds),
        (2, 1),
        "no dead state item in the new record"
    );
    let txn = rounds.db().begin_read().unwrap();
    let (_, found) = Log::load(
        &txn.open_table(LOG).unwrap(),
        &txn.open_table(DEAD).unwrap(),
    )
    .expect("the log reads");
    assert_eq!(found.entries.len(), 1);
    assert_eq!(found.entries[0].seq, 2);
    assert!(found.entries[0].state.is_some(), "2's state is kept");
}

#[test]
fn a_state_someone_waits_for_is_written_in_its_round() {
    let mut rounds = rounds();
    let m = Arc::new(message("q2"));
    rounds.commit(vec![lazy(vec![enqueue("a", 1, &m)])], true);
    assert_eq!(counts(&rounds), (0, 0));
    // A QoS 2 PUBLISH leaves only once its Sent state is stored.
    let (b, mut rx) = batch(vec![Op::PutQueued {
        client: Arc::from("a"),
        seq: 1,
        state: QueuedState::Sent(Pid::new(9).unwrap()),
    }]);
    rounds.commit(vec![b], true);
    assert!(answered(&mut rx));
    assert_eq!(counts(&rounds), (1, 0));
}

#[test]
fn a_deleted_session_takes_what_was_held_for_it() {
    let mut rounds = rounds();
    let m = Arc::new(message("x"));
    let (b, mut rx) = batch(vec![enqueue("a", 1, &m), enqueue("b", 1, &m)]);
    rounds.commit(vec![b], true);
    rounds.commit(
        vec![lazy(vec![Op::DeleteSession {
            client: Arc::from("a"),
        }])],
        true,
    );
    assert!(!answered(&mut rx), "b's entry is still held");
    rounds.commit(vec![], false);
    assert!(answered(&mut rx));
    assert_eq!(on_disk(&rounds), (vec![("b".into(), 1)], 1));
}

#[test]
fn a_stream_position_commits_with_the_deliveries_it_stands_for() {
    let mut rounds = rounds();
    let m = Arc::new(message("x"));
    let (b, mut rx) = batch(vec![enqueue("a", 1, &m), Op::PutStreamPosition(41)]);
    rounds.commit(vec![b], true);
    assert!(answered(&mut rx));
    assert_eq!(counts(&rounds), (1, 0), "nothing held");
}

#[test]
fn a_format_2_store_loads_whole_and_its_queue_moves_into_the_log() {
    let dir = std::env::temp_dir().join(format!("kite-store-format2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(super::FILE_NAME);
    let m = Arc::new(message("kept"));
    let shared = Arc::new(message("for two"));
    let record = super::SessionRecord {
        protocol: mqtt::Protocol::V311,
        expiry_interval: u32::MAX,
        disconnected_at: 0,
        subscriptions: vec![],
        incoming_qos2: vec![],
    };
    {
        // What a format 2 broker wrote: a message of one session inside its
        // entry (as format 1 did), one of two sessions once in `messages`.
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let mut meta = txn.open_table(file::META).unwrap();
        meta.insert("format", 2).unwrap();
        // A cluster node's position when a stream message held one message.
        meta.insert("cluster_stream_position", 41).unwrap();
        drop(meta);
        let mut sessions = txn.open_table(file::SESSIONS).unwrap();
        let mut queue = txn.open_table(QUEUE).unwrap();
        let mut messages = txn.open_table(MESSAGES).unwrap();
        for client in ["a", "b"] {
            sessions
                .insert(client, super::encode_session(&record).as_slice())
                .unwrap();
        }
        for (client, seq) in [("a", 3u64), ("b", 4)] {
            let q = queued(&m, seq);
            let value = encode_queued(&q.outbound, q.state);
            queue.insert((client, seq), value.as_slice()).unwrap();
        }
        messages
            .insert(5, encode_retained(&shared).as_slice())
            .unwrap();
        for client in ["a", "b"] {
            let q = queued(&shared, 5);
            let value = encode_delivery(&q.outbound, q.state);
            queue.insert((client, 5), value.as_slice()).unwrap();
        }
        drop((sessions, queue, messages));
        txn.commit().unwrap();
    }
    let opened = file::open(&path).unwrap();
    assert_eq!(opened.max_seq, 5);
    assert_eq!(
        opened.log.counts(),
        (4, 1),
        "one message named by two entries"
    );
    // All of stream message 41 was delivered: the next is 42's first.
    let position = opened.loaded.stream_position.expect("kept");
    assert_eq!(position, super::stream_position(41, u16::MAX));
    assert_eq!(position + 1, super::stream_position(42, 0));
    assert_eq!(super::stream_sequence(position), 41);
    for session in &opened.loaded.sessions {
        let payloads: Vec<_> = session
            .queue
            .iter()
            .map(|q| q.outbound.message.payload.clone())
            .collect();
        assert_eq!(payloads, [m.payload.clone(), shared.payload.clone()]);
    }
    let [a, b] = &opened.loaded.sessions[..] else {
        panic!("two sessions")
    };
    assert!(
        Arc::ptr_eq(&a.queue[1].outbound.message, &b.queue[1].outbound.message),
        "one message in memory too"
    );
    let txn = opened.db.begin_read().unwrap();
    let format = txn.open_table(file::META).unwrap().get("format").unwrap();
    assert_eq!(format.map(|v| v.value()), Some(file::FORMAT));
    assert!(
        txn.open_table(QUEUE).is_err(),
        "the old queue table is gone"
    );
    assert!(txn.open_table(MESSAGES).is_err());
    assert_eq!(txn.open_table(LOG).unwrap().iter().unwrap().count(), 1);
    drop((txn, opened));
    // Opened again: nothing moves twice.
    let again = file::open(&path).unwrap();
    assert_eq!(again.log.counts(), (4, 1));
    assert_eq!(again.loaded.sessions[0].queue.len(), 2);
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_holding_an_entry_acknowledged_within_its_round_is_still_never_written() {
    // `--durability always`: nothing waits past its round.
    let mut rounds = rounds();
    let m = Arc::new(message("x"));
    let (b, mut rx) = batch(vec![enqueue("a", 1, &m), enqueue("a", 2, &m)]);
    rounds.commit(vec![b, lazy(vec![delete("a", 1)])], false);
    assert!(answered(&mut rx));
    assert!(!rounds.pending());
    assert_eq!(on_disk(&rounds), (vec![("a".into(), 2)], 0));
}
