//! One device's behaviour as a pure state machine: what it publishes when
//! it connects, at every step, and when it leaves. No I/O and no clock:
//! time is the step count times the interval from a given time of day, so
//! a seed gives one exact message sequence (which the integration test
//! compares with what a real broker delivers).

use std::time::Duration;

use kite_convention::{
    events::{types, Event, Severity},
    meta::Meta,
    status::Status,
    telemetry, topics,
};

/// What [`DeviceModel`] returns, where its callers take it from.
pub use crate::message::Message;
use crate::{
    homeassistant,
    message::{Activity, Reading},
    sim::{self, BatteryChange, Rng},
    spec::{is_outdoor, Convention, DeviceKind, DeviceSpec},
};

/// What one step produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub messages: Vec<Message>,
    /// Drop the connection without DISCONNECT after these messages and stay
    /// away this long: the broker then publishes the will.
    pub disconnect: Option<Duration>,
}

/// Steps after start during which a device never drops its link, so short
/// tests and the first minutes of a demo see a stable fleet.
pub const STABLE_STEPS: u64 = 120;

/// One simulated device.
#[derive(Debug, Clone)]
pub struct DeviceModel {
    spec: DeviceSpec,
    rng: Rng,
    temperature: sim::Temperature,
    humidity_base: f64,
    battery: sim::Battery,
    signal: sim::Signal,
    door_open: bool,
    door_open_steps: u32,
    start_of_day: f64,
    step: u64,
    /// Home Assistant devices: send the short keys (as Tasmota and ESPHome do).
    abbreviated: bool,
}

impl DeviceModel {
    /// `start_of_day`: seconds after midnight of the first reading.
    pub fn new(spec: DeviceSpec, start_of_day: f64) -> DeviceModel {
        let mut rng = Rng::new(spec.seed);
        let outdoor = is_outdoor(&spec.location);
        let base_temperature = if outdoor {
            rng.range(8.0, 18.0)
        } else {
            rng.range(18.5, 23.5)
        };
        let amplitude = if outdoor {
            rng.range(4.0, 7.0)
        } else {
            rng.range(0.8, 2.0)
        };
        let humidity_base = rng.range(35.0, 60.0);
        // A few devices start nearly flat, so low-battery alarms show up
        // within minutes instead of months.
        let battery = rng.range(8.0, 100.0);
        let drain = rng.range(0.005, 0.04);
        let signal = rng.range(-85.0, -50.0);
        let abbreviated = rng.chance(0.5);
        DeviceModel {
            temperature: sim::Temperature::new(
                spec.temperature.unwrap_or(base_temperature),
                amplitude,
            ),
            humidity_base,
            battery: sim::Battery::new(spec.battery.unwrap_or(battery), drain),
            signal: sim::Signal::new(spec.signal.unwrap_or(signal)),
            door_open: false,
            door_open_steps: 0,
            start_of_day,
            step: 0,
            abbreviated,
            rng,
            spec,
        }
    }

    pub fn spec(&self) -> &DeviceSpec {
        &self.spec
    }

    pub fn abbreviated(&self) -> bool {
        self.abbreviated
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The topic that says whether the device is online.
    pub fn status_topic(&self) -> String {
        match self.spec.convention {
            Convention::Kite => topics::status_topic(&self.spec.id),
            Convention::HomeAssistant => homeassistant::availability_topic(&self.spec.id),
        }
    }

    /// The last will: `offline`, retained, on the status topic.
    pub fn will(&self) -> Message {
        Message::retained(self.status_topic(), Status::Offline.as_str().into())
    }

    /// What to publish right after every CONNACK: who it is, then `online`.
    pub fn announce(&self) -> Vec<Message> {
        let id = &self.spec.id;
        let online = Message::retained(self.status_topic(), Status::Online.as_str().into());
        match self.spec.convention {
            Convention::Kite => vec![
                online,
                Message::retained(topics::meta_topic(id), self.meta().to_json()),
            ],
            Convention::HomeAssistant => {
                let mut messages = homeassistant::configs(&self.spec, self.abbreviated);
                messages.push(online);
                messages
            }
        }
    }

    /// What to publish when stopped on purpose: `offline`, since a clean
    /// DISCONNECT discards the will.
    pub fn goodbye(&self) -> Vec<Message> {
        vec![self.will()]
    }

    pub fn meta(&self) -> Meta {
        Meta {
            name: self.spec.name.clone(),
            kind: self.spec.kind.as_str().into(),
            location: Some(self.spec.location.clone()),
            units: self
                .spec
                .kind
                .measurements()
                .iter()
                .filter_map(|m| telemetry::known(m).map(|k| ((*m).to_owned(), k.unit.to_owned())))
                .collect(),
        }
    }

    /// Seconds after midnight of the current step.
    pub fn seconds_of_day(&self) -> f64 {
        (self.start_of_day + self.step as f64 * self.spec.interval.as_secs_f64())
            .rem_euclid(sim::DAY)
    }

    /// Advance one interval. Random draws happen in one fixed order.
    pub fn step(&mut self) -> Step {
        let seconds_of_day = self.seconds_of_day();
        self.step += 1;
        let temperature = self.temperature.next(&mut self.rng, seconds_of_day);
        let humidity = (self.spec.kind == DeviceKind::Climate).then(|| {
            sim::humidity(
                &mut self.rng,
                self.humidity_base,
                temperature,
                self.temperature.base,
            )
        });
        let battery_change = self.battery.next(&mut self.rng);
        let signal = self.signal.next(&mut self.rng);
        let reading = Reading {
            temperature,
            humidity,
            battery: self.battery.percent(),
            signal,
        };
        let (activity, mut events) = self.activity();
        events.extend(battery_event(battery_change, reading.battery));
        let disconnect = self.maybe_disconnect();
        let id = &self.spec.id;
        let mut messages = Vec::new();
        match self.spec.convention {
            Convention::Kite => {
                let telemetry = reading.telemetry();
                messages.push(Message::reading(
                    topics::telemetry_topic(id),
                    telemetry.to_json(),
                ));
                for (name, value) in telemetry.iter() {
                    messages.push(Message::reading(
                        topics::measurement_topic(id, name),
                        telemetry::format_number(value),
                    ));
                }
                for event in events {
                    messages.push(Message::event(topics::events_topic(id), event.to_json()));
                }
            }
            // Home Assistant has no event topic: activity shows in the
            // state (door open, motion on, last press) and the battery level.
            Convention::HomeAssistant => messages.push(Message::reading(
                homeassistant::state_topic(id),
                homeassistant::state(&self.spec, &reading, &activity),
            )),
        }
        Step {
            messages,
            disconnect,
        }
    }

    fn activity(&mut self) -> (Activity, Vec<Event>) {
        let mut activity = Activity::default();
        let mut events = Vec::new();
        let place = self.spec.location.clone();
        match self.spec.kind {
            DeviceKind::Climate => {}
            DeviceKind::Door => {
                if !self.door_open && self.rng.chance(0.03) {
                    self.door_open = true;
                    self.door_open_steps = 0;
                    events.push(Event::new(
                        types::DOOR_OPENED,
                        Severity::Info,
                        format!("{} opened", self.spec.name),
                    ));
                } else if self.door_open && self.rng.chance(0.25) {
                    self.door_open = false;
                    events.push(Event::new(
                        types::DOOR_CLOSED,
                        Severity::Info,
                        format!("{} closed", self.spec.name),
                    ));
                } else if self.door_open {
                    self.door_open_steps += 1;
                }
                activity.door_open = self.door_open;
            }
            DeviceKind::Motion => {
                if self.rng.chance(0.05) {
                    activity.motion = true;
                    events.push(Event::new(
                        types::MOTION,
                        Severity::Info,
                        format!("Motion in the {place}"),
                    ));
                }
            }
            DeviceKind::Button => {
                if self.rng.chance(0.02) {
                    let press = match self.rng.below(10) {
                        0..=6 => "single",
                        7 | 8 => "double",
                        _ => "long",
                    };
                    activity.press = Some(press);
                    events.push(Event::new(
                        types::BUTTON,
                        Severity::Info,
                        format!("{press} press"),
                    ));
                }
            }
        }
        (activity, events)
    }

    fn maybe_disconnect(&mut self) -> Option<Duration> {
        // Always draw, so the rate (and the grace period) never shifts the
        // random sequence of later steps.
        let roll = self.rng.unit();
        let away = self.rng.range(3.0, 20.0);
        let per_step = self.spec.disconnect_rate * self.spec.interval.as_secs_f64() / 3600.0;
        (self.step > STABLE_STEPS && roll < per_step).then(|| Duration::from_secs_f64(away))
    }
}

fn battery_event(change: BatteryChange, percent: f64) -> Option<Event> {
    let (kind, severity, message) = match change {
        BatteryChange::None => return None,
        BatteryChange::Low => (
            types::LOW_BATTERY,
            Severity::Warning,
            format!("Battery low: {percent} %"),
        ),
        BatteryChange::Critical => (
            types::LOW_BATTERY,
            Severity::Critical,
            format!("Battery critical: {percent} %"),
        ),
        BatteryChange::Replaced => (
            types::BATTERY_REPLACED,
            Severity::Info,
            "Battery replaced".to_owned(),
        ),
    };
    Some(Event::new(kind, severity, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kite_convention::{DeviceTopic, Telemetry, TopicKind};

    fn spec(kind: DeviceKind, convention: Convention) -> DeviceSpec {
        let mut spec =
            DeviceSpec::generated(1, "sim-1".into(), 42, Duration::from_secs(1), convention);
        spec.kind = kind;
        spec
    }

    #[test]
    fn a_fixed_seed_gives_a_fixed_first_step() {
        let mut model =
            DeviceModel::new(spec(DeviceKind::Climate, Convention::Kite), 12.0 * 3600.0);
        let step = model.step();
        // Golden values: a change here changes every simulated fleet; update
        // them only on purpose.
        assert_eq!(step.messages[0].topic, "devices/sim-1/telemetry");
        assert_eq!(step.messages[0].payload, GOLDEN_FIRST_TELEMETRY);
        assert_eq!(step.disconnect, None);
    }

    const GOLDEN_FIRST_TELEMETRY: &str =
        r#"{"temperature":22,"humidity":52,"battery":26,"signal":-88}"#;

    #[test]
    fn kite_steps_follow_the_convention() {
        for kind in DeviceKind::ALL {
            let mut model = DeviceModel::new(spec(kind, Convention::Kite), 0.0);
            for _ in 0..500 {
                let step = model.step();
                let telemetry = Telemetry::parse(step.messages[0].payload.as_bytes()).unwrap();
                let names: Vec<&str> = telemetry.iter().map(|(n, _)| n).collect();
                assert_eq!(names, kind.measurements());
                for m in &step.messages[1..] {
                    let topic = DeviceTopic::parse(&m.topic).unwrap();
                    match topic.kind {
                        TopicKind::Measurement(name) => {
                            assert_eq!(
                                telemetry::parse_number(m.payload.as_bytes()),
                                Ok(telemetry.get(&name).unwrap())
                            )
                        }
                        TopicKind::Events => {
                            Event::parse(m.payload.as_bytes()).unwrap();
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn announce_and_will() {
        let model = DeviceModel::new(spec(DeviceKind::Door, Convention::Kite), 0.0);
        let announce = model.announce();
        assert_eq!(
            announce[0],
            Message::retained("devices/sim-1/status".into(), "online".into())
        );
        assert_eq!(announce[1].topic, "devices/sim-1/meta");
        let meta = Meta::parse(announce[1].payload.as_bytes()).unwrap();
        assert_eq!(meta.kind, "door");
        assert_eq!(meta.units["signal"], "dBm");
        assert_eq!(
            model.will(),
            Message::retained("devices/sim-1/status".into(), "offline".into())
        );
    }

    #[test]
    fn events_happen_for_each_kind() {
        let count = |kind, event: &str| {
            let mut model = DeviceModel::new(spec(kind, Convention::Kite), 0.0);
            (0..2000)
                .flat_map(|_| model.step().messages)
                .filter(|m| m.topic.ends_with("/events"))
                .filter(|m| Event::parse(m.payload.as_bytes()).unwrap().kind == event)
                .count()
        };
        assert!(count(DeviceKind::Door, types::DOOR_OPENED) > 10);
        assert!(count(DeviceKind::Door, types::DOOR_CLOSED) > 10);
        assert!(count(DeviceKind::Motion, types::MOTION) > 30);
        assert!(count(DeviceKind::Button, types::BUTTON) > 10);
        assert_eq!(count(DeviceKind::Climate, types::MOTION), 0);
    }

    #[test]
    fn disconnects_follow_the_rate_after_the_stable_start() {
        let mut s = spec(DeviceKind::Climate, Convention::Kite);
        s.disconnect_rate = 360.0; // one every 10 steps on average
        let mut model = DeviceModel::new(s.clone(), 0.0);
        let steps: Vec<Step> = (0..2120).map(|_| model.step()).collect();
        assert!(steps[..STABLE_STEPS as usize]
            .iter()
            .all(|s| s.disconnect.is_none()));
        let drops = steps.iter().filter(|s| s.disconnect.is_some()).count();
        assert!((120..300).contains(&drops), "{drops}");
        // The rate does not change the readings.
        s.disconnect_rate = 0.0;
        let mut calm = DeviceModel::new(s, 0.0);
        for step in &steps {
            assert_eq!(calm.step().messages, step.messages);
        }
    }

    #[test]
    fn a_nearly_flat_battery_raises_an_alarm() {
        let mut s = spec(DeviceKind::Climate, Convention::Kite);
        s.battery = Some(15.5);
        let mut model = DeviceModel::new(s, 0.0);
        let alarm = (0..300)
            .flat_map(|_| model.step().messages)
            .filter(|m| m.topic.ends_with("/events"))
            .map(|m| Event::parse(m.payload.as_bytes()).unwrap())
            .find(|e| e.kind == types::LOW_BATTERY)
            .expect("a low-battery alarm");
        assert_eq!(alarm.severity, Severity::Warning);
    }
}
