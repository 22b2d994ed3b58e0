//! The redb file: its tables, opening and checking it, bringing a file of
//! an older format up to date, and loading what it holds at start-up.
//!
//! | table      | key            | value                                              |
//! |------------|----------------|----------------------------------------------------|
//! | `meta`     | name           | a number (`format`, a cluster's stream position)   |
//! | `retained` | topic          | the message (`records::encode_retained`)           |
//! | `sessions` | client id      | the session (`records::encode_session`)            |
//! | `log`      | record number  | the queue entries and stored-once messages one round wrote (`log`) |
//! | `dead`     | record number  | which items of that record are gone (`log`)        |
//!
//! Formats 1 and 2 kept queued messages in `queue` ((client, seq) → entry)
//! and `messages` (seq → a message queued for several sessions): opening
//! such a file moves them into `log` once, in one transaction.

use std::{collections::HashMap, path::Path, sync::Arc, time::Instant};

use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};

use super::{
    decode_delivery, decode_queued, decode_retained, decode_session, decode_state,
    log::{self, Item, LoadError, Log},
    queued_version, Loaded, LoadedSession, RecordError, StoreError, DELIVERY_VERSION,
};
use crate::protocol::message::Message;

/// The file's format; a file with a higher one is refused. Format 1 kept
/// each queued message inside every session's queue entry; format 2 kept
/// a message queued for several sessions once, in `messages`; format 3
/// keeps the queue as a log of rounds (`log`).
pub(super) const FORMAT: u64 = 3;

pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");
pub(super) const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// Formats 1 and 2: a session's queue entry.
pub(super) const QUEUE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queue");
/// Format 2: a message queued for several sessions, once.
pub(super) const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");

/// The meta key of [`super::Op::PutStreamPosition`].
pub(super) const STREAM_POSITION: &str = "cluster_stream_at";
/// Where a stream position was kept when a stream message carried one MQTT
/// message (a bare sequence): read, converted, never written.
const STREAM_SEQUENCE_V1: &str = "cluster_stream_position";

/// How many items a converted format 2 queue puts in one log record.
const CONVERTED_PER_RECORD: usize = 10_000;

fn open_error(path: &Path, err: impl std::fmt::Display) -> StoreError {
    StoreError::Open {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

fn bad_record(path: &Path, what: String, source: RecordError) -> StoreError {
    match source {
        RecordError::NewerVersion(found) => StoreError::NewerFormat {
            path: path.to_path_buf(),
            found: u64::from(found),
            supported: FORMAT,
        },
        source => StoreError::BadRecord {
            path: path.to_path_buf(),
            what,
            source,
        },
    }
}

/// What [`open`] found and made of the file.
pub(super) struct Opened {
    pub db: Database,
    pub loaded: Loaded,
    /// The highest queue position in use.
    pub max_seq: u64,
    /// Where each queued entry is in the file.
    pub log: Log,
}

fn load_error(path: &Path, err: LoadError) -> StoreError {
    match err {
        LoadError::Db(err) => open_error(path, err),
        LoadError::Bad(record, source) => {
            bad_record(path, format!("queue log record {record}"), source)
        }
    }
}

/// Open the file, check its format, create missing tables, bring an older
/// format's queue into the log, and load it all.
pub(super) fn open(path: &Path) -> Result<Opened, StoreError> {
    let mut db = Database::create(path).map_err(|e| open_error(path, e))?;
    let txn = db.begin_write().map_err(|e| open_error(path, e))?;
    let format = || -> Result<Option<u64>, redb::Error> {
        Ok(txn.open_table(META)?.get("format")?.map(|v| v.value()))
    };
    let found = format().map_err(|e| open_error(path, e))?;
    if let Some(found) = found.filter(|&found| found > FORMAT) {
        return Err(StoreError::NewerFormat {
            path: path.to_path_buf(),
            found,
            supported: FORMAT,
        });
    }
    for created in [
        txn.open_table(RETAINED).map(drop),
        txn.open_table(SESSIONS).map(drop),
        txn.open_table(log::LOG).map(drop),
        txn.open_table(log::DEAD).map(drop),
    ] {
        created.map_err(|e| open_error(path, e))?;
    }
    if found.is_some_and(|found| found < 3) {
        let moved = convert(&txn).map_err(|e| open_error(path, e))?;
        tracing::info!(
            entries = moved,
            "store: queue moved to the format {FORMAT} log"
        );
    }
    let stamp = || -> Result<(), redb::Error> {
        txn.open_table(META)?.insert("format", FORMAT)?;
        Ok(())
    };
    stamp().map_err(|e| open_error(path, e))?;
    txn.commit().map_err(|e| open_error(path, e))?;
    let (loaded, max_seq, mut log) = load(&db, path)?;
    if log.changed() {
        // What load found gone (entries of no session, messages no entry names).
        tidy(&db, &mut log).map_err(|e| open_error(path, e))?;
    }
    // Give back the pages of what was deleted since the last start, so the
    // file stays proportional to live data.
    let before = file_len(path);
    let started = Instant::now();
    db.compact().map_err(|e| open_error(path, e))?;
    tracing::debug!(
        before,
        after = file_len(path),
        "store compacted in {:?}",
        started.elapsed()
    );
    Ok(Opened {
        db,
        loaded,
        max_seq,
        log,
    })
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Move a format 1 or 2 queue (`queue`, `messages`) into log records, and
/// drop those tables. Returns how many entries moved.
fn convert(txn: &WriteTransaction) -> Result<usize, redb::Error> {
    let mut log = txn.open_table(log::LOG)?;
    let mut next = log.last()?.map_or(0, |(id, _)| id.value() + 1);
    let mut items: Vec<(String, u64, Vec<u8>)> = Vec::new();
    {
        let queue = txn.open_table(QUEUE)?;
        for row in queue.iter()? {
            let (key, value) = row?;
            let (client, seq) = key.value();
            items.push((client.to_owned(), seq, value.value().to_vec()));
        }
    }
    let moved = items.len();
    let mut bodies: Vec<(u64, Vec<u8>)> = Vec::new();
    {
        let messages = txn.open_table(MESSAGES)?;
        for row in messages.iter()? {
            let (seq, value) = row?;
            bodies.push((seq.value(), value.value().to_vec()));
        }
    }
    let all = bodies
        .iter()
        .map(|(seq, body)| Item::Message { seq: *seq, body })
        .chain(items.iter().map(|(client, seq, record)| Item::Entry {
            client,
            seq: *seq,
            record,
        }))
        .collect::<Vec<_>>();
    for chunk in all.chunks(CONVERTED_PER_RECORD) {
        log.insert(next, log::record_of(chunk).as_slice())?;
        next += 1;
    }
    drop(log);
    txn.delete_table(QUEUE)?;
    txn.delete_table(MESSAGES)?;
    Ok(moved)
}

/// Write what [`load`] found gone.
fn tidy(db: &Database, log: &mut Log) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut tables = Tables::new(&txn);
        let (records, dead) = tables.log()?;
        log.commit(records, dead)?;
    }
    txn.commit()?;
    Ok(())
}

fn load(db: &Database, path: &Path) -> Result<(Loaded, u64, Log), StoreError> {
    let txn = db.begin_read().map_err(|e| open_error(path, e))?;
    let mut loaded = Loaded::default();
    let meta = txn.open_table(META).map_err(|e| open_error(path, e))?;
    loaded.stream_position = match meta.get(STREAM_POSITION).map_err(|e| open_error(path, e))? {
        Some(position) => Some(position.value()),
        // Everything of that stream message was delivered.
        None => meta
            .get(STREAM_SEQUENCE_V1)
            .map_err(|e| open_error(path, e))?
            .map(|v| super::stream_position(v.value(), u16::MAX)),
    };
    let retained = txn.open_table(RETAINED).map_err(|e| open_error(path, e))?;
    for entry in retained.iter().map_err(|e| open_error(path, e))? {
        let (topic, value) = entry.map_err(|e| open_error(path, e))?;
        let message = decode_retained(value.value())
            .map_err(|e| bad_record(path, format!("retained {:?}", topic.value()), e))?;
        loaded.retained.push(message);
    }
    let sessions = txn.open_table(SESSIONS).map_err(|e| open_error(path, e))?;
    let mut by_client: HashMap<Arc<str>, usize> = HashMap::new();
    for entry in sessions.iter().map_err(|e| open_error(path, e))? {
        let (client, value) = entry.map_err(|e| open_error(path, e))?;
        let client: Arc<str> = Arc::from(client.value());
        let record = decode_session(value.value())
            .map_err(|e| bad_record(path, format!("session {client:?}"), e))?;
        by_client.insert(client.clone(), loaded.sessions.len());
        loaded.sessions.push(LoadedSession {
            client,
            record,
            queue: Vec::new(),
        });
    }
    let records = txn.open_table(log::LOG).map_err(|e| open_error(path, e))?;
    let dead = txn.open_table(log::DEAD).map_err(|e| open_error(path, e))?;
    let (mut log, found) = Log::load(&records, &dead).map_err(|e| load_error(path, e))?;
    // One message in memory for all the sessions it is queued for, as on disk.
    let mut decoded: HashMap<u64, Arc<Message>> = HashMap::new();
    for entry in &found.entries {
        let (client, seq, value) = (&entry.client, &entry.seq, &entry.record);
        // Entries come sorted by (client, seq): each session's queue in order.
        let Some(&i) = by_client.get(client) else {
            continue; // forgotten below
        };
        let what = || format!("queued message {seq} of {client:?}");
        let queued = if queued_version(value) == Some(DELIVERY_VERSION) {
            let message = || match decoded.get(seq) {
                Some(known) => Ok(known.clone()),
                None => {
                    let body = found
                        .messages
                        .get(seq)
                        .ok_or_else(|| RecordError::Message("its message is missing".into()))?;
                    let message = Arc::new(decode_retained(body)?);
                    decoded.insert(*seq, message.clone());
                    Ok(message)
                }
            };
            decode_delivery(value, *seq, message)
        } else {
            decode_queued(value, *seq)
        }
        .map_err(|e| bad_record(path, what(), e))?;
        let mut queued = queued;
        if let Some(state) = &entry.state {
            queued.state = decode_state(state).map_err(|e| bad_record(path, what(), e))?;
        }
        loaded.sessions[i].queue.push(queued);
    }
    let orphans = log.keep_only(|client| by_client.contains_key(client));
    if orphans > 0 {
        tracing::warn!(
            count = orphans,
            "store: removing queue entries of no session"
        );
    }
    Ok((loaded, found.max_seq, log))
}

/// What the file's queue holds (for tests and checks; read while no broker
/// has the file open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Census {
    /// Live queue entries, over all sessions.
    pub entries: usize,
    /// Messages stored once for several sessions.
    pub messages: usize,
    /// Bytes of the largest entry.
    pub largest_entry: usize,
    /// Bytes of the largest stored-once message.
    pub largest_message: usize,
}

/// Count what `db`'s queue holds.
pub(super) fn census_of(db: &Database) -> Result<Census, redb::Error> {
    let txn = db.begin_read()?;
    let records = txn.open_table(log::LOG)?;
    let dead = txn.open_table(log::DEAD)?;
    let (_, found) = Log::load(&records, &dead).map_err(|e| match e {
        LoadError::Db(e) => e,
        bad => redb::Error::Corrupted(bad.to_string()),
    })?;
    Ok(Census {
        entries: found.entries.len(),
        messages: found.messages.len(),
        largest_entry: found
            .entries
            .iter()
            .map(|e| e.record.len())
            .max()
            .unwrap_or(0),
        largest_message: found.messages.values().map(Vec::len).max().unwrap_or(0),
    })
}

type Bytes = &'static [u8];

/// The tables of one write transaction, each opened the first time a
/// write needs it and then kept: opening a table per record cost as much
/// as a tenth of the broker's CPU under persistent QoS 1 traffic.
pub(super) struct Tables<'t> {
    txn: &'t WriteTransaction,
    retained: Option<Table<'t, &'static str, Bytes>>,
    sessions: Option<Table<'t, &'static str, Bytes>>,
    log: Option<Table<'t, u64, Bytes>>,
    dead: Option<Table<'t, u64, Bytes>>,
    meta: Option<Table<'t, &'static str, u64>>,
}

impl<'t> Tables<'t> {
    pub(super) fn new(txn: &'t WriteTransaction) -> Tables<'t> {
        Tables {
            txn,
            retained: None,
            sessions: None,
            log: None,
            dead: None,
            meta: None,
        }
    }

    /// Whether any write opened a table (else the transaction changed nothing).
    pub(super) fn touched(&self) -> bool {
        self.retained.is_some()
            || self.sessions.is_some()
            || self.log.is_some()
            || self.dead.is_some()
            || self.meta.is_some()
    }

    pub(super) fn retained(&mut self) -> Result<&mut Table<'t, &'static str, Bytes>, redb::Error> {
        open_once(&mut self.retained, self.txn, RETAINED)
    }

    pub(super) fn sessions(&mut self) -> Result<&mut Table<'t, &'static str, Bytes>, redb::Error> {
        open_once(&mut self.sessions, self.txn, SESSIONS)
    }

    /// The queue's `log` and `dead` tables, together.
    #[allow(clippy::type_complexity)]
    pub(super) fn log(
        &mut self,
    ) -> Result<(&mut Table<'t, u64, Bytes>, &mut Table<'t, u64, Bytes>), redb::Error> {
        open_once(&mut self.log, self.txn, log::LOG)?;
        open_once(&mut self.dead, self.txn, log::DEAD)?;
        Ok((
            self.log.as_mut().expect("opened"),
            self.dead.as_mut().expect("opened"),
        ))
    }

    pub(super) fn meta(&mut self) -> Result<&mut Table<'t, &'static str, u64>, redb::Error> {
        open_once(&mut self.meta, self.txn, META)
    }
}

fn open_once<'t, 't2, K: redb::Key + 'static, V: redb::Value + 'static>(
    slot: &'t2 mut Option<Table<'t, K, V>>,
    txn: &'t WriteTransaction,
    definition: TableDefinition<'static, K, V>,
) -> Result<&'t2 mut Table<'t, K, V>, redb::Error> {
    if slot.is_none() {
        *slot = Some(txn.open_table(definition)?);
    }
    Ok(slot.as_mut().expect("just opened"))
}
