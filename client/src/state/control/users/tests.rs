//! The user and role forms, their commands, and the lists.

use kite_convention::control::Response;
use serde_json::json;

use super::*;

#[test]
fn a_new_user_with_a_password_and_roles() {
    let form = UserForm {
        username: " carol ".into(),
        password: "pw".into(),
        roles: "everything:5, viewers".into(),
        ..UserForm::default()
    };
    assert_eq!(
        form.command().unwrap(),
        json!({"command": "createClient", "username": "carol", "password": "pw", "disabled": false,
               "roles": [{"rolename": "everything", "priority": 5}, {"rolename": "viewers", "priority": -1}]})
    );
    let bad = UserForm {
        roles: "a:high".into(),
        ..form
    };
    let outcome = bad.command().unwrap_err();
    assert!(outcome.for_field("roles").unwrap().contains("a:high"));
}

#[test]
fn an_edited_user_keeps_its_password_unless_one_is_typed() {
    let user: UserView = serde_json::from_value(json!({"username": "carol", "disabled": true,
        "roles": [{"rolename": "r", "priority": 2}], "clientid": "c1"}))
    .unwrap();
    let mut form = UserForm::from_user(&user);
    assert_eq!(form.roles, "r:2");
    let command = form.command().unwrap();
    assert_eq!(command["command"], "modifyClient");
    assert!(command.get("password").is_none());
    assert_eq!(
        (command["clientid"].as_str(), command["disabled"].as_bool()),
        (Some("c1"), Some(true))
    );
    form.clientid.clear();
    assert_eq!(form.command().unwrap()["clientid"], "", "removes it");
    assert_eq!(
        format_roles(&parse_roles(" a , b:-3 ,").unwrap()),
        "a, b:-3"
    );
}

#[test]
fn a_role_and_its_entries() {
    let form = RoleForm {
        rolename: "everything".into(),
        acls: vec![
            AclForm {
                topic: "#".into(),
                ..AclForm::default()
            },
            AclForm {
                acltype: "subscribePattern".into(),
                topic: "#".into(),
                priority: "3".into(),
                allow: true,
            },
            AclForm::default(),
        ],
        ..RoleForm::default()
    };
    let command = form.command().unwrap();
    assert_eq!(command["command"], "createRole");
    assert_eq!(
        command["acls"],
        json!([{"acltype": "publishClientSend", "topic": "#", "priority": 0, "allow": true},
               {"acltype": "subscribePattern", "topic": "#", "priority": 3, "allow": true}])
    );
    let role: RoleView =
        serde_json::from_value(json!({"rolename": "everything", "acls": command["acls"]})).unwrap();
    assert!(command.get("textname").is_none(), "left out when blank");
    let edit = RoleForm::from_role(&role);
    assert_eq!(edit.command().unwrap()["command"], "modifyRole");
    assert_eq!(
        edit.command().unwrap()["textname"],
        "",
        "cleared when edited"
    );
    assert_eq!(edit.acls().unwrap(), role.acls);
    let mut bad = edit;
    bad.acls[0].priority = "x".into();
    assert!(bad.command().unwrap_err().for_field("acls").is_some());
    assert_eq!(role_field("topic"), "acls");
    assert_eq!(role_field("rolename"), "rolename");
}

fn ok(command: &str, data: serde_json::Value) -> Response {
    Response {
        command: command.into(),
        data: Some(data),
        ..Response::default()
    }
}

fn session(id: &str, user: Option<&str>, connected: bool) -> serde_json::Value {
    json!({"clientid": id, "username": user, "connected": connected, "address": "127.0.0.1:1",
           "protocol": "5", "transport": "ws", "connectedSince": 1, "subscriptions": 1,
           "inflight": 0, "queuedMessages": 0, "queuedBytes": 0, "dropped": 0, "expiryInterval": 0})
}

#[test]
fn the_lists_and_who_is_connected_under_which_user() {
    let mut book = AdminBook::default();
    let responses = [
        ok(
            "listClients",
            json!({"totalCount": 1, "clients": [{"username": "carol", "disabled": false, "roles": []}]}),
        ),
        ok(
            "listRoles",
            json!({"totalCount": 1, "roles": [{"rolename": "r", "acls": []}]}),
        ),
        ok(
            "getDefaultACLAccess",
            json!({"acls": [
            {"acltype": "publishClientSend", "allow": false}, {"acltype": "publishClientReceive", "allow": true},
            {"acltype": "subscribe", "allow": false}, {"acltype": "unsubscribe", "allow": true}]}),
        ),
    ];
    book.update_admin(&responses).unwrap();
    assert_eq!(book.users[0].username, "carol");
    assert_eq!(book.roles[0].rolename, "r");
    assert_eq!(book.defaults, Some([false, true, false, true]));
    let sessions = ok(
        "listSessions",
        json!({"totalCount": 4, "sessions": [
        session("a", Some("carol"), true), session("b", None, true),
        session("c", Some("carol"), true), session("d", Some("carol"), false)]}),
    );
    book.update_sessions(&[sessions], 9).unwrap();
    assert_eq!(
        (book.connected(), book.parked(), book.sessions_at_ms),
        (3, 1, 9)
    );
    assert_eq!(
        book.by_user(),
        vec![
            (None, vec!["b".to_owned()]),
            (
                Some("carol".to_owned()),
                vec!["a".to_owned(), "c".to_owned()]
            )
        ]
    );
    assert_eq!(book.connections_of("carol"), 2);
    let refused = Response {
        command: "listClients".into(),
        error: Some("not authorized".into()),
        ..Response::default()
    };
    assert_eq!(book.update_admin(&[refused]), Err("not authorized".into()));
    assert_eq!(
        default_access_command([true, false, true, false])["acls"][2],
        json!({"acltype": "subscribe", "allow": true})
    );
    assert_eq!(admin_commands().len(), 3);
    assert_eq!(sessions_command(), json!({"command": "listSessions"}));
}
