//! The alarm engine as a state machine with no I/O: messages in,
//! publications out. It keeps the rules, the active alarms, which devices
//! are offline since when, the Home Assistant entities it learned from
//! discovery, and a bounded history of alarm events.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
};

use kite_convention::{
    alarms::active_topic,
    discovery::{self, Discovery, DiscoveryTopic, Entity, EntityState},
    status::Status,
    telemetry::{self, Telemetry},
    topics::{DeviceTopic, TopicKind},
};

use super::rule::{Condition, Rule, RuleError};

/// Topics of the alarm engine (a contract shared with the dashboard, see
/// [`kite_convention::alarms`]).
pub use kite_convention::alarms::{
    ACK_PREFIX, ACTIVE_PREFIX, ERRORS_TOPIC, EVENTS_TOPIC, HISTORY_TOPIC, ROOT, RULES_PREFIX,
};

/// What the engine publishes: an active alarm (retained) and an event (and
/// the history of them). The JSON is a contract shared with the dashboard,
/// see [`kite_convention::alarms::payload`].
pub use kite_convention::alarms::{Active, AlarmEvent};

/// Alarm events kept in the history.
pub const HISTORY_LEN: usize = 200;

/// A message the engine wants published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// A rule as a reading checks it.
#[derive(Debug)]
struct Watch {
    slot: u32,
    id: Arc<str>,
    rule: Rule,
}

/// The engine.
#[derive(Debug, Default)]
pub struct Engine {
    rules: BTreeMap<String, Rule>,
    /// The rules of each measurement, so a reading checks only its own rules
    /// and looks nothing up by name (rebuilt whenever a rule changes).
    by_measurement: HashMap<String, Vec<Watch>>,
    /// A number for each rule id, so the hot path compares integers.
    slots: HashMap<String, u32>,
    next_slot: u32,
    /// Active alarms by device, then by rule slot: a reading looks up its
    /// device once and allocates nothing unless an alarm changes.
    active: HashMap<String, BTreeMap<u32, Active>>,
    offline_since: HashMap<String, u64>,
    /// Home Assistant entities by state topic and by availability topic.
    ha_state: HashMap<String, Vec<Entity>>,
    ha_availability: HashMap<String, Vec<Entity>>,
    /// The state/availability topics each discovery config added, to undo on removal.
    ha_configs: HashMap<String, Vec<Entity>>,
    history: VecDeque<AlarmEvent>,
    /// The history changed since it was last published (at most once a tick).
    history_dirty: bool,
}

impl Engine {
    /// Number of rules.
    pub fn rules(&self) -> usize {
        self.rules.len()
    }

    /// Active alarms.
    pub fn active(&self) -> impl Iterator<Item = &Active> {
        self.active.values().flat_map(BTreeMap::values)
    }

    /// True when a message on `topic` may concern the engine.
    pub fn wants(&self, topic: &str) -> bool {
        wants_always(topic)
            || self.ha_state.contains_key(topic)
            || self.ha_availability.contains_key(topic)
    }

    /// Number of Home Assistant state and availability topics it follows:
    /// while there are none, [`wants_always`] alone decides.
    pub fn ha_topics(&self) -> usize {
        self.ha_state.len() + self.ha_availability.len()
    }

    /// The keys of the active alarms that `keep` selects, in order.
    fn active_keys(&self, keep: impl Fn(&str, &str) -> bool) -> Vec<(String, u32)> {
        let mut keys: Vec<_> = self
            .active
            .iter()
            .flat_map(|(d, alarms)| alarms.iter().map(move |(slot, a)| (d, &a.rule, *slot)))
            .filter(|(d, rule, _)| keep(d, rule))
            .collect();
        keys.sort();
        keys.into_iter()
            .map(|(d, _, slot)| (d.clone(), slot))
            .collect()
    }

    fn slot_for(&mut self, id: &str) -> u32 {
        if let Some(&slot) = self.slots.get(id) {
            return slot;
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        self.slots.insert(id.into(), slot);
        slot
    }

    /// Create, replace (payload) or delete (empty payload) rule `id`.
    pub fn set_rule(
        &mut self,
        id: &str,
        payload: &[u8],
        now: u64,
    ) -> Result<Vec<Publication>, RuleError> {
        if id.is_empty() || id.contains(['/', '+', '#']) {
            return Err(RuleError::BadId(id.into()));
        }
        let mut out = Vec::new();
        if payload.is_empty() {
            self.rules.remove(id);
            // Its alarms go with it.
            for (device, slot) in self.active_keys(|_, r| r == id) {
                self.clear(&device, slot, None, now, &mut out);
            }
            self.slots.remove(id);
        } else {
            let rule = Rule::parse(payload)?;
            self.slot_for(id);
            self.rules.insert(id.into(), rule);
        }
        self.reindex();
        Ok(out)
    }

    fn reindex(&mut self) {
        self.by_measurement.clear();
        for (id, rule) in &self.rules {
            if let Some(m) = &rule.measurement {
                self.by_measurement
                    .entry(m.clone())
                    .or_default()
                    .push(Watch {
                        slot: self.slots[id.as_str()],
                        id: Arc::from(id.as_str()),
                        rule: rule.clone(),
                    });
            }
        }
    }

    /// Bring back an active alarm or the history from the retained store.
    pub fn restore(&mut self, topic: &str, payload: &[u8]) {
        if topic == HISTORY_TOPIC {
            self.history = AlarmEvent::parse_history(payload).into();
        } else if topic.starts_with(ACTIVE_PREFIX) {
            if let Some(active) = Active::parse(payload) {
                let slot = self.slot_for(&active.rule);
                self.active
                    .entry(active.device.clone())
                    .or_default()
                    .insert(slot, active);
            }
        }
    }

    /// Acknowledge the active alarm `rule` of `device`.
    pub fn acknowledge(
        &mut self,
        device: &str,
        rule: &str,
        by: &str,
        now: u64,
    ) -> Vec<Publication> {
        let mut out = Vec::new();
        let Some(&slot) = self.slots.get(rule) else {
            return out;
        };
        let Some(active) = self.active.get_mut(device).and_then(|a| a.get_mut(&slot)) else {
            return out;
        };
        active.acknowledged_by = Some(by.to_string());
        active.acknowledged_at = Some(now);
        let active = active.clone();
        out.push(active_publication(&active));
        self.event("acknowledged", &active, now, Some(by.to_string()), &mut out);
        out
    }

    /// A message was published: evaluate what it says about devices.
    pub fn observe(&mut self, topic: &str, payload: &[u8], now: u64) -> Vec<Publication> {
        let mut out = Vec::new();
        if let Some(discovery_topic) = DiscoveryTopic::parse(topic) {
            self.learn_discovery(topic, &discovery_topic, payload);
            return out;
        }
        if let Some(device_topic) = DeviceTopic::parse(topic) {
            let device = device_topic.id.as_str();
            match &device_topic.kind {
                TopicKind::Telemetry => {
                    if let Ok(telemetry) = Telemetry::parse(payload) {
                        for (measurement, value) in telemetry.iter() {
                            self.reading(device, measurement, value, now, &mut out);
                        }
                    }
                }
                TopicKind::Measurement(measurement) => {
                    if let Ok(value) = telemetry::parse_number(payload) {
                        self.reading(device, measurement, value, now, &mut out);
                    }
                }
                TopicKind::Status => {
                    if let Ok(status) = Status::parse(payload) {
                        self.availability(device, status == Status::Online, now, &mut out);
                    }
                }
                TopicKind::Events | TopicKind::Meta => {}
            }
        }
        // Taken out and put back rather than cloned: `reading` needs `&mut self`.
        if let Some(entities) = self.ha_state.get_mut(topic).map(std::mem::take) {
            for entity in &entities {
                if let Ok(EntityState::Number(value)) = entity.state(payload) {
                    self.reading(
                        entity.device_key(),
                        entity.measurement(),
                        value,
                        now,
                        &mut out,
                    );
                }
            }
            if let Some(slot) = self.ha_state.get_mut(topic) {
                *slot = entities;
            }
        }
        if let Some(entities) = self.ha_availability.get_mut(topic).map(std::mem::take) {
            for entity in &entities {
                if let Some(online) = entity.availability(topic, payload) {
                    self.availability(entity.device_key(), online, now, &mut out);
                }
            }
            if let Some(slot) = self.ha_availability.get_mut(topic) {
                *slot = entities;
            }
        }
        out
    }

    /// Call every second or so: raises `offline_for` alarms that are due.
    pub fn tick(&mut self, now: u64) -> Vec<Publication> {
        let mut out = Vec::new();
        let offline: Vec<(String, u64)> = self
            .offline_since
            .iter()
            .map(|(d, s)| (d.clone(), *s))
            .collect();
        for (device, since) in offline {
            let due: Vec<(String, Rule)> = self
                .rules
                .iter()
                .filter(|(_, r)| {
                    r.enabled && r.condition == Condition::OfflineFor && r.watches(&device)
                })
                .filter(|(_, r)| now.saturating_sub(since) as f64 >= r.threshold * 1000.0)
                .map(|(id, r)| (id.clone(), r.clone()))
                .collect();
            for (id, rule) in due {
                if !self.is_active(&device, &id) {
                    self.raise(&device, &id, &rule, None, now, &mut out);
                }
            }
        }
        if std::mem::take(&mut self.history_dirty) {
            out.push(Publication {
                topic: HISTORY_TOPIC.into(),
                payload: serde_json::to_vec(&self.history).expect("history serializes"),
                retain: true,
            });
        }
        out
    }

    fn is_active(&self, device: &str, rule: &str) -> bool {
        let Some(slot) = self.slots.get(rule) else {
            return false;
        };
        self.active
            .get(device)
            .is_some_and(|a| a.contains_key(slot))
    }

    fn reading(
        &mut self,
        device: &str,
        measurement: &str,
        value: f64,
        now: u64,
        out: &mut Vec<Publication>,
    ) {
        let Some(watches) = self.by_measurement.get(measurement) else {
            return;
        };
        let active = self.active.get(device);
        // Decide with shared borrows and no allocation; change state after.
        let mut raise = Vec::new();
        let mut clear = Vec::new();
        for Watch { slot, id, rule } in watches {
            if !rule.enabled || !rule.watches(device) {
                continue;
            }
            if active.is_some_and(|a| a.contains_key(slot)) {
                if rule.clears(value) {
                    clear.push(*slot);
                }
            } else if rule.raises(value) {
                raise.push((id.clone(), rule.clone()));
            }
        }
        for slot in clear {
            self.clear(device, slot, Some(value), now, out);
        }
        for (id, rule) in raise {
            self.raise(device, &id, &rule, Some(value), now, out);
        }
    }

    fn availability(&mut self, device: &str, online: bool, now: u64, out: &mut Vec<Publication>) {
        if online {
            self.offline_since.remove(device);
            let keys = self.active_keys(|d, r| {
                d == device
                    && self
                        .rules
                        .get(r)
                        .is_some_and(|r| r.condition == Condition::OfflineFor)
            });
            for (device, slot) in keys {
                self.clear(&device, slot, None, now, out);
            }
        } else {
            self.offline_since.entry(device.to_string()).or_insert(now);
        }
    }

    fn raise(
        &mut self,
        device: &str,
        id: &str,
        rule: &Rule,
        value: Option<f64>,
        now: u64,
        out: &mut Vec<Publication>,
    ) {
        let active = Active {
            device: device.into(),
            rule: id.into(),
            raised_at: now,
            value,
            severity: rule.severity,
            message: rule.describe(),
            acknowledged_by: None,
            acknowledged_at: None,
        };
        out.push(active_publication(&active));
        self.event("raised", &active, now, None, out);
        let slot = self.slot_for(id);
        self.active
            .entry(device.into())
            .or_default()
            .insert(slot, active);
    }

    fn clear(
        &mut self,
        device: &str,
        slot: u32,
        value: Option<f64>,
        now: u64,
        out: &mut Vec<Publication>,
    ) {
        let Some(alarms) = self.active.get_mut(device) else {
            return;
        };
        let Some(mut active) = alarms.remove(&slot) else {
            return;
        };
        if alarms.is_empty() {
            self.active.remove(device);
        }
        out.push(Publication {
            topic: active_topic(&active.device, &active.rule),
            payload: Vec::new(),
            retain: true,
        });
        active.value = value.or(active.value);
        self.event("cleared", &active, now, None, out);
    }

    fn event(
        &mut self,
        kind: &str,
        active: &Active,
        now: u64,
        by: Option<String>,
        out: &mut Vec<Publication>,
    ) {
        let event = AlarmEvent {
            kind: kind.into(),
            device: active.device.clone(),
            rule: active.rule.clone(),
            severity: active.severity,
            message: active.message.clone(),
            value: active.value,
            at: now,
            by,
        };
        out.push(Publication {
            topic: EVENTS_TOPIC.into(),
            payload: serde_json::to_vec(&event).expect("events serialize"),
            retain: false,
        });
        self.history.push_back(event);
        while self.history.len() > HISTORY_LEN {
            self.history.pop_front();
        }
        // Published by `tick`: a burst of events rewrites the retained history once.
        self.history_dirty = true;
    }

    fn learn_discovery(&mut self, config_topic: &str, topic: &DiscoveryTopic, payload: &[u8]) {
        if let Some(old) = self.ha_configs.remove(config_topic) {
            for entity in old {
                for map in [&mut self.ha_state, &mut self.ha_availability] {
                    for list in map.values_mut() {
                        list.retain(|e| {
                            e.object_id != entity.object_id || e.node_id != entity.node_id
                        });
                    }
                    map.retain(|_, list| !list.is_empty());
                }
            }
        }
        let Ok(Discovery::Entities(entities)) = discovery::parse_config(topic, payload) else {
            return;
        };
        for entity in &entities {
            if let Some(state) = &entity.state_topic {
                self.ha_state
                    .entry(state.clone())
                    .or_default()
                    .push(entity.clone());
            }
            for availability in &entity.availability {
                self.ha_availability
                    .entry(availability.topic.clone())
                    .or_default()
                    .push(entity.clone());
            }
        }
        self.ha_configs.insert(config_topic.into(), entities);
    }
}

/// Topics that may concern the engine whatever it has learned.
pub fn wants_always(topic: &str) -> bool {
    topic.starts_with("devices/") || topic.starts_with("homeassistant/")
}

fn active_publication(active: &Active) -> Publication {
    Publication {
        topic: active_topic(&active.device, &active.rule),
        payload: serde_json::to_vec(active).expect("alarms serialize"),
        retain: true,
    }
}

#[cfg(test)]
mod tests;
