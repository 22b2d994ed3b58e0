//! The fjall LSM tree: the same keys and values as `redb_entries` (a
//! keyspace `queue` keyed by client id and seq, `messages` for a message of
//! several sessions), one write batch per round committed with
//! `PersistMode::SyncData` (one journal append, one `fdatasync`). Deletes
//! are tombstones that compaction later drops; memtable flushes and
//! compactions run on fjall's own threads, counted in the process CPU.

use std::{collections::HashMap, path::Path};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{
    workload::{client_id, client_number, delivery, payload, EntryKey, Round},
    Engine, EngineError,
};

impl From<fjall::Error> for EngineError {
    fn from(e: fjall::Error) -> Self {
        EngineError::Fjall(e.to_string())
    }
}

/// Client id, a zero byte, seq big-endian: one client's entries in order.
fn key(entry: EntryKey) -> Vec<u8> {
    let mut key = client_id(entry.client).into_bytes();
    key.push(0);
    key.extend_from_slice(&entry.seq.to_be_bytes());
    key
}

fn parse_key(bytes: &[u8]) -> Result<EntryKey, EngineError> {
    let bad = || EngineError::Corrupt(format!("queue key {bytes:?}"));
    let (id, seq) = bytes.split_at(bytes.len().checked_sub(9).ok_or_else(bad)?);
    let client = std::str::from_utf8(id)
        .ok()
        .and_then(client_number)
        .ok_or_else(bad)?;
    let seq = u64::from_be_bytes(seq[1..].try_into().map_err(|_| bad())?);
    Ok(EntryKey { client, seq })
}

pub struct FjallLsm {
    db: Database,
    queue: Keyspace,
    messages: Keyspace,
    /// Entries naming each message kept in `messages`.
    refs: HashMap<u64, u32>,
}

impl FjallLsm {
    pub fn open(dir: &Path) -> Result<(FjallLsm, Vec<EntryKey>), EngineError> {
        let db = Database::builder(dir).open()?;
        let queue = db.keyspace("queue", KeyspaceCreateOptions::default)?;
        let messages = db.keyspace("messages", KeyspaceCreateOptions::default)?;
        let mut live = Vec::new();
        for row in queue.iter() {
            live.push(parse_key(&row.key()?)?);
        }
        let mut refs = HashMap::new();
        for row in messages.iter() {
            let seq = row.key()?;
            let seq = u64::from_be_bytes(
                seq.as_ref()
                    .try_into()
                    .map_err(|_| EngineError::Corrupt("message key".into()))?,
            );
            refs.insert(seq, 0);
        }
        for entry in &live {
            if let Some(count) = refs.get_mut(&entry.seq) {
                *count += 1;
            }
        }
        let engine = FjallLsm {
            db,
            queue,
            messages,
            refs,
        };
        Ok((engine, live))
    }
}

impl Engine for FjallLsm {
    fn commit(&mut self, round: &Round) -> Result<(), EngineError> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncData));
        for message in &round.messages {
            let body = payload(message.seq);
            if message.sessions > 1 {
                batch.insert(&self.messages, message.seq.to_be_bytes(), body.as_slice());
                self.refs.insert(message.seq, message.sessions);
            }
            for entry in message.entries() {
                let mut record = delivery(entry).to_vec();
                if message.sessions == 1 {
                    record.extend_from_slice(&body);
                }
                batch.insert(&self.queue, key(entry), record);
            }
        }
        for entry in &round.acks {
            batch.remove(&self.queue, key(*entry));
            if let Some(count) = self.refs.get_mut(&entry.seq) {
                *count -= 1;
                if *count == 0 {
                    self.refs.remove(&entry.seq);
                    batch.remove(&self.messages, entry.seq.to_be_bytes());
                }
            }
        }
        batch.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back() {
        let entry = EntryKey {
            client: 17,
            seq: 1 << 40,
        };
        assert_eq!(parse_key(&key(entry)).unwrap(), entry);
        assert!(parse_key(b"short").is_err());
    }
}
