//! The CONNACK side of a handshake: the client id a connection gets, the
//! refusals, and what a v5 CONNACK tells the client about the broker.

use std::sync::Arc;

use mqtt::{ConnAck, Connect, Packet, Properties, Protocol, ReasonCode};

use crate::{broker::Shared, protocol::session::ServerLimits};

/// The client id to use, and whether we assigned it. `None` refuses the
/// connection: an empty id needs a clean session (MQTT-3.1.3-8) before v5,
/// and MQTT 3.1 does not allow it at all.
pub(crate) fn client_id_for(connect: &Connect) -> Option<(Arc<str>, bool)> {
    if !connect.client_id.is_empty() {
        return Some((Arc::from(&*connect.client_id), false));
    }
    let allowed = match connect.protocol {
        Protocol::V31 => false,
        Protocol::V311 => connect.clean_start,
        Protocol::V5 => true,
    };
    allowed.then(|| (Arc::from(format!("kite-{:016x}", rand_id()).as_str()), true))
}

/// A cheap unique-enough number for assigned client ids.
fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

pub(crate) fn refusal(code: ReasonCode) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present: false,
        code,
        properties: Properties::default(),
    })
}

/// What a v5 CONNACK tells the client about us (empty before v5).
pub(crate) fn connack_properties(
    connect: &Connect,
    assigned: Option<&Arc<str>>,
    limits: ServerLimits,
    shared: &Shared,
) -> Properties {
    if !connect.protocol.is_v5() {
        return Properties::default();
    }
    Properties {
        assigned_client_identifier: assigned.map(|id| (**id).into()),
        receive_maximum: Some(limits.receive_maximum),
        topic_alias_maximum: Some(limits.topic_alias_maximum),
        maximum_packet_size: Some(shared.config.max_packet_size),
        retain_available: Some(1),
        wildcard_subscription_available: Some(1),
        subscription_identifier_available: Some(1),
        shared_subscription_available: Some(1),
        ..Properties::default()
    }
}
