//! One timed run of an engine on one load, and the recovery run.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use super::{
    measure::{dir_bytes, Sample},
    open,
    workload::{Generator, NewMessage, Round},
    EngineError, EngineKind,
};

/// What the generator offers. As in the broker's group commit, a round
/// takes every message that arrived while the last one committed: a slow
/// commit makes the next round larger, up to `max_per_round`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Load {
    pub name: String,
    /// Sessions each message is queued for (1: fan-in, 100: fan-out).
    pub sessions: u32,
    /// Messages offered per second (0: `max_per_round` every round, saturation).
    pub rate: f64,
    /// The most new messages one round takes; the rest wait for the next.
    pub max_per_round: usize,
}

impl Load {
    /// Messages the next round takes, `offered_so_far` having arrived and
    /// `taken` gone into rounds already.
    fn take(&self, offered_so_far: f64, taken: u64) -> usize {
        if self.rate <= 0.0 {
            return self.max_per_round;
        }
        let waiting = (offered_so_far as u64).saturating_sub(taken);
        waiting.min(self.max_per_round as u64) as usize
    }
}

/// How long and how fast rounds go.
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    /// A round starts no sooner than this after the last one did (the
    /// broker's 2 ms group-commit window), or when the last commit ends.
    pub round_floor: Duration,
    /// Rounds before measuring starts: the live set grows to its steady size.
    pub warmup: Duration,
    pub measure: Duration,
}

/// What one run measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunResult {
    pub engine: String,
    pub load: String,
    pub rounds: u64,
    /// Queue entries appended (a message × its sessions).
    pub entries: u64,
    pub messages: u64,
    pub seconds: f64,
    pub entries_per_s: f64,
    pub messages_per_s: f64,
    pub cpu_us_per_entry: f64,
    /// CPU in use over the run: 1.0 is one core busy all along.
    pub cores: f64,
    pub written_bytes_per_entry: f64,
    pub commits_per_s: f64,
    /// Median and slowest round (apply + durable commit), ms.
    pub round_ms_p50: f64,
    pub round_ms_max: f64,
    pub file_bytes_end: u64,
    pub live_end: u64,
    /// Messages offered and not taken by the end: the engine fell behind.
    pub backlog_end: u64,
}

fn fresh(dir: &Path) -> Result<(), EngineError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// Run `load` on a fresh `kind` store in `dir`.
pub fn run(
    kind: EngineKind,
    dir: &Path,
    load: &Load,
    pacing: Pacing,
    seed: u64,
) -> Result<RunResult, EngineError> {
    fresh(dir)?;
    let (mut engine, _) = open(kind, dir)?;
    let mut generator = Generator::new(load.sessions, seed);
    let start = Instant::now();
    let measure_from = start + pacing.warmup;
    let end = measure_from + pacing.measure;
    let mut before: Option<Sample> = None;
    let (mut rounds, mut messages, mut entries) = (0u64, 0u64, 0u64);
    let mut round_times = Vec::new();
    let mut taken = 0u64;
    loop {
        let round_start = Instant::now();
        if round_start >= end {
            break;
        }
        if before.is_none() && round_start >= measure_from {
            before = Some(Sample::now()?);
        }
        let since_start = round_start.duration_since(start);
        let count = load.take(since_start.as_secs_f64() * load.rate, taken);
        taken += count as u64;
        let round = generator.round(since_start.as_micros() as u64, count);
        engine.commit(&round)?;
        let took = round_start.elapsed();
        if before.is_some() {
            rounds += 1;
            messages += round.messages.len() as u64;
            entries += round.appended() as u64;
            round_times.push(took);
        }
        if let Some(rest) = pacing.round_floor.checked_sub(took) {
            std::thread::sleep(rest);
        }
    }
    let after = Sample::now()?;
    let before = before.unwrap_or(after);
    let file_bytes_end = dir_bytes(dir)?;
    drop(engine);
    let seconds = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
    let per_entry = |x: f64| if entries > 0 { x / entries as f64 } else { 0.0 };
    round_times.sort_unstable();
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
    Ok(RunResult {
        engine: kind.name().into(),
        load: load.name.clone(),
        rounds,
        entries,
        messages,
        seconds,
        entries_per_s: entries as f64 / seconds,
        messages_per_s: messages as f64 / seconds,
        cpu_us_per_entry: per_entry((after.cpu_s - before.cpu_s) * 1e6),
        cores: (after.cpu_s - before.cpu_s) / seconds,
        written_bytes_per_entry: per_entry(
            after.write_bytes.saturating_sub(before.write_bytes) as f64
        ),
        commits_per_s: rounds as f64 / seconds,
        round_ms_p50: ms(round_times.get(round_times.len() / 2)),
        round_ms_max: ms(round_times.last()),
        file_bytes_end,
        live_end: generator.live() as u64,
        backlog_end: ((end.duration_since(start).as_secs_f64() * load.rate) as u64)
            .saturating_sub(taken),
    })
}

/// What reopening a store with many entries written, few live, costs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recovery {
    pub engine: String,
    pub written: u64,
    pub live: u64,
    /// The store's files when closed.
    pub file_bytes: u64,
    /// Opening the store and listing every live entry.
    pub reopen_ms: f64,
    pub fill_s: f64,
}

/// Messages per round while filling: large rounds, as the fill is not
/// what is measured.
const FILL_ROUND: u64 = 5_000;

/// Rounds between an entry's and its acknowledgement's while filling: with
/// rounds at least 2 ms apart, 16 ms or more, past Kite's 5 ms hold (an
/// entry acknowledged sooner would never be written there).
const FILL_ACK_AFTER: u64 = 8;

/// Write `written` fan-in entries to a fresh `kind` store, acknowledging all
/// but every `keep_every`-th [`FILL_ACK_AFTER`] rounds later; close it,
/// then time its reopening and check that exactly the kept entries are listed.
pub fn recovery(
    kind: EngineKind,
    dir: &Path,
    written: u64,
    keep_every: u64,
) -> Result<Recovery, EngineError> {
    fresh(dir)?;
    let started = Instant::now();
    let (mut engine, _) = open(kind, dir)?;
    let rounds = written.div_ceil(FILL_ROUND);
    let seqs_of = |r: u64| (r * FILL_ROUND + 1)..=((r + 1) * FILL_ROUND).min(written);
    let acks_of = |r: u64| {
        seqs_of(r)
            .filter(|seq| seq % keep_every != 0)
            .map(|seq| super::workload::EntryKey { client: 0, seq })
            .collect::<Vec<_>>()
    };
    for r in 0..rounds + FILL_ACK_AFTER {
        let round_start = Instant::now();
        let messages = if r < rounds {
            seqs_of(r)
                .map(|seq| NewMessage { seq, sessions: 1 })
                .collect()
        } else {
            Vec::new()
        };
        let acks = r
            .checked_sub(FILL_ACK_AFTER)
            .map(acks_of)
            .unwrap_or_default();
        engine.commit(&Round {
            number: r + 1,
            messages,
            acks,
        })?;
        if let Some(rest) = Duration::from_millis(2).checked_sub(round_start.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    drop(engine);
    let fill_s = started.elapsed().as_secs_f64();
    let file_bytes = dir_bytes(dir)?;
    let reopen = Instant::now();
    let (engine, live) = open(kind, dir)?;
    let reopen_ms = reopen.elapsed().as_secs_f64() * 1e3;
    drop(engine);
    let expected = written / keep_every;
    if live.len() as u64 != expected || live.iter().any(|e| e.seq % keep_every != 0) {
        return Err(EngineError::Corrupt(format!(
            "{}: reopened with {} live entries, {expected} expected",
            kind.name(),
            live.len()
        )));
    }
    Ok(Recovery {
        engine: kind.name().into(),
        written,
        live: expected,
        file_bytes,
        reopen_ms,
        fill_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_and_a_small_recovery_on_the_segment_log() {
        let dir = std::env::temp_dir().join(format!("kite-drive-{}", std::process::id()));
        let load = Load {
            name: "fan-in".into(),
            sessions: 1,
            rate: 25_000.0,
            max_per_round: 1_000,
        };
        let pacing = Pacing {
            round_floor: Duration::from_millis(2),
            warmup: Duration::from_millis(50),
            measure: Duration::from_millis(150),
        };
        let result = run(EngineKind::SegmentLog, &dir, &load, pacing, 1).unwrap();
        assert!(result.rounds > 10 && result.entries > 1_000);
        assert!(result.cpu_us_per_entry > 0.0);
        let recovered = recovery(EngineKind::RedbRounds, &dir, 12_000, 100).unwrap();
        assert_eq!(recovered.live, 120);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
