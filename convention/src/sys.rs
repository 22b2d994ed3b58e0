//! The broker's statistics under `$SYS/broker/...` (Mosquitto's names), as
//! the broker publishes them and the dashboard's broker page reads them.
//!
//! A statistic is named by its path below [`PREFIX`] (`clients/connected`);
//! [`topic`] gives the full topic. Values are text: a number, sometimes
//! followed by a unit (`uptime` is `42 seconds`).

/// The subscription filter that sees every statistic.
pub const FILTER: &str = "$SYS/#";
/// Every `$SYS` topic starts with this.
pub const ROOT: &str = "$SYS/";
/// The broker's statistics are below this; the constants below are relative
/// to it.
pub const PREFIX: &str = "$SYS/broker/";

/// The broker's name and version (`kite 0.1.0`).
pub const VERSION: &str = "version";
/// Seconds since the broker started (`42 seconds`).
pub const UPTIME: &str = "uptime";
/// Clients connected now.
pub const CLIENTS_CONNECTED: &str = "clients/connected";
/// Clients connected now, and sessions kept for clients gone.
pub const CLIENTS_TOTAL: &str = "clients/total";
/// Counters since the start: PUBLISH packets in and out, messages dropped.
pub const MESSAGES_RECEIVED: &str = "messages/received";
pub const MESSAGES_SENT: &str = "messages/sent";
pub const MESSAGES_DROPPED: &str = "messages/dropped";
/// Counters since the start: bytes in and out.
pub const BYTES_RECEIVED: &str = "bytes/received";
pub const BYTES_SENT: &str = "bytes/sent";
/// Subscriptions now.
pub const SUBSCRIPTIONS_COUNT: &str = "subscriptions/count";
/// Retained messages now.
pub const RETAINED_MESSAGES_COUNT: &str = "retained messages/count";
/// The history (`$kite/history/query`): readings and events recorded,
/// device messages it dropped because it was behind, queries answered,
/// and the bytes of live data in its file.
pub const HISTORY_READINGS: &str = "history/readings";
pub const HISTORY_EVENTS: &str = "history/events";
pub const HISTORY_DROPPED: &str = "history/dropped";
pub const HISTORY_QUERIES: &str = "history/queries";
pub const HISTORY_STORED_BYTES: &str = "history/stored bytes";
/// The session store (`--durability always` or `batch`): batches of writes
/// submitted to it, and transactions it committed (an fsync each).
pub const STORE_SUBMISSIONS: &str = "store/submissions";
pub const STORE_COMMITS: &str = "store/commits";
/// Per-client counters are `clients/<client-id>/<counter>`; see [`client_stat`].
pub const CLIENTS: &str = "clients/";

/// In a cluster, each node's statistics for every node to see:
/// `$SYS/brokers/<node-id>/<stat>`.
pub const NODES: &str = "$SYS/brokers/";

/// The full topic of a node's statistic in a cluster.
pub fn node_topic(node: &str, stat: &str) -> String {
    format!("{NODES}{node}/{stat}")
}

/// The node and the statistic of a topic under [`NODES`]
/// (`$SYS/brokers/east/clients/connected` → `("east", "clients/connected")`);
/// `None` for other topics, or when either part is empty.
pub fn node_stat(topic: &str) -> Option<(&str, &str)> {
    let (node, stat) = topic.strip_prefix(NODES)?.split_once('/')?;
    (!node.is_empty() && !stat.is_empty()).then_some((node, stat))
}

/// A `$SYS` topic that stays on the node that publishes it (everything
/// under `$SYS/` but the cluster-wide `$SYS/brokers/...`).
pub fn node_local(topic: &str) -> bool {
    topic.starts_with(ROOT) && !topic.starts_with(NODES)
}

/// The full topic of a statistic: `$SYS/broker/<stat>`.
pub fn topic(stat: &str) -> String {
    format!("{PREFIX}{stat}")
}

/// A per-client counter: `clients/<client-id>/<counter>`.
pub fn client_stat(client_id: &str, counter: &str) -> String {
    format!("{CLIENTS}{client_id}/{counter}")
}

/// The number a statistic's text starts with (`"42 seconds"` → 42); `None`
/// for text that is no number (`version`). The broker's history keeps and
/// the dashboard charts what this reads.
pub fn leading_number(text: &str) -> Option<f64> {
    let end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && c == '-')))
        .map_or(text.len(), |(i, _)| i);
    text[..end].parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_below_the_prefix() {
        assert_eq!(topic(CLIENTS_CONNECTED), "$SYS/broker/clients/connected");
        assert_eq!(
            topic(RETAINED_MESSAGES_COUNT),
            "$SYS/broker/retained messages/count"
        );
        assert!(PREFIX.starts_with(ROOT) && FILTER.strip_suffix('#') == Some(ROOT));
        assert!(CLIENTS_CONNECTED.starts_with(CLIENTS) && CLIENTS_TOTAL.starts_with(CLIENTS));
        assert_eq!(client_stat("sim-1", "dropped"), "clients/sim-1/dropped");
    }

    #[test]
    fn node_topics_split_into_node_and_statistic() {
        let shared = node_topic("east", CLIENTS_CONNECTED);
        assert_eq!(shared, "$SYS/brokers/east/clients/connected");
        assert_eq!(node_stat(&shared), Some(("east", CLIENTS_CONNECTED)));
        assert_eq!(
            node_stat("$SYS/brokers/kite-1/retained messages/count"),
            Some(("kite-1", RETAINED_MESSAGES_COUNT))
        );
        for other in [
            "$SYS/broker/uptime",
            "$SYS/brokers/east",
            "$SYS/brokers/east/",
            "$SYS/brokers//uptime",
        ] {
            assert_eq!(node_stat(other), None, "{other}");
        }
        assert!(!node_local(&shared) && node_local(&topic(UPTIME)));
    }

    #[test]
    fn values_start_with_their_number() {
        assert_eq!(leading_number("42 seconds"), Some(42.0));
        assert_eq!(leading_number("-3.5"), Some(-3.5));
        assert_eq!(leading_number("kite 1"), None);
        assert_eq!(leading_number(""), None);
    }
}
