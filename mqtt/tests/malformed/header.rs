//! Malformed fixed headers: the packet type and its flags nibble, the
//! remaining length and the maximum packet size, PUBLISH's flags and the
//! packet identifiers.

use mqtt::DecodeError::*;
use mqtt::PacketType;
use mqtt::Protocol::{V31, V311, V5};

use super::{case, flags, Case};

/// Fixed header: packet type and the flags nibble.
pub(super) fn fixed_header() -> Vec<Case> {
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
pub(super) fn remaining_length() -> Vec<Case> {
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
pub(super) fn flags_and_ids() -> Vec<Case> {
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
