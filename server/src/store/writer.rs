//! The redb side: opening and checking the file, loading it, and the writer
//! thread that group-commits batches.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Condvar, Mutex},
    time::{Duration, Instant},
};

use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};

use bytestring::ByteString;
use tokio::sync::oneshot;

use super::{
    decode_queued, decode_retained, decode_session, encode_queued, encode_retained, encode_session,
    Loaded, LoadedSession, Op, RecordError, StoreError,
};

/// An [`Op`] as the file keeps it: keys and encoded records.
#[derive(Debug)]
pub(super) enum Write {
    PutRetained {
        topic: ByteString,
        record: Vec<u8>,
    },
    DeleteRetained {
        topic: ByteString,
    },
    PutSession {
        client: Arc<str>,
        record: Vec<u8>,
    },
    /// Remove a session with its whole queue.
    DeleteSession {
        client: Arc<str>,
    },
    PutQueued {
        client: Arc<str>,
        seq: u64,
        record: Vec<u8>,
    },
    DeleteQueued {
        client: Arc<str>,
        seq: u64,
    },
    /// A number in the meta table (an older broker ignores the key).
    PutMeta {
        key: &'static str,
        value: u64,
    },
}

/// The meta key of [`Op::PutStreamPosition`].
const STREAM_POSITION: &str = "cluster_stream_position";

impl Write {
    pub(super) fn encode(op: &Op) -> Write {
        match op {
            Op::PutRetained(message) => Write::PutRetained {
                topic: message.topic.clone(),
                record: encode_retained(message),
            },
            Op::DeleteRetained { topic } => Write::DeleteRetained {
                topic: topic.clone(),
            },
            Op::PutSession { client, record } => Write::PutSession {
                client: client.clone(),
                record: encode_session(record),
            },
            Op::DeleteSession { client } => Write::DeleteSession {
                client: client.clone(),
            },
            Op::PutQueued {
                client,
                seq,
                queued,
            } => Write::PutQueued {
                client: client.clone(),
                seq: *seq,
                record: encode_queued(&queued.outbound, queued.state),
            },
            Op::DeleteQueued { client, seq } => Write::DeleteQueued {
                client: client.clone(),
                seq: *seq,
            },
            Op::PutStreamPosition(position) => Write::PutMeta {
                key: STREAM_POSITION,
                value: *position,
            },
        }
    }
}

/// Writes submitted together, and who waits for their commit.
pub(super) struct Batch {
    pub writes: Vec<Write>,
    pub done: Option<oneshot::Sender<()>>,
}

/// The file's format; a file with a higher one is refused.
pub(super) const FORMAT: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
const QUEUE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queue");

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

/// Open the file, check its format, create missing tables, and load it all.
/// Returns the highest queue position in use.
pub(super) fn open(path: &Path) -> Result<(Database, Loaded, u64), StoreError> {
    let mut db = Database::create(path).map_err(|e| open_error(path, e))?;
    {
        let txn = db.begin_write().map_err(|e| open_error(path, e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| open_error(path, e))?;
            let found = meta
                .get("format")
                .map_err(|e| open_error(path, e))?
                .map(|v| v.value());
            match found {
                Some(found) if found > FORMAT => {
                    return Err(StoreError::NewerFormat {
                        path: path.to_path_buf(),
                        found,
                        supported: FORMAT,
                    })
                }
                Some(_) => {}
                None => {
                    meta.insert("format", FORMAT)
                        .map_err(|e| open_error(path, e))?;
                }
            }
            txn.open_table(RETAINED).map_err(|e| open_error(path, e))?;
            txn.open_table(SESSIONS).map_err(|e| open_error(path, e))?;
            txn.open_table(QUEUE).map_err(|e| open_error(path, e))?;
        }
        txn.commit().map_err(|e| open_error(path, e))?;
    }
    let (loaded, max_seq) = load(&db, path)?;
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
    Ok((db, loaded, max_seq))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn load(db: &Database, path: &Path) -> Result<(Loaded, u64), StoreError> {
    let txn = db.begin_read().map_err(|e| open_error(path, e))?;
    let mut loaded = Loaded::default();
    let meta = txn.open_table(META).map_err(|e| open_error(path, e))?;
    loaded.stream_position = meta
        .get(STREAM_POSITION)
        .map_err(|e| open_error(path, e))?
        .map(|v| v.value());
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
    let mut max_seq = 0;
    for entry in queue.iter().map_err(|e| open_error(path, e))? {
        let (key, value) = entry.map_err(|e| open_error(path, e))?;
        let (client, seq) = key.value();
        max_seq = max_seq.max(seq);
        // Keys sort by (client, seq): each session's queue comes out in order.
        if let Some(&i) = by_client.get(client) {
            let queued = decode_queued(value.value(), seq)
                .map_err(|e| bad_record(path, format!("queued message {seq} of {client:?}"), e))?;
            loaded.sessions[i].queue.push(queued);
        }
    }
    Ok((loaded, max_seq))
}

/// Batches on their way to the writer thread. A batch nobody waits for does
/// not wake the writer (unless it starts a round), so a burst of them costs
/// no context switch each.
#[derive(Default)]
pub(super) struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    batches: Vec<Batch>,
    /// Someone waits for a batch in `batches`.
    urgent: bool,
    /// When the oldest batch in `batches` arrived.
    since: Option<Instant>,
    closed: bool,
}

impl Queue {
    pub(super) fn push(&self, batch: Batch) {
        let mut state = self.state.lock().expect("store queue lock");
        let urgent = batch.done.is_some();
        let wake = state.batches.is_empty() || (urgent && !state.urgent);
        state.since.get_or_insert_with(Instant::now);
        state.urgent |= urgent;
        state.batches.push(batch);
        drop(state);
        if wake {
            self.ready.notify_one();
        }
    }

    /// No more batches: the writer commits what it has and stops.
    pub(super) fn close(&self) {
        self.state.lock().expect("store queue lock").closed = true;
        self.ready.notify_one();
    }

    /// The next round to commit, in order of submission; `None` once closed
    /// and empty. See [`run`] for when a round is due.
    fn next_round(&self, window: Option<Duration>, lazy_sync: Duration) -> Option<Vec<Batch>> {
        let mut state = self.state.lock().expect("store queue lock");
        loop {
            let Some(since) = state.since else {
                if state.closed {
                    return None;
                }
                state = self.ready.wait(state).expect("store queue lock");
                continue;
            };
            let left = (since + lazy_sync).saturating_duration_since(Instant::now());
            if state.urgent || state.closed || left.is_zero() {
                break;
            }
            state = self
                .ready
                .wait_timeout(state, left)
                .expect("store queue lock")
                .0;
        }
        if let (true, Some(window)) = (state.urgent, window) {
            // Group commit: let more writes join this round.
            drop(state);
            std::thread::sleep(window);
            state = self.state.lock().expect("store queue lock");
        }
        state.urgent = false;
        state.since = None;
        Some(std::mem::take(&mut state.batches))
    }
}

/// The writer thread: one durable transaction per round of batches.
///
/// A batch that someone waits for (an acknowledgement) makes a round due at
/// once: with `window` (`--durability batch`) it gathers for that long, then
/// commits. Batches nobody waits for (a QoS 0 `$SYS` message, alarm state)
/// only gather: they commit with the next waited-for batch, or `lazy_sync`
/// after the first of them arrived. A burst of them costs a few commits a
/// second instead of one per round, and none stays off the disk longer than
/// `lazy_sync`. Commits keep the order of submission, so after a crash the
/// file holds a prefix of the writes, never a hole.
pub(super) fn run(db: Database, queue: Arc<Queue>, window: Option<Duration>, lazy_sync: Duration) {
    while let Some(batches) = queue.next_round(window, lazy_sync) {
        match commit(&db, &batches) {
            Ok(()) => {
                for batch in batches {
                    if let Some(done) = batch.done {
                        let _ = done.send(());
                    }
                }
            }
            // Dropping the `done` senders tells every waiter the commit failed.
            Err(err) => tracing::error!(%err, "store commit failed; acknowledgements withheld"),
        }
    }
}

fn commit(db: &Database, batches: &[Batch]) -> Result<(), redb::Error> {
    let writes: Vec<&Write> = batches.iter().flat_map(|b| &b.writes).collect();
    let settled = settled_in_round(&writes);
    let txn = db.begin_write()?;
    {
        let mut tables = Tables::new(&txn);
        for (at, write) in writes.iter().enumerate() {
            if let Write::PutQueued { client, seq, .. } = write {
                // Queued and acknowledged within this round: the record
                // would be written only to be deleted by the same commit.
                if settled
                    .get(&(&**client, *seq))
                    .is_some_and(|&gone| gone > at)
                {
                    continue;
                }
            }
            apply(&mut tables, write)?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// Where in the round each queued message is deleted (its last delete):
/// its writes before that position need not reach the file. A copy-on-write
/// B-tree pays for an insert and a delete; a queue whose subscriber keeps
/// up has most messages acknowledged within the round that queued them.
fn settled_in_round<'a>(writes: &[&'a Write]) -> HashMap<(&'a str, u64), usize> {
    let mut settled = HashMap::new();
    for (at, write) in writes.iter().enumerate() {
        if let Write::DeleteQueued { client, seq } = write {
            settled.insert((&**client, *seq), at);
        }
    }
    settled
}

/// The tables of one write transaction, each opened the first time a
/// write needs it and then kept: opening a table per record cost as much
/// as a tenth of the broker's CPU under persistent QoS 1 traffic.
struct Tables<'t> {
    txn: &'t WriteTransaction,
    retained: Option<Table<'t, &'static str, &'static [u8]>>,
    sessions: Option<Table<'t, &'static str, &'static [u8]>>,
    queue: Option<Table<'t, (&'static str, u64), &'static [u8]>>,
    meta: Option<Table<'t, &'static str, u64>>,
}

impl<'t> Tables<'t> {
    fn new(txn: &'t WriteTransaction) -> Tables<'t> {
        Tables {
            txn,
            retained: None,
            sessions: None,
            queue: None,
            meta: None,
        }
    }

    fn retained(&mut self) -> Result<&mut Table<'t, &'static str, &'static [u8]>, redb::Error> {
        open_once(&mut self.retained, self.txn, RETAINED)
    }

    fn sessions(&mut self) -> Result<&mut Table<'t, &'static str, &'static [u8]>, redb::Error> {
        open_once(&mut self.sessions, self.txn, SESSIONS)
    }

    fn queue(&mut self) -> Result<&mut Table<'t, (&'static str, u64), &'static [u8]>, redb::Error> {
        open_once(&mut self.queue, self.txn, QUEUE)
    }

    fn meta(&mut self) -> Result<&mut Table<'t, &'static str, u64>, redb::Error> {
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

fn apply(tables: &mut Tables, write: &Write) -> Result<(), redb::Error> {
    match write {
        Write::PutRetained { topic, record } => {
            tables.retained()?.insert(&**topic, record.as_slice())?;
        }
        Write::DeleteRetained { topic } => {
            tables.retained()?.remove(&**topic)?;
        }
        Write::PutSession { client, record } => {
            tables.sessions()?.insert(&**client, record.as_slice())?;
        }
        Write::DeleteSession { client } => {
            tables.sessions()?.remove(&**client)?;
            let queue = tables.queue()?;
            let seqs: Vec<u64> = queue
                .range((&**client, 0)..=(&**client, u64::MAX))?
                .map(|entry| entry.map(|(key, _)| key.value().1))
                .collect::<Result<_, _>>()?;
            for seq in seqs {
                queue.remove((&**client, seq))?;
            }
        }
        Write::PutQueued {
            client,
            seq,
            record,
        } => {
            tables
                .queue()?
                .insert((&**client, *seq), record.as_slice())?;
        }
        Write::DeleteQueued { client, seq } => {
            tables.queue()?.remove((&**client, *seq))?;
        }
        Write::PutMeta { key, value } => {
            tables.meta()?.insert(*key, *value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(client: &str, seq: u64) -> Write {
        Write::PutQueued {
            client: Arc::from(client),
            seq,
            record: vec![1, 2, 3],
        }
    }

    fn delete(client: &str, seq: u64) -> Write {
        Write::DeleteQueued {
            client: Arc::from(client),
            seq,
        }
    }

    fn queued(db: &Database) -> Vec<(String, u64)> {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(QUEUE).unwrap();
        table
            .iter()
            .unwrap()
            .map(|entry| {
                let (key, _) = entry.unwrap();
                let (client, seq) = key.value();
                (client.to_string(), seq)
            })
            .collect()
    }

    #[test]
    fn a_message_queued_and_acknowledged_in_one_round_is_never_written() {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap();
        let round = |writes: Vec<Write>| {
            commit(&db, &[Batch { writes, done: None }]).unwrap();
        };
        round(vec![put("a", 1)]);
        // 1 settles now (written before: the delete must apply); 2 comes
        // and goes within the round; 3 stays; 4 is deleted before it is
        // put (an order no session makes, kept as given).
        round(vec![
            put("a", 2),
            put("a", 3),
            delete("a", 2),
            delete("a", 1),
            delete("a", 4),
            put("a", 4),
        ]);
        assert_eq!(queued(&db), [("a".to_string(), 3), ("a".to_string(), 4)]);
        let writes = [put("b", 5), put("b", 5), delete("b", 5)];
        let refs: Vec<&Write> = writes.iter().collect();
        assert_eq!(settled_in_round(&refs).get(&("b", 5)), Some(&2));
    }
}
