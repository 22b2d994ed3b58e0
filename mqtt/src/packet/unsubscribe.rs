//! UNSUBSCRIBE (spec §3.10): packet identifier, properties (v5), at least
//! one topic filter.

use bytes::{BufMut, Bytes, BytesMut};

use super::{properties_len, read_pid, read_properties, write_properties};
use crate::error::{DecodeError, EncodeError};
use crate::topic;
use crate::types::{PacketType, Protocol, Unsubscribe};
use crate::wire;

pub(super) fn decode(mut buf: Bytes, protocol: Protocol) -> Result<Unsubscribe, DecodeError> {
    let pid = read_pid(&mut buf)?;
    let properties = read_properties(&mut buf, protocol, PacketType::Unsubscribe)?;
    let mut filters = Vec::new();
    while !buf.is_empty() {
        let filter = wire::read_string(&mut buf)?;
        topic::validate_topic_filter(&filter).map_err(|_| DecodeError::InvalidTopicFilter)?;
        filters.push(filter);
    }
    if filters.is_empty() {
        return Err(DecodeError::EmptySubscription);
    }
    Ok(Unsubscribe {
        pid,
        properties,
        filters,
    })
}

pub(super) fn len(unsubscribe: &Unsubscribe, protocol: Protocol) -> usize {
    let filters: usize = unsubscribe
        .filters
        .iter()
        .map(|f| wire::field_len(f.as_bytes()))
        .sum();
    2 + properties_len(&unsubscribe.properties, protocol) + filters
}

pub(super) fn write(
    unsubscribe: &Unsubscribe,
    protocol: Protocol,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if unsubscribe.filters.is_empty() {
        return Err(EncodeError::InvalidValue(
            "UNSUBSCRIBE without topic filters",
        ));
    }
    out.put_u16(unsubscribe.pid.get());
    write_properties(
        &unsubscribe.properties,
        protocol,
        PacketType::Unsubscribe,
        out,
    )?;
    for filter in &unsubscribe.filters {
        topic::validate_topic_filter(filter)?;
        wire::write_string(filter, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{assert_codec, decode_err, pid};
    use crate::properties::Properties;
    use crate::types::Packet;

    #[test]
    fn v311() {
        let bytes = &[
            0xA2, 0x0C, // fixed header: UNSUBSCRIBE (flags 0b0010), remaining length 12
            0x00, 0x03, // packet id 3
            0x00, 0x01, b'a', // filter "a"
            0x00, 0x02, b'b', b'/', // filter "b/"
            0x00, 0x01, b'#', // filter "#"
        ];
        let packet = Unsubscribe {
            pid: pid(3),
            properties: Properties::default(),
            filters: vec!["a".into(), "b/".into(), "#".into()],
        };
        assert_codec(bytes, Protocol::V311, Packet::Unsubscribe(packet));
    }

    #[test]
    fn v5_with_user_property() {
        let bytes = &[
            0xA2, 0x0F, // fixed header: UNSUBSCRIBE (flags 0b0010), remaining length 15
            0x00, 0x03, // packet id 3
            0x07, // property length 7
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property ("k", "v")
            0x00, 0x03, b'a', b'/', b'+', // filter "a/+"
        ];
        let packet = Unsubscribe {
            pid: pid(3),
            properties: Properties {
                user_properties: vec![("k".into(), "v".into())],
                ..Properties::default()
            },
            filters: vec!["a/+".into()],
        };
        assert_codec(bytes, Protocol::V5, Packet::Unsubscribe(packet));
    }

    #[test]
    fn invalid() {
        let cases: &[(&[u8], Protocol, DecodeError)] = &[
            // No filters.
            (
                &[0xA2, 0x02, 0x00, 0x01],
                Protocol::V311,
                DecodeError::EmptySubscription,
            ),
            (
                &[0xA2, 0x03, 0x00, 0x01, 0x00],
                Protocol::V5,
                DecodeError::EmptySubscription,
            ),
            // Malformed filters.
            (
                &[0xA2, 0x04, 0x00, 0x01, 0x00, 0x05],
                Protocol::V311,
                DecodeError::Truncated,
            ),
            (
                &[0xA2, 0x06, 0x00, 0x01, 0x00, 0x02, b'#', b'a'],
                Protocol::V311,
                DecodeError::InvalidTopicFilter,
            ),
            (
                &[0xA2, 0x04, 0x00, 0x01, 0x00, 0x00],
                Protocol::V311,
                DecodeError::InvalidTopicFilter,
            ),
            // Subscription identifier is not an UNSUBSCRIBE property.
            (
                &[0xA2, 0x08, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00, 0x01, b'a'],
                Protocol::V5,
                DecodeError::PropertyNotAllowed {
                    property: 0x0B,
                    packet: PacketType::Unsubscribe,
                },
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
