//! The alarm engine in the broker: rules over device measurements, evaluated
//! on every matching message, with state kept as retained MQTT messages so
//! any client can follow it and the store keeps it across restarts.
//!
//! - [`rule`]: the rule JSON (a contract) and the threshold test with hysteresis.
//! - [`engine`]: the sans-I/O engine: messages in, publications out.
//!
//! Topics: `$kite/alarms/rules/<rule-id>` (retained rule; empty deletes),
//! `$kite/alarms/active/<device>/<rule-id>` (retained while active),
//! `$kite/alarms/ack/<device>/<rule-id>` (acknowledge), `$kite/alarms/events`,
//! `$kite/alarms/errors`, `$kite/alarms/history` (retained, last 200 events).

pub mod engine;
pub mod rule;

pub use engine::{Engine, Publication};
pub use rule::{Rule, RuleError};

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    RwLock,
};

use kite_convention::alarms::RuleRefusal;

use crate::{protocol::message::Message, util::clock::now_unix_ms};

/// The engine as the broker holds it. Most messages learn from their topic
/// alone, with no lock, that they do not concern any rule.
#[derive(Debug, Default)]
pub struct Alarms {
    engine: RwLock<Engine>,
    /// [`Engine::ha_topics`] as of the last change: while it is zero, only
    /// [`engine::wants_always`] topics concern the engine.
    ha_topics: AtomicUsize,
}

impl Alarms {
    /// Check a rule before it is accepted: `Err` refuses the PUBLISH (it is
    /// neither routed nor stored) and says why.
    pub fn check(topic: &str, payload: &[u8]) -> Result<(), RuleError> {
        match topic.strip_prefix(engine::RULES_PREFIX) {
            Some(id) if !payload.is_empty() => {
                if id.is_empty() || id.contains(['/', '+', '#']) {
                    return Err(RuleError::BadId(id.into()));
                }
                Rule::parse(payload).map(|_| ())
            }
            _ => Ok(()),
        }
    }

    /// A refused rule, reported on `$kite/alarms/errors` for every client.
    pub fn report(topic: &str, err: &RuleError) -> Publication {
        let refusal = RuleRefusal {
            at: now_unix_ms(),
            error: err.to_string(),
            rule: topic.strip_prefix(engine::RULES_PREFIX).map(str::to_owned),
            topic: topic.into(),
        };
        Publication {
            topic: engine::ERRORS_TOPIC.into(),
            payload: serde_json::to_vec(&refusal).expect("refusals serialize"),
            retain: false,
        }
    }

    /// The engine takes messages on `topic`: its own (`$kite/alarms/...`),
    /// device messages, and Home Assistant state topics it learned.
    pub fn watches(&self, topic: &str) -> bool {
        topic.starts_with(engine::ROOT) || self.wants(topic)
    }

    /// A routed message on a topic it [`watches`](Alarms::watches): rules,
    /// acknowledgements and device messages. Returns what to publish in answer.
    pub fn observe(&self, message: &Message) -> Vec<Publication> {
        let topic = &*message.topic;
        let own = topic.starts_with(engine::ROOT);
        let now = now_unix_ms();
        if let Some(id) = topic.strip_prefix(engine::RULES_PREFIX) {
            let mut engine = self.engine.write().expect("alarms lock");
            match engine.set_rule(id, &message.payload, now) {
                Ok(out) => {
                    tracing::info!(rule = id, rules = engine.rules(), "alarm rule set");
                    out
                }
                Err(err) => vec![Alarms::report(topic, &err)],
            }
        } else if let Some(rest) = topic.strip_prefix(engine::ACK_PREFIX) {
            let Some((device, rule)) = rest.split_once('/') else {
                return Vec::new();
            };
            let by = std::str::from_utf8(&message.payload)
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or(&message.origin)
                .to_string();
            self.engine
                .write()
                .expect("alarms lock")
                .acknowledge(device, rule, &by, now)
        } else if !own {
            // A device or Home Assistant message: `wants` said so above.
            let mut engine = self.engine.write().expect("alarms lock");
            let out = engine.observe(topic, &message.payload, now);
            self.ha_topics.store(engine.ha_topics(), Ordering::Relaxed);
            out
        } else {
            Vec::new()
        }
    }

    fn wants(&self, topic: &str) -> bool {
        engine::wants_always(topic)
            || (self.ha_topics.load(Ordering::Relaxed) > 0
                && self.engine.read().expect("alarms lock").wants(topic))
    }

    /// Rebuild state from retained messages loaded at start-up.
    pub fn restore(&self, retained: &[Message]) {
        let now = now_unix_ms();
        let mut engine = self.engine.write().expect("alarms lock");
        for message in retained {
            let topic = &*message.topic;
            if let Some(id) = topic.strip_prefix(engine::RULES_PREFIX) {
                if let Err(err) = engine.set_rule(id, &message.payload, now) {
                    tracing::warn!(rule = id, %err, "stored alarm rule ignored");
                }
            }
        }
        for message in retained {
            let topic = &*message.topic;
            if topic.starts_with(engine::ACTIVE_PREFIX) || topic == engine::HISTORY_TOPIC {
                engine.restore(topic, &message.payload);
            } else if engine.wants(topic) {
                // Discovery configs and retained statuses; readings are not
                // re-evaluated here, the next live message does that.
                let _ = engine.observe(topic, &message.payload, now);
            }
        }
        self.ha_topics.store(engine.ha_topics(), Ordering::Relaxed);
    }

    /// Read `--alarm-rules`: every rule must be valid, or the broker does not start.
    pub fn load_file(path: &std::path::Path) -> Result<Vec<(String, Vec<u8>)>, String> {
        let text =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Alarms::parse_file(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The text of an `--alarm-rules` file as (topic, payload) rule publications.
    pub fn parse_file(text: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
        let rules: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(text).map_err(|e| format!("not a JSON object of rules: {e}"))?;
        let mut out = Vec::new();
        for (id, rule) in rules {
            let payload = rule.to_string().into_bytes();
            let topic = format!("{}{id}", engine::RULES_PREFIX);
            Alarms::check(&topic, &payload).map_err(|e| format!("rule {id:?}: {e}"))?;
            out.push((topic, payload));
        }
        Ok(out)
    }

    /// The `offline_for` alarms that fall due by `now` (Unix ms).
    pub fn tick(&self, now: u64) -> Vec<Publication> {
        self.engine.write().expect("alarms lock").tick(now)
    }
}
