//! One commit round of the writer thread, and what it holds between rounds.
//!
//! **Each queued message is stored once.** A message routed to several
//! persistent sessions is one item in the queue's log (`log`) and a small
//! delivery record per session names it; the message goes with the last
//! entry naming it. A message for one session is kept in its entry.
//! Everything a round writes to the queue is one log record. Entries are
//! encoded here, when written: one acknowledged while held costs no
//! encoding at all.
//!
//! **A queued message is written late, if at all.** A session whose client
//! keeps up acknowledges most messages soon after they are queued; writing
//! them to a copy-on-write B-tree only to delete them a commit later was
//! most of what persistent QoS 1 traffic cost. So a new queue entry is held
//! in memory for up to [`HOLD`], and written only if its acknowledgement has
//! not come by then. Whoever waits for a batch with such an entry (the
//! publisher's PUBACK) is answered once every held entry of the batch was
//! acknowledged or committed: a crash loses nothing acknowledged either
//! way. Other batches are answered after their round's commit, as before:
//! they do not wait for a held one submitted earlier (the subscriber whose
//! acknowledgement would settle it may be the one waiting), and nothing
//! they hold depends on it. A batch of no writes (a `sync`) waits for
//! everything held.
//!
//! **A new state is written when the round ends.** A delivery's new state
//! (sent, released) of an entry in the file is kept until the round's
//! other writes are applied: one whose entry was acknowledged within the
//! round (most, for a client that keeps up) is never encoded or written.
//! The round commits as one transaction, so nothing a crash can see changes.
//!
//! A client that let an entry reach [`HOLD`] (offline, stuck, or one whose
//! acknowledgements Nagle's algorithm delays) has its entries written at
//! once for [`SLOW_FOR`], so its publishers wait [`HOLD`] once in that time
//! at most, not for each message. An entry whose new state someone waits for (a
//! QoS 2 PUBLISH leaves only once its state is stored) is written in the
//! round that changed it. A batch that moves a cluster node's stream
//! position holds nothing: the position commits with the deliveries it
//! stands for.

use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, Instant},
};

use redb::{Database, ReadableDatabase};
use rustc_hash::FxHashMap as HashMap;
use tokio::sync::oneshot;

use super::{
    encode_retained, encode_session, encode_state,
    file::{Tables, STREAM_POSITION},
    log::{Log, DEAD, LOG},
    put_naming, put_queued, put_retained,
    writer::Batch,
    Op, Queued, QueuedState,
};

/// The longest a queue entry stays off the disk waiting for its
/// acknowledgement: two `batch` rounds. Long enough for a subscriber that
/// keeps up to acknowledge (a round trip on a LAN), short enough that a
/// publisher whose message waits for a slow one (a client whose small
/// writes Nagle's algorithm delays by a delayed ACK's 40 ms, as
/// libmosquitto's do) is answered within a few milliseconds, about as
/// soon as a commit would have.
pub(super) const HOLD: Duration = Duration::from_millis(5);

/// How long a client that let an entry reach [`HOLD`] has its entries
/// written at once: a publisher to it loses at most [`HOLD`] in this time.
pub(super) const SLOW_FOR: Duration = Duration::from_millis(200);

/// A queue entry by (client, seq).
type Key = (Arc<str>, u64);

/// A queue entry not written yet.
struct Held {
    queued: Queued,
    /// Its message is stored once for several sessions (see [`enqueued`]).
    shared: bool,
    /// The batches whose answer waits for it (by id).
    waiters: Waiters,
}

/// The batches waiting for a held entry: almost always one (the batch that
/// queued it), so that one takes no allocation of its own.
#[derive(Default)]
struct Waiters {
    first: Option<u64>,
    more: Vec<u64>,
}

impl Waiters {
    fn push(&mut self, id: u64) {
        match self.first {
            None => self.first = Some(id),
            Some(_) => self.more.push(id),
        }
    }

    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.first.into_iter().chain(self.more.iter().copied())
    }
}

/// A batch answered once nothing of it is held any more.
struct Waiting {
    done: oneshot::Sender<()>,
    held: usize,
}

/// The writer thread's state between rounds.
pub(super) struct Rounds {
    db: Database,
    /// Where the file's queue entries are.
    log: Log,
    held: HashMap<Key, Held>,
    /// The held entries with when they were queued, in that order: each is
    /// written by the first round ending [`HOLD`] later. Settled ones stay
    /// until then, and are skipped.
    order: VecDeque<(Instant, Key)>,
    /// Held entries to write this round whatever their age.
    forced: Vec<Key>,
    /// Batches waiting for held entries, by id.
    waiting: HashMap<u64, Waiting>,
    next_id: u64,
    /// The batch being applied: not answered before all its writes are.
    open: Option<u64>,
    /// Batches to answer once this round commits.
    answer: Vec<oneshot::Sender<()>>,
    /// Clients whose entries are written at once, until when.
    slow: HashMap<Arc<str>, Instant>,
    /// New states of entries in the file, written when the round ends: one
    /// whose entry is acknowledged within the round is never written.
    states: HashMap<Key, QueuedState>,
}

impl Rounds {
    pub(super) fn new(db: Database, log: Log) -> Rounds {
        Rounds {
            db,
            log,
            held: HashMap::default(),
            order: VecDeque::new(),
            forced: Vec::new(),
            waiting: HashMap::default(),
            next_id: 0,
            open: None,
            answer: Vec::new(),
            slow: HashMap::default(),
            states: HashMap::default(),
        }
    }

    #[cfg(test)]
    pub(super) fn db(&self) -> &Database {
        &self.db
    }

    /// Something is held or unanswered: a round is due soon even if no new
    /// batch comes.
    pub(super) fn pending(&self) -> bool {
        !self.held.is_empty() || !self.waiting.is_empty()
    }

    /// Commit `batches` in one transaction, with the held entries now due.
    /// Without `hold` (`--durability always`, or the last round before
    /// closing) nothing is held past this round. True when a transaction
    /// was committed (a round that settled everything in memory commits
    /// none).
    pub(super) fn commit(&mut self, batches: Vec<Batch>, hold: bool) -> bool {
        self.commit_at(batches, hold, Instant::now())
    }

    /// [`Rounds::commit`] as if it were `now` (tests step their own clock:
    /// a loaded machine must not age held entries past [`HOLD`]).
    pub(super) fn commit_at(&mut self, batches: Vec<Batch>, hold: bool, now: Instant) -> bool {
        match self.write(batches, hold, now) {
            Ok(committed) => {
                for done in self.answer.drain(..) {
                    let _ = done.send(());
                }
                committed
            }
            Err(err) => {
                // Dropping the `done` senders tells every waiter the commit
                // failed; what was held is lost with it.
                tracing::error!(%err, "store commit failed; acknowledgements withheld");
                self.answer.clear();
                self.waiting.clear();
                self.held.clear();
                self.order.clear();
                self.forced.clear();
                self.states.clear();
                match self.reload() {
                    Ok(log) => self.log = log,
                    Err(err) => tracing::error!(%err, "store: cannot read the queue log again"),
                }
                false
            }
        }
    }

    fn write(
        &mut self,
        batches: Vec<Batch>,
        hold: bool,
        now: Instant,
    ) -> Result<bool, redb::Error> {
        let txn = self.db.begin_write()?;
        let touched = {
            let mut tables = Tables::new(&txn);
            for batch in batches {
                let id = self.next_id;
                self.next_id += 1;
                let positioned = batch
                    .writes
                    .iter()
                    .any(|op| matches!(op, Op::PutStreamPosition(_)));
                let waited = batch.done.is_some();
                if let Some(done) = batch.done {
                    let barrier = batch.writes.is_empty();
                    if barrier {
                        // Everything submitted before is safe when this is.
                        for held in self.held.values_mut() {
                            held.waiters.push(id);
                        }
                    }
                    let held = if barrier { self.held.len() } else { 0 };
                    self.waiting.insert(id, Waiting { done, held });
                    self.open = Some(id);
                }
                let step = Step {
                    id,
                    waited,
                    hold: hold && !positioned,
                    now,
                };
                let mut before = None;
                let mut ops = batch.writes.into_iter();
                while let Some(op) = ops.next() {
                    let seq = enqueued(&op);
                    // The next op is looked at where it lies, not moved.
                    let next = ops.as_slice().first().and_then(enqueued);
                    let shared = seq.is_some() && (before == seq || next == seq);
                    before = seq;
                    self.apply(&mut tables, op, shared, step)?;
                }
                self.open = None;
                if self.waiting.get(&id).is_some_and(|w| w.held == 0) {
                    let waiting = self.waiting.remove(&id).expect("there");
                    self.answer.push(waiting.done);
                }
            }
            // Those that reached HOLD (all, without `hold`), then those forced.
            let mut due = Vec::new();
            while let Some((since, _)) = self.order.front() {
                if hold && now.duration_since(*since) < HOLD {
                    break;
                }
                due.extend(self.order.pop_front().map(|(_, key)| (key, hold)));
            }
            due.extend(self.forced.drain(..).map(|key| (key, false)));
            for (key, reached_hold) in due {
                let Some(held) = self.held.remove(&key) else {
                    continue; // settled since
                };
                if reached_hold {
                    // Its publishers should not wait HOLD for each entry.
                    self.slow.insert(key.0.clone(), now + SLOW_FOR);
                }
                self.put(&key, &held.queued, held.shared);
                self.settled(&held);
            }
            self.put_states();
            if self.log.changed() {
                let (records, dead) = tables.log()?;
                self.log.commit(records, dead)?;
            }
            tables.touched()
        };
        if touched {
            txn.commit()?;
        } else {
            // Everything settled in memory: no commit, no fsync.
            txn.abort()?;
        }
        if !self.slow.is_empty() {
            self.slow.retain(|_, until| *until > now);
        }
        Ok(touched)
    }

    /// Apply one write (a held entry makes its batch wait for it).
    /// `shared`: an [`Op::Enqueue`] whose message the same batch queues for
    /// other sessions (see [`enqueued`]).
    fn apply(
        &mut self,
        tables: &mut Tables,
        op: Op,
        shared: bool,
        step: Step,
    ) -> Result<(), redb::Error> {
        match op {
            Op::Enqueue {
                client,
                seq,
                queued,
            } => {
                let slow = self
                    .slow
                    .get(&client)
                    .is_some_and(|&until| until > step.now);
                if !step.hold || slow {
                    // Written now: its batch is answered when this round
                    // commits (and it is marked dead in the round's record
                    // if acknowledged within the round).
                    self.put(&(client, seq), &queued, shared);
                    return Ok(());
                }
                let waiters = Waiters {
                    first: step.waited.then_some(step.id),
                    more: Vec::new(),
                };
                if step.waited {
                    self.wait_for(step.id);
                }
                self.order.push_back((step.now, (client.clone(), seq)));
                self.held.insert(
                    (client, seq),
                    Held {
                        queued,
                        shared,
                        waiters,
                    },
                );
            }
            Op::PutQueued { client, seq, state } => {
                let key = (client, seq);
                if let Some(held) = self.held.get_mut(&key) {
                    held.queued.state = state;
                    if step.waited {
                        // Someone waits for this state to be stored.
                        held.waiters.push(step.id);
                        self.forced.push(key.clone());
                        self.wait_for(step.id);
                    }
                } else {
                    // Written when the round ends, unless acknowledged first.
                    self.states.insert(key, state);
                }
            }
            Op::DeleteQueued { client, seq } => {
                let key = (client, seq);
                // Acknowledged before it reached the file: nothing to write.
                if let Some(held) = self.held.remove(&key) {
                    self.settled(&held);
                } else {
                    self.states.remove(&key);
                    self.log.remove(&key.0, seq);
                }
            }
            Op::DeleteSession { client } => {
                let gone: Vec<Key> = self
                    .held
                    .keys()
                    .filter(|(owner, _)| *owner == client)
                    .cloned()
                    .collect();
                for key in gone {
                    let held = self.held.remove(&key).expect("listed");
                    self.settled(&held);
                }
                self.slow.remove(&client);
                self.states.retain(|(owner, _), _| *owner != client);
                tables.sessions()?.remove(&*client)?;
                self.log.remove_client(&client);
            }
            Op::PutRetained(message) => {
                let record = encode_retained(&message);
                tables
                    .retained()?
                    .insert(&*message.topic, record.as_slice())?;
            }
            Op::DeleteRetained { topic } => {
                tables.retained()?.remove(&*topic)?;
            }
            Op::PutSession { client, record } => {
                let record = encode_session(&record);
                tables.sessions()?.insert(&*client, record.as_slice())?;
            }
            Op::PutStreamPosition(position) => {
                tables.meta()?.insert(STREAM_POSITION, position)?;
            }
        }
        Ok(())
    }

    /// Write the round's new states of entries in the file, beside them.
    fn put_states(&mut self) {
        for ((client, seq), state) in self.states.drain() {
            if !self.log.put_state(&client, seq, &encode_state(state)) {
                // Neither held nor in the file: its write failed (a failed
                // commit loses what it and the held entries had, and nobody
                // was answered for them).
                tracing::debug!(client = %client, seq, "store: a new state for a queue entry the file does not hold; not kept");
            }
        }
    }

    /// A held entry is written or acknowledged: its batches wait no more for it.
    fn settled(&mut self, held: &Held) {
        for id in held.waiters.iter() {
            let Some(waiting) = self.waiting.get_mut(&id) else {
                continue;
            };
            waiting.held -= 1;
            if waiting.held == 0 && self.open != Some(id) {
                let waiting = self.waiting.remove(&id).expect("there");
                self.answer.push(waiting.done);
            }
        }
    }

    /// The batch `id` waits for one more held entry.
    fn wait_for(&mut self, id: u64) {
        if let Some(waiting) = self.waiting.get_mut(&id) {
            waiting.held += 1;
        }
    }

    /// Write a queue entry: holding its message, or naming it (the
    /// message written with the first entry that names it).
    fn put(&mut self, key: &Key, queued: &Queued, shared: bool) {
        let (client, seq) = key;
        let Queued { outbound, state } = queued;
        if shared {
            self.log.put_naming(
                client,
                *seq,
                |out| put_naming(out, outbound, *state),
                |out| put_retained(out, &outbound.message),
            );
        } else {
            self.log
                .put_entry_with(client, *seq, |out| put_queued(out, outbound, *state));
        }
    }

    /// The file's queue as it is, after a failed commit.
    fn reload(&self) -> Result<Log, redb::Error> {
        let txn = self.db.begin_read()?;
        let records = txn.open_table(LOG)?;
        let dead = txn.open_table(DEAD)?;
        Log::reload(&records, &dead).map_err(|e| redb::Error::Corrupted(e.to_string()))
    }
}

/// The position an [`Op::Enqueue`] queues at. A route's entries for one
/// message come together in a batch: one next to another of the same
/// position is a message queued for several sessions, stored once.
fn enqueued(op: &Op) -> Option<u64> {
    match op {
        Op::Enqueue { seq, .. } => Some(*seq),
        _ => None,
    }
}

/// What [`Rounds::apply`] needs to know of the write's batch and round.
#[derive(Clone, Copy)]
struct Step {
    /// The batch's id in `waiting`.
    id: u64,
    /// Someone waits for the batch.
    waited: bool,
    /// New entries may be held.
    hold: bool,
    now: Instant,
}
