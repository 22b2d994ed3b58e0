//! Wall-clock time as Unix milliseconds, the form the store and the alarm
//! engine keep, and the conversion between it and a monotonic `Instant`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) fn unix_ms(at: Instant) -> u64 {
    let now = Instant::now();
    let wall = SystemTime::now();
    let t = if at >= now {
        wall + (at - now)
    } else {
        wall - (now - at)
    };
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn instant_from_unix_ms(ms: u64) -> Instant {
    let target = UNIX_EPOCH + Duration::from_millis(ms);
    let now = Instant::now();
    match target.duration_since(SystemTime::now()) {
        Ok(ahead) => now + ahead,
        Err(behind) => now
            .checked_sub(behind.duration())
            .unwrap_or_else(Instant::now),
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> u64 {
    unix_ms(Instant::now())
}
