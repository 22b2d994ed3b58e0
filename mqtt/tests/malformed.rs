//! Malformed input, one byte literal per case, each with the exact
//! `DecodeError` it must give. Every case is also checked to give the same
//! error with another packet behind it (a field never reads into the next
//! packet), and every proper prefix either asks for more bytes or already gives
//! that error (nothing is decided from a packet that has not fully arrived,
//! except what its fixed header says).
//!
//! # Layout
//! This file holds the `Case` type, its helpers and the checks every case goes
//! through; the cases, one table per feature, are in `malformed/`:
//! - `header.rs`: packet type and flags, remaining length, maximum packet size,
//!   PUBLISH flags, packet identifiers;
//! - `strings.rs`: UTF-8 string fields, topic names;
//! - `subscriptions.rs`: SUBSCRIBE / UNSUBSCRIBE payloads;
//! - `properties.rs`: v5 properties;
//! - `connect.rs`: CONNECT's variable header, CONNACK's flags, reason codes;
//! - `lengths.rs`: trailing bytes, fields that run past the end.

use mqtt::bytes::BytesMut;
use mqtt::{decode, DecodeError, PacketType, Protocol, ReasonCode};

use DecodeError::*;
use Protocol::V5;

#[path = "malformed/connect.rs"]
mod connect;
#[path = "malformed/header.rs"]
mod header;
#[path = "malformed/lengths.rs"]
mod lengths;
#[path = "malformed/properties.rs"]
mod properties;
#[path = "malformed/strings.rs"]
mod strings;
#[path = "malformed/subscriptions.rs"]
mod subscriptions;

struct Case {
    name: &'static str,
    protocol: Protocol,
    /// The `max_packet_size` passed to `decode`.
    max: u32,
    bytes: &'static [u8],
    expected: DecodeError,
}

/// A case decoded without a packet size limit.
fn case(
    name: &'static str,
    protocol: Protocol,
    bytes: &'static [u8],
    expected: DecodeError,
) -> Case {
    Case {
        name,
        protocol,
        max: u32::MAX,
        bytes,
        expected,
    }
}

fn flags(packet_type: PacketType, flags: u8) -> DecodeError {
    ReservedFlags { packet_type, flags }
}

fn protocol(name: &str, level: u8) -> DecodeError {
    InvalidProtocol {
        name: name.into(),
        level,
    }
}

fn not_allowed(property: u8, packet: PacketType) -> DecodeError {
    PropertyNotAllowed { property, packet }
}

fn all_cases() -> Vec<Case> {
    [
        header::fixed_header(),
        header::remaining_length(),
        header::flags_and_ids(),
        strings::strings(),
        strings::topic_names(),
        subscriptions::subscriptions(),
        properties::properties(),
        connect::connect_and_reasons(),
        lengths::lengths(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn decode_all(bytes: &[u8], protocol: Protocol, max: u32) -> Result<(), DecodeError> {
    let mut buf = BytesMut::from(bytes);
    while decode(&mut buf, protocol, max)?.is_some() {}
    Ok(())
}

#[test]
fn each_case_gives_its_error() {
    let mut failures = Vec::new();
    for case in all_cases() {
        let mut buf = BytesMut::from(case.bytes);
        let got = decode(&mut buf, case.protocol, case.max);
        if got != Err(case.expected.clone()) {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                case.name, case.expected, got
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn each_literal_is_exactly_one_packet() {
    // The remaining length written in each literal matches the bytes after
    // it, so no case gets its error from a miscounted length. (Framing cases
    // are about the remaining length itself.)
    for case in all_cases() {
        if matches!(
            case.expected,
            MalformedRemainingLength | PacketTooLarge { .. }
        ) {
            continue;
        }
        let mut remaining = 0usize;
        let mut header = 1;
        for (i, &byte) in case.bytes[1..].iter().enumerate().take(4) {
            remaining |= usize::from(byte & 0x7F) << (7 * i);
            header += 1;
            if byte & 0x80 == 0 {
                break;
            }
        }
        assert_eq!(
            case.bytes.len() - header,
            remaining,
            "{}: remaining length",
            case.name
        );
    }
}

#[test]
fn a_following_packet_changes_nothing() {
    // A PINGREQ right behind: a field that ran past the end of its packet
    // must not read into it.
    for case in all_cases() {
        let mut bytes = case.bytes.to_vec();
        bytes.extend_from_slice(&[0xC0, 0x00]);
        let got = decode_all(&bytes, case.protocol, case.max);
        assert_eq!(got, Err(case.expected.clone()), "{}", case.name);
    }
}

#[test]
fn prefixes_need_more_bytes_or_give_the_same_error() {
    for case in all_cases() {
        for cut in 0..case.bytes.len() {
            let mut buf = BytesMut::from(&case.bytes[..cut]);
            match decode(&mut buf, case.protocol, case.max) {
                Ok(None) => assert_eq!(buf.len(), cut, "{}: consumed at {cut}", case.name),
                Err(err) => assert_eq!(err, case.expected, "{}: cut at {cut}", case.name),
                Ok(Some(packet)) => panic!("{}: cut at {cut} decoded {packet:?}", case.name),
            }
        }
    }
}

#[test]
fn every_error_maps_to_a_failure_reason_code() {
    for case in all_cases() {
        let code = case.expected.reason_code();
        assert!(!code.is_success(), "{}: {code:?}", case.name);
    }
    assert_eq!(
        InvalidProtocol {
            name: "MQTT".into(),
            level: 6
        }
        .reason_code(),
        ReasonCode::UnsupportedProtocolVersion
    );
    assert_eq!(EmptyTopic.reason_code(), ReasonCode::TopicNameInvalid);
    assert_eq!(
        PacketTooLarge { size: 2, max: 1 }.reason_code(),
        ReasonCode::PacketTooLarge
    );
    assert_eq!(
        DuplicateProperty(0x02).reason_code(),
        ReasonCode::ProtocolError
    );
    assert_eq!(Truncated.reason_code(), ReasonCode::MalformedPacket);
}

/// MQTT 5.0 §2.2.2.2: "A Control Packet which contains an Identifier which is
/// not valid for its packet type, or contains a value not of the specified
/// data type, is a Malformed Packet. If received, use a CONNACK or DISCONNECT
/// packet with Reason Code 0x81 (Malformed Packet)".
#[test]
fn property_not_valid_for_the_packet_type_is_a_malformed_packet() {
    let subscribe: &[u8] = &[
        0x82, // SUBSCRIBE, flags 0b0010
        0x0C, // remaining length 12
        0x00, 0x01, // packet id 1
        0x05, // property length 5
        0x11, 0x00, 0x00, 0x00,
        0x3C, // session expiry interval 60 s: not a SUBSCRIBE property
        0x00, 0x01, b't', // topic filter "t"
        0x00, // subscription options: QoS 0
    ];
    let err = decode(&mut BytesMut::from(subscribe), V5, u32::MAX).unwrap_err();
    assert_eq!(err, not_allowed(0x11, PacketType::Subscribe));
    assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    assert_eq!(err.reason_code().as_u8(), 0x81);
}

#[test]
fn the_table_covers_every_error_variant() {
    // Adding a DecodeError variant without a malformed case fails here.
    let name = |err: &DecodeError| format!("{err:?}");
    let variant = |err: &DecodeError| {
        name(err)
            .split(['(', ' ', '{'])
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let covered: std::collections::BTreeSet<String> =
        all_cases().iter().map(|c| variant(&c.expected)).collect();
    let every = [
        MalformedRemainingLength,
        MalformedVariableByteInteger,
        PacketTooLarge { size: 0, max: 0 },
        InvalidPacketType(0),
        flags(PacketType::PingReq, 1),
        InvalidQoS,
        DupOnQoS0,
        ZeroPacketId,
        InvalidUtf8,
        NullCharacter,
        protocol("", 0),
        InvalidConnectFlags,
        InvalidConnAckFlags,
        WildcardInTopicName,
        InvalidTopicFilter,
        EmptyTopic,
        DuplicateProperty(0),
        not_allowed(0, PacketType::PingReq),
        UnknownProperty(0),
        InvalidPropertyValue(0),
        InvalidReasonCode(0),
        EmptySubscription,
        InvalidSubscriptionOptions(0),
        NoLocalOnSharedSubscription,
        Truncated,
        TrailingBytes,
        V5OnlyPacket,
    ];
    for err in &every {
        // Exhaustive: a new variant makes this match fail to compile.
        match err {
            MalformedRemainingLength
            | MalformedVariableByteInteger
            | PacketTooLarge { .. }
            | InvalidPacketType(_)
            | ReservedFlags { .. }
            | InvalidQoS
            | DupOnQoS0
            | ZeroPacketId
            | InvalidUtf8
            | NullCharacter
            | InvalidProtocol { .. }
            | InvalidConnectFlags
            | InvalidConnAckFlags
            | WildcardInTopicName
            | InvalidTopicFilter
            | EmptyTopic
            | DuplicateProperty(_)
            | PropertyNotAllowed { .. }
            | UnknownProperty(_)
            | InvalidPropertyValue(_)
            | InvalidReasonCode(_)
            | EmptySubscription
            | InvalidSubscriptionOptions(_)
            | NoLocalOnSharedSubscription
            | Truncated
            | TrailingBytes
            | V5OnlyPacket => {}
        }
        assert!(covered.contains(&variant(err)), "no case for {err:?}");
    }
}

/// Inputs the fuzz targets (mqtt/fuzz) found, kept as regressions.
#[test]
fn fuzz_regressions() {
    use mqtt::topic::{parse_shared, validate_topic_filter, TopicError};

    // `topic` target, crash-8b35ea6c: the share name of a `$share/` filter
    // was not checked for U+0000, so validate_topic_filter accepted it.
    let input = b"$\0a\n$share/A\0\0\0\0\0\n/$e/]e/";
    let text = std::str::from_utf8(input).unwrap();
    let (_, topic) = text.split_once('\n').unwrap();
    assert_eq!(validate_topic_filter(topic), Err(TopicError::NullCharacter));
    assert_eq!(parse_shared(topic), Some(Err(TopicError::NullCharacter)));
}
