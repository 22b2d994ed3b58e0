//! Stream messages that carry several MQTT messages: the QoS 1/2 messages
//! of one subject waiting to go to JetStream together become one stream
//! message, so JetStream stores, replicates and acknowledges them once.
//! Each JetStream write costs the NATS servers tens of microseconds of CPU
//! three times over (replicas); an MQTT message alone costs a fraction of
//! that. Under light load a batch holds one message and leaves at once:
//! nothing waits to fill a batch. Batches form while earlier ones wait for
//! their acknowledgements ([`super::messages`] caps how many do).
//!
//! Under load, rounds of batches are paced ([`Pace`]): each JetStream write
//! costs the NATS servers a chain of wakeups whatever its size, so a busy
//! node's rounds leave [`LINGER`] apart and carry more each.
//!
//! Only messages of one subject share a stream message, so a shared
//! group's consumer, filtered by subject, still gets exactly its topics'
//! messages; MQTT's order holds per topic (its "ordered topic"), and the
//! messages of one subject keep their order across batches.
//!
//! The layout: a `u16` with the top two bits set ([`COMPACT`]) and the
//! origin node id's length, the node id, then the messages in
//! [`super::compact`] form. Read too, from nodes before it: [`BATCHED`]
//! alone (each message as a `u32` length and its whole record,
//! `store::encode_retained`), or neither bit (one record after the node
//! id). Nodes from before the compact form cannot read it: upgrade a
//! cluster's nodes together. An MQTT message's place in the stream is the
//! stream message's sequence and its index
//! ([`crate::store::stream_position`]).

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::{Hash, Hasher},
    time::Duration,
};

use async_nats::Subject;
use bytes::{BufMut, Bytes, BytesMut};
use tokio::{sync::oneshot, time::Instant};

use super::compact::{self, Origins, Record, Records};
use crate::protocol::message::Message;

/// The top bit of the first `u16`: the message carries a list of records.
pub(super) const BATCHED: u16 = 0x8000;
/// The top two bits: the records are in [`compact`] form.
pub(super) const COMPACT: u16 = 0xC000;
/// The most MQTT messages in one stream message (an index is a `u16`).
const MOST: usize = u16::MAX as usize;

/// A round of at least this many MQTT messages says the node is busy.
const BUSY: usize = 32;
/// How far apart a busy node's rounds leave. Fan-in QoS 1 on a hand
/// cluster (3 NATS servers, 3 nodes, 100 publishers on node 1): without it
/// 219-230k msg/s, the NATS servers 7.8-8.5 s of CPU over the run; 3 ms
/// 249-265k, 6.3-6.6 s; 5 ms 238-252k, 5.5 s; 10 ms 235-238k; 20 ms
/// 163-165k (rounds hit their caps). Kafka's producers wait 5 ms too.
pub(super) const LINGER: Duration = Duration::from_millis(5);

/// When the next round of batches may leave: at once after a small round
/// (a message alone, light load: nothing is held back), [`LINGER`] after
/// the start of a busy one (what comes meanwhile gathers into it).
pub(super) struct Pace {
    next: Instant,
}

impl Pace {
    pub(super) fn new(now: Instant) -> Pace {
        Pace { next: now }
    }

    /// A round of `count` MQTT messages left at `now`.
    pub(super) fn took(&mut self, count: usize, now: Instant) {
        self.next = if count >= BUSY { now + LINGER } else { now };
    }

    /// The earliest the next round leaves.
    pub(super) fn next(&self) -> Instant {
        self.next
    }
}

/// An MQTT message on its way to JetStream.
pub(super) struct Outgoing {
    /// Shared bytes: a batch and its retries take it without a copy.
    pub(super) subject: Subject,
    /// The message: its parts are shared, written once into its batch.
    pub(super) message: Message,
    /// Resolves the publisher's ticket; dropped unsent, it fails it.
    pub(super) done: Option<oneshot::Sender<()>>,
}

/// One stream message: MQTT messages of one subject, in order.
pub(super) struct Batch {
    pub(super) subject: Subject,
    /// `Nats-Msg-Id`: a retried batch is stored once.
    pub(super) id: String,
    pub(super) payload: Bytes,
    /// One per MQTT message that waits for the batch to be stored.
    pub(super) done: Vec<oneshot::Sender<()>>,
}

/// A batch being filled.
struct Filling {
    subject: Subject,
    id: String,
    payload: BytesMut,
    /// The client ids its messages brought so far.
    origins: Origins,
    count: usize,
    done: Vec<oneshot::Sender<()>>,
}

/// Makes a node's batches: its origin header and its message ids.
pub(super) struct Batcher {
    /// The origin header: length (with [`BATCHED`]) and node id.
    header: Bytes,
    nonce: u64,
    seq: u64,
}

impl Batcher {
    pub(super) fn new(node: &str, nonce: u64) -> Batcher {
        // A node id is far shorter; one that is not is cut at a character.
        let mut end = node.len().min(usize::from(!COMPACT));
        while !node.is_char_boundary(end) {
            end -= 1;
        }
        let node = &node[..end];
        let mut header = BytesMut::with_capacity(2 + node.len());
        header.put_u16(COMPACT | node.len() as u16);
        header.put_slice(node.as_bytes());
        Batcher {
            header: header.freeze(),
            nonce,
            seq: 0,
        }
    }

    /// The batches of `taken` (emptied, its room kept for the next round),
    /// in the order their subjects first appear: one per subject, more
    /// where one would exceed `room`, the most payload bytes of a stream
    /// message. A message larger than that goes alone (JetStream refuses it
    /// if it must).
    pub(super) fn batches(&mut self, taken: &mut Vec<Outgoing>, room: usize) -> Vec<Batch> {
        // Each subject's bytes, so each batch is allocated once at its size
        // (grown record by record, it was reallocated over and over).
        let mut places: HashMap<Key, Place> = HashMap::new();
        for outgoing in taken.iter() {
            let need = compact::most_bytes(&outgoing.message);
            match places.get_mut(&*outgoing.subject) {
                Some(place) => place.left += need,
                None => {
                    let place = Place {
                        filling: None,
                        left: need,
                    };
                    places.insert(Key(outgoing.subject.clone()), place);
                }
            }
        }
        let mut filling: Vec<Filling> = Vec::new();
        for outgoing in taken.drain(..) {
            let need = compact::most_bytes(&outgoing.message);
            let place = places
                .get_mut(&*outgoing.subject)
                .expect("every subject counted");
            let fits = place.filling.filter(|&i| {
                let batch = &filling[i];
                batch.count < MOST && batch.payload.len() + need <= room
            });
            let i = match fits {
                Some(i) => i,
                None => {
                    let i = filling.len();
                    place.filling = Some(i);
                    let size = place.left.min(room).max(need);
                    filling.push(self.open(outgoing.subject, &outgoing.message.topic, size));
                    i
                }
            };
            place.left -= need;
            let batch = &mut filling[i];
            compact::put_message(&mut batch.payload, &mut batch.origins, &outgoing.message);
            batch.count += 1;
            batch.done.extend(outgoing.done);
        }
        filling
            .into_iter()
            .map(|batch| Batch {
                subject: batch.subject,
                id: batch.id,
                payload: batch.payload.freeze(),
                done: batch.done,
            })
            .collect()
    }

    /// A batch of `topic` for `size` bytes of records.
    fn open(&mut self, subject: Subject, topic: &str, size: usize) -> Filling {
        self.seq += 1;
        let mut payload = BytesMut::with_capacity(self.header.len() + 5 + topic.len() + size);
        payload.put_slice(&self.header);
        compact::put_topic(&mut payload, topic);
        Filling {
            subject,
            id: format!("{:016x}{:x}", self.nonce, self.seq),
            payload,
            origins: Origins::default(),
            count: 0,
            done: Vec::new(),
        }
    }
}

/// Where a subject's records go while batches are made.
struct Place {
    /// Its batch being filled.
    filling: Option<usize>,
    /// The bytes of its records not yet placed.
    left: usize,
}

/// A subject as a map key, found by its `&str`: a clone shares its bytes
/// (`Subject` itself has no `Hash`).
#[derive(PartialEq, Eq)]
struct Key(Subject);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, for `Borrow<str>`.
        self.0.as_str().hash(state);
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// The origin node and the MQTT messages of a stream message; `None` if
/// it is cut short.
pub(super) fn records(payload: &Bytes) -> Option<(&[u8], Records)> {
    let head = u16::from_be_bytes(payload.get(..2)?.try_into().ok()?);
    let compact = head & COMPACT == COMPACT;
    let len = usize::from(head & if compact { !COMPACT } else { !BATCHED });
    let origin = payload.get(2..2 + len)?;
    let start = 2 + len;
    if compact {
        return Some((origin, compact::read(payload.slice(start..))?));
    }
    if head & BATCHED == 0 {
        return Some((
            origin,
            Records::whole(
                payload.clone(),
                std::iter::once(start..payload.len()).collect(),
            ),
        ));
    }
    let mut ranges = Vec::new();
    let mut at = start;
    while at < payload.len() {
        let n = u32::from_be_bytes(payload.get(at..at + 4)?.try_into().ok()?) as usize;
        payload.get(at + 4..at + 4 + n)?;
        ranges.push(at + 4..at + 4 + n);
        at += 4 + n;
    }
    Some((origin, Records::whole(payload.clone(), ranges)))
}

/// The [`records`] of stream message `sequence`, each with its position in
/// the stream ([`crate::store::stream_position`]); records past the last
/// index a position names are left out.
pub(super) fn positioned(
    sequence: u64,
    records: &Records,
) -> impl Iterator<Item = (u64, Record<'_>)> {
    (0..=u16::MAX)
        .zip(records.iter())
        .map(move |(index, record)| (crate::store::stream_position(sequence, index), record))
}

/// Read `data` as a stream message, and each MQTT message in it: a
/// message's peeked topic and retain flag must be its decoded ones. What
/// `server/fuzz`'s `stream_message` target runs (a panic is a finding).
pub fn check_stream_message(data: &[u8]) {
    let payload = Bytes::copy_from_slice(data);
    let Some((_, records)) = records(&payload) else {
        return;
    };
    for record in records.iter() {
        let peeked = record.peek();
        if let Ok(message) = record.message() {
            if let Some((topic, retain)) = peeked {
                assert_eq!((topic, retain), (&*message.topic, message.retain));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mqtt::QoS;

    use super::*;

    fn outgoing(topic: &str, payload: &'static [u8]) -> Outgoing {
        Outgoing {
            subject: super::super::messages::stream_subject_of(&topic.into()),
            message: Message {
                topic: topic.into(),
                payload: Bytes::from_static(payload),
                qos: QoS::AtLeastOnce,
                retain: false,
                properties: Default::default(),
                origin: Arc::from("p"),
                expires_at: None,
            },
            done: Some(oneshot::channel().0),
        }
    }

    /// The payloads of a batch's messages, and their topics.
    fn payloads(batch: &Batch) -> Vec<Bytes> {
        let (_, records) = records(&batch.payload).expect("whole");
        records
            .iter()
            .map(|r| {
                let m = r.message().expect("decodes");
                assert_eq!(
                    batch.subject,
                    super::super::messages::stream_subject_of(&m.topic)
                );
                m.payload
            })
            .collect()
    }

    #[test]
    fn messages_of_one_subject_share_a_stream_message_in_order() {
        let mut batcher = Batcher::new("n1", 7);
        let batches = batcher.batches(
            &mut vec![
                outgoing("a", b"1"),
                outgoing("b", b"2"),
                outgoing("a", b"3"),
            ],
            1 << 16,
        );
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].done.len(), 2);
        let (origin, _) = records(&batches[0].payload).expect("whole");
        assert_eq!(origin, b"n1");
        assert_eq!(payloads(&batches[0]), [&b"1"[..], &b"3"[..]]);
        assert_eq!(payloads(&batches[1]), [&b"2"[..]]);
        // Ids never repeat within a run.
        assert_ne!(batches[0].id, batches[1].id);
        let next = batcher.batches(&mut vec![outgoing("a", b"4")], 1 << 16);
        assert!(next[0].id != batches[0].id && next[0].id != batches[1].id);
    }

    #[test]
    fn a_full_batch_starts_another_and_a_large_message_goes_alone() {
        // After the header (4) and the topic (2), the first 1-byte message
        // takes 6 bytes (with its client id), the second 4; each is sized
        // at 16 before it is written: a third does not fit in 31.
        let mut batcher = Batcher::new("n1", 7);
        let big: &'static [u8] = &[9; 40];
        let batches = batcher.batches(
            &mut vec![
                outgoing("a", b"1"),
                outgoing("a", b"2"),
                outgoing("a", b"3"),
                outgoing("a", big),
            ],
            31,
        );
        let split: Vec<Vec<Bytes>> = batches.iter().map(payloads).collect();
        assert_eq!(split, [vec![&b"1"[..], b"2"], vec![b"3"], vec![big]]);
    }

    #[test]
    fn a_small_round_lets_the_next_leave_at_once_a_busy_one_spaces_it() {
        let start = Instant::now();
        let mut pace = Pace::new(start);
        assert_eq!(pace.next(), start);
        // A message alone, or a few: nothing waits.
        pace.took(1, start);
        assert_eq!(pace.next(), start);
        pace.took(BUSY - 1, start);
        assert_eq!(pace.next(), start);
        // A busy round: the next leaves LINGER after it began.
        let later = start + Duration::from_millis(1);
        pace.took(BUSY, later);
        assert_eq!(pace.next(), later + LINGER);
        // Load gone: the next small round lets the one after go at once.
        let quiet = later + LINGER;
        pace.took(1, quiet);
        assert_eq!(pace.next(), quiet);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_and_any_damaged_batch_read_without_a_panic(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            at in proptest::prelude::any::<usize>(),
            byte in proptest::prelude::any::<u8>(),
        ) {
            check_stream_message(&data);
            let mut taken = vec![outgoing("a/b", b"one"), outgoing("a/b", b"two")];
            let batch = Batcher::new("n1", 1).batches(&mut taken, 1 << 16).remove(0);
            let mut damaged = batch.payload.to_vec();
            let at = at % damaged.len();
            damaged[at] = byte;
            check_stream_message(&damaged);
            check_stream_message(&damaged[..at]);
        }
    }

    /// The payloads of an older node's stream message.
    fn older(payload: Vec<u8>) -> Option<(Vec<u8>, Vec<Bytes>)> {
        let payload = Bytes::from(payload);
        let (origin, records) = records(&payload)?;
        let payloads = records
            .iter()
            .map(|r| Some(r.message().ok()?.payload))
            .collect::<Option<_>>()?;
        Some((origin.to_vec(), payloads))
    }

    #[test]
    fn stream_messages_of_older_nodes_read_as_before() {
        let record = |payload| crate::store::encode_retained(&outgoing("t", payload).message);
        // One record after the node id.
        let mut one = b"\x00\x02ab".to_vec();
        one.extend(record(b"x"));
        assert_eq!(
            older(one),
            Some((b"ab".to_vec(), vec![Bytes::from_static(b"x")]))
        );
        // A list of u32-length records.
        let mut list = b"\x80\x01a".to_vec();
        for payload in [&b"x"[..], b"yz"] {
            let record = crate::store::encode_retained(&outgoing("t", payload).message);
            list.extend((record.len() as u32).to_be_bytes());
            list.extend(record);
        }
        assert_eq!(
            older(list.clone()),
            Some((
                b"a".to_vec(),
                vec![Bytes::from_static(b"x"), Bytes::from_static(b"yz")]
            ))
        );
        // Cut inside a record, or inside the node id.
        assert_eq!(older(list[..list.len() - 1].to_vec()), None);
        assert_eq!(older(vec![0, 9, 1]), None);
    }
}
