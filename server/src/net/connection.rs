//! One client connection: wait for CONNECT, answer CONNACK, then move bytes
//! between the transport, the sans-I/O [`Session`] and the broker until the
//! connection ends. Every way a connection ends passes through [`finish`].

use std::{
    future::poll_fn,
    net::SocketAddr,
    sync::{atomic::Ordering, Arc},
    task::Context,
    time::Duration,
};

use bytes::BytesMut;
use mqtt::{ConnAck, Connect, Disconnect, LastWill, Packet, Properties, Protocol, ReasonCode};
use tokio::time::{sleep_until, timeout_at, Instant};

use crate::{
    broker::Shared,
    metrics::{ConnectionSlot, Counters},
    net::connack::{client_id_for, connack_properties, refusal},
    net::dormant,
    net::transport::Transport,
    protocol::message::{Message, Outbound},
    protocol::session::{Action, ProtocolError, Session},
    routing::mailbox,
    routing::registry::{Kick, Parked},
    routing::router::{RouteCache, Subscriber, Subscription},
    security::auth::Origin,
    security::policy::ClientPolicy,
    store::{self, Ticket},
};

/// How long a closed connection still reads (and drops) what its peer
/// sends, so the peer gets to read why it was closed (see `Transport::linger`).
const LINGER: Duration = Duration::from_secs(2);

/// How a connection ended.
enum End {
    /// DISCONNECT from the client; the will is published only on request (v5 0x04).
    Normal { publish_will: bool },
    /// The peer closed or the transport failed: the will is published.
    Closed(String),
    /// We close because of this error; the will is published.
    Error(ProtocolError),
}

/// A connection past CONNECT and CONNACK: what its loop and its end need,
/// boxed, so that it can lie dormant without a task (see [`crate::net::dormant`]).
struct Live {
    transport: Transport,
    /// Bytes read and not yet decoded (part of a packet), kept while the
    /// loop is not running; boxed, as it is almost always empty.
    input: Option<Box<BytesMut>>,
    session: Session,
    tx: mailbox::Sender,
    rx: mailbox::Receiver,
    kick: Arc<Kick>,
    policy: ClientPolicy,
    shared: Arc<Shared>,
    connection: u64,
    /// Counts against `--max-connections` until the connection ends.
    _slot: ConnectionSlot,
    /// When the client must have been heard from by (1.5 × its keepalive).
    deadline: Option<Instant>,
}

/// How a turn of the connection's loop ended.
enum Turn {
    /// Nothing happened for `--dormant-after` milliseconds: lie dormant.
    Quiet,
    End(End),
}

/// Serve one connection to its end. Never panics on client input: whatever
/// the client sends, only this connection is affected.
///
/// The handshake and the end run boxed, so their state (the CONNECT, the
/// authentication, the CONNACK, the will) is on the heap only while they run.
/// Between them a quiet connection lies dormant, without a task.
pub async fn serve(
    transport: Transport,
    peer: SocketAddr,
    shared: Arc<Shared>,
    origin: Origin,
    slot: ConnectionSlot,
) {
    let handshake = handshake(transport, peer, &shared, origin, slot);
    let Some((live, connack_sent)) = Box::pin(handshake).await else {
        return;
    };
    match connack_sent {
        Ok(()) => drive(live).await,
        Err(end) => Box::pin(finish(live, end)).await,
    }
}

/// Run the connection until it ends, or until it lies dormant: then this task
/// ends, and [`dormant::Resume::resume`] starts a new one when something happens.
async fn drive(mut live: Box<Live>) {
    loop {
        match run(&mut live).await {
            Turn::Quiet => {
                let counters = &live.shared().limits.counters;
                counters.dormant.fetch_add(1, Ordering::Relaxed);
                counters.dormancies.fetch_add(1, Ordering::Relaxed);
                live.kick.slept();
                match dormant::lie_down(live, arm) {
                    Some(woken) => {
                        woken.awake();
                        live = woken;
                    }
                    None => return,
                }
            }
            Turn::End(end) => return Box::pin(finish(live, end)).await,
        }
    }
}

impl Live {
    fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// No longer dormant (woken, or ready before it lay down).
    fn awake(&self) {
        let counters = &self.shared().limits.counters;
        counters.dormant.fetch_sub(1, Ordering::Relaxed);
        self.kick.woken();
    }
}

impl dormant::Resume for Live {
    /// A dormant connection woke up: a new task takes it on.
    fn resume(self: Box<Self>) {
        self.awake();
        let runtime = self.shared().runtime.clone();
        runtime.spawn(drive(self));
    }
}

/// Give a dormant connection's waker to everything that can wake it: its
/// queue (while it takes messages), a kick, its keepalive, its socket (which
/// leaves tokio's reactor for the parking lot when it can). True when one of
/// them is ready already.
fn arm(live: &mut Live, cx: &mut Context<'_>) -> bool {
    if !matches!(live.transport, Transport::Tcp(_)) {
        return true;
    }
    if (takes_messages(&live.session, live.shared()) && live.rx.poll_ready(cx).is_ready())
        || live.kick.poll_kicked(cx).is_ready()
        || *live.shared().shutdown.borrow()
    {
        return true;
    }
    // The keepalive: the registry's sweep rings the kick when it is due.
    live.kick.set_wake_at(live.deadline.map(Instant::into_std));
    if live
        .deadline
        .is_some_and(|deadline| Instant::now() >= deadline)
    {
        return true;
    }
    if live.transport.park(cx.waker()) {
        return false;
    }
    match &live.transport {
        Transport::Tcp(stream) => stream.poll_read_ready(cx).is_ready(),
        // Lost while parking: the loop ends the connection.
        _ => true,
    }
}

/// CONNECT in, CONNACK out: `None` when the connection was refused (and is
/// closed); otherwise the connection, and whether the CONNACK went out.
async fn handshake(
    mut transport: Transport,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    origin: Origin,
    slot: ConnectionSlot,
) -> Option<(Box<Live>, Result<(), End>)> {
    let mut input = BytesMut::new();
    let connect_timeout = Duration::from_secs(shared.config.connect_timeout);
    // The connect timeout runs from accept, whatever came before (TLS handshake).
    let connect = match timeout_at(
        origin.accepted + connect_timeout,
        read_connect(&mut transport, &mut input, shared),
    )
    .await
    {
        Ok(Ok(connect)) => connect,
        Ok(Err(reason)) => {
            tracing::info!(%peer, transport = transport.kind(), "closed before CONNECT: {reason}");
            goodbye(transport).await;
            return None;
        }
        Err(_) => {
            Counters::add(&shared.limits.counters.connect_timeouts);
            tracing::info!(%peer, transport = transport.kind(), "no CONNECT within {connect_timeout:?}; closed");
            goodbye(transport).await;
            return None;
        }
    };
    let mut connect = connect;
    let protocol = connect.protocol;
    let max_keep_alive = shared.config.max_keepalive;
    if connect.keep_alive > max_keep_alive {
        Counters::add(&shared.limits.counters.keepalive_limited);
    }
    let server_keep_alive = if connect.keep_alive > max_keep_alive || connect.keep_alive == 0 {
        if !protocol.is_v5() && connect.keep_alive > max_keep_alive {
            // 3.1.1 has no way to tell the client; refuse as Mosquitto does.
            tracing::info!(%peer, keep_alive = connect.keep_alive, "refused: keepalive above --max-keepalive");
            let connack = refusal(ReasonCode::ClientIdentifierNotValid);
            let _ = write_packet(&mut transport, &connack, protocol, shared).await;
            goodbye(transport).await;
            return None;
        }
        // v5: CONNACK's Server Keep Alive overrides the client's (MQTT-3.2.2-21).
        (protocol.is_v5() && max_keep_alive < u16::MAX).then(|| {
            connect.keep_alive = max_keep_alive;
            max_keep_alive
        })
    } else {
        None
    };
    let Some((client_id, assigned)) = client_id_for(&connect) else {
        tracing::info!(%peer, "refused: empty client id with a persistent session");
        let connack = refusal(ReasonCode::ClientIdentifierNotValid);
        let _ = write_packet(&mut transport, &connack, protocol, shared).await;
        goodbye(transport).await;
        return None;
    };
    let authenticated = crate::security::auth::authenticate(
        &shared.access,
        &shared.config,
        &shared.limits.counters,
        &connect,
        &origin,
    );
    let username = match authenticated.await {
        Ok(username) => username,
        Err(code) => {
            tracing::info!(%peer, client_id = %client_id, user = ?connect.username, ?code, "refused: not authenticated");
            let _ = write_packet(&mut transport, &refusal(code), protocol, shared).await;
            goodbye(transport).await;
            return None;
        }
    };
    let mut policy = ClientPolicy::new(
        &shared.config,
        client_id.clone(),
        username.clone(),
        protocol,
    );
    if let Some(will) = &connect.will {
        if let Err(code) = policy.can_will(shared.checks(), &will.topic) {
            tracing::info!(%peer, client_id = %client_id, ?code, "refused: the will topic is not allowed");
            let _ = write_packet(&mut transport, &refusal(code), protocol, shared).await;
            goodbye(transport).await;
            return None;
        }
    }
    let kick = Arc::new(Kick::default());
    let resumes = !connect.clean_start;
    let (connection, parked) = shared
        .registry
        .attach(&client_id, kick.clone(), resumes)
        .await;
    shared.stats.clients_connected.add(1);
    shared.stats.clients_total.add(1);
    let limits = crate::protocol::session::server_limits(&shared.config);
    let (mut session, tx, rx, resent) = match parked {
        Some(mut parked) if !connect.clean_start => {
            let resent = parked.session.resume(&connect);
            (parked.session, parked.tx, parked.rx, Some(resent))
        }
        other => {
            if let Some(old) = other {
                // Clean start: the old session and its subscriptions go.
                shared.forget_session(&old.session);
            }
            let (tx, rx) = mailbox::mailbox(shared.config.max_queued_messages);
            let session = Session::new(&connect, client_id.clone(), connection, limits);
            (session, tx, rx, None)
        }
    };
    // A resumed session's record now says the client is back.
    drop(shared.persist(&mut session, 0));
    let connack = Packet::ConnAck(ConnAck {
        session_present: resent.is_some(),
        code: ReasonCode::Success,
        properties: Properties {
            server_keep_alive,
            ..connack_properties(&connect, assigned.then_some(&client_id), limits, shared)
        },
    });
    tracing::info!(%peer, transport = transport.kind(), client_id = %client_id, connection, user = ?username, ?protocol, session_present = resent.is_some(), "client connected");
    let mut output = BytesMut::new();
    encode(&connack, protocol, &mut output);
    for packet in resent.into_iter().flatten() {
        encode(&packet, protocol, &mut output);
    }
    shared
        .registry
        .set_queue(&client_id, connection, tx.clone());
    let sent = flush(&mut transport, &mut output, shared)
        .await
        .map_err(|err| End::Closed(err.to_string()));
    let live = Box::new(Live {
        deadline: keep_alive_limit(session.keep_alive).map(|k| Instant::now() + k),
        transport,
        // Kept even when empty: the first read after CONNECT reuses its room.
        input: Some(Box::new(input)),
        session,
        tx,
        rx,
        kick,
        policy,
        shared: shared.clone(),
        connection,
        _slot: slot,
    });
    Some((live, sent))
}

/// Read until a whole CONNECT arrives. Anything else first is a protocol error.
async fn read_connect(
    transport: &mut Transport,
    input: &mut BytesMut,
    shared: &Shared,
) -> Result<Connect, String> {
    loop {
        match mqtt::decode(input, Protocol::V311, shared.config.max_packet_size) {
            Ok(Some(Packet::Connect(connect))) => return Ok(*connect),
            Ok(Some(other)) => {
                return Err(format!(
                    "first packet was {:?}, not CONNECT",
                    other.packet_type()
                ))
            }
            // MQTT-3.1.0-1: the first packet is a CONNECT. An incomplete
            // packet of another type is refused now, not after waiting for as
            // many bytes as its header claims.
            Ok(None) => {
                if let Some(&first) = input.first().filter(|&&b| b != 0x10) {
                    return Err(format!("first byte {first:#04x} does not start a CONNECT"));
                }
            }
            Err(err) => {
                shared.limits.counters.note_decode_error(&err);
                if err.reason_code() == ReasonCode::UnsupportedProtocolVersion {
                    // MQTT-3.1.2-2: answer with return code 0x01 (3.1.1 form), then close.
                    let refusal = refusal(ReasonCode::UnsupportedProtocolVersion);
                    let _ = write_packet(transport, &refusal, Protocol::V311, shared).await;
                }
                return Err(format!("malformed CONNECT: {err}"));
            }
        }
        match transport.read(input).await {
            Ok(0) => return Err("peer closed".into()),
            Ok(n) => shared.stats.bytes_received.add(n as u64),
            Err(err) => return Err(err.to_string()),
        }
    }
}

/// The session's main loop: returns how the connection ended, or that it
/// has been quiet long enough to lie dormant.
async fn run(live: &mut Live) -> Turn {
    // Awake: the loop keeps its own keepalive timer, and tokio its socket.
    live.kick.set_wake_at(None);
    if let Err(err) = live.transport.unpark() {
        return Turn::End(End::Closed(err.to_string()));
    }
    let shared = live.shared().clone();
    let shared = &shared;
    let mut input = live.input.take().map(|input| *input).unwrap_or_default();
    let input = &mut input;
    let Live {
        transport,
        input: kept_input,
        session,
        tx,
        rx,
        kick,
        policy,
        deadline,
        ..
    } = live;
    let subscriber = Subscriber {
        connection: session.generation,
        tx: tx.clone(),
        persistent: session.is_persistent(),
    };
    let protocol = session.protocol;
    let mut output = BytesMut::new();
    let keep_alive = keep_alive_limit(session.keep_alive);
    // Only a TCP connection can wait on its socket without a task.
    let dormant_after = match transport {
        Transport::Tcp(_) if shared.config.dormant_after > 0 => {
            Some(kick.linger(Duration::from_millis(shared.config.dormant_after)))
        }
        _ => None,
    };
    let mut last_active = Instant::now();
    let mut shutdown = shared.shutdown.clone();
    let mut tickets = Vec::new();
    let mut delivered = false;
    let mut batch = std::collections::VecDeque::new();
    // Lives as long as this loop: a dormant connection keeps no routes.
    let mut routes = RouteCache::default();
    let timer = sleep_until(Instant::now() + Duration::from_secs(3600));
    tokio::pin!(timer);
    loop {
        // Packets that arrived together with CONNECT, or in the last read.
        // Before v5, a client over --max-publish-rate is not read until then.
        let mut paused_until = None;
        // How the packets stopped short, if they did: the end, and whether
        // what they answered is written first.
        let stopped = 'packets: loop {
            if let Some(until) = policy.throttle(&shared.limits.counters, input) {
                paused_until = Some(until);
                break None;
            }
            let packet = match mqtt::decode(input, protocol, shared.config.max_packet_size) {
                Ok(Some(packet)) => packet,
                Ok(None) => break None,
                Err(err) => {
                    shared.limits.counters.note_decode_error(&err);
                    break Some((End::Error(err.into()), false));
                }
            };
            let rule = |topic: &str, payload: &[u8]| {
                shared
                    .check_rule(topic, payload)
                    .map_err(|err| err.to_string())
            };
            let mut admit = policy.admit(shared.checks(), &rule);
            let actions = match session.handle_with(packet, &mut admit) {
                Ok(actions) => actions,
                Err(err) => break Some((End::Error(err), false)),
            };
            if let Some(err) = policy.end.take() {
                break Some((End::Error(err), false));
            }
            // The session answers a PUBLISH with Route, then its PUBACK/PUBREC.
            let mut unheard = false;
            for mut action in actions {
                if std::mem::take(&mut unheard) {
                    no_matching_subscribers(&mut action, protocol);
                }
                match apply(
                    action,
                    session,
                    &subscriber,
                    &mut output,
                    &mut routes,
                    shared,
                ) {
                    Applied::Done => {}
                    Applied::Wait(ticket) => tickets.push(ticket),
                    Applied::Unheard(ticket) => {
                        tickets.extend(ticket);
                        unheard = true;
                    }
                    Applied::End(end) => break 'packets Some((end, true)),
                }
            }
            tickets.extend(shared.persist(session, 0));
        };
        // What this read routed reaches its subscribers' queues now, one
        // lock per queue, before anything here waits or ends.
        shared.flush_routes(&mut routes);
        if let Some((end, answer)) = stopped {
            // Flushed once the actions are gone, so no packet waits in this future.
            if answer {
                flush(transport, &mut output, shared).await.ok();
            }
            return Turn::End(end);
        }
        // Nothing acknowledged leaves before it is committed.
        for ticket in tickets.drain(..) {
            if !ticket.committed().await {
                return Turn::End(End::Error(ProtocolError::StoreUnavailable));
            }
        }
        if let Err(err) = flush(transport, &mut output, shared).await {
            return Turn::End(End::Closed(err.to_string()));
        }
        if std::mem::take(&mut delivered) {
            // Let the publishers on this worker run before waiting on the
            // mailbox: the next batch is bigger, and fewer wake-ups cross to
            // the other worker (in a QoS 0 fan-in they had doubled the CPU
            // per message on some runs).
            tokio::task::yield_now().await;
        }
        // One timer: the keepalive deadline, or going dormant if sooner.
        let quiet_at = dormant_after
            .filter(|_| paused_until.is_none())
            .map(|after| last_active + after);
        let due = match (*deadline, quiet_at) {
            (Some(d), Some(q)) => Some(d.min(q)),
            (d, q) => d.or(q),
        };
        // One timer for the whole loop: moved later, it only updates its
        // deadline in place (no trip through the timer wheel per packet).
        if let Some(due) = due {
            if timer.deadline() != due {
                timer.as_mut().reset(due);
            }
        }
        tokio::select! {
            read = transport.read(input), if paused_until.is_none() => match read {
                Ok(0) => return Turn::End(End::Closed("peer closed the connection".into())),
                Ok(n) => {
                    shared.stats.bytes_received.add(n as u64);
                    last_active = Instant::now();
                    *deadline = keep_alive.map(|k| last_active + k);
                }
                Err(err) => return Turn::End(End::Closed(err.to_string())),
            },
            _ = sleep_until(paused_until.unwrap_or_else(Instant::now)), if paused_until.is_some() => {
                last_active = Instant::now();
                *deadline = keep_alive.map(|k| last_active + k);
            },
            outbound = rx.recv(), if takes_messages(session, shared) => {
                let Some(outbound) = outbound else {
                    return Turn::End(End::Closed("broker queue closed".into()));
                };
                // Take what else is queued (one lock), so one write carries many messages.
                rx.try_recv_batch(&mut batch, 255);
                for outbound in std::iter::once(outbound).chain(batch.drain(..)) {
                    rx.budget().release(crate::routing::budget::queued_size(&outbound.message));
                    if policy.can_read(shared.checks(), &outbound.message.topic) {
                        deliver(outbound, session, &mut output, shared);
                    } else {
                        session.discard(&outbound);
                    }
                }
                shared.persist(session, 0);
                delivered = true;
                last_active = Instant::now();
            },
            _ = &mut timer, if due.is_some() => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Turn::End(End::Error(ProtocolError::KeepAliveTimeout));
                }
                // A dormant connection holds no buffer, only part of a packet.
                if !input.is_empty() {
                    *kept_input = Some(Box::new(std::mem::take(input)));
                }
                session.settle();
                return Turn::Quiet;
            },
            _ = poll_fn(|cx| kick.poll_kicked(cx)) => {
                return Turn::End(End::Error(if *shared.shutdown.borrow() {
                    ProtocolError::ServerShuttingDown
                } else {
                    ProtocolError::SessionTakenOver
                }));
            },
            _ = shutdown.wait_for(|stopped| *stopped) => {
                return Turn::End(End::Error(ProtocolError::ServerShuttingDown));
            },
        }
    }
}

/// A client that does not acknowledge stops taking from its queue (which
/// then drops) instead of growing the inflight backlog: the loop and a
/// dormant connection's waker ask the same question.
fn takes_messages(session: &Session, shared: &Shared) -> bool {
    session.pending() < shared.config.max_queued_messages.max(1)
}

/// Keep alive enforced at 1.5 times the client's value (MQTT-3.1.2-24); 0 turns it off.
fn keep_alive_limit(keep_alive: u16) -> Option<Duration> {
    (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500))
}

/// What carrying out an action left to do.
enum Applied {
    Done,
    /// Wait for this commit before writing to the client.
    Wait(Ticket),
    /// A message no subscription matched (and its commit, if any): an MQTT 5
    /// acknowledgement that follows says 0x10 (No matching subscribers).
    Unheard(Option<Ticket>),
    End(End),
}

/// MQTT 5 (§3.4.2.1): a QoS 1/2 message that matched no subscription is
/// acknowledged with 0x10, as Mosquitto and EMQX do, so the publisher can
/// tell nobody listened. The message was still accepted (and retained).
fn no_matching_subscribers(action: &mut Action, protocol: Protocol) {
    if let Action::Send(Packet::PubAck(ack) | Packet::PubRec(ack)) = action {
        if protocol.is_v5() && ack.reason == ReasonCode::Success {
            ack.reason = ReasonCode::NoMatchingSubscribers;
        }
    }
}

/// Carry out one action of the session.
fn apply(
    action: Action,
    session: &mut Session,
    subscriber: &Subscriber,
    output: &mut BytesMut,
    routes: &mut RouteCache,
    shared: &Arc<Shared>,
) -> Applied {
    match action {
        Action::Send(packet) => encode(&packet, session.protocol, output),
        Action::Route(message) => {
            let routed = shared.publish(message, Some(routes));
            if routed.subscribers == 0 {
                return Applied::Unheard(routed.ticket);
            }
            if let Some(ticket) = routed.ticket {
                return Applied::Wait(ticket);
            }
        }
        Action::Subscribe {
            filter,
            options,
            id,
        } => {
            let subscription = Subscription { options, id };
            let is_new = shared.router.subscribe(
                &session.client_id,
                &filter,
                subscription,
                subscriber.clone(),
            );
            let send_retained = match options.retain_handling {
                mqtt::RetainHandling::SendAtSubscribe => true,
                mqtt::RetainHandling::SendIfNew => is_new,
                mqtt::RetainHandling::DoNotSend => false,
            };
            // MQTT-4.8.2-?: no retained messages for shared subscriptions.
            if send_retained && mqtt::topic::parse_shared(&filter).is_none() {
                // MQTT-3.3.1-9: retained messages keep the retain flag.
                let retained = shared
                    .retained
                    .matching(&filter)
                    .into_iter()
                    .map(|message| Outbound {
                        qos: message.qos.min(options.qos),
                        message,
                        retain: true,
                        subscription_ids: id.into_iter().collect(),
                        seq: None,
                    });
                let tx = &subscriber.tx;
                let refusals = tx.try_send_all_within(retained, shared.config.max_queued_bytes);
                shared.note_refusals(&session.client_id, tx, refusals);
            }
        }
        Action::Unsubscribe(filter) => {
            shared.router.unsubscribe(&session.client_id, &filter);
        }
        Action::Disconnect { publish_will } => return Applied::End(End::Normal { publish_will }),
    }
    Applied::Done
}

/// Hand one queued message to the session and encode what it sends.
fn deliver(outbound: Outbound, session: &mut Session, output: &mut BytesMut, shared: &Shared) {
    let pending = session.pending();
    let packets = session.deliver(outbound);
    if session.pending() > pending {
        Counters::add(&shared.limits.counters.inflight_waits);
    }
    for packet in packets {
        shared.stats.messages_sent.add(1);
        encode(&packet, session.protocol, output);
    }
}

fn encode(packet: &Packet, protocol: Protocol, output: &mut BytesMut) {
    if let Err(err) = mqtt::encode(packet, protocol, output) {
        // Only our own packets are encoded here; a failure is a broker bug.
        tracing::error!(%err, ?packet, "cannot encode an outgoing packet");
    }
}

async fn flush(
    transport: &mut Transport,
    output: &mut BytesMut,
    shared: &Shared,
) -> std::io::Result<()> {
    if output.is_empty() {
        return Ok(());
    }
    // The whole buffer goes (spare capacity included): an idle connection
    // holds no output buffer, the next packet takes a fresh one.
    let bytes = std::mem::take(output).freeze();
    shared.stats.bytes_sent.add(bytes.len() as u64);
    let stall = shared.config.write_timeout;
    let written = transport
        .write(bytes, (stall > 0).then(|| Duration::from_secs(stall)))
        .await;
    if written
        .as_ref()
        .is_err_and(|err| err.kind() == std::io::ErrorKind::TimedOut)
    {
        Counters::add(&shared.limits.counters.write_timeouts);
    }
    written
}

async fn write_packet(
    transport: &mut Transport,
    packet: &Packet,
    protocol: Protocol,
    shared: &Shared,
) -> std::io::Result<()> {
    let mut output = BytesMut::new();
    encode(packet, protocol, &mut output);
    flush(transport, &mut output, shared).await
}

/// Close politely, then read what the peer still sends in a task of its
/// own, for at most [`LINGER`].
async fn goodbye(mut transport: Transport) {
    transport.close().await;
    tokio::spawn(transport.linger(LINGER));
}

/// The one place a connection ends: tell a v5 client why, publish the will
/// when the end was abnormal, then park a persistent session or forget it.
async fn finish(live: Box<Live>, end: End) {
    let Live {
        mut transport,
        session,
        tx,
        rx,
        connection,
        shared,
        kick,
        ..
    } = *live;
    let shared = &shared;
    let parked = Parked { session, tx, rx };
    let session = &parked.session;
    let client_id = session.client_id.clone();
    let will_due = match &end {
        End::Normal { publish_will } => {
            tracing::info!(client_id = %client_id, connection, "client disconnected");
            *publish_will
        }
        End::Closed(reason) => {
            tracing::info!(client_id = %client_id, connection, "connection closed: {reason}");
            true
        }
        End::Error(err) => {
            tracing::info!(client_id = %client_id, connection, reason = ?err.reason_code(), "closing connection: {err}");
            if session.protocol.is_v5() {
                let disconnect = Packet::Disconnect(Disconnect {
                    reason: err.reason_code(),
                    properties: Properties {
                        reason_string: Some(err.to_string().into()),
                        ..Properties::default()
                    },
                });
                let _ = write_packet(&mut transport, &disconnect, session.protocol, shared).await;
            }
            match err {
                ProtocolError::ServerShuttingDown => false,
                // The session goes on in the new connection: it did not end,
                // so its will is not due (docs/sessions.md, "Wills").
                ProtocolError::SessionTakenOver => !(kick.resumed() && session.is_persistent()),
                _ => true,
            }
        }
    };
    // Taken over by a clean start, the session ends now, and with it any
    // Will Delay Interval (§3.1.3.2.2): the will goes at once.
    let session_ended = matches!(&end, End::Error(ProtocolError::SessionTakenOver));
    // The rest of the goodbye goes on without holding up the client id.
    goodbye(transport).await;
    let will = if will_due {
        session.will.as_deref().cloned()
    } else {
        None
    };
    shared.stats.clients_connected.sub(1);
    let session_expiry = session.expiry_interval;
    let mut parked = parked;
    if parked.session.is_persistent() {
        let generation = parked.session.generation;
        shared.persist(&mut parked.session, store::now_unix_ms());
        // Aliases are per connection (MQTT-3.3.2-7); what is in flight stays.
        parked.session.forget_aliases();
        parked.session.settle();
        shared.registry.detach(&client_id, connection, Some(parked));
        if session_expiry != u32::MAX {
            let expiry = Duration::from_secs(u64::from(session_expiry));
            shared.schedule_expiry(client_id.clone(), generation, expiry);
        }
    } else {
        shared.forget_session(&parked.session);
        shared.registry.detach(&client_id, connection, None);
    }
    if let Some(will) = will {
        let delay_bound = if session_ended { 0 } else { session_expiry };
        publish_will(will, client_id, delay_bound, shared);
    }
}

/// Publish a will now, or after its Will Delay Interval (v5) unless the
/// client is back by then. The session's end also ends the delay (§3.1.3.2.2).
fn publish_will(will: LastWill, client_id: Arc<str>, session_expiry: u32, shared: &Arc<Shared>) {
    let delay = will
        .properties
        .will_delay_interval
        .unwrap_or(0)
        .min(session_expiry);
    let message = Message::from_will(will, client_id.clone());
    if delay == 0 {
        shared.publish(message, None);
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(u64::from(delay))).await;
        if shared.registry.is_connected(&client_id) {
            tracing::debug!(client_id = %client_id, "client is back: delayed will dropped");
        } else {
            shared.publish(message, None);
        }
    });
}
