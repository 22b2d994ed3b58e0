//! Wills that fire exactly once across the cluster, also when the node
//! that held the connection dies.
//!
//! Each will a client of this node gave in CONNECT is written to a
//! JetStream key-value bucket, `kite_wills`, one key per client id, with
//! the holding node, its incarnation (a random number per run) and
//! connection, the will delay, and the will message
//! ([`super::will_record`]); the CONNACK waits for the write (at most
//! [`KEEP_TIMEOUT`]). The node remembers the revision it wrote: every
//! later change of that key by this node is a compare-and-set on it, so a
//! newer connection of the same id, on any node, wins over it.
//!
//! - A connection that ends normally (DISCONNECT 0x00, or a will not due):
//!   the key is deleted (compare-and-set).
//! - A will due now (network drop, keepalive, takeover 0x8E): published
//!   here at once through the broker's ordinary publish, then the key is
//!   deleted (compare-and-set; a newer connection's will stays).
//! - A will with a delay (MQTT 5): the key records when the connection
//!   ended; when the delay is over the key is deleted with compare-and-set
//!   and the will is published only if that delete succeeded. A client
//!   back in the meantime, on any node, has rewritten or deleted the key
//!   (every CONNECT in a cluster does), so the delete fails and the will
//!   is cancelled, as MQTT requires.
//! - The holder died: [`super::leases`] notices that its lease stopped,
//!   and the survivor that wins the claim *adopts* the dead node's wills:
//!   each key rewritten (compare-and-set) as held by the survivor, with
//!   the connection's end set to now where the dead node had not recorded
//!   one. From then on they are the survivor's delayed wills: deleted
//!   with compare-and-set, then published. Two survivors racing over a
//!   will both try the same compare-and-set; one wins.
//! - A node restarted with the same node id adopts, at start, the wills
//!   its previous run left (another incarnation): their connections died
//!   with it, so they fire once (after their delays), by this node or by
//!   a survivor that adopted them first, never by both.
//!
//! What is not exactly once: a node that dies between publishing a will
//! due at once and deleting its key (a few milliseconds) has it published
//! again by a survivor; a node cut off from NATS for longer than a lease
//! ([`super::leases::TTL`]) is taken for dead, so the wills of its
//! still-connected clients fire elsewhere (once back, it closes those
//! connections without firing them again: [`ClusterWills::taken_for_dead`]).
//! Without the bucket (NATS
//! unreachable) a node publishes its own wills alone, as a single node
//! does.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock, Weak,
    },
    time::Duration,
};

use async_nats::jetstream::kv::{self, UpdateErrorKind};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use futures_util::{future::BoxFuture, StreamExt};
use tokio::sync::oneshot;

use super::will_record::PendingWill;
use crate::{
    broker::{Shared, Wills},
    protocol::message::Message,
    store::Ticket,
    util::clock::now_unix_ms,
};

/// The bucket's name.
pub(crate) const BUCKET: &str = "kite_wills";
/// The longest a CONNECT waits for its will to be kept.
const KEEP_TIMEOUT: Duration = Duration::from_secs(3);

/// A client id as a bucket key (any id: base64url).
fn key(client_id: &str) -> String {
    format!("c.{}", URL_SAFE_NO_PAD.encode(client_id))
}

/// The client id of a bucket key.
fn client_id(key: &str) -> Option<String> {
    let encoded = key.strip_prefix("c.")?;
    String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()
}

/// The bucket entry this node wrote for a client id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Held {
    /// The connection (0: a will adopted from a dead node).
    connection: u64,
    revision: u64,
}

/// How a compare-and-set ended.
enum Cas {
    Done,
    /// Someone else changed the key: this node's will is no longer there.
    Lost,
    /// The bucket could not be reached.
    Unreachable,
}

fn cas<T>(result: Result<T, kv::UpdateError>) -> (Cas, Option<T>) {
    match result {
        Ok(value) => (Cas::Done, Some(value)),
        Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => (Cas::Lost, None),
        Err(err) => {
            tracing::warn!(%err, "cluster: wills bucket not reachable");
            (Cas::Unreachable, None)
        }
    }
}

/// This node's side of the cluster's pending wills.
pub(crate) struct ClusterWills {
    node: String,
    /// This run of the node.
    incarnation: u64,
    pub(super) bucket: OnceLock<kv::Store>,
    shared: OnceLock<Weak<Shared>>,
    /// What this node wrote per client id.
    held: Mutex<HashMap<String, Held>>,
    /// Per client id, the end of the last operation queued: operations on
    /// one id run one after another, in the order they were asked for.
    chains: Mutex<HashMap<String, (u64, oneshot::Receiver<()>)>>,
    sequence: AtomicU64,
    /// Operations queued and not done.
    busy: Arc<AtomicU64>,
}

impl ClusterWills {
    pub(crate) fn new(node: &str, incarnation: u64, shared: &Arc<Shared>) -> Arc<ClusterWills> {
        let wills = ClusterWills {
            node: node.to_string(),
            incarnation,
            bucket: OnceLock::new(),
            shared: OnceLock::new(),
            held: Mutex::new(HashMap::new()),
            chains: Mutex::new(HashMap::new()),
            sequence: AtomicU64::new(0),
            busy: Arc::default(),
        };
        let _ = wills.shared.set(Arc::downgrade(shared));
        Arc::new(wills)
    }

    /// This node was taken for dead (its lease was claimed, so a survivor
    /// adopted and fired its clients' wills): every connection here ends
    /// without firing its will again (DISCONNECT 0x9C, Use another
    /// server), so no client stays connected after its will went out. The
    /// clients connect again, here or elsewhere; their sessions wait.
    pub(crate) fn taken_for_dead(&self) {
        if let Some(shared) = self.shared.get().and_then(Weak::upgrade) {
            let ended = shared.registry.taken_for_dead();
            tracing::warn!(
                ended,
                "cluster: this node's connections closed: their wills fired on another node"
            );
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This node wrote `held` for `client_id`: remembered unless it knows
    /// of a later write already (an adoption racing a new connection here:
    /// the bucket's later revision is the one in force).
    fn hold(&self, client_id: &str, held: Held) {
        let mut map = self.held();
        match map.get_mut(client_id) {
            Some(known) if known.revision > held.revision => {}
            Some(known) => *known = held,
            None => {
                map.insert(client_id.to_string(), held);
            }
        }
    }

    /// Run `op` once every operation queued before on `client_id` is done.
    fn queue(self: &Arc<Self>, client_id: &str, op: BoxFuture<'static, ()>) {
        let (done, finished) = oneshot::channel::<()>();
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let before = self
            .chains
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(client_id.to_string(), (seq, finished));
        let wills = self.clone();
        let client_id = client_id.to_string();
        self.busy.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Some((_, before)) = before {
                let _ = before.await;
            }
            op.await;
            drop(done);
            wills.busy.fetch_sub(1, Ordering::Relaxed);
            let mut chains = wills.chains.lock().unwrap_or_else(|e| e.into_inner());
            if chains.get(&client_id).is_some_and(|(last, _)| *last == seq) {
                chains.remove(&client_id);
            }
        });
    }

    /// Publish a will through the broker's ordinary path (local
    /// subscribers, other nodes, the retained bucket, the QoS 1/2 stream).
    fn publish(&self, client_id: &str, message: Message) {
        if let Some(shared) = self.shared.get().and_then(Weak::upgrade) {
            tracing::info!(client_id, topic = %message.topic, "will published");
            let mut message = message;
            // Its Message Expiry Interval counts from now.
            message.expires_at = message
                .properties
                .message_expiry_interval
                .map(|secs| std::time::Instant::now() + Duration::from_secs(secs.into()));
            shared.publish(message, None);
        }
    }

    /// Delete this node's entry for `client_id` if it is still `held`.
    async fn forget(&self, client_id: &str, held: Held) -> Cas {
        let Some(store) = self.bucket.get() else {
            return Cas::Unreachable;
        };
        {
            let mut map = self.held();
            if map.get(client_id) == Some(&held) {
                map.remove(client_id);
            }
        }
        let deleted = store
            .delete_expect_revision(key(client_id), Some(held.revision))
            .await;
        cas(deleted).0
    }

    /// When `due_ms` comes, publish the will of `client_id` if the entry
    /// is still `held` (nobody cancelled or took it).
    fn fire_at(self: &Arc<Self>, client_id: &str, held: Held, due_ms: u64, message: Message) {
        let wills = self.clone();
        let id = client_id.to_string();
        tokio::spawn(async move {
            let wait = due_ms.saturating_sub(now_unix_ms());
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let again = wills.clone();
            let for_op = id.clone();
            wills.queue(
                &id,
                Box::pin(async move {
                    if again.held().get(&for_op) != Some(&held) {
                        tracing::debug!(client_id = %for_op, "delayed will cancelled: the client is back");
                        return;
                    }
                    match again.forget(&for_op, held).await {
                        Cas::Done => again.publish(&for_op, message),
                        Cas::Lost => {
                            tracing::debug!(client_id = %for_op, "delayed will cancelled elsewhere")
                        }
                        Cas::Unreachable => {
                            // Alone: decide as a single node would.
                            let back = again
                                .shared
                                .get()
                                .and_then(Weak::upgrade)
                                .is_some_and(|s| s.registry.is_connected(&for_op));
                            if !back {
                                again.publish(&for_op, message);
                            }
                        }
                    }
                }),
            );
        });
    }

    /// Take over the wills `node` left (a dead node, or this node's own
    /// previous run: every incarnation but `except`), each with a
    /// compare-and-set, and publish each when due. Returns how many.
    pub(crate) async fn adopt(self: &Arc<Self>, node: &str, except: Option<u64>) -> usize {
        let Some(store) = self.bucket.get() else {
            return 0;
        };
        let mut keys = match store.keys().await {
            Ok(keys) => keys,
            Err(err) => {
                tracing::warn!(%err, node, "cluster: cannot list the pending wills");
                return 0;
            }
        };
        let mut adopted = 0;
        while let Some(Ok(key)) = keys.next().await {
            let Some(client) = client_id(&key) else {
                continue;
            };
            let Ok(Some(entry)) = store.entry(key.clone()).await else {
                continue;
            };
            if entry.operation != kv::Operation::Put {
                continue;
            }
            let Ok(mut pending) = PendingWill::decode(entry.value.clone()) else {
                continue;
            };
            if pending.node != node || Some(pending.incarnation) == except {
                continue;
            }
            let message = match pending.message() {
                Ok(message) => message,
                Err(err) => {
                    tracing::warn!(%err, client_id = client, "cluster: unreadable pending will skipped");
                    continue;
                }
            };
            if pending.gone_ms == 0 {
                // Its connection ended with its node: now, as far as we know.
                pending.gone_ms = now_unix_ms();
            }
            pending.node = self.node.clone();
            pending.incarnation = self.incarnation;
            pending.connection = 0;
            let due = pending.due_ms().unwrap_or(0);
            let written = store.update(&key, pending.encode(), entry.revision).await;
            if let (Cas::Done, Some(revision)) = cas(written) {
                let held = Held {
                    connection: 0,
                    revision,
                };
                self.hold(&client, held);
                tracing::info!(
                    client_id = client,
                    from = node,
                    delay_s = pending.delay,
                    "cluster: will adopted from a node that is gone"
                );
                self.fire_at(&client, held, due, message);
                adopted += 1;
            }
        }
        adopted
    }
}

impl Wills for Arc<ClusterWills> {
    fn connected(
        &self,
        client_id: &str,
        connection: u64,
        will: Option<(Message, u32)>,
    ) -> Option<Ticket> {
        let wills = self.clone();
        let id = client_id.to_string();
        let Some((message, delay)) = will else {
            // The client is back: a will still pending for it is cancelled.
            // A read first (cheap), a delete only when there is one.
            self.queue(
                client_id,
                Box::pin(async move {
                    wills.held().remove(&id);
                    let Some(store) = wills.bucket.get() else {
                        return;
                    };
                    if let Ok(Some(entry)) = store.entry(key(&id)).await {
                        if entry.operation == kv::Operation::Put {
                            let cancelled = store
                                .delete_expect_revision(key(&id), Some(entry.revision))
                                .await;
                            if let (Cas::Unreachable, _) = cas(cancelled) {
                                tracing::warn!(
                                    client_id = id,
                                    "cluster: cannot cancel a pending will"
                                );
                            }
                        }
                    }
                }),
            );
            return None;
        };
        let (done, ticket) = Ticket::new();
        // Resolved by the write, or after KEEP_TIMEOUT, whichever is first.
        let done = Arc::new(Mutex::new(Some(done)));
        let late = done.clone();
        tokio::spawn(async move {
            tokio::time::sleep(KEEP_TIMEOUT).await;
            if let Some(done) = late.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = done.send(());
            }
        });
        let pending = PendingWill::new(&self.node, self.incarnation, connection, delay, &message);
        self.queue(
            client_id,
            Box::pin(async move {
                if let Some(store) = wills.bucket.get() {
                    let revision = match store.put(key(&id), pending.encode()).await {
                        Ok(revision) => Some(revision),
                        // No answer is not a no: the write may have landed.
                        Err(err) => match store.entry(key(&id)).await {
                            Ok(Some(entry)) if entry.value == pending.encode() => {
                                Some(entry.revision)
                            }
                            _ => {
                                tracing::warn!(%err, client_id = id, "cluster: will kept on this node only");
                                None
                            }
                        },
                    };
                    if let Some(revision) = revision {
                        let held = Held {
                            connection,
                            revision,
                        };
                        wills.hold(&id, held);
                    }
                }
                if let Some(done) = done.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    let _ = done.send(());
                }
            }),
        );
        Some(ticket)
    }

    fn settled(&self) -> Ticket {
        ClusterWills::settled(self)
    }

    fn ended(&self, client_id: &str, connection: u64, will: Option<(Message, u32)>) {
        let wills = self.clone();
        let id = client_id.to_string();
        let mine = move |wills: &ClusterWills, id: &str| {
            wills
                .held()
                .get(id)
                .copied()
                .filter(|held| held.connection == connection)
        };
        match will {
            None => self.queue(
                client_id,
                Box::pin(async move {
                    if let Some(held) = mine(&wills, &id) {
                        wills.forget(&id, held).await;
                    }
                }),
            ),
            Some((message, 0)) => {
                // Due now: this node decides, and the key goes after.
                self.publish(client_id, message);
                self.queue(
                    client_id,
                    Box::pin(async move {
                        if let Some(held) = mine(&wills, &id) {
                            wills.forget(&id, held).await;
                        }
                    }),
                );
            }
            Some((message, delay)) => self.queue(
                client_id,
                Box::pin(async move {
                    let gone_ms = now_unix_ms();
                    let due = gone_ms + u64::from(delay) * 1000;
                    let (Some(held), Some(store)) = (mine(&wills, &id), wills.bucket.get()) else {
                        // Not in the bucket: this node alone decides.
                        wills.fire_alone(&id, delay, message);
                        return;
                    };
                    let mut pending = PendingWill::new(
                        &wills.node,
                        wills.incarnation,
                        connection,
                        delay,
                        &message,
                    );
                    pending.gone_ms = gone_ms;
                    let written = store
                        .update(key(&id), pending.encode(), held.revision)
                        .await;
                    match cas(written) {
                        (Cas::Done, Some(revision)) => {
                            let held = Held {
                                connection,
                                revision,
                            };
                            wills.hold(&id, held);
                            wills.fire_at(&id, held, due, message);
                        }
                        (Cas::Lost, _) => {
                            // Connected again elsewhere already.
                            wills.held().remove(&id);
                        }
                        _ => {
                            wills.held().remove(&id);
                            wills.fire_alone(&id, delay, message);
                        }
                    }
                }),
            ),
        }
    }
}

impl ClusterWills {
    fn settled(&self) -> Ticket {
        let (done, ticket) = Ticket::new();
        let busy = self.busy.clone();
        tokio::spawn(async move {
            while busy.load(Ordering::Relaxed) > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _ = done.send(());
        });
        ticket
    }

    /// A delayed will the bucket does not hold: published after `delay`
    /// unless the client is connected here again (a single node's rule).
    fn fire_alone(self: &Arc<Self>, client_id: &str, delay: u32, message: Message) {
        let wills = self.clone();
        let id = client_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(u64::from(delay))).await;
            let back = wills
                .shared
                .get()
                .and_then(Weak::upgrade)
                .is_some_and(|s| s.registry.is_connected(&id));
            if !back {
                wills.publish(&id, message);
            }
        });
    }
}

/// Keep this node's wills in the cluster and fire those of gone nodes:
/// from now on every connection of `shared` passes through them.
/// `servers`: how many NATS servers `--cluster` names (the buckets' copies).
pub(crate) fn start(node: &str, client: async_nats::Client, servers: usize, shared: &Arc<Shared>) {
    let incarnation = incarnation();
    let wills = ClusterWills::new(node, incarnation, shared);
    let _ = shared.wills.set(Arc::new(wills.clone()));
    let leases = super::leases::Leases::new(node, incarnation, client, servers, wills);
    tokio::spawn(leases.run());
}

/// A number no other run of this node is likely to pick.
fn incarnation() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now_unix_ms());
    hasher.write_u32(std::process::id());
    hasher.finish()
}
