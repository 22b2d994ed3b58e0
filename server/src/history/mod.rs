//! The history of device measurements and events, kept by the broker so a
//! dashboard, a phone or a script sees the recent past at once.
//!
//! - [`tiers`]: downsampling, sans-I/O: raw readings, one-minute and
//!   fifteen-minute buckets (min, max, mean).
//! - `db`: the `history.redb` file (in memory with `--durability none`).
//! - `query`: answering a [`Query`] from the file and the worker's state.
//!
//! Routing never waits for the history: [`History::record`] hands a device
//! message to one worker thread over a bounded channel (a full channel
//! drops the message from the history and counts it). The worker parses it
//! with the same [`Fleet`] the dashboard uses (the device convention and
//! Home Assistant discovery), downsamples, and commits every five seconds:
//! a SIGKILL loses at most the last five seconds (a clean shutdown commits
//! everything). Queries go through the same
//! channel and are answered in order with what came before them.
//!
//! What is kept: raw readings for [`RAW_KEPT`], minute buckets for
//! [`MINUTE_KEPT`], quarter-hour buckets and events for
//! `--history-retention` (the shorter of each and the retention), and
//! never more than `--history-max-bytes`: past it the oldest data goes.

mod db;
mod line;
mod query;
pub(crate) mod tiers;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use bytes::Bytes;
use kite_convention::{
    alarms::{self, AlarmEvent},
    fleet::Change,
    history::{Answer, Query, StoredEvent, BROKER_DEVICE, SOURCE_DEVICE},
    sys, Fleet,
};
use tokio::sync::oneshot;

use self::{
    db::{Db, SeriesMeta},
    tiers::{Open, Write},
};
use crate::{metrics::HistoryGauges, util::clock::now_unix_ms};

/// How long raw readings are kept (at most the retention): what `auto`
/// answers raw for.
pub const RAW_KEPT: u64 = 2 * 3_600_000;
/// How long minute buckets are kept (at most the retention).
pub const MINUTE_KEPT: u64 = 48 * 3_600_000;
/// The longest a recorded reading stays off the disk. Each commit copies
/// the B-tree pages it changes, about one per series and tier: with 4,000
/// series a commit a second copied some 50 MB a second through the cache
/// of a busy broker's core, and cost its fan-in 11 %; every 5 s, within
/// noise (`make bench-history`).
pub const COMMIT_EVERY: Duration = Duration::from_secs(5);
/// How often the worker takes what was sent to it.
const TICK: Duration = Duration::from_millis(20);
/// How often old data is dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Messages waiting for the worker before the history drops some.
const CHANNEL: usize = 65_536;

/// Says whether the asker may receive messages on a topic (its ACL).
pub type Reader = Box<dyn Fn(&str) -> bool + Send>;

/// What the history is set up with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where `history.redb` goes; `None` keeps it in memory.
    pub dir: Option<PathBuf>,
    /// `--history-retention`, ms.
    pub retention: u64,
    /// `--history-max-bytes`.
    pub max_bytes: u64,
}

/// The history's figures, for `$SYS` and `/metrics`.
#[derive(Debug, Default)]
pub struct Figures {
    /// Readings recorded.
    pub readings: AtomicU64,
    /// Events recorded.
    pub events: AtomicU64,
    /// Messages the history dropped because its worker was behind.
    pub dropped: AtomicU64,
    /// Queries answered.
    pub queries: AtomicU64,
    /// Bytes of live data in the file, as of the last prune.
    pub stored_bytes: AtomicU64,
}

enum Input {
    Message {
        topic: Arc<str>,
        payload: Bytes,
        at: u64,
        /// Loaded at start-up: teaches the model (discovery, units), records nothing.
        replay: bool,
    },
    Query {
        query: Query,
        reader: Reader,
        reply: oneshot::Sender<Answer>,
    },
    /// Commit and prune now, then say so.
    Settle(oneshot::Sender<()>),
    /// Commit and end.
    Stop,
}

/// The broker's handle on the history.
pub struct History {
    tx: Option<line::Line<Input>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    pub figures: Arc<Figures>,
}

impl History {
    /// No history (`--history false`).
    pub fn off() -> History {
        History {
            tx: None,
            worker: Mutex::new(None),
            figures: Arc::default(),
        }
    }

    /// Open the file and start the worker.
    pub fn start(settings: Settings) -> Result<History, String> {
        let (db, loaded) = Db::open(settings.dir.as_deref())?;
        let figures = Arc::new(Figures::default());
        let (tx, rx) = line::line(CHANNEL);
        let mut worker = Worker::new(db, loaded, settings, figures.clone());
        let handle = std::thread::Builder::new()
            .name("kite-history".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| format!("cannot start the history: {e}"))?;
        Ok(History {
            tx: Some(tx),
            worker: Mutex::new(Some(handle)),
            figures,
        })
    }

    /// A message on a device topic (the ones the alarm engine watches) or
    /// the alarm engine's events: recorded if it says something.
    pub fn record(&self, topic: &str, payload: &Bytes) {
        if topic.starts_with('$') && topic != alarms::EVENTS_TOPIC {
            return;
        }
        self.send(topic, payload, false);
    }

    /// A `$SYS/broker/...` statistic as the broker publishes it: kept as
    /// measurement `<stat>` of device `$SYS` when it is a number (per-client
    /// counters are not kept).
    pub fn record_stat(&self, topic: &str, payload: &Bytes) {
        let kept = topic
            .strip_prefix(sys::PREFIX)
            .is_some_and(|stat| !stat.starts_with(sys::CLIENTS) || stat.matches('/').count() < 2);
        if kept {
            self.send(topic, payload, false);
        }
    }

    /// A retained message loaded at start-up: it teaches the history which
    /// devices exist and what their Home Assistant state topics are.
    pub fn replay(&self, topic: &str, payload: &Bytes) {
        if !topic.starts_with('$') {
            self.send(topic, payload, true);
        }
    }

    fn send(&self, topic: &str, payload: &Bytes, replay: bool) {
        let Some(tx) = &self.tx else { return };
        let input = Input::Message {
            topic: Arc::from(topic),
            payload: payload.clone(),
            at: now_unix_ms(),
            replay,
        };
        if !tx.offer(input) {
            let dropped = self.figures.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "history behind: device messages left out of it");
            }
        }
    }

    /// Record a message as if it arrived at `at` (Unix ms), waiting for
    /// room instead of dropping it: for tools that replay or simulate data
    /// (`examples/history_day.rs`).
    pub fn feed(&self, topic: &str, payload: &Bytes, at: u64) {
        if let Some(tx) = &self.tx {
            let message = Input::Message {
                topic: Arc::from(topic),
                payload: payload.clone(),
                at,
                replay: false,
            };
            tx.wait_and_send(message, TICK / 4);
        }
    }

    /// Commit what came before and drop what is past its age or over the
    /// byte limit now, instead of within the next minute; resolves when done.
    pub fn settle(&self) -> oneshot::Receiver<()> {
        let (done, settled) = oneshot::channel();
        match &self.tx {
            Some(tx) => {
                let _ = tx.send(Input::Settle(done));
            }
            None => {
                let _ = done.send(());
            }
        }
        settled
    }

    /// Ask the history; the answer comes on the receiver. `reader` decides
    /// which series and events the asker may see.
    pub fn ask(&self, query: Query, reader: Reader) -> oneshot::Receiver<Answer> {
        let (reply, answer) = oneshot::channel();
        match &self.tx {
            None => {
                let _ = reply.send(Answer::error(
                    "the history is off on this broker (--history false)",
                ));
            }
            Some(tx) => {
                // A query is never dropped, full line or not.
                let _ = tx.send(Input::Query {
                    query,
                    reader,
                    reply,
                });
            }
        }
        answer
    }

    /// The figures for `$SYS` and `/metrics`.
    pub fn gauges(&self) -> HistoryGauges {
        let f = &self.figures;
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        HistoryGauges {
            readings: get(&f.readings),
            events: get(&f.events),
            dropped: get(&f.dropped),
            queries: get(&f.queries),
            stored_bytes: get(&f.stored_bytes),
        }
    }

    /// Commit what is pending and stop the worker (at shutdown); what
    /// comes after is not recorded.
    pub fn stop(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Input::Stop);
        }
        if let Some(worker) = self.worker.lock().expect("history lock").take() {
            let _ = worker.join();
        }
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the worker knows of one series.
struct SeriesState {
    meta: SeriesMeta,
    open: Open,
    /// The newest reading: (ts, value).
    last: Option<(u64, f64)>,
}

/// The worker thread's state.
struct Worker {
    db: Db,
    settings: Settings,
    figures: Arc<Figures>,
    fleet: Fleet,
    ids: HashMap<(String, String), u32>,
    series: HashMap<u32, SeriesState>,
    next_id: u32,
    event_seq: u64,
    /// Not committed yet.
    new_series: Vec<(u32, SeriesMeta)>,
    writes: Vec<Write>,
    events: Vec<StoredEvent>,
    /// Written since the last durable commit (a query commits without sync).
    unsynced: bool,
    /// How far back the tiers reach now (shorter than configured while the
    /// file is over `--history-max-bytes`).
    kept: Kept,
}

impl Worker {
    fn new(db: Db, loaded: db::Loaded, settings: Settings, figures: Arc<Figures>) -> Worker {
        let mut worker = Worker {
            db,
            kept: Kept::configured(settings.retention),
            settings,
            figures,
            fleet: Fleet::journaled(),
            ids: HashMap::new(),
            series: HashMap::new(),
            next_id: 0,
            event_seq: loaded.event_seq,
            new_series: Vec::new(),
            writes: Vec::new(),
            events: Vec::new(),
            unsynced: false,
        };
        for (id, meta) in loaded.series {
            worker
                .ids
                .insert((meta.device.clone(), meta.measurement.clone()), id);
            worker.next_id = worker.next_id.max(id + 1);
            worker.series.insert(
                id,
                SeriesState {
                    meta,
                    open: Open::default(),
                    last: None,
                },
            );
        }
        for (id, ts, value) in loaded.last {
            if let Some(series) = worker.series.get_mut(&id) {
                series.last = Some((ts, value));
            }
        }
        if let Some(path) = worker.db.path() {
            tracing::info!(
                history = %path.display(),
                series = worker.series.len(),
                "history loaded"
            );
        }
        worker
    }

    /// Woken by a clock every [`TICK`], not by each message: a sender never
    /// has to wake this thread (no system call per device message), and a
    /// busy broker's core is not interrupted for each one. (Woken per
    /// message, 1,000 devices cost a broker pinned to one core 18 % of its
    /// fan-in throughput; see `make bench-history`.) A query waits at most
    /// one tick.
    fn run(&mut self, rx: line::Taker<Input>) {
        let mut next_commit = Instant::now() + COMMIT_EVERY;
        // The first prune soon after start: a broker that was down for a
        // week should not answer with last week's data.
        let mut next_prune = Instant::now() + Duration::from_secs(5);
        loop {
            std::thread::sleep(TICK);
            loop {
                match rx.try_recv() {
                    Ok(input) => {
                        if !self.handle(input) {
                            return;
                        }
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        self.commit(true);
                        return;
                    }
                }
            }
            let now = Instant::now();
            if now >= next_commit {
                self.commit(true);
                next_commit = now + COMMIT_EVERY;
            }
            if now >= next_prune {
                self.prune(now_unix_ms());
                next_prune = now + PRUNE_EVERY;
            }
        }
    }

    /// One input; false once told to stop (after the last commit).
    fn handle(&mut self, input: Input) -> bool {
        match input {
            Input::Message {
                topic,
                payload,
                at,
                replay,
            } => self.take(&topic, &payload, at, replay),
            Input::Query {
                query,
                reader,
                reply,
            } => {
                // What came before the query is part of its answer.
                self.commit(false);
                let answer = query::answer(self, query, &reader, now_unix_ms());
                self.figures.queries.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(answer);
            }
            Input::Settle(done) => {
                self.prune(now_unix_ms());
                let _ = done.send(());
            }
            Input::Stop => {
                self.commit(true);
                return false;
            }
        }
        true
    }

    /// One message: what it says about devices goes to the pending writes.
    fn take(&mut self, topic: &str, payload: &[u8], at: u64, replay: bool) {
        if let Some(stat) = topic.strip_prefix(sys::PREFIX) {
            let text = std::str::from_utf8(payload).unwrap_or_default().trim();
            if let Some(value) = sys::leading_number(text) {
                let (device, stat) = (BROKER_DEVICE.to_owned(), stat.to_owned());
                self.reading(topic, device, stat, value, None, at);
            }
            return;
        }
        if topic == alarms::EVENTS_TOPIC {
            if let Some(alarm) = AlarmEvent::parse(payload) {
                self.event(StoredEvent::from_alarm(alarm, at));
            }
            return;
        }
        self.fleet.apply(topic, payload, replay);
        let changes = self.fleet.take_changes();
        if replay {
            return;
        }
        for change in changes {
            match change {
                Change::Reading {
                    device,
                    measurement,
                    value,
                    unit,
                } => self.reading(topic, device, measurement, value, unit, at),
                Change::Event { device, event } => self.event(StoredEvent {
                    ts: event.ts.unwrap_or(at),
                    seq: 0,
                    device,
                    kind: event.kind,
                    severity: event.severity,
                    message: event.message,
                    source: SOURCE_DEVICE.into(),
                }),
            }
        }
    }

    fn reading(
        &mut self,
        topic: &str,
        device: String,
        measurement: String,
        value: f64,
        unit: Option<String>,
        at: u64,
    ) {
        if !value.is_finite() {
            return;
        }
        let key = (device, measurement);
        let id = match self.ids.get(&key) {
            Some(&id) => id,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                let meta = SeriesMeta {
                    device: key.0.clone(),
                    measurement: key.1.clone(),
                    unit: unit.clone(),
                    topic: topic.to_owned(),
                };
                self.new_series.push((id, meta.clone()));
                self.series.insert(
                    id,
                    SeriesState {
                        meta,
                        open: Open::default(),
                        last: None,
                    },
                );
                self.ids.insert(key, id);
                id
            }
        };
        let series = self.series.get_mut(&id).expect("inserted above");
        if unit.is_some() && series.meta.unit != unit {
            series.meta.unit = unit;
            self.new_series.push((id, series.meta.clone()));
        }
        // One raw point per millisecond and series: a burst of readings
        // keeps them all, each a millisecond after the one before.
        let at = series.last.map_or(at, |(last, _)| at.max(last + 1));
        let db = &self.db;
        series.open.record(
            id,
            at,
            value,
            |tier, start| db.bucket(id, tier, start).ok().flatten(),
            &mut self.writes,
        );
        series.last = Some((at, value));
        self.figures.readings.fetch_add(1, Ordering::Relaxed);
    }

    fn event(&mut self, mut event: StoredEvent) {
        self.event_seq += 1;
        event.seq = self.event_seq;
        self.events.push(event);
        self.figures.events.fetch_add(1, Ordering::Relaxed);
    }

    /// Write what is pending; `durable` waits for the disk.
    fn commit(&mut self, durable: bool) {
        let nothing =
            self.writes.is_empty() && self.events.is_empty() && self.new_series.is_empty();
        // A durable round also syncs what a query committed without syncing.
        if nothing && !(durable && self.unsynced) {
            return;
        }
        tiers::coalesce(&mut self.writes);
        match self
            .db
            .commit(&self.new_series, &self.writes, &self.events, durable)
        {
            Ok(()) => {
                self.unsynced = !durable;
            }
            Err(err) => tracing::error!(%err, "history commit failed; this round is lost"),
        }
        self.new_series.clear();
        self.writes.clear();
        self.events.clear();
    }

    /// Drop what is past its tier's age; then, while the file holds more
    /// than `--history-max-bytes`, shorten the tiers, the finest first: raw
    /// readings down to 15 minutes, minute buckets down to 2 hours, then
    /// everything by a tenth at a time. Each prune starts again from the
    /// configured spans, so the history grows back when the load drops.
    fn prune(&mut self, now: u64) {
        self.commit(true);
        let ids: Vec<u32> = self.series.keys().copied().collect();
        let retention = self.settings.retention;
        let mut kept = Kept::configured(retention);
        for _ in 0..64 {
            let cut = |span: u64| now.saturating_sub(span);
            let cutoffs = [
                cut(kept.raw),
                cut(kept.minute),
                cut(kept.all),
                cut(kept.all),
            ];
            if let Err(err) = self.db.prune(&ids, cutoffs) {
                tracing::error!(%err, "history prune failed");
                break;
            }
            let Ok(bytes) = self.db.stored_bytes() else {
                break;
            };
            self.figures.stored_bytes.store(bytes, Ordering::Relaxed);
            if bytes <= self.settings.max_bytes {
                if let Ok([series, raw, minute, quarter, events]) = self.db.counts() {
                    tracing::debug!(
                        bytes,
                        series,
                        raw,
                        minute,
                        quarter,
                        events,
                        "history pruned"
                    );
                }
                break;
            }
            if !kept.shrink() {
                tracing::error!(
                    bytes,
                    "history over --history-max-bytes with one hour kept; raise the limit"
                );
                break;
            }
            tracing::warn!(
                bytes,
                max = self.settings.max_bytes,
                raw_minutes = kept.raw / 60_000,
                minute_hours = kept.minute / 3_600_000,
                all_hours = kept.all / 3_600_000,
                "history over --history-max-bytes: keeping less"
            );
        }
        self.kept = kept;
    }
}

/// How far back each tier reaches, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kept {
    pub raw: u64,
    pub minute: u64,
    /// Quarter-hour buckets and events.
    pub all: u64,
}

impl Kept {
    fn configured(retention: u64) -> Kept {
        Kept {
            raw: RAW_KEPT.min(retention),
            minute: MINUTE_KEPT.min(retention),
            all: retention,
        }
    }

    /// Keep less, the finest tier first; false when nothing is left to give.
    fn shrink(&mut self) -> bool {
        const QUARTER_HOUR: u64 = 900_000;
        const HOUR: u64 = 3_600_000;
        if self.raw > QUARTER_HOUR {
            self.raw = (self.raw / 2).max(QUARTER_HOUR);
        } else if self.minute > 2 * HOUR {
            self.minute = (self.minute / 2).max(2 * HOUR);
        } else if self.all > HOUR {
            self.all = (self.all - self.all / 10).max(HOUR);
            self.minute = self.minute.min(self.all);
        } else {
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests;
