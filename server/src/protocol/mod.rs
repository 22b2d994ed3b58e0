//! The sans-I/O protocol: one client's session state machine, its
//! in-flight state and its subscriptions (`filters`), the routed message,
//! what the session asks before it admits a PUBLISH or a subscription, and
//! the records the store keeps of a session. Imports only the codec and
//! the bottom layers.

pub(crate) mod admission;
pub(crate) mod filters;
pub mod message;
pub(crate) mod records;
pub(crate) mod session;
