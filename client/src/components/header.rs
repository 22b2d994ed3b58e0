use leptos::prelude::*;

use crate::state::route::{Page, NAV};
use crate::store::Store;

/// The title, the connection state (with the reconnect countdown), the
/// broker URL, the theme switch and the navigation.
///
/// Stable ids: `#conn-state` (text exactly `connecting`, `connected` or
/// `disconnected`), `#conn-retry`, `#broker-url`, `#connect-btn`,
/// `#last-error`, `#theme-btn`, `nav a[data-page=…]`, `#nav-alarm-count`.
#[component]
pub fn Header(store: Store) -> impl IntoView {
    let url = RwSignal::new(store.connection.broker_url.get_untracked());
    // Follow the URL when it changes elsewhere (the connection page).
    Effect::new(move |_| url.set(store.connection.broker_url.get()));
    let state = move || store.connection.conn_state.get().as_str();
    let retry = move || {
        let at = store.connection.retry_at.get()?;
        let now = store.data.now.get();
        Some(format!(
            "retry in {} s",
            at.saturating_sub(now).div_ceil(1000).max(1)
        ))
    };
    let next_theme = move || match store.ui.theme.get().as_str() {
        "auto" => "light",
        "light" => "dark",
        _ => "auto",
    };
    let alarm_count = move || store.data.alarms.with(|a| a.unacknowledged());

    view! {
        <header class="topbar">
            <div class="brand">
                <a class="logo" href="#/devices" aria-label="Kite home">
                    <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
                        <path d="M12 2 20 10 12 22 4 10Z" fill="currentColor" opacity="0.85"/>
                        <path d="M4 10h16M12 2v20" stroke="var(--surface)" stroke-width="1.2"/>
                    </svg>
                    <h1>"Kite"</h1>
                </a>
                <span id="conn-state" class=move || format!("conn-state {}", state()) role="status">
                    {state}
                </span>
                <span id="conn-retry" class="hint">{retry}</span>
            </div>
            <form
                class="broker"
                on:submit=move |ev| {
                    ev.prevent_default();
                    store.connect_to(&url.get_untracked());
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
            <button
                id="theme-btn"
                type="button"
                class="secondary icon"
                title=move || format!("Theme: {} (switch to {})", store.ui.theme.get(), next_theme())
                on:click=move |_| store.ui.set_theme(next_theme())
            >
                {move || match store.ui.theme.get().as_str() {
                    "light" => "☀ light",
                    "dark" => "☾ dark",
                    _ => "◐ auto",
                }}
            </button>
            {move || {
                store
                    .connection.last_error
                    .get()
                    .map(|e| view! { <p id="last-error" class="error" role="alert">{e}</p> })
            }}
            <nav class="nav" aria-label="Pages">
                {NAV
                    .iter()
                    .map(|&(slug, label)| {
                        let page = Page::from_hash(slug);
                        let target = page.clone();
                        view! {
                            <a
                                href=page.hash()
                                data-page=slug
                                class:active=move || store.ui.page.with(|p| p.slug() == slug)
                                on:click=move |ev| {
                                    ev.prevent_default();
                                    store.ui.go(target.clone());
                                }
                            >
                                {label}
                                {(slug == "alarms")
                                    .then(|| {
                                        view! {
                                            {move || {
                                                let n = alarm_count();
                                                (n > 0).then(|| view! { <span id="nav-alarm-count" class="pill bad">{n}</span> })
                                            }}
                                        }
                                    })}
                            </a>
                        }
                    })
                    .collect_view()}
            </nav>
        </header>
    }
}
