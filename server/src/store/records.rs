//! The byte form of what the store keeps. Messages are stored as MQTT 5
//! PUBLISH packets (the codec we already trust, with every property), framed
//! by a few fields of our own. Every record starts with a format version.

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use mqtt::{Packet, Pid, Protocol, PublishRef, QoS};

use crate::{
    protocol::{
        filters::{options_byte, options_from},
        message::{Message, Outbound},
        records::{Queued, QueuedState, SessionRecord, StoredSubscription},
    },
    util::clock::{instant_from_unix_ms, unix_ms},
};

/// The record format this build writes and reads.
pub(super) const RECORD_VERSION: u8 = 1;

/// Why a record could not be read.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    #[error("record format {0} is newer than this broker understands ({RECORD_VERSION})")]
    NewerVersion(u8),
    #[error("record is truncated")]
    Truncated,
    #[error("record holds a malformed message: {0}")]
    Message(String),
}

struct Reader(Bytes);

impl Reader {
    fn need(&self, n: usize) -> Result<(), RecordError> {
        if self.0.remaining() < n {
            Err(RecordError::Truncated)
        } else {
            Ok(())
        }
    }
    fn u8(&mut self) -> Result<u8, RecordError> {
        self.need(1)?;
        Ok(self.0.get_u8())
    }
    fn u16(&mut self) -> Result<u16, RecordError> {
        self.need(2)?;
        Ok(self.0.get_u16())
    }
    fn u32(&mut self) -> Result<u32, RecordError> {
        self.need(4)?;
        Ok(self.0.get_u32())
    }
    fn u64(&mut self) -> Result<u64, RecordError> {
        self.need(8)?;
        Ok(self.0.get_u64())
    }
    fn bytes(&mut self) -> Result<Bytes, RecordError> {
        let len = self.u32()? as usize;
        self.need(len)?;
        Ok(self.0.split_to(len))
    }
    fn string(&mut self) -> Result<ByteString, RecordError> {
        ByteString::try_from(self.bytes()?).map_err(|_| RecordError::Truncated)
    }
    fn version(&mut self) -> Result<(), RecordError> {
        match self.u8()? {
            RECORD_VERSION => Ok(()),
            v => Err(RecordError::NewerVersion(v)),
        }
    }
}

fn put_bytes(out: &mut BytesMut, data: &[u8]) {
    out.put_u32(data.len() as u32);
    out.put_slice(data);
}

/// The PUBLISH a record keeps, from the message's parts: nothing is cloned
/// to build a packet.
fn publish_of(message: &Message) -> PublishRef<'_> {
    PublishRef {
        dup: false,
        qos: message.qos,
        retain: message.retain,
        topic: &message.topic,
        pid: (message.qos != QoS::AtMostOnce).then(|| Pid::new(1).expect("non-zero")),
        properties: &message.properties,
        payload: &message.payload,
    }
}

fn put_message(out: &mut BytesMut, message: &Message) {
    out.put_u64(message.expires_at.map(unix_ms).unwrap_or(0));
    put_bytes(out, message.origin.as_bytes());
    // Encoded in place, its length written in front once known.
    let at = out.len();
    out.put_u32(0);
    mqtt::encode_publish(&publish_of(message), Protocol::V5, out)
        .expect("a routed message encodes");
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn read_message(r: &mut Reader) -> Result<Message, RecordError> {
    let expires = r.u64()?;
    let origin = r.string()?;
    let packet = r.bytes()?;
    let mut buf = BytesMut::from(&packet[..]);
    match mqtt::decode(&mut buf, Protocol::V5, u32::MAX) {
        Ok(Some(Packet::Publish(publish))) => Ok(Message {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties: publish.properties.into(),
            origin: Arc::from(&*origin),
            expires_at: (expires != 0).then(|| instant_from_unix_ms(expires)),
        }),
        Ok(_) => Err(RecordError::Message("not a PUBLISH".into())),
        Err(err) => Err(RecordError::Message(err.to_string())),
    }
}

/// A retained message.
pub(crate) fn encode_retained(message: &Message) -> Vec<u8> {
    // Sized at once: growing from empty reallocated it several times, then
    // copied it out (a sixth of the CPU of a cluster node taking QoS 1
    // publishes).
    let mut out = BytesMut::with_capacity(retained_len(message));
    put_retained(&mut out, message);
    Vec::from(out)
}

/// The size of the [`encode_retained`] record of `message`.
pub(crate) fn retained_len(message: &Message) -> usize {
    1 + 8
        + 4
        + message.origin.len()
        + 4
        + mqtt::encoded_publish_len(&publish_of(message), Protocol::V5)
}

/// The topic and retain flag of an [`encode_retained`] record, read in
/// place without decoding it: a cluster node's stream reader passes over
/// what nobody on the node wants. `None` if it is not such a record.
pub(crate) fn peek_topic(record: &[u8]) -> Option<(&str, bool)> {
    fn length(data: &[u8]) -> Option<(usize, &[u8])> {
        let (len, rest) = data.split_first_chunk::<4>()?;
        Some((u32::from_be_bytes(*len) as usize, rest))
    }
    let (&version, rest) = record.split_first()?;
    if version != RECORD_VERSION {
        return None;
    }
    // The expiry, then the origin.
    let (origin, rest) = length(rest.get(8..)?)?;
    let (packet_len, rest) = length(rest.get(origin..)?)?;
    let (&first, mut body) = rest.get(..packet_len)?.split_first()?;
    if first >> 4 != 3 {
        return None;
    }
    // The remaining length: 1 to 4 bytes, the top bit says another follows.
    let mut ended = false;
    for _ in 0..4 {
        let (&byte, rest) = body.split_first()?;
        body = rest;
        if byte & 0x80 == 0 {
            ended = true;
            break;
        }
    }
    if !ended {
        return None;
    }
    let (len, body) = body.split_first_chunk::<2>()?;
    let topic = body.get(..usize::from(u16::from_be_bytes(*len)))?;
    Some((std::str::from_utf8(topic).ok()?, first & 1 == 1))
}

/// [`encode_retained`], appended to `out`.
pub(crate) fn put_retained(out: &mut BytesMut, message: &Message) {
    out.put_u8(RECORD_VERSION);
    put_message(out, message);
}

pub(crate) fn decode_retained(data: &[u8]) -> Result<Message, RecordError> {
    let mut r = Reader(Bytes::copy_from_slice(data));
    r.version()?;
    read_message(&mut r)
}

/// A queue entry holding its message: what a session hand-over between
/// cluster nodes carries, and what stores of format 1 kept.
pub(crate) fn encode_queued(outbound: &Outbound, state: QueuedState) -> Vec<u8> {
    let mut out = BytesMut::new();
    put_queued(&mut out, outbound, state);
    out.to_vec()
}

/// [`encode_queued`], appended to `out`.
pub(crate) fn put_queued(out: &mut BytesMut, outbound: &Outbound, state: QueuedState) {
    out.put_u8(RECORD_VERSION);
    put_delivery(out, outbound, state);
    put_message(out, &outbound.message);
}

pub(crate) fn decode_queued(data: &[u8], seq: u64) -> Result<Queued, RecordError> {
    let mut r = Reader(Bytes::copy_from_slice(data));
    r.version()?;
    let (outbound, state) = read_delivery(&mut r, seq, |r| Ok(Arc::new(read_message(r)?)))?;
    Ok(Queued { outbound, state })
}

/// The first byte of a [`encode_delivery`] record: a queue entry that
/// names its message (stored once, under the entry's `seq`) instead of
/// holding it, as [`encode_queued`]'s do.
pub(crate) const DELIVERY_VERSION: u8 = 2;

/// A queue entry without its message: how this one session gets it (QoS,
/// retain flag, subscription ids) and how far its delivery went. The
/// message itself is kept once for every session it was queued for.
#[cfg(test)]
pub(crate) fn encode_delivery(outbound: &Outbound, state: QueuedState) -> Vec<u8> {
    let mut out = BytesMut::new();
    put_naming(&mut out, outbound, state);
    out.to_vec()
}

/// [`encode_delivery`], appended to `out`.
pub(crate) fn put_naming(out: &mut BytesMut, outbound: &Outbound, state: QueuedState) {
    out.put_u8(DELIVERY_VERSION);
    put_delivery(out, outbound, state);
}

/// A queue entry of [`encode_delivery`], with its message looked up by
/// `message` (called once, after the entry's own fields).
pub(crate) fn decode_delivery(
    data: &[u8],
    seq: u64,
    message: impl FnOnce() -> Result<Arc<Message>, RecordError>,
) -> Result<Queued, RecordError> {
    let mut r = Reader(Bytes::copy_from_slice(data));
    match r.u8()? {
        DELIVERY_VERSION => {}
        v => return Err(RecordError::NewerVersion(v)),
    }
    let (outbound, state) = read_delivery(&mut r, seq, |_| message())?;
    Ok(Queued { outbound, state })
}

/// The version byte a queue entry starts with: [`RECORD_VERSION`] for one
/// holding its message, [`DELIVERY_VERSION`] for one naming it.
pub(crate) fn queued_version(data: &[u8]) -> Option<u8> {
    data.first().copied()
}

fn put_delivery(out: &mut BytesMut, outbound: &Outbound, state: QueuedState) {
    out.put_u8(outbound.qos as u8);
    out.put_u8(u8::from(outbound.retain));
    out.put_u16(outbound.subscription_ids.len() as u16);
    for id in &outbound.subscription_ids {
        out.put_u32(*id);
    }
    out.put_slice(&state_bytes(state));
}

/// A queue entry's state: a tag (0 queued, 1 sent, 2 released) and the
/// packet id (0 when queued).
fn state_bytes(state: QueuedState) -> [u8; 3] {
    let (tag, pid) = match state {
        QueuedState::Queued => (0, 0),
        QueuedState::Sent(pid) => (1, pid.get()),
        QueuedState::Released(pid) => (2, pid.get()),
    };
    let [high, low] = pid.to_be_bytes();
    [tag, high, low]
}

fn state_of(tag: u8, pid: u16) -> QueuedState {
    match (tag, Pid::new(pid)) {
        (1, Some(pid)) => QueuedState::Sent(pid),
        (2, Some(pid)) => QueuedState::Released(pid),
        _ => QueuedState::Queued,
    }
}

/// A new state of a queue entry on its own (the store's log keeps it
/// beside the entry instead of writing the entry again): a version byte,
/// then the state as a queue entry holds it.
pub(crate) fn encode_state(state: QueuedState) -> [u8; 4] {
    let [tag, high, low] = state_bytes(state);
    [RECORD_VERSION, tag, high, low]
}

pub(crate) fn decode_state(data: &[u8]) -> Result<QueuedState, RecordError> {
    match data {
        [RECORD_VERSION, tag, high, low] => Ok(state_of(*tag, u16::from_be_bytes([*high, *low]))),
        [RECORD_VERSION, ..] | [] => Err(RecordError::Truncated),
        [newer, ..] => Err(RecordError::NewerVersion(*newer)),
    }
}

fn read_delivery(
    r: &mut Reader,
    seq: u64,
    message: impl FnOnce(&mut Reader) -> Result<Arc<Message>, RecordError>,
) -> Result<(Outbound, QueuedState), RecordError> {
    let qos = QoS::from_u8(r.u8()?).ok_or(RecordError::Truncated)?;
    let retain = r.u8()? != 0;
    let count = r.u16()?;
    let subscription_ids = (0..count).map(|_| r.u32()).collect::<Result<_, _>>()?;
    let tag = r.u8()?;
    let state = state_of(tag, r.u16()?);
    let message = message(r)?;
    Ok((
        Outbound {
            message,
            qos,
            retain,
            subscription_ids,
            seq: Some(seq),
            receipt: None,
            position: 0,
        },
        state,
    ))
}

pub(crate) fn encode_session(record: &SessionRecord) -> Vec<u8> {
    let mut out = BytesMut::new();
    out.put_u8(RECORD_VERSION);
    out.put_u8(record.protocol.level());
    out.put_u32(record.expiry_interval);
    out.put_u64(record.disconnected_at);
    out.put_u32(record.subscriptions.len() as u32);
    for sub in &record.subscriptions {
        put_bytes(&mut out, sub.filter.as_bytes());
        out.put_u8(options_byte(&sub.options));
        out.put_u32(sub.id.unwrap_or(0));
    }
    out.put_u16(record.incoming_qos2.len() as u16);
    for pid in &record.incoming_qos2 {
        out.put_u16(pid.get());
    }
    out.to_vec()
}

pub(crate) fn decode_session(data: &[u8]) -> Result<SessionRecord, RecordError> {
    let mut r = Reader(Bytes::copy_from_slice(data));
    r.version()?;
    let protocol = match r.u8()? {
        3 => Protocol::V31,
        5 => Protocol::V5,
        _ => Protocol::V311,
    };
    let expiry_interval = r.u32()?;
    let disconnected_at = r.u64()?;
    let count = r.u32()?;
    let mut subscriptions = Vec::new();
    for _ in 0..count {
        let filter = r.string()?;
        let options = options_from(r.u8()?);
        let id = r.u32()?;
        subscriptions.push(StoredSubscription {
            filter,
            options,
            id: (id != 0).then_some(id),
        });
    }
    let count = r.u16()?;
    let incoming_qos2 = (0..count)
        .filter_map(|_| r.u16().ok().and_then(Pid::new))
        .collect();
    Ok(SessionRecord {
        protocol,
        expiry_interval,
        disconnected_at,
        subscriptions,
        incoming_qos2,
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use mqtt::{Properties, RetainHandling, SubscriptionOptions};

    fn message() -> Message {
        Message {
            topic: "a/b".into(),
            payload: Bytes::from_static(b"payload"),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: Properties {
                content_type: Some("text/plain".into()),
                user_properties: vec![("k".into(), "v".into())],
                ..Properties::default()
            }
            .into(),
            origin: Arc::from("publisher"),
            expires_at: None,
        }
    }

    #[test]
    fn retained_record_round_trips() {
        assert_eq!(
            decode_retained(&encode_retained(&message())).unwrap(),
            message()
        );
    }

    #[test]
    fn a_retained_record_s_size_is_known_before_it_is_written() {
        let mut large = message();
        large.payload = Bytes::from(vec![7; 20_000]);
        large.expires_at = Some(Instant::now() + Duration::from_secs(9));
        let mut bare = message();
        bare.properties = Default::default();
        bare.qos = QoS::AtMostOnce;
        for m in [message(), large, bare] {
            assert_eq!(retained_len(&m), encode_retained(&m).len());
        }
    }

    #[test]
    fn a_records_topic_and_retain_flag_are_read_without_decoding_it() {
        let retained = message();
        assert_eq!(peek_topic(&encode_retained(&retained)), Some(("a/b", true)));
        // A topic long enough for a remaining length of two bytes, with a
        // NATS wildcard and UTF-8 in it, not retained.
        let long = Message {
            topic: format!("{}/*/é", "x".repeat(300)).into(),
            retain: false,
            ..message()
        };
        let record = encode_retained(&long);
        assert_eq!(peek_topic(&record), Some((&*long.topic, false)));
        // Cut anywhere, or of another format: none, never a wrong topic.
        for end in 0..record.len() - long.payload.len() {
            assert_eq!(peek_topic(&record[..end]), None, "cut at {end}");
        }
        let mut newer = record.clone();
        newer[0] = RECORD_VERSION + 1;
        assert_eq!(peek_topic(&newer), None);
    }

    #[test]
    fn queued_record_round_trips_with_its_state() {
        let outbound = Outbound {
            message: Arc::new(message()),
            qos: QoS::AtLeastOnce,
            retain: false,
            subscription_ids: vec![3, 9],
            seq: Some(42),
            receipt: None,
            position: 0,
        };
        let state = QueuedState::Released(Pid::new(7).unwrap());
        let back = decode_queued(&encode_queued(&outbound, state), 42).unwrap();
        assert_eq!(back.state, state);
        assert_eq!(*back.outbound.message, message());
        assert_eq!(back.outbound.subscription_ids, [3, 9]);
        assert_eq!(back.outbound.seq, Some(42));
    }

    #[test]
    fn a_delivery_record_names_its_message_and_keeps_its_own_fields() {
        let outbound = Outbound {
            message: Arc::new(message()),
            qos: QoS::AtLeastOnce,
            retain: true,
            subscription_ids: vec![4],
            seq: Some(8),
            receipt: None,
            position: 0,
        };
        let state = QueuedState::Sent(Pid::new(3).unwrap());
        let record = encode_delivery(&outbound, state);
        assert_eq!(queued_version(&record), Some(DELIVERY_VERSION));
        assert!(
            record.len() < 16,
            "no message inside: {} bytes",
            record.len()
        );
        let shared = Arc::new(message());
        let back = decode_delivery(&record, 8, || Ok(shared.clone())).unwrap();
        assert!(Arc::ptr_eq(&back.outbound.message, &shared));
        assert_eq!(back.state, state);
        assert!(back.outbound.retain);
        assert_eq!(back.outbound.subscription_ids, [4]);
        let mut newer = record.clone();
        newer[0] = DELIVERY_VERSION + 1;
        assert!(matches!(
            decode_delivery(&newer, 8, || Ok(shared.clone())),
            Err(RecordError::NewerVersion(_))
        ));
    }

    #[test]
    fn session_record_round_trips() {
        let record = SessionRecord {
            protocol: Protocol::V5,
            expiry_interval: 3600,
            disconnected_at: 1_700_000_000_000,
            subscriptions: vec![StoredSubscription {
                filter: "devices/#".into(),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::DoNotSend,
                },
                id: Some(5),
            }],
            incoming_qos2: vec![Pid::new(12).unwrap()],
        };
        assert_eq!(decode_session(&encode_session(&record)).unwrap(), record);
    }

    #[test]
    fn a_record_from_a_newer_broker_is_refused() {
        let mut data = encode_retained(&message());
        data[0] = RECORD_VERSION + 1;
        assert_eq!(
            decode_retained(&data),
            Err(RecordError::NewerVersion(RECORD_VERSION + 1))
        );
    }

    #[test]
    fn expiry_survives_as_wall_clock_time() {
        let mut m = message();
        m.expires_at = Some(Instant::now() + Duration::from_secs(100));
        let back = decode_retained(&encode_retained(&m)).unwrap();
        let left = back.remaining_secs(Instant::now()).unwrap();
        assert!((99..=100).contains(&left), "{left}");
    }
}
