//! DISCONNECT (spec §3.14): empty before v5; in v5 an optional reason code
//! and optional properties (remaining length 0 means normal disconnection).

use bytes::{Bytes, BytesMut};

use super::{read_properties, read_reason, write_properties, write_reason};
use crate::error::{DecodeError, EncodeError};
use crate::properties;
use crate::reason::ReasonCode;
use crate::types::{Disconnect, PacketType, Protocol};
use crate::wire;

pub(super) fn decode(mut buf: Bytes, protocol: Protocol) -> Result<Disconnect, DecodeError> {
    let mut disconnect = Disconnect::default();
    if protocol.is_v5() && !buf.is_empty() {
        disconnect.reason = read_reason(&mut buf, PacketType::Disconnect)?;
        // "If the Remaining Length is less than 2, a value of 0 is used."
        if !buf.is_empty() {
            disconnect.properties = read_properties(&mut buf, protocol, PacketType::Disconnect)?;
        }
    }
    wire::finish(&buf)?;
    Ok(disconnect)
}

pub(super) fn len(disconnect: &Disconnect, protocol: Protocol) -> usize {
    let no_properties = disconnect.properties.is_empty();
    match (protocol.is_v5(), disconnect.reason, no_properties) {
        (false, _, _) | (true, ReasonCode::Success, true) => 0,
        (true, _, true) => 1,
        (true, _, false) => 1 + properties::len(&disconnect.properties),
    }
}

pub(super) fn write(
    disconnect: &Disconnect,
    protocol: Protocol,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let len = len(disconnect, protocol);
    if len > 0 {
        write_reason(disconnect.reason, PacketType::Disconnect, out)?;
    }
    if len > 1 {
        write_properties(
            &disconnect.properties,
            protocol,
            PacketType::Disconnect,
            out,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{assert_codec, decode_err, encode_vec};
    use crate::properties::Properties;
    use crate::types::Packet;

    #[test]
    fn v311_and_v5_short_form() {
        let bytes = &[
            0xE0, 0x00, // fixed header: DISCONNECT, remaining length 0
        ];
        for protocol in [Protocol::V31, Protocol::V311, Protocol::V5] {
            assert_codec(bytes, protocol, Packet::Disconnect(Disconnect::default()));
        }
        let trailing = decode_err(&[0xE0, 0x01, 0x00], Protocol::V311);
        assert_eq!(trailing, Err(DecodeError::TrailingBytes));
    }

    #[test]
    fn v5_reason_only() {
        let bytes = &[
            0xE0, 0x01, // fixed header: DISCONNECT, remaining length 1
            0x04, // reason code: disconnect with will message
        ];
        let packet = Disconnect {
            reason: ReasonCode::DisconnectWithWillMessage,
            properties: Properties::default(),
        };
        assert_codec(bytes, Protocol::V5, Packet::Disconnect(packet.clone()));
        // Before v5 the reason is not sent.
        assert_eq!(
            encode_vec(&Packet::Disconnect(packet), Protocol::V311),
            [0xE0, 0x00]
        );
    }

    #[test]
    fn v5_with_properties() {
        let bytes = &[
            0xE0, 0x0C, // fixed header: DISCONNECT, remaining length 12
            0x8B, // reason code: server shutting down
            0x0A, // property length 10
            0x11, 0x00, 0x00, 0x00, 0x00, // session expiry interval 0
            0x1C, 0x00, 0x02, b'h', b'2', // server reference "h2"
        ];
        let packet = Disconnect {
            reason: ReasonCode::ServerShuttingDown,
            properties: Properties {
                session_expiry_interval: Some(0),
                server_reference: Some("h2".into()),
                ..Properties::default()
            },
        };
        assert_codec(bytes, Protocol::V5, Packet::Disconnect(packet));
    }

    #[test]
    fn invalid() {
        let cases: &[(&[u8], DecodeError)] = &[
            // Continue authentication belongs to AUTH.
            (&[0xE0, 0x01, 0x18], DecodeError::InvalidReasonCode(0x18)),
            // Property block longer than the packet.
            (&[0xE0, 0x02, 0x00, 0x03], DecodeError::Truncated),
            // Reason string twice.
            (
                &[
                    0xE0, 0x0A, 0x00, 0x08, 0x1F, 0x00, 0x01, b'a', 0x1F, 0x00, 0x01, b'b',
                ],
                DecodeError::DuplicateProperty(0x1F),
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
