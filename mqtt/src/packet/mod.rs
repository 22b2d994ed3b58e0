//! The fixed header (spec §2.1), the public [`decode`] / [`encode`] entry
//! points, and helpers shared by the per-packet files.
//!
//! Each packet file has `decode(body, ..)` taking exactly the packet's
//! variable header and payload (the fixed header already stripped and the
//! remaining length already checked), `len(..)` giving the remaining length
//! the packet will have, and `write(..)` appending the body.

mod ack;
mod auth;
mod connack;
mod connect;
mod disconnect;
mod publish;
mod suback;
mod subscribe;
mod unsuback;
mod unsubscribe;

pub use publish::PublishRef;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::properties::{self, Properties, PropertyOwner};
use crate::protocol::MAX_REMAINING_LENGTH;
use crate::reason::ReasonCode;
use crate::topic::{self, TopicError};
use crate::types::{Packet, PacketType, Pid, Protocol};
use crate::{varint, wire};

/// Decode one packet from the front of `buf`.
///
/// `Ok(None)` means more bytes are needed: nothing is consumed and nothing is
/// allocated, so a header announcing 256 MB with 10 bytes behind it costs
/// nothing. When a whole packet is present it is split off `buf` and decoded
/// without copying: topics and payloads are slices of the same allocation.
///
/// `protocol` is the connection's protocol, used for every packet except
/// CONNECT, which carries its own level (the returned `Connect::protocol`
/// tells the caller which one the peer speaks).
///
/// `max_packet_size` is the largest whole packet accepted, fixed header
/// included; a larger one is refused with `DecodeError::PacketTooLarge` as
/// soon as its fixed header is readable, before its body arrives.
///
/// On an error the connection must be closed; how much of `buf` was consumed
/// is then unspecified.
///
/// ```
/// use mqtt::bytes::BytesMut;
/// use mqtt::{decode, encode, Ack, Packet, Pid, Protocol};
///
/// let puback = Packet::PubAck(Ack::new(Pid::new(7).unwrap()));
/// let mut buf = BytesMut::new();
/// encode(&puback, Protocol::V5, &mut buf).unwrap();
/// assert_eq!(&buf[..], &[0x40, 0x02, 0x00, 0x07]);
///
/// let mut partial = BytesMut::from(&buf[..3]);
/// assert_eq!(decode(&mut partial, Protocol::V5, 1024), Ok(None));
/// assert_eq!(decode(&mut buf, Protocol::V5, 1024), Ok(Some(puback)));
/// assert!(buf.is_empty());
/// ```
pub fn decode(
    buf: &mut BytesMut,
    protocol: Protocol,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let packet_type = packet_type(first >> 4)?;
    let flags = first & 0x0F;
    check_flags(packet_type, flags)?;
    if packet_type == PacketType::Auth && !protocol.is_v5() {
        return Err(DecodeError::V5OnlyPacket);
    }
    let Some((remaining, len_bytes)) = varint::decode(&buf[1..])? else {
        return Ok(None);
    };
    let header_len = 1 + len_bytes;
    // At most 5 + 268,435,455: fits a u32.
    let size = header_len as u32 + remaining;
    if size > max_packet_size {
        return Err(DecodeError::PacketTooLarge {
            size,
            max: max_packet_size,
        });
    }
    if buf.len() < size as usize {
        return Ok(None);
    }
    let mut body = buf.split_to(size as usize).freeze();
    body.advance(header_len);
    decode_body(packet_type, flags, body, protocol)
}

#[inline]
fn decode_body(
    packet_type: PacketType,
    flags: u8,
    body: Bytes,
    protocol: Protocol,
) -> Result<Option<Packet>, DecodeError> {
    use PacketType as T;
    let packet = match packet_type {
        // The hot path: the PUBLISH decoder builds the packet in the returned
        // value. A `Packet` is ~470 bytes, and re-wrapping it (`?`,
        // `Packet::Publish`, `Ok`, `Some`) would copy it each time.
        T::Publish => return publish::decode(flags, body, protocol),
        T::Connect => Packet::Connect(Box::new(connect::decode(body)?)),
        T::ConnAck => Packet::ConnAck(connack::decode(body, protocol)?),
        T::PubAck => Packet::PubAck(ack::decode(T::PubAck, body, protocol)?),
        T::PubRec => Packet::PubRec(ack::decode(T::PubRec, body, protocol)?),
        T::PubRel => Packet::PubRel(ack::decode(T::PubRel, body, protocol)?),
        T::PubComp => Packet::PubComp(ack::decode(T::PubComp, body, protocol)?),
        T::Subscribe => Packet::Subscribe(subscribe::decode(body, protocol)?),
        T::SubAck => Packet::SubAck(suback::decode(body, protocol)?),
        T::Unsubscribe => Packet::Unsubscribe(unsubscribe::decode(body, protocol)?),
        T::UnsubAck => Packet::UnsubAck(unsuback::decode(body, protocol)?),
        T::PingReq => {
            wire::finish(&body)?;
            Packet::PingReq
        }
        T::PingResp => {
            wire::finish(&body)?;
            Packet::PingResp
        }
        T::Disconnect => Packet::Disconnect(disconnect::decode(body, protocol)?),
        T::Auth => Packet::Auth(auth::decode(body)?),
    };
    Ok(Some(packet))
}

fn packet_type(value: u8) -> Result<PacketType, DecodeError> {
    use PacketType as T;
    Ok(match value {
        1 => T::Connect,
        2 => T::ConnAck,
        3 => T::Publish,
        4 => T::PubAck,
        5 => T::PubRec,
        6 => T::PubRel,
        7 => T::PubComp,
        8 => T::Subscribe,
        9 => T::SubAck,
        10 => T::Unsubscribe,
        11 => T::UnsubAck,
        12 => T::PingReq,
        13 => T::PingResp,
        14 => T::Disconnect,
        15 => T::Auth,
        _ => return Err(DecodeError::InvalidPacketType(value)),
    })
}

/// The flags nibble every packet but PUBLISH must have (MQTT-2.1.3-1).
fn fixed_flags(packet_type: PacketType) -> u8 {
    match packet_type {
        PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
        _ => 0,
    }
}

fn check_flags(packet_type: PacketType, flags: u8) -> Result<(), DecodeError> {
    // PUBLISH flags carry DUP/QoS/RETAIN and are checked by its decoder.
    if packet_type != PacketType::Publish && flags != fixed_flags(packet_type) {
        return Err(DecodeError::ReservedFlags { packet_type, flags });
    }
    Ok(())
}

/// Append the packet's wire form to `out`.
///
/// The protocol decides which fields exist: before v5 properties and reason
/// codes are left out (see the packet types for how v5 codes map to 3.1.1
/// ones). CONNECT is written at its own `Connect::protocol`. On error nothing
/// is appended.
pub fn encode(packet: &Packet, protocol: Protocol, out: &mut BytesMut) -> Result<(), EncodeError> {
    all_or_nothing(out, |out| encode_unchecked(packet, protocol, out))
}

/// Run `write` on `out`; if it fails, `out` is left as it was.
fn all_or_nothing(
    out: &mut BytesMut,
    write: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let result = write(out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// The fixed header (`first` byte, remaining length), then the body that
/// `write` appends, which must be `remaining` bytes long.
fn framed(
    first: u8,
    remaining: usize,
    out: &mut BytesMut,
    write: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    if remaining > MAX_REMAINING_LENGTH {
        return Err(EncodeError::PacketTooLarge { size: remaining });
    }
    out.reserve(1 + varint::len(remaining) + remaining);
    out.put_u8(first);
    varint::write(remaining, out);
    let body_start = out.len();
    write(out)?;
    debug_assert_eq!(
        out.len() - body_start,
        remaining,
        "first byte {first:#04x}: length"
    );
    Ok(())
}

fn encode_unchecked(
    packet: &Packet,
    protocol: Protocol,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let packet_type = packet.packet_type();
    if packet_type == PacketType::Auth && !protocol.is_v5() {
        return Err(EncodeError::NotInProtocol {
            packet: packet_type,
            protocol,
        });
    }
    let flags = match packet {
        Packet::Publish(publish) => publish::flags(&publish.into()),
        _ => fixed_flags(packet_type),
    };
    let first = (packet_type as u8) << 4 | flags;
    framed(first, remaining_len(packet, protocol), out, |out| {
        match packet {
            Packet::Connect(connect) => connect::write(connect, out)?,
            Packet::ConnAck(connack) => connack::write(connack, protocol, out)?,
            Packet::Publish(publish) => publish::write(&publish.into(), protocol, out)?,
            Packet::PubAck(ack)
            | Packet::PubRec(ack)
            | Packet::PubRel(ack)
            | Packet::PubComp(ack) => ack::write(packet_type, ack, protocol, out)?,
            Packet::Subscribe(subscribe) => subscribe::write(subscribe, protocol, out)?,
            Packet::SubAck(suback) => suback::write(suback, protocol, out)?,
            Packet::Unsubscribe(unsubscribe) => unsubscribe::write(unsubscribe, protocol, out)?,
            Packet::UnsubAck(unsuback) => unsuback::write(unsuback, protocol, out)?,
            Packet::PingReq | Packet::PingResp => {}
            Packet::Disconnect(disconnect) => disconnect::write(disconnect, protocol, out)?,
            Packet::Auth(auth) => auth::write(auth, out)?,
        }
        Ok(())
    })
}

/// Append a PUBLISH given by reference ([`PublishRef`]): the bytes
/// [`encode`] writes for the same [`Publish`], without building one. On
/// error nothing is appended.
pub fn encode_publish(
    publish: &PublishRef,
    protocol: Protocol,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let first = (PacketType::Publish as u8) << 4 | publish::flags(publish);
    all_or_nothing(out, |out| {
        framed(first, publish::len(publish, protocol), out, |out| {
            publish::write(publish, protocol, out)
        })
    })
}

/// Size in bytes of what [`encode_publish`] appends, without encoding it.
pub fn encoded_publish_len(publish: &PublishRef, protocol: Protocol) -> usize {
    let remaining = publish::len(publish, protocol);
    1 + varint::len(remaining) + remaining
}

/// Size in bytes of the packet's wire form (fixed header included), without
/// encoding it.
pub fn encoded_len(packet: &Packet, protocol: Protocol) -> usize {
    let remaining = remaining_len(packet, protocol);
    1 + varint::len(remaining) + remaining
}

fn remaining_len(packet: &Packet, protocol: Protocol) -> usize {
    match packet {
        Packet::Connect(connect) => connect::len(connect),
        Packet::ConnAck(connack) => connack::len(connack, protocol),
        Packet::Publish(publish) => publish::len(&publish.into(), protocol),
        Packet::PubAck(ack) | Packet::PubRec(ack) | Packet::PubRel(ack) | Packet::PubComp(ack) => {
            ack::len(ack, protocol)
        }
        Packet::Subscribe(subscribe) => subscribe::len(subscribe, protocol),
        Packet::SubAck(suback) => suback::len(suback, protocol),
        Packet::Unsubscribe(unsubscribe) => unsubscribe::len(unsubscribe, protocol),
        Packet::UnsubAck(unsuback) => unsuback::len(unsuback, protocol),
        Packet::PingReq | Packet::PingResp => 0,
        Packet::Disconnect(disconnect) => disconnect::len(disconnect, protocol),
        Packet::Auth(auth) => auth::len(auth),
    }
}

// ---- Helpers shared by the packet files. ----

/// A packet identifier, which must not be 0.
fn read_pid(buf: &mut Bytes) -> Result<Pid, DecodeError> {
    Pid::new(wire::read_u16(buf)?).ok_or(DecodeError::ZeroPacketId)
}

/// A v5 reason code byte, which must be one `packet` may carry.
fn read_reason(buf: &mut Bytes, packet: PacketType) -> Result<ReasonCode, DecodeError> {
    let byte = wire::read_u8(buf)?;
    ReasonCode::from_u8(byte)
        .filter(|&code| reason_allowed(packet, code))
        .ok_or(DecodeError::InvalidReasonCode(byte))
}

/// Writes a v5 reason code after checking `packet` may carry it.
fn write_reason(
    code: ReasonCode,
    packet: PacketType,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if !reason_allowed(packet, code) {
        return Err(EncodeError::InvalidReasonCode { code, packet });
    }
    out.put_u8(code.as_u8());
    Ok(())
}

/// The reason codes each v5 packet may carry (spec §3.x.2.1 tables).
fn reason_allowed(packet: PacketType, code: ReasonCode) -> bool {
    use ReasonCode::*;
    match packet {
        PacketType::ConnAck => matches!(
            code,
            Success
                | UnspecifiedError
                | MalformedPacket
                | ProtocolError
                | ImplementationSpecificError
                | UnsupportedProtocolVersion
                | ClientIdentifierNotValid
                | BadUserNameOrPassword
                | NotAuthorized
                | ServerUnavailable
                | ServerBusy
                | Banned
                | BadAuthenticationMethod
                | TopicNameInvalid
                | PacketTooLarge
                | QuotaExceeded
                | PayloadFormatInvalid
                | RetainNotSupported
                | QoSNotSupported
                | UseAnotherServer
                | ServerMoved
                | ConnectionRateExceeded
        ),
        PacketType::PubAck | PacketType::PubRec => matches!(
            code,
            Success
                | NoMatchingSubscribers
                | UnspecifiedError
                | ImplementationSpecificError
                | NotAuthorized
                | TopicNameInvalid
                | PacketIdentifierInUse
                | QuotaExceeded
                | PayloadFormatInvalid
        ),
        PacketType::PubRel | PacketType::PubComp => {
            matches!(code, Success | PacketIdentifierNotFound)
        }
        PacketType::SubAck => matches!(
            code,
            Success
                | GrantedQoS1
                | GrantedQoS2
                | UnspecifiedError
                | ImplementationSpecificError
                | NotAuthorized
                | TopicFilterInvalid
                | PacketIdentifierInUse
                | QuotaExceeded
                | SharedSubscriptionsNotSupported
                | SubscriptionIdentifiersNotSupported
                | WildcardSubscriptionsNotSupported
        ),
        PacketType::UnsubAck => matches!(
            code,
            Success
                | NoSubscriptionExisted
                | UnspecifiedError
                | ImplementationSpecificError
                | NotAuthorized
                | TopicFilterInvalid
                | PacketIdentifierInUse
        ),
        PacketType::Disconnect => matches!(
            code,
            Success
                | DisconnectWithWillMessage
                | UnspecifiedError
                | MalformedPacket
                | ProtocolError
                | ImplementationSpecificError
                | NotAuthorized
                | ServerBusy
                | ServerShuttingDown
                | KeepAliveTimeout
                | SessionTakenOver
                | TopicFilterInvalid
                | TopicNameInvalid
                | ReceiveMaximumExceeded
                | TopicAliasInvalid
                | PacketTooLarge
                | MessageRateTooHigh
                | QuotaExceeded
                | AdministrativeAction
                | PayloadFormatInvalid
                | RetainNotSupported
                | QoSNotSupported
                | UseAnotherServer
                | ServerMoved
                | SharedSubscriptionsNotSupported
                | ConnectionRateExceeded
                | MaximumConnectTime
                | SubscriptionIdentifiersNotSupported
                | WildcardSubscriptionsNotSupported
        ),
        PacketType::Auth => matches!(code, Success | ContinueAuthentication | ReAuthenticate),
        _ => false,
    }
}

/// The property block of a v5 packet; nothing before v5.
fn read_properties(
    buf: &mut Bytes,
    protocol: Protocol,
    owner: impl Into<PropertyOwner>,
) -> Result<Properties, DecodeError> {
    if protocol.is_v5() {
        properties::decode(buf, owner.into())
    } else {
        Ok(Properties::default())
    }
}

/// Wire size of the property block: 0 before v5, where it is not sent.
fn properties_len(props: &Properties, protocol: Protocol) -> usize {
    if protocol.is_v5() {
        properties::len(props)
    } else {
        0
    }
}

/// Writes the property block in v5; before v5 properties are dropped, which
/// lets a broker forward a v5 message to a 3.1.1 subscriber unchanged.
fn write_properties(
    props: &Properties,
    protocol: Protocol,
    owner: impl Into<PropertyOwner>,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if protocol.is_v5() {
        properties::write(props, owner.into(), out)?;
    }
    Ok(())
}

/// Checks a received topic name (PUBLISH, will) and names the error the way
/// `DecodeError::reason_code` expects.
fn check_topic_name(topic: &str) -> Result<(), DecodeError> {
    topic::validate_topic_name(topic).map_err(|err| match err {
        TopicError::Empty => DecodeError::EmptyTopic,
        TopicError::NullCharacter => DecodeError::NullCharacter,
        _ => DecodeError::WildcardInTopicName,
    })
}

#[cfg(test)]
mod tests;
