//! What the broker keeps across a restart: retained messages, persistent
//! sessions and their queued and in-flight messages.
//!
//! The broker writes through the [`SessionStore`] trait, in [`Op`]s that
//! say what changed (typed, not bytes), so another store can plug in (a
//! cluster's, given to `broker::Shared::new` in its `Seams`). This node's store is
//! [`RedbStore`]: one `redb` file under `--data-dir`, or nothing at all with
//! `--durability none`.
//!
//! [`RedbStore`] encodes each op (`records`) and hands batches to one writer
//! thread (`writer`). It commits them in one transaction per round (group
//! commit, `round`): with `--durability batch` a round gathers for up to
//! [`BATCH_WINDOW`], with `always` it takes only what is already waiting.
//! What a round writes to the queue is one record of a log (`log`), and an
//! acknowledgement marks its entry dead there instead of deleting it.
//! Whoever must not answer before the data is on disk (a PUBACK, a SUBACK)
//! waits on the batch's [`Ticket`]. A message queued for many sessions is
//! stored once (`file` has the tables), and with `batch` one acknowledged
//! within a round of its queueing is never written at all (`round`).

mod file;
mod log;
mod log_items;
mod records;
mod round;
#[cfg(test)]
mod tests;
mod writer;

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use bytestring::ByteString;
use tokio::sync::oneshot;

pub use crate::protocol::records::{Queued, QueuedState, SessionRecord, StoredSubscription};
pub use crate::util::clock::now_unix_ms;
pub use file::Census;
pub use records::RecordError;
pub(crate) use records::{
    decode_delivery, decode_queued, decode_retained, decode_session, decode_state, encode_queued,
    encode_retained, encode_session, encode_state, peek_topic, put_naming, put_queued,
    put_retained, queued_version, retained_len, DELIVERY_VERSION,
};

use crate::{config::Durability, metrics::StoreGauges, protocol::message::Message};

/// How long a `batch` round waits for more writes before it commits.
pub const BATCH_WINDOW: Duration = Duration::from_millis(2);

/// The longest a write nobody waits for stays off the disk (see [`writer::run`]).
pub const LAZY_SYNC: Duration = Duration::from_millis(100);

/// The name of the database file inside `--data-dir`.
pub const FILE_NAME: &str = "kite.redb";

/// Why the store cannot be used. Every variant names the file: the broker
/// stops with it rather than touch data it does not understand.
#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    #[error("cannot create the data folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store {path}: {message} (the file is left as it is)")]
    Open { path: PathBuf, message: String },
    #[error("the store {path} was written by a newer Kite (format {found}, this broker reads up to {supported}); nothing was changed")]
    NewerFormat {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error("the store {path} holds a record this broker cannot read ({what}): {source}; nothing was changed")]
    BadRecord {
        path: PathBuf,
        what: String,
        source: RecordError,
    },
}

/// One change to what the store keeps.
#[derive(Debug, Clone)]
pub enum Op {
    /// Keep this retained message (replacing the topic's previous one).
    PutRetained(Arc<Message>),
    DeleteRetained {
        topic: ByteString,
    },
    PutSession {
        client: Arc<str>,
        record: SessionRecord,
    },
    /// Remove a session with its whole queue.
    DeleteSession {
        client: Arc<str>,
    },
    /// A message newly queued for a session, at position `seq`. Every
    /// `Enqueue` of one `seq` is the same message (routed once to several
    /// sessions): the store keeps it once, with an entry per session.
    Enqueue {
        client: Arc<str>,
        seq: u64,
        queued: Queued,
    },
    /// A new state (sent, released) of a message queued by [`Op::Enqueue`]
    /// (the store has the message: only the state goes).
    PutQueued {
        client: Arc<str>,
        seq: u64,
        state: QueuedState,
    },
    DeleteQueued {
        client: Arc<str>,
        seq: u64,
    },
    /// A cluster node's position in the cluster's message stream
    /// ([`stream_position`]): every message up to it was delivered here.
    /// Submitted in the same batch as the deliveries of the message at that
    /// position, so both commit or neither (a batch is one transaction).
    PutStreamPosition(u64),
}

/// Bits of a stream position that count MQTT messages inside one stream
/// message (a cluster node puts several in one: [`stream_position`]).
pub const STREAM_INDEX_BITS: u32 = 16;

/// A cluster node's place in the cluster's message stream as one ordered
/// number: the stream message's sequence, and the index of an MQTT message
/// inside it. So a crash between two MQTT messages of one stream message
/// resumes between them, delivering neither twice.
pub fn stream_position(sequence: u64, index: u16) -> u64 {
    (sequence << STREAM_INDEX_BITS) | u64::from(index)
}

/// The stream message of a [`stream_position`].
pub fn stream_sequence(position: u64) -> u64 {
    position >> STREAM_INDEX_BITS
}

/// Where the broker's sessions, queues and retained messages are kept
/// across a restart. Writes are batches of [`Op`]s, applied in the order
/// submitted; whoever must not answer before they are safe (a PUBACK, a
/// SUBACK) waits on the batch's [`Ticket`].
pub trait SessionStore: Send + Sync {
    /// True when writes are kept; false for a broker that keeps nothing
    /// (`--durability none`), which then builds no ops at all.
    fn is_persistent(&self) -> bool;

    /// A new queue position, increasing across the broker's life (and
    /// across restarts).
    fn next_seq(&self) -> u64;

    /// Queue `ops`. With `wait`, returns a ticket that resolves when they
    /// (and everything submitted before) are safe; without, they are safe
    /// within the store's lazy bound ([`LAZY_SYNC`] for redb).
    fn submit(&self, ops: Vec<Op>, wait: bool) -> Option<Ticket>;

    /// A ticket that resolves once everything submitted so far is safe (for
    /// a clean shutdown); `None` when nothing is kept.
    fn sync(&self) -> Option<Ticket>;

    /// Where the data lives, for the start-up log line.
    fn location(&self) -> Option<String>;

    /// What the store has done since the start (`$SYS`, `/metrics`).
    fn figures(&self) -> StoreGauges;
}

/// Resolves once what it stands for is safe; fails if writing it failed.
/// One ticket can stand for several writes (the store's and, in a cluster,
/// the backplane's): it resolves when all of them did.
pub struct Ticket(Waits);

enum Waits {
    One(oneshot::Receiver<()>),
    All(Vec<oneshot::Receiver<()>>),
}

impl Ticket {
    /// A ticket, and the sender that resolves it (dropping the sender
    /// without sending fails it).
    pub fn new() -> (oneshot::Sender<()>, Ticket) {
        let (done, rx) = oneshot::channel();
        (done, Ticket(Waits::One(rx)))
    }

    /// A ticket that resolves when both `a` and `b` did; either may be absent.
    pub fn both(a: Option<Ticket>, b: Option<Ticket>) -> Option<Ticket> {
        match (a, b) {
            (None, b) => b,
            (a, None) => a,
            (Some(Ticket(a)), Some(Ticket(b))) => {
                let mut all = Vec::new();
                for waits in [a, b] {
                    match waits {
                        Waits::One(rx) => all.push(rx),
                        Waits::All(rxs) => all.extend(rxs),
                    }
                }
                Some(Ticket(Waits::All(all)))
            }
        }
    }

    /// Wait for the writes. `false` means one failed: do not acknowledge.
    pub async fn committed(self) -> bool {
        match self.0 {
            Waits::One(rx) => rx.await.is_ok(),
            Waits::All(rxs) => {
                for rx in rxs {
                    if rx.await.is_err() {
                        return false;
                    }
                }
                true
            }
        }
    }
}

/// A persistent session as loaded at start-up.
#[derive(Debug)]
pub struct LoadedSession {
    pub client: Arc<str>,
    pub record: SessionRecord,
    /// Its queue, oldest first.
    pub queue: Vec<Queued>,
}

/// Everything the store held at start-up.
#[derive(Debug, Default)]
pub struct Loaded {
    pub retained: Vec<Message>,
    pub sessions: Vec<LoadedSession>,
    /// A cluster node's last [`Op::PutStreamPosition`].
    pub stream_position: Option<u64>,
}

/// This node's store: a `redb` file, or nothing (`--durability none`).
pub struct RedbStore {
    queue: Option<Arc<writer::Queue>>,
    next_seq: AtomicU64,
    path: Option<PathBuf>,
}

impl RedbStore {
    /// No store: `--durability none`.
    pub fn memory() -> RedbStore {
        RedbStore {
            queue: None,
            next_seq: AtomicU64::new(1),
            path: None,
        }
    }

    /// Open (or create) the store in `dir` and load what it holds.
    pub fn open(dir: &Path, durability: Durability) -> Result<(RedbStore, Loaded), StoreError> {
        if durability == Durability::None {
            return Ok((RedbStore::memory(), Loaded::default()));
        }
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let file::Opened {
            db,
            loaded,
            max_seq,
            log,
        } = file::open(&path)?;
        let queue = Arc::new(writer::Queue::default());
        let window = (durability == Durability::Batch).then_some(BATCH_WINDOW);
        let for_writer = queue.clone();
        std::thread::Builder::new()
            .name("kite-store".into())
            .spawn(move || writer::run(db, log, for_writer, window, LAZY_SYNC))
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let store = RedbStore {
            queue: Some(queue),
            next_seq: AtomicU64::new(max_seq + 1),
            path: Some(path),
        };
        Ok((store, loaded))
    }

    /// The database file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn push(&self, writes: Vec<Op>, wait: bool) -> Option<Ticket> {
        let queue = self.queue.as_ref()?;
        let (done, ticket) = if wait {
            let (done, ticket) = Ticket::new();
            (Some(done), Some(ticket))
        } else {
            (None, None)
        };
        queue.push(writer::Batch { writes, done });
        ticket
    }
}

/// What the queue of the store in `dir` holds: for tests and checks, while
/// no broker has the file open.
pub fn census(dir: &Path) -> Result<Census, StoreError> {
    let path = dir.join(FILE_NAME);
    let failed = |e: &dyn std::fmt::Display| StoreError::Open {
        path: path.clone(),
        message: e.to_string(),
    };
    let db = redb::Database::open(&path).map_err(|e| failed(&e))?;
    file::census_of(&db).map_err(|e| failed(&e))
}

impl SessionStore for RedbStore {
    fn is_persistent(&self) -> bool {
        self.queue.is_some()
    }

    fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    fn submit(&self, ops: Vec<Op>, wait: bool) -> Option<Ticket> {
        if ops.is_empty() || self.queue.is_none() {
            return None;
        }
        self.push(ops, wait)
    }

    fn sync(&self) -> Option<Ticket> {
        self.push(Vec::new(), true)
    }

    fn location(&self) -> Option<String> {
        self.path().map(|path| path.display().to_string())
    }

    fn figures(&self) -> StoreGauges {
        self.queue
            .as_ref()
            .map(|queue| queue.figures())
            .unwrap_or_default()
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        if let Some(queue) = &self.queue {
            queue.close();
        }
    }
}
