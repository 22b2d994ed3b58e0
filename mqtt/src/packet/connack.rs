//! CONNACK (spec §3.2): acknowledge flags, a return code (3.1/3.1.1) or
//! reason code (v5), and properties (v5).

use bytes::{BufMut, Bytes, BytesMut};

use super::{properties_len, read_properties, read_reason, write_properties, write_reason};
use crate::error::{DecodeError, EncodeError};
use crate::reason::ReasonCode;
use crate::types::{ConnAck, PacketType, Protocol};
use crate::wire;

const SESSION_PRESENT: u8 = 0x01;

pub(super) fn decode(mut buf: Bytes, protocol: Protocol) -> Result<ConnAck, DecodeError> {
    let flags = wire::read_u8(&mut buf)?;
    if flags & !SESSION_PRESENT != 0 {
        return Err(DecodeError::InvalidConnAckFlags);
    }
    // In MQTT 3.1 the byte is reserved: never a session present, as `write`
    // never sets it.
    let session_present = flags & SESSION_PRESENT != 0 && protocol != Protocol::V31;
    let code = if protocol.is_v5() {
        read_reason(&mut buf, PacketType::ConnAck)?
    } else {
        let byte = wire::read_u8(&mut buf)?;
        from_return_code(byte).ok_or(DecodeError::InvalidReasonCode(byte))?
    };
    // A refused connection has no session (MQTT-3.2.2-4, MQTT-3.2.2-6).
    if session_present && !code.is_success() {
        return Err(DecodeError::InvalidConnAckFlags);
    }
    let properties = read_properties(&mut buf, protocol, PacketType::ConnAck)?;
    wire::finish(&buf)?;
    Ok(ConnAck {
        session_present,
        code,
        properties,
    })
}

pub(super) fn len(connack: &ConnAck, protocol: Protocol) -> usize {
    2 + properties_len(&connack.properties, protocol)
}

pub(super) fn write(
    connack: &ConnAck,
    protocol: Protocol,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    // Session present is forced off on a refusal, as the spec requires. In
    // MQTT 3.1 the whole byte is reserved (3.1 §3.2: "Reserved values"),
    // and a 3.1 client may refuse a CONNACK that sets a bit there.
    let session_present =
        connack.session_present && connack.code.is_success() && protocol != Protocol::V31;
    out.put_u8(if session_present { SESSION_PRESENT } else { 0 });
    if protocol.is_v5() {
        write_reason(connack.code, PacketType::ConnAck, out)?;
    } else {
        out.put_u8(to_return_code(connack.code)?);
    }
    write_properties(&connack.properties, protocol, PacketType::ConnAck, out)
}

/// The 3.1/3.1.1 return codes 0..=5 (spec 3.1.1 §3.2.2.3).
fn from_return_code(byte: u8) -> Option<ReasonCode> {
    Some(match byte {
        0 => ReasonCode::Success,
        1 => ReasonCode::UnsupportedProtocolVersion,
        2 => ReasonCode::ClientIdentifierNotValid,
        3 => ReasonCode::ServerUnavailable,
        4 => ReasonCode::BadUserNameOrPassword,
        5 => ReasonCode::NotAuthorized,
        _ => return None,
    })
}

/// The nearest 3.1.1 return code for a v5 reason code, so a broker can use v5
/// codes throughout: `Banned` is "not authorized", `BadAuthenticationMethod`
/// is "bad user name or password", and any other refusal is "server
/// unavailable". Success codes other than `Success` are an error.
fn to_return_code(code: ReasonCode) -> Result<u8, EncodeError> {
    use ReasonCode::*;
    Ok(match code {
        Success => 0,
        UnsupportedProtocolVersion => 1,
        ClientIdentifierNotValid => 2,
        BadUserNameOrPassword | BadAuthenticationMethod => 4,
        NotAuthorized | Banned => 5,
        code if code.is_success() => {
            return Err(EncodeError::InvalidReasonCode {
                code,
                packet: PacketType::ConnAck,
            })
        }
        _ => 3,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{assert_codec, decode_err, encode_vec};
    use crate::properties::Properties;
    use crate::types::Packet;

    fn connack(session_present: bool, code: ReasonCode) -> Packet {
        Packet::ConnAck(ConnAck {
            session_present,
            code,
            properties: Properties::default(),
        })
    }

    #[test]
    fn v311_accepted_with_session() {
        let bytes = &[
            0x20, 0x02, // fixed header: CONNACK, remaining length 2
            0x01, // acknowledge flags: session present
            0x00, // return code 0: accepted
        ];
        assert_codec(bytes, Protocol::V311, connack(true, ReasonCode::Success));
    }

    #[test]
    fn v311_return_codes() {
        let codes = [
            ReasonCode::Success,
            ReasonCode::UnsupportedProtocolVersion,
            ReasonCode::ClientIdentifierNotValid,
            ReasonCode::ServerUnavailable,
            ReasonCode::BadUserNameOrPassword,
            ReasonCode::NotAuthorized,
        ];
        for (byte, code) in codes.into_iter().enumerate() {
            let bytes = &[
                0x20, 0x02,       // fixed header: CONNACK, remaining length 2
                0x00,       // acknowledge flags: none
                byte as u8, // return code
            ];
            assert_codec(bytes, Protocol::V31, connack(false, code));
        }
        let err = decode_err(&[0x20, 0x02, 0x00, 0x06], Protocol::V311);
        assert_eq!(err, Err(DecodeError::InvalidReasonCode(6)));
    }

    #[test]
    fn v31_never_sets_session_present() {
        // MQTT 3.1: the first byte of the variable header is reserved. A
        // broker resuming a 3.1 client's session still writes 0 there.
        let bytes = encode_vec(&connack(true, ReasonCode::Success), Protocol::V31);
        assert_eq!(
            bytes,
            [
                0x20, 0x02, // fixed header: CONNACK, remaining length 2
                0x00, // reserved: 0, although the session is present
                0x00, // return code 0: accepted
            ]
        );
    }

    /// Found by the `decode_v31` fuzz target: a 3.1 CONNACK with the bit
    /// set decoded as session present, which `write` then dropped, so the
    /// packet did not survive encode → decode.
    #[test]
    fn v31_reads_no_session_present() {
        let bytes = &[
            0x20, 0x02, // fixed header: CONNACK, remaining length 2
            0x01, // reserved in 3.1: not a session present
            0x00, // return code 0: accepted
        ];
        let packet = decode_err(bytes, Protocol::V31);
        assert_eq!(packet, Ok(connack(false, ReasonCode::Success)));
    }

    #[test]
    fn v5_codes_map_to_nearest_v311_code() {
        let cases = [
            (ReasonCode::Banned, 5),
            (ReasonCode::BadAuthenticationMethod, 4),
            (ReasonCode::ServerBusy, 3),
            (ReasonCode::QuotaExceeded, 3),
        ];
        for (code, byte) in cases {
            let bytes = encode_vec(&connack(true, code), Protocol::V311);
            // Session present is cleared on a refusal.
            assert_eq!(bytes, [0x20, 0x02, 0x00, byte], "{code:?}");
        }
        let mut out = BytesMut::new();
        let granted = connack(false, ReasonCode::GrantedQoS1);
        assert!(crate::encode(&granted, Protocol::V311, &mut out).is_err());
    }

    #[test]
    fn v5_with_properties() {
        let bytes = &[
            0x20, 0x0B, // fixed header: CONNACK, remaining length 11
            0x00, // acknowledge flags: none
            0x00, // reason code: success
            0x08, // property length 8
            0x13, 0x00, 0x1E, // server keep alive 30 s
            0x21, 0x00, 0x14, // receive maximum 20
            0x24, 0x01, // maximum QoS 1
        ];
        let packet = Packet::ConnAck(ConnAck {
            session_present: false,
            code: ReasonCode::Success,
            properties: Properties {
                receive_maximum: Some(20),
                maximum_qos: Some(1),
                server_keep_alive: Some(30),
                ..Properties::default()
            },
        });
        assert_codec(bytes, Protocol::V5, packet);
    }

    #[test]
    fn v5_refusal() {
        let bytes = &[
            0x20, 0x03, // fixed header: CONNACK, remaining length 3
            0x00, // acknowledge flags: none
            0x86, // reason code: bad user name or password
            0x00, // property length 0
        ];
        assert_codec(
            bytes,
            Protocol::V5,
            connack(false, ReasonCode::BadUserNameOrPassword),
        );
    }

    #[test]
    fn v5_invalid() {
        let cases: &[(&[u8], DecodeError)] = &[
            // Reserved acknowledge flag bit.
            (
                &[0x20, 0x03, 0x02, 0x00, 0x00],
                DecodeError::InvalidConnAckFlags,
            ),
            // Session present with a refusal.
            (
                &[0x20, 0x03, 0x01, 0x87, 0x00],
                DecodeError::InvalidConnAckFlags,
            ),
            // Reason code not allowed in CONNACK (granted QoS 1).
            (
                &[0x20, 0x03, 0x00, 0x01, 0x00],
                DecodeError::InvalidReasonCode(1),
            ),
            // Property length missing.
            (&[0x20, 0x02, 0x00, 0x00], DecodeError::Truncated),
            // Maximum QoS 2 is a protocol error.
            (
                &[0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02],
                DecodeError::InvalidPropertyValue(0x24),
            ),
            // Topic alias is a PUBLISH property.
            (
                &[0x20, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01],
                DecodeError::PropertyNotAllowed {
                    property: 0x23,
                    packet: PacketType::ConnAck,
                },
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
}
