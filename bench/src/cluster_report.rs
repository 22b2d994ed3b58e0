//! The results of `compare --cluster`: the goals checked, a Markdown table,
//! SVG charts and the JSON of every run, written to `bench/results/cluster/`.

use std::{fmt::Write as _, fs, path::Path};

use serde::{Deserialize, Serialize};

use crate::{
    cluster::{version, System},
    cluster_compare::{
        cell, cells, compare, ClusterCell, ClusterOptions, ClusterRecord, ClusterStep,
    },
    error::BenchError,
    progress::thousands,
    report::Machine,
    scenario::Metrics,
    svg::{bar_chart, Group},
};

/// One goal of the issue, checked on one step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Goal {
    pub step: String,
    /// "nats-mqtt" or "kite".
    pub versus: System,
    pub ratio: Option<f64>,
    pub at_least: f64,
    /// `None`: could not be decided (a run failed or a system was left out).
    pub met: Option<bool>,
}

/// Everything a cluster comparison produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterReport {
    pub command: String,
    pub started_utc: String,
    pub seconds: f64,
    pub rounds: usize,
    pub machine: Machine,
    /// Other work seen on the machine (compilers running) before and after.
    pub neighbours: String,
    /// Each system and the versions of its programs.
    pub systems: Vec<(System, String)>,
    pub plan: Vec<ClusterStep>,
    pub records: Vec<ClusterRecord>,
    pub cells: Vec<ClusterCell>,
    pub goals: Vec<Goal>,
}

impl ClusterReport {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        command: String,
        started_utc: String,
        seconds: f64,
        rounds: usize,
        machine: Machine,
        neighbours: String,
        systems: Vec<(System, String)>,
        plan: Vec<ClusterStep>,
        records: Vec<ClusterRecord>,
    ) -> ClusterReport {
        let cells = cells(&plan, &records);
        let goals = goals(&plan, &cells);
        ClusterReport {
            command,
            started_utc,
            seconds,
            rounds,
            machine,
            neighbours,
            systems,
            plan,
            records,
            cells,
            goals,
        }
    }

    /// Runs that failed their checks or could not run.
    pub fn failures(&self) -> Vec<String> {
        self.records
            .iter()
            .filter_map(|r| {
                r.failure().map(|f| {
                    format!(
                        "{} on {} (round {}): {f}",
                        r.id,
                        r.system.name(),
                        r.round + 1
                    )
                })
            })
            .collect()
    }
}

/// The goals on every QoS 1 step: the Kite cluster's cross-node
/// throughput at least 2× nats-server's MQTT and at least ½ single-node Kite's.
pub fn goals(plan: &[ClusterStep], cells: &[ClusterCell]) -> Vec<Goal> {
    let rate = |id: &str, s| cell(cells, id, s).and_then(ClusterCell::rate);
    let mut out = Vec::new();
    for step in plan.iter().filter(|s| s.traffic.qos == 1) {
        for (versus, at_least) in [(System::NatsMqtt, 2.0), (System::Kite, 0.5)] {
            let ratio = match (rate(&step.id, System::KiteCluster), rate(&step.id, versus)) {
                (Some(k), Some(v)) if v > 0.0 => Some(k / v),
                _ => None,
            };
            out.push(Goal {
                step: step.id.clone(),
                versus,
                ratio,
                at_least,
                met: ratio.map(|r| r >= at_least),
            });
        }
    }
    out
}

/// "1.23×", or "–".
fn times(ratio: Option<f64>) -> String {
    ratio.map_or("–".into(), |r| format!("{r:.2}×"))
}

/// Kite cluster's throughput over `versus`'s in step `id`.
fn ratio(cells: &[ClusterCell], id: &str, versus: System) -> Option<f64> {
    let rate = |s| cell(cells, id, s).and_then(ClusterCell::rate);
    match (rate(System::KiteCluster), rate(versus)) {
        (Some(k), Some(v)) if v > 0.0 => Some(k / v),
        _ => None,
    }
}

/// `summary.md`.
pub fn markdown(report: &ClusterReport) -> String {
    let mut md = String::new();
    let m = &report.machine;
    let _ = writeln!(md, "# kite-bench compare --cluster\n");
    let _ = writeln!(md, "Command: `{}`  ", report.command);
    let _ = writeln!(
        md,
        "Ran {} UTC for {:.0} s on {} cores (Linux {}); load average before {}, after {}.  ",
        report.started_utc, report.seconds, m.cores, m.kernel, m.load_before, m.load_after
    );
    let _ = writeln!(md, "Other work on the machine: {}.  ", report.neighbours);
    for (system, version) in &report.systems {
        let _ = writeln!(
            md,
            "**{}**: {}; {version}.  ",
            system.name(),
            system.describe()
        );
    }
    let _ = writeln!(
        md,
        "\nAll on loopback, every system started by the bench in the same run, a fresh start for each run, \
         systems interleaved; each cell is the median of {} round(s). MQTT 3.1.1 for every client \
         (nats-server's MQTT speaks nothing else), 64 B payloads. Publishers connect to nodes 1 and 2 \
         (alternately), every subscriber to node 3, so every message crosses nodes; on single-node Kite \
         all clients share its one node. Every message is checked on arrival (count, order per \
         publisher, checksum). CPU is user + system time of **all** processes of the system \
         (Kite cluster: 3 kite-server + 3 nats-server) per delivered message. Each nats-server runs \
         with GOMAXPROCS={} (three share the machine's cores).\n",
        report.rounds,
        std::env::var("GOMAXPROCS").unwrap_or_else(|_| "1".into())
    );
    let _ = writeln!(md, "## Goals (QoS 1 across nodes)\n");
    let _ = writeln!(md, "| step | Kite cluster ÷ | ratio | goal | met |");
    let _ = writeln!(md, "|---|---|---:|---|---|");
    for g in &report.goals {
        let met = match g.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | ≥ {}× | {met} |",
            g.step,
            g.versus.name(),
            times(g.ratio),
            g.at_least
        );
    }
    let _ = writeln!(md, "\n## Results\n");
    let _ = writeln!(
        md,
        "| step | system | msg/s | ÷ nats-mqtt | ÷ kite | CPU µs/msg (all processes) | cores | p50 µs | p99 µs | sent | delivered | spread of rounds | checks |"
    );
    let _ = writeln!(
        md,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for step in &report.plan {
        for system in System::ALL {
            let Some(c) = cell(&report.cells, &step.id, system) else {
                continue;
            };
            let _ = writeln!(md, "{}", row(report, step, c));
        }
    }
    let _ = writeln!(md, "\n## Where the CPU went\n");
    let _ = writeln!(
        md,
        "Share of each system's CPU time per process over whole runs (clients connecting and the drain included), all rounds together.\n"
    );
    let _ = writeln!(md, "| step | system | processes (share of CPU) |");
    let _ = writeln!(md, "|---|---|---|");
    for step in &report.plan {
        for system in [System::KiteCluster, System::NatsMqtt] {
            if let Some(shares) = cpu_shares(&report.records, &step.id, system) {
                let _ = writeln!(md, "| {} | {} | {shares} |", step.title, system.name());
            }
        }
    }
    let _ = writeln!(md, "\n## Charts\n");
    for (file, _, _) in chart_specs() {
        let _ = writeln!(md, "![{}]({file})", file.trim_end_matches(".svg"));
    }
    md
}

/// "bench-1 30 %, nats-1 12 %, …" over the runs of `id` on `system`.
fn cpu_shares(records: &[ClusterRecord], id: &str, system: System) -> Option<String> {
    let mut sums: Vec<(String, f64)> = Vec::new();
    for r in records.iter().filter(|r| r.id == id && r.system == system) {
        for (name, cpu) in &r.processes {
            match sums.iter_mut().find(|(n, _)| n == name) {
                Some((_, sum)) => *sum += cpu,
                None => sums.push((name.clone(), *cpu)),
            }
        }
    }
    let total: f64 = sums.iter().map(|(_, cpu)| cpu).sum();
    if total <= 0.0 {
        return None;
    }
    sums.sort_by(|a, b| a.0.cmp(&b.0));
    Some(
        sums.iter()
            .map(|(name, cpu)| format!("{name} {:.0} %", cpu * 100.0 / total))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// One table row.
fn row(report: &ClusterReport, step: &ClusterStep, c: &ClusterCell) -> String {
    let checks = c
        .failure
        .as_deref()
        .map_or("ok".to_string(), |f| format!("FAILED: {f}"));
    let Some(m) = &c.metrics else {
        return format!(
            "| {} | {} | – | – | – | – | – | – | – | – | – | – | {checks} |",
            step.title,
            c.system.name()
        );
    };
    let vs = |versus| match c.system {
        System::KiteCluster => times(ratio(&report.cells, &step.id, versus)),
        _ => "".into(),
    };
    let lat = m.latency_us.unwrap_or_default();
    format!(
        "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.0} | {:.0} | {} | {} | {:.0} % | {checks} |",
        step.title,
        c.system.name(),
        thousands(m.msgs_per_s),
        vs(System::NatsMqtt),
        vs(System::Kite),
        m.broker.cpu_us_per_unit,
        m.broker.cores,
        lat.p50,
        lat.p99,
        thousands(m.sent as f64),
        thousands(m.delivered as f64),
        c.spread * 100.0
    )
}

/// A figure of a step's metrics.
type Figure = fn(&Metrics) -> Option<f64>;

/// The charts: file, title, unit and figure.
fn chart_specs() -> [(&'static str, &'static str, (&'static str, Figure)); 3] {
    [
        (
            "throughput.svg",
            "Cluster: messages delivered per second across nodes (higher is better)",
            ("msg/s", |m| Some(m.msgs_per_s)),
        ),
        (
            "cpu.svg",
            "Cluster: CPU of all the system's processes per delivered message (lower is better)",
            ("µs", |m| Some(m.broker.cpu_us_per_unit)),
        ),
        (
            "latency.svg",
            "Cluster: p99 end-to-end latency at full load (lower is better)",
            ("µs", |m| m.latency_us.map(|l| l.p99)),
        ),
    ]
}

/// The charts, as (file name, SVG): one group per step, one bar per system.
pub fn charts(report: &ClusterReport) -> Vec<(&'static str, String)> {
    let note = format!(
        "kite-bench compare --cluster, median of {} round(s); each group scaled to its own maximum",
        report.rounds
    );
    chart_specs()
        .into_iter()
        .map(|(file, title, (unit, figure))| {
            let groups: Vec<Group> = report
                .plan
                .iter()
                .map(|step| Group {
                    title: step.title.clone(),
                    unit: unit.into(),
                    bars: System::ALL
                        .into_iter()
                        .filter_map(|s| cell(&report.cells, &step.id, s))
                        .map(|c| {
                            let value = c
                                .metrics
                                .as_ref()
                                .filter(|_| c.failure.is_none())
                                .and_then(figure);
                            (c.system.name().to_string(), value)
                        })
                        .collect(),
                })
                .collect();
            (file, bar_chart(title, &note, &groups))
        })
        .collect()
}

/// Write `summary.md`, `results.json` and the charts into `dir`.
pub fn write(report: &ClusterReport, dir: &Path) -> Result<(), BenchError> {
    crate::report::write_folder(dir, markdown(report), report, charts(report))
}

/// Run `options` and fold everything into a report; `command` is the
/// command line to print in it.
pub async fn run(options: &ClusterOptions, command: String) -> ClusterReport {
    let load_before = Machine::load();
    let before = neighbours_now();
    let started_utc = utc_now();
    let started = std::time::Instant::now();
    let mut systems = Vec::new();
    for system in &options.systems {
        let b = &options.binaries;
        let version = match system {
            System::KiteCluster => format!("{}, {}", version(&b.kite), version(&b.nats)),
            System::NatsMqtt => version(&b.nats),
            System::Kite => version(&b.kite),
        };
        systems.push((*system, version));
    }
    let (plan, records) = compare(options).await;
    let machine = Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
        load_before,
        load_after: Machine::load(),
    };
    ClusterReport::new(
        command,
        started_utc,
        started.elapsed().as_secs_f64(),
        options.rounds,
        machine,
        format!("at the start {before}; at the end {}", neighbours_now()),
        systems,
        plan,
        records,
    )
}

fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Compilers running on the machine now: "3 rustc, 1 cargo" or "none seen".
pub fn neighbours_now() -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let me = std::process::id();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let comm = comm.trim();
        if matches!(comm, "rustc" | "cargo" | "cc" | "ld" | "clippy-driver") {
            match counts.iter_mut().find(|(c, _)| c == comm) {
                Some((_, n)) => *n += 1,
                None => counts.push((comm.to_string(), 1)),
            }
        }
    }
    if counts.is_empty() {
        return "no compiler running".into();
    }
    counts
        .iter()
        .map(|(c, n)| format!("{n} {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Shape, Traffic};

    fn record(id: &str, system: System, rate: f64) -> ClusterRecord {
        ClusterRecord {
            id: id.into(),
            system,
            round: 0,
            metrics: Some(Metrics {
                msgs_per_s: rate,
                ..Metrics::default()
            }),
            processes: Vec::new(),
            error: None,
        }
    }

    #[test]
    fn goals_compare_the_kite_cluster_on_qos_1_steps() {
        let step = |id: &str, qos| ClusterStep {
            id: id.into(),
            title: id.into(),
            traffic: Traffic::new(Shape::FanIn, 2, 1, qos, 64),
        };
        let plan = vec![step("fan-in-q0", 0), step("fan-in-q1", 1)];
        let records = vec![
            record("fan-in-q1", System::KiteCluster, 30.0),
            record("fan-in-q1", System::NatsMqtt, 10.0),
            record("fan-in-q1", System::Kite, 100.0),
            record("fan-in-q0", System::KiteCluster, 1.0),
        ];
        let report = ClusterReport::new(
            "kite-bench compare --cluster".into(),
            "now".into(),
            1.0,
            1,
            Machine::default(),
            "no compiler running".into(),
            vec![],
            plan,
            records,
        );
        let [nats, kite] = &report.goals[..] else {
            panic!("two goals on the one QoS 1 step: {:?}", report.goals);
        };
        assert_eq!(
            (nats.versus, nats.ratio, nats.met),
            (System::NatsMqtt, Some(3.0), Some(true))
        );
        assert_eq!(
            (kite.versus, kite.ratio, kite.met),
            (System::Kite, Some(0.3), Some(false))
        );
        let md = markdown(&report);
        assert!(
            md.contains("| fan-in-q1 | nats-mqtt | 3.00× | ≥ 2× | yes |"),
            "{md}"
        );
        assert!(
            md.contains("| fan-in-q1 | kite | 0.30× | ≥ 0.5× | **no** |"),
            "{md}"
        );
        assert_eq!(charts(&report).len(), 3);
    }
}
