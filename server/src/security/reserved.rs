//! Topics a client may not publish to, whatever the ACL says, and the depth
//! limit on topic names and filters (`--max-topic-levels`).
//!
//! The broker alone writes `$SYS/...` and the alarm engine's outputs: a
//! forged `$kite/alarms/active/...` would show every dashboard an alarm
//! nobody raised, a forged `$SYS/broker/version` would replace the broker's
//! own statistic. Rules (`$kite/alarms/rules/...`) and acknowledgements
//! (`$kite/alarms/ack/...`) are the engine's inputs and stay writable,
//! subject to the ACL. The history's answers (`$kite/history/reply/...`)
//! come from the broker alone; its queries (`$kite/history/query`) are
//! the client's. The same for the administration API: its responses
//! (`$CONTROL/kite/v1/response`) are the broker's, its requests
//! (`$CONTROL/kite/v1`) the client's. `$share/...` is subscription syntax,
//! not a topic.

use kite_convention::{
    alarms::{ACTIVE_PREFIX, ERRORS_TOPIC, EVENTS_TOPIC, HISTORY_TOPIC},
    control::RESPONSE_TOPIC,
    history::REPLY_PREFIX,
    sys,
};

/// Why a client may not publish to a topic, or `None` when it may (as far
/// as these rules go; the ACL is asked separately).
pub(crate) fn refused_topic(topic: &str) -> Option<&'static str> {
    if within(topic, sys::ROOT.trim_end_matches('/')) {
        Some("$SYS topics are written by the broker alone")
    } else if within(topic, ACTIVE_PREFIX.trim_end_matches('/'))
        || within(topic, EVENTS_TOPIC)
        || within(topic, HISTORY_TOPIC)
        || within(topic, ERRORS_TOPIC)
    {
        Some("the alarm engine's outputs are written by the broker alone")
    } else if within(topic, REPLY_PREFIX.trim_end_matches('/')) {
        Some("the history's answers are written by the broker alone")
    } else if within(topic, RESPONSE_TOPIC) {
        Some("the $CONTROL API's responses are written by the broker alone")
    } else if topic.starts_with("$share/") {
        Some("$share/ begins a shared subscription filter, not a topic name")
    } else {
        None
    }
}

/// True when `topic` is the state topic of the Mosquitto bridge `client_id`:
/// with `notifications` (on by default) a bridge writes
/// `$SYS/broker/connection/<its client id>/state` in the broker it connects
/// to, "1" once connected and "0" as its will. Its own, and no other
/// `$SYS` topic, stays writable for it (Mosquitto's broker lets any client
/// write `$SYS`).
pub(crate) fn is_bridge_state(topic: &str, client_id: &str) -> bool {
    topic
        .strip_prefix(sys::PREFIX)
        .and_then(|rest| rest.strip_prefix("connection/"))
        .and_then(|rest| rest.strip_suffix("/state"))
        == Some(client_id)
}

/// `topic` is `root` or below it (`root/...`).
fn within(topic: &str, root: &str) -> bool {
    topic
        .strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The number of levels of a topic name or filter: one more than its `/`.
pub(crate) fn levels(topic: &str) -> usize {
    topic.bytes().filter(|&b| b == b'/').count() + 1
}

/// True when `topic` has more than `max` levels.
pub(crate) fn too_deep(topic: &str, max: usize) -> bool {
    // A topic shorter than `max` bytes cannot have more than `max` levels
    // (`max - 1` slashes at most): the common case costs no scan.
    topic.len() >= max && levels(topic) > max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_owned_topics_are_refused() {
        for topic in [
            "$SYS",
            "$SYS/broker/version",
            "$kite/alarms/active",
            "$kite/alarms/active/sim-1/fake",
            "$kite/alarms/events",
            "$kite/alarms/history",
            "$kite/alarms/errors",
            "$kite/alarms/errors/x",
            "$kite/history/reply/dashboard-1",
            "$CONTROL/kite/v1/response",
            "$CONTROL/kite/v1/response/x",
            "$share/g/t",
        ] {
            assert!(refused_topic(topic).is_some(), "{topic}");
        }
    }

    #[test]
    fn engine_inputs_and_lookalikes_are_allowed() {
        for topic in [
            "$kite/alarms/rules/r1",
            "$kite/alarms/ack/sim-1/low",
            "$kite/history/query",
            "$CONTROL/kite/v1",
            "$SYSTEM/x",
            "$kite/alarms/eventsx",
            "SYS/broker",
            "a/$SYS",
            "$sharex/t",
            "devices/sim-1/telemetry",
        ] {
            assert_eq!(refused_topic(topic), None, "{topic}");
        }
    }

    #[test]
    fn a_bridges_state_topic_is_its_own() {
        let own = "$SYS/broker/connection/host.kite/state";
        assert!(is_bridge_state(own, "host.kite"));
        assert!(
            refused_topic(own).is_some(),
            "for anyone else, $SYS is the broker's"
        );
        for other in [
            "$SYS/broker/connection/other/state",
            "$SYS/broker/connection/host.kite/state/x",
            "$SYS/broker/connection/host.kite",
            "$SYS/broker/clients/connected",
            "$SYS/connection/host.kite/state",
        ] {
            assert!(!is_bridge_state(other, "host.kite"), "{other}");
        }
        assert!(is_bridge_state("$SYS/broker/connection/a/b/state", "a/b"));
    }

    #[test]
    fn depth_counts_levels_not_bytes() {
        assert_eq!(levels(""), 1);
        assert_eq!(levels("a"), 1);
        assert_eq!(levels("/"), 2);
        assert_eq!(levels("a/b/c"), 3);
        assert!(!too_deep("a/b/c", 3));
        assert!(too_deep("a/b/c/d", 3));
        assert!(too_deep("///", 3));
        assert!(too_deep(&"/".repeat(65_535), 128));
        assert!(!too_deep(&"x".repeat(65_535), 128), "long, but one level");
        assert!(!too_deep(&"/".repeat(127), 128));
        assert!(too_deep(&"/".repeat(128), 128));
    }
}
