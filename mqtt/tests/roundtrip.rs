//! Property tests over the public API: every valid packet survives
//! encode → decode at every protocol level, `encoded_len` is exact, any
//! prefix of a packet asks for more bytes, and arbitrary input never panics.

use std::num::NonZeroU16;

use mqtt::bytes::{Bytes, BytesMut};
use mqtt::properties::{PropertyId, PropertyOwner};
use mqtt::*;
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

const PROTOCOLS: [Protocol; 3] = [Protocol::V31, Protocol::V311, Protocol::V5];

fn text() -> impl Strategy<Value = ByteString> {
    "[a-zA-Z0-9 é€/]{0,6}".prop_map(ByteString::from)
}

fn topic_name() -> impl Strategy<Value = ByteString> {
    "[a-z0-9é$]{1,4}(/[a-z0-9é]{0,4}){0,3}".prop_map(ByteString::from)
}

fn topic_filter() -> impl Strategy<Value = ByteString> {
    let level = prop_oneof![Just("+".to_string()), "[a-z0-9é]{0,4}"];
    (any::<bool>(), vec(level, 1..4), any::<bool>()).prop_map(|(shared, levels, hash)| {
        let mut filter = levels.join("/");
        if filter.is_empty() {
            filter.push('e'); // a lone empty level is an empty filter
        }
        if hash {
            filter.push_str("/#");
        }
        if shared {
            filter = format!("$share/grp/{filter}");
        }
        ByteString::from(filter)
    })
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn pid() -> impl Strategy<Value = Pid> {
    (1..=u16::MAX).prop_map(|v| NonZeroU16::new(v).unwrap())
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn flag() -> impl Strategy<Value = Option<u8>> {
    of(0..=1u8)
}

fn nonzero_u16() -> impl Strategy<Value = Option<u16>> {
    of(1..=u16::MAX)
}

/// Any properties, values in range; `restrict` then keeps the allowed ones.
fn properties() -> impl Strategy<Value = Properties> {
    let a = (
        flag(),
        of(any::<u32>()),
        of(text()),
        of(topic_name()),
        of(bytes(4)),
        vec(1..=268_435_455u32, 0..3),
        of(any::<u32>()),
        of(text()),
        of(any::<u16>()),
    );
    let b = (
        of(text()),
        of(bytes(4)),
        flag(),
        of(any::<u32>()),
        flag(),
        of(text()),
        of(text()),
        of(text()),
        nonzero_u16(),
    );
    let c = (
        of(any::<u16>()),
        nonzero_u16(),
        flag(),
        flag(),
        vec((text(), text()), 0..3),
        of(1..=u32::MAX),
        flag(),
        flag(),
        flag(),
    );
    (a, b, c).prop_map(|(a, b, c)| Properties {
        payload_format_indicator: a.0,
        message_expiry_interval: a.1,
        content_type: a.2,
        response_topic: a.3,
        correlation_data: a.4,
        subscription_identifiers: a.5,
        session_expiry_interval: a.6,
        assigned_client_identifier: a.7,
        server_keep_alive: a.8,
        authentication_method: b.0,
        authentication_data: b.1,
        request_problem_information: b.2,
        will_delay_interval: b.3,
        request_response_information: b.4,
        response_information: b.5,
        server_reference: b.6,
        reason_string: b.7,
        receive_maximum: b.8,
        topic_alias_maximum: c.0,
        topic_alias: c.1,
        maximum_qos: c.2,
        retain_available: c.3,
        user_properties: c.4,
        maximum_packet_size: c.5,
        wildcard_subscription_available: c.6,
        subscription_identifier_available: c.7,
        shared_subscription_available: c.8,
    })
}

/// Clears every property `owner` may not carry.
fn restrict(mut p: Properties, owner: impl Into<PropertyOwner>) -> Properties {
    use PropertyId as Id;
    let owner = owner.into();
    let ok = |id: Id| id.allowed_in(owner);
    macro_rules! keep {
        ($($field:ident: $id:ident),* $(,)?) => {
            $(if !ok(Id::$id) { p.$field = Default::default(); })*
        };
    }
    keep!(
        payload_format_indicator: PayloadFormatIndicator,
        message_expiry_interval: MessageExpiryInterval,
        content_type: ContentType,
        response_topic: ResponseTopic,
        correlation_data: CorrelationData,
        subscription_identifiers: SubscriptionIdentifier,
        session_expiry_interval: SessionExpiryInterval,
        assigned_client_identifier: AssignedClientIdentifier,
        server_keep_alive: ServerKeepAlive,
        authentication_method: AuthenticationMethod,
        authentication_data: AuthenticationData,
        request_problem_information: RequestProblemInformation,
        will_delay_interval: WillDelayInterval,
        request_response_information: RequestResponseInformation,
        response_information: ResponseInformation,
        server_reference: ServerReference,
        reason_string: ReasonString,
        receive_maximum: ReceiveMaximum,
        topic_alias_maximum: TopicAliasMaximum,
        topic_alias: TopicAlias,
        maximum_qos: MaximumQoS,
        retain_available: RetainAvailable,
        user_properties: UserProperty,
        maximum_packet_size: MaximumPacketSize,
        wildcard_subscription_available: WildcardSubscriptionAvailable,
        subscription_identifier_available: SubscriptionIdentifierAvailable,
        shared_subscription_available: SharedSubscriptionAvailable,
    );
    if owner != PropertyOwner::Packet(PacketType::Publish) {
        p.subscription_identifiers.truncate(1);
    }
    p
}

fn props_for(packet: PacketType) -> impl Strategy<Value = Properties> {
    properties().prop_map(move |p| restrict(p, packet))
}

fn reason(codes: &'static [ReasonCode]) -> impl Strategy<Value = ReasonCode> {
    proptest::sample::select(codes)
}

fn connect() -> impl Strategy<Value = Packet> {
    let will = (topic_name(), bytes(8), qos(), any::<bool>(), properties()).prop_map(
        |(topic, payload, qos, retain, props)| LastWill {
            topic,
            payload,
            qos,
            retain,
            properties: restrict(props, PropertyOwner::Will),
        },
    );
    (
        proptest::sample::select(&PROTOCOLS[..]),
        any::<bool>(),
        any::<bool>(),
        any::<u16>(),
        text(),
        of(will),
        of(text()),
        of(bytes(6)),
        props_for(PacketType::Connect),
    )
        .prop_map(
            |(
                protocol,
                bridge,
                clean_start,
                keep_alive,
                client_id,
                will,
                username,
                password,
                properties,
            )| {
                // In 3.1.1 a password needs a user name.
                let username = match (&password, username) {
                    (Some(_), None) if protocol == Protocol::V311 => Some("u".into()),
                    (_, username) => username,
                };
                Packet::Connect(Box::new(Connect {
                    protocol,
                    // try_private (level | 0x80) exists before v5 only.
                    bridge: bridge && !protocol.is_v5(),
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                }))
            },
        )
}

fn ack(packet: PacketType, codes: &'static [ReasonCode]) -> impl Strategy<Value = Ack> {
    (pid(), reason(codes), props_for(packet)).prop_map(|(pid, reason, properties)| Ack {
        pid,
        reason,
        properties,
    })
}

use ReasonCode as R;
const PUBACK: &[R] = &[
    R::Success,
    R::NoMatchingSubscribers,
    R::NotAuthorized,
    R::QuotaExceeded,
];
const PUBREL: &[R] = &[R::Success, R::PacketIdentifierNotFound];
const SUBACK: &[R] = &[
    R::Success,
    R::GrantedQoS1,
    R::GrantedQoS2,
    R::UnspecifiedError,
    R::TopicFilterInvalid,
];
const UNSUBACK: &[R] = &[R::Success, R::NoSubscriptionExisted, R::NotAuthorized];
const CONNACK: &[R] = &[
    R::Success,
    R::NotAuthorized,
    R::BadUserNameOrPassword,
    R::ServerUnavailable,
];
const DISCONNECT: &[R] = &[
    R::Success,
    R::DisconnectWithWillMessage,
    R::ServerShuttingDown,
    R::SessionTakenOver,
];
const AUTH: &[R] = &[R::Success, R::ContinueAuthentication, R::ReAuthenticate];

fn packet() -> impl Strategy<Value = Packet> {
    let publish = (
        any::<bool>(),
        qos(),
        any::<bool>(),
        topic_name(),
        pid(),
        props_for(PacketType::Publish),
        bytes(32),
    )
        .prop_map(|(dup, qos, retain, topic, pid, properties, payload)| {
            let qos0 = qos == QoS::AtMostOnce;
            Packet::Publish(Publish {
                dup: dup && !qos0,
                qos,
                retain,
                topic,
                pid: (!qos0).then_some(pid),
                properties,
                payload,
            })
        });
    let options =
        (qos(), any::<bool>(), any::<bool>(), 0..3u8).prop_map(|(qos, no_local, rap, rh)| {
            SubscriptionOptions {
                qos,
                no_local,
                retain_as_published: rap,
                retain_handling: [
                    RetainHandling::SendAtSubscribe,
                    RetainHandling::SendIfNew,
                    RetainHandling::DoNotSend,
                ][rh as usize],
            }
        });
    let subscribe = (
        pid(),
        props_for(PacketType::Subscribe),
        vec((topic_filter(), options), 1..4),
    )
        .prop_map(|(pid, properties, filters)| {
            let filters = filters
                .into_iter()
                .map(|(filter, mut options)| {
                    options.no_local &= !filter.starts_with("$share/");
                    SubscribeFilter { filter, options }
                })
                .collect();
            Packet::Subscribe(Subscribe {
                pid,
                properties,
                filters,
            })
        });
    prop_oneof![
        connect(),
        (
            any::<bool>(),
            reason(CONNACK),
            props_for(PacketType::ConnAck)
        )
            .prop_map(|(sp, code, properties)| {
                Packet::ConnAck(ConnAck {
                    session_present: sp && code == R::Success,
                    code,
                    properties,
                })
            }),
        publish,
        ack(PacketType::PubAck, PUBACK).prop_map(Packet::PubAck),
        ack(PacketType::PubRec, PUBACK).prop_map(Packet::PubRec),
        ack(PacketType::PubRel, PUBREL).prop_map(Packet::PubRel),
        ack(PacketType::PubComp, PUBREL).prop_map(Packet::PubComp),
        subscribe,
        (
            pid(),
            props_for(PacketType::SubAck),
            vec(reason(SUBACK), 1..4)
        )
            .prop_map(|(pid, properties, reasons)| Packet::SubAck(SubAck {
                pid,
                properties,
                reasons
            })),
        (
            pid(),
            props_for(PacketType::Unsubscribe),
            vec(topic_filter(), 1..4)
        )
            .prop_map(
                |(pid, properties, filters)| Packet::Unsubscribe(Unsubscribe {
                    pid,
                    properties,
                    filters
                })
            ),
        (
            pid(),
            props_for(PacketType::UnsubAck),
            vec(reason(UNSUBACK), 1..4)
        )
            .prop_map(|(pid, properties, reasons)| Packet::UnsubAck(UnsubAck {
                pid,
                properties,
                reasons
            })),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        (reason(DISCONNECT), props_for(PacketType::Disconnect))
            .prop_map(|(reason, properties)| Packet::Disconnect(Disconnect { reason, properties })),
        (reason(AUTH), props_for(PacketType::Auth))
            .prop_map(|(reason, properties)| Packet::Auth(Auth { reason, properties })),
    ]
}

/// What a peer at `protocol` decodes from `packet`: v5-only fields gone.
fn as_seen_at(packet: &Packet, protocol: Protocol) -> Packet {
    let mut packet = packet.clone();
    let protocol = match &packet {
        Packet::Connect(connect) => connect.protocol,
        _ => protocol,
    };
    if protocol.is_v5() {
        return packet;
    }
    let none = Properties::default;
    match &mut packet {
        Packet::Connect(c) => {
            c.properties = none();
            if let Some(will) = &mut c.will {
                will.properties = none();
            }
        }
        Packet::ConnAck(c) => {
            c.properties = none();
            // In 3.1 the acknowledge flags byte is reserved: never set.
            if protocol == Protocol::V31 {
                c.session_present = false;
            }
        }
        Packet::Publish(p) => p.properties = none(),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            *a = Ack::new(a.pid)
        }
        Packet::Subscribe(s) => {
            s.properties = none();
            for f in &mut s.filters {
                f.options = SubscriptionOptions {
                    qos: f.options.qos,
                    ..Default::default()
                };
            }
        }
        Packet::SubAck(s) => {
            s.properties = none();
            for r in &mut s.reasons {
                if !r.is_success() {
                    *r = R::UnspecifiedError;
                }
            }
        }
        Packet::Unsubscribe(u) => u.properties = none(),
        Packet::UnsubAck(u) => {
            u.properties = none();
            u.reasons.clear();
        }
        Packet::Disconnect(d) => *d = Disconnect::default(),
        Packet::PingReq | Packet::PingResp | Packet::Auth(_) => {}
    }
    packet
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_decode_round_trip(packet in packet()) {
        for protocol in PROTOCOLS {
            let mut out = BytesMut::new();
            let result = encode(&packet, protocol, &mut out);
            if matches!(packet, Packet::Auth(_)) && !protocol.is_v5() {
                prop_assert!(result.is_err());
                prop_assert!(out.is_empty());
                continue;
            }
            prop_assert_eq!(&result, &Ok(()));
            prop_assert_eq!(out.len(), encoded_len(&packet, protocol));
            let bytes = out.clone().freeze();
            let decoded = decode(&mut out, protocol, u32::MAX);
            prop_assert_eq!(decoded, Ok(Some(as_seen_at(&packet, protocol))), "{:x?}", &bytes[..]);
            prop_assert!(out.is_empty());
        }
    }

    /// A PUBLISH from borrowed parts is the same bytes as one built.
    #[test]
    fn encode_publish_writes_what_encode_writes(packet in packet()) {
        let Packet::Publish(publish) = &packet else { return Ok(()) };
        for protocol in PROTOCOLS {
            let (mut built, mut borrowed) = (BytesMut::new(), BytesMut::from(&b"kept"[..]));
            let result = encode(&packet, protocol, &mut built);
            prop_assert_eq!(encode_publish(&publish.into(), protocol, &mut borrowed), result);
            prop_assert_eq!(&borrowed[..4], b"kept");
            prop_assert_eq!(&borrowed[4..], &built[..]);
        }
    }

    #[test]
    fn every_prefix_needs_more(packet in packet()) {
        let mut out = BytesMut::new();
        encode(&packet, Protocol::V5, &mut out).unwrap();
        for cut in 0..out.len() {
            let mut prefix = BytesMut::from(&out[..cut]);
            prop_assert_eq!(decode(&mut prefix, Protocol::V5, u32::MAX), Ok(None));
            prop_assert_eq!(prefix.len(), cut);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(first in any::<u8>(), rest in vec(any::<u8>(), 0..64), v in 0..3usize) {
        let mut buf = BytesMut::from(&[first][..]);
        buf.extend_from_slice(&[rest.len() as u8]);
        buf.extend_from_slice(&rest);
        while let Ok(Some(_)) = decode(&mut buf, PROTOCOLS[v], 1024) {}
        let mut raw = BytesMut::from(&rest[..]);
        while let Ok(Some(_)) = decode(&mut raw, PROTOCOLS[v], 1024) {}
    }

    #[test]
    fn topic_matching_agrees_with_itself(topic in topic_name()) {
        prop_assert!(matches!(topic::validate_topic_name(&topic), Ok(())));
        prop_assert!(topic::matches(&topic, &topic));
        if !topic.starts_with('$') {
            prop_assert!(topic::matches("#", &topic));
        }
    }
}
