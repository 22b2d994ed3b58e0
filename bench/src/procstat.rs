//! What `/proc` says about a process: CPU time (`/proc/<pid>/stat`, user +
//! system, all threads) and resident memory (`/proc/<pid>/status`).

use std::{io, time::Instant};

use serde::{Deserialize, Serialize};

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// User + system CPU seconds used so far by `pid` (all its threads).
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other("malformed /proc/<pid>/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')' comes field 3 (state); utime and stime are fields 14 and 15.
    let field = |n: usize| -> io::Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no field {n} in /proc/{pid}/stat")))
    };
    Ok((field(14)? + field(15)?) as f64 / clock_ticks_per_second())
}

fn status_kib(pid: u32, key: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status_field(&status, pid, key)
}

/// One `key:  123 kB` line of a `/proc/<pid>/status` already read.
fn status_field(status: &str, pid: u32, key: &str) -> io::Result<u64> {
    status
        .lines()
        .find_map(|line| {
            let value = line.strip_prefix(key)?.strip_prefix(':')?;
            value.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .ok_or_else(|| io::Error::other(format!("no {key} in /proc/{pid}/status")))
}

/// Resident set size, KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    status_kib(pid, "VmRSS")
}

/// Resident set size and its anonymous part, KiB (`VmRSS`, `RssAnon`), from
/// one read of the status file, so both are of the same moment. The
/// anonymous part is the heap, stacks and private mappings, without the
/// program's own file pages (its code), which `VmRSS` counts as far as they
/// happen to be mapped in. For a 100 MB binary that part moved by up to
/// 2.4 MB between two starts of the same broker (with the page cache's
/// fault-around), about 120 bytes per connection at 20,000; what
/// connections cost is anonymous.
pub fn rss_and_anon_kib(pid: u32) -> io::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok((
        status_field(&status, pid, "VmRSS")?,
        status_field(&status, pid, "RssAnon")?,
    ))
}

/// Peak resident set size, KiB (`VmHWM`).
pub fn peak_rss_kib(pid: u32) -> io::Result<u64> {
    status_kib(pid, "VmHWM")
}

/// CPU use of one process over an interval.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Usage {
    /// CPU seconds (user + system) in the interval.
    pub cpu_s: f64,
    /// `cpu_s` over wall-clock seconds: 1.0 is one core busy all along.
    pub cores: f64,
    /// CPU µs per delivered message (or per connection).
    pub cpu_us_per_unit: f64,
}

/// A CPU reading to take a difference from: one process, or the sum over
/// several (a cluster: every broker node and NATS server of a system).
#[derive(Clone, Debug)]
pub struct Meter {
    /// Each process and its CPU seconds at the start.
    pids: Vec<(u32, f64)>,
    at: Instant,
}

impl Meter {
    /// Start measuring `pid` (`None`: measure nothing, report zeros).
    pub fn start(pid: Option<u32>) -> Meter {
        Meter::start_all(pid.as_slice())
    }

    /// Start measuring the sum over `pids` (none: report zeros).
    pub fn start_all(pids: &[u32]) -> Meter {
        Meter {
            pids: pids
                .iter()
                .map(|&p| (p, cpu_seconds(p).unwrap_or(0.0)))
                .collect(),
            at: Instant::now(),
        }
    }

    /// Use since [`Meter::start`], `units` being what was delivered.
    pub fn stop(&self, units: u64) -> Usage {
        if self.pids.is_empty() {
            return Usage::default();
        }
        let cpu_s: f64 = self
            .pids
            .iter()
            .map(|&(pid, before)| (cpu_seconds(pid).unwrap_or(before) - before).max(0.0))
            .sum();
        let wall = self.at.elapsed().as_secs_f64().max(1e-9);
        Usage {
            cpu_s,
            cores: cpu_s / wall,
            cpu_us_per_unit: if units > 0 {
                cpu_s * 1e6 / units as f64
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let pid = std::process::id();
        let before = cpu_seconds(pid).unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds(pid).unwrap() >= before);
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(peak_rss_kib(pid).unwrap() >= rss_kib(pid).unwrap() / 2);
    }

    #[test]
    fn a_meter_over_two_processes_sums_them() {
        let pid = std::process::id();
        let one = Meter::start_all(&[pid]);
        let two = Meter::start_all(&[pid, pid]);
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let (two, one) = (two.stop(1), one.stop(1));
        assert!(one.cpu_s > 0.0, "busy work used no CPU");
        // Read a moment apart: the second reading may have a tick more.
        assert!(two.cpu_s >= 2.0 * one.cpu_s - 0.05, "{two:?} vs {one:?}");
        assert_eq!(Meter::start_all(&[]).stop(1).cpu_s, 0.0);
    }
}
