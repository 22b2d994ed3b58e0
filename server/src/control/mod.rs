//! The administration API on `$CONTROL/kite/v1`, in the shape of
//! Mosquitto's dynamic-security commands: live users and roles (stored in
//! `admin.redb`, in force at once, re-checked for connected clients), and
//! the live clients view (connected clients and parked sessions, with
//! their counters; disconnect one, delete a parked session).
//!
//! A request is `{"commands": [{"command": "createClient", ...}, ...]}`;
//! the response `{"responses": [...]}` has one entry per command, in
//! order: `{"command": ..., "data": {...}}` on success (`data` when the
//! command answers something), `{"command": ..., "error": "...", "field":
//! "username"}` on failure. Each command stands alone, as in Mosquitto: one
//! that fails changes nothing, the others still apply. What the batch
//! changed is written in one transaction, then put in force; if the write
//! fails, nothing changed and each changing command says so. A body that
//! is not such JSON gets one error response and changes nothing.
//!
//! - `request`: reading a command's fields; a failure naming its field.
//! - `users`, `roles`, `sessions`: the commands, one function each.
//! - `store`: `admin.redb`.
//!
//! To add a command: a function `fn(&mut Batch, &Args) -> Outcome` and a
//! line in [`COMMANDS`].

mod bridges;
mod request;
mod roles;
mod sessions;
mod store;
mod users;

use std::sync::{Arc, Mutex, OnceLock};

use kite_convention::control::RESPONSE_TOPIC;
use mqtt::ReasonCode;
use serde_json::{json, Value};

pub(crate) use request::{Args, Failure, Outcome};

use crate::{
    bridge::{Bridges, Source},
    broker::{Admin, Caller, Shared},
    config::{Config, Durability},
    protocol::message::Message,
    security::live::LiveSet,
};
use store::AdminStore;

/// A command: reads its fields, edits the batch's live set or acts on the
/// broker, and says what to answer.
pub(crate) type Handler = fn(&mut Batch, &Args) -> Outcome;

/// Every command, by the name a request gives it.
pub(crate) const COMMANDS: &[(&str, Handler)] = &[
    ("createClient", users::create),
    ("modifyClient", users::modify),
    ("deleteClient", users::delete),
    ("getClient", users::get),
    ("listClients", users::list),
    ("enableClient", users::enable),
    ("disableClient", users::disable),
    ("setClientPassword", users::set_password),
    ("setClientId", users::set_client_id),
    ("addClientRole", users::add_role),
    ("removeClientRole", users::remove_role),
    ("createRole", roles::create),
    ("modifyRole", roles::modify),
    ("deleteRole", roles::delete),
    ("getRole", roles::get),
    ("listRoles", roles::list),
    ("addRoleACL", roles::add_acl),
    ("removeRoleACL", roles::remove_acl),
    ("setDefaultACLAccess", roles::set_default),
    ("getDefaultACLAccess", roles::get_default),
    ("listSessions", sessions::list),
    ("disconnectClient", sessions::disconnect),
    ("deleteSession", sessions::delete),
    ("createBridge", bridges::create),
    ("modifyBridge", bridges::modify),
    ("deleteBridge", bridges::delete),
    ("enableBridge", bridges::enable),
    ("disableBridge", bridges::disable),
    ("listBridges", bridges::list),
    ("getBridge", bridges::get),
];

/// The most commands one request may carry.
const MAX_COMMANDS: usize = 1000;

/// What the commands of one request work on: a copy of the live set,
/// put in force once they all ran, and the broker.
pub(crate) struct Batch<'a> {
    live: LiveSet,
    /// The current command asked to change the live set.
    edited: bool,
    pub shared: &'a Arc<Shared>,
    /// The bridges, once they run.
    pub bridges: Option<&'a Arc<Bridges>>,
    /// `admin.redb`, for what is stored outside the live set (bridges).
    pub store: &'a AdminStore,
}

impl Batch<'_> {
    /// The live set as the commands so far left it.
    pub(crate) fn live(&self) -> &LiveSet {
        &self.live
    }

    /// The live set, to change.
    pub(crate) fn edit(&mut self) -> &mut LiveSet {
        self.edited = true;
        &mut self.live
    }

    /// The password file decides for its users: they cannot be live users.
    pub(crate) fn in_password_file(&self, user: &str) -> bool {
        self.shared
            .access
            .passwords()
            .is_some_and(|p| p.contains(user))
    }
}

/// The API: its store, and one request at a time.
#[derive(Clone)]
pub(crate) struct Control {
    inner: Arc<Inner>,
}

struct Inner {
    store: AdminStore,
    /// Requests run one at a time, so none overwrites another's changes.
    running: Mutex<()>,
    /// Set once the bridges run ([`Control::start_bridges`]).
    bridges: OnceLock<Arc<Bridges>>,
}

impl Control {
    /// Open `admin.redb` (in memory with `--durability none`), put the
    /// users and roles it holds in force, and answer `$CONTROL/kite/v1`.
    pub(crate) fn start(shared: &Arc<Shared>) -> Result<Control, String> {
        let config: &Config = &shared.config;
        let dir = (config.durability != Durability::None).then_some(config.data_dir.as_path());
        let (store, live) = AdminStore::open(dir)?;
        tracing::info!(
            store = %store.path().map_or("memory".into(), |p| p.display().to_string()),
            users = live.users.len(),
            roles = live.roles.len(),
            "live users and roles loaded"
        );
        shared.access.set_live(Arc::new(live));
        let control = Control {
            inner: Arc::new(Inner {
                store,
                running: Mutex::new(()),
                bridges: OnceLock::new(),
            }),
        };
        let _ = shared.admin.set(Arc::new(control.clone()));
        Ok(control)
    }

    /// Start the bridges created on the API in an earlier run, and take
    /// bridge commands from now on. A stored bridge that no longer starts
    /// (a name now taken by the configuration file, a certificate gone) is
    /// logged and left stored.
    pub(crate) async fn start_bridges(&self, bridges: Arc<Bridges>) {
        match self.inner.store.bridges() {
            Ok(stored) => {
                for config in stored {
                    let name = config.name.clone();
                    if let Err(err) = bridges.create(config, Source::Live).await {
                        tracing::warn!(bridge = %name, %err, "stored bridge not started");
                    }
                }
            }
            Err(err) => tracing::warn!(%err, "cannot read the stored bridges"),
        }
        let _ = self.inner.bridges.set(bridges);
    }
}

impl Admin for Control {
    fn request(&self, shared: &Arc<Shared>, request: &Message, caller: Caller) {
        let (inner, shared, request) = (self.inner.clone(), shared.clone(), request.clone());
        // argon2id hashing and the store's commit: off the async threads.
        shared.runtime.clone().spawn_blocking(move || {
            let body = inner.handle(&shared, &request, caller);
            shared.reply(&request, RESPONSE_TOPIC, body);
        });
    }
}

/// One command's result, before it becomes its response.
struct Done {
    command: String,
    correlation: Option<Value>,
    outcome: Outcome,
    /// It changed the live set.
    changed: bool,
}

impl Inner {
    /// The response body to `request`.
    fn handle(&self, shared: &Arc<Shared>, request: &Message, caller: Caller) -> Vec<u8> {
        let responses: Vec<Value> = match parse(&request.payload) {
            Err(why) => vec![json!({"command": "", "error": why})],
            Ok(commands) => match caller {
                Err(why) => {
                    tracing::info!(client_id = %request.origin, "$CONTROL request refused: {why}");
                    commands.iter().map(|c| respond(refused(c, why))).collect()
                }
                Ok(user) => self
                    .run(shared, &user, &request.origin, &commands)
                    .into_iter()
                    .map(respond)
                    .collect(),
            },
        };
        serde_json::to_vec(&json!({ "responses": responses })).expect("JSON values serialize")
    }

    /// Run `commands` for `user`, store and apply what they changed.
    fn run(&self, shared: &Arc<Shared>, user: &str, client: &str, commands: &[Value]) -> Vec<Done> {
        let _one_at_a_time = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let before = shared.access.live();
        let mut batch = Batch {
            live: (*before).clone(),
            edited: false,
            shared,
            bridges: self.bridges.get(),
            store: &self.store,
        };
        let mut done: Vec<Done> = commands.iter().map(|c| run_one(&mut batch, c)).collect();
        for d in &done {
            tracing::info!(user, client_id = client, command = %d.command, ok = d.outcome.is_ok(), "$CONTROL command");
        }
        if batch.live == *before {
            return done;
        }
        if let Err(err) = self.store.save(&before, &batch.live) {
            tracing::error!(%err, "$CONTROL: the admin store cannot commit; nothing changed");
            for d in done.iter_mut().filter(|d| d.changed && d.outcome.is_ok()) {
                d.outcome = Err(Failure::new(format!("not stored, nothing changed: {err}")));
            }
            return done;
        }
        let after = Arc::new(batch.live);
        shared.access.set_live(after.clone());
        disconnect_ended(shared, &before, &after);
        done
    }
}

/// Run one command object on the batch.
fn run_one(batch: &mut Batch, command: &Value) -> Done {
    batch.edited = false;
    let object = command.as_object();
    let name = object
        .and_then(|o| o.get("command"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let correlation = object.and_then(|o| o.get("correlationData")).cloned();
    let outcome = match (object, COMMANDS.iter().find(|(n, _)| *n == name)) {
        (None, _) => Err(Failure::new("each command is a JSON object")),
        (Some(_), None) if name.is_empty() => {
            Err(Failure::field("command", "`command` is missing"))
        }
        (Some(_), None) => Err(Failure::field(
            "command",
            format!("unknown command `{name}`"),
        )),
        (Some(object), Some((_, handler))) => handler(batch, &Args(object)),
    };
    Done {
        command: name.to_string(),
        correlation,
        outcome,
        changed: batch.edited,
    }
}

/// The commands of a request; `Err`: why the body is no request.
fn parse(payload: &[u8]) -> Result<Vec<Value>, String> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|err| format!("malformed request: not JSON: {err}"))?;
    let Some(Value::Array(commands)) = value.get("commands") else {
        return Err(r#"malformed request: expected {"commands": [...]}"#.into());
    };
    if commands.len() > MAX_COMMANDS {
        return Err(format!(
            "malformed request: {} commands, more than {MAX_COMMANDS}",
            commands.len()
        ));
    }
    Ok(commands.clone())
}

/// What a caller that may not use the API gets for `command`.
fn refused(command: &Value, why: &str) -> Done {
    Done {
        command: command
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        correlation: command.get("correlationData").cloned(),
        outcome: Err(Failure::new(why)),
        changed: false,
    }
}

fn respond(done: Done) -> Value {
    let mut response = json!({ "command": done.command });
    match done.outcome {
        Ok(Some(data)) => response["data"] = data,
        Ok(None) => {}
        Err(failure) => {
            response["error"] = json!(failure.error);
            if let Some(field) = failure.field {
                response["field"] = json!(field);
            }
        }
    }
    if let Some(correlation) = done.correlation {
        response["correlationData"] = correlation;
    }
    response
}

/// Close the connections of live users who were deleted or disabled
/// (DISCONNECT 0x87 for MQTT 5; a plain close before).
fn disconnect_ended(shared: &Shared, before: &LiveSet, after: &LiveSet) {
    let access = &shared.access;
    let passwords = access.passwords();
    let ended: Vec<&str> = before
        .users
        .keys()
        .filter(|name| after.users.get(*name).is_none_or(|u| u.disabled))
        .filter(|name| passwords.as_ref().is_none_or(|p| !p.contains(name)))
        .map(String::as_str)
        .collect();
    if ended.is_empty() {
        return;
    }
    let closed = shared
        .registry
        .disconnect_users(|user| ended.contains(&user), ReasonCode::NotAuthorized);
    if !closed.is_empty() {
        tracing::info!(?closed, "connections of deleted or disabled users closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_is_no_request_is_named() {
        assert!(parse(b"{").unwrap_err().contains("not JSON"));
        assert!(parse(b"[]").unwrap_err().contains("commands"));
        assert!(parse(br#"{"commands": {}}"#)
            .unwrap_err()
            .contains("commands"));
        assert_eq!(parse(br#"{"commands": []}"#).unwrap(), Vec::<Value>::new());
    }

    #[test]
    fn responses_carry_data_or_an_error_and_its_field() {
        let done = Done {
            command: "getClient".into(),
            correlation: Some(json!("c1")),
            outcome: Err(Failure::field("username", "no")),
            changed: false,
        };
        assert_eq!(
            respond(done),
            json!({"command": "getClient", "error": "no", "field": "username", "correlationData": "c1"})
        );
        let done = Done {
            command: "listRoles".into(),
            correlation: None,
            outcome: Ok(Some(json!({"roles": []}))),
            changed: false,
        };
        assert_eq!(
            respond(done),
            json!({"command": "listRoles", "data": {"roles": []}})
        );
    }

    #[test]
    fn command_names_are_unique() {
        let mut names: Vec<&str> = COMMANDS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COMMANDS.len());
    }
}
