//! The HTTP listener: MQTT over WebSocket at `/mqtt` and the built dashboard
//! at `/`.

use std::{io, net::SocketAddr, sync::Arc};

use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade},
        ConnectInfo, State,
    },
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::get,
    Extension, Router,
};
use tokio::net::TcpListener;
use tower_http::services::{ServeDir, ServeFile};

use crate::{auth::Origin, broker::Shared, connection, tls::PeerIdentity, transport::Transport};

/// How much a WebSocket read takes at a time (see `upgrade`).
const WS_READ_BUFFER: usize = 4096;

/// The WebSocket subprotocols we accept: `mqtt` (3.1.1 and 5.0) and `mqttv3.1`.
pub const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// Serve HTTP until the broker shuts down.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) -> io::Result<()> {
    let dir = shared.config.dashboard_dir.clone();
    let mut app = Router::new()
        .route("/mqtt", get(upgrade))
        .route("/metrics", get(metrics));
    let index = dir.join("index.html");
    if index.is_file() {
        app = app.fallback_service(ServeDir::new(&dir).fallback(ServeFile::new(index)));
    } else {
        tracing::warn!(dir = %dir.display(), "no built dashboard (index.html) there; serving a notice at /");
        app = app.fallback(not_built);
    }
    let mut stop = shared.shutdown.clone();
    let app = app.with_state(shared.clone());
    if let Some(acceptor) = crate::tls::acceptor(&shared.config).map_err(io::Error::other)? {
        return crate::tls::serve_https(listener, acceptor, app, shared).await;
    }
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    })
    .await
}

/// `GET /mqtt`: upgrade to WebSocket and run an MQTT connection over it. A
/// plain request without the upgrade gets an error response and a log line.
async fn upgrade(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    identity: Option<Extension<PeerIdentity>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => {
            let max = shared.config.max_connections;
            let Some(slot) = shared.limits.try_connection(max) else {
                tracing::debug!(%peer, max, "WebSocket refused: --max-connections reached");
                return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
            };
            let origin = Origin {
                identity: identity.and_then(|Extension(PeerIdentity(id))| id),
                ..Origin::new(shared.config.http)
            };
            upgrade
                .protocols(SUBPROTOCOLS)
                // tungstenite zero-fills this much of its read buffer on every
                // read attempt (128 KiB by default): 30 % of the broker's CPU in
                // a WebSocket fan-out, and 128 KiB of memory per connection.
                .read_buffer_size(WS_READ_BUFFER)
                .on_upgrade(move |socket| async move {
                    let transport = Transport::WebSocket(Box::new(socket));
                    connection::serve(transport, peer, shared, origin, slot).await
                })
        }
        Err(rejection) => {
            tracing::warn!(%peer, %rejection, "rejected a request to /mqtt that is not a WebSocket upgrade");
            rejection.into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::sys::prometheus(&shared),
    )
}

async fn not_built() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Html(
            "<!doctype html><title>Kite</title><h1>Kite</h1>\
             <p>The dashboard is not built. Run <code>make run</code>, \
             or pass <code>--dashboard-dir</code>.</p>",
        ),
    )
}
