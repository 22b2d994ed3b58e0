//! The MQTT-over-TCP accept loop: one task per connection.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::{broker::Shared, connection, transport::Transport};

/// Accept TCP connections until the task is aborted at shutdown.
pub async fn accept_tcp(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection::serve(
                    Transport::Tcp(stream),
                    peer,
                    shared.clone(),
                ));
            }
            Err(err) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
