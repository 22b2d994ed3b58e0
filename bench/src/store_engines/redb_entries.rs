//! Kite's queue today, modelled: one redb B-tree insert per entry into
//! `queue` (key client id + seq), one delete per acknowledgement, one write
//! transaction (one commit, one fsync) per round. As in
//! `server/src/store/round.rs`, a message for one session lives inside its
//! entry; one for several sessions is one record in `messages` plus a
//! delivery record per entry, and goes with the last entry (counts in
//! memory, rebuilt on open).

use std::{collections::HashMap, path::Path};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{
    workload::{client_id, client_number, delivery, payload, EntryKey, Round},
    Engine, EngineError,
};

const QUEUE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queue");
const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");

/// The file inside the engine's folder.
pub const FILE: &str = "queue.redb";

pub struct RedbEntries {
    db: Database,
    /// Entries naming each message kept in `messages`.
    refs: HashMap<u64, u32>,
}

impl RedbEntries {
    pub fn open(dir: &Path) -> Result<(RedbEntries, Vec<EntryKey>), EngineError> {
        let db = Database::create(dir.join(FILE))?;
        let txn = db.begin_write()?;
        txn.open_table(QUEUE)?;
        txn.open_table(MESSAGES)?;
        txn.commit()?;
        let mut live = Vec::new();
        let mut refs = HashMap::new();
        let read = db.begin_read()?;
        let queue = read.open_table(QUEUE)?;
        let shared = read.open_table(MESSAGES)?;
        for row in queue.iter()? {
            let (key, _) = row?;
            let (id, seq) = key.value();
            let client = client_number(id)
                .ok_or_else(|| EngineError::Corrupt(format!("client id {id:?}")))?;
            live.push(EntryKey { client, seq });
        }
        for row in shared.iter()? {
            refs.insert(row?.0.value(), 0);
        }
        for key in &live {
            if let Some(count) = refs.get_mut(&key.seq) {
                *count += 1;
            }
        }
        drop((queue, shared, read));
        Ok((RedbEntries { db, refs }, live))
    }
}

impl Engine for RedbEntries {
    fn commit(&mut self, round: &Round) -> Result<(), EngineError> {
        let txn = self.db.begin_write()?;
        {
            let mut queue = txn.open_table(QUEUE)?;
            let mut shared = txn.open_table(MESSAGES)?;
            let mut record = Vec::new();
            for message in &round.messages {
                let body = payload(message.seq);
                if message.sessions > 1 {
                    shared.insert(message.seq, body.as_slice())?;
                    self.refs.insert(message.seq, message.sessions);
                }
                for key in message.entries() {
                    record.clear();
                    record.extend_from_slice(&delivery(key));
                    if message.sessions == 1 {
                        record.extend_from_slice(&body);
                    }
                    queue.insert((client_id(key.client).as_str(), key.seq), record.as_slice())?;
                }
            }
            for key in &round.acks {
                queue.remove((client_id(key.client).as_str(), key.seq))?;
                if let Some(count) = self.refs.get_mut(&key.seq) {
                    *count -= 1;
                    if *count == 0 {
                        self.refs.remove(&key.seq);
                        shared.remove(key.seq)?;
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    }
}
