//! Plain Rust state of the dashboard: no DOM, no signals, no I/O.
//!
//! Everything here builds and is tested natively (`cargo test -p
//! kite-dashboard`); the reactive layer ([`crate::store`]) wraps these types
//! in signals and the components only render them.

pub mod alarms;
pub mod chart;
pub mod clock;
pub mod cluster;
pub mod connection;
pub mod control;
pub mod devices;
pub mod events;
pub mod format;
pub mod history;
pub mod messages;
pub mod profile;
pub mod publish;
pub mod ring;
pub mod route;
pub mod sys;
pub mod topics;
pub mod url;
pub mod window;

pub use connection::{Backoff, ConnState};
pub use messages::{MessageLog, MessageRecord};
pub use url::{broker_url_from_location, FALLBACK_BROKER_URL};
