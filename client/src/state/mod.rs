//! Plain Rust state of the dashboard: no DOM, no signals, no I/O.
//!
//! Everything here builds and is tested natively (`cargo test -p
//! kite-dashboard`); the reactive layer ([`crate::store`]) wraps these types
//! in signals and the components only render them.

pub mod clock;
pub mod connection;
pub mod messages;
pub mod url;

pub use connection::{Backoff, ConnState};
pub use messages::{MessageLog, MessageRecord};
pub use url::{broker_url_from_location, FALLBACK_BROKER_URL};
