//! Shared subscription groups balanced across a cluster: the cluster, not
//! the routing of each message, picks which node's member of a group gets
//! it (`cluster::shares`), then hands it here to this node's next member in
//! turn. Routing leaves groups out on a cluster node
//! (`Router::balance_groups_elsewhere`), so no message reaches a group
//! twice. A single node never comes here: its router takes the turns.

use std::sync::Arc;

use mqtt::QoS;

use super::Shared;
use crate::{
    protocol::message::{Message, Outbound, Receipt},
    store::{Op, Queued, QueuedState, Ticket},
};

/// What became of a message handed to this node's members of a group.
pub(crate) enum GroupDelivery {
    /// No member of the group here (any more): another node's must have it.
    NoMember,
    /// The member's queue is full (or it is gone): not delivered.
    Refused,
    /// Queued for the member, safe once the ticket resolves (its persistent
    /// session's store has it) or at once (`None`: a QoS 0 delivery, which
    /// promises no more).
    Queued(Option<Ticket>),
    /// Handed to a member whose session is not stored: the receipt given
    /// travels with it and hears when its client acknowledged it. In a
    /// cluster, a stored member's too, which also finishes it once a copy
    /// of the session holding it is kept beyond this node.
    Handed,
}

impl Shared {
    /// Deliver `message` to the next member here of the shared
    /// subscription `filter` (`$share/<group>/<filter>`). `receipt` goes with
    /// a QoS 1/2 delivery that only the client's acknowledgement makes safe.
    pub(crate) fn deliver_to_group(
        &self,
        filter: &str,
        message: Arc<Message>,
        receipt: Option<Arc<dyn Receipt>>,
    ) -> GroupDelivery {
        let Some(m) = self.router.take_turn(filter) else {
            return GroupDelivery::NoMember;
        };
        let qos = message.qos.min(m.qos);
        let mut outbound = Outbound {
            retain: message.retain && m.retain_as_published,
            message,
            qos,
            subscription_ids: m.subscription_ids.clone(),
            seq: None,
            receipt: None,
            position: 0,
        };
        let tx = &m.subscriber.tx;
        let max_bytes = self.config.max_queued_bytes;
        let stored =
            m.subscriber.persistent && qos != QoS::AtMostOnce && self.store.is_persistent();
        if !stored {
            let handed = qos != QoS::AtMostOnce && receipt.is_some();
            if handed {
                outbound.receipt = receipt;
            }
            let refusals = tx.try_send_all_within([outbound], max_bytes);
            let refused = refusals.full + refusals.bytes > 0;
            self.note_refusals(&m.client_id, tx, refusals);
            return match (refused, handed) {
                (true, _) => GroupDelivery::Refused,
                (false, true) => GroupDelivery::Handed,
                (false, false) => GroupDelivery::Queued(None),
            };
        }
        let Some(permit) = tx.try_reserve() else {
            self.note_drop(&m.client_id, tx.budget(), false);
            return GroupDelivery::Refused;
        };
        let size = crate::routing::budget::queued_size(&outbound.message);
        if !tx.budget().try_charge(size, max_bytes) {
            self.note_drop(&m.client_id, tx.budget(), true);
            return GroupDelivery::Refused;
        }
        // In a cluster, the turn is finished once its client acknowledged
        // it or a copy of the session that holds it is kept beyond this
        // node (`Shared::keep_live`; a parked one's snapshot), not when this
        // node's store has it: the group gives it to another member if this
        // node dies first.
        let copied = self.client_ids.get().filter(|_| receipt.is_some());
        let seq = self.store.next_seq();
        outbound.seq = Some(seq);
        let ops = vec![Op::Enqueue {
            client: m.client_id.clone(),
            seq,
            queued: Queued {
                outbound: outbound.clone(),
                state: QueuedState::Queued,
            },
        }];
        // The store hears of a queued message before its subscriber can ack it.
        let ticket = self.store.submit(ops, true);
        if copied.is_some() {
            // Not in the store's copy: its receipt lives with the session.
            outbound.receipt = receipt;
        }
        permit.send(outbound);
        match copied {
            Some(ids)
                if self.registry.with_parked(&m.client_id, |_| ()).is_none()
                    || ids.turn_parked(&m.client_id) =>
            {
                GroupDelivery::Handed
            }
            // A parked session no snapshot can be kept of now (restored
            // from this node's store, no claim): as a single node would.
            _ => GroupDelivery::Queued(ticket),
        }
    }
}
