//! The event log: device events from `devices/<id>/events`, newest first,
//! with filters by device, minimum severity and text.

use kite_convention::{DeviceTopic, Event, Severity, TopicKind};

use super::ring::Ring;

pub const EVENTS_KEPT: usize = 2_000;

/// One logged event.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent {
    /// Unique, increasing: a key for lists.
    pub seq: u64,
    pub received_ms: u64,
    pub device: String,
    pub kind: String,
    pub severity: Severity,
    pub message: String,
    /// When the device says it happened.
    pub ts: Option<u64>,
}

/// What to show.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventFilter {
    /// Exact device id; empty for all.
    pub device: String,
    /// Only this severity or worse.
    pub min_severity: Severity,
    /// Case-insensitive, in the type or message.
    pub text: String,
}

impl EventFilter {
    pub fn matches(&self, event: &LoggedEvent) -> bool {
        if !self.device.is_empty() && event.device != self.device {
            return false;
        }
        if event.severity < self.min_severity {
            return false;
        }
        let text = self.text.trim().to_lowercase();
        text.is_empty()
            || event.kind.to_lowercase().contains(&text)
            || event.message.to_lowercase().contains(&text)
    }
}

/// The log.
#[derive(Clone, Debug)]
pub struct EventLog {
    events: Ring<LoggedEvent>,
}

impl Default for EventLog {
    fn default() -> EventLog {
        EventLog {
            events: Ring::new(EVENTS_KEPT),
        }
    }
}

impl EventLog {
    /// Log the message if it is a device event; true when it was. Retained
    /// events are old news and skipped.
    pub fn apply(&mut self, topic: &str, payload: &[u8], retained: bool, now_ms: u64) -> bool {
        let Some(DeviceTopic {
            id,
            kind: TopicKind::Events,
        }) = DeviceTopic::parse(topic)
        else {
            return false;
        };
        if retained || payload.is_empty() {
            return false;
        }
        let event = Event::parse(payload)
            .unwrap_or_else(|e| Event::new("invalid_event", Severity::Warning, e.to_string()));
        let seq = self.events.pushed();
        self.events.push(LoggedEvent {
            seq,
            received_ms: now_ms,
            device: id,
            kind: event.kind,
            severity: event.severity,
            message: event.message,
            ts: event.ts,
        });
        true
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Matching events, newest first, at most `limit`.
    pub fn filtered(&self, filter: &EventFilter, limit: usize) -> Vec<LoggedEvent> {
        self.events
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Device ids seen, sorted, for the device filter.
    pub fn devices(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.events.iter().map(|e| e.device.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    pub fn clear(&mut self) {
        self.events.clear();
    }
}

pub fn parse_severity(text: &str) -> Severity {
    match text {
        "warning" => Severity::Warning,
        "critical" => Severity::Critical,
        _ => Severity::Info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> EventLog {
        let mut log = EventLog::default();
        log.apply(
            "devices/door-1/events",
            br#"{"type":"door_opened","message":"Front door opened"}"#,
            false,
            1,
        );
        log.apply(
            "devices/sim-2/events",
            br#"{"type":"low_battery","severity":"warning","message":"Battery at 9 %"}"#,
            false,
            2,
        );
        log.apply("devices/sim-2/events", b"not json", false, 3);
        log
    }

    #[test]
    fn events_are_logged_newest_first() {
        let log = log();
        let all = log.filtered(&EventFilter::default(), 10);
        let kinds: Vec<&str> = all.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["invalid_event", "low_battery", "door_opened"]);
        assert_eq!(all[0].seq, 2);
        assert_eq!(log.devices(), ["door-1", "sim-2"]);
        assert_eq!(log.filtered(&EventFilter::default(), 1).len(), 1);
    }

    #[test]
    fn other_topics_and_retained_events_are_skipped() {
        let mut log = EventLog::default();
        assert!(!log.apply("devices/a/status", b"online", false, 0));
        assert!(!log.apply("devices/a/events", br#"{"type":"x"}"#, true, 0));
        assert!(!log.apply("devices/a/b/events", br#"{"type":"x"}"#, false, 0));
        assert!(log.is_empty());
    }

    #[test]
    fn filters_combine() {
        let log = log();
        let by = |filter: EventFilter| -> Vec<String> {
            log.filtered(&filter, 10)
                .into_iter()
                .map(|e| e.kind)
                .collect()
        };
        assert_eq!(
            by(EventFilter {
                device: "sim-2".into(),
                ..Default::default()
            }),
            ["invalid_event", "low_battery"]
        );
        assert_eq!(
            by(EventFilter {
                min_severity: Severity::Warning,
                text: "BATTERY".into(),
                ..Default::default()
            }),
            ["low_battery"]
        );
        assert_eq!(
            by(EventFilter {
                text: "front".into(),
                ..Default::default()
            }),
            ["door_opened"]
        );
        assert_eq!(parse_severity("critical"), Severity::Critical);
        assert_eq!(parse_severity("?"), Severity::Info);
    }
}
