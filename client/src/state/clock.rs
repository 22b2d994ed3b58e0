//! Turning timestamps into the text shown next to each message.

const MS_PER_DAY: i64 = 86_400_000;

/// `HH:MM:SS` of `epoch_ms` (milliseconds since the Unix epoch) in a time
/// zone `utc_offset_minutes` ahead of UTC (e.g. +120 for UTC+2; note that
/// JavaScript's `Date.getTimezoneOffset()` is the negation of this).
pub fn format_time_of_day(epoch_ms: u64, utc_offset_minutes: i32) -> String {
    let local_ms = epoch_ms as i64 + i64::from(utc_offset_minutes) * 60_000;
    let seconds = local_ms.rem_euclid(MS_PER_DAY) / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc() {
        assert_eq!(format_time_of_day(0, 0), "00:00:00");
        // 2023-11-14T22:13:20.999Z
        assert_eq!(format_time_of_day(1_700_000_000_999, 0), "22:13:20");
        assert_eq!(format_time_of_day(86_399_999, 0), "23:59:59");
    }

    #[test]
    fn offsets_wrap_around_midnight() {
        assert_eq!(format_time_of_day(1_700_000_000_000, 120), "00:13:20");
        assert_eq!(format_time_of_day(1_700_000_000_000, -330), "16:43:20");
        assert_eq!(format_time_of_day(0, -60), "23:00:00");
    }
}
