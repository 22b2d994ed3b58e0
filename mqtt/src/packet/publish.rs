//! PUBLISH (spec §3.3): DUP/QoS/RETAIN in the fixed header, topic name,
//! packet identifier (QoS > 0), properties (v5), payload (the rest).

use bytes::{BufMut, Bytes, BytesMut};

use super::{properties_len, read_pid, read_properties, write_properties};
use crate::error::{DecodeError, EncodeError};
use crate::topic;
use crate::types::{PacketType, Protocol, Publish, QoS};
use crate::wire;

const DUP: u8 = 0x08;
const QOS_SHIFT: u8 = 1;
const RETAIN: u8 = 0x01;

pub(super) fn decode(
    flags: u8,
    mut buf: Bytes,
    protocol: Protocol,
) -> Result<Publish, DecodeError> {
    let dup = flags & DUP != 0;
    let qos = QoS::from_u8((flags >> QOS_SHIFT) & 0x03).ok_or(DecodeError::InvalidQoS)?;
    if dup && qos == QoS::AtMostOnce {
        return Err(DecodeError::DupOnQoS0);
    }
    let topic = wire::read_string(&mut buf)?;
    let pid = match qos {
        QoS::AtMostOnce => None,
        _ => Some(read_pid(&mut buf)?),
    };
    let properties = read_properties(&mut buf, protocol, PacketType::Publish)?;
    // An empty topic is allowed only when a v5 topic alias stands for it.
    if topic.is_empty() {
        if properties.topic_alias.is_none() {
            return Err(DecodeError::EmptyTopic);
        }
    } else {
        super::check_topic_name(&topic)?;
    }
    Ok(Publish {
        dup,
        qos,
        retain: flags & RETAIN != 0,
        topic,
        pid,
        properties,
        payload: buf,
    })
}

/// The fixed header flags nibble.
pub(super) fn flags(publish: &Publish) -> u8 {
    let mut flags = (publish.qos as u8) << QOS_SHIFT;
    if publish.dup {
        flags |= DUP;
    }
    if publish.retain {
        flags |= RETAIN;
    }
    flags
}

pub(super) fn len(publish: &Publish, protocol: Protocol) -> usize {
    let pid_len = if publish.qos == QoS::AtMostOnce { 0 } else { 2 };
    wire::field_len(publish.topic.as_bytes())
        + pid_len
        + properties_len(&publish.properties, protocol)
        + publish.payload.len()
}

pub(super) fn write(
    publish: &Publish,
    protocol: Protocol,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if publish.dup && publish.qos == QoS::AtMostOnce {
        return Err(EncodeError::InvalidValue("DUP on a QoS 0 PUBLISH"));
    }
    let aliased = protocol.is_v5() && publish.properties.topic_alias.is_some();
    if !(publish.topic.is_empty() && aliased) {
        topic::validate_topic_name(&publish.topic)?;
    }
    wire::write_string(&publish.topic, out)?;
    match (publish.qos, publish.pid) {
        (QoS::AtMostOnce, None) => {}
        (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(pid)) => out.put_u16(pid.get()),
        (QoS::AtMostOnce, Some(_)) => {
            return Err(EncodeError::InvalidValue(
                "QoS 0 PUBLISH with a packet identifier",
            ))
        }
        (_, None) => {
            return Err(EncodeError::InvalidValue(
                "QoS > 0 PUBLISH without a packet identifier",
            ))
        }
    }
    write_properties(&publish.properties, protocol, PacketType::Publish, out)?;
    out.put_slice(&publish.payload);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{assert_codec, decode_err, pid};
    use crate::properties::Properties;
    use crate::types::Packet;

    fn publish(qos: QoS, topic: &str, payload: &'static [u8]) -> Publish {
        Publish {
            dup: false,
            qos,
            retain: false,
            topic: topic.into(),
            pid: None,
            properties: Properties::default(),
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn qos0_v311() {
        let bytes = &[
            0x31, 0x0A, // fixed header: PUBLISH, QoS 0, retain; remaining length 10
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            b'h', b'e', b'l', b'l', b'o', // payload "hello"
        ];
        let packet = Publish {
            retain: true,
            ..publish(QoS::AtMostOnce, "a/b", b"hello")
        };
        assert_codec(bytes, Protocol::V311, Packet::Publish(packet));
    }

    #[test]
    fn qos1_dup_v311() {
        let bytes = &[
            0x3A, 0x07, // fixed header: PUBLISH, DUP, QoS 1; remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x00, 0x0A, // packet id 10
            0x01, 0x02, // payload
        ];
        let packet = Publish {
            dup: true,
            pid: Some(pid(10)),
            ..publish(QoS::AtLeastOnce, "t", &[1, 2])
        };
        assert_codec(bytes, Protocol::V311, Packet::Publish(packet));
    }

    #[test]
    fn qos2_v5_with_properties() {
        let bytes = &[
            0x34, 0x13, // fixed header: PUBLISH, QoS 2; remaining length 19
            0x00, 0x01, b't', // topic "t"
            0x12, 0x34, // packet id 0x1234
            0x0D, // property length 13
            0x01, 0x01, // payload format indicator: UTF-8
            0x0B, 0x80, 0x01, // subscription identifier 128
            0x0B, 0x02, // subscription identifier 2 (repeats in PUBLISH)
            0x26, 0x00, 0x01, b'k', 0x00,
            0x00, // user property ("k", "")
                  // payload: empty
        ];
        let packet = Publish {
            pid: Some(pid(0x1234)),
            properties: Properties {
                payload_format_indicator: Some(1),
                subscription_identifiers: vec![128, 2],
                user_properties: vec![("k".into(), "".into())],
                ..Properties::default()
            },
            ..publish(QoS::ExactlyOnce, "t", b"")
        };
        assert_codec(bytes, Protocol::V5, Packet::Publish(packet));
    }

    #[test]
    fn v5_empty_topic_with_alias() {
        let bytes = &[
            0x30, 0x07, // fixed header: PUBLISH, QoS 0; remaining length 7
            0x00, 0x00, // topic "" (replaced by the alias)
            0x03, // property length 3
            0x23, 0x00, 0x05, // topic alias 5
            b'x', // payload "x"
        ];
        let packet = Publish {
            properties: Properties {
                topic_alias: Some(5),
                ..Properties::default()
            },
            ..publish(QoS::AtMostOnce, "", b"x")
        };
        assert_codec(bytes, Protocol::V5, Packet::Publish(packet));
    }

    #[test]
    fn invalid() {
        let v5 = Protocol::V5;
        let v3 = Protocol::V311;
        let cases: &[(&[u8], Protocol, DecodeError)] = &[
            // QoS 3.
            (
                &[0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01],
                v3,
                DecodeError::InvalidQoS,
            ),
            // DUP on QoS 0.
            (&[0x38, 0x03, 0x00, 0x01, b't'], v3, DecodeError::DupOnQoS0),
            // Packet id 0.
            (
                &[0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00],
                v3,
                DecodeError::ZeroPacketId,
            ),
            // Wildcards in the topic name.
            (
                &[0x30, 0x03, 0x00, 0x01, b'#'],
                v3,
                DecodeError::WildcardInTopicName,
            ),
            (
                &[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+'],
                v3,
                DecodeError::WildcardInTopicName,
            ),
            // Empty topic: before v5, and in v5 without an alias.
            (&[0x30, 0x02, 0x00, 0x00], v3, DecodeError::EmptyTopic),
            (&[0x30, 0x03, 0x00, 0x00, 0x00], v5, DecodeError::EmptyTopic),
            // Topic alias 0.
            (
                &[0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x00],
                v5,
                DecodeError::InvalidPropertyValue(0x23),
            ),
            // Payload format indicator 2.
            (
                &[0x30, 0x06, 0x00, 0x01, b't', 0x02, 0x01, 0x02],
                v5,
                DecodeError::InvalidPropertyValue(0x01),
            ),
            // Message expiry twice.
            (
                &[
                    0x30, 0x0E, 0x00, 0x01, b't', 0x0A, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 1,
                ],
                v5,
                DecodeError::DuplicateProperty(0x02),
            ),
            // Unknown property 0x7F.
            (
                &[0x30, 0x06, 0x00, 0x01, b't', 0x02, 0x7F, 0x00],
                v5,
                DecodeError::UnknownProperty(0x7F),
            ),
            // Property length past the end.
            (
                &[0x30, 0x04, 0x00, 0x01, b't', 0x05],
                v5,
                DecodeError::Truncated,
            ),
            // Topic length past the end.
            (&[0x30, 0x03, 0x00, 0x05, b't'], v3, DecodeError::Truncated),
            // U+0000 in the topic.
            (
                &[0x30, 0x03, 0x00, 0x01, 0x00],
                v3,
                DecodeError::NullCharacter,
            ),
            // Invalid UTF-8 in the topic.
            (
                &[0x30, 0x03, 0x00, 0x01, 0xC0],
                v3,
                DecodeError::InvalidUtf8,
            ),
        ];
        for (bytes, protocol, expected) in cases {
            let got = decode_err(bytes, *protocol);
            assert_eq!(got.as_ref(), Err(expected), "{bytes:x?}");
        }
    }

    #[test]
    fn encode_refuses_inconsistent_fields() {
        let mut out = BytesMut::new();
        let bad = [
            publish(QoS::AtLeastOnce, "t", b""), // QoS 1 without packet id
            Publish {
                pid: Some(pid(1)),
                ..publish(QoS::AtMostOnce, "t", b"")
            },
            Publish {
                dup: true,
                ..publish(QoS::AtMostOnce, "t", b"")
            },
            publish(QoS::AtMostOnce, "a/#", b""),
            publish(QoS::AtMostOnce, "", b""),
        ];
        for publish in bad {
            let packet = Packet::Publish(publish);
            assert!(
                crate::encode(&packet, Protocol::V5, &mut out).is_err(),
                "{packet:?}"
            );
            assert!(out.is_empty());
        }
    }

    #[test]
    fn v5_properties_dropped_before_v5() {
        let packet = Publish {
            properties: Properties {
                message_expiry_interval: Some(9),
                ..Properties::default()
            },
            ..publish(QoS::AtMostOnce, "t", b"p")
        };
        let bytes = crate::packet::tests::encode_vec(&Packet::Publish(packet), Protocol::V311);
        assert_eq!(bytes, [0x30, 0x04, 0x00, 0x01, b't', b'p']);
    }
}
