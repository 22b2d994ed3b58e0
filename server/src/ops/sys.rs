//! The `$SYS/broker/...` publisher: every `--sys-interval` seconds, the
//! rows of a metrics [`Snapshot`](crate::metrics::Snapshot) as retained
//! messages (Mosquitto's names).

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use kite_convention::sys;

use crate::{broker::Shared, protocol::message::Message};

/// Publish the `$SYS` tree every `interval` until shutdown. An interval of 0 turns it off.
pub(super) async fn publish_periodically(shared: Arc<Shared>, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    // In a cluster, each node's figures also go to every node, under
    // `$SYS/brokers/<node-id>/` (its own `$SYS/broker/` stays its own).
    let node = shared
        .config
        .node_id
        .clone()
        .filter(|_| !shared.config.cluster.is_empty());
    let version = format!("kite {}", env!("CARGO_PKG_VERSION"));
    publish_once(&shared, sys::VERSION, version.clone());
    // The first round runs at once.
    super::tasks::every(interval, shared.shutdown.clone(), || {
        if let Some(node) = &node {
            // Each round, not once: one published before this node reached
            // the cluster's retained bucket (NATS slow at start) stayed here
            // alone, and the other nodes never learnt this node's version.
            let shared_topic = sys::node_topic(node, sys::VERSION);
            shared.publish_internal(Message::sys(shared_topic, Bytes::from(version.clone())));
        }
        for (topic, value) in shared.snapshot().sys_rows() {
            if let Some(node) = &node {
                let shared_topic = sys::node_topic(node, &topic);
                shared.publish_internal(Message::sys(shared_topic, Bytes::from(value.clone())));
            }
            publish_once(&shared, &topic, value);
        }
    })
    .await;
}

fn publish_once(shared: &Shared, topic: &str, value: String) {
    let topic = sys::topic(topic);
    let payload = Bytes::from(value);
    // The history keeps the broker's statistics too (device `$SYS`).
    shared.history.record_stat(&topic, &payload);
    shared.publish_internal(Message::sys(topic, payload));
}
