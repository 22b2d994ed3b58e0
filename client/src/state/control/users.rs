//! The users page's state: the user and role forms and the commands they
//! send, the users, roles and default access the broker lists, and the
//! live sessions (polled) with who is connected under which user.

use kite_convention::control::{
    AclEntry, DefaultAccess, RoleRef, RoleView, SessionView, UserView, ACL_TYPES, DEFAULT_ACL_TYPES,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::{command, data_of, Outcome};
use kite_convention::control::Response;

/// The fields of the user form, as the API names them.
pub const USER_FIELDS: [&str; 5] = ["username", "password", "clientid", "textname", "roles"];

/// The fields of the role form, as the API names them.
pub const ROLE_FIELDS: [&str; 6] = [
    "rolename", "textname", "acls", "acltype", "topic", "priority",
];

/// The user form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserForm {
    /// Editing this existing user (`modifyClient`); `None`: a new one.
    pub editing: Option<String>,
    pub username: String,
    /// Blank when editing: the password stays.
    pub password: String,
    pub clientid: String,
    pub textname: String,
    /// `role[:priority]`, separated by commas: `sensors:2, viewers`.
    pub roles: String,
    pub disabled: bool,
}

impl UserForm {
    /// The form for a listed user, to edit.
    pub fn from_user(user: &UserView) -> UserForm {
        UserForm {
            editing: Some(user.username.clone()),
            username: user.username.clone(),
            password: String::new(),
            clientid: user.clientid.clone().unwrap_or_default(),
            textname: user.textname.clone().unwrap_or_default(),
            roles: format_roles(&user.roles),
            disabled: user.disabled,
        }
    }

    /// The roles as the API takes them; a priority that does not read is an
    /// error at `roles`.
    pub fn roles(&self) -> Result<Vec<RoleRef>, Outcome> {
        parse_roles(&self.roles)
    }

    /// `createClient`, or `modifyClient` for a user being edited (a blank
    /// password then keeps the old one; `clientid` `""` removes the one
    /// it had).
    pub fn command(&self) -> Result<Value, Outcome> {
        let mut fields = json!({
            "username": self.username.trim(),
            "roles": self.roles()?,
            "disabled": self.disabled,
        });
        // A new user leaves blank texts out; an edited one clears them.
        let textname = self.textname.trim();
        if self.editing.is_some() || !textname.is_empty() {
            fields["textname"] = json!(textname);
        }
        if !self.password.is_empty() {
            fields["password"] = json!(self.password);
        }
        let clientid = self.clientid.trim();
        match &self.editing {
            Some(_) => {
                fields["clientid"] = json!(clientid);
                Ok(command("modifyClient", fields))
            }
            None => {
                if !clientid.is_empty() {
                    fields["clientid"] = json!(clientid);
                }
                Ok(command("createClient", fields))
            }
        }
    }
}

/// `sensors:2, viewers` → roles with priorities (-1 when left out).
pub fn parse_roles(text: &str) -> Result<Vec<RoleRef>, Outcome> {
    text.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| match r.split_once(':') {
            None => Ok(RoleRef {
                rolename: r.to_owned(),
                priority: -1,
            }),
            Some((name, priority)) => priority
                .trim()
                .parse()
                .map(|priority| RoleRef {
                    rolename: name.trim().to_owned(),
                    priority,
                })
                .map_err(|_| {
                    Outcome::field(
                        "roles",
                        format!("{r:?}: the priority after `:` is not a number"),
                    )
                }),
        })
        .collect()
}

/// Roles as the user form shows them.
pub fn format_roles(roles: &[RoleRef]) -> String {
    roles
        .iter()
        .map(|r| {
            if r.priority == -1 {
                r.rolename.clone()
            } else {
                format!("{}:{}", r.rolename, r.priority)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One ACL entry as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclForm {
    pub acltype: String,
    pub topic: String,
    pub priority: String,
    pub allow: bool,
}

impl Default for AclForm {
    fn default() -> AclForm {
        AclForm {
            acltype: ACL_TYPES[0].to_owned(),
            topic: String::new(),
            priority: "0".into(),
            allow: true,
        }
    }
}

/// The role form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleForm {
    /// Editing this existing role (`modifyRole`); `None`: a new one.
    pub editing: Option<String>,
    pub rolename: String,
    pub textname: String,
    pub acls: Vec<AclForm>,
}

impl Default for RoleForm {
    fn default() -> RoleForm {
        RoleForm {
            editing: None,
            rolename: String::new(),
            textname: String::new(),
            acls: vec![AclForm::default()],
        }
    }
}

impl RoleForm {
    /// The form for a listed role, to edit.
    pub fn from_role(role: &RoleView) -> RoleForm {
        RoleForm {
            editing: Some(role.rolename.clone()),
            rolename: role.rolename.clone(),
            textname: role.textname.clone().unwrap_or_default(),
            acls: role
                .acls
                .iter()
                .map(|a| AclForm {
                    acltype: a.acltype.clone(),
                    topic: a.topic.clone(),
                    priority: a.priority.to_string(),
                    allow: a.allow,
                })
                .collect(),
        }
    }

    /// The entries as the API takes them (rows with no topic left out).
    pub fn acls(&self) -> Result<Vec<AclEntry>, Outcome> {
        self.acls
            .iter()
            .filter(|a| !a.topic.trim().is_empty())
            .map(|a| {
                let priority = a.priority.trim().parse().map_err(|_| {
                    Outcome::field(
                        "acls",
                        format!("priority {:?} is not a number", a.priority.trim()),
                    )
                })?;
                Ok(AclEntry {
                    acltype: a.acltype.clone(),
                    topic: a.topic.trim().to_owned(),
                    priority,
                    allow: a.allow,
                })
            })
            .collect()
    }

    /// `createRole`, or `modifyRole` (the whole list replaced) for a role
    /// being edited.
    pub fn command(&self) -> Result<Value, Outcome> {
        let mut fields = json!({
            "rolename": self.rolename.trim(),
            "acls": self.acls()?,
        });
        let textname = self.textname.trim();
        if self.editing.is_some() || !textname.is_empty() {
            fields["textname"] = json!(textname);
        }
        let verb = if self.editing.is_some() {
            "modifyRole"
        } else {
            "createRole"
        };
        Ok(command(verb, fields))
    }
}

/// Where an error about a role's ACL is shown: every entry's error at the
/// entries.
pub fn role_field(field: &str) -> &str {
    match field {
        "acltype" | "topic" | "priority" | "allow" => "acls",
        other => other,
    }
}

/// `setDefaultACLAccess` with `allow` for each of [`DEFAULT_ACL_TYPES`].
pub fn default_access_command(allow: [bool; 4]) -> Value {
    let acls: Vec<DefaultAccess> = DEFAULT_ACL_TYPES
        .iter()
        .zip(allow)
        .map(|(acltype, allow)| DefaultAccess {
            acltype: (*acltype).to_owned(),
            allow,
        })
        .collect();
    command("setDefaultACLAccess", json!({ "acls": acls }))
}

/// What the users page asks for its lists: users, roles (both verbose) and
/// the default access.
pub fn admin_commands() -> Vec<Value> {
    vec![
        command("listClients", json!({"verbose": true})),
        command("listRoles", json!({"verbose": true})),
        command("getDefaultACLAccess", json!({})),
    ]
}

/// `listSessions`, all of them.
pub fn sessions_command() -> Value {
    command("listSessions", json!({}))
}

/// The users, roles and default access the broker listed, and the live
/// sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdminBook {
    pub users: Vec<UserView>,
    pub roles: Vec<RoleView>,
    /// `allow` for each of [`DEFAULT_ACL_TYPES`], once known.
    pub defaults: Option<[bool; 4]>,
    pub sessions: Vec<SessionView>,
    /// When the sessions were last listed (ms since the epoch); 0: never.
    pub sessions_at_ms: u64,
    /// Why the last lists failed, if they did.
    pub error: Option<String>,
}

fn read<T: DeserializeOwned>(data: &Value, key: &str) -> Result<T, String> {
    serde_json::from_value(data.get(key).cloned().unwrap_or(Value::Null))
        .map_err(|e| format!("`{key}` does not read: {e}"))
}

impl AdminBook {
    /// Take the responses to [`admin_commands`].
    pub fn update_admin(&mut self, responses: &[Response]) -> Result<(), String> {
        self.users = read(data_of(responses, "listClients")?, "clients")?;
        self.roles = read(data_of(responses, "listRoles")?, "roles")?;
        let defaults: Vec<DefaultAccess> =
            read(data_of(responses, "getDefaultACLAccess")?, "acls")?;
        let mut allow = [false; 4];
        for (i, acltype) in DEFAULT_ACL_TYPES.iter().enumerate() {
            allow[i] = defaults.iter().any(|d| d.acltype == *acltype && d.allow);
        }
        self.defaults = Some(allow);
        Ok(())
    }

    /// Take the response to [`sessions_command`], received at `now_ms`.
    pub fn update_sessions(&mut self, responses: &[Response], now_ms: u64) -> Result<(), String> {
        self.sessions = read(data_of(responses, "listSessions")?, "sessions")?;
        self.sessions_at_ms = now_ms;
        Ok(())
    }

    /// Connected clients.
    pub fn connected(&self) -> usize {
        self.sessions.iter().filter(|s| s.connected).count()
    }

    /// Persistent sessions whose client is away.
    pub fn parked(&self) -> usize {
        self.sessions.len() - self.connected()
    }

    /// Who is connected under which user: each user name (`None`:
    /// anonymous) with its connected client ids, users by name.
    pub fn by_user(&self) -> Vec<(Option<String>, Vec<String>)> {
        let mut users: Vec<(Option<String>, Vec<String>)> = Vec::new();
        for session in self.sessions.iter().filter(|s| s.connected) {
            match users.iter_mut().find(|(u, _)| *u == session.username) {
                Some((_, ids)) => ids.push(session.clientid.clone()),
                None => users.push((session.username.clone(), vec![session.clientid.clone()])),
            }
        }
        users.sort_by(|a, b| a.0.cmp(&b.0));
        users
    }

    /// Clients connected as `username` now.
    pub fn connections_of(&self, username: &str) -> usize {
        self.sessions
            .iter()
            .filter(|s| s.connected && s.username.as_deref() == Some(username))
            .count()
    }
}

#[cfg(test)]
mod tests;
