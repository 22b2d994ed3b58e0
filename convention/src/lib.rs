//! # kite-convention: how devices and dashboards talk to Kite
//!
//! The device convention (`devices/<id>/...`), the Home Assistant MQTT
//! discovery format, and the broker's own topics (`$kite/alarms/...`,
//! `$SYS/broker/...`), as plain types with parsers and serializers. No I/O
//! and no async runtime: the simulator (`kite-devices`) writes the device
//! messages, the broker (`kite-server`) writes alarms and statistics, the
//! dashboard (wasm32) reads them all, and they agree because they share this
//! crate: every topic name and payload field both sides use is defined here
//! once. `docs/devices.md` is the same convention for people.
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
//! - [`alarms`]: the alarm engine's `$kite/alarms/...` topics, the rule
//!   JSON ([`alarms::Rule`], its conditions and severities, validation, the
//!   threshold test), shared by the broker's engine and the dashboard's
//!   editor, and [`alarms::payload`], the JSON the engine publishes (active
//!   alarms [`alarms::Active`], events and history [`alarms::AlarmEvent`],
//!   refused rules [`alarms::RuleRefusal`]), written by the broker and read
//!   by the dashboard.
//! - [`history`]: the broker's history of measurements and events: the
//!   query (`$kite/history/query`, `GET /api/history/...`) and its answer.
//! - [`control`]: the administration API's topics (`$CONTROL/kite/v1`)
//!   and its live clients view.
//! - [`sys`]: the `$SYS/broker/...` statistic names the broker publishes and
//!   the dashboard charts.

pub mod alarms;
pub mod control;
pub mod discovery;
pub mod events;
pub mod fleet;
pub mod history;
pub mod meta;
pub mod status;
pub mod sys;
pub mod telemetry;
pub mod topics;

pub use events::{Event, Severity};
pub use fleet::{DeviceView, Fleet, MeasurementView, Source};
pub use meta::Meta;
pub use status::Status;
pub use telemetry::Telemetry;
pub use topics::{DeviceTopic, TopicKind};
