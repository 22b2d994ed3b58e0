//! What the sans-I/O session asks before it admits a PUBLISH or a
//! subscription, and how a refusal is answered. The connection answers the
//! questions (ACL, publish rate, topic rules); the session only asks.

use mqtt::{Ack, Packet, Pid, Protocol, Publish, QoS, ReasonCode};

use super::session::Action;

/// What the sans-I/O session asks before it accepts a PUBLISH or a
/// subscription; the connection answers from the ACL and the publish rate.
pub(crate) trait Admission {
    /// `Err` refuses this PUBLISH (its topic alias already resolved): the
    /// message is dropped and, for v5 QoS 1/2, the PUBACK/PUBREC says why.
    fn publish(&mut self, publish: &Publish) -> Result<(), Refusal>;
    /// `Err(code)` refuses this filter: its SUBACK entry is `code` (v5) or 0x80.
    fn subscribe(&mut self, filter: &str) -> Result<(), ReasonCode>;
}

/// Everything allowed (no ACL, no rate limit): the session's unit tests.
#[cfg(test)]
pub(crate) struct AllowAll;

/// Why a PUBLISH was refused: the reason code, and for v5 a reason string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: ReasonCode,
    pub reason: Option<String>,
}

impl From<ReasonCode> for Refusal {
    fn from(code: ReasonCode) -> Refusal {
        Refusal { code, reason: None }
    }
}

#[cfg(test)]
impl Admission for AllowAll {
    fn publish(&mut self, _: &Publish) -> Result<(), Refusal> {
        Ok(())
    }

    fn subscribe(&mut self, _: &str) -> Result<(), ReasonCode> {
        Ok(())
    }
}

/// The SUBACK entry for a refused filter: before v5 only 0x80 exists.
pub(crate) fn suback_refusal(protocol: Protocol, code: ReasonCode) -> ReasonCode {
    if protocol.is_v5() {
        code
    } else {
        ReasonCode::UnspecifiedError
    }
}

/// What answers a refused PUBLISH. v5 QoS 1/2: the acknowledgement with
/// `code` (the flow ends there, nothing is kept). Before v5 there is no way
/// to say no: the acknowledgement is the usual one and the message is
/// dropped silently, as Mosquitto does. QoS 0: nothing.
pub(crate) fn publish_refusal(
    protocol: Protocol,
    qos: QoS,
    pid: Option<Pid>,
    refusal: Refusal,
) -> Vec<Action> {
    let Some(pid) = pid else {
        return vec![];
    };
    let mut ack = Ack::new(pid);
    if protocol.is_v5() {
        ack.reason = refusal.code;
        ack.properties.reason_string = refusal.reason.map(Into::into);
    }
    vec![Action::Send(match qos {
        QoS::ExactlyOnce => Packet::PubRec(ack),
        _ => Packet::PubAck(ack),
    })]
}
