//! Many small unpipelined clients: Debian's `mosquitto_pub -l` processes,
//! each fed lines from a pipe as fast as it takes them (one message per
//! packet, no batching of ours), into one `mosquitto_sub`. Our own
//! publishers pipeline and batch their writes, which hides the per-packet
//! cost (a read, an acknowledgement write, a delivery write) a broker pays
//! for clients like these; this step keeps that cost measured.
//!
//! Every line carries its publisher and sequence number, so the count and
//! the order per publisher are checked on the way out of `mosquitto_sub`.
//!
//! Each `mosquitto_pub -l` reads its whole input into libmosquitto's queue
//! (20 in flight, the rest waiting) and, at the end of its input, waits for
//! the acknowledgement of the last message id it sent. Ids are 16 bits:
//! past 65,535 messages an earlier one with the same id ends the wait, and
//! it exits with messages unsent. Hence [`MAX_MESSAGES`] per publisher.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::{
    brokers::which,
    error::BenchError,
    procstat::{self, Meter},
    scenario::{size_label, Metrics},
    traffic::{Live, Target},
};

/// The topic every publisher publishes on and the subscriber subscribes to.
const TOPIC: &str = "bench/small";
/// The line published until the subscriber shows it: then it is subscribed.
const PROBE: &str = "kite-bench-probe";
/// How long deliveries may pause, once the publishers are done, before the
/// missing ones are declared lost.
const QUIET: Duration = Duration::from_secs(5);
/// The most one run may take, start to end.
const LIMIT: Duration = Duration::from_secs(120);
/// Messages per publisher a run may ask for (see the module).
pub const MAX_MESSAGES: u64 = 60_000;

/// `publishers` × `mosquitto_pub -l -q qos`, each sending `messages` lines
/// of `size` bytes, into one `mosquitto_sub -q qos`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SmallClients {
    pub publishers: usize,
    /// Messages per publisher.
    pub messages: u64,
    pub qos: u8,
    /// Payload bytes (the line without its newline), 16 at least.
    pub size: usize,
}

impl SmallClients {
    /// "4× mosquitto_pub -l → mosquitto_sub QoS 1 64 B (100,000 msgs)".
    pub fn label(&self) -> String {
        format!(
            "small clients: {}× mosquitto_pub -l → 1 mosquitto_sub QoS {} {} ({} msgs)",
            self.publishers,
            self.qos,
            size_label(self.size),
            crate::progress::thousands((self.messages * self.publishers as u64) as f64)
        )
    }
}

/// Line `seq` of `publisher`: "PP SSSSSSSSSS " padded with '.' to `size`.
fn line(publisher: usize, seq: u64, size: usize, out: &mut Vec<u8>) {
    let start = out.len();
    let _ = write!(out, "{publisher:02} {seq:010} ");
    out.resize(start + size.max(out.len() - start), b'.');
    out.push(b'\n');
}

/// What came out of the subscriber, checked line by line.
#[derive(Debug, Default)]
struct Arrivals {
    /// The next sequence number expected of each publisher.
    next: Vec<u64>,
    /// Lines in order (the expected next of their publisher).
    good: u64,
    /// Lines of a sequence already seen (duplicates).
    repeated: u64,
    /// Lines past a gap: the gap's messages came later or never.
    skipped: u64,
    /// Lines that are neither ours nor the probe.
    foreign: u64,
    last: Option<Instant>,
}

impl Arrivals {
    fn new(publishers: usize) -> Arrivals {
        Arrivals {
            next: vec![0; publishers],
            ..Arrivals::default()
        }
    }

    fn take(&mut self, text: &str) {
        let mut fields = text.split(' ');
        let parsed = match (fields.next(), fields.next()) {
            (Some(p), Some(s)) => p.parse::<usize>().ok().zip(s.parse::<u64>().ok()),
            _ => None,
        };
        let Some((publisher, seq)) = parsed.filter(|(p, _)| *p < self.next.len()) else {
            self.foreign += 1;
            return;
        };
        let next = &mut self.next[publisher];
        if seq == *next {
            self.good += 1;
            *next += 1;
        } else if seq < *next {
            self.repeated += 1;
        } else {
            self.skipped += 1;
            *next = seq + 1;
        }
        self.last = Some(Instant::now());
    }

    /// Why the arrivals fail the check, if they do.
    fn problem(&self, sent: u64) -> Option<String> {
        let mut faults = Vec::new();
        if self.good < sent {
            faults.push(format!(
                "{} of {sent} lost or out of order",
                sent - self.good
            ));
        }
        for (n, what) in [
            (self.repeated, "duplicated"),
            (self.skipped, "past a gap"),
            (self.foreign, "not ours"),
        ] {
            if n > 0 {
                faults.push(format!("{n} {what}"));
            }
        }
        (!faults.is_empty()).then(|| faults.join(", "))
    }
}

/// A program we started, killed on drop so a failed run leaves nothing behind.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn program(name: &str) -> Result<std::path::PathBuf, BenchError> {
    which(name).ok_or_else(|| {
        BenchError::Usage(format!(
            "{name} not found (apt-get install mosquitto-clients)"
        ))
    })
}

/// Run `spec` against `target` (TCP); `live` counts deliveries.
pub async fn run(target: &Target, spec: &SmallClients, live: Live) -> Result<Metrics, BenchError> {
    let (target, spec) = (target.clone(), spec.clone());
    tokio::task::spawn_blocking(move || run_blocking(&target, &spec, &live)).await?
}

fn run_blocking(target: &Target, spec: &SmallClients, live: &Live) -> Result<Metrics, BenchError> {
    if spec.messages > MAX_MESSAGES || spec.size < 16 {
        return Err(BenchError::Usage(format!(
            "small clients: at most {MAX_MESSAGES} messages per publisher, of 16 bytes or more"
        )));
    }
    let (publish, subscribe) = (program("mosquitto_pub")?, program("mosquitto_sub")?);
    let addr = target.endpoint.tcp;
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    let qos = spec.qos.to_string();
    let common = ["-h", &host, "-p", &port, "-q", &qos, "-t", TOPIC];

    let mut sub = Spawned(
        Command::new(&subscribe)
            .args(common)
            .args(["-i", "kite-bench-small-sub"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let stdout = sub.0.stdout.take().expect("piped stdout");
    let subscribed = Arc::new(AtomicBool::new(false));
    let arrivals = Arc::new(Mutex::new(Arrivals::new(spec.publishers)));
    let reader = {
        let (subscribed, arrivals, live) = (subscribed.clone(), arrivals.clone(), live.clone());
        thread::spawn(move || {
            for text in BufReader::new(stdout).lines() {
                let Ok(text) = text else { break };
                if text == PROBE {
                    subscribed.store(true, Relaxed);
                    continue;
                }
                arrivals.lock().expect("arrivals").take(&text);
                live.fetch_add(1, Relaxed);
            }
        })
    };

    // mosquitto_sub says nothing once subscribed: publish a probe until it
    // comes out.
    let ready_by = Instant::now() + Duration::from_secs(15);
    while !subscribed.load(Relaxed) {
        if Instant::now() > ready_by {
            return Err(BenchError::timeout(
                "mosquitto_sub to subscribe",
                Duration::from_secs(15),
            ));
        }
        let _ = Command::new(&publish)
            .args(common)
            .args(["-m", PROBE])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        let until = Instant::now() + Duration::from_millis(300);
        while !subscribed.load(Relaxed) && Instant::now() < until {
            thread::sleep(Duration::from_millis(5));
        }
    }

    let broker = Meter::start(target.pid);
    let started = Instant::now();
    let mut pubs = Vec::new();
    for p in 0..spec.publishers {
        pubs.push(Spawned(
            Command::new(&publish)
                .args(common)
                .args(["-l", "-i", &format!("kite-bench-small-pub-{p}")])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        ));
    }
    let mut pids: Vec<u32> = pubs.iter().map(|c| c.0.id()).collect();
    pids.push(sub.0.id());
    let clients = Meter::start_all(&pids);
    // One thread per publisher writes its lines as fast as the pipe takes
    // them, then closes it: mosquitto_pub -l exits once the last is acknowledged.
    let feeders: Vec<_> = pubs
        .iter_mut()
        .enumerate()
        .map(|(p, child)| {
            let mut stdin = child.0.stdin.take().expect("piped stdin");
            let (messages, size) = (spec.messages, spec.size);
            thread::spawn(move || {
                let mut chunk = Vec::with_capacity(64 * 1024);
                let mut seq = 0;
                while seq < messages {
                    chunk.clear();
                    while seq < messages && chunk.len() + size < 64 * 1024 {
                        line(p, seq, size, &mut chunk);
                        seq += 1;
                    }
                    if stdin.write_all(&chunk).is_err() {
                        return false;
                    }
                }
                true
            })
        })
        .collect();

    let sent = spec.messages * spec.publishers as u64;
    let mut done_at: Option<Instant> = None;
    let mut exits = Vec::new();
    let outcome = loop {
        let (good, last) = {
            let a = arrivals.lock().expect("arrivals");
            (a.good, a.last)
        };
        if good >= sent {
            break None;
        }
        if done_at.is_none() {
            exits.clear();
            for child in pubs.iter_mut() {
                exits.push(child.0.try_wait()?);
            }
            if exits.iter().all(Option::is_some) {
                done_at = Some(Instant::now());
            }
        }
        if let Some(done) = done_at {
            let quiet_since = last.map_or(done, |l| l.max(done));
            if quiet_since.elapsed() > QUIET {
                break Some(format!("deliveries stopped for {QUIET:?}"));
            }
        }
        if started.elapsed() > LIMIT {
            break Some(format!("not done after {LIMIT:?}"));
        }
        thread::sleep(Duration::from_millis(1));
    };
    let end = arrivals
        .lock()
        .expect("arrivals")
        .last
        .unwrap_or_else(Instant::now);
    let seconds = end.duration_since(started).as_secs_f64().max(1e-9);
    let delivered = arrivals.lock().expect("arrivals").good;
    let (broker_usage, clients_usage) = (broker.stop(delivered), clients.stop(delivered));
    let (rss_kib, peak_rss_kib) = match target.pid {
        Some(pid) => (
            procstat::rss_kib(pid).unwrap_or(0),
            procstat::peak_rss_kib(pid).unwrap_or(0),
        ),
        None => (0, 0),
    };
    drop(pubs);
    drop(sub);
    let fed = feeders.into_iter().all(|f| f.join().unwrap_or(false));
    let _ = reader.join();

    let arrivals = arrivals.lock().expect("arrivals");
    let mut problems: Vec<String> = outcome.into_iter().collect();
    problems.extend(arrivals.problem(sent));
    if !fed {
        problems.push("a mosquitto_pub closed its input early".into());
    }
    if exits.iter().flatten().any(|status| !status.success()) {
        problems.push("a mosquitto_pub failed".into());
    }
    Ok(Metrics {
        seconds,
        sent,
        delivered: arrivals.good,
        msgs_per_s: arrivals.good as f64 / seconds,
        mb_per_s: (arrivals.good * spec.size as u64) as f64 / seconds / 1e6,
        broker: broker_usage,
        bench: clients_usage,
        rss_kib,
        peak_rss_kib,
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
        ..Metrics::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_payload_size_and_parse_back() {
        let mut out = Vec::new();
        line(3, 42, 64, &mut out);
        line(3, 43, 64, &mut out);
        assert_eq!(out.len(), 2 * 65);
        let text = String::from_utf8(out).unwrap();
        let mut arrivals = Arrivals::new(4);
        arrivals.next[3] = 42;
        for l in text.lines() {
            assert_eq!(l.len(), 64);
            arrivals.take(l);
        }
        assert_eq!((arrivals.good, arrivals.next[3]), (2, 44));
    }

    #[test]
    fn arrivals_catch_loss_duplicates_reordering_and_strangers() {
        let mut a = Arrivals::new(2);
        for text in ["00 0000000000 ..", "01 0000000000 ..", "00 0000000001 .."] {
            a.take(text);
        }
        assert_eq!(a.problem(3), None);
        assert_eq!(a.problem(4).as_deref(), Some("1 of 4 lost or out of order"));
        a.take("00 0000000001 ..");
        a.take("01 0000000005 ..");
        a.take("07 0000000000 ..");
        a.take("garbage");
        assert_eq!(
            a.problem(3).as_deref(),
            Some("1 duplicated, 1 past a gap, 2 not ours")
        );
    }
}
