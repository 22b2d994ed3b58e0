//! The systems `compare --cluster` starts, each on free loopback ports in a
//! fresh folder, stopped with SIGINT/SIGTERM (last first):
//! - [`System::KiteCluster`]: three `nats-server -js` as one JetStream
//!   cluster (distinct `server_name`, routes between all three) and three
//!   `kite-server --cluster … --node-id …`, node `i` listing NATS server `i`
//!   first;
//! - [`System::NatsMqtt`]: the same three NATS servers with their own MQTT
//!   listener (`mqtt { listen }`), the peer a NATS user would pick;
//! - [`System::Kite`]: one `kite-server` on its embedded store, the reference.
//!
//! Each NATS server runs with `GOMAXPROCS=1` unless the caller sets it
//! (three share the machine's cores).
//!
//! Every process of a system is in [`Started::pids`]: its CPU is what the
//! system costs (the NATS servers under a Kite cluster included).

use std::{
    fs,
    io::{Read, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use bytes::Bytes;
use mqtt::{client::ClientEvent, QoS};
use serde::{Deserialize, Serialize};
use tokio::time::{sleep, timeout, Instant};

use crate::{
    brokers::{free_port, fresh_dir},
    error::BenchError,
    link::{client_options, Endpoint, Link, Transport},
    traffic::unique_tag,
};

/// Nodes of a cluster.
pub const NODES: usize = 3;
/// How long a system may take to be ready (JetStream elects a meta leader,
/// nats-server's MQTT creates its replicated streams on the first CONNECT).
const READY: Duration = Duration::from_secs(45);
/// How long a process may take to stop after its signal.
const STOP: Duration = Duration::from_secs(15);

/// A system `compare --cluster` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum System {
    /// Three Kite nodes on a three-server NATS JetStream cluster.
    KiteCluster,
    /// Three NATS servers with their MQTT listener.
    NatsMqtt,
    /// One Kite node, the single-node reference.
    Kite,
}

impl System {
    pub const ALL: [System; 3] = [System::KiteCluster, System::NatsMqtt, System::Kite];

    pub fn name(self) -> &'static str {
        match self {
            System::KiteCluster => "kite-cluster",
            System::NatsMqtt => "nats-mqtt",
            System::Kite => "kite",
        }
    }

    /// Nodes clients can connect to.
    pub fn nodes(self) -> usize {
        match self {
            System::KiteCluster | System::NatsMqtt => NODES,
            System::Kite => 1,
        }
    }

    /// What it is, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            System::KiteCluster => {
                "3 kite-server --cluster nodes on 3 clustered nats-server -js (CPU of all 6)"
            }
            System::NatsMqtt => "3 clustered nats-server -js, each with its MQTT listener",
            System::Kite => "1 kite-server, embedded store (the single-node reference)",
        }
    }
}

/// Where the programs are.
#[derive(Clone, Debug)]
pub struct ClusterBinaries {
    pub kite: PathBuf,
    pub nats: PathBuf,
}

/// One process of a system.
struct Proc {
    name: String,
    child: Child,
    signal: i32,
}

/// A started system; [`Started::stop`] stops it and removes its folder,
/// dropping it kills what is left.
pub struct Started {
    pub system: System,
    /// Each node's MQTT listener, node 1 first.
    pub nodes: Vec<Endpoint>,
    procs: Vec<Proc>,
    dir: PathBuf,
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// One NATS server's ports.
#[derive(Clone, Copy, Debug)]
struct NatsPorts {
    client: u16,
    route: u16,
    monitor: u16,
    /// The MQTT listener, for [`System::NatsMqtt`].
    mqtt: Option<u16>,
}

/// Server `i`'s configuration: JetStream in `store`, routes to every server
/// (itself included, as nats-server's docs do), an MQTT listener when given.
fn nats_conf(i: usize, ports: &[NatsPorts], store: &Path) -> String {
    let me = ports[i];
    let routes: Vec<String> = ports
        .iter()
        .map(|p| format!("nats://127.0.0.1:{}", p.route))
        .collect();
    let mut conf = format!(
        "# written by kite-bench\nserver_name: n{}\nlisten: 127.0.0.1:{}\nhttp: 127.0.0.1:{}\n\
         max_payload: 8MB\njetstream {{ store_dir: \"{}\", max_file_store: 8GB }}\n\
         cluster {{ name: bench, listen: 127.0.0.1:{}, routes: [{}] }}\n",
        i + 1,
        me.client,
        me.monitor,
        store.display(),
        me.route,
        routes.join(", ")
    );
    if let Some(mqtt) = me.mqtt {
        conf.push_str(&format!("mqtt {{ listen: 127.0.0.1:{mqtt} }}\n"));
    }
    conf
}

impl Started {
    /// Start `system` and wait until every node accepts an MQTT session.
    pub async fn start(system: System, binaries: &ClusterBinaries) -> Result<Started, BenchError> {
        let dir = fresh_dir(system.name())?;
        let mut started = Started {
            system,
            nodes: Vec::new(),
            procs: Vec::new(),
            dir,
        };
        match system {
            System::Kite => {
                let (tcp, http) = (free_port()?, free_port()?);
                started.kite(binaries, "kite", tcp, http, &[])?;
                started.nodes.push(endpoint(tcp, http));
            }
            System::NatsMqtt => {
                let ports = started.nats(binaries, true).await?;
                started.nodes = ports
                    .iter()
                    .filter_map(|p| p.mqtt)
                    .map(|mqtt| Endpoint {
                        tcp: loopback(mqtt),
                        ws: None,
                    })
                    .collect();
            }
            System::KiteCluster => {
                let ports = started.nats(binaries, false).await?;
                for i in 0..NODES {
                    // Node i talks to NATS server i first.
                    let urls: Vec<String> = (0..NODES)
                        .map(|k| format!("nats://127.0.0.1:{}", ports[(i + k) % NODES].client))
                        .collect();
                    let (tcp, http) = (free_port()?, free_port()?);
                    let node = format!("kite-{}", i + 1);
                    started.kite(
                        binaries,
                        &node,
                        tcp,
                        http,
                        &["--cluster", &urls.join(","), "--node-id", &node],
                    )?;
                    started.nodes.push(endpoint(tcp, http));
                }
            }
        }
        started.wait_ready().await?;
        Ok(started)
    }

    /// Every process of the system.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(|p| p.child.id()).collect()
    }

    /// Every process of the system, named (`nats-1`, `bench-3`, `kite`).
    pub fn processes(&self) -> Vec<(String, u32)> {
        self.procs
            .iter()
            .map(|p| (p.name.clone(), p.child.id()))
            .collect()
    }

    fn spawn(&mut self, name: &str, mut command: Command, signal: i32) -> Result<(), BenchError> {
        let log = fs::File::create(self.dir.join(format!("{name}.log")))?;
        let child = command
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|err| BenchError::Broker {
                broker: name.into(),
                reason: format!("cannot start: {err}"),
            })?;
        self.procs.push(Proc {
            name: name.into(),
            child,
            signal,
        });
        Ok(())
    }

    fn kite(
        &mut self,
        binaries: &ClusterBinaries,
        name: &str,
        tcp: u16,
        http: u16,
        extra: &[&str],
    ) -> Result<(), BenchError> {
        let mut command = Command::new(&binaries.kite);
        command
            .args(["--tcp", &format!("127.0.0.1:{tcp}")])
            .args(["--http", &format!("127.0.0.1:{http}")])
            .arg("--data-dir")
            .arg(self.dir.join(format!("{name}-data")))
            .args(["--sys-interval", "0", "--dashboard-dir", "/nonexistent"])
            .args(["--max-queued-messages", "100000"])
            .args(extra)
            .env("RUST_LOG", "warn");
        self.spawn(name, command, libc::SIGINT)
    }

    /// Three clustered NATS servers, JetStream ready (`/healthz`).
    async fn nats(
        &mut self,
        binaries: &ClusterBinaries,
        mqtt: bool,
    ) -> Result<Vec<NatsPorts>, BenchError> {
        let ports = (0..NODES)
            .map(|_| {
                Ok(NatsPorts {
                    client: free_port()?,
                    route: free_port()?,
                    monitor: free_port()?,
                    mqtt: if mqtt { Some(free_port()?) } else { None },
                })
            })
            .collect::<Result<Vec<_>, BenchError>>()?;
        for i in 0..NODES {
            let name = format!("nats-{}", i + 1);
            let conf = self.dir.join(format!("{name}.conf"));
            let text = nats_conf(i, &ports, &self.dir.join(&name));
            fs::write(&conf, text).map_err(|source| BenchError::Write {
                path: conf.clone(),
                source,
            })?;
            let mut command = Command::new(&binaries.nats);
            command.arg("-c").arg(&conf);
            if std::env::var_os("GOMAXPROCS").is_none() {
                // Three servers share this machine's cores: with one
                // scheduler thread each, Go does not spin looking for work
                // on cores the others need (measured on 2 cores: about 20 %
                // less CPU per message, for nats-server's MQTT as for a
                // Kite cluster). `GOMAXPROCS` set by the caller wins.
                command.env("GOMAXPROCS", "1");
            }
            self.spawn(&name, command, libc::SIGTERM)?;
        }
        let deadline = Instant::now() + READY;
        for p in &ports {
            loop {
                self.check_running()?;
                if healthy(p.monitor) {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(self.failure(format!(
                        "nats-server on {} not healthy after {READY:?}",
                        p.client
                    )));
                }
                sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(ports)
    }

    /// Every node takes an MQTT session (a CONNECT, CONNACK and a
    /// SUBSCRIBE at QoS 1, which makes nats-server create its MQTT streams),
    /// then a QoS 1 message from every other node reaches a subscriber on
    /// the last one: the cluster routes, the way the runs will use it.
    async fn wait_ready(&mut self) -> Result<(), BenchError> {
        let deadline = Instant::now() + READY;
        for node in self.nodes.clone() {
            loop {
                self.check_running()?;
                match probe(&node).await {
                    Ok(()) => break,
                    Err(err) if Instant::now() > deadline => {
                        return Err(self.failure(format!(
                            "{} takes no session after {READY:?}: {err}",
                            node.tcp
                        )));
                    }
                    Err(_) => sleep(Duration::from_millis(200)).await,
                }
            }
        }
        loop {
            self.check_running()?;
            match crosses(&self.nodes).await {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() > deadline => {
                    return Err(self.failure(format!(
                        "messages do not cross nodes after {READY:?}: {err}"
                    )));
                }
                Err(_) => sleep(Duration::from_millis(200)).await,
            }
        }
    }

    fn check_running(&mut self) -> Result<(), BenchError> {
        let exited = self
            .procs
            .iter_mut()
            .find_map(|p| match p.child.try_wait() {
                Ok(Some(status)) => Some(format!("{} exited at start ({status})", p.name)),
                _ => None,
            });
        match exited {
            Some(reason) => Err(self.failure(reason)),
            None => Ok(()),
        }
    }

    /// `reason`, with the last lines of every log.
    fn failure(&self, reason: String) -> BenchError {
        let mut tails = Vec::new();
        for p in &self.procs {
            let log =
                fs::read_to_string(self.dir.join(format!("{}.log", p.name))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(3).collect();
            if !tail.is_empty() {
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                tails.push(format!("{}: {}", p.name, tail.join(" | ")));
            }
        }
        BenchError::Broker {
            broker: self.system.name().into(),
            reason: format!("{reason}; logs: {}", tails.join(" / ")),
        }
    }

    /// Is every process still running?
    pub fn alive(&mut self) -> bool {
        self.procs
            .iter_mut()
            .all(|p| matches!(p.child.try_wait(), Ok(None)))
    }

    /// Signal each process, the last started first (Kite nodes before the
    /// NATS servers they need), wait for it, then remove the folder.
    pub async fn stop(mut self) -> Result<(), BenchError> {
        let mut result = Ok(());
        while let Some(mut p) = self.procs.pop() {
            // SAFETY: kill(2) on the pid of a child we have not reaped yet.
            unsafe {
                libc::kill(p.child.id() as libc::pid_t, p.signal);
            }
            let deadline = Instant::now() + STOP;
            loop {
                match p.child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(10)).await,
                    _ => {
                        let _ = p.child.kill();
                        let _ = p.child.wait();
                        if result.is_ok() {
                            result = Err(BenchError::Broker {
                                broker: p.name.clone(),
                                reason: format!("did not stop within {STOP:?} of the signal"),
                            });
                        }
                        break;
                    }
                }
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
        result
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().rev() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        if !self.procs.is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn endpoint(tcp: u16, http: u16) -> Endpoint {
    Endpoint {
        tcp: loopback(tcp),
        ws: Some(format!("ws://127.0.0.1:{http}/mqtt")),
    }
}

/// `GET path` on a NATS monitoring port: the response, headers and body.
fn monitor(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(loopback(port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: nats\r\n\r\n").ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    Some(response)
}

/// `GET /healthz` answers 200 (JetStream up) and `/routez` counts a route
/// to every other server: core NATS forwards a message over one route hop
/// only, so a subscriber's interest reaches a publisher's server only
/// through a direct route.
fn healthy(monitor_port: u16) -> bool {
    let ok = monitor(monitor_port, "/healthz")
        .is_some_and(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"));
    ok && monitor(monitor_port, "/routez").is_some_and(|r| routes(&r) >= NODES - 1)
}

/// `num_routes` in a `/routez` answer (0 when absent).
fn routes(response: &str) -> usize {
    response
        .split("\"num_routes\":")
        .nth(1)
        .and_then(|rest| {
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .unwrap_or(0)
}

/// One MQTT 3.1.1 session on `node`: CONNECT, SUBSCRIBE at QoS 1, DISCONNECT.
async fn probe(node: &Endpoint) -> Result<(), BenchError> {
    let options = client_options(format!("kb-{}-probe", unique_tag()), true);
    let mut link = Link::open(node, Transport::Tcp, options, Instant::now()).await?;
    let subscribed = link.subscribe(&["kb/probe"], QoS::AtLeastOnce).await;
    link.close().await;
    subscribed
}

/// A QoS 0 and a QoS 1 message published on each node but the last reach
/// a subscriber on the last (one node: nothing to cross).
async fn crosses(nodes: &[Endpoint]) -> Result<(), BenchError> {
    const WAIT: Duration = Duration::from_secs(3);
    let Some((last, others)) = nodes.split_last() else {
        return Ok(());
    };
    let tag = unique_tag();
    let topic = format!("kb/ready/{tag}");
    let epoch = Instant::now();
    let options = client_options(format!("kb-{tag}-rs"), true);
    let mut subscriber = Link::open(last, Transport::Tcp, options, epoch).await?;
    let result = async {
        subscriber.subscribe(&[&topic], QoS::AtLeastOnce).await?;
        let sends = others
            .iter()
            .flat_map(|node| [(node, QoS::AtMostOnce), (node, QoS::AtLeastOnce)]);
        for (i, (node, qos)) in sends.enumerate() {
            let options = client_options(format!("kb-{tag}-rp{i}"), true);
            let mut publisher = Link::open(node, Transport::Tcp, options, epoch).await?;
            let now = publisher.now_ms();
            let mark = Bytes::from(vec![i as u8]);
            publisher
                .session
                .publish(&topic, mark.clone(), qos, false, now)?;
            publisher.flush();
            let arrived = timeout(WAIT, async {
                loop {
                    for event in subscriber.read().await? {
                        if matches!(event, ClientEvent::Message(p) if p.payload == mark) {
                            return Ok::<(), BenchError>(());
                        }
                    }
                }
            })
            .await;
            publisher.close().await;
            match arrived {
                Ok(result) => result?,
                Err(_) => {
                    return Err(BenchError::timeout(
                        format!("a {qos:?} message from {} on {}", node.tcp, last.tcp),
                        WAIT,
                    ))
                }
            }
        }
        Ok(())
    }
    .await;
    subscriber.close().await;
    result
}

/// The first line `program --version` prints.
pub fn version(program: &Path) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().unwrap_or_default().trim().to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_read_from_routez() {
        let routez = "HTTP/1.0 200 OK\r\n\r\n{\n  \"server_id\": \"N\",\n  \"num_routes\": 6,\n  \"routes\": []\n}";
        assert_eq!(routes(routez), 6);
        assert_eq!(routes("HTTP/1.0 503 Service Unavailable\r\n\r\n"), 0);
    }

    #[test]
    fn nats_servers_are_named_apart_and_route_to_each_other() {
        let ports: Vec<NatsPorts> = (0..3)
            .map(|i| NatsPorts {
                client: 4222 + i,
                route: 6222 + i,
                monitor: 8222 + i,
                mqtt: Some(1883 + i),
            })
            .collect();
        let conf = nats_conf(1, &ports, Path::new("/tmp/n2"));
        assert!(conf.contains("server_name: n2\n"));
        assert!(conf.contains("listen: 127.0.0.1:4223\n"));
        assert!(conf.contains("store_dir: \"/tmp/n2\""));
        assert!(conf.contains(
            "routes: [nats://127.0.0.1:6222, nats://127.0.0.1:6223, nats://127.0.0.1:6224]"
        ));
        assert!(conf.contains("mqtt { listen: 127.0.0.1:1884 }"));
        let plain: Vec<NatsPorts> = ports
            .iter()
            .map(|p| NatsPorts { mqtt: None, ..*p })
            .collect();
        assert!(!nats_conf(0, &plain, Path::new("/tmp/n1")).contains("mqtt"));
    }
}
