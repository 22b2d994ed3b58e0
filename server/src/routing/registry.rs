//! Which client ids are connected, and the sessions kept for clients that
//! are away (persistent sessions: clean session 0, or a v5 session expiry).
//!
//! A client id is held by at most one connection. A new connection with the
//! same id takes over: the old one is told to close and, once it has let go
//! of the id (parking its session or dropping it), the new one attaches.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering},
        Arc, Mutex, OnceLock,
    },
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use kite_convention::control::SessionView;
use mqtt::{Protocol, ReasonCode};

use crate::protocol::session::Session;

/// A session whose client is away: its state and its message queue, which
/// keeps filling (up to its bound) while nobody reads it.
#[derive(Debug)]
pub(crate) struct Parked {
    pub session: Session,
    pub tx: crate::routing::mailbox::Sender,
    pub rx: crate::routing::mailbox::Receiver,
    /// Its last connection's line, for who that was (`None`: restored
    /// from the store).
    pub info: Option<Arc<Kick>>,
}

/// What the clients view (`listSessions`) shows of one connection: set at
/// CONNECT, and the counters its loop stores after each turn (relaxed
/// stores, no lock). Part of the connection's [`Kick`], which the session
/// keeps when it is parked.
#[derive(Debug)]
pub(crate) struct ClientInfo {
    pub username: Option<Arc<str>>,
    pub address: PeerAddr,
    pub protocol: Protocol,
    pub transport: Via,
    /// Unix milliseconds.
    pub since_ms: u64,
    pub subscriptions: AtomicU32,
    pub in_flight: AtomicU32,
    /// The session expiry interval (a v5 DISCONNECT may change it).
    pub expiry: AtomicU32,
}

/// A client's address in 18 bytes where a `SocketAddr` takes 32 (an IPv4
/// address kept IPv4-mapped, an IPv6 scope id dropped). With it every
/// connection's [`Kick`] is a 128-byte chunk, not 144.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerAddr {
    ip: [u8; 16],
    /// Bytes, not a `u16`: alignment 1, so no padding next to the IP.
    port: [u8; 2],
}

impl From<SocketAddr> for PeerAddr {
    fn from(address: SocketAddr) -> PeerAddr {
        let ip = match address.ip() {
            std::net::IpAddr::V4(ip) => ip.to_ipv6_mapped(),
            std::net::IpAddr::V6(ip) => ip,
        };
        PeerAddr {
            ip: ip.octets(),
            port: address.port().to_be_bytes(),
        }
    }
}

impl std::fmt::Display for PeerAddr {
    /// As `SocketAddr` shows it: `1.2.3.4:1883`, `[::1]:1883`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = std::net::Ipv6Addr::from(self.ip);
        let port = u16::from_be_bytes(self.port);
        match ip.to_ipv4_mapped() {
            Some(v4) => write!(f, "{v4}:{port}"),
            None => write!(f, "[{ip}]:{port}"),
        }
    }
}

/// How a client came in. A byte in every connection's [`ClientInfo`]
/// where a `&'static str` took 16 (with the rest, a 96-byte allocation
/// instead of 112).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Tcp,
    Tls,
    /// A client inside the broker (a bridge's local side).
    Local,
    /// WebSocket, or WSS when the HTTP listener has `--cert`.
    Ws,
}

impl Via {
    /// As the clients view and the log show it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Via::Tcp => "tcp",
            Via::Tls => "tls",
            Via::Local => "local",
            Via::Ws => "ws",
        }
    }
}

impl ClientInfo {
    /// The counters after a turn of the connection's loop.
    pub(crate) fn update(&self, session: &Session) {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.subscriptions
            .store(count(session.subscription_count()), Ordering::Relaxed);
        self.in_flight
            .store(count(session.in_flight()), Ordering::Relaxed);
        self.expiry
            .store(session.expiry_interval, Ordering::Relaxed);
    }
}

#[derive(Debug)]
enum Slot {
    Online {
        connection: u64,
        kick: Arc<Kick>,
        /// The session's queue (for its counters), once the session is settled.
        queue: Option<crate::routing::mailbox::Sender>,
    },
    Parked(Box<Parked>),
}

/// The registry's line to one connection: tells it to close (a newer
/// connection took over its client id, or the broker is shutting down) and,
/// while it lies dormant, when to look at its keepalive. Unlike a `Notify`,
/// it wakes any waker, so it reaches a dormant connection, which has no task.
/// It also says who the connection is ([`ClientInfo`]): one allocation per
/// connection for both, not two (about 40 bytes less per idle connection).
#[derive(Debug)]
pub(crate) struct Kick {
    /// Who the connection is, for the clients view.
    pub info: ClientInfo,
    kicked: AtomicBool,
    /// Kicked by a new connection that continues this client's session
    /// (clean start 0): the session did not end, so no will is due.
    resumed: AtomicBool,
    /// Kicked through the `$CONTROL` API: the DISCONNECT's reason code
    /// (0: not by the API).
    reason: AtomicU8,
    /// How long the connection lingers before lying dormant:
    /// `--dormant-after` × 2^this (see [`Kick::woken`]).
    linger_shift: AtomicU8,
    /// When it last lay dormant, in milliseconds on the kick clock (wrapping).
    slept_ms: AtomicU32,
    /// When [`Registry::wake_due`] wakes the connection, in milliseconds
    /// since [`clock_base`]; 0 for never.
    wake_at_ms: AtomicU64,
    /// When the client must have been heard from by (1.5 × its keepalive),
    /// on the same clock; 0 for no keepalive. Kept here, not in the
    /// connection's state: that is 8 bytes smaller, and this allocation
    /// has room to spare in its 144-byte chunk.
    keepalive_ms: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

/// The zero of [`Kick`]'s clock.
fn clock_base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// `at` on [`Kick`]'s clock (never 0, which means no wake-up).
fn clock_ms(at: Instant) -> u64 {
    at.saturating_duration_since(clock_base()).as_millis() as u64 + 1
}

impl Kick {
    /// The line to a new connection of `info`'s client.
    pub(crate) fn new(info: ClientInfo) -> Kick {
        Kick {
            info,
            kicked: AtomicBool::new(false),
            resumed: AtomicBool::new(false),
            reason: AtomicU8::new(0),
            linger_shift: AtomicU8::new(0),
            slept_ms: AtomicU32::new(0),
            wake_at_ms: AtomicU64::new(0),
            keepalive_ms: AtomicU64::new(0),
            waker: Mutex::new(None),
        }
    }

    /// Taken over by a connection that continues the session (`resumes`),
    /// or that starts clean (the old session ends).
    pub(crate) fn take_over(&self, resumes: bool) {
        self.resumed.store(resumes, Ordering::SeqCst);
        self.kick();
    }

    /// Whether the connection that took over continues the session.
    pub(crate) fn resumed(&self) -> bool {
        self.resumed.load(Ordering::SeqCst)
    }

    /// Disconnected through the `$CONTROL` API with `reason`.
    pub(crate) fn disconnect(&self, reason: ReasonCode) {
        self.reason.store(reason as u8, Ordering::SeqCst);
        self.kick();
    }

    /// The reason given to [`Kick::disconnect`], if that was the kick.
    pub(crate) fn reason(&self) -> Option<ReasonCode> {
        match self.reason.load(Ordering::SeqCst) {
            0 | TAKEN_FOR_DEAD => None,
            code => ReasonCode::from_u8(code),
        }
    }

    /// The cluster took this node for dead, and the connection's will
    /// fired on another node: it ends without firing it again.
    pub(crate) fn taken_for_dead(&self) {
        self.reason.store(TAKEN_FOR_DEAD, Ordering::SeqCst);
        self.kick();
    }

    pub(crate) fn was_taken_for_dead(&self) -> bool {
        self.reason.load(Ordering::SeqCst) == TAKEN_FOR_DEAD
    }

    pub(crate) fn kick(&self) {
        self.kicked.store(true, Ordering::SeqCst);
        self.ring();
    }

    /// Wake whoever waits on this kick, without kicking.
    fn ring(&self) {
        let waker = self.waker.lock().expect("kick lock").take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Ready once kicked; until then `cx` is woken by the kick, or at its wake-up time.
    pub(crate) fn poll_kicked(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.kicked.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        {
            let mut waker = self.waker.lock().expect("kick lock");
            match &*waker {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
        }
        // A kick between the first look and the registration found no waker.
        if self.kicked.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// When the client must have been heard from by (`None`: no keepalive).
    pub(crate) fn keepalive_deadline(&self) -> Option<Instant> {
        match self.keepalive_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(clock_base() + Duration::from_millis(ms - 1)),
        }
    }

    /// The client must be heard from by `at` (`None`: no keepalive).
    pub(crate) fn set_keepalive_deadline(&self, at: Option<Instant>) {
        self.keepalive_ms
            .store(at.map_or(0, clock_ms), Ordering::Relaxed);
    }

    /// Wake the waiter at `at` (within [`KEEPALIVE_TICK`]); `None` clears it.
    /// One registry-wide sweep stands in for a timer per dormant connection.
    pub(crate) fn set_wake_at(&self, at: Option<Instant>) {
        self.wake_at_ms
            .store(at.map_or(0, clock_ms), Ordering::Relaxed);
    }
}

/// [`Kick`]'s `reason` once taken for dead: no DISCONNECT reason code.
const TAKEN_FOR_DEAD: u8 = 1;

/// A connection woken within this long after lying dormant is busy.
const BRIEF_SLEEP_MS: u32 = 1000;
/// At most `--dormant-after` × 2^this of lingering (10 ms → 1.28 s).
const MAX_LINGER_SHIFT: u8 = 7;

impl Kick {
    /// The connection lies dormant now. The waker of its last sleep goes:
    /// a wake-up can end without the loop polling the kick (under load its
    /// quiet timer may be due by the time the loop looks again, and
    /// `select!` may poll the timer before the kick), and that stale
    /// waker then kept the sleep's allocation shared, so the next sleep
    /// could not reuse it ([`crate::net::dormant`]): about 700 new ones per
    /// broadcast and ping sweep of 10,000 connections, each a lasting
    /// 32-byte chunk among the sweep's freed buffers, keeping their pages
    /// resident. Lying down registers the new waker at once.
    pub(crate) fn slept(&self) {
        *self.waker.lock().expect("kick lock") = None;
        let now = clock_ms(Instant::now()) as u32;
        self.slept_ms.store(now, Ordering::Relaxed);
    }

    /// The connection woke up. One that slept briefly is busy (a publisher
    /// waiting on its subscriber, a device every few milliseconds): it lingers
    /// twice as long next time, so it stops paying for lying down and waking
    /// up. One that slept long is quiet again: it lingers the base time.
    pub(crate) fn woken(&self) {
        let now = clock_ms(Instant::now()) as u32;
        let slept = now.wrapping_sub(self.slept_ms.load(Ordering::Relaxed));
        let shift = self.linger_shift.load(Ordering::Relaxed);
        let next = if slept < BRIEF_SLEEP_MS {
            (shift + 1).min(MAX_LINGER_SHIFT)
        } else {
            0
        };
        self.linger_shift.store(next, Ordering::Relaxed);
    }

    /// How long to stay awake with nothing to do, given `--dormant-after`.
    pub(crate) fn linger(&self, base: Duration) -> Duration {
        base * (1u32 << self.linger_shift.load(Ordering::Relaxed))
    }
}

/// How often [`Registry::wake_due`] should run: the lateness of a dormant
/// connection's keepalive timeout.
pub(crate) const KEEPALIVE_TICK: Duration = Duration::from_millis(250);

/// The client registry.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    clients: Mutex<HashMap<Arc<str>, Slot>>,
    next_connection: AtomicU64,
}

/// How long a new connection waits for the one it takes over to let go.
const TAKEOVER_WAIT: Duration = Duration::from_secs(5);

impl Registry {
    /// Claim `client_id` for a new connection, taking it over from a connected
    /// client if need be (`resumes`: the new connection continues the
    /// session, clean start 0). Returns the connection number and the parked
    /// session of this id, if there is one.
    pub(crate) async fn attach(
        &self,
        client_id: &Arc<str>,
        kick: Arc<Kick>,
        resumes: bool,
    ) -> (u64, Option<Parked>) {
        let connection = self.new_generation();
        let deadline = tokio::time::Instant::now() + TAKEOVER_WAIT;
        let mut kicked = false;
        loop {
            {
                let mut clients = self.clients.lock().expect("registry lock");
                match clients.get(client_id) {
                    Some(Slot::Online { kick: old, .. }) => {
                        if !kicked || tokio::time::Instant::now() >= deadline {
                            tracing::info!(client_id = %client_id, "client id taken over by a new connection");
                            old.take_over(resumes);
                            kicked = true;
                        }
                        if tokio::time::Instant::now() >= deadline {
                            // The old task is stuck (e.g. a blocked write): take the id anyway.
                            clients.insert(
                                client_id.clone(),
                                Slot::Online {
                                    connection,
                                    kick,
                                    queue: None,
                                },
                            );
                            return (connection, None);
                        }
                    }
                    _ => {
                        let previous = clients.insert(
                            client_id.clone(),
                            Slot::Online {
                                connection,
                                kick,
                                queue: None,
                            },
                        );
                        let parked = match previous {
                            Some(Slot::Parked(parked)) => Some(*parked),
                            _ => None,
                        };
                        return (connection, parked);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The connection is gone: park its session (persistent) or forget the id.
    /// Does nothing if a newer connection already holds the id.
    pub(crate) fn detach(&self, client_id: &Arc<str>, connection: u64, parked: Option<Parked>) {
        let mut clients = self.clients.lock().expect("registry lock");
        if !matches!(clients.get(client_id), Some(Slot::Online { connection: c, .. }) if *c == connection)
        {
            return;
        }
        match parked {
            Some(parked) => clients.insert(client_id.clone(), Slot::Parked(Box::new(parked))),
            None => clients.remove(client_id),
        };
    }

    /// Remove the parked session of `client_id` if it is still the one of
    /// `generation` (its session expiry ran out).
    pub(crate) fn expire(&self, client_id: &Arc<str>, generation: u64) -> Option<Parked> {
        let mut clients = self.clients.lock().expect("registry lock");
        match clients.get(client_id) {
            Some(Slot::Parked(parked)) if parked.session.generation == generation => {
                match clients.remove(client_id) {
                    Some(Slot::Parked(parked)) => Some(*parked),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// A new connection (or session) number.
    pub(crate) fn new_generation(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Keep a session restored from the store until its client comes back.
    pub(crate) fn park(&self, client_id: Arc<str>, parked: Parked) {
        let mut clients = self.clients.lock().expect("registry lock");
        clients.insert(client_id, Slot::Parked(Box::new(parked)));
    }

    /// Attach the session's queue counters to the connection holding
    /// `client_id`.
    pub(crate) fn set_queue(
        &self,
        client_id: &str,
        connection: u64,
        tx: crate::routing::mailbox::Sender,
    ) {
        let mut clients = self.clients.lock().expect("registry lock");
        if let Some(Slot::Online {
            connection: c,
            queue,
            ..
        }) = clients.get_mut(client_id)
        {
            if *c == connection {
                *queue = Some(tx);
            }
        }
    }

    /// Per-client queue counters (bytes queued, messages dropped) of every
    /// session, online or parked, that has queued or dropped anything.
    pub(crate) fn queue_counters(&self) -> Vec<(Arc<str>, u64, u64)> {
        let clients = self.clients.lock().expect("registry lock");
        let mut out: Vec<(Arc<str>, u64, u64)> = clients
            .iter()
            .filter_map(|(id, slot)| {
                let budget = match slot {
                    Slot::Online { queue, .. } => queue.as_ref()?.budget(),
                    Slot::Parked(parked) => parked.tx.budget(),
                };
                let (bytes, dropped) = (budget.bytes(), budget.dropped());
                (bytes > 0 || dropped > 0).then(|| (id.clone(), bytes, dropped))
            })
            .collect();
        out.sort();
        out
    }

    /// Call `f` with every connection's [`Kick`], under the registry's
    /// lock; how many there were.
    fn each_online(&self, mut f: impl FnMut(&Kick)) -> usize {
        let clients = self.clients.lock().expect("registry lock");
        let mut online = 0;
        for slot in clients.values() {
            if let Slot::Online { kick, .. } = slot {
                f(kick);
                online += 1;
            }
        }
        online
    }

    /// Tell every connected client's connection to close (shutdown).
    pub(crate) fn kick_all(&self) {
        self.each_online(Kick::kick);
    }

    /// Wake the connections whose wake-up time (see [`Kick::set_wake_at`]) is due.
    pub(crate) fn wake_due(&self, now: Instant) {
        let now = clock_ms(now);
        self.each_online(|kick| {
            let due = kick.wake_at_ms.load(Ordering::Relaxed);
            if due != 0 && due <= now {
                kick.wake_at_ms.store(0, Ordering::Relaxed);
                kick.ring();
            }
        });
    }

    /// Every connected client and parked session, sorted by client id.
    pub(crate) fn sessions(&self) -> Vec<SessionView> {
        let clients = self.clients.lock().expect("registry lock");
        let mut out: Vec<SessionView> = clients
            .iter()
            .map(|(id, slot)| match slot {
                Slot::Online { queue, kick, .. } => {
                    let info = &kick.info;
                    let mut view = view(id, Some(info), queue.as_ref(), true);
                    view.subscriptions = info.subscriptions.load(Ordering::Relaxed).into();
                    view.inflight = info.in_flight.load(Ordering::Relaxed).into();
                    view.expiry_interval = info.expiry.load(Ordering::Relaxed);
                    view
                }
                Slot::Parked(parked) => {
                    let session = &parked.session;
                    let mut view = view(
                        id,
                        parked.info.as_deref().map(|kick| &kick.info),
                        Some(&parked.tx),
                        false,
                    );
                    view.subscriptions = session.subscription_count() as u64;
                    view.inflight = session.in_flight() as u64;
                    view.expiry_interval = session.expiry_interval;
                    view
                }
            })
            .collect();
        out.sort_by(|a, b| a.clientid.cmp(&b.clientid));
        out
    }

    /// End every connection ([`Kick::taken_for_dead`]); how many ended.
    pub(crate) fn taken_for_dead(&self) -> usize {
        self.each_online(Kick::taken_for_dead)
    }

    /// Disconnect the connection holding `client_id` with `reason`; false
    /// when no connection holds it.
    pub(crate) fn disconnect(&self, client_id: &str, reason: ReasonCode) -> bool {
        let clients = self.clients.lock().expect("registry lock");
        match clients.get(client_id) {
            Some(Slot::Online { kick, .. }) => {
                kick.disconnect(reason);
                true
            }
            _ => false,
        }
    }

    /// Disconnect every connection whose user name `refused` says no
    /// longer may be connected; the client ids disconnected.
    pub(crate) fn disconnect_users(
        &self,
        refused: impl Fn(&str) -> bool,
        reason: ReasonCode,
    ) -> Vec<Arc<str>> {
        let clients = self.clients.lock().expect("registry lock");
        let mut out = Vec::new();
        for (id, slot) in clients.iter() {
            if let Slot::Online { kick, .. } = slot {
                if kick.info.username.as_deref().is_some_and(&refused) {
                    kick.disconnect(reason);
                    out.push(id.clone());
                }
            }
        }
        out
    }

    /// Take away the parked session of `client_id`. `Err(true)`: a
    /// connection holds the id; `Err(false)`: there is no such session.
    pub(crate) fn take_parked(&self, client_id: &str) -> Result<Parked, bool> {
        let mut clients = self.clients.lock().expect("registry lock");
        match clients.get(client_id) {
            Some(Slot::Parked(_)) => match clients.remove(client_id) {
                Some(Slot::Parked(parked)) => Ok(*parked),
                _ => Err(false),
            },
            Some(Slot::Online { .. }) => Err(true),
            None => Err(false),
        }
    }

    /// `f` of the parked session of `client_id`, under the registry's lock
    /// (`None`: no parked session of that id).
    pub(crate) fn with_parked<R>(
        &self,
        client_id: &str,
        f: impl FnOnce(&Parked) -> R,
    ) -> Option<R> {
        let clients = self.clients.lock().expect("registry lock");
        match clients.get(client_id) {
            Some(Slot::Parked(parked)) => Some(f(parked)),
            _ => None,
        }
    }

    /// Another node of the cluster connects `client_id`: close the
    /// connection here as a takeover (0x8E); the session goes on there
    /// when the client `resumes` it. False when no connection here holds
    /// the id.
    pub(crate) fn taken_elsewhere(&self, client_id: &str, resumes: bool) -> bool {
        let clients = self.clients.lock().expect("registry lock");
        match clients.get(client_id) {
            Some(Slot::Online { kick, .. }) => {
                kick.take_over(resumes);
                true
            }
            _ => false,
        }
    }

    /// The filters a parked session of `client_id` subscribes to (`None`:
    /// no parked session of that id).
    pub(crate) fn parked_filters(&self, client_id: &str) -> Option<Vec<String>> {
        self.with_parked(client_id, |p| {
            p.session.filters().map(String::from).collect()
        })
    }

    /// True when a connection holds `client_id` now.
    pub(crate) fn is_connected(&self, client_id: &str) -> bool {
        let clients = self.clients.lock().expect("registry lock");
        matches!(clients.get(client_id), Some(Slot::Online { .. }))
    }
}

/// The view of one session, its counters from the queue.
fn view(
    id: &str,
    info: Option<&ClientInfo>,
    queue: Option<&crate::routing::mailbox::Sender>,
    connected: bool,
) -> SessionView {
    let protocol = info.map(|i| match i.protocol {
        Protocol::V31 => "3.1",
        Protocol::V311 => "3.1.1",
        Protocol::V5 => "5",
    });
    SessionView {
        clientid: id.to_string(),
        username: info.and_then(|i| i.username.as_deref().map(str::to_string)),
        connected,
        address: info.map(|i| i.address.to_string()),
        protocol: protocol.map(str::to_string),
        transport: info.map(|i| i.transport.name().to_string()),
        connected_since: info.map(|i| i.since_ms),
        subscriptions: 0,
        inflight: 0,
        queued_messages: queue.map_or(0, |q| q.queued() as u64),
        queued_bytes: queue.map_or(0, |q| q.budget().bytes()),
        dropped: queue.map_or(0, |q| q.budget().dropped()),
        expiry_interval: 0,
    }
}

#[cfg(test)]
impl Default for Kick {
    /// A line to a TCP client at an unspecified address, for tests.
    fn default() -> Kick {
        Kick::new(ClientInfo {
            username: None,
            address: SocketAddr::from(([0, 0, 0, 0], 0)).into(),
            protocol: Protocol::V5,
            transport: Via::Tcp,
            since_ms: 0,
            subscriptions: AtomicU32::new(0),
            in_flight: AtomicU32::new(0),
            expiry: AtomicU32::new(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection keeps one `Arc<Kick>`: with the Arc's two counts,
    /// up to 104 bytes is a 128-byte chunk in glibc; 112 would take 144.
    #[test]
    fn a_kick_fits_a_128_byte_chunk() {
        let size = std::mem::size_of::<Kick>();
        assert!(size <= 104, "Kick is {size} bytes");
    }

    #[test]
    fn a_peer_address_shows_as_a_socket_address_does() {
        for address in [
            "10.1.2.3:1883",
            "[::1]:8080",
            "[2001:db8::7]:443",
            "0.0.0.0:0",
        ] {
            let socket: SocketAddr = address.parse().unwrap();
            assert_eq!(PeerAddr::from(socket).to_string(), address);
        }
        assert_eq!(std::mem::size_of::<PeerAddr>(), 18);
    }

    #[test]
    fn a_connection_woken_soon_after_lying_down_lingers_longer_and_a_quiet_one_does_not() {
        let kick = Kick::default();
        let base = Duration::from_millis(10);
        assert_eq!(kick.linger(base), base);
        for expected in [20, 40, 80, 160, 320, 640, 1280, 1280] {
            kick.slept();
            kick.woken();
            assert_eq!(kick.linger(base), Duration::from_millis(expected));
        }
        // Slept two seconds: quiet again.
        let now = clock_ms(Instant::now()) as u32;
        kick.slept_ms
            .store(now.wrapping_sub(2000), Ordering::Relaxed);
        kick.woken();
        assert_eq!(kick.linger(base), base);
    }

    #[test]
    fn a_kick_is_seen_whether_it_comes_before_or_after_the_wait() {
        let kick = Kick::default();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(kick.poll_kicked(&mut cx).is_pending());
        kick.kick();
        assert!(kick.poll_kicked(&mut cx).is_ready());
    }

    /// A dormant connection's waker is one allocation it reuses from one
    /// sleep to the next, only if nothing else still holds it.
    #[test]
    fn lying_down_lets_go_of_the_last_sleep_s_waker() {
        struct Sleep;
        impl std::task::Wake for Sleep {
            fn wake(self: Arc<Self>) {}
        }
        let kick = Kick::default();
        let sleep = Arc::new(Sleep);
        let waker = Waker::from(sleep.clone());
        assert!(kick
            .poll_kicked(&mut Context::from_waker(&waker))
            .is_pending());
        drop(waker);
        assert_eq!(Arc::strong_count(&sleep), 2, "the kick holds it");
        kick.slept();
        assert_eq!(Arc::strong_count(&sleep), 1, "and lets it go");
    }

    #[test]
    fn the_keepalive_sweep_wakes_only_due_connections() {
        let registry = Registry::default();
        let due = Arc::new(Kick::default());
        let later = Arc::new(Kick::default());
        let now = Instant::now();
        due.set_wake_at(Some(now));
        later.set_wake_at(Some(now + Duration::from_secs(60)));
        for (id, kick) in [("due", &due), ("later", &later)] {
            registry.clients.lock().unwrap().insert(
                Arc::from(id),
                Slot::Online {
                    connection: 1,
                    kick: kick.clone(),
                    queue: None,
                },
            );
        }
        registry.wake_due(now + Duration::from_millis(1));
        assert_eq!(
            due.wake_at_ms.load(Ordering::Relaxed),
            0,
            "rung and cleared"
        );
        assert_ne!(later.wake_at_ms.load(Ordering::Relaxed), 0, "not yet");
        assert!(!due.kicked.load(Ordering::Relaxed), "a ring is not a kick");
    }
}
