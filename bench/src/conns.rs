//! Connection runs: a storm of short connections (connects per second) and
//! many idle ones held open (broker memory per connection). Both speak MQTT
//! over plain TCP straight from the task, without [`crate::link::Link`]'s
//! writer task: these connections only ever exchange a few small packets.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::SeqCst},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::BytesMut;
use futures_util::{stream, StreamExt, TryStreamExt};
use mqtt::{
    client::{ClientEvent, ClientSession},
    QoS,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{sleep, timeout, Instant},
};

use crate::{
    check::histogram,
    error::BenchError,
    link::{client_options, HANDSHAKE},
    procstat::{self, Meter},
    scenario::{Idle, IdleMemory, Metrics, Percentiles, Storm},
    traffic::{unique_tag, Live, Target},
};

/// A bare MQTT connection.
struct Bare {
    stream: TcpStream,
    session: ClientSession,
    buf: BytesMut,
}

impl Bare {
    async fn open(target: &Target, client_id: String) -> Result<Bare, BenchError> {
        let addr = target.endpoint.tcp;
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| BenchError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        stream.set_nodelay(true)?;
        let mut bare = Bare {
            stream,
            session: ClientSession::new(client_options(client_id, true)),
            buf: BytesMut::with_capacity(256),
        };
        bare.session.connect(0)?;
        bare.flush().await?;
        bare.until(|e| matches!(e, ClientEvent::Connected { .. }))
            .await?;
        Ok(bare)
    }

    async fn flush(&mut self) -> Result<(), BenchError> {
        if let Some(bytes) = self.session.take_outgoing() {
            self.stream.write_all(&bytes).await?;
        }
        Ok(())
    }

    /// Read until an event matching `wanted` arrives.
    async fn until(&mut self, wanted: impl Fn(&ClientEvent) -> bool) -> Result<(), BenchError> {
        loop {
            self.buf.clear();
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(BenchError::Closed("end of stream".into()));
            }
            let events = self.session.receive(&self.buf, 0)?;
            self.flush().await?;
            for event in events {
                if let ClientEvent::Disconnected { reason } = event {
                    return Err(BenchError::Closed(format!("DISCONNECT {reason:?}")));
                }
                if wanted(&event) {
                    return Ok(());
                }
            }
        }
    }

    async fn subscribe(&mut self, filter: &str) -> Result<(), BenchError> {
        self.session.subscribe(&[(filter, QoS::AtLeastOnce)], 0)?;
        self.flush().await?;
        self.until(|e| matches!(e, ClientEvent::Subscribed { .. }))
            .await
    }

    /// PINGREQ, and wait for PINGRESP.
    async fn ping(&mut self) -> Result<(), BenchError> {
        self.stream.write_all(&[0xC0, 0x00]).await?;
        self.until(|e| matches!(e, ClientEvent::PingResponse)).await
    }

    async fn close(mut self) {
        if self.session.disconnect(0).is_ok() {
            let _ = self.flush().await;
        }
        let _ = self.stream.shutdown().await;
    }
}

/// Open and close connections for `spec.seconds`.
pub async fn storm(target: &Target, spec: &Storm, live: Live) -> Result<Metrics, BenchError> {
    let tag = unique_tag();
    live.store(0, SeqCst);
    let started = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let broker_meter = Meter::start(target.pid);
    let bench_meter = Meter::start(Some(std::process::id()));
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(spec.seconds);
    let workers: Vec<_> = (0..spec.concurrency.max(1))
        .map(|w| {
            let (target, tag, live) = (target.clone(), tag.clone(), live.clone());
            let (started, failed, first_error) =
                (started.clone(), failed.clone(), first_error.clone());
            let max = spec.max_connections;
            tokio::spawn(async move {
                let mut latency = histogram();
                let mut n = 0u64;
                while Instant::now() < deadline && started.fetch_add(1, SeqCst) < max {
                    let begin = Instant::now();
                    let id = format!("kb-{tag}-c{w}-{n}");
                    n += 1;
                    match timeout(HANDSHAKE, Bare::open(&target, id)).await {
                        Ok(Ok(bare)) => {
                            let _ = latency.record(begin.elapsed().as_micros().max(1) as u64);
                            bare.close().await;
                            live.fetch_add(1, SeqCst);
                        }
                        Ok(Err(err)) => {
                            failed.fetch_add(1, SeqCst);
                            first_error.lock().unwrap().get_or_insert(err.to_string());
                        }
                        Err(_) => {
                            failed.fetch_add(1, SeqCst);
                            first_error
                                .lock()
                                .unwrap()
                                .get_or_insert("CONNACK timed out".into());
                        }
                    }
                }
                latency
            })
        })
        .collect();
    let mut latency = histogram();
    for worker in workers {
        let _ = latency.add(&worker.await?);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let connected = live.load(SeqCst);
    let failed = failed.load(SeqCst);
    let problem = (failed > 0).then(|| {
        format!(
            "{failed} connections failed (first: {})",
            first_error.lock().unwrap().clone().unwrap_or_default()
        )
    });
    Ok(Metrics {
        seconds,
        sent: connected + failed,
        delivered: connected,
        msgs_per_s: 0.0,
        mb_per_s: 0.0,
        latency_us: Percentiles::of(&latency),
        counts: None,
        broker: broker_meter.stop(connected),
        far: None,
        bench: bench_meter.stop(connected),
        rss_kib: target
            .pid
            .and_then(|p| procstat::rss_kib(p).ok())
            .unwrap_or(0),
        peak_rss_kib: target
            .pid
            .and_then(|p| procstat::peak_rss_kib(p).ok())
            .unwrap_or(0),
        connects_per_s: Some(connected as f64 / seconds),
        idle: None,
        held: None,
        problem,
    })
}

/// Open `spec.connections` connections, each with one subscription, hold
/// them, check they all still answer, close them. Broker RSS is read before
/// and after opening.
pub async fn idle(target: &Target, spec: &Idle, live: Live) -> Result<Metrics, BenchError> {
    let tag = unique_tag();
    live.store(0, SeqCst);
    let rss = |pid: Option<u32>| pid.and_then(|p| procstat::rss_kib(p).ok()).unwrap_or(0);
    let rss_before_kib = rss(target.pid);
    let bench_meter = Meter::start(Some(std::process::id()));
    let t0 = Instant::now();
    let mut connections: Vec<Bare> = stream::iter(0..spec.connections)
        .map(|i| {
            let (tag, live) = (tag.clone(), live.clone());
            async move {
                let open = async {
                    let mut bare = Bare::open(target, format!("kb-{tag}-i{i}")).await?;
                    bare.subscribe(&format!("kb/{tag}/idle/{i}")).await?;
                    Ok::<_, BenchError>(bare)
                };
                let bare = timeout(HANDSHAKE, open)
                    .await
                    .map_err(|_| BenchError::timeout("CONNACK and SUBACK", HANDSHAKE))??;
                live.fetch_add(1, SeqCst);
                Ok::<_, BenchError>(bare)
            }
        })
        .buffer_unordered(spec.concurrency.max(1))
        .try_collect()
        .await?;
    let open_seconds = t0.elapsed().as_secs_f64();
    let bench = bench_meter.stop(connections.len() as u64);
    // Let the broker settle (allocations made lazily after CONNACK, etc.).
    sleep(Duration::from_millis(500)).await;
    let rss_after_kib = rss(target.pid);
    let idle_meter = Meter::start(target.pid);
    sleep(Duration::from_secs_f64(spec.hold_seconds)).await;
    let idle_use = idle_meter.stop(0);
    let peak_rss_kib = target
        .pid
        .and_then(|p| procstat::peak_rss_kib(p).ok())
        .unwrap_or(0);
    let alive = stream::iter(connections.iter_mut())
        .map(|bare| async move {
            timeout(HANDSHAKE, bare.ping())
                .await
                .is_ok_and(|r| r.is_ok())
        })
        .buffer_unordered(256)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let n = connections.len();
    stream::iter(connections)
        .for_each_concurrent(256, Bare::close)
        .await;
    let problem = (alive < n).then(|| {
        format!(
            "{} of {n} idle connections did not answer PINGREQ",
            n - alive
        )
    });
    Ok(Metrics {
        seconds: open_seconds,
        sent: n as u64,
        delivered: alive as u64,
        msgs_per_s: 0.0,
        mb_per_s: 0.0,
        latency_us: None,
        counts: None,
        broker: idle_use,
        far: None,
        bench,
        rss_kib: rss_after_kib,
        peak_rss_kib,
        connects_per_s: Some(n as f64 / open_seconds),
        idle: Some(IdleMemory {
            connections: n,
            rss_before_kib,
            rss_after_kib,
            bytes_per_connection: (rss_after_kib.saturating_sub(rss_before_kib) * 1024) as f64
                / n.max(1) as f64,
            idle_cores: idle_use.cores,
            alive,
        }),
        held: None,
        problem,
    })
}
