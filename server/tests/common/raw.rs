//! A raw MQTT client over TCP: it sends exactly the bytes a test gives it
//! and decodes replies with the project's codec (`mqtt::decode`).

use std::{collections::VecDeque, time::Duration};

use bytes::BytesMut;
use mqtt::{Packet, Protocol};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

use super::{wire::*, within, Broker, QUIET, WAIT};

/// A raw MQTT connection: bytes out as given, packets in decoded with the
/// project's codec at the protocol of the CONNECT sent.
pub struct Raw {
    stream: TcpStream,
    input: BytesMut,
    /// Packets read while looking for another one (e.g. retained messages
    /// that came before a SUBACK); returned first.
    stash: VecDeque<Packet>,
    pub protocol: Protocol,
    /// A connection cut inside a packet reads as closed (its node was
    /// killed) instead of failing the test.
    cut_is_close: bool,
}

impl Raw {
    /// Open a TCP connection (no CONNECT yet).
    pub async fn open(broker: &Broker, protocol: Protocol) -> Raw {
        let stream = within("TCP connect", TcpStream::connect(broker.addr()))
            .await
            .expect("TCP connect");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            input: BytesMut::new(),
            stash: Default::default(),
            protocol,
            cut_is_close: false,
        }
    }

    /// Open, send `connect`, and return the CONNACK (which must be a success).
    pub async fn connect(broker: &Broker, connect: &Connect<'_>) -> (Raw, mqtt::ConnAck) {
        let protocol = if connect.v5 {
            Protocol::V5
        } else {
            Protocol::V311
        };
        let mut raw = Raw::open(broker, protocol).await;
        raw.send(&connect.bytes()).await;
        let connack = raw.connack().await;
        assert_eq!(connack.code, mqtt::ReasonCode::Success, "CONNACK refused");
        (raw, connack)
    }

    /// A 3.1.1 client with a clean session.
    pub async fn v311(broker: &Broker, client_id: &str) -> Raw {
        Raw::connect(broker, &Connect::v311(client_id)).await.0
    }

    /// A 5.0 client with clean start.
    pub async fn v5(broker: &Broker, client_id: &str) -> Raw {
        Raw::connect(broker, &Connect::v5(client_id)).await.0
    }

    /// Connect to `addr` and send `connect`: the connection and its
    /// CONNACK (which may refuse), or `None` if the node is not there. For
    /// tests where nodes die: a connection cut inside a packet then reads
    /// as closed.
    pub async fn try_connect(
        addr: std::net::SocketAddr,
        connect: &Connect<'_>,
    ) -> Option<(Raw, mqtt::ConnAck)> {
        Self::try_connect_within(addr, connect, WAIT).await
    }

    /// [`Raw::try_connect`], waiting up to `wait` for the CONNACK (a
    /// cluster node may first wait for a dead node's lease to run out).
    pub async fn try_connect_within(
        addr: std::net::SocketAddr,
        connect: &Connect<'_>,
        wait: Duration,
    ) -> Option<(Raw, mqtt::ConnAck)> {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .ok()?
            .ok()?;
        stream.set_nodelay(true).ok()?;
        let mut raw = Raw {
            stream,
            input: BytesMut::new(),
            stash: Default::default(),
            protocol: if connect.v5 {
                Protocol::V5
            } else {
                Protocol::V311
            },
            cut_is_close: true,
        };
        if !raw.try_send(&connect.bytes()).await {
            return None;
        }
        match raw.next_within(wait).await {
            Ok(Some(Packet::ConnAck(connack))) => Some((raw, connack)),
            _ => None,
        }
    }

    /// Send; false if the connection is gone.
    pub async fn try_send(&mut self, bytes: &[u8]) -> bool {
        matches!(
            tokio::time::timeout(WAIT, self.stream.write_all(bytes)).await,
            Ok(Ok(()))
        )
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        within("a write", self.stream.write_all(bytes))
            .await
            .expect("write to the broker");
    }

    /// The next packet, or `None` when the broker closed the connection.
    /// Panics if nothing arrives within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Result<Option<Packet>, ()> {
        if let Some(packet) = self.stash.pop_front() {
            return Ok(Some(packet));
        }
        let deadline = Instant::now() + wait;
        loop {
            match mqtt::decode(&mut self.input, self.protocol, u32::MAX) {
                Ok(Some(packet)) => return Ok(Some(packet)),
                Ok(None) => {}
                Err(err) => panic!("the broker sent bytes our codec rejects: {err}"),
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(()),
                Ok(Ok(0)) | Ok(Err(_)) => {
                    assert!(
                        self.input.is_empty() || self.cut_is_close,
                        "connection closed inside a packet: {:02x?}",
                        &self.input[..]
                    );
                    return Ok(None);
                }
                Ok(Ok(n)) => self.input.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The next packet; panics on timeout or close.
    pub async fn recv(&mut self) -> Packet {
        match self.next_within(WAIT).await {
            Ok(Some(packet)) => packet,
            Ok(None) => panic!("the broker closed the connection; expected a packet"),
            Err(()) => panic!("no packet within {WAIT:?}"),
        }
    }

    /// The next packet's raw bytes (fixed header included); panics on timeout or close.
    pub async fn recv_bytes(&mut self) -> Vec<u8> {
        assert!(
            self.stash.is_empty(),
            "packets already decoded: {:?}",
            self.stash
        );
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(len) = whole_packet_len(&self.input) {
                return self.input.split_to(len).to_vec();
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => panic!("no packet within {WAIT:?}; have {:02x?}", &self.input[..]),
                Ok(Ok(0)) | Ok(Err(_)) => panic!("closed; have {:02x?}", &self.input[..]),
                Ok(Ok(n)) => self.input.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub async fn connack(&mut self) -> mqtt::ConnAck {
        match self.recv().await {
            Packet::ConnAck(connack) => connack,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub async fn publish(&mut self) -> mqtt::Publish {
        match self.recv().await {
            Packet::Publish(publish) => publish,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Assert nothing arrives for `QUIET` (and the connection stays open).
    pub async fn expect_silence(&mut self) {
        match self.next_within(QUIET).await {
            Err(()) => {}
            Ok(Some(packet)) => panic!("expected nothing, got {packet:?}"),
            Ok(None) => panic!("expected nothing, but the broker closed the connection"),
        }
    }

    /// Wait for the broker to close; returns the packets it sent first.
    pub async fn expect_closed(&mut self) -> Vec<Packet> {
        let mut packets = Vec::new();
        loop {
            match self.next_within(WAIT).await {
                Ok(Some(packet)) => packets.push(packet),
                Ok(None) => return packets,
                Err(()) => panic!("the broker did not close the connection; got {packets:?}"),
            }
        }
    }

    /// Wait for the close; the only packet allowed before it is one v5
    /// DISCONNECT, whose reason code is returned.
    pub async fn expect_disconnect(&mut self) -> Option<mqtt::ReasonCode> {
        let packets = self.expect_closed().await;
        match packets.as_slice() {
            [] => None,
            [Packet::Disconnect(d)] => Some(d.reason),
            other => panic!("expected at most one DISCONNECT before the close, got {other:?}"),
        }
    }

    /// Subscribe to one filter with an options byte and return the SUBACK reason byte.
    pub async fn subscribe(&mut self, pid: u16, filter: &str, options: u8) -> u8 {
        let v5 = self.protocol == Protocol::V5;
        self.send(&subscribe(v5, pid, &[], &[(filter, options)]))
            .await;
        let mut early = Vec::new();
        let reason = loop {
            match self.recv().await {
                Packet::SubAck(suback) => {
                    assert_eq!(suback.pid.get(), pid, "SUBACK packet id");
                    break suback.reasons[0].as_u8();
                }
                Packet::Publish(p) => early.push(Packet::Publish(p)),
                other => panic!("expected SUBACK, got {other:?}"),
            }
        };
        self.stash.extend(early);
        reason
    }

    /// Publish and complete the flow: PUBACK for QoS 1, PUBREC → PUBREL →
    /// PUBCOMP for QoS 2. Returns the PUBACK / PUBREC reason code.
    pub async fn publish_acked(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        pid: u16,
        retain: bool,
        properties: &[u8],
    ) -> mqtt::ReasonCode {
        let v5 = self.protocol == Protocol::V5;
        self.send(&publish(v5, topic, payload, qos, pid, retain, properties))
            .await;
        if qos == 0 {
            self.sync().await;
            return mqtt::ReasonCode::Success;
        }
        match (qos, self.recv().await) {
            (1, Packet::PubAck(ack)) if ack.pid.get() == pid => ack.reason,
            (2, Packet::PubRec(rec)) if rec.pid.get() == pid => {
                if rec.reason.is_success() {
                    self.send(&pubrel(pid)).await;
                    match self.recv().await {
                        Packet::PubComp(comp) if comp.pid.get() == pid => {}
                        other => panic!("expected PUBCOMP {pid}, got {other:?}"),
                    }
                }
                rec.reason
            }
            (_, other) => panic!("expected the QoS {qos} acknowledgement of {pid}, got {other:?}"),
        }
    }

    /// PINGREQ, then wait for PINGRESP: everything sent before was handled.
    /// Packets that arrive first are kept for the next `recv`.
    pub async fn sync(&mut self) {
        self.send(&PINGREQ).await;
        let mut early = Vec::new();
        loop {
            match self.recv().await {
                Packet::PingResp => break,
                other => early.push(other),
            }
        }
        self.stash.extend(early);
    }

    /// Drop the TCP connection without DISCONNECT.
    pub fn drop_socket(self) {
        drop(self);
    }
}

/// Length of the first whole packet in `buf`, if it is all there.
fn whole_packet_len(buf: &[u8]) -> Option<usize> {
    let mut len = 0usize;
    for (i, byte) in buf.iter().skip(1).take(4).enumerate() {
        len |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            let total = 1 + i + 1 + len;
            return (buf.len() >= total).then_some(total);
        }
    }
    None
}
