//! Broker statistics: the `$SYS/broker/...` tree (Mosquitto's names),
//! published retained every `--sys-interval` seconds, and the same counters
//! in Prometheus text format for `/metrics`.

use std::{fmt::Write, sync::Arc, time::Duration};

use bytes::Bytes;
use mqtt::QoS;

use crate::{broker::Shared, message::Message};

/// One statistic: its `$SYS` topic, its Prometheus name and help, its value.
struct Stat {
    topic: &'static str,
    metric: &'static str,
    help: &'static str,
    kind: &'static str,
    value: u64,
}

fn stats(shared: &Shared) -> Vec<Stat> {
    let s = &shared.stats;
    let get = crate::counter::Counter::get;
    vec![
        Stat {
            topic: "clients/connected",
            metric: "kite_clients_connected",
            help: "Clients connected now.",
            kind: "gauge",
            value: get(&s.clients_connected),
        },
        Stat {
            topic: "clients/total",
            metric: "kite_clients_total",
            help: "Connections accepted since start.",
            kind: "counter",
            value: get(&s.clients_total),
        },
        Stat {
            topic: "messages/received",
            metric: "kite_messages_received_total",
            help: "PUBLISH packets received.",
            kind: "counter",
            value: get(&s.messages_received),
        },
        Stat {
            topic: "messages/sent",
            metric: "kite_messages_sent_total",
            help: "PUBLISH packets sent.",
            kind: "counter",
            value: get(&s.messages_sent),
        },
        Stat {
            topic: "messages/dropped",
            metric: "kite_messages_dropped_total",
            help: "Messages dropped because a subscriber's queue was full.",
            kind: "counter",
            value: get(&s.messages_dropped),
        },
        Stat {
            topic: "bytes/received",
            metric: "kite_bytes_received_total",
            help: "Bytes received from clients.",
            kind: "counter",
            value: get(&s.bytes_received),
        },
        Stat {
            topic: "bytes/sent",
            metric: "kite_bytes_sent_total",
            help: "Bytes sent to clients.",
            kind: "counter",
            value: get(&s.bytes_sent),
        },
        Stat {
            topic: "subscriptions/count",
            metric: "kite_subscriptions",
            help: "Subscriptions now.",
            kind: "gauge",
            value: shared.router.count() as u64,
        },
        Stat {
            topic: "retained messages/count",
            metric: "kite_retained_messages",
            help: "Retained messages now.",
            kind: "gauge",
            value: shared.retained.count() as u64,
        },
        Stat {
            topic: "uptime",
            metric: "kite_uptime_seconds",
            help: "Seconds since the broker started.",
            kind: "counter",
            value: shared.started.elapsed().as_secs(),
        },
    ]
    .into_iter()
    .chain(crate::limits::sys_stats(shared).into_iter().map(
        |(topic, metric, help, kind, value)| Stat {
            topic,
            metric,
            help,
            kind,
            value,
        },
    ))
    .collect()
}

/// Publish the `$SYS` tree every `interval` until shutdown. An interval of 0 turns it off.
pub async fn publish_periodically(shared: Arc<Shared>, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    let mut ticker = tokio::time::interval(interval);
    let mut stop = shared.shutdown.clone();
    publish_once(
        &shared,
        "version",
        format!("kite {}", env!("CARGO_PKG_VERSION")),
    );
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        for stat in stats(&shared) {
            let value = if stat.topic == "uptime" {
                format!("{} seconds", stat.value)
            } else {
                stat.value.to_string()
            };
            publish_once(&shared, stat.topic, value);
        }
        for (client, bytes, dropped) in shared.registry.queue_counters() {
            // A client id is free text; a topic level must not hold `/`, `+`, `#`.
            let level: String = client
                .chars()
                .map(|c| if matches!(c, '/' | '+' | '#') { '_' } else { c })
                .collect();
            publish_once(
                &shared,
                &format!("clients/{level}/queued_bytes"),
                bytes.to_string(),
            );
            publish_once(
                &shared,
                &format!("clients/{level}/dropped"),
                dropped.to_string(),
            );
        }
    }
}

fn publish_once(shared: &Shared, topic: &str, value: String) {
    shared.publish_internal(Message {
        topic: format!("$SYS/broker/{topic}").into(),
        payload: Bytes::from(value),
        qos: QoS::AtMostOnce,
        retain: true,
        properties: Default::default(),
        origin: Arc::from("$SYS"),
        expires_at: None,
    });
}

/// The counters in Prometheus text exposition format.
pub fn prometheus(shared: &Shared) -> String {
    let mut out = String::new();
    for stat in stats(shared) {
        let _ = writeln!(out, "# HELP {} {}", stat.metric, stat.help);
        let _ = writeln!(out, "# TYPE {} {}", stat.metric, stat.kind);
        let _ = writeln!(out, "{} {}", stat.metric, stat.value);
    }
    let clients = shared.registry.queue_counters();
    if !clients.is_empty() {
        let label = |id: &str| id.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str("# HELP kite_client_queued_bytes Payload bytes queued for one client.\n");
        out.push_str("# TYPE kite_client_queued_bytes gauge\n");
        for (client, bytes, _) in &clients {
            let _ = writeln!(
                out,
                "kite_client_queued_bytes{{client_id=\"{}\"}} {bytes}",
                label(client)
            );
        }
        out.push_str("# HELP kite_client_messages_dropped_total Messages dropped for one client (queue limits).\n");
        out.push_str("# TYPE kite_client_messages_dropped_total counter\n");
        for (client, _, dropped) in &clients {
            let _ = writeln!(
                out,
                "kite_client_messages_dropped_total{{client_id=\"{}\"}} {dropped}",
                label(client)
            );
        }
    }
    out
}
