//! # kite-devices: a simulated device fleet
//!
//! Each device is its own MQTT connection over TCP, driven by the shared
//! sans-I/O client session of `kite-mqtt`.
//!
//! # Layout
//! - [`sim`]: pure signal models (temperature, battery, signal strength) from a seeded generator.
//! - [`device`]: one device's connection loop: connect with an `offline` will,
//!   publish `online` retained, then telemetry every interval.
//!
//! # Topics (the device convention)
//! - `devices/<id>/status`: `online` / `offline`, retained; `offline` is the last will.
//! - `devices/<id>/telemetry`: a JSON object of measurements, e.g. `{"temperature":21.4,"battery":87,"signal":-61}`.
//! - `devices/<id>/<measurement>`: each measurement alone as a bare number.

pub mod device;
pub mod sim;
