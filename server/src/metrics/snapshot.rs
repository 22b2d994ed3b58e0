//! What `$SYS` and `/metrics` show, read at one moment: a [`Snapshot`] of
//! the statistics, the limit counters and the per-client queue counters,
//! rendered as Prometheus text or as `$SYS/broker/...` rows (Mosquitto's
//! names).

use std::{
    fmt::Write,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use kite_convention::sys;

use super::{
    bridges::{self, BridgeFigures},
    counters::{Limits, Stats},
};
use crate::util::counter::Counter;

/// What the broker measures by looking, not by counting.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Gauges {
    /// Subscriptions now (shared members included).
    pub subscriptions: usize,
    /// Retained messages now.
    pub retained: usize,
    /// Since the broker started.
    pub uptime: Duration,
    /// The history's figures.
    pub history: HistoryGauges,
    /// The session store's.
    pub store: StoreGauges,
}

/// The history's figures, read at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryGauges {
    pub readings: u64,
    pub events: u64,
    pub dropped: u64,
    pub queries: u64,
    pub stored_bytes: u64,
}

/// The session store's figures since the start: a connection's read makes one
/// submission however many writes it has (its PUBLISHes' and PUBACKs'),
/// and a round of submissions one commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreGauges {
    /// Batches of writes submitted.
    pub submissions: u64,
    /// Transactions committed (one fsync each under `--durability always`
    /// and `batch`).
    pub commits: u64,
}

/// Every statistic at one moment, and each client's queued bytes and drops.
pub(crate) struct Snapshot {
    pub stats: Vec<Stat>,
    /// (client id, bytes queued, messages dropped) of clients with a queue.
    pub clients: Vec<(Arc<str>, u64, u64)>,
    /// Each bridge's figures.
    pub bridges: Vec<BridgeFigures>,
}

impl Snapshot {
    pub(crate) fn new(
        stats: &Stats,
        limits: &Limits,
        gauges: Gauges,
        clients: Vec<(Arc<str>, u64, u64)>,
        bridges: Vec<BridgeFigures>,
    ) -> Snapshot {
        Snapshot {
            stats: self::stats(stats, limits, &gauges),
            clients,
            bridges,
        }
    }

    /// The `$SYS/broker/...` rows (topic below `$SYS/broker/`, value).
    pub(crate) fn sys_rows(&self) -> Vec<(String, String)> {
        let mut rows = Vec::with_capacity(self.stats.len() + 2 * self.clients.len());
        for stat in &self.stats {
            let value = if stat.topic == sys::UPTIME {
                format!("{} seconds", stat.value)
            } else {
                stat.value.to_string()
            };
            rows.push((stat.topic.to_string(), value));
        }
        for (client, bytes, dropped) in &self.clients {
            // A client id is free text; a topic level must not hold `/`, `+`, `#`.
            let level: String = client
                .chars()
                .map(|c| if matches!(c, '/' | '+' | '#') { '_' } else { c })
                .collect();
            rows.push((sys::client_stat(&level, "queued_bytes"), bytes.to_string()));
            rows.push((sys::client_stat(&level, "dropped"), dropped.to_string()));
        }
        for bridge in &self.bridges {
            rows.extend(bridge.sys_rows());
        }
        rows
    }

    /// The counters in Prometheus text exposition format.
    pub(crate) fn prometheus(&self) -> String {
        let mut out = String::new();
        for stat in &self.stats {
            let _ = writeln!(out, "# HELP {} {}", stat.metric, stat.help);
            let _ = writeln!(out, "# TYPE {} {}", stat.metric, stat.kind);
            let _ = writeln!(out, "{} {}", stat.metric, stat.value);
        }
        let clients = &self.clients;
        if !clients.is_empty() {
            let label = |id: &str| id.replace('\\', "\\\\").replace('"', "\\\"");
            out.push_str("# HELP kite_client_queued_bytes Payload bytes queued for one client.\n");
            out.push_str("# TYPE kite_client_queued_bytes gauge\n");
            for (client, bytes, _) in clients {
                let _ = writeln!(
                    out,
                    "kite_client_queued_bytes{{client_id=\"{}\"}} {bytes}",
                    label(client)
                );
            }
            out.push_str("# HELP kite_client_messages_dropped_total Messages dropped for one client (queue limits).\n");
            out.push_str("# TYPE kite_client_messages_dropped_total counter\n");
            for (client, _, dropped) in clients {
                let _ = writeln!(
                    out,
                    "kite_client_messages_dropped_total{{client_id=\"{}\"}} {dropped}",
                    label(client)
                );
            }
        }
        bridges::prometheus(&self.bridges, &mut out);
        out
    }
}

/// Prometheus text with a `node="<id>"` label on every sample (a cluster
/// node's `/metrics`, so the nodes' figures can be told apart when scraped
/// together).
pub(crate) fn with_node_label(text: &str, node: &str) -> String {
    let node = node.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            out.push_str(line);
        } else if let Some((name, rest)) = line.split_once('{') {
            let _ = write!(out, "{name}{{node=\"{node}\",{rest}");
        } else if let Some((name, value)) = line.split_once(' ') {
            let _ = write!(out, "{name}{{node=\"{node}\"}} {value}");
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// One statistic: its `$SYS` topic, its Prometheus name and help, its value.
pub(crate) struct Stat {
    pub topic: &'static str,
    pub metric: &'static str,
    pub help: &'static str,
    pub kind: &'static str,
    pub value: u64,
}

fn stats(s: &Stats, limits: &Limits, gauges: &Gauges) -> Vec<Stat> {
    let get = Counter::get;
    vec![
        Stat {
            topic: sys::CLIENTS_CONNECTED,
            metric: "kite_clients_connected",
            help: "Clients connected now.",
            kind: "gauge",
            value: get(&s.clients_connected),
        },
        Stat {
            topic: sys::CLIENTS_TOTAL,
            metric: "kite_clients_total",
            help: "Connections accepted since start.",
            kind: "counter",
            value: get(&s.clients_total),
        },
        Stat {
            topic: sys::MESSAGES_RECEIVED,
            metric: "kite_messages_received_total",
            help: "PUBLISH packets received.",
            kind: "counter",
            value: get(&s.messages_received),
        },
        Stat {
            topic: sys::MESSAGES_SENT,
            metric: "kite_messages_sent_total",
            help: "PUBLISH packets sent.",
            kind: "counter",
            value: get(&s.messages_sent),
        },
        Stat {
            topic: sys::MESSAGES_DROPPED,
            metric: "kite_messages_dropped_total",
            help: "Messages dropped because a subscriber's queue was full.",
            kind: "counter",
            value: get(&s.messages_dropped),
        },
        Stat {
            topic: sys::BYTES_RECEIVED,
            metric: "kite_bytes_received_total",
            help: "Bytes received from clients.",
            kind: "counter",
            value: get(&s.bytes_received),
        },
        Stat {
            topic: sys::BYTES_SENT,
            metric: "kite_bytes_sent_total",
            help: "Bytes sent to clients.",
            kind: "counter",
            value: get(&s.bytes_sent),
        },
        Stat {
            topic: sys::SUBSCRIPTIONS_COUNT,
            metric: "kite_subscriptions",
            help: "Subscriptions now.",
            kind: "gauge",
            value: gauges.subscriptions as u64,
        },
        Stat {
            topic: sys::RETAINED_MESSAGES_COUNT,
            metric: "kite_retained_messages",
            help: "Retained messages now.",
            kind: "gauge",
            value: gauges.retained as u64,
        },
        Stat {
            topic: sys::UPTIME,
            metric: "kite_uptime_seconds",
            help: "Seconds since the broker started.",
            kind: "counter",
            value: gauges.uptime.as_secs(),
        },
        Stat {
            topic: sys::HISTORY_READINGS,
            metric: "kite_history_readings_total",
            help: "Device readings the history recorded.",
            kind: "counter",
            value: gauges.history.readings,
        },
        Stat {
            topic: sys::HISTORY_EVENTS,
            metric: "kite_history_events_total",
            help: "Device and alarm events the history recorded.",
            kind: "counter",
            value: gauges.history.events,
        },
        Stat {
            topic: sys::HISTORY_DROPPED,
            metric: "kite_history_dropped_total",
            help: "Device messages left out of the history because it was behind.",
            kind: "counter",
            value: gauges.history.dropped,
        },
        Stat {
            topic: sys::HISTORY_QUERIES,
            metric: "kite_history_queries_total",
            help: "History queries answered (MQTT and HTTP).",
            kind: "counter",
            value: gauges.history.queries,
        },
        Stat {
            topic: sys::HISTORY_STORED_BYTES,
            metric: "kite_history_stored_bytes",
            help: "Bytes of live data in the history's file (as of its last prune).",
            kind: "gauge",
            value: gauges.history.stored_bytes,
        },
        Stat {
            topic: sys::STORE_SUBMISSIONS,
            metric: "kite_store_submissions_total",
            help: "Batches of writes submitted to the session store (one per connection read at most).",
            kind: "counter",
            value: gauges.store.submissions,
        },
        Stat {
            topic: sys::STORE_COMMITS,
            metric: "kite_store_commits_total",
            help: "Transactions the session store committed (one fsync each).",
            kind: "counter",
            value: gauges.store.commits,
        },
    ]
    .into_iter()
    .chain(
        limit_stats(limits)
            .into_iter()
            .map(|(topic, metric, help, kind, value)| Stat {
                topic,
                metric,
                help,
                kind,
                value,
            }),
    )
    .collect()
}

/// One `$SYS/broker/...` statistic: topic, Prometheus metric, help, kind, value.
type SysStat = (&'static str, &'static str, &'static str, &'static str, u64);

/// The limit counters for `$SYS` and `/metrics`.
fn limit_stats(limits: &Limits) -> Vec<SysStat> {
    let c = &limits.counters;
    let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    vec![
        (
            "connections/open",
            "kite_connections_open",
            "Network connections open now (counted against --max-connections).",
            "gauge",
            limits.open_connections() as u64,
        ),
        (
            "connections/dormant",
            "kite_connections_dormant",
            "Quiet MQTT-over-TCP connections lying dormant now: no task, no buffers (--dormant-after).",
            "gauge",
            get(&c.dormant),
        ),
        (
            "connections/dormancies",
            "kite_dormancies_total",
            "Times a quiet connection lay dormant (and was woken or ended later).",
            "counter",
            get(&c.dormancies),
        ),
        (
            "limits/connections refused",
            "kite_connections_refused_total",
            "Connections closed at accept: --max-connections reached.",
            "counter",
            get(&c.connections_refused),
        ),
        (
            "limits/connect timeouts",
            "kite_connect_timeouts_total",
            "Connections closed: no CONNECT (or TLS handshake) within --connect-timeout.",
            "counter",
            get(&c.connect_timeouts),
        ),
        (
            "limits/write timeouts",
            "kite_write_timeouts_total",
            "Connections closed: they took no data for --write-timeout while the broker wrote to them.",
            "counter",
            get(&c.write_timeouts),
        ),
        (
            "limits/packets too large",
            "kite_packets_too_large_total",
            "Connections closed for a packet above --max-packet-size.",
            "counter",
            get(&c.packets_too_large),
        ),
        (
            "limits/keepalive limited",
            "kite_keepalive_limited_total",
            "CONNECTs asking for more than --max-keepalive (v5: lowered, 3.1.1: refused).",
            "counter",
            get(&c.keepalive_limited),
        ),
        (
            "limits/inflight waits",
            "kite_inflight_waits_total",
            "Deliveries that waited for room in the inflight window (--max-inflight).",
            "counter",
            get(&c.inflight_waits),
        ),
        (
            "limits/queued bytes dropped",
            "kite_queued_bytes_dropped_total",
            "Messages dropped because a client's queue reached --max-queued-bytes.",
            "counter",
            get(&c.queued_bytes_dropped),
        ),
        (
            "limits/publishes rate limited",
            "kite_publishes_rate_limited_total",
            "PUBLISH packets over --max-publish-rate (refused or throttled).",
            "counter",
            get(&c.publishes_rate_limited),
        ),
        (
            "security/auth failures",
            "kite_auth_failures_total",
            "CONNECTs refused for a bad user name or password.",
            "counter",
            get(&c.auth_failures),
        ),
        (
            "security/anonymous refused",
            "kite_anonymous_refused_total",
            "CONNECTs refused because anonymous clients are not allowed on that listener.",
            "counter",
            get(&c.anonymous_refused),
        ),
        (
            "security/acl denied publish",
            "kite_acl_denied_publish_total",
            "PUBLISH packets and wills the ACL did not allow.",
            "counter",
            get(&c.acl_denied_publish),
        ),
        (
            "security/acl denied subscribe",
            "kite_acl_denied_subscribe_total",
            "Subscription filters the ACL did not allow.",
            "counter",
            get(&c.acl_denied_subscribe),
        ),
        (
            "security/acl denied read",
            "kite_acl_denied_read_total",
            "Deliveries withheld because the ACL does not let the subscriber read the topic.",
            "counter",
            get(&c.acl_denied_read),
        ),
        (
            "security/broker topics refused",
            "kite_broker_topics_refused_total",
            "PUBLISH packets and wills to topics only the broker writes ($SYS, alarm outputs) or to $share/.",
            "counter",
            get(&c.broker_topics_refused),
        ),
        (
            "limits/topic levels refused",
            "kite_topic_levels_refused_total",
            "Topic names and filters deeper than --max-topic-levels.",
            "counter",
            get(&c.topic_levels_refused),
        ),
        (
            "security/tls failures",
            "kite_tls_failures_total",
            "TLS handshakes that failed or timed out.",
            "counter",
            get(&c.tls_failures),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::with_node_label;

    #[test]
    fn every_sample_gets_the_node_label_and_comments_stay() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total 3\nb{client_id=\"x\"} 4\n";
        assert_eq!(
            with_node_label(text, "n\"1"),
            "# HELP a_total A.\n# TYPE a_total counter\na_total{node=\"n\\\"1\"} 3\n\
             b{node=\"n\\\"1\",client_id=\"x\"} 4\n"
        );
    }
}
