//! Malformed v5 properties: duplicates, properties in the wrong packet,
//! unknown identifiers, values out of range, non-minimal lengths.

use mqtt::DecodeError::*;
use mqtt::PacketType;
use mqtt::Protocol::V5;

use super::{case, not_allowed, Case};

/// v5 properties.
pub(super) fn properties() -> Vec<Case> {
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
