//! The broker side of one MQTT connection after CONNECT, as a state machine
//! with no I/O: a packet in, actions out; a message to deliver in, packets
//! out. `connection.rs` moves the bytes and carries out the actions.

use std::{num::NonZeroU32, sync::Arc};

use bytes::Bytes;
use bytestring::ByteString;
use mqtt::{
    Ack, DecodeError, Disconnect, LastWill, Packet, Pid, Properties, Protocol, Publish, QoS,
    ReasonCode, SubAck, SubscriptionOptions, UnsubAck,
};

use self::flight::Flight;
use crate::{
    protocol::filters::Filters,
    protocol::message::{Message, Outbound},
    protocol::records::{Queued, QueuedState, SessionRecord, StoredSubscription},
};

/// Why a connection must end; mapped to a DISCONNECT reason code in one place,
/// [`ProtocolError::reason_code`].
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProtocolError {
    #[error("malformed packet: {0}")]
    Decode(#[from] DecodeError),
    #[error("a second CONNECT on the same connection")]
    SecondConnect,
    #[error("{0} is a packet a server never receives")]
    UnexpectedPacket(&'static str),
    #[error("topic alias {0} is zero or above the maximum")]
    TopicAliasInvalid(u16),
    /// §3.3.4: an empty topic name with an alias that has no mapping is a
    /// Protocol Error (0x82); 0x94 is for an alias out of range.
    #[error("topic alias {0} was never set, and the topic name is empty")]
    TopicAliasUnknown(u16),
    #[error("no packet within 1.5 times the keepalive")]
    KeepAliveTimeout,
    #[error("more QoS 1/2 publishes in flight than our receive maximum")]
    ReceiveMaximumExceeded,
    #[error("payload format indicator says UTF-8 but the payload is not")]
    PayloadFormatInvalid,
    #[error("enhanced authentication is not supported")]
    BadAuthenticationMethod,
    #[error("the client id was taken over by a new connection")]
    SessionTakenOver,
    #[error("the store cannot commit; nothing more is acknowledged")]
    StoreUnavailable,
    /// A cluster node that cannot store a QoS 1/2 message in NATS JetStream
    /// (the reason says why): refused, not acknowledged.
    #[error("the cluster cannot store QoS 1/2 messages now: {0}")]
    ClusterUnavailable(&'static str),
    #[error("the broker is shutting down")]
    ServerShuttingDown,
    #[error("PUBLISH packets above --max-publish-rate")]
    MessageRateTooHigh,
    #[error("a PUBLISH topic deeper than --max-topic-levels")]
    TopicNameTooDeep,
    #[error("protocol violation: {0}")]
    Violation(&'static str),
    #[error("disconnected through the $CONTROL API ({0:?})")]
    Disconnected(ReasonCode),
    #[error("the cluster took this node for dead, and the will fired on another node")]
    TakenForDead,
}

impl ProtocolError {
    /// The MQTT 5 reason code of the DISCONNECT sent for this error.
    pub(crate) fn reason_code(&self) -> ReasonCode {
        match self {
            ProtocolError::Decode(err) => err.reason_code(),
            ProtocolError::SecondConnect
            | ProtocolError::UnexpectedPacket(_)
            | ProtocolError::TopicAliasUnknown(_)
            | ProtocolError::Violation(_) => ReasonCode::ProtocolError,
            ProtocolError::TopicAliasInvalid(_) => ReasonCode::TopicAliasInvalid,
            ProtocolError::KeepAliveTimeout => ReasonCode::KeepAliveTimeout,
            ProtocolError::ReceiveMaximumExceeded => ReasonCode::ReceiveMaximumExceeded,
            ProtocolError::BadAuthenticationMethod => ReasonCode::BadAuthenticationMethod,
            ProtocolError::PayloadFormatInvalid => ReasonCode::PayloadFormatInvalid,
            ProtocolError::SessionTakenOver => ReasonCode::SessionTakenOver,
            ProtocolError::ServerShuttingDown => ReasonCode::ServerShuttingDown,
            ProtocolError::MessageRateTooHigh => ReasonCode::MessageRateTooHigh,
            ProtocolError::TopicNameTooDeep => ReasonCode::TopicNameInvalid,
            ProtocolError::StoreUnavailable | ProtocolError::ClusterUnavailable(_) => {
                ReasonCode::UnspecifiedError
            }
            ProtocolError::Disconnected(code) => *code,
            ProtocolError::TakenForDead => ReasonCode::UseAnotherServer,
        }
    }
}

/// What the connection must do after a packet.
// Actions live for one step in a short Vec; boxing the packet would cost an
// allocation per acknowledgement.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Write this packet to the client.
    Send(Packet),
    /// Route this message to the subscribers (and the retained store).
    Route(Message),
    /// Add a subscription, then deliver retained messages per `options`.
    Subscribe {
        filter: ByteString,
        options: SubscriptionOptions,
        /// The v5 subscription identifier of the SUBSCRIBE.
        id: Option<u32>,
    },
    /// Remove a subscription.
    Unsubscribe(ByteString),
    /// The client disconnected normally; publish the will only if asked (v5 reason 0x04).
    Disconnect { publish_will: bool },
}

/// The session limits from the configuration (`--max-inflight`).
pub(crate) fn server_limits(config: &crate::config::Config) -> ServerLimits {
    ServerLimits {
        receive_maximum: config.max_inflight,
        max_inflight: config.max_inflight,
        ..Default::default()
    }
}

/// Limits we announce in CONNACK and enforce.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerLimits {
    /// Incoming QoS 1/2 publishes we accept unacknowledged.
    pub receive_maximum: u16,
    /// Topic aliases a client may set towards us.
    pub topic_alias_maximum: u16,
    /// Our outgoing inflight window at most (`--max-inflight`), whatever the
    /// client's Receive Maximum.
    pub max_inflight: u16,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            receive_maximum: 1024,
            topic_alias_maximum: 64,
            max_inflight: u16::MAX,
        }
    }
}

/// One of our QoS 1/2 publishes to the client, awaiting its acknowledgement.
#[derive(Debug, Clone)]
enum Outgoing {
    /// Waiting for PUBACK (QoS 1) or PUBREC (QoS 2): the PUBLISH as first
    /// sent (full topic), and the delivery it came from.
    Sent(Box<(Publish, Outbound)>),
    /// PUBREL sent, waiting for PUBCOMP.
    Released(Box<Outbound>),
}

/// A change the store must learn about, for persistent deliveries (those
/// with a queue position) and persistent session state.
#[derive(Debug, Clone)]
pub(crate) enum StoreEvent {
    /// The queued message at this store position (of this QoS) changed
    /// state: sent with an id, or released. The store has the message.
    Queued(u64, QoS, QueuedState),
    /// A queued message is done (acknowledged, expired or dropped).
    Done(u64),
    /// Subscriptions or incoming QoS 2 ids changed: rewrite the session record.
    Session,
}

/// The broker's state for one connected client.
#[derive(Debug)]
pub(crate) struct Session {
    pub client_id: Arc<str>,
    pub protocol: Protocol,
    /// A Mosquitto bridge (`try_private`): [`Session::subscription_options`].
    pub bridge: bool,
    /// Boxed: most clients have none, and an idle session should be small.
    pub will: Option<Box<LastWill>>,
    /// Seconds, from CONNECT; 0 turns keepalive off.
    pub keep_alive: u16,
    /// Which session this is: the number of the connection that created it.
    /// Router entries carry it, so cleaning up an old session never removes
    /// a newer one's subscriptions.
    pub generation: u64,
    /// Seconds the session outlives its connection: 0 ends it with the
    /// connection, `u32::MAX` keeps it forever (3.1.1 clean session 0).
    pub expiry_interval: u32,
    limits: ServerLimits,
    /// The client's own receive maximum: our outgoing inflight window.
    client_receive_maximum: u16,
    /// The largest packet the client accepts.
    client_max_packet_size: u32,
    /// By filter, packed while few (every client has some).
    subscriptions: Filters,
    /// True once a record of this session is in the store.
    pub stored: bool,
    /// The state of messages in flight; `None` while there is none (see
    /// [`Session::settle`]).
    flight: Option<Box<Flight>>,
    next_pid: u16,
    /// The client's Topic Alias Maximum: how many aliases we may set.
    client_topic_alias_maximum: u16,
    /// Deliveries dropped because they exceeded the client's maximum packet size.
    pub dropped_too_large: u32,
    /// Deliveries dropped because their message expiry interval had passed.
    pub dropped_expired: u32,
    /// The last cluster stream position it took a message from (0: none).
    pub stream_at: u64,
    /// When a cluster node last sent its live copy to be kept
    /// (tenths of a second, `flight::Tenths`; 0: never): small, as every
    /// idle connection has one.
    copy_sent: u32,
}

/// A copy of `text` that owns its bytes. What the codec decodes shares the
/// connection's read buffer; whatever a session keeps for long (a filter, an
/// alias, the will) is copied, so that it does not pin a whole buffer.
pub(crate) fn detached(text: &ByteString) -> ByteString {
    ByteString::from(&**text)
}

/// The will of `connect`, as the session keeps it until the connection ends.
fn kept_will(connect: &mqtt::Connect) -> Option<Box<LastWill>> {
    connect.will.as_ref().map(|will| {
        Box::new(LastWill {
            topic: detached(&will.topic),
            payload: Bytes::copy_from_slice(&will.payload),
            ..will.clone()
        })
    })
}

impl Session {
    /// A session for an accepted CONNECT, created by connection `generation`.
    pub(crate) fn new(
        connect: &mqtt::Connect,
        client_id: Arc<str>,
        generation: u64,
        limits: ServerLimits,
    ) -> Session {
        let props = &connect.properties;
        Session {
            generation,
            expiry_interval: expiry_interval(connect),
            client_id,
            protocol: connect.protocol,
            bridge: connect.bridge,
            will: kept_will(connect),
            keep_alive: connect.keep_alive,
            limits,
            client_receive_maximum: props
                .receive_maximum
                .unwrap_or(u16::MAX)
                .min(limits.max_inflight),
            client_max_packet_size: props.maximum_packet_size.unwrap_or(u32::MAX),
            subscriptions: Filters::default(),
            stored: false,
            flight: None,
            next_pid: 0,
            client_topic_alias_maximum: props.topic_alias_maximum.unwrap_or(0),
            dropped_too_large: 0,
            dropped_expired: 0,
            stream_at: 0,
            copy_sent: 0,
        }
    }

    /// A persistent session resumed by a new connection (`session present`):
    /// take the new CONNECT's parameters, forget per-connection state (topic
    /// aliases), and return what must be sent again first: unacknowledged
    /// publishes with DUP, PUBRELs, then queued messages the window allows.
    pub(crate) fn resume(&mut self, connect: &mqtt::Connect) -> Vec<Packet> {
        let props = &connect.properties;
        self.protocol = connect.protocol;
        self.bridge = connect.bridge;
        self.will = kept_will(connect);
        self.keep_alive = connect.keep_alive;
        self.expiry_interval = expiry_interval(connect);
        self.client_receive_maximum = props
            .receive_maximum
            .unwrap_or(u16::MAX)
            .min(self.limits.max_inflight);
        self.client_max_packet_size = props.maximum_packet_size.unwrap_or(u32::MAX);
        self.client_topic_alias_maximum = props.topic_alias_maximum.unwrap_or(0);
        self.flight().topic_aliases.clear();
        // The record must say the client is back (its expiry stops counting).
        self.flight().store_events.push(StoreEvent::Session);
        let mut pids: Vec<Pid> = self.flight().outgoing.keys().copied().collect();
        pids.sort();
        let mut packets: Vec<Packet> = pids
            .into_iter()
            .map(
                |pid| match self.flight().outgoing.get(&pid).expect("listed") {
                    Outgoing::Sent(sent) => Packet::Publish(Publish {
                        dup: true,
                        ..sent.0.clone()
                    }),
                    Outgoing::Released(_) => Packet::PubRel(Ack::new(pid)),
                },
            )
            .collect();
        self.flight().out_aliases.clear();
        packets.extend(self.drain_pending());
        packets
    }

    /// The options a subscription takes: a bridge's are no-local (its own
    /// messages never come back) and retain-as-published, whatever it asked
    /// (3.1.1 cannot ask), as Mosquitto's `handle_subscribe.c` does.
    fn subscription_options(&self, options: SubscriptionOptions) -> SubscriptionOptions {
        SubscriptionOptions {
            no_local: options.no_local || self.bridge,
            retain_as_published: options.retain_as_published || self.bridge,
            ..options
        }
    }

    /// True when the session outlives the connection.
    pub(crate) fn is_persistent(&self) -> bool {
        self.expiry_interval > 0
    }

    /// The filters this session subscribes to.
    pub(crate) fn filters(&self) -> impl Iterator<Item = &str> {
        self.subscriptions.iter().map(|(filter, _)| filter)
    }

    /// Handle one packet, asking `admission` (ACL, publish rate) about each
    /// PUBLISH and each subscription filter.
    pub(crate) fn handle_with(
        &mut self,
        packet: Packet,
        admission: &mut dyn crate::protocol::admission::Admission,
    ) -> Result<Vec<Action>, ProtocolError> {
        match packet {
            Packet::Publish(publish) => self.handle_publish(publish, admission),
            Packet::PubAck(ack) => Ok(self.complete(ack.pid)),
            Packet::PubRec(ack) => {
                let Some(Outgoing::Sent(sent)) = self.flight().outgoing.get(&ack.pid) else {
                    return Ok(vec![]);
                };
                if !ack.reason.is_success() {
                    return Ok(self.complete(ack.pid));
                }
                let outbound = sent.1.clone();
                outbound.finish();
                self.stored_state(&outbound, QueuedState::Released(ack.pid));
                self.flight()
                    .outgoing
                    .insert(ack.pid, Outgoing::Released(Box::new(outbound)));
                Ok(vec![Action::Send(Packet::PubRel(Ack::new(ack.pid)))])
            }
            Packet::PubComp(ack) => Ok(self.complete(ack.pid)),
            Packet::PubRel(ack) => {
                let reason = if self.flight().incoming_qos2.remove(&ack.pid).is_some() {
                    self.flight().store_events.push(StoreEvent::Session);
                    ReasonCode::Success
                } else {
                    ReasonCode::PacketIdentifierNotFound
                };
                let mut comp = Ack::new(ack.pid);
                if self.protocol.is_v5() {
                    comp.reason = reason;
                }
                Ok(vec![Action::Send(Packet::PubComp(comp))])
            }
            Packet::Subscribe(subscribe) => {
                let mut actions = Vec::with_capacity(subscribe.filters.len() + 1);
                let mut reasons = Vec::with_capacity(subscribe.filters.len());
                let id = subscribe
                    .properties
                    .subscription_identifiers
                    .first()
                    .copied();
                self.flight().store_events.push(StoreEvent::Session);
                for sub in subscribe.filters {
                    if let Err(code) = admission.subscribe(&sub.filter) {
                        reasons.push(crate::protocol::admission::suback_refusal(
                            self.protocol,
                            code,
                        ));
                        continue;
                    }
                    reasons.push(ReasonCode::granted(sub.options.qos));
                    let options = self.subscription_options(sub.options);
                    self.subscriptions
                        .insert(&sub.filter, (options, id.and_then(NonZeroU32::new)));
                    actions.push(Action::Subscribe {
                        filter: sub.filter,
                        options,
                        id,
                    });
                }
                actions.push(Action::Send(Packet::SubAck(SubAck {
                    pid: subscribe.pid,
                    properties: Properties::default(),
                    reasons,
                })));
                Ok(actions)
            }
            Packet::Unsubscribe(unsubscribe) => {
                self.flight().store_events.push(StoreEvent::Session);
                let mut actions = Vec::with_capacity(unsubscribe.filters.len() + 1);
                let mut reasons = Vec::new();
                for filter in unsubscribe.filters {
                    let existed = self.subscriptions.remove(&filter).is_some();
                    if self.protocol.is_v5() {
                        reasons.push(if existed {
                            ReasonCode::Success
                        } else {
                            ReasonCode::NoSubscriptionExisted
                        });
                    }
                    actions.push(Action::Unsubscribe(filter));
                }
                actions.push(Action::Send(Packet::UnsubAck(UnsubAck {
                    pid: unsubscribe.pid,
                    properties: Properties::default(),
                    reasons,
                })));
                Ok(actions)
            }
            Packet::PingReq => Ok(vec![Action::Send(Packet::PingResp)]),
            Packet::Disconnect(Disconnect { reason, properties }) => {
                if let Some(expiry) = properties.session_expiry_interval {
                    if expiry != 0 && self.expiry_interval == 0 {
                        // §3.14.2.2.2: a session that began with expiry 0 keeps it.
                        return Err(ProtocolError::Violation(
                            "DISCONNECT sets a session expiry after CONNECT's 0",
                        ));
                    }
                    self.expiry_interval = expiry;
                }
                Ok(vec![Action::Disconnect {
                    publish_will: reason == ReasonCode::DisconnectWithWillMessage,
                }])
            }
            Packet::Connect(_) => Err(ProtocolError::SecondConnect),
            Packet::Auth(_) => Err(ProtocolError::BadAuthenticationMethod),
            Packet::ConnAck(_) => Err(ProtocolError::UnexpectedPacket("CONNACK")),
            Packet::SubAck(_) => Err(ProtocolError::UnexpectedPacket("SUBACK")),
            Packet::UnsubAck(_) => Err(ProtocolError::UnexpectedPacket("UNSUBACK")),
            Packet::PingResp => Err(ProtocolError::UnexpectedPacket("PINGRESP")),
        }
    }

    fn handle_publish(
        &mut self,
        mut publish: Publish,
        admission: &mut dyn crate::protocol::admission::Admission,
    ) -> Result<Vec<Action>, ProtocolError> {
        if !publish.properties.subscription_identifiers.is_empty() {
            // MQTT-3.3.4-6: only the server sends subscription identifiers.
            return Err(ProtocolError::Violation(
                "a client PUBLISH carried a Subscription Identifier",
            ));
        }
        if let Some(alias) = publish.properties.topic_alias {
            if alias == 0 || alias > self.limits.topic_alias_maximum {
                return Err(ProtocolError::TopicAliasInvalid(alias));
            }
            if publish.topic.is_empty() {
                publish.topic = self
                    .flight()
                    .topic_aliases
                    .get(&alias)
                    .cloned()
                    .ok_or(ProtocolError::TopicAliasUnknown(alias))?;
            } else {
                self.flight()
                    .topic_aliases
                    .insert(alias, detached(&publish.topic));
            }
        }
        let pid = publish.pid;
        let qos = publish.qos;
        if publish.properties.payload_format_indicator == Some(1)
            && std::str::from_utf8(&publish.payload).is_err()
        {
            // §3.3.2.3.2: refuse it; with QoS > 0 the acknowledgement says why.
            let mut ack = Ack::new(pid.ok_or(ProtocolError::PayloadFormatInvalid)?);
            ack.reason = ReasonCode::PayloadFormatInvalid;
            return Ok(vec![Action::Send(match qos {
                QoS::ExactlyOnce => Packet::PubRec(ack),
                _ => Packet::PubAck(ack),
            })]);
        }
        // A resent QoS 2 id (before PUBREL) was admitted the first time.
        let resent = qos == QoS::ExactlyOnce
            && pid.is_some_and(|p| self.flight().incoming_qos2.contains_key(&p));
        if !resent {
            if let Err(refusal) = admission.publish(&publish) {
                return Ok(crate::protocol::admission::publish_refusal(
                    self.protocol,
                    qos,
                    pid,
                    refusal,
                ));
            }
        }
        let message = Message::from_publish(publish, self.client_id.clone());
        match (qos, pid) {
            (QoS::AtLeastOnce, Some(pid)) => Ok(vec![
                Action::Route(message),
                Action::Send(Packet::PubAck(Ack::new(pid))),
            ]),
            (QoS::ExactlyOnce, Some(pid)) => {
                let first = self.flight().incoming_qos2.insert(pid, ()).is_none();
                if first {
                    self.flight().store_events.push(StoreEvent::Session);
                }
                if first
                    && self.flight().incoming_qos2.len() > usize::from(self.limits.receive_maximum)
                {
                    return Err(ProtocolError::ReceiveMaximumExceeded);
                }
                let rec = Action::Send(Packet::PubRec(Ack::new(pid)));
                // A resent QoS 2 message (same id before PUBREL) is routed only once.
                Ok(if first {
                    vec![Action::Route(message), rec]
                } else {
                    vec![rec]
                })
            }
            _ => Ok(vec![Action::Route(message)]),
        }
    }

    /// A message for this client: the packets to write now (none when it
    /// expired, is too large for the client, or waits for inflight room).
    pub(crate) fn deliver(&mut self, outbound: Outbound) -> Vec<Packet> {
        if outbound.qos == QoS::AtMostOnce {
            return self.publish_packet(&outbound, None).into_iter().collect();
        }
        if self.flight().outgoing.len() >= usize::from(self.client_receive_maximum) {
            self.flight().pending.push_back(outbound);
            return vec![];
        }
        self.send_inflight(outbound).into_iter().collect()
    }

    /// Messages waiting for inflight room.
    pub(crate) fn pending(&self) -> usize {
        self.flight.as_ref().map_or(0, |f| f.pending.len())
    }

    /// A queued message that will not be delivered (the ACL withholds it,
    /// it expired, it is too large): the store forgets it too.
    pub(crate) fn discard(&mut self, outbound: &Outbound) {
        outbound.finish();
        self.flight()
            .store_events
            .extend(outbound.seq.map(StoreEvent::Done));
    }

    /// The PUBLISH carrying `outbound` with packet id `pid`, as sent on the
    /// wire (topic alias applied); `None` when it must not be sent.
    fn publish_packet(&mut self, outbound: &Outbound, pid: Option<Pid>) -> Option<Packet> {
        let publish = self.build(outbound, pid)?;
        Some(Packet::Publish(self.with_alias(publish)))
    }

    /// The PUBLISH for this client with the full topic, or `None` when the
    /// message expired or is too large for the client.
    fn build(&mut self, outbound: &Outbound, pid: Option<Pid>) -> Option<Publish> {
        let message = &outbound.message;
        let now = std::time::Instant::now();
        if message.is_expired(now) {
            self.dropped_expired = self.dropped_expired.saturating_add(1);
            self.discard(outbound);
            return None;
        }
        let properties = if self.protocol.is_v5() {
            let mut properties = (*message.properties).clone();
            // MQTT-3.3.2-6: the interval left, not the one published.
            properties.message_expiry_interval = message.remaining_secs(now);
            properties.subscription_identifiers = outbound.subscription_ids.clone();
            properties
        } else {
            Properties::default()
        };
        let publish = Publish {
            dup: false,
            qos: outbound.qos,
            retain: outbound.retain,
            topic: message.topic.clone(),
            pid,
            properties,
            payload: message.payload.clone(),
        };
        if mqtt::encoded_len(&Packet::Publish(publish.clone()), self.protocol)
            > self.client_max_packet_size as usize
        {
            // MQTT-3.1.2-25: too large for this client; dropped for it alone.
            self.dropped_too_large = self.dropped_too_large.saturating_add(1);
            self.discard(outbound);
            return None;
        }
        Some(publish)
    }

    /// Use a topic alias towards a v5 client that allows them: the first
    /// message on a topic sets the alias, later ones send an empty topic.
    fn with_alias(&mut self, mut publish: Publish) -> Publish {
        if self.client_topic_alias_maximum == 0 {
            return publish;
        }
        if let Some(&alias) = self.flight().out_aliases.get(&publish.topic) {
            publish.properties.topic_alias = Some(alias);
            publish.topic = ByteString::new();
        } else if self.flight().out_aliases.len() < usize::from(self.client_topic_alias_maximum) {
            let alias = self.flight().out_aliases.len() as u16 + 1;
            self.flight()
                .out_aliases
                .insert(detached(&publish.topic), alias);
            publish.properties.topic_alias = Some(alias);
        }
        publish
    }

    fn send_inflight(&mut self, outbound: Outbound) -> Option<Packet> {
        let pid = self.allocate_pid();
        let publish = self.build(&outbound, Some(pid))?;
        self.stored_state(&outbound, QueuedState::Sent(pid));
        // Keep the full topic: a resend after reconnect has no aliases yet.
        self.flight()
            .outgoing
            .insert(pid, Outgoing::Sent(Box::new((publish.clone(), outbound))));
        Some(Packet::Publish(self.with_alias(publish)))
    }

    /// Send queued messages while the inflight window has room.
    fn drain_pending(&mut self) -> Vec<Packet> {
        let mut packets = Vec::new();
        while self.flight().outgoing.len() < usize::from(self.client_receive_maximum) {
            let Some(outbound) = self.flight().pending.pop_front() else {
                break;
            };
            packets.extend(self.send_inflight(outbound));
        }
        packets
    }

    /// An acknowledgement finished a flow: free its id and send what waited.
    fn complete(&mut self, pid: Pid) -> Vec<Action> {
        let outbound = match self.flight().outgoing.remove(&pid) {
            None => return vec![],
            Some(Outgoing::Sent(sent)) => sent.1,
            Some(Outgoing::Released(outbound)) => *outbound,
        };
        outbound.finish();
        let done = outbound.seq.map(StoreEvent::Done);
        self.flight().store_events.extend(done);
        self.drain_pending().into_iter().map(Action::Send).collect()
    }

    /// What the store must learn since the last call.
    /// A stored delivery's new state, for the store.
    fn stored_state(&mut self, outbound: &Outbound, state: QueuedState) {
        if let Some(seq) = outbound.seq {
            let event = StoreEvent::Queued(seq, outbound.qos, state);
            self.flight().store_events.push(event);
        }
    }

    pub(crate) fn take_store_events(&mut self) -> Vec<StoreEvent> {
        self.flight
            .as_mut()
            .map(|f| std::mem::take(&mut f.store_events))
            .unwrap_or_default()
    }

    /// The session's durable state (its queue is stored message by message).
    pub(crate) fn record(&self, disconnected_at: u64) -> SessionRecord {
        let mut subscriptions: Vec<StoredSubscription> = self
            .subscriptions
            .iter()
            .map(|(filter, (options, id))| StoredSubscription {
                filter: ByteString::from(filter),
                options,
                id: id.map(NonZeroU32::get),
            })
            .collect();
        subscriptions.sort_by(|a, b| a.filter.cmp(&b.filter));
        let mut incoming_qos2: Vec<Pid> = self
            .flight
            .iter()
            .flat_map(|f| f.incoming_qos2.keys().copied())
            .collect();
        incoming_qos2.sort();
        SessionRecord {
            protocol: self.protocol,
            expiry_interval: self.expiry_interval,
            disconnected_at,
            subscriptions,
            incoming_qos2,
        }
    }

    /// A persistent session as the store kept it: subscriptions, QoS 2 ids,
    /// and its queue (in-flight entries keep their packet ids).
    pub(crate) fn restore(
        client_id: Arc<str>,
        generation: u64,
        limits: ServerLimits,
        record: &SessionRecord,
        queue: Vec<Queued>,
    ) -> Session {
        let connect = mqtt::Connect {
            protocol: record.protocol,
            bridge: false,
            clean_start: false,
            keep_alive: 0,
            client_id: ByteString::from(&*client_id),
            will: None,
            username: None,
            password: None,
            properties: Properties::default(),
        };
        let mut session = Session::new(&connect, client_id, generation, limits);
        session.expiry_interval = record.expiry_interval;
        session.stored = true;
        for sub in &record.subscriptions {
            session
                .subscriptions
                .insert(&sub.filter, (sub.options, sub.id.and_then(NonZeroU32::new)));
        }
        session.flight().incoming_qos2 =
            record.incoming_qos2.iter().map(|&pid| (pid, ())).collect();
        for queued in queue {
            match queued.state {
                QueuedState::Queued => session.flight().pending.push_back(queued.outbound),
                QueuedState::Sent(pid) => {
                    if let Some(publish) = session.build(&queued.outbound, Some(pid)) {
                        let sent = Box::new((publish, queued.outbound));
                        session.flight().outgoing.insert(pid, Outgoing::Sent(sent));
                    }
                }
                QueuedState::Released(pid) => {
                    let released = Outgoing::Released(Box::new(queued.outbound));
                    session.flight().outgoing.insert(pid, released);
                }
            }
            let highest = session.flight().outgoing.keys().map(|p| p.get()).max();
            session.next_pid = highest.unwrap_or(0);
        }
        session
    }

    /// Subscriptions with their options and ids.
    pub(crate) fn subscriptions(
        &self,
    ) -> impl Iterator<Item = (&str, SubscriptionOptions, Option<u32>)> {
        self.subscriptions
            .iter()
            .map(|(f, (o, id))| (f, o, id.map(NonZeroU32::get)))
    }

    fn allocate_pid(&mut self) -> Pid {
        // The window is at most 65,535 wide, so a free id always exists.
        loop {
            self.next_pid = self.next_pid.wrapping_add(1).max(1);
            let pid = Pid::new(self.next_pid).expect("never zero");
            if !self.flight().outgoing.contains_key(&pid) {
                return pid;
            }
        }
    }

    /// The in-flight state, made when first needed.
    fn flight(&mut self) -> &mut Flight {
        self.flight.get_or_insert_with(Box::default)
    }
}

/// How long the session outlives the connection (MQTT-3.1.2-4, §3.1.2.11.2).
fn expiry_interval(connect: &mqtt::Connect) -> u32 {
    match connect.protocol {
        Protocol::V5 => connect.properties.session_expiry_interval.unwrap_or(0),
        Protocol::V31 | Protocol::V311 if connect.clean_start => 0,
        Protocol::V31 | Protocol::V311 => u32::MAX,
    }
}

mod flight;
#[cfg(test)]
mod tests;
