use leptos::either::Either;
use leptos::prelude::*;

use super::chart::Sparkline;
use super::fields::{Btn, Empty};
use crate::state::devices::{DeviceKey, Level};
use crate::state::format::ago;
use crate::state::route::Page;
use crate::store::Store;

/// A card per device: its last values (from the broker's history until
/// live ones come), a day's sparkline per measurement, its alarms.
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
pub(super) fn label(name: &str) -> String {
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
