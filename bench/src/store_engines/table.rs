//! The results as Markdown (`summary.md`) and JSON (`results.json`):
//! medians over the repetitions with their spread, per load and engine.

use std::{fmt::Write as _, path::Path};

use serde::{Deserialize, Serialize};

use crate::numbers::thousands;

use super::{
    crash::CrashCheck,
    drive::{Load, Recovery, RunResult},
};

/// Everything one `store-engines` run measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// When, on what, with which settings (free text).
    pub context: Vec<String>,
    pub loads: Vec<Load>,
    pub engines: Vec<String>,
    pub runs: Vec<RunResult>,
    pub recoveries: Vec<Recovery>,
    pub crashes: Vec<CrashCheck>,
}

/// The median, lowest and highest of some figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(mut values: Vec<f64>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: values[0],
            max: values[n - 1],
        })
    }
}

impl Summary {
    fn spread(
        &self,
        engine: &str,
        load: &str,
        figure: impl Fn(&RunResult) -> f64,
    ) -> Option<Spread> {
        Spread::of(
            self.runs
                .iter()
                .filter(|r| r.engine == engine && r.load == load)
                .map(figure)
                .collect(),
        )
    }

    /// The Markdown report.
    pub fn markdown(&self) -> String {
        let mut md = String::from("# Queue store engines (`kite-bench store-engines`)\n\n");
        for line in &self.context {
            let _ = writeln!(md, "- {line}");
        }
        for load in &self.loads {
            let offered = if load.rate > 0.0 {
                format!("{} messages/s offered", thousands(load.rate))
            } else {
                format!(
                    "{} messages every round (saturation)",
                    thousands(load.max_per_round as f64)
                )
            };
            let _ = writeln!(
                md,
                "\n## {}: {offered}, each for {} session(s), at most {} per round\n",
                load.name,
                load.sessions,
                thousands(load.max_per_round as f64)
            );
            md.push_str("| engine | messages/s | entries/s (median, min–max) | CPU µs/entry (min–max) | CPU cores | disk writes B/entry | file at end | commits/s | round ms p50 / max |\n");
            md.push_str("|---|---|---|---|---|---|---|---|---|\n");
            for engine in &self.engines {
                let Some(rate) = self.spread(engine, &load.name, |r| r.entries_per_s) else {
                    continue;
                };
                let med = |f: fn(&RunResult) -> f64| {
                    self.spread(engine, &load.name, f).map_or(0.0, |s| s.median)
                };
                let cpu = self
                    .spread(engine, &load.name, |r| r.cpu_us_per_entry)
                    .expect("runs exist");
                let _ = writeln!(
                    md,
                    "| {engine} | {} | {} ({}–{}) | {:.2} ({:.2}–{:.2}) | {:.2} | {:.0} | {:.1} MiB | {:.0} | {:.2} / {:.1} |",
                    thousands(med(|r| r.messages_per_s)),
                    thousands(rate.median),
                    thousands(rate.min),
                    thousands(rate.max),
                    cpu.median,
                    cpu.min,
                    cpu.max,
                    med(|r| r.cores),
                    med(|r| r.written_bytes_per_entry),
                    med(|r| r.file_bytes_end as f64) / (1 << 20) as f64,
                    med(|r| r.commits_per_s),
                    med(|r| r.round_ms_p50),
                    med(|r| r.round_ms_max),
                );
            }
        }
        if !self.recoveries.is_empty() {
            md.push_str("\n## Recovery: reopen and list the live entries\n\n");
            md.push_str("| engine | written | live | file | reopen ms | fill s |\n|---|---|---|---|---|---|\n");
            for r in &self.recoveries {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {:.1} MiB | {:.0} | {:.1} |",
                    r.engine,
                    thousands(r.written as f64),
                    thousands(r.live as f64),
                    r.file_bytes as f64 / (1 << 20) as f64,
                    r.reopen_ms,
                    r.fill_s
                );
            }
        }
        if !self.crashes.is_empty() {
            md.push_str("\n## Crash check: SIGKILL mid-run, reopen, compare\n\n");
            md.push_str("| engine | rounds committed | live expected | live found | lost | acknowledged, back | unexpected | round atomic | result |\n|---|---|---|---|---|---|---|---|---|\n");
            for c in &self.crashes {
                let _ = writeln!(md, "| {} |", c.cells().join(" | "));
            }
        }
        md
    }

    /// Write `summary.md` and `results.json` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("summary.md"), self.markdown())?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("results.json"), json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_take_the_middle_value() {
        let s = Spread::of(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(vec![1.0, 2.0]).unwrap().median, 1.5);
        assert!(Spread::of(vec![]).is_none());
    }
}
