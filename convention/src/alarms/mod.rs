//! The broker's alarm engine, as its clients see it: the `$kite/alarms/...`
//! topics, the rule JSON and the JSON the engine publishes. The broker
//! (`kite-server`) evaluates the rules and publishes the state under these
//! topics; the dashboard edits rules and follows the state. Both take the
//! names and the payload types from here.
//!
//! - `$kite/alarms/rules/<rule-id>`: a retained [`Rule`] (an empty payload
//!   deletes it).
//! - `$kite/alarms/active/<device>/<rule-id>`: a retained [`Active`] while
//!   the alarm is active.
//! - `$kite/alarms/ack/<device>/<rule-id>`: publish (who acknowledges) to
//!   acknowledge an active alarm.
//! - `$kite/alarms/events`: each raise, clear or acknowledgement, an
//!   [`AlarmEvent`].
//! - `$kite/alarms/errors`: a [`RuleRefusal`] for each rule the broker
//!   refused, and why.
//! - `$kite/alarms/history`: retained, the latest [`AlarmEvent`]s.
//!
//! - [`rule`]: the rule JSON, its [`Condition`]s and [`Severity`]s, and the
//!   threshold test with hysteresis.
//! - [`payload`]: what the engine publishes ([`Active`], [`AlarmEvent`],
//!   [`RuleRefusal`]), one doc line per JSON field.

pub mod payload;
pub mod rule;

pub use payload::{Active, AlarmEvent, RuleRefusal};
pub use rule::{glob, Condition, Rule, RuleError, Severity};

/// Every topic of the alarm engine starts with this.
pub const ROOT: &str = "$kite/alarms/";
/// The subscription filter that sees every alarm topic.
pub const FILTER: &str = "$kite/alarms/#";
pub const RULES_PREFIX: &str = "$kite/alarms/rules/";
pub const ACTIVE_PREFIX: &str = "$kite/alarms/active/";
pub const ACK_PREFIX: &str = "$kite/alarms/ack/";
pub const EVENTS_TOPIC: &str = "$kite/alarms/events";
pub const ERRORS_TOPIC: &str = "$kite/alarms/errors";
pub const HISTORY_TOPIC: &str = "$kite/alarms/history";

/// `$kite/alarms/rules/<id>`.
pub fn rule_topic(id: &str) -> String {
    format!("{RULES_PREFIX}{id}")
}

/// `$kite/alarms/active/<device>/<rule>`.
pub fn active_topic(device: &str, rule: &str) -> String {
    format!("{ACTIVE_PREFIX}{device}/{rule}")
}

/// `$kite/alarms/ack/<device>/<rule>`.
pub fn ack_topic(device: &str, rule: &str) -> String {
    format!("{ACK_PREFIX}{device}/{rule}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_under_the_root_and_the_filter() {
        for topic in [
            RULES_PREFIX,
            ACTIVE_PREFIX,
            ACK_PREFIX,
            EVENTS_TOPIC,
            ERRORS_TOPIC,
            HISTORY_TOPIC,
        ] {
            assert!(topic.starts_with(ROOT), "{topic}");
        }
        assert_eq!(FILTER.strip_suffix('#'), Some(ROOT));
        assert_eq!(rule_topic("r"), "$kite/alarms/rules/r");
        assert_eq!(
            active_topic("sim-1", "low-battery"),
            "$kite/alarms/active/sim-1/low-battery"
        );
        assert_eq!(
            ack_topic("sim-1", "low-battery"),
            "$kite/alarms/ack/sim-1/low-battery"
        );
    }
}
