//! A log inside redb: one record per round holding all the entries it
//! appended (`rounds`, key: round number), one record per round holding
//! the entries it acknowledged (`acks`, the round's tombstones). A round
//! record goes once all its entries are acknowledged, an ack record once
//! every round it names has gone. A round so costs two B-tree inserts and a
//! few deletes instead of one per entry and one per acknowledgement.
//!
//! Which round holds each live entry, and how many live entries each round
//! has, is kept in memory and rebuilt on open by reading both tables.

use std::{
    collections::{BTreeSet, HashMap},
    path::Path,
};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{
    codec::{encode_acks, encode_appends, Reader},
    workload::{EntryKey, Round},
    Engine, EngineError,
};

const ROUNDS: TableDefinition<u64, &[u8]> = TableDefinition::new("rounds");
const ACKS: TableDefinition<u64, &[u8]> = TableDefinition::new("acks");

/// The file inside the engine's folder.
pub const FILE: &str = "rounds.redb";

/// Which records are still needed, and why.
#[derive(Debug, Default)]
struct Index {
    /// The round record holding each live entry.
    round_of: HashMap<EntryKey, u64>,
    /// Live entries per round record.
    live_in: HashMap<u64, u32>,
    /// Per ack record, the round records it names that still exist.
    names: HashMap<u64, BTreeSet<u64>>,
    /// Per round record, the ack records naming it.
    named_by: HashMap<u64, Vec<u64>>,
}

impl Index {
    fn append(&mut self, round: u64, entries: impl IntoIterator<Item = EntryKey>) {
        let mut count = 0;
        for key in entries {
            self.round_of.insert(key, round);
            count += 1;
        }
        if count > 0 {
            self.live_in.insert(round, count);
        }
    }

    /// Acknowledge `acks` in ack record `round`; returns the round records
    /// left with no live entry.
    fn ack(&mut self, round: u64, acks: &[EntryKey]) -> Vec<u64> {
        let mut emptied = Vec::new();
        for key in acks {
            let Some(home) = self.round_of.remove(key) else {
                continue; // acknowledged before, or never stored
            };
            if self.names.entry(round).or_default().insert(home) {
                self.named_by.entry(home).or_default().push(round);
            }
            let live = self.live_in.get_mut(&home).expect("counted");
            *live -= 1;
            if *live == 0 {
                emptied.push(home);
            }
        }
        emptied
    }

    /// Forget round record `home`; returns the ack records no longer needed.
    fn drop_round(&mut self, home: u64) -> Vec<u64> {
        self.live_in.remove(&home);
        let mut unneeded = Vec::new();
        for ack in self.named_by.remove(&home).unwrap_or_default() {
            let names = self.names.get_mut(&ack).expect("named");
            names.remove(&home);
            if names.is_empty() {
                self.names.remove(&ack);
                unneeded.push(ack);
            }
        }
        unneeded
    }
}

pub struct RedbRounds {
    db: Database,
    index: Index,
}

impl RedbRounds {
    pub fn open(dir: &Path) -> Result<(RedbRounds, Vec<EntryKey>), EngineError> {
        let db = Database::create(dir.join(FILE))?;
        let txn = db.begin_write()?;
        txn.open_table(ROUNDS)?;
        txn.open_table(ACKS)?;
        txn.commit()?;

        let mut index = Index::default();
        let mut ack_records = Vec::new();
        let read = db.begin_read()?;
        for row in read.open_table(ROUNDS)?.iter()? {
            let (round, bytes) = row?;
            let entries = Reader::new(bytes.value()).appends()?;
            index.append(round.value(), entries);
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
            .filter(|round| !index.names.contains_key(round))
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
        let live = engine.index.round_of.keys().copied().collect();
        Ok((engine, live))
    }

    /// Delete the round records in `emptied` and the ack records they free.
    fn sweep(&mut self, txn: &WriteTransaction, emptied: Vec<u64>) -> Result<(), EngineError> {
        let mut rounds = txn.open_table(ROUNDS)?;
        let mut acks = txn.open_table(ACKS)?;
        for home in emptied {
            rounds.remove(home)?;
            for ack in self.index.drop_round(home) {
                acks.remove(ack)?;
            }
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
            txn.open_table(ROUNDS)?
                .insert(round.number, record.as_slice())?;
            self.index.append(
                round.number,
                round.messages.iter().flat_map(|m| m.entries()),
            );
        }
        if !round.acks.is_empty() {
            record.clear();
            encode_acks(&round.acks, &mut record);
            txn.open_table(ACKS)?
                .insert(round.number, record.as_slice())?;
            let emptied = self.index.ack(round.number, &round.acks);
            self.sweep(&txn, emptied)?;
            // Acks of entries whose rounds all went in this very commit
            // need no record at all.
            if !self.index.names.contains_key(&round.number) {
                txn.open_table(ACKS)?.remove(round.number)?;
            }
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
