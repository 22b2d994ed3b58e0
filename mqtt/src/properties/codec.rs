//! The wire form of a property block: the length prefix, then each property
//! as its identifier byte and value. Decoding checks where each property may
//! appear, duplicates and value ranges; encoding refuses the same mistakes.

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use super::{Properties, PropertyId, PropertyOwner};
use crate::error::{DecodeError, EncodeError};
use crate::protocol::PacketType;
use crate::{topic, varint, wire};

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
