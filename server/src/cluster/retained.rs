//! Retained messages across the cluster: one JetStream key-value bucket,
//! `kite_retained` (history 1, as many replicas as the NATS cluster has
//! servers, up to 3), keyed by the topic's subject, holding the message's
//! store record; an empty retained payload deletes the key.
//!
//! Each node keeps its in-memory tree, fed only by a watch of the whole
//! bucket, so every node applies the same writes in the same order (the
//! bucket's) and ends with the same values. A client's retained PUBLISH
//! is acknowledged once the bucket has it (the backplane's ticket), and a
//! SUBSCRIBE is answered once this node's tree has applied the bucket's
//! latest revision: a SUBSCRIBE on one node right after a retained PUBLISH
//! acknowledged on another gets it (nats-server's own MQTT calls its
//! clustered retained messages "best effort").
//!
//! `$SYS/...` stays this node's own, straight into its tree. Until the
//! bucket is reached (NATS down at start with `--cluster-wait`), the node
//! keeps retained messages alone, as a single node does.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use bytestring::ByteString;
use futures_util::StreamExt;
use tokio::sync::watch;

use super::subject;
use crate::{
    protocol::message::Message,
    routing::retained::{MemoryRetained, RetainedStore},
    store::{decode_retained, encode_retained, Ticket},
};

/// Writes to the bucket that failed, since the start.
static FAILURES: AtomicU64 = AtomicU64::new(0);

/// The bucket's name.
pub(crate) const BUCKET: &str = "kite_retained";
/// How long a SUBSCRIBE waits for this node to catch up with the bucket
/// before it is answered anyway (NATS unreachable).
const CATCH_UP: Duration = Duration::from_secs(3);

/// The cluster's retained messages, as this node sees them.
pub(crate) struct KvRetained {
    tree: MemoryRetained,
    bucket: OnceLock<(kv::Store, jetstream::Context)>,
    /// The bucket's last revision this node's tree applied.
    applied: watch::Sender<u64>,
}

impl KvRetained {
    pub(crate) fn new() -> Arc<KvRetained> {
        Arc::new(KvRetained {
            tree: MemoryRetained::default(),
            bucket: OnceLock::new(),
            applied: watch::channel(0).0,
        })
    }

    /// Open (or create) the bucket, retrying until NATS answers, then
    /// apply its contents and every later write to the tree. Runs for the
    /// life of the broker.
    pub(crate) async fn run(self: Arc<Self>, client: async_nats::Client, servers: usize) {
        let js = jetstream::new(client.clone());
        let store = loop {
            match super::bucket::open(&js, &client, servers, BUCKET).await {
                Ok(store) => break store,
                Err(err) => {
                    tracing::warn!(%err, "cluster: retained bucket not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        loop {
            match store.watch_with_history(">").await {
                Ok(mut entries) => {
                    let _ = self.bucket.set((store.clone(), js.clone()));
                    tracing::info!(bucket = BUCKET, "cluster: retained messages shared");
                    while let Some(entry) = entries.next().await {
                        match entry {
                            Ok(entry) => self.apply(entry),
                            Err(err) => {
                                tracing::warn!(%err, "cluster: retained watch");
                                break;
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!(%err, "cluster: cannot watch the retained bucket"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    fn apply(&self, entry: kv::Entry) {
        let message = match entry.operation {
            kv::Operation::Put => match decode_retained(&entry.value) {
                Ok(message) => message,
                Err(err) => {
                    tracing::warn!(key = %entry.key, %err, "cluster: unreadable retained message skipped");
                    self.applied.send_replace(entry.revision);
                    return;
                }
            },
            // Deleted or purged: an empty message deletes from the tree.
            kv::Operation::Delete | kv::Operation::Purge => {
                match subject::subject_topic(&entry.key) {
                    Some(topic) => Message {
                        payload: Bytes::new(),
                        ..Message::sys(topic, Bytes::new())
                    },
                    None => {
                        self.applied.send_replace(entry.revision);
                        return;
                    }
                }
            }
        };
        self.tree.retain(&Arc::new(message));
        self.applied.send_replace(entry.revision);
    }

    /// Write a client's retained message to the bucket; the ticket
    /// resolves once the bucket has it (fails if NATS refused it). `None`
    /// while the bucket is not reached: the node keeps it alone.
    pub(crate) fn write(&self, message: &Arc<Message>) -> Option<Ticket> {
        let (store, _) = self.bucket.get()?;
        let store = store.clone();
        let key = subject::topic_subject(&message.topic);
        let record = (!message.payload.is_empty()).then(|| Bytes::from(encode_retained(message)));
        let (done, ticket) = Ticket::new();
        tokio::spawn(async move {
            let written = match record {
                Some(record) => store
                    .put(&key, record)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                None => store.purge(&key).await.map_err(|e| e.to_string()),
            };
            match written {
                Ok(()) => {
                    let _ = done.send(());
                }
                Err(err) => {
                    // Logged at the 1st, 2nd, 4th, 8th, … failure: while a
                    // new bucket elects its leader, writes fail for a moment.
                    let failures = FAILURES.fetch_add(1, Ordering::Relaxed) + 1;
                    if failures.is_power_of_two() {
                        tracing::warn!(%key, %err, failures, "cluster: retained message not stored");
                    }
                }
            }
        });
        Some(ticket)
    }

    /// A ticket that resolves once this node's tree has applied the
    /// bucket's latest revision (or after [`CATCH_UP`]).
    pub(crate) fn caught_up(&self) -> Option<Ticket> {
        let (_, js) = self.bucket.get()?;
        let js = js.clone();
        let mut applied = self.applied.subscribe();
        let (done, ticket) = Ticket::new();
        tokio::spawn(async move {
            let caught_up = async {
                let stream = js.get_stream(format!("KV_{BUCKET}")).await.ok()?;
                let last = stream.get_info().await.ok()?.state.last_sequence;
                applied.wait_for(|&revision| revision >= last).await.ok()?;
                Some(())
            };
            if tokio::time::timeout(CATCH_UP, caught_up).await.is_err() {
                tracing::warn!("cluster: retained messages not caught up within {CATCH_UP:?}; answering anyway");
            }
            let _ = done.send(());
        });
        Some(ticket)
    }
}

impl RetainedStore for Arc<KvRetained> {
    fn retain(&self, message: &Arc<Message>) {
        // `$SYS` is this node's own; before the bucket, everything is.
        if kite_convention::sys::node_local(&message.topic) || self.bucket.get().is_none() {
            self.tree.retain(message);
        }
        // Otherwise the bucket's watch brings it, in the bucket's order.
    }

    fn matching(&self, filter: &str) -> Vec<Arc<Message>> {
        self.tree.matching(filter)
    }

    fn count(&self) -> usize {
        self.tree.count()
    }

    fn remove_expired(&self, now: std::time::Instant) -> Vec<ByteString> {
        self.tree.remove_expired(now)
    }
}
