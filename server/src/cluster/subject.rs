//! MQTT topics and filters as NATS subjects, so that NATS's interest-based
//! routing carries exactly what MQTT's matching would, and any topic a
//! client may send comes back unchanged.
//!
//! - Two roots: `K.m.` for ordinary topics, `K.s.` for topics whose first
//!   level starts with `$`. A filter whose first level is a wildcard maps
//!   into `K.m.` only, which is MQTT-4.7.2-1 (no `$` topics for `#` or `+`
//!   at the start) by construction.
//! - A level made only of `[A-Za-z0-9_-]` (and not empty) is a token as it
//!   is; any other level (`.`, `*`, `>`, spaces, UTF-8, `=`, the empty
//!   level) is `=` followed by its bytes in unpadded base64url. No client
//!   topic can become a NATS wildcard, and no two topics share a subject.
//! - `==` ends every topic's subject, so the filter `a/#` is the one subject
//!   `K.m.a.>`, which also matches `K.m.a.==` (the topic `a`, as `#`
//!   includes the parent level), and `a/+` is `K.m.a.*.==`.
//!
//! Unlike nats-server's own MQTT support (which maps `.` to `//` and leaves
//! `*` and `>` in topic names as wildcards), this is a bijection; the tests
//! prove it and that NATS matching agrees with MQTT matching.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

/// The prefix of every subject Kite publishes messages on.
pub(crate) const ROOT: &str = "K";
/// The root of the subjects QoS 1/2 messages are stored under in the
/// stream (`super::messages`): never a core NATS message's.
pub(crate) const STREAM_ROOT: &str = "KQ";
/// Ends every topic's subject.
const END: &str = "==";

/// The subject a topic name is published on.
pub(crate) fn topic_subject(topic: &str) -> String {
    topic_subject_under(ROOT, topic)
}

/// [`topic_subject`] under another first token (the message stream's).
pub(crate) fn topic_subject_under(root: &str, topic: &str) -> String {
    let mut out = String::with_capacity(root.len() + topic.len() + 8);
    out.push_str(root);
    out.push_str(if topic.starts_with('$') { ".s" } else { ".m" });
    for level in topic.split('/') {
        out.push('.');
        push_level(&mut out, level);
    }
    out.push('.');
    out.push_str(END);
    out
}

/// The subject a topic filter (without a `$share/<group>/` prefix)
/// subscribes to.
pub(crate) fn filter_subject(filter: &str) -> String {
    let mut out = String::with_capacity(filter.len() + 8);
    out.push_str(ROOT);
    out.push_str(if filter.starts_with('$') { ".s" } else { ".m" });
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        out.push('.');
        match level {
            // `#` is always last (the filter was validated).
            "#" => return out + ">",
            "+" => out.push('*'),
            level => push_level(&mut out, level),
        }
        if levels.peek().is_none() {
            out.push('.');
            out.push_str(END);
        }
    }
    out
}

/// The topic a message subject carries; `None` for a subject that is not
/// one of [`topic_subject`]'s. (The retained bucket's keys are subjects;
/// the tests prove the mapping one-to-one with it.)
pub(crate) fn subject_topic(subject: &str) -> Option<String> {
    let rest = subject.strip_prefix(ROOT)?.strip_prefix('.')?;
    let (root, rest) = rest.split_once('.')?;
    let body = rest.strip_suffix(END)?.strip_suffix('.')?;
    let mut topic = String::with_capacity(body.len());
    for (i, token) in body.split('.').enumerate() {
        if i > 0 {
            topic.push('/');
        }
        match token.strip_prefix('=') {
            Some(encoded) => {
                let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
                topic.push_str(&String::from_utf8(bytes).ok()?);
            }
            None if !token.is_empty() && token.bytes().all(plain) => topic.push_str(token),
            None => return None,
        }
    }
    let dollar = topic.starts_with('$');
    match root {
        "s" if dollar => Some(topic),
        "m" if !dollar => Some(topic),
        _ => None,
    }
}

fn plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

fn push_level(out: &mut String, level: &str) {
    if !level.is_empty() && level.bytes().all(plain) {
        out.push_str(level);
    } else {
        out.push('=');
        URL_SAFE_NO_PAD.encode_string(level.as_bytes(), out);
    }
}

/// NATS subject matching (`*` one token, `>` one or more at the end), to
/// test the mapping against MQTT's; the server does this for real.
#[cfg(test)]
fn nats_matches(pattern: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for want in pattern.split('.') {
        match (want, tokens.next()) {
            (">", Some(_)) => return true,
            (_, None) => return false,
            ("*", Some(_)) => {}
            (want, Some(got)) if want == got => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn subjects_read_as_the_design_says() {
        assert_eq!(topic_subject("a/b"), "K.m.a.b.==");
        assert_eq!(topic_subject("a"), "K.m.a.==");
        assert_eq!(topic_subject("a.b/c d"), "K.m.=YS5i.=YyBk.==");
        assert_eq!(topic_subject("a//b"), "K.m.a.=.b.==");
        assert_eq!(topic_subject("foo/>"), "K.m.foo.=Pg.==");
        assert_eq!(topic_subject("$SYS/x"), "K.s.=JFNZUw.x.==");
        assert_eq!(filter_subject("a/#"), "K.m.a.>");
        assert_eq!(filter_subject("#"), "K.m.>");
        assert_eq!(filter_subject("a/+"), "K.m.a.*.==");
        assert_eq!(filter_subject("+/b/#"), "K.m.*.b.>");
        assert_eq!(filter_subject("$SYS/#"), "K.s.=JFNZUw.>");
        assert_eq!(subject_topic("K.m.a.*.=="), None, "a filter is no topic");
        assert_eq!(subject_topic("K.s.a.=="), None, "`a` has no `$`");
        assert_eq!(subject_topic("K.m.a.b"), None, "no end");
    }

    /// Topic levels from what clients really send: plain words, empty
    /// levels, dots, NATS wildcards, spaces, `=`, `$`, UTF-8.
    fn level() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9_-]{1,6}",
            Just(String::new()),
            "[a-c.*> =$é€-]{1,5}",
            any::<String>().prop_map(|s| s.replace(['/', '+', '#', '\0'], "")),
        ]
    }

    fn topic() -> impl Strategy<Value = String> {
        prop::collection::vec(level(), 1..5).prop_map(|levels| levels.join("/"))
    }

    /// Filters over a small alphabet, so that they often match the topics.
    fn filter() -> impl Strategy<Value = String> {
        let level = prop_oneof![
            "[ab]",
            Just(String::new()),
            Just("+".into()),
            Just("$a".into())
        ];
        (prop::collection::vec(level, 1..4), any::<bool>()).prop_map(|(mut levels, hash)| {
            if hash {
                levels.push("#".into());
            }
            levels.join("/")
        })
    }

    fn small_topic() -> impl Strategy<Value = String> {
        let level = prop_oneof!["[ab]", Just(String::new()), Just("$a".into())];
        prop::collection::vec(level, 1..5).prop_map(|levels| levels.join("/"))
    }

    proptest! {
        #[test]
        fn every_topic_comes_back_unchanged(topic in topic()) {
            prop_assert_eq!(subject_topic(&topic_subject(&topic)), Some(topic));
        }

        #[test]
        fn no_two_topics_share_a_subject(a in topic(), b in topic()) {
            prop_assert_eq!(topic_subject(&a) == topic_subject(&b), a == b);
        }

        #[test]
        fn a_topic_subject_has_no_wildcard_and_only_safe_tokens(topic in topic()) {
            let subject = topic_subject(&topic);
            for token in subject.split('.') {
                prop_assert!(!token.is_empty());
                prop_assert!(token != "*" && token != ">");
                prop_assert!(token.bytes().all(|b| plain(b) || b == b'='));
            }
        }

        #[test]
        fn nats_matching_agrees_with_mqtt_matching(filter in filter(), topic in small_topic()) {
            prop_assume!(mqtt::topic::validate_topic_filter(&filter).is_ok());
            prop_assume!(mqtt::topic::validate_topic_name(&topic).is_ok());
            prop_assert_eq!(
                nats_matches(&filter_subject(&filter), &topic_subject(&topic)),
                mqtt::topic::matches(&filter, &topic),
                "filter {:?} topic {:?}: {} / {}", filter, topic, filter_subject(&filter), topic_subject(&topic)
            );
        }
    }
}
