//! QoS 2 PUBLISHes that a node which died had stored in the stream but not
//! yet answered: their client sends them again, and the session rebuilt
//! from that node's last copy must take them for the resends they are.
//!
//! A connected session's live copy is written once what its client's read
//! routed is stored, and the PUBREC leaves only after it
//! ([`super::keeper`]). A node that dies between the two stored the
//! message, but its copy does not name the packet id: the rebuilt session
//! would route the resend again (twice). So each copy says up to which
//! stream sequence its node's writes were stored when it was taken
//! ([`super::parked::Snapshot::written`]); the writes its client made
//! after are stored after that. When a session rebuilt here from a dead
//! node's copy gets a resent (DUP) QoS 2 PUBLISH whose packet id it does
//! not know, [`Unanswered::check`] reads the stream on that topic's
//! subject after `written`, for one the dead node stored from this client
//! with the same payload: found, it is answered and not routed.
//!
//! The read is bounded in time as well, around when the copy was written
//! (the KV entry's time): a connection writes its session's copy again
//! before a QoS 2 PUBLISH when the last one kept is older than
//! `broker::FRESH_COPY`, and a stream write is given up after
//! [`super::writer::RETRY_FOR`], so any such message was stored at most
//! [`AFTER`] after the copy. Copies of one id go one at a time, each
//! retried for `keeper::KEEP_FOR`, so the messages after a copy were
//! stored at most [`BEFORE`] before it was written. A retained message is
//! not checked: its retained value is a write of its own, which the dead
//! node may not have made; it is routed again (at least once).
//!
//! Each stored message answers one resend (a client may send the same
//! payload twice under two ids). What this cannot tell apart: a resend
//! after the session moved on again to a third node (its copy there is
//! normal), or one that arrives [`KEEP`] after the rebuild; those are
//! routed again (at least once).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_nats::jetstream::{self, consumer::DeliverPolicy};
use bytes::Bytes;
use mqtt::QoS;
use time::OffsetDateTime;

use super::{batch, messages, parked};
use crate::broker::backplane::StoredCheck;

/// How long after a copy was written a message it missed can have been
/// stored (see the module): `FRESH_COPY`, then twice `RETRY_FOR` (a
/// message may wait in the outbox while the stream messages before it are
/// retried, then be retried itself), and clocks apart.
const AFTER: Duration = Duration::from_secs(5 + 2 * 20 + 15);
/// How long before a copy was written a message it missed can have been
/// stored: two copy writes of `KEEP_FOR` each (and the last attempt of
/// each, up to 5 s), and clocks apart.
const BEFORE: Duration = Duration::from_secs(2 * (20 + 5) + 15);
/// How long a rebuilt session's resends are checked.
const KEEP: Duration = Duration::from_secs(600);
/// The longest one check reads the stream (then the resend is routed).
const CHECK_WAIT: Duration = Duration::from_secs(10);

/// The sessions rebuilt here from a dead node's copy.
#[derive(Default)]
pub(crate) struct Unanswered {
    rebuilt: Mutex<HashMap<String, Rebuilt>>,
}

/// A session rebuilt from a dead node's copy.
#[derive(Clone)]
struct Rebuilt {
    /// The dead node.
    node: Bytes,
    /// Its writes were stored up to here when the copy was taken.
    written: u64,
    /// When the copy was written (by the bucket's server).
    copied_at: OffsetDateTime,
    /// When it was rebuilt here.
    at: Instant,
    /// The resends answered so far: their topic and payload.
    answered: Arc<Mutex<Vec<(String, Bytes)>>>,
}

impl Unanswered {
    /// The session of `client_id` was rebuilt here from the copy that
    /// `node` (dead) wrote at `copied_at`, its writes stored up to
    /// `written`.
    pub(crate) fn rebuilt(
        &self,
        client_id: &str,
        node: &[u8],
        written: u64,
        copied_at: OffsetDateTime,
    ) {
        let mut rebuilt = self.rebuilt.lock().unwrap_or_else(|e| e.into_inner());
        rebuilt.retain(|_, r| r.at.elapsed() < KEEP);
        rebuilt.insert(
            client_id.to_string(),
            Rebuilt {
                node: Bytes::copy_from_slice(node),
                written,
                copied_at,
                at: Instant::now(),
                answered: Arc::default(),
            },
        );
    }

    /// See `ClientIds::stored_before`.
    pub(crate) fn check(
        &self,
        client: &async_nats::Client,
        client_id: &str,
        topic: &str,
        payload: &[u8],
    ) -> Option<StoredCheck> {
        let rebuilt = self
            .rebuilt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(client_id)
            .filter(|r| r.at.elapsed() < KEEP)
            .cloned()?;
        let (client, client_id) = (client.clone(), client_id.to_string());
        let (topic, payload) = (topic.to_string(), Bytes::copy_from_slice(payload));
        Some(Box::pin(async move {
            let stored = tokio::time::timeout(
                CHECK_WAIT,
                count_stored(&client, &rebuilt, &client_id, &topic, &payload),
            )
            .await;
            let stored = match stored {
                Ok(Ok(stored)) => stored,
                Ok(Err(err)) => {
                    tracing::warn!(client_id, %err, "cluster: could not tell whether a resent QoS 2 message was stored before its node died; it is routed (at least once)");
                    return false;
                }
                Err(_) => {
                    tracing::warn!(client_id, "cluster: could not tell within {CHECK_WAIT:?} whether a resent QoS 2 message was stored before its node died; it is routed (at least once)");
                    return false;
                }
            };
            let mut answered = rebuilt.answered.lock().unwrap_or_else(|e| e.into_inner());
            let found = answer_one(&mut answered, topic, payload, stored);
            if found {
                tracing::info!(client_id, "cluster: a resent QoS 2 message was stored by the node that died before it could answer; answered, not routed again");
            }
            found
        }))
    }
}

/// Whether a resend of (`topic`, `payload`) is one of the `stored` such
/// messages not answered yet: each answers one resend.
fn answer_one(
    answered: &mut Vec<(String, Bytes)>,
    topic: String,
    payload: Bytes,
    stored: usize,
) -> bool {
    let before = answered
        .iter()
        .filter(|(t, p)| *t == topic && *p == payload)
        .count();
    if stored <= before {
        return false;
    }
    answered.push((topic, payload));
    true
}

/// How many QoS 2 messages `client_id` sent on `topic` with `payload` that
/// the dead node stored after its copy.
async fn count_stored(
    client: &async_nats::Client,
    rebuilt: &Rebuilt,
    client_id: &str,
    topic: &str,
    payload: &Bytes,
) -> Result<usize, String> {
    let js = jetstream::new(client.clone());
    let stream = js
        .get_stream(messages::STREAM)
        .await
        .map_err(|err| err.to_string())?;
    if stream.cached_info().state.last_sequence <= rebuilt.written {
        return Ok(0);
    }
    let (from, to) = (rebuilt.copied_at - BEFORE, rebuilt.copied_at + AFTER);
    // From the first write after the copy's, unless that was stored long
    // before the copy (this node wrote nothing for long): then from when
    // the copy's messages can start.
    let next = stream.get_raw_message(rebuilt.written + 1).await;
    let deliver = match next {
        Ok(next) if next.time >= from => DeliverPolicy::ByStartSequence {
            start_sequence: rebuilt.written + 1,
        },
        _ => DeliverPolicy::ByStartTime { start_time: from },
    };
    // Not `stream_subject_of`: its per-thread cache is the publishers'.
    let subject = messages::stream_subject(topic);
    let mut stored = 0;
    parked::read_once(&stream, deliver, vec![subject], |sequence, when, data| {
        if when > to {
            return false;
        }
        if sequence <= rebuilt.written {
            return true;
        }
        let Some((node, records)) = batch::records(data) else {
            return true;
        };
        if node != rebuilt.node {
            return true;
        }
        stored += records
            .iter()
            .filter_map(|record| record.message().ok())
            .filter(|m| {
                m.qos == QoS::ExactlyOnce && &*m.origin == client_id && m.payload == *payload
            })
            .count();
        true
    })
    .await?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stored_message_answers_one_resend() {
        let mut answered = Vec::new();
        let on = |payload: &'static [u8]| ("q2/x".to_string(), Bytes::from_static(payload));
        // The client sent the same payload twice under two ids; both stored.
        for expected in [true, true, false] {
            let (topic, payload) = on(b"on");
            assert_eq!(answer_one(&mut answered, topic, payload, 2), expected);
        }
        // Another payload counts apart; none stored: routed.
        let (topic, payload) = on(b"off");
        assert!(answer_one(&mut answered, topic.clone(), payload.clone(), 1));
        assert!(!answer_one(&mut answered, topic, payload, 1));
        let (topic, payload) = on(b"never");
        assert!(!answer_one(&mut answered, topic, payload, 0));
    }
}
