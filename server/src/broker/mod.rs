//! The broker's shared state and what it does with a message: publish
//! (store if retained, route to each subscriber's queue, answer the alarm
//! engine), persist sessions, expire them. Every connection holds it.
//!
//! This is the seam between "what this node does" and "routing and storage
//! beyond it". Three traits plug in here, each with this node's own
//! implementation today: the retained messages ([`RetainedStore`], an
//! in-memory tree), what survives a restart ([`SessionStore`], the `redb`
//! file) and the other nodes of a cluster ([`Backplane`], none for a
//! single node).

pub(crate) mod admin;
pub(crate) mod backplane;
mod groups;
mod history;
mod routes;

use std::{
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use bytes::Bytes;
use mqtt::QoS;
use tokio::sync::watch;

use crate::{
    alarms::{Alarms, Publication, RuleError},
    config::Config,
    history::History,
    metrics::{bridges::BridgeBoard, Gauges, Limits, Snapshot, Stats},
    protocol::{
        message::{Message, Outbound},
        session::{server_limits, Session, StoreEvent},
    },
    routing::{
        budget::QueueBudget,
        mailbox::{self, Refusals},
        registry::{Parked, Registry},
        retained::RetainedStore,
        router::{Router, Subscriber, Subscription},
    },
    security::{auth::Access, policy::Checks},
    store::{self, LoadedSession, Op, Queued, QueuedState, SessionStore, Ticket},
};

pub(crate) use admin::{Admin, Caller};
pub(crate) use backplane::{Backplane, ClientIds, SingleNode, Wills};
pub(crate) use groups::GroupDelivery;
pub(crate) use routes::Routes;

/// State shared by every connection.
pub(crate) struct Shared {
    pub config: Config,
    pub router: Router,
    pub retained: Box<dyn RetainedStore>,
    pub stats: Stats,
    pub started: Instant,
    pub registry: Registry,
    pub store: Box<dyn SessionStore>,
    /// The other nodes of a cluster; [`SingleNode`] for one broker.
    pub backplane: Box<dyn Backplane>,
    pub alarms: Alarms,
    /// Device measurements and events over time (`$kite/history/query`).
    pub history: History,
    /// The password file and ACL in force (swapped on SIGHUP), and the
    /// live users and roles.
    pub access: Access,
    /// The `$CONTROL/kite/v1` API, set once at start-up.
    pub admin: OnceLock<Arc<dyn Admin>>,
    /// In a cluster, who holds each client id (set once at start-up).
    pub client_ids: OnceLock<Arc<dyn ClientIds>>,
    /// In a cluster, the pending wills other nodes can see (set once).
    pub wills: OnceLock<Arc<dyn Wills>>,
    /// Connection slots and the limit counters.
    pub limits: Limits,
    /// Each bridge's counters (`$SYS/broker/connection/...`, `/metrics`).
    pub bridges: BridgeBoard,
    /// Flips to true when the broker shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Where a dormant connection's new task is spawned when it wakes.
    pub runtime: tokio::runtime::Handle,
}

/// What plugs into the broker: this node's implementations for a single
/// node, a cluster's otherwise.
pub(crate) struct Seams {
    pub retained: Box<dyn RetainedStore>,
    pub store: Box<dyn SessionStore>,
    pub backplane: Box<dyn Backplane>,
}

impl Shared {
    /// The state of a broker that starts now, on the current tokio runtime.
    pub(crate) fn new(
        config: Config,
        access: Access,
        seams: Seams,
        history: History,
        shutdown: watch::Receiver<bool>,
    ) -> Shared {
        Shared {
            config,
            router: Router::default(),
            retained: seams.retained,
            stats: Stats::default(),
            started: Instant::now(),
            registry: Registry::default(),
            store: seams.store,
            backplane: seams.backplane,
            alarms: Alarms::default(),
            history,
            access,
            admin: OnceLock::new(),
            client_ids: OnceLock::new(),
            wills: OnceLock::new(),
            limits: Limits::default(),
            bridges: BridgeBoard::default(),
            shutdown,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Route a message: store it if retained, then hand it to each matching
    /// subscriber's queue. A full queue drops the message for that subscriber
    /// only. Returns a ticket to wait on before acknowledging, when the
    /// message went to disk (retained, or QoS 1/2 for a persistent session),
    /// and how many deliveries it matched.
    /// A connection passes its own `cache` of its last topic's subscribers.
    pub(crate) fn publish(&self, message: Message, cache: Option<&mut Routes>) -> Routed {
        self.stats.messages_received.add(1);
        if self.check_rule(&message.topic, &message.payload).is_err() {
            // A bad alarm rule is neither routed nor stored.
            return Routed::default();
        }
        // A client's QoS 1/2 or retained message is acknowledged after the store.
        let wait = message.qos != QoS::AtMostOnce || message.retain;
        self.route(message, wait, cache, None)
    }

    /// Route a message the broker itself made (`$SYS`, alarms, rules from the
    /// config file), without counting it as received. Nobody waits for its
    /// writes: they reach the disk within [`store::LAZY_SYNC`].
    pub(crate) fn publish_internal(&self, message: Message) {
        self.route(message, false, None, None);
    }

    /// Route a message another node of the cluster published, to this
    /// node's subscribers only: the backplane brought it and does not get
    /// it back. `routes`: the reader's, so a run of messages on one topic
    /// walks the subscription table once.
    pub(crate) fn publish_remote(
        &self,
        message: Message,
        from: Remote,
        routes: Option<&mut Routes>,
    ) -> Routed {
        if !matches!(from, Remote::Stream { own: true, .. }) {
            self.stats.messages_received.add(1);
        }
        self.route(message, false, routes, Some(from))
    }

    /// `remote`: the message came from another node (it is not forwarded).
    fn route(
        &self,
        message: Message,
        wait: bool,
        cache: Option<&mut Routes>,
        remote: Option<Remote>,
    ) -> Routed {
        let forward = remote.is_none();
        // This node's own message back from the cluster's stream: it was
        // routed here when published, but for the persistent sessions.
        let own = matches!(remote, Some(Remote::Stream { own: true, .. }));
        // Published while this node was away: for the sessions it kept.
        let kept_only = matches!(remote, Some(Remote::Stream { catch_up: true, .. }));
        let message = Arc::new(message);
        // `$SYS/...` is this node's own: neither kept nor sent to others.
        let node_local = kite_convention::sys::node_local(&message.topic);
        // In a cluster a persistent session gets QoS 1/2 only from the
        // stream, in the stream's order, whichever node published it: so a
        // session moved to another node continues at one stream position.
        let persistent_by_stream = forward
            && !node_local
            && message.qos != QoS::AtMostOnce
            && self.backplane.streams_durable();
        let mut ops = Vec::new();
        if message.retain && !own {
            self.retained.retain(&message);
            if self.store.is_persistent() && !node_local {
                ops.push(if message.payload.is_empty() {
                    Op::DeleteRetained {
                        topic: message.topic.clone(),
                    }
                } else {
                    Op::PutRetained(message.clone())
                });
            }
        }
        let mut scratch = Routes::default();
        let (routes, batching) = match cache {
            Some(routes) => (routes, true),
            None => (&mut scratch, false),
        };
        let generation = self.router.generation();
        if !routes
            .cache
            .holds(&message.topic, &message.origin, generation)
        {
            // The batch points into the deliveries about to be replaced.
            self.flush_routes(routes);
            self.router.refresh(
                &message.topic,
                &message.origin,
                &mut routes.cache,
                generation,
            );
        }
        let stored = |m: &crate::routing::router::Match, qos: QoS| {
            m.subscriber.persistent && qos != QoS::AtMostOnce && self.store.is_persistent()
        };
        // A few subscribers: the deliveries join the read's batch, and the
        // store writes of the stored ones join its submission (see
        // `routes`). A retained message's write is not held back (another
        // connection may write the same topic next), nor is another node's
        // message (its stream position is written with it): the batch goes
        // first, then this message on its own.
        let batch = batching
            && routes
                .cache
                .holds(&message.topic, &message.origin, generation)
            && routes.cache.matches().len() <= BATCHED_MATCHES
            && ops.is_empty()
            && remote.is_none();
        if !batch {
            self.flush_routes(routes);
        }
        let subscribers = routes.cache.matches().len();
        let size = crate::routing::budget::queued_size(&message);
        let max_bytes = self.config.max_queued_bytes;
        let mut sends = Vec::new();
        let mut message_seq = None;
        let (matches, pending) = routes.cache.split();
        for (i, m) in matches.iter().enumerate() {
            // Shared groups take their turns when the message is published.
            let by_stream = m.subscriber.persistent && !m.shared;
            if (kept_only && !m.subscriber.persistent)
                || (own && !by_stream)
                || (persistent_by_stream && by_stream)
            {
                continue;
            }
            let qos = message.qos.min(m.qos);
            let mut outbound = Outbound {
                message: message.clone(),
                qos,
                // MQTT-3.3.1-12: retain is cleared unless retain-as-published.
                retain: message.retain && m.retain_as_published,
                subscription_ids: m.subscription_ids.clone(),
                seq: None,
                receipt: None,
                position: match remote {
                    Some(Remote::Stream { position, .. }) => position,
                    _ => 0,
                },
            };
            let tx = &m.subscriber.tx;
            if !stored(m, qos) {
                if batch {
                    pending.push((i, outbound, None));
                } else {
                    let refusals = tx.try_send_all_within([outbound], max_bytes);
                    self.note_refusals(&m.client_id, tx, refusals);
                }
                continue;
            }
            // The slot is taken now: once its write is submitted, the
            // delivery cannot be refused.
            let Some(permit) = tx.try_reserve() else {
                self.note_drop(&m.client_id, tx.budget(), false);
                continue;
            };
            if !tx.budget().try_charge(size, max_bytes) {
                self.note_drop(&m.client_id, tx.budget(), true);
                continue;
            }
            // One position for every session this message is queued for:
            // the store keeps the message once under it.
            let seq = *message_seq.get_or_insert_with(|| self.store.next_seq());
            outbound.seq = Some(seq);
            ops.push(Op::Enqueue {
                client: m.client_id.clone(),
                seq,
                queued: Queued {
                    outbound: outbound.clone(),
                    state: QueuedState::Queued,
                },
            });
            if batch {
                pending.push((i, outbound, Some(permit)));
            } else {
                sends.push((permit, outbound));
            }
        }
        let mut ticket = None;
        if batch {
            if !ops.is_empty() {
                routes.wait |= wait;
                routes.ops.append(&mut ops);
            }
        } else {
            if let Some(Remote::Stream { position, .. }) = remote {
                if !ops.is_empty() {
                    // Committed with the deliveries: on a restart the node
                    // resumes after them, never delivering them twice.
                    ops.push(Op::PutStreamPosition(position));
                }
            }
            // The store hears of a queued message before its subscriber can ack it.
            ticket = self.store.submit(ops, wait);
            for (permit, outbound) in sends {
                permit.send(outbound);
            }
        }
        if forward && !node_local {
            ticket = Ticket::both(ticket, self.backplane.publish(&message, wait));
        }
        if own {
            // The history and the alarms saw it when it was published.
            self.flush_routes(routes);
        } else if self.alarms.watches(&message.topic) {
            // The device topics the alarms watch are the history's too.
            self.history.record(&message.topic, &message.payload);
            // What the alarms publish in answer reaches subscribers after
            // the message itself.
            self.flush_routes(routes);
            self.publish_alarms(self.alarms.observe(&message));
        } else if routes.cache.pending.len() >= BATCH {
            self.flush_routes(routes);
        }
        Routed {
            ticket,
            subscribers,
        }
    }

    /// Submit a connection's batched store writes, then queue its batch of
    /// deliveries: one lock per subscriber. The writes' ticket is kept in
    /// `routes` for the connection to wait on.
    pub(crate) fn flush_routes(&self, routes: &mut Routes) {
        let wait = std::mem::take(&mut routes.wait);
        if !routes.ops.is_empty() {
            let ops = std::mem::take(&mut routes.ops);
            let ticket = self.store.submit(ops, wait);
            routes.ticket = Ticket::both(routes.ticket.take(), ticket);
        }
        let (matches, pending) = routes.cache.split();
        if pending.is_empty() {
            return;
        }
        // Stable: each subscriber's messages keep their order.
        pending.sort_by_key(|(i, _, _)| *i);
        let mut pending = pending.drain(..).peekable();
        while let Some(&(i, _, _)) = pending.peek() {
            let m = &matches[i];
            let run = std::iter::from_fn(|| {
                pending
                    .next_if(|(j, _, _)| *j == i)
                    .map(|(_, o, permit)| (o, permit))
            });
            let refusals = m
                .subscriber
                .tx
                .send_all_within(run, self.config.max_queued_bytes);
            self.note_refusals(&m.client_id, &m.subscriber.tx, refusals);
        }
    }

    /// Count what a mailbox refused as drops for `client_id`, by the limit reached.
    pub(crate) fn note_refusals(&self, client_id: &str, tx: &mailbox::Sender, refusals: Refusals) {
        for _ in 0..refusals.full {
            self.note_drop(client_id, tx.budget(), false);
        }
        for _ in 0..refusals.bytes {
            self.note_drop(client_id, tx.budget(), true);
        }
    }
}

/// What became of a routed message.
#[derive(Default)]
pub(crate) struct Routed {
    /// Wait on this before acknowledging: the message went to disk
    /// (retained, or QoS 1/2 for a persistent session).
    pub ticket: Option<Ticket>,
    /// The deliveries it matched (one per client, one per shared group);
    /// 0 tells an MQTT 5 publisher "No matching subscribers" (0x10).
    pub subscribers: usize,
}

/// Where a message from another node came from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Remote {
    /// Core NATS (QoS 0): at most once.
    Live,
    /// The cluster's stream, at `position`: this node's position there is
    /// stored with the deliveries the message causes. `catch_up`: published
    /// while this node was away, so only the sessions it kept get it (a
    /// client that subscribed since must not get older messages). `own`:
    /// this node published it, so only its persistent sessions get it now
    /// (the others had it when it was published).
    Stream {
        position: u64,
        catch_up: bool,
        own: bool,
    },
}

/// How often a connected persistent session's copy is kept in a cluster
/// when nothing waits for it: what a node that died sent since is sent
/// again (QoS 1, at least once).
const LIVE_COPY_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// A copy kept longer ago than this is written again before the session's
/// client may send a QoS 2 PUBLISH: a copy says where its session's writes
/// were stored up to, and a node rebuilding the session looks for the QoS 2
/// messages the copy missed only so long after it (`cluster::unanswered`).
pub(crate) const FRESH_COPY: std::time::Duration = std::time::Duration::from_secs(5);
/// Routes to at most this many subscribers are batched per connection read.
const BATCHED_MATCHES: usize = 4;
/// A connection's batch is queued once it holds this many deliveries.
const BATCH: usize = 64;

impl Shared {
    /// Add or replace `client_id`'s subscription to `filter` (validated;
    /// may be a `$share/` filter). Returns true when it is new, and a
    /// ticket to wait for before the SUBACK when the backplane needs one.
    pub(crate) fn subscribe(
        &self,
        client_id: &Arc<str>,
        filter: &str,
        subscription: Subscription,
        subscriber: Subscriber,
    ) -> (bool, Option<Ticket>) {
        let is_new = self
            .router
            .subscribe(client_id, filter, subscription, subscriber);
        let ticket = if is_new {
            self.backplane.subscribed(filter)
        } else {
            None
        };
        (is_new, ticket)
    }

    /// Remove one subscription; returns true when it existed.
    pub(crate) fn unsubscribe(&self, client_id: &str, filter: &str) -> bool {
        let removed = self.router.unsubscribe(client_id, filter);
        if removed {
            self.backplane.unsubscribed(filter);
        }
        removed
    }

    /// End a parked session after `expiry` seconds unless it was resumed
    /// (or replaced) by then; `u32::MAX` never expires.
    pub(crate) fn schedule_expiry(
        self: &Arc<Self>,
        client_id: Arc<str>,
        generation: u64,
        expiry: Duration,
    ) {
        let shared = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(expiry).await;
            if let Some(expired) = shared.registry.expire(&client_id, generation) {
                tracing::info!(client_id = %client_id, "session expired");
                shared.forget_session(&expired.session);
                if let Some(ids) = shared.client_ids.get() {
                    // No session waits here for it any more.
                    ids.release(&client_id);
                }
            }
        });
    }

    /// Remove a session's subscriptions from the router and its record
    /// (with its queue) from the store.
    pub(crate) fn forget_session(&self, session: &Session) {
        let filters: Vec<Box<str>> = session.filters().map(Box::from).collect();
        let removed = self
            .router
            .unsubscribe_all(&session.client_id, &filters, session.generation);
        for filter in removed {
            self.backplane.unsubscribed(filter);
        }
        if session.stored {
            let client = session.client_id.clone();
            self.store.submit(vec![Op::DeleteSession { client }], false);
        }
    }

    /// Tell the store what a session's last step changed. Returns a ticket
    /// when the client must not be answered (nor sent a QoS 2 message)
    /// before the commit.
    pub(crate) fn persist(&self, session: &mut Session, disconnected_at: u64) -> Option<Ticket> {
        let mut ops = Vec::new();
        let wait = self.session_writes(session, disconnected_at, &mut ops)?;
        let live = (disconnected_at == 0).then(|| self.keep_live(session, wait));
        Ticket::both(self.store.submit(ops, wait), live.flatten())
    }

    /// [`Shared::persist`] for a packet of a connection's read: its writes
    /// join the read's batch (`routes`), in order with what the read
    /// routed, so a read of fifty PUBACKs from a subscriber makes one store
    /// submission, not fifty. The read's ticket covers them.
    pub(crate) fn persist_in(&self, session: &mut Session, routes: &mut Routes) {
        if let Some(wait) = self.session_writes(session, 0, &mut routes.ops) {
            routes.wait |= wait;
            routes.copy = Some(routes.copy.unwrap_or(false) | wait);
        }
    }

    /// In a cluster, a connected persistent session's copy for the other
    /// nodes (see [`ClientIds::keep_live`]): before its client hears
    /// anything it must not hear twice (`wait`), and every
    /// [`LIVE_COPY_EVERY`] otherwise. None before the session took a
    /// message from the stream: its copy would not know where it stands.
    /// A connection's read asks once its writes are committed
    /// ([`Routes::take_copy`]).
    pub(crate) fn keep_live(&self, session: &mut Session, wait: bool) -> Option<Ticket> {
        let ids = self.client_ids.get()?;
        let at = session.stream_at;
        if at == 0 || !session.is_persistent() || !self.store.is_persistent() {
            return None;
        }
        // A shared group's turns not in a copy yet: the group counts them
        // delivered once one holds them (or their client acknowledged them).
        // Only when a copy can be kept: else the PUBACK finishes them.
        let turns = match ids.keeps_copies(&session.client_id) {
            true => session.take_receipts(),
            false => Vec::new(),
        };
        let since = session.since_copy_sent();
        let due = wait || !turns.is_empty() || since.is_none_or(|since| since >= LIVE_COPY_EVERY);
        if !due {
            return None;
        }
        session.copy_sent_now();
        // As if the client left now: should this node die, the session's
        // expiry counts from its last copy.
        let left = crate::store::now_unix_ms();
        let (record, queue) = (session.record(left), session.queue());
        ids.keep_live(&session.client_id, at, (record, queue), turns, wait)
    }

    /// In a cluster, whether a connected persistent session's last kept
    /// copy is too old for its client to send a QoS 2 PUBLISH
    /// ([`FRESH_COPY`]): the connection keeps a new one first
    /// ([`Shared::keep_live`], waited for).
    pub(crate) fn stale_copy(&self, session: &Session) -> bool {
        let Some(ids) = self.client_ids.get() else {
            return false;
        };
        session.stream_at != 0
            && session.is_persistent()
            && self.store.is_persistent()
            && ids
                .copy_kept_at(&session.client_id)
                .is_none_or(|kept| kept.elapsed() >= FRESH_COPY)
    }

    /// In a cluster, for a resent (DUP) QoS 2 PUBLISH whose packet id the
    /// session does not know: whether the dead node its session was rebuilt
    /// from stored it ([`ClientIds::stored_before`]); `None`: not asked.
    pub(crate) fn stored_before(
        &self,
        client_id: &str,
        message: &Message,
    ) -> Option<backplane::StoredCheck> {
        if message.retain {
            // Its retained value is a write of its own, which the dead node
            // may not have made: routed again (at least once).
            return None;
        }
        self.client_ids
            .get()?
            .stored_before(client_id, &message.topic, &message.payload)
    }

    /// The store writes of a session's last step, appended to `ops`, and
    /// whether its client must wait for their commit; `None` when nothing
    /// is kept.
    fn session_writes(
        &self,
        session: &mut Session,
        disconnected_at: u64,
        ops: &mut Vec<Op>,
    ) -> Option<bool> {
        if !self.store.is_persistent() {
            return None;
        }
        let client = session.client_id.clone();
        let mut wait = false;
        for event in session.take_store_events() {
            match event {
                StoreEvent::Queued(seq, qos, state) => {
                    // A QoS 2 PUBLISH (or PUBREL) leaves only once its
                    // state is stored: after a crash the PUBLISH goes again
                    // with its packet id and DUP, never as a new message,
                    // and none goes again after its PUBREL (exactly once).
                    wait |= qos == QoS::ExactlyOnce
                        && !matches!(state, crate::store::QueuedState::Queued);
                    ops.push(Op::PutQueued {
                        client: client.clone(),
                        seq,
                        state,
                    });
                }
                StoreEvent::Done(seq) => ops.push(Op::DeleteQueued {
                    client: client.clone(),
                    seq,
                }),
                StoreEvent::Session => wait = true,
            }
        }
        if wait || disconnected_at != 0 {
            if session.is_persistent() {
                ops.push(Op::PutSession {
                    client: client.clone(),
                    record: session.record(disconnected_at),
                });
                session.stored = true;
            } else if session.stored {
                ops.push(Op::DeleteSession {
                    client: client.clone(),
                });
                session.stored = false;
            }
        }
        Some(wait)
    }
}

/// Bring back the persistent sessions the store held: parked, subscribed,
/// with their queues, their expiry counting on from when the client left,
/// complete up to cluster stream position `stream_at` (0: none; see
/// `Session::stream_at`).
pub(crate) fn restore_sessions(shared: &Arc<Shared>, sessions: Vec<LoadedSession>, stream_at: u64) {
    let now = store::now_unix_ms();
    for loaded in sessions {
        let record = &loaded.record;
        tracing::debug!(client_id = %loaded.client, queued = loaded.queue.len(), "session restored");
        let away = if record.disconnected_at == 0 {
            0
        } else {
            now.saturating_sub(record.disconnected_at) / 1000
        };
        let left = u64::from(record.expiry_interval).saturating_sub(away);
        let generation = shared.registry.new_generation();
        let mut session = Session::restore(
            loaded.client.clone(),
            generation,
            server_limits(&shared.config),
            record,
            loaded.queue,
        );
        session.stream_at = stream_at;
        if left == 0 && record.expiry_interval != u32::MAX {
            shared.forget_session(&session);
            continue;
        }
        let (tx, rx) = mailbox::mailbox(shared.config.max_queued_messages);
        for (filter, options, id) in session.subscriptions() {
            let subscriber = Subscriber {
                connection: generation,
                tx: tx.clone(),
                persistent: true,
            };
            shared.subscribe(
                &loaded.client,
                filter,
                Subscription { options, id },
                subscriber,
            );
        }
        let parked = Parked {
            session,
            tx,
            rx,
            info: None,
        };
        shared.registry.park(loaded.client.clone(), parked);
        if record.expiry_interval != u32::MAX {
            shared.schedule_expiry(loaded.client, generation, Duration::from_secs(left));
        }
    }
}

impl Shared {
    /// The one check of an alarm rule a client publishes: a bad rule is
    /// logged, reported on `$kite/alarms/errors`, and refused.
    pub(crate) fn check_rule(&self, topic: &str, payload: &[u8]) -> Result<(), RuleError> {
        Alarms::check(topic, payload).inspect_err(|err| {
            tracing::info!(topic, %err, "alarm rule refused");
            self.publish_alarms(vec![Alarms::report(topic, err)]);
        })
    }

    /// Publish what the alarm engine answered (retained state, events).
    pub(crate) fn publish_alarms(&self, out: Vec<Publication>) {
        for p in out {
            self.publish_internal(Message {
                topic: p.topic.into(),
                payload: Bytes::from(p.payload),
                qos: QoS::AtLeastOnce,
                retain: p.retain,
                properties: Default::default(),
                origin: Arc::from("$kite/alarms"),
                expires_at: None,
            });
        }
    }

    /// Raise the `offline_for` alarms that fell due.
    pub(crate) fn tick_alarms(&self) {
        self.publish_alarms(self.alarms.tick(store::now_unix_ms()));
    }

    /// Drop retained messages whose expiry interval has passed, from
    /// memory and from the store, so neither grows with dead messages.
    pub(crate) fn drop_expired_retained(&self) {
        let expired = self.retained.remove_expired(Instant::now());
        if !expired.is_empty() {
            tracing::debug!(count = expired.len(), "expired retained messages removed");
            let ops = expired
                .into_iter()
                .map(|topic| Op::DeleteRetained { topic })
                .collect();
            self.store.submit(ops, false);
        }
    }

    /// What the policy of `client_id`'s connection checks against: the
    /// access rules in force and the counters.
    pub(crate) fn checks<'a>(&'a self, client_id: &'a str) -> Checks<'a> {
        Checks {
            client_id,
            access: &self.access,
            counters: &self.limits.counters,
            unkept: self.backplane.refusal(),
        }
    }

    /// What `$SYS` and `/metrics` show, now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let gauges = Gauges {
            subscriptions: self.router.count(),
            retained: self.retained.count(),
            uptime: self.started.elapsed(),
            history: self.history.gauges(),
            store: self.store.figures(),
        };
        Snapshot::new(
            &self.stats,
            &self.limits,
            gauges,
            self.registry.queue_counters(),
            self.bridges.figures(),
        )
    }

    /// A message dropped for one subscriber: counted globally
    /// (`messages/dropped`), per reason, and per client, and logged at the
    /// client's 1st, 2nd, 4th, 8th, … drop so a flood cannot flood the log.
    pub(crate) fn note_drop(&self, client_id: &str, budget: &QueueBudget, bytes_full: bool) {
        self.stats.messages_dropped.add(1);
        if bytes_full {
            crate::metrics::Counters::add(&self.limits.counters.queued_bytes_dropped);
        }
        let dropped = budget.dropped_one();
        if dropped.is_power_of_two() {
            let limit = if bytes_full {
                "--max-queued-bytes"
            } else {
                "--max-queued-messages"
            };
            tracing::warn!(
                client_id,
                dropped,
                queued_bytes = budget.bytes(),
                "queue full ({limit}): messages to this client dropped"
            );
        }
    }
}

#[cfg(test)]
mod tests;
