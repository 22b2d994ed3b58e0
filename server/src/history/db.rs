//! The history's file: one `redb` database (`history.redb` under
//! `--data-dir`, in memory with `--durability none`), apart from the
//! session store so its commits never wait behind the history's.
//!
//! Tables, keyed so a series' range is one contiguous scan:
//! - `series`: id → `{"device","measurement","unit","topic"}` (JSON).
//! - `raw`: (series, ts) → value.
//! - `minute`, `quarter`: (series, bucket start) → (min, max, sum, count).
//! - `events`: (ts, seq) → a `StoredEvent` (JSON).

use std::path::{Path, PathBuf};

use kite_convention::history::{Cursor, Point, Resolution, StoredEvent};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};

use super::tiers::{Bucket, Write};

const SERIES: TableDefinition<u32, &str> = TableDefinition::new("series");
const RAW: TableDefinition<(u32, u64), f64> = TableDefinition::new("raw");
const MINUTE: TableDefinition<(u32, u64), (f64, f64, f64, u64)> = TableDefinition::new("minute");
const QUARTER: TableDefinition<(u32, u64), (f64, f64, f64, u64)> = TableDefinition::new("quarter");
const EVENTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("events");

/// The name of the history's file inside `--data-dir`.
pub(super) const FILE_NAME: &str = "history.redb";

/// What the history knows of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct SeriesMeta {
    pub device: String,
    pub measurement: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The topic its first reading came on: a reader must be allowed to
    /// receive it to see the series.
    pub topic: String,
}

/// What the file held at start-up.
#[derive(Debug, Default)]
pub(super) struct Loaded {
    pub series: Vec<(u32, SeriesMeta)>,
    /// Each series' newest point: (series, ts, value).
    pub last: Vec<(u32, u64, f64)>,
    /// The highest event sequence number in use.
    pub event_seq: u64,
}

pub(super) struct Db {
    db: Database,
    path: Option<PathBuf>,
}

type DbResult<T> = Result<T, redb::Error>;

impl Db {
    /// Open (or create) the file in `dir`, or a database in memory.
    pub(super) fn open(dir: Option<&Path>) -> Result<(Db, Loaded), String> {
        let (db, path) = crate::util::redb_file::open(dir, FILE_NAME, "the history")?;
        let db = Db { db, path };
        let loaded = db
            .load()
            .map_err(|e| format!("cannot read the history: {e}"))?;
        Ok((db, loaded))
    }

    pub(super) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn load(&self) -> DbResult<Loaded> {
        let txn = self.db.begin_write()?;
        for_each_table(&txn)?;
        txn.commit()?;
        let txn = self.db.begin_read()?;
        let mut loaded = Loaded::default();
        let series = txn.open_table(SERIES)?;
        for entry in series.iter()? {
            let (id, meta) = entry?;
            match serde_json::from_str::<SeriesMeta>(meta.value()) {
                Ok(meta) => loaded.series.push((id.value(), meta)),
                Err(err) => tracing::warn!(series = id.value(), %err, "history series skipped"),
            }
        }
        let raw = txn.open_table(RAW)?;
        let minute = txn.open_table(MINUTE)?;
        let quarter = txn.open_table(QUARTER)?;
        for (id, _) in &loaded.series {
            let range = (*id, 0)..=(*id, u64::MAX);
            let last = match raw.range(range.clone())?.next_back() {
                Some(entry) => {
                    let (key, value) = entry?;
                    Some((key.value().1, value.value()))
                }
                None => newest_bucket(&minute, *id)?.or(newest_bucket(&quarter, *id)?),
            };
            if let Some((ts, value)) = last {
                loaded.last.push((*id, ts, value));
            }
        }
        let events = txn.open_table(EVENTS)?;
        if let Some(entry) = events.last()? {
            loaded.event_seq = entry.0.value().1;
        }
        Ok(loaded)
    }

    /// Write one round: new series, points and buckets, events. `durable`
    /// waits for the disk; otherwise the next durable commit carries it.
    pub(super) fn commit(
        &self,
        series: &[(u32, SeriesMeta)],
        writes: &[Write],
        events: &[StoredEvent],
        durable: bool,
    ) -> DbResult<()> {
        let mut txn = self.db.begin_write()?;
        if !durable {
            txn.set_durability(Durability::None)?;
        }
        {
            let mut table = txn.open_table(SERIES)?;
            for (id, meta) in series {
                let json = serde_json::to_string(meta).expect("series meta serializes");
                table.insert(*id, json.as_str())?;
            }
            let mut raw = txn.open_table(RAW)?;
            let mut minute = txn.open_table(MINUTE)?;
            let mut quarter = txn.open_table(QUARTER)?;
            for write in writes {
                match write {
                    Write::Raw { series, ts, value } => {
                        raw.insert((*series, *ts), *value)?;
                    }
                    Write::Bucket {
                        series,
                        tier,
                        start,
                        bucket,
                    } => {
                        let row = (bucket.min, bucket.max, bucket.sum, bucket.count);
                        let table = if *tier == Resolution::Minute {
                            &mut minute
                        } else {
                            &mut quarter
                        };
                        table.insert((*series, *start), row)?;
                    }
                }
            }
            let mut table = txn.open_table(EVENTS)?;
            for event in events {
                let json = serde_json::to_vec(event).expect("events serialize");
                table.insert((event.ts, event.seq), json.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The stored bucket of `tier` for `series` starting at `start`.
    pub(super) fn bucket(
        &self,
        series: u32,
        tier: Resolution,
        start: u64,
    ) -> DbResult<Option<Bucket>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(bucket_table(tier))?;
        Ok(table.get((series, start))?.map(|row| {
            let (min, max, sum, count) = row.value();
            Bucket {
                min,
                max,
                sum,
                count,
            }
        }))
    }

    /// The points of `series` at `resolution` (not auto) from `from` to
    /// `to` inclusive, oldest first; at most `max`, the newest kept.
    pub(super) fn points(
        &self,
        series: u32,
        resolution: Resolution,
        from: u64,
        to: u64,
        max: usize,
    ) -> DbResult<Vec<Point>> {
        let txn = self.db.begin_read()?;
        let range = (series, from)..=(series, to);
        let mut points: Vec<Point> = Vec::new();
        if resolution == Resolution::Raw {
            let table = txn.open_table(RAW)?;
            for entry in table.range(range)?.rev().take(max) {
                let (key, value) = entry?;
                let value = value.value();
                points.push((key.value().1, value, value, value));
            }
        } else {
            let table = txn.open_table(bucket_table(resolution))?;
            for entry in table.range(range)?.rev().take(max) {
                let (key, row) = entry?;
                let (min, max, sum, count) = row.value();
                points.push((key.value().1, sum / count.max(1) as f64, min, max));
            }
        }
        points.reverse();
        Ok(points)
    }

    /// Events older than `before` (all with none), newest first, that
    /// `keep` accepts: at most `limit`. Also says where the next page starts.
    pub(super) fn events(
        &self,
        before: Option<Cursor>,
        limit: usize,
        mut keep: impl FnMut(&StoredEvent) -> bool,
    ) -> DbResult<(Vec<StoredEvent>, Option<Cursor>)> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(EVENTS)?;
        let end = before.map_or((u64::MAX, u64::MAX), |c| (c.ts, c.seq));
        let mut out = Vec::new();
        let mut next = None;
        for entry in table.range(..end)?.rev() {
            let (_, value) = entry?;
            let Ok(event) = serde_json::from_slice::<StoredEvent>(value.value()) else {
                continue;
            };
            if !keep(&event) {
                continue;
            }
            if out.len() == limit {
                // There is more: the next page starts before this one's last.
                next = out.last().map(|e: &StoredEvent| Cursor {
                    ts: e.ts,
                    seq: e.seq,
                });
                break;
            }
            out.push(event);
        }
        Ok((out, next))
    }

    /// Delete what is older than each tier's cutoff (Unix ms): raw,
    /// minute, quarter, events. Returns how many entries went.
    pub(super) fn prune(&self, series: &[u32], cutoffs: [u64; 4]) -> DbResult<u64> {
        let txn = self.db.begin_write()?;
        let mut removed = 0;
        {
            let [raw_cut, minute_cut, quarter_cut, events_cut] = cutoffs;
            let mut raw = txn.open_table(RAW)?;
            let mut minute = txn.open_table(MINUTE)?;
            let mut quarter = txn.open_table(QUARTER)?;
            for &id in series {
                removed += drain(&mut raw, (id, 0)..(id, raw_cut))?;
                removed += drain(&mut minute, (id, 0)..(id, minute_cut))?;
                removed += drain(&mut quarter, (id, 0)..(id, quarter_cut))?;
            }
            let mut events = txn.open_table(EVENTS)?;
            removed += drain(&mut events, (0, 0)..(events_cut, 0))?;
        }
        txn.commit()?;
        Ok(removed)
    }

    /// Bytes the file holds in live data (freed pages are reused, so the
    /// file stops growing once this stops).
    pub(super) fn stored_bytes(&self) -> DbResult<u64> {
        let txn = self.db.begin_write()?;
        let stats = txn.stats()?;
        Ok(stats.stored_bytes() + stats.metadata_bytes())
    }

    /// Entries per table: series, raw, minute, quarter, events.
    pub(super) fn counts(&self) -> DbResult<[u64; 5]> {
        let txn = self.db.begin_read()?;
        Ok([
            txn.open_table(SERIES)?.len()?,
            txn.open_table(RAW)?.len()?,
            txn.open_table(MINUTE)?.len()?,
            txn.open_table(QUARTER)?.len()?,
            txn.open_table(EVENTS)?.len()?,
        ])
    }
}

fn for_each_table(txn: &WriteTransaction) -> DbResult<()> {
    txn.open_table(SERIES)?;
    txn.open_table(RAW)?;
    txn.open_table(MINUTE)?;
    txn.open_table(QUARTER)?;
    txn.open_table(EVENTS)?;
    Ok(())
}

fn bucket_table(tier: Resolution) -> TableDefinition<'static, (u32, u64), (f64, f64, f64, u64)> {
    if tier == Resolution::Quarter {
        QUARTER
    } else {
        MINUTE
    }
}

fn newest_bucket(
    table: &impl ReadableTable<(u32, u64), (f64, f64, f64, u64)>,
    id: u32,
) -> DbResult<Option<(u64, f64)>> {
    Ok(match table.range((id, 0)..=(id, u64::MAX))?.next_back() {
        Some(entry) => {
            let (key, row) = entry?;
            let (_, _, sum, count) = row.value();
            Some((key.value().1, sum / count.max(1) as f64))
        }
        None => None,
    })
}

/// Remove every entry of `range`; returns how many.
fn drain<K, V>(
    table: &mut redb::Table<K, V>,
    range: std::ops::Range<K::SelfType<'static>>,
) -> DbResult<u64>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
    for<'a> K::SelfType<'a>: std::borrow::Borrow<K::SelfType<'a>>,
{
    let mut removed = 0;
    table.retain_in(range, |_, _| {
        removed += 1;
        false
    })?;
    Ok(removed)
}
