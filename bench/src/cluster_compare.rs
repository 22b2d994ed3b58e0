//! `kite-bench compare --cluster`: QoS 0 and QoS 1 fan-in and fan-out with
//! publishers and subscribers on different nodes, on a 3-node Kite cluster,
//! a 3-node nats-server cluster speaking MQTT, and single-node Kite, all
//! started here in the same run. As in `compare`, every run gets a freshly
//! started system, and the system order rotates from step to step and round
//! to round so drift on a shared machine spreads over all of them.
//!
//! Placement: publisher `i` connects to node `1 + i % 2`, every subscriber
//! to node 3, so every message crosses from one node to another (on
//! single-node Kite everything is on its one node). MQTT 3.1.1 throughout:
//! nats-server's MQTT speaks nothing else.

use std::{
    sync::{atomic::AtomicU64, Arc},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    cluster::{ClusterBinaries, Started, System},
    error::BenchError,
    link::Endpoint,
    procstat,
    progress::{thousands, Progress},
    scenario::{Metrics, Shape, Traffic},
    traffic::{self, Live, Placement},
};

/// How long one run may take.
const LIMIT: Duration = Duration::from_secs(180);
/// Time for subscription interest to reach every server of a cluster.
const SETTLE: Duration = Duration::from_millis(500);

/// One step: a traffic run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterStep {
    pub id: String,
    pub title: String,
    pub traffic: Traffic,
}

/// How to compare.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub systems: Vec<System>,
    pub rounds: usize,
    /// Only the steps whose id contains one of these.
    pub only: Vec<String>,
    pub warmup_seconds: f64,
    pub seconds: f64,
    /// Publishers of the fan-in steps (one subscriber).
    pub fan_in_publishers: usize,
    /// Subscribers of the fan-out steps (one publisher).
    pub fan_out_subscribers: usize,
    pub binaries: ClusterBinaries,
}

impl ClusterOptions {
    /// A full run (`quick`: shorter runs) with every system, 64 B messages,
    /// fan-in 100→1 and fan-out 1→100.
    pub fn new(quick: bool, binaries: ClusterBinaries) -> ClusterOptions {
        ClusterOptions {
            systems: System::ALL.to_vec(),
            rounds: if quick { 1 } else { 3 },
            only: Vec::new(),
            warmup_seconds: if quick { 0.5 } else { 1.0 },
            seconds: if quick { 1.5 } else { 3.0 },
            fan_in_publishers: 100,
            fan_out_subscribers: 100,
            binaries,
        }
    }
}

/// The steps: fan-in and fan-out at QoS 0 and QoS 1.
pub fn plan(options: &ClusterOptions) -> Vec<ClusterStep> {
    let mut steps = Vec::new();
    for (shape, publishers, subscribers) in [
        (Shape::FanIn, options.fan_in_publishers, 1),
        (Shape::FanOut, 1, options.fan_out_subscribers),
    ] {
        for qos in [0, 1] {
            let mut t = Traffic::new(shape, publishers, subscribers, qos, 64);
            t.warmup_seconds = options.warmup_seconds;
            t.seconds = options.seconds;
            steps.push(ClusterStep {
                id: format!("{}-q{qos}", shape.name()),
                title: t.label(),
                traffic: t,
            });
        }
    }
    steps
        .into_iter()
        .filter(|s| options.only.is_empty() || options.only.iter().any(|o| s.id.contains(o)))
        .collect()
}

/// Where each client of a run on `started` connects: publishers over nodes
/// 1 and 2, subscribers on node 3 (one node: all on it).
pub fn placement(started: &Started) -> Placement {
    placement_over(&started.nodes, started.pids())
}

/// [`placement`] over `nodes`, metering `pids`.
fn placement_over(nodes: &[Endpoint], pids: Vec<u32>) -> Placement {
    let (publish, subscribe) = match nodes.len() {
        0..=2 => (nodes.to_vec(), nodes.to_vec()),
        n => (nodes[..n - 1].to_vec(), vec![nodes[n - 1].clone()]),
    };
    Placement {
        publish,
        subscribe,
        pids,
        far_pid: None,
        root: "kb".into(),
        settle: SETTLE,
    }
}

/// One run of one step on one system.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterRecord {
    pub id: String,
    pub system: System,
    pub round: usize,
    pub metrics: Option<Metrics>,
    /// CPU seconds of each process over the whole run (clients connecting
    /// and the drain included), by name: where the system's CPU went.
    #[serde(default)]
    pub processes: Vec<(String, f64)>,
    /// Why the run could not measure at all.
    pub error: Option<String>,
}

impl ClusterRecord {
    pub fn failure(&self) -> Option<String> {
        self.error
            .clone()
            .or_else(|| self.metrics.as_ref().and_then(|m| m.problem.clone()))
    }
}

/// A step on one system over its rounds: the median round by throughput
/// (the worse middle one when the count is even).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterCell {
    pub id: String,
    pub system: System,
    pub metrics: Option<Metrics>,
    /// A failure of any round.
    pub failure: Option<String>,
    /// Largest over smallest throughput among the rounds, minus one.
    pub spread: f64,
}

impl ClusterCell {
    /// The median throughput, when no round failed.
    pub fn rate(&self) -> Option<f64> {
        self.metrics
            .as_ref()
            .filter(|_| self.failure.is_none())
            .map(|m| m.msgs_per_s)
    }
}

/// Fold the rounds of each (step, system) into a cell.
pub fn cells(plan: &[ClusterStep], records: &[ClusterRecord]) -> Vec<ClusterCell> {
    let mut out = Vec::new();
    for step in plan {
        for system in System::ALL {
            let runs: Vec<&ClusterRecord> = records
                .iter()
                .filter(|r| r.id == step.id && r.system == system)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let mut good: Vec<&Metrics> = runs.iter().filter_map(|r| r.metrics.as_ref()).collect();
            good.sort_by(|a, b| a.msgs_per_s.total_cmp(&b.msgs_per_s));
            let spread = match (good.first(), good.last()) {
                (Some(lo), Some(hi)) if lo.msgs_per_s > 0.0 => hi.msgs_per_s / lo.msgs_per_s - 1.0,
                _ => 0.0,
            };
            out.push(ClusterCell {
                id: step.id.clone(),
                system,
                metrics: good
                    .get(good.len().saturating_sub(1) / 2)
                    .map(|m| (*m).clone()),
                failure: runs.iter().find_map(|r| r.failure()),
                spread,
            });
        }
    }
    out
}

/// The cell of `id` on `system`.
pub fn cell<'a>(cells: &'a [ClusterCell], id: &str, system: System) -> Option<&'a ClusterCell> {
    cells.iter().find(|c| c.id == id && c.system == system)
}

/// One step on one freshly started system.
async fn run_one(
    step: &ClusterStep,
    system: System,
    binaries: &ClusterBinaries,
    live: Live,
    processes: &mut Vec<(String, f64)>,
) -> Result<Metrics, BenchError> {
    let mut started = Started::start(system, binaries).await?;
    let placement = placement(&started);
    let cpu = |pid| procstat::cpu_seconds(pid).unwrap_or(0.0);
    let before: Vec<(String, u32, f64)> = started
        .processes()
        .into_iter()
        .map(|(name, pid)| (name, pid, cpu(pid)))
        .collect();
    let result =
        match tokio::time::timeout(LIMIT, traffic::run_placed(&placement, &step.traffic, live))
            .await
        {
            Ok(result) => result,
            Err(_) => Err(BenchError::timeout("the step to finish", LIMIT)),
        };
    *processes = before
        .into_iter()
        .map(|(name, pid, at)| (name, (cpu(pid) - at).max(0.0)))
        .collect();
    let crashed = !started.alive();
    let stopped = started.stop().await;
    match (result, crashed) {
        (_, true) => Err(BenchError::Broker {
            broker: system.name().into(),
            reason: "a process exited during the run".into(),
        }),
        (Ok(metrics), false) => stopped.map(|()| metrics),
        (Err(err), false) => Err(err),
    }
}

fn summary(metrics: &Metrics) -> String {
    let lat = metrics.latency_us.unwrap_or_default();
    let checks = match &metrics.problem {
        None => "ok".to_string(),
        Some(problem) => format!("FAILED: {problem}"),
    };
    format!(
        "{} msg/s, p50 {:.0} µs p99 {:.0} µs, all processes {:.2} µs/msg ({:.2} cores), bench {:.2} cores; {checks}",
        thousands(metrics.msgs_per_s),
        lat.p50,
        lat.p99,
        metrics.broker.cpu_us_per_unit,
        metrics.broker.cores,
        metrics.bench.cores
    )
}

/// Run the plan; returns it and every record.
pub async fn compare(options: &ClusterOptions) -> (Vec<ClusterStep>, Vec<ClusterRecord>) {
    let plan = plan(options);
    let systems = &options.systems;
    let live: Live = Arc::new(AtomicU64::new(0));
    let progress = Progress::new(plan.len() * systems.len() * options.rounds, live.clone());
    let mut records = Vec::new();
    for (s, step) in plan.iter().enumerate() {
        for round in 0..options.rounds {
            for k in 0..systems.len() {
                let system = systems[(s + round + k) % systems.len()];
                progress.begin(format!("{:<12} {}", system.name(), step.title), "msg");
                let mut processes = Vec::new();
                let outcome = run_one(
                    step,
                    system,
                    &options.binaries,
                    live.clone(),
                    &mut processes,
                )
                .await;
                let (metrics, error) = match outcome {
                    Ok(metrics) => {
                        progress.end(&summary(&metrics));
                        (Some(metrics), None)
                    }
                    Err(err) => {
                        progress.end(&format!("ERROR: {err}"));
                        (None, Some(err.to_string()))
                    }
                };
                records.push(ClusterRecord {
                    id: step.id.clone(),
                    system,
                    round,
                    metrics,
                    processes,
                    error,
                });
            }
        }
    }
    (plan, records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn options() -> ClusterOptions {
        ClusterOptions::new(
            false,
            ClusterBinaries {
                kite: PathBuf::new(),
                nats: PathBuf::new(),
            },
        )
    }

    #[test]
    fn the_plan_is_fan_in_and_fan_out_at_qos_0_and_1() {
        let ids: Vec<String> = plan(&options()).into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["fan-in-q0", "fan-in-q1", "fan-out-q0", "fan-out-q1"]);
        let mut only = options();
        only.only = vec!["q1".into()];
        let ids: Vec<String> = plan(&only).into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["fan-in-q1", "fan-out-q1"]);
    }

    #[test]
    fn publishers_and_subscribers_are_on_different_nodes() {
        let node = |port| Endpoint {
            tcp: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            ws: None,
        };
        let three = placement_over(&[node(1), node(2), node(3)], vec![7, 8]);
        let ports = |e: &[Endpoint]| e.iter().map(|e| e.tcp.port()).collect::<Vec<_>>();
        assert_eq!(ports(&three.publish), [1, 2]);
        assert_eq!(ports(&three.subscribe), [3]);
        assert_eq!(three.pids, [7, 8]);
        let one = placement_over(&[node(1)], vec![7]);
        assert_eq!(
            (ports(&one.publish), ports(&one.subscribe)),
            (vec![1], vec![1])
        );
    }

    fn record(id: &str, system: System, rate: f64, problem: Option<&str>) -> ClusterRecord {
        ClusterRecord {
            id: id.into(),
            system,
            round: 0,
            metrics: Some(Metrics {
                msgs_per_s: rate,
                problem: problem.map(str::to_string),
                ..Metrics::default()
            }),
            processes: Vec::new(),
            error: None,
        }
    }

    #[test]
    fn cells_take_the_median_round_and_keep_failures() {
        let plan = plan(&options());
        let records = vec![
            record("fan-in-q1", System::KiteCluster, 300.0, None),
            record("fan-in-q1", System::KiteCluster, 100.0, None),
            record("fan-in-q1", System::KiteCluster, 200.0, None),
            record("fan-in-q1", System::NatsMqtt, 50.0, Some("3 lost")),
        ];
        let cells = cells(&plan, &records);
        let kite = cell(&cells, "fan-in-q1", System::KiteCluster).unwrap();
        assert_eq!(kite.rate(), Some(200.0));
        assert!((kite.spread - 2.0).abs() < 1e-9);
        let nats = cell(&cells, "fan-in-q1", System::NatsMqtt).unwrap();
        assert_eq!(nats.rate(), None, "a failed run is not a measurement");
        assert!(cell(&cells, "fan-in-q0", System::Kite).is_none());
    }
}
