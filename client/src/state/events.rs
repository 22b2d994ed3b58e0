//! The events page's model: the log of events heard live (device events
//! from `devices/<id>/events` and the alarm engine's from
//! `$kite/alarms/events`), the pages of the broker's history for the
//! page's filter ([`EventPages`]), and the one list the page shows of both,
//! newest first, each event once.

use kite_convention::alarms::{self, AlarmEvent};
use kite_convention::history::{Cursor, Query, StoredEvent};
use kite_convention::{DeviceTopic, Event, Severity, TopicKind};

use super::ring::Ring;

mod pages;

pub use pages::{EventPages, PageStatus, ShownEvent, PAGE_SIZE};

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
    /// When the device (or the alarm engine) says it happened.
    pub ts: Option<u64>,
    /// [`SOURCE_DEVICE`] or [`SOURCE_ALARM`], as the history says.
    pub source: &'static str,
}

pub use kite_convention::history::{SOURCE_ALARM, SOURCE_DEVICE};

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
    /// As the history filters: the device exactly, at least the severity,
    /// the text in the type, the message or the device id (any case).
    pub fn matches(&self, event: &LoggedEvent) -> bool {
        let (severity, text) = self.severity_and_text();
        (self.device.is_empty() || event.device == self.device)
            && StoredEvent {
                ts: 0,
                seq: 0,
                device: event.device.clone(),
                kind: event.kind.clone(),
                severity: event.severity,
                message: event.message.clone(),
                source: event.source.to_owned(),
            }
            .passes(severity, text)
    }

    /// The severity and text as [`StoredEvent::passes`] takes them.
    fn severity_and_text(&self) -> (Option<Severity>, Option<&str>) {
        let text = self.text.trim();
        (
            (self.min_severity > Severity::Info).then_some(self.min_severity),
            (!text.is_empty()).then_some(text),
        )
    }

    /// The history's question for a page of the events matching this filter
    /// (older than `before`).
    pub fn query(&self, before: Option<Cursor>) -> Query {
        let (severity, text) = self.severity_and_text();
        Query::Events {
            devices: (!self.device.is_empty())
                .then(|| self.device.clone())
                .into_iter()
                .collect(),
            severity,
            text: text.map(str::to_owned),
            before,
            limit: Some(PAGE_SIZE),
        }
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
    /// Log the message if it is a device event or an alarm event; true when
    /// it was. Retained events are old news and skipped.
    pub fn apply(&mut self, topic: &str, payload: &[u8], retained: bool, now_ms: u64) -> bool {
        if retained || payload.is_empty() {
            return false;
        }
        let seq = self.events.pushed();
        let event = if topic == alarms::EVENTS_TOPIC {
            let Some(alarm) = AlarmEvent::parse(payload) else {
                return false;
            };
            alarm_event(seq, alarm, now_ms)
        } else {
            let Some(DeviceTopic {
                id,
                kind: TopicKind::Events,
            }) = DeviceTopic::parse(topic)
            else {
                return false;
            };
            let event = Event::parse(payload)
                .unwrap_or_else(|e| Event::new("invalid_event", Severity::Warning, e.to_string()));
            LoggedEvent {
                seq,
                received_ms: now_ms,
                device: id,
                kind: event.kind,
                severity: event.severity,
                message: event.message,
                ts: event.ts,
                source: SOURCE_DEVICE,
            }
        };
        self.events.push(event);
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

/// An alarm engine event as the history lists it (`StoredEvent::from_alarm`).
fn alarm_event(seq: u64, alarm: AlarmEvent, now_ms: u64) -> LoggedEvent {
    let stored = StoredEvent::from_alarm(alarm, 0);
    LoggedEvent {
        seq,
        received_ms: now_ms,
        kind: stored.kind,
        device: stored.device,
        severity: stored.severity,
        message: stored.message,
        ts: (stored.ts > 0).then_some(stored.ts),
        source: SOURCE_ALARM,
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

    #[test]
    fn alarm_events_are_logged_as_the_history_lists_them() {
        let mut log = EventLog::default();
        let raised = br#"{"type":"raised","device":"sim-1","rule":"hot","severity":"critical","message":"","value":31,"at":1700}"#;
        assert!(log.apply(alarms::EVENTS_TOPIC, raised, false, 5));
        assert!(!log.apply(alarms::EVENTS_TOPIC, b"nope", false, 6));
        assert!(
            !log.apply(alarms::EVENTS_TOPIC, raised, true, 7),
            "retained"
        );
        let e = &log.filtered(&EventFilter::default(), 1)[0];
        assert_eq!(
            (e.kind.as_str(), e.device.as_str(), e.message.as_str()),
            ("alarm_raised", "sim-1", "hot")
        );
        assert_eq!(
            (e.severity, e.ts, e.source),
            (Severity::Critical, Some(1700), SOURCE_ALARM)
        );
    }
}
