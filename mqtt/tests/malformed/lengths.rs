//! Bytes after a packet's content, and fields that run past the end of the
//! packet.

use mqtt::DecodeError::*;
use mqtt::Protocol::{V311, V5};

use super::{case, Case};

/// Bytes after the content, and fields that run past the end of the packet.
pub(super) fn lengths() -> Vec<Case> {
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
