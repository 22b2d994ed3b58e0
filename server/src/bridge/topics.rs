//! Which topics a bridge carries and what they are called on the other
//! side: Mosquitto's `topic` lines. A rule's local topics are
//! `local_prefix + pattern`, its remote ones `remote_prefix + pattern`; a
//! message is renamed by swapping one prefix for the other. The first rule
//! (in the order given) that matches a topic decides.

use mqtt::{topic::matches, QoS};

use crate::config::bridge::{Direction, TopicRule};

/// A bridge's rules, ready to match.
#[derive(Debug, Clone)]
pub(crate) struct Routes {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    direction: Direction,
    qos: QoS,
    local_prefix: String,
    remote_prefix: String,
    local_filter: String,
    remote_filter: String,
}

impl Routes {
    pub(crate) fn new(rules: &[TopicRule]) -> Routes {
        let rules = rules
            .iter()
            .map(|rule| Rule {
                direction: rule.direction,
                qos: QoS::from_u8(rule.qos).unwrap_or(QoS::AtMostOnce),
                local_prefix: rule.local_prefix.clone(),
                remote_prefix: rule.remote_prefix.clone(),
                local_filter: rule.local_filter(),
                remote_filter: rule.remote_filter(),
            })
            .collect();
        Routes { rules }
    }

    /// What to subscribe to on this broker: (filter, QoS), once each.
    pub(crate) fn local_subscriptions(&self) -> Vec<(String, QoS)> {
        unique(
            self.rules
                .iter()
                .filter(|r| r.direction.outgoing())
                .map(|r| (r.local_filter.clone(), r.qos)),
        )
    }

    /// What to subscribe to on the remote: (filter, QoS), once each.
    pub(crate) fn remote_subscriptions(&self) -> Vec<(String, QoS)> {
        unique(
            self.rules
                .iter()
                .filter(|r| r.direction.incoming())
                .map(|r| (r.remote_filter.clone(), r.qos)),
        )
    }

    /// The remote name of a local topic going out, if a rule carries it.
    pub(crate) fn outgoing(&self, local: &str) -> Option<String> {
        self.rules
            .iter()
            .filter(|r| r.direction.outgoing() && matches(&r.local_filter, local))
            .find_map(|r| rename(local, &r.local_prefix, &r.remote_prefix))
    }

    /// The local name of a remote topic coming in, if a rule carries it.
    pub(crate) fn incoming(&self, remote: &str) -> Option<String> {
        self.rules
            .iter()
            .filter(|r| r.direction.incoming() && matches(&r.remote_filter, remote))
            .find_map(|r| rename(remote, &r.remote_prefix, &r.local_prefix))
    }

    /// Topics that travel both ways (a message could come back): for the
    /// warning when the remote cannot be asked not to echo.
    pub(crate) fn both_ways(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter(|r| r.direction == Direction::Both)
            .map(|r| r.local_filter.clone())
            .collect()
    }
}

/// `topic` with `from` swapped for `to`; `None` if it does not start with `from`.
fn rename(topic: &str, from: &str, to: &str) -> Option<String> {
    let rest = topic.strip_prefix(from)?;
    let renamed = format!("{to}{rest}");
    (!renamed.is_empty()).then_some(renamed)
}

/// Each filter once, at the highest QoS any rule asks for it.
fn unique(pairs: impl Iterator<Item = (String, QoS)>) -> Vec<(String, QoS)> {
    let mut out: Vec<(String, QoS)> = Vec::new();
    for (filter, qos) in pairs {
        match out.iter_mut().find(|(f, _)| *f == filter) {
            Some((_, q)) => *q = (*q).max(qos),
            None => out.push((filter, qos)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, direction: Direction, local: &str, remote: &str) -> TopicRule {
        TopicRule {
            pattern: pattern.into(),
            direction,
            qos: 1,
            local_prefix: local.into(),
            remote_prefix: remote.into(),
        }
    }

    #[test]
    fn prefixes_are_swapped_each_way() {
        let routes = Routes::new(&[rule("sensors/#", Direction::Both, "local/", "remote/")]);
        assert_eq!(
            routes.outgoing("local/sensors/a/t").as_deref(),
            Some("remote/sensors/a/t")
        );
        assert_eq!(
            routes.incoming("remote/sensors/x").as_deref(),
            Some("local/sensors/x")
        );
        assert_eq!(routes.outgoing("sensors/a"), None, "no local prefix");
        assert_eq!(routes.incoming("local/sensors/a"), None);
        assert_eq!(
            routes.local_subscriptions(),
            vec![("local/sensors/#".to_string(), QoS::AtLeastOnce)]
        );
        assert_eq!(
            routes.remote_subscriptions(),
            vec![("remote/sensors/#".to_string(), QoS::AtLeastOnce)]
        );
    }

    #[test]
    fn direction_decides_which_side_subscribes() {
        let routes = Routes::new(&[
            rule("out/#", Direction::Out, "", ""),
            rule("in/#", Direction::In, "", ""),
        ]);
        assert_eq!(routes.outgoing("out/1").as_deref(), Some("out/1"));
        assert_eq!(routes.outgoing("in/1"), None);
        assert_eq!(routes.incoming("in/1").as_deref(), Some("in/1"));
        assert_eq!(routes.incoming("out/1"), None);
        assert_eq!(routes.local_subscriptions().len(), 1);
        assert_eq!(routes.remote_subscriptions().len(), 1);
        assert!(routes.both_ways().is_empty());
    }

    #[test]
    fn an_empty_pattern_maps_one_topic_to_another() {
        let routes = Routes::new(&[rule("", Direction::Both, "home/temp", "cloud/site1/t")]);
        assert_eq!(
            routes.outgoing("home/temp").as_deref(),
            Some("cloud/site1/t")
        );
        assert_eq!(
            routes.incoming("cloud/site1/t").as_deref(),
            Some("home/temp")
        );
        assert_eq!(routes.outgoing("home/temp/x"), None);
    }

    #[test]
    fn the_first_matching_rule_renames() {
        let routes = Routes::new(&[
            rule("a/#", Direction::Out, "", "first/"),
            rule("a/b", Direction::Out, "", "second/"),
        ]);
        assert_eq!(routes.outgoing("a/b").as_deref(), Some("first/a/b"));
        assert_eq!(routes.local_subscriptions().len(), 2);
    }

    #[test]
    fn a_filter_asked_twice_is_subscribed_once_at_the_higher_qos() {
        let mut low = rule("x/#", Direction::Out, "", "r1/");
        low.qos = 0;
        let high = rule("x/#", Direction::Out, "", "r2/");
        let routes = Routes::new(&[low, high]);
        assert_eq!(
            routes.local_subscriptions(),
            vec![("x/#".to_string(), QoS::AtLeastOnce)]
        );
    }
}
