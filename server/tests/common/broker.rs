//! The `kite-server` binary under test: fresh loopback ports, its own data
//! dir, its log printed when a test fails, killed on drop.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use tokio::{net::TcpStream, time::Instant};

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// How to stop a broker before starting it again on the same data dir.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT: the broker shuts down cleanly (Ctrl-C).
    Graceful,
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

    /// Start on fresh ports, retrying when two tests picked the same free port.
    async fn spawn(extra: Vec<String>, data_dir: PathBuf, owns: bool, log: PathBuf) -> Broker {
        for _attempt in 0..5 {
            let (tcp, http) = (free_port(), free_port());
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("log file");
            let mut command = Command::new(env!("CARGO_BIN_EXE_kite-server"));
            command
                .args(["--tcp", &format!("127.0.0.1:{tcp}")])
                .args(["--http", &format!("127.0.0.1:{http}")])
                .args(["--sys-interval", "0", "--dashboard-dir", "/nonexistent"]);
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
                tcp,
                http,
                log: log.clone(),
                extra: extra.clone(),
                data_dir: data_dir.clone(),
                owns_data_dir: owns,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = broker.child.try_wait() {
                    if broker.log().contains("cannot listen") {
                        break; // a port was taken meanwhile: try others
                    }
                    panic!(
                        "kite-server exited with {status} (flags {extra:?}):\n{}",
                        broker.log()
                    );
                }
                if TcpStream::connect(("127.0.0.1", tcp)).await.is_ok() {
                    return broker;
                }
                assert!(
                    Instant::now() < deadline,
                    "kite-server did not listen within 10 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            broker.owns_data_dir = false; // the next attempt uses it
        }
        panic!("kite-server did not start (flags {extra:?})");
    }

    /// Stop this broker and start it again with the same flags and data dir,
    /// on new ports (clients must connect again).
    pub async fn restart(mut self, how: Stop) -> Broker {
        match how {
            Stop::Crash => {
                let _ = self.child.kill();
            }
            Stop::Graceful => {
                let _ = Command::new("kill")
                    .args(["-INT", &self.child.id().to_string()])
                    .status();
            }
        }
        let status = within("the broker to stop", async {
            loop {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        if how == Stop::Graceful {
            assert!(status.success(), "graceful stop exited with {status}");
        }
        let owns = std::mem::replace(&mut self.owns_data_dir, false);
        let (extra, data_dir) = (self.extra.clone(), self.data_dir.clone());
        let log = std::mem::take(&mut self.log); // kept: the next run appends to it
        drop(self);
        Broker::spawn(extra, data_dir, owns, log).await
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
