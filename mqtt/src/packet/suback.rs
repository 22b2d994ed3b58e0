//! SUBACK (spec §3.9): packet identifier, properties (v5), one return /
//! reason code per filter of the SUBSCRIBE.

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    properties_len, read_pid, read_properties, read_reason, write_properties, write_reason,
};
use crate::error::{DecodeError, EncodeError};
use crate::reason::ReasonCode;
use crate::types::{PacketType, Protocol, SubAck};
use crate::wire;

/// The 3.1.1 failure return code.
const FAILURE: u8 = 0x80;

pub(super) fn decode(mut buf: Bytes, protocol: Protocol) -> Result<SubAck, DecodeError> {
    let pid = read_pid(&mut buf)?;
    let properties = read_properties(&mut buf, protocol, PacketType::SubAck)?;
    let mut reasons = Vec::with_capacity(buf.len());
    while !buf.is_empty() {
        let reason = if protocol.is_v5() {
            read_reason(&mut buf, PacketType::SubAck)?
        } else {
            match wire::read_u8(&mut buf)? {
                0 => ReasonCode::Success,
                1 => ReasonCode::GrantedQoS1,
                2 => ReasonCode::GrantedQoS2,
                FAILURE => ReasonCode::UnspecifiedError,
                byte => return Err(DecodeError::InvalidReasonCode(byte)),
            }
        };
        reasons.push(reason);
    }
    if reasons.is_empty() {
        return Err(DecodeError::EmptySubscription);
    }
    Ok(SubAck {
        pid,
        properties,
        reasons,
    })
}

pub(super) fn len(suback: &SubAck, protocol: Protocol) -> usize {
    2 + properties_len(&suback.properties, protocol) + suback.reasons.len()
}

pub(super) fn write(
    suback: &SubAck,
    protocol: Protocol,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if suback.reasons.is_empty() {
        return Err(EncodeError::InvalidValue("SUBACK without reason codes"));
    }
    out.put_u16(suback.pid.get());
    write_properties(&suback.properties, protocol, PacketType::SubAck, out)?;
    for &reason in &suback.reasons {
        if protocol.is_v5() {
            write_reason(reason, PacketType::SubAck, out)?;
        } else {
            out.put_u8(to_return_code(reason)?);
        }
    }
    Ok(())
}

/// Before v5 a SUBACK says granted QoS or 0x80: every v5 refusal (not
/// authorized, quota exceeded, ...) becomes 0x80, so a broker can use v5
/// codes throughout.
fn to_return_code(reason: ReasonCode) -> Result<u8, EncodeError> {
    match reason {
        ReasonCode::Success | ReasonCode::GrantedQoS1 | ReasonCode::GrantedQoS2 => {
            Ok(reason.as_u8())
        }
        reason if !reason.is_success() => Ok(FAILURE),
        code => Err(EncodeError::InvalidReasonCode {
            code,
            packet: PacketType::SubAck,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{assert_codec, decode_err, encode_vec, pid};
    use crate::properties::Properties;
    use crate::types::Packet;

    fn suback(reasons: Vec<ReasonCode>) -> SubAck {
        SubAck {
            pid: pid(10),
            properties: Properties::default(),
            reasons,
        }
    }

    #[test]
    fn v311() {
        let bytes = &[
            0x90, 0x06, // fixed header: SUBACK, remaining length 6
            0x00, 0x0A, // packet id 10
            0x00, // granted QoS 0
            0x01, // granted QoS 1
            0x02, // granted QoS 2
            0x80, // failure
        ];
        let packet = suback(vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ]);
        assert_codec(bytes, Protocol::V311, Packet::SubAck(packet));
    }

    #[test]
    fn v5_refusals_become_0x80_before_v5() {
        let packet = suback(vec![ReasonCode::NotAuthorized, ReasonCode::GrantedQoS1]);
        let bytes = encode_vec(&Packet::SubAck(packet.clone()), Protocol::V311);
        assert_eq!(bytes, [0x90, 0x04, 0x00, 0x0A, 0x80, 0x01]);
        let v5 = &[
            0x90, 0x05, // fixed header: SUBACK, remaining length 5
            0x00, 0x0A, // packet id 10
            0x00, // property length 0
            0x87, // not authorized
            0x01, // granted QoS 1
        ];
        assert_codec(v5, Protocol::V5, Packet::SubAck(packet));
    }

    #[test]
    fn v5_with_reason_string() {
        let bytes = &[
            0x90, 0x0A, // fixed header: SUBACK, remaining length 10
            0x00, 0x0A, // packet id 10
            0x06, // property length 6
            0x1F, 0x00, 0x03, b'w', b'h', b'y', // reason string "why"
            0xA2, // wildcard subscriptions not supported
        ];
        let packet = SubAck {
            properties: Properties {
                reason_string: Some("why".into()),
                ..Properties::default()
            },
            ..suback(vec![ReasonCode::WildcardSubscriptionsNotSupported])
        };
        assert_codec(bytes, Protocol::V5, Packet::SubAck(packet));
    }

    #[test]
    fn invalid() {
        let cases: &[(&[u8], Protocol, DecodeError)] = &[
            // 3 is not a return code.
            (
                &[0x90, 0x03, 0x00, 0x01, 0x03],
                Protocol::V311,
                DecodeError::InvalidReasonCode(3),
            ),
            // Packet identifier in use is a v5 code only.
            (
                &[0x90, 0x03, 0x00, 0x01, 0x91],
                Protocol::V311,
                DecodeError::InvalidReasonCode(0x91),
            ),
            // "No subscription existed" belongs to UNSUBACK.
            (
                &[0x90, 0x04, 0x00, 0x01, 0x00, 0x11],
                Protocol::V5,
                DecodeError::InvalidReasonCode(0x11),
            ),
            // No reason codes.
            (
                &[0x90, 0x02, 0x00, 0x01],
                Protocol::V311,
                DecodeError::EmptySubscription,
            ),
        ];
        for (bytes, protocol, expected) in cases {
            assert_eq!(
                decode_err(bytes, *protocol).as_ref(),
                Err(expected),
                "{bytes:x?}"
            );
        }
    }
}
