//! The client session against a server's bytes, one behaviour per test.

use super::*;
use crate::ConnAck;

fn server_sends(packet: Packet, protocol: Protocol) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(&packet, protocol, &mut out).unwrap();
    out.to_vec()
}

fn decode_all(bytes: Bytes, protocol: Protocol) -> Vec<Packet> {
    let mut buf = BytesMut::from(&bytes[..]);
    let mut packets = Vec::new();
    while let Some(p) = decode(&mut buf, protocol, u32::MAX).unwrap() {
        packets.push(p);
    }
    packets
}

fn connected(protocol: Protocol) -> ClientSession {
    let mut options = ClientOptions::new("test");
    options.protocol = protocol;
    options.keep_alive = 10;
    let mut session = ClientSession::new(options);
    session.connect(0).unwrap();
    let sent = decode_all(session.take_outgoing().unwrap(), protocol);
    assert!(matches!(&sent[..], [Packet::Connect(c)] if c.client_id == "test"));
    let connack = ConnAck {
        session_present: false,
        code: ReasonCode::Success,
        properties: Properties::default(),
    };
    let events = session
        .receive(&server_sends(Packet::ConnAck(connack), protocol), 1)
        .unwrap();
    assert!(matches!(events[..], [ClientEvent::Connected { .. }]));
    session
}

#[test]
fn connack_refusal_closes_the_session() {
    let mut session = ClientSession::new(ClientOptions::new("x"));
    session.connect(0).unwrap();
    let connack = ConnAck {
        session_present: false,
        code: ReasonCode::NotAuthorized,
        properties: Properties::default(),
    };
    let err = session
        .receive(&server_sends(Packet::ConnAck(connack), Protocol::V311), 0)
        .unwrap_err();
    assert_eq!(err, ClientError::Refused(ReasonCode::NotAuthorized));
    assert_eq!(session.state(), ConnectionState::Closed);
}

#[test]
fn publishing_before_connack_is_refused() {
    let mut session = ClientSession::new(ClientOptions::new("x"));
    session.connect(0).unwrap();
    assert_eq!(
        session.publish("a", "b", QoS::AtMostOnce, false, 0),
        Err(ClientError::NotConnected)
    );
}

#[test]
fn keepalive_sends_ping_then_times_out_without_pingresp() {
    let mut session = connected(Protocol::V311);
    session.tick(5_000).unwrap();
    assert!(session.take_outgoing().is_none(), "no ping before 10 s");
    session.tick(10_000).unwrap();
    let sent = decode_all(session.take_outgoing().unwrap(), Protocol::V311);
    assert_eq!(sent, vec![Packet::PingReq]);
    assert_eq!(session.tick(20_000), Err(ClientError::KeepAliveTimeout));
}

#[test]
fn pingresp_clears_the_pending_ping() {
    let mut session = connected(Protocol::V311);
    session.tick(10_000).unwrap();
    session.take_outgoing();
    let events = session
        .receive(&server_sends(Packet::PingResp, Protocol::V311), 10_100)
        .unwrap();
    assert_eq!(events, vec![ClientEvent::PingResponse]);
    session.tick(19_000).unwrap();
}

#[test]
fn qos1_publish_completes_on_puback() {
    let mut session = connected(Protocol::V5);
    let pid = session
        .publish("t", "p", QoS::AtLeastOnce, false, 2)
        .unwrap()
        .unwrap();
    assert_eq!(session.inflight(), 1);
    let events = session
        .receive(
            &server_sends(Packet::PubAck(Ack::new(pid)), Protocol::V5),
            3,
        )
        .unwrap();
    assert_eq!(
        events,
        vec![ClientEvent::Published {
            pid,
            reason: ReasonCode::Success
        }]
    );
    assert_eq!(session.inflight(), 0);
}

#[test]
fn qos2_publish_sends_pubrel_after_pubrec() {
    let mut session = connected(Protocol::V311);
    let pid = session
        .publish("t", "p", QoS::ExactlyOnce, false, 2)
        .unwrap()
        .unwrap();
    session.take_outgoing();
    session
        .receive(
            &server_sends(Packet::PubRec(Ack::new(pid)), Protocol::V311),
            3,
        )
        .unwrap();
    let sent = decode_all(session.take_outgoing().unwrap(), Protocol::V311);
    assert_eq!(sent, vec![Packet::PubRel(Ack::new(pid))]);
    let events = session
        .receive(
            &server_sends(Packet::PubComp(Ack::new(pid)), Protocol::V311),
            4,
        )
        .unwrap();
    assert!(matches!(events[..], [ClientEvent::Published { .. }]));
}

#[test]
fn incoming_qos2_duplicate_is_delivered_once() {
    let mut session = connected(Protocol::V311);
    let publish = Publish {
        dup: false,
        qos: QoS::ExactlyOnce,
        retain: false,
        topic: ByteString::from("a/b"),
        pid: Pid::new(7),
        properties: Properties::default(),
        payload: Bytes::from_static(b"x"),
    };
    let bytes = server_sends(Packet::Publish(publish.clone()), Protocol::V311);
    let first = session.receive(&bytes, 2).unwrap();
    let second = session.receive(&bytes, 3).unwrap();
    assert_eq!(first, vec![ClientEvent::Message(publish)]);
    assert!(second.is_empty());
    let sent = decode_all(session.take_outgoing().unwrap(), Protocol::V311);
    assert_eq!(sent.len(), 2, "a PUBREC for each copy");
}

fn publish_at(qos: QoS, pid: u16) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: ByteString::from("a/b"),
        pid: Pid::new(pid),
        properties: Properties::default(),
        payload: Bytes::from_static(b"x"),
    }
}

fn manual(protocol: Protocol) -> ClientSession {
    let mut session = connected(protocol);
    session.options.manual_acks = true;
    session
}

#[test]
fn manual_acks_hold_the_puback_until_acknowledged() {
    let mut session = manual(Protocol::V311);
    let publish = publish_at(QoS::AtLeastOnce, 3);
    let bytes = server_sends(Packet::Publish(publish.clone()), Protocol::V311);
    assert_eq!(
        session.receive(&bytes, 1).unwrap(),
        vec![ClientEvent::Message(publish)]
    );
    assert!(session.take_outgoing().is_none(), "no PUBACK yet");
    session
        .acknowledge(Pid::new(3).unwrap(), QoS::AtLeastOnce, 2)
        .unwrap();
    let sent = decode_all(session.take_outgoing().unwrap(), Protocol::V311);
    assert!(matches!(&sent[..], [Packet::PubAck(a)] if a.pid.get() == 3));
}

#[test]
fn manual_acks_hold_the_pubrec_and_answer_a_resent_copy_once_handled() {
    let mut session = manual(Protocol::V311);
    let publish = publish_at(QoS::ExactlyOnce, 9);
    let bytes = server_sends(Packet::Publish(publish.clone()), Protocol::V311);
    assert_eq!(session.receive(&bytes, 1).unwrap().len(), 1);
    assert!(session.take_outgoing().is_none(), "no PUBREC yet");
    // A copy before the application handled the first: nothing at all.
    assert!(session.receive(&bytes, 2).unwrap().is_empty());
    assert!(session.take_outgoing().is_none());
    session
        .acknowledge(Pid::new(9).unwrap(), QoS::ExactlyOnce, 3)
        .unwrap();
    let sent = decode_all(session.take_outgoing().unwrap(), Protocol::V311);
    assert!(matches!(&sent[..], [Packet::PubRec(a)] if a.pid.get() == 9));
    // A copy after it: PUBREC again, still not delivered twice.
    assert!(session.receive(&bytes, 4).unwrap().is_empty());
    let sent = decode_all(session.take_outgoing().unwrap(), Protocol::V311);
    assert!(matches!(&sent[..], [Packet::PubRec(a)] if a.pid.get() == 9));
}

#[test]
fn a_qos2_message_handled_while_disconnected_is_answered_on_the_next_connection() {
    let mut session = manual(Protocol::V311);
    let publish = publish_at(QoS::ExactlyOnce, 4);
    let bytes = server_sends(Packet::Publish(publish), Protocol::V311);
    assert_eq!(session.receive(&bytes, 1).unwrap().len(), 1);
    session.state = ConnectionState::Closed;
    session
        .acknowledge(Pid::new(4).unwrap(), QoS::ExactlyOnce, 2)
        .unwrap();
    assert!(session.take_outgoing().is_none(), "nowhere to send it");
    session.state = ConnectionState::Connected;
    let resent = publish_at(QoS::ExactlyOnce, 4);
    let bytes = server_sends(
        Packet::Publish(Publish {
            dup: true,
            ..resent
        }),
        Protocol::V311,
    );
    assert!(session.receive(&bytes, 3).unwrap().is_empty(), "once only");
    let sent = decode_all(session.take_outgoing().unwrap(), Protocol::V311);
    assert!(matches!(&sent[..], [Packet::PubRec(a)] if a.pid.get() == 4));
}

#[test]
fn subscribe_with_options_keeps_them_in_v5_only() {
    let filter = SubscribeFilter {
        filter: ByteString::from("a/#"),
        options: SubscriptionOptions {
            qos: QoS::ExactlyOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: crate::RetainHandling::SendIfNew,
        },
    };
    let properties = Properties {
        subscription_identifiers: vec![7],
        ..Properties::default()
    };
    for protocol in [Protocol::V5, Protocol::V311] {
        let mut session = connected(protocol);
        let pid = session
            .subscribe_with(vec![filter.clone()], properties.clone(), 2)
            .unwrap();
        let sent = decode_all(session.take_outgoing().unwrap(), protocol);
        let [Packet::Subscribe(subscribe)] = &sent[..] else {
            panic!("expected SUBSCRIBE, got {sent:?}");
        };
        assert_eq!(subscribe.pid, pid);
        let options = subscribe.filters[0].options;
        assert_eq!(options.qos, QoS::ExactlyOnce);
        if protocol.is_v5() {
            assert_eq!(options, filter.options);
            assert_eq!(subscribe.properties.subscription_identifiers, [7]);
        } else {
            assert!(!options.no_local && !options.retain_as_published);
            assert!(subscribe.properties.subscription_identifiers.is_empty());
        }
    }
    let mut idle = ClientSession::new(ClientOptions::new("x"));
    assert_eq!(
        idle.subscribe_with(vec![filter], Properties::default(), 0),
        Err(ClientError::NotConnected)
    );
}

#[test]
fn a_frame_split_across_reads_is_reassembled() {
    let mut session = connected(Protocol::V311);
    let publish = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: ByteString::from("devices/1/temperature"),
        pid: None,
        properties: Properties::default(),
        payload: Bytes::from_static(b"21.5"),
    };
    let bytes = server_sends(Packet::Publish(publish.clone()), Protocol::V311);
    let (head, tail) = bytes.split_at(3);
    assert!(session.receive(head, 2).unwrap().is_empty());
    assert_eq!(
        session.receive(tail, 2).unwrap(),
        vec![ClientEvent::Message(publish)]
    );
}

#[test]
fn forgotten_unacknowledged_qos2_is_delivered_again() {
    let mut session = manual(Protocol::V311);
    let bytes = server_sends(
        Packet::Publish(publish_at(QoS::ExactlyOnce, 5)),
        Protocol::V311,
    );
    assert_eq!(session.receive(&bytes, 1).unwrap().len(), 1);
    // Handed on, then lost before it was acknowledged.
    session.forget_unacknowledged();
    let resent = Publish {
        dup: true,
        ..publish_at(QoS::ExactlyOnce, 5)
    };
    let bytes = server_sends(Packet::Publish(resent), Protocol::V311);
    assert_eq!(
        session.receive(&bytes, 2).unwrap().len(),
        1,
        "delivered again"
    );
    // One already acknowledged is not.
    session
        .acknowledge(Pid::new(5).unwrap(), QoS::ExactlyOnce, 3)
        .unwrap();
    session.forget_unacknowledged();
    assert!(session.receive(&bytes, 4).unwrap().is_empty());
}
