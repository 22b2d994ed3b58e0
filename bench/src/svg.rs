//! Small SVG charts, written by hand. Bar charts: one group of horizontal
//! bars per step, one bar per broker, each group scaled to its own largest
//! value (the steps differ by orders of magnitude) and every bar labelled
//! with its value. Line charts ([`line_chart`]): one line per broker over a
//! logarithmic x axis (connection counts from thousands to a million).

use std::fmt::Write as _;

/// One group: a title and (series, value) bars; `None` is a failed run.
pub struct Group {
    pub title: String,
    pub unit: String,
    pub bars: Vec<(String, Option<f64>)>,
}

const WIDTH: f64 = 760.0;
const LABEL: f64 = 90.0;
const BAR: f64 = 16.0;
const GAP: f64 = 4.0;
const TITLE: f64 = 20.0;
const PAD: f64 = 14.0;

/// A colour per series, stable across charts.
fn colour(series: &str) -> &'static str {
    match series {
        "kite" => "#1f77b4",
        "mosquitto" => "#ff7f0e",
        "rumqttd" => "#2ca02c",
        "kite-cluster" => "#9467bd",
        "nats-mqtt" => "#17becf",
        _ => "#7f7f7f",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Format a value with its unit, compactly.
pub fn short(value: f64, unit: &str) -> String {
    if unit == "µs" && value >= 1000.0 {
        return format!("{:.2} ms", value / 1000.0);
    }
    if unit == "B" && value >= 1000.0 {
        return format!("{:.1} kB", value / 1000.0);
    }
    let number = if value >= 1e6 {
        format!("{:.2} M ", value / 1e6)
    } else if value >= 1e4 {
        format!("{:.1} k ", value / 1e3)
    } else if value >= 100.0 {
        format!("{value:.0} ")
    } else {
        format!("{value:.2} ")
    };
    format!("{number}{unit}").trim_end().to_string()
}

/// A chart's start: the `<svg>` element `height` high on a white ground,
/// `title` on top and `note` under it.
fn header(height: f64, title: &str, note: &str) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="10" y="22" font-size="16" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<text x="10" y="40" fill="#555555">{}</text>"##,
        escape(note)
    );
    svg
}

/// The chart: `title` on top, `note` under it (e.g. "higher is better").
pub fn bar_chart(title: &str, note: &str, groups: &[Group]) -> String {
    let rows: usize = groups.iter().map(|g| g.bars.len()).sum();
    let height = 60.0 + groups.len() as f64 * (TITLE + PAD) + rows as f64 * (BAR + GAP) + 10.0;
    let mut svg = header(height, title, note);
    let mut y = 60.0;
    let span = WIDTH - LABEL - 110.0;
    for group in groups {
        let _ = writeln!(
            svg,
            r#"<text x="10" y="{:.0}" font-weight="bold">{}</text>"#,
            y + 14.0,
            escape(&group.title)
        );
        y += TITLE;
        let max = group
            .bars
            .iter()
            .filter_map(|(_, v)| *v)
            .fold(0.0_f64, f64::max);
        for (series, value) in &group.bars {
            let _ = writeln!(
                svg,
                r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{}</text>"#,
                LABEL - 6.0,
                y + BAR - 4.0,
                escape(series)
            );
            match value {
                Some(v) => {
                    let w = if max > 0.0 {
                        (v / max * span).max(1.0)
                    } else {
                        1.0
                    };
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{LABEL}" y="{y:.0}" width="{w:.1}" height="{BAR}" fill="{}"/>"#,
                        colour(series)
                    );
                    let _ = writeln!(
                        svg,
                        r#"<text x="{:.1}" y="{:.0}">{}</text>"#,
                        LABEL + w + 6.0,
                        y + BAR - 4.0,
                        escape(&short(*v, &group.unit))
                    );
                }
                None => {
                    let _ = writeln!(
                        svg,
                        r##"<text x="{LABEL}" y="{:.0}" fill="#cc0000">failed</text>"##,
                        y + BAR - 4.0
                    );
                }
            }
            y += BAR + GAP;
        }
        y += PAD;
    }
    svg.push_str("</svg>\n");
    svg
}

/// One line of a [`line_chart`]: a series name and its (x, y) points.
pub struct Line {
    pub series: String,
    pub points: Vec<(f64, f64)>,
}

/// A line chart, both axes log10 over whole decades (brokers' bytes per
/// connection differ fiftyfold; a linear axis flattens all but one line):
/// `x_unit` under it, `y_unit` on the y ticks, every point labelled with
/// its value.
pub fn line_chart(title: &str, note: &str, x_unit: &str, y_unit: &str, lines: &[Line]) -> String {
    const H: f64 = 380.0;
    let (left, right, top, bottom) = (70.0, WIDTH - 110.0, 60.0, H - 50.0);
    let points = lines.iter().flat_map(|l| l.points.iter());
    let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) = (f64::MAX, 0.0_f64, f64::MAX, 0.0_f64);
    for &(x, y) in points.filter(|(x, y)| *x > 0.0 && *y > 0.0) {
        (x_lo, x_hi) = (x_lo.min(x), x_hi.max(x));
        (y_lo, y_hi) = (y_lo.min(y), y_hi.max(y));
    }
    // Whole decades around the data, so the ticks are 1k, 10k, 100k, 1M.
    let decades = |lo: f64, hi: f64, none: (f64, f64)| {
        if hi > 0.0 {
            let lo = lo.log10().floor();
            (lo, hi.log10().ceil().max(lo + 1.0))
        } else {
            none
        }
    };
    let (d_lo, d_hi) = decades(x_lo, x_hi, (3.0, 6.0));
    let (e_lo, e_hi) = decades(y_lo, y_hi, (2.0, 5.0));
    let scale = |v: f64, lo: f64, hi: f64| (v.max(1e-9).log10() - lo) / (hi - lo);
    let px = |x: f64| left + scale(x, d_lo, d_hi) * (right - left);
    let py = |y: f64| bottom - scale(y, e_lo, e_hi) * (bottom - top);
    let mut svg = header(H, title, note);
    let axis = r##"stroke="#888888" stroke-width="1""##;
    let _ = writeln!(
        svg,
        r#"<path d="M{left} {top} V{bottom} H{right}" fill="none" {axis}/>"#
    );
    for d in (d_lo as i32)..=(d_hi as i32) {
        let x = px(10f64.powi(d));
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{bottom}" x2="{x:.1}" y2="{top}" stroke="#eeeeee"/><text x="{x:.1}" y="{:.0}" text-anchor="middle">{}</text>"##,
            bottom + 16.0,
            escape(&short(10f64.powi(d), ""))
        );
    }
    for e in (e_lo as i32)..=(e_hi as i32) {
        let y = 10f64.powi(e);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{:.1}" x2="{right}" y2="{:.1}" stroke="#eeeeee"/><text x="{:.0}" y="{:.1}" text-anchor="end">{}</text>"##,
            py(y),
            py(y),
            left - 6.0,
            py(y) + 4.0,
            escape(&short(y, y_unit))
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.0}" y="{:.0}" text-anchor="middle">{}</text>"#,
        (left + right) / 2.0,
        H - 14.0,
        escape(x_unit)
    );
    for (i, line) in lines.iter().enumerate() {
        let colour = colour(&line.series);
        let path: Vec<String> = line
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        if path.len() > 1 {
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                path.join(" ")
            );
        }
        for &(x, y) in &line.points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"/><text x="{:.1}" y="{:.1}" fill="{colour}">{}</text>"#,
                px(x),
                py(y),
                px(x) + 5.0,
                py(y) - 6.0,
                escape(&short(y, y_unit))
            );
        }
        // The legend, right of the plot.
        let ly = top + 10.0 + i as f64 * 20.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{:.0}" y="{:.0}" width="14" height="4" fill="{colour}"/><text x="{:.0}" y="{:.0}">{}</text>"#,
            right + 14.0,
            ly - 4.0,
            right + 34.0,
            ly + 2.0,
            escape(&line.series)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_chart_draws_a_line_per_series_on_decades() {
        let lines = vec![
            Line {
                series: "kite".into(),
                points: vec![(2_500.0, 900.0), (19_950.0, 700.0)],
            },
            Line {
                series: "rumqttd".into(),
                points: vec![(2_500.0, 40_000.0)],
            },
        ];
        let svg = line_chart("RSS", "note", "connections", "B", &lines);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(
            svg.matches("<polyline").count(),
            1,
            "a single point draws no line"
        );
        assert_eq!(svg.matches("<circle").count(), 3);
        for tick in [">1000<", ">10.0 k<", ">100.0 k<", ">100 B<", ">100.0 kB<"] {
            assert!(svg.contains(tick), "{tick} in {svg}");
        }
        assert!(svg.contains("40.0 kB") && svg.contains(">rumqttd<"));
    }

    #[test]
    fn chart_has_every_bar_and_label() {
        let groups = vec![Group {
            title: "fan-in <100→1>".into(),
            unit: "msg/s".into(),
            bars: vec![
                ("kite".into(), Some(250_000.0)),
                ("mosquitto".into(), Some(100_000.0)),
                ("rumqttd".into(), None),
            ],
        }];
        let svg = bar_chart("Throughput", "higher is better", &groups);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 3, "background + 2 bars");
        assert!(svg.contains("250.0 k msg/s"));
        assert!(svg.contains("failed"));
        assert!(svg.contains("&lt;100→1&gt;"));
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short(1_234_567.0, "msg/s"), "1.23 M msg/s");
        assert_eq!(short(12_345.0, "B"), "12.3 kB");
        assert_eq!(short(12_345.0, "µs"), "12.35 ms");
        assert_eq!(short(12_345.0, "conn/s"), "12.3 k conn/s");
        assert_eq!(short(512.0, "µs"), "512 µs");
        assert_eq!(short(1.5, "µs"), "1.50 µs");
    }
}
