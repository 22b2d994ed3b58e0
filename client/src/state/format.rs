//! Text for people: payloads as JSON or hex, times and durations.

use super::clock::format_time_of_day;

/// The payload as indented JSON, or `None` when it is not JSON.
pub fn json_pretty(payload: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    serde_json::to_string_pretty(&value).ok()
}

/// A classic hex dump: offset, 16 bytes in hex, the printable ASCII.
pub fn hex_dump(payload: &[u8], max_bytes: usize) -> String {
    let mut out = String::new();
    for (row, chunk) in payload[..payload.len().min(max_bytes)]
        .chunks(16)
        .enumerate()
    {
        out.push_str(&format!("{:08x}  ", row * 16));
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => out.push_str(&format!("{b:02x} ")),
                None => out.push_str("   "),
            }
            if i == 7 {
                out.push(' ');
            }
        }
        out.push(' ');
        out.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
    if payload.len() > max_bytes {
        out.push_str(&format!("… {} more bytes\n", payload.len() - max_bytes));
    }
    out
}

/// How long ago, short: `now`, `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
pub fn ago(then_ms: u64, now_ms: u64) -> String {
    let seconds = now_ms.saturating_sub(then_ms) / 1000;
    if seconds < 2 {
        "now".to_owned()
    } else if seconds < 120 {
        format!("{seconds} s ago")
    } else if seconds < 7_200 {
        format!("{} min ago", seconds / 60)
    } else if seconds < 172_800 {
        format!("{} h ago", seconds / 3600)
    } else {
        format!("{} d ago", seconds / 86_400)
    }
}

/// `YYYY-MM-DD HH:MM:SS` in a zone `utc_offset_minutes` ahead of UTC.
pub fn format_date_time(epoch_ms: u64, utc_offset_minutes: i32) -> String {
    let local_ms = epoch_ms as i64 + i64::from(utc_offset_minutes) * 60_000;
    let days = local_ms.div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {}",
        format_time_of_day(epoch_ms, utc_offset_minutes)
    )
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's
/// algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Bytes with a unit: `512 B`, `1.5 KiB`, `2.0 MiB`.
pub fn format_bytes(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_pretty_printed_or_refused() {
        assert_eq!(
            json_pretty(br#"{"a":1,"b":[true]}"#).unwrap(),
            "{\n  \"a\": 1,\n  \"b\": [\n    true\n  ]\n}"
        );
        assert_eq!(json_pretty(b"21.5").unwrap(), "21.5");
        assert_eq!(json_pretty(b"online"), None);
        assert_eq!(json_pretty(b""), None);
    }

    #[test]
    fn hex_dump_rows() {
        let dump = hex_dump(b"Hello, MQTT!\x00\x01\xff end", 64);
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            "00000000  48 65 6c 6c 6f 2c 20 4d  51 54 54 21 00 01 ff 20  Hello, MQTT!... "
        );
        assert!(lines[1].starts_with("00000010  65 6e 64 "));
        assert!(lines[1].ends_with("  end"));
        assert_eq!(
            hex_dump(&[0; 40], 16).lines().last(),
            Some("… 24 more bytes")
        );
        assert_eq!(hex_dump(b"", 16), "");
    }

    #[test]
    fn ago_in_words() {
        assert_eq!(ago(10_000, 10_500), "now");
        assert_eq!(ago(0, 12_000), "12 s ago");
        assert_eq!(ago(0, 300_000), "5 min ago");
        assert_eq!(ago(0, 3 * 3_600_000), "3 h ago");
        assert_eq!(ago(0, 3 * 86_400_000), "3 d ago");
        assert_eq!(ago(5_000, 0), "now", "clock skew");
    }

    #[test]
    fn dates() {
        assert_eq!(format_date_time(0, 0), "1970-01-01 00:00:00");
        assert_eq!(
            format_date_time(1_700_000_000_000, 0),
            "2023-11-14 22:13:20"
        );
        assert_eq!(
            format_date_time(1_700_000_000_000, 120),
            "2023-11-15 00:13:20"
        );
        assert_eq!(format_date_time(951_782_400_000, 0), "2000-02-29 00:00:00");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(2 * 1024 * 1024), "2.0 MiB");
    }
}
