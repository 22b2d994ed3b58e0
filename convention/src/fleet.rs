//! Everything a dashboard knows about the devices it has heard of, built
//! from raw messages of both sources: feed every message of
//! `devices/#`, `homeassistant/#` and the state topics the discovery
//! configs name (simplest: subscribe to `#`) to [`Fleet::apply`].
//!
//! Kept here rather than in the dashboard so it is tested natively and the
//! same model serves any other consumer (a CLI, a bridge).

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::{
    discovery::{self, Discovery, DiscoveryTopic, Entity, EntityState, ValueTemplate},
    events::Event,
    meta::Meta,
    status::Status,
    telemetry::{self, Telemetry},
    topics::{DeviceTopic, TopicKind},
};

/// Events kept per device, newest last.
pub const EVENTS_KEPT: usize = 20;

/// Retained messages on unknown topics kept in case a discovery config
/// naming them arrives later (retained messages come in no set order).
const PENDING_KEPT: usize = 4096;

/// Which convention a device speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// `devices/<id>/...`
    Kite,
    /// `homeassistant/.../config` and the topics it names.
    HomeAssistant,
}

/// One measurement of a device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeasurementView {
    /// The latest value, `None` until one arrives.
    pub value: Option<EntityState>,
    pub unit: Option<String>,
    pub device_class: Option<String>,
    /// Why the latest message gave no value, e.g. "unsupported template: …".
    pub error: Option<String>,
    /// Values received.
    pub updates: u64,
}

/// One device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceView {
    pub id: String,
    pub source: Source,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub location: Option<String>,
    /// `None` until a status or availability message says.
    pub online: Option<bool>,
    /// In the order they were first heard of.
    pub measurements: Vec<(String, MeasurementView)>,
    /// The latest [`EVENTS_KEPT`] events, oldest first.
    pub events: VecDeque<Event>,
    /// Messages that changed this device, a cheap "something changed" marker.
    pub updates: u64,
}

impl DeviceView {
    fn new(source: Source, id: &str) -> DeviceView {
        DeviceView {
            id: id.to_owned(),
            source,
            name: None,
            kind: None,
            location: None,
            online: None,
            measurements: Vec::new(),
            events: VecDeque::new(),
            updates: 0,
        }
    }

    pub fn measurement(&self, name: &str) -> Option<&MeasurementView> {
        self.measurements
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m)
    }

    fn slot(&mut self, name: &str) -> &mut MeasurementView {
        let index = match self.measurements.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                let mut view = MeasurementView::default();
                if let Some(known) = telemetry::known(name) {
                    view.unit = Some(known.unit.to_owned());
                    view.device_class = Some(known.device_class.to_owned());
                }
                self.measurements.push((name.to_owned(), view));
                self.measurements.len() - 1
            }
        };
        &mut self.measurements[index].1
    }

    /// A name for people.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.id)
    }
}

type Key = (Source, String);

/// One discovered entity and where its values go.
struct Routed {
    entity: Entity,
    device: String,
    measurement: String,
}

/// What one message told about a device, for a consumer that keeps
/// history (the broker's): see [`Fleet::journaled`].
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A numeric reading (a binary sensor reads 1 for on, 0 for off).
    Reading {
        device: String,
        measurement: String,
        value: f64,
        /// The unit known for it when it arrived.
        unit: Option<String>,
    },
    Event {
        device: String,
        event: Event,
    },
}

/// The model of every device heard of.
#[derive(Default)]
pub struct Fleet {
    devices: BTreeMap<Key, DeviceView>,
    /// What the messages applied since the last [`Fleet::take_changes`]
    /// told, when journaled.
    journal: Option<Vec<Change>>,
    /// Discovery config topic → the entities it declared.
    configs: HashMap<String, Vec<Routed>>,
    /// State or availability topic → config topics with an entity reading it.
    routes: HashMap<String, Vec<String>>,
    pending: HashMap<String, Vec<u8>>,
}

impl Fleet {
    pub fn new() -> Fleet {
        Fleet::default()
    }

    /// A fleet that also lists each reading and event it applies, for
    /// [`Fleet::take_changes`].
    pub fn journaled() -> Fleet {
        Fleet {
            journal: Some(Vec::new()),
            ..Fleet::default()
        }
    }

    /// The readings and events applied since the last call, oldest first
    /// (always empty unless [`Fleet::journaled`]).
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.journal
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn note(&mut self, changes: Vec<Change>) {
        if let Some(journal) = &mut self.journal {
            journal.extend(changes);
        }
    }

    pub fn devices(&self) -> impl Iterator<Item = &DeviceView> {
        self.devices.values()
    }

    pub fn device(&self, source: Source, id: &str) -> Option<&DeviceView> {
        self.devices.get(&(source, id.to_owned()))
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Take one message into account; true when a device changed.
    pub fn apply(&mut self, topic: &str, payload: &[u8], retained: bool) -> bool {
        if let Some(topic) = DeviceTopic::parse(topic) {
            self.apply_kite(topic, payload);
            return true;
        }
        if let Some(parsed) = DiscoveryTopic::parse(topic) {
            self.apply_config(topic, &parsed, payload);
            return true;
        }
        let Some(configs) = self.routes.get(topic).cloned() else {
            if retained && self.pending.len() < PENDING_KEPT {
                self.pending.insert(topic.to_owned(), payload.to_vec());
            }
            return false;
        };
        let mut changes = Vec::new();
        for config in configs {
            for routed in self.configs.get(&config).into_iter().flatten() {
                let key = (Source::HomeAssistant, routed.device.clone());
                let Some(device) = self.devices.get_mut(&key) else {
                    continue;
                };
                device.updates += 1;
                if let Some(online) = routed.entity.availability(topic, payload) {
                    device.online = Some(online);
                }
                if routed.entity.state_topic.as_deref() == Some(topic) {
                    let slot = device.slot(&routed.measurement);
                    match routed.entity.state(payload) {
                        Ok(value) => {
                            let number = match &value {
                                EntityState::Number(n) => Some(*n),
                                EntityState::Binary(on) => Some(f64::from(u8::from(*on))),
                                EntityState::Text(_) => None,
                            };
                            if let Some(value) = number {
                                changes.push(Change::Reading {
                                    device: routed.device.clone(),
                                    measurement: routed.measurement.clone(),
                                    value,
                                    unit: slot.unit.clone(),
                                });
                            }
                            slot.value = Some(value);
                            slot.error = None;
                            slot.updates += 1;
                        }
                        Err(e) => slot.error = Some(e.to_string()),
                    }
                }
            }
        }
        self.note(changes);
        true
    }

    fn kite_device(&mut self, id: &str) -> &mut DeviceView {
        let device = self
            .devices
            .entry((Source::Kite, id.to_owned()))
            .or_insert_with(|| DeviceView::new(Source::Kite, id));
        device.updates += 1;
        device
    }

    fn apply_kite(&mut self, topic: DeviceTopic, payload: &[u8]) {
        let journaled = self.journal.is_some();
        let mut changes = Vec::new();
        let id = topic.id;
        let device = self.kite_device(&id);
        let mut reading = |slot: &mut MeasurementView, name: &str, value: f64| {
            set_number(slot, value);
            if journaled {
                changes.push(Change::Reading {
                    device: id.clone(),
                    measurement: name.to_owned(),
                    value,
                    unit: slot.unit.clone(),
                });
            }
        };
        match topic.kind {
            TopicKind::Status => device.online = Status::parse(payload).ok().map(Status::is_online),
            TopicKind::Telemetry => match Telemetry::parse(payload) {
                Ok(telemetry) => {
                    for (name, value) in telemetry.iter() {
                        reading(device.slot(name), name, value);
                    }
                }
                // A bad telemetry message has no measurement to blame; it
                // shows up as an event so it is not silently lost.
                Err(e) => push_event(
                    device,
                    Event::new("invalid_telemetry", Default::default(), e.to_string()),
                ),
            },
            TopicKind::Measurement(name) => {
                let slot = device.slot(&name);
                match telemetry::parse_number(payload) {
                    Ok(value) => reading(slot, &name, value),
                    Err(e) => slot.error = Some(e.to_string()),
                }
            }
            TopicKind::Events => match Event::parse(payload) {
                Ok(event) => {
                    if journaled {
                        changes.push(Change::Event {
                            device: id.clone(),
                            event: event.clone(),
                        });
                    }
                    push_event(device, event)
                }
                Err(e) => push_event(
                    device,
                    Event::new("invalid_event", Default::default(), e.to_string()),
                ),
            },
            TopicKind::Meta => {
                if let Ok(meta) = Meta::parse(payload) {
                    apply_meta(device, meta);
                }
            }
        }
        self.note(changes);
    }

    fn apply_config(&mut self, topic: &str, parsed: &DiscoveryTopic, payload: &[u8]) {
        let entities = match discovery::parse_config(parsed, payload) {
            Ok(Discovery::Entities(entities)) => entities,
            Ok(Discovery::Removed) | Err(_) => Vec::new(),
        };
        // Devices re-announce the same config on every reconnect; keep
        // what is known about them instead of starting over.
        if let Some(old) = self.configs.get(topic) {
            if old.iter().map(|r| &r.entity).eq(entities.iter()) {
                return;
            }
        }
        let old = self.configs.remove(topic).unwrap_or_default();
        for routed in &old {
            self.forget(routed);
        }
        let mut routed = Vec::new();
        for entity in entities {
            let device_id = entity.device_key().to_owned();
            let key = (Source::HomeAssistant, device_id.clone());
            let device = self
                .devices
                .entry(key)
                .or_insert_with(|| DeviceView::new(Source::HomeAssistant, &device_id));
            device.updates += 1;
            if let Some(info) = &entity.device {
                device.name = info.name.clone().or(device.name.take());
                device.kind = info.model.clone().or(device.kind.take());
                device.location = info.suggested_area.clone().or(device.location.take());
            }
            let measurement = entity.measurement().to_owned();
            let slot = device.slot(&measurement);
            slot.unit = entity.unit_of_measurement.clone().or(slot.unit.take());
            slot.device_class = entity.device_class.clone().or(slot.device_class.take());
            if let Some(ValueTemplate::Unsupported(t)) = &entity.value_template {
                slot.error = Some(format!("unsupported template: {t}"));
            }
            routed.push(Routed {
                entity,
                device: device_id,
                measurement,
            });
        }
        self.configs.insert(topic.to_owned(), routed);
        self.reindex();
        // Retained state that arrived before this config.
        let waiting: Vec<(String, Vec<u8>)> = self
            .routes
            .keys()
            .filter_map(|t| self.pending.remove(t).map(|p| (t.clone(), p)))
            .collect();
        for (t, p) in waiting {
            self.apply(&t, &p, true);
        }
    }

    /// Drop a removed entity's measurement, and its device when nothing is left.
    fn forget(&mut self, routed: &Routed) {
        let key = (Source::HomeAssistant, routed.device.clone());
        if let Some(device) = self.devices.get_mut(&key) {
            device
                .measurements
                .retain(|(n, _)| *n != routed.measurement);
            device.updates += 1;
        }
        let still_used = self
            .configs
            .values()
            .flatten()
            .any(|r| r.device == routed.device);
        if !still_used {
            self.devices.remove(&key);
        }
    }

    fn reindex(&mut self) {
        self.routes.clear();
        for (config, entities) in &self.configs {
            for routed in entities {
                let topics = routed
                    .entity
                    .state_topic
                    .iter()
                    .chain(routed.entity.availability.iter().map(|a| &a.topic));
                for topic in topics {
                    let list = self.routes.entry(topic.clone()).or_default();
                    if !list.contains(config) {
                        list.push(config.clone());
                    }
                }
            }
        }
    }
}

fn set_number(slot: &mut MeasurementView, value: f64) {
    slot.value = Some(EntityState::Number(value));
    slot.error = None;
    slot.updates += 1;
}

fn push_event(device: &mut DeviceView, event: Event) {
    if device.events.len() == EVENTS_KEPT {
        device.events.pop_front();
    }
    device.events.push_back(event);
}

fn apply_meta(device: &mut DeviceView, meta: Meta) {
    device.name = Some(meta.name).filter(|n| !n.is_empty());
    device.kind = Some(meta.kind).filter(|k| !k.is_empty());
    device.location = meta.location;
    for (name, unit) in meta.units {
        device.slot(&name).unit = Some(unit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Severity;

    fn number(device: &DeviceView, name: &str) -> Option<f64> {
        match device.measurement(name)?.value {
            Some(EntityState::Number(n)) => Some(n),
            _ => None,
        }
    }

    #[test]
    fn a_journaled_fleet_lists_readings_and_events() {
        let mut fleet = Fleet::journaled();
        fleet.apply(
            "devices/sim-1/telemetry",
            br#"{"temperature":21.4,"battery":87}"#,
            false,
        );
        fleet.apply("devices/sim-1/humidity", b"45", false);
        fleet.apply("devices/sim-1/humidity", b"damp", false);
        fleet.apply(
            "devices/sim-1/events",
            br#"{"type":"motion","severity":"info"}"#,
            false,
        );
        let reading = |m: &str, value: f64, unit: Option<&str>| Change::Reading {
            device: "sim-1".into(),
            measurement: m.into(),
            value,
            unit: unit.map(String::from),
        };
        assert_eq!(
            fleet.take_changes(),
            vec![
                reading("temperature", 21.4, Some("°C")),
                reading("battery", 87.0, Some("%")),
                reading("humidity", 45.0, Some("%")),
                Change::Event {
                    device: "sim-1".into(),
                    event: Event::new("motion", Severity::Info, ""),
                },
            ]
        );
        assert!(fleet.take_changes().is_empty());
        let mut plain = Fleet::new();
        plain.apply("devices/sim-1/battery", b"80", false);
        assert!(plain.take_changes().is_empty(), "not journaled");
    }

    #[test]
    fn a_kite_device_from_its_messages() {
        let mut fleet = Fleet::new();
        fleet.apply("devices/sim-1/status", b"online", true);
        fleet.apply(
            "devices/sim-1/meta",
            r#"{"name":"Kitchen climate","kind":"climate","location":"kitchen","units":{"temperature":"°C"}}"#.as_bytes(),
            true,
        );
        fleet.apply(
            "devices/sim-1/telemetry",
            br#"{"temperature":21.4,"battery":87,"signal":-61}"#,
            false,
        );
        fleet.apply("devices/sim-1/humidity", b"45", false);
        fleet.apply(
            "devices/sim-1/events",
            br#"{"type":"low_battery","severity":"warning","message":"Battery at 9 %"}"#,
            false,
        );
        let d = fleet.device(Source::Kite, "sim-1").unwrap();
        assert_eq!(d.online, Some(true));
        assert_eq!(d.display_name(), "Kitchen climate");
        assert_eq!(d.location.as_deref(), Some("kitchen"));
        assert_eq!(number(d, "temperature"), Some(21.4));
        assert_eq!(number(d, "battery"), Some(87.0));
        assert_eq!(number(d, "humidity"), Some(45.0));
        assert_eq!(
            d.measurement("signal").unwrap().unit.as_deref(),
            Some("dBm")
        );
        assert_eq!(d.events.back().unwrap().severity, Severity::Warning);
        let names: Vec<&str> = d.measurements.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["temperature", "battery", "signal", "humidity"]);

        fleet.apply("devices/sim-1/status", b"offline", true);
        fleet.apply("devices/sim-1/battery", b"flat", false);
        let d = fleet.device(Source::Kite, "sim-1").unwrap();
        assert_eq!(d.online, Some(false));
        let battery = d.measurement("battery").unwrap();
        assert_eq!(
            battery.value,
            Some(EntityState::Number(87.0)),
            "the last good value stays"
        );
        assert!(battery.error.is_some());
    }

    #[test]
    fn events_are_bounded() {
        let mut fleet = Fleet::new();
        for i in 0..(EVENTS_KEPT + 5) {
            let event = Event::new("button", Severity::Info, format!("press {i}"));
            fleet.apply("devices/b/events", event.to_json().as_bytes(), false);
        }
        let d = fleet.device(Source::Kite, "b").unwrap();
        assert_eq!(d.events.len(), EVENTS_KEPT);
        assert_eq!(d.events.front().unwrap().message, "press 5");
    }

    #[test]
    fn a_home_assistant_device_from_discovery_state_and_availability() {
        let mut fleet = Fleet::new();
        // Retained availability before the config: kept, then applied.
        fleet.apply("kite-ha/sim-4/availability", b"online", true);
        assert!(fleet.is_empty());
        let config = |m: &str, unit: &str, class: &str| {
            format!(
                r#"{{"name":"{m}","state_topic":"kite-ha/sim-4/state","value_template":"{{{{ value_json.{m} }}}}",
                "unit_of_measurement":"{unit}","device_class":"{class}","availability_topic":"kite-ha/sim-4/availability",
                "device":{{"identifiers":["sim-4"],"name":"Porch climate","model":"climate","suggested_area":"porch"}}}}"#
            )
        };
        let t = config("temperature", "°C", "temperature");
        let s = config("signal", "dBm", "signal_strength");
        fleet.apply(
            "homeassistant/sensor/sim-4/temperature/config",
            t.as_bytes(),
            true,
        );
        fleet.apply(
            "homeassistant/sensor/sim-4/signal/config",
            s.as_bytes(),
            true,
        );
        fleet.apply(
            "kite-ha/sim-4/state",
            br#"{"temperature":12.5,"signal":-70}"#,
            false,
        );
        let d = fleet.device(Source::HomeAssistant, "sim-4").unwrap();
        assert_eq!(d.online, Some(true));
        assert_eq!(d.display_name(), "Porch climate");
        assert_eq!(d.location.as_deref(), Some("porch"));
        assert_eq!(number(d, "temperature"), Some(12.5));
        assert_eq!(number(d, "signal"), Some(-70.0));
        assert_eq!(
            d.measurement("signal").unwrap().device_class.as_deref(),
            Some("signal_strength")
        );

        fleet.apply("kite-ha/sim-4/availability", b"offline", true);
        assert_eq!(
            fleet.device(Source::HomeAssistant, "sim-4").unwrap().online,
            Some(false)
        );

        // Removing one config drops its measurement; removing both drops the device.
        fleet.apply("homeassistant/sensor/sim-4/signal/config", b"", true);
        let d = fleet.device(Source::HomeAssistant, "sim-4").unwrap();
        assert!(d.measurement("signal").is_none());
        fleet.apply("homeassistant/sensor/sim-4/temperature/config", b"", true);
        assert!(fleet.is_empty());
        assert!(
            !fleet.apply("kite-ha/sim-4/state", b"{}", false),
            "no longer routed"
        );
    }

    #[test]
    fn an_unsupported_template_is_reported_on_its_measurement() {
        let mut fleet = Fleet::new();
        let config = br#"{"name":"Mode","state_topic":"boiler/state","value_template":"{{ value_json.mode | upper }}","device":{"identifiers":["boiler"]}}"#;
        fleet.apply("homeassistant/sensor/boiler/mode/config", config, true);
        fleet.apply("boiler/state", br#"{"mode":"eco"}"#, false);
        let d = fleet.device(Source::HomeAssistant, "boiler").unwrap();
        let (name, m) = &d.measurements[0];
        assert_eq!(name, "mode");
        assert_eq!(m.value, None);
        assert_eq!(
            m.error.as_deref(),
            Some("unsupported template: {{ value_json.mode | upper }}")
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut fleet = Fleet::new();
        for topic in [
            "devices/x/telemetry",
            "devices/x/events",
            "devices/x/meta",
            "devices/x/status",
            "devices/x/t",
        ] {
            fleet.apply(topic, b"\xff{not json", true);
        }
        fleet.apply("homeassistant/sensor/x/config", b"{\"state_topic\":", true);
        assert_eq!(fleet.len(), 1);
    }
}
