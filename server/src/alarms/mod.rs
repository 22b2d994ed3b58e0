//! The alarm engine in the broker: rules over device measurements, evaluated
//! on every matching message, with state kept as retained MQTT messages so
//! any client can follow it and the store keeps it across restarts.
//!
//! - [`rule`]: the rule JSON (a contract) and the threshold test with hysteresis.
//! - [`engine`]: the sans-I/O engine: messages in, publications out.
//!
//! Topics: `$kite/alarms/rules/<rule-id>` (retained rule; empty deletes),
//! `$kite/alarms/active/<device>/<rule-id>` (retained while active),
//! `$kite/alarms/ack/<device>/<rule-id>` (acknowledge), `$kite/alarms/events`,
//! `$kite/alarms/errors`, `$kite/alarms/history` (retained, last 200 events).

pub mod engine;
pub mod rule;

pub use engine::{Engine, Publication};
pub use rule::{Rule, RuleError};
