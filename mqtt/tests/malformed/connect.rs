//! Malformed CONNECT variable headers (protocol name and level, connect
//! flags), CONNACK's flags, and reason codes a packet may not carry.

use mqtt::DecodeError::*;
use mqtt::Protocol::{V31, V311, V5};

use super::{case, protocol, Case};

/// CONNECT's variable header, CONNACK's flags and the reason codes.
pub(super) fn connect_and_reasons() -> Vec<Case> {
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
            // 0x83 and 0x84 are Mosquitto's bridges (try_private); v5 has no such bit.
            "protocol level 0x85 (bridge bit on level 5)",
            V311,
            &[
                0x10, 0x0F, // CONNECT, remaining length 15
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x85, // protocol level 0x85
                0x02, // connect flags: clean start
                0x00, 0x3C, // keep alive 60 s
                0x00, // property length 0
                0x00, 0x02, b'c', b'1', // client id "c1"
            ],
            protocol("MQTT", 0x85),
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
