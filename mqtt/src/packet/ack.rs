//! PUBACK, PUBREC, PUBREL, PUBCOMP (spec §3.4–3.7): a packet identifier,
//! then in v5 an optional reason code and optional properties.
//!
//! v5 short forms: remaining length 2 means `Success` without properties,
//! 3 means a reason code without properties. The encoder picks the shortest
//! form, as most brokers do: the common acknowledgement stays 4 bytes.

use bytes::{BufMut, Bytes, BytesMut};

use super::{read_pid, read_properties, read_reason, write_properties, write_reason};
use crate::error::{DecodeError, EncodeError};
use crate::properties;
use crate::reason::ReasonCode;
use crate::types::{Ack, PacketType, Protocol};
use crate::wire;

pub(super) fn decode(
    packet: PacketType,
    mut buf: Bytes,
    protocol: Protocol,
) -> Result<Ack, DecodeError> {
    let pid = read_pid(&mut buf)?;
    let mut ack = Ack::new(pid);
    if protocol.is_v5() && !buf.is_empty() {
        ack.reason = read_reason(&mut buf, packet)?;
        if !buf.is_empty() {
            ack.properties = read_properties(&mut buf, protocol, packet)?;
        }
    }
    wire::finish(&buf)?;
    Ok(ack)
}

/// What follows the packet identifier in v5.
enum Form {
    /// Nothing: `Success`, no properties.
    Short,
    /// The reason code alone.
    Reason,
    /// Reason code and property block.
    Full,
}

fn form(ack: &Ack, protocol: Protocol) -> Form {
    let no_properties = ack.properties.is_empty();
    match (protocol.is_v5(), ack.reason, no_properties) {
        (false, _, _) | (true, ReasonCode::Success, true) => Form::Short,
        (true, _, true) => Form::Reason,
        (true, _, false) => Form::Full,
    }
}

pub(super) fn len(ack: &Ack, protocol: Protocol) -> usize {
    match form(ack, protocol) {
        Form::Short => 2,
        Form::Reason => 3,
        Form::Full => 3 + properties::len(&ack.properties),
    }
}

pub(super) fn write(
    packet: PacketType,
    ack: &Ack,
    protocol: Protocol,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    out.put_u16(ack.pid.get());
    match form(ack, protocol) {
        Form::Short => Ok(()),
        Form::Reason => write_reason(ack.reason, packet, out),
        Form::Full => {
            write_reason(ack.reason, packet, out)?;
            write_properties(&ack.properties, protocol, packet, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{assert_codec, decode_err, encode_vec, pid};
    use crate::properties::Properties;
    use crate::types::Packet;

    #[test]
    fn v311_all_four() {
        // PUBACK, PUBREC, PUBREL (flags 0b0010), PUBCOMP of packet id 0x0102.
        type Make = fn(Ack) -> Packet;
        let cases: [(u8, Make); 4] = [
            (0x40, Packet::PubAck),
            (0x50, Packet::PubRec),
            (0x62, Packet::PubRel),
            (0x70, Packet::PubComp),
        ];
        for (first, make) in cases {
            let bytes = &[
                first, 0x02, // fixed header: type and flags; remaining length 2
                0x01, 0x02, // packet id 0x0102
            ];
            assert_codec(bytes, Protocol::V311, make(Ack::new(pid(0x0102))));
        }
    }

    #[test]
    fn v311_ignores_v5_fields() {
        let ack = Ack {
            reason: ReasonCode::QuotaExceeded,
            ..Ack::new(pid(1))
        };
        let bytes = encode_vec(&Packet::PubAck(ack), Protocol::V311);
        assert_eq!(bytes, [0x40, 0x02, 0x00, 0x01]);
        // And a 3.1.1 PUBACK carries nothing after the packet id.
        let err = decode_err(&[0x40, 0x03, 0x00, 0x01, 0x00], Protocol::V311);
        assert_eq!(err, Err(DecodeError::TrailingBytes));
    }

    #[test]
    fn v5_short_form_is_success() {
        let bytes = &[
            0x40, 0x02, // fixed header: PUBACK, remaining length 2
            0x00, 0x05, // packet id 5 (reason: success, no properties)
        ];
        assert_codec(bytes, Protocol::V5, Packet::PubAck(Ack::new(pid(5))));
    }

    #[test]
    fn v5_reason_without_properties() {
        let bytes = &[
            0x50, 0x03, // fixed header: PUBREC, remaining length 3
            0x00, 0x05, // packet id 5
            0x10, // reason code: no matching subscribers
        ];
        let ack = Ack {
            reason: ReasonCode::NoMatchingSubscribers,
            ..Ack::new(pid(5))
        };
        assert_codec(bytes, Protocol::V5, Packet::PubRec(ack));
        // A success reason byte with an empty property block decodes the same.
        let long = &[0x40, 0x04, 0x00, 0x05, 0x00, 0x00];
        assert_eq!(
            decode_err(long, Protocol::V5),
            Ok(Packet::PubAck(Ack::new(pid(5))))
        );
    }

    #[test]
    fn v5_with_reason_string() {
        let bytes = &[
            0x62, 0x09, // fixed header: PUBREL, remaining length 9
            0x00, 0x07, // packet id 7
            0x92, // reason code: packet identifier not found
            0x05, // property length 5
            0x1F, 0x00, 0x02, b'n', b'o', // reason string "no"
        ];
        let ack = Ack {
            reason: ReasonCode::PacketIdentifierNotFound,
            properties: Properties {
                reason_string: Some("no".into()),
                ..Properties::default()
            },
            ..Ack::new(pid(7))
        };
        assert_codec(bytes, Protocol::V5, Packet::PubRel(ack));
    }

    #[test]
    fn v5_invalid() {
        let cases: &[(&[u8], DecodeError)] = &[
            // Packet id 0.
            (&[0x40, 0x02, 0x00, 0x00], DecodeError::ZeroPacketId),
            // Packet id cut short.
            (&[0x40, 0x01, 0x00], DecodeError::Truncated),
            // PUBREL cannot carry "quota exceeded".
            (
                &[0x62, 0x03, 0x00, 0x01, 0x97],
                DecodeError::InvalidReasonCode(0x97),
            ),
            // Undefined reason code.
            (
                &[0x40, 0x03, 0x00, 0x01, 0x05],
                DecodeError::InvalidReasonCode(0x05),
            ),
            // Session expiry is not a PUBACK property.
            (
                &[0x40, 0x09, 0x00, 0x01, 0x00, 0x05, 0x11, 0, 0, 0, 1],
                DecodeError::PropertyNotAllowed {
                    property: 0x11,
                    packet: PacketType::PubAck,
                },
            ),
            // Trailing byte after the properties.
            (
                &[0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0xFF],
                DecodeError::TrailingBytes,
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                decode_err(bytes, Protocol::V5).as_ref(),
                Err(expected),
                "{bytes:x?}"
            );
        }
    }

    #[test]
    fn encode_refuses_reason_not_allowed() {
        let ack = Ack {
            reason: ReasonCode::NoMatchingSubscribers,
            ..Ack::new(pid(1))
        };
        let mut out = BytesMut::new();
        let err = crate::encode(&Packet::PubComp(ack), Protocol::V5, &mut out);
        assert_eq!(
            err,
            Err(EncodeError::InvalidReasonCode {
                code: ReasonCode::NoMatchingSubscribers,
                packet: PacketType::PubComp
            })
        );
        assert!(out.is_empty());
    }
}
