//! A message as the broker routes it: decoded once, shared by every
//! subscriber through an `Arc`.

use std::sync::Arc;

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
    pub properties: Properties,
    /// The publisher's client id, for no-local.
    pub origin: Arc<str>,
}

impl Message {
    /// The message from a client's PUBLISH: only the properties that are
    /// forwarded to subscribers are kept (topic alias and subscription ids are per hop).
    pub fn from_publish(publish: mqtt::Publish, origin: Arc<str>) -> Message {
        let mut properties = publish.properties;
        properties.topic_alias = None;
        properties.subscription_identifiers.clear();
        Message {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties,
            origin,
        }
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
}
