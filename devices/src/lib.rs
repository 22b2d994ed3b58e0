//! # kite-devices: a simulated device fleet
//!
//! Each device is its own MQTT connection (TCP, or WebSocket with `--ws`),
//! driven by the shared sans-I/O client session of `kite-mqtt`, and speaks
//! either the Kite device convention or Home Assistant MQTT discovery, both
//! written through `kite-convention` so the dashboard reads exactly what is
//! sent. A thousand devices run as tasks on one tokio runtime.
//!
//! # Layout
//! From the bottom up; each module imports only from those above it (the
//! `# Layers` table below says exactly which).
//! - [`sim`]: pure signal models (temperature with a daily cycle, humidity,
//!   a draining battery, fading signal) from a seeded generator.
//! - [`spec`]: what a device is: kind, convention, place, knobs.
//! - [`message`]: what a device says: a message to publish, and the reading
//!   and activity of one step.
//! - [`transport`]: the byte pipe, TCP or WebSocket.
//! - [`homeassistant`]: the discovery configs and state messages of devices
//!   that use Home Assistant discovery instead of the Kite convention.
//! - [`model`]: one device's behaviour as a pure state machine: the messages
//!   of its announce, of every step (readings, events, a dropped link) and
//!   of its goodbye. Fixed seed, fixed sequence.
//! - [`device`]: one device's connection loop on a `ClientSession`.
//! - [`fleet`]: generating `--count` devices and running them all.
//! - [`scenario`]: a fleet by hand from a TOML file.
//!
//! # Layers
//! Lowest first. A module imports only from layers above its own line, never
//! from its own or a lower one (`convention/tests/layers.rs` checks it):
//! 1. `sim`, `spec`, `message`, `transport`: import nothing from the crate.
//! 2. `homeassistant`: turns a `spec` and a step's `message`s into discovery.
//! 3. `model`: the Kite convention, or `homeassistant`, step by step.
//! 4. `device`: runs a `model` over a `transport`.
//! 5. `fleet`: starts many `device`s.
//! 6. `scenario`: a `fleet` described by hand.
//!
//! # Topics
//! The Kite convention (`devices/<id>/status`, `telemetry`, `<measurement>`,
//! `events`, `meta`) is documented in `docs/devices.md`; Home Assistant
//! devices publish configs under `homeassistant/` and their state under
//! `kite-ha/<id>/`.

pub mod device;
pub mod fleet;
pub mod homeassistant;
pub mod message;
pub mod model;
pub mod scenario;
pub mod sim;
pub mod spec;
pub mod transport;
