//! `kite-bench store-engines`: its options, and the order of the runs.
//! Engines take turns within each load, the order rotated from one
//! repetition to the next, so drift (other work on the machine, the disk's
//! mood) spreads over all of them; then recovery and the crash checks.

use std::{path::PathBuf, time::Duration};

use super::{
    crash,
    drive::{self, Load, Pacing},
    table::Summary,
    EngineError, EngineKind,
};

#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// Engines to measure (default: every one this build has; fjall and
    /// kite-store need `--features engines`).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub engines: Vec<EngineKind>,
    /// Repetitions of every run (interleaved).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Seconds measured per run, after --warmup seconds of rounds.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// The shortest round, ms (the broker's group-commit window).
    #[arg(long, default_value_t = 2.0)]
    pub round_ms: f64,
    /// Fan-in: messages offered per second (the broker's QoS 1 fan-in rate).
    #[arg(long, default_value_t = 150_000.0)]
    pub fan_in_rate: f64,
    /// Fan-in at saturation: messages per round, every round (all a round
    /// may take in the other loads).
    #[arg(long, default_value_t = 10_000)]
    pub max_per_round: usize,
    /// Fan-out: messages offered per second, each for --fan-out-sessions sessions.
    #[arg(long, default_value_t = 2_000.0)]
    pub fan_out_rate: f64,
    #[arg(long, default_value_t = 100)]
    pub fan_out_sessions: u32,
    /// Entries written for the recovery measurement (0: skip it).
    #[arg(long, default_value_t = 1_000_000)]
    pub recovery_written: u64,
    /// Of those, every this-many-th stays live (100: 10k live of 1M).
    #[arg(long, default_value_t = 100)]
    pub recovery_keep_every: u64,
    /// Crash checks per engine (0: none); the child is killed after
    /// 0.4 s, 0.7 s, 1.0 s, … of rounds.
    #[arg(long, default_value_t = 3)]
    pub crashes: usize,
    /// Where the stores are written (a folder of its own is made inside).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub dir: PathBuf,
    #[arg(long, default_value = "bench/results/store-engines")]
    pub out: PathBuf,
}

impl Options {
    fn loads(&self) -> Vec<Load> {
        let mut loads = vec![
            Load {
                name: "fan-in".into(),
                sessions: 1,
                rate: self.fan_in_rate,
                max_per_round: self.max_per_round,
            },
            Load {
                name: "fan-in-max".into(),
                sessions: 1,
                rate: 0.0,
                max_per_round: self.max_per_round,
            },
            Load {
                name: "fan-out".into(),
                sessions: self.fan_out_sessions,
                rate: self.fan_out_rate,
                max_per_round: self.max_per_round / self.fan_out_sessions.max(1) as usize,
            },
        ];
        loads.retain(|load| {
            load.max_per_round > 0 && (load.rate > 0.0 || load.name == "fan-in-max")
        });
        loads
    }
}

/// Run everything, print each result as it comes, write the report.
pub fn run(options: &Options) -> Result<Summary, EngineError> {
    let engines = if options.engines.is_empty() {
        EngineKind::all()
    } else {
        options.engines.clone()
    };
    if let Some(missing) = engines.iter().find(|kind| !kind.available()) {
        return Err(EngineError::Unavailable(missing.name()));
    }
    let base = options
        .dir
        .join(format!("kite-store-engines-{}", std::process::id()));
    let pacing = Pacing {
        round_floor: Duration::from_secs_f64(options.round_ms / 1e3),
        warmup: Duration::from_secs_f64(options.warmup),
        measure: Duration::from_secs_f64(options.seconds),
    };
    let loads = options.loads();
    let mut summary = Summary {
        context: context(options),
        loads: loads.clone(),
        engines: engines.iter().map(|k| k.name().to_string()).collect(),
        runs: Vec::new(),
        recoveries: Vec::new(),
        crashes: Vec::new(),
    };
    for rep in 0..options.reps {
        for load in &loads {
            let mut order = engines.clone();
            order.rotate_left(rep % engines.len().max(1));
            for kind in order {
                let dir = base.join(kind.name());
                let result = drive::run(kind, &dir, load, pacing, rep as u64 + 1)?;
                eprintln!(
                    "rep {} {:<10} {:<12} {:>9.0} entries/s {:>6.2} µs CPU/entry {:>6.0} B written/entry {:>5.0} commits/s",
                    rep + 1,
                    load.name,
                    result.engine,
                    result.entries_per_s,
                    result.cpu_us_per_entry,
                    result.written_bytes_per_entry,
                    result.commits_per_s
                );
                summary.runs.push(result);
            }
        }
    }
    if options.recovery_written > 0 {
        for &kind in engines.iter().filter(|&&kind| kind != EngineKind::None) {
            let dir = base.join(kind.name());
            let r = drive::recovery(
                kind,
                &dir,
                options.recovery_written,
                options.recovery_keep_every,
            )?;
            eprintln!(
                "recovery {:<12} {} written, {} live: reopened in {:.0} ms ({:.1} MiB)",
                r.engine,
                r.written,
                r.live,
                r.reopen_ms,
                r.file_bytes as f64 / (1 << 20) as f64
            );
            summary.recoveries.push(r);
        }
    }
    let exe = std::env::current_exe()?;
    for i in 0..options.crashes {
        for &kind in engines.iter().filter(|kind| kind.crash_checked()) {
            let dir = base.join(kind.name());
            let kill_after = Duration::from_millis(400 + 300 * i as u64);
            let c = crash::check(kind, &exe, &dir, kill_after)?;
            let [engine, rounds, expected, found, lost, back, unexpected, atomic, result] =
                c.cells();
            eprintln!(
                "crash {engine:<12} killed after {kill_after:?}: {rounds} rounds committed, {expected} live expected, {found} found, {lost} lost, {back} back, {unexpected} unexpected, atomic {atomic}: {result}"
            );
            summary.crashes.push(c);
        }
    }
    let _ = std::fs::remove_dir_all(&base);
    summary.write(&options.out)?;
    eprintln!("wrote {}", options.out.join("summary.md").display());
    Ok(summary)
}

fn context(options: &Options) -> Vec<String> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        format!(
            "{cores} cores, load average {load} at the start; stores under {}",
            options.dir.display()
        ),
        format!(
            "{} repetitions of {} s each (after {} s of warm-up), engines interleaved, order rotated per repetition; figures are medians (min–max)",
            options.reps, options.seconds, options.warmup
        ),
        format!(
            "each round: new entries (64 B payload, 16 B delivery record, key client id + seq), deletes of entries 15–40 ms old, one durable commit; rounds at least {} ms apart",
            options.round_ms
        ),
        "CPU: the whole process (every thread) from /proc/self/stat; disk writes: /proc/self/io write_bytes; an entry is one message for one session".into(),
    ]
}
