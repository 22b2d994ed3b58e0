//! SUBSCRIBE (spec §3.8): packet identifier, properties (v5), then at least
//! one (topic filter, subscription options) pair.

use bytes::{BufMut, Bytes, BytesMut};

use super::{properties_len, read_pid, read_properties, write_properties};
use crate::error::{DecodeError, EncodeError};
use crate::topic;
use crate::types::{
    PacketType, Protocol, QoS, RetainHandling, Subscribe, SubscribeFilter, SubscriptionOptions,
};
use crate::wire;

const NO_LOCAL: u8 = 0x04;
const RETAIN_AS_PUBLISHED: u8 = 0x08;
const RETAIN_HANDLING_SHIFT: u8 = 4;
/// Bits that must be 0: all but QoS before v5, the top two in v5
/// (MQTT-3-8.3-5).
const RESERVED_V3: u8 = 0xFC;
const RESERVED_V5: u8 = 0xC0;

pub(super) fn decode(mut buf: Bytes, protocol: Protocol) -> Result<Subscribe, DecodeError> {
    let pid = read_pid(&mut buf)?;
    let properties = read_properties(&mut buf, protocol, PacketType::Subscribe)?;
    let mut filters = Vec::new();
    while !buf.is_empty() {
        let filter = wire::read_string(&mut buf)?;
        let options = decode_options(wire::read_u8(&mut buf)?, protocol)?;
        topic::validate_topic_filter(&filter).map_err(|_| DecodeError::InvalidTopicFilter)?;
        // A shared subscription must not say No Local (MQTT-3.8.3-4).
        if options.no_local && topic::parse_shared(&filter).is_some() {
            return Err(DecodeError::NoLocalOnSharedSubscription);
        }
        filters.push(SubscribeFilter { filter, options });
    }
    if filters.is_empty() {
        return Err(DecodeError::EmptySubscription);
    }
    Ok(Subscribe {
        pid,
        properties,
        filters,
    })
}

fn decode_options(byte: u8, protocol: Protocol) -> Result<SubscriptionOptions, DecodeError> {
    let invalid = Err(DecodeError::InvalidSubscriptionOptions(byte));
    let reserved = if protocol.is_v5() {
        RESERVED_V5
    } else {
        RESERVED_V3
    };
    if byte & reserved != 0 {
        return invalid;
    }
    let qos = QoS::from_u8(byte & 0x03).ok_or(DecodeError::InvalidQoS)?;
    let retain_handling = match (byte >> RETAIN_HANDLING_SHIFT) & 0x03 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return invalid,
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & NO_LOCAL != 0,
        retain_as_published: byte & RETAIN_AS_PUBLISHED != 0,
        retain_handling,
    })
}

/// The options byte; before v5 only the QoS exists.
fn encode_options(options: &SubscriptionOptions, protocol: Protocol) -> u8 {
    let mut byte = options.qos as u8;
    if protocol.is_v5() {
        byte |= (options.retain_handling as u8) << RETAIN_HANDLING_SHIFT;
        if options.no_local {
            byte |= NO_LOCAL;
        }
        if options.retain_as_published {
            byte |= RETAIN_AS_PUBLISHED;
        }
    }
    byte
}

pub(super) fn len(subscribe: &Subscribe, protocol: Protocol) -> usize {
    let filters: usize = subscribe
        .filters
        .iter()
        .map(|f| wire::field_len(f.filter.as_bytes()) + 1)
        .sum();
    2 + properties_len(&subscribe.properties, protocol) + filters
}

pub(super) fn write(
    subscribe: &Subscribe,
    protocol: Protocol,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if subscribe.filters.is_empty() {
        return Err(EncodeError::InvalidValue("SUBSCRIBE without topic filters"));
    }
    out.put_u16(subscribe.pid.get());
    write_properties(&subscribe.properties, protocol, PacketType::Subscribe, out)?;
    for SubscribeFilter { filter, options } in &subscribe.filters {
        topic::validate_topic_filter(filter)?;
        let options = encode_options(options, protocol);
        if options & NO_LOCAL != 0 && topic::parse_shared(filter).is_some() {
            return Err(EncodeError::InvalidValue(
                "No Local on a shared subscription",
            ));
        }
        wire::write_string(filter, out)?;
        out.put_u8(options);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{assert_codec, decode_err, encode_vec, pid};
    use crate::properties::Properties;
    use crate::types::Packet;

    fn filter(filter: &str, qos: QoS) -> SubscribeFilter {
        SubscribeFilter {
            filter: filter.into(),
            options: SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
        }
    }

    #[test]
    fn v311_two_filters() {
        let bytes = &[
            0x82, 0x0E, // fixed header: SUBSCRIBE (flags 0b0010), remaining length 14
            0x00, 0x0A, // packet id 10
            0x00, 0x03, b'a', b'/', b'b', // filter "a/b"
            0x01, // options: QoS 1
            0x00, 0x03, b'c', b'/', b'#', // filter "c/#"
            0x02, // options: QoS 2
        ];
        let packet = Subscribe {
            pid: pid(10),
            properties: Properties::default(),
            filters: vec![
                filter("a/b", QoS::AtLeastOnce),
                filter("c/#", QoS::ExactlyOnce),
            ],
        };
        assert_codec(bytes, Protocol::V311, Packet::Subscribe(packet));
    }

    #[test]
    fn v5_options_and_subscription_identifier() {
        let bytes = &[
            0x82, 0x0B, // fixed header: SUBSCRIBE (flags 0b0010), remaining length 11
            0x00, 0x01, // packet id 1
            0x02, // property length 2
            0x0B, 0x07, // subscription identifier 7
            0x00, 0x03, b'a', b'/', b'+', // filter "a/+"
            0x2D, // options: retain handling 2, retain as published, no local, QoS 1
        ];
        let packet = Subscribe {
            pid: pid(1),
            properties: Properties {
                subscription_identifiers: vec![7],
                ..Properties::default()
            },
            filters: vec![SubscribeFilter {
                filter: "a/+".into(),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::DoNotSend,
                },
            }],
        };
        assert_codec(bytes, Protocol::V5, Packet::Subscribe(packet.clone()));
        // Before v5 the extra options are not sent.
        let v3 = encode_vec(&Packet::Subscribe(packet), Protocol::V311);
        assert_eq!(
            v3,
            [0x82, 0x08, 0x00, 0x01, 0x00, 0x03, b'a', b'/', b'+', 0x01]
        );
    }

    /// A SUBSCRIBE of one filter with the given options byte.
    fn one(filter: &[u8], options: u8, v5: bool) -> Vec<u8> {
        let mut bytes = vec![0x82, 0]; // fixed header: SUBSCRIBE; length set below
        bytes.extend_from_slice(&[0x00, 0x01]); // packet id 1
        if v5 {
            bytes.push(0x00); // property length 0
        }
        bytes.extend_from_slice(&[0x00, filter.len() as u8]); // filter length
        bytes.extend_from_slice(filter); // filter
        bytes.push(options); // options
        bytes[1] = (bytes.len() - 2) as u8;
        bytes
    }

    #[test]
    fn invalid() {
        use DecodeError::*;
        let cases: &[(Vec<u8>, Protocol, DecodeError)] = &[
            (one(b"a/#/b", 0, false), Protocol::V311, InvalidTopicFilter),
            (one(b"a+", 0, false), Protocol::V311, InvalidTopicFilter),
            (one(b"#a", 0, true), Protocol::V5, InvalidTopicFilter),
            (one(b"", 0, true), Protocol::V5, InvalidTopicFilter),
            (one(b"$share/g", 0, true), Protocol::V5, InvalidTopicFilter),
            (one(b"a", 0x03, false), Protocol::V311, InvalidQoS),
            // No local is a reserved bit before v5.
            (
                one(b"a", 0x04, false),
                Protocol::V311,
                InvalidSubscriptionOptions(0x04),
            ),
            (
                one(b"a", 0x40, true),
                Protocol::V5,
                InvalidSubscriptionOptions(0x40),
            ),
            // Retain handling 3.
            (
                one(b"a", 0x30, true),
                Protocol::V5,
                InvalidSubscriptionOptions(0x30),
            ),
            (
                one(b"$share/g/a", 0x04, true),
                Protocol::V5,
                NoLocalOnSharedSubscription,
            ),
            // No filters at all.
            (
                vec![0x82, 0x02, 0x00, 0x01],
                Protocol::V311,
                EmptySubscription,
            ),
            (
                vec![0x82, 0x03, 0x00, 0x01, 0x00],
                Protocol::V5,
                EmptySubscription,
            ),
            // Options byte missing.
            (
                vec![0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'],
                Protocol::V311,
                Truncated,
            ),
            // Packet id 0.
            (
                vec![0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b'a', 0x00],
                Protocol::V311,
                ZeroPacketId,
            ),
            // Two subscription identifiers.
            (
                vec![
                    0x82, 0x0A, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, b'a', 0x00,
                ],
                Protocol::V5,
                DuplicateProperty(0x0B),
            ),
            // Subscription identifier 0.
            (
                vec![
                    0x82, 0x08, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, b'a', 0x00,
                ],
                Protocol::V5,
                InvalidPropertyValue(0x0B),
            ),
        ];
        for (bytes, protocol, expected) in cases {
            let got = decode_err(bytes, *protocol);
            assert_eq!(got.as_ref(), Err(expected), "{bytes:x?}");
        }
        assert_eq!(
            EmptySubscription.reason_code(),
            crate::ReasonCode::ProtocolError
        );
        assert_eq!(
            NoLocalOnSharedSubscription.reason_code(),
            crate::ReasonCode::ProtocolError
        );
        assert_eq!(
            InvalidTopicFilter.reason_code(),
            crate::ReasonCode::MalformedPacket
        );
    }

    #[test]
    fn shared_filter_without_no_local_is_fine() {
        let bytes = one(b"$share/g/a", 0x01, true);
        let packet = Subscribe {
            pid: pid(1),
            properties: Properties::default(),
            filters: vec![filter("$share/g/a", QoS::AtLeastOnce)],
        };
        assert_codec(&bytes, Protocol::V5, Packet::Subscribe(packet));
    }

    #[test]
    fn encode_refuses_invalid_filters() {
        let mut out = BytesMut::new();
        let empty = Subscribe {
            pid: pid(1),
            properties: Properties::default(),
            filters: vec![],
        };
        assert!(crate::encode(&Packet::Subscribe(empty), Protocol::V5, &mut out).is_err());
        let bad = Subscribe {
            pid: pid(1),
            properties: Properties::default(),
            filters: vec![filter("a/#/b", QoS::AtMostOnce)],
        };
        assert!(crate::encode(&Packet::Subscribe(bad), Protocol::V5, &mut out).is_err());
        assert!(out.is_empty());
    }
}
