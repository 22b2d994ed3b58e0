//! The HTTP listener (HTTPS with `--cert`): MQTT over WebSocket at `/mqtt`,
//! `/metrics`, the history at `/api/history`, and the built dashboard at `/`. One task per connection,
//! which does the TLS handshake if any, then serves HTTP/1.1 with upgrades.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade},
        ConnectInfo, Request, State,
    },
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::get,
    Extension, Router,
};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower_http::services::{ServeDir, ServeFile};

use crate::{
    broker::Shared, net::connection, net::transport::Transport, security::auth::Origin,
    security::tls::PeerIdentity,
};

/// How much a WebSocket read takes at a time (see `upgrade`).
const WS_READ_BUFFER: usize = 4096;

/// The WebSocket subprotocols we accept: `mqtt` (3.1.1 and 5.0) and `mqttv3.1`.
pub(crate) const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// Serve HTTP until the broker shuts down.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) -> io::Result<()> {
    let dir = shared.config.dashboard_dir.clone();
    let mut app = Router::new()
        .route("/mqtt", get(upgrade))
        .route("/metrics", get(metrics))
        .route("/api/history", get(crate::net::history_api::history));
    let index = dir.join("index.html");
    if index.is_file() {
        // `x.gz` beside `x` (scripts/build-dashboard.sh writes them) goes to
        // browsers that accept gzip: the wasm at about a third of its size.
        let files = ServeDir::new(&dir)
            .precompressed_gzip()
            .fallback(ServeFile::new(index).precompressed_gzip());
        app = app.fallback_service(files);
    } else {
        tracing::warn!(dir = %dir.display(), "no built dashboard (index.html) there; serving a notice at /");
        app = app.fallback(not_built);
    }
    let app = app.with_state(shared.clone());
    let mut stop = shared.shutdown.clone();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = async { let _ = stop.wait_for(|stopped| *stopped).await; } => return Ok(()),
        };
        // As on the MQTT port: a WebSocket's packets leave at once.
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let limit = Duration::from_secs(shared.config.connect_timeout);
            match acceptor {
                None => serve_connection(stream, peer, PeerIdentity(None), app, limit).await,
                Some(acceptor) => {
                    match crate::security::tls::handshake(
                        &acceptor,
                        stream,
                        limit,
                        &shared.limits.counters,
                    )
                    .await
                    {
                        Ok(stream) => {
                            let identity =
                                PeerIdentity(crate::security::tls::peer_identity(&stream));
                            serve_connection(stream, peer, identity, app, limit).await
                        }
                        Err(reason) => tracing::info!(%peer, "HTTPS connection closed: {reason}"),
                    }
                }
            }
        });
    }
}

/// HTTP/1.1 with upgrades on one connection (plain or TLS). The request
/// head must arrive within `--connect-timeout`, so a client that trickles
/// its headers (slow loris) holds its socket only that long.
async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    identity: PeerIdentity,
    app: Router,
    limit: Duration,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(identity.clone());
        let mut app = app.clone();
        async move { tower_service::Service::call(&mut app, request).await }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limit)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(err) = served {
        tracing::debug!(%peer, %err, "HTTP connection ended");
    }
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
        {
            let text = shared.snapshot().prometheus();
            // A cluster node's samples say which node they are from.
            match (&shared.config.node_id, shared.config.cluster.is_empty()) {
                (Some(node), false) => crate::metrics::snapshot::with_node_label(&text, node),
                _ => text,
            }
        },
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
