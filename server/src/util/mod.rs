//! Small building blocks with no knowledge of MQTT or the broker.

pub mod aligned;
pub(crate) mod clock;
pub(crate) mod counter;
pub(crate) mod redb_file;
pub(crate) mod small_map;
pub mod trim;
