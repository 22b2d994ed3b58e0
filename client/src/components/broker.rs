use kite_convention::sys;
use leptos::prelude::*;

use super::chart::{ChartData, TimeChart};
use super::fields::Empty;
use crate::state::chart::Viewport;
use crate::state::sys::{
    format_si, format_uptime, leading_number, BYTES_IN_RATE, BYTES_OUT_RATE, MESSAGES_IN_RATE,
    MESSAGES_OUT_RATE,
};
use crate::state::topics::TopicTree;
use crate::store::Store;

/// Tiles: label, the statistic (or rate series), how to show it.
const TILES: [(&str, &str, Kind); 9] = [
    ("Clients connected", sys::CLIENTS_CONNECTED, Kind::Count),
    ("Messages in", MESSAGES_IN_RATE, Kind::Rate),
    ("Messages out", MESSAGES_OUT_RATE, Kind::Rate),
    ("Bytes in", BYTES_IN_RATE, Kind::Bytes),
    ("Bytes out", BYTES_OUT_RATE, Kind::Bytes),
    ("Subscriptions", sys::SUBSCRIPTIONS_COUNT, Kind::Count),
    (
        "Retained messages",
        sys::RETAINED_MESSAGES_COUNT,
        Kind::Count,
    ),
    ("Dropped", sys::MESSAGES_DROPPED, Kind::Count),
    ("Uptime", sys::UPTIME, Kind::Uptime),
];

/// Charts: title, series, unit.
const CHARTS: [(&str, &str, &str); 4] = [
    ("Clients connected", sys::CLIENTS_CONNECTED, "clients"),
    ("Messages in per second", MESSAGES_IN_RATE, "msg/s"),
    ("Messages out per second", MESSAGES_OUT_RATE, "msg/s"),
    ("Bytes in per second", BYTES_IN_RATE, "B/s"),
];

#[derive(Clone, Copy)]
enum Kind {
    Count,
    Rate,
    Bytes,
    Uptime,
}

/// `$SYS` statistics with live charts, and per-client counters when the
/// broker publishes them.
///
/// Stable ids: `#sys-tiles` with `.tile[data-stat]` (`.tile-value`),
/// `#sys-version`, `#dash-rate`, `.sys-chart[data-series]` (with
/// `data-first`, the time in ms of the oldest point drawn, and
/// `data-points`), `#sys-clients`.
#[component]
pub fn BrokerPage(store: Store) -> impl IntoView {
    let version = move || {
        store
            .data
            .sys
            .with(|s| s.value(sys::VERSION).map(str::to_owned))
    };
    let dash_rate = move || {
        let now = store.data.now.get();
        store
            .data
            .topics
            .with(|t| format!("{} msg/s", format_si(t.rate(now))))
    };
    view! {
        <section id="page-broker" class="page">
            <div class="page-head">
                <h2>"Broker"</h2>
                <span id="sys-version" class="hint">
                    {move || version().unwrap_or_else(|| "no $SYS data yet (the broker publishes it every --sys-interval seconds)".to_owned())}
                </span>
            </div>
            <div id="sys-tiles" class="tiles">
                {TILES
                    .iter()
                    .map(|&(label, stat, kind)| {
                        let value = move || {
                            store.data.sys.with(|s| {
                                let number = s
                                    .latest(stat)
                                    .or_else(|| s.value(stat).and_then(leading_number));
                                match (number, kind) {
                                    (None, _) => "—".to_owned(),
                                    (Some(v), Kind::Count) => format_si(v),
                                    (Some(v), Kind::Rate) => format!("{}/s", format_si(v)),
                                    (Some(v), Kind::Bytes) => format!("{} B/s", format_si(v)),
                                    (Some(v), Kind::Uptime) => format_uptime(v as u64),
                                }
                            })
                        };
                        view! {
                            <div class="tile card" data-stat=stat>
                                <span class="tile-label">{label}</span>
                                <span class="tile-value">{value}</span>
                            </div>
                        }
                    })
                    .collect_view()}
                <div class="tile card" data-stat="dashboard">
                    <span class="tile-label">"This page receives"</span>
                    <span id="dash-rate" class="tile-value">{dash_rate}</span>
                </div>
                <div class="tile card" data-stat="topics">
                    <span class="tile-label">"Topics seen"</span>
                    <span class="tile-value">{move || store.data.topics.with(|t| format_si(t.len() as f64))}</span>
                    <span class="hint">{move || store.data.topics.with(TopicTree::messages)} " messages"</span>
                </div>
            </div>
            <div class="chart-grid">
                {CHARTS
                    .iter()
                    .map(|&(title, series, unit)| {
                        let data = Signal::derive(move || {
                            let now = store.data.now.get();
                            store.data.sys.with(|s| {
                                let samples = s.series.get(series);
                                // From the first sample, up to 15 minutes.
                                let span = samples
                                    .and_then(|x| x.first())
                                    .map_or(60_000, |(t, _)| now.saturating_sub(t) + 2_000)
                                    .clamp(60_000, 900_000);
                                let (t0, t1) = Viewport::live(span).range(now);
                                ChartData {
                                    points: samples.map(|x| x.window(t0, t1)).unwrap_or_default(),
                                    t0,
                                    t1,
                                    unit: unit.to_owned(),
                                }
                            })
                        });
                        view! {
                            <figure
                                class="card sys-chart"
                                data-series=series
                                data-first=move || data.with(|d| d.points.first().map(|p| p.0.to_string()))
                                data-points=move || data.with(|d| d.points.len().to_string())
                            >
                                <figcaption>{title} <span class="hint">" · up to 15 min"</span></figcaption>
                                <TimeChart data label=title.to_owned()/>
                            </figure>
                        }
                    })
                    .collect_view()}
            </div>
            <ClientTable store/>
        </section>
    }
}

#[component]
fn ClientTable(store: Store) -> impl IntoView {
    let counters = Memo::new(move |_| store.data.sys.with(|s| s.client_counters()));
    let clients = Memo::new(move |_| {
        store.data.sys.with(|s| {
            s.clients
                .iter()
                .map(|(id, c)| (id.clone(), c.clone()))
                .collect::<Vec<_>>()
        })
    });
    view! {
        <div class="card">
            <h3>"Clients"</h3>
            <Empty
                when=Signal::derive(move || clients.with(Vec::is_empty))
                text="This broker publishes no per-client counters. Where a broker publishes them under $SYS/broker/clients/<client-id>/<counter> (queued, dropped, …) they show here."
            />
            <div class="table-scroll">
                <table id="sys-clients" class:hidden=move || clients.with(Vec::is_empty)>
                    <thead>
                        <tr>
                            <th>"Client"</th>
                            {move || counters.get().into_iter().map(|c| view! { <th>{c}</th> }).collect_view()}
                        </tr>
                    </thead>
                    <tbody>
                        {move || {
                            let names = counters.get();
                            clients
                                .get()
                                .into_iter()
                                .map(|(id, values)| {
                                    view! {
                                        <tr>
                                            <td><code>{id}</code></td>
                                            {names
                                                .iter()
                                                .map(|n| view! { <td class="num">{values.get(n).cloned().unwrap_or_default()}</td> })
                                                .collect_view()}
                                        </tr>
                                    }
                                })
                                .collect_view()
                        }}
                    </tbody>
                </table>
            </div>
        </div>
    }
}
