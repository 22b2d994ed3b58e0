//! The MQTT-over-TCP accept loop: one task per connection.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::{auth::Origin, broker::Shared, connection, transport::Transport};

/// Accept TCP connections until the task is aborted at shutdown.
pub async fn accept_tcp(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let max = shared.config.max_connections;
                let Some(slot) = shared.limits.try_connection(max) else {
                    tracing::warn!(%peer, max, "refused: --max-connections reached");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let origin = Origin::new(shared.config.tcp);
                let serve = connection::serve(Transport::Tcp(stream), peer, shared.clone(), origin);
                tokio::spawn(async move {
                    let _slot = slot;
                    serve.await
                });
            }
            Err(err) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
