//! Bridges created, paused, listed and deleted live on `$CONTROL/kite/v1`:
//! one created there connects to a real Mosquitto and carries messages,
//! survives a restart of Kite, and is gone with its `$SYS` state once
//! deleted; a bad setting is refused with the field it concerns.

mod common;

use std::{path::PathBuf, time::Duration};

use common::*;
use kite_server::security::auth::hash_password;
use serde_json::{json, Value};

const REQUEST: &str = "$CONTROL/kite/v1";
const RESPONSE: &str = "$CONTROL/kite/v1/response";

/// Kite with a password file (`admin`/`secret`) and an ACL that lets
/// `admin` administer; its data in `dir`, so a restart keeps it.
async fn start(dir: &PathBuf) -> Broker {
    std::fs::create_dir_all(dir).unwrap();
    let passwords = dir.join("passwd");
    if !passwords.exists() {
        let hash = hash_password(b"secret").unwrap();
        std::fs::write(&passwords, format!("admin:{hash}\n")).unwrap();
        std::fs::write(
            dir.join("acl"),
            "user admin\ntopic readwrite $CONTROL/kite/#\ntopic read $SYS/#\ntopic readwrite #\n",
        )
        .unwrap();
    }
    let data = dir.join("data");
    Broker::start_with(&[
        "--password-file",
        passwords.to_str().unwrap(),
        "--acl-file",
        dir.join("acl").to_str().unwrap(),
        "--allow-anonymous",
        "true",
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .await
}

/// A client logged in as `admin`.
async fn as_admin(kite: &Broker, id: &str) -> V4 {
    V4::connect_with(kite, id, |o| {
        o.set_credentials("admin", "secret");
    })
    .await
}

/// The admin over MQTT 3.1.1: answers come on the fixed response topic.
async fn admin(kite: &Broker) -> V4 {
    let mut admin = as_admin(kite, "admin-console").await;
    admin.subscribe(RESPONSE, qos(1)).await;
    admin
}

/// One command; its response.
async fn ask(admin: &mut V4, command: Value) -> Value {
    let body = json!({ "commands": [command] }).to_string();
    admin.publish(REQUEST, qos(1), false, body.as_bytes()).await;
    let reply = admin.next_publish().await;
    let value: Value = serde_json::from_slice(&reply.payload).expect("JSON");
    value["responses"][0].clone()
}

async fn ok(admin: &mut V4, command: Value) -> Value {
    let response = ask(admin, command).await;
    assert!(response.get("error").is_none(), "{response}");
    response
}

/// The bridge's retained `$SYS` state as a new subscriber reads it.
async fn state(kite: &Broker) -> Option<String> {
    let mut watcher = as_admin(kite, "state-reader").await;
    watcher
        .subscribe("$SYS/broker/connection/live/state", qos(0))
        .await;
    let got = tokio::time::timeout(Duration::from_millis(700), watcher.next_publish())
        .await
        .ok()
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned());
    watcher.disconnect().await;
    got
}

async fn wait_state(kite: &Broker, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while state(kite).await.as_deref() != Some(want) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bridge state never {want}:\n{}",
            kite.log()
        );
    }
}

#[tokio::test]
async fn a_bridge_created_live_carries_messages_survives_a_restart_and_is_deleted() {
    let mosquitto = Mosquitto::start("").await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bridge-admin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let kite = start(&dir).await;
    let mut console = admin(&kite).await;

    // A bad pattern: refused, with the field it concerns; nothing created.
    let bad = ask(
        &mut console,
        json!({"command": "createBridge", "bridge": {
            "name": "live", "addresses": [format!("127.0.0.1:{}", mosquitto.port)],
            "topic": [{"pattern": "a/#/b", "direction": "out"}]}}),
    )
    .await;
    assert_eq!(bad["field"], "bridge.topic[0].pattern", "{bad}");
    let listed = ok(&mut console, json!({"command": "listBridges"})).await;
    assert_eq!(listed["data"]["totalCount"], 0, "{listed}");

    ok(
        &mut console,
        json!({"command": "createBridge", "bridge": {
            "name": "live", "addresses": [format!("127.0.0.1:{}", mosquitto.port)],
            "username": "kite", "password": "hidden", "restart_timeout": 1,
            "topic": [{"pattern": "up/#", "direction": "out", "qos": 1, "remote_prefix": "site1/"}]}}),
    )
    .await;
    wait_state(&kite, "1").await;
    let mut far = V4::connect_on(mosquitto.port, "far", |_| {}).await;
    far.subscribe("site1/#", qos(1)).await;
    let publisher = as_admin(&kite, "publisher").await;
    publisher.publish("up/t", qos(1), false, b"21.5").await;
    let got = far.next_publish().await;
    assert_eq!(
        (&got.topic[..], &got.payload[..]),
        ("site1/up/t", &b"21.5"[..])
    );

    let listed = ok(
        &mut console,
        json!({"command": "getBridge", "name": "live"}),
    )
    .await;
    let bridge = &listed["data"]["bridge"];
    assert_eq!(bridge["connected"], true, "{listed}");
    assert_eq!(bridge["source"], "live");
    assert_eq!(bridge["sent"], 1);
    assert_eq!(bridge["config"]["password"], "********", "never shown");

    // Paused: it leaves the remote; resumed: back.
    ok(
        &mut console,
        json!({"command": "disableBridge", "name": "live"}),
    )
    .await;
    wait_state(&kite, "0").await;
    ok(
        &mut console,
        json!({"command": "enableBridge", "name": "live"}),
    )
    .await;
    wait_state(&kite, "1").await;

    // Kept across a restart.
    drop(console);
    drop(publisher);
    let kite = kite.restart(Stop::Graceful).await;
    wait_state(&kite, "1").await;
    let mut console = admin(&kite).await;
    let publisher = as_admin(&kite, "publisher").await;
    publisher.publish("up/t", qos(1), false, b"22.0").await;
    let got = far.next_publish().await;
    assert_eq!(&got.payload[..], b"22.0");

    ok(
        &mut console,
        json!({"command": "deleteBridge", "name": "live"}),
    )
    .await;
    assert_eq!(state(&kite).await, None, "its $SYS state is cleared");
    let listed = ok(&mut console, json!({"command": "listBridges"})).await;
    assert_eq!(listed["data"]["totalCount"], 0, "{listed}");
    let again = ask(
        &mut console,
        json!({"command": "deleteBridge", "name": "live"}),
    )
    .await;
    assert_eq!(again["field"], "name", "{again}");
}
