//! Which nodes are alive: each node holds a lease, a key of its own in
//! the JetStream key-value bucket `kite_nodes`, and renews it every
//! [`RENEW`] with a compare-and-set on its last revision. Every node reads
//! the others' leases every [`RENEW`] too; a lease whose revision has not
//! changed for [`TTL`], by the reader's own clock, belongs to a node that
//! is gone ([`LeaseAge`] keeps that rule, for `owners` too). The
//! survivors race a compare-and-set claim on that key; the winner adopts
//! the dead node's pending wills ([`super::wills`]), then deletes the
//! lease.
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
//! off from NATS, or frozen, longer than [`TTL`]): it says so, closes
//! every connection without firing its will again (a survivor adopted
//! them: [`ClusterWills::taken_for_dead`]), and takes a new lease. A node
//! restarted with the same node id takes its lease back at once and adopts
//! what its previous run left ([`super::wills::ClusterWills::adopt`]).

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

/// What one read of another node's lease says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lease {
    /// Held by its node, and renewed less than [`TTL`] ago (or first read
    /// here less than [`TTL`] ago): the node may be alive.
    Held,
    /// Claimed by a survivor (which adopts the node's wills) less than
    /// [`TTL`] ago: the node is gone, the claim is alive.
    Claimed,
    /// Its revision has not moved for [`TTL`] by the reader's clock:
    /// whoever wrote it last (its node, or a survivor that claimed it) is
    /// gone.
    Stopped,
    /// Deleted or purged, or no lease at all: the node is gone, its wills
    /// adopted.
    Deleted,
}

/// One lease read again and again by another node: the revision last
/// read and since when it is unchanged. The one place the rule "a lease
/// unchanged for [`TTL`] is gone" lives (for [`Leases`], and for
/// `owners`' wait on a silent holder of a client id).
#[derive(Debug, Default)]
pub(crate) struct LeaseAge {
    seen: Option<(u64, Instant)>,
}

impl LeaseAge {
    /// What `entry` (`None`: the bucket has no lease under the key), read
    /// at `now`, says. A revision not read before starts its age at `now`.
    pub(crate) fn read(&mut self, entry: Option<&kv::Entry>, now: Instant) -> Lease {
        let Some(entry) = entry.filter(|entry| entry.operation == kv::Operation::Put) else {
            self.seen = None;
            return Lease::Deleted;
        };
        let since = match self.seen {
            Some((revision, since)) if revision == entry.revision => since,
            _ => {
                self.seen = Some((entry.revision, now));
                now
            }
        };
        if now.duration_since(since) >= TTL {
            Lease::Stopped
        } else if is_held(&entry.value) {
            Lease::Held
        } else {
            Lease::Claimed
        }
    }
}

/// This node's lease, and its watch over the others'.
pub(crate) struct Leases {
    node: String,
    incarnation: u64,
    client: async_nats::Client,
    /// How many NATS servers `--cluster` names (the buckets' copies).
    servers: usize,
    wills: Arc<ClusterWills>,
    /// Every other lease seen, by key.
    seen: HashMap<String, LeaseAge>,
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
                    self.wills.taken_for_dead();
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
        // The reads are bounded: a read stalled by a NATS server that just
        // died must not keep this node from renewing its own lease (the
        // others would take it for dead), and what a stall delays says
        // nothing of the other nodes' leases (their renewals stalled too):
        // after one, every lease is watched afresh.
        let Ok(Some(read)) = tokio::time::timeout(RENEW, read_leases(nodes, &self.node)).await
        else {
            self.seen.clear();
            return;
        };
        self.seen
            .retain(|key, _| read.iter().any(|(listed, _, _)| listed == key));
        for (key, entry, at) in read {
            let age = self.seen.entry(key.clone()).or_default();
            match age.read(Some(&entry), at) {
                // A claim nobody finished is claimed again.
                Lease::Stopped => self.claim(nodes, &key, entry.revision).await,
                Lease::Deleted => {
                    self.seen.remove(&key);
                    if entry.operation != kv::Operation::Put {
                        purge_marker(nodes, &key, entry.revision);
                    }
                }
                Lease::Held | Lease::Claimed => {}
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

/// Remove a deleted lease's marker from the bucket's stream, and only it
/// (a lease taken again since has a later sequence and stays). The bucket
/// keeps one entry per key for good: without this, every node that ever
/// left would be listed, and read, every round, and the rounds would
/// outgrow their time.
fn purge_marker(nodes: &kv::Store, key: &str, revision: u64) {
    let purge = nodes
        .stream
        .purge()
        .filter(format!("{}{key}", nodes.prefix))
        .sequence(revision + 1);
    let key = key.to_string();
    tokio::spawn(async move {
        if let Ok(Err(err)) = tokio::time::timeout(RENEW * 5, purge).await {
            tracing::debug!(%err, key, "cluster: a deleted lease's marker not purged yet");
        }
    });
}

/// Every other node's lease, each with when it was read; `None` when the
/// bucket cannot be listed.
async fn read_leases(nodes: &kv::Store, node: &str) -> Option<Vec<(String, kv::Entry, Instant)>> {
    // The keys from the stream's subjects: requests its leader answers.
    // (`kv::Store::keys` makes a consumer each time, which the whole
    // JetStream cluster agrees on: every node, every second.) A deleted
    // lease's key stays listed while its marker is kept: `read` sees it
    // deleted, and the marker is purged ([`purge_marker`]).
    let mut subjects = nodes
        .stream
        .info_with_subjects(format!("{}>", nodes.prefix))
        .await
        .ok()?;
    let mine = key(node);
    let mut listed = Vec::new();
    while let Some(item) = subjects.next().await {
        let (subject, _) = item.ok()?;
        match subject.strip_prefix(nodes.prefix.as_str()) {
            Some(key) if key != mine => listed.push(key.to_string()),
            _ => {}
        }
    }
    let mut read = Vec::with_capacity(listed.len());
    for key in listed {
        if let Ok(Some(entry)) = nodes.entry(key.clone()).await {
            read.push((key, entry, Instant::now()));
        }
    }
    Some(read)
}

/// A holder's lease, read while it has no listener: gone when the lease
/// was deleted or claimed by a survivor, or its revision has not moved
/// for [`TTL`] since first read here ([`LeaseAge`]). A
/// holder connecting to NATS again renews it within a second of being
/// back; a holder that died never does.
pub(crate) struct LeaseWatch {
    started: tokio::time::Instant,
    age: LeaseAge,
}

impl Default for LeaseWatch {
    fn default() -> Self {
        LeaseWatch {
            started: tokio::time::Instant::now(),
            age: LeaseAge::default(),
        }
    }
}

impl LeaseWatch {
    /// `read`: the lease's entry (`Some(None)`: no lease), or `None` when
    /// it could not be read (the bucket elects a leader).
    pub(crate) fn gone(&mut self, read: Option<Option<kv::Entry>>) -> bool {
        let Some(entry) = read else {
            return false;
        };
        // By tokio's clock, as `started`.
        let now = tokio::time::Instant::now().into_std();
        self.age.read(entry.as_ref(), now) != Lease::Held
    }

    /// How long the holder has been asked.
    pub(crate) fn asked_for(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(revision: u64, value: Bytes, operation: kv::Operation) -> kv::Entry {
        kv::Entry {
            bucket: BUCKET.to_string(),
            key: key("n2"),
            value,
            revision,
            delta: 0,
            created: time::OffsetDateTime::UNIX_EPOCH,
            operation,
            seen_current: true,
        }
    }

    fn held(revision: u64) -> kv::Entry {
        entry(revision, held_by("n2", 7), kv::Operation::Put)
    }

    fn claimed(revision: u64) -> kv::Entry {
        entry(revision, claimed_by("n1"), kv::Operation::Put)
    }

    #[test]
    fn a_lease_unchanged_for_the_ttl_is_stopped() {
        let start = Instant::now();
        let mut age = LeaseAge::default();
        assert_eq!(age.read(Some(&held(3)), start), Lease::Held);
        let almost = start + TTL - Duration::from_millis(1);
        assert_eq!(age.read(Some(&held(3)), almost), Lease::Held);
        assert_eq!(age.read(Some(&held(3)), start + TTL), Lease::Stopped);
        assert_eq!(age.read(Some(&held(3)), start + 2 * TTL), Lease::Stopped);
    }

    #[test]
    fn a_renewed_lease_starts_its_age_again() {
        let start = Instant::now();
        let mut age = LeaseAge::default();
        age.read(Some(&held(3)), start);
        let renewed = start + TTL - RENEW;
        assert_eq!(age.read(Some(&held(4)), renewed), Lease::Held);
        assert_eq!(age.read(Some(&held(4)), start + TTL), Lease::Held);
        assert_eq!(age.read(Some(&held(4)), renewed + TTL), Lease::Stopped);
    }

    #[test]
    fn a_lease_first_read_late_gets_a_whole_ttl() {
        // A reader that starts (or was reset) waits a whole TTL from its
        // own first read, however old the revision is.
        let start = Instant::now();
        let mut age = LeaseAge::default();
        let later = start + 3 * TTL;
        assert_eq!(age.read(Some(&held(3)), later), Lease::Held);
        assert_eq!(age.read(Some(&held(3)), later + TTL), Lease::Stopped);
    }

    #[test]
    fn a_claim_is_a_lease_too_and_stops_in_turn() {
        let start = Instant::now();
        let mut age = LeaseAge::default();
        assert_eq!(age.read(Some(&held(3)), start), Lease::Held);
        // Claimed by a survivor: a new revision, not held.
        assert_eq!(age.read(Some(&claimed(4)), start + RENEW), Lease::Claimed);
        assert_eq!(age.read(Some(&claimed(4)), start + TTL), Lease::Claimed);
        assert_eq!(
            age.read(Some(&claimed(4)), start + RENEW + TTL),
            Lease::Stopped,
            "a claim nobody finished"
        );
    }

    #[test]
    fn a_deleted_or_missing_lease_is_deleted_and_forgotten() {
        let start = Instant::now();
        for gone in [
            Some(entry(5, Bytes::new(), kv::Operation::Delete)),
            Some(entry(5, Bytes::new(), kv::Operation::Purge)),
            None,
        ] {
            let mut age = LeaseAge::default();
            age.read(Some(&held(3)), start);
            assert_eq!(age.read(gone.as_ref(), start + RENEW), Lease::Deleted);
            // Its age starts over at the next read (even of the revision
            // read before).
            let back = start + TTL;
            assert_eq!(age.read(Some(&held(3)), back), Lease::Held);
            assert_eq!(age.read(Some(&held(3)), back + TTL), Lease::Stopped);
        }
    }

    #[test]
    fn held_and_claimed_values_are_told_apart() {
        assert!(is_held(&held_by("n2", 7)));
        assert!(!is_held(&claimed_by("n2")));
        assert!(!is_held(b""));
    }

    #[test]
    fn keys_name_their_node() {
        assert_eq!(node_of(&key("node a/1")).as_deref(), Some("node a/1"));
        assert_eq!(node_of("x.abc"), None);
    }

    fn lease(value: &'static [u8], operation: kv::Operation) -> Option<Option<kv::Entry>> {
        Some(Some(kv::Entry {
            bucket: BUCKET.to_string(),
            key: key("a"),
            value: Bytes::from_static(value),
            revision: 9,
            delta: 0,
            created: time::OffsetDateTime::UNIX_EPOCH,
            operation,
            seen_current: true,
        }))
    }

    #[test]
    fn a_silent_holder_is_gone_only_when_its_lease_says_so() {
        let held = || lease(b"held a 0000000000000001", kv::Operation::Put);
        let mut watch = LeaseWatch::default();
        assert!(!watch.gone(None), "an unreadable lease is no answer");
        assert!(!watch.gone(held()), "a lease read first is alive");
        assert!(!watch.gone(held()), "unchanged for less than the TTL");
        for gone in [
            Some(None),
            lease(b"", kv::Operation::Delete),
            lease(b"", kv::Operation::Purge),
            lease(b"claimed by b", kv::Operation::Put),
        ] {
            assert!(LeaseWatch::default().gone(gone.clone()), "{gone:?}");
        }
    }
}
