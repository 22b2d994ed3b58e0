use leptos::either::Either;
use leptos::prelude::*;

use super::chart::{ChartData, Sparkline, TimeChart};
use super::fields::{Btn, Empty};
use crate::platform;
use crate::state::chart::Viewport;
use crate::state::devices::{DeviceKey, Level};
use crate::state::format::{ago, format_date_time};
use crate::state::route::Page;
use crate::store::Store;

/// A card per device.
///
/// Stable ids and classes: `#devices` holding one `.device-card` per device
/// (`data-device` = id, class `alarm` while it has an active alarm), each
/// with `.device-status` (`online` / `offline` / `unknown`), `.seen`, and
/// per measurement `.m-<name>` with `.m-value` and `.m-unit`; `.card-alarm`
/// per active alarm with `.card-ack`.
#[component]
pub fn DevicesPage(store: Store) -> impl IntoView {
    let keys = Memo::new(move |_| store.data.devices.with(|d| d.keys()));
    let filter = RwSignal::new(String::new());
    let shown = move || {
        let text = filter.get().trim().to_lowercase();
        keys.get()
            .into_iter()
            .filter(|k| {
                text.is_empty()
                    || k.id.to_lowercase().contains(&text)
                    || store.data.devices.with_untracked(|d| {
                        d.view(k)
                            .is_some_and(|v| v.display_name().to_lowercase().contains(&text))
                    })
            })
            .collect::<Vec<_>>()
    };
    let online = move || {
        store.data.devices.with(|d| {
            d.keys()
                .iter()
                .filter(|k| d.view(k).and_then(|v| v.online) == Some(true))
                .count()
        })
    };
    view! {
        <section id="page-devices" class="page">
            <div class="page-head">
                <h2>"Devices"</h2>
                <span class="hint">
                    {move || format!("{} devices, {} online", keys.with(Vec::len), online())}
                </span>
                <input
                    class="search"
                    type="search"
                    placeholder="Filter devices"
                    aria-label="Filter devices"
                    bind:value=filter
                />
            </div>
            <Empty
                when=Signal::derive(move || keys.with(Vec::is_empty))
                text="No devices yet. Devices appear here when they publish under devices/<id>/… or announce themselves with Home Assistant discovery."
                card=true
            />
            <div id="devices" class="device-grid">
                <For each=shown key=|key| key.clone() children=move |key| view! { <DeviceCard store key/> }/>
            </div>
        </section>
    }
}

#[component]
fn DeviceCard(store: Store, key: DeviceKey) -> impl IntoView {
    let card_key = key.clone();
    let card = Memo::new(move |_| store.data.devices.with(|d| d.card(&card_key)));
    let id = key.id.clone();
    let alarms = Memo::new(move |_| {
        store
            .data
            .alarms
            .with(|a| a.for_device(&id).cloned().collect::<Vec<_>>())
    });
    let status = move || match card.with(|c| c.as_ref().and_then(|c| c.online)) {
        Some(true) => "online",
        Some(false) => "offline",
        None => "unknown",
    };
    let seen = move || {
        let now = store.data.now.get();
        card.with(|c| match c.as_ref().and_then(|c| c.last_seen_ms) {
            Some(at) => format!("seen {}", ago(at, now)),
            None => "not seen live yet".to_owned(),
        })
    };
    let names = Memo::new(move |_| {
        card.with(|c| {
            c.as_ref()
                .map(|c| {
                    c.measurements
                        .iter()
                        .map(|m| m.name.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let page = Page::Device(key.clone());
    let href = page.hash();
    view! {
        <article
            class=move || format!("device-card card {}", status())
            class:alarm=move || alarms.with(|a| !a.is_empty())
            data-device=key.id.clone()
            data-source=key.source_slug()
        >
            <header class="device-head">
                <a
                    class="device-name"
                    href=href
                    on:click=move |ev| {
                        ev.prevent_default();
                        store.ui.go(page.clone());
                    }
                >
                    {move || card.with(|c| c.as_ref().map(|c| c.name.clone()).unwrap_or_default())}
                </a>
                <span class=move || format!("device-status pill {}", status())>{status}</span>
            </header>
            <p class="device-sub hint">
                {move || {
                    card.with(|c| {
                        let Some(c) = c else { return String::new() };
                        let mut parts = vec![c.key.id.clone()];
                        parts.extend(c.kind.clone());
                        parts.extend(c.location.clone());
                        if c.key.source_slug() == "ha" {
                            parts.push("Home Assistant".to_owned());
                        }
                        parts.join(" · ")
                    })
                }}
            </p>
            {move || {
                alarms.get().into_iter().map(|alarm| {
                    let (device, rule) = (alarm.device.clone(), alarm.rule.clone());
                    let acked = alarm.acknowledged_by.clone();
                    view! {
                        <div class=format!("card-alarm sev-{}", alarm.severity) data-rule=alarm.rule.clone()>
                            <span class="card-alarm-text">
                                "⚠ " {alarm.message.clone()}
                                {alarm.value.map(|v| format!(" ({})", crate::state::devices::format_value(v)))}
                            </span>
                            {match acked {
                                Some(by) => Either::Left(view! { <span class="hint acked">{format!("ack by {by}")}</span> }),
                                None => Either::Right(view! {
                                    <Btn
                                        label="Ack"
                                        class="card-ack"
                                        on_click=Callback::new(move |()| {
                                            let _ = store.acknowledge(&device, &rule);
                                        })
                                    />
                                }),
                            }}
                        </div>
                    }
                })
                .collect_view()
            }}
            <div class="measurements">
                {move || {
                    names.get().into_iter().map(|name| {
                        let m = {
                            let name = name.clone();
                            Memo::new(move |_| {
                                card.with(|c| {
                                    c.as_ref()
                                        .and_then(|c| c.measurements.iter().find(|m| m.name == name).cloned())
                                })
                            })
                        };
                        let spark = Signal::derive(move || m.with(|m| m.as_ref().map(|m| m.spark.clone()).unwrap_or_default()));
                        view! {
                            <div
                                class=format!("measurement m-{name}")
                                class:low=move || m.with(|m| m.as_ref().is_some_and(|m| m.level == Level::Low))
                                title=move || m.with(|m| m.as_ref().and_then(|m| m.error.clone()).unwrap_or_default())
                            >
                                <span class="m-name">{label(&name)}</span>
                                <span class="m-reading">
                                    <span class="m-value">{move || m.with(|m| m.as_ref().map(|m| m.value.clone()).unwrap_or_default())}</span>
                                    <span class="m-unit">{move || m.with(|m| m.as_ref().map(|m| m.unit.clone()).unwrap_or_default())}</span>
                                </span>
                                <Sparkline path=spark/>
                            </div>
                        }
                    })
                    .collect_view()
                }}
            </div>
            <footer class="device-foot hint">
                <span class="seen">{seen}</span>
                <span class="last-event">{move || card.with(|c| c.as_ref().and_then(|c| c.last_event.clone()).unwrap_or_default())}</span>
            </footer>
        </article>
    }
}

/// A measurement's name for people: `signal` → `Signal`.
fn label(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars)
            .collect::<String>()
            .replace('_', " "),
        None => String::new(),
    }
}

/// One device: a large chart per measurement (last hour, zoomable), its
/// alarms and events.
///
/// Stable ids: `#page-device`, `.device-chart[data-measurement]`,
/// `#zoom-in`, `#zoom-out`, `#pan-back`, `#pan-forward`, `#zoom-live`,
/// `.range-btn`.
#[component]
pub fn DevicePage(store: Store, key: DeviceKey) -> impl IntoView {
    // None: fit the data, up to the last hour.
    let chosen = RwSignal::new(None::<Viewport>);
    let fit_key = key.clone();
    let viewport = Memo::new(move |_| {
        chosen.get().unwrap_or_else(|| {
            let now = store.data.now.get();
            let first = store.data.devices.with(|d| {
                d.measurement_names(&fit_key)
                    .iter()
                    .filter_map(|m| d.series(&fit_key, m).and_then(|s| s.first()))
                    .map(|(t, _)| t)
                    .min()
            });
            Viewport::live(first.map_or(60_000, |t| now.saturating_sub(t) + 5_000))
        })
    });
    let view_key = key.clone();
    let exists = Memo::new(move |_| store.data.devices.with(|d| d.view(&view_key).is_some()));
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
        format!(
            "{} – {}{live}",
            format_date_time(t0, offset),
            &format_date_time(t1, offset)[11..]
        )
    };
    let zoom = move |factor: f64| {
        let now = store.data.now.get_untracked();
        let mut v = viewport.get_untracked();
        v.zoom(factor, 0.5, now);
        chosen.set(Some(v));
    };
    let pan = move |fraction: f64| {
        let now = store.data.now.get_untracked();
        let mut v = viewport.get_untracked();
        v.pan(fraction, now);
        chosen.set(Some(v));
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
            </div>
            <Empty when=Signal::derive(move || !exists.get()) text="No such device (yet). It appears once it publishes." card=true/>
            <div class="toolbar card">
                <span class="range">{range_text}</span>
                <div class="btn-group">
                    <Btn
                    label="Fit"
                    class="range-btn"
                    title="From the first reading, up to an hour"
                    active=Signal::derive(move || chosen.with(Option::is_none))
                    on_click=Callback::new(move |()| chosen.set(None))
                />
                {[("1 min", 60_000u64), ("5 min", 300_000), ("15 min", 900_000), ("1 h", 3_600_000)]
                        .into_iter()
                        .map(|(text, span)| {
                            view! {
                                <Btn
                                    label=text
                                    class="range-btn"
                                    active=Signal::derive(move || chosen.with(|v| v.is_some_and(|v| v.span_ms == span && v.is_live())))
                                    on_click=Callback::new(move |()| chosen.set(Some(Viewport::live(span))))
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
                            chosen.set(Some(v));
                        })
                    />
                </div>
            </div>
            <div class="chart-grid">
                {move || {
                    names.get().into_iter().map(|name| {
                        let key = chart_key.clone();
                        let measurement = name.clone();
                        let data = Signal::derive(move || {
                            let (t0, t1) = viewport.get().range(store.data.now.get());
                            store.data.devices.with(|d| ChartData {
                                points: d.series(&key, &measurement).map(|s| s.window(t0, t1)).unwrap_or_default(),
                                t0,
                                t1,
                                unit: d.unit(&key, &measurement),
                            })
                        });
                        view! {
                            <figure class="card device-chart" data-measurement=name.clone()>
                                <figcaption>{label(&name)}</figcaption>
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
