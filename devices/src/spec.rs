//! What a simulated device is: its kind, which convention it speaks, where
//! it sits, and the knobs a scenario file may set. Building a fleet of
//! these from `--count`/`--seed` or from a scenario is [`crate::fleet`]'s job.

use std::{fmt, str::FromStr, time::Duration};

use serde::Deserialize;

/// The sort of device, which decides its measurements and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// Temperature and humidity.
    Climate,
    /// A contact sensor: opened / closed events.
    Door,
    /// A PIR sensor: motion events.
    Motion,
    /// A wireless button: single, double and long presses.
    Button,
}

impl DeviceKind {
    pub const ALL: [DeviceKind; 4] = [
        DeviceKind::Climate,
        DeviceKind::Door,
        DeviceKind::Motion,
        DeviceKind::Button,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Climate => "climate",
            DeviceKind::Door => "door",
            DeviceKind::Motion => "motion",
            DeviceKind::Button => "button",
        }
    }

    /// For names: "Kitchen climate sensor".
    pub fn label(self) -> &'static str {
        match self {
            DeviceKind::Climate => "climate sensor",
            DeviceKind::Door => "door sensor",
            DeviceKind::Motion => "motion sensor",
            DeviceKind::Button => "button",
        }
    }

    /// The measurements it reports, in telemetry order. Every kind keeps
    /// temperature, battery and signal: that set is the simulator's
    /// long-standing contract, and real contact, motion and button sensors
    /// report their internal temperature too.
    pub fn measurements(self) -> &'static [&'static str] {
        match self {
            DeviceKind::Climate => &["temperature", "humidity", "battery", "signal"],
            _ => &["temperature", "battery", "signal"],
        }
    }
}

impl FromStr for DeviceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<DeviceKind, String> {
        DeviceKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("unknown device kind {s:?}: use climate, door, motion or button")
            })
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which topics a device announces itself and publishes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Convention {
    /// `devices/<id>/...` (docs/devices.md).
    #[default]
    Kite,
    /// Home Assistant MQTT discovery: retained configs under
    /// `homeassistant/`, state JSON on `kite-ha/<id>/state`.
    #[serde(alias = "ha", alias = "home-assistant")]
    HomeAssistant,
}

/// Where a device is, and what people call it.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    pub location: &'static str,
    pub name: &'static str,
}

/// Where generated devices of each kind go, in order; a fleet larger than a
/// list wraps around with numbered names ("Front door 2").
pub fn places(kind: DeviceKind) -> &'static [Place] {
    match kind {
        DeviceKind::Climate => CLIMATE,
        DeviceKind::Door => DOOR,
        DeviceKind::Motion => MOTION,
        DeviceKind::Button => BUTTON,
    }
}

const fn p(location: &'static str, name: &'static str) -> Place {
    Place { location, name }
}

const CLIMATE: &[Place] = &[
    p("living room", "Living room climate"),
    p("kitchen", "Kitchen climate"),
    p("bedroom", "Bedroom climate"),
    p("garden", "Garden climate"),
    p("bathroom", "Bathroom climate"),
    p("office", "Office climate"),
    p("nursery", "Nursery climate"),
    p("attic", "Attic climate"),
    p("cellar", "Cellar climate"),
    p("porch", "Porch climate"),
];

const DOOR: &[Place] = &[
    p("hallway", "Front door"),
    p("kitchen", "Back door"),
    p("garage", "Garage door"),
    p("living room", "Patio door"),
    p("cellar", "Cellar door"),
];

const MOTION: &[Place] = &[
    p("hallway", "Hallway motion"),
    p("garage", "Garage motion"),
    p("garden", "Garden motion"),
    p("office", "Office motion"),
    p("stairs", "Stairs motion"),
];

const BUTTON: &[Place] = &[
    p("bedroom", "Bedside button"),
    p("porch", "Doorbell"),
    p("kitchen", "Kitchen button"),
    p("office", "Desk button"),
];

/// Places whose temperature swings with the weather.
const OUTDOOR: &[&str] = &["garden", "porch", "garage"];

/// True for places whose temperature swings with the weather.
pub fn is_outdoor(location: &str) -> bool {
    OUTDOOR.contains(&location)
}

/// The kind of generated device `n` (1-based): a fixed cycle rather than a
/// draw, so that any dozen devices holds every kind and the Home Assistant
/// ones (every fourth with `--ha-share 0.25`) are of different kinds too.
pub fn generated_kind(n: u32) -> DeviceKind {
    const CYCLE: [DeviceKind; 5] = [
        DeviceKind::Climate,
        DeviceKind::Door,
        DeviceKind::Motion,
        DeviceKind::Button,
        DeviceKind::Climate,
    ];
    CYCLE[(n.max(1) as usize - 1) % CYCLE.len()]
}

/// One simulated device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    /// Client id and topic level: `<prefix>-<n>` unless a scenario names it.
    pub id: String,
    pub kind: DeviceKind,
    pub convention: Convention,
    /// For people: "Kitchen climate sensor".
    pub name: String,
    pub location: String,
    /// Seeds every random draw of this device.
    pub seed: u64,
    /// Time between two readings.
    pub interval: Duration,
    /// Battery percent at start; `None` picks one from the seed.
    pub battery: Option<f64>,
    /// Mean temperature in °C; `None` picks one from the seed and location.
    pub temperature: Option<f64>,
    /// Mean signal strength in dBm; `None` picks one from the seed.
    pub signal: Option<f64>,
    /// Abrupt disconnects per hour of running (the broker then publishes
    /// the device's `offline` will). 0 turns them off.
    pub disconnect_rate: f64,
}

impl DeviceSpec {
    /// Device `n` (1-based) of a generated fleet: kind and place from `n`,
    /// readings from `seed`.
    pub fn generated(
        n: u32,
        id: String,
        seed: u64,
        interval: Duration,
        convention: Convention,
    ) -> DeviceSpec {
        let kind = generated_kind(n);
        // How many of this kind came before, to pick its place.
        let nth = (1..n).filter(|m| generated_kind(*m) == kind).count();
        let list = places(kind);
        let place = list[nth % list.len()];
        let name = match nth / list.len() {
            0 => place.name.to_owned(),
            round => format!("{} {}", place.name, round + 1),
        };
        DeviceSpec {
            id,
            kind,
            convention,
            name,
            location: place.location.to_owned(),
            seed,
            interval,
            battery: None,
            temperature: None,
            signal: None,
            disconnect_rate: DEFAULT_DISCONNECT_RATE,
        }
    }
}

/// Abrupt disconnects per device and hour, by default: with a dozen
/// devices, one goes offline every few minutes.
pub const DEFAULT_DISCONNECT_RATE: f64 = 2.0;

/// "Kitchen climate sensor".
pub fn default_name(location: &str, kind: DeviceKind) -> String {
    let mut chars = location.chars();
    let capitalized: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    format!("{capitalized} {}", kind.label())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dozen_generated_devices_hold_every_kind_with_distinct_names() {
        let make = |n: u32| {
            DeviceSpec::generated(
                n,
                format!("sim-{n}"),
                7,
                Duration::from_secs(1),
                Convention::Kite,
            )
        };
        assert_eq!(make(3), make(3));
        let dozen: Vec<DeviceSpec> = (1..=12).map(make).collect();
        for kind in DeviceKind::ALL {
            assert!(dozen.iter().any(|d| d.kind == kind), "{kind}");
        }
        let names: std::collections::HashSet<&str> =
            dozen.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names.len(), 12);
        let every_fourth: std::collections::HashSet<DeviceKind> =
            [4, 8, 12].map(|n| make(n).kind).into();
        assert_eq!(
            every_fourth.len(),
            3,
            "Home Assistant devices of three kinds"
        );
        let big: Vec<String> = (1..=1000).map(|n| make(n).name).collect();
        assert_eq!(
            big.iter().collect::<std::collections::HashSet<_>>().len(),
            1000
        );
        assert_eq!(
            default_name("living room", DeviceKind::Door),
            "Living room door sensor"
        );
    }

    #[test]
    fn kinds_parse_from_their_names() {
        for kind in DeviceKind::ALL {
            assert_eq!(kind.as_str().parse::<DeviceKind>(), Ok(kind));
        }
        assert!("toaster".parse::<DeviceKind>().is_err());
    }
}
