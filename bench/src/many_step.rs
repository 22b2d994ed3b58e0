//! Compare's `connections` step (issue #20): [`crate::many`] on each broker
//! started fresh, folded into [`Metrics`] (every milestone in
//! [`Metrics::held`]), with its section of the summary and its chart of RSS
//! per connection against connections held, one line per broker. Kept out
//! of `compare.rs` and `report.rs`, which only call in here.

use std::{fmt::Write as _, time::Duration};

use crate::{
    compare::{Cell, Planned, Step},
    error::BenchError,
    many::{self, Plan},
    procstat::{self, Usage},
    scenario::{Connections, Held, IdleMemory, Metrics, Milestone},
    svg::{line_chart, Line},
    traffic::{Live, Target},
};

/// The step's id: `compare --only connections`.
pub const ID: &str = "connections";
/// How long the step may take on one broker: a million connections take
/// minutes to open and sweep.
pub const LIMIT: Duration = Duration::from_secs(1800);
/// The chart's file.
pub const CHART: &str = "rss-per-connection.svg";

/// The run: a million connections, measured at 100k, 250k and 500k,
/// and at 2,500, 5,000 and 10,000 so a machine whose open-file limit stops
/// the run at 20,000 still draws a line.
pub fn spec() -> Connections {
    Connections {
        target: 1_000_000,
        milestones: vec![2_500, 5_000, 10_000, 100_000, 250_000, 500_000],
        concurrency: 512,
        rss_cap_mib: 4096,
    }
}

/// Run a spec other than [`spec`] (`kite-bench connections --target …`).
pub fn set_spec(plan: &mut [Planned], spec: &Connections) {
    for p in plan {
        if let Step::Connections(c) = &mut p.step {
            *c = spec.clone();
            p.title = spec.label();
        }
    }
}

/// One run on a broker that is already started.
pub async fn run(target: &Target, spec: &Connections, live: Live) -> Result<Metrics, BenchError> {
    let plan = Plan {
        broker: target.endpoint.tcp,
        pid: target.pid,
        spec: spec.clone(),
        keep_alive: 1800,
        per_source: many::per_source(spec.target),
        worker: std::env::current_exe()?,
    };
    let rss_before_kib = target
        .pid
        .and_then(|p| procstat::rss_kib(p).ok())
        .unwrap_or(0);
    let t0 = std::time::Instant::now();
    let held = many::run(&plan, |m| {
        live.store(m.connections as u64, std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    Ok(metrics(held, rss_before_kib, t0.elapsed().as_secs_f64()))
}

/// A broker that stops taking connections, or a broadcast or ping sweep
/// that misses some, fails the run; a broker stopped at the memory cap does
/// not (that is how far it goes).
pub fn problem(held: &Held) -> Option<String> {
    let short = held.milestones.iter().find_map(|m| {
        (m.broadcast_delivered < m.connections || m.pongs < m.connections).then(|| {
            format!(
                "at {} connections {} got the broadcast and {} answered PINGREQ",
                m.connections, m.broadcast_delivered, m.pongs
            )
        })
    });
    let stopped = held
        .stopped
        .as_ref()
        .filter(|why| !why.contains("cap"))
        .cloned();
    short.or(stopped)
}

fn metrics(held: Held, rss_before_kib: u64, seconds: f64) -> Metrics {
    let last = held.milestones.last().cloned().unwrap_or_default();
    let opened: usize = last.connections;
    let open_seconds: f64 = held
        .milestones
        .iter()
        .scan(0, |from, m| {
            let s = (m.connections - *from) as f64 / m.connects_per_s.max(1e-9);
            *from = m.connections;
            Some(s)
        })
        .sum();
    Metrics {
        seconds,
        sent: held.target as u64,
        delivered: opened as u64,
        broker: Usage {
            cores: last.idle_cores,
            ..Usage::default()
        },
        rss_kib: last.broker_rss_kib,
        peak_rss_kib: held
            .milestones
            .iter()
            .map(|m| m.broker_rss_kib)
            .max()
            .unwrap_or(0),
        connects_per_s: Some(opened as f64 / open_seconds.max(1e-9)),
        idle: Some(IdleMemory {
            connections: opened,
            rss_before_kib,
            rss_after_kib: last.broker_rss_kib,
            bytes_per_connection: last.bytes_per_connection,
            idle_cores: last.idle_cores,
            alive: last.pongs,
        }),
        problem: problem(&held),
        held: Some(held),
        ..Metrics::default()
    }
}

/// The figure rounds are ranked by: bytes per connection at the most held.
pub fn key(metrics: &Metrics) -> f64 {
    metrics.idle.map_or(f64::MAX, |i| i.bytes_per_connection)
}

/// The progress line.
pub fn summary(metrics: &Metrics) -> String {
    let held = metrics.held.clone().unwrap_or_default();
    let last = held.milestones.last().cloned().unwrap_or_default();
    format!(
        "{} of {} connections, {:.0} B/conn, broadcast {:.0} ms, ping sweep {:.0} ms; {}",
        last.connections,
        held.target,
        last.bytes_per_connection,
        last.broadcast_ms,
        last.ping_sweep_ms,
        metrics.problem.as_deref().unwrap_or("ok")
    )
}

/// The summary's section: every milestone of every broker, and why a run
/// was capped or stopped.
pub fn markdown(plan: &[Planned], cells: &[Cell]) -> String {
    let mut md = String::new();
    for p in plan
        .iter()
        .filter(|p| matches!(p.step, Step::Connections(_)))
    {
        let _ = writeln!(md, "\n## Connections held: {}\n", p.title);
        let _ = writeln!(
            md,
            "From several loopback source addresses, by client worker processes; each \
             connection subscribes to its own topic and a shared one. At each count: broker RSS \
             and (RSS − RSS before) ÷ connections, TCP sockets and their memory machine-wide \
             (/proc/net/sockstat), connects/s since the previous count, the idle broker's cores \
             over 2 s, one QoS 0 message on the shared topic until every connection had it, and \
             a PINGREQ on every connection until every PINGRESP came; RSS is read before those \
             two sweeps (so from the second count on it follows the earlier counts' sweeps), \
             again after them, and 2 s later.\n"
        );
        let _ = writeln!(md, "{}", Milestone::header());
        let mut notes = Vec::new();
        for c in cells.iter().filter(|c| c.id == p.id) {
            let name = c.broker.name();
            let Some(held) = c.metrics.as_ref().and_then(|m| m.held.as_ref()) else {
                let why = c.failure.as_deref().unwrap_or("no result");
                let _ = writeln!(md, "| {name} | – | – | – | – | – | – | – | – | – | {why} |");
                continue;
            };
            for m in &held.milestones {
                let _ = writeln!(md, "{}", m.row(name));
            }
            let mut note = format!(
                "- {name}: asked {}, ran to {} over {} source addresses from {} worker processes \
                 (each with an open-file limit of {}); the broker's open-file limit: {}.",
                held.asked,
                held.target,
                held.sources,
                held.workers,
                held.worker_fd_limit,
                held.broker_fd_limit
            );
            if let Some(why) = &held.capped {
                let _ = write!(note, " Capped: {why}.");
            }
            if let Some(why) = &held.stopped {
                let _ = write!(note, " Stopped: {why}.");
            }
            if let Some(f) = &c.failure {
                let _ = write!(note, " **FAILED**: {f}.");
            }
            notes.push(note.replace('|', "/"));
        }
        let _ = writeln!(md, "\n{}", notes.join("\n"));
    }
    md
}

/// The chart of RSS per connection against connections held, one line per
/// broker (`run` says which run); `None` without a connections step.
pub fn chart(plan: &[Planned], cells: &[Cell], run: &str) -> Option<(&'static str, String)> {
    let p = plan
        .iter()
        .find(|p| matches!(p.step, Step::Connections(_)))?;
    let lines: Vec<Line> = cells
        .iter()
        .filter(|c| c.id == p.id)
        .filter_map(|c| {
            let held = c.metrics.as_ref()?.held.as_ref()?;
            Some(Line {
                series: c.broker.name().to_string(),
                points: held
                    .milestones
                    .iter()
                    .map(|m| (m.connections as f64, m.bytes_per_connection))
                    .collect(),
            })
        })
        .collect();
    (!lines.is_empty()).then(|| {
        (
            CHART,
            line_chart(
                "Broker RSS per idle connection (lower is better)",
                &format!(
                    "{run}; (RSS − RSS before the first) ÷ connections; both axes logarithmic"
                ),
                "connections held (log scale)",
                "B",
                &lines,
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(counts: &[(usize, usize)], stopped: Option<&str>) -> Held {
        Held {
            milestones: counts
                .iter()
                .map(|&(n, got)| Milestone {
                    connections: n,
                    broadcast_delivered: got,
                    pongs: n,
                    connects_per_s: 1000.0,
                    bytes_per_connection: 500.0,
                    ..Milestone::default()
                })
                .collect(),
            target: 20_000,
            stopped: stopped.map(String::from),
            ..Held::default()
        }
    }

    #[test]
    fn a_missed_broadcast_or_a_refusal_fails_the_run_but_the_memory_cap_does_not() {
        assert_eq!(
            problem(&held(&[(2_500, 2_500), (20_000, 20_000)], None)),
            None
        );
        let missed = problem(&held(&[(2_500, 2_499)], None)).unwrap();
        assert!(missed.contains("2499 got the broadcast"), "{missed}");
        assert!(problem(&held(&[(2_500, 2_500)], Some("refused"))).is_some());
        let capped = held(
            &[(2_500, 2_500)],
            Some("RSS 5000 MiB is past the 4096 MiB cap"),
        );
        assert_eq!(problem(&capped), None);
    }

    #[test]
    fn metrics_take_the_last_milestone_and_the_overall_connect_rate() {
        let m = metrics(held(&[(2_500, 2_500), (20_000, 20_000)], None), 100, 30.0);
        assert_eq!(m.delivered, 20_000);
        assert_eq!(m.connects_per_s, Some(1000.0));
        assert_eq!(key(&m), 500.0);
        assert_eq!(m.held.as_ref().unwrap().milestones.len(), 2);
        assert!(summary(&m).starts_with("20000 of 20000 connections"));
    }
}
