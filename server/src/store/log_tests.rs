//! The queue log on its own: its byte form, records going when their last
//! item does, compaction, and reading it back as a restart would.

use std::sync::Arc;

use proptest::prelude::*;
use redb::{Database, ReadableDatabase, ReadableTable};

use super::{parse, record_of, Found, Item, Log, COMPACT_AFTER, COMPACT_PER_ROUND, DEAD, LOG};

/// An in-memory file with the log's tables (the writer's tests use it too).
pub(in crate::store) fn db() -> Database {
    let db = Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(LOG).unwrap();
    txn.open_table(DEAD).unwrap();
    txn.commit().unwrap();
    db
}

/// Commit what `log` has for this round.
fn commit(db: &Database, log: &mut Log) {
    let txn = db.begin_write().unwrap();
    {
        let mut records = txn.open_table(LOG).unwrap();
        let mut dead = txn.open_table(DEAD).unwrap();
        log.commit(&mut records, &mut dead).unwrap();
    }
    txn.commit().unwrap();
}

/// (records in `log`, bitmaps in `dead`).
fn rows(db: &Database) -> (usize, usize) {
    let txn = db.begin_read().unwrap();
    let records = txn.open_table(LOG).unwrap().iter().unwrap().count();
    let dead = txn.open_table(DEAD).unwrap().iter().unwrap().count();
    (records, dead)
}

/// Read the log back as a restart would.
fn load(db: &Database) -> (Log, Found) {
    let txn = db.begin_read().unwrap();
    Log::load(
        &txn.open_table(LOG).unwrap(),
        &txn.open_table(DEAD).unwrap(),
    )
    .expect("the log reads")
}

/// Read the file back: the live entries (client, seq) and the live messages' seqs.
fn reread(db: &Database) -> (Log, Vec<(String, u64)>, Vec<u64>) {
    let (log, found) = load(db);
    let entries = found
        .entries
        .iter()
        .map(|e| (e.client.to_string(), e.seq))
        .collect();
    let mut messages: Vec<u64> = found.messages.keys().copied().collect();
    messages.sort();
    (log, entries, messages)
}

fn client(name: &str) -> Arc<str> {
    Arc::from(name)
}

/// An entry record as `records::encode_queued` starts one (version 1): the
/// log only looks at the first byte, to tell a naming entry (2) apart.
const HOLDS: &[u8] = &[1, 0xaa];
const NAMES: &[u8] = &[2, 0xbb];

#[test]
fn a_round_is_one_record_and_it_goes_with_its_last_live_item() {
    let db = db();
    let mut log = Log::default();
    for seq in 1..=100 {
        log.put_entry(&client("a"), seq, HOLDS);
    }
    commit(&db, &mut log);
    assert_eq!(rows(&db), (1, 0), "one record for the round, nothing dead");
    for seq in 1..=60 {
        assert!(log.remove("a", seq));
    }
    assert!(!log.remove("a", 1), "gone already");
    assert!(!log.remove("b", 1), "never there");
    commit(&db, &mut log);
    assert_eq!(rows(&db), (1, 1), "the record stays, with its bitmap");
    assert_eq!(reread(&db).1.len(), 40);
    for seq in 61..=100 {
        log.remove("a", seq);
    }
    commit(&db, &mut log);
    assert_eq!(
        rows(&db),
        (0, 0),
        "record and bitmap went with the last item"
    );
}

#[test]
fn an_entry_written_and_removed_in_one_round_is_never_written() {
    let db = db();
    let mut log = Log::default();
    log.put_entry(&client("a"), 1, HOLDS);
    log.remove("a", 1);
    assert!(log.changed());
    commit(&db, &mut log);
    assert_eq!(rows(&db), (0, 0));
}

#[test]
fn a_new_state_replaces_the_old_item_in_the_same_commit() {
    let db = db();
    let mut log = Log::default();
    log.put_entry(&client("a"), 1, HOLDS);
    log.put_entry(&client("a"), 2, HOLDS);
    commit(&db, &mut log);
    log.put_entry(&client("a"), 1, &[1, 0xcc]);
    commit(&db, &mut log);
    let (_, found) = load(&db);
    let live: Vec<_> = found
        .entries
        .iter()
        .map(|e| (e.client.to_string(), e.seq, e.record.clone()))
        .collect();
    assert_eq!(
        live,
        [
            ("a".into(), 1, vec![1, 0xcc]),
            ("a".into(), 2, HOLDS.to_vec())
        ],
        "one live copy, the newest, and the queue in seq order"
    );
}

#[test]
fn a_new_state_goes_beside_its_entry_and_the_older_state_dies() {
    let db = db();
    let mut log = Log::default();
    log.put_entry(&client("a"), 1, HOLDS);
    commit(&db, &mut log);
    let sent = [1, 1, 0, 7];
    let released = [1, 2, 0, 7];
    assert!(log.put_state("a", 1, &sent));
    assert!(!log.put_state("a", 2, &sent), "no entry 2");
    assert!(!log.put_state("b", 1, &sent), "no session b");
    commit(&db, &mut log);
    assert!(log.put_state("a", 1, &released));
    commit(&db, &mut log);
    let (mut again, found) = load(&db);
    assert_eq!(found.entries.len(), 1);
    assert_eq!(
        found.entries[0].record, HOLDS,
        "the entry is not written again"
    );
    assert_eq!(found.entries[0].state.as_deref(), Some(&released[..]));
    assert_eq!(rows(&db), (2, 0), "the record of the older state went");
    // Compacted or not, removing the entry takes its state along.
    assert!(again.remove("a", 1));
    commit(&db, &mut again);
    assert_eq!(rows(&db), (0, 0));
}

#[test]
fn states_move_with_their_entries_when_compacted() {
    let db = db();
    let mut log = Log::default();
    let mut seq = 0;
    for round in 0..3 * COMPACT_AFTER {
        for _ in 0..20 {
            seq += 1;
            log.put_entry(&client("online"), seq, HOLDS);
        }
        if round < COMPACT_AFTER {
            seq += 1;
            log.put_entry(&client("offline"), seq, HOLDS);
            commit(&db, &mut log);
            assert!(log.put_state("offline", seq, &[1, 1, 0, 9]));
        }
        commit(&db, &mut log);
        let online: Vec<u64> = reread(&db)
            .1
            .into_iter()
            .filter(|(c, _)| c == "online")
            .map(|(_, s)| s)
            .collect();
        for s in online {
            log.remove("online", s);
        }
        commit(&db, &mut log);
    }
    let (_, found) = load(&db);
    assert_eq!(found.entries.len(), COMPACT_AFTER as usize);
    assert!(found
        .entries
        .iter()
        .all(|e| e.state.as_deref() == Some(&[1, 1, 0, 9][..])));
    assert!(
        rows(&db).0 < 2 * COMPACT_AFTER as usize,
        "compacted: {:?}",
        rows(&db)
    );
}

#[test]
fn a_message_stored_once_goes_with_the_last_entry_naming_it() {
    let db = db();
    let mut log = Log::default();
    let mut bodies = 0;
    for name in ["a", "b", "c"] {
        log.put_naming(
            &client(name),
            9,
            |out| out.extend_from_slice(NAMES),
            |out| {
                bodies += 1;
                out.extend_from_slice(&[7; 100]);
            },
        );
    }
    assert_eq!(bodies, 1, "the body is encoded for the first entry only");
    commit(&db, &mut log);
    assert_eq!(reread(&db).2, [9]);
    log.remove("a", 9);
    log.remove_client("b");
    commit(&db, &mut log);
    let (again, entries, messages) = reread(&db);
    assert_eq!(
        (entries, messages),
        (vec![("c".into(), 9)], vec![9]),
        "c still needs it"
    );
    assert!(again.names(9), "a restart knows the entry names it");
    log.remove("c", 9);
    commit(&db, &mut log);
    assert_eq!(rows(&db), (0, 0));
}

#[test]
fn a_few_long_lived_entries_do_not_pin_old_records() {
    let db = db();
    let mut log = Log::default();
    // Each round: 50 entries acknowledged at once, one of an offline session.
    let rounds = 3 * COMPACT_AFTER;
    let mut seq = 0;
    for _ in 0..rounds {
        for _ in 0..50 {
            seq += 1;
            log.put_entry(&client("online"), seq, HOLDS);
        }
        seq += 1;
        log.put_entry(&client("offline"), seq, HOLDS);
        commit(&db, &mut log);
        for acknowledged in seq - 50..seq {
            assert!(log.remove("online", acknowledged));
        }
        commit(&db, &mut log);
    }
    let (records, _) = rows(&db);
    // The last COMPACT_AFTER, those waiting to be compacted together, and
    // the survivors' records (COMPACT_PER_ROUND records' worth each).
    let most = COMPACT_AFTER as usize + COMPACT_PER_ROUND + rounds as usize / COMPACT_PER_ROUND;
    assert!(
        records <= most,
        "{records} records for {rounds} rounds (at most {most}): the old ones were compacted"
    );
    let (_, entries, _) = reread(&db);
    assert_eq!(
        entries.len(),
        rounds as usize,
        "every offline entry is still there"
    );
    assert!(entries.iter().all(|(c, _)| c == "offline"));
    // The offline session comes back and takes them all: nothing is left.
    for (_, seq) in entries {
        assert!(log.remove("offline", seq));
    }
    commit(&db, &mut log);
    assert_eq!(rows(&db), (0, 0));
}

#[test]
fn survivors_are_not_copied_again_while_they_stay_live() {
    let db = db();
    let mut log = Log::default();
    let mut seq = 0;
    let mut put_and_ack = |log: &mut Log, keep: bool| {
        for _ in 0..20 {
            seq += 1;
            log.put_entry(&client("online"), seq, HOLDS);
        }
        if keep {
            seq += 1;
            log.put_entry(&client("offline"), seq, HOLDS);
        }
        commit(&db, log);
        for acknowledged in seq - 20 - keep as u64 + 1..=seq - keep as u64 {
            log.remove("online", acknowledged);
        }
        commit(&db, log);
    };
    for _ in 0..COMPACT_AFTER {
        put_and_ack(&mut log, true);
    }
    for _ in 0..3 * COMPACT_AFTER {
        put_and_ack(&mut log, false);
    }
    // The survivors' records hold nothing but live items: none is sparse.
    assert!(log.sparse.is_empty(), "{:?}", log.sparse);
    assert_eq!(reread(&db).1.len(), COMPACT_AFTER as usize);
}

#[test]
fn a_reread_log_goes_on_where_it_stopped() {
    let db = db();
    let mut log = Log::default();
    for seq in 1..=10 {
        log.put_entry(&client("a"), seq, HOLDS);
    }
    commit(&db, &mut log);
    log.remove("a", 3);
    commit(&db, &mut log);
    let (mut log, _, _) = reread(&db);
    log.put_entry(&client("a"), 11, HOLDS);
    for seq in [1, 2, 4, 5, 6, 7, 8, 9, 10] {
        assert!(log.remove("a", seq), "{seq} is known after the restart");
    }
    commit(&db, &mut log);
    assert_eq!(reread(&db).1, [("a".to_string(), 11)]);
    assert_eq!(
        rows(&db),
        (1, 0),
        "the first record went, the new one stays"
    );
}

#[test]
fn a_record_of_a_newer_format_is_refused() {
    assert!(parse(&[9]).is_err());
    assert!(parse(&[1, 1, 0]).is_err(), "truncated");
    assert!(parse(&[1, 7]).is_err(), "unknown item");
}

fn item() -> impl Strategy<Value = (u8, String, u64, Vec<u8>)> {
    (
        0..3u8,
        ".{0,20}",
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
}

proptest! {
    #[test]
    fn records_round_trip(items in proptest::collection::vec(item(), 0..20)) {
        let items: Vec<Item> = items
            .iter()
            .map(|(kind, client, seq, bytes)| match kind {
                0 => Item::Entry { client, seq: *seq, record: bytes },
                1 => Item::State { client, seq: *seq, record: bytes },
                _ => Item::Message { seq: *seq, body: bytes },
            })
            .collect();
        let value = record_of(&items);
        prop_assert_eq!(parse(&value).unwrap(), items);
    }
}
