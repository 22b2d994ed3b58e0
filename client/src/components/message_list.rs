use leptos::prelude::*;

use super::fields::{Btn, Empty};
use crate::state::window::visible_rows;
use crate::state::MessageRecord;
use crate::store::Store;

/// Height of one message row in px (the CSS says the same).
const ROW_H: f64 = 48.0;

/// The live list of received messages, newest first, and their count. Only
/// the rows in view are in the page.
///
/// Stable ids and classes: `#msg-count` (messages received, a plain number),
/// `#msg-clear`, `#msg-pause`, `#messages` holding one `.msg` per message
/// in view, each with `.msg-topic`, `.msg-payload` and `.msg-time`.
#[component]
pub fn MessageList(store: Store) -> impl IntoView {
    let scroll = RwSignal::new(0.0f64);
    let viewport = RwSignal::new(600.0f64);
    let paused = RwSignal::new(false);
    // While paused the list shows a snapshot.
    let snapshot = RwSignal::new(Vec::<MessageRecord>::new());
    let len = Memo::new(move |_| {
        if paused.get() {
            snapshot.with(Vec::len)
        } else {
            store.data.messages.with(|log| log.len())
        }
    });
    let range = Memo::new(move |_| visible_rows(scroll.get(), viewport.get(), ROW_H, len.get()));
    let rows = move || {
        let range = range.get();
        if paused.get() {
            snapshot.with(|s| s[range.start.min(s.len())..range.end.min(s.len())].to_vec())
        } else {
            store.data.messages.with(|log| {
                log.iter()
                    .skip(range.start)
                    .take(range.len())
                    .cloned()
                    .collect::<Vec<_>>()
            })
        }
    };
    let capacity = store.data.messages.with_untracked(|log| log.capacity());
    let toggle_pause = move |_| {
        if !paused.get_untracked() {
            snapshot.set(
                store
                    .data
                    .messages
                    .with_untracked(|log| log.iter().cloned().collect()),
            );
        }
        paused.update(|p| *p = !*p);
    };

    view! {
        <section class="card messages" aria-labelledby="messages-title">
            <div class="card-head">
                <h2 id="messages-title">
                    "Messages " <span id="msg-count" class="count">{move || store.data.messages.with(|log| log.total())}</span>
                </h2>
                <span class="hint">{format!("last {capacity} kept")}</span>
                <button id="msg-pause" type="button" class="secondary small" class:active=paused on:click=toggle_pause>
                    {move || if paused.get() { "Resume" } else { "Pause" }}
                </button>
                <Btn id="msg-clear" label="Clear" on_click=Callback::new(move |()| store.data.clear_messages())/>
            </div>
            <Empty when=Signal::derive(move || len.get() == 0) text="No messages yet. Everything published to the broker appears here."/>
            <div
                class="vlist messages-scroll"
                on:scroll=move |ev| {
                    let el = event_target::<web_sys::Element>(&ev);
                    scroll.set(f64::from(el.scroll_top()));
                    viewport.set(f64::from(el.client_height()));
                }
            >
                <ol
                    id="messages"
                    class="vlist-inner"
                    style=move || {
                        format!(
                            "height:{}px;padding-top:{}px",
                            len.get() as f64 * ROW_H,
                            range.with(|r| r.start) as f64 * ROW_H,
                        )
                    }
                >
                    <For each=rows key=|message| message.id children=move |message| view! { <MessageRow message/> }/>
                </ol>
            </div>
        </section>
    }
}

#[component]
fn MessageRow(message: MessageRecord) -> impl IntoView {
    let size = message
        .truncated()
        .then(|| format!("{} bytes", message.payload_len));
    let title = message.payload.chars().take(2000).collect::<String>();
    view! {
        <li class="msg" class:retained=message.retained>
            <div class="msg-head">
                <span class="msg-topic">{message.topic}</span>
                {message.retained.then(|| view! { <span class="badge">"retained"</span> })}
                {(message.qos > 0).then(|| view! { <span class="badge">{format!("QoS {}", message.qos)}</span> })}
                {size.map(|size| view! { <span class="badge">{size}</span> })}
                <span class="msg-time" title=message.received_ms.to_string()>{message.time}</span>
            </div>
            <div class="msg-payload" title=title>{message.payload}</div>
        </li>
    }
}
