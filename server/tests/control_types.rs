//! The dashboard and the broker agree on the `$CONTROL` bridge JSON: the
//! settings the dashboard sends (`kite_convention::control::BridgeSettings`)
//! read as the broker's `BridgeConfig` (which refuses unknown fields), and a
//! `BridgeConfig` with every field set goes through the dashboard's type and
//! back unchanged.

use kite_convention::control::BridgeSettings;
use kite_server::config::bridge::BridgeConfig;
use serde_json::json;

#[test]
fn every_bridge_setting_survives_the_dashboards_type() {
    let everything = json!({
        "name": "cloud", "addresses": ["a:1883", "b:8883"], "protocol": "mqttv50",
        "client_id": "site1.cloud", "username": "site1", "password": "secret",
        "clean_start": true, "session_expiry": 60, "keepalive": 30, "tls": true,
        "ca_file": "/ca.pem", "cert_file": "/c.pem", "key_file": "/c.key", "insecure": true,
        "try_private": false, "max_queued_messages": 5, "restart_timeout": 9, "enabled": false,
        "topic": [{"pattern": "s/#", "direction": "both", "qos": 2,
                   "local_prefix": "l/", "remote_prefix": "r/"}]
    });
    let config: BridgeConfig = serde_json::from_value(everything.clone()).unwrap();
    let settings: BridgeSettings =
        serde_json::from_value(serde_json::to_value(&config).unwrap()).unwrap();
    let back: BridgeConfig =
        serde_json::from_value(serde_json::to_value(&settings).unwrap()).unwrap();
    assert_eq!(back, config);
    assert_eq!(serde_json::to_value(&settings).unwrap(), everything);
}

#[test]
fn what_the_dashboard_sends_with_defaults_is_what_the_broker_reads() {
    let settings: BridgeSettings = serde_json::from_value(json!({
        "name": "far", "addresses": ["127.0.0.1:1884"],
        "topic": [{"pattern": "sensors/#", "qos": 1}]
    }))
    .unwrap();
    let config: BridgeConfig =
        serde_json::from_value(serde_json::to_value(&settings).unwrap()).unwrap();
    config.validate().unwrap();
    let defaults: BridgeConfig = serde_json::from_value(json!({
        "name": "far", "addresses": ["127.0.0.1:1884"],
        "topic": [{"pattern": "sensors/#", "qos": 1}]
    }))
    .unwrap();
    assert_eq!(config, defaults, "the same defaults on both sides");
}
