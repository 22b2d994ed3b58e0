//! A real Mosquitto broker (Debian's `/usr/sbin/mosquitto`, installed by
//! `scripts/setup.sh`; `KITE_MOSQUITTO` overrides the path) on a free
//! loopback port, with a configuration file the test writes: for bridges
//! into Kite and other interoperability tests. Killed on drop; its log is
//! printed when the test fails.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use tokio::time::Instant;

/// A running `mosquitto`, killed on drop.
pub struct Mosquitto {
    child: Child,
    /// Its MQTT listener on 127.0.0.1.
    pub port: u16,
    /// Its own directory: `mosquitto.conf` and `mosquitto.log`.
    dir: PathBuf,
}

static STARTED: AtomicUsize = AtomicUsize::new(0);

/// Where `scripts/setup.sh` installs Mosquitto's broker; `KITE_MOSQUITTO`
/// overrides it.
pub fn mosquitto_binary() -> PathBuf {
    let path = std::env::var_os("KITE_MOSQUITTO")
        .map_or_else(|| PathBuf::from("/usr/sbin/mosquitto"), PathBuf::from);
    assert!(
        path.is_file(),
        "no Mosquitto broker at {} (run `make setup`: scripts/setup.sh installs Debian's \
         `mosquitto` package; or set KITE_MOSQUITTO to its path)",
        path.display()
    );
    path
}

/// A loopback port free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

impl Mosquitto {
    /// Start Mosquitto listening on a free loopback port for anonymous
    /// clients, with `config` (e.g. a bridge's `connection` section) after
    /// the listener lines. Waits for its "running" line.
    pub async fn start(config: &str) -> Mosquitto {
        let binary = mosquitto_binary();
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("mosquitto-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mosquitto dir");
        // The port was free when we looked; another process may take it
        // before Mosquitto binds it: then try another one.
        for _ in 0..5 {
            let port = free_port();
            let conf = format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\n\
                 log_dest stderr\nlog_type all\n\n{config}\n"
            );
            let conf_path = dir.join("mosquitto.conf");
            std::fs::write(&conf_path, conf).expect("mosquitto.conf");
            let log = std::fs::File::create(dir.join("mosquitto.log")).expect("mosquitto.log");
            let child = Command::new(&binary)
                .arg("-c")
                .arg(&conf_path)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|err| panic!("start {}: {err}", binary.display()));
            let mut mosquitto = Mosquitto {
                child,
                port,
                dir: dir.clone(),
            };
            if mosquitto.running().await {
                return mosquitto;
            }
            // Not ours to print: the port was taken, try again.
            let _ = mosquitto.child.wait();
        }
        panic!("mosquitto could not listen on a free port in 5 tries");
    }

    /// Wait for the "mosquitto version … running" line; false when it
    /// exited because its port was taken.
    async fn running(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log
                .lines()
                .any(|l| l.contains("mosquitto version") && l.ends_with("running"))
            {
                return true;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                if log.contains("Address already in use") {
                    return false;
                }
                panic!("mosquitto exited with {status}:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto printed no running line within 10 s:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Mosquitto's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Mosquitto {
    /// Stop it with SIGTERM (it saves its persistence file) and wait.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Start it again after [`Mosquitto::terminate`]: the same
    /// configuration, folder and port.
    pub async fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("mosquitto.log"))
            .expect("mosquitto.log");
        // Only the new run's "running" line counts.
        let before = self.log().len();
        self.child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("restart mosquitto");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log()[before..]
            .lines()
            .any(|l| l.contains("mosquitto version") && l.ends_with("running"))
        {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not restart:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail = &log[log.len().saturating_sub(6000)..];
            eprintln!("---- mosquitto log ({}) ----\n{tail}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
