//! Many connections at once (`kite-bench connections --target 1000000`,
//! compare's `connections` step): idle MQTT connections opened in waves from
//! several loopback source addresses (127.0.0.2, 127.0.0.3, …: a source
//! address has about 28,000 ports), each subscribed to a topic of its own and
//! to one shared topic. At each milestone it reads the broker's RSS and bytes
//! per connection, the kernel's socket memory (`/proc/net/sockstat`), the
//! connect rate, the idle broker's CPU, the time to deliver one message on
//! the shared topic to every connection (and how many got it), and the time
//! for every connection's PINGREQ to be answered.
//!
//! This process coordinates; the connections live in worker processes
//! ([`crate::many_worker`]), so only the broker's open-file limit caps the
//! run. The target is capped to what that limit leaves, and the run says so.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use bytes::BytesMut;
use futures_util::future::join_all;
use mqtt::{encode, Packet, Properties, Protocol, Publish, QoS};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    net::unix::pipe,
    time::Instant,
};

use crate::{
    fd_limit,
    many_worker::{self, Share},
    procstat,
    scenario::{Connections, Held, Milestone},
};

/// Source addresses a run may use: 127.0.0.2 up to 127.0.0.254, from a
/// first one among the lowest [`FIRST_SOURCES`].
const SOURCES: usize = 200;
const FIRST_SOURCES: usize = 50;
/// Descriptors the broker keeps beyond its connections and what it had open
/// at the start: the broadcast's publisher, and files it may open on its own.
const RESERVE: usize = 16;
/// Descriptors a worker keeps beyond its connections (stdio, its runtime).
const WORKER_RESERVE: usize = 64;

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub broker: SocketAddr,
    /// The broker's process, for its RSS, CPU and open-file limit.
    pub pid: Option<u32>,
    pub spec: Connections,
    /// Keepalive asked for, seconds (long: idle connections stay quiet).
    pub keep_alive: u16,
    /// Connections per source address (at most the ephemeral port range).
    pub per_source: usize,
    /// The program run as `<worker> many-worker …`: kite-bench itself.
    pub worker: PathBuf,
}

/// A process's soft open-file limit and the descriptors it has open now.
fn descriptors(pid: u32) -> Option<(u64, usize)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let open = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((soft, open))
}

/// The most connections a broker with `limit` descriptors, `open` of them
/// in use, can take.
pub fn room(limit: u64, open: usize) -> usize {
    usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(open + RESERVE)
}

fn sockstat() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    let line = text.lines().find(|l| l.starts_with("TCP:")).unwrap_or("");
    let field = |name: &str| {
        let mut words = line.split_whitespace();
        while let Some(word) = words.next() {
            if word == name {
                return words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            }
        }
        0
    };
    // `mem` is in pages of 4 KiB.
    (field("inuse"), field("mem") * 4)
}

/// A worker process and its command pipes (tokio's own pipe types: the
/// workspace's tokio has no `process` feature).
struct Worker {
    child: std::process::Child,
    stdin: pipe::Sender,
    stdout: Lines<BufReader<pipe::Receiver>>,
}

impl Worker {
    fn spawn(program: &PathBuf, share: &Share) -> Result<Worker, String> {
        let mut child = std::process::Command::new(program)
            .arg("many-worker")
            .args(share.args())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {} many-worker: {e}", program.display()))?;
        let pipes = (child.stdin.take(), child.stdout.take());
        let (Some(stdin), Some(stdout)) = pipes else {
            return Err("a worker without pipes".into());
        };
        let stdin = pipe::Sender::from_owned_fd(stdin.into()).map_err(|e| e.to_string())?;
        let stdout = pipe::Receiver::from_owned_fd(stdout.into()).map_err(|e| e.to_string())?;
        Ok(Worker {
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
        })
    }

    async fn say(&mut self, line: &str) -> Result<(), String> {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| format!("worker gone: {e}"))
    }

    /// The next answer: its word and the rest.
    async fn hear(&mut self) -> Result<(usize, String), String> {
        let line = self
            .stdout
            .next_line()
            .await
            .map_err(|e| e.to_string())?
            .ok_or("a worker exited")?;
        let mut words = line.splitn(3, ' ');
        let _word = words.next();
        let n = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        Ok((n, words.next().unwrap_or("").to_string()))
    }
}

/// Every worker hears its command; their answers, in order.
async fn ask(workers: &mut [Worker], commands: &[String]) -> Result<Vec<(usize, String)>, String> {
    for (w, command) in workers.iter_mut().zip(commands) {
        w.say(command).await?;
    }
    join_all(workers.iter_mut().map(Worker::hear))
        .await
        .into_iter()
        .collect()
}

async fn ask_all(workers: &mut [Worker], command: &str) -> Result<usize, String> {
    let commands = vec![command.to_string(); workers.len()];
    Ok(ask(workers, &commands).await?.iter().map(|(n, _)| n).sum())
}

/// Connections per source address for a run of `target`: 5,000, so even
/// 20,000 come from several addresses and `connect` finds a free port fast
/// (its search slows as a source's 28,232 ephemeral ports fill up: one
/// source for 20,000 cut the connect rate to a tenth), or more when a
/// million would not fit in [`SOURCES`] addresses.
pub fn per_source(target: usize) -> usize {
    5_000.max(target.div_ceil(SOURCES))
}

/// The last byte of a run's first source address: each run of a process
/// starts at another, as the previous run's ports may wait in TIME_WAIT.
fn first_source() -> u8 {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (2 + (std::process::id() as usize + run * 7) % FIRST_SOURCES) as u8
}

/// The milestones to stop at: those under the target, and the target.
pub fn goals(milestones: &[usize], target: usize) -> Vec<usize> {
    let mut goals: Vec<usize> = milestones
        .iter()
        .copied()
        .filter(|&m| m > 0 && m < target)
        .chain([target])
        .collect();
    goals.sort_unstable();
    goals.dedup();
    goals
}

/// How many of the first `goal` connections worker `index` of `workers`
/// holds (connection n is worker n mod workers's).
pub fn share_of(goal: usize, index: usize, workers: usize) -> usize {
    (goal + workers - 1 - index) / workers
}

/// Open connections up to the target, measuring at each milestone.
pub async fn run(plan: &Plan, mut progress: impl FnMut(&Milestone)) -> Held {
    let own_limit = fd_limit::raise_fd_limit_fully();
    let spec = &plan.spec;
    let mut held = Held {
        asked: spec.target,
        target: spec.target,
        worker_fd_limit: own_limit,
        ..Held::default()
    };
    let cap = |held: &mut Held| {
        let Some((limit, open)) = plan.pid.and_then(descriptors) else {
            return;
        };
        held.broker_fd_limit = limit;
        let most = room(limit, open);
        if held.target > most {
            held.target = most;
            held.capped = Some(format!(
                "the broker's open-file limit is {limit} and {open} were open before the first \
                 connection ({RESERVE} more are kept for the publisher and its own files); \
                 kite-bench raised its limit, which the brokers inherit, to {own_limit}: raising \
                 a hard limit further needs CAP_SYS_RESOURCE (/proc/sys/fs/nr_open is {})",
                fd_limit::nr_open()
            ));
        }
    };
    cap(&mut held);
    let per_worker = usize::try_from(own_limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(WORKER_RESERVE)
        .max(1);
    let count = held.target.div_ceil(per_worker).max(2);
    let tag = crate::traffic::unique_tag();
    let first_source = first_source();
    let mut workers = Vec::new();
    for index in 0..count {
        let share = Share {
            broker: plan.broker,
            index,
            stride: count,
            per_source: plan.per_source,
            first_source,
            keep_alive: plan.keep_alive,
            tag: tag.clone(),
            concurrency: (spec.concurrency / count).max(1),
        };
        match Worker::spawn(&plan.worker, &share) {
            Ok(w) => workers.push(w),
            Err(err) => {
                held.stopped = Some(err);
                return held;
            }
        }
    }
    // An in-process broker (the smoke test) now holds the workers' pipes too.
    cap(&mut held);
    held.workers = count;
    held.sources = held.target.div_ceil(plan.per_source.max(1));
    let rss_before = memory(plan);
    let mut total = 0;
    for goal in goals(&spec.milestones, held.target) {
        let from = total;
        let t0 = Instant::now();
        let commands: Vec<String> = (0..count)
            .map(|i| format!("open {}", share_of(goal, i, count)))
            .collect();
        let answers = match ask(&mut workers, &commands).await {
            Ok(answers) => answers,
            Err(err) => {
                held.stopped = Some(err);
                break;
            }
        };
        let seconds = t0.elapsed().as_secs_f64();
        total = answers.iter().map(|(n, _)| n).sum();
        let failure = answers
            .into_iter()
            .find_map(|(_, e)| (!e.is_empty()).then_some(e));
        let mut m = match measure(plan, &tag, &mut workers, total, rss_before).await {
            Ok(m) => m,
            Err(err) => {
                held.stopped = Some(err);
                break;
            }
        };
        m.connects_per_s = (total - from) as f64 / seconds.max(1e-9);
        progress(&m);
        let rss_mib = m.broker_rss_kib / 1024;
        held.milestones.push(m);
        if let Some(err) = failure {
            held.stopped = Some(format!(
                "{total} of {goal} connections open; the first failure: {err}"
            ));
            break;
        }
        if rss_mib > spec.rss_cap_mib && goal < held.target {
            held.stopped = Some(format!(
                "stopped at {total}: broker RSS {rss_mib} MiB is past the {} MiB cap",
                spec.rss_cap_mib
            ));
            break;
        }
    }
    for mut w in workers {
        if w.say("close").await.is_ok() {
            let _ = w.hear().await;
        }
        let _ = w.child.wait();
    }
    held
}

impl Drop for Worker {
    /// A worker still running (a failed run) is killed: it holds sockets.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn measure(
    plan: &Plan,
    tag: &str,
    workers: &mut [Worker],
    n: usize,
    (rss_before, anon_before): (u64, u64),
) -> Result<Milestone, String> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss_now, anon_now) = memory(plan);
    let (tcp_sockets, tcp_memory_kib) = sockstat();
    let idle = procstat::Meter::start(plan.pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_cores = idle.stop(0).cores;
    // One message on the shared topic, from a connection of its own.
    let mut publish = BytesMut::new();
    let message = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: many_worker::shared(tag).into(),
        pid: None,
        properties: Properties::default(),
        payload: b"broadcast".to_vec().into(),
    };
    encode(&Packet::Publish(message), Protocol::V311, &mut publish).expect("PUBLISH");
    let hello = many_worker::hello(tag, usize::MAX, plan.keep_alive, false);
    let mut publisher = many_worker::open(plan.broker, None, &hello, false)
        .await
        .map_err(|e| format!("the broadcast's publisher: {e}"))?;
    for w in workers.iter_mut() {
        w.say(&format!("receive {}", publish.len())).await?;
    }
    let t0 = Instant::now();
    let sent = publisher.write_all(&publish).await;
    let delivered: usize = join_all(workers.iter_mut().map(Worker::hear))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .map(|(n, _)| n)
        .sum();
    let broadcast_ms = t0.elapsed().as_secs_f64() * 1000.0;
    sent.map_err(|e| format!("the broadcast's PUBLISH: {e}"))?;
    let _ = publisher.write_all(&[0xE0, 0x00]).await;
    let t0 = Instant::now();
    let pongs = ask_all(workers, "ping").await?;
    let ping_sweep_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let active_rss_kib = plan
        .pid
        .and_then(|p| procstat::rss_kib(p).ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled_rss_kib = plan
        .pid
        .and_then(|p| procstat::rss_kib(p).ok())
        .unwrap_or(0);
    Ok(Milestone {
        connections: n,
        broker_rss_kib: rss_now,
        broker_anon_kib: anon_now,
        bytes_per_connection: per_connection(anon_now, anon_before, n),
        rss_bytes_per_connection: per_connection(rss_now, rss_before, n),
        tcp_sockets,
        tcp_memory_kib,
        connects_per_s: 0.0,
        idle_cores,
        broadcast_ms,
        broadcast_delivered: delivered,
        ping_sweep_ms,
        pongs,
        active_rss_kib,
        settled_rss_kib,
    })
}

/// The broker's (VmRSS, RssAnon), KiB; zeroes without a pid.
fn memory(plan: &Plan) -> (u64, u64) {
    plan.pid
        .and_then(|p| procstat::rss_and_anon_kib(p).ok())
        .unwrap_or((0, 0))
}

fn per_connection(now_kib: u64, before_kib: u64, n: usize) -> f64 {
    now_kib.saturating_sub(before_kib) as f64 * 1024.0 / n.max(1) as f64
}

impl Milestone {
    /// One row of the connections table.
    pub fn row(&self, broker: &str) -> String {
        format!(
            "| {broker} | {} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {:.0} | {:.3} | {:.0} ({}) | {:.0} ({}) |",
            self.connections,
            self.broker_rss_kib / 1024,
            self.broker_anon_kib / 1024,
            self.bytes_per_connection,
            self.rss_bytes_per_connection,
            self.active_rss_kib / 1024,
            self.settled_rss_kib / 1024,
            self.tcp_sockets,
            self.tcp_memory_kib,
            self.connects_per_s,
            self.idle_cores,
            self.broadcast_ms,
            self.broadcast_delivered,
            self.ping_sweep_ms,
            self.pongs,
        )
    }

    /// The table's header.
    pub fn header() -> &'static str {
        "| broker | connections | broker RSS MiB | anonymous MiB | bytes/conn (anonymous) | bytes/conn (RSS) | RSS after sweeps MiB | 2 s later MiB | TCP sockets | TCP mem KiB | connects/s | idle cores | broadcast ms (delivered) | ping sweep ms (answered) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_end_at_the_target_and_skip_milestones_past_it() {
        assert_eq!(
            goals(&[100_000, 2_500, 250_000, 0], 19_000),
            [2_500, 19_000]
        );
        assert_eq!(goals(&[10, 20], 20), [10, 20]);
    }

    #[test]
    fn shares_add_up_to_the_goal() {
        for (goal, workers) in [(19_950, 2), (7, 3), (0, 2), (1_000_000, 51)] {
            let sum: usize = (0..workers).map(|i| share_of(goal, i, workers)).sum();
            assert_eq!(sum, goal, "{goal} over {workers}");
        }
        assert_eq!(share_of(7, 0, 3), 3, "0, 3, 6");
        assert_eq!(share_of(7, 2, 3), 2, "2, 5");
    }

    #[test]
    fn a_million_fits_in_the_loopback_sources() {
        assert_eq!(per_source(20_000), 5_000, "four sources");
        let most = per_source(1_000_000);
        assert!(FIRST_SOURCES + 1 + 1_000_000usize.div_ceil(most) <= 254);
        assert!((2..2 + FIRST_SOURCES as u8).contains(&first_source()));
    }

    #[test]
    fn rows_have_the_header_s_columns() {
        let header = Milestone::header().lines().next().unwrap();
        let row = Milestone::default().row("kite");
        assert_eq!(header.matches('|').count(), row.matches('|').count());
    }

    #[test]
    fn room_leaves_the_reserve() {
        assert_eq!(room(20_000, 10), 20_000 - 10 - RESERVE);
        assert_eq!(room(10, 10), 0);
    }

    #[test]
    fn this_process_has_a_limit_and_open_descriptors() {
        let (limit, open) = descriptors(std::process::id()).expect("/proc");
        assert!(limit > 0 && open >= 3, "{limit} {open}");
    }
}
