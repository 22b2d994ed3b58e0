//! Authorisation: the ACL file (`--acl-file`) in Mosquitto's form.
//!
//! ```text
//! # Rules before any `user` line apply to anonymous clients.
//! topic read public/#
//!
//! user alice
//! topic readwrite alice/#
//! topic read $SYS/#
//!
//! # Patterns apply to every client: %c is its client id, %u its user name.
//! pattern write devices/%c/#
//! pattern read users/%u/inbox
//! ```
//!
//! A rule's permission is `read`, `write`, `readwrite` (the default when left out) or
//! `deny`; the topic is the rest of the line and may contain spaces.
//! Without an ACL file everything is allowed. With one, nothing is allowed
//! unless a rule says so, and a `deny` rule wins over the others:
//!
//! - PUBLISH (and a will): a `write` rule must match the topic.
//! - SUBSCRIBE: a `read` rule must cover the whole filter (every topic the
//!   filter can match, as in Mosquitto 2), and no `deny` rule may cover it.
//! - Each delivery is checked again (`read` matching the topic, no `deny`),
//!   so a reloaded ACL applies to existing subscriptions and a `deny` carves
//!   topics out of a wider filter.
//!
//! `+` and `#` at the start of a rule do not match topics beginning with
//! `$`, so `$SYS/...` is readable only where a rule names it. A pattern is
//! skipped for a client whose id (or user name) contains `+`, `#` or `/`,
//! and `%u` patterns are skipped for anonymous clients.

use std::{collections::HashMap, fmt, path::Path};

/// What a rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Permission {
    fn reads(self) -> bool {
        matches!(self, Permission::Read | Permission::ReadWrite)
    }

    fn writes(self) -> bool {
        matches!(self, Permission::Write | Permission::ReadWrite)
    }
}

/// One `topic` or `pattern` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRule {
    pub access: Permission,
    pub filter: String,
}

/// A line of an ACL or password file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A parsed ACL file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    anonymous: Vec<TopicRule>,
    users: HashMap<String, Vec<TopicRule>>,
    patterns: Vec<TopicRule>,
}

impl Acl {
    /// Read and parse an ACL file; the error names the file and the line.
    pub fn load(path: &Path) -> Result<Acl, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read ACL file {}: {err}", path.display()))?;
        Acl::parse(&text).map_err(|err| format!("ACL file {}: {err}", path.display()))
    }

    /// Parse the text of an ACL file.
    pub fn parse(text: &str) -> Result<Acl, ParseError> {
        let mut acl = Acl::default();
        let mut user: Option<String> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let error = |message: String| ParseError { line, message };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (keyword, rest) = split_word(trimmed);
            match keyword {
                "user" => {
                    if rest.is_empty() {
                        return Err(error("`user` needs a user name".into()));
                    }
                    user = Some(rest.to_string());
                    acl.users.entry(rest.to_string()).or_default();
                }
                "topic" | "pattern" => {
                    let (first, after) = split_word(rest);
                    let (access, filter) = match first {
                        "read" => (Permission::Read, after),
                        "write" => (Permission::Write, after),
                        "readwrite" => (Permission::ReadWrite, after),
                        "deny" => (Permission::Deny, after),
                        _ => (Permission::ReadWrite, rest),
                    };
                    if filter.is_empty() {
                        return Err(error(format!("`{keyword}` needs a topic")));
                    }
                    let check = filter.replace("%c", "c").replace("%u", "u");
                    if let Err(err) = mqtt::topic::validate_topic_filter(&check) {
                        return Err(error(format!("invalid topic filter `{filter}`: {err}")));
                    }
                    let rule = TopicRule {
                        access,
                        filter: filter.to_string(),
                    };
                    match (keyword, &user) {
                        ("pattern", _) => acl.patterns.push(rule),
                        (_, Some(user)) => acl.users.entry(user.clone()).or_default().push(rule),
                        (_, None) => acl.anonymous.push(rule),
                    }
                }
                other => {
                    return Err(error(format!(
                        "unknown keyword `{other}` (expected `user`, `topic` or `pattern`)"
                    )))
                }
            }
        }
        Ok(acl)
    }

    /// Number of rules, for logs.
    pub fn len(&self) -> usize {
        self.anonymous.len()
            + self.patterns.len()
            + self.users.values().map(Vec::len).sum::<usize>()
    }

    /// True when the file holds no rule (so nothing is allowed).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rules that apply to one client, patterns filled in.
    pub fn rules_for(&self, client_id: &str, username: Option<&str>) -> ClientRules {
        let mut rules = match username {
            Some(user) => self.users.get(user).cloned().unwrap_or_default(),
            None => self.anonymous.clone(),
        };
        for pattern in &self.patterns {
            if let Some(filter) = fill(&pattern.filter, client_id, username) {
                rules.push(TopicRule {
                    access: pattern.access,
                    filter,
                });
            }
        }
        ClientRules { rules }
    }
}

/// A pattern's filter for one client: `%c` and `%u` replaced in one pass,
/// so what is filled in is never read again (a client id `%u` stays `%u`).
/// `None` skips the pattern: the value it needs is missing (`%u` of an
/// anonymous client) or contains `+`, `#` or `/`.
pub(crate) fn fill(pattern: &str, client_id: &str, username: Option<&str>) -> Option<String> {
    let mut filter = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(at) = rest.find('%') {
        filter.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let value = match after.as_bytes().first() {
            Some(b'c') => client_id,
            Some(b'u') => username?,
            _ => {
                filter.push('%');
                rest = after;
                continue;
            }
        };
        if value.contains(['+', '#', '/']) {
            return None;
        }
        filter.push_str(value);
        rest = &after[1..];
    }
    filter.push_str(rest);
    Some(filter)
}

/// The rules of one client: what its connection checks against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientRules {
    pub rules: Vec<TopicRule>,
}

impl ClientRules {
    /// May the client publish to `topic`?
    pub fn can_write(&self, topic: &str) -> bool {
        self.allows(topic, Permission::writes)
    }

    /// May the client receive a message on `topic`?
    pub fn can_read(&self, topic: &str) -> bool {
        self.allows(topic, Permission::reads)
    }

    fn allows(&self, topic: &str, grants: fn(Permission) -> bool) -> bool {
        let mut allowed = false;
        for rule in &self.rules {
            if !mqtt::topic::matches(&rule.filter, topic) {
                continue;
            }
            if rule.access == Permission::Deny {
                return false;
            }
            allowed |= grants(rule.access);
        }
        allowed
    }

    /// May the client subscribe to `filter` (a shared subscription is
    /// judged by its topic filter)?
    pub fn can_subscribe(&self, filter: &str) -> bool {
        let filter = match mqtt::topic::parse_shared(filter) {
            Some(Ok(shared)) => shared.filter,
            _ => filter,
        };
        let mut allowed = false;
        for rule in &self.rules {
            if !covers(&rule.filter, filter) {
                continue;
            }
            if rule.access == Permission::Deny {
                return false;
            }
            allowed |= rule.access.reads();
        }
        allowed
    }
}

/// True when every topic that `filter` matches is matched by `rule` too.
pub fn covers(rule: &str, filter: &str) -> bool {
    let mut rule_levels = rule.split('/');
    let mut filter_levels = filter.split('/');
    let mut first = true;
    loop {
        let (r, f) = (rule_levels.next(), filter_levels.next());
        // A leading wildcard in the rule does not reach `$` topics; a filter
        // whose first level is a wildcard matches no `$` topic either.
        let dollar = first && f.is_some_and(|f| f.starts_with('$'));
        first = false;
        match (r, f) {
            (Some("#"), Some(_)) => return !dollar,
            // `a/#` also matches `a`.
            (Some("#"), None) => return true,
            (Some("+"), Some(f)) => {
                if f == "#" || dollar {
                    return false;
                }
            }
            (Some(r), Some(f)) => {
                if r != f || f == "+" || f == "#" {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
    }
}

fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (text, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic read $SYS/broker/clients/#
topic deny alice/secret
topic with space/x

user bob
topic write bob/out

pattern write devices/%c/#
pattern read users/%u/inbox
";

    #[test]
    fn parses_users_anonymous_rules_and_patterns() {
        let acl = Acl::parse(FILE).unwrap();
        assert_eq!(acl.anonymous.len(), 1);
        assert_eq!(acl.users["alice"].len(), 4);
        assert_eq!(
            acl.users["alice"][3],
            TopicRule {
                access: Permission::ReadWrite,
                filter: "with space/x".into()
            }
        );
        assert_eq!(acl.patterns.len(), 2);
        assert_eq!(acl.len(), 8);
    }

    #[test]
    fn errors_name_the_line() {
        let err = Acl::parse("user a\ntopic read a/#\nsubscribe x\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("subscribe"), "{err}");
        let err = Acl::parse("\n\ntopic read a/#/b\n").unwrap_err();
        assert_eq!(err.line, 3);
        let err = Acl::parse("topic read\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(Acl::parse("user\n").is_err());
    }

    #[test]
    fn writes_and_reads() {
        let acl = Acl::parse(FILE).unwrap();
        let alice = acl.rules_for("alice-phone", Some("alice"));
        assert!(alice.can_write("alice/x"));
        assert!(alice.can_read("alice/x/y"));
        assert!(!alice.can_write("alice/secret"));
        assert!(!alice.can_read("alice/secret"));
        assert!(
            !alice.can_write("public/x"),
            "anonymous rules are not alice's"
        );
        assert!(alice.can_write("devices/alice-phone/t"));
        assert!(!alice.can_write("devices/other/t"));
        assert!(alice.can_read("users/alice/inbox"));
        assert!(!alice.can_read("users/bob/inbox"));
        let bob = acl.rules_for("b", Some("bob"));
        assert!(bob.can_write("bob/out"));
        assert!(!bob.can_read("bob/out"), "write-only");
        let anon = acl.rules_for("anon", None);
        assert!(anon.can_read("public/a"));
        assert!(!anon.can_write("public/a"));
        assert!(
            !anon.can_read("users/anon/inbox"),
            "%u is never filled for anonymous"
        );
        let stranger = acl.rules_for("s", Some("mallory"));
        assert!(!stranger.can_read("public/a"));
    }

    #[test]
    fn patterns_skip_ids_that_would_widen_them() {
        let acl = Acl::parse("pattern write devices/%c/#\n").unwrap();
        assert!(!acl.rules_for("+", None).can_write("devices/x/y"));
        assert!(!acl.rules_for("a/b", None).can_write("devices/a/b/c"));
        assert!(acl.rules_for("ok", None).can_write("devices/ok/c"));
    }

    /// Found by the `acl_file` fuzz target: `%c` was replaced first, then
    /// `%u` in the result, so a client naming itself `%u` got its user
    /// name's topics (`devices/alice/#` for alice's client `%u`).
    #[test]
    fn patterns_fill_in_one_pass() {
        let acl = Acl::parse("pattern write devices/%c/#\npattern read %u/%c\n").unwrap();
        let sneaky = acl.rules_for("%u", Some("alice"));
        assert!(sneaky.can_write("devices/%u/x"));
        assert!(!sneaky.can_write("devices/alice/x"));
        assert!(sneaky.can_read("alice/%u"));
        let anonymous = acl.rules_for("%u", None);
        assert!(anonymous.can_write("devices/%u/x"), "needs no user name");
        let odd_user = acl.rules_for("c", Some("%c"));
        assert!(odd_user.can_read("%c/c"));
        assert!(!odd_user.can_read("c/c"));
        assert_eq!(fill("%%c-%x%", "id", None).as_deref(), Some("%id-%x%"));
    }

    #[test]
    fn subscriptions_must_be_covered() {
        let acl = Acl::parse(FILE).unwrap();
        let alice = acl.rules_for("alice-phone", Some("alice"));
        assert!(alice.can_subscribe("alice/#"));
        assert!(alice.can_subscribe("alice/+/x"));
        assert!(!alice.can_subscribe("#"));
        assert!(!alice.can_subscribe("+/x"));
        assert!(!alice.can_subscribe("alice/secret"), "denied outright");
        assert!(alice.can_subscribe("$SYS/broker/clients/connected"));
        assert!(!alice.can_subscribe("$SYS/#"));
        assert!(alice.can_subscribe("$share/g/alice/x"));
        assert!(!alice.can_subscribe("$share/g/bob/x"));
    }

    #[test]
    fn sys_topics_need_a_rule_that_names_them() {
        let acl = Acl::parse("topic read #\n").unwrap();
        let anon = acl.rules_for("c", None);
        assert!(anon.can_subscribe("#"));
        assert!(anon.can_subscribe("a/+"));
        assert!(!anon.can_subscribe("$SYS/#"));
        assert!(!anon.can_read("$SYS/broker/uptime"));
        assert!(anon.can_read("a/b"));
        let sys = Acl::parse("topic read $SYS/#\n")
            .unwrap()
            .rules_for("c", None);
        assert!(sys.can_subscribe("$SYS/#"));
        assert!(sys.can_read("$SYS/broker/uptime"));
    }

    #[test]
    fn covering() {
        assert!(covers("a/#", "a/#"));
        assert!(covers("a/#", "a"));
        assert!(covers("a/#", "a/b/+"));
        assert!(covers("a/+", "a/b"));
        assert!(covers("a/+", "a/+"));
        assert!(!covers("a/+", "a/#"));
        assert!(!covers("a/b", "a/+"));
        assert!(!covers("a/+/c", "a/+"));
        assert!(covers("#", "#"));
        assert!(covers("+/+", "+/x"));
        assert!(!covers("#", "$SYS/x"));
        assert!(!covers("+/x", "$SYS/x"));
        assert!(covers("$SYS/#", "$SYS/x"));
        assert!(!covers("a", "a/b"));
    }
}
