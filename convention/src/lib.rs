//! # kite-convention: how devices talk to Kite
//!
//! The device convention (`devices/<id>/...`) and the Home Assistant MQTT
//! discovery format, as plain types with parsers and serializers. No I/O and
//! no async runtime: the simulator (`kite-devices`) writes these messages,
//! the dashboard (wasm32) reads them, and both agree because they share
//! this crate. `docs/devices.md` is the same convention for people.
//!
//! # Layout
//! - [`topics`]: `devices/<id>/<kind>` ⇄ [`topics::DeviceTopic`].
//! - [`status`]: retained `online` / `offline` (the last will).
//! - [`telemetry`]: the JSON object of measurements, bare-number
//!   measurements, known units.
//! - [`events`]: JSON events with a type, a severity and a message.
//! - [`meta`]: retained name, kind, location, units.
//! - [`discovery`]: Home Assistant discovery configs (abbreviations, `~`,
//!   device-based discovery) and the `value_template` subset firmware uses.
//! - [`fleet`]: the model a dashboard keeps: every device from both
//!   sources, fed one message at a time.

pub mod discovery;
pub mod events;
pub mod fleet;
pub mod meta;
pub mod status;
pub mod telemetry;
pub mod topics;

pub use events::{Event, Severity};
pub use fleet::{DeviceView, Fleet, MeasurementView, Source};
pub use meta::Meta;
pub use status::Status;
pub use telemetry::Telemetry;
pub use topics::{DeviceTopic, TopicKind};
