//! Compare's `connections` step (issue #20): [`crate::many`] on each broker
//! started fresh, folded into [`Metrics`] (every milestone in
//! [`Metrics::held`]. Its section of the summary and its chart are
//! `many_report`'s. Kept out of `compare.rs`, which only calls in here.

use std::time::Duration;

use crate::{
    error::BenchError,
    many::{self, Plan},
    procstat::{self, Usage},
    scenario::{Connections, Held, IdleMemory, Metrics},
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Milestone;

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
