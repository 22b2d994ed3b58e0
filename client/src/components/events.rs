use leptos::prelude::*;

use super::fields::Empty;
use crate::platform;
use crate::state::events::{parse_severity, EventFilter};
use crate::state::format::format_date_time;
use crate::store::Store;

/// Events shown at most; the log keeps more.
const SHOWN: usize = 300;

/// Device events from `devices/<id>/events`, newest first, with filters.
///
/// Stable ids: `#event-device`, `#event-severity`, `#event-text`,
/// `#event-log` with one `.event` per event (`data-device`).
#[component]
pub fn EventsPage(store: Store) -> impl IntoView {
    let filter = RwSignal::new(EventFilter::default());
    let devices = Memo::new(move |_| store.data.events.with(|e| e.devices()));
    let shown = Memo::new(move |_| {
        let filter = filter.get();
        store.data.events.with(|e| e.filtered(&filter, SHOWN))
    });
    let total = move || store.data.events.with(|e| e.len());
    view! {
        <section id="page-events" class="page">
            <div class="page-head">
                <h2>"Events"</h2>
                <span class="hint">{move || format!("{} shown of {}", shown.with(Vec::len), total())}</span>
            </div>
            <div class="toolbar card">
                <label for="event-device">"Device"</label>
                <select
                    id="event-device"
                    on:change=move |ev| filter.update(|f| f.device = event_target_value(&ev))
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
                    on:change=move |ev| filter.update(|f| f.min_severity = parse_severity(&event_target_value(&ev)))
                >
                    <option value="info">"info"</option>
                    <option value="warning">"warning"</option>
                    <option value="critical">"critical"</option>
                </select>
                <input
                    id="event-text"
                    class="search"
                    type="search"
                    placeholder="Search type or message"
                    on:input=move |ev| filter.update(|f| f.text = event_target_value(&ev))
                />
            </div>
            <div class="card">
                <Empty when=Signal::derive(move || shown.with(Vec::is_empty)) text="No events match."/>
                <ol id="event-log" class="plain-list events">
                    <For
                        each=move || shown.get()
                        key=|e| e.seq
                        children=move |e| {
                            let time = format_date_time(e.ts.unwrap_or(e.received_ms), platform::utc_offset_minutes());
                            view! {
                                <li class=format!("event sev-{}", e.severity) data-device=e.device.clone()>
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
            </div>
        </section>
    }
}
