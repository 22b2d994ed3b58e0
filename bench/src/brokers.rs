//! The brokers `compare` starts: `kite-server` (release build), Debian's
//! `mosquitto` and `rumqttd` from crates.io, each on free loopback ports with
//! a generated configuration in a fresh temporary folder, stopped with
//! SIGINT/SIGTERM.

use std::{
    fmt::Write as _,
    fs,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tokio::time::{sleep, Instant};

use crate::{error::BenchError, link::Endpoint, traffic::Target};

/// The rumqttd release `compare` installs (`cargo install`) when missing.
pub const RUMQTTD_VERSION: &str = "0.20.0";

/// A broker `compare` knows how to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BrokerKind {
    Kite,
    Mosquitto,
    Rumqttd,
}

impl BrokerKind {
    pub fn name(self) -> &'static str {
        match self {
            BrokerKind::Kite => "kite",
            BrokerKind::Mosquitto => "mosquitto",
            BrokerKind::Rumqttd => "rumqttd",
        }
    }
}

/// Where the broker programs are.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub kite: PathBuf,
    pub mosquitto: PathBuf,
    pub rumqttd: PathBuf,
}

impl Binaries {
    pub fn path(&self, kind: BrokerKind) -> &Path {
        match kind {
            BrokerKind::Kite => &self.kite,
            BrokerKind::Mosquitto => &self.mosquitto,
            BrokerKind::Rumqttd => &self.rumqttd,
        }
    }
}

/// Extra settings for one start.
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// kite-server's `--durability`.
    pub durability: Option<String>,
    /// A latency run: Mosquitto gets `set_tcp_nodelay true` (kite-server
    /// always sets it; rumqttd has no such setting).
    pub low_latency: bool,
    /// A bridge to the broker on this loopback port, carrying `bench/#` out
    /// at QoS 1 (kite-server and Mosquitto only).
    pub bridge_to: Option<u16>,
    /// MQTT over TCP only: Mosquitto gets no WebSocket listener (its
    /// libwebsockets sizes a table by the open-file limit, which a
    /// million-connection run raises past what it can allocate).
    pub tcp_only: bool,
}

/// The bridge's name, and its client id on the far broker: its state is
/// `$SYS/broker/connection/bench-bridge/state` on the bridging broker (both
/// kite-server and Mosquitto publish it there, retained, `1` when up).
pub const BRIDGE_NAME: &str = "bench-bridge";
/// The topics the bridge carries: `bench/#`.
pub const BRIDGE_ROOT: &str = "bench";

/// kite-server's `[[bridge]]` to `127.0.0.1:port`: `bench/#` out at QoS 1,
/// everything else at its defaults (MQTT 3.1.1, `try_private`, a session
/// kept on both sides).
fn kite_bridge_toml(port: u16) -> String {
    format!(
        "# written by kite-bench\n[[bridge]]\nname = \"{BRIDGE_NAME}\"\naddresses = [\"127.0.0.1:{port}\"]\n\
         client_id = \"{BRIDGE_NAME}\"\n\n[[bridge.topic]]\npattern = \"{BRIDGE_ROOT}/#\"\ndirection = \"out\"\nqos = 1\n"
    )
}

/// Mosquitto's `connection` section doing the same, at its defaults
/// otherwise (`try_private true`, `cleansession false`, `notifications true`).
fn mosquitto_bridge_section(port: u16) -> String {
    format!(
        "connection {BRIDGE_NAME}\naddress 127.0.0.1:{port}\nremote_clientid {BRIDGE_NAME}\ntopic {BRIDGE_ROOT}/# out 1\n"
    )
}

/// A broker process we started; stopped (and its folder removed) by
/// [`Running::stop`], killed on drop as a last resort.
pub struct Running {
    pub kind: BrokerKind,
    pub target: Target,
    child: Option<Child>,
    dir: PathBuf,
}

/// Ports handed out by [`free_port`]: below Linux's default ephemeral range
/// (32768–60999), so no outgoing connection takes one as its local port
/// between the check here and the broker's own bind. (A port the kernel
/// picked for a listener here was such a port: a broker then failed to bind
/// it once in CI.)
const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A loopback port nobody listens on now, a different one on each call of
/// this process (two processes start apart, by their ids).
pub(crate) fn free_port() -> Result<u16, BenchError> {
    static NEXT: AtomicU64 = AtomicU64::new(u64::MAX);
    let span = u64::from(PORTS.end - PORTS.start);
    // The first caller picks the start; the rest follow on.
    let _ = NEXT.compare_exchange(
        u64::MAX,
        u64::from(std::process::id()) * 97 % span,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..span {
        let port = PORTS.start + (NEXT.fetch_add(1, Ordering::Relaxed) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(BenchError::Usage(format!(
        "no free loopback port in {PORTS:?}"
    )))
}

/// A fresh folder under the system temp dir.
pub fn fresh_dir(what: &str) -> Result<PathBuf, BenchError> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kite-bench-{}-{what}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    fs::write(path, text).map_err(|source| BenchError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Mosquitto's configuration: its defaults, but loopback listeners, a large
/// queue, and no cap on QoS 1/2 messages in flight: with a cap, 2.0.11
/// strands queued messages once its publishers go quiet (its own verbose log
/// shows them received and acknowledged to the publisher but never sent to
/// the subscriber, though the subscriber acknowledged everything it got).
/// `TCP_NODELAY` only for latency runs: Nagle's coalescing is worth up to 60 %
/// of its throughput, and costs it milliseconds of latency.
fn mosquitto_conf(tcp: u16, ws: u16, low_latency: bool) -> String {
    let mut conf = String::new();
    let _ = writeln!(conf, "# written by kite-bench");
    let _ = writeln!(conf, "per_listener_settings false");
    let _ = writeln!(conf, "allow_anonymous true");
    let _ = writeln!(conf, "persistence false");
    let _ = writeln!(conf, "log_dest stderr");
    let _ = writeln!(conf, "log_type error");
    let _ = writeln!(conf, "log_type warning");
    let _ = writeln!(conf, "connection_messages false");
    let _ = writeln!(conf, "max_queued_messages 100000");
    let _ = writeln!(conf, "max_inflight_messages 0");
    let _ = writeln!(conf, "set_tcp_nodelay {low_latency}");
    let _ = writeln!(conf, "listener {tcp} 127.0.0.1");
    let _ = writeln!(conf, "listener {ws} 127.0.0.1");
    let _ = writeln!(conf, "protocol websockets");
    conf
}

fn rumqttd_conf(tcp: u16, ws: u16) -> String {
    // Defaults of rumqttd.toml, but: loopback only, no accept delay, room
    // for 10,000+ connections and 64 KiB payloads, a 1024 message window.
    let connections = "    connection_timeout_ms = 60000\n    max_payload_size = 1048576\n    max_inflight_count = 1024\n    dynamic_filters = true\n";
    format!(
        "# written by kite-bench\nid = 0\n\n[router]\nid = 0\nmax_connections = 30000\nmax_outgoing_packet_count = 200\nmax_segment_size = 104857600\nmax_segment_count = 10\n\n\
         [v4.1]\nname = \"v4-1\"\nlisten = \"127.0.0.1:{tcp}\"\nnext_connection_delay_ms = 0\n  [v4.1.connections]\n{connections}\n\
         [ws.1]\nname = \"ws-1\"\nlisten = \"127.0.0.1:{ws}\"\nnext_connection_delay_ms = 0\n  [ws.1.connections]\n{connections}"
    )
}

impl Running {
    /// Start `kind` on free loopback ports and wait until it accepts.
    pub async fn start(
        kind: BrokerKind,
        binaries: &Binaries,
        options: &StartOptions,
    ) -> Result<Running, BenchError> {
        let dir = fresh_dir(kind.name())?;
        let (tcp, ws) = (free_port()?, free_port()?);
        let program = binaries.path(kind);
        let mut command = Command::new(program);
        match kind {
            BrokerKind::Kite => {
                let data = dir.join("data");
                command
                    .args(["--tcp", &format!("127.0.0.1:{tcp}")])
                    .args(["--http", &format!("127.0.0.1:{ws}")])
                    .arg("--data-dir")
                    .arg(&data)
                    .args(["--sys-interval", "0", "--dashboard-dir", "/nonexistent"])
                    .args(["--max-queued-messages", "100000"])
                    .env("RUST_LOG", "warn");
                if let Some(durability) = &options.durability {
                    command.args(["--durability", durability]);
                }
                if let Some(port) = options.bridge_to {
                    let conf = dir.join("kite.toml");
                    write(&conf, &kite_bridge_toml(port))?;
                    command.arg("--config").arg(conf);
                }
            }
            BrokerKind::Mosquitto => {
                let conf = dir.join("mosquitto.conf");
                let mut text = mosquitto_conf(tcp, ws, options.low_latency);
                if options.tcp_only {
                    text = text.replace(
                        &format!("listener {ws} 127.0.0.1\nprotocol websockets\n"),
                        "",
                    );
                    text.push_str("max_connections -1\n");
                }
                if let Some(port) = options.bridge_to {
                    text.push_str(&mosquitto_bridge_section(port));
                }
                write(&conf, &text)?;
                command.arg("-c").arg(conf);
            }
            BrokerKind::Rumqttd if options.bridge_to.is_some() => {
                let _ = fs::remove_dir_all(&dir);
                return Err(BenchError::Usage("no bridge step for rumqttd".into()));
            }
            BrokerKind::Rumqttd => {
                let conf = dir.join("rumqttd.toml");
                write(&conf, &rumqttd_conf(tcp, ws))?;
                command.arg("-q").arg("-c").arg(conf);
            }
        }
        let log = fs::File::create(dir.join("broker.log"))?;
        let spawned = command
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(err) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(BenchError::Broker {
                    broker: kind.name().into(),
                    reason: format!("cannot start {}: {err}", program.display()),
                });
            }
        };
        let pid = child.id();
        let mut running = Running {
            kind,
            target: Target {
                endpoint: Endpoint {
                    tcp: SocketAddr::from(([127, 0, 0, 1], tcp)),
                    ws: Some(format!("ws://127.0.0.1:{ws}/mqtt")),
                },
                pid: Some(pid),
            },
            child: Some(child),
            dir,
        };
        let ports: &[u16] = if options.tcp_only && kind == BrokerKind::Mosquitto {
            &[tcp]
        } else {
            &[tcp, ws]
        };
        running.wait_ready(ports).await?;
        Ok(running)
    }

    async fn wait_ready(&mut self, ports: &[u16]) -> Result<(), BenchError> {
        let deadline = Instant::now() + Duration::from_secs(15);
        for port in ports {
            loop {
                if let Some(child) = self.child.as_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(self.failure(format!("exited at start ({status})")));
                    }
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", *port))
                    .await
                    .is_ok()
                {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(self.failure(format!("not listening on {port} after 15 s")));
                }
                sleep(Duration::from_millis(20)).await;
            }
        }
        // Let start-up work (threads, allocations) finish before measuring.
        sleep(Duration::from_millis(200)).await;
        Ok(())
    }

    fn failure(&self, reason: String) -> BenchError {
        let log = fs::read_to_string(self.dir.join("broker.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        BenchError::Broker {
            broker: self.kind.name().into(),
            reason: format!("{reason}; log: {}", tail.join(" | ")),
        }
    }

    /// Is it still running?
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGINT (kite-server's Ctrl-C) or SIGTERM, wait up to 10 s, then
    /// remove the folder. Only a broker that ignores that is killed.
    pub async fn stop(mut self) -> Result<(), BenchError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let signal = match self.kind {
            BrokerKind::Kite => libc::SIGINT,
            BrokerKind::Mosquitto | BrokerKind::Rumqttd => libc::SIGTERM,
        };
        // SAFETY: kill(2) on the pid of a child we have not reaped yet.
        unsafe {
            libc::kill(child.id() as libc::pid_t, signal);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let result = loop {
            match child.try_wait() {
                Ok(Some(_)) => break Ok(()),
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(10)).await,
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(BenchError::Broker {
                        broker: self.kind.name().into(),
                        reason: "did not stop within 10 s of the signal".into(),
                    });
                }
            }
        };
        let _ = fs::remove_dir_all(&self.dir);
        result
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A program on `PATH` (or in `~/.cargo/bin`).
pub fn which(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/bin"].map(PathBuf::from));
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// `rumqttd`, installed with `cargo install` when missing and `install`.
/// Not `--locked`: its lock file pins `metrics` 0.22.1, which current
/// compilers reject (E0521).
pub fn ensure_rumqttd(install: bool) -> Result<PathBuf, BenchError> {
    if let Some(path) = which("rumqttd") {
        return Ok(path);
    }
    if !install {
        return Err(BenchError::Usage(
            "rumqttd is not installed (make bench-setup installs it)".into(),
        ));
    }
    eprintln!(
        "kite-bench: installing rumqttd {RUMQTTD_VERSION} (cargo install, a few minutes, once)"
    );
    let status = Command::new("cargo")
        .args(["install", "rumqttd", "--version", RUMQTTD_VERSION])
        .status()?;
    if !status.success() {
        return Err(BenchError::Usage(format!(
            "cargo install rumqttd failed ({status})"
        )));
    }
    which("rumqttd").ok_or_else(|| BenchError::Usage("rumqttd installed but not found".into()))
}

/// One line saying which version a broker is.
pub fn version(kind: BrokerKind, binaries: &Binaries) -> String {
    let path = binaries.path(kind);
    let out = |args: &[&str]| {
        Command::new(path)
            .args(args)
            .output()
            .map(|o| {
                let text = String::from_utf8_lossy(&o.stdout).to_string()
                    + &String::from_utf8_lossy(&o.stderr);
                text.lines().next().unwrap_or_default().trim().to_string()
            })
            .unwrap_or_default()
    };
    match kind {
        BrokerKind::Kite => out(&["--version"]),
        BrokerKind::Mosquitto => out(&["-h"]),
        BrokerKind::Rumqttd => out(&["--version"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kite_reads_the_bridge_it_is_given() {
        let args = ["kite-server".into(), "--config".into(), "kite.toml".into()];
        let config =
            kite_server::config::file::parse_with_text(args.to_vec(), &kite_bridge_toml(18830))
                .expect("a valid configuration");
        let [bridge] = &config.bridges[..] else {
            panic!("one bridge, got {:?}", config.bridges);
        };
        assert_eq!(bridge.name, BRIDGE_NAME);
        assert_eq!(bridge.addresses, ["127.0.0.1:18830"]);
        let [rule] = &bridge.topic[..] else {
            panic!("one rule");
        };
        assert_eq!((rule.pattern.as_str(), rule.qos), ("bench/#", 1));
        assert!(rule.direction.outgoing() && !rule.direction.incoming());
        bridge.validate().expect("valid");
    }

    #[test]
    fn mosquitto_bridges_after_its_listeners() {
        let mut conf = mosquitto_conf(1883, 8080, false);
        conf.push_str(&mosquitto_bridge_section(18830));
        let tail: Vec<&str> = conf.lines().rev().take(4).collect();
        assert_eq!(
            tail,
            [
                "topic bench/# out 1",
                "remote_clientid bench-bridge",
                "address 127.0.0.1:18830",
                "connection bench-bridge",
            ]
        );
    }
}
