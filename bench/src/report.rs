//! The results of `compare`: the targets checked, Markdown tables, SVG
//! charts and the JSON of every run, written under `bench/results/<mode>/`.

use std::{fmt::Write as _, fs, path::Path};

use serde::{Deserialize, Serialize};

use crate::{
    brokers::BrokerKind,
    compare::{cell, cells, Cell, Planned, Record, Step},
    error::BenchError,
    many_report, many_step,
    progress::thousands,
    scenario::Metrics,
    svg::{bar_chart, Group},
    targets::{good, targets, TargetCheck},
};

/// Where and under what load the comparison ran.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub kernel: String,
    /// `/proc/loadavg` before and after.
    pub load_before: String,
    pub load_after: String,
}

impl Machine {
    pub fn load() -> String {
        fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }
}

/// A broker and the version it reported.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BrokerInfo {
    pub broker: BrokerKind,
    pub version: String,
}

/// Everything a comparison produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub mode: String,
    pub command: String,
    pub started_utc: String,
    pub seconds: f64,
    pub rounds: usize,
    pub machine: Machine,
    pub brokers: Vec<BrokerInfo>,
    pub plan: Vec<Planned>,
    pub records: Vec<Record>,
    pub cells: Vec<Cell>,
    pub targets: Vec<TargetCheck>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mode: &str,
        command: String,
        started_utc: String,
        seconds: f64,
        rounds: usize,
        machine: Machine,
        brokers: Vec<BrokerInfo>,
        plan: Vec<Planned>,
        records: Vec<Record>,
    ) -> Report {
        let cells = cells(&plan, &records);
        let targets = targets(&cells);
        Report {
            mode: mode.into(),
            command,
            started_utc,
            seconds,
            rounds,
            machine,
            brokers,
            plan,
            records,
            cells,
            targets,
        }
    }

    /// `compare` or `bridge`: the subcommand that ran.
    pub fn kind(&self) -> &str {
        self.command.split_whitespace().nth(1).unwrap_or("compare")
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
                        r.broker.name(),
                        r.round + 1
                    )
                })
            })
            .collect()
    }
}

fn cell_text(value: Option<f64>, unit: &str) -> String {
    match value {
        None => "–".into(),
        Some(v) if unit == "msg/s" || unit == "B" => thousands(v),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn ratio_text(value: Option<f64>) -> String {
    value.map_or("–".into(), |v| format!("{v:.2}×"))
}

fn checks_text(cell: &Cell) -> String {
    match &cell.failure {
        None => "ok".into(),
        Some(f) => format!("**FAILED**: {}", f.replace('|', "/")),
    }
}

/// The Markdown summary.
pub fn markdown(report: &Report) -> String {
    let mut md = String::new();
    let m = &report.machine;
    let _ = writeln!(md, "# kite-bench {} ({})\n", report.kind(), report.mode);
    let _ = writeln!(md, "Command: `{}`  ", report.command);
    let _ = writeln!(
        md,
        "Ran {} UTC for {:.0} s on {} cores (Linux {}); load average before {}, after {}.  ",
        report.started_utc, report.seconds, m.cores, m.kernel, m.load_before, m.load_after
    );
    let versions: Vec<String> = report
        .brokers
        .iter()
        .map(|b| format!("{}: {}", b.broker.name(), b.version))
        .collect();
    let _ = writeln!(md, "Brokers: {}.  ", versions.join("; "));
    let _ = writeln!(
        md,
        "Each cell is the median of {} round(s), each on a freshly started broker, brokers interleaved. \
         Every message is checked on arrival (count, order per publisher, checksum).\n",
        report.rounds
    );

    let _ = writeln!(md, "## Targets (kite-server)\n");
    let _ = writeln!(md, "| target | unit | kite | mosquitto | rumqttd | kite ÷ mosquitto | kite ÷ rumqttd | goal | met |");
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---|---|");
    // Targets a partial run (`--only`, `bridge`) measured nothing of are left out.
    let measured =
        |t: &&TargetCheck| t.kite.is_some() || t.mosquitto.is_some() || t.rumqttd.is_some();
    for t in report.targets.iter().filter(measured) {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "n/a",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {met} |",
            t.name,
            t.unit,
            cell_text(t.kite, &t.unit),
            cell_text(t.mosquitto, &t.unit),
            cell_text(t.rumqttd, &t.unit),
            ratio_text(t.vs_mosquitto),
            ratio_text(t.vs_rumqttd),
            t.goal
        );
    }

    let section = |md: &mut String,
                   title: &str,
                   header: &str,
                   align: &str,
                   pick: &dyn Fn(&Step) -> bool,
                   row: &dyn Fn(&Cell) -> String| {
        let rows: Vec<String> = report
            .plan
            .iter()
            .filter(|p| pick(&p.step))
            .flat_map(|p| {
                report
                    .cells
                    .iter()
                    .filter(|c| c.id == p.id)
                    .map(|c| format!("| {} | {} | {} |", p.title, c.broker.name(), row(c)))
                    .collect::<Vec<_>>()
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(md, "\n## {title}\n");
        let _ = writeln!(md, "| step | broker | {header} |");
        let _ = writeln!(md, "|---|---|{align}|");
        for r in rows {
            let _ = writeln!(md, "{r}");
        }
    };

    let traffic_row = |c: &Cell| match &c.metrics {
        None => format!("– | – | – | – | – | – | – | – | – | – | {}", checks_text(c)),
        Some(x) => {
            // A step that times no message (small clients) shows none.
            let l = |p: fn(&crate::scenario::Percentiles) -> f64| {
                x.latency_us.map_or("–".into(), |l| format!("{:.0}", p(&l)))
            };
            format!(
                "{} | {:.1} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {}",
                thousands(x.msgs_per_s),
                x.mb_per_s,
                l(|l| l.p50),
                l(|l| l.p99),
                l(|l| l.p999),
                x.broker.cpu_us_per_unit,
                x.broker.cores,
                x.bench.cores,
                x.bench.cpu_us_per_unit,
                x.peak_rss_kib as f64 / 1024.0,
                checks_text(c)
            )
        }
    };
    section(
        &mut md,
        "Throughput",
        "msg/s | MB/s | p50 µs | p99 µs | p99.9 µs | broker CPU µs/msg | broker cores | bench cores | bench CPU µs/msg | broker peak RSS MiB | checks",
        "---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---",
        &|s| matches!(s, Step::Traffic(_) | Step::SmallClients(_)),
        &traffic_row,
    );
    section(
        &mut md,
        "Latency at a fixed rate",
        "rate msg/s | delivered msg/s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | broker CPU µs/msg | checks",
        "---:|---:|---:|---:|---:|---:|---:|---:|---",
        &|s| matches!(s, Step::Latency { .. }),
        &|c: &Cell| match &c.metrics {
            None => format!("– | – | – | – | – | – | – | – | {}", checks_text(c)),
            Some(x) => {
                let l = x.latency_us.unwrap_or_default();
                format!(
                    "{} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {}",
                    thousands(c.rate.unwrap_or(0.0)),
                    thousands(x.msgs_per_s),
                    l.p50,
                    l.p90,
                    l.p99,
                    l.p999,
                    l.max,
                    x.broker.cpu_us_per_unit,
                    checks_text(c)
                )
            }
        },
    );
    section(
        &mut md,
        "Connections",
        "conn/s | connect p50 µs | connect p99 µs | broker CPU µs/conn | broker RSS before → after KiB | B per idle conn | idle broker cores | checks",
        "---:|---:|---:|---:|---:|---:|---:|---",
        &|s| matches!(s, Step::Storm(_) | Step::Idle(_)),
        &|c: &Cell| match &c.metrics {
            None => format!("– | – | – | – | – | – | – | {}", checks_text(c)),
            Some(x) => {
                let l = x.latency_us.unwrap_or_default();
                let (rss, per, idle) = match x.idle {
                    Some(i) => (
                        format!("{} → {}", thousands(i.rss_before_kib as f64), thousands(i.rss_after_kib as f64)),
                        thousands(i.bytes_per_connection),
                        format!("{:.3}", i.idle_cores),
                    ),
                    None => ("–".into(), "–".into(), "–".into()),
                };
                let (p50, p99, cpu) = if x.idle.is_some() {
                    ("–".into(), "–".into(), "–".into())
                } else {
                    (format!("{:.0}", l.p50), format!("{:.0}", l.p99), format!("{:.1}", x.broker.cpu_us_per_unit))
                };
                format!(
                    "{} | {p50} | {p99} | {cpu} | {rss} | {per} | {idle} | {}",
                    thousands(x.connects_per_s.unwrap_or(0.0)),
                    checks_text(c)
                )
            }
        },
    );
    section(
        &mut md,
        "Durability modes (kite-server, QoS 1, persistent-session subscriber)",
        "msg/s | p50 µs | p99 µs | broker CPU µs/msg | checks",
        "---:|---:|---:|---:|---",
        &|s| matches!(s, Step::Durability { .. }),
        &|c: &Cell| match &c.metrics {
            None => format!("– | – | – | – | {}", checks_text(c)),
            Some(x) => {
                let l = x.latency_us.unwrap_or_default();
                format!(
                    "{} | {:.0} | {:.0} | {:.2} | {}",
                    thousands(x.msgs_per_s),
                    l.p50,
                    l.p99,
                    x.broker.cpu_us_per_unit,
                    checks_text(c)
                )
            }
        },
    );
    let mosquitto_bridge = |id: &str| {
        good(&report.cells, id, BrokerKind::Mosquitto)
            .or_else(|| good(&report.cells, "bridge-q1", BrokerKind::Mosquitto))
            .map(|m| m.msgs_per_s)
    };
    section(
        &mut md,
        "Bridges (publishers on the bridging broker, the subscriber on a far Mosquitto over loopback)",
        "msg/s | ÷ mosquitto's bridge | spread of rounds | sent | delivered | p50 µs | p99 µs | bridging broker CPU µs/msg | bridging broker cores | far mosquitto CPU µs/msg | bench cores | checks",
        "---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---",
        &|s| matches!(s, Step::Bridge { .. }),
        &|c: &Cell| match &c.metrics {
            None => format!("– | – | – | – | – | – | – | – | – | – | – | {}", checks_text(c)),
            Some(x) => {
                let l = x.latency_us.unwrap_or_default();
                let vs = mosquitto_bridge(&c.id)
                    .filter(|m| *m > 0.0 && c.failure.is_none())
                    .map(|m| x.msgs_per_s / m);
                format!(
                    "{} | {} | {:.0} % | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {}",
                    thousands(x.msgs_per_s),
                    ratio_text(vs),
                    c.spread * 100.0,
                    thousands(x.sent as f64),
                    thousands(x.delivered as f64),
                    l.p50,
                    l.p99,
                    x.broker.cpu_us_per_unit,
                    x.broker.cores,
                    x.far.map_or(0.0, |f| f.cpu_us_per_unit),
                    x.bench.cores,
                    checks_text(c)
                )
            }
        },
    );
    md.push_str(&many_report::markdown(&report.plan, &report.cells));
    let failures = report.failures();
    if !failures.is_empty() {
        let _ = writeln!(md, "\n## Failed runs\n");
        for f in failures {
            let _ = writeln!(md, "- {}", f.replace('|', "/"));
        }
    }
    let drawn: Vec<&str> = charts(report).iter().map(|(file, _)| *file).collect();
    if !drawn.is_empty() {
        let _ = writeln!(md, "\n## Charts\n");
    }
    for (file, what) in CHARTS.iter().filter(|(file, _)| drawn.contains(file)) {
        let _ = writeln!(md, "![{what}]({file})");
    }
    md
}

const CHARTS: [(&str, &str); 5] = [
    ("throughput.svg", "throughput"),
    ("cpu.svg", "broker CPU per message"),
    ("latency.svg", "latency"),
    ("connections.svg", "connections"),
    (
        many_step::CHART,
        "RSS per connection against connections held",
    ),
];

/// A chart series: title suffix, unit, and the value it shows.
type Series<'a> = (&'a str, &'a str, &'a dyn Fn(&Metrics) -> Option<f64>);

fn groups(report: &Report, pick: impl Fn(&Step) -> bool, values: &[Series]) -> Vec<Group> {
    let mut out = Vec::new();
    for p in report.plan.iter().filter(|p| pick(&p.step)) {
        for (suffix, unit, value) in values {
            let bars: Vec<(String, Option<f64>)> = report
                .cells
                .iter()
                .filter(|c| c.id == p.id)
                .map(|c| {
                    let v = c
                        .metrics
                        .as_ref()
                        .filter(|_| c.failure.is_none())
                        .and_then(value);
                    (c.broker.name().to_string(), v)
                })
                .collect();
            if !bars.is_empty() {
                out.push(Group {
                    title: format!("{}{suffix}", p.title),
                    unit: unit.to_string(),
                    bars,
                });
            }
        }
    }
    out
}

/// The charts, as (file name, SVG).
pub fn charts(report: &Report) -> Vec<(&'static str, String)> {
    let traffic = |s: &Step| {
        matches!(
            s,
            Step::Traffic(_)
                | Step::Durability { .. }
                | Step::Bridge { .. }
                | Step::SmallClients(_)
        )
    };
    let mut throughput = groups(
        report,
        |s| {
            matches!(
                s,
                Step::Traffic(_) | Step::Bridge { .. } | Step::SmallClients(_)
            )
        },
        &[("", "msg/s", &|m| Some(m.msgs_per_s))],
    );
    // The durability modes side by side, in one group.
    let modes: Vec<(String, Option<f64>)> = report
        .plan
        .iter()
        .filter_map(|p| match &p.step {
            Step::Durability { mode, .. } => {
                let c = cell(&report.cells, &p.id, BrokerKind::Kite)?;
                let v = c.metrics.as_ref().filter(|_| c.failure.is_none());
                Some((mode.clone(), v.map(|m| m.msgs_per_s)))
            }
            _ => None,
        })
        .collect();
    if !modes.is_empty() {
        throughput.push(Group {
            title: "kite-server --durability always | batch | none: fan-in 100→1 QoS 1, persistent subscriber".into(),
            unit: "msg/s".into(),
            bars: modes,
        });
    }
    let cpu = groups(
        report,
        traffic,
        &[("", "µs", &|m| Some(m.broker.cpu_us_per_unit))],
    );
    let latency = groups(
        report,
        |s| matches!(s, Step::Latency { .. }),
        &[
            (": p50", "µs", &|m| m.latency_us.map(|l| l.p50)),
            (": p99", "µs", &|m| m.latency_us.map(|l| l.p99)),
            (": p99.9", "µs", &|m| m.latency_us.map(|l| l.p999)),
        ],
    );
    let mut connections = groups(
        report,
        |s| matches!(s, Step::Storm(_)),
        &[("", "conn/s", &|m| m.connects_per_s)],
    );
    connections.extend(groups(
        report,
        |s| matches!(s, Step::Idle(_)),
        &[(": broker RSS per connection", "B", &|m| {
            m.idle.map(|i| i.bytes_per_connection)
        })],
    ));
    let run = format!(
        "kite-bench {} ({}), median of {} round(s)",
        report.kind(),
        report.mode,
        report.rounds
    );
    let note = format!("{run}; each group scaled to its own maximum");
    // Only charts with something in them (a `bridge` run has no latency
    // or connection steps).
    [
        ("throughput.svg", "Throughput (messages delivered per second; higher is better)", throughput),
        ("cpu.svg", "Broker CPU time per delivered message (lower is better)", cpu),
        ("latency.svg", "End-to-end latency at a fixed rate (lower is better)", latency),
        ("connections.svg", "Connections: storm rate (higher is better), memory per idle connection (lower is better)", connections),
    ]
    .into_iter()
    .filter(|(_, _, groups)| !groups.is_empty())
    .map(|(file, title, groups)| (file, bar_chart(title, &note, &groups)))
    .chain(many_report::chart(&report.plan, &report.cells, &run))
    .collect()
}

/// Write `summary.md`, `results.json` and the charts into `dir`.
pub fn write(report: &Report, dir: &Path) -> Result<(), BenchError> {
    write_folder(dir, markdown(report), report, charts(report))
}

/// A results folder: `summary.md`, `results.json` (the report) and the
/// charts, by file name.
pub fn write_folder<T: serde::Serialize>(
    dir: &Path,
    summary: String,
    report: &T,
    charts: Vec<(&str, String)>,
) -> Result<(), BenchError> {
    fs::create_dir_all(dir).map_err(|source| BenchError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let put = |name: &str, text: String| {
        let path = dir.join(name);
        fs::write(&path, text).map_err(|source| BenchError::Write { path, source })
    };
    put("summary.md", summary)?;
    put("results.json", serde_json::to_string_pretty(report)?)?;
    for (name, svg) in charts {
        put(name, svg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procstat::Usage;

    fn cell(id: &str, broker: BrokerKind, rate: f64, cpu: f64) -> Cell {
        Cell {
            id: id.into(),
            broker,
            rate: None,
            metrics: Some(Metrics {
                msgs_per_s: rate,
                broker: Usage {
                    cpu_us_per_unit: cpu,
                    cores: 1.0,
                    ..Usage::default()
                },
                ..Metrics::default()
            }),
            failure: None,
            spread: 0.0,
        }
    }

    #[test]
    fn targets_compare_kite_with_its_peers() {
        use BrokerKind::*;
        let mut cells = vec![
            cell("fan-in-q0", Kite, 300.0, 1.0),
            cell("fan-in-q0", Mosquitto, 100.0, 5.0),
            cell("fan-in-q0", Rumqttd, 310.0, 2.0),
            cell("fan-in-q1", Kite, 300.0, 3.0),
            cell("fan-in-q1", Mosquitto, 100.0, 9.0),
            cell("fan-in-q1", Rumqttd, 200.0, 2.0),
            cell("ws-fan-in-q0", Kite, 270.0, 1.0),
            cell("bridge-q1", Kite, 110.0, 3.0),
            cell("bridge-q1", Mosquitto, 100.0, 2.0),
        ];
        let t = targets(&cells);
        let by = |name: &str| t.iter().find(|t| t.name.starts_with(name)).unwrap();
        let q0 = by("fan-in 100→1, 64 B, QoS 0");
        assert_eq!(q0.vs_mosquitto, Some(3.0));
        assert_eq!(q0.met, Some(false), "below rumqttd");
        assert_eq!(by("fan-in 100→1, 64 B, QoS 1").met, Some(true));
        assert_eq!(by("broker CPU per message, fan-in QoS 0").met, Some(true));
        assert_eq!(by("broker CPU per message, fan-in QoS 1").met, Some(false));
        assert_eq!(by("fan-out").met, None, "not measured");
        assert_eq!(by("WebSocket").kite, Some(0.9));
        assert_eq!(by("WebSocket").met, Some(true));
        let bridge = by("bridge QoS 1");
        assert_eq!((bridge.vs_mosquitto, bridge.met), (Some(1.1), Some(true)));
        assert_eq!(by("bridging broker CPU").met, Some(false));
        let small = "broker CPU per message, 4× mosquitto_pub";
        assert_eq!(by(small).met, None, "not measured");
        for (kite, met) in [(7.0, true), (7.5, false)] {
            let mut cells = vec![
                cell("small-clients-q1", Kite, 40_000.0, kite),
                cell("small-clients-q1", Rumqttd, 50_000.0, 10.0),
            ];
            let t = targets(&cells);
            let check = t.iter().find(|t| t.name.starts_with(small)).unwrap();
            assert_eq!(
                (check.vs_rumqttd, check.met),
                (Some(kite / 10.0), Some(met))
            );
            cells.pop();
            let t = targets(&cells);
            let check = t.iter().find(|t| t.name.starts_with(small)).unwrap();
            assert_eq!(check.met, None, "no rumqttd to compare with");
        }

        // A failed run is not a measurement.
        cells[0].failure = Some("1 lost".into());
        assert_eq!(targets(&cells)[0].kite, None);
        assert_eq!(targets(&cells)[0].met, None);
    }
}
