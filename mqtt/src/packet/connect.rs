//! CONNECT (spec §3.1): protocol name and level, connect flags, keep alive,
//! properties (v5), then client id, will, user name and password. A 3.1 or
//! 3.1.1 level with its high bit set (0x83, 0x84: Mosquitto's `try_private`)
//! is a bridge connecting, [`Connect::bridge`].

use bytes::{BufMut, Bytes, BytesMut};

use super::{check_topic_name, properties_len, read_properties, write_properties};
use crate::error::{DecodeError, EncodeError};
use crate::properties::PropertyOwner;
use crate::topic;
use crate::types::{Connect, LastWill, PacketType, Protocol, QoS};
use crate::wire;

const CLEAN_START: u8 = 0x02;
const WILL: u8 = 0x04;
const WILL_QOS_SHIFT: u8 = 3;
const WILL_RETAIN: u8 = 0x20;
const PASSWORD: u8 = 0x40;
const USERNAME: u8 = 0x80;
/// Bit 0 of the connect flags is reserved and must be 0 (MQTT-3.1.2-3).
const RESERVED: u8 = 0x01;
/// The high bit of the protocol level: Mosquitto's `try_private`, set by its
/// bridges on 3.1 (0x83) and 3.1.1 (0x84). MQTT 5 has no such bit (0x85 is
/// refused: Mosquitto never sends it, v5 bridges ask for no-local instead).
const BRIDGE: u8 = 0x80;

pub(super) fn decode(mut buf: Bytes) -> Result<Connect, DecodeError> {
    let name = wire::read_string(&mut buf)?;
    let level = wire::read_u8(&mut buf)?;
    let bridge = level & BRIDGE != 0;
    let protocol = match (&*name, level & !BRIDGE, bridge) {
        ("MQIsdp", 3, _) => Protocol::V31,
        ("MQTT", 4, _) => Protocol::V311,
        ("MQTT", 5, false) => Protocol::V5,
        _ => {
            return Err(DecodeError::InvalidProtocol {
                name: name.to_string(),
                level,
            })
        }
    };

    let flags = wire::read_u8(&mut buf)?;
    let has_will = flags & WILL != 0;
    let will_qos = (flags >> WILL_QOS_SHIFT) & 0x03;
    let will_retain = flags & WILL_RETAIN != 0;
    let has_password = flags & PASSWORD != 0;
    let has_username = flags & USERNAME != 0;
    if flags & RESERVED != 0
        // Will QoS and retain only mean something with a will (MQTT-3.1.2-11, -13).
        || (!has_will && (will_qos != 0 || will_retain))
        // In 3.1.1 a password needs a user name (MQTT-3.1.2-22); 5.0 dropped
        // the rule and 3.1 brokers (mosquitto) never enforced it.
        || (has_password && !has_username && protocol == Protocol::V311)
    {
        return Err(DecodeError::InvalidConnectFlags);
    }
    let will_qos = QoS::from_u8(will_qos).ok_or(DecodeError::InvalidQoS)?;

    let keep_alive = wire::read_u16(&mut buf)?;
    let properties = read_properties(&mut buf, protocol, PacketType::Connect)?;
    let client_id = wire::read_string(&mut buf)?;
    let will = if has_will {
        let properties = read_properties(&mut buf, protocol, PropertyOwner::Will)?;
        let topic = wire::read_string(&mut buf)?;
        check_topic_name(&topic)?;
        let payload = wire::read_binary(&mut buf)?;
        Some(LastWill {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = has_username
        .then(|| wire::read_string(&mut buf))
        .transpose()?;
    let password = has_password
        .then(|| wire::read_binary(&mut buf))
        .transpose()?;
    wire::finish(&buf)?;

    Ok(Connect {
        protocol,
        bridge,
        clean_start: flags & CLEAN_START != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

pub(super) fn len(connect: &Connect) -> usize {
    let protocol = connect.protocol;
    let mut len = wire::field_len(protocol.name().as_bytes()) // protocol name
        + 1 // level
        + 1 // flags
        + 2 // keep alive
        + properties_len(&connect.properties, protocol)
        + wire::field_len(connect.client_id.as_bytes());
    if let Some(will) = &connect.will {
        len += properties_len(&will.properties, protocol)
            + wire::field_len(will.topic.as_bytes())
            + wire::field_len(&will.payload);
    }
    if let Some(username) = &connect.username {
        len += wire::field_len(username.as_bytes());
    }
    if let Some(password) = &connect.password {
        len += wire::field_len(password);
    }
    len
}

pub(super) fn write(connect: &Connect, out: &mut BytesMut) -> Result<(), EncodeError> {
    let protocol = connect.protocol;
    if connect.password.is_some() && connect.username.is_none() && protocol == Protocol::V311 {
        return Err(EncodeError::InvalidValue(
            "a password needs a user name in MQTT 3.1.1",
        ));
    }
    let mut flags = 0;
    if connect.clean_start {
        flags |= CLEAN_START;
    }
    if let Some(will) = &connect.will {
        flags |= WILL | (will.qos as u8) << WILL_QOS_SHIFT;
        if will.retain {
            flags |= WILL_RETAIN;
        }
    }
    if connect.password.is_some() {
        flags |= PASSWORD;
    }
    if connect.username.is_some() {
        flags |= USERNAME;
    }

    wire::write_string(protocol.name(), out)?;
    let bridge = connect.bridge && !protocol.is_v5();
    out.put_u8(protocol.level() | if bridge { BRIDGE } else { 0 });
    out.put_u8(flags);
    out.put_u16(connect.keep_alive);
    write_properties(&connect.properties, protocol, PacketType::Connect, out)?;
    wire::write_string(&connect.client_id, out)?;
    if let Some(will) = &connect.will {
        topic::validate_topic_name(&will.topic)?;
        write_properties(&will.properties, protocol, PropertyOwner::Will, out)?;
        wire::write_string(&will.topic, out)?;
        wire::write_field(&will.payload, out)?;
    }
    if let Some(username) = &connect.username {
        wire::write_string(username, out)?;
    }
    if let Some(password) = &connect.password {
        wire::write_field(password, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{assert_codec, decode_err, encode_vec};
    use crate::properties::Properties;
    use crate::types::Packet;

    /// A CONNECT with the given protocol and nothing optional, for tests.
    fn minimal(protocol: Protocol, client_id: &str) -> Connect {
        Connect {
            protocol,
            bridge: false,
            clean_start: true,
            keep_alive: 60,
            client_id: client_id.into(),
            will: None,
            username: None,
            password: None,
            properties: Properties::default(),
        }
    }

    #[test]
    fn v311_with_will_username_password() {
        let bytes = &[
            0x10, 0x25, // fixed header: CONNECT, remaining length 37
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4
            0xEE, // flags: username, password, will retain, will QoS 1, will, clean session
            0x00, 0x0A, // keep alive 10 s
            0x00, 0x02, b'c', b'1', // client id "c1"
            0x00, 0x03, b'a', b'/', b'w', // will topic "a/w"
            0x00, 0x04, b'g', b'o', b'n', b'e', // will payload "gone"
            0x00, 0x04, b'u', b's', b'e', b'r', // user name "user"
            0x00, 0x04, b'p', b'a', b's', b's', // password "pass"
        ];
        let connect = Connect {
            keep_alive: 10,
            will: Some(LastWill {
                topic: "a/w".into(),
                payload: Bytes::from_static(b"gone"),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: Properties::default(),
            }),
            username: Some("user".into()),
            password: Some(Bytes::from_static(b"pass")),
            ..minimal(Protocol::V311, "c1")
        };
        assert_codec(bytes, Protocol::V311, Packet::Connect(Box::new(connect)));
    }

    #[test]
    fn v31_mqisdp() {
        let bytes = &[
            0x10, 0x10, // fixed header: CONNECT, remaining length 16
            0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // protocol name "MQIsdp"
            0x03, // protocol level 3
            0x02, // flags: clean session
            0x00, 0x3C, // keep alive 60 s
            0x00, 0x02, b'c', b'1', // client id "c1"
        ];
        // The connection's protocol does not matter: CONNECT carries its own.
        let packet = Packet::Connect(Box::new(minimal(Protocol::V31, "c1")));
        assert_codec(bytes, Protocol::V5, packet);
    }

    #[test]
    fn v5_with_properties_and_will_properties() {
        let bytes = &[
            0x10, 0x21, // fixed header: CONNECT, remaining length 33
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x05, // protocol level 5
            0x46, // flags: password (no user name: allowed in v5), will, clean start
            0x00, 0x3C, // keep alive 60 s
            0x05, // property length 5
            0x11, 0x00, 0x00, 0x0E, 0x10, // session expiry interval 3600 s
            0x00, 0x00, // client id "" (server assigns one)
            0x05, // will property length 5
            0x18, 0x00, 0x00, 0x00, 0x05, // will delay interval 5 s
            0x00, 0x01, b't', // will topic "t"
            0x00, 0x00, // will payload (empty)
            0x00, 0x02, 0xDE, 0xAD, // password: binary data
        ];
        let connect = Connect {
            will: Some(LastWill {
                topic: "t".into(),
                payload: Bytes::new(),
                qos: QoS::AtMostOnce,
                retain: false,
                properties: Properties {
                    will_delay_interval: Some(5),
                    ..Properties::default()
                },
            }),
            password: Some(Bytes::from_static(&[0xDE, 0xAD])),
            properties: Properties {
                session_expiry_interval: Some(3600),
                ..Properties::default()
            },
            ..minimal(Protocol::V5, "")
        };
        assert_codec(bytes, Protocol::V5, Packet::Connect(Box::new(connect)));
    }

    #[test]
    fn v311_bridge_try_private() {
        let bytes = &[
            0x10, 0x0E, // fixed header: CONNECT, remaining length 14
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x84, // protocol level 4 with 0x80: try_private, a Mosquitto bridge
            0x02, // flags: clean session
            0x00, 0x3C, // keep alive 60 s
            0x00, 0x02, b'c', b'1', // client id "c1"
        ];
        let connect = Connect {
            bridge: true,
            ..minimal(Protocol::V311, "c1")
        };
        assert_codec(bytes, Protocol::V311, Packet::Connect(Box::new(connect)));
    }

    #[test]
    fn v31_bridge_try_private() {
        let bytes = &[
            0x10, 0x10, // fixed header: CONNECT, remaining length 16
            0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // protocol name "MQIsdp"
            0x83, // protocol level 3 with 0x80: try_private, a Mosquitto bridge
            0x00, // flags: none (a persistent session, Mosquitto's bridge default)
            0x00, 0x3C, // keep alive 60 s
            0x00, 0x02, b'c', b'1', // client id "c1"
        ];
        let connect = Connect {
            bridge: true,
            clean_start: false,
            ..minimal(Protocol::V31, "c1")
        };
        assert_codec(bytes, Protocol::V311, Packet::Connect(Box::new(connect)));
    }

    #[test]
    fn v5_has_no_bridge_bit() {
        // Encoding: `bridge` is ignored for v5, the level stays 5.
        let connect = Connect {
            bridge: true,
            ..minimal(Protocol::V5, "c1")
        };
        let bytes = encode_vec(&Packet::Connect(Box::new(connect)), Protocol::V5);
        assert_eq!(
            bytes,
            [
                0x10, 0x0F, // fixed header: CONNECT, remaining length 15
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x05, // protocol level 5, no 0x80
                0x02, // flags: clean start
                0x00, 0x3C, // keep alive 60 s
                0x00, // property length 0
                0x00, 0x02, b'c', b'1', // client id "c1"
            ]
        );
        // Decoding: 0x85 is no protocol level (Mosquitto's bridges never send it).
        let mut level_0x85 = bytes;
        level_0x85[8] = 0x85;
        let err = decode_err(&level_0x85, Protocol::V5).unwrap_err();
        assert_eq!(
            err,
            DecodeError::InvalidProtocol {
                name: "MQTT".into(),
                level: 0x85
            }
        );
        assert_eq!(
            err.reason_code(),
            crate::ReasonCode::UnsupportedProtocolVersion
        );
        // Nor is the bit a way to smuggle a name and level that do not match.
        let mut mqtt_0x83 = with_flags(0x02);
        mqtt_0x83[8] = 0x83; // "MQTT" with 3.1's level
        assert!(matches!(
            decode_err(&mqtt_0x83, Protocol::V311),
            Err(DecodeError::InvalidProtocol { level: 0x83, .. })
        ));
    }

    /// A v3.1.1 CONNECT of "c1" with the given flags byte.
    fn with_flags(flags: u8) -> Vec<u8> {
        vec![
            0x10, 0x0E, // fixed header: CONNECT, remaining length 14
            0x00, 0x04, b'M', b'Q', b'T', b'T',  // protocol name "MQTT"
            0x04,  // protocol level 4
            flags, // connect flags
            0x00, 0x3C, // keep alive 60 s
            0x00, 0x02, b'c', b'1', // client id "c1"
        ]
    }

    #[test]
    fn invalid_flags() {
        let err = Err(DecodeError::InvalidConnectFlags);
        assert_eq!(decode_err(&with_flags(0x03), Protocol::V311), err); // reserved bit
        assert_eq!(decode_err(&with_flags(0x0A), Protocol::V311), err); // will QoS, no will
        assert_eq!(decode_err(&with_flags(0x22), Protocol::V311), err); // will retain, no will
        assert_eq!(decode_err(&with_flags(0x42), Protocol::V311), err); // password, no user
        let qos3 = 0x1E; // will, will QoS 3, clean session
        let bytes = with_flags(qos3);
        assert_eq!(
            decode_err(&bytes, Protocol::V311),
            Err(DecodeError::InvalidQoS)
        );
    }

    #[test]
    fn unsupported_protocols() {
        let mut level6 = with_flags(0x02);
        level6[8] = 6;
        let err = decode_err(&level6, Protocol::V311).unwrap_err();
        assert_eq!(
            err,
            DecodeError::InvalidProtocol {
                name: "MQTT".into(),
                level: 6
            }
        );
        assert_eq!(
            err.reason_code(),
            crate::ReasonCode::UnsupportedProtocolVersion
        );
        let mut wrong_name = with_flags(0x02);
        wrong_name[4] = b'X';
        assert!(matches!(
            decode_err(&wrong_name, Protocol::V311),
            Err(DecodeError::InvalidProtocol { level: 4, .. })
        ));
    }

    #[test]
    fn will_topic_with_wildcard() {
        let bytes = &[
            0x10, 0x13, // fixed header: CONNECT, remaining length 19
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4
            0x06, // flags: will, clean session
            0x00, 0x3C, // keep alive 60 s
            0x00, 0x02, b'c', b'1', // client id "c1"
            0x00, 0x01, b'#', // will topic "#": a wildcard
            0x00, 0x00, // will payload (empty)
        ];
        let err = decode_err(bytes, Protocol::V311).unwrap_err();
        assert_eq!(err, DecodeError::WildcardInTopicName);
        assert_eq!(err.reason_code(), crate::ReasonCode::TopicNameInvalid);
    }

    #[test]
    fn trailing_bytes() {
        let mut bytes = with_flags(0x02);
        bytes[1] += 1;
        bytes.push(0x00);
        assert_eq!(
            decode_err(&bytes, Protocol::V311),
            Err(DecodeError::TrailingBytes)
        );
    }

    #[test]
    fn will_property_not_allowed_in_connect() {
        let bytes = &[
            0x10, 0x12, // fixed header: CONNECT, remaining length 18
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x05, // protocol level 5
            0x02, // flags: clean start
            0x00, 0x3C, // keep alive 60 s
            0x05, // property length 5
            0x18, 0x00, 0x00, 0x00, 0x05, // will delay interval: will-only
            0x00, 0x00, // client id ""
        ];
        let err = decode_err(bytes, Protocol::V5).unwrap_err();
        assert_eq!(
            err,
            DecodeError::PropertyNotAllowed {
                property: 0x18,
                packet: PacketType::Connect
            }
        );
        // §2.2.2.2: a property not valid for the packet is a Malformed Packet.
        assert_eq!(err.reason_code(), crate::ReasonCode::MalformedPacket);
    }

    #[test]
    fn encode_refuses_password_without_user_in_v311() {
        let connect = Connect {
            password: Some(Bytes::from_static(b"x")),
            ..minimal(Protocol::V311, "c")
        };
        let mut out = BytesMut::new();
        let packet = Packet::Connect(Box::new(connect));
        assert!(crate::encode(&packet, Protocol::V311, &mut out).is_err());
        assert!(out.is_empty());
    }
}
