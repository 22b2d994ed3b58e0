//! Smoke test of the harness (`make test` runs it through `cargo test`): the
//! real broker in-process on free loopback ports, a second of each kind of
//! run, and proof that the arrival checks catch a deliberately dropped and a
//! deliberately corrupted message.

use std::{
    net::SocketAddr,
    sync::{atomic::AtomicU64, Arc},
    time::Duration,
};

use clap::Parser;
use kite_bench::{
    conns,
    link::{Endpoint, Transport},
    scenario::{Fault, Idle, Metrics, Shape, Storm, Traffic},
    traffic::{self, Target},
};
use tokio::sync::oneshot;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// kite-server running in this process.
struct Broker {
    target: Target,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    data: std::path::PathBuf,
}

impl Broker {
    async fn start() -> Broker {
        let (tcp, http) = (free_port(), free_port());
        let data =
            std::env::temp_dir().join(format!("kite-bench-smoke-{}-{tcp}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let config = kite_server::Config::parse_from([
            "kite-server".to_string(),
            format!("--tcp=127.0.0.1:{tcp}"),
            format!("--http=127.0.0.1:{http}"),
            format!("--data-dir={}", data.display()),
            "--sys-interval=0".into(),
            "--dashboard-dir=/nonexistent".into(),
            // As `compare` starts it: room for the load generator's window.
            "--max-queued-messages=100000".into(),
        ]);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = kite_server::Broker::new(config)
                .run(async {
                    let _ = stopped.await;
                })
                .await;
        });
        for port in [tcp, http] {
            for _ in 0..500 {
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let target = Target {
            endpoint: Endpoint {
                tcp: SocketAddr::from(([127, 0, 0, 1], tcp)),
                ws: Some(format!("ws://127.0.0.1:{http}/mqtt")),
            },
            pid: Some(std::process::id()),
        };
        Broker {
            target,
            stop,
            task,
            data,
        }
    }

    /// Stop it and remove its data folder.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn short(shape: Shape, publishers: usize, subscribers: usize, qos: u8) -> Traffic {
    let mut t = Traffic::new(shape, publishers, subscribers, qos, 64);
    t.warmup_seconds = 0.1;
    t.seconds = 0.3;
    t.quiet_seconds = 0.5;
    t
}

async fn run(target: &Target, spec: &Traffic) -> Metrics {
    let live = Arc::new(AtomicU64::new(0));
    tokio::time::timeout(Duration::from_secs(30), traffic::run(target, spec, live))
        .await
        .unwrap_or_else(|_| panic!("{} timed out", spec.label()))
        .unwrap_or_else(|err| panic!("{}: {err}", spec.label()))
}

fn assert_clean(spec: &Traffic, m: &Metrics) {
    let counts = m.counts.expect("counts");
    assert!(m.ok(), "{}: {:?}", spec.label(), m.problem);
    assert!(counts.is_clean(), "{}: {counts:?}", spec.label());
    assert!(m.delivered > 0, "{}: nothing delivered", spec.label());
    assert_eq!(
        m.delivered,
        m.sent * spec.fanout() as u64,
        "{}: every message delivered to every subscriber",
        spec.label()
    );
    assert!(m.latency_us.is_some_and(|l| l.p50 > 0.0));
}

/// The tests share this process's open-file limit: one at a time.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_measures_and_catches_lost_and_corrupt_messages() {
    let _alone = ALONE.lock().await;
    let broker = Broker::start().await;
    let target = broker.target.clone();

    // Each shape, each QoS, both transports, a fixed rate, 64 KiB payloads.
    let mut specs = vec![
        short(Shape::FanIn, 4, 1, 0),
        short(Shape::FanIn, 4, 1, 1),
        short(Shape::FanIn, 4, 1, 2),
        short(Shape::FanOut, 1, 5, 1),
        short(Shape::Pairs, 3, 3, 2),
    ];
    let mut ws = short(Shape::FanIn, 3, 2, 1);
    ws.transport = Transport::Ws;
    specs.push(ws);
    let mut paced = short(Shape::FanIn, 2, 1, 0);
    paced.rate = Some(2000.0);
    specs.push(paced);
    let mut big = short(Shape::Pairs, 2, 2, 1);
    big.size = 64 * 1024;
    specs.push(big);
    let mut persistent = short(Shape::FanIn, 2, 1, 1);
    persistent.persistent = true;
    specs.push(persistent);
    for spec in &specs {
        let m = run(&target, spec).await;
        assert_clean(spec, &m);
    }

    // A message the publisher counts as sent but never sends: reported lost.
    let mut dropped = short(Shape::FanIn, 2, 1, 1);
    dropped.fault = Some(Fault::Drop);
    let m = run(&target, &dropped).await;
    let counts = m.counts.expect("counts");
    assert_eq!(counts.lost, 1, "{counts:?}");
    assert_eq!(counts.corrupt + counts.out_of_order + counts.misrouted, 0);
    assert!(!m.ok());
    assert!(m.problem.as_deref().unwrap_or_default().contains("1 lost"));

    // A byte flipped after the checksum: reported corrupt.
    let mut corrupted = short(Shape::FanIn, 2, 1, 0);
    corrupted.fault = Some(Fault::Corrupt);
    let m = run(&target, &corrupted).await;
    let counts = m.counts.expect("counts");
    assert_eq!(counts.corrupt, 1, "{counts:?}");
    assert!(!m.ok());

    // Connection storm and idle connections.
    let live = Arc::new(AtomicU64::new(0));
    let storm = Storm {
        seconds: 0.3,
        concurrency: 4,
        max_connections: 200,
    };
    let m = conns::storm(&target, &storm, live.clone()).await.unwrap();
    assert!(m.ok(), "{:?}", m.problem);
    assert!(m.connects_per_s.unwrap_or(0.0) > 0.0);
    let idle = Idle {
        connections: 50,
        hold_seconds: 0.1,
        concurrency: 8,
    };
    let m = conns::idle(&target, &idle, live).await.unwrap();
    assert!(m.ok(), "{:?}", m.problem);
    assert_eq!(m.idle.expect("idle memory").alive, 50);
    broker.stop().await;
}

/// `make test`'s check of `kite-bench connections` (compare's
/// `connections` step, the million-connection run): idle connections from
/// several loopback source addresses, each subscribed to its own topic and a
/// shared one; at each milestone a broadcast reaches every one and every
/// PINGREQ is answered.
///
/// The connections live in `kite-bench many-worker` processes, so the cap is
/// the broker's own open-file limit, this process's: 20,000 here, and no
/// raising it without CAP_SYS_RESOURCE. Less what it already has open
/// (listeners, the workers' pipes, the harness's files) and 16 kept for the
/// broadcast's publisher and the broker's own files, that leaves about
/// 19,950: exactly 20,000 connections would need a limit above 20,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_connections_from_several_source_addresses() {
    // Alone: the other test's sockets would take from the same limit.
    let _alone = ALONE.lock().await;
    let broker = Broker::start().await;
    let plan = kite_bench::many::Plan {
        broker: broker.target.endpoint.tcp,
        pid: Some(std::process::id()),
        spec: kite_bench::scenario::Connections {
            target: 20_000,
            milestones: vec![5_000],
            concurrency: 512,
            rss_cap_mib: u64::MAX,
        },
        keep_alive: 600,
        // Four source addresses at least.
        per_source: 5_000,
        worker: env!("CARGO_BIN_EXE_kite-bench").into(),
    };
    let started = std::time::Instant::now();
    let held = kite_bench::many::run(&plan, |m| {
        println!("{}", m.row("kite (in-process)"));
    })
    .await;
    println!(
        "{} connections from {} source addresses by {} workers in {:.1} s; capped: {:?}",
        held.target,
        held.sources,
        held.workers,
        started.elapsed().as_secs_f64(),
        held.capped
    );
    assert_eq!(held.stopped, None, "{held:?}");
    // As many as the limit allows, and the reason when that is under 20,000.
    let limit = usize::try_from(held.broker_fd_limit).unwrap_or(usize::MAX);
    assert!(
        held.target >= 20_000.min(limit.saturating_sub(100)),
        "{held:?}"
    );
    assert_eq!(held.capped.is_some(), held.target < 20_000, "{held:?}");
    assert!(held.sources >= 4 && held.workers >= 2, "{held:?}");
    let counts: Vec<usize> = held.milestones.iter().map(|m| m.connections).collect();
    assert_eq!(counts, [5_000, held.target]);
    for m in &held.milestones {
        assert_eq!(m.broadcast_delivered, m.connections, "{m:?}");
        assert_eq!(m.pongs, m.connections, "{m:?}");
        assert!(m.tcp_sockets >= m.connections as u64, "{m:?}");
        assert!(m.broker_rss_kib > 0 && m.connects_per_s > 0.0, "{m:?}");
        assert!(m.bytes_per_connection > 0.0, "{m:?}");
    }
    broker.stop().await;
}
