//! `kite-bench`: load a running broker (`traffic`, `storm`, `idle`), or start
//! kite-server, Mosquitto and rumqttd in turn and compare them (`compare`).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    sync::{atomic::AtomicU64, Arc},
    time::Instant,
};

use clap::{Args, Parser, Subcommand};
use kite_bench::{
    brokers::{ensure_rumqttd, version, which, Binaries, BrokerKind},
    cluster::{ClusterBinaries, System},
    cluster_compare::ClusterOptions,
    cluster_report,
    compare::{self, Options},
    conns,
    link::{Endpoint, Transport},
    progress::thousands,
    raise_fd_limit,
    report::{self, BrokerInfo, Machine, Report},
    scenario::{Fault, Idle, Metrics, Shape, Storm, Traffic},
    store_engines,
    traffic::{self, Far, Target},
    BenchError,
};

#[derive(Parser)]
#[command(
    name = "kite-bench",
    version,
    about = "Load generator and broker comparison for Kite"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Publishers → broker → subscribers, every message checked on arrival.
    Traffic {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        traffic: TrafficArgs,
        #[command(flatten)]
        far: FarArgs,
        /// Print the metrics as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Open and close connections as fast as the broker takes them.
    Storm {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Connections being opened at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long)]
        json: bool,
    },
    /// Hold many idle connections; reads broker RSS with --broker-pid.
    Idle {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Seconds to hold them open.
        #[arg(long, default_value_t = 3.0)]
        hold: f64,
        #[arg(long)]
        json: bool,
    },
    /// Start each broker on loopback, run the same steps against each
    /// (interleaved), write Markdown, JSON and SVG under --out.
    Compare(CompareArgs),
    /// Kite's bridge beside Mosquitto's: compare's bridge steps only, QoS 1
    /// through each to a far Mosquitto on loopback, several rounds; writes
    /// under <out>/<quick|full>/.
    Bridge(BridgeArgs),
    /// Up to a million idle connections per broker, from several loopback
    /// source addresses: RSS and bytes per connection, kernel socket memory,
    /// connect rate, idle CPU, a broadcast to all and a ping sweep at each
    /// milestone (compare's `connections` step alone); writes under
    /// <out>/full/.
    Connections(ConnectionsArgs),
    /// The client side of `connections`: holds its share of the connections
    /// and answers the coordinator's commands on stdin (not for people).
    #[command(hide = true)]
    ManyWorker(kite_bench::many_worker::Share),
    /// The persistent queue's workload on several storage engines:
    /// throughput, CPU and disk writes per entry, recovery, a crash check;
    /// Markdown and JSON under --out (`make bench-store`).
    StoreEngines(store_engines::plan::Options),
    /// The crash check's child: rounds on one engine until killed (not for people).
    #[command(hide = true)]
    StoreEnginesChild(store_engines::crash::Child),
    /// Rebuild summary.md and the charts from a compare's results.json
    /// (next to it), e.g. after a change to the report.
    Report {
        /// The results.json a compare wrote.
        json: PathBuf,
    },
}

#[derive(Args)]
struct TargetArgs {
    /// The broker's MQTT-over-TCP address.
    #[arg(long, default_value = "127.0.0.1:1883")]
    tcp: SocketAddr,
    /// Its WebSocket URL, e.g. ws://127.0.0.1:8080/mqtt.
    #[arg(long)]
    ws: Option<String>,
    /// Its process id, for CPU time and RSS from /proc.
    #[arg(long)]
    broker_pid: Option<u32>,
}

impl TargetArgs {
    fn target(&self) -> Target {
        Target {
            endpoint: Endpoint {
                tcp: self.tcp,
                ws: self.ws.clone(),
            },
            pid: self.broker_pid,
        }
    }
}

/// A bridge run: the subscribers on the broker the target bridges to.
#[derive(Args)]
struct FarArgs {
    /// Subscribe on this broker (MQTT over TCP) instead of the target: the
    /// far end of a bridge from the target.
    #[arg(long)]
    far_tcp: Option<SocketAddr>,
    /// Its process id, for its CPU time.
    #[arg(long)]
    far_pid: Option<u32>,
    /// The topics are `<root>/...`: what the bridge carries.
    #[arg(long, default_value = "bench")]
    far_root: String,
}

impl FarArgs {
    fn far(&self) -> Option<Far> {
        Some(Far {
            target: Target {
                endpoint: Endpoint {
                    tcp: self.far_tcp?,
                    ws: None,
                },
                pid: self.far_pid,
            },
            root: self.far_root.clone(),
        })
    }
}

#[derive(Args)]
struct TrafficArgs {
    #[arg(long, value_enum, default_value_t = Shape::FanIn)]
    shape: Shape,
    #[arg(long, default_value_t = 100)]
    publishers: usize,
    /// Default: 1, or as many as publishers for pairs.
    #[arg(long)]
    subscribers: Option<usize>,
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    qos: u8,
    /// Payload bytes (16 to 65536 and more; 16 is the header).
    #[arg(long, default_value_t = 64)]
    size: usize,
    #[arg(long, value_enum, default_value_t = Transport::Tcp)]
    transport: Transport,
    /// Seconds of publishing, measured.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Seconds of publishing before that, not measured.
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// Messages per second, all publishers together (a latency run); default: as fast as possible.
    #[arg(long)]
    rate: Option<f64>,
    /// Subscribers keep a persistent session (clean session 0).
    #[arg(long)]
    persistent: bool,
    /// Deliveries in flight at most, all publishers together.
    #[arg(long, default_value_t = 8192)]
    window: usize,
    /// Unacknowledged QoS 1/2 publishes per publisher.
    #[arg(long, default_value_t = 100)]
    inflight: usize,
    /// Seconds deliveries may pause at the end before the missing are declared lost.
    #[arg(long, default_value_t = 5.0)]
    quiet: f64,
    /// Inject a fault to see the checks catch it.
    #[arg(long, value_enum)]
    inject: Option<Fault>,
}

impl TrafficArgs {
    fn traffic(&self) -> Traffic {
        let subscribers = self.subscribers.unwrap_or(match self.shape {
            Shape::Pairs => self.publishers,
            Shape::FanIn | Shape::FanOut => 1,
        });
        let mut t = Traffic::new(
            self.shape,
            self.publishers,
            subscribers,
            self.qos,
            self.size,
        );
        t.transport = self.transport;
        t.seconds = self.seconds;
        t.warmup_seconds = self.warmup;
        t.rate = self.rate;
        t.persistent = self.persistent;
        t.window = self.window;
        t.inflight = self.inflight;
        t.quiet_seconds = self.quiet;
        t.fault = self.inject;
        t
    }
}

#[derive(Args)]
struct CompareArgs {
    /// About a minute instead of about ten.
    #[arg(long)]
    quick: bool,
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [BrokerKind::Kite, BrokerKind::Mosquitto, BrokerKind::Rumqttd])]
    brokers: Vec<BrokerKind>,
    /// Rounds per step (default: 1 quick, 2 full).
    #[arg(long)]
    rounds: Option<usize>,
    /// Only the steps whose id contains this (repeatable): fan-in, latency, durability, …
    #[arg(long)]
    only: Vec<String>,
    /// Messages per second for latency steps (default: ½ of Mosquitto's peak).
    #[arg(long)]
    latency_rate: Option<f64>,
    /// Results folder; the run writes into <out>/<quick|full>/.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// kite-server binary (default: build target/release/kite-server first).
    #[arg(long)]
    kite_bin: Option<PathBuf>,
    /// Do not install rumqttd when missing.
    #[arg(long)]
    no_install: bool,
    /// Instead: a 3-node Kite cluster, a 3-node nats-server cluster's own
    /// MQTT and single-node Kite, publishers and subscribers on different
    /// nodes (issue #17); results in <out>/cluster/.
    #[arg(long)]
    cluster: bool,
    /// nats-server for --cluster (default: $KITE_NATS_SERVER, .venv/bin/nats-server, PATH).
    #[arg(long)]
    nats_bin: Option<PathBuf>,
    /// A whole run of its own (`bridge`): written to <out>/<mode>/ though
    /// it has only some steps and brokers.
    #[arg(skip)]
    whole: bool,
    /// `connections`: its spec instead of the full plan's.
    #[arg(skip)]
    connections: Option<kite_bench::scenario::Connections>,
}

#[derive(Args)]
struct BridgeArgs {
    /// Shorter runs, one round.
    #[arg(long)]
    quick: bool,
    /// Rounds (default: 1 quick, 5 full).
    #[arg(long)]
    rounds: Option<usize>,
    /// Results folder; the run writes into <out>/<quick|full>/.
    #[arg(long, default_value = "bench/results/bridge")]
    out: PathBuf,
    /// kite-server binary (default: build target/release/kite-server first).
    #[arg(long)]
    kite_bin: Option<PathBuf>,
}

impl BridgeArgs {
    fn compare(self) -> CompareArgs {
        CompareArgs {
            quick: self.quick,
            brokers: vec![BrokerKind::Kite, BrokerKind::Mosquitto],
            rounds: Some(self.rounds.unwrap_or(if self.quick { 1 } else { 5 })),
            only: vec!["bridge".into()],
            latency_rate: None,
            out: self.out,
            kite_bin: self.kite_bin,
            no_install: true,
            cluster: false,
            nats_bin: None,
            whole: true,
            connections: None,
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn kite_binary(args: &CompareArgs) -> Result<PathBuf, BenchError> {
    if let Some(bin) = &args.kite_bin {
        // The broker runs in a folder of its own: make the path absolute.
        return bin
            .canonicalize()
            .map_err(|err| BenchError::Usage(format!("{}: {err}", bin.display())));
    }
    let root = workspace_root();
    eprintln!("kite-bench: cargo build --release -p kite-server");
    let status = Command::new("cargo")
        .args(["build", "--release", "-p", "kite-server"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        return Err(BenchError::Usage(format!(
            "building kite-server failed ({status})"
        )));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release/kite-server"))
}

/// "git 1a2b3c4" (with "+ uncommitted changes" when the tree is dirty).
fn git_revision() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(workspace_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        None => "git revision unknown".into(),
        Some(rev) => {
            let dirty = git(&["status", "--porcelain", "--", "server", "mqtt"])
                .is_some_and(|s| !s.is_empty());
            format!(
                "git {rev}{}",
                if dirty { " + uncommitted changes" } else { "" }
            )
        }
    }
}

fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

async fn run_compare(args: CompareArgs) -> Result<ExitCode, BenchError> {
    if cfg!(debug_assertions) {
        eprintln!("kite-bench: WARNING: a debug build of kite-bench; measure with `cargo run --release -p kite-bench`");
    }
    if args.cluster {
        return run_cluster(args).await;
    }
    let needs = |b| args.brokers.contains(&b);
    let missing = |name: &str| BenchError::Usage(format!("{name} not found (make bench-setup)"));
    let binaries = Binaries {
        kite: if needs(BrokerKind::Kite) {
            kite_binary(&args)?
        } else {
            PathBuf::new()
        },
        // Kite's bridge steps use a far Mosquitto even when Mosquitto is
        // not among the brokers compared.
        mosquitto: match which("mosquitto") {
            Some(path) => path,
            None if needs(BrokerKind::Mosquitto) => return Err(missing("mosquitto")),
            None => PathBuf::new(),
        },
        rumqttd: if needs(BrokerKind::Rumqttd) {
            ensure_rumqttd(!args.no_install)?
        } else {
            PathBuf::new()
        },
    };
    let mode = if args.quick { "quick" } else { "full" };
    let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 2 }).max(1);
    let brokers: Vec<BrokerInfo> = args
        .brokers
        .iter()
        .map(|b| BrokerInfo {
            broker: *b,
            version: match b {
                BrokerKind::Kite => format!("{} ({})", version(*b, &binaries), git_revision()),
                _ => version(*b, &binaries),
            },
        })
        .collect();
    let load_before = Machine::load();
    let started_utc = utc_now();
    let started = Instant::now();
    let options = Options {
        quick: args.quick,
        brokers: args.brokers.clone(),
        rounds,
        only: args.only.clone(),
        latency_rate: args.latency_rate,
        binaries,
        connections: args.connections.clone(),
    };
    let (plan, records) = compare::compare(&options).await;
    let machine = Machine {
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
        load_before,
        load_after: Machine::load(),
    };
    let command = std::iter::once("kite-bench".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let report = Report::new(
        mode,
        command,
        started_utc,
        started.elapsed().as_secs_f64(),
        rounds,
        machine,
        brokers,
        plan,
        records,
    );
    let partial = !args.whole && (!args.only.is_empty() || args.brokers.len() < 3);
    let dir = args.out.join(if partial {
        format!("{mode}-partial")
    } else {
        mode.to_string()
    });
    report::write(&report, &dir)?;
    println!("{}", report::markdown(&report));
    eprintln!(
        "kite-bench: wrote {}/summary.md, results.json and charts",
        dir.display()
    );
    // Every failed run is in the report; kite-server's fail the command.
    let failures = report.failures();
    for f in &failures {
        eprintln!("kite-bench: FAILED: {f}");
    }
    let kite_failed = report
        .records
        .iter()
        .any(|r| r.broker == BrokerKind::Kite && r.failure().is_some());
    Ok(if kite_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `compare --cluster`.
async fn run_cluster(args: CompareArgs) -> Result<ExitCode, BenchError> {
    let nats = match args.nats_bin.clone() {
        Some(path) => path,
        None => std::env::var_os("KITE_NATS_SERVER")
            .map(PathBuf::from)
            .or_else(|| {
                Some(workspace_root().join(".venv/bin/nats-server")).filter(|p| p.is_file())
            })
            .or_else(|| which("nats-server"))
            .ok_or_else(|| BenchError::Usage("nats-server not found (make setup)".into()))?,
    };
    let binaries = ClusterBinaries {
        kite: kite_binary(&args)?,
        nats,
    };
    let mut options = ClusterOptions::new(args.quick, binaries);
    if let Some(rounds) = args.rounds {
        options.rounds = rounds.max(1);
    }
    options.only = args.only.clone();
    let command = std::iter::once("kite-bench".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let report = cluster_report::run(&options, command).await;
    let mut dir = args.out.join("cluster");
    if args.quick {
        dir = dir.join("quick");
    }
    if !args.only.is_empty() {
        dir = dir.join("partial");
    }
    cluster_report::write(&report, &dir)?;
    println!("{}", cluster_report::markdown(&report));
    eprintln!(
        "kite-bench: wrote {}/summary.md, results.json and charts",
        dir.display()
    );
    for f in report.failures() {
        eprintln!("kite-bench: FAILED: {f}");
    }
    let kite_failed = report
        .records
        .iter()
        .any(|r| r.system != System::NatsMqtt && r.failure().is_some());
    Ok(if kite_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_single(label: &str, metrics: &Metrics, json: bool) -> Result<ExitCode, BenchError> {
    if json {
        println!("{}", serde_json::to_string_pretty(metrics)?);
    }
    let l = metrics.latency_us.unwrap_or_default();
    eprintln!("{label}");
    if let Some(c) = metrics.connects_per_s {
        eprintln!("  {} connections/s", thousands(c));
    }
    if let Some(idle) = metrics.idle {
        eprintln!(
            "  {} idle connections ({} alive at the end): broker RSS {} → {} KiB, {:.0} B per connection",
            idle.connections, idle.alive, idle.rss_before_kib, idle.rss_after_kib, idle.bytes_per_connection
        );
    }
    if metrics.msgs_per_s > 0.0 {
        eprintln!(
            "  {} msg/s, {:.2} MB/s ({} sent, {} delivered intact in {:.2} s)",
            thousands(metrics.msgs_per_s),
            metrics.mb_per_s,
            metrics.sent,
            metrics.delivered,
            metrics.seconds
        );
    }
    if metrics.latency_us.is_some() {
        eprintln!(
            "  latency µs: p50 {:.0}, p90 {:.0}, p99 {:.0}, p99.9 {:.0}, max {:.0}",
            l.p50, l.p90, l.p99, l.p999, l.max
        );
    }
    if let Some(far) = metrics.far {
        eprintln!(
            "  far broker: {:.3} CPU s ({:.2} cores, {:.2} µs per message)",
            far.cpu_s, far.cores, far.cpu_us_per_unit
        );
    }
    eprintln!(
        "  broker: {:.3} CPU s ({:.2} cores, {:.2} µs per unit), RSS {} KiB; bench: {:.2} cores",
        metrics.broker.cpu_s,
        metrics.broker.cores,
        metrics.broker.cpu_us_per_unit,
        metrics.rss_kib,
        metrics.bench.cores
    );
    match &metrics.problem {
        None => {
            eprintln!("  checks: ok");
            Ok(ExitCode::SUCCESS)
        }
        Some(problem) => {
            eprintln!("  checks: FAILED: {problem}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, BenchError> {
    let live = Arc::new(AtomicU64::new(0));
    match cli.command {
        Cmd::Traffic {
            target,
            traffic,
            far,
            json,
        } => {
            let spec = traffic.traffic();
            let metrics =
                traffic::run_to(&target.target(), far.far().as_ref(), &spec, live).await?;
            print_single(&spec.label(), &metrics, json)
        }
        Cmd::Storm {
            target,
            seconds,
            concurrency,
            json,
        } => {
            let spec = Storm {
                seconds,
                concurrency,
                max_connections: 1_000_000,
            };
            let metrics = conns::storm(&target.target(), &spec, live).await?;
            print_single("connection storm", &metrics, json)
        }
        Cmd::Idle {
            target,
            connections,
            hold,
            json,
        } => {
            let spec = Idle {
                connections,
                hold_seconds: hold,
                concurrency: 64,
            };
            let metrics = conns::idle(&target.target(), &spec, live).await?;
            print_single("idle connections", &metrics, json)
        }
        Cmd::Compare(args) => run_compare(args).await,
        Cmd::Bridge(args) => run_compare(args.compare()).await,
        Cmd::Connections(args) => run_compare(args.compare()).await,
        Cmd::ManyWorker(share) => {
            kite_bench::many_worker::serve(share).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::StoreEngines(_) | Cmd::StoreEnginesChild(_) => {
            unreachable!("main runs the store engines before starting the runtime")
        }
        Cmd::Report { json } => {
            let text = std::fs::read_to_string(&json)?;
            let old: Report = serde_json::from_str(&text)?;
            let report = Report::new(
                &old.mode,
                old.command,
                old.started_utc,
                old.seconds,
                old.rounds,
                old.machine,
                old.brokers,
                old.plan,
                old.records,
            );
            let dir = json.parent().unwrap_or(Path::new("."));
            report::write(&report, dir)?;
            println!("{}", report::markdown(&report));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The store engines run on this thread, outside any runtime: Kite's
    // store row drives tickets on a runtime of its own.
    let engines = match &cli.command {
        Cmd::StoreEngines(options) => Some(store_engines::plan::run(options).map(drop)),
        Cmd::StoreEnginesChild(child) => Some(store_engines::crash::child(child)),
        _ => None,
    };
    if let Some(result) = engines {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("kite-bench: {err}");
                ExitCode::FAILURE
            }
        };
    }
    raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("kite-bench: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("kite-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Args)]
struct ConnectionsArgs {
    /// Connections to reach (capped at what the broker's open-file limit leaves).
    #[arg(long, default_value_t = 1_000_000)]
    target: usize,
    /// Counts to measure at on the way.
    #[arg(long, value_delimiter = ',', default_values_t = kite_bench::many_step::spec().milestones)]
    milestones: Vec<usize>,
    /// Connections being opened at once, all worker processes together.
    #[arg(long, default_value_t = 512)]
    concurrency: usize,
    /// Stop a broker whose RSS passes this many MiB.
    #[arg(long, default_value_t = 4096)]
    rss_cap_mib: u64,
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [BrokerKind::Kite, BrokerKind::Mosquitto, BrokerKind::Rumqttd])]
    brokers: Vec<BrokerKind>,
    /// Rounds per broker.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// kite-server binary (default: build target/release/kite-server first).
    #[arg(long)]
    kite_bin: Option<PathBuf>,
    /// Results folder; the run writes into <out>/full/.
    #[arg(long, default_value = "bench/results/connections")]
    out: PathBuf,
}

impl ConnectionsArgs {
    fn compare(self) -> CompareArgs {
        CompareArgs {
            quick: false,
            brokers: self.brokers,
            rounds: Some(self.rounds),
            only: vec![kite_bench::many_step::ID.into()],
            latency_rate: None,
            out: self.out,
            kite_bin: self.kite_bin,
            no_install: false,
            cluster: false,
            nats_bin: None,
            whole: true,
            connections: Some(kite_bench::scenario::Connections {
                target: self.target,
                milestones: self.milestones,
                concurrency: self.concurrency,
                rss_cap_mib: self.rss_cap_mib,
            }),
        }
    }
}
