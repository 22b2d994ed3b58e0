//! Home Assistant MQTT discovery, read side: retained configs on
//! `homeassistant/<component>/[<node_id>/]<object_id>/config` that say where
//! an entity's state is published (`state_topic`), how to read it
//! (`value_template`), what it measures (`unit_of_measurement`,
//! `device_class`), whether its device is reachable (`availability_topic`)
//! and which device it belongs to (`device`). Device-based discovery
//! (`homeassistant/device/<object_id>/config` with a `components` map) gives
//! several entities at once. Abbreviated keys and the `~` base topic are
//! expanded first (see `abbrev`).
//!
//! Nothing here panics on input: a config that is not JSON is an error, a
//! template that is not understood is [`ValueTemplate::Unsupported`].

mod abbrev;
mod template;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

pub use template::{Filter, PathStep, RenderError, Rendered, ValueTemplate};

/// Home Assistant's default discovery prefix.
pub const PREFIX: &str = "homeassistant";

/// The subscription filter that sees every discovery config (and, harmlessly,
/// Home Assistant's own `homeassistant/status`).
pub const FILTER: &str = "homeassistant/#";

/// Where a config was published.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DiscoveryTopic {
    /// `sensor`, `binary_sensor`, …, or `device` for device-based discovery.
    pub component: String,
    pub node_id: Option<String>,
    pub object_id: String,
}

impl DiscoveryTopic {
    /// Parse `homeassistant/<component>/[<node_id>/]<object_id>/config`.
    pub fn parse(topic: &str) -> Option<DiscoveryTopic> {
        DiscoveryTopic::parse_with_prefix(topic, PREFIX)
    }

    /// The same under another discovery prefix (Home Assistant lets users
    /// change it).
    pub fn parse_with_prefix(topic: &str, prefix: &str) -> Option<DiscoveryTopic> {
        let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
        let levels: Vec<&str> = rest.split('/').collect();
        let (component, node_id, object_id) = match levels[..] {
            [component, object_id, "config"] => (component, None, object_id),
            [component, node_id, object_id, "config"] => (component, Some(node_id), object_id),
            _ => return None,
        };
        let valid = |s: &str| crate::topics::is_valid_level(s);
        if !valid(component) || !valid(object_id) || !node_id.is_none_or(valid) {
            return None;
        }
        Some(DiscoveryTopic {
            component: component.to_owned(),
            node_id: node_id.map(str::to_owned),
            object_id: object_id.to_owned(),
        })
    }

    pub fn topic(&self) -> String {
        match &self.node_id {
            Some(node) => format!(
                "{PREFIX}/{}/{node}/{}/config",
                self.component, self.object_id
            ),
            None => format!("{PREFIX}/{}/{}/config", self.component, self.object_id),
        }
    }
}

/// Why a config was not understood.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    #[error("discovery config is not a JSON object: {0}")]
    NotJson(String),
    #[error("discovery config has a field of the wrong type: {0}")]
    Invalid(String),
}

/// What one config message says.
#[derive(Debug, Clone, PartialEq)]
pub enum Discovery {
    /// An empty payload: the entity (or device) was removed.
    Removed,
    /// One entity, or several for device-based discovery.
    Entities(Vec<Entity>),
}

/// One availability source: the device is available when `topic` carries
/// `payload_available`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Availability {
    pub topic: String,
    #[serde(default = "default_available", deserialize_with = "payload")]
    pub payload_available: String,
    #[serde(default = "default_not_available", deserialize_with = "payload")]
    pub payload_not_available: String,
    /// Applied to the payload before comparing, e.g. Zigbee2MQTT's
    /// `{{ value_json.state }}` on its bridge state.
    #[serde(default, deserialize_with = "template")]
    pub value_template: Option<ValueTemplate>,
}

fn default_available() -> String {
    "online".into()
}

fn default_not_available() -> String {
    "offline".into()
}

/// The device an entity belongs to; entities with the same first
/// identifier are one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DeviceInfo {
    #[serde(default, deserialize_with = "one_or_many")]
    pub identifiers: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub manufacturer: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub sw_version: Option<String>,
    #[serde(default)]
    pub suggested_area: Option<String>,
    #[serde(default)]
    pub via_device: Option<String>,
}

/// One Home Assistant entity, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    /// `sensor`, `binary_sensor`, …
    pub component: String,
    pub node_id: Option<String>,
    pub object_id: String,
    pub unique_id: Option<String>,
    /// `None` when missing or `null`: Home Assistant then names the entity
    /// after its device (see [`Entity::display_name`]).
    pub name: Option<String>,
    pub state_topic: Option<String>,
    /// `None` when the state is the payload itself.
    pub value_template: Option<ValueTemplate>,
    pub unit_of_measurement: Option<String>,
    pub device_class: Option<String>,
    pub state_class: Option<String>,
    pub entity_category: Option<String>,
    pub icon: Option<String>,
    /// From `availability_topic` and the `availability` list together.
    pub availability: Vec<Availability>,
    pub device: Option<DeviceInfo>,
    /// What a `binary_sensor` state means `on` / `off` (default `ON` / `OFF`).
    pub payload_on: String,
    pub payload_off: String,
}

/// An entity's state, read from a state message.
#[derive(Debug, Clone, PartialEq)]
pub enum EntityState {
    Number(f64),
    /// A binary sensor: `true` is on (open, motion, …).
    Binary(bool),
    Text(String),
}

impl Entity {
    /// The name of the measurement this entity reports: the JSON key its
    /// template reads (`temperature`), else its device class, else its object id.
    pub fn measurement(&self) -> &str {
        self.value_template
            .as_ref()
            .and_then(ValueTemplate::json_key)
            .or(self.device_class.as_deref())
            .unwrap_or(&self.object_id)
    }

    /// The key that groups entities into one device: the device's first
    /// identifier, else the topic's node id, else the entity's own id.
    pub fn device_key(&self) -> &str {
        self.device
            .as_ref()
            .and_then(|d| d.identifiers.first())
            .map(String::as_str)
            .or(self.node_id.as_deref())
            .or(self.unique_id.as_deref())
            .unwrap_or(&self.object_id)
    }

    /// A name for people: the entity's, else its device's, else its measurement.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .or_else(|| self.device.as_ref().and_then(|d| d.name.as_deref()))
            .unwrap_or_else(|| self.measurement())
    }

    /// Read a message from `state_topic`.
    pub fn state(&self, payload: &[u8]) -> Result<EntityState, RenderError> {
        let rendered = match &self.value_template {
            Some(template) => template.render(payload)?,
            None => Rendered::Text(
                std::str::from_utf8(payload)
                    .map_err(|_| RenderError::NotUtf8)?
                    .to_owned(),
            ),
        };
        if self.component == "binary_sensor" {
            let text = rendered.as_text();
            if text == self.payload_on {
                return Ok(EntityState::Binary(true));
            }
            if text == self.payload_off {
                return Ok(EntityState::Binary(false));
            }
            return Ok(EntityState::Text(text));
        }
        Ok(match rendered.as_number() {
            Some(n) => EntityState::Number(n),
            None => EntityState::Text(rendered.as_text()),
        })
    }

    /// Read a message from one of the availability topics: `Some(true)` for
    /// available, `Some(false)` for not, `None` when the topic is not one of
    /// this entity's or the payload is neither.
    pub fn availability(&self, topic: &str, payload: &[u8]) -> Option<bool> {
        let source = self.availability.iter().find(|a| a.topic == topic)?;
        let text = match &source.value_template {
            Some(template) => template.render(payload).ok()?.as_text(),
            None => std::str::from_utf8(payload).ok()?.to_owned(),
        };
        let text = text.trim();
        if text == source.payload_available {
            Some(true)
        } else if text == source.payload_not_available {
            Some(false)
        } else {
            None
        }
    }
}

/// Parse a config message published on `topic`.
pub fn parse_config(topic: &DiscoveryTopic, payload: &[u8]) -> Result<Discovery, DiscoveryError> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(Discovery::Removed);
    }
    let map = match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(map)) => abbrev::normalize(map),
        Ok(other) => return Err(DiscoveryError::NotJson(format!("got {other}"))),
        Err(e) => return Err(DiscoveryError::NotJson(e.to_string())),
    };
    if topic.component != "device" {
        return entity(topic.component.clone(), topic, topic.object_id.clone(), map)
            .map(|e| Discovery::Entities(vec![e]));
    }
    // Device-based discovery: every option outside `components` is shared by
    // all components, and a component's own options win.
    let mut shared = map;
    let components = match shared.remove("components") {
        Some(Value::Object(components)) => components,
        _ => {
            return Err(DiscoveryError::Invalid(
                "a device config needs a components map".into(),
            ))
        }
    };
    let mut entities = Vec::new();
    for (object_id, config) in components {
        let Value::Object(config) = config else {
            return Err(DiscoveryError::Invalid(format!(
                "component {object_id} is not an object"
            )));
        };
        let mut merged = shared.clone();
        merged.extend(config);
        if let Some(Value::String(base)) = merged.get("~").cloned() {
            abbrev::expand_base(&mut merged, &base);
        }
        let component = match merged.get("platform") {
            Some(Value::String(p)) => p.clone(),
            _ => {
                return Err(DiscoveryError::Invalid(format!(
                    "component {object_id} has no platform"
                )))
            }
        };
        entities.push(entity(component, topic, object_id, merged)?);
    }
    Ok(Discovery::Entities(entities))
}

/// The fields read from a normalized config.
#[derive(Deserialize)]
struct RawEntity {
    #[serde(default)]
    unique_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    object_id: Option<String>,
    #[serde(default)]
    state_topic: Option<String>,
    #[serde(default)]
    value_template: Option<String>,
    #[serde(default)]
    unit_of_measurement: Option<String>,
    #[serde(default)]
    device_class: Option<String>,
    #[serde(default)]
    state_class: Option<String>,
    #[serde(default)]
    entity_category: Option<String>,
    #[serde(default)]
    icon: Option<String>,
    #[serde(default)]
    availability_topic: Option<String>,
    #[serde(default, deserialize_with = "template")]
    availability_template: Option<ValueTemplate>,
    #[serde(default)]
    availability: Vec<Availability>,
    #[serde(default, deserialize_with = "optional_payload")]
    payload_available: Option<String>,
    #[serde(default, deserialize_with = "optional_payload")]
    payload_not_available: Option<String>,
    #[serde(default)]
    device: Option<DeviceInfo>,
    #[serde(default, deserialize_with = "optional_payload")]
    payload_on: Option<String>,
    #[serde(default, deserialize_with = "optional_payload")]
    payload_off: Option<String>,
}

fn entity(
    component: String,
    topic: &DiscoveryTopic,
    object_id: String,
    map: Map<String, Value>,
) -> Result<Entity, DiscoveryError> {
    let raw: RawEntity = serde_json::from_value(Value::Object(map))
        .map_err(|e| DiscoveryError::Invalid(e.to_string()))?;
    let mut availability = raw.availability;
    if let Some(topic) = raw.availability_topic {
        availability.insert(
            0,
            Availability {
                topic,
                payload_available: raw.payload_available.unwrap_or_else(default_available),
                payload_not_available: raw
                    .payload_not_available
                    .unwrap_or_else(default_not_available),
                value_template: raw.availability_template,
            },
        );
    }
    Ok(Entity {
        component,
        node_id: topic.node_id.clone(),
        object_id: raw.object_id.unwrap_or(object_id),
        unique_id: raw.unique_id,
        name: raw.name.filter(|n| !n.is_empty()),
        state_topic: raw.state_topic,
        value_template: raw.value_template.as_deref().map(ValueTemplate::parse),
        unit_of_measurement: raw.unit_of_measurement,
        device_class: raw.device_class,
        state_class: raw.state_class,
        entity_category: raw.entity_category,
        icon: raw.icon,
        availability,
        device: raw.device,
        payload_on: raw.payload_on.unwrap_or_else(|| "ON".into()),
        payload_off: raw.payload_off.unwrap_or_else(|| "OFF".into()),
    })
}

/// A payload option as Home Assistant reads it: strings as they are, and
/// `true`/`false`/numbers as Python would print them (Zigbee2MQTT sends
/// `"payload_on": true` and its template renders `True`).
fn payload_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

fn payload<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Value::deserialize(d).map(payload_text)
}

fn optional_payload<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Value::deserialize(d).map(|v| Some(payload_text(v)))
}

fn template<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ValueTemplate>, D::Error> {
    Option::<String>::deserialize(d).map(|t| t.as_deref().map(ValueTemplate::parse))
}

/// `identifiers` may be one string or a list.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}
