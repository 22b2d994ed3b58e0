//! The subscription table: a tree of topic levels where `+` and `#` are
//! ordinary children, walked once per PUBLISH. Shared subscriptions
//! (`$share/<group>/<filter>`) hang off the node of their filter as groups
//! whose members take turns.
//!
//! Routing reads take a shared lock, so publishers on every core match in
//! parallel; only SUBSCRIBE and UNSUBSCRIBE take the write lock.
//!
//! A publisher usually sends to the same topic again and again, so each
//! connection keeps its last topic's deliveries in a [`RouteCache`], valid
//! while the table's generation is unchanged: a repeat PUBLISH neither walks
//! the tree nor takes the lock, whose counter every core would write.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, RwLock,
    },
};

use mqtt::{QoS, SubscriptionOptions};

use crate::protocol::filters::{options_byte, options_from};

mod node;
use node::Node;

/// Where a subscriber's messages go.
#[derive(Debug, Clone)]
pub(crate) struct Subscriber {
    /// The generation of the client's session, so cleaning up an old session
    /// does not remove its successor's subscriptions.
    pub connection: u64,
    pub tx: crate::routing::mailbox::Sender,
    /// The session outlives its connection: QoS 1/2 deliveries go to the store.
    pub persistent: bool,
}

/// One subscription as the router keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub options: SubscriptionOptions,
    /// The v5 subscription identifier given in SUBSCRIBE.
    pub id: Option<u32>,
}

/// A [`Subscriber`] and its [`Subscription`], flattened: 24 bytes where the
/// two side by side took 40 (their paddings add up), in every connection's
/// entries (one per subscription, in the hash maps of busy topics).
#[derive(Debug, Clone)]
struct Entry {
    connection: u64,
    tx: crate::routing::mailbox::Sender,
    /// Non-zero (0 is not a subscription identifier, MQTT-3.8.2.1.2), so the
    /// option takes 4 bytes, not 8. With the options byte the entry is 24
    /// bytes, not 32: a topic node's one subscriber then fits a 48-byte
    /// chunk with its client id (it took 64), and a topic every connection
    /// subscribes to takes 8 bytes less per connection in its hash map.
    id: Option<NonZeroU32>,
    /// [`SubscriptionOptions`] in a byte (4 bytes as a struct: with them
    /// the entry was 32 bytes again); see [`Entry::options`].
    options: u8,
    persistent: bool,
}

impl Entry {
    fn new(subscriber: Subscriber, subscription: Subscription) -> Entry {
        Entry {
            connection: subscriber.connection,
            tx: subscriber.tx,
            id: subscription.id.and_then(NonZeroU32::new),
            options: options_byte(&subscription.options),
            persistent: subscriber.persistent,
        }
    }

    fn options(&self) -> SubscriptionOptions {
        options_from(self.options)
    }

    fn subscriber(&self) -> Subscriber {
        Subscriber {
            connection: self.connection,
            tx: self.tx.clone(),
            persistent: self.persistent,
        }
    }
}

/// One delivery of a message: a subscriber, the QoS granted, and what the
/// PUBLISH it receives must carry.
#[derive(Debug, Clone)]
pub(crate) struct Match {
    pub client_id: Arc<str>,
    pub subscriber: Subscriber,
    /// The highest QoS among the client's matching subscriptions.
    pub qos: QoS,
    /// Keep the retain flag (retain-as-published on a matching subscription).
    pub retain_as_published: bool,
    /// Every matching subscription's identifier (MQTT-3.3.4-3).
    pub subscription_ids: Vec<u32>,
    /// The turn of a shared group's member (not the client's own
    /// subscription).
    pub shared: bool,
}

impl Match {
    fn new(client_id: Arc<str>, entry: &Entry) -> Match {
        let options = entry.options();
        Match {
            client_id,
            subscriber: entry.subscriber(),
            qos: options.qos,
            retain_as_published: options.retain_as_published,
            subscription_ids: entry.id.map(NonZeroU32::get).into_iter().collect(),
            shared: false,
        }
    }

    fn merge(&mut self, entry: &Entry) {
        let options = entry.options();
        self.qos = self.qos.max(options.qos);
        self.retain_as_published |= options.retain_as_published;
        self.subscription_ids.extend(entry.id.map(NonZeroU32::get));
    }
}

/// A filter split into its shared group (if any) and the levels it matches on.
fn split_filter(filter: &str) -> (Option<&str>, &str) {
    match mqtt::topic::parse_shared(filter) {
        Some(Ok(shared)) => (Some(shared.group), shared.filter),
        _ => (None, filter),
    }
}

/// The subscription table.
#[derive(Debug, Default)]
pub(crate) struct Router {
    root: RwLock<Node>,
    /// Bumped by every change to the table, under its write lock.
    generation: AtomicU64,
    /// A cluster balances shared groups across its nodes: a routed message
    /// skips them (unless its topic stays on this node, `$SYS/broker/...`),
    /// and each group's messages come through [`Router::take_turn`].
    groups_elsewhere: AtomicBool,
}

/// One connection's last routed topic and its deliveries (see the module
/// documentation), and the deliveries it routed that wait to be queued
/// (`Shared::flush_routes`). Dropped with the connection's loop, so a
/// dormant connection holds none.
#[derive(Debug, Default)]
pub(crate) struct RouteCache {
    /// `None` when nothing may be reused (empty, or a shared group took a turn).
    topic: Option<Box<str>>,
    /// The publisher the deliveries are for when a no-local subscription
    /// matched (another publisher's may differ); `None` when any may reuse
    /// them. A connection always publishes as itself; a cluster node's
    /// stream reader routes many publishers' messages.
    origin: Option<Box<str>>,
    generation: u64,
    matches: Vec<Match>,
    /// Deliveries not yet queued, by their index in `matches`, in order.
    pub pending: Vec<Pending>,
}

/// A delivery of a connection's batch, to `matches[index]`. With a
/// `permit` it has its slot (a stored delivery: its store write goes before
/// it is queued, so its slot is taken when it is routed).
pub(crate) type Pending = (
    usize,
    crate::protocol::message::Outbound,
    Option<super::mailbox::Permit>,
);

impl Drop for RouteCache {
    fn drop(&mut self) {
        // A delivery left here would be lost without a count.
        // (Not while unwinding: a second panic would abort the process.)
        debug_assert!(
            self.pending.is_empty() || std::thread::panicking(),
            "a batch of deliveries dropped"
        );
    }
}

impl RouteCache {
    /// It holds the deliveries of `origin`'s messages on `topic` as of
    /// table `generation`.
    pub(crate) fn holds(&self, topic: &str, origin: &str, generation: u64) -> bool {
        self.generation == generation
            && self.topic.as_deref() == Some(topic)
            && self.origin.as_deref().is_none_or(|o| o == origin)
    }

    /// The deliveries of the last topic routed.
    pub(crate) fn matches(&self) -> &[Match] {
        &self.matches
    }

    /// The deliveries and, apart, the batch waiting to be queued.
    pub(crate) fn split(&mut self) -> (&[Match], &mut Vec<Pending>) {
        (&self.matches, &mut self.pending)
    }
}

impl Router {
    /// Add or replace `client_id`'s subscription to `filter` (already
    /// validated; may be a `$share/` filter). Returns true when it is new.
    pub(crate) fn subscribe(
        &self,
        client_id: &Arc<str>,
        filter: &str,
        subscription: Subscription,
        subscriber: Subscriber,
    ) -> bool {
        let (group, levels) = split_filter(filter);
        let mut root = self.root.write().expect("router lock");
        self.generation.fetch_add(1, Ordering::Release);
        let mut node = &mut *root;
        for level in levels.split('/') {
            node = node.child_or_insert(level);
        }
        let entry = Entry::new(subscriber, subscription);
        match group {
            None => node.subscribers.insert(client_id.clone(), entry).is_none(),
            Some(group) => {
                let members = &mut node.group_or_insert(group).members;
                match members.iter_mut().find(|(id, _)| id == client_id) {
                    Some(member) => {
                        member.1 = entry;
                        false
                    }
                    None => {
                        members.push((client_id.clone(), entry));
                        true
                    }
                }
            }
        }
    }

    /// Remove one subscription; returns true when it existed.
    pub(crate) fn unsubscribe(&self, client_id: &str, filter: &str) -> bool {
        let (group, levels) = split_filter(filter);
        let levels: Vec<&str> = levels.split('/').collect();
        let mut root = self.root.write().expect("router lock");
        self.generation.fetch_add(1, Ordering::Release);
        remove(&mut root, &levels, group, client_id, None)
    }

    /// Remove the subscriptions `filters` of session `generation` of
    /// `client_id` (when the session ends). Returns the filters that were
    /// removed (a newer session of the same client keeps its own).
    pub(crate) fn unsubscribe_all<'f>(
        &self,
        client_id: &str,
        filters: &'f [Box<str>],
        generation: u64,
    ) -> Vec<&'f str> {
        let mut root = self.root.write().expect("router lock");
        self.generation.fetch_add(1, Ordering::Release);
        let mut removed = Vec::new();
        for filter in filters {
            let (group, levels) = split_filter(filter);
            let levels: Vec<&str> = levels.split('/').collect();
            if remove(&mut root, &levels, group, client_id, Some(generation)) {
                removed.push(&**filter);
            }
        }
        removed
    }

    /// The table's generation now, for [`RouteCache::holds`] and [`Router::refresh`].
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Make `cache` hold `topic`'s deliveries, walking the tree unless it
    /// holds them as of `generation` (read before the walk: a change during
    /// it makes the next call walk again). Another `origin` reuses it
    /// unless a no-local subscription matched. A shared group's turn is
    /// never reused. Its batch must be empty.
    pub(crate) fn refresh(
        &self,
        topic: &str,
        origin: &str,
        cache: &mut RouteCache,
        generation: u64,
    ) {
        if cache.holds(topic, origin, generation) {
            return;
        }
        debug_assert!(cache.pending.is_empty(), "deliveries left behind");
        let (matches, walked) = self.walk(topic, origin);
        cache.matches = matches;
        cache.generation = generation;
        cache.topic = (!walked.took_turns).then(|| topic.into());
        cache.origin = walked.no_local.then(|| origin.into());
    }

    /// Whether some subscription or shared group here matches `topic`
    /// (no-local aside): a cluster node's stream reader passes over the
    /// messages of the other topics without decoding them.
    pub(crate) fn wanted(&self, topic: &str) -> bool {
        let root = self.root.read().expect("router lock");
        let levels: Vec<&str> = topic.split('/').collect();
        root.any_match(&levels, topic.starts_with('$'))
    }

    /// The deliveries of a message on `topic` from `origin`: once per client
    /// for its ordinary subscriptions (highest QoS, every subscription id),
    /// and once per shared group, to the next member in turn. Subscriptions
    /// with no-local skip their own client's messages. And what else the
    /// walk met.
    fn walk(&self, topic: &str, origin: &str) -> (Vec<Match>, Walked) {
        let root = self.root.read().expect("router lock");
        let levels: Vec<&str> = topic.split('/').collect();
        let mut found = Found {
            origin,
            clients: HashMap::new(),
            shared: Vec::new(),
            no_local: false,
            // A topic that stays on this node has its groups taken here.
            groups: !self.groups_elsewhere.load(Ordering::Relaxed)
                || kite_convention::sys::node_local(topic),
        };
        collect(&root, &levels, topic.starts_with('$'), &mut found);
        let walked = Walked {
            took_turns: !found.shared.is_empty(),
            no_local: found.no_local,
        };
        let mut matches: Vec<Match> = found.clients.into_values().collect();
        matches.extend(found.shared);
        (matches, walked)
    }

    /// From now on, routing leaves shared groups out: a cluster hands each
    /// group's messages to one member cluster-wide ([`Router::take_turn`]).
    pub(crate) fn balance_groups_elsewhere(&self) {
        self.groups_elsewhere.store(true, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The next member in turn of the shared subscription `filter`
    /// (`$share/<group>/<filter>`) on this node, if it has one.
    pub(crate) fn take_turn(&self, filter: &str) -> Option<Match> {
        let (Some(group), levels) = split_filter(filter) else {
            return None;
        };
        let root = self.root.read().expect("router lock");
        let mut node = &*root;
        for level in levels.split('/') {
            node = node.child(level)?;
        }
        let group = node.group(group)?;
        let n = group.members.len();
        if n == 0 {
            return None;
        }
        let turn = group.next.fetch_add(1, Ordering::Relaxed) % n;
        let (client_id, entry) = &group.members[turn];
        Some(Match {
            shared: true,
            ..Match::new(client_id.clone(), entry)
        })
    }

    /// Number of subscriptions (shared members included).
    pub(crate) fn count(&self) -> usize {
        fn count(node: &Node) -> usize {
            node.subscribers.len()
                + node.groups().map(|g| g.members.len()).sum::<usize>()
                + node.children().map(count).sum::<usize>()
        }
        count(&self.root.read().expect("router lock"))
    }
}

/// What a walk met besides the deliveries.
struct Walked {
    /// A shared group took a turn.
    took_turns: bool,
    /// A no-local subscription matched: the deliveries depend on the publisher.
    no_local: bool,
}

struct Found<'a> {
    origin: &'a str,
    clients: HashMap<Arc<str>, Match>,
    shared: Vec<Match>,
    no_local: bool,
    /// Shared groups take turns here (not in a cluster).
    groups: bool,
}

impl Found<'_> {
    fn add(&mut self, node: &Node) {
        for (client_id, entry) in &node.subscribers {
            if entry.options().no_local {
                self.no_local = true;
                if **client_id == *self.origin {
                    continue;
                }
            }
            self.clients
                .entry(client_id.clone())
                .and_modify(|m| m.merge(entry))
                .or_insert_with(|| Match::new(client_id.clone(), entry));
        }
        if !self.groups {
            return;
        }
        for group in node.groups() {
            let n = group.members.len();
            if n == 0 {
                continue;
            }
            let turn = group.next.fetch_add(1, Ordering::Relaxed) % n;
            let (client_id, entry) = &group.members[turn];
            self.shared.push(Match {
                shared: true,
                ..Match::new(client_id.clone(), entry)
            });
        }
    }
}

/// Walk the tree for `levels`. At the first level of a `$` topic, wildcards
/// do not match (MQTT-4.7.2-1).
fn collect(node: &Node, levels: &[&str], no_wildcards: bool, found: &mut Found<'_>) {
    if !no_wildcards {
        if let Some(hash) = node.child("#") {
            // `a/#` also matches `a` itself (MQTT-4.7.1-2).
            found.add(hash);
        }
    }
    let Some((level, rest)) = levels.split_first() else {
        found.add(node);
        return;
    };
    if let Some(child) = node.child(level) {
        collect(child, rest, false, found);
    }
    if !no_wildcards {
        if let Some(plus) = node.child("+") {
            collect(plus, rest, false, found);
        }
    }
}

fn owned_by(entry: &Entry, generation: Option<u64>) -> bool {
    generation.is_none_or(|g| entry.connection == g)
}

fn remove(
    node: &mut Node,
    levels: &[&str],
    group: Option<&str>,
    client_id: &str,
    generation: Option<u64>,
) -> bool {
    let Some((level, rest)) = levels.split_first() else {
        return match group {
            None => {
                let owned = node
                    .subscribers
                    .get(client_id)
                    .is_some_and(|e| owned_by(e, generation));
                if owned {
                    node.subscribers.remove(client_id);
                }
                owned
            }
            Some(group) => node.leave_group(group, client_id, generation),
        };
    };
    let Some(child) = node.child_mut(level) else {
        return false;
    };
    let removed = remove(child, rest, group, client_id, generation);
    if child.is_empty() {
        node.remove_child(level);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router_with(filters: &[(&str, &str)]) -> (Router, crate::routing::mailbox::Receiver) {
        let router = Router::default();
        let (tx, rx) = crate::routing::mailbox::mailbox(8);
        for (client, filter) in filters {
            let subscriber = Subscriber {
                connection: 1,
                tx: tx.clone(),
                persistent: false,
            };
            let subscription = Subscription {
                options: SubscriptionOptions::default(),
                id: None,
            };
            router.subscribe(&Arc::from(*client), filter, subscription, subscriber);
        }
        (router, rx)
    }

    fn matched(router: &Router, topic: &str) -> Vec<String> {
        let mut ids: Vec<String> = router
            .walk(topic, "publisher")
            .0
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
    fn a_topic_is_wanted_exactly_when_something_here_matches_it() {
        let filters = [
            ("exact", "devices/1/temperature"),
            ("plus", "+/2/+"),
            ("hash", "sensors/#"),
            ("sys", "$SYS/+/load"),
            ("member", "$share/g/groups/+"),
        ];
        let topics = [
            "devices/1/temperature",
            "devices/2/battery",
            "devices/3/battery",
            "sensors",
            "sensors/a/b",
            "$SYS/x/load",
            "$SYS/2/x",
            "groups/a",
            "groups/a/b",
            "",
            "/",
            "other",
        ];
        let (router, _rx) = router_with(&filters);
        for topic in topics {
            let found = !matched(&router, topic).is_empty();
            assert_eq!(router.wanted(topic), found, "{topic}");
        }
        let (empty, _rx) = router_with(&[]);
        assert!(topics.iter().all(|topic| !empty.wanted(topic)));
    }

    #[test]
    fn overlapping_subscriptions_deliver_once() {
        let (router, _rx) = router_with(&[("a", "x/#"), ("a", "x/+"), ("a", "x/y")]);
        assert_eq!(matched(&router, "x/y"), ["a"]);
    }

    #[test]
    fn a_shared_group_gets_each_message_once_taking_turns() {
        let (router, _rx) = router_with(&[
            ("w1", "$share/workers/jobs/+"),
            ("w2", "$share/workers/jobs/+"),
            ("solo", "jobs/#"),
        ]);
        let rounds: Vec<Vec<String>> = (0..4).map(|_| matched(&router, "jobs/1")).collect();
        assert_eq!(rounds[0], ["solo", "w1"]);
        assert_eq!(rounds[1], ["solo", "w2"]);
        assert_eq!(rounds[2], ["solo", "w1"]);
        assert!(router.unsubscribe("w1", "$share/workers/jobs/+"));
        assert_eq!(matched(&router, "jobs/1"), ["solo", "w2"]);
    }

    fn cached(router: &Router, topic: &str, cache: &mut RouteCache) -> Vec<String> {
        router.refresh(topic, "publisher", cache, router.generation());
        let mut ids: Vec<String> = cache
            .matches()
            .iter()
            .map(|m| m.client_id.to_string())
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn the_route_cache_is_reused_until_a_subscription_changes() {
        let (router, _rx) = router_with(&[("a", "t/+")]);
        let mut cache = RouteCache::default();
        assert_eq!(cached(&router, "t/1", &mut cache), ["a"]);
        let walked_at = cache.matches.as_ptr();
        assert_eq!(cached(&router, "t/1", &mut cache), ["a"]);
        assert_eq!(cache.matches.as_ptr(), walked_at, "a repeat must not walk");

        let (tx, _rx2) = crate::routing::mailbox::mailbox(1);
        let subscriber = Subscriber {
            connection: 1,
            tx,
            persistent: false,
        };
        let subscription = Subscription {
            options: SubscriptionOptions::default(),
            id: None,
        };
        router.subscribe(&Arc::from("b"), "t/#", subscription, subscriber);
        assert_eq!(cached(&router, "t/1", &mut cache), ["a", "b"]);
        assert!(router.unsubscribe("a", "t/+"));
        assert_eq!(cached(&router, "t/1", &mut cache), ["b"]);
        router.unsubscribe_all("b", &["t/#".into()], 1);
        assert!(cached(&router, "t/1", &mut cache).is_empty());
    }

    #[test]
    fn the_route_cache_answers_for_its_own_topic_only() {
        let (router, _rx) = router_with(&[("a", "t/1"), ("b", "t/2")]);
        let mut cache = RouteCache::default();
        assert_eq!(cached(&router, "t/1", &mut cache), ["a"]);
        assert_eq!(cached(&router, "t/2", &mut cache), ["b"]);
        assert_eq!(cached(&router, "t/1", &mut cache), ["a"]);
    }

    #[test]
    fn in_a_cluster_routing_leaves_groups_to_their_turns() {
        let (router, _rx) = router_with(&[
            ("w1", "$share/workers/jobs/+"),
            ("w2", "$share/workers/jobs/+"),
            ("s", "jobs/#"),
        ]);
        router.balance_groups_elsewhere();
        let (matches, walked) = router.walk("jobs/1", "p");
        assert_eq!(matches.len(), 1);
        assert_eq!(&*matches[0].client_id, "s");
        assert!(!walked.took_turns);
        let first = router.take_turn("$share/workers/jobs/+").unwrap();
        let second = router.take_turn("$share/workers/jobs/+").unwrap();
        assert_ne!(first.client_id, second.client_id);
        assert!(router.take_turn("$share/other/jobs/+").is_none());
        assert!(router.take_turn("$share/workers/jobs/#").is_none());
        assert!(router.take_turn("jobs/+").is_none());
        // `$SYS/broker/...` never leaves this node: its groups take turns here.
        let (tx, _rx) = crate::routing::mailbox::mailbox(8);
        let subscriber = Subscriber {
            connection: 1,
            tx,
            persistent: false,
        };
        let subscription = Subscription {
            options: SubscriptionOptions::default(),
            id: None,
        };
        router.subscribe(
            &Arc::from("w3"),
            "$share/sys/$SYS/broker/#",
            subscription,
            subscriber,
        );
        let (matches, walked) = router.walk("$SYS/broker/uptime", "$SYS");
        assert_eq!(matches.len(), 1);
        assert!(walked.took_turns);
        assert_eq!(router.walk("$SYS/brokers/n1/uptime", "$SYS").0.len(), 0);
    }

    #[test]
    fn the_route_cache_never_freezes_a_shared_groups_turn() {
        let (router, _rx) = router_with(&[
            ("w1", "$share/workers/jobs/+"),
            ("w2", "$share/workers/jobs/+"),
        ]);
        let mut cache = RouteCache::default();
        let rounds: Vec<Vec<String>> = (0..3)
            .map(|_| cached(&router, "jobs/1", &mut cache))
            .collect();
        assert_eq!(rounds, [["w1"], ["w2"], ["w1"]]);
    }

    #[test]
    fn overlapping_subscriptions_carry_every_subscription_id_and_the_highest_qos() {
        let router = Router::default();
        let (tx, _rx) = crate::routing::mailbox::mailbox(1);
        let client: Arc<str> = Arc::from("c");
        for (filter, qos, id) in [("a/+", QoS::AtMostOnce, 1), ("a/#", QoS::ExactlyOnce, 2)] {
            let subscription = Subscription {
                options: SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                },
                id: Some(id),
            };
            let subscriber = Subscriber {
                connection: 1,
                tx: tx.clone(),
                persistent: false,
            };
            router.subscribe(&client, filter, subscription, subscriber);
        }
        let (m, _) = router.walk("a/b", "x");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].qos, QoS::ExactlyOnce);
        let mut ids = m[0].subscription_ids.clone();
        ids.sort();
        assert_eq!(ids, [1, 2]);
    }

    #[test]
    fn no_local_skips_the_publishers_own_subscription() {
        let router = Router::default();
        let (tx, _rx) = crate::routing::mailbox::mailbox(1);
        let subscription = Subscription {
            options: SubscriptionOptions {
                no_local: true,
                ..SubscriptionOptions::default()
            },
            id: None,
        };
        let me: Arc<str> = Arc::from("me");
        let subscriber = Subscriber {
            connection: 1,
            tx,
            persistent: false,
        };
        router.subscribe(&me, "t", subscription, subscriber);
        assert!(router.walk("t", "me").0.is_empty());
        assert_eq!(router.walk("t", "other").0.len(), 1);
        // A cache that routes several publishers' messages (a cluster
        // node's stream reader) walks again for another publisher here…
        let generation = router.generation();
        let mut cache = RouteCache::default();
        router.refresh("t", "other", &mut cache, generation);
        assert!(cache.holds("t", "other", generation));
        assert!(!cache.holds("t", "me", generation));
        router.refresh("t", "me", &mut cache, generation);
        assert!(cache.matches().is_empty());
        // …and reuses what no no-local subscription matched for anyone.
        router.refresh("u", "me", &mut cache, generation);
        assert!(cache.holds("u", "other", generation));
    }

    #[test]
    fn an_entry_takes_24_bytes() {
        // One per subscription, in every busy topic's hash map.
        assert_eq!(std::mem::size_of::<Entry>(), 24);
        assert_eq!(std::mem::size_of::<(Arc<str>, Entry)>(), 40);
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
