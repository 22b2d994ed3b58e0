//! The MQTT accept loop, over TCP or TLS: one task per connection.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::{connection, transport::Transport};
use crate::{
    broker::Shared,
    metrics::{ConnectionSlot, Counters},
    security::{auth::Origin, tls},
};

/// Bind a listening socket with a deep accept queue (4096, capped by the
/// kernel's somaxconn): `TcpListener::bind` asks for 128 on Linux, and a
/// burst of connections beyond that loses SYNs, each costing its client a
/// one-second retransmission.
pub(crate) fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// The connection's future, built on the heap. A plain function, so the
/// large future never takes room in its caller's (an idle connection's) state.
pub(crate) fn serve_boxed(
    transport: Transport,
    peer: std::net::SocketAddr,
    shared: Arc<Shared>,
    origin: Origin,
    slot: ConnectionSlot,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(connection::serve(transport, peer, shared, origin, slot))
}

/// Accept connections until the task is aborted at shutdown: MQTT over TCP,
/// or over TLS with `tls` (the same loop, with a handshake first).
pub(crate) async fn accept(listener: TcpListener, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
    let bound = listener.local_addr().ok();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let max = shared.config.max_connections;
                let Some(slot) = shared.limits.try_connection(max) else {
                    tracing::warn!(%peer, max, "refused: --max-connections reached");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let origin = Origin::new(bound.unwrap_or(peer));
                let shared = shared.clone();
                match tls.clone() {
                    None => tokio::spawn(start_tcp(stream, peer, shared, origin, slot)),
                    Some(acceptor) => {
                        tokio::spawn(start_tls(acceptor, stream, peer, shared, origin, slot))
                    }
                };
            }
            Err(err) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Until its first byte a connection is only this small future; the whole
/// connection state (boxed) comes with the first byte. Thousands of silent
/// sockets cost little.
async fn start_tcp(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    origin: Origin,
    slot: ConnectionSlot,
) {
    let limit = Duration::from_secs(shared.config.connect_timeout);
    // peek, not readable(): a fresh socket may report ready without data.
    let mut first = [0u8; 1];
    let peek = stream.peek(&mut first);
    match tokio::time::timeout_at(origin.accepted + limit, peek).await {
        Ok(Ok(1..)) => {
            let transport = Transport::Tcp(stream);
            serve_boxed(transport, peer, shared, origin, slot).await
        }
        Ok(Ok(_)) => {
            tracing::info!(%peer, transport = "tcp", "closed before CONNECT: peer closed")
        }
        Ok(Err(err)) => tracing::info!(%peer, %err, "closed before CONNECT"),
        Err(_) => {
            Counters::add(&shared.limits.counters.connect_timeouts);
            tracing::info!(%peer, transport = "tcp", "no CONNECT within {limit:?}; closed");
        }
    }
}

/// The TLS handshake (within `--connect-timeout`), then the connection.
async fn start_tls(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    origin: Origin,
    slot: ConnectionSlot,
) {
    let limit = Duration::from_secs(shared.config.connect_timeout);
    match tls::handshake(&acceptor, stream, limit, &shared.limits.counters).await {
        Ok(stream) => {
            let origin = Origin {
                identity: tls::peer_identity(&stream),
                ..origin
            };
            let transport = Transport::Tls(Box::new(stream));
            // Boxed: the handshake above waits in a small future.
            serve_boxed(transport, peer, shared, origin, slot).await;
        }
        Err(reason) => tracing::info!(%peer, "closed: {reason}"),
    }
}
