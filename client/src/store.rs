//! The reactive layer: the dashboard's state as Leptos signals, and the
//! actions the components call. Components read the signals and call these
//! methods; they hold no logic of their own. The plain state types are in
//! [`crate::state`], the connection in [`crate::mqtt`].
//!
//! Messages are taken into the models as they arrive, without notifying
//! anyone; the signals that changed are notified once per animation frame,
//! and at most every [`MIN_FLUSH_MS`], so a flood of messages costs one
//! render per frame at most, not one per message.

use std::collections::HashSet;

use bytes::Bytes;
use leptos::prelude::*;
use mqtt::{Publish, QoS};

use crate::mqtt::{client_id_from_random, Connection, TransportEvent};
use crate::platform;
use crate::state::alarms::{ack_topic, rule_topic, AlarmBook, RuleForm};
use crate::state::clock::format_time_of_day;
use crate::state::devices::DeviceBook;
use crate::state::events::EventLog;
use crate::state::profile::{Profile, Profiles, STORAGE_KEY};
use crate::state::publish::{describe_properties, Outgoing, SubscriptionSet};
use crate::state::route::Page;
use crate::state::sys::SysStats;
use crate::state::topics::{TopicMessage, TopicTree, PAYLOAD_KEPT};
use crate::state::{broker_url_from_location, ConnState, MessageLog, FALLBACK_BROKER_URL};

/// Data changes reach the page at most this often (ms).
pub const MIN_FLUSH_MS: u64 = 100;
const THEME_KEY: &str = "kite.theme";
const ACK_NAME_KEY: &str = "kite.ackName";

/// The connected session, for the connection page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub client_id: String,
    pub session_present: bool,
}

/// What became of the latest publish from the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishStatus {
    /// QoS 0: sent, nothing more to know.
    Sent(String),
    /// QoS 1/2: waiting for the broker, with the packet id.
    Waiting(u16, String),
    Acknowledged(String),
    Failed(String),
}

/// Which models changed since the last flush.
#[derive(Clone, Copy, Debug, Default)]
struct Dirty {
    messages: bool,
    topics: bool,
    devices: bool,
    alarms: bool,
    events: bool,
    sys: bool,
}

#[derive(Default)]
struct Batch {
    dirty: Dirty,
    scheduled: bool,
    last_flush_ms: u64,
    /// Messages taken in since the page opened.
    received: u64,
}

/// Everything the components need; `Copy`, so pass it around freely.
#[derive(Clone, Copy)]
pub struct Store {
    /// Shown in `#conn-state`.
    pub conn_state: RwSignal<ConnState>,
    /// The broker URL connected to (or being connected to).
    pub broker_url: RwSignal<String>,
    /// The latest connection problem; cleared on CONNACK.
    pub last_error: RwSignal<Option<String>>,
    /// When the next reconnect attempt is due (ms since the epoch).
    pub retry_at: RwSignal<Option<u64>>,
    pub session: RwSignal<Option<SessionInfo>>,
    /// The random client id used when the profile names none.
    pub client_id: StoredValue<String>,
    pub profiles: RwSignal<Profiles>,
    pub subscriptions: RwSignal<SubscriptionSet>,
    pub messages: RwSignal<MessageLog>,
    pub topics: RwSignal<TopicTree>,
    pub devices: RwSignal<DeviceBook>,
    pub alarms: RwSignal<AlarmBook>,
    pub events: RwSignal<EventLog>,
    pub sys: RwSignal<SysStats>,
    pub publish_status: RwSignal<Option<PublishStatus>>,
    /// The wall clock, updated every second (for "seen 5 s ago", rates).
    pub now: RwSignal<u64>,
    pub page: RwSignal<Page>,
    /// `auto`, `light` or `dark`.
    pub theme: RwSignal<String>,
    /// Who acknowledges alarms from this page.
    pub ack_name: RwSignal<String>,
    /// The topic explorer's open nodes, filter and selected topic.
    pub topic_expanded: RwSignal<HashSet<String>>,
    pub topic_filter: RwSignal<String>,
    pub topic_selected: RwSignal<Option<String>>,
    connection: StoredValue<Option<Connection>, LocalStorage>,
    batch: StoredValue<Batch, LocalStorage>,
}

impl Store {
    /// Creates the state and an idle connection; call [`Store::connect`].
    pub fn new() -> Store {
        let client_id = client_id_from_random(platform::random_unit());
        let url = default_broker_url();
        let profiles = Profiles::load(platform::storage_get(STORAGE_KEY).as_deref(), &url);
        let subscriptions = SubscriptionSet::default();
        let current = profiles.current();
        let options = current
            .to_options(&client_id)
            .or_else(|_| Profile::for_url(&url).to_options(&client_id))
            .expect("the default profile is valid");
        let theme = platform::storage_get(THEME_KEY).unwrap_or_else(|| "auto".to_owned());
        platform::set_theme(&theme);
        let ack_name = platform::storage_get(ACK_NAME_KEY).unwrap_or_else(|| client_id.clone());
        let store = Store {
            conn_state: RwSignal::new(ConnState::Disconnected),
            broker_url: RwSignal::new(current.url.clone()),
            last_error: RwSignal::new(None),
            retry_at: RwSignal::new(None),
            session: RwSignal::new(None),
            client_id: StoredValue::new(client_id),
            profiles: RwSignal::new(profiles),
            subscriptions: RwSignal::new(subscriptions.clone()),
            messages: RwSignal::new(MessageLog::new(500)),
            topics: RwSignal::new(TopicTree::default()),
            devices: RwSignal::new(DeviceBook::default()),
            alarms: RwSignal::new(AlarmBook::default()),
            events: RwSignal::new(EventLog::default()),
            sys: RwSignal::new(SysStats::default()),
            publish_status: RwSignal::new(None),
            now: RwSignal::new(platform::now_ms()),
            page: RwSignal::new(Page::from_hash(&platform::location_hash())),
            theme: RwSignal::new(theme),
            ack_name: RwSignal::new(ack_name),
            topic_expanded: RwSignal::new(HashSet::new()),
            topic_filter: RwSignal::new(String::new()),
            topic_selected: RwSignal::new(None),
            connection: StoredValue::new_local(None),
            batch: StoredValue::new_local(Batch::default()),
        };
        // The connection reports to the store, so it comes second.
        let connection = Connection::new(options, subscriptions.filters(), move |event| {
            store.apply(event)
        });
        store.connection.set_value(Some(connection));
        let now = store.now;
        platform::every(1_000, move || now.set(platform::now_ms()));
        store
    }

    /// Connect with the current profile, starting afresh (the pages fill
    /// again from the retained messages).
    pub fn connect(&self) {
        let profile = self.profiles.with_untracked(Profiles::current);
        let options = match profile.to_options(&self.client_id.get_value()) {
            Ok(options) => options,
            Err(e) => {
                self.last_error.set(Some(e));
                return;
            }
        };
        self.broker_url.set(profile.url.clone());
        self.last_error.set(None);
        self.retry_at.set(None);
        self.clear_data();
        self.subscriptions.update(SubscriptionSet::reset);
        self.with_connection(|connection| connection.connect(&profile.url, options));
    }

    /// The header's quick form: connect the current profile to `url`.
    pub fn connect_to(&self, url: &str) {
        self.profiles.update(|p| p.set_current_url(url));
        self.save_profiles();
        self.connect();
    }

    pub fn disconnect(&self) {
        self.retry_at.set(None);
        self.with_connection(Connection::disconnect);
    }

    /// Save a profile, select it and connect with it.
    pub fn save_profile(&self, profile: Profile, connect: bool) -> Result<(), String> {
        profile.to_options(&self.client_id.get_value())?;
        let mut profiles = self.profiles.get_untracked();
        profiles.save(profile)?;
        self.profiles.set(profiles);
        self.save_profiles();
        if connect {
            self.connect();
        }
        Ok(())
    }

    pub fn select_profile(&self, name: &str) {
        self.profiles.update(|p| {
            if p.get(name).is_some() {
                p.selected = name.to_owned();
            }
        });
        self.save_profiles();
    }

    pub fn delete_profile(&self, name: &str) -> Result<(), String> {
        let mut profiles = self.profiles.get_untracked();
        profiles.delete(name)?;
        self.profiles.set(profiles);
        self.save_profiles();
        Ok(())
    }

    fn save_profiles(&self) {
        let json = self.profiles.with_untracked(Profiles::to_json);
        platform::storage_set(STORAGE_KEY, &json);
    }

    /// Publish from the page; the outcome shows in [`Store::publish_status`].
    pub fn publish(&self, out: Outgoing) -> Result<(), String> {
        let what = format!("sent to {}", out.topic);
        let result = self
            .with_connection(|connection| connection.publish(&out))
            .unwrap_or(Err(mqtt::client::ClientError::NotConnected))
            .map_err(|e| e.to_string());
        self.publish_status.set(Some(match &result {
            Ok(Some(pid)) => PublishStatus::Waiting(*pid, what),
            Ok(None) => PublishStatus::Sent(what),
            Err(e) => PublishStatus::Failed(e.clone()),
        }));
        result.map(|_| ())
    }

    /// A QoS 1 retained publish, for the alarm and retained-message actions.
    fn publish_retained(&self, topic: &str, payload: &[u8]) -> Result<(), String> {
        self.publish(Outgoing::simple(
            topic,
            Bytes::copy_from_slice(payload),
            QoS::AtLeastOnce,
            true,
        ))
    }

    /// Remove the retained message of `topic` (an empty retained publish).
    pub fn delete_retained(&self, topic: &str) -> Result<(), String> {
        self.publish_retained(topic, b"")
    }

    /// Create or replace a rule; returns its id.
    pub fn save_rule(&self, form: &RuleForm) -> Result<String, Vec<String>> {
        let (id, json) = form.build()?;
        self.publish_retained(&rule_topic(&id), json.as_bytes())
            .map_err(|e| vec![e])?;
        Ok(id)
    }

    pub fn delete_rule(&self, id: &str) -> Result<(), String> {
        self.publish_retained(&rule_topic(id), b"")
    }

    pub fn acknowledge(&self, device: &str, rule: &str) -> Result<(), String> {
        let name = self.ack_name.get_untracked();
        let name = if name.trim().is_empty() {
            self.client_id.get_value()
        } else {
            name.trim().to_owned()
        };
        platform::storage_set(ACK_NAME_KEY, &name);
        self.publish(Outgoing::simple(
            &ack_topic(device, rule),
            Bytes::from(name.into_bytes()),
            QoS::AtLeastOnce,
            false,
        ))
    }

    /// Subscribe (or change the QoS of a subscription).
    pub fn subscribe(&self, filter: &str, qos: u8, no_local: bool) -> Result<(), String> {
        let mut set = self.subscriptions.get_untracked();
        let sub = set.add(filter, qos, no_local)?;
        self.subscriptions.set(set);
        self.with_connection(|c| c.subscribe(vec![sub.to_filter()]));
        Ok(())
    }

    pub fn unsubscribe(&self, filter: &str) {
        self.subscriptions.update(|s| {
            s.remove(filter);
        });
        self.with_connection(|c| c.unsubscribe(&[filter.to_owned()]));
    }

    fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> T) -> Option<T> {
        self.connection
            .try_with_value(|c| c.as_ref().map(f))
            .flatten()
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

    /// Empty the message list and its counter.
    pub fn clear_messages(&self) {
        self.messages.update(MessageLog::clear);
    }

    fn clear_data(&self) {
        self.messages.update(MessageLog::clear);
        self.topics.update(TopicTree::clear);
        self.devices.update(DeviceBook::clear);
        self.alarms.update(AlarmBook::clear);
        self.events.update(EventLog::clear);
        self.sys.update(SysStats::clear);
    }

    /// Take in a message as if the broker had sent it (for component tests
    /// and demos; the transport uses the same path).
    pub fn receive(&self, topic: &str, payload: &[u8], retained: bool) {
        let publish = Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: retained,
            topic: mqtt::ByteString::from(topic),
            pid: None,
            properties: mqtt::Properties::default(),
            payload: Bytes::copy_from_slice(payload),
        };
        self.ingest(&publish);
    }

    /// One event from the transport.
    fn apply(&self, event: TransportEvent) {
        match event {
            TransportEvent::State(state) => {
                if state == ConnState::Connected {
                    self.last_error.set(None);
                    self.retry_at.set(None);
                } else {
                    self.session.set(None);
                }
                if state == ConnState::Disconnected {
                    self.subscriptions.update(SubscriptionSet::reset);
                }
                self.conn_state.set(state);
            }
            TransportEvent::Session {
                session_present,
                client_id,
            } => self.session.set(Some(SessionInfo {
                client_id,
                session_present,
            })),
            TransportEvent::Message(publish) => self.ingest(&publish),
            TransportEvent::Subscribed { filters, results } => self
                .subscriptions
                .update(|s| s.acknowledged(&filters, &results)),
            TransportEvent::Published { pid, result } => {
                self.publish_status.update(|status| {
                    if let Some(PublishStatus::Waiting(waiting, what)) = status {
                        if *waiting == pid {
                            *status = Some(match result {
                                Ok(()) => PublishStatus::Acknowledged(what.clone()),
                                Err(e) => PublishStatus::Failed(format!("refused: {e}")),
                            });
                        }
                    }
                });
            }
            TransportEvent::Retrying { delay_ms } => self
                .retry_at
                .set(Some(platform::now_ms() + u64::from(delay_ms))),
            TransportEvent::Error(error) => self.last_error.set(Some(error)),
        }
    }

    /// Take a message into every model, quietly; [`Store::flush`] tells
    /// the page.
    fn ingest(&self, publish: &Publish) {
        let now = platform::now_ms();
        let topic = &*publish.topic;
        let payload = &publish.payload[..];
        let retained = publish.retain;
        let mut dirty = Dirty {
            messages: true,
            topics: true,
            ..Dirty::default()
        };
        let time = format_time_of_day(now, platform::utc_offset_minutes());
        self.messages.update_untracked(|log| {
            log.push(topic, payload, retained, publish.qos as u8, now, time);
        });
        let message = TopicMessage {
            received_ms: now,
            payload: payload[..payload.len().min(PAYLOAD_KEPT)].to_vec(),
            len: payload.len(),
            retained,
            qos: publish.qos as u8,
            properties: describe_properties(&publish.properties),
        };
        self.topics
            .update_untracked(|tree| tree.record(topic, message));
        if topic.starts_with(kite_convention::sys::ROOT) {
            dirty.sys = self
                .sys
                .try_update_untracked(|s| s.apply(topic, payload, now))
                == Some(true);
        } else if topic.starts_with(kite_convention::alarms::ROOT) {
            dirty.alarms = self
                .alarms
                .try_update_untracked(|a| a.apply(topic, payload))
                == Some(true);
        } else {
            dirty.devices = self
                .devices
                .try_update_untracked(|d| d.apply(topic, payload, retained, now))
                == Some(true);
            dirty.events = self
                .events
                .try_update_untracked(|e| e.apply(topic, payload, retained, now))
                == Some(true);
        }
        let schedule = self
            .batch
            .try_update_value(|batch| {
                batch.received += 1;
                let d = &mut batch.dirty;
                d.messages |= dirty.messages;
                d.topics |= dirty.topics;
                d.devices |= dirty.devices;
                d.alarms |= dirty.alarms;
                d.events |= dirty.events;
                d.sys |= dirty.sys;
                !std::mem::replace(&mut batch.scheduled, true)
            })
            .unwrap_or(false);
        if schedule {
            let store = *self;
            platform::next_frame(move || store.flush());
        }
    }

    /// Notify the signals whose models changed, unless the last flush was
    /// under [`MIN_FLUSH_MS`] ago (then try again next frame).
    fn flush(&self) {
        let now = platform::now_ms();
        let taken = self.batch.try_update_value(|batch| {
            if cfg!(target_arch = "wasm32")
                && now.saturating_sub(batch.last_flush_ms) < MIN_FLUSH_MS
            {
                return None;
            }
            batch.scheduled = false;
            batch.last_flush_ms = now;
            platform::publish_metric("kiteReceived", batch.received as f64);
            Some(std::mem::take(&mut batch.dirty))
        });
        let dirty = match taken {
            Some(Some(dirty)) => dirty,
            Some(None) => {
                let store = *self;
                platform::next_frame(move || store.flush());
                return;
            }
            None => return,
        };
        if dirty.messages {
            self.messages.notify();
        }
        if dirty.topics {
            self.topics.notify();
        }
        if dirty.devices {
            self.devices.notify();
        }
        if dirty.alarms {
            self.alarms.notify();
        }
        if dirty.events {
            self.events.notify();
        }
        if dirty.sys {
            self.sys.notify();
        }
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
#[path = "store_tests.rs"]
mod tests;
