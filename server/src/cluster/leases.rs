//! Which nodes are alive: each node holds a lease, a key of its own in
//! the JetStream key-value bucket `kite_nodes`, and renews it every
//! [`RENEW`] with a compare-and-set on its last revision. Every node reads
//! the others' leases every [`RENEW`] too; a lease whose revision has not
//! changed for [`TTL`], by the reader's own clock, belongs to a node that
//! is gone. The survivors race a compare-and-set claim on that key; the
//! winner adopts the dead node's pending wills ([`super::wills`]), then
//! deletes the lease.
//!
//! Why a revision watched by each reader, not a TTL kept by NATS: the
//! per-key TTL of nats-server 2.11+ (and the delete markers it leaves on
//! expiry) is reachable from async-nats 0.49 only at creation
//! (`create_with_ttl`), not on a compare-and-set renewal, and a bucket
//! `max_age` removes a key without telling a reader when. A revision
//! that stops moving needs nothing of the server, compares no clocks of
//! different machines, and a claim is an ordinary compare-and-set. The
//! cost: a node that starts waits a whole [`TTL`] before it may call
//! another dead, and a dead node's wills fire between [`TTL`] and
//! [`TTL`] + 2 × [`RENEW`] after its last renewal (plus their delays).
//!
//! A node whose own renewal failed or took longer than [`RENEW`] (the
//! bucket out of reach: its stream elects a leader, or this node's NATS
//! server died) watches every lease afresh once it renews again: the
//! others could not renew meanwhile either, and their wills must not fire
//! for it. (A node whose own requests alone stall while the others renew
//! promptly can still be taken for dead after [`TTL`].)
//!
//! A claim is itself a lease that nobody renews: if the winner dies
//! before it adopted every will, the claim expires in turn and another
//! survivor finishes (each will moves with its own compare-and-set).
//! A node whose renewal finds its lease claimed was taken for dead (cut
//! off from NATS longer than [`TTL`]): it says so and takes a new lease;
//! its clients' wills may have fired already. A node restarted with the
//! same node id takes its lease back at once and adopts what its previous
//! run left ([`super::wills::ClusterWills::adopt`]).

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use async_nats::jetstream::{self, kv};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use bytes::Bytes;
use futures_util::StreamExt;

use super::wills::{self, ClusterWills};

/// The bucket's name.
pub(crate) const BUCKET: &str = "kite_nodes";
/// How often a node renews its lease and reads the others'.
pub(crate) const RENEW: Duration = Duration::from_secs(1);
/// How long a lease lasts without renewal.
pub(crate) const TTL: Duration = Duration::from_secs(5);

/// A node id as a bucket key (any id: base64url).
pub(crate) fn key(node: &str) -> String {
    format!("n.{}", URL_SAFE_NO_PAD.encode(node))
}

/// The node id of a bucket key.
fn node_of(key: &str) -> Option<String> {
    let encoded = key.strip_prefix("n.")?;
    String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()
}

/// A lease's value: who holds it, and which run (or who claimed it).
fn held_by(node: &str, incarnation: u64) -> Bytes {
    Bytes::from(format!("held {node} {incarnation:016x}"))
}

/// Whether a lease's value says a node holds it (not claimed by a
/// survivor).
pub(crate) fn is_held(value: &[u8]) -> bool {
    value.starts_with(b"held ")
}

fn claimed_by(node: &str) -> Bytes {
    Bytes::from(format!("claimed by {node}"))
}

/// This node's lease, and its watch over the others'.
pub(crate) struct Leases {
    node: String,
    incarnation: u64,
    client: async_nats::Client,
    /// How many NATS servers `--cluster` names (the buckets' copies).
    servers: usize,
    wills: Arc<ClusterWills>,
    /// Every other lease seen: its revision, and since when unchanged.
    seen: HashMap<String, (u64, Instant)>,
}

impl Leases {
    pub(crate) fn new(
        node: &str,
        incarnation: u64,
        client: async_nats::Client,
        servers: usize,
        wills: Arc<ClusterWills>,
    ) -> Leases {
        Leases {
            node: node.to_string(),
            incarnation,
            client,
            servers,
            wills,
            seen: HashMap::new(),
        }
    }

    /// Open both buckets (retrying until NATS answers), take this node's
    /// lease and what its previous run left, then renew and watch for the
    /// life of the broker.
    pub(crate) async fn run(mut self) {
        let js = jetstream::new(self.client.clone());
        let (nodes, pending) = loop {
            let opened = async {
                let nodes = super::bucket::open(&js, &self.client, self.servers, BUCKET).await?;
                let pending =
                    super::bucket::open(&js, &self.client, self.servers, wills::BUCKET).await?;
                Ok::<_, String>((nodes, pending))
            };
            match opened.await {
                Ok(buckets) => break buckets,
                Err(err) => {
                    tracing::warn!(%err, "cluster: node leases not reachable yet; retrying");
                    tokio::time::sleep(RENEW).await;
                }
            }
        };
        let _ = self.wills.bucket.set(pending);
        let mut revision = self.take(&nodes).await;
        let left = self.wills.adopt(&self.node, Some(self.incarnation)).await;
        tracing::info!(
            bucket = BUCKET,
            adopted = left,
            "cluster: node lease held; wills fire once cluster-wide"
        );
        let mut tick = tokio::time::interval(RENEW);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            let value = held_by(&self.node, self.incarnation);
            let asked = Instant::now();
            match nodes.update(key(&self.node), value, revision).await {
                Ok(next) => {
                    if failing {
                        tracing::info!("cluster: node lease renewed again");
                    }
                    if failing || asked.elapsed() > RENEW {
                        // The bucket was out of reach or slow (its stream
                        // elected a leader, or this node's NATS server
                        // died): the others could not renew either. Their
                        // leases are watched afresh, or each would look
                        // stopped for as long as the outage lasted.
                        self.seen.clear();
                    }
                    failing = false;
                    revision = next;
                }
                Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    // A renewal that timed out may have landed after all.
                    if let Ok(Some(entry)) = nodes.entry(key(&self.node)).await {
                        if entry.value == held_by(&self.node, self.incarnation) {
                            revision = entry.revision;
                            continue;
                        }
                    }
                    tracing::error!("cluster: this node's lease was claimed: other nodes took it for dead (cut off from NATS longer than {TTL:?}); its clients' wills may have fired; taking a new lease");
                    revision = self.take(&nodes).await;
                }
                Err(err) => {
                    if !failing {
                        tracing::warn!(%err, "cluster: cannot renew this node's lease");
                    }
                    failing = true;
                    continue;
                }
            }
            self.watch(&nodes).await;
        }
    }

    /// Write this node's lease over whatever is there; its revision.
    async fn take(&self, nodes: &kv::Store) -> u64 {
        let value = held_by(&self.node, self.incarnation);
        loop {
            match nodes.put(key(&self.node), value.clone()).await {
                Ok(revision) => return revision,
                Err(err) => {
                    tracing::warn!(%err, "cluster: cannot take this node's lease; retrying");
                    tokio::time::sleep(RENEW).await;
                }
            }
        }
    }

    /// Read the other leases; claim those that stopped.
    async fn watch(&mut self, nodes: &kv::Store) {
        let Ok(mut keys) = nodes.keys().await else {
            return;
        };
        let mine = key(&self.node);
        let mut listed = Vec::new();
        while let Some(Ok(key)) = keys.next().await {
            if key != mine {
                listed.push(key);
            }
        }
        self.seen.retain(|key, _| listed.contains(key));
        let now = Instant::now();
        for key in listed {
            let Ok(Some(entry)) = nodes.entry(key.clone()).await else {
                continue;
            };
            if entry.operation != kv::Operation::Put {
                self.seen.remove(&key);
                continue;
            }
            let since = match self.seen.get(&key) {
                Some(&(revision, since)) if revision == entry.revision => since,
                _ => {
                    self.seen.insert(key.clone(), (entry.revision, now));
                    now
                }
            };
            if now.duration_since(since) >= TTL {
                self.claim(nodes, &key, entry.revision).await;
            }
        }
    }

    /// Race the other survivors for a stopped lease; the winner adopts the
    /// node's pending wills and deletes the lease.
    async fn claim(&mut self, nodes: &kv::Store, key: &str, revision: u64) {
        let Some(node) = node_of(key) else {
            return;
        };
        let Ok(claimed) = nodes.update(key, claimed_by(&self.node), revision).await else {
            // Another survivor was first (or the node is back).
            self.seen.remove(key);
            return;
        };
        tracing::warn!(
            node,
            "cluster: node gone (no lease renewal for {TTL:?}); adopting its wills"
        );
        let adopted = self.wills.adopt(&node, None).await;
        tracing::info!(node, adopted, "cluster: wills of a gone node adopted");
        let _ = nodes.delete_expect_revision(key, Some(claimed)).await;
        self.seen.remove(key);
    }
}
