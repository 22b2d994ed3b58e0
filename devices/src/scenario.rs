//! `--scenario FILE`: a fleet defined by hand in TOML. Every field but `id`
//! is optional; what is left out is drawn from the seed as for `--count`.
//!
//! ```toml
//! interval = 2.0          # seconds, for every device unless it says otherwise
//! seed = 7
//!
//! [[device]]
//! id = "kitchen"
//! kind = "climate"        # climate | door | motion | button
//! location = "kitchen"
//!
//! [[device]]
//! id = "front-door"
//! kind = "door"
//! convention = "homeassistant"   # or "kite" (the default)
//! battery = 16            # start nearly flat: a low-battery alarm soon
//!
//! [[device]]
//! id = "hall-button"      # count = 3 makes hall-button-1 … hall-button-3
//! kind = "button"
//! count = 3
//! ```

use std::{collections::HashSet, path::Path, time::Duration};

use serde::Deserialize;

use crate::{
    fleet::device_seed,
    spec::{default_name, Convention, DeviceKind, DeviceSpec},
};

/// Why a scenario cannot be used.
#[derive(thiserror::Error, Debug)]
pub enum ScenarioError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Values a scenario falls back on (from the command line).
#[derive(Debug, Clone)]
pub struct Defaults {
    pub seed: u64,
    pub interval: Duration,
    pub disconnect_rate: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    interval: Option<f64>,
    seed: Option<u64>,
    disconnect_rate: Option<f64>,
    #[serde(default, rename = "device")]
    devices: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    kind: Option<DeviceKind>,
    convention: Option<Convention>,
    name: Option<String>,
    location: Option<String>,
    interval: Option<f64>,
    seed: Option<u64>,
    battery: Option<f64>,
    temperature: Option<f64>,
    signal: Option<f64>,
    disconnect_rate: Option<f64>,
    count: Option<u32>,
}

/// Read a scenario file.
pub fn load(path: &Path, defaults: &Defaults) -> Result<Vec<DeviceSpec>, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, defaults)
}

/// Parse a scenario.
pub fn parse(text: &str, defaults: &Defaults) -> Result<Vec<DeviceSpec>, ScenarioError> {
    let file: File = toml::from_str(text)?;
    let invalid = |m: String| Err(ScenarioError::Invalid(m));
    let seed = file.seed.unwrap_or(defaults.seed);
    let interval = match file.interval {
        Some(s) => seconds(s, "interval")?,
        None => defaults.interval,
    };
    let rate = file.disconnect_rate.unwrap_or(defaults.disconnect_rate);
    let mut specs = Vec::new();
    for entry in file.devices {
        let count = entry.count.unwrap_or(1);
        if count == 0 {
            return invalid(format!("device {:?}: count must be at least 1", entry.id));
        }
        for i in 1..=count {
            let id = if entry.count.is_some() {
                format!("{}-{i}", entry.id)
            } else {
                entry.id.clone()
            };
            let n = specs.len() as u64 + 1;
            let device_seed = entry
                .seed
                .map_or(device_seed(seed, n), |s| s.wrapping_add(u64::from(i - 1)));
            let interval = match entry.interval {
                Some(s) => seconds(s, "interval")?,
                None => interval,
            };
            let convention = entry.convention.unwrap_or_default();
            let mut spec = DeviceSpec::generated(n as u32, id, device_seed, interval, convention);
            // A generated name only fits the generated kind and place.
            let generated_name = entry.kind.is_none() && entry.location.is_none();
            if let Some(kind) = entry.kind {
                spec.kind = kind;
            }
            if let Some(location) = &entry.location {
                spec.location = location.clone();
            }
            spec.name = match &entry.name {
                Some(name) if count > 1 => format!("{name} {i}"),
                Some(name) => name.clone(),
                None if generated_name => spec.name,
                None => default_name(&spec.location, spec.kind),
            };
            spec.battery = entry.battery;
            spec.temperature = entry.temperature;
            spec.signal = entry.signal;
            spec.disconnect_rate = entry.disconnect_rate.unwrap_or(rate);
            specs.push(spec);
        }
    }
    validate(&specs)?;
    Ok(specs)
}

fn seconds(value: f64, what: &str) -> Result<Duration, ScenarioError> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(ScenarioError::Invalid(format!(
            "{what} must be a positive number of seconds"
        )))
    }
}

fn validate(specs: &[DeviceSpec]) -> Result<(), ScenarioError> {
    let mut seen = HashSet::new();
    for spec in specs {
        let fail = |m: &str| Err(ScenarioError::Invalid(format!("device {:?}: {m}", spec.id)));
        if !kite_convention::topics::is_valid_level(&spec.id) {
            return fail("an id must be non-empty and free of '/', '+' and '#'");
        }
        if !seen.insert(spec.id.as_str()) {
            return fail("the id is used twice");
        }
        if spec.battery.is_some_and(|b| !(0.0..=100.0).contains(&b)) {
            return fail("battery is a percentage, 0 to 100");
        }
        if !(spec.disconnect_rate.is_finite() && spec.disconnect_rate >= 0.0) {
            return fail("disconnect_rate must be zero or more per hour");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            seed: 1,
            interval: Duration::from_secs(1),
            disconnect_rate: 2.0,
        }
    }

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("scenario.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! "))
            .skip_while(|l| !l.starts_with("```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("```"))
            .collect::<Vec<_>>()
            .join("\n");
        let specs = parse(&doc, &defaults()).unwrap();
        let ids: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "kitchen",
                "front-door",
                "hall-button-1",
                "hall-button-2",
                "hall-button-3"
            ]
        );
        assert_eq!(specs[0].kind, DeviceKind::Climate);
        assert_eq!(specs[0].name, "Kitchen climate sensor");
        assert_eq!(specs[1].convention, Convention::HomeAssistant);
        assert_eq!(specs[1].battery, Some(16.0));
        assert_eq!(specs[2].kind, DeviceKind::Button);
        assert!(specs.iter().all(|s| s.interval == Duration::from_secs(2)));
        assert_eq!(specs, parse(&doc, &defaults()).unwrap(), "reproducible");
    }

    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../scenarios/home.toml");
        let specs = parse(text, &defaults()).unwrap();
        assert!(specs.len() >= 8);
        assert!(specs
            .iter()
            .any(|s| s.convention == Convention::HomeAssistant));
    }

    #[test]
    fn mistakes_are_reported() {
        for (text, needle) in [
            (
                "[[device]]\nid = \"a\"\nkind = \"toaster\"",
                "unknown variant",
            ),
            ("[[device]]\nid = \"a\"\ncolour = \"red\"", "unknown field"),
            (
                "[[device]]\nid = \"a\"\n[[device]]\nid = \"a\"",
                "used twice",
            ),
            ("[[device]]\nid = \"a/b\"", "free of"),
            ("[[device]]\nid = \"a\"\nbattery = 140", "percentage"),
            ("[[device]]\nid = \"a\"\ninterval = 0", "positive"),
            ("[[device]]\nid = \"a\"\ncount = 0", "at least 1"),
            ("interval = \"fast\"", "invalid type"),
        ] {
            let err = parse(text, &defaults()).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
