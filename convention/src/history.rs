//! The broker's history of device measurements and events: the query a
//! client sends and the answer it gets, over MQTT (`$kite/history/query`)
//! and over HTTP (`GET /api/history/...`). The broker answers, the
//! dashboard and scripts ask; both use these types.
//!
//! Over MQTT a query is a PUBLISH of a [`Query`] (JSON) to [`QUERY_TOPIC`].
//! The answer (an [`Answer`]) goes to the MQTT 5 Response Topic with the
//! request's Correlation Data, or, for an MQTT 3.1.1 client (or a v5
//! client that names none), to [`reply_topic`]`(client_id)`. Either way
//! the asker must subscribe to it first, and only the asker gets it.
//!
//! ```json
//! {"op":"series","devices":["sim-*"],"measurements":["temperature"],"from":"-24h"}
//! {"op":"last","devices":["*"]}
//! {"op":"events","devices":["sim-3"],"severity":"warning","text":"door","limit":50}
//! ```

use serde::{Deserialize, Serialize};

use crate::{
    alarms::{self, AlarmEvent},
    events::Severity,
};

/// Where a client publishes a query.
pub const QUERY_TOPIC: &str = "$kite/history/query";

/// Where answers go for clients that name no response topic.
pub const REPLY_PREFIX: &str = "$kite/history/reply/";

/// The answer topic of a client that names no response topic.
pub fn reply_topic(client_id: &str) -> String {
    format!("{REPLY_PREFIX}{client_id}")
}

/// The most points one series of an answer holds; a longer range gets a
/// coarser resolution (with `auto`) or the newest points.
pub const MAX_POINTS: usize = 5_000;

/// The most events one answer holds.
pub const MAX_EVENTS: usize = 1_000;

/// A question about the past.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Query {
    /// Values of measurements over a time range.
    Series {
        /// Device ids or globs (`*`, `?`); empty or absent: every device.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        devices: Vec<String>,
        /// Measurement names or globs; empty or absent: every measurement.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        measurements: Vec<String>,
        /// Start, Unix ms or relative to now (`"-24h"`); absent: 1 hour ago.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Time>,
        /// End, Unix ms or relative; absent: now.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Time>,
        #[serde(default)]
        resolution: Resolution,
    },
    /// Each device's latest value of each measurement, and when.
    Last {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        devices: Vec<String>,
    },
    /// Device events and alarm events, newest first.
    Events {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        devices: Vec<String>,
        /// Only events at least this severe.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<Severity>,
        /// Only events whose type or message contains this (any case).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Only events older than this (the `next_before` of the previous page).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<Cursor>,
        /// At most this many (default 100, at most [`MAX_EVENTS`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
    },
}

/// An instant: Unix milliseconds, or a span back from now (`"-90s"`,
/// `"-15m"`, `"-24h"`, `"-7d"`, `"now"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Time {
    Unix(u64),
    Relative(String),
}

impl Time {
    /// Unix ms, given now.
    pub fn resolve(&self, now: u64) -> Result<u64, String> {
        match self {
            Time::Unix(ms) => Ok(*ms),
            Time::Relative(text) if text == "now" => Ok(now),
            Time::Relative(text) => {
                let back = text.strip_prefix('-').and_then(parse_span).ok_or_else(|| {
                    format!("bad time {text:?}: Unix ms, \"now\" or a span back such as \"-24h\"")
                })?;
                Ok(now.saturating_sub(back))
            }
        }
    }
}

/// `90s`, `15m`, `24h`, `7d` in milliseconds.
pub fn parse_span(text: &str) -> Option<u64> {
    let unit = text.chars().last()?;
    let number: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let ms = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    number.checked_mul(ms)
}

/// How finely a series is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// The finest kept for the range that fits in [`MAX_POINTS`].
    #[default]
    Auto,
    /// Every reading as it arrived (kept for the recent window only).
    Raw,
    /// Minimum, maximum and mean per minute.
    #[serde(rename = "1m")]
    Minute,
    /// Minimum, maximum and mean per 15 minutes.
    #[serde(rename = "15m")]
    Quarter,
}

impl Resolution {
    /// The bucket width in ms; 0 for raw.
    pub fn bucket_ms(self) -> u64 {
        match self {
            Resolution::Auto | Resolution::Raw => 0,
            Resolution::Minute => 60_000,
            Resolution::Quarter => 900_000,
        }
    }
}

/// Where a page of events ends: the next page starts before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cursor {
    pub ts: u64,
    pub seq: u64,
}

/// What the broker answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    Series(SeriesAnswer),
    Last(LastAnswer),
    Events(EventsAnswer),
    Error(ErrorAnswer),
}

impl Answer {
    pub fn error(message: impl Into<String>) -> Answer {
        Answer::Error(ErrorAnswer {
            ok: false,
            error: message.into(),
        })
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("answers serialize")
    }

    /// Read an answer (a dashboard or a script).
    pub fn parse(payload: &[u8]) -> Result<Answer, String> {
        serde_json::from_slice(payload).map_err(|e| e.to_string())
    }
}

/// A query the broker could not answer, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    /// Always `false`.
    pub ok: bool,
    pub error: String,
}

/// The answer to [`Query::Series`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesAnswer {
    /// Always `true`.
    pub ok: bool,
    /// The resolution the points have (never `auto`).
    pub resolution: Resolution,
    pub from: u64,
    pub to: u64,
    pub series: Vec<Series>,
}

/// The points of one measurement of one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub device: String,
    pub measurement: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `[ts, mean, min, max]`, oldest first; `ts` is the reading's time
    /// (raw) or its bucket's start. A raw point has min = max = mean.
    pub points: Vec<Point>,
}

/// `[ts, mean, min, max]`.
pub type Point = (u64, f64, f64, f64);

/// The answer to [`Query::Last`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastAnswer {
    /// Always `true`.
    pub ok: bool,
    pub devices: Vec<LastDevice>,
}

/// One device's latest values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastDevice {
    pub device: String,
    /// When the newest of its readings arrived (Unix ms).
    pub last_seen: u64,
    pub measurements: Vec<LastValue>,
}

/// A measurement's latest value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastValue {
    pub measurement: String,
    pub value: f64,
    /// When it arrived (Unix ms).
    pub ts: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// The answer to [`Query::Events`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsAnswer {
    /// Always `true`.
    pub ok: bool,
    /// Newest first.
    pub events: Vec<StoredEvent>,
    /// Ask again with `"before"` set to this for the next (older) page;
    /// absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<Cursor>,
}

/// [`StoredEvent::source`] of a device's own event.
pub const SOURCE_DEVICE: &str = "device";
/// [`StoredEvent::source`] of the alarm engine's events.
pub const SOURCE_ALARM: &str = "alarm";

impl From<alarms::Severity> for Severity {
    fn from(severity: alarms::Severity) -> Severity {
        match severity {
            alarms::Severity::Info => Severity::Info,
            alarms::Severity::Warning => Severity::Warning,
            alarms::Severity::Critical => Severity::Critical,
        }
    }
}

/// An event as the history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// When it happened (the device's `ts` if it sent one, else arrival).
    pub ts: u64,
    /// Orders events of the same millisecond.
    pub seq: u64,
    pub device: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub severity: Severity,
    #[serde(default)]
    pub message: String,
    /// `device` for a device's own event, `alarm` for the alarm engine's.
    pub source: String,
}

impl StoredEvent {
    /// An alarm engine event (`$kite/alarms/events`) as the history keeps
    /// it: type `alarm_<type>`, the rule's id when it has no message, and
    /// `at` as its time when the engine gave none. `seq` is 0 until stored.
    pub fn from_alarm(alarm: AlarmEvent, at: u64) -> StoredEvent {
        StoredEvent {
            ts: if alarm.at > 0 { alarm.at } else { at },
            seq: 0,
            device: alarm.device,
            kind: format!("alarm_{}", alarm.kind),
            severity: alarm.severity.into(),
            message: if alarm.message.is_empty() {
                alarm.rule
            } else {
                alarm.message
            },
            source: SOURCE_ALARM.into(),
        }
    }

    /// Does it pass an events query's filters (devices aside)?
    pub fn passes(&self, severity: Option<Severity>, text: Option<&str>) -> bool {
        if severity.is_some_and(|min| self.severity < min) {
            return false;
        }
        match text.map(str::to_lowercase) {
            Some(text) if !text.is_empty() => {
                self.kind.to_lowercase().contains(&text)
                    || self.message.to_lowercase().contains(&text)
                    || self.device.to_lowercase().contains(&text)
            }
            _ => true,
        }
    }
}

/// The device the broker's own statistics (`$SYS/broker/...`) are kept
/// under, each statistic a measurement named by its path (`clients/connected`).
pub const BROKER_DEVICE: &str = "$SYS";

/// Does `device` (or a measurement name) match one of `patterns` (globs)?
/// No patterns match everything, except that a name starting with `$`
/// ([`BROKER_DEVICE`]) is matched only by a pattern starting with `$`, as
/// MQTT's `#` does not match `$SYS`: a fleet-wide query is about devices.
pub fn selected(patterns: &[String], name: &str) -> bool {
    if name.starts_with('$') {
        return patterns
            .iter()
            .any(|p| p.starts_with('$') && crate::alarms::glob(p, name));
    }
    patterns.is_empty() || patterns.iter().any(|p| crate::alarms::glob(p, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_read_as_documented() {
        let q: Query = serde_json::from_str(
            r#"{"op":"series","devices":["sim-*"],"measurements":["temperature"],"from":"-24h"}"#,
        )
        .unwrap();
        assert_eq!(
            q,
            Query::Series {
                devices: vec!["sim-*".into()],
                measurements: vec!["temperature".into()],
                from: Some(Time::Relative("-24h".into())),
                to: None,
                resolution: Resolution::Auto,
            }
        );
        let q: Query = serde_json::from_str(r#"{"op":"last"}"#).unwrap();
        assert_eq!(q, Query::Last { devices: vec![] });
        let q: Query = serde_json::from_str(
            r#"{"op":"events","severity":"warning","before":{"ts":5,"seq":2},"limit":10}"#,
        )
        .unwrap();
        assert!(matches!(
            q,
            Query::Events {
                severity: Some(Severity::Warning),
                before: Some(Cursor { ts: 5, seq: 2 }),
                limit: Some(10),
                ..
            }
        ));
        let q: Query =
            serde_json::from_str(r#"{"op":"series","from":1700000000000,"resolution":"1m"}"#)
                .unwrap();
        assert!(matches!(
            q,
            Query::Series {
                from: Some(Time::Unix(1_700_000_000_000)),
                resolution: Resolution::Minute,
                ..
            }
        ));
    }

    #[test]
    fn a_typo_is_an_error_not_a_silent_default() {
        assert!(serde_json::from_str::<Query>(r#"{"op":"series","device":["x"]}"#).is_err());
        assert!(serde_json::from_str::<Query>(r#"{"op":"sereis"}"#).is_err());
        assert!(serde_json::from_str::<Query>(r#"{"op":"series","resolution":"5m"}"#).is_err());
    }

    #[test]
    fn times_resolve_against_now() {
        let now = 10 * 86_400_000;
        assert_eq!(Time::Unix(7).resolve(now), Ok(7));
        assert_eq!(Time::Relative("now".into()).resolve(now), Ok(now));
        assert_eq!(
            Time::Relative("-24h".into()).resolve(now),
            Ok(now - 86_400_000)
        );
        assert_eq!(Time::Relative("-90s".into()).resolve(now), Ok(now - 90_000));
        assert_eq!(Time::Relative("-30d".into()).resolve(now), Ok(0));
        for bad in ["24h", "-h", "-5w", "-1.5h", ""] {
            assert!(Time::Relative(bad.into()).resolve(now).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_round_trip() {
        let answers = [
            Answer::Series(SeriesAnswer {
                ok: true,
                resolution: Resolution::Minute,
                from: 1,
                to: 2,
                series: vec![Series {
                    device: "sim-1".into(),
                    measurement: "temperature".into(),
                    unit: Some("°C".into()),
                    points: vec![(60_000, 21.5, 21.0, 22.0)],
                }],
            }),
            Answer::Last(LastAnswer {
                ok: true,
                devices: vec![LastDevice {
                    device: "sim-1".into(),
                    last_seen: 9,
                    measurements: vec![LastValue {
                        measurement: "battery".into(),
                        value: 87.0,
                        ts: 9,
                        unit: None,
                    }],
                }],
            }),
            Answer::Events(EventsAnswer {
                ok: true,
                events: vec![StoredEvent {
                    ts: 3,
                    seq: 1,
                    device: "sim-2".into(),
                    kind: "door_opened".into(),
                    severity: Severity::Info,
                    message: "Front door".into(),
                    source: "device".into(),
                }],
                next_before: Some(Cursor { ts: 3, seq: 1 }),
            }),
            Answer::error("bad query"),
        ];
        for answer in answers {
            assert_eq!(Answer::parse(&answer.to_json()), Ok(answer));
        }
    }

    #[test]
    fn event_filters() {
        let event = StoredEvent {
            ts: 1,
            seq: 0,
            device: "sim-2".into(),
            kind: "door_opened".into(),
            severity: Severity::Warning,
            message: "Front door opened".into(),
            source: "device".into(),
        };
        assert!(event.passes(None, None));
        assert!(event.passes(Some(Severity::Info), Some("FRONT")));
        assert!(!event.passes(Some(Severity::Critical), None));
        assert!(!event.passes(None, Some("window")));
        assert!(selected(&[], "anything"));
        assert!(!selected(&[], BROKER_DEVICE), "fleet-wide is devices only");
        assert!(!selected(&["*".into()], BROKER_DEVICE));
        assert!(selected(&["$SYS".into()], BROKER_DEVICE));
        assert!(selected(&["sim-*".into()], "sim-2"));
        assert!(!selected(&["sim-1".into()], "sim-2"));
    }
}
