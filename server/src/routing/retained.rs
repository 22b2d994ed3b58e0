//! Retained messages, behind a trait so a persistent or clustered store can
//! replace the in-memory one without touching the connection code.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use bytestring::ByteString;

use crate::protocol::message::Message;

/// Where retained messages live.
pub(crate) trait RetainedStore: Send + Sync + 'static {
    /// Store `message` as the retained message of its topic; an empty payload deletes it.
    fn retain(&self, message: &Arc<Message>);
    /// Every retained message whose topic matches `filter`.
    fn matching(&self, filter: &str) -> Vec<Arc<Message>>;
    /// Number of retained messages.
    fn count(&self) -> usize;
    /// Drop the retained messages whose expiry interval has passed; returns their topics.
    fn remove_expired(&self, now: std::time::Instant) -> Vec<ByteString>;
}

/// The default store: a map from topic to message.
#[derive(Debug, Default)]
pub(crate) struct MemoryRetained {
    messages: RwLock<HashMap<ByteString, Arc<Message>>>,
}

impl RetainedStore for MemoryRetained {
    fn retain(&self, message: &Arc<Message>) {
        let mut messages = self.messages.write().expect("retained lock");
        if message.payload.is_empty() {
            messages.remove(&message.topic);
        } else {
            // Kept for long: its own bytes, not a slice of a read buffer.
            let message = Arc::new(message.detached());
            messages.insert(message.topic.clone(), message);
        }
    }

    fn matching(&self, filter: &str) -> Vec<Arc<Message>> {
        let messages = self.messages.read().expect("retained lock");
        let now = std::time::Instant::now();
        let live = |m: &&Arc<Message>| !m.is_expired(now);
        if mqtt::topic::validate_topic_name(filter).is_ok() {
            // A filter without wildcards names one topic: no scan.
            return messages
                .get(filter)
                .filter(live)
                .cloned()
                .into_iter()
                .collect();
        }
        messages
            .values()
            .filter(live)
            .filter(|m| mqtt::topic::matches(filter, &m.topic))
            .cloned()
            .collect()
    }

    fn count(&self) -> usize {
        self.messages.read().expect("retained lock").len()
    }

    fn remove_expired(&self, now: std::time::Instant) -> Vec<ByteString> {
        let mut messages = self.messages.write().expect("retained lock");
        let expired: Vec<ByteString> = messages
            .values()
            .filter(|m| m.is_expired(now))
            .map(|m| m.topic.clone())
            .collect();
        for topic in &expired {
            messages.remove(topic);
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use mqtt::QoS;

    fn message(topic: &str, payload: &'static [u8]) -> Arc<Message> {
        Arc::new(Message {
            topic: topic.into(),
            payload: Bytes::from_static(payload),
            qos: QoS::AtMostOnce,
            retain: true,
            properties: Default::default(),
            origin: Arc::from("c"),
            expires_at: None,
        })
    }

    #[test]
    fn retained_message_is_replaced_and_deleted_by_an_empty_payload() {
        let store = MemoryRetained::default();
        store.retain(&message("a/b", b"1"));
        store.retain(&message("a/b", b"2"));
        assert_eq!(store.matching("a/b")[0].payload, "2");
        assert_eq!(store.matching("a/+").len(), 1);
        store.retain(&message("a/b", b""));
        assert_eq!(store.count(), 0);
    }

    #[test]
    fn expired_retained_messages_are_swept() {
        let store = MemoryRetained::default();
        let mut old = (*message("old", b"1")).clone();
        old.expires_at = Some(std::time::Instant::now());
        store.retain(&Arc::new(old));
        store.retain(&message("new", b"2"));
        let swept = store.remove_expired(std::time::Instant::now());
        assert_eq!(swept, ["old"]);
        assert_eq!(store.count(), 1);
    }
}
