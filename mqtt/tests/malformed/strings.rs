//! Malformed UTF-8 string fields, and topic names in PUBLISH and the will.

use mqtt::DecodeError::*;
use mqtt::Protocol::{V31, V311, V5};

use super::{case, Case};

/// UTF-8 string fields.
pub(super) fn strings() -> Vec<Case> {
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
pub(super) fn topic_names() -> Vec<Case> {
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
