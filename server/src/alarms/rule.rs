//! Alarm rules: the JSON form is a contract shared with the dashboard, so
//! the type, its validation and the threshold test with hysteresis live in
//! [`kite_convention::alarms::rule`]; this module keeps the server's path.

pub use kite_convention::alarms::rule::{Condition, Rule, RuleError, Severity};
