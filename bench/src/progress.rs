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

/// 1234567.8 → "1,234,568".
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(0.0), "0");
        assert_eq!(super::thousands(999.4), "999");
        assert_eq!(super::thousands(1000.0), "1,000");
        assert_eq!(super::thousands(1234567.8), "1,234,568");
    }
}
