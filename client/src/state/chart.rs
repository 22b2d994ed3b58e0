//! Chart geometry as plain code: value and time ticks, SVG path data for
//! time series (down-sampled to the pixels available), and a zoomable time
//! viewport. The components only put the strings into SVG elements.

use std::fmt::Write;

use super::clock::format_time_of_day;

/// The plot area inside an SVG `viewBox` of `width` x `height`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    pub width: f64,
    pub height: f64,
    /// Room for the y-axis labels.
    pub left: f64,
    pub right: f64,
    pub top: f64,
    /// Room for the x-axis labels.
    pub bottom: f64,
}

impl Frame {
    /// A sparkline: no axes.
    pub const fn bare(width: f64, height: f64) -> Frame {
        Frame {
            width,
            height,
            left: 1.0,
            right: 1.0,
            top: 2.0,
            bottom: 2.0,
        }
    }

    /// A chart with labelled axes.
    pub const fn axes(width: f64, height: f64) -> Frame {
        Frame {
            width,
            height,
            left: 52.0,
            right: 12.0,
            top: 10.0,
            bottom: 24.0,
        }
    }

    pub fn plot_width(&self) -> f64 {
        (self.width - self.left - self.right).max(1.0)
    }

    pub fn plot_height(&self) -> f64 {
        (self.height - self.top - self.bottom).max(1.0)
    }

    /// x of time `t` in a window `[t0, t1]`.
    pub fn x(&self, t: u64, t0: u64, t1: u64) -> f64 {
        let span = (t1.saturating_sub(t0)).max(1) as f64;
        self.left + (t as f64 - t0 as f64) / span * self.plot_width()
    }

    /// y of value `v` in a range `[v0, v1]` (bigger values higher up).
    pub fn y(&self, v: f64, v0: f64, v1: f64) -> f64 {
        let span = if v1 > v0 { v1 - v0 } else { 1.0 };
        self.top + (1.0 - (v - v0) / span) * self.plot_height()
    }
}

/// The range of the values, padded by 5 % each side; a flat series gets
/// one unit either side.
pub fn value_range(points: &[(u64, f64)]) -> Option<(f64, f64)> {
    let (min, max) = points
        .iter()
        .map(|&(_, v)| v)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !min.is_finite() || !max.is_finite() {
        return None;
    }
    if (max - min).abs() < f64::EPSILON {
        return Some((min - 1.0, max + 1.0));
    }
    let pad = (max - min) * 0.05;
    Some((min - pad, max + pad))
}

/// At most about `max_ticks` round values covering `[min, max]`: steps of
/// 1, 2 or 5 times a power of ten.
pub fn nice_ticks(min: f64, max: f64, max_ticks: usize) -> Vec<f64> {
    if !(min.is_finite() && max.is_finite()) || max <= min || max_ticks == 0 {
        return Vec::new();
    }
    let raw = (max - min) / max_ticks as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (min / step).ceil() as i64;
    let last = (max / step).floor() as i64;
    // Avoid "-0" and float dust such as 0.30000000000000004.
    let scale = 10f64.powi((-step.log10().floor()).max(0.0) as i32);
    (first..=last)
        .map(|i| (i as f64 * step * scale).round() / scale + 0.0)
        .collect()
}

/// A tick value as text: no more decimals than the step needs.
pub fn format_tick(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 || step <= 0.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{value:.decimals$}")
}

const TIME_STEPS_MS: [u64; 16] = [
    1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
    1_800_000, 3_600_000, 7_200_000, 21_600_000, 86_400_000,
];

/// Time ticks on round local times within `[t0, t1]`, at most about
/// `max_ticks`, labelled `HH:MM` (or `HH:MM:SS` for steps under a minute).
pub fn time_ticks(
    t0: u64,
    t1: u64,
    max_ticks: usize,
    utc_offset_minutes: i32,
) -> Vec<(u64, String)> {
    if t1 <= t0 || max_ticks == 0 {
        return Vec::new();
    }
    let span = t1 - t0;
    let step = TIME_STEPS_MS
        .iter()
        .copied()
        .find(|s| span / s <= max_ticks as u64)
        .unwrap_or(86_400_000);
    let offset = i64::from(utc_offset_minutes) * 60_000;
    let local0 = t0 as i64 + offset;
    let first = local0.div_euclid(step as i64) * step as i64 + step as i64;
    let mut ticks = Vec::new();
    let mut local = if (local0).rem_euclid(step as i64) == 0 {
        local0
    } else {
        first
    };
    while local - offset <= t1 as i64 {
        let t = (local - offset) as u64;
        let text = format_time_of_day(t, utc_offset_minutes);
        let text = if step < 60_000 {
            text
        } else {
            text[..5].to_owned()
        };
        ticks.push((t, text));
        local += step as i64;
    }
    ticks
}

/// SVG path data (`M x y L x y …`) of `points` in the window `[t0, t1]` and
/// the value range `[v0, v1]`. More than two points per horizontal pixel
/// are reduced to the first, minimum, maximum and last of each pixel
/// column, so the shape stays while the path stays short.
pub fn line_path(
    points: &[(u64, f64)],
    t0: u64,
    t1: u64,
    v0: f64,
    v1: f64,
    frame: &Frame,
) -> String {
    let columns = frame.plot_width().ceil().max(1.0) as usize;
    let reduced;
    let points = if points.len() > 4 * columns {
        reduced = reduce(points, t0, t1, columns);
        &reduced[..]
    } else {
        points
    };
    let mut path = String::with_capacity(points.len() * 14);
    for (i, &(t, v)) in points.iter().enumerate() {
        let x = frame.x(t, t0, t1);
        let y = frame.y(v, v0, v1);
        let _ = write!(path, "{}{:.1} {:.1}", if i == 0 { 'M' } else { 'L' }, x, y);
    }
    // A lone point: a line of no length, which round caps draw as a dot.
    if let [(t, v)] = points {
        let _ = write!(
            path,
            "L{:.1} {:.1}",
            frame.x(*t, t0, t1),
            frame.y(*v, v0, v1)
        );
    }
    path
}

/// First, min, max and last sample of each of `columns` time buckets.
fn reduce(points: &[(u64, f64)], t0: u64, t1: u64, columns: usize) -> Vec<(u64, f64)> {
    let span = t1.saturating_sub(t0).max(1);
    let mut out = Vec::with_capacity(columns * 4);
    let mut bucket: Vec<(u64, f64)> = Vec::new();
    let mut current = None;
    let column = |t: u64| (t.saturating_sub(t0) as u128 * columns as u128 / span as u128) as usize;
    let flush = |bucket: &mut Vec<(u64, f64)>, out: &mut Vec<(u64, f64)>| {
        if bucket.is_empty() {
            return;
        }
        let first = bucket[0];
        let last = bucket[bucket.len() - 1];
        let min = *bucket
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("not empty");
        let max = *bucket
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("not empty");
        let mut picked = vec![first, min, max, last];
        picked.sort_by_key(|p| p.0);
        picked.dedup();
        out.extend(picked);
        bucket.clear();
    };
    for &point in points {
        let c = column(point.0);
        if current != Some(c) {
            flush(&mut bucket, &mut out);
            current = Some(c);
        }
        bucket.push(point);
    }
    flush(&mut bucket, &mut out);
    out
}

/// The path of a sparkline of `points` (auto-scaled) in `frame`.
pub fn sparkline(points: &[(u64, f64)], frame: &Frame) -> String {
    let (Some(&(t0, _)), Some(&(t1, _))) = (points.first(), points.last()) else {
        return String::new();
    };
    let Some((v0, v1)) = value_range(points) else {
        return String::new();
    };
    if points.len() == 1 {
        let y = frame.y(points[0].1, v0, v1);
        return format!(
            "M{:.1} {y:.1}L{:.1} {y:.1}",
            frame.left,
            frame.width - frame.right
        );
    }
    line_path(points, t0, t1, v0, v1, frame)
}

/// Which stretch of time a chart shows: the newest `span_ms` ("live"), or
/// a fixed window ending at `end_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Viewport {
    pub span_ms: u64,
    pub end_ms: Option<u64>,
}

pub const MIN_SPAN_MS: u64 = 10_000;
/// The longest range a device page shows (and the broker's history keeps
/// by default).
pub const MAX_SPAN_MS: u64 = 7 * 86_400_000;
/// What a device page opens with.
pub const DEFAULT_SPAN_MS: u64 = 24 * 3_600_000;

/// The device page's range buttons: label and span.
pub const RANGES: [(&str, u64); 3] = [
    ("1 h", 3_600_000),
    ("24 h", DEFAULT_SPAN_MS),
    ("7 d", MAX_SPAN_MS),
];

impl Default for Viewport {
    fn default() -> Viewport {
        Viewport::live(DEFAULT_SPAN_MS)
    }
}

impl Viewport {
    pub fn live(span_ms: u64) -> Viewport {
        Viewport {
            span_ms: span_ms.clamp(MIN_SPAN_MS, MAX_SPAN_MS),
            end_ms: None,
        }
    }

    pub fn is_live(&self) -> bool {
        self.end_ms.is_none()
    }

    /// The window `[t0, t1]` shown at `now_ms`.
    pub fn range(&self, now_ms: u64) -> (u64, u64) {
        let end = self.end_ms.unwrap_or(now_ms).min(now_ms);
        (end.saturating_sub(self.span_ms), end)
    }

    /// Zoom by `factor` (< 1 in, > 1 out) keeping the time under `anchor`
    /// (0 = left edge, 1 = right edge) in place. Zooming out to the newest
    /// data goes back to live.
    pub fn zoom(&mut self, factor: f64, anchor: f64, now_ms: u64) {
        let (t0, t1) = self.range(now_ms);
        let anchor = anchor.clamp(0.0, 1.0);
        let pivot = t0 as f64 + (t1 - t0) as f64 * anchor;
        let span = ((self.span_ms as f64 * factor) as u64).clamp(MIN_SPAN_MS, MAX_SPAN_MS);
        let end = pivot + span as f64 * (1.0 - anchor);
        self.span_ms = span;
        self.end_ms = if end >= now_ms as f64 - 500.0 {
            None
        } else {
            Some(end.max(0.0) as u64)
        };
    }

    /// Move by `fraction` of the span (negative: back in time).
    pub fn pan(&mut self, fraction: f64, now_ms: u64) {
        let (_, t1) = self.range(now_ms);
        let end = t1 as f64 + self.span_ms as f64 * fraction;
        let oldest = now_ms.saturating_sub(MAX_SPAN_MS) + self.span_ms;
        self.end_ms = if end >= now_ms as f64 {
            None
        } else {
            Some((end.max(0.0) as u64).max(oldest.min(now_ms)))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_are_round() {
        assert_eq!(
            nice_ticks(0.0, 100.0, 5),
            [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(-92.3, -58.1, 4), [-90.0, -80.0, -70.0, -60.0]);
        assert_eq!(nice_ticks(20.1, 21.9, 4), [20.5, 21.0, 21.5]);
        assert_eq!(nice_ticks(0.1, 0.35, 3), [0.1, 0.2, 0.3]);
        assert!(nice_ticks(1.0, 1.0, 4).is_empty());
        assert!(nice_ticks(f64::NAN, 1.0, 4).is_empty());
    }

    #[test]
    fn tick_text_has_the_decimals_the_step_needs() {
        assert_eq!(format_tick(20.0, 10.0), "20");
        assert_eq!(format_tick(20.5, 0.5), "20.5");
        assert_eq!(format_tick(0.25, 0.05), "0.25");
        assert_eq!(format_tick(-90.0, 10.0), "-90");
    }

    #[test]
    fn value_range_pads_and_handles_flat_series() {
        assert_eq!(value_range(&[]), None);
        assert_eq!(value_range(&[(0, 5.0), (1, 5.0)]), Some((4.0, 6.0)));
        let (lo, hi) = value_range(&[(0, 0.0), (1, 100.0)]).unwrap();
        assert!((lo + 5.0).abs() < 1e-9 && (hi - 105.0).abs() < 1e-9);
    }

    #[test]
    fn frame_maps_time_and_value() {
        let frame = Frame::bare(102.0, 24.0);
        assert_eq!(frame.x(0, 0, 100), 1.0);
        assert_eq!(frame.x(100, 0, 100), 101.0);
        assert_eq!(frame.y(10.0, 0.0, 10.0), 2.0);
        assert_eq!(frame.y(0.0, 0.0, 10.0), 22.0);
    }

    #[test]
    fn line_path_and_sparkline() {
        let frame = Frame::bare(102.0, 24.0);
        let points = [(0, 0.0), (50, 10.0), (100, 0.0)];
        assert_eq!(
            line_path(&points, 0, 100, 0.0, 10.0, &frame),
            "M1.0 22.0L51.0 2.0L101.0 22.0"
        );
        assert_eq!(
            line_path(&points[1..2], 0, 100, 0.0, 10.0, &frame),
            "M51.0 2.0L51.0 2.0",
            "a lone point is drawn as a dot"
        );
        assert_eq!(sparkline(&[], &frame), "");
        assert_eq!(sparkline(&[(5, 3.0)], &frame), "M1.0 12.0L101.0 12.0");
        assert!(sparkline(&points, &frame).starts_with("M1.0 "));
    }

    #[test]
    fn dense_series_are_reduced_per_pixel_but_keep_extremes() {
        let frame = Frame::bare(12.0, 24.0); // 10 columns
        let points: Vec<(u64, f64)> = (0..1000)
            .map(|i| (i, if i == 503 { 99.0 } else { 1.0 }))
            .collect();
        let path = line_path(&points, 0, 1000, 0.0, 100.0, &frame);
        let vertices = path.matches(['M', 'L']).count();
        assert!(vertices <= 40, "{vertices} vertices");
        let peak = format!("{:.1}", frame.y(99.0, 0.0, 100.0));
        assert!(path.contains(&peak), "the spike survives: {path}");
    }

    #[test]
    fn time_ticks_fall_on_round_local_times() {
        // 10:00:00 UTC to 10:05:00 UTC, at most 6 ticks: one a minute.
        let t0 = 36_000_000;
        let ticks = time_ticks(t0, t0 + 300_000, 6, 0);
        let labels: Vec<&str> = ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(
            labels,
            ["10:00", "10:01", "10:02", "10:03", "10:04", "10:05"]
        );
        // Short spans label seconds; offsets shift the labels.
        let ticks = time_ticks(t0 + 500, t0 + 10_000, 5, 60);
        assert_eq!(ticks[0], (t0 + 2000, "11:00:02".to_owned()));
        assert!(time_ticks(5, 5, 3, 0).is_empty());
    }

    #[test]
    fn viewport_zooms_pans_and_returns_to_live() {
        let now = 1_000_000_000;
        let mut v = Viewport::live(3_600_000);
        assert_eq!(Viewport::default().range(now), (now - DEFAULT_SPAN_MS, now));
        assert_eq!(v.range(now), (now - 3_600_000, now));
        v.zoom(0.5, 1.0, now);
        assert_eq!(
            v,
            Viewport::live(1_800_000),
            "zooming at the right edge stays live"
        );
        v.zoom(0.5, 0.0, now);
        assert_eq!(v.span_ms, 900_000);
        assert_eq!(v.range(now), (now - 1_800_000, now - 900_000));
        v.pan(-0.5, now);
        assert_eq!(v.range(now).1, now - 900_000 - 450_000);
        v.pan(10.0, now);
        assert!(v.is_live());
        v.zoom(0.0001, 0.5, now);
        assert_eq!(v.span_ms, MIN_SPAN_MS);
        v.zoom(1e6, 0.5, now);
        assert_eq!(v.span_ms, MAX_SPAN_MS);
    }
}
