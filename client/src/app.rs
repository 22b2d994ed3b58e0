//! The page: the header and the page the address names.

use leptos::either::EitherOf11;
use leptos::prelude::*;

use crate::components::{
    AlarmsPage, BridgesPage, BrokerPage, ClusterPage, ConnectionPage, DevicePage, DevicesPage,
    EventsPage, Header, MessageList, PublishForm, Subscriptions, TopicsPage, UsersPage,
};
#[cfg(target_arch = "wasm32")]
use crate::platform;
use crate::state::route::Page;
use crate::store::Store;

/// The dashboard: connects with the current profile at once.
#[component]
pub fn App() -> impl IntoView {
    let store = Store::new();
    store.connect();
    #[cfg(target_arch = "wasm32")]
    {
        let handle = window_event_listener(leptos::ev::hashchange, move |_| {
            let page = Page::from_hash(&platform::location_hash());
            if store.ui.page.with_untracked(|p| *p != page) {
                store.ui.page.set(page);
            }
        });
        // The listener lives as long as the page.
        std::mem::forget(handle);
    }

    view! {
        <Header store/>
        <main class="layout">
            {move || match store.ui.page.get() {
                Page::Devices => EitherOf11::A(view! { <DevicesPage store/> }),
                Page::Device(key) => EitherOf11::B(view! { <DevicePage store key/> }),
                Page::Alarms => EitherOf11::C(view! { <AlarmsPage store/> }),
                Page::Events => EitherOf11::D(view! { <EventsPage store/> }),
                Page::Topics => EitherOf11::E(view! { <TopicsPage store/> }),
                Page::Publish => EitherOf11::F(view! { <PublishPage store/> }),
                Page::Broker => EitherOf11::G(view! { <BrokerPage store/> }),
                Page::Cluster => EitherOf11::H(view! { <ClusterPage store/> }),
                Page::Bridges => EitherOf11::I(view! { <BridgesPage store/> }),
                Page::Users => EitherOf11::J(view! { <UsersPage store/> }),
                Page::Connection => EitherOf11::K(view! { <ConnectionPage store/> }),
            }}
        </main>
    }
}

#[component]
fn PublishPage(store: Store) -> impl IntoView {
    view! {
        <section id="page-publish" class="page publish-page">
            <div class="col">
                <PublishForm store/>
                <Subscriptions store/>
            </div>
            <MessageList store/>
        </section>
    }
}
