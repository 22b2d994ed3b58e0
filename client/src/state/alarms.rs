//! Alarms as the dashboard sees them: the broker evaluates rules and keeps
//! the state in retained `$kite/alarms/...` messages; this mirrors them and
//! turns the rule form into the rule JSON. The topics, the rule JSON and the
//! payloads the broker publishes ([`Active`], [`AlarmEvent`],
//! [`RuleRefusal`]) are [`kite_convention::alarms`], the broker's own
//! definitions.

use std::collections::BTreeMap;

pub use kite_convention::alarms::{
    ack_topic, rule_topic, Active, AlarmEvent, Condition, Rule, RuleRefusal, Severity,
};
use kite_convention::alarms::{
    ACTIVE_PREFIX, ERRORS_TOPIC, EVENTS_TOPIC, HISTORY_TOPIC, RULES_PREFIX,
};

use super::ring::Ring;

/// "battery < 20 on *"-style summary of a rule, for the rule list.
pub fn summary(rule: &Rule) -> String {
    let what = if rule.condition == Condition::OfflineFor {
        format!("offline for {} s", trim_number(rule.threshold))
    } else {
        format!(
            "{} {} {}",
            rule.measurement.as_deref().unwrap_or("?"),
            rule.condition,
            trim_number(rule.threshold)
        )
    };
    format!("{what} on {}", rule.device)
}

fn trim_number(value: f64) -> String {
    kite_convention::telemetry::format_number(value)
}

/// Everything known about alarms.
#[derive(Clone, Debug)]
pub struct AlarmBook {
    /// Rule id → the rule, or why its retained JSON is not a valid rule.
    pub rules: BTreeMap<String, Result<Rule, String>>,
    /// (device, rule) → the alarm.
    pub active: BTreeMap<(String, String), Active>,
    /// Oldest first, as the broker keeps it.
    pub history: Vec<AlarmEvent>,
    pub errors: Ring<RuleRefusal>,
}

impl Default for AlarmBook {
    fn default() -> AlarmBook {
        AlarmBook {
            rules: BTreeMap::new(),
            active: BTreeMap::new(),
            history: Vec::new(),
            errors: Ring::new(20),
        }
    }
}

impl AlarmBook {
    /// Take an `$kite/alarms/...` message into account; false when the
    /// topic is not one of them.
    pub fn apply(&mut self, topic: &str, payload: &[u8]) -> bool {
        if let Some(id) = topic.strip_prefix(RULES_PREFIX) {
            if payload.is_empty() {
                self.rules.remove(id);
            } else {
                let rule = Rule::parse(payload).map_err(|e| e.to_string());
                self.rules.insert(id.to_owned(), rule);
            }
        } else if let Some(rest) = topic.strip_prefix(ACTIVE_PREFIX) {
            let Some((device, rule)) = rest.rsplit_once('/') else {
                return false;
            };
            let key = (device.to_owned(), rule.to_owned());
            match Active::parse(payload) {
                Some(active) => {
                    self.active.insert(key, active);
                }
                None => {
                    self.active.remove(&key);
                }
            }
        } else if topic == HISTORY_TOPIC {
            self.history = AlarmEvent::parse_history(payload);
        } else if topic == EVENTS_TOPIC {
            // The history that follows every event carries it too; an event
            // seen first is added so the list never lags.
            if let Some(event) = AlarmEvent::parse(payload) {
                if !self.history.contains(&event) {
                    self.history.push(event);
                }
            }
        } else if topic == ERRORS_TOPIC {
            if let Some(refusal) = RuleRefusal::parse(payload) {
                self.errors.push(refusal);
            }
        } else {
            return false;
        }
        true
    }

    /// Active alarms of one device.
    pub fn for_device<'a>(&'a self, device: &'a str) -> impl Iterator<Item = &'a Active> + 'a {
        self.active
            .range((device.to_owned(), String::new())..)
            .take_while(move |((d, _), _)| d == device)
            .map(|(_, a)| a)
    }

    /// Active alarms not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.active
            .values()
            .filter(|a| a.acknowledged_by.is_none())
            .count()
    }

    /// The newest refusal of rule `id`, if any came after `since_ms`.
    pub fn refusal(&self, id: &str, since_ms: u64) -> Option<&RuleRefusal> {
        self.errors
            .iter()
            .rev()
            .find(|r| r.rule.as_deref() == Some(id) && r.at >= since_ms)
    }

    pub fn clear(&mut self) {
        *self = AlarmBook::default();
    }
}

/// The rule editor's fields, as typed (`condition` and `severity` are the
/// names in the rule JSON: [`Condition::as_str`], [`Severity::as_str`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleForm {
    pub id: String,
    pub device: String,
    pub measurement: String,
    pub condition: String,
    pub threshold: String,
    pub hysteresis: String,
    pub severity: String,
    pub message: String,
    pub enabled: bool,
}

impl Default for RuleForm {
    fn default() -> RuleForm {
        RuleForm {
            id: String::new(),
            device: "*".to_owned(),
            measurement: "battery".to_owned(),
            condition: Condition::Below.as_str().to_owned(),
            threshold: "20".to_owned(),
            hysteresis: "5".to_owned(),
            severity: Severity::Warning.as_str().to_owned(),
            message: String::new(),
            enabled: true,
        }
    }
}

/// Ready-made rules for the form's presets: id, measurement, condition,
/// threshold, hysteresis, severity, message.
pub const PRESETS: [(&str, &str, Condition, &str, &str, Severity, &str); 4] = [
    (
        "low-battery",
        "battery",
        Condition::Below,
        "20",
        "5",
        Severity::Warning,
        "battery low",
    ),
    (
        "hot",
        "temperature",
        Condition::Above,
        "30",
        "1",
        Severity::Warning,
        "temperature high",
    ),
    (
        "weak-signal",
        "signal",
        Condition::Below,
        "-90",
        "3",
        Severity::Info,
        "signal weak",
    ),
    (
        "offline",
        "",
        Condition::OfflineFor,
        "60",
        "0",
        Severity::Critical,
        "device offline",
    ),
];

impl RuleForm {
    pub fn preset(index: usize) -> RuleForm {
        let (id, measurement, condition, threshold, hysteresis, severity, message) =
            PRESETS[index.min(PRESETS.len() - 1)];
        RuleForm {
            id: id.to_owned(),
            device: "*".to_owned(),
            measurement: measurement.to_owned(),
            condition: condition.as_str().to_owned(),
            threshold: threshold.to_owned(),
            hysteresis: hysteresis.to_owned(),
            severity: severity.as_str().to_owned(),
            message: message.to_owned(),
            enabled: true,
        }
    }

    /// The form filled from an existing rule, for editing.
    pub fn from_rule(id: &str, rule: &Rule) -> RuleForm {
        RuleForm {
            id: id.to_owned(),
            device: rule.device.clone(),
            measurement: rule.measurement.clone().unwrap_or_default(),
            condition: rule.condition.as_str().to_owned(),
            threshold: trim_number(rule.threshold),
            hysteresis: trim_number(rule.hysteresis),
            severity: rule.severity.as_str().to_owned(),
            message: rule.message.clone().unwrap_or_default(),
            enabled: rule.enabled,
        }
    }

    /// The rule's id and JSON, or every problem with the form (the same
    /// checks the broker makes, so mistakes show before publishing).
    pub fn build(&self) -> Result<(String, String), Vec<String>> {
        let mut problems = Vec::new();
        let id = self.id.trim();
        if id.is_empty() {
            problems.push("the rule needs an id".to_owned());
        } else if id.contains(['/', '+', '#']) || id.chars().any(char::is_whitespace) {
            problems.push("the id is one word without '/', '+', '#' or spaces".to_owned());
        }
        let device = self.device.trim();
        if device.is_empty() || device.contains(['/', '+', '#']) {
            problems
                .push("device: an id or a pattern with * and ?, without '/', '+', '#'".to_owned());
        }
        let condition = Condition::parse(self.condition.trim());
        if condition.is_none() {
            let names: Vec<&str> = Condition::ALL.iter().map(|c| c.as_str()).collect();
            problems.push(format!("condition must be one of {}", names.join(" ")));
        }
        let offline = condition == Some(Condition::OfflineFor);
        let measurement = self.measurement.trim();
        if !offline && measurement.is_empty() {
            problems.push("a measurement is needed (e.g. battery)".to_owned());
        }
        let threshold = match parse_number(&self.threshold) {
            Some(v) => v,
            None => {
                problems.push("threshold must be a number".to_owned());
                0.0
            }
        };
        if offline && threshold < 1.0 {
            problems.push("offline_for needs at least 1 second".to_owned());
        }
        let hysteresis = if self.hysteresis.trim().is_empty() {
            0.0
        } else {
            match parse_number(&self.hysteresis) {
                Some(v) if v >= 0.0 => v,
                _ => {
                    problems.push("hysteresis must be a number of zero or more".to_owned());
                    0.0
                }
            }
        };
        let severity = Severity::parse(&self.severity);
        if severity.is_none() {
            problems.push("severity must be info, warning or critical".to_owned());
        }
        let (Some(condition), Some(severity), true) = (condition, severity, problems.is_empty())
        else {
            return Err(problems);
        };
        let message = self.message.trim();
        let rule = Rule {
            device: device.to_owned(),
            measurement: (!offline).then(|| measurement.to_owned()),
            condition,
            threshold,
            hysteresis,
            severity,
            message: (!message.is_empty()).then(|| message.to_owned()),
            enabled: self.enabled,
        };
        // The broker's own checks, in case the form's missed one.
        rule.validate().map_err(|e| vec![e.to_string()])?;
        Ok((id.to_owned(), rule.to_json()))
    }
}

/// A finite number, accepting a decimal comma and a minus sign (−).
fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim().replace(',', ".").replace('\u{2212}', "-");
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = r#"{"device":"*","measurement":"battery","condition":"<","threshold":20,"hysteresis":5,"severity":"warning","message":"battery low"}"#;

    #[test]
    fn the_default_form_builds_the_readme_rule() {
        let mut form = RuleForm::preset(0);
        let (id, json) = form.build().unwrap();
        assert_eq!(id, "low-battery");
        let built = Rule::parse(json.as_bytes()).unwrap();
        assert_eq!(built, Rule::parse(RULE.as_bytes()).unwrap());
        form.enabled = false;
        let (_, json) = form.build().unwrap();
        assert!(json.contains(r#""enabled":false"#));
        let rule = Rule::parse(json.as_bytes()).unwrap();
        assert_eq!(RuleForm::from_rule("low-battery", &rule), form);
    }

    #[test]
    fn offline_rules_have_no_measurement() {
        let form = RuleForm::preset(3);
        let (id, json) = form.build().unwrap();
        assert_eq!(id, "offline");
        let rule = Rule::parse(json.as_bytes()).unwrap();
        assert_eq!(rule.measurement, None);
        assert_eq!(rule.condition, Condition::OfflineFor);
        assert_eq!(summary(&rule), "offline for 60 s on *");
    }

    #[test]
    fn form_problems_are_all_listed() {
        let form = RuleForm {
            id: "a/b".into(),
            device: "".into(),
            measurement: "".into(),
            condition: "~".into(),
            threshold: "x".into(),
            hysteresis: "-1".into(),
            severity: "meh".into(),
            message: String::new(),
            enabled: true,
        };
        assert_eq!(form.build().unwrap_err().len(), 7);
        let form = RuleForm {
            id: "t".into(),
            threshold: "−90,5".into(),
            hysteresis: "".into(),
            ..RuleForm::default()
        };
        let (_, json) = form.build().unwrap();
        assert!(json.contains(r#""threshold":-90.5"#), "{json}");
        assert!(json.contains(r#""hysteresis":0.0"#), "{json}");
    }

    #[test]
    fn the_book_follows_rules_alarms_and_history() {
        let mut book = AlarmBook::default();
        assert!(book.apply("$kite/alarms/rules/low-battery", RULE.as_bytes()));
        assert!(book.apply("$kite/alarms/rules/broken", b"{"));
        assert_eq!(book.rules.len(), 2);
        assert!(book.rules["broken"]
            .as_ref()
            .unwrap_err()
            .starts_with("invalid rule JSON"));
        assert_eq!(
            summary(book.rules["low-battery"].as_ref().unwrap()),
            "battery < 20 on *"
        );
        book.apply("$kite/alarms/rules/broken", b"");
        assert_eq!(book.rules.len(), 1);

        let active = br#"{"device":"sim-1","rule":"low-battery","raised_at":1700000000000,"value":12.0,"severity":"warning","message":"battery low","acknowledged_by":null,"acknowledged_at":null}"#;
        book.apply("$kite/alarms/active/sim-1/low-battery", active);
        book.apply("$kite/alarms/active/sim-10/low-battery", active);
        assert_eq!(book.for_device("sim-1").count(), 1);
        assert_eq!(book.unacknowledged(), 2);
        book.apply("$kite/alarms/active/sim-10/low-battery", b"");
        assert_eq!(book.active.len(), 1);

        let event = br#"{"type":"raised","device":"sim-1","rule":"low-battery","severity":"warning","message":"battery low","value":12.0,"at":1700000000000}"#;
        book.apply(EVENTS_TOPIC, event);
        book.apply(EVENTS_TOPIC, event);
        assert_eq!(book.history.len(), 1);
        let history = format!("[{}]", String::from_utf8_lossy(event));
        book.apply(HISTORY_TOPIC, history.as_bytes());
        assert_eq!(book.history.len(), 1);
        assert_eq!(book.history[0].kind, "raised");
        assert_eq!(book.history[0].severity, Severity::Warning);

        book.apply(
            ERRORS_TOPIC,
            br#"{"topic":"$kite/alarms/rules/x","rule":"x","error":"invalid rule JSON","at":5}"#,
        );
        assert_eq!(book.refusal("x", 0).unwrap().error, "invalid rule JSON");
        assert!(book.refusal("x", 6).is_none());
        assert!(!book.apply("devices/x/status", b"online"));
        assert_eq!(
            ack_topic("sim-1", "low-battery"),
            "$kite/alarms/ack/sim-1/low-battery"
        );
        assert_eq!(rule_topic("r"), "$kite/alarms/rules/r");
    }
}
