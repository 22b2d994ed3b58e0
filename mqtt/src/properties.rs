//! MQTT 5 properties (spec §2.2.2): one optional field per property, plus the
//! two that may repeat (user properties, subscription identifiers).
//! Before v5 every packet carries `Properties::default()`.

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};
use crate::protocol::{PacketType, MAX_REMAINING_LENGTH};
use crate::{topic, varint, wire};

/// The properties of one packet or will. Which may appear where is checked by
/// the decoder (see `PropertyId::allowed_in`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    /// 0x01, PUBLISH and will: 0 = unspecified bytes, 1 = UTF-8.
    pub payload_format_indicator: Option<u8>,
    /// 0x02, PUBLISH and will: seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x03, PUBLISH and will.
    pub content_type: Option<ByteString>,
    /// 0x08, PUBLISH and will.
    pub response_topic: Option<ByteString>,
    /// 0x09, PUBLISH and will.
    pub correlation_data: Option<Bytes>,
    /// 0x0B, PUBLISH (may repeat there) and SUBSCRIBE: variable byte integer, 1..=268,435,455.
    pub subscription_identifiers: Vec<u32>,
    /// 0x11, CONNECT, CONNACK, DISCONNECT: seconds.
    pub session_expiry_interval: Option<u32>,
    /// 0x12, CONNACK.
    pub assigned_client_identifier: Option<ByteString>,
    /// 0x13, CONNACK: seconds.
    pub server_keep_alive: Option<u16>,
    /// 0x15, CONNECT, CONNACK, AUTH.
    pub authentication_method: Option<ByteString>,
    /// 0x16, CONNECT, CONNACK, AUTH.
    pub authentication_data: Option<Bytes>,
    /// 0x17, CONNECT: 0 or 1.
    pub request_problem_information: Option<u8>,
    /// 0x18, will: seconds.
    pub will_delay_interval: Option<u32>,
    /// 0x19, CONNECT: 0 or 1.
    pub request_response_information: Option<u8>,
    /// 0x1A, CONNACK.
    pub response_information: Option<ByteString>,
    /// 0x1C, CONNACK, DISCONNECT.
    pub server_reference: Option<ByteString>,
    /// 0x1F, CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH.
    pub reason_string: Option<ByteString>,
    /// 0x21, CONNECT, CONNACK: 1..=65,535.
    pub receive_maximum: Option<u16>,
    /// 0x22, CONNECT, CONNACK.
    pub topic_alias_maximum: Option<u16>,
    /// 0x23, PUBLISH: 1..=65,535.
    pub topic_alias: Option<u16>,
    /// 0x24, CONNACK: 0 or 1.
    pub maximum_qos: Option<u8>,
    /// 0x25, CONNACK: 0 or 1.
    pub retain_available: Option<u8>,
    /// 0x26, every packet with properties; may repeat; order is kept.
    pub user_properties: Vec<(ByteString, ByteString)>,
    /// 0x27, CONNECT, CONNACK: 1..=268,435,455.
    pub maximum_packet_size: Option<u32>,
    /// 0x28, CONNACK: 0 or 1.
    pub wildcard_subscription_available: Option<u8>,
    /// 0x29, CONNACK: 0 or 1.
    pub subscription_identifier_available: Option<u8>,
    /// 0x2A, CONNACK: 0 or 1.
    pub shared_subscription_available: Option<u8>,
}

impl Properties {
    /// True when no property is set.
    pub fn is_empty(&self) -> bool {
        // Field by field, without building a default to compare with: this
        // runs for every packet encoded. Destructured so a new field cannot
        // be forgotten here.
        let Properties {
            payload_format_indicator,
            message_expiry_interval,
            content_type,
            response_topic,
            correlation_data,
            subscription_identifiers,
            session_expiry_interval,
            assigned_client_identifier,
            server_keep_alive,
            authentication_method,
            authentication_data,
            request_problem_information,
            will_delay_interval,
            request_response_information,
            response_information,
            server_reference,
            reason_string,
            receive_maximum,
            topic_alias_maximum,
            topic_alias,
            maximum_qos,
            retain_available,
            user_properties,
            maximum_packet_size,
            wildcard_subscription_available,
            subscription_identifier_available,
            shared_subscription_available,
        } = self;
        payload_format_indicator.is_none()
            && message_expiry_interval.is_none()
            && content_type.is_none()
            && response_topic.is_none()
            && correlation_data.is_none()
            && subscription_identifiers.is_empty()
            && session_expiry_interval.is_none()
            && assigned_client_identifier.is_none()
            && server_keep_alive.is_none()
            && authentication_method.is_none()
            && authentication_data.is_none()
            && request_problem_information.is_none()
            && will_delay_interval.is_none()
            && request_response_information.is_none()
            && response_information.is_none()
            && server_reference.is_none()
            && reason_string.is_none()
            && receive_maximum.is_none()
            && topic_alias_maximum.is_none()
            && topic_alias.is_none()
            && maximum_qos.is_none()
            && retain_available.is_none()
            && user_properties.is_empty()
            && maximum_packet_size.is_none()
            && wildcard_subscription_available.is_none()
            && subscription_identifier_available.is_none()
            && shared_subscription_available.is_none()
    }
}

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
    fn value_ok(self, value: u32) -> bool {
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

/// Reads a property block (length, then properties) from the front of `buf`.
/// Checks unknown identifiers, properties not allowed in `owner`, duplicates
/// and value ranges.
pub(crate) fn decode(buf: &mut Bytes, owner: PropertyOwner) -> Result<Properties, DecodeError> {
    let len = wire::read_varint(buf)?;
    let mut block = wire::take(buf, len as usize)?;
    let mut props = Properties::default();
    while !block.is_empty() {
        let byte = wire::read_u8(&mut block)?;
        let id = PropertyId::from_u8(byte).ok_or(DecodeError::UnknownProperty(byte))?;
        if !id.allowed_in(owner) {
            return Err(DecodeError::PropertyNotAllowed {
                property: byte,
                packet: owner.packet_type(),
            });
        }
        read_property(&mut props, id, &mut block, owner)?;
    }
    Ok(props)
}

/// Stores `value` in a property that may appear only once.
fn once<T>(slot: &mut Option<T>, value: T, id: PropertyId) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::DuplicateProperty(id as u8));
    }
    *slot = Some(value);
    Ok(())
}

fn checked(id: PropertyId, value: u32) -> Result<u32, DecodeError> {
    if id.value_ok(value) {
        Ok(value)
    } else {
        Err(DecodeError::InvalidPropertyValue(id as u8))
    }
}

fn read_property(
    props: &mut Properties,
    id: PropertyId,
    buf: &mut Bytes,
    owner: PropertyOwner,
) -> Result<(), DecodeError> {
    use PropertyId::*;
    // Small readers that apply the range rules; the casts back are lossless
    // because the value came from a field of that width.
    let byte = |buf: &mut Bytes| -> Result<u8, DecodeError> {
        Ok(checked(id, wire::read_u8(buf)?.into())? as u8)
    };
    let u16 = |buf: &mut Bytes| -> Result<u16, DecodeError> {
        Ok(checked(id, wire::read_u16(buf)?.into())? as u16)
    };
    let u32 = |buf: &mut Bytes| checked(id, wire::read_u32(buf)?);
    let p = props;
    match id {
        PayloadFormatIndicator => once(&mut p.payload_format_indicator, byte(buf)?, id),
        MessageExpiryInterval => once(&mut p.message_expiry_interval, u32(buf)?, id),
        ContentType => once(&mut p.content_type, wire::read_string(buf)?, id),
        ResponseTopic => {
            let topic = wire::read_string(buf)?;
            if topic::validate_topic_name(&topic).is_err() {
                return Err(DecodeError::InvalidPropertyValue(id as u8));
            }
            once(&mut p.response_topic, topic, id)
        }
        CorrelationData => once(&mut p.correlation_data, wire::read_binary(buf)?, id),
        SubscriptionIdentifier => {
            // Several only in PUBLISH (one per matching subscription).
            let only_one = owner != PropertyOwner::Packet(PacketType::Publish);
            if only_one && !p.subscription_identifiers.is_empty() {
                return Err(DecodeError::DuplicateProperty(id as u8));
            }
            let value = checked(id, wire::read_varint(buf)?)?;
            p.subscription_identifiers.push(value);
            Ok(())
        }
        SessionExpiryInterval => once(&mut p.session_expiry_interval, u32(buf)?, id),
        AssignedClientIdentifier => once(
            &mut p.assigned_client_identifier,
            wire::read_string(buf)?,
            id,
        ),
        ServerKeepAlive => once(&mut p.server_keep_alive, u16(buf)?, id),
        AuthenticationMethod => once(&mut p.authentication_method, wire::read_string(buf)?, id),
        AuthenticationData => once(&mut p.authentication_data, wire::read_binary(buf)?, id),
        RequestProblemInformation => once(&mut p.request_problem_information, byte(buf)?, id),
        WillDelayInterval => once(&mut p.will_delay_interval, u32(buf)?, id),
        RequestResponseInformation => once(&mut p.request_response_information, byte(buf)?, id),
        ResponseInformation => once(&mut p.response_information, wire::read_string(buf)?, id),
        ServerReference => once(&mut p.server_reference, wire::read_string(buf)?, id),
        ReasonString => once(&mut p.reason_string, wire::read_string(buf)?, id),
        ReceiveMaximum => once(&mut p.receive_maximum, u16(buf)?, id),
        TopicAliasMaximum => once(&mut p.topic_alias_maximum, u16(buf)?, id),
        TopicAlias => once(&mut p.topic_alias, u16(buf)?, id),
        MaximumQoS => once(&mut p.maximum_qos, byte(buf)?, id),
        RetainAvailable => once(&mut p.retain_available, byte(buf)?, id),
        UserProperty => {
            let key = wire::read_string(buf)?;
            let value = wire::read_string(buf)?;
            p.user_properties.push((key, value));
            Ok(())
        }
        MaximumPacketSize => once(&mut p.maximum_packet_size, u32(buf)?, id),
        WildcardSubscriptionAvailable => {
            once(&mut p.wildcard_subscription_available, byte(buf)?, id)
        }
        SubscriptionIdentifierAvailable => {
            once(&mut p.subscription_identifier_available, byte(buf)?, id)
        }
        SharedSubscriptionAvailable => once(&mut p.shared_subscription_available, byte(buf)?, id),
    }
}

/// One property value, borrowed from `Properties`, for sizing and writing.
enum Value<'a> {
    Byte(u8),
    U16(u16),
    U32(u32),
    VarInt(u32),
    Str(&'a str),
    Bin(&'a [u8]),
    Pair(&'a str, &'a str),
}

impl Value<'_> {
    fn len(&self) -> usize {
        match self {
            Value::Byte(_) => 1,
            Value::U16(_) => 2,
            Value::U32(_) => 4,
            Value::VarInt(v) => varint::len(*v as usize),
            Value::Str(s) => wire::field_len(s.as_bytes()),
            Value::Bin(b) => wire::field_len(b),
            Value::Pair(k, v) => wire::field_len(k.as_bytes()) + wire::field_len(v.as_bytes()),
        }
    }

    /// The numeric value, for the range rules.
    fn number(&self) -> Option<u32> {
        match *self {
            Value::Byte(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) | Value::VarInt(v) => Some(v),
            _ => None,
        }
    }
}

/// Calls `f` for every property that is set, in identifier order. The single
/// place that maps `Properties` fields to identifiers for encoding.
fn visit<E>(
    p: &Properties,
    mut f: impl FnMut(PropertyId, Value<'_>) -> Result<(), E>,
) -> Result<(), E> {
    use PropertyId::*;
    use Value::*;
    let byte = |v: Option<u8>| v.map(Byte);
    let u16 = |v: Option<u16>| v.map(U16);
    let u32 = |v: Option<u32>| v.map(U32);
    fn text(v: &Option<ByteString>) -> Option<Value<'_>> {
        v.as_deref().map(Value::Str)
    }
    fn bin(v: &Option<Bytes>) -> Option<Value<'_>> {
        v.as_deref().map(Value::Bin)
    }

    let single: [(PropertyId, Option<Value<'_>>); 25] = [
        (PayloadFormatIndicator, byte(p.payload_format_indicator)),
        (MessageExpiryInterval, u32(p.message_expiry_interval)),
        (ContentType, text(&p.content_type)),
        (ResponseTopic, text(&p.response_topic)),
        (CorrelationData, bin(&p.correlation_data)),
        (SessionExpiryInterval, u32(p.session_expiry_interval)),
        (
            AssignedClientIdentifier,
            text(&p.assigned_client_identifier),
        ),
        (ServerKeepAlive, u16(p.server_keep_alive)),
        (AuthenticationMethod, text(&p.authentication_method)),
        (AuthenticationData, bin(&p.authentication_data)),
        (
            RequestProblemInformation,
            byte(p.request_problem_information),
        ),
        (WillDelayInterval, u32(p.will_delay_interval)),
        (
            RequestResponseInformation,
            byte(p.request_response_information),
        ),
        (ResponseInformation, text(&p.response_information)),
        (ServerReference, text(&p.server_reference)),
        (ReasonString, text(&p.reason_string)),
        (ReceiveMaximum, u16(p.receive_maximum)),
        (TopicAliasMaximum, u16(p.topic_alias_maximum)),
        (TopicAlias, u16(p.topic_alias)),
        (MaximumQoS, byte(p.maximum_qos)),
        (RetainAvailable, byte(p.retain_available)),
        (MaximumPacketSize, u32(p.maximum_packet_size)),
        (
            WildcardSubscriptionAvailable,
            byte(p.wildcard_subscription_available),
        ),
        (
            SubscriptionIdentifierAvailable,
            byte(p.subscription_identifier_available),
        ),
        (
            SharedSubscriptionAvailable,
            byte(p.shared_subscription_available),
        ),
    ];
    for (id, value) in single {
        if let Some(value) = value {
            f(id, value)?;
        }
    }
    for &id in &p.subscription_identifiers {
        f(SubscriptionIdentifier, VarInt(id))?;
    }
    for (key, value) in &p.user_properties {
        f(UserProperty, Pair(key, value))?;
    }
    Ok(())
}

/// Length of the properties themselves, without the length prefix.
fn content_len(props: &Properties) -> usize {
    let mut len = 0;
    let _ = visit::<()>(props, |_, value| {
        len += 1 + value.len();
        Ok(())
    });
    len
}

/// Wire size of the whole property block: length prefix plus properties.
pub(crate) fn len(props: &Properties) -> usize {
    // Most packets carry no properties: skip the walk over every field.
    if props.is_empty() {
        return 1;
    }
    let content = content_len(props);
    varint::len(content) + content
}

/// Writes the property block of `owner`. Properties `owner` may not carry,
/// and values out of range, are errors rather than silently dropped: the
/// peer would reject the packet anyway.
pub(crate) fn write(
    props: &Properties,
    owner: PropertyOwner,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if props.is_empty() {
        out.put_u8(0); // property length 0
        return Ok(());
    }
    let only_one_sub_id = owner != PropertyOwner::Packet(PacketType::Publish);
    if only_one_sub_id && props.subscription_identifiers.len() > 1 {
        return Err(EncodeError::InvalidValue(
            "several subscription identifiers outside PUBLISH",
        ));
    }
    varint::write(content_len(props), out);
    visit(props, |id, value| {
        if !id.allowed_in(owner) {
            return Err(EncodeError::PropertyNotAllowed {
                property: id as u8,
                packet: owner.packet_type(),
            });
        }
        if value.number().is_some_and(|n| !id.value_ok(n)) {
            return Err(EncodeError::InvalidValue("property value out of range"));
        }
        out.put_u8(id as u8);
        match value {
            Value::Byte(v) => out.put_u8(v),
            Value::U16(v) => out.put_u16(v),
            Value::U32(v) => out.put_u32(v),
            Value::VarInt(v) => varint::write(v as usize, out),
            Value::Str(s) => wire::write_string(s, out)?,
            Value::Bin(b) => wire::write_field(b, out)?,
            Value::Pair(k, v) => {
                wire::write_string(k, out)?;
                wire::write_string(v, out)?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_block(bytes: &'static [u8], owner: PacketType) -> Result<Properties, DecodeError> {
        let mut buf = Bytes::from_static(bytes);
        let props = decode(&mut buf, owner.into())?;
        assert!(buf.is_empty());
        Ok(props)
    }

    /// Every CONNACK property, in identifier order, round trips.
    #[test]
    fn connack_block_round_trips() {
        let bytes: &[u8] = &[
            0x3C, // property length 60
            0x11, 0x00, 0x00, 0x00, 0x0A, // session expiry interval 10
            0x12, 0x00, 0x01, b'c', // assigned client identifier "c"
            0x13, 0x00, 0x05, // server keep alive 5
            0x15, 0x00, 0x01, b'm', // authentication method "m"
            0x16, 0x00, 0x01, 0xFF, // authentication data
            0x1A, 0x00, 0x01, b'r', // response information "r"
            0x1C, 0x00, 0x01, b's', // server reference "s"
            0x1F, 0x00, 0x01, b'w', // reason string "w"
            0x21, 0x00, 0x01, // receive maximum 1
            0x22, 0x00, 0x00, // topic alias maximum 0 (no aliases)
            0x24, 0x00, // maximum QoS 0
            0x25, 0x01, // retain available
            0x27, 0x00, 0x00, 0x01, 0x00, // maximum packet size 256
            0x28, 0x00, // wildcard subscriptions not available
            0x29, 0x01, // subscription identifiers available
            0x2A, 0x01, // shared subscriptions available
            0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b', // user property ("a", "b")
        ];
        let props = decode_block(bytes, PacketType::ConnAck).unwrap();
        assert_eq!(props.maximum_packet_size, Some(256));
        assert_eq!(props.topic_alias_maximum, Some(0));
        assert_eq!(props.user_properties, vec![("a".into(), "b".into())]);
        assert_eq!(len(&props), bytes.len());
        let mut out = BytesMut::new();
        write(&props, PacketType::ConnAck.into(), &mut out).unwrap();
        assert_eq!(&out[..], bytes);
    }

    #[test]
    fn user_properties_repeat_in_order() {
        let bytes: &[u8] = &[
            0x0E, // property length 14
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'2', // user property ("k", "2")
            0x26, 0x00, 0x01, b'k', 0x00, 0x01,
            b'1', // user property ("k", "1"): same key again
        ];
        let props = decode_block(bytes, PacketType::PubAck).unwrap();
        assert_eq!(
            props.user_properties,
            vec![("k".into(), "2".into()), ("k".into(), "1".into())]
        );
    }

    #[test]
    fn value_ranges() {
        use DecodeError::InvalidPropertyValue as Invalid;
        let connect = PacketType::Connect;
        let cases: &[(&'static [u8], PacketType, DecodeError)] = &[
            (&[0x03, 0x21, 0x00, 0x00], connect, Invalid(0x21)), // receive maximum 0
            (&[0x05, 0x27, 0, 0, 0, 0], connect, Invalid(0x27)), // maximum packet size 0
            (&[0x02, 0x17, 0x02], connect, Invalid(0x17)),       // request problem information 2
            (&[0x02, 0x19, 0x05], connect, Invalid(0x19)),       // request response information 5
            (&[0x02, 0x25, 0x02], PacketType::ConnAck, Invalid(0x25)), // retain available 2
            (&[0x02, 0x0B, 0x00], PacketType::Subscribe, Invalid(0x0B)), // subscription id 0
            (
                &[0x03, 0x23, 0x00, 0x00],
                PacketType::Publish,
                Invalid(0x23),
            ), // topic alias 0
            (
                &[0x04, 0x08, 0x00, 0x01, b'#'],
                PacketType::Publish,
                Invalid(0x08),
            ), // response topic "#"
        ];
        for (bytes, owner, expected) in cases {
            assert_eq!(
                decode_block(bytes, *owner).as_ref(),
                Err(expected),
                "{bytes:x?}"
            );
        }
    }

    #[test]
    fn structural_errors() {
        use DecodeError::*;
        let publish = PacketType::Publish;
        let cases: &[(&'static [u8], PacketType, DecodeError)] = &[
            (&[0x02, 0x00, 0x00], publish, UnknownProperty(0x00)),
            (&[0x02, 0x2B, 0x00], publish, UnknownProperty(0x2B)),
            (&[0x04, 0x23, 0x00, 0x01, 0x23], publish, Truncated), // value cut short
            (
                &[0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02],
                publish,
                DuplicateProperty(0x23),
            ),
            (&[0x05], publish, Truncated), // block longer than the packet
            (&[0x80, 0x00], publish, MalformedVariableByteInteger),
            (
                &[0x03, 0x13, 0x00, 0x01],
                publish,
                PropertyNotAllowed {
                    property: 0x13,
                    packet: publish,
                },
            ),
        ];
        for (bytes, owner, expected) in cases {
            assert_eq!(
                decode_block(bytes, *owner).as_ref(),
                Err(expected),
                "{bytes:x?}"
            );
        }
    }

    #[test]
    fn will_properties() {
        let mut buf = Bytes::from_static(&[
            0x0A, // property length 10
            0x18, 0x00, 0x00, 0x00, 0x3C, // will delay interval 60
            0x02, 0x00, 0x00, 0x00, 0x10, // message expiry interval 16
        ]);
        let props = decode(&mut buf, PropertyOwner::Will).unwrap();
        assert_eq!(props.will_delay_interval, Some(60));
        assert_eq!(props.message_expiry_interval, Some(16));
        let mut not_in_will = Bytes::from_static(&[0x03, 0x23, 0x00, 0x01]);
        assert_eq!(
            decode(&mut not_in_will, PropertyOwner::Will),
            Err(DecodeError::PropertyNotAllowed {
                property: 0x23,
                packet: PacketType::Connect
            })
        );
    }

    #[test]
    fn is_empty_sees_every_field() {
        assert!(Properties::default().is_empty());
        let setters: &[fn(&mut Properties)] = &[
            |p| p.payload_format_indicator = Some(0),
            |p| p.message_expiry_interval = Some(0),
            |p| p.content_type = Some("x".into()),
            |p| p.response_topic = Some("x".into()),
            |p| p.correlation_data = Some(Bytes::new()),
            |p| p.subscription_identifiers = vec![1],
            |p| p.session_expiry_interval = Some(0),
            |p| p.assigned_client_identifier = Some("x".into()),
            |p| p.server_keep_alive = Some(0),
            |p| p.authentication_method = Some("x".into()),
            |p| p.authentication_data = Some(Bytes::new()),
            |p| p.request_problem_information = Some(0),
            |p| p.will_delay_interval = Some(0),
            |p| p.request_response_information = Some(0),
            |p| p.response_information = Some("x".into()),
            |p| p.server_reference = Some("x".into()),
            |p| p.reason_string = Some("x".into()),
            |p| p.receive_maximum = Some(0),
            |p| p.topic_alias_maximum = Some(0),
            |p| p.topic_alias = Some(0),
            |p| p.maximum_qos = Some(0),
            |p| p.retain_available = Some(0),
            |p| p.user_properties = vec![("k".into(), "v".into())],
            |p| p.maximum_packet_size = Some(0),
            |p| p.wildcard_subscription_available = Some(0),
            |p| p.subscription_identifier_available = Some(0),
            |p| p.shared_subscription_available = Some(0),
        ];
        for (i, set) in setters.iter().enumerate() {
            let mut props = Properties::default();
            set(&mut props);
            assert!(!props.is_empty(), "field {i}");
        }
    }

    #[test]
    fn allowed_in_table() {
        use PacketType as P;
        assert!(PropertyId::UserProperty.allowed_in(P::Auth));
        assert!(!PropertyId::UserProperty.allowed_in(P::PingReq));
        assert!(PropertyId::WillDelayInterval.allowed_in(PropertyOwner::Will));
        assert!(!PropertyId::WillDelayInterval.allowed_in(P::Connect));
        assert!(PropertyId::SubscriptionIdentifier.allowed_in(P::Subscribe));
        assert!(!PropertyId::SubscriptionIdentifier.allowed_in(P::Unsubscribe));
        assert!(!PropertyId::TopicAlias.allowed_in(PropertyOwner::Will));
        for byte in 0..=u8::MAX {
            if let Some(id) = PropertyId::from_u8(byte) {
                assert_eq!(id as u8, byte);
            }
        }
    }

    #[test]
    fn write_refuses_bad_properties() {
        let mut out = BytesMut::new();
        let not_allowed = Properties {
            topic_alias: Some(1),
            ..Properties::default()
        };
        assert_eq!(
            write(&not_allowed, PacketType::Connect.into(), &mut out),
            Err(EncodeError::PropertyNotAllowed {
                property: 0x23,
                packet: PacketType::Connect
            })
        );
        let zero = Properties {
            receive_maximum: Some(0),
            ..Properties::default()
        };
        assert!(write(&zero, PacketType::Connect.into(), &mut out).is_err());
        let two_ids = Properties {
            subscription_identifiers: vec![1, 2],
            ..Properties::default()
        };
        assert!(write(&two_ids, PacketType::Subscribe.into(), &mut out).is_err());
        assert!(write(&two_ids, PacketType::Publish.into(), &mut out).is_ok());
    }
}
