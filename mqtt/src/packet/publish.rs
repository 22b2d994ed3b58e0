//! PUBLISH (spec §3.3): DUP/QoS/RETAIN in the fixed header, topic name,
//! packet identifier (QoS > 0), properties (v5), payload (the rest).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use super::{properties_len, read_pid, write_properties};
use crate::error::{DecodeError, EncodeError};
use crate::properties::{self, Properties};
use crate::protocol::MAX_FIELD_LEN;
use crate::topic::TopicError;
use crate::types::{Packet, PacketType, Pid, Protocol, Publish, QoS};
use crate::wire;

const DUP: u8 = 0x08;
const QOS_SHIFT: u8 = 1;
const RETAIN: u8 = 0x01;

/// Returns `Some(Packet::Publish(..))`, the shape `crate::decode` returns, so
/// the packet is built once in place (see there).
pub(super) fn decode(
    flags: u8,
    mut buf: Bytes,
    protocol: Protocol,
) -> Result<Option<Packet>, DecodeError> {
    let dup = flags & DUP != 0;
    let qos = QoS::from_u8((flags >> QOS_SHIFT) & 0x03).ok_or(DecodeError::InvalidQoS)?;
    if dup && qos == QoS::AtMostOnce {
        return Err(DecodeError::DupOnQoS0);
    }
    let (topic, wildcard) = read_topic(&mut buf)?;
    let pid = match qos {
        QoS::AtMostOnce => None,
        _ => Some(read_pid(&mut buf)?),
    };
    // Not `read_properties`: its `Result<Properties, _>` would be one more
    // copy of the 400-byte block, and most PUBLISHes have no properties (a v5
    // property length of 0), so that case skips the block decoder.
    let properties = match buf.first() {
        Some(0) if protocol.is_v5() => {
            buf.advance(1);
            Properties::default()
        }
        _ if protocol.is_v5() => properties::decode(&mut buf, PacketType::Publish.into())?,
        _ => Properties::default(),
    };
    // An empty topic is allowed only when a v5 topic alias stands for it.
    if topic.is_empty() {
        if properties.topic_alias.is_none() {
            return Err(DecodeError::EmptyTopic);
        }
    } else if wildcard {
        return Err(DecodeError::WildcardInTopicName);
    }
    Ok(Some(Packet::Publish(Publish {
        dup,
        qos,
        retain: flags & RETAIN != 0,
        topic,
        pid,
        properties,
        payload: buf,
    })))
}

/// The topic name: `wire::read_string` and `topic::validate_topic_name` with
/// one pass over the bytes instead of three (this is every broker's hot
/// path). U+0000 and invalid UTF-8 fail here, as in `read_string`; whether a
/// `+` or `#` was seen is returned, not reported, so that the caller checks
/// it where `check_topic_name` did, after the packet id and properties.
/// Emptiness is the caller's too (it depends on the topic alias), and a
/// string field cannot exceed the 65,535 bytes allowed. All three characters
/// are ASCII, so scanning bytes is exact: no byte of a multi-byte UTF-8
/// sequence is below 0x80.
#[inline]
fn read_topic(buf: &mut Bytes) -> Result<(ByteString, bool), DecodeError> {
    let raw = wire::read_binary(buf)?;
    let (null, wildcard) = scan_topic(&raw);
    if null {
        return Err(DecodeError::NullCharacter);
    }
    let topic = ByteString::try_from(raw).map_err(|_| DecodeError::InvalidUtf8)?;
    Ok((topic, wildcard))
}

/// Whether `bytes` holds a 0 byte, and whether it holds a `+` or `#`: eight
/// bytes at a time (typical topics are shorter than the 16- or 32-byte
/// blocks an auto-vectorised loop would need).
#[inline]
fn scan_topic(bytes: &[u8]) -> (bool, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Non-zero exactly when some byte of `x` is 0 (the classic "has zero
    // byte" test: exact for "any", though not for which byte).
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    // '#' (0x23) and '+' (0x2B) differ only in bit 3, and no other byte
    // becomes 0x2B when bit 3 is set.
    let has_wildcard = |x: u64| has_zero((x | (ONES * 0x08)) ^ (ONES * u64::from(b'+')));
    let load = |chunk: &[u8]| {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        u64::from_le_bytes(word)
    };
    let (mut null, mut wildcard) = (0, 0);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let x = load(chunk);
        null |= has_zero(x);
        wildcard |= has_wildcard(x);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let x = match bytes.len().checked_sub(8) {
            // The last 8 bytes, overlapping some already seen: harmless.
            Some(start) => load(&bytes[start..]),
            // A short topic, padded with 0x01: neither 0 nor a wildcard.
            None => {
                let mut word = [1; 8];
                word[..rest.len()].copy_from_slice(rest);
                u64::from_le_bytes(word)
            }
        };
        null |= has_zero(x);
        wildcard |= has_wildcard(x);
    }
    (null != 0, wildcard != 0)
}

/// `topic::validate_topic_name`, same errors in the same order, with one
/// pass over the bytes for U+0000 and the wildcards.
fn check_topic_name(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::Empty);
    }
    if name.len() > MAX_FIELD_LEN {
        return Err(TopicError::TooLong);
    }
    match scan_topic(name.as_bytes()) {
        (true, _) => Err(TopicError::NullCharacter),
        (false, true) => Err(TopicError::WildcardInName),
        (false, false) => Ok(()),
    }
}

/// A PUBLISH by reference: what [`crate::encode_publish`] writes, for a
/// caller that holds the parts elsewhere (a broker's stored message) and
/// would otherwise build a [`Publish`] by cloning them, its properties
/// most of all. The fields mean what [`Publish`]'s do.
#[derive(Debug, Clone, Copy)]
pub struct PublishRef<'a> {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    pub topic: &'a str,
    pub pid: Option<Pid>,
    pub properties: &'a Properties,
    pub payload: &'a [u8],
}

impl<'a> From<&'a Publish> for PublishRef<'a> {
    fn from(publish: &'a Publish) -> PublishRef<'a> {
        PublishRef {
            dup: publish.dup,
            qos: publish.qos,
            retain: publish.retain,
            topic: &publish.topic,
            pid: publish.pid,
            properties: &publish.properties,
            payload: &publish.payload,
        }
    }
}

/// The fixed header flags nibble.
pub(super) fn flags(publish: &PublishRef) -> u8 {
    let mut flags = (publish.qos as u8) << QOS_SHIFT;
    if publish.dup {
        flags |= DUP;
    }
    if publish.retain {
        flags |= RETAIN;
    }
    flags
}

pub(super) fn len(publish: &PublishRef, protocol: Protocol) -> usize {
    let pid_len = if publish.qos == QoS::AtMostOnce { 0 } else { 2 };
    wire::field_len(publish.topic.as_bytes())
        + pid_len
        + properties_len(publish.properties, protocol)
        + publish.payload.len()
}

pub(super) fn write(
    publish: &PublishRef,
    protocol: Protocol,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if publish.dup && publish.qos == QoS::AtMostOnce {
        return Err(EncodeError::InvalidValue("DUP on a QoS 0 PUBLISH"));
    }
    let aliased = protocol.is_v5() && publish.properties.topic_alias.is_some();
    if !(publish.topic.is_empty() && aliased) {
        check_topic_name(publish.topic)?;
    }
    // Checked above: no U+0000 (`write_string` would look again), and
    // within the length of a field.
    wire::write_field(publish.topic.as_bytes(), out)?;
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
    write_properties(publish.properties, protocol, PacketType::Publish, out)?;
    out.put_slice(publish.payload);
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
    fn scan_topic_agrees_with_a_plain_loop() {
        let naive = |bytes: &[u8]| {
            (
                bytes.contains(&0),
                bytes.iter().any(|&b| b == b'+' || b == b'#'),
            )
        };
        // Every byte value at every position of topics of 0..=24 bytes,
        // across the 8-byte words, the overlapping tail and the padded one.
        for len in 0..=24 {
            let base = vec![b'a'; len];
            assert_eq!(scan_topic(&base), (false, false), "{len}");
            for at in 0..len {
                for byte in 0..=u8::MAX {
                    let mut topic = base.clone();
                    topic[at] = byte;
                    assert_eq!(scan_topic(&topic), naive(&topic), "{topic:x?}");
                }
            }
        }
    }

    #[test]
    fn check_topic_name_agrees_with_validate_topic_name() {
        let long = "a".repeat(MAX_FIELD_LEN + 1);
        let names = [
            "", "a", "a/b", "/", "a+", "#", "a\0", "\0#", "+\0", "ü/€", "$SYS/x", &long,
        ];
        for name in names {
            assert_eq!(
                check_topic_name(name),
                crate::topic::validate_topic_name(name),
                "{name:?}"
            );
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
