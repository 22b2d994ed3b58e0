//! The connection part of the store: the link to the broker as signals
//! (its state, URL, latest error, next retry, session), the connection
//! profiles, the subscriptions and the outcome of the latest publish; and the
//! actions that go out over the link. It knows nothing of the data models
//! or of the UI preferences.

use bytes::Bytes;
use leptos::prelude::*;
use mqtt::client::{ClientError, ClientOptions};
use mqtt::QoS;

use crate::mqtt::{client_id_from_random, Connection, TransportEvent};
use crate::platform;
use crate::state::alarms::{ack_topic, rule_topic, RuleForm};
use crate::state::profile::{Profile, Profiles, STORAGE_KEY};
use crate::state::publish::{Outgoing, Subscription, SubscriptionSet};
use crate::state::ConnState;

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

/// The link to the broker; `Copy`, like the signals it holds.
#[derive(Clone, Copy)]
pub struct ConnectionStore {
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
    pub publish_status: RwSignal<Option<PublishStatus>>,
    transport: StoredValue<Option<Connection>, LocalStorage>,
}

impl ConnectionStore {
    /// The profiles from localStorage (or one for `default_url`), a random
    /// client id, and no transport yet: see [`ConnectionStore::start`].
    pub fn new(default_url: &str) -> ConnectionStore {
        let client_id = client_id_from_random(platform::random_unit());
        let profiles = Profiles::load(platform::storage_get(STORAGE_KEY).as_deref(), default_url);
        ConnectionStore {
            conn_state: RwSignal::new(ConnState::Disconnected),
            broker_url: RwSignal::new(profiles.current().url.clone()),
            last_error: RwSignal::new(None),
            retry_at: RwSignal::new(None),
            session: RwSignal::new(None),
            client_id: StoredValue::new(client_id),
            profiles: RwSignal::new(profiles),
            subscriptions: RwSignal::new(SubscriptionSet::default()),
            publish_status: RwSignal::new(None),
            transport: StoredValue::new_local(None),
        }
    }

    /// Create the idle transport; it reports every event to `on_event`.
    pub fn start(&self, default_url: &str, on_event: impl Fn(TransportEvent) + 'static) {
        let client_id = self.client_id.get_value();
        let options = self
            .profiles
            .with_untracked(Profiles::current)
            .to_options(&client_id)
            .or_else(|_| Profile::for_url(default_url).to_options(&client_id))
            .expect("the default profile is valid");
        let filters = self.subscriptions.with_untracked(SubscriptionSet::filters);
        let transport = Connection::new(options, filters, on_event);
        self.transport.set_value(Some(transport));
    }

    /// The current profile's URL and options, or `None` (and the reason in
    /// [`ConnectionStore::last_error`]) when the profile is not valid.
    pub fn current_options(&self) -> Option<(String, ClientOptions)> {
        let profile = self.profiles.with_untracked(Profiles::current);
        match profile.to_options(&self.client_id.get_value()) {
            Ok(options) => Some((profile.url, options)),
            Err(e) => {
                self.last_error.set(Some(e));
                None
            }
        }
    }

    /// Connect to `url` afresh: errors and retries forgotten, every
    /// subscription pending again.
    pub fn connect(&self, url: &str, options: ClientOptions) {
        self.broker_url.set(url.to_owned());
        self.last_error.set(None);
        self.retry_at.set(None);
        self.subscriptions.update(SubscriptionSet::reset);
        self.with_transport(|transport| transport.connect(url, options));
    }

    pub fn disconnect(&self) {
        self.retry_at.set(None);
        self.with_transport(Connection::disconnect);
    }

    /// Point the current profile at `url` and save the profiles.
    pub fn set_current_url(&self, url: &str) {
        self.profiles.update(|p| p.set_current_url(url));
        self.save_profiles();
    }

    /// Save a profile and select it.
    pub fn save_profile(&self, profile: Profile) -> Result<(), String> {
        profile.to_options(&self.client_id.get_value())?;
        let mut profiles = self.profiles.get_untracked();
        profiles.save(profile)?;
        self.profiles.set(profiles);
        self.save_profiles();
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

    /// Publish from the page; the outcome shows in
    /// [`ConnectionStore::publish_status`].
    pub fn publish(&self, out: Outgoing) -> Result<(), String> {
        let what = format!("sent to {}", out.topic);
        let result = self
            .with_transport(|transport| transport.publish(&out))
            .unwrap_or(Err(ClientError::NotConnected))
            .map_err(|e| e.to_string());
        self.publish_status.set(Some(match &result {
            Ok(Some(pid)) => PublishStatus::Waiting(*pid, what),
            Ok(None) => PublishStatus::Sent(what),
            Err(e) => PublishStatus::Failed(e.clone()),
        }));
        result.map(|_| ())
    }

    /// Publish for the page itself (a question to the broker's history):
    /// the publish page's status is left alone.
    pub fn send(&self, out: &Outgoing) -> Result<(), String> {
        self.with_transport(|transport| transport.publish(out))
            .unwrap_or(Err(ClientError::NotConnected))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Publish for the page itself, with the packet id of a QoS 1/2
    /// publish (its PUBACK comes as [`TransportEvent::Published`]).
    pub fn send_tracked(&self, out: &Outgoing) -> Result<Option<u16>, String> {
        self.with_transport(|transport| transport.publish(out))
            .unwrap_or(Err(ClientError::NotConnected))
            .map_err(|e| e.to_string())
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

    /// Acknowledge the alarm `rule` of `device` in the name of `by`.
    pub fn acknowledge(&self, device: &str, rule: &str, by: &str) -> Result<(), String> {
        self.publish(Outgoing::simple(
            &ack_topic(device, rule),
            Bytes::copy_from_slice(by.as_bytes()),
            QoS::AtLeastOnce,
            false,
        ))
    }

    /// Subscribe (or change the QoS of a subscription).
    pub fn subscribe(&self, filter: &str, qos: u8, no_local: bool) -> Result<(), String> {
        self.add_subscription(|set| set.add(filter, qos, no_local))
    }

    /// Subscribe to a filter the pages need (listed as built in).
    pub fn subscribe_builtin(&self, filter: &str, qos: u8) -> Result<(), String> {
        self.add_subscription(|set| set.add_builtin(filter, qos))
    }

    fn add_subscription(
        &self,
        add: impl FnOnce(&mut SubscriptionSet) -> Result<Subscription, String>,
    ) -> Result<(), String> {
        let mut set = self.subscriptions.get_untracked();
        let sub = add(&mut set)?;
        self.subscriptions.set(set);
        self.with_transport(|t| t.subscribe(vec![sub.to_filter()]));
        Ok(())
    }

    pub fn unsubscribe(&self, filter: &str) {
        self.subscriptions.update(|s| {
            s.remove(filter);
        });
        self.with_transport(|t| t.unsubscribe(&[filter.to_owned()]));
    }

    fn with_transport<T>(&self, f: impl FnOnce(&Connection) -> T) -> Option<T> {
        self.transport
            .try_with_value(|c| c.as_ref().map(f))
            .flatten()
    }

    /// One event from the transport about the link (messages go to the
    /// data part; this ignores them).
    pub fn apply(&self, event: TransportEvent) {
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
            TransportEvent::Message(_) => {}
        }
    }
}
