//! Clients inside the broker: a bridge's local side speaks MQTT to this
//! broker like any client, over an in-memory pipe instead of a socket, so
//! it gets every guarantee a client gets (persistent session, queue kept in
//! the store, QoS flows) from the one connection loop.

use std::{net::SocketAddr, sync::Arc};

use tokio::io::DuplexStream;

use crate::{
    broker::Shared,
    net::{connection, transport::Transport},
    security::auth::Origin,
};

/// Client ids only clients inside the broker may take: each bridge's local
/// side is `$bridge/<name>`.
pub(crate) const BRIDGE_IDS: &str = "$bridge/";

/// Room in each direction of the pipe; the connection's writes wait beyond it.
const PIPE_BYTES: usize = 256 * 1024;

/// The client end of a new connection to this broker, trusted: no password,
/// no ACL, and the only way to a client id under `$bridge/`. It counts
/// against `--max-connections` like any other, so it may be refused
/// (`None`) when the broker is full.
pub(crate) fn connect(shared: &Arc<Shared>) -> Option<DuplexStream> {
    let slot = shared
        .limits
        .try_connection(shared.config.max_connections)?;
    let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
    let origin = Origin {
        internal: true,
        ..Origin::new(shared.config.tcp)
    };
    let peer = SocketAddr::from(([127, 0, 0, 1], 0));
    tokio::spawn(connection::serve(
        Transport::Local(theirs),
        peer,
        shared.clone(),
        origin,
        slot,
    ));
    Some(ours)
}
