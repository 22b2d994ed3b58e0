//! What a device says, apart from how it decides to say it: the [`Message`]
//! to publish, and the [`Reading`] and [`Activity`] of one step, which the
//! Kite convention (`model`) and Home Assistant discovery (`homeassistant`)
//! each turn into messages of their own shape.

use kite_convention::telemetry::Telemetry;
use mqtt::QoS;

/// One message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: String,
    pub qos: QoS,
    pub retain: bool,
}

impl Message {
    /// Readings: QoS 0, the next one follows soon.
    pub fn reading(topic: String, payload: String) -> Message {
        Message {
            topic,
            payload,
            qos: QoS::AtMostOnce,
            retain: false,
        }
    }

    /// Events: QoS 1, each happens once.
    pub fn event(topic: String, payload: String) -> Message {
        Message {
            topic,
            payload,
            qos: QoS::AtLeastOnce,
            retain: false,
        }
    }

    /// State a late subscriber needs (status, meta, discovery): QoS 1, retained.
    pub fn retained(topic: String, payload: String) -> Message {
        Message {
            topic,
            payload,
            qos: QoS::AtLeastOnce,
            retain: true,
        }
    }
}

/// The readings of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub temperature: f64,
    pub humidity: Option<f64>,
    pub battery: f64,
    pub signal: f64,
}

impl Reading {
    pub fn telemetry(&self) -> Telemetry {
        let mut t = Telemetry::new().with("temperature", self.temperature);
        if let Some(h) = self.humidity {
            t.set("humidity", h);
        }
        t.with("battery", self.battery).with("signal", self.signal)
    }
}

/// What the kind-specific part of a step saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Activity {
    pub door_open: bool,
    pub motion: bool,
    /// "single", "double" or "long".
    pub press: Option<&'static str>,
}
