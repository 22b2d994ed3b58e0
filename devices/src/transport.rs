//! The byte pipe under a device's MQTT session: a TCP stream, or WebSocket
//! binary frames (subprotocol `mqtt`). The protocol itself is the shared
//! `ClientSession` either way; only how bytes travel differs.

use std::{fmt, time::Duration};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::{
    tungstenite::{
        self, client::IntoClientRequest, http::HeaderValue, protocol::WebSocketConfig, Message,
    },
    MaybeTlsStream, WebSocketStream,
};

/// How long to wait for TCP connect plus WebSocket handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `host:port` of the MQTT-over-TCP listener.
    Tcp(String),
    /// `ws://host:port/path` of the MQTT-over-WebSocket endpoint.
    Ws(String),
}

impl Endpoint {
    /// From `--broker` and `--ws`: a `ws://` URL means WebSocket; with
    /// `--ws`, a bare `host:port` means `ws://host:port/mqtt`; `tcp://` and
    /// `mqtt://` prefixes are accepted and dropped.
    pub fn parse(broker: &str, ws: bool) -> Result<Endpoint, String> {
        if broker.starts_with("wss://") {
            return Err("wss:// (TLS) is not supported: use ws://".into());
        }
        if broker.starts_with("ws://") {
            return Ok(Endpoint::Ws(broker.to_owned()));
        }
        let bare = broker
            .strip_prefix("tcp://")
            .or_else(|| broker.strip_prefix("mqtt://"))
            .unwrap_or(broker)
            .trim_end_matches('/');
        if bare.is_empty() || bare.contains('/') {
            return Err(format!(
                "broker {broker:?} is neither HOST:PORT nor a ws:// URL"
            ));
        }
        Ok(if ws {
            Endpoint::Ws(format!("ws://{bare}/mqtt"))
        } else {
            Endpoint::Tcp(bare.to_owned())
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(addr) => write!(f, "tcp://{addr}"),
            Endpoint::Ws(url) => f.write_str(url),
        }
    }
}

/// Why the pipe failed.
#[derive(thiserror::Error, Debug)]
pub enum TransportError {
    #[error("cannot reach the broker at {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("websocket: {0}")]
    WebSocket(#[from] tungstenite::Error),
}

/// A connected pipe.
pub enum Pipe {
    Tcp(TcpStream),
    // Boxed: the WebSocket state is much larger than a TcpStream.
    Ws(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
}

impl Pipe {
    pub async fn connect(endpoint: &Endpoint) -> Result<Pipe, TransportError> {
        let failed = |reason: String| TransportError::Connect {
            endpoint: endpoint.to_string(),
            reason,
        };
        let connecting = async {
            match endpoint {
                Endpoint::Tcp(addr) => {
                    let stream = TcpStream::connect(addr)
                        .await
                        .map_err(|e| failed(e.to_string()))?;
                    stream.set_nodelay(true)?;
                    Ok(Pipe::Tcp(stream))
                }
                Endpoint::Ws(url) => {
                    let mut request = url
                        .as_str()
                        .into_client_request()
                        .map_err(|e| failed(e.to_string()))?;
                    request
                        .headers_mut()
                        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
                    // Small buffers: a thousand devices each send a few
                    // hundred bytes a second; the 128 KiB defaults would
                    // cost a quarter gigabyte.
                    let config = WebSocketConfig::default()
                        .read_buffer_size(4096)
                        .write_buffer_size(0);
                    let (stream, _) =
                        tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                            .await
                            .map_err(|e| failed(e.to_string()))?;
                    Ok(Pipe::Ws(Box::new(stream)))
                }
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| failed(format!("no answer within {CONNECT_TIMEOUT:?}")))?
    }

    /// Write all of `bytes`.
    pub async fn send(&mut self, bytes: Bytes) -> Result<(), TransportError> {
        match self {
            Pipe::Tcp(stream) => stream.write_all(&bytes).await?,
            Pipe::Ws(ws) => ws.send(Message::Binary(bytes)).await?,
        }
        Ok(())
    }

    /// Append what arrives to `buf`; `Ok(0)` when the broker closed. Cancel
    /// safe, so it can sit in a `select!` next to timers.
    pub async fn recv(&mut self, buf: &mut BytesMut) -> Result<usize, TransportError> {
        match self {
            Pipe::Tcp(stream) => Ok(stream.read_buf(buf).await?),
            Pipe::Ws(ws) => loop {
                match ws.next().await {
                    None | Some(Ok(Message::Close(_))) => return Ok(0),
                    Some(Ok(Message::Binary(data))) => {
                        buf.extend_from_slice(&data);
                        // An empty frame is not a close; wait for the next one.
                        if !data.is_empty() {
                            return Ok(data.len());
                        }
                    }
                    // Pings are answered by tungstenite; text frames are not MQTT.
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                }
            },
        }
    }

    /// Close politely (WebSocket close frame, TCP FIN).
    pub async fn close(self) {
        match self {
            Pipe::Tcp(mut stream) => {
                let _ = stream.shutdown().await;
            }
            Pipe::Ws(mut ws) => {
                // The Sink close sends a close frame, then flushes.
                let _ = SinkExt::close(ws.as_mut()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses() {
        let tcp = |s: &str| Endpoint::Tcp(s.into());
        let ws = |s: &str| Endpoint::Ws(s.into());
        assert_eq!(
            Endpoint::parse("127.0.0.1:1883", false),
            Ok(tcp("127.0.0.1:1883"))
        );
        assert_eq!(
            Endpoint::parse("tcp://broker:1883", false),
            Ok(tcp("broker:1883"))
        );
        assert_eq!(
            Endpoint::parse("mqtt://broker:1883/", false),
            Ok(tcp("broker:1883"))
        );
        assert_eq!(
            Endpoint::parse("ws://127.0.0.1:8080/mqtt", false),
            Ok(ws("ws://127.0.0.1:8080/mqtt"))
        );
        assert_eq!(
            Endpoint::parse("127.0.0.1:8080", true),
            Ok(ws("ws://127.0.0.1:8080/mqtt"))
        );
        assert!(Endpoint::parse("wss://x/mqtt", true).is_err());
        assert!(Endpoint::parse("http://x/mqtt", false).is_err());
        assert!(Endpoint::parse("", false).is_err());
    }
}
