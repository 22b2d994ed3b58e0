//! Giving memory back to the system once a burst is over.
//!
//! A broadcast to dormant connections wakes them all at once: each takes a
//! task (from [`super::aligned`]'s free lists) and buffers (from glibc), and
//! frees them when it lies dormant again. Freed memory stays with the
//! allocators: the aligned lists keep their blocks for the next task, and
//! glibc gives back only the top of its main heap by itself. With 20,000
//! idle connections RSS went from 62 to 86 MiB after one broadcast and a
//! ping sweep and stayed there; with this it is 50 MiB 2 s later
//! (`kite-bench connections`). Every [`EVERY`] the broker's maintenance task
//! calls [`release`]; after a burst, [`trim_system`].

use std::time::Duration;

/// How often the surplus is looked for: blocks unused that long go back.
/// Soon after a burst, before new connections settle among its free chunks
/// (as they did when this was a second, and the pages stayed pinned).
pub const EVERY: Duration = Duration::from_millis(250);

/// Trim the system allocator once this much came back from the aligned
/// lists: about a thousand tasks, a burst rather than the coming and going
/// of a steady load (whose blocks are reused, so never surplus).
const BURST: usize = 1 << 20;

/// Give the aligned lists' surplus back to the system allocator. True when
/// a burst is over, and [`trim_system`] should follow.
pub fn release() -> bool {
    let released = super::aligned::release_surplus();
    if released > 0 {
        tracing::debug!(released, "aligned blocks given back");
    }
    released >= BURST
}

/// Have glibc return its free pages (in every arena, not only at the top of
/// the main heap) to the system. Takes each arena's lock while it walks the
/// free chunks: 0.2 to 20 ms after bursts of up to 20,000 connections, so
/// it runs on a blocking thread, not a worker.
pub fn trim_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let (before, started) = (rss_kib(), std::time::Instant::now());
        // SAFETY: malloc_trim only releases free memory; 0 keeps no padding.
        unsafe { libc::malloc_trim(0) };
        tracing::debug!(
            before_kib = before,
            after_kib = rss_kib(),
            micros = started.elapsed().as_micros() as u64,
            "malloc_trim"
        );
    }
}

/// This process's resident memory, for the log.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn rss_kib() -> u64 {
    // SAFETY: sysconf only reads a constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page / 1024)
}
