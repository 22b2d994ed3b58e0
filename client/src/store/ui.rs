//! The UI part of the store: what this page shows and how, as signals; the
//! preferences that outlive the page are kept in localStorage. Neither the
//! transport nor the data models know of it.

use std::collections::HashSet;

use leptos::prelude::*;

use crate::platform;
use crate::state::route::Page;

pub(super) const THEME_KEY: &str = "kite.theme";
pub(super) const ACK_NAME_KEY: &str = "kite.ackName";

/// The page, the theme, the alarm page's name and the topic explorer's
/// state; `Copy`, like the signals it holds.
#[derive(Clone, Copy)]
pub struct UiStore {
    pub page: RwSignal<Page>,
    /// `auto`, `light` or `dark`.
    pub theme: RwSignal<String>,
    /// Who acknowledges alarms from this page.
    pub ack_name: RwSignal<String>,
    /// The topic explorer's open nodes, filter and selected topic.
    pub topic_expanded: RwSignal<HashSet<String>>,
    pub topic_filter: RwSignal<String>,
    pub topic_selected: RwSignal<Option<String>>,
}

impl UiStore {
    /// The page the address names, and the saved theme (applied) and
    /// acknowledging name (`default_name` when none was saved).
    pub fn new(default_name: &str) -> UiStore {
        let theme = platform::storage_get(THEME_KEY).unwrap_or_else(|| "auto".to_owned());
        platform::set_theme(&theme);
        let ack_name =
            platform::storage_get(ACK_NAME_KEY).unwrap_or_else(|| default_name.to_owned());
        UiStore {
            page: RwSignal::new(Page::from_hash(&platform::location_hash())),
            theme: RwSignal::new(theme),
            ack_name: RwSignal::new(ack_name),
            topic_expanded: RwSignal::new(HashSet::new()),
            topic_filter: RwSignal::new(String::new()),
            topic_selected: RwSignal::new(None),
        }
    }

    pub fn set_theme(&self, theme: &str) {
        self.theme.set(theme.to_owned());
        platform::set_theme(theme);
        platform::storage_set(THEME_KEY, theme);
    }

    pub fn go(&self, page: Page) {
        platform::set_location_hash(&page.hash());
        self.page.set(page);
    }

    /// The name to acknowledge alarms with: the one typed, or `fallback`
    /// when it is blank. Saved for the next visit.
    pub fn take_ack_name(&self, fallback: &str) -> String {
        let name = self.ack_name.get_untracked();
        let name = if name.trim().is_empty() {
            fallback.to_owned()
        } else {
            name.trim().to_owned()
        };
        platform::storage_set(ACK_NAME_KEY, &name);
        name
    }
}
