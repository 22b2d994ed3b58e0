//! One connection per client id across the cluster. A JetStream key-value
//! bucket, `kite_owners`, says which node holds each connected client id.
//! A node about to accept a CONNECT claims the id: if another node holds
//! it, that node is asked (a request on its own control subject) to close
//! the connection with DISCONNECT 0x8E (Session taken over) and answers
//! once it is closed; then the claim is written with compare-and-set, so of
//! two nodes connecting the same id at once the later write wins and the
//! other is taken over in turn. A holder with no listener is asked again
//! until its lease ([`super::leases`]) shows it died (then it is not waited
//! for) or it is back from connecting to NATS again: a NATS server's death
//! makes a live holder silent for a second or two, and taking it for dead
//! would start its client's session empty. A bucket that cannot be reached
//! delays a CONNECT by at most [`CLAIM_TIMEOUT`], then the node carries on
//! alone.
//!
//! A node holds the id while the client is connected there and while its
//! persistent session waits there; a CONNECT elsewhere that resumes it
//! moves the session ([`super::handoff`]), a clean start elsewhere ends it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, Weak},
    time::Duration,
};

use async_nats::jetstream::{self, kv};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use bytes::Bytes;
use futures_util::StreamExt;
use time::OffsetDateTime;

use super::{
    handoff::{self, Piece, Takeover},
    keeper, leases,
    messages::Durable,
    parked::{self, Snapshot},
    unanswered::Unanswered,
};

use crate::{
    broker::{backplane::StoredCheck, ClientIds, Shared},
    protocol::{
        message::Receipt,
        records::{Queued, SessionRecord},
    },
    store::Ticket,
};

/// The bucket's name.
pub(crate) const BUCKET: &str = "kite_owners";
/// The longest a CONNECT waits to write its claim in the bucket.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(8);
/// The longest a node waits for a connection it was asked to close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// The longest a node waits for the holder's answer (the connection
/// closed, the session handed over).
const ANSWER_WAIT: Duration = Duration::from_secs(4);
/// How long a session handed over may take to be installed: until this
/// node's reader reaches the position it was handed at.
const INSTALL_WAIT: Duration = Duration::from_secs(30);
/// How often a holder without a listener is asked again.
const ASK_AGAIN: Duration = Duration::from_millis(250);
/// The longest a node asks a holder without a listener whose lease cannot
/// be read, or still moves (it is connecting to NATS again), before the
/// CONNECT is refused: a lease unchanged for [`leases::TTL`] ends it
/// sooner, as gone.
const LISTENER_WAIT: Duration = Duration::from_secs(8);

/// This node's side of the client-id ownership.
pub(crate) struct Owners {
    node: String,
    client: async_nats::Client,
    /// The stream reader, which moves sessions between two messages.
    durable: Arc<Durable>,
    /// One session coming from another node at a time (each pauses the
    /// reader).
    moving: tokio::sync::Mutex<()>,
    /// One claim per client id at a time: a second CONNECT of the id here
    /// waits for the first's session to arrive.
    claiming: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    bucket: OnceLock<kv::Store>,
    /// The nodes' leases ([`leases::BUCKET`]): whether a holder without a
    /// listener is down or only connecting to NATS again.
    leases: OnceLock<kv::Store>,
    shared: OnceLock<Weak<Shared>>,
    /// Client ids this node is connecting (claimed, not yet in its
    /// registry), and whether another node took one over meanwhile: that
    /// connection is then closed as soon as it is registered.
    connecting: Mutex<HashMap<String, bool>>,
    /// This node's claim, per client id it holds, and the record's
    /// revision it wrote last: a session's copy is written over it only
    /// ([`keeper::keep`]).
    kept: keeper::Kept,
    /// Copies of sessions on their way to [`keeper::keep`].
    copies: tokio::sync::mpsc::UnboundedSender<keeper::SessionCopy>,
    copies_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<keeper::SessionCopy>>>,
    /// Sessions rebuilt here from a dead node's copy, for their resends.
    unanswered: Unanswered,
    /// Parked sessions with a snapshot waiting to be taken (for a shared
    /// group's turns).
    snapshotting: Mutex<std::collections::HashSet<String>>,
}

/// The control subject a node answers takeovers on.
fn takeover_subject(node: &str) -> String {
    format!("K.ctl.takeover.{}", URL_SAFE_NO_PAD.encode(node))
}

/// A client id as a bucket key (any id: base64url).
pub(super) fn key(client_id: &str) -> String {
    format!("c.{}", URL_SAFE_NO_PAD.encode(client_id))
}

impl Owners {
    pub(crate) fn new(
        node: &str,
        client: async_nats::Client,
        durable: Arc<Durable>,
    ) -> Arc<Owners> {
        let (copies, copies_rx) = tokio::sync::mpsc::unbounded_channel();
        Arc::new(Owners {
            node: node.to_string(),
            client,
            durable,
            moving: tokio::sync::Mutex::new(()),
            claiming: Mutex::new(HashMap::new()),
            bucket: OnceLock::new(),
            leases: OnceLock::new(),
            shared: OnceLock::new(),
            connecting: Mutex::new(HashMap::new()),
            kept: Arc::default(),
            copies,
            copies_rx: Mutex::new(Some(copies_rx)),
            unanswered: Unanswered::default(),
            snapshotting: Mutex::default(),
        })
    }

    /// Open the bucket (retrying until NATS answers) and answer other
    /// nodes' takeovers for the life of the broker.
    pub(crate) async fn run(self: Arc<Self>, shared: &Arc<Shared>) {
        let _ = self.shared.set(Arc::downgrade(shared));
        let js = jetstream::new(self.client.clone());
        let mut requests = loop {
            match self.client.subscribe(takeover_subject(&self.node)).await {
                Ok(requests) => break requests,
                Err(err) => {
                    tracing::warn!(%err, "cluster: cannot subscribe to takeovers; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let opener = self.clone();
        tokio::spawn(async move {
            loop {
                match super::bucket::open(&js, &opener.client, opener.durable.servers(), BUCKET)
                    .await
                {
                    Ok(store) => {
                        let copies = opener
                            .copies_rx
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .take();
                        if let Some(copies) = copies {
                            tokio::spawn(keeper::keep(
                                opener.node.clone(),
                                opener.client.clone(),
                                store.clone(),
                                opener.kept.clone(),
                                copies,
                            ));
                        }
                        let _ = opener.bucket.set(store);
                        // Opened by the leases' own task; only looked up.
                        while opener.leases.get().is_none() {
                            match js.get_key_value(leases::BUCKET).await {
                                Ok(nodes) => {
                                    let _ = opener.leases.set(nodes);
                                }
                                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                            }
                        }
                        tracing::info!(
                            bucket = BUCKET,
                            "cluster: client ids are held cluster-wide"
                        );
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(%err, "cluster: client-id bucket not reachable yet; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        while let Some(request) = requests.next().await {
            let Some(reply) = request.reply.clone() else {
                continue;
            };
            let Some(shared) = self.shared.get().and_then(Weak::upgrade) else {
                return;
            };
            let Some(asked) = Takeover::decode(&request.payload) else {
                continue;
            };
            let owners = self.clone();
            tokio::spawn(async move {
                owners.hand_over(&shared, asked, reply).await;
            });
        }
    }

    /// Another node connects `asked.client_id`: close the connection here
    /// (0x8E), then hand it the session (it resumes) or end it (a clean
    /// start), and answer.
    async fn hand_over(&self, shared: &Arc<Shared>, asked: Takeover, reply: async_nats::Subject) {
        let client_id = asked.client_id.clone();
        // A connection of the id still being made here is marked: it
        // closes as soon as it is registered (`registered` takes this lock).
        if let Some(taken) = self.connecting().get_mut(&client_id) {
            *taken = true;
        }
        // The asking node's claim replaced this node's: copies on their
        // way are void, and nothing that needs one leaves from now on.
        if let Some(held) = self
            .kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&client_id)
        {
            held.claim = keeper::VOIDED;
        }
        let deadline = tokio::time::Instant::now() + CLOSE_WAIT;
        let mut told = false;
        // A connection of the id here (or one being made) is closed and
        // ends first: its session is parked then.
        while (shared.registry.is_connected(&client_id)
            || self.connecting().contains_key(&client_id))
            && tokio::time::Instant::now() < deadline
        {
            if !told {
                tracing::info!(client_id, "client id taken over by another node");
                told = true;
            }
            shared
                .registry
                .taken_elsewhere(&client_id, asked.position.is_some());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut not_ready = false;
        let moved = match asked.position {
            Some(position) => {
                // Between two messages of the stream, at or past the new
                // node's position: it goes on from there. Whichever takes
                // `done` first decides: the reader reaching the position
                // (it exports the session) or the wait giving up (nothing
                // is exported: the session stays here for the client's
                // next try, instead of leaving for nobody).
                let (done, mut exported) = tokio::sync::oneshot::channel();
                let slot = Arc::new(std::sync::Mutex::new(Some(done)));
                let taken = slot.clone();
                let from = shared.clone();
                let id = client_id.clone();
                self.durable.at(
                    position,
                    Box::new(move |at| {
                        let done = taken.lock().unwrap_or_else(|e| e.into_inner()).take();
                        if let Some(done) = done {
                            let _ = done.send((at, handoff::export(&from, &id)));
                        }
                    }),
                );
                match tokio::time::timeout(ANSWER_WAIT, &mut exported).await {
                    Ok(result) => result.ok(),
                    Err(_)
                        if slot
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .take()
                            .is_some() =>
                    {
                        tracing::warn!(client_id, "cluster: the message stream is not read here up to the new node's position in time; the session stays here");
                        not_ready = true;
                        None
                    }
                    // The reader took it just now: its export is coming.
                    Err(_) => exported.await.ok(),
                }
            }
            None => {
                if let Ok(old) = shared.registry.take_parked(&client_id) {
                    tracing::info!(client_id, "session ended by a clean start on another node");
                    shared.forget_session(&old.session);
                }
                None
            }
        };
        let (at, blob) = match moved {
            Some((at, Some(blob))) => (at, blob),
            _ => (0, Vec::new()),
        };
        let room = (self.client.server_info().max_payload.max(4096) - 1024).max(1);
        let pieces = handoff::answer_pieces(at, &blob, not_ready, room);
        for (index, message) in pieces.into_iter().enumerate() {
            // The first answers the request; the rest go to its inbox.
            let to = if index == 0 {
                reply.clone()
            } else {
                async_nats::Subject::from(asked.inbox.as_str())
            };
            let _ = self.client.publish(to, message.into()).await;
        }
        let _ = self.client.flush().await;
    }

    /// Ask `owner` to give `client_id` up; with `position`, to hand its
    /// session over at that stream position or past it.
    async fn ask(&self, owner: &str, client_id: &str, position: Option<u64>) -> Answer {
        let inbox = self.client.new_inbox();
        let Ok(mut rest) = self.client.subscribe(inbox.clone()).await else {
            return Answer::Silent;
        };
        let asked = Takeover {
            client_id: client_id.to_string(),
            position,
            inbox: inbox.to_string(),
        };
        let collect = async {
            let payload: Bytes = asked.encode().into();
            let mut lease = leases::LeaseWatch::default();
            let first = loop {
                match self
                    .client
                    .request(takeover_subject(owner), payload.clone())
                    .await
                {
                    Ok(first) => break first,
                    // Nobody listens there: the owner's node is down, or
                    // its NATS connection is being made again (a NATS
                    // server died). Its lease tells which: asked again
                    // while it may still be renewed.
                    Err(err) if err.kind() == async_nats::RequestErrorKind::NoResponders => {
                        let read = match self.leases.get() {
                            Some(nodes) => nodes.entry(leases::key(owner)).await.ok(),
                            None => None,
                        };
                        if lease.gone(read) {
                            return Answer::Gone;
                        }
                        if lease.asked_for() >= LISTENER_WAIT {
                            return Answer::Silent;
                        }
                        tokio::time::sleep(ASK_AGAIN).await;
                    }
                    Err(_) => return Answer::Silent,
                }
            };
            let mut blob = Vec::new();
            let mut answer = first.payload;
            let mut got = 0u32;
            loop {
                let (at, count, data) = match handoff::read_piece(&answer) {
                    Some(Piece::Part { at, count, data }) => (at, count, data),
                    Some(Piece::NoSession) => return Answer::NoSession,
                    // It still has the session: the client tries again.
                    Some(Piece::NotReady) | None => return Answer::Silent,
                };
                blob.extend_from_slice(data);
                got += 1;
                if got == count {
                    return Answer::Session(at, blob);
                }
                match rest.next().await {
                    Some(next) => answer = next.payload,
                    None => return Answer::Silent,
                }
            }
        };
        tokio::time::timeout(LISTENER_WAIT + ANSWER_WAIT, collect)
            .await
            .unwrap_or(Answer::Silent)
    }

    /// The owner record's revision a snapshot of `client_id`'s parked
    /// session is written over: this node's last claim, unless a CONNECT
    /// of the id is being made here (claimed, not registered yet).
    fn snapshot_revision(&self, client_id: &str) -> Option<u64> {
        if self.connecting().contains_key(client_id) {
            return None;
        }
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(client_id)
            .map(|held| held.claim)
            .filter(|claim| *claim != keeper::VOIDED)
    }

    fn connecting(&self) -> std::sync::MutexGuard<'_, HashMap<String, bool>> {
        self.connecting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make this node the id's owner in the bucket (compare-and-set), then
    /// take the id from the node that held it. The record is written first:
    /// whoever connects the id next asks this node, which holds the session
    /// by then. While the bucket cannot be written (its stream elects a
    /// leader) the claim waits; a resumed session is never taken on a stale
    /// record. False when the client resumes a session this node could not
    /// take (its CONNECT is refused; it tries again).
    async fn claim_now(&self, client_id: &str, resumes: bool) -> bool {
        let store = loop {
            if self.client.connection_state() != async_nats::connection::State::Connected {
                // Without NATS there is nobody to ask: this node serves alone.
                return true;
            }
            // A CONNECT right after the start waits for the bucket: an id
            // not written there could not be found by the next node.
            match self.bucket.get() {
                Some(store) => break store,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let key = key(client_id);
        let me = Bytes::from(self.node.clone());
        let mut warned = false;
        let deadline = tokio::time::Instant::now() + CLAIM_TIMEOUT;
        let previous = loop {
            let written = match store.entry(&key).await {
                Ok(entry) => match entry.filter(|e| e.operation == kv::Operation::Put) {
                    None => store
                        .create(&key, me.clone())
                        .await
                        .ok()
                        .map(|revision| (revision, None)),
                    Some(entry) => store
                        .update(&key, me.clone(), entry.revision)
                        .await
                        .ok()
                        .map(|revision| (revision, Some((entry.value, entry.created)))),
                },
                Err(err) => {
                    if !warned {
                        tracing::warn!(%err, client_id, "cluster: cannot read the client id's owner yet; waiting");
                        warned = true;
                    }
                    None
                }
            };
            match written {
                Some(previous) => break previous,
                None if tokio::time::Instant::now() >= deadline => {
                    tracing::warn!(
                        client_id,
                        "cluster: the client id's owner could not be written within {CLAIM_TIMEOUT:?}"
                    );
                    // A clean start carries on; a resumed session must not
                    // silently start empty.
                    return !resumes;
                }
                // Taken meanwhile (asked again), or the bucket unavailable.
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let (revision, previous) = previous;
        tracing::debug!(client_id, revision, previous = ?previous.as_ref().map(|(v, _)| parked::read_owner(v).node), "cluster: client id claimed in its owner record");
        let took = match previous {
            Some((value, copied_at)) if parked::read_owner(&value).node != me => {
                let owner = parked::read_owner(&value);
                let name = String::from_utf8_lossy(&owner.node).into_owned();
                let copy = owner.parked.map(|snapshot| (snapshot, copied_at));
                match self.take_from(&name, copy, client_id, resumes).await {
                    Took::Yes => true,
                    Took::Kept => {
                        // The session stays there: so must the record that
                        // says where it is (the client's next try asks there
                        // again).
                        if let Err(err) = store.update(&key, value, revision).await {
                            tracing::warn!(%err, client_id, "cluster: the client id's owner could not be put back");
                        }
                        false
                    }
                    // On its way here: the record already says so.
                    Took::Arriving => false,
                }
            }
            _ => true,
        };
        if took {
            self.kept
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(client_id.to_string(), keeper::Held::claimed(revision));
        }
        took
    }

    /// Take `client_id` from the node `owner`: its connection there
    /// closes; its session comes here when the client resumes it. Not
    /// [`Took::Yes`] when the client resumes a session that a live owner
    /// did not hand over, or that is not installed here yet (the CONNECT is
    /// then refused, and the client tries again).
    async fn take_from(
        &self,
        owner: &str,
        parked: Option<(Snapshot, OffsetDateTime)>,
        client_id: &str,
        resumes: bool,
    ) -> Took {
        let Some(shared) = self.shared.get().and_then(Weak::upgrade) else {
            return Took::Kept;
        };
        if !resumes {
            self.ask(owner, client_id, None).await;
            return Took::Yes;
        }
        let _one_at_a_time = self.moving.lock().await;
        let Some((position, go_on)) = self.durable.pause().await else {
            tracing::warn!(client_id, "cluster: this node does not read the message stream yet; it cannot take the session from {owner}");
            return Took::Kept;
        };
        let (at, blob) = match self.ask(owner, client_id, Some(position)).await {
            Answer::Session(at, blob) => (at, blob),
            Answer::NoSession => return Took::Yes,
            Answer::Gone => {
                drop(go_on);
                return self.rebuild(&shared, owner, parked, client_id).await;
            }
            Answer::Silent => {
                tracing::warn!(client_id, "cluster: node {owner} did not hand the session over in time; the CONNECT is refused (try again)");
                return Took::Kept;
            }
        };
        let (record, queue) = match handoff::decode(&blob) {
            Ok(session) => session,
            Err(err) => {
                tracing::warn!(client_id, %err, "cluster: a session from {owner} could not be read; the client starts a new one");
                return Took::Yes;
            }
        };
        let (done, installed) = tokio::sync::oneshot::channel();
        let id = client_id.to_string();
        let install: super::messages::AtPosition = Box::new(move |reader| {
            let at = reader.min(at);
            let _ = done.send(handoff::install(&shared, &id, record, queue, at));
        });
        let _ = go_on.send(Some((at, install)));
        self.installed(owner, client_id, installed).await
    }

    /// The holder `owner` is down: rebuild the session it `parked` here
    /// ([`parked::rebuild`]), or start the client anew when it kept no copy
    /// of it or the copy cannot be used.
    async fn rebuild(
        &self,
        shared: &Arc<Shared>,
        owner: &str,
        parked: Option<(Snapshot, OffsetDateTime)>,
        client_id: &str,
    ) -> Took {
        let Some((snapshot, copied_at)) = parked else {
            tracing::warn!(client_id, "cluster: node {owner}, which held the session, is down and kept no copy of it (its client was connected and had taken no message from the stream yet); the client starts a new session here (the old one waits in {owner}'s store)");
            return Took::Yes;
        };
        let (at, blob) = (snapshot.at, &snapshot.session);
        match parked::rebuild(&self.durable, shared, &self.client, client_id, at, blob).await {
            Ok(installed) => {
                if let Some(written) = snapshot.written {
                    let node = owner.as_bytes();
                    self.unanswered.rebuilt(client_id, node, written, copied_at);
                }
                self.installed(owner, client_id, installed).await
            }
            Err(parked::NotRebuilt::Unusable(reason)) => {
                tracing::warn!(client_id, reason, "cluster: node {owner}, which held the session, is down, and its snapshot cannot be used; the client starts a new session here");
                Took::Yes
            }
            Err(parked::NotRebuilt::NotNow(reason)) => {
                tracing::warn!(client_id, reason, "cluster: node {owner}, which held the session, is down, and its session could not be rebuilt here now; the CONNECT is refused (try again)");
                Took::Kept
            }
        }
    }

    /// Wait for a session coming here to be installed and stored.
    async fn installed(
        &self,
        owner: &str,
        client_id: &str,
        installed: tokio::sync::oneshot::Receiver<Option<Ticket>>,
    ) -> Took {
        // The holder let go of it: it is installed once this node's reader
        // reaches `at`, however long the stream takes to be read (a stream
        // leader elected after a NATS server died stalls it for seconds).
        // The client's next CONNECT waits for this claim meanwhile.
        match tokio::time::timeout(INSTALL_WAIT, installed).await {
            // Stored here before the CONNACK says it is present.
            Ok(Ok(Some(ticket))) => match ticket.committed().await {
                true => Took::Yes,
                false => Took::Arriving,
            },
            Ok(Ok(None)) => Took::Yes,
            Ok(Err(_)) => Took::Kept,
            Err(_) => {
                tracing::warn!(client_id, "cluster: a session from {owner} is not installed here after {INSTALL_WAIT:?} (the message stream is not read); the CONNECT is refused (try again)");
                Took::Arriving
            }
        }
    }

    /// Keep a snapshot of the session of `client_id` parked here.
    fn snapshot(self: &Arc<Self>, shared: &Arc<Shared>, client_id: &str) {
        let owners = Arc::downgrade(self);
        let revision_of = move |id: &str| {
            let owners = owners.upgrade()?;
            // Taken from here on: a turn queued now waits for another.
            let mut pending = owners
                .snapshotting
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            pending.remove(id);
            drop(pending);
            owners.snapshot_revision(id)
        };
        let copies = self.copies.clone();
        parked::snapshot_at_reader(&self.durable, shared, client_id, revision_of, copies);
    }

    async fn release_now(self: &Arc<Self>, client_id: &str) {
        let (Some(store), Some(shared)) =
            (self.bucket.get(), self.shared.get().and_then(Weak::upgrade))
        else {
            return;
        };
        if shared.registry.is_connected(client_id) {
            // A newer connection here holds it now.
            return;
        }
        if shared.registry.with_parked(client_id, |_| ()).is_some() {
            // Its session waits here for it (the owner record says where
            // to take it from, and keeps it for a survivor if this node
            // dies).
            self.snapshot(&shared, client_id);
            return;
        }
        self.kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(client_id);
        let key = key(client_id);
        if let Ok(Some(entry)) = store.entry(&key).await {
            if entry.operation == kv::Operation::Put
                && parked::read_owner(&entry.value).node == self.node.as_bytes()
            {
                let _ = store
                    .delete_expect_revision(&key, Some(entry.revision))
                    .await;
            }
        }
    }
}

/// What came of taking a session from its holder.
enum Took {
    /// Taken, or nothing to take: the CONNECT goes on.
    Yes,
    /// The holder keeps it: the CONNECT is refused, and the owner record
    /// goes back to the holder.
    Kept,
    /// Handed over, not installed yet: the CONNECT is refused, and the
    /// owner record stays here, where the session will be.
    Arriving,
}

/// What the holder of a client id answered.
enum Answer {
    /// The session, and the stream position it was taken at.
    Session(u64, Vec<u8>),
    /// It held no session of that id (or the client starts clean).
    NoSession,
    /// Nobody listens on its control subject: its node is down.
    Gone,
    /// No (whole) answer in time.
    Silent,
}

impl ClientIds for Arc<Owners> {
    fn claim(&self, client_id: &str, resumes: bool) -> Ticket {
        self.connecting().insert(client_id.to_string(), false);
        let (done, ticket) = Ticket::new();
        let owners = self.clone();
        let client_id = client_id.to_string();
        tokio::spawn(async move {
            let turn = owners
                .claiming
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(client_id.clone())
                .or_default()
                .clone();
            // Each step of a claim is bounded (the bucket's write, then the
            // pause, the question and the install of a session moving here).
            let ok = {
                let _mine = turn.lock().await;
                owners.claim_now(&client_id, resumes).await
            };
            {
                let mut claiming = owners.claiming.lock().unwrap_or_else(|e| e.into_inner());
                // Nobody else waits for this id's turn: forget it.
                if Arc::strong_count(&turn) == 2 {
                    claiming.remove(&client_id);
                }
            }
            if ok {
                let _ = done.send(());
            } else {
                owners.connecting().remove(&client_id);
            }
        });
        ticket
    }

    fn registered(&self, client_id: &str) -> bool {
        self.connecting().remove(client_id).unwrap_or(false)
    }

    fn release(&self, client_id: &str) {
        let owners = self.clone();
        let client_id = client_id.to_string();
        tokio::spawn(async move { owners.release_now(&client_id).await });
    }

    fn keep_live(
        &self,
        client_id: &str,
        at: u64,
        (record, queue): (SessionRecord, Vec<Queued>),
        turns: Vec<Arc<dyn Receipt>>,
        wait: bool,
    ) -> Option<Ticket> {
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(client_id)
            .copied();
        if kept.is_some_and(|held| held.claim == keeper::VOIDED) {
            // Another node asked for the id: what waits for a copy does
            // not leave (a failed ticket; the connection is closing).
            return wait.then(|| Ticket::new().1);
        }
        // No claim (connected while NATS was out of reach, or a CONNECT of
        // the id being made here, whose claim left the record without a
        // copy): nothing to write over, and a survivor starts anew.
        let claim = self.snapshot_revision(client_id)?;
        let (done, ticket) = wait.then(Ticket::new).unzip();
        let _ = self.copies.send(keeper::SessionCopy {
            client_id: client_id.to_string(),
            at,
            // The session's writes are all stored (its read waited for
            // them): this is at or past the last of them.
            written: self.durable.stored_upto(),
            session: handoff::encode(&record, &queue),
            turns,
            claim,
            parked: false,
            done,
        });
        ticket
    }

    fn keeps_copies(&self, client_id: &str) -> bool {
        self.snapshot_revision(client_id).is_some()
    }

    fn copy_kept_at(&self, client_id: &str) -> Option<std::time::Instant> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(client_id)?.kept_at
    }

    fn turn_parked(&self, client_id: &str) -> bool {
        let Some(shared) = self.shared.get().and_then(Weak::upgrade) else {
            return false;
        };
        if self.snapshot_revision(client_id).is_none() {
            return false;
        }
        // One snapshot waiting per id: it holds every turn queued by then.
        let mut pending = self.snapshotting.lock().unwrap_or_else(|e| e.into_inner());
        if pending.insert(client_id.to_string()) {
            drop(pending);
            self.snapshot(&shared, client_id);
        }
        true
    }

    fn stored_before(&self, client_id: &str, topic: &str, payload: &[u8]) -> Option<StoredCheck> {
        self.unanswered
            .check(&self.client, client_id, topic, payload)
    }
}
