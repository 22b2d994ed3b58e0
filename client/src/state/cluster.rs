//! The cluster page's model: every node heard under
//! `$SYS/brokers/<node-id>/<stat>` (each node of a cluster publishes its
//! `$SYS/broker/...` figures there too, for every node to see), whether it
//! is up, its message rates, and which node the dashboard is connected to.
//!
//! A node is up while its figures keep changing. Those messages are
//! retained (in the cluster's bucket), so a node that died long ago is
//! still heard once, right after connecting, with its last figures; and
//! under MQTT 5 a live message carries the retain flag too
//! (retain-as-published). So what counts is not a message arriving but a
//! figure taking a new value (`uptime` does at every publication): until
//! one does, a node is `waiting`, and it is `down` when none has for
//! [`DOWN_AFTER_INTERVALS`] of its `--sys-interval` (read from the steps of
//! its `uptime`; the other nodes' interval, or [`DEFAULT_INTERVAL_S`],
//! until it has two).

use std::collections::BTreeMap;

use kite_convention::sys::{
    self, leading_number, BYTES_RECEIVED, BYTES_SENT, CLIENTS_CONNECTED, CLIENTS_TOTAL,
    MESSAGES_RECEIVED, MESSAGES_SENT, SUBSCRIPTIONS_COUNT, UPTIME, VERSION,
};

/// A node is down when none of its figures changed for this many of its
/// publication intervals.
pub const DOWN_AFTER_INTERVALS: u64 = 3;
/// … but never sooner than this (ms), so a busy page does not flap.
pub const MIN_DOWN_AFTER_MS: u64 = 5_000;
/// The broker's default `--sys-interval`, for nodes whose interval is not
/// known yet.
pub const DEFAULT_INTERVAL_S: f64 = 10.0;

/// Counters whose rate per second is shown.
const RATED: [&str; 2] = [MESSAGES_RECEIVED, MESSAGES_SENT];

/// Figures compared with the dashboard's own `$SYS/broker/...` to tell which
/// node it is connected to (a node publishes both from one snapshot).
const SIGNATURE: [&str; 7] = [
    UPTIME,
    MESSAGES_RECEIVED,
    MESSAGES_SENT,
    BYTES_RECEIVED,
    BYTES_SENT,
    CLIENTS_TOTAL,
    SUBSCRIPTIONS_COUNT,
];
/// At least this many of [`SIGNATURE`] must be known on both sides.
const SIGNATURE_MIN: usize = 3;

/// Whether a node's figures are still arriving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Its figures changed within the last [`DOWN_AFTER_INTERVALS`].
    Up,
    /// Heard, but no figure changed yet (perhaps only its retained last
    /// figures): not long enough to say.
    Waiting,
    /// No figure changed for [`DOWN_AFTER_INTERVALS`] intervals.
    Down,
}

impl NodeState {
    /// As the page shows it (and as `data-state`).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Up => "up",
            NodeState::Waiting => "waiting",
            NodeState::Down => "down",
        }
    }
}

/// One counter sample; `fresh` when the node was known to be live as it
/// arrived (a retained last figure heard at connect is not).
#[derive(Clone, Copy, Debug)]
struct Sample {
    ms: u64,
    value: f64,
    fresh: bool,
}

/// What is known of one node.
#[derive(Clone, Debug, Default)]
struct Node {
    /// Statistic → latest text.
    values: BTreeMap<String, String>,
    /// When the page first heard of it (ms).
    first_ms: u64,
    /// When one of its figures last took a new value (ms).
    changed_ms: Option<u64>,
    /// Its `--sys-interval`, from the steps of its `uptime` (s).
    interval_s: Option<f64>,
    /// Counter → its previous sample, and its latest rate per second.
    samples: BTreeMap<String, Sample>,
    rates: BTreeMap<String, f64>,
}

impl Node {
    fn apply(&mut self, stat: &str, text: String, now_ms: u64) {
        let before = self.values.get(stat);
        let changed = before.is_some_and(|b| *b != text);
        if stat == UPTIME && changed {
            let step = before
                .and_then(|b| leading_number(b))
                .zip(leading_number(&text))
                .map(|(b, a)| a - b);
            self.interval_s = match step {
                // Missed publications make longer steps: keep the shortest.
                Some(step) if step > 0.0 => {
                    Some(self.interval_s.map_or(step, |known| known.min(step)))
                }
                // It restarted, perhaps with another interval.
                _ => None,
            };
        }
        if changed {
            self.changed_ms = Some(now_ms);
        }
        if RATED.contains(&stat) {
            if let Some(value) = leading_number(&text) {
                let sample = Sample {
                    ms: now_ms,
                    value,
                    fresh: self.changed_ms.is_some(),
                };
                match self.samples.insert(stat.to_owned(), sample) {
                    Some(prev) if prev.fresh && value >= prev.value && now_ms > prev.ms => {
                        let seconds = (now_ms - prev.ms) as f64 / 1000.0;
                        if seconds >= 0.2 {
                            self.rates
                                .insert(stat.to_owned(), (value - prev.value) / seconds);
                        }
                    }
                    // Counting again from zero: no rate until the next one.
                    Some(prev) if value < prev.value => {
                        self.rates.remove(stat);
                    }
                    _ => {}
                }
            }
        }
        self.values.insert(stat.to_owned(), text);
    }

    fn number(&self, stat: &str) -> Option<f64> {
        self.values.get(stat).and_then(|t| leading_number(t))
    }

    fn state(&self, now_ms: u64, interval_s: f64) -> NodeState {
        let down_after =
            ((interval_s * 1000.0) as u64 * DOWN_AFTER_INTERVALS).max(MIN_DOWN_AFTER_MS);
        let since = self.changed_ms.unwrap_or(self.first_ms);
        if now_ms.saturating_sub(since) >= down_after {
            NodeState::Down
        } else if self.changed_ms.is_some() {
            NodeState::Up
        } else {
            NodeState::Waiting
        }
    }
}

/// One node as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeRow {
    pub id: String,
    pub state: NodeState,
    /// The node this dashboard is connected to.
    pub own: bool,
    pub clients_connected: Option<f64>,
    /// Connected, and sessions kept for clients away.
    pub clients_total: Option<f64>,
    pub subscriptions: Option<f64>,
    /// PUBLISH packets in and out per second (while up).
    pub messages_in_rate: Option<f64>,
    pub messages_out_rate: Option<f64>,
    pub uptime_s: Option<f64>,
    pub version: Option<String>,
    /// The publication interval used to judge it (s).
    pub interval_s: f64,
    /// Since a figure last changed (or since first heard) (ms).
    pub quiet_ms: u64,
}

/// Every node heard under `$SYS/brokers/`.
#[derive(Clone, Debug, Default)]
pub struct Cluster {
    nodes: BTreeMap<String, Node>,
    own: Option<String>,
}

impl Cluster {
    /// Take in a message under `$SYS/brokers/`; false for other topics.
    pub fn apply(&mut self, topic: &str, payload: &[u8], now_ms: u64) -> bool {
        let Some((node, stat)) = sys::node_stat(topic) else {
            return false;
        };
        let text = String::from_utf8_lossy(payload).trim().to_owned();
        self.nodes
            .entry(node.to_owned())
            .or_insert_with(|| Node {
                first_ms: now_ms,
                ..Node::default()
            })
            .apply(stat, text, now_ms);
        true
    }

    /// Find the node whose figures are the dashboard's own `$SYS/broker/...`
    /// ones (statistic → text). The answer sticks until another node alone
    /// matches, so the moments between a node's two publications of one
    /// figure do not make it flicker.
    pub fn recognise_own(&mut self, own: &BTreeMap<String, String>) {
        let matches = |node: &Node| {
            let mut compared = 0;
            for stat in SIGNATURE {
                if let (Some(a), Some(b)) = (node.values.get(stat), own.get(stat)) {
                    if a != b {
                        return false;
                    }
                    compared += 1;
                }
            }
            compared >= SIGNATURE_MIN
        };
        let mut found = self.nodes.iter().filter(|(_, n)| matches(n));
        if let (Some((id, _)), None) = (found.next(), found.next()) {
            if self.own.as_deref() != Some(id.as_str()) {
                self.own = Some(id.clone());
            }
        }
    }

    /// The node this dashboard is connected to, once recognised.
    pub fn own(&self) -> Option<&str> {
        self.own.as_deref()
    }

    /// True when no node was heard: a single broker, not a cluster.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The interval of nodes that do not show theirs yet: the shortest any
    /// node shows (a cluster's nodes usually share one), else the default.
    fn common_interval_s(&self) -> f64 {
        self.nodes
            .values()
            .filter_map(|n| n.interval_s)
            .reduce(f64::min)
            .unwrap_or(DEFAULT_INTERVAL_S)
    }

    /// Every node by id, judged at `now_ms`.
    pub fn rows(&self, now_ms: u64) -> Vec<NodeRow> {
        let common = self.common_interval_s();
        self.nodes
            .iter()
            .map(|(id, node)| {
                let interval_s = node.interval_s.unwrap_or(common);
                let state = node.state(now_ms, interval_s);
                let rate = |stat: &str| {
                    (state == NodeState::Up)
                        .then(|| node.rates.get(stat).copied())
                        .flatten()
                };
                NodeRow {
                    id: id.clone(),
                    state,
                    own: self.own.as_deref() == Some(id.as_str()),
                    clients_connected: node.number(CLIENTS_CONNECTED),
                    clients_total: node.number(CLIENTS_TOTAL),
                    subscriptions: node.number(SUBSCRIPTIONS_COUNT),
                    messages_in_rate: rate(MESSAGES_RECEIVED),
                    messages_out_rate: rate(MESSAGES_SENT),
                    uptime_s: node.number(UPTIME),
                    version: node.values.get(VERSION).cloned(),
                    interval_s,
                    quiet_ms: now_ms.saturating_sub(node.changed_ms.unwrap_or(node.first_ms)),
                }
            })
            .collect()
    }

    /// How many nodes are up, of how many heard.
    pub fn up_count(&self, now_ms: u64) -> (usize, usize) {
        let rows = self.rows(now_ms);
        let up = rows.iter().filter(|r| r.state == NodeState::Up).count();
        (up, rows.len())
    }
}

#[cfg(test)]
mod tests;
