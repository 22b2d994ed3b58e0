//! The crash-safe store: retained messages, persistent sessions and their
//! queued and in-flight messages, in one `redb` file under `--data-dir`.
//!
//! Writes go to one writer thread as batches of [`Op`]s. It commits them in
//! one transaction per round (group commit): with `--durability batch` a
//! round gathers for up to [`BATCH_WINDOW`], with `always` it takes only what
//! is already waiting. Whoever must not answer before the data is on disk
//! (a PUBACK, a SUBACK) waits on the batch's [`Ticket`].

mod records;
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
pub use records::{
    decode_queued, decode_retained, decode_session, encode_queued, encode_retained, encode_session,
    RecordError,
};

use crate::{config::Durability, protocol::message::Message};

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

/// One change to the store.
#[derive(Debug, Clone)]
pub enum Op {
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
    /// Add or replace one queued message of a session.
    PutQueued {
        client: Arc<str>,
        seq: u64,
        record: Vec<u8>,
    },
    DeleteQueued {
        client: Arc<str>,
        seq: u64,
    },
}

struct Batch {
    ops: Vec<Op>,
    done: Option<oneshot::Sender<()>>,
}

/// Resolves once a batch is committed; fails if the commit failed.
pub struct Ticket(oneshot::Receiver<()>);

impl Ticket {
    /// Wait for the commit. `false` means it failed: do not acknowledge.
    pub async fn committed(self) -> bool {
        self.0.await.is_ok()
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
}

/// The handle the broker writes through.
pub struct Store {
    queue: Option<Arc<writer::Queue>>,
    next_seq: AtomicU64,
    path: Option<PathBuf>,
}

impl Store {
    /// No store: `--durability none`.
    pub fn memory() -> Store {
        Store {
            queue: None,
            next_seq: AtomicU64::new(1),
            path: None,
        }
    }

    /// Open (or create) the store in `dir` and load what it holds.
    pub fn open(dir: &Path, durability: Durability) -> Result<(Store, Loaded), StoreError> {
        if durability == Durability::None {
            return Ok((Store::memory(), Loaded::default()));
        }
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let (db, loaded, max_seq) = writer::open(&path)?;
        let queue = Arc::new(writer::Queue::default());
        let window = (durability == Durability::Batch).then_some(BATCH_WINDOW);
        let for_writer = queue.clone();
        std::thread::Builder::new()
            .name("kite-store".into())
            .spawn(move || writer::run(db, for_writer, window, LAZY_SYNC))
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let store = Store {
            queue: Some(queue),
            next_seq: AtomicU64::new(max_seq + 1),
            path: Some(path),
        };
        Ok((store, loaded))
    }

    /// True when writes go to disk.
    pub fn is_persistent(&self) -> bool {
        self.queue.is_some()
    }

    /// The database file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A new queue position, increasing across the broker's life.
    pub fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// A ticket that resolves once everything submitted so far is committed
    /// (for a clean shutdown); `None` without a store.
    pub fn sync(&self) -> Option<Ticket> {
        self.push(Vec::new(), true)
    }

    /// Queue `ops` for the writer. With `wait`, returns a ticket that resolves
    /// when they (and everything submitted before) are committed; without,
    /// they are committed within [`LAZY_SYNC`].
    pub fn submit(&self, ops: Vec<Op>, wait: bool) -> Option<Ticket> {
        if ops.is_empty() {
            return None;
        }
        self.push(ops, wait)
    }

    fn push(&self, ops: Vec<Op>, wait: bool) -> Option<Ticket> {
        let queue = self.queue.as_ref()?;
        let (done, ticket) = if wait {
            let (done, rx) = oneshot::channel();
            (Some(done), Some(Ticket(rx)))
        } else {
            (None, None)
        };
        queue.push(Batch { ops, done });
        ticket
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(queue) = &self.queue {
            queue.close();
        }
    }
}
