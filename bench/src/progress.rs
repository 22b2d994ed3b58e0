//! The progress display of long runs: on a terminal, one status line
//! redrawn four times a second (step, elapsed time, live rate); a line per
//! finished step either way.

use std::{
    io::{IsTerminal, Write},
    sync::{
        atomic::{AtomicUsize, Ordering::SeqCst},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::{task::JoinHandle, time::Instant};

use crate::traffic::Live;

struct Inner {
    total: usize,
    done: AtomicUsize,
    label: Mutex<(String, &'static str)>,
    live: Live,
    started: Instant,
    tty: bool,
}

/// Shows where a long run is.
pub struct Progress {
    inner: Arc<Inner>,
    printer: Option<JoinHandle<()>>,
}

fn clock(since: Instant) -> String {
    let s = since.elapsed().as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

pub use crate::numbers::thousands;

impl Progress {
    /// `total` steps; `live` is the counter the running step bumps.
    pub fn new(total: usize, live: Live) -> Progress {
        let inner = Arc::new(Inner {
            total,
            done: AtomicUsize::new(0),
            label: Mutex::new((String::new(), "")),
            live,
            started: Instant::now(),
            tty: std::io::stderr().is_terminal(),
        });
        let printer = inner.tty.then(|| {
            let inner = inner.clone();
            tokio::spawn(async move {
                let mut last = (0u64, Instant::now());
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    let now = inner.live.load(SeqCst);
                    let rate = now.saturating_sub(last.0) as f64 / last.1.elapsed().as_secs_f64();
                    last = (now, Instant::now());
                    let (label, unit) = inner.label.lock().unwrap().clone();
                    if label.is_empty() {
                        continue;
                    }
                    eprint!(
                        "\r\x1b[2K[{:>3}/{} {}] {label}: {} {unit}/s ({} so far)",
                        inner.done.load(SeqCst) + 1,
                        inner.total,
                        clock(inner.started),
                        thousands(rate),
                        thousands(now as f64),
                    );
                    let _ = std::io::stderr().flush();
                }
            })
        });
        Progress { inner, printer }
    }

    /// A step starts; `unit` names what the live counter counts.
    pub fn begin(&self, label: String, unit: &'static str) {
        *self.inner.label.lock().unwrap() = (label, unit);
    }

    /// The step ended with this one-line result.
    pub fn end(&self, result: &str) {
        let done = self.inner.done.fetch_add(1, SeqCst) + 1;
        let (label, _) = std::mem::take(&mut *self.inner.label.lock().unwrap());
        let clear = if self.inner.tty { "\r\x1b[2K" } else { "" };
        eprintln!(
            "{clear}[{done:>3}/{} {}] {label}: {result}",
            self.inner.total,
            clock(self.inner.started)
        );
    }

    /// Wall-clock time since the start.
    pub fn elapsed(&self) -> Duration {
        self.inner.started.elapsed()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(printer) = self.printer.take() {
            printer.abort();
        }
    }
}
