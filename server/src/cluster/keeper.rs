//! Copies of this node's persistent sessions in their owner records in
//! `kite_owners`, for a survivor to rebuild a session from if this node
//! dies ([`super::parked::rebuild`]):
//!
//! - a parked session's snapshot, taken by the stream reader between two
//!   messages when its client leaves ([`super::parked::snapshot_at_reader`]);
//! - a connected session's live copy (the broker's `Shared::keep_live`): its
//!   record and queue, complete up to the stream position of the last
//!   message it took. It is kept before anything leaves that its client
//!   must not get twice or that a rebuilt session must know of (a QoS 2
//!   PUBLISH or PUBREL, a PUBREC, a SUBACK or UNSUBACK: they wait for it),
//!   and every second otherwise; never before what the same read routed
//!   is stored (a copy naming a QoS 2 PUBLISH the stream lacks would lose
//!   it). So a copy is never behind on QoS 2 or on subscriptions; what it
//!   is behind on is QoS 1 messages sent since, which a rebuilt session
//!   sends again (at least once).
//!
//! A copy or snapshot also finishes the shared groups' turns it holds
//! (`SessionCopy::turns`) once it is kept: a turn reaching a persistent
//! member has its copy written at once (a connected one's) or its snapshot
//! taken again (a parked one's), and the group's consumer hears only then
//! (or when the client acknowledged it), so a node that dies before gives
//! the turn back to the group ([`super::shares`]).
//!
//! Each copy is written by compare-and-set over this node's claim of the
//! id: a claim made since (the client connected again, here or on another
//! node) always wins, and the copy is dropped (whoever waits for it fails).
//! Once another node asks for the id, the claim is [`VOIDED`]: copies on
//! their way are dropped, and what would wait for a new one does not leave.
//! A copy says the client left when it was taken: should the node die, the
//! session's expiry counts from there.
//! Copies of one id go one at a time, and only the latest of those waiting
//! (it holds everything the earlier ones did); copies of different ids go
//! side by side. A copy larger than NATS's `max_payload` is not kept: the
//! owner record is left without one, so a survivor starts the client anew
//! rather than from an older copy.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::{stream::FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::parked::owner_value;
use crate::protocol::message::Receipt;

/// How long a copy is written again while the bucket is out of reach.
const KEEP_FOR: Duration = Duration::from_secs(20);

/// [`Held::claim`] once another node asked for the id (KV revisions
/// start at 1): no copy is written over it, and none is waited for.
pub(crate) const VOIDED: u64 = 0;

/// This node's claims, per client id it holds.
pub(crate) type Kept = Arc<Mutex<HashMap<String, Held>>>;

/// A claim of a client id this node holds in its owner record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Held {
    /// The record's revision the claim wrote: copies taken under it.
    pub claim: u64,
    /// The record's revision this node wrote last (the claim, or a copy
    /// since): the next copy is written over it.
    pub written: u64,
    /// When a copy under this claim was last kept.
    pub kept_at: Option<std::time::Instant>,
}

impl Held {
    pub(crate) fn claimed(revision: u64) -> Held {
        Held {
            claim: revision,
            written: revision,
            kept_at: None,
        }
    }
}

/// A session's copy on its way to its owner record.
pub(crate) struct SessionCopy {
    pub client_id: String,
    /// The stream position it is complete up to.
    pub at: u64,
    /// Where this node's stream writes were stored up to when it was taken
    /// ([`super::parked::Snapshot::written`]).
    pub written: u64,
    /// The session ([`super::handoff::encode`]).
    pub session: Vec<u8>,
    /// The shared groups' turns it holds, finished once it is kept (dropped
    /// unfinished, the group gives each to a member again).
    pub turns: Vec<Arc<dyn Receipt>>,
    /// The claim it was taken under ([`Held::claim`]).
    pub claim: u64,
    /// A parked session's snapshot (else a connected one's copy).
    pub parked: bool,
    /// Told once it is kept; dropped when it is not.
    pub done: Option<oneshot::Sender<()>>,
}

/// Write the copies for the life of the node: one at a time per client
/// id, the latest of those waiting (with everyone waiting for any of
/// them), and different ids side by side, so that one id whose write
/// retries holds up no other.
pub(crate) async fn keep(
    node: String,
    client: async_nats::Client,
    store: kv::Store,
    kept: Kept,
    mut copies: mpsc::UnboundedReceiver<SessionCopy>,
) {
    let node: Arc<str> = node.into();
    let mut writing = FuturesUnordered::new();
    // Ids being written, and the copy waiting for each to finish.
    let mut busy: HashMap<String, Option<Waiting>> = HashMap::new();
    let start = |copy: SessionCopy, done: Vec<oneshot::Sender<()>>| {
        let (node, client, store, kept) =
            (node.clone(), client.clone(), store.clone(), kept.clone());
        async move {
            let id = copy.client_id.clone();
            write(&node, &client, &store, &kept, copy, done).await;
            id
        }
    };
    loop {
        tokio::select! {
            copy = copies.recv() => {
                let Some(mut copy) = copy else { break };
                let done: Vec<_> = copy.done.take().into_iter().collect();
                match busy.get_mut(&copy.client_id) {
                    Some(Some(waiting)) => {
                        // The later copy holds the earlier one's turns too
                        // (under another claim, the session it was taken
                        // from is gone: its turns go back to their groups).
                        if waiting.0.claim == copy.claim {
                            copy.turns.append(&mut waiting.0.turns);
                        }
                        waiting.0 = copy;
                        waiting.1.extend(done);
                    }
                    Some(slot) => *slot = Some((copy, done)),
                    None => {
                        busy.insert(copy.client_id.clone(), None);
                        writing.push(start(copy, done));
                    }
                }
            }
            Some(id) = writing.next(), if !writing.is_empty() => {
                if let Some((copy, done)) = busy.remove(&id).flatten() {
                    busy.insert(id, None);
                    writing.push(start(copy, done));
                }
            }
        }
    }
    while writing.next().await.is_some() {}
}

/// A copy waiting for its id's write in progress, and who waits for it.
type Waiting = (SessionCopy, Vec<oneshot::Sender<()>>);

/// The revision a copy taken under `claim` is written over; `None` once
/// the id was claimed since, or let go.
fn over(kept: &Kept, client_id: &str, claim: u64) -> Option<u64> {
    let kept = kept.lock().unwrap_or_else(|e| e.into_inner());
    kept.get(client_id)
        .filter(|held| held.claim == claim)
        .map(|held| held.written)
}

async fn write(
    node: &str,
    client: &async_nats::Client,
    store: &kv::Store,
    kept: &Kept,
    copy: SessionCopy,
    done: Vec<oneshot::Sender<()>>,
) {
    let SessionCopy {
        client_id,
        at,
        written: stored_upto,
        session,
        mut turns,
        claim,
        parked,
        ..
    } = copy;
    let what = if parked {
        "parked session"
    } else {
        "connected session's copy"
    };
    let mut value = owner_value(node, at, stored_upto, &session);
    if value.len() + 1024 > client.max_payload() {
        tracing::warn!(
            client_id,
            bytes = value.len(),
            "cluster: a session's copy is larger than NATS's max_payload; if this node dies, its client starts a new session"
        );
        value = node.as_bytes().to_vec();
        // Not held beyond this node, but in its store (as before copies
        // held them): given back, they would only come to this same
        // session again and again.
        for turn in turns.drain(..) {
            turn.finished();
        }
    }
    let (key, value) = (super::owners::key(&client_id), Bytes::from(value));
    let deadline = tokio::time::Instant::now() + KEEP_FOR;
    loop {
        let Some(revision) = over(kept, &client_id, claim) else {
            tracing::debug!(client_id, "cluster: {what} not kept: claimed since");
            return;
        };
        let update = updated(
            store,
            &key,
            value.clone(),
            revision,
            kept,
            &client_id,
            claim,
        );
        let written = match update.await {
            Ok(Ok(written)) => Some(written),
            // Claimed since (the client is back, here or elsewhere): that
            // claim holds the record now; unless what is there is this very
            // copy, from an attempt given up on that landed after all.
            Ok(Err(err)) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                match store.entry(&key).await {
                    Ok(Some(entry)) if entry.value == value => Some(entry.revision),
                    _ => None,
                }
            }
            // The bucket out of reach (its stream elects a leader): again.
            failed => {
                if tokio::time::Instant::now() >= deadline {
                    let err = match failed {
                        Ok(Err(err)) => err.to_string(),
                        _ => "no answer".to_string(),
                    };
                    tracing::warn!(client_id, err, "cluster: a session's copy could not be kept in its owner record within {KEEP_FOR:?}; if this node dies, its client starts a new session");
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        match written {
            Some(written) => {
                tracing::debug!(
                    client_id,
                    at,
                    revision,
                    written,
                    claim,
                    "cluster: {what} kept in its owner record"
                );
                kept_at(kept, &client_id, claim, revision, written);
                for done in done {
                    let _ = done.send(());
                }
                for turn in turns {
                    turn.finished();
                }
            }
            None => tracing::debug!(client_id, "cluster: {what} not kept: claimed since"),
        }
        return;
    }
}

/// The update over `revision`, given up (as a lapse, `Err`) after 5 s or
/// as soon as the claim is no longer this node's (another node asked for
/// the id: a connection waiting for this copy then ends at once rather
/// than for as long as the bucket elects a leader).
async fn updated(
    store: &kv::Store,
    key: &str,
    value: Bytes,
    revision: u64,
    kept: &Kept,
    client_id: &str,
    claim: u64,
) -> Result<Result<u64, kv::UpdateError>, ()> {
    let update = store.update(key, value, revision);
    tokio::pin!(update);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        tokio::select! {
            written = &mut update => return Ok(written),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if tokio::time::Instant::now() >= deadline || over(kept, client_id, claim).is_none() {
                    return Err(());
                }
            }
        }
    }
}

/// This node wrote the record of `client_id` over `revision`, now
/// `written`: the next copy goes over that (unless a claim came since).
fn kept_at(kept: &Kept, client_id: &str, claim: u64, revision: u64, written: u64) {
    let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
    let ours = |held: &&mut Held| held.claim == claim && held.written == revision;
    if let Some(held) = kept.get_mut(client_id).filter(ours) {
        held.written = written;
        held.kept_at = Some(std::time::Instant::now());
    }
}
