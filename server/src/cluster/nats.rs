//! The backplane over NATS: this node publishes each QoS 0 message its
//! clients send on the message's subject ([`subject::topic_subject`]) and
//! subscribes, once per distinct filter its clients have, to what other
//! nodes publish there. NATS's interest-based routing then sends a node
//! only what its clients want. QoS 1 and 2 messages go into a JetStream
//! stream instead, that every node reads ([`super::messages`]), and
//! retained messages into a bucket as well ([`super::retained`]).
//!
//! A QoS 0 message travels as a 16-byte id (this node's random nonce and a
//! sequence number) and its store record (`store::encode_retained`: the
//! PUBLISH with its properties, the publisher's client id for no-local, the
//! expiry), so what a client on another node receives is what a client
//! here would. The connection is made with `no_echo`, so a node never gets
//! its own messages back, and what came from NATS is never sent to NATS
//! again (`Shared::publish_remote`).
//!
//! NATS delivers a message once per matching subscription of a connection,
//! so a message whose topic matches two of a node's filters (`#` and
//! `a/b`) arrives twice: the id lets the node route it once. Routing and
//! the check happen under one lock, so messages on one topic keep the
//! order their publisher gave them, whichever subscription brought them.
//!
//! QoS 0 between nodes is at most once (core NATS), as QoS 0 promises;
//! QoS 1 and 2 are acknowledged once JetStream stored them. Shared
//! subscriptions (`$share/...`) are balanced across the nodes by
//! [`super::shares`], not by this routing.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock, Weak,
    },
    time::Duration,
};

use async_nats::{Client, ConnectOptions};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::{sync::mpsc, task::JoinHandle};

use super::{
    link::{Link, GRACE},
    messages::Durable,
    retained::KvRetained,
    shares::Shares,
    subject,
};
use crate::{
    broker::{Backplane, Remote, Shared},
    protocol::message::Message,
    store::{decode_retained, encode_retained, Ticket},
};

/// Messages waiting to go out to NATS before new ones are dropped.
const OUTBOX: usize = 65_536;
/// Asked (and never answered) to wait for a round trip through the server.
const PING_SUBJECT: &str = "K.ping";
/// Message ids remembered to drop the second copy of a message.
const SEEN: usize = 65_536;

/// The ids of messages routed lately, oldest first.
#[derive(Default)]
struct Seen {
    ids: std::collections::HashSet<u128>,
    order: std::collections::VecDeque<u128>,
}

impl Seen {
    /// True the first time `id` is seen (lately).
    fn first(&mut self, id: u128) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > SEEN {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        true
    }
}

/// Why the cluster could not be joined.
#[derive(thiserror::Error, Debug)]
pub(crate) enum ClusterError {
    #[error("cannot reach NATS at {urls}: {reason} (start nats-server, or pass --cluster-wait true to wait for it)")]
    Unreachable { urls: String, reason: String },
}

/// One filter this node's clients subscribe to, and the NATS subscription
/// that brings other nodes' messages for it.
struct Interest {
    count: usize,
    task: JoinHandle<()>,
}

pub(crate) struct NatsBackplane {
    client: Client,
    outbox: mpsc::Sender<(String, Bytes)>,
    interest: Mutex<HashMap<String, Interest>>,
    seen: Arc<Mutex<Seen>>,
    /// This node's messages: a nonce for this run, and a sequence.
    nonce: u64,
    seq: AtomicU64,
    shared: OnceLock<Weak<Shared>>,
    runtime: tokio::runtime::Handle,
    /// Messages not sent: the outbox was full (NATS slower than the
    /// clients), NATS refused them, or they were larger than its max_payload.
    dropped: Arc<AtomicU64>,
    /// The cluster's retained messages (a JetStream bucket).
    retained: Arc<KvRetained>,
    /// The cluster's QoS 1/2 messages (a JetStream stream).
    durable: Arc<Durable>,
    /// Shared subscriptions, balanced across the nodes.
    shares: Arc<Shares>,
}

impl NatsBackplane {
    /// Connect to `urls` as node `node`. Without `wait`, a NATS that cannot
    /// be reached is an error; with it, the node retries until it can.
    pub(crate) async fn connect(
        urls: &[String],
        node: &str,
        wait: bool,
        retained: Arc<KvRetained>,
    ) -> Result<Arc<NatsBackplane>, ClusterError> {
        let joined = urls.join(",");
        let addresses: Vec<async_nats::ServerAddr> = urls
            .iter()
            .map(|url| url.parse())
            .collect::<Result<_, _>>()
            .map_err(|err: std::io::Error| ClusterError::Unreachable {
                urls: joined.clone(),
                reason: err.to_string(),
            })?;
        let logged: Arc<str> = Arc::from(node);
        let link = Arc::new(Link::new());
        let events = link.clone();
        let mut options = ConnectOptions::new()
            .name(format!("kite-server {node}"))
            .no_echo()
            .connection_timeout(Duration::from_secs(2))
            .max_reconnects(None)
            .event_callback(move |event| {
                let node = logged.clone();
                let link = events.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            link.connected();
                            tracing::info!(node = %node, "cluster: connected to NATS")
                        }
                        async_nats::Event::Disconnected => {
                            let since = link.lost();
                            tracing::warn!(
                                node = %node,
                                "cluster: NATS lost; reconnecting (QoS 1/2 publishes wait up to {GRACE:?}, QoS 0 stays on this node)"
                            );
                            tokio::spawn(async move {
                                tokio::time::sleep(GRACE).await;
                                if link.still_lost(since) {
                                    tracing::warn!(
                                        node = %node,
                                        "cluster: NATS still lost after {GRACE:?}; serving this node's clients alone, QoS 1/2 publishes refused until it is back"
                                    );
                                }
                            });
                        }
                        other => tracing::info!(node = %node, "cluster: NATS {other}"),
                    }
                }
            });
        if wait {
            options = options.retry_on_initial_connect();
        }
        let shares = Shares::connect(addresses.clone(), &joined, node, wait);
        let client = options
            .connect(addresses)
            .await
            .map_err(|err| ClusterError::Unreachable {
                urls: joined.clone(),
                reason: err.to_string(),
            })?;
        let shares = shares.await?;
        if client.connection_state() == async_nats::connection::State::Connected {
            link.connected();
        }
        let nonce = nonce();
        let durable = Durable::start(client.clone(), node, urls.len(), nonce, link);
        let (outbox, rx) = mpsc::channel(OUTBOX);
        let dropped = Arc::new(AtomicU64::new(0));
        let runtime = tokio::runtime::Handle::current();
        runtime.spawn(send_all(client.clone(), rx, dropped.clone()));
        runtime.spawn(retained.clone().run(client.clone(), urls.len()));
        tracing::info!(node, urls = %joined, "cluster: joined");
        Ok(Arc::new(NatsBackplane {
            client,
            outbox,
            interest: Mutex::new(HashMap::new()),
            seen: Arc::default(),
            nonce,
            seq: AtomicU64::new(0),
            shared: OnceLock::new(),
            runtime,
            dropped,
            retained,
            durable,
            shares,
        }))
    }

    /// The connection to NATS (shared with the cluster's other parts).
    pub(crate) fn client(&self) -> Client {
        self.client.clone()
    }

    /// The QoS 1/2 stream's side of this node.
    pub(crate) fn durable(&self) -> Arc<Durable> {
        self.durable.clone()
    }

    /// The broker that other nodes' messages are delivered to (it holds
    /// this backplane, so it is known only once built).
    pub(crate) fn attach(&self, shared: &Arc<Shared>) {
        let _ = self.shared.set(Arc::downgrade(shared));
        // Each group's messages reach one member cluster-wide.
        self.shares.attach(shared);
        shared.router.balance_groups_elsewhere();
    }

    /// Start delivering the cluster's QoS 1/2 messages here, from after
    /// `position` (this node's store kept it; none: from the stream's
    /// end). Once the sessions the store kept are back, so that they get
    /// what was published while this node was away.
    pub(crate) fn read_stream(&self, position: Option<u64>) {
        if let Some(shared) = self.shared.get() {
            self.runtime
                .spawn(self.durable.clone().read(shared.clone(), position));
        }
    }
}

/// A number no other run of any node is likely to pick.
fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Hand queued messages to the NATS client, in order.
async fn send_all(
    client: Client,
    mut rx: mpsc::Receiver<(String, Bytes)>,
    dropped: Arc<AtomicU64>,
) {
    while let Some((subject, record)) = rx.recv().await {
        if let Err(err) = client.publish(subject, record).await {
            dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%err, "cluster: a message was not sent to NATS");
        }
    }
}

/// Bring what other nodes publish on `subject` to this node's subscribers;
/// `ready` resolves once NATS has the subscription.
async fn receive(
    client: Client,
    subject: String,
    shared: Weak<Shared>,
    seen: Arc<Mutex<Seen>>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut messages = match client.subscribe(subject.clone()).await {
        Ok(messages) => messages,
        Err(err) => {
            tracing::error!(%subject, %err, "cluster: cannot subscribe");
            return;
        }
    };
    // A request nobody answers comes back from the server as "no
    // responders" once it has handled what this connection sent before,
    // the SUB included: what other nodes publish from then on comes here.
    // (A flush only empties the client's buffer.) With several NATS
    // servers, the interest then spreads to the others on their routes.
    let _ = client.request(PING_SUBJECT, Bytes::new()).await;
    let _ = ready.send(());
    while let Some(delivered) = messages.next().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let payload = &delivered.payload;
        let (Some(id), Some(record)) = (payload.get(..16), payload.get(16..)) else {
            tracing::warn!(subject = %delivered.subject, "cluster: a message without an id skipped");
            continue;
        };
        let id = u128::from_be_bytes(id.try_into().expect("16 bytes"));
        match decode_retained(record) {
            Ok(message) => {
                // One lock for the check and the routing: see the module.
                let mut seen = seen.lock().expect("seen lock");
                if seen.first(id) {
                    shared.publish_remote(message, Remote::Live, None);
                }
            }
            Err(err) => {
                tracing::warn!(subject = %delivered.subject, %err, "cluster: unreadable message skipped")
            }
        }
    }
}

impl Backplane for Arc<NatsBackplane> {
    fn publish(&self, message: &Arc<Message>, wait: bool) -> Option<Ticket> {
        // A retained message is acknowledged once the bucket has it.
        let kept = if message.retain {
            self.retained.write(message)
        } else {
            None
        };
        if message.qos == mqtt::QoS::AtMostOnce {
            self.route(message);
            return kept;
        }
        // QoS 1/2: once the stream has it.
        Ticket::both(kept, self.durable.publish(message, wait))
    }

    fn refusal(&self) -> Option<&'static str> {
        self.durable.refusal()
    }

    fn streams_durable(&self) -> bool {
        true
    }

    fn subscribed(&self, filter: &str) -> Option<Ticket> {
        if mqtt::topic::parse_shared(filter).is_some() {
            // Shared groups get no retained messages.
            return self.shares.subscribed(filter);
        }
        // Answered once the retained messages here are the bucket's latest
        // (and this node reads the QoS 1/2 stream).
        let ticket = Ticket::both(self.add_interest(filter), self.retained.caught_up());
        Ticket::both(ticket, self.durable.ready())
    }

    fn unsubscribed(&self, filter: &str) {
        if mqtt::topic::parse_shared(filter).is_some() {
            return self.shares.unsubscribed(filter);
        }
        let mut interest = self.interest.lock().expect("interest lock");
        if let Some(known) = interest.get_mut(filter) {
            known.count -= 1;
            if known.count == 0 {
                // Dropping the subscriber unsubscribes from NATS.
                if let Some(gone) = interest.remove(filter) {
                    gone.task.abort();
                }
            }
        }
    }
}

impl NatsBackplane {
    /// Send a QoS 0 `message` to the other nodes (at most once, core NATS).
    fn route(&self, message: &Arc<Message>) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let id = (u128::from(self.nonce) << 64) | u128::from(seq);
        let mut record = id.to_be_bytes().to_vec();
        record.extend_from_slice(&encode_retained(message));
        let max = self.client.server_info().max_payload;
        if max > 0 && record.len() > max {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(topic = %message.topic, bytes = record.len(), max, "cluster: message larger than NATS max_payload, kept on this node");
            return;
        }
        let subject = subject::topic_subject(&message.topic);
        if self.outbox.try_send((subject, record.into())).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "cluster: NATS behind, messages kept on this node");
            }
        }
    }

    /// One more subscriber to `filter` here; a ticket when it is the first
    /// (resolved once NATS has the subscription).
    fn add_interest(&self, filter: &str) -> Option<Ticket> {
        let mut interest = self.interest.lock().expect("interest lock");
        if let Some(known) = interest.get_mut(filter) {
            known.count += 1;
            return None;
        }
        let shared = self.shared.get().cloned()?;
        let (ready, ticket) = Ticket::new();
        let task = self.runtime.spawn(receive(
            self.client.clone(),
            subject::filter_subject(filter),
            shared,
            self.seen.clone(),
            ready,
        ));
        interest.insert(filter.to_owned(), Interest { count: 1, task });
        Some(ticket)
    }
}
