//! Topic names and filters (spec §4.7) and shared subscriptions (§4.8.2).
//!
//! Topic names are what PUBLISH carries; filters are what SUBSCRIBE carries
//! and may contain the wildcards `+` (one level) and `#` (this level and all
//! below, last level only). The decoder uses these checks, and the broker
//! uses [`matches`] to route.

/// Why a topic name or filter is invalid.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError {
    /// Topic names and filters are at least one character (MQTT-4.7.3-1).
    #[error("empty topic")]
    Empty,
    /// Longer than the 65,535 bytes a string field can carry.
    #[error("topic longer than 65535 bytes")]
    TooLong,
    /// U+0000 (MQTT-4.7.3-2).
    #[error("U+0000 in topic")]
    NullCharacter,
    /// `+` or `#` in a topic name (MQTT-4.7.0-1).
    #[error("wildcard in topic name")]
    WildcardInName,
    /// `#` not alone in the last level (MQTT-4.7.1-2): `a/#/b`, `a#`, `#a`.
    #[error("'#' must be the whole last level")]
    MisplacedMultiLevelWildcard,
    /// `+` not alone in its level (MQTT-4.7.1-3): `a+`, `+a/b`.
    #[error("'+' must be a whole level")]
    MisplacedSingleLevelWildcard,
    /// `$share/` with an empty share name or one containing `+` or `#`.
    #[error("invalid share name")]
    InvalidShareName,
    /// `$share/<group>` without a `/<filter>` after it, or an empty filter.
    #[error("shared subscription without a topic filter")]
    MissingSharedFilter,
}

/// Prefix of a shared subscription filter.
const SHARE_PREFIX: &str = "$share/";

/// Checks a topic name: non-empty, no wildcards, no U+0000, fits a string.
/// (An empty name with a v5 topic alias is allowed by the PUBLISH decoder,
/// not here.)
pub fn validate_topic_name(topic: &str) -> Result<(), TopicError> {
    check_common(topic)?;
    if topic.contains(['+', '#']) {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Checks a topic filter, including the `$share/<group>/<filter>` form.
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    match parse_shared(filter) {
        Some(shared) => shared.map(|_| ()),
        None => validate_plain_filter(filter),
    }
}

/// Filter syntax without the `$share` rule.
fn validate_plain_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(TopicError::MisplacedMultiLevelWildcard);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::MisplacedSingleLevelWildcard);
        }
    }
    Ok(())
}

fn check_common(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > crate::protocol::MAX_FIELD_LEN {
        return Err(TopicError::TooLong);
    }
    if topic.contains('\0') {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// True when the topic name `topic` matches the (non-shared) filter `filter`.
///
/// `+` matches exactly one level (possibly empty), `#` matches the parent
/// level and everything below it (`sport/#` matches `sport`), and a filter
/// starting with a wildcard does not match topics starting with `$`
/// (MQTT-4.7.2-1), so `#` does not see `$SYS/...`. Both arguments are assumed
/// valid; for a shared filter, pass [`SharedFilter::filter`].
///
/// ```
/// use mqtt::topic::matches;
/// assert!(matches("sport/+/player1", "sport/tennis/player1"));
/// assert!(matches("sport/#", "sport"));
/// assert!(!matches("#", "$SYS/uptime"));
/// ```
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The parts of a shared subscription filter `$share/<group>/<filter>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    /// The share name: messages are spread over the group's subscribers.
    pub group: &'a str,
    /// The topic filter proper, used for matching.
    pub filter: &'a str,
}

/// `None` when `filter` is not a shared subscription (does not start with
/// `$share/`); otherwise its parts, or why the shared form is malformed
/// (MQTT-4.8.2-1, MQTT-4.8.2-2).
///
/// ```
/// use mqtt::topic::{parse_shared, SharedFilter, TopicError};
/// let shared = parse_shared("$share/workers/jobs/+").unwrap().unwrap();
/// assert_eq!(shared, SharedFilter { group: "workers", filter: "jobs/+" });
/// assert_eq!(parse_shared("jobs/+"), None);
/// assert_eq!(parse_shared("$share/workers"), Some(Err(TopicError::MissingSharedFilter)));
/// ```
pub fn parse_shared(filter: &str) -> Option<Result<SharedFilter<'_>, TopicError>> {
    let rest = filter.strip_prefix(SHARE_PREFIX)?;
    // The whole filter, share name included, is one string field: no U+0000
    // in the share name either, and the 65,535-byte limit is for all of it.
    Some(check_common(filter).and_then(|()| split_shared(rest)))
}

fn split_shared(rest: &str) -> Result<SharedFilter<'_>, TopicError> {
    let (group, filter) = rest
        .split_once('/')
        .ok_or(TopicError::MissingSharedFilter)?;
    if group.is_empty() || group.contains(['+', '#']) {
        return Err(TopicError::InvalidShareName);
    }
    if filter.is_empty() {
        return Err(TopicError::MissingSharedFilter);
    }
    validate_plain_filter(filter)?;
    Ok(SharedFilter { group, filter })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        let cases: &[(&str, Result<(), TopicError>)] = &[
            ("sport/tennis/player1", Ok(())),
            ("/", Ok(())),
            ("/finance", Ok(())),
            ("a//b", Ok(())),
            (" ", Ok(())),
            ("$SYS/broker/uptime", Ok(())),
            ("ü/ñ", Ok(())),
            ("", Err(TopicError::Empty)),
            ("a/+", Err(TopicError::WildcardInName)),
            ("a/#", Err(TopicError::WildcardInName)),
            ("a+b", Err(TopicError::WildcardInName)),
            ("a\0b", Err(TopicError::NullCharacter)),
        ];
        for (topic, expected) in cases {
            assert_eq!(validate_topic_name(topic), *expected, "{topic:?}");
        }
        assert_eq!(
            validate_topic_name(&"a".repeat(65_536)),
            Err(TopicError::TooLong)
        );
        assert_eq!(validate_topic_name(&"a".repeat(65_535)), Ok(()));
    }

    #[test]
    fn topic_filters() {
        use TopicError::*;
        let cases: &[(&str, Result<(), TopicError>)] = &[
            // §4.7.1.2 examples.
            ("sport/tennis/player1/#", Ok(())),
            ("sport/#", Ok(())),
            ("#", Ok(())),
            ("sport/tennis#", Err(MisplacedMultiLevelWildcard)),
            ("sport/tennis/#/ranking", Err(MisplacedMultiLevelWildcard)),
            // §4.7.1.3 examples.
            ("+", Ok(())),
            ("+/tennis/#", Ok(())),
            ("sport/+/player1", Ok(())),
            ("sport+", Err(MisplacedSingleLevelWildcard)),
            ("/+", Ok(())),
            ("+/+", Ok(())),
            ("a/#/b", Err(MisplacedMultiLevelWildcard)),
            ("a+", Err(MisplacedSingleLevelWildcard)),
            ("#a", Err(MisplacedMultiLevelWildcard)),
            ("a/+b/c", Err(MisplacedSingleLevelWildcard)),
            ("##", Err(MisplacedMultiLevelWildcard)),
            ("", Err(Empty)),
            ("a\0", Err(NullCharacter)),
            // Shared subscriptions (§4.8.2).
            ("$share/group/sport/#", Ok(())),
            ("$share/g/+", Ok(())),
            ("$share/g", Err(MissingSharedFilter)),
            ("$share/g/", Err(MissingSharedFilter)),
            ("$share//a", Err(InvalidShareName)),
            ("$share/g+/a", Err(InvalidShareName)),
            ("$share/#/a", Err(InvalidShareName)),
            ("$share/g/a/#/b", Err(MisplacedMultiLevelWildcard)),
            // Found by the `topic` fuzz target: U+0000 in the share name.
            ("$share/A\0\0\0\0\0\n/$e/]e/", Err(NullCharacter)),
            ("$share/g\0/a", Err(NullCharacter)),
            // Not a shared filter: no slash after "$share".
            ("$share", Ok(())),
            ("$shared/a", Ok(())),
        ];
        for (filter, expected) in cases {
            assert_eq!(validate_topic_filter(filter), *expected, "{filter:?}");
        }
    }

    #[test]
    fn matching() {
        let cases: &[(&str, &str, bool)] = &[
            // §4.7.1.2: "sport/tennis/player1/#".
            ("sport/tennis/player1/#", "sport/tennis/player1", true),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/ranking",
                true,
            ),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/score/wimbledon",
                true,
            ),
            ("sport/#", "sport", true),
            ("#", "sport/tennis", true),
            ("#", "/", true),
            // §4.7.1.3: "+".
            ("sport/tennis/+", "sport/tennis/player1", true),
            ("sport/tennis/+", "sport/tennis/player2", true),
            ("sport/tennis/+", "sport/tennis/player1/ranking", false),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("+/+", "/finance", true),
            ("/+", "/finance", true),
            ("+", "/finance", false),
            ("+", "finance", true),
            ("+/tennis/#", "sport/tennis", true),
            ("+/tennis/#", "sport/tennis/x/y", true),
            ("+/tennis/#", "sport/golf", false),
            // Exact and case-sensitive.
            ("a/b", "a/b", true),
            ("a/b", "a/B", false),
            ("a/b", "a/b/c", false),
            ("a/b/c", "a/b", false),
            ("a//b", "a//b", true),
            ("a/+/b", "a//b", true),
            // §4.7.2: wildcard-first filters do not match $-topics.
            ("#", "$SYS/broker/uptime", false),
            ("+/monitor/Clients", "$SYS/monitor/Clients", false),
            ("$SYS/#", "$SYS/", true),
            ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
            ("$SYS/#", "$SYS", true),
        ];
        for (filter, topic, expected) in cases {
            assert_eq!(matches(filter, topic), *expected, "{filter:?} vs {topic:?}");
        }
    }

    #[test]
    fn shared_parsing() {
        assert_eq!(parse_shared("sport/#"), None);
        assert_eq!(parse_shared("$share"), None);
        assert_eq!(
            parse_shared("$share/consumers/sport/+/x"),
            Some(Ok(SharedFilter {
                group: "consumers",
                filter: "sport/+/x"
            }))
        );
        assert_eq!(
            parse_shared("$share/g/#"),
            Some(Ok(SharedFilter {
                group: "g",
                filter: "#"
            }))
        );
        assert_eq!(
            parse_shared("$share/g"),
            Some(Err(TopicError::MissingSharedFilter))
        );
        assert_eq!(
            parse_shared("$share//x"),
            Some(Err(TopicError::InvalidShareName))
        );
        assert_eq!(
            parse_shared("$share/g\0/x"),
            Some(Err(TopicError::NullCharacter))
        );
        let long = format!("$share/{}/x", "g".repeat(65_535));
        assert_eq!(parse_shared(&long), Some(Err(TopicError::TooLong)));
        assert_eq!(validate_topic_filter(&long), Err(TopicError::TooLong));
    }
}
