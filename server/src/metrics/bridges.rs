//! Each bridge's counters: its link task counts, `$SYS` and `/metrics` read.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
};

/// One bridge's figures, updated by its link.
#[derive(Debug, Default)]
pub(crate) struct BridgeCounters {
    /// Connected to the remote now.
    pub up: AtomicBool,
    /// Messages sent to the remote.
    pub sent: AtomicU64,
    /// Messages received from the remote.
    pub received: AtomicU64,
    /// Messages held for the remote now (waiting, or sent and not acknowledged).
    pub queued: AtomicU64,
    /// QoS 0 messages dropped because too many were held.
    pub dropped: AtomicU64,
    /// Connections to the remote after the first.
    pub reconnects: AtomicU64,
}

/// One bridge's figures, read at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BridgeFigures {
    pub name: String,
    pub up: bool,
    pub sent: u64,
    pub received: u64,
    pub queued: u64,
    pub dropped: u64,
    pub reconnects: u64,
}

/// The counters of every bridge, by name.
#[derive(Debug, Default)]
pub(crate) struct BridgeBoard {
    bridges: Mutex<BTreeMap<String, Arc<BridgeCounters>>>,
}

impl BridgeBoard {
    /// The counters of `name`, new ones if it has none (they survive a
    /// restart of its link: they count since the broker started).
    pub(crate) fn counters(&self, name: &str) -> Arc<BridgeCounters> {
        let mut bridges = self.bridges.lock().unwrap_or_else(|e| e.into_inner());
        bridges.entry(name.to_string()).or_default().clone()
    }

    /// Forget a deleted bridge.
    pub(crate) fn remove(&self, name: &str) {
        let mut bridges = self.bridges.lock().unwrap_or_else(|e| e.into_inner());
        bridges.remove(name);
    }

    pub(crate) fn figures(&self) -> Vec<BridgeFigures> {
        let bridges = self.bridges.lock().unwrap_or_else(|e| e.into_inner());
        bridges
            .iter()
            .map(|(name, c)| BridgeFigures {
                name: name.clone(),
                up: c.up.load(Ordering::Relaxed),
                sent: c.sent.load(Ordering::Relaxed),
                received: c.received.load(Ordering::Relaxed),
                queued: c.queued.load(Ordering::Relaxed),
                dropped: c.dropped.load(Ordering::Relaxed),
                reconnects: c.reconnects.load(Ordering::Relaxed),
            })
            .collect()
    }
}

impl BridgeFigures {
    /// Rows below `$SYS/broker/` (Mosquitto's `connection/<name>/state`,
    /// which the link also publishes the moment it changes).
    pub(crate) fn sys_rows(&self) -> Vec<(String, String)> {
        let at = |what: &str| format!("connection/{}/{what}", self.name);
        vec![
            (at("state"), u8::from(self.up).to_string()),
            (at("messages/sent"), self.sent.to_string()),
            (at("messages/received"), self.received.to_string()),
            (at("messages/queued"), self.queued.to_string()),
            (at("messages/dropped"), self.dropped.to_string()),
            (at("reconnects"), self.reconnects.to_string()),
        ]
    }
}

/// The bridges' Prometheus metrics, labelled `bridge="<name>"`.
pub(crate) fn prometheus(bridges: &[BridgeFigures], out: &mut String) {
    if bridges.is_empty() {
        return;
    }
    type Read = fn(&BridgeFigures) -> u64;
    let metrics: [(&str, &str, &str, Read); 6] = [
        (
            "kite_bridge_up",
            "gauge",
            "1 while the bridge is connected to its remote.",
            |b| u64::from(b.up),
        ),
        (
            "kite_bridge_messages_sent_total",
            "counter",
            "Messages the bridge sent to its remote.",
            |b| b.sent,
        ),
        (
            "kite_bridge_messages_received_total",
            "counter",
            "Messages the bridge received from its remote.",
            |b| b.received,
        ),
        (
            "kite_bridge_messages_queued",
            "gauge",
            "Messages held for the remote (waiting or unacknowledged).",
            |b| b.queued,
        ),
        (
            "kite_bridge_messages_dropped_total",
            "counter",
            "QoS 0 messages dropped while the remote could not take them.",
            |b| b.dropped,
        ),
        (
            "kite_bridge_reconnects_total",
            "counter",
            "Connections to the remote after the first.",
            |b| b.reconnects,
        ),
    ];
    for (metric, kind, help, read) in metrics {
        let _ = writeln!(out, "# HELP {metric} {help}");
        let _ = writeln!(out, "# TYPE {metric} {kind}");
        for bridge in bridges {
            let _ = writeln!(
                out,
                "{metric}{{bridge=\"{}\"}} {}",
                bridge.name,
                read(bridge)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_render_as_sys_rows_and_labelled_metrics() {
        let board = BridgeBoard::default();
        let counters = board.counters("cloud");
        counters.up.store(true, Ordering::Relaxed);
        counters.sent.store(7, Ordering::Relaxed);
        let figures = board.figures();
        assert_eq!(figures.len(), 1);
        let rows = figures[0].sys_rows();
        assert!(rows.contains(&("connection/cloud/state".into(), "1".into())));
        assert!(rows.contains(&("connection/cloud/messages/sent".into(), "7".into())));
        let mut text = String::new();
        prometheus(&figures, &mut text);
        assert!(
            text.contains("kite_bridge_up{bridge=\"cloud\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("kite_bridge_messages_sent_total{bridge=\"cloud\"} 7\n"));
        board.remove("cloud");
        assert!(board.figures().is_empty());
    }
}
