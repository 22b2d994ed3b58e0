//! The devices page's model: the convention's [`Fleet`] (devices from
//! `devices/<id>/...` and from Home Assistant discovery) plus what a
//! dashboard adds: when each device was last heard from, a time series of
//! every numeric measurement for sparklines and charts, and what the
//! broker's history says of the time before the page opened
//! ([`past`]: last values, past points of the series).

mod past;

use std::collections::HashMap;

use kite_convention::discovery::EntityState;
use kite_convention::telemetry::{self, format_number};
use kite_convention::{DeviceTopic, DeviceView, Fleet, Source};

use super::chart::{sparkline, Frame};
use super::ring::Series;
use super::topics::natural_cmp;

pub use past::PastDevice;

/// The time a card's sparkline spans (up to its newest sample).
pub const SPARK_SPAN_MS: u64 = 24 * 3_600_000;
/// Slices of a sparkline: about one sample per unit of [`SPARK_FRAME`]'s width.
pub const SPARK_COLUMNS: usize = 120;
/// The sparkline's `viewBox`.
pub const SPARK_FRAME: Frame = Frame::bare(120.0, 32.0);

/// Identifies a device across both sources.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey {
    pub source: Source,
    pub id: String,
}

impl DeviceKey {
    pub fn new(source: Source, id: impl Into<String>) -> DeviceKey {
        DeviceKey {
            source,
            id: id.into(),
        }
    }

    /// `kite` or `ha`, as in the page's address.
    pub fn source_slug(&self) -> &'static str {
        match self.source {
            Source::Kite => "kite",
            Source::HomeAssistant => "ha",
        }
    }

    pub fn from_slug(slug: &str, id: &str) -> Option<DeviceKey> {
        let source = match slug {
            "kite" => Source::Kite,
            "ha" => Source::HomeAssistant,
            _ => return None,
        };
        (!id.is_empty()).then(|| DeviceKey::new(source, id))
    }
}

/// How a reading looks: fine, or worth a glance (low battery, weak signal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Normal,
    Low,
}

/// One measurement on a card.
#[derive(Clone, Debug, PartialEq)]
pub struct MeasurementCard {
    pub name: String,
    /// The value as shown, without the unit; `—` before the first.
    pub value: String,
    pub unit: String,
    pub level: Level,
    /// Sparkline path data in [`SPARK_FRAME`]; empty when not numeric.
    pub spark: String,
    pub error: Option<String>,
}

/// Everything a device card shows.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceCard {
    pub key: DeviceKey,
    pub name: String,
    pub kind: Option<String>,
    pub location: Option<String>,
    pub online: Option<bool>,
    /// The latest reading heard live (not retained) or, when newer, the
    /// latest the history holds; ms since the epoch.
    pub last_seen_ms: Option<u64>,
    pub measurements: Vec<MeasurementCard>,
    /// The newest event's message.
    pub last_event: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct Extra {
    last_seen_ms: Option<u64>,
    /// Measurement → updates counted when last sampled.
    sampled: HashMap<String, u64>,
    /// Measurement → when its value came in a live (not retained) message.
    live: HashMap<String, u64>,
    series: HashMap<String, Series>,
}

/// The fleet and its history.
#[derive(Default)]
pub struct DeviceBook {
    fleet: Fleet,
    extra: HashMap<DeviceKey, Extra>,
    /// HA devices' update counters, to find which ones a message changed.
    ha_updates: HashMap<String, u64>,
    /// What the broker's history says of each device id (its answers name
    /// devices by id alone).
    past: HashMap<String, PastDevice>,
}

/// The measurements shown first, in this order; others follow.
const FIRST: [&str; 3] = ["temperature", "battery", "signal"];

impl DeviceBook {
    /// Take a message into account; true when a device changed.
    pub fn apply(&mut self, topic: &str, payload: &[u8], retained: bool, now_ms: u64) -> bool {
        if !self.fleet.apply(topic, payload, retained) {
            return false;
        }
        if let Some(parsed) = DeviceTopic::parse(topic) {
            self.sample(DeviceKey::new(Source::Kite, parsed.id), retained, now_ms);
        } else {
            let changed: Vec<String> = self
                .fleet
                .devices()
                .filter(|d| d.source == Source::HomeAssistant)
                .filter(|d| self.ha_updates.get(&d.id) != Some(&d.updates))
                .map(|d| d.id.clone())
                .collect();
            for id in changed {
                self.sample(DeviceKey::new(Source::HomeAssistant, id), retained, now_ms);
            }
        }
        true
    }

    fn sample(&mut self, key: DeviceKey, retained: bool, now_ms: u64) {
        let Some(device) = self.fleet.device(key.source, &key.id) else {
            self.extra.remove(&key);
            return;
        };
        if key.source == Source::HomeAssistant {
            self.ha_updates.insert(key.id.clone(), device.updates);
        }
        let extra = self.extra.entry(key).or_default();
        if !retained {
            extra.last_seen_ms = Some(now_ms);
        }
        for (name, m) in &device.measurements {
            let seen = extra.sampled.entry(name.clone()).or_insert(0);
            if *seen == m.updates {
                continue;
            }
            *seen = m.updates;
            if !retained {
                extra.live.insert(name.clone(), now_ms);
            }
            if let Some(EntityState::Number(value)) = m.value {
                extra
                    .series
                    .entry(name.clone())
                    .or_insert_with(Series::with_past)
                    .push(now_ms, value);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.fleet.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fleet.is_empty()
    }

    /// Every device, by id in natural order (`sim-2` before `sim-10`).
    pub fn keys(&self) -> Vec<DeviceKey> {
        let mut keys: Vec<DeviceKey> = self
            .fleet
            .devices()
            .map(|d| DeviceKey::new(d.source, d.id.clone()))
            .collect();
        keys.sort_unstable_by(|a, b| natural_cmp(&a.id, &b.id).then(a.source.cmp(&b.source)));
        keys
    }

    pub fn view(&self, key: &DeviceKey) -> Option<&DeviceView> {
        self.fleet.device(key.source, &key.id)
    }

    /// The series of one measurement.
    pub fn series(&self, key: &DeviceKey, measurement: &str) -> Option<&Series> {
        self.extra.get(key)?.series.get(measurement)
    }

    /// Measurement names in display order: the ones heard of since the
    /// page opened, and the ones the history knows.
    pub fn measurement_names(&self, key: &DeviceKey) -> Vec<String> {
        let Some(device) = self.view(key) else {
            return Vec::new();
        };
        let mut names: Vec<String> = device.measurements.iter().map(|(n, _)| n.clone()).collect();
        for value in self.past.get(&key.id).into_iter().flat_map(|p| &p.values) {
            if !names.contains(&value.measurement) {
                names.push(value.measurement.clone());
            }
        }
        names.sort_by_key(|n| FIRST.iter().position(|f| f == n).unwrap_or(FIRST.len()));
        names
    }

    pub fn unit(&self, key: &DeviceKey, measurement: &str) -> String {
        self.view(key)
            .and_then(|d| d.measurement(measurement))
            .and_then(|m| m.unit.clone())
            .or_else(|| self.past.get(&key.id)?.unit(measurement))
            .or_else(|| telemetry::known(measurement).map(|k| k.unit.to_owned()))
            .unwrap_or_default()
    }

    /// The latest value of a measurement: the newer of the one heard live
    /// and the history's, else the one retained (the history's is newer).
    fn latest(&self, key: &DeviceKey, name: &str) -> Option<EntityState> {
        let heard = self.view(key)?.measurement(name);
        let live_ms = self.extra.get(key).and_then(|e| e.live.get(name).copied());
        let past = self.past.get(&key.id).and_then(|p| p.value(name));
        let live_is_newer = live_ms.is_some_and(|at| past.is_none_or(|(ts, _)| at >= ts));
        match (heard.and_then(|m| m.value.clone()), past.map(|(_, v)| v)) {
            (Some(value), _) if live_is_newer => Some(value),
            // A binary sensor's history reads 1 and 0.
            (Some(EntityState::Binary(_)), Some(v)) => Some(EntityState::Binary(v != 0.0)),
            (_, Some(v)) => Some(EntityState::Number(v)),
            (heard, None) => heard,
        }
    }

    /// The card of one device.
    pub fn card(&self, key: &DeviceKey) -> Option<DeviceCard> {
        let device = self.view(key)?;
        let extra = self.extra.get(key);
        let measurements = self
            .measurement_names(key)
            .into_iter()
            .map(|name| {
                let m = device.measurement(&name);
                let latest = self.latest(key, &name);
                let value = match &latest {
                    Some(EntityState::Number(v)) => format_value(*v),
                    Some(EntityState::Binary(b)) => if *b { "on" } else { "off" }.to_owned(),
                    Some(EntityState::Text(t)) => t.clone(),
                    None => "—".to_owned(),
                };
                let class = m.and_then(|m| m.device_class.as_deref()).unwrap_or(&name);
                let level = match (&latest, class) {
                    (Some(EntityState::Number(v)), "battery") if *v < 20.0 => Level::Low,
                    (Some(EntityState::Number(v)), "signal" | "signal_strength") if *v < -90.0 => {
                        Level::Low
                    }
                    _ => Level::Normal,
                };
                let spark = extra
                    .and_then(|e| e.series.get(&name))
                    .map(|s| sparkline(&s.overview(SPARK_SPAN_MS, SPARK_COLUMNS), &SPARK_FRAME))
                    .unwrap_or_default();
                MeasurementCard {
                    unit: self.unit(key, &name),
                    name,
                    value,
                    level,
                    spark,
                    error: m.and_then(|m| m.error.clone()),
                }
            })
            .collect();
        let past_seen = self.past.get(&key.id).map(|p| p.last_seen);
        Some(DeviceCard {
            key: key.clone(),
            name: device.display_name().to_owned(),
            kind: device.kind.clone(),
            location: device.location.clone(),
            online: device.online,
            last_seen_ms: extra.and_then(|e| e.last_seen_ms).max(past_seen),
            measurements,
            last_event: device.events.back().map(|e| {
                if e.message.is_empty() {
                    e.kind.clone()
                } else {
                    e.message.clone()
                }
            }),
        })
    }

    pub fn clear(&mut self) {
        *self = DeviceBook::default();
    }
}

/// A reading as shown: at most two decimals, no trailing zeros.
pub fn format_value(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    format_number(rounded + 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn kite(id: &str) -> DeviceKey {
        DeviceKey::new(Source::Kite, id)
    }

    /// A Home Assistant temperature sensor of device `x`, "Porch", whose
    /// state comes on `ha/x/state`.
    pub(super) fn announce_porch(book: &mut DeviceBook) {
        let config = r#"{"name":"t","state_topic":"ha/x/state","value_template":"{{ value_json.temperature }}","unit_of_measurement":"°C","device_class":"temperature","device":{"identifiers":["x"],"name":"Porch"}}"#;
        book.apply(
            "homeassistant/sensor/x/t/config",
            config.as_bytes(),
            true,
            0,
        );
    }

    #[test]
    fn a_card_from_the_convention_with_units_and_sparklines() {
        let mut book = DeviceBook::default();
        book.apply("devices/sim-1/status", b"online", true, 1_000);
        for (i, battery) in [90, 85, 15].iter().enumerate() {
            let payload = format!(r#"{{"signal":-95,"temperature":21.456,"battery":{battery}}}"#);
            book.apply(
                "devices/sim-1/telemetry",
                payload.as_bytes(),
                false,
                2_000 + i as u64 * 500,
            );
        }
        assert!(!book.apply("other/topic", b"1", false, 5_000));
        let card = book.card(&kite("sim-1")).unwrap();
        assert_eq!(card.online, Some(true));
        assert_eq!(card.last_seen_ms, Some(3_000));
        let shown: Vec<(&str, &str, &str, Level)> = card
            .measurements
            .iter()
            .map(|m| (m.name.as_str(), m.value.as_str(), m.unit.as_str(), m.level))
            .collect();
        assert_eq!(
            shown,
            [
                ("temperature", "21.46", "°C", Level::Normal),
                ("battery", "15", "%", Level::Low),
                ("signal", "-95", "dBm", Level::Low),
            ]
        );
        assert!(card.measurements[1].spark.starts_with('M'));
        let series = book.series(&kite("sim-1"), "battery").unwrap();
        assert_eq!(
            series.iter().collect::<Vec<_>>(),
            [(2000, 90.0), (2500, 85.0), (3000, 15.0)]
        );
    }

    #[test]
    fn retained_messages_do_not_count_as_seen() {
        let mut book = DeviceBook::default();
        book.apply("devices/old/status", b"offline", true, 1_000);
        let card = book.card(&kite("old")).unwrap();
        assert_eq!(card.online, Some(false));
        assert_eq!(card.last_seen_ms, None);
        assert_eq!(book.keys(), [kite("old")]);
        book.apply("devices/sim-10/status", b"online", true, 1_000);
        book.apply("devices/sim-2/status", b"online", true, 1_000);
        assert_eq!(book.keys(), [kite("old"), kite("sim-2"), kite("sim-10")]);
    }

    #[test]
    fn home_assistant_devices_get_series_too() {
        let mut book = DeviceBook::default();
        announce_porch(&mut book);
        book.apply("ha/x/state", br#"{"temperature":12.5}"#, false, 1_000);
        book.apply("ha/x/state", br#"{"temperature":13}"#, false, 2_000);
        let key = DeviceKey::new(Source::HomeAssistant, "x");
        let card = book.card(&key).unwrap();
        assert_eq!(card.name, "Porch");
        assert_eq!(card.measurements[0].value, "13");
        assert_eq!(card.last_seen_ms, Some(2_000));
        assert_eq!(book.series(&key, "temperature").unwrap().len(), 2);
        assert_eq!(book.unit(&key, "temperature"), "°C");
    }

    #[test]
    fn events_show_on_the_card() {
        let mut book = DeviceBook::default();
        book.apply(
            "devices/d/events",
            br#"{"type":"door_opened","message":"Front door opened"}"#,
            false,
            5,
        );
        book.apply("devices/d/events", br#"{"type":"motion"}"#, false, 6);
        assert_eq!(
            book.card(&kite("d")).unwrap().last_event.as_deref(),
            Some("motion")
        );
    }

    #[test]
    fn keys_round_trip_through_slugs() {
        let key = DeviceKey::new(Source::HomeAssistant, "porch");
        assert_eq!(DeviceKey::from_slug(key.source_slug(), &key.id), Some(key));
        assert_eq!(DeviceKey::from_slug("kite", ""), None);
        assert_eq!(DeviceKey::from_slug("x", "a"), None);
    }

    #[test]
    fn values_are_rounded_for_display() {
        assert_eq!(format_value(21.456), "21.46");
        assert_eq!(format_value(87.0), "87");
        assert_eq!(format_value(-0.001), "0");
    }
}
