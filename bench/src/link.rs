//! One MQTT client connection of the load generator: the shared sans-I/O
//! [`ClientSession`] over a tokio TCP stream or a WebSocket (subprotocol
//! `mqtt`). Reading happens in the owner's task (so it can sit in a
//! `select!`); writing happens in a small writer task of its own, so a
//! connection never blocks its reads on a full socket.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures_util::{
    stream::{SplitSink, SplitStream},
    FutureExt, SinkExt, StreamExt,
};
use mqtt::{
    client::{ClientEvent, ClientOptions, ClientSession},
    QoS,
};
use serde::{Deserialize, Serialize};
use tokio::{
    io::AsyncReadExt,
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpStream,
    },
    sync::mpsc,
    task::JoinHandle,
    time::{timeout, Instant},
};
use tokio_tungstenite::{
    client_async,
    tungstenite::{client::IntoClientRequest, http::HeaderValue, Message},
    WebSocketStream,
};

use crate::error::BenchError;

/// How long connecting, CONNACK and SUBACK may take.
pub const HANDSHAKE: Duration = Duration::from_secs(10);

/// MQTT over plain TCP, or over WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Ws,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ws => "ws",
        }
    }
}

/// Where a broker listens.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub tcp: SocketAddr,
    /// `ws://127.0.0.1:PORT/mqtt`, when the broker has a WebSocket listener.
    pub ws: Option<String>,
}

type Ws = WebSocketStream<TcpStream>;

enum Reader {
    Tcp(OwnedReadHalf),
    Ws(SplitStream<Ws>),
}

impl Reader {
    /// Append what arrives; `Ok(0)` means closed. Cancel-safe.
    async fn read(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        match self {
            Reader::Tcp(stream) => {
                buf.reserve(64 * 1024);
                stream.read_buf(buf).await
            }
            Reader::Ws(stream) => loop {
                match stream.next().await {
                    None => return Ok(0),
                    Some(Err(err)) => return Err(std::io::Error::other(err)),
                    Some(Ok(Message::Binary(data))) => {
                        if data.is_empty() {
                            continue;
                        }
                        buf.extend_from_slice(&data);
                        return Ok(data.len());
                    }
                    Some(Ok(Message::Close(_))) => return Ok(0),
                    Some(Ok(_)) => continue,
                }
            },
        }
    }
}

/// The TCP writer task: what [`Link::flush`] could not write at once.
async fn write_tcp(
    stream: Arc<OwnedWriteHalf>,
    pending: Arc<AtomicUsize>,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
) {
    while let Some(mut bytes) = rx.recv().await {
        while !bytes.is_empty() {
            if stream.writable().await.is_err() {
                return;
            }
            match stream.try_write(&bytes) {
                Ok(n) => {
                    let _ = bytes.split_to(n);
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
        pending.fetch_sub(1, Ordering::AcqRel);
    }
    // Dropping the last handle shuts the write side down.
}

async fn write_ws(mut sink: SplitSink<Ws, Message>, mut rx: mpsc::UnboundedReceiver<Bytes>) {
    while let Some(bytes) = rx.recv().await {
        if sink.send(Message::Binary(bytes)).await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

/// An open, CONNACK'd client connection.
pub struct Link {
    pub session: ClientSession,
    reader: Reader,
    buf: BytesMut,
    tx: Option<mpsc::UnboundedSender<Bytes>>,
    writer: JoinHandle<()>,
    /// TCP only: the socket, for writing at once when the writer task has
    /// nothing queued (no task hop on the way out: acknowledgements and
    /// publishes leave sooner), and how many buffers that task holds.
    direct: Option<(Arc<OwnedWriteHalf>, Arc<AtomicUsize>)>,
    epoch: Instant,
}

impl Link {
    /// Connect, send CONNECT, wait for CONNACK. `epoch` is the clock the
    /// session's milliseconds count from.
    pub async fn open(
        endpoint: &Endpoint,
        transport: Transport,
        options: ClientOptions,
        epoch: Instant,
    ) -> Result<Link, BenchError> {
        let stream = timeout(HANDSHAKE, TcpStream::connect(endpoint.tcp_for(transport)?))
            .await
            .map_err(|_| BenchError::timeout("TCP connect", HANDSHAKE))?
            .map_err(|source| BenchError::Connect {
                addr: endpoint
                    .tcp_for(transport)
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                source,
            })?;
        stream.set_nodelay(true)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut direct = None;
        let (reader, writer) = match transport {
            Transport::Tcp => {
                let (read, write) = stream.into_split();
                let (write, pending) = (Arc::new(write), Arc::new(AtomicUsize::new(0)));
                direct = Some((write.clone(), pending.clone()));
                (
                    Reader::Tcp(read),
                    tokio::spawn(write_tcp(write, pending, rx)),
                )
            }
            Transport::Ws => {
                let url = endpoint.ws.clone().ok_or(BenchError::NoWebSocket)?;
                let ws_error = |source| BenchError::WebSocket {
                    url: url.clone(),
                    source: Box::new(source),
                };
                let mut request = url.as_str().into_client_request().map_err(ws_error)?;
                request
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
                let (ws, _) = timeout(HANDSHAKE, client_async(request, stream))
                    .await
                    .map_err(|_| BenchError::timeout("WebSocket handshake", HANDSHAKE))?
                    .map_err(ws_error)?;
                let (sink, stream) = ws.split();
                (Reader::Ws(stream), tokio::spawn(write_ws(sink, rx)))
            }
        };
        let mut link = Link {
            session: ClientSession::new(options),
            reader,
            buf: BytesMut::with_capacity(64 * 1024),
            tx: Some(tx),
            writer,
            direct,
            epoch,
        };
        let now = link.now_ms();
        link.session.connect(now)?;
        link.flush();
        let connected = timeout(HANDSHAKE, async {
            loop {
                for event in link.read().await? {
                    match event {
                        ClientEvent::Connected { .. } => return Ok(()),
                        ClientEvent::Disconnected { reason } => {
                            return Err(BenchError::Refused(format!("CONNACK {reason:?}")))
                        }
                        _ => {}
                    }
                }
            }
        })
        .await;
        match connected {
            Ok(result) => result.map(|()| link),
            Err(_) => Err(BenchError::timeout("CONNACK", HANDSHAKE)),
        }
    }

    /// Milliseconds since the epoch, for the session.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Hand what the session queued to the writer task.
    pub fn flush(&mut self) {
        let (Some(mut bytes), Some(tx)) = (self.session.take_outgoing(), &self.tx) else {
            return;
        };
        if let Some((stream, pending)) = &self.direct {
            // Only this task queues, so nothing can get ahead of these bytes.
            if pending.load(Ordering::Acquire) == 0 {
                if let Ok(n) = stream.try_write(&bytes) {
                    let _ = bytes.split_to(n);
                }
                if bytes.is_empty() {
                    return;
                }
            }
            pending.fetch_add(1, Ordering::AcqRel);
        }
        let _ = tx.send(bytes);
    }

    /// Wait for bytes and return what they meant; replies are flushed.
    /// Cancel-safe: nothing is lost when the future is dropped.
    pub async fn read(&mut self) -> Result<Vec<ClientEvent>, BenchError> {
        let n = self.reader.read(&mut self.buf).await?;
        self.after_read(n)
    }

    /// Like [`Link::read`] but only what is already there; `None` if nothing is.
    pub fn try_read(&mut self) -> Result<Option<Vec<ClientEvent>>, BenchError> {
        match self.reader.read(&mut self.buf).now_or_never() {
            None => Ok(None),
            Some(n) => self.after_read(n?).map(Some),
        }
    }

    fn after_read(&mut self, n: usize) -> Result<Vec<ClientEvent>, BenchError> {
        if n == 0 {
            return Err(BenchError::Closed("end of stream".into()));
        }
        let now = self.now_ms();
        let events = self.session.receive(&self.buf, now)?;
        self.buf.clear();
        self.flush();
        if let Some(ClientEvent::Disconnected { reason }) = events
            .iter()
            .find(|e| matches!(e, ClientEvent::Disconnected { .. }))
        {
            return Err(BenchError::Closed(format!("DISCONNECT {reason:?}")));
        }
        Ok(events)
    }

    /// Subscribe to `filters` at `qos` and wait for the SUBACK; a refused or
    /// downgraded filter is an error.
    pub async fn subscribe(&mut self, filters: &[&str], qos: QoS) -> Result<(), BenchError> {
        let list: Vec<(&str, QoS)> = filters.iter().map(|f| (*f, qos)).collect();
        let now = self.now_ms();
        let pid = self.session.subscribe(&list, now)?;
        self.flush();
        let wanted = qos as u8;
        timeout(HANDSHAKE, async {
            loop {
                for event in self.read().await? {
                    if let ClientEvent::Subscribed { pid: got, reasons } = event {
                        if got != pid {
                            continue;
                        }
                        return match reasons.iter().find(|r| r.as_u8() != wanted) {
                            None => Ok(()),
                            Some(reason) => Err(BenchError::Refused(format!(
                                "SUBACK {reason:?} for QoS {wanted}"
                            ))),
                        };
                    }
                }
            }
        })
        .await
        .map_err(|_| BenchError::timeout("SUBACK", HANDSHAKE))?
    }

    /// DISCONNECT, let the writer finish, close.
    pub async fn close(mut self) {
        let now = self.now_ms();
        if self.session.disconnect(now).is_ok() {
            self.flush();
        }
        self.direct = None;
        self.tx = None;
        let _ = timeout(Duration::from_secs(2), &mut self.writer).await;
        self.writer.abort();
    }
}

impl Endpoint {
    /// The TCP address to dial for `transport`.
    fn tcp_for(&self, transport: Transport) -> Result<SocketAddr, BenchError> {
        match transport {
            Transport::Tcp => Ok(self.tcp),
            Transport::Ws => {
                let url = self.ws.as_deref().ok_or(BenchError::NoWebSocket)?;
                let host = url
                    .strip_prefix("ws://")
                    .and_then(|rest| rest.split('/').next())
                    .ok_or_else(|| BenchError::Usage(format!("not a ws:// URL: {url}")))?;
                host.parse()
                    .map_err(|_| BenchError::Usage(format!("need ws://IP:PORT/..., got {url}")))
            }
        }
    }
}

/// Options for a benchmark client: MQTT 3.1.1 (every peer speaks it),
/// keepalive 60 s (rumqttd refuses 0; runs are shorter, and [`ClientSession::tick`]
/// pings anyway).
pub fn client_options(client_id: String, clean: bool) -> ClientOptions {
    let mut options = ClientOptions::new(client_id);
    options.keep_alive = 60;
    options.clean_start = clean;
    options
}
