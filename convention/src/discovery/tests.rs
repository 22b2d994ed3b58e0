//! Discovery configs in the shapes real firmware publishes (files under
//! `convention/fixtures/homeassistant/`) parse into the right measurements.

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/homeassistant/",
            $name
        ))
    };
}

fn entities(topic: &str, payload: &[u8]) -> Vec<Entity> {
    let topic = DiscoveryTopic::parse(topic).expect("a discovery topic");
    match parse_config(&topic, payload).expect("a valid config") {
        Discovery::Entities(entities) => entities,
        Discovery::Removed => panic!("not a removal"),
    }
}

fn one(topic: &str, payload: &[u8]) -> Entity {
    let mut all = entities(topic, payload);
    assert_eq!(all.len(), 1);
    all.remove(0)
}

#[test]
fn discovery_topics_with_and_without_node_id() {
    assert_eq!(
        DiscoveryTopic::parse("homeassistant/sensor/sensorBedroomT/config"),
        Some(DiscoveryTopic {
            component: "sensor".into(),
            node_id: None,
            object_id: "sensorBedroomT".into()
        })
    );
    let with_node =
        DiscoveryTopic::parse("homeassistant/sensor/0x00158d0001a2b3c4/temperature/config")
            .unwrap();
    assert_eq!(with_node.node_id.as_deref(), Some("0x00158d0001a2b3c4"));
    assert_eq!(with_node.object_id, "temperature");
    assert_eq!(
        with_node.topic(),
        "homeassistant/sensor/0x00158d0001a2b3c4/temperature/config"
    );
    for not in [
        "homeassistant/status",
        "homeassistant/sensor/x/state",
        "homeassistant/sensor/config",
        "homeassistant/sensor/a/b/c/config",
        "homeassistant//x/config",
        "other/sensor/x/config",
        "homeassistantx/sensor/x/config",
    ] {
        assert_eq!(DiscoveryTopic::parse(not), None, "{not}");
    }
    assert!(DiscoveryTopic::parse_with_prefix("ha/sensor/x/config", "ha").is_some());
}

#[test]
fn home_assistant_docs_sensor_with_device() {
    let t = one(
        "homeassistant/sensor/sensorBedroomT/config",
        fixture!("ha_docs_bedroom_temperature.json"),
    );
    assert_eq!(t.component, "sensor");
    assert_eq!(t.measurement(), "temperature");
    assert_eq!(t.unit_of_measurement.as_deref(), Some("°C"));
    assert_eq!(t.device_class.as_deref(), Some("temperature"));
    assert_eq!(t.device_key(), "bedroom01ae");
    assert_eq!(t.display_name(), "Bedroom");
    assert_eq!(
        t.state_topic.as_deref(),
        Some("homeassistant/sensor/sensorBedroom/state")
    );
    let state = br#"{"temperature":23.20,"humidity":43.70}"#;
    assert_eq!(t.state(state), Ok(EntityState::Number(23.2)));

    let h = one(
        "homeassistant/sensor/sensorBedroomH/config",
        fixture!("ha_docs_bedroom_humidity.json"),
    );
    assert_eq!(h.measurement(), "humidity");
    assert_eq!(h.device_key(), t.device_key(), "one device, two entities");
    assert_eq!(h.state(state), Ok(EntityState::Number(43.7)));
}

#[test]
fn home_assistant_docs_binary_sensor_without_template() {
    let m = one(
        "homeassistant/binary_sensor/garden/config",
        fixture!("ha_docs_garden_motion.json"),
    );
    assert_eq!(m.name, None);
    assert_eq!(m.display_name(), "Garden");
    assert_eq!(m.measurement(), "motion");
    assert_eq!(m.state(b"ON"), Ok(EntityState::Binary(true)));
    assert_eq!(m.state(b"OFF"), Ok(EntityState::Binary(false)));
    assert_eq!(m.state(b"maybe"), Ok(EntityState::Text("maybe".into())));
}

#[test]
fn home_assistant_docs_device_based_discovery() {
    let all = entities(
        "homeassistant/device/0AFFD2/config",
        fixture!("ha_docs_device_based.json"),
    );
    assert_eq!(all.len(), 2);
    let by_measurement = |m: &str| all.iter().find(|e| e.measurement() == m).unwrap();
    let t = by_measurement("temperature");
    let h = by_measurement("humidity");
    for e in [t, h] {
        assert_eq!(e.component, "sensor");
        assert_eq!(
            e.state_topic.as_deref(),
            Some("sensorBedroom/state"),
            "shared option"
        );
        assert_eq!(
            e.device_key(),
            "ea334450945afc",
            "identifiers may be one string"
        );
        assert_eq!(
            e.device.as_ref().unwrap().manufacturer.as_deref(),
            Some("Bla electronics")
        );
    }
    assert_eq!(t.unit_of_measurement.as_deref(), Some("°C"));
    assert_eq!(h.unit_of_measurement.as_deref(), Some("%"));
    assert_eq!(t.object_id, "some_unique_component_id1");
}

#[test]
fn zigbee2mqtt_sensor_battery_and_linkquality() {
    let node = "homeassistant/sensor/0x00158d0001a2b3c4";
    let t = one(
        &format!("{node}/temperature/config"),
        fixture!("zigbee2mqtt_temperature.json"),
    );
    let b = one(
        &format!("{node}/battery/config"),
        fixture!("zigbee2mqtt_battery.json"),
    );
    let l = one(
        &format!("{node}/linkquality/config"),
        fixture!("zigbee2mqtt_linkquality.json"),
    );
    let state = br#"{"battery":91,"humidity":47.1,"linkquality":120,"pressure":1002,"temperature":22.54,"voltage":2995}"#;
    assert_eq!(
        (t.measurement(), t.state(state)),
        ("temperature", Ok(EntityState::Number(22.54)))
    );
    assert_eq!(
        (b.measurement(), b.state(state)),
        ("battery", Ok(EntityState::Number(91.0)))
    );
    assert_eq!(
        (l.measurement(), l.state(state)),
        ("linkquality", Ok(EntityState::Number(120.0)))
    );
    assert_eq!(b.device_class.as_deref(), Some("battery"));
    assert_eq!(l.device_class, None);
    assert_eq!(l.unit_of_measurement.as_deref(), Some("lqi"));
    assert_eq!(l.entity_category.as_deref(), Some("diagnostic"));
    assert_eq!(
        t.object_id, "living_room_climate_temperature",
        "object_id in the config wins"
    );
    for e in [&t, &b, &l] {
        assert_eq!(e.device_key(), "zigbee2mqtt_0x00158d0001a2b3c4");
        assert_eq!(
            e.state_topic.as_deref(),
            Some("zigbee2mqtt/living_room_climate")
        );
    }
    // Availability comes from the bridge's JSON state through its own template.
    assert_eq!(
        t.availability("zigbee2mqtt/bridge/state", br#"{"state":"online"}"#),
        Some(true)
    );
    assert_eq!(
        t.availability("zigbee2mqtt/bridge/state", br#"{"state":"offline"}"#),
        Some(false)
    );
    assert_eq!(t.availability("elsewhere", b"online"), None);
}

#[test]
fn zigbee2mqtt_boolean_payload_on() {
    let o = one(
        "homeassistant/binary_sensor/0x00158d0002c3d4e5/occupancy/config",
        fixture!("zigbee2mqtt_occupancy.json"),
    );
    assert_eq!(o.measurement(), "occupancy");
    assert_eq!(
        o.state(br#"{"occupancy":true,"battery":100}"#),
        Ok(EntityState::Binary(true))
    );
    assert_eq!(
        o.state(br#"{"occupancy":false}"#),
        Ok(EntityState::Binary(false))
    );
}

#[test]
fn tasmota_abbreviated_config_with_base_topic() {
    let t = one(
        "homeassistant/sensor/1A2B3C_AM2301_Temperature/config",
        fixture!("tasmota_am2301_temperature.json"),
    );
    assert_eq!(t.state_topic.as_deref(), Some("tele/tasmota_1A2B3C/SENSOR"));
    assert_eq!(t.unit_of_measurement.as_deref(), Some("°C"));
    assert_eq!(t.device_class.as_deref(), Some("temperature"));
    assert_eq!(t.measurement(), "Temperature");
    assert_eq!(t.device_key(), "1A2B3C");
    let sensor = br#"{"Time":"2024-01-01T12:00:00","AM2301":{"Temperature":21.7,"Humidity":48.3},"TempUnit":"C"}"#;
    assert_eq!(t.state(sensor), Ok(EntityState::Number(21.7)));
    assert_eq!(
        t.availability("tele/tasmota_1A2B3C/LWT", b"Online"),
        Some(true)
    );
    assert_eq!(
        t.availability("tele/tasmota_1A2B3C/LWT", b"Offline"),
        Some(false)
    );
}

#[test]
fn esphome_signal_strength_without_template() {
    let s = one(
        "homeassistant/sensor/livingroom/wifi_signal/config",
        fixture!("esphome_wifi_signal.json"),
    );
    assert_eq!(s.device_class.as_deref(), Some("signal_strength"));
    assert_eq!(s.measurement(), "signal_strength");
    assert_eq!(s.unit_of_measurement.as_deref(), Some("dBm"));
    assert_eq!(s.state(b"-61"), Ok(EntityState::Number(-61.0)));
    assert_eq!(s.availability("livingroom/status", b"online"), Some(true));
    assert_eq!(s.device_key(), "a4cf12b3c4d5");
}

#[test]
fn unsupported_templates_are_shown_as_such() {
    let b = one(
        "homeassistant/sensor/boiler/state/config",
        fixture!("unsupported_template.json"),
    );
    let template = "{% if value_json.flame %}burning{% else %}idle{% endif %}";
    assert_eq!(
        b.value_template,
        Some(ValueTemplate::Unsupported(template.into()))
    );
    assert_eq!(
        b.state(br#"{"flame":true}"#),
        Err(RenderError::Unsupported(template.into()))
    );
    assert_eq!(b.measurement(), "state", "falls back to the object id");
}

#[test]
fn removal_and_garbage() {
    let topic = DiscoveryTopic::parse("homeassistant/sensor/x/config").unwrap();
    assert_eq!(parse_config(&topic, b""), Ok(Discovery::Removed));
    for bad in [
        &b"not json"[..],
        b"[1,2]",
        b"\"x\"",
        b"{\"state_topic\": 5}",
        b"{\"device\": 1}",
    ] {
        assert!(
            parse_config(&topic, bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let device = DiscoveryTopic::parse("homeassistant/device/x/config").unwrap();
    assert!(
        parse_config(&device, b"{\"cmps\": {\"a\": {}}}").is_err(),
        "no platform"
    );
    assert!(parse_config(&device, b"{}").is_err(), "no components");
}

#[test]
fn arbitrary_bytes_never_panic() {
    let topic = DiscoveryTopic::parse("homeassistant/sensor/x/config").unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for len in 0..400 {
        let bytes: Vec<u8> = (0..len % 60)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                b"{}[]\":,~ab_tstat0123.{{}}|%"[(seed % 27) as usize]
            })
            .collect();
        if let Ok(Discovery::Entities(entities)) = parse_config(&topic, &bytes) {
            for e in entities {
                let _ = e.state(&bytes);
            }
        }
        let _ = ValueTemplate::parse(&String::from_utf8_lossy(&bytes)).render(&bytes);
    }
}
