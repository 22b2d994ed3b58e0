//! The `connections` step's part of compare's report (`many_step` runs
//! it): its section of the summary, every milestone of every broker, and
//! its chart of RSS per connection against connections held.

use std::fmt::Write as _;

use crate::{
    compare::{Cell, Planned, Step},
    many_step::CHART,
    scenario::Milestone,
    svg::{line_chart, Line},
};

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
             connection subscribes to its own topic and a shared one. At each count: broker RSS, \
             its anonymous part (RssAnon: without the program's code pages, which VmRSS counts \
             as far as they happen to be mapped in), (anonymous RSS − the same before the \
             first connection) ÷ connections, the same from RSS, TCP sockets and their memory machine-wide \
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
                    "{run}; (anonymous RSS − the same before the first) ÷ connections; both axes logarithmic"
                ),
                "connections held (log scale)",
                "B",
                &lines,
            ),
        )
    })
}
