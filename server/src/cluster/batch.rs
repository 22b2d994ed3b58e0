//! Stream messages that carry several MQTT messages: the QoS 1/2 messages
//! of one subject waiting to go to JetStream together become one stream
//! message, so JetStream stores, replicates and acknowledges them once.
//! Each JetStream write costs the NATS servers tens of microseconds of CPU
//! three times over (replicas); an MQTT message alone costs a fraction of
//! that. Under light load a batch holds one message and leaves at once:
//! nothing waits to fill a batch. Batches form while earlier ones wait for
//! their acknowledgements ([`super::messages`] caps how many do).
//!
//! Only messages of one subject share a stream message, so a shared
//! group's consumer, filtered by subject, still gets exactly its topics'
//! messages; MQTT's order holds per topic (its "ordered topic"), and the
//! messages of one subject keep their order across batches.
//!
//! The layout: `u16` origin node id length with the top bit set ([`BATCHED`]),
//! the origin node id, then each message as a `u32` length and its record
//! (`store::encode_retained`). A stream message without the top bit (from
//! a node that sent one MQTT message per stream message) holds one record
//! after the node id. An MQTT message's place in the stream is the stream
//! message's sequence and its index ([`crate::store::stream_position`]).

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::{Hash, Hasher},
};

use async_nats::Subject;
use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::oneshot;

/// The top bit of the first `u16`: the message carries a list of records.
pub(super) const BATCHED: u16 = 0x8000;
/// The most MQTT messages in one stream message (an index is a `u16`).
const MOST: usize = u16::MAX as usize;

/// An MQTT message on its way to JetStream.
pub(super) struct Outgoing {
    /// Shared bytes: a batch and its retries take it without a copy.
    pub(super) subject: Subject,
    /// Its record (`store::encode_retained`).
    pub(super) record: Bytes,
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
        let mut end = node.len().min(usize::from(!BATCHED));
        while !node.is_char_boundary(end) {
            end -= 1;
        }
        let node = &node[..end];
        let mut header = BytesMut::with_capacity(2 + node.len());
        header.put_u16(BATCHED | node.len() as u16);
        header.put_slice(node.as_bytes());
        Batcher {
            header: header.freeze(),
            nonce,
            seq: 0,
        }
    }

    /// The batches of `taken`, in the order their subjects first appear:
    /// one per subject, more where one would exceed `room`, the most
    /// payload bytes of a stream message. A message larger than that goes
    /// alone (JetStream refuses it if it must).
    pub(super) fn batches(
        &mut self,
        taken: impl IntoIterator<Item = Outgoing>,
        room: usize,
    ) -> Vec<Batch> {
        let taken: Vec<Outgoing> = taken.into_iter().collect();
        // Each subject's bytes, so each batch is allocated once at its size
        // (grown record by record, it was reallocated over and over).
        let mut places: HashMap<Key, Place> = HashMap::new();
        for outgoing in &taken {
            let need = 4 + outgoing.record.len();
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
        for outgoing in taken {
            let need = 4 + outgoing.record.len();
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
                    filling.push(self.open(outgoing.subject, size));
                    i
                }
            };
            place.left -= need;
            let batch = &mut filling[i];
            batch.payload.put_u32(outgoing.record.len() as u32);
            batch.payload.put_slice(&outgoing.record);
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

    /// A batch for `size` bytes of records.
    fn open(&mut self, subject: Subject, size: usize) -> Filling {
        self.seq += 1;
        let mut payload = BytesMut::with_capacity(self.header.len() + size);
        payload.put_slice(&self.header);
        Filling {
            subject,
            id: format!("{:016x}{:x}", self.nonce, self.seq),
            payload,
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

/// The origin node and the MQTT message records of a stream message;
/// `None` if it is cut short.
pub(super) fn records(payload: &[u8]) -> Option<(&[u8], Vec<&[u8]>)> {
    let head = u16::from_be_bytes(payload.get(..2)?.try_into().ok()?);
    let len = usize::from(head & !BATCHED);
    let origin = payload.get(2..2 + len)?;
    let mut rest = payload.get(2 + len..)?;
    if head & BATCHED == 0 {
        return Some((origin, vec![rest]));
    }
    let mut records = Vec::new();
    while !rest.is_empty() {
        let n = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        records.push(rest.get(4..4 + n)?);
        rest = &rest[4 + n..];
    }
    Some((origin, records))
}

/// The [`records`] of stream message `sequence`, each with its position in
/// the stream ([`crate::store::stream_position`]); records past the last
/// index a position names are left out.
pub(super) fn positioned(sequence: u64, records: Vec<&[u8]>) -> impl Iterator<Item = (u64, &[u8])> {
    (0..=u16::MAX)
        .zip(records)
        .map(move |(index, record)| (crate::store::stream_position(sequence, index), record))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(subject: &str, record: &'static [u8]) -> Outgoing {
        Outgoing {
            subject: subject.into(),
            record: Bytes::from_static(record),
            done: Some(oneshot::channel().0),
        }
    }

    #[test]
    fn messages_of_one_subject_share_a_stream_message_in_order() {
        let mut batcher = Batcher::new("n1", 7);
        let batches = batcher.batches(
            [
                outgoing("a", b"1"),
                outgoing("b", b"2"),
                outgoing("a", b"3"),
            ],
            1 << 16,
        );
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].subject.as_str(), "a");
        assert_eq!(batches[1].subject.as_str(), "b");
        assert_eq!(batches[0].done.len(), 2);
        let (origin, records) = records(&batches[0].payload).expect("whole");
        assert_eq!(origin, b"n1");
        assert_eq!(records, [&b"1"[..], &b"3"[..]]);
        assert_eq!(records_of(&batches[1]), [&b"2"[..]]);
        // Ids never repeat within a run.
        assert_ne!(batches[0].id, batches[1].id);
        let next = batcher.batches([outgoing("a", b"4")], 1 << 16);
        assert!(next[0].id != batches[0].id && next[0].id != batches[1].id);
    }

    fn records_of(batch: &Batch) -> Vec<&[u8]> {
        records(&batch.payload).expect("whole").1
    }

    #[test]
    fn a_full_batch_starts_another_and_a_large_message_goes_alone() {
        // Room for the header (4) and two 1-byte records (5 each).
        let mut batcher = Batcher::new("n1", 7);
        let big: &'static [u8] = &[9; 40];
        let batches = batcher.batches(
            [
                outgoing("a", b"1"),
                outgoing("a", b"2"),
                outgoing("a", b"3"),
                outgoing("a", big),
            ],
            14,
        );
        let split: Vec<Vec<&[u8]>> = batches.iter().map(records_of).collect();
        assert_eq!(split, [vec![&b"1"[..], b"2"], vec![b"3"], vec![big]]);
    }

    #[test]
    fn a_stream_message_of_one_record_reads_as_before() {
        let mut payload = vec![0, 2];
        payload.extend_from_slice(b"abrecord");
        assert_eq!(records(&payload), Some((&b"ab"[..], vec![&b"record"[..]])));
        assert_eq!(records(&[0, 9, 1]), None);
        // A batch cut inside a record.
        assert_eq!(records(&[0x80, 1, b'a', 0, 0, 0, 5, 1]), None);
    }
}
