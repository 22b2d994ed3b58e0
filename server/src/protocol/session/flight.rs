//! A session's in-flight state, kept apart so a quiet session can drop it.

use std::{collections::VecDeque, sync::Arc};

use bytestring::ByteString;
use mqtt::Pid;

use super::{Outgoing, StoreEvent};
use crate::{
    protocol::message::{Outbound, Receipt},
    util::small_map::SmallMap,
};

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

    /// How long since a cluster node last sent its live copy to be kept;
    /// `None` if never.
    pub(crate) fn since_copy_sent(&self) -> Option<std::time::Duration> {
        (self.copy_sent != 0).then(|| Tenths::now().since(self.copy_sent))
    }

    /// Its live copy is sent to be kept now.
    pub(crate) fn copy_sent_now(&mut self) {
        self.copy_sent = Tenths::now().0;
    }

    /// The connection ended: its topic aliases, both ways, go with it.
    pub(crate) fn forget_aliases(&mut self) {
        if let Some(flight) = &mut self.flight {
            flight.topic_aliases.clear();
            flight.out_aliases.clear();
        }
    }

    /// Let go of the in-flight state if nothing is in flight: a session
    /// that goes quiet keeps only what it is.
    pub(crate) fn settle(&mut self) {
        if self.flight.as_ref().is_some_and(|f| f.is_empty()) {
            self.flight = None;
        }
    }

    /// The receipts of the deliveries it holds (a cluster's shared group
    /// turns), taken: a copy of the session that holds them is on its way
    /// (`Shared::keep_live`), and finishes them once kept.
    pub(crate) fn take_receipts(&mut self) -> Vec<Arc<dyn Receipt>> {
        let Some(flight) = self.flight.as_mut() else {
            return Vec::new();
        };
        let sent = flight.outgoing.values_mut().map(|outgoing| match outgoing {
            Outgoing::Sent(sent) => &mut sent.1,
            Outgoing::Released(outbound) => &mut **outbound,
        });
        sent.chain(flight.pending.iter_mut())
            .filter_map(|outbound| outbound.receipt.take())
            .collect()
    }

    /// Whether the QoS 2 packet id `pid` was received and not yet released.
    pub(crate) fn awaits_pubrel(&self, pid: Pid) -> bool {
        self.flight
            .as_ref()
            .is_some_and(|f| f.incoming_qos2.contains_key(&pid))
    }
}

/// Tenths of a second since this process began, plus one (0 is "never"):
/// a time in 4 bytes, wrapping after 13 years.
struct Tenths(u32);

impl Tenths {
    fn now() -> Tenths {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let start = START.get_or_init(std::time::Instant::now);
        let tenths = start.elapsed().as_millis() / 100;
        Tenths((tenths as u32).wrapping_add(1).max(1))
    }

    /// How long since `then` (a [`Tenths`] taken earlier).
    fn since(&self, then: u32) -> std::time::Duration {
        std::time::Duration::from_millis(u64::from(self.0.wrapping_sub(then)) * 100)
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
