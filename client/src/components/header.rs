use leptos::prelude::*;

use crate::store::Store;

/// The title, the connection state and the broker URL.
///
/// Stable ids: `#conn-state` (text exactly `connecting`, `connected` or
/// `disconnected`), `#broker-url`, `#connect-btn`, `#last-error`.
#[component]
pub fn Header(store: Store) -> impl IntoView {
    let url = RwSignal::new(store.broker_url.get_untracked());
    let state = move || store.conn_state.get().as_str();

    view! {
        <header class="topbar">
            <div class="brand">
                <h1>"Kite"</h1>
                <span id="conn-state" class=move || format!("conn-state {}", state()) role="status">
                    {state}
                </span>
            </div>
            <form
                class="broker"
                on:submit=move |ev| {
                    ev.prevent_default();
                    store.connect(&url.get_untracked());
                }
            >
                <label class="visually-hidden" for="broker-url">"Broker URL"</label>
                <input
                    id="broker-url"
                    type="text"
                    inputmode="url"
                    spellcheck="false"
                    autocomplete="off"
                    placeholder="ws://host:port/mqtt"
                    bind:value=url
                />
                <button id="connect-btn" type="submit">"Connect"</button>
            </form>
            <Show when=move || store.last_error.with(Option::is_some)>
                <p id="last-error" class="error" role="alert">
                    {move || store.last_error.get().unwrap_or_default()}
                </p>
            </Show>
        </header>
    }
}
