//! Malformed input, one byte literal per case, each with the exact
//! `DecodeError` it must give. Every case is also checked to give the same
//! error with another packet behind it (a field never reads into the next
//! packet), and every proper prefix either asks for more bytes or already gives
//! that error (nothing is decided from a packet that has not fully arrived,
//! except what its fixed header says).

use mqtt::bytes::BytesMut;
use mqtt::{decode, DecodeError, PacketType, Protocol, ReasonCode};

use DecodeError::*;
use Protocol::{V31, V311, V5};

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

/// Fixed header: packet type and the flags nibble.
fn fixed_header() -> Vec<Case> {
    use PacketType as T;
    vec![
        case(
            "PUBREL flags 0b0000 (must be 0b0010)",
            V311,
            &[
                0x60, 0x02, // PUBREL, flags 0b0000; remaining length 2
                0x00, 0x01, // packet id 1
            ],
            flags(T::PubRel, 0b0000),
        ),
        case(
            "PUBREL flags 0b0011",
            V5,
            &[
                0x63, 0x02, // PUBREL, flags 0b0011; remaining length 2
                0x00, 0x01, // packet id 1
            ],
            flags(T::PubRel, 0b0011),
        ),
        case(
            "SUBSCRIBE flags 0b0000 (must be 0b0010)",
            V311,
            &[
                0x80, 0x06, // SUBSCRIBE, flags 0b0000; remaining length 6
                0x00, 0x01, // packet id 1
                0x00, 0x01, b'a', // filter "a"
                0x00, // options: QoS 0
            ],
            flags(T::Subscribe, 0b0000),
        ),
        case(
            "SUBSCRIBE flags 0b1010",
            V5,
            &[
                0x8A, 0x07, // SUBSCRIBE, flags 0b1010; remaining length 7
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x01, b'a', // filter "a"
                0x00, // options: QoS 0
            ],
            flags(T::Subscribe, 0b1010),
        ),
        case(
            "UNSUBSCRIBE flags 0b0000 (must be 0b0010)",
            V311,
            &[
                0xA0, 0x05, // UNSUBSCRIBE, flags 0b0000; remaining length 5
                0x00, 0x01, // packet id 1
                0x00, 0x01, b'a', // filter "a"
            ],
            flags(T::Unsubscribe, 0b0000),
        ),
        case(
            "UNSUBSCRIBE flags 0b0110",
            V5,
            &[
                0xA6, 0x06, // UNSUBSCRIBE, flags 0b0110; remaining length 6
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x01, b'a', // filter "a"
            ],
            flags(T::Unsubscribe, 0b0110),
        ),
        case(
            "CONNECT flags 0b0001",
            V311,
            &[
                0x11, 0x0E, // CONNECT, flags 0b0001; remaining length 14
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0x02, // connect flags: clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            flags(T::Connect, 0b0001),
        ),
        case(
            "CONNACK flags 0b1000",
            V311,
            &[
                0x28, 0x02, // CONNACK, flags 0b1000; remaining length 2
                0x00, // acknowledge flags
                0x00, // return code: accepted
            ],
            flags(T::ConnAck, 0b1000),
        ),
        case(
            "PUBACK flags 0b0010 (only PUBREL has it)",
            V311,
            &[
                0x42, 0x02, // PUBACK, flags 0b0010; remaining length 2
                0x00, 0x01, // packet id 1
            ],
            flags(T::PubAck, 0b0010),
        ),
        case(
            "PUBREC flags 0b0100",
            V5,
            &[
                0x54, 0x02, // PUBREC, flags 0b0100; remaining length 2
                0x00, 0x01, // packet id 1
            ],
            flags(T::PubRec, 0b0100),
        ),
        case(
            "PUBCOMP flags 0b0010",
            V311,
            &[
                0x72, 0x02, // PUBCOMP, flags 0b0010; remaining length 2
                0x00, 0x01, // packet id 1
            ],
            flags(T::PubComp, 0b0010),
        ),
        case(
            "SUBACK flags 0b0010",
            V311,
            &[
                0x92, 0x03, // SUBACK, flags 0b0010; remaining length 3
                0x00, 0x01, // packet id 1
                0x00, // granted QoS 0
            ],
            flags(T::SubAck, 0b0010),
        ),
        case(
            "UNSUBACK flags 0b0001",
            V311,
            &[
                0xB1, 0x02, // UNSUBACK, flags 0b0001; remaining length 2
                0x00, 0x01, // packet id 1
            ],
            flags(T::UnsubAck, 0b0001),
        ),
        case(
            "PINGREQ flags 0b0001",
            V311,
            &[
                0xC1, 0x00, // PINGREQ, flags 0b0001; remaining length 0
            ],
            flags(T::PingReq, 0b0001),
        ),
        case(
            "PINGRESP flags 0b1000",
            V5,
            &[
                0xD8, 0x00, // PINGRESP, flags 0b1000; remaining length 0
            ],
            flags(T::PingResp, 0b1000),
        ),
        case(
            "DISCONNECT flags 0b0010",
            V311,
            &[
                0xE2, 0x00, // DISCONNECT, flags 0b0010; remaining length 0
            ],
            flags(T::Disconnect, 0b0010),
        ),
        case(
            "AUTH flags 0b1111",
            V5,
            &[
                0xFF, 0x00, // AUTH, flags 0b1111; remaining length 0
            ],
            flags(T::Auth, 0b1111),
        ),
        case(
            "packet type 0 (reserved)",
            V311,
            &[
                0x00, 0x00, // type 0, flags 0; remaining length 0
            ],
            InvalidPacketType(0),
        ),
        case(
            "AUTH at level 4",
            V311,
            &[
                0xF0, 0x00, // AUTH, remaining length 0
            ],
            V5OnlyPacket,
        ),
        case(
            "AUTH at level 3",
            V31,
            &[
                0xF0, 0x02, // AUTH, remaining length 2
                0x18, // reason code: continue authentication
                0x00, // property length 0
            ],
            V5OnlyPacket,
        ),
    ]
}

/// The remaining length and the maximum packet size.
fn remaining_length() -> Vec<Case> {
    vec![
        case(
            "remaining length with a 5th byte",
            V311,
            &[
                0x30, // PUBLISH, QoS 0
                0xFF, 0xFF, 0xFF, 0xFF,
                0x01, // remaining length: 4 continuation bits, 5th byte
            ],
            MalformedRemainingLength,
        ),
        case(
            "remaining length: 4th byte has the continuation bit",
            V5,
            &[
                0x30, // PUBLISH, QoS 0
                0x80, 0x80, 0x80, 0x80, // remaining length: a 5th byte would follow
            ],
            MalformedRemainingLength,
        ),
        case(
            "remaining length not in the fewest bytes",
            V311,
            &[
                0xC0, // PINGREQ
                0x80, 0x00, // remaining length 0 written in 2 bytes
            ],
            MalformedRemainingLength,
        ),
        Case {
            max: 100,
            ..case(
                "remaining length above the max packet size",
                V5,
                &[
                    0x30, // PUBLISH, QoS 0
                    0xC8, 0x01, // remaining length 200: 203 bytes in all, max 100
                ],
                PacketTooLarge {
                    size: 203,
                    max: 100,
                },
            )
        },
        Case {
            max: 3,
            ..case(
                "one byte over the max packet size",
                V311,
                &[
                    0x40, 0x02, // PUBACK, remaining length 2: 4 bytes in all, max 3
                    0x00, 0x01, // packet id 1
                ],
                PacketTooLarge { size: 4, max: 3 },
            )
        },
        Case {
            max: 1 << 20,
            ..case(
                "256 MB announced against a 1 MiB maximum",
                V311,
                &[
                    0x30, // PUBLISH, QoS 0
                    0xFF, 0xFF, 0xFF, 0x7F, // remaining length 268,435,455
                    0x00, 0x01, b't', // topic "t" (the rest never arrives)
                ],
                PacketTooLarge {
                    size: 268_435_460,
                    max: 1 << 20,
                },
            )
        },
    ]
}

/// PUBLISH flags, packet identifiers.
fn flags_and_ids() -> Vec<Case> {
    vec![
        case(
            "PUBLISH QoS 3",
            V311,
            &[
                0x36, 0x05, // PUBLISH, QoS 3; remaining length 5
                0x00, 0x01, b't', // topic "t"
                0x00, 0x01, // packet id 1
            ],
            InvalidQoS,
        ),
        case(
            "PUBLISH QoS 3 with DUP and RETAIN",
            V5,
            &[
                0x3F, 0x06, // PUBLISH, DUP, QoS 3, RETAIN; remaining length 6
                0x00, 0x01, b't', // topic "t"
                0x00, 0x01, // packet id 1
                0x00, // property length 0
            ],
            InvalidQoS,
        ),
        case(
            "DUP on a QoS 0 PUBLISH",
            V311,
            &[
                0x38, 0x03, // PUBLISH, DUP, QoS 0; remaining length 3
                0x00, 0x01, b't', // topic "t"
            ],
            DupOnQoS0,
        ),
        case(
            "DUP on a QoS 0 PUBLISH (v5)",
            V5,
            &[
                0x39, 0x04, // PUBLISH, DUP, QoS 0, RETAIN; remaining length 4
                0x00, 0x01, b't', // topic "t"
                0x00, // property length 0
            ],
            DupOnQoS0,
        ),
        case(
            "PUBLISH QoS 1 with packet id 0",
            V311,
            &[
                0x32, 0x05, // PUBLISH, QoS 1; remaining length 5
                0x00, 0x01, b't', // topic "t"
                0x00, 0x00, // packet id 0
            ],
            ZeroPacketId,
        ),
        case(
            "PUBLISH QoS 2 with packet id 0 (v5)",
            V5,
            &[
                0x34, 0x06, // PUBLISH, QoS 2; remaining length 6
                0x00, 0x01, b't', // topic "t"
                0x00, 0x00, // packet id 0
                0x00, // property length 0
            ],
            ZeroPacketId,
        ),
        case(
            "PUBACK with packet id 0",
            V311,
            &[
                0x40, 0x02, // PUBACK, remaining length 2
                0x00, 0x00, // packet id 0
            ],
            ZeroPacketId,
        ),
        case(
            "PUBREL with packet id 0",
            V5,
            &[
                0x62, 0x02, // PUBREL, remaining length 2
                0x00, 0x00, // packet id 0
            ],
            ZeroPacketId,
        ),
        case(
            "SUBSCRIBE with packet id 0",
            V311,
            &[
                0x82, 0x06, // SUBSCRIBE, remaining length 6
                0x00, 0x00, // packet id 0
                0x00, 0x01, b'a', // filter "a"
                0x00, // options: QoS 0
            ],
            ZeroPacketId,
        ),
        case(
            "UNSUBSCRIBE with packet id 0",
            V311,
            &[
                0xA2, 0x05, // UNSUBSCRIBE, remaining length 5
                0x00, 0x00, // packet id 0
                0x00, 0x01, b'a', // filter "a"
            ],
            ZeroPacketId,
        ),
        case(
            "SUBACK with packet id 0",
            V5,
            &[
                0x90, 0x04, // SUBACK, remaining length 4
                0x00, 0x00, // packet id 0
                0x00, // property length 0
                0x00, // granted QoS 0
            ],
            ZeroPacketId,
        ),
        case(
            "UNSUBACK with packet id 0",
            V311,
            &[
                0xB0, 0x02, // UNSUBACK, remaining length 2
                0x00, 0x00, // packet id 0
            ],
            ZeroPacketId,
        ),
    ]
}

/// UTF-8 string fields.
fn strings() -> Vec<Case> {
    vec![
        case(
            "U+0000 in a PUBLISH topic",
            V311,
            &[
                0x30, 0x05, // PUBLISH, QoS 0; remaining length 5
                0x00, 0x03, b'a', 0x00, b'b', // topic "a\0b"
            ],
            NullCharacter,
        ),
        case(
            "U+0000 in a CONNECT client id",
            V311,
            &[
                0x10, 0x0E, // CONNECT, remaining length 14
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0x02, // connect flags: clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', 0x00, // client id "c\0"
            ],
            NullCharacter,
        ),
        case(
            "U+0000 in a topic filter",
            V311,
            &[
                0x82, 0x07, // SUBSCRIBE, remaining length 7
                0x00, 0x01, // packet id 1
                0x00, 0x02, b'a', 0x00, // filter "a\0"
                0x00, // options: QoS 0
            ],
            NullCharacter,
        ),
        case(
            "U+0000 in a user property key",
            V5,
            &[
                0x30, 0x0A, // PUBLISH, QoS 0; remaining length 10
                0x00, 0x01, b't', // topic "t"
                0x06, // property length 6
                0x26, 0x00, 0x01, 0x00, 0x00, 0x00, // user property ("\0", "")
            ],
            NullCharacter,
        ),
        case(
            "invalid UTF-8 byte 0xFF in a topic",
            V311,
            &[
                0x30, 0x03, // PUBLISH, QoS 0; remaining length 3
                0x00, 0x01, 0xFF, // topic: 0xFF never appears in UTF-8
            ],
            InvalidUtf8,
        ),
        case(
            "encoded surrogate U+D800 (ED A0 80) in a topic",
            V311,
            &[
                0x30, 0x05, // PUBLISH, QoS 0; remaining length 5
                0x00, 0x03, 0xED, 0xA0, 0x80, // topic: U+D800 encoded as if a scalar value
            ],
            InvalidUtf8,
        ),
        case(
            "encoded surrogate U+DFFF (ED BF BF) in a client id",
            V5,
            &[
                0x10, 0x10, // CONNECT, remaining length 16
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x05, // protocol level 5
                0x02, // connect flags: clean start
                0x00, 0x3C, // keep alive 60 s
                0x00, // property length 0
                0x00, 0x03, 0xED, 0xBF, 0xBF, // client id: U+DFFF
            ],
            InvalidUtf8,
        ),
        case(
            "overlong encoding of U+0000 (C0 80)",
            V311,
            &[
                0x30, 0x04, // PUBLISH, QoS 0; remaining length 4
                0x00, 0x02, 0xC0, 0x80, // topic: overlong NUL
            ],
            InvalidUtf8,
        ),
        case(
            "UTF-8 sequence cut by the string length",
            V311,
            &[
                0x30, 0x05, // PUBLISH, QoS 0; remaining length 5
                0x00, 0x02, 0xE2, 0x82, // topic: first 2 bytes of U+20AC
                0xAC, // payload: its 3rd byte
            ],
            InvalidUtf8,
        ),
        case(
            "code point above U+10FFFF (F4 90 80 80)",
            V311,
            &[
                0xA2, 0x08, // UNSUBSCRIBE, remaining length 8
                0x00, 0x01, // packet id 1
                0x00, 0x04, 0xF4, 0x90, 0x80, 0x80, // filter: U+110000
            ],
            InvalidUtf8,
        ),
        case(
            "surrogate in a topic filter",
            V5,
            &[
                0x82, 0x09, // SUBSCRIBE, remaining length 9
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x03, 0xED, 0xA0, 0x80, // filter: U+D800
                0x00, // options: QoS 0
            ],
            InvalidUtf8,
        ),
    ]
}

/// Topic names in PUBLISH and the will.
fn topic_names() -> Vec<Case> {
    vec![
        case(
            "'+' in a PUBLISH topic",
            V311,
            &[
                0x30, 0x05, // PUBLISH, QoS 0; remaining length 5
                0x00, 0x03, b'a', b'/', b'+', // topic "a/+"
            ],
            WildcardInTopicName,
        ),
        case(
            "'#' in a PUBLISH topic (v5)",
            V5,
            &[
                0x30, 0x06, // PUBLISH, QoS 0; remaining length 6
                0x00, 0x03, b'a', b'/', b'#', // topic "a/#"
                0x00, // property length 0
            ],
            WildcardInTopicName,
        ),
        case(
            "'+' inside a level of a PUBLISH topic (v3.1)",
            V31,
            &[
                0x32, 0x07, // PUBLISH, QoS 1; remaining length 7
                0x00, 0x03, b'a', b'+', b'b', // topic "a+b"
                0x00, 0x01, // packet id 1
            ],
            WildcardInTopicName,
        ),
        case(
            "'#' in a will topic",
            V311,
            &[
                0x10, 0x13, // CONNECT, remaining length 19
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0x06, // connect flags: will, clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
                0x00, 0x01, b'#', // will topic "#"
                0x00, 0x00, // will payload (empty)
            ],
            WildcardInTopicName,
        ),
        case(
            "empty PUBLISH topic (v3.1.1)",
            V311,
            &[
                0x30, 0x02, // PUBLISH, QoS 0; remaining length 2
                0x00, 0x00, // topic ""
            ],
            EmptyTopic,
        ),
        case(
            "empty PUBLISH topic (v3.1)",
            V31,
            &[
                0x32, 0x05, // PUBLISH, QoS 1; remaining length 5
                0x00, 0x00, // topic ""
                0x00, 0x01, // packet id 1
                b'x', // payload "x"
            ],
            EmptyTopic,
        ),
        case(
            "empty PUBLISH topic without a topic alias (v5)",
            V5,
            &[
                0x30, 0x03, // PUBLISH, QoS 0; remaining length 3
                0x00, 0x00, // topic ""
                0x00, // property length 0: no topic alias
            ],
            EmptyTopic,
        ),
        case(
            "empty PUBLISH topic, properties but no topic alias (v5)",
            V5,
            &[
                0x30, 0x08, // PUBLISH, QoS 0; remaining length 8
                0x00, 0x00, // topic ""
                0x05, // property length 5
                0x02, 0x00, 0x00, 0x00, 0x01, // message expiry interval 1 s
            ],
            EmptyTopic,
        ),
        case(
            "empty will topic",
            V311,
            &[
                0x10, 0x12, // CONNECT, remaining length 18
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0x06, // connect flags: will, clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
                0x00, 0x00, // will topic ""
                0x00, 0x00, // will payload (empty)
            ],
            EmptyTopic,
        ),
    ]
}

/// SUBSCRIBE / UNSUBSCRIBE payloads.
fn subscriptions() -> Vec<Case> {
    vec![
        case(
            "filter 'a/#/b': '#' not last",
            V311,
            &[
                0x82, 0x0A, // SUBSCRIBE, remaining length 10
                0x00, 0x01, // packet id 1
                0x00, 0x05, b'a', b'/', b'#', b'/', b'b', // filter "a/#/b"
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "filter 'a+': '+' not a whole level",
            V311,
            &[
                0x82, 0x07, // SUBSCRIBE, remaining length 7
                0x00, 0x01, // packet id 1
                0x00, 0x02, b'a', b'+', // filter "a+"
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "filter '#a': '#' not a whole level",
            V5,
            &[
                0x82, 0x08, // SUBSCRIBE, remaining length 8
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x02, b'#', b'a', // filter "#a"
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "empty filter",
            V311,
            &[
                0x82, 0x05, // SUBSCRIBE, remaining length 5
                0x00, 0x01, // packet id 1
                0x00, 0x00, // filter ""
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "second filter '##' after a valid one",
            V311,
            &[
                0x82, 0x0B, // SUBSCRIBE, remaining length 11
                0x00, 0x01, // packet id 1
                0x00, 0x01, b'a', // filter "a"
                0x00, // options: QoS 0
                0x00, 0x02, b'#', b'#', // filter "##"
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "shared subscription without a filter: '$share/g'",
            V5,
            &[
                0x82, 0x0E, // SUBSCRIBE, remaining length 14
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x08, b'$', b's', b'h', b'a', b'r', b'e', b'/',
                b'g', // filter "$share/g"
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "shared subscription with an empty share name: '$share//a'",
            V5,
            &[
                0x82, 0x0F, // SUBSCRIBE, remaining length 15
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x09, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'/',
                b'a', // filter "$share//a"
                0x00, // options: QoS 0
            ],
            InvalidTopicFilter,
        ),
        case(
            "UNSUBSCRIBE filter 'a/#/b'",
            V311,
            &[
                0xA2, 0x09, // UNSUBSCRIBE, remaining length 9
                0x00, 0x01, // packet id 1
                0x00, 0x05, b'a', b'/', b'#', b'/', b'b', // filter "a/#/b"
            ],
            InvalidTopicFilter,
        ),
        case(
            "UNSUBSCRIBE filter 'a+' (v5)",
            V5,
            &[
                0xA2, 0x07, // UNSUBSCRIBE, remaining length 7
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x02, b'a', b'+', // filter "a+"
            ],
            InvalidTopicFilter,
        ),
        case(
            "SUBSCRIBE without filters",
            V311,
            &[
                0x82, 0x02, // SUBSCRIBE, remaining length 2
                0x00, 0x01, // packet id 1 and nothing else
            ],
            EmptySubscription,
        ),
        case(
            "SUBSCRIBE without filters (v5)",
            V5,
            &[
                0x82, 0x03, // SUBSCRIBE, remaining length 3
                0x00, 0x01, // packet id 1
                0x00, // property length 0, and nothing else
            ],
            EmptySubscription,
        ),
        case(
            "UNSUBSCRIBE without filters",
            V311,
            &[
                0xA2, 0x02, // UNSUBSCRIBE, remaining length 2
                0x00, 0x01, // packet id 1 and nothing else
            ],
            EmptySubscription,
        ),
        case(
            "SUBACK without reason codes (v5)",
            V5,
            &[
                0x90, 0x03, // SUBACK, remaining length 3
                0x00, 0x01, // packet id 1
                0x00, // property length 0, and nothing else
            ],
            EmptySubscription,
        ),
        case(
            "subscription options bit 6 (reserved, v5)",
            V5,
            &[
                0x82, 0x07, // SUBSCRIBE, remaining length 7
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x01, b'a', // filter "a"
                0x40, // options: reserved bit 6
            ],
            InvalidSubscriptionOptions(0x40),
        ),
        case(
            "subscription options bit 7 (reserved, v5)",
            V5,
            &[
                0x82, 0x07, // SUBSCRIBE, remaining length 7
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x01, b'a', // filter "a"
                0x81, // options: reserved bit 7, QoS 1
            ],
            InvalidSubscriptionOptions(0x81),
        ),
        case(
            "No Local bit before v5 (reserved there)",
            V311,
            &[
                0x82, 0x06, // SUBSCRIBE, remaining length 6
                0x00, 0x01, // packet id 1
                0x00, 0x01, b'a', // filter "a"
                0x04, // options: bit 2 (No Local in v5) is reserved in 3.1.1
            ],
            InvalidSubscriptionOptions(0x04),
        ),
        case(
            "retain handling bits before v5 (reserved there)",
            V31,
            &[
                0x82, 0x06, // SUBSCRIBE, remaining length 6
                0x00, 0x01, // packet id 1
                0x00, 0x01, b'a', // filter "a"
                0x10, // options: bit 4 is reserved in 3.1
            ],
            InvalidSubscriptionOptions(0x10),
        ),
        case(
            "retain handling 3",
            V5,
            &[
                0x82, 0x07, // SUBSCRIBE, remaining length 7
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x01, b'a', // filter "a"
                0x30, // options: retain handling 3, QoS 0
            ],
            InvalidSubscriptionOptions(0x30),
        ),
        case(
            "retain handling 3 with QoS 1 and No Local",
            V5,
            &[
                0x82, 0x07, // SUBSCRIBE, remaining length 7
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x01, b'a', // filter "a"
                0x35, // options: retain handling 3, No Local, QoS 1
            ],
            InvalidSubscriptionOptions(0x35),
        ),
        case(
            "subscription QoS 3",
            V311,
            &[
                0x82, 0x06, // SUBSCRIBE, remaining length 6
                0x00, 0x01, // packet id 1
                0x00, 0x01, b'a', // filter "a"
                0x03, // options: QoS 3
            ],
            InvalidQoS,
        ),
        case(
            "No Local on a shared subscription",
            V5,
            &[
                0x82, 0x10, // SUBSCRIBE, remaining length 16
                0x00, 0x01, // packet id 1
                0x00, // property length 0
                0x00, 0x0A, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/',
                b'a', // filter "$share/g/a"
                0x04, // options: No Local, QoS 0
            ],
            NoLocalOnSharedSubscription,
        ),
    ]
}

/// v5 properties.
fn properties() -> Vec<Case> {
    use PacketType as T;
    vec![
        case(
            "message expiry interval twice in PUBLISH",
            V5,
            &[
                0x30, 0x0E, // PUBLISH, QoS 0; remaining length 14
                0x00, 0x01, b't', // topic "t"
                0x0A, // property length 10
                0x02, 0x00, 0x00, 0x00, 0x01, // message expiry interval 1 s
                0x02, 0x00, 0x00, 0x00, 0x01, // message expiry interval again
            ],
            DuplicateProperty(0x02),
        ),
        case(
            "topic alias twice in PUBLISH",
            V5,
            &[
                0x30, 0x0A, // PUBLISH, QoS 0; remaining length 10
                0x00, 0x01, b't', // topic "t"
                0x06, // property length 6
                0x23, 0x00, 0x01, // topic alias 1
                0x23, 0x00, 0x02, // topic alias 2
            ],
            DuplicateProperty(0x23),
        ),
        case(
            "subscription identifier twice in SUBSCRIBE (only PUBLISH repeats it)",
            V5,
            &[
                0x82, 0x0B, // SUBSCRIBE, remaining length 11
                0x00, 0x01, // packet id 1
                0x04, // property length 4
                0x0B, 0x01, // subscription identifier 1
                0x0B, 0x02, // subscription identifier 2
                0x00, 0x01, b'a', // filter "a"
                0x00, // options: QoS 0
            ],
            DuplicateProperty(0x0B),
        ),
        case(
            "reason string twice in PUBACK",
            V5,
            &[
                0x40, 0x0C, // PUBACK, remaining length 12
                0x00, 0x01, // packet id 1
                0x00, // reason code: success
                0x08, // property length 8
                0x1F, 0x00, 0x01, b'a', // reason string "a"
                0x1F, 0x00, 0x01, b'b', // reason string "b"
            ],
            DuplicateProperty(0x1F),
        ),
        case(
            "session expiry interval twice in CONNECT",
            V5,
            &[
                0x10, 0x19, // CONNECT, remaining length 25
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x05, // protocol level 5
                0x02, // connect flags: clean start
                0x00, 0x3C, // keep alive 60 s
                0x0A, // property length 10
                0x11, 0x00, 0x00, 0x00, 0x0A, // session expiry interval 10 s
                0x11, 0x00, 0x00, 0x00, 0x0A, // session expiry interval again
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            DuplicateProperty(0x11),
        ),
        case(
            "receive maximum twice in CONNACK",
            V5,
            &[
                0x20, 0x09, // CONNACK, remaining length 9
                0x00, // acknowledge flags
                0x00, // reason code: success
                0x06, // property length 6
                0x21, 0x00, 0x0A, // receive maximum 10
                0x21, 0x00, 0x0A, // receive maximum again
            ],
            DuplicateProperty(0x21),
        ),
        case(
            "session expiry interval in PUBLISH",
            V5,
            &[
                0x30, 0x09, // PUBLISH, QoS 0; remaining length 9
                0x00, 0x01, b't', // topic "t"
                0x05, // property length 5
                0x11, 0x00, 0x00, 0x00,
                0x01, // session expiry interval: not a PUBLISH property
            ],
            not_allowed(0x11, T::Publish),
        ),
        case(
            "reason string in PUBLISH",
            V5,
            &[
                0x30, 0x08, // PUBLISH, QoS 0; remaining length 8
                0x00, 0x01, b't', // topic "t"
                0x04, // property length 4
                0x1F, 0x00, 0x01, b'r', // reason string "r": not a PUBLISH property
            ],
            not_allowed(0x1F, T::Publish),
        ),
        case(
            "topic alias in CONNECT",
            V5,
            &[
                0x10, 0x12, // CONNECT, remaining length 18
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x05, // protocol level 5
                0x02, // connect flags: clean start
                0x00, 0x3C, // keep alive 60 s
                0x03, // property length 3
                0x23, 0x00, 0x01, // topic alias 1: PUBLISH only
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            not_allowed(0x23, T::Connect),
        ),
        case(
            "maximum QoS in CONNECT (CONNACK only)",
            V5,
            &[
                0x10, 0x11, // CONNECT, remaining length 17
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x05, // protocol level 5
                0x02, // connect flags: clean start
                0x00, 0x3C, // keep alive 60 s
                0x02, // property length 2
                0x24, 0x01, // maximum QoS 1
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            not_allowed(0x24, T::Connect),
        ),
        case(
            "topic alias in the will properties",
            V5,
            &[
                0x10, 0x18, // CONNECT, remaining length 24
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x05, // protocol level 5
                0x06, // connect flags: will, clean start
                0x00, 0x3C, // keep alive 60 s
                0x00, // property length 0
                0x00, 0x02, b'c', b'1', // client id "c1"
                0x03, // will property length 3
                0x23, 0x00, 0x01, // topic alias 1: not a will property
                0x00, 0x01, b't', // will topic "t"
                0x00, 0x00, // will payload (empty)
            ],
            not_allowed(0x23, T::Connect),
        ),
        case(
            "server reference in AUTH",
            V5,
            &[
                0xF0, 0x06, // AUTH, remaining length 6
                0x18, // reason code: continue authentication
                0x04, // property length 4
                0x1C, 0x00, 0x01, b's', // server reference "s": not an AUTH property
            ],
            not_allowed(0x1C, T::Auth),
        ),
        case(
            "unknown property 0x7F in PUBLISH",
            V5,
            &[
                0x30, 0x06, // PUBLISH, QoS 0; remaining length 6
                0x00, 0x01, b't', // topic "t"
                0x02, // property length 2
                0x7F, 0x00, // property 0x7F: not defined
            ],
            UnknownProperty(0x7F),
        ),
        case(
            "unknown property 0x00 in PUBACK",
            V5,
            &[
                0x40, 0x05, // PUBACK, remaining length 5
                0x00, 0x01, // packet id 1
                0x00, // reason code: success
                0x01, // property length 1
                0x00, // property 0x00: not defined
            ],
            UnknownProperty(0x00),
        ),
        case(
            "unknown property 0x04 (a gap in the table) in DISCONNECT",
            V5,
            &[
                0xE0, 0x03, // DISCONNECT, remaining length 3
                0x00, // reason code: normal disconnection
                0x01, // property length 1
                0x04, // property 0x04: not defined
            ],
            UnknownProperty(0x04),
        ),
        case(
            "unknown property 0x2B (past the last) in CONNACK",
            V5,
            &[
                0x20, 0x05, // CONNACK, remaining length 5
                0x00, // acknowledge flags
                0x00, // reason code: success
                0x02, // property length 2
                0x2B, 0x00, // property 0x2B: not defined
            ],
            UnknownProperty(0x2B),
        ),
        case(
            "topic alias 0",
            V5,
            &[
                0x30, 0x07, // PUBLISH, QoS 0; remaining length 7
                0x00, 0x01, b't', // topic "t"
                0x03, // property length 3
                0x23, 0x00, 0x00, // topic alias 0
            ],
            InvalidPropertyValue(0x23),
        ),
        case(
            "topic alias 0 standing for an empty topic",
            V5,
            &[
                0x30, 0x06, // PUBLISH, QoS 0; remaining length 6
                0x00, 0x00, // topic ""
                0x03, // property length 3
                0x23, 0x00, 0x00, // topic alias 0
            ],
            InvalidPropertyValue(0x23),
        ),
        case(
            "receive maximum 0 in CONNECT",
            V5,
            &[
                0x10, 0x12, // CONNECT, remaining length 18
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x05, // protocol level 5
                0x02, // connect flags: clean start
                0x00, 0x3C, // keep alive 60 s
                0x03, // property length 3
                0x21, 0x00, 0x00, // receive maximum 0
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            InvalidPropertyValue(0x21),
        ),
        case(
            "receive maximum 0 in CONNACK",
            V5,
            &[
                0x20, 0x06, // CONNACK, remaining length 6
                0x00, // acknowledge flags
                0x00, // reason code: success
                0x03, // property length 3
                0x21, 0x00, 0x00, // receive maximum 0
            ],
            InvalidPropertyValue(0x21),
        ),
        case(
            "maximum packet size 0 in CONNACK",
            V5,
            &[
                0x20, 0x08, // CONNACK, remaining length 8
                0x00, // acknowledge flags
                0x00, // reason code: success
                0x05, // property length 5
                0x27, 0x00, 0x00, 0x00, 0x00, // maximum packet size 0
            ],
            InvalidPropertyValue(0x27),
        ),
        case(
            "maximum QoS 2 in CONNACK",
            V5,
            &[
                0x20, 0x05, // CONNACK, remaining length 5
                0x00, // acknowledge flags
                0x00, // reason code: success
                0x02, // property length 2
                0x24, 0x02, // maximum QoS 2: only 0 or 1
            ],
            InvalidPropertyValue(0x24),
        ),
        case(
            "payload format indicator 2",
            V5,
            &[
                0x30, 0x06, // PUBLISH, QoS 0; remaining length 6
                0x00, 0x01, b't', // topic "t"
                0x02, // property length 2
                0x01, 0x02, // payload format indicator 2
            ],
            InvalidPropertyValue(0x01),
        ),
        case(
            "subscription identifier 0",
            V5,
            &[
                0x82, 0x09, // SUBSCRIBE, remaining length 9
                0x00, 0x01, // packet id 1
                0x02, // property length 2
                0x0B, 0x00, // subscription identifier 0
                0x00, 0x01, b'a', // filter "a"
                0x00, // options: QoS 0
            ],
            InvalidPropertyValue(0x0B),
        ),
        case(
            "response topic with a wildcard",
            V5,
            &[
                0x30, 0x09, // PUBLISH, QoS 0; remaining length 9
                0x00, 0x01, b't', // topic "t"
                0x05, // property length 5
                0x08, 0x00, 0x02, b'r', b'+', // response topic "r+"
            ],
            InvalidPropertyValue(0x08),
        ),
        case(
            "property length in 5 bytes",
            V5,
            &[
                0x30, 0x08, // PUBLISH, QoS 0; remaining length 8
                0x00, 0x01, b't', // topic "t"
                0x80, 0x80, 0x80, 0x80, 0x01, // property length: 5-byte varint
            ],
            MalformedVariableByteInteger,
        ),
        case(
            "property length not in the fewest bytes",
            V5,
            &[
                0x30, 0x05, // PUBLISH, QoS 0; remaining length 5
                0x00, 0x01, b't', // topic "t"
                0x80, 0x00, // property length 0 written in 2 bytes
            ],
            MalformedVariableByteInteger,
        ),
        case(
            "subscription identifier not in the fewest bytes",
            V5,
            &[
                0x82, 0x0A, // SUBSCRIBE, remaining length 10
                0x00, 0x01, // packet id 1
                0x03, // property length 3
                0x0B, 0x81, 0x00, // subscription identifier 1 written in 2 bytes
                0x00, 0x01, b'a', // filter "a"
                0x00, // options: QoS 0
            ],
            MalformedVariableByteInteger,
        ),
    ]
}

/// CONNECT's variable header, CONNACK's flags and the reason codes.
fn connect_and_reasons() -> Vec<Case> {
    vec![
        case(
            "protocol name 'MQTX'",
            V311,
            &[
                0x10, 0x0E, // CONNECT, remaining length 14
                0x00, 0x04, b'M', b'Q', b'T', b'X', // protocol name "MQTX"
                0x04, // protocol level 4
                0x02, // connect flags: clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            protocol("MQTX", 4),
        ),
        case(
            "protocol name 'mqtt' (case matters)",
            V5,
            &[
                0x10, 0x0E, // CONNECT, remaining length 14
                0x00, 0x04, b'm', b'q', b't', b't', // protocol name "mqtt"
                0x04, // protocol level 4
                0x02, // connect flags: clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            protocol("mqtt", 4),
        ),
        case(
            "protocol name 'MQIsdp' with level 4",
            V311,
            &[
                0x10, 0x10, // CONNECT, remaining length 16
                0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // protocol name "MQIsdp"
                0x04, // protocol level 4: MQIsdp is level 3 only
                0x02, // connect flags: clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            protocol("MQIsdp", 4),
        ),
        case(
            "protocol name 'MQTT' with level 3",
            V311,
            &[
                0x10, 0x0E, // CONNECT, remaining length 14
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x03, // protocol level 3: that is "MQIsdp"
                0x02, // connect flags: clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            protocol("MQTT", 3),
        ),
        case(
            "unsupported protocol level 6",
            V5,
            &[
                0x10, 0x0E, // CONNECT, remaining length 14
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x06, // protocol level 6
                0x02, // connect flags: clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            protocol("MQTT", 6),
        ),
        case(
            "protocol level 0x84 (bridge bit on level 4)",
            V311,
            &[
                0x10, 0x0E, // CONNECT, remaining length 14
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x84, // protocol level 0x84
                0x02, // connect flags: clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            protocol("MQTT", 0x84),
        ),
        case(
            "CONNECT reserved flag (bit 0)",
            V311,
            &[
                0x10, 0x0E, // CONNECT, remaining length 14
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0x03, // connect flags: clean session, reserved bit 0
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            InvalidConnectFlags,
        ),
        case(
            "CONNECT reserved flag (bit 0, v5)",
            V5,
            &[
                0x10, 0x0F, // CONNECT, remaining length 15
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x05, // protocol level 5
                0x01, // connect flags: reserved bit 0
                0x00, 0x3C, // keep alive 60 s
                0x00, // property length 0
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            InvalidConnectFlags,
        ),
        case(
            "will QoS 1 without the will flag",
            V311,
            &[
                0x10, 0x0E, // CONNECT, remaining length 14
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0x0A, // connect flags: will QoS 1, clean session, no will
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            InvalidConnectFlags,
        ),
        case(
            "will QoS 2 without the will flag (v5)",
            V5,
            &[
                0x10, 0x0F, // CONNECT, remaining length 15
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x05, // protocol level 5
                0x12, // connect flags: will QoS 2, clean start, no will
                0x00, 0x3C, // keep alive 60 s
                0x00, // property length 0
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            InvalidConnectFlags,
        ),
        case(
            "will retain without the will flag",
            V31,
            &[
                0x10, 0x10, // CONNECT, remaining length 16
                0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // protocol name "MQIsdp"
                0x03, // protocol level 3
                0x22, // connect flags: will retain, clean session, no will
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            InvalidConnectFlags,
        ),
        case(
            "password without user name (3.1.1)",
            V311,
            &[
                0x10, 0x12, // CONNECT, remaining length 18
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0x42, // connect flags: password, clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
                0x00, 0x02, b'p', b'w', // password "pw"
            ],
            InvalidConnectFlags,
        ),
        case(
            "will QoS 3",
            V311,
            &[
                0x10, 0x13, // CONNECT, remaining length 19
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0x1E, // connect flags: will QoS 3, will, clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
                0x00, 0x01, b't', // will topic "t"
                0x00, 0x00, // will payload (empty)
            ],
            InvalidQoS,
        ),
        case(
            "CONNACK reserved acknowledge flag",
            V311,
            &[
                0x20, 0x02, // CONNACK, remaining length 2
                0x02, // acknowledge flags: bit 1 is reserved
                0x00, // return code: accepted
            ],
            InvalidConnAckFlags,
        ),
        case(
            "CONNACK session present on a refusal",
            V311,
            &[
                0x20, 0x02, // CONNACK, remaining length 2
                0x01, // acknowledge flags: session present
                0x05, // return code: not authorized
            ],
            InvalidConnAckFlags,
        ),
        case(
            "CONNACK return code 6 (3.1.1 has 0..=5)",
            V311,
            &[
                0x20, 0x02, // CONNACK, remaining length 2
                0x00, // acknowledge flags
                0x06, // return code 6
            ],
            InvalidReasonCode(0x06),
        ),
        case(
            "CONNACK granted QoS 1 (a SUBACK code)",
            V5,
            &[
                0x20, 0x03, // CONNACK, remaining length 3
                0x00, // acknowledge flags
                0x01, // reason code: granted QoS 1
                0x00, // property length 0
            ],
            InvalidReasonCode(0x01),
        ),
        case(
            "PUBACK reason code 0x05 (undefined)",
            V5,
            &[
                0x40, 0x03, // PUBACK, remaining length 3
                0x00, 0x01, // packet id 1
                0x05, // reason code 0x05
            ],
            InvalidReasonCode(0x05),
        ),
        case(
            "SUBACK return code 3 (3.1.1)",
            V311,
            &[
                0x90, 0x03, // SUBACK, remaining length 3
                0x00, 0x01, // packet id 1
                0x03, // return code 3
            ],
            InvalidReasonCode(0x03),
        ),
        case(
            "DISCONNECT with continue authentication",
            V5,
            &[
                0xE0, 0x01, // DISCONNECT, remaining length 1
                0x18, // reason code: continue authentication (AUTH only)
            ],
            InvalidReasonCode(0x18),
        ),
    ]
}

/// Bytes after the content, and fields that run past the end of the packet.
fn lengths() -> Vec<Case> {
    vec![
        case(
            "PINGREQ with a byte",
            V311,
            &[
                0xC0, 0x01, // PINGREQ, remaining length 1
                0x00, // a byte PINGREQ does not have
            ],
            TrailingBytes,
        ),
        case(
            "PUBACK with a reason code in 3.1.1",
            V311,
            &[
                0x40, 0x03, // PUBACK, remaining length 3
                0x00, 0x01, // packet id 1
                0x00, // a reason code only v5 has
            ],
            TrailingBytes,
        ),
        case(
            "PUBACK with a byte after its properties",
            V5,
            &[
                0x40, 0x05, // PUBACK, remaining length 5
                0x00, 0x01, // packet id 1
                0x00, // reason code: success
                0x00, // property length 0
                0xFF, // trailing
            ],
            TrailingBytes,
        ),
        case(
            "CONNECT with a byte after the client id",
            V311,
            &[
                0x10, 0x0F, // CONNECT, remaining length 15
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0x02, // connect flags: clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
                0x00, // trailing
            ],
            TrailingBytes,
        ),
        case(
            "CONNACK with 3 bytes (3.1.1)",
            V311,
            &[
                0x20, 0x03, // CONNACK, remaining length 3
                0x00, // acknowledge flags
                0x00, // return code: accepted
                0x00, // trailing (a property length only v5 has)
            ],
            TrailingBytes,
        ),
        case(
            "UNSUBACK with a reason code in 3.1.1",
            V311,
            &[
                0xB0, 0x03, // UNSUBACK, remaining length 3
                0x00, 0x01, // packet id 1
                0x00, // a reason code only v5 has
            ],
            TrailingBytes,
        ),
        case(
            "DISCONNECT with a byte in 3.1.1",
            V311,
            &[
                0xE0, 0x01, // DISCONNECT, remaining length 1
                0x00, // a reason code only v5 has
            ],
            TrailingBytes,
        ),
        case(
            "DISCONNECT with a byte after its properties",
            V5,
            &[
                0xE0, 0x03, // DISCONNECT, remaining length 3
                0x00, // reason code: normal disconnection
                0x00, // property length 0
                0x00, // trailing
            ],
            TrailingBytes,
        ),
        case(
            "AUTH with a byte after its properties",
            V5,
            &[
                0xF0, 0x03, // AUTH, remaining length 3
                0x18, // reason code: continue authentication
                0x00, // property length 0
                0x00, // trailing
            ],
            TrailingBytes,
        ),
        case(
            "PUBLISH topic length past the end",
            V311,
            &[
                0x30, 0x03, // PUBLISH, QoS 0; remaining length 3
                0x00, 0x05, b't', // topic: length 5, 1 byte left
            ],
            Truncated,
        ),
        case(
            "PUBLISH topic length cut in half",
            V311,
            &[
                0x30, 0x01, // PUBLISH, QoS 0; remaining length 1
                0x00, // first byte of the topic length
            ],
            Truncated,
        ),
        case(
            "PUBLISH QoS 1 packet id cut in half",
            V311,
            &[
                0x32, 0x04, // PUBLISH, QoS 1; remaining length 4
                0x00, 0x01, b't', // topic "t"
                0x00, // first byte of the packet id
            ],
            Truncated,
        ),
        case(
            "PUBLISH without its property length (v5)",
            V5,
            &[
                0x30, 0x03, // PUBLISH, QoS 0; remaining length 3
                0x00, 0x01, b't', // topic "t", then no property length
            ],
            Truncated,
        ),
        case(
            "property length past the end",
            V5,
            &[
                0x30, 0x04, // PUBLISH, QoS 0; remaining length 4
                0x00, 0x01, b't', // topic "t"
                0x05, // property length 5, nothing left
            ],
            Truncated,
        ),
        case(
            "property value past the end of the block",
            V5,
            &[
                0x30, 0x07, // PUBLISH, QoS 0; remaining length 7
                0x00, 0x01, b't', // topic "t"
                0x02, // property length 2
                0x02, 0x00, // message expiry interval: 1 of 4 bytes in the block
                0x00, // payload (not part of the block)
            ],
            Truncated,
        ),
        case(
            "user property without its value",
            V5,
            &[
                0x30, 0x08, // PUBLISH, QoS 0; remaining length 8
                0x00, 0x01, b't', // topic "t"
                0x04, // property length 4
                0x26, 0x00, 0x01, b'k', // user property: key "k", no value
            ],
            Truncated,
        ),
        case(
            "CONNECT without a client id",
            V311,
            &[
                0x10, 0x0A, // CONNECT, remaining length 10
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0x02, // connect flags: clean session
                0x00, 0x3C, // keep alive 60 s, then nothing
            ],
            Truncated,
        ),
        case(
            "CONNECT will flag without will payload",
            V311,
            &[
                0x10, 0x11, // CONNECT, remaining length 17
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0x06, // connect flags: will, clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
                0x00, 0x01, b't', // will topic "t", then no payload
            ],
            Truncated,
        ),
        case(
            "CONNECT password flag without password",
            V311,
            &[
                0x10, 0x11, // CONNECT, remaining length 17
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0xC2, // connect flags: user name, password, clean session
                0x00, 0x3C, // keep alive 60 s
                0x00, 0x02, b'c', b'1', // client id "c1"
                0x00, 0x01, b'u', // user name "u", then no password
            ],
            Truncated,
        ),
        case(
            "CONNECT protocol name past the end",
            V311,
            &[
                0x10, 0x04, // CONNECT, remaining length 4
                0x00, 0x04, b'M', b'Q', // protocol name: length 4, 2 bytes left
            ],
            Truncated,
        ),
        case(
            "SUBSCRIBE filter without its options byte",
            V311,
            &[
                0x82, 0x05, // SUBSCRIBE, remaining length 5
                0x00, 0x01, // packet id 1
                0x00, 0x01, b'a', // filter "a", then no options
            ],
            Truncated,
        ),
        case(
            "SUBACK property length past the end",
            V5,
            &[
                0x90, 0x03, // SUBACK, remaining length 3
                0x00, 0x01, // packet id 1
                0x04, // property length 4, nothing left
            ],
            Truncated,
        ),
        case(
            "PUBACK packet id cut in half",
            V5,
            &[
                0x40, 0x01, // PUBACK, remaining length 1
                0x00, // first byte of the packet id
            ],
            Truncated,
        ),
        case(
            "empty CONNACK",
            V311,
            &[
                0x20, 0x00, // CONNACK, remaining length 0
            ],
            Truncated,
        ),
    ]
}

fn all_cases() -> Vec<Case> {
    [
        fixed_header(),
        remaining_length(),
        flags_and_ids(),
        strings(),
        topic_names(),
        subscriptions(),
        properties(),
        connect_and_reasons(),
        lengths(),
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
