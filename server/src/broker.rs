//! The broker: shared state (router, retained store, client registry,
//! counters) and `run`, which starts the listeners and waits for shutdown.

use std::{
    future::Future,
    io,
    sync::Arc,
    time::{Duration, Instant},
};

use mqtt::QoS;
use tokio::sync::watch;

use crate::{
    alarms::Alarms,
    config::Config,
    counter::Counter,
    http, listener,
    mailbox::Refusals,
    message::{Message, Outbound},
    registry::{Parked, Registry},
    retained::{MemoryRetained, RetainedStore},
    router::{RouteCache, Router},
    router::{Subscriber, Subscription},
    session::{Session, StoreEvent},
    store::{self, LoadedSession, Op, QueuedState, Store, StoreError, Ticket},
    sys,
};

/// Why the broker could not run.
#[derive(thiserror::Error, Debug)]
pub enum BrokerError {
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bad setting or file (password file, ACL, certificates).
    #[error("{0}")]
    Config(String),
    #[error("HTTP server failed: {0}")]
    Http(io::Error),
}

/// Counters behind `$SYS` and `/metrics`.
/// Sharded per thread: most are bumped once per message on every core.
#[derive(Debug, Default)]
pub struct Stats {
    pub clients_connected: Counter,
    pub clients_total: Counter,
    pub messages_received: Counter,
    pub messages_sent: Counter,
    pub messages_dropped: Counter,
    pub bytes_received: Counter,
    pub bytes_sent: Counter,
}

/// State shared by every connection.
pub struct Shared {
    pub config: Config,
    pub router: Router,
    pub retained: Box<dyn RetainedStore>,
    pub stats: Stats,
    pub started: Instant,
    pub registry: Registry,
    pub store: Store,
    pub alarms: Alarms,
    /// The password file and ACL in force (swapped on SIGHUP).
    pub access: crate::auth::Access,
    /// Connection slots and the limit counters.
    pub limits: crate::limits::Limits,
    /// Flips to true when the broker shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Where a dormant connection's new task is spawned when it wakes.
    pub runtime: tokio::runtime::Handle,
}

impl Shared {
    /// Route a message: store it if retained, then hand it to each matching
    /// subscriber's queue. A full queue drops the message for that subscriber
    /// only. Returns a ticket to wait on before acknowledging, when the
    /// message went to disk (retained, or QoS 1/2 for a persistent session),
    /// and how many deliveries it matched.
    /// A connection passes its own `cache` of its last topic's subscribers.
    pub fn publish(&self, message: Message, cache: Option<&mut RouteCache>) -> Routed {
        self.stats.messages_received.add(1);
        if let Err(err) = Alarms::check(&message.topic, &message.payload) {
            // A bad alarm rule is neither routed nor stored.
            tracing::info!(topic = %message.topic, %err, "alarm rule refused");
            self.alarms.report(self, &message.topic, &err);
            return Routed::default();
        }
        // A client's QoS 1/2 or retained message is acknowledged after the store.
        let wait = message.qos != QoS::AtMostOnce || message.retain;
        self.route(message, wait, cache)
    }

    /// Route a message the broker itself made (`$SYS`, alarms, rules from the
    /// config file), without counting it as received. Nobody waits for its
    /// writes: they reach the disk within [`store::LAZY_SYNC`].
    pub fn publish_internal(&self, message: Message) {
        self.route(message, false, None);
    }

    fn route(&self, message: Message, wait: bool, cache: Option<&mut RouteCache>) -> Routed {
        let message = Arc::new(message);
        let mut ops = Vec::new();
        if message.retain {
            self.retained.retain(&message);
            if self.store.is_persistent() && !message.topic.starts_with("$SYS/") {
                ops.push(if message.payload.is_empty() {
                    Op::DeleteRetained {
                        topic: message.topic.clone(),
                    }
                } else {
                    Op::PutRetained {
                        topic: message.topic.clone(),
                        record: store::encode_retained(&message),
                    }
                });
            }
        }
        let mut scratch = RouteCache::default();
        let (cache, batching) = match cache {
            Some(cache) => (cache, true),
            None => (&mut scratch, false),
        };
        let generation = self.router.generation();
        if !cache.holds(&message.topic, generation) {
            // The batch points into the deliveries about to be replaced.
            self.flush_routes(cache);
            self.router
                .refresh(&message.topic, &message.origin, cache, generation);
        }
        let stored = |m: &crate::router::Match, qos: QoS| {
            m.subscriber.persistent && qos != QoS::AtMostOnce && self.store.is_persistent()
        };
        // A few subscribers, none stored to: the deliveries join the batch,
        // queued when the connection has handled what it read. A stored one
        // must follow its store write, so the batch goes first.
        let batch = batching
            && cache.holds(&message.topic, generation)
            && cache.matches().len() <= BATCHED_MATCHES
            && !cache
                .matches()
                .iter()
                .any(|m| stored(m, message.qos.min(m.qos)));
        if !batch {
            self.flush_routes(cache);
        }
        let subscribers = cache.matches().len();
        let size = crate::limits::queued_size(&message);
        let max_bytes = self.config.max_queued_bytes;
        let mut sends = Vec::new();
        let (matches, pending) = cache.split();
        for (i, m) in matches.iter().enumerate() {
            let qos = message.qos.min(m.qos);
            let mut outbound = Outbound {
                message: message.clone(),
                qos,
                // MQTT-3.3.1-12: retain is cleared unless retain-as-published.
                retain: message.retain && m.retain_as_published,
                subscription_ids: m.subscription_ids.clone(),
                seq: None,
            };
            let tx = &m.subscriber.tx;
            if batch {
                pending.push((i, outbound));
                continue;
            }
            if !stored(m, qos) {
                let refusals = tx.try_send_all_within([outbound], max_bytes);
                self.note_refusals(&m.client_id, tx, refusals);
                continue;
            }
            let Some(permit) = tx.try_reserve() else {
                crate::limits::note_drop(self, &m.client_id, tx.budget(), false);
                continue;
            };
            if !tx.budget().try_charge(size, max_bytes) {
                crate::limits::note_drop(self, &m.client_id, tx.budget(), true);
                continue;
            }
            let seq = self.store.next_seq();
            outbound.seq = Some(seq);
            ops.push(Op::PutQueued {
                client: m.client_id.clone(),
                seq,
                record: store::encode_queued(&outbound, QueuedState::Queued),
            });
            sends.push((permit, outbound));
        }
        // The store hears of a queued message before its subscriber can ack it.
        let ticket = self.store.submit(ops, wait);
        for (permit, outbound) in sends {
            permit.send(outbound);
        }
        if self.alarms.watches(&message.topic) {
            // What the alarms publish in answer reaches subscribers after
            // the message itself.
            self.flush_routes(cache);
            self.alarms.observe(self, &message);
        } else if pending.len() >= BATCH {
            self.flush_routes(cache);
        }
        Routed {
            ticket,
            subscribers,
        }
    }

    /// Queue a connection's batch of deliveries: one lock per subscriber.
    pub fn flush_routes(&self, cache: &mut RouteCache) {
        let (matches, pending) = cache.split();
        if pending.is_empty() {
            return;
        }
        // Stable: each subscriber's messages keep their order.
        pending.sort_by_key(|(i, _)| *i);
        let mut pending = pending.drain(..).peekable();
        while let Some(&(i, _)) = pending.peek() {
            let m = &matches[i];
            let run = std::iter::from_fn(|| pending.next_if(|(j, _)| *j == i).map(|(_, o)| o));
            let refusals = m
                .subscriber
                .tx
                .try_send_all_within(run, self.config.max_queued_bytes);
            self.note_refusals(&m.client_id, &m.subscriber.tx, refusals);
        }
    }

    /// Count what a mailbox refused as drops for `client_id`, by the limit reached.
    pub fn note_refusals(&self, client_id: &str, tx: &crate::mailbox::Sender, refusals: Refusals) {
        for _ in 0..refusals.full {
            crate::limits::note_drop(self, client_id, tx.budget(), false);
        }
        for _ in 0..refusals.bytes {
            crate::limits::note_drop(self, client_id, tx.budget(), true);
        }
    }
}

/// What became of a routed message.
#[derive(Default)]
pub struct Routed {
    /// Wait on this before acknowledging: the message went to disk
    /// (retained, or QoS 1/2 for a persistent session).
    pub ticket: Option<Ticket>,
    /// The deliveries it matched (one per client, one per shared group);
    /// 0 tells an MQTT 5 publisher "No matching subscribers" (0x10).
    pub subscribers: usize,
}

/// Routes to at most this many subscribers are batched per connection read.
const BATCHED_MATCHES: usize = 4;
/// A connection's batch is queued once it holds this many deliveries.
const BATCH: usize = 64;

impl Shared {
    /// End a parked session after `expiry` seconds unless it was resumed
    /// (or replaced) by then; `u32::MAX` never expires.
    pub fn schedule_expiry(
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
            }
        });
    }

    /// Remove a session's subscriptions from the router and its record
    /// (with its queue) from the store.
    pub fn forget_session(&self, session: &Session) {
        let filters: Vec<Box<str>> = session.filters().map(Box::from).collect();
        self.router
            .unsubscribe_all(&session.client_id, &filters, session.generation);
        if session.stored {
            let client = session.client_id.clone();
            self.store.submit(vec![Op::DeleteSession { client }], false);
        }
    }

    /// Tell the store what a session's last step changed. Returns a ticket
    /// when the client must not be answered before the commit.
    pub fn persist(&self, session: &mut Session, disconnected_at: u64) -> Option<Ticket> {
        if !self.store.is_persistent() {
            return None;
        }
        let client = session.client_id.clone();
        let mut ops = Vec::new();
        let mut wait = false;
        for event in session.take_store_events() {
            match event {
                StoreEvent::Queued(outbound, state) => {
                    if let Some(seq) = outbound.seq {
                        let record = store::encode_queued(&outbound, state);
                        ops.push(Op::PutQueued {
                            client: client.clone(),
                            seq,
                            record,
                        });
                    }
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
                let record = store::encode_session(&session.record(disconnected_at));
                ops.push(Op::PutSession {
                    client: client.clone(),
                    record,
                });
                session.stored = true;
            } else if session.stored {
                ops.push(Op::DeleteSession {
                    client: client.clone(),
                });
                session.stored = false;
            }
        }
        self.store.submit(ops, wait)
    }
}

/// Bring back the persistent sessions the store held: parked, subscribed,
/// with their queues, their expiry counting on from when the client left.
fn restore_sessions(shared: &Arc<Shared>, sessions: Vec<LoadedSession>) {
    let now = store::now_unix_ms();
    for loaded in sessions {
        let record = &loaded.record;
        let away = if record.disconnected_at == 0 {
            0
        } else {
            now.saturating_sub(record.disconnected_at) / 1000
        };
        let left = u64::from(record.expiry_interval).saturating_sub(away);
        let generation = shared.registry.new_generation();
        let session = Session::restore(
            loaded.client.clone(),
            generation,
            crate::limits::server_limits(&shared.config),
            record,
            loaded.queue,
        );
        if left == 0 && record.expiry_interval != u32::MAX {
            shared.forget_session(&session);
            continue;
        }
        let (tx, rx) = crate::mailbox::mailbox(shared.config.max_queued_messages);
        for (filter, options, id) in session.subscriptions() {
            let subscriber = Subscriber {
                connection: generation,
                tx: tx.clone(),
                persistent: true,
            };
            shared.router.subscribe(
                &loaded.client,
                filter,
                Subscription { options, id },
                subscriber,
            );
        }
        shared
            .registry
            .park(loaded.client.clone(), Parked { session, tx, rx });
        if record.expiry_interval != u32::MAX {
            shared.schedule_expiry(loaded.client, generation, Duration::from_secs(left));
        }
    }
}

/// Every 10 s, drop retained messages whose expiry interval has passed,
/// from memory and from the store, so neither grows with dead messages.
/// Wake dormant connections whose keepalive is due (they have no timer of their own).
async fn ring_keepalive_alarms(shared: Arc<Shared>) {
    let mut ticker = tokio::time::interval(crate::registry::ALARM_TICK);
    let mut stop = shared.shutdown.clone();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        shared.registry.ring_due(std::time::Instant::now());
    }
}

async fn sweep_expired_retained(shared: Arc<Shared>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(10));
    let mut stop = shared.shutdown.clone();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let expired = shared.retained.remove_expired(Instant::now());
        if !expired.is_empty() {
            tracing::debug!(count = expired.len(), "expired retained messages removed");
            let ops = expired
                .into_iter()
                .map(|topic| Op::DeleteRetained { topic })
                .collect();
            shared.store.submit(ops, false);
        }
    }
}

/// The addresses the broker listens on, once every listener is bound and
/// accepting. Printed as one line on standard output, a contract for
/// scripts and test harnesses: start with `--tcp 127.0.0.1:0` (any free
/// port) and read the ports the kernel chose from this line, instead of
/// guessing that whatever answers on a port is this broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    pub tcp: std::net::SocketAddr,
    pub http: std::net::SocketAddr,
    pub tls: Option<std::net::SocketAddr>,
}

impl std::fmt::Display for Ready {
    /// `kite-server ready tcp=ADDR http=ADDR[ tls=ADDR]`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{READY_PREFIX} tcp={} http={}", self.tcp, self.http)?;
        if let Some(tls) = self.tls {
            write!(f, " tls={tls}")?;
        }
        Ok(())
    }
}

/// How the ready line begins.
pub const READY_PREFIX: &str = "kite-server ready";

impl Ready {
    fn announce(&self) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{self}");
        let _ = out.flush();
    }
}

/// How long a shutdown waits for connections to end before it commits the
/// store and returns anyway.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// The Kite broker.
pub struct Broker {
    config: Config,
}

impl Broker {
    pub fn new(config: Config) -> Broker {
        Broker { config }
    }

    /// Bind every listener, serve until `shutdown` completes, then close all
    /// connections (v5 clients get DISCONNECT 0x8B).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), BrokerError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let access = crate::auth::Access::load(&self.config).map_err(BrokerError::Config)?;
        let tls = crate::tls::acceptor(&self.config).map_err(BrokerError::Config)?;
        let file_rules = match &self.config.alarm_rules {
            Some(path) => Alarms::load_file(path).map_err(BrokerError::Config)?,
            None => Vec::new(),
        };
        let opened = Instant::now();
        let (store, loaded) = Store::open(&self.config.data_dir, self.config.durability)?;
        let retained = MemoryRetained::default();
        for message in loaded.retained.iter() {
            retained.retain(&Arc::new(message.clone()));
        }
        let shared = Arc::new(Shared {
            config: self.config.clone(),
            router: Router::default(),
            retained: Box::new(retained),
            stats: Stats::default(),
            started: Instant::now(),
            registry: Registry::default(),
            store,
            access,
            limits: crate::limits::Limits::default(),
            alarms: Alarms::default(),
            shutdown: stop_rx,
            runtime: tokio::runtime::Handle::current(),
        });
        shared.alarms.restore(&loaded.retained);
        for (topic, payload) in file_rules {
            shared.publish_internal(Message {
                topic: topic.into(),
                payload: payload.into(),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: Default::default(),
                origin: Arc::from("$kite/config"),
                expires_at: None,
            });
        }
        let sessions = loaded.sessions.len();
        restore_sessions(&shared, loaded.sessions);
        if let Some(path) = shared.store.path() {
            tracing::info!(
                store = %path.display(),
                retained = loaded.retained.len(),
                sessions,
                "store loaded in {:?}",
                opened.elapsed()
            );
        }
        let tcp = listener::bind(self.config.tcp).map_err(|source| BrokerError::Bind {
            what: "MQTT over TCP",
            addr: self.config.tcp,
            source,
        })?;
        let web = listener::bind(self.config.http).map_err(|source| BrokerError::Bind {
            what: "HTTP and WebSocket",
            addr: self.config.http,
            source,
        })?;
        let mut ready = Ready {
            tcp: tcp.local_addr().map_err(BrokerError::Http)?,
            http: web.local_addr().map_err(BrokerError::Http)?,
            tls: None,
        };
        tracing::info!(
            tcp = %ready.tcp,
            http = %ready.http,
            "kite-server {} listening (MQTT over TCP; HTTP with WebSocket at /mqtt)",
            env!("CARGO_PKG_VERSION")
        );
        let tls_task = match (tls, self.config.tls) {
            (Some(acceptor), Some(addr)) => {
                let tls_listener = listener::bind(addr).map_err(|source| BrokerError::Bind {
                    what: "MQTT over TLS",
                    addr,
                    source,
                })?;
                let bound = tls_listener.local_addr().map_err(BrokerError::Http)?;
                ready.tls = Some(bound);
                tracing::info!(tls = %bound, "MQTT over TLS listening");
                let accept = crate::tls::accept_mqtt(tls_listener, acceptor, shared.clone());
                Some(tokio::spawn(accept))
            }
            _ => None,
        };
        crate::auth::announce(&shared);
        let tcp_task = tokio::spawn(listener::accept_tcp(tcp, shared.clone()));
        let http_task = tokio::spawn(http::serve(web, shared.clone()));
        tokio::spawn(Alarms::run_timers(shared.clone()));
        tokio::spawn(sweep_expired_retained(shared.clone()));
        tokio::spawn(ring_keepalive_alarms(shared.clone()));
        tokio::spawn(sys::publish_periodically(
            shared.clone(),
            std::time::Duration::from_secs(self.config.sys_interval),
        ));
        ready.announce();
        shutdown.await;
        let _ = stop_tx.send(true);
        // Dormant connections have no task to see the flag: wake them.
        shared.registry.kick_all();
        tcp_task.abort();
        if let Some(task) = tls_task {
            task.abort();
        }
        let _ = http_task.await;
        // Let every connection say goodbye (v5: DISCONNECT 0x8B) and hand
        // its session to the store, but not for ever.
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        while shared.stats.clients_connected.get() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = shared.stats.clients_connected.get();
        if left > 0 {
            tracing::warn!(
                left,
                "connections still open after {SHUTDOWN_WAIT:?}; closing anyway"
            );
        }
        // What nobody waited for may not be committed yet.
        if let Some(ticket) = shared.store.sync() {
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(5), ticket.committed()).await;
        }
        Ok(())
    }
}
