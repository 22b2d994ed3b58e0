//! How a simulated device announces itself through Home Assistant MQTT
//! discovery instead of the Kite convention, the way Zigbee2MQTT-style
//! bridges do: one retained config per entity under
//! `homeassistant/<component>/<id>/<object>/config`, one JSON state message
//! per reading on `kite-ha/<id>/state`, and `online` / `offline` on
//! `kite-ha/<id>/availability` (the will). Half of them use the short keys
//! and `~` base topic that memory-tight firmware (Tasmota, ESPHome) sends.

use kite_convention::{discovery, telemetry};
use serde_json::{json, Map, Value};

use crate::{
    message::{Activity, Message, Reading},
    spec::{DeviceKind, DeviceSpec},
};

/// The first level of the simulated devices' own topics.
pub const ROOT: &str = "kite-ha";

pub fn state_topic(id: &str) -> String {
    format!("{ROOT}/{id}/state")
}

pub fn availability_topic(id: &str) -> String {
    format!("{ROOT}/{id}/availability")
}

/// One entity of a device.
struct EntitySpec {
    component: &'static str,
    /// Object id, JSON key in the state message and measurement name.
    key: &'static str,
    name: &'static str,
    unit: Option<&'static str>,
    device_class: Option<&'static str>,
    diagnostic: bool,
    extra: Value,
}

fn entities(kind: DeviceKind) -> Vec<EntitySpec> {
    let measurement = |key: &'static str, name, diagnostic| {
        let known = telemetry::known(key).expect("simulated measurements are known");
        EntitySpec {
            component: "sensor",
            key,
            name,
            unit: Some(known.unit),
            device_class: Some(known.device_class),
            diagnostic,
            extra: json!({"state_class": "measurement"}),
        }
    };
    let mut list = vec![measurement("temperature", "Temperature", false)];
    match kind {
        DeviceKind::Climate => list.push(measurement("humidity", "Humidity", false)),
        DeviceKind::Door => list.push(EntitySpec {
            component: "binary_sensor",
            key: "door",
            name: "Door",
            unit: None,
            device_class: Some("door"),
            diagnostic: false,
            extra: json!({"payload_on": "open", "payload_off": "closed"}),
        }),
        DeviceKind::Motion => list.push(EntitySpec {
            component: "binary_sensor",
            key: "motion",
            name: "Motion",
            unit: None,
            device_class: Some("motion"),
            diagnostic: false,
            extra: json!({}),
        }),
        DeviceKind::Button => list.push(EntitySpec {
            component: "sensor",
            key: "action",
            name: "Action",
            unit: None,
            device_class: None,
            diagnostic: false,
            extra: json!({"icon": "mdi:gesture-tap-button"}),
        }),
    }
    list.push(measurement("battery", "Battery", true));
    list.push(measurement("signal", "Signal strength", true));
    list
}

/// The retained discovery configs of a device, one per entity.
pub fn configs(spec: &DeviceSpec, abbreviated: bool) -> Vec<Message> {
    entities(spec.kind)
        .into_iter()
        .map(|entity| {
            let topic = discovery::DiscoveryTopic {
                component: entity.component.into(),
                node_id: Some(spec.id.clone()),
                object_id: entity.key.into(),
            }
            .topic();
            let config = if abbreviated {
                short_config(spec, &entity)
            } else {
                long_config(spec, &entity)
            };
            Message::retained(topic, Value::Object(config).to_string())
        })
        .collect()
}

fn long_config(spec: &DeviceSpec, e: &EntitySpec) -> Map<String, Value> {
    let id = &spec.id;
    let mut c = Map::new();
    c.insert("name".into(), e.name.into());
    c.insert("unique_id".into(), format!("{id}_{}", e.key).into());
    c.insert("state_topic".into(), state_topic(id).into());
    c.insert(
        "value_template".into(),
        format!("{{{{ value_json.{} }}}}", e.key).into(),
    );
    c.insert("availability_topic".into(), availability_topic(id).into());
    if let Some(unit) = e.unit {
        c.insert("unit_of_measurement".into(), unit.into());
    }
    if let Some(class) = e.device_class {
        c.insert("device_class".into(), class.into());
    }
    if e.diagnostic {
        c.insert("entity_category".into(), "diagnostic".into());
    }
    if let Value::Object(extra) = &e.extra {
        c.extend(extra.clone());
    }
    c.insert(
        "device".into(),
        json!({
            "identifiers": [id],
            "name": spec.name,
            "manufacturer": "Kite",
            "model": format!("Simulated {}", spec.kind.label()),
            "suggested_area": spec.location,
        }),
    );
    c.insert(
        "origin".into(),
        json!({"name": "kite-devices", "sw": env!("CARGO_PKG_VERSION")}),
    );
    c
}

fn short_config(spec: &DeviceSpec, e: &EntitySpec) -> Map<String, Value> {
    let id = &spec.id;
    let mut c = Map::new();
    c.insert("~".into(), format!("{ROOT}/{id}").into());
    c.insert("name".into(), e.name.into());
    c.insert("uniq_id".into(), format!("{id}_{}", e.key).into());
    c.insert("stat_t".into(), "~/state".into());
    // Bracket form, as Tasmota writes it.
    c.insert(
        "val_tpl".into(),
        format!("{{{{value_json['{}']}}}}", e.key).into(),
    );
    c.insert("avty_t".into(), "~/availability".into());
    if let Some(unit) = e.unit {
        c.insert("unit_of_meas".into(), unit.into());
    }
    if let Some(class) = e.device_class {
        c.insert("dev_cla".into(), class.into());
    }
    if e.diagnostic {
        c.insert("ent_cat".into(), "diagnostic".into());
    }
    if let Value::Object(extra) = &e.extra {
        for (k, v) in extra {
            let short = match k.as_str() {
                "state_class" => "stat_cla",
                "payload_on" => "pl_on",
                "payload_off" => "pl_off",
                "icon" => "ic",
                other => other,
            };
            c.insert(short.into(), v.clone());
        }
    }
    c.insert(
        "dev".into(),
        json!({
            "ids": [id],
            "name": spec.name,
            "mf": "Kite",
            "mdl": format!("Simulated {}", spec.kind.label()),
            "sa": spec.location,
        }),
    );
    c
}

/// The state message of one step: every entity's value under its key.
pub fn state(spec: &DeviceSpec, reading: &Reading, activity: &Activity) -> String {
    let mut state = Map::new();
    for (name, value) in reading.telemetry().iter() {
        // Whole numbers as integers, as real devices send battery and RSSI.
        let number = if value.fract() == 0.0 {
            json!(value as i64)
        } else {
            json!(value)
        };
        state.insert(name.into(), number);
    }
    match spec.kind {
        DeviceKind::Climate => {}
        DeviceKind::Door => {
            state.insert(
                "door".into(),
                if activity.door_open { "open" } else { "closed" }.into(),
            );
        }
        DeviceKind::Motion => {
            state.insert(
                "motion".into(),
                if activity.motion { "ON" } else { "OFF" }.into(),
            );
        }
        DeviceKind::Button => {
            state.insert("action".into(), activity.press.unwrap_or("none").into());
        }
    }
    Value::Object(state).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Convention;
    use kite_convention::{discovery::EntityState, Fleet, Source};
    use std::time::Duration;

    fn spec(kind: DeviceKind) -> DeviceSpec {
        let mut spec = DeviceSpec::generated(
            4,
            "sim-4".into(),
            4,
            Duration::from_secs(1),
            Convention::HomeAssistant,
        );
        spec.kind = kind;
        spec
    }

    /// The simulator's configs, in both spellings, read back by the
    /// dashboard's model into the right measurements.
    #[test]
    fn configs_parse_back_into_the_right_measurements() {
        for abbreviated in [false, true] {
            for kind in DeviceKind::ALL {
                let spec = spec(kind);
                let mut fleet = Fleet::new();
                for m in configs(&spec, abbreviated) {
                    assert!(m.retain);
                    fleet.apply(&m.topic, m.payload.as_bytes(), true);
                }
                fleet.apply(&availability_topic(&spec.id), b"online", true);
                let reading = Reading {
                    temperature: 21.5,
                    humidity: Some(40.0),
                    battery: 87.0,
                    signal: -61.0,
                };
                let activity = Activity {
                    door_open: true,
                    motion: true,
                    press: Some("double"),
                };
                fleet.apply(
                    &state_topic(&spec.id),
                    state(&spec, &reading, &activity).as_bytes(),
                    false,
                );
                let device = fleet.device(Source::HomeAssistant, "sim-4").unwrap();
                assert_eq!(device.online, Some(true));
                assert_eq!(device.name.as_deref(), Some(spec.name.as_str()));
                let value = |m: &str| device.measurement(m).and_then(|v| v.value.clone());
                assert_eq!(value("temperature"), Some(EntityState::Number(21.5)));
                assert_eq!(value("battery"), Some(EntityState::Number(87.0)));
                assert_eq!(value("signal"), Some(EntityState::Number(-61.0)));
                let signal = device.measurement("signal").unwrap();
                assert_eq!(signal.unit.as_deref(), Some("dBm"));
                assert_eq!(signal.device_class.as_deref(), Some("signal_strength"));
                let special = match kind {
                    DeviceKind::Climate => ("humidity", EntityState::Number(40.0)),
                    DeviceKind::Door => ("door", EntityState::Binary(true)),
                    DeviceKind::Motion => ("motion", EntityState::Binary(true)),
                    DeviceKind::Button => ("action", EntityState::Text("double".into())),
                };
                assert_eq!(
                    value(special.0),
                    Some(special.1),
                    "{kind} abbreviated={abbreviated}"
                );
                assert!(device.measurements.iter().all(|(_, m)| m.error.is_none()));
            }
        }
    }
}
