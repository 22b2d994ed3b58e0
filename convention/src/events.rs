//! `devices/<id>/events`: something happened, as JSON:
//! `{"type":"door_opened","severity":"info","message":"Front door opened"}`.
//!
//! Unlike telemetry an event is not a sample of a continuous signal, so a
//! device publishes it once, at QoS 1, and a dashboard lists it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How much attention an event deserves.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Info,
    #[serde(alias = "warn")]
    Warning,
    #[serde(alias = "error", alias = "alarm")]
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Event types the simulator sends; devices may send any other string.
pub mod types {
    pub const DOOR_OPENED: &str = "door_opened";
    pub const DOOR_CLOSED: &str = "door_closed";
    pub const MOTION: &str = "motion";
    pub const BUTTON: &str = "button";
    pub const LOW_BATTERY: &str = "low_battery";
    pub const BATTERY_REPLACED: &str = "battery_replaced";
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// What happened, machine-readable: `door_opened`, `motion`, `button`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Missing means `info`, so `{"type":"motion"}` is a valid event.
    #[serde(default)]
    pub severity: Severity,
    /// For people.
    #[serde(default)]
    pub message: String,
    /// Milliseconds since the Unix epoch when the device saw it, if it knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<u64>,
}

/// An events payload that is not an event.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("not a device event: {0}")]
pub struct EventError(pub String);

impl Event {
    pub fn new(kind: impl Into<String>, severity: Severity, message: impl Into<String>) -> Event {
        Event {
            kind: kind.into(),
            severity,
            message: message.into(),
            ts: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an event always serializes")
    }

    pub fn parse(payload: &[u8]) -> Result<Event, EventError> {
        serde_json::from_slice(payload).map_err(|e| EventError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut event = Event::new(types::LOW_BATTERY, Severity::Warning, "Battery at 9 %");
        assert_eq!(Event::parse(event.to_json().as_bytes()), Ok(event.clone()));
        event.ts = Some(1_700_000_000_000);
        assert_eq!(Event::parse(event.to_json().as_bytes()), Ok(event));
    }

    #[test]
    fn the_documented_example_parses() {
        let payload = br#"{"type":"door_opened","severity":"info","message":"Front door opened"}"#;
        let event = Event::parse(payload).unwrap();
        assert_eq!(event.kind, "door_opened");
        assert_eq!(event.severity, Severity::Info);
        assert_eq!(event.to_json().as_bytes(), payload);
    }

    #[test]
    fn severity_defaults_and_aliases() {
        assert_eq!(
            Event::parse(br#"{"type":"motion"}"#).unwrap(),
            Event::new("motion", Severity::Info, "")
        );
        let warn = Event::parse(br#"{"type":"x","severity":"warn"}"#).unwrap();
        assert_eq!(warn.severity, Severity::Warning);
        let error = Event::parse(br#"{"type":"x","severity":"error"}"#).unwrap();
        assert_eq!(error.severity, Severity::Critical);
    }

    #[test]
    fn malformed_events_are_errors() {
        for payload in [
            &br#"{"severity":"info"}"#[..],
            br#"{"type":"x","severity":"loud"}"#,
            b"motion",
            b"",
        ] {
            assert!(Event::parse(payload).is_err(), "{payload:?}");
        }
    }
}
