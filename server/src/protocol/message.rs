//! A message as the broker routes it: decoded once, shared by every
//! subscriber through an `Arc`.

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use bytestring::ByteString;
use mqtt::{Properties, QoS};

/// An application message on its way from one publisher to its subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: ByteString,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// The MQTT 5 properties that travel with the message (user properties,
    /// content type, response topic, …), stripped of per-hop ones.
    pub properties: MessageProperties,
    /// The publisher's client id, for no-local.
    pub origin: Arc<str>,
    /// When the message expires (v5 Message Expiry Interval), if ever.
    pub expires_at: Option<Instant>,
}

/// A message's properties, boxed and only when there are any: most messages
/// have none, and inline they were 400 of a message's 504 bytes. Small, the
/// `Arc<Message>` a publisher's thread allocates and a subscriber's thread
/// frees stays within glibc's fast bins (see `main.rs`), which free without
/// taking the allocating thread's arena lock: with 500-byte messages, that
/// lock was where a QoS 0 fan-in spent its futex calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties(Option<Box<Properties>>);

impl From<Properties> for MessageProperties {
    fn from(properties: Properties) -> Self {
        MessageProperties((properties != Properties::default()).then(|| Box::new(properties)))
    }
}

impl MessageProperties {
    /// Whether the message has no properties at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl std::ops::Deref for MessageProperties {
    type Target = Properties;

    fn deref(&self) -> &Properties {
        static NONE: std::sync::OnceLock<Properties> = std::sync::OnceLock::new();
        self.0
            .as_deref()
            .unwrap_or_else(|| NONE.get_or_init(Properties::default))
    }
}

impl Message {
    /// A retained `$SYS/...` message the broker publishes about itself.
    pub fn sys(topic: String, payload: bytes::Bytes) -> Message {
        Message {
            topic: topic.into(),
            payload,
            qos: mqtt::QoS::AtMostOnce,
            retain: true,
            properties: Default::default(),
            origin: std::sync::Arc::from("$SYS"),
            expires_at: None,
        }
    }

    /// A copy whose topic and payload own their bytes instead of sharing a
    /// connection's read buffer: for messages kept for long (retained), so a
    /// few bytes do not pin a whole buffer.
    pub fn detached(&self) -> Message {
        Message {
            topic: crate::protocol::session::detached(&self.topic),
            payload: Bytes::copy_from_slice(&self.payload),
            ..self.clone()
        }
    }

    /// The message from a client's PUBLISH: only the properties that are
    /// forwarded to subscribers are kept (topic alias and subscription ids are per hop).
    pub fn from_publish(publish: mqtt::Publish, origin: Arc<str>) -> Message {
        let mut properties = publish.properties;
        properties.topic_alias = None;
        properties.subscription_identifiers.clear();
        let expires_at = expiry_deadline(&properties);
        Message {
            expires_at,
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties: properties.into(),
            origin,
        }
    }

    /// The message a client's last will becomes when it is published.
    pub fn from_will(will: mqtt::LastWill, origin: Arc<str>) -> Message {
        let mut properties = will.properties;
        properties.will_delay_interval = None;
        let expires_at = expiry_deadline(&properties);
        Message {
            topic: will.topic,
            payload: will.payload,
            qos: will.qos,
            retain: will.retain,
            properties: properties.into(),
            origin,
            expires_at,
        }
    }

    /// Seconds left before expiry, rounded up; `None` when it never expires,
    /// `Some(0)` once expired.
    pub fn remaining_secs(&self, now: Instant) -> Option<u32> {
        self.expires_at.map(|at| {
            let left = at.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            u32::try_from(secs).unwrap_or(u32::MAX)
        })
    }

    /// True once the message expiry interval has passed.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

/// What the broker hands a subscriber's queue: a message at the QoS the
/// subscription granted (the lower of publish and subscription).
#[derive(Debug, Clone)]
pub struct Outbound {
    pub message: Arc<Message>,
    pub qos: QoS,
    /// The publish's retain flag as the subscriber should see it.
    pub retain: bool,
    /// The identifiers of the subscriptions that matched (v5).
    pub subscription_ids: Vec<u32>,
    /// Its position in the store's queue of a persistent session, when it
    /// was stored (QoS 1/2 to a persistent session with a durable store).
    pub seq: Option<u64>,
    /// Who hears when this delivery is finished with (a cluster's shared
    /// subscription: see [`Receipt`]); `None` for every other delivery.
    pub receipt: Option<Arc<dyn Receipt>>,
    /// Where a cluster node's stream reader found the message (a stream
    /// position, never 0), for the sessions that take their QoS 1/2 from
    /// the stream; 0 for any other delivery.
    pub position: u64,
}

/// Told once a delivery is finished with: its client acknowledged it
/// (PUBACK; PUBREC at QoS 2, as the client has it then and PUBREL/PUBCOMP
/// only end the flow), or it will never be sent (expired, too large for the
/// client, withheld by the ACL). A cluster node takes a shared
/// subscription's QoS 1/2 message off the cluster's hands only then; a
/// receipt dropped unfinished (the client left with it in flight) lets
/// another member have the message.
pub trait Receipt: Send + Sync + std::fmt::Debug {
    fn finished(&self);
}

impl Outbound {
    /// Tell the receipt, if any, that this delivery is finished with.
    pub fn finish(&self) {
        if let Some(receipt) = &self.receipt {
            receipt.finished();
        }
    }
}

/// When a message with these properties expires (v5 Message Expiry Interval), if ever.
fn expiry_deadline(properties: &Properties) -> Option<Instant> {
    properties
        .message_expiry_interval
        .map(|secs| Instant::now() + std::time::Duration::from_secs(u64::from(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_small_and_holds_properties_only_when_it_has_some() {
        // Within glibc's fast bins (160 bytes) as an `Arc<Message>`.
        assert!(std::mem::size_of::<Message>() + 16 <= 152);
        let none = MessageProperties::from(Properties::default());
        assert!(none.0.is_none());
        assert_eq!(*none, Properties::default());
        let some = MessageProperties::from(Properties {
            content_type: Some("text/plain".into()),
            ..Properties::default()
        });
        assert_eq!(some.content_type.as_deref(), Some("text/plain"));
    }
}
