//! Where messages go: the subscription tree, the retained messages, the
//! registry of connected and parked clients, and each client's bounded queue.

pub(crate) mod budget;
pub(crate) mod mailbox;
pub(crate) mod registry;
pub(crate) mod retained;
pub(crate) mod router;
