//! The commands on roles (create, modify, delete, list, get, add and
//! remove an ACL entry) and on the default access.

use serde_json::{json, Map, Value};

use super::{
    request::{page, Args, Failure, Outcome},
    Batch,
};
use crate::security::live::{check_topic, AclEntry, AclType, Role};

/// A role as the API shows it.
fn role_json(role: &Role) -> Value {
    let mut out = json!({
        "rolename": role.rolename,
        "acls": role.acls,
    });
    if let Some(textname) = &role.textname {
        out["textname"] = json!(textname);
    }
    if let Some(textdescription) = &role.textdescription {
        out["textdescription"] = json!(textdescription);
    }
    out
}

fn acltype(args: &Args) -> Result<AclType, Failure> {
    let name = args.str("acltype")?;
    serde_json::from_value(json!(name)).map_err(|_| {
        Failure::field(
            "acltype",
            format!("unknown acltype `{name}`: {}", AclType::NAMES),
        )
    })
}

/// One ACL entry: acltype, topic, priority (0), allow (false).
fn entry(object: &Map<String, Value>) -> Result<AclEntry, Failure> {
    let args = Args(object);
    let acltype = acltype(&args)?;
    let topic = args.str("topic")?;
    check_topic(topic).map_err(|e| Failure::field("topic", e))?;
    Ok(AclEntry {
        acltype,
        topic: topic.to_string(),
        priority: args.opt_i64("priority")?.unwrap_or(0),
        allow: args.opt_bool("allow")?.unwrap_or(false),
    })
}

/// The `acls` field, each entry checked (its failures name `acls`).
fn acls_arg(args: &Args) -> Result<Option<Vec<AclEntry>>, Failure> {
    let Some(items) = args.opt_array("acls")? else {
        return Ok(None);
    };
    let mut acls: Vec<AclEntry> = Vec::new();
    for item in items {
        let object = item
            .as_object()
            .ok_or_else(|| Failure::field("acls", "each ACL entry is an object"))?;
        let acl = entry(object).map_err(|f| Failure::field("acls", f.error))?;
        if acls
            .iter()
            .any(|a| a.acltype == acl.acltype && a.topic == acl.topic)
        {
            return Err(Failure::field(
                "acls",
                format!("two entries for {:?} `{}`", acl.acltype, acl.topic),
            ));
        }
        acls.push(acl);
    }
    Ok(Some(acls))
}

fn no_such_role(rolename: &str) -> Failure {
    Failure::field("rolename", format!("role `{rolename}` does not exist"))
}

fn existing<'b>(batch: &'b mut Batch, args: &Args) -> Result<&'b mut Role, Failure> {
    let rolename = args.str("rolename")?;
    if !batch.live().roles.contains_key(rolename) {
        return Err(no_such_role(rolename));
    }
    Ok(batch.edit().roles.get_mut(rolename).expect("checked above"))
}

/// `createRole`: rolename, and optionally textname, textdescription, acls.
pub(super) fn create(batch: &mut Batch, args: &Args) -> Outcome {
    let rolename = args.str("rolename")?;
    if batch.live().roles.contains_key(rolename) {
        return Err(Failure::field(
            "rolename",
            format!("role `{rolename}` already exists"),
        ));
    }
    let role = Role {
        rolename: rolename.to_string(),
        textname: args.opt_str("textname")?.map(str::to_string),
        textdescription: args.opt_str("textdescription")?.map(str::to_string),
        acls: acls_arg(args)?.unwrap_or_default(),
    };
    batch.edit().roles.insert(rolename.to_string(), role);
    Ok(None)
}

/// `modifyRole`: rolename; each field given replaces the old value
/// (`acls` the whole list).
pub(super) fn modify(batch: &mut Batch, args: &Args) -> Outcome {
    let acls = acls_arg(args)?;
    let textname = args.opt_str("textname")?;
    let textdescription = args.opt_str("textdescription")?;
    let role = existing(batch, args)?;
    if let Some(acls) = acls {
        role.acls = acls;
    }
    if let Some(textname) = textname {
        role.textname = Some(textname.to_string());
    }
    if let Some(textdescription) = textdescription {
        role.textdescription = Some(textdescription.to_string());
    }
    Ok(None)
}

/// `deleteRole`: rolename; taken from every user that had it.
pub(super) fn delete(batch: &mut Batch, args: &Args) -> Outcome {
    let rolename = args.str("rolename")?;
    let live = batch.edit();
    if live.roles.remove(rolename).is_none() {
        return Err(no_such_role(rolename));
    }
    for user in live.users.values_mut() {
        user.roles.retain(|r| r.rolename != rolename);
    }
    Ok(None)
}

/// `addRoleACL`: rolename, acltype, topic, priority, allow.
pub(super) fn add_acl(batch: &mut Batch, args: &Args) -> Outcome {
    let acl = entry(args.0)?;
    let role = existing(batch, args)?;
    if role
        .acls
        .iter()
        .any(|a| a.acltype == acl.acltype && a.topic == acl.topic)
    {
        return Err(Failure::field(
            "topic",
            "the role has an entry of this acltype for this topic already",
        ));
    }
    role.acls.push(acl);
    Ok(None)
}

/// `removeRoleACL`: rolename, acltype, topic.
pub(super) fn remove_acl(batch: &mut Batch, args: &Args) -> Outcome {
    let acltype = acltype(args)?;
    let topic = args.str("topic")?;
    let rolename = args.str("rolename")?;
    let found = batch
        .live()
        .roles
        .get(rolename)
        .ok_or_else(|| no_such_role(rolename))?
        .acls
        .iter()
        .any(|a| a.acltype == acltype && a.topic == topic);
    if !found {
        return Err(Failure::field(
            "topic",
            format!("role `{rolename}` has no such entry for `{topic}`"),
        ));
    }
    existing(batch, args)?
        .acls
        .retain(|a| !(a.acltype == acltype && a.topic == topic));
    Ok(None)
}

/// `getRole`: rolename → `{"role": {...}}`.
pub(super) fn get(batch: &mut Batch, args: &Args) -> Outcome {
    let rolename = args.str("rolename")?;
    let role = batch
        .live()
        .roles
        .get(rolename)
        .ok_or_else(|| no_such_role(rolename))?;
    Ok(Some(json!({ "role": role_json(role) })))
}

/// `listRoles`: verbose, count, offset → `{"totalCount": n, "roles": [...]}`.
pub(super) fn list(batch: &mut Batch, args: &Args) -> Outcome {
    let verbose = args.opt_bool("verbose")?.unwrap_or(false);
    let all: Vec<Value> = batch
        .live()
        .roles
        .values()
        .map(|r| {
            if verbose {
                role_json(r)
            } else {
                json!(r.rolename)
            }
        })
        .collect();
    let total = all.len();
    Ok(Some(json!({
        "totalCount": total,
        "roles": page(all, args.page()?),
    })))
}

/// `setDefaultACLAccess`: `acls: [{"acltype": "publishClientSend" |
/// "publishClientReceive" | "subscribe" | "unsubscribe", "allow": bool}]`
/// (unsubscribing is always allowed: its entry is accepted and ignored).
pub(super) fn set_default(batch: &mut Batch, args: &Args) -> Outcome {
    let items = args
        .opt_array("acls")?
        .ok_or_else(|| Failure::field("acls", "`acls` is missing"))?;
    let mut defaults = batch.live().defaults;
    for item in items {
        let object = item
            .as_object()
            .ok_or_else(|| Failure::field("acls", "each entry is an object"))?;
        let entry = Args(object);
        let allow = entry
            .opt_bool("allow")
            .map_err(|f| Failure::field("acls", f.error))?
            .ok_or_else(|| Failure::field("acls", "`allow` is missing"))?;
        match entry.str("acltype").map_err(|f| Failure::field("acls", f.error))? {
            "publishClientSend" => defaults.publish_client_send = allow,
            "publishClientReceive" => defaults.publish_client_receive = allow,
            "subscribe" => defaults.subscribe = allow,
            "unsubscribe" => {}
            other => {
                return Err(Failure::field(
                    "acls",
                    format!("unknown acltype `{other}`: publishClientSend, publishClientReceive, subscribe or unsubscribe"),
                ))
            }
        }
    }
    batch.edit().defaults = defaults;
    Ok(None)
}

/// `getDefaultACLAccess` → `{"acls": [{"acltype": ..., "allow": ...}, ...]}`.
pub(super) fn get_default(batch: &mut Batch, _args: &Args) -> Outcome {
    let d = batch.live().defaults;
    Ok(Some(json!({ "acls": [
        {"acltype": "publishClientSend", "allow": d.publish_client_send},
        {"acltype": "publishClientReceive", "allow": d.publish_client_receive},
        {"acltype": "subscribe", "allow": d.subscribe},
        {"acltype": "unsubscribe", "allow": true},
    ]})))
}
