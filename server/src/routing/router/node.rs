//! One level of the subscription tree.
//!
//! Most nodes are leaves: the last level of a device's own filter
//! (`devices/<id>/commands`), with one subscriber and nothing below. A leaf
//! keeps only its subscribers and one empty pointer; children and shared
//! groups live in a box of their own that only inner nodes have. A node is
//! then 24 bytes, not 40, and so is each entry of its parent's map smaller:
//! 19,968 idle connections, each on a topic of its own, took 1,015–1,036
//! bytes each in anonymous memory instead of 1,059–1,078 (3 runs each).

use std::sync::{atomic::AtomicUsize, Arc};

use super::{owned_by, Entry};
use crate::util::small_map::SmallMap;

/// The members of one shared subscription group on one filter.
#[derive(Debug, Default)]
pub(super) struct SharedGroup {
    pub(super) members: Vec<(Arc<str>, Entry)>,
    /// Round-robin position; atomic because routing holds only a read lock.
    pub(super) next: AtomicUsize,
}

/// One topic level.
#[derive(Debug, Default)]
pub(super) struct Node {
    /// Subscribers whose filter ends at this node, by client id.
    pub(super) subscribers: SmallMap<Arc<str>, Entry>,
    /// What hangs below or beside the subscribers; `None` for a leaf
    /// without shared groups (see the module's comment).
    inner: Option<Box<Inner>>,
}

/// A node's children and shared groups; never both empty.
#[derive(Debug, Default)]
struct Inner {
    children: SmallMap<Box<str>, Node>,
    /// Shared subscription groups whose filter ends at this node, by group
    /// name; `None` when there are none. Boxed: rare, even among inner nodes.
    #[allow(clippy::box_collection)]
    shared: Option<Box<SmallMap<Box<str>, SharedGroup>>>,
}

impl Node {
    pub(super) fn is_empty(&self) -> bool {
        self.subscribers.is_empty() && self.inner.is_none()
    }

    /// Whether a subscriber or a group below matches topic `levels` (as
    /// the router's walk finds them, stopping at the first).
    pub(super) fn any_match(&self, levels: &[&str], no_wildcards: bool) -> bool {
        let holds = |node: &Node| !node.subscribers.is_empty() || node.groups().next().is_some();
        if !no_wildcards && self.child("#").is_some_and(holds) {
            return true;
        }
        let Some((level, rest)) = levels.split_first() else {
            return holds(self);
        };
        self.child(level)
            .is_some_and(|child| child.any_match(rest, false))
            || (!no_wildcards
                && self
                    .child("+")
                    .is_some_and(|plus| plus.any_match(rest, false)))
    }

    pub(super) fn child(&self, level: &str) -> Option<&Node> {
        self.inner.as_ref()?.children.get(level)
    }

    pub(super) fn child_mut(&mut self, level: &str) -> Option<&mut Node> {
        self.inner.as_mut()?.children.get_mut(level)
    }

    pub(super) fn child_or_insert(&mut self, level: &str) -> &mut Node {
        self.inner
            .get_or_insert_with(Box::default)
            .children
            .get_or_insert_with(level.into(), Node::default)
    }

    /// Remove the child `level` (once it is empty).
    pub(super) fn remove_child(&mut self, level: &str) {
        if let Some(inner) = self.inner.as_mut() {
            inner.children.remove(level);
        }
        self.tidy();
    }

    pub(super) fn children(&self) -> impl Iterator<Item = &Node> {
        self.inner.iter().flat_map(|inner| inner.children.values())
    }

    pub(super) fn groups(&self) -> impl Iterator<Item = &SharedGroup> {
        self.inner
            .iter()
            .flat_map(|inner| inner.shared.iter())
            .flat_map(|groups| groups.values())
    }

    pub(super) fn group(&self, name: &str) -> Option<&SharedGroup> {
        self.inner.as_ref()?.shared.as_ref()?.get(name)
    }

    pub(super) fn group_or_insert(&mut self, name: &str) -> &mut SharedGroup {
        self.inner
            .get_or_insert_with(Box::default)
            .shared
            .get_or_insert_with(Box::default)
            .get_or_insert_with(name.into(), SharedGroup::default)
    }

    /// Remove `client_id`'s membership (of `generation`, if given) in group
    /// `name`, and the group once empty. True when it was a member.
    pub(super) fn leave_group(
        &mut self,
        name: &str,
        client_id: &str,
        generation: Option<u64>,
    ) -> bool {
        let Some(groups) = self.inner.as_mut().and_then(|inner| inner.shared.as_mut()) else {
            return false;
        };
        let Some(group) = groups.get_mut(name) else {
            return false;
        };
        let before = group.members.len();
        group
            .members
            .retain(|(id, e)| !(**id == *client_id && owned_by(e, generation)));
        let removed = group.members.len() < before;
        if group.members.is_empty() {
            groups.remove(name);
            self.tidy();
        }
        removed
    }

    /// Drop what is empty: the groups' map, then the inner box.
    fn tidy(&mut self) {
        let Some(inner) = self.inner.as_mut() else {
            return;
        };
        if inner
            .shared
            .as_ref()
            .is_some_and(|groups| groups.is_empty())
        {
            inner.shared = None;
        }
        if inner.children.is_empty() && inner.shared.is_none() {
            self.inner = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every device's own filter ends in a leaf, and its parent's map holds
    /// it inline: 16 more bytes here cost each of a million devices about
    /// 26 in that map.
    #[test]
    fn a_leaf_takes_24_bytes_and_no_box() {
        assert_eq!(std::mem::size_of::<Node>(), 24);
        let mut root = Node::default();
        root.child_or_insert("a").child_or_insert("b");
        assert!(root
            .child("a")
            .and_then(|a| a.child("b"))
            .is_some_and(|b| b.inner.is_none()));
    }

    #[test]
    fn an_emptied_node_drops_its_inner_box() {
        let mut node = Node::default();
        node.child_or_insert("x");
        node.group_or_insert("g");
        node.remove_child("x");
        assert!(node.inner.is_some(), "the empty group is still there");
        assert!(!node.leave_group("g", "nobody", None), "not a member");
        assert!(node.is_empty(), "{node:?}");
    }
}
