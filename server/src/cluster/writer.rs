//! Handing this node's QoS 1/2 messages to the stream (see
//! [`super::messages`]): one task takes what waits in the outbox in rounds
//! ([`super::batch::Pace`]), puts those of one subject into one stream
//! message ([`super::batch`]), sends each with its `Nats-Msg-Id`, and waits
//! for JetStream's acknowledgements side by side, sending a stream message
//! again until it is stored or [`RETRY_FOR`] has passed.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use async_nats::{
    jetstream::{
        self,
        context::{PublishAckFuture, PublishError, PublishErrorKind},
        message::PublishMessage,
    },
    Client,
};
use futures_util::{stream::FuturesUnordered, StreamExt};
use tokio::sync::mpsc;

use super::{
    batch::{Batch, Batcher, Outgoing, Pace},
    link::Link,
    subject,
};
use crate::store::now_unix_ms;

/// How long a message is retried before its publisher is refused: a stream
/// leader election took 6-9 s here (3 servers, SIGKILL, loaded machine),
/// after a reconnection to another server when the killed one was this
/// node's.
pub(crate) const RETRY_FOR: Duration = Duration::from_secs(20);
/// A new round of batches (one per subject, all at once) is taken only
/// while fewer stream messages than this wait for JetStream; meanwhile
/// what is published gathers. `compare --cluster --only fan-in-q1`: 128
/// gave 185k msg/s at 8.2 µs CPU per message (NATS included), 2 202k at 7.5.
pub(super) const IN_FLIGHT: usize = 2;
/// The most MQTT messages taken from the outbox for one round of batches.
const TAKE: usize = 4_096;
/// The most payload bytes of one stream message (NATS's max_payload, less
/// room for headers, caps it further).
const BATCH_BYTES: usize = 256 * 1024;

/// Messages that ran out of retries, since the start.
static FAILURES: AtomicU64 = AtomicU64::new(0);

/// What became of this node's stream writes.
#[derive(Default)]
pub(super) struct Stored {
    /// Unix ms when a message last ran out of retries (0: one stored since).
    pub(super) failed_at: AtomicU64,
    /// The highest stream sequence JetStream acknowledged to this node.
    pub(super) upto: AtomicU64,
}

pub(super) fn failed(failed_at: &AtomicU64, topic: &str, reason: &str) {
    failed_at.store(now_unix_ms().max(1), Ordering::Relaxed);
    // Logged at the 1st, 2nd, 4th, 8th, … failure.
    let failures = FAILURES.fetch_add(1, Ordering::Relaxed) + 1;
    if failures.is_power_of_two() {
        tracing::warn!(topic, failures, "cluster: a QoS 1/2 message was not stored in NATS JetStream ({reason}); its publisher is refused");
    }
}

/// Hand the messages to JetStream in order, those waiting together in
/// batches, and wait for their acknowledgements side by side.
pub(super) async fn send_all(
    js: jetstream::Context,
    client: Client,
    mut rx: mpsc::Receiver<Outgoing>,
    mut batcher: Batcher,
    stored: Arc<Stored>,
    link: Arc<Link>,
) {
    let mut acks = FuturesUnordered::new();
    let mut taken = Vec::with_capacity(TAKE);
    let mut pace = Pace::new(tokio::time::Instant::now());
    loop {
        let ready = tokio::time::Instant::now() >= pace.next();
        tokio::select! {
            biased;
            Some(()) = acks.next(), if !acks.is_empty() => {}
            () = tokio::time::sleep_until(pace.next()), if !ready => {}
            received = rx.recv_many(&mut taken, TAKE), if ready && acks.len() < IN_FLIGHT => {
                if received == 0 {
                    break;
                }
                pace.took(received, tokio::time::Instant::now());
                let room = max_payload(&client).saturating_sub(1024);
                for batch in batcher.batches(&mut taken, room.clamp(4096, BATCH_BYTES)) {
                    let first = send(&js, &batch).await;
                    acks.push(store(js.clone(), batch, first, stored.clone(), link.clone()));
                }
            }
        }
    }
    while acks.next().await.is_some() {}
}

/// What the server connected now takes (async-nats sets it on every
/// connect and reconnect, and checks each publish against it): one atomic
/// load per round, never stale. 0 before the first connect (batches stay
/// small until this node knows its server's limit).
fn max_payload(client: &Client) -> usize {
    match client.connection_state() {
        async_nats::connection::State::Pending => 0,
        _ => client.max_payload(),
    }
}

async fn send(js: &jetstream::Context, batch: &Batch) -> Result<PublishAckFuture, PublishError> {
    let publish = PublishMessage::build()
        .payload(batch.payload.clone())
        .message_id(batch.id.as_str());
    js.send_publish(batch.subject.clone(), publish).await
}

/// Wait for one stream message's acknowledgement, sending it again until
/// [`RETRY_FOR`] has passed or NATS has been lost for longer than the
/// link's grace.
async fn store(
    js: jetstream::Context,
    batch: Batch,
    first: Result<PublishAckFuture, PublishError>,
    stored: Arc<Stored>,
    link: Arc<Link>,
) {
    let deadline = Instant::now() + RETRY_FOR;
    let mut attempt = first;
    let mut pause = Duration::from_millis(50);
    loop {
        let err = match attempt {
            Ok(ack) => match ack.await {
                Ok(ack) => {
                    // Before anyone hears of it: a copy taken after it
                    // knows the write is behind it.
                    stored.upto.fetch_max(ack.sequence, Ordering::AcqRel);
                    if stored.failed_at.load(Ordering::Relaxed) != 0 {
                        stored.failed_at.store(0, Ordering::Relaxed);
                    }
                    for done in batch.done {
                        let _ = done.send(());
                    }
                    return;
                }
                Err(err) => err,
            },
            Err(err) => err,
        };
        if err.kind() == PublishErrorKind::MaxPayloadExceeded
            || Instant::now() >= deadline
            || link.refusing()
        {
            let root = subject::STREAM_ROOT.len();
            let topic =
                subject::subject_topic(&format!("{}{}", subject::ROOT, &batch.subject[root..]));
            failed(
                &stored.failed_at,
                topic.as_deref().unwrap_or("?"),
                &err.to_string(),
            );
            return;
        }
        tracing::debug!(id = %batch.id, %err, "cluster: QoS 1/2 messages not stored yet; again");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
        attempt = send(&js, &batch).await;
    }
}
