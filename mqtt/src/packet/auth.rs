//! AUTH (spec §3.15, v5 only): a reason code and properties, both omitted
//! (remaining length 0) for `Success` without properties. The caller checks
//! the protocol is v5 before getting here.

use bytes::{Bytes, BytesMut};

use super::{read_properties, read_reason, write_properties, write_reason};
use crate::error::{DecodeError, EncodeError};
use crate::properties;
use crate::reason::ReasonCode;
use crate::types::{Auth, PacketType, Protocol};
use crate::wire;

pub(super) fn decode(mut buf: Bytes) -> Result<Auth, DecodeError> {
    let mut auth = Auth::default();
    if !buf.is_empty() {
        auth.reason = read_reason(&mut buf, PacketType::Auth)?;
        // A lone reason code is accepted as DISCONNECT allows it, although
        // the spec only defines the empty short form for AUTH.
        if !buf.is_empty() {
            auth.properties = read_properties(&mut buf, Protocol::V5, PacketType::Auth)?;
        }
    }
    wire::finish(&buf)?;
    Ok(auth)
}

fn is_short(auth: &Auth) -> bool {
    auth.reason == ReasonCode::Success && auth.properties.is_empty()
}

pub(super) fn len(auth: &Auth) -> usize {
    if is_short(auth) {
        0
    } else {
        1 + properties::len(&auth.properties)
    }
}

pub(super) fn write(auth: &Auth, out: &mut BytesMut) -> Result<(), EncodeError> {
    if is_short(auth) {
        return Ok(());
    }
    write_reason(auth.reason, PacketType::Auth, out)?;
    write_properties(&auth.properties, Protocol::V5, PacketType::Auth, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{assert_codec, decode_err};
    use crate::properties::Properties;
    use crate::types::Packet;

    #[test]
    fn short_form() {
        let bytes = &[
            0xF0, 0x00, // fixed header: AUTH, remaining length 0
        ];
        assert_codec(bytes, Protocol::V5, Packet::Auth(Auth::default()));
    }

    #[test]
    fn continue_authentication() {
        let bytes = &[
            0xF0, 0x0F, // fixed header: AUTH, remaining length 15
            0x18, // reason code: continue authentication
            0x0D, // property length 13
            0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M', // authentication method "SCRAM"
            0x16, 0x00, 0x02, 0x01, 0x02, // authentication data
        ];
        let packet = Auth {
            reason: ReasonCode::ContinueAuthentication,
            properties: Properties {
                authentication_method: Some("SCRAM".into()),
                authentication_data: Some(Bytes::from_static(&[1, 2])),
                ..Properties::default()
            },
        };
        assert_codec(bytes, Protocol::V5, Packet::Auth(packet));
    }

    #[test]
    fn reason_without_properties_encodes_full_form() {
        let bytes = &[
            0xF0, 0x02, // fixed header: AUTH, remaining length 2
            0x19, // reason code: re-authenticate
            0x00, // property length 0
        ];
        let packet = Auth {
            reason: ReasonCode::ReAuthenticate,
            properties: Properties::default(),
        };
        assert_codec(bytes, Protocol::V5, Packet::Auth(packet.clone()));
        assert_eq!(
            decode_err(&[0xF0, 0x01, 0x19], Protocol::V5),
            Ok(Packet::Auth(packet))
        );
    }

    #[test]
    fn invalid() {
        let cases: &[(&[u8], DecodeError)] = &[
            // Not authorized is not an AUTH reason code.
            (
                &[0xF0, 0x02, 0x87, 0x00],
                DecodeError::InvalidReasonCode(0x87),
            ),
            // Session expiry is not an AUTH property.
            (
                &[0xF0, 0x07, 0x18, 0x05, 0x11, 0, 0, 0, 1],
                DecodeError::PropertyNotAllowed {
                    property: 0x11,
                    packet: PacketType::Auth,
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
