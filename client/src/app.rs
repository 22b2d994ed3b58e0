//! The page.

use leptos::prelude::*;

use crate::components::{Header, MessageList, PublishForm};
use crate::store::Store;

/// The dashboard: connects to the default broker URL at once.
#[component]
pub fn App() -> impl IntoView {
    let store = Store::new();
    store.connect(&store.broker_url.get_untracked());

    view! {
        <Header store/>
        <main class="layout">
            <PublishForm store/>
            <MessageList store/>
        </main>
    }
}
