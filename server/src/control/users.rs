//! The commands on live users (Mosquitto's "clients"): create, modify,
//! delete, list, get, enable, disable, password, client id, roles.

use serde_json::{json, Value};

use super::{
    request::{page, Args, Failure, Outcome},
    Batch,
};
use crate::security::{
    auth::{check_username, hash_password},
    live::{LiveUser, RoleRef},
};

/// A user as the API shows it (never its password hash).
pub(super) fn user_json(user: &LiveUser) -> Value {
    let roles: Vec<Value> = user
        .roles
        .iter()
        .map(|r| json!({"rolename": r.rolename, "priority": r.priority}))
        .collect();
    let mut out = json!({
        "username": user.username,
        "disabled": user.disabled,
        "roles": roles,
    });
    for (key, value) in [
        ("clientid", &user.clientid),
        ("textname", &user.textname),
        ("textdescription", &user.textdescription),
    ] {
        if let Some(value) = value {
            out[key] = json!(value);
        }
    }
    out
}

/// The `roles` field: `[{"rolename": "r", "priority": 1}, ...]`, each role existing.
fn roles_arg(batch: &Batch, args: &Args) -> Result<Option<Vec<RoleRef>>, Failure> {
    let Some(items) = args.opt_array("roles")? else {
        return Ok(None);
    };
    let mut roles = Vec::new();
    for item in items {
        let Some(object) = item.as_object() else {
            return Err(Failure::field(
                "roles",
                "each role is an object: {\"rolename\": \"...\", \"priority\": 0}",
            ));
        };
        let role = Args(object);
        let rolename = role.str("rolename").map_err(|f| in_roles(f.error))?;
        let priority = role.opt_i64("priority").map_err(|f| in_roles(f.error))?;
        if !batch.live().roles.contains_key(rolename) {
            return Err(in_roles(format!("role `{rolename}` does not exist")));
        }
        if roles.iter().any(|r: &RoleRef| r.rolename == rolename) {
            return Err(in_roles(format!("role `{rolename}` is listed twice")));
        }
        roles.push(RoleRef {
            rolename: rolename.to_string(),
            priority: priority.unwrap_or(-1),
        });
    }
    Ok(Some(roles))
}

fn in_roles(error: String) -> Failure {
    Failure::field("roles", error)
}

fn hash(password: &str) -> Result<String, Failure> {
    hash_password(password.as_bytes()).map_err(|e| Failure::field("password", e))
}

/// The live user the command names, for changing.
fn existing<'b>(batch: &'b mut Batch, args: &Args) -> Result<&'b mut LiveUser, Failure> {
    let username = args.str("username")?;
    if !batch.live().users.contains_key(username) {
        return Err(no_such_user(username));
    }
    Ok(batch.edit().users.get_mut(username).expect("checked above"))
}

fn no_such_user(username: &str) -> Failure {
    Failure::field("username", format!("client `{username}` does not exist"))
}

/// `createClient`: username, and optionally password, clientid, textname,
/// textdescription, roles, disabled.
pub(super) fn create(batch: &mut Batch, args: &Args) -> Outcome {
    let username = args.str("username")?;
    check_username(username).map_err(|e| Failure::field("username", e))?;
    if batch.in_password_file(username) {
        return Err(Failure::field(
            "username",
            format!("user `{username}` is in the password file, which decides for it"),
        ));
    }
    if batch.live().users.contains_key(username) {
        return Err(Failure::field(
            "username",
            format!("client `{username}` already exists"),
        ));
    }
    if args.opt_array("groups")?.is_some_and(|g| !g.is_empty()) {
        return Err(Failure::field(
            "groups",
            "groups are not supported: use roles",
        ));
    }
    let roles = roles_arg(batch, args)?.unwrap_or_default();
    let password_hash = args.opt_str("password")?.map(hash).transpose()?;
    let user = LiveUser {
        username: username.to_string(),
        password_hash,
        clientid: args
            .opt_str("clientid")?
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        textname: args.opt_str("textname")?.map(str::to_string),
        textdescription: args.opt_str("textdescription")?.map(str::to_string),
        disabled: args.opt_bool("disabled")?.unwrap_or(false),
        roles,
    };
    batch.edit().users.insert(username.to_string(), user);
    Ok(None)
}

/// `modifyClient`: username; each field given replaces the old value
/// (`roles` the whole list; `clientid` "" removes it).
pub(super) fn modify(batch: &mut Batch, args: &Args) -> Outcome {
    let roles = roles_arg(batch, args)?;
    let password_hash = args.opt_str("password")?.map(hash).transpose()?;
    let clientid = args.opt_str("clientid")?;
    let textname = args.opt_str("textname")?;
    let textdescription = args.opt_str("textdescription")?;
    let disabled = args.opt_bool("disabled")?;
    let user = existing(batch, args)?;
    if let Some(roles) = roles {
        user.roles = roles;
    }
    if password_hash.is_some() {
        user.password_hash = password_hash;
    }
    if let Some(clientid) = clientid {
        user.clientid = (!clientid.is_empty()).then(|| clientid.to_string());
    }
    if let Some(textname) = textname {
        user.textname = Some(textname.to_string());
    }
    if let Some(textdescription) = textdescription {
        user.textdescription = Some(textdescription.to_string());
    }
    if let Some(disabled) = disabled {
        user.disabled = disabled;
    }
    Ok(None)
}

/// `deleteClient`: username. Its connections are closed (0x87).
pub(super) fn delete(batch: &mut Batch, args: &Args) -> Outcome {
    let username = args.str("username")?;
    if batch.edit().users.remove(username).is_none() {
        return Err(no_such_user(username));
    }
    Ok(None)
}

/// `enableClient` / `disableClient`: username. A disabled user's
/// connections are closed (0x87) and its CONNECTs refused (0x87, 3.1.1: 5).
pub(super) fn enable(batch: &mut Batch, args: &Args) -> Outcome {
    existing(batch, args)?.disabled = false;
    Ok(None)
}

pub(super) fn disable(batch: &mut Batch, args: &Args) -> Outcome {
    existing(batch, args)?.disabled = true;
    Ok(None)
}

/// `setClientPassword`: username, password.
pub(super) fn set_password(batch: &mut Batch, args: &Args) -> Outcome {
    let hash = hash(args.str("password")?)?;
    existing(batch, args)?.password_hash = Some(hash);
    Ok(None)
}

/// `setClientId`: username, clientid ("" or absent: any client id).
pub(super) fn set_client_id(batch: &mut Batch, args: &Args) -> Outcome {
    let clientid = args.opt_str("clientid")?.filter(|c| !c.is_empty());
    existing(batch, args)?.clientid = clientid.map(str::to_string);
    Ok(None)
}

/// `addClientRole`: username, rolename, priority (optional).
pub(super) fn add_role(batch: &mut Batch, args: &Args) -> Outcome {
    let rolename = args.str("rolename")?;
    let priority = args.opt_i64("priority")?.unwrap_or(-1);
    if !batch.live().roles.contains_key(rolename) {
        return Err(Failure::field(
            "rolename",
            format!("role `{rolename}` does not exist"),
        ));
    }
    let user = existing(batch, args)?;
    user.roles.retain(|r| r.rolename != rolename);
    user.roles.push(RoleRef {
        rolename: rolename.to_string(),
        priority,
    });
    Ok(None)
}

/// `removeClientRole`: username, rolename.
pub(super) fn remove_role(batch: &mut Batch, args: &Args) -> Outcome {
    let rolename = args.str("rolename")?;
    let username = args.str("username")?;
    let has = batch
        .live()
        .users
        .get(username)
        .ok_or_else(|| no_such_user(username))?
        .roles
        .iter()
        .any(|r| r.rolename == rolename);
    if !has {
        return Err(Failure::field(
            "rolename",
            format!("client `{username}` does not have role `{rolename}`"),
        ));
    }
    existing(batch, args)?
        .roles
        .retain(|r| r.rolename != rolename);
    Ok(None)
}

/// `getClient`: username → `{"client": {...}}`.
pub(super) fn get(batch: &mut Batch, args: &Args) -> Outcome {
    let username = args.str("username")?;
    let user = batch
        .live()
        .users
        .get(username)
        .ok_or_else(|| no_such_user(username))?;
    Ok(Some(json!({ "client": user_json(user) })))
}

/// `listClients`: verbose, count, offset → `{"totalCount": n, "clients": [...]}`,
/// user names, or whole users with `verbose`.
pub(super) fn list(batch: &mut Batch, args: &Args) -> Outcome {
    let verbose = args.opt_bool("verbose")?.unwrap_or(false);
    let users = &batch.live().users;
    let all: Vec<Value> = users
        .values()
        .map(|u| {
            if verbose {
                user_json(u)
            } else {
                json!(u.username)
            }
        })
        .collect();
    let total = all.len();
    Ok(Some(json!({
        "totalCount": total,
        "clients": page(all, args.page()?),
    })))
}
