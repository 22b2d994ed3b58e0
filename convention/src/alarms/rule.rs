//! An alarm rule as published to `$kite/alarms/rules/<rule-id>`:
//! `{"device":"*","measurement":"battery","condition":"<","threshold":20,
//!   "hysteresis":5,"severity":"warning","message":"battery low"}`;
//! its validation, and the threshold test with hysteresis.
//!
//! The broker refuses a rule [`Rule::parse`] refuses; the dashboard builds
//! rules with the same type, so both agree on every name.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// What a rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// `<`
    Below,
    /// `<=`
    AtMost,
    /// `>`
    Above,
    /// `>=`
    AtLeast,
    /// `==`
    Equal,
    /// `offline_for`: the device has been offline for `threshold` seconds.
    OfflineFor,
}

impl Condition {
    pub const ALL: [Condition; 6] = [
        Condition::Below,
        Condition::AtMost,
        Condition::Above,
        Condition::AtLeast,
        Condition::Equal,
        Condition::OfflineFor,
    ];
    const NAMES: [&'static str; 6] = ["<", "<=", ">", ">=", "==", "offline_for"];

    /// The name in the rule JSON.
    pub const fn as_str(self) -> &'static str {
        Condition::NAMES[self as usize]
    }

    /// The condition a rule JSON names, exactly as written.
    pub fn parse(name: &str) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// How bad an alarm is. A rule without one raises warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];
    const NAMES: [&'static str; 3] = ["info", "warning", "critical"];

    /// The name in the rule JSON and in the alarms the broker publishes.
    pub const fn as_str(self) -> &'static str {
        Severity::NAMES[self as usize]
    }

    /// The severity a rule JSON names, exactly as written (lowercase).
    pub fn parse(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Written out rather than derived, so `as_str` is the only table of names.
impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Condition, D::Error> {
        let name = String::deserialize(d)?;
        Condition::parse(&name).ok_or_else(|| de::Error::unknown_variant(&name, &Condition::NAMES))
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Severity, D::Error> {
        let name = String::deserialize(d)?;
        Severity::parse(&name).ok_or_else(|| de::Error::unknown_variant(&name, &Severity::NAMES))
    }
}

/// One rule, as published to `$kite/alarms/rules/<rule-id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A device id or a glob (`*` any run of characters, `?` one).
    #[serde(default = "any_device")]
    pub device: String,
    /// The measurement; not used by `offline_for`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurement: Option<String>,
    pub condition: Condition,
    pub threshold: f64,
    #[serde(default)]
    pub hysteresis: f64,
    #[serde(default)]
    pub severity: Severity,
    /// The alarm's text; without one, [`Rule::describe`] makes one up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A disabled rule is kept but never raises.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn any_device() -> String {
    "*".into()
}

fn yes() -> bool {
    true
}

/// Why a rule was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    #[error("invalid rule JSON: {0}")]
    Json(String),
    #[error("a rule id is one topic level without wildcards, got {0:?}")]
    BadId(String),
    #[error("condition {0} needs a measurement")]
    MissingMeasurement(&'static str),
    #[error("threshold must be a finite number")]
    BadThreshold,
    #[error("hysteresis must be a finite number of zero or more")]
    BadHysteresis,
    #[error("offline_for needs a threshold of at least 1 second")]
    BadOfflineFor,
    #[error("device pattern must not be empty or contain '/', '+' or '#'")]
    BadDevice,
}

impl Rule {
    /// Parse and check a rule payload.
    pub fn parse(payload: &[u8]) -> Result<Rule, RuleError> {
        let rule: Rule =
            serde_json::from_slice(payload).map_err(|e| RuleError::Json(e.to_string()))?;
        rule.validate()?;
        Ok(rule)
    }

    /// The rule JSON, fields in the order of the README's example.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a rule serializes")
    }

    /// The checks [`Rule::parse`] makes after reading the JSON.
    pub fn validate(&self) -> Result<(), RuleError> {
        if self.device.is_empty() || self.device.contains(['/', '+', '#']) {
            return Err(RuleError::BadDevice);
        }
        if !self.threshold.is_finite() {
            return Err(RuleError::BadThreshold);
        }
        if !self.hysteresis.is_finite() || self.hysteresis < 0.0 {
            return Err(RuleError::BadHysteresis);
        }
        match self.condition {
            Condition::OfflineFor if self.threshold < 1.0 => Err(RuleError::BadOfflineFor),
            Condition::OfflineFor => Ok(()),
            c if self.measurement.as_deref().is_none_or(str::is_empty) => {
                Err(RuleError::MissingMeasurement(c.as_str()))
            }
            _ => Ok(()),
        }
    }

    /// True when `device` is one this rule watches.
    pub fn watches(&self, device: &str) -> bool {
        match self.device.strip_suffix('*') {
            // `*` and `prefix-*`, the common patterns, need no backtracking.
            Some(prefix) if !prefix.contains(['*', '?']) => device.starts_with(prefix),
            _ => glob(&self.device, device),
        }
    }

    /// True when `value` raises the alarm.
    pub fn raises(&self, value: f64) -> bool {
        let t = self.threshold;
        match self.condition {
            Condition::Below => value < t,
            Condition::AtMost => value <= t,
            Condition::Above => value > t,
            Condition::AtLeast => value >= t,
            Condition::Equal => value == t,
            Condition::OfflineFor => false,
        }
    }

    /// True when `value` is past the threshold by the hysteresis, so an
    /// active alarm clears (between the two, it stays as it is).
    pub fn clears(&self, value: f64) -> bool {
        let (t, h) = (self.threshold, self.hysteresis);
        match self.condition {
            Condition::Below => value >= t + h,
            Condition::AtMost => value > t + h,
            Condition::Above => value <= t - h,
            Condition::AtLeast => value < t - h,
            Condition::Equal => (value - t).abs() > h,
            Condition::OfflineFor => false,
        }
    }

    /// The text of a raised alarm: the rule's message, or what it tests.
    pub fn describe(&self) -> String {
        if let Some(message) = &self.message {
            return message.clone();
        }
        match self.condition {
            Condition::OfflineFor => format!("offline for {} s", self.threshold),
            c => format!(
                "{} {} {}",
                self.measurement.as_deref().unwrap_or("value"),
                c,
                self.threshold
            ),
        }
    }
}

/// Shell-style glob: `*` any run of characters, `?` any one character.
/// On a mismatch only the last `*` seen takes one more character (what the
/// `*`s before it matched can stay), so a match costs at most pattern length
/// × text length steps, however many `*`s a client's rule has.
pub fn glob(pattern: &str, text: &str) -> bool {
    // Byte offsets into `pattern` and `text`, always on character boundaries.
    let (mut p, mut t) = (0, 0);
    // After the last `*`: where the pattern resumes, and where in the text
    // the `*`'s run ends so far.
    let mut star: Option<(usize, usize)> = None;
    while let Some(c) = text[t..].chars().next() {
        match pattern[p..].chars().next() {
            Some('*') => {
                p += 1;
                star = Some((p, t));
                continue;
            }
            Some(want) if want == '?' || want == c => {
                p += want.len_utf8();
                t += c.len_utf8();
                continue;
            }
            _ => {}
        }
        let Some((resume, run_end)) = star else {
            return false;
        };
        let longer = run_end + text[run_end..].chars().next().map_or(0, char::len_utf8);
        (p, t) = (resume, longer);
        star = Some((resume, longer));
    }
    pattern[p..].chars().all(|c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> Result<Rule, RuleError> {
        Rule::parse(json.as_bytes())
    }

    const EXAMPLE: &str = r#"{"device":"*","measurement":"battery","condition":"<","threshold":20.0,"hysteresis":5.0,"severity":"warning","message":"battery low","enabled":true}"#;

    #[test]
    fn the_contract_example_parses_and_serializes_back() {
        let r = rule(r#"{"device":"*","measurement":"battery","condition":"<","threshold":20,"hysteresis":5,"severity":"warning","message":"battery low"}"#).unwrap();
        assert_eq!(r.condition, Condition::Below);
        assert_eq!((r.threshold, r.hysteresis), (20.0, 5.0));
        assert!(r.watches("sim-1"));
        assert_eq!(r.to_json(), EXAMPLE);
        assert_eq!(rule(EXAMPLE).unwrap(), r);
    }

    #[test]
    fn defaults_and_absent_fields() {
        let r = rule(r#"{"condition":"offline_for","threshold":60}"#).unwrap();
        assert_eq!(r.device, "*");
        assert_eq!(
            (r.measurement.as_deref(), r.message.as_deref()),
            (None, None)
        );
        assert_eq!(
            (r.hysteresis, r.severity, r.enabled),
            (0.0, Severity::Warning, true)
        );
        assert_eq!(
            r.to_json(),
            r#"{"device":"*","condition":"offline_for","threshold":60.0,"hysteresis":0.0,"severity":"warning","enabled":true}"#
        );
        assert_eq!(r.describe(), "offline for 60 s");
    }

    #[test]
    fn names_are_one_table_for_json_and_as_str() {
        for c in Condition::ALL {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Condition>(&json).unwrap(), c);
            assert_eq!(Condition::parse(c.as_str()), Some(c));
        }
        for s in Severity::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<Severity>(&json).unwrap(), s);
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        assert_eq!(Condition::parse("offline"), None);
        assert_eq!(Severity::parse("Warning"), None, "names are lowercase");
        let err = serde_json::from_str::<Severity>("\"error\"").unwrap_err();
        assert!(err.to_string().contains("unknown variant `error`"), "{err}");
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        let cases = [
            ("not json", "invalid rule JSON"),
            (
                r#"{"condition":"<","threshold":1,"measurement":"t","colour":"red"}"#,
                "unknown field",
            ),
            (
                r#"{"condition":"<>","threshold":1,"measurement":"t"}"#,
                "unknown variant",
            ),
            (
                r#"{"condition":"<","threshold":1,"measurement":"t","severity":"meh"}"#,
                "unknown variant",
            ),
            (r#"{"condition":"<","threshold":1}"#, "needs a measurement"),
            (
                r#"{"condition":"offline_for","threshold":0}"#,
                "at least 1 second",
            ),
            (
                r#"{"condition":">","threshold":1,"measurement":"t","hysteresis":-1}"#,
                "hysteresis",
            ),
            (
                r#"{"device":"a/b","condition":">","threshold":1,"measurement":"t"}"#,
                "device pattern",
            ),
        ];
        for (json, why) in cases {
            let err = rule(json).unwrap_err().to_string();
            assert!(err.contains(why), "{json}: {err}");
        }
    }

    #[test]
    fn hysteresis_keeps_an_alarm_until_the_value_is_past_it() {
        let r = rule(r#"{"measurement":"battery","condition":"<","threshold":20,"hysteresis":5}"#)
            .unwrap();
        assert!(r.raises(19.0) && !r.raises(20.0));
        assert!(!r.clears(20.0) && !r.clears(24.9));
        assert!(r.clears(25.0));
        let hot =
            rule(r#"{"measurement":"t","condition":">=","threshold":30,"hysteresis":2}"#).unwrap();
        assert!(hot.raises(30.0) && !hot.clears(28.5) && hot.clears(27.9));
    }

    #[test]
    fn device_globs() {
        let r =
            rule(r#"{"device":"sim-?","measurement":"t","condition":">","threshold":1}"#).unwrap();
        assert!(r.watches("sim-1") && !r.watches("sim-10") && !r.watches("other"));
        let r = rule(r#"{"device":"kitchen-*","measurement":"t","condition":">","threshold":1}"#)
            .unwrap();
        assert!(r.watches("kitchen-") && r.watches("kitchen-fridge") && !r.watches("hall"));
    }

    #[test]
    fn device_globs_match_like_a_shell() {
        let cases = [
            ("*", "", true),
            ("*", "abc", true),
            ("**", "x", true),
            ("?", "", false),
            ("*?", "", false),
            ("?", "é", true),
            ("sim-?", "sim-é", true),
            ("sim-??", "sim-é", false),
            ("a*b*c", "a-b-c", true),
            ("a*b*c", "a-b-b", false),
            ("*a*b", "xaxbxb", true),
            ("a?c*", "abc", true),
            ("a*", "b", false),
            ("*x", "abxcx", true),
            ("*x*", "abc", false),
            ("k*-?-*z", "k-1-2-3-z", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob(pattern, text), expected, "{pattern:?} {text:?}");
        }
    }

    /// Found by reading `glob` and confirmed with the `alarm_rule` fuzz
    /// target (its 10 s timeout): each `*` tried every split recursively, so
    /// a rule any client may publish, `*a*a*a…*b`, took time exponential in
    /// its `*`s for each reading of a device `aaa…`, under the engine's lock.
    #[test]
    fn device_globs_take_linear_time() {
        let pattern = format!("{}b", "*a".repeat(9));
        let device = "a".repeat(40);
        let started = std::time::Instant::now();
        assert!(!glob(&pattern, &device));
        assert!(glob(&pattern, &format!("{device}b")));
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    }
}
