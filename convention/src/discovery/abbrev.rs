//! Home Assistant's abbreviated discovery keys (`stat_t` for `state_topic`,
//! `dev` with `ids` for `device` with `identifiers`, …) and the `~` base
//! topic. Firmware with little memory (Tasmota, ESPHome, OpenMQTTGateway)
//! sends the short forms, so configs are normalized to the long forms
//! before they are read.

use serde_json::{Map, Value};

/// Entity keys: short → long. The subset of Home Assistant's table that a
/// read-only dashboard needs, plus the command topics so `~` expands in
/// them too.
const ENTITY: &[(&str, &str)] = &[
    ("avty", "availability"),
    ("avty_mode", "availability_mode"),
    ("avty_t", "availability_topic"),
    ("avty_tpl", "availability_template"),
    ("cmd_t", "command_topic"),
    ("cmd_tpl", "command_template"),
    ("cmps", "components"),
    ("dev", "device"),
    ("dev_cla", "device_class"),
    ("e", "encoding"),
    ("en", "enabled_by_default"),
    ("ent_cat", "entity_category"),
    ("evt_typ", "event_types"),
    ("exp_aft", "expire_after"),
    ("frc_upd", "force_update"),
    ("ic", "icon"),
    ("json_attr_t", "json_attributes_topic"),
    ("json_attr_tpl", "json_attributes_template"),
    ("o", "origin"),
    ("obj_id", "object_id"),
    ("off_dly", "off_delay"),
    ("p", "platform"),
    ("pl_avail", "payload_available"),
    ("pl_not_avail", "payload_not_available"),
    ("pl_off", "payload_off"),
    ("pl_on", "payload_on"),
    ("pl_prs", "payload_press"),
    ("ret", "retain"),
    ("stat_cla", "state_class"),
    ("stat_off", "state_off"),
    ("stat_on", "state_on"),
    ("stat_t", "state_topic"),
    ("stat_tpl", "state_template"),
    ("stat_val_tpl", "state_value_template"),
    ("sug_dsp_prc", "suggested_display_precision"),
    ("t", "topic"),
    ("uniq_id", "unique_id"),
    ("unit_of_meas", "unit_of_measurement"),
    ("val_tpl", "value_template"),
];

/// Device keys: short → long.
const DEVICE: &[(&str, &str)] = &[
    ("cns", "connections"),
    ("cu", "configuration_url"),
    ("hw", "hw_version"),
    ("ids", "identifiers"),
    ("mdl", "model"),
    ("mdl_id", "model_id"),
    ("mf", "manufacturer"),
    ("sa", "suggested_area"),
    ("sn", "serial_number"),
    ("sw", "sw_version"),
];

/// Origin keys: short → long.
const ORIGIN: &[(&str, &str)] = &[("sw", "sw_version"), ("url", "support_url")];

fn rename(map: Map<String, Value>, table: &[(&str, &str)]) -> Map<String, Value> {
    map.into_iter()
        .map(|(k, v)| {
            let long = table
                .iter()
                .find(|(short, _)| *short == k)
                .map_or(k, |(_, long)| (*long).to_owned());
            (long, v)
        })
        .collect()
}

/// Long keys everywhere in one entity's (or a device-discovery message's)
/// config, then `~` expanded in its topics.
pub fn normalize(map: Map<String, Value>) -> Map<String, Value> {
    let mut map = rename(map, ENTITY);
    // Values of the wrong type are left alone for the typed parser to refuse.
    if let Some(Value::Object(device)) = map.get_mut("device") {
        *device = rename(std::mem::take(device), DEVICE);
    }
    if let Some(Value::Object(origin)) = map.get_mut("origin") {
        *origin = rename(std::mem::take(origin), ORIGIN);
    }
    if let Some(Value::Array(list)) = map.get_mut("availability") {
        for entry in list {
            if let Value::Object(entry) = entry {
                *entry = rename(std::mem::take(entry), ENTITY);
            }
        }
    }
    if let Some(Value::Object(components)) = map.get_mut("components") {
        for config in components.values_mut() {
            if let Value::Object(config) = config {
                *config = normalize(std::mem::take(config));
            }
        }
    }
    if let Some(Value::String(base)) = map.get("~").cloned() {
        expand_base(&mut map, &base);
    }
    map
}

/// Replace a leading or trailing `~` in every `*_topic` value (and in the
/// `topic` of availability entries) with the base topic, as Home Assistant does.
pub fn expand_base(map: &mut Map<String, Value>, base: &str) {
    for (key, value) in map.iter_mut() {
        match value {
            Value::String(topic) if key.ends_with("_topic") || key == "topic" => {
                if let Some(rest) = topic.strip_prefix('~') {
                    *topic = format!("{base}{rest}");
                } else if let Some(rest) = topic.strip_suffix('~') {
                    *topic = format!("{rest}{base}");
                }
            }
            Value::Array(list) if key == "availability" => {
                for entry in list {
                    if let Value::Object(entry) = entry {
                        expand_base(entry, base);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn short_keys_become_long_ones_at_every_level() {
        let config = normalize(object(json!({
            "~": "tele/tasmota_1A2B3C",
            "stat_t": "~/SENSOR",
            "avty_t": "~/LWT",
            "unit_of_meas": "°C",
            "dev": {"ids": ["1A2B3C"], "mf": "Tasmota", "sw": "13.1"},
            "o": {"name": "Tasmota", "sw": "13.1", "url": "https://tasmota.github.io"},
            "avty": [{"t": "~/LWT", "pl_avail": "Online"}],
            "unknown_key": 1
        })));
        assert_eq!(config["state_topic"], "tele/tasmota_1A2B3C/SENSOR");
        assert_eq!(config["availability_topic"], "tele/tasmota_1A2B3C/LWT");
        assert_eq!(config["unit_of_measurement"], "°C");
        assert_eq!(config["device"]["identifiers"], json!(["1A2B3C"]));
        assert_eq!(config["device"]["manufacturer"], "Tasmota");
        assert_eq!(config["device"]["sw_version"], "13.1");
        assert_eq!(config["origin"]["support_url"], "https://tasmota.github.io");
        assert_eq!(
            config["availability"][0]["topic"],
            "tele/tasmota_1A2B3C/LWT"
        );
        assert_eq!(config["availability"][0]["payload_available"], "Online");
        assert_eq!(config["unknown_key"], 1);
    }

    #[test]
    fn the_base_topic_also_expands_at_the_end_and_not_in_the_middle() {
        let config = normalize(object(json!({
            "~": "kitchen",
            "state_topic": "home/~",
            "command_topic": "a/~/b",
            "name": "~/not a topic"
        })));
        assert_eq!(config["state_topic"], "home/kitchen");
        assert_eq!(config["command_topic"], "a/~/b");
        assert_eq!(config["name"], "~/not a topic");
    }
}
