//! Decode and encode errors.
//!
//! Every way a packet can be malformed has its own `DecodeError` variant, so
//! tests and logs say exactly what was wrong; [`DecodeError::reason_code`]
//! folds them into the v5 reason code a broker puts in its DISCONNECT (or
//! CONNACK, when the CONNECT itself was bad) before closing the connection.

use crate::protocol::{PacketType, Protocol};
use crate::reason::ReasonCode;
use crate::topic::TopicError;

/// Why bytes received from a peer are not a valid MQTT packet. After any of
/// these the connection must be closed (MQTT-4.13.1-1 / §4.13).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The remaining length has a continuation bit on its 4th byte, or is not
    /// encoded in the fewest bytes.
    #[error("malformed remaining length")]
    MalformedRemainingLength,
    /// A variable byte integer inside the packet (property length,
    /// subscription identifier) is longer than 4 bytes or not minimal.
    #[error("malformed variable byte integer")]
    MalformedVariableByteInteger,
    /// The whole packet (fixed header included) is larger than allowed.
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    PacketTooLarge { size: u32, max: u32 },
    /// Packet type 0 (reserved).
    #[error("invalid packet type {0}")]
    InvalidPacketType(u8),
    /// The low nibble of the first byte is not the value the spec fixes.
    #[error("reserved flags {flags:#06b} set in {packet_type:?}")]
    ReservedFlags { packet_type: PacketType, flags: u8 },
    /// QoS 3 in a PUBLISH, a will or a subscription.
    #[error("invalid QoS 3")]
    InvalidQoS,
    /// DUP set on a QoS 0 PUBLISH (MQTT-3.3.1-2).
    #[error("DUP flag set on a QoS 0 PUBLISH")]
    DupOnQoS0,
    /// A packet identifier of 0 (MQTT-2.2.1-3).
    #[error("packet identifier 0")]
    ZeroPacketId,
    /// A UTF-8 string field holds invalid UTF-8 (surrogates included).
    #[error("invalid UTF-8 in a string")]
    InvalidUtf8,
    /// A UTF-8 string field holds U+0000 (MQTT-1.5.4-2).
    #[error("U+0000 in a string")]
    NullCharacter,
    /// Unknown protocol name or level in CONNECT. A broker answers a v5
    /// CONNECT with reason 0x84 and a 3.1.1 one with return code 1.
    #[error("unsupported protocol {name:?} level {level}")]
    InvalidProtocol { name: String, level: u8 },
    /// CONNECT flags: reserved bit set, will QoS/retain without will flag, or
    /// password without user name in 3.1.1.
    #[error("invalid CONNECT flags")]
    InvalidConnectFlags,
    /// CONNACK acknowledge flags: reserved bits set, or session present with
    /// a failure code.
    #[error("invalid CONNACK flags")]
    InvalidConnAckFlags,
    /// `+` or `#` in a topic name (PUBLISH or will).
    #[error("wildcard in a topic name")]
    WildcardInTopicName,
    /// A malformed topic filter in SUBSCRIBE / UNSUBSCRIBE (`a/#/b`, `a+`,
    /// `$share/` without group or filter, ...).
    #[error("invalid topic filter")]
    InvalidTopicFilter,
    /// An empty topic name (without a topic alias in v5).
    #[error("empty topic name")]
    EmptyTopic,
    /// A property that may appear once appears twice.
    #[error("duplicate property {0:#04x}")]
    DuplicateProperty(u8),
    /// A known property in a packet that may not carry it: a malformed
    /// packet (§2.2.2.2), not a protocol error.
    #[error("property {property:#04x} not allowed in {packet:?}")]
    PropertyNotAllowed { property: u8, packet: PacketType },
    /// A property identifier the spec does not define.
    #[error("unknown property {0:#04x}")]
    UnknownProperty(u8),
    /// A property value out of range (receive maximum 0, a 0/1 byte that is
    /// 2, topic alias 0, ...).
    #[error("invalid value of property {0:#04x}")]
    InvalidPropertyValue(u8),
    /// A reason code not defined for this packet.
    #[error("invalid reason code {0:#04x}")]
    InvalidReasonCode(u8),
    /// SUBSCRIBE / UNSUBSCRIBE without filters, SUBACK / UNSUBACK without codes.
    #[error("no topic filters")]
    EmptySubscription,
    /// Reserved bits of the subscription options, or retain handling 3.
    #[error("invalid subscription options {0:#010b}")]
    InvalidSubscriptionOptions(u8),
    /// No Local on a shared subscription (MQTT-3.8.3-4).
    #[error("no local set on a shared subscription")]
    NoLocalOnSharedSubscription,
    /// A field runs past the end of the packet.
    #[error("packet truncated")]
    Truncated,
    /// Bytes left after the packet's content.
    #[error("trailing bytes after the packet")]
    TrailingBytes,
    /// AUTH on a connection before v5.
    #[error("packet type exists only in MQTT 5")]
    V5OnlyPacket,
}

impl DecodeError {
    /// The v5 reason code a broker sends (in DISCONNECT, or CONNACK when the
    /// CONNECT was bad) for this error.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            WildcardInTopicName | EmptyTopic => ReasonCode::TopicNameInvalid,
            InvalidProtocol { .. } => ReasonCode::UnsupportedProtocolVersion,
            // The spec calls these "Protocol Error" rather than malformed.
            DuplicateProperty(_)
            | InvalidPropertyValue(_)
            | EmptySubscription
            | NoLocalOnSharedSubscription
            | V5OnlyPacket => ReasonCode::ProtocolError,
            MalformedRemainingLength
            | MalformedVariableByteInteger
            | InvalidPacketType(_)
            | ReservedFlags { .. }
            | InvalidQoS
            | DupOnQoS0
            | ZeroPacketId
            | InvalidUtf8
            | NullCharacter
            | InvalidConnectFlags
            | InvalidConnAckFlags
            | InvalidTopicFilter
            | UnknownProperty(_)
            | InvalidReasonCode(_)
            | InvalidSubscriptionOptions(_)
            | Truncated
            | TrailingBytes => ReasonCode::MalformedPacket,
            // §2.2.2.2: "A Control Packet which contains an Identifier which
            // is not valid for its packet type, or contains a value not of
            // the specified data type, is a Malformed Packet. If received,
            // use a CONNACK or DISCONNECT packet with Reason Code 0x81
            // (Malformed Packet)".
            PropertyNotAllowed { .. } => ReasonCode::MalformedPacket,
        }
    }
}

/// Why a packet cannot be written. Nothing is appended to the output when
/// encoding fails.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The remaining length would exceed 268,435,455 bytes.
    #[error("packet remaining length {size} exceeds 268435455")]
    PacketTooLarge { size: usize },
    /// A string or binary field longer than 65,535 bytes.
    #[error("string or binary field of {len} bytes exceeds 65535")]
    StringTooLong { len: usize },
    /// A packet the protocol level does not have (AUTH before v5).
    #[error("{packet:?} does not exist in {protocol:?}")]
    NotInProtocol {
        packet: PacketType,
        protocol: Protocol,
    },
    /// A property the packet may not carry.
    #[error("property {property:#04x} not allowed in {packet:?}")]
    PropertyNotAllowed { property: u8, packet: PacketType },
    /// A reason code the packet cannot carry.
    #[error("reason code {code:?} not allowed in {packet:?}")]
    InvalidReasonCode {
        code: ReasonCode,
        packet: PacketType,
    },
    /// A topic name or filter that is not valid.
    #[error("invalid topic: {0}")]
    InvalidTopic(#[from] TopicError),
    /// Any other value the wire form cannot carry; the text says which.
    #[error("invalid value: {0}")]
    InvalidValue(&'static str),
}
