use leptos::either::Either;
use leptos::prelude::*;

use super::chart::{ChartData, TimeChart};
use super::devices::label;
use super::fields::{Btn, Empty};
use crate::platform;
use crate::state::chart::{Viewport, RANGES};
use crate::state::devices::DeviceKey;
use crate::state::format::{ago, format_date_time};
use crate::state::route::Page;
use crate::store::Store;

/// The ids of the [`RANGES`] buttons.
const RANGE_IDS: [&str; 3] = ["range-1h", "range-24h", "range-7d"];

/// One device: when it was last seen, a large chart per measurement with
/// its latest value over the last 24 hours (1 h, 24 h or 7 d; zoomable),
/// from the broker's history and continued by the readings heard live,
/// and its recent events. Each change of range asks the history again, as
/// finely as it keeps that stretch.
///
/// Stable ids: `#page-device` with `.seen`, `.device-chart[data-measurement]`
/// (with `data-first`, the time in ms of the oldest point drawn, and
/// `data-points`; `.m-value`, `.m-unit`), `#zoom-in`, `#zoom-out`, `#pan-back`, `#pan-forward`,
/// `#zoom-live`, `.range-btn` (`#range-1h`, `#range-24h`, `#range-7d`),
/// `#history-problem`.
#[component]
pub fn DevicePage(store: Store, key: DeviceKey) -> impl IntoView {
    let viewport = RwSignal::new(Viewport::default());
    let id = key.id.clone();
    let show = Callback::new(move |v: Viewport| {
        viewport.set(v);
        store.history.show_device(&id, v.span_ms, v.end_ms);
    });
    show.run(Viewport::default());
    let left = key.id.clone();
    on_cleanup(move || store.history.leave_device(&left));

    let view_key = key.clone();
    let exists = Memo::new(move |_| store.data.devices.with(|d| d.view(&view_key).is_some()));
    // Its last values and their age, as on its card.
    let card_key = key.clone();
    let card = Memo::new(move |_| store.data.devices.with(|d| d.card(&card_key)));
    let seen = move || {
        let now = store.data.now.get();
        card.with(|c| match c.as_ref().and_then(|c| c.last_seen_ms) {
            Some(at) => format!("seen {}", ago(at, now)),
            None => "not seen yet".to_owned(),
        })
    };
    let names_key = key.clone();
    let names = Memo::new(move |_| store.data.devices.with(|d| d.measurement_names(&names_key)));
    let title_key = key.clone();
    let title = move || {
        store.data.devices.with(|d| {
            d.view(&title_key)
                .map(|v| v.display_name().to_owned())
                .unwrap_or_else(|| title_key.id.clone())
        })
    };
    let events_key = key.clone();
    let events = move || {
        store.data.devices.with(|d| {
            d.view(&events_key)
                .map(|v| v.events.iter().rev().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    };
    let range_text = move || {
        let (t0, t1) = viewport.get().range(store.data.now.get());
        let offset = platform::utc_offset_minutes();
        let live = if viewport.with(Viewport::is_live) {
            " (live)"
        } else {
            ""
        };
        let (start, end) = (format_date_time(t0, offset), format_date_time(t1, offset));
        // The end's date only when it is another day's.
        let end = if start[..10] == end[..10] {
            &end[11..]
        } else {
            &end[..]
        };
        format!("{start} – {end}{live}")
    };
    let zoom = move |factor: f64| {
        let mut v = viewport.get_untracked();
        // A live chart stays live: it zooms about its right edge.
        let anchor = if v.is_live() { 1.0 } else { 0.5 };
        v.zoom(factor, anchor, store.data.now.get_untracked());
        show.run(v);
    };
    let pan = move |fraction: f64| {
        let mut v = viewport.get_untracked();
        v.pan(fraction, store.data.now.get_untracked());
        show.run(v);
    };
    let chart_key = key.clone();
    view! {
        <section id="page-device" class="page">
            <div class="page-head">
                <a href="#/devices" class="back" on:click=move |ev| {
                    ev.prevent_default();
                    store.ui.go(Page::Devices);
                }>"← Devices"</a>
                <h2>{title}</h2>
                <span class="hint">{key.id.clone()}</span>
                <span class="hint seen">{seen}</span>
            </div>
            <Empty when=Signal::derive(move || !exists.get()) text="No such device (yet). It appears once it publishes." card=true/>
            <div class="toolbar card">
                <span class="range">{range_text}</span>
                <div class="btn-group">
                    {RANGES
                        .into_iter()
                        .zip(RANGE_IDS)
                        .map(|((text, span), id)| {
                            view! {
                                <Btn
                                    id
                                    label=text
                                    class="range-btn"
                                    title="Up to now, from the broker's history"
                                    active=Signal::derive(move || viewport.with(|v| v.span_ms == span && v.is_live()))
                                    on_click=Callback::new(move |()| show.run(Viewport::live(span)))
                                />
                            }
                        })
                        .collect_view()}
                </div>
                <div class="btn-group">
                    <Btn id="pan-back" label="◀" title="Earlier" on_click=Callback::new(move |()| pan(-0.5))/>
                    <Btn id="zoom-in" label="+" title="Zoom in" on_click=Callback::new(move |()| zoom(0.5))/>
                    <Btn id="zoom-out" label="−" title="Zoom out" on_click=Callback::new(move |()| zoom(2.0))/>
                    <Btn id="pan-forward" label="▶" title="Later" on_click=Callback::new(move |()| pan(0.5))/>
                    <Btn
                        id="zoom-live"
                        label="Live"
                        active=Signal::derive(move || viewport.with(Viewport::is_live))
                        on_click=Callback::new(move |()| {
                            let mut v = viewport.get_untracked();
                            v.end_ms = None;
                            show.run(v);
                        })
                    />
                </div>
            </div>
            {move || {
                store.history.problem.get().map(|why| {
                    view! { <p id="history-problem" class="status error">"No history: " {why}</p> }
                })
            }}
            <div class="chart-grid">
                {move || {
                    names.get().into_iter().map(|name| {
                        let key = chart_key.clone();
                        let measurement = name.clone();
                        let latest = {
                            let name = name.clone();
                            move || card.with(|c| {
                                c.as_ref()
                                    .and_then(|c| c.measurements.iter().find(|m| m.name == name))
                                    .map(|m| (m.value.clone(), m.unit.clone()))
                                    .unwrap_or_default()
                            })
                        };
                        let data = Memo::new(move |_| {
                            let (t0, t1) = viewport.get().range(store.data.now.get());
                            store.data.devices.with(|d| ChartData {
                                points: d.series(&key, &measurement).map(|s| s.window(t0, t1)).unwrap_or_default(),
                                t0,
                                t1,
                                unit: d.unit(&key, &measurement),
                            })
                        });
                        view! {
                            <figure
                                class="card device-chart"
                                data-measurement=name.clone()
                                data-first=move || data.with(|d| d.points.first().map(|p| p.0.to_string()))
                                data-points=move || data.with(|d| d.points.len().to_string())
                            >
                                <figcaption>
                                    {label(&name)}
                                    <span class="m-reading">
                                        <span class="m-value">{let latest = latest.clone(); move || latest().0}</span>
                                        " "
                                        <span class="m-unit">{move || latest().1}</span>
                                    </span>
                                </figcaption>
                                <TimeChart data label=format!("{name} over time")/>
                            </figure>
                        }
                    })
                    .collect_view()
                }}
            </div>
            <div class="card">
                <h3>"Recent events"</h3>
                <ul class="plain-list">
                    {move || {
                        let list = events();
                        if list.is_empty() {
                            Either::Left(view! { <li class="hint">"No events from this device."</li> })
                        } else {
                            Either::Right(list.into_iter()
                                .map(|e| view! {
                                    <li class=format!("sev-{}", e.severity)>
                                        <span class="pill">{e.severity.to_string()}</span>
                                        " " <strong>{e.kind}</strong> " " {e.message}
                                    </li>
                                })
                                .collect_view())
                        }
                    }}
                </ul>
            </div>
        </section>
    }
}
