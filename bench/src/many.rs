//! Many connections at once (`kite-bench connections --target 1000000`):
//! idle MQTT connections opened in waves from several loopback source
//! addresses (127.0.0.2, 127.0.0.3, …: a source address has about 28,000
//! ports), each subscribed to a topic of its own and to one shared topic.
//! At each milestone it reads the broker's RSS and bytes per connection,
//! the kernel's socket memory (`/proc/net/sockstat`), the connect rate, the
//! idle broker's CPU, the time to deliver one message on the shared topic
//! to every connection (and how many got it), and the time for every
//! connection's PINGREQ to be answered.
//!
//! A connection costs this process a socket and nothing else while idle:
//! CONNECT and SUBSCRIBE are bytes made once with the shared codec, and
//! replies are read straight off the socket, so a million fit in memory.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use bytes::BytesMut;
use futures_util::{stream, StreamExt};
use mqtt::{
    encode, Connect, Packet, Properties, Protocol, Publish, QoS, Subscribe, SubscribeFilter,
    SubscriptionOptions,
};
use serde::Serialize;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    time::{timeout, Instant},
};

use crate::{error::BenchError, procstat};

/// Connections per source address by default (the usual ephemeral range
/// has 28,232 ports).
pub const PER_SOURCE: usize = 25_000;
/// How long a broadcast or a ping sweep may take before what is missing is
/// counted as missing.
const SWEEP_LIMIT: Duration = Duration::from_secs(120);

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub broker: SocketAddr,
    /// The broker's process, for its RSS and CPU.
    pub pid: Option<u32>,
    pub target: usize,
    /// Counts to stop and measure at (the target is always one).
    pub milestones: Vec<usize>,
    /// Connections being opened at once.
    pub concurrency: usize,
    /// Keepalive asked for, seconds (long: idle connections stay quiet).
    pub keep_alive: u16,
    /// Connections per source address (at most the ephemeral port range).
    pub per_source: usize,
}

/// The figures at one milestone.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Milestone {
    pub connections: usize,
    pub broker_rss_kib: u64,
    /// (RSS now − RSS before the first connection) / connections.
    pub bytes_per_connection: f64,
    /// TCP sockets in use and their memory (pages of 4 KiB), machine-wide.
    pub tcp_sockets: u64,
    pub tcp_memory_kib: u64,
    /// Connections opened per second since the previous milestone.
    pub connects_per_s: f64,
    /// The idle broker's CPU, in cores, over two seconds.
    pub idle_cores: f64,
    /// One QoS 0 message to the shared topic: how long until every
    /// connection had it, and how many did.
    pub broadcast_ms: f64,
    pub broadcast_delivered: usize,
    /// Every connection sends PINGREQ: how long until all PINGRESPs came.
    pub ping_sweep_ms: f64,
    pub pongs: usize,
}

/// What a run found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    pub milestones: Vec<Milestone>,
    /// Why it stopped before the target, if it did.
    pub stopped: Option<String>,
    /// Open-file limit of this process (raised as far as allowed).
    pub fd_limit: u64,
}

/// Raise this process's open-file limit to the kernel's `nr_open` where
/// allowed (root), else to the hard limit; the limit in force.
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
pub fn raise_fd_limit_fully() -> u64 {
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1_048_576);
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        let wanted = libc::rlimit {
            rlim_cur: nr_open as libc::rlim_t,
            rlim_max: nr_open as libc::rlim_t,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur as u64
    }
}

/// The bytes a connection sends first: CONNECT, and SUBSCRIBE to its own
/// topic and the shared one.
fn hello(tag: &str, n: usize, keep_alive: u16) -> Vec<u8> {
    let mut out = BytesMut::new();
    let connect = Connect {
        protocol: Protocol::V311,
        bridge: false,
        clean_start: true,
        keep_alive,
        client_id: format!("kb-{tag}-{n}").into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    };
    encode(
        &Packet::Connect(Box::new(connect)),
        Protocol::V311,
        &mut out,
    )
    .expect("CONNECT");
    let filter = |f: String| SubscribeFilter {
        filter: f.into(),
        options: SubscriptionOptions::default(),
    };
    let subscribe = Subscribe {
        pid: mqtt::Pid::new(1).expect("1"),
        properties: Properties::default(),
        filters: vec![filter(format!("kb/{tag}/c/{n}")), filter(shared(tag))],
    };
    encode(&Packet::Subscribe(subscribe), Protocol::V311, &mut out).expect("SUBSCRIBE");
    out.to_vec()
}

fn shared(tag: &str) -> String {
    format!("kb/{tag}/all")
}

/// CONNACK (4 bytes) and a SUBACK with two return codes (6 bytes).
const ANSWER: usize = 10;

async fn open(plan: &Plan, tag: &str, n: usize) -> Result<TcpStream, String> {
    // A run's sources start at an address of its own: the previous run's
    // ports wait in TIME_WAIT on theirs.
    let first = 2 + (std::process::id() as usize % 150);
    let source = Ipv4Addr::new(
        127,
        0,
        0,
        (first + n / plan.per_source.max(1)).min(254) as u8,
    );
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    // The port is picked at connect, for the whole 4-tuple, not at bind
    // (IP_BIND_ADDRESS_NO_PORT): binding a busy range port by port is slow.
    // SAFETY: setsockopt on the socket's own descriptor with a local int.
    unsafe {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    socket
        .bind(SocketAddr::from((source, 0)))
        .map_err(|e| format!("bind {source}: {e}"))?;
    let mut stream = socket
        .connect(plan.broker)
        .await
        .map_err(|e| format!("connect from {source}: {e}"))?;
    stream
        .write_all(&hello(tag, n, plan.keep_alive))
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = [0u8; ANSWER];
    stream
        .read_exact(&mut answer)
        .await
        .map_err(|e| format!("no CONNACK and SUBACK: {e}"))?;
    if answer[0] != 0x20 || answer[3] != 0 || answer[4] != 0x90 {
        return Err(format!("refused: {answer:02x?}"));
    }
    Ok(stream)
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
    (field("inuse"), field("mem") * 4)
}

/// Read one PUBLISH of `expected` bytes, or a 2-byte PINGRESP.
async fn read_exactly(stream: &mut TcpStream, expected: usize) -> bool {
    let mut buf = vec![0u8; expected];
    timeout(SWEEP_LIMIT, stream.read_exact(&mut buf))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// Open connections up to the target, measuring at each milestone.
pub async fn run(plan: &Plan, mut progress: impl FnMut(&Milestone)) -> Outcome {
    let fd_limit = raise_fd_limit_fully();
    let tag = format!("{:x}", std::process::id());
    let rss = || {
        plan.pid
            .and_then(|p| procstat::rss_kib(p).ok())
            .unwrap_or(0)
    };
    let rss_before = rss();
    let mut milestones: Vec<usize> = plan
        .milestones
        .iter()
        .copied()
        .filter(|&m| m < plan.target)
        .chain([plan.target])
        .collect();
    milestones.sort_unstable();
    milestones.dedup();
    let mut conns: Vec<TcpStream> = Vec::with_capacity(plan.target);
    let mut outcome = Outcome {
        fd_limit,
        ..Outcome::default()
    };
    for goal in milestones {
        let from = conns.len();
        let t0 = Instant::now();
        let opened: Vec<Result<TcpStream, String>> = stream::iter(from..goal)
            .map(|n| {
                let tag = tag.clone();
                async move {
                    timeout(Duration::from_secs(30), open(plan, &tag, n))
                        .await
                        .unwrap_or_else(|_| Err("no answer within 30 s".into()))
                }
            })
            .buffer_unordered(plan.concurrency.max(1))
            .collect()
            .await;
        let seconds = t0.elapsed().as_secs_f64();
        let mut failure = None;
        for result in opened {
            match result {
                Ok(stream) => conns.push(stream),
                Err(err) => {
                    failure.get_or_insert(err);
                }
            }
        }
        let mut m = measure(plan, &tag, &mut conns, rss_before).await;
        m.connects_per_s = (conns.len() - from) as f64 / seconds.max(1e-9);
        progress(&m);
        outcome.milestones.push(m);
        if let Some(err) = failure {
            outcome.stopped = Some(format!(
                "{} of {goal} connections open; the first failure: {err}",
                conns.len()
            ));
            break;
        }
    }
    stream::iter(conns)
        .for_each_concurrent(1024, |mut c| async move {
            let _ = c.write_all(&[0xE0, 0x00]).await;
        })
        .await;
    outcome
}

async fn measure(plan: &Plan, tag: &str, conns: &mut [TcpStream], rss_before: u64) -> Milestone {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_now = plan
        .pid
        .and_then(|p| procstat::rss_kib(p).ok())
        .unwrap_or(0);
    let (tcp_sockets, tcp_memory_kib) = sockstat();
    let idle = procstat::Meter::start(plan.pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_cores = idle.stop(0).cores;
    // One message on the shared topic, from a connection of its own.
    let payload = b"broadcast".to_vec();
    let topic = shared(tag);
    let mut publish = BytesMut::new();
    let message = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: topic.into(),
        pid: None,
        properties: Properties::default(),
        payload: payload.into(),
    };
    encode(&Packet::Publish(message), Protocol::V311, &mut publish).expect("PUBLISH");
    let size = publish.len();
    let t0 = Instant::now();
    let mut delivered = 0;
    if let Ok(mut publisher) = open(plan, tag, conns.len()).await {
        let _ = publisher.write_all(&publish).await;
        delivered = stream::iter(conns.iter_mut())
            .map(|c| read_exactly(c, size))
            .buffer_unordered(8192)
            .filter(|ok| std::future::ready(*ok))
            .count()
            .await;
        let _ = publisher.write_all(&[0xE0, 0x00]).await;
    }
    let broadcast_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let t0 = Instant::now();
    let pongs = stream::iter(conns.iter_mut())
        .map(
            |c| async move { c.write_all(&[0xC0, 0x00]).await.is_ok() && read_exactly(c, 2).await },
        )
        .buffer_unordered(8192)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let ping_sweep_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let n = conns.len();
    Milestone {
        connections: n,
        broker_rss_kib: rss_now,
        bytes_per_connection: rss_now.saturating_sub(rss_before) as f64 * 1024.0 / n.max(1) as f64,
        tcp_sockets,
        tcp_memory_kib,
        connects_per_s: 0.0,
        idle_cores,
        broadcast_ms,
        broadcast_delivered: delivered,
        ping_sweep_ms,
        pongs,
    }
}

impl Milestone {
    /// One line of the table `kite-bench connections` prints.
    pub fn row(&self, broker: &str) -> String {
        format!(
            "| {broker} | {} | {} | {:.0} | {} | {} | {:.0} | {:.3} | {:.0} ({}) | {:.0} ({}) |",
            self.connections,
            self.broker_rss_kib / 1024,
            self.bytes_per_connection,
            self.tcp_sockets,
            self.tcp_memory_kib / 1024,
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
        "| broker | connections | broker RSS MiB | bytes/conn | TCP sockets | TCP mem MiB | connects/s | idle cores | broadcast ms (delivered) | ping sweep ms (answered) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_is_a_connect_and_a_subscribe_to_two_filters() {
        let bytes = hello("t", 7, 600);
        let mut buf = BytesMut::from(&bytes[..]);
        let connect = mqtt::decode(&mut buf, Protocol::V311, u32::MAX).unwrap();
        assert!(matches!(connect, Some(Packet::Connect(c)) if c.client_id == "kb-t-7"));
        let subscribe = mqtt::decode(&mut buf, Protocol::V311, u32::MAX).unwrap();
        match subscribe {
            Some(Packet::Subscribe(s)) => {
                let filters: Vec<&str> = s.filters.iter().map(|f| &*f.filter).collect();
                assert_eq!(filters, ["kb/t/c/7", "kb/t/all"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(buf.is_empty());
    }
}

/// One broker's run.
#[derive(Clone, Debug, Serialize)]
pub struct BrokerRun {
    pub broker: String,
    pub outcome: Outcome,
}

/// `kite-bench connections`: each broker in turn, started fresh, up to the
/// target; a Markdown table, `results.json` and `bytes-per-connection.svg`
/// under `out`. Returns the table.
pub async fn compare(
    brokers: &[crate::brokers::BrokerKind],
    binaries: &crate::brokers::Binaries,
    plan: &Plan,
    out: &std::path::Path,
) -> Result<String, BenchError> {
    // Before the brokers start: they inherit the limit.
    let fd_limit = raise_fd_limit_fully();
    // A connection is a descriptor in the broker and one here: neither
    // process can hold more than its limit (raising the hard limit takes
    // CAP_SYS_RESOURCE).
    let most = usize::try_from(fd_limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(200);
    let mut plan = plan.clone();
    let asked = plan.target;
    let mut note = String::new();
    if plan.target > most {
        note = format!(
            "\nThe target {} is capped at {most}: the open-file limit of each process is {fd_limit}, and \
             this process may not raise it (raising a hard limit needs CAP_SYS_RESOURCE; \
             /proc/sys/fs/nr_open is {}).\n",
            plan.target,
            std::fs::read_to_string("/proc/sys/fs/nr_open").unwrap_or_default().trim()
        );
        plan.target = most;
        plan.milestones.retain(|&m| m < most);
    }
    let plan = &plan;
    let mut runs = Vec::new();
    let mut table = format!(
        "Command: `kite-bench connections --target {asked}`; this process's open-file limit: {fd_limit}\n{note}\n{}\n",
        Milestone::header()
    );
    for &kind in brokers {
        let options = crate::brokers::StartOptions {
            tcp_only: true,
            ..Default::default()
        };
        let running = crate::brokers::Running::start(kind, binaries, &options).await?;
        let plan = Plan {
            broker: running.target.endpoint.tcp,
            pid: running.target.pid,
            ..plan.clone()
        };
        let name = kind.name().to_string();
        let outcome = run(&plan, |m| {
            let row = m.row(&name);
            println!("{row}");
        })
        .await;
        for m in &outcome.milestones {
            table.push_str(&m.row(&name));
            table.push('\n');
        }
        if let Some(why) = &outcome.stopped {
            table.push_str(&format!("\n{name} stopped: {why}\n"));
        }
        running.stop().await?;
        runs.push(BrokerRun {
            broker: name,
            outcome,
        });
    }
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("results.json"), serde_json::to_vec_pretty(&runs)?)?;
    std::fs::write(out.join("summary.md"), &table)?;
    let groups: Vec<crate::svg::Group> = runs
        .iter()
        .map(|r| crate::svg::Group {
            title: r.broker.clone(),
            unit: "B".into(),
            bars: r
                .outcome
                .milestones
                .iter()
                .map(|m| (format!("{}", m.connections), Some(m.bytes_per_connection)))
                .collect(),
        })
        .collect();
    std::fs::write(
        out.join("bytes-per-connection.svg"),
        crate::svg::bar_chart(
            "Broker RSS per idle connection",
            "bytes per connection at each count of connections held",
            &groups,
        ),
    )?;
    Ok(table)
}
