//! Topic names of the Kite device convention: `devices/<id>/<kind>`.
//!
//! Parsing is strict about shape (exactly three levels under `devices`) so a
//! stray `devices/a/b/c` is never mistaken for a measurement, and lenient
//! about content: any id that is a valid topic level is accepted.

use std::fmt;

/// The first level of every convention topic.
pub const ROOT: &str = "devices";

/// The subscription filter that sees every device of the convention.
pub const FILTER: &str = "devices/#";

/// What a topic under `devices/<id>/` carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopicKind {
    /// `status`: retained `online` / `offline` (see [`crate::status`]).
    Status,
    /// `telemetry`: a JSON object of measurements (see [`crate::telemetry`]).
    Telemetry,
    /// `events`: a JSON event (see [`crate::events`]).
    Events,
    /// `meta`: retained JSON description (see [`crate::meta`]).
    Meta,
    /// Any other last level: one measurement as a bare number.
    Measurement(String),
}

impl TopicKind {
    /// The last topic level.
    pub fn as_str(&self) -> &str {
        match self {
            TopicKind::Status => "status",
            TopicKind::Telemetry => "telemetry",
            TopicKind::Events => "events",
            TopicKind::Meta => "meta",
            TopicKind::Measurement(name) => name,
        }
    }

    fn from_level(level: &str) -> TopicKind {
        match level {
            "status" => TopicKind::Status,
            "telemetry" => TopicKind::Telemetry,
            "events" => TopicKind::Events,
            "meta" => TopicKind::Meta,
            other => TopicKind::Measurement(other.to_owned()),
        }
    }
}

/// A parsed convention topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceTopic {
    pub id: String,
    pub kind: TopicKind,
}

impl DeviceTopic {
    pub fn new(id: impl Into<String>, kind: TopicKind) -> DeviceTopic {
        DeviceTopic {
            id: id.into(),
            kind,
        }
    }

    /// Parse a topic name; `None` when it is not `devices/<id>/<kind>` with
    /// non-empty, wildcard-free levels.
    pub fn parse(topic: &str) -> Option<DeviceTopic> {
        let mut levels = topic.split('/');
        if levels.next()? != ROOT {
            return None;
        }
        let id = levels.next()?;
        let last = levels.next()?;
        if levels.next().is_some() || !is_valid_level(id) || !is_valid_level(last) {
            return None;
        }
        Some(DeviceTopic::new(id, TopicKind::from_level(last)))
    }

    /// The topic name.
    pub fn topic(&self) -> String {
        format!("{ROOT}/{}/{}", self.id, self.kind.as_str())
    }
}

impl fmt::Display for DeviceTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ROOT}/{}/{}", self.id, self.kind.as_str())
    }
}

/// True when `level` can be a device id or measurement name: non-empty and
/// free of `/`, `+`, `#` and NUL, which MQTT gives a meaning in topics.
pub fn is_valid_level(level: &str) -> bool {
    !level.is_empty() && !level.contains(['/', '+', '#', '\0'])
}

/// `devices/<id>/status`
pub fn status_topic(id: &str) -> String {
    format!("{ROOT}/{id}/status")
}

/// `devices/<id>/telemetry`
pub fn telemetry_topic(id: &str) -> String {
    format!("{ROOT}/{id}/telemetry")
}

/// `devices/<id>/events`
pub fn events_topic(id: &str) -> String {
    format!("{ROOT}/{id}/events")
}

/// `devices/<id>/meta`
pub fn meta_topic(id: &str) -> String {
    format!("{ROOT}/{id}/meta")
}

/// `devices/<id>/<measurement>`
pub fn measurement_topic(id: &str, measurement: &str) -> String {
    format!("{ROOT}/{id}/{measurement}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_topic() {
        for kind in [
            TopicKind::Status,
            TopicKind::Telemetry,
            TopicKind::Events,
            TopicKind::Meta,
            TopicKind::Measurement("temperature".into()),
        ] {
            let topic = DeviceTopic::new("sim-1", kind);
            assert_eq!(DeviceTopic::parse(&topic.topic()), Some(topic.clone()));
            assert_eq!(topic.to_string(), topic.topic());
        }
    }

    #[test]
    fn helpers_agree_with_the_parser() {
        let id = "kitchen";
        assert_eq!(
            DeviceTopic::parse(&status_topic(id)).unwrap().kind,
            TopicKind::Status
        );
        assert_eq!(
            DeviceTopic::parse(&telemetry_topic(id)).unwrap().kind,
            TopicKind::Telemetry
        );
        assert_eq!(
            DeviceTopic::parse(&events_topic(id)).unwrap().kind,
            TopicKind::Events
        );
        assert_eq!(
            DeviceTopic::parse(&meta_topic(id)).unwrap().kind,
            TopicKind::Meta
        );
        assert_eq!(
            DeviceTopic::parse(&measurement_topic(id, "battery")),
            Some(DeviceTopic::new(
                "kitchen",
                TopicKind::Measurement("battery".into())
            ))
        );
    }

    #[test]
    fn other_shapes_are_not_convention_topics() {
        for topic in [
            "devices",
            "devices/",
            "devices/x",
            "devices//status",
            "devices/x/",
            "devices/x/a/b",
            "device/x/status",
            "/devices/x/status",
            "devices/+/status",
            "devices/x/#",
            "$SYS/broker/clients/connected",
        ] {
            assert_eq!(DeviceTopic::parse(topic), None, "{topic}");
        }
    }
}
