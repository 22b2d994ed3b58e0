//! Who may connect and what they may do: the password file, the ACL, the
//! live users and roles of the `$CONTROL` API, the
//! topics only the broker writes and the topic depth limit, one
//! connection's access rules and publish rate, and TLS.

pub mod acl;
pub mod auth;
pub mod live;
pub(crate) mod mosquitto_hash;
pub(crate) mod policy;
pub(crate) mod rate;
pub(crate) mod reserved;
pub(crate) mod tls;
