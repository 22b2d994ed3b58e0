//! The sans-I/O heart of the transport: a [`ClientSession`] plus what the
//! dashboard does with it (subscribe to everything after CONNACK, report
//! messages, give up on errors). The socket glue only moves bytes and calls
//! these methods; each returns a [`Step`] saying what to send and report.

use bytes::Bytes;
use mqtt::client::{ClientError, ClientEvent, ClientOptions, ClientSession};
use mqtt::QoS;

use super::TransportEvent;
use crate::state::ConnState;

/// What the dashboard subscribes to after each CONNACK: every ordinary topic
/// and, since `#` does not match topics starting with `$`, the broker's
/// `$SYS` tree.
pub const SUBSCRIPTIONS: [(&str, QoS); 2] = [("#", QoS::AtMostOnce), ("$SYS/#", QoS::AtMostOnce)];

/// The outcome of feeding the driver one thing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Bytes to send as one binary WebSocket frame.
    pub send: Option<Bytes>,
    /// For the application, in order.
    pub events: Vec<TransportEvent>,
    /// The MQTT session is over: close the socket (and reconnect later).
    pub close: bool,
}

impl Step {
    fn fail(&mut self, error: impl ToString) {
        self.events.push(TransportEvent::Error(error.to_string()));
        self.close = true;
    }
}

/// One dashboard's MQTT session across any number of sockets.
pub struct Driver {
    session: ClientSession,
    /// A socket is open and CONNECT was sent on it.
    open: bool,
}

impl Driver {
    pub fn new(options: ClientOptions) -> Driver {
        Driver {
            session: ClientSession::new(options),
            open: false,
        }
    }

    pub fn session(&self) -> &ClientSession {
        &self.session
    }

    /// True from [`Driver::opened`] to [`Driver::closed`].
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// True when CONNACK was accepted on the open socket.
    pub fn is_connected(&self) -> bool {
        self.open && self.session.is_connected()
    }

    /// A new socket opened: send CONNECT.
    pub fn opened(&mut self, now_ms: u64) -> Step {
        let mut step = Step::default();
        self.open = true;
        match self.session.connect(now_ms) {
            Ok(()) => step.send = self.session.take_outgoing(),
            Err(e) => step.fail(e),
        }
        step
    }

    /// The socket closed (either side): nothing more goes out until
    /// [`Driver::opened`].
    pub fn closed(&mut self) {
        self.open = false;
    }

    /// Bytes arrived: decode, react, reply.
    pub fn received(&mut self, bytes: &[u8], now_ms: u64) -> Step {
        let mut step = Step::default();
        if !self.open {
            return step;
        }
        match self.session.receive(bytes, now_ms) {
            Ok(events) => {
                for event in events {
                    self.handle(event, now_ms, &mut step);
                    if step.close {
                        break;
                    }
                }
            }
            Err(e) => step.fail(e),
        }
        // Replies (PUBACK, SUBSCRIBE, …) still go out before a close.
        step.send = self.session.take_outgoing();
        step
    }

    /// Call every second: keepalive pings, and failure when they go
    /// unanswered.
    pub fn tick(&mut self, now_ms: u64) -> Step {
        let mut step = Step::default();
        if !self.open {
            return step;
        }
        match self.session.tick(now_ms) {
            Ok(()) => step.send = self.session.take_outgoing(),
            Err(e) => step.fail(e),
        }
        step
    }

    /// Encode a PUBLISH; the bytes are to be sent at once.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        now_ms: u64,
    ) -> Result<Option<Bytes>, ClientError> {
        if !self.open {
            return Err(ClientError::NotConnected);
        }
        self.session.publish(topic, payload, qos, retain, now_ms)?;
        Ok(self.session.take_outgoing())
    }

    fn handle(&mut self, event: ClientEvent, now_ms: u64, step: &mut Step) {
        match event {
            ClientEvent::Connected { .. } => {
                step.events
                    .push(TransportEvent::State(ConnState::Connected));
                if let Err(e) = self.session.subscribe(&SUBSCRIPTIONS, now_ms) {
                    step.fail(e);
                }
            }
            ClientEvent::Message(publish) => {
                step.events.push(TransportEvent::Message(Box::new(publish)))
            }
            ClientEvent::Subscribed { reasons, .. } => {
                for ((filter, _), reason) in SUBSCRIPTIONS.iter().zip(&reasons) {
                    if !reason.is_success() {
                        step.events.push(TransportEvent::Error(format!(
                            "the broker refused the subscription to {filter}: {reason:?}"
                        )));
                    }
                }
            }
            ClientEvent::Disconnected { reason } => {
                step.fail(format!("the broker ended the session: {reason:?}"));
            }
            ClientEvent::Unsubscribed { .. }
            | ClientEvent::Published { .. }
            | ClientEvent::PingResponse => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use mqtt::{
        decode, encode, ByteString, ConnAck, Packet, Pid, Properties, Protocol, Publish,
        ReasonCode, SubAck,
    };

    use super::*;

    const V311: Protocol = Protocol::V311;

    fn wire(packet: Packet) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(&packet, V311, &mut out).unwrap();
        out.to_vec()
    }

    fn packets(bytes: Option<Bytes>) -> Vec<Packet> {
        let mut buf = BytesMut::from(&bytes.expect("bytes to send")[..]);
        let mut packets = Vec::new();
        while let Some(p) = decode(&mut buf, V311, u32::MAX).unwrap() {
            packets.push(p);
        }
        assert!(buf.is_empty());
        packets
    }

    fn connack(code: ReasonCode) -> Vec<u8> {
        wire(Packet::ConnAck(ConnAck {
            session_present: false,
            code,
            properties: Properties::default(),
        }))
    }

    fn publish(topic: &str, payload: &'static [u8]) -> Publish {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: true,
            topic: ByteString::from(topic),
            pid: None,
            properties: Properties::default(),
            payload: Bytes::from_static(payload),
        }
    }

    /// A driver past CONNACK, with its SUBSCRIBE's packet id.
    fn connected() -> (Driver, Pid) {
        let mut driver = Driver::new(ClientOptions::new("kite-dash-test"));
        driver.opened(0);
        let step = driver.received(&connack(ReasonCode::Success), 1);
        let sent = packets(step.send);
        let [Packet::Subscribe(subscribe)] = &sent[..] else {
            panic!("expected one SUBSCRIBE, got {sent:?}");
        };
        (driver, subscribe.pid)
    }

    #[test]
    fn open_sends_connect_with_the_client_id() {
        let mut driver = Driver::new(ClientOptions::new("kite-dash-1234abcd"));
        let step = driver.opened(0);
        assert!(!step.close);
        assert!(step.events.is_empty());
        match &packets(step.send)[..] {
            [Packet::Connect(connect)] => {
                assert_eq!(connect.client_id, "kite-dash-1234abcd");
                assert!(connect.clean_start);
            }
            other => panic!("expected CONNECT, got {other:?}"),
        }
        assert!(!driver.is_connected());
    }

    #[test]
    fn connack_reports_connected_and_subscribes_to_everything() {
        let mut driver = Driver::new(ClientOptions::new("d"));
        driver.opened(0);
        let step = driver.received(&connack(ReasonCode::Success), 5);
        assert_eq!(step.events, [TransportEvent::State(ConnState::Connected)]);
        assert!(!step.close);
        match &packets(step.send)[..] {
            [Packet::Subscribe(subscribe)] => {
                let filters: Vec<&str> = subscribe.filters.iter().map(|f| &*f.filter).collect();
                assert_eq!(filters, ["#", "$SYS/#"]);
            }
            other => panic!("expected SUBSCRIBE, got {other:?}"),
        }
        assert!(driver.is_connected());
    }

    #[test]
    fn refused_connack_closes() {
        let mut driver = Driver::new(ClientOptions::new("d"));
        driver.opened(0);
        let step = driver.received(&connack(ReasonCode::NotAuthorized), 5);
        assert!(step.close);
        assert!(matches!(&step.events[..], [TransportEvent::Error(_)]));
        assert!(!driver.is_connected());
    }

    #[test]
    fn messages_are_reported_in_order() {
        let (mut driver, _) = connected();
        let mut bytes = wire(Packet::Publish(publish("a/b", b"1")));
        bytes.extend(wire(Packet::Publish(publish("$SYS/broker/uptime", b"2"))));
        let step = driver.received(&bytes, 2);
        assert_eq!(
            step.events,
            [
                TransportEvent::Message(Box::new(publish("a/b", b"1"))),
                TransportEvent::Message(Box::new(publish("$SYS/broker/uptime", b"2"))),
            ]
        );
        assert_eq!(step.send, None);
    }

    #[test]
    fn refused_subscription_is_reported_but_keeps_the_session() {
        let (mut driver, pid) = connected();
        let suback = wire(Packet::SubAck(SubAck {
            pid,
            properties: Properties::default(),
            reasons: vec![ReasonCode::Success, ReasonCode::UnspecifiedError],
        }));
        let step = driver.received(&suback, 2);
        assert!(!step.close);
        match &step.events[..] {
            [TransportEvent::Error(text)] => assert!(text.contains("$SYS/#"), "{text}"),
            other => panic!("expected one error, got {other:?}"),
        }
        assert!(driver.is_connected());
    }

    #[test]
    fn garbage_closes() {
        let (mut driver, _) = connected();
        let step = driver.received(&[0xF0, 0x00], 2);
        assert!(step.close);
        assert!(matches!(&step.events[..], [TransportEvent::Error(_)]));
    }

    #[test]
    fn publish_needs_an_open_connected_session() {
        let mut driver = Driver::new(ClientOptions::new("d"));
        assert_eq!(
            driver.publish("t", Bytes::from_static(b"x"), QoS::AtMostOnce, false, 0),
            Err(ClientError::NotConnected)
        );
        let (mut driver, _) = connected();
        let sent = driver
            .publish(
                "t/1",
                Bytes::from_static(b"hello"),
                QoS::AtMostOnce,
                false,
                3,
            )
            .unwrap();
        match &packets(sent)[..] {
            [Packet::Publish(p)] => {
                assert_eq!(&*p.topic, "t/1");
                assert_eq!(&p.payload[..], b"hello");
                assert_eq!(p.qos, QoS::AtMostOnce);
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
        driver.closed();
        assert!(!driver.is_connected());
        assert_eq!(
            driver.publish("t", Bytes::new(), QoS::AtMostOnce, false, 4),
            Err(ClientError::NotConnected)
        );
    }

    #[test]
    fn tick_pings_after_the_keepalive_and_fails_without_an_answer() {
        let (mut driver, _) = connected();
        let keep_alive_ms = u64::from(driver.session().options().keep_alive) * 1000;
        assert_eq!(driver.tick(1_000), Step::default());
        let step = driver.tick(1 + keep_alive_ms);
        assert_eq!(packets(step.send), [Packet::PingReq]);
        let step = driver.tick(1 + 2 * keep_alive_ms);
        assert!(step.close);
    }

    #[test]
    fn a_closed_driver_ignores_input_and_reconnects_cleanly() {
        let (mut driver, _) = connected();
        driver.closed();
        assert_eq!(
            driver.received(&connack(ReasonCode::Success), 2),
            Step::default()
        );
        assert_eq!(driver.tick(1_000_000), Step::default());
        let step = driver.opened(3);
        assert!(matches!(&packets(step.send)[..], [Packet::Connect(_)]));
        assert!(!driver.is_connected(), "not before the new CONNACK");
    }
}
