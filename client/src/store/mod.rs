//! The reactive layer: the dashboard's state as Leptos signals, and the
//! actions the components call. Components read the signals and call these
//! methods; they hold no logic of their own. The plain state types are in
//! [`crate::state`], the transport in [`crate::mqtt`].
//!
//! Five parts, each `Copy`:
//! - [`connection`]: the link to the broker (state, errors, profiles,
//!   subscriptions, the latest publish) and what goes out over it.
//! - [`data`]: the models the messages feed (messages, topics, devices,
//!   alarms, events, `$SYS`) and the clock; batched notification.
//! - [`control`]: the bridges and users pages' requests to the broker's
//!   administration API (`$CONTROL/kite/v1`) and what the responses say;
//!   it sends over the connection part.
//! - [`history`]: the questions to the broker's history and their answers,
//!   delivered into the data part; it sends over the connection part.
//! - [`ui`]: the page, the theme and per-page UI state.
//!
//! [`Store`] holds them, wires the transport's events to the first four
//! (an answer on the reply topic goes to the history part, a response on
//! `$CONTROL/kite/v1/response` to the control part, every other message to
//! the data), and has the few actions that span parts
//! (connecting empties the data; acknowledging takes the name from the
//! UI). No part imports the UI part.

pub mod connection;
pub mod control;
pub mod data;
pub mod history;
pub mod ui;

pub use connection::{ConnectionStore, PublishStatus, SessionInfo};
pub use control::ControlStore;
pub use data::{DataStore, MIN_FLUSH_MS};
pub use history::HistoryStore;
pub use ui::UiStore;

use leptos::prelude::*;

use crate::mqtt::TransportEvent;
use crate::platform;
use crate::state::profile::Profile;
use crate::state::{broker_url_from_location, FALLBACK_BROKER_URL};

/// Everything the components need; `Copy`, so pass it around freely.
#[derive(Clone, Copy)]
pub struct Store {
    pub connection: ConnectionStore,
    pub control: ControlStore,
    pub data: DataStore,
    pub history: HistoryStore,
    pub ui: UiStore,
}

impl Store {
    /// Creates the state and an idle connection; call [`Store::connect`].
    pub fn new() -> Store {
        let url = default_broker_url();
        let connection = ConnectionStore::new(&url);
        let ui = UiStore::new(&connection.client_id.get_value());
        let data = DataStore::new();
        let store = Store {
            connection,
            control: ControlStore::new(connection),
            data,
            history: HistoryStore::new(connection, data),
            ui,
        };
        // The transport reports to the store, so it comes last.
        connection.start(&url, move |event| store.apply(event));
        store
    }

    /// Connect with the current profile, starting afresh (the pages fill
    /// again from the retained messages).
    pub fn connect(&self) {
        let Some((url, options)) = self.connection.current_options() else {
            return;
        };
        self.data.clear();
        self.connection.connect(&url, options);
    }

    /// The header's quick form: connect the current profile to `url`.
    pub fn connect_to(&self, url: &str) {
        self.connection.set_current_url(url);
        self.connect();
    }

    /// Save a profile, select it and, if asked, connect with it.
    pub fn save_profile(&self, profile: Profile, connect: bool) -> Result<(), String> {
        self.connection.save_profile(profile)?;
        if connect {
            self.connect();
        }
        Ok(())
    }

    /// Acknowledge the alarm `rule` of `device` with the name typed on the
    /// alarms page (the client id when it is blank).
    pub fn acknowledge(&self, device: &str, rule: &str) -> Result<(), String> {
        let name = self
            .ui
            .take_ack_name(&self.connection.client_id.get_value());
        self.connection.acknowledge(device, rule, &name)
    }

    /// Take in a message as if the broker had sent it (for component tests
    /// and demos; the transport uses the same path).
    pub fn receive(&self, topic: &str, payload: &[u8], retained: bool) {
        self.data.receive(topic, payload, retained);
    }

    /// One event from the transport: answers go to the history part,
    /// responses of the administration API to the control part, other
    /// messages feed the data, the rest is about the link (and the history
    /// part hears of the session, its SUBACKs and the link's state).
    fn apply(&self, event: TransportEvent) {
        match &event {
            TransportEvent::Message(publish) => {
                if !self.history.receive(publish) && !self.control.receive(publish) {
                    self.data.ingest(publish);
                }
                return;
            }
            TransportEvent::Session { client_id, .. } => self.history.session(client_id),
            TransportEvent::State(state) => {
                let state = *state;
                self.history.state(state);
                self.connection.apply(event);
                // After the link's own signals, so a request may go out.
                self.control.state(state);
                return;
            }
            TransportEvent::Subscribed { filters, results } => {
                self.history.subscribed(filters, results);
                self.control.subscribed(filters, results);
            }
            TransportEvent::Published { pid, result } => self.control.published(*pid, result),
            _ => {}
        }
        self.connection.apply(event);
    }
}

impl Default for Store {
    fn default() -> Store {
        Store::new()
    }
}

/// The broker that served this page, on `/mqtt`.
pub fn default_broker_url() -> String {
    match platform::page_location() {
        Some((protocol, host)) => broker_url_from_location(&protocol, &host),
        None => FALLBACK_BROKER_URL.to_owned(),
    }
}

#[cfg(test)]
mod tests;
