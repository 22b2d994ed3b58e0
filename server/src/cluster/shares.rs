//! Shared subscriptions (`$share/<group>/<filter>`) balanced across the
//! cluster: each message that matches a group goes to one member of the
//! group, whichever node the member and the publisher are on.
//!
//! A cluster node's router leaves groups out of routing
//! (`Router::balance_groups_elsewhere`): neither a local publish, nor core
//! NATS, nor the node's reading of the QoS 1/2 stream hands a message to a
//! group. Each node with members of a group (group and filter, as MQTT
//! counts them) takes part in it instead, twice:
//!
//! - QoS 0: a NATS queue subscription on the filter's subject, with the
//!   queue named after the group ([`group_name`]). NATS hands each message
//!   to one queue member, so to one node, which gives it to its next local
//!   member in turn (`Shared::deliver_to_group`). The nodes publish with
//!   `no_echo`, and a queue member on the publisher's own connection would
//!   never be picked, so these subscriptions live on a second connection of
//!   the node's, with echo: the publishing node's members take their turns
//!   too. At most once, as QoS 0 promises. NATS picks among a queue's
//!   members at random, preferring those on the publisher's own NATS
//!   server when there are several servers.
//! - QoS 1/2: a durable JetStream pull consumer on the message stream
//!   (`kite_messages`), one per group cluster-wide (its replicas are the
//!   stream's: a few groups are a few Raft groups), filtered to the filter's
//!   subjects and delivering what is stored from its creation on. Every node
//!   with members pulls from it, so JetStream spreads the messages over the
//!   nodes that ask (balancing: each node pulls up to [`BATCH`] at a time
//!   and takes its members in turn; a node whose members are slower asks
//!   less often). A stream message may carry several MQTT messages
//!   ([`super::batch`]); each goes to a member in turn, and the stream
//!   message is acknowledged once all are safe, given back whole if one is
//!   not. A message is safe once its client acknowledged it (PUBACK; PUBREC
//!   for QoS 2, after which the MQTT flow itself makes it exactly once),
//!   or, for a persistent session, once a copy of the session that holds
//!   it is kept beyond this node ([`super::keeper`]: a connected member's
//!   live copy, written for it without waiting for the next second; a
//!   parked member's snapshot, taken again for it): a node that dies with
//!   a turn only its own store had gives it back (after [`ACK_WAIT`]). A
//!   member that leaves with it in flight, a full queue, or a node without
//!   a member any more gives it back at once (a NAK); a node that dies
//!   gives it back after [`ACK_WAIT`], and JetStream redelivers it to a
//!   surviving member. So: at least once per group; a message a member
//!   keeps unacknowledged longer than [`ACK_WAIT`] may go to another member
//!   too.
//!
//! Balancing is per node, then round-robin among the node's members: a
//! node takes part in a group once, however many members it has (a node
//! with two members gets about as much as a node with one).
//!
//! When the last member here leaves, this node stops both. When the last
//! member anywhere has left, nobody pulls: the consumer keeps what is
//! published for [`LINGER`], and a member that joins meanwhile gets it;
//! then JetStream deletes the consumer (its inactive threshold) and the
//! group has no messages any more, as MQTT has it for a shared
//! subscription without sessions. A later member starts a new consumer,
//! with what is published from then on. QoS 0 messages published while a
//! group has no member anywhere are lost for it.
//!
//! `$SYS/broker/...` never leaves its node: its groups take turns there,
//! as on a single node.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex, OnceLock, Weak,
    },
    time::Duration,
};

use async_nats::{
    jetstream::{
        self,
        consumer::{pull, AckPolicy, DeliverPolicy},
        message::{AckKind, Acker},
    },
    Client, ConnectOptions,
};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::{sync::oneshot, task::JoinHandle};

use super::{batch, messages, nats::ClusterError, subject};
use crate::{
    broker::{GroupDelivery, Shared},
    protocol::message::Receipt,
    store::{decode_retained, Ticket},
};

/// How long a message may stay with a node unacknowledged before
/// JetStream gives it to another (a node that died held it).
pub(crate) const ACK_WAIT: Duration = Duration::from_secs(10);
/// How long a group's consumer outlives its last member anywhere.
pub(crate) const LINGER: Duration = Duration::from_secs(10);
/// Messages a node asks for at once, per group.
const BATCH: usize = 32;
/// Messages of a group unacknowledged at once, cluster-wide.
const MAX_ACK_PENDING: i64 = 1024;
/// The pull's idle heartbeat (two missed make a new pull).
const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a message given back waits before it is delivered again.
const GIVE_BACK_DELAY: Duration = Duration::from_millis(200);
/// How long a SUBACK waits for the group's queue and consumer.
const READY_WAIT: Duration = Duration::from_secs(5);
/// Asked (and never answered) to wait for a round trip through the server.
const PING_SUBJECT: &str = "K.ping";

/// One group this node has members of.
struct Group {
    members: usize,
    tasks: [JoinHandle<()>; 2],
}

/// This node's part in the cluster's shared subscriptions.
pub(crate) struct Shares {
    /// A connection of its own, with echo (see the module).
    client: Client,
    groups: Mutex<HashMap<String, Group>>,
    shared: OnceLock<Weak<Shared>>,
    runtime: tokio::runtime::Handle,
}

impl Shares {
    /// Open this node's second connection to NATS, for its queue groups.
    pub(crate) async fn connect(
        addresses: Vec<async_nats::ServerAddr>,
        urls: &str,
        node: &str,
        wait: bool,
    ) -> Result<Arc<Shares>, ClusterError> {
        let mut options = ConnectOptions::new()
            .name(format!("kite-server {node} shared subscriptions"))
            .connection_timeout(Duration::from_secs(2))
            .max_reconnects(None);
        if wait {
            options = options.retry_on_initial_connect();
        }
        let client = options
            .connect(addresses)
            .await
            .map_err(|err| ClusterError::Unreachable {
                urls: urls.to_string(),
                reason: err.to_string(),
            })?;
        Ok(Arc::new(Shares {
            client,
            groups: Mutex::new(HashMap::new()),
            shared: OnceLock::new(),
            runtime: tokio::runtime::Handle::current(),
        }))
    }

    /// The broker the groups' messages are delivered to.
    pub(crate) fn attach(&self, shared: &Arc<Shared>) {
        let _ = self.shared.set(Arc::downgrade(shared));
    }

    /// A member of the shared subscription `filter` joined here: the node
    /// takes part in the group from its first member on. The ticket (for
    /// the SUBACK) resolves once NATS has the queue subscription and the
    /// consumer exists, or after [`READY_WAIT`].
    pub(crate) fn subscribed(self: &Arc<Self>, filter: &str) -> Option<Ticket> {
        let mut groups = self.groups.lock().expect("groups lock");
        if let Some(group) = groups.get_mut(filter) {
            group.members += 1;
            return None;
        }
        let shared = self.shared.get()?.clone();
        let (heard, hearing) = oneshot::channel();
        let (pulled, pulling) = oneshot::channel();
        let tasks = [
            self.runtime.spawn(hear(
                self.client.clone(),
                filter.to_owned(),
                shared.clone(),
                heard,
            )),
            self.runtime.spawn(pull(
                self.client.clone(),
                filter.to_owned(),
                shared,
                self.runtime.clone(),
                pulled,
            )),
        ];
        groups.insert(filter.to_owned(), Group { members: 1, tasks });
        let (done, ticket) = Ticket::new();
        self.runtime.spawn(async move {
            let both = async {
                let _ = hearing.await;
                let _ = pulling.await;
            };
            let _ = tokio::time::timeout(READY_WAIT, both).await;
            let _ = done.send(());
        });
        Some(ticket)
    }

    /// A member of `filter` here left; with the last, this node leaves the
    /// group (its queue subscription and its pulls end).
    pub(crate) fn unsubscribed(&self, filter: &str) {
        let mut groups = self.groups.lock().expect("groups lock");
        if let Some(group) = groups.get_mut(filter) {
            group.members -= 1;
            if group.members == 0 {
                if let Some(gone) = groups.remove(filter) {
                    for task in gone.tasks {
                        task.abort();
                    }
                }
            }
        }
    }
}

/// The name of a group's queue and consumer, the same on every node: a
/// hash of the whole `$share/<group>/<filter>` (NATS names allow few
/// characters).
pub(crate) fn group_name(filter: &str) -> String {
    // FNV-1a, twice with different bases: stable across runs and nodes.
    let fnv = |basis: u64| {
        filter.bytes().fold(basis, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    format!(
        "kite_share_{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142)
    )
}

/// The filter a `$share/<group>/<filter>` matches with.
fn inner_filter(filter: &str) -> Option<&str> {
    match mqtt::topic::parse_shared(filter) {
        Some(Ok(shared)) => Some(shared.filter),
        _ => None,
    }
}

/// QoS 0: take this node's turns of the group through a queue subscription.
async fn hear(client: Client, filter: String, shared: Weak<Shared>, ready: oneshot::Sender<()>) {
    let Some(inner) = inner_filter(&filter) else {
        return;
    };
    let subject = subject::filter_subject(inner);
    let mut messages = match client.queue_subscribe(subject, group_name(&filter)).await {
        Ok(messages) => messages,
        Err(err) => {
            tracing::error!(%filter, %err, "cluster: cannot join a shared group's queue");
            return;
        }
    };
    // Answered once the server has the subscription (as `nats::receive`).
    let _ = client.request(PING_SUBJECT, Bytes::new()).await;
    let _ = ready.send(());
    while let Some(delivered) = messages.next().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        // A 16-byte id, then the record (`nats::NatsBackplane::route`).
        let Some(record) = delivered.payload.get(16..) else {
            continue;
        };
        match decode_retained(record) {
            Ok(message) => {
                shared.deliver_to_group(&filter, Arc::new(message), None);
            }
            Err(err) => tracing::warn!(%filter, %err, "cluster: unreadable message skipped"),
        }
    }
}

/// QoS 1/2: pull the group's messages from its consumer for as long as
/// this node has members (the task is aborted with the last).
async fn pull(
    client: Client,
    filter: String,
    shared: Weak<Shared>,
    runtime: tokio::runtime::Handle,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    loop {
        match pull_once(&client, &filter, &shared, &runtime, &mut ready).await {
            Ok(()) => return,
            Err(err) => {
                tracing::info!(%filter, %err, "cluster: shared group's pull renewed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One pull until it fails (`Ok`: the broker is gone).
async fn pull_once(
    client: &Client,
    filter: &str,
    shared: &Weak<Shared>,
    runtime: &tokio::runtime::Handle,
    ready: &mut Option<oneshot::Sender<()>>,
) -> Result<(), String> {
    let inner = inner_filter(filter).ok_or("not a shared subscription")?;
    let js = jetstream::new(client.clone());
    let name = group_name(filter);
    // Created, or found as it is (the same on every node). The stream is
    // the message reader's to create: until it exists, this fails and the
    // pull is tried again.
    let consumer = js
        .create_consumer_on_stream(
            pull::Config {
                durable_name: Some(name.clone()),
                description: Some(filter.to_string()),
                filter_subject: messages::stream_filter(inner),
                deliver_policy: DeliverPolicy::New,
                ack_policy: AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: MAX_ACK_PENDING,
                inactive_threshold: LINGER,
                ..Default::default()
            },
            messages::STREAM,
        )
        .await
        .map_err(|err| err.to_string())?;
    let mut pulled = consumer
        .stream()
        .max_messages_per_batch(BATCH)
        .heartbeat(HEARTBEAT)
        .expires(HEARTBEAT * 3)
        .messages()
        .await
        .map_err(|err| err.to_string())?;
    if let Some(ready) = ready.take() {
        let _ = ready.send(());
    }
    while let Some(item) = pulled.next().await {
        let message = item.map_err(|err| err.to_string())?;
        let Some(shared) = shared.upgrade() else {
            return Ok(());
        };
        let (message, acker) = message.split();
        let Some((_, records)) = batch::records(&message.payload).filter(|(_, r)| !r.is_empty())
        else {
            tracing::warn!(filter, "cluster: unreadable stream message skipped");
            let _ = acker.ack().await;
            continue;
        };
        // The stream message is acknowledged once each of its MQTT
        // messages is finished, given back whole if one is not.
        let settle = Arc::new(Settle {
            acker: Mutex::new(Some(acker)),
            open: AtomicUsize::new(records.len()),
            runtime: runtime.clone(),
        });
        for record in records.iter() {
            let part = Arc::new(Part {
                settle: settle.clone(),
                finished: AtomicBool::new(false),
            });
            let decoded = match record.message() {
                Ok(decoded) => decoded,
                Err(err) => {
                    tracing::warn!(filter, %err, "cluster: unreadable stream message skipped");
                    part.finished();
                    continue;
                }
            };
            let given: Arc<dyn Receipt> = part.clone();
            match shared.deliver_to_group(filter, Arc::new(decoded), Some(given)) {
                // Dropped unfinished, the receipt gives the message back.
                GroupDelivery::NoMember | GroupDelivery::Refused | GroupDelivery::Handed => {}
                GroupDelivery::Queued(None) => part.finished(),
                GroupDelivery::Queued(Some(ticket)) => {
                    tokio::spawn(async move {
                        if ticket.committed().await {
                            part.finished();
                        }
                    });
                }
            }
        }
    }
    Err("the pull ended".to_string())
}

/// A group's stream message with a node: acknowledged to JetStream once
/// each of its MQTT messages is finished, given back (NAK) as soon as one
/// of its [`Part`]s is dropped unfinished (JetStream then delivers it whole again: at least
/// once per group).
struct Settle {
    acker: Mutex<Option<Acker>>,
    /// Its MQTT messages not finished yet.
    open: AtomicUsize,
    runtime: tokio::runtime::Handle,
}

impl Settle {
    fn send(&self, kind: AckKind) {
        let Some(acker) = self.acker.lock().expect("acker lock").take() else {
            return;
        };
        self.runtime.spawn(async move {
            if let Err(err) = acker.ack_with(kind).await {
                tracing::debug!(%err, "cluster: a shared group's acknowledgement was not sent");
            }
        });
    }
}

/// One MQTT message of a [`Settle`]: the receipt its delivery carries.
struct Part {
    settle: Arc<Settle>,
    finished: AtomicBool,
}

impl std::fmt::Debug for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Part")
            .field("finished", &self.finished.load(Ordering::Relaxed))
            .finish()
    }
}

impl Receipt for Part {
    fn finished(&self) {
        if !self.finished.swap(true, Ordering::AcqRel)
            && self.settle.open.fetch_sub(1, Ordering::AcqRel) == 1
        {
            self.settle.send(AckKind::Ack);
        }
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if !self.finished.load(Ordering::Acquire) {
            self.settle.send(AckKind::Nak(Some(GIVE_BACK_DELAY)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_stable_valid_and_apart() {
        let a = group_name("$share/g/a/#");
        assert_eq!(a, group_name("$share/g/a/#"));
        assert_ne!(a, group_name("$share/g/a/+"));
        assert_ne!(a, group_name("$share/h/a/#"));
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        assert_eq!(a.len(), "kite_share_".len() + 32);
    }

    #[test]
    fn the_inner_filter_is_what_the_group_matches() {
        assert_eq!(inner_filter("$share/g/a/+/c"), Some("a/+/c"));
        assert_eq!(inner_filter("a/b"), None);
    }
}
