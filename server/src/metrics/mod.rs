//! What the broker counts and how it is shown: the per-message statistics
//! and the limit counters ([`counters`]), and a [`Snapshot`] of them
//! rendered for Prometheus (`/metrics`) and for `$SYS/broker/...`.

pub mod counters;
pub mod snapshot;

pub use counters::{ConnectionSlot, Counters, Limits, Stats};
pub use snapshot::{Gauges, HistoryGauges, Snapshot};
