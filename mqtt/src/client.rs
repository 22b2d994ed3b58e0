//! The sans-I/O MQTT client session: bytes in, events and bytes out.
//!
//! The simulated devices, the benchmark and the browser dashboard all drive
//! this one state machine; they only move bytes between it and a socket and
//! call [`ClientSession::tick`] on a timer. It never touches a clock of its
//! own: every call takes `now_ms`, milliseconds on any monotonic scale.

use std::collections::{HashMap, HashSet};

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use crate::{
    decode, encode, Ack, Connect, DecodeError, Disconnect, EncodeError, LastWill, Packet, Pid,
    Properties, Protocol, Publish, QoS, ReasonCode, Subscribe, SubscribeFilter,
    SubscriptionOptions, Unsubscribe,
};

/// How to connect.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub protocol: Protocol,
    pub client_id: String,
    /// Seconds; 0 disables keepalive pings.
    pub keep_alive: u16,
    pub clean_start: bool,
    /// Connect as a Mosquitto-style bridge (3.1/3.1.1: the protocol level's
    /// 0x80 bit, `try_private`): the broker sends none of our own messages
    /// back and keeps their retain flag. Ignored for v5.
    pub bridge: bool,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub will: Option<LastWill>,
    /// CONNECT properties (v5 only), e.g. session expiry interval.
    pub properties: Properties,
    /// Hold back the PUBACK (QoS 1) and PUBREC (QoS 2) of incoming messages
    /// until [`ClientSession::acknowledge`]: a bridge acknowledges only once
    /// the message is safe on its other side.
    pub manual_acks: bool,
}

impl ClientOptions {
    /// MQTT 3.1.1, clean session, 30 s keepalive.
    pub fn new(client_id: impl Into<String>) -> ClientOptions {
        ClientOptions {
            protocol: Protocol::V311,
            client_id: client_id.into(),
            keep_alive: 30,
            clean_start: true,
            bridge: false,
            username: None,
            password: None,
            will: None,
            properties: Properties::default(),
            manual_acks: false,
        }
    }
}

/// Where the session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Nothing sent yet.
    Idle,
    /// CONNECT sent, waiting for CONNACK.
    Connecting,
    /// CONNACK accepted.
    Connected,
    /// Refused, disconnected, or failed: the transport should be closed.
    Closed,
}

/// What the application learns from incoming bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    Connected {
        session_present: bool,
        properties: Properties,
    },
    /// A message for one of our subscriptions.
    Message(Publish),
    /// SUBACK: one reason per filter.
    Subscribed {
        pid: Pid,
        reasons: Vec<ReasonCode>,
    },
    Unsubscribed {
        pid: Pid,
    },
    /// A QoS 1 or 2 publish of ours completed its flow.
    Published {
        pid: Pid,
        reason: ReasonCode,
    },
    PingResponse,
    /// The server disconnected us (v5 DISCONNECT) or refused the CONNECT.
    Disconnected {
        reason: ReasonCode,
    },
}

/// Why the session cannot go on; the transport should be closed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    #[error("malformed packet from the server: {0}")]
    Decode(#[from] DecodeError),
    #[error("cannot encode packet: {0}")]
    Encode(#[from] EncodeError),
    #[error("the server sent {0} which a client never receives")]
    UnexpectedPacket(&'static str),
    #[error("the server refused the connection: {0:?}")]
    Refused(ReasonCode),
    #[error("no PINGRESP within the keepalive interval")]
    KeepAliveTimeout,
    #[error("not connected")]
    NotConnected,
    #[error("all 65535 packet identifiers are in flight")]
    PacketIdsExhausted,
}

/// One QoS 1/2 publish of ours awaiting its acknowledgement.
#[derive(Clone, Debug)]
enum Outgoing {
    /// QoS 1 waiting for PUBACK, or QoS 2 waiting for PUBREC.
    Sent(Box<Publish>),
    /// QoS 2 PUBREL sent, waiting for PUBCOMP.
    Released,
}

/// The client side of one MQTT connection.
pub struct ClientSession {
    options: ClientOptions,
    state: ConnectionState,
    input: BytesMut,
    output: BytesMut,
    next_pid: u16,
    outgoing: HashMap<Pid, Outgoing>,
    /// Incoming QoS 2 ids received and PUBREC'd, waiting for PUBREL.
    incoming_qos2: HashMap<Pid, ()>,
    /// With manual acks: incoming QoS 2 ids the application has PUBREC'd.
    acked_qos2: HashSet<Pid>,
    last_sent_ms: u64,
    ping_sent_ms: Option<u64>,
    max_packet_size: u32,
}

impl ClientSession {
    pub fn new(options: ClientOptions) -> ClientSession {
        ClientSession {
            options,
            state: ConnectionState::Idle,
            input: BytesMut::new(),
            output: BytesMut::new(),
            next_pid: 0,
            outgoing: HashMap::new(),
            incoming_qos2: HashMap::new(),
            acked_qos2: HashSet::new(),
            last_sent_ms: 0,
            ping_sent_ms: None,
            max_packet_size: crate::MAX_REMAINING_LENGTH as u32 + 5,
        }
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    pub fn state(&self) -> ConnectionState {
        self.state
    }

    pub fn is_connected(&self) -> bool {
        self.state == ConnectionState::Connected
    }

    /// Start a new connection on a fresh transport: queues CONNECT. Inflight
    /// publishes of a persistent session are re-sent with DUP once CONNACK says
    /// the session is present.
    pub fn connect(&mut self, now_ms: u64) -> Result<(), ClientError> {
        self.input.clear();
        self.output.clear();
        self.ping_sent_ms = None;
        let options = &self.options;
        let connect = Connect {
            protocol: options.protocol,
            bridge: options.bridge,
            clean_start: options.clean_start,
            keep_alive: options.keep_alive,
            client_id: ByteString::from(options.client_id.as_str()),
            will: options.will.clone(),
            username: options.username.as_deref().map(ByteString::from),
            password: options.password.clone().map(Bytes::from),
            properties: if options.protocol.is_v5() {
                options.properties.clone()
            } else {
                Properties::default()
            },
        };
        self.state = ConnectionState::Connecting;
        self.send(&Packet::Connect(Box::new(connect)), now_ms)
    }

    /// Queue a PUBLISH. Returns its packet id for QoS 1 and 2.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
        now_ms: u64,
    ) -> Result<Option<Pid>, ClientError> {
        self.publish_with(topic, payload, qos, retain, Properties::default(), now_ms)
    }

    /// Queue a PUBLISH with MQTT 5 properties (dropped before v5).
    pub fn publish_with(
        &mut self,
        topic: &str,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
        properties: Properties,
        now_ms: u64,
    ) -> Result<Option<Pid>, ClientError> {
        self.require_connected()?;
        let pid = match qos {
            QoS::AtMostOnce => None,
            _ => Some(self.allocate_pid()?),
        };
        let publish = Publish {
            dup: false,
            qos,
            retain,
            topic: ByteString::from(topic),
            pid,
            properties: self.v5_only(properties),
            payload: payload.into(),
        };
        if let Some(pid) = pid {
            self.outgoing
                .insert(pid, Outgoing::Sent(Box::new(publish.clone())));
        }
        self.send(&Packet::Publish(publish), now_ms)?;
        Ok(pid)
    }

    /// Queue a SUBSCRIBE for the given filters.
    pub fn subscribe(&mut self, filters: &[(&str, QoS)], now_ms: u64) -> Result<Pid, ClientError> {
        let filters = filters
            .iter()
            .map(|(filter, qos)| SubscribeFilter {
                filter: ByteString::from(*filter),
                options: SubscriptionOptions {
                    qos: *qos,
                    ..SubscriptionOptions::default()
                },
            })
            .collect();
        self.subscribe_with(filters, Properties::default(), now_ms)
    }

    /// Queue a SUBSCRIBE with full subscription options (no local, retain as
    /// published, retain handling) and properties (e.g. a subscription
    /// identifier). Options and properties beyond the QoS are dropped before
    /// v5.
    pub fn subscribe_with(
        &mut self,
        filters: Vec<SubscribeFilter>,
        properties: Properties,
        now_ms: u64,
    ) -> Result<Pid, ClientError> {
        self.require_connected()?;
        let pid = self.allocate_pid()?;
        let subscribe = Subscribe {
            pid,
            properties: self.v5_only(properties),
            filters,
        };
        self.send(&Packet::Subscribe(subscribe), now_ms)?;
        Ok(pid)
    }

    /// Queue an UNSUBSCRIBE.
    pub fn unsubscribe(&mut self, filters: &[&str], now_ms: u64) -> Result<Pid, ClientError> {
        self.require_connected()?;
        let pid = self.allocate_pid()?;
        let unsubscribe = Unsubscribe {
            pid,
            properties: Properties::default(),
            filters: filters.iter().map(|f| ByteString::from(*f)).collect(),
        };
        self.send(&Packet::Unsubscribe(unsubscribe), now_ms)?;
        Ok(pid)
    }

    /// Queue a normal DISCONNECT (the will is discarded) and close.
    pub fn disconnect(&mut self, now_ms: u64) -> Result<(), ClientError> {
        if self.state == ConnectionState::Connected {
            self.send(&Packet::Disconnect(Disconnect::default()), now_ms)?;
        }
        self.state = ConnectionState::Closed;
        Ok(())
    }

    /// Call on a timer (e.g. every second): queues PINGREQ when nothing was
    /// sent for a keepalive interval, and fails when a PINGRESP is overdue.
    pub fn tick(&mut self, now_ms: u64) -> Result<(), ClientError> {
        let keep_alive_ms = u64::from(self.options.keep_alive) * 1000;
        if self.state != ConnectionState::Connected || keep_alive_ms == 0 {
            return Ok(());
        }
        if let Some(sent) = self.ping_sent_ms {
            if now_ms.saturating_sub(sent) >= keep_alive_ms {
                self.state = ConnectionState::Closed;
                return Err(ClientError::KeepAliveTimeout);
            }
        } else if now_ms.saturating_sub(self.last_sent_ms) >= keep_alive_ms {
            self.send(&Packet::PingReq, now_ms)?;
            self.ping_sent_ms = Some(now_ms);
        }
        Ok(())
    }

    /// Feed bytes read from the transport; returns what they meant. Replies
    /// (PUBACK, PUBREC, …) are queued for [`ClientSession::take_outgoing`].
    pub fn receive(&mut self, bytes: &[u8], now_ms: u64) -> Result<Vec<ClientEvent>, ClientError> {
        self.input.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(packet) =
            decode(&mut self.input, self.options.protocol, self.max_packet_size)?
        {
            if let Some(event) = self.handle(packet, now_ms)? {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// The bytes to write to the transport, if any.
    pub fn take_outgoing(&mut self) -> Option<Bytes> {
        if self.output.is_empty() {
            None
        } else {
            Some(self.output.split().freeze())
        }
    }

    /// Number of our QoS 1/2 publishes not yet completed.
    pub fn inflight(&self) -> usize {
        self.outgoing.len()
    }

    fn handle(&mut self, packet: Packet, now_ms: u64) -> Result<Option<ClientEvent>, ClientError> {
        match packet {
            Packet::ConnAck(connack) => {
                if !connack.code.is_success() {
                    self.state = ConnectionState::Closed;
                    return Err(ClientError::Refused(connack.code));
                }
                self.state = ConnectionState::Connected;
                if let Some(max) = connack.properties.maximum_packet_size {
                    self.max_packet_size = self.max_packet_size.min(max.max(1));
                }
                if connack.session_present {
                    self.resend_inflight(now_ms)?;
                } else {
                    self.outgoing.clear();
                    self.incoming_qos2.clear();
                    self.acked_qos2.clear();
                }
                Ok(Some(ClientEvent::Connected {
                    session_present: connack.session_present,
                    properties: connack.properties,
                }))
            }
            Packet::Publish(publish) => self.handle_publish(publish, now_ms),
            Packet::PubAck(ack) => {
                Ok(self
                    .outgoing
                    .remove(&ack.pid)
                    .map(|_| ClientEvent::Published {
                        pid: ack.pid,
                        reason: ack.reason,
                    }))
            }
            Packet::PubRec(ack) => {
                if !ack.reason.is_success() {
                    self.outgoing.remove(&ack.pid);
                    return Ok(Some(ClientEvent::Published {
                        pid: ack.pid,
                        reason: ack.reason,
                    }));
                }
                self.outgoing.insert(ack.pid, Outgoing::Released);
                self.send(&Packet::PubRel(Ack::new(ack.pid)), now_ms)?;
                Ok(None)
            }
            Packet::PubComp(ack) => {
                Ok(self
                    .outgoing
                    .remove(&ack.pid)
                    .map(|_| ClientEvent::Published {
                        pid: ack.pid,
                        reason: ack.reason,
                    }))
            }
            Packet::PubRel(ack) => {
                self.incoming_qos2.remove(&ack.pid);
                self.acked_qos2.remove(&ack.pid);
                self.send(&Packet::PubComp(Ack::new(ack.pid)), now_ms)?;
                Ok(None)
            }
            Packet::SubAck(suback) => Ok(Some(ClientEvent::Subscribed {
                pid: suback.pid,
                reasons: suback.reasons,
            })),
            Packet::UnsubAck(unsuback) => Ok(Some(ClientEvent::Unsubscribed { pid: unsuback.pid })),
            Packet::PingResp => {
                self.ping_sent_ms = None;
                Ok(Some(ClientEvent::PingResponse))
            }
            Packet::Disconnect(disconnect) => {
                self.state = ConnectionState::Closed;
                Ok(Some(ClientEvent::Disconnected {
                    reason: disconnect.reason,
                }))
            }
            Packet::Auth(_) => Err(ClientError::UnexpectedPacket("AUTH")),
            Packet::Connect(_) => Err(ClientError::UnexpectedPacket("CONNECT")),
            Packet::Subscribe(_) => Err(ClientError::UnexpectedPacket("SUBSCRIBE")),
            Packet::Unsubscribe(_) => Err(ClientError::UnexpectedPacket("UNSUBSCRIBE")),
            Packet::PingReq => Err(ClientError::UnexpectedPacket("PINGREQ")),
        }
    }

    fn handle_publish(
        &mut self,
        publish: Publish,
        now_ms: u64,
    ) -> Result<Option<ClientEvent>, ClientError> {
        let manual = self.options.manual_acks;
        match (publish.qos, publish.pid) {
            (QoS::AtLeastOnce, Some(pid)) if !manual => {
                self.send(&Packet::PubAck(Ack::new(pid)), now_ms)?;
            }
            (QoS::ExactlyOnce, Some(pid)) => {
                // A second copy before PUBREL is the same message: deliver
                // once (and acknowledge it again, unless that is up to the
                // application, which still holds the first copy's pid).
                let again = self.incoming_qos2.insert(pid, ()).is_some();
                if !manual || (again && self.acknowledged_qos2(pid)) {
                    self.send(&Packet::PubRec(Ack::new(pid)), now_ms)?;
                }
                if again {
                    return Ok(None);
                }
            }
            _ => {}
        }
        Ok(Some(ClientEvent::Message(publish)))
    }

    /// With [`ClientOptions::manual_acks`]: acknowledge an incoming QoS 1
    /// (PUBACK) or QoS 2 (PUBREC) message now. Nothing is sent for QoS 0, or
    /// when the connection it came on is gone: the server sends it again,
    /// a QoS 1 message to be handled again, a QoS 2 one to be answered with
    /// PUBREC at once (it was handled: exactly once survives the reconnect).
    pub fn acknowledge(&mut self, pid: Pid, qos: QoS, now_ms: u64) -> Result<(), ClientError> {
        if qos == QoS::ExactlyOnce {
            self.acked_qos2.insert(pid);
        }
        if self.state != ConnectionState::Connected {
            return Ok(());
        }
        match qos {
            QoS::AtMostOnce => Ok(()),
            QoS::AtLeastOnce => self.send(&Packet::PubAck(Ack::new(pid)), now_ms),
            QoS::ExactlyOnce => self.send(&Packet::PubRec(Ack::new(pid)), now_ms),
        }
    }

    /// With manual acks: the application lost the incoming messages it had
    /// not acknowledged yet (what it was handing them to went away), so
    /// copies the server sends again are delivered again, QoS 2 ones too.
    pub fn forget_unacknowledged(&mut self) {
        let acked = &self.acked_qos2;
        self.incoming_qos2.retain(|pid, _| acked.contains(pid));
    }

    fn acknowledged_qos2(&self, pid: Pid) -> bool {
        self.acked_qos2.contains(&pid)
    }

    fn resend_inflight(&mut self, now_ms: u64) -> Result<(), ClientError> {
        let mut pids: Vec<Pid> = self.outgoing.keys().copied().collect();
        pids.sort();
        for pid in pids {
            let packet = match &self.outgoing[&pid] {
                Outgoing::Sent(publish) => Packet::Publish(Publish {
                    dup: true,
                    ..(**publish).clone()
                }),
                Outgoing::Released => Packet::PubRel(Ack::new(pid)),
            };
            self.send(&packet, now_ms)?;
        }
        Ok(())
    }

    fn send(&mut self, packet: &Packet, now_ms: u64) -> Result<(), ClientError> {
        encode(packet, self.options.protocol, &mut self.output)?;
        self.last_sent_ms = now_ms;
        Ok(())
    }

    fn require_connected(&self) -> Result<(), ClientError> {
        if self.state == ConnectionState::Connected {
            Ok(())
        } else {
            Err(ClientError::NotConnected)
        }
    }

    fn allocate_pid(&mut self) -> Result<Pid, ClientError> {
        for _ in 0..u16::MAX {
            self.next_pid = self.next_pid.wrapping_add(1).max(1);
            let pid = Pid::new(self.next_pid).expect("never zero");
            if !self.outgoing.contains_key(&pid) {
                return Ok(pid);
            }
        }
        Err(ClientError::PacketIdsExhausted)
    }

    fn v5_only(&self, properties: Properties) -> Properties {
        if self.options.protocol.is_v5() {
            properties
        } else {
            Properties::default()
        }
    }
}

#[cfg(test)]
mod tests;
