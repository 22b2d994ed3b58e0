//! What one connection may do once it is authenticated: its ACL rules, its
//! publish token bucket and the topic rules, as the [`Admission`] the
//! session asks about each PUBLISH and subscription ([`ClientPolicy::admit`]),
//! plus the checks the connection makes itself (will topic at CONNECT, read
//! access per delivery, throttling). It holds no broker state: each check
//! is given the ACL in force and the counters.

use std::{sync::Arc, time::Duration};

use bytes::BytesMut;
use mqtt::{Protocol, Publish, QoS, ReasonCode};
use tokio::time::Instant;

use super::{
    auth::{Access, ClientAcl, Rules, Username},
    rate::TokenBucket,
    reserved,
};
use crate::{
    config::Config,
    metrics::Counters,
    protocol::{
        admission::{Admission, Refusal},
        session::ProtocolError,
    },
};

/// What a check needs besides the connection's own state: the password
/// file and ACL in force, and the counters.
#[derive(Clone, Copy)]
pub(crate) struct Checks<'a> {
    /// The client checked (its session keeps the id, not the policy).
    pub client_id: &'a str,
    pub access: &'a Access,
    pub counters: &'a Counters,
    /// Why a QoS 1/2 message cannot be kept now (a cluster node that lost
    /// NATS): such a PUBLISH is refused, never acknowledged.
    pub unkept: Option<&'static str>,
}

/// The check of an alarm rule a client publishes (`Err`: why it is refused).
pub(crate) type RuleCheck<'a> = &'a dyn Fn(&str, &[u8]) -> Result<(), String>;

/// One connection's access rules and publish rate.
pub(crate) struct ClientPolicy {
    acl: ClientAcl,
    /// `--max-topic-levels`, as the config keeps it (a `usize` here made
    /// every connection 8 bytes larger).
    max_topic_levels: u16,
    /// Boxed: only with `--max-publish-rate`, and every connection carries it.
    bucket: Option<Box<TokenBucket>>,
    protocol: Protocol,
    /// A Mosquitto-style bridge: it may write its own state topic
    /// ([`reserved::is_bridge_state`]).
    bridge: bool,
    /// Why the connection must end after the PUBLISH just refused: a v5
    /// QoS 0 PUBLISH over the rate (0x96), or a topic deeper than
    /// `--max-topic-levels` where no acknowledgement can say so (0x90).
    /// Boxed: rare, and every connection carries the slot (8 bytes, not 32).
    pub end: Option<Box<ProtocolError>>,
}

impl ClientPolicy {
    pub(crate) fn new(
        config: &Config,
        username: Username,
        protocol: Protocol,
        bridge: bool,
    ) -> ClientPolicy {
        let bucket = TokenBucket::new(config.max_publish_rate, Instant::now().into_std());
        ClientPolicy {
            acl: ClientAcl::new(username),
            max_topic_levels: config.max_topic_levels,
            bucket: bucket.map(Box::new),
            protocol,
            bridge,
            end: None,
        }
    }

    /// This policy as the session's [`Admission`] for one packet.
    pub(crate) fn admit<'a>(&'a mut self, checks: Checks<'a>, rule: RuleCheck<'a>) -> Admit<'a> {
        Admit {
            policy: self,
            checks,
            rule,
        }
    }

    /// May the client leave a will on `topic`? (Checked at CONNECT.) The
    /// refusal is the CONNACK's reason code.
    pub(crate) fn can_will(&mut self, checks: Checks, topic: &str) -> Result<(), ReasonCode> {
        if let Some(why) = self.broker_owned(checks, topic) {
            Counters::add(&checks.counters.broker_topics_refused);
            tracing::info!(client_id = %checks.client_id, topic, "will refused: {why}");
            return Err(ReasonCode::NotAuthorized);
        }
        if let Err(refusal) = self.depth(checks, topic, ReasonCode::TopicNameInvalid) {
            return Err(refusal.code);
        }
        if !self.acl.can_write(checks.access, checks.client_id, topic) {
            Counters::add(&checks.counters.acl_denied_publish);
            return Err(ReasonCode::NotAuthorized);
        }
        Ok(())
    }

    /// Why only the broker may write `topic`, or `None` when a client may (a
    /// bridge its own state topic too), as far as these rules go.
    fn broker_owned(&self, checks: Checks, topic: &str) -> Option<&'static str> {
        let own = self.bridge && reserved::is_bridge_state(topic, checks.client_id);
        reserved::refused_topic(topic).filter(|_| !own)
    }

    /// `Err(code)` when `topic` (a name or a filter) has more levels than
    /// `--max-topic-levels`: counted and logged.
    fn depth(&self, checks: Checks, topic: &str, code: ReasonCode) -> Result<(), Refusal> {
        let max = usize::from(self.max_topic_levels);
        if !reserved::too_deep(topic, max) {
            return Ok(());
        }
        let levels = reserved::levels(topic);
        Counters::add(&checks.counters.topic_levels_refused);
        // The topic itself may be 64 KiB: the log shows its start.
        let start: String = topic.chars().take(40).collect();
        tracing::info!(client_id = %checks.client_id, levels, max, topic_start = %start, "refused: a topic deeper than --max-topic-levels");
        Err(Refusal {
            code,
            reason: Some(format!("{levels} topic levels, more than {max}")),
        })
    }

    /// A client inside the broker (a bridge's local side): no ACL.
    pub(crate) fn trust(&mut self) {
        self.acl.trust();
    }

    /// The client's ACL rules as they stand, for a check made elsewhere (a
    /// history query); `None` without an ACL file (and not a live user).
    pub(crate) fn acl_rules(&mut self, checks: Checks) -> Option<Rules> {
        self.acl.rules(checks.access, checks.client_id).cloned()
    }

    /// May this client use the administration API by publishing to
    /// `topic`? It must have a user name and a rule that names the topic:
    /// an ACL file rule, or an entry of a live role (not the default
    /// access). Without an ACL file nobody may, whatever else is allowed.
    /// `Ok`: the user name; `Err`: why not.
    pub(crate) fn control_grant(
        &mut self,
        checks: Checks,
        topic: &str,
    ) -> Result<Arc<str>, &'static str> {
        let Some(user) = self.acl.username().cloned() else {
            return Err("not authorized: anonymous clients may not use the $CONTROL API");
        };
        match self.acl.rules(checks.access, checks.client_id) {
            Some(rules) if rules.grants_write(topic) => Ok(user),
            Some(_) => Err("not authorized: no ACL rule grants this user the $CONTROL API"),
            None => Err("not authorized: without an ACL file or a live role nobody may use the $CONTROL API"),
        }
    }

    /// May this delivery go to the client? Counted when not.
    pub(crate) fn can_read(&mut self, checks: Checks, topic: &str) -> bool {
        let ok = self.acl.can_read(checks.access, checks.client_id, topic);
        if !ok {
            Counters::add(&checks.counters.acl_denied_read);
            tracing::debug!(client_id = %checks.client_id, topic, "delivery withheld: ACL");
        }
        ok
    }

    /// Before MQTT 5 a client cannot be told to slow down, so it is
    /// throttled: when the next packet in `input` is a PUBLISH and the bucket
    /// is empty, the time until reading may go on.
    pub(crate) fn throttle(&mut self, counters: &Counters, input: &BytesMut) -> Option<Instant> {
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
        Counters::add(&counters.publishes_rate_limited);
        Some(now + wait.max(Duration::from_millis(1)))
    }
}

/// QoS 1/2 publishes refused because they could not be kept, since the start.
static UNKEPT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Log a QoS 1/2 PUBLISH refused because it could not be kept, at the 1st,
/// 2nd, 4th, 8th, … refusal.
fn refused_unkept(client_id: &str, topic: &str, why: &str) {
    let refused = UNKEPT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    if refused.is_power_of_two() {
        tracing::warn!(client_id, topic, refused, "QoS 1/2 PUBLISH refused: {why}");
    }
}

/// A [`ClientPolicy`] answering the session for one packet.
pub(crate) struct Admit<'a> {
    policy: &'a mut ClientPolicy,
    checks: Checks<'a>,
    rule: RuleCheck<'a>,
}

impl Admission for Admit<'_> {
    fn publish(&mut self, publish: &Publish) -> Result<(), Refusal> {
        let Admit {
            policy,
            checks,
            rule,
        } = self;
        let checks = *checks;
        if let Some(why) = policy.broker_owned(checks, &publish.topic) {
            // Whatever the ACL says: only the broker writes these.
            Counters::add(&checks.counters.broker_topics_refused);
            tracing::info!(client_id = %checks.client_id, topic = %publish.topic, "PUBLISH refused: {why}");
            return Err(Refusal {
                code: ReasonCode::NotAuthorized,
                reason: Some(why.into()),
            });
        }
        if let Err(refusal) = policy.depth(checks, &publish.topic, ReasonCode::TopicNameInvalid) {
            // Without an acknowledgement to carry 0x90 (QoS 0, or before
            // v5, where a refusal looks like success) the connection ends.
            if publish.qos == QoS::AtMostOnce || !policy.protocol.is_v5() {
                policy.end = Some(Box::new(ProtocolError::TopicNameTooDeep));
            }
            return Err(refusal);
        }
        if !policy
            .acl
            .can_write(checks.access, checks.client_id, &publish.topic)
        {
            Counters::add(&checks.counters.acl_denied_publish);
            tracing::debug!(client_id = %checks.client_id, topic = %publish.topic, "PUBLISH refused: ACL");
            return Err(ReasonCode::NotAuthorized.into());
        }
        if let (Some(why), true) = (checks.unkept, publish.qos != QoS::AtMostOnce) {
            refused_unkept(checks.client_id, &publish.topic, why);
            // Before v5 an acknowledgement cannot say no: the connection
            // ends instead, and the client sends it again later.
            if !policy.protocol.is_v5() {
                policy.end = Some(Box::new(ProtocolError::ClusterUnavailable(why)));
            }
            return Err(Refusal {
                code: ReasonCode::UnspecifiedError,
                reason: Some(why.into()),
            });
        }
        if let Err(err) = rule(&publish.topic, &publish.payload) {
            // A bad alarm rule: refused with its reason (and reported to everyone).
            return Err(Refusal {
                code: ReasonCode::PayloadFormatInvalid,
                reason: Some(err),
            });
        }
        let Some(bucket) = policy.bucket.as_mut() else {
            return Ok(());
        };
        // Before v5 `throttle` already waited for this token.
        if bucket.try_take(Instant::now().into_std()) || !policy.protocol.is_v5() {
            return Ok(());
        }
        Counters::add(&checks.counters.publishes_rate_limited);
        if publish.qos == QoS::AtMostOnce {
            // No acknowledgement to refuse with: the connection ends (0x96).
            policy.end = Some(Box::new(ProtocolError::MessageRateTooHigh));
        }
        // PUBACK/PUBREC cannot carry 0x96 (Message rate too high); 0x97 is theirs.
        Err(ReasonCode::QuotaExceeded.into())
    }

    fn subscribe(&mut self, filter: &str) -> Result<(), ReasonCode> {
        let (policy, checks) = (&mut *self.policy, self.checks);
        policy
            .depth(checks, filter, ReasonCode::TopicFilterInvalid)
            .map_err(|refusal| refusal.code)?;
        if policy
            .acl
            .can_subscribe(checks.access, checks.client_id, filter)
        {
            return Ok(());
        }
        Counters::add(&checks.counters.acl_denied_subscribe);
        tracing::debug!(client_id = %checks.client_id, filter, "subscription refused: ACL");
        Err(ReasonCode::NotAuthorized)
    }
}
