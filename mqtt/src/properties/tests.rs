//! The property block: round trips, value ranges, structural errors, the
//! allow table and what `write` refuses.

use bytes::{Bytes, BytesMut};

use super::{decode, len, write, Properties, PropertyId, PropertyOwner};
use crate::error::{DecodeError, EncodeError};
use crate::protocol::PacketType;

fn decode_block(bytes: &'static [u8], owner: PacketType) -> Result<Properties, DecodeError> {
    let mut buf = Bytes::from_static(bytes);
    let props = decode(&mut buf, owner.into())?;
    assert!(buf.is_empty());
    Ok(props)
}

/// Every CONNACK property, in identifier order, round trips.
#[test]
fn connack_block_round_trips() {
    let bytes: &[u8] = &[
        0x3C, // property length 60
        0x11, 0x00, 0x00, 0x00, 0x0A, // session expiry interval 10
        0x12, 0x00, 0x01, b'c', // assigned client identifier "c"
        0x13, 0x00, 0x05, // server keep alive 5
        0x15, 0x00, 0x01, b'm', // authentication method "m"
        0x16, 0x00, 0x01, 0xFF, // authentication data
        0x1A, 0x00, 0x01, b'r', // response information "r"
        0x1C, 0x00, 0x01, b's', // server reference "s"
        0x1F, 0x00, 0x01, b'w', // reason string "w"
        0x21, 0x00, 0x01, // receive maximum 1
        0x22, 0x00, 0x00, // topic alias maximum 0 (no aliases)
        0x24, 0x00, // maximum QoS 0
        0x25, 0x01, // retain available
        0x27, 0x00, 0x00, 0x01, 0x00, // maximum packet size 256
        0x28, 0x00, // wildcard subscriptions not available
        0x29, 0x01, // subscription identifiers available
        0x2A, 0x01, // shared subscriptions available
        0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b', // user property ("a", "b")
    ];
    let props = decode_block(bytes, PacketType::ConnAck).unwrap();
    assert_eq!(props.maximum_packet_size, Some(256));
    assert_eq!(props.topic_alias_maximum, Some(0));
    assert_eq!(props.user_properties, vec![("a".into(), "b".into())]);
    assert_eq!(len(&props), bytes.len());
    let mut out = BytesMut::new();
    write(&props, PacketType::ConnAck.into(), &mut out).unwrap();
    assert_eq!(&out[..], bytes);
}

#[test]
fn user_properties_repeat_in_order() {
    let bytes: &[u8] = &[
        0x0E, // property length 14
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'2', // user property ("k", "2")
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'1', // user property ("k", "1"): same key again
    ];
    let props = decode_block(bytes, PacketType::PubAck).unwrap();
    assert_eq!(
        props.user_properties,
        vec![("k".into(), "2".into()), ("k".into(), "1".into())]
    );
}

#[test]
fn value_ranges() {
    use DecodeError::InvalidPropertyValue as Invalid;
    let connect = PacketType::Connect;
    let cases: &[(&'static [u8], PacketType, DecodeError)] = &[
        (&[0x03, 0x21, 0x00, 0x00], connect, Invalid(0x21)), // receive maximum 0
        (&[0x05, 0x27, 0, 0, 0, 0], connect, Invalid(0x27)), // maximum packet size 0
        (&[0x02, 0x17, 0x02], connect, Invalid(0x17)),       // request problem information 2
        (&[0x02, 0x19, 0x05], connect, Invalid(0x19)),       // request response information 5
        (&[0x02, 0x25, 0x02], PacketType::ConnAck, Invalid(0x25)), // retain available 2
        (&[0x02, 0x0B, 0x00], PacketType::Subscribe, Invalid(0x0B)), // subscription id 0
        (
            &[0x03, 0x23, 0x00, 0x00],
            PacketType::Publish,
            Invalid(0x23),
        ), // topic alias 0
        (
            &[0x04, 0x08, 0x00, 0x01, b'#'],
            PacketType::Publish,
            Invalid(0x08),
        ), // response topic "#"
    ];
    for (bytes, owner, expected) in cases {
        assert_eq!(
            decode_block(bytes, *owner).as_ref(),
            Err(expected),
            "{bytes:x?}"
        );
    }
}

#[test]
fn structural_errors() {
    use DecodeError::*;
    let publish = PacketType::Publish;
    let cases: &[(&'static [u8], PacketType, DecodeError)] = &[
        (&[0x02, 0x00, 0x00], publish, UnknownProperty(0x00)),
        (&[0x02, 0x2B, 0x00], publish, UnknownProperty(0x2B)),
        (&[0x04, 0x23, 0x00, 0x01, 0x23], publish, Truncated), // value cut short
        (
            &[0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02],
            publish,
            DuplicateProperty(0x23),
        ),
        (&[0x05], publish, Truncated), // block longer than the packet
        (&[0x80, 0x00], publish, MalformedVariableByteInteger),
        (
            &[0x03, 0x13, 0x00, 0x01],
            publish,
            PropertyNotAllowed {
                property: 0x13,
                packet: publish,
            },
        ),
    ];
    for (bytes, owner, expected) in cases {
        assert_eq!(
            decode_block(bytes, *owner).as_ref(),
            Err(expected),
            "{bytes:x?}"
        );
    }
}

#[test]
fn will_properties() {
    let mut buf = Bytes::from_static(&[
        0x0A, // property length 10
        0x18, 0x00, 0x00, 0x00, 0x3C, // will delay interval 60
        0x02, 0x00, 0x00, 0x00, 0x10, // message expiry interval 16
    ]);
    let props = decode(&mut buf, PropertyOwner::Will).unwrap();
    assert_eq!(props.will_delay_interval, Some(60));
    assert_eq!(props.message_expiry_interval, Some(16));
    let mut not_in_will = Bytes::from_static(&[0x03, 0x23, 0x00, 0x01]);
    assert_eq!(
        decode(&mut not_in_will, PropertyOwner::Will),
        Err(DecodeError::PropertyNotAllowed {
            property: 0x23,
            packet: PacketType::Connect
        })
    );
}

#[test]
fn is_empty_sees_every_field() {
    assert!(Properties::default().is_empty());
    let setters: &[fn(&mut Properties)] = &[
        |p| p.payload_format_indicator = Some(0),
        |p| p.message_expiry_interval = Some(0),
        |p| p.content_type = Some("x".into()),
        |p| p.response_topic = Some("x".into()),
        |p| p.correlation_data = Some(Bytes::new()),
        |p| p.subscription_identifiers = vec![1],
        |p| p.session_expiry_interval = Some(0),
        |p| p.assigned_client_identifier = Some("x".into()),
        |p| p.server_keep_alive = Some(0),
        |p| p.authentication_method = Some("x".into()),
        |p| p.authentication_data = Some(Bytes::new()),
        |p| p.request_problem_information = Some(0),
        |p| p.will_delay_interval = Some(0),
        |p| p.request_response_information = Some(0),
        |p| p.response_information = Some("x".into()),
        |p| p.server_reference = Some("x".into()),
        |p| p.reason_string = Some("x".into()),
        |p| p.receive_maximum = Some(0),
        |p| p.topic_alias_maximum = Some(0),
        |p| p.topic_alias = Some(0),
        |p| p.maximum_qos = Some(0),
        |p| p.retain_available = Some(0),
        |p| p.user_properties = vec![("k".into(), "v".into())],
        |p| p.maximum_packet_size = Some(0),
        |p| p.wildcard_subscription_available = Some(0),
        |p| p.subscription_identifier_available = Some(0),
        |p| p.shared_subscription_available = Some(0),
    ];
    for (i, set) in setters.iter().enumerate() {
        let mut props = Properties::default();
        set(&mut props);
        assert!(!props.is_empty(), "field {i}");
    }
}

#[test]
fn allowed_in_table() {
    use PacketType as P;
    assert!(PropertyId::UserProperty.allowed_in(P::Auth));
    assert!(!PropertyId::UserProperty.allowed_in(P::PingReq));
    assert!(PropertyId::WillDelayInterval.allowed_in(PropertyOwner::Will));
    assert!(!PropertyId::WillDelayInterval.allowed_in(P::Connect));
    assert!(PropertyId::SubscriptionIdentifier.allowed_in(P::Subscribe));
    assert!(!PropertyId::SubscriptionIdentifier.allowed_in(P::Unsubscribe));
    assert!(!PropertyId::TopicAlias.allowed_in(PropertyOwner::Will));
    for byte in 0..=u8::MAX {
        if let Some(id) = PropertyId::from_u8(byte) {
            assert_eq!(id as u8, byte);
        }
    }
}

#[test]
fn write_refuses_bad_properties() {
    let mut out = BytesMut::new();
    let not_allowed = Properties {
        topic_alias: Some(1),
        ..Properties::default()
    };
    assert_eq!(
        write(&not_allowed, PacketType::Connect.into(), &mut out),
        Err(EncodeError::PropertyNotAllowed {
            property: 0x23,
            packet: PacketType::Connect
        })
    );
    let zero = Properties {
        receive_maximum: Some(0),
        ..Properties::default()
    };
    assert!(write(&zero, PacketType::Connect.into(), &mut out).is_err());
    let two_ids = Properties {
        subscription_identifiers: vec![1, 2],
        ..Properties::default()
    };
    assert!(write(&two_ids, PacketType::Subscribe.into(), &mut out).is_err());
    assert!(write(&two_ids, PacketType::Publish.into(), &mut out).is_ok());
}
