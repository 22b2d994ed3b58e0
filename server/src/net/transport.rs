//! The byte pipe under a connection: raw TCP or WebSocket binary frames. The
//! connection code above it never knows which.

use std::{
    future::Future,
    io,
    task::{Poll, Waker},
    time::Duration,
};

use crate::{net::parking::ParkedSocket, routing::registry::Via};
use axum::extract::ws::{self, WebSocket};
use bytes::{Bytes, BytesMut};
use tokio::{
    io::{AsyncReadExt, AsyncWrite, AsyncWriteExt},
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

/// `io` within `stall`, if there is a limit; past it, a `TimedOut` error.
/// Most writes finish at once: those set no timer.
async fn within<T>(
    stall: Option<Duration>,
    io: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let Some(limit) = stall else {
        return io.await;
    };
    let mut io = std::pin::pin!(io);
    if let Poll::Ready(done) = std::future::poll_fn(|cx| Poll::Ready(io.as_mut().poll(cx))).await {
        return done;
    }
    tokio::time::timeout(limit, io).await.unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the peer took no data for {limit:?} (--write-timeout)"),
        ))
    })
}

/// `write_all`, with `stall` as the limit for each partial write.
async fn write_all_within<W: AsyncWrite + Unpin + ?Sized>(
    stream: &mut W,
    mut bytes: &[u8],
    stall: Option<Duration>,
) -> io::Result<()> {
    while !bytes.is_empty() {
        match within(stall, stream.write(bytes)).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => bytes = &bytes[n..],
        }
    }
    Ok(())
}

/// A parked socket is unparked before any I/O; this is a broker bug.
fn parked() -> io::Error {
    io::Error::other("I/O on a parked socket")
}

/// A client's transport.
pub(crate) enum Transport {
    Tcp(TcpStream),
    /// A dormant connection's TCP socket, off tokio's reactor (see [`ParkedSocket`]).
    Parked(ParkedSocket),
    /// MQTT over TLS (`--tls`).
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// A client inside the broker (a bridge's local side): an in-memory pipe.
    Local(tokio::io::DuplexStream),
    /// MQTT over WebSocket, or over WSS when the HTTP listener has `--cert`.
    WebSocket(Box<WebSocket>),
}

impl Transport {
    /// Take a TCP socket off tokio's reactor and have `waker` woken when it is
    /// readable. False when it stays on the reactor (not TCP, or no lot).
    pub(crate) fn park(&mut self, waker: &Waker) -> bool {
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
    pub(crate) fn unpark(&mut self) -> io::Result<()> {
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
    pub(crate) async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
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
            Transport::Local(stream) => {
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

    /// Write bytes (one WebSocket frame) and flush. With a `stall` limit, a
    /// peer that takes no byte for that long fails the write with
    /// `TimedOut`: over TCP and TLS each partial write has the whole limit
    /// (a slow reader that keeps reading is not cut off), and so does TLS's
    /// final flush; a WebSocket frame has it once.
    pub(crate) async fn write(&mut self, bytes: Bytes, stall: Option<Duration>) -> io::Result<()> {
        match self {
            Transport::Tcp(stream) => write_all_within(stream, &bytes, stall).await,
            Transport::Parked(_) => Err(parked()),
            Transport::Tls(stream) => {
                write_all_within(stream.as_mut(), &bytes, stall).await?;
                within(stall, stream.flush()).await
            }
            Transport::Local(stream) => write_all_within(stream, &bytes, stall).await,
            Transport::WebSocket(socket) => {
                within(stall, async {
                    socket
                        .send(ws::Message::Binary(bytes))
                        .await
                        .map_err(io::Error::other)
                })
                .await
            }
        }
    }

    /// Close the transport politely where it has a way to.
    pub(crate) async fn close(&mut self) {
        match self {
            Transport::Tcp(stream) => {
                let _ = stream.shutdown().await;
            }
            Transport::Parked(_) => {}
            Transport::Local(stream) => {
                let _ = stream.shutdown().await;
            }
            Transport::Tls(stream) => {
                // close_notify, then FIN; bounded, the peer may not read.
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
            }
            Transport::WebSocket(socket) => {
                // Bounded: after a write timeout the peer takes nothing, and
                // the Close frame queues behind the unsent one.
                let close = socket.send(ws::Message::Close(None));
                let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
            }
        }
    }

    /// After [`Transport::close`]: read and discard what the peer still
    /// sends until it closes too, for at most `limit`. Closing a socket
    /// with unread data makes the kernel send a reset, and a reset can
    /// reach a client (one pipelining past its receive maximum, say)
    /// before it has read the DISCONNECT that said why.
    pub(crate) async fn linger(mut self, limit: Duration) {
        if matches!(self, Transport::Parked(_)) {
            return;
        }
        let deadline = tokio::time::Instant::now() + limit;
        let mut scrap = BytesMut::new();
        loop {
            scrap.clear();
            match tokio::time::timeout_at(deadline, self.read(&mut scrap)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
        }
    }

    /// "tcp" or "ws", for logs.
    pub(crate) fn kind(&self) -> &'static str {
        self.via().name()
    }

    /// Which kind of transport this is, for the clients view.
    pub(crate) fn via(&self) -> Via {
        match self {
            Transport::Tcp(_) | Transport::Parked(_) => Via::Tcp,
            Transport::Tls(_) => Via::Tls,
            Transport::Local(_) => Via::Local,
            Transport::WebSocket(_) => Via::Ws,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    const LIMIT: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn a_peer_that_takes_nothing_fails_the_write_after_the_limit() {
        // A pipe of 16 bytes that nobody reads.
        let (mut ours, _theirs) = tokio::io::duplex(16);
        let started = std::time::Instant::now();
        let err = write_all_within(&mut ours, &[7; 64], Some(LIMIT))
            .await
            .expect_err("nobody reads");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= LIMIT);
    }

    #[tokio::test]
    async fn a_slow_reader_that_keeps_reading_is_not_cut_off() {
        let (mut ours, mut theirs) = tokio::io::duplex(16);
        // 16 bytes every 100 ms: 64 bytes take about 300 ms in all, more
        // than the limit, but no single write waits 200 ms.
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = [0u8; 16];
            while got.len() < 64 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let n = theirs.read(&mut chunk).await.unwrap();
                got.extend_from_slice(&chunk[..n]);
            }
            got
        });
        write_all_within(&mut ours, &[7; 64], Some(LIMIT))
            .await
            .expect("a reader that keeps reading");
        assert_eq!(reader.await.unwrap(), [7; 64]);
    }

    #[tokio::test]
    async fn without_a_limit_the_write_waits() {
        let (mut ours, _theirs) = tokio::io::duplex(16);
        let waited = tokio::time::timeout(
            Duration::from_millis(300),
            write_all_within(&mut ours, &[7; 64], None),
        )
        .await;
        assert!(waited.is_err(), "still waiting after 300 ms");
    }
}
