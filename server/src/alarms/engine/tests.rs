//! The alarm engine, message by message, with no broker.

use super::*;

const BATTERY: &str = r#"{"device":"*","measurement":"battery","condition":"<","threshold":20,"hysteresis":5,"severity":"warning","message":"battery low"}"#;

fn topics(out: &[Publication]) -> Vec<(&str, bool)> {
    out.iter()
        .map(|p| (p.topic.as_str(), p.payload.is_empty()))
        .collect()
}

fn engine_with(id: &str, rule: &str) -> Engine {
    let mut e = Engine::default();
    e.set_rule(id, rule.as_bytes(), 0).unwrap();
    e
}

#[test]
fn a_reading_below_the_threshold_raises_and_clears_only_past_the_hysteresis() {
    let mut e = engine_with("low-battery", BATTERY);
    assert!(e.observe("devices/d1/battery", b"25", 1).is_empty());
    let raised = e.observe("devices/d1/battery", b"19", 2);
    assert_eq!(
        topics(&raised),
        [
            ("$kite/alarms/active/d1/low-battery", false),
            (EVENTS_TOPIC, false)
        ]
    );
    let history = e.tick(2);
    assert_eq!(topics(&history), [(HISTORY_TOPIC, false)]);
    assert!(
        e.tick(3).is_empty(),
        "the history is published once per change"
    );
    let active: Active = serde_json::from_slice(&raised[0].payload).unwrap();
    assert_eq!((active.value, active.raised_at), (Some(19.0), 2));
    assert!(
        e.observe("devices/d1/battery", b"22", 3).is_empty(),
        "inside the hysteresis"
    );
    assert!(
        e.observe("devices/d1/battery", b"18", 3).is_empty(),
        "already active"
    );
    let cleared = e.observe(
        "devices/d1/telemetry",
        br#"{"battery":25,"temperature":20}"#,
        4,
    );
    assert_eq!(
        cleared[0],
        Publication {
            topic: "$kite/alarms/active/d1/low-battery".into(),
            payload: vec![],
            retain: true
        }
    );
    let event: AlarmEvent = serde_json::from_slice(&cleared[1].payload).unwrap();
    assert_eq!((event.kind.as_str(), event.value), ("cleared", Some(25.0)));
}

#[test]
fn offline_for_fires_after_the_will_and_clears_when_back_online() {
    let mut e = engine_with("gone", r#"{"condition":"offline_for","threshold":30}"#);
    e.observe("devices/d2/status", b"offline", 1_000);
    assert!(e.tick(20_000).is_empty());
    let raised = e.tick(31_000);
    assert_eq!(raised[0].topic, "$kite/alarms/active/d2/gone");
    assert!(e.tick(40_000).is_empty(), "raised once");
    let cleared = e.observe("devices/d2/status", b"online", 41_000);
    assert!(cleared[0].payload.is_empty());
}

#[test]
fn acknowledgement_is_recorded_on_the_active_alarm() {
    let mut e = engine_with("low", BATTERY);
    e.observe("devices/d3/battery", b"5", 1);
    let out = e.acknowledge("d3", "low", "operator", 9);
    let active: Active = serde_json::from_slice(&out[0].payload).unwrap();
    assert_eq!(active.acknowledged_by.as_deref(), Some("operator"));
    assert_eq!(active.acknowledged_at, Some(9));
    assert!(e.acknowledge("d3", "nope", "x", 9).is_empty());
}

#[test]
fn deleting_a_rule_clears_its_alarms() {
    let mut e = engine_with("low", BATTERY);
    e.observe("devices/d4/battery", b"5", 1);
    let out = e.set_rule("low", b"", 2).unwrap();
    assert_eq!(out[0].topic, "$kite/alarms/active/d4/low");
    assert!(out[0].payload.is_empty());
    assert_eq!(e.rules(), 0);
}

#[test]
fn home_assistant_state_topics_are_evaluated() {
    let mut e = engine_with(
        "hot",
        r#"{"measurement":"temperature","condition":">","threshold":30}"#,
    );
    let config = br#"{"name":"Temp","state_topic":"tele/plug/SENSOR","value_template":"{{ value_json.temperature }}","device_class":"temperature","unit_of_measurement":"\u00b0C","device":{"identifiers":["plug1"]}}"#;
    assert!(e
        .observe("homeassistant/sensor/plug1/temp/config", config, 1)
        .is_empty());
    assert!(e.wants("tele/plug/SENSOR"));
    let raised = e.observe("tele/plug/SENSOR", br#"{"temperature":31.5}"#, 2);
    assert_eq!(raised[0].topic, "$kite/alarms/active/plug1/hot");
}

#[test]
fn active_alarms_come_back_from_their_retained_messages() {
    let mut e = engine_with("low", BATTERY);
    let raised = e.observe("devices/d5/battery", b"5", 1);
    let history = e.tick(1);
    let mut restarted = engine_with("low", BATTERY);
    restarted.restore(&raised[0].topic, &raised[0].payload);
    restarted.restore(HISTORY_TOPIC, &history[0].payload);
    assert_eq!(restarted.active().count(), 1);
    // Cleared by the next reading, even though it cleared while "down".
    let cleared = restarted.observe("devices/d5/battery", b"90", 2);
    assert!(cleared[0].payload.is_empty());
    let history = restarted.tick(2);
    let history: Vec<AlarmEvent> = serde_json::from_slice(&history[0].payload).unwrap();
    assert_eq!(history.len(), 2);
}

#[test]
fn a_bad_rule_id_is_refused() {
    let mut e = Engine::default();
    assert!(e.set_rule("a+b", BATTERY.as_bytes(), 0).is_err());
}
