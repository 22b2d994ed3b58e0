//! One side's byte pipe: a reader task that hands what arrives to the
//! link, and a writer task that writes what the link hands it, so the link
//! never waits on a slow side while the other has something to say.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use bytes::Bytes;
use mqtt::client::ClientSession;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::mpsc,
    task::JoinHandle,
};

use super::remote::Stream;

/// One side's connection: its bytes in (a reader task) and out (a writer task).
pub(super) struct Pipe {
    pub(super) input: mpsc::Receiver<Bytes>,
    output: mpsc::UnboundedSender<Bytes>,
    /// Bytes handed to the writer and not yet written.
    pub(super) backlog: Arc<AtomicUsize>,
    reader: JoinHandle<()>,
}

impl Pipe {
    pub(super) fn new(stream: Box<dyn Stream>) -> Pipe {
        let (mut read, mut write) = tokio::io::split(stream);
        let (in_tx, input) = mpsc::channel::<Bytes>(64);
        let reader = tokio::spawn(async move {
            let mut buf = bytes::BytesMut::with_capacity(16 * 1024);
            loop {
                buf.reserve(16 * 1024);
                match read.read_buf(&mut buf).await {
                    Ok(n) if n > 0 => {
                        if in_tx.send(buf.split().freeze()).await.is_err() {
                            return;
                        }
                    }
                    // Closed or failed: the dropped sender says so.
                    _ => return,
                }
            }
        });
        let (output, mut out_rx) = mpsc::unbounded_channel::<Bytes>();
        let backlog = Arc::new(AtomicUsize::new(0));
        let left = backlog.clone();
        tokio::spawn(async move {
            while let Some(bytes) = out_rx.recv().await {
                let len = bytes.len();
                if write.write_all(&bytes).await.is_err() {
                    return;
                }
                left.fetch_sub(len, Ordering::Relaxed);
            }
            let _ = write.shutdown().await;
        });
        Pipe {
            input,
            output,
            backlog,
            reader,
        }
    }

    pub(super) fn send(&self, bytes: Bytes) {
        self.backlog.fetch_add(bytes.len(), Ordering::Relaxed);
        let _ = self.output.send(bytes);
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Hand what the session has to send to the pipe.
pub(super) fn flush(session: &mut ClientSession, pipe: &Pipe) {
    while let Some(bytes) = session.take_outgoing() {
        pipe.send(bytes);
    }
}
