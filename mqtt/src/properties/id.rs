//! The property identifiers (§2.2.2.2), what a property block belongs to,
//! which property may appear where, and the range rules on their values.

use crate::protocol::{PacketType, MAX_REMAINING_LENGTH};

/// The identifier byte of each property (spec §2.2.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PropertyId {
    PayloadFormatIndicator = 0x01,
    MessageExpiryInterval = 0x02,
    ContentType = 0x03,
    ResponseTopic = 0x08,
    CorrelationData = 0x09,
    SubscriptionIdentifier = 0x0B,
    SessionExpiryInterval = 0x11,
    AssignedClientIdentifier = 0x12,
    ServerKeepAlive = 0x13,
    AuthenticationMethod = 0x15,
    AuthenticationData = 0x16,
    RequestProblemInformation = 0x17,
    WillDelayInterval = 0x18,
    RequestResponseInformation = 0x19,
    ResponseInformation = 0x1A,
    ServerReference = 0x1C,
    ReasonString = 0x1F,
    ReceiveMaximum = 0x21,
    TopicAliasMaximum = 0x22,
    TopicAlias = 0x23,
    MaximumQoS = 0x24,
    RetainAvailable = 0x25,
    UserProperty = 0x26,
    MaximumPacketSize = 0x27,
    WildcardSubscriptionAvailable = 0x28,
    SubscriptionIdentifierAvailable = 0x29,
    SharedSubscriptionAvailable = 0x2A,
}

/// What a property block belongs to: a packet, or the will inside CONNECT
/// (which has its own set of allowed properties).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PropertyOwner {
    Packet(PacketType),
    Will,
}

impl From<PacketType> for PropertyOwner {
    fn from(packet: PacketType) -> PropertyOwner {
        PropertyOwner::Packet(packet)
    }
}

impl PropertyOwner {
    /// The packet the block is in (a will is in CONNECT), for error reports.
    pub fn packet_type(self) -> PacketType {
        match self {
            PropertyOwner::Packet(packet) => packet,
            PropertyOwner::Will => PacketType::Connect,
        }
    }
}

impl PropertyId {
    /// The property for an identifier byte, or `None` if the spec has none.
    pub fn from_u8(value: u8) -> Option<PropertyId> {
        use PropertyId::*;
        Some(match value {
            0x01 => PayloadFormatIndicator,
            0x02 => MessageExpiryInterval,
            0x03 => ContentType,
            0x08 => ResponseTopic,
            0x09 => CorrelationData,
            0x0B => SubscriptionIdentifier,
            0x11 => SessionExpiryInterval,
            0x12 => AssignedClientIdentifier,
            0x13 => ServerKeepAlive,
            0x15 => AuthenticationMethod,
            0x16 => AuthenticationData,
            0x17 => RequestProblemInformation,
            0x18 => WillDelayInterval,
            0x19 => RequestResponseInformation,
            0x1A => ResponseInformation,
            0x1C => ServerReference,
            0x1F => ReasonString,
            0x21 => ReceiveMaximum,
            0x22 => TopicAliasMaximum,
            0x23 => TopicAlias,
            0x24 => MaximumQoS,
            0x25 => RetainAvailable,
            0x26 => UserProperty,
            0x27 => MaximumPacketSize,
            0x28 => WildcardSubscriptionAvailable,
            0x29 => SubscriptionIdentifierAvailable,
            0x2A => SharedSubscriptionAvailable,
            _ => return None,
        })
    }

    /// True when the property may appear in `owner` (the table of §2.2.2.2).
    pub fn allowed_in(self, owner: impl Into<PropertyOwner>) -> bool {
        use PacketType as P;
        use PropertyId::*;
        let packet = match owner.into() {
            PropertyOwner::Will => {
                return matches!(
                    self,
                    PayloadFormatIndicator
                        | MessageExpiryInterval
                        | ContentType
                        | ResponseTopic
                        | CorrelationData
                        | WillDelayInterval
                        | UserProperty
                );
            }
            PropertyOwner::Packet(packet) => packet,
        };
        match self {
            PayloadFormatIndicator
            | MessageExpiryInterval
            | ContentType
            | ResponseTopic
            | CorrelationData
            | TopicAlias => packet == P::Publish,
            SubscriptionIdentifier => matches!(packet, P::Publish | P::Subscribe),
            SessionExpiryInterval => matches!(packet, P::Connect | P::ConnAck | P::Disconnect),
            AuthenticationMethod | AuthenticationData => {
                matches!(packet, P::Connect | P::ConnAck | P::Auth)
            }
            RequestProblemInformation | RequestResponseInformation => packet == P::Connect,
            ReceiveMaximum | TopicAliasMaximum | MaximumPacketSize => {
                matches!(packet, P::Connect | P::ConnAck)
            }
            AssignedClientIdentifier
            | ServerKeepAlive
            | ResponseInformation
            | MaximumQoS
            | RetainAvailable
            | WildcardSubscriptionAvailable
            | SubscriptionIdentifierAvailable
            | SharedSubscriptionAvailable => packet == P::ConnAck,
            ServerReference => matches!(packet, P::ConnAck | P::Disconnect),
            WillDelayInterval => false,
            ReasonString => matches!(
                packet,
                P::ConnAck
                    | P::PubAck
                    | P::PubRec
                    | P::PubRel
                    | P::PubComp
                    | P::SubAck
                    | P::UnsubAck
                    | P::Disconnect
                    | P::Auth
            ),
            UserProperty => !matches!(packet, P::PingReq | P::PingResp),
        }
    }

    /// Range rules on numeric values: 0/1 flags, and the properties the spec
    /// says must not be 0 (receive maximum, maximum packet size, topic alias,
    /// subscription identifier).
    pub(super) fn value_ok(self, value: u32) -> bool {
        use PropertyId::*;
        match self {
            PayloadFormatIndicator
            | RequestProblemInformation
            | RequestResponseInformation
            | MaximumQoS
            | RetainAvailable
            | WildcardSubscriptionAvailable
            | SubscriptionIdentifierAvailable
            | SharedSubscriptionAvailable => value <= 1,
            ReceiveMaximum | MaximumPacketSize | TopicAlias => value != 0,
            SubscriptionIdentifier => value != 0 && value as usize <= MAX_REMAINING_LENGTH,
            _ => true,
        }
    }
}
