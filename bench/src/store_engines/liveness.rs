//! Which records of a log-structured store are still needed, and why: for
//! `redb_rounds` (round records and ack records in redb) and `segment_log`
//! (segment files, holding both). Kept in memory, rebuilt on open by
//! replaying the records in the order they were written.
//!
//! An entry lives in one *home* (the record that appended it, or the one a
//! compaction copied it to). A tombstone record *names* every other home
//! whose entries it buries: it must outlive them, or a buried entry would
//! come back on the next open. So a home goes once none of its entries is
//! live, and a tombstone record once every home it names has gone, or once
//! its tombstones of homes still there were copied to a newer record
//! (kept per record and home for that: a segment with no live entry, kept
//! only for tombstones of an old segment that stays, would otherwise keep
//! the next segment too, whose tombstones bury its entries, and so on).

use std::collections::{BTreeMap, HashMap};

use super::workload::EntryKey;

/// At most this share of a record's entries live (1/10) makes it worth
/// copying them forward and deleting it.
const COMPACT_BELOW: u64 = 10;

#[derive(Debug, Default)]
pub struct Liveness {
    /// A home is also a tombstone record (a segment file holds both): its
    /// tombstones of its own entries name nothing, as they go together.
    homes_hold_tombstones: bool,
    /// The home of each live entry.
    home_of: HashMap<EntryKey, u64>,
    /// Live entries per home, oldest home first.
    live_in: BTreeMap<u64, u64>,
    /// Entries each home received, live or not.
    total_in: HashMap<u64, u64>,
    /// Per tombstone record, the other homes it names that still exist,
    /// with the entries it buries there.
    names: HashMap<u64, BTreeMap<u64, Vec<EntryKey>>>,
    /// Per home, the tombstone records naming it.
    named_by: HashMap<u64, Vec<u64>>,
}

impl Liveness {
    /// For stores keeping entries and tombstones in separate records.
    pub fn separate() -> Liveness {
        Liveness::default()
    }

    /// For stores keeping a record's entries and tombstones together.
    pub fn together() -> Liveness {
        Liveness {
            homes_hold_tombstones: true,
            ..Liveness::default()
        }
    }

    /// `entries` now live in `home`; one that lived elsewhere moved (a
    /// compaction's copy, replayed).
    pub fn append(&mut self, home: u64, entries: impl IntoIterator<Item = EntryKey>) {
        let mut count = 0;
        for key in entries {
            if let Some(old) = self.home_of.insert(key, home) {
                if let Some(live) = self.live_in.get_mut(&old) {
                    *live -= 1;
                }
            }
            count += 1;
        }
        if count > 0 {
            *self.live_in.entry(home).or_default() += count;
            *self.total_in.entry(home).or_default() += count;
        }
    }

    /// A home with no entries yet (a new segment): listed by [`Liveness::homes`].
    pub fn add_home(&mut self, home: u64) {
        self.live_in.entry(home).or_default();
        self.total_in.entry(home).or_default();
    }

    /// Bury `acks` by tombstones in `record`; returns the homes left with
    /// no live entry. Entries not live (acknowledged before, never stored,
    /// or in a home gone) are skipped.
    pub fn ack(&mut self, record: u64, acks: &[EntryKey]) -> Vec<u64> {
        let mut emptied = Vec::new();
        for key in acks {
            let Some(home) = self.home_of.remove(key) else {
                continue;
            };
            if !(self.homes_hold_tombstones && home == record) {
                let buried = self
                    .names
                    .entry(record)
                    .or_default()
                    .entry(home)
                    .or_default();
                if buried.is_empty() {
                    self.named_by.entry(home).or_default().push(record);
                }
                buried.push(*key);
            }
            let live = self
                .live_in
                .get_mut(&home)
                .expect("a live entry's home is counted");
            *live -= 1;
            if *live == 0 {
                emptied.push(home);
            }
        }
        emptied
    }

    /// Live entries in `home`.
    pub fn live(&self, home: u64) -> u64 {
        self.live_in.get(&home).copied().unwrap_or(0)
    }

    /// Where `key` lives, if it is live.
    pub fn home_of(&self, key: &EntryKey) -> Option<u64> {
        self.home_of.get(key).copied()
    }

    /// Every live entry.
    pub fn live_entries(&self) -> Vec<EntryKey> {
        self.home_of.keys().copied().collect()
    }

    /// Every home with its live entries, oldest first.
    pub fn homes(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.live_in.iter().map(|(&home, &live)| (home, live))
    }

    /// Whether tombstone record `record` still names a home that exists.
    pub fn is_needed_as_tombstones(&self, record: u64) -> bool {
        self.names
            .get(&record)
            .is_some_and(|names| !names.is_empty())
    }

    /// `home` is gone; returns the tombstone records no longer needed.
    pub fn drop_home(&mut self, home: u64) -> Vec<u64> {
        self.live_in.remove(&home);
        self.total_in.remove(&home);
        let mut unneeded = Vec::new();
        for record in self.named_by.remove(&home).unwrap_or_default() {
            if let Some(names) = self.names.get_mut(&record) {
                names.remove(&home);
                if names.is_empty() {
                    self.names.remove(&record);
                    unneeded.push(record);
                }
            }
        }
        unneeded
    }

    /// Tombstone record `record` is gone (its homes were gone already).
    pub fn drop_tombstones(&mut self, record: u64) {
        self.names.remove(&record);
    }

    /// The tombstones `record` holds that are still needed.
    pub fn needed_tombstones(&self, record: u64) -> Vec<EntryKey> {
        self.names
            .get(&record)
            .map(|homes| homes.values().flatten().copied().collect())
            .unwrap_or_default()
    }

    /// `from`'s needed tombstones were copied into `to`: `to` names their
    /// homes now, and `from` names nothing.
    pub fn move_tombstones(&mut self, from: u64, to: u64) {
        for (home, keys) in self.names.remove(&from).unwrap_or_default() {
            let records = self.named_by.entry(home).or_default();
            records.retain(|&r| r != from);
            let buried = self.names.entry(to).or_default().entry(home).or_default();
            if buried.is_empty() {
                records.push(to);
            }
            buried.extend(keys);
        }
    }

    /// Homes up to `newest` with live entries, but at most a tenth of what
    /// they received: worth compacting. Oldest first, `limit` at most.
    pub fn sparse(&self, newest: u64, limit: usize) -> Vec<u64> {
        self.live_in
            .range(..=newest)
            .filter(|&(home, &live)| live > 0 && live * COMPACT_BELOW <= self.total_in[home])
            .map(|(&home, _)| home)
            .take(limit)
            .collect()
    }

    /// Homes up to `newest` with no live entry, kept only for their
    /// tombstones (where homes hold tombstones). Oldest first, `limit` at most.
    pub fn only_tombstones(&self, newest: u64, limit: usize) -> Vec<u64> {
        self.live_in
            .range(..=newest)
            .filter(|&(&home, &live)| live == 0 && self.is_needed_as_tombstones(home))
            .map(|(&home, _)| home)
            .take(limit)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seq: u64) -> EntryKey {
        EntryKey { client: 0, seq }
    }

    #[test]
    fn a_tombstone_record_lives_as_long_as_a_home_it_names() {
        let mut index = Liveness::separate();
        index.append(1, [key(1), key(2)]);
        assert_eq!(index.ack(2, &[key(1)]), Vec::<u64>::new());
        assert!(index.is_needed_as_tombstones(2));
        assert_eq!(index.ack(3, &[key(2)]), vec![1]);
        // Home 1 goes: records 2 and 3 named only it.
        let mut freed = index.drop_home(1);
        freed.sort_unstable();
        assert_eq!(freed, vec![2, 3]);
        assert!(index.live_entries().is_empty());
    }

    #[test]
    fn a_copied_entry_moves_home_and_is_counted_once() {
        let mut index = Liveness::together();
        index.append(1, (1..=20).map(key));
        index.ack(2, &(1..=19).map(key).collect::<Vec<_>>());
        assert_eq!(index.sparse(1, 8), vec![1]);
        index.append(5, [key(20)]);
        assert_eq!((index.live(1), index.live(5)), (0, 1));
        assert_eq!(index.home_of(&key(20)), Some(5));
        // Acks in a home's own record name nothing.
        index.append(6, [key(30)]);
        index.ack(6, &[key(30)]);
        assert!(!index.is_needed_as_tombstones(6));
    }

    #[test]
    fn tombstones_copied_forward_free_their_old_record() {
        let mut index = Liveness::together();
        index.append(1, [key(1), key(2)]); // key 2 stays live: home 1 stays
        index.append(2, [key(3)]);
        index.ack(2, &[key(1), key(3)]); // record 2: no live entry, names 1
        assert_eq!(index.only_tombstones(2, 8), vec![2]);
        assert_eq!(index.needed_tombstones(2), vec![key(1)]);
        index.move_tombstones(2, 5);
        assert!(!index.is_needed_as_tombstones(2));
        assert_eq!(index.needed_tombstones(5), vec![key(1)]);
        assert_eq!(index.drop_home(1), vec![5]);
    }
}
