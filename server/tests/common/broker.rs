//! The `kite-server` binary under test: loopback ports the kernel picks (read
//! back from its ready line), its own data dir, its log printed when a test
//! fails, killed on drop.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use tokio::time::Instant;

use super::within;

/// A running `kite-server`, killed on drop. Its log goes to a file under the
/// target directory, and is printed when the test fails.
pub struct Broker {
    child: Child,
    pub tcp: u16,
    pub http: u16,
    log: PathBuf,
    extra: Vec<String>,
    /// The broker's `--data-dir`: its own fresh one, removed on drop, unless
    /// the test passed `--data-dir` itself.
    pub data_dir: PathBuf,
    owns_data_dir: bool,
}

static STARTED: AtomicUsize = AtomicUsize::new(0);

/// The ports in the broker's ready line (`kite-server ready tcp=… http=…`),
/// if `text` holds it.
fn ready_ports(text: &str) -> Option<(u16, u16)> {
    let line = text.lines().find(|l| l.starts_with("kite-server ready "))?;
    let port = |key: &str| -> Option<u16> {
        let addr = line
            .split_whitespace()
            .find_map(|field| field.strip_prefix(key))?;
        addr.parse::<SocketAddr>().ok().map(|a| a.port())
    };
    Some((port("tcp=")?, port("http=")?))
}

/// How to stop a broker before starting it again on the same data dir.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT: the broker shuts down cleanly (Ctrl-C).
    Graceful,
    /// SIGTERM (`docker stop`, systemd): a clean shutdown too.
    Term,
    /// The test signalled the broker itself: wait for its clean exit.
    Signalled,
    /// SIGKILL: a crash; only what was committed survives.
    Crash,
}

impl Broker {
    /// A broker with default settings.
    pub async fn start() -> Broker {
        Broker::start_with(&[]).await
    }

    /// A broker with extra command-line flags.
    pub async fn start_with(extra: &[&str]) -> Broker {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let named = extra
            .iter()
            .position(|a| a == "--data-dir")
            .and_then(|i| extra.get(i + 1))
            .map(PathBuf::from);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let name = format!("kite-server-{}-{n}", std::process::id());
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let (data_dir, owns_data_dir) = match named {
            Some(dir) => (dir, false),
            None => {
                let dir = tmp.join(format!("{name}.data"));
                let _ = std::fs::remove_dir_all(&dir);
                (dir, true)
            }
        };
        let log = tmp.join(format!("{name}.log"));
        Broker::spawn(extra, data_dir, owns_data_dir, log).await
    }

    /// Start on ports the kernel picks (`127.0.0.1:0`), and wait for the
    /// broker's ready line naming them: whatever answers on a port may be
    /// another test's broker, or a TCP self-connect; this line is ours.
    async fn spawn(extra: Vec<String>, data_dir: PathBuf, owns: bool, log: PathBuf) -> Broker {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        // A restart appends to the same log: read only what this run writes.
        let from = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
        let mut command = Command::new(env!("CARGO_BIN_EXE_kite-server"));
        command
            .args(["--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(["--dashboard-dir", "/nonexistent"]);
        // No `$SYS` traffic unless the test asks for it.
        if !extra.iter().any(|a| a == "--sys-interval") {
            command.args(["--sys-interval", "0"]);
        }
        if owns {
            command.arg("--data-dir").arg(&data_dir);
        }
        let child = command
            .args(&extra)
            .env("RUST_LOG", "debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("start kite-server");
        let mut broker = Broker {
            child,
            tcp: 0,
            http: 0,
            log,
            extra: extra.clone(),
            data_dir,
            owns_data_dir: owns,
        };
        // Generous: a loaded machine (a build beside the tests) is slow.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = broker.log();
            if let Some((tcp, http)) = ready_ports(log.get(from..).unwrap_or_default()) {
                (broker.tcp, broker.http) = (tcp, http);
                return broker;
            }
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!("kite-server exited with {status} (flags {extra:?}):\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "kite-server printed no ready line within 20 s (flags {extra:?}):\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stop this broker and start it again with the same flags and data dir,
    /// on new ports (clients must connect again).
    pub async fn restart(mut self, how: Stop) -> Broker {
        match how {
            Stop::Crash => {
                let _ = self.child.kill();
            }
            Stop::Graceful => self.signal("-INT"),
            Stop::Term => self.signal("-TERM"),
            Stop::Signalled => {}
        }
        let status = self.exited(super::WAIT).await;
        if how != Stop::Crash {
            assert!(status.success(), "{how:?} stop exited with {status}");
        }
        let owns = std::mem::replace(&mut self.owns_data_dir, false);
        let (extra, data_dir) = (self.extra.clone(), self.data_dir.clone());
        let log = std::mem::take(&mut self.log); // kept: the next run appends to it
        drop(self);
        Broker::spawn(extra, data_dir, owns, log).await
    }

    /// Send a signal (`-TERM`, `-INT`, …) to the broker.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill {signal}");
    }

    /// Whether the broker process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait up to `limit` for the broker to exit by itself; its exit status.
    pub async fn exited(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the broker still runs after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A value from `GET /metrics` (Prometheus text): the sample `name`.
    pub async fn metric(&self, name: &str) -> u64 {
        let (_, body) = self.http_get("/metrics", &[]).await;
        body.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{body}"))
    }

    /// `GET path` on the HTTP port with extra `headers`: the status code and
    /// the body.
    pub async fn http_get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = within(
            "HTTP connect",
            tokio::net::TcpStream::connect(("127.0.0.1", self.http)),
        )
        .await
        .expect("HTTP connect");
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: kite\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.expect("request");
        let mut response = String::new();
        within("an HTTP response", stream.read_to_string(&mut response))
            .await
            .expect("response");
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
        let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        (status, body.to_string())
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.tcp))
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owns_data_dir {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail = &log[log.len().saturating_sub(6000)..];
            eprintln!("---- kite-server log ({}) ----\n{tail}", self.log.display());
        } else if !self.log.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
