//! The driver against a scripted broker: CONNECT on open, subscriptions
//! renewed after every CONNACK, SUBACKs matched to filters, publishes and
//! their acknowledgements, keepalive, and the session's end.

use bytes::BytesMut;
use mqtt::{
    decode, encode, Ack, ByteString, ConnAck, Packet, Protocol, Publish, QoS, ReasonCode, SubAck,
};

use super::*;
use crate::state::publish::{PublishDraft, SubscriptionSet};

fn wire(packet: Packet, protocol: Protocol) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(&packet, protocol, &mut out).unwrap();
    out.to_vec()
}

fn packets(bytes: Option<Bytes>, protocol: Protocol) -> Vec<Packet> {
    let mut buf = BytesMut::from(&bytes.expect("bytes to send")[..]);
    let mut packets = Vec::new();
    while let Some(p) = decode(&mut buf, protocol, u32::MAX).unwrap() {
        packets.push(p);
    }
    assert!(buf.is_empty());
    packets
}

fn connack(code: ReasonCode, session_present: bool, protocol: Protocol) -> Vec<u8> {
    wire(
        Packet::ConnAck(ConnAck {
            session_present,
            code,
            properties: Properties::default(),
        }),
        protocol,
    )
}

fn publish(topic: &str, payload: &'static [u8], qos: QoS, pid: Option<u16>) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: true,
        topic: ByteString::from(topic),
        pid: pid.and_then(Pid::new),
        properties: Properties::default(),
        payload: Bytes::from_static(payload),
    }
}

fn options(protocol: Protocol) -> ClientOptions {
    let mut options = ClientOptions::new("kite-dash-test");
    options.protocol = protocol;
    options
}

fn driver(protocol: Protocol) -> Driver {
    Driver::new(options(protocol), SubscriptionSet::default().filters())
}

/// A driver past CONNACK, with its SUBSCRIBE.
fn connected(protocol: Protocol) -> (Driver, mqtt::Subscribe) {
    let mut driver = driver(protocol);
    driver.opened(0);
    let step = driver.received(&connack(ReasonCode::Success, false, protocol), 1);
    let sent = packets(step.send, protocol);
    let [Packet::Subscribe(subscribe)] = &sent[..] else {
        panic!("expected one SUBSCRIBE, got {sent:?}");
    };
    (driver, subscribe.clone())
}

#[test]
fn open_sends_connect_with_the_options() {
    let mut options = options(Protocol::V5);
    options.username = Some("alice".into());
    options.clean_start = false;
    let mut driver = Driver::new(options, Vec::new());
    let step = driver.opened(0);
    assert!(!step.close && step.events.is_empty());
    match &packets(step.send, Protocol::V5)[..] {
        [Packet::Connect(connect)] => {
            assert_eq!(connect.client_id, "kite-dash-test");
            assert_eq!(connect.protocol, Protocol::V5);
            assert!(!connect.clean_start);
            assert_eq!(connect.username.as_deref(), Some("alice"));
        }
        other => panic!("expected CONNECT, got {other:?}"),
    }
    assert!(!driver.is_connected());
}

#[test]
fn connack_reports_connected_and_subscribes_to_everything() {
    for protocol in [Protocol::V311, Protocol::V5] {
        let mut driver = driver(protocol);
        driver.opened(0);
        let step = driver.received(&connack(ReasonCode::Success, true, protocol), 5);
        assert_eq!(
            step.events,
            [
                TransportEvent::State(ConnState::Connected),
                TransportEvent::Session {
                    session_present: true,
                    client_id: "kite-dash-test".into()
                }
            ]
        );
        match &packets(step.send, protocol)[..] {
            [Packet::Subscribe(subscribe)] => {
                let filters: Vec<&str> = subscribe.filters.iter().map(|f| &*f.filter).collect();
                assert_eq!(filters, ["#", "$SYS/#", "$kite/alarms/#"]);
                // Retain as published only exists in v5.
                let rap = subscribe.filters[0].options.retain_as_published;
                assert_eq!(rap, protocol == Protocol::V5);
            }
            other => panic!("expected SUBSCRIBE, got {other:?}"),
        }
        assert!(driver.is_connected());
    }
}

#[test]
fn suback_results_are_matched_to_their_filters() {
    let (mut driver, subscribe) = connected(Protocol::V5);
    let suback = wire(
        Packet::SubAck(SubAck {
            pid: subscribe.pid,
            properties: Properties::default(),
            reasons: vec![
                ReasonCode::Success,
                ReasonCode::GrantedQoS1,
                ReasonCode::NotAuthorized,
            ],
        }),
        Protocol::V5,
    );
    let step = driver.received(&suback, 2);
    assert!(!step.close);
    assert_eq!(
        step.events,
        [
            TransportEvent::Error(
                "the broker refused the subscription to $kite/alarms/#: NotAuthorized".into()
            ),
            TransportEvent::Subscribed {
                filters: vec!["#".into(), "$SYS/#".into(), "$kite/alarms/#".into()],
                results: vec![Ok(0), Ok(1), Err("NotAuthorized".into())],
            }
        ]
    );
    assert!(driver.is_connected());
}

#[test]
fn subscriptions_change_now_and_survive_reconnects() {
    let (mut driver, _) = connected(Protocol::V311);
    let mut set = SubscriptionSet::default();
    let sub = set.add("sensors/+/t", 2, false).unwrap();
    let sent = driver.subscribe(vec![sub.to_filter()], 3).unwrap();
    match &packets(sent, Protocol::V311)[..] {
        [Packet::Subscribe(s)] => {
            assert_eq!(&*s.filters[0].filter, "sensors/+/t");
            assert_eq!(s.filters[0].options.qos, QoS::ExactlyOnce);
        }
        other => panic!("expected SUBSCRIBE, got {other:?}"),
    }
    let sent = driver.unsubscribe(&["#".to_owned()], 4).unwrap();
    assert!(
        matches!(&packets(sent, Protocol::V311)[..], [Packet::Unsubscribe(u)] if &*u.filters[0] == "#")
    );

    // Reconnect: the new set is renewed.
    driver.closed();
    assert_eq!(driver.subscribe(Vec::new(), 5), Ok(None));
    driver.opened(6);
    let step = driver.received(&connack(ReasonCode::Success, false, Protocol::V311), 7);
    match &packets(step.send, Protocol::V311)[..] {
        [Packet::Subscribe(s)] => {
            let filters: Vec<&str> = s.filters.iter().map(|f| &*f.filter).collect();
            assert_eq!(filters, ["$SYS/#", "$kite/alarms/#", "sensors/+/t"]);
        }
        other => panic!("expected SUBSCRIBE, got {other:?}"),
    }
}

#[test]
fn changes_while_disconnected_are_kept_for_later() {
    let mut driver = driver(Protocol::V5);
    let extra = SubscriptionSet::default()
        .add("x/#", 1, true)
        .unwrap()
        .to_filter();
    assert_eq!(driver.subscribe(vec![extra], 0), Ok(None));
    assert_eq!(driver.unsubscribe(&["$SYS/#".to_owned()], 0), Ok(None));
    let filters: Vec<&str> = driver.subscriptions().iter().map(|f| &*f.filter).collect();
    assert_eq!(filters, ["#", "$kite/alarms/#", "x/#"]);
}

#[test]
fn refused_connack_closes() {
    let mut driver = driver(Protocol::V311);
    driver.opened(0);
    let step = driver.received(
        &connack(ReasonCode::NotAuthorized, false, Protocol::V311),
        5,
    );
    assert!(step.close);
    assert!(matches!(&step.events[..], [TransportEvent::Error(_)]));
    assert!(!driver.is_connected());
}

#[test]
fn messages_are_reported_in_order_and_acknowledged() {
    let (mut driver, _) = connected(Protocol::V311);
    let mut bytes = wire(
        Packet::Publish(publish("a/b", b"1", QoS::AtMostOnce, None)),
        Protocol::V311,
    );
    bytes.extend(wire(
        Packet::Publish(publish("c", b"2", QoS::AtLeastOnce, Some(9))),
        Protocol::V311,
    ));
    bytes.extend(wire(
        Packet::Publish(publish("d", b"3", QoS::ExactlyOnce, Some(10))),
        Protocol::V311,
    ));
    let step = driver.received(&bytes, 2);
    let topics: Vec<String> = step
        .events
        .iter()
        .map(|e| match e {
            TransportEvent::Message(p) => p.topic.to_string(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(topics, ["a/b", "c", "d"]);
    let replies = packets(step.send, Protocol::V311);
    assert_eq!(
        replies,
        [
            Packet::PubAck(Ack::new(Pid::new(9).unwrap())),
            Packet::PubRec(Ack::new(Pid::new(10).unwrap()))
        ]
    );
    let step = driver.received(
        &wire(
            Packet::PubRel(Ack::new(Pid::new(10).unwrap())),
            Protocol::V311,
        ),
        3,
    );
    assert_eq!(
        packets(step.send, Protocol::V311),
        [Packet::PubComp(Ack::new(Pid::new(10).unwrap()))]
    );
}

#[test]
fn publish_with_properties_and_qos2_completion() {
    let (mut driver, _) = connected(Protocol::V5);
    let draft = PublishDraft {
        topic: "t/1".into(),
        payload: "hello".into(),
        qos: 2,
        retain: true,
        content_type: "text/plain".into(),
        user_properties: "a=b".into(),
        ..PublishDraft::default()
    };
    let (pid, sent) = driver.publish(&draft.build().unwrap(), 3).unwrap();
    let pid = pid.expect("QoS 2 has a packet id");
    match &packets(sent, Protocol::V5)[..] {
        [Packet::Publish(p)] => {
            assert_eq!((&*p.topic, &p.payload[..]), ("t/1", &b"hello"[..]));
            assert_eq!(p.qos, QoS::ExactlyOnce);
            assert!(p.retain);
            assert_eq!(p.properties.content_type.as_deref(), Some("text/plain"));
            assert_eq!(p.properties.user_properties.len(), 1);
        }
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    let step = driver.received(&wire(Packet::PubRec(Ack::new(pid)), Protocol::V5), 4);
    assert_eq!(
        packets(step.send, Protocol::V5),
        [Packet::PubRel(Ack::new(pid))]
    );
    let step = driver.received(&wire(Packet::PubComp(Ack::new(pid)), Protocol::V5), 5);
    assert_eq!(
        step.events,
        [TransportEvent::Published {
            pid: pid.get(),
            result: Ok(())
        }]
    );
}

#[test]
fn a_refused_publish_is_reported() {
    let (mut driver, _) = connected(Protocol::V5);
    let out = Outgoing::simple("$kite/alarms/rules/x", &b"{"[..], QoS::AtLeastOnce, true);
    let (pid, _) = driver.publish(&out, 3).unwrap();
    let pid = pid.unwrap();
    let mut ack = Ack::new(pid);
    ack.reason = ReasonCode::PayloadFormatInvalid;
    let step = driver.received(&wire(Packet::PubAck(ack), Protocol::V5), 4);
    assert_eq!(
        step.events,
        [TransportEvent::Published {
            pid: pid.get(),
            result: Err("PayloadFormatInvalid".into())
        }]
    );
}

#[test]
fn publish_needs_an_open_connected_session() {
    let out = Outgoing::simple("t", &b"x"[..], QoS::AtMostOnce, false);
    let mut driver = driver(Protocol::V311);
    assert_eq!(driver.publish(&out, 0), Err(ClientError::NotConnected));
    let (mut driver, _) = connected(Protocol::V311);
    assert!(driver.publish(&out, 1).is_ok());
    driver.closed();
    assert_eq!(driver.publish(&out, 2), Err(ClientError::NotConnected));
}

#[test]
fn disconnect_sends_disconnect_once() {
    let (mut driver, _) = connected(Protocol::V5);
    let sent = driver.disconnect(3);
    assert!(matches!(
        &packets(sent, Protocol::V5)[..],
        [Packet::Disconnect(_)]
    ));
    assert!(!driver.is_open());
    assert_eq!(driver.disconnect(4), None);
}

#[test]
fn reconfigure_starts_a_new_session() {
    let (mut driver, _) = connected(Protocol::V311);
    driver.reconfigure(options(Protocol::V5));
    assert!(!driver.is_open());
    let step = driver.opened(10);
    assert!(
        matches!(&packets(step.send, Protocol::V5)[..], [Packet::Connect(c)] if c.protocol == Protocol::V5)
    );
}

#[test]
fn tick_pings_after_the_keepalive_and_fails_without_an_answer() {
    let (mut driver, _) = connected(Protocol::V311);
    let keep_alive_ms = u64::from(driver.session().options().keep_alive) * 1000;
    assert_eq!(driver.tick(1_000), Step::default());
    let step = driver.tick(1 + keep_alive_ms);
    assert_eq!(packets(step.send, Protocol::V311), [Packet::PingReq]);
    let step = driver.tick(1 + 2 * keep_alive_ms);
    assert!(step.close);
}

#[test]
fn garbage_closes() {
    let (mut driver, _) = connected(Protocol::V311);
    let step = driver.received(&[0xF0, 0x00], 2);
    assert!(step.close);
    assert!(matches!(&step.events[..], [TransportEvent::Error(_)]));
}

#[test]
fn a_closed_driver_ignores_input_and_reconnects_cleanly() {
    let (mut driver, _) = connected(Protocol::V311);
    driver.closed();
    assert_eq!(
        driver.received(&connack(ReasonCode::Success, false, Protocol::V311), 2),
        Step::default()
    );
    assert_eq!(driver.tick(1_000_000), Step::default());
    let step = driver.opened(3);
    assert!(matches!(
        &packets(step.send, Protocol::V311)[..],
        [Packet::Connect(_)]
    ));
    assert!(!driver.is_connected(), "not before the new CONNACK");
}
