//! QoS 1 and 2 across the cluster: one JetStream stream, `kite_messages`,
//! that every QoS 1/2 message a node routes goes into, and that every node
//! reads once, with one consumer of its own.
//!
//! - The stream: subjects `KQ.m.>` and `KQ.s.>` (a topic's subject from
//!   [`subject::topic_subject`] under the root `KQ` instead of `K`, so QoS 0
//!   traffic on `K...` is never stored); as many replicas as NATS has
//!   servers, up to 3 (as the retained bucket); a 2-minute
//!   `duplicate_window`, far above the retries; kept 24 hours and 1 GiB at
//!   most (the oldest go first), which bounds how long a node may be away
//!   and still get what it missed.
//! - Publishing ([`Durable::publish`], [`super::writer`]): one task hands
//!   the messages to JetStream in order (no waiting per message), those of
//!   one subject that wait together as one stream message
//!   ([`super::batch`]), each with `Nats-Msg-Id` = this run's nonce and a
//!   sequence, and waits for the acknowledgements side by side (a new
//!   round while fewer than [`super::writer::IN_FLIGHT`] wait, a busy
//!   node's rounds paced: [`batch::Pace`]). A stream message is retried
//!   (ack timeout, no responders: a leader election takes seconds) for
//!   [`super::writer::RETRY_FOR`]; JetStream stores a retried one once. The tickets resolve on JetStream's acknowledgement, so a
//!   PUBACK/PUBREC says the cluster has the message. A message retried may
//!   be stored after a later one of the same publisher on another topic.
//! - Refusing: a node that lost NATS, or whose last message JetStream did
//!   not store, refuses QoS 1/2 publishes ([`Durable::refusal`]): an MQTT 5
//!   client gets PUBACK/PUBREC 0x80 with the reason, an older one is
//!   disconnected (it has no way to hear "no"); QoS 0 keeps working here.
//! - Reading ([`Durable::read`]): one ephemeral pull consumer per node (not
//!   per session or subscription: each consumer costs the NATS cluster
//!   state), without acks, from this node's position; a gap in its sequence
//!   or a lost heartbeat makes a new one from the next position. Each
//!   message another node published goes to `Shared::publish_remote`; this
//!   node's own were delivered here when published, but to the persistent
//!   sessions, which get every QoS 1/2 message from the stream, in its
//!   order (so a session that moves to another node continues at one
//!   position: [`super::handoff`]). A position names an MQTT message: its
//!   stream message and its index there ([`stream_position`]). It is kept in
//!   this node's store: in the same transaction as the deliveries to
//!   persistent sessions a message causes (so a restart never delivers a
//!   message twice, nor loses one), and every [`POSITION_EVERY`] otherwise.
//!   A node restarting with its `--data-dir` resumes there: its persistent
//!   sessions get what was published while it was away (and only they: a
//!   client that subscribed since gets nothing older). A node without a
//!   position reads from the moment it started (JetStream's start-time
//!   policy), so a SUBACK it sent before it could read the stream loses
//!   nothing published after it; it stores where that put it before it
//!   reads, so a crash before its first message loses nothing either.

use std::{
    cell::RefCell,
    sync::{atomic::Ordering, Arc, Weak},
    time::Duration,
};

use async_nats::{
    jetstream::{
        self,
        consumer::{pull, AckPolicy, DeliverPolicy},
        stream,
    },
    Client, Subject,
};
use bytes::Bytes;
use bytestring::ByteString;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};

use super::{
    batch::{self, Batcher, Outgoing},
    link::Link,
    subject,
    writer::{failed, send_all, Stored},
};
use crate::{
    broker::{Remote, Routes, Shared},
    protocol::message::Message,
    store::{now_unix_ms, stream_position, stream_sequence, Op, Ticket},
};

/// The stream's name.
pub(crate) const STREAM: &str = "kite_messages";
/// The root of the stream's subjects (core NATS messages use `K`).
const ROOT: &str = subject::STREAM_ROOT;
/// How long one attempt waits for JetStream's acknowledgement.
const ACK_WAIT: Duration = Duration::from_secs(2);
/// Messages waiting for the publishing task before new ones are refused.
const OUTBOX: usize = 65_536;
/// Acknowledgements async-nats lets wait (a batch past it is sent again).
const ACKS_AT_ONCE: usize = 256;
/// JetStream's memory of message ids: far above [`super::writer::RETRY_FOR`].
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
const MAX_BYTES: i64 = 1 << 30;
/// The consumer's idle heartbeat: two missed make a new consumer.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// How often the position is stored when nothing else is.
const POSITION_EVERY: Duration = Duration::from_millis(200);
/// `next` of a node that never read the stream: it reads from its start.
const FROM_START_TIME: u64 = 0;
/// How long a SUBSCRIBE waits for this node to read the stream.
const READY_WAIT: Duration = Duration::from_secs(3);
/// After a message ran out of retries, QoS 1/2 publishes are refused for
/// this long before one is tried again.
const REFUSE_AFTER_FAILURE: Duration = Duration::from_secs(3);

/// This node's side of the stream.
pub(crate) struct Durable {
    node: Arc<str>,
    client: Client,
    /// How many NATS servers `--cluster` names.
    servers: usize,
    /// When this node started (where a node without a position reads).
    started: std::time::SystemTime,
    outbox: mpsc::Sender<Outgoing>,
    /// Whether NATS is connected (kept by the client's events).
    link: Arc<Link>,
    /// What became of this node's writes.
    stored: Arc<Stored>,
    /// True once this node reads the stream.
    reading: watch::Sender<bool>,
    /// Work the reader does between two messages ([`Durable::at`],
    /// [`Durable::pause`]).
    commands: mpsc::UnboundedSender<Command>,
    commands_rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Command>>>,
}

/// Something to run once the reader has passed a stream position.
pub(crate) type AtPosition = Box<dyn FnOnce(u64) + Send>;

/// Work for the reader, done between two messages.
enum Command {
    /// Run the function with the reader's position once it is `at` or past.
    At { at: u64, then: AtPosition },
    /// Tell the position, and read nothing more until `resume` answers (or
    /// [`PAUSE_MAX`] passed); what it answers runs at its position first.
    Pause {
        position: oneshot::Sender<u64>,
        resume: oneshot::Receiver<Option<(u64, AtPosition)>>,
    },
}

/// The longest the reader stays paused for a session coming from another
/// node.
const PAUSE_MAX: Duration = Duration::from_secs(5);

impl Durable {
    /// Start the publishing task; reading starts with [`Durable::read`].
    pub(crate) fn start(
        client: Client,
        node: &str,
        servers: usize,
        nonce: u64,
        link: Arc<Link>,
    ) -> Arc<Durable> {
        let (outbox, rx) = mpsc::channel(OUTBOX);
        let stored = Arc::new(Stored::default());
        let js = jetstream::ContextBuilder::new()
            .timeout(ACK_WAIT)
            .ack_timeout(ACK_WAIT)
            .max_ack_inflight(ACKS_AT_ONCE)
            .build(client.clone());
        let batcher = Batcher::new(node, nonce);
        tokio::spawn(send_all(
            js,
            client.clone(),
            rx,
            batcher,
            stored.clone(),
            link.clone(),
        ));
        let (commands, commands_rx) = mpsc::unbounded_channel();
        Arc::new(Durable {
            node: Arc::from(node),
            client,
            servers,
            started: std::time::SystemTime::now(),
            outbox,
            link,
            stored,
            reading: watch::channel(false).0,
            commands,
            commands_rx: std::sync::Mutex::new(Some(commands_rx)),
        })
    }

    /// How many NATS servers `--cluster` names.
    pub(crate) fn servers(&self) -> usize {
        self.servers
    }

    /// Run `then` with the reader's position once the reader has handed
    /// every message up to `at` to this node's sessions, and none after
    /// the position it is given.
    pub(crate) fn at(&self, at: u64, then: AtPosition) {
        let _ = self.commands.send(Command::At { at, then });
    }

    /// Stop the reader between two messages: its position, and the sender
    /// that lets it go on (with something to run at a position first).
    /// `None` when the reader does not answer within [`READY_WAIT`].
    pub(crate) async fn pause(&self) -> Option<(u64, oneshot::Sender<Option<(u64, AtPosition)>>)> {
        let (position, told) = oneshot::channel();
        let (go_on, resume) = oneshot::channel();
        let _ = self.commands.send(Command::Pause { position, resume });
        match tokio::time::timeout(READY_WAIT, told).await {
            Ok(Ok(position)) => Some((position, go_on)),
            _ => None,
        }
    }

    /// Put a QoS 1/2 message into the stream. With `wait`, the ticket
    /// resolves once JetStream stored it, and fails if it could not.
    pub(crate) fn publish(&self, message: &Message, wait: bool) -> Option<Ticket> {
        let (done, ticket) = if wait {
            let (done, ticket) = Ticket::new();
            (Some(done), Some(ticket))
        } else {
            (None, None)
        };
        let outgoing = Outgoing {
            subject: stream_subject_of(&message.topic),
            message: message.clone(),
            done,
        };
        if self.outbox.try_send(outgoing).is_err() {
            // Dropped with it, `done` fails the ticket.
            failed(
                &self.stored.failed_at,
                &message.topic,
                "more messages waiting for NATS than the outbox holds",
            );
        }
        ticket
    }

    /// The highest stream sequence of this node's writes acknowledged so
    /// far: a session copy taken now holds every write of its session up
    /// to here (its writes after it are sent after, so stored after).
    pub(crate) fn stored_upto(&self) -> u64 {
        self.stored.upto.load(Ordering::Acquire)
    }

    /// Why this node cannot keep a QoS 1/2 message now; `None` if it can.
    pub(crate) fn refusal(&self) -> Option<&'static str> {
        if self.link.refusing() {
            return Some("this cluster node cannot reach NATS, so it cannot store QoS 1/2 messages; QoS 0 still works here");
        }
        let at = self.stored.failed_at.load(Ordering::Relaxed);
        if at != 0 && now_unix_ms().saturating_sub(at) < REFUSE_AFTER_FAILURE.as_millis() as u64 {
            return Some("NATS JetStream did not store this node's last QoS 1/2 message in time; try again shortly");
        }
        None
    }

    /// A ticket that resolves once this node reads the stream (or after
    /// [`READY_WAIT`]), so what another node publishes after a SUBACK here
    /// reaches the new subscriber. `None` when it reads already.
    pub(crate) fn ready(&self) -> Option<Ticket> {
        let mut reading = self.reading.subscribe();
        if *reading.borrow() {
            return None;
        }
        let (done, ticket) = Ticket::new();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(READY_WAIT, reading.wait_for(|&r| r)).await;
            let _ = done.send(());
        });
        Some(ticket)
    }

    /// Read the stream from after `position` (none: from its end) and
    /// deliver what other nodes published. Runs for the life of the broker.
    pub(crate) async fn read(self: Arc<Self>, shared: Weak<Shared>, position: Option<u64>) {
        let Some(mut commands) = self
            .commands_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let mut waiting = Vec::new();
        let mut interest = Interest::default();
        let js = jetstream::new(self.client.clone());
        // Each step bounded: a NATS server just restarted may take a
        // request and never answer it.
        let stream = loop {
            match tokio::time::timeout(ACK_WAIT * 2, open_stream(&js, &self.client, self.servers))
                .await
            {
                Ok(Ok(stream)) => break stream,
                Ok(Err(err)) => {
                    tracing::warn!(%err, "cluster: message stream not reachable yet; retrying")
                }
                Err(_) => tracing::warn!(
                    "cluster: message stream not reachable yet (no answer); retrying"
                ),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let mut stream = stream;
        let state = loop {
            match tokio::time::timeout(ACK_WAIT * 2, stream.info()).await {
                Ok(Ok(info)) => break info.state.clone(),
                Ok(Err(err)) => {
                    tracing::warn!(%err, "cluster: message stream not readable yet; retrying")
                }
                Err(_) => {
                    tracing::warn!("cluster: message stream not readable yet (no answer); retrying")
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let last = state.last_sequence;
        // Messages up to `catch_up` were published while this node was away.
        let (mut next, catch_up) = match position {
            Some(p) if stream_sequence(p) <= last => (p + 1, last),
            Some(p) => {
                tracing::warn!(position = stream_sequence(p), last, "cluster: this node's stream position is past the stream's end (was the stream deleted?); reading from its end");
                (stream_position(last + 1, 0), 0)
            }
            // From when this node started: what was published after a
            // SUBACK here, even one sent before the stream could be read
            // (NATS servers still meeting), reaches its subscriber.
            None => (FROM_START_TIME, 0),
        };
        if position.is_some() && stream_sequence(next) < state.first_sequence {
            tracing::warn!(
                lost = state.first_sequence - stream_sequence(next),
                "cluster: QoS 1/2 messages published while this node was away were already dropped by the stream's limits"
            );
        }
        let mut stored = position.unwrap_or(0);
        if let Some(shared) = shared.upgrade().filter(|_| position.is_some()) {
            if position != Some(next - 1) {
                // A node new to the stream resumes from here after a crash.
                shared
                    .store
                    .submit(vec![Op::PutStreamPosition(next - 1)], false);
                stored = next - 1;
            }
        }
        tracing::info!(
            stream = STREAM,
            from = stream_sequence(next),
            away = catch_up.saturating_sub(stream_sequence(next).saturating_sub(1)),
            "cluster: QoS 1/2 messages shared"
        );
        loop {
            match self
                .consume(
                    &stream,
                    &shared,
                    Reader {
                        next: &mut next,
                        catch_up,
                        stored: &mut stored,
                        commands: &mut commands,
                        waiting: &mut waiting,
                        interest: &mut interest,
                    },
                )
                .await
            {
                Ok(()) => return,
                Err(err) => tracing::info!(%err, next, "cluster: message stream consumer renewed"),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// One consumer from `next`, until it fails (`Ok`: the broker is gone).
    async fn consume(
        &self,
        stream: &stream::Stream,
        shared: &Weak<Shared>,
        reader: Reader<'_>,
    ) -> Result<(), String> {
        let Reader {
            next,
            catch_up,
            stored,
            commands,
            waiting,
            interest,
        } = reader;
        let created = stream.create_consumer(pull::Config {
            deliver_policy: if *next == FROM_START_TIME {
                DeliverPolicy::ByStartTime {
                    start_time: time::OffsetDateTime::from(self.started),
                }
            } else {
                DeliverPolicy::ByStartSequence {
                    start_sequence: stream_sequence(*next),
                }
            },
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            num_replicas: 1,
            memory_storage: true,
            ..Default::default()
        });
        let consumer = tokio::time::timeout(ACK_WAIT * 2, created)
            .await
            .map_err(|_| "no answer to the consumer's creation".to_string())?
            .map_err(|err| err.to_string())?;
        let name = consumer.cached_info().name.clone();
        if *next == FROM_START_TIME {
            // Where the start time put it: stored before this node says it
            // reads (and a SUBACK may leave), so a crash before its first
            // message resumes here, not at the next run's start time.
            let before = consumer.cached_info().delivered.stream_sequence;
            *next = stream_position(before + 1, 0);
            *stored = next.saturating_sub(1);
            if let Some(shared) = shared.upgrade() {
                let ticket = shared
                    .store
                    .submit(vec![Op::PutStreamPosition(*stored)], true);
                drop(shared);
                if let Some(ticket) = ticket {
                    ticket.committed().await;
                }
            }
        }
        let pulling = consumer
            .stream()
            .max_messages_per_batch(1000)
            .heartbeat(HEARTBEAT)
            .expires(HEARTBEAT * 5)
            .messages();
        let mut messages = tokio::time::timeout(ACK_WAIT * 2, pulling)
            .await
            .map_err(|_| "no answer to the consumer's first pull".to_string())?
            .map_err(|err| err.to_string())?;
        self.reading.send_replace(true);
        let mut consumer_seq = 0;
        let mut tick = tokio::time::interval(POSITION_EVERY);
        let ended = loop {
            tokio::select! {
                item = messages.next() => {
                    let message = match item {
                        Some(Ok(message)) => message,
                        Some(Err(err)) => break err.to_string(),
                        None => break "the consumer ended".to_string(),
                    };
                    let Ok(info) = message.info() else {
                        break "a message without its stream position".to_string();
                    };
                    if info.consumer_sequence != consumer_seq + 1 {
                        break format!("a gap after consumer sequence {consumer_seq}");
                    }
                    consumer_seq = info.consumer_sequence;
                    let sequence = info.stream_sequence;
                    if stream_position(sequence, u16::MAX) < *next {
                        continue;
                    }
                    let Some(shared) = shared.upgrade() else {
                        return Ok(());
                    };
                    let catch_up = sequence <= catch_up;
                    self.deliver(&shared, interest, &message.payload, sequence, *next, catch_up);
                    *next = stream_position(sequence + 1, 0);
                    run_due(waiting, next.saturating_sub(1));
                }
                Some(command) = commands.recv() => match command {
                    Command::At { at, then } => {
                        waiting.push((at, then));
                        run_due(waiting, next.saturating_sub(1));
                    }
                    Command::Pause { position, resume } => {
                        let _ = position.send(next.saturating_sub(1));
                        if let Ok(Ok(Some(then))) = tokio::time::timeout(PAUSE_MAX, resume).await {
                            waiting.push(then);
                            run_due(waiting, next.saturating_sub(1));
                        }
                    }
                },
                _ = tick.tick() => {
                    if next.saturating_sub(1) > *stored {
                        let Some(shared) = shared.upgrade() else {
                            return Ok(());
                        };
                        *stored = next.saturating_sub(1);
                        shared.store.submit(vec![Op::PutStreamPosition(*stored)], false);
                    }
                }
            }
        };
        // It would go by itself after its inactive threshold.
        let stream = stream.clone();
        tokio::spawn(async move {
            let _ =
                tokio::time::timeout(Duration::from_secs(5), stream.delete_consumer(&name)).await;
        });
        Err(ended)
    }

    /// Hand the MQTT messages of one stream message, from position `from`
    /// on (earlier ones were delivered before a restart), to this node's
    /// subscribers; this node's own only to its persistent sessions (the
    /// others had them when published). Each commits its deliveries with
    /// its own position. A message nobody here wants (no subscription
    /// matches its topic, the alarms do not watch it, it is not retained)
    /// is only counted, not decoded: every node reads every QoS 1/2 message
    /// of the cluster, most for other nodes' clients (one corrupt past its
    /// topic is then counted without a warning).
    fn deliver(
        &self,
        shared: &Shared,
        interest: &mut Interest,
        payload: &Bytes,
        sequence: u64,
        from: u64,
        catch_up: bool,
    ) {
        let Some((origin, records)) = batch::records(payload) else {
            tracing::warn!(sequence, "cluster: an unreadable stream message skipped");
            return;
        };
        let own = origin == self.node.as_bytes();
        for (position, record) in batch::positioned(sequence, &records) {
            if position < from {
                continue;
            }
            if let Some((topic, false)) = record.peek() {
                if !interest.wanted(shared, topic) {
                    if !own {
                        shared.stats.messages_received.add(1);
                    }
                    continue;
                }
            }
            match record.message() {
                Ok(message) => {
                    let remote = Remote::Stream {
                        position,
                        catch_up,
                        own,
                    };
                    shared.publish_remote(message, remote, Some(&mut interest.routes));
                }
                Err(err) => {
                    tracing::warn!(sequence, position, %err, "cluster: unreadable stream message skipped")
                }
            }
        }
    }
}

/// The reader's state across its consumers.
struct Reader<'a> {
    /// The next stream position to hand on.
    next: &'a mut u64,
    /// Positions up to this one were published while this node was away.
    catch_up: u64,
    /// The position last stored.
    stored: &'a mut u64,
    commands: &'a mut mpsc::UnboundedReceiver<Command>,
    /// [`Command::At`]s not due yet.
    waiting: &'a mut Vec<(u64, AtPosition)>,
    interest: &'a mut Interest,
}

/// Whether this node wants the last topic read (as of the table's
/// generation), and its deliveries: a topic's messages come in runs.
#[derive(Default)]
struct Interest {
    topic: String,
    generation: u64,
    subscribed: bool,
    routes: Routes,
}

impl Interest {
    fn wanted(&mut self, shared: &Shared, topic: &str) -> bool {
        let generation = shared.router.generation();
        if self.generation != generation || self.topic != topic || self.topic.is_empty() {
            self.subscribed = shared.router.wanted(topic);
            self.generation = generation;
            self.topic.clear();
            self.topic.push_str(topic);
        }
        // Not kept: the alarms' topics change without the table's generation.
        self.subscribed || shared.alarms.watches(topic)
    }
}

/// Run what waited for the reader to reach `position`.
fn run_due(waiting: &mut Vec<(u64, AtPosition)>, position: u64) {
    let mut i = 0;
    while i < waiting.len() {
        if waiting[i].0 <= position {
            let (_, then) = waiting.swap_remove(i);
            then(position);
        } else {
            i += 1;
        }
    }
}

/// The subject a topic's QoS 1/2 messages are stored under.
pub(super) fn stream_subject(topic: &str) -> String {
    subject::topic_subject_under(ROOT, topic)
}

/// [`stream_subject`] of a message's topic, kept per thread for the next
/// message: a publisher tends to send one topic again and again.
pub(super) fn stream_subject_of(topic: &ByteString) -> Subject {
    thread_local! {
        static LAST: RefCell<Option<(ByteString, Subject)>> = const { RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some((was, subject)) if was == topic => subject.clone(),
        _ => {
            let subject = Subject::from(stream_subject(topic));
            // A copy: the topic shares its connection read's bytes.
            *last = Some((ByteString::from(&**topic), subject.clone()));
            subject
        }
    })
}

/// The subject(s) a filter's QoS 1/2 messages are stored under (a shared
/// group's consumer reads them: [`super::shares`]).
pub(super) fn stream_filter(filter: &str) -> String {
    let core = subject::filter_subject(filter);
    format!("{ROOT}{}", &core[subject::ROOT.len()..])
}

async fn open_stream(
    js: &jetstream::Context,
    client: &Client,
    given: usize,
) -> Result<stream::Stream, String> {
    if let Ok(stream) = js.get_stream(STREAM).await {
        return Ok(stream);
    }
    js.create_stream(stream::Config {
        name: STREAM.to_string(),
        subjects: vec![format!("{ROOT}.m.>"), format!("{ROOT}.s.>")],
        num_replicas: super::bucket::replicas(client, given),
        duplicate_window: DUPLICATE_WINDOW,
        max_age: MAX_AGE,
        max_bytes: MAX_BYTES,
        discard: stream::DiscardPolicy::Old,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|err| format!("{err} (is JetStream on? nats-server -js)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_subject_is_the_topic_s_own() {
        for topic in ["a/b", "a/b", "a/c", "$SYS/x", "a/b", "", "a/b"] {
            let kept = stream_subject_of(&ByteString::from(topic));
            assert_eq!(kept.as_str(), stream_subject(topic), "{topic}");
        }
    }

    #[test]
    fn stream_subjects_mirror_core_subjects_under_their_own_root() {
        assert_eq!(stream_subject("a/b"), "KQ.m.a.b.==");
        assert_eq!(
            stream_subject("$kite/x"),
            format!("KQ{}", &subject::topic_subject("$kite/x")[1..])
        );
        assert!(stream_subject("$SYS/x").starts_with("KQ.s."));
        assert_eq!(stream_filter("a/#"), "KQ.m.a.>");
        assert_eq!(stream_filter("a/+"), "KQ.m.a.*.==");
    }
}
