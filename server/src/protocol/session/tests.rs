//! Session state machine tests: packets in, actions out, no sockets.

use std::sync::Arc;

use bytes::Bytes;
use mqtt::{
    Ack, Connect, Packet, Pid, Properties, Protocol, Publish, QoS, ReasonCode, Subscribe,
    SubscribeFilter, SubscriptionOptions,
};

use super::*;

/// What the tests ask of a session besides its packets.
impl Session {
    /// Handle one packet from the client, everything allowed.
    fn handle(&mut self, packet: Packet) -> Result<Vec<Action>, ProtocolError> {
        self.handle_with(packet, &mut crate::protocol::admission::AllowAll)
    }

    /// Our publishes the client has not acknowledged yet, oldest id first:
    /// what a resumed session sends again with DUP.
    fn unacknowledged(&self) -> Vec<&Publish> {
        let mut sent: Vec<&Publish> = self
            .flight
            .iter()
            .flat_map(|f| f.outgoing.values())
            .filter_map(|o| match o {
                Outgoing::Sent(sent) => Some(&sent.0),
                Outgoing::Released(_) => None,
            })
            .collect();
        sent.sort_by_key(|p| p.pid);
        sent
    }

    /// Unacknowledged outgoing publishes.
    fn inflight(&self) -> usize {
        self.flight.as_ref().map_or(0, |f| f.outgoing.len())
    }
}

fn session(protocol: Protocol, receive_maximum: Option<u16>) -> Session {
    let connect = Connect {
        protocol,
        bridge: false,
        clean_start: true,
        keep_alive: 30,
        client_id: "c1".into(),
        will: None,
        username: None,
        password: None,
        properties: Properties {
            receive_maximum,
            ..Properties::default()
        },
    };
    Session::new(&connect, Arc::from("c1"), 1, ServerLimits::default())
}

fn pid(n: u16) -> Pid {
    Pid::new(n).unwrap()
}

fn publish(qos: QoS, id: Option<u16>) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: "a/b".into(),
        pid: id.map(pid),
        properties: Properties::default(),
        payload: Bytes::from_static(b"hello"),
    }
}

fn message(qos: QoS) -> Message {
    Message::from_publish(publish(qos, None), Arc::from("other"))
}

/// A delivery of `message(qos)` at `qos`.
fn out(qos: QoS) -> Outbound {
    Outbound {
        message: Arc::new(message(qos)),
        qos,
        retain: false,
        subscription_ids: vec![],
        seq: None,
        receipt: None,
        position: 0,
    }
}

#[test]
fn qos0_publish_is_routed_without_acknowledgement() {
    let mut s = session(Protocol::V311, None);
    let actions = s
        .handle(Packet::Publish(publish(QoS::AtMostOnce, None)))
        .unwrap();
    assert!(matches!(&actions[..], [Action::Route(m)] if m.topic == "a/b"));
}

#[test]
fn qos1_publish_is_routed_and_acknowledged() {
    let mut s = session(Protocol::V311, None);
    let actions = s
        .handle(Packet::Publish(publish(QoS::AtLeastOnce, Some(7))))
        .unwrap();
    assert!(matches!(&actions[0], Action::Route(_)));
    assert_eq!(actions[1], Action::Send(Packet::PubAck(Ack::new(pid(7)))));
}

#[test]
fn qos2_resent_before_pubrel_is_routed_once() {
    let mut s = session(Protocol::V311, None);
    let first = s
        .handle(Packet::Publish(publish(QoS::ExactlyOnce, Some(3))))
        .unwrap();
    let mut again = publish(QoS::ExactlyOnce, Some(3));
    again.dup = true;
    let second = s.handle(Packet::Publish(again)).unwrap();
    assert_eq!(first.len(), 2, "route + PUBREC");
    assert_eq!(second, vec![Action::Send(Packet::PubRec(Ack::new(pid(3))))]);
    let comp = s.handle(Packet::PubRel(Ack::new(pid(3)))).unwrap();
    assert_eq!(comp, vec![Action::Send(Packet::PubComp(Ack::new(pid(3))))]);
}

#[test]
fn subscribe_grants_the_requested_qos_and_adds_the_subscription() {
    let mut s = session(Protocol::V5, None);
    let options = SubscriptionOptions {
        qos: QoS::AtLeastOnce,
        ..SubscriptionOptions::default()
    };
    let actions = s
        .handle(Packet::Subscribe(Subscribe {
            pid: pid(1),
            properties: Properties::default(),
            filters: vec![SubscribeFilter {
                filter: "devices/#".into(),
                options,
            }],
        }))
        .unwrap();
    assert!(matches!(&actions[0], Action::Subscribe { filter, .. } if filter == "devices/#"));
    assert!(
        matches!(&actions[1], Action::Send(Packet::SubAck(ack)) if ack.reasons == [ReasonCode::GrantedQoS1])
    );
    assert_eq!(s.filters().count(), 1);
}

#[test]
fn outgoing_window_is_bounded_by_the_clients_receive_maximum() {
    let mut s = session(Protocol::V5, Some(2));
    assert_eq!(s.deliver(out(QoS::AtLeastOnce)).len(), 1);
    assert_eq!(s.deliver(out(QoS::AtLeastOnce)).len(), 1);
    assert!(s.deliver(out(QoS::AtLeastOnce)).is_empty());
    assert_eq!((s.inflight(), s.pending()), (2, 1));
    let actions = s.handle(Packet::PubAck(Ack::new(pid(1)))).unwrap();
    assert!(matches!(&actions[..], [Action::Send(Packet::Publish(p))] if p.pid == Some(pid(3))));
    assert_eq!((s.inflight(), s.pending()), (2, 0));
}

#[test]
fn qos2_delivery_sends_pubrel_after_pubrec_and_completes_on_pubcomp() {
    let mut s = session(Protocol::V311, None);
    s.deliver(out(QoS::ExactlyOnce));
    let rel = s.handle(Packet::PubRec(Ack::new(pid(1)))).unwrap();
    assert_eq!(rel, vec![Action::Send(Packet::PubRel(Ack::new(pid(1))))]);
    assert!(s.unacknowledged().is_empty());
    s.handle(Packet::PubComp(Ack::new(pid(1)))).unwrap();
    assert_eq!(s.inflight(), 0);
}

#[test]
fn topic_alias_is_remembered_and_unknown_alias_is_an_error() {
    let mut s = session(Protocol::V5, None);
    let mut first = publish(QoS::AtMostOnce, None);
    first.properties.topic_alias = Some(1);
    s.handle(Packet::Publish(first)).unwrap();
    let mut aliased = publish(QoS::AtMostOnce, None);
    aliased.topic = "".into();
    aliased.properties.topic_alias = Some(1);
    let actions = s.handle(Packet::Publish(aliased.clone())).unwrap();
    assert!(matches!(&actions[..], [Action::Route(m)] if m.topic == "a/b"));
    aliased.properties.topic_alias = Some(2);
    assert_eq!(
        s.handle(Packet::Publish(aliased)),
        Err(ProtocolError::TopicAliasUnknown(2))
    );
    // §3.3.4: an unmapped alias with an empty topic is a Protocol Error.
    assert_eq!(
        ProtocolError::TopicAliasUnknown(2).reason_code(),
        ReasonCode::ProtocolError
    );
}

#[test]
fn too_large_for_the_client_is_dropped_for_it_alone() {
    let connect = Connect {
        protocol: Protocol::V5,
        bridge: false,
        clean_start: true,
        keep_alive: 0,
        client_id: "small".into(),
        will: None,
        username: None,
        password: None,
        properties: Properties {
            maximum_packet_size: Some(10),
            ..Properties::default()
        },
    };
    let mut s = Session::new(&connect, Arc::from("small"), 1, ServerLimits::default());
    assert!(s.deliver(out(QoS::AtMostOnce)).is_empty());
    assert_eq!(s.dropped_too_large, 1);
}

#[test]
fn second_connect_is_a_protocol_error() {
    let mut s = session(Protocol::V5, None);
    let connect = Connect {
        protocol: Protocol::V5,
        bridge: false,
        clean_start: true,
        keep_alive: 0,
        client_id: "x".into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    };
    let err = s.handle(Packet::Connect(Box::new(connect))).unwrap_err();
    assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
}

#[test]
fn resumed_session_resends_unacknowledged_with_dup_then_pubrel() {
    let mut s = session(Protocol::V311, None);
    s.deliver(out(QoS::AtLeastOnce));
    s.deliver(out(QoS::ExactlyOnce));
    s.handle(Packet::PubRec(Ack::new(pid(2)))).unwrap();
    let connect = Connect {
        protocol: Protocol::V311,
        bridge: false,
        clean_start: false,
        keep_alive: 30,
        client_id: "c1".into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    };
    let again = s.resume(&connect);
    assert!(matches!(&again[0], Packet::Publish(p) if p.dup && p.pid == Some(pid(1))));
    assert_eq!(again[1], Packet::PubRel(Ack::new(pid(2))));
    assert!(s.is_persistent(), "clean session 0 keeps the session");
}

#[test]
fn v5_session_expiry_comes_from_connect_and_disconnect() {
    let mut s = session(Protocol::V5, None);
    assert!(
        !s.is_persistent(),
        "no Session Expiry Interval: ends with the connection"
    );
    let mut disconnect = mqtt::Disconnect::default();
    disconnect.properties.session_expiry_interval = Some(60);
    // §3.14.2.2.2: after CONNECT's 0, a non-zero expiry in DISCONNECT is a protocol error.
    let err = s
        .handle(Packet::Disconnect(disconnect.clone()))
        .unwrap_err();
    assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    assert!(!s.is_persistent());
    // Started with an expiry, DISCONNECT may change it.
    s.expiry_interval = 10;
    s.handle(Packet::Disconnect(disconnect)).unwrap();
    assert_eq!(s.expiry_interval, 60);
}

#[test]
fn expired_message_is_not_delivered_and_the_interval_left_is_sent() {
    let mut s = session(Protocol::V5, None);
    let mut fresh = message(QoS::AtMostOnce);
    fresh.expires_at = Some(std::time::Instant::now() + std::time::Duration::from_millis(2500));
    let mut stale = message(QoS::AtMostOnce);
    stale.expires_at = Some(std::time::Instant::now() - std::time::Duration::from_millis(1));
    let deliver = |m: Message| Outbound {
        message: Arc::new(m),
        qos: QoS::AtMostOnce,
        retain: false,
        subscription_ids: vec![7],
        seq: None,
        receipt: None,
        position: 0,
    };
    let sent = s.deliver(deliver(fresh));
    assert!(matches!(&sent[..], [Packet::Publish(p)]
        if p.properties.message_expiry_interval == Some(3)
        && p.properties.subscription_identifiers == [7]));
    assert!(s.deliver(deliver(stale)).is_empty());
    assert_eq!(s.dropped_expired, 1);
}

#[test]
fn topic_alias_is_set_once_then_used_when_the_client_allows_aliases() {
    let connect = Connect {
        protocol: Protocol::V5,
        bridge: false,
        clean_start: true,
        keep_alive: 0,
        client_id: "aliased".into(),
        will: None,
        username: None,
        password: None,
        properties: Properties {
            topic_alias_maximum: Some(1),
            ..Properties::default()
        },
    };
    let mut s = Session::new(&connect, Arc::from("aliased"), 1, ServerLimits::default());
    let first = s.deliver(out(QoS::AtMostOnce));
    let second = s.deliver(out(QoS::AtMostOnce));
    assert!(
        matches!(&first[..], [Packet::Publish(p)] if p.topic == "a/b" && p.properties.topic_alias == Some(1))
    );
    assert!(
        matches!(&second[..], [Packet::Publish(p)] if p.topic.is_empty() && p.properties.topic_alias == Some(1))
    );
}

#[test]
fn invalid_utf8_with_payload_format_1_is_refused_with_0x99() {
    let mut s = session(Protocol::V5, None);
    let mut p = publish(QoS::AtLeastOnce, Some(4));
    p.properties.payload_format_indicator = Some(1);
    p.payload = Bytes::from_static(b"\xff\xfe");
    let actions = s.handle(Packet::Publish(p)).unwrap();
    assert!(
        matches!(&actions[..], [Action::Send(Packet::PubAck(a))] if a.reason == ReasonCode::PayloadFormatInvalid)
    );
}

/// The options the session gives a 3.1.1 `SUBSCRIBE` of `a/#` at QoS 1, in
/// the `Subscribe` action and in its record.
fn options_given(s: &mut Session) -> (SubscriptionOptions, SubscriptionOptions) {
    let actions = s
        .handle(Packet::Subscribe(Subscribe {
            pid: pid(1),
            properties: Properties::default(),
            filters: vec![SubscribeFilter {
                filter: "a/#".into(),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    ..SubscriptionOptions::default()
                },
            }],
        }))
        .unwrap();
    let Action::Subscribe { options, .. } = &actions[0] else {
        panic!("no Subscribe action: {actions:?}");
    };
    let (_, kept, _) = s.subscriptions().next().expect("a subscription");
    (*options, kept)
}

#[test]
fn a_bridges_subscriptions_are_no_local_and_retain_as_published() {
    let mut bridge = session(Protocol::V311, None);
    bridge.bridge = true;
    let (options, kept) = options_given(&mut bridge);
    let expected = SubscriptionOptions {
        qos: QoS::AtLeastOnce,
        no_local: true,
        retain_as_published: true,
        ..SubscriptionOptions::default()
    };
    assert_eq!((options, kept), (expected, expected));

    let mut client = session(Protocol::V311, None);
    let (options, _) = options_given(&mut client);
    assert!(!options.no_local && !options.retain_as_published);
}

#[test]
fn the_bridge_flag_follows_the_connect_that_resumes_the_session() {
    let mut s = session(Protocol::V311, None);
    let connect = Connect {
        protocol: Protocol::V311,
        bridge: true,
        clean_start: false,
        keep_alive: 30,
        client_id: "c1".into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    };
    s.resume(&connect);
    assert!(s.bridge);
    assert!(options_given(&mut s).0.no_local);
}

/// Counts how often it was told its delivery is finished with.
#[derive(Debug, Default)]
struct Count(std::sync::atomic::AtomicUsize);

impl crate::protocol::message::Receipt for Count {
    fn finished(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Count {
    fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn with_receipt(qos: QoS, receipt: &Arc<Count>) -> Outbound {
    let given: Arc<dyn crate::protocol::message::Receipt> = receipt.clone();
    Outbound {
        receipt: Some(given),
        position: 0,
        ..out(qos)
    }
}

#[test]
fn a_receipt_hears_of_the_puback_and_of_the_pubrec_not_of_the_sending() {
    let mut s = session(Protocol::V5, Some(1));
    let (first, second) = (Arc::new(Count::default()), Arc::new(Count::default()));
    s.deliver(with_receipt(QoS::AtLeastOnce, &first));
    s.deliver(with_receipt(QoS::ExactlyOnce, &second));
    assert_eq!((first.get(), second.get()), (0, 0), "sent or waiting");
    s.handle(Packet::PubAck(Ack::new(pid(1)))).unwrap();
    assert_eq!((first.get(), second.get()), (1, 0));
    s.handle(Packet::PubRec(Ack::new(pid(2)))).unwrap();
    assert_eq!(second.get(), 1, "the client has a QoS 2 message at PUBREC");
    s.handle(Packet::PubComp(Ack::new(pid(2)))).unwrap();
    assert_eq!(
        second.get(),
        2,
        "told again at PUBCOMP: receipts take the first"
    );
}

#[test]
fn a_receipt_hears_of_a_delivery_never_to_be_sent_and_not_of_a_session_dropped() {
    let mut s = session(Protocol::V5, None);
    let withheld = Arc::new(Count::default());
    s.discard(&with_receipt(QoS::AtLeastOnce, &withheld));
    assert_eq!(withheld.get(), 1);
    let unacknowledged = Arc::new(Count::default());
    s.deliver(with_receipt(QoS::AtLeastOnce, &unacknowledged));
    drop(s);
    assert_eq!(unacknowledged.get(), 0);
    assert_eq!(
        Arc::strong_count(&unacknowledged),
        1,
        "dropped with the session"
    );
}

#[test]
fn a_copy_takes_the_receipts_of_the_deliveries_in_flight_and_waiting() {
    // An inflight window of one: the second delivery waits.
    let mut s = session(Protocol::V5, Some(1));
    let (sent, waiting) = (Arc::new(Count::default()), Arc::new(Count::default()));
    s.deliver(with_receipt(QoS::AtLeastOnce, &sent));
    s.deliver(with_receipt(QoS::AtLeastOnce, &waiting));
    assert_eq!(s.take_receipts().len(), 2);
    assert!(s.take_receipts().is_empty(), "taken once");
    // The copy that took them finishes them: the PUBACK no longer does.
    s.handle(Packet::PubAck(Ack::new(pid(1)))).unwrap();
    assert_eq!((sent.get(), waiting.get()), (0, 0));
    assert_eq!(Arc::strong_count(&sent), 1, "the session holds it no more");
}
