//! The reactive layer: the dashboard's state as Leptos signals, and the
//! actions the components call. Components read the signals and call these
//! methods; they hold no logic of their own. The plain state types are in
//! [`crate::state`], the connection in [`crate::mqtt`].

use bytes::Bytes;
use leptos::prelude::*;
use mqtt::topic::validate_topic_name;
use mqtt::QoS;

use crate::mqtt::{client_id_from_random, Connection, TransportEvent};
use crate::platform;
use crate::state::clock::format_time_of_day;
use crate::state::{broker_url_from_location, ConnState, MessageLog, FALLBACK_BROKER_URL};

/// Everything the components need; `Copy`, so pass it around freely.
#[derive(Clone, Copy)]
pub struct Store {
    /// Shown in `#conn-state`.
    pub conn_state: RwSignal<ConnState>,
    /// The broker URL connected to (or being connected to).
    pub broker_url: RwSignal<String>,
    /// Recently received messages, newest first.
    pub messages: RwSignal<MessageLog>,
    /// The latest connection problem; cleared on CONNACK.
    pub last_error: RwSignal<Option<String>>,
    /// This dashboard's MQTT client id.
    pub client_id: StoredValue<String>,
    connection: StoredValue<Connection, LocalStorage>,
}

impl Store {
    /// Creates the state and an idle connection; call [`Store::connect`].
    pub fn new() -> Store {
        let conn_state = RwSignal::new(ConnState::Disconnected);
        let messages = RwSignal::new(MessageLog::default());
        let last_error = RwSignal::new(None);
        let client_id = client_id_from_random(platform::random_unit());
        let connection = Connection::new(client_id.clone(), move |event| {
            apply(event, conn_state, messages, last_error)
        });
        Store {
            conn_state,
            broker_url: RwSignal::new(default_broker_url()),
            messages,
            last_error,
            client_id: StoredValue::new(client_id),
            connection: StoredValue::new_local(connection),
        }
    }

    /// Connect to `url` now (dropping any current connection).
    pub fn connect(&self, url: &str) {
        let url = url.trim();
        self.broker_url.set(url.to_owned());
        self.last_error.set(None);
        self.connection
            .with_value(|connection| connection.connect(url));
    }

    /// Publish `payload` to `topic` at QoS 0, not retained.
    pub fn publish(&self, topic: &str, payload: &str) -> Result<(), String> {
        validate_topic_name(topic).map_err(|e| e.to_string())?;
        let payload = Bytes::copy_from_slice(payload.as_bytes());
        self.connection
            .with_value(|connection| connection.publish(topic, payload, QoS::AtMostOnce, false))
            .map_err(|e| e.to_string())
    }

    /// Empty the message list and its counter.
    pub fn clear_messages(&self) {
        self.messages.update(MessageLog::clear);
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

fn apply(
    event: TransportEvent,
    conn_state: RwSignal<ConnState>,
    messages: RwSignal<MessageLog>,
    last_error: RwSignal<Option<String>>,
) {
    match event {
        TransportEvent::State(state) => {
            if state == ConnState::Connected {
                last_error.set(None);
            }
            conn_state.set(state);
        }
        TransportEvent::Message(publish) => {
            let now = platform::now_ms();
            let time = format_time_of_day(now, platform::utc_offset_minutes());
            messages.update(|log| {
                log.push(
                    &publish.topic,
                    &publish.payload,
                    publish.retain,
                    publish.qos as u8,
                    now,
                    time,
                );
            });
        }
        TransportEvent::Error(error) => last_error.set(Some(error)),
    }
}

#[cfg(test)]
mod tests {
    use ::mqtt::{ByteString, Properties, Publish};

    use super::*;

    fn with_store(test: impl FnOnce(Store)) {
        let owner = Owner::new();
        owner.with(|| test(Store::new()));
    }

    fn message(topic: &str, payload: &'static [u8], retain: bool) -> TransportEvent {
        TransportEvent::Message(Box::new(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain,
            topic: ByteString::from(topic),
            pid: None,
            properties: Properties::default(),
            payload: Bytes::from_static(payload),
        }))
    }

    fn feed(store: Store, event: TransportEvent) {
        apply(event, store.conn_state, store.messages, store.last_error);
    }

    #[test]
    fn starts_disconnected_with_the_fallback_url_natively() {
        with_store(|store| {
            assert_eq!(store.conn_state.get_untracked(), ConnState::Disconnected);
            assert_eq!(store.broker_url.get_untracked(), FALLBACK_BROKER_URL);
            assert!(store.client_id.get_value().starts_with("kite-dash-"));
            assert!(store.messages.with_untracked(MessageLog::is_empty));
        });
    }

    #[test]
    fn events_update_the_signals() {
        with_store(|store| {
            feed(store, TransportEvent::State(ConnState::Connecting));
            assert_eq!(store.conn_state.get_untracked(), ConnState::Connecting);
            feed(store, TransportEvent::Error("cannot reach".into()));
            assert_eq!(
                store.last_error.get_untracked().as_deref(),
                Some("cannot reach")
            );
            feed(store, TransportEvent::State(ConnState::Connected));
            assert_eq!(store.conn_state.get_untracked(), ConnState::Connected);
            assert_eq!(store.last_error.get_untracked(), None, "cleared on CONNACK");

            feed(store, message("a/b", b"1", false));
            feed(store, message("c", b"\xff2", true));
            store.messages.with_untracked(|log| {
                assert_eq!(log.total(), 2);
                let latest = log.latest().unwrap();
                assert_eq!(latest.topic, "c");
                assert_eq!(latest.payload, "\u{fffd}2");
                assert!(latest.retained);
                assert_eq!(latest.time.len(), "00:00:00".len());
            });
            store.clear_messages();
            assert_eq!(store.messages.with_untracked(MessageLog::total), 0);
        });
    }

    #[test]
    fn publish_checks_the_topic_first() {
        with_store(|store| {
            assert_eq!(store.publish("", "x"), Err("empty topic".to_owned()));
            assert_eq!(
                store.publish("a/#", "x"),
                Err("wildcard in topic name".to_owned())
            );
            // Natively there is never a connection.
            assert_eq!(store.publish("a/b", "x"), Err("not connected".to_owned()));
        });
    }

    #[test]
    fn connect_records_the_url_and_reports_failure_natively() {
        with_store(|store| {
            store.connect("  ws://127.0.0.1:1/mqtt ");
            assert_eq!(store.broker_url.get_untracked(), "ws://127.0.0.1:1/mqtt");
            assert_eq!(store.conn_state.get_untracked(), ConnState::Disconnected);
            assert!(store.last_error.get_untracked().is_some());
        });
    }
}
