//! The crash check: a child process (`kite-bench store-engines-child`)
//! runs fan-in rounds on an engine and says on stdout what each round will
//! do (`P`) and when it is durable (`C`); the parent SIGKILLs it mid-run,
//! reopens the store and compares what it lists with what the child said.
//!
//! Let R be the last round reported durable. Every entry live after R must
//! be listed, unless round R + 1 (perhaps committed, the child killed
//! before it could say so) acknowledged it: one missing is a lost message.
//! No entry acknowledged by R may be listed: it would be delivered twice.
//! And nothing may be listed that R + 1 did not append or R left live.
//! Whether the store held exactly what R or R + 1 left (the round was
//! atomic) is reported beside: Kite's store commits a round's deletes
//! before the entries it held, which is allowed.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use super::{
    open,
    workload::{EntryKey, Generator},
    EngineError, EngineKind,
};

/// The child's side (hidden from `--help`: run by the parent only).
#[derive(clap::Args, Debug)]
pub struct Child {
    #[arg(long, value_enum)]
    pub engine: EngineKind,
    #[arg(long)]
    pub dir: PathBuf,
    /// New messages per round.
    #[arg(long, default_value_t = 300)]
    pub messages: usize,
    /// Stop by itself after this long, if nobody killed it.
    #[arg(long, default_value_t = 30.0)]
    pub seconds: f64,
}

fn key_text(key: &EntryKey) -> String {
    format!("{}.{}", key.client, key.seq)
}

/// Run rounds until killed, saying what each does and when it is durable.
pub fn child(args: &Child) -> Result<(), EngineError> {
    let (mut engine, _) = open(args.engine, &args.dir)?;
    let mut generator = Generator::new(1, 0x5eed);
    let start = Instant::now();
    let mut out = std::io::stdout().lock();
    while start.elapsed().as_secs_f64() < args.seconds {
        let round_start = Instant::now();
        let round = generator.round(start.elapsed().as_micros() as u64, args.messages);
        let first = round.messages.first().map_or(0, |m| m.seq);
        let acks: Vec<String> = round.acks.iter().map(key_text).collect();
        writeln!(
            out,
            "P {} {first} {} {}",
            round.number,
            round.messages.len(),
            acks.join(" ")
        )?;
        out.flush()?;
        engine.commit(&round)?;
        writeln!(out, "C {}", round.number)?;
        out.flush()?;
        if let Some(rest) = Duration::from_millis(2).checked_sub(round_start.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    Ok(())
}

/// What one crash check found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CrashCheck {
    pub engine: String,
    /// The last round the child reported durable.
    pub committed_rounds: u64,
    pub live_expected: u64,
    pub live_found: u64,
    /// Entries committed, not acknowledged, and missing.
    pub lost: u64,
    /// Entries acknowledged in a committed round, and listed again.
    pub resurrected: u64,
    /// Entries listed that no round announced.
    pub unexpected: u64,
    /// The store held exactly what round R or R + 1 left.
    pub atomic: bool,
    pub passed: bool,
}

impl CrashCheck {
    /// Its figures in the order of the summary's crash table (engine,
    /// rounds, live expected and found, lost, back, unexpected, atomic,
    /// result), for the table and the progress line alike.
    pub fn cells(&self) -> [String; 9] {
        [
            self.engine.clone(),
            self.committed_rounds.to_string(),
            self.live_expected.to_string(),
            self.live_found.to_string(),
            self.lost.to_string(),
            self.resurrected.to_string(),
            self.unexpected.to_string(),
            (if self.atomic { "yes" } else { "no" }).to_string(),
            (if self.passed { "pass" } else { "FAIL" }).to_string(),
        ]
    }
}

/// A round as the child announced it.
#[derive(Default)]
struct Planned {
    appended: Vec<EntryKey>,
    acks: Vec<EntryKey>,
}

fn parse_plan(line: &str) -> Option<(u64, Planned)> {
    let mut words = line.strip_prefix("P ")?.split(' ');
    let number = words.next()?.parse().ok()?;
    let first: u64 = words.next()?.parse().ok()?;
    let count: u64 = words.next()?.parse().ok()?;
    let appended = (first..first + count)
        .map(|seq| EntryKey { client: 0, seq })
        .collect();
    let acks = words
        .filter(|w| !w.is_empty())
        .map(|w| {
            let (client, seq) = w.split_once('.')?;
            Some(EntryKey {
                client: client.parse().ok()?,
                seq: seq.parse().ok()?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some((number, Planned { appended, acks }))
}

/// Start the child on a fresh `dir`, SIGKILL it after `kill_after`, reopen
/// the store and compare.
pub fn check(
    kind: EngineKind,
    exe: &Path,
    dir: &Path,
    kill_after: Duration,
) -> Result<CrashCheck, EngineError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let mut child = Command::new(exe)
        .args(["store-engines-child", "--engine", kind.name(), "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped");
    // Read all along, so the child never blocks on a full pipe.
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(kill_after);
    child.kill()?; // SIGKILL
    child.wait()?;
    let lines = reader
        .join()
        .map_err(|_| EngineError::Corrupt("the reader thread panicked".into()))?;

    let mut plans = BTreeMap::new();
    let mut committed = 0;
    for line in &lines {
        if let Some(number) = line.strip_prefix("C ") {
            committed = number.parse().unwrap_or(committed);
        } else if let Some((number, plan)) = parse_plan(line) {
            plans.insert(number, plan);
        }
    }
    // The live entries after round `last`, and every entry acknowledged by then.
    let replay = |last: u64| {
        let (mut live, mut acked) = (BTreeSet::new(), BTreeSet::new());
        for plan in plans.range(..=last).map(|(_, plan)| plan) {
            live.extend(plan.appended.iter().copied());
            for key in &plan.acks {
                live.remove(key);
                acked.insert(*key);
            }
        }
        (live, acked)
    };
    let (live, acked) = replay(committed);
    let (live_next, _) = replay(committed + 1);
    let (_, found) = open(kind, dir)?;
    let found: BTreeSet<EntryKey> = found.into_iter().collect();
    let next_acks: BTreeSet<EntryKey> = plans
        .get(&(committed + 1))
        .map(|plan| plan.acks.iter().copied().collect())
        .unwrap_or_default();
    let lost = live
        .iter()
        .filter(|key| !found.contains(key) && !next_acks.contains(key))
        .count() as u64;
    let resurrected = found.iter().filter(|key| acked.contains(key)).count() as u64;
    let unexpected = found
        .iter()
        .filter(|key| !live.contains(key) && !live_next.contains(key) && !acked.contains(key))
        .count() as u64;
    let atomic = found == live || found == live_next;
    let passed = committed > 0 && lost == 0 && resurrected == 0 && unexpected == 0;
    Ok(CrashCheck {
        engine: kind.name().into(),
        committed_rounds: committed,
        live_expected: live.len() as u64,
        live_found: found.len() as u64,
        lost,
        resurrected,
        unexpected,
        atomic,
        passed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_line_reads_back() {
        let (number, plan) = parse_plan("P 7 100 3 0.5 2.9").unwrap();
        assert_eq!(number, 7);
        assert_eq!(plan.appended.len(), 3);
        assert_eq!(
            plan.appended[2],
            EntryKey {
                client: 0,
                seq: 102
            }
        );
        assert_eq!(
            plan.acks,
            vec![
                EntryKey { client: 0, seq: 5 },
                EntryKey { client: 2, seq: 9 }
            ]
        );
        assert!(parse_plan("P 7 100 0 ").unwrap().1.acks.is_empty());
        assert!(parse_plan("C 7").is_none());
    }
}
