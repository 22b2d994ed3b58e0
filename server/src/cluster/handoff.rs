//! A persistent session moving to the node its client reconnects to (and
//! the [`Takeover`] request that asks its holder for it).
//!
//! The node that holds a client id keeps it in `kite_owners` while the
//! client is connected and while its persistent session waits for it
//! ([`super::owners`]). A CONNECT that resumes the session on another node
//! takes it over from there:
//! 1. The new node pauses its stream reader between two messages, at
//!    position `P` ([`super::messages::Durable::pause`]).
//! 2. It asks the holder, which closes the connection (0x8E) if there is
//!    one, lets its own reader reach `P` or stay where it is if past, and
//!    at that position `E`, between two messages, takes the parked session
//!    out of its router, store and registry ([`export`]): subscriptions,
//!    QoS 2 ids awaiting PUBREL, and every message in flight (with its
//!    packet id) or waiting, in order.
//! 3. The new node's reader goes on to `E` and, between two messages,
//!    installs the session there ([`install`]), writing it to its store
//!    before the CONNACK says the session is present.
//!
//! Persistent sessions get QoS 1/2 only from the stream, in its order
//! (`Shared::route`), so every message up to `E` went to the session on the
//! old node and every one after it on the new: none is lost, none doubled.
//! QoS 0 messages are not in the stream: one published during the move may
//! miss the session (at most once).
//!
//! A holder that does not answer (the node died) gives nothing: its parked
//! sessions, and those whose clients were connected there, are rebuilt
//! from the copies it kept in their owner records and the stream
//! ([`super::parked`], [`super::keeper`]).

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{
    broker::{restore_sessions, Shared},
    protocol::{
        message::Receipt,
        records::{Queued, QueuedState, SessionRecord},
    },
    routing::registry::Parked,
    store::{
        decode_queued, decode_session, encode_queued, encode_session, now_unix_ms, LoadedSession,
        Op, RecordError, Ticket,
    },
};

/// A session on its way between nodes, encoded.
pub(crate) fn encode(record: &SessionRecord, queue: &[Queued]) -> Vec<u8> {
    let session = encode_session(record);
    let mut out = BytesMut::new();
    out.put_u32(session.len() as u32);
    out.put_slice(&session);
    out.put_u32(queue.len() as u32);
    for queued in queue {
        let entry = encode_queued(&queued.outbound, queued.state);
        out.put_u32(entry.len() as u32);
        out.put_slice(&entry);
    }
    out.to_vec()
}

/// The session [`encode`] made.
pub(crate) fn decode(data: &[u8]) -> Result<(SessionRecord, Vec<Queued>), RecordError> {
    let mut data = Bytes::copy_from_slice(data);
    let take = |data: &mut Bytes| -> Result<Bytes, RecordError> {
        if data.remaining() < 4 {
            return Err(RecordError::Truncated);
        }
        let len = data.get_u32() as usize;
        if data.remaining() < len {
            return Err(RecordError::Truncated);
        }
        Ok(data.split_to(len))
    };
    let record = decode_session(&take(&mut data)?)?;
    if data.remaining() < 4 {
        return Err(RecordError::Truncated);
    }
    let count = data.get_u32();
    let mut queue = Vec::new();
    for _ in 0..count {
        queue.push(decode_queued(&take(&mut data)?, 0)?);
    }
    Ok((record, queue))
}

/// Take the parked session of `client_id` off this node: out of the
/// router, the store and the registry. `None` when none waits here.
pub(crate) fn export(shared: &Shared, client_id: &str) -> Option<Vec<u8>> {
    let parked = shared.registry.take_parked(client_id).ok()?;
    let (record, queue) = state(&parked);
    shared.forget_session(&parked.session);
    tracing::info!(
        client_id,
        queued = queue.len(),
        "session handed to another node"
    );
    Some(encode(&record, &queue))
}

/// The parked session as [`export`] would hand it over, leaving it here:
/// what its owner record keeps for a survivor to rebuild it from if this
/// node dies ([`super::parked`]).
/// With it, the receipts of the shared groups' turns it holds: finished
/// once it is kept.
pub(crate) fn snapshot(parked: &Parked) -> (Vec<u8>, Vec<Arc<dyn Receipt>>) {
    let (record, queue) = state(parked);
    let turns = queue
        .iter()
        .filter_map(|queued| queued.outbound.receipt.clone())
        .collect();
    (encode(&record, &queue), turns)
}

/// A parked session's record and everything it owes its client, in order:
/// in flight (with packet ids), then waiting in its mailbox.
fn state(parked: &Parked) -> (SessionRecord, Vec<Queued>) {
    let mut queue = parked.session.queue();
    queue.extend(parked.rx.waiting().into_iter().map(|outbound| Queued {
        outbound,
        state: QueuedState::Queued,
    }));
    (parked.session.record(now_unix_ms()), queue)
}

/// Make the session another node handed over this node's: stored, then
/// parked and subscribed here for the connection about to attach, complete
/// up to stream position `at` (where this node's reader is: its copy for
/// the other nodes starts there, [`super::keeper`]). A session of that id
/// parked here before (an old one) goes.
pub(crate) fn install(
    shared: &Arc<Shared>,
    client_id: &str,
    record: SessionRecord,
    queue: Vec<Queued>,
    at: u64,
) -> Option<Ticket> {
    if let Ok(old) = shared.registry.take_parked(client_id) {
        shared.forget_session(&old.session);
    }
    let client: Arc<str> = Arc::from(client_id);
    let persistent = shared.store.is_persistent();
    let mut ops = Vec::new();
    if persistent {
        ops.push(Op::PutSession {
            client: client.clone(),
            record: record.clone(),
        });
    }
    let queue: Vec<Queued> = queue
        .into_iter()
        .map(|mut queued| {
            let seq = shared.store.next_seq();
            queued.outbound.seq = Some(seq);
            if persistent {
                ops.push(Op::Enqueue {
                    client: client.clone(),
                    seq,
                    queued: queued.clone(),
                });
            }
            queued
        })
        .collect();
    tracing::info!(
        client_id,
        queued = queue.len(),
        "session taken over from another node"
    );
    let ticket = shared.store.submit(ops, true);
    restore_sessions(
        shared,
        vec![LoadedSession {
            client,
            record,
            queue,
        }],
        at,
    );
    ticket
}

/// What a node asks of the holder of a client id.
pub(super) struct Takeover {
    pub client_id: String,
    /// The client resumes its session: hand it over at this stream
    /// position or past it. `None`: a clean start (the session ends).
    pub position: Option<u64>,
    /// Where the session's second and later pieces go.
    pub inbox: String,
}

impl Takeover {
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.push(u8::from(self.position.is_some()));
        out.extend_from_slice(&self.position.unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&(self.inbox.len() as u16).to_be_bytes());
        out.extend_from_slice(self.inbox.as_bytes());
        out.extend_from_slice(self.client_id.as_bytes());
        out
    }

    pub(super) fn decode(data: &[u8]) -> Option<Takeover> {
        let resumes = *data.first()? == 1;
        let position = u64::from_be_bytes(data.get(1..9)?.try_into().ok()?);
        let len = usize::from(u16::from_be_bytes(data.get(9..11)?.try_into().ok()?));
        let inbox = std::str::from_utf8(data.get(11..11 + len)?)
            .ok()?
            .to_string();
        let client_id = std::str::from_utf8(data.get(11 + len..)?).ok()?.to_string();
        Some(Takeover {
            client_id,
            position: resumes.then_some(position),
            inbox,
        })
    }
}

/// The piece count of an answer saying the holder's reader did not reach
/// the asked position in time: it keeps the session (an older node waits
/// for that many pieces, times out, and reads it as silence too).
const NOT_READY: u32 = u32::MAX;

/// The holder's answer to a [`Takeover`]: the session exported at stream
/// position `at` (`blob`, empty when there is none) in pieces of at most
/// `room` bytes, each headed by `at`, its index and the count of pieces (0:
/// no session; [`NOT_READY`] with `not_ready`).
pub(super) fn answer_pieces(at: u64, blob: &[u8], not_ready: bool, room: usize) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = if blob.is_empty() {
        vec![&[]]
    } else {
        blob.chunks(room).collect()
    };
    let count = match (not_ready, blob.is_empty()) {
        (true, _) => NOT_READY,
        (false, true) => 0,
        (false, false) => chunks.len() as u32,
    };
    let piece = |(index, chunk): (usize, &[u8])| {
        let mut piece = Vec::with_capacity(16 + chunk.len());
        piece.extend_from_slice(&at.to_be_bytes());
        piece.extend_from_slice(&(index as u32).to_be_bytes());
        piece.extend_from_slice(&count.to_be_bytes());
        piece.extend_from_slice(chunk);
        piece
    };
    chunks.into_iter().enumerate().map(piece).collect()
}

/// One piece of an [`answer_pieces`] answer, read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Piece<'a> {
    /// The holder keeps the session for now.
    NotReady,
    /// It held no session of that id.
    NoSession,
    /// A part of the session exported at `at`, one of `count`.
    Part { at: u64, count: u32, data: &'a [u8] },
}

/// Read one piece of an answer; `None` when it is cut short.
pub(super) fn read_piece(piece: &[u8]) -> Option<Piece<'_>> {
    let at = u64::from_be_bytes(piece.get(..8)?.try_into().ok()?);
    let count = u32::from_be_bytes(piece.get(12..16)?.try_into().ok()?);
    Some(match count {
        NOT_READY => Piece::NotReady,
        0 => Piece::NoSession,
        count => Piece::Part {
            at,
            count,
            data: &piece[16..],
        },
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mqtt::{Pid, Protocol, QoS, SubscriptionOptions};

    use super::*;
    use crate::{
        protocol::{message::Message, message::Outbound},
        store::StoredSubscription,
    };

    #[test]
    fn a_session_round_trips_with_its_queue_in_order() {
        let record = SessionRecord {
            protocol: Protocol::V5,
            expiry_interval: 300,
            disconnected_at: 17,
            subscriptions: vec![StoredSubscription {
                filter: "a/#".into(),
                options: SubscriptionOptions {
                    qos: QoS::ExactlyOnce,
                    ..SubscriptionOptions::default()
                },
                id: Some(7),
            }],
            incoming_qos2: vec![Pid::new(9).unwrap()],
        };
        let queued = |n: u8, state| Queued {
            outbound: Outbound {
                message: Arc::new(Message {
                    topic: format!("a/{n}").into(),
                    payload: vec![n].into(),
                    qos: QoS::AtLeastOnce,
                    retain: false,
                    properties: Default::default(),
                    origin: Arc::from("p"),
                    expires_at: None,
                }),
                qos: QoS::AtLeastOnce,
                retain: false,
                subscription_ids: vec![7],
                seq: Some(u64::from(n)),
                receipt: None,
                position: 0,
            },
            state,
        };
        let queue = vec![
            queued(1, QueuedState::Sent(Pid::new(3).unwrap())),
            queued(2, QueuedState::Released(Pid::new(4).unwrap())),
            queued(3, QueuedState::Queued),
        ];
        let (back, got) = decode(&encode(&record, &queue)).unwrap();
        assert_eq!(back.subscriptions, record.subscriptions);
        assert_eq!(back.incoming_qos2, record.incoming_qos2);
        assert_eq!(back.expiry_interval, 300);
        let topics: Vec<_> = got
            .iter()
            .map(|q| q.outbound.message.topic.to_string())
            .collect();
        assert_eq!(topics, ["a/1", "a/2", "a/3"]);
        assert_eq!(got[0].state, QueuedState::Sent(Pid::new(3).unwrap()));
        assert_eq!(got[1].state, QueuedState::Released(Pid::new(4).unwrap()));
        assert_eq!(got[2].state, QueuedState::Queued);
        assert!(decode(&encode(&record, &queue)[..20]).is_err(), "truncated");
    }

    #[test]
    fn a_takeover_answer_comes_in_pieces_and_reads_back() {
        let blob: Vec<u8> = (0..250).map(|n| n as u8).collect();
        let pieces = answer_pieces(9, &blob, false, 100);
        assert_eq!(pieces.len(), 3);
        let mut back = Vec::new();
        for piece in &pieces {
            match read_piece(piece) {
                Some(Piece::Part {
                    at: 9,
                    count: 3,
                    data,
                }) => back.extend_from_slice(data),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(back, blob);
        let none = answer_pieces(9, &[], false, 100);
        assert_eq!(read_piece(&none[0]), Some(Piece::NoSession));
        let not_ready = answer_pieces(9, &[], true, 100);
        assert_eq!(read_piece(&not_ready[0]), Some(Piece::NotReady));
        assert_eq!(read_piece(&pieces[0][..15]), None, "cut short");
    }
}
