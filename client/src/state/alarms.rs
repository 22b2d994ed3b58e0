//! Alarms as the dashboard sees them: the broker evaluates rules and keeps
//! the state in retained `$kite/alarms/...` messages; this mirrors them and
//! turns the rule form into the rule JSON (the README's contract).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::ring::Ring;

pub const ALARMS_FILTER: &str = "$kite/alarms/#";
pub const RULES_PREFIX: &str = "$kite/alarms/rules/";
pub const ACTIVE_PREFIX: &str = "$kite/alarms/active/";
pub const ACK_PREFIX: &str = "$kite/alarms/ack/";
pub const EVENTS_TOPIC: &str = "$kite/alarms/events";
pub const ERRORS_TOPIC: &str = "$kite/alarms/errors";
pub const HISTORY_TOPIC: &str = "$kite/alarms/history";

/// The conditions a rule may test, as written in its JSON.
pub const CONDITIONS: [&str; 6] = ["<", "<=", ">", ">=", "==", "offline_for"];
pub const SEVERITIES: [&str; 3] = ["info", "warning", "critical"];

/// A rule as retained at `$kite/alarms/rules/<id>`. Parsed by hand from a
/// `serde_json::Value` rather than derived: the derives cost more in the
/// wasm bundle than the whole of this module.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub device: String,
    pub measurement: Option<String>,
    pub condition: String,
    pub threshold: f64,
    pub hysteresis: f64,
    pub severity: String,
    pub message: Option<String>,
    pub enabled: bool,
}

/// A JSON object, or why the payload is not one.
pub fn object(payload: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(payload).map_err(|e| e.to_string())? {
        Value::Object(map) => Ok(map),
        _ => Err("not a JSON object".to_owned()),
    }
}

fn text(o: &Map<String, Value>, key: &str) -> Option<String> {
    o.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn number(o: &Map<String, Value>, key: &str) -> Option<f64> {
    o.get(key).and_then(Value::as_f64)
}

fn millis(o: &Map<String, Value>, key: &str) -> Option<u64> {
    o.get(key).and_then(Value::as_u64)
}

fn severity(o: &Map<String, Value>) -> String {
    text(o, "severity").unwrap_or_else(|| "warning".to_owned())
}

impl Rule {
    pub fn parse(payload: &[u8]) -> Result<Rule, String> {
        let o = object(payload)?;
        Ok(Rule {
            device: text(&o, "device").unwrap_or_else(|| "*".to_owned()),
            measurement: text(&o, "measurement"),
            condition: text(&o, "condition").ok_or("no condition")?,
            threshold: number(&o, "threshold").ok_or("no threshold")?,
            hysteresis: number(&o, "hysteresis").unwrap_or(0.0),
            severity: severity(&o),
            message: text(&o, "message"),
            enabled: o.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        })
    }

    /// The rule JSON, as the README shows it.
    pub fn to_json(&self) -> String {
        let mut o = Map::new();
        o.insert("device".into(), json!(self.device));
        if let Some(m) = &self.measurement {
            o.insert("measurement".into(), json!(m));
        }
        o.insert("condition".into(), json!(self.condition));
        o.insert("threshold".into(), json!(self.threshold));
        o.insert("hysteresis".into(), json!(self.hysteresis));
        o.insert("severity".into(), json!(self.severity));
        if let Some(m) = &self.message {
            o.insert("message".into(), json!(m));
        }
        o.insert("enabled".into(), json!(self.enabled));
        Value::Object(o).to_string()
    }

    /// "battery < 20 %"-style summary.
    pub fn describe(&self) -> String {
        let what = if self.condition == "offline_for" {
            format!("offline for {} s", trim_number(self.threshold))
        } else {
            format!(
                "{} {} {}",
                self.measurement.as_deref().unwrap_or("?"),
                self.condition,
                trim_number(self.threshold)
            )
        };
        format!("{what} on {}", self.device)
    }
}

fn trim_number(value: f64) -> String {
    kite_convention::telemetry::format_number(value)
}

/// An active alarm, as retained at `$kite/alarms/active/<device>/<rule>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Active {
    pub device: String,
    pub rule: String,
    pub raised_at: u64,
    pub value: Option<f64>,
    pub severity: String,
    pub message: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<u64>,
}

impl Active {
    pub fn parse(payload: &[u8]) -> Option<Active> {
        let o = object(payload).ok()?;
        Some(Active {
            device: text(&o, "device")?,
            rule: text(&o, "rule")?,
            raised_at: millis(&o, "raised_at")?,
            value: number(&o, "value"),
            severity: severity(&o),
            message: text(&o, "message").unwrap_or_default(),
            acknowledged_by: text(&o, "acknowledged_by"),
            acknowledged_at: millis(&o, "acknowledged_at"),
        })
    }
}

/// A raise, clear or acknowledgement.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmEvent {
    /// `raised`, `cleared` or `acknowledged`.
    pub kind: String,
    pub device: String,
    pub rule: String,
    pub severity: String,
    pub message: String,
    pub value: Option<f64>,
    pub at: u64,
    pub by: Option<String>,
}

impl AlarmEvent {
    fn from_object(o: &Map<String, Value>) -> Option<AlarmEvent> {
        Some(AlarmEvent {
            kind: text(o, "type")?,
            device: text(o, "device")?,
            rule: text(o, "rule")?,
            severity: severity(o),
            message: text(o, "message").unwrap_or_default(),
            value: number(o, "value"),
            at: millis(o, "at")?,
            by: text(o, "by"),
        })
    }

    pub fn parse(payload: &[u8]) -> Option<AlarmEvent> {
        AlarmEvent::from_object(&object(payload).ok()?)
    }

    /// The history: a JSON array of events, oldest first.
    pub fn parse_list(payload: &[u8]) -> Vec<AlarmEvent> {
        match serde_json::from_slice::<Value>(payload) {
            Ok(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_object)
                .filter_map(AlarmEvent::from_object)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A rule the broker refused, from `$kite/alarms/errors`.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleRefusal {
    pub rule: Option<String>,
    pub error: String,
    pub at: u64,
}

impl RuleRefusal {
    pub fn parse(payload: &[u8]) -> Option<RuleRefusal> {
        let o = object(payload).ok()?;
        Some(RuleRefusal {
            rule: text(&o, "rule"),
            error: text(&o, "error")?,
            at: millis(&o, "at").unwrap_or(0),
        })
    }
}

/// Everything known about alarms.
#[derive(Clone, Debug)]
pub struct AlarmBook {
    /// Rule id → the rule, or why its retained JSON did not parse here.
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
                self.rules.insert(id.to_owned(), Rule::parse(payload));
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
            self.history = AlarmEvent::parse_list(payload);
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

/// The topic and payload that acknowledge an alarm.
pub fn ack_topic(device: &str, rule: &str) -> String {
    format!("{ACK_PREFIX}{device}/{rule}")
}

pub fn rule_topic(id: &str) -> String {
    format!("{RULES_PREFIX}{id}")
}

/// The rule editor's fields, as typed.
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
            condition: "<".to_owned(),
            threshold: "20".to_owned(),
            hysteresis: "5".to_owned(),
            severity: "warning".to_owned(),
            message: String::new(),
            enabled: true,
        }
    }
}

/// Ready-made rules for the form's presets: id, measurement, condition,
/// threshold, hysteresis, severity, message.
pub const PRESETS: [(&str, &str, &str, &str, &str, &str, &str); 4] = [
    (
        "low-battery",
        "battery",
        "<",
        "20",
        "5",
        "warning",
        "battery low",
    ),
    (
        "hot",
        "temperature",
        ">",
        "30",
        "1",
        "warning",
        "temperature high",
    ),
    (
        "weak-signal",
        "signal",
        "<",
        "-90",
        "3",
        "info",
        "signal weak",
    ),
    (
        "offline",
        "",
        "offline_for",
        "60",
        "0",
        "critical",
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
            condition: condition.to_owned(),
            threshold: threshold.to_owned(),
            hysteresis: hysteresis.to_owned(),
            severity: severity.to_owned(),
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
            condition: rule.condition.clone(),
            threshold: trim_number(rule.threshold),
            hysteresis: trim_number(rule.hysteresis),
            severity: rule.severity.clone(),
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
        let condition = self.condition.trim();
        if !CONDITIONS.contains(&condition) {
            problems.push(format!("condition must be one of {}", CONDITIONS.join(" ")));
        }
        let measurement = self.measurement.trim();
        if condition != "offline_for" && measurement.is_empty() {
            problems.push("a measurement is needed (e.g. battery)".to_owned());
        }
        let threshold = match parse_number(&self.threshold) {
            Some(v) => v,
            None => {
                problems.push("threshold must be a number".to_owned());
                0.0
            }
        };
        if condition == "offline_for" && threshold < 1.0 {
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
        if !SEVERITIES.contains(&self.severity.as_str()) {
            problems.push("severity must be info, warning or critical".to_owned());
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let message = self.message.trim();
        let rule = Rule {
            device: device.to_owned(),
            measurement: (condition != "offline_for").then(|| measurement.to_owned()),
            condition: condition.to_owned(),
            threshold,
            hysteresis,
            severity: self.severity.clone(),
            message: (!message.is_empty()).then(|| message.to_owned()),
            enabled: self.enabled,
        };
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
        assert_eq!(rule.condition, "offline_for");
        assert_eq!(rule.describe(), "offline for 60 s on *");
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
        assert_eq!(Rule::parse(b"[1]").unwrap_err(), "not a JSON object");
        assert_eq!(
            Rule::parse(br#"{"threshold":1}"#).unwrap_err(),
            "no condition"
        );
        assert_eq!(
            Rule::parse(br#"{"condition":"<"}"#).unwrap_err(),
            "no threshold"
        );
    }

    #[test]
    fn the_book_follows_rules_alarms_and_history() {
        let mut book = AlarmBook::default();
        assert!(book.apply("$kite/alarms/rules/low-battery", RULE.as_bytes()));
        assert!(book.apply("$kite/alarms/rules/broken", b"{"));
        assert_eq!(book.rules.len(), 2);
        assert!(book.rules["broken"].is_err());
        assert_eq!(
            book.rules["low-battery"].as_ref().unwrap().describe(),
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
