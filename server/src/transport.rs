//! The byte pipe under a connection: raw TCP or WebSocket binary frames. The
//! connection code above it never knows which.

use std::{io, task::Waker};

use crate::parking::ParkedSocket;
use axum::extract::ws::{self, WebSocket};
use bytes::{Bytes, BytesMut};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// How much room a read makes: a small first read for a connection that held
/// no buffer (a CONNECT, a PINGREQ after a quiet spell: the buffer is let go
/// again when it goes quiet), a full page while data is flowing. Small first
/// buffers also leave small holes in the heap when they are let go.
fn read_size(buf: &BytesMut) -> usize {
    if buf.capacity() == 0 {
        READ_FIRST
    } else {
        4096
    }
}

const READ_FIRST: usize = 1024;

/// A parked socket is unparked before any I/O; this is a broker bug.
fn parked() -> io::Error {
    io::Error::other("I/O on a parked socket")
}

/// A client's transport.
pub enum Transport {
    Tcp(TcpStream),
    /// A dormant connection's TCP socket, off tokio's reactor (see [`ParkedSocket`]).
    Parked(ParkedSocket),
    /// MQTT over TLS (`--tls`).
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// MQTT over WebSocket, or over WSS when the HTTP listener has `--cert`.
    WebSocket(Box<WebSocket>),
}

impl Transport {
    /// Take a TCP socket off tokio's reactor and have `waker` woken when it is
    /// readable. False when it stays on the reactor (not TCP, or no lot).
    pub fn park(&mut self, waker: &Waker) -> bool {
        if !matches!(self, Transport::Tcp(_)) {
            return false;
        }
        let Transport::Tcp(stream) = std::mem::replace(self, Transport::Parked(Default::default()))
        else {
            unreachable!("checked above");
        };
        // On failure the socket is lost and the transport stays an empty
        // `Parked`: the next `unpark` reports it, and the connection ends.
        let Ok(stream) = stream.into_std() else {
            return false;
        };
        match ParkedSocket::park(stream, waker) {
            Ok(parked) => {
                *self = Transport::Parked(parked);
                true
            }
            Err(stream) => {
                if let Ok(stream) = TcpStream::from_std(stream) {
                    *self = Transport::Tcp(stream);
                }
                false
            }
        }
    }

    /// Put a parked socket back on tokio's reactor; nothing for others.
    pub fn unpark(&mut self) -> io::Result<()> {
        if !matches!(self, Transport::Parked(_)) {
            return Ok(());
        }
        let Transport::Parked(parked) =
            std::mem::replace(self, Transport::Parked(Default::default()))
        else {
            unreachable!("checked above");
        };
        let stream = parked
            .leave()
            .ok_or_else(|| io::Error::other("socket lost while the connection was dormant"))?;
        *self = Transport::Tcp(TcpStream::from_std(stream)?);
        Ok(())
    }

    /// Append what arrives to `buf`; `Ok(0)` means the peer closed. Cancel-safe,
    /// so it can sit in a `select!` beside the outbound queue.
    pub async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Transport::Tcp(stream) => loop {
                std::future::poll_fn(|cx| {
                    let ready = stream.poll_read_ready(cx);
                    if ready.is_pending() && buf.is_empty() {
                        // Nothing to read now: an idle connection holds no buffer.
                        *buf = BytesMut::new();
                    }
                    ready
                })
                .await?;
                buf.reserve(read_size(buf));
                match stream.try_read_buf(buf) {
                    // Readiness can be stale (only WouldBlock clears it).
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                    read => return read,
                }
            },
            Transport::Parked(_) => Err(parked()),
            Transport::Tls(stream) => {
                buf.reserve(4096);
                stream.read_buf(buf).await
            }
            Transport::WebSocket(socket) => loop {
                let Some(frame) = socket.recv().await else {
                    return Ok(0);
                };
                match frame.map_err(io::Error::other)? {
                    ws::Message::Binary(data) => {
                        if data.is_empty() {
                            continue;
                        }
                        buf.extend_from_slice(&data);
                        return Ok(data.len());
                    }
                    ws::Message::Close(_) => return Ok(0),
                    // MQTT-6.0.0-1: MQTT travels in binary frames only.
                    ws::Message::Text(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "text WebSocket frame (MQTT needs binary frames)",
                        ))
                    }
                    ws::Message::Ping(_) | ws::Message::Pong(_) => continue,
                }
            },
        }
    }

    /// Write bytes (one WebSocket frame) and flush.
    pub async fn write(&mut self, bytes: Bytes) -> io::Result<()> {
        match self {
            Transport::Tcp(stream) => stream.write_all(&bytes).await,
            Transport::Parked(_) => Err(parked()),
            Transport::Tls(stream) => {
                stream.write_all(&bytes).await?;
                stream.flush().await
            }
            Transport::WebSocket(socket) => socket
                .send(ws::Message::Binary(bytes))
                .await
                .map_err(io::Error::other),
        }
    }

    /// Close the transport politely where it has a way to.
    pub async fn close(&mut self) {
        match self {
            Transport::Tcp(stream) => {
                let _ = stream.shutdown().await;
            }
            Transport::Parked(_) => {}
            Transport::Tls(stream) => {
                // close_notify, then FIN; bounded, the peer may not read.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), stream.shutdown())
                    .await;
            }
            Transport::WebSocket(socket) => {
                let _ = socket.send(ws::Message::Close(None)).await;
            }
        }
    }

    /// "tcp" or "ws", for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Tcp(_) | Transport::Parked(_) => "tcp",
            Transport::Tls(_) => "tls",
            Transport::WebSocket(_) => "ws",
        }
    }
}
