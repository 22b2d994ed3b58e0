//! The subscription table: a tree of topic levels where `+` and `#` are
//! ordinary children, walked once per PUBLISH.
//!
//! Routing reads take a shared lock, so publishers on every core match in
//! parallel; only SUBSCRIBE and UNSUBSCRIBE take the write lock.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use mqtt::{QoS, SubscriptionOptions};
use tokio::sync::mpsc;

use crate::message::Outbound;

/// Where a subscriber's messages go.
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// The client's connection generation, so a taken-over connection's
    /// cleanup does not remove its successor's subscriptions.
    pub connection: u64,
    pub tx: mpsc::Sender<Outbound>,
}

#[derive(Debug, Clone)]
struct Entry {
    subscriber: Subscriber,
    options: SubscriptionOptions,
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    /// Subscribers whose filter ends at this node, by client id.
    subscribers: HashMap<Arc<str>, Entry>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.subscribers.is_empty()
    }
}

/// One matched subscriber of a message, with its granted options.
#[derive(Debug, Clone)]
pub struct Match {
    pub client_id: Arc<str>,
    pub subscriber: Subscriber,
    pub options: SubscriptionOptions,
}

/// The subscription table.
#[derive(Debug, Default)]
pub struct Router {
    root: RwLock<Node>,
}

impl Router {
    /// Add or replace `client_id`'s subscription to `filter` (already validated).
    /// Returns true when it is new.
    pub fn subscribe(
        &self,
        client_id: &Arc<str>,
        filter: &str,
        options: SubscriptionOptions,
        subscriber: Subscriber,
    ) -> bool {
        let mut root = self.root.write().expect("router lock");
        let mut node = &mut *root;
        for level in filter.split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        node.subscribers
            .insert(
                client_id.clone(),
                Entry {
                    subscriber,
                    options,
                },
            )
            .is_none()
    }

    /// Remove one subscription; returns true when it existed.
    pub fn unsubscribe(&self, client_id: &str, filter: &str) -> bool {
        let mut root = self.root.write().expect("router lock");
        let levels: Vec<&str> = filter.split('/').collect();
        remove(&mut root, &levels, client_id, None)
    }

    /// Remove every subscription of one connection of `client_id` (on close of a clean session).
    pub fn unsubscribe_all(&self, client_id: &str, filters: &[Box<str>], connection: u64) {
        let mut root = self.root.write().expect("router lock");
        for filter in filters {
            let levels: Vec<&str> = filter.split('/').collect();
            remove(&mut root, &levels, client_id, Some(connection));
        }
    }

    /// Every subscriber matching `topic`, once per client with the highest
    /// granted QoS among its overlapping subscriptions.
    pub fn matches(&self, topic: &str) -> Vec<Match> {
        let root = self.root.read().expect("router lock");
        let levels: Vec<&str> = topic.split('/').collect();
        let mut found: HashMap<Arc<str>, (Entry, QoS)> = HashMap::new();
        let dollar = topic.starts_with('$');
        collect(&root, &levels, dollar, &mut found);
        found
            .into_iter()
            .map(|(client_id, (entry, qos))| Match {
                client_id,
                subscriber: entry.subscriber,
                options: SubscriptionOptions {
                    qos,
                    ..entry.options
                },
            })
            .collect()
    }

    /// Number of subscriptions.
    pub fn count(&self) -> usize {
        fn count(node: &Node) -> usize {
            node.subscribers.len() + node.children.values().map(count).sum::<usize>()
        }
        count(&self.root.read().expect("router lock"))
    }
}

fn add(found: &mut HashMap<Arc<str>, (Entry, QoS)>, node: &Node) {
    for (client_id, entry) in &node.subscribers {
        found
            .entry(client_id.clone())
            .and_modify(|(_, qos)| *qos = (*qos).max(entry.options.qos))
            .or_insert_with(|| (entry.clone(), entry.options.qos));
    }
}

/// Walk the tree for `levels`. At the first level of a `$` topic, wildcards
/// do not match (MQTT-4.7.2-1).
fn collect(
    node: &Node,
    levels: &[&str],
    no_wildcards: bool,
    found: &mut HashMap<Arc<str>, (Entry, QoS)>,
) {
    if !no_wildcards {
        if let Some(hash) = node.children.get("#") {
            // `a/#` also matches `a` itself (MQTT-4.7.1-2).
            add(found, hash);
        }
    }
    let Some((level, rest)) = levels.split_first() else {
        add(found, node);
        return;
    };
    if let Some(child) = node.children.get(*level) {
        collect(child, rest, false, found);
    }
    if !no_wildcards {
        if let Some(plus) = node.children.get("+") {
            collect(plus, rest, false, found);
        }
    }
}

fn remove(node: &mut Node, levels: &[&str], client_id: &str, connection: Option<u64>) -> bool {
    let Some((level, rest)) = levels.split_first() else {
        let owned = match (node.subscribers.get(client_id), connection) {
            (Some(entry), Some(connection)) => entry.subscriber.connection == connection,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if owned {
            node.subscribers.remove(client_id);
        }
        return owned;
    };
    let Some(child) = node.children.get_mut(*level) else {
        return false;
    };
    let removed = remove(child, rest, client_id, connection);
    if child.is_empty() {
        node.children.remove(*level);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router_with(filters: &[(&str, &str)]) -> (Router, mpsc::Receiver<Outbound>) {
        let router = Router::default();
        let (tx, rx) = mpsc::channel(8);
        for (client, filter) in filters {
            let subscriber = Subscriber {
                connection: 1,
                tx: tx.clone(),
            };
            router.subscribe(
                &Arc::from(*client),
                filter,
                SubscriptionOptions::default(),
                subscriber,
            );
        }
        (router, rx)
    }

    fn matched(router: &Router, topic: &str) -> Vec<String> {
        let mut ids: Vec<String> = router
            .matches(topic)
            .into_iter()
            .map(|m| m.client_id.to_string())
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn wildcards_match_per_the_spec() {
        let (router, _rx) = router_with(&[
            ("exact", "devices/1/temperature"),
            ("plus", "devices/+/temperature"),
            ("hash", "devices/#"),
            ("all", "#"),
            ("other", "sensors/+"),
        ]);
        assert_eq!(
            matched(&router, "devices/1/temperature"),
            ["all", "exact", "hash", "plus"]
        );
        assert_eq!(matched(&router, "devices"), ["all", "hash"]);
        assert_eq!(matched(&router, "sensors/a"), ["all", "other"]);
        assert_eq!(matched(&router, "sensors/a/b"), ["all"]);
    }

    #[test]
    fn wildcards_at_the_first_level_skip_dollar_topics() {
        let (router, _rx) = router_with(&[("all", "#"), ("plus", "+/x"), ("sys", "$SYS/#")]);
        assert_eq!(matched(&router, "$SYS/broker/uptime"), ["sys"]);
        assert!(matched(&router, "$foo/x").is_empty());
    }

    #[test]
    fn overlapping_subscriptions_deliver_once() {
        let (router, _rx) = router_with(&[("a", "x/#"), ("a", "x/+"), ("a", "x/y")]);
        assert_eq!(matched(&router, "x/y"), ["a"]);
    }

    #[test]
    fn unsubscribe_prunes_the_tree() {
        let (router, _rx) = router_with(&[("a", "x/y/z")]);
        assert!(router.unsubscribe("a", "x/y/z"));
        assert!(!router.unsubscribe("a", "x/y/z"));
        assert!(router.root.read().unwrap().is_empty());
    }

    #[test]
    fn cleanup_of_an_old_connection_keeps_the_new_ones_subscription() {
        let (router, _rx) = router_with(&[("a", "x")]);
        router.unsubscribe_all("a", &["x".into()], 0);
        assert_eq!(matched(&router, "x"), ["a"]);
        router.unsubscribe_all("a", &["x".into()], 1);
        assert!(matched(&router, "x").is_empty());
    }
}
