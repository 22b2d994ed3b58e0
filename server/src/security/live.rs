//! Live users and roles: the ones the `$CONTROL/kite/v1` API creates,
//! changes and deletes while the broker runs (Mosquitto's dynamic-security
//! model, without groups). This module holds the data and judges access;
//! `control` edits it, stores it and hands each new [`LiveSet`] to
//! [`Access::set_live`](super::auth::Access::set_live), one atomic swap.
//!
//! A live user has an argon2id password hash, an optional fixed client id,
//! a `disabled` flag and roles, each with a priority. A role is a list of
//! ACL entries: a type (publish from the client, delivery to the client,
//! subscription by literal filter or by pattern), a topic (`%c` and `%u`
//! filled in per client), allow or deny, and a priority.
//!
//! As in Mosquitto, a check walks the user's roles from the highest
//! priority down, and in each role its entries from the highest priority
//! down; the first entry of the right type whose topic matches decides.
//! When none does, the default access decides ([`DefaultAccess`]:
//! publishing and subscribing denied, receiving allowed).
//!
//! Kite adds one rule: a delivery is checked against the subscription
//! entries too (the topic as a filter), so a client whose role loses the
//! entry it subscribed with stops receiving at once, without unsubscribing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::acl::{covers, fill};

/// What an ACL entry is about (Mosquitto's `acltype` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AclType {
    /// A PUBLISH from the client (and its will).
    PublishClientSend,
    /// A message delivered to the client.
    PublishClientReceive,
    /// A SUBSCRIBE whose filter is exactly the entry's topic.
    SubscribeLiteral,
    /// A SUBSCRIBE whose filter the entry's topic covers (`a/#` covers `a/+/b`).
    SubscribePattern,
}

impl AclType {
    /// The names the API accepts, for error messages.
    pub const NAMES: &'static str =
        "publishClientSend, publishClientReceive, subscribeLiteral or subscribePattern";

    fn subscribes(self) -> bool {
        matches!(self, AclType::SubscribeLiteral | AclType::SubscribePattern)
    }
}

/// One entry of a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    pub acltype: AclType,
    pub topic: String,
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub allow: bool,
}

/// A named list of ACL entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub rolename: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub textname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub textdescription: Option<String>,
    #[serde(default)]
    pub acls: Vec<AclEntry>,
}

/// A role given to a user, with its priority among the user's roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRef {
    pub rolename: String,
    #[serde(default)]
    pub priority: i64,
}

/// A live user (Mosquitto calls it a client).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveUser {
    pub username: String,
    /// argon2id PHC string; `None`: the user cannot log in with a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// When set, the user may connect with this client id only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clientid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub textname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub textdescription: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub roles: Vec<RoleRef>,
}

/// What applies when no entry matches (`setDefaultACLAccess`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultAccess {
    pub publish_client_send: bool,
    pub publish_client_receive: bool,
    pub subscribe: bool,
}

impl Default for DefaultAccess {
    /// Mosquitto's defaults: deny publishing and subscribing, allow receiving.
    fn default() -> DefaultAccess {
        DefaultAccess {
            publish_client_send: false,
            publish_client_receive: true,
            subscribe: false,
        }
    }
}

/// Every live user and role, and the default access: swapped whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveSet {
    pub users: BTreeMap<String, LiveUser>,
    pub roles: BTreeMap<String, Role>,
    pub defaults: DefaultAccess,
}

impl LiveSet {
    /// The rules of `username`'s connection with `client_id`, from its roles
    /// (a role that does not exist counts as empty).
    pub fn rules_for(&self, client_id: &str, username: &str) -> LiveRules {
        let mut roles: Vec<&RoleRef> = self
            .users
            .get(username)
            .map(|u| u.roles.iter().collect())
            .unwrap_or_default();
        // Stable: equal priorities keep the user's order.
        roles.sort_by_key(|r| std::cmp::Reverse(r.priority));
        let mut entries = Vec::new();
        for role in roles {
            let Some(role) = self.roles.get(&role.rolename) else {
                continue;
            };
            let mut acls: Vec<&AclEntry> = role.acls.iter().collect();
            acls.sort_by_key(|a| std::cmp::Reverse(a.priority));
            for acl in acls {
                if let Some(topic) = fill(&acl.topic, client_id, Some(username)) {
                    entries.push((acl.acltype, topic, acl.allow));
                }
            }
        }
        LiveRules {
            entries,
            defaults: self.defaults,
        }
    }
}

/// One live user's entries, in the order they are tried, patterns filled in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveRules {
    entries: Vec<(AclType, String, bool)>,
    defaults: DefaultAccess,
}

impl LiveRules {
    /// Rules that allow nothing: a live user deleted while connected.
    pub fn none() -> LiveRules {
        LiveRules {
            entries: Vec::new(),
            defaults: DefaultAccess {
                publish_client_send: false,
                publish_client_receive: false,
                subscribe: false,
            },
        }
    }

    /// The first entry accepted by `applies`: its verdict.
    fn first(&self, applies: impl Fn(AclType, &str) -> bool) -> Option<bool> {
        self.entries
            .iter()
            .find(|(kind, topic, _)| applies(*kind, topic))
            .map(|(_, _, allow)| *allow)
    }

    /// May the client publish to `topic`?
    pub fn can_write(&self, topic: &str) -> bool {
        self.grants_write(topic)
            .unwrap_or(self.defaults.publish_client_send)
    }

    /// What an entry says about publishing to `topic`; `None`: no entry
    /// matches (the `$CONTROL` API needs an entry, not the default).
    pub fn grants_write(&self, topic: &str) -> Option<bool> {
        self.first(|kind, filter| {
            kind == AclType::PublishClientSend && mqtt::topic::matches(filter, topic)
        })
    }

    /// May the client subscribe to `filter` (a shared subscription is
    /// judged by its topic filter)?
    pub fn can_subscribe(&self, filter: &str) -> bool {
        let filter = match mqtt::topic::parse_shared(filter) {
            Some(Ok(shared)) => shared.filter,
            _ => filter,
        };
        self.first(|kind, entry| match kind {
            AclType::SubscribeLiteral => entry == filter,
            AclType::SubscribePattern => covers(entry, filter),
            _ => false,
        })
        .unwrap_or(self.defaults.subscribe)
    }

    /// May a message on `topic` be delivered to the client? Its receive
    /// entries must allow it, and its subscription entries must still
    /// allow the topic.
    pub fn can_read(&self, topic: &str) -> bool {
        let receive = self
            .first(|kind, filter| {
                kind == AclType::PublishClientReceive && mqtt::topic::matches(filter, topic)
            })
            .unwrap_or(self.defaults.publish_client_receive);
        receive
            && self
                .first(|kind, filter| kind.subscribes() && mqtt::topic::matches(filter, topic))
                .unwrap_or(self.defaults.subscribe)
    }
}

/// A topic of an ACL entry: a valid filter once `%c` and `%u` are filled.
pub fn check_topic(topic: &str) -> Result<(), String> {
    let check = topic.replace("%c", "c").replace("%u", "u");
    mqtt::topic::validate_topic_filter(&check)
        .map_err(|err| format!("invalid topic filter `{topic}`: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(acltype: AclType, topic: &str, allow: bool, priority: i64) -> AclEntry {
        AclEntry {
            acltype,
            topic: topic.into(),
            priority,
            allow,
        }
    }

    fn set(acls: Vec<AclEntry>, more: Option<Role>) -> LiveSet {
        let mut set = LiveSet::default();
        let mut roles = vec![RoleRef {
            rolename: "r".into(),
            priority: 0,
        }];
        if let Some(more) = more {
            roles.push(RoleRef {
                rolename: more.rolename.clone(),
                priority: 5,
            });
            set.roles.insert(more.rolename.clone(), more);
        }
        set.roles.insert(
            "r".into(),
            Role {
                rolename: "r".into(),
                acls,
                ..Role::default()
            },
        );
        set.users.insert(
            "u".into(),
            LiveUser {
                username: "u".into(),
                roles,
                ..LiveUser::default()
            },
        );
        set
    }

    #[test]
    fn the_first_matching_entry_by_priority_decides_then_the_default() {
        use AclType::*;
        let set = set(
            vec![
                entry(PublishClientSend, "a/#", true, 0),
                entry(PublishClientSend, "a/secret", false, 10),
                entry(SubscribePattern, "a/#", true, 0),
                entry(PublishClientReceive, "a/hidden", false, 0),
            ],
            None,
        );
        let rules = set.rules_for("c1", "u");
        assert!(rules.can_write("a/b"));
        assert!(!rules.can_write("a/secret"), "higher priority deny first");
        assert!(!rules.can_write("b"), "default: publishing denied");
        assert_eq!(rules.grants_write("b"), None);
        assert!(rules.can_subscribe("a/+/c"));
        assert!(rules.can_subscribe("$share/g/a/x"));
        assert!(!rules.can_subscribe("#"));
        assert!(rules.can_read("a/b"));
        assert!(!rules.can_read("a/hidden"), "receive denied");
        assert!(!rules.can_read("b/c"), "no subscription entry covers it");
    }

    #[test]
    fn a_higher_priority_role_is_tried_first_and_patterns_are_filled() {
        use AclType::*;
        let boss = Role {
            rolename: "boss".into(),
            acls: vec![entry(PublishClientSend, "devices/%c/#", false, 0)],
            ..Role::default()
        };
        let set = set(
            vec![
                entry(PublishClientSend, "devices/%c/#", true, 0),
                entry(SubscribeLiteral, "users/%u/+", true, 0),
            ],
            Some(boss),
        );
        let rules = set.rules_for("c1", "u");
        assert!(
            !rules.can_write("devices/c1/x"),
            "the boss role denies first"
        );
        assert!(rules.can_subscribe("users/u/+"));
        assert!(
            !rules.can_subscribe("users/u/x"),
            "literal: the filter only"
        );
        assert!(rules.can_read("users/u/x"));
        assert!(
            !set.rules_for("a/b", "u").can_write("devices/a/b/x"),
            "a client id with `/` skips the pattern"
        );
        assert!(!LiveRules::none().can_read("users/u/x"));
    }

    #[test]
    fn defaults_can_be_changed_and_topics_are_checked() {
        let mut set = set(Vec::new(), None);
        set.defaults.publish_client_send = true;
        set.defaults.subscribe = true;
        let rules = set.rules_for("c", "u");
        assert!(rules.can_write("x") && rules.can_subscribe("#") && rules.can_read("x"));
        assert_eq!(rules.grants_write("x"), None, "a default is no grant");
        assert!(check_topic("devices/%c/#").is_ok());
        assert!(check_topic("a/#/b").is_err());
    }
}
