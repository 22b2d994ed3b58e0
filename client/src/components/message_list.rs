use leptos::prelude::*;

use crate::state::MessageRecord;
use crate::store::Store;

/// The live list of received messages, newest first, and their count.
///
/// Stable ids and classes: `#msg-count` (messages received, a plain number),
/// `#msg-clear`, `#messages` holding one `.msg` per message, each with
/// `.msg-topic`, `.msg-payload` and `.msg-time`.
#[component]
pub fn MessageList(store: Store) -> impl IntoView {
    let rows = move || {
        store
            .messages
            .with(|log| log.iter().cloned().collect::<Vec<_>>())
    };
    let capacity = store.messages.with_untracked(|log| log.capacity());

    view! {
        <section class="card messages" aria-labelledby="messages-title">
            <div class="card-head">
                <h2 id="messages-title">
                    "Messages " <span id="msg-count" class="count">{move || store.messages.with(|log| log.total())}</span>
                </h2>
                <span class="hint">{format!("last {capacity} shown")}</span>
                <button id="msg-clear" type="button" class="secondary" on:click=move |_| store.clear_messages()>
                    "Clear"
                </button>
            </div>
            <Show when=move || store.messages.with(|log| log.is_empty())>
                <p class="empty">"No messages yet. Everything published to the broker appears here."</p>
            </Show>
            <ol id="messages" aria-live="polite">
                <For each=rows key=|message| message.id children=move |message| view! { <MessageRow message/> }/>
            </ol>
        </section>
    }
}

#[component]
fn MessageRow(message: MessageRecord) -> impl IntoView {
    let size = if message.truncated() {
        Some(format!("{} bytes", message.payload_len))
    } else {
        None
    };
    view! {
        <li class="msg" class:retained=message.retained>
            <div class="msg-head">
                <span class="msg-topic">{message.topic}</span>
                {message.retained.then(|| view! { <span class="badge">"retained"</span> })}
                {(message.qos > 0).then(|| view! { <span class="badge">{format!("QoS {}", message.qos)}</span> })}
                <span class="msg-time" title=message.received_ms.to_string()>{message.time}</span>
            </div>
            <pre class="msg-payload">{message.payload}</pre>
            {size.map(|size| view! { <span class="hint">{size}</span> })}
        </li>
    }
}
