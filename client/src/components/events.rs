use leptos::prelude::*;

use super::fields::{Btn, Empty};
use crate::platform;
use crate::state::events::{parse_severity, EventFilter, PageStatus};
use crate::state::format::format_date_time;
use crate::store::Store;

/// Live events shown at most; the log keeps more.
const SHOWN: usize = 300;

/// Events from the broker's history (device events and the alarm engine's),
/// newest first, 100 a page with an "Older" button, and the ones heard
/// since on top; filtered by device, severity and text (the history is
/// asked again for each filter).
///
/// Stable ids: `#event-device`, `#event-severity`, `#event-text`,
/// `#event-log` with one `.event` per event (`data-device`,
/// `data-source` = `device` or `alarm`, class `live` when heard since the
/// page opened), `#event-older`, `#event-status`.
#[component]
pub fn EventsPage(store: Store) -> impl IntoView {
    let pages = store.data.event_pages;
    let filter = Memo::new(move |_| pages.with(|p| p.filter.clone()));
    let set_filter = move |change: &dyn Fn(&mut EventFilter)| {
        let mut next = filter.get_untracked();
        change(&mut next);
        store.history.filter_events(next);
    };
    let devices = Memo::new(move |_| {
        let known = store
            .data
            .devices
            .with(|d| d.keys().into_iter().map(|k| k.id).collect::<Vec<_>>());
        store
            .data
            .events
            .with(|log| pages.with(|p| p.device_choices(log, known)))
    });
    let shown = Memo::new(move |_| {
        store
            .data
            .events
            .with(|log| pages.with(|p| p.shown(log, SHOWN)))
    });
    let status = move || {
        pages.with(|p| match &p.status {
            PageStatus::Idle => "not connected: events heard live only".to_owned(),
            PageStatus::Loading { older: false } => "asking the broker's history…".to_owned(),
            PageStatus::Loading { older: true } => "asking for older events…".to_owned(),
            PageStatus::Loaded if p.next_before.is_some() => {
                format!("{} from the history; older ones on request", p.events.len())
            }
            PageStatus::Loaded => format!("{} from the history: all of it", p.events.len()),
            PageStatus::Failed(why) => format!("no history ({why}): events heard live only"),
        })
    };
    let older = move || pages.with(|p| p.status == PageStatus::Loaded && p.next_before.is_some());
    view! {
        <section id="page-events" class="page">
            <div class="page-head">
                <h2>"Events"</h2>
                <span class="hint">{move || format!("{} shown", shown.with(Vec::len))}</span>
            </div>
            <div class="toolbar card">
                <label for="event-device">"Device"</label>
                <select
                    id="event-device"
                    on:change=move |ev| {
                        let device = event_target_value(&ev);
                        set_filter(&move |f| f.device = device.clone());
                    }
                >
                    <option value="">"all devices"</option>
                    {move || {
                        devices
                            .get()
                            .into_iter()
                            .map(|d| {
                                let selected = filter.with_untracked(|f| f.device == d);
                                view! { <option value=d.clone() selected=selected>{d.clone()}</option> }
                            })
                            .collect_view()
                    }}
                </select>
                <label for="event-severity">"At least"</label>
                <select
                    id="event-severity"
                    prop:value=move || filter.with(|f| f.min_severity.to_string())
                    on:change=move |ev| {
                        let severity = parse_severity(&event_target_value(&ev));
                        set_filter(&move |f| f.min_severity = severity);
                    }
                >
                    <option value="info">"info"</option>
                    <option value="warning">"warning"</option>
                    <option value="critical">"critical"</option>
                </select>
                <input
                    id="event-text"
                    class="search"
                    type="search"
                    placeholder="Search type, message or device"
                    prop:value=move || filter.with(|f| f.text.clone())
                    on:input=move |ev| {
                        let text = event_target_value(&ev);
                        set_filter(&move |f| f.text = text.clone());
                    }
                />
            </div>
            <div class="card">
                <p id="event-status" class="status">{status}</p>
                <Empty when=Signal::derive(move || shown.with(Vec::is_empty)) text="No events match."/>
                <ol id="event-log" class="plain-list events">
                    <For
                        each=move || shown.get()
                        key=|e| e.key.clone()
                        children=move |e| {
                            let time = format_date_time(e.at_ms, platform::utc_offset_minutes());
                            view! {
                                <li
                                    class=format!("event sev-{}", e.severity)
                                    class:live=e.live
                                    data-device=e.device.clone()
                                    data-source=e.source.clone()
                                >
                                    <time>{time}</time>
                                    <span class="pill">{e.severity.to_string()}</span>
                                    <strong>{e.device.clone()}</strong>
                                    <code>{e.kind.clone()}</code>
                                    <span>{e.message.clone()}</span>
                                </li>
                            }
                        }
                    />
                </ol>
                <Show when=older>
                    <Btn
                        id="event-older"
                        label="Older"
                        title="The next page from the broker's history"
                        on_click=Callback::new(move |()| store.history.older_events())
                    />
                </Show>
            </div>
        </section>
    }
}
