//! The redb file: its tables, opening and checking it, bringing a file of
//! an older format up to date, and loading what it holds at start-up.
//!
//! | table      | key            | value                                              |
//! |------------|----------------|----------------------------------------------------|
//! | `meta`     | name           | a number (`format`, a cluster's stream position)   |
//! | `retained` | topic          | the message (`records::encode_retained`)           |
//! | `sessions` | client id      | the session (`records::encode_session`)            |
//! | `queue`    | (client, seq)  | one session's entry: holding its message (`records::encode_queued`), or naming it (`records::encode_delivery`) |
//! | `messages` | seq            | a message queued for several sessions, once        |

use std::{
    collections::{hash_map, HashMap},
    path::Path,
    sync::Arc,
    time::Instant,
};

use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};

use super::{
    decode_delivery, decode_queued, decode_retained, decode_session, queued_version, Loaded,
    LoadedSession, RecordError, StoreError, DELIVERY_VERSION,
};
use crate::protocol::message::Message;

/// The file's format; a file with a higher one is refused. Format 1 kept
/// each queued message inside every session's queue entry; format 2 keeps
/// a message queued for several sessions once, in `messages`.
pub(super) const FORMAT: u64 = 2;

pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");
pub(super) const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
pub(super) const QUEUE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queue");
pub(super) const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");

/// The meta key of [`super::Op::PutStreamPosition`].
pub(super) const STREAM_POSITION: &str = "cluster_stream_at";
/// Where a stream position was kept when a stream message carried one MQTT
/// message (a bare sequence): read, converted, never written.
const STREAM_SEQUENCE_V1: &str = "cluster_stream_position";

/// How many queue entries name each stored message (by its `seq`): the
/// message goes when the last of them does.
pub(super) type Refs = HashMap<u64, u32>;

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
    pub refs: Refs,
}

/// Open the file, check its format, create missing tables, and load it all.
/// A format 1 file needs no change: its entries all hold their messages,
/// which format 2 still reads and writes (for messages of one session).
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
        txn.open_table(QUEUE).map(drop),
        txn.open_table(MESSAGES).map(drop),
    ] {
        created.map_err(|e| open_error(path, e))?;
    }
    let stamp = || -> Result<(), redb::Error> {
        txn.open_table(META)?.insert("format", FORMAT)?;
        Ok(())
    };
    stamp().map_err(|e| open_error(path, e))?;
    txn.commit().map_err(|e| open_error(path, e))?;
    let (loaded, max_seq, refs) = load(&db, path)?;
    drop_unnamed(&db, &refs).map_err(|e| open_error(path, e))?;
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
        refs,
    })
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn load(db: &Database, path: &Path) -> Result<(Loaded, u64, Refs), StoreError> {
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
    let queue = txn.open_table(QUEUE).map_err(|e| open_error(path, e))?;
    let messages = txn.open_table(MESSAGES).map_err(|e| open_error(path, e))?;
    let mut refs = Refs::new();
    // One message in memory for all the sessions it is queued for, as on disk.
    let mut decoded: HashMap<u64, Arc<Message>> = HashMap::new();
    let mut max_seq = 0;
    for entry in queue.iter().map_err(|e| open_error(path, e))? {
        let (key, value) = entry.map_err(|e| open_error(path, e))?;
        let (client, seq) = key.value();
        max_seq = max_seq.max(seq);
        let names = queued_version(value.value()) == Some(DELIVERY_VERSION);
        if names {
            *refs.entry(seq).or_default() += 1;
        }
        // Keys sort by (client, seq): each session's queue comes out in order.
        let Some(&i) = by_client.get(client) else {
            continue;
        };
        let what = || format!("queued message {seq} of {client:?}");
        if !names {
            let queued =
                decode_queued(value.value(), seq).map_err(|e| bad_record(path, what(), e))?;
            loaded.sessions[i].queue.push(queued);
            continue;
        }
        let message = || match decoded.entry(seq) {
            hash_map::Entry::Occupied(known) => Ok(known.get().clone()),
            hash_map::Entry::Vacant(slot) => {
                let body = messages
                    .get(seq)
                    .map_err(|e| RecordError::Message(e.to_string()))?
                    .ok_or_else(|| RecordError::Message("its message is missing".into()))?;
                Ok(slot
                    .insert(Arc::new(decode_retained(body.value())?))
                    .clone())
            }
        };
        let queued = decode_delivery(value.value(), seq, message)
            .map_err(|e| bad_record(path, what(), e))?;
        loaded.sessions[i].queue.push(queued);
    }
    for entry in messages.iter().map_err(|e| open_error(path, e))? {
        let (seq, _) = entry.map_err(|e| open_error(path, e))?;
        max_seq = max_seq.max(seq.value());
    }
    Ok((loaded, max_seq, refs))
}

/// Remove the messages no queue entry names. None should be left (an entry
/// and its message go in one transaction); this keeps the file honest if
/// one ever is.
fn drop_unnamed(db: &Database, refs: &Refs) -> Result<(), redb::Error> {
    // Looked for in a read: a start-up with none (always, so far) writes nothing.
    let unnamed: Vec<u64> = {
        let txn = db.begin_read()?;
        let messages = txn.open_table(MESSAGES)?;
        messages
            .iter()?
            .map(|entry| entry.map(|(seq, _)| seq.value()))
            .filter(|seq| seq.as_ref().map_or(true, |seq| !refs.contains_key(seq)))
            .collect::<Result<_, _>>()?
    };
    if unnamed.is_empty() {
        return Ok(());
    }
    let txn = db.begin_write()?;
    {
        let mut messages = txn.open_table(MESSAGES)?;
        for seq in &unnamed {
            messages.remove(seq)?;
        }
    }
    txn.commit()?;
    tracing::warn!(
        count = unnamed.len(),
        "store: removed messages no session named"
    );
    Ok(())
}

/// Count the queue entries naming each message, as the file holds them now.
pub(super) fn count_refs(db: &Database) -> Result<Refs, redb::Error> {
    let txn = db.begin_read()?;
    let queue = txn.open_table(QUEUE)?;
    let mut refs = Refs::new();
    for entry in queue.iter()? {
        let (key, value) = entry?;
        if queued_version(value.value()) == Some(DELIVERY_VERSION) {
            *refs.entry(key.value().1).or_default() += 1;
        }
    }
    Ok(refs)
}

type Bytes = &'static [u8];

/// The tables of one write transaction, each opened the first time a
/// write needs it and then kept: opening a table per record cost as much
/// as a tenth of the broker's CPU under persistent QoS 1 traffic.
pub(super) struct Tables<'t> {
    txn: &'t WriteTransaction,
    retained: Option<Table<'t, &'static str, Bytes>>,
    sessions: Option<Table<'t, &'static str, Bytes>>,
    queue: Option<Table<'t, (&'static str, u64), Bytes>>,
    messages: Option<Table<'t, u64, Bytes>>,
    meta: Option<Table<'t, &'static str, u64>>,
}

impl<'t> Tables<'t> {
    pub(super) fn new(txn: &'t WriteTransaction) -> Tables<'t> {
        Tables {
            txn,
            retained: None,
            sessions: None,
            queue: None,
            messages: None,
            meta: None,
        }
    }

    /// Whether any write opened a table (else the transaction changed nothing).
    pub(super) fn touched(&self) -> bool {
        self.retained.is_some()
            || self.sessions.is_some()
            || self.queue.is_some()
            || self.messages.is_some()
            || self.meta.is_some()
    }

    pub(super) fn retained(&mut self) -> Result<&mut Table<'t, &'static str, Bytes>, redb::Error> {
        open_once(&mut self.retained, self.txn, RETAINED)
    }

    pub(super) fn sessions(&mut self) -> Result<&mut Table<'t, &'static str, Bytes>, redb::Error> {
        open_once(&mut self.sessions, self.txn, SESSIONS)
    }

    pub(super) fn queue(
        &mut self,
    ) -> Result<&mut Table<'t, (&'static str, u64), Bytes>, redb::Error> {
        open_once(&mut self.queue, self.txn, QUEUE)
    }

    pub(super) fn messages(&mut self) -> Result<&mut Table<'t, u64, Bytes>, redb::Error> {
        open_once(&mut self.messages, self.txn, MESSAGES)
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
