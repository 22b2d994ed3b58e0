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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_measures_and_catches_lost_and_corrupt_messages() {
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

/// `make test`'s check of `kite-bench connections` (the million-connection
/// run's code path): idle connections from several loopback source
/// addresses, each subscribed to its own topic and a shared one; at each
/// milestone a broadcast reaches every one and every PINGREQ is answered.
/// Both ends live in this process, so its open-file limit (20,000 here,
/// and no raising it without CAP_SYS_RESOURCE) holds 9,000 connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_connections_from_several_source_addresses() {
    let broker = Broker::start().await;
    let plan = kite_bench::many::Plan {
        broker: broker.target.endpoint.tcp,
        pid: Some(std::process::id()),
        target: 9_000,
        milestones: vec![3_000],
        concurrency: 256,
        keep_alive: 600,
        // Three source addresses.
        per_source: 4_000,
    };
    let outcome = kite_bench::many::run(&plan, |m| {
        println!("{}", m.row("kite (in-process)"));
    })
    .await;
    assert_eq!(outcome.stopped, None, "{outcome:?}");
    let counts: Vec<usize> = outcome.milestones.iter().map(|m| m.connections).collect();
    assert_eq!(counts, [3_000, 9_000]);
    for m in &outcome.milestones {
        assert_eq!(m.broadcast_delivered, m.connections, "{m:?}");
        assert_eq!(m.pongs, m.connections, "{m:?}");
        assert!(m.tcp_sockets >= m.connections as u64, "{m:?}");
        assert!(m.broker_rss_kib > 0 && m.connects_per_s > 0.0, "{m:?}");
    }
    broker.stop().await;
}
