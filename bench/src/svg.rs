//! Small SVG bar charts, written by hand: one group of horizontal bars per
//! step, one bar per broker, each group scaled to its own largest value (the
//! steps differ by orders of magnitude) and every bar labelled with its value.

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

/// The chart: `title` on top, `note` under it (e.g. "higher is better").
pub fn bar_chart(title: &str, note: &str, groups: &[Group]) -> String {
    let rows: usize = groups.iter().map(|g| g.bars.len()).sum();
    let height = 60.0 + groups.len() as f64 * (TITLE + PAD) + rows as f64 * (BAR + GAP) + 10.0;
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

#[cfg(test)]
mod tests {
    use super::*;

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
