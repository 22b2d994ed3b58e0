//! `devices/<id>/telemetry`: one JSON object of measurements, e.g.
//! `{"temperature":21.4,"battery":87,"signal":-61}`, and
//! `devices/<id>/<measurement>`: one measurement as a bare number, e.g. `87`.
//!
//! Order of keys is kept: the first measurement a device sends is the one it
//! considers primary, and a dashboard shows them in that order.

use std::fmt::{self, Write};

use serde::{
    de::{MapAccess, Visitor},
    Deserialize, Deserializer, Serialize, Serializer,
};

/// Why a telemetry or measurement payload was not understood.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum TelemetryError {
    #[error("telemetry is not a JSON object of numbers: {0}")]
    Json(String),
    #[error("not a number: {0:?}")]
    NotANumber(String),
}

/// A named measurement the convention knows a unit and a Home Assistant
/// `device_class` for. Devices may send any other name; it just has no
/// default unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownMeasurement {
    pub name: &'static str,
    pub unit: &'static str,
    /// The Home Assistant sensor `device_class` for the same quantity.
    pub device_class: &'static str,
}

/// The measurements with a default unit.
pub const KNOWN: &[KnownMeasurement] = &[
    KnownMeasurement {
        name: "temperature",
        unit: "°C",
        device_class: "temperature",
    },
    KnownMeasurement {
        name: "humidity",
        unit: "%",
        device_class: "humidity",
    },
    KnownMeasurement {
        name: "battery",
        unit: "%",
        device_class: "battery",
    },
    KnownMeasurement {
        name: "signal",
        unit: "dBm",
        device_class: "signal_strength",
    },
    KnownMeasurement {
        name: "pressure",
        unit: "hPa",
        device_class: "pressure",
    },
    KnownMeasurement {
        name: "illuminance",
        unit: "lx",
        device_class: "illuminance",
    },
    KnownMeasurement {
        name: "co2",
        unit: "ppm",
        device_class: "carbon_dioxide",
    },
    KnownMeasurement {
        name: "voltage",
        unit: "V",
        device_class: "voltage",
    },
    KnownMeasurement {
        name: "power",
        unit: "W",
        device_class: "power",
    },
];

/// The known measurement of that name, if any.
pub fn known(name: &str) -> Option<&'static KnownMeasurement> {
    KNOWN.iter().find(|k| k.name == name)
}

/// A number as the convention writes it: the shortest form that reads back
/// to the same value (`87`, `21.4`, `-61`). Not-a-number and infinities have
/// no JSON form and come out as `null`.
pub fn format_number(value: f64) -> String {
    if value.is_finite() {
        // Rust's Display is the shortest round-trip form and never uses an
        // exponent, so it is valid JSON and valid for a bare-number topic.
        value.to_string()
    } else {
        "null".to_owned()
    }
}

/// Parse a bare-number payload (`devices/<id>/<measurement>`); surrounding
/// whitespace is ignored, non-finite values are refused.
pub fn parse_number(payload: &[u8]) -> Result<f64, TelemetryError> {
    let text = String::from_utf8_lossy(payload);
    let trimmed = text.trim();
    match trimmed.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err(TelemetryError::NotANumber(
            trimmed.chars().take(64).collect(),
        )),
    }
}

/// One telemetry message: measurements in the order they were sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Telemetry {
    values: Vec<(String, f64)>,
    ignored: Vec<String>,
}

impl Telemetry {
    pub fn new() -> Telemetry {
        Telemetry::default()
    }

    /// Builder form of [`Telemetry::set`].
    pub fn with(mut self, name: impl Into<String>, value: f64) -> Telemetry {
        self.set(name, value);
        self
    }

    /// Set a measurement, replacing an earlier value of the same name in place.
    pub fn set(&mut self, name: impl Into<String>, value: f64) {
        let name = name.into();
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.values.push((name, value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.values.iter().map(|(n, v)| (n.as_str(), *v))
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Keys of a parsed message whose values were not numbers (a string
    /// such as `"open"`, a nested object): kept out of the measurements but
    /// named, so a dashboard can say what it skipped.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// The payload.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(16 + 24 * self.values.len());
        out.push('{');
        for (i, (name, value)) in self.values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Names are written through serde_json so quotes and control
            // characters in a hand-made name still give valid JSON.
            let _ = write!(
                out,
                "{}:{}",
                serde_json::Value::from(name.as_str()),
                format_number(*value)
            );
        }
        out.push('}');
        out
    }

    /// Parse a payload. Numbers, and strings that hold a number, become
    /// measurements; other values are listed in [`Telemetry::ignored`].
    pub fn parse(payload: &[u8]) -> Result<Telemetry, TelemetryError> {
        serde_json::from_slice(payload).map_err(|e| TelemetryError::Json(e.to_string()))
    }
}

impl Serialize for Telemetry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.values.len()))?;
        for (name, value) in &self.values {
            // Whole numbers as integers, so serde's output matches
            // `to_json` (`87`, not `87.0`).
            if value.fract() == 0.0 && value.abs() < 9e15 {
                map.serialize_entry(name, &(*value as i64))?;
            } else {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Telemetry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Telemetry, D::Error> {
        struct TelemetryVisitor;

        impl<'de> Visitor<'de> for TelemetryVisitor {
            type Value = Telemetry;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object of measurements")
            }

            // A visitor rather than a map type, so key order survives
            // without serde_json's `preserve_order` feature.
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Telemetry, A::Error> {
                let mut telemetry = Telemetry::new();
                while let Some((name, value)) = map.next_entry::<String, serde_json::Value>()? {
                    let number = match &value {
                        serde_json::Value::Number(n) => n.as_f64(),
                        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
                        _ => None,
                    };
                    match number {
                        Some(v) if v.is_finite() => telemetry.set(name, v),
                        _ => telemetry.ignored.push(name),
                    }
                }
                Ok(telemetry)
            }
        }

        deserializer.deserialize_map(TelemetryVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_round_trips() {
        let payload = r#"{"temperature":21.4,"battery":87,"signal":-61}"#;
        let telemetry = Telemetry::parse(payload.as_bytes()).unwrap();
        assert_eq!(
            telemetry,
            Telemetry::new()
                .with("temperature", 21.4)
                .with("battery", 87.0)
                .with("signal", -61.0)
        );
        assert_eq!(telemetry.to_json(), payload);
        assert_eq!(serde_json::to_string(&telemetry).unwrap(), payload);
    }

    #[test]
    fn key_order_is_kept() {
        let t = Telemetry::parse(br#"{"z":1,"a":2,"m":3}"#).unwrap();
        let names: Vec<&str> = t.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["z", "a", "m"]);
    }

    #[test]
    fn non_numbers_are_ignored_but_named() {
        let t =
            Telemetry::parse(br#"{"temperature":"21.5","door":"open","ok":true,"nested":{"a":1}}"#)
                .unwrap();
        assert_eq!(t.get("temperature"), Some(21.5));
        assert_eq!(t.len(), 1);
        assert_eq!(t.ignored(), ["door", "ok", "nested"]);
    }

    #[test]
    fn not_an_object_is_an_error() {
        for payload in [&b"21.5"[..], b"[1,2]", b"{", b"", b"\xff"] {
            assert!(Telemetry::parse(payload).is_err(), "{payload:?}");
        }
    }

    #[test]
    fn odd_names_still_give_valid_json() {
        let t = Telemetry::new().with("a\"b", 1.0).with("π", 0.5);
        let back = Telemetry::parse(t.to_json().as_bytes()).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn numbers_round_trip_through_their_shortest_form() {
        for (value, text) in [
            (87.0, "87"),
            (21.4, "21.4"),
            (-61.0, "-61"),
            (0.1, "0.1"),
            (1e-7, "0.0000001"),
        ] {
            assert_eq!(format_number(value), text);
            assert_eq!(parse_number(text.as_bytes()), Ok(value));
        }
        assert_eq!(format_number(f64::NAN), "null");
    }

    #[test]
    fn bare_numbers_tolerate_whitespace_and_refuse_the_rest() {
        assert_eq!(parse_number(b" 21.5\n"), Ok(21.5));
        for bad in [&b"abc"[..], b"", b"NaN", b"inf", b"1e999", b"21,5"] {
            assert!(parse_number(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn known_measurements_have_units_and_classes() {
        assert_eq!(known("signal").unwrap().unit, "dBm");
        assert_eq!(known("signal").unwrap().device_class, "signal_strength");
        assert_eq!(known("temperature").unwrap().unit, "°C");
        assert!(known("flux").is_none());
    }
}
