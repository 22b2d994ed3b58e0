//! The counters: per-message statistics (sharded per thread), one counter
//! for each time a limit or a security rule bites, and the connection
//! slots behind `--max-connections`.

use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Arc,
};

use crate::util::counter::Counter;

/// Counters behind `$SYS` and `/metrics`.
/// Sharded per thread: most are bumped once per message on every core.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub clients_connected: Counter,
    pub clients_total: Counter,
    pub messages_received: Counter,
    pub messages_sent: Counter,
    pub messages_dropped: Counter,
    pub bytes_received: Counter,
    pub bytes_sent: Counter,
}

/// How often each limit refused or cut something since start.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections closed at accept because `--max-connections` were open.
    pub connections_refused: AtomicU64,
    /// Connections lying dormant now (`--dormant-after`): a gauge.
    pub dormant: AtomicU64,
    /// Times a connection lay dormant since start.
    pub dormancies: AtomicU64,
    /// Connections closed because no CONNECT came within `--connect-timeout`
    /// (or the TLS handshake did not finish by then).
    pub connect_timeouts: AtomicU64,
    /// Connections closed because they took no data for `--write-timeout`.
    pub write_timeouts: AtomicU64,
    /// Connections closed for a packet above `--max-packet-size`.
    pub packets_too_large: AtomicU64,
    /// CONNECTs whose keepalive was above `--max-keepalive` (v5: lowered; 3.1.1: refused).
    pub keepalive_limited: AtomicU64,
    /// Deliveries that waited because the client's inflight window (`--max-inflight`) was full.
    pub inflight_waits: AtomicU64,
    /// Deliveries dropped because the client's queued bytes reached `--max-queued-bytes`.
    pub queued_bytes_dropped: AtomicU64,
    /// PUBLISH packets over `--max-publish-rate` (refused or throttled).
    pub publishes_rate_limited: AtomicU64,
    /// CONNECTs refused for a bad user name or password.
    pub auth_failures: AtomicU64,
    /// CONNECTs refused because anonymous clients are not allowed there.
    pub anonymous_refused: AtomicU64,
    /// PUBLISH packets (and wills) the ACL did not allow.
    pub acl_denied_publish: AtomicU64,
    /// Subscription filters the ACL did not allow.
    pub acl_denied_subscribe: AtomicU64,
    /// Deliveries withheld because the ACL does not let the subscriber read the topic.
    pub acl_denied_read: AtomicU64,
    /// TLS handshakes that failed or timed out.
    pub tls_failures: AtomicU64,
    /// PUBLISH packets and wills to topics only the broker writes
    /// (`$SYS`, the alarm engine's outputs) or to `$share/...`.
    pub broker_topics_refused: AtomicU64,
    /// Topic names and filters deeper than `--max-topic-levels`.
    pub topic_levels_refused: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The limit counters and the connection slots.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    pub counters: Counters,
    slots: Arc<AtomicUsize>,
}

impl Limits {
    /// Take a connection slot, or `None` when `max` (0: no limit) are open;
    /// the refusal is counted. The slot is given back when the guard drops.
    pub(crate) fn try_connection(&self, max: usize) -> Option<ConnectionSlot> {
        let taken = self
            .slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (max == 0 || open < max).then_some(open + 1)
            })
            .is_ok();
        if !taken {
            Counters::add(&self.counters.connections_refused);
            return None;
        }
        Some(ConnectionSlot {
            slots: self.slots.clone(),
        })
    }

    /// Network connections open now (MQTT over TCP, TLS and WebSocket).
    pub(crate) fn open_connections(&self) -> usize {
        self.slots.load(Ordering::Relaxed)
    }
}

/// One open connection counted against `--max-connections`.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    slots: Arc<AtomicUsize>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.slots.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Counters {
    /// Count a decode error that is a limit (`--max-packet-size`).
    pub fn note_decode_error(&self, err: &mqtt::DecodeError) {
        if matches!(err, mqtt::DecodeError::PacketTooLarge { .. }) {
            Counters::add(&self.packets_too_large);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_slots_are_given_back() {
        let limits = Limits::default();
        let a = limits.try_connection(2).unwrap();
        let _b = limits.try_connection(2).unwrap();
        assert!(limits.try_connection(2).is_none());
        drop(a);
        assert!(limits.try_connection(2).is_some());
        assert_eq!(
            limits.counters.connections_refused.load(Ordering::Relaxed),
            1
        );
        assert!(Limits::default().try_connection(0).is_some());
    }
}
