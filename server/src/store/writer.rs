//! The writer thread: batches of writes queued by the broker's threads,
//! committed in rounds by one thread (group commit). What a round does
//! with them is `round`'s; the file's tables are `file`'s.

use std::{
    sync::{Arc, Condvar, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use super::{log::Log, round::Rounds, Op};
use crate::metrics::StoreGauges;

/// Writes submitted together, and who waits for their commit.
pub(super) struct Batch {
    /// Applied by the writer as they come: an [`Op`] moves here once,
    /// and only retained messages and session records are encoded (by the
    /// writer; they are rare beside queue entries, which are encoded only
    /// if written at all).
    pub writes: Vec<Op>,
    pub done: Option<oneshot::Sender<()>>,
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
    /// Since the start: batches submitted, and rounds that committed a
    /// transaction (one fsync each, under `always` and `batch`).
    figures: StoreGauges,
}

impl Queue {
    pub(super) fn push(&self, batch: Batch) {
        let mut state = self.state.lock().expect("store queue lock");
        let urgent = batch.done.is_some();
        let wake = state.batches.is_empty() || (urgent && !state.urgent);
        state.since.get_or_insert_with(Instant::now);
        state.urgent |= urgent;
        state.figures.submissions += 1;
        state.batches.push(batch);
        drop(state);
        if wake {
            self.ready.notify_one();
        }
    }

    /// What the store has done since the start.
    pub(super) fn figures(&self) -> StoreGauges {
        self.state.lock().expect("store queue lock").figures
    }

    /// The writer committed a round.
    fn committed(&self) {
        self.state.lock().expect("store queue lock").figures.commits += 1;
    }

    /// No more batches: the writer commits what it has and stops.
    pub(super) fn close(&self) {
        self.state.lock().expect("store queue lock").closed = true;
        self.ready.notify_one();
    }

    /// The next round to commit, in order of submission, and whether the
    /// queue is closed; `None` once closed and empty. `pending`: the last
    /// round held writes, so this one is due after `window` even if nothing
    /// new comes. See [`run`] for when a round is due otherwise.
    fn next_round(
        &self,
        window: Option<Duration>,
        lazy_sync: Duration,
        pending: bool,
    ) -> Option<(Vec<Batch>, bool)> {
        let mut state = self.state.lock().expect("store queue lock");
        // Something held: due after the window whatever comes.
        if !pending {
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
        }
        if let (true, false, Some(window)) = (state.urgent || pending, state.closed, window) {
            // Group commit: let more writes join this round (and the
            // acknowledgements of what the last round held arrive).
            drop(state);
            std::thread::sleep(window);
            state = self.state.lock().expect("store queue lock");
        }
        state.urgent = false;
        state.since = None;
        Some((std::mem::take(&mut state.batches), state.closed))
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
/// file holds a prefix of the writes, never a hole (a queued message held
/// for a round, see `round`, is one nobody was answered for yet).
///
/// With `window`, newly queued messages are held a round (`round`): most
/// are acknowledged by then and never written.
pub(super) fn run(
    db: redb::Database,
    log: Log,
    queue: Arc<Queue>,
    window: Option<Duration>,
    lazy_sync: Duration,
) {
    let mut rounds = Rounds::new(db, log);
    while let Some((batches, closed)) = queue.next_round(window, lazy_sync, rounds.pending()) {
        if rounds.commit(batches, window.is_some() && !closed) {
            queue.committed();
        }
    }
}
