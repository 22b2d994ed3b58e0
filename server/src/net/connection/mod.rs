//! One client connection: wait for CONNECT, answer CONNACK, then move bytes
//! between the transport, the sans-I/O [`Session`] and the broker until the
//! connection ends. Every way a connection ends passes through
//! [`end::finish`].
//!
//! - `handshake`: CONNECT in, CONNACK out.
//! - `end`: the DISCONNECT, the close, the will, the session parked or forgotten.

mod end;
mod handshake;

use end::{finish, goodbye};
use handshake::handshake;

use std::{
    future::poll_fn,
    net::SocketAddr,
    sync::{atomic::Ordering, Arc},
    task::Context,
    time::Duration,
};

use bytes::BytesMut;
use kite_convention::{control::REQUEST_TOPIC, history::QUERY_TOPIC};
use mqtt::{Packet, Protocol, QoS, ReasonCode};
use tokio::time::{sleep_until, Instant};

use crate::{
    broker::{Routes, Shared},
    metrics::{ConnectionSlot, Counters},
    net::{dormant, transport::Transport},
    protocol::{
        message::Outbound,
        session::{Action, ProtocolError, Session},
    },
    routing::{
        mailbox,
        registry::Kick,
        router::{Subscriber, Subscription},
    },
    security::{auth::Origin, policy::ClientPolicy},
    store::Ticket,
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
    /// The registry's line to it, with what the clients view shows of it.
    kick: Arc<Kick>,
    policy: ClientPolicy,
    shared: Arc<Shared>,
    connection: u64,
    /// Counts against `--max-connections` until the connection ends.
    _slot: ConnectionSlot,
    /// The waker's allocation from the last time it lay dormant, for the next.
    bed: Option<dormant::Bed<Live>>,
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
pub(crate) async fn serve(
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
                let bed = live.bed.take();
                match dormant::lie_down(live, bed, arm) {
                    Some((mut woken, bed)) => {
                        woken.awake();
                        woken.bed = Some(bed);
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
    fn resume(mut self: Box<Self>, bed: dormant::Bed<Self>) {
        self.bed = Some(bed);
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
    let deadline = live.kick.keepalive_deadline();
    live.kick.set_wake_at(deadline);
    if deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
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
        ..
    } = live;
    // When the client must have been heard from by (1.5 × its keepalive).
    let mut deadline = kick.keepalive_deadline().map(Instant::from_std);
    let subscriber = Subscriber {
        connection: session.generation,
        tx: tx.clone(),
        persistent: session.is_persistent(),
    };
    let protocol = session.protocol;
    // For the policy's checks, which borrow it while the session is busy.
    let client_id = session.client_id.clone();
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
    let mut asks: Vec<RetainedAsk> = Vec::new();
    let mut delivered = false;
    let mut batch = std::collections::VecDeque::new();
    // Lives as long as this loop: a dormant connection keeps no routes.
    let mut routes = Routes::default();
    let timer = sleep_until(Instant::now() + Duration::from_secs(3600));
    tokio::pin!(timer);
    loop {
        // Packets that arrived together with CONNECT, or in the last read.
        // Before v5, a client over --max-publish-rate is not read until then.
        let mut paused_until = None;
        // How the packets stopped short, if they did: the end, and whether
        // what they answered is written first.
        let mut handled = false;
        let stopped = 'packets: loop {
            if let Some(until) = policy.throttle(&shared.limits.counters, input) {
                paused_until = Some(until);
                break None;
            }
            // In a cluster, a QoS 2 PUBLISH waits for a fresh copy of its
            // session (`Shared::stale_copy`), taken at the start of a read
            // so that it holds nothing uncommitted.
            if is_qos2_publish(input) && shared.stale_copy(session) {
                if handled {
                    paused_until = Some(Instant::now());
                    break None;
                }
                if let Some(ticket) = shared.keep_live(session, true) {
                    if let Some(end) = all_committed(&mut vec![ticket], kick, shared).await {
                        break Some((end, false));
                    }
                }
            }
            let packet = match mqtt::decode(input, protocol, shared.config.max_packet_size) {
                Ok(Some(packet)) => packet,
                Ok(None) => break None,
                Err(err) => {
                    shared.limits.counters.note_decode_error(&err);
                    break Some((End::Error(err.into()), false));
                }
            };
            handled = true;
            let resent_unknown = matches!(&packet, Packet::Publish(p)
                if p.dup && p.pid.is_some_and(|pid| p.qos == QoS::ExactlyOnce && !session.awaits_pubrel(pid)));
            // In a block: the admission (its rule is not `Sync`) is not
            // held across the wait below.
            let handled_packet = {
                let rule = |topic: &str, payload: &[u8]| {
                    shared
                        .check_rule(topic, payload)
                        .map_err(|err| err.to_string())
                };
                let mut admit = policy.admit(shared.checks(&client_id), &rule);
                session.handle_with(packet, &mut admit)
            };
            let mut actions = match handled_packet {
                Ok(actions) => actions,
                Err(err) => break Some((End::Error(err), false)),
            };
            if resent_unknown {
                // Stored by the dead node this session was rebuilt from,
                // after its last copy: answered, not routed again.
                if let Some(Action::Route(message)) = actions.first() {
                    if let Some(check) = shared.stored_before(&client_id, message) {
                        let stored = tokio::select! {
                            stored = check => stored,
                            _ = poll_fn(|cx| kick.poll_kicked(cx)) => {
                                break Some((End::Error(kicked(kick, shared)), false));
                            }
                        };
                        if stored {
                            actions.remove(0);
                        }
                    }
                }
            }
            if let Some(err) = policy.end.take() {
                break Some((End::Error(*err), false));
            }
            // The session answers a PUBLISH with Route, then its PUBACK/PUBREC.
            let mut unheard = false;
            for mut action in actions {
                if std::mem::take(&mut unheard) {
                    no_matching_subscribers(&mut action, protocol);
                }
                // A history query is answered, not routed; its PUBACK follows.
                if let Action::Route(message) = &action {
                    if message.topic == QUERY_TOPIC {
                        shared.ask_history(message, policy.acl_rules(shared.checks(&client_id)));
                        continue;
                    }
                    // So is a command to the administration API.
                    if message.topic == REQUEST_TOPIC {
                        let caller = policy.control_grant(shared.checks(&client_id), REQUEST_TOPIC);
                        shared.ask_admin(message, caller);
                        continue;
                    }
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
                    Applied::Subscribed(ticket, ask) => {
                        tickets.push(ticket);
                        asks.extend(ask);
                    }
                    Applied::Unheard(ticket) => {
                        tickets.extend(ticket);
                        unheard = true;
                    }
                    Applied::End(end) => break 'packets Some((end, true)),
                }
            }
            shared.persist_in(session, &mut routes);
        };
        let copy = routes.take_copy();
        // What this read routed reaches its subscribers' queues now, one
        // lock per queue, before anything here waits or ends.
        shared.flush_routes(&mut routes);
        tickets.extend(routes.take_ticket());
        if let Some((end, false)) = stopped {
            // Nothing of this read is answered.
            return Turn::End(end);
        }
        // Nothing acknowledged leaves before it is committed (the PUBACKs
        // before a DISCONNECT in the same read too).
        let mut refused = all_committed(&mut tickets, kick, shared).await;
        // In a cluster, the session's live copy once what the read routed
        // is stored: a copy that landed first would tell the node rebuilding
        // it that a QoS 2 message it never got was taken (its resend then
        // dropped as a duplicate, the message lost).
        if refused.is_none() {
            if let Some(ticket) = copy.and_then(|wait| shared.keep_live(session, wait)) {
                tickets.push(ticket);
                refused = all_committed(&mut tickets, kick, shared).await;
            }
        }
        if let Some((end, _)) = stopped {
            // Flushed once the actions are gone, so no packet waits in this future.
            if refused.is_none() {
                flush(transport, &mut output, shared).await.ok();
            }
            return Turn::End(end);
        }
        if let Some(refused) = refused {
            return Turn::End(refused);
        }
        kick.info.update(session);
        for ask in asks.drain(..) {
            send_retained(ask, session, &subscriber, shared);
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
        let due = match (deadline, quiet_at) {
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
        let mut commit = None;
        tokio::select! {
            read = transport.read(input), if paused_until.is_none() => match read {
                Ok(0) => return Turn::End(End::Closed("peer closed the connection".into())),
                Ok(n) => {
                    shared.stats.bytes_received.add(n as u64);
                    last_active = Instant::now();
                    deadline = keep_alive.map(|k| last_active + k);
                }
                Err(err) => return Turn::End(End::Closed(err.to_string())),
            },
            _ = sleep_until(paused_until.unwrap_or_else(Instant::now)), if paused_until.is_some() => {
                last_active = Instant::now();
                deadline = keep_alive.map(|k| last_active + k);
            },
            outbound = rx.recv(), if takes_messages(session, shared) => {
                let Some(outbound) = outbound else {
                    return Turn::End(End::Closed("broker queue closed".into()));
                };
                // Take what else is queued (one lock), so one write carries many messages.
                rx.try_recv_batch(&mut batch, 255);
                for outbound in std::iter::once(outbound).chain(batch.drain(..)) {
                    rx.budget().release(crate::routing::budget::queued_size(&outbound.message));
                    if policy.can_read(shared.checks(&client_id), &outbound.message.topic) {
                        deliver(outbound, session, &mut output, shared);
                    } else {
                        session.discard(&outbound);
                    }
                }
                commit = shared.persist(session, 0);
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
                kick.set_keepalive_deadline(deadline.map(Instant::into_std));
                return Turn::Quiet;
            },
            _ = poll_fn(|cx| kick.poll_kicked(cx)) => {
                return Turn::End(End::Error(kicked(kick, shared)));
            },
            _ = shutdown.wait_for(|stopped| *stopped) => {
                return Turn::End(End::Error(ProtocolError::ServerShuttingDown));
            },
        }
        if let Some(ticket) = commit.take() {
            // QoS 2 packet ids are stored before the PUBLISHes leave.
            match committed_unless_kicked(ticket, kick).await {
                Some(true) => {}
                Some(false) => return Turn::End(End::Error(ProtocolError::StoreUnavailable)),
                None => return Turn::End(End::Error(kicked(kick, shared))),
            }
        }
    }
}

/// Why a kicked connection ends.
fn kicked(kick: &Kick, shared: &Shared) -> ProtocolError {
    if kick.was_taken_for_dead() {
        ProtocolError::TakenForDead
    } else if let Some(code) = kick.reason() {
        ProtocolError::Disconnected(code)
    } else if *shared.shutdown.borrow() {
        ProtocolError::ServerShuttingDown
    } else {
        ProtocolError::SessionTakenOver
    }
}

/// Whether `input` starts with a QoS 2 PUBLISH (its first byte: type 3,
/// QoS bits 2).
fn is_qos2_publish(input: &[u8]) -> bool {
    input
        .first()
        .is_some_and(|b| b >> 4 == 3 && (b >> 1) & 3 == 2)
}

/// Wait for every ticket; the end when one failed or the connection was
/// kicked meanwhile.
async fn all_committed(tickets: &mut Vec<Ticket>, kick: &Kick, shared: &Shared) -> Option<End> {
    for ticket in tickets.drain(..) {
        let error = match committed_unless_kicked(ticket, kick).await {
            Some(true) => continue,
            // The cluster's stream, or this node's store.
            Some(false) => match shared.backplane.refusal() {
                Some(why) => ProtocolError::ClusterUnavailable(why),
                None => ProtocolError::StoreUnavailable,
            },
            None => kicked(kick, shared),
        };
        // The rest are dropped with the drain.
        return Some(End::Error(error));
    }
    None
}

/// Whether `ticket` committed; `None` when the connection was kicked first
/// (taken over, or closed by the API or the shutdown): it ends then, and
/// what waited for the ticket is not sent (the session keeps it, for the
/// connection that takes over: a commit the cluster holds up, a bucket or
/// the stream electing a leader, must not outlast the takeover's wait).
async fn committed_unless_kicked(ticket: Ticket, kick: &Kick) -> Option<bool> {
    tokio::select! {
        committed = ticket.committed() => Some(committed),
        _ = poll_fn(|cx| kick.poll_kicked(cx)) => None,
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
    /// A SUBSCRIBE's ticket, then its retained messages.
    Subscribed(Ticket, Option<RetainedAsk>),
    /// A message no subscription matched (and its commit, if any): an MQTT 5
    /// acknowledgement that follows says 0x10 (No matching subscribers).
    Unheard(Option<Ticket>),
    End(End),
}

/// The retained messages a new subscription asks for.
struct RetainedAsk {
    filter: bytestring::ByteString,
    qos: mqtt::QoS,
    id: Option<u32>,
}

/// Queue the retained messages matching `ask` to this connection.
fn send_retained(ask: RetainedAsk, session: &Session, subscriber: &Subscriber, shared: &Shared) {
    // MQTT-3.3.1-9: retained messages keep the retain flag.
    let retained = shared
        .retained
        .matching(&ask.filter)
        .into_iter()
        .map(|message| Outbound {
            qos: message.qos.min(ask.qos),
            message,
            retain: true,
            subscription_ids: ask.id.into_iter().collect(),
            seq: None,
            receipt: None,
            position: 0,
        });
    let tx = &subscriber.tx;
    let refusals = tx.try_send_all_within(retained, shared.config.max_queued_bytes);
    shared.note_refusals(&session.client_id, tx, refusals);
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
    routes: &mut Routes,
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
            let (is_new, ticket) = shared.subscribe(
                &session.client_id,
                &filter,
                subscription,
                subscriber.clone(),
            );
            let wants_retained = match options.retain_handling {
                mqtt::RetainHandling::SendAtSubscribe => true,
                mqtt::RetainHandling::SendIfNew => is_new,
                mqtt::RetainHandling::DoNotSend => false,
            };
            // MQTT-4.8.2-?: no retained messages for shared subscriptions.
            let retained = (wants_retained && mqtt::topic::parse_shared(&filter).is_none())
                .then_some(RetainedAsk {
                    filter,
                    qos: options.qos,
                    id,
                });
            match (ticket, retained) {
                // The SUBACK waits until the other nodes know, and the
                // retained messages until this node has the cluster's latest.
                (Some(ticket), retained) => return Applied::Subscribed(ticket, retained),
                (None, Some(ask)) => send_retained(ask, session, subscriber, shared),
                (None, None) => {}
            }
        }
        Action::Unsubscribe(filter) => {
            shared.unsubscribe(&session.client_id, &filter);
        }
        Action::Disconnect { publish_will } => return Applied::End(End::Normal { publish_will }),
    }
    Applied::Done
}

/// Hand one queued message to the session and encode what it sends.
fn deliver(outbound: Outbound, session: &mut Session, output: &mut BytesMut, shared: &Shared) {
    session.stream_at = session.stream_at.max(outbound.position);
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

#[cfg(test)]
mod tests {
    /// Every idle connection keeps one `Live`: a field added here costs
    /// each of a million connections its size (a box of up to 264 bytes is
    /// a 272-byte chunk in glibc; 272 bytes would take 288).
    #[test]
    fn an_idle_connection_s_state_stays_within_264_bytes() {
        let size = std::mem::size_of::<super::Live>();
        assert!(size <= 264, "Live is {size} bytes");
    }
}
