//! What the alarm engine publishes, as the JSON on the wire: the broker
//! (`kite-server`) serializes these types and the dashboard deserializes the
//! very same ones.
//!
//! - [`Active`]: retained at `$kite/alarms/active/<device>/<rule-id>` while
//!   the alarm is active (an empty payload when it clears).
//! - [`AlarmEvent`]: each raise, clear or acknowledgement on
//!   `$kite/alarms/events`; `$kite/alarms/history` is a retained JSON array
//!   of them, oldest first.
//! - [`RuleRefusal`]: a rule the broker refused, on `$kite/alarms/errors`.
//!
//! Times are Unix milliseconds, written as integers; measured values are
//! JSON numbers as `serde_json` writes an `f64` (`5.0`, `25.5`). Readers are
//! tolerant: unknown fields are ignored, and an optional field that is
//! missing or of the wrong type reads as its default. Only the fields
//! without a `default` here are required.

use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::rule::Severity;

/// An active alarm, as retained at `$kite/alarms/active/<device>/<rule-id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Active {
    /// `device`: the id of the device the alarm is about.
    pub device: String,
    /// `rule`: the id of the rule that raised it.
    pub rule: String,
    /// `raised_at`: when it was raised, Unix milliseconds.
    pub raised_at: u64,
    /// `value`: the reading that raised it; `null` for `offline_for`.
    #[serde(default, deserialize_with = "lenient")]
    pub value: Option<f64>,
    /// `severity`: the rule's `info`, `warning` or `critical` (read as
    /// `warning` when missing or unknown).
    #[serde(default, deserialize_with = "lenient")]
    pub severity: Severity,
    /// `message`: the rule's text, or one made up from the rule.
    #[serde(default, deserialize_with = "lenient")]
    pub message: String,
    /// `acknowledged_by`: who acknowledged it; `null` until someone does.
    #[serde(default, deserialize_with = "lenient")]
    pub acknowledged_by: Option<String>,
    /// `acknowledged_at`: when it was acknowledged, Unix milliseconds;
    /// `null` until then.
    #[serde(default, deserialize_with = "lenient")]
    pub acknowledged_at: Option<u64>,
}

impl Active {
    /// A retained active alarm; `None` for anything else, the empty payload
    /// that clears it included.
    pub fn parse(payload: &[u8]) -> Option<Active> {
        serde_json::from_slice(payload).ok()
    }
}

/// One raise, clear or acknowledgement, as published on `$kite/alarms/events`
/// and kept in `$kite/alarms/history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmEvent {
    /// `type`: `raised`, `cleared` or `acknowledged`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `device`: the id of the device the alarm is about.
    pub device: String,
    /// `rule`: the id of the rule.
    pub rule: String,
    /// `severity`: as in [`Active::severity`].
    #[serde(default, deserialize_with = "lenient")]
    pub severity: Severity,
    /// `message`: as in [`Active::message`].
    #[serde(default, deserialize_with = "lenient")]
    pub message: String,
    /// `value`: the reading that raised or cleared it (a clear without one
    /// keeps the raising reading); `null` for `offline_for`.
    #[serde(default, deserialize_with = "lenient")]
    pub value: Option<f64>,
    /// `at`: when it happened, Unix milliseconds.
    pub at: u64,
    /// `by`: who acknowledged; only in `acknowledged` events, left out of
    /// the others.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub by: Option<String>,
}

impl AlarmEvent {
    /// One event from `$kite/alarms/events`.
    pub fn parse(payload: &[u8]) -> Option<AlarmEvent> {
        serde_json::from_slice(payload).ok()
    }

    /// The retained history, oldest first: the events of the array that
    /// read, skipping any that do not; empty when it is not an array.
    pub fn parse_history(payload: &[u8]) -> Vec<AlarmEvent> {
        let items: Vec<Value> = serde_json::from_slice(payload).unwrap_or_default();
        items
            .into_iter()
            .filter_map(|item| AlarmEvent::deserialize(item).ok())
            .collect()
    }
}

/// A rule the broker refused, as published on `$kite/alarms/errors`.
///
/// The fields are in the order the broker has always written them
/// (alphabetical).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRefusal {
    /// `at`: when it was refused, Unix milliseconds (read as 0 when missing).
    #[serde(default, deserialize_with = "lenient")]
    pub at: u64,
    /// `error`: why, in words.
    pub error: String,
    /// `rule`: the rule id, the topic after `$kite/alarms/rules/`; `null`
    /// when the topic is not under it.
    #[serde(default, deserialize_with = "lenient")]
    pub rule: Option<String>,
    /// `topic`: the topic the rule was published to.
    #[serde(default, deserialize_with = "lenient")]
    pub topic: String,
}

impl RuleRefusal {
    /// One refusal from `$kite/alarms/errors`.
    pub fn parse(payload: &[u8]) -> Option<RuleRefusal> {
        serde_json::from_slice(payload).ok()
    }
}

/// A field of the wrong type reads as its default, as a missing one does
/// (with `#[serde(default)]`).
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
    Ok(T::deserialize(Value::deserialize(d)?).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    // As the broker writes them (captured from `kite-server` before these
    // types moved here): `null` for absent values, `by` left out, `f64`
    // values with a decimal point, times as integers.
    const ACTIVE: &str = r#"{"device":"d2","rule":"gone","raised_at":31000,"value":null,"severity":"critical","message":"dev \"x\" gone","acknowledged_by":null,"acknowledged_at":null}"#;
    const ACKNOWLEDGED: &str = r#"{"device":"d3","rule":"low","raised_at":1700000000000,"value":5.0,"severity":"warning","message":"battery low","acknowledged_by":"alice","acknowledged_at":1700000000500}"#;
    const RAISED: &str = r#"{"type":"raised","device":"d3","rule":"low","severity":"warning","message":"battery low","value":5.0,"at":1700000000000}"#;
    const ACK_EVENT: &str = r#"{"type":"acknowledged","device":"d3","rule":"low","severity":"warning","message":"battery low","value":5.0,"at":1700000000500,"by":"alice"}"#;
    const CLEARED: &str = r#"{"type":"cleared","device":"d3","rule":"low","severity":"warning","message":"battery low","value":25.5,"at":1700000001000}"#;
    const REFUSED: &str = r#"{"at":1796244327238,"error":"threshold must be a finite number","rule":"bad","topic":"$kite/alarms/rules/bad"}"#;
    const REFUSED_OUTSIDE_RULES: &str = r#"{"at":5,"error":"threshold must be a finite number","rule":null,"topic":"$kite/alarms/rulesx"}"#;

    fn round_trip<T: Serialize + DeserializeOwned>(json: &str) -> T {
        let value: T = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), json);
        value
    }

    #[test]
    fn an_active_alarm_reads_and_writes_as_the_broker_retains_it() {
        let offline: Active = round_trip(ACTIVE);
        assert_eq!((offline.value, offline.raised_at), (None, 31000));
        assert_eq!(offline.severity, Severity::Critical);
        let acked: Active = round_trip(ACKNOWLEDGED);
        assert_eq!(acked.value, Some(5.0));
        assert_eq!(acked.acknowledged_by.as_deref(), Some("alice"));
        assert_eq!(acked.acknowledged_at, Some(1700000000500));
        assert_eq!(Active::parse(ACKNOWLEDGED.as_bytes()), Some(acked));
        assert_eq!(Active::parse(b""), None, "the empty payload that clears it");
    }

    #[test]
    fn events_read_and_write_as_the_broker_publishes_them() {
        for json in [RAISED, ACK_EVENT, CLEARED] {
            round_trip::<AlarmEvent>(json);
        }
        let ack: AlarmEvent = round_trip(ACK_EVENT);
        assert_eq!(
            (ack.kind.as_str(), ack.by.as_deref()),
            ("acknowledged", Some("alice"))
        );
        assert_eq!(
            AlarmEvent::parse(CLEARED.as_bytes()).unwrap().value,
            Some(25.5)
        );
    }

    #[test]
    fn the_history_is_an_array_of_events_oldest_first() {
        let json = format!("[{RAISED},{ACK_EVENT},{CLEARED}]");
        let history: Vec<AlarmEvent> = round_trip(&json);
        assert_eq!(AlarmEvent::parse_history(json.as_bytes()), history);
        let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["raised", "acknowledged", "cleared"]);
    }

    #[test]
    fn refusals_read_and_write_as_the_broker_reports_them() {
        let refused: RuleRefusal = round_trip(REFUSED);
        assert_eq!(refused.rule.as_deref(), Some("bad"));
        let outside: RuleRefusal = round_trip(REFUSED_OUTSIDE_RULES);
        assert_eq!((outside.rule, outside.at), (None, 5));
    }

    #[test]
    fn readers_ignore_unknown_fields_and_default_missing_or_odd_optional_ones() {
        let active = Active::parse(
            br#"{"device":"d","rule":"r","raised_at":1,"severity":"dire","value":"n/a","acknowledged_by":7,"extra":true}"#,
        )
        .unwrap();
        assert_eq!(active.severity, Severity::Warning);
        assert_eq!((active.value, active.acknowledged_by), (None, None));
        assert_eq!(active.message, "");
        assert_eq!(
            Active::parse(br#"{"device":"d","rule":"r"}"#),
            None,
            "raised_at is required"
        );

        let event =
            AlarmEvent::parse(br#"{"type":"raised","device":"d","rule":"r","at":2}"#).unwrap();
        assert_eq!(
            (event.severity, event.value, event.by),
            (Severity::Warning, None, None)
        );
        assert_eq!(
            AlarmEvent::parse(br#"{"device":"d","rule":"r","at":2}"#),
            None
        );

        let refusal = RuleRefusal::parse(br#"{"error":"no"}"#).unwrap();
        assert_eq!(
            (refusal.at, refusal.rule, refusal.topic.as_str()),
            (0, None, "")
        );
        assert_eq!(
            RuleRefusal::parse(br#"{"rule":"x"}"#),
            None,
            "error is required"
        );
    }

    #[test]
    fn a_history_skips_events_that_do_not_read() {
        let json = format!(r#"[{RAISED},42,{{"type":"raised"}},{CLEARED}]"#);
        let kinds: Vec<String> = AlarmEvent::parse_history(json.as_bytes())
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["raised", "cleared"]);
        assert!(AlarmEvent::parse_history(b"{}").is_empty());
        assert!(AlarmEvent::parse_history(b"").is_empty());
    }
}
