//! What one connection may do once it is authenticated: its ACL rules and
//! its publish token bucket, as the [`Admission`] the session asks about
//! each PUBLISH and subscription, plus the checks the connection makes
//! itself (will topic at CONNECT, read access per delivery, throttling).

use crate::acl::Refusal;
use std::{sync::Arc, time::Duration};

use bytes::BytesMut;
use mqtt::{Protocol, Publish, QoS, ReasonCode};
use tokio::time::Instant;

use crate::{
    acl::Admission,
    auth::{ClientAcl, Username},
    broker::Shared,
    limits::{Counters, TokenBucket},
    session::ProtocolError,
};

/// One connection's access rules and publish rate.
pub struct ClientPolicy {
    shared: Arc<Shared>,
    acl: ClientAcl,
    /// Boxed: only with `--max-publish-rate`, and every connection carries it.
    bucket: Option<Box<TokenBucket>>,
    protocol: Protocol,
    /// Why the connection must end after the PUBLISH just refused: a v5
    /// QoS 0 PUBLISH over the rate (0x96), or a topic deeper than
    /// `--max-topic-levels` where no acknowledgement can say so (0x90).
    pub end: Option<ProtocolError>,
}

impl ClientPolicy {
    pub fn new(
        shared: Arc<Shared>,
        client_id: Arc<str>,
        username: Username,
        protocol: Protocol,
    ) -> ClientPolicy {
        let bucket = TokenBucket::new(shared.config.max_publish_rate, Instant::now().into_std());
        ClientPolicy {
            acl: ClientAcl::new(client_id, username),
            bucket: bucket.map(Box::new),
            shared,
            protocol,
            end: None,
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// May the client leave a will on `topic`? (Checked at CONNECT.) The
    /// refusal is the CONNACK's reason code.
    pub fn can_will(&mut self, topic: &str) -> Result<(), ReasonCode> {
        if let Some(why) = crate::reserved::refused_topic(topic) {
            Counters::add(&self.shared.limits.counters.broker_topics_refused);
            tracing::info!(client_id = %self.acl.client_id(), topic, "will refused: {why}");
            return Err(ReasonCode::NotAuthorized);
        }
        if let Err(refusal) = self.depth(topic, ReasonCode::TopicNameInvalid) {
            return Err(refusal.code);
        }
        if !self.acl.can_write(&self.shared.access, topic) {
            Counters::add(&self.shared.limits.counters.acl_denied_publish);
            return Err(ReasonCode::NotAuthorized);
        }
        Ok(())
    }

    /// `Err(code)` when `topic` (a name or a filter) has more levels than
    /// `--max-topic-levels`: counted and logged.
    fn depth(&self, topic: &str, code: ReasonCode) -> Result<(), Refusal> {
        let max = usize::from(self.shared.config.max_topic_levels);
        if !crate::reserved::too_deep(topic, max) {
            return Ok(());
        }
        let levels = crate::reserved::levels(topic);
        Counters::add(&self.shared.limits.counters.topic_levels_refused);
        // The topic itself may be 64 KiB: the log shows its start.
        let start: String = topic.chars().take(40).collect();
        tracing::info!(client_id = %self.acl.client_id(), levels, max, topic_start = %start, "refused: a topic deeper than --max-topic-levels");
        Err(Refusal {
            code,
            reason: Some(format!("{levels} topic levels, more than {max}")),
        })
    }

    /// May this delivery go to the client? Counted when not.
    pub fn can_read(&mut self, topic: &str) -> bool {
        let ok = self.acl.can_read(&self.shared.access, topic);
        if !ok {
            Counters::add(&self.shared.limits.counters.acl_denied_read);
            tracing::debug!(client_id = %self.acl.client_id(), topic, "delivery withheld: ACL");
        }
        ok
    }

    /// Before MQTT 5 a client cannot be told to slow down, so it is
    /// throttled: when the next packet in `input` is a PUBLISH and the bucket
    /// is empty, the time until reading may go on.
    pub fn throttle(&mut self, input: &BytesMut) -> Option<Instant> {
        if self.protocol.is_v5() {
            return None;
        }
        let bucket = self.bucket.as_mut()?;
        if input.first().is_none_or(|b| b >> 4 != 3) {
            return None;
        }
        let now = Instant::now();
        let wait = bucket.wait(now.into_std());
        if wait.is_zero() {
            return None;
        }
        Counters::add(&self.shared.limits.counters.publishes_rate_limited);
        Some(now + wait.max(Duration::from_millis(1)))
    }
}

impl Admission for ClientPolicy {
    fn publish(&mut self, publish: &Publish) -> Result<(), Refusal> {
        if let Some(why) = crate::reserved::refused_topic(&publish.topic) {
            // Whatever the ACL says: only the broker writes these.
            Counters::add(&self.shared.limits.counters.broker_topics_refused);
            tracing::info!(client_id = %self.acl.client_id(), topic = %publish.topic, "PUBLISH refused: {why}");
            return Err(Refusal {
                code: ReasonCode::NotAuthorized,
                reason: Some(why.into()),
            });
        }
        if let Err(refusal) = self.depth(&publish.topic, ReasonCode::TopicNameInvalid) {
            // Without an acknowledgement to carry 0x90 (QoS 0, or before
            // v5, where a refusal looks like success) the connection ends.
            if publish.qos == QoS::AtMostOnce || !self.protocol.is_v5() {
                self.end = Some(ProtocolError::TopicNameTooDeep);
            }
            return Err(refusal);
        }
        if !self.acl.can_write(&self.shared.access, &publish.topic) {
            Counters::add(&self.shared.limits.counters.acl_denied_publish);
            tracing::debug!(client_id = %self.acl.client_id(), topic = %publish.topic, "PUBLISH refused: ACL");
            return Err(ReasonCode::NotAuthorized.into());
        }
        if let Err(err) = crate::alarms::Alarms::check(&publish.topic, &publish.payload) {
            // A bad alarm rule: refused with its reason, reported to everyone.
            tracing::info!(client_id = %self.acl.client_id(), topic = %publish.topic, %err, "alarm rule refused");
            self.shared
                .alarms
                .report(&self.shared, &publish.topic, &err);
            return Err(Refusal {
                code: ReasonCode::PayloadFormatInvalid,
                reason: Some(err.to_string()),
            });
        }
        let Some(bucket) = self.bucket.as_mut() else {
            return Ok(());
        };
        // Before v5 `throttle` already waited for this token.
        if bucket.try_take(Instant::now().into_std()) || !self.protocol.is_v5() {
            return Ok(());
        }
        Counters::add(&self.shared.limits.counters.publishes_rate_limited);
        if publish.qos == QoS::AtMostOnce {
            // No acknowledgement to refuse with: the connection ends (0x96).
            self.end = Some(ProtocolError::MessageRateTooHigh);
        }
        // PUBACK/PUBREC cannot carry 0x96 (Message rate too high); 0x97 is theirs.
        Err(ReasonCode::QuotaExceeded.into())
    }

    fn subscribe(&mut self, filter: &str) -> Result<(), ReasonCode> {
        self.depth(filter, ReasonCode::TopicFilterInvalid)
            .map_err(|refusal| refusal.code)?;
        if self.acl.can_subscribe(&self.shared.access, filter) {
            return Ok(());
        }
        Counters::add(&self.shared.limits.counters.acl_denied_subscribe);
        tracing::debug!(client_id = %self.acl.client_id(), filter, "subscription refused: ACL");
        Err(ReasonCode::NotAuthorized)
    }
}
