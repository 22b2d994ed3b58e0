//! UNSUBACK (spec §3.11): packet identifier; in v5 also properties and one
//! reason code per filter of the UNSUBSCRIBE.

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    properties_len, read_pid, read_properties, read_reason, write_properties, write_reason,
};
use crate::error::{DecodeError, EncodeError};
use crate::properties::Properties;
use crate::types::{PacketType, Protocol, UnsubAck};
use crate::wire;

pub(super) fn decode(mut buf: Bytes, protocol: Protocol) -> Result<UnsubAck, DecodeError> {
    let pid = read_pid(&mut buf)?;
    if !protocol.is_v5() {
        wire::finish(&buf)?;
        return Ok(UnsubAck {
            pid,
            properties: Properties::default(),
            reasons: Vec::new(),
        });
    }
    let properties = read_properties(&mut buf, protocol, PacketType::UnsubAck)?;
    let mut reasons = Vec::with_capacity(buf.len());
    while !buf.is_empty() {
        reasons.push(read_reason(&mut buf, PacketType::UnsubAck)?);
    }
    if reasons.is_empty() {
        return Err(DecodeError::EmptySubscription);
    }
    Ok(UnsubAck {
        pid,
        properties,
        reasons,
    })
}

pub(super) fn len(unsuback: &UnsubAck, protocol: Protocol) -> usize {
    if protocol.is_v5() {
        2 + properties_len(&unsuback.properties, protocol) + unsuback.reasons.len()
    } else {
        2
    }
}

pub(super) fn write(
    unsuback: &UnsubAck,
    protocol: Protocol,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    out.put_u16(unsuback.pid.get());
    if !protocol.is_v5() {
        return Ok(());
    }
    if unsuback.reasons.is_empty() {
        return Err(EncodeError::InvalidValue(
            "v5 UNSUBACK without reason codes",
        ));
    }
    write_properties(&unsuback.properties, protocol, PacketType::UnsubAck, out)?;
    for &reason in &unsuback.reasons {
        write_reason(reason, PacketType::UnsubAck, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{assert_codec, decode_err, encode_vec, pid};
    use crate::reason::ReasonCode;
    use crate::types::Packet;

    #[test]
    fn v311() {
        let bytes = &[
            0xB0, 0x02, // fixed header: UNSUBACK, remaining length 2
            0x00, 0x09, // packet id 9
        ];
        let packet = UnsubAck {
            pid: pid(9),
            properties: Properties::default(),
            reasons: vec![],
        };
        assert_codec(bytes, Protocol::V311, Packet::UnsubAck(packet));
        let trailing = decode_err(&[0xB0, 0x03, 0x00, 0x09, 0x00], Protocol::V311);
        assert_eq!(trailing, Err(DecodeError::TrailingBytes));
    }

    #[test]
    fn v5() {
        let bytes = &[
            0xB0, 0x05, // fixed header: UNSUBACK, remaining length 5
            0x00, 0x09, // packet id 9
            0x00, // property length 0
            0x00, // success
            0x11, // no subscription existed
        ];
        let packet = UnsubAck {
            pid: pid(9),
            properties: Properties::default(),
            reasons: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
        };
        assert_codec(bytes, Protocol::V5, Packet::UnsubAck(packet.clone()));
        // Reason codes are dropped before v5.
        assert_eq!(
            encode_vec(&Packet::UnsubAck(packet), Protocol::V311),
            [0xB0, 0x02, 0x00, 0x09]
        );
    }

    #[test]
    fn invalid() {
        let cases: &[(&[u8], DecodeError)] = &[
            // Granted QoS 1 belongs to SUBACK.
            (
                &[0xB0, 0x04, 0x00, 0x01, 0x00, 0x01],
                DecodeError::InvalidReasonCode(1),
            ),
            // No reason codes.
            (
                &[0xB0, 0x03, 0x00, 0x01, 0x00],
                DecodeError::EmptySubscription,
            ),
            // Property length missing.
            (&[0xB0, 0x02, 0x00, 0x01], DecodeError::Truncated),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                decode_err(bytes, Protocol::V5).as_ref(),
                Err(expected),
                "{bytes:x?}"
            );
        }
    }
}
