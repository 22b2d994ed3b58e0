//! One bridge at work: two MQTT client sessions, one to this broker (over
//! an in-memory pipe, `net::local`) and one to the remote, and the messages
//! between them. A message is acknowledged to the side it came from only
//! once the other side has acknowledged it, so what this broker queued for
//! the bridge stays in its store until the remote has it, and what the
//! remote sent stays the remote's until this broker stored it.
//!
//! - This side is a persistent MQTT 5 session, `$bridge/<name>`, that
//!   never expires: while the remote is away its QoS 1/2 messages wait in
//!   the broker's store like any persistent session's, and survive a
//!   restart. Its subscriptions are no-local (what the bridge brings in
//!   never goes back out) and retain-as-published.
//! - The remote side keeps one `ClientSession` across reconnections: with
//!   a session kept by the remote, its unacknowledged messages are sent
//!   again with DUP; without, the bridge sends them again itself.

use std::{
    collections::{HashMap, VecDeque},
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use bytes::Bytes;
use mqtt::{
    client::{ClientError, ClientEvent, ClientSession},
    Pid, Properties, Publish, QoS, ReasonCode, RetainHandling,
};
use tokio::{sync::watch, task::JoinHandle, time::Instant};

use super::{
    pipe::{flush, Pipe},
    remote::{Dialer, Stream},
    sessions::{
        bridge_filters, forwarded, local_client_id, local_options, publish_state, remote_options,
        CONNACK_TIMEOUT, LOCAL_INFLIGHT,
    },
    topics::Routes,
};
use crate::{
    broker::Shared,
    config::bridge::{BridgeConfig, BridgeProtocol},
    metrics::bridges::BridgeCounters,
};

/// QoS 1/2 messages in flight to an MQTT 3 remote (MQTT 5 says its own
/// Receive Maximum); the rest wait in the bridge's queue.
const REMOTE_WINDOW_V3: usize = 1024;
/// Bytes written to the remote and not yet taken, past which QoS 0
/// messages are dropped instead of queued in memory.
const REMOTE_BACKLOG: usize = 4 * 1024 * 1024;

/// A message from this broker on its way to the remote.
#[derive(Debug, Clone)]
struct Held {
    /// The remote topic.
    topic: String,
    publish: Publish,
    /// To acknowledge to this broker once the remote has it (QoS 1/2).
    local_pid: Option<Pid>,
    /// Order of arrival, to send again in order.
    seq: u64,
}

/// Where the remote connection stands.
enum Remote {
    /// Not connected; the next attempt is due then.
    Down {
        retry_at: Instant,
    },
    /// Opening the TCP (and TLS) connection.
    Dialing(JoinHandle<Result<Box<dyn Stream>, String>>),
    /// CONNECT sent; no CONNACK yet.
    Connecting {
        pipe: Pipe,
        deadline: Instant,
    },
    Up {
        pipe: Pipe,
    },
}

/// How [`Link::serve`] ended.
enum End {
    Stop,
    /// This broker's side closed (it is shutting down, or took the id over).
    LocalLost(String),
}

/// A bridge's state while it runs.
pub(crate) struct Link {
    config: BridgeConfig,
    routes: Routes,
    shared: Arc<Shared>,
    counters: Arc<BridgeCounters>,
    dialer: Arc<Dialer>,
    local: ClientSession,
    remote: ClientSession,
    remote_state: Remote,
    /// Which address the next attempt dials.
    next_address: usize,
    /// Connected to the remote at least once (a later connection is a reconnect).
    connected_before: bool,
    failures: u64,
    /// From this broker, waiting for the remote to be up.
    waiting: VecDeque<Held>,
    /// Sent to the remote, by its packet id there, awaiting its acknowledgement.
    pending_out: HashMap<Pid, Held>,
    /// Published here for the remote, by packet id here: (remote pid, QoS).
    pending_in: HashMap<Pid, (Pid, QoS)>,
    /// From the remote, waiting for room in this broker's Receive Maximum.
    inbound: VecDeque<Publish>,
    /// QoS 1/2 messages the remote takes unacknowledged (its Receive Maximum).
    remote_window: usize,
    /// QoS 1/2 messages this broker takes unacknowledged (its Receive Maximum).
    local_window: usize,
    next_seq: u64,
    epoch: Instant,
}

impl Link {
    pub(crate) fn new(
        config: BridgeConfig,
        shared: Arc<Shared>,
        counters: Arc<BridgeCounters>,
        dialer: Dialer,
    ) -> Link {
        let routes = Routes::new(&config.topic);
        let local = ClientSession::new(local_options(&config.name));
        let remote = ClientSession::new(remote_options(&config));
        Link {
            routes,
            shared,
            counters,
            dialer: Arc::new(dialer),
            local,
            remote,
            remote_state: Remote::Down {
                retry_at: Instant::now(),
            },
            next_address: 0,
            connected_before: false,
            failures: 0,
            waiting: VecDeque::new(),
            pending_out: HashMap::new(),
            pending_in: HashMap::new(),
            inbound: VecDeque::new(),
            remote_window: REMOTE_WINDOW_V3,
            local_window: usize::from(LOCAL_INFLIGHT),
            next_seq: 0,
            epoch: Instant::now(),
            config,
        }
    }

    /// Run until `stop` says so (or the broker shuts down).
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let both_ways = self.routes.both_ways();
        if !both_ways.is_empty()
            && self.config.protocol != BridgeProtocol::V5
            && !self.config.try_private
        {
            tracing::warn!(bridge = %self.config.name, topics = ?both_ways,
                "topics travel both ways to an MQTT 3 remote without try_private: the remote may send our own messages back (a loop)");
        }
        self.publish_state(false);
        loop {
            if *stop.borrow() {
                break;
            }
            let local = match self.connect_local().await {
                Ok(pipe) => pipe,
                Err(why) => {
                    tracing::warn!(bridge = %self.config.name, "cannot connect to this broker: {why}");
                    tokio::select! {
                        _ = stop.changed() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
            };
            match self.serve(local, &mut stop).await {
                End::Stop => break,
                End::LocalLost(why) => {
                    tracing::info!(bridge = %self.config.name, "this broker's side closed: {why}");
                    // What it had sent us comes again on the next connection.
                    self.forget_local_deliveries();
                }
            }
        }
        self.close_remote();
        self.publish_state(false);
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Connect to this broker and subscribe to what goes out.
    async fn connect_local(&mut self) -> Result<Pipe, String> {
        // Filters of an older rule set (the settings changed since the
        // session subscribed) go, or their messages would keep coming.
        let wanted = self.routes.local_subscriptions();
        let stale: Vec<String> = self
            .shared
            .registry
            .parked_filters(&local_client_id(&self.config.name))
            .unwrap_or_default()
            .into_iter()
            .filter(|f| !wanted.iter().any(|(w, _)| w == f))
            .collect();
        let stream = crate::net::local::connect(&self.shared).ok_or("--max-connections reached")?;
        let mut pipe = Pipe::new(Box::new(stream));
        let now = self.now_ms();
        self.local = ClientSession::new(local_options(&self.config.name));
        self.local.connect(now).map_err(|e| e.to_string())?;
        flush(&mut self.local, &pipe);
        // What came with the CONNACK (a resumed session's messages) is
        // handled once the subscriptions are asked for.
        let early = tokio::time::timeout(CONNACK_TIMEOUT, async {
            while let Some(bytes) = pipe.input.recv().await {
                let mut events = self
                    .local
                    .receive(&bytes, self.epoch.elapsed().as_millis() as u64)
                    .map_err(|e| e.to_string())?;
                if let Some(at) = events
                    .iter()
                    .position(|e| matches!(e, ClientEvent::Connected { .. }))
                {
                    let rest = events.split_off(at + 1);
                    if let Some(ClientEvent::Connected { properties, .. }) = events.pop() {
                        self.local_window =
                            usize::from(properties.receive_maximum.unwrap_or(u16::MAX));
                    }
                    return Ok(rest);
                }
            }
            Err("closed before CONNACK".to_string())
        })
        .await
        .map_err(|_| "no CONNACK".to_string())??;
        let filters = bridge_filters(self.routes.local_subscriptions(), RetainHandling::SendIfNew);
        if !filters.is_empty() {
            self.local
                .subscribe_with(filters, Properties::default(), self.now_ms())
                .map_err(|e| e.to_string())?;
        }
        if !stale.is_empty() {
            tracing::info!(bridge = %self.config.name, filters = ?stale, "no longer carried: unsubscribed here");
            let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
            self.local
                .unsubscribe(&stale, self.now_ms())
                .map_err(|e| e.to_string())?;
        }
        self.local_events(early)?;
        flush(&mut self.local, &pipe);
        Ok(pipe)
    }

    async fn serve(&mut self, mut local: Pipe, stop: &mut watch::Receiver<bool>) -> End {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut shutdown = self.shared.shutdown.clone();
        loop {
            self.maybe_dial();
            tokio::select! {
                _ = stop.changed() => return End::Stop,
                _ = shutdown.changed() => return End::Stop,
                bytes = local.input.recv() => match bytes {
                    Some(bytes) => {
                        if let Err(why) = self.on_local_bytes(&bytes) {
                            return End::LocalLost(why);
                        }
                    }
                    None => return End::LocalLost("closed".into()),
                },
                event = remote_event(&mut self.remote_state) => match event {
                    RemoteEvent::Bytes(Some(bytes)) => self.on_remote_bytes(&bytes),
                    RemoteEvent::Bytes(None) => {
                        self.remote_lost("the remote closed the connection".into())
                    }
                    RemoteEvent::Dialed(dialed) => self.dialed(dialed),
                },
                _ = tick.tick() => self.tick(),
            }
            flush(&mut self.local, &local);
            if let Remote::Connecting { pipe, .. } | Remote::Up { pipe } = &self.remote_state {
                flush(&mut self.remote, pipe);
            }
            let queued = self.waiting.len() + self.pending_out.len();
            self.counters.queued.store(queued as u64, Ordering::Relaxed);
        }
    }

    fn on_local_bytes(&mut self, bytes: &[u8]) -> Result<(), String> {
        let now = self.now_ms();
        let events = self.local.receive(bytes, now).map_err(|e| e.to_string())?;
        self.local_events(events)
    }

    fn local_events(&mut self, events: Vec<ClientEvent>) -> Result<(), String> {
        let now = self.now_ms();
        for event in events {
            match event {
                ClientEvent::Message(publish) => self.outgoing(publish),
                ClientEvent::Published { pid, reason } => {
                    if !reason.is_success() {
                        tracing::warn!(bridge = %self.config.name, ?reason, "this broker refused a message from the remote");
                    }
                    if let Some((remote_pid, qos)) = self.pending_in.remove(&pid) {
                        let _ = self.remote.acknowledge(remote_pid, qos, now);
                    }
                    self.drain_inbound();
                }
                ClientEvent::Subscribed { reasons, .. } => {
                    if let Some(bad) = reasons.iter().find(|r| !r.is_success()) {
                        tracing::warn!(bridge = %self.config.name, reason = ?bad, "a local subscription was refused");
                    }
                }
                ClientEvent::Disconnected { reason } => {
                    return Err(format!("DISCONNECT {reason:?}"))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A message from this broker: to the remote, or held until it is up.
    fn outgoing(&mut self, publish: Publish) {
        let Some(topic) = self.routes.outgoing(&publish.topic) else {
            // A subscription of an older rule set: nothing carries it now.
            if let Some(pid) = publish.pid {
                let _ = self.local.acknowledge(pid, publish.qos, self.now_ms());
            }
            return;
        };
        self.next_seq += 1;
        let held = Held {
            topic,
            local_pid: publish.pid,
            publish,
            seq: self.next_seq,
        };
        self.hold(held);
        self.drain_waiting();
    }

    /// Send what waits, in order, as far as the remote's window lets.
    fn drain_waiting(&mut self) {
        while matches!(self.remote_state, Remote::Up { .. }) {
            let Some(front) = self.waiting.front() else {
                return;
            };
            if front.publish.qos != QoS::AtMostOnce && self.pending_out.len() >= self.remote_window
            {
                return;
            }
            let held = self.waiting.pop_front().expect("just looked");
            self.send_remote(held);
        }
    }

    fn hold(&mut self, held: Held) {
        let held_qos0 = held.publish.qos == QoS::AtMostOnce;
        if held_qos0 && self.waiting.len() >= self.config.max_queued_messages {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.waiting.push_back(held);
    }

    fn send_remote(&mut self, held: Held) {
        let Remote::Up { pipe } = &self.remote_state else {
            self.hold(held);
            return;
        };
        let qos = held.publish.qos;
        if qos == QoS::AtMostOnce && pipe.backlog.load(Ordering::Relaxed) > REMOTE_BACKLOG {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let now = self.now_ms();
        let publish = &held.publish;
        match self.remote.publish_with(
            &held.topic,
            publish.payload.clone(),
            qos,
            publish.retain,
            forwarded(&publish.properties),
            now,
        ) {
            Ok(Some(pid)) => {
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
                self.pending_out.insert(pid, held);
            }
            Ok(None) => {
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                tracing::debug!(bridge = %self.config.name, %err, "held for later");
                self.waiting.push_front(held);
            }
        }
    }

    fn on_remote_bytes(&mut self, bytes: &[u8]) {
        let now = self.now_ms();
        let events = match self.remote.receive(bytes, now) {
            Ok(events) => events,
            Err(ClientError::Refused(ReasonCode::UnsupportedProtocolVersion))
                if self.remote.options().bridge =>
            {
                return self.without_try_private();
            }
            Err(err) => return self.remote_lost(err.to_string()),
        };
        for event in events {
            match event {
                ClientEvent::Connected {
                    session_present,
                    properties,
                } => {
                    self.remote_window = properties
                        .receive_maximum
                        .map_or(REMOTE_WINDOW_V3, usize::from);
                    self.remote_up(session_present)
                }
                ClientEvent::Message(publish) => self.incoming(publish),
                ClientEvent::Published { pid, reason } => {
                    if !reason.is_success() {
                        tracing::warn!(bridge = %self.config.name, ?reason, "the remote refused a message");
                    }
                    if let Some(held) = self.pending_out.remove(&pid) {
                        if let Some(local_pid) = held.local_pid {
                            let _ = self.local.acknowledge(local_pid, held.publish.qos, now);
                        }
                    }
                    self.drain_waiting();
                }
                ClientEvent::Subscribed { reasons, .. } => {
                    if let Some(bad) = reasons.iter().find(|r| !r.is_success()) {
                        tracing::warn!(bridge = %self.config.name, reason = ?bad, "the remote refused a subscription");
                    }
                }
                ClientEvent::Disconnected { reason } => {
                    return self.remote_lost(format!("the remote disconnected: {reason:?}"))
                }
                _ => {}
            }
        }
    }

    /// A message from the remote: publish it here; the remote's
    /// acknowledgement waits for this broker's.
    fn incoming(&mut self, publish: Publish) {
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        self.inbound.push_back(publish);
        self.drain_inbound();
    }

    /// Publish here what came from the remote, in order, as far as this
    /// broker's window lets.
    fn drain_inbound(&mut self) {
        while let Some(front) = self.inbound.front() {
            if front.qos != QoS::AtMostOnce && self.pending_in.len() >= self.local_window {
                return;
            }
            let publish = self.inbound.pop_front().expect("just looked");
            self.publish_here(publish);
        }
    }

    fn publish_here(&mut self, publish: Publish) {
        let now = self.now_ms();
        let Some(topic) = self.routes.incoming(&publish.topic) else {
            if let Some(pid) = publish.pid {
                let _ = self.remote.acknowledge(pid, publish.qos, now);
            }
            return;
        };
        let published = self.local.publish_with(
            &topic,
            publish.payload.clone(),
            publish.qos,
            publish.retain,
            forwarded(&publish.properties),
            now,
        );
        match (published, publish.pid) {
            (Ok(Some(local_pid)), Some(remote_pid)) => {
                self.pending_in.insert(local_pid, (remote_pid, publish.qos));
            }
            (Ok(_), _) => {}
            (Err(err), pid) => {
                // Not acknowledged: the remote sends it again.
                tracing::warn!(bridge = %self.config.name, %err, ?pid, "could not publish a message from the remote here");
            }
        }
    }

    fn remote_up(&mut self, session_present: bool) {
        let pipe = match std::mem::replace(
            &mut self.remote_state,
            Remote::Down {
                retry_at: Instant::now(),
            },
        ) {
            Remote::Connecting { pipe, .. } | Remote::Up { pipe } => pipe,
            other => {
                self.remote_state = other;
                return;
            }
        };
        self.remote_state = Remote::Up { pipe };
        self.failures = 0;
        if self.connected_before {
            self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        self.connected_before = true;
        self.counters.up.store(true, Ordering::Relaxed);
        self.publish_state(true);
        tracing::info!(bridge = %self.config.name, session_present, waiting = self.waiting.len(), unacknowledged = self.pending_out.len(), "connected to the remote");
        let filters = bridge_filters(
            self.routes.remote_subscriptions(),
            RetainHandling::SendAtSubscribe,
        );
        if !filters.is_empty() {
            let now = self.now_ms();
            if let Err(err) = self
                .remote
                .subscribe_with(filters, Properties::default(), now)
            {
                tracing::warn!(bridge = %self.config.name, %err, "cannot subscribe on the remote");
            }
        }
        if !session_present {
            // The remote forgot what it had not acknowledged: send it again, first.
            let mut lost: Vec<Held> = self.pending_out.drain().map(|(_, held)| held).collect();
            lost.sort_by_key(|held| std::cmp::Reverse(held.seq));
            for held in lost {
                self.waiting.push_front(held);
            }
        }
        self.drain_waiting();
    }

    /// The remote refused a CONNECT marked as a bridge's (its protocol
    /// level with the 0x80 bit): it does not know `try_private`. Connect
    /// again without the mark, as Mosquitto's bridges do; what the remote
    /// then echoes of our own messages may loop on `both` topics.
    fn without_try_private(&mut self) {
        let both_ways = self.routes.both_ways();
        if both_ways.is_empty() {
            tracing::info!(bridge = %self.config.name, "the remote does not take try_private: connecting as a plain client");
        } else {
            tracing::warn!(bridge = %self.config.name, topics = ?both_ways,
                "the remote does not take try_private: connecting as a plain client; topics both ways may come back (a loop)");
        }
        let mut options = remote_options(&self.config);
        options.bridge = false;
        // The refused connection had no session; what waited for the remote
        // is still in `pending_out` and goes again once connected.
        self.remote = ClientSession::new(options);
        self.remote_state = Remote::Down {
            retry_at: Instant::now(),
        };
    }

    fn remote_lost(&mut self, why: String) {
        let was_up = matches!(self.remote_state, Remote::Up { .. });
        self.failures += 1;
        if was_up || self.failures.is_power_of_two() {
            tracing::warn!(bridge = %self.config.name, failures = self.failures, "remote connection lost: {why}");
        }
        let retry = Duration::from_secs(self.config.restart_timeout.max(1));
        self.remote_state = Remote::Down {
            retry_at: Instant::now() + if was_up { Duration::ZERO } else { retry },
        };
        if was_up {
            self.counters.up.store(false, Ordering::Relaxed);
            self.publish_state(false);
        }
    }

    fn maybe_dial(&mut self) {
        let Remote::Down { retry_at } = self.remote_state else {
            return;
        };
        if Instant::now() < retry_at {
            return;
        }
        let addresses = &self.config.addresses;
        let address = addresses[self.next_address % addresses.len()].clone();
        self.next_address += 1;
        let dialer = self.dialer.clone();
        self.remote_state = Remote::Dialing(tokio::spawn(async move {
            dialer
                .dial(&address)
                .await
                .map_err(|err| format!("{address}: {err}"))
        }));
    }

    fn dialed(&mut self, dialed: Result<Box<dyn Stream>, String>) {
        let stream = match dialed {
            Ok(stream) => stream,
            Err(why) => return self.remote_lost(why),
        };
        let pipe = Pipe::new(stream);
        if let Err(err) = self.remote.connect(self.now_ms()) {
            return self.remote_lost(err.to_string());
        }
        self.remote_state = Remote::Connecting {
            pipe,
            deadline: Instant::now() + CONNACK_TIMEOUT,
        };
    }

    fn tick(&mut self) {
        let now = self.now_ms();
        let _ = self.local.tick(now);
        match &self.remote_state {
            Remote::Connecting { deadline, .. } if Instant::now() > *deadline => {
                self.remote_lost("no CONNACK".into());
            }
            Remote::Up { .. } => {
                if let Err(err) = self.remote.tick(now) {
                    self.remote_lost(err.to_string());
                }
            }
            _ => {}
        }
    }

    /// This broker's side went away: what it sent and we did not
    /// acknowledge comes again with the next connection.
    /// What we published here and this broker had not acknowledged may be
    /// lost too: the remote sends it again on a new connection (QoS 2
    /// copies delivered again, not taken for ones already handled).
    fn forget_local_deliveries(&mut self) {
        self.waiting.retain(|held| held.local_pid.is_none());
        if !self.pending_in.is_empty() || !self.inbound.is_empty() {
            self.pending_in.clear();
            self.inbound.clear();
            self.remote.forget_unacknowledged();
            self.close_remote();
            self.publish_state(false);
        }
    }

    fn close_remote(&mut self) {
        if let Remote::Up { pipe } = &self.remote_state {
            let _ = self.remote.disconnect(self.now_ms());
            flush(&mut self.remote, pipe);
        }
        if let Remote::Dialing(task) = &self.remote_state {
            task.abort();
        }
        self.counters.up.store(false, Ordering::Relaxed);
        // Dropping the pipe lets its writer finish and close.
        self.remote_state = Remote::Down {
            retry_at: Instant::now(),
        };
    }

    /// `$SYS/broker/connection/<name>/state`, retained: 1 up, 0 down
    /// (Mosquitto's topic and values).
    fn publish_state(&self, up: bool) {
        publish_state(&self.shared, &self.config.name, Some(up));
    }
}

/// What the remote side brought.
enum RemoteEvent {
    /// Bytes read; `None`: the connection closed.
    Bytes(Option<Bytes>),
    /// The outcome of dialing.
    Dialed(Result<Box<dyn Stream>, String>),
}

/// The remote side's next event; pending forever while it waits to dial.
async fn remote_event(state: &mut Remote) -> RemoteEvent {
    match state {
        Remote::Connecting { pipe, .. } | Remote::Up { pipe } => {
            RemoteEvent::Bytes(pipe.input.recv().await)
        }
        Remote::Dialing(task) => RemoteEvent::Dialed(match task.await {
            Ok(result) => result,
            Err(err) => Err(err.to_string()),
        }),
        Remote::Down { .. } => std::future::pending().await,
    }
}
