//! The administration API's seam: a PUBLISH to `$CONTROL/kite/v1` is a
//! list of commands, not a message to route. The connection hands it to
//! [`Shared::ask_admin`] with what its policy says of the caller; the
//! [`Admin`] set at start-up (the `control` module, a layer above) carries
//! the commands out and answers through [`Shared::reply`], to the asker
//! alone. `net` never imports `control`, and `broker` knows only this trait.

use std::sync::Arc;

use bytes::Bytes;
use kite_convention::control::RESPONSE_TOPIC;
use mqtt::{Properties, QoS};

use super::Shared;
use crate::protocol::message::Message;

/// Who sent a request: the user name, or why the caller may not use the
/// API (anonymous, or no ACL rule grants it).
pub(crate) type Caller = Result<Arc<str>, &'static str>;

/// Carries out the requests to `$CONTROL/kite/v1`.
pub(crate) trait Admin: Send + Sync {
    /// Handle `request` from `caller`, off the connection's task, and
    /// answer with [`Shared::reply`].
    fn request(&self, shared: &Arc<Shared>, request: &Message, caller: Caller);
}

impl Shared {
    /// A PUBLISH to `$CONTROL/kite/v1` from `caller`.
    pub(crate) fn ask_admin(self: &Arc<Self>, request: &Message, caller: Caller) {
        match self.admin.get() {
            Some(admin) => admin.request(self, request, caller),
            None => {
                let body =
                    br#"{"responses":[{"command":"","error":"the $CONTROL API is not running"}]}"#;
                self.reply(request, RESPONSE_TOPIC, body.to_vec());
            }
        }
    }

    /// Answer `request` with `body` (JSON) on its MQTT 5 Response Topic
    /// with its Correlation Data, or on `fallback`; delivered to the asker
    /// alone, through its own subscription to that topic.
    pub(crate) fn reply(&self, request: &Message, fallback: &str, body: Vec<u8>) {
        let client_id = request.origin.clone();
        let topic = request
            .properties
            .response_topic
            .as_ref()
            .map_or_else(|| fallback.to_string(), |t| t.to_string());
        let properties = Properties {
            correlation_data: request.properties.correlation_data.clone(),
            content_type: Some("application/json".into()),
            ..Properties::default()
        };
        let reply = Message {
            topic: topic.into(),
            payload: Bytes::from(body),
            qos: request.qos.max(QoS::AtLeastOnce),
            retain: false,
            properties: properties.into(),
            origin: Arc::from("$CONTROL/kite"),
            expires_at: None,
        };
        if !self.publish_to(&client_id, reply) {
            tracing::debug!(client_id = %client_id, "$CONTROL response not delivered: the asker has no subscription to its response topic");
        }
    }
}
