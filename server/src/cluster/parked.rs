//! A parked session that outlives the node holding it.
//!
//! When a persistent session parks (its client went away), the node
//! holding it writes a snapshot of it into the id's owner record in
//! `kite_owners` ([`super::owners`]): the session as [`handoff::snapshot`]
//! encodes it (subscriptions, QoS 2 ids awaiting PUBREL, every message in
//! flight with its packet id, then the waiting ones) and the stream
//! position `E` it was taken at, between two messages, by the node's
//! stream reader. From then on the holder's copy is that snapshot plus the
//! stream's QoS 1/2 messages after `E` that match its own subscriptions
//! (QoS 0 from core NATS, which also reaches a parked session, is not
//! rebuilt: at most once). A shared group's turn for it is taken into a
//! new snapshot, and the group counts it delivered only once that is kept
//! ([`super::shares`]).
//!
//! So when the holder dies and the client reconnects elsewhere, that node
//! rebuilds it ([`replay`]): the snapshot, then what the stream holds
//! between `E` and the position `P` its own reader is at, matched against
//! the session's subscriptions as the router matches them (no-local,
//! the highest QoS, every subscription id, retain-as-published), and
//! installs it at `P` ([`handoff::install`]). Nothing is lost and nothing
//! doubled, QoS 2 included: messages in flight come again with their
//! packet ids (DUP), the rest once.
//!
//! The snapshot is fenced by the owner record's revision: it is written
//! only over this node's own claim of the id ([`super::owners`] keeps the
//! revision), never while a CONNECT of the id is being made here, and
//! every CONNECT's claim replaces it ([`super::keeper`] writes it).
//!
//! A session whose client is connected has a live copy there instead, kept
//! as it goes ([`super::keeper`]): complete up to the stream position `E`
//! of the last message it took, and never behind on QoS 2 or its
//! subscriptions. It is rebuilt the same way; the QoS 1 messages its node
//! sent after the copy come again (at least once). One that took nothing
//! from the stream yet has no copy: its client starts a new session (and
//! hears so: session present 0). (A CONNECT accepted while this node could
//! not reach NATS wrote no claim, so an older copy stays: the gap of a node
//! cut off from NATS, as for wills.)

use std::{sync::Arc, time::Duration};

use async_nats::jetstream::{
    self,
    consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer},
};
use bytes::Bytes;
use futures_util::StreamExt;
use mqtt::QoS;
use tokio::sync::{mpsc, oneshot};

use super::{
    batch, handoff,
    keeper::SessionCopy,
    messages::{self, AtPosition, Durable},
};
use crate::{
    broker::Shared,
    protocol::{
        message::{Message, Outbound},
        records::{Queued, QueuedState, SessionRecord},
    },
    store::{now_unix_ms, stream_position, stream_sequence, StoredSubscription, Ticket},
};

/// The first byte of an owner record that carries a parked session (a
/// plain record is the node's id, which never starts with it), as nodes
/// before [`Snapshot::written`] wrote it.
const PARKED: u8 = 0;
/// The same with [`Snapshot::written`].
const PARKED_WRITTEN: u8 = 1;
/// The longest a rebuild reads the stream before giving up (the CONNECT is
/// then refused and the client tries again).
const REPLAY_WAIT: Duration = Duration::from_secs(20);
/// The gap, in stream messages, that the last round of a rebuild reads
/// with this node's reader paused.
const LAST_ROUND: u64 = 64;
/// Stream messages fetched at a time.
const FETCH: usize = 1000;

/// An owner record in `kite_owners`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    /// The holder's node id.
    pub node: Bytes,
    /// Its copy of the session, if it keeps one.
    pub parked: Option<Snapshot>,
}

/// A session's copy in its owner record: a parked session's snapshot or a
/// connected one's live copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The stream position it is complete up to.
    pub at: u64,
    /// The stream sequence up to which the holder's writes were stored when
    /// it was taken: its client's writes after that are not in it
    /// ([`super::unanswered`]). `None` from a node before this was kept.
    pub written: Option<u64>,
    /// The session as [`handoff::encode`] wrote it.
    pub session: Bytes,
}

/// The owner record of a session parked on `node` at stream position
/// `at`, taken when the node's writes were stored up to `written`.
pub(crate) fn owner_value(node: &str, at: u64, written: u64, session: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(19 + node.len() + session.len());
    out.push(PARKED_WRITTEN);
    out.extend_from_slice(&(node.len() as u16).to_be_bytes());
    out.extend_from_slice(node.as_bytes());
    out.extend_from_slice(&at.to_be_bytes());
    out.extend_from_slice(&written.to_be_bytes());
    out.extend_from_slice(session);
    out
}

/// Read an owner record: a plain node id, or one with a parked session.
pub(crate) fn read_owner(value: &Bytes) -> Owner {
    let parked = || -> Option<Owner> {
        let tag = *value.first()?;
        if tag != PARKED && tag != PARKED_WRITTEN {
            return None;
        }
        let u64_at = |from: usize| -> Option<u64> {
            Some(u64::from_be_bytes(
                value.get(from..from + 8)?.try_into().ok()?,
            ))
        };
        let len = usize::from(u16::from_be_bytes(value.get(1..3)?.try_into().ok()?));
        let at = u64_at(3 + len)?;
        let (written, session) = match tag {
            PARKED => (None, 3 + len + 8),
            _ => (Some(u64_at(3 + len + 8)?), 3 + len + 16),
        };
        Some(Owner {
            node: value.slice(3..3 + len),
            parked: Some(Snapshot {
                at,
                written,
                session: value.slice(session..),
            }),
        })
    };
    parked().unwrap_or_else(|| Owner {
        node: value.clone(),
        parked: None,
    })
}

/// True when the session's expiry interval ran out since it parked (a
/// connected session's copy: since the copy).
pub(crate) fn expired(record: &SessionRecord, now_ms: u64) -> bool {
    record.expiry_interval != u32::MAX
        && now_ms.saturating_sub(record.disconnected_at) >= u64::from(record.expiry_interval) * 1000
}

/// What `message` becomes for the session of `client_id` with `record`'s
/// subscriptions, as the router would deliver it: `None` when none of
/// them matches (shared ones are their group's, not the session's).
pub(crate) fn delivery(
    record: &SessionRecord,
    client_id: &str,
    message: Message,
) -> Option<Outbound> {
    let mut found: Option<(QoS, bool, Vec<u32>)> = None;
    for subscription in own_subscriptions(record) {
        if !mqtt::topic::matches(&subscription.filter, &message.topic) {
            continue;
        }
        let options = subscription.options;
        if options.no_local && *message.origin == *client_id {
            continue;
        }
        let (qos, keep_retain, ids) = found.get_or_insert((options.qos, false, Vec::new()));
        *qos = (*qos).max(options.qos);
        *keep_retain |= options.retain_as_published;
        ids.extend(subscription.id);
    }
    let (qos, keep_retain, subscription_ids) = found?;
    Some(Outbound {
        qos: message.qos.min(qos),
        // MQTT-3.3.1-12: retain is cleared unless retain-as-published.
        retain: message.retain && keep_retain,
        message: Arc::new(message),
        subscription_ids,
        seq: None,
        receipt: None,
        position: 0,
    })
}

/// The session's own subscriptions: not its shared ones, whose messages
/// are their group's.
fn own_subscriptions(record: &SessionRecord) -> impl Iterator<Item = &StoredSubscription> {
    record
        .subscriptions
        .iter()
        .filter(|s| !s.filter.starts_with("$share/"))
}

/// The messages of the stream after position `after`, up to `upto`, that
/// the session of `client_id` gets: what its dead holder queued for it
/// since its snapshot. Read with one ephemeral consumer (filtered to the
/// session's own subjects: [`consumer_filters`]), deleted after.
pub(crate) async fn replay(
    client: &async_nats::Client,
    after: u64,
    upto: u64,
    client_id: &str,
    record: &SessionRecord,
) -> Result<Vec<Queued>, String> {
    let mut queue = Vec::new();
    let own: Vec<&str> = own_subscriptions(record).map(|s| &*s.filter).collect();
    if upto <= after || own.is_empty() {
        return Ok(queue);
    }
    let js = jetstream::new(client.clone());
    let stream = js
        .get_stream(messages::STREAM)
        .await
        .map_err(|err| err.to_string())?;
    let first = stream.cached_info().state.first_sequence;
    if stream_sequence(after) + 1 < first {
        tracing::warn!(
            client_id,
            lost = first - stream_sequence(after) - 1,
            "cluster: stream messages published since the session parked were already dropped by the stream's limits"
        );
    }
    let subjects: Vec<String> = own.iter().map(|f| messages::stream_filter(f)).collect();
    let deliver = DeliverPolicy::ByStartSequence {
        start_sequence: stream_sequence(after).max(1),
    };
    let last = stream_sequence(upto);
    let read = read_once(
        &stream,
        deliver,
        consumer_filters(subjects),
        |sequence, _, payload| {
            if sequence > last {
                return false;
            }
            take(
                &mut queue, payload, sequence, after, upto, client_id, record,
            );
            true
        },
    );
    tokio::time::timeout(REPLAY_WAIT, read)
        .await
        .unwrap_or_else(|_| Err(format!("the stream not read within {REPLAY_WAIT:?}")))
        .map(|()| queue)
}

/// Read the message stream once with an ephemeral consumer (deleted
/// after), from `deliver` on, through the `filter_subjects` (all when
/// none), up to its end as it is now: `each` gets every stream message
/// (its sequence, when it was stored, its payload) until it says to stop.
pub(super) async fn read_once(
    stream: &jetstream::stream::Stream,
    deliver: DeliverPolicy,
    filter_subjects: Vec<String>,
    mut each: impl FnMut(u64, time::OffsetDateTime, &Bytes) -> bool,
) -> Result<(), String> {
    let consumer = stream
        .create_consumer(pull::Config {
            deliver_policy: deliver,
            ack_policy: AckPolicy::None,
            filter_subjects,
            inactive_threshold: Duration::from_secs(30),
            num_replicas: 1,
            memory_storage: true,
            ..Default::default()
        })
        .await
        .map_err(|err| err.to_string())?;
    let name = consumer.cached_info().name.clone();
    let read = async {
        let mut consumer = consumer;
        if nothing_pending(&mut consumer).await? {
            return Ok(());
        }
        loop {
            let mut batch = consumer
                .fetch()
                .max_messages(FETCH)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .map_err(|err| err.to_string())?;
            let mut got = 0;
            while let Some(message) = batch.next().await {
                let message = message.map_err(|err| err.to_string())?;
                let info = message.info().map_err(|err| err.to_string())?;
                got += 1;
                if !each(info.stream_sequence, info.published, &message.payload)
                    || info.pending == 0
                {
                    return Ok(());
                }
            }
            if got == 0 && nothing_pending(&mut consumer).await? {
                return Ok(());
            }
        }
    };
    // Deleted however the read ends (a timeout drops it midway).
    struct Delete(jetstream::stream::Stream, String);
    impl Drop for Delete {
        fn drop(&mut self) {
            let (stream, name) = (self.0.clone(), std::mem::take(&mut self.1));
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(5), stream.delete_consumer(&name))
                    .await;
            });
        }
    }
    let _delete = Delete(stream.clone(), name);
    read.await
}

/// The filter subjects of a replay's consumer: the session's own, less
/// those another one covers. JetStream refuses filters that overlap, so
/// when two that remain still do (`a/+/c` and `a/b/+`), none: the replay
/// then reads every stream message and matches here (as it always does).
fn consumer_filters(mut subjects: Vec<String>) -> Vec<String> {
    subjects.sort();
    subjects.dedup();
    let covered: Vec<bool> = (0..subjects.len())
        .map(|i| {
            (0..subjects.len()).any(|j| {
                // Of two equal-covering ones, the first stays.
                j != i
                    && covers(&subjects[j], &subjects[i])
                    && (!covers(&subjects[i], &subjects[j]) || j < i)
            })
        })
        .collect();
    let kept: Vec<String> = subjects
        .into_iter()
        .zip(covered)
        .filter_map(|(subject, covered)| (!covered).then_some(subject))
        .collect();
    let overlapping = kept
        .iter()
        .enumerate()
        .any(|(i, a)| kept[i + 1..].iter().any(|b| overlap(a, b)));
    if overlapping {
        Vec::new()
    } else {
        kept
    }
}

/// True when every subject `narrow` matches, `wide` matches too (NATS
/// patterns: `*` one token, `>` one or more at the end).
fn covers(wide: &str, narrow: &str) -> bool {
    let (mut w, mut n) = (wide.split('.'), narrow.split('.'));
    loop {
        match (w.next(), n.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(t)) if t != ">" => {}
            (Some(a), Some(b)) if a == b && a != "*" && a != ">" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// True when some subject matches both patterns.
fn overlap(a: &str, b: &str) -> bool {
    let (mut x, mut y) = (a.split('.'), b.split('.'));
    loop {
        match (x.next(), y.next()) {
            (Some(">"), Some(_)) | (Some(_), Some(">")) => return true,
            (Some(s), Some(t)) if s == "*" || t == "*" || s == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// True when the consumer has nothing more to deliver (of the stream now).
async fn nothing_pending(consumer: &mut PullConsumer) -> Result<bool, String> {
    let info = consumer.info().await.map_err(|err| err.to_string())?;
    Ok(info.num_pending == 0)
}

/// Queue for the session what one stream message holds between `after`
/// and `upto` (positions: [`stream_position`]).
fn take(
    queue: &mut Vec<Queued>,
    payload: &Bytes,
    sequence: u64,
    after: u64,
    upto: u64,
    client_id: &str,
    record: &SessionRecord,
) {
    let Some((_, records)) = batch::records(payload) else {
        return;
    };
    for (position, data) in batch::positioned(sequence, &records) {
        if position <= after || position > upto {
            continue;
        }
        let Ok(message) = data.message() else {
            continue;
        };
        if let Some(outbound) = delivery(record, client_id, message) {
            queue.push(Queued {
                outbound,
                state: QueuedState::Queued,
            });
        }
    }
}

/// The parked session in an owner record, decoded; the reason when it
/// cannot be used.
pub(crate) fn session(blob: &[u8], now_ms: u64) -> Result<(SessionRecord, Vec<Queued>), String> {
    let (record, queue) = handoff::decode(blob).map_err(|err| err.to_string())?;
    if expired(&record, now_ms) {
        return Err("its session expired".into());
    }
    Ok((record, queue))
}

/// Why a dead node's parked session was not installed here.
pub(crate) enum NotRebuilt {
    /// It cannot be used (unreadable, expired): the client starts anew.
    Unusable(String),
    /// Not now (the stream not read in time): the CONNECT is refused and
    /// the client tries again.
    NotNow(String),
}

/// Rebuild the session of `client_id` that its dead holder parked at
/// stream position `at` (`blob`: [`handoff::snapshot`]) and install it at
/// this node's reader's position. The stream is read in rounds up to where
/// the reader is; the last, short one (at most [`LAST_ROUND`] stream
/// messages, or the fourth) with the reader paused, so the session is
/// installed between two messages and misses none. The receiver gives the
/// install's store ticket.
pub(crate) async fn rebuild(
    durable: &Durable,
    shared: &Arc<Shared>,
    client: &async_nats::Client,
    client_id: &str,
    at: u64,
    blob: &[u8],
) -> Result<oneshot::Receiver<Option<Ticket>>, NotRebuilt> {
    let (record, mut queue) = session(blob, now_unix_ms()).map_err(NotRebuilt::Unusable)?;
    let kept = queue.len();
    let mut from = at;
    let mut round = 0;
    let (upto, go_on) = loop {
        round += 1;
        let (position, go_on) = durable.pause().await.ok_or_else(|| {
            NotRebuilt::NotNow("this node does not read the message stream".into())
        })?;
        let gap = stream_sequence(position).saturating_sub(stream_sequence(from));
        if round < 4 && gap > LAST_ROUND {
            // Read with the reader going on; it is caught up with after.
            drop(go_on);
            let more = replay(client, from, position, client_id, &record);
            queue.extend(more.await.map_err(NotRebuilt::NotNow)?);
            from = position;
            continue;
        }
        // Where it is installed: where the reader is, or, if this node's
        // reader is behind the snapshot, the end of the snapshot's stream
        // message (the reader hands a stream message on whole, so it can
        // stop only there; the rest of that message is read here).
        let upto = position.max(stream_position(stream_sequence(at), u16::MAX));
        break (upto, go_on);
    };
    if upto > from {
        let more = replay(client, from, upto, client_id, &record);
        queue.extend(more.await.map_err(NotRebuilt::NotNow)?);
    }
    // As the holder's queue would have: what came past its bound is dropped.
    let bound = shared.config.max_queued_messages.max(kept);
    let dropped = queue.len().saturating_sub(bound);
    queue.truncate(bound);
    tracing::info!(
        client_id,
        kept,
        from_stream = queue.len() - kept,
        dropped,
        "cluster: a dead node's parked session rebuilt here from its snapshot and the stream"
    );
    let (done, installed) = oneshot::channel();
    let (shared, id) = (shared.clone(), client_id.to_string());
    let install: AtPosition = Box::new(move |at| {
        let at = at.min(upto);
        let _ = done.send(handoff::install(&shared, &id, record, queue, at));
    });
    go_on
        .send(Some((upto, install)))
        .map_err(|_| NotRebuilt::NotNow("the stream reader went on".into()))?;
    Ok(installed)
}

/// Snapshot the session of `client_id` parked here, between two messages
/// of the stream (in the reader), and send it to [`super::keeper::keep`]. Nothing when it
/// is no longer parked by then.
pub(crate) fn snapshot_at_reader(
    durable: &Durable,
    shared: &Arc<Shared>,
    client_id: &str,
    revision_of: impl FnOnce(&str) -> Option<u64> + Send + 'static,
    snapshots: mpsc::UnboundedSender<SessionCopy>,
) {
    let shared = Arc::downgrade(shared);
    let client_id = client_id.to_string();
    // Its client is gone: none of its writes come after this.
    let written = durable.stored_upto();
    durable.at(
        0,
        Box::new(move |at| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            // The claim it is written over (none while a CONNECT of the id
            // is being made here: that claim's record must stay as it is);
            // a claim made after this fails the write.
            let Some(revision) = revision_of(&client_id) else {
                return;
            };
            if let Some((session, turns)) =
                shared.registry.with_parked(&client_id, handoff::snapshot)
            {
                let _ = snapshots.send(SessionCopy {
                    client_id,
                    at,
                    written,
                    session,
                    turns,
                    claim: revision,
                    parked: true,
                    done: None,
                });
            }
        }),
    );
}

#[cfg(test)]
mod tests {
    use mqtt::{Protocol, SubscriptionOptions};

    use super::*;

    fn subscription(filter: &str, qos: QoS, id: Option<u32>) -> StoredSubscription {
        StoredSubscription {
            filter: filter.into(),
            options: SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
            id,
        }
    }

    fn record(subscriptions: Vec<StoredSubscription>) -> SessionRecord {
        SessionRecord {
            protocol: Protocol::V5,
            expiry_interval: 60,
            disconnected_at: 1_000,
            subscriptions,
            incoming_qos2: Vec::new(),
        }
    }

    fn message(topic: &str, qos: QoS, origin: &str, retain: bool) -> Message {
        Message {
            topic: topic.into(),
            payload: Bytes::from_static(b"x"),
            qos,
            retain,
            properties: Default::default(),
            origin: Arc::from(origin),
            expires_at: None,
        }
    }

    #[test]
    fn an_owner_record_reads_back_plain_or_with_its_parked_session() {
        let plain = read_owner(&Bytes::from_static(b"kite-1"));
        assert_eq!(&plain.node[..], b"kite-1");
        assert_eq!(plain.parked, None);
        let value = owner_value("kite-2", 0x0102_0304_0506_0708, 77, b"session");
        let value = Bytes::from(value);
        let parked = read_owner(&value);
        assert_eq!(&parked.node[..], b"kite-2");
        let snapshot = parked.parked.expect("a parked session");
        assert_eq!(snapshot.at, 0x0102_0304_0506_0708);
        assert_eq!(snapshot.written, Some(77));
        assert_eq!(&snapshot.session[..], b"session");
        // Cut short: read as a node id rather than a wrong session.
        let cut = read_owner(&value.slice(..6));
        assert_eq!(cut.parked, None);
        // As a node before `written` wrote it: tag 0, no `written`.
        let older = [&[0u8, 0, 6][..], b"kite-3", &9u64.to_be_bytes(), b"s"].concat();
        let older = read_owner(&Bytes::from(older)).parked.expect("parked");
        assert_eq!(
            (older.at, older.written, &older.session[..]),
            (9, None, &b"s"[..])
        );
    }

    #[test]
    fn overlapping_subscriptions_give_one_delivery_at_the_highest_qos_with_every_id() {
        let record = record(vec![
            subscription("a/#", QoS::AtLeastOnce, Some(1)),
            subscription("a/+", QoS::ExactlyOnce, Some(2)),
            subscription("b/#", QoS::ExactlyOnce, Some(3)),
            subscription("$share/g/a/#", QoS::ExactlyOnce, Some(4)),
        ]);
        let out =
            delivery(&record, "me", message("a/x", QoS::ExactlyOnce, "p", true)).expect("matched");
        assert_eq!(out.qos, QoS::ExactlyOnce);
        let mut ids = out.subscription_ids.clone();
        ids.sort();
        assert_eq!(ids, [1, 2]);
        assert!(!out.retain, "retain cleared without retain-as-published");
        let capped = delivery(
            &record,
            "me",
            message("a/x/y", QoS::ExactlyOnce, "p", false),
        )
        .expect("matched by a/#");
        assert_eq!(
            capped.qos,
            QoS::AtLeastOnce,
            "the lower of publish and subscription"
        );
        assert!(delivery(&record, "me", message("c", QoS::AtLeastOnce, "p", false)).is_none());
    }

    #[test]
    fn no_local_and_retain_as_published_hold_as_in_the_router() {
        let mut sub = subscription("t/#", QoS::AtLeastOnce, None);
        sub.options.no_local = true;
        sub.options.retain_as_published = true;
        let record = record(vec![sub]);
        assert!(delivery(&record, "me", message("t/1", QoS::AtLeastOnce, "me", false)).is_none());
        let out = delivery(
            &record,
            "me",
            message("t/1", QoS::AtLeastOnce, "other", true),
        )
        .expect("someone else's");
        assert!(out.retain);
        assert!(delivery(
            &record,
            "me",
            message("$SYS/x", QoS::AtLeastOnce, "o", false)
        )
        .is_none());
    }

    #[test]
    fn only_the_positions_after_the_snapshot_and_up_to_the_reader_are_taken() {
        let record = record(vec![subscription("t", QoS::AtLeastOnce, None)]);
        let one = message("t", QoS::AtLeastOnce, "p", false);
        let mut batcher = batch::Batcher::new("n", 1);
        let mut outgoing = (0..4)
            .map(|_| batch::Outgoing {
                subject: "KQ.m.t.==".into(),
                message: one.clone(),
                done: None,
            })
            .collect::<Vec<_>>();
        let batches = batcher.batches(&mut outgoing, usize::MAX);
        assert_eq!(batches.len(), 1, "one stream message of four");
        let mut queue = Vec::new();
        take(
            &mut queue,
            &batches[0].payload,
            7,
            stream_position(7, 0),
            stream_position(7, 2),
            "me",
            &record,
        );
        assert_eq!(queue.len(), 2, "indexes 1 and 2 of stream message 7");
    }

    #[test]
    fn a_replay_filters_on_the_session_s_subjects_unless_they_overlap() {
        let of = |filters: &[&str]| {
            consumer_filters(filters.iter().map(|f| messages::stream_filter(f)).collect())
        };
        // One, or several apart: each its own filter.
        assert_eq!(of(&["a/b"]), [messages::stream_filter("a/b")]);
        assert_eq!(of(&["a/b", "c/#"]).len(), 2);
        // One covers the others: it alone.
        assert_eq!(
            of(&["a/#", "a/b", "a/+/c"]),
            [messages::stream_filter("a/#")]
        );
        assert_eq!(of(&["a/+", "a/+"]), [messages::stream_filter("a/+")]);
        assert_eq!(of(&["#", "a/b"]), [messages::stream_filter("#")]);
        // Two that overlap without either covering the other: none.
        assert!(of(&["a/+/c", "a/b/+"]).is_empty());
        assert!(of(&["+/b", "a/+"]).is_empty());
        // `a/#` also matches `a` itself: `a` is covered.
        assert_eq!(of(&["a", "a/#"]), [messages::stream_filter("a/#")]);
    }

    #[test]
    fn subject_patterns_cover_and_overlap_as_nats_matches_them() {
        assert!(covers("K.a.>", "K.a.b.=="));
        assert!(covers("K.a.*.==", "K.a.b.=="));
        assert!(!covers("K.a.*.==", "K.a.>"));
        assert!(!covers("K.a.b.==", "K.a.*.=="));
        assert!(covers("K.a.*.==", "K.a.*.=="));
        assert!(overlap("K.a.*.c.==", "K.a.b.*.=="));
        assert!(!overlap("K.a.b.==", "K.a.c.=="));
        assert!(!overlap("K.a.*.==", "K.a.b.c.=="));
        assert!(overlap("K.>", "K.a.b.=="));
    }

    #[test]
    fn a_session_past_its_expiry_is_not_rebuilt() {
        let mut r = record(Vec::new());
        assert!(!expired(&r, 1_000 + 59_999));
        assert!(expired(&r, 1_000 + 60_000));
        r.expiry_interval = u32::MAX;
        assert!(!expired(&r, u64::MAX));
    }
}
