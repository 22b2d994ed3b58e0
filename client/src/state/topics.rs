//! The topic explorer's model: every topic heard of as a tree of levels,
//! with message counts and rates per node (a node counts its whole
//! subtree), retained markers, the last value and a short history per topic.

use std::collections::{BTreeMap, HashSet};

use super::ring::Ring;

/// Messages kept per topic for its history.
pub const HISTORY_PER_TOPIC: usize = 20;
/// Bytes of a payload kept for display.
pub const PAYLOAD_KEPT: usize = 16 * 1024;
/// Nodes at most; topics beyond are counted but not shown.
pub const MAX_NODES: usize = 20_000;
/// Rates are averaged over this many whole seconds.
pub const RATE_WINDOW_S: u64 = 5;

/// Messages per second over the last few seconds, from per-second buckets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RateMeter {
    /// `(second, count)`, oldest first, at most `RATE_WINDOW_S + 1`.
    buckets: Vec<(u64, u32)>,
}

impl RateMeter {
    pub fn record(&mut self, now_ms: u64) {
        let second = now_ms / 1000;
        match self.buckets.last_mut() {
            Some((s, n)) if *s == second => *n += 1,
            _ => {
                self.buckets.push((second, 1));
                // The window, the current second, and room for a caller
                // whose clock lags a second or two behind the messages.
                let keep = RATE_WINDOW_S as usize + 3;
                if self.buckets.len() > keep {
                    self.buckets.drain(..self.buckets.len() - keep);
                }
            }
        }
    }

    /// Messages per second over the last `RATE_WINDOW_S` whole seconds
    /// before the current one.
    pub fn per_second(&self, now_ms: u64) -> f64 {
        let current = now_ms / 1000;
        let from = current.saturating_sub(RATE_WINDOW_S);
        let count: u32 = self
            .buckets
            .iter()
            .filter(|(s, _)| *s >= from && *s < current)
            .map(|(_, n)| n)
            .sum();
        f64::from(count) / RATE_WINDOW_S as f64
    }
}

/// One message of a topic's history.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicMessage {
    pub received_ms: u64,
    /// At most [`PAYLOAD_KEPT`] bytes.
    pub payload: Vec<u8>,
    /// The real length.
    pub len: usize,
    pub retained: bool,
    pub qos: u8,
    /// MQTT 5 properties worth showing, as name and value.
    pub properties: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
struct Node {
    name: String,
    path: String,
    depth: usize,
    children: BTreeMap<String, usize>,
    /// Messages on this exact topic.
    own: u64,
    /// Messages on this topic and every topic below it.
    total: u64,
    rate: RateMeter,
    /// A retained message is held by the broker for this topic.
    retained: bool,
    history: Option<Ring<TopicMessage>>,
}

impl Node {
    fn new(name: &str, path: String, depth: usize) -> Node {
        Node {
            name: name.to_owned(),
            path,
            depth,
            children: BTreeMap::new(),
            own: 0,
            total: 0,
            rate: RateMeter::default(),
            retained: false,
            history: None,
        }
    }
}

/// One visible line of the tree.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicRow {
    pub path: String,
    pub name: String,
    pub depth: usize,
    pub has_children: bool,
    pub expanded: bool,
    /// Messages in the subtree.
    pub count: u64,
    pub rate: f64,
    /// This topic has a retained message.
    pub retained: bool,
    /// Retained messages below this node (when collapsed, to show a marker).
    pub is_topic: bool,
    /// The latest payload, shortened, as text.
    pub preview: String,
}

/// The whole tree. Node 0 is the invisible root.
#[derive(Clone, Debug)]
pub struct TopicTree {
    nodes: Vec<Node>,
    /// Messages on topics refused for lack of room.
    overflow: u64,
    messages: u64,
    rate: RateMeter,
}

impl Default for TopicTree {
    fn default() -> TopicTree {
        TopicTree {
            nodes: vec![Node::new("", String::new(), 0)],
            overflow: 0,
            messages: 0,
            rate: RateMeter::default(),
        }
    }
}

impl TopicTree {
    /// Record a message.
    pub fn record(&mut self, topic: &str, message: TopicMessage) {
        let now = message.received_ms;
        self.messages += 1;
        self.rate.record(now);
        let Some(path) = self.path_to(topic) else {
            self.overflow += 1;
            return;
        };
        for &i in &path {
            let node = &mut self.nodes[i];
            node.total += 1;
            node.rate.record(now);
        }
        let node = &mut self.nodes[*path.last().expect("the root at least")];
        node.own += 1;
        if message.payload.is_empty() {
            // An empty payload deletes a retained message.
            node.retained = false;
        } else if message.retained {
            node.retained = true;
        }
        node.history
            .get_or_insert_with(|| Ring::new(HISTORY_PER_TOPIC))
            .push(message);
    }

    /// The node indexes from the root to `topic`, creating what is missing.
    fn path_to(&mut self, topic: &str) -> Option<Vec<usize>> {
        let mut path = vec![0];
        let mut at = 0;
        for (depth, level) in topic.split('/').enumerate() {
            at = match self.nodes[at].children.get(level) {
                Some(&child) => child,
                None => {
                    if self.nodes.len() >= MAX_NODES {
                        return None;
                    }
                    let full = if depth == 0 {
                        level.to_owned()
                    } else {
                        format!("{}/{level}", self.nodes[at].path)
                    };
                    let child = self.nodes.len();
                    self.nodes.push(Node::new(level, full, depth));
                    self.nodes[at].children.insert(level.to_owned(), child);
                    child
                }
            };
            path.push(at);
        }
        Some(path)
    }

    fn find(&self, topic: &str) -> Option<usize> {
        let mut at = 0;
        for level in topic.split('/') {
            at = *self.nodes[at].children.get(level)?;
        }
        Some(at)
    }

    /// Messages recorded in all.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Messages per second, all topics.
    pub fn rate(&self, now_ms: u64) -> f64 {
        self.rate.per_second(now_ms)
    }

    /// Nodes in the tree (levels, not only topics).
    pub fn len(&self) -> usize {
        self.nodes.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// Topics with a retained message.
    pub fn retained_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.retained).count()
    }

    /// The history of `topic`, oldest first.
    pub fn history(&self, topic: &str) -> Vec<TopicMessage> {
        self.find(topic)
            .and_then(|i| self.nodes[i].history.as_ref())
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn is_retained(&self, topic: &str) -> bool {
        self.find(topic).is_some_and(|i| self.nodes[i].retained)
    }

    /// Messages on exactly `topic` and on its subtree.
    pub fn counts(&self, topic: &str) -> Option<(u64, u64)> {
        self.find(topic)
            .map(|i| (self.nodes[i].own, self.nodes[i].total))
    }

    /// The visible rows: top-level nodes, and the children of every
    /// expanded node, depth first in name order. With a `filter`, only
    /// topics containing it (case-insensitive) and their ancestors show,
    /// all expanded.
    pub fn rows(&self, expanded: &HashSet<String>, filter: &str, now_ms: u64) -> Vec<TopicRow> {
        let filter = filter.trim().to_lowercase();
        let mut keep = None;
        if !filter.is_empty() {
            let mut set = HashSet::new();
            for (i, node) in self.nodes.iter().enumerate().skip(1) {
                if node.history.is_some() && node.path.to_lowercase().contains(&filter) {
                    let mut at = i;
                    while at != 0 && set.insert(at) {
                        at = self.parent_of(&self.nodes[at].path);
                    }
                }
            }
            keep = Some(set);
        }
        let mut rows = Vec::new();
        let mut stack = self.children_desc(0);
        while let Some(i) = stack.pop() {
            if keep.as_ref().is_some_and(|k| !k.contains(&i)) {
                continue;
            }
            let node = &self.nodes[i];
            let open = keep.is_some() || expanded.contains(&node.path);
            rows.push(self.row(node, open, now_ms));
            if open {
                stack.extend(self.children_desc(i));
            }
        }
        rows
    }

    /// A node's children in reverse natural order (for a stack).
    fn children_desc(&self, i: usize) -> Vec<usize> {
        let mut children: Vec<usize> = self.nodes[i].children.values().copied().collect();
        children.sort_unstable_by(|&a, &b| natural_cmp(&self.nodes[b].name, &self.nodes[a].name));
        children
    }

    fn parent_of(&self, path: &str) -> usize {
        match path.rsplit_once('/') {
            Some((parent, _)) => self.find(parent).unwrap_or(0),
            None => 0,
        }
    }

    fn row(&self, node: &Node, expanded: bool, now_ms: u64) -> TopicRow {
        let preview = node
            .history
            .as_ref()
            .and_then(Ring::last)
            .map(|m| preview(&m.payload))
            .unwrap_or_default();
        TopicRow {
            path: node.path.clone(),
            name: if node.name.is_empty() {
                "(empty)".to_owned()
            } else {
                node.name.clone()
            },
            depth: node.depth,
            has_children: !node.children.is_empty(),
            expanded,
            count: node.total,
            rate: node.rate.per_second(now_ms),
            retained: node.retained,
            is_topic: node.history.is_some(),
            preview,
        }
    }

    /// Every topic path from the root to `topic`'s parent, to expand it.
    pub fn ancestors(topic: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut at = topic;
        while let Some((parent, _)) = at.rsplit_once('/') {
            out.push(parent.to_owned());
            at = parent;
        }
        out.reverse();
        out
    }

    pub fn clear(&mut self) {
        *self = TopicTree::default();
    }
}

/// Names in the order people expect: runs of digits compare as numbers
/// (`sim-2` before `sim-10`), the rest character by character.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (&a[..da], &b[..db]);
                // Compare without leading zeros: longer is bigger, then digit by digit.
                let trim = |n: &[u8]| -> usize { n.iter().take_while(|&&c| c == b'0').count() };
                let (ta, tb) = (&na[trim(na)..], &nb[trim(nb)..]);
                let order = ta
                    .len()
                    .cmp(&tb.len())
                    .then_with(|| ta.cmp(tb))
                    .then(da.cmp(&db));
                if order != Ordering::Equal {
                    return order;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// The first line of a payload, at most 80 characters, lossy UTF-8.
pub fn preview(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(&payload[..payload.len().min(400)]);
    let line = text.lines().next().unwrap_or("");
    let mut out: String = line.chars().take(80).collect();
    if out.len() < line.len() || payload.len() > 400 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(at: u64, payload: &str, retained: bool) -> TopicMessage {
        TopicMessage {
            received_ms: at,
            payload: payload.as_bytes().to_vec(),
            len: payload.len(),
            retained,
            qos: 0,
            properties: Vec::new(),
        }
    }

    fn paths(rows: &[TopicRow]) -> Vec<&str> {
        rows.iter().map(|r| r.path.as_str()).collect()
    }

    #[test]
    fn counts_roll_up_the_tree() {
        let mut tree = TopicTree::default();
        tree.record("devices/a/temperature", msg(0, "21", false));
        tree.record("devices/a/battery", msg(0, "90", false));
        tree.record("devices/b/status", msg(0, "online", true));
        tree.record("devices/a", msg(0, "x", false));
        assert_eq!(tree.counts("devices"), Some((0, 4)));
        assert_eq!(tree.counts("devices/a"), Some((1, 3)));
        assert_eq!(tree.counts("devices/a/battery"), Some((1, 1)));
        assert_eq!(tree.counts("nope"), None);
        assert_eq!(tree.messages(), 4);
        assert_eq!(tree.len(), 6);
        assert!(tree.is_retained("devices/b/status"));
        assert_eq!(tree.retained_count(), 1);
    }

    #[test]
    fn rows_follow_the_expanded_set_in_name_order() {
        let mut tree = TopicTree::default();
        for topic in ["b/2", "a/1", "b/1/x", "$SYS/broker/uptime"] {
            tree.record(topic, msg(0, "v", false));
        }
        let mut expanded = HashSet::new();
        assert_eq!(paths(&tree.rows(&expanded, "", 0)), ["$SYS", "a", "b"]);
        expanded.insert("b".to_owned());
        let rows = tree.rows(&expanded, "", 0);
        assert_eq!(paths(&rows), ["$SYS", "a", "b", "b/1", "b/2"]);
        assert!(rows[2].expanded && rows[2].has_children);
        assert_eq!(rows[3].depth, 1);
        assert_eq!(rows[4].preview, "v");
        assert!(rows[4].is_topic && !rows[3].is_topic);
    }

    #[test]
    fn a_filter_shows_matches_with_their_ancestors() {
        let mut tree = TopicTree::default();
        for topic in ["devices/a/battery", "devices/a/signal", "other/battery"] {
            tree.record(topic, msg(0, "1", false));
        }
        let rows = tree.rows(&HashSet::new(), "BATT", 0);
        assert_eq!(
            paths(&rows),
            [
                "devices",
                "devices/a",
                "devices/a/battery",
                "other",
                "other/battery"
            ]
        );
    }

    #[test]
    fn empty_payload_clears_the_retained_marker() {
        let mut tree = TopicTree::default();
        tree.record("t", msg(0, "kept", true));
        assert!(tree.is_retained("t"));
        tree.record("t", msg(1, "live", false));
        assert!(tree.is_retained("t"), "a live message does not replace it");
        tree.record("t", msg(2, "", false));
        assert!(!tree.is_retained("t"));
    }

    #[test]
    fn history_is_bounded_per_topic() {
        let mut tree = TopicTree::default();
        for i in 0..(HISTORY_PER_TOPIC as u64 + 5) {
            tree.record("t", msg(i, &i.to_string(), false));
        }
        let history = tree.history("t");
        assert_eq!(history.len(), HISTORY_PER_TOPIC);
        assert_eq!(history.last().unwrap().payload, b"24");
        assert!(tree.history("none").is_empty());
    }

    #[test]
    fn rates_average_whole_seconds() {
        let mut meter = RateMeter::default();
        for s in 0..10u64 {
            for _ in 0..10 {
                meter.record(s * 1000 + 10);
            }
        }
        assert_eq!(meter.per_second(10_500), 10.0);
        assert_eq!(meter.per_second(12_000), 6.0);
        assert_eq!(meter.per_second(100_000), 0.0);
        // A clock a second behind the messages still sees whole seconds.
        let mut meter = RateMeter::default();
        for ms in (0..11_000).step_by(10) {
            meter.record(ms);
        }
        assert_eq!(meter.per_second(10_000), 100.0);
        assert_eq!(meter.per_second(9_000), 100.0);
        let mut tree = TopicTree::default();
        for i in 0..50 {
            tree.record("a/b", msg(1000 + i * 20, "", false));
        }
        let rows = tree.rows(&HashSet::new(), "", 2500);
        assert_eq!(rows[0].rate, 10.0);
        assert_eq!(tree.rate(2500), 10.0);
    }

    #[test]
    fn node_limit_counts_overflow() {
        let mut tree = TopicTree::default();
        for i in 0..MAX_NODES + 10 {
            tree.record(&format!("t{i}"), msg(0, "", false));
        }
        assert_eq!(tree.len(), MAX_NODES - 1);
        assert_eq!(tree.overflow(), 11);
        assert_eq!(tree.messages(), MAX_NODES as u64 + 10);
    }

    #[test]
    fn odd_topics_and_ancestors() {
        let mut tree = TopicTree::default();
        tree.record("/a//b", msg(0, "", false));
        assert_eq!(tree.counts("/a//b"), Some((1, 1)));
        assert_eq!(TopicTree::ancestors("a/b/c"), ["a", "a/b"]);
        assert!(TopicTree::ancestors("a").is_empty());
    }

    #[test]
    fn children_come_in_natural_order() {
        let mut tree = TopicTree::default();
        for topic in ["f/10", "f/2", "f/1", "f/b", "f/a2", "f/a10", "f/007"] {
            tree.record(topic, msg(0, "", false));
        }
        let expanded: HashSet<String> = ["f".to_owned()].into();
        let rows = tree.rows(&expanded, "", 0);
        assert_eq!(
            paths(&rows),
            ["f", "f/1", "f/2", "f/007", "f/10", "f/a2", "f/a10", "f/b"]
        );
        assert_eq!(natural_cmp("sim-2", "sim-10"), std::cmp::Ordering::Less);
        assert_eq!(natural_cmp("x", "x"), std::cmp::Ordering::Equal);
        assert_eq!(natural_cmp("7", "07"), std::cmp::Ordering::Less);
    }

    #[test]
    fn previews_are_short_single_lines() {
        assert_eq!(preview(b"21.5"), "21.5");
        assert_eq!(preview(b"line1\nline2"), "line1");
        assert_eq!(preview(&[b'x'; 100]).chars().count(), 81);
        assert_eq!(preview(&[0xff]), "\u{fffd}");
    }
}
