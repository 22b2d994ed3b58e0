//! The administration API on `$CONTROL/kite/v1`: live users and roles
//! (Mosquitto's dynamic-security commands), stored across a restart, in
//! force at once for connected clients; the live clients view and its
//! actions; who may use it; MQTT 5 (Response Topic, Correlation Data) and
//! 3.1.1 (the fixed response topic).

mod common;

use std::{path::PathBuf, process::Command};

use bytes::Bytes;
use common::*;
use kite_server::security::auth::hash_password;
use mqtt::{Protocol, ReasonCode};
use rumqttc::v5::mqttbytes::v5::{Filter, Packet as P5, PubAckReason, PublishProperties};
use serde_json::{json, Value};

const REQUEST: &str = "$CONTROL/kite/v1";
const RESPONSE: &str = "$CONTROL/kite/v1/response";

/// The ACL file: `admin` may administer; `plain` may do anything but that;
/// anonymous clients may publish to `$CONTROL` (the API still refuses them).
const ACL: &str = "\
topic readwrite $CONTROL/kite/#
topic readwrite public/#

user admin
topic readwrite $CONTROL/kite/#
topic readwrite #

user plain
topic readwrite #
";

/// A broker with a password file (`admin`, `plain`: password `secret`)
/// and the ACL above, plus `extra` flags; `acl: false` leaves the ACL out.
async fn start(name: &str, acl: bool, extra: &[&str]) -> Broker {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("control-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let hash = hash_password(b"secret").unwrap();
    let passwords = dir.join("passwd");
    std::fs::write(&passwords, format!("admin:{hash}\nplain:{hash}\n")).unwrap();
    let acl_file = dir.join("acl");
    std::fs::write(&acl_file, ACL).unwrap();
    let mut args = vec![
        "--password-file".to_string(),
        passwords.display().to_string(),
    ];
    if acl {
        args.extend(["--acl-file".to_string(), acl_file.display().to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Broker::start_with(&args).await
}

/// A v5 client logged in as `user`.
async fn v5_as(broker: &Broker, id: &str, user: &str, password: &str) -> V5 {
    let (user, password) = (user.to_string(), password.to_string());
    V5::connect_with(broker, id, move |o| {
        o.set_credentials(user, password);
    })
    .await
}

/// The admin, over MQTT 5, subscribed to its response topic.
async fn admin(broker: &Broker) -> V5 {
    let mut admin = v5_as(broker, "admin-console", "admin", "secret").await;
    admin.subscribe(Filter::new("admin/replies", qos5(1))).await;
    admin
}

/// Send `body` with a response topic and correlation data; the responses.
async fn ask(client: &mut V5, body: Value) -> Vec<Value> {
    let properties = PublishProperties {
        response_topic: Some("admin/replies".into()),
        correlation_data: Some(Bytes::from_static(b"req-1")),
        ..PublishProperties::default()
    };
    client
        .client
        .publish_with_properties(REQUEST, qos5(1), false, body.to_string(), properties)
        .await
        .expect("publish");
    let reply = client.next_publish().await;
    assert_eq!(&reply.topic[..], b"admin/replies");
    let properties = reply.properties.expect("the response has properties");
    assert_eq!(properties.correlation_data.as_deref(), Some(&b"req-1"[..]));
    responses(&reply.payload)
}

fn responses(payload: &[u8]) -> Vec<Value> {
    let value: Value = serde_json::from_slice(payload).expect("JSON response");
    value["responses"].as_array().expect("responses").clone()
}

/// Ask one command; its response, which must have no error.
async fn ok(client: &mut V5, command: Value) -> Value {
    let response = ask(client, json!({ "commands": [command] }))
        .await
        .remove(0);
    assert!(response.get("error").is_none(), "{response}");
    response
}

/// A v3.1.1 or v5 CONNECT with a user name and password.
fn connect_bytes(v5: bool, id: &str, user: &str, password: &str) -> Vec<u8> {
    let mut body = string("MQTT");
    body.push(if v5 { 5 } else { 4 });
    body.push(0xC2); // user name, password, clean start
    body.extend(60u16.to_be_bytes());
    if v5 {
        body.push(0); // no properties
    }
    body.extend(string(id));
    body.extend(string(user));
    body.extend(string(password));
    packet(0x10, &body)
}

async fn raw_login(broker: &Broker, v5: bool, id: &str, user: &str, pw: &str) -> (Raw, ReasonCode) {
    let protocol = if v5 { Protocol::V5 } else { Protocol::V311 };
    let mut raw = Raw::open(broker, protocol).await;
    raw.send(&connect_bytes(v5, id, user, pw)).await;
    let code = raw.connack().await.code;
    (raw, code)
}

/// A role reading and writing `sensors/#`, and user `alice` with it.
fn alice_and_her_role() -> Value {
    json!({"commands": [
        {"command": "createRole", "rolename": "sensors", "acls": [
            {"acltype": "publishClientSend", "topic": "sensors/#", "allow": true},
            {"acltype": "subscribePattern", "topic": "sensors/#", "allow": true},
        ]},
        {"command": "createClient", "username": "alice", "password": "wonder",
         "roles": [{"rolename": "sensors", "priority": 1}]},
    ]})
}

#[tokio::test]
async fn every_user_and_role_command_answers_in_order() {
    let broker = start("commands", true, &[]).await;
    let mut admin = admin(&broker).await;
    let responses = ask(&mut admin, alice_and_her_role()).await;
    assert_eq!(
        responses,
        [
            json!({"command": "createRole"}),
            json!({"command": "createClient"})
        ]
    );
    let responses = ask(
        &mut admin,
        json!({"commands": [
            {"command": "createClient", "username": "alice", "correlationData": "x"},
            {"command": "createClient", "username": "bob", "roles": [{"rolename": "nope"}]},
            {"command": "createClient", "username": "plain", "password": "p"},
            {"command": "getClient", "username": "alice"},
            {"command": "listClients"},
            {"command": "listRoles", "verbose": true},
            {"command": "addRoleACL", "rolename": "sensors", "acltype": "publishClientReceive",
             "topic": "sensors/private/#", "allow": false, "priority": 5},
            {"command": "addRoleACL", "rolename": "sensors", "acltype": "subscribeAll", "topic": "x"},
            {"command": "getRole", "rolename": "sensors"},
            {"command": "removeRoleACL", "rolename": "sensors", "acltype": "publishClientReceive",
             "topic": "sensors/private/#"},
            {"command": "modifyClient", "username": "alice", "textname": "Alice", "clientid": "alice-1"},
            {"command": "setClientId", "username": "alice"},
            {"command": "setClientPassword", "username": "alice", "password": "land"},
            {"command": "createRole", "rolename": "extra"},
            {"command": "addClientRole", "username": "alice", "rolename": "extra", "priority": 3},
            {"command": "removeClientRole", "username": "alice", "rolename": "extra"},
            {"command": "disableClient", "username": "alice"},
            {"command": "enableClient", "username": "alice"},
            {"command": "setDefaultACLAccess", "acls": [{"acltype": "publishClientReceive", "allow": false}]},
            {"command": "getDefaultACLAccess"},
            {"command": "deleteRole", "rolename": "extra"},
            {"command": "modifyRole", "rolename": "sensors", "textname": "Sensors"},
            {"command": "frobnicate"},
            {"command": "getClient", "username": "alice"},
        ]}),
    )
    .await;
    let commands: Vec<&str> = responses
        .iter()
        .map(|r| r["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands[0], "createClient");
    assert_eq!(commands[22], "frobnicate");
    let errors: Vec<(usize, &str)> = responses
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, r.get("field")?.as_str()?)))
        .collect();
    assert_eq!(
        errors,
        [
            (0, "username"),
            (1, "roles"),
            (2, "username"),
            (7, "acltype"),
            (22, "command")
        ],
        "{responses:#?}"
    );
    assert!(responses[0]["error"]
        .as_str()
        .unwrap()
        .contains("already exists"));
    assert_eq!(responses[0]["correlationData"], "x");
    assert!(responses[2]["error"]
        .as_str()
        .unwrap()
        .contains("password file"));
    assert_eq!(
        responses[3]["data"]["client"],
        json!({"username": "alice", "disabled": false,
               "roles": [{"rolename": "sensors", "priority": 1}]})
    );
    assert_eq!(
        responses[4]["data"],
        json!({"totalCount": 1, "clients": ["alice"]})
    );
    assert_eq!(responses[5]["data"]["roles"][0]["rolename"], "sensors");
    assert_eq!(
        responses[8]["data"]["role"]["acls"][2],
        json!({"acltype": "publishClientReceive", "topic": "sensors/private/#", "priority": 5, "allow": false})
    );
    assert_eq!(
        responses[19]["data"]["acls"][1],
        json!({"acltype": "publishClientReceive", "allow": false})
    );
    assert_eq!(
        responses[23]["data"]["client"],
        json!({"username": "alice", "disabled": false, "textname": "Alice",
               "roles": [{"rolename": "sensors", "priority": 1}]}),
        "the password and client id changes applied, the extra role is gone"
    );
    // The new password works; the old one does not.
    let (_, code) = raw_login(&broker, true, "a1", "alice", "wonder").await;
    assert_eq!(code, ReasonCode::BadUserNameOrPassword);
    let (_, code) = raw_login(&broker, true, "a1", "alice", "land").await;
    assert_eq!(code, ReasonCode::Success);
    ok(
        &mut admin,
        json!({"command": "deleteClient", "username": "alice"}),
    )
    .await;
    let (_, code) = raw_login(&broker, false, "a1", "alice", "land").await;
    assert_eq!(code, ReasonCode::BadUserNameOrPassword);
}

#[tokio::test]
async fn a_created_user_connects_and_its_role_is_its_acl() {
    let broker = start("login", true, &[]).await;
    let mut admin = admin(&broker).await;
    ask(&mut admin, alice_and_her_role()).await;
    let mut alice = v5_as(&broker, "alice-1", "alice", "wonder").await;
    alice.subscribe(Filter::new("sensors/#", qos5(1))).await;
    alice
        .client
        .publish("sensors/t", qos5(1), false, "21")
        .await
        .unwrap();
    assert_eq!(&alice.next_publish().await.payload[..], b"21");
    // Not in her role: refused.
    alice
        .client
        .publish("other/t", qos5(1), false, "x")
        .await
        .unwrap();
    let ack = alice
        .events
        .find("PUBACK", |e| match e {
            rumqttc::v5::Event::Incoming(P5::PubAck(a)) => Some(a.reason),
            _ => None,
        })
        .await;
    assert_eq!(ack, PubAckReason::NotAuthorized);

    // Debian's mosquitto_sub logs in as her too.
    let port = broker.tcp.to_string();
    let sub = std::process::Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-V",
            "mqttv311",
            "-i",
            "ms-1",
        ])
        .args([
            "-u",
            "alice",
            "-P",
            "wonder",
            "-t",
            "sensors/m",
            "-C",
            "1",
            "-W",
            "5",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_sub");
    let publisher = V4::connect_with(&broker, "pub-m", |o| {
        o.set_credentials("plain", "secret");
    })
    .await;
    // Publish until the subscriber (which has no ready signal) has it.
    let waited = tokio::task::spawn_blocking(move || sub.wait_with_output());
    for _ in 0..40 {
        publisher
            .publish("sensors/m", qos(1), false, b"from kite")
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if waited.is_finished() {
            break;
        }
    }
    let output = waited.await.unwrap().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "from kite");
    let wrong = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port, "-u", "alice", "-P", "nope"])
        .args(["-t", "sensors/m", "-C", "1", "-W", "3"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
}

#[tokio::test]
async fn a_3_1_1_admin_gets_the_fixed_response_topic() {
    let broker = start("v311", true, &[]).await;
    let mut admin = V4::connect_with(&broker, "admin-311", |o| {
        o.set_credentials("admin", "secret");
    })
    .await;
    admin.subscribe(RESPONSE, qos(1)).await;
    let body = json!({"commands": [{"command": "listRoles"}]}).to_string();
    admin.publish(REQUEST, qos(1), false, body.as_bytes()).await;
    let reply = admin.next_publish().await;
    assert_eq!(&reply.topic[..], RESPONSE);
    assert_eq!(
        responses(&reply.payload),
        [json!({"command": "listRoles", "data": {"totalCount": 0, "roles": []}})]
    );
}

#[tokio::test]
async fn anonymous_clients_and_users_without_the_grant_are_refused() {
    let broker = start("refused", true, &[]).await;
    let mut admin = admin(&broker).await;
    // Anonymous: the ACL lets it publish there, the API still refuses it.
    let mut anonymous = V4::connect(&broker, "anon").await;
    anonymous.subscribe(RESPONSE, qos(1)).await;
    let body =
        json!({"commands": [{"command": "createClient", "username": "eve", "password": "x"}]});
    let text = body.to_string();
    anonymous
        .publish(REQUEST, qos(1), false, text.as_bytes())
        .await;
    let refused = responses(&anonymous.next_publish().await.payload);
    assert!(
        refused[0]["error"].as_str().unwrap().contains("anonymous"),
        "{refused:?}"
    );
    // A user whose ACL does not name $CONTROL cannot publish there: 0x87, no answer.
    let mut plain = v5_as(&broker, "plain-1", "plain", "secret").await;
    plain.subscribe(Filter::new("admin/replies", qos5(1))).await;
    plain
        .client
        .publish(REQUEST, qos5(1), false, body.to_string())
        .await
        .unwrap();
    let ack = plain
        .events
        .find("PUBACK", |e| match e {
            rumqttc::v5::Event::Incoming(P5::PubAck(a)) => Some(a.reason),
            _ => None,
        })
        .await;
    assert_eq!(ack, PubAckReason::NotAuthorized);
    plain.no_publish().await;
    // Nor may anyone forge a response.
    plain
        .client
        .publish(RESPONSE, qos5(1), false, "{}")
        .await
        .unwrap();
    // Nothing was created.
    let listed = ok(&mut admin, json!({"command": "listClients"})).await;
    assert_eq!(listed["data"]["totalCount"], 0);
}

#[tokio::test]
async fn without_an_acl_file_nobody_administers() {
    let broker = start("no-acl", false, &[]).await;
    let mut admin = admin(&broker).await;
    let refused = ask(
        &mut admin,
        json!({"commands": [{"command": "listClients"}]}),
    )
    .await;
    assert!(
        refused[0]["error"].as_str().unwrap().contains("ACL file"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_malformed_body_gets_one_clear_error_and_changes_nothing() {
    let broker = start("malformed", true, &[]).await;
    let mut admin = admin(&broker).await;
    for body in ["{\"commands\": [", "[1]", "{\"commands\": 3}"] {
        let properties = PublishProperties {
            response_topic: Some("admin/replies".into()),
            ..PublishProperties::default()
        };
        admin
            .client
            .publish_with_properties(REQUEST, qos5(1), false, body, properties)
            .await
            .unwrap();
        let reply = responses(&admin.next_publish().await.payload);
        assert_eq!(reply.len(), 1, "{reply:?}");
        assert!(
            reply[0]["error"]
                .as_str()
                .unwrap()
                .starts_with("malformed request"),
            "{reply:?}"
        );
    }
    let listed = ok(&mut admin, json!({"command": "listRoles"})).await;
    assert_eq!(listed["data"]["totalCount"], 0);
}

#[tokio::test]
async fn users_and_roles_survive_a_restart() {
    let broker = start("restart", true, &[]).await;
    let mut admin = admin(&broker).await;
    ask(&mut admin, alice_and_her_role()).await;
    ok(
        &mut admin,
        json!({"command": "setDefaultACLAccess", "acls": [{"acltype": "subscribe", "allow": true}]}),
    )
    .await;
    drop(admin);
    let broker = broker.restart(Stop::Crash).await;
    let (_, code) = raw_login(&broker, true, "a1", "alice", "wonder").await;
    assert_eq!(code, ReasonCode::Success);
    let mut admin = self::admin(&broker).await;
    let role = ok(
        &mut admin,
        json!({"command": "getRole", "rolename": "sensors"}),
    )
    .await;
    assert_eq!(role["data"]["role"]["acls"].as_array().unwrap().len(), 2);
    let defaults = ok(&mut admin, json!({"command": "getDefaultACLAccess"})).await;
    assert_eq!(
        defaults["data"]["acls"][2],
        json!({"acltype": "subscribe", "allow": true})
    );
}

#[tokio::test]
async fn a_revoked_role_entry_stops_deliveries_at_once() {
    let broker = start("revoke", true, &[]).await;
    let mut admin = admin(&broker).await;
    ask(&mut admin, alice_and_her_role()).await;
    let mut alice = v5_as(&broker, "alice-1", "alice", "wonder").await;
    alice.subscribe(Filter::new("sensors/#", qos5(1))).await;
    let publisher = V4::connect_with(&broker, "pub-1", |o| {
        o.set_credentials("plain", "secret");
    })
    .await;
    publisher.publish("sensors/a", qos(1), false, b"1").await;
    assert_eq!(&alice.next_publish().await.payload[..], b"1");
    ok(
        &mut admin,
        json!({"command": "removeRoleACL", "rolename": "sensors",
               "acltype": "subscribePattern", "topic": "sensors/#"}),
    )
    .await;
    publisher.publish("sensors/a", qos(1), false, b"2").await;
    alice.no_publish().await;
    // Given back, it delivers again: the subscription itself stayed.
    ok(
        &mut admin,
        json!({"command": "addRoleACL", "rolename": "sensors",
               "acltype": "subscribePattern", "topic": "sensors/#", "allow": true}),
    )
    .await;
    publisher.publish("sensors/a", qos(1), false, b"3").await;
    assert_eq!(&alice.next_publish().await.payload[..], b"3");
}

#[tokio::test]
async fn a_disabled_user_is_disconnected_with_0x87_and_refused() {
    let broker = start("disable", true, &[]).await;
    let mut admin = admin(&broker).await;
    ask(&mut admin, alice_and_her_role()).await;
    let (mut v5, code) = raw_login(&broker, true, "alice-5", "alice", "wonder").await;
    assert_eq!(code, ReasonCode::Success);
    let (mut v311, code) = raw_login(&broker, false, "alice-3", "alice", "wonder").await;
    assert_eq!(code, ReasonCode::Success);
    ok(
        &mut admin,
        json!({"command": "disableClient", "username": "alice"}),
    )
    .await;
    assert_eq!(
        v5.expect_disconnect().await,
        Some(ReasonCode::NotAuthorized)
    );
    assert_eq!(v311.expect_disconnect().await, None, "3.1.1: a plain close");
    let (_, code) = raw_login(&broker, true, "alice-5", "alice", "wonder").await;
    assert_eq!(code, ReasonCode::NotAuthorized);
    let (_, code) = raw_login(&broker, false, "alice-3", "alice", "wonder").await;
    assert_eq!(code, ReasonCode::NotAuthorized, "3.1.1 return code 5");
}

#[tokio::test]
async fn sessions_are_listed_disconnected_and_deleted() {
    let broker = start("sessions", true, &[]).await;
    let mut admin = admin(&broker).await;
    // A persistent session, parked with a message queued for it.
    let mut away = V4::connect_with(&broker, "away-1", |o| {
        o.set_clean_session(false);
        o.set_credentials("plain", "secret");
    })
    .await;
    away.subscribe("jobs/#", qos(1)).await;
    away.disconnect().await;
    let publisher = V4::connect_with(&broker, "pub-2", |o| {
        o.set_credentials("plain", "secret");
    })
    .await;
    publisher.publish("jobs/1", qos(1), false, b"job").await;
    let mut here = v5_as(&broker, "here-1", "plain", "secret").await;
    here.subscribe(Filter::new("a/+", qos5(1))).await;

    let listed = ok(&mut admin, json!({"command": "listSessions"})).await;
    let sessions = listed["data"]["sessions"].as_array().unwrap();
    let find = |id: &str| sessions.iter().find(|s| s["clientid"] == id).cloned();
    let away_view = find("away-1").expect("the parked session");
    assert_eq!(away_view["connected"], false);
    assert_eq!(away_view["username"], "plain");
    assert_eq!(away_view["protocol"], "3.1.1");
    assert_eq!(away_view["subscriptions"], 1);
    assert_eq!(away_view["queuedMessages"], 1);
    assert!(away_view["queuedBytes"].as_u64().unwrap() > 0);
    let here_view = find("here-1").expect("the connected client");
    assert_eq!(here_view["connected"], true);
    assert_eq!(here_view["protocol"], "5");
    assert_eq!(here_view["transport"], "tcp");
    assert_eq!(here_view["subscriptions"], 1);
    assert!(here_view["address"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(here_view["connectedSince"].as_u64().unwrap() > 1_600_000_000_000);
    let connected = ok(
        &mut admin,
        json!({"command": "listSessions", "connected": false}),
    )
    .await;
    assert_eq!(connected["data"]["totalCount"], 1);

    // disconnectClient: its reason reaches the v5 client.
    ok(
        &mut admin,
        json!({"command": "disconnectClient", "clientid": "here-1", "reason": 0x9C}),
    )
    .await;
    let error = here.events.error().await;
    assert!(error.contains("UseAnotherServer"), "{error}");
    let responses = ask(
        &mut admin,
        json!({"commands": [
            {"command": "disconnectClient", "clientid": "nobody"},
            {"command": "disconnectClient", "clientid": "admin-console", "reason": 7},
            {"command": "deleteSession", "clientid": "admin-console"},
            {"command": "deleteSession", "clientid": "away-1"},
            {"command": "deleteSession", "clientid": "away-1"},
        ]}),
    )
    .await;
    let fields: Vec<Option<&str>> = responses.iter().map(|r| r["field"].as_str()).collect();
    assert_eq!(
        fields,
        [
            Some("clientid"),
            Some("reason"),
            Some("clientid"),
            None,
            Some("clientid")
        ]
    );
    // The deleted session is gone: the client comes back to a fresh one.
    let back = V4::connect_with(&broker, "away-1", |o| {
        o.set_clean_session(false);
        o.set_credentials("plain", "secret");
    })
    .await;
    assert!(!back.connack.session_present);
}
