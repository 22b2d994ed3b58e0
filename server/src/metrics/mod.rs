//! What the broker counts and how it is shown: the per-message statistics
//! and the limit counters ([`counters`]), and a [`Snapshot`] of them
//! rendered for Prometheus (`/metrics`) and for `$SYS/broker/...`.

pub(crate) mod bridges;
pub(crate) mod counters;
pub(crate) mod snapshot;

pub(crate) use counters::{ConnectionSlot, Counters, Limits, Stats};
pub(crate) use snapshot::{Gauges, HistoryGauges, Snapshot, StoreGauges};
