//! `devices/<id>/meta`: retained JSON that says what a device is:
//! `{"name":"Kitchen climate","kind":"climate","location":"kitchen","units":{"temperature":"°C"}}`.
//!
//! Retained, so a dashboard that connects later still learns names and
//! units. Every field is optional when parsing: a hand-typed
//! `{"name":"Boiler"}` is a valid meta message.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::telemetry;

/// What a device is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// For people: "Kitchen climate".
    #[serde(default)]
    pub name: String,
    /// What sort of device: `climate`, `door`, `motion`, `button`, … free text.
    #[serde(default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Unit of each measurement, e.g. `"signal": "dBm"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub units: BTreeMap<String, String>,
}

/// A meta payload that is not a JSON object of the expected fields.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("not device meta: {0}")]
pub struct MetaError(pub String);

impl Meta {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("meta always serializes")
    }

    pub fn parse(payload: &[u8]) -> Result<Meta, MetaError> {
        serde_json::from_slice(payload).map_err(|e| MetaError(e.to_string()))
    }

    /// The unit of a measurement: the device's own word first, else the
    /// convention's default for well-known names.
    pub fn unit(&self, measurement: &str) -> Option<&str> {
        self.units
            .get(measurement)
            .map(String::as_str)
            .or_else(|| telemetry::known(measurement).map(|k| k.unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kitchen() -> Meta {
        Meta {
            name: "Kitchen climate".into(),
            kind: "climate".into(),
            location: Some("kitchen".into()),
            units: [("temperature", "°C"), ("battery", "%"), ("signal", "dBm")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    #[test]
    fn round_trip() {
        let meta = kitchen();
        assert_eq!(Meta::parse(meta.to_json().as_bytes()), Ok(meta));
        let bare = Meta::default();
        assert_eq!(bare.to_json(), r#"{"name":"","kind":""}"#);
        assert_eq!(Meta::parse(bare.to_json().as_bytes()), Ok(bare));
    }

    #[test]
    fn partial_meta_parses() {
        let meta = Meta::parse(br#"{"name":"Boiler","firmware":"1.2"}"#).unwrap();
        assert_eq!(meta.name, "Boiler");
        assert_eq!(meta.kind, "");
        assert_eq!(meta.location, None);
    }

    #[test]
    fn units_fall_back_to_the_convention() {
        let mut meta = kitchen();
        meta.units.insert("temperature".into(), "°F".into());
        assert_eq!(meta.unit("temperature"), Some("°F"));
        assert_eq!(meta.unit("humidity"), Some("%"));
        assert_eq!(meta.unit("flux"), None);
    }

    #[test]
    fn wrong_types_are_errors() {
        assert!(Meta::parse(br#"{"name":3}"#).is_err());
        assert!(Meta::parse(b"kitchen").is_err());
    }
}
