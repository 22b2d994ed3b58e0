//! A log inside redb: one record per round holding all the entries it
//! appended (`rounds`, key: round number), one record per round holding
//! the entries it acknowledged (`acks`, the round's tombstones). A round
//! record goes once all its entries are acknowledged, an ack record once
//! every round it names has gone. A round so costs two B-tree inserts and a
//! few deletes instead of one per entry and one per acknowledgement.
//!
//! Which round holds each live entry, and how many live entries each round
//! has, is kept in memory and rebuilt on open by reading both tables.
//!
//! **Compaction.** A few long-lived entries (a session offline, or slow)
//! would pin every round record they are in. So a round record at least
//! [`COMPACT_AFTER`] rounds old with at most a tenth of its entries live
//! has those copied, bytes and all, into the new round's record, and goes,
//! in the same transaction. A round record is therefore one or more
//! appends blocks (`codec`), read until its end.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{
    codec::{encode_acks, encode_appends, encode_stored, Reader},
    liveness::Liveness,
    workload::{EntryKey, Round},
    Engine, EngineError,
};

const ROUNDS: TableDefinition<u64, &[u8]> = TableDefinition::new("rounds");
const ACKS: TableDefinition<u64, &[u8]> = TableDefinition::new("acks");

/// The file inside the engine's folder.
pub const FILE: &str = "rounds.redb";

/// Rounds a record waits before its few survivors are copied forward:
/// past the acknowledgement delays of subscribers that keep up.
pub const COMPACT_AFTER: u64 = 32;

/// Round records compacted at most per round: bounds one round's work.
const COMPACT_AT_ONCE: usize = 16;

/// The tables' record numbers are round numbers: a round's appends are its
/// own home, its acks another (tombstone) record.
fn index() -> Liveness {
    Liveness::separate()
}

pub struct RedbRounds {
    db: Database,
    index: Liveness,
}

impl RedbRounds {
    pub fn open(dir: &Path) -> Result<(RedbRounds, Vec<EntryKey>), EngineError> {
        let db = Database::create(dir.join(FILE))?;
        let txn = db.begin_write()?;
        txn.open_table(ROUNDS)?;
        txn.open_table(ACKS)?;
        txn.commit()?;

        let mut index = index();
        let mut ack_records = Vec::new();
        let read = db.begin_read()?;
        for row in read.open_table(ROUNDS)?.iter()? {
            let (round, bytes) = row?;
            let mut reader = Reader::new(bytes.value());
            while !reader.rest().is_empty() {
                index.append(round.value(), reader.appends()?);
            }
        }
        for row in read.open_table(ACKS)?.iter()? {
            let (round, bytes) = row?;
            ack_records.push((round.value(), Reader::new(bytes.value()).acks()?));
        }
        drop(read);
        // Ack records in round order, as written: each removes its entries.
        let mut emptied = Vec::new();
        for (round, acks) in &ack_records {
            emptied.extend(index.ack(*round, acks));
        }
        // An ack record naming no round record left (its rounds went in the
        // same commit as it, or it was written after them) is garbage.
        let orphans: Vec<u64> = ack_records
            .iter()
            .map(|(round, _)| *round)
            .filter(|&round| !index.is_needed_as_tombstones(round))
            .collect();
        let mut engine = RedbRounds { db, index };
        if !emptied.is_empty() || !orphans.is_empty() {
            let txn = engine.db.begin_write()?;
            engine.sweep(&txn, emptied)?;
            {
                let mut acks = txn.open_table(ACKS)?;
                for round in orphans {
                    acks.remove(round)?;
                }
            }
            txn.commit()?;
        }
        let live = engine.index.live_entries();
        Ok((engine, live))
    }

    /// Delete the round records in `emptied` and the ack records they free.
    fn sweep(&mut self, txn: &WriteTransaction, emptied: Vec<u64>) -> Result<(), EngineError> {
        let mut rounds = txn.open_table(ROUNDS)?;
        let mut acks = txn.open_table(ACKS)?;
        for home in emptied {
            rounds.remove(home)?;
            for ack in self.index.drop_home(home) {
                acks.remove(ack)?;
                self.index.drop_tombstones(ack);
            }
        }
        Ok(())
    }
}

impl RedbRounds {
    /// Copy the live entries of each round record in `victims` into
    /// `record` (the round `now`'s); the victims are then empty.
    fn compact(
        &mut self,
        txn: &WriteTransaction,
        now: u64,
        victims: &[u64],
        record: &mut Vec<u8>,
    ) -> Result<(), EngineError> {
        let rounds = txn.open_table(ROUNDS)?;
        for &victim in victims {
            let Some(bytes) = rounds.get(victim)? else {
                continue;
            };
            let bytes = bytes.value();
            let mut reader = Reader::new(bytes);
            let mut moved = Vec::new();
            while !reader.rest().is_empty() {
                let survivors = reader.survivors(|key| self.index.home_of(key) == Some(victim))?;
                encode_stored(&survivors, record);
                moved.extend(survivors.iter().flat_map(|m| {
                    m.entries
                        .iter()
                        .map(|&(client, _)| EntryKey { client, seq: m.seq })
                }));
            }
            self.index.append(now, moved);
        }
        Ok(())
    }
}

impl Engine for RedbRounds {
    fn commit(&mut self, round: &Round) -> Result<(), EngineError> {
        let txn = self.db.begin_write()?;
        let mut record = Vec::new();
        if !round.messages.is_empty() {
            encode_appends(&round.messages, &mut record);
            self.index.append(
                round.number,
                round.messages.iter().flat_map(|m| m.entries()),
            );
        }
        let mut emptied = Vec::new();
        if !round.acks.is_empty() {
            let mut acks = Vec::new();
            encode_acks(&round.acks, &mut acks);
            txn.open_table(ACKS)?
                .insert(round.number, acks.as_slice())?;
            emptied = self.index.ack(round.number, &round.acks);
        }
        let victims = match round.number.checked_sub(COMPACT_AFTER) {
            Some(oldest) => self.index.sparse(oldest, COMPACT_AT_ONCE),
            None => Vec::new(),
        };
        self.compact(&txn, round.number, &victims, &mut record)?;
        emptied.extend(victims);
        if !record.is_empty() {
            txn.open_table(ROUNDS)?
                .insert(round.number, record.as_slice())?;
        }
        self.sweep(&txn, emptied)?;
        // Acks of entries whose rounds all went in this very commit need
        // no record at all.
        if !round.acks.is_empty() && !self.index.is_needed_as_tombstones(round.number) {
            txn.open_table(ACKS)?.remove(round.number)?;
            self.index.drop_tombstones(round.number);
        }
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_engines::workload::{Generator, NewMessage};

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("kite-rounds-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn count(db: &Database, table: TableDefinition<u64, &[u8]>) -> usize {
        use redb::ReadableTableMetadata;
        db.begin_read()
            .unwrap()
            .open_table(table)
            .unwrap()
            .len()
            .unwrap() as usize
    }

    #[test]
    fn reopening_lists_exactly_the_unacknowledged_entries() {
        let dir = temp("reopen");
        let mut generator = Generator::new(3, 9);
        let mut expected = std::collections::BTreeSet::new();
        {
            let (mut engine, live) = RedbRounds::open(&dir).unwrap();
            assert!(live.is_empty());
            for r in 0..40u64 {
                let round = generator.round(r * 2_000, 4);
                for m in &round.messages {
                    expected.extend(m.entries());
                }
                for key in &round.acks {
                    expected.remove(key);
                }
                engine.commit(&round).unwrap();
            }
        }
        let (_, mut live) = RedbRounds::open(&dir).unwrap();
        live.sort_unstable();
        assert_eq!(live, expected.into_iter().collect::<Vec<_>>());
        assert_eq!(live.len(), generator.live());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_few_long_lived_entries_do_not_pin_old_round_records() {
        let dir = temp("compact");
        let (mut engine, _) = RedbRounds::open(&dir).unwrap();
        let keep = |seq: u64| seq % 50 == 0;
        let mut kept = Vec::new();
        for r in 1..=200u64 {
            let first = (r - 1) * 100 + 1;
            let messages = (first..first + 100)
                .map(|seq| NewMessage { seq, sessions: 1 })
                .collect();
            // Everything but every 50th entry is acknowledged 8 rounds later.
            let acks = if r > 8 {
                let old = (r - 9) * 100 + 1;
                (old..old + 100)
                    .filter(|&seq| !keep(seq))
                    .map(|seq| EntryKey { client: 0, seq })
                    .collect()
            } else {
                vec![]
            };
            engine
                .commit(&Round {
                    number: r,
                    messages,
                    acks,
                })
                .unwrap();
            kept.extend(((r - 1) * 100 + 1..=r * 100).filter(|&s| keep(s)));
        }
        // 200 rounds written; only the last COMPACT_AFTER + a few keep records.
        let records = count(&engine.db, ROUNDS);
        assert!(
            records <= COMPACT_AFTER as usize + 10,
            "{records} round records"
        );
        drop(engine);
        let (_, mut live) = RedbRounds::open(&dir).unwrap();
        live.sort_unstable();
        let from_last_rounds = |e: &EntryKey| e.seq > 192 * 100;
        let survivors: Vec<u64> = live
            .iter()
            .filter(|e| !from_last_rounds(e))
            .map(|e| e.seq)
            .collect();
        let expected: Vec<u64> = kept.iter().copied().filter(|&s| s <= 192 * 100).collect();
        assert_eq!(survivors, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn records_go_once_everything_they_hold_or_name_is_acknowledged() {
        let dir = temp("sweep");
        let (mut engine, _) = RedbRounds::open(&dir).unwrap();
        let a = EntryKey { client: 0, seq: 1 };
        let b = EntryKey { client: 1, seq: 1 };
        let append = Round {
            number: 1,
            messages: vec![NewMessage {
                seq: 1,
                sessions: 2,
            }],
            acks: vec![],
        };
        engine.commit(&append).unwrap();
        let ack = |number, key| Round {
            number,
            messages: vec![],
            acks: vec![key],
        };
        engine.commit(&ack(2, a)).unwrap();
        // Round 1 still holds b; ack record 2 must stay, or a would come back.
        assert_eq!((count(&engine.db, ROUNDS), count(&engine.db, ACKS)), (1, 1));
        drop(engine);
        let (mut engine, live) = RedbRounds::open(&dir).unwrap();
        assert_eq!(live, vec![b]);
        engine.commit(&ack(3, b)).unwrap();
        assert_eq!((count(&engine.db, ROUNDS), count(&engine.db, ACKS)), (0, 0));
        drop(engine);
        assert!(RedbRounds::open(&dir).unwrap().1.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
