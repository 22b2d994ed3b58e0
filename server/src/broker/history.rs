//! History queries over MQTT: a PUBLISH to `$kite/history/query` is a
//! question, not a message to route. The answer goes to the asker alone,
//! on its MQTT 5 Response Topic with its Correlation Data, or on
//! `$kite/history/reply/<client-id>`, through the asker's own matching
//! subscription (so its QoS and subscription ids apply). Nobody else
//! receives it, whatever topic the asker names.

use std::sync::Arc;

use bytes::Bytes;
use kite_convention::history::{reply_topic, Answer, Query};
use mqtt::{Properties, QoS};

use super::Shared;
use crate::{
    history::Reader,
    protocol::message::{Message, Outbound},
    routing::router::RouteCache,
    security::auth::Rules,
};

impl Shared {
    /// Answer `request`, a PUBLISH to `$kite/history/query` from
    /// `client_id`, whose ACL rules (if there is an ACL) are `rules`.
    pub(crate) fn ask_history(self: &Arc<Self>, request: &Message, rules: Option<Rules>) {
        let client_id = request.origin.clone();
        let reply_to = request
            .properties
            .response_topic
            .as_ref()
            .map_or_else(|| reply_topic(&client_id), |t| t.to_string());
        let correlation = request.properties.correlation_data.clone();
        let qos = request.qos.max(QoS::AtLeastOnce);
        let answered = match serde_json::from_slice::<Query>(&request.payload) {
            Ok(query) => {
                let reader: Reader = Box::new(move |topic: &str| {
                    rules.as_ref().is_none_or(|rules| rules.can_read(topic))
                });
                self.history.ask(query, reader)
            }
            Err(err) => {
                tracing::debug!(client_id = %client_id, %err, "history query refused");
                let (tx, rx) = tokio::sync::oneshot::channel();
                let _ = tx.send(Answer::error(format!("not a history query: {err}")));
                rx
            }
        };
        let shared = self.clone();
        self.runtime.spawn(async move {
            let Ok(answer) = answered.await else { return };
            let properties = Properties {
                correlation_data: correlation,
                content_type: Some("application/json".into()),
                ..Properties::default()
            };
            let reply = Message {
                topic: reply_to.into(),
                payload: Bytes::from(answer.to_json()),
                qos,
                retain: false,
                properties: properties.into(),
                origin: Arc::from("$kite/history"),
                expires_at: None,
            };
            if !shared.publish_to(&client_id, reply) {
                tracing::debug!(client_id = %client_id, "history answer not delivered: the asker has no subscription to its reply topic");
            }
        });
    }

    /// Deliver `message` to `client_id` alone, through its subscriptions
    /// that match the topic. False when it has none.
    pub(crate) fn publish_to(&self, client_id: &str, message: Message) -> bool {
        let message = Arc::new(message);
        let mut cache = RouteCache::default();
        let generation = self.router.generation();
        self.router
            .refresh(&message.topic, &message.origin, &mut cache, generation);
        let Some(m) = cache.matches().iter().find(|m| &*m.client_id == client_id) else {
            return false;
        };
        let outbound = Outbound {
            message: message.clone(),
            qos: message.qos.min(m.qos),
            retain: false,
            subscription_ids: m.subscription_ids.clone(),
            seq: None,
            receipt: None,
            position: 0,
        };
        let refusals = m
            .subscriber
            .tx
            .try_send_all_within([outbound], self.config.max_queued_bytes);
        self.note_refusals(client_id, &m.subscriber.tx, refusals);
        true
    }
}
