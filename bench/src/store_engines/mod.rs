//! `kite-bench store-engines`: the queue workload of a persistent session
//! (issue #20, point 2) on several storage engines, measured the same way.
//!
//! Every engine gets the same rounds from one [`workload::Generator`]: each
//! round appends new entries (a 64 B message and a 16 B delivery record per
//! session, keyed by client id and seq), deletes those acknowledged (15–40 ms
//! after their round), and is durable (fsync/fdatasync) before the next
//! starts. The engines are what Kite does today and the designs the issue
//! names, so the choice of Kite's next queue store rests on numbers.
//!
//! # Layout
//! - [`workload`]: entries, rounds and the generator.
//! - [`codec`]: the bytes of many entries in one record (for `redb_rounds`, `segment_log`).
//! - [`liveness`]: which of their records are still needed (live entries,
//!   tombstones that must outlive what they bury), and which to compact.
//! - Engines, one file each: [`none`] (keeps nothing: the baseline),
//!   [`redb_entries`] (Kite today: one B-tree insert per entry, one delete
//!   per ack), [`redb_rounds`] (one redb record per round), [`segment_log`]
//!   (append-only files); with the `engines` feature also `fjall_lsm` (the
//!   fjall LSM) and `kite_store` (Kite's real `RedbStore` through its
//!   `SessionStore` trait, answering rounds through tickets later).
//! - [`measure`]: process CPU, bytes written and the files' size.
//! - [`drive`]: one timed run of an engine, and the recovery run.
//! - [`crash`]: a child process SIGKILLed mid-run, and the check of what it left.
//! - [`table`]: the Markdown table and the JSON.
//! - [`plan`]: the command's options and the order of the runs.

pub mod codec;
pub mod crash;
pub mod drive;
#[cfg(feature = "engines")]
pub mod fjall_lsm;
#[cfg(feature = "engines")]
pub mod kite_store;
pub mod liveness;
pub mod measure;
pub mod none;
pub mod plan;
pub mod redb_entries;
pub mod redb_rounds;
pub mod segment_log;
pub mod table;
pub mod workload;

use std::path::Path;

use workload::{EntryKey, Round};

/// Why an engine failed.
#[derive(thiserror::Error, Debug)]
pub enum EngineError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("redb: {0}")]
    Redb(String),
    #[error("fjall: {0}")]
    Fjall(String),
    #[error("Kite's store: {0}")]
    Kite(String),
    #[error("corrupt store: {0}")]
    Corrupt(String),
    #[error("{0} needs kite-bench built with --features engines")]
    Unavailable(&'static str),
}

impl From<redb::Error> for EngineError {
    fn from(e: redb::Error) -> Self {
        EngineError::Redb(e.to_string())
    }
}

/// redb's error types convert into `redb::Error`; one `From` for them all.
macro_rules! redb_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for EngineError {
            fn from(e: $t) -> Self {
                EngineError::Redb(e.to_string())
            }
        }
    )*};
}
redb_errors!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// A queue store under test.
pub trait Engine {
    /// Apply `round` and make it durable before returning.
    fn commit(&mut self, round: &Round) -> Result<(), EngineError>;
}

/// The engines there are (those behind the `engines` feature only with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum EngineKind {
    /// Keeps nothing (`--durability none`): the workload's own cost.
    None,
    /// Kite today, modelled: an insert per entry, a delete per ack.
    RedbEntries,
    /// One redb record per round, one tombstone record per round.
    RedbRounds,
    /// Append-only segment files, fdatasync per round.
    SegmentLog,
    /// The fjall LSM: a write batch per round, `SyncData`.
    Fjall,
    /// Kite's real `RedbStore` through `SessionStore`.
    KiteStore,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::None => "none",
            EngineKind::RedbEntries => "redb-entries",
            EngineKind::RedbRounds => "redb-rounds",
            EngineKind::SegmentLog => "segment-log",
            EngineKind::Fjall => "fjall",
            EngineKind::KiteStore => "kite-store",
        }
    }

    /// Whether this build has it (fjall and Kite's store need `--features engines`).
    pub fn available(self) -> bool {
        cfg!(feature = "engines") || !matches!(self, EngineKind::Fjall | EngineKind::KiteStore)
    }

    /// Whether a crash check applies: `none` keeps nothing, and Kite's
    /// store answers a round through a ticket later (see `kite_store`).
    pub fn crash_checked(self) -> bool {
        !matches!(self, EngineKind::None | EngineKind::KiteStore)
    }

    /// Every engine this build has.
    pub fn all() -> Vec<EngineKind> {
        [
            EngineKind::None,
            EngineKind::RedbEntries,
            EngineKind::KiteStore,
            EngineKind::RedbRounds,
            EngineKind::Fjall,
            EngineKind::SegmentLog,
        ]
        .into_iter()
        .filter(|kind| kind.available())
        .collect()
    }
}

/// Open (or create) `kind`'s store in `dir`, with the entries it holds
/// that were not acknowledged, sorted.
pub fn open(kind: EngineKind, dir: &Path) -> Result<(Box<dyn Engine>, Vec<EntryKey>), EngineError> {
    std::fs::create_dir_all(dir)?;
    let (engine, mut live): (Box<dyn Engine>, Vec<EntryKey>) = match kind {
        EngineKind::None => (Box::new(none::Nothing), Vec::new()),
        EngineKind::RedbEntries => {
            let (engine, live) = redb_entries::RedbEntries::open(dir)?;
            (Box::new(engine), live)
        }
        EngineKind::RedbRounds => {
            let (engine, live) = redb_rounds::RedbRounds::open(dir)?;
            (Box::new(engine), live)
        }
        EngineKind::SegmentLog => {
            let (engine, live) = segment_log::SegmentLog::open(dir)?;
            (Box::new(engine), live)
        }
        #[cfg(feature = "engines")]
        EngineKind::Fjall => {
            let (engine, live) = fjall_lsm::FjallLsm::open(dir)?;
            (Box::new(engine), live)
        }
        #[cfg(feature = "engines")]
        EngineKind::KiteStore => {
            let (engine, live) = kite_store::KiteStore::open(dir)?;
            (Box::new(engine), live)
        }
        #[cfg(not(feature = "engines"))]
        EngineKind::Fjall | EngineKind::KiteStore => {
            return Err(EngineError::Unavailable(kind.name()))
        }
    };
    live.sort_unstable();
    Ok((engine, live))
}
