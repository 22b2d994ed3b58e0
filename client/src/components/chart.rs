//! SVG charts drawn from [`crate::state::chart`]'s geometry: a sparkline,
//! and a time chart with labelled axes and units.

use leptos::prelude::*;

use crate::platform;
use crate::state::chart::{format_tick, line_path, nice_ticks, time_ticks, value_range, Frame};

/// A sparkline of precomputed path data in a 120 x 32 box.
#[component]
pub fn Sparkline(#[prop(into)] path: Signal<String>) -> impl IntoView {
    view! {
        <svg class="spark" viewBox="0 0 120 32" preserveAspectRatio="none" aria-hidden="true">
            <path d=move || path.get() vector-effect="non-scaling-stroke"/>
        </svg>
    }
}

/// What a time chart draws: samples, the window and the unit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChartData {
    pub points: Vec<(u64, f64)>,
    pub t0: u64,
    pub t1: u64,
    pub unit: String,
}

/// The plot's SVG coordinates: 1000 x 1000 stretched over the plot area,
/// so positions are per mille of its width and height. The labels are HTML
/// placed at the same fractions, so they keep their size at any width.
const PLOT: Frame = Frame {
    width: 1000.0,
    height: 1000.0,
    left: 0.0,
    right: 0.0,
    top: 0.0,
    bottom: 0.0,
};

#[derive(Clone, PartialEq)]
struct Geometry {
    path: String,
    /// (fraction from the top, label)
    y_ticks: Vec<(f64, String)>,
    /// (fraction from the left, label)
    x_ticks: Vec<(f64, String)>,
    empty: bool,
    unit: String,
}

/// A line chart with a value axis (with unit) and a time axis.
///
/// Classes: `.chart` holding `.plot` (SVG), `.ytick`, `.xtick`, `.unit`.
#[component]
pub fn TimeChart(
    #[prop(into)] data: Signal<ChartData>,
    #[prop(into)] label: String,
) -> impl IntoView {
    let geometry = Memo::new(move |_| {
        data.with(|d| {
            let (v0, v1) = value_range(&d.points).unwrap_or((0.0, 1.0));
            let ticks = nice_ticks(v0, v1, 4);
            let step = if ticks.len() > 1 {
                ticks[1] - ticks[0]
            } else {
                1.0
            };
            let y_ticks = ticks
                .iter()
                .map(|&v| (PLOT.y(v, v0, v1) / 1000.0, format_tick(v, step)))
                .collect();
            let x_ticks = time_ticks(d.t0, d.t1, 5, platform::utc_offset_minutes())
                .into_iter()
                .map(|(t, text)| (PLOT.x(t, d.t0, d.t1) / 1000.0, text))
                .collect();
            Geometry {
                path: line_path(&d.points, d.t0, d.t1, v0, v1, &PLOT),
                y_ticks,
                x_ticks,
                empty: d.points.is_empty(),
                unit: d.unit.clone(),
            }
        })
    });
    view! {
        <div class="chart" role="img" aria-label=label>
            <svg class="plot" viewBox="0 0 1000 1000" preserveAspectRatio="none" aria-hidden="true">
                {move || {
                    geometry.with(|g| {
                        let y = g.y_ticks.iter().map(|(f, _)| (0.0, 1000.0, f * 1000.0, f * 1000.0));
                        let x = g.x_ticks.iter().map(|(f, _)| (f * 1000.0, f * 1000.0, 0.0, 1000.0));
                        y.chain(x)
                            .map(|(x1, x2, y1, y2)| {
                                view! { <line class="grid" x1=x1 x2=x2 y1=y1 y2=y2 vector-effect="non-scaling-stroke"/> }
                            })
                            .collect_view()
                    })
                }}
                <path class="line" d=move || geometry.with(|g| g.path.clone()) vector-effect="non-scaling-stroke"/>
            </svg>
            {move || {
                geometry.with(|g| {
                    let y = g.y_ticks.iter().map(|(f, text)| {
                        ("ytick", format!("top:calc(var(--plot-top) + var(--plot-h) * {f:.4})"), text)
                    });
                    let x = g.x_ticks.iter().map(|(f, text)| {
                        ("xtick", format!("left:calc(var(--plot-left) + var(--plot-w) * {f:.4})"), text)
                    });
                    y.chain(x)
                        .map(|(class, style, text)| view! { <span class=class style=style>{text.clone()}</span> })
                        .collect_view()
                })
            }}
            <span class="unit">{move || geometry.with(|g| g.unit.clone())}</span>
            {move || {
                geometry
                    .with(|g| g.empty)
                    .then(|| view! { <span class="no-data">"no data in this window"</span> })
            }}
        </div>
    }
}
