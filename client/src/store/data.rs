//! The data part of the store: the models the broker's messages feed (the
//! message list, the topic tree, devices, alarms, events, `$SYS`) and the
//! events page's pages of the broker's history, as signals, and the wall
//! clock they are read against. (The history's answers about devices go
//! into the device book, next to what is heard live.)
//!
//! Messages are taken into the models as they arrive, without notifying
//! anyone; the signals that changed are notified once per animation frame,
//! and at most every [`MIN_FLUSH_MS`], so a flood of messages costs one
//! render per frame at most, not one per message.

use bytes::Bytes;
use kite_convention::{alarms, sys};
use leptos::prelude::*;
use mqtt::{Publish, QoS};

use crate::platform;
use crate::state::alarms::AlarmBook;
use crate::state::clock::format_time_of_day;
use crate::state::devices::DeviceBook;
use crate::state::events::{EventLog, EventPages};
use crate::state::publish::describe_properties;
use crate::state::sys::SysStats;
use crate::state::topics::{TopicMessage, TopicTree, PAYLOAD_KEPT};
use crate::state::MessageLog;

/// Data changes reach the page at most this often (ms).
pub const MIN_FLUSH_MS: u64 = 100;

/// Which models changed since the last flush.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Dirty {
    pub(super) messages: bool,
    pub(super) topics: bool,
    pub(super) devices: bool,
    pub(super) alarms: bool,
    pub(super) events: bool,
    pub(super) sys: bool,
}

#[derive(Default)]
pub(super) struct Batch {
    pub(super) dirty: Dirty,
    pub(super) scheduled: bool,
    last_flush_ms: u64,
    /// Messages taken in since the page opened.
    pub(super) received: u64,
}

/// What the broker told this page; `Copy`, like the signals it holds.
#[derive(Clone, Copy)]
pub struct DataStore {
    pub messages: RwSignal<MessageLog>,
    pub topics: RwSignal<TopicTree>,
    pub devices: RwSignal<DeviceBook>,
    pub alarms: RwSignal<AlarmBook>,
    pub events: RwSignal<EventLog>,
    /// The broker's history of events, for the events page's filter.
    pub event_pages: RwSignal<EventPages>,
    pub sys: RwSignal<SysStats>,
    /// The wall clock, updated every second (for "seen 5 s ago", rates).
    pub now: RwSignal<u64>,
    pub(super) batch: StoredValue<Batch, LocalStorage>,
}

impl DataStore {
    /// Empty models, and the clock ticking.
    pub fn new() -> DataStore {
        let data = DataStore {
            messages: RwSignal::new(MessageLog::new(500)),
            topics: RwSignal::new(TopicTree::default()),
            devices: RwSignal::new(DeviceBook::default()),
            alarms: RwSignal::new(AlarmBook::default()),
            events: RwSignal::new(EventLog::default()),
            event_pages: RwSignal::new(EventPages::default()),
            sys: RwSignal::new(SysStats::default()),
            now: RwSignal::new(platform::now_ms()),
            batch: StoredValue::new_local(Batch::default()),
        };
        let now = data.now;
        platform::every(1_000, move || now.set(platform::now_ms()));
        data
    }

    /// Empty the message list and its counter.
    pub fn clear_messages(&self) {
        self.messages.update(MessageLog::clear);
    }

    /// Forget everything (a new connection fills the models again from the
    /// retained messages).
    pub fn clear(&self) {
        self.messages.update(MessageLog::clear);
        self.topics.update(TopicTree::clear);
        self.devices.update(DeviceBook::clear);
        self.alarms.update(AlarmBook::clear);
        self.events.update(EventLog::clear);
        self.event_pages
            .update(|pages| pages.set_filter(pages.filter.clone()));
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

    /// Take a message into every model, quietly; [`DataStore::flush`] tells
    /// the page.
    pub fn ingest(&self, publish: &Publish) {
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
        if topic.starts_with(sys::ROOT) {
            dirty.sys = self
                .sys
                .try_update_untracked(|s| s.apply(topic, payload, now))
                == Some(true);
        } else if topic.starts_with(alarms::ROOT) {
            dirty.alarms = self
                .alarms
                .try_update_untracked(|a| a.apply(topic, payload))
                == Some(true);
            dirty.events = topic == alarms::EVENTS_TOPIC
                && self
                    .events
                    .try_update_untracked(|e| e.apply(topic, payload, retained, now))
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
            let data = *self;
            platform::next_frame(move || data.flush());
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
                let data = *self;
                platform::next_frame(move || data.flush());
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

impl Default for DataStore {
    fn default() -> DataStore {
        DataStore::new()
    }
}
