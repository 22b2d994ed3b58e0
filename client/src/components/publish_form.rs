use leptos::prelude::*;

use crate::store::Store;

/// Publish a message at QoS 0.
///
/// Stable ids: `#pub-topic`, `#pub-payload`, `#pub-send`, `#pub-status`.
#[component]
pub fn PublishForm(store: Store) -> impl IntoView {
    let topic = RwSignal::new(String::new());
    let payload = RwSignal::new(String::new());
    // Ok(text) after a send, Err(text) when it failed.
    let status = RwSignal::new(None::<Result<String, String>>);

    let send = move || {
        let topic = topic.get_untracked();
        let result = store
            .publish(&topic, &payload.get_untracked())
            .map(|()| format!("sent to {topic}"));
        status.set(Some(result));
    };

    view! {
        <section class="card publish" aria-labelledby="publish-title">
            <h2 id="publish-title">"Publish"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                send();
            }>
                <label for="pub-topic">"Topic"</label>
                <input
                    id="pub-topic"
                    type="text"
                    spellcheck="false"
                    autocomplete="off"
                    placeholder="devices/1/command"
                    bind:value=topic
                />
                <label for="pub-payload">"Payload"</label>
                <textarea
                    id="pub-payload"
                    rows="3"
                    spellcheck="false"
                    placeholder="hello"
                    bind:value=payload
                ></textarea>
                <div class="actions">
                    <button id="pub-send" type="submit">"Send"</button>
                    <span
                        id="pub-status"
                        class=move || match status.get() {
                            Some(Err(_)) => "status error",
                            _ => "status",
                        }
                        role="status"
                    >
                        {move || match status.get() {
                            Some(Ok(text) | Err(text)) => text,
                            None => "QoS 0, not retained".to_owned(),
                        }}
                    </span>
                </div>
            </form>
        </section>
    }
}
