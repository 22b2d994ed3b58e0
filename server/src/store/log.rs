//! Queued messages on disk (file format 3): a log inside the redb file.
//!
//! **One record per round.** Everything a commit round writes to the queue
//! (new entries, new states of entries, a message stored once for several
//! sessions) is appended as the items of ONE record in `log`, under an
//! increasing record number. An entry that goes (acknowledged, or its
//! session deleted) is not deleted from a B-tree: it is marked dead in its
//! record's bitmap in `dead` (same number), and the record and its bitmap go
//! once every item in them is dead. A round so costs one B-tree insert, and
//! one bitmap write per older record it acknowledged into, instead of an
//! insert and a delete per queued message: the part of a persistent QoS 1
//! message that cost most (`kite-bench store-engines`, `redb-rounds`
//! against `redb-entries`, in `bench/results/store-engines/`).
//!
//! **An item lives once.** A new state of an entry (sent, released) is a
//! small state item in the round's record, beside the entry, so a delivery
//! does not write its message again; the entry's previous state item is
//! marked dead in the same transaction. An entry written anew replaces the
//! old one and its state the same way, so a file never holds two live
//! copies of either. A message named by several entries goes with the last
//! of them.
//!
//! **In memory**, where each live item is (record and index) and how many
//! items of each record are live: rebuilt on open by reading both tables.
//!
//! **Compaction.** A few long-lived entries (an offline session's) would
//! pin every record they are in. A record at least [`COMPACT_AFTER`]
//! records old with at most a tenth of its items live has those copied,
//! bytes and all, into a record of survivors, and goes, in the same
//! transaction. Survivors get a record of their own, not the round's, so a
//! long backlog is not copied again with every round's leftovers.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
};

use bytes::{BufMut, BytesMut};
use redb::{ReadableTable, Table, TableDefinition};
use rustc_hash::FxHashMap;

pub(super) use super::log_items::{parse, record_of, Item};
use super::{
    log_items::{put_keyed, put_written, ENTRY, MESSAGE, VERSION},
    queued_version, RecordError, DELIVERY_VERSION,
};

/// The queue's records: items appended by one round (or one compaction).
pub(super) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
/// Which items of a record (same number) are dead: a bitmap.
pub(super) const DEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("dead");

/// How many records newer a sparse record must be before it is compacted:
/// the records of the last rounds are still being acknowledged into.
pub(super) const COMPACT_AFTER: u64 = 64;
/// Sparse records are compacted this many at a time (at most, so one round
/// never carries the whole backlog; at least, so survivors are not spread
/// over a record each), unless the oldest has waited [`COMPACT_AFTER`] four
/// times over.
pub(super) const COMPACT_PER_ROUND: usize = 16;

type Bytes = &'static [u8];
type LogTable<'t> = Table<'t, u64, Bytes>;

/// Where an item is: its record, and its index in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Loc {
    record: u64,
    index: u32,
}

/// One record's items: how many, how many live, which are dead.
#[derive(Debug, Default)]
struct Record {
    items: u32,
    live: u32,
    /// Bit `i` set: item `i` is dead (the `dead` value after its version byte).
    dead: Vec<u8>,
}

impl Record {
    fn is_dead(&self, index: u32) -> bool {
        let (byte, bit) = (index as usize / 8, index % 8);
        self.dead.get(byte).is_some_and(|b| b & (1 << bit) != 0)
    }

    fn kill(&mut self, index: u32) {
        let (byte, bit) = (index as usize / 8, index % 8);
        if self.dead.len() <= byte {
            self.dead.resize(byte + 1, 0);
        }
        if self.dead[byte] & (1 << bit) != 0 {
            debug_assert!(false, "an item dies once");
            return;
        }
        self.dead[byte] |= 1 << bit;
        self.live -= 1;
    }

    /// Few enough live items to be worth copying out.
    fn sparse(&self) -> bool {
        self.live > 0 && self.live * 10 <= self.items
    }

    fn bitmap(&self) -> Vec<u8> {
        let mut value = Vec::with_capacity(1 + self.dead.len());
        value.push(VERSION);
        value.extend_from_slice(&self.dead);
        value
    }
}

/// Where a session's entry is, and its newest state written on its own.
#[derive(Debug, Clone, Copy)]
struct Slot {
    entry: Loc,
    state: Option<Loc>,
}

/// A message stored once for several sessions.
#[derive(Debug)]
struct Named {
    loc: Loc,
    /// Live entries naming it.
    refs: u32,
}

/// What the file's log holds, and the record the current round fills.
#[derive(Debug, Default)]
pub(super) struct Log {
    /// Each session's entries on disk, by seq.
    entries: FxHashMap<Arc<str>, BTreeMap<u64, Slot>>,
    /// The messages stored once, by seq.
    messages: FxHashMap<u64, Named>,
    records: BTreeMap<u64, Record>,
    /// Records whose bitmap changed since the last commit.
    dirty: BTreeSet<u64>,
    /// Records worth compacting (see [`Record::sparse`]).
    sparse: BTreeSet<u64>,
    /// The number of the record being filled.
    next: u64,
    /// Its value so far, version byte and items (written at [`Log::commit`]).
    filling: BytesMut,
    filled: u32,
}

/// A live entry as [`Log::load`] found it.
pub(super) struct FoundEntry {
    pub client: Arc<str>,
    pub seq: u64,
    pub record: Vec<u8>,
    /// Its newest state, when written on its own (`records::encode_state`).
    pub state: Option<Vec<u8>>,
}

/// What [`Log::load`] found, for the caller to decode.
pub(super) struct Found {
    /// The live entries, each session's in order of seq.
    pub entries: Vec<FoundEntry>,
    /// The live messages stored once, by seq.
    pub messages: HashMap<u64, Vec<u8>>,
    /// The highest seq of any live item.
    pub max_seq: u64,
}

impl Log {
    /// Read the log: what is live, and where.
    pub(super) fn load(
        log: &impl ReadableTable<u64, Bytes>,
        dead: &impl ReadableTable<u64, Bytes>,
    ) -> Result<(Log, Found), LoadError> {
        let mut state = Log::default();
        let mut found = Found {
            entries: Vec::new(),
            messages: HashMap::new(),
            max_seq: 0,
        };
        let mut deaths: HashMap<u64, Vec<u8>> = HashMap::new();
        for row in dead.iter()? {
            let (id, value) = row?;
            let value = value.value();
            if value.first() != Some(&VERSION) {
                return Err(LoadError::Bad(id.value(), RecordError::Truncated));
            }
            deaths.insert(id.value(), value[1..].to_vec());
        }
        let mut entries: Vec<FoundEntry> = Vec::new();
        let mut states: Vec<(Arc<str>, u64, Loc, Vec<u8>)> = Vec::new();
        for row in log.iter()? {
            let (id, value) = row?;
            let id = id.value();
            let value = value.value();
            let items = parse(value).map_err(|e| LoadError::Bad(id, e))?;
            let mut record = Record {
                items: items.len() as u32,
                live: items.len() as u32,
                dead: deaths.remove(&id).unwrap_or_default(),
            };
            record.live -= (0..record.items).filter(|&i| record.is_dead(i)).count() as u32;
            for (index, item) in items.into_iter().enumerate() {
                let index = index as u32;
                if record.is_dead(index) {
                    continue;
                }
                let loc = Loc { record: id, index };
                match item {
                    Item::Entry {
                        client,
                        seq,
                        record,
                    } => {
                        found.max_seq = found.max_seq.max(seq);
                        let client: Arc<str> = Arc::from(client);
                        let queue = state.entries.entry(client.clone()).or_default();
                        let slot = Slot {
                            entry: loc,
                            state: None,
                        };
                        if queue.insert(seq, slot).is_some() {
                            return Err(LoadError::Bad(id, twice("entry", seq)));
                        }
                        entries.push(FoundEntry {
                            client,
                            seq,
                            record: record.to_vec(),
                            state: None,
                        });
                    }
                    Item::State {
                        client,
                        seq,
                        record,
                    } => states.push((Arc::from(client), seq, loc, record.to_vec())),
                    Item::Message { seq, body } => {
                        found.max_seq = found.max_seq.max(seq);
                        let named = Named { loc, refs: 0 };
                        if state.messages.insert(seq, named).is_some() {
                            return Err(LoadError::Bad(id, twice("message", seq)));
                        }
                        found.messages.insert(seq, body.to_vec());
                    }
                }
            }
            if record.sparse() {
                state.sparse.insert(id);
            }
            if record.live == 0 {
                // Dead to the last item yet still there (none should be): goes now.
                state.dirty.insert(id);
            }
            state.records.insert(id, record);
            state.next = id + 1;
        }
        // Bitmaps of records that are gone: left by nothing we write, but harmless.
        state.dirty.extend(deaths.into_keys());
        entries.sort_by(|a, b| a.client.cmp(&b.client).then(a.seq.cmp(&b.seq)));
        for (client, seq, loc, record) in states {
            let slot = state
                .entries
                .get_mut(&client)
                .and_then(|queue| queue.get_mut(&seq));
            match slot {
                Some(slot) if slot.state.is_none() => {
                    slot.state = Some(loc);
                    let at = entries
                        .binary_search_by(|e| (&*e.client, e.seq).cmp(&(&*client, seq)))
                        .expect("listed with its slot");
                    entries[at].state = Some(record);
                }
                Some(_) => return Err(LoadError::Bad(loc.record, twice("state", seq))),
                // Its entry is gone (none should be): it goes too.
                None => state.kill(loc),
            }
        }
        for entry in &entries {
            if queued_version(&entry.record) == Some(DELIVERY_VERSION) {
                if let Some(named) = state.messages.get_mut(&entry.seq) {
                    named.refs += 1;
                }
            }
        }
        // A message no entry names any more (none should be) goes now.
        let unnamed: Vec<u64> = state
            .messages
            .iter()
            .filter(|(_, named)| named.refs == 0)
            .map(|(&seq, _)| seq)
            .collect();
        for seq in unnamed {
            let named = state.messages.remove(&seq).expect("listed");
            found.messages.remove(&seq);
            state.kill(named.loc);
        }
        found.entries = entries;
        Ok((state, found))
    }

    /// Whether message `seq` is stored once for several sessions (its
    /// entries name it).
    #[cfg(test)]
    pub(super) fn names(&self, seq: u64) -> bool {
        self.messages.contains_key(&seq)
    }

    /// Write `client`'s entry at `seq`: a new one holding its message, or a
    /// new state of one in the file (which replaces it).
    #[cfg(test)]
    pub(super) fn put_entry(&mut self, client: &Arc<str>, seq: u64, record: &[u8]) {
        self.put_entry_with(client, seq, |out| out.put_slice(record));
    }

    /// [`Log::put_entry`], the record appended by `write` (encoded in place).
    pub(super) fn put_entry_with(
        &mut self,
        client: &Arc<str>,
        seq: u64,
        write: impl FnOnce(&mut BytesMut),
    ) {
        let entry = self.next_loc();
        put_keyed(&mut self.filling, ENTRY, client, seq);
        put_written(&mut self.filling, write);
        let queue = self.entries.entry(client.clone()).or_default();
        let slot = Slot { entry, state: None };
        if let Some(old) = queue.insert(seq, slot) {
            self.kill_slot(old);
        }
    }

    /// Write a new state (`records::encode_state`) of `client`'s entry at
    /// `seq`, beside the entry; false if the file has no such entry.
    pub(super) fn put_state(&mut self, client: &str, seq: u64, record: &[u8]) -> bool {
        if !self
            .entries
            .get(client)
            .is_some_and(|queue| queue.contains_key(&seq))
        {
            return false;
        }
        let loc = self.append(Item::State {
            client,
            seq,
            record,
        });
        let slot = self
            .entries
            .get_mut(client)
            .and_then(|queue| queue.get_mut(&seq))
            .expect("checked");
        if let Some(old) = slot.state.replace(loc) {
            self.kill(old);
        }
        true
    }

    /// Write a new entry of `client` naming message `seq`, and the message
    /// itself (`body()`) with the first entry that names it.
    pub(super) fn put_naming(
        &mut self,
        client: &Arc<str>,
        seq: u64,
        record: impl FnOnce(&mut BytesMut),
        body: impl FnOnce(&mut BytesMut),
    ) {
        if !self.messages.contains_key(&seq) {
            let loc = self.next_loc();
            self.filling.put_u8(MESSAGE);
            self.filling.put_u64(seq);
            put_written(&mut self.filling, body);
            self.messages.insert(seq, Named { loc, refs: 0 });
        }
        self.messages.get_mut(&seq).expect("stored").refs += 1;
        self.put_entry_with(client, seq, record);
    }

    /// Remove `client`'s entry at `seq`; false if the file has none.
    pub(super) fn remove(&mut self, client: &str, seq: u64) -> bool {
        let Some(queue) = self.entries.get_mut(client) else {
            return false;
        };
        let Some(slot) = queue.remove(&seq) else {
            return false;
        };
        if queue.is_empty() {
            self.entries.remove(client);
        }
        self.kill_slot(slot);
        self.release(seq);
        true
    }

    /// Remove every entry of `client`.
    pub(super) fn remove_client(&mut self, client: &str) {
        for (seq, slot) in self.entries.remove(client).unwrap_or_default() {
            self.kill_slot(slot);
            self.release(seq);
        }
    }

    /// Forget the entries of sessions that are not in `sessions` (none
    /// should be left: a session and its queue go in one transaction).
    pub(super) fn keep_only(&mut self, sessions: impl Fn(&str) -> bool) -> usize {
        let orphans: Vec<Arc<str>> = self
            .entries
            .keys()
            .filter(|client| !sessions(client))
            .cloned()
            .collect();
        let mut count = 0;
        for client in orphans {
            count += self.entries.get(&client).map_or(0, BTreeMap::len);
            self.remove_client(&client);
        }
        count
    }

    /// Something to write at the next commit.
    pub(super) fn changed(&self) -> bool {
        self.filled > 0 || !self.dirty.is_empty() || self.compaction_due()
    }

    /// Write this round: its record, the bitmaps that changed, the records
    /// that died, and the compaction that is due. `log` and `dead` open the
    /// tables (only called when there is something to write).
    pub(super) fn commit<'t>(
        &mut self,
        log: &mut LogTable<'t>,
        dead: &mut LogTable<'t>,
    ) -> Result<(), redb::Error> {
        if self.filled > 0 {
            let id = self.next;
            self.next += 1;
            self.filled = 0;
            if self.records.get(&id).is_some_and(|r| r.live == 0) {
                // Everything it would hold went within the round.
                self.records.remove(&id);
                self.dirty.remove(&id);
                self.sparse.remove(&id);
            } else {
                log.insert(id, &self.filling[..])?;
            }
            self.filling.clear();
        }
        self.compact(log, dead)?;
        for id in std::mem::take(&mut self.dirty) {
            match self.records.get(&id) {
                Some(record) if record.live > 0 => {
                    dead.insert(id, record.bitmap().as_slice())?;
                }
                _ => {
                    self.records.remove(&id);
                    self.sparse.remove(&id);
                    log.remove(id)?;
                    dead.remove(id)?;
                }
            }
        }
        Ok(())
    }

    /// After a failed commit: what the file holds is what it held before
    /// the round, so the state is read again.
    pub(super) fn reload(
        log: &impl ReadableTable<u64, Bytes>,
        dead: &impl ReadableTable<u64, Bytes>,
    ) -> Result<Log, LoadError> {
        Ok(Log::load(log, dead)?.0)
    }

    fn append(&mut self, item: Item<'_>) -> Loc {
        let loc = self.next_loc();
        item.put(&mut self.filling);
        loc
    }

    /// Where the next item of the round's record goes (counted live).
    fn next_loc(&mut self) -> Loc {
        if self.filling.is_empty() {
            self.filling.put_u8(VERSION);
        }
        let index = self.filled;
        self.filled += 1;
        let record = self.records.entry(self.next).or_default();
        record.items += 1;
        record.live += 1;
        Loc {
            record: self.next,
            index,
        }
    }

    fn kill_slot(&mut self, slot: Slot) {
        self.kill(slot.entry);
        if let Some(state) = slot.state {
            self.kill(state);
        }
    }

    fn kill(&mut self, loc: Loc) {
        let Some(record) = self.records.get_mut(&loc.record) else {
            // Never so (the index moves with compaction); a release build
            // goes on rather than stop storing: the item is gone anyway.
            debug_assert!(false, "a live item's record: {loc:?}");
            tracing::error!(
                record = loc.record,
                "store: a queue item's record is unknown"
            );
            return;
        };
        record.kill(loc.index);
        if record.sparse() {
            self.sparse.insert(loc.record);
        }
        self.dirty.insert(loc.record);
    }

    /// One entry naming message `seq` is gone; the message goes with the last.
    fn release(&mut self, seq: u64) {
        if let Some(named) = self.messages.get_mut(&seq) {
            named.refs -= 1;
            if named.refs == 0 {
                let loc = named.loc;
                self.messages.remove(&seq);
                self.kill(loc);
            }
        }
    }

    fn compaction_due(&self) -> bool {
        let mut due = self
            .sparse
            .iter()
            .take_while(|&&id| id + COMPACT_AFTER <= self.next);
        let oldest = due.next();
        oldest.is_some_and(|&id| id + 4 * COMPACT_AFTER <= self.next)
            || due.count() + 1 >= COMPACT_PER_ROUND
    }

    /// Copy the live items of the oldest sparse records into one new
    /// record, and drop those records.
    fn compact<'t>(
        &mut self,
        log: &mut LogTable<'t>,
        dead: &mut LogTable<'t>,
    ) -> Result<(), redb::Error> {
        if !self.compaction_due() {
            return Ok(());
        }
        let due: Vec<u64> = self
            .sparse
            .iter()
            .take_while(|&&id| id + COMPACT_AFTER <= self.next)
            .take(COMPACT_PER_ROUND)
            .copied()
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let id = self.next;
        self.next += 1;
        let mut survivors = vec![VERSION];
        let mut copied = 0u32;
        for old in due {
            self.sparse.remove(&old);
            let Some(record) = self.records.remove(&old) else {
                continue;
            };
            self.dirty.remove(&old);
            let value = log
                .remove(old)?
                .ok_or_else(|| corrupted(old, "the record is missing"))?;
            dead.remove(old)?;
            let items = parse(value.value()).map_err(|e| corrupted(old, e))?;
            for (index, item) in items.into_iter().enumerate() {
                if record.is_dead(index as u32) {
                    continue;
                }
                item.put(&mut survivors);
                let loc = Loc {
                    record: id,
                    index: copied,
                };
                copied += 1;
                match item {
                    Item::Entry { client, seq, .. } => {
                        if let Some(at) = self.slot_mut(client, seq) {
                            at.entry = loc;
                        }
                    }
                    Item::State { client, seq, .. } => {
                        if let Some(at) = self.slot_mut(client, seq) {
                            at.state = Some(loc);
                        }
                    }
                    Item::Message { seq, .. } => {
                        if let Some(named) = self.messages.get_mut(&seq) {
                            named.loc = loc;
                        }
                    }
                }
            }
        }
        tracing::debug!(survivors = copied, "store: sparse queue records compacted");
        if copied > 0 {
            log.insert(id, survivors.as_slice())?;
            self.records.insert(
                id,
                Record {
                    items: copied,
                    live: copied,
                    dead: Vec::new(),
                },
            );
        }
        Ok(())
    }

    fn slot_mut(&mut self, client: &str, seq: u64) -> Option<&mut Slot> {
        self.entries
            .get_mut(client)
            .and_then(|queue| queue.get_mut(&seq))
    }

    /// How many entries and stored-once messages the log holds.
    #[cfg(test)]
    pub(super) fn counts(&self) -> (usize, usize) {
        let entries = self.entries.values().map(BTreeMap::len).sum();
        (entries, self.messages.len())
    }
}

fn twice(what: &str, seq: u64) -> RecordError {
    RecordError::Message(format!("the {what} at seq {seq} is live twice"))
}

fn corrupted(record: u64, why: impl std::fmt::Display) -> redb::Error {
    redb::Error::Corrupted(format!("queue log record {record}: {why}"))
}

/// Why the log could not be read.
#[derive(thiserror::Error, Debug)]
pub(super) enum LoadError {
    #[error(transparent)]
    Db(#[from] redb::Error),
    #[error("queue log record {0}: {1}")]
    Bad(u64, RecordError),
}

impl From<redb::StorageError> for LoadError {
    fn from(err: redb::StorageError) -> Self {
        LoadError::Db(err.into())
    }
}

#[cfg(test)]
#[path = "log_tests.rs"]
pub(super) mod tests;
