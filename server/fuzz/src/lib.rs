//! Checks shared by the server's fuzz targets: the parsers of what a client
//! or an operator sends besides MQTT packets (those are `mqtt/fuzz`'s). Each
//! target calls one function here with libFuzzer's input; a panic is a finding.
//!
//! - [`alarm_rule`]: a rule published to `$kite/alarms/rules/<id>` (any
//!   client may), the `--alarm-rules` file, and the rule judging readings.
//! - [`acl_file`]: `--acl-file`, then the rules it gives a few clients.
//! - [`password_file`]: `--password-file`, and `kite-server passwd` editing it.
//! - [`config_toml`]: `--config FILE` (TOML) merged with the command line.

use std::{ffi::OsString, path::Path};

use argon2::{
    password_hash::{self, PasswordHash, PasswordVerifier},
    Argon2,
};
use kite_server::{
    alarms::{
        engine::{Engine, RULES_PREFIX},
        rule::Condition,
        Alarms, Rule,
    },
    config::file::{self as config_file, ConfigError},
    security::{
        acl::{covers, Acl, Permission},
        auth::{check_username, update_lines, PasswordFile},
    },
};
use mqtt::topic::{matches, parse_shared, validate_topic_filter, validate_topic_name};

/// Unix milliseconds the alarm checks run at.
const NOW: u64 = 1_700_000_000_000;

/// Rule bytes, optionally followed by 0xFF (never in UTF-8, so never in a
/// rule) and a device id that then sends readings the rule judges.
pub fn alarm_rule(data: &[u8]) {
    let (payload, device) = match data.iter().position(|&b| b == 0xFF) {
        Some(at) => (&data[..at], std::str::from_utf8(&data[at + 1..]).ok()),
        None => (data, None),
    };
    rules_file(payload);
    // The broker's check before it accepts the PUBLISH.
    let checked = Alarms::check(&format!("{RULES_PREFIX}fuzz"), payload);
    if payload.is_empty() {
        assert_eq!(checked, Ok(()), "an empty payload deletes a rule");
        return;
    }
    let parsed = Rule::parse(payload);
    assert_eq!(
        checked.as_ref().err(),
        parsed.as_ref().err(),
        "check ≠ parse"
    );
    let rule = match parsed {
        Ok(rule) => rule,
        Err(err) => {
            let _ = err.to_string();
            return;
        }
    };
    assert!(rule.threshold.is_finite(), "{rule:?}");
    assert!(
        rule.hysteresis.is_finite() && rule.hysteresis >= 0.0,
        "{rule:?}"
    );
    assert!(
        !rule.device.is_empty() && !rule.device.contains(['/', '+', '#']),
        "{rule:?}"
    );
    // Serialised and parsed again, it is the same rule.
    let json = serde_json::to_vec(&rule).expect("a rule serialises");
    assert_eq!(
        Rule::parse(&json).as_ref(),
        Ok(&rule),
        "{}",
        String::from_utf8_lossy(&json)
    );
    let _ = rule.describe();
    // `*` and `?` match themselves, so a pattern watches its own text.
    assert!(rule.watches(&rule.device), "{:?}", rule.device);
    thresholds(&rule);
    readings(payload, &rule, device);
}

/// The bytes as an `--alarm-rules` file: every rule it yields is one the
/// broker accepts, on a topic it can publish.
fn rules_file(text: &[u8]) {
    let Ok(rules) = Alarms::parse_file(text) else {
        return;
    };
    for (topic, payload) in rules {
        assert!(validate_topic_name(&topic).is_ok(), "{topic:?}");
        let id = topic.strip_prefix(RULES_PREFIX).expect("a rules topic");
        assert!(Rule::parse(&payload).is_ok(), "{topic:?}");
        let mut engine = Engine::default();
        assert!(engine.set_rule(id, &payload, NOW).is_ok(), "{topic:?}");
    }
}

/// A value never both raises an alarm and clears it; without hysteresis it
/// always does one or the other.
fn thresholds(rule: &Rule) {
    let (t, h) = (rule.threshold, rule.hysteresis);
    let values = [
        t,
        t - h,
        t + h,
        t.next_up(),
        t.next_down(),
        (t - h).next_down(),
        (t + h).next_up(),
        0.0,
        f64::MAX,
        f64::MIN,
    ];
    for v in values.into_iter().filter(|v| v.is_finite()) {
        let (raises, clears) = (rule.raises(v), rule.clears(v));
        if rule.condition == Condition::OfflineFor {
            assert!(!raises && !clears, "{v} {rule:?}");
            continue;
        }
        assert!(!(raises && clears), "{v} both raises and clears {rule:?}");
        if h == 0.0 {
            assert!(raises || clears, "{v} neither raises nor clears {rule:?}");
        }
    }
}

/// The rule in an engine, judging readings (or absences) of a few devices:
/// it watches the devices its pattern matches, and an alarm is raised and
/// cleared exactly as `raises` and `clears` say.
fn readings(payload: &[u8], rule: &Rule, device: Option<&str>) {
    let mut engine = Engine::default();
    let out = engine
        .set_rule("fuzz", payload, NOW)
        .expect("a checked rule");
    assert!(out.is_empty());
    assert_eq!(engine.rules(), 1);
    let mut devices = vec!["sim-1", "kitchen-fridge", rule.device.as_str()];
    devices.extend(device);
    let valid_level = |s: &str| !s.is_empty() && !s.contains(['/', '+', '#', '\0']);
    for device in devices.into_iter().filter(|d| valid_level(d)) {
        let judged = rule.enabled && rule.watches(device);
        if device.len() <= 32 && rule.device.len() <= 32 && rule.device.matches('*').count() <= 4 {
            let chars = |s: &str| s.chars().collect::<Vec<_>>();
            let plain = glob(&chars(&rule.device), &chars(device));
            assert_eq!(rule.watches(device), plain, "{:?} {device:?}", rule.device);
        }
        let Some(measurement) = &rule.measurement else {
            assert_eq!(rule.condition, Condition::OfflineFor);
            absence(&mut engine, rule, device, judged);
            continue;
        };
        if rule.condition == Condition::OfflineFor {
            absence(&mut engine, rule, device, judged);
            continue;
        }
        let (t, h) = (rule.threshold, rule.hysteresis);
        let topic = format!("devices/{device}/telemetry");
        for value in [t, t + h, t - h, t + 1.0, t - 1.0, t, 0.0] {
            if !value.is_finite() {
                continue;
            }
            // A string holding the number: Rust's parse reads it back exactly.
            let mut reading = serde_json::Map::new();
            reading.insert(measurement.clone(), value.to_string().into());
            let reading = serde_json::Value::Object(reading).to_string();
            let was = active(&engine, device);
            let out = engine.observe(&topic, reading.as_bytes(), NOW);
            let is = active(&engine, device);
            let expected = match (judged, was) {
                (false, _) => was,
                (true, true) => !rule.clears(value),
                (true, false) => rule.raises(value),
            };
            assert_eq!(is, expected, "{device:?} read {value}: {rule:?}");
            assert_eq!(out.is_empty(), is == was, "{device:?} read {value}");
        }
    }
}

/// What a device pattern means, plainly (exponential in its `*`s, so only
/// for short ones): `*` any run of characters, `?` any one character.
fn glob(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some(('?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// `offline_for`: the device goes offline, the alarm is due after the
/// threshold (not a millisecond before), and clears when it is back.
fn absence(engine: &mut Engine, rule: &Rule, device: &str, judged: bool) {
    let status = format!("devices/{device}/status");
    let due_ms = rule.threshold * 1000.0;
    if rule.condition != Condition::OfflineFor || due_ms > 1e15 {
        return;
    }
    let due = NOW + due_ms.ceil() as u64;
    assert!(engine.observe(&status, b"offline", NOW).is_empty());
    engine.tick(due - 1);
    assert!(!active(engine, device), "{device:?} before {due}");
    engine.tick(due);
    assert_eq!(active(engine, device), judged, "{device:?} at {due}");
    engine.observe(&status, b"online", due);
    assert!(!active(engine, device), "{device:?} back online");
}

fn active(engine: &Engine, device: &str) -> bool {
    engine
        .active()
        .any(|a| a.device == device && a.rule == "fuzz")
}

/// The parser's first word and the rest, trimmed (as `acl.rs` splits).
fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (text, ""),
    }
}

/// Client ids and user names chosen by clients, some of them hostile.
const CLIENT_IDS: [&str; 5] = ["c1", "alice-phone", "%u", "a/b", "dev 1"];
const USERS: [Option<&str>; 4] = [None, Some("alice"), Some("%c"), Some("a+b")];

/// ACL text: a parsed file has one rule per `topic` and `pattern` line; a
/// client's rules are its own then the patterns, `%c` and `%u` filled in one
/// pass (what is filled in is never read again); every rule is a valid
/// filter; subscribing to a plain topic is allowed exactly when reading it
/// is; and `covers` never claims a filter that reaches a topic its rule does not.
pub fn acl_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let acl = match Acl::parse(text) {
        Ok(acl) => acl,
        Err(err) => {
            assert!(err.line >= 1 && err.line <= text.lines().count(), "{err}");
            return;
        }
    };
    let lines: Vec<(&str, &str)> = text.lines().map(|l| split_word(l.trim())).collect();
    let rule_lines = lines
        .iter()
        .filter(|(k, _)| *k == "topic" || *k == "pattern")
        .count();
    assert_eq!(acl.len(), rule_lines);
    let patterns: Vec<(Permission, &str)> = lines
        .iter()
        .filter(|(k, _)| *k == "pattern")
        .map(|(_, rest)| match split_word(rest) {
            ("read", filter) => (Permission::Read, filter),
            ("write", filter) => (Permission::Write, filter),
            ("readwrite", filter) => (Permission::ReadWrite, filter),
            ("deny", filter) => (Permission::Deny, filter),
            _ => (Permission::ReadWrite, *rest),
        })
        .collect();
    let mut users = USERS.to_vec();
    users.extend(
        lines
            .iter()
            .filter(|(k, _)| *k == "user")
            .map(|(_, name)| Some(*name))
            // The codec refuses U+0000 in a CONNECT's user name.
            .filter(|name| !name.is_some_and(|n| n.contains('\0')))
            .take(3),
    );
    for user in users {
        for id in CLIENT_IDS {
            let rules = acl.rules_for(id, user).rules;
            let expected: Vec<(Permission, String)> = patterns
                .iter()
                .filter_map(|(access, filter)| Some((*access, fill(filter, id, user)?)))
                .collect();
            assert!(rules.len() >= expected.len(), "{id:?} {user:?}");
            let filled: Vec<(Permission, String)> = rules[rules.len() - expected.len()..]
                .iter()
                .map(|r| (r.access, r.filter.clone()))
                .collect();
            assert_eq!(filled, expected, "patterns for {id:?} {user:?}");
            for rule in &rules {
                assert!(validate_topic_filter(&rule.filter).is_ok(), "{rule:?}");
            }
            let client = acl.rules_for(id, user);
            let filters: Vec<&str> = rules
                .iter()
                .map(|r| r.filter.as_str())
                .filter(|f| parse_shared(f).is_none())
                .take(8)
                .collect();
            let mut topics: Vec<String> = ["a/b", "public/x", "$SYS/broker/uptime", "c1", "/"]
                .map(String::from)
                .to_vec();
            topics.extend(
                filters
                    .iter()
                    .map(|f| f.replace('+', "x").replace('#', "x/y")),
            );
            for topic in &topics {
                if validate_topic_name(topic).is_err() || parse_shared(topic).is_some() {
                    continue;
                }
                assert_eq!(
                    client.can_subscribe(topic),
                    client.can_read(topic),
                    "{topic:?} for {id:?} {user:?}"
                );
                for rule in &filters {
                    for filter in &filters {
                        if covers(rule, filter) && matches(filter, topic) {
                            assert!(
                                matches(rule, topic),
                                "{rule:?} covers {filter:?}: {topic:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// A pattern as the documentation defines it: `%c` is the client id, `%u`
/// the user name; `None` when the pattern is skipped for this client.
fn fill(pattern: &str, id: &str, user: Option<&str>) -> Option<String> {
    let unsafe_value = |v: &str| v.contains(['+', '#', '/']);
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('c') {
            if unsafe_value(id) {
                return None;
            }
            out.push_str(id);
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('u') {
            match user {
                Some(user) if !unsafe_value(user) => out.push_str(user),
                _ => return None,
            }
            rest = tail;
        } else {
            out.push('%');
            rest = after;
        }
    }
    out.push_str(rest);
    Some(out)
}

/// A password file's text: a parsed file has one user per line that is not
/// blank or a comment, each a valid user name with a hash a login can be
/// checked against; `kite-server passwd` adding, replacing or deleting a
/// user leaves a file that parses, with one user more, the same, or one less.
pub fn password_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = match PasswordFile::parse(text) {
        Ok(file) => file,
        Err(err) => {
            assert!(err.line >= 1 && err.line <= text.lines().count(), "{err}");
            return;
        }
    };
    let entries: Vec<(&str, &str)> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once(':').expect("a parsed line has a colon"))
        .collect();
    assert_eq!(file.len(), entries.len());
    for (user, hash) in &entries {
        assert_eq!(check_username(user), Ok(()));
        usable_hash(user, hash);
    }
    let new_line = |user: &str| format!("{user}:{SAMPLE_HASH}");
    for (user, _) in entries.iter().take(3) {
        let (updated, found) = update_lines(text, user, Some(&new_line(user)));
        assert!(found, "{user:?}");
        let updated = PasswordFile::parse(&updated).expect("an updated file parses");
        assert_eq!(updated.len(), file.len(), "{user:?} updated");
        let (deleted, found) = update_lines(text, user, None);
        assert!(found, "{user:?}");
        let deleted = PasswordFile::parse(&deleted).expect("a file less a user parses");
        assert_eq!(deleted.len(), file.len() - 1, "{user:?} deleted");
    }
    let newcomer = "fuzz-newcomer";
    let (added, found) = update_lines(text, newcomer, Some(&new_line(newcomer)));
    let known = entries.iter().any(|(u, _)| *u == newcomer);
    assert_eq!(found, known);
    let added = PasswordFile::parse(&added).expect("a file with a new user parses");
    assert_eq!(added.len(), file.len() + usize::from(!known));
}

/// An argon2id PHC string as `kite-server passwd` writes them (of `fuzz`),
/// with the cost lowered to the minimum.
const SAMPLE_HASH: &str =
    "$argon2id$v=19$m=8,t=1,p=1$a2l0ZS1mdXp6LXNhbHQhIQ$YzHYT1ac+Yi6rPUb8VdjTkhZdCQjfKXi2i1/bLfZJYc";

/// The file accepted this hash, so a login must be able to use it: it has a
/// salt and an output, parameters argon2 takes, and, when it is cheap enough
/// to try, a wrong password is merely wrong (never an unusable hash).
fn usable_hash(user: &str, hash: &str) {
    let parsed = PasswordHash::new(hash).expect("an accepted hash parses");
    assert!(
        parsed.salt.is_some() && parsed.hash.is_some(),
        "{user:?}: {hash:?} has no salt or no output"
    );
    let params = argon2::Params::try_from(&parsed);
    assert!(params.is_ok(), "{user:?}: {hash:?}: {params:?}");
    let params = params.unwrap();
    if params.m_cost() <= 64 && params.t_cost() <= 2 && params.p_cost() <= 2 {
        match Argon2::default().verify_password(b"not the password", &parsed) {
            Ok(()) | Err(password_hash::Error::Password) => {}
            Err(err) => panic!("{user:?}: {hash:?} cannot verify: {err}"),
        }
    }
}

/// TOML text as the file `--config` names: the file's settings, checked one
/// by one, also parse together with the command line; an error names the
/// file and one of its lines; and a flag on the command line wins.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let args = |extra: &[&str]| -> Vec<OsString> {
        ["kite-server", "--config", "fuzz.toml"]
            .iter()
            .chain(extra)
            .map(OsString::from)
            .collect()
    };
    let file_args = config_file::file_arguments(Path::new("fuzz.toml"), text, |_| false);
    let config = config_file::parse_with_text(args(&[]), text);
    match (&file_args, &config) {
        (Ok(_), Ok(_)) => {}
        (Err(ConfigError::File(message)), Err(ConfigError::File(again))) => {
            assert_eq!(message, again);
            let line = message
                .strip_prefix("fuzz.toml:")
                .and_then(|rest| rest.split(':').next())
                .and_then(|n| n.parse::<usize>().ok());
            let lines = text.lines().count().max(1);
            assert!(
                line.is_some_and(|n| n >= 1 && n <= lines + 1),
                "{message:?} names no line of {lines}"
            );
        }
        (Ok(flags), Err(err)) => panic!("{flags:?} pass one by one, not together: {err}"),
        (file, whole) => panic!("file: {file:?}\nwhole: {:?}", whole.as_ref().err()),
    }
    if config.is_ok() {
        let config = config_file::parse_with_text(args(&["--max-connections", "7"]), text)
            .expect("a valid file with a valid flag");
        assert_eq!(config.max_connections, 7, "the command line wins");
    }
}
