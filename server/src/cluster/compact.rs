//! The compact form of the MQTT messages of one stream message
//! ([`super::batch`]). Every message of a stream message has the same
//! topic (batches are made per subject) and, under fan-in, most come from a
//! few publishers: the topic is written once, each publisher's client id
//! once per stream message, and each message keeps only what a delivery
//! needs: QoS, retain, expiry, payload. A message with MQTT 5 properties
//! travels as a whole store record (`store::encode_retained`) inside it.
//! A 64-byte payload took 135 bytes of the stream as a whole record (an MQTT
//! 5 PUBLISH, the expiry in 8 bytes, the client id, u32 lengths), 67 here:
//! every byte is stored, replicated and delivered by three NATS servers.
//!
//! The layout (after the batch header):
//! - varint topic length, the topic;
//! - each message: a flags byte ([`QOS`] bits, [`RETAIN`], [`EXPIRES`],
//!   [`WHOLE`]; another bit set makes the stream message unreadable), then
//!   - [`WHOLE`]: varint length, the store record; otherwise
//!   - varint origin: an index into the client ids this stream message
//!     brought so far; the next index brings a new one (varint length, the
//!     client id follow);
//!   - with [`EXPIRES`]: varint expiry in Unix milliseconds;
//!   - varint payload length, the payload.
//!
//! Varints are LEB128 (7 bits a byte, low first).

use std::{cell::OnceCell, collections::HashMap, ops::Range, sync::Arc};

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use mqtt::QoS;

use crate::{
    protocol::message::Message,
    store::{decode_retained, peek_topic, put_retained, retained_len, RecordError},
    util::clock::{instant_from_unix_ms, unix_ms},
};

/// The QoS, in the flags' low bits.
const QOS: u8 = 0b11;
const RETAIN: u8 = 1 << 2;
/// An expiry follows the origin.
const EXPIRES: u8 = 1 << 3;
/// A whole store record follows instead of the fields.
const WHOLE: u8 = 1 << 4;

/// The client ids a stream message being written brought so far.
#[derive(Default)]
pub(super) struct Origins(HashMap<Arc<str>, u64>);

/// Start a compact stream message's body: its topic.
pub(super) fn put_topic(out: &mut BytesMut, topic: &str) {
    put_varint(out, topic.len() as u64);
    out.put_slice(topic.as_bytes());
}

/// The most bytes [`put_message`] writes for `message`.
pub(super) fn most_bytes(message: &Message) -> usize {
    if !message.properties.is_empty() {
        // Flags, the record's length, the record.
        return 1 + 5 + retained_len(message);
    }
    // Flags, origin index, its length, the expiry, the payload's length.
    let expiry = if message.expires_at.is_some() { 10 } else { 0 };
    1 + 5 + 3 + message.origin.len() + expiry + 5 + message.payload.len()
}

/// Append `message` (of the stream message's topic) to `out`.
pub(super) fn put_message(out: &mut BytesMut, origins: &mut Origins, message: &Message) {
    let mut flags = message.qos as u8;
    if message.retain {
        flags |= RETAIN;
    }
    if !message.properties.is_empty() {
        out.put_u8(flags | WHOLE);
        put_varint(out, retained_len(message) as u64);
        put_retained(out, message);
        return;
    }
    let expires = message.expires_at.map(unix_ms);
    if expires.is_some() {
        flags |= EXPIRES;
    }
    out.put_u8(flags);
    let next = origins.0.len() as u64;
    match origins.0.get(&message.origin) {
        Some(&index) => put_varint(out, index),
        None => {
            origins.0.insert(message.origin.clone(), next);
            put_varint(out, next);
            put_varint(out, message.origin.len() as u64);
            out.put_slice(message.origin.as_bytes());
        }
    }
    if let Some(ms) = expires {
        put_varint(out, ms);
    }
    put_varint(out, message.payload.len() as u64);
    out.put_slice(&message.payload);
}

/// The MQTT messages of one stream message, read in place: where each
/// one's fields are, nothing decoded or shared yet (a node passes over
/// most messages of the cluster: its clients want only some).
pub(super) struct Records {
    /// The compact form's topic; `None` for whole records.
    topic: Option<ByteString>,
    /// Where each client id is, and once made, the id itself.
    origins: Vec<(Range<usize>, OnceCell<Arc<str>>)>,
    body: Bytes,
    entries: Vec<Entry>,
}

/// Where one message is in [`Records::body`].
enum Entry {
    /// A whole store record.
    Whole(Range<usize>),
    Compact {
        flags: u8,
        origin: usize,
        expires_ms: u64,
        payload: Range<usize>,
    },
}

/// One MQTT message of a stream message, not decoded yet.
pub(super) struct Record<'a> {
    records: &'a Records,
    entry: &'a Entry,
}

impl Records {
    /// Whole store records at `ranges` of `body` (older stream messages).
    pub(super) fn whole(body: Bytes, ranges: Vec<Range<usize>>) -> Records {
        Records {
            topic: None,
            origins: Vec::new(),
            body,
            entries: ranges.into_iter().map(Entry::Whole).collect(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = Record<'_>> {
        self.entries.iter().map(|entry| Record {
            records: self,
            entry,
        })
    }
}

impl<'a> Record<'a> {
    /// Its topic and retain flag, without decoding it; `None` if it is not
    /// readable.
    pub(super) fn peek(&self) -> Option<(&'a str, bool)> {
        match (self.entry, &self.records.topic) {
            (Entry::Whole(range), _) => peek_topic(&self.records.body[range.clone()]),
            (Entry::Compact { flags, .. }, Some(topic)) => Some((topic, flags & RETAIN != 0)),
            (Entry::Compact { .. }, None) => None,
        }
    }

    /// The message; its payload shares the stream message's bytes.
    pub(super) fn message(&self) -> Result<Message, RecordError> {
        let records = self.records;
        let (flags, origin, expires_ms, payload) = match self.entry {
            Entry::Whole(range) => return decode_retained(&records.body[range.clone()]),
            Entry::Compact {
                flags,
                origin,
                expires_ms,
                payload,
            } => (*flags, *origin, *expires_ms, payload),
        };
        let (at, id) = &records.origins[origin];
        let origin = id.get_or_init(|| {
            Arc::from(std::str::from_utf8(&records.body[at.clone()]).expect("checked when read"))
        });
        Ok(Message {
            topic: records.topic.clone().ok_or(RecordError::Truncated)?,
            payload: records.body.slice(payload.clone()),
            qos: QoS::from_u8(flags & QOS).expect("checked when read"),
            retain: flags & RETAIN != 0,
            properties: Default::default(),
            origin: origin.clone(),
            expires_at: (flags & EXPIRES != 0).then(|| instant_from_unix_ms(expires_ms)),
        })
    }
}

/// The messages of a compact body (after the batch header); `None` if it is
/// cut short or malformed.
pub(super) fn read(body: Bytes) -> Option<Records> {
    let mut at = 0;
    let topic = take(&body, &mut at)?;
    let topic = ByteString::try_from(body.slice(topic)).ok()?;
    let mut origins = Vec::new();
    let mut entries = Vec::new();
    while at < body.len() {
        let flags = body[at];
        at += 1;
        if flags & !(QOS | RETAIN | EXPIRES | WHOLE) != 0 {
            // A field this build does not know: its layout neither.
            return None;
        }
        if flags & WHOLE != 0 {
            entries.push(Entry::Whole(take(&body, &mut at)?));
            continue;
        }
        QoS::from_u8(flags & QOS)?;
        let origin = usize::try_from(varint(&body, &mut at)?).ok()?;
        if origin == origins.len() {
            let id = take(&body, &mut at)?;
            std::str::from_utf8(&body[id.clone()]).ok()?;
            origins.push((id, OnceCell::new()));
        }
        if origin >= origins.len() {
            return None;
        }
        let expires_ms = if flags & EXPIRES != 0 {
            varint(&body, &mut at)?
        } else {
            0
        };
        let payload = take(&body, &mut at)?;
        entries.push(Entry::Compact {
            flags,
            origin,
            expires_ms,
            payload,
        });
    }
    Some(Records {
        topic: Some(topic),
        origins,
        body,
        entries,
    })
}

/// A varint length at `at`: where that many bytes after it are.
fn take(body: &[u8], at: &mut usize) -> Option<Range<usize>> {
    let len = usize::try_from(varint(body, at)?).ok()?;
    let start = *at;
    let end = start.checked_add(len).filter(|&end| end <= body.len())?;
    *at = end;
    Some(start..end)
}

fn put_varint(out: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8(value as u8 | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

fn varint(body: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *body.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use mqtt::Properties;
    use proptest::prelude::*;

    use super::*;

    fn message(origin: &str, qos: QoS, payload: &[u8]) -> Message {
        Message {
            topic: "a/b".into(),
            payload: Bytes::copy_from_slice(payload),
            qos,
            retain: false,
            properties: Default::default(),
            origin: Arc::from(origin),
            expires_at: None,
        }
    }

    fn body(messages: &[Message]) -> Bytes {
        let mut out = BytesMut::new();
        put_topic(&mut out, "a/b");
        let mut origins = Origins::default();
        for m in messages {
            put_message(&mut out, &mut origins, m);
        }
        out.freeze()
    }

    fn decoded(body: Bytes) -> Vec<Message> {
        let records = read(body).expect("readable");
        records
            .iter()
            .map(|r| r.message().expect("decodes"))
            .collect()
    }

    #[test]
    fn a_message_takes_its_flags_its_origin_s_index_and_its_payload() {
        let one = message("p1", QoS::AtLeastOnce, b"hi");
        let bytes = body(&[one.clone(), one.clone()]);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            3, b'a', b'/', b'b', // the topic, once
            1,                   // flags: QoS 1
            0, 2, b'p', b'1',    // origin 0, new: "p1"
            2, b'h', b'i',       // the payload
            1,                   // flags: QoS 1
            0,                   // origin 0 again: no client id
            2, b'h', b'i',
        ];
        assert_eq!(&bytes[..], expected);
        assert_eq!(decoded(bytes), [one.clone(), one]);
    }

    #[test]
    fn a_64_byte_payload_costs_three_bytes_past_its_first_message() {
        let messages: Vec<Message> = (0..10)
            .map(|i| message(&format!("publisher-{}", i % 2), QoS::AtLeastOnce, &[7; 64]))
            .collect();
        let size = body(&messages).len();
        // The topic (4), two client ids (1 + 11 each), then 1 + 1 + 1 + 64 each.
        assert_eq!(size, 4 + 2 * 12 + 10 * 67);
        for m in &messages {
            assert!(most_bytes(m) >= 67 + 12);
        }
    }

    #[test]
    fn expiry_retain_and_properties_come_back() {
        let mut expiring = message("p", QoS::ExactlyOnce, b"x");
        expiring.retain = true;
        let at = Instant::now() + Duration::from_secs(60);
        expiring.expires_at = Some(at);
        let mut with_properties = message("p", QoS::AtLeastOnce, b"y");
        with_properties.properties = Properties {
            content_type: Some("text/plain".into()),
            user_properties: vec![("k".into(), "v".repeat(5_000).into())],
            ..Properties::default()
        }
        .into();
        let bytes = body(&[expiring.clone(), with_properties.clone()]);
        // A batch is sized before it is written: never short.
        assert!(bytes.len() <= 4 + most_bytes(&expiring) + most_bytes(&with_properties));
        let records = read(bytes).expect("reads");
        assert!(matches!(records.entries[1], Entry::Whole(_)));
        let peeked: Vec<_> = records.iter().map(|r| r.peek()).collect();
        assert_eq!(peeked, [Some(("a/b", true)), Some(("a/b", false))]);
        let got: Vec<Message> = records.iter().map(|r| r.message().unwrap()).collect();
        assert_eq!(got[0].qos, QoS::ExactlyOnce);
        assert!(got[0].retain);
        // Kept to the millisecond.
        let back = got[0].expires_at.expect("an expiry");
        assert!(back.max(at) - back.min(at) < Duration::from_millis(2));
        assert_eq!(got[1], with_properties);
    }

    #[test]
    fn a_body_cut_anywhere_or_naming_an_unknown_origin_is_refused() {
        let whole = body(&[message("p", QoS::AtLeastOnce, b"payload")]);
        for end in 1..whole.len() {
            match read(whole.slice(..end)) {
                // Right after the topic: no message yet, a whole body.
                Some(none) if end == 4 => assert!(none.is_empty()),
                cut => assert!(cut.is_none(), "cut at {end}"),
            }
        }
        // Origin 1 before any: refused, not a panic.
        assert!(read(Bytes::from_static(&[1, b't', 1, 1, 0])).is_none());
        // QoS 3.
        assert!(read(Bytes::from_static(&[1, b't', 3, 0, 1, b'p', 0])).is_none());
        // A flag this build does not know (bit 5).
        assert!(read(Bytes::from_static(&[1, b't', 0x21, 0, 1, b'p', 0])).is_none());
    }

    proptest! {
        #[test]
        fn messages_round_trip(
            parts in proptest::collection::vec(
                (0usize..4, 0u8..3, any::<bool>(), proptest::option::of(1u64..1 << 36),
                 proptest::collection::vec(any::<u8>(), 0..300)),
                0..20,
            )
        ) {
            let messages: Vec<Message> = parts
                .into_iter()
                .map(|(origin, qos, retain, expires, payload)| {
                    let mut m = message(&format!("o{origin}"), QoS::from_u8(qos).unwrap(), &payload);
                    m.retain = retain;
                    m.expires_at = expires.map(|ms| Instant::now() + Duration::from_millis(ms));
                    m
                })
                .collect();
            let back = decoded(body(&messages));
            prop_assert_eq!(back.len(), messages.len());
            for (m, b) in messages.iter().zip(&back) {
                prop_assert_eq!(&m.payload, &b.payload);
                prop_assert_eq!(&m.origin, &b.origin);
                prop_assert_eq!(m.qos, b.qos);
                prop_assert_eq!(m.retain, b.retain);
                // To the millisecond, through the wall clock.
                let apart = match (m.expires_at, b.expires_at) {
                    (Some(x), Some(y)) => Some(x.max(y) - x.min(y)),
                    (None, None) => None,
                    _ => Some(Duration::MAX),
                };
                prop_assert!(apart.is_none_or(|d| d < Duration::from_millis(5)));
                prop_assert_eq!(&b.topic, "a/b");
            }
        }

        #[test]
        fn any_bytes_read_without_a_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = read(Bytes::from(data));
        }
    }
}
