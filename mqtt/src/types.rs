//! The data model shared by every packet: the packet structs, and (from
//! `protocol`, re-exported here) the protocol level, QoS, packet identifiers
//! and packet types. Pure data: decoding lives in `packet::*`, encoding in the
//! same files.

use bytes::Bytes;
use bytestring::ByteString;

use crate::properties::Properties;
pub use crate::protocol::{PacketType, Pid, Protocol, QoS};
use crate::reason::ReasonCode;

/// The last will carried in CONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastWill {
    pub topic: ByteString,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// Will properties (v5 only; empty otherwise).
    pub properties: Properties,
}

/// CONNECT: the first packet of every connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    pub protocol: Protocol,
    /// try_private: the protocol level carried the 0x80 bit, a Mosquitto-style
    /// bridge (3.1 and 3.1.1 only; never set, and ignored on encode, for v5).
    /// A broker treats such a client as a bridge: it never receives its own
    /// messages back, and gets the retain flag as published.
    pub bridge: bool,
    /// Clean session (3.1.1) / clean start (5.0).
    pub clean_start: bool,
    /// Keep alive in seconds; 0 disables it.
    pub keep_alive: u16,
    pub client_id: ByteString,
    pub will: Option<LastWill>,
    pub username: Option<ByteString>,
    pub password: Option<Bytes>,
    pub properties: Properties,
}

/// CONNACK. `code` is a v5 reason code; for 3.1/3.1.1 the return codes 0–5 map
/// to `Success`, `UnsupportedProtocolVersion`, `ClientIdentifierNotValid`,
/// `ServerUnavailable`, `BadUserNameOrPassword` and `NotAuthorized`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    pub code: ReasonCode,
    pub properties: Properties,
}

/// PUBLISH. The topic and payload share the decoder's input buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    /// May be empty in v5 when a topic alias is present.
    pub topic: ByteString,
    /// Present exactly when `qos > 0`.
    pub pid: Option<Pid>,
    pub properties: Properties,
    pub payload: Bytes,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    pub pid: Pid,
    /// Always `Success` before v5.
    pub reason: ReasonCode,
    pub properties: Properties,
}

impl Ack {
    /// A successful acknowledgement with no properties.
    pub fn new(pid: Pid) -> Ack {
        Ack {
            pid,
            reason: ReasonCode::Success,
            properties: Properties::default(),
        }
    }
}

/// What to do with retained messages when a subscription is made (v5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RetainHandling {
    /// Send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// Send them only if the subscription did not already exist.
    SendIfNew = 1,
    /// Do not send retained messages.
    DoNotSend = 2,
}

/// The options byte of one SUBSCRIBE filter. Before v5 only `qos` is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SubscriptionOptions {
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: RetainHandling,
}

/// One topic filter of a SUBSCRIBE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeFilter {
    pub filter: ByteString,
    pub options: SubscriptionOptions,
}

/// SUBSCRIBE: at least one filter (MQTT-3.8.3-3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe {
    pub pid: Pid,
    pub properties: Properties,
    pub filters: Vec<SubscribeFilter>,
}

/// SUBACK: one reason code per filter, in order. Before v5 only
/// `GrantedQoS0..2` and `UnspecifiedError` (0x80) can be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubAck {
    pub pid: Pid,
    pub properties: Properties,
    pub reasons: Vec<ReasonCode>,
}

/// UNSUBSCRIBE: at least one filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsubscribe {
    pub pid: Pid,
    pub properties: Properties,
    pub filters: Vec<ByteString>,
}

/// UNSUBACK: reason codes exist only in v5 (empty before).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubAck {
    pub pid: Pid,
    pub properties: Properties,
    pub reasons: Vec<ReasonCode>,
}

/// DISCONNECT: reason and properties exist only in v5.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Disconnect {
    pub reason: ReasonCode,
    pub properties: Properties,
}

/// AUTH (v5 only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    pub reason: ReasonCode,
    pub properties: Properties,
}

/// Every MQTT control packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    Connect(Box<Connect>),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(Ack),
    PubRec(Ack),
    PubRel(Ack),
    PubComp(Ack),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    Auth(Auth),
}

impl Packet {
    /// The type of this packet.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }
}
