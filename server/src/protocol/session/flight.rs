//! A session's in-flight state, kept apart so a quiet session can drop it.

use std::collections::VecDeque;

use bytestring::ByteString;
use mqtt::Pid;

use super::{Outgoing, StoreEvent};
use crate::{protocol::message::Outbound, util::small_map::SmallMap};

/// What a session holds while messages are in flight. Boxed apart from the
/// session and dropped when empty: a quiet client's session is then small.
#[derive(Debug, Default)]
pub(super) struct Flight {
    /// What the store must learn, taken by the connection after each step.
    pub(super) store_events: Vec<StoreEvent>,
    pub(super) outgoing: SmallMap<Pid, Outgoing>,
    /// Messages waiting for room in the inflight window.
    pub(super) pending: VecDeque<Outbound>,
    /// QoS 2 packet ids received and not yet released (a set).
    pub(super) incoming_qos2: SmallMap<Pid, ()>,
    pub(super) topic_aliases: SmallMap<u16, ByteString>,
    /// Topic aliases we set towards the client, by topic.
    pub(super) out_aliases: SmallMap<ByteString, u16>,
    /// When a cluster node last sent the session's live copy to be kept
    /// (not counted by `is_empty`: a quiet session's next copy is due).
    pub(super) copy_sent: Option<std::time::Instant>,
}

impl Flight {
    pub(super) fn is_empty(&self) -> bool {
        self.store_events.is_empty()
            && self.outgoing.is_empty()
            && self.pending.is_empty()
            && self.incoming_qos2.is_empty()
            && self.topic_aliases.is_empty()
            && self.out_aliases.is_empty()
    }
}

impl super::Session {
    /// Messages sent and not yet acknowledged, and those waiting for room.
    pub(crate) fn in_flight(&self) -> usize {
        self.flight
            .as_ref()
            .map_or(0, |f| f.outgoing.len() + f.pending.len())
    }

    /// How many filters the session subscribes to.
    pub(crate) fn subscription_count(&self) -> usize {
        self.subscriptions.len()
    }

    /// When its live copy was last sent to be kept, if lately.
    pub(crate) fn copy_sent(&self) -> Option<std::time::Instant> {
        self.flight.as_ref()?.copy_sent
    }

    pub(crate) fn set_copy_sent(&mut self, at: std::time::Instant) {
        self.flight().copy_sent = Some(at);
    }
}

impl super::Session {
    /// Everything the session still owes its client, as the store keeps it
    /// and [`super::Session::restore`] takes it back: in-flight messages
    /// with their packet ids (oldest id first), then the waiting ones. For
    /// a session that moves to another node of a cluster.
    pub(crate) fn queue(&self) -> Vec<crate::protocol::records::Queued> {
        use crate::protocol::records::{Queued, QueuedState};
        let Some(flight) = self.flight.as_ref() else {
            return Vec::new();
        };
        let mut sent: Vec<_> = flight.outgoing.iter().collect();
        sent.sort_by_key(|(pid, _)| pid.get());
        let mut queue: Vec<Queued> = sent
            .into_iter()
            .map(|(pid, outgoing)| match outgoing {
                Outgoing::Sent(sent) => Queued {
                    outbound: sent.1.clone(),
                    state: QueuedState::Sent(*pid),
                },
                Outgoing::Released(outbound) => Queued {
                    outbound: (**outbound).clone(),
                    state: QueuedState::Released(*pid),
                },
            })
            .collect();
        queue.extend(flight.pending.iter().map(|outbound| Queued {
            outbound: outbound.clone(),
            state: QueuedState::Queued,
        }));
        queue
    }
}
